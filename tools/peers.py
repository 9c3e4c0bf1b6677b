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


class UDPEcho:
    """A UDP echo peer on 127.0.0.1 (a port the system chooses) in a thread: every datagram
    goes back to its sender; `received` lists them."""

    def __init__(self):
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            self.received.append(data)
            self.sock.sendto(data, addr)

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()
