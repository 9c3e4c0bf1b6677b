"""Shared by host_tests/test_fuzz.py (hypothesis) and tools/fuzz_engine.py (atheris).

`run_exchange` drives the AT engine (with a Modem as its URC sink and sockets on a few
connect IDs) through one command whose module output is arbitrary bytes, on a StepClock so
that nothing can hang, and checks the invariants: only documented exceptions, reads never
overflow, and module output fed while no command runs writes nothing to the UART.
`capture` records real exchanges from the virtual module to mutate.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _sub in ("lib", "tools", "host_tests"):
    _p = os.path.join(ROOT, _sub)
    if _p not in sys.path:
        sys.path.insert(0, _p)

from engine_io import read_data, send_data  # noqa: E402
from fakes import ScriptUART, StepClock  # noqa: E402
from quectel import diag, parse  # noqa: E402
from quectel.conn import BUFFER, PUSH, SOCK_DGRAM, Conn  # noqa: E402
from quectel.errors import QuectelError  # noqa: E402
from quectel.modem import Modem  # noqa: E402

TIMEOUT_MS = 300  # per command, on the StepClock: a hang costs 300 loop turns at most

# Real exchanges in the virtual module's exact framing; `capture()` adds live ones.
SEED = [
    (b"AT", b"\r\nOK\r\n"),
    (b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n'),
    (b"AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
    (b"AT+QIRD=0,1500", b"\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n"),
    (b"AT+QIRD=0,1500", b"\r\n+QIRD: 0\r\n\r\nOK\r\n"),
    (b"AT+QIRD=2", b'\r\n+QIRD: 4,"127.0.0.1",5000\r\nabcd\r\n\r\nOK\r\n'),
    (b"AT+QISEND=0,5", b"\r\n> \r\nSEND OK\r\n"),
    (b"AT+QISEND=0,5", b"\r\n> \r\nSEND FAIL\r\n"),
    (b"AT+QISEND=0,0", b"\r\n+QISEND: 10,10,0\r\n\r\nOK\r\n"),
    (b'AT+QIOPEN=1,0,"TCP","127.0.0.1",7,0,0', b"\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n"),
    (
        b'AT+QIDNSGIP=1,"x"',
        b'\r\nOK\r\n\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","127.0.0.1"\r\n',
    ),
    (b"AT+QICLOSE=0", b"\r\nOK\r\n"),
    (b"AT+QIDEACT=1", b"\r\nERROR\r\n"),
    (b"AT+CREG?", b"\r\n+CME ERROR: 10\r\n"),
]
URCS = [
    b'+QIURC: "recv",0', b'+QIURC: "recv",1,5\r\nabcde', b'+QIURC: "closed",0',
    b'+QIURC: "pdpdeact",1', b'+QIURC: "incoming",3,2,"127.0.0.1",4000',
    b'+QIURC: "incoming full"', b"RDY", b"+QIOPEN: 0,0", b"+QPING: 0", b'+QIURC: "recv",2,3,"1.2.3.4",9\r\nxyz',
    b"POWERED DOWN", b"+CREG: 1", b'+QIURC: "recv",99', b'+QIURC: "recv",77,3\r\nabc',
]  # fmt: skip
GETERROR = b"\r\n+QIGETERROR: 565,DNS parse failed\r\n\r\nOK\r\n"

PARSERS = [
    getattr(mod, n)
    for mod in (parse, diag)
    for n in dir(mod)
    if n.startswith("parse_") and n != "parse_ntp_time"
]


class FuzzUART(ScriptUART):
    """Module output released segment by segment: the next one when the host ends a command
    line with CR or writes a payload; `chunks` (cycled) caps each readinto."""

    def __init__(self, segments, chunks=None, release_now=False):
        super().__init__((), chunks or None)
        self.segments = list(segments)
        if release_now:
            self._release()

    def _release(self):
        if self.segments:
            self.out.extend(self.segments.pop(0))

    def write(self, buf, off=0, n=-1):
        n = len(buf) - off if n < 0 else n
        data = bytes(buf[off : off + n])
        self.written.extend(data)
        if data.endswith(b"\r") or not data.startswith(b"AT"):
            self._release()
        return n


def _modem(uart):
    m = Modem(uart, clock=StepClock())
    for cid, mode, typ in ((0, BUFFER, 1), (1, PUSH, 1), (2, BUFFER, SOCK_DGRAM)):
        c = Conn(m, typ, mode, rxsize=64)
        c.cid = cid
        c.service = "TCP" if typ == 1 else "UDP SERVICE"
        m.sockets[cid] = c
    return m


def check_parsers(data):
    """Every parser on every line of data: a result or ValueError, nothing else."""
    for line in data.replace(b"\r", b"\n").split(b"\n"):
        for p in PARSERS:
            try:
                p(line)
            except ValueError:
                pass


def run_exchange(cmd, out, chunks=None, second=GETERROR):
    """Run cmd against module output `out`; raise only if an invariant breaks."""
    uart = FuzzUART([out, second], chunks)
    m = _modem(uart)
    at = m.at
    try:
        if cmd.startswith(b"AT+QIRD="):
            cid = int(cmd[8:9])
            maxlen = int(cmd.split(b",")[1]) if b"," in cmd else -1
            dst = memoryview(bytearray(1500))
            got = read_data(at, cid, dst, maxlen, TIMEOUT_MS)
            assert 0 <= got <= (maxlen if maxlen > 0 else 1500), got
        elif cmd.startswith(b"AT+QISEND=") and not cmd.endswith(b",0"):
            send_data(at, 0, b"hello", 0, 5, None, TIMEOUT_MS)
        else:
            m.command(cmd, None, TIMEOUT_MS)
    except QuectelError:
        pass
    # Whatever is left, and anything after, is unsolicited: it must never make us write.
    at.abort()
    before = len(uart.written)
    uart.segments = []
    for _ in range(4):
        at.poll()
    assert len(uart.written) == before, "wrote on its own: %r" % bytes(uart.written[before:])
    for s in m.sockets:
        if s is not None:
            assert s.rx is None or 0 <= s.rx.r <= s.rx.w <= len(s.rx.buf)
    return m


def run_idle(out, chunks=None):
    """Feed module output with no command running: the UART must see zero bytes."""
    uart = FuzzUART([out], chunks, release_now=True)
    m = _modem(uart)
    for _ in range(len(out) + 2):
        if not m.at.poll():
            break
    assert not uart.written, "wrote on its own: %r" % bytes(uart.written)
    return m


def mutate(data, rnd):
    """One random mutation of module output (rnd: random.Random-like)."""
    data = bytearray(data)
    op = rnd.randrange(6)
    if op == 0 and data:  # flip bytes
        for _ in range(rnd.randrange(1, 4)):
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
    elif op == 1:  # insert a URC at a random place
        i = rnd.randrange(len(data) + 1)
        data[i:i] = b"\r\n" + rnd.choice(URCS) + b"\r\n"
    elif op == 2 and data:  # truncate
        del data[rnd.randrange(len(data)) :]
    elif op == 3:  # duplicate a line
        lines = bytes(data).split(b"\r\n")
        i = rnd.randrange(len(lines))
        lines.insert(i, lines[i])
        data = bytearray(b"\r\n".join(lines))
    elif op == 4 and data:  # random bytes
        i = rnd.randrange(len(data) + 1)
        data[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
    elif data:  # change a number
        digits = [i for i, c in enumerate(data) if 48 <= c <= 57]
        if digits:
            i = rnd.choice(digits)
            data[i : i + 1] = str(rnd.choice([0, 9, 99, 1500, 1501, 99999])).encode()
    return bytes(data)


def capture(vm, echo_port):
    """Real (command, output) exchanges recorded from a session with the virtual module."""
    from fakes import SocketUART
    from quectel.clock import Clock
    from test_device import line_baud

    m = Modem(SocketUART(vm.port, baud=line_baud(50)), clock=Clock(50))
    log = []

    def trace(d, data):
        if d == ">" and data.startswith(b"AT"):
            log.append([data.rstrip(b"\r"), bytearray()])
        elif d == "<" and log:
            log[-1][1].extend(data)

    m.at.trace = trace
    try:
        m.connect("internet")
        s = m.socket()
        s.settimeout(5)
        s.connect(("127.0.0.1", echo_port))
        s.sendall(b"hello\r\nOK\r\n")
        s.recv(100)
        s.wait_acked()
        s.close()
        m.resolve("localhost")
        m.ping("127.0.0.1", 1, 2)
        m.dns_servers()
        try:
            m.resolve("no.such.host")
        except QuectelError:
            pass
    finally:
        m.at.uart.close()
    return [(bytes(c), bytes(o)) for c, o in log if o]
