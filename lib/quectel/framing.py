"""Framing: one reader over one preallocated buffer.

It frames lines, recognises final result codes, the `> ` data prompt and the
length-prefixed binary payloads (`+QIRD: n` / `+QSSLRECV: n` and direct-push
`+QIURC: "recv",id,n` / `+QSSLURC: "recv",id,n`), and hands every unsolicited line to an
`Events` object, even in the middle of another command's answer. `poll()` consumes whatever
the UART holds and never blocks. `quectel.engine.ATEngine` builds the command machine on it.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from .parse import split_params

# Final results of a command.
OK = const(1)
ERROR = const(2)
CME_ERROR = const(3)
SEND_OK = const(4)
SEND_FAIL = const(5)
CONNECT = const(6)
NO_CARRIER = const(7)
RESTARTED = const(8)  # `RDY` arrived: the module rebooted under the command

_FINALS = ((b"OK", OK), (b"ERROR", ERROR), (b"SEND OK", SEND_OK), (b"SEND FAIL", SEND_FAIL),
           (b"NO CARRIER", NO_CARRIER))  # fmt: skip

# The command machine's states.
IDLE = const(0)
WAIT = const(1)  # waiting for the final result
PROMPT = const(2)  # waiting for the `> ` data prompt
PROMPTED = const(3)
DONE = const(4)
SETTLE = const(5)  # an interrupted command: its answer is read and dropped before the next

# Lines the module sends on its own that never answer a command.
_URC_WORDS = (b"RDY", b"POWERED DOWN", b"+QIURC:", b"+QIOPEN:", b"+QPING:", b"+QNTP:",
              b"+CPIN:", b"+CREG:", b"+CGREG:", b"+CFUN:", b"+QIND:", b"+QUSIM:")  # fmt: skip
_RECV = b'+QIURC: "recv",'
_SSL_RECV = b'+QSSLURC: "recv",'  # the same notices for a TLS connection (AT+QSSLOPEN)
QIRD_HEAD = b"+QIRD:"
QSSLRECV_HEAD = b"+QSSLRECV:"


class Events:
    """Receives what the module says on its own. The modem layer subclasses it."""

    def urc(self, line):
        """Any unsolicited line other than a data notice (bytes, CR LF removed)."""

    def data(self, cid):
        """`+QIURC: "recv",<cid>`: data is waiting in the module (buffer access mode)."""

    def push(self, cid, n, ip, port):
        """Direct push: n payload bytes for cid follow, given to `push_data` in pieces."""

    def push_data(self, mv, start, end):
        """A piece of the announced payload: `mv[start:end]`; copy it, do not keep `mv`."""

    def pushed(self, cid):
        """The announced payload is complete."""


def _name(cmd):
    # The command without parameters, for errors and logs: parameters may hold a password.
    for i in range(len(cmd)):
        if cmd[i] in b"=?":
            return bytes(cmd[:i]).decode()
    return bytes(cmd).decode()


class Reader:
    """The reading half of `ATEngine`: the receive buffer (`rxbuf` bytes), the state of the
    answer being read, and the dispatch of what arrives."""

    def __init__(self, uart, rxbuf, clock, events):
        self.uart = uart
        self.clock = clock
        self.events = events or Events()
        self._buf = bytearray(rxbuf)
        self._mv = memoryview(self._buf)
        self.polling = False  # poll() is running (a timer callback must not re-enter it)
        self._r = 0
        self._w = 0
        self._state = IDLE
        self._need = 0  # payload bytes still to come
        self._push = False  # the payload is direct-push (else it answers AT+QIRD)
        self._dst = None  # AT+QIRD destination (memoryview), fill level and asked length
        self._got = 0
        self._rdmax = 0
        self._rdhead = QIRD_HEAD  # the header of the running read's payload
        self._pcid = 0
        self.remote = None  # (ip, port) of the last UDP SERVICE datagram read
        self._info = None
        self._lines = None
        self._connect = False
        self._prompt_owed = 0  # payload bytes an open AT+QISEND prompt still expects
        self.result = 0
        self.text = None  # the +CME ERROR line, when that was the result
        self.garbage = 0  # lines dropped as unparseable, and buffer overflows
        self.rx_count = 0  # bytes received (wraps): tells whether the line was quiet
        self.trace = None  # set to print-like callable(direction, bytes) to log the traffic
        self._secret = False  # the running command holds a password (its echo is not logged)
        self._pos = 0
        self._skip = False
        self.scanner = None  # transparent mode: what splits payload from the mode's end
        self._sink = None  # where payload goes once CONNECT comes

    # ---- reading -------------------------------------------------------------------------

    def poll(self):
        """Consume what the UART has, dispatching lines and payloads. True if bytes came."""
        self.polling = True
        try:
            return self._poll()
        finally:
            self.polling = False

    def _poll(self):
        uart = self.uart
        if self.scanner is not None and self._r < self._w:
            self._process()  # held bytes: the sink may have room now, or a marker is due
        if not uart.any():
            return False
        r = self._r
        w = self._w
        if r == w:
            r = w = 0
        elif w == len(self._buf):
            if r:
                self._buf[: w - r] = self._mv[r:w]
                w -= r
                r = 0
            elif self.scanner is not None:
                return False  # only a held marker's start: leave the bytes in the UART
            else:  # a line longer than the buffer: drop it up to its end
                self.garbage += 1
                self._skip = True
                r = w = 0
        n = uart.readinto(self._buf if w == 0 else self._mv[w:])
        self._r = r
        if not n:
            self._w = w
            return False
        self._w = w + n
        self.rx_count = (self.rx_count + n) & 0x3FFFFFFF  # stays a small int
        if self.trace:
            secret = self._secret and self._state == WAIT
            self.trace("<", b"<redacted>" if secret else bytes(self._mv[w : w + n]))
        self._process()
        return True

    def _process(self):
        buf = self._buf
        while self._r < self._w:
            if self.scanner is not None:
                self._scan()
                if self.scanner is not None:
                    return  # all payload delivered (a marker's start held): wait for more
                continue  # the mode ended: what follows is command output
            r = self._r
            if self._need:
                k = min(self._need, self._w - r)
                self._payload(r, r + k)
                self._r = r + k
                self._need -= k
                if not self._need and self._push:
                    self._push = False
                    self.events.pushed(self._pcid)
                continue
            e = buf.find(b"\n", r, self._w)
            if self._skip:
                self._skip = e < 0
                self._r = self._w if e < 0 else e + 1
                continue
            if e < 0:
                if self._state == PROMPT:
                    while r < self._w and buf[r] == 13:
                        r += 1
                    if self._w - r >= 2 and buf[r] == 62 and buf[r + 1] == 32:  # "> "
                        self._r = r + 2
                        self._state = PROMPTED
                        continue
                return
            self._r = e + 1
            while r < e and buf[r] == 13:
                r += 1
            t = e
            while t > r and buf[t - 1] == 13:
                t -= 1
            if r < t:
                self._line(r, t)

    # ---- transparent access mode (section 1.2): quectel.transparent's Scanner ------------

    def enter_data(self, sink):
        """The UART now carries one connection's payload: bytes go to `sink.data_in(mv, s,
        e)` until `NO CARRIER` or, after `scanner.leaving()`, the `OK` that ends the mode;
        then `sink.data_end(carrier_lost)` (see quectel.transparent.Scanner)."""
        from .transparent import Scanner

        self.scanner = Scanner(sink, self.clock)

    @property
    def data_mode(self):
        return self.scanner is not None

    def quit_data(self):
        """Forget transparent mode without the module's word (it would not leave it)."""
        self.scanner = None

    def _scan(self):
        sc = self.scanner
        self._r = sc.feed(self._buf, self._mv, self._r, self._w, self.rx_count)
        if sc.ended:
            self.scanner = None
            sc.sink.data_end(sc.ended == 2)

    def _payload(self, s, e):
        if self._push:
            self.events.push_data(self._mv, s, e)
            return
        dst = self._dst
        if dst is None:
            return  # an interrupted read's payload: dropped
        k = min(e - s, len(dst) - self._got)  # a UDP datagram longer than dst is cut
        if k > 0:
            dst[self._got : self._got + k] = self._mv[s : s + k]
            self._got += k

    def _is(self, s, t, word):
        return t - s == len(word) and self._buf.startswith(word, s)

    def _has(self, s, t, prefix):
        return t - s >= len(prefix) and self._buf.startswith(prefix, s)

    def _num(self, i, t):
        # A decimal number at buf[i:t], without allocating; self._pos is left after it (-1: none).
        buf = self._buf
        while i < t and buf[i] == 32:
            i += 1
        v = 0
        j = i
        while j < t and 48 <= buf[j] <= 57:
            v = v * 10 + buf[j] - 48
            j += 1
        self._pos = j if j > i else -1
        return v

    def _line(self, s, t):
        state = self._state
        if state == SETTLE:
            if self._rdmax and self._has(s, t, self._rdhead):
                return self._qird_header(s, t)  # its payload is read and dropped
            if self._settles(s, t):
                self._state = IDLE
                self._rdmax = 0
                return
        if state == WAIT or state == PROMPT:
            for word, result in _FINALS:
                if self._is(s, t, word):
                    return self._finish(result)
            if self._has(s, t, b"+CME ERROR:") or self._has(s, t, b"+CMS ERROR:"):
                self.text = bytes(self._mv[s:t])
                return self._finish(CME_ERROR)
            if self._connect and self._has(s, t, b"CONNECT"):
                if self._sink is not None:
                    self.enter_data(self._sink)  # what follows CONNECT is payload
                    self._sink = None
                return self._finish(CONNECT)
            if self._has(s, t, b"AT") or self._has(s, t, b"at"):
                return  # echo of the command (ATE1)
            if self._rdmax and self._has(s, t, self._rdhead):
                return self._qird_header(s, t)
            info = self._info
            if info is not None and self._has(s, t, info) and (info or not self._urc_word(s, t)):
                self._lines.append(bytes(self._mv[s:t]))
                return
        self._unsolicited(s, t)

    def _settles(self, s, t):
        # A final result (or a reboot) ends the interrupted command.
        for word, _ in _FINALS:
            if self._is(s, t, word):
                return True
        return (self._has(s, t, b"+CME ERROR:") or self._has(s, t, b"+CMS ERROR:")
                or self._has(s, t, b"CONNECT") or self._is(s, t, b"RDY"))  # fmt: skip

    def _urc_word(self, s, t):
        for w in _URC_WORDS:
            if self._has(s, t, w):
                return True
        return self._buf[s] == 43  # '+': another command's response is not our information

    def _qird_header(self, s, t):
        n = self._num(s + len(self._rdhead), t)
        p = self._pos
        if p < 0 or (p == t and n > self._rdmax):
            self.garbage += 1
            self._dst = None  # the data cannot be trusted; the command fails
            self.text = bytes(self._mv[s:t])
            return self._finish(ERROR)
        if p < t:  # UDP SERVICE: n,"ip",port
            try:
                f = split_params(bytes(self._mv[p + 1 : t]))
                self.remote = (f[0], f[1])
            except (ValueError, IndexError):
                self.garbage += 1
        self._need = n
        self._push = False

    def _unsolicited(self, s, t):
        k = len(_RECV) if self._has(s, t, _RECV) else 0
        if not k and self._has(s, t, _SSL_RECV):
            k = len(_SSL_RECV)
        if k:
            cid = self._num(s + k, t)
            p = self._pos
            if p == t:
                self.events.data(cid)
                return
            if p > 0 and self._buf[p] == 44:
                n = self._num(p + 1, t)
                p = self._pos
                ip = port = None
                if p > 0 and p < t:
                    try:
                        f = split_params(bytes(self._mv[p + 1 : t]))
                        ip, port = f[0], f[1]
                    except (ValueError, IndexError):
                        p = -1
                if p > 0:  # section 2.16.2 puts no cap on <currentrecvlength>
                    self._pcid = cid
                    self._push = True
                    self._need = n
                    self.events.push(cid, n, ip, port)
                    return
            self.garbage += 1
            return
        if self._is(s, t, b"RDY") and self._state != IDLE and self._state != DONE:
            self._finish(RESTARTED)
        self.events.urc(bytes(self._mv[s:t]))

    def _finish(self, result):
        if self._state == PROMPT:
            self._prompt_owed = 0  # answered before the prompt: the module expects no data
        self.result = result
        self._state = DONE
