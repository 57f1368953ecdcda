"""The Kubernetes API fixture (tests/fixtures/kube) for integration tests: the real kubectl talks
to it through the kubeconfig it writes, and it records every mutating request.

    kube = KubeFixture(directory).start()
    run_ttops(..., env=kube.env())
    kube.mutations()        # what kubectl changed (each entry has dry_run)
    kube.stop()             # always, in tearDown/tearDownClass
"""
import json
import os
import subprocess
import urllib.request

from harness import FIXTURES, TtopsTestCase, http, python3, wait_for_file


class KubeFixture:
    def __init__(self, directory, rollout_delay=0.2):
        self.directory = directory
        self.rollout_delay = rollout_delay
        self.process = None
        self.port = None
        self.kubeconfig = os.path.join(directory, "kubeconfig")

    def start(self):
        port_file = os.path.join(self.directory, "kube-port")
        self.log = open(os.path.join(self.directory, "kube-fixture.log"), "w")
        self.process = subprocess.Popen(
            [python3(), os.path.join(FIXTURES, "kube", "kube_fixture.py"), "--port", "0",
             "--kubeconfig-out", self.kubeconfig, "--port-file", port_file,
             "--rollout-delay", str(self.rollout_delay)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_file(port_file, self.process)
            wait_for_file(self.kubeconfig, self.process)
            with open(port_file) as f:
                self.port = int(f.read().strip())
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()
            self.process = None

    def env(self):
        """The environment for ttops: kubectl finds the fixture through KUBECONFIG."""
        return {"KUBECONFIG": self.kubeconfig}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def control(self, method, what, body=None):
        return http(method, f"{self.url}/_fixture/{what}", body)

    def reset(self):
        self.control("POST", "reset")

    def clear(self):
        self.control("DELETE", "mutations")
        self.control("DELETE", "requests")

    def mutations(self):
        return self.control("GET", "mutations")

    def requests(self):
        return self.control("GET", "requests")

    def rollout(self, deployment, mode, namespace="tickettoken", **options):
        """The deployment's next rollout completes, hangs or fails."""
        self.control("POST", "rollout", dict(namespace=namespace, deployment=deployment, mode=mode, **options))

    def deployment(self, name, namespace="tickettoken"):
        with urllib.request.urlopen(f"{self.url}/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                                    timeout=10) as response:
            return json.loads(response.read())

    def image(self, name, namespace="tickettoken"):
        return self.deployment(name, namespace)["spec"]["template"]["spec"]["containers"][0]["image"]

    def revision(self, name, namespace="tickettoken"):
        return self.deployment(name, namespace)["metadata"]["annotations"]["deployment.kubernetes.io/revision"]


def processes_using(kubeconfig):
    """Pids of live processes whose environment names this kubeconfig: the kubectl processes a
    test started. Zombies count as live (nothing may be left unreaped either)."""
    found = []
    marker = f"KUBECONFIG={kubeconfig}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


class KubeTestCase(TtopsTestCase):
    """One fixture per test module, reset before each test; with `uses_sandbox`, the stand-in
    HTTP services too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.kube = KubeFixture(cls.tmp).start()
        except Exception:
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.kube.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.kube.reset()

    def ttops(self, *args, env=None, **kwargs):
        full_env = self.kube.env()
        full_env.update(env or {})
        return super().ttops(*args, env=full_env, **kwargs)

    def assertNoKubectlLeft(self):
        self.assertEqual(processes_using(self.kube.kubeconfig), [], "kubectl processes left behind")

    def real_mutations(self):
        return [m for m in self.kube.mutations() if not m["dry_run"]]
