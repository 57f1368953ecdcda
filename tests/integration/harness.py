"""Shared pieces of the integration tests: they run the real ttops binary, as a user would,
against real servers started here on 127.0.0.1 and stopped when the tests end.

Environment:
  TTOPS_BIN         the ttops binary (ctest sets it; default build/src/ttops)
  TTOPS_SOURCE_DIR  the repository (default: two levels up from this file)
  TTOPS_UNIT_TESTS  the unit test binary, for executor tests against live servers (ctest sets it)
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

SOURCE_DIR = os.environ.get("TTOPS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TTOPS = os.environ.get("TTOPS_BIN") or os.path.join(SOURCE_DIR, "build", "src", "ttops")
UNIT_TESTS = os.environ.get("TTOPS_UNIT_TESTS") or os.path.join(os.path.dirname(TTOPS), "..", "tests", "ttops_unit_tests")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
RUNBOOKS = os.path.join(SOURCE_DIR, "runbooks")

SERVICES = ["ticket", "event", "venue", "monitoring", "minting"]

# Journals, locks and the audit log of test runs go to a throwaway state directory.
STATE_DIR = tempfile.mkdtemp(prefix="ttops-state-")
atexit.register(shutil.rmtree, STATE_DIR, True)


class Result:
    """What one ttops invocation did."""

    def __init__(self, args, code, stdout, stderr, seconds):
        self.args, self.code, self.stdout, self.stderr, self.seconds = args, code, stdout, stderr, seconds

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as error:
            raise AssertionError(f"stdout is not JSON ({error}):\n{self.stdout}\nstderr:\n{self.stderr}")

    def __repr__(self):
        return (f"ttops {' '.join(self.args)}\nexit {self.code} after {self.seconds:.2f}s\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def run_ttops(*args, env=None, input=None, timeout=120, cwd=None):
    """Runs ttops with stdin not a terminal (as CI and scripts do) and NO_COLOR set."""
    full_env = dict(os.environ)
    full_env["NO_COLOR"] = "1"
    full_env.pop("TTOPS_ENV", None)
    full_env.setdefault("TTOPS_STATE_DIR", STATE_DIR)
    full_env.setdefault("TTOPS_CACHE_DIR", os.path.join(STATE_DIR, "cache"))
    if env:
        full_env.update(env)
    started = time.monotonic()
    proc = subprocess.run([TTOPS, *args], input=input if input is not None else "", capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=cwd)
    return Result(list(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def http(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def wait_for_file(path, process, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before it was ready")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {path}")


def python3():
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class Sandbox:
    """The stand-in services (tests/fixtures/sandbox) on free ports."""

    def __init__(self, directory):
        self.directory = directory
        self.ports = {}
        self.process = None

    def start(self):
        ports_file = os.path.join(self.directory, "sandbox-ports.json")
        self.log = open(os.path.join(self.directory, "sandbox.log"), "w")
        self.process = subprocess.Popen(
            [python3(), os.path.join(FIXTURES, "sandbox", "sandbox.py"), "--port-base", "0", "--ports-file", ports_file],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_file(ports_file, self.process)
        with open(ports_file) as f:
            self.ports = json.load(f)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    def url(self, service):
        return f"http://127.0.0.1:{self.ports[service]}"

    def set(self, service, **state):
        return http("POST", self.url(service) + "/_sandbox/state", state)

    def reset(self):
        http("POST", self.url("minting") + "/_sandbox/reset?all=1")
        http("DELETE", self.url("minting") + "/_sandbox/requests?all=1")

    def requests(self, service):
        return http("GET", self.url(service) + "/_sandbox/requests")


def write_config(path, sandbox=None, extra_values=None, extra_environments=""):
    """A ttops.yaml whose `test` environment points every service at the sandbox, and whose
    `prod` environment is marked production with the same addresses."""
    lines = ["default_environment: test", "environments:"]
    for name, production in (("test", False), ("prod", True)):
        lines.append(f"  {name}:")
        lines.append(f"    production: {'true' if production else 'false'}")
        lines.append("    values:")
        values = {"namespace": "tickettoken", "kube_context": "ttops-fixture"}
        # The values runbooks/ttops.yaml defines besides the built-in ones, so that every runbook
        # of the library loads with this config (unreachable without a sandbox).
        for aux, key in (("payment-service", "payment_url"), ("prometheus", "prometheus_url"),
                         ("stripe-status", "stripe_status_url"), ("pinata", "pinata_url"),
                         ("fallback-rpc", "fallback_rpc_url")):
            values[key] = sandbox.url(aux) if sandbox else f"http://{aux}.invalid"
        values.update(extra_values or {})
        for key, value in values.items():
            lines.append(f"      {key}: {json.dumps(value)}")
        lines.append("    services:")
        for service in SERVICES:
            lines.append(f"      {service}:")
            url = sandbox.url(service) if sandbox else f"http://{service}-service.invalid"
            lines.append(f"        url: {json.dumps(url)}")
            lines.append(f"        public_url: {json.dumps(url)}")
            lines.append(f"        deployment: {service}-service")
            lines.append(f"        app_label: {service}-service")
            if service == "event":
                venue_url = sandbox.url("venue") if sandbox else "http://venue-service.invalid"
                lines.append(f"        venue_url: {json.dumps(venue_url)}")
            if service == "minting":
                lines.append(f"        green_url: {json.dumps(url)}")  # blue-green: the one stand-in
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra_environments)
    return path


def split_args(args, *command):
    """ttops's global options (-v, -o FORMAT) go before the subcommand, the rest after it."""
    before, after = [], []
    items = iter(args)
    for arg in items:
        if arg in ("-v", "-vv"):
            before.append(arg)
        elif arg in ("-o", "--output"):
            before += [arg, next(items)]
        else:
            after.append(arg)
    return [*before, *command, *after]


class TtopsTestCase(unittest.TestCase):
    """Gives each test module a temporary directory and, when `uses_sandbox`, one sandbox."""

    uses_sandbox = False
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TTOPS):
            raise unittest.SkipTest(f"ttops binary not found at {TTOPS}")
        cls.tmp = tempfile.mkdtemp(prefix="ttops-it-")
        cls.sandbox = Sandbox(cls.tmp).start() if cls.uses_sandbox else None
        cls.config = write_config(os.path.join(cls.tmp, "ttops.yaml"), cls.sandbox)

    @classmethod
    def tearDownClass(cls):
        if cls.sandbox:
            cls.sandbox.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if self.sandbox:
            self.sandbox.reset()

    def library(self, files, name="lib"):
        """Writes a runbook library {relative path: text} and returns its directory."""
        root = os.path.join(self.tmp, name + "-" + self.id().rsplit(".", 1)[-1])
        for relative, text in files.items():
            path = os.path.join(root, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return root

    def ttops(self, *args, library=None, config=None, **kwargs):
        prefix = ["--config", config or self.config]
        if library:
            prefix += ["--runbooks", library]
        return run_ttops(*prefix, *args, **kwargs)

    def assertExit(self, result, code):
        self.assertEqual(result.code, code, repr(result))
