"""Transparent access mode (section 1.2) for a `Conn`: loaded on first use.

While a connection is transparent the UART carries only its payload; `g_leave` ends the mode
with a DTR pulse (when wired, AT&D1) or `+++` between guard times; `g_resume` goes back.
"""

import errno

from .conn import BUFFER, TRANSPARENT
from .errors import QuectelError, oserror

_GUARD_MS = 1100  # section 1.2: 1 s of silence before and after "+++" (with a margin)
_LEAVE_MS = 5000  # how long the module may take to answer OK after the guard time


def begin(c):
    """The connection is about to enter the mode (CONNECT is awaited)."""
    c.ring(max(c.rxsize, 2048))
    c.mode = TRANSPARENT
    c.eof = False
    c.t_last = c.modem.clock.ticks_ms()  # the command line was input too
    c.plus = -1


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
    if clock.ticks_diff(now, c.t_last) >= 1000:
        c.plus = 0
        c.plus_t = now
    if c.plus >= 0:
        i = 0
        while i < n and c.plus + i < 4 and mv[off + i] == 43:
            i += 1
        if i == n and c.plus + i == 3:
            if n > 1:
                _write(c, mv, off, n - 1)
            c.t_last = clock.ticks_ms()
            c.plus = -1
            return max(1, _GUARD_MS - clock.ticks_diff(c.t_last, c.plus_t))
        if i < n or c.plus + i > 3:
            c.plus = -1
        else:
            c.plus += i
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
    dtr = m._dtr
    for attempt in range(2):
        yield from _g_drained(c)
        if dtr is not None and not attempt:
            at.leaving(0)  # AT&D1: the OK answers the DTR edge at once
            dtr.set(False)
            yield (None, 100)
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
            at.leaving(1000 - clock.ticks_diff(clock.ticks_ms(), t))
        if (yield (_done(at), _LEAVE_MS)):
            c.mode = BUFFER
            c.avail = True  # anything later waits in the module for AT+QIRD
            return
    if m._reset is None:
        m._set(m.state, "transparent mode did not end")
        raise oserror(errno.ETIMEDOUT)
    yield from m.g_reset()  # the only way left to get the UART back for commands
    m._set(m.state, "transparent mode did not end: module reset")
    raise oserror(errno.ECONNABORTED)


def _done(at):
    return lambda: not at.data_mode


def g_resume(c):
    """Back to the mode: `ATO` if this connection left it last, else `AT+QISWTMD=<id>,2`
    (both answer CONNECT, section 2.9)."""
    c.check()
    yield from c.g_drain()
    begin(c)
    m = c.modem
    cmd = b"ATO" if m.last_transparent is c else b"AT+QISWTMD=%d,2" % c.cid
    try:
        yield from m.g_command(cmd, b"-", None, sink=c)
    except QuectelError:
        c.mode = BUFFER
        raise
