"""The bad-input corpus: broken runbooks (tests/cases/invalid), bad command lines
(tests/cases/bad-cli.txt, with the configs of tests/cases/bad-config), and inputs generated here
(huge files, deep nesting, binary garbage). Every one must exit 2 with a precise message
(file:line:col for a runbook), print nothing on stdout, and never crash. The count is printed and
docs/reliability.md's bad-input section holds it (TTOPS_UPDATE_DOCS=1 rewrites it)."""
import concurrent.futures
import glob
import os
import random
import re
import shlex
import unittest

from harness import RUNBOOKS, SOURCE_DIR, TtopsTestCase, run_ttops
from reliability import CRASH_MARKERS, check_doc_section

INVALID = os.path.join(SOURCE_DIR, "tests", "cases", "invalid")
BAD_CLI = os.path.join(SOURCE_DIR, "tests", "cases", "bad-cli.txt")
PROBLEM_COUNT = re.compile(r"^\d+ problems?$")

COUNTS = {}  # category -> how many inputs ran
WHOLE_FILE = {"huge.yaml"}  # a problem of the whole file has no line: `path: message`


def bad_command_lines():
    """[(line number, arguments, expected fragment)] from tests/cases/bad-cli.txt."""
    entries = []
    with open(BAD_CLI) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            args, separator, fragment = line.partition(" => ")
            assert separator, f"bad-cli.txt:{number}: no ' => ' between the arguments and the message"
            entries.append((number, shlex.split(args), fragment.strip()))
    return entries


def run_all(commands, **options):
    """Runs ttops once per argument list, a few at a time (each run is independent and mostly
    start-up, which a sanitizer build makes slow); the results in the same order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run_ttops(*args, **options), commands))


class BadInputTest(TtopsTestCase):
    def assertRefused(self, result, context):
        for marker in CRASH_MARKERS:
            self.assertNotIn(marker, result.stderr, f"{context}\n{result!r}")
        self.assertEqual(result.code, 2, f"{context}\n{result!r}")
        self.assertEqual(result.stdout, "", f"{context}: a refused input printed a report\n{result!r}")
        self.assertTrue(result.stderr.strip(), f"{context}: no message\n{result!r}")

    def assertLocated(self, result, path, context):
        """Every problem is `path:line:col: message` with line and column from 1."""
        problems = [line for line in result.stderr.splitlines() if not PROBLEM_COUNT.match(line)]
        self.assertTrue(problems, f"{context}\n{result!r}")
        for line in problems:
            match = re.match(re.escape(path) + r":(\d+):(\d+): \S", line)
            self.assertIsNotNone(match, f"{context}: not file:line:col: {line!r}")
            self.assertGreaterEqual(int(match.group(1)), 1, line)
            self.assertGreaterEqual(int(match.group(2)), 1, line)

    # --- the committed corpus ----------------------------------------------------------------

    def test_broken_runbooks(self):
        files = sorted(glob.glob(os.path.join(INVALID, "*", "*.yaml")))
        self.assertGreaterEqual(len(files), 80)
        relatives = [os.path.relpath(path, SOURCE_DIR) for path in files]
        results = run_all([("--runbooks", "runbooks", "validate", relative) for relative in relatives], cwd=SOURCE_DIR)
        for relative, result in zip(relatives, results):
            with self.subTest(file=relative):
                self.assertRefused(result, relative)
                self.assertLocated(result, relative, relative)
        COUNTS["runbooks"] = len(files)

    def test_bad_command_lines(self):
        entries = bad_command_lines()
        self.assertGreaterEqual(len(entries), 40)
        env = {"TTOPS_RUNBOOKS": "", "TTOPS_CONFIG": ""}
        results = run_all([args for _, args, _ in entries], cwd=SOURCE_DIR, env=env)
        for (number, args, fragment), result in zip(entries, results):
            with self.subTest(line=number, args=args):
                context = f"bad-cli.txt:{number}: ttops {shlex.join(args)}"
                self.assertRefused(result, context)
                self.assertIn(fragment, result.stderr, context)
                first = result.stderr.splitlines()[0]
                self.assertRegex(first, r"^(error: |[^:\s]+(:\d+:\d+)?: )", context)
        COUNTS["command lines"] = len(entries)

    # --- generated here ----------------------------------------------------------------------

    def generated(self):
        """{name: (bytes, expected fragment)}: inputs too big or too odd to commit."""
        rng = random.Random(8)  # the same garbage every run
        deep_brackets = b"title: deep\nsteps:\n  - id: a\n    http: " + b"[" * 100000 + b"\n"
        deep_maps = b"title: deep\nsteps:\n  - id: a\n    http: " + b"{a: " * 50000 + b"1" + b"}" * 50000 + b"\n"
        deep_blocks = b"title: deep\nsteps:\n  " + b"- " * 5000 + b"x\n"
        deep_expression = (b"title: deep\nsteps:\n  - id: a\n    http: http://venue/health\n    expect: ['" +
                           b"(" * 100000 + b"status" + b")" * 100000 + b" == 200']\n")
        deep_not = (b"title: deep\nsteps:\n  - id: a\n    http: http://venue/health\n    expect: ['" +
                    b"!" * 100000 + b"json']\n")
        deep_template = (b"title: deep\nsteps:\n  - id: a\n    http: \"http://venue/{{ " + b"(" * 100000 + b"1" +
                         b")" * 100000 + b" }}\"\n")
        return {
            "huge.yaml": (b"title: huge\nsteps:\n" + b"# padding\n" * 500000, "file is too large"),
            "huge-line.yaml": (b"title: " + b"x" * (3 << 20) + b"\n", "the runbook has no 'steps'"),
            "many-steps.yaml": (b"title: many\nsteps:\n" + b"".join(
                b"  - id: s%d\n    http: http://venue/%d\n    next: nowhere\n" % (i, i) for i in range(500)),
                "goes to no step"),
            "deep-flow-sequences.yaml": (deep_brackets, ""),
            "deep-flow-maps.yaml": (deep_maps, ""),
            "deep-block-sequences.yaml": (deep_blocks, ""),
            "deep-expression.yaml": (deep_expression, "nested deeper than 200 levels"),
            "deep-negation.yaml": (deep_not, "nested deeper than 200 levels"),
            "deep-template.yaml": (deep_template, "nested deeper than 200 levels"),
            "garbage.yaml": (bytes(rng.randrange(1, 256) for _ in range(65536)), ""),
            "garbage-with-nul.yaml": (bytes(rng.randrange(0, 256) for _ in range(65536)), ""),
            "utf16.yaml": ("title: utf-16\nsteps: []\n".encode("utf-16"), ""),
            "only-nul.yaml": (b"\0" * 4096, "not a text file"),
            "huge-number.yaml": (b"title: n\nsteps:\n  - id: a\n    http: http://venue/health\n    max_visits: " +
                                 b"9" * 400 + b"\n", "max_visits"),
            "huge-duration.yaml": (b"title: n\nsteps:\n  - id: a\n    http: http://venue/health\n    timeout: " +
                                   b"9" * 400 + b"s\n", "timeout"),
        }

    def test_generated_inputs(self):
        directory = os.path.join(self.tmp, "generated", "svc")
        os.makedirs(directory)
        cases = self.generated()
        for name, (data, fragment) in cases.items():
            path = os.path.join(directory, name)
            with open(path, "wb") as f:
                f.write(data)
            with self.subTest(file=name):
                result = run_ttops("--runbooks", RUNBOOKS, "validate", path)
                self.assertRefused(result, name)
                if name in WHOLE_FILE:
                    self.assertTrue(result.stderr.startswith(path + ": "), result.stderr)
                else:
                    self.assertLocated(result, path, name)
                self.assertIn(fragment, result.stderr, name)
        # Not a file at all: a link that points at itself, and a runbook that is a directory.
        odd = os.path.join(self.tmp, "generated", "odd")
        os.makedirs(os.path.join(odd, "venue", "health.yaml"))
        os.symlink("loop.yaml", os.path.join(odd, "venue", "loop.yaml"))
        with open(os.path.join(odd, "ttops.yaml"), "w") as f:
            f.write("default_environment: test\nenvironments:\n  test: {}\n")
        for args, fragment in ((["validate", os.path.join(odd, "venue", "loop.yaml")], "too many levels of symbolic links"),
                               (["runbook", "venue", "health"], "service 'venue' has no runbook 'health'")):
            with self.subTest(args=args):
                result = run_ttops("--runbooks", odd, *args)
                self.assertRefused(result, str(args))
                self.assertIn(fragment, result.stderr, str(args))
        COUNTS["generated"] = len(cases) + 2

    # --- the count -----------------------------------------------------------------------------

    def test_z_count_in_the_docs_is_what_ran(self):
        if len(COUNTS) < 3:
            self.skipTest("only part of the corpus ran")
        total = sum(COUNTS.values())
        print(f"\nbad inputs: {total} ({', '.join(f'{n} {what}' for what, n in COUNTS.items())})")
        self.assertGreaterEqual(total, 100)
        lines = ["| bad input | how many |", "|---|---|",
                 f"| broken runbooks (`tests/cases/invalid/`) | {COUNTS['runbooks']} |",
                 f"| bad command lines (`tests/cases/bad-cli.txt`) | {COUNTS['command lines']} |",
                 f"| generated by the test (huge, deep, garbage, not a file) | {COUNTS['generated']} |",
                 f"| **total** | **{total}** |", "",
                 f"All {total} exit 2 with their message and print no report; none crashes."]
        check_doc_section(self, "bad-input", "\n".join(lines), "TTOPS_UPDATE_DOCS=1 ctest -R integration.bad_input")


if __name__ == "__main__":
    unittest.main()
