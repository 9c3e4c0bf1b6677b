"""Access modes of an open connection, loaded on first use: transparent mode (section 1.2)
and the switches between modes (AT+QISWTMD, section 2.9) for a `Conn`.

While a connection is transparent the UART carries only its payload; `g_leave` ends the mode
with a DTR pulse (when wired, AT&D1) or `+++` between guard times; `g_resume` goes back.
"""

import errno

from .conn import BUFFER, MAX_READ, PUSH, TRANSPARENT
from .errors import ATTimeout, QuectelError, oserror

_SILENCE_MS = 1000  # section 1.2: 1 s of silence before and after "+++"
_GUARD_MS = 1100  # the silence we keep: _SILENCE_MS with a margin
_LEAVE_MS = 5000  # how long the module may take to answer OK after the guard time
_RING = 2048  # ours: the least receive ring of a transparent connection
_DTR_PULSE_MS = 100  # ours: how long DTR is dropped to leave the mode (AT&D1)
_NO_CARRIER = b"\r\nNO CARRIER\r\n"
_OK_LINE = b"\r\nOK\r\n"
_QUIET_MS = 100  # ours: silence after NO CARRIER before we believe it ended the mode
_CARRIER_LOST = 2  # Scanner.ended: the module ended the mode (NO CARRIER)
_LEFT = 1  # Scanner.ended: our leave was answered


class Scanner:
    """Splits the UART's bytes in transparent mode: payload goes to `sink.data_in` until a
    mode-ending marker:
    - after our +++/DTR (once its guard time has passed, see `leaving`) the module's "OK":
      what follows it is command-mode output (URCs) and is parsed as lines again;
    - "NO CARRIER" followed by quiet or by a URC ("\r\n+").
    A marker seen anywhere else is payload. An end of the buffer that may be the start of a
    marker is held until more bytes come or the line stays quiet."""

    def __init__(self, sink, clock):
        self.sink = sink
        self.clock = clock
        self.ended = 0  # _LEFT or _CARRIER_LOST once the mode is over
        self._leave_at = None
        self._quiet_n = -1  # rx count when a possible marker was first held at the end, and
        self._quiet_t = 0  # when: the line is quiet once no byte came for _QUIET_MS since

    def leaving(self, after_ms):
        """We asked to leave (+++ or DTR): accept the module's `OK` once after_ms have passed."""
        self._leave_at = self.clock.ticks_add(self.clock.ticks_ms(), after_ms)

    def feed(self, buf, mv, r, w, rx_count):
        """Deliver the payload in buf[r:w] (mv: its memoryview); returns the index up to
        which the bytes are consumed. `rx_count` counts the bytes received so far."""
        clock = self.clock
        now = clock.ticks_ms()
        e = w  # payload ends here
        end = 0
        resume = w
        leaving = self._leave_at is not None and clock.ticks_diff(now, self._leave_at) >= 0
        if leaving:
            i = buf.find(_OK_LINE, r, w)
            if i >= 0:
                e, end, resume = i, _LEFT, i + len(_OK_LINE)
        j = buf.find(_NO_CARRIER, r, e)
        while j >= 0 and not end:
            after = j + len(_NO_CARRIER)
            if after == w or w - after < 3:
                e = j  # hold it: quiet decides
                if after == w and self._quiet(now, rx_count):
                    end, resume = _CARRIER_LOST, w
                break
            if buf[after] == 13 and buf[after + 1] == 10 and buf[after + 2] == 43:
                e, end, resume = j, _CARRIER_LOST, after
                break
            j = buf.find(_NO_CARRIER, j + 1, w)
        if not end and e == w:
            hold = _tail(buf, _NO_CARRIER, r, w)
            if leaving:
                hold = max(hold, _tail(buf, _OK_LINE, r, w))
            if hold and not self._quiet(now, rx_count):
                e = w - hold
        if e > r:
            self.sink.data_in(mv, r, e)
            r = e
        if end:
            self.ended = end
            return resume
        return r

    def _quiet(self, now, rx_count):
        # True once no byte has arrived for _QUIET_MS. Counted in bytes received, not by
        # where the buffer ends: a later marker at the same index is news, not old silence.
        if self._quiet_n != rx_count:
            self._quiet_n = rx_count
            self._quiet_t = now
            return False
        return self.clock.ticks_diff(now, self._quiet_t) >= _QUIET_MS


def _tail(buf, marker, r, w):
    # Length of the longest end of buf[r:w] that is a beginning of marker.
    k = min(len(marker), w - r)
    while k:
        i = 0
        while i < k and buf[w - k + i] == marker[i]:
            i += 1
        if i == k:
            return k
        k -= 1
    return 0


def begin(c):
    """The connection is about to enter the mode (CONNECT is awaited)."""
    c.ring(max(c.rxsize, _RING))
    c.mode = TRANSPARENT
    c.eof = False
    c.t_last = c.modem.clock.ticks_ms()  # the command line was input too
    c.pluses = -1


def _g_drained(c):
    # Until the UART has sent everything: silence on the line only starts then.
    uart = c.modem.uart
    if hasattr(uart, "txdone"):
        while not uart.txdone():
            yield (None, 1)
    elif hasattr(uart, "flush"):
        uart.flush()
    c.t_last = c.modem.clock.ticks_ms()


def raw_write(c, mv, off, n):
    """Payload straight to the UART; 0, or the ms to wait before writing the last byte.
    "+++" is an escape only after 1 s of silence, alone within 1 s, then 1 s of silence
    (section 1.2): a write that would complete one has all but its last '+' written, and the
    caller writes that one after the wait, so the three are more than 1 s apart."""
    clock = c.modem.clock
    now = clock.ticks_ms()
    if clock.ticks_diff(now, c.t_last) >= _SILENCE_MS:
        c.pluses = 0
        c.plus_since = now
    if c.pluses >= 0:
        i = 0
        while i < n and c.pluses + i < 4 and mv[off + i] == 43:
            i += 1
        if i == n and c.pluses + i == 3:
            if n > 1:
                _write(c, mv, off, n - 1)
            c.t_last = clock.ticks_ms()
            c.pluses = -1
            return max(1, _GUARD_MS - clock.ticks_diff(c.t_last, c.plus_since))
        if i < n or c.pluses + i > 3:
            c.pluses = -1
        else:
            c.pluses += i
    _write(c, mv, off, n)
    c.t_last = clock.ticks_ms()
    return 0


def _write(c, mv, off, n):
    # The connection ended (NO CARRIER) while we wrote: the rest would reach the module as
    # commands, so it is not written.
    if c.modem.at.write(mv, off, n) < n:
        raise oserror(errno.ECONNRESET)


def g_leave(c):
    """Leave the mode; the connection stays open in buffer access mode and the payload that
    arrived meanwhile is kept. The guard time before `+++` starts once the UART has sent
    everything written. Escalation: DTR (when wired, AT&D1), then `+++` with twice the
    guard time, then a module reset by its RESET pin (every connection is lost: ECONNABORTED).
    Without a RESET pin the UART stays in data mode (ETIMEDOUT): no command is ever
    written into the connection's data."""
    m = c.modem
    at = m.at
    if c.mode != TRANSPARENT or not at.data_mode:
        raise oserror(errno.EINVAL)
    clock = m.clock
    dtr = m.dtr
    for attempt in range(2):
        yield from _g_drained(c)
        if dtr is not None and not attempt:
            _leaving(at, 0)  # AT&D1: the OK answers the DTR edge at once
            dtr.set(False)
            yield (None, _DTR_PULSE_MS)
            dtr.set(True)
        else:
            # A retry doubles the silence: the module may have heard less than we kept.
            guard = _GUARD_MS << attempt
            yield (None, guard - clock.ticks_diff(clock.ticks_ms(), c.t_last))
            t = clock.ticks_ms()
            at.write(b"+++")
            yield from _g_drained(c)
            # The module answers OK 1 s after the last '+' reached it, so not before 1 s
            # after the write: an OK sooner is payload. Counted from the write, so that a
            # slow drain here cannot make us take the real OK for payload.
            _leaving(at, _SILENCE_MS - clock.ticks_diff(clock.ticks_ms(), t))
        if (yield (_done(at), _LEAVE_MS)):
            c.mode = BUFFER
            c.avail = True  # anything later waits in the module for AT+QIRD
            return
    if m.reset_pin is None:
        m.set_state(m.state, "transparent mode did not end")
        raise oserror(errno.ETIMEDOUT)
    yield from m.g_reset()  # the only way left to get the UART back for commands
    m.set_state(m.state, "transparent mode did not end: module reset")
    raise oserror(errno.ECONNABORTED)


def _leaving(at, after_ms):
    sc = at.scanner
    if sc is not None:  # else the carrier was lost meanwhile: the mode is over already
        sc.leaving(after_ms)


def _done(at):
    return lambda: not at.data_mode


def g_resume(c):
    """Back to the mode: `ATO` if this connection left it last, else `AT+QISWTMD=<id>,2`
    (both answer CONNECT, section 2.9)."""
    c.check()
    yield from _g_drain(c)
    begin(c)
    m = c.modem
    cmd = b"ATO" if m.last_transparent is c else b"AT+QISWTMD=%d,2" % c.cid
    try:
        yield from m.g_command(cmd, b"-", None, sink=c)
    except QuectelError:
        c.mode = BUFFER
        raise


def g_set_mode(c, mode):
    """Switch the access mode of an open connection (AT+QISWTMD, section 2.9)."""
    if mode not in (BUFFER, PUSH, TRANSPARENT):
        raise ValueError("mode must be BUFFER, PUSH or TRANSPARENT")
    if c.ssl:
        raise oserror(errno.EOPNOTSUPP)  # TLS links keep the mode they were opened in
    m = c.modem
    if mode == TRANSPARENT:
        m.last_transparent = None
        yield from g_resume(c)
        return
    if c.mode == TRANSPARENT and m.at.data_mode:
        yield from g_leave(c)
    c.check()
    if mode == PUSH and c.mode == BUFFER:
        yield from _g_drain(c)  # what waits in the module is not pushed: take it first
    yield from m.g_command(b"AT+QISWTMD=%d,%d" % (c.cid, mode), b"")
    c.mode = mode
    if mode == BUFFER:
        c.avail = True  # anything that arrived meanwhile waits in the module


def _g_drain(c):
    # Move what the module holds for c into its ring (before a mode switch).
    m = c.modem
    at = m.at
    rx = c.ring(c.rxsize)
    chunk = bytearray(MAX_READ)
    c.avail = True
    while c.avail:
        c.avail = False
        at.begin_read(c.cid, chunk, MAX_READ)
        if not (yield (at.finished_fn, m.policy.at_ms)):
            at.abort()
            raise c.fail(ATTimeout("AT+QIRD", m.policy.at_ms))
        if at.needs_reason(b"AT+QIRD"):
            raise (yield from at.g_reason(b"AT+QIRD"))
        k = at.end_read()
        c.avail = k == MAX_READ
        rx.put(chunk, 0, k)
