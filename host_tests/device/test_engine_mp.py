# The AT engine under the real MicroPython unix port: exchanges, splits, and heap use.
import gc

from engine_io import read_data, send_data
from fakes import CannedUART, ScriptUART, StepClock
from mptest import run, test
from quectel import ATEngine, Events, errors, parse


def ok(body=b""):
    return body + b"\r\nOK\r\n"


class Log(Events):
    def __init__(self):
        self.urcs = []
        self.notices = []
        self.pushed_bytes = bytearray()

    def urc(self, line):
        self.urcs.append(line)

    def data(self, cid):
        self.notices.append(cid)

    def push_data(self, mv, start, end):
        self.pushed_bytes.extend(mv[start:end])


def _clock_allocates():
    # The test clock's tick arithmetic (a mask of 30 bits) allocates on some builds (the
    # WebAssembly port of 1.23): there every wait allocates, and a bound per KB says nothing
    # about the library (a board's time.ticks_* are C).
    clock = StepClock()
    clock.ticks_diff(5, 3)
    gc.disable()
    before = gc.mem_alloc()
    clock.ticks_diff(5, 3)
    used = gc.mem_alloc() - before
    gc.enable()
    return used


CLOCK_ALLOCATES = _clock_allocates()


def within_goal(per_kb):
    """The heap goal of 48 B/KB (issue 2), unless the test clock allocates on this build."""
    if CLOCK_ALLOCATES:
        print("heap: bound not checked: the test clock allocates %d B a tick" % CLOCK_ALLOCATES)
        return True
    return per_kb < 48


def engine(script, chunks=None):
    uart = ScriptUART(script, chunks)
    return ATEngine(uart, clock=StepClock(), events=Log()), uart


@test
def chapter_4_2_buffer_mode_exchange():
    for chunks in (None, [1], [3, 7, 1]):
        eng, uart = engine(
            [
                (b"AT+QISEND=0,4\r", b"\r\n> "),
                (b"test", b"\r\nSEND OK\r\n" + b'\r\n+QIURC: "recv",0\r\n'),
                (b"AT+QISEND=0,0\r", ok(b"\r\n+QISEND: 4,4,0\r\n")),
                (b"AT+QIRD=0,1500\r", ok(b"\r\n+QIRD: 5\r\nte\r\n1\r\n")),
                (b"AT+QIRD=0,0\r", ok(b"\r\n+QIRD: 5,5,0\r\n")),
            ],
            chunks,
        )
        assert send_data(eng, 0, b"test", 0, 4)
        assert parse.parse_qisend(eng.command(b"AT+QISEND=0,0")[0]) == (4, 4, 0)
        buf = memoryview(bytearray(1500))
        assert read_data(eng, 0, buf, 1500) == 5 and bytes(buf[:5]) == b"te\r\n1"
        assert parse.params(eng.command(b"AT+QIRD=0,0")[0], b"+QIRD:") == [5, 5, 0]
        assert eng.events.notices == [0]


@test
def chapter_4_4_direct_push_and_4_9_error():
    eng, uart = engine(
        [
            (b'AT+QIOPEN=1,"TCP","61.190.19.174",8033,0,1\r', b"\r\nERROR\r\n"),
            (b"AT+QIGETERROR\r", ok(b"\r\n+QIGETERROR: 558, invalid parameters\r\n")),
        ],
        [2],
    )
    uart.feed(b'\r\n+QIURC: "recv",0,4\r\ntest\r\n')
    try:
        eng.command(b'AT+QIOPEN=1,"TCP","61.190.19.174",8033,0,1')
        raise AssertionError("no error")
    except errors.TCPIPError as e:
        assert e.code == 558
    assert eng.events.pushed_bytes == b"test"


@test
def timeout_raises_attimeout():
    eng, uart = engine([(b"AT+QIACT=1\r", b"")])
    try:
        eng.command(b"AT+QIACT=1", timeout_ms=150000)
        raise AssertionError("no timeout")
    except errors.ATTimeout:
        pass
    assert eng.clock.elapsed >= 150000


def qird_answers(total, chunk=1500):
    out = []
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        out.append(b"\r\n+QIRD: %d\r\n" % n + bytes(n) + b"\r\n\r\nOK\r\n")
        sent += n
    return out


@test
def heap_per_kb_received_through_qird():
    total = 100 * 1024
    uart = CannedUART(qird_answers(total))
    eng = ATEngine(uart, clock=StepClock(), events=Events())
    dst = memoryview(bytearray(1500))
    read_data(eng, 0, dst, 1500)  # warm up
    got = 1500
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    while got < total:
        got += read_data(eng, 0, dst, 1500)
    used = gc.mem_alloc() - before
    gc.enable()
    per_kb = used * 1024 / (total - 1500)
    print(
        "heap: %d bytes allocated for %d bytes via AT+QIRD = %.1f bytes per KB"
        % (used, total - 1500, per_kb)
    )
    assert got == total
    assert within_goal(per_kb), per_kb


@test
def heap_per_kb_sent_through_qisend():
    n = 1460
    count = 70
    uart = CannedUART([b"\r\n> ", b"\r\nSEND OK\r\n"] * (count + 1), payload_len=n)
    eng = ATEngine(uart, clock=StepClock(), events=Events())
    src = bytearray(n)
    send_data(eng, 0, src, 0, n)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(count):
        assert send_data(eng, 0, src, 0, n)
    used = gc.mem_alloc() - before
    gc.enable()
    per_kb = used * 1024 / (n * count)
    print(
        "heap: %d bytes allocated for %d bytes via AT+QISEND = %.1f bytes per KB"
        % (used, n * count, per_kb)
    )
    assert within_goal(per_kb), per_kb


def canned_socket(answers, payload_len=-1):
    from quectel import Modem
    from quectel.modem import STAT_GOT_IP

    m = Modem(CannedUART(answers, payload_len), clock=StepClock())
    m.state = STAT_GOT_IP
    s = m.socket()
    c = s.c
    c.cid = 0
    c.service = "TCP"
    c.avail = True
    m.sockets[0] = c
    return s


@test
def heap_per_kb_through_socket_recv_into_and_sendall():
    rounds = 70
    s = canned_socket(qird_answers(1500 * (rounds + 1)))
    buf = bytearray(1500)
    s.recv_into(buf)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    got = 0
    for _ in range(rounds):
        got += s.recv_into(buf)
    used_rx = gc.mem_alloc() - before
    gc.enable()
    s = canned_socket([b"\r\n> ", b"\r\nSEND OK\r\n"] * (rounds + 1), payload_len=1460)
    data = memoryview(bytearray(1460))
    s.sendall(data)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(rounds):
        s.sendall(data)
    used_tx = gc.mem_alloc() - before
    gc.enable()
    rx = used_rx * 1024 / got
    tx = used_tx * 1024 / (1460 * rounds)
    print("heap: socket recv_into %.1f bytes/KB, sendall %.1f bytes/KB" % (rx, tx))
    assert got == 1500 * rounds
    assert within_goal(rx) and within_goal(tx), (rx, tx)


run()
