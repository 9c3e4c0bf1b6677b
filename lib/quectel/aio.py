"""asyncio front: the whole stack as awaitables, without blocking the event loop.

    import asyncio
    from quectel import Modem
    from quectel.aio import AModem

    am = AModem(Modem.for_board(board))
    async def main():
        await am.connect("internet")          # QIACT may take 150 s: other tasks keep running
        am.supervise()                         # recovery rules as a task; watch am.up
        r, w = await am.open_connection("example.com", 80)

Every operation awaits the same generator procedures the blocking API runs (the Modem's
lifecycle, `Conn`'s socket I/O). One task (the pump) reads the UART when it is readable
(asyncio's I/O queue on MicroPython, or a ThreadSafeFlag set from the UART's RX-idle IRQ),
feeds the engine, and wakes exactly the tasks whose condition came true. Commands take
`lock`, so one command is on the UART at a time; a cancelled caller's procedure is finished
in the background, so the engine is always clean for the next command.
"""

import sys

try:
    import asyncio
except ImportError:  # older MicroPython
    import uasyncio as asyncio

from .conn import (
    BUFFER,
    MAX_READ,
    MAX_SEND,
    SOCK_DGRAM,
    SOCK_STREAM,
    WAIT,
    Conn,
    Op,
    byte_view,
    want,
)
from .engine import _name
from .modem import STAT_GOT_IP, STAT_NO_RESPONSE

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_MPY = sys.implementation.name == "micropython"
CancelledError = asyncio.CancelledError
_TICK_MS = 20  # while tasks wait, the timer looks this often (deadlines; pins have no URC)
# The Modem's lifecycle procedures: one runs at a time (see AModem._g_alone).
_ALONE = ("power_on", "power_off", "reset", "active", "connect", "disconnect", "check")

if _MPY:
    from asyncio import core as _core  # pyright: ignore  (MicroPython's asyncio internals)

    _sleep_ms = asyncio.sleep_ms
    _wait_for_ms = asyncio.wait_for_ms
else:

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def _wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)


class _Waiter:
    # One waiting task (AModem.until, _Drive): woken by the pump when its condition came
    # true, or by the timer when its deadline passed; with a stream `s` (MicroPython only),
    # by asyncio's I/O queue once s is readable. Reused, and on MicroPython awaited as
    # itself (the protocol of asyncio's own sleep_ms), so a wait allocates nothing.
    def __init__(self, s=None):
        self.s = s
        self.cond = None
        self.deadline = None
        self.flag = False
        self.task = None
        if _MPY:
            self._stop = StopIteration()
        else:
            self.ev = asyncio.Event()

    def set(self):
        self.flag = True
        if _MPY:
            t = self.task
            if t is not None:
                self.task = None
                _core._task_queue.push(t)
        else:
            self.ev.set()

    def wait(self):
        # An awaitable: returns once set() was called (and clears the flag).
        if _MPY:
            return self
        return self._ev_wait()

    async def _ev_wait(self):
        await self.ev.wait()
        self.ev.clear()
        self.flag = False

    def __iter__(self):
        return self

    def __next__(self):
        if self.flag:
            self.flag = False
            self.task = None
            self._stop.__traceback__ = None
            raise self._stop
        if self.s is None:
            t = self.task = _core.cur_task
            t.data = self  # a cancel finds the task here (remove)
        else:
            self.flag = True  # resumed only once s is readable
            _core._io_queue.queue_read(self.s)

    def remove(self, task):
        self.task = None


_GO = const(0)  # _Drive.kind: step now
_LOCK = const(1)  # wait for the UART lock
_SLEEP = const(2)  # sleep ms
_COND = const(3)  # wait until cond() or ms
_DONE = const(4)


class _Drive:
    # Runs a generator procedure (see ATEngine.run) or a data-path Op (quectel.conn) without
    # blocking the loop, as an awaitable. The UART lock is taken for a step that starts a
    # command and kept until a step leaves the engine idle; URC waits and sleeps happen
    # without it. A cancelled caller's procedure, once started, is finished by a task of its
    # own, then `rescue(result, arg)` undoes or keeps what it did.
    #
    # On MicroPython it is awaited as itself (__next__, throw: the protocol of asyncio's own
    # sleep_ms and Lock): an Op's driver is reused, so a chunk allocates nothing. The result
    # leaves in a StopIteration kept for the last value (a chunk's count repeats).

    def __init__(self, am, rescue=None):
        self.am = am
        self.rescue = rescue
        self.w = None  # the _Waiter while kind is _COND (MicroPython)
        self._stop = None  # the StopIteration of the last result, and that result
        self._stop_v = None

    def start(self, gen, arg=None, then=None):
        # `then(result)`, if given, makes the result (or raises) once the procedure is done.
        self.op = gen if isinstance(gen, Op) else None
        self.gen = gen
        self.arg = arg
        self.then = then
        self.res = None
        self.held = False
        self.started = False
        self.again = False  # a finishing task takes over the wait that was interrupted
        self.kind = _GO
        return self

    def _release(self):
        if self.held:
            self.held = False
            self.am.lock.release()

    def _advance(self):
        # Steps until the procedure must wait (returns the kind) or is done (_DONE, value).
        am = self.am
        op = self.op
        while True:
            if not self.held:
                lock = am.lock
                if not _MPY or lock.state != 0:
                    return _LOCK
                lock.state = 1  # free: taken at once (MicroPython's Lock: 0 free, 1 taken)
                self.held = True
            try:
                if op is not None:
                    r = op.step(self.res)
                    cond, ms = op.wcond, op.wms
                else:
                    cond, ms = self.gen.send(self.res)
                    r = WAIT
            except StopIteration as e:
                r = e.value
            except BaseException:  # noqa: B036 (leave the engine idle and the lock free)
                if op is not None:
                    op.stop()
                self._release()
                raise
            if r != WAIT:
                self._release()
                then = self.then
                self.value = r if then is None else then(r)
                return _DONE
            self.started = True
            if not am.at.busy:
                self._release()
            self.cond = cond
            self.ms = ms
            if cond is None:
                return _SLEEP
            self.res = cond()
            if not self.res:
                return _COND

    def _cancelled(self):
        # The awaiting task was cancelled: finish a started procedure in a task of its own.
        am = self.am
        if self.w is not None:
            am._unpark(self.w)
            self.w = None
        if _MPY and self.kind == _LOCK and am.lock.state is _core.cur_task:
            am.lock.state = 1  # handed to us just before the cancel
            self.held = True
            self.kind = _GO
        if not self.started:
            gen = self.gen
            if isinstance(gen, Op):
                gen.stop()
            else:
                gen.close()
            self._release()
            return
        self.again = self.kind != _GO
        asyncio.create_task(_finish(self, self.rescue, self.arg))

    # MicroPython: awaited as itself.

    def __iter__(self):
        return self

    def __next__(self):
        am = self.am
        k = self.kind
        if self.again:  # a finishing task: wait again as the cancelled one did
            self.again = False
        else:
            if k == _LOCK:
                am.lock.state = 1  # handed to this task by release()
                self.held = True
            elif k == _SLEEP:
                self.res = True
            elif k == _COND:
                self.res = self.cond()
                if self.res or am._expired(self.w):
                    am._unpark(self.w)
                    self.w = None
                    k = _GO
            if k != _COND:  # else woken for nothing: wait again
                k = self.kind = self._advance()
        if k == _DONE:
            v = self.value
            if self._stop is None or v != self._stop_v:
                self._stop = StopIteration(v)
                self._stop_v = v
            self._stop.__traceback__ = None
            raise self._stop
        t = _core.cur_task
        if k == _LOCK:
            q = am.lock.waiting
            q.push(t)
            t.data = q
        elif k == _SLEEP:
            _core._task_queue.push(t, _core.ticks_add(_core.ticks(), max(0, self.ms // am.speed)))
        else:
            w = self.w
            if w is None:
                w = self.w = am._park(self.cond, self.ms)
            w.task = t
            t.data = w

    def throw(self, exc):
        self._cancelled()
        raise exc

    # CPython: a generator over asyncio's own primitives.

    def __await__(self):
        am = self.am
        try:
            if not self.again:
                self.kind = self._advance()
            self.again = False
            while self.kind != _DONE:
                k = self.kind
                if k == _LOCK:
                    yield from am.lock.acquire().__await__()
                    self.held = True
                elif k == _SLEEP:
                    yield from am.sleep(self.ms).__await__()
                    self.res = True
                else:
                    self.res = yield from am.until(self.cond, self.ms).__await__()
                self.kind = self._advance()
            return self.value
        except CancelledError:
            self._cancelled()
            raise


async def _finish(d, rescue, arg):
    try:
        v = await d
    except Exception:  # nobody is waiting for the error
        return
    if rescue is not None:
        await rescue(v, arg)


class AModem:
    """Awaitable calls over a `Modem`. Create it (and the Modem) before the loop runs or in a
    task; the pump task starts on the first call.

    Every procedure of the Modem is here as an awaitable of the same name and arguments
    (`await am.connect("internet")`, `await am.signal()`, `await am.ping(host)`, ...);
    lifecycle ones (power_on, power_off, reset, active, connect, disconnect, check) run one
    at a time.

    `rx_flag`: a `ThreadSafeFlag` that the application sets from the UART's RX-idle IRQ, for
    boards whose UART asyncio cannot poll; the pump then also looks every `rx_poll_ms`.
    `on_change(state, reason)` is called on every interface state change; `up` is an
    `asyncio.Event` set while the data connection is up, `down` one set while it is not.
    """

    def __init__(self, modem, on_change=None, rx_flag=None, rx_poll_ms=20, wchunk=256):
        self.modem = modem
        self.at = modem.at
        self.clock = modem.clock
        self.speed = max(1, int(getattr(self.clock, "speed", 1)))
        self.lock = asyncio.Lock()  # one command on the UART at a time
        self._alone = False  # a lifecycle procedure runs (see _g_alone)
        self._alone_free = self._alone_done  # bound once
        self._trouble = asyncio.Event()  # wakes the supervisor
        self.up = asyncio.Event()
        self.down = asyncio.Event()
        self.on_change = on_change
        self.rx_flag = rx_flag
        self.rx_poll_ms = rx_poll_ms
        self.rx_count = 0  # times the pump found bytes
        modem.at.wchunk = wchunk  # a UART write blocks the loop for its air time
        self._waiting = []  # the _Waiter of every waiting task (until, _Drive)
        self._spare = []  # _Waiters to reuse
        self._some = asyncio.Event()  # someone waits: the timer runs
        self._pump_task = None
        self._timer_task = None
        self._sup = None
        self._prev_change = modem.on_change
        modem.on_change = self._changed
        self._changed(modem.state, modem.reason, False)

    @property
    def command_name(self):
        """The command on the UART, or None (diagnostics, tests)."""
        at = self.at
        return _name(at.cmd) if at.busy and at.cmd is not None else None

    # ---- state -----------------------------------------------------------------------------

    def _changed(self, state, reason, call=True):
        if state == STAT_GOT_IP:
            self.up.set()
            self.down.clear()
        else:
            self.up.clear()
            self.down.set()
            self._trouble.set()
        self._wake()
        if call:
            if self._prev_change:
                self._prev_change(state, reason)
            if self.on_change:
                self.on_change(state, reason)

    def status(self):
        """The interface state (a STAT_* value of quectel.modem)."""
        return self.modem.state

    def isconnected(self):
        return self.modem.isconnected()

    # ---- the pump and the waiters ----------------------------------------------------------

    def start(self):
        """Start the pump and timer tasks (done by every call; idempotent)."""
        if self._pump_task is None:
            self._pump_task = asyncio.create_task(self._pump())
            self._timer_task = asyncio.create_task(self._timer())

    async def stop(self):
        """Stop the background tasks (the supervisor too)."""
        for t in (self._pump_task, self._timer_task, self._sup):
            if t is not None:
                t.cancel()
        self._pump_task = self._timer_task = self._sup = None
        await _sleep_ms(0)

    def _wake(self):
        # Wake the tasks whose condition is now true, and only those.
        for w in self._waiting:
            if w.cond():
                w.set()

    async def _timer(self):
        # Deadlines and conditions nobody announces (pins), for the waiting tasks only.
        clock = self.clock
        while True:
            if not self._waiting:
                self._some.clear()
                await self._some.wait()
            await _sleep_ms(_TICK_MS)
            now = clock.ticks_ms()
            for w in self._waiting:
                if w.cond() or (w.deadline is not None and clock.ticks_diff(now, w.deadline) >= 0):
                    w.set()

    async def _pump(self):
        at = self.at
        flag = self.rx_flag
        readable = _Waiter(at.uart)
        while True:
            got = False
            for _ in range(4):  # a bounded amount of work per wake-up
                try:
                    if not at.poll():
                        break
                except Exception:  # a bad line must not stop the pump
                    at.garbage += 1
                got = True
            if got:
                self.rx_count += 1
                self._wake()
                await _sleep_ms(0)
            elif flag is not None:
                try:
                    await _wait_for_ms(flag.wait(), self.rx_poll_ms)
                except asyncio.TimeoutError:
                    pass
            elif _MPY:
                await readable
            else:  # CPython: no I/O queue for a UART stand-in
                await _sleep_ms(2)

    async def until(self, cond, timeout_ms=None):
        """Wait until cond() is true or timeout_ms (module clock; None: no limit) passed.
        Returns cond()."""
        if cond():
            return True
        w = self._park(cond, timeout_ms)
        try:
            while not cond():
                if self._expired(w):
                    return False
                await w.wait()
        finally:
            self._unpark(w)
        return True

    def _park(self, cond, timeout_ms):
        self.start()
        clock = self.clock
        w = self._spare.pop() if self._spare else _Waiter()
        w.cond = cond
        w.deadline = None if timeout_ms is None else clock.ticks_add(clock.ticks_ms(), timeout_ms)
        w.flag = False
        self._waiting.append(w)
        self._some.set()
        return w

    def _expired(self, w):
        clock = self.clock
        return w.deadline is not None and clock.ticks_diff(clock.ticks_ms(), w.deadline) >= 0

    def _unpark(self, w):
        self._waiting.remove(w)
        w.cond = None
        self._spare.append(w)

    def sleep(self, ms):
        """asyncio sleep for ms of module-clock time."""
        return _sleep_ms(ms // self.speed)

    # ---- driving procedures ----------------------------------------------------------------

    def _drive(self, gen, rescue=None, arg=None):
        """An awaitable that runs a generator procedure or a data-path Op (see _Drive)."""
        return _Drive(self, rescue).start(gen, arg)

    def _g_alone(self, gen):
        # One lifecycle procedure (connect, check, ...) at a time. A cancelled caller's
        # procedure is finished in the background (see _Drive) and keeps the others out.
        while self._alone:
            yield (self._alone_free, 1 << 28)
        self._alone = True
        try:
            return (yield from gen)
        finally:
            self._alone = False

    def _alone_done(self):
        return not self._alone

    # ---- the Modem's procedures, awaitable ------------------------------------------------

    def __getattr__(self, name):
        # `await am.<name>(...)` runs the Modem's generator procedure `g_<name>` (see
        # Modem.__getattr__): one driver for all of them, lifecycle ones one at a time.
        g = getattr(self.modem, "g_" + name)
        if name in _ALONE:
            return lambda *a, **kw: self._run(self._g_alone(g(*a, **kw)))
        return lambda *a, **kw: self._run(g(*a, **kw))

    async def _run(self, gen):
        # A coroutine (for create_task, wait_for) that drives gen.
        return await self._drive(gen)

    def supervise(self, period_ms=5000):
        """Run `check()` as a task: every period_ms (module clock) and at once when the state
        drops (pdpdeact, restart, no answer). Returns the task; `stop()` ends it."""
        if self._sup is None:
            self._sup = asyncio.create_task(self._supervise(period_ms))
        return self._sup

    async def _supervise(self, period_ms):
        while True:
            self._trouble.clear()
            try:
                await self.check()
            except Exception:  # never let the supervisor die of a driver fault
                self.modem.set_state(STAT_NO_RESPONSE, "supervisor error")
            try:
                await _wait_for_ms(self._trouble.wait(), max(1, period_ms // self.speed))
            except asyncio.TimeoutError:
                pass

    # ---- sockets ---------------------------------------------------------------------------

    def socket(self, type=SOCK_STREAM, rxbuf=1500):
        """An unopened `ASocket` (SOCK_STREAM or SOCK_DGRAM)."""
        return ASocket(self, type, rxbuf)

    async def open_connection(self, host, port, rxbuf=1500, ssl=None):
        """TCP to (host, port): (reader, writer), both the one `ASocket` (as MicroPython's
        asyncio streams are one object). `ssl`: a quectel.tls.SSLContext: TLS in the module
        (AT+QSSLOPEN straight away; the certificate is checked against `host`)."""
        s = ASocket(self, SOCK_STREAM, rxbuf)
        if ssl is None:
            await s.connect((host, port))
        else:
            await s._open(ssl.g_open(s.c, host, port))
        return s, s

    async def start_server(self, callback, port, backlog=5, allow=None):
        """A TCP LISTENER on `port`; `callback(reader, writer)` runs as a task per client.
        `allow`: remote IPs accepted (others are closed). Returns a `Server`."""
        s = ASocket(self, SOCK_STREAM)
        s.c.allow = allow
        await s.bind(("0.0.0.0", port))
        await s.listen(backlog)
        return Server(s, callback)

    async def udp(self, port=0):
        """A UDP SERVICE socket bound to local `port` (0: the module chooses):
        `await s.sendto(data, (ip, port))`, `await s.recvfrom()`."""
        s = ASocket(self, SOCK_DGRAM)
        await s.bind(("0.0.0.0", port))
        return s


class Server:
    """What `AModem.start_server` returns: `close()`, `await wait_closed()`, `async with`."""

    def __init__(self, sock, callback):
        self.sock = sock
        self.port = sock.c.local
        self._cb = callback
        self.clients = 0
        self.task = asyncio.create_task(self._serve())

    async def _serve(self):
        while True:
            st, _ = await self.sock.accept()
            self.clients += 1
            asyncio.create_task(self._cb(st, st))

    def close(self):
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def wait_closed(self):
        await self.sock.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
        await self.wait_closed()


class ASocket:
    """The asyncio front of a `Conn` (buffer access mode): the socket calls as coroutines
    (connect, bind, listen, accept, recv, recv_into, recvfrom, send, sendall, sendto), and
    MicroPython's asyncio `Stream` calls (read, readinto, readexactly, readline, write,
    drain, close, wait_closed, get_extra_info), so one object is reader and writer."""

    def __init__(self, am, type=SOCK_STREAM, rxbuf=1500, conn=None):
        self.am = am
        self.c = conn or Conn(am.modem, type, BUFFER, rxbuf)
        self._out = None  # what write() queued beyond the connection's send buffer
        self._rdrive = _Drive(am, self._unread)  # the data path's drivers, reused
        self._wdrive = _Drive(am)
        self._flushed = self.c.flushed  # bound once

    @property
    def remote(self):
        return self.c.remote

    def get_extra_info(self, name):
        if name == "peername":
            return self.c.remote
        raise ValueError(name)

    # ---- opening ---------------------------------------------------------------------------

    async def connect(self, address):
        """Open TCP (or UDP) to (host, port); the module resolves names."""
        await self._open(self.c.g_connect(address))

    async def bind(self, address):
        """Choose the local port; a UDP socket opens its UDP SERVICE on it."""
        await self._open(self.c.g_bind(address))

    async def listen(self, backlog=5):
        """Open the TCP LISTENER on the bound port; clients queue for `accept()`."""
        await self._open(self.c.g_listen())

    def _open(self, gen):
        return self.am._drive(gen, self._abandoned)

    async def _abandoned(self, _, __):
        await self.am._drive(self.c.g_close())  # opened for a caller that was cancelled

    async def accept(self):
        """Wait for a client: (ASocket, (ip, port)). Clients not in `allow` are closed."""
        child = await self.am._drive(self.c.g_accept())
        return ASocket(self.am, conn=child), child.remote

    # ---- receiving -------------------------------------------------------------------------

    def recv_into(self, buf, nbytes=0):
        """Awaitable: up to nbytes (default and at most len(buf)) bytes into buf; 0 at EOF.
        The read's Op is driven directly: no coroutine of its own per call."""
        rd = self.c.rd
        n = want(buf, nbytes)
        if rd.op or not n:
            return self._recv_after(buf, n)
        rd.recv(buf, n)
        return self._rdrive.start(rd, buf)

    async def _recv_after(self, buf, n):
        if not n:
            return 0
        await self.am.until(self.c.rd.free)  # a cancelled read is still finishing
        return await self.recv_into(buf, n)

    readinto = recv_into

    async def _unread(self, got, buf):
        # A cancelled read was finished in the background: what it read goes back to the
        # front of the stream, so nothing is lost.
        if got:
            c = self.c
            c.ring(c.rxsize).unread(buf, got)

    async def recv(self, n=MAX_READ):
        buf = bytearray(n)
        k = await self.recv_into(buf, n)
        return bytes(buf) if k == n else bytes(memoryview(buf)[:k])

    async def recvfrom(self, n=MAX_READ, timeout_ms=None):
        """The next datagram (cut to n bytes) and its sender; ETIMEDOUT after timeout_ms."""
        c = self.c
        c.timeout = timeout_ms
        data = await self.recv(n)
        return data, c.sender or c.remote

    async def read(self, n=-1):
        """Up to n bytes (b"" at EOF); n=-1 reads until EOF."""
        if n >= 0:
            return await self.recv(n) if n else b""
        out = bytearray()
        chunk = bytearray(MAX_READ)
        while True:
            k = await self.recv_into(chunk)
            if not k:
                return bytes(out)
            out.extend(memoryview(chunk)[:k])

    async def readexactly(self, n):
        out = bytearray(n)
        mv = memoryview(out)
        got = 0
        while got < n:
            k = await self.recv_into(mv[got:], n - got)
            if not k:
                raise EOFError
            got += k
        return bytes(out)

    async def readline(self):
        """Up to and including b"\n", or what is left at EOF."""
        c = self.c
        rx = c.ring(c.rxsize)
        out = bytearray()
        while not c.take_line(out):
            k = await self.recv_into(rx.buf)
            if not k:
                break
            rx.w = k
        return bytes(out)

    # ---- sending ---------------------------------------------------------------------------

    def write(self, buf):
        """Queue buf (copied) in the connection's send buffer; `drain()` sends it, as asyncio
        streams do (one writer task at a time, as theirs)."""
        c = self.c
        mv = c.sendable(buf)
        if self._out is None and c.queued + len(mv) <= MAX_SEND:
            c.keep(mv, 0, len(mv))
        elif self._out is None:
            self._out = bytearray(mv)
        else:
            self._out.extend(mv)

    def drain(self):
        """Awaitable: send what `write()` queued. The common case (all of it in the
        connection's send buffer) drives the send's Op directly: nothing is allocated."""
        c = self.c
        if self._out is not None or c.wr.op:
            return self._drain()
        if not c.queued:
            return _sleep_ms(0)
        c.wr.send(c.txmv, 0, c.queued)
        return self._wdrive.start(c.wr, None, self._flushed)

    async def _drain(self):
        c = self.c
        if c.queued:
            c.flushed(await self._send_all(c.txmv, 0, c.queued))
        out = self._out
        if out is not None:
            self._out = None
            sent = await self._send_all(memoryview(out), 0, len(out))
            if sent < len(out):
                self._out = out[sent:]
                raise self.c.timed_out()

    def _send_all(self, mv, off, n, addr=None):
        # An awaitable: the count sent. The Op is driven directly (one coroutine object a
        # send) unless a cancelled send is still finishing.
        wr = self.c.wr
        if wr.op:
            return self._send_after(mv, off, n, addr)
        wr.send(mv, off, n, addr)
        return self._wdrive.start(wr)

    async def _send_after(self, mv, off, n, addr):
        await self.am.until(self.c.wr.free)
        return await self._send_all(mv, off, n, addr)

    async def send(self, buf):
        """One datagram (UDP client) or up to 1460 bytes (TCP); returns the count sent."""
        c = self.c
        mv = c.sendable(buf)
        n = min(len(mv), MAX_SEND)
        if n and not await self._send_all(mv, 0, n):
            raise c.timed_out()
        return n

    async def sendall(self, buf):
        c = self.c
        mv = c.sendable(buf)
        if await self._send_all(mv, 0, len(mv)) < len(mv):
            raise c.timed_out()

    async def sendto(self, buf, address):
        """Send one datagram (<= 1460 bytes) to (ip, port) from a UDP SERVICE."""
        c = self.c
        mv = byte_view(buf)
        addr = c.dest(mv, address)
        if c.cid < 0:
            await self.bind(("0.0.0.0", 0))
        c.check()
        if await self._send_all(mv, 0, len(mv), None if c.service == "UDP" else addr) < len(mv):
            raise c.timed_out()
        return len(mv)

    # ---- closing ---------------------------------------------------------------------------

    def close(self):
        """Nothing yet: `await wait_closed()` sends what is queued and closes (as streams)."""

    async def wait_closed(self):
        """Send what is queued, then AT+QICLOSE: when this returns, the module has closed
        the connection."""
        c = self.c
        try:
            if (c.queued or self._out is not None) and c.cid >= 0 and not c.dead:
                await self.drain()
        finally:  # a send that failed (the peer reset) still frees the connect ID
            self._out = None
            c.queued = 0
            await self.am._drive(c.g_close())

    async def aclose(self):
        """close() and wait_closed() in one."""
        await self.wait_closed()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.wait_closed()
