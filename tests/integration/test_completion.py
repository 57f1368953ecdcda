"""Shell completion as the shells run it, from the installed scripts: bash's completion function
driven with COMP_WORDS/COMP_CWORD as bash sets them (and loaded by bash-completion's own loader
when that is installed), and zsh's completion system in a real interactive zsh on a terminal.
Candidates come from the real binary (`ttops __complete`) and the real runbook library."""
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import RUNBOOKS, SERVICES, TtopsTestCase, run_ttops
from installed import bin_dir, clean_env, install_tree, installed

BASH_DRIVER = r"""
source "$1"; shift
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_ttops
printf '%s\n' "${COMPREPLY[@]}"
"""

COMMANDS = ["list", "show", "validate", "runbook", "plan", "check", "resume", "audit", "docs", "rollback",
            "completion"]


class BashCompletionTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = install_tree(cls.tmp)
        cls.script = installed(cls.prefix, "share/bash-completion/completions/ttops")
        cls.files = tempfile.mkdtemp(dir=cls.tmp)  # a working directory with known file names
        for name in ("report.xml", "notes.txt"):
            open(os.path.join(cls.files, name), "w").close()
        os.mkdir(os.path.join(cls.files, "reports"))

    def complete(self, *words, env=None):
        """COMPREPLY after bash's completion function ran for `words` (the last is under the cursor)."""
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", self.script, *words],
                              capture_output=True, text=True, timeout=60, cwd=self.files,
                              env=clean_env(env, path_first=bin_dir(self.prefix)))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        return [line for line in proc.stdout.splitlines() if line]

    def test_commands(self):
        self.assertEqual(self.complete("ttops", "run"), ["runbook"])
        self.assertEqual(sorted(self.complete("ttops", "")), sorted(COMMANDS))
        self.assertEqual(self.complete("ttops", "ro"), ["rollback"])
        self.assertEqual(self.complete("ttops", "audit", ""), ["verify"])

    def test_services_and_runbooks_from_the_library(self):
        self.assertEqual(self.complete("ttops", "runbook", "ven"), ["venue"])
        self.assertEqual(self.complete("ttops", "runbook", "venue", "hi"), ["high-latency"])
        self.assertEqual(self.complete("ttops", "show", "venue/hi"), ["venue/high-latency"])
        self.assertEqual(self.complete("ttops", "runbook", "--dry-run", "-y", "venue", "hi"), ["high-latency"])
        self.assertEqual(sorted(self.complete("ttops", "check", "")), sorted(SERVICES))
        self.assertEqual(self.complete("ttops", "plan", "minting", "rollback-"),
                         ["rollback-emergency", "rollback-quick", "rollback-with-db"])
        names = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(self.prefix, "share/ttops/runbooks/venue")))
        self.assertEqual(sorted(self.complete("ttops", "runbook", "venue", "")), names)
        # A runbook fills both positionals: nothing more to offer, and no file names either.
        self.assertEqual(self.complete("ttops", "runbook", "venue", "high-latency", ""), [])

    def test_the_library_on_the_command_line_or_in_the_environment(self):
        own = self.library({"billing/health.yaml": "title: x\nsteps: []\n"}, "own")
        self.assertEqual(self.complete("ttops", "--runbooks", own, "list", ""), ["billing"])
        self.assertEqual(self.complete("ttops", "list", "", env={"TTOPS_RUNBOOKS": own}), ["billing"])

    def test_flags(self):
        flags = self.complete("ttops", "check", "--")
        for flag in ("--junit", "--all", "--wait-ready", "--dry-run", "--yes", "--fail-on", "--help"):
            self.assertIn(flag, flags)
        for flag in ("--env", "--runbooks", "--output", "--context"):  # global flags work after the command too
            self.assertIn(flag, flags)
        self.assertNotIn("--symptom", flags)  # list's, not check's
        self.assertEqual(self.complete("ttops", "list", "--sy"), ["--symptom"])
        self.assertIn("-y", self.complete("ttops", "runbook", "-"))

    def test_flag_values(self):
        self.assertEqual(sorted(self.complete("ttops", "-o", "")), sorted(["text", "json", "junit", "markdown", "prometheus"]))
        self.assertEqual(sorted(self.complete("ttops", "show", "venue", "health", "--format", "")), ["dot", "mermaid", "page"])
        self.assertEqual(self.complete("ttops", "--env", "pro"), ["production"])
        self.assertEqual(self.complete("ttops", "completion", ""), ["bash", "zsh"])
        self.assertEqual(self.complete("ttops", "check", "--fail-on", "w"), ["warning"])
        # bash splits `--env=pro` at '=': the candidate replaces only the part after it.
        self.assertEqual(self.complete("ttops", "--env", "=", "pro"), ["production"])
        self.assertIn("=production", self.complete("ttops", "--env", "="))
        # --set offers the runbook's parameters, ready for a value.
        sets = self.complete("ttops", "runbook", "venue", "high-latency", "--set", "")
        self.assertTrue(sets and all(s.endswith("=") for s in sets), sets)

    def test_file_and_directory_values(self):
        self.assertEqual(sorted(self.complete("ttops", "check", "--junit", "")), ["notes.txt", "report.xml", "reports"])
        self.assertEqual(self.complete("ttops", "check", "--junit", "rep"), ["report.xml", "reports"])
        self.assertEqual(self.complete("ttops", "--runbooks", ""), ["reports"])
        self.assertEqual(sorted(self.complete("ttops", "validate", "")), ["notes.txt", "report.xml", "reports"])
        self.assertEqual(self.complete("ttops", "check", "--wait-ready", ""), [])  # a duration: no file names

    def test_kubectl_ttops_completes_the_same(self):
        self.assertEqual(self.complete("kubectl-ttops", "runbook", "venue", "hi"), ["high-latency"])

    def test_cobra_protocol_for_kubectl(self):
        result = run_ttops("__complete", "runbook", "ven", env={"TTOPS_RUNBOOKS": RUNBOOKS})
        self.assertExit(result, 0)
        self.assertEqual(result.stdout, "venue\n:4\n")
        result = run_ttops("__complete", "check", "--ju")
        self.assertEqual(result.stdout.splitlines()[-1], ":4")
        self.assertTrue(result.stdout.startswith("--junit\t"), result.stdout)
        self.assertEqual(run_ttops("__complete", "check", "--junit", "").stdout, ":0\n")  # files
        # Nonsense is no reason to fail: the shell just gets nothing.
        odd = run_ttops("__complete", "--env", "--", "nosuch", "x", "", "")
        self.assertExit(odd, 0)
        self.assertEqual(odd.stderr, "")

    @unittest.skipUnless(os.path.exists("/usr/share/bash-completion/bash_completion"),
                         "bash-completion is not installed (scripts/install-deps installs it)")
    def test_bash_completion_loads_the_installed_script_by_itself(self):
        # bash-completion looks in <each $XDG_DATA_DIRS>/bash-completion/completions/<command>
        # (/usr/share among them by default, where the .deb puts it).
        driver = ('source /usr/share/bash-completion/bash_completion; '
                  'for command in ttops kubectl-ttops; do __load_completion $command || exit 9; done; '
                  'complete -p ttops kubectl-ttops; COMP_WORDS=(ttops runbook venue hi); COMP_CWORD=3; _ttops; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver], capture_output=True, text=True,
                              timeout=60, env=clean_env({"XDG_DATA_DIRS": installed(self.prefix, "share"),
                                                         "HOME": self.files}, path_first=bin_dir(self.prefix)))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(proc.stdout.splitlines(),
                         ["complete -F _ttops ttops", "complete -F _ttops kubectl-ttops", "high-latency"])


class ZshTerminal:
    """An interactive zsh on a pseudo-terminal, with compinit and the installed _ttops on $fpath.
    compadd is wrapped so that what completion offers is also written to a file."""

    def __init__(self, directory, fpath_dir, env):
        self.directory = directory
        self.offered = os.path.join(directory, "offered")
        with open(os.path.join(directory, ".zshrc"), "w") as f:
            f.write(f"""
fpath=({fpath_dir} $fpath)
autoload -Uz compinit && compinit -u -d {directory}/zcompdump
compadd() {{
  # Calls that collect matches into arrays (-O, -A, -D) are the completion system's own business.
  if [[ ${{@[1,(i)(-|--)]}} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return; fi
  local -a __offered
  builtin compadd -O __offered "$@"
  (( $#__offered )) && print -rl -- $__offered >> {self.offered}
  builtin compadd "$@"
}}
PS1='ready> '
""")
        env = dict(env, ZDOTDIR=directory, TERM="dumb", HOME=directory)
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(["zsh", "-i"], stdin=slave, stdout=slave, stderr=slave, env=env,
                                        cwd=directory, start_new_session=True)
        os.close(slave)
        self.screen = b""
        self.read_until(b"ready> ")

    def read_until(self, marker, timeout=20):
        deadline = time.monotonic() + timeout
        while marker not in self.screen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"zsh did not show {marker!r}:\n{self.screen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096)
                except OSError:
                    break

    def complete(self, line, timeout=20):
        """What zsh offers for `line` followed by TAB."""
        if os.path.exists(self.offered):
            os.unlink(self.offered)
        os.write(self.master, line.encode() + b"\t")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_until(b"", timeout=0.1)
            if os.path.exists(self.offered) and os.path.getsize(self.offered) > 0:
                time.sleep(0.3)  # let one completion finish writing
                break
        os.write(self.master, b"\x15")  # Ctrl-U: clear the line for the next test
        if not os.path.exists(self.offered):
            return []
        with open(self.offered) as f:
            return sorted(set(f.read().split()))

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        os.close(self.master)


@unittest.skipUnless(shutil.which("zsh"), "zsh is not installed (scripts/install-deps installs it)")
class ZshCompletionTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = install_tree(cls.tmp)
        cls.script = installed(cls.prefix, "share/zsh/vendor-completions/_ttops")
        cls.zsh = ZshTerminal(tempfile.mkdtemp(dir=cls.tmp), os.path.dirname(cls.script),
                              clean_env(path_first=bin_dir(cls.prefix)))

    @classmethod
    def tearDownClass(cls):
        cls.zsh.close()
        super().tearDownClass()

    def test_script_parses(self):
        proc = subprocess.run(["zsh", "-n", self.script], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_commands_services_runbooks_and_flags(self):
        self.assertEqual(self.zsh.complete("ttops run"), ["runbook"])
        self.assertEqual(self.zsh.complete("ttops runbook ven"), ["venue"])
        self.assertEqual(self.zsh.complete("ttops runbook venue hi"), ["high-latency"])
        self.assertIn("--junit", self.zsh.complete("ttops check --j"))
        self.assertEqual(self.zsh.complete("ttops --env=pro"), ["--env=production"])


if __name__ == "__main__":
    unittest.main()
