"""A relay between an agent and the service, on loopback: the agent speaks
plain HTTP to it, it forwards each request over TLS to the service and
hands back the answer, unless the test's ANSWER function answers first.
Requests are signed by the machine (docs/API.md), not bound to the
connection, so the service accepts them through the relay; a test uses it
to play a service that answers as a real one may at an awkward moment."""
import http.client
import http.server
import json
import threading
from urllib.parse import urlparse


class Relay:
    def __init__(self, service, answer=None):
        """SERVICE: a test_service.Service. ANSWER(method, path, headers):
        None to forward, or (status, JSON body) to answer in the service's
        stead."""
        self.service, self.answer = service, answer
        self.seen = []  # (method, path, status) of every request, in order
        self.lock = threading.Lock()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                canned = (relay.answer(self.command, self.path, self.headers) if relay.answer
                          else None)
                if canned is not None:
                    status, data, headers = canned[0], json.dumps(canned[1]).encode(), [
                        ("Content-Type", "application/json")]
                else:
                    status, data, headers = relay.forward(self.command, self.path, self.headers,
                                                          body)
                with relay.lock:
                    relay.seen.append((self.command, self.path, status))
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method, path, headers, body):
        u = urlparse(self.service.url)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.service.ctx,
                                           timeout=60)
        try:
            conn.request(method, path, body=body,
                         headers={k: v for k, v in headers.items()
                                  if k.lower() not in ("host", "connection")})
            r = conn.getresponse()
            return r.status, r.read(), r.getheaders()
        finally:
            conn.close()

    def requests(self, method, prefix):
        with self.lock:
            return [(p, st) for m, p, st in self.seen if m == method and p.startswith(prefix)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
