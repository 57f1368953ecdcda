"""A plan you can trust, with the library's own runbooks against the whole local platform:
each executor's safe substitute shows what a mutation would do (kubectl's server-side dry run,
the backends a pg_terminate_backend would end, the keys a pattern delete would remove), and a
run without a terminal and without --yes changes nothing anywhere: not in the Kubernetes
fixture, not in Postgres, not in Redis."""
import subprocess
import time
import unittest

from harness import RUNBOOKS, run_ttops
from local_platform import PlatformTestCase
from servers import _postgres_bin

APPLICATION = "monitoring-service"


class PlanTest(PlatformTestCase):

    def setUp(self):
        super().setUp()
        self.platform.kube.clear()
        self.platform.redis.command("FLUSHALL")
        self.platform.seed_redis()
        self.idle = self.idle_backend()

    def tearDown(self):
        self.idle.kill()
        self.idle.wait()
        super().tearDown()

    # --- helpers -------------------------------------------------------------------------------

    def idle_backend(self):
        """A psql session of the monitoring service that sits idle: what kill-idle would end."""
        pg = self.platform.postgres
        session = subprocess.Popen(
            [_postgres_bin("psql"), "-X", "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.USER, "-d", pg.DATABASE],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(pg._client_env(), PGAPPNAME=APPLICATION))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.idle_pids():
                time.sleep(1.1)  # older than idle_for=1s
                return session
            time.sleep(0.05)
        session.kill()
        self.fail("the idle psql session never connected")

    def idle_pids(self):
        return [row[0] for row in self.platform.postgres.psql(
            f"SELECT pid FROM pg_stat_activity WHERE application_name = '{APPLICATION}' AND state = 'idle'")]

    def ttops_local(self, *args):
        return run_ttops("--config", self.local_config, "--runbooks", RUNBOOKS, "--env", "local", *args,
                         env=self.platform.env(), timeout=120)

    def keys(self):
        return self.platform.redis.command("DBSIZE")

    # --- the plan ------------------------------------------------------------------------------

    def test_plan_previews_kubectl_and_postgres_mutations(self):
        pids = self.idle_pids()
        result = self.ttops_local("plan", "monitoring", "db-pool-exhausted", "--set", "idle_for=1s",
                                  "--set", "pool_max=40")
        self.assertExit(result, 0)
        out = result.stdout
        # Postgres: the backends pg_terminate_backend would end, listed, none ended.
        kill = out[out.index("[MUTATE] kill-idle"):out.index("[MUTATE] raise-pool")]
        self.assertIn("plan: previewed", kill)
        for pid in pids:
            self.assertIn(pid, kill)
        self.assertIn("pg_terminate_backend/pg_cancel_backend calls shown, not made", kill)
        self.assertEqual(self.idle_pids(), pids)
        self.assertIsNone(self.idle.poll())
        # kubectl: the server-side dry run answered, and reached the cluster only as a dry run.
        raise_pool = out[out.index("[MUTATE] raise-pool"):out.index("[READ] rollout")]
        self.assertIn("set env deployment/monitoring-service DATABASE_POOL_MAX=40", raise_pool)
        self.assertIn("env updated (server dry run)", raise_pool)
        mutations = self.platform.kube.mutations()
        self.assertTrue(mutations, "the server-side dry run reached the fixture")
        self.assertTrue(all(m["dry_run"] for m in mutations), mutations)
        # A step whose inputs come from earlier steps says so instead of running.
        self.assertIn("[READ] rollout", out)

    def test_plan_counts_the_keys_a_pattern_delete_would_remove(self):
        before = self.keys()
        result = self.ttops_local("plan", "event", "cache-invalidation", "--set", "all=true")
        self.assertExit(result, 0)
        out = result.stdout
        clear = out[out.index("[DESTRUCTIVE] clear-events"):out.index("[DESTRUCTIVE] clear-venue-events")]
        self.assertIn("would delete 25 keys matching \"event:*\"", clear)
        self.assertIn("preview: read-only commands only; nothing was changed", clear)
        self.assertRegex(clear, r"event:\d+")  # a sample of the keys
        self.assertIn("would delete 5 keys matching \"event-service:*\"", out)
        self.assertEqual(self.keys(), before)

    def test_plan_as_json_carries_each_preview(self):
        result = self.ttops_local("-o", "json", "plan", "event", "cache-invalidation")
        self.assertExit(result, 0)
        steps = {step["id"]: step for step in result.json()["steps"]}
        self.assertEqual(steps["clear-events"]["plan"], "previewed")
        self.assertEqual(steps["clear-events"]["preview"]["data"]["would_delete"], 25)

    # --- no terminal, no --yes: nothing changes anywhere ---------------------------------------

    def test_without_yes_nothing_changes_in_kubernetes_postgres_or_redis(self):
        pids = self.idle_pids()
        keys = self.keys()
        runs = [
            ("monitoring", "db-pool-exhausted", "--set", "idle_for=1s", "--set", "pool_max=40"),
            ("event", "cache-invalidation", "--set", "all=true"),
            ("ticket", "restart"),
        ]
        for service, runbook, *sets in runs:
            with self.subTest(runbook=f"{service}/{runbook}"):
                result = self.ttops_local("runbook", service, runbook, *sets)
                self.assertExit(result, 3)
                self.assertIn("--yes", result.stderr)
        self.assertEqual(self.platform.kube.mutations(), [])  # not even a dry run
        self.assertEqual(self.idle_pids(), pids)
        self.assertIsNone(self.idle.poll(), "the idle backend was ended")
        self.assertEqual(self.keys(), keys)


if __name__ == "__main__":
    unittest.main()
