"""The postgres executor through the real binary, against a real PostgreSQL started here."""
import json
import os
import signal
import subprocess
import threading
import time
import unittest

from harness import TTOPS, UNIT_TESTS, TtopsTestCase, split_args, write_config
from servers import PostgresServer, free_port, listening_black_hole

ROWS = """title: Recent payments
steps:
  - id: payments
    postgres: |
      SELECT status, count(*) AS count, sum(amount_cents) AS cents, bool_and(amount_cents > 0) AS positive,
             max(created_at) AS latest, '{"provider": "stripe"}'::jsonb AS meta, NULL::text AS nothing,
             avg(amount_cents)::float8 AS mean
      FROM payments
      WHERE created_at > NOW() - INTERVAL '1 hour'
      GROUP BY status
      ORDER BY status
    expect:
      - row_count == 3
      - rows[0].status == "failed"
      - rows[0].count == 10
      - rows[0].meta.provider == "stripe"
      - rows[0].nothing == null
      - rows[0].positive
      - affected_rows == 0
      - '!truncated'
    capture:
      succeeded: rows[2].count
"""

BOUND = """title: Bound parameters
params:
  tenant: {type: string}
steps:
  - id: echo
    postgres:
      query: "SELECT $1::text AS echoed, count(*) AS matching FROM payments WHERE tenant_id = $2"
      params: ["{{ params.tenant }}", "{{ params.tenant }}"]
    capture:
      echoed: rows[0].echoed
      matching: rows[0].matching
"""

SPLICED = """title: Spliced
params:
  tenant: {default: tenant-a}
steps:
  - id: spliced
    postgres: "SELECT count(*) FROM payments WHERE tenant_id = '{{ params.tenant }}'"
"""

HIDDEN_WRITE = """title: A write the classifier cannot see
steps:
  - id: sneaky
    postgres: "SELECT ttops_test_lock() AS locked"
"""

UPDATE = """title: Release the migration lock
steps:
  - id: unlock
    postgres: "UPDATE knex_migrations_lock SET is_locked = 0 WHERE is_locked = 1"
    confirm: Release the knex migration lock?
    expect: [affected_rows == 1]
"""

ARCHIVE = """title: Archive old metrics
steps:
  - id: archive
    postgres: |
      CREATE TABLE metrics_copy_archive AS
        SELECT * FROM metrics_copy WHERE "timestamp" < NOW() - INTERVAL '90 days';
      DELETE FROM {table}
      WHERE "timestamp" < NOW() - INTERVAL '90 days';
    confirm: Archive and delete metrics older than 90 days?
"""

TIMEOUT = """title: Slow
steps:
  - id: slow
    timeout: 1s
    postgres: "SELECT pg_sleep(30)"
    on_failure: continue
  - id: after
    postgres: "SELECT 1 AS one"
    expect:
      - rows[0].one == 1
"""

LONG = """title: Long
steps:
  - id: long
    timeout: 2m
    postgres: "SELECT pg_sleep(60) AS ctrl_c_me"
"""

ONE = """title: One
steps:
  - id: one
    postgres: "SELECT 1 AS one"
"""

SYNTAX = """title: Typo
steps:
  - id: typo
    postgres: "SELEC 1"
    confirm: This is not even SQL; run it?
    on_failure: continue
  - id: after
    postgres: "SELECT 2 AS two"
    expect:
      - rows[0].two == 2
"""

HUGE = """title: Huge
steps:
  - id: huge
    postgres: "SELECT g, md5(g::text) AS hash FROM generate_series(1, 200000) AS g"
    expect:
      - row_count == 200000
      - len(rows) == 1000
      - truncated
      - rows[999].g == 1000
  - id: small-cap
    postgres: {query: "SELECT g FROM generate_series(1, 10) AS g", max_rows: 3}
    expect: [row_count == 10, len(rows) == 3, truncated]
"""

REUSE = """title: Reuse
steps:
  - id: first
    postgres: "SELECT pg_backend_pid() AS pid"
  - id: second
    postgres: "SELECT pg_backend_pid() AS pid"
    expect:
      - rows[0].pid == steps.first.rows[0].pid
  - id: third
    postgres: "SELECT pg_backend_pid() AS pid, count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'"
    expect:
      - rows[0].pid == steps.first.rows[0].pid
"""

PARALLEL = """title: Parallel
steps:
  - id: both
    parallel:
      steps:
        - id: a
          postgres: "SELECT pg_backend_pid() AS pid, pg_sleep(0.4)"
        - id: b
          postgres: "SELECT pg_backend_pid() AS pid, pg_sleep(0.4)"
  - id: compare
    postgres: "SELECT 1"
    expect:
      - steps.a.rows[0].pid != steps.b.rows[0].pid
  - id: after
    postgres: "SELECT pg_backend_pid() AS pid"
    expect:
      - rows[0].pid == steps.a.rows[0].pid || rows[0].pid == steps.b.rows[0].pid
"""

VACUUM = """title: Vacuum
steps:
  - id: autocommit-read
    postgres: {query: "SHOW transaction_read_only", transaction: false}
    expect:
      - rows[0].transaction_read_only == "on"
  - id: vacuum
    postgres: {query: "VACUUM (ANALYZE, VERBOSE) alerts", transaction: false}
    confirm: Vacuum alerts?
  - id: then-write
    postgres: "UPDATE knex_migrations_lock SET is_locked = is_locked"
    confirm: Touch the lock row?
"""

KILLED = """title: Killed
steps:
  - id: before
    postgres: "SELECT 1 AS one"
  - id: during
    timeout: 30s
    postgres: "SELECT pg_sleep(20) AS killed_here"
    on_failure: continue
  - id: after
    postgres: "SELECT 1 AS one"
    on_failure: continue
  - id: last
    wait: 10ms
"""

RESTARTED = """title: Restarted
steps:
  - id: before
    postgres: "SELECT pg_backend_pid() AS pid"
  - id: pause
    wait: 3s
  - id: after
    postgres: "SELECT pg_backend_pid() AS pid"
    expect:
      - rows[0].pid != steps.before.rows[0].pid
"""

NOTICE = """title: Notice
steps:
  - id: drop
    postgres: "DROP TABLE IF EXISTS no_such_table"
    confirm: Drop a table that is not there?
"""

POLICIES = """title: Tenant isolation
steps:
  - id: policies
    title: Verify RLS policies are active
    postgres: |
      SELECT tablename, policyname, permissive, roles
      FROM pg_policies
      WHERE schemaname = 'event_service'
      ORDER BY policyname
    expect:
      - row_count == 2
      - rows[0].tablename == "events"
      - rows[0].permissive == "PERMISSIVE"
  - id: rls-enabled
    postgres: "SELECT relrowsecurity FROM pg_class WHERE oid = 'event_service.events'::regclass"
    expect:
      - rows[0].relrowsecurity
  - id: as-tenant
    title: Test RLS as the application, with a tenant set for this transaction only
    postgres:
      query: |
        SET LOCAL app.tenant_id = 'tenant-a';
        SELECT count(*) AS visible, count(*) FILTER (WHERE tenant_id <> 'tenant-a') AS foreign_rows
        FROM event_service.events
      connection: "{{ params.app_url }}"
    expect:
      - rows[0].visible == 20
      - rows[0].foreign_rows == 0
params:
  app_url: {}
"""

DENIED = """title: Denied
steps:
  - id: payments
    postgres: {query: "SELECT count(*) FROM payments", connection: "{{ params.url }}"}
params:
  url: {}
"""


class PostgresTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PostgresServer().start()
        cls.config = write_config(os.path.join(cls.tmp, "ttops.yaml"), extra_values={"database_url": cls.pg.url})
        cls.pg.psql("CREATE FUNCTION ttops_test_lock() RETURNS int LANGUAGE sql AS "
                    "$$ UPDATE knex_migrations_lock SET is_locked = 1 RETURNING is_locked $$")

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()
        super().tearDownClass()

    def run_book(self, text, *args, name="test", **kwargs):
        lib = self.library({f"event/{name}.yaml": text})
        return self.ttops(*split_args(args, "runbook", "event", name), library=lib, **kwargs)

    def step(self, result, index=0):
        return result.json()["runs"][0]["steps"][index]

    # --- results -------------------------------------------------------------------------------

    def test_rows_columns_and_counts_with_types(self):
        result = self.run_book(ROWS, "-o", "json")
        self.assertExit(result, 0)
        step = self.step(result)
        data = step["data"]
        self.assertEqual(data["columns"], ["status", "count", "cents", "positive", "latest", "meta", "nothing", "mean"])
        self.assertEqual([r["status"] for r in data["rows"]], ["failed", "pending", "succeeded"])
        self.assertEqual(data["rows"][2]["count"], 45)
        self.assertIsInstance(data["rows"][2]["cents"], int)   # numeric sum → number
        self.assertIsInstance(data["rows"][0]["mean"], float)
        self.assertIsInstance(data["rows"][0]["latest"], str)  # timestamps stay text
        self.assertEqual(data["statements"], [{"command": "SELECT", "affected_rows": 0, "row_count": 3}])
        self.assertGreater(data["duration"], 0)
        self.assertEqual(step["captures"]["succeeded"], 45)
        self.assertIn("psql postgresql://ttops:***@127.0.0.1", step["command"])

    def test_template_values_are_bound_parameters_never_sql(self):
        evil = "tenant-a' OR '1'='1'; DROP TABLE payments; --"
        result = self.run_book(BOUND, "-o", "json", "--set", f"tenant={evil}")
        self.assertExit(result, 0)
        captures = self.step(result)["captures"]
        self.assertEqual(captures["echoed"], evil)
        self.assertEqual(captures["matching"], 0)  # the quote did not widen the WHERE
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM payments"), "160")
        result = self.run_book(BOUND, "-o", "json", "--set", "tenant=tenant-a")
        self.assertEqual(self.step(result)["captures"]["matching"], 60)

    def test_templates_inside_sql_are_refused_before_anything_runs(self):
        result = self.run_book(SPLICED)
        self.assertExit(result, 2)
        self.assertIn("templates are not allowed in a query: put the value in 'params'", result.stderr)

    # --- read-only by default, writes gated, whole transactions --------------------------------

    def test_a_read_step_cannot_write_even_through_a_function(self):
        result = self.run_book(HIDDEN_WRITE)
        self.assertExit(result, 1)
        self.assertIn("cannot execute UPDATE in a read-only transaction (SQLSTATE 25006)", result.stdout)
        self.assertEqual(self.pg.scalar("SELECT is_locked FROM knex_migrations_lock"), "0")

    def test_a_write_needs_confirmation_and_then_commits(self):
        self.pg.psql("UPDATE knex_migrations_lock SET is_locked = 1")
        self.addCleanup(self.pg.psql, "UPDATE knex_migrations_lock SET is_locked = 0")
        refused = self.run_book(UPDATE)
        self.assertExit(refused, 3)
        self.assertEqual(self.pg.scalar("SELECT is_locked FROM knex_migrations_lock"), "1")
        dry = self.run_book(UPDATE, "--dry-run")
        self.assertExit(dry, 0)
        self.assertIn("would run psql", dry.stdout)
        self.assertEqual(self.pg.scalar("SELECT is_locked FROM knex_migrations_lock"), "1")
        done = self.run_book(UPDATE, "--yes")
        self.assertExit(done, 0)
        self.assertEqual(self.pg.scalar("SELECT is_locked FROM knex_migrations_lock"), "0")

    def test_a_multi_statement_archive_rolls_back_whole_on_any_error(self):
        self.pg.psql("DROP TABLE IF EXISTS metrics_copy, metrics_copy_archive; "
                     "CREATE TABLE metrics_copy AS SELECT * FROM metrics")
        old = int(self.pg.scalar("SELECT count(*) FROM metrics_copy WHERE \"timestamp\" < now() - interval '90 days'"))
        self.assertEqual(old, 541)
        failed = self.run_book(ARCHIVE.format(table="metrics_cpoy"), "--yes")
        self.assertExit(failed, 1)
        self.assertIn('statement 2 of 2 (DELETE): relation "metrics_cpoy" does not exist (SQLSTATE 42P01); '
                      "the transaction was rolled back", failed.stdout)
        self.assertEqual(self.pg.scalar("SELECT to_regclass('metrics_copy_archive') IS NULL"), "t")
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM metrics_copy"), "1080")

        done = self.run_book(ARCHIVE.format(table="metrics_copy"), "--yes", "-o", "json")
        self.assertExit(done, 0)
        data = self.step(done)["data"]
        self.assertEqual(data["statements"], [{"command": "CREATE TABLE AS", "affected_rows": old},
                                              {"command": "DELETE", "affected_rows": old}])
        self.assertEqual(data["affected_rows"], old)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM metrics_copy_archive"), str(old))
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM metrics_copy"), str(1080 - old))

    def test_vacuum_runs_outside_a_transaction_and_the_session_is_restored(self):
        result = self.run_book(VACUUM, "--yes", "-o", "json")
        self.assertExit(result, 0)
        notes = " ".join(self.step(result, 1)["notes"])
        self.assertIn("postgres info: vacuuming", notes)  # VACUUM VERBOSE's report, as notes
        self.assertEqual(self.pg.scalar("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables "
                                        "WHERE relname = 'alerts'"), "t")

    def test_server_notices_become_notes(self):
        result = self.run_book(NOTICE, "-v", "--yes")
        self.assertExit(result, 0)
        self.assertIn('postgres notice: table "no_such_table" does not exist, skipping', result.stdout)

    # --- time ----------------------------------------------------------------------------------

    def test_statement_timeout_follows_the_step_timeout(self):
        result = self.run_book(TIMEOUT)
        self.assertExit(result, 1)
        self.assertIn("query timed out after 1.0s (statement_timeout)", result.stdout)
        self.assertIn("PASS  after", result.stdout)  # the connection is still good
        self.assertLess(result.seconds, 3.0)

    def test_ctrl_c_interrupts_a_long_query(self):
        lib = self.library({"event/long.yaml": LONG})
        env = dict(os.environ, NO_COLOR="1")
        process = subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", lib, "runbook", "event", "long"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env)
        self.addCleanup(process.kill)
        self.wait_for_query("ctrl_c_me")
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=10)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(process.returncode, 130, stdout)
        self.assertIn("interrupted", stdout)
        time.sleep(0.2)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM pg_stat_activity "
                                        "WHERE query LIKE '%ctrl_c_me%' AND state = 'active' AND pid <> pg_backend_pid()"), "0")

    def test_connect_timeout_bounds_an_address_that_never_answers(self):
        port, held = listening_black_hole()
        self.addCleanup(lambda: [s.close() for s in held])
        lib = self.library({"event/hang.yaml": ONE.replace(
            'postgres: "SELECT 1 AS one"',
            f'postgres: {{query: "SELECT 1", connection: "postgresql://ttops:x@127.0.0.1:{port}/db", '
            f'connect_timeout: 1s}}')})
        result = self.ttops("runbook", "event", "hang", library=lib)
        self.assertExit(result, 1)
        self.assertIn(f"could not connect within 1.0s (127.0.0.1:{port}): no answer", result.stdout)
        self.assertLess(result.seconds, 3.0)

    # --- bad input and faults ------------------------------------------------------------------

    def test_wrong_password(self):
        url = self.pg.url_with(password="not-the-Password-zz")
        result = self.run_book(DENIED, "--set", f"url={url}", "-v")
        self.assertExit(result, 1)
        self.assertIn(f'password authentication failed for user "ttops" (127.0.0.1:{self.pg.port})', result.stdout)
        self.assertNotIn("not-the-Password-zz", result.stdout + result.stderr)

    def test_server_down(self):
        port = free_port()
        result = self.run_book(DENIED, "--set", f"url=postgresql://ttops:x@127.0.0.1:{port}/db")
        self.assertExit(result, 1)
        self.assertIn(f"connection refused (127.0.0.1:{port})", result.stdout)

    def test_row_level_security_checks(self):
        app = self.pg.url_with(user="event_app", password="event-app-pw")
        result = self.run_book(POLICIES, "--set", f"app_url={app}")
        self.assertExit(result, 0)

    def test_permission_denied(self):
        url = self.pg.url_with(user="reporting", password="reporting-pw")
        result = self.run_book(DENIED, "--set", f"url={url}")
        self.assertExit(result, 1)
        self.assertIn("permission denied for table payments (SQLSTATE 42501)", result.stdout)

    def test_syntax_error_is_one_line_and_the_run_continues_as_told(self):
        result = self.run_book(SYNTAX, "--yes")
        self.assertExit(result, 1)
        self.assertIn('syntax error at or near "SELEC" (SQLSTATE 42601)', result.stdout)
        self.assertIn("PASS  after", result.stdout)

    def test_huge_result_is_capped_with_a_note(self):
        result = self.run_book(HUGE, "-o", "json")
        self.assertExit(result, 0)
        huge = self.step(result)
        self.assertEqual(len(huge["data"]["rows"]), 1000)
        self.assertEqual(huge["data"]["row_count"], 200000)
        self.assertIn("returned 1000 of 200000 rows (max_rows)", huge["notes"])
        self.assertIn("returned 3 of 10 rows (max_rows)", self.step(result, 1)["notes"])

    def test_no_database_url_is_a_clear_failure(self):
        config = write_config(os.path.join(self.tmp, "no-db.yaml"))
        result = self.run_book(ONE, config=config)
        self.assertExit(result, 1)
        self.assertIn("no connection: the environment defines no database_url for this service", result.stdout)

    # --- connections ---------------------------------------------------------------------------

    def test_one_connection_is_reused_across_steps(self):
        result = self.run_book(REUSE)
        self.assertExit(result, 0)

    def test_parallel_steps_use_different_connections(self):
        result = self.run_book(PARALLEL, "-o", "json")
        self.assertExit(result, 0)
        group = self.step(result)
        self.assertLess(group["seconds"], 0.8)  # the two sleeps of 0.4 s ran at once

    def test_a_server_restarted_between_steps_is_reconnected_to(self):
        threading.Timer(0.5, self.pg.restart).start()
        result = self.run_book(RESTARTED, "-o", "json")
        self.assertExit(result, 0)
        after = self.step(result, 2)
        self.assertTrue(any("the server had closed the pooled connection" in n for n in after["notes"]), after)

    def test_server_killed_mid_run(self):
        self.addCleanup(self.pg.ensure_running)
        lib = self.library({"event/killed.yaml": KILLED})
        process = subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", lib, "runbook", "event", "killed"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=dict(os.environ, NO_COLOR="1"))
        self.addCleanup(process.kill)
        self.wait_for_query("killed_here")
        self.pg.kill()
        stdout, stderr = process.communicate(timeout=20)
        self.assertEqual(process.returncode, 1, stdout + stderr)
        self.assertRegex(stdout, rf"FAIL  during .*\n\s+server closed the connection unexpectedly "
                                 rf"\(127\.0\.0\.1:{self.pg.port}\)\n")
        # The next step's connection is refused, or, when it reached the dying postmaster's listen
        # queue before the socket closed (the kernel completes the handshake for a stopped
        # process), reset: both are the server's crash, named with its address.
        self.assertRegex(stdout, rf"FAIL  after .*\n\s+(connection refused|server closed the connection unexpectedly) "
                                 rf"\(127\.0\.0\.1:{self.pg.port}\)\n")
        self.assertIn("PASS  last", stdout)  # on_failure: continue went on

    # --- secrets and the C++ interface ---------------------------------------------------------

    def test_credentials_never_appear_in_any_output(self):
        wrong = self.pg.url_with(password="wr0ng-Secret-zz")
        runs = [
            self.run_book(ROWS, "-v", "-v", "-o", "json"),
            self.run_book(ROWS, "-v", "-v"),
            self.run_book(DENIED, "-v", "-v", "--set", f"url={wrong}"),
            self.run_book(DENIED, "-v", "-v", "-o", "json", "--set", f"url={wrong}"),
            self.run_book(DENIED, "-v", "--set", f"url={wrong}".replace("@127.0.0.1", "@[::1")),
            self.run_book(UPDATE, "-v", "--dry-run"),
            self.ttops("show", "event/test", library=self.library({"event/test.yaml": ROWS})),
        ]
        for result in runs:
            with self.subTest(args=result.args):
                everything = result.stdout + result.stderr
                self.assertNotIn(self.pg.password, everything)
                self.assertNotIn("wr0ng-Secret-zz", everything)
        self.assertIn("ttops:***@127.0.0.1", runs[0].stdout)

    def test_previews_through_the_executor_interface(self):
        if not os.path.exists(UNIT_TESTS):
            self.skipTest(f"unit test binary not found at {UNIT_TESTS}")
        result = subprocess.run([UNIT_TESTS, "[live-postgres]"], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, TTOPS_TEST_POSTGRES_URL=self.pg.url))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("All tests passed", result.stdout)
        self.assertRegex(result.stdout, r"in 2 test cases")

    # --- helpers -------------------------------------------------------------------------------

    def wait_for_query(self, marker, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pg.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' "
                              f"AND state = 'active' AND pid <> pg_backend_pid()") != "0":
                return
            time.sleep(0.05)
        self.fail(f"the query marked {marker} never started")


if __name__ == "__main__":
    unittest.main()
