"""The in-cluster deployment (deploy/): the manifests parse (Python's YAML parser and kubectl's own
kustomize), the check account can only read and the rollback account is separate, and the exact
command lines of the Job and the CronJob run with the real ttops against the local platform, every
API request they make allowed by the RBAC rules that will apply to them in the cluster."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qs

import yaml

from harness import RUNBOOKS, SOURCE_DIR, TTOPS, TtopsTestCase
from installed import clean_env
from local_platform import PlatformTestCase

DEPLOY = os.path.join(SOURCE_DIR, "deploy")
MANIFESTS = os.path.join(DEPLOY, "kubernetes")
READ_VERBS = {"get", "list", "watch"}
NAMESPACED = {"ServiceAccount", "ConfigMap", "Secret", "Job", "CronJob", "Role", "RoleBinding"}
API_VERSIONS = {"Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "Job": "batch/v1", "CronJob": "batch/v1",
                "ClusterRole": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1"}


def manifests():
    """Every object of deploy/kubernetes/*.yaml (not the kustomization), by (kind, namespace, name)."""
    objects = {}
    for name in sorted(os.listdir(MANIFESTS)):
        if not name.endswith(".yaml") or name == "kustomization.yaml":
            continue
        with open(os.path.join(MANIFESTS, name)) as f:
            for document in yaml.safe_load_all(f):
                if document:
                    meta = document.get("metadata", {})
                    objects[(document.get("kind"), meta.get("namespace"), meta.get("name"))] = document
    return objects


def role_rules(objects, name):
    return objects[("ClusterRole", None, name)]["rules"]


def bindings(objects, role):
    return [o for (kind, _, _), o in objects.items() if kind == "RoleBinding" and o["roleRef"]["name"] == role]


def pod_spec(workload):
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def api_request(entry):
    """(verb, group, resource, namespace) as RBAC sees an API request; None for discovery, /version
    and /openapi, which every authenticated account may read."""
    parts = entry["path"].strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] + ("/" + rest[2] if len(rest) > 2 else "")
    named = len(rest) > 1
    query = parse_qs(entry.get("query") or "")
    verb = {"GET": "get" if named else ("watch" if query.get("watch", ["false"])[0] in ("true", "1") else "list"),
            "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection"}[entry["method"]]
    if resource.endswith("/exec") or resource.endswith("/attach"):
        verb = "create"  # exec over a websocket is a GET, authorized as create
    return verb, group, resource, namespace


def allows(rules, verb, group, resource):
    return any((group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
               and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
               and (verb in rule["verbs"] or "*" in rule["verbs"]) for rule in rules)


class ManifestTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.objects = manifests()

    def test_every_manifest_is_a_kubernetes_object(self):
        kinds = sorted(kind for kind, _, _ in self.objects)
        for kind in ("Namespace", "ServiceAccount", "ClusterRole", "RoleBinding", "ConfigMap", "Job", "CronJob"):
            self.assertIn(kind, kinds)
        for (kind, namespace, name), document in self.objects.items():
            with self.subTest(object=f"{kind}/{name}"):
                self.assertEqual(document["apiVersion"], API_VERSIONS.get(kind))
                self.assertTrue(name)
                self.assertEqual(document["metadata"]["labels"]["app.kubernetes.io/name"], "ttops")
                if kind in NAMESPACED:
                    self.assertTrue(namespace, "a namespaced object must say its namespace")

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not on PATH")
    def test_kubectl_kustomize_reads_them(self):
        proc = subprocess.run(["kubectl", "kustomize", MANIFESTS], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        built = [d for d in yaml.safe_load_all(proc.stdout) if d]
        with open(os.path.join(MANIFESTS, "kustomization.yaml")) as f:
            listed = yaml.safe_load(f)["resources"]
        expected = 0
        for name in listed:
            with open(os.path.join(MANIFESTS, name)) as f:
                expected += sum(1 for d in yaml.safe_load_all(f) if d)
        self.assertEqual(len(built), expected)
        self.assertNotIn("Job", [d["kind"] for d in built])  # the smoke check runs when the pipeline applies it

    def test_checks_can_only_read(self):
        rules = role_rules(self.objects, "ttops-checks")
        for rule in rules:
            self.assertLessEqual(set(rule["verbs"]), READ_VERBS, rule)
            self.assertNotIn("*", rule.get("resources", []) + rule.get("apiGroups", []))
            self.assertNotIn("secrets", rule.get("resources", []))
            self.assertFalse([r for r in rule.get("resources", []) if r.endswith("/exec")], rule)

    def test_rollback_has_its_own_account_and_role(self):
        rules = role_rules(self.objects, "ttops-rollback")
        self.assertTrue(allows(rules, "patch", "apps", "deployments"))
        self.assertFalse(allows(role_rules(self.objects, "ttops-checks"), "patch", "apps", "deployments"))
        for role, account in (("ttops-checks", "ttops-checks"), ("ttops-rollback", "ttops-rollback")):
            found = bindings(self.objects, role)
            self.assertTrue(found, role)
            for binding in found:
                self.assertEqual(binding["roleRef"]["kind"], "ClusterRole")
                self.assertEqual([s["name"] for s in binding["subjects"]], [account])
        self.assertNotIn("ClusterRoleBinding", [kind for kind, _, _ in self.objects])  # per namespace only

    def test_roles_are_granted_in_every_namespace_production_uses(self):
        with open(os.path.join(RUNBOOKS, "ttops.yaml")) as f:
            production = yaml.safe_load(f)["environments"]["production"]
        used = {production["values"]["namespace"]} | {
            s["namespace"] for s in production["services"].values() if "namespace" in s}
        for role in ("ttops-checks", "ttops-rollback"):
            self.assertEqual({b["metadata"]["namespace"] for b in bindings(self.objects, role)}, used, role)

    def test_workloads_use_the_read_only_account_and_no_privileges(self):
        for kind, name in (("Job", "ttops-smoke-check"), ("CronJob", "ttops-morning-checklist")):
            with self.subTest(workload=name):
                spec = pod_spec(self.objects[(kind, "ttops", name)])
                self.assertEqual(spec["serviceAccountName"], "ttops-checks")
                self.assertTrue(spec["securityContext"]["runAsNonRoot"])
                container = spec["containers"][0]
                self.assertEqual(container["command"], ["ttops"])
                self.assertFalse(container["securityContext"]["allowPrivilegeEscalation"])
                self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])
                volumes = {v["name"]: v for v in spec["volumes"]}
                for mount in container["volumeMounts"]:
                    self.assertIn(mount["name"], volumes)
                # KUBECONFIG (from the settings) names the file the settings' volume puts there.
                kubeconfig = self.objects[("ConfigMap", "ttops", "ttops-settings")]["data"]["KUBECONFIG"]
                mounted = [os.path.join(m["mountPath"], item["path"]) for m in container["volumeMounts"]
                           for item in volumes[m["name"]].get("configMap", {}).get("items", [])
                           if volumes[m["name"]]["configMap"]["name"] == "ttops-settings" and item["key"] == "kubeconfig"]
                self.assertEqual(mounted, [kubeconfig])
                # The writable places are the emptyDir; the root filesystem is read-only.
                home = [m["mountPath"] for m in container["volumeMounts"] if "emptyDir" in volumes[m["name"]]]
                self.assertEqual(home, ["/var/lib/ttops"])
                junit = container["args"][container["args"].index("--junit") + 1]
                self.assertEqual(os.path.dirname(junit), home[0], "ttops does not create the report's directory")
                for source in container["envFrom"]:
                    if "configMapRef" in source:
                        self.assertIn(("ConfigMap", "ttops", source["configMapRef"]["name"]), self.objects)
                    else:
                        self.assertTrue(source["secretRef"].get("optional"), "a missing secret must not block the pod")
        schedule = self.objects[("CronJob", "ttops", "ttops-morning-checklist")]["spec"]["schedule"]
        self.assertRegex(schedule, r"^(\S+ ){4}\S+$")

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not on PATH")
    def test_the_in_cluster_kubeconfig_names_the_production_context(self):
        settings = self.objects[("ConfigMap", "ttops", "ttops-settings")]["data"]
        path = os.path.join(self.tmp, "kubeconfig")
        with open(path, "w") as f:
            f.write(settings["kubeconfig"])
        proc = subprocess.run(["kubectl", "config", "current-context", "--kubeconfig", path], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(RUNBOOKS, "ttops.yaml")) as f:
            production = yaml.safe_load(f)["environments"]["production"]
        self.assertEqual(proc.stdout.strip(), production["values"]["kube_context"])
        self.assertEqual(settings["TTOPS_ENV"], "production")
        self.assertEqual(os.path.dirname(settings["KUBECONFIG"]), "/etc/ttops")

    def test_dockerfile_installs_the_deb_on_bookworm(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
        self.assertIn("debian:bookworm", bases)
        self.assertEqual(bases[-1], "debian:bookworm-slim")
        self.assertIn("scripts/install-deps", text)
        self.assertIn("cpack -G DEB", text)
        self.assertRegex(text, r"apt-get install .*/tmp/ttops_\*\.deb")
        self.assertIn('ENTRYPOINT ["ttops"]', text)
        self.assertRegex(text, re.compile(r"^USER 10001:10001$", re.MULTILINE))  # the manifests' runAsUser


class InClusterCommandsTest(PlatformTestCase):
    """The Job's and the CronJob's command lines, run as written, against the local platform, with
    the volumes they mount mapped to temporary directories."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.objects = manifests()

    def setUp(self):
        super().setUp()
        self.platform.sandbox.reset()
        self.platform.kube.reset()
        self.platform.kube.clear()

    def env(self):
        # The image's library is this repository's; its local environment stands in for production.
        return clean_env(dict(self.platform.env(), TTOPS_RUNBOOKS=RUNBOOKS, TTOPS_ENV="local",
                              TTOPS_CONFIG=self.local_config))

    def run_container(self, kind, name):
        container = pod_spec(self.objects[(kind, "ttops", name)])["containers"][0]
        # Each mounted volume is an existing, empty directory, as in the pod; nothing else is made.
        mounts = {m["mountPath"]: tempfile.mkdtemp(dir=self.tmp) for m in container["volumeMounts"]}
        args = []
        for arg in container["args"]:
            for mount, local in mounts.items():
                if arg.startswith(mount + "/"):
                    arg = local + arg[len(mount):]
            args.append(arg)
        env = self.env()
        proc = subprocess.run([TTOPS, *args], capture_output=True, text=True, timeout=180, env=env,
                              stdin=subprocess.DEVNULL)
        return args, proc

    def assertReadOnlyRbacSuffices(self):
        rules = role_rules(self.objects, "ttops-checks")
        namespaces = {b["metadata"]["namespace"] for b in bindings(self.objects, "ttops-checks")}
        seen = [api_request(entry) for entry in self.platform.kube.requests()]
        seen = [request for request in seen if request]
        for verb, group, resource, namespace in seen:
            self.assertIn(namespace, namespaces, f"{verb} {group}/{resource} outside the bound namespaces")
            self.assertTrue(allows(rules, verb, group, resource), f"ttops-checks does not allow {verb} {group}/{resource}")
        self.assertEqual(self.platform.kube.mutations(), [])
        return seen

    def assertJUnit(self, path, cases):
        root = ElementTree.parse(path).getroot()
        self.assertGreaterEqual(len(list(root.iter("testcase"))), cases)

    def test_smoke_check_job(self):
        args, proc = self.run_container("Job", "ttops-smoke-check")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertRegex(proc.stdout, r"venue\s+health\s+PASS")
        # --all checks every service: each has a health runbook.
        for service in ("event", "minting", "monitoring", "ticket"):
            self.assertRegex(proc.stdout, rf"{service}\s+health\s+PASS")
        self.assertNotIn("not checked", proc.stderr)
        self.assertJUnit(args[args.index("--junit") + 1], 5)
        self.assertReadOnlyRbacSuffices()

    def test_morning_checklist_cronjob(self):
        args, proc = self.run_container("CronJob", "ttops-morning-checklist")
        self.assertIn(proc.returncode, (0, 1), proc.stdout + proc.stderr)
        self.assertRegex(proc.stdout, r"monitoring/morning-checklist")
        self.assertJUnit(args[args.index("--junit") + 1], 1)
        seen = self.assertReadOnlyRbacSuffices()
        self.assertIn(("get", "", "pods/log", "tickettoken-monitoring"), seen)  # its log checks read the cluster

    def test_a_rollback_needs_the_rollback_role_and_it_suffices(self):
        env = self.env()
        # What an operator runs in a pod with the ttops-rollback account (the quick branch: no
        # fifteen minutes of watching first).
        proc = subprocess.run([TTOPS, "rollback", "venue", "--yes", "--mode", "quick", "--set", "window=300ms"],
                              capture_output=True, text=True, timeout=180,
                              env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        rules = role_rules(self.objects, "ttops-rollback")
        checks = role_rules(self.objects, "ttops-checks")
        requests = [r for r in map(api_request, self.platform.kube.requests()) if r]
        for verb, group, resource, namespace in requests:
            self.assertTrue(allows(rules, verb, group, resource), f"ttops-rollback does not allow {verb} {group}/{resource}")
        writes = [r for r in requests if r[0] not in READ_VERBS]
        self.assertTrue(writes, "the rollback changed nothing")
        self.assertFalse(all(allows(checks, verb, group, resource) for verb, group, resource, _ in writes))


if __name__ == "__main__":
    unittest.main()
