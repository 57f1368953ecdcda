"""Metrics: `--pushgateway URL` pushes the runs' series to a real Prometheus Pushgateway (Debian's
prometheus-pushgateway, started here on loopback, in memory only) and the tests read them back
from its /metrics; `--metrics-file PATH` writes the same series for node_exporter's textfile
collector, replaced atomically; `-o prometheus` prints them. A push or a write that fails is a
warning: the exit code stays the run's own."""
import os
import re
import shutil
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import TtopsTestCase

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"

HEALTH = """title: {service} health
steps:
  - id: health
    http: "{{{{ target.url }}}}{path}"
    expect:
      - status == 200
"""

SMOKE = HEALTH.format(service="venue", path="/health/full") + """  - id: pool
    http: "{{ target.url }}/metrics"
    expect:
      - that: metric("db_pool_utilization") < 0.7
        severity: warning
"""

# A secret parameter, sent in a header: it must reach no series.
SECRET = """title: venue with a token
params:
  token: {secret: true, description: the API token}
steps:
  - id: health
    http: {url: "{{ target.url }}/health", headers: {Authorization: "Bearer {{ params.token }}"}}
"""

FAMILIES = {"ttops_runbook_success", "ttops_runbook_duration_seconds", "ttops_last_run_timestamp_seconds",
            "ttops_step_success", "ttops_step_duration_seconds"}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_exposition(text):
    """[(name, {label: value}, value)] of the text format, checking what a scraper checks: every
    line a comment or a sample, labels well escaped, one TYPE per family before its samples."""
    samples, typed = [], {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in typed, f"TYPE {name} twice"
            typed[name] = kind
            continue
        if line.startswith("#") or not line.strip():
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels_text, value = match.groups()
        labels, position = {}, 0
        while labels_text and position < len(labels_text):
            label = LABEL.match(labels_text, position)
            assert label, f"bad labels in {line!r}"
            labels[label.group(1)] = re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1),
                                            label.group(2))
            position = label.end()
        samples.append((name, labels, float(value)))
    return samples, typed


def value_of(samples, name, **labels):
    found = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in\n" + "\n".join(map(str, samples))
    return found[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pushgateway:
    """A real Pushgateway on a free loopback port, keeping what it is pushed in memory only."""

    def __init__(self, directory):
        self.directory = directory
        self.process = None

    def start(self):
        for _ in range(3):  # another process may take the free port first
            self.port = free_port()
            self.log = open(os.path.join(self.directory, "pushgateway.log"), "w")
            self.process = subprocess.Popen(
                [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{self.port}", "--persistence.file=",
                 "--web.enable-admin-api", "--log.level=warn"], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                        if response.status == 200:
                            return self
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("the pushgateway did not start; see pushgateway.log")

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
            self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def metrics(self):
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            return parse_exposition(response.read().decode())[0]

    def wipe(self):
        request = urllib.request.Request(self.url + "/api/v1/admin/wipe", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()


class MetricsTest(TtopsTestCase):
    uses_sandbox = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pushgateway = None
        if os.path.exists(PUSHGATEWAY):
            try:
                cls.pushgateway = Pushgateway(cls.tmp).start()
            except Exception:
                super().tearDownClass()
                raise

    @classmethod
    def tearDownClass(cls):
        if cls.pushgateway:
            cls.pushgateway.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.lib = self.library({"venue/smoke.yaml": SMOKE,
                                 "event/health.yaml": HEALTH.format(service="event", path="/health/ready"),
                                 "venue/secret.yaml": SECRET})

    def need_pushgateway(self):
        if self.pushgateway is None:
            self.skipTest(f"{PUSHGATEWAY} is not installed (Debian prometheus-pushgateway)")
        self.pushgateway.wipe()

    # --- Pushgateway ---------------------------------------------------------------------------

    def test_check_pushes_its_series_and_reads_them_back(self):
        self.need_pushgateway()
        self.sandbox.set("event", healthy=False)
        before = time.time()
        result = self.ttops("check", "venue", "event", "--pushgateway", self.pushgateway.url, library=self.lib)
        self.assertExit(result, 1)  # the run's own verdict
        self.assertEqual(result.stderr, "")
        samples = self.pushgateway.metrics()
        common = dict(job="ttops", environment="test", context="")
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="venue", runbook="smoke", **common), 1)
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="event", runbook="health", **common), 0)
        self.assertEqual(value_of(samples, "ttops_step_success", service="venue", step="pool", **common), 1)
        self.assertEqual(value_of(samples, "ttops_step_success", service="event", step="health", **common), 0)
        self.assertGreater(value_of(samples, "ttops_runbook_duration_seconds", service="venue", **common), 0)
        self.assertGreater(value_of(samples, "ttops_step_duration_seconds", service="venue", step="health", **common), 0)
        finished = value_of(samples, "ttops_last_run_timestamp_seconds", service="event", **common)
        self.assertGreaterEqual(finished, before - 2)
        self.assertLessEqual(finished, time.time() + 2)
        # One group per runbook: the Pushgateway says when each was pushed.
        self.assertGreater(value_of(samples, "push_time_seconds", service="venue", runbook="smoke", **common), 0)

        # The next run replaces the group's series.
        self.sandbox.set("event", healthy=True)
        self.assertExit(self.ttops("check", "event", "--pushgateway", self.pushgateway.url, library=self.lib), 0)
        samples = self.pushgateway.metrics()
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="event", **common), 1)
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="venue", **common), 1)

    def test_each_context_is_its_own_group(self):
        self.need_pushgateway()
        eks = "arn:aws:eks:eu-west-1:123456789012:cluster/prod"  # '/' and ':' go base64 in the URL
        result = self.ttops("check", "venue", "--context", f"{eks},staging", "--pushgateway", self.pushgateway.url,
                            library=self.lib)
        self.assertExit(result, 0)
        samples = self.pushgateway.metrics()
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="venue", context=eks), 1)
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="venue", context="staging"), 1)
        self.assertEqual(value_of(samples, "ttops_step_success", context=eks, step="pool"), 1)

    def test_a_failed_push_is_a_warning_and_the_exit_code_stays_the_runs(self):
        closed = f"http://127.0.0.1:{free_port()}"
        result = self.ttops("check", "venue", "--pushgateway", closed, library=self.lib)
        self.assertExit(result, 0)
        self.assertRegex(result.stderr, r"^warning: metrics not pushed: PUT " + re.escape(closed) +
                         r"/metrics/job/ttops/environment/test/service/venue/runbook/smoke/context@base64/=: ")
        self.sandbox.set("venue", healthy=False)
        failed = self.ttops("check", "venue", "--pushgateway", closed, library=self.lib)
        self.assertExit(failed, 1)  # neither hidden nor made worse
        self.assertIn("warning: metrics not pushed", failed.stderr)
        self.sandbox.set("venue", healthy=True)
        if self.pushgateway:  # refused by the server: its status and answer
            rejected = self.ttops("check", "venue", "--pushgateway", self.pushgateway.url + "/nowhere",
                                  library=self.lib)
            self.assertExit(rejected, 0)
            self.assertRegex(rejected.stderr, r": HTTP 404: 404 page not found\n$")

    def test_push_url_must_be_http(self):
        result = self.ttops("check", "venue", "--pushgateway", "127.0.0.1:9091", library=self.lib)
        self.assertExit(result, 2)
        self.assertIn("--pushgateway must be an http:// or https:// URL", result.stderr)

    # --- the textfile collector's file -----------------------------------------------------------

    def test_metrics_file_parses_and_is_replaced_atomically(self):
        directory = os.path.join(self.tmp, "textfile")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "ttops.prom")
        self.sandbox.set("event", healthy=False)
        result = self.ttops("check", "venue", "event", "--metrics-file", path, library=self.lib)
        self.assertExit(result, 1)
        with open(path) as f:
            text = f.read()
        samples, typed = parse_exposition(text)
        self.assertEqual({name: kind for name, kind in typed.items()}, {name: "gauge" for name in FAMILIES})
        for family in FAMILIES:
            self.assertEqual(text.count(f"# HELP {family} "), 1)
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="event", runbook="health"), 0)
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="venue", runbook="smoke"), 1)
        self.assertEqual(value_of(samples, "ttops_step_success", service="venue", step="health"), 1)
        self.assertTrue(os.stat(path).st_mode & 0o044, "the collector (another user) must be able to read it")

        # Replaced by a rename: a reader holding the old file keeps reading all of it, the name
        # points at a new file, and nothing else is left in the collector's directory.
        old_inode = os.stat(path).st_ino
        with open(path) as reader:
            self.sandbox.set("event", healthy=True)
            self.assertExit(self.ttops("check", "event", "--metrics-file", path, library=self.lib), 0)
            self.assertEqual(reader.read(), text)
        self.assertNotEqual(os.stat(path).st_ino, old_inode)
        self.assertEqual(os.listdir(directory), ["ttops.prom"])
        with open(path) as f:
            samples, _ = parse_exposition(f.read())
        self.assertEqual(value_of(samples, "ttops_runbook_success", service="event"), 1)
        self.assertEqual([s for s in samples if s[1].get("service") == "venue"], [])  # this run's series only

    def test_a_metrics_file_that_cannot_be_written_is_a_warning(self):
        path = os.path.join(self.tmp, "no-such-directory", "ttops.prom")
        result = self.ttops("check", "venue", "--metrics-file", path, library=self.lib)
        self.assertExit(result, 0)
        self.assertRegex(result.stderr, r"^warning: metrics not written: cannot create .*no-such-directory")

    def test_runbook_metrics_never_hold_a_secret(self):
        path = os.path.join(self.tmp, "secret.prom")
        secret = "s3cr3t-token-value"
        result = self.ttops("runbook", "venue", "secret", "--set", f"token={secret}", "--metrics-file", path,
                            library=self.lib)
        self.assertExit(result, 0)
        printed = self.ttops("-o", "prometheus", "runbook", "venue", "secret", "--set", f"token={secret}",
                             library=self.lib)
        self.assertExit(printed, 0)
        with open(path) as f:
            text = f.read()
        for output in (text, printed.stdout):
            self.assertNotIn(secret, output)
            samples, _ = parse_exposition(output)
            self.assertEqual(value_of(samples, "ttops_runbook_success", service="venue", runbook="secret"), 1)
            self.assertEqual({label for _, labels, _ in samples for label in labels},
                             {"environment", "service", "runbook", "context", "step"})


if __name__ == "__main__":
    unittest.main()
