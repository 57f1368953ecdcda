"""Many clusters: `--context a,b,c` runs one runbook (or `check`, `plan`) in several Kubernetes
contexts side by side. Two Kubernetes API fixtures stand for two clusters (`east` healthy, `west`
with a failed rollout) and a third context points at nothing (`gone`); the real kubectl reaches
them through one kubeconfig. The tests check the column per context in text, JSON (against the
schema), JUnit and markdown, that the runs overlap in time (the fixtures' request times), that one
context alone prints what it always did, and that mutations keep every safety rule: --yes or a
prompt per cluster, --dry-run, the audit trail naming the context, a refusal when a change would
not follow the context, and resume in the cluster the run started in."""
import json
import os
import re
import shutil
import socket
import time
import unittest
import xml.etree.ElementTree as ElementTree

from harness import SOURCE_DIR, STATE_DIR, TtopsTestCase, write_config
from kube import KubeFixture, processes_using
from test_prompt import Terminal

try:
    import jsonschema
except ImportError:
    jsonschema = None

SCHEMA = os.path.join(SOURCE_DIR, "docs", "report.schema.json")

ROLLED_OUT = """title: Venue rolled out
steps:
  - id: deployment
    title: The deployment
    kubectl: [get, deployment/venue-service]
    capture:
      image: json.spec.template.spec.containers[0].image
  - id: settle
    wait: 2s
  - id: rolled-out
    title: The rollout finished
    kubectl: [rollout, status, deployment/venue-service, --timeout=20s]
"""

HEALTH = """title: {service} health
steps:
  - id: rollout
    kubectl: [rollout, status, deployment/{service}-service, --timeout=20s]
"""

UNDO = """title: Roll venue back
steps:
  - id: undo
    title: Roll the deployment back
    kubectl: [rollout, undo, deployment/venue-service]
    confirm: Roll venue-service back?
    recovery: Roll it back by hand in this cluster.
  - id: rolled-out
    kubectl: [rollout, status, deployment/venue-service, --timeout=20s]
"""

# A change --context does not select: made once per context, against the same address.
UNDO_AND_ANNOUNCE = UNDO + """  - id: announce
    http: {url: "http://127.0.0.1:9/announce", method: POST}
    confirm: Announce the rollback?
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrub(text):
    text = re.sub(r"\b\d+(\.\d+)?(ms|s)\b", "<dur>", text)
    text = re.sub(r"\b\d+m\d\ds\b", "<dur>", text)
    return re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{6}", "<run-id>", text)


def kubeconfig(path, servers):
    lines = ["apiVersion: v1", "kind: Config", "clusters:"]
    for name, server in servers.items():
        lines += [f"- name: {name}", "  cluster:", f"    server: {server}"]
    lines += ["users:", "- name: fixture", "  user:", "    token: ttops-fixture-token", "contexts:"]
    for name in servers:
        lines += [f"- name: {name}", "  context:", f"    cluster: {name}", "    user: fixture",
                  "    namespace: tickettoken"]
    lines += ["current-context: east", "preferences: {}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class ContextsTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.east = cls.west = None
        try:
            os.makedirs(os.path.join(cls.tmp, "east"))
            os.makedirs(os.path.join(cls.tmp, "west"))
            cls.east = KubeFixture(os.path.join(cls.tmp, "east"), rollout_delay=0.1).start()
            cls.west = KubeFixture(os.path.join(cls.tmp, "west"), rollout_delay=0.1).start()
        except Exception:
            cls.tearDownClass()
            raise
        cls.kubeconfig = kubeconfig(os.path.join(cls.tmp, "kubeconfig"), {
            "east": cls.east.url, "west": cls.west.url, "gone": f"http://127.0.0.1:{free_port()}"})

    @classmethod
    def tearDownClass(cls):
        for fixture in (cls.east, cls.west):
            if fixture:
                fixture.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.east.reset()
        self.west.reset()
        # west's last release failed: its rollout is past its progress deadline.
        self.west.rollout("venue-service", "fail", delay=0, trigger=True)
        deadline = time.monotonic() + 10
        while not self.progress_deadline_exceeded(self.west):
            self.assertLess(time.monotonic(), deadline, "the west fixture never failed its rollout")
            time.sleep(0.05)
        self.west.clear()
        self.lib = self.library({"venue/rolled-out.yaml": ROLLED_OUT,
                                 "venue/health.yaml": HEALTH.format(service="venue"),
                                 "event/health.yaml": HEALTH.format(service="event"),
                                 "venue/undo.yaml": UNDO,
                                 "venue/undo-and-announce.yaml": UNDO_AND_ANNOUNCE})
        self.audit = os.path.join(self.tmp, f"audit-{self._testMethodName}.jsonl")

    @staticmethod
    def progress_deadline_exceeded(fixture):
        conditions = fixture.deployment("venue-service").get("status", {}).get("conditions", [])
        return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)

    def ttops(self, *args, env=None, **kwargs):
        full_env = {"KUBECONFIG": self.kubeconfig}
        full_env.update(env or {})
        return super().ttops("--audit-log", self.audit, *args, library=self.lib, env=full_env, **kwargs)

    def validate(self, document):
        if jsonschema is None:
            self.skipTest("python3-jsonschema is not installed")
        with open(SCHEMA) as f:
            jsonschema.validate(document, json.load(f))

    def undo_mutations(self, fixture):
        return [m for m in fixture.mutations() if not m["subresource"] and not m["dry_run"]
                and m["resource"] == "deployments" and m["name"] == "venue-service" and m["method"] == "PATCH"]

    def audit_records(self):
        if not os.path.exists(self.audit):
            return []
        with open(self.audit) as f:
            return [json.loads(line) for line in f if line.strip()]

    # --- reading: a column per context ---------------------------------------------------------

    def test_runbook_runs_in_every_context_at_once_with_a_column_each(self):
        result = self.ttops("runbook", "venue", "rolled-out", "--context", "east,west")
        self.assertExit(result, 1)  # the worst of the two
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], "venue/rolled-out  Venue rolled out  (env: test)")
        self.assertRegex(result.stdout, r"\n  STEP\s+east\s+west\n")
        self.assertRegex(result.stdout, r"\n  deployment\s+PASS \S+\s+PASS \S+\n")
        self.assertRegex(result.stdout, r"\n  settle\s+PASS \S+\s+PASS \S+\n")
        self.assertRegex(result.stdout, r"\n  rolled-out\s+PASS \S+\s+FAIL \S+\n")
        self.assertRegex(result.stdout, r"\n\s+PASSED \S+\s+FAILED \S+\n")
        self.assertRegex(result.stdout, r"\n  west  rolled-out: .*progress deadline")
        self.assertNotRegex(result.stdout, r"\n  east  ")

        # Side by side: each cluster saw its run's requests while the other's were still coming
        # (each run spans its 2 s wait; one after the other, they could not overlap).
        east = [r["at"] for r in self.east.requests()]
        west = [r["at"] for r in self.west.requests()]
        self.assertTrue(east and west, "each context's kubectl reached its own cluster")
        self.assertLess(max(min(east), min(west)), min(max(east), max(west)), "the two runs did not overlap")
        self.assertEqual(processes_using(self.kubeconfig), [], "kubectl processes left behind")

    def test_one_context_prints_what_it_always_did(self):
        # The environment naming `east` and --context east give the same report, line for line.
        config = write_config(os.path.join(self.tmp, "east.yaml"), extra_values={"kube_context": "east"})
        by_environment = super().ttops("runbook", "venue", "rolled-out", library=self.lib, config=config,
                                       env={"KUBECONFIG": self.kubeconfig})
        by_flag = super().ttops("runbook", "venue", "rolled-out", "--context", "east", library=self.lib, config=config,
                                env={"KUBECONFIG": self.kubeconfig})
        self.assertExit(by_environment, 0)
        self.assertExit(by_flag, 0)
        self.assertEqual(scrub(by_flag.stdout), scrub(by_environment.stdout))
        self.assertIn("PASSED  3 passed in", by_flag.stdout)
        self.assertNotIn("STEP", by_flag.stdout)

    def test_check_has_a_column_per_context(self):
        result = self.ttops("check", "venue", "event", "--context", "east,west,gone")
        self.assertExit(result, 1)
        lines = result.stdout.splitlines()
        self.assertRegex(lines[0], r"^SERVICE\s+RUNBOOK\s+east\s+west\s+gone$")
        self.assertRegex(result.stdout, r"\nvenue\s+health\s+PASS 1/1 \S+\s+FAIL 0/1 \S+\s+FAIL 0/1 \S+\n")
        self.assertRegex(result.stdout, r"\nevent\s+health\s+PASS 1/1 \S+\s+PASS 1/1 \S+\s+FAIL 0/1 \S+\n")
        self.assertRegex(result.stdout, r"\nwest  venue/health  rollout: .*progress deadline")
        self.assertRegex(result.stdout, r"\ngone  event/health  rollout: ")
        self.assertNotRegex(result.stdout, r"\neast  ")

    def test_json_is_keyed_per_context_and_follows_the_schema(self):
        result = self.ttops("-o", "json", "check", "venue", "--context", "east,west")
        self.assertExit(result, 1)
        document = result.json()
        self.validate(document)
        self.assertEqual(document["schema_version"], 2)
        self.assertEqual(document["status"], "failed")
        self.assertEqual(list(document["contexts"]), ["east", "west"])
        self.assertEqual(document["contexts"]["east"]["status"], "passed")
        self.assertEqual(document["contexts"]["west"]["status"], "failed")
        self.assertEqual(document["contexts"]["west"]["summary"]["failed"], 1)
        runs = {run["context"]: run for run in document["runs"]}
        self.assertEqual(set(runs), {"east", "west"})
        self.assertEqual(document["contexts"]["west"]["run_ids"], [runs["west"]["run_id"]])
        self.assertNotEqual(runs["east"]["run_id"], runs["west"]["run_id"])
        self.assertIn("--context west", runs["west"]["steps"][0]["command"])

        # Without --context: no contexts, and each run says so.
        single = self.ttops("-o", "json", "runbook", "venue", "health", env={"KUBECONFIG": self.east.kubeconfig})
        self.assertExit(single, 0)
        self.validate(single.json())
        self.assertEqual(single.json()["contexts"], {})
        self.assertEqual(single.json()["runs"][0]["context"], "")

    def test_junit_has_a_suite_per_runbook_and_context(self):
        junit = os.path.join(self.tmp, "contexts.xml")
        result = self.ttops("check", "venue", "event", "--context", "east,west", "--junit", junit)
        self.assertExit(result, 1)
        root = ElementTree.parse(junit).getroot()
        suites = {s.get("name"): s for s in root.findall("testsuite")}
        self.assertEqual(set(suites), {"venue/health@east", "venue/health@west", "event/health@east", "event/health@west"})
        self.assertEqual(suites["venue/health@west"].get("failures"), "1")
        self.assertEqual(suites["venue/health@east"].get("failures"), "0")
        properties = {p.get("name"): p.get("value") for p in suites["venue/health@west"].find("properties")}
        self.assertEqual(properties["context"], "west")
        self.assertEqual(suites["venue/health@west"].find("testcase").get("classname"), "venue.health@west")

    def test_markdown_has_a_column_per_context(self):
        result = self.ttops("-o", "markdown", "check", "venue", "--context", "east,west")
        self.assertExit(result, 1)
        self.assertIn("| Service | Runbook | east | west |", result.stdout)
        self.assertRegex(result.stdout, r"\| venue \| health \| ✅ passed \S+ \| ❌ failed \S+ \|")
        self.assertIn("#### ❌ `venue/health` failed in `west`", result.stdout)

    def test_plan_previews_each_context(self):
        result = self.ttops("plan", "venue", "undo", "--context", "east,west")
        self.assertExit(result, 0)
        self.assertIn("Plan for venue/undo — Roll venue back (env: test, context: east)", result.stdout)
        self.assertIn("Plan for venue/undo — Roll venue back (env: test, context: west)", result.stdout)
        self.assertIn("$ kubectl --context west --namespace tickettoken rollout undo deployment/venue-service",
                      result.stdout)
        for fixture in (self.east, self.west):  # a server-side dry run in each cluster, nothing changed
            self.assertTrue(fixture.mutations(), "the plan previewed the undo in each cluster")
            self.assertTrue(all(m["dry_run"] for m in fixture.mutations()))
        document = self.ttops("-o", "json", "plan", "venue", "undo", "--context", "east,west").json()
        self.assertEqual(list(document["contexts"]), ["east", "west"])
        self.assertEqual(document["contexts"]["west"]["context"], "west")

    def test_commands_that_work_on_one_context_refuse_a_list(self):
        result = self.ttops("show", "venue", "health", "--context", "east,west")
        self.assertExit(result, 2)
        self.assertIn("--context names several contexts; 'show' works on one", result.stderr)
        self.assertIn("runbook", result.stderr)

    # --- changing things: the same safety rules, per cluster -----------------------------------

    def test_a_change_in_several_contexts_needs_yes_and_dry_run_changes_nothing(self):
        refused = self.ttops("runbook", "venue", "undo", "--context", "east,west")
        self.assertExit(refused, 3)
        self.assertIn("venue/undo:undo", refused.stderr)
        self.assertIn("Rerun with --yes", refused.stderr)
        dry = self.ttops("runbook", "venue", "undo", "--context", "east,west", "--dry-run")
        self.assertExit(dry, 1)  # west's rollout failed before, and the dry run did not undo it
        self.assertRegex(dry.stdout, r"\n  undo\s+DRY\s+DRY\n")
        for fixture in (self.east, self.west):
            self.assertEqual([m for m in fixture.mutations() if not m["dry_run"]], [])
        self.assertEqual(self.audit_records(), [])

    def test_yes_changes_each_cluster_and_audits_each_context(self):
        east_revision, west_revision = self.east.revision("venue-service"), self.west.revision("venue-service")
        result = self.ttops("runbook", "venue", "undo", "--context", "east,west", "--yes")
        self.assertExit(result, 0)
        self.assertEqual(len(self.undo_mutations(self.east)), 1)
        self.assertEqual(len(self.undo_mutations(self.west)), 1)
        self.assertNotEqual(self.east.revision("venue-service"), east_revision)
        self.assertNotEqual(self.west.revision("venue-service"), west_revision)
        records = self.audit_records()
        for context in ("east", "west"):
            mine = [r for r in records if r.get("context") == context]
            self.assertEqual([r["phase"] for r in mine], ["intent", "outcome"], records)
            self.assertIn(f"--context {context} ", mine[0]["command"])
        self.assertNotEqual(*{r["run_id"] for r in records})
        verify = super().ttops("--audit-log", self.audit, "audit", "verify")
        self.assertExit(verify, 0)
        # The table has a CONTEXT column naming the cluster of each record.
        table = super().ttops("--audit-log", self.audit, "audit")
        self.assertExit(table, 0)
        lines = table.stdout.splitlines()
        self.assertIn("CONTEXT", lines[0])
        column = lines[0].index("CONTEXT")
        self.assertEqual(sorted(line[column:column + 12].strip() for line in lines[1:]),
                         ["east", "east", "west", "west"], table.stdout)

    def test_a_change_that_does_not_follow_the_context_is_refused(self):
        result = self.ttops("runbook", "venue", "undo-and-announce", "--context", "east,west", "--yes")
        self.assertExit(result, 3)
        self.assertIn("refusing to run on 2 contexts: venue/undo-and-announce:announce (http)", result.stderr)
        for fixture in (self.east, self.west):
            self.assertEqual(fixture.mutations(), [])
        # One context at a time is fine (the rules of a single run apply).
        self.assertExit(self.ttops("runbook", "venue", "undo-and-announce", "--context", "east", "--dry-run"), 0)

    def test_an_operator_answers_for_each_cluster_in_turn(self):
        env = dict(os.environ, NO_COLOR="1", TTOPS_STATE_DIR=STATE_DIR, KUBECONFIG=self.kubeconfig)
        term = Terminal(["--config", self.config, "--runbooks", self.lib, "--audit-log", self.audit,
                         "runbook", "venue", "undo", "--context", "east,west"], env)
        self.addCleanup(term.kill)
        term.expect("--context east")
        term.expect("[y/N]")
        term.type("y")
        term.expect("--context west")
        term.type("n")
        code, stdout = term.finish()
        self.assertEqual(code, 3, stdout)  # declined in west
        self.assertLess(stdout.index("context east:"), stdout.index("context west:"))
        self.assertRegex(stdout, r"\n  undo\s+PASS \S+\s+NO\n")
        self.assertEqual(len(self.undo_mutations(self.east)), 1)
        self.assertEqual(self.undo_mutations(self.west), [])

    def test_resume_continues_in_the_context_the_run_started_in(self):
        self.west.rollout("venue-service", "fail", delay=0, sticky=True)  # west's rollback fails too
        result = self.ttops("-o", "json", "runbook", "venue", "undo", "--context", "east,west", "--yes")
        self.assertExit(result, 1)
        document = result.json()
        west_run = document["contexts"]["west"]["run_ids"][0]
        self.assertEqual(document["contexts"]["east"]["status"], "passed")
        self.west.control("POST", "rollout", dict(namespace="tickettoken", deployment="venue-service",
                                                  mode="complete", delay=0, sticky=True, trigger=True))
        self.east.clear()
        self.west.clear()
        resumed = self.ttops("resume", west_run, "--yes")
        self.assertExit(resumed, 0)
        self.assertIn("continuing at step 'rolled-out'", resumed.stdout)
        self.assertEqual(self.east.requests(), [], "the resumed run went to another cluster")
        self.assertTrue(self.west.requests())


if __name__ == "__main__":
    unittest.main()
