# The whole stack under the MicroPython unix port, on the virtual board, against the virtual
# module and real loopback peers: boot by PWRKEY, sockets, heap, poll, requests, TLS, asyncio.
import gc
import os
import select

import quectel.socket as qsocket
from mptest import run, test
from payload import echo_check, pattern
from quectel import Modem

import boards.virtual as board

ECHO = int(os.getenv("ECHO_PORT"))
modem = Modem.for_board(board)


def connected(mode=0):
    s = modem.socket(mode=mode)
    s.settimeout(20)
    s.connect(("127.0.0.1", ECHO))
    return s


@test
def cold_boot_by_pwrkey_to_ip():
    modem.connect("internet")
    assert modem.isconnected(), modem.status()
    assert modem.ipconfig("addr4")[0] != "0.0.0.0"


@test
def identity_signal_and_registration():
    assert len(modem.imei()) == 15 and modem.iccid().startswith("89")
    assert modem.identity()[0] == "Quectel" and modem.operator()
    dbm, ber = modem.signal()
    assert dbm is None or -113 <= dbm <= -51
    assert modem.registration in (None, 1, 5)


@test
def what_runs_once_is_released_after_use():
    # #24.1, on MicroPython: power, bring-up and identity are gone from the heap after use,
    # and check() on a healthy connection loads none of them.
    import sys

    import quectel

    assert modem.check() is True
    once = [n for n in ("power", "lifecycle", "diag") if "quectel." + n in sys.modules]
    assert once == [], once
    assert not [n for n in ("power", "lifecycle", "diag") if hasattr(quectel, n)]


@test
def one_megabyte_echo_buffer_mode():
    data = pattern(1024 * 1024, 1)
    s = connected()
    assert echo_check(s, data) == len(data)
    s.close()


@test
def one_megabyte_echo_direct_push_mode():
    data = pattern(1024 * 1024, 2)
    s = connected(mode=1)
    assert echo_check(s, data) == len(data)
    s.close()


@test
def heap_per_kb_in_steady_state():
    s = connected()
    data = memoryview(pattern(1460, 3))
    buf = bytearray(1500)
    s.sendall(data)  # warm up both directions
    got = 0
    while got < len(data):
        got += s.recv_into(buf)
    rounds = 40
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(rounds):
        s.sendall(data)
    a1 = gc.mem_alloc()
    got = 0
    while got < rounds * len(data):
        got += s.recv_into(buf)
    a2 = gc.mem_alloc()
    gc.enable()
    kb = rounds * len(data) / 1024
    sent, recvd = (a1 - a0) / kb, (a2 - a1) / kb
    # Includes what the virtual board's Python UART and the MicroPython poll loop allocate; the
    # library's own figure is measured with a non-allocating UART in test_engine_mp.py.
    print("heap: %.1f bytes/KB sent, %.1f bytes/KB received (whole virtual board)" % (sent, recvd))
    s.close()


@test
def select_poll_on_several_sockets():
    socks = [connected() for _ in range(3)]
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLIN)
    socks[1].sendall(b"only one")
    ready = []
    for _ in range(2000):
        ready = p.poll(10)
        if ready:
            break
    assert [r[0] for r in ready] == [socks[1]], ready
    assert socks[1].recv(8) == b"only one"
    for s in socks:
        s.close()


@test
def requests_get_and_post_through_the_module():
    qsocket.use(modem)
    import requests

    port = int(os.getenv("HTTP_PORT"))
    r = requests.get("http://127.0.0.1:%d/status" % port)
    assert r.status_code == 200 and r.content == b"hello from /status", r.content
    r = requests.post("http://localhost:%d/up" % port, data=b"cellular")
    assert r.content == b"CELLULAR"


@test
def requests_https_through_the_module():
    qsocket.use(modem)
    import requests

    r = requests.get("https://127.0.0.1:%d/secure" % int(os.getenv("HTTPS_PORT")))
    assert r.content == b"hello from /secure", r.content


@test
def tls_with_certificate_verification():
    import ssl

    with open(os.getenv("TLS_CA_DER"), "rb") as f:
        ca = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca)
    s = modem.socket()
    s.settimeout(20)
    s.connect(("127.0.0.1", int(os.getenv("HTTPS_PORT"))))
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.write(b"GET /tls HTTP/1.0\r\n\r\n")
    reply = b""
    while True:
        part = t.read(512)
        if not part:
            break
        reply += part
    t.close()
    assert reply.endswith(b"hello from /tls"), reply


@test
def asyncio_streams_over_a_module_socket():
    qsocket.use(modem)
    import asyncio

    async def main():
        r, w = await asyncio.open_connection("127.0.0.1", ECHO)
        w.write(b"line one\nline two\n")
        await w.drain()
        a = await r.readline()
        b = await r.readexactly(9)
        w.close()
        await w.wait_closed()
        return a, b

    assert asyncio.run(main()) == (b"line one\n", b"line two\n")


@test
def power_off():
    modem.active(False)
    assert not modem.active()


run()
