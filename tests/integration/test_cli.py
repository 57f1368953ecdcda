"""The command line as users meet it: list, show, validate, bad input, exit codes."""
import glob
import json
import os
import re
import unittest

from harness import RUNBOOKS, SOURCE_DIR, TtopsTestCase, run_ttops

INVALID = os.path.join(SOURCE_DIR, "tests", "cases", "invalid")
UPDATE = os.environ.get("TTOPS_UPDATE_GOLDEN") == "1"
LOCATION = re.compile(r"^[^:]+\.yaml:\d+:\d+: \S")


class ValidateTest(TtopsTestCase):
    def test_library_is_clean(self):
        result = run_ttops("--runbooks", RUNBOOKS, "validate")
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"^ok: \d+ runbooks?, \d+ procedures?, 1 config\n$")
        self.assertEqual(result.stderr, "")

    def test_every_broken_runbook_is_reported_with_file_line_col(self):
        files = sorted(glob.glob(os.path.join(INVALID, "*", "*.yaml")))
        self.assertGreaterEqual(len(files), 20)
        for path in files:
            with self.subTest(file=os.path.basename(path)):
                result = run_ttops("--runbooks", RUNBOOKS, "validate", path)
                self.assertExit(result, 2)
                problems = [line for line in result.stderr.splitlines() if not re.match(r"^\d+ problems?$", line)]
                self.assertTrue(problems, repr(result))
                for line in problems:
                    self.assertRegex(line, LOCATION)
                    self.assertTrue(line.startswith(path + ":"), line)
                self.assertNotIn("internal error", result.stderr)

    def test_broken_corpus_matches_the_golden_text(self):
        # Relative paths: the golden text must not depend on where the repository is checked out.
        result = run_ttops("--runbooks", "runbooks", "validate", "tests/cases/invalid", cwd=SOURCE_DIR)
        self.assertExit(result, 2)
        golden = os.path.join(INVALID, "expected.txt")
        if UPDATE:
            with open(golden, "w") as f:
                f.write(result.stderr)
        with open(golden) as f:
            self.assertEqual(result.stderr, f.read())

    def test_json_output_lists_problems(self):
        result = run_ttops("--runbooks", RUNBOOKS, "-o", "json", "validate", os.path.join(INVALID, "svc", "unknown-key.yaml"))
        self.assertExit(result, 2)
        doc = result.json()
        self.assertFalse(doc["valid"])
        self.assertEqual(doc["problems"][0]["line"], 5)
        self.assertEqual(doc["problems"][0]["column"], 5)

    def test_missing_path(self):
        result = run_ttops("validate", "/nonexistent/runbook.yaml")
        self.assertExit(result, 2)
        self.assertIn("no such file or directory", result.stderr)

    def test_nothing_runs_from_an_invalid_runbook(self):
        lib = self.library({"venue/broken.yaml": "title: x\nsteps:\n  - id: a\n    http: http://127.0.0.1:9/\n"
                                                 "    expect: [status = 200]\n"})
        result = self.ttops("runbook", "venue", "broken", library=lib)
        self.assertExit(result, 2)
        self.assertIn("broken.yaml:5:21: expression: use ==", result.stderr)
        self.assertEqual(result.stdout, "")


class LibraryCacheTest(TtopsTestCase):
    """list and validate reuse their work while nothing in the library changed, and only then."""

    def test_a_change_to_any_file_is_seen(self):
        lib = self.library({"venue/a.yaml": "title: A\nsteps:\n  - id: a\n    http: http://127.0.0.1:9/\n",
                            "ttops.yaml": "environments:\n  test: {}\n"})
        env = {"TTOPS_CACHE_DIR": os.path.join(self.tmp, "cache")}
        first = run_ttops("--runbooks", lib, "list", env=env)
        self.assertIn("venue    a ", first.stdout)
        self.assertEqual(run_ttops("--runbooks", lib, "list", env=env).stdout, first.stdout)  # from the cache
        with open(os.path.join(lib, "venue", "b.yaml"), "w") as f:
            f.write("title: B\nsteps:\n  - id: b\n    http: http://127.0.0.1:9/\n")
        self.assertIn("venue    b ", run_ttops("--runbooks", lib, "list", env=env).stdout)
        self.assertExit(run_ttops("--runbooks", lib, "validate", env=env), 0)
        with open(os.path.join(lib, "venue", "b.yaml"), "a") as f:
            f.write("    expct: [status == 200]\n")
        broken = run_ttops("--runbooks", lib, "validate", env=env)
        self.assertExit(broken, 2)
        self.assertIn("b.yaml:5:5: unknown key 'expct'", broken.stderr)
        self.assertExit(run_ttops("--runbooks", lib, "validate", env=env), 2)  # the cached verdict is the same
        self.assertTrue(os.listdir(env["TTOPS_CACHE_DIR"]), "the cache was written")


class CommandLineTest(TtopsTestCase):
    def test_list_table_and_json(self):
        result = run_ttops("--runbooks", RUNBOOKS, "list")
        self.assertExit(result, 0)
        self.assertRegex(result.stdout.splitlines()[0], r"^SERVICE\s+RUNBOOK\s+SEVERITY\s+TITLE$")
        result = run_ttops("--runbooks", RUNBOOKS, "-o", "json", "list")
        self.assertExit(result, 0)
        runbooks = result.json()
        self.assertTrue(runbooks)
        for runbook in runbooks:
            for key in ("service", "name", "title", "severity", "covers"):
                self.assertIn(key, runbook)

    def test_the_command_is_found_past_global_options_and_their_values(self):
        # Only the command being run defines its flags: a global option's value that names another
        # command ("list") must not be taken for the command, or show's --set would be unknown.
        for global_args in (["--kubectl", "list"], ["-n", "list", "-v"], ["--kubectl=list", "-ojson"]):
            result = run_ttops(*global_args, "--runbooks", RUNBOOKS, "show", "venue", "health", "--set", "x=1")
            self.assertNotIn("not expected", result.stderr, global_args)
            self.assertIn("venue/health", result.stdout + result.stderr, global_args)
        # Flags of another command are still refused, with CLI11's message.
        result = run_ttops("--runbooks", RUNBOOKS, "list", "--yes")
        self.assertExit(result, 2)
        self.assertIn("not expected: --yes", result.stderr)

    def test_list_unknown_service_suggests(self):
        result = run_ttops("--runbooks", RUNBOOKS, "list", "venu")
        self.assertExit(result, 2)
        self.assertIn("did you mean 'venue'", result.stderr)

    def test_unknown_command_suggests(self):
        result = run_ttops("lsit")
        self.assertExit(result, 2)
        self.assertIn("unknown command 'lsit' (did you mean 'list'?)", result.stderr)

    def test_unknown_runbook_suggests(self):
        result = run_ttops("--runbooks", RUNBOOKS, "runbook", "venue", "helth")
        self.assertExit(result, 2)
        self.assertIn("service 'venue' has no runbook 'helth' (did you mean 'health'?)", result.stderr)

    def test_unknown_environment_and_parameter(self):
        result = run_ttops("--runbooks", RUNBOOKS, "--env", "prodution", "runbook", "venue", "health")
        self.assertExit(result, 2)
        self.assertIn("unknown environment 'prodution' (did you mean 'production'?)", result.stderr)
        result = run_ttops("--runbooks", RUNBOOKS, "runbook", "venue", "health", "--set", "nope=1")
        self.assertExit(result, 2)
        self.assertIn("has no parameter 'nope'", result.stderr)
        result = run_ttops("--runbooks", RUNBOOKS, "runbook", "venue", "health", "--set", "novalue")
        self.assertExit(result, 2)
        self.assertIn("--set expects KEY=VALUE", result.stderr)

    def test_bad_flags_are_usage_errors(self):
        for args in (["--concurrency", "0", "list"], ["-o", "yaml", "list"], ["runbook"], ["--bogus", "list"]):
            with self.subTest(args=args):
                result = run_ttops("--runbooks", RUNBOOKS, *args)
                self.assertExit(result, 2)
                self.assertTrue(result.stderr.startswith("error: "), repr(result))

    def test_help_and_version(self):
        result = run_ttops("--help")
        self.assertExit(result, 0)
        self.assertIn("Exit codes:", result.stdout)
        result = run_ttops("--version")
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"^ttops \d+\.\d+\.\d+\n$")

    def test_show_expands_templates_for_the_environment(self):
        result = run_ttops("--runbooks", RUNBOOKS, "--env", "production", "show", "venue", "health")
        self.assertExit(result, 0)
        self.assertIn("$ GET http://venue-service:3002/health", result.stdout)
        self.assertNotIn("{{", result.stdout)

    def test_titles_read_as_this_run(self):
        lib = self.library({"venue/greet.yaml": """title: Greet
params:
  name: {default: world}
steps:
  - id: hello
    title: "Say hello to {{ params.name }}"
    exec: {command: [echo, "{{ params.name }}"]}
  - id: after
    title: "Hello said {{ steps.hello.stdout }}"
    exec: {command: ["true"]}
"""})
        result = self.ttops("runbook", "venue", "greet", "--set", "name=bob", library=lib)
        self.assertExit(result, 0)
        self.assertIn("Say hello to bob", result.stdout)
        self.assertIn("Hello said bob", result.stdout)
        shown = self.ttops("show", "venue", "greet", library=lib)
        self.assertExit(shown, 0)
        self.assertIn("Say hello to world", shown.stdout)
        self.assertIn("Hello said {{ steps.hello.stdout }}", shown.stdout)  # not known before the run

    def test_no_library(self):
        result = run_ttops("--runbooks", "/nonexistent", "list")
        self.assertExit(result, 2)
        self.assertIn("is not a directory", result.stderr)

    def test_mutation_without_terminal_or_yes_is_refused_before_anything_runs(self):
        lib = self.library({"minting/pause.yaml": """title: pause
steps:
  - id: first
    http: http://127.0.0.1:9/never
  - id: pause
    http: {url: "http://127.0.0.1:9/admin/queue/pause", method: POST}
    confirm: Pause all minting?
"""})
        result = self.ttops("runbook", "minting", "pause", library=lib)
        self.assertExit(result, 3)
        self.assertIn("pause (mutate)", result.stderr)
        self.assertIn("--yes", result.stderr)
        self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    unittest.main()
