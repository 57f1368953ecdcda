"""A small keep-alive HTTP/1.1 server on 127.0.0.1 whose every GET answers 200 with a JSON health
body, after an optional delay. It counts the TCP connections it accepts (connection reuse)."""
import http.server
import threading
import time


class HealthHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.server.delay:
            time.sleep(self.server.delay)
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HealthServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a parallel group opens many connections at once

    def __init__(self, delay=0.0, body=b'{"status": "ok"}'):
        super().__init__(("127.0.0.1", 0), HealthHandler)
        self.delay, self.body = delay, body
        self.connections = 0
        self._lock = threading.Lock()

    @property
    def port(self):
        return self.server_address[1]

    def get_request(self):
        accepted = super().get_request()
        with self._lock:
            self.connections += 1
        return accepted

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
