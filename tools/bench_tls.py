#!/usr/bin/env python3
"""tools/bench_tls: module TLS figures (issue 25 item 5) on the MicroPython unix port.

Runs tools/bench_tls_device.py on the virtual board against a virtual module in this process
(real time, UART throttled to --baud) and loopback peers with RSA certificates (trustme):
- UART bytes and line-rate ratio of an N-byte transfer each way over module TLS, and over
  plain TCP for comparison (the peer answers "S n" by reading n bytes then writing "K", and
  "R n" by writing n bytes);
- heap allocated by one micropython-lib `requests` GET: plain HTTP, HTTPS with module TLS,
  HTTPS with the firmware's own TLS (MCU) over a module TCP socket (gc.mem_alloc delta with
  the GC off). On the unix port mbedTLS allocates its buffers from the C heap, so the MCU
  figure counts only the Python-side objects of MCU TLS: its real cost on a board (tens of
  KB of handshake buffers in the MicroPython heap) does not show here.
Prints a table; --json writes the rows. Every wait is bounded.
"""

import argparse
import http.server
import json
import os
import queue
import ssl
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from tlskit import Certs  # noqa: E402
from virtual_module import VirtualModule  # noqa: E402

from bench import MICROPYTHON, _Server, mp_path  # noqa: E402

DEVICE = os.path.join(ROOT, "tools", "bench_tls_device.py")
STEP_S = 300


class Peer(_Server):
    """Loopback server for the transfers: "S n" -> read n bytes, write b"K"; "R n" -> write n."""

    def __init__(self, ctx=None):
        self.ctx = ctx
        super().__init__()

    def serve(self, c):
        try:
            c.settimeout(STEP_S)
            if self.ctx is not None:
                c = self.ctx.wrap_socket(c, server_side=True)
            line = b""
            while not line.endswith(b"\n"):
                d = c.recv(1)
                if not d:
                    return
                line += d
            what, n = line.split()
            n = int(n)
            if what == b"S":
                while n > 0:
                    d = c.recv(min(n, 65536))
                    if not d:
                        return
                    n -= len(d)
                c.sendall(b"K")
            else:
                c.sendall(bytes(n))
            c.recv(1)  # until the device closes
        except (OSError, ValueError):
            pass
        finally:
            c.close()


class _Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a TCP connection closed before its handshake (module TLS reopens): expected


class _Web(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        body = b"x" * 512
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Peers:
    """Every loopback peer of a run: TLS and TCP transfer peers, HTTPS and HTTP servers."""

    def __init__(self, tmp):
        certs = Certs()
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certs.good.configure_cert(sctx)
        self.tls, self.tcp = Peer(sctx), Peer()
        self.https = _Quiet(("127.0.0.1", 0), _Web)
        self.https.socket = sctx.wrap_socket(self.https.socket, server_side=True)
        self.http = _Quiet(("127.0.0.1", 0), _Web)
        for srv in (self.https, self.http):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True).start()  # fmt: skip
        self.ca = os.path.join(tmp, "ca.pem")
        with open(self.ca, "wb") as f:
            f.write(certs.ca_pem)

    def env(self):
        return dict(BENCH_CA=self.ca, BENCH_TLS_PORT=str(self.tls.port),
                    BENCH_TCP_PORT=str(self.tcp.port),
                    BENCH_HTTPS_PORT=str(self.https.server_address[1]),
                    BENCH_HTTP_PORT=str(self.http.server_address[1]))  # fmt: skip

    def close(self):
        self.tls.close()
        self.tcp.close()
        for srv in (self.https, self.http):
            srv.shutdown()
            srv.server_close()


def _device(peers, baud, env, heapsize, path):
    """One device run: (exit code, RESULT rows, UART counters at each DONE, output lines)."""
    with VirtualModule(speed=1, baud=baud) as vm:
        e = dict(os.environ, MICROPYPATH=path, QUECTEL_UART="127.0.0.1:%d" % vm.port,
                 QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port, QUECTEL_SPEED="1",
                 QUECTEL_BAUD=str(baud), **peers.env(), **env)  # fmt: skip
        p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=%s" % heapsize, DEVICE], cwd=ROOT,
                             env=e, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, bufsize=1)  # fmt: skip
        lines = queue.Queue()
        out, rows, counters = [], [], []

        def reader():
            for line in p.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        try:
            while True:
                try:
                    line = lines.get(timeout=STEP_S)
                except queue.Empty:
                    raise RuntimeError("device step timed out:\n" + "\n".join(out[-20:])) from None
                if line is None:
                    break
                out.append(line)
                if line.startswith("READY"):
                    vm.reset_counters()
                    p.stdin.write("\n")
                    p.stdin.flush()
                elif line == "DONE":
                    counters.append((vm.rx_bytes, vm.tx_bytes))
                elif line.startswith("RESULT "):
                    rows.append(json.loads(line[7:]))
            rc = p.wait(STEP_S)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    return rc, rows, counters, out


def run(peers, nbytes, baud, mcu):
    env = dict(BENCH_BYTES=str(nbytes), BENCH_MCU="1" if mcu else "0")
    rc, rows, counters, out = _device(peers, baud, env, "8m", mp_path())
    if rc != 0:
        raise RuntimeError("device exited with %d:\n%s" % (rc, "\n".join(out[-30:])))
    transfers = [r for r in rows if r["kind"] == "transfer"]
    for r, (to_module, to_host) in zip(transfers, counters, strict=True):
        r["uart_to_module"], r["uart_to_host"] = to_module, to_host
        payload_dir = to_module if r["way"] == "send" else to_host
        r["efficiency"] = 100.0 * r["bytes"] / payload_dir
        r["line_rate"] = 100.0 * r["bytes"] / (baud / 10.0 * r["ms"] / 1000.0)
    return rows


def table(rows, baud):
    out = ["transfers at %d baud (line rate: payload / what the line carries in that time)" % baud,
           "%-5s %-5s %8s %8s %12s %12s %9s %9s" % ("link", "way", "bytes", "ms", "uart->mod",
                                                   "uart->host", "eff %", "line %")]  # fmt: skip
    for r in rows:
        if r["kind"] == "transfer":
            out.append("%-5s %-5s %8d %8d %12d %12d %9.1f %9.1f" % (
                "tls" if r["tls"] else "tcp", r["way"], r["bytes"], r["ms"], r["uart_to_module"],
                r["uart_to_host"], r["efficiency"], r["line_rate"]))  # fmt: skip
    out.append("heap allocated by one requests GET (512-byte body; none: plain HTTP), GC off:")
    for r in rows:
        if r["kind"] == "heap":
            out.append("  %-6s TLS: %7d bytes" % (r["tls"], r["bytes"]))
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bytes", type=int, default=100 * 1024)
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--no-mcu", action="store_true", help="skip the firmware-ssl heap figure")
    ap.add_argument(
        "--min-heap",
        action="store_true",
        help="also search the smallest heap for one request (about a minute)",
    )
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        peers = _Peers(tmp)
        try:
            rows = run(peers, a.bytes, a.baud, not a.no_mcu)
        finally:
            peers.close()
    print(table(rows, a.baud))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"baud": a.baud, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
