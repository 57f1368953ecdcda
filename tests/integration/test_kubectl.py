"""The kubectl executor through the real binary and the real kubectl, against the Kubernetes API
fixture: every kubectl command of runbooks/, what the fixture records (no mutation under
--dry-run or when confirmation is refused), -o json results, and the failures that must be one
clear line: a timeout, a missing kubectl, a bad context, an unreachable API server."""
import json
import os
import re
import shlex
import signal
import subprocess
import time
import unittest

from harness import RUNBOOKS, SOURCE_DIR, TTOPS, run_ttops
from kube import KubeTestCase, processes_using

LIBRARY_RUNS = os.path.join(SOURCE_DIR, "tests", "cases", "library-runs")
LIBRARY_STEP = """  - id: {id}
    kubectl: {{args: {args}}}
    confirm: run it?
"""


def library_run_values():
    """{"service/runbook": ["--set", "name=value", ...]}: the values tests/cases/library-runs gives
    each runbook (its required parameters among them), so that `ttops show` can expand it."""
    values = {}
    for name in sorted(os.listdir(LIBRARY_RUNS)):
        with open(os.path.join(LIBRARY_RUNS, name)) as f:
            for ref, plan in json.load(f).items():
                values[ref] = [arg for value in plan.get("set", []) for arg in ("--set", value)]
    return values


def runbook_kubectl_commands(config):
    """{command line: "service/runbook"} for every kubectl step of runbooks/, procedures expanded,
    as `ttops show` renders them for the test environment: exactly what ttops would run."""
    listing = run_ttops("--runbooks", RUNBOOKS, "--config", config, "-o", "json", "list")
    assert listing.code == 0, repr(listing)
    values = library_run_values()
    commands = {}
    for runbook in listing.json():
        ref = f"{runbook['service']}/{runbook['name']}"
        shown = run_ttops("--runbooks", RUNBOOKS, "--config", config, "show", ref, *values.get(ref, []),
                          env={"ADMIN_TOKEN": "x", "PINATA_JWT": "x", "TOKEN": "x"})
        assert shown.code == 0, repr(shown)
        for line in shown.stdout.splitlines():
            line = line.strip()
            # A command built from what an earlier step captured is only known during the run.
            if line.startswith("$ kubectl ") and "{{" not in line:
                commands.setdefault(line[2:], ref)
    return commands


def signature(words):
    """'rollout undo', 'set env', 'create job', 'scale', 'logs': the verb and, for the verbs that
    have one, its sub-verb (as kubectl names the command it sends)."""
    return " ".join(words[:2]) if words[0] in ("rollout", "set", "create") else words[0]


class RunbookCommandsTest(KubeTestCase):
    """Every kubectl command the runbooks hold runs against the fixture, in one runbook."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.commands = runbook_kubectl_commands(cls.config)
        steps, cls.lines = [], []
        for index, line in enumerate(sorted(cls.commands)):
            words = shlex.split(line)
            # ttops adds the context and namespace itself, from the environment.
            assert words[:5] == ["kubectl", "--context", "ttops-fixture", "--namespace", "tickettoken"], line
            steps.append(LIBRARY_STEP.format(id=f"c{index}", args=json.dumps(words[5:])))
            cls.lines.append(line)
        cls.all_commands = cls.library_for_class({"svc/all.yaml": "title: every runbook kubectl command\nsteps:\n" +
                                                  "".join(steps)})

    @classmethod
    def library_for_class(cls, files):
        root = os.path.join(cls.tmp, "all-commands")
        for relative, text in files.items():
            path = os.path.join(root, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return root

    def test_the_runbooks_use_the_commands_of_the_seeds(self):
        found = {signature(shlex.split(line)[5:]) for line in self.commands}
        # The rollbacks of the seeds: history, undo, status, scale up, logs; get for revisions.
        self.assertLessEqual({"rollout history", "rollout undo", "rollout status", "scale", "logs", "get"}, found)
        services = {ref.split("/")[0] for ref in self.commands.values()}
        self.assertEqual(services, {"ticket", "event", "venue", "monitoring", "minting"})

    def test_every_command_runs_and_only_mutations_reach_the_fixture_as_changes(self):
        result = self.ttops("-o", "json", "runbook", "svc", "all", "--yes", library=self.all_commands)
        self.assertExit(result, 0)
        steps = result.json()["runs"][0]["steps"]
        self.assertEqual(len(steps), len(self.lines))
        expected_changes = []
        for step, line in zip(steps, self.lines):
            with self.subTest(command=line):
                self.assertEqual(step["status"], "passed", step["reason"])
                self.assertEqual(step["command"], line)  # what ran is what the runbooks say
                if step["effect"] != "read":
                    expected_changes.append(signature(shlex.split(line)[5:]))
        recorded = [m["kubectl_command"].removeprefix("kubectl ") for m in self.kube.mutations()]
        self.assertTrue(all(not m["dry_run"] for m in self.kube.mutations()))
        # One change per mutating command, none from the reads.
        self.assertEqual(sorted(recorded), sorted(expected_changes))
        self.assertNoKubectlLeft()

    def test_dry_run_sends_no_mutation_at_all(self):
        result = self.ttops("-o", "json", "runbook", "svc", "all", "--dry-run", library=self.all_commands)
        self.assertExit(result, 0)
        # Nothing changed: the only mutating requests are kubectl's own server-side dry runs,
        # which show what each mutation would do.
        recorded = self.kube.mutations()
        self.assertEqual([m for m in recorded if not m["dry_run"]], [])
        steps = result.json()["runs"][0]["steps"]
        mutating = [s for s in steps if s["effect"] != "read"]
        self.assertTrue(mutating)
        for step in mutating:
            self.assertTrue(step["dry_run"])
            self.assertEqual(step["reason"], "dry run: would run " + step["command"])
        previewed = [s for s in mutating if s["data"].get("previewed")]
        self.assertTrue(previewed, "mutations that support --dry-run=server were previewed")
        self.assertTrue(recorded and all(m["dry_run"] for m in recorded))
        self.assertTrue(self.kube.requests(), "the reads ran")

    def test_refused_without_a_terminal_before_anything_runs(self):
        result = self.ttops("runbook", "svc", "all", library=self.all_commands)
        self.assertExit(result, 3)
        self.assertIn("refusing to run: ", result.stderr)
        first_mutation = next(i for i, line in enumerate(self.lines)
                              if signature(shlex.split(line)[5:]) in ("scale", "rollout undo", "exec", "patch"))
        self.assertIn(f"svc/all:c{first_mutation} (mutate)", result.stderr)
        self.assertIn("stdin is not a terminal", result.stderr)
        self.assertEqual(self.kube.requests(), [])  # not even the reads
        self.assertEqual(result.stdout, "")


GET = """title: deployment
steps:
  - id: deployment
    kubectl: [get, "deployment/{{ target.deployment }}"]
    expect:
      - json.status.readyReplicas == 3
      - json.spec.template.spec.containers[0].image contains "v1.3.0"
    capture:
      revision: json.metadata.annotations["deployment.kubernetes.io/revision"]
  - id: pods
    kubectl: [get, pods, -l, "app={{ target.app_label }}"]
    expect:
      - len(json.items) == 3
      - pluck(pluck(json.items, "status"), "phase") == ["Running", "Running", "Running"]
  - id: history
    kubectl: {args: [rollout, history, "deployment/{{ target.deployment }}"], json: true}
    expect: [len(json) == 3]
  - id: errors
    kubectl:
      logs: {selector: "app={{ target.app_label }}", tail: 100}
      grep: "(?i)error"
      tail: 2
"""

STATUS = """title: rollout status
steps:
  - id: status
    timeout: 1s
    kubectl: [rollout, status, "deployment/{{ target.deployment }}"]
"""

PLAIN = """title: one read
steps:
  - id: pods
    kubectl: [get, pods]
"""


class KubectlExecutorTest(KubeTestCase):
    def setUp(self):
        super().setUp()
        self.lib = self.library({"minting/get.yaml": GET, "minting/status.yaml": STATUS, "minting/plain.yaml": PLAIN})

    def test_json_output_is_parsed_for_expect_and_capture(self):
        result = self.ttops("-o", "json", "runbook", "minting", "get", library=self.lib)
        self.assertExit(result, 0)
        steps = {s["id"]: s for s in result.json()["runs"][0]["steps"]}
        self.assertEqual(steps["deployment"]["captures"]["revision"], "3")
        self.assertEqual(steps["deployment"]["data"]["json"]["kind"], "Deployment")
        self.assertEqual(steps["deployment"]["data"]["exit_code"], 0)
        self.assertEqual(len(steps["history"]["data"]["json"]), 3)  # one ReplicaSet per revision
        errors = steps["errors"]["data"]
        self.assertEqual(len(errors["lines"]), 2)
        self.assertGreater(errors["count"], 2)
        self.assertTrue(all("error" in line.lower() for line in errors["lines"]))
        self.assertEqual(steps["errors"]["command"],
                         "kubectl --context ttops-fixture --namespace tickettoken logs -l app=minting-service --tail=100")
        self.assertEqual(self.kube.mutations(), [])

    def test_command_line_context_and_namespace_override_the_environment(self):
        self.kube.clear()
        result = self.ttops("-o", "json", "-n", "production", "--context", "ttops-fixture-prod", "runbook", "minting",
                            "plain", library=self.lib)
        self.assertExit(result, 0)
        self.assertEqual(result.json()["runs"][0]["steps"][0]["command"],
                         "kubectl --context ttops-fixture-prod --namespace production get pods -o json")
        paths = [r["path"] for r in self.kube.requests()]
        self.assertIn("/api/v1/namespaces/production/pods", paths)
        self.assertNotIn("/api/v1/namespaces/tickettoken/pods", paths)

    def test_a_hanging_rollout_is_ended_at_the_timeout_with_its_processes(self):
        self.kube.rollout("minting-service", "hang", trigger=True)
        started = time.monotonic()
        result = self.ttops("runbook", "minting", "status", library=self.lib)
        self.assertExit(result, 1)
        self.assertLess(time.monotonic() - started, 4.0)
        self.assertIn("kubectl did not finish within 1s: it and the processes it started were ended", result.stdout)
        self.assertNoKubectlLeft()

    def test_a_failed_rollout_is_kubectls_own_words(self):
        self.kube.rollout("minting-service", "fail", trigger=True, delay=0.1)
        result = self.ttops("runbook", "minting", "status", library=self.lib)
        self.assertExit(result, 1)
        self.assertRegex(result.stdout, r"kubectl failed: deployment \"minting-service\" exceeded its progress deadline")

    def test_missing_kubectl_is_one_clear_line(self):
        result = self.ttops("--kubectl", "/nonexistent/kubectl", "runbook", "minting", "plain", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("kubectl not found (no executable file at '/nonexistent/kubectl'; set --kubectl)", result.stdout)
        result = self.ttops("runbook", "minting", "plain", library=self.lib, env={"PATH": "/nonexistent-bin"})
        self.assertExit(result, 1)
        self.assertIn("kubectl not found (looked for 'kubectl' on PATH; set --kubectl)", result.stdout)

    def test_a_bad_context_is_one_clear_line(self):
        result = self.ttops("--context", "no-such-context", "runbook", "minting", "plain", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn('kubectl failed: context "no-such-context" does not exist (exit_code = 1)', result.stdout)

    def test_an_unreachable_api_server_is_one_clear_line_not_a_hang(self):
        closed = os.path.join(self.tmp, "closed-kubeconfig")
        with open(self.kube.kubeconfig) as f, open(closed, "w") as out:
            out.write(re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:9", f.read()))
        started = time.monotonic()
        result = self.ttops("runbook", "minting", "plain", library=self.lib, env={"KUBECONFIG": closed})
        self.assertExit(result, 1)
        self.assertLess(time.monotonic() - started, 10)
        failure = [line.strip() for line in result.stdout.splitlines() if "kubectl failed" in line]
        self.assertEqual(failure, ["kubectl failed: The connection to the server 127.0.0.1:9 was refused - "
                                   "did you specify the right host or port? (exit_code = 1)"])

    def test_sigterm_stops_the_run_and_its_kubectl(self):
        self.kube.rollout("minting-service", "hang", trigger=True)
        lib = self.library({"minting/wait.yaml": STATUS.replace("timeout: 1s", "timeout: 60s")})
        env = dict(os.environ, NO_COLOR="1", **self.kube.env())
        process = subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", lib, "runbook", "minting", "wait"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                   text=True)
        try:
            deadline = time.monotonic() + 10
            # ttops and its kubectl both carry the KUBECONFIG: wait until kubectl is running.
            while len(processes_using(self.kube.kubeconfig)) < 2:
                self.assertLess(time.monotonic(), deadline, "kubectl never started")
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            stdout, _ = process.communicate(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.assertEqual(process.returncode, 143)
        self.assertIn("STOP  status", stdout)
        self.assertNoKubectlLeft()


if __name__ == "__main__":
    unittest.main()
