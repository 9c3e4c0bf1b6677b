"""Fault matrix: every fault the virtual module can inject, during real transfers.

For each fault the stack either completes the operation or raises the documented error, and
then recovers without a process restart: `modem.check()`, then a fresh socket echo. Bytes
acknowledged to the application (send returned, recv returned) are tracked against what the
loopback peer got and what came back; a fault where the transport itself keeps every byte
must lose none, and any fault that loses bytes must have raised. The table is printed at the
end of the session (visible with -s) and written to build/fault_matrix.txt.
"""

import errno
import os

import pytest
from conftest import ROOT
from quectel import errors as E
from quectel import socket as S

MATRIX = []


@pytest.fixture(scope="session", autouse=True)
def fault_matrix():
    yield MATRIX
    if not MATRIX:
        return
    head = ("fault", "outcome", "sent", "delivered", "lost")
    rows = [head] + [tuple(str(x) for x in r) for r in MATRIX]
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(r[i].ljust(w[i]) if i < 2 else r[i].rjust(w[i]) for i in range(5)) for r in rows
    ]
    lines.insert(1, "  ".join("-" * x for x in w))
    text = "\n".join(lines) + "\n"
    print("\n\nFault matrix (bytes: sent = acknowledged to the app by send; delivered = got by "
          "the peer; lost = acknowledged but never back to the app)\n" + text)  # fmt: skip
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "fault_matrix.txt"), "w") as f:
        f.write(text)


def data_for(n, seed):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    special = b'\r\nOK\r\n> \r\nSEND OK\r\n+QIURC: "recv",0\r\n+QIRD: 9\r\nRDY\r\n\x1a\x1b+++'
    out[10 : 10 + len(special)] = special[: max(0, n - 10)]
    return bytes(out)


class Transfer:
    """One echo transfer through a socket, counting what the application was told."""

    def __init__(self, modem, echo, n=6000, seed=1):
        self.m = modem
        self.echo = echo
        self.data = data_for(n, seed)
        self.sent = 0
        self.back = bytearray()
        self.base = echo.received
        self.outcome = "completed"
        self.error = None
        self.s = None

    def open(self, mode=S.BUFFER):
        self.s = self.m.socket(mode=mode)
        self.s.settimeout(10)
        self.s.connect(("127.0.0.1", self.echo.port))
        return self.s

    def send(self, upto=None):
        end = len(self.data) if upto is None else upto
        while self.sent < end:
            self.sent += self.s.send(
                memoryview(self.data)[self.sent : min(end, self.sent + S.MAX_SEND)]
            )

    def receive(self):
        buf = bytearray(1500)
        while len(self.back) < self.sent:
            n = self.s.recv_into(buf)
            if not n:
                break
            self.back += buf[:n]

    def run(self, step):
        """step(self) performs the operation; documented errors become the outcome."""
        try:
            step(self)
        except OSError as e:
            self.error = e
            self.outcome = "raised OSError %s" % errno.errorcode.get(e.errno, e.errno)
        except E.QuectelError as e:
            self.error = e
            self.outcome = "raised %s" % type(e).__name__
        return self

    def delivered(self):
        # Let in-flight bytes settle (bounded), then what the peer got.
        m = self.m
        last = -1
        for _ in range(20):
            got = self.echo.received - self.base
            if got >= self.sent or got == last:
                break
            last = got
            m.clock.sleep_ms(500)
        return self.echo.received - self.base

    def lost(self):
        return self.sent - len(self.back)


def record(name, t, lossless):
    """Check the byte accounting, add the row. lossless: the transport kept every byte."""
    assert bytes(t.back) == t.data[: len(t.back)], (
        "%s: data corrupted, reordered or duplicated" % name
    )
    delivered = t.delivered()
    lost = t.lost()
    MATRIX.append((name, t.outcome, t.sent, delivered, lost))
    if lossless:
        assert lost == 0, "%s: %d acknowledged bytes vanished (%s)" % (name, lost, t.outcome)
    else:
        assert lost == 0 or t.error is not None, "%s: %d bytes lost silently" % (name, lost)


def recover(modem, vm, echo):
    """Back to a working connection without a restart: check(), then a fresh echo."""
    vm.clear_faults()
    for s in modem.sockets:
        if s is not None:
            try:
                modem.at.run(s.g_close())
            except OSError:
                pass
    ok = False
    for _ in range(8):
        if modem.check():
            ok = True
            break
        modem.clock.sleep_ms(5000)
        modem.at.poll()
    assert ok, "check() did not recover: %s %s" % (modem.status(), modem.reason)
    t = Transfer(modem, echo, 4000, seed=99)
    t.open()

    def go(t):
        t.send()
        t.receive()

    go(t)
    assert bytes(t.back) == t.data, "fresh echo after recovery failed"
    t.s.close()
    assert modem.sockets == [None] * 12


def echo_step(t):
    t.send()
    t.receive()


def on_payload(modem, k, action):
    """Call action() just before the k-th QISEND payload is written (a mid-send fault)."""
    count = [0]

    def trace(d, data):
        if d == ">" and not data.startswith(b"AT"):
            count[0] += 1
            if count[0] == k:
                action()

    modem.at.trace = trace


# ---- faults on the UART --------------------------------------------------------------------


def test_silence_longer_than_the_command_timeout(modem, vm, echo):
    t = Transfer(modem, echo)
    t.open()
    t.send(3000)
    t.receive()
    vm.fault_silence(modem.policy.at_ms + 10000)
    t.run(echo_step)
    assert t.error is not None  # the module ignored the command: the stack times out
    record("silence 70 s", t, lossless=False)
    recover(modem, vm, echo)


@pytest.mark.parametrize("n", [4, 40, 400])
def test_garbled_bytes(modem, vm, echo, n):
    t = Transfer(modem, echo, seed=n)
    t.open()
    t.send(1460)
    vm.fault_garble(n)
    t.run(echo_step)
    record("garble %d bytes" % n, t, lossless=False)
    recover(modem, vm, echo)


@pytest.mark.parametrize("n", [1, 7, 60])
def test_dropped_bytes(modem, vm, echo, n):
    t = Transfer(modem, echo, seed=n)
    t.open()
    t.send(1460)
    vm.fault_drop(n)
    t.run(echo_step)
    record("drop %d bytes" % n, t, lossless=False)
    recover(modem, vm, echo)


class OneByteUART:
    """Hands the engine one byte per readinto: every response split at every byte."""

    def __init__(self, uart):
        self.uart = uart

    def any(self):
        return min(1, self.uart.any())

    def readinto(self, buf, nbytes=-1):
        return self.uart.readinto(memoryview(buf)[:1])

    def write(self, buf, off=0, n=-1):
        return self.uart.write(buf, off, n)

    def fileno(self):
        return self.uart.fileno()


@pytest.mark.parametrize("mode", [S.BUFFER, S.PUSH], ids=["buffer", "push"])
def test_split_at_every_byte(modem, vm, echo, mode):
    vm.split_pause_ms = 0
    uart = modem.at.uart
    modem.at.uart = OneByteUART(uart)
    try:
        t = Transfer(modem, echo, 5000, seed=3)
        t.open(mode)
        vm.fault_split([1] * 20000)
        t.run(echo_step)
        record("split 1-byte chunks (%s)" % ("push" if mode else "buffer"), t, lossless=True)
        assert t.error is None, t.outcome
    finally:
        modem.at.uart = uart
    recover(modem, vm, echo)


# ---- URCs inside every kind of response ----------------------------------------------------

URCS = ['+QIURC: "recv",%d', '+QIURC: "incoming full"', "+CREG: 1"]


def inject(vm, cid):
    for u in URCS:
        vm.inject_urc(u % cid if "%d" in u else u, mid_response=True)


def _urc_in_ok(t):
    inject(t.vm, t.s.cid)
    t.m.command(b"AT", b"")
    echo_step(t)


def _urc_in_info(t):
    t.send()
    inject(t.vm, t.s.cid)
    t.s.wait_acked()  # AT+QISEND=<id>,0: an info line, then OK
    t.receive()


def _wait_unread(t):
    cid = t.s.cid
    t.m.wait_for(lambda: t.vm.connections()[cid]["unread"] >= t.sent, 10000, "echo")


def _urc_in_qird(t):
    t.send()
    _wait_unread(t)
    inject(t.vm, t.s.cid)  # lands between the +QIRD payload and OK
    t.receive()


def _urc_before_qird_header(t):
    t.m.command(b"ATE1", b"")  # with echo on, the URC lands between echo and "+QIRD: n"
    try:
        t.send()
        _wait_unread(t)
        inject(t.vm, t.s.cid)
        t.receive()
    finally:
        t.m.command(b"ATE0", b"")


def _urc_before_prompt(t):
    inject(t.vm, t.s.cid)  # the next response is the "> " prompt
    echo_step(t)


def _urc_before_send_ok(t):
    on_payload(t.m, 1, lambda: inject(t.vm, t.s.cid))  # the next response is SEND OK
    try:
        echo_step(t)
    finally:
        t.m.at.trace = None


@pytest.mark.parametrize("where,step", [
    ("OK-only", _urc_in_ok), ("info lines", _urc_in_info), ("+QIRD data answer", _urc_in_qird),
    ("before +QIRD header", _urc_before_qird_header), ("> prompt", _urc_before_prompt),
    ("SEND OK", _urc_before_send_ok)], ids=lambda x: x if isinstance(x, str) else "")  # fmt: skip
def test_urc_inside_a_response(modem, vm, echo, where, step):
    t = Transfer(modem, echo, 3000, seed=5)
    t.vm = vm
    t.open()
    t.run(step)
    record("URC in %s" % where, t, lossless=True)
    assert t.error is None, t.outcome
    recover(modem, vm, echo)


def test_direct_push_payload_inside_a_response(modem, vm, echo):
    # A pushed payload (URC + raw bytes) for one socket inside another command's answer.
    t = Transfer(modem, echo, 3000, seed=6)
    t.open(S.PUSH)
    t.vm = vm
    other = Transfer(modem, echo, 3000, seed=7)
    other.vm = vm
    other.open()

    def step(t):
        other.send()
        _wait_unread(other)
        for _ in range(3):
            vm.inject_urc(b'\r\n+QIURC: "recv",%d,4\r\nOK\r\n' % (11 - t.s.cid), mid_response=True)
            echo_step(t)
        other.receive()

    t.run(step)
    record("push payload in a response", t, lossless=True)
    assert t.error is None and other.back == other.data, t.outcome
    recover(modem, vm, echo)


# ---- SEND FAIL, closes, pdpdeact, reboot ---------------------------------------------------


def test_send_fail_runs(modem, vm, echo):
    t = Transfer(modem, echo, 20000, seed=8)
    t.open()
    vm.fault_send_fail(12)
    t.run(echo_step)
    record("SEND FAIL x12", t, lossless=True)
    assert t.error is None, t.outcome
    recover(modem, vm, echo)


def test_remote_close_mid_send(modem, vm, echo):
    t = Transfer(modem, echo, 30000, seed=9)
    t.open()
    on_payload(modem, 5, lambda: vm.remote_close(t.s.cid))
    t.run(echo_step)
    modem.at.trace = None
    assert t.error is not None or len(t.back) == len(t.data)
    record("remote close mid-send", t, lossless=False)
    recover(modem, vm, echo)


def test_remote_close_mid_receive(modem, vm, echo):
    # The peer echoed everything, then closed: the module keeps the unread bytes.
    t = Transfer(modem, echo, 20000, seed=10)
    t.open()

    def step(t):
        t.send()
        _wait_unread(t)
        t.back += t.s.recv(1000)
        vm.remote_close(t.s.cid)
        t.receive()
        assert t.s.recv(10) == b""  # then EOF

    t.vm = vm
    t.run(step)
    record("remote close mid-receive", t, lossless=True)
    assert t.error is None, t.outcome
    recover(modem, vm, echo)


@pytest.mark.parametrize("when", ["send", "receive"])
def test_pdpdeact_mid_transfer(modem, vm, echo, when):
    t = Transfer(modem, echo, 30000, seed=11)
    t.open()
    if when == "send":
        on_payload(modem, 4, lambda: vm.pdp_deactivate(1))
        t.run(echo_step)
    else:

        def step(t):
            t.send(10000)
            t.back += t.s.recv(500)
            vm.pdp_deactivate(1)
            t.send()
            t.receive()

        t.run(step)
    modem.at.trace = None
    assert t.error is not None and t.error.errno in (errno.ECONNABORTED, errno.ECONNRESET), (
        t.outcome
    )
    record("pdpdeact mid-%s" % when, t, lossless=False)
    recover(modem, vm, echo)


@pytest.mark.parametrize("when", ["send", "receive"])
def test_module_reboot_mid_transfer(modem, vm, echo, when):
    t = Transfer(modem, echo, 30000, seed=12)
    t.open()
    if when == "send":
        on_payload(modem, 4, vm.reboot)
        t.run(echo_step)
    else:

        def step(t):
            t.send(10000)
            t.back += t.s.recv(500)
            vm.reboot()
            modem.wait_for(lambda: modem.restarted, 30000, "RDY")
            t.send()
            t.receive()

        t.run(step)
    modem.at.trace = None
    assert t.error is not None, t.outcome
    record("reboot (RDY) mid-%s" % when, t, lossless=False)
    recover(modem, vm, echo)


def test_dns_failure(modem, vm, echo):
    import quectel.socket as qs

    t = Transfer(modem, echo, 0)
    t.run(lambda t: modem.getaddrinfo("no.such.host", 80))
    assert isinstance(t.error, E.TCPIPError) and t.error.code == 565, t.outcome
    import sys

    saved = {k: sys.modules.get(k) for k in ("socket", "usocket")}
    qs.use(modem)  # it installs itself as `socket`: put CPython's back afterwards
    try:
        with pytest.raises(OSError):
            qs.getaddrinfo("no.such.host", 80)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    s = modem.socket()
    with pytest.raises(OSError):
        s.connect(("no.such.host", echo.port))  # the module's DNS fails the open
    s.close()
    record("DNS failure", t, lossless=True)
    recover(modem, vm, echo)


# ---- every error code of chapter 3 ---------------------------------------------------------


def _open(t):
    t.open()
    echo_step(t)


def _send(t):
    t.open()
    echo_step(t)


def _recv(t):
    t.open()
    t.send()
    _wait_unread(t)
    t.receive()


def _listen(t):
    s = t.m.socket()
    s.bind(("0.0.0.0", 31300))
    try:
        s.listen(1)
    finally:
        s.close()


def _bind_udp(t):
    s = t.m.socket(2, S.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", 31301))
    finally:
        s.close()


def _switch(t):
    t.open()
    t.s.set_mode(S.PUSH)


def _activate(t):
    t.m.disconnect()
    t.m.connect("internet", restarts=0)


def _dns(t):
    t.m.resolve("localhost")


def _ntp(t):
    t.m.ntp("localhost")


# code -> (command that produces it, operation, expected: an errno for socket calls or the
# TCPIPError (with that code) for modem calls, or None when the stack completes anyway)
CODES = {
    552: ("AT+QIOPEN", _open, errno.EIO),
    553: ("AT+QIOPEN", _open, errno.EIO),
    554: ("AT+QIOPEN", _open, errno.ECONNREFUSED),
    555: ("AT+QISEND", _send, errno.ECONNRESET),
    556: ("AT+QIACT=", _activate, E.TCPIPError),
    557: ("AT+QIOPEN", _open, errno.EINVAL),
    558: ("AT+QIOPEN", _open, errno.EINVAL),
    559: ("AT+QISWTMD", _switch, errno.EIO),
    560: ("AT+QIOPEN", _open, errno.EIO),
    561: ("AT+QIRD", _recv, errno.EIO),
    562: ("AT+QIOPEN", _open, None),  # another connect ID is tried
    563: ("AT+QIACT=", _activate, E.TCPIPError),  # "already active", yet no address
    564: ("AT+QIOPEN", _open, errno.EIO),
    565: ("AT+QIDNSGIP", _dns, E.TCPIPError),
    566: ("AT+QISEND", _send, errno.EIO),
    567: ("AT+QIOPEN", _listen, errno.EIO),
    568: ("AT+QIOPEN", _bind_udp, errno.EADDRINUSE),
    569: ("AT+QISEND", _send, errno.ENOMEM),
    570: ("AT+QIRD", _recv, errno.EIO),
    571: ("AT+QIOPEN", _open, errno.ETIMEDOUT),
    572: ("AT+QNTP", _ntp, E.TCPIPError),
    573: ("AT+QIACT=", _activate, E.TCPIPError),
    574: ("AT+QIDNSGIP", _dns, E.TCPIPError),
}


@pytest.mark.parametrize("code", sorted(CODES))
def test_error_code(modem, vm, echo, code):
    prefix, op, want = CODES[code]
    t = Transfer(modem, echo, 2000, seed=code)
    t.vm = vm
    vm.fault_error(prefix, code, count=1)
    t.run(op)
    if want is None:
        assert t.error is None, t.outcome
    elif isinstance(want, int):
        assert isinstance(t.error, OSError) and t.error.errno == want, t.outcome
    else:
        assert isinstance(t.error, want) and t.error.code == code or (
            code == 563 and getattr(t.error, "code", None) == 556), t.outcome  # fmt: skip
    if op is _recv:  # the data still waits in the module: the next read gets all of it
        t.receive()
    record("error %d %s" % (code, prefix.rstrip("=")), t, lossless=True)
    recover(modem, vm, echo)


# ---- responses later than their timeout ----------------------------------------------------


@pytest.mark.parametrize("prefix", ["AT+QISEND", "AT+QIRD", "AT+QIOPEN", "AT+QICLOSE"])
def test_response_later_than_its_timeout(modem, vm, echo, prefix):
    t = Transfer(modem, echo, 3000, seed=13)
    t.vm = vm
    if prefix == "AT+QIOPEN":
        vm.fault_delay(prefix, modem.policy.at_ms + 5000, count=1)
        t.run(_open)
        assert t.error is not None, t.outcome
    elif prefix == "AT+QICLOSE":
        t.open()
        vm.fault_delay(prefix, modem.policy.qiclose_ms + 5000, count=1)
        t.run(lambda t: (echo_step(t), t.s.close()))
        assert t.error is None, t.outcome  # section 2.5: closing cannot fail
    else:
        t.open()
        t.send(1000)
        t.receive()
        vm.fault_delay(prefix, modem.policy.at_ms + 5000, count=1)
        t.run(echo_step)
        assert t.error is not None, t.outcome
    record("late answer %s" % prefix, t, lossless=False)
    recover(modem, vm, echo)


def test_response_late_but_within_its_timeout(modem, vm, echo):
    t = Transfer(modem, echo, 6000, seed=14)
    t.open()
    vm.fault_delay("AT+QISEND", 20000, count=2)
    vm.fault_delay("AT+QIRD", 20000, count=2)
    t.s.settimeout(100)
    t.run(echo_step)
    assert t.error is None, t.outcome
    record("late answer within timeout", t, lossless=True)
    recover(modem, vm, echo)


# ---- transparent mode ----------------------------------------------------------------------


def test_no_carrier_in_transparent_mode(modem, vm, echo):
    """pdpdeact while transparent: the module says NO CARRIER (the mode ends, data already
    received stays readable), then the socket fails clearly and check() recovers."""
    s = modem.socket(mode=S.TRANSPARENT)
    s.settimeout(10)
    s.connect(("127.0.0.1", echo.port))
    s.sendall(b"hello")
    got = bytearray()
    while len(got) < 5:
        got += s.recv(5 - len(got))
    assert got == b"hello" and modem.at.data_mode
    vm.pdp_deactivate(1)
    with pytest.raises(OSError):
        for _ in range(50):
            s.sendall(b"x" * 100)
            s.recv(100)
    assert not modem.at.data_mode
    s.close()
    t = Transfer(modem, echo, 0)
    t.outcome = "raised OSError"
    record("NO CARRIER (transparent)", t, lossless=True)
    recover(modem, vm, echo)


# ---- the same, under MicroPython -----------------------------------------------------------


def test_fault_subset_under_micropython(peers):
    """host_tests/device/test_faults_mp.py under the unix port; it asks for faults over a
    line channel served here ("method args" -> "ok")."""
    import re
    import socket
    import threading

    from conftest import SPEED
    from test_device import ROOT as DROOT
    from test_device import run_suite
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED, powered=False) as vm:
        ctl = socket.socket()
        ctl.bind(("127.0.0.1", 0))
        ctl.listen(1)
        ctl.settimeout(60)

        def serve():
            try:
                c, _ = ctl.accept()
            except OSError:
                return
            f = c.makefile("rwb")
            for line in f:
                words = line.decode().strip().split(" ", 1)
                args = []
                if len(words) > 1:
                    rest = words[1]
                    args = (
                        [rest]
                        if rest.startswith("+")
                        else [int(a) if a.isdigit() else a for a in rest.split()]
                    )
                try:
                    getattr(vm, words[0])(*args)
                    f.write(b"ok\n")
                except Exception as e:  # noqa: BLE001
                    f.write(b"error %r\n" % e)
                f.flush()
            c.close()

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        env = dict(
            peers,
            QUECTEL_UART="127.0.0.1:%d" % vm.port,
            FAULT_PORT=str(ctl.getsockname()[1]),
            QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port,
            QUECTEL_SPEED=str(SPEED),
            QUECTEL_TICKS_START=str((1 << 30) - 20000),  # across the wrap
        )
        code, out = run_suite(
            os.path.join(DROOT, "host_tests", "device", "test_faults_mp.py"), env
        )
        ctl.close()
    print(out)
    assert code == 0, out
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m and int(m.group(1)) > 0 and m.group(2) == "0", out
