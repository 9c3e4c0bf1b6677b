"""Blocking sockets over the module, and a `socket` module facade, so that code written for
MicroPython's socket (requests, umqtt, ssl, select) runs unchanged:

    import quectel.socket
    quectel.socket.use(modem)   # now `import socket` anywhere gives this module

`Socket` is a thin front over a `Conn` (quectel.conn): it runs the connection's generator
procedures with `ATEngine.run`; `quectel.aio` awaits the same ones.
"""

import errno
import sys

from .conn import (  # noqa: F401  (PUSH, SOCK_DGRAM re-exported)
    BUFFER,
    MAX_READ,
    MAX_SEND,
    PUSH,
    SOCK_DGRAM,
    SOCK_STREAM,
    TRANSPARENT,
    WAIT,
    Conn,
    byte_view,
    want,
)
from .errors import EAFNOSUPPORT, QuectelError, oserror

if sys.implementation.name == "micropython":
    from io import IOBase
else:  # CPython's IOBase would close the socket from __del__
    IOBase = object

AF_INET = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17
SOL_SOCKET = 1
SO_REUSEADDR = 4

_POLLIN = 1
_POLLOUT = 4
_POLLERR = 8
_POLLHUP = 16
_DNS_FAILED = 565  # chapter 3
_EPHEMERAL = 49152  # IANA's dynamic ports start here: an unbound datagram socket takes one

_modem = None
error = OSError


def use(modem):
    """Make `modem` serve `socket()`/`getaddrinfo()` and install this module as `socket`."""
    global _modem
    _modem = modem
    me = sys.modules[__name__]
    sys.modules["socket"] = me
    sys.modules["usocket"] = me


def _current():
    if _modem is None:
        raise OSError(errno.ENODEV, "no modem: call quectel.socket.use(modem) first")
    return _modem


def socket(af=AF_INET, type=SOCK_STREAM, proto=0):
    return _current().socket(af, type, proto)


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    try:
        return _current().getaddrinfo(host, port, af, type, proto, flags)
    except QuectelError as e:
        if e.code == _DNS_FAILED:  # as MicroPython's socket says it
            raise OSError(-2, "host name not resolved")
        raise


def _span(mv, a, b):
    # write(buf[, len]) / write(buf, off, len), as MicroPython's streams take them.
    n = len(mv)
    if b is None:
        off, k = 0, n if a is None else a
    else:
        off, k = a, b
    if off < 0 or k < 0:
        raise ValueError("offset and length must be >= 0")
    off = min(off, n)
    return off, min(k, n - off)


def _steps(o):
    # Drive a data-path operation (quectel.conn.Op) to its result, blocking.
    at = o.c.modem.at
    ok = None
    try:
        while True:
            r = o.step(ok)
            if r != WAIT:
                return r
            ok = at.wait(o.wcond, o.wms)
    except BaseException:  # noqa: B036 (KeyboardInterrupt too: leave the engine idle)
        o.stop()
        raise


class Socket(IOBase):
    """A socket on one of the module's 12 connect IDs; made by `Modem.socket()`.

    `mode`: BUFFER (0, default), PUSH (1, direct push) or TRANSPARENT (2: the UART then
    carries only this connection's payload until `leave()`)."""

    def __init__(self, modem, af=AF_INET, type=SOCK_STREAM, proto=0, mode=BUFFER, rxbuf=MAX_READ,
                 conn=None):  # fmt: skip
        if conn is None:
            if af != AF_INET:
                raise oserror(EAFNOSUPPORT)
            if type not in (SOCK_STREAM, SOCK_DGRAM):
                raise oserror(errno.EINVAL)
            if mode not in (BUFFER, PUSH, TRANSPARENT):
                raise ValueError("mode must be BUFFER, PUSH or TRANSPARENT")
            conn = Conn(modem, type, mode, rxbuf)
        self.c = conn
        self._run = conn.modem.at.run

    def __repr__(self):
        c = self.c
        return "<Socket %d %s %s>" % (c.cid, c.service, c.remote)

    @property
    def cid(self):
        return self.c.cid

    @property
    def mode(self):
        return self.c.mode

    @property
    def remote(self):
        return self.c.remote

    @property
    def allow(self):
        return self.c.allow

    @allow.setter
    def allow(self, ips):
        self.c.allow = ips

    # ---- opening ---------------------------------------------------------------------------

    def connect(self, address):
        """Connect to (host, port); host may be a name, resolved by the module."""
        self._run(self.c.g_connect(address))

    def bind(self, address):
        """Choose the local port: for a listener, or a UDP service (`sendto`/`recvfrom`)."""
        self._run(self.c.g_bind(address))

    def listen(self, backlog=1):
        """Start the TCP LISTENER on the bound port; incoming connections queue for accept."""
        self._run(self.c.g_listen())

    def accept(self):
        """Wait for a client: (socket, (ip, port)). Clients not in `allow` are closed."""
        child = self._run(self.c.g_accept())
        return Socket(None, conn=child), child.remote

    # ---- receiving -------------------------------------------------------------------------

    def recv_into(self, buf, nbytes=0):
        """Read up to nbytes (default and at most len(buf)) bytes into buf; 0 at EOF."""
        n = want(buf, nbytes)
        if not n:
            return 0
        c = self.c
        if c.queued:
            self.flush()  # what we wrote goes out before we wait for an answer
        c.rd.recv(buf, n)
        return _steps(c.rd)

    def recv(self, bufsize):
        if bufsize < 0:
            raise ValueError("negative buffer size")
        if not bufsize:
            return b""
        buf = bytearray(bufsize)
        k = self.recv_into(buf, bufsize)
        return bytes(buf) if k == bufsize else bytes(memoryview(buf)[:k])

    def recvfrom(self, bufsize):
        """A datagram and its sender (ip, port)."""
        data = self.recv(bufsize)
        return data, self.c.sender or self.c.remote

    def readinto(self, buf, nbytes=0):
        """Stream read for io/ssl/asyncio: count, 0 at EOF, None if it would block."""
        try:
            return self.recv_into(buf, nbytes)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return None
            raise

    def read(self, size=-1):
        """Read size bytes (fewer at EOF, or when non-blocking and nothing more waits);
        -1 reads until EOF. None if non-blocking and nothing is waiting."""
        out = bytearray()
        chunk = bytearray(MAX_READ)
        c = self.c
        while size < 0 or len(out) < size:
            want = MAX_READ if size < 0 else min(MAX_READ, size - len(out))
            k = self.readinto(chunk, want)
            if k is None:
                if out:
                    break
                return None
            if k == 0:
                break
            out.extend(memoryview(chunk)[:k])
            if c.timeout == 0 and not c.readable():
                break
        return bytes(out)

    def readline(self):
        """Read up to and including b"\n" (or to EOF). Non-blocking: what is there, or None."""
        c = self.c
        rx = c.ring(c.rxsize)
        out = bytearray()
        while not c.take_line(out):
            k = self.readinto(rx.buf)
            if not k:
                return bytes(out) if out or k == 0 else None
            rx.w = k
        return bytes(out)

    # ---- sending ---------------------------------------------------------------------------

    def _out(self, c, mv, off, n):
        # Queued writes first, then mv[off:off+n] now; the count sent of it.
        if c.queued:
            self.flush()
        if c.mode == TRANSPARENT and c.modem.at.data_mode:
            raw_write = _raw_write()
            ms = raw_write(c, mv, off, n)
            if ms:
                self._run(_pause(ms))
                raw_write(c, mv, off + n - 1, 1)
            return n
        c.wr.send(mv, off, n)
        return _steps(c.wr)

    def send(self, buf):
        """Send up to 1460 bytes (one AT+QISEND, at once); returns how many were taken."""
        c = self.c
        mv = c.sendable(buf)
        n = min(len(mv), MAX_SEND)
        if n and not self._out(c, mv, 0, n):
            raise c.timed_out()
        return n

    def sendall(self, buf):
        """Send everything now, in 1460-byte commands."""
        c = self.c
        mv = c.sendable(buf)
        if self._out(c, mv, 0, len(mv)) < len(mv):
            raise c.timed_out()

    def write(self, buf, off=None, n=None):
        """Stream write, `write(buf[, len])` or `write(buf, off, len)`: the count sent (all
        of it unless non-blocking and the module's buffer filled up), None if nothing could
        be sent. With a board timer (Modem(timer=)) a small write that follows the last
        within `modem.coalescer.ms` is queued with it and shares its AT+QISEND: the queue
        goes out once no write came for that long, at 1460 bytes, before a read, on close
        and flush(); a write after a quiet spell is sent at once."""
        c = self.c
        mv = c.sendable(buf)
        off, n = _span(mv, off, n)
        co = c.modem.coalescer
        if co is not None and co.takes(c, n):
            co.queue(c, mv, off, n)
            k = n
        else:
            k = self._out(c, mv, off, n)
        c.t_last = c.modem.clock.ticks_ms()
        if k < n and c.timeout != 0:
            raise c.timed_out()
        return k if k or not n else None

    def sendto(self, buf, address):
        """Send a datagram to (ip, port); opens a UDP SERVICE on first use if not bound."""
        c = self.c
        mv = byte_view(buf)
        addr = c.dest(mv, address)
        if c.cid < 0:
            self.bind(("0.0.0.0", _EPHEMERAL + (c.modem.clock.ticks_ms() & 0x3FFF)))
        c.check()
        c.wr.send(mv, 0, len(mv), None if c.service == "UDP" else addr)
        if _steps(c.wr) < len(mv):
            raise c.timed_out()
        return len(mv)

    def flush(self):
        """Send what small writes have queued (at most the socket's timeout)."""
        self._run(self.c.g_flush())

    def wait_acked(self, timeout_ms=None):
        """Wait until the peer acknowledged every byte sent (AT+QISEND=<id>,0): the byte
        count sent. By default the manual's rule: query every 5 s, 24 times; still
        unacknowledged means the connection is dead (ETIMEDOUT), and the caller should close
        and reopen it."""
        self.flush()
        c = self.c
        return self._run(c.modem.g_call("diag", "g_wait_acked", (c, timeout_ms), {}))

    # ---- transparent mode ------------------------------------------------------------------

    def leave(self):
        """Leave transparent mode: DTR pulse when wired (AT&D1), else `+++` with its 1 s
        guard times. The connection stays open in buffer access mode; payload that arrived
        meanwhile is kept."""
        from .transparent import g_leave

        self._run(g_leave(self.c))

    def resume(self):
        """Back to transparent mode (`ATO` or `AT+QISWTMD=<id>,2`, section 2.9)."""
        from .transparent import g_resume

        self._run(g_resume(self.c))

    def set_mode(self, mode):
        """Switch the access mode of an open socket (AT+QISWTMD, section 2.9)."""
        from .transparent import g_set_mode

        self._run(g_set_mode(self.c, mode))

    # ---- settings and life -----------------------------------------------------------------

    def settimeout(self, seconds):
        """Seconds every call may wait (None: as long as the manual allows; 0: never)."""
        if seconds is not None and seconds < 0:
            raise ValueError("timeout must be None or >= 0")
        self.c.timeout = None if seconds is None else int(seconds * 1000)

    def setblocking(self, flag):
        self.c.timeout = None if flag else 0

    def setsockopt(self, level, opt, value):
        pass  # SO_REUSEADDR and friends: the module has no such options

    def close(self):
        """Send what is queued, then AT+QICLOSE (section 2.5); received data is discarded."""
        self._run(self.c.g_close())

    def ioctl(self, op, arg):
        if op == 3:  # poll: feed the engine, then look
            c = self.c
            if c.cid >= 0 and not c.dead:
                if c.queued:
                    try:
                        self.flush()
                    except OSError:
                        pass  # poll reports, never raises: the next call gives the error
                c.modem.at.poll()
            r = 0
            if arg & _POLLIN and c.readable():
                r |= _POLLIN
            if arg & _POLLOUT and c.cid >= 0:
                r |= _POLLOUT
            if c.dead:
                r |= _POLLERR
            if c.eof and not c.avail and not c.held():
                r |= _POLLHUP
            return r
        if op == 4:
            self.close()
            return 0
        if op == 1:
            self.flush()
            return 0
        return -1

    def fileno(self):
        return -1

    def makefile(self, mode="rb", buffering=0):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_transparent = None


def _raw_write():
    # quectel.transparent.raw_write, imported once: an import statement per write would
    # allocate on every write.
    global _transparent
    if _transparent is None:
        from . import transparent

        _transparent = transparent
    return _transparent.raw_write


def _pause(ms):
    yield (None, ms)
