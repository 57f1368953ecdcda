"""ttops(1) is rendered from the same command definitions as --help: every command, flag and
positional `--help` shows is in the page with its description, and groff and man render it without
a warning."""
import os
import re
import shutil
import subprocess
import unittest

from harness import TtopsTestCase, run_ttops

FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def help_entries(text):
    """(section, names, description) for each entry of a CLI11 --help: Options, Positionals,
    Subcommands."""
    entries, section = [], None
    for line in text.splitlines():
        heading = re.match(r"^(\w+):$", line)
        if heading:
            section = heading.group(1)
            continue
        entry = re.match(r"^  (\S.*?)(?:\s{2,}(\S.*))?$", line)
        if section and entry:
            entries.append((section, entry.group(1), (entry.group(2) or "").strip()))
    return entries


def unroff(text):
    """The words of roff source: fonts and escapes removed."""
    text = re.sub(r"\\\[u([0-9A-F]{4,5})\]", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
    return re.sub(r"\s+", " ", text)


def command_sections(page):
    """roff source of each `.SS "ttops COMMAND"` block, by command path ("list", "audit verify")."""
    sections = {}
    for block in page.split('\n.SS "')[1:]:
        title = block.split('"', 1)[0]
        sections[title.split(" ", 1)[1]] = block
    return sections


class ManPageTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        result = run_ttops("__man")
        assert result.code == 0, repr(result)
        cls.page = result.stdout
        cls.path = os.path.join(cls.tmp, "ttops.1")
        with open(cls.path, "w") as f:
            f.write(cls.page)

    def help(self, *command):
        result = run_ttops(*command, "--help")
        self.assertExit(result, 0)
        return result.stdout

    def assertDocumented(self, help_text, section_text, where):
        words = unroff(section_text)
        for section, names, description in help_entries(help_text):
            with self.subTest(command=where, entry=names):
                if section == "Subcommands":
                    # A nested command has its own section, with its description.
                    words = unroff(command_sections(self.page)[f"{where} {names}"])
                else:
                    for flag in FLAG.findall(names.split(" ")[0] if section == "Options" else ""):
                        self.assertIn(flag, words)
                    if section == "Positionals":
                        self.assertIn(names.split(" ")[0], words)
                if description:
                    self.assertIn(re.sub(r"\s+", " ", description), words)

    def test_every_global_flag_and_command_of_help_is_in_the_page(self):
        text = self.help()
        top = self.page.split(".SH COMMANDS")[0]
        commands = [names for section, names, _ in help_entries(text) if section == "Subcommands"]
        self.assertIn("runbook", commands)
        self.assertIn("check", commands)
        self.assertIn("completion", commands)
        for hidden in ("__complete", "__man"):  # the hidden entry points stay hidden
            self.assertNotIn(hidden, text)
            self.assertNotIn(f'.SS "ttops {hidden}', self.page)
        words = unroff(top)
        for section, names, description in help_entries(text):
            if section == "Options":
                for flag in FLAG.findall(names.split(" ")[0]):
                    self.assertIn(flag, words)
                self.assertIn(re.sub(r"\s+", " ", description), words)
        sections = command_sections(self.page)
        self.assertEqual(sorted(c for c in sections if " " not in c), sorted(commands))

    def test_every_flag_of_every_command_is_in_its_section(self):
        sections = command_sections(self.page)
        for path, section in sections.items():
            self.assertDocumented(self.help(*path.split(" ")), section, path)

    def test_exit_codes_are_documented(self):
        text = unroff(self.page.split('.SH "EXIT STATUS"')[1])
        for code in ("0 passed", "1 a check failed", "2 usage", "70 internal error", "130 interrupted"):
            self.assertIn(code, text)

    @unittest.skipUnless(shutil.which("groff"), "groff is not installed (Debian groff-base)")
    def test_groff_renders_it_without_warnings(self):
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", self.path], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        text = proc.stdout.replace("\u2212", "-").replace("\u2010", "-")
        for expected in ("NAME", "ttops - executable, checked runbooks", "SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS",
                         "ttops runbook", "--dry-run", "ttops check", "--junit", "EXIT STATUS", "TTOPS_RUNBOOKS"):
            self.assertIn(expected, text)
        self.assertNotRegex(text, r"\\[f(\[]", "a roff escape was printed literally")

    @unittest.skipUnless(shutil.which("man"), "man is not installed (Debian man-db)")
    def test_man_shows_it(self):
        env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100", MAN_KEEP_FORMATTING="0")
        proc = subprocess.run(["man", "--warnings", "-l", self.path], capture_output=True, text=True, env=env,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        text = re.sub(".\b", "", proc.stdout)  # bold and underline are overstrikes on a pipe
        self.assertRegex(text, r"^TTOPS\(1\)")
        self.assertIn("kubectl ttops", text)


if __name__ == "__main__":
    unittest.main()
