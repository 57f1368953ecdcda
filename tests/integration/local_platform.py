"""The whole local platform for tests, on free ports: the stand-in HTTP services, a real
PostgreSQL with the platform's data, a real Redis with the caches' keys, and the Kubernetes API
fixture. `write_local_config` writes a config whose `local` environment is runbooks/ttops.yaml's
own `local` environment with its addresses moved to those ports, so the tests run the library
exactly as `scripts/demo` does.
"""
import os
import re

from harness import RUNBOOKS, Sandbox, TtopsTestCase
from kube import KubeFixture
from servers import PostgresServer, RedisServer

# The ports of the `local` environment (runbooks/ttops.yaml) and which server answers there.
SANDBOX_BASE = 13000
POSTGRES_PORT = 15432
REDIS_PORT = 16379

SANDBOX_OFFSETS = {"minting": 0, "venue": 2, "event": 3, "ticket": 4, "payment-service": 5, "monitoring": 17,
                   "prometheus": 90, "stripe-status": 91, "pinata": 92, "fallback-rpc": 93, "primary-rpc": 94}


class LocalPlatform:
    def __init__(self, directory):
        self.directory = directory
        self.sandbox = Sandbox(directory)
        self.postgres = PostgresServer()
        self.redis = RedisServer()
        self.kube = KubeFixture(directory)

    def start(self):
        try:
            self.sandbox.start()
            self.postgres.start()
            self.redis.start()
            self.kube.start()
            self.seed_redis()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for part in (self.kube, self.redis, self.postgres, self.sandbox):
            try:
                part.stop()
            except Exception:  # stop what can be stopped
                pass

    def seed_redis(self):
        """The keys the runbooks look at, as scripts/local-platform sets them."""
        commands = [["SET", f"ticket:{i}", f'{{"id":{i}}}'] for i in range(1, 41)]
        commands += [["SET", f"event:{i}", f'{{"id":{i}}}'] for i in range(1, 26)]
        commands += [["SET", f"venue:events:{i}", f"[{i}]"] for i in range(1, 26)]
        commands += [["SET", f"event-service:list:{i}", "x"] for i in range(1, 6)]
        commands += [["SET", f"rate_limit:tenant-{i}:/api/v1/venues", str(i * 7), "EX", "3600"] for i in range(1, 13)]
        self.redis.pipeline(commands)

    # The stand-in services' tokens, as `scripts/local-platform env` exports them.
    TOKENS = {"TOKEN": "sandbox-token", "ADMIN_TOKEN": "sandbox-admin-token", "PINATA_JWT": "sandbox-pinata-jwt"}

    def env(self):
        return dict(self.kube.env(), **self.TOKENS)

    def write_local_config(self, path):
        """runbooks/ttops.yaml with the `local` environment's addresses moved to this platform."""
        with open(os.path.join(RUNBOOKS, "ttops.yaml")) as f:
            text = f.read()
        ports = {SANDBOX_BASE + offset: self.sandbox.ports[name] for name, offset in SANDBOX_OFFSETS.items()}

        def move(match):
            port = int(match.group(1))
            return f"127.0.0.1:{ports.get(port, port)}"

        text = re.sub(r"127\.0\.0\.1:(\d+)", move, text)
        text = text.replace(f"postgresql://ttops@127.0.0.1:{POSTGRES_PORT}/",
                            f"postgresql://ttops:{self.postgres.password}@127.0.0.1:{self.postgres.port}/")
        text = text.replace(f"redis://127.0.0.1:{REDIS_PORT}/", f"redis://127.0.0.1:{self.redis.port}/")
        with open(path, "w") as f:
            f.write(text)
        return path


class PlatformTestCase(TtopsTestCase):
    """A test class with one local platform, started once, and `local_config` pointing at it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.platform = LocalPlatform(cls.tmp).start()
        cls.local_config = cls.platform.write_local_config(os.path.join(cls.tmp, "local.yaml"))

    @classmethod
    def tearDownClass(cls):
        cls.platform.stop()
        super().tearDownClass()
