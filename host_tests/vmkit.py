"""Host side of the virtual module for its tests: the UART and pin channels, peers on loopback.

Everything runs on loopback; the module clock runs SPEED times faster than real time.
"""

import re
import select
import socket
import time

SPEED = 20.0  # module ms per real ms: 1 s guard time = 50 ms real
FINAL = re.compile(
    rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|SEND OK|SEND FAIL|CONNECT|NO CARRIER)\r\n$|\r\n> $"
)


def real(ms):
    """Real seconds for ms of module time."""
    return ms / 1000.0 / SPEED


class Uart:
    """Host side of the module's UART."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        self.s.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.s], [], [], left)
        if not r:
            return False
        d = self.s.recv(65536)
        if not d:
            raise EOFError("uart closed")
        self.buf += d
        return True

    def read_exact(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if not self._fill(deadline):
                break
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def expect(self, data, timeout=5.0):
        got = self.read_exact(len(data), timeout)
        assert got == data
        return got

    def read_until(self, pattern, timeout=5.0):
        """Read until the regex pattern matches the end of what was read."""
        rx = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                out = bytes(self.buf[: m.end()])
                del self.buf[: m.end()]
                return out
            if not self._fill(deadline):
                raise AssertionError("timeout; got %r" % bytes(self.buf))

    def read_for(self, seconds):
        deadline = time.monotonic() + seconds
        while self._fill(deadline):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def quiet(self, seconds=0.05):
        assert self.read_for(seconds) == b""

    def cmd(self, line, timeout=5.0):
        """Send a command line, return everything up to and including the final result."""
        self.send(line + "\r")
        return self.read_until(FINAL, timeout)

    def x(self, line, expected, timeout=5.0):
        """Send a command line and expect exactly these bytes back."""
        self.send(line + "\r")
        self.expect(expected, timeout)


class Pins:
    """Host side of the pin channel."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.state = {}
        self.history = []
        self.mark = 0

    def set(self, name, level):
        self.s.sendall(b"%s %d\n" % (name.encode(), level))

    def poll(self, seconds=0.0):
        """Read pin lines for up to seconds; returns the (name, level) changes seen."""
        deadline = time.monotonic() + seconds
        lines = []
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                name, level = line.decode().split()
                self.state[name] = int(level)
                lines.append((name, int(level)))
                self.history.append((name, int(level)))
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.s], [], [], max(0.0, left))
            if not r:
                return lines
            d = self.s.recv(4096)
            if not d:
                return lines
            self.buf += d

    def wait(self, name, level, timeout=3.0):
        """Wait for the next report of name at level (reports are consumed in order)."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self.mark, len(self.history)):
                if self.history[i] == (name, level):
                    self.mark = i + 1
                    return
            if time.monotonic() > deadline:
                raise AssertionError("%s never became %d" % (name, level))
            self.poll(0.01)

    def close(self):
        self.s.close()


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.settimeout(5)
    return s, s.getsockname()[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def recv_exact(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    out = b""
    while len(out) < n:
        d = sock.recv(n - len(out))
        if not d:
            break
        out += d
    return out


def activate(u, ctx=1):
    u.x("AT+QIACT=%d" % ctx, b"\r\nOK\r\n")


def open_tcp(u, port, cid=0, mode=0):
    u.x('AT+QIOPEN=1,%d,"TCP","127.0.0.1",%d,0,%d' % (cid, port, mode), b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: %d,0\r\n" % cid)


def tcp_pair(u, cid=0, mode=0):
    srv, port = listener()
    open_tcp(u, port, cid, mode)
    peer, _ = srv.accept()
    srv.close()
    peer.settimeout(5)
    return peer, port
