#!/usr/bin/env python3
"""tools/soak: the telemetry firmware on the virtual board under random faults, on a fast clock.

    tools/soak [MODULE_MINUTES=30] [SPEED=50] [options]     (options: tools/soak --help)

Runs firmware/main.py (--async: main_async.py) unmodified under the MicroPython unix port
(.venv/bin/micropython) on the virtual board, as tools/run does (same MICROPYPATH, FW_<NAME>
settings, QUECTEL_SPEED), against a virtual module started in this process (powered off: the
board switches it on with PWRKEY) and a loopback HTTP endpoint of its own that records every
reading and de-duplicates them by sequence number. The firmware keeps its readings in its flash
queue (firmware/store.py, in build/soak-queue/, emptied at the start) and sends them in
batches. Once the first batch is answered, one random fault is injected every few seconds of
module time (one pending at a time: clear_faults() comes before the next one): the virtual
module's faults, and

  mcu_reset  the firmware process is killed (SIGKILL, at any point: mid-write, mid-send) and
             started again, as a board's reset runs main.py again on the same flash;
  outage     the network goes for 1-4 module minutes: deregistered (+CREG/+CGREG 2) and the
             context deactivated by the network (pdpdeact), then registered again;
  module_outage  the module answers nothing for 1-4 module minutes (the library reboots it,
             to no avail until the time is up).

After MODULE_MINUTES of module time the faults stop, the firmware is stopped, and it is run
once more with FW_REPORTS=0 (it takes no reading, empties its queue and exits). The summary:

  readings produced (numbered and stored: the highest sequence number, which never skips),
  received by the endpoint (unique), duplicates (sent again after a reset or a lost answer:
  the endpoint drops them), dropped because the queue was full (the firmware's count, in
  every reading), LOST = produced - received - dropped (must be 0), POSTs and their
  outcomes, faults by kind, MCU resets, outages, reconnections, and the heap in use (from the
  readings' mem_free, taken after gc.collect()): first, max, last, and its trend.

The heap GROWS when the mean heap in use of the last quarter of the readings exceeds that of the
first quarter by more than --heap-slack bytes (the first 10 % of readings are warm-up and are
left out). Exit status 1 when a reading was lost, the heap grew, a complete request body
reached the endpoint corrupted, the firmware died by itself, nothing was answered, or the final
run could not empty the queue; 2 on a usage error.

Writes build/soak.log (every firmware line, fault and reading, stamped with module time, then the
summary) and build/soak.json (the figures). Not part of tools/test; loopback only.
Bounded: module time is real time times SPEED, so a run takes about
MODULE_MINUTES * 60 / SPEED seconds plus the bring-ups and the final run (--settle bounds it).
"""

import argparse
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from virtual_module import VirtualModule  # noqa: E402

MICROPYTHON = shutil.which("micropython") or os.path.join(ROOT, ".venv", "bin", "micropython")
# As tools/run: tools/vboard first (the machine module), .frozen last (asyncio, requests).
MICROPYPATH = ":".join(
    [ROOT + "/tools/vboard", ROOT + "/lib", ROOT, ROOT + "/firmware", ".frozen"]
)

FAULTS = (
    "reboot",
    "pdpdeact",
    "remote_close",
    "garble",
    "drop",
    "split",
    "silence",
    "send_fail",
    "error_qisend",
    "error_qiopen",
    "open_fail",
    "delay",
    "urc",
    "mcu_reset",
    "outage",
    "module_outage",
)
START_MODULE_S = 300  # longest wait for the first answered report (fault-free bring-up)
WARMUP = 0.10  # share of readings left out of the heap trend


# ---- the loopback endpoint -------------------------------------------------------------------


class Endpoint(http.server.ThreadingHTTPServer):
    """Records every JSON reading POSTed to it, alone or in an array (with the module time it
    arrived), keeps the first of each (device, seq) and counts the repeats, and answers
    200 {"ok": true, "n": <unique>, ...}, like tools/endpoint.py."""

    daemon_threads = True

    def __init__(self, now_ms):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.now_ms = now_ms
        self.lock = threading.Lock()
        self.readings = []  # (module ms, document): the first of each (device, seq)
        self.seen = set()
        self.duplicates = 0
        self.posts = 0
        self.bad = []  # complete bodies that were not JSON readings: corrupted on the way
        self.aborted = 0  # requests that broke off (the module side went away mid-request)

    def handle_error(self, request, client_address):
        with self.lock:
            self.aborted += 1


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, as the firmware sends

    def _answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        want = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(want)
        if not want or len(raw) < want:  # the connection went away mid-request (a fault)
            with srv.lock:
                srv.aborted += 1
            return
        try:
            docs = json.loads(raw)
            docs = docs if isinstance(docs, list) else [docs]
            keys = [(d.get("device"), int(d["seq"])) for d in docs]
        except (ValueError, KeyError, TypeError, AttributeError):
            with srv.lock:
                srv.bad.append(raw[:200])
            self._answer(400, {"ok": False, "error": "not a reading"})
            return
        with srv.lock:
            srv.posts += 1
            for key, doc in zip(keys, docs, strict=True):
                if key in srv.seen:
                    srv.duplicates += 1
                else:
                    srv.seen.add(key)
                    srv.readings.append((srv.now_ms(), doc))
            n = len(srv.readings)
            dup = srv.duplicates
        self._answer(200, {"ok": True, "n": n, "unique": n, "duplicates": dup})

    def log_message(self, *args):
        pass


# ---- faults ----------------------------------------------------------------------------------


def tcp_connection(vm, rnd, wait_ms, speed):
    """A connected TCP connection id (waits up to wait_ms module time for one), or None."""
    end = time.monotonic() + wait_ms / 1000 / speed
    while True:
        cids = [c for c, d in vm.connections().items() if d["kind"] == "TCP" and d["state"] == 2]
        if cids:
            return rnd.choice(cids)
        if time.monotonic() >= end:
            return None
        time.sleep(0.002)


def inject(vm, kind, rnd, speed):
    """Inject one fault of the virtual module; returns (description, module ms it lasts at
    most) or (None, 0) when it could not be applied (remote_close/urc with no connection
    open). An outage lasts until the caller registers the module again."""
    code = rnd.randint(552, 574)
    if kind == "outage":
        ms = rnd.randint(60, 240) * 1000
        vm.set_registration(cs=2, ps=2)
        vm.pdp_deactivate(1)
        return "network outage of %d module s (deregistered, pdpdeact)" % (ms // 1000), ms
    if kind == "module_outage":
        ms = rnd.randint(60, 240) * 1000
        vm.fault_silence(ms)
        return "module outage: silent for %d module s" % (ms // 1000), ms
    if kind == "reboot":
        vm.reboot()
        return "reboot", 0
    if kind == "pdpdeact":
        vm.pdp_deactivate(1)
        return "pdpdeact 1", 0
    if kind in ("remote_close", "urc"):
        cid = tcp_connection(vm, rnd, 5000, speed)
        if cid is None:
            return None, 0
        if kind == "urc":
            vm.inject_urc('+QIURC: "recv",%d' % cid, mid_response=True)
            return 'urc +QIURC: "recv",%d mid-response' % cid, 0
        vm.remote_close(cid)
        return "remote close of connection %d" % cid, 0
    if kind == "garble":
        n = rnd.randint(1, 64)
        vm.fault_garble(n)
        return "garble %d bytes" % n, 0
    if kind == "drop":
        n = rnd.randint(1, 64)
        vm.fault_drop(n)
        return "drop %d bytes" % n, 0
    if kind == "split":
        sizes = [rnd.randint(1, 8) for _ in range(rnd.randint(20, 200))]
        vm.fault_split(sizes)
        return "split %d bytes into %d chunks" % (sum(sizes), len(sizes)), 0
    if kind == "silence":
        ms = rnd.choice([1000, 5000, 20000, 70000])
        vm.fault_silence(ms)
        return "silence %d ms" % ms, ms
    if kind == "send_fail":
        n = rnd.randint(1, 5)
        vm.fault_send_fail(n)
        return "SEND FAIL x%d" % n, 0
    if kind in ("error_qisend", "error_qiopen"):
        cmd = "AT+QISEND" if kind == "error_qisend" else "AT+QIOPEN"
        vm.fault_error(cmd, code)
        return "ERROR %d on %s" % (code, cmd), 0
    if kind == "open_fail":
        vm.fault_open_fail(code)
        return "+QIOPEN: <id>,%d" % code, 0
    if kind == "delay":
        cmd = rnd.choice(["AT+QISEND", "AT+QIRD", "AT+QIOPEN", "AT+QICLOSE", "AT+CSQ"])
        ms = rnd.choice([500, 5000, 20000, 65000])
        vm.fault_delay(cmd, ms, count=1)
        return "delay %s by %d ms" % (cmd, ms), ms
    raise ValueError(kind)


# ---- the firmware's log ----------------------------------------------------------------------

RE_STORED = re.compile(r"\] reading #(\d+) stored")
RE_DROPPED = re.compile(r"\] queue full: dropped the oldest reading, #(\d+)")
RE_OPENED = re.compile(
    r"\] queue \S+: (\d+) reading\(s\) kept from before, next #(\d+), (\d+) dropped"
)
RE_POST = re.compile(r"\] POST #(\d+)\.\.#(\d+) \(")
RE_ANSWER = re.compile(r"\] POST #(\d+)\.\.#(\d+) answered: (\d+)")
RE_FAILED = re.compile(r"\] send failed: ")
RE_STATE = re.compile(r"\] modem: ([^(]+?)(?: \((.*)\))?$")


def analyse_log(lines):
    """Figures from the firmware's lines [(module ms, text)], all runs together."""
    stored, dropped_logged, states, connected_at = set(), set(), {}, []
    posts = answered = failed = 0
    opened = []  # (queued, next seq, dropped) at each start
    for ms, text in lines:
        m = RE_STORED.search(text)
        if m:
            stored.add(int(m.group(1)))
            continue
        m = RE_DROPPED.search(text)
        if m:
            dropped_logged.add(int(m.group(1)))
            continue
        m = RE_ANSWER.search(text)
        if m:
            answered += 200 <= int(m.group(3)) < 300
            continue
        if RE_POST.search(text):
            posts += 1
            continue
        if RE_FAILED.search(text):
            failed += 1
            continue
        m = RE_OPENED.search(text)
        if m:
            opened.append(tuple(int(x) for x in m.groups()))
            continue
        m = RE_STATE.search(text)
        if m:
            st = m.group(1).strip()
            states[st] = states.get(st, 0) + 1
            if st == "connected":
                connected_at.append(ms)
    return {
        "stored": stored,
        "dropped_logged": dropped_logged,
        "posts": posts,
        "answered": answered,
        "send_failed": failed,
        "opened": opened,
        "states": states,
        "connected_at": connected_at,
    }


def heap_figures(samples, slack):
    """samples: [(module minute the reading arrived, bytes in use)] in seq order."""
    if not samples:
        return None
    used = [b for _, b in samples]
    rest = samples[max(1, int(len(samples) * WARMUP)) :] if len(samples) > 8 else samples
    q = max(1, len(rest) // 4)
    first = sum(b for _, b in rest[:q]) / q
    last = sum(b for _, b in rest[-q:]) / q
    slope = 0.0
    if len(rest) > 1:
        mx = sum(t for t, _ in rest) / len(rest)
        my = sum(b for _, b in rest) / len(rest)
        den = sum((t - mx) ** 2 for t, _ in rest)
        if den:
            slope = sum((t - mx) * (b - my) for t, b in rest) / den * 60  # bytes per module hour
    return {
        "samples": len(samples),
        "first": used[0],
        "min": min(used),
        "max": max(used),
        "last": used[-1],
        "mean_first_quarter": round(first),
        "mean_last_quarter": round(last),
        "slope_bytes_per_module_hour": round(slope),
        "slack": slack,
        "grew": last - first > slack,
    }


# ---- the run ---------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tools/soak",
        description=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Fault kinds: " + ", ".join(FAULTS) + ".\nSee the header of tools/soak.py for "
        "what counts as lost and as heap growth.",
    )
    ap.add_argument(
        "minutes",
        nargs="?",
        type=float,
        default=30.0,
        help="MODULE_MINUTES: module time to run faults for (default 30)",
    )
    ap.add_argument(
        "speed",
        nargs="?",
        type=int,
        default=50,
        help="SPEED: clock factor of the virtual module and of the driver "
        "(QUECTEL_SPEED), a whole number (default 50)",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the fault schedule: kinds, parameters and gaps (default 1); "
        "the interleaving with the firmware still varies from run to run",
    )
    ap.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="module seconds between reports; the firmware gets FW_INTERVAL = "
        "INTERVAL / SPEED real seconds (default 2)",
    )
    ap.add_argument(
        "--every",
        default="3-10",
        metavar="MIN-MAX",
        help="module seconds between two faults, uniform (default 3-10); a silence "
        "or delay fault adds its own duration",
    )
    ap.add_argument(
        "--faults",
        default=",".join(FAULTS),
        metavar="KIND,...",
        help="fault kinds to draw from (default: all)",
    )
    ap.add_argument(
        "--heapsize",
        default="512k",
        help="MicroPython heap (micropython -X heapsize=), default 512k",
    )
    ap.add_argument(
        "--heap-slack",
        type=int,
        default=1024,
        metavar="BYTES",
        help="heap growth tolerated, last vs first quarter (default 1024)",
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=600.0,
        metavar="S",
        help="module seconds the final run (FW_REPORTS=0) may take to empty the queue "
        "(default 600)",
    )
    ap.add_argument(
        "--queue-max",
        type=int,
        default=50,
        metavar="N",
        help="readings the firmware's flash queue holds before it drops the oldest "
        "(FW_QUEUE_MAX, default 50: an outage of minutes fills it)",
    )
    ap.add_argument(
        "--out",
        default=os.path.join(ROOT, "build"),
        help="directory for soak.log and soak.json (default build/)",
    )
    ap.add_argument(
        "--async",
        dest="use_async",
        action="store_true",
        help="run firmware/main_async.py (the asyncio variant) instead of main.py",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the firmware's lines")
    a = ap.parse_args(argv)
    if a.minutes <= 0 or a.speed < 1 or a.interval <= 0 or a.settle < 0 or a.queue_max < 1:
        ap.error("MODULE_MINUTES, --interval and --queue-max must be > 0, SPEED a whole "
                 "number >= 1")  # fmt: skip
    try:
        lo, hi = (float(x) for x in a.every.split("-"))
        assert 0 < lo <= hi
    except (ValueError, AssertionError):
        ap.error("--every takes MIN-MAX module seconds, e.g. 3-10")
    a.every = (lo, hi)
    a.faults = [f.strip() for f in a.faults.split(",") if f.strip()]
    bad = [f for f in a.faults if f not in FAULTS]
    if bad or not a.faults:
        ap.error("unknown fault kind(s) %s; known: %s" % (",".join(bad), ",".join(FAULTS)))
    return a


def heap_total(heapsize):
    out = subprocess.run(
        [
            MICROPYTHON,
            "-X",
            "heapsize=" + heapsize,
            "-c",
            "import gc; gc.collect(); print(gc.mem_free() + gc.mem_alloc())",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return int(out.stdout.strip())


class Firmware:
    """firmware/main.py under the unix port, restartable: kill() is an MCU reset (the flash,
    FW_STORE_DIR, stays). Its lines go to on_line(text) with the module time."""

    def __init__(self, cmd, env, on_line):
        self.cmd, self.env, self.on_line = cmd, env, on_line
        self.proc = self.thread = None
        self.starts = 0

    def start(self, **env):
        self.starts += 1
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=dict(self.env, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.thread = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for line in proc.stdout:
            self.on_line(line.rstrip("\n"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: the board loses power or resets, whatever it was doing."""
        if self.alive():
            self.proc.kill()
        self._reap()

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reap()

    def _reap(self):
        if self.proc is not None:
            self.proc.wait()
            self.thread.join(5)
            self.proc.stdout.close()

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def run(a):
    rnd = random.Random(a.seed)
    speed = a.speed
    total = heap_total(a.heapsize)
    events = []  # (module ms, source, text)
    lines = []  # firmware (module ms, text)
    answered = {"n": 0}
    fw_lock = threading.Lock()
    counts, missed = {}, {}
    stop_ms = a.minutes * 60000
    queue_dir = os.path.join(a.out, "soak-queue")
    shutil.rmtree(queue_dir, ignore_errors=True)

    vm = VirtualModule(speed=speed, powered=False, seed=a.seed)
    vm.start()
    ep = Endpoint(vm.now_ms)
    threading.Thread(target=ep.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    url = "http://127.0.0.1:%d/telemetry" % ep.server_address[1]
    env = dict(
        os.environ,
        MICROPYPATH=MICROPYPATH,
        QUECTEL_UART="127.0.0.1:%d" % vm.port,
        QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port,
        QUECTEL_SPEED=str(speed),
        FW_SERVER_URL=url,
        FW_INTERVAL=repr(a.interval / speed),
        FW_STORE_DIR=queue_dir,
        FW_QUEUE_MAX=str(a.queue_max),
    )
    env.pop("FW_REPORTS", None)  # forever, as on a device
    main = "firmware/main_async.py" if a.use_async else "firmware/main.py"
    cmd = [MICROPYTHON, "-X", "heapsize=" + a.heapsize, main]
    print(
        "soak: %s min of module time at speed %d (about %.0f s real), seed %d, a reading every "
        "%g module s, a fault every %g-%g module s from: %s"
        % (
            a.minutes,
            speed,
            a.minutes * 60 / speed,
            a.seed,
            a.interval,
            a.every[0],
            a.every[1],
            ", ".join(a.faults),
        ),
        flush=True,
    )
    print(
        "soak: %s under %s -X heapsize=%s (heap %d bytes), endpoint %s, queue of %d in %s"
        % (main, MICROPYTHON, a.heapsize, total, url, a.queue_max, queue_dir),
        flush=True,
    )

    def on_line(text):
        ms = vm.now_ms()
        with fw_lock:
            lines.append((ms, text))
            events.append((ms, "fw", text))
            m = RE_ANSWER.search(text)
            if m and 200 <= int(m.group(3)) < 300:
                answered["n"] += 1
        if a.verbose:
            print("fw: " + text, flush=True)

    fw = Firmware(cmd, env, on_line)
    t_real0 = time.monotonic()
    verdict = []
    drained = None
    resets = outages = 0

    def sleep_module(ms):
        time.sleep(max(0.0, ms) / 1000 / speed)

    try:
        fw.start()
        # Fault-free bring-up: wait for the first answered batch.
        while fw.alive() and not answered["n"] and vm.now_ms() < START_MODULE_S * 1000:
            sleep_module(200)
        if not answered["n"]:
            verdict.append("no batch answered within %d module s of start" % START_MODULE_S)
        faults_from = vm.now_ms()
        next_progress = 5 * 60000
        while not verdict and fw.alive() and vm.now_ms() < stop_ms:
            sleep_module(rnd.uniform(*a.every) * 1000)
            if vm.now_ms() >= stop_ms or not fw.alive():
                break
            vm.clear_faults()
            kind = rnd.choice(a.faults)
            if kind == "mcu_reset":
                fw.kill()
                resets += 1
                text, lasts = "MCU reset (firmware killed, started again)", 0
                fw.start()
            else:
                text, lasts = inject(vm, kind, rnd, speed)
            if text is None:
                missed[kind] = missed.get(kind, 0) + 1
                events.append((vm.now_ms(), "fault", "%s: no connection open, skipped" % kind))
            else:
                counts[kind] = counts.get(kind, 0) + 1
                events.append((vm.now_ms(), "fault", text))
            sleep_module(lasts)
            if kind == "module_outage":
                outages += 1
            if kind == "outage":
                outages += 1
                vm.set_registration(cs=1, ps=1)
                events.append((vm.now_ms(), "fault", "network back (registered)"))
            if vm.now_ms() >= next_progress:
                with ep.lock:
                    last = ep.readings[-1][1] if ep.readings else None
                    got = len(ep.readings)
                print(
                    "soak: %5.1f module min: %d faults, %d batches answered, %d readings "
                    "received, heap in use %s"
                    % (
                        vm.now_ms() / 60000,
                        sum(counts.values()),
                        answered["n"],
                        got,
                        total - last["mem_free"] if last else "?",
                    ),
                    flush=True,
                )
                next_progress += 5 * 60000
        faults_until = vm.now_ms()
        vm.clear_faults()
        vm.set_registration(cs=1, ps=1)
        events.append((faults_until, "fault", "faults stop (clear_faults)"))
        died = not fw.alive()
        rc = fw.proc.poll()
        fw.stop()
        # The final run: no new reading, the queue emptied, then it exits.
        if not verdict:
            events.append((vm.now_ms(), "soak", "final run: FW_REPORTS=0 empties the queue"))
            fw.start(FW_REPORTS="0")
            drained = fw.wait(a.settle / speed + 30)
            if drained is None:
                fw.kill()
    finally:  # never leave the firmware running (an error here, Ctrl-C)
        fw.stop()
        end_ms = vm.now_ms()
        real_s = time.monotonic() - t_real0
        ep.shutdown()
        ep.server_close()
        vm.stop()

    # ---- figures
    log = analyse_log(lines)
    # What the final run found queued (it exits 0 only once it has sent all of it).
    final_queued = log["opened"][-1][0] if drained is not None and log["opened"] else None
    with ep.lock:
        readings = sorted(ep.readings, key=lambda r: r[1]["seq"])
        bad, aborted, dups, posts_in = list(ep.bad), ep.aborted, ep.duplicates, ep.posts
    received = {doc["seq"] for _, doc in readings}
    produced = max(log["stored"] | received | {0})
    dropped = max([o[2] for o in log["opened"]] + [doc.get("dropped", 0) for _, doc in readings])
    missing = sorted(set(range(1, produced + 1)) - received)
    # Readings still on flash when the final run failed are not lost, but not received either.
    still_queued = (final_queued or 0) if drained != 0 else 0
    lost = max(0, len(missing) - dropped - still_queued)
    heap = heap_figures(
        [(ms / 60000, total - doc["mem_free"]) for ms, doc in readings],
        a.heap_slack,
    )
    reconnects = max(0, len(log["connected_at"]) - 1)
    if died:
        verdict.append("the firmware exited by itself with status %s" % rc)
    if not log["answered"]:
        verdict.append("no batch answered")
    if bad:
        verdict.append("%d corrupted body(ies) reached the endpoint: %r" % (len(bad), bad[:3]))
    if lost:
        verdict.append(
            "%d reading(s) lost: missing %s, %d dropped" % (lost, missing[:20], dropped)
        )
    if heap and heap["grew"]:
        verdict.append(
            "heap grew by %d bytes (more than %d)"
            % (heap["mean_last_quarter"] - heap["mean_first_quarter"], a.heap_slack)
        )
    if drained is not None and drained != 0:
        verdict.append("the final run could not empty the queue (exit status %s)" % drained)
    elif drained is None and not died and not verdict:
        verdict.append("the final run did not end within %g module s" % a.settle)

    summary = {
        "command": "tools/soak %g %d --seed %d --queue-max %d%s"
        % (a.minutes, speed, a.seed, a.queue_max, " --async" if a.use_async else ""),
        "seed": a.seed,
        "speed": speed,
        "interval_module_s": a.interval,
        "fault_every_module_s": list(a.every),
        "queue_max": a.queue_max,
        "heapsize": a.heapsize,
        "heap_total": total,
        "module_minutes": round(end_ms / 60000, 2),
        "module_minutes_with_faults": round((faults_until - faults_from) / 60000, 2),
        "real_seconds": round(real_s, 1),
        "faults": sum(counts.values()),
        "faults_by_kind": dict(sorted(counts.items())),
        "faults_skipped_no_connection": dict(sorted(missed.items())),
        "mcu_resets": resets,
        "outages": outages,
        "firmware_starts": fw.starts,
        "reconnections": reconnects,
        "state_changes": dict(sorted(log["states"].items())),
        "readings_produced": produced,
        "received_unique": len(received),
        "duplicates_at_endpoint": dups,
        "dropped_when_full": dropped,
        "dropped_seqs_logged": sorted(log["dropped_logged"]),
        "dropped_reported_in_readings": max([doc.get("dropped", 0) for _, doc in readings] + [0]),
        "queued_at_final_run": final_queued,
        "left_in_queue": 0 if drained == 0 else still_queued,
        "lost": lost,
        "missing_seqs": missing[:100],
        "posts_logged": log["posts"],
        "posts_answered": log["answered"],
        "posts_received": posts_in,
        "sends_failed": log["send_failed"],
        "endpoint_corrupted_bodies": [b.decode("latin-1") for b in bad],
        "endpoint_aborted_requests": aborted,
        "final_run_exit": drained,
        "heap": heap,
        "heap_timeline": [
            [round(ms / 60000, 1), total - doc["mem_free"]]
            for ms, doc in readings[:: max(1, len(readings) // 12)]
        ],
        "ok": not verdict,
        "problems": verdict,
    }
    for ms, doc in readings:
        events.append((ms, "ep", "got seq %d, mem_free %d" % (doc["seq"], doc["mem_free"])))
    return summary, events


def report(s):
    h = s["heap"] or {}
    rows = [
        (
            "module time",
            "%.1f min (%.1f min with faults), %.0f s real at speed %d"
            % (
                s["module_minutes"],
                s["module_minutes_with_faults"],
                s["real_seconds"],
                s["speed"],
            ),
        ),
        (
            "faults injected",
            "%d: %s%s"
            % (
                s["faults"],
                ", ".join("%s %d" % kv for kv in s["faults_by_kind"].items()),
                "; skipped, no connection open: "
                + ", ".join("%s %d" % kv for kv in s["faults_skipped_no_connection"].items())
                if s["faults_skipped_no_connection"]
                else "",
            ),
        ),
        ("MCU resets, outages", "%d, %d" % (s["mcu_resets"], s["outages"])),
        (
            "reconnections",
            "%d (state changes: %s)"
            % (s["reconnections"], ", ".join("%s %d" % kv for kv in s["state_changes"].items())),
        ),
        ("readings produced", str(s["readings_produced"])),
        ("received (unique)", str(s["received_unique"])),
        ("duplicates (dropped by endpoint)", str(s["duplicates_at_endpoint"])),
        ("dropped when the queue was full", str(s["dropped_when_full"])),
        (
            "lost",
            "%d%s"
            % (
                s["lost"],
                " (%d still queued on flash: the final run failed)" % s["left_in_queue"]
                if s["left_in_queue"]
                else "",
            ),
        ),
        (
            "POSTs",
            "%d sent, %d answered 2xx, %d failed sends, %d received by the endpoint"
            % (s["posts_logged"], s["posts_answered"], s["sends_failed"], s["posts_received"]),
        ),
        (
            "endpoint",
            "%d corrupted bodies, %d requests broken off by a fault"
            % (len(s["endpoint_corrupted_bodies"]), s["endpoint_aborted_requests"]),
        ),
        ("final run (empties queue)", "exit status %s" % s["final_run_exit"]),
        (
            "heap in use (bytes)",
            "first %s, min %s, max %s, last %s of %d"
            % (h.get("first"), h.get("min"), h.get("max"), h.get("last"), s["heap_total"]),
        ),
        (
            "heap trend",
            "first quarter %s, last quarter %s (%+d B/module h): %s"
            % (
                h.get("mean_first_quarter"),
                h.get("mean_last_quarter"),
                h.get("slope_bytes_per_module_hour", 0),
                "GROWS" if h.get("grew") else "flat",
            ),
        ),
    ]
    w = max(len(k) for k, _ in rows)
    out = ["soak: " + s["command"]] + ["  %-*s  %s" % (w, k, v) for k, v in rows]
    out.append(
        "  heap in use over time (module min: bytes): "
        + ", ".join("%g: %d" % (t, b) for t, b in s["heap_timeline"])
    )
    out.append("soak: %s" % ("PASS" if s["ok"] else "FAIL: " + "; ".join(s["problems"])))
    return "\n".join(out)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: run()'s finally stops the firmware


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(a.out, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary, events = run(a)
    except KeyboardInterrupt:
        print("soak: stopped (the firmware and the virtual module with it)", flush=True)
        return 130
    text = report(summary)
    print(text, flush=True)
    with open(os.path.join(a.out, "soak.log"), "w") as f:
        for ms, src, line in sorted(events, key=lambda e: e[0]):
            f.write("[%9.1f s] %-5s %s\n" % (ms / 1000, src, line))
        f.write("\n" + text + "\n")
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(
        "soak: wrote %s and %s"
        % (os.path.join(a.out, "soak.log"), os.path.join(a.out, "soak.json"))
    )
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
