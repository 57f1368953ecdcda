"""`ttops rollback` end to end: the real binary, the real kubectl against the Kubernetes API
fixture, the stand-in HTTP services, and a stand-in `npm` for the migration rollback.

Each branch of the decision tree (quick, monitor, emergency), the verification, the variant
with database changes (including failures part-way that report the state left and what to do
next), and the rules that make it safe from scripts (exit 3 before anything runs without --yes,
a declined prompt changes nothing, --dry-run changes nothing)."""
import os
import pty
import select
import subprocess
import threading
import time
import unittest

from harness import RUNBOOKS, SERVICES, TTOPS, http
from kube import KubeTestCase

ADMIN_TOKEN = "sandbox-admin-token"  # the sandbox's default admin token

FAKE_NPM = """#!/bin/sh
# Stands in for the release checkout's `npm run migrate:*` (knex): records the call, prints
# knex's words, fails when FAKE_NPM_FAIL names the script.
echo "$PWD $*" >> "$FAKE_NPM_LOG"
if [ "$2" = "$FAKE_NPM_FAIL" ]; then
  echo "Using environment: production"
  echo "Error: The migration directory is corrupt, the following files are missing: 20261101_add_mint_batches.js" >&2
  exit 1
fi
case "$2" in
  migrate:rollback) echo "Using environment: production"; echo "Batch 15 rolled back: 1 migrations" ;;
  migrate:status) echo "Using environment: production"; echo "No Pending Migration files Found." ;;
esac
"""

FAST = ["--set", "window=300ms"]  # the error rate is measured over 300 ms instead of a minute


class RollbackTest(KubeTestCase):
    uses_sandbox = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bin = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bin)
        with open(os.path.join(cls.bin, "npm"), "w") as f:
            f.write(FAKE_NPM)
        os.chmod(os.path.join(cls.bin, "npm"), 0o755)
        cls.app_dir = os.path.join(cls.tmp, "minting-release")
        os.makedirs(cls.app_dir)

    def setUp(self):
        super().setUp()
        self.npm_log = os.path.join(self.tmp, f"npm-{self.id().rsplit('.', 1)[-1]}.log")
        self.sandbox.set("minting", drain_seconds=0.3)

    def rollback(self, *args, env=None):
        full_env = {"PATH": self.bin + os.pathsep + os.environ["PATH"], "FAKE_NPM_LOG": self.npm_log,
                    "ADMIN_TOKEN": ADMIN_TOKEN}
        full_env.update(env or {})
        return self.ttops("-o", "json", "--runbooks", RUNBOOKS, "rollback", *args, env=full_env)

    def npm_calls(self):
        if not os.path.exists(self.npm_log):
            return []
        with open(self.npm_log) as f:
            return [line.split(" ", 1) for line in f.read().splitlines()]

    def undo_mutations(self, deployment="minting-service"):
        return [m for m in self.real_mutations()
                if m["kubectl_command"] == "kubectl rollout undo" and m["name"] == deployment]

    def flat_steps(self, run):
        out = {}

        def walk(steps):
            for step in steps:
                out.setdefault(step["id"], step)
                walk(step["steps"])
        walk(run["steps"])
        return out

    def occurrences(self, run, step_id):
        """Every result of a step that ran more than once (a loop), in order."""
        out = []

        def walk(steps):
            for step in steps:
                if step["id"] == step_id:
                    out.append(step)
                walk(step["steps"])
        walk(run["steps"])
        return out

    def heal_after_undo(self, service="minting"):
        """A rollback that works: the service answers healthy once the undo reaches the cluster."""
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                if any(m["kubectl_command"] == "kubectl rollout undo" for m in self.kube.mutations()):
                    self.sandbox.set(service, healthy=True)
                    return
                stop.wait(0.05)
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        self.addCleanup(lambda: (stop.set(), thread.join(2)))

    # --- the decision tree -------------------------------------------------------------------

    def test_healthy_with_a_high_error_rate_takes_the_quick_rollback(self):
        self.sandbox.set("minting", error_rate=0.2, rps=200)
        result = self.rollback("minting", "--yes", *FAST)
        self.assertExit(result, 0)
        run = result.json()["runs"][0]
        steps = self.flat_steps(run)
        self.assertEqual(steps["error-rate"]["decision"], "quick-rollback")
        self.assertAlmostEqual(steps["errors-after"]["captures"]["error_rate"], 0.2, delta=0.05)
        self.assertNotIn("monitor", steps)
        self.assertNotIn("scale-up", steps)
        self.assertEqual(len(self.undo_mutations()), 1)
        # Verified: rolled out, healthy, and the previous image runs.
        self.assertEqual(steps["rollout"]["status"], "passed")
        self.assertEqual(steps["healthy"]["status"], "passed")
        self.assertEqual(self.kube.image("minting-service"), "registry.example.com/minting-service:v1.2.0")
        self.assertEqual(run["state"], {"deployment": "rolled back and healthy: revision 4 "
                                                      "(registry.example.com/minting-service:v1.2.0), was revision 3 "
                                                      "(registry.example.com/minting-service:v1.3.0)"})
        self.assertEqual(run["next_steps"], [])

    def test_healthy_with_a_low_error_rate_is_monitored_not_rolled_back(self):
        self.sandbox.set("minting", error_rate=0.01, rps=200)
        result = self.rollback("minting", "--yes", *FAST, "--set", "monitor_for=1s", "--set", "monitor_interval=300ms")
        self.assertExit(result, 0)
        run = result.json()["runs"][0]
        steps = self.flat_steps(run)
        self.assertEqual(steps["error-rate"]["decision"], "monitor")
        self.assertEqual(steps["still-low"]["decision"], "end")
        self.assertGreaterEqual(steps["monitor-health"]["attempts"], 1)
        self.assertEqual(self.real_mutations(), [])
        self.assertRegex(run["state"]["deployment"], r"^not rolled back: healthy for 1s, error rate \d+\.\d% while monitored$")

    def test_a_release_that_fails_while_monitored_is_rolled_back(self):
        self.sandbox.set("minting", error_rate=0.01, rps=200)
        breaks = threading.Timer(1.0, lambda: self.sandbox.set("minting", healthy=False))
        breaks.start()
        self.addCleanup(breaks.cancel)
        self.heal_after_undo()
        result = self.rollback("minting", "--yes", *FAST, "--set", "monitor_for=30s", "--set", "monitor_interval=200ms")
        self.assertExit(result, 0)
        run = result.json()["runs"][0]
        checks = [s["status"] for s in self.occurrences(run, "monitor-health")]
        self.assertEqual(checks[-1], "failed")
        self.assertTrue(all(status == "passed" for status in checks[:-1]))
        self.assertEqual(self.flat_steps(run)["quick-rollback"]["status"], "passed")
        self.assertEqual(len(self.undo_mutations()), 1)

    def test_not_responding_takes_the_emergency_rollback(self):
        self.sandbox.set("minting", healthy=False)
        self.heal_after_undo()
        result = self.rollback("minting", "--yes", *FAST)
        self.assertExit(result, 0)
        run = result.json()["runs"][0]
        steps = self.flat_steps(run)
        self.assertEqual(steps["responding"]["decision"], "emergency-rollback")
        self.assertNotIn("errors-before", steps)
        changes = [(m["kubectl_command"], m["subresource"]) for m in self.real_mutations()]
        self.assertEqual(changes, [("kubectl rollout undo", None), ("kubectl scale", "scale")])
        self.assertEqual(self.kube.deployment("minting-service")["spec"]["replicas"], 5)
        self.assertGreater(steps["cause"]["data"]["count"], 0)  # the last log lines, for the cause
        self.assertEqual(steps["notify"]["notes"], ["acknowledged by --yes (no operator asked)"])
        self.assertEqual(run["state"]["replicas"], "scaled from 3 to 5: scale back down when the incident is over")

    def test_mode_and_revision_from_the_command_line(self):
        result = self.rollback("minting", "--yes", "--mode", "quick", "--to-revision", "1")
        self.assertExit(result, 0)
        steps = self.flat_steps(result.json()["runs"][0])
        self.assertNotIn("health", steps)  # no questions asked
        self.assertIn("--to-revision=1", steps["undo"]["command"])
        self.assertEqual(self.kube.image("minting-service"), "registry.example.com/minting-service:v1.1.0")

    def test_every_service_rolls_back_its_own_deployment(self):
        for service in SERVICES:
            with self.subTest(service=service):
                self.kube.reset()
                result = self.rollback(service, "--yes", "--mode", "quick")
                self.assertExit(result, 0)
                self.assertEqual(len(self.undo_mutations(f"{service}-service")), 1)
                self.assertEqual(self.kube.image(f"{service}-service"),
                                 f"registry.example.com/{service}-service:v1.2.0")

    def test_a_rollback_that_does_not_roll_out_says_so_and_what_to_do(self):
        self.kube.rollout("minting-service", "hang")
        started = time.monotonic()
        result = self.rollback("minting", "--yes", "--mode", "quick", "--set", "rollout_timeout=1s")
        self.assertExit(result, 1)
        self.assertLess(time.monotonic() - started, 8)
        run = result.json()["runs"][0]
        steps = self.flat_steps(run)
        self.assertEqual(steps["rollout"]["reason"], "kubectl failed: timed out waiting for the condition (exit_code = 1)")
        self.assertNotIn("healthy", steps)
        self.assertEqual(run["state"], {"deployment": "rolled back from revision 3 "
                                                      "(registry.example.com/minting-service:v1.3.0); not yet rolled out"})
        self.assertEqual(len(run["next_steps"]), 1)
        self.assertTrue(run["next_steps"][0].startswith("The rollback is applied but has not rolled out "
                                                        "(timed out waiting for the condition)."), run["next_steps"])
        self.assertNoKubectlLeft()

    # --- with database changes -----------------------------------------------------------------

    def test_with_db_pauses_drains_undoes_rolls_back_the_migration_and_resumes(self):
        result = self.rollback("minting", "--with-db", "--yes", "--set", f"app_dir={self.app_dir}")
        self.assertExit(result, 0)
        run = result.json()["runs"][0]
        self.assertEqual([s["id"] for s in run["steps"]],
                         ["pause", "drain", "undo", "rollout", "migrate-rollback", "migrate-status", "resume", "healthy",
                          "queue-running"])
        calls = [(r["method"], r["path"]) for r in self.sandbox.requests("minting") if r["path"].startswith("/admin")]
        self.assertEqual(calls[0], ("POST", "/admin/queue/pause"))
        self.assertEqual(calls[-2:], [("POST", "/admin/queue/resume"), ("GET", "/admin/queue/stats")])
        self.assertTrue(all(r["auth"] == "admin-token" for r in self.sandbox.requests("minting")
                            if r["path"].startswith("/admin")))
        self.assertEqual(self.npm_calls(), [[os.path.realpath(self.app_dir), "run migrate:rollback"],
                                            [os.path.realpath(self.app_dir), "run migrate:status"]])
        self.assertEqual(len(self.undo_mutations()), 1)
        self.assertEqual(run["state"], {"queue": "running", "deployment": "rolled back and rolled out",
                                        "migrations": "Batch 15 rolled back: 1 migrations"})
        self.assertNotIn(ADMIN_TOKEN, result.stdout)

    def test_with_db_stops_when_the_undo_fails_and_says_the_queue_is_paused(self):
        result = self.rollback("minting", "--with-db", "--yes", "--to-revision", "99")
        self.assertExit(result, 1)
        run = result.json()["runs"][0]
        self.assertEqual(run["reason"], "stopped at step 'undo'")
        self.assertEqual(run["state"], {"queue": "PAUSED: no new mint job starts",
                                        "deployment": "not rolled back (still the release being rolled back)",
                                        "migrations": "not rolled back"})
        self.assertEqual(len(run["next_steps"]), 1)
        self.assertIn("The queue is PAUSED; the deployment was NOT rolled back (unable to find specified revision 99 "
                      "in history)", run["next_steps"][0])
        self.assertIn(f"curl -X POST {self.sandbox.url('minting')}/admin/queue/resume", run["next_steps"][0])
        # The world agrees with the report.
        self.assertTrue(http("GET", self.sandbox.url("minting") + "/_sandbox/state")["queue"]["paused"])
        self.assertEqual(self.real_mutations(), [])
        self.assertEqual(self.npm_calls(), [])

    def test_with_db_stops_when_the_migration_rollback_fails(self):
        result = self.rollback("minting", "--with-db", "--yes", "--set", f"app_dir={self.app_dir}",
                               env={"FAKE_NPM_FAIL": "migrate:rollback"})
        self.assertExit(result, 1)
        run = result.json()["runs"][0]
        self.assertEqual(run["state"]["queue"], "PAUSED: no new mint job starts")
        self.assertEqual(run["state"]["deployment"], "rolled back and rolled out")
        self.assertEqual(run["state"]["migrations"], "not rolled back")
        self.assertIn("the migration rollback FAILED (Error: The migration directory is corrupt", run["next_steps"][0])
        self.assertEqual(len(self.undo_mutations()), 1)

    def test_with_db_text_report_shows_the_state_and_the_next_step(self):
        result = self.ttops("--runbooks", RUNBOOKS, "rollback", "minting", "--with-db", "--yes", "--to-revision", "99",
                            env={"ADMIN_TOKEN": ADMIN_TOKEN})
        self.assertExit(result, 1)
        self.assertIn("\nState left\n  queue       PAUSED: no new mint job starts\n", result.stdout)
        self.assertIn("\nNext\n  - The queue is PAUSED; the deployment was NOT rolled back", result.stdout)

    # --- safe from scripts -------------------------------------------------------------------------

    def test_without_a_terminal_and_without_yes_nothing_runs(self):
        for args in (["minting"], ["minting", "--with-db"]):
            with self.subTest(args=args):
                self.kube.clear()
                self.sandbox.reset()
                result = self.rollback(*args)
                self.assertExit(result, 3)
                self.assertIn("stdin is not a terminal", result.stderr)
                self.assertIn("undo (mutate)", result.stderr)
                self.assertEqual(self.kube.requests(), [])
                self.assertEqual(self.sandbox.requests("minting"), [])
                self.assertEqual(result.stdout, "")

    def test_dry_run_changes_nothing(self):
        result = self.rollback("minting", "--dry-run", "--mode", "emergency")  # undo and scale
        self.assertExit(result, 0)
        # Only kubectl's server-side dry runs (previews) reached the cluster; nothing changed.
        self.assertEqual([m for m in self.kube.mutations() if not m["dry_run"]], [])
        run = result.json()["runs"][0]
        steps = self.flat_steps(run)
        self.assertTrue(steps["undo"]["dry_run"])
        self.assertTrue(steps["scale-up"]["dry_run"])
        self.assertEqual(run["state"], {})  # nothing was rolled back, whatever the reads saw

        self.sandbox.set("minting", healthy=True)
        result = self.rollback("minting", "--with-db", "--dry-run", "--set", f"app_dir={self.app_dir}")
        self.assertEqual([m for m in self.kube.mutations() if not m["dry_run"]], [])
        self.assertExit(result, 0)
        self.assertEqual([r for r in self.sandbox.requests("minting") if r["method"] == "POST"], [])
        self.assertEqual(self.npm_calls(), [])  # the migration rollback was not run, so nor its check
        steps = self.flat_steps(result.json()["runs"][0])
        self.assertEqual(steps["drain"]["status"], "skipped")  # nothing was paused

    def test_declining_at_the_prompt_changes_nothing(self):
        master, slave = pty.openpty()
        env = dict(os.environ, NO_COLOR="1", **self.kube.env())
        process = subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", RUNBOOKS, "rollback", "minting",
                                    "--mode", "quick"],
                                   stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        terminal = b""
        try:
            deadline = time.monotonic() + 20
            answered = False
            while process.poll() is None and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if not ready:
                    continue
                try:
                    terminal += os.read(master, 4096)
                except OSError:
                    break
                if not answered and b"[y/N]" in terminal:
                    os.write(master, b"n\n")
                    answered = True
            stdout = process.communicate(timeout=10)[0].decode()
        finally:
            os.close(master)
            if process.poll() is None:
                process.kill()
                process.wait()
        self.assertTrue(answered, terminal.decode(errors="replace"))
        self.assertIn(b"Roll this deployment back?", terminal)
        self.assertIn(b"rollout undo deployment/minting-service --to-revision=0", terminal)
        self.assertEqual(process.returncode, 3, stdout)
        self.assertIn("declined by the operator", stdout)
        self.assertIn("The deployment was NOT rolled back; it still runs revision 3", stdout)
        self.assertEqual(self.kube.mutations(), [])
        self.assertTrue(self.kube.requests(), "the reads before the prompt ran")

    def test_usage_errors(self):
        result = self.rollback("event", "--with-db", "--yes")
        self.assertExit(result, 2)
        self.assertIn("service 'event' has no rollback-with-db runbook (event/rollback-with-db.yaml); "
                      "services with one: minting", result.stderr)
        result = self.rollback("minitng", "--yes")
        self.assertExit(result, 2)
        self.assertIn("unknown service 'minitng' (did you mean 'minting'?)", result.stderr)
        result = self.rollback("minting", "--with-db", "--mode", "quick", "--yes")
        self.assertExit(result, 2)
        result = self.rollback("minting", "--to-revision", "2", "--set", "to_revision=3", "--yes")
        self.assertExit(result, 2)
        self.assertIn("--set to_revision repeats a value a flag of this command already sets", result.stderr)
        result = self.rollback("minting", "--to-revision", "0", "--yes")
        self.assertExit(result, 2)
        self.assertEqual(self.kube.requests(), [])


if __name__ == "__main__":
    unittest.main()
