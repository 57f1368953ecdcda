"""The redis executor through the real binary, against a real redis-server started here."""
import os
import subprocess
import time
import unittest

from harness import TTOPS, UNIT_TESTS, TtopsTestCase, split_args, write_config
from servers import RedisServer, free_port, listening_black_hole

ARGUMENTS = """title: Arguments stay arguments
params:
  value: {}
steps:
  - id: set
    redis: [SET, "cache key with spaces", "{{ params.value }}"]
    confirm: Set the test key?
  - id: get
    redis: [GET, "cache key with spaces"]
    expect:
      - reply == params.value
      - type == "string"
"""

REPLIES = """title: Every kind of reply
steps:
  - id: status
    redis: [PING]
    expect: ['reply == "PONG"', 'type == "status"']
  - id: integer
    redis: [INCR, "replies:counter"]
    confirm: Count?
    expect: [reply == 1, 'type == "integer"']
  - id: nil
    redis: [GET, "replies:missing"]
    expect: [reply == null, 'type == "nil"']
  - id: array
    redis: [MGET, "replies:counter", "replies:missing"]
    expect:
      - type == "array"
      - reply == ["1", null]
  - id: nested
    redis: [SCAN, "0", MATCH, "replies:*", COUNT, "100"]
    expect:
      - len(reply) == 2
      - len(reply[1]) == 1
  - id: wrong-type
    redis: [LPUSH, "replies:counter", x]
    confirm: Push onto a string?
    on_failure: continue
  - id: after
    redis: [PING]
"""

INFO = """title: Cache hit rate
steps:
  - id: stats
    redis: [INFO, stats]
    expect:
      - info.keyspace_hits > 0
    capture:
      hit_rate: info.keyspace_hits / (info.keyspace_hits + info.keyspace_misses)
  - id: memory
    redis: [INFO, memory]
    expect:
      - info.used_memory > 0
  - id: keyspace
    redis: [INFO, keyspace]
    capture:
      keys: info.db0.keys
"""

KEYS = """title: Event cache
steps:
  - id: count-before
    redis: {count_keys: "event:*", batch: 500}
  - id: clear
    redis: {delete_keys: "event:*", batch: 500}
    confirm: Delete every event:* key?
  - id: count-after
    when: "!run.dry_run"
    redis: {count_keys: "event:*"}
    expect: [count == 0]
"""

REFUSED_KEYS = """title: KEYS
steps:
  - id: keys
    redis: [KEYS, "rate_limit:*"]
"""

SLEEP = """title: Slow server
steps:
  - id: sleep
    timeout: 500ms
    redis: [DEBUG, SLEEP, "2"]
    confirm: Make Redis sleep?
    on_failure: continue
  - id: after
    timeout: 5s
    redis: [PING]
"""

PING = """title: Ping
params:
  url: {}
steps:
  - id: ping
    redis: {command: [PING], connection: "{{ params.url }}", connect_timeout: 1s}
"""

DEFAULT_PING = """title: Ping
steps:
  - id: ping
    redis: [PING]
"""

KILLED = """title: Killed
steps:
  - id: before
    redis: [PING]
  - id: pause
    wait: 1s
  - id: after
    redis: [PING]
    on_failure: continue
  - id: last
    wait: 10ms
"""

DATABASE = """title: Database from the URL
params:
  url: {}
steps:
  - id: set
    redis: {command: [SET, "in-db-3", "yes"], connection: "{{ params.url }}"}
    confirm: Set it?
"""


class RedisTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = RedisServer(password="redis-S3cret-pw").start()
        cls.config = write_config(os.path.join(cls.tmp, "ttops.yaml"), extra_values={"redis_url": cls.redis.url})

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.redis.ensure_running()
        self.redis.command("FLUSHALL")

    def run_book(self, text, *args, **kwargs):
        lib = self.library({"event/test.yaml": text})
        return self.ttops(*split_args(args, "runbook", "event", "test"), library=lib, **kwargs)

    def step(self, result, index=0):
        return result.json()["runs"][0]["steps"][index]

    def fill(self, pattern, count, db=0):
        commands = [("SET", pattern.format(i), "v") for i in range(count)]
        for start in range(0, count, 2000):
            self.redis.pipeline(commands[start:start + 2000], db=db)

    # --- commands and replies ------------------------------------------------------------------

    def test_values_with_spaces_and_crlf_are_one_argument(self):
        value = "a b\r\nSET injected yes\r\n"
        result = self.run_book(ARGUMENTS, "--yes", "--set", f"value={value}")
        self.assertExit(result, 0)
        self.assertEqual(self.redis.command("GET", "cache key with spaces"), value)
        self.assertIsNone(self.redis.command("GET", "injected"))
        self.assertEqual(self.redis.command("DBSIZE"), 1)

    def test_every_reply_type_and_error_replies(self):
        result = self.run_book(REPLIES, "--yes", "-o", "json")
        self.assertExit(result, 1)
        steps = result.json()["runs"][0]["steps"]
        self.assertEqual([s["status"] for s in steps],
                         ["passed", "passed", "passed", "passed", "passed", "failed", "passed"])
        self.assertEqual(steps[4]["data"]["reply"], ["0", ["replies:counter"]])
        self.assertEqual(steps[5]["reason"], "Redis error: WRONGTYPE Operation against a key holding the wrong kind of value")

    def test_info_is_parsed_into_fields_and_a_hit_rate_is_one_expression(self):
        self.redis.pipeline([("SET", "hit", "1"), ("GET", "hit"), ("GET", "hit"), ("GET", "hit"), ("GET", "miss")])
        info = self.redis.command("INFO", "stats")
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        hits, misses = int(fields["keyspace_hits"]), int(fields["keyspace_misses"])
        result = self.run_book(INFO, "-o", "json")
        self.assertExit(result, 0)
        rate = self.step(result)["captures"]["hit_rate"]
        self.assertAlmostEqual(rate, hits / (hits + misses), places=6)
        self.assertEqual(self.step(result, 2)["captures"]["keys"], 1)
        self.assertIsInstance(self.step(result)["data"]["info"]["instantaneous_ops_per_sec"], int)

    def test_the_database_comes_from_the_url(self):
        url = self.redis.url_with(db=3)
        result = self.run_book(DATABASE, "--yes", "--set", f"url={url}")
        self.assertExit(result, 0)
        self.assertEqual(self.redis.command("GET", "in-db-3", db=3), "yes")
        self.assertIsNone(self.redis.command("GET", "in-db-3"))

    # --- safe key operations -------------------------------------------------------------------

    def test_count_and_delete_keys_in_batches_over_thousands_of_keys(self):
        self.fill("event:{}", 5000)
        self.fill("event-service:{}", 700)
        self.fill("venue:events:{}", 300)
        result = self.run_book(KEYS, "--yes", "-o", "json")
        self.assertExit(result, 0)
        count = self.step(result)
        self.assertEqual(count["data"]["count"], 5000)
        self.assertEqual(len(count["data"]["sample"]), 20)
        self.assertTrue(all(k.startswith("event:") for k in count["data"]["sample"]))
        self.assertGreaterEqual(count["data"]["batches"], 5000 // 500)
        clear = self.step(result, 1)
        self.assertEqual(clear["data"]["deleted"], 5000)
        self.assertEqual(clear["effect"], "destructive")
        self.assertIn("SCAN + UNLINK, batches of 500", clear["command"])
        self.assertEqual(self.redis.command("DBSIZE"), 1000)  # the other patterns are untouched

    def test_dry_run_deletes_nothing_and_says_what_it_would_do(self):
        self.fill("event:{}", 1200)
        result = self.run_book(KEYS, "--dry-run", "-o", "json")
        self.assertExit(result, 0)
        clear = self.step(result, 1)
        self.assertEqual(clear["status"], "skipped")
        self.assertTrue(clear["dry_run"])
        self.assertIn('would run redis redis://:***@127.0.0.1', clear["reason"])
        self.assertIn('delete keys matching "event:*" (SCAN + UNLINK, batches of 500)', clear["reason"])
        self.assertEqual(self.redis.command("DBSIZE"), 1200)
        self.assertEqual(self.step(result)["data"]["count"], 1200)  # reads still run

    def test_keys_is_refused_before_anything_runs(self):
        result = self.run_book(REFUSED_KEYS)
        self.assertExit(result, 2)
        self.assertIn("KEYS blocks the Redis server while it walks every key", result.stderr)
        self.assertIn("count_keys", result.stderr)

    # --- time, bad input and faults ------------------------------------------------------------

    def test_a_command_that_outlives_its_timeout(self):
        result = self.run_book(SLEEP, "--yes")
        self.assertExit(result, 1)
        self.assertIn(f"Redis did not answer within 500ms (127.0.0.1:{self.redis.port})", result.stdout)
        self.assertIn("PASS  after", result.stdout)  # a new connection once Redis wakes up
        self.assertLess(result.seconds, 4.0)

    def test_connect_timeout(self):
        port, held = listening_black_hole()
        self.addCleanup(lambda: [s.close() for s in held])
        result = self.run_book(PING, "--set", f"url=redis://127.0.0.1:{port}/0")
        self.assertExit(result, 1)
        self.assertIn(f"could not connect within 1.0s (127.0.0.1:{port}): no answer", result.stdout)
        self.assertLess(result.seconds, 3.0)

    def test_wrong_password(self):
        result = self.run_book(PING, "-v", "--set", f"url={self.redis.url_with(password='Wr0ng-redis-pw')}")
        self.assertExit(result, 1)
        self.assertIn(f"Redis refused the credentials: WRONGPASS invalid username-password pair or user is "
                      f"disabled. (127.0.0.1:{self.redis.port})", result.stdout)
        self.assertNotIn("Wr0ng-redis-pw", result.stdout + result.stderr)

    def test_server_down(self):
        port = free_port()
        result = self.run_book(PING, "--set", f"url=redis://127.0.0.1:{port}/0")
        self.assertExit(result, 1)
        self.assertIn(f"connection refused (127.0.0.1:{port})", result.stdout)

    def test_no_redis_url_is_a_clear_failure(self):
        result = self.run_book(DEFAULT_PING, config=write_config(os.path.join(self.tmp, "no-redis.yaml")))
        self.assertExit(result, 1)
        self.assertIn("no connection: the environment defines no redis_url for this service", result.stdout)

    def test_server_killed_mid_run(self):
        lib = self.library({"event/killed.yaml": KILLED})
        process = subprocess.Popen([TTOPS, "--config", self.config, "--runbooks", lib, "runbook", "event", "killed"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=dict(os.environ, NO_COLOR="1"))
        self.addCleanup(process.kill)
        time.sleep(0.5)  # inside the wait step
        self.redis.kill()
        stdout, stderr = process.communicate(timeout=20)
        self.assertEqual(process.returncode, 1, stdout + stderr)
        self.assertIn("PASS  before", stdout)
        self.assertIn(f"connection refused (127.0.0.1:{self.redis.port})", stdout)
        self.assertIn("PASS  last", stdout)

    def test_credentials_never_appear_in_any_output(self):
        self.fill("event:{}", 10)
        wrong = self.redis.url_with(password="Wr0ng-redis-pw")
        runs = [
            self.run_book(KEYS, "-v", "-v", "--yes"),
            self.run_book(KEYS, "-v", "-o", "json", "--dry-run"),
            self.run_book(PING, "-v", "-v", "--set", f"url={wrong}"),
            self.run_book(PING, "-v", "-o", "json", "--set", f"url={wrong}"),
            self.ttops("show", "event/test", library=self.library({"event/test.yaml": KEYS})),
        ]
        for result in runs:
            with self.subTest(args=result.args):
                everything = result.stdout + result.stderr
                self.assertNotIn(self.redis.password, everything)
                self.assertNotIn("Wr0ng-redis-pw", everything)
        self.assertIn("redis://:***@127.0.0.1", runs[0].stdout)

    def test_previews_through_the_executor_interface(self):
        if not os.path.exists(UNIT_TESTS):
            self.skipTest(f"unit test binary not found at {UNIT_TESTS}")
        self.fill("preview:{}", 300)
        result = subprocess.run([UNIT_TESTS, "[live-redis]"], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, TTOPS_TEST_REDIS_URL=self.redis.url))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"All tests passed .* in 1 test case")
        self.assertEqual(self.redis.command("DBSIZE"), 300)


if __name__ == "__main__":
    unittest.main()
