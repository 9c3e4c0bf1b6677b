# vm: speed=2
# Transparent access mode under the MicroPython unix port: every transition. The clocks run
# twice as fast, not 50 times: the "+++" guard times keep a 100 ms margin (section 1.2),
# which must stay more than a busy machine's scheduling delays in real time.
import os

from mptest import run, test
from quectel import Modem, QuectelError
from quectel import socket as S

import boards.virtual as board

ECHO = int(os.getenv("ECHO_PORT"))
HTTP = int(os.getenv("HTTP_PORT"))
modem = Modem.for_board(board)  # DTR wired: AT&D1, leaving by DTR
modem.connect("internet")


def read_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        k = s.recv(min(1500, n - len(out)))
        assert k, "EOF after %d" % len(out)
        out += k
    return out


def opened(port):
    s = modem.socket(mode=S.TRANSPARENT)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    assert modem.at.data_mode
    return s


@test
def echo_binary_with_escape_lookalikes():
    s = opened(ECHO)
    block = bytes(range(256)) * 4 + b"+++\r\nNO CARRIER\r\n\r\nOK\r\n"
    for _ in range(64):
        s.sendall(block)
        assert read_exactly(s, len(block)) == block
    assert modem.at.data_mode
    s.close()
    assert not modem.at.data_mode


@test
def commands_refused_then_leave_by_dtr_keeps_data():
    s = opened(ECHO)
    try:
        modem.command(b"AT")
        raise AssertionError("AT accepted in transparent mode")
    except QuectelError:
        pass
    s.sendall(b"x" * 3000)  # the echo arrives while we leave
    s.leave()
    assert not modem.at.data_mode
    assert read_exactly(s, 3000) == b"x" * 3000
    modem.resume()  # ATO
    s.sendall(b"back")
    assert read_exactly(s, 4) == b"back"
    s.close()


@test
def leave_by_plus_plus_plus_without_dtr():
    dtr = modem.dtr
    modem.dtr = None
    try:
        s = opened(ECHO)
        s.sendall(b"plus")
        assert read_exactly(s, 4) == b"plus"
        s.leave()
        assert not modem.at.data_mode
        s.set_mode(S.TRANSPARENT)  # AT+QISWTMD=<id>,2
        assert modem.at.data_mode
        s.close()
    finally:
        modem.dtr = dtr


@test
def no_carrier_ends_the_mode_after_the_data():
    s = opened(HTTP)
    s.sendall(b"GET /transparent HTTP/1.0\r\n\r\n")
    reply = s.read()  # to EOF: the server closes, the module says NO CARRIER
    assert reply.endswith(b"hello from /transparent"), reply
    assert not modem.at.data_mode
    s.close()
    assert modem.sockets == [None] * 12


run()
