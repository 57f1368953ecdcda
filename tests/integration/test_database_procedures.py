"""The runbooks built on the postgres and redis executors, end to end: the library's own
venue/high-latency, event/database-recovery and event/cache-invalidation against a real
PostgreSQL, a real redis-server and the sandbox services."""
import os
import unittest

from harness import RUNBOOKS, TtopsTestCase, split_args, write_config
from servers import PostgresServer, RedisServer, free_port


class DatabaseProceduresTest(TtopsTestCase):
    uses_sandbox = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PostgresServer().start()
        cls.redis = RedisServer(password="procedures-redis-pw").start()
        cls.config = write_config(os.path.join(cls.tmp, "ttops.yaml"), cls.sandbox,
                                  extra_values={"database_url": cls.pg.url, "redis_url": cls.redis.url})

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        cls.pg.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.redis.command("FLUSHALL")

    def run_runbook(self, name, *args, config=None):
        service, runbook = name.split("/")
        return self.ttops(*split_args(args, "runbook", service, runbook), library=RUNBOOKS, config=config)

    @staticmethod
    def steps(result):
        """Every step by id, those inside parallel groups included."""
        found = {}

        def collect(steps):
            for step in steps:
                found[step["id"]] = step
                collect(step.get("steps", []))
        collect(result.json()["runs"][0]["steps"])
        return found

    # --- venue/high-latency --------------------------------------------------------------------

    def test_venue_high_latency_lists_the_slowest_statements(self):
        result = self.run_runbook("venue/high-latency", "-o", "json", "--set", "limit=3")
        self.assertExit(result, 0)
        steps = self.steps(result)
        self.assertEqual(steps["pool"]["status"], "passed")
        self.assertEqual(steps["pool"]["captures"]["utilization"], 0.3)
        slow = steps["slow-queries"]
        self.assertEqual(slow["data"]["columns"], ["query", "calls", "mean_time"])
        self.assertEqual(slow["data"]["row_count"], 3)  # LIMIT $1 bound to the parameter
        means = [row["mean_time"] for row in slow["data"]["rows"]]
        self.assertEqual(means, sorted(means, reverse=True))
        self.assertEqual(slow["captures"]["slowest_mean_ms"], means[0])
        self.assertIn("[$1=3]", slow["command"])
        tables = [row["table_name"] for row in steps["missing-indexes"]["data"]["rows"]]
        self.assertIn("metrics", tables)

    def test_venue_high_latency_with_a_saturated_pool(self):
        self.sandbox.set("venue", pool_used=10, pool_size=10, pool_pending=4)
        result = self.run_runbook("venue/high-latency")
        self.assertExit(result, 1)
        self.assertIn("FAIL  pool", result.stdout)
        self.assertIn("the connection pool is saturated (over 90% in use)", result.stdout)
        self.assertIn("PASS  slow-queries", result.stdout)  # the diagnosis goes on

    # --- event/database-recovery ---------------------------------------------------------------

    def test_database_recovery_when_all_is_well(self):
        result = self.run_runbook("event/database-recovery", "-o", "json", "--yes")
        self.assertExit(result, 0)
        steps = self.steps(result)
        self.assertEqual(steps["connectivity"]["status"], "passed")
        self.assertEqual(steps["pool-exhausted"]["decision"], "corruption")
        self.assertNotIn("restart", steps)  # not needed, not run
        self.assertEqual(steps["corruption"]["status"], "skipped")
        self.assertEqual(steps["integrity"]["status"], "passed")
        self.assertEqual(steps["integrity"]["data"]["row_count"], 0)
        self.assertEqual(steps["corruption-found"]["status"], "skipped")

    def test_database_recovery_restarts_when_the_pool_is_exhausted(self):
        self.sandbox.set("event", pool_used=10, pool_size=10, pool_pending=7)
        result = self.run_runbook("event/database-recovery", "-o", "json", "--yes")
        self.assertExit(result, 0)
        steps = self.steps(result)
        self.assertEqual(steps["pool-exhausted"]["decision"], "restart")
        restart = steps["restart"]
        self.assertIn("10 of 10 connections in use, 7 requests waiting", restart["command"])
        self.assertIn("kubectl --context ttops-fixture -n tickettoken rollout restart deployment/event-service",
                      restart["command"])
        self.assertEqual(steps["ready"]["status"], "passed")
        self.assertEqual(steps["integrity"]["status"], "passed")

    def test_database_recovery_finds_events_without_a_tenant(self):
        self.pg.psql("INSERT INTO event_service.events (tenant_id, venue_id, name, starts_at) "
                     "VALUES (NULL, 1, 'Orphan', now())")
        self.addCleanup(self.pg.psql, "DELETE FROM event_service.events WHERE tenant_id IS NULL")
        result = self.run_runbook("event/database-recovery", "-o", "json", "--yes")
        self.assertExit(result, 1)
        steps = self.steps(result)
        self.assertEqual(steps["integrity"]["status"], "failed")
        self.assertEqual(steps["integrity"]["reason"],
                         "1 events have no tenant_id: data corruption is suspected (row_count = 1)")
        self.assertEqual(steps["integrity"]["data"]["rows"][0]["name"], "Orphan")
        self.assertEqual(steps["corruption-found"]["status"], "passed")
        self.assertIn("found 1 events without a tenant_id", steps["corruption-found"]["command"])

    def test_database_recovery_when_the_database_is_down(self):
        port = free_port()
        config = write_config(os.path.join(self.tmp, "db-down.yaml"), self.sandbox,
                              extra_values={"database_url": f"postgresql://ttops:x@127.0.0.1:{port}/tickettoken"})
        result = self.run_runbook("event/database-recovery", "--yes", config=config)
        self.assertExit(result, 1)
        self.assertIn(f"FAIL  connectivity", result.stdout)
        self.assertIn(f"connection refused (127.0.0.1:{port})", result.stdout)

    # --- event/cache-invalidation --------------------------------------------------------------

    def fill(self):
        groups = {"event:{}": 3000, "venue:events:{}": 800, "event-service:{}": 400, "ticket:{}": 200}
        for pattern, count in groups.items():
            self.redis.pipeline([("SET", pattern.format(i), "cached") for i in range(count)])

    def count(self, pattern):
        cursor, total = "0", 0
        while True:
            cursor, keys = self.redis.command("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            total += len(keys)
            if cursor == "0":
                return total

    def test_cache_invalidation_clears_the_event_keys_only(self):
        self.fill()
        result = self.run_runbook("event/cache-invalidation", "-o", "json", "--yes")
        self.assertExit(result, 0)
        steps = self.steps(result)
        counts = {child["id"]: child for child in steps["count"]["steps"]}
        self.assertEqual(counts["count-events"]["data"]["count"], 3000)
        self.assertEqual(counts["count-venue-events"]["data"]["count"], 800)
        self.assertEqual(counts["count-service"]["status"], "skipped")
        self.assertEqual(steps["clear-events"]["data"]["deleted"], 3000)
        self.assertEqual(steps["clear-venue-events"]["data"]["deleted"], 800)
        self.assertEqual(steps["clear-service"]["status"], "skipped")
        self.assertEqual(steps["verify"]["status"], "passed")
        self.assertEqual((self.count("event:*"), self.count("venue:events:*")), (0, 0))
        self.assertEqual((self.count("event-service:*"), self.count("ticket:*")), (400, 200))

        result = self.run_runbook("event/cache-invalidation", "-o", "json", "--yes", "--set", "all=true",
                                  "--set", "batch=100")
        self.assertExit(result, 0)
        self.assertEqual(self.steps(result)["clear-service"]["data"]["deleted"], 400)
        self.assertEqual((self.count("event-service:*"), self.count("ticket:*")), (0, 200))

    def test_cache_invalidation_dry_run_deletes_nothing(self):
        self.fill()
        result = self.run_runbook("event/cache-invalidation", "--dry-run", "--set", "all=true")
        self.assertExit(result, 0)
        self.assertIn('delete keys matching "event:*" (SCAN + UNLINK, batches of 500)', result.stdout)
        self.assertEqual(self.redis.command("DBSIZE"), 4400)

    def test_cache_invalidation_needs_confirmation(self):
        self.fill()
        result = self.run_runbook("event/cache-invalidation")
        self.assertExit(result, 3)
        self.assertEqual(self.redis.command("DBSIZE"), 4400)


if __name__ == "__main__":
    unittest.main()
