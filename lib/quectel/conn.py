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


from .engine import CONNECT_IDS, MAX_READ, MAX_SEND, REASON_MS, SEND_FAIL, SETTLE_MS
from .errors import EISCONN, EMSGSIZE, ENETUNREACH, ENFILE, ATTimeout, QuectelError, oserror
from .validate import check_address, check_port

SOCK_STREAM = 1
SOCK_DGRAM = 2

# Access modes (section 1.2).
BUFFER = 0
PUSH = 1
TRANSPARENT = 2

WAIT = -1  # what step() returns while its operation waits

# The states of an Op (Op.op; 0: idle).
_RECV = const(1)  # recv: deciding what to do
_READING = const(2)  # recv: AT+QIRD running
_SWITCHING = const(3)  # recv: AT+QISWTMD (to buffer mode) running
_SEND = const(4)  # send: AT+QISEND to start
_PROMPT = const(5)  # send: waiting for the prompt
_PAYLOAD = const(6)  # send: writing the data
_SENT = const(7)  # send: waiting for SEND OK
_ASKING = const(8)  # AT+QIGETERROR running
_STAT_NO_RESPONSE = const(-4)  # quectel.modem's (not imported: it imports us)
_UNANNOUNCED_MS = const(1000)  # ours: a reader asks AT+QIRD after this long without a URC
_ID_IN_USE = const(562)  # chapter 3: "Specified socket index has been used"
_FOREVER_MS = const(1 << 29)  # a wait without a timeout, in pieces (ticks stay comparable)
_MIN_COMMAND_MS = const(1000)  # ours: a QIRD/QISEND gets this long at least (see _cmd_ms)
# The data-path commands by family: TCP/IP, and TLS in the module (quectel.tls, AT+QSSL*).
_QIRD = b"AT+QIRD"
_QISEND = b"AT+QISEND"
_QSSLRECV = b"AT+QSSLRECV"
_QSSLSEND = b"AT+QSSLSEND"


_BYTES = (bytes, bytearray)  # built once: a tuple display in the call would allocate per call
_READ_ONLY = (bytes, str)


def want(buf, nbytes):
    """How many bytes a recv_into(buf, nbytes) asks for: nbytes (0: len(buf)), at most len(buf).
    A buffer that cannot be written (bytes, str) is a TypeError before anything is read."""
    if isinstance(buf, _READ_ONLY):
        raise TypeError("recv_into needs a writable buffer (bytearray, memoryview, array)")
    n = nbytes or len(buf)
    if n < 0:
        raise ValueError("negative length")
    return min(n, len(buf))


def byte_view(buf):
    """buf as a bytes-like object whose len() is its byte count: bytes, bytearray and byte
    memoryviews as they are; a `str` as its UTF-8 bytes (as MicroPython's own socket sends
    it: micropython-lib's requests writes header names as str); an array of wider items as
    its raw bytes. Anything else is a TypeError."""
    if isinstance(buf, _BYTES):
        return buf
    if isinstance(buf, memoryview) and getattr(buf, "itemsize", 1) == 1:
        return buf
    if isinstance(buf, str):
        return buf.encode()
    return bytes(memoryview(buf))  # an array: its raw bytes, copied once; a list: TypeError


class Ring:
    """A receive buffer: read from the front, filled at the back, compacted when needed.
    What does not fit waits in a spill buffer (allocated only then): nothing is dropped."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.r = 0
        self.w = 0
        self.spill = None
        self.spill_at = 0

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
            self.spill_at = 0
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
                take = min(len(spill) - self.spill_at, len(self.buf))
                self.buf[:take] = memoryview(spill)[self.spill_at : self.spill_at + take]
                self.spill_at += take
                self.w = take
                if self.spill_at == len(spill):
                    self.spill = None
        return k

    def unread(self, buf, n):
        """Put buf[:n] back in front of what is held (a cancelled read's bytes)."""
        data = bytearray(memoryview(buf)[:n])
        data.extend(self.mv[self.r : self.w])
        if self.spill is not None:
            data.extend(memoryview(self.spill)[self.spill_at :])
            self.spill = None
        self.r = self.w = 0
        self.put(data, 0, len(data))


class Op:
    """One data-path operation of a connection (a read, or a send), as a step machine, so
    that a chunk allocates nothing. Each connection has one for reading (`Conn.rd`) and one
    for sending (`Conn.wr`), so a reader and a writer task can use it at once.

    A front starts it (`recv` / `send`), then calls step(ok) until it returns something
    other than WAIT, waiting between calls for (wcond, wms) (wcond None: just wms) and
    passing whether wcond came true: the blocking front with ATEngine.wait, quectel.aio
    with its _Drive, holding the UART lock for a step while a command runs. `g_steps` is
    the same loop as a generator procedure, for the control paths.
    """

    def __init__(self, conn):
        self.c = conn
        self.op = 0
        self.wcond = None
        self.wms = 0
        self.free = self._free  # bound once: waiting for it allocates nothing

    def _free(self):
        return not self.op

    def _wait(self, cond, ms):
        self.wcond = cond
        self.wms = ms
        return WAIT

    def _done(self, v):
        self.op = 0
        self.buf = None  # never keep the caller's buffer
        if self is self.c.rd:
            self.c.aim(None, 0)
        return v

    def stop(self):
        """End the operation after an error or a cancel; a command it left running is
        aborted (a send's prompt is filled, so the module takes no later command as data)."""
        at = self.c.modem.at
        if self.op not in (0, _RECV, _SEND) and at.busy:
            at.abort(SETTLE_MS)
        self._done(None)

    def g_steps(self):
        ok = None
        try:
            while True:
                r = self.step(ok)
                if r != WAIT:
                    return r
                ok = yield (self.wcond, self.wms)
        except BaseException:  # noqa: B036 (also a closed generator: leave the engine idle)
            self.stop()
            raise

    def recv(self, buf, n):
        """Read up to n (<= len(buf)) bytes into buf: step() gives the count, 0 at the end
        of the stream; OSError EAGAIN when non-blocking, ETIMEDOUT after the timeout."""
        c = self.c
        if c.cid < 0:
            raise oserror(errno.EBADF if c.service else errno.ENOTCONN)
        self.op = _RECV
        self.buf = buf
        self.n = n
        self.t0 = c.modem.clock.ticks_ms()
        if c.type == SOCK_STREAM:
            c.aim(buf, n)

    def send(self, mv, off, n, addr=None):
        """Send mv[off:off+n] in AT+QISENDs of at most 1460 bytes (one datagram for UDP):
        step() gives the count sent, less than n when the socket's timeout ran out first.
        SEND FAIL (the module's buffer is full) backs off and retries, never dropping or
        duplicating data."""
        self.op = _SEND
        self.buf = mv
        self.off = self.start = off
        self.end = off + n
        self.n = min(n, MAX_SEND)
        self.addr = addr
        self.t0 = self.c.modem.clock.ticks_ms()
        self.pause = self.c.modem.policy.send_pause_ms

    def step(self, ok):
        """One step of the operation: its result, or WAIT (see above)."""
        op = self.op
        c = self.c
        at = c.modem.at
        if op == _RECV:
            return self._recv_step(ok)
        if op == _ASKING:
            e = at.end_reason(ok, self.why)
            self._done(None)
            raise e
        if not ok and op != _SEND and op != _PAYLOAD:
            at.abort()
            self._done(None)
            raise c.fail(ATTimeout(c.cmd_name(op == _READING).decode(), self.wms))
        if op == _READING:
            return self._read_done()
        if op == _SWITCHING:
            at.end(b"AT+QISWTMD")
            c.mode = BUFFER
            c._switch = False  # pushes that overflowed while it ran asked for this same switch
            c.avail = True
            self.op = _RECV
            return self._recv_step(None)
        return self._send_step(op)

    def _recv_step(self, ok):
        c = self.c
        if ok is None:
            c.modem.at.poll()  # what the UART holds first: a non-blocking read waits for none
        elif not ok and c.mode == BUFFER:
            c.avail = True  # no "recv" URC for a second: ask, in case one was lost
        if c.landed:
            return self._done(c.landed)
        at = c.modem.at
        if c._switch and not c.dead:  # a push overflowed the ring: to buffer mode, where
            c._switch = False  # the module keeps the data (section 2.9)
            at.start(b"AT+QISWTMD=%d,0" % c.cid, b"")
            self.op = _SWITCHING
            return self._wait(at.finished_fn, c.modem.policy.at_ms)
        if c.held():
            return self._done(c.rx.take(self.buf, self.n))
        if c.dead:
            self._done(None)
            raise oserror(errno.ECONNABORTED)
        if c.cid < 0:  # closed while this read waited
            self._done(None)
            raise oserror(errno.EBADF)
        if c.avail and c.mode == BUFFER:
            # A short read drains the module's buffer, and the module announces the next
            # data with a new "recv" URC (section 2.8), which may arrive during this very
            # read: so the flag is cleared before the read, and only a full read sets it.
            c.avail = False
            n = min(self.n, MAX_READ) if c.type == SOCK_STREAM else -1
            at.begin_read(c.cid, self.buf, n, c.ssl)
            self.op = _READING
            return self._wait(at.finished_fn, c._cmd_ms(self.t0))
        if c.eof:
            return self._done(0)
        left = _UNANNOUNCED_MS
        if c.timeout is not None:
            clock = c.modem.clock
            left = c.timeout - clock.ticks_diff(clock.ticks_ms(), self.t0)
            if left <= 0:
                self._done(None)
                raise c.timed_out()
        return self._wait(c.can_read, min(left, _UNANNOUNCED_MS))

    def _read_done(self):
        c = self.c
        at = c.modem.at
        if at.needs_reason(c.cmd_name(True)):
            c.avail = True
            return self._why_now(_QIRD)
        try:
            got = at.end_read()
        except QuectelError:
            c.avail = True
            self._done(None)
            raise
        if c.type == SOCK_STREAM:
            if got == min(self.n, MAX_READ):
                c.avail = True  # maybe more: only a short read drained the module
        else:
            c.sender = at.remote
            if got:
                c.avail = True
        if got:
            return self._done(got)
        self.op = _RECV
        return self._recv_step(None)

    def _why_now(self, cmd):
        at = self.c.modem.at
        at.begin_reason()
        self.why = cmd
        self.op = _ASKING
        return self._wait(at.finished_fn, REASON_MS)

    def _send_step(self, op):
        c = self.c
        at = c.modem.at
        clock = c.modem.clock
        if op == _SEND:
            if c.dead:
                self._done(None)
                raise oserror(errno.ECONNABORTED)
            at.begin_send(c.cid, self.n, self.addr, c.ssl)
            self.op = _PROMPT
            self.at_off = self.off  # the payload still to write: from at_off, `left` bytes
            self.left = self.n
            return self._wait(at.finished_fn, c._cmd_ms(self.t0))
        if op == _PROMPT and at.prompted:
            op = self.op = _PAYLOAD
        if op == _PAYLOAD:
            k = at.payload(self.buf, self.at_off, self.left)
            self.at_off += k
            self.left -= k
            if not self.left:
                self.op = _SENT
                return self._wait(at.finished_fn, c._cmd_ms(self.t0))
            if not k and clock.ticks_diff(clock.ticks_ms(), self.t0) > c._cmd_ms(self.t0):
                at.abort()
                self._done(None)
                raise c.fail(ATTimeout("UART write", c._cmd_ms(self.t0)))
            return self._wait(None, 0 if k else 1)
        if at.result == SEND_FAIL:
            at.abort()
            policy = c.modem.policy
            limit = policy.at_ms if c.timeout is None else c.timeout
            pause = self.pause
            if clock.ticks_diff(clock.ticks_ms(), self.t0) + pause > limit:
                return self._done(self.off - self.start)
            self.pause = min(pause * 2, policy.send_pause_max_ms)
            self.op = _SEND
            return self._wait(None, pause)
        if at.needs_reason(c.cmd_name(False)):
            return self._why_now(_QISEND)
        try:
            at.end(b"AT+QISEND")
        except QuectelError:
            self._done(None)
            raise
        self.off += self.n
        if self.off < self.end:  # the next chunk, with a fresh back-off
            self.n = min(self.end - self.off, MAX_SEND)
            self.t0 = clock.ticks_ms()
            self.pause = c.modem.policy.send_pause_ms
            return self._send_step(_SEND)
        return self._done(self.off - self.start)


class Conn:
    """A connection on one of the module's 12 connect IDs (section 2.4)."""

    def __init__(self, modem, type=SOCK_STREAM, mode=BUFFER, rxsize=MAX_READ):
        self.modem = modem
        self.type = type
        self.mode = mode
        self.cid = -1
        self.service = None  # "TCP", "UDP", "TCP LISTENER", "UDP SERVICE", "TCP INCOMING"
        self.remote = None
        self.local = 0
        self.allow = None  # listeners: remote IPs accepted; others are closed at once
        # ms; None waits (bounded where the manual gives a limit), 0 never
        self.timeout = None  # type: int | None
        self.sender = None  # (ip, port) of the datagram last read
        self.queue = []  # listeners: accepted connections not yet taken by accept()
        self.rxsize = rxsize
        self.rx = None  # Ring: pushed and transparent data, readline, drained data
        self.tx = None  # queued small writes (allocated on first use), its view, their count
        self.txmv = None
        self.queued = 0
        clock = modem.clock
        self.t_last = clock.ticks_add(clock.ticks_ms(), -(1 << 28))  # last write: long ago
        self.avail = False  # the module holds data for us (buffer access mode)
        self.eof = False  # the peer closed ("closed" URC, NO CARRIER)
        self.dead = None  # why the connection can no longer work (pdpdeact, restart)
        self.open_result = None  # the +QIOPEN (+QSSLOPEN) error code while opening
        self._switch = False  # a push overflowed: go to buffer mode
        self._target = None  # the buffer of a reader waiting for pushed data, its length,
        self._target_n = 0
        self.landed = 0  # and how much of it pushed data filled
        self.ssl = False  # TLS in the module (quectel.tls): AT+QSSL* instead of AT+QI*
        # Transparent mode (quectel.transparent): '+' bytes written since a 1 s silence
        # (-1: none may start an escape now) and when that silence ended.
        self.pluses = -1
        self.plus_since = 0
        self.rd = Op(self)  # the data path: one read and one send at a time (see Op)
        self.wr = Op(self)
        self.can_read = self.readable  # bound once: waiting allocates nothing
        self.opened = self._open_done

    # ---- state -----------------------------------------------------------------------------

    def claim(self, skip=0):
        """Take the first free connect ID that is not in the bit mask `skip`."""
        socks = self.modem.sockets
        for cid in range(CONNECT_IDS):
            if socks[cid] is None and not skip >> cid & 1:
                socks[cid] = self
                self.cid = cid
                return
        raise oserror(ENFILE)  # every connect ID is in use

    def release(self):
        if 0 <= self.cid < CONNECT_IDS and self.modem.sockets[self.cid] is self:
            self.modem.sockets[self.cid] = None
        self.cid = -1

    def check(self):
        """Raise unless the connection can be used."""
        if self.dead:
            raise oserror(errno.ECONNABORTED)
        if self.cid < 0:
            raise oserror(errno.ENOTCONN if self.service is None else errno.EBADF)

    def sendable(self, buf):
        """buf as bytes (see byte_view) once this connection can send it: a datagram has at
        most 1460 bytes (EMSGSIZE); a stream the peer closed is ECONNRESET."""
        mv = byte_view(buf)
        self.check()
        if self.type == SOCK_DGRAM:
            if len(mv) > MAX_SEND:
                raise oserror(EMSGSIZE)
        elif self.eof:
            raise oserror(errno.ECONNRESET)
        return mv

    def dest(self, mv, address):
        """The checked (host, port) of a datagram mv for sendto, before a byte is sent."""
        if self.type != SOCK_DGRAM:
            raise oserror(errno.EOPNOTSUPP)
        host, port = check_address(address)
        if len(mv) > MAX_SEND:
            raise oserror(EMSGSIZE)
        return host, port

    def cmd_name(self, read):
        """The name of this connection's read (or send) command: its errors say it, and
        only the TCP/IP family's plain ERROR is explained by AT+QIGETERROR."""
        if self.ssl:
            return _QSSLRECV if read else _QSSLSEND
        return _QIRD if read else _QISEND

    def held(self):
        """Bytes we hold for the reader."""
        return len(self.rx) if self.rx is not None else 0

    def readable(self):
        return (self.held() or (self.avail and self.mode == BUFFER) or self.eof or self.dead
                or self.landed or self.queue or self.cid < 0)  # fmt: skip

    def take_line(self, out):
        """Move held bytes up to and including b"\n" to out; whether the line is whole."""
        rx = self.rx
        if len(rx):
            i = rx.buf.find(b"\n", rx.r, rx.w)
            end = rx.w if i < 0 else i + 1
            out.extend(rx.mv[rx.r : end])
            rx.r = end
            return i >= 0
        rx.r = rx.w = 0
        return False

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
        return min(p, max(left, _MIN_COMMAND_MS))

    def fail(self, e):
        # A QIRD/QISEND without an answer leaves the stream with a hole or a doubt, and a
        # late answer could be taken for the next command's: the connection is broken, and
        # check() reboots the module (chapter 1, note 1).
        if isinstance(e, ATTimeout):
            self.dead = "no answer"
            self.modem.set_state(_STAT_NO_RESPONSE, "no answer")
        return e

    def timed_out(self):
        return oserror(errno.EAGAIN if self.timeout == 0 else errno.ETIMEDOUT)

    def aim(self, buf, n):
        """A reader waits with buf (n bytes wanted; None: no longer): pushed data may land
        there directly (see _store)."""
        self._target = buf
        self._target_n = n
        self.landed = 0

    # ---- URC callbacks (from the Modem's event dispatch) -----------------------------------

    def on_opened(self, err):
        self.open_result = err

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
        # TLS links have no AT+QISWTMD: the ring's spill keeps what does not fit.
        if not self._store(mv, start, end) and self.mode == PUSH and not self.ssl:
            self._switch = True

    def _store(self, mv, start, end):
        # Straight into a waiting reader's buffer when nothing is held before it, else
        # into the ring. Returns False when the ring spilled.
        t = self._target
        if t is not None and not self.landed and not self.held():
            k = min(end - start, self._target_n)
            t[:k] = mv[start : start + k]
            self.landed = k
            start += k
            if start == end:
                return True
        return self.rx.put(mv, start, end)

    # ---- transparent mode: the engine's data sink (section 1.2) ----------------------------

    def data_in(self, mv, start, end):
        # Everything is taken: bytes left in a UART without flow control are lost once it
        # fills up, so what the reader has not taken yet waits in the ring (and its spill).
        self._store(mv, start, end)

    def data_end(self, carrier_lost):
        if carrier_lost:  # NO CARRIER; AT+QICLOSE is still needed (close())
            self.eof = True
            self.mode = BUFFER
        self.modem.last_transparent = self

    # ---- procedures ------------------------------------------------------------------------

    def _open_done(self):
        return self.open_result is not None or self.dead

    def g_connect(self, address):
        """Open TCP (or UDP) to (host, port); the module resolves names."""
        if self.cid >= 0:
            raise oserror(EISCONN)
        host, port = check_address(address)
        yield from self.g_open("TCP" if self.type == SOCK_STREAM else "UDP", host, port)

    def g_bind(self, address):
        """Choose the local port; a UDP socket opens its UDP SERVICE on it."""
        if not isinstance(address, (tuple, list)) or len(address) != 2:
            raise TypeError("address must be a (host, port) tuple")
        self.local = check_port(address[1])
        if self.type == SOCK_DGRAM:
            yield from self.g_open("UDP SERVICE", "127.0.0.1", 0)

    def g_listen(self):
        """Open the TCP LISTENER on the bound port; clients queue for accept."""
        if self.type != SOCK_STREAM or not self.local:
            raise oserror(errno.EINVAL)
        yield from self.g_open("TCP LISTENER", "127.0.0.1", 0)

    def g_open(self, service, host, rport):
        """AT+QIOPEN and its +QIOPEN URC (section 2.4), with the flow chart's rules."""
        m = self.modem
        p = m.policy
        if not m.isconnected():
            raise oserror(ENETUNREACH)
        self.remote = (host, rport) if rport else None
        self.ssl = False
        err = None
        used = 0  # connect IDs the module said are in use (562), not tried again
        for _ in range(3):  # an incoming connection may take our connect ID first
            self.claim(used)
            self.open_result = None
            cmd = 'AT+QIOPEN=%d,%d,"%s","%s",%d,%d,%d' % (
                m.context, self.cid, service, host, rport, self.local, self.mode,
            )  # fmt: skip
            cid = self.cid
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
                if e.code == _ID_IN_USE:
                    err = e
                    if m.sockets[cid] is None:
                        # Not an incoming client (its URC would have come first): left open
                        # before a board reset. Closed, it is free again.
                        yield from _g_qiclose(m, b"AT+QICLOSE=%d" % cid)
                    else:
                        used |= 1 << cid
                    continue
                if e.code is not None:
                    yield from m.g_opened(False)
                raise
            # The connect ID stays ours until +QIOPEN comes, so a late URC finds no stranger.
            ok = yield (self.opened, p.qiopen_ms)
            if ok and self.open_result == 0 and not self.dead:
                self.service = service
                yield from m.g_opened(True)
                return
            yield from self.g_close_id()  # section 2.4: no +QIOPEN in 150 s: close the ID
            self.release()
            yield from m.g_opened(False)
            if not ok:
                raise oserror(errno.ETIMEDOUT)
            if self.dead:
                raise oserror(errno.ECONNABORTED)
            from .errors import _ERRNO

            raise oserror(_ERRNO.get(self.open_result, errno.ECONNREFUSED))
        raise err

    def g_accept(self):
        """The next client of a listener (a Conn); clients not in `allow` are closed."""
        self.check()
        clock = self.modem.clock
        t0 = clock.ticks_ms()
        while True:
            while not self.queue:
                self.check()
                left = _FOREVER_MS if self.timeout is None else self.timeout
                left -= clock.ticks_diff(clock.ticks_ms(), t0)
                if left <= 0:
                    raise self.timed_out()
                yield (self.can_read, min(left, self.modem.policy.at_ms))
            child = self.queue.pop(0)
            if self.allow is None or child.remote[0] in self.allow:
                return child
            yield from child.g_close()

    def keep(self, mv, off, n):
        """Queue a small write (n <= room) for the next flush (Socket.write, ASocket.write)."""
        if self.tx is None:
            self.tx = bytearray(MAX_SEND)
            self.txmv = memoryview(self.tx)
        whole = off == 0 and n == len(mv)  # a slice of mv would be a new object
        self.tx[self.queued : self.queued + n] = mv if whole else memoryview(mv)[off : off + n]
        self.queued += n

    def flushed(self, sent):
        """`sent` of the queued bytes went out; the rest stays queued (ETIMEDOUT)."""
        n = self.queued
        self.queued = n - sent
        if sent < n:
            self.tx[: n - sent] = self.txmv[sent:n]
            raise self.timed_out()

    def g_flush(self):
        """Send what is queued."""
        if self.queued and self.cid >= 0 and not self.dead:
            self.wr.send(self.txmv, 0, self.queued)
            self.flushed((yield from self.wr.g_steps()))

    def _close_cmd(self):
        return (b"AT+QSSLCLOSE=%d" if self.ssl else b"AT+QICLOSE=%d") % self.cid

    def g_close_id(self):
        """Generator: AT+QICLOSE (AT+QSSLCLOSE) of the connect ID; a non-blocking socket
        does not wait for the answer."""
        m = self.modem
        if self.timeout == 0 and not m.at.busy and not m.off:
            # A non-blocking socket's close does not wait: the answer is read and dropped
            # before the next command (an asyncio program's loop is not held up).
            m.at.start(self._close_cmd(), b"")
            m.at.abort(m.policy.qiclose_ms)
            return
        yield from _g_qiclose(m, self._close_cmd())

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
                if m.at.data_mode:  # AT+QICLOSE would be written into the connection's data:
                    raise  # the socket stays open, close() may be tried again
                err = e  # the module was reset: nothing left to close there
        try:
            yield from self.g_flush()
        except OSError as e:
            err = e
        if not self.dead:
            yield from self.g_close_id()
        if m.last_transparent is self:
            m.last_transparent = None
        for child in self.queue:
            yield from child.g_close()
        self.queue = []
        self.release()
        self.rx = self.tx = self.txmv = None
        self.queued = 0
        self.ssl = False
        if err is not None:
            raise err


def _g_qiclose(m, cmd):
    try:
        yield from m.g_command(cmd, b"", m.policy.qiclose_ms)
    except QuectelError:
        pass  # section 2.5: the module force-closes after its timeout anyway
