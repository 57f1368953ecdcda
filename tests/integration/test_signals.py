"""SIGINT and SIGTERM during every kind of step: an HTTP request to a server that does not answer
yet, a PostgreSQL pg_sleep, a Redis BLPOP, kubectl against an API server that never replies, a
local program (and the program it started), a wait, and a manual step waiting at a terminal.

For each, ttops runs in a session of its own; once the step is under way the test sends the
signal and asserts: exit 130 (SIGINT) or 143 (SIGTERM) within one second, no process of that
session left (nor any with the step's marker), the report complete on stdout (JSON that says the
step and the run were interrupted), and for runs that change things the audit log's outcome
record for the step, with status `interrupted`.

docs/reliability.md's signal table is what this test found (TTOPS_UPDATE_DOCS=1 rewrites it).
"""
import json
import os
import pty
import select
import signal
import subprocess
import time
import unittest

from harness import TtopsTestCase, write_config
from reliability import (CRASH_MARKERS, FaultServer, check_doc_section, processes_in_session, processes_with_marker,
                         start_ttops)
from servers import PostgresServer, RedisServer

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
KINDS = ["http", "postgres", "redis", "kubectl", "exec", "wait", "manual", "parallel"]
RESULTS = {}  # (kind, signal name) -> seconds to exit


def wait_until(condition, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        time.sleep(0.02)


class SignalTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PostgresServer().start()
        cls.redis = RedisServer().start()
        cls.config = write_config(os.path.join(cls.tmp, "ttops.yaml"))

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()
        cls.redis.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.audit = os.path.join(self.tmp, f"audit-{self._testMethodName}.jsonl")

    def fault_server(self, protocol, fault, **options):
        server = FaultServer(self.tmp, protocol, fault, **options).start()
        self.addCleanup(server.kill)
        return server

    # --- one run -------------------------------------------------------------------------------

    def interrupt(self, kind, step, started, mutates=False, env=None, marker=None, terminal=False, within=1.0):
        """For each signal: runs `step` (YAML of one step, id `slow`), waits until `started()`
        says it is under way, sends the signal, and checks what the module's docstring lists."""
        runbook = ("title: interrupted\nsteps:\n" + step +
                   "  - id: after\n    exec: [\"true\"]\n")
        lib = self.library({"venue/slow.yaml": runbook}, name=kind)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(kind=kind, signal=signum.name):
                if os.path.exists(self.audit):
                    os.unlink(self.audit)
                args = ["--config", self.config, "--runbooks", lib, "--audit-log", self.audit, "-o", "json",
                        "runbook", "venue", "slow", "--yes"]
                seconds, code, stdout, stderr, pid = self.run_and_signal(args, signum, started, env, terminal)
                RESULTS[(kind, signum.name)] = seconds
                context = f"{kind}, {signum.name}: exit {code} after {seconds:.2f}s\n{stdout}\n{stderr}"
                self.assertEqual(code, EXIT[signum], context)
                self.assertLessEqual(seconds, within, context)
                for crash in CRASH_MARKERS:
                    self.assertNotIn(crash, stderr, context)
                time.sleep(0.05)
                self.assertEqual(processes_in_session(pid), [], f"processes left behind\n{context}")
                if marker:
                    self.assertEqual(processes_with_marker(marker), [], f"'{marker}' left running\n{context}")
                report = json.loads(stdout)
                run = report["runs"][0]
                self.assertEqual(run["status"], "interrupted", context)
                steps = {s["id"]: s for s in run["steps"]}
                self.assertEqual(steps["slow"]["status"], "interrupted", context)
                self.assertNotIn("after", steps, context)
                if mutates:
                    with open(self.audit) as f:
                        records = [json.loads(line) for line in f]
                    mutating = [r for r in records if r["step"] in ("slow", "d")]
                    self.assertEqual([r["phase"] for r in mutating], ["intent", "outcome"], records)
                    self.assertEqual(mutating[1]["status"], "interrupted")
                else:
                    self.assertFalse(os.path.exists(self.audit), "a read-only run wrote to the audit log")

    def run_and_signal(self, args, signum, started, env, terminal):
        """Runs ttops until `started(master, seconds since launch)` holds, then signals it."""
        master = None
        launched = time.monotonic()
        if terminal:
            # stdin and stderr on a terminal: ttops asks there, as it does an engineer.
            master, slave = pty.openpty()
            process = start_ttops(args, env=env, stdin=slave, stderr=slave)
            os.close(slave)
        else:
            process = start_ttops(args, env=env)
        try:
            wait_until(lambda: process.poll() is not None or started(master, time.monotonic() - launched),
                       "the step under way")
            if process.poll() is not None:
                self.fail("ttops ended before the signal: " + (process.stderr.read().decode() if process.stderr else ""))
            sent = time.monotonic()
            process.send_signal(signum)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            seconds = time.monotonic() - sent
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if master is not None:
                os.close(master)
        stdout = process.stdout.read().decode()
        stderr = process.stderr.read().decode() if process.stderr else ""
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
        return seconds, process.returncode, stdout, stderr, process.pid

    # --- the kinds of step ---------------------------------------------------------------------

    def test_http_waiting_on_a_slow_server(self):
        log = os.path.join(self.tmp, "http-accepts")
        server = self.fault_server("http", "slow", delay=60, **{"accept-log": log})

        def accepted():
            return os.path.exists(log) and os.path.getsize(log) > 0

        def started(master, elapsed):
            if accepted():
                os.unlink(log)
                return True
            return False

        step = (f"  - id: slow\n    http: {{url: \"http://127.0.0.1:{server.port}/admin/pause\", method: POST}}\n"
                "    confirm: Pause?\n    timeout: 60s\n")
        self.interrupt("http", step, started, mutates=True)

    def test_postgres_pg_sleep(self):
        def started(master, elapsed):
            return self.pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%signal_marker%' "
                                  "AND state = 'active' AND pid <> pg_backend_pid()") != "0"

        step = (f"  - id: slow\n    postgres: {{query: \"SELECT pg_sleep(60) AS signal_marker\", "
                f"connection: \"{self.pg.url}\"}}\n    timeout: 60s\n")
        self.interrupt("postgres", step, started)
        time.sleep(0.3)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%signal_marker%' "
                                        "AND state = 'active' AND pid <> pg_backend_pid()"), "0",
                         "the query outlived ttops")

    def test_redis_blpop(self):
        def started(master, elapsed):
            clients = self.redis.command("CLIENT", "LIST")
            return "cmd=blpop" in clients

        step = (f"  - id: slow\n    redis: {{command: [BLPOP, signals:empty, '60'], connection: \"{self.redis.url}\"}}\n"
                "    confirm: Pop?\n    timeout: 60s\n")
        self.interrupt("redis", step, started, mutates=True)

    def test_kubectl_against_an_api_server_that_never_answers(self):
        server = self.fault_server("http", "silent")
        kubeconfig = os.path.join(self.tmp, "silent-kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: silent\n  cluster:\n"
                    f"    server: http://127.0.0.1:{server.port}\n"
                    "users:\n- name: silent\n  user:\n    token: t\n"
                    "contexts:\n- name: ttops-fixture\n  context: {cluster: silent, user: silent}\n"
                    "current-context: ttops-fixture\n")

        marker = "--namespace signals-marker"

        def started(master, elapsed):
            return bool(processes_with_marker(marker))

        step = "  - id: slow\n    kubectl: {args: [get, pods], namespace: signals-marker}\n    timeout: 60s\n"
        self.interrupt("kubectl", step, started, env={"KUBECONFIG": kubeconfig}, marker=marker)

    def test_exec_and_the_program_it_started(self):
        marker = "31.4159"

        def started(master, elapsed):
            return len(processes_with_marker(marker)) >= 2

        step = f"  - id: slow\n    exec: [sh, -c, 'sleep {marker} & sleep {marker}']\n    timeout: 60s\n"
        self.interrupt("exec", step, started, marker=marker)

    def test_parallel_group(self):
        # The signal wakes the main thread, which waits for the group: each step must see the
        # cancel pipe itself. libcurl alone looks at it about once a second, hence the tighter bound.
        log = os.path.join(self.tmp, "parallel-accepts")
        server = self.fault_server("http", "slow", delay=60, **{"accept-log": log})

        def started(master, elapsed):
            if os.path.exists(log) and os.path.getsize(log) >= 2 and "cmd=blpop" in self.redis.command("CLIENT", "LIST"):
                os.unlink(log)
                return True
            return False

        url = f"http://127.0.0.1:{server.port}"
        step = ("  - id: slow\n    parallel:\n      steps:\n"
                f"        - {{id: a, http: '{url}/a', timeout: 60s}}\n"
                f"        - {{id: b, http: '{url}/b', timeout: 60s}}\n"
                f"        - {{id: c, redis: {{command: [LLEN, signals:list], connection: '{self.redis.url}'}}}}\n"
                f"        - {{id: d, redis: {{command: [BLPOP, signals:empty, '60'], connection: '{self.redis.url}'}}, "
                "timeout: 60s, confirm: 'Pop it?'}\n"
                "        - {id: e, wait: 60s}\n")
        self.interrupt("parallel", step, started, mutates=True, within=0.5)

    def test_wait(self):
        def started(master, elapsed):
            return elapsed > 0.5  # ttops is well inside the wait by then

        self.interrupt("wait", "  - id: slow\n    wait: 60s\n", started)

    def test_manual_step_at_a_terminal(self):
        seen = [""]

        def started(master, elapsed):
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen[0] += os.read(master, 4096).decode(errors="replace")
                except OSError:
                    pass
            if "Status page updated?" in seen[0]:
                seen[0] = ""
                return True
            return False

        step = ("  - id: slow\n    manual: Update the status page.\n    confirm: Status page updated?\n")
        # Without --yes (which would confirm it), the question waits for the operator's answer.
        self.interrupt_at_terminal("manual", step, started)

    def interrupt_at_terminal(self, kind, step, started):
        runbook = "title: interrupted\nsteps:\n" + step + "  - id: after\n    exec: [\"true\"]\n"
        lib = self.library({"venue/slow.yaml": runbook}, name=kind)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(kind=kind, signal=signum.name):
                args = ["--config", self.config, "--runbooks", lib, "--audit-log", self.audit, "-o", "json",
                        "runbook", "venue", "slow", "--prompt-timeout", "60s"]
                seconds, code, stdout, stderr, pid = self.run_and_signal(args, signum, started, None, True)
                RESULTS[(kind, signum.name)] = seconds
                context = f"{kind}, {signum.name}: exit {code} after {seconds:.2f}s\n{stdout}\n{stderr}"
                self.assertEqual(code, EXIT[signum], context)
                self.assertLessEqual(seconds, 1.0, context)
                self.assertEqual(processes_in_session(pid), [], context)
                run = json.loads(stdout)["runs"][0]
                self.assertEqual(run["status"], "interrupted", context)
                steps = {s["id"]: s for s in run["steps"]}
                self.assertNotEqual(steps["slow"]["status"], "passed", context)
                self.assertNotIn("after", steps, context)

    # --- the document --------------------------------------------------------------------------

    def test_z_signal_table_in_the_docs_is_what_ran(self):
        if len(RESULTS) < 2 * len(KINDS):
            self.skipTest("only part of the signal tests ran")
        lines = ["| step waiting on | SIGINT | SIGTERM |", "|---|---|---|"]
        titles = {"http": "http: a server that has not answered yet", "postgres": "postgres: pg_sleep(60)",
                  "redis": "redis: BLPOP on an empty list", "kubectl": "kubectl: an API server that never answers",
                  "exec": "exec: sleep, and the sleep it started", "wait": "wait: 60s",
                  "manual": "manual: the operator's answer at a terminal",
                  "parallel": "a parallel group of all of these at once (http, redis, wait)"}
        for kind in KINDS:
            bound = "0.5s" if kind == "parallel" else "1s"
            lines.append(f"| {titles[kind]} | exit 130 within {bound} | exit 143 within {bound} |")
        check_doc_section(self, "signals", "\n".join(lines), "TTOPS_UPDATE_DOCS=1 ctest -R integration.signals")


if __name__ == "__main__":
    unittest.main()
