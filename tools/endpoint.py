"""A loopback HTTP endpoint for the telemetry firmware (CPython stdlib only).

Prints every POSTed JSON document on one line ("endpoint: got {...}") and answers with a
small JSON acknowledgement {"ok": true, "n": <count>}. Bodies that are not JSON get a 400.

    python tools/endpoint.py --port 8080          # 0 picks a free port
    prints "endpoint: listening on http://127.0.0.1:PORT/" first, then one line per request.
"""

import argparse
import http.server
import json
import signal
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, as micropython-lib requests does
    count = 0
    lock = threading.Lock()

    def _answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            doc = json.loads(raw)
        except ValueError:
            print("endpoint: bad JSON on %s: %r" % (self.path, raw[:200]), flush=True)
            self._answer(400, {"ok": False, "error": "body is not JSON"})
            return
        with Handler.lock:
            Handler.count += 1
            n = Handler.count
        print("endpoint: got %s %s" % (self.path, json.dumps(doc, sort_keys=True)), flush=True)
        self._answer(200, {"ok": True, "n": n})

    def do_GET(self):
        self._answer(200, {"ok": True, "n": Handler.count})

    def log_message(self, *args):
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Loopback HTTP endpoint printing POSTed JSON.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    args = ap.parse_args(argv)
    srv = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    host, port = srv.server_address[:2]
    print("endpoint: listening on http://%s:%d/" % (host, port), flush=True)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
