# The MicroPython side of tools/bench: runs under the unix port on the virtual board
# (tools/vboard first on MICROPYPATH) against the virtual module that tools/bench.py runs
# in-process. One scenario per run, named by argv[1]:
#
#   transfer  bulk transfers listed in $BENCH_PLAN ("mode:dir:bytes,..."; mode buffer, push,
#             push4k, transparent or udp; dir send or recv). Before each measured transfer the
#             script prints "READY <mode> <dir> <bytes>" and waits for a line on stdin (the
#             orchestrator resets the module's UART counters, starts its clock and, for recv,
#             starts the peer); after it, "SENT"/"DONE" and again a line. $BENCH_HEAP=1 also
#             measures heap allocated per KB (gc disabled during the transfer).
#   latency   median AT and QIRD-poll round trips through the engine and through a raw loop.
#   echo      a 1 MB echo in buffer mode, data checked; $BENCH_SAMPLE=1 samples the heap.
#   canned    library-only heap per KB with a non-allocating canned UART (no module needed).
#   imports   heap used by importing the package (whatever MICROPYPATH finds: .py or .mpy).
#
# Results are printed as "RESULT <json>" lines.

import gc
import io
import json
import os
import sys
import time

MAX_SEND = 1460


def result(**kw):
    print("RESULT " + json.dumps(kw))


def sync(line):
    print(line)
    got = sys.stdin.readline()
    if not got:
        raise SystemExit("bench: orchestrator went away")
    return got.strip()


def pattern_block():
    # 1021 bytes (a prime: chunk edges never line up with it) of pseudo-random data, then its
    # first MAX_SEND bytes again, so that a send window starting anywhere in the first 1021
    # bytes is contiguous. Byte i of the stream is b[i % 1021].
    b = bytearray(1021 + MAX_SEND)
    x = 12345
    for i in range(1021):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        b[i] = (x >> 16) & 0xFF
    for i in range(1021, len(b)):
        b[i] = b[i - 1021]
    return b


def modem_up(**kw):
    from quectel import Modem

    import boards.virtual as board

    m = Modem.for_board(board, **kw)
    m.connect("internet")
    return m


# ---- transfer ------------------------------------------------------------------------------


def open_socket(modem, mode, port, udp_port):
    from quectel import socket as S

    if mode == "udp":
        s = modem.socket(type=S.SOCK_DGRAM)
        s.settimeout(30)
        s.connect(("127.0.0.1", udp_port))
        s.send(b"hi")  # tells the UDP peer where to send (before the counters are reset)
        return s
    if mode == "push4k":  # direct push with a receive buffer that can hold two pushes
        s = S.Socket(modem, S.AF_INET, S.SOCK_STREAM, 0, S.PUSH, rxbuf=4096)
    else:
        s = modem.socket(mode={"buffer": 0, "push": 1, "transparent": 2}[mode])
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    return s


async def aio_transfer(am, way, n, port, smv, rbuf, heap):
    # The asyncio streams (quectel.aio), buffer access mode: (socket, moved, error, heap).
    s = am.socket()
    await s.connect(("127.0.0.1", port))
    if heap:
        gc.collect()
        gc.disable()
    sync("READY aio %s %d" % (way, n))
    a0 = gc.mem_alloc()
    moved = 0
    err = None
    try:
        if way == "send":
            while moved < n:
                k = min(MAX_SEND, n - moved)
                s.write(smv if k == MAX_SEND else smv[:k])
                await s.drain()
                moved += k
        else:
            while moved < n:
                k = await s.readinto(rbuf)
                if not k:
                    break
                moved += k
    except Exception as e:  # reported, and the next transfer still runs
        err = "%s: %s" % (type(e).__name__, e)
    used = gc.mem_alloc() - a0
    gc.enable()
    return s, moved, err, used


def transfer():
    modem = modem_up()
    am = None
    sink = int(os.getenv("BENCH_SINK"))
    source = int(os.getenv("BENCH_SOURCE"))
    udp = int(os.getenv("BENCH_UDP"))
    heap = os.getenv("BENCH_HEAP") == "1"
    src = bytearray(MAX_SEND)
    blk = pattern_block()
    src[:] = blk[:MAX_SEND]
    smv = memoryview(src)
    rbuf = bytearray(1500)
    for item in os.getenv("BENCH_PLAN").split(","):
        mode, way, n = item.split(":")
        n = int(n)
        port = sink if way == "send" else source
        if mode == "aio":
            import asyncio

            from quectel.aio import AModem

            am = am or AModem(modem)
            s, moved, err, used = asyncio.run(aio_transfer(am, way, n, port, smv, rbuf, heap))
            sync("FAILED" if err else "SENT" if way == "send" else "DONE")
            result(kind="transfer", mode=mode, dir=way, bytes=n, moved=moved, error=err,
                   heap_per_kb=used * 1024 / moved if heap and moved and not err else None,
                   mode_before=0, mode_after=s.c.mode)  # fmt: skip
            asyncio.run(s.aclose())
            continue
        s = open_socket(modem, mode, port, udp)
        mode0 = s.mode
        if heap:
            gc.collect()
            gc.disable()
        sync("READY %s %s %d" % (mode, way, n))
        a0 = gc.mem_alloc()
        moved = 0
        err = None
        try:
            if way == "send":
                while moved < n:
                    k = n - moved
                    if k >= MAX_SEND:
                        s.send(smv) if mode == "udp" else s.sendall(smv)
                        k = MAX_SEND
                    else:
                        s.send(smv[:k]) if mode == "udp" else s.sendall(smv[:k])
                    moved += k
            else:
                while moved < n:
                    k = s.recv_into(rbuf)
                    if not k:
                        break
                    moved += k
        except Exception as e:  # reported, and the next transfer still runs
            err = "%s: %s" % (type(e).__name__, e)
        a1 = gc.mem_alloc()
        gc.enable()
        sync("FAILED" if err else "SENT" if way == "send" else "DONE")
        result(kind="transfer", mode=mode, dir=way, bytes=n, moved=moved, error=err,
               heap_per_kb=(a1 - a0) * 1024 / moved if heap and moved and not err else None,
               mode_before=mode0, mode_after=s.mode)  # fmt: skip
        try:
            s.close()
        except Exception:
            s = None
            gc.collect()


# ---- latency -------------------------------------------------------------------------------


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def latency():
    from engine_io import read_data

    modem = modem_up()
    at = modem.at
    uart = at.uart
    s = modem.socket()
    s.settimeout(30)
    s.connect(("127.0.0.1", int(os.getenv("BENCH_SINK"))))
    rounds = int(os.getenv("BENCH_ROUNDS") or "300")
    qird = b"AT+QIRD=%d,1500\r" % s.cid
    rb = bytearray(256)
    rmv = memoryview(rb)
    dst = memoryview(bytearray(1500))
    ticks_us, diff = time.ticks_us, time.ticks_diff

    def raw(cmd):
        # The least a driver can do: write the line, read until "\r\nOK\r\n".
        uart.write(cmd)
        got = 0
        while True:
            k = uart.readinto(rmv[got:])
            if k:
                got += k
                if got >= 6 and rb[got - 6 : got] == b"\r\nOK\r\n":
                    return got
            else:
                at.idle()  # the same 1 ms wait primitive the engine uses

    t = {"at_engine": [], "at_raw": [], "qird_engine": [], "qird_raw": []}
    for _ in range(20):  # warm up
        modem.command(b"AT")
        raw(b"AT\r")
    for _ in range(rounds):
        t0 = ticks_us()
        modem.command(b"AT")
        t1 = ticks_us()
        raw(b"AT\r")
        t2 = ticks_us()
        got = read_data(at, s.cid, dst, 1500)
        t3 = ticks_us()
        k = raw(qird)
        t4 = ticks_us()
        assert got == 0 and rb[:12] == b"\r\n+QIRD: 0\r\n", bytes(rb[:k])
        t["at_engine"].append(diff(t1, t0))
        t["at_raw"].append(diff(t2, t1))
        t["qird_engine"].append(diff(t3, t2))
        t["qird_raw"].append(diff(t4, t3))
    result(kind="latency", rounds=rounds, **{k: median(v) for k, v in t.items()})
    s.close()


# ---- echo ----------------------------------------------------------------------------------


def echo():
    sample = os.getenv("BENCH_SAMPLE") == "1"
    total = int(os.getenv("BENCH_ECHO_BYTES") or str(1024 * 1024))
    gc.collect()
    base0 = gc.mem_alloc()
    import machine  # noqa: F401
    import quectel  # noqa: F401
    import quectel.socket  # noqa: F401

    import boards.virtual  # noqa: F401

    gc.collect()
    code = gc.mem_alloc() - base0  # bytecode and module objects (RAM unless frozen)
    blk = pattern_block()
    pmv = memoryview(blk)
    rbuf = bytearray(1500)
    modem = modem_up()
    s = modem.socket()
    s.settimeout(30)
    s.connect(("127.0.0.1", int(os.getenv("BENCH_ECHO"))))
    gc.collect()
    base = gc.mem_alloc()
    peak = peak_live = base
    off = got = 0
    live_at = 32768
    window = 3 * MAX_SEND
    while got < total:
        if off < total and off - got < window:
            k = min(MAX_SEND, total - off)
            p = off % 1021
            s.sendall(pmv[p : p + k])
            off += k
            continue
        k = s.recv_into(rbuf)
        if not k:
            raise SystemExit("echo: EOF after %d bytes" % got)
        # Compared in place (no slice objects), so the heap figures are the library's.
        for i in range(k):
            if rbuf[i] != blk[(got + i) % 1021]:
                raise SystemExit("echo: data mismatch at byte %d" % (got + i))
        got += k
        if sample:
            a = gc.mem_alloc()
            if a > peak:
                peak = a
            if got >= live_at:
                live_at += 32768
                gc.collect()
                a = gc.mem_alloc()
                if a > peak_live:
                    peak_live = a
    s.close()
    result(kind="echo", bytes=got, start_alloc=base0, code_alloc=code, base_alloc=base,
           peak_alloc=peak,
           peak_live=peak_live, heap_total=gc.mem_alloc() + gc.mem_free())  # fmt: skip
    print("ECHO OK")


# ---- library-only heap (canned UART) -------------------------------------------------------


class BlobUART:
    """Plays one preallocated blob of module output, `seg` bytes at a time: the next segment
    becomes readable once the previous one was read (so a segment models what arrives while
    the application consumes the last one). Writes are counted only. Allocates nothing per
    call (io.BytesIO.readinto into the caller's buffer)."""

    def __init__(self, blob, seg):
        import io

        self._io = io.BytesIO(blob)
        self._end = len(blob)
        self._seg = seg
        self._n = 0
        self.written = 0

    def any(self):
        t = self._io.tell()
        if t == self._n and t < self._end:
            self._n = min(self._end, t + self._seg)
        return self._n - t

    def readinto(self, buf, nbytes=-1):
        n = self._n - self._io.tell()
        if 0 <= nbytes < n:
            n = nbytes
        if len(buf) < n:
            n = len(buf)
        return self._io.readinto(buf, n) if n else None

    def write(self, buf, off=0, n=-1):
        n = len(buf) - off if n < 0 else n
        self.written += n
        return n


def canned_socket(uart, mode=0, rxbuf=1500):
    from fakes import StepClock
    from quectel import Modem
    from quectel.modem import STAT_GOT_IP
    from quectel.socket import Socket

    m = Modem(uart, clock=StepClock())
    m.state = STAT_GOT_IP
    s = Socket(m, 2, 1, 0, mode, rxbuf)
    c = s.c
    c.cid = 0
    c.service = "TCP"
    c.avail = mode == 0
    m.sockets[0] = c
    return s


def measure(fn, nbytes):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - a0
    gc.enable()
    return used * 1024 / nbytes


def canned():
    from fakes import CannedUART
    from quectel import socket as S

    rounds = 60
    buf = bytearray(1500)
    out = {}

    def qird(total):
        segs = []
        for _ in range(total // 1500):
            segs.append(b"\r\n+QIRD: 1500\r\n" + bytes(1500) + b"\r\n\r\nOK\r\n")
        return segs

    def recv_loop(s, n):
        def f():
            got = 0
            while got < n:
                got += s.recv_into(buf)

        return f

    # buffer mode receive: AT+QIRD straight into the caller's buffer
    s = canned_socket(CannedUART(qird(1500 * (rounds + 1))))
    s.recv_into(buf)
    out["buffer_recv"] = measure(recv_loop(s, 1500 * rounds), 1500 * rounds)

    # sends (buffer and direct push modes send alike): fixed-length AT+QISEND
    data = memoryview(bytearray(MAX_SEND))
    s = canned_socket(CannedUART([b"\r\n> ", b"\r\nSEND OK\r\n"] * (rounds + 1), MAX_SEND))
    s.sendall(data)

    def send_loop():
        for _ in range(rounds):
            s.sendall(data)

    out["buffer_send"] = measure(send_loop, MAX_SEND * rounds)

    # direct push receive: +QIURC: "recv",0,1460 then the payload
    for name, rx in (("push_recv", 1500), ("push4k_recv", 4096)):
        one = b'\r\n+QIURC: "recv",0,1460\r\n' + bytes(MAX_SEND) + b"\r\n"
        s = canned_socket(BlobUART(one * (rounds + 1), len(one)), S.PUSH, rx)
        try:
            s.recv_into(buf)
            out[name] = measure(recv_loop(s, MAX_SEND * rounds), MAX_SEND * rounds)
        except Exception as e:  # the socket asked the module to switch modes: no answer here
            gc.enable()
            out[name] = None
            out[name + "_error"] = "%s: %s" % (type(e).__name__, e)
        out[name + "_switch"] = s.c._switch or s.c.modem.at.busy

    # transparent mode: the UART carries only payload
    s = canned_socket(BlobUART(bytes(1500 * (rounds + 1)), 1500), S.BUFFER)
    from quectel import transparent

    transparent.begin(s.c)
    s.c.modem.at.enter_data(s.c)
    s.recv_into(buf)
    out["transparent_recv"] = measure(recv_loop(s, 1500 * rounds), 1500 * rounds)

    def tsend():
        for _ in range(rounds):
            s.sendall(data)

    s.sendall(data)
    out["transparent_send"] = measure(tsend, MAX_SEND * rounds)

    # the asyncio streams (quectel.aio) over the same canned answers, as awaited calls
    import asyncio

    out["aio_recv"] = asyncio.run(canned_aio(qird(1500 * (rounds + 2)), rounds, buf, None))
    sends = [b"\r\n> ", b"\r\nSEND OK\r\n"] * (rounds + 2)
    out["aio_send"] = asyncio.run(canned_aio(sends, rounds, None, data))
    result(kind="canned", **out)


class Polled(io.IOBase):
    """A canned UART that asyncio's I/O queue can poll (ioctl MP_STREAM_POLL, no fileno)."""

    def __init__(self, uart):
        self.u = uart
        self.any = uart.any
        self.readinto = uart.readinto
        self.write = uart.write

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL
            return arg & 1 if self.u.any() else 0
        return -1  # no file descriptor: poll through this ioctl


async def canned_aio(segments, rounds, buf, data):
    # B/KB of `rounds` awaited readinto(buf) (buf given) or write(data) + drain().
    from fakes import CannedUART
    from quectel import Modem
    from quectel.aio import AModem
    from quectel.modem import STAT_GOT_IP

    m = Modem(Polled(CannedUART(segments, -1 if buf is not None else MAX_SEND)))
    m.state = STAT_GOT_IP
    am = AModem(m, wchunk=MAX_SEND)  # one payload write, as the canned answers expect
    s = am.socket()
    c = s.c
    c.cid = 0
    c.service = "TCP"
    m.sockets[0] = c
    c.avail = True
    if buf is not None:
        await s.readinto(buf)
    else:
        s.write(data)
        await s.drain()
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(rounds):  # the calls themselves, no coroutine of the loop's own per round
        if buf is not None:
            c.avail = True
            if await s.readinto(buf) != len(buf):
                raise RuntimeError("canned aio read came short")
        else:
            s.write(data)
            await s.drain()
    used = gc.mem_alloc() - a0
    gc.enable()
    n = rounds * (len(buf) if buf is not None else len(data))
    await am.stop()
    return used * 1024 / n


# ---- import cost ---------------------------------------------------------------------------


def imports():
    gc.collect()
    a0 = gc.mem_alloc()
    import quectel  # noqa: F401
    import quectel.socket  # noqa: F401

    gc.collect()
    result(kind="imports", heap=gc.mem_alloc() - a0)


# ---- one requests POST (QISEND count and UART bytes counted by the host) ----------------------


def post():
    import quectel.socket

    # BENCH_TIMER=0: no board timer, so every write is its own AT+QISEND (as before #16.6).
    modem = modem_up() if os.getenv("BENCH_TIMER") != "0" else modem_up(timer=None)
    quectel.socket.use(modem)
    import requests

    url = "http://127.0.0.1:%s/telemetry" % os.getenv("BENCH_HTTP")
    rounds = int(os.getenv("BENCH_POSTS") or "3")
    # The shape of firmware/main.py's telemetry report.
    body = {"board": "virtual", "seq": 0, "uptime_ms": 123456, "time": [2026, 12, 2, 22, 0, 0],
            "mem_free": 100000, "ip": modem.ip, "simulated_temperature_c": 21.3}  # fmt: skip
    for i in range(rounds):
        body["seq"] = i
        sync("READY post %d" % i)
        r = requests.post(url, json=body)
        status = r.status_code
        r.close()
        result(kind="post", status=status)
        print("DONE")


SCENARIOS = {"transfer": transfer, "latency": latency, "echo": echo, "canned": canned,
             "imports": imports, "post": post}  # fmt: skip

if __name__ == "__main__":
    SCENARIOS[sys.argv[1] if len(sys.argv) > 1 else os.getenv("BENCH_SCENARIO")]()
