"""asyncio front: the whole stack as awaitables, without blocking the event loop.

    import asyncio
    from quectel import Modem
    from quectel.aio import AModem

    am = AModem(Modem.for_board(board))
    async def main():
        await am.connect("internet")          # QIACT may take 150 s: other tasks keep running
        am.supervise()                         # recovery rules as a task; watch am.up
        r, w = await am.open_connection("example.com", 80)

One task (the pump) reads the UART when it is readable (asyncio's I/O queue on MicroPython,
or a ThreadSafeFlag set from the UART's RX-idle IRQ) and feeds the engine, which dispatches
answers and URCs. Commands take `lock`, so one command is on the UART at a time. A command
runs in its own task: a cancelled caller leaves it to finish (the late answer is consumed as
its own, then the lock is released), so the engine is always clean for the next command.

TCP sockets are streams for `asyncio.StreamReader`: a reader task moves data from the module
(`AT+QIRD`) into the socket's receive buffer, a writer task sends the transmit buffer
(`AT+QISEND`); `ioctl` reports readiness from those buffers, so asyncio's poll never waits on
the UART itself.
"""

import errno
import sys

try:
    import asyncio
except ImportError:  # older MicroPython
    import uasyncio as asyncio

from .engine import SEND_FAIL, _name
from .errors import (
    ATTimeout,
    QuectelError,
)
from .modem import (
    STAT_GOT_IP,
    STAT_IDLE,
    STAT_NO_RESPONSE,
)
from .sock import (
    _POLLERR,
    _POLLHUP,
    _POLLIN,
    _POLLOUT,
    AF_INET,
    BUFFER,
    MAX_READ,
    MAX_SEND,
    SOCK_DGRAM,
    SOCK_STREAM,
    Socket,
    _err,
    os_error,
)
from .validate import check_port, check_text

_MPY = sys.implementation.name == "micropython"
CancelledError = asyncio.CancelledError

if _MPY:
    from asyncio import core as _core  # pyright: ignore  (MicroPython's asyncio internals)

    def _io_read(s):  # awaitable: resumes when s is readable
        yield _core._io_queue.queue_read(s)

    def _io_write(s):
        yield _core._io_queue.queue_write(s)

    _sleep_ms = asyncio.sleep_ms
    _wait_for_ms = asyncio.wait_for_ms
else:

    def _sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def _wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)


class AModem:
    """Awaitable calls over a `Modem`. Create it (and the Modem) before the loop runs or in a
    task; the pump and watchdog tasks start on the first call.

    `rx_flag`: a `ThreadSafeFlag` that the application sets from the UART's RX-idle IRQ, for
    boards whose UART asyncio cannot poll; the pump then also looks every `rx_poll_ms`.
    `on_change(state, reason)` is called on every interface state change; `up` is an
    `asyncio.Event` set while the data connection is up, `down` one set while it is not.
    """

    def __init__(self, modem, on_change=None, rx_flag=None, rx_poll_ms=20, tick_ms=20,
                 wchunk=256):  # fmt: skip
        self.modem = modem
        self.at = modem.at
        self.clock = modem.clock
        self.policy = modem.policy
        self.speed = max(1, int(getattr(self.clock, "speed", 1)))
        self.lock = asyncio.Lock()  # one command on the UART at a time
        self._life = asyncio.Lock()  # one lifecycle operation (connect, check, ...) at a time
        self._kinds = {}  # URC kind -> Lock: one ping / ntp / DNS query at a time
        self._ev = asyncio.Event()  # "something happened": bytes came in, or a tick
        self._trouble = asyncio.Event()  # wakes the supervisor
        self.up = asyncio.Event()
        self.down = asyncio.Event()
        self.on_change = on_change
        self.rx_flag = rx_flag
        self.rx_poll_ms = rx_poll_ms
        self.tick_ms = tick_ms
        self.wchunk = wchunk  # UART write piece: a piece may block the loop for its air time
        self.rx_count = 0  # times the pump found bytes
        self._waiters = 0
        self._tasks = None
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
        self._kick()
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

    # ---- the pump --------------------------------------------------------------------------

    def start(self):
        """Start the pump and watchdog tasks (done by every call; idempotent)."""
        if self._tasks is None:
            self._tasks = (asyncio.create_task(self._pump()), asyncio.create_task(self._watch()))

    async def stop(self):
        """Stop the background tasks (the supervisor too)."""
        tasks = self._tasks or ()
        if self._sup is not None:
            tasks += (self._sup,)
        self._tasks = self._sup = None
        for t in tasks:
            t.cancel()
        await _sleep_ms(0)

    def _kick(self):
        # Wake every task waiting for progress; they re-check their conditions.
        self._ev.set()
        self._ev.clear()

    async def _pump(self):
        at = self.at
        uart = at._uart
        flag = self.rx_flag
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
                self._kick()
                await _sleep_ms(0)
            elif flag is not None:
                try:
                    await _wait_for_ms(flag.wait(), self.rx_poll_ms)
                except asyncio.TimeoutError:
                    pass
            elif _MPY:
                await _io_read(uart)
            else:  # CPython (tests): no I/O queue for a UART stand-in
                await _sleep_ms(2)

    async def _watch(self):
        # Timeouts and conditions nobody announces (pins, back-off) are re-checked each tick.
        while True:
            await _sleep_ms(self.tick_ms)
            if self._waiters:
                self._kick()

    async def until(self, cond, timeout_ms=None):
        """Wait until cond() is true or timeout_ms (module clock; None: no limit) passed.
        Returns cond()."""
        self.start()
        clock = self.clock
        t0 = clock.ticks_ms()
        while not cond():
            if timeout_ms is not None and clock.ticks_diff(clock.ticks_ms(), t0) >= timeout_ms:
                return cond()
            self._waiters += 1
            try:
                await self._ev.wait()
            finally:
                self._waiters -= 1
        return True

    def sleep(self, ms):
        """asyncio sleep for ms of module-clock time."""
        return _sleep_ms(ms // self.speed)

    # ---- commands --------------------------------------------------------------------------

    async def _job(self, coro, abandon=None):
        # Run coro in its own task and wait for it. A cancelled caller leaves the task to
        # finish (so a command is never cut off mid-answer); `abandon(result)` then undoes
        # what it achieved (e.g. closes a socket nobody will use).
        self.start()
        box = [None, None, False, False]  # result, exception, done, abandoned
        ev = asyncio.Event()

        async def run():
            try:
                box[0] = await coro
            except BaseException as e:  # noqa: B036 (handed to the caller)
                box[1] = e
            box[2] = True
            ev.set()
            if box[3] and abandon is not None and box[1] is None:
                await abandon(box[0])

        asyncio.create_task(run())
        try:
            await ev.wait()
        except CancelledError:
            if box[2]:  # finished, but we were cancelled before we could take the result
                if abandon is not None and box[1] is None:
                    asyncio.create_task(abandon(box[0]))
            else:
                box[3] = True
            raise
        if box[1] is not None:
            raise box[1]
        return box[0]

    async def _drive(self, gen, locked=False):
        # Run a generator procedure of Modem or ATEngine (see ATEngine.run) without blocking
        # the loop: the same code the blocking calls run. The UART lock is taken for a step
        # that starts a command and kept until a step leaves the engine idle; URC waits and
        # sleeps happen without it. `locked`: the caller holds the lock already.
        at = self.at
        held = locked
        res = None
        try:
            while True:
                if not held:
                    await self.lock.acquire()
                    held = True
                try:
                    cond, ms = gen.send(res)
                except StopIteration as e:
                    return e.value
                if not locked and not at.busy:
                    self.lock.release()
                    held = False
                if cond is None:
                    await self.sleep(ms)
                    res = True
                else:
                    res = await self.until(cond, ms)
        finally:
            if held and not locked:
                self.lock.release()

    def _run(self, gen):
        # A procedure as a job: a cancelled caller leaves it to finish (see _job).
        return self._job(self._drive(gen))

    async def _finish(self, cmd, timeout_ms):
        # Lock held: wait for the final result (or the send prompt).
        at = self.at
        if not await self.until(at.finished, timeout_ms):
            at.abort()
            self.modem._set(STAT_NO_RESPONSE, "no answer")
            raise ATTimeout(_name(cmd), timeout_ms)

    async def _end(self, cmd):
        # Lock held: interpret the result; ERROR of a TCP/IP command asks AT+QIGETERROR.
        at = self.at
        if at.needs_reason(cmd):
            raise await self._drive(at.g_reason(cmd), locked=True)
        return at.end(cmd)

    async def command(self, cmd, info=None, timeout_ms=None):
        """Run an AT command (bytes, no CR): its information lines, as `Modem.command`."""
        return await self._run(self.modem._c(cmd, info, timeout_ms))

    async def _read(self, cid, dst, maxlen, timeout_ms=None):
        # AT+QIRD into dst (a memoryview the caller owns for as long as this runs).
        async with self.lock:
            at = self.at
            at.begin_read(cid, dst, maxlen)
            await self._finish(b"AT+QIRD", timeout_ms or self.policy.at_ms)
            got = at.count
            await self._end(b"AT+QIRD")
            return got

    async def _send(self, cid, src, off, n, addr=None, timeout_ms=None):
        # One fixed-length AT+QISEND; False for SEND FAIL (module buffer full).
        timeout_ms = timeout_ms or self.policy.at_ms
        async with self.lock:
            at = self.at
            at.begin_send(cid, n, addr)
            await self._finish(b"AT+QISEND", timeout_ms)
            if at.prompted:
                at.sending()
                await self._write(src, off, n)
                await self._finish(b"AT+QISEND", timeout_ms)
            if at.result == SEND_FAIL:
                at.abort()
                return False
            await self._end(b"AT+QISEND")
            return True

    async def _write(self, buf, off, n):
        # The payload, in pieces, yielding between them (a UART write blocks for air time).
        at = self.at
        uart = at._uart
        if at.trace:
            at.trace(">", bytes(buf[off : off + n]))
        end = off + n
        while off < end:
            k = uart.write(buf, off, min(self.wchunk, end - off))
            if k:
                off += k
            if off < end:
                if _MPY and not k:
                    await _io_write(uart)
                else:
                    await _sleep_ms(0 if k else 1)

    def _one(self, key, gen):
        # One ping / NTP / DNS query at a time: their URCs share a collector in the Modem.
        # The lock is taken inside the job, so a cancelled caller's query keeps it until its
        # last URC came, and the next query never sees stale replies.
        lock = self._kinds.get(key)
        if lock is None:
            lock = self._kinds[key] = asyncio.Lock()

        async def locked():
            async with lock:
                return await self._drive(gen)

        return self._job(locked())

    # ---- power, bring-up, recovery: the Modem's own procedures, awaited --------------------

    async def _life_run(self, gen):
        async with self._life:  # one lifecycle operation (connect, check, ...) at a time
            return await self._run(gen)

    async def power_on(self):
        """Power the module up (PWRKEY pulse if it is off), then apply our settings."""
        await self._life_run(self.modem._power_on())

    async def power_off(self):
        """`AT+QPOWD=1`, then wait for POWERED DOWN (or STATUS) up to 12 s."""
        await self._life_run(self.modem._power_off())

    async def reset(self):
        """Reboot the module (RESET pin, power cycle, or AT+CFUN=1,1)."""
        await self._life_run(self.modem._reset_g())

    async def connect(self, apn="", user="", key="", auth=None, restarts=None, sim_pin=None):
        """Bring the data connection up as `Modem.connect` does, without blocking the loop."""
        await self._life_run(self.modem._connect(apn, user, key, auth, restarts, sim_pin))

    async def disconnect(self):
        """Close every socket and deactivate the PDP context."""
        async with self._life:
            for s in self.modem.sockets:
                if s is not None:
                    if isinstance(s, ASocket):
                        await s.aclose()
                    else:
                        s.close()
            await self._run(self.modem._deactivate())
            self.modem._set(STAT_IDLE)

    async def check(self):
        """One step of `Modem.check()`'s recovery rules, awaitable. True while connected."""
        if self.modem._apn is None:
            return False
        return await self._life_run(self.modem._check())

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
                self.modem._set(STAT_NO_RESPONSE, "supervisor error")
            try:
                await _wait_for_ms(self._trouble.wait(), max(1, period_ms // self.speed))
            except asyncio.TimeoutError:
                pass

    # ---- network utilities -----------------------------------------------------------------

    async def ping(self, host, timeout=1, count=4):
        """AT+QPING, as `Modem.ping`: (replies, summary or failure code)."""
        return await self._one("ping", self.modem._ping(host, timeout, count))

    async def ntp(self, server, port=123, rtc=None, set_module=False):
        """AT+QNTP, as `Modem.ntp`: ((y, m, d, h, mi, s), zone_minutes); sets `rtc` if given."""
        return await self._one("ntp", self.modem._ntp(server, port, rtc, set_module))

    async def resolve(self, host):
        """Every IPv4 address of host (AT+QIDNSGIP), cached for the DNS TTL."""
        return await self._one("dnsgip", self.modem._resolve(host))

    async def signal(self):
        """(rssi_dbm, ber), as `Modem.signal`."""
        return await self._run(self.modem._signal())

    async def operator(self):
        """The registered network's name, as `Modem.operator`."""
        return await self._run(self.modem._operator())

    async def getaddrinfo(self, host, port, af=0, type=0, proto=0, flags=0):
        """Like socket.getaddrinfo: [(AF_INET, type, proto, '', (ip, port)), ...]."""
        check_port(port)
        return [(AF_INET, type or SOCK_STREAM, proto, "", (ip, port))
                for ip in await self.resolve(host)]  # fmt: skip

    # ---- sockets ---------------------------------------------------------------------------

    def socket(self, type=SOCK_STREAM, rxbuf=2048, txbuf=2048):
        """An unopened `ASocket` (SOCK_STREAM or SOCK_DGRAM)."""
        return ASocket(self, type, rxbuf, txbuf)

    async def open_connection(self, host, port, rxbuf=2048, txbuf=2048):
        """TCP to (host, port): (reader, writer) asyncio streams over a module socket."""
        s = ASocket(self, SOCK_STREAM, rxbuf, txbuf)
        await s.connect((host, port))
        st = stream(s)
        return st, st

    async def start_server(self, callback, port, backlog=5, allow=None):
        """A TCP LISTENER on `port`; `callback(reader, writer)` runs as a task per client.
        `allow`: remote IPs accepted (others are closed). Returns a `Server`."""
        s = ASocket(self, SOCK_STREAM, 0, 0)
        s.allow = allow
        await s.listen(port, backlog)
        return Server(self, s, callback)

    async def udp(self, port=0):
        """A UDP SERVICE socket bound to local `port` (0: the module chooses):
        `await s.sendto(data, (ip, port))`, `await s.recvfrom()`."""
        s = ASocket(self, SOCK_DGRAM, 1500, 0)
        await s.bind(("0.0.0.0", port))
        return s


def stream(s):
    """An asyncio stream (reader and writer in one, as MicroPython's) over an `ASocket`."""
    if _MPY:
        return asyncio.StreamReader(s, {"peername": s.remote})
    return _Stream(s)


class Server:
    """What `AModem.start_server` returns: `close()`, `await wait_closed()`, `async with`."""

    def __init__(self, am, sock, callback):
        self.am = am
        self.sock = sock
        self.port = sock._local
        self._cb = callback
        self.clients = 0
        self.task = asyncio.create_task(self._serve())

    async def _serve(self):
        while True:
            child, _ = await self.sock.accept()
            self.clients += 1
            st = stream(child)
            asyncio.create_task(self._cb(st, st))

    def close(self):
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self.sock.close()

    async def wait_closed(self):
        await self.am.until(lambda: self.sock.cid < 0)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
        await self.wait_closed()


class ASocket(Socket):
    """A module socket for asyncio (buffer access mode). TCP: a pollable stream (`read`,
    `readinto`, `readline` and `write` never block; `ioctl` reports readiness) for
    `asyncio.StreamReader`; UDP: `await sendto()`, `await recvfrom()`, `await send()`."""

    def __init__(self, am, type=SOCK_STREAM, rxbuf=2048, txbuf=2048):
        Socket.__init__(self, am.modem, AF_INET, type, 0, BUFFER, max(rxbuf, 1))
        self.am = am
        self._rbuf = bytearray(rxbuf) if rxbuf else None
        self._tbuf = bytearray(txbuf) if txbuf else None
        self._ts = 0
        self._te = 0
        self._closing = False
        self._error = None  # errno that ended the connection
        self._starved = False  # a reader found nothing: re-ask the module now and then
        self._reading = False  # an AT+QIRD is on its way
        self._dgram = -1  # UDP: length of the datagram waiting in _rbuf
        self._writing = False  # the writer task runs (it closes the socket when asked)
        self._sending = False  # _tbuf[_ts:] is on its way to the UART: do not move it

    # ---- opening ---------------------------------------------------------------------------

    async def connect(self, address):
        """Open TCP (or UDP) to (host, port); the module resolves names."""
        if self.cid >= 0:
            raise _err(106)  # EISCONN: not in every port's errno
        host, port = address
        host = check_text(host, "host", 253)
        check_port(port)
        self._require_up()
        self.remote = (host, port)
        await self._aopen("TCP" if self.type == SOCK_STREAM else "UDP", host, port, self._local)

    async def bind(self, address):
        """UDP: open a UDP SERVICE on the local port."""
        self._local = check_port(address[1])
        if self.type == SOCK_DGRAM:
            self._require_up()
            await self._aopen("UDP SERVICE", "127.0.0.1", 0, self._local)

    async def listen(self, port, backlog=5):
        """Open a TCP LISTENER on port; clients queue for `accept()`."""
        self._local = check_port(port)
        self._require_up()
        await self._aopen("TCP LISTENER", "127.0.0.1", 0, self._local)

    async def _aopen(self, service, host, rport, lport):
        await self.am._job(self._open_job(service, host, rport, lport), self._abandoned)
        if self.type == SOCK_STREAM and service != "TCP LISTENER":
            self._start()

    async def _abandoned(self, _):
        await self.aclose()  # opened for a caller that was cancelled meanwhile

    def _open_job(self, service, host, rport, lport):
        return self.am._drive(self._g_open(service, host, rport, lport))

    def _start(self):
        self._writing = True
        asyncio.create_task(self._reader())
        asyncio.create_task(self._writer())

    def _incoming(self, cid, ip, port):
        # A listener's client (from the pump's URC dispatch): an ASocket with its own tasks.
        child = ASocket(self.am, SOCK_STREAM, 2048, 2048)
        child.cid = cid
        child.service = "TCP INCOMING"
        child.remote = (ip, port)
        self.modem.sockets[cid] = child
        self._queue.append(child)
        child._start()

    async def accept(self):
        """Wait for a client: (ASocket, (ip, port)). Clients not in `allow` are closed."""
        self._check()
        while True:
            await self.am.until(lambda: self._queue or self._dead or self.cid < 0)
            self._check()
            child = self._queue.pop(0)
            if self.allow is None or child.remote[0] in self.allow:
                return child, child.remote
            await child.aclose()

    # ---- the data pumps (TCP) --------------------------------------------------------------

    async def _reader(self):
        # Module -> _rbuf with AT+QIRD while there is room; then EOF or the error is left
        # for read() to report.
        am = self.am
        buf = self._rbuf
        mv = memoryview(buf)
        size = len(buf)
        try:
            while self.cid >= 0 and not self._dead and not self._closing:
                if self._rs == self._re:
                    self._rs = self._re = 0
                elif self._rs and size - self._re < MAX_READ:
                    buf[: self._re - self._rs] = mv[self._rs : self._re]
                    self._re -= self._rs
                    self._rs = 0
                room = size - self._re
                if self._avail and room:
                    n = min(room, MAX_READ)
                    self._avail = False  # a "recv" URC during the read sets it again
                    self._reading = True  # not EOF yet: this read may bring data
                    try:
                        got = await am._read(self.cid, mv[self._re : self._re + n], n)
                    finally:
                        self._reading = False
                    self._re += got
                    if got == n:
                        self._avail = True  # maybe more: a short read drained the module
                    continue
                if self._eof and not self._avail:
                    return
                ok = await am.until(lambda: (self._avail and self._re - self._rs < size)
                                    or self._eof or self._dead or self._closing
                                    or self.cid < 0, 1000)  # fmt: skip
                if not ok and self._starved and self._rs == self._re:
                    self._avail = True  # a "recv" URC may have been lost: ask
        except (QuectelError, OSError) as e:
            if not self._closing:
                self._error = os_error(e).errno
        finally:
            am._kick()

    async def _writer(self):
        # _tbuf -> module with AT+QISEND; then, once closing, AT+QICLOSE.
        am = self.am
        p = self.modem.policy
        clock = self.modem.clock
        try:
            while self.cid >= 0 and not self._dead and self._error is None:
                if self._te > self._ts:
                    n = min(self._te - self._ts, MAX_SEND)
                    t0 = clock.ticks_ms()
                    pause = 10
                    self._sending = True
                    try:
                        while not await am._send(self.cid, self._tbuf, self._ts, n):
                            if clock.ticks_diff(clock.ticks_ms(), t0) > p.at_ms:
                                raise _err(errno.ETIMEDOUT)
                            await am.sleep(pause)  # SEND FAIL: the module's buffer is full
                            pause = min(pause * 2, 500)
                    finally:
                        self._sending = False
                    self._ts += n
                    if self._ts == self._te:
                        self._ts = self._te = 0
                    continue
                if self._closing:
                    break
                await am.until(lambda: self._te > self._ts or self._closing or self._dead
                               or self.cid < 0 or self._error is not None)  # fmt: skip
        except (QuectelError, OSError) as e:
            self._error = os_error(e).errno
        self._writing = False
        if self._closing:
            await self._finish_close()
        am._kick()

    # ---- stream interface (never blocks) ---------------------------------------------------

    def _ready_rd(self):
        return (self._re > self._rs or self._dead or self._error is not None or self.cid < 0
                or self._at_eof() or self._queue or self._dgram >= 0)  # fmt: skip

    def _at_eof(self):
        return self._eof and not self._avail and not self._reading

    def _raise(self):
        if self._dead:
            raise _err(errno.ECONNABORTED)
        if self._error is not None:
            raise _err(self._error)
        raise _err(errno.EBADF)

    def readinto(self, buf, nbytes=0):
        n = nbytes or len(buf)
        if self._re > self._rs:
            k = min(n, self._re - self._rs)
            buf[:k] = memoryview(self._rbuf)[self._rs : self._rs + k]
            self._rs += k
            self._starved = False
            return k
        if self._at_eof():
            return 0
        if self._dead or self._error is not None or self.cid < 0:
            self._raise()
        self._starved = True
        return None

    def read(self, n=-1):
        if n < 0:
            n = max(1, self._re - self._rs)
        buf = bytearray(n)
        k = self.readinto(buf, n)
        if k is None:
            return None
        return bytes(buf) if k == n else bytes(memoryview(buf)[:k])

    def readline(self):
        if self._re > self._rs:
            i = self._rbuf.find(b"\n", self._rs, self._re)
            return self.read((self._re if i < 0 else i + 1) - self._rs)
        return self.read(1)

    def write(self, buf):
        """Copy into the transmit buffer: the count taken, None if it is full."""
        if self._dead or self._error is not None or self.cid < 0 or self._closing:
            self._raise()
        if self._eof:
            raise _err(errno.ECONNRESET)
        size = len(self._tbuf)
        if self._ts and size - self._te < len(buf) and not self._sending:
            t = self._tbuf
            t[: self._te - self._ts] = memoryview(t)[self._ts : self._te]
            self._te -= self._ts
            self._ts = 0
        k = min(len(buf), size - self._te)
        if not k:
            return None if len(buf) else 0
        self._tbuf[self._te : self._te + k] = memoryview(buf)[:k]
        self._te += k
        self.am._kick()
        return k

    def _poll(self, arg):
        # From the socket's own buffers only: the pump task feeds the engine.
        r = 0
        if arg & _POLLIN:
            if self._ready_rd():
                r |= _POLLIN
            else:
                self._starved = True
        if arg & _POLLOUT and (self._tbuf is None or self._te - self._ts < len(self._tbuf)
                               or self.cid < 0):  # fmt: skip
            r |= _POLLOUT
        if self._dead or self._error is not None:
            r |= _POLLERR
        if self._eof and not self._avail and self._re == self._rs:
            r |= _POLLHUP
        return r

    # ---- UDP -------------------------------------------------------------------------------

    async def sendto(self, buf, address):
        """Send one datagram (<= 1460 bytes) to (ip, port) from a UDP SERVICE."""
        host, port = address
        check_text(host, "host", 253)
        check_port(port)
        if self.cid < 0:
            await self.bind(("0.0.0.0", 0))
        return await self._dgram_send(buf, (host, port) if self.service != "UDP" else None)

    async def send(self, buf):
        """UDP client (after `connect`): one datagram."""
        return await self._dgram_send(buf, None)

    async def _dgram_send(self, buf, addr):
        self._check()
        if len(buf) > MAX_SEND:
            raise _err(90)  # EMSGSIZE: not in every port's errno
        am = self.am
        pause = 10
        t0 = am.clock.ticks_ms()
        while True:
            try:
                if await am._job(am._send(self.cid, buf, 0, len(buf), addr)):
                    return len(buf)
            except QuectelError as e:
                raise os_error(e)
            if am.clock.ticks_diff(am.clock.ticks_ms(), t0) > am.policy.at_ms:
                raise _err(errno.ETIMEDOUT)
            await am.sleep(pause)
            pause = min(pause * 2, 500)

    async def recvfrom(self, n=1500, timeout_ms=None):
        """The next datagram (cut to n bytes) and its sender; ETIMEDOUT after timeout_ms."""
        am = self.am
        t0 = am.clock.ticks_ms()
        while True:
            self._check()
            if self._dgram >= 0:
                k = min(n, self._dgram)
                self._dgram = -1
                return bytes(memoryview(self._rbuf)[:k]), self._from or self.remote
            if self._avail:
                try:
                    await am._job(self._fetch())
                except QuectelError as e:
                    raise os_error(e)
                continue
            left = None
            if timeout_ms is not None:
                left = timeout_ms - am.clock.ticks_diff(am.clock.ticks_ms(), t0)
                if left <= 0:
                    raise _err(errno.ETIMEDOUT)
            if not await am.until(lambda: self._avail or self._dead, min(left or 1000, 1000)):
                self._avail = True  # look now and then, in case a "recv" URC was lost

    async def recv(self, n=1500):
        return (await self.recvfrom(n))[0]

    async def _fetch(self):
        # One datagram into _rbuf (owned by the socket, so a cancelled reader loses nothing).
        if self._dgram >= 0 or not self._avail:
            return
        self._avail = False  # a "recv" URC during the read sets it again
        got = await self.am._read(self.cid, memoryview(self._rbuf), -1)
        if got:
            self._dgram = got
            self._from = self.am.at.remote
            self._avail = True

    # ---- closing ---------------------------------------------------------------------------

    def close(self):
        """Close when what was written has been sent (idempotent; see `aclose`)."""
        if self.cid < 0 or self._closing:
            return
        self._closing = True
        self.am._kick()
        if not self._writing:
            asyncio.create_task(self._finish_close())

    async def aclose(self):
        """Close and wait until the module closed the connection."""
        self.close()
        await self.am.until(lambda: self.cid < 0)

    async def _finish_close(self):
        if self.cid < 0:
            return
        if not self._dead:
            await self._qiclose_async()
        for child in self._queue:
            child.close()
        self._queue = []
        self._release()
        self._rs = self._re = self._ts = self._te = 0
        self.am._kick()

    def _qiclose_async(self):
        return self.am._run(self._g_qiclose())


class _Stream:
    """CPython stand-in for MicroPython's asyncio.Stream over an ASocket."""

    def __init__(self, s):
        self.s = s

    def get_extra_info(self, v):
        return {"peername": self.s.remote}[v]

    async def _ready(self):
        await self.s.am.until(self.s._ready_rd)

    async def read(self, n=-1):
        out = b""
        while True:
            await self._ready()
            r = self.s.read(n)
            if r is None:
                continue
            if n >= 0:
                return r
            if not r:
                return out
            out += r

    async def readinto(self, buf):
        await self._ready()
        return self.s.readinto(buf)

    async def readexactly(self, n):
        out = b""
        while n:
            await self._ready()
            r = self.s.read(n)
            if r is None:
                continue
            if not r:
                raise EOFError
            out += r
            n -= len(r)
        return out

    async def readline(self):
        out = b""
        while True:
            await self._ready()
            r = self.s.readline()
            if r is None:
                continue
            out += r
            if not r or out[-1] == 10:
                return out

    def write(self, buf):
        self._out = getattr(self, "_out", b"") + bytes(buf)

    async def drain(self):
        out = getattr(self, "_out", b"")
        mv = memoryview(out)
        off = 0
        s = self.s
        while off < len(out):
            await s.am.until(lambda: s.ioctl(3, _POLLOUT) & (_POLLOUT | _POLLERR))
            k = s.write(mv[off:])
            if k:
                off += k
        self._out = b""

    def close(self):
        self.s.close()

    async def wait_closed(self):
        self.s.close()
