"""Golden tests, Hurl-style: each folder of tests/golden holds the exact command line (`cmd`),
optional sandbox state (`sandbox.json`), and the expected `stdout`, `stderr` and `exit_code`.
Durations and run ids are scrubbed. TTOPS_UPDATE_GOLDEN=1 rewrites the expected files."""
import json
import os
import re
import shlex
import unittest

from harness import RUNBOOKS, SOURCE_DIR, TtopsTestCase, run_ttops

GOLDEN = os.path.join(SOURCE_DIR, "tests", "golden")
CASES = os.path.join(SOURCE_DIR, "tests", "cases")
UPDATE = os.environ.get("TTOPS_UPDATE_GOLDEN") == "1"


def scrub(text, sandbox):
    text = re.sub(r"\b\d+(\.\d+)?(ms|s)\b", "<dur>", text)
    text = re.sub(r"\b\d+m\d\ds\b", "<dur>", text)
    text = re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{6}", "<run-id>", text)
    for name, port in sorted(sandbox.ports.items(), key=lambda item: -len(str(item[1]))):
        text = text.replace(f"127.0.0.1:{port}", f"<{name}>")
    text = text.replace(SOURCE_DIR + "/", "")
    return text


class GoldenTest(TtopsTestCase):
    uses_sandbox = True

    def test_cases(self):
        cases = sorted(d for d in os.listdir(GOLDEN) if os.path.isdir(os.path.join(GOLDEN, d)))
        self.assertTrue(cases)
        for case in cases:
            with self.subTest(case=case):
                self.sandbox.reset()
                folder = os.path.join(GOLDEN, case)
                state_file = os.path.join(folder, "sandbox.json")
                if os.path.exists(state_file):
                    with open(state_file) as f:
                        for service, state in json.load(f).items():
                            self.sandbox.set(service, **state)
                with open(os.path.join(folder, "cmd")) as f:
                    line = f.read().strip().format(case=folder, cases=CASES, runbooks=RUNBOOKS)
                result = run_ttops("--config", self.config, *shlex.split(line), cwd=SOURCE_DIR)
                actual = {"stdout": scrub(result.stdout, self.sandbox), "stderr": scrub(result.stderr, self.sandbox),
                          "exit_code": f"{result.code}\n"}
                for name, text in actual.items():
                    path = os.path.join(folder, name)
                    if UPDATE:
                        with open(path, "w") as f:
                            f.write(text)
                    with open(path) as f:
                        self.assertEqual(text, f.read(), f"{case}/{name} differs (TTOPS_UPDATE_GOLDEN=1 rewrites)")


if __name__ == "__main__":
    unittest.main()
