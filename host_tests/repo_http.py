"""The repository served over HTTP on 127.0.0.1, as mip sees it on GitHub: in package.json
files the repository's own `github:` URLs (tools/mpy_package.py's GITHUB_REPO) point to this
server instead, so that installing a package with dependencies never leaves loopback."""

import contextlib
import functools
import http.server
import os
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from mpy_package import GITHUB_REPO  # noqa: E402


class _Repo(http.server.SimpleHTTPRequestHandler):
    base = ""

    def do_GET(self):
        if not self.path.endswith(".json"):
            return super().do_GET()
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            return self.send_error(404)
        with open(path) as f:
            body = f.read().replace("github:" + GITHUB_REPO, self.base).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_repo():
    """Yields the server's base URL, http://127.0.0.1:PORT (the repository's root)."""
    handler = type("Handler", (_Repo,), {})
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=ROOT)
    )
    handler.base = "http://127.0.0.1:%d" % srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield handler.base
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)
