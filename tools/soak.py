#!/usr/bin/env python3
"""tools/soak: the telemetry firmware on the virtual board under random faults, on a fast clock.

    tools/soak [MODULE_MINUTES=30] [SPEED=50] [options]     (options: tools/soak --help)

Runs firmware/main.py unmodified under the MicroPython unix port (.venv/bin/micropython) on the
virtual board, as tools/run does (same MICROPYPATH, FW_<NAME> settings, QUECTEL_SPEED), against
a virtual module started in this process (powered off: the board switches it on with PWRKEY)
and a loopback HTTP endpoint of its own that records every reading. Once the first report is
answered, one random fault from the virtual module's fault API is injected every few seconds of
module time (one pending at a time: clear_faults() comes before the next one). After
MODULE_MINUTES of module time the faults stop and the soak waits (--settle) for one more answered
report, then stops the firmware and reports:

  module minutes, faults by kind, reconnections ("modem: connected" after the first), reports
  sent (POST attempts), answered 200 (firmware log) and received by the endpoint, the longest
  time without an answered report, heap in use over time (from the readings' mem_free, taken
  after gc.collect()) and lost messages.

A message is LOST when the firmware logged "POST #N answered: 2xx" but the endpoint never
recorded seq N, or when a seq below the endpoint's highest one is missing there and the firmware
did not report that report as failed ("report failed" after "POST #N", or before a POST for a
seq it consumed without sending). A reading the endpoint got whose answer the firmware did not
(reported failed) is not lost; it is counted as "delivered, reported failed".

The heap GROWS when the mean heap in use of the last quarter of the readings exceeds that of the
first quarter by more than --heap-slack bytes (the first 10 % of readings are warm-up and are
left out). Exit status 1 when a message was lost, the heap grew, a complete request body
reached the endpoint corrupted, the firmware died, nothing was answered or no report was
answered after the faults stopped (--settle); 2 on a usage error.

Writes build/soak.log (every firmware line, fault and reading, stamped with module time, then the
summary) and build/soak.json (the figures). Not part of tools/test; loopback only.
Bounded: module time is real time times SPEED, so a run takes at most about
(MODULE_MINUTES * 60 + --settle) / SPEED seconds plus the bring-up.
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
)
START_MODULE_S = 300  # longest wait for the first answered report (fault-free bring-up)
WARMUP = 0.10  # share of readings left out of the heap trend


# ---- the loopback endpoint -------------------------------------------------------------------


class Endpoint(http.server.ThreadingHTTPServer):
    """Records every JSON reading POSTed to it (with the module time it arrived) and answers
    200 {"ok": true, "n": <count>}, like tools/endpoint.py."""

    daemon_threads = True

    def __init__(self, now_ms):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.now_ms = now_ms
        self.lock = threading.Lock()
        self.readings = []  # (module ms, document)
        self.bad = []  # complete bodies that were not a JSON reading: corrupted on the way
        self.aborted = 0  # requests that broke off (the module side went away mid-request)

    def handle_error(self, request, client_address):
        with self.lock:
            self.aborted += 1


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, as micropython-lib requests

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
            doc = json.loads(raw)
            int(doc["seq"])
        except (ValueError, KeyError, TypeError):
            with srv.lock:
                srv.bad.append(raw[:200])
            self._answer(400, {"ok": False, "error": "not a reading"})
            return
        with srv.lock:
            srv.readings.append((srv.now_ms(), doc))
            n = len(srv.readings)
        self._answer(200, {"ok": True, "n": n})

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
    """Inject one fault; returns (description, module ms it lasts at most) or (None, 0) when it
    could not be applied (remote_close/urc with no connection open)."""
    code = rnd.randint(552, 574)
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

RE_POST = re.compile(r"\] POST #(\d+) to ")
RE_ANSWER = re.compile(r"\] POST #(\d+) answered: (\d+)")
RE_FAILED = re.compile(r"\] report failed: ")
RE_STATE = re.compile(r"\] modem: ([^(]+?)(?: \((.*)\))?$")


def analyse_log(lines):
    """Per-seq outcomes and state changes from the firmware's lines [(module ms, text)]."""
    posted, answered, failed, skipped_reported, skipped_silent = {}, {}, set(), set(), set()
    states, connected_at = {}, []
    cur, cur_done, early_failures, last_posted = None, True, 0, 0
    for ms, text in lines:
        m = RE_POST.search(text)
        if m:
            n = int(m.group(1))
            for k in range(last_posted + 1, n):  # consumed without a POST line
                if early_failures > 0:
                    skipped_reported.add(k)
                    early_failures -= 1
                else:
                    skipped_silent.add(k)
            posted[n], cur, cur_done, last_posted, early_failures = ms, n, False, n, 0
            continue
        m = RE_ANSWER.search(text)
        if m:
            n, status = int(m.group(1)), int(m.group(2))
            answered[n] = (status, ms)
            if 200 <= status < 300 and n == cur:
                cur_done = True
            continue
        if RE_FAILED.search(text):
            if cur is not None and not cur_done:
                failed.add(cur)
                cur_done = True
            else:
                early_failures += 1
            continue
        m = RE_STATE.search(text)
        if m:
            st = m.group(1).strip()
            states[st] = states.get(st, 0) + 1
            if st == "connected":
                connected_at.append(ms)
    in_flight = cur if cur is not None and not cur_done else None
    ok = {n: ms for n, (s, ms) in answered.items() if 200 <= s < 300}
    return {
        "posted": posted,
        "ok": ok,
        "failed": failed,
        "in_flight": in_flight,
        "skipped_reported": skipped_reported,
        "skipped_silent": skipped_silent,
        "states": states,
        "connected_at": connected_at,
    }


def heap_figures(samples, slack):
    """samples: [(module minute, bytes in use)] in seq order."""
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
        help="module seconds to wait after the last fault for an answered report (default 600)",
    )
    ap.add_argument(
        "--out",
        default=os.path.join(ROOT, "build"),
        help="directory for soak.log and soak.json (default build/)",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the firmware's lines")
    a = ap.parse_args(argv)
    if a.minutes <= 0 or a.speed < 1 or a.interval <= 0 or a.settle < 0:
        ap.error("MODULE_MINUTES and --interval must be > 0, SPEED a whole number >= 1")
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


def run(a):
    rnd = random.Random(a.seed)
    speed = a.speed
    total = heap_total(a.heapsize)
    events = []  # (module ms, source, text)
    lines = []  # firmware (module ms, text)
    answered = {"n": 0, "last_ms": None}
    fw_lock = threading.Lock()
    counts, missed = {}, {}
    stop_ms = a.minutes * 60000

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
    )
    env.pop("FW_REPORTS", None)  # forever, as on a device
    cmd = [MICROPYTHON, "-X", "heapsize=" + a.heapsize, "firmware/main.py"]
    print(
        "soak: %s min of module time at speed %d (about %.0f s real), seed %d, a report every "
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
        "soak: firmware/main.py under %s -X heapsize=%s (heap %d bytes), endpoint %s"
        % (MICROPYTHON, a.heapsize, total, url),
        flush=True,
    )
    t_real0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )

    try:

        def reader():
            for line in proc.stdout:
                ms, text = vm.now_ms(), line.rstrip("\n")
                with fw_lock:
                    lines.append((ms, text))
                    events.append((ms, "fw", text))
                    m = RE_ANSWER.search(text)
                    if m and 200 <= int(m.group(2)) < 300:
                        answered["n"] += 1
                        answered["last_ms"] = ms
                if a.verbose:
                    print("fw: " + text, flush=True)

        rd = threading.Thread(target=reader, daemon=True)
        rd.start()

        def sleep_module(ms):
            time.sleep(max(0.0, ms) / 1000 / speed)

        def alive():
            return proc.poll() is None

        verdict = []
        # Fault-free bring-up: wait for the first answered report.
        while alive() and not answered["n"] and vm.now_ms() < START_MODULE_S * 1000:
            sleep_module(200)
        if not answered["n"]:
            verdict.append("no report answered within %d module s of start" % START_MODULE_S)
        faults_from = vm.now_ms()
        next_progress = 5 * 60000
        while not verdict and alive() and vm.now_ms() < stop_ms:
            sleep_module(rnd.uniform(*a.every) * 1000)
            if vm.now_ms() >= stop_ms or not alive():
                break
            vm.clear_faults()
            kind = rnd.choice(a.faults)
            text, lasts = inject(vm, kind, rnd, speed)
            if text is None:
                missed[kind] = missed.get(kind, 0) + 1
                events.append((vm.now_ms(), "fault", "%s: no connection open, skipped" % kind))
            else:
                counts[kind] = counts.get(kind, 0) + 1
                events.append((vm.now_ms(), "fault", text))
            sleep_module(lasts)
            if vm.now_ms() >= next_progress:
                with ep.lock:
                    last = ep.readings[-1][1] if ep.readings else None
                print(
                    "soak: %5.1f module min: %d faults, %d reports answered, %d received, heap "
                    "in use %s"
                    % (
                        vm.now_ms() / 60000,
                        sum(counts.values()),
                        answered["n"],
                        len(ep.readings),
                        total - last["mem_free"] if last else "?",
                    ),
                    flush=True,
                )
                next_progress += 5 * 60000
        faults_until = vm.now_ms()
        vm.clear_faults()
        events.append((faults_until, "fault", "faults stop (clear_faults)"))
        # Settle: one more answered report after the last fault shows the firmware recovered.
        n_at_stop = answered["n"]
        recovered_ms = None
        while alive() and not verdict and vm.now_ms() < faults_until + a.settle * 1000:
            if answered["n"] > n_at_stop:
                recovered_ms = answered["last_ms"] - faults_until
                break
            sleep_module(100)
        died = not alive()
        rc = proc.poll()
    finally:  # never leave the firmware running (an error here, Ctrl-C)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        end_ms = vm.now_ms()
        real_s = time.monotonic() - t_real0
        ep.shutdown()
        ep.server_close()
        vm.stop()
    rd.join(5)

    # ---- figures
    log = analyse_log(lines)
    with ep.lock:
        readings = sorted(ep.readings, key=lambda r: r[1]["seq"])
        bad, aborted = list(ep.bad), ep.aborted
    got = {}
    for _, doc in readings:
        got[doc["seq"]] = got.get(doc["seq"], 0) + 1
    received = set(got)
    lost_answered = sorted(set(log["ok"]) - received)
    top = max(received) if received else 0
    reported = log["failed"] | log["skipped_reported"]
    lost_gaps = sorted(set(range(1, top + 1)) - received - reported - set(log["ok"]))
    lost = sorted(set(lost_answered) | set(lost_gaps))
    delivered_failed = sorted(received & log["failed"])
    heap = heap_figures(
        [(doc["uptime_ms"] * speed / 60000, total - doc["mem_free"]) for _, doc in readings],
        a.heap_slack,
    )
    ok_times = sorted(log["ok"].values())
    gaps = [b - a_ for a_, b in zip(ok_times, ok_times[1:], strict=False)]
    reconnects = max(0, len(log["connected_at"]) - 1)
    if died:
        verdict.append("the firmware exited with status %s" % rc)
    if not log["ok"]:
        verdict.append("no report answered")
    if bad:
        verdict.append("%d corrupted reading(s) reached the endpoint: %r" % (len(bad), bad[:3]))
    if lost:
        verdict.append("%d message(s) lost: %s" % (len(lost), lost[:20]))
    if heap and heap["grew"]:
        verdict.append(
            "heap grew by %d bytes (more than %d)"
            % (heap["mean_last_quarter"] - heap["mean_first_quarter"], a.heap_slack)
        )
    if not died and recovered_ms is None and answered["n"]:
        verdict.append("no report answered within %g module s after the faults stopped" % a.settle)

    summary = {
        "command": "tools/soak %g %d --seed %d" % (a.minutes, speed, a.seed),
        "seed": a.seed,
        "speed": speed,
        "interval_module_s": a.interval,
        "fault_every_module_s": list(a.every),
        "heapsize": a.heapsize,
        "heap_total": total,
        "module_minutes": round(end_ms / 60000, 2),
        "module_minutes_with_faults": round((faults_until - faults_from) / 60000, 2),
        "real_seconds": round(real_s, 1),
        "faults": sum(counts.values()),
        "faults_by_kind": dict(sorted(counts.items())),
        "faults_skipped_no_connection": dict(sorted(missed.items())),
        "reconnections": reconnects,
        "state_changes": dict(sorted(log["states"].items())),
        "reports_sent": len(log["posted"]),
        "reports_answered": len(log["ok"]),
        "reports_failed": len(log["failed"]),
        "seqs_consumed_before_post": len(log["skipped_reported"]) + len(log["skipped_silent"]),
        "received_by_endpoint": len(received),
        "duplicates_at_endpoint": sum(c - 1 for c in got.values()),
        "delivered_reported_failed": len(delivered_failed),
        "in_flight_at_stop": log["in_flight"],
        "endpoint_corrupted_bodies": [b.decode("latin-1") for b in bad],
        "endpoint_aborted_requests": aborted,
        "lost": lost,
        "lost_answered_not_received": lost_answered,
        "lost_unreported_gaps": lost_gaps,
        "longest_without_answer_module_s": round(max(gaps) / 1000, 1) if gaps else None,
        "recovered_after_faults_module_s": None
        if recovered_ms is None
        else round(recovered_ms / 1000, 1),
        "heap": heap,
        "heap_timeline": [
            [round(doc["uptime_ms"] * speed / 60000, 1), total - doc["mem_free"]]
            for _, doc in readings[:: max(1, len(readings) // 12)]
        ],
        "firmware_exit": rc,
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
        (
            "reconnections",
            "%d (state changes: %s)"
            % (s["reconnections"], ", ".join("%s %d" % kv for kv in s["state_changes"].items())),
        ),
        ("reports sent (POSTs)", str(s["reports_sent"])),
        ("answered 200 (firmware)", str(s["reports_answered"])),
        (
            "reported failed (firmware)",
            "%d (+%d seq consumed before a POST)"
            % (s["reports_failed"], s["seqs_consumed_before_post"]),
        ),
        (
            "received (endpoint)",
            "%d (%d of them reported failed by the firmware, %d duplicates)"
            % (
                s["received_by_endpoint"],
                s["delivered_reported_failed"],
                s["duplicates_at_endpoint"],
            ),
        ),
        ("lost", "%d" % len(s["lost"])),
        (
            "endpoint",
            "%d corrupted bodies, %d requests broken off by a fault"
            % (len(s["endpoint_corrupted_bodies"]), s["endpoint_aborted_requests"]),
        ),
        ("longest without an answer", "%s module s" % s["longest_without_answer_module_s"]),
        ("recovered after last fault", "%s module s" % s["recovered_after_faults_module_s"]),
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
