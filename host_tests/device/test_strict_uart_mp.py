# vm: speed=2, baud=115200
# Issues #22.2 and #23.2 on the strict stand-in UART (tools/vboard/machine.py): the module's
# line is throttled to 115200 baud and so is ours; bytes that arrive while the receive ring
# (rxbuf + 32-byte FIFO) is full are dropped and counted (modem.uart.dropped), as on rp2 and
# esp32 without flow control. Nothing may be lost in any access mode, and the "+++" guard time
# counts from the moment the last payload byte left the wire.
import os

from mptest import run, test
from quectel import Modem
from quectel import socket as S

import boards.virtual as board

ECHO = int(os.getenv("ECHO_PORT"))
modem = Modem.for_board(board)
modem.connect("internet")


def read_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        k = s.recv(min(1500, n - len(out)))
        assert k, "EOF after %d of %d" % (len(out), n)
        out += k
    return bytes(out)


def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def opened(port, mode):
    s = modem.socket(mode=mode)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    return s


@test
def transparent_echo_survives_a_long_write():
    """#23.2: sendall(4096) in transparent mode while the peer echoes: the echo arrives
    during the write and must not overrun the UART (828 bytes were lost)."""
    before = modem.uart.dropped
    s = opened(ECHO, S.TRANSPARENT)
    for seed in range(3):
        block = pattern(4096, seed)
        s.sendall(block)
        assert read_exactly(s, 4096) == block, seed
    assert modem.uart.dropped == before, modem.uart.dropped - before
    s.close()


@test
def push_echo_survives_a_long_write():
    """#23.2: direct push while a long send runs: no byte dropped by the UART."""
    before = modem.uart.dropped
    s = opened(ECHO, S.PUSH)
    block = pattern(8192, 5)
    s.sendall(block)
    assert read_exactly(s, len(block)) == block
    assert modem.uart.dropped == before, modem.uart.dropped - before
    s.close()


@test
def leave_after_a_long_write_waits_for_the_wire():
    """#22.2: after a 30 KB write the guard time before '+++' starts only once the last
    byte left the UART: one '+++' is enough, and the peer never receives it as data."""
    dtr = modem.dtr
    modem.dtr = None  # no DTR: '+++' it is
    pluses = []
    modem.at.trace = lambda d, b: pluses.append(1) if d == ">" and b == b"+++" else None
    try:
        s = opened(ECHO, S.TRANSPARENT)
        data = pattern(30000, 9)
        s.sendall(data)
        s.leave()
        assert not modem.at.data_mode
        assert len(pluses) == 1, len(pluses)
        assert read_exactly(s, len(data)) == data
        s.settimeout(0.5)
        try:
            extra = s.recv(100)  # '+++' echoed back would be here
        except OSError:
            extra = b""
        assert extra == b"", extra
        s.close()
    finally:
        modem.at.trace = None
        modem.dtr = dtr


run()
