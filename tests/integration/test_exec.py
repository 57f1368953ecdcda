"""The exec executor through the real binary: local programs with an argument list (no shell),
their output and exit code, filters, effect classes chosen by the runbook, timeouts and signals
that end the whole process group."""
import os
import signal
import subprocess
import time
import unittest

from harness import TTOPS, TtopsTestCase

ARGS = """title: arguments
steps:
  - id: echo
    exec: [printf, "%s|", "a b", "$HOME", "*", "'q'"]
    expect: [stdout == "a b|$HOME|*|'q'|"]
  - id: env-stdin-cwd
    exec:
      command: [sh, -c, 'cat; echo " $GREETING $(pwd)"']
      env: {GREETING: hello}
      stdin: "from stdin"
      cwd: "{{ params.dir }}"
    capture: {said: trim(stdout)}
  - id: filtered
    exec:
      command: [sh, -c, "printf 'INFO a\\nERROR b\\nerror c\\nINFO d\\n'"]
      grep: "(?i)error"
      tail: 1
    expect: [count == 2, 'lines == ["error c"]']
  - id: json
    exec: [echo, '{"active": 0, "paused": true}']
    expect: [json.active == 0, json.paused]
params:
  dir: {description: working directory}
"""

FAILS = """title: failures
steps:
  - id: refused
    exec: [sh, -c, "echo 'nc: connect to 127.0.0.1 port 9 (tcp) failed: Connection refused' >&2; exit 1"]
"""

SLOW = """title: slow
steps:
  - id: slow
    timeout: 500ms
    exec: [sh, -c, "sleep 30 & echo $! > {{ params.pidfile }}; sleep 30"]
params:
  pidfile: {description: where the background pid goes}
"""

MISSING = """title: missing
steps:
  - id: missing
    exec: [ttops-no-such-program, --version]
"""

MUTATES = """title: writes a file
steps:
  - id: backup
    exec: [touch, "{{ params.marker }}"]
    effect: mutate
    confirm: Write the backup file?
params:
  marker: {description: the file it writes}
"""

LONG = """title: long
steps:
  - id: long
    timeout: 60s
    exec: [sh, -c, "echo $$ > {{ params.pidfile }}; sleep 30"]
params:
  pidfile: {description: where the pid goes}
"""


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie counts as gone only if nothing could reap it
        return f.read().split()[2] == "Z"


class ExecTest(TtopsTestCase):
    def setUp(self):
        super().setUp()
        self.lib = self.library({"svc/args.yaml": ARGS, "svc/fails.yaml": FAILS, "svc/slow.yaml": SLOW,
                                 "svc/missing.yaml": MISSING, "svc/mutates.yaml": MUTATES, "svc/long.yaml": LONG})

    def test_arguments_environment_stdin_cwd_filters_and_json(self):
        result = self.ttops("-o", "json", "runbook", "svc", "args", "--set", f"dir={self.tmp}", library=self.lib)
        self.assertExit(result, 0)
        steps = {s["id"]: s for s in result.json()["runs"][0]["steps"]}
        self.assertEqual(steps["env-stdin-cwd"]["captures"]["said"], f"from stdin hello {os.path.realpath(self.tmp)}")
        self.assertEqual(steps["echo"]["command"], "printf '%s|' 'a b' '$HOME' '*' ''\\''q'\\'''")
        self.assertEqual(steps["filtered"]["data"]["lines"], ["error c"])
        self.assertEqual(steps["echo"]["effect"], "read")

    def test_a_failing_program_fails_the_step_in_its_own_words(self):
        result = self.ttops("-o", "json", "runbook", "svc", "fails", library=self.lib)
        self.assertExit(result, 1)
        step = result.json()["runs"][0]["steps"][0]
        self.assertEqual(step["reason"], "the command failed: nc: connect to 127.0.0.1 port 9 (tcp) failed: "
                                         "Connection refused (exit_code = 1)")
        self.assertEqual(step["data"]["exit_code"], 1)

    def test_a_missing_program_is_one_clear_line(self):
        result = self.ttops("runbook", "svc", "missing", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("ttops-no-such-program not found (looked for 'ttops-no-such-program' on PATH)", result.stdout)

    def test_a_timeout_ends_the_program_and_what_it_started(self):
        pidfile = os.path.join(self.tmp, "slow.pid")
        started = time.monotonic()
        result = self.ttops("runbook", "svc", "slow", "--set", f"pidfile={pidfile}", library=self.lib)
        self.assertExit(result, 1)
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertIn("sh did not finish within 500ms: it and the processes it started were ended", result.stdout)
        with open(pidfile) as f:
            self.assertTrue(gone(int(f.read())), "the background sleep survived")

    def test_a_mutating_step_needs_confirmation_and_dry_run_does_not_run_it(self):
        marker = os.path.join(self.tmp, "backup-marker")
        result = self.ttops("runbook", "svc", "mutates", "--set", f"marker={marker}", library=self.lib)
        self.assertExit(result, 3)
        self.assertIn("backup (mutate)", result.stderr)
        self.assertFalse(os.path.exists(marker))
        result = self.ttops("runbook", "svc", "mutates", "--dry-run", "--set", f"marker={marker}", library=self.lib)
        self.assertExit(result, 0)
        self.assertIn(f"dry run: would run touch {marker}", result.stdout)
        self.assertFalse(os.path.exists(marker))
        result = self.ttops("runbook", "svc", "mutates", "--yes", "--set", f"marker={marker}", library=self.lib)
        self.assertExit(result, 0)
        self.assertTrue(os.path.exists(marker))

    def test_ctrl_c_ends_the_run_and_the_program(self):
        pidfile = os.path.join(self.tmp, "long.pid")
        process = subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", self.lib, "runbook", "svc", "long",
                                    "--set", f"pidfile={pidfile}"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(os.environ, NO_COLOR="1"), text=True)
        try:
            deadline = time.monotonic() + 10
            while not (os.path.exists(pidfile) and os.path.getsize(pidfile) > 0):
                self.assertLess(time.monotonic(), deadline, "the program never started")
                time.sleep(0.05)
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            stdout, _ = process.communicate(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.assertEqual(process.returncode, 130)
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertIn("STOP  long", stdout)
        with open(pidfile) as f:
            self.assertTrue(gone(int(f.read())))


if __name__ == "__main__":
    unittest.main()
