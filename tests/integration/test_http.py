"""The HTTP executor and the engine, through the real binary, against the sandbox services."""
import time
import unittest

from harness import TtopsTestCase
from health_server import HealthServer

HEALTH = """title: Health
timeout: 2s
steps:
  - id: health
    http: "{{ target.url }}/health"
    expect:
      - status == 200
      - json.status == "ok"
"""

RETRY = """title: Wait until healthy
steps:
  - id: health
    http: "{{ target.url }}/health"
    expect: [status == 200]
    until: {interval: 200ms, attempts: 30, successes: 3}
"""

METRICS = """title: Metrics
steps:
  - id: pool
    http: "{{ target.url }}/metrics"
    expect:
      - that: metric("db_pool_utilization") < 0.9
      - that: metric("db_pool_utilization") < 0.7
        severity: warning
    capture:
      utilization: metric("db_pool_utilization")
  - id: show
    http: "{{ target.url }}/health?u={{ captures.utilization }}"
"""


class HttpTest(TtopsTestCase):
    uses_sandbox = True

    def setUp(self):
        super().setUp()
        self.lib = self.library({"venue/health.yaml": HEALTH, "venue/retry.yaml": RETRY,
                                 "venue/metrics.yaml": METRICS})

    def test_success(self):
        result = self.ttops("runbook", "venue", "health", library=self.lib)
        self.assertExit(result, 0)
        self.assertIn("PASS  health", result.stdout)
        self.assertIn("PASSED", result.stdout)

    def test_failure_names_the_values(self):
        self.sandbox.set("venue", healthy=False)
        result = self.ttops("runbook", "venue", "health", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("FAIL  health", result.stdout)
        self.assertIn("expected status == 200, got status = 503", result.stdout)

    def test_connection_refused(self):
        config = self.config.replace("ttops.yaml", "refused.yaml")
        with open(self.config) as f, open(config, "w") as out:
            out.write(f.read().replace(self.sandbox.url("venue"), "http://127.0.0.1:9"))
        result = self.ttops("runbook", "venue", "health", library=self.lib, config=config)
        self.assertExit(result, 1)
        self.assertIn("connection refused (127.0.0.1:9)", result.stdout)

    def test_timeout_is_a_clear_failure_within_the_bound(self):
        self.sandbox.set("venue", fault="hang")
        result = self.ttops("runbook", "venue", "health", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("timed out after 2.0s waiting for a response", result.stdout)
        self.assertLess(result.seconds, 3.5)

    def test_malformed_json_is_a_step_failure(self):
        self.sandbox.set("venue", fault="malformed_json")
        result = self.ttops("runbook", "venue", "health", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("response body is not valid JSON", result.stdout)

    def test_connection_closed_mid_response(self):
        self.sandbox.set("venue", fault="close")
        result = self.ttops("runbook", "venue", "health", library=self.lib)
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"connection closed mid-response|closed the connection")

    def test_retry_until_healthy_three_times_in_a_row(self):
        self.sandbox.set("venue", healthy=False)
        import threading
        threading.Timer(0.7, lambda: self.sandbox.set("venue", healthy=True)).start()
        result = self.ttops("-o", "json", "runbook", "venue", "retry", library=self.lib)
        self.assertExit(result, 0)
        step = result.json()["runs"][0]["steps"][0]
        self.assertEqual(step["status"], "passed")
        self.assertGreaterEqual(step["attempts"], 5)  # some failures, then three in a row
        self.assertIn("held 3 times in a row", " ".join(step["notes"]))

    def test_retry_gives_up(self):
        self.sandbox.set("venue", healthy=False)
        lib = self.library({"venue/retry.yaml": RETRY.replace("attempts: 30", "attempts: 3")})
        result = self.ttops("runbook", "venue", "retry", library=lib)
        self.assertExit(result, 1)
        self.assertIn("did not pass 3 times in a row within 3 attempts", result.stdout)

    def test_metrics_warning_and_capture(self):
        self.sandbox.set("venue", pool_used=8, pool_size=10)
        result = self.ttops("-o", "json", "runbook", "venue", "metrics", library=self.lib)
        self.assertExit(result, 0)  # a warning does not fail the run…
        doc = result.json()
        self.assertEqual(doc["status"], "warned")
        self.assertEqual(doc["runs"][0]["steps"][0]["captures"]["utilization"], 0.8)
        requests = self.sandbox.requests("venue")
        self.assertTrue(any(r["query"] == "u=0.8" for r in requests), requests)
        # …unless asked to.
        result = self.ttops("runbook", "venue", "metrics", "--fail-on-warning", library=self.lib)
        self.assertExit(result, 1)


class ConnectionReuseTest(TtopsTestCase):
    """Connections are kept across the steps of a run, and never shared by two threads at once
    (libcurl cannot share a connection cache between concurrent transfers: it corrupts memory)."""

    def setUp(self):
        super().setUp()
        self.server = HealthServer().start()
        self.addCleanup(self.server.stop)
        self.url = f"http://127.0.0.1:{self.server.port}/health"

    def test_a_sequential_runbook_opens_one_connection(self):
        steps = "".join(f"  - {{id: c{i}, http: \"{self.url}\", expect: [status == 200]}}\n" for i in range(30))
        lib = self.library({"venue/many.yaml": f"title: many\nsteps:\n{steps}"})
        result = self.ttops("runbook", "venue", "many", library=lib)
        self.assertExit(result, 0)
        self.assertIn("30 passed", result.stdout)
        self.assertEqual(self.server.connections, 1)

    def test_parallel_checks_reuse_at_most_one_connection_per_worker(self):
        steps = "".join(f"        - {{id: c{i}, http: \"{self.url}\", expect: [status == 200]}}\n"
                        for i in range(200))
        lib = self.library({"venue/fan.yaml": f"title: fan\nsteps:\n  - id: all\n    parallel:\n      max: 8\n"
                                              f"      steps:\n{steps}"})
        for _ in range(5):
            result = self.ttops("runbook", "venue", "fan", library=lib)
            self.assertExit(result, 0)
            self.assertIn("200 passed", result.stdout)
        # Five runs of 8 workers: each worker's channel keeps its connection for the run.
        self.assertGreaterEqual(self.server.connections, 5)
        self.assertLessEqual(self.server.connections, 5 * 8)


if __name__ == "__main__":
    unittest.main()
