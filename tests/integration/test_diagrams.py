"""Flow diagrams drawn by the real Graphviz: `ttops show SERVICE RUNBOOK --format dot` for every
runbook of the library, rendered with `dot -Tsvg`, must give valid SVG showing every decision
branch the YAML holds."""
import os
import re
import shutil
import subprocess
import unittest
import xml.etree.ElementTree as ElementTree

import yaml

from harness import RUNBOOKS, TtopsTestCase, run_ttops

SVG = "{http://www.w3.org/2000/svg}"


def words(text):
    return re.sub(r"\s+", " ", str(text)).strip()


def decision_labels(path):
    """What the YAML's decision steps branch on: each case's condition, and the default."""
    with open(path) as f:
        document = yaml.safe_load(f)
    labels = []
    for step in document.get("steps") or []:
        decide = step.get("decide") if isinstance(step, dict) else None
        if not isinstance(decide, dict):
            continue
        labels += [words(case["when"]) for case in decide.get("cases") or [] if "when" in case]
        if "default" in decide:
            labels.append("otherwise")
    return labels


@unittest.skipUnless(shutil.which("dot"), "Graphviz (dot) is not installed: scripts/install-deps installs graphviz")
class GraphvizTest(TtopsTestCase):
    def runbooks(self):
        listing = run_ttops("--runbooks", RUNBOOKS, "-o", "json", "list")
        self.assertExit(listing, 0)
        return listing.json()

    def render(self, service, name):
        dot = run_ttops("--runbooks", RUNBOOKS, "show", service, name, "--format", "dot")
        self.assertExit(dot, 0)
        svg = subprocess.run(["dot", "-Tsvg"], input=dot.stdout, capture_output=True, text=True, timeout=60)
        self.assertEqual(svg.returncode, 0, f"dot failed on {service}/{name}:\n{svg.stderr}\n{dot.stdout}")
        self.assertEqual(svg.stderr, "", f"dot warned on {service}/{name}")
        return ElementTree.fromstring(svg.stdout)

    def test_every_runbook_renders_to_svg_with_its_branches(self):
        runbooks = self.runbooks()
        self.assertGreaterEqual(len(runbooks), 50)
        decisions = 0
        for runbook in runbooks:
            service, name = runbook["service"], runbook["name"]
            with self.subTest(runbook=f"{service}/{name}"):
                root = self.render(service, name)
                self.assertEqual(root.tag, SVG + "svg")
                texts = [words(t.text or "") for t in root.iter(SVG + "text")]
                self.assertIn("start", texts)
                self.assertIn("end", texts)
                labels = decision_labels(os.path.join(RUNBOOKS, service, name + ".yaml"))
                for label in labels:
                    # Labels longer than a line are cut with an ellipsis; their start must be there.
                    self.assertTrue(any(t.startswith(label[:60]) for t in texts),
                                    f"branch '{label}' is not in the SVG of {service}/{name}: {texts}")
                decisions += len(labels)
        self.assertGreater(decisions, 20, "the library's decision trees were not found")

    def test_mermaid_has_the_same_branches(self):
        result = run_ttops("--runbooks", RUNBOOKS, "show", "minting", "sev2", "--format", "mermaid")
        self.assertExit(result, 0)
        self.assertTrue(result.stdout.startswith("flowchart TD\n"), result.stdout)
        labels = decision_labels(os.path.join(RUNBOOKS, "minting", "sev2.yaml"))
        self.assertGreaterEqual(len(labels), 3)
        for label in labels:
            escaped = label[:40].replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            self.assertIn(escaped, result.stdout)

if __name__ == "__main__":
    unittest.main()
