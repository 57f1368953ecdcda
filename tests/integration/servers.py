"""Real PostgreSQL and Redis servers for the integration tests: Debian's postgresql and
redis-server, in temporary directories, on free ports of 127.0.0.1, started and stopped here.

initdb and pg_ctl refuse to run as root; as root (CI) they run as the `postgres` user, with the
data directory given to that user. Every server started is stopped at exit, even when a test
module fails before its tearDownClass.
"""
import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import FIXTURES

PLATFORM_SQL = os.path.join(FIXTURES, "sql", "platform.sql")

_running = []


def _stop_everything():
    for server in list(_running):
        try:
            server.stop()
        except Exception:  # at exit, stop what can be stopped
            pass


atexit.register(_stop_everything)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_black_hole():
    """A socket that listens but whose accept queue is full: connecting to it hangs, as to a
    firewalled database. Returns (port, sockets to close)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held = [server]
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        held.append(filler)
    time.sleep(0.1)
    return port, held


def _postgres_bin(program):
    """The newest installed PostgreSQL's programs (Debian keeps them off PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return found[-1]
    path = shutil.which(program)
    if not path:
        raise RuntimeError(f"{program} not found: install Debian's postgresql (scripts/install-deps)")
    return path


def process_stats():
    """(pid, fields of /proc/PID/stat after the command name) for every process: state is
    fields[0], the parent fields[1], the session fields[3]."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                yield int(entry), f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue


def _children_of(pid):
    """Process ids whose parent is `pid` (PostgreSQL's backends have sessions of their own, so a
    process group does not hold them)."""
    return [child for child, fields in process_stats() if int(fields[1]) == pid]


def _alive(pid):
    """Running (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class PostgresServer:
    """A PostgreSQL cluster with password authentication (scram-sha-256) for the superuser
    `ttops`, pg_stat_statements preloaded, and tests/fixtures/sql/platform.sql in `tickettoken`."""

    USER = "ttops"
    DATABASE = "tickettoken"

    def __init__(self, password="pg-s3cret-Pw"):
        self.password = password
        self.port = None
        self.directory = None
        self._as_postgres = os.geteuid() == 0

    # --- life cycle -------------------------------------------------------------------------

    def start(self):
        self.directory = tempfile.mkdtemp(prefix="ttops-pg-")
        self.data = os.path.join(self.directory, "data")
        self.log = os.path.join(self.directory, "postgres.log")
        password_file = os.path.join(self.directory, "password")
        with open(password_file, "w") as f:
            f.write(self.password + "\n")
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            for path in (self.directory, password_file):
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(self.directory, 0o700)
        self._run([_postgres_bin("initdb"), "-D", self.data, "-U", self.USER, "--auth=scram-sha-256",
                   f"--pwfile={password_file}", "--no-sync", "--encoding=UTF8", "--locale=C.UTF-8"])
        os.unlink(password_file)
        self.port = free_port()
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("\n".join([
                "listen_addresses = '127.0.0.1'",
                f"port = {self.port}",
                f"unix_socket_directories = '{self.directory}'",
                "shared_preload_libraries = 'pg_stat_statements'",
                "pg_stat_statements.track = 'all'",
                "max_connections = 40",
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
                "log_min_messages = warning",
            ]) + "\n")
        self._start_postmaster()
        _running.append(self)
        self.psql(f"CREATE DATABASE {self.DATABASE}", database="postgres")
        self.psql_file(PLATFORM_SQL)
        return self

    def _start_postmaster(self):
        self._run([_postgres_bin("pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"])

    def stop(self):
        """Stops the server (fast shutdown) and removes its directory."""
        if self.directory and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self._run([_postgres_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"])
            except subprocess.CalledProcessError:
                self.kill()
        if self in _running:
            _running.remove(self)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def kill(self):
        """SIGKILL to the postmaster and every backend: the server dies mid-run, as in a crash."""
        pid = self.postmaster_pid()
        if pid is None or not _alive(pid):
            return
        os.kill(pid, signal.SIGSTOP)  # frozen, it cannot fork a child we would miss
        victims = _children_of(pid)
        os.kill(pid, signal.SIGKILL)
        for child in victims:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in [pid, *victims]) and time.monotonic() < deadline:
            time.sleep(0.02)
        # A killed postmaster may linger as a zombie its adoptive parent has not reaped yet, and a
        # new one refuses to start while a lock file names a pid that exists.
        for stale in (os.path.join(self.data, "postmaster.pid"),
                      os.path.join(self.directory, f".s.PGSQL.{self.port}.lock"),
                      os.path.join(self.directory, f".s.PGSQL.{self.port}")):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass

    def ensure_running(self):
        """Starts the server again on the same port and data after kill() (crash recovery)."""
        if self.postmaster_pid() is None or not _alive(self.postmaster_pid()):
            self._start_postmaster()

    def restart(self):
        self._run([_postgres_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "30", "restart"])

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    # --- use --------------------------------------------------------------------------------

    def url_with(self, user=None, password=None, database=None):
        return (f"postgresql://{user or self.USER}:{password or self.password}@127.0.0.1:{self.port}/"
                f"{database or self.DATABASE}")

    @property
    def url(self):
        return self.url_with()

    def psql(self, sql, database=None):
        """Runs SQL with psql over TCP as `ttops`; returns the rows as lists of strings."""
        result = subprocess.run(
            [_postgres_bin("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, "-d", database or self.DATABASE, "-c", sql],
            capture_output=True, text=True, env=self._client_env(), timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}\n{sql}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def scalar(self, sql, database=None):
        return self.psql(sql, database)[0][0]

    def psql_file(self, path):
        result = subprocess.run(
            [_postgres_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.USER, "-d", self.DATABASE, "-f", path],
            capture_output=True, text=True, env=self._client_env(), timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"loading {path} failed: {result.stderr.strip()}")

    def _client_env(self):
        env = dict(os.environ)
        env["PGPASSWORD"] = self.password
        env["PGCONNECT_TIMEOUT"] = "10"
        return env

    def _run(self, args):
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, cwd="/")


class RedisServer:
    """redis-server on a free port of 127.0.0.1, without persistence, optionally with a password.
    Also a small RESP client for setting up data."""

    def __init__(self, password=None):
        self.password = password
        self.port = None
        self.process = None
        self.directory = None

    def start(self):
        self.directory = tempfile.mkdtemp(prefix="ttops-redis-")
        self.port = free_port()
        self._log = open(os.path.join(self.directory, "redis.log"), "w")
        _running.append(self)
        return self._launch()

    def ensure_running(self):
        """Starts the server again, empty, on the same port after kill()."""
        if self.process is None or self.process.poll() is not None:
            self._launch()

    def _launch(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.directory, "--daemonize", "no"]
        if self._major_version() >= 7:
            args += ["--enable-debug-command", "yes"]  # DEBUG SLEEP, for timeouts
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start (exit {self.process.poll()})")
            time.sleep(0.02)

    @staticmethod
    def _major_version():
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        version = out.split("v=", 1)[1].split()[0] if "v=" in out else "0"
        return int(version.split(".")[0])

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self in _running:
            _running.remove(self)
        if self.directory:
            self._log.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def url_with(self, password=None, db=0):
        secret = password if password is not None else self.password
        return f"redis://:{secret}@127.0.0.1:{self.port}/{db}" if secret else f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def url(self):
        return self.url_with()

    # --- a minimal RESP client, pipelined ------------------------------------------------------

    def command(self, *args, db=0):
        return self.pipeline([args], db=db)[0]

    def pipeline(self, commands, db=0):
        """Sends every command at once and returns their replies (errors as RuntimeError objects)."""
        prefix = []
        if self.password:
            prefix.append(("AUTH", self.password))
        if db:
            prefix.append(("SELECT", str(db)))
        payload = b"".join(_encode(c) for c in [*prefix, *commands])
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(payload)
            reader = _Reader(s)
            replies = [reader.reply() for _ in range(len(prefix) + len(commands))]
        for reply in replies[:len(prefix)]:
            if isinstance(reply, RuntimeError):
                raise reply
        return replies[len(prefix):]


def _encode(args):
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(parts)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _line(self):
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buffer += chunk

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            while len(self.buffer) < length + 2:
                self._fill()
            data, self.buffer = self.buffer[:length], self.buffer[length + 2:]
            return data.decode(errors="replace")
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.reply() for _ in range(count)]
        raise ValueError(f"unexpected RESP reply {line!r}")
