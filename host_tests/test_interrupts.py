"""Issue #22.4: an exception at any point of an exchange (Ctrl-C mid-transfer) leaves the
engine and the module ready for the next call at once: the interrupted exchange is finished
or cancelled before the next command is written, so its late answer is never taken for the
next command's."""

import pytest
from test_defects import connected, recv_exactly


class Interrupting:
    """Wraps a UART: the nth readinto() raises KeyboardInterrupt (as Ctrl-C would there)."""

    def __init__(self, uart):
        self.u = uart
        self.countdown = -1

    def __getattr__(self, name):
        return getattr(self.u, name)

    def readinto(self, buf, *nbytes):
        self.countdown -= 1
        if self.countdown == 0:
            raise KeyboardInterrupt
        return self.u.readinto(buf, *nbytes)


def interrupt_at(modem, n):
    u = modem.at.uart
    if not isinstance(u, Interrupting):
        u = modem.at.uart = Interrupting(u)
    u.countdown = n


@pytest.mark.parametrize("way", ["recv", "sendall"])
def test_interrupted_transfer_leaves_the_next_call_working(modem, echo, way):
    """#22.4: for every point of a busy transfer, a KeyboardInterrupt there is followed at
    once by a working modem.signal() and a working socket."""
    s = connected(modem, echo.port, timeout=10)
    for n in range(1, 30):
        s.sendall(b"x" * 6000)  # the echo keeps the module busy with data for us
        interrupt_at(modem, n)
        try:
            if way == "recv":
                recv_exactly(s, 6000)
            else:
                s.sendall(b"y" * 6000)
        except KeyboardInterrupt:
            pass
        interrupt_at(modem, -1)
        assert modem.signal()[0] is not None, n  # the next command works, first time
        s.close()
        s = connected(modem, echo.port, timeout=10)
        s.sendall(b"check %d" % n)
        assert recv_exactly(s, len(b"check %d" % n)) == b"check %d" % n
    s.close()
