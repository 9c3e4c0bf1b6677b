"""Building blocks of the loopback peers that the benchmarks (tools/bench.py) and the test
fixtures (host_tests/conftest.py) run in threads."""

import socket
import time


def loopback_listener(backlog, timeout):
    """A TCP server socket on 127.0.0.1, on a port the system chooses."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    s.settimeout(timeout)
    return s


def chunks(c, stopped, deadline=None):
    """What connection c receives, piece by piece (polled every 0.2 s), until the peer closes
    it, an error, stopped() or the time.monotonic() deadline; c is closed at the end."""
    c.settimeout(0.2)
    try:
        while not stopped() and (deadline is None or time.monotonic() < deadline):
            try:
                d = c.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not d:
                break
            yield d
    finally:
        c.close()
