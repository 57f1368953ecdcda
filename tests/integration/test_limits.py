"""Limits of the machine ttops runs on: a parallel group wider than the open-file limit allows
(RLIMIT_NOFILE, `ulimit -n`) runs fewer steps at a time instead of failing them with "too many open
files", and says so at -v."""
import re
import resource
import unittest

from harness import TtopsTestCase
from health_server import HealthServer
from reliability import CRASH_MARKERS, run_measured

OPEN_FILES = 64
CHECKS = 100


def low_open_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


class OpenFileLimitTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Every answer after 50 ms, so that the checks of a group overlap.
        cls.server = HealthServer(delay=0.05).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()

    def group(self, step):
        lines = ["title: fan-out", "steps:", "  - id: checks", "    parallel:", f"      max: {CHECKS}", "      steps:"]
        for i in range(CHECKS):
            lines.append(f"        - {{id: check-{i}, {step}}}")
        return "\n".join(lines) + "\n"

    def run_group(self, step):
        lib = self.library({"venue/fanout.yaml": self.group(step)})
        args = ["--config", self.config, "--runbooks", lib, "-v", "-o", "json", "--concurrency", str(CHECKS),
                "runbook", "venue", "fanout"]
        return run_measured(args, preexec_fn=low_open_file_limit, timeout=120)

    def assert_all_passed_clamped(self, result):
        for crash in CRASH_MARKERS:
            self.assertNotIn(crash, result.stderr, repr(result))
        self.assertEqual(result.code, 0, repr(result))
        group = result.json_report()["runs"][0]["steps"][0]
        self.assertEqual(len(group["steps"]), CHECKS)
        failed = [(s["id"], s["reason"]) for s in group["steps"] if s["status"] != "passed"]
        self.assertEqual(failed, [], repr(result))
        clamp = re.search(r"parallel group 'checks': (\d+) steps at a time instead of (\d+): the open-file limit",
                          result.stderr)
        self.assertIsNotNone(clamp, repr(result))
        at_a_time, asked = int(clamp.group(1)), int(clamp.group(2))
        self.assertEqual(asked, CHECKS)
        self.assertGreaterEqual(at_a_time, 1)
        self.assertLess(at_a_time * 8, OPEN_FILES)

    def test_http_fan_out_wider_than_the_limit(self):
        port = self.server.server_address[1]
        self.assert_all_passed_clamped(self.run_group(f"http: \"http://127.0.0.1:{port}/health\""))

    def test_exec_fan_out_wider_than_the_limit(self):
        self.assert_all_passed_clamped(self.run_group("exec: [sleep, '0.05']"))

    def test_the_limit_itself_is_what_ttops_gets(self):
        # The clamp is only meaningful if the child really runs under the low limit.
        lib = self.library({"venue/limit.yaml": "title: limit\nsteps:\n  - id: limit\n"
                                                "    exec: [sh, -c, 'ulimit -n']\n    capture: {n: int(stdout)}\n"})
        result = run_measured(["--config", self.config, "--runbooks", lib, "-o", "json", "runbook", "venue", "limit"],
                              preexec_fn=low_open_file_limit)
        self.assertEqual(result.code, 0, repr(result))
        self.assertEqual(result.json_report()["runs"][0]["steps"][0]["captures"]["n"], OPEN_FILES)


if __name__ == "__main__":
    unittest.main()
