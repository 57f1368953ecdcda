"""The .deb, as an operator installs it: cpack builds it from the build tree, dpkg installs it
into the real root, and the installed /usr/bin/ttops lists and validates the library installed in
/usr/share/ttops; then dpkg removes every file again.

It changes the machine, so it runs only where that is expected (as root: CI runs as root) and
never over a ttops that is already installed; sanitizer builds are not packaged (the release
build's run of the suite installs the .deb)."""
import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import TtopsTestCase
from installed import BUILD_DIR, SANITIZE, clean_env

CPACK = os.environ.get("TTOPS_CPACK") or shutil.which("cpack")
OWNED = ["/usr/bin/ttops", "/usr/bin/kubectl-ttops", "/usr/bin/kubectl_complete-ttops", "/usr/share/ttops",
         "/usr/share/man/man1/ttops.1", "/usr/share/bash-completion/completions/ttops",
         "/usr/share/zsh/vendor-completions/_ttops"]


def package_installed(name):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
    return proc.returncode == 0 and "installed" in proc.stdout.split()


def why_not():
    if SANITIZE:
        return f"this is a {SANITIZE}-sanitizer build: packages are made from release builds"
    if os.geteuid() != 0:
        return "installing a .deb needs root (CI runs as root)"
    for tool in ("dpkg", "dpkg-deb", "dpkg-shlibdeps"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not CPACK:
        return "cpack is not installed"
    if package_installed("ttops"):
        return "a ttops package is already installed on this machine; the test does not replace it"
    taken = [path for path in OWNED if os.path.lexists(path)]
    if taken:
        return f"{', '.join(taken)} already exist: the test does not overwrite them"
    return None


class PackageTest(TtopsTestCase):
    def setUp(self):
        super().setUp()
        # One package test at a time on a machine (dpkg has one database).
        self.lock = open(os.path.join(tempfile.gettempdir(), "ttops-package-test.lock"), "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.addCleanup(self.lock.close)
        reason = why_not()
        if reason:
            self.skipTest(reason)

    def run_checked(self, *args, env=None, cwd=None):
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=300, env=env, cwd=cwd,
                              stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def build_package(self):
        out = os.path.join(self.tmp, "package")
        self.run_checked(CPACK, "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", out)
        debs = glob.glob(os.path.join(out, "ttops_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(out))
        return debs[0]

    def test_dpkg_installs_a_working_ttops_and_removes_it(self):
        deb = self.build_package()
        fields = self.run_checked("dpkg-deb", "-f", deb, "Package", "Depends").stdout
        self.assertIn("Package: ttops", fields)
        # dpkg-shlibdeps found the libraries the binary links.
        for library in ("libcurl4", "libpqxx", "libhiredis", "libyaml-cpp", "libre2", "libc6"):
            self.assertRegex(fields, rf"Depends:.*\b{library}", fields)
        contents = self.run_checked("dpkg-deb", "-c", deb).stdout
        self.assertRegex(contents, r"\./usr/bin/kubectl-ttops -> ttops")
        self.assertIn("./usr/share/man/man1/ttops.1", contents)

        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        self.run_checked("dpkg", "-i", deb, env=env)
        try:
            elsewhere = tempfile.mkdtemp(dir=self.tmp)  # no ./runbooks here: the installed library
            listing = self.run_checked("/usr/bin/ttops", "list", "venue", env=clean_env(), cwd=elsewhere).stdout
            self.assertRegex(listing, r"venue\s+high-latency\s+P2")
            validate = self.run_checked("/usr/bin/ttops", "validate", env=clean_env(), cwd=elsewhere).stdout
            self.assertRegex(validate, r"^ok: \d+ runbooks, \d+ procedures, 1 config\n$")
            self.assertIn("/usr/share/ttops/runbooks/venue/high-latency.yaml",
                          self.run_checked("/usr/bin/ttops", "-o", "json", "list", env=clean_env(), cwd=elsewhere).stdout)
            plugin = self.run_checked("/usr/bin/kubectl-ttops", "list", "venue", env=clean_env(), cwd=elsewhere).stdout
            self.assertEqual(plugin, listing)
            files = self.run_checked("dpkg", "-L", "ttops").stdout.split()
            for path in OWNED:
                self.assertIn(path, files)
            if shutil.which("man"):
                where = self.run_checked("man", "-w", "ttops", env=dict(os.environ, MANPATH="/usr/share/man")).stdout
                self.assertEqual(where.strip(), "/usr/share/man/man1/ttops.1")
        finally:
            removed = subprocess.run(["dpkg", "--purge", "ttops"], capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.assertFalse(package_installed("ttops"))
        self.assertEqual([path for path in OWNED if os.path.lexists(path)], [])


if __name__ == "__main__":
    unittest.main()
