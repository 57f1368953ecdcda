"""The fault matrix: every executor against every fault that applies to it, each fault real (a
port nobody listens on, a full accept queue, fault_server.py, a real PostgreSQL or Redis with the
wrong password, killed in the middle of a step, a `.invalid` name). For each cell the real ttops
binary runs a two-step runbook (the faulty step, then `after`) and the test asserts that:

- it finished within the step's timeout plus one second;
- the faulty step failed with a reason that names the fault (or, for a huge answer that ttops
  bounds itself, passed with a note that says what it cut);
- the exit code is the one the step's on_failure calls for, and no signal ended ttops;
- `after` ran or not as on_failure says (stop: not; continue and ignore: yes);
- the peak resident memory of ttops stayed within MEMORY_HEADROOM_MB of what a run of one trivial
  step takes (measured first: a sanitizer build starts much bigger);
- stderr holds no crash, sanitizer report or internal error.

docs/reliability.md's matrix is what this test found: the last test compares it and fails when it
is stale (TTOPS_UPDATE_DOCS=1 rewrites it; scripts/reliability-report runs that).
"""
import os
import re
import stat
import time
import unittest

from harness import TtopsTestCase, write_config
from reliability import CRASH_MARKERS, FaultServer, check_doc_section, run_measured
from servers import PostgresServer, RedisServer, free_port, listening_black_hole

MEMORY_HEADROOM_MB = 160
EXECUTORS = ["http", "postgres", "redis", "kubectl", "exec"]

# (key, what the row means, the faulty step's on_failure): every policy is exercised.
FAULTS = [
    ("refused", "connection refused", "stop"),
    ("blackhole", "address that never answers (SYN dropped)", "continue"),
    ("silent", "accepts, never replies", "ignore"),
    ("slow", "slower than the timeout", "stop"),
    ("handshake", "answers the handshake, then hangs", "continue"),
    ("close-mid", "connection closed mid-response", "ignore"),
    ("malformed", "malformed response", "stop"),
    ("huge", "huge response", "continue"),
    ("deep", "JSON nested 100 000 levels deep", "ignore"),
    ("credentials", "wrong credentials", "ignore"),
    ("killed", "server killed mid-run", "stop"),
    ("dns", "DNS name does not resolve", "continue"),
]
FAULT_KEYS = [key for key, _, _ in FAULTS]

# Cells that do not apply, and why (shown in the matrix).
NOT_APPLICABLE = {
    ("http", "handshake"): "HTTP has no session to set up",
    ("kubectl", "handshake"): "as 'accepts, never replies'",
    ("exec", "blackhole"): "no network",
    ("exec", "handshake"): "no network",
    ("exec", "dns"): "no network",
}

# What a local program does in the rows named for servers.
EXEC_ANALOGUE = {
    "refused": "program not found",
    "silent": "ignores SIGTERM, never exits",
    "slow": "runs past the timeout",
    "close-mid": "output cut off half-way",
    "malformed": "binary garbage for JSON",
    "huge": "24 MiB of output",
    "deep": "prints it",
    "credentials": "not executable",
    "killed": "killed by SIGKILL mid-run",
}

RESULTS = {}  # (executor, fault) -> the cell's text


def scrub(text):
    """A reason as the matrix shows it: without what changes from run to run (ports, byte counts,
    the DNS server, kubectl's choice of words)."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"port \d+", "port PORT", text)
    text = re.sub(r"\d+ bytes received", "N bytes received", text)
    text = re.sub(r"lookup (\S+) on [0-9a-f.:\[\]]+:53", r"lookup \1 on DNS-SERVER:53", text)
    # kubectl says "(Unauthorized)" or "(the server has asked for the client to provide
    # credentials)", depending on whether it read the 401's body before the connection closed.
    text = re.sub(r"(You must be logged in to the server) \((Unauthorized|the server has asked [^)]*)\)", r"\1 (…)", text)
    return text.replace("|", "\\|").replace("\n", " ")


def indent(text, spaces):
    return "".join(" " * spaces + line + "\n" for line in text.strip("\n").splitlines())


class FaultMatrixTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PostgresServer().start()
        cls.redis = RedisServer().start()
        cls.locked_redis = RedisServer(password="redis-Right-pw").start()
        cls.config = write_config(os.path.join(cls.tmp, "ttops.yaml"))
        cls.servers = []
        trivial = os.path.join(cls.tmp, "trivial", "venue")
        os.makedirs(trivial)
        with open(os.path.join(trivial, "probe.yaml"), "w") as f:
            f.write("title: trivial\nsteps:\n  - id: probe\n    exec: [\"true\"]\n")
        baseline = run_measured(["--config", cls.config, "--runbooks", os.path.dirname(trivial), "-o", "json",
                                 "runbook", "venue", "probe"])
        assert baseline.code == 0, repr(baseline)
        cls.memory_bound_mb = baseline.peak_rss_mb + MEMORY_HEADROOM_MB

    @classmethod
    def tearDownClass(cls):
        for server in (cls.pg, cls.redis, cls.locked_redis):
            server.stop()
        super().tearDownClass()

    def tearDown(self):
        for server in self.servers:
            server.kill()
        self.servers.clear()

    # --- running one cell ----------------------------------------------------------------------

    def fault_server(self, protocol, fault, **options):
        server = FaultServer(self.tmp, protocol, fault, **options).start()
        self.servers.append(server)
        return server

    def accept_log(self):
        return os.path.join(self.tmp, f"accepts-{time.monotonic_ns()}")

    @staticmethod
    def accepted(server):
        path = server.options["accept-log"]
        return os.path.exists(path) and os.path.getsize(path) > 0

    @staticmethod
    def once(condition, action, settle=0.0, timeout=10):
        """A fault in the middle of the run: `action` once `condition` holds (the step is waiting on
        the server) and `settle` seconds more, not after a guessed delay."""
        def during(process):
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if condition():
                    time.sleep(settle)
                    action()
                    return
                time.sleep(0.01)
        return during

    def black_hole(self):
        port, held = listening_black_hole()
        self.addCleanup(lambda: [s.close() for s in held])
        return port

    def kubeconfig(self, server):
        """A kubeconfig whose context (the test environment's ttops-fixture) points at `server`."""
        path = os.path.join(self.tmp, f"kubeconfig-{time.monotonic_ns()}")
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: fault\n  cluster:\n"
                    f"    server: {server}\n    insecure-skip-tls-verify: true\n"
                    "users:\n- name: fault\n  user:\n    token: fault-token\n"
                    "contexts:\n- name: ttops-fixture\n  context: {cluster: fault, user: fault, namespace: tickettoken}\n"
                    "current-context: ttops-fixture\n")
        return {"KUBECONFIG": path}

    def cell(self, executor, fault, action, reason, timeout=1.0, args=(), env=None, during=None, passes=False,
             confirm=False, shown=None):
        """Runs the faulty step `action` (YAML, one step's action lines) and checks everything the
        module's docstring lists. `reason` is a regex the step's reason (or, when it `passes`, a
        note) must match. The matrix shows that reason, or `shown` where the words vary by run."""
        policy = dict((key, on_failure) for key, _, on_failure in FAULTS)[fault]
        runbook = (f"title: {executor} {fault}\nsteps:\n  - id: probe\n    timeout: {timeout}s\n"
                   f"    on_failure: {policy}\n" + indent(action, 4) +
                   ("    confirm: Run the faulty step?\n" if confirm else "") +
                   "  - id: after\n    exec: [\"true\"]\n")
        lib = self.library({"venue/probe.yaml": runbook}, name=f"{executor}-{fault}")
        full_args = ["--config", self.config, "--runbooks", lib, "-o", "json", "runbook", "venue", "probe", *args]
        result = run_measured(full_args, env=env, during=during, timeout=timeout + 30)
        with self.subTest(cell=f"{executor} / {fault}"):
            self.check_cell(executor, fault, policy, result, reason, timeout, passes, shown)

    def check_cell(self, executor, fault, policy, result, reason, timeout, passes, shown_instead):
        try:
            self.assertGreaterEqual(result.code, 0, f"a signal ended ttops\n{result!r}")
            for marker in CRASH_MARKERS:
                self.assertNotIn(marker, result.stderr, repr(result))
            self.assertLessEqual(result.seconds, timeout + 1.0, f"slower than the timeout + 1s\n{result!r}")
            self.assertLess(result.peak_rss_mb, self.memory_bound_mb, repr(result))
            steps = {step["id"]: step for step in result.json_report()["runs"][0]["steps"]}
            probe = steps["probe"]
            if passes:
                self.assertEqual(probe["status"], "passed", repr(result))
                shown = "; ".join(probe["notes"])
                self.assertRegex(shown, reason)
                self.assertExitCode(result, 0)
                self.assertIn("after", steps)
            else:
                self.assertEqual(probe["status"], "failed", repr(result))
                shown = probe["reason"]
                self.assertRegex(shown, reason)
                self.assertExitCode(result, 0 if policy == "ignore" else 1)
                if policy == "stop":
                    self.assertNotIn("after", steps, "on_failure: stop ran the next step")
                else:
                    self.assertEqual(steps["after"]["status"], "passed", repr(result))
        except AssertionError:
            RESULTS[(executor, fault)] = "✘ FAILED"
            raise
        outcome = "step passed, with a note" if passes else "step failed"
        RESULTS[(executor, fault)] = f"✔ {outcome}: " + (shown_instead or f"`{scrub(shown)}`")

    def assertExitCode(self, result, code):
        self.assertEqual(result.code, code, repr(result))

    # --- http ----------------------------------------------------------------------------------

    def test_http(self):
        def url(port):
            return f"http: http://127.0.0.1:{port}/health"

        self.cell("http", "refused", url(free_port()), r"^connection refused \(127\.0\.0\.1:\d+\)$")
        self.cell("http", "blackhole", url(self.black_hole()), r"^could not connect within 1\.0s \(127\.0\.0\.1:\d+\): no answer$")
        self.cell("http", "silent", url(self.fault_server("http", "silent").port),
                  r"^timed out after 1\.0s waiting for a response from 127\.0\.0\.1:\d+$")
        self.cell("http", "slow", url(self.fault_server("http", "slow", delay=30).port),
                  r"^timed out after 1\.0s waiting for a response from 127\.0\.0\.1:\d+$")
        self.cell("http", "close-mid", url(self.fault_server("http", "close-mid").port),
                  r"^connection closed mid-response \(127\.0\.0\.1:\d+, \d+ bytes received\)")
        self.cell("http", "malformed", url(self.fault_server("http", "malformed").port),
                  r"^malformed response from 127\.0\.0\.1:\d+: not HTTP")
        self.cell("http", "huge", url(self.fault_server("http", "huge").port),
                  r"^response larger than 16384 KiB \(max_body\); stopped reading$")
        self.cell("http", "deep", url(self.fault_server("http", "deep").port) + "\nexpect: [json != null]",
                  r"response body nests deeper than 256 levels; not parsed as JSON")
        self.cell("http", "credentials", url(self.fault_server("http", "unauthorized").port),
                  r"status = 401")
        server = self.fault_server("http", "slow", delay=30, **{"accept-log": self.accept_log()})
        self.cell("http", "killed", url(server.port),
                  r"^server closed the connection without a response \(127\.0\.0\.1:\d+\)$",
                  during=self.once(lambda: self.accepted(server), server.kill, settle=0.2))
        self.cell("http", "dns", "http: http://venue-service.invalid/health",
                  r"^cannot resolve host \(venue-service\.invalid\)")

    # --- postgres ------------------------------------------------------------------------------

    def test_postgres(self):
        def query(sql, connection):
            return f'postgres: {{query: "{sql}", connection: "{connection}"}}'

        def at(port):
            return f"postgresql://ttops:pw@127.0.0.1:{port}/tickettoken"

        self.pg.ensure_running()
        self.cell("postgres", "refused", query("SELECT 1", at(free_port())), r"^connection refused \(127\.0\.0\.1:\d+\)$")
        self.cell("postgres", "blackhole", query("SELECT 1", at(self.black_hole())),
                  r"^could not connect within 1\.0s \(127\.0\.0\.1:\d+\): no answer$")
        self.cell("postgres", "silent", query("SELECT 1", at(self.fault_server("postgres", "silent").port)),
                  r"^could not connect within 1\.0s \(127\.0\.0\.1:\d+\): no answer$")
        self.cell("postgres", "slow", query("SELECT pg_sleep(5)", self.pg.url),
                  r"^query timed out after 1\.0s \(statement_timeout\)$")
        self.cell("postgres", "handshake", query("SELECT 1", at(self.fault_server("postgres", "handshake").port)),
                  r"^query timed out after 1\.0s \(statement_timeout\); the server did not answer the cancel request, "
                  r"so the connection was closed \(127\.0\.0\.1:\d+\)$")
        self.cell("postgres", "close-mid", query("SELECT 1", at(self.fault_server("postgres", "close-mid").port)),
                  r"^server closed the connection unexpectedly \(127\.0\.0\.1:\d+\)$")
        self.cell("postgres", "malformed", query("SELECT 1", at(self.fault_server("postgres", "malformed").port)),
                  r"^expected authentication request from server, but received H \(127\.0\.0\.1:\d+\)$")
        self.cell("postgres", "huge",
                  query("SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 300000) AS g", self.pg.url),
                  r"^returned 1000 of 300000 rows \(max_rows\)$", passes=True, timeout=2.0)
        self.cell("postgres", "deep",
                  query("SELECT repeat('[', 100000) || repeat(']', 100000) AS doc", self.pg.url) +
                  "\nexpect: ['parse_json(rows[0].doc) != null']", r"parse_json\(\): the text nests deeper than 256 levels")
        self.cell("postgres", "credentials", query("SELECT 1", self.pg.url_with(password="Wrong-pw")),
                  r'^password authentication failed for user "ttops" \(127\.0\.0\.1:\d+\)$')
        try:
            self.cell("postgres", "killed", query("SELECT pg_sleep(5)", self.pg.url),
                      r"^server closed the connection unexpectedly \(127\.0\.0\.1:\d+\)$",
                      during=self.once(lambda: self.pg.scalar(
                          "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' "
                          "AND pid <> pg_backend_pid()") != "0", self.pg.kill))
        finally:
            self.pg.ensure_running()
        self.cell("postgres", "dns", query("SELECT 1", "postgresql://ttops:pw@db.invalid:5432/tickettoken"),
                  r'^could not translate host name "db\.invalid" to address')

    # --- redis ---------------------------------------------------------------------------------

    def test_redis(self):
        def command(words, connection, **extra):
            fields = "".join(f", {key}: {value}" for key, value in extra.items())
            return f"redis: {{command: {words}, connection: \"{connection}\"{fields}}}"

        def at(port, password=""):
            return f"redis://{':' + password + '@' if password else ''}127.0.0.1:{port}/0"

        self.redis.ensure_running()
        self.cell("redis", "refused", command("[PING]", at(free_port())), r"^connection refused \(127\.0\.0\.1:\d+\)$")
        self.cell("redis", "blackhole", command("[PING]", at(self.black_hole())),
                  r"^could not connect within 1\.0s \(127\.0\.0\.1:\d+\): no answer$")
        self.cell("redis", "silent", command("[PING]", at(self.fault_server("redis", "silent").port)),
                  r"^Redis did not answer within 1\.0s \(127\.0\.0\.1:\d+\)$")
        self.cell("redis", "slow", command("[BLPOP, faults:empty, '5']", self.redis.url),
                  r"^Redis did not answer within 1\.0s \(127\.0\.0\.1:\d+\)$", args=["--yes"], confirm=True)
        self.cell("redis", "handshake", command("[PING]", at(self.fault_server("redis", "handshake").port, "pw")),
                  r"^Redis did not answer within 1\.0s \(127\.0\.0\.1:\d+\)$")
        self.cell("redis", "close-mid", command("[GET, key]", at(self.fault_server("redis", "close-mid").port)),
                  r"^Redis closed the connection mid-reply \(127\.0\.0\.1:\d+, \d+ bytes received\)$")
        self.cell("redis", "malformed", command("[PING]", at(self.fault_server("redis", "malformed").port)),
                  r'^malformed reply from Redis: Protocol error, got "H" as reply type byte \(127\.0\.0\.1:\d+\)$')
        self.cell("redis", "huge", command("[GET, key]", at(self.fault_server("redis", "huge").port)),
                  r"^reply larger than 16384 KiB \(max_reply\); stopped reading \(127\.0\.0\.1:\d+\)$")
        self.redis.command("SET", "faults:deep", "[" * 100000 + "]" * 100000)
        self.cell("redis", "deep", command("[GET, faults:deep]", self.redis.url) +
                  "\nexpect: [parse_json(reply) != null]", r"parse_json\(\): the text nests deeper than 256 levels")
        self.cell("redis", "credentials", command("[PING]", self.locked_redis.url_with(password="Wrong-pw")),
                  r"^Redis refused the credentials: WRONGPASS")
        try:
            self.cell("redis", "killed", command("[BLPOP, faults:empty, '5']", self.redis.url),
                      r"^Redis closed the connection \(127\.0\.0\.1:\d+\)$", args=["--yes"], confirm=True,
                      during=self.once(lambda: "cmd=blpop" in self.redis.command("CLIENT", "LIST"), self.redis.kill))
        finally:
            self.redis.ensure_running()
        self.cell("redis", "dns", command("[PING]", "redis://cache.invalid:6379/0"),
                  r"^cannot resolve host \(cache\.invalid\)")

    # --- kubectl -------------------------------------------------------------------------------

    def test_kubectl(self):
        get = "kubectl: [get, pods]"
        # kubectl's own start-up and discovery take part of the step's time: 2s each.
        ended = r"^kubectl did not finish within 2s: it and the processes it started were ended$"

        def at(port):
            return self.kubeconfig(f"http://127.0.0.1:{port}")

        port = free_port()
        self.cell("kubectl", "refused", get,
                  rf"^kubectl failed: The connection to the server 127\.0\.0\.1:{port} was refused", timeout=2.0,
                  env=at(port))
        self.cell("kubectl", "blackhole", get, ended, timeout=2.0, env=at(self.black_hole()))
        self.cell("kubectl", "silent", get, ended, timeout=2.0, env=at(self.fault_server("http", "silent").port))
        self.cell("kubectl", "slow", get, ended, timeout=2.0, env=at(self.fault_server("http", "slow", delay=30).port))
        self.cell("kubectl", "close-mid", get, r"^kubectl failed: .*(unexpected EOF|EOF)", timeout=2.0,
                  env=at(self.fault_server("http", "close-mid").port))
        self.cell("kubectl", "malformed", get, r"^kubectl failed: .*malformed HTTP", timeout=2.0,
                  env=at(self.fault_server("http", "malformed").port))
        self.cell("kubectl", "huge", "kubectl: {args: [get, --raw, /huge], json: false}", r"^stdout cut at 16777216 bytes$",
                  timeout=2.0, passes=True, env=at(self.fault_server("http", "huge", size=24 << 20).port))
        # --raw prints the body as it is (kubectl refuses -o json with it): parse_json reads it.
        self.cell("kubectl", "deep", "kubectl: {args: [get, --raw, /deep], json: false}\nexpect: ['parse_json(stdout) != null']",
                  r"parse_json\(\): the text nests deeper than 256 levels", timeout=2.0,
                  env=at(self.fault_server("http", "deep").port))
        self.cell("kubectl", "credentials", get, r"^kubectl failed: You must be logged in to the server",
                  timeout=2.0, env=at(self.fault_server("http", "unauthorized").port))
        server = self.fault_server("http", "slow", delay=30, **{"accept-log": self.accept_log()})
        self.cell("kubectl", "killed", get, r"^kubectl failed: .*(EOF|connection reset|refused)", timeout=2.0,
                  env=at(server.port), during=self.once(lambda: self.accepted(server), server.kill, settle=0.2),
                  shown="`kubectl failed: …` with kubectl's words, which vary: `Get \"…\": EOF` when the request it "
                        "waited on broke, `The connection to the server … was refused` when it retried first")
        self.cell("kubectl", "dns", get, r"^kubectl failed: .*kube\.invalid.*no such host", timeout=2.0,
                  env=self.kubeconfig("https://kube.invalid:6443"))

    # --- exec ----------------------------------------------------------------------------------

    def test_exec(self):
        not_executable = os.path.join(self.tmp, "not-executable.sh")
        with open(not_executable, "w") as f:
            f.write("#!/bin/sh\necho hello\n")
        os.chmod(not_executable, stat.S_IRUSR | stat.S_IWUSR)
        def ended(program):
            return rf"^{program} did not finish within 1s: it and the processes it started were ended$"

        self.cell("exec", "refused", "exec: [ttops-no-such-program, --check]",
                  r"^ttops-no-such-program not found \(looked for 'ttops-no-such-program' on PATH\)$")
        self.cell("exec", "silent", "exec: [sh, -c, 'trap \"\" TERM; while :; do sleep 1; done']", ended("sh"))
        self.cell("exec", "slow", "exec: [sleep, '30']", ended("sleep"))
        self.cell("exec", "close-mid", "exec: [printf, '{\"status\": \"UP\", \"pad']\nexpect: ['json.status == \"UP\"']",
                  r"the output is not valid JSON")
        self.cell("exec", "malformed", "exec: [printf, '\\000\\377\\376 garbage']\nexpect: ['json.status == \"UP\"']",
                  r"the output is not JSON \(it starts with '\\x00\ufffd\ufffd garbage'\)")
        self.cell("exec", "huge", "exec: [head, -c, '25165824', /dev/zero]", r"^stdout cut at 16777216 bytes$",
                  passes=True)
        self.cell("exec", "deep", "exec: [sh, -c, \"head -c 100000 /dev/zero | tr '\\\\0' '['\"]\nexpect: [json != null]",
                  r"the output nests deeper than 256 levels; not parsed as JSON")
        self.cell("exec", "credentials", f"exec: [{not_executable}]", r"^cannot run not-executable\.sh: not executable$")
        self.cell("exec", "killed", "exec: [sh, -c, 'sleep 0.2; kill -9 $$']", r"^the command failed: killed by SIGKILL \(exit_code = 137\)$")

    # --- the document --------------------------------------------------------------------------

    def test_z_matrix_in_the_docs_is_what_ran(self):
        expected = {(e, f) for e in EXECUTORS for f in FAULT_KEYS if (e, f) not in NOT_APPLICABLE}
        missing = expected - set(RESULTS)
        if missing:
            self.skipTest(f"only part of the matrix ran ({len(missing)} cells missing)")
        failed = sorted(cell for cell, text in RESULTS.items() if text.startswith("✘"))
        self.assertFalse(failed, "cells failed; the matrix is not documented until they pass")
        check_doc_section(self, "fault-matrix", render(), "TTOPS_UPDATE_DOCS=1 ctest -R integration.faults "
                                                          "(or scripts/reliability-report)")


def render():
    """The matrix as docs/reliability.md shows it: a table of outcomes, then every reason."""
    policies = {key: (title, on_failure) for key, title, on_failure in FAULTS}
    lines = [f"{len(RESULTS)} cells ran; every one passed every check above. "
             f"n/a: the fault does not apply to the executor.", "",
             "| fault (on_failure) | " + " | ".join(EXECUTORS) + " |",
             "|---|" + "---|" * len(EXECUTORS)]
    for key in FAULT_KEYS:
        title, on_failure = policies[key]
        row = []
        for executor in EXECUTORS:
            if (executor, key) in NOT_APPLICABLE:
                row.append("n/a")
            else:
                row.append(RESULTS[(executor, key)].split(":", 1)[0])
        lines.append(f"| {title} ({on_failure}) | " + " | ".join(row) + " |")
    lines += ["", "What each step reported (ports and byte counts replaced):", ""]
    for executor in EXECUTORS:
        lines.append(f"**{executor}**")
        lines.append("")
        for key in FAULT_KEYS:
            title = policies[key][0]
            if executor == "exec" and key in EXEC_ANALOGUE:
                title = f"{title} — here: {EXEC_ANALOGUE[key]}"
            if (executor, key) in NOT_APPLICABLE:
                lines.append(f"- {title}: n/a ({NOT_APPLICABLE[(executor, key)]})")
            else:
                lines.append(f"- {title}: {RESULTS[(executor, key)].split(': ', 1)[1]}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    unittest.main()
