"""The AT engine against the manual's chapter 4 exchanges, split output, URCs and garbage."""

import pytest
from engine_io import read_data, send_data
from fakes import ScriptUART, StepClock
from hypothesis import given, settings
from hypothesis import strategies as st
from quectel import ATEngine, ATTimeout, CMEError, Events, ProtocolError, diag, errors, parse


class Log(Events):
    def __init__(self):
        self.urcs = []
        self.notices = []
        self.pushes = []
        self._cur = None

    def urc(self, line):
        self.urcs.append(line)

    def data(self, cid):
        self.notices.append(cid)

    def push(self, cid, n, ip, port):
        self._cur = [cid, n, ip, port, bytearray()]

    def push_data(self, mv, start, end):
        self._cur[4].extend(mv[start:end])

    def pushed(self, cid):
        self.pushes.append(tuple(self._cur[:4]) + (bytes(self._cur[4]),))


def engine(script, chunks=None, rxbuf=1600):
    uart = ScriptUART(script, chunks)
    log = Log()
    return ATEngine(uart, rxbuf=rxbuf, clock=StepClock(), events=log), uart, log


def ok(body=b""):
    return body + b"\r\nOK\r\n"


def test_4_1_configure_activate_deactivate():
    eng, uart, log = engine([
        (b'AT+QICSGP=1,1,"UNINET","","",1\r', ok()),
        (b"AT+QIACT=1\r", ok()),
        (b"AT+QIACT?\r", ok(b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n')),
        (b"AT+QIDEACT=1\r", ok()),
    ])  # fmt: skip
    assert eng.command(b'AT+QICSGP=1,1,"UNINET","","",1') == []
    assert eng.command(b"AT+QIACT=1", timeout_ms=150000) == []
    lines = eng.command(b"AT+QIACT?")
    assert [parse.parse_qiact(x) for x in lines] == [(1, 1, 1, "10.7.157.1")]
    eng.command(b"AT+QIDEACT=1", timeout_ms=40000)
    assert not uart.script and not log.urcs


def test_4_2_tcp_client_buffer_mode():
    eng, uart, log = engine([
        (b'AT+QIOPEN=1,0,"TCP","61.190.19.174",8705,0,0\r', ok() + b"\r\n+QIOPEN: 0,0\r\n"),
        (b"AT+QISTATE=1,0\r",
         ok(b'\r\n+QISTATE: 0,"TCP","61.190.19.174",8705,0,2,1,0,0,"usbmodem"\r\n')),
        (b"AT+QISEND=0,4\r", b"\r\n> "),
        (b"test", b"\r\nSEND OK\r\n"),
        (b"AT+QISEND=0,5\r", b"\r\n> "),
        (b"test1", b"\r\nSEND OK\r\n" + b'\r\n+QIURC: "recv",0\r\n'),
        (b"AT+QISEND=0,0\r", ok(b"\r\n+QISEND: 9,9,0\r\n")),
        (b"AT+QIRD=0,1500\r", ok(b"\r\n+QIRD: 5\r\ntest1\r\n")),
        (b"AT+QIRD=0,1500\r", ok(b"\r\n+QIRD: 0\r\n")),
        (b"AT+QIRD=0,0\r", ok(b"\r\n+QIRD: 5,5,0\r\n")),
        (b"AT+QICLOSE=0\r", ok()),
    ])  # fmt: skip
    assert eng.command(b'AT+QIOPEN=1,0,"TCP","61.190.19.174",8705,0,0', info=b"-") == []
    assert log.urcs == [b"+QIOPEN: 0,0"]
    st = parse.params(eng.command(b"AT+QISTATE=1,0", info=b"+QISTATE:")[0], b"+QISTATE:")
    assert st[5] == 2  # connected (section 2.6)
    assert send_data(eng, 0, b"test", 0, 4) is True
    assert send_data(eng, 0, b"xxtest1", 2, 5) is True
    assert log.notices == [0]
    assert parse.parse_qisend(eng.command(b"AT+QISEND=0,0")[0]) == (9, 9, 0)
    buf = bytearray(1500)
    assert read_data(eng, 0, memoryview(buf), 1500) == 5 and buf[:5] == b"test1"
    assert read_data(eng, 0, memoryview(buf), 1500) == 0
    assert parse.params(eng.command(b"AT+QIRD=0,0")[0], b"+QIRD:") == [5, 5, 0]
    eng.command(b"AT+QICLOSE=0", timeout_ms=10000)
    assert not uart.script


def test_4_3_transparent_open_answers_connect():
    eng, uart, _ = engine(
        [(b'AT+QIOPEN=1,0,"TCP","61.190.19.174",8705,0,2\r', b"\r\nCONNECT\r\n")]
    )
    assert eng.command(b'AT+QIOPEN=1,0,"TCP","61.190.19.174",8705,0,2', connect=True) == []


def test_4_4_direct_push():
    eng, uart, log = engine([(b"AT\r", ok())])
    uart.feed(b'\r\n+QIURC: "recv",0,4\r\ntest\r\n')
    eng.command(b"AT")
    assert log.pushes == [(0, 4, None, None, b"test")]


def test_4_5_tcp_server_incoming():
    eng, uart, log = engine([
        (b'AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,2020,0\r', ok() + b"\r\n+QIOPEN: 1,0\r\n"),
        (b"AT+QIRD=11,1500\r", ok(b"\r\n+QIRD: 4\r\ntest\r\n")),
    ])  # fmt: skip
    eng.command(b'AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,2020,0', info=b"-")
    uart.feed(b'\r\n+QIURC: "incoming",11,1,"172.31.242.222",54091\r\n\r\n+QIURC: "recv",11\r\n')
    buf = memoryview(bytearray(1500))
    assert read_data(eng, 11, buf, 1500) == 4 and bytes(buf[:4]) == b"test"
    assert log.urcs[1] == b'+QIURC: "incoming",11,1,"172.31.242.222",54091'
    assert log.notices == [11]


def test_4_6_udp_service():
    eng, uart, log = engine([
        (b'AT+QISEND=2,10,"10.7.89.10",6969\r', b"\r\n> "),
        (b"1234567890", b"\r\nSEND OK\r\n"),
        (b"AT+QIRD=2\r", ok(b'\r\n+QIRD: 4,"10.7.76.34",7687\r\nAAAA\r\n')),
    ])  # fmt: skip
    assert send_data(eng, 2, b"1234567890", 0, 10, ("10.7.89.10", 6969))
    buf = memoryview(bytearray(1500))
    assert read_data(eng, 2, buf) == 4 and bytes(buf[:4]) == b"AAAA"
    assert eng.remote == ("10.7.76.34", 7687)


def test_4_7_ping_results_are_urcs_after_ok():
    replies = b"".join(b"\r\n+QPING: 0,61.135.169.125,0,0,%d\r\n" % t for t in (147, 108, 96, 96))
    eng, uart, log = engine(
        [(b'AT+QPING=1,"www.baidu.com"\r', ok() + replies + b"\r\n+QPING: 2,4,4,0,96,147,111\r\n")]
    )
    eng.command(b'AT+QPING=1,"www.baidu.com"', info=b"-")
    eng.poll()
    assert [diag.parse_qping(x)[0] for x in log.urcs] == [0, 0, 0, 0, 2]


def test_4_8_ntp_and_cclk():
    eng, uart, log = engine([
        (b'AT+QNTP=1,"202.120.2.101",123\r', ok() + b'\r\n+QNTP: 0,"2013/08/19,11:10:10+32"\r\n'),
        (b"AT+CCLK?\r", ok(b'\r\n+CCLK: "13/08/19,11:10:57+32"\r\n')),
    ])  # fmt: skip
    eng.command(b'AT+QNTP=1,"202.120.2.101",123', info=b"-")
    assert eng.command(b"AT+CCLK?") == [b'+CCLK: "13/08/19,11:10:57+32"']
    assert diag.parse_qntp(log.urcs[0])[1] == (2013, 8, 19, 11, 10, 10)


def test_4_9_error_becomes_precise_exception():
    eng, uart, log = engine([
        (b'AT+QIOPEN=1,"TCP","61.190.19.174",8033,0,1\r', b"\r\nERROR\r\n"),
        (b"AT+QIGETERROR\r", ok(b"\r\n+QIGETERROR: 558, invalid parameters\r\n")),
    ])  # fmt: skip
    with pytest.raises(errors.TCPIPError) as e:
        eng.command(b'AT+QIOPEN=1,"TCP","61.190.19.174",8033,0,1')
    assert e.value.code == 558 and e.value.text == "invalid parameters"
    assert e.value.command == "AT+QIOPEN"


def test_cme_error_and_plain_error():
    eng, uart, _ = engine(
        [(b"AT+CPIN?\r", b"\r\n+CME ERROR: 10\r\n"), (b"AT+CFUN=9\r", b"\r\nERROR\r\n")]
    )
    with pytest.raises(CMEError) as e:
        eng.command(b"AT+CPIN?")
    assert e.value.code == 10
    with pytest.raises(errors.ATError) as e:
        eng.command(b"AT+CFUN=9")
    assert not isinstance(e.value, errors.TCPIPError)


def test_echo_on_is_skipped():
    eng, uart, _ = engine([
        (b"AT+QIACT?\r", b"AT+QIACT?\r\r\n+QIACT: 1,1,1,\"10.0.0.2\"\r\n\r\nOK\r\n"),
        (b"AT+QIRD=0,1500\r", b"AT+QIRD=0,1500\r\r\n+QIRD: 2\r\nAT\r\n\r\nOK\r\n"),
    ])  # fmt: skip
    assert len(eng.command(b"AT+QIACT?")) == 1
    buf = memoryview(bytearray(10))
    assert read_data(eng, 0, buf, 1500) == 2 and bytes(buf[:2]) == b"AT"


def test_timeout_is_clear_and_engine_recovers():
    eng, uart, _ = engine([(b"AT+QIACT=1\r", b""), (b"AT\r", ok())])
    with pytest.raises(ATTimeout) as e:
        eng.command(b"AT+QIACT=1", timeout_ms=150000)
    assert "AT+QIACT" in str(e.value) and eng.clock.elapsed >= 150000
    assert eng.command(b"AT") == []


def test_urc_in_the_middle_of_a_response_and_a_payload_read():
    eng, uart, log = engine([
        (b"AT+QISTATE=0,1\r", b'\r\n+QISTATE: 0,"TCP","1.2.3.4",80,0,2,1,0,0,"uart"\r\n'
         b'\r\n+QIURC: "closed",5\r\n\r\n+QISTATE: 1,"UDP","1.2.3.4",53,0,2,1,0,0,"uart"\r\n\r\nOK\r\n'),
        (b"AT+QIRD=1,1500\r", b'\r\n+QIURC: "recv",3\r\n\r\n+QIRD: 3\r\n\r\nO\r\n\r\nOK\r\n\r\n+QIURC: "pdpdeact",1\r\n'),
    ])  # fmt: skip
    assert len(eng.command(b"AT+QISTATE=0,1")) == 2
    buf = memoryview(bytearray(16))
    assert read_data(eng, 1, buf, 1500) == 3 and bytes(buf[:3]) == b"\r\nO"
    eng.poll()
    assert log.urcs == [b'+QIURC: "closed",5', b'+QIURC: "pdpdeact",1'] and log.notices == [3]


def test_send_fail_and_error_before_prompt():
    eng, uart, _ = engine([
        (b"AT+QISEND=0,3\r", b"\r\n> "), (b"abc", b"\r\nSEND FAIL\r\n"),
        (b"AT+QISEND=0,3\r", b"\r\nERROR\r\n"),
        (b"AT+QIGETERROR\r", ok(b"\r\n+QIGETERROR: 555,\"connection has been closed\"\r\n")),
    ])  # fmt: skip
    assert send_data(eng, 0, b"abc", 0, 3) is False
    with pytest.raises(errors.TCPIPError) as e:
        send_data(eng, 0, b"abc", 0, 3)
    assert e.value.code == 555


def test_oversized_data_header_is_a_protocol_error():
    eng, uart, _ = engine(
        [(b"AT+QIRD=0,10\r", b"\r\n+QIRD: 11\r\n0123456789A\r\n\r\nOK\r\n"), (b"AT\r", ok())]
    )
    with pytest.raises(ProtocolError):
        read_data(eng, 0, memoryview(bytearray(10)), 10)
    assert eng.command(b"AT") == []


def test_rdy_under_a_command_fails_it():
    eng, uart, log = engine([(b"AT+QIACT=1\r", b"\r\nRDY\r\n")])
    with pytest.raises(errors.ATError, match="restarted"):
        eng.command(b"AT+QIACT=1")
    assert log.urcs == [b"RDY"]


def test_long_line_overflow_is_dropped():
    eng, uart, _ = engine([(b"AT\r", b"\r\n" + b"x" * 300 + b"\r\nOK\r\n")], rxbuf=64)
    assert eng.command(b"AT", info=b"") == []
    assert eng.garbage >= 1


# ---- properties -----------------------------------------------------------------------------

SESSION = [
    (b"AT+QIACT?\r", ok(b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\n+QIURC: "recv",0\r\n')),
    (b"AT+QIRD=0,1500\r", ok(b"\r\n+QIRD: 7\r\n\r\nOK\r\n\n\r\n")),
    (b"AT+QISEND=0,2\r", b"\r\n> "),
    (b"hi", b"\r\nSEND OK\r\n" + b'\r\n+QIURC: "recv",1,3\r\nx\ny\r\n'),
    (b"AT+QIRD=2\r", ok(b'\r\n+QIRD: 2,"1.2.3.4",99\r\n\x00\xff\r\n')),
    (b'AT+QIOPEN=1,3,"TCP","a",1,0,0\r', ok() + b"\r\n+QIOPEN: 3,0\r\n"),
    (b"AT\r", ok()),
]


def run_session(chunks, rxbuf=1600):
    eng, uart, log = engine(list(SESSION), chunks, rxbuf)
    out = [eng.command(b"AT+QIACT?")]
    buf = memoryview(bytearray(1500))
    out.append(bytes(buf[: read_data(eng, 0, buf, 1500)]))
    out.append(send_data(eng, 0, b"hi", 0, 2))
    out.append(bytes(buf[: read_data(eng, 2, buf)]))
    out.append(eng.remote)
    out.append(eng.command(b'AT+QIOPEN=1,3,"TCP","a",1,0,0', info=b"-"))
    out.append(eng.command(b"AT"))
    return out, log.urcs, log.notices, log.pushes


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.sampled_from([48, 200, 1600]))
def test_any_split_parses_the_same(chunks, rxbuf):
    assert run_session(chunks, rxbuf) == run_session(None)


def test_every_single_byte_split():
    assert run_session([1]) == run_session(None)


class Garbage(ScriptUART):
    def write(self, buf, off=0, n=-1):
        return len(buf) - off if n < 0 else n


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=30), st.sampled_from([
    b"\r\n", b"OK", b"ERROR", b"> ", b'+QIURC: "recv",', b"+QIRD: ", b"1500", b",", b"SEND OK",
    b"+CME ERROR: ", b"RDY", b'"', b"CONNECT", b"\r"])), max_size=40))  # fmt: skip
def test_random_output_raises_only_documented_errors(parts):
    uart = Garbage()
    uart.feed(b"".join(parts))
    eng = ATEngine(uart, rxbuf=128, clock=StepClock(), events=Events())
    buf = memoryview(bytearray(64))
    for call in (lambda: eng.command(b"AT", timeout_ms=50), lambda: read_data(eng, 0, buf, 64, 50),
                 lambda: send_data(eng, 0, b"x", 0, 1, timeout_ms=50)):  # fmt: skip
        try:
            call()
        except errors.QuectelError:
            pass
    while eng.poll():
        pass


def test_a_read_after_an_interrupted_read_gets_only_its_own_bytes():
    # An AT+QIRD interrupted by a cancelled task answers late, while the next AT+QIRD is set up:
    # that answer is read and dropped, and lands neither in the new read's buffer nor its count.
    eng, uart, log = engine([
        (b"AT+QIRD=0,1500\r", b""),
        (b"AT+QIRD=0,1500\r", b"\r\n+QIRD: 3\r\nxyz\r\n\r\nOK\r\n"),
    ])  # fmt: skip
    first = bytearray(1500)
    eng.begin_read(0, first, 1500)
    eng.abort(5000)
    uart.feed(b"\r\n+QIRD: 5\r\nabcde\r\n\r\nOK\r\n")  # the interrupted read's answer
    buf = bytearray(1500)
    assert read_data(eng, 0, buf, 1500) == 3
    assert bytes(buf[:3]) == b"xyz"
    assert first == bytearray(1500) and not uart.script
