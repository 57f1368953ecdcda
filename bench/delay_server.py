#!/usr/bin/env python3
"""An HTTP/1.1 server on 127.0.0.1 that answers every request after a fixed delay, for the
fan-out benchmark. asyncio, so a thousand concurrent keep-alive connections cost no threads and
the delay is the only thing the client waits for.

    delay_server.py --delay-ms 20 --port-file PATH
"""
import argparse
import asyncio
import os
import signal

BODY = b'{"status":"UP"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


async def serve(reader, writer, delay):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: serve(r, w, delay), "127.0.0.1", args.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        temporary = args.port_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(str(port))
        os.replace(temporary, args.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
