# Issue #18 ("Bad input and dead modules") and issue #16 under the MicroPython unix port on
# the virtual board: what only MicroPython shows (str/array byte counts, errno names where
# errno.errorcode lacks them, the port's asyncio and frozen requests). Each test names its item.
import array
import asyncio
import os
import socket as real_socket  # the port's own sockets, for loopback peers
import time

import quectel.socket as qsocket
from mptest import eq, ok, raises, run, test
from quectel import Modem

import boards.virtual as board

ECHO = int(os.getenv("ECHO_PORT"))
HTTP = int(os.getenv("HTTP_PORT"))
ENODEV, ENETDOWN, ENETUNREACH, EISCONN, ENFILE, EMSGSIZE, EAFNOSUPPORT = (
    19,
    100,
    101,
    106,
    23,
    90,
    97,
)
modem = Modem.for_board(board)
LOG = []


def trace(d, b):
    LOG.append((d, bytes(b)))


def written():
    return b"".join(b for d, b in LOG if d == ">")


def connected(mode=0, timeout=10):
    s = modem.socket(mode=mode)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", ECHO))
    return s


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        k = s.recv(min(1500, n - len(out)))
        ok(k, "EOF after %d of %d bytes" % (len(out), n))
        out += k
    return bytes(out)


def arun(coro, limit_s=60):
    async def main():
        return await asyncio.wait_for(coro, limit_s)

    return asyncio.run(main())


def expect_errno(e, code, name):
    eq(e.errno, code)
    ok(name in str(e), "%r does not name %s" % (str(e), name))


@test
def enetunreach_is_named_before_connect():
    """#18.7: connect() without a data connection: OSError ENETUNREACH, named in str()."""
    modem.power_on()
    e = raises(OSError, modem.socket().connect, ("127.0.0.1", ECHO))
    expect_errno(e, ENETUNREACH, "ENETUNREACH")
    modem.connect("internet")
    ok(modem.isconnected())


@test
def errno_names_without_errorcode():
    """#18.7: EISCONN, ENFILE, EMSGSIZE, EAFNOSUPPORT print their names under MicroPython,
    whose errno.errorcode lacks them (not 'error 106')."""
    s = connected()
    expect_errno(raises(OSError, s.connect, ("127.0.0.1", ECHO)), EISCONN, "EISCONN")
    expect_errno(raises(OSError, modem.socket, 10), EAFNOSUPPORT, "EAFNOSUPPORT")
    u = modem.socket(2, 2)
    u.settimeout(5)
    u.connect(("127.0.0.1", ECHO))
    expect_errno(raises(OSError, u.send, b"x" * 1461), EMSGSIZE, "EMSGSIZE")
    socks = [s, u] + [connected() for _ in range(10)]
    expect_errno(raises(OSError, connected), ENFILE, "ENFILE")
    for x in socks:
        x.close()
    eq(modem.sockets, [None] * 12)


@test
def bad_arguments_are_valueerrors_naming_them():
    """#18.7: remote port 0, non-integer ping timeout/count, wrong config value types:
    ValueError naming the argument, nothing written to the UART."""
    modem.at.trace = trace
    cases = (
        ("port", lambda: modem.socket().connect(("127.0.0.1", 0))),
        ("timeout", lambda: modem.ping("127.0.0.1", 1.5)),
        ("count", lambda: modem.ping("127.0.0.1", 1, "4")),
        ("transpktsize", lambda: modem.config("transpktsize", "512")),
        ("transwaittm", lambda: modem.config("transwaittm", 2.5)),
        ("coalesce_ms", lambda: type(modem)(modem.uart, coalesce_ms=0)),
    )
    try:
        for word, fn in cases:
            LOG.clear()
            e = raises(ValueError, fn)
            ok(word in str(e), "%r does not name %s" % (str(e), word))
            eq(written(), b"", word)
    finally:
        modem.at.trace = None
    eq(modem.sockets, [None] * 12)


@test
def send_list_is_refused_and_socket_still_works():
    """#18.1: send([1, 2]) raises TypeError before anything reaches the UART; the same socket
    then sends and receives normally and close() sends AT+QICLOSE."""
    s = connected()
    modem.at.trace = trace
    LOG.clear()
    try:
        raises(TypeError, s.send, [1, 2])
        raises(TypeError, s.write, [1, 2])
        eq(written(), b"")
        s.sendall(b"still alive")
        eq(recv_exactly(s, 11), b"still alive")
        ok(modem.check())
        ok(modem.signal())
        s.close()
        ok(b"AT+QICLOSE=" in written(), "no AT+QICLOSE")
    finally:
        modem.at.trace = None


@test
def str_and_array_byte_counts():
    """#18.2: send("héllo") counts its 6 UTF-8 bytes (as the port's own socket does: 6, not
    5 of 6); array('H') is sent whole (its bytes, not its item count); byte-exact at the peer."""
    s = connected()
    eq(s.send("héllo"), 6)
    eq(recv_exactly(s, 6), "héllo".encode())
    eq(s.write("é"), 2)
    eq(recv_exactly(s, 2), "é".encode())
    a = array.array("H", [0x4142, 0x4344, 0x4546])
    eq(s.send(a), 6)
    eq(recv_exactly(s, 6), b"BADCFE")  # little-endian items
    s.sendall(array.array("I", range(500)))
    eq(recv_exactly(s, 2000), bytes(array.array("I", range(500))))
    s.close()


@test
def recv_into_never_more_than_fits():
    """#18.3: recv_into(buf, nbytes) / readinto(buf, nbytes) with nbytes > len(buf) read at
    most len(buf); the rest comes in later reads, byte-exact."""
    s = connected()
    data = bytes(range(256)) * 12
    s.sendall(data)
    time.sleep_ms(100)
    got = bytearray()
    buf = bytearray(100)
    while len(got) < len(data):
        k = s.recv_into(buf, 1500)
        ok(0 < k <= 100, "recv_into returned %r" % k)
        got += buf[:k]
    eq(bytes(got), data)
    s.sendall(b"z" * 200)
    got = bytearray()
    while len(got) < 200:
        k = s.readinto(buf, 1000)
        ok(0 < k <= 100, "readinto returned %r" % k)
        got += buf[:k]
    eq(bytes(got), b"z" * 200)
    s.close()


@test
def recv_zero_and_negative():
    """#18.4: recv(0) returns b"" at once and writes nothing (no AT+QIRD=<id>,0);
    recv(-5) raises ValueError."""
    s = connected()
    modem.at.trace = trace
    LOG.clear()
    try:
        t0 = modem.clock.ticks_ms()
        eq(s.recv(0), b"")
        ok(modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 2000, "recv(0) waited")
        eq(written(), b"")
        raises(ValueError, s.recv, -5)
        eq(written(), b"")
    finally:
        modem.at.trace = None
    s.sendall(b"ok")
    eq(recv_exactly(s, 2), b"ok")
    s.close()


@test
def micropython_stream_signatures():
    """#16.2: write(buf, n), write(buf, off, n), readinto(buf, nbytes), recv_into(buf,
    nbytes), send/sendall with memoryview/bytearray/array move exactly what they say."""
    s = connected()
    src = bytearray(b"0123456789abcdef")
    eq(s.write(src, 4), 4)  # umqtt: sock.write(buf, n)
    eq(s.write(src, 10, 3), 3)
    eq(s.write(memoryview(src)[12:], 2), 2)
    eq(recv_exactly(s, 9), b"0123abccd")
    eq(s.send(bytearray(b"ba")), 2)
    s.sendall(memoryview(b"xmvx")[1:3])
    s.sendall(array.array("B", b"arr"))
    eq(recv_exactly(s, 7), b"bamvarr")
    s.sendall(b"ABCDEFGHIJ")
    time.sleep_ms(100)
    buf = bytearray(10)
    eq(s.readinto(buf, 3), 3)
    eq(bytes(buf[:3]), b"ABC")
    eq(s.recv_into(buf, 2), 2)
    eq(bytes(buf[:2]), b"DE")
    mv = memoryview(buf)
    got = bytearray()
    while len(got) < 5:
        k = s.recv_into(mv[1:], 5 - len(got))
        got += mv[1 : 1 + k]
    eq(bytes(got), b"FGHIJ")
    s.close()


@test
def requests_post_uses_few_qisends():
    """#16.6: a micropython-lib requests POST of a small body through quectel.socket.use()
    issues at most 2 AT+QISEND (today about 19), and the answer is right."""
    qsocket.use(modem)
    import requests

    modem.at.trace = trace
    # requests' writes come microseconds apart on a device; a window this wide keeps a loaded
    # CI machine's scheduling stalls from splitting the burst (the count must not be timing).
    modem.coalescer.ms = 2000
    try:
        for i in range(2):
            LOG.clear()
            r = requests.post("http://127.0.0.1:%d/up" % HTTP, data=b"cellular %d" % i)
            n = written().count(b"AT+QISEND=")
            eq(r.content, b"CELLULAR %d" % i)
            r.close()
            ok(n <= 2, "%d AT+QISEND for one small POST" % n)
    finally:
        modem.at.trace = None
        modem.coalescer.ms = 20


def listener():
    # A loopback peer of our own: (listening socket, port).
    for port in range(47300, 47400):
        srv = real_socket.socket()
        try:
            srv.bind(real_socket.getaddrinfo("127.0.0.1", port)[0][-1])
        except OSError:
            srv.close()
            continue
        srv.listen(1)
        return srv, port
    raise OSError("no free port")


@test
def lone_small_write_is_delivered():
    """#16.6: a lone small write (after a quiet spell) reaches the peer with no further call
    on the socket; small writes right after it are coalesced, and the board's timer sends
    them after a short idle, also with no further call."""
    srv, port = listener()
    s = modem.socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    c, _ = srv.accept()
    c.setblocking(False)

    def peer_got(n):
        got = b""
        t0 = time.ticks_ms()
        while len(got) < n and time.ticks_diff(time.ticks_ms(), t0) < 3000:
            try:
                part = c.recv(100)
            except OSError:
                part = None
            if part:
                got += part
            else:
                time.sleep_ms(10)
        return got

    s.write(b"first ")
    first = peer_got(6)
    s.write(b"sec")
    s.write(b"ond")  # queued with "sec": the board's timer sends them, no further call
    second = peer_got(6)
    s.close()  # before the peer goes: a late flush must not be what fails here
    c.close()
    srv.close()
    eq(first, b"first ")
    eq(second, b"second")


@test
def aio_wait_closed_then_blocking_calls():
    """#16.4: `await writer.wait_closed()` returns only after AT+QICLOSE ran; then the
    blocking facade works in the same program (modem.signal(), a blocking socket) without
    EIO 'a command is already running'."""
    from quectel.aio import AModem

    am = AModem(modem)
    modem.at.trace = trace
    LOG.clear()

    async def main():
        r, w = await am.open_connection("127.0.0.1", ECHO)
        w.write(b"hello aio")
        await w.drain()
        got = await r.readexactly(9)
        w.close()
        await w.wait_closed()
        closed = b"AT+QICLOSE=" in written()
        busy = modem.at.busy
        free = all(x is None for x in modem.sockets)
        await am.stop()
        return got, closed, busy, free

    try:
        got, closed, busy, free = arun(main())
    finally:
        modem.at.trace = None
    eq(got, b"hello aio")
    ok(closed, "wait_closed returned before AT+QICLOSE")
    ok(not busy, "a command was still running after wait_closed")
    ok(free, "a connect ID is still taken after wait_closed")
    ok(modem.signal())
    s = connected()
    s.sendall(b"blocking")
    eq(recv_exactly(s, 8), b"blocking")
    s.close()


@test
def transparent_close_with_data_in_flight():
    """#16.5: close() right after writing 8 KB in transparent mode (DTR wired on the virtual
    board) delivers every byte to the peer, sends AT+QICLOSE and does not time out in
    leave(); the UART is back in command mode."""
    srv, port = listener()
    s = modem.socket(mode=2)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    c, _ = srv.accept()
    ok(modem.at.data_mode, "not transparent")
    data = bytes(range(256)) * 32
    modem.at.trace = trace
    LOG.clear()
    try:
        s.write(data)
        s.close()
    finally:
        modem.at.trace = None
    ok(b"AT+QICLOSE=" in written(), "no AT+QICLOSE")
    ok(not modem.at.data_mode, "still transparent")
    c.setblocking(False)
    got = b""
    t0 = time.ticks_ms()
    while len(got) < len(data) and time.ticks_diff(time.ticks_ms(), t0) < 5000:
        try:
            part = c.recv(4096)
        except OSError:
            part = None
        if part:
            got += part
        elif part == b"":
            break
        else:
            time.sleep_ms(10)
    c.close()
    srv.close()
    eq(len(got), len(data))
    ok(got == data, "data differs")
    ok(modem.signal())


@test
def aio_and_blocking_in_one_program():
    """#16.4: blocking calls made from inside a running asyncio program (the pump task still
    alive) after wait_closed work, and the same AModem works again in a later asyncio.run()."""
    from quectel.aio import AModem

    am = AModem(modem)

    async def first():
        r, w = await am.open_connection("127.0.0.1", ECHO)
        w.write(b"one")
        await w.drain()
        got = await r.readexactly(3)
        w.close()
        await w.wait_closed()
        sig = modem.signal()  # blocking, inside the loop
        s = connected()
        s.sendall(b"two")
        back = recv_exactly(s, 3)
        s.close()
        return got, sig, back

    got, sig, back = arun(first(), 30)
    eq(got, b"one")
    ok(sig, "no signal")
    eq(back, b"two")

    async def second():
        r, w = await am.open_connection("127.0.0.1", ECHO)
        w.write(b"three")
        await w.drain()
        got = await r.readexactly(5)
        await w.wait_closed()
        return got, await am.signal()

    got, sig = arun(second(), 30)
    eq(got, b"three")
    ok(sig, "no signal")
    ok(modem.signal())


@test
def powered_off_module_fails_fast():
    """#18.6 / #16.3: after power_off(): signal(), imei(), resolve() raise at once OSError
    ENODEV/ENETDOWN with nothing written; disconnect() and a second power_off() return at
    once without writing."""
    modem.power_off()
    modem.at.trace = trace
    try:
        for fn, args in ((modem.signal, ()), (modem.imei, ()), (modem.resolve, ("example.com",))):
            LOG.clear()
            t0 = modem.clock.ticks_ms()
            e = raises(OSError, fn, *args)
            ok(e.errno in (ENODEV, ENETDOWN), repr(e))
            eq(written(), b"")
            ok(modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 1000, "waited")
        LOG.clear()
        t0 = modem.clock.ticks_ms()
        modem.disconnect()
        try:
            modem.power_off()
        except OSError as e:
            ok(e.errno in (ENODEV, ENETDOWN), repr(e))
        eq(written(), b"")
        ok(modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 1000, "waited")
    finally:
        modem.at.trace = None


run()
