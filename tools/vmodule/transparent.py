"""Transparent access mode: the session, the +++ escape, DTR, and uplink packetising."""

from .limits import GUARD_MS, PLUS, S_CONNECTED
from .reply import NO_CARRIER, OK


class Transparent:
    """cid: the connection in transparent mode (None: command mode); last: the one ATO resumes.

    m is the module: its connections (TCP/IP or SSL) and their IO, engine and fault layer.
    """

    def __init__(self, m):
        self.m = m
        self.reset()

    def reset(self):
        self.dtr_mode = 0  # AT&D
        self.pktsize = 1024  # AT+QICFG="transpktsize"
        self.waittm = 2  # AT+QICFG="transwaittm", 100 ms units
        self.cid = None
        self.last = None
        self.last_in = 0.0
        self.pp_count = 0  # '+' of a possible escape seen so far
        self._pp_t0 = 0.0
        self._pp_timer = None
        self._pkt = bytearray()
        self._pkt_timer = None

    def resumable(self):
        """The connection ATO returns to, or None."""
        c = self.m.conn(self.last)
        if c is None or c.state != S_CONNECTED or c.sock is None:
            return None
        return c

    def forget(self, cid):
        """Connection cid was closed by the host."""
        if self.last == cid:
            self.last = None

    def enter(self, c):
        m = self.m
        m.engine.state = "idle"
        self.cid = c.cid
        c.mode = 2
        self.last_in = m.loop.now_ms()
        self.pp_count = 0
        self._pkt = bytearray()
        for data in c.take_buffered():  # whatever was buffered goes out first
            m.faults.emit(data)
        c.armed = True
        # bytes typed after the command line are payload
        typed = m.engine.take_input()
        if typed:
            self.input(typed, self.last_in)
        m.io_of(c).update(c)

    def dtr(self, old, level):
        heeded = self.dtr_mode in (1, 2) and not self.m.faults.deaf_escape
        if old == 0 and level == 1 and self.cid is not None and heeded:
            self.exit()

    def input(self, data, t):
        """Bytes from the host at module time t."""
        c = self.m.conn(self.cid)
        payload = bytearray()
        i = 0
        n = len(data)
        if self.pp_count == 0:
            if data[0] == PLUS and t - self.last_in >= GUARD_MS and not self.m.faults.deaf_escape:
                self.pp_count = 1
                self._pp_t0 = t
                i = 1
                self._pp_timer = self.m.loop.at(GUARD_MS, self._pp_expire)
            else:
                payload += data
                i = n
        while i < n and self.pp_count:
            b = data[i]
            if self.pp_count < 3 and b == PLUS and t - self._pp_t0 <= GUARD_MS:
                self.pp_count += 1
                i += 1
                if self.pp_count == 3:
                    self._pp_timer.cancel()
                    self._pp_timer = self.m.loop.at(GUARD_MS, self._pp_success)
            else:
                payload += self._pp_abort()
                payload += data[i:]
                i = n
        self.last_in = t
        if payload and c is not None:
            self._feed(c, payload)

    def _pp_abort(self):
        """The '+' run was not an escape: return it as payload, release held downlink data."""
        plus = b"+" * self.pp_count
        self.pp_count = 0
        if self._pp_timer is not None:
            self._pp_timer.cancel()
            self._pp_timer = None
        c = self.m.conn(self.cid)
        if c is not None:
            for data in c.take_buffered():
                self.m.faults.emit(data)
            self.m.io_of(c).update(c)
        return plus

    def _pp_expire(self):
        # fewer than three '+' within the guard time: they were data
        if self.cid is None or self.pp_count >= 3:
            return
        plus = self._pp_abort()
        c = self.m.conn(self.cid)
        if c is not None:
            self._feed(c, plus)

    def _pp_success(self):
        if self.cid is None or self.pp_count != 3:
            return
        self.pp_count = 0
        self._pp_timer = None
        self.exit(escape=True)

    def exit(self, escape=False):
        """Leave transparent mode (by +++ or DTR): OK, connection now in buffer mode."""
        m = self.m
        c = m.conn(self.cid)
        if not escape and self.pp_count:
            plus = b"+" * self.pp_count
            self.pp_count = 0
            if self._pp_timer is not None:
                self._pp_timer.cancel()
            if c is not None:
                self._feed(c, plus)
        if c is not None:
            self._flush_pkt(c)
        self.cid = None
        self.last = c.cid if c is not None else None
        m.faults.emit(OK)
        if c is not None:
            c.mode = 0
            c.armed = True
            m.io_of(c).announce(c)
            m.io_of(c).update(c)
        m.engine.set_idle()

    def no_carrier(self, c):
        """The connection went away: NO CARRIER, back to command mode."""
        if self.pp_count:
            self.pp_count = 0
            if self._pp_timer is not None:
                self._pp_timer.cancel()
        if c.unread():
            self._pp_abort()
        self._pkt = bytearray()
        if self._pkt_timer is not None:
            self._pkt_timer.cancel()
        self.cid = None
        self.last = c.cid
        self.m.faults.emit(NO_CARRIER)
        self.m.engine.set_idle()

    def _feed(self, c, data):
        self._pkt += data
        size = self.pktsize
        while len(self._pkt) >= size:
            self._send(c, bytes(self._pkt[:size]))
            del self._pkt[:size]
        if self._pkt_timer is not None:
            self._pkt_timer.cancel()
            self._pkt_timer = None
        if self._pkt:
            if self.waittm == 0:
                self._flush_pkt(c)
            else:
                self._pkt_timer = self.m.loop.at(self.waittm * 100, lambda: self._flush_pkt(c))

    def _flush_pkt(self, c):
        if self._pkt_timer is not None:
            self._pkt_timer.cancel()
            self._pkt_timer = None
        if self._pkt:
            data = bytes(self._pkt)
            self._pkt = bytearray()
            self._send(c, data)

    def _send(self, c, data):
        if c.sock is None or self.m.conn(c.cid) is not c:
            return
        self.m.io_of(c).send(c, data)
