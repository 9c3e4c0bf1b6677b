# Device side of tools/bench_tls.py (MicroPython unix port, virtual board). Prints RESULT lines
# (JSON); before each measured transfer prints "READY <name>" and waits for a line on stdin, so
# the host can reset the virtual module's UART counters.
import gc
import json
import os
import sys
import time

import quectel.socket as qsocket
import quectel.tls as qtls
from quectel import Modem

import boards.virtual as board


def result(**kw):
    print("RESULT " + json.dumps(kw))


def sync(name):
    print("READY " + name)
    sys.stdin.readline()


def module_context():
    ctx = qtls.SSLContext()
    ctx.load_verify_locations(cafile=os.getenv("BENCH_CA"))
    return ctx


def heap_of_request(url, reps=3):
    # Bytes allocated by one HTTPS GET (GC off: every allocation counts, garbage included),
    # after a first request that imported and warmed everything up.
    import requests

    requests.get(url).close()
    out = []
    for _ in range(reps):
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        r = requests.get(url)
        body = r.content
        used = gc.mem_alloc() - a0
        gc.enable()
        r.close()
        out.append(used)
    return min(out), len(body)


def transfer(modem, tls, port, way, n):
    s = modem.socket()
    s.settimeout(60)
    s.connect(("127.0.0.1", port))
    if tls:
        module_context().wrap_socket(s, server_hostname="localhost")
    sync("%s-%s" % ("tls" if tls else "tcp", way))
    buf = bytearray(1460)
    t0 = time.ticks_ms()
    if way == "send":
        s.write(b"S %d\n" % n)
        left = n
        while left:
            k = min(left, len(buf))
            s.sendall(memoryview(buf)[:k])
            left -= k
        ok = s.recv(1) == b"K"
    else:
        s.write(b"R %d\n" % n)
        left = n
        while left:
            k = s.recv_into(buf)
            if not k:
                break
            left -= k
        ok = not left
    ms = time.ticks_diff(time.ticks_ms(), t0)
    s.close()
    print("DONE")
    result(kind="transfer", tls=tls, way=way, bytes=n, ms=ms, ok=ok)


def one_request(kind):
    # For the smallest-heap search: one request, nothing else.
    if kind == "module":
        qtls.use(module_context())
    import requests

    scheme = "http" if kind == "http" else "https"
    port = os.getenv("BENCH_HTTP_PORT" if kind == "http" else "BENCH_HTTPS_PORT")
    r = requests.get("%s://localhost:%s/x" % (scheme, port))
    assert len(r.content) == 512
    print("REQUEST OK")


def main():
    modem = Modem.for_board(board)
    modem.connect("internet")
    qsocket.use(modem)
    only = os.getenv("BENCH_ONLY")
    if only:
        return one_request(only)
    n = int(os.getenv("BENCH_BYTES"))
    for tls in (True, False):
        for way in ("send", "recv"):
            transfer(modem, tls, int(os.getenv("BENCH_TLS_PORT" if tls else "BENCH_TCP_PORT")),
                     way, n)  # fmt: skip
    used, size = heap_of_request("http://localhost:%s/x" % os.getenv("BENCH_HTTP_PORT"))
    result(kind="heap", tls="none", bytes=used, body=size)
    url = "https://localhost:%s/x" % os.getenv("BENCH_HTTPS_PORT")
    if os.getenv("BENCH_MCU") == "1":  # the firmware's ssl over a module TCP socket
        used, size = heap_of_request(url)
        result(kind="heap", tls="mcu", bytes=used, body=size)
    qtls.use(module_context())
    used, size = heap_of_request(url)
    result(kind="heap", tls="module", bytes=used, body=size)


main()
