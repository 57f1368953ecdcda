"""A server that misbehaves on purpose, on a real socket of 127.0.0.1, for the fault matrix
(test_faults.py) and the signal tests. It runs as a process of its own, so that a test can also
kill it in the middle of a run.

    fault_server.py --protocol http|redis|postgres --fault FAULT --port-file FILE [--accept-log FILE]

Faults:
  silent       accepts connections, reads, never answers
  slow         answers correctly, but only after --delay seconds
  close-mid    starts a response, then closes the connection half-way through it
  malformed    answers with bytes that are not the protocol
  huge         answers with a response of --size bytes, streamed (default 2 GiB)
  deep         answers with JSON nested 100 000 arrays deep
  unauthorized refuses the credentials the way the protocol does (HTTP 401, Redis WRONGPASS)
  handshake    completes the protocol's handshake (PostgreSQL start-up, Redis AUTH), then hangs
"""
import argparse
import os
import socket
import struct
import threading
import time

CHUNK = b"x" * (1 << 20)
DEEP = b"[" * 100000 + b"]" * 100000


def recv_until(conn, marker, limit=1 << 20):
    data = b""
    while marker not in data and len(data) < limit:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


def hang(conn):
    """Reads whatever comes and never answers, until the client gives up."""
    while conn.recv(65536):
        pass


def stream(conn, size):
    sent = 0
    while sent < size:
        part = CHUNK[:min(len(CHUNK), size - sent)]
        conn.sendall(part)
        sent += len(part)


# --- HTTP ------------------------------------------------------------------------------------

def http_response(status, body, content_type="application/json", extra=""):
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
            f"Connection: close\r\n\r\n")
    return head.encode() + body


UNAUTHORIZED = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized",'
                b'"reason":"Unauthorized","code":401}')


def serve_http(conn, args):
    if args.fault == "silent":
        return hang(conn)
    recv_until(conn, b"\r\n\r\n")
    if args.fault == "slow":
        time.sleep(args.delay)
        conn.sendall(http_response("200 OK", b'{"status": "UP"}'))
    elif args.fault == "close-mid":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                     b'{"status": "UP", "padding": "' + b"p" * 1000)
    elif args.fault == "malformed":
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x01\x02 not HTTP at all\r\n\r\n")
        time.sleep(0.2)
    elif args.fault == "huge":
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {args.size}\r\n\r\n".encode())
        stream(conn, args.size)
    elif args.fault == "deep":
        conn.sendall(http_response("200 OK", DEEP))
    elif args.fault == "unauthorized":
        conn.sendall(http_response("401 Unauthorized", UNAUTHORIZED, extra='WWW-Authenticate: Bearer realm="ttops"\r\n'))
    else:
        raise SystemExit(f"fault {args.fault} does not apply to http")


# --- Redis -----------------------------------------------------------------------------------

def serve_redis(conn, args):
    if args.fault == "silent":
        return hang(conn)
    request = conn.recv(65536)
    if args.fault == "handshake":
        # AUTH is answered, the command after it never is.
        if b"AUTH" in request.upper():
            conn.sendall(b"+OK\r\n")
        return hang(conn)
    if args.fault == "slow":
        time.sleep(args.delay)
        conn.sendall(b"+PONG\r\n")
        return hang(conn)
    if args.fault == "close-mid":
        conn.sendall(b"$100000\r\n" + b"v" * 1000)
    elif args.fault == "malformed":
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(0.2)
    elif args.fault == "huge":
        conn.sendall(f"${args.size}\r\n".encode())
        stream(conn, args.size)
        conn.sendall(b"\r\n")
    elif args.fault == "unauthorized":
        conn.sendall(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        hang(conn)
    else:
        raise SystemExit(f"fault {args.fault} does not apply to redis")


# --- PostgreSQL ------------------------------------------------------------------------------

def pg_message(kind, payload=b""):
    return kind + struct.pack("!I", len(payload) + 4) + payload


def read_startup(conn):
    """The start-up packet, after declining SSL and GSS encryption requests."""
    while True:
        header = recv_exact(conn, 4)
        (length,) = struct.unpack("!I", header)
        body = recv_exact(conn, length - 4)
        code = struct.unpack("!I", body[:4])[0]
        if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
            conn.sendall(b"N")
            continue
        return body


def recv_exact(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


def serve_postgres(conn, args):
    if args.fault == "silent":
        return hang(conn)
    read_startup(conn)
    if args.fault == "close-mid":
        # Half of an authentication request, then the end of the connection.
        conn.sendall(b"R\x00\x00\x00\x0c\x00\x00")
    elif args.fault == "malformed":
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.2)
    elif args.fault == "handshake":
        params = [("server_version", "15.0"), ("client_encoding", "UTF8"), ("server_encoding", "UTF8"),
                  ("standard_conforming_strings", "on"), ("integer_datetimes", "on"), ("DateStyle", "ISO, MDY")]
        reply = pg_message(b"R", struct.pack("!I", 0))
        for name, value in params:
            reply += pg_message(b"S", name.encode() + b"\0" + value.encode() + b"\0")
        reply += pg_message(b"K", struct.pack("!II", os.getpid(), 42))
        reply += pg_message(b"Z", b"I")
        conn.sendall(reply)
        hang(conn)  # queries (and cancel requests, on their own connections) go unanswered
    else:
        raise SystemExit(f"fault {args.fault} does not apply to postgres")


SERVE = {"http": serve_http, "redis": serve_redis, "postgres": serve_postgres}


def handle(conn, args):
    if args.accept_log:
        with open(args.accept_log, "a") as f:
            f.write("accepted\n")
    try:
        SERVE[args.protocol](conn, args)
    except (ConnectionError, BrokenPipeError, OSError):
        pass
    finally:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=sorted(SERVE), required=True)
    parser.add_argument("--fault", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--delay", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=2 << 30)
    parser.add_argument("--accept-log", help="a line is appended here for every connection accepted")
    args = parser.parse_args()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    partial = args.port_file + ".part"
    with open(partial, "w") as f:
        f.write(str(server.getsockname()[1]))
    os.rename(partial, args.port_file)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
