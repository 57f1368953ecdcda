"""Shared pieces of the reliability tests (test_faults, test_signals, test_limits, test_bad_input):
ttops run with its peak memory measured, misbehaving servers (fault_server.py) as processes of
their own, and the generated sections of docs/reliability.md.

docs/reliability.md holds sections between `<!-- BEGIN name -->` and `<!-- END name -->` that the
tests produce. A test compares its section with what it found, so the document cannot go stale;
with TTOPS_UPDATE_DOCS=1 it rewrites the section instead (scripts/reliability-report does that).
"""
import atexit
import json
import os
import re
import subprocess
import threading
import time

from harness import SOURCE_DIR, STATE_DIR, TTOPS, python3, wait_for_file
from servers import process_stats

DOC = os.path.join(SOURCE_DIR, "docs", "reliability.md")
UPDATE_DOCS = os.environ.get("TTOPS_UPDATE_DOCS") == "1"
FAULT_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fault_server.py")

# What a sanitizer or a crash leaves on stderr.
CRASH_MARKERS = ("internal error", "AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer",
                 "terminate called", "Segmentation fault", "Aborted")


class Measured:
    """One ttops run: exit code, output, wall time, and the peak resident memory of the ttops
    process itself (VmHWM, sampled while it runs; its children are not counted)."""

    def __init__(self, args, code, stdout, stderr, seconds, peak_rss_kb, pid):
        self.args, self.code, self.stdout, self.stderr = args, code, stdout, stderr
        self.seconds, self.peak_rss_kb, self.pid = seconds, peak_rss_kb, pid

    def json_report(self):
        try:
            return json.loads(self.stdout)
        except ValueError as error:
            raise AssertionError(f"stdout is not JSON ({error}):\n{self!r}")

    @property
    def peak_rss_mb(self):
        return self.peak_rss_kb / 1024

    def __repr__(self):
        return (f"ttops {' '.join(self.args)}\nexit {self.code} after {self.seconds:.2f}s, peak RSS "
                f"{self.peak_rss_mb:.0f} MiB\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def _high_water_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def ttops_env(extra=None):
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env.pop("TTOPS_ENV", None)
    env.setdefault("TTOPS_STATE_DIR", STATE_DIR)
    env.setdefault("TTOPS_CACHE_DIR", os.path.join(STATE_DIR, "cache"))
    env.update(extra or {})
    # Under AddressSanitizer freed memory waits in a quarantine of up to 256 MiB: that is the
    # sanitizer's, not ttops's, so it is kept small where the tests measure memory.
    if "ASAN_OPTIONS" in env and "quarantine_size_mb" not in env["ASAN_OPTIONS"]:
        env["ASAN_OPTIONS"] += ":quarantine_size_mb=16"
    return env


def start_ttops(args, env=None, preexec_fn=None, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE):
    """ttops in a session of its own (so that the tests can find everything it started by its
    session), with stdout (and unless told otherwise stderr) captured."""
    return subprocess.Popen([TTOPS, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                            env=ttops_env(env), start_new_session=True, preexec_fn=preexec_fn)


def finish_measured(process, args, started, timeout=60, during=None):
    """Collects a started ttops: samples its memory until it exits, runs `during(process)` on the
    side (a fault that happens mid-run), and kills it if it outlives `timeout`."""
    out, err, peak = [], [], [0]
    readers = [threading.Thread(target=lambda: out.append(process.stdout.read()), daemon=True),
               threading.Thread(target=lambda: err.append(process.stderr.read()), daemon=True)]
    for reader in readers:
        reader.start()
    side = threading.Thread(target=during, args=(process,), daemon=True) if during else None
    if side:
        side.start()
    deadline = started + timeout
    while process.poll() is None:
        peak[0] = max(peak[0], _high_water_kb(process.pid))
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            break
        time.sleep(0.01)
    seconds = time.monotonic() - started
    for reader in readers:
        reader.join(10)
    if side:
        side.join(10)
    decode = lambda parts: parts[0].decode(errors="replace") if parts else ""
    return Measured(list(args), process.returncode, decode(out), decode(err), seconds, peak[0], process.pid)


def run_measured(args, env=None, timeout=60, during=None, preexec_fn=None):
    started = time.monotonic()
    process = start_ttops(args, env=env, preexec_fn=preexec_fn)
    return finish_measured(process, args, started, timeout=timeout, during=during)


_started = []  # every fault server, stopped at exit even when a test module fails first


@atexit.register
def _stop_fault_servers():
    for server in _started:
        server.kill()


class FaultServer:
    """fault_server.py in a process of its own: `kill()` is a server dying mid-run."""

    def __init__(self, directory, protocol, fault, **options):
        self.directory, self.protocol, self.fault, self.options = directory, protocol, fault, options
        self.process = None
        self.port = None

    def start(self):
        port_file = os.path.join(self.directory, f"fault-{self.protocol}-{self.fault}-{time.monotonic_ns()}.port")
        args = [python3(), FAULT_SERVER, "--protocol", self.protocol, "--fault", self.fault, "--port-file", port_file]
        for key, value in self.options.items():
            args += [f"--{key}", str(value)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        _started.append(self)
        wait_for_file(port_file, self.process)
        with open(port_file) as f:
            self.port = int(f.read())
        return self

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    stop = kill

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def processes_in_session(sid):
    """Pids of live processes whose session is `sid`: what ttops (started with a session of its
    own) and everything it started still run, whatever process group they moved to."""
    return [pid for pid, fields in process_stats() if fields[0] != "Z" and int(fields[3]) == sid]


def processes_with_marker(marker):
    """Pids of live processes whose command line holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry))
    return found


# --- docs/reliability.md ---------------------------------------------------------------------

def _section_pattern(name):
    return re.compile(r"(<!-- BEGIN %s[^>]*-->\n)(.*?)(<!-- END %s -->)" % (re.escape(name), re.escape(name)), re.S)


def doc_section(name):
    with open(DOC) as f:
        match = _section_pattern(name).search(f.read())
    return match.group(2) if match else None


def check_doc_section(test, name, text, how):
    """Asserts that docs/reliability.md's section `name` is `text`; rewrites it instead when
    TTOPS_UPDATE_DOCS=1. `how` says which command regenerates it."""
    if not text.endswith("\n"):
        text += "\n"
    with open(DOC) as f:
        document = f.read()
    pattern = _section_pattern(name)
    match = pattern.search(document)
    test.assertIsNotNone(match, f"docs/reliability.md has no section <!-- BEGIN {name} --> … <!-- END {name} -->")
    if UPDATE_DOCS:
        document = document[:match.start(2)] + text + document[match.end(2):]
        with open(DOC, "w") as f:
            f.write(document)
        return
    test.assertEqual(match.group(2), text,
                     f"docs/reliability.md's '{name}' section is not what the tests found: regenerate it with {how}")
