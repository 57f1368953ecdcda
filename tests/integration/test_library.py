"""The runbook library as a whole: every procedure of the original runbooks is covered exactly
once, the library validates, its generated docs are fresh, and every runbook runs against the
local platform: read-only ones for real (manual steps acknowledged with --yes), mutating ones
under --dry-run."""
import json
import os
import re
import unittest

from harness import RUNBOOKS, SOURCE_DIR, TtopsTestCase, run_ttops
from local_platform import PlatformTestCase

PROCEDURES = os.path.join(SOURCE_DIR, "docs", "procedures.md")
# How each runbook is run here, one file per service: {"service/name": {"set": [...], "env": {...},
# "exit": N}}. Extra --set values shorten waits that are minutes long in production; "exit" is
# for a runbook whose run on a healthy platform is expected to end otherwise than with 0.
RUNS = os.path.join(SOURCE_DIR, "tests", "cases", "library-runs")


def procedure_ids():
    with open(PROCEDURES) as f:
        return re.findall(r"^- ([a-z]+\.[a-z0-9-]+)", f.read(), re.M)


def library():
    result = run_ttops("--runbooks", RUNBOOKS, "-o", "json", "list")
    assert result.code == 0, repr(result)
    return result.json()


class CoverageTest(TtopsTestCase):
    def test_every_procedure_is_covered_exactly_once(self):
        ids = procedure_ids()
        self.assertEqual(len(ids), 70)
        covered = {}
        for runbook in library():
            for id in runbook["covers"]:
                covered.setdefault(id, []).append(f"{runbook['service']}/{runbook['name']}")
        missing = [id for id in ids if id not in covered]
        twice = {id: where for id, where in covered.items() if len(where) > 1}
        unknown = sorted(set(covered) - set(ids))
        self.assertEqual(missing, [], "procedures no runbook covers")
        self.assertEqual(twice, {}, "procedures covered more than once")
        self.assertEqual(unknown, [], "covers ids that are not procedures of the original runbooks")

    def test_every_runbook_says_what_it_is_for(self):
        for runbook in library():
            with self.subTest(runbook=f"{runbook['service']}/{runbook['name']}"):
                self.assertTrue(runbook["summary"], "no summary")
                self.assertTrue(runbook["symptoms"] or runbook["name"] in ("health",), "no symptoms")

    def test_library_validates(self):
        result = run_ttops("--runbooks", RUNBOOKS, "validate")
        self.assertExit(result, 0)

    def test_generated_docs_are_fresh(self):
        result = run_ttops("--runbooks", RUNBOOKS, "docs", "--check", "--out", os.path.join(SOURCE_DIR, "docs", "runbooks"))
        self.assertExit(result, 0)

    def test_symptom_search(self):
        result = run_ttops("--runbooks", RUNBOOKS, "list", "--symptom", "latency")
        self.assertExit(result, 0)
        self.assertIn("venue", result.stdout)
        self.assertIn("high-latency", result.stdout)


class LibraryRunTest(PlatformTestCase):
    """Every runbook against the local platform, as scripts/demo sets it up."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.runs = {}
        for name in sorted(os.listdir(RUNS)):
            with open(os.path.join(RUNS, name)) as f:
                cls.runs.update(json.load(f))

    def test_every_runbook_runs(self):
        for runbook in library():
            name = f"{runbook['service']}/{runbook['name']}"
            with self.subTest(runbook=name):
                plan = self.runs.get(name, {})
                args = ["--config", self.local_config, "--runbooks", RUNBOOKS, "--env", "local", "-o", "json",
                        "runbook", runbook["service"], runbook["name"], "--yes"]
                if runbook["mutates"]:
                    args.append("--dry-run")
                for value in plan.get("set", []):
                    args += ["--set", value]
                result = run_ttops(*args, env=dict(self.platform.env(), **plan.get("env", {})), timeout=300)
                self.assertEqual(result.code, plan.get("exit", 0), repr(result)[-3000:])
                document = result.json()
                if runbook["mutates"]:
                    ran = [s["id"] for s in document["runs"][0]["steps"]
                           if s["effect"] != "read" and not s["dry_run"] and s["status"] != "skipped"]
                    self.assertEqual(ran, [], "a mutation ran under --dry-run")
        # Nothing reached the cluster for real.
        self.assertEqual([m for m in self.platform.kube.mutations() if not m["dry_run"]], [])


if __name__ == "__main__":
    unittest.main()
