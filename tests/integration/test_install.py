"""`cmake --install`: the binary, its kubectl names, the runbook library as the default data
directory (found from the binary's own path), the man page and the completion scripts, each where
the tools that read them look."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import RUNBOOKS, TtopsTestCase
from installed import bin_dir, clean_env, install_tree, installed

MARKER = """title: Only in the installed library
steps:
  - id: health
    http: "{{ target.url }}/health"
"""


class InstallTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = install_tree(cls.tmp)
        # A runbook only this prefix has: output that lists it came from this prefix's library,
        # not from one installed elsewhere on the machine.
        with open(installed(cls.prefix, "share/ttops/runbooks/venue/installed-marker.yaml"), "w") as f:
            f.write(MARKER)
        cls.elsewhere = tempfile.mkdtemp(dir=cls.tmp)  # a working directory without ./runbooks

    def run_installed(self, program, *args, env=None, cwd=None):
        return subprocess.run([os.path.join(bin_dir(self.prefix), program), *args], capture_output=True, text=True,
                              env=clean_env(env), cwd=cwd or self.elsewhere, timeout=120, stdin=subprocess.DEVNULL)

    def test_files_are_where_the_tools_look(self):
        for relative in ("bin/ttops", "share/ttops/runbooks/ttops.yaml", "share/ttops/runbooks/venue/high-latency.yaml",
                         "share/ttops/runbooks/procedures/health.yaml", "share/man/man1/ttops.1",
                         "share/bash-completion/completions/ttops", "share/zsh/vendor-completions/_ttops"):
            self.assertTrue(os.path.isfile(installed(self.prefix, relative)), relative)
        self.assertTrue(os.access(installed(self.prefix, "bin/ttops"), os.X_OK))
        # kubectl finds plugins by name on PATH; links keep one binary.
        for link in ("bin/kubectl-ttops", "bin/kubectl_complete-ttops", "share/bash-completion/completions/kubectl-ttops"):
            self.assertTrue(os.path.islink(installed(self.prefix, link)), link)
            self.assertEqual(os.readlink(installed(self.prefix, link)), "ttops", link)

    def test_installed_binary_reads_the_library_installed_beside_it(self):
        result = self.run_installed("ttops", "list", "venue")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"venue\s+high-latency\s+P2")
        self.assertRegex(result.stdout, r"venue\s+installed-marker\s")
        listing = json.loads(self.run_installed("ttops", "-o", "json", "list").stdout)
        library = os.path.realpath(installed(self.prefix, "share/ttops/runbooks"))
        self.assertTrue(all(os.path.realpath(r["file"]).startswith(library + os.sep) for r in listing), listing[0])

        validate = self.run_installed("ttops", "validate")
        self.assertEqual(validate.returncode, 0, validate.stderr)
        self.assertRegex(validate.stdout, r"^ok: \d+ runbooks, \d+ procedures, 1 config\n$")

    def test_the_library_can_still_be_chosen(self):
        # --runbooks, then $TTOPS_RUNBOOKS, then ./runbooks, then the installed library.
        own = self.library({"billing/health.yaml": MARKER, "ttops.yaml": "environments:\n  local: {}\n"}, "own")
        self.assertRegex(self.run_installed("ttops", "list", env={"TTOPS_RUNBOOKS": own}).stdout, r"billing\s+health")
        self.assertRegex(self.run_installed("ttops", "--runbooks", own, "list", env={"TTOPS_RUNBOOKS": RUNBOOKS}).stdout,
                         r"billing\s+health")
        here = self.run_installed("ttops", "list", cwd=os.path.dirname(own))
        self.assertIn("installed-marker", here.stdout)  # no ./runbooks there: the installed library
        os.symlink(own, os.path.join(self.elsewhere, "runbooks"))
        try:
            result = self.run_installed("ttops", "list")
            self.assertRegex(result.stdout, r"billing\s+health")
            self.assertNotIn("installed-marker", result.stdout)
        finally:
            os.unlink(os.path.join(self.elsewhere, "runbooks"))

    def test_kubectl_ttops_is_ttops_under_kubectl_name(self):
        result = self.run_installed("kubectl-ttops", "list", "venue")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, self.run_installed("ttops", "list", "venue").stdout)
        usage = self.run_installed("kubectl-ttops", "--help")
        self.assertEqual(usage.returncode, 0)
        self.assertIn("kubectl ttops", usage.stdout)
        self.assertEqual(self.run_installed("kubectl-ttops", "--version").stdout,
                         self.run_installed("ttops", "--version").stdout)

    def test_installed_man_page_and_scripts_are_the_binarys_own_output(self):
        for relative, args in (("share/man/man1/ttops.1", ["__man"]),
                               ("share/bash-completion/completions/ttops", ["completion", "bash"]),
                               ("share/zsh/vendor-completions/_ttops", ["completion", "zsh"])):
            with open(installed(self.prefix, relative)) as f:
                self.assertEqual(f.read(), self.run_installed("ttops", *args).stdout, relative)


if __name__ == "__main__":
    unittest.main()
