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
lifecycle, `Conn`'s socket I/O). One task (the pump) feeds the engine from the UART and wakes
the tasks whose condition came true. Commands take `lock`, so one command is on the UART at a
time; a cancelled caller's procedure is finished in the background, so the engine is always
clean for the next command.

Only asyncio's public API is used (Event, ThreadSafeFlag, sleep_ms, wait_for_ms,
create_task and a stream's readinto), in one code path on MicroPython and CPython; only what
the pump waits on while nothing happens depends on the port (see AModem._pump).

While a command is answered or data flows, the pump and the waiting tasks look every
millisecond, which allocates nothing; after 20 ms without a byte from the UART they park (the
pump on the UART's readiness, a task on an Event): one coroutine object per long wait.
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


CancelledError = asyncio.CancelledError
_TICK_MS = 20  # while tasks are parked, the timer looks this often (deadlines; pins have no URC)
_LOOK_MS = 1  # while a command is answered or data flows, how often the pump and waiters look
_LOOKING_MS = 20  # ... and for how long without news (module clock), before they park
_STEPS_IN_A_ROW = 16  # a procedure's steps without a wait, before other tasks get a turn
_NO_SOURCE_MS = 2  # idle, the pump looks this often where it can wait on nothing (CPython)
# The Modem's lifecycle procedures: one runs at a time (see AModem._g_alone).
_ALONE = ("power_on", "power_off", "reset", "active", "connect", "disconnect", "check")

try:
    _sleep_ms = asyncio.sleep_ms  # MicroPython: a sleep allocates nothing
    _wait_for_ms = asyncio.wait_for_ms
except AttributeError:  # CPython

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def _wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)


class _Waiter:
    # A parked task's Event, and the condition and deadline (module clock) that the pump and
    # the timer set it for; also a place in the UART lock's queue. Pooled (AModem._waiter).
    def __init__(self):
        self.ev = asyncio.Event()
        self.cond = None
        self.deadline = None


class _UartLock:
    """One command on the UART at a time, handed to its waiters in order: `release()` makes
    the first one the owner and sets its Event."""

    def __init__(self):
        self.owner = None  # the _Waiter that holds it
        self.queue = []

    def locked(self):
        return self.owner is not None

    def release(self):
        q = self.queue
        w = self.owner = q.pop(0) if q else None
        if w is not None:
            w.ev.set()


_BEGIN = const(0)  # _Job.kind: begin the Op (once the one before it is done)
_GO = const(1)  # step now
_SLEEP = const(2)  # sleep ms, then step
_SLEPT = const(3)
_COND = const(4)  # wait until cond() or the deadline, then step
_LOCK = const(5)  # queued for the UART lock


class _Job:
    # A generator procedure (see ATEngine.run) or a data-path Op (quectel.conn) being driven,
    # and where it stands: when its caller is cancelled, a task of its own finishes it from
    # there. Pooled (AModem._job), so a chunk allocates none. The driver begins an Op, not
    # the caller: a task cancelled before it ran has claimed nothing.

    def start(self, gen, then=None, rescue=None):
        # then(result) makes the result (or raises) once done; rescue(result, buf) undoes or
        # keeps what a cancelled caller's procedure did, once finished (None or an awaitable).
        self.op = gen if isinstance(gen, Op) else None
        self.gen = gen
        self.then = then
        self.rescue = rescue
        self.res = None  # what the next step is told: whether its condition came true
        self.held = None  # the _Waiter that holds the UART lock or waits for it
        self.begun = False  # the Op is begun (it is this job's)
        self.started = False  # a step ran: a command of it may be on the UART
        self.kind = _GO
        self.cond = None
        self.ms = 0
        self.deadline = None
        self.looking = None  # the time until which it looks before it parks
        self.parked = None  # its _Waiter while parked
        self.steps = 0  # steps without a wait in between
        self.value = None
        self.buf = None
        return self

    def read(self, op, buf, n, rescue):
        # Op.recv(buf, n), begun by the driver.
        self.start(op, None, rescue)
        self.kind = _BEGIN
        self.reading = True
        self.buf = buf
        self.n = n
        return self

    def send(self, op, mv, off, n, addr=None, then=None):
        # Op.send(mv, off, n, addr), begun by the driver.
        self.start(op, then)
        self.kind = _BEGIN
        self.reading = False
        self.buf = mv
        self.off = off
        self.n = n
        self.addr = addr
        return self

    def begin(self):
        op = self.op
        if self.reading:
            op.recv(self.buf, self.n)
        else:
            op.send(self.buf, self.off, self.n, self.addr)
        self.begun = True

    def clear(self):
        # Done: keep no procedure, buffer or result alive while pooled.
        self.gen = self.op = self.buf = self.cond = self.value = None
        self.then = self.rescue = None
        return self


async def _nothing_read():
    return 0


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
        self.lock = _UartLock()
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
        self._rx = None  # MicroPython: the UART as an asyncio stream, for the pump's idle wait
        if rx_flag is None and sys.implementation.name == "micropython":
            try:
                self._rx = asyncio.StreamReader(modem.at.uart)
            except AttributeError:  # a port without asyncio streams (WebAssembly): it looks
                pass
        self._nothing = bytearray(0)  # what the pump's idle wait reads: it only waits
        self._pump_looking = None  # the time until which the pump looks (None: it waits)
        self._waiting = []  # the _Waiter of every parked task
        self._spare = []  # _Waiters to reuse
        self._jobs = []  # _Jobs to reuse
        self._some = asyncio.Event()  # someone is parked: the timer runs
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
        # Wake the parked tasks whose condition is now true, and only those.
        for w in self._waiting:
            if w.cond():
                w.ev.set()

    async def _timer(self):
        # Deadlines and conditions nobody announces (pins), for the parked tasks only.
        clock = self.clock
        while True:
            if not self._waiting:
                self._some.clear()
                await self._some.wait()
            await _sleep_ms(_TICK_MS)
            now = clock.ticks_ms()
            for w in self._waiting:
                if w.cond() or (w.deadline is not None and clock.ticks_diff(now, w.deadline) >= 0):
                    w.ev.set()

    async def _pump(self):
        at = self.at
        flag = self.rx_flag
        while True:
            got = False
            for _ in range(4):  # a bounded amount of work per round
                try:
                    if not at.poll():
                        break
                except Exception:  # a bad line must not stop the pump
                    at.garbage += 1
                got = True
            if got:
                self._pump_looking = self._deadline(_LOOKING_MS)
                self.rx_count += 1
                self._wake()
                await _sleep_ms(0)
                continue
            if self._late(self._pump_looking):
                self._pump_looking = None
            if self._pump_looking is not None or at.uart.any():
                # Bytes came a moment ago (an answer's next part or the next chunk may
                # follow), or the engine leaves bytes in the UART for now (a marker's start
                # in transparent mode): look again in a millisecond, allocating nothing.
                await _sleep_ms(_LOOK_MS)
            elif flag is not None:  # then wait for what the port can wait on
                try:
                    await _wait_for_ms(flag.wait(), self.rx_poll_ms)
                except asyncio.TimeoutError:
                    pass
            elif self._rx is not None:
                await self._rx.readinto(self._nothing)  # returns once the UART is readable
            else:
                await _sleep_ms(_NO_SOURCE_MS)

    async def until(self, cond, timeout_ms=None):
        """Wait until cond() is true or timeout_ms (module clock; None: no limit) passed.
        Returns cond()."""
        if cond():
            return True
        deadline = self._deadline(timeout_ms)
        self.start()
        w = self._park(cond, deadline)
        try:
            while not cond():
                if self._late(deadline):
                    return False
                await w.ev.wait()
                w.ev.clear()
            return True
        finally:
            self._unpark(w)

    def _park(self, cond, deadline):
        # A waiter the pump and the timer set once cond() or the deadline came.
        w = self._waiter()
        w.cond = cond
        w.deadline = deadline
        self._waiting.append(w)
        self._some.set()
        return w

    def _unpark(self, w):
        self._waiting.remove(w)
        w.cond = None
        self._spare.append(w)

    def _waiter(self):
        w = self._spare.pop() if self._spare else _Waiter()
        w.ev.clear()
        return w

    def _flowing(self):
        # Whether the UART had bytes in the last _LOOKING_MS (the pump looks meanwhile).
        p = self._pump_looking
        return p is not None and not self._late(p)

    def _deadline(self, ms):
        clock = self.clock
        return None if ms is None else clock.ticks_add(clock.ticks_ms(), ms)

    def _late(self, deadline):
        clock = self.clock
        return deadline is not None and clock.ticks_diff(clock.ticks_ms(), deadline) >= 0

    def sleep(self, ms):
        """asyncio sleep for ms of module-clock time."""
        return _sleep_ms(ms // self.speed)

    # ---- driving procedures ----------------------------------------------------------------

    def _run(self, gen):
        """A coroutine (for await, create_task, wait_for) that drives gen (see _drive)."""
        return self._drive(self._job().start(gen))

    def _job(self):
        return self._jobs.pop() if self._jobs else _Job()

    async def _drive(self, j):
        # Runs job j to its end and returns its result: a small coroutine, as the data path
        # allocates one per chunk; the state is in j (see _next).
        self.start()
        try:
            while True:
                aw = self._next(j)
                if aw is None:
                    v = j.value
                    self._jobs.append(j.clear())
                    return v
                await aw
        except CancelledError:
            self._cancelled(j)
            raise
        except BaseException:  # noqa: B036 (_step left the engine idle)
            self._drop(j)
            raise

    def _next(self, j):
        # Advances j as far as it goes without waiting: None once done (the result in
        # j.value), else what to await first. The UART lock is taken for a step that starts
        # a command and kept until the command's answer is collected; URC waits and sleeps
        # happen without it.
        lock = self.lock
        while True:
            k = j.kind
            if k == _BEGIN:
                op = j.op
                if op.op:  # a cancelled caller's read or send still finishing
                    return self._hold(j, op.free, None)
                self._unhold(j)
                j.begin()
                j.kind = _GO
                continue
            if k == _SLEEP:
                j.kind = _SLEPT
                return _sleep_ms(j.ms // self.speed)
            if k == _SLEPT:
                j.res = True
                j.steps = 0
            elif k == _COND:
                cond = j.cond
                if not cond() and not self._late(j.deadline):
                    if not self._late(j.looking) or self._flowing():
                        return _sleep_ms(_LOOK_MS)
                    return self._hold(j, cond, j.deadline)
                self._unhold(j)
                j.res = cond()
                j.steps = 0
            elif k == _LOCK:
                if lock.owner is not j.held:
                    return j.held.ev.wait()
            elif j.steps >= _STEPS_IN_A_ROW:  # let the other tasks run
                j.steps = 0
                return _sleep_ms(0)
            j.kind = _GO
            if j.held is None:
                w = j.held = self._waiter()
                if lock.owner is None and not lock.queue:
                    lock.owner = w
                else:
                    lock.queue.append(w)
                    j.kind = _LOCK
                    return w.ev.wait()  # release() makes w the owner
            j.steps += 1
            if self._step(j):
                return None

    def _hold(self, j, cond, deadline):
        # What parks j until cond() or the deadline.
        w = j.parked
        if w is None:
            w = j.parked = self._park(cond, deadline)
        else:
            w.ev.clear()
        return w.ev.wait()

    def _unhold(self, j):
        w = j.parked
        if w is not None:
            j.parked = None
            self._unpark(w)

    def _cancelled(self, j):
        # j's caller was cancelled: a started procedure is finished by a task of its own,
        # from where it stood (a sleep again in full); else nothing of it stays.
        self._unhold(j)
        if j.kind == _LOCK:
            self._let_go(j)  # leave the lock's queue
            j.kind = _GO
        elif j.kind == _SLEPT:
            j.kind = _SLEEP
        if not j.started:
            if j.begun:
                j.op.stop()
            elif j.op is None:
                j.gen.close()
            self._drop(j)
        else:
            asyncio.create_task(self._finish(j))

    def _drop(self, j):
        self._unhold(j)
        self._let_go(j)
        self._jobs.append(j.clear())

    def _step(self, j):
        # One step of j, with the UART lock held: True once done (the result in j.value);
        # else j.kind and its wait are set.
        op = j.op
        try:
            if op is not None:
                r = op.step(j.res)
                cond, ms = op.wcond, op.wms
            else:
                cond, ms = j.gen.send(j.res)
                r = WAIT
        except StopIteration as e:
            r = e.value
        except BaseException:  # noqa: B036 (leave the engine idle and the lock free)
            if op is not None:
                op.stop()
            self._let_go(j)
            raise
        if r != WAIT:
            self._let_go(j)
            j.value = r if j.then is None else j.then(r)
            return True
        j.started = True
        if self.at.collected:  # a finished command's answer is the job's until collected
            self._let_go(j)
        j.res = None
        if cond is None:
            j.kind = _SLEEP
            j.ms = ms
        elif cond():
            j.res = True
        else:
            j.kind = _COND
            j.cond = cond
            j.deadline = self._deadline(ms)
            j.looking = self._deadline(_LOOKING_MS)
        return False

    def _let_go(self, j):
        # j gives up the UART lock, or its place in the lock's queue.
        w = j.held
        if w is None:
            return
        j.held = None
        lock = self.lock
        if lock.owner is w:
            lock.release()
        else:
            lock.queue.remove(w)
        self._spare.append(w)

    async def _finish(self, j):
        # Finishes the procedure of a cancelled caller, then its rescue.
        rescue = j.rescue
        buf = j.buf
        try:
            v = await self._drive(j)
        except Exception:  # nobody is waiting for the error
            return
        if rescue is not None:
            aw = rescue(v, buf)
            if aw is not None:
                await aw

    def _g_alone(self, gen):
        # One lifecycle procedure (connect, check, ...) at a time. A cancelled caller's
        # procedure is finished in the background (see _drive) and keeps the others out.
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
        self._flushed = self.c.flushed  # bound once
        self._unread_fn = self._unread

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
        am = self.am
        return am._drive(am._job().start(gen, None, self._abandoned))

    def _abandoned(self, _, __):
        return self.am._run(self.c.g_close())  # opened for a caller that was cancelled

    async def accept(self):
        """Wait for a client: (ASocket, (ip, port)). Clients not in `allow` are closed."""
        am = self.am
        child = await am._drive(am._job().start(self.c.g_accept(), None, self._unwanted))
        return ASocket(am, conn=child), child.remote

    def _unwanted(self, child, _):
        return self.am._run(child.g_close())  # accepted for a caller that was cancelled

    # ---- receiving -------------------------------------------------------------------------

    def recv_into(self, buf, nbytes=0):
        """Awaitable: up to nbytes (default and at most len(buf)) bytes into buf; 0 at EOF.
        The read's Op is driven directly: one coroutine (the driver's) per call."""
        n = want(buf, nbytes)
        if not n:
            return _nothing_read()
        am = self.am
        return am._drive(am._job().read(self.c.rd, buf, n, self._unread_fn))

    readinto = recv_into

    def _unread(self, got, buf):
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
        connection's send buffer) drives the send's Op directly: one coroutine, the driver's."""
        c = self.c
        if self._out is not None:
            return self._drain()
        if not c.queued:
            return _sleep_ms(0)
        am = self.am
        return am._drive(am._job().send(c.wr, c.txmv, 0, c.queued, None, self._flushed))

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
        # An awaitable: the count sent. The Op is driven directly (the driver's coroutine).
        am = self.am
        return am._drive(am._job().send(self.c.wr, mv, off, n, addr))

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
            await self.am._run(c.g_close())

    async def aclose(self):
        """close() and wait_closed() in one."""
        await self.wait_closed()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.wait_closed()
