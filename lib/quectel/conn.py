"""One connection on the module: a connect ID's state, the URC callbacks that feed it, its
receive ring and send buffer, and the socket procedures (open, read, send, accept, close).

The procedures are generators (see `ATEngine.run`) driven by both fronts: the blocking
`quectel.socket.Socket` runs them with `ATEngine.run`, `quectel.aio` awaits the very same
ones. Buffer access mode by default: `+QIURC: "recv"` marks data waiting and `AT+QIRD` reads
it straight into the caller's buffer; pushed and transparent data go straight into a waiting
reader's buffer, else into the ring. Sends are fixed-length `AT+QISEND` of at most 1460 bytes.
"""

import errno

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from .errors import ATTimeout, QuectelError, oserror

SOCK_STREAM = 1
SOCK_DGRAM = 2
MAX_SEND = 1460  # section 2.7
MAX_READ = 1500  # section 2.8

# Access modes (section 1.2).
BUFFER = 0
PUSH = 1
TRANSPARENT = 2

IDLE_MS = const(20)  # a small write this soon after the last one is coalesced with it
_STAT_NO_RESPONSE = const(-4)


def byte_view(buf):
    """A memoryview of buf's bytes. A `str` is its UTF-8 bytes, as MicroPython's own socket
    sends it (micropython-lib's requests writes header names as str)."""
    if isinstance(buf, str):
        buf = buf.encode()
    mv = memoryview(buf)  # TypeError for what has no buffer (a list, an int)
    if getattr(mv, "itemsize", 1) != 1 or not isinstance(buf, (bytes, bytearray, memoryview)):
        mv = memoryview(bytes(mv))  # an array of wider items: its raw bytes, copied once
    return mv


class Ring:
    """A receive buffer: read from the front, filled at the back, compacted when needed.
    What does not fit waits in a spill buffer (allocated only then): nothing is dropped."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.r = 0
        self.w = 0
        self.spill = None
        self.so = 0

    def __len__(self):
        return self.w - self.r

    def room(self):
        if self.spill is not None:
            return 0
        if self.r == self.w:
            self.r = self.w = 0
        return len(self.buf) - self.w + self.r

    def put(self, mv, s, e):
        """Keep mv[s:e]; False when part of it had to spill."""
        k = min(e - s, self.room())
        if k > len(self.buf) - self.w:
            self.buf[: self.w - self.r] = self.mv[self.r : self.w]
            self.w -= self.r
            self.r = 0
        if k:
            self.buf[self.w : self.w + k] = mv[s : s + k]
            self.w += k
        if s + k == e:
            return True
        if self.spill is None:
            self.spill = bytearray()
            self.so = 0
        self.spill.extend(mv[s + k : e])
        return False

    def take(self, dst, n):
        """Move up to n bytes into dst; returns the count."""
        k = min(n, self.w - self.r)
        if k:
            dst[:k] = self.mv[self.r : self.r + k]
            self.r += k
        if self.r == self.w:
            self.r = self.w = 0
            spill = self.spill
            if spill is not None:
                take = min(len(spill) - self.so, len(self.buf))
                self.buf[:take] = memoryview(spill)[self.so : self.so + take]
                self.so += take
                self.w = take
                if self.so == len(spill):
                    self.spill = None
        return k

    def find(self, byte):
        """Index (from the front) of the first `byte`, or -1."""
        i = self.buf.find(byte, self.r, self.w)
        return i if i < 0 else i - self.r


class Conn:
    """A connection on one of the module's 12 connect IDs (section 2.4)."""

    def __init__(self, modem, type=SOCK_STREAM, mode=BUFFER, rxsize=1500):
        self.modem = modem
        self.type = type
        self.mode = mode
        self.cid = -1
        self.service = None  # "TCP", "UDP", "TCP LISTENER", "UDP SERVICE", "TCP INCOMING"
        self.remote = None
        self.local = 0
        self.allow = None  # listeners: remote IPs accepted; others are closed at once
        self.timeout = None  # ms; None waits (bounded where the manual gives a limit), 0 never
        self.sender = None  # (ip, port) of the datagram last read
        self.queue = []  # listeners: accepted connections not yet taken by accept()
        self.rxsize = rxsize
        self.rx = None  # Ring: pushed and transparent data, readline, drained data
        self.tx = None  # coalesced small writes (allocated on first use)
        self.tn = 0
        self.t_last = 0  # ticks of the last write
        self.avail = False  # the module holds data for us (buffer access mode)
        self.eof = False  # the peer closed ("closed" URC, NO CARRIER)
        self.dead = None  # why the connection can no longer work (pdpdeact, restart)
        self._open = None  # +QIOPEN result while opening
        self._switch = False  # a push overflowed: go to buffer mode
        self._target = None  # the buffer of a reader waiting for pushed data
        self._tn = 0
        self._tgot = 0
        self.unbounded = False  # transparent mode, leaving: accept any amount of payload
        self.can_read = self.readable  # bound once: waiting allocates nothing
        self.opened = self._open_done

    def __repr__(self):
        return "<Conn %d %s %s>" % (self.cid, self.service, self.remote)

    # ---- state -----------------------------------------------------------------------------

    def _claim(self):
        socks = self.modem.sockets
        for cid in range(12):
            if socks[cid] is None:
                socks[cid] = self
                self.cid = cid
                return
        raise oserror(23)  # ENFILE: all 12 connect IDs in use

    def release(self):
        if 0 <= self.cid < 12 and self.modem.sockets[self.cid] is self:
            self.modem.sockets[self.cid] = None
        self.cid = -1

    def check(self):
        """Raise unless the connection can be used."""
        if self.dead:
            raise oserror(errno.ECONNABORTED)
        if self.cid < 0:
            raise oserror(errno.ENOTCONN if self.service is None else errno.EBADF)

    def held(self):
        """Bytes we hold for the reader."""
        return len(self.rx) if self.rx is not None else 0

    def readable(self):
        return (self.held() or (self.avail and self.mode == BUFFER) or self.eof or self.dead
                or self._tgot or self.queue or self.cid < 0)  # fmt: skip

    def at_eof(self):
        return self.eof and not self.avail and not self.held()

    def ring(self, size):
        if self.rx is None:
            self.rx = Ring(size)
        return self.rx

    def _cmd_ms(self, t0):
        # How long one QIRD/QISEND may take: the manual's 60 s, or what is left of the
        # socket's timeout (at least 1 s), so a silent module cannot hold the caller longer.
        p = self.modem.policy.at_ms
        if self.timeout is None:
            return p
        left = self.timeout - self.modem.clock.ticks_diff(self.modem.clock.ticks_ms(), t0)
        return min(p, max(left, 1000))

    def _fail(self, e):
        # A QIRD/QISEND without an answer leaves the stream with a hole or a doubt, and a
        # late answer could be taken for the next command's: the connection is broken, and
        # check() reboots the module (chapter 1, note 1).
        if isinstance(e, ATTimeout):
            self.dead = "no answer"
            self.modem._set(_STAT_NO_RESPONSE, "no answer")
        return e

    def _timed_out(self):
        return oserror(errno.EAGAIN if self.timeout == 0 else errno.ETIMEDOUT)

    # ---- URC callbacks (from the Modem's event dispatch) -----------------------------------

    def on_opened(self, err):
        self._open = err

    def on_recv(self):
        self.avail = True

    def on_closed(self):
        self.eof = True
        self.avail = True  # data may still wait in the module

    def on_lost(self, reason):
        self.dead = reason

    def on_incoming(self, cid, ip, port):
        child = Conn(self.modem, SOCK_STREAM, self.mode, self.rxsize)
        child.cid = cid
        child.service = "TCP INCOMING"
        child.remote = (ip, port)
        self.modem.sockets[cid] = child
        self.queue.append(child)

    def on_push(self, n, ip, port):
        if ip is not None:
            self.sender = (ip, port)
        self.ring(max(self.rxsize, 2 * MAX_READ))

    def on_push_data(self, mv, start, end):
        # A full ring sends the connection to buffer mode: the module then keeps the data.
        if not self._store(mv, start, end) and self.mode == PUSH:
            self._switch = True

    def _store(self, mv, start, end):
        # Straight into a waiting reader's buffer when nothing is held before it, else
        # into the ring. Returns False when the ring spilled.
        t = self._target
        if t is not None and not self._tgot and not self.held():
            k = min(end - start, self._tn)
            t[:k] = mv[start : start + k]
            self._tgot = k
            start += k
            if start == end:
                return True
        return self.rx.put(mv, start, end)

    # ---- transparent mode: the engine's data sink (section 1.2) ----------------------------

    def data_room(self):
        if self.unbounded:
            return 1 << 30
        return self.rx.room()

    def data_in(self, mv, start, end):
        self._store(mv, start, end)

    def data_end(self, carrier_lost):
        if carrier_lost:  # NO CARRIER; AT+QICLOSE is still needed (close())
            self.eof = True
            self.mode = BUFFER
        self.modem.last_transparent = self

    # ---- procedures ------------------------------------------------------------------------

    def _open_done(self):
        return self._open is not None or self.dead

    def g_open(self, service, host, rport, lport):
        """AT+QIOPEN and its +QIOPEN URC (section 2.4), with the flow chart's rules."""
        m = self.modem
        p = m.policy
        if not m.isconnected():
            raise oserror(101)  # ENETUNREACH
        self.remote = (host, rport) if rport else None
        err = None
        for _ in range(3):  # an incoming connection may take our connect ID first
            self._claim()
            self._open = None
            cmd = 'AT+QIOPEN=%d,%d,"%s","%s",%d,%d,%d' % (
                m.context, self.cid, service, host, rport, lport, self.mode,
            )  # fmt: skip
            try:
                if self.mode == TRANSPARENT:  # answered by CONNECT, no +QIOPEN (section 2.4)
                    from .transparent import begin

                    begin(self)
                    yield from m.g_command(cmd.encode(), b"-", p.qiopen_ms, sink=self)
                    self.service = service
                    yield from m.g_opened(True)
                    return
                yield from m.g_command(cmd.encode(), b"-", p.at_ms)
            except QuectelError as e:
                self.release()
                if getattr(e, "code", None) == 562:
                    err = e
                    continue
                if getattr(e, "code", None) is not None:
                    yield from m.g_opened(False)
                raise
            # The connect ID stays ours until +QIOPEN comes, so a late URC finds no stranger.
            ok = yield (self.opened, p.qiopen_ms)
            if ok and self._open == 0 and not self.dead:
                self.service = service
                yield from m.g_opened(True)
                return
            yield from self._g_qiclose()  # section 2.4: no +QIOPEN in 150 s: close the ID
            self.release()
            yield from m.g_opened(False)
            if not ok:
                raise oserror(errno.ETIMEDOUT)
            if self.dead:
                raise oserror(errno.ECONNABORTED)
            from .errors import _ERRNO

            raise oserror(_ERRNO.get(self._open, errno.ECONNREFUSED))
        raise err

    def g_accept(self):
        """The next client of a listener (a Conn); clients not in `allow` are closed."""
        self.check()
        clock = self.modem.clock
        t0 = clock.ticks_ms()
        while True:
            while not self.queue:
                self.check()
                left = 1 << 29 if self.timeout is None else self.timeout
                left -= clock.ticks_diff(clock.ticks_ms(), t0)
                if left <= 0:
                    raise self._timed_out()
                yield (self.can_read, min(left, 60000))
            child = self.queue.pop(0)
            if self.allow is None or child.remote[0] in self.allow:
                return child
            yield from child.g_close()

    def g_recv(self, buf, n):
        """Up to n (<= len(buf)) bytes into buf; 0 at the end of the stream. Waits up to the
        timeout: OSError EAGAIN when non-blocking, ETIMEDOUT after a timeout."""
        if self.cid < 0:
            raise oserror(errno.EBADF if self.service else errno.ENOTCONN)
        if self.tn:
            yield from self.g_flush()  # what we wrote goes out before we wait for an answer
        if self._switch:
            yield from self._g_switch()
        clock = self.modem.clock
        t0 = clock.ticks_ms()
        if self.type == SOCK_STREAM:
            self._target = buf  # pushed data may land here directly (see _store)
            self._tn = n
            self._tgot = 0
        try:
            while True:
                if self._tgot:
                    return self._tgot
                if self.held():
                    return self.rx.take(buf, n)
                if self.dead:
                    raise oserror(errno.ECONNABORTED)
                if self.avail and self.mode == BUFFER:
                    got = yield from self._g_read_module(buf, n, t0)
                    if got:
                        return got
                    continue
                if self._switch:
                    yield from self._g_switch()
                    continue
                if self.eof:
                    return 0
                left = 1000
                if self.timeout is not None:
                    left = self.timeout - clock.ticks_diff(clock.ticks_ms(), t0)
                    if left <= 0:
                        raise self._timed_out()
                if not (yield (self.can_read, min(left, 1000))) and self.mode == BUFFER:
                    self.avail = True  # a "recv" URC may have been lost: ask once a second
        finally:
            self._target = None  # never keep the caller's buffer
            self._tgot = 0

    def _g_read_module(self, buf, n, t0):
        # AT+QIRD into buf: TCP asks for n (<= 1500); UDP takes a whole datagram.
        # A short read drains the module's buffer, and the module announces the next data
        # with a new "recv" URC (section 2.8), which may arrive during this very read: so
        # the flag is cleared before the read, and only a full read sets it again.
        at = self.modem.at
        self.avail = False
        try:
            if self.type == SOCK_STREAM:
                n = min(n, MAX_READ)
                got = yield from at.g_read(self.cid, buf, n, self._cmd_ms(t0))
                if got == n:
                    self.avail = True
            else:
                got = yield from at.g_read(self.cid, buf, -1, self._cmd_ms(t0))
                self.sender = at.remote
                if got:
                    self.avail = True
        except QuectelError as e:
            self.avail = True
            raise self._fail(e)
        return got

    def _g_switch(self):
        # A push overflowed the ring: buffer access mode, so the module keeps the data.
        self._switch = False
        if self.cid >= 0 and not self.dead:
            yield from self.modem.g_command(b"AT+QISWTMD=%d,0" % self.cid, b"")  # section 2.9
            self.mode = BUFFER
            self.avail = True

    def g_drain(self):
        """Move what the module holds for us into the ring (before a mode switch)."""
        rx = self.ring(self.rxsize)
        chunk = bytearray(MAX_READ)
        self.avail = True
        t0 = self.modem.clock.ticks_ms()
        while self.avail:
            k = yield from self._g_read_module(chunk, MAX_READ, t0)
            if not k:
                break
            rx.put(chunk, 0, k)

    def g_send(self, mv, off, n, addr=None):
        """One AT+QISEND of mv[off:off+n] (n <= 1460). SEND FAIL (the module's buffer is full)
        backs off and retries, never dropping or duplicating data; False when the socket's
        timeout ran out first."""
        m = self.modem
        clock = m.clock
        t0 = clock.ticks_ms()
        limit = m.policy.at_ms if self.timeout is None else self.timeout
        pause = 10
        while True:
            if self.dead:
                raise oserror(errno.ECONNABORTED)
            try:
                if (yield from m.at.g_send(self.cid, mv, off, n, addr, self._cmd_ms(t0))):
                    return True
            except QuectelError as e:
                raise self._fail(e)
            if clock.ticks_diff(clock.ticks_ms(), t0) + pause > limit:
                return False
            yield (None, pause)
            pause = min(pause * 2, 500)

    def g_send_all(self, mv, off, n):
        """mv[off:off+n] in 1460-byte commands; returns the count sent before a timeout."""
        end = off + n
        start = off
        while off < end:
            k = min(end - off, MAX_SEND)
            if not (yield from self.g_send(mv, off, k)):
                break
            off += k
        return off - start

    def g_write(self, mv, off, n, coalesce=True):
        """Write mv[off:off+n]; returns the count taken (less than n only when the socket's
        timeout ran out). With `coalesce`, small writes in quick succession share one
        AT+QISEND (flushed at 1460 bytes, before a read, on close, flush and check(), and
        by the next write after IDLE_MS); a write after a quiet spell goes out at once."""
        if self.mode == TRANSPARENT and self.modem.at.data_mode:
            from .transparent import g_raw_write

            yield from g_raw_write(self, mv, off, n)
            return n
        clock = self.modem.clock
        now = clock.ticks_ms()
        burst = coalesce and clock.ticks_diff(now, self.t_last) < IDLE_MS
        self.t_last = now
        if self.tn and (not burst or self.tn + n > MAX_SEND):
            yield from self.g_flush()
        if burst and n < MAX_SEND and self.type == SOCK_STREAM:
            if self.tx is None:
                self.tx = bytearray(MAX_SEND)
            self.tx[self.tn : self.tn + n] = mv[off : off + n]
            self.tn += n
            self.t_last = clock.ticks_ms()
            return n
        sent = yield from self.g_send_all(mv, off, n)
        self.t_last = clock.ticks_ms()
        return sent

    def g_flush(self):
        """Send the coalesced writes. Data that could not be sent stays queued (ETIMEDOUT)."""
        n = self.tn
        if not n or self.cid < 0 or self.dead:
            return
        tx = self.tx
        sent = yield from self.g_send_all(memoryview(tx), 0, n)
        if sent < n:
            tx[: n - sent] = memoryview(tx)[sent:n]
            self.tn = n - sent
            raise self._timed_out()
        self.tn = 0

    def _g_qiclose(self):
        m = self.modem
        try:
            yield from m.g_command(b"AT+QICLOSE=%d" % self.cid, b"", m.policy.qiclose_ms)
        except QuectelError:
            pass  # section 2.5: the module force-closes after its timeout anyway

    def g_close(self):
        """Send what is queued, then AT+QICLOSE (section 2.5); received data is discarded.
        An error sending the queued data is raised after the connection is closed."""
        if self.cid < 0:
            return
        err = None
        m = self.modem
        if self.mode == TRANSPARENT and m.at.data_mode:
            from .transparent import g_leave

            try:
                yield from g_leave(self)
            except OSError as e:
                err = e
                m.at.quit_data()  # AT+QICLOSE all the same: never leak the connect ID
        try:
            yield from self.g_flush()
        except OSError as e:
            err = e
        if not self.dead:
            yield from self._g_qiclose()
        if m.last_transparent is self:
            m.last_transparent = None
        for child in self.queue:
            yield from child.g_close()
        self.queue = []
        self.release()
        self.rx = self.tx = None
        self.tn = 0
        if err is not None:
            raise err
