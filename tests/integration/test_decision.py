"""The minting rollback decision tree, as a decision step, takes each of its three branches
against the sandbox's minting service."""
import os
import unittest

from harness import SOURCE_DIR, TtopsTestCase

LIBRARY = os.path.join(SOURCE_DIR, "tests", "cases", "decision")


class RollbackDecisionTest(TtopsTestCase):
    uses_sandbox = True

    def decide(self):
        result = self.ttops("-o", "json", "runbook", "minting", "rollback-decision", library=LIBRARY)
        branches = [r["args"].get("branch") for r in self.sandbox.requests("minting") if r["args"].get("branch")]
        return result, branches

    def test_healthy_with_high_error_rate_takes_quick_rollback(self):
        self.sandbox.set("minting", error_rate=0.2, rps=200)
        result, branches = self.decide()
        self.assertExit(result, 0)
        self.assertEqual(branches, ["quick-rollback"])
        steps = {s["id"]: s for s in result.json()["runs"][0]["steps"]}
        self.assertEqual(steps["responding"]["decision"], "errors-before")
        self.assertEqual(steps["error-rate"]["decision"], "quick-rollback")
        self.assertAlmostEqual(steps["errors-after"]["captures"]["error_rate"], 0.2, delta=0.03)
        self.assertNotIn("monitor", steps)

    def test_healthy_with_low_error_rate_monitors(self):
        self.sandbox.set("minting", error_rate=0.01, rps=200)
        result, branches = self.decide()
        self.assertExit(result, 0)
        self.assertEqual(branches, ["monitor"])

    def test_not_responding_takes_emergency_rollback(self):
        self.sandbox.set("minting", healthy=False)
        result, branches = self.decide()
        self.assertExit(result, 0)
        self.assertEqual(branches, ["emergency-rollback"])
        steps = [s["id"] for s in result.json()["runs"][0]["steps"]]
        self.assertEqual(steps, ["health", "responding", "emergency-rollback"])

    def test_text_output_shows_the_path_taken(self):
        self.sandbox.set("minting", error_rate=0.2, rps=200)
        result = self.ttops("runbook", "minting", "rollback-decision", library=LIBRARY)
        self.assertExit(result, 0)
        self.assertIn("GOTO  error-rate", result.stdout)
        self.assertIn("-> quick-rollback", result.stdout)


if __name__ == "__main__":
    unittest.main()
