"""The virtual module's parts on their own (tools/vmodule/): parsing, replies, state objects,
the fault layer, the loop and the UART server, and the command engine driven without sockets.
"""

import random
import socket
import time
from types import SimpleNamespace

import pytest
from virtual_module import VirtualModule
from vmodule.commands import TABLE, TCPIP, data, dns, general, ping, sockets
from vmodule.connections import Conn, Connections
from vmodule.dns import DNSTable
from vmodule.engine import parse_line
from vmodule.errors import CmeError, ParamError
from vmodule.faults import Faults
from vmodule.limits import MAX_CONN, S_CONNECTED, TCP, UDP
from vmodule.loop import Loop
from vmodule.network import Network
from vmodule.params import int_at, split_params, str_at
from vmodule.redact import redact
from vmodule.reply import ERROR, OK, Reply
from vmodule.uart import UARTServer


class Offline:
    """A module that is never started: command lines go straight into its engine and its
    output is collected where the fault layer hands it to the UART (no sockets, no thread)."""

    def __init__(self, **kw):
        self.vm = VirtualModule(**kw)
        self.out = bytearray()
        self.vm.uart.write = self.out.extend

    def x(self, line, expected):
        self.vm.engine.input(line.encode() + b"\r")
        got = bytes(self.out)
        self.out.clear()
        assert got == expected


@pytest.fixture
def u():
    o = Offline()
    o.x("ATE0", b"ATE0\r\r\nOK\r\n")
    return o


# --------------------------------------------------------------------------- parsing


def test_split_params():
    assert split_params('1,"a, b",,-3, x ') == [1, "a, b", None, -3, "x"]
    assert split_params('"",5') == ["", 5]
    with pytest.raises(ParamError):
        split_params('1,"open')


def test_typed_parameters():
    p = [1, "2", None]
    assert int_at(p, 0, 0, 1) == 1
    assert int_at(p, 2, 0, 1, 7) == 7 and int_at(p, 5, 0, 1, None) is None
    assert str_at([3], 0) == "3" and str_at(p, 2, "d") == "d"
    for bad in (lambda: int_at(p, 0, 2, 3), lambda: int_at(p, 1, 0, 9), lambda: str_at(p, 2)):
        with pytest.raises(ParamError):
            bad()


def test_parse_line():
    assert parse_line("AT") == ("", "exec", "")
    assert parse_line("at+csq") == ("+CSQ", "exec", "")
    assert parse_line("AT+QIACT=?") == ("+QIACT", "test", "")
    assert parse_line("AT+CPIN?") == ("+CPIN", "read", "")
    assert parse_line("AT+QIRD=0,1500") == ("+QIRD", "write", "0,1500")
    assert parse_line("AT+QIRD!") == ("+QIRD", "bad", "!")
    assert parse_line("AT&d1") == ("&D", "basic", "1")
    assert parse_line("ATE0") == ("E", "basic", "0")


def test_reply_segments():
    assert Reply().segments() == [OK]
    assert Reply(["a", b"b"], ERROR).segments() == [b"\r\na\r\n", b"b\r\n", ERROR]
    assert Reply([], None).segments() == []


def test_redact():
    assert (
        redact(b'AT+QICSGP=1,1,"apn","u","pw",3\r') == b'AT+QICSGP=1,1,"apn","u","<redacted>",3\r'
    )
    assert redact(b'AT+CPIN="1234"') == b'AT+CPIN="<redacted>"'


# --------------------------------------------------------------------------- state objects


def test_network_registration_lines_and_urcs():
    net = Network(creg=1, cgreg=5)
    assert net.reg_line("CREG", 0) == "+CREG: 0,1"
    assert net.reg_line("CGREG", 2) == '+CGREG: 2,5,"D509","80D413D",2'
    assert net.set_registration(2, None) == []  # no URCs asked for
    net.creg_n, net.cgreg_n = 1, 2
    assert net.set_registration(5, 0) == [b"\r\n+CREG: 5\r\n", b"\r\n+CGREG: 0\r\n"]
    net.cfun = 4
    assert net.reg("CREG") == 0 and not net.registered("CGREG")
    net.reset()
    net.sim = "SIM PIN"
    assert not net.sim_ready()
    with pytest.raises(CmeError):
        net.sim_check()


def test_dns_table():
    t = DNSTable({"Example.org": ["127.0.0.2", "127.0.0.3"]})
    assert t.lookup("127.1.2.3") == ["127.1.2.3"]
    assert t.lookup("Example.org") == ["127.0.0.2", "127.0.0.3"]
    t.set("Host", "127.0.0.9")
    assert t.lookup("HOST") == ["127.0.0.9"]
    t.set("host", None)
    assert t.lookup("host") == [] and DNSTable().lookup("localhost") == ["127.0.0.1"]


def test_connections():
    conns = Connections()
    assert conns.free_cid() == MAX_CONN - 1
    conns.update({cid: Conn(cid, 1, TCP, 0) for cid in range(MAX_CONN)})
    assert conns.free_cid() is None
    c = conns[0]
    c.rx += b"abc"
    assert c.unread() == 3 and c.take_buffered() == [b"abc"] and c.rx_read == 3
    u = Conn(1, 1, UDP, 0)
    u.dgrams.extend([(b"x", "127.0.0.1", 1), (b"yz", "127.0.0.1", 1)])
    u.dgram_bytes = 3
    assert u.take_buffered() == [b"x", b"yz"] and u.unread() == 0
    assert conns.snapshot()[0]["kind"] == TCP


def test_command_table():
    assert set(TCPIP) <= set(TABLE)
    assert all(callable(h) for h in TABLE.values())


# --------------------------------------------------------------------------- handlers alone


def test_handlers_return_replies_as_values():
    m = SimpleNamespace(net=Network(csq=17))
    assert general.csq(m, "exec", []) == ["+CSQ: 17,99"]
    with pytest.raises(ParamError):
        general.csq(m, "read", [])
    m.engine = SimpleNamespace(last_err=565)
    r = sockets.qigeterror(m, "exec", [])
    assert r.lines == ["+QIGETERROR: 565, DNS parse failed"] and r.keep_error


def test_qird_reply_carries_the_payload():
    c = Conn(0, 1, TCP, 0)
    c.state = S_CONNECTED
    c.rx += b"\x00\r\nbin"
    c.rx_total = 6
    m = SimpleNamespace(conns=Connections({0: c}), sockets=SimpleNamespace(update=lambda c: 0))
    r = data.qird(m, "write", [0, 4])
    assert r.segments() == [b"\r\n+QIRD: 4\r\n\x00\r\nb\r\n", OK] and r.keep_error
    assert data.qird(m, "write", [0, 0]) == ["+QIRD: 6,4,2"]


def test_urc_builders():
    assert dns.dnsgip_urcs([]) == b'\r\n+QIURC: "dnsgip",565\r\n'
    assert dns.dnsgip_urcs(["127.0.0.1"]) == (
        b'\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","127.0.0.1"\r\n'
    )
    assert ping.summary_urc(4, [1, 3]) == b"\r\n+QPING: 2,4,2,2,1,3,2\r\n"
    assert ping.summary_urc(2, []) == b"\r\n+QPING: 2,2,0,2,0,0,0\r\n"


# --------------------------------------------------------------------------- fault layer


class _Sink:
    def __init__(self):
        self.out = bytearray()
        self.chunks = None

    def write(self, data):
        self.out += data


def test_faults_drop_garble_silence():
    loop, sink = Loop(1.0), _Sink()
    f = Faults(loop, sink, random.Random(1))
    f.drop = 3
    f.emit(b"ab")
    f.emit(b"cdef")
    assert bytes(sink.out) == b"def"
    f.garble = 2
    f.emit(b"xyz")
    assert len(sink.out) == 6 and sink.out.endswith(b"z") and f.garble == 0
    f.silence(None)
    f.emit(b"lost")
    assert len(sink.out) == 6 and f.silent()
    f.clear()
    assert not f.silent() and len(sink.chunks) == 0


def test_faults_counted_rules():
    f = Faults(Loop(1.0), _Sink(), None)
    f.errors.append(["AT+QIOPEN", 554, 2])
    f.delays.append(["AT+QIACT", 50, None])
    f.open_fail.append([556, 1])
    assert f.take_error("AT+QIOPEN=1") == 554 and f.take_error("AT+QIOPEN=2") == 554
    assert f.take_error("AT+QIOPEN=3") is None and f.take_error("AT") is None
    assert [f.take_delay("AT+QIACT=1") for _ in range(3)] == [50, 50, 50]
    assert f.take_open_fail() == 556 and f.take_open_fail() is None
    f.unacked = 5
    assert f.take_unacked(3) == 3 and f.take_unacked(3) == 2 and f.take_unacked(3) == 0
    f.send_fail = 1
    assert f.take_send_fail() and not f.take_send_fail()


# --------------------------------------------------------------------------- transport


def test_loop_timers_generations_and_invoke():
    loop = Loop(speed=100)
    loop.open()
    loop.start()
    fired = []
    try:
        # 200 ms of real time: long enough that the generation changes before any fires.
        loop.invoke(lambda: loop.at(20000, lambda: fired.append("kept"), gen=False))
        loop.invoke(lambda: loop.at(20000, lambda: fired.append("power lost")))
        loop.invoke(lambda: loop.at(20000, lambda: fired.append("cancelled")).cancel())
        loop.invoke(setattr, loop, "gen", 1)
        deadline = time.monotonic() + 2
        while not fired and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.01)
        assert fired == ["kept"]
        with pytest.raises(KeyError):
            loop.invoke({}.__getitem__, "x")  # exceptions come back to the caller
    finally:
        loop.stop()
        loop.close()


def test_uart_server_splits_output_and_runs_calls_in_order():
    loop = Loop(speed=1)
    loop.open()
    uart = UARTServer(loop, split_pause_ms=20)
    got = []
    uart.on_input = got.append
    uart.listen("127.0.0.1", 0)
    loop.before_wait = uart.flush
    loop.start()
    s = socket.create_connection(("127.0.0.1", uart.port), timeout=5)
    try:
        s.sendall(b"in")
        deadline = time.monotonic() + 2
        while not got and time.monotonic() < deadline:
            time.sleep(0.005)
        assert got == [b"in"] and uart.rx_bytes == 2
        done = []

        def write():
            uart.chunks.extend([2, 2])
            uart.write(b"abcdef")
            uart.after_output(lambda: done.append(uart.tx_bytes))

        t0 = time.monotonic()
        loop.invoke(write)
        out = b""
        while len(out) < 6:
            out += s.recv(100)
        assert out == b"abcdef" and time.monotonic() - t0 >= 0.04  # two pauses of 20 ms
        deadline = time.monotonic() + 2
        while not done and time.monotonic() < deadline:
            time.sleep(0.005)
        assert done == [6]
    finally:
        s.close()
        loop.stop()
        uart.close()
        loop.close()


# --------------------------------------------------------------------------- engine, offline


def test_general_commands(u):
    u.x("AT+GMR", b"\r\nUC20GQBR03A12E1G\r\n\r\nOK\r\n")
    u.x("AT+GSN", b"\r\n861075020123456\r\n\r\nOK\r\n")
    u.x("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n")
    u.x("AT+CREG?", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n")
    u.x("AT+CGREG?", b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n")
    u.x("AT+COPS?", b'\r\n+COPS: 0,0,"VIRTUAL",2\r\n\r\nOK\r\n')
    u.x("AT+CIMI", b"\r\n001010123456789\r\n\r\nOK\r\n")
    u.x("AT+QCCID", b"\r\n+QCCID: 89001012012345678901\r\n\r\nOK\r\n")
    u.x("AT+CMEE=2", b"\r\nOK\r\n")
    u.x("AT+CMEE?", b"\r\n+CMEE: 2\r\n\r\nOK\r\n")
    u.x("AT+CFUN?", b"\r\n+CFUN: 1\r\n\r\nOK\r\n")
    u.x("AT+CGATT?", b"\r\n+CGATT: 1\r\n\r\nOK\r\n")
    u.x("AT+CTZR=1", b"\r\nOK\r\n")
    u.x("AT+CTZR?", b"\r\n+CTZR: 1\r\n\r\nOK\r\n")
    u.x("AT+CTZU=1", b"\r\nOK\r\n")
    u.x("AT+CTZU?", b"\r\n+CTZU: 1\r\n\r\nOK\r\n")
    u.x("AT+IPR?", b"\r\n+IPR: 115200\r\n\r\nOK\r\n")
    u.x("AT+IPR=921600", b"\r\nOK\r\n")
    u.x("AT+IFC=2,2", b"\r\nOK\r\n")
    u.x("AT&W", b"\r\nOK\r\n")
    u.x("AT&D1", b"\r\nOK\r\n")
    u.x("AT&D3", b"\r\nERROR\r\n")
    for c in ("CGQREQ", "CGEQREQ", "CGQMIN", "CGEQMIN"):
        u.x("AT+%s=1,0,0,0,0,0" % c, b"\r\nOK\r\n")
    u.vm.set_signal(31)
    u.x("AT+CSQ", b"\r\n+CSQ: 31,99\r\n\r\nOK\r\n")


def test_sim_states():
    u = Offline(sim="absent")
    u.x("ATE0", b"ATE0\r\r\nOK\r\n")
    u.x("AT+CPIN?", b"\r\n+CME ERROR: 10\r\n")
    u.x("AT+CMEE=2", b"\r\nOK\r\n")
    u.x("AT+CPIN?", b"\r\n+CME ERROR: SIM not inserted\r\n")
    u.x("AT+CMEE=0", b"\r\nOK\r\n")
    u.x("AT+CPIN?", b"\r\nERROR\r\n")
    u.x("AT+CREG?", b"\r\n+CREG: 0,0\r\n\r\nOK\r\n")
    u.vm.set_sim("SIM PIN")
    u.x("AT+CMEE=1", b"\r\nOK\r\n")
    u.x("AT+CPIN?", b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
    u.x('AT+CPIN="0000"', b"\r\n+CME ERROR: 16\r\n")
    u.x('AT+CPIN="1234"', b"\r\nOK\r\n")
    u.x("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n")
    u.x("AT+CREG?", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n")


def test_4_9_last_error_code():
    u = Offline()  # echo on, as in the manual's transcript
    u.x('AT+QIOPEN=1,"TCP","61.190.19.174",8033,0,1',
        b'AT+QIOPEN=1,"TCP","61.190.19.174",8033,0,1\r\r\nERROR\r\n')  # fmt: skip
    u.x("AT+QIGETERROR", b"AT+QIGETERROR\r\r\n+QIGETERROR: 558, invalid parameters\r\n\r\nOK\r\n")


def test_test_forms(u):
    u.x("AT+QIACT=?", b"\r\n+QIACT: (1-16)\r\n\r\nOK\r\n")
    u.x("AT+QIDEACT=?", b"\r\nOK\r\n")
    u.x("AT+QICLOSE=?", b"\r\nOK\r\n")
    u.x("AT+QISTATE=?", b"\r\nOK\r\n")
    u.x("AT+QIGETERROR=?", b"\r\nOK\r\n")
    u.x("AT+QPING=?", b'\r\n+QPING: (1-16),"HOST",(1-255),(1-10)\r\n\r\nOK\r\n')
    u.x("AT+QIDNSGIP=?", b'\r\n+QIDNSGIP: (1-16),"hostname"\r\n\r\nOK\r\n')
    u.x(
        "AT+QIOPEN=?",
        b'\r\n+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE",'
        b'"<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)\r\n\r\nOK\r\n',
    )


def test_qisend_prompt_offline(u):
    """The engine's prompt: fixed length, Ctrl-Z, ESC, and the fault layer's SEND FAIL, with a
    socketpair as the connection's real socket (the loop's selector open, its thread not)."""
    u.vm.loop.open()
    mine, peer = socket.socketpair()
    c = Conn(0, 1, TCP, 0)
    c.sock, c.state = mine, S_CONNECTED
    u.vm.conns[0] = c
    try:
        u.x("AT+QISEND=0,3", b"\r\n> ")
        u.x("ab", b"\r\nSEND OK\r\n")  # "ab" and the CR: three bytes
        u.x("AT+QISEND=0", b"\r\n> ")
        u.x("xy\x1a", b"\r\nSEND OK\r\n")
        u.x("AT+QISEND=0", b"\r\n> ")
        u.x("zz\x1b", b"\r\nOK\r\n")  # cancelled
        u.vm.faults.send_fail = 1
        u.x("AT+QISEND=0,1", b"\r\n> ")
        u.vm.engine.input(b"q")
        assert bytes(u.out) == b"\r\nSEND FAIL\r\n"
        peer.settimeout(2)
        assert peer.recv(100) == b"ab\rxy" and c.tx_total == 5
    finally:
        mine.close()
        peer.close()
        u.vm.loop.close()
