"""Sockets over the module's connect IDs: TCP/UDP clients, TCP server, UDP service.

Buffer access mode by default: `+QIURC: "recv"` marks data waiting and `AT+QIRD` reads it
straight into the caller's buffer. Direct push mode keeps pushed data in a per-socket buffer.
Sends are fixed-length `AT+QISEND` (binary-safe, at most 1460 bytes each).
"""

import errno
import sys

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from .errors import ATTimeout, QuectelError, TCPIPError
from .validate import check_port, check_text

if sys.implementation.name == "micropython":
    from io import IOBase
else:  # CPython's IOBase would close the socket from __del__
    IOBase = object

AF_INET = 2
SOCK_STREAM = 1
SOCK_DGRAM = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17
SOL_SOCKET = 1
SO_REUSEADDR = 4

MAX_SEND = 1460  # section 2.7
MAX_READ = 1500  # section 2.8

# Access modes (section 1.2).
BUFFER = 0
PUSH = 1
TRANSPARENT = 2

_POLLIN = 1
_POLLOUT = 4
_POLLERR = 8
_POLLHUP = 16

# Not in MicroPython's errno module: Linux's numbers, which MicroPython's others follow.
_EMSGSIZE = const(90)
_ENFILE = const(23)
_ENETUNREACH = const(101)
_EAFNOSUPPORT = const(97)
_EISCONN = const(106)

# Chapter 3 codes -> errno for socket callers.
_ERRNO = {554: errno.ECONNREFUSED, 555: errno.ECONNRESET, 557: errno.EINVAL,
          558: errno.EINVAL, 562: errno.EADDRINUSE, 565: errno.EHOSTUNREACH,
          568: errno.EADDRINUSE, 569: errno.ENOMEM, 571: errno.ETIMEDOUT,
          574: errno.EHOSTUNREACH}  # fmt: skip


def _err(code):
    # Two arguments, so that CPython sets .errno too.
    return OSError(code, errno.errorcode.get(code, "error %d" % code))


def os_error(e):
    """An OSError with a socket errno for a driver exception."""
    if isinstance(e, OSError):
        return e
    if isinstance(e, ATTimeout):
        return _err(errno.ETIMEDOUT)
    if isinstance(e, TCPIPError):
        return _err(_ERRNO.get(e.code, errno.EIO))
    return _err(errno.EIO)


class Socket(IOBase):
    """A socket on one of the module's 12 connect IDs; made by `Modem.socket()`."""

    def __init__(self, modem, af=AF_INET, type=SOCK_STREAM, proto=0, mode=BUFFER, rxbuf=1500):
        if af != AF_INET:
            raise _err(_EAFNOSUPPORT)
        if type not in (SOCK_STREAM, SOCK_DGRAM):
            raise _err(errno.EINVAL)
        if mode not in (BUFFER, PUSH, TRANSPARENT):
            raise ValueError("mode must be BUFFER, PUSH or TRANSPARENT")
        self.modem = modem
        self.type = type
        self.mode = mode
        self.cid = -1
        self.service = None  # "TCP", "UDP", "TCP LISTENER", "UDP SERVICE", "TCP INCOMING"
        self.remote = None
        self.allow = None  # listeners: remote IPs accepted; others are closed at once
        self._timeout = None  # ms; None blocks (bounded by the policy), 0 never waits
        self._local = 0
        self._open = None  # +QIOPEN result while opening
        self._avail = False  # the module holds data for us
        self._eof = False  # the peer closed ("closed" URC)
        self._dead = None  # why the socket can no longer work (pdpdeact, restart)
        self._rxsize = rxbuf
        self._rbuf = None  # our own buffer: direct push, readline, datagrams
        self._rs = 0
        self._re = 0
        self._from = None  # sender of the datagram in _rbuf (UDP SERVICE, push)
        self._rmv = None
        self._target = None  # the buffer of a recv_into waiting for pushed data
        self._tn = 0
        self._tgot = 0
        self._can_read = self._readable  # bound once: waiting allocates nothing
        self._spill = None  # what did not fit in _rbuf (read from _so on)
        self._so = 0
        self._switch = False
        self._queue = []  # listeners: accepted connections not yet taken by accept()
        self._tx_last = 0  # transparent mode: when we last wrote, and the '+' run after silence
        self._plus = -1
        self._plus_t = 0
        self._unbounded = False  # accept any amount of payload (while leaving)

    def __repr__(self):
        return "<Socket %d %s %s>" % (self.cid, self.service, self.remote)

    # ---- helpers ---------------------------------------------------------------------------

    def _claim(self):
        socks = self.modem.sockets
        for cid in range(12):
            if socks[cid] is None:
                socks[cid] = self
                self.cid = cid
                return cid
        raise _err(_ENFILE)

    def _release(self):
        if 0 <= self.cid < 12 and self.modem.sockets[self.cid] is self:
            self.modem.sockets[self.cid] = None
        self.cid = -1

    def _check(self):
        if self._dead:
            raise _err(errno.ECONNABORTED)
        if self.cid < 0:
            raise _err(errno.ENOTCONN if self.service is None else errno.EBADF)

    def _until(self, cond, timeout_ms, t0=None):
        # Feed the engine until cond() or timeout_ms after t0 (None: no limit); False on
        # timeout. While waiting for data in buffer mode, ask the module once a second in
        # case a "recv" URC was lost.
        modem = self.modem
        at = modem.at
        clock = modem.clock
        last = clock.ticks_ms()
        if t0 is None:
            t0 = last
        while not cond():
            if at.poll():
                continue
            now = clock.ticks_ms()
            if timeout_ms is not None and clock.ticks_diff(now, t0) >= timeout_ms:
                return cond()
            if self.mode == BUFFER and self.service and clock.ticks_diff(now, last) >= 1000:
                last = now
                self._avail = True
                if cond():
                    return True
            at.idle()
        return True

    def _run(self, fn, *args):
        try:
            return fn(*args)
        except (QuectelError, OSError) as e:
            raise os_error(e)

    # ---- opening ---------------------------------------------------------------------------

    def _qiopen(self, service, host, rport, lport):
        self.modem.at.run(self._g_open(service, host, rport, lport))

    def _open_done(self):
        return self._open is not None or self._dead

    def _g_open(self, service, host, rport, lport):
        # AT+QIOPEN as a generator procedure (see ATEngine.run); the asyncio front runs it too.
        m = self.modem
        p = m.policy
        err = None
        for _ in range(3):  # an incoming connection may take our connect ID first
            cid = self._claim()
            self._open = None
            cmd = 'AT+QIOPEN=%d,%d,"%s","%s",%d,%d,%d' % (
                m.context,
                cid,
                service,
                host,
                rport,
                lport,
                self.mode,
            )
            try:
                if self.mode == TRANSPARENT:  # answered by CONNECT, no +QIOPEN (section 2.4)
                    self._transparent_begin()
                    yield from m._c(cmd.encode(), b"-", p.qiopen_ms, sink=self)
                    self.service = service
                    yield from m._opened(True)
                    return
                yield from m._c(cmd.encode(), b"-", p.at_ms)
            except TCPIPError as e:
                self._release()
                if e.code == 562:
                    err = e
                    continue
                yield from m._opened(False)
                raise os_error(e)
            except QuectelError as e:
                self._release()
                raise os_error(e)
            # The connect ID stays ours until +QIOPEN comes, so a late URC finds no stranger.
            ok = yield (self._open_done, p.qiopen_ms)
            if ok and self._open == 0 and not self._dead:
                self.service = service
                yield from m._opened(True)
                return
            yield from self._g_qiclose()  # section 2.4: no +QIOPEN in 150 s: close the ID
            self._release()
            yield from m._opened(False)
            if not ok:
                raise _err(errno.ETIMEDOUT)
            if self._dead:
                raise _err(errno.ECONNABORTED)
            raise _err(_ERRNO.get(self._open, errno.ECONNREFUSED))
        raise os_error(err)

    def _opened(self, err):
        self._open = err

    def connect(self, address):
        """Connect to (host, port); host may be a name, resolved by the module."""
        if self.cid >= 0:
            raise _err(_EISCONN)
        host, port = address
        host = check_text(host, "host", 253)
        check_port(port)
        self._require_up()
        self.remote = (host, port)
        self._qiopen("TCP" if self.type == SOCK_STREAM else "UDP", host, port, self._local)

    def bind(self, address):
        """Choose the local port: for a listener, or a UDP service (`sendto`/`recvfrom`)."""
        self._local = check_port(address[1])
        if self.type == SOCK_DGRAM:
            self._require_up()
            self._qiopen("UDP SERVICE", "127.0.0.1", 0, self._local)  # section 2.4

    def listen(self, backlog=1):
        """Start the TCP LISTENER on the bound port; incoming connections queue for accept."""
        if self.type != SOCK_STREAM or not self._local:
            raise _err(errno.EINVAL)
        self._require_up()
        self._qiopen("TCP LISTENER", "127.0.0.1", 0, self._local)

    def _require_up(self):
        if not self.modem.isconnected():
            raise _err(_ENETUNREACH)

    def _incoming(self, cid, ip, port):
        child = Socket(self.modem, AF_INET, SOCK_STREAM, 0, self.mode, self._rxsize)
        child.cid = cid
        child.service = "TCP INCOMING"
        child.remote = (ip, port)
        self.modem.sockets[cid] = child
        self._queue.append(child)

    def accept(self):
        """Wait for a client: returns (socket, (ip, port)). Clients not in `allow` are closed."""
        self._check()
        while True:
            if not self._queue and not self._until(lambda: self._queue, self._timeout):
                raise _err(errno.ETIMEDOUT if self._timeout else errno.EAGAIN)
            child = self._queue.pop(0)
            if self.allow is None or child.remote[0] in self.allow:
                return child, child.remote
            child.close()

    # ---- receiving -------------------------------------------------------------------------

    def _notify(self):
        self._avail = True

    def _closed_by_peer(self):
        self._eof = True
        self._avail = True  # data may still wait in the module

    def _lost(self, reason):
        self._dead = reason

    def _readable(self):
        return (self._re > self._rs or (self._avail and self.mode == BUFFER) or self._eof
                or self._spill is not None or self._dead or self._tgot)  # fmt: skip

    def _buffer(self, size):
        if self._rbuf is None:
            self._rbuf = bytearray(size)
            self._rmv = memoryview(self._rbuf)

    def _store(self, mv, start, end):
        # Keep mv[start:end] for the reader. Never drop: what does not fit waits in _spill.
        # Returns False when it spilled.
        t = self._target
        if t is not None and not self._tgot and self._re == self._rs and self._spill is None:
            # A reader is waiting with nothing buffered: straight into its buffer, one copy.
            k = min(end - start, self._tn)
            t[:k] = mv[start : start + k]
            self._tgot = k
            start += k
            if start == end:
                return True
        k = end - start
        if self._spill is None and k > len(self._rbuf) - self._re and self._rs:
            self._rbuf[: self._re - self._rs] = self._rmv[self._rs : self._re]
            self._re -= self._rs
            self._rs = 0
        if self._spill is None and k <= len(self._rbuf) - self._re:
            self._rbuf[self._re : self._re + k] = mv[start:end]
            self._re += k
            return True
        if self._spill is None:
            self._spill = bytearray()
            self._so = 0
        self._spill.extend(mv[start:end])
        return False

    def _push_begin(self, n, ip, port):
        if ip is not None:
            self._from = (ip, port)
        self._buffer(max(self._rxsize, 2 * MAX_READ))

    def _push_data(self, mv, start, end):
        # A full push buffer sends the socket to buffer mode: the module then keeps the data.
        if not self._store(mv, start, end) and self.mode == PUSH:
            self._switch = True

    def _service(self):
        # Work that needs commands, which URC handlers cannot send.
        if self._switch and self.cid >= 0 and not self._dead:
            self._switch = False
            self.modem.command(b"AT+QISWTMD=%d,0" % self.cid, b"")  # section 2.9
            self.mode = BUFFER
            self._avail = True

    def _take(self, buf, n):
        # Copy up to n buffered bytes into buf, refilling from the spill when drained.
        k = min(n, self._re - self._rs)
        if k:
            buf[:k] = self._rmv[self._rs : self._rs + k]
            self._rs += k
            spill = self._spill
            if spill is not None and self._rs == self._re:
                so = self._so
                take = min(len(spill) - so, len(self._rbuf))
                self._rbuf[:take] = memoryview(spill)[so : so + take]
                self._so = so + take
                self._rs = 0
                self._re = take
                if self._so == len(spill):
                    self._spill = None
        return k

    def recv_into(self, buf, nbytes=0):
        """Read up to nbytes (or len(buf)) bytes into buf; 0 at end of stream."""
        n = nbytes or len(buf)
        self._check_recv()
        if self._re > self._rs:
            return self._take(buf, n)
        t0 = self.modem.clock.ticks_ms()
        if self.type == SOCK_STREAM:
            self._target = buf  # pushed data may land here directly (see _store)
            self._tn = n
            self._tgot = 0
        try:
            while True:
                if not self._readable() and not self._until(self._can_read, self._timeout, t0):
                    if self._timeout == 0:
                        raise _err(errno.EAGAIN)
                    raise _err(errno.ETIMEDOUT)
                if self._tgot:
                    return self._tgot
                if self._re > self._rs:
                    return self._take(buf, n)
                if self._dead:
                    raise _err(errno.ECONNABORTED)
                if self._avail and self.mode == BUFFER:
                    got = self._read_module(buf, n)
                    if got:
                        return got
                self._service()
                if self._eof and not self._avail and self._re == self._rs:
                    return 0
        finally:
            self._target = None  # never keep the caller's buffer
            self._tgot = 0

    # ---- transparent mode: the engine's data sink ------------------------------------------

    def _transparent_begin(self):
        self._buffer(max(self._rxsize, 2048))
        self.mode = TRANSPARENT
        self._eof = False
        self._tx_last = self.modem.clock.ticks_ms()  # the command line was input too
        self._plus = -1

    def data_room(self):
        if self._unbounded:
            return 1 << 30
        if self._spill is not None:
            return 0
        if self._rs == self._re:
            self._rs = self._re = 0
        return len(self._rbuf) - self._re + self._rs  # _store compacts when it must

    def data_in(self, mv, start, end):
        self._store(mv, start, end)

    def data_end(self, carrier_lost):
        if carrier_lost:  # section 1.2: NO CARRIER; AT+QICLOSE is still needed (close())
            self._eof = True
            self.mode = BUFFER
        self.modem.last_transparent = self

    def _raw_write(self, buf, off, n):
        # Transparent payload goes straight to the UART. "+++" is an escape only after 1 s of
        # silence, alone within 1 s, then 1 s of silence (section 1.2): a write that would be
        # exactly that is split so the three '+' are more than 1 s apart.
        at = self.modem.at
        clock = self.modem.clock
        now = clock.ticks_ms()
        if clock.ticks_diff(now, self._tx_last) >= 1000:
            self._plus = 0
            self._plus_t = now
        if self._plus >= 0:
            i = 0
            while i < n and self._plus + i < 4 and buf[off + i] == 43:
                i += 1
            if i == n and self._plus + i == 3:
                if n > 1:
                    at.write(buf, off, n - 1)
                wait = 1100 - clock.ticks_diff(clock.ticks_ms(), self._plus_t)
                self._until(lambda: False, wait)
                off += n - 1
                n = 1
                self._plus = -1
            elif i < n or self._plus + i > 3:
                self._plus = -1
            else:
                self._plus += i
        at.write(buf, off, n)
        self._tx_last = clock.ticks_ms()

    def leave(self):
        """Leave transparent mode: DTR pulse when wired (AT&D1), else `+++` with its 1 s
        guard times. The connection stays open in buffer access mode; payload that arrived
        meanwhile is kept."""
        m = self.modem
        at = m.at
        if self.mode != TRANSPARENT or not at.data_mode:
            raise _err(errno.EINVAL)
        clock = m.clock
        self._unbounded = True
        try:
            if m._dtr is not None:
                at.leaving(0)  # AT&D1: the OK answers the DTR edge at once
                m._dtr.set(False)
                self._until(lambda: False, 100)
                m._dtr.set(True)
            else:
                idle = clock.ticks_diff(clock.ticks_ms(), self._tx_last)
                self._until(lambda: False, 1100 - idle)  # 1 s of silence before
                at.write(b"+++")
                at.leaving(1000)  # and after: only then is the OK the module's
            if not self._until(lambda: not at.data_mode, 5000):
                raise _err(errno.ETIMEDOUT)
        finally:
            self._unbounded = False
        self.mode = BUFFER
        self._avail = True  # anything later waits in the module for AT+QIRD

    def resume(self):
        """Back to transparent mode: `ATO` if this connection left it last, else
        `AT+QISWTMD=<id>,2` (both answer CONNECT, section 2.9)."""
        self._check()
        self._drain()
        self._transparent_begin()
        m = self.modem
        try:
            if m.last_transparent is self:
                m.command(b"ATO", b"-", None, sink=self)
            else:
                m.command(b"AT+QISWTMD=%d,2" % self.cid, b"-", None, sink=self)
        except QuectelError as e:
            self.mode = BUFFER
            raise os_error(e)

    def _check_recv(self):
        if self.cid < 0:
            raise _err(errno.EBADF if self.service else errno.ENOTCONN)
        self._service()

    def _read_module(self, buf, n):
        # AT+QIRD into buf: TCP asks for n (<= 1500); UDP takes a whole datagram.
        # A short read drains the module's buffer, and the module announces the next data
        # with a new "recv" URC (section 2.8), which may arrive during this very read: so
        # the flag is cleared before the read, and only a full read sets it again.
        at = self.modem.at
        self._avail = False
        try:
            if self.type == SOCK_STREAM:
                n = min(n, MAX_READ)
                got = at.read_data(self.cid, buf, n)
                if got == n:
                    self._avail = True
            else:
                got = at.read_data(self.cid, buf)
                self._from = at.remote
                if got:
                    self._avail = True
        except QuectelError as e:
            self._avail = True
            raise self._fail(e)
        return got

    def _fail(self, e):
        # A QIRD/QISEND without an answer leaves the stream with a hole or a doubt, and a
        # late answer could be taken for the next command's: the socket is broken, and
        # check() reboots the module (chapter 1, note 1).
        if isinstance(e, ATTimeout):
            self._dead = "no answer"
            self.modem._set(-4, "no answer")  # STAT_NO_RESPONSE
        return os_error(e)

    def recv(self, n):
        buf = bytearray(n)
        k = self.recv_into(buf, n)
        return bytes(buf) if k == n else bytes(memoryview(buf)[:k])

    def readinto(self, buf, nbytes=0):
        """Stream read for io/ssl/asyncio: count, 0 at EOF, None if it would block."""
        try:
            return self.recv_into(buf, nbytes)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return None
            raise

    def read(self, n=-1):
        """Read n bytes (fewer at EOF, or when non-blocking and nothing more is waiting);
        n=-1 reads until EOF. None if non-blocking and nothing is waiting."""
        out = bytearray()
        chunk = bytearray(MAX_READ)
        while n < 0 or len(out) < n:
            want = MAX_READ if n < 0 else min(MAX_READ, n - len(out))
            k = self.readinto(chunk, want)
            if k is None:
                if out:
                    break
                return None
            if k == 0:
                break
            out.extend(memoryview(chunk)[:k])
            if self._timeout == 0 and not self._readable():
                break
        return bytes(out)

    def readline(self):
        """Read up to and including b"\\n" (or to EOF). Non-blocking: what is there, or None."""
        self._buffer(self._rxsize)
        out = bytearray()
        while True:
            if self._re > self._rs:
                i = self._rbuf.find(b"\n", self._rs, self._re)
                end = self._re if i < 0 else i + 1
                out.extend(self._rmv[self._rs : end])
                self._rs = end
                if i >= 0:
                    return bytes(out)
            self._rs = self._re = 0
            k = self.readinto(self._rbuf)
            if k is None:
                return bytes(out) if out else None
            if not k:
                return bytes(out)
            self._re = k

    def recvfrom(self, n):
        """A datagram and its sender (ip, port)."""
        data = self.recv(n)
        return data, self._from or self.remote

    # ---- sending ---------------------------------------------------------------------------

    def _send_chunk(self, buf, off, n, addr=None):
        # One AT+QISEND; SEND FAIL (module buffer full) backs off and retries, never
        # dropping or duplicating data. False when the socket's timeout ran out.
        m = self.modem
        clock = m.clock
        t0 = clock.ticks_ms()
        limit = m.policy.at_ms if self._timeout is None else self._timeout
        pause = 10
        while True:
            if self._dead:
                raise _err(errno.ECONNABORTED)
            try:
                if m.at.send_data(self.cid, buf, off, n, addr):
                    return True
            except QuectelError as e:
                raise self._fail(e)
            if clock.ticks_diff(clock.ticks_ms(), t0) + pause > limit:
                return False
            self._until(lambda: False, pause)
            pause = min(pause * 2, 500)

    def send(self, buf):
        """Send up to 1460 bytes; returns how many were taken."""
        self._check()
        if self._eof and self.type == SOCK_STREAM:
            raise _err(errno.ECONNRESET)
        n = min(len(buf), MAX_SEND)
        if not n:
            return 0
        if self.mode == TRANSPARENT and self.modem.at.data_mode:
            self._raw_write(buf, 0, n)
            return n
        if not self._send_chunk(buf, 0, n):
            raise _err(errno.EAGAIN if self._timeout == 0 else errno.ETIMEDOUT)
        return n

    def _send_all(self, buf):
        # 1460-byte commands until done; returns the count sent before a timeout.
        self._check()
        if self._eof and self.type == SOCK_STREAM:
            raise _err(errno.ECONNRESET)
        off = 0
        total = len(buf)
        if self.mode == TRANSPARENT and self.modem.at.data_mode:
            self._raw_write(buf, 0, total)
            return total
        while off < total:
            n = min(total - off, MAX_SEND)
            if not self._send_chunk(buf, off, n):
                break
            off += n
        return off

    def sendall(self, buf):
        """Send everything, in 1460-byte commands."""
        if self._send_all(buf) < len(buf):
            raise _err(errno.EAGAIN if self._timeout == 0 else errno.ETIMEDOUT)

    def write(self, buf):
        """Stream write: returns the count sent (all of it unless non-blocking, when the
        module's buffer filled up), or None if nothing could be sent."""
        n = self._send_all(buf)
        if n < len(buf) and self._timeout != 0:
            raise _err(errno.ETIMEDOUT)
        return n if n or not len(buf) else None

    def sendto(self, buf, address):
        """Send a datagram to (ip, port); opens a UDP SERVICE on first use if not bound."""
        if self.type != SOCK_DGRAM:
            raise _err(errno.EOPNOTSUPP)
        host, port = address
        check_text(host, "host", 253)
        check_port(port)
        if self.cid < 0:
            self.bind(("0.0.0.0", 49152 + (self.modem.clock.ticks_ms() & 0x3FFF)))
        self._check()
        if self.service == "UDP":
            return self.send(buf)
        if len(buf) > MAX_SEND:
            raise _err(_EMSGSIZE)
        if not self._send_chunk(buf, 0, len(buf), (host, port)):
            raise _err(errno.ETIMEDOUT)
        return len(buf)

    def wait_acked(self, timeout_ms=None):
        """Wait until the peer acknowledged every byte sent (AT+QISEND=<id>,0).

        By default the manual's rule: query every 5 s, 24 times; still unacknowledged means
        the connection is dead (ETIMEDOUT), and the caller should close and reopen it.
        """
        from .parse import parse_qisend

        self._check()
        p = self.modem.policy
        polls = p.ack_polls if timeout_ms is None else max(1, timeout_ms // p.ack_poll_ms)
        for i in range(polls):
            line = self._run(self.modem.command, b"AT+QISEND=%d,0" % self.cid)[0]
            total, acked, unacked = parse_qisend(line)
            if not unacked:
                return total
            if i + 1 < polls:
                self._until(lambda: False, p.ack_poll_ms)
        raise _err(errno.ETIMEDOUT)

    flush = wait_acked

    # ---- settings and life -----------------------------------------------------------------

    def settimeout(self, seconds):
        self._timeout = None if seconds is None else int(seconds * 1000)

    def setblocking(self, flag):
        self._timeout = None if flag else 0

    def setsockopt(self, level, opt, value):
        pass  # SO_REUSEADDR and friends: the module has no such options

    def set_mode(self, mode):
        """Switch the access mode of an open socket (AT+QISWTMD, section 2.9)."""
        if mode not in (BUFFER, PUSH, TRANSPARENT):
            raise ValueError("mode must be BUFFER, PUSH or TRANSPARENT")
        if mode == TRANSPARENT:
            self.modem.last_transparent = None
            return self.resume()
        if self.mode == TRANSPARENT and self.modem.at.data_mode:
            self.leave()
        self._check()
        if mode == PUSH and self.mode == BUFFER:
            self._drain()  # what waits in the module is not pushed: take it first
        self._run(self.modem.command, b"AT+QISWTMD=%d,%d" % (self.cid, mode), b"")
        self.mode = mode
        if mode == BUFFER:
            self._avail = True  # anything that arrived meanwhile waits in the module

    def _drain(self):
        # Move everything the module holds for us into our own buffer.
        self._buffer(self._rxsize)
        chunk = bytearray(MAX_READ)
        self._avail = True
        while self._avail:
            k = self._read_module(chunk, MAX_READ)
            if not k:
                break
            self._store(memoryview(chunk), 0, k)

    def _qiclose(self):
        self.modem.at.run(self._g_qiclose())

    def _g_qiclose(self):
        m = self.modem
        try:
            yield from m._c(b"AT+QICLOSE=%d" % self.cid, b"", m.policy.qiclose_ms)
        except QuectelError:
            pass  # section 2.5: the module force-closes after its timeout anyway

    def close(self):
        """AT+QICLOSE (section 2.5); buffered data is discarded."""
        if self.cid < 0:
            return
        if self.mode == TRANSPARENT and self.modem.at.data_mode:
            try:
                self.leave()
            except OSError:
                pass
        if not self._dead:
            self._qiclose()
        if self.modem.last_transparent is self:
            self.modem.last_transparent = None
        for child in self._queue:
            child.close()
        self._queue = []
        self._release()
        self._rbuf = self._rmv = self._spill = None

    def _poll(self, arg):
        # Readiness for select.poll/asyncio (ioctl op 3): feed the engine, then look.
        if self.cid >= 0 and not self._dead:
            self.modem.at.poll()
        r = 0
        if arg & _POLLIN and (self._readable() or self._queue):
            r |= _POLLIN
        if arg & _POLLOUT and self.cid >= 0:
            r |= _POLLOUT
        if self._dead:
            r |= _POLLERR
        if self._eof and not self._avail and self._re == self._rs:
            r |= _POLLHUP
        return r

    def ioctl(self, op, arg):
        if op == 3:
            return self._poll(arg)
        if op == 4:
            self.close()
            return 0
        if op == 1:
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
