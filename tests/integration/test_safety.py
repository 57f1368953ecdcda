"""Making mutations deliberate and traceable: refusal without confirmation, the policy, the
per-service lock, the audit trail (also under SIGKILL), resume, and secrets in every output."""
import base64
import json
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

from harness import TTOPS, STATE_DIR, TtopsTestCase, run_ttops, write_config

PAUSE = """title: Pause and resume the minting queue
params:
  hold: {default: 0s, type: duration}
steps:
  - id: stats
    http: "{{ target.url }}/health"
  - id: pause
    title: Pause minting
    http: {url: "{{ target.url }}/admin/queue/pause", method: POST, headers: {Authorization: "Bearer sandbox-admin-token"}}
    confirm: Pause all minting operations?
  - id: hold
    wait: "{{ params.hold }}"
  - id: resume
    title: Resume minting
    http: {url: "{{ target.url }}/admin/queue/resume", method: POST, headers: {Authorization: "Bearer sandbox-admin-token"}}
    confirm: Resume minting?
"""

DESTRUCTIVE = """title: Clear the IPFS cache
steps:
  - id: clear
    http: {url: "{{ target.url }}/admin/cache/clear?prefix=ipfs", method: POST,
           headers: {Authorization: "Bearer sandbox-admin-token"}}
    effect: destructive
    confirm: Clear the IPFS cache?
"""


class SafetyTest(TtopsTestCase):
    uses_sandbox = True

    def setUp(self):
        super().setUp()
        self.lib = self.library({"minting/pause.yaml": PAUSE, "minting/clear.yaml": DESTRUCTIVE})
        self.audit = os.path.join(self.tmp, f"audit-{self._testMethodName}.jsonl")

    def mutations(self):
        return [r for r in self.sandbox.requests("minting") if r["method"] != "GET"]

    def run_pause(self, *args, config=None, env=None):
        return self.ttops("--audit-log", self.audit, "runbook", "minting", "pause", *args, library=self.lib,
                          config=config, env=env)

    def test_without_a_terminal_or_yes_nothing_runs(self):
        result = self.run_pause()
        self.assertExit(result, 3)
        self.assertIn("pause (mutate)", result.stderr)
        self.assertEqual(self.mutations(), [])
        self.assertEqual(self.sandbox.requests("minting"), [])  # not even the read before it
        self.assertFalse(os.path.exists(self.audit))

    def test_yes_runs_and_audits_intent_and_outcome(self):
        result = self.run_pause("--yes")
        self.assertExit(result, 0)
        self.assertEqual([m["path"] for m in self.mutations()], ["/admin/queue/pause", "/admin/queue/resume"])
        with open(self.audit) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual([(r["step"], r["phase"]) for r in records],
                         [("pause", "intent"), ("pause", "outcome"), ("resume", "intent"), ("resume", "outcome")])
        for record in records:
            for key in ("time", "user", "host", "environment", "service", "runbook", "step", "command", "prev", "hash"):
                self.assertIn(key, record)
            self.assertEqual(record["service"], "minting")
        self.assertEqual(records[1]["status"], "passed")
        self.assertIn("POST http://", records[0]["command"])
        verify = self.ttops("--audit-log", self.audit, "audit", "verify")
        self.assertExit(verify, 0)
        self.assertIn("ok: 4 records", verify.stdout)
        table = self.ttops("--audit-log", self.audit, "audit", "--service", "minting", "--since", "1h")
        self.assertExit(table, 0)
        self.assertEqual(len(table.stdout.strip().splitlines()), 5)

    def test_audit_verify_catches_an_edited_and_a_removed_line(self):
        self.assertExit(self.run_pause("--yes"), 0)
        with open(self.audit) as f:
            lines = f.readlines()
        edited = lines[:]
        edited[1] = edited[1].replace('"passed"', '"failed"')
        with open(self.audit, "w") as f:
            f.writelines(edited)
        result = self.ttops("--audit-log", self.audit, "audit", "verify")
        self.assertExit(result, 1)
        self.assertIn(":2: record was edited", result.stdout)
        with open(self.audit, "w") as f:
            f.writelines(lines[:1] + lines[2:])
        result = self.ttops("--audit-log", self.audit, "audit", "verify")
        self.assertExit(result, 1)
        self.assertIn(":2: chain broken", result.stdout)

    def test_dry_run_changes_nothing_and_says_what_would_run(self):
        result = self.run_pause("--dry-run")
        self.assertExit(result, 0)
        self.assertEqual(self.mutations(), [])
        self.assertIn("DRY   pause", result.stdout)
        self.assertIn("would run POST http://", result.stdout)
        self.assertFalse(os.path.exists(self.audit))

    def test_policy_allow_confirm_deny(self):
        def config_with(policy):
            path = os.path.join(self.tmp, f"policy-{self._testMethodName}.yaml")
            write_config(path, self.sandbox)
            with open(path, "a") as f:
                f.write("policy:\n" + policy)
            return path

        denied = config_with("  - {environment: test, effect: mutate, decision: deny}\n")
        result = self.run_pause("--yes", config=denied)
        self.assertExit(result, 3)
        self.assertIn("denies", result.stderr)
        self.assertEqual(self.mutations(), [])

        allowed = config_with("  - {environment: test, effect: mutate, decision: allow}\n")
        result = self.run_pause(config=allowed)  # no --yes, no terminal: the policy allows it
        self.assertExit(result, 0)
        self.assertEqual(len(self.mutations()), 2)

        self.sandbox.reset()
        confirm = config_with("  - {environment: '*', effect: '*', decision: confirm}\n")
        self.assertExit(self.run_pause(config=confirm), 3)
        self.assertEqual(self.mutations(), [])

    def test_destructive_in_production_needs_the_service_name(self):
        args = ["--env", "prod", "--audit-log", self.audit, "runbook", "minting", "clear"]
        result = self.ttops(*args, "--yes", library=self.lib)
        self.assertExit(result, 3)
        self.assertIn("--confirm-destructive minting", result.stderr)
        self.assertEqual(self.mutations(), [])
        result = self.ttops(*args, "--yes", "--confirm-destructive", "ticket", library=self.lib)
        self.assertExit(result, 3)
        result = self.ttops(*args, "--yes", "--confirm-destructive", "minting", library=self.lib)
        self.assertExit(result, 0)
        self.assertEqual([m["path"] for m in self.mutations()], ["/admin/cache/clear"])
        # Outside production --yes is enough.
        self.sandbox.reset()
        self.assertExit(self.ttops("runbook", "minting", "clear", "--yes", library=self.lib), 0)

    def start_background(self, *args, state_dir=STATE_DIR):
        env = dict(os.environ, NO_COLOR="1", TTOPS_STATE_DIR=state_dir)
        return subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", self.lib, "--audit-log", self.audit, *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def wait_for_audit(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.audit):
                with open(self.audit) as f:
                    if len(f.readlines()) >= count:
                        return
            time.sleep(0.05)
        self.fail(f"the audit log never reached {count} records")

    def test_second_mutating_run_is_refused_and_a_killed_holder_releases_the_lock(self):
        holder = self.start_background("runbook", "minting", "pause", "--yes", "--set", "hold=30s")
        try:
            self.wait_for_audit(2)  # the first run holds the lock and is inside its wait
            second = self.run_pause("--yes")
            self.assertExit(second, 3)
            self.assertIn("another mutating run on minting in test is in progress", second.stderr)
            self.assertIn(f"pid {holder.pid}", second.stderr)
            # Read-only runs are not blocked.
            self.assertExit(self.ttops("runbook", "minting", "pause", "--dry-run", library=self.lib), 0)
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.communicate()
        third = self.run_pause("--yes")
        self.assertExit(third, 0)

    def test_sigkill_mid_run_loses_no_audit_record(self):
        # Kill while the resume request hangs: its intent must already be on disk.
        self.sandbox.set("minting", fault="hang", fault_paths=["/admin/queue/resume"])
        run = self.start_background("runbook", "minting", "pause", "--yes")
        try:
            self.wait_for_audit(3)
            time.sleep(0.2)
        finally:
            run.send_signal(signal.SIGKILL)
            run.communicate()
        with open(self.audit) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual([(r["step"], r["phase"]) for r in records],
                         [("pause", "intent"), ("pause", "outcome"), ("resume", "intent")])
        self.assertExit(self.ttops("--audit-log", self.audit, "audit", "verify"), 0)

    def test_sigterm_stops_at_once_and_reports(self):
        run = self.start_background("runbook", "minting", "pause", "--yes", "--set", "hold=30s")
        self.wait_for_audit(2)
        time.sleep(0.2)  # from the pause's outcome record into the wait (slow under a sanitizer)
        started = time.monotonic()
        run.send_signal(signal.SIGTERM)
        stdout, _ = run.communicate(timeout=5)
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(run.returncode, 143)
        self.assertIn("STOP  hold", stdout)
        self.assertIn("ttops resume", stdout)

    def test_resume_continues_from_the_failed_step(self):
        self.sandbox.set("minting", fault="http_500", fault_paths=["/admin/queue/resume"])
        first = self.run_pause("--yes", "-o", "json")
        self.assertExit(first, 1)
        run_id = first.json()["runs"][0]["run_id"]
        self.assertEqual([m["path"] for m in self.mutations()], ["/admin/queue/pause", "/admin/queue/resume"])
        self.sandbox.set("minting", fault=None)
        resumed = self.ttops("--audit-log", self.audit, "resume", run_id, "--yes", library=self.lib)
        self.assertExit(resumed, 0)
        self.assertIn("done  pause: passed", resumed.stdout)
        self.assertIn("continuing at step 'resume'", resumed.stdout)
        # pause ran once in all; resume twice (failed, then resumed).
        self.assertEqual([m["path"] for m in self.mutations()],
                         ["/admin/queue/pause", "/admin/queue/resume", "/admin/queue/resume"])
        again = self.ttops("resume", run_id, "--yes", library=self.lib)
        self.assertExit(again, 0)  # resuming the original again is harmless: it starts at the same step

    def test_resume_refuses_a_changed_runbook(self):
        self.sandbox.set("minting", fault="http_500", fault_paths=["/admin/queue/resume"])
        first = self.run_pause("--yes", "-o", "json")
        run_id = first.json()["runs"][0]["run_id"]
        with open(os.path.join(self.lib, "minting", "pause.yaml"), "a") as f:
            f.write("# changed\n")
        result = self.ttops("resume", run_id, "--yes", library=self.lib)
        self.assertExit(result, 2)
        self.assertIn("changed since run", result.stderr)

    def test_plan_shows_mutations_as_would_execute(self):
        result = self.ttops("plan", "minting", "pause", library=self.lib)
        self.assertExit(result, 0)
        self.assertIn("[MUTATE] pause", result.stdout)
        self.assertIn("would execute (no safe substitute", result.stdout)
        self.assertEqual(self.mutations(), [])
        self.assertEqual(self.sandbox.requests("minting"), [])  # a plan runs nothing, not even reads


class SecretsTest(TtopsTestCase):
    """A full run with a token, a secret parameter and a password in a URL: no output holds them."""
    uses_sandbox = True
    TOKEN = "tok-3f9a1c-VERY/secret+value"
    PASSWORD = "pg-p@ss w0rd"
    PARAM = "param-secret-42xyz"

    def test_no_secret_in_any_output(self):
        lib = self.library({"minting/secret.yaml": """title: Secrets everywhere
params:
  admin_token: {env: ADMIN_TOKEN, secret: true}
  api_key: {description: a secret passed on the command line, secret: true}
steps:
  - id: detailed
    http:
      url: "{{ target.url }}/health?token={{ params.admin_token }}&key={{ params.api_key }}&db={{ target.database_url }}"
      headers: {Authorization: "Bearer {{ params.admin_token }}", X-Key: "{{ params.api_key }}"}
    expect: [status == 999]
    capture: {seen: url}
    on_failure: continue
  - id: pause
    http: {url: "{{ target.url }}/admin/queue/pause", method: POST, headers: {Authorization: "Bearer {{ params.admin_token }}"},
           json: {note: "{{ params.api_key }}"}}
    confirm: Pause?
"""})
        config = os.path.join(self.tmp, "secret-config.yaml")
        write_config(config, self.sandbox, extra_values={
            "database_url": "postgresql://ttops:" + urllib.parse.quote(self.PASSWORD, safe="") + "@127.0.0.1:5999/db"})
        audit = os.path.join(self.tmp, "secret-audit.jsonl")
        junit = os.path.join(self.tmp, "secret-junit.xml")
        env = {"ADMIN_TOKEN": self.TOKEN}
        outputs = []
        for fmt in ("text", "json", "markdown", "junit"):
            result = self.ttops("-vv", "-o", fmt, "--audit-log", audit, "runbook", "minting", "secret", "--yes",
                                "--set", f"api_key={self.PARAM}", "--junit", junit, library=lib, config=config, env=env)
            self.assertIn(result.code, (0, 1), repr(result))
            outputs += [result.stdout, result.stderr]
        for path in [audit, junit] + [os.path.join(STATE_DIR, "runs", f) for f in os.listdir(os.path.join(STATE_DIR, "runs"))]:
            with open(path) as f:
                outputs.append(f.read())
        everything = "\n".join(outputs)
        self.assertIn("***", everything)
        for secret in (self.TOKEN, self.PASSWORD, self.PARAM):
            for form in (secret, urllib.parse.quote(secret, safe=""), base64.b64encode(secret.encode()).decode()):
                self.assertNotIn(form, everything, f"secret form {form!r} leaked")
        # The sandbox really received the token: masking is in the output, not in the request.
        sent = self.sandbox.requests("minting")
        self.assertTrue(any("token=" + urllib.parse.quote(self.TOKEN, safe="") in r["query"] or
                            self.TOKEN in r["query"] for r in sent), sent)

    def test_reveal_secrets_is_explicit_and_audited(self):
        lib = self.library({"minting/show.yaml": """title: Show a secret
params:
  admin_token: {env: ADMIN_TOKEN, secret: true}
steps:
  - id: detailed
    http: "{{ target.url }}/health?token={{ params.admin_token }}"
    capture: {url: url}
"""})
        audit = os.path.join(self.tmp, "reveal-audit.jsonl")
        env = {"ADMIN_TOKEN": self.TOKEN}
        hidden = self.ttops("-v", "--audit-log", audit, "runbook", "minting", "show", library=lib, env=env)
        self.assertNotIn(self.TOKEN, hidden.stdout)
        shown = self.ttops("-v", "--reveal-secrets", "--audit-log", audit, "runbook", "minting", "show", library=lib, env=env)
        self.assertExit(shown, 0)
        self.assertIn(self.TOKEN, shown.stdout)
        with open(audit) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual(records[-1]["phase"], "reveal-secrets")
        self.assertIn("--reveal-secrets", records[-1]["command"])


if __name__ == "__main__":
    unittest.main()
