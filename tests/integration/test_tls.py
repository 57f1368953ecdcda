"""TLS: certificates are verified by default; a CA bundle or an explicit --insecure changes that."""
import os
import ssl
import subprocess
import unittest

from harness import TtopsTestCase
from health_server import HealthServer

RUNBOOK = """title: TLS health
timeout: 5s
steps:
  - id: health
    http: "{{ params.url }}/health"
    expect: [status == 200]
params:
  url: {description: the HTTPS base URL}
"""


class TlsTest(TtopsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        cls.key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", cls.key, "-out", cls.cert], check=True, capture_output=True)
        cls.server = HealthServer()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cls.cert, cls.key)
        cls.server.socket = context.wrap_socket(cls.server.socket, server_side=True)
        cls.server.start()
        cls.url = f"https://127.0.0.1:{cls.server.port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()

    def setUp(self):
        self.lib = self.library({"venue/tls.yaml": RUNBOOK})

    def test_self_signed_certificate_is_rejected_by_default(self):
        result = self.ttops("runbook", "venue", "tls", "--set", f"url={self.url}", library=self.lib)
        self.assertExit(result, 1)
        self.assertIn("TLS error with 127.0.0.1", result.stdout)

    def test_ca_bundle_makes_it_trusted(self):
        result = self.ttops("--cacert", self.cert, "runbook", "venue", "tls", "--set", f"url={self.url}", library=self.lib)
        self.assertExit(result, 0)

    def test_insecure_is_an_explicit_opt_in(self):
        result = self.ttops("--insecure", "runbook", "venue", "tls", "--set", f"url={self.url}", library=self.lib)
        self.assertExit(result, 0)


if __name__ == "__main__":
    unittest.main()
