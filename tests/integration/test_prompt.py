"""Confirmation at a real terminal (a pseudo-terminal): yes, no, the typed service name for
destructive steps in production, and a prompt nobody answers."""
import os
import pty
import select
import signal
import subprocess
import time
import unittest

from harness import TTOPS, STATE_DIR, TtopsTestCase

RUNBOOK = """title: Pause the queue
params:
  scope: {default: all}
steps:
  - id: pause
    http: {url: "{{ target.url }}/admin/queue/pause", method: POST, headers: {Authorization: "Bearer sandbox-admin-token"}}
    confirm: Pause {{ params.scope }} minting operations?
  - id: clear
    http: {url: "{{ target.url }}/admin/cache/clear?prefix=ipfs", method: POST, headers: {Authorization: "Bearer sandbox-admin-token"}}
    effect: destructive
    confirm: Clear the IPFS cache?
  - id: status-page
    manual: Update the status page.
    confirm: Is the status page updated?
"""


class Terminal:
    """ttops with stdin and stderr on a pseudo-terminal, as an engineer runs it."""

    def __init__(self, args, env):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen([TTOPS, *args], stdin=slave, stdout=subprocess.PIPE, stderr=slave,
                                        env=env, start_new_session=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {text!r}; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:
                    break
        if text not in self.seen:
            raise AssertionError(f"never saw {text!r}; the terminal shows:\n{self.seen}")

    def type(self, line):
        os.write(self.master, (line + "\n").encode())

    def finish(self, timeout=15):
        try:
            stdout, _ = self.process.communicate(timeout=timeout)
        finally:
            os.close(self.master)
        return self.process.returncode, stdout.decode()

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class PromptTest(TtopsTestCase):
    uses_sandbox = True

    def setUp(self):
        super().setUp()
        self.lib = self.library({"minting/pause.yaml": RUNBOOK})
        self.env = dict(os.environ, NO_COLOR="1", TTOPS_STATE_DIR=STATE_DIR)

    def terminal(self, *args):
        term = Terminal(["--config", self.config, "--runbooks", self.lib, "--audit-log",
                         os.path.join(self.tmp, "audit.jsonl"), *args], self.env)
        self.addCleanup(term.kill)
        return term

    def mutations(self):
        return [r["path"] for r in self.sandbox.requests("minting") if r["method"] != "GET"]

    def test_yes_runs_and_no_declines(self):
        term = self.terminal("runbook", "minting", "pause", "--set", "scope=every")
        term.expect("Pause every minting operations? [y/N]")  # the question is a template too
        term.type("y")
        term.expect("Clear the IPFS cache? [y/N]")
        term.type("n")
        code, stdout = term.finish()
        self.assertEqual(code, 3, stdout)
        self.assertEqual(self.mutations(), ["/admin/queue/pause"])
        self.assertIn("NO    clear", stdout)
        self.assertIn("declined by the operator", stdout)

    def test_manual_step_waits_for_the_operator(self):
        term = self.terminal("runbook", "minting", "pause")
        term.expect("[y/N]")
        term.type("y")
        term.expect("[y/N]")
        term.type("yes")
        term.expect("Update the status page.")
        term.expect("Is the status page updated? [y/N]")
        term.type("y")
        code, stdout = term.finish()
        self.assertEqual(code, 0, stdout)
        self.assertIn("PASS  status-page", stdout)

    def test_destructive_in_production_needs_the_name_typed(self):
        term = self.terminal("--env", "prod", "runbook", "minting", "pause")
        term.expect("[y/N]")
        term.type("y")
        term.expect("Type 'minting' to confirm:")
        term.type("y")  # a plain yes is not enough
        code, stdout = term.finish()
        self.assertEqual(code, 3, stdout)
        self.assertEqual(self.mutations(), ["/admin/queue/pause"])

        self.sandbox.reset()
        term = self.terminal("--env", "prod", "runbook", "minting", "pause")
        term.expect("[y/N]")
        term.type("y")
        term.expect("Type 'minting' to confirm:")
        term.type("minting")
        term.expect("[y/N]")
        term.type("y")
        code, stdout = term.finish()
        self.assertEqual(code, 0, stdout)
        self.assertEqual(self.mutations(), ["/admin/queue/pause", "/admin/cache/clear"])

    def test_an_unanswered_prompt_aborts(self):
        term = self.terminal("runbook", "minting", "pause", "--prompt-timeout", "1s")
        term.expect("[y/N]")
        started = time.monotonic()
        code, stdout = term.finish()
        self.assertEqual(code, 3, stdout)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(self.mutations(), [])
        self.assertIn("no answer", stdout + term.seen)


if __name__ == "__main__":
    unittest.main()
