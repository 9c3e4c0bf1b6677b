# Virtual board: a stand-in for MicroPython's `machine` module.
#
# Put tools/vboard first on MICROPYPATH and board files and firmware run unmodified under the
# MicroPython unix port, talking to the virtual Quectel module over loopback:
#
#   UART  -> TCP to $QUECTEL_UART ("host:port", default 127.0.0.1:5555), or target="host:port",
#            or a serial device / pty path (target="/dev/ttyUSB0") opened raw 8N1 at baudrate.
#            As strict as a board's UART without flow control (rp2, esp32): written bytes take
#            their line time at `baudrate` (write() returns once what is left fits in `txbuf`,
#            txdone() is False and flush() waits until the last byte has left), and bytes the
#            line delivers while the receive ring (`rxbuf` plus the PL011's 32-byte FIFO) is
#            full are dropped and counted (`UART.dropped`). With flow=RTS nothing is dropped.
#   Pin("PWRKEY"|"RESET"|"DTR") outputs and Pin("STATUS"|"RI") inputs -> line-based pin channel
#            on $QUECTEL_PINS (default 127.0.0.1:5556; "none" = no pin channel). We send
#            b"PWRKEY 0\n" when an output changes (electrical level at the module pin), the module
#            sends b"STATUS 1\n" / b"RI 0\n" on change and once each right after connecting.
#   Other pin ids are plain in-memory pins.
#
# Only modules the unix port has are used; the file also imports (and mostly works) under
# CPython 3.11.

import errno
import os
import select
import socket
import sys
import time

_MPY = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# On MicroPython a Python class becomes a C-level stream (select.poll, asyncio, ssl) by subclassing
# io.IOBase and implementing ioctl. CPython's io.IOBase has another contract (fileno), so use
# a plain object there.
_IOBase = object
if sys.implementation.name == "micropython":
    try:
        import io

        _IOBase = io.IOBase
    except (ImportError, AttributeError):
        pass

try:
    _ticks_ms = time.ticks_ms
    _ticks_us = time.ticks_us
    _ticks_diff = time.ticks_diff
    _ticks_add = time.ticks_add
    _sleep_ms = time.sleep_ms
except AttributeError:  # CPython

    def _ticks_ms():
        return int(time.monotonic() * 1000)

    def _ticks_us():
        return time.monotonic_ns() // 1000

    def _ticks_add(a, b):
        return a + b

    def _ticks_diff(a, b):
        return a - b

    def _sleep_ms(ms):
        time.sleep(ms / 1000)


_DEBUG = const(False)

_POLL_RD = const(1)
_POLL_WR = const(4)
_MP_STREAM_FLUSH = const(1)
_MP_STREAM_POLL = const(3)
_MP_STREAM_CLOSE = const(4)

_EAGAIN = errno.EAGAIN
_EWOULDBLOCK = getattr(errno, "EWOULDBLOCK", errno.EAGAIN)
_CONN_LOST = (errno.ECONNRESET, getattr(errno, "EPIPE", 32), errno.ENOTCONN, errno.EIO)


def _io_error(e):
    # What a non-blocking read or write returns for OSError e: None when it would block, 0
    # when the link is gone; anything else is raised.
    if e.errno == _EAGAIN or e.errno == _EWOULDBLOCK:
        return None
    if e.errno in _CONN_LOST:
        return 0
    raise e


_FIFO = const(32)  # the PL011's receive FIFO (rp2): bytes held beyond the ring before overrun
_CONNECT_MS = const(2000)  # keep retrying a refused connect this long (module still starting)
_RECONNECT_MS = const(250)  # at most one reconnect attempt per this period after the peer left
_WRITE_STALL_MS = const(5000)  # give up a write when the peer has not read for this long


def _ready(poller):
    # poller.poll(0) without allocating a result list (ipoll reuses one tuple) where possible.
    if hasattr(poller, "ipoll"):
        for _ in poller.ipoll(0):
            return True
        return False
    return bool(poller.poll(0))


def _log(*args):
    if _DEBUG:
        print("vboard:", *args)


def _env(name, default):
    v = os.getenv(name)
    return v if v else default


def _split_addr(addr):
    i = addr.rfind(":")
    if i < 0:
        raise ValueError("address must be host:port: %s" % addr)
    return addr[:i], int(addr[i + 1 :])


def _tcp_connect(addr, retry_ms=_CONNECT_MS):
    host, port = _split_addr(addr)
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    t0 = _ticks_ms()
    while True:
        s = socket.socket(ai[0], socket.SOCK_STREAM)
        try:
            s.connect(ai[-1])
            break
        except OSError as e:
            s.close()
            if e.errno != errno.ECONNREFUSED or _ticks_diff(_ticks_ms(), t0) >= retry_ms:
                raise
            _sleep_ms(20)
    try:
        s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: no Nagle delay on AT command lines
    except (OSError, AttributeError):
        pass
    s.setblocking(False)
    return s


class _SockIO:
    # Non-blocking byte pipe over a TCP socket.
    def __init__(self, addr, retry_ms=_CONNECT_MS):
        self.s = s = _tcp_connect(addr, retry_ms)
        self._rd = getattr(s, "recv_into", None) or s.readinto  # CPython / MicroPython
        self.rpoll = select.poll()
        self.rpoll.register(s, select.POLLIN)
        self.wpoll = select.poll()
        self.wpoll.register(s, select.POLLOUT)

    def readinto(self, mv):
        # n > 0 bytes, None when nothing is pending, 0 when the peer is gone.
        try:
            return self._rd(mv)
        except OSError as e:
            return _io_error(e)

    def write(self, buf, off, n):
        # n bytes accepted (may be partial), None when the socket buffer is full. MicroPython's
        # stream write(buf, off, n) sends a part of buf without making a slice object.
        try:
            if _MPY:
                return self.s.write(buf, off, n)
            return self.s.send(memoryview(buf)[off : off + n])
        except OSError as e:
            return _io_error(e)

    def close(self):
        self.s.close()


class _Port:
    # One UART peripheral: the link, the receive ring and the configuration. UART objects made
    # with the same id share it, as they share the hardware on a real board.
    def __init__(self, uid):
        self.uid = uid
        self.io = None
        self.target = None
        self.baudrate = 115200
        self.bits = 8
        self.parity = None
        self.stop = 1
        self.flow = 0
        self.timeout = 0
        self.timeout_char = 0
        self.txbuf = 256
        self.buf = None
        self.mv = None
        self.head = 0
        self.cnt = 0
        self.retry_at = 0
        self.eof = False
        self.smv = None
        self.sw = self.sroom = -1
        self.tx_end = None  # ticks_us when the TX line has sent everything written
        self.allow = 0  # bytes the RX line may deliver while the program is held in a write
        self.dropped = 0  # bytes lost: they arrived while the ring and FIFO were full
        self.scratch = None

    def char_bits(self):
        # Start bit, data bits, parity, stop bits.
        return 1 + self.bits + (0 if self.parity is None else 1) + self.stop

    def char_us(self, n):
        # Line time of n characters in microseconds.
        return n * self.char_bits() * 1000000 // self.baudrate

    def set_rxbuf(self, size):
        if self.buf is not None and len(self.buf) == size + _FIFO:
            return
        old = self.take_bytes(self.cnt) if self.cnt else b""
        if len(old) > size:
            raise ValueError("rxbuf smaller than the pending data")
        self.buf = bytearray(size + _FIFO)
        self.mv = memoryview(self.buf)
        self.smv = None
        self.sw = self.sroom = -1
        self.head = 0
        self.cnt = len(old)
        self.buf[: len(old)] = old

    def open(self, retry_ms=_CONNECT_MS):
        t = self.target
        if t.startswith("/"):
            from _machine_rest import _TTYIO

            self.io = _TTYIO(t, self.baudrate, self.bits, self.parity, self.stop, self.flow)
        else:
            self.io = _SockIO(t, retry_ms)
        self.eof = False
        _log("uart", self.uid, "open", t)

    def close(self):
        if self.io is not None:
            self.io.close()
            self.io = None

    def _lost(self):
        _log("uart", self.uid, "peer gone")
        self.close()
        self.eof = True
        self.retry_at = _ticks_ms()

    def _revive(self):
        # After the peer went away, try one quick reconnect per _RECONNECT_MS.
        if self.target is None or _ticks_diff(_ticks_ms(), self.retry_at) < _RECONNECT_MS:
            return False
        self.retry_at = _ticks_ms()
        try:
            self.open(0)
        except OSError:
            return False
        return True

    def fill(self):
        # Move what the link has into the ring, without blocking, up to the ring's room; the
        # rest waits in the link (back-pressure) except while the program is held in a write
        # (see hold), when what the line delivers beyond the room is dropped. Drops are decided
        # by line time, never by how long the host took: a descheduled test loses nothing.
        io = self.io
        if io is None and not (self.eof and self._revive()):
            return
        io = self.io
        size = len(self.buf)
        if self.allow and self.cnt == size and not self.flow & UART.RTS:
            if self.scratch is None:
                self.scratch = bytearray(256)
            n = io.readinto(memoryview(self.scratch)[: min(self.allow, 256)])
            if n:
                self.allow -= n
                self.dropped += n
            elif n == 0:
                self._lost()
            return
        while self.cnt < size:
            w = self.head + self.cnt
            if w >= size:
                w -= size
            room = (size - w) if w >= self.head else (self.head - w)
            if w != self.sw or room != self.sroom:
                # Reuse the last slice when the free region is unchanged (the idle-polling case),
                # so polling an empty link allocates nothing.
                self.smv = self.mv[w : w + room]
                self.sw = w
                self.sroom = room
            n = io.readinto(self.smv)
            if n is None:
                return
            if n == 0:
                self._lost()
                return
            self.cnt += n
            self.allow = max(0, self.allow - n)
            if n < room:
                return

    def wait_readable(self, timeout_ms):
        # True when the ring holds data (waits up to timeout_ms; 0 = just look).
        self.fill()
        if self.cnt:
            return True
        t0 = _ticks_ms()
        while True:
            _service()
            left = timeout_ms - _ticks_diff(_ticks_ms(), t0)
            if left <= 0:
                return False
            if self.io is None:
                _sleep_ms(min(left, 10))
            else:
                self.io.rpoll.poll(min(left, 20))
            self.fill()
            if self.cnt:
                return True

    def take_into(self, dest, off, n):
        # Copy up to n bytes from the ring into dest[off:]; returns the count.
        size = len(self.buf)
        n = min(n, self.cnt)
        h = self.head
        k = min(n, size - h)
        dest[off : off + k] = self.mv[h : h + k]
        if n > k:
            dest[off + k : off + n] = self.mv[0 : n - k]
        h += n
        self.head = h - size if h >= size else h
        self.cnt -= n
        return n

    def take_bytes(self, n):
        out = bytearray(min(n, self.cnt))
        self.take_into(out, 0, len(out))
        return bytes(out)

    def find_nl(self):
        # Bytes up to and including the first b"\n" in the ring, or 0 when there is none.
        size = len(self.buf)
        h = self.head
        end = h + self.cnt
        i = self.buf.find(b"\n", h, min(end, size))
        if i >= 0:
            return i - h + 1
        if end > size:
            i = self.buf.find(b"\n", 0, end - size)
            if i >= 0:
                return size - h + i + 1
        return 0

    def read_into(self, dest, n):
        # machine.UART read semantics: wait `timeout` for the first byte, `timeout_char` for each
        # further one; None when nothing came.
        io = self.io
        if not self.cnt and not self.timeout and _MPY and isinstance(io, _SockIO):
            # Non-blocking and nothing buffered: read the link straight into dest (no copy, no
            # slice object), as drivers polling a machine.UART with timeout=0 do.
            try:
                got = io.s.readinto(dest, n)
            except OSError as e:
                if e.errno not in (_EAGAIN, _EWOULDBLOCK):
                    raise
                got = None
            if got == 0:
                self._lost()
            if got:
                return got
        got = 0
        wait = self.timeout
        while got < n:
            if not self.wait_readable(wait):
                break
            got += self.take_into(dest, got, n - got)
            wait = self.timeout_char
        return got if got else None

    def writable(self):
        if self.io is None:
            return True
        return _ready(self.io.wpoll)

    def hold(self, until):
        # The program waits in write()/flush() until ticks_us `until`: the RX line keeps
        # delivering meanwhile, at most as many bytes as that line time carries.
        left = _ticks_diff(until, _ticks_us())
        if left <= 0:
            return
        self.allow += left * self.baudrate // (self.char_bits() * 1000000)
        while True:
            self.fill()
            _service()
            left = _ticks_diff(until, _ticks_us())
            if left <= 0:
                break
            ms = min(5, max(1, left // 1000))
            if self.io is None or self.cnt == len(self.buf):
                _sleep_ms(ms)
            else:
                self.io.rpoll.poll(ms)
        self.fill()
        self.allow = 0

    def sent(self, n):
        # n bytes went onto the TX line: they leave at the baud rate after what is queued;
        # the caller is held until what is left fits in the TX buffer.
        now = _ticks_us()
        if self.tx_end is None or _ticks_diff(self.tx_end, now) < 0:
            self.tx_end = now
        self.tx_end = _ticks_add(self.tx_end, self.char_us(n))
        self.hold(_ticks_add(self.tx_end, -self.char_us(self.txbuf)))

    def txdone(self):
        return self.tx_end is None or _ticks_diff(_ticks_us(), self.tx_end) >= 0

    def flush(self):
        if self.tx_end is not None:
            self.hold(self.tx_end)

    def write(self, buf, off, n):
        total = 0
        t0 = _ticks_ms()
        while total < n:
            io = self.io
            if io is None and not (self.eof and self._revive()):
                # No module on the wire: like a real TX line, the bytes go nowhere.
                return n
            r = self.io.write(buf, off + total, n - total)
            if r:
                total += r
                t0 = _ticks_ms()
                continue
            if r == 0:
                self._lost()
                continue
            # Link full: keep draining the receive side so the peer is never blocked on us.
            self.fill()
            _service()
            if _ticks_diff(_ticks_ms(), t0) >= _WRITE_STALL_MS:
                break
            if self.io is not None:
                self.io.wpoll.poll(5)
        if total:
            self.sent(total)
        return total if total else None


_ports = {}


class UART(_IOBase):
    INV_TX = 1
    INV_RX = 2
    RTS = 1
    CTS = 2

    def __init__(self, id, baudrate=None, bits=None, parity=-1, stop=None, **kw):
        p = _ports.get(id)
        if p is None:
            p = _ports[id] = _Port(id)
        self._p = p
        self.id = id
        self.init(baudrate, bits, parity, stop, **kw)

    def init(
        self,
        baudrate=None,
        bits=None,
        parity=-1,
        stop=None,
        *,
        tx=None,
        rx=None,
        rts=None,
        cts=None,
        txbuf=None,
        rxbuf=None,
        timeout=None,
        timeout_char=None,
        invert=None,
        flow=None,
        target=None,
    ):
        # Unspecified settings keep their current value (as on the ESP32 and rp2 ports).
        p = self._p
        reopen = p.io is None
        if baudrate is not None and baudrate != p.baudrate:
            p.baudrate = baudrate
            reopen = True
        if bits is not None:
            p.bits = bits
        if parity != -1:
            p.parity = parity
        if stop is not None:
            p.stop = stop
        if flow is not None:
            p.flow = flow
        if timeout is not None:
            p.timeout = timeout
        if timeout_char is not None:
            p.timeout_char = timeout_char
        if txbuf is not None:
            p.txbuf = txbuf
        p.set_rxbuf(rxbuf if rxbuf is not None else (len(p.buf) - _FIFO if p.buf else 2048))
        if target is None:
            target = p.target or _env("QUECTEL_UART", "127.0.0.1:5555")
        if target != p.target:
            p.target = target
            reopen = True
        if reopen:
            p.close()
            p.open()

    def deinit(self):
        self._p.close()
        self._p.eof = False

    def any(self):
        # Like machine.UART.any(): a count, or 1 for "some" (data still in the link).
        p = self._p
        _service()
        if p.cnt:
            return p.cnt
        io = p.io
        if _MPY and isinstance(io, _SockIO):
            return 1 if _ready(io.rpoll) else 0
        p.fill()
        return p.cnt

    def read(self, n=None):
        p = self._p
        if n is not None:
            if n <= 0:
                return b""
            out = bytearray(n)
            got = p.read_into(out, n)
            if got is None:
                return None
            return bytes(out) if got == n else bytes(memoryview(out)[:got])
        # As much as possible: first byte within `timeout`, then while more keeps arriving
        # within `timeout_char`.
        if not p.wait_readable(p.timeout):
            return None
        out = p.take_bytes(p.cnt)
        while p.wait_readable(p.timeout_char):
            out += p.take_bytes(p.cnt)
        return out

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        if n <= 0:
            return 0
        return self._p.read_into(buf, n)

    def readline(self):
        p = self._p
        out = None
        wait = p.timeout
        while p.wait_readable(wait):
            k = p.find_nl()
            part = p.take_bytes(k or p.cnt)
            out = part if out is None else out + part
            if k:
                break
            wait = p.timeout_char
        return out

    def write(self, buf, off=None, max_len=None):
        # write(buf), write(buf, max_len), write(buf, off, max_len) as MicroPython streams do.
        if isinstance(buf, str):
            buf = buf.encode()
        size = len(buf)
        if off is None:
            off, n = 0, size
        elif max_len is None:
            off, n = 0, min(off, size)
        else:
            off = min(off, size)
            n = min(max_len, size - off)
        if n <= 0:
            return 0
        return self._p.write(buf, off, n)

    def sendbreak(self):
        pass

    def flush(self):
        """Wait until every written byte has left the TX line."""
        self._p.flush()

    def txdone(self):
        return self._p.txdone()

    @property
    def dropped(self):
        """Received bytes lost so far because the program did not read in time (stand-in
        only: a board's UART does not count them)."""
        return self._p.dropped

    def ioctl(self, op, arg):
        p = self._p
        if op == _MP_STREAM_POLL:
            p.fill()
            _service()
            r = 0
            if arg & _POLL_RD and p.cnt:
                r |= _POLL_RD
            if arg & _POLL_WR and p.writable():
                r |= _POLL_WR
            return r
        if op == _MP_STREAM_FLUSH:
            p.flush()
            return 0
        if op == _MP_STREAM_CLOSE:
            self.deinit()
            return 0
        return -1  # includes GET_FILENO: poll must ask ioctl, the ring may hold data

    def __repr__(self):
        p = self._p
        return "UART(%s, baudrate=%d, target=%s)" % (self.id, p.baudrate, p.target)


# ---- pins ----

_LINK_OUT = ("PWRKEY", "RESET", "DTR")
_LINK_IN = ("STATUS", "RI")


def pins_available():
    """False when QUECTEL_PINS is "none": no PWRKEY/RESET/DTR/STATUS/RI on this board."""
    return _env("QUECTEL_PINS", "").lower() != "none"


class _PinLink:
    # The line-based pin channel to the virtual module.
    def __init__(self, addr):
        self.addr = addr
        self.levels = {"STATUS": 0, "RI": 1}  # until the module reports
        self.outs = {}  # name -> last level sent
        self.pins = {}  # name -> input Pin objects with an irq
        self.rbuf = bytearray(128)
        self.line = b""
        self.io = None
        self.retry_at = 0
        self.connect(_CONNECT_MS)

    def connect(self, retry_ms):
        self.io = _SockIO(self.addr, retry_ms)
        # The module reports STATUS and RI right after connecting: wait briefly for both so the
        # first read of an input is already right.
        seen = 0
        t0 = _ticks_ms()
        while seen < 2 and _ticks_diff(_ticks_ms(), t0) < 200:
            self.io.rpoll.poll(20)
            seen += self.drain()
        for name in self.outs:  # after a reconnect, restate our outputs
            self.send(name, self.outs[name])

    def drain(self):
        # Read pending pin lines without blocking; returns how many lines were handled.
        handled = 0
        if self.io is None:
            if _ticks_diff(_ticks_ms(), self.retry_at) < _RECONNECT_MS:
                return 0
            self.retry_at = _ticks_ms()
            try:
                self.connect(0)
            except OSError:
                return 0
        while self.io is not None:
            n = self.io.readinto(self.rbuf)
            if n is None:
                break
            if n == 0:
                self.io.close()
                self.io = None
                self.retry_at = _ticks_ms()
                break
            data = self.line + bytes(memoryview(self.rbuf)[:n])
            lines = data.split(b"\n")
            self.line = lines.pop()
            for ln in lines:
                f = ln.split()
                if len(f) != 2 or f[1] not in (b"0", b"1"):
                    continue
                name = f[0].decode()
                level = 1 if f[1] == b"1" else 0
                handled += 1
                old = self.levels.get(name)
                self.levels[name] = level
                if old is not None and old != level:
                    for pin in self.pins.get(name, ()):
                        pin._edge(level)
        return handled

    def send(self, name, level):
        self.outs[name] = level
        if self.io is None:
            return
        msg = memoryview(("%s %d\n" % (name, level)).encode())
        t0 = _ticks_ms()
        while len(msg):
            n = self.io.write(msg, 0, len(msg))
            if n == 0:
                self.io.close()
                self.io = None
                return
            if n:
                msg = msg[n:]
            elif _ticks_diff(_ticks_ms(), t0) > _WRITE_STALL_MS:
                raise OSError(errno.ETIMEDOUT)
            else:
                self.io.wpoll.poll(5)


_link = None
_mem_levels = {}  # in-memory pins: id -> level
_mem_pins = {}  # in-memory pins with an irq: id -> [Pin]
_pending = []  # (handler, pin) waiting for _service()
_in_service = False


def _pin_link():
    global _link
    if _link is None:
        if not pins_available():
            raise ValueError("pin channel disabled (QUECTEL_PINS=none)")
        _link = _PinLink(_env("QUECTEL_PINS", "127.0.0.1:5556"))
    return _link


def _service():
    # Poll the pin channel and run pending pin IRQ handlers. Called from idle(), from UART
    # operations and from input pin reads, the places a soft IRQ could run on a board.
    global _in_service
    if _in_service:
        return
    _in_service = True
    try:
        if _link is not None:
            _link.drain()
        while _pending:
            handler, pin = _pending.pop(0)
            try:
                handler(pin)
            except Exception as e:  # as on a board: report, do not break the interrupted code
                print("Uncaught exception in Pin IRQ handler")
                if hasattr(sys, "print_exception"):
                    sys.print_exception(e)
                else:
                    print(repr(e))
    finally:
        _in_service = False


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    ALT = 8
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    LOW_POWER = 0
    HIGH_POWER = 3

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        self._id = id
        self._linked = id in _LINK_OUT or id in _LINK_IN
        self._link = _pin_link() if self._linked else None
        self._mode = Pin.IN
        self._pull = None
        self._handler = None
        self._trigger = 0
        self._irq = None
        if not self._linked and id not in _mem_levels:
            _mem_levels[id] = 0
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
            if not self._linked and mode in (-1, Pin.IN) and self._mode == Pin.IN:
                _mem_levels[self._id] = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self._set(1 if value else 0, True)

    def _set(self, v, force=False):
        if self._linked:
            link = self._link
            if self._id in _LINK_IN:
                return  # inputs are driven by the module
            if force or link.outs.get(self._id, 1) != v:  # module pins idle high
                link.send(self._id, v)
            return
        old = _mem_levels.get(self._id, 0)
        _mem_levels[self._id] = v
        if old != v:
            for pin in _mem_pins.get(self._id, ()):
                pin._edge(v)

    def _get(self):
        if self._linked:
            _service()
            link = self._link
            if self._id in _LINK_IN:
                return link.levels.get(self._id, 0)
            return link.outs.get(self._id, 1)
        return _mem_levels.get(self._id, 0)

    def _edge(self, level):
        t = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
        if self._handler is not None and self._trigger & t:
            if self._irq is not None:
                self._irq._flags |= t
            _pending.append((self._handler, self))

    def value(self, x=None):
        if x is None:
            return self._get()
        self._set(1 if x else 0)

    __call__ = value

    def on(self):
        self._set(1)

    def off(self):
        self._set(0)

    high = on
    low = off

    def toggle(self):
        self._set(0 if self._get() else 1)

    def irq(self, handler=-1, trigger=3, priority=1, wake=None, hard=False):
        # Handlers run from machine.idle(), UART calls and pin reads (soft-IRQ style).
        # irq() with no arguments returns the IRQ object and changes nothing.
        if self._irq is None:
            from _machine_rest import _PinIRQ

            self._irq = _PinIRQ(self)
        if handler == -1:
            return self._irq
        self._handler = handler
        self._trigger = trigger
        reg = self._link.pins if self._linked else _mem_pins
        lst = reg.setdefault(self._id, [])
        if handler is not None and self not in lst:
            lst.append(self)
        elif handler is None and self in lst:
            lst.remove(self)
        return self._irq

    def mode(self, m=None):
        if m is None:
            return self._mode
        self._mode = m

    def pull(self, p=None):
        if p is None:
            return self._pull
        self._pull = p

    def __repr__(self):
        return "Pin(%r)" % (self._id,)


# ---- the rest of machine ----


def idle():
    _service()
    _sleep_ms(1)


class Timer:
    """A software timer: a thread waits `period` ms, then `micropython.schedule`s the callback,
    so it runs in the main thread between bytecodes, as the ports' soft timer callbacks do."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        self._gen = 0
        if kw:
            self.init(**kw)

    def init(self, mode=PERIODIC, period=-1, callback=None, freq=-1):
        import _thread

        if freq > 0:
            period = 1000 // freq
        self._gen += 1
        _thread.start_new_thread(self._run, (self._gen, mode, max(1, period), callback))

    def _run(self, gen, mode, period, callback):
        import micropython

        while gen == self._gen:
            time.sleep_ms(period)
            if gen != self._gen:
                return
            if callback is not None:
                try:
                    micropython.schedule(callback, self)
                except RuntimeError:  # the schedule queue is full: try at the next period
                    continue
            if mode == Timer.ONE_SHOT:
                return

    def deinit(self):
        self._gen += 1


def __getattr__(name):
    # Runs only for names the module does not have (PEP 562; MicroPython's modules too): the
    # public ones of _machine_rest.py, which is imported on first use.
    if not name.startswith("_"):
        import _machine_rest

        if hasattr(_machine_rest, name):
            return getattr(_machine_rest, name)
    raise AttributeError(name)
