# A representative subset of the fault matrix (host_tests/test_faults.py) under the real
# MicroPython unix port on the virtual board. Faults are asked for over $FAULT_PORT, a line
# channel to the CPython side that owns the virtual module ("method arg..." -> "ok"); run by
# host_tests/test_faults.py::test_fault_subset_under_micropython.
import os
import socket

from mptest import run, test
from quectel import Modem
from quectel.errors import TCPIPError

import boards.virtual as board

ECHO = int(os.getenv("ECHO_PORT"))
modem = Modem.for_board(board)
_ctl = socket.socket()
_ctl.connect(socket.getaddrinfo("127.0.0.1", int(os.getenv("FAULT_PORT")))[0][-1])


def fault(*words):
    _ctl.write((" ".join(str(w) for w in words) + "\n").encode())
    line = _ctl.readline()
    assert line.startswith(b"ok"), line
    return line[3:].strip()


def data_for(n, seed):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    return out


def opened():
    s = modem.socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", ECHO))
    return s


def echo(s, data):
    # Send in 1460-byte pieces and read everything back; returns (acknowledged, back).
    sent = 0
    back = bytearray()
    buf = bytearray(1500)
    while sent < len(data):
        sent += s.send(memoryview(data)[sent : sent + 1460])
    while len(back) < sent:
        n = s.recv_into(buf)
        if not n:
            break
        back.extend(buf[:n])
    return sent, back


def attempt(op):
    try:
        op()
        return None
    except OSError as e:
        return e


def recover():
    fault("clear_faults")
    for s in modem.sockets:
        if s is not None:
            try:
                modem.at.run(s.g_close())
            except OSError:
                pass
    for _ in range(8):
        if modem.check():
            break
        modem.clock.sleep_ms(5000)
    assert modem.isconnected(), (modem.status(), modem.reason)
    s = opened()
    d = data_for(3000, 77)
    sent, back = echo(s, d)
    assert back == d, "fresh echo after recovery"
    s.close()


@test
def connect():
    modem.connect("internet")
    assert modem.isconnected()


@test
def urc_inside_responses_loses_nothing():
    s = opened()
    d = data_for(4000, 1)
    for _ in range(6):
        fault("inject_urc", '+QIURC: "recv",%d' % s.cid)
    sent, back = echo(s, d)
    assert back == d
    s.close()
    recover()


@test
def send_fail_run_loses_nothing():
    s = opened()
    d = data_for(12000, 2)
    fault("fault_send_fail", 8)
    sent, back = echo(s, d)
    assert back == d
    s.close()
    recover()


@test
def garbled_output_raises_or_completes():
    s = opened()
    d = data_for(4000, 3)
    fault("fault_garble", 30)
    box = []
    e = attempt(lambda: box.append(echo(s, d)))
    assert e is not None or box[0][1] == d
    recover()


@test
def pdpdeact_mid_transfer_raises():
    s = opened()
    s.send(b"x" * 1000)
    fault("pdp_deactivate", 1)
    e = attempt(lambda: [echo(s, data_for(1460, 4)) for _ in range(50)])
    assert e is not None and e.errno in (103, 104), e
    recover()


@test
def reboot_mid_transfer_raises():
    s = opened()
    s.send(b"y" * 1000)
    fault("reboot")
    e = attempt(lambda: [echo(s, data_for(1460, 5)) for _ in range(200)])
    assert e is not None, "no error after a reboot"
    recover()


@test
def error_codes_raise_documented_errors():
    fault("fault_error", "AT+QIDNSGIP", 565)
    try:
        modem.resolve("somewhere.test")
        raise AssertionError("no TCPIPError")
    except TCPIPError as e:
        assert e.code == 565
    s = opened()
    fault("fault_error", "AT+QISEND", 555)
    e = attempt(lambda: s.send(b"z"))
    assert e is not None and e.errno == 104, e
    fault("fault_error", "AT+QIOPEN", 554)
    e = attempt(opened)
    assert e is not None and e.errno == 111, e
    recover()


@test
def late_answer_beyond_its_timeout():
    s = opened()
    fault("fault_delay", "AT+QIRD", modem.policy.at_ms + 5000, 1)
    e = attempt(lambda: echo(s, data_for(2000, 6)))
    assert e is not None and e.errno == 110, e
    recover()


run()
