"""Reports for CI: `ttops check`, JUnit read by a real XML parser, JSON validated against the
published schema, markdown for the incident channel."""
import json
import os
import threading
import unittest
import xml.etree.ElementTree as ElementTree

from harness import SOURCE_DIR, TtopsTestCase

try:
    import jsonschema
except ImportError:  # scripts/test installs python3-jsonschema; without it the schema tests cannot run
    jsonschema = None

SCHEMA = os.path.join(SOURCE_DIR, "docs", "report.schema.json")

HEALTH_PATHS = {"ticket": "/health", "event": "/health/ready", "venue": "/health", "monitoring": "/health",
                "minting": "/health"}


def health(path, extra=""):
    return f"""title: health
steps:
  - id: health
    http: "{{{{ target.url }}}}{path}"
    expect:
      - status == 200
      - that: duration < 5s
        severity: warning
{extra}"""


class ReportsTest(TtopsTestCase):
    uses_sandbox = True

    def setUp(self):
        super().setUp()
        files = {f"{service}/health.yaml": health(path) for service, path in HEALTH_PATHS.items()}
        files["venue/smoke.yaml"] = health("/health/full", """  - id: pool
    http: "{{ target.url }}/metrics"
    expect:
      - that: metric("db_pool_utilization") < 0.7
        severity: warning
""")
        self.lib = self.library(files)

    def validate(self, document):
        if jsonschema is None:
            self.skipTest("python3-jsonschema is not installed")
        with open(SCHEMA) as f:
            jsonschema.validate(document, json.load(f))

    def test_check_all_services_in_parallel(self):
        result = self.ttops("check", library=self.lib)
        self.assertExit(result, 0)
        lines = result.stdout.splitlines()
        self.assertRegex(lines[0], r"^SERVICE\s+RUNBOOK\s+STATUS\s+STEPS\s+TIME\s+DETAIL")
        self.assertEqual(len(lines), 6)
        self.assertRegex(result.stdout, r"venue\s+smoke\s+PASS\s+2/2")  # smoke is preferred over health

    def test_check_fails_when_one_service_fails(self):
        self.sandbox.set("event", healthy=False)
        result = self.ttops("check", library=self.lib)
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"event\s+health\s+FAIL\s+0/1\s+\S+\s+health: expected status == 200, got status = 503")
        self.assertRegex(result.stdout, r"ticket\s+health\s+PASS")

    def test_fail_on_warning(self):
        self.sandbox.set("venue", pool_used=8, pool_size=10)
        self.assertExit(self.ttops("check", "venue", library=self.lib), 0)
        result = self.ttops("check", "venue", "--fail-on", "warning", library=self.lib)
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"venue\s+smoke\s+WARN")

    def test_wait_ready_keeps_checking_until_healthy(self):
        self.sandbox.set("minting", healthy=False)
        threading.Timer(1.5, lambda: self.sandbox.set("minting", healthy=True)).start()
        result = self.ttops("check", "minting", "--wait-ready", "20s", "--interval", "500ms", library=self.lib)
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"\(\d+ rounds of checks\)")
        self.assertLess(result.seconds, 10)

    def test_wait_ready_gives_up_at_its_bound(self):
        self.sandbox.set("minting", healthy=False)
        result = self.ttops("check", "minting", "--wait-ready", "1s", "--interval", "300ms", library=self.lib)
        self.assertExit(result, 1)
        self.assertLess(result.seconds, 5)

    def test_junit_is_valid_xml_with_a_suite_per_runbook_and_a_case_per_step(self):
        self.sandbox.set("event", healthy=False)
        junit = os.path.join(self.tmp, "check.xml")
        result = self.ttops("check", "--junit", junit, library=self.lib)
        self.assertExit(result, 1)
        root = ElementTree.parse(junit).getroot()
        self.assertEqual(root.tag, "testsuites")
        suites = {s.get("name"): s for s in root.findall("testsuite")}
        self.assertEqual(set(suites), {"ticket/health", "event/health", "venue/smoke", "monitoring/health", "minting/health"})
        event = suites["event/health"]
        self.assertEqual(event.get("failures"), "1")
        failure = event.find("testcase/failure")
        self.assertIn("expected status == 200, got status = 503", failure.get("message"))
        self.assertEqual(len(suites["venue/smoke"].findall("testcase")), 2)
        for case in root.iter("testcase"):
            float(case.get("time"))
        self.assertEqual(root.get("failures"), "1")

    def test_json_follows_the_schema(self):
        self.sandbox.set("event", healthy=False)
        result = self.ttops("-o", "json", "check", library=self.lib)
        self.assertExit(result, 1)
        document = result.json()
        self.validate(document)
        self.assertEqual(document["status"], "failed")
        self.assertEqual(document["summary"]["runs"], 5)

    def test_runbook_json_follows_the_schema_for_every_kind_of_step(self):
        lib = os.path.join(SOURCE_DIR, "tests", "cases", "decision")
        for state in ({"healthy": False}, {"error_rate": 0.2, "rps": 200}):
            self.sandbox.reset()
            self.sandbox.set("minting", **state)
            result = self.ttops("-o", "json", "runbook", "minting", "rollback-decision", library=lib)
            self.assertExit(result, 0)
            self.validate(result.json())

    def test_schema_rejects_a_broken_document(self):
        result = self.ttops("-o", "json", "runbook", "venue", "health", library=self.lib)
        document = result.json()
        self.validate(document)
        del document["runs"][0]["steps"][0]["status"]
        with self.assertRaises(jsonschema.ValidationError):
            self.validate(document)

    def test_markdown_summary(self):
        self.sandbox.set("event", healthy=False)
        result = self.ttops("-o", "markdown", "check", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("| Service | Runbook | Status | Time |", result.stdout)
        self.assertIn("#### ❌ `event/health` failed", result.stdout)
        self.assertIn("expected status == 200, got status = 503", result.stdout)


if __name__ == "__main__":
    unittest.main()
