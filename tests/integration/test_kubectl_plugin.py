"""ttops as a kubectl plugin, through the real kubectl's plugin discovery: the installed
kubectl-ttops on PATH is listed by `kubectl plugin list`, `kubectl ttops …` runs it against the
local test platform (stand-in services, PostgreSQL, Redis, the Kubernetes API fixture), and
kubectl's own completion asks kubectl_complete-ttops for candidates."""
import os
import shutil
import subprocess
import unittest

from installed import bin_dir, clean_env, install_tree
from local_platform import PlatformTestCase


@unittest.skipUnless(shutil.which("kubectl"), "kubectl is not on PATH")
class KubectlPluginTest(PlatformTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = install_tree(cls.tmp)

    def setUp(self):
        super().setUp()
        self.platform.sandbox.reset()
        self.platform.sandbox.set("venue", healthy=True)
        self.platform.kube.reset()

    def kubectl(self, *args, env=None):
        # The installed bin directory first on PATH, as after `apt install ./ttops_*.deb` or
        # `cmake --install --prefix ~/.local` with ~/.local/bin on PATH.
        extra = dict(self.platform.env(), TTOPS_CONFIG=self.local_config, TTOPS_ENV="local", **(env or {}))
        return subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, env=clean_env(extra, path_first=bin_dir(self.prefix)),
                              cwd=self.tmp)

    def test_plugin_list_shows_it(self):
        result = self.kubectl("plugin", "list", "--name-only")
        self.assertIn("kubectl-ttops", result.stdout.split(), result.stdout + result.stderr)
        result = self.kubectl("plugin", "list")
        self.assertIn(os.path.join(bin_dir(self.prefix), "kubectl-ttops"), result.stdout)

    def test_kubectl_ttops_list(self):
        result = self.kubectl("ttops", "list", "venue")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"venue\s+high-latency\s+P2")

    def test_kubectl_ttops_check_venue(self):
        result = self.kubectl("ttops", "check", "venue")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"^SERVICE\s+RUNBOOK\s+STATUS")
        self.assertRegex(result.stdout, r"venue\s+health\s+PASS\s+2/2")

    def test_a_failed_check_is_kubectls_exit_code(self):
        self.platform.sandbox.set("venue", healthy=False)
        result = self.kubectl("ttops", "check", "venue")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"venue\s+health\s+FAIL")

    def test_kubectl_steps_reach_the_cluster_of_the_kubeconfig(self):
        # The plugin inherits kubectl's environment: its own kubectl steps use the same KUBECONFIG.
        self.platform.kube.clear()
        result = self.kubectl("ttops", "runbook", "venue", "not-starting", "--dry-run")
        self.assertIn(result.returncode, (0, 1), result.stdout + result.stderr)
        paths = [r["path"] for r in self.platform.kube.requests()]
        self.assertTrue(any("/namespaces/tickettoken/pods" in p for p in paths), paths)

    def test_kubectl_completion_asks_the_plugin(self):
        result = self.kubectl("__complete", "ttops", "runbook", "venue", "hi")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines()[0], "high-latency")
        self.assertIn("ttops", self.kubectl("__complete", "tto").stdout.split())


if __name__ == "__main__":
    unittest.main()
