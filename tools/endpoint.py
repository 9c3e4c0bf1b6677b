"""A loopback HTTP endpoint for the telemetry firmware (CPython stdlib only).

Takes a POSTed JSON reading or a JSON array of readings (firmware/main.py sends its queue in
batches), de-duplicates them by (device, seq) (a batch is sent again when its answer was lost
or the board reset before it moved its queue's head), prints each new reading on one line
("endpoint: got /path {...}") and each repeat as "endpoint: duplicate /path seq N", and answers
{"ok": true, "n": <unique readings>, "unique": ..., "duplicates": ...}. Bodies that are not
JSON get a 400. GET answers the same counts.

    python tools/endpoint.py --port 8080          # 0 picks a free port
    prints "endpoint: listening on http://127.0.0.1:PORT/" first, then one line per reading.
"""

import argparse
import http.server
import json
import signal
import sys
import threading


class Readings:
    """Unique readings by (device, seq); documents without a seq are each unique."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = set()
        self.unique = 0
        self.duplicates = 0

    def add(self, doc):
        """True when `doc` is new."""
        key = None
        if isinstance(doc, dict) and "seq" in doc:
            key = (doc.get("device"), doc["seq"])
        with self.lock:
            if key is not None and key in self.seen:
                self.duplicates += 1
                return False
            if key is not None:
                self.seen.add(key)
            self.unique += 1
            return True

    def counts(self):
        with self.lock:
            return {"ok": True, "n": self.unique, "unique": self.unique,
                    "duplicates": self.duplicates}  # fmt: skip


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, as the firmware sends
    readings = Readings()

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
        for one in doc if isinstance(doc, list) else [doc]:
            if self.readings.add(one):
                print("endpoint: got %s %s" % (self.path, json.dumps(one, sort_keys=True)),
                      flush=True)  # fmt: skip
            else:
                print("endpoint: duplicate %s seq %s" % (self.path, one.get("seq")), flush=True)
        self._answer(200, self.readings.counts())

    def do_GET(self):
        self._answer(200, self.readings.counts())

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
