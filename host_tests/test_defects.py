"""Issue #18 ("Bad input and dead modules") and issue #16: one test per defect, CPython side.

Each test names its item in its docstring. The MicroPython-specific ones (str/array byte
counts, errno names without errorcode, asyncio under MicroPython, requests) are in
host_tests/device/test_defects_mp.py. Waits are bounded by socket timeouts and the fast clock.
"""

import array
import errno
import time

import pytest
from conftest import SPEED, make_modem

BUFFER, PUSH, TRANSPARENT = 0, 1, 2  # access modes (README: modem.socket(mode=...))
SOCK_DGRAM = 2


def traced(m):
    """Record every UART write and read of m: list of (direction, bytes)."""
    log = []
    m.at.trace = lambda d, b: log.append((d, bytes(b)))
    return log


def written(log):
    return b"".join(b for d, b in log if d == ">")


def commands(log):
    """The AT command lines the host wrote (payload excluded, roughly: lines starting AT)."""
    out = []
    for line in written(log).split(b"\r"):
        i = line.find(b"AT")
        if i >= 0:
            out.append(line[i:])
    return out


def connected(m, port, mode=BUFFER, timeout=5):
    s = m.socket(mode=mode)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def recv_exactly(s, n, bufsize=1500):
    out = bytearray()
    while len(out) < n:
        k = s.recv(min(bufsize, n - len(out)))
        assert k, "EOF after %d of %d bytes" % (len(out), n)
        out += k
    return bytes(out)


def no_connections_left(vm, seconds=2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not vm.connections():
            return True
        time.sleep(0.02)
    return False


# ---- #18.1 a failed payload write wedges the engine ----------------------------------------


def test_send_list_refused_before_uart_and_socket_still_works(modem, echo, vm):
    """#18.1: send([1, 2]) raises TypeError before any command reaches the UART; afterwards
    the same socket still sends and receives, and close() sends AT+QICLOSE."""
    s = connected(modem, echo.port)
    log = traced(modem)
    with pytest.raises(TypeError):
        s.send([1, 2])
    with pytest.raises(TypeError):
        s.sendall([1, 2])
    with pytest.raises(TypeError):
        s.write([1, 2])
    assert written(log) == b"", written(log)
    assert not modem.at.busy
    s.sendall(b"still alive")
    assert recv_exactly(s, 11) == b"still alive"
    assert modem.check() is True
    assert modem.signal()  # the engine is free for other commands
    s.close()
    assert b"AT+QICLOSE=" in written(log)
    assert no_connections_left(vm)


# ---- #18.2 silent truncation ---------------------------------------------------------------


def test_send_str_counts_utf8_bytes(modem, echo):
    """#18.2: send("héllo") must not silently send 5 of its 6 bytes. MicroPython's own socket
    (unix port, checked) sends a str's UTF-8 bytes and returns 6; requests writes str."""
    s = connected(modem, echo.port)
    n = s.send("héllo")
    assert n == 6
    assert recv_exactly(s, 6) == "héllo".encode()
    s.close()


def test_send_array_and_memoryview_whole(modem, echo):
    """#18.2: send/sendall/write of array('H'), memoryview and bytearray move every byte
    (the byte count of a memoryview of the object), byte-exact at the echo peer."""
    s = connected(modem, echo.port)
    a = array.array("H", range(0x4100, 0x4100 + 300))  # 600 bytes
    raw = a.tobytes()
    assert s.send(a) == len(raw)
    assert recv_exactly(s, len(raw)) == raw
    s.sendall(a)
    assert recv_exactly(s, len(raw)) == raw
    assert s.write(a) == len(raw)
    assert recv_exactly(s, len(raw)) == raw
    big = array.array("I", range(2000))  # 8000 bytes
    s.sendall(big)
    assert recv_exactly(s, 8000) == big.tobytes()
    mv = memoryview(bytearray(range(256)) * 4)[3:1000]
    assert s.send(mv) == len(mv)
    assert recv_exactly(s, len(mv)) == bytes(mv)
    s.close()


# ---- #18.3 recv_into with nbytes > len(buf) ------------------------------------------------


def test_recv_into_never_more_than_fits(modem, echo):
    """#18.3: recv_into(buf, nbytes) with nbytes > len(buf) reads at most len(buf); the rest
    arrives in later reads (byte-exact stream)."""
    s = connected(modem, echo.port)
    data = bytes(range(256)) * 12  # 3072 bytes
    s.sendall(data)
    time.sleep(0.2)  # let the echo land in the module
    got = bytearray()
    buf = bytearray(100)
    while len(got) < len(data):
        k = s.recv_into(buf, 1500)
        assert 0 < k <= len(buf), k
        got += buf[:k]
    assert bytes(got) == data
    mv = memoryview(bytearray(64))
    s.sendall(b"z" * 200)
    out = bytearray()
    while len(out) < 200:
        k = s.readinto(mv, 1000)
        assert 0 < k <= 64, k
        out += mv[:k]
    assert bytes(out) == b"z" * 200
    s.close()


# ---- #18.4 recv(0) -------------------------------------------------------------------------


def test_recv_zero_returns_at_once_and_negative_is_valueerror(modem, echo):
    """#18.4: recv(0) returns b"" at once without writing to the UART (no AT+QIRD=<id>,0,
    the length query); recv(-5) raises ValueError; the socket still works."""
    s = connected(modem, echo.port)
    log = traced(modem)
    t0 = modem.clock.ticks_ms()
    assert s.recv(0) == b""
    assert modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 2000
    log.clear()
    assert s.recv(0) == b""
    assert written(log) == b"", written(log)
    with pytest.raises(ValueError):
        s.recv(-5)
    assert written(log) == b""
    s.sendall(b"ok")
    assert recv_exactly(s, 2) == b"ok"
    s.close()


# ---- #18.6 fail fast when the module is off ------------------------------------------------


def _fast_oserror(m, log, fn, *args):
    log.clear()
    t0 = m.clock.ticks_ms()
    with pytest.raises(OSError) as ei:
        fn(*args)
    dt = m.clock.ticks_diff(m.clock.ticks_ms(), t0)
    return ei.value, dt, commands(log)


def test_powered_off_module_fails_fast(modem):
    """#18.6: after power_off(), signal(), imei(), resolve() raise at once an OSError with
    errno ENODEV or ENETDOWN (nothing written to the UART, no 60 s wait on the module
    clock); a second power_off() returns or raises at once, without writing."""
    log = traced(modem)
    modem.power_off()
    for fn, args in ((modem.signal, ()), (modem.imei, ()), (modem.resolve, ("example.com",))):
        e, dt, cmds = _fast_oserror(modem, log, fn, *args)
        assert e.errno in (errno.ENODEV, errno.ENETDOWN), (fn.__name__, e)
        assert cmds == [], (fn.__name__, cmds)
        assert dt < 1000, (fn.__name__, dt)
    log.clear()
    t0 = modem.clock.ticks_ms()
    try:
        modem.power_off()
    except OSError as e:
        assert e.errno in (errno.ENODEV, errno.ENETDOWN), e
    assert commands(log) == []
    assert modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 1000


def test_vm_powered_down_module_fails_fast(vm):
    """#18.6: a module that powered down on its own (POWERED DOWN, VM off) is known off:
    signal(), imei(), resolve(), power_off() raise OSError ENODEV/ENETDOWN at once, with at
    most one probe written and far less than the 60 s ATTimeout on the module clock."""
    m = make_modem(vm)
    m.connect("internet")
    m.command(b"AT+QPOWD=1", b"")  # the module says POWERED DOWN and goes off
    deadline = time.monotonic() + 5
    while vm.power_state != "off" and time.monotonic() < deadline:
        m.at.poll()
        time.sleep(0.01)
    m.at.wait(None, 200)
    log = traced(m)
    for name, args in (("signal", ()), ("imei", ()), ("resolve", ("example.com",)),
                       ("power_off", ())):  # fmt: skip
        log.clear()
        t0 = m.clock.ticks_ms()
        try:
            getattr(m, name)(*args)
            raised = None
        except OSError as e:
            raised = e
        dt = m.clock.ticks_diff(m.clock.ticks_ms(), t0)
        assert len(commands(log)) <= 1, (name, commands(log))
        assert dt < 5000, (name, dt)
        if name != "power_off":
            assert raised is not None and raised.errno in (errno.ENODEV, errno.ENETDOWN), (
                name,
                raised,
            )
    m.at.uart.close()


def test_silent_module_known_off_after_first_timeout(modem, vm):
    """#18.6: when the module stops answering, the first command times out (an OSError);
    after that the module is known to be gone: signal(), imei(), resolve() raise OSError
    ENODEV/ENETDOWN with at most one short probe, not another 60 s wait each."""
    vm.fault_silence(None)
    with pytest.raises(OSError):
        modem.signal()
    log = traced(modem)
    for fn, args in ((modem.signal, ()), (modem.imei, ()), (modem.resolve, ("example.com",))):
        e, dt, cmds = _fast_oserror(modem, log, fn, *args)
        assert e.errno in (errno.ENODEV, errno.ENETDOWN), (fn.__name__, e)
        assert len(cmds) <= 2, (fn.__name__, cmds)
        assert dt < 2500, (fn.__name__, dt)


def test_silent_module_power_off_is_fast(modem, vm):
    """#18.6: a second power_off() on a module known to be gone (it stopped answering and a
    command already timed out) returns or raises at once: no new 12 s AT+QPOWD wait, no
    60 s ATTimeout, on the module clock."""
    vm.fault_silence(None)
    with pytest.raises(OSError):
        modem.signal()
    log = traced(modem)
    for _ in range(2):
        log.clear()
        t0 = modem.clock.ticks_ms()
        try:
            modem.power_off()
        except OSError as e:
            assert e.errno in (errno.ENODEV, errno.ENETDOWN), e
        dt = modem.clock.ticks_diff(modem.clock.ticks_ms(), t0)
        assert dt < 2500, dt
        assert len(commands(log)) <= 2, commands(log)


@pytest.mark.parametrize("way", ["send", "recv"])
def test_socket_timeout_bounds_silent_module(modem, echo, vm, way):
    """#18.6: a socket's own timeout (settimeout) bounds the wait the caller sees when the
    module stops answering mid-transfer: OSError ETIMEDOUT within the timeout (module clock,
    a little slack), not the manual's 60 s."""
    s = connected(modem, echo.port, timeout=2)
    s.sendall(b"a" * 3000)
    assert recv_exactly(s, 1000) == b"a" * 1000  # mid-transfer: 2000 more wait
    vm.fault_silence(None)
    t0 = modem.clock.ticks_ms()
    with pytest.raises(OSError) as ei:
        if way == "send":
            for _ in range(20):
                s.sendall(b"b" * 1460)
        else:
            for _ in range(20):
                s.recv(1500)
    dt = modem.clock.ticks_diff(modem.clock.ticks_ms(), t0)
    assert ei.value.errno == errno.ETIMEDOUT, ei.value
    assert dt <= 2000 + 1500, dt


# ---- #18.7 clear errors --------------------------------------------------------------------


def test_errno_names_in_messages(vm, echo):
    """#18.7: ENETUNREACH, EISCONN, ENFILE, EMSGSIZE, EAFNOSUPPORT name themselves in
    str(exception), not 'error 101'."""
    m = make_modem(vm)
    m.power_on()
    with pytest.raises(OSError) as ei:
        m.socket().connect(("127.0.0.1", echo.port))  # no data connection yet
    assert ei.value.errno == errno.ENETUNREACH and "ENETUNREACH" in str(ei.value), ei.value
    m.connect("internet")
    s = connected(m, echo.port)
    with pytest.raises(OSError) as ei:
        s.connect(("127.0.0.1", echo.port))
    assert ei.value.errno == errno.EISCONN and "EISCONN" in str(ei.value), ei.value
    with pytest.raises(OSError) as ei:
        m.socket(10)  # AF_INET6
    assert ei.value.errno == errno.EAFNOSUPPORT and "EAFNOSUPPORT" in str(ei.value)
    u = m.socket(2, SOCK_DGRAM)
    u.settimeout(5)
    u.connect(("127.0.0.1", echo.port))
    with pytest.raises(OSError) as ei:
        u.send(b"x" * 1461)
    assert ei.value.errno == errno.EMSGSIZE and "EMSGSIZE" in str(ei.value), ei.value
    socks = [s, u] + [connected(m, echo.port) for _ in range(10)]
    with pytest.raises(OSError) as ei:
        connected(m, echo.port)
    assert ei.value.errno == errno.ENFILE and "ENFILE" in str(ei.value), ei.value
    for x in socks:
        x.close()
    m.at.uart.close()


def test_bad_arguments_are_valueerrors_naming_them(modem, echo):
    """#18.7: port 0 as a remote port, non-integer ping timeout/count, wrong config value
    types: ValueError naming the argument, with nothing written to the UART."""
    log = traced(modem)
    cases = [
        ("port", lambda: modem.socket().connect(("127.0.0.1", 0))),
        ("port", lambda: modem.socket().connect(("127.0.0.1", "80"))),
        ("timeout", lambda: modem.ping("127.0.0.1", timeout=1.5)),
        ("timeout", lambda: modem.ping("127.0.0.1", timeout="1")),
        ("count", lambda: modem.ping("127.0.0.1", count="4")),
        ("count", lambda: modem.ping("127.0.0.1", count=2.0)),
        ("transpktsize", lambda: modem.config("transpktsize", "512")),
        ("transwaittm", lambda: modem.config("transwaittm", 2.5)),
    ]
    for word, fn in cases:
        log.clear()
        with pytest.raises(ValueError) as ei:
            fn()
        assert word in str(ei.value), (word, str(ei.value))
        assert written(log) == b"", (word, written(log))
    assert modem.sockets == [None] * 12


# ---- #16.1 direct push with announcements over 1500 bytes ----------------------------------


def test_push_mode_large_announcements(echo):
    """#16.1: VirtualModule(push_max=4096) announces up to 4096 bytes per direct push
    (+QIURC: "recv",id,n with n > 1500); 100 KB come through push mode byte-exact.
    (push_max is being added to the virtual module; today the keyword does not exist.)"""
    from test_sockets import payload
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED, push_max=4096) as vm:
        m = make_modem(vm)
        m.connect("internet")
        s = connected(m, echo.port, mode=PUSH, timeout=10)
        data = payload(100 * 1024, seed=16)
        got = bytearray()
        buf = bytearray(4096)
        for off in range(0, len(data), 8192):
            s.sendall(memoryview(data)[off : off + 8192])
            while len(got) < min(off + 8192, len(data)):
                k = s.recv_into(buf)
                assert k, "EOF after %d bytes" % len(got)
                got += buf[:k]
        assert bytes(got) == data
        assert m.at.garbage == 0
        s.close()
        m.at.uart.close()


# ---- #16.2 MicroPython stream signatures ----------------------------------------------------


def test_stream_signatures_move_exactly_what_they_say(modem, echo):
    """#16.2: write(buf, n), write(buf, off, n), readinto(buf, nbytes), recv_into(buf, nbytes),
    send/sendall with memoryview/bytearray/array each move exactly the bytes they say."""
    s = connected(modem, echo.port)
    src = bytearray(b"0123456789abcdef")
    assert s.write(src, 4) == 4  # umqtt: sock.write(buf, n)
    assert s.write(src, 10, 3) == 3  # write(buf, off, n)
    assert s.write(memoryview(src)[12:], 2) == 2
    s.flush()
    assert recv_exactly(s, 9) == b"0123" + b"abc" + b"cd"
    assert s.send(bytearray(b"ba")) == 2
    s.sendall(memoryview(b"xmvx")[1:3])
    s.sendall(array.array("B", b"arr"))
    assert recv_exactly(s, 7) == b"ba" + b"mv" + b"arr"
    s.sendall(b"ABCDEFGHIJ")
    time.sleep(0.1)
    buf = bytearray(10)
    assert s.readinto(buf, 3) == 3 and buf[:3] == b"ABC"
    assert s.recv_into(buf, 2) == 2 and buf[:2] == b"DE"
    mv = memoryview(buf)
    got = bytearray()
    while len(got) < 5:
        k = s.recv_into(mv[1:], 5 - len(got))
        got += mv[1 : 1 + k]
    assert bytes(got) == b"FGHIJ"
    s.close()


# ---- #16.3 disconnect on a dead module; OSError everywhere ----------------------------------


def test_disconnect_when_off_returns_at_once(modem, echo):
    """#16.3: modem.disconnect() on a module that is off returns at once: no AT+QIDEACT
    (3x40 s), no reset, nothing written."""
    s = connected(modem, echo.port)
    modem.power_off()
    log = traced(modem)
    t0 = modem.clock.ticks_ms()
    modem.disconnect()
    assert modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 1000
    assert commands(log) == []
    with pytest.raises(OSError):
        s.send(b"x")


def test_disconnect_when_module_silent_returns_at_once(modem, echo, vm):
    """#16.3: a module that stopped answering (VM silence): disconnect() returns quickly
    (no QICLOSE 10 s per socket, no QIDEACT 40 s x3, no reset) on the module clock; errors
    seen on the way are OSErrors."""
    connected(modem, echo.port)
    vm.fault_silence(None)
    with pytest.raises(OSError):
        modem.signal()  # the first sign of trouble
    log = traced(modem)
    t0 = modem.clock.ticks_ms()
    try:
        modem.disconnect()
    except OSError:
        pass
    dt = modem.clock.ticks_diff(modem.clock.ticks_ms(), t0)
    assert dt < 3000, dt
    cmds = commands(log)
    assert not [c for c in cmds if c.startswith((b"AT+QIDEACT", b"AT+CFUN=1,1", b"AT+QPOWD"))]


def test_disconnect_when_context_already_down(modem, echo, vm):
    """#16.3: disconnect() when the context is already down (pdpdeact) returns at once:
    no 40 s QIDEACT wait on the module clock."""
    connected(modem, echo.port)
    vm.pdp_deactivate(1)
    modem.at.wait(lambda: not modem.isconnected(), 5000)
    vm.fault_silence(None)  # whatever it would send now could only wait
    t0 = modem.clock.ticks_ms()
    try:
        modem.disconnect()
    except OSError:
        pass
    assert modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 3000


def test_every_error_is_an_oserror():
    """#16.3: every error that reaches a socket/network caller is an OSError subclass, so
    `except OSError` catches ATTimeout, CMEError, ModuleOff, ..."""
    import quectel
    from quectel import errors

    for name in ("ATError", "ATTimeout", "CMEError", "ModuleOff", "ModuleRestarted",
                 "ProtocolError", "QuectelError", "TCPIPError"):  # fmt: skip
        assert issubclass(getattr(quectel, name), OSError), name
    for code in (0, 552, 565, 574, 999):
        assert isinstance(errors.error_for(code), OSError), code


# ---- #16.4 asyncio and the blocking facade in one program ----------------------------------


def test_aio_wait_closed_then_blocking_calls(modem, echo, vm):
    """#16.4: `await writer.wait_closed()` returns only after AT+QICLOSE ran (the VM has no
    connection left); afterwards a blocking modem.signal() and a blocking socket work, with
    no EIO 'a command is already running'."""
    import asyncio

    from quectel.aio import AModem

    log = traced(modem)
    am = AModem(modem)

    async def main():
        r, w = await am.open_connection("127.0.0.1", echo.port)
        w.write(b"hello aio")
        await w.drain()
        got = await asyncio.wait_for(r.readexactly(9), 5)
        w.close()
        await asyncio.wait_for(w.wait_closed(), 10)
        closed = b"AT+QICLOSE=" in written(log)
        left = vm.connections()
        await am.stop()
        return got, closed, left

    got, closed, left = asyncio.run(main())
    assert got == b"hello aio"
    assert closed, "wait_closed returned before AT+QICLOSE"
    assert left == {}, left
    assert not modem.at.busy
    assert modem.signal()
    s = connected(modem, echo.port)
    s.sendall(b"blocking")
    assert recv_exactly(s, 8) == b"blocking"
    s.close()


def test_aio_wait_closed_frees_the_connect_id_when_the_last_send_fails(modem, echo, vm):
    """A send that fails in wait_closed() (the peer closed: ECONNRESET) still closes the
    connection: AT+QICLOSE runs and the connect ID is free (it stayed taken: 12 such closes
    and every open failed with 562; found by the asyncio telemetry soak)."""
    import asyncio

    from quectel.aio import AModem

    am = AModem(modem)

    async def main():
        r, w = await am.open_connection("127.0.0.1", echo.port)
        w.write(b"too late")  # queued: drain() in wait_closed() sends it ...
        vm.remote_close(w.c.cid)  # ... after the peer has gone
        await am.sleep(500)
        try:
            await asyncio.wait_for(w.wait_closed(), 10)
        except OSError:
            pass  # the failed send is reported ...
        left = vm.connections()
        await am.stop()
        return left

    left = asyncio.run(main())
    assert left == {}, left
    assert modem.sockets == [None] * 12  # ... and the connect ID is free


# ---- #16.5 transparent close with data in flight: in test_transparent.py (slower clocks, for
# the "+++" guard times) -----------------------------------------------------------------------


# ---- #16.6 write coalescing ----------------------------------------------------------------


def test_lone_small_write_delivered_without_further_calls(modem, sink):
    """#16.6: no write is ever held waiting for a call that may not come. Without a board
    timer (Modem(timer=), as here) every write is sent at once; with one, small writes in
    quick succession share an AT+QISEND and the timer sends them (the device suite's
    lone_small_write_is_delivered and requests_post_uses_few_qisends cover that)."""
    assert modem.coalescer is None
    s = connected(modem, sink.port)
    log = traced(modem)
    for part in (b"first ", b"a", b"b", b"c"):
        s.write(part)
    assert sink.wait_for(9, 3) == b"first abc"
    sends = [c for c in commands(log) if c.startswith(b"AT+QISEND=")]
    assert len(sends) == 4, sends
    s.close()


def test_timer_flush_leaves_a_send_that_backs_off_alone():
    """#16.6: the board timer's flush runs between two bytecodes of whatever the program
    does, also while that connection's own flush waits out a SEND FAIL back-off (the engine
    idle, the send Op mid-way). It must leave that connection alone: starting the Op again
    would send the queued bytes twice or lose the first attempt's state."""
    from fakes import CannedUART, StepClock
    from quectel import Modem
    from quectel.conn import Conn

    class NoTimer:
        ONE_SHOT = 0

        def init(self, **kw):
            pass

    uart = CannedUART([])
    m = Modem(uart, clock=StepClock(), timer=NoTimer())
    c = Conn(m)
    c.cid = 0
    c.service = "TCP"
    m.sockets[0] = c
    c.keep(b"abc", 0, 3)
    c.wr.send(c.txmv, 0, 3)  # the connection's own flush, between two attempts
    m.coalescer.flush_due(None)
    assert uart.written == 0 and c.queued == 3


# ---- #22.5 small ones --------------------------------------------------------------------------


def test_recv_into_read_only_buffer_is_a_typeerror_at_once(modem, echo):
    """#22.5: recv_into()/readinto() given bytes raise TypeError before anything is read
    (they waited the whole timeout and raised ETIMEDOUT); the data stays for the next read."""
    s = connected(modem, echo.port, timeout=30)
    s.sendall(b"kept")
    t0 = modem.clock.ticks_ms()
    for call in (s.recv_into, s.readinto):
        with pytest.raises(TypeError):
            call(b"1234")
    assert modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 1000
    assert recv_exactly(s, 4) == b"kept"
    s.close()


def test_bad_timeouts_and_addresses_are_clear_errors(modem, echo):
    """#22.5: settimeout(-1) is a ValueError; connect/sendto/bind with an address that is not
    a (host, port) pair is a TypeError (it was an IndexError); an empty host name and NTP
    port 0 are ValueErrors; nothing reaches the UART."""
    s = modem.socket()
    with pytest.raises(ValueError):
        s.settimeout(-1)
    log = traced(modem)
    for bad in (("127.0.0.1",), "127.0.0.1", ("127.0.0.1", echo.port, 0)):
        with pytest.raises(TypeError):
            s.connect(bad)
    with pytest.raises(TypeError):
        modem.socket(type=SOCK_DGRAM).sendto(b"x", ("127.0.0.1",))
    with pytest.raises(TypeError):
        modem.socket().bind(5000)
    for call, args in ((s.connect, (("", 80),)), (modem.resolve, ("",)),
                       (modem.ping, ("",)), (modem.ntp, ("pool.ntp.org", 0)),
                       (modem.ntp, ("", 123))):  # fmt: skip
        with pytest.raises(ValueError):
            call(*args)
    assert written(log) == b"", written(log)


def test_push_overflow_switches_to_buffer_mode_once(echo):
    """#22.5: when a direct-push socket's ring overflows, AT+QISWTMD=<id>,0 is sent once
    (pushes that overflowed while it ran asked for the same switch again)."""
    from test_sockets import payload
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED, baud=460800) as vm:  # the echo keeps coming meanwhile
        m = make_modem(vm)
        m.connect("internet")
        s = m.socket(mode=PUSH)
        s.settimeout(10)
        s.connect(("127.0.0.1", echo.port))
        log = traced(m)
        data = payload(30000, seed=22)
        s.sendall(data)  # echoed while we do not read: the ring overflows
        assert recv_exactly(s, len(data)) == data
        switches = [c for c in commands(log) if c.startswith(b"AT+QISWTMD")]
        assert len(switches) == 1, switches
        s.close()
        m.at.uart.close()


def test_non_blocking_close_does_not_wait_for_the_module(modem, echo, vm):
    """#22.5: close() of a non-blocking socket (as mqtt_as uses) returns without waiting for
    AT+QICLOSE's answer, so an event loop is not held; the answer is read before the next
    command, which then works."""
    s = connected(modem, echo.port)
    s.setblocking(False)
    vm.fault_delay("AT+QICLOSE", 3000, 1)
    t0 = modem.clock.ticks_ms()
    s.close()
    assert modem.clock.ticks_diff(modem.clock.ticks_ms(), t0) < 1000
    assert modem.signal()[0] is not None
    assert no_connections_left(vm)
    s = connected(modem, echo.port)
    s.sendall(b"after")
    assert recv_exactly(s, 5) == b"after"
    s.close()


# ---- #26.5 the network-interface conventions -----------------------------------------------


def test_config_and_ipconfig_keyword_forms(modem):
    """#26.5: config() and ipconfig() take the keyword forms of MicroPython's network
    interfaces as well as the positional ones; STAT_* are exported by the package."""
    import quectel

    assert modem.config(transpktsize=512) == 512
    assert modem.config("transpktsize") == 512
    assert modem.config("transwaittm", 3) == 3
    assert modem.ipconfig("addr4")[0] == modem.ip
    assert modem.ipconfig("dhcp4") is True
    modem.ipconfig(dns4="8.8.4.4")
    assert modem.ipconfig("dns4") == "8.8.4.4"
    with pytest.raises(OSError):
        modem.ipconfig(addr4=("10.0.0.2", "255.0.0.0"))
    with pytest.raises(TypeError):
        modem.config("transpktsize", transwaittm=1)
    assert quectel.STAT_GOT_IP == modem.status()


def test_long_bring_up_reports_progress_every_10_s():
    """#26.5: a QIACT that takes 45 s (the manual allows 150) is reported through on_change
    at least every 10 s, so a console never sits silent."""
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED, qiact_ms=45000) as slow:
        m = make_modem(slow)
        m.connect("internet")
        ticks = [r for s, r in m.test_states if r and r.startswith("PDP context: ")]
        assert len(ticks) >= 4, m.test_states
        m.at.uart.close()
