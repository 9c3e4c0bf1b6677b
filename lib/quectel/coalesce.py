"""Write coalescing (loaded when a Modem is given a board timer): a small socket write that
follows the last within `ms` is queued in its connection's send buffer, and the queue goes
out in one AT+QISEND once no write came for `ms`, from the timer."""

try:
    from micropython import schedule
except ImportError:  # CPython: no timers, writes are never queued

    def schedule(f, arg):
        f(arg)


from .conn import MAX_SEND, SOCK_STREAM, TRANSPARENT


class Coalescer:
    """The timer and the rule that decides which writes wait for it."""

    def __init__(self, modem, timer, ms):
        self.modem = modem
        self.timer = timer
        self.ms = ms
        self._armed = False
        self._writing = False  # a socket is queueing a write: the timer must not flush now
        self._tick_cb = self._tick  # bound once: the timer allocates nothing
        self._due_cb = self.flush_due

    def takes(self, c, n):
        """Whether a write of n bytes to connection c waits for the timer: it follows the
        last write within `ms`, is small enough, and c is a stream in AT+QISEND modes."""
        clock = self.modem.clock
        return (clock.ticks_diff(clock.ticks_ms(), c.t_last) < self.ms and n < MAX_SEND - c.queued
                and c.type == SOCK_STREAM and c.mode != TRANSPARENT)  # fmt: skip

    def queue(self, c, mv, off, n):
        """Queue mv[off:off+n] for c; the timer sends it unless more comes."""
        self._writing = True
        c.keep(mv, off, n)
        self._writing = False
        self._arm()

    def _arm(self):
        if not self._armed:
            self._armed = True
            t = self.timer
            t.init(mode=t.ONE_SHOT, period=self.ms, callback=self._tick_cb)

    def _tick(self, _):
        try:
            schedule(self._due_cb, None)  # out of the timer's IRQ, into the main thread
        except RuntimeError:  # the schedule queue is full: try again later
            self._armed = False
            self._arm()

    def flush_due(self, _):
        """Send the queues that are due. Runs between two bytecodes of whatever the program
        does: only when no command runs or waits to have its answer collected, and no poll and no
        write is in progress; else a little later."""
        self._armed = False
        m = self.modem
        at = m.at
        if not at.collected or at.polling or self._writing:
            return self._arm()
        clock = m.clock
        for c in m.sockets:
            if c is not None and c.queued and not c.wr.op:  # not while a send of it backs off
                if clock.ticks_diff(clock.ticks_ms(), c.t_last) < self.ms:
                    self._arm()  # written to just now: wait for the rest
                    continue
                try:
                    at.run(c.g_flush())
                except OSError:
                    pass  # still queued; the socket's next call reports it
