"""The AT engine: one reader over one preallocated buffer, one command at a time.

The reader frames lines, recognises final result codes, the `> ` data prompt and the
length-prefixed binary payloads (`+QIRD: n` / `+QSSLRECV: n` and direct-push
`+QIURC: "recv",id,n` / `+QSSLURC: "recv",id,n`), and hands
every unsolicited line to an `Events` object, even in the middle of another command's answer.
`poll()` consumes whatever the UART holds and never blocks; the blocking calls are thin loops
over it, so an asyncio layer can drive the same engine.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from .clock import Clock
from .errors import (
    ATError,
    ATTimeout,
    CMEError,
    ModuleRestarted,
    ProtocolError,
    QuectelError,
    error_for,
)
from .parse import parse_qigeterror, split_params

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

# Manual, chapter 1 note 1: wait for the final response; no response in 60 s means reboot.
DEFAULT_TIMEOUT_MS = const(60000)

_IDLE = const(0)
_WAIT = const(1)  # waiting for the final result
_PROMPT = const(2)  # waiting for the `> ` data prompt
_PROMPTED = const(3)
_DONE = const(4)
_SETTLE = const(5)  # an interrupted command: its answer is read and dropped before the next
SETTLE_MS = 5000  # how long an interrupted command's answer is waited for, at most

# Lines the module sends on its own that never answer a command.
_URC_WORDS = (b"RDY", b"POWERED DOWN", b"+QIURC:", b"+QIOPEN:", b"+QPING:", b"+QNTP:",
              b"+CPIN:", b"+CREG:", b"+CGREG:", b"+CFUN:", b"+QIND:", b"+QUSIM:")  # fmt: skip
_RECV = b'+QIURC: "recv",'
_SSL_RECV = b'+QSSLURC: "recv",'  # the same notices for a TLS connection (AT+QSSLOPEN)
_NO_CARRIER = b"\r\nNO CARRIER\r\n"
_OK_LINE = b"\r\nOK\r\n"
_QUIET_MS = const(100)  # silence after NO CARRIER before we believe it ended the mode
# Bytes per UART write between two reads: without flow control what arrives while we write is
# lost once the UART's receive buffer is full, so a write never outlasts what any rxbuf holds.
_PIECE = const(256)
# Longest idle wait in one piece: conditions that no UART byte announces (a pin, a scheduled
# timer callback) are looked at this often.
_IDLE_MS = const(50)
_TICK_MS = const(10000)  # progress reports of a long command come this often
_QIRD = b"+QIRD:"
_QSSLRECV = b"+QSSLRECV:"


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


class ATEngine:
    """Runs AT commands over `uart` (a machine.UART or anything with `any`, `readinto`, `write`).

    `rxbuf` is the receive buffer size: a whole `+QIRD` answer (1500 bytes and framing) fits
    in the default, so a read costs one copy. `clock` supplies ticks_ms/ticks_diff/sleep_ms.
    """

    def __init__(self, uart, rxbuf=1600, clock=None, events=None):
        self._uart = uart
        self.clock = clock or Clock()
        self.events = events or Events()
        self._buf = bytearray(rxbuf)
        self._mv = memoryview(self._buf)
        self._cbuf = bytearray(48)  # hot commands (QIRD, QISEND) are formatted here
        self.wchunk = _PIECE  # payload bytes per UART write (see _PIECE)
        self._owe = 0  # payload bytes an open AT+QISEND prompt still expects
        self.polling = False  # poll() is running (a timer callback must not re-enter it)
        self._r = 0
        self._w = 0
        self._state = _IDLE
        self._need = 0  # payload bytes still to come
        self._settle_end = 0
        self._push = False  # the payload is direct-push (else it answers AT+QIRD)
        self._dst = None  # AT+QIRD destination (memoryview), fill level and asked length
        self._got = 0
        self._rdmax = 0
        self._rdhead = _QIRD  # the header of the running read's payload (+QIRD: / +QSSLRECV:)
        self._pcid = 0
        self.remote = None  # (ip, port) of the last UDP SERVICE datagram read
        self._info = None
        self._lines = None
        self._connect = False
        self.result = 0
        self.text = None  # the +CME ERROR line, when that was the result
        self.garbage = 0  # lines dropped as unparseable, and buffer overflows
        self.rx_count = 0  # bytes received (wraps): tells whether the line was quiet
        self.cmd = None
        self.trace = None  # set to print-like callable(direction, bytes) to log the traffic
        self._secret = False  # the running command holds a password (its echo is not logged)
        self._pos = 0
        self._skip = False
        self.finished_fn = self.finished  # bound once: waiting allocates nothing
        self._speed = max(1, int(getattr(self.clock, "speed", 1)))  # a test clock runs faster
        self._data = None  # transparent mode: where payload goes
        self._leave_at = None
        self._quiet_n = -1  # rx_count when a possible marker was first held at the end, and
        self._quiet_t = 0  # when: the line is quiet once no byte came for _QUIET_MS since
        self._sink = None  # becomes _data on CONNECT
        try:
            import select

            poller = select.poll()
            poller.register(uart, select.POLLIN)
            # MicroPython's ipoll allocates nothing per call; CPython only has poll.
            self._wait_rx = getattr(poller, "ipoll", poller.poll)
        except Exception:  # not pollable (a plain Python fake): sleep instead
            self._wait_rx = None

    # ---- reading -------------------------------------------------------------------------

    def poll(self):
        """Consume what the UART has, dispatching lines and payloads. True if bytes came."""
        self.polling = True
        try:
            return self._poll()
        finally:
            self.polling = False

    def _poll(self):
        uart = self._uart
        if self._data is not None and self._r < self._w:
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
            elif self._data is not None:
                return False  # the transparent sink is full: leave the bytes in the UART
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
            secret = self._secret and self._state == _WAIT
            self.trace("<", b"<redacted>" if secret else bytes(self._mv[w : w + n]))
        self._process()
        return True

    def _process(self):
        buf = self._buf
        while self._r < self._w:
            if self._data is not None:
                self._data_process()
                if self._data is not None:
                    return  # all payload delivered (or the sink is full): wait for more
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
                if self._state == _PROMPT:
                    while r < self._w and buf[r] == 13:
                        r += 1
                    if self._w - r >= 2 and buf[r] == 62 and buf[r + 1] == 32:  # "> "
                        self._r = r + 2
                        self._state = _PROMPTED
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

    # ---- transparent access mode (section 1.2) ----------------------------------------------

    def enter_data(self, sink):
        """The UART now carries one connection's payload: bytes go to `sink` (see `_data_process`)
        until `NO CARRIER` or, after `leaving()`, the `OK` that ends the mode."""
        self.quit_data()
        self._data = sink

    @property
    def data_mode(self):
        return self._data is not None

    def leaving(self, after_ms):
        """We asked to leave (+++ or DTR): accept the module's `OK` once after_ms have passed."""
        self._leave_at = self.clock.ticks_add(self.clock.ticks_ms(), after_ms)

    def _tail(self, marker, r, w):
        # Length of the longest end of buf[r:w] that is a beginning of marker.
        buf = self._buf
        k = min(len(marker), w - r)
        while k:
            i = 0
            while i < k and buf[w - k + i] == marker[i]:
                i += 1
            if i == k:
                return k
            k -= 1
        return 0

    def _data_process(self):
        # Payload goes to the sink until a mode-ending marker:
        # - after our +++/DTR (once its guard time has passed) the module's "OK": what follows
        #   it is command-mode output (URCs) and is parsed as lines again;
        # - "NO CARRIER" followed by quiet or by a URC ("\r\n+").
        # A marker seen anywhere else is payload. An end of the buffer that may be the start of
        # a marker is held until more bytes come or the line stays quiet.
        buf = self._buf
        clock = self.clock
        now = clock.ticks_ms()
        r, w = self._r, self._w
        e = w  # payload ends here
        end = 0  # 1: our leave was answered; 2: the carrier was lost
        resume = w
        leaving = self._leave_at is not None and clock.ticks_diff(now, self._leave_at) >= 0
        if leaving:
            i = buf.find(_OK_LINE, r, w)
            if i >= 0:
                e, end, resume = i, 1, i + len(_OK_LINE)
        j = buf.find(_NO_CARRIER, r, e)
        while j >= 0 and not end:
            after = j + len(_NO_CARRIER)
            if after == w or w - after < 3:
                e = j  # hold it: quiet decides
                if after == w and self._quiet(now):
                    end, resume = 2, w
                break
            if buf[after] == 13 and buf[after + 1] == 10 and buf[after + 2] == 43:
                e, end, resume = j, 2, after
                break
            j = buf.find(_NO_CARRIER, j + 1, w)
        if not end and e == w:
            hold = self._tail(_NO_CARRIER, r, w)
            if leaving:
                hold = max(hold, self._tail(_OK_LINE, r, w))
            if hold and not self._quiet(now):
                e = w - hold
        if e > r:
            n = self._data.data_room()
            if n < e - r:
                e = r + n
                end = 0
            if e > r:
                self._data.data_in(self._mv, r, e)
                self._r = e
        if end:
            self._r = resume
            sink = self._data
            self.quit_data()
            sink.data_end(end == 2)

    def _quiet(self, now):
        # True once no byte has arrived for _QUIET_MS. Counted in bytes received, not by
        # where the buffer ends: a later marker at the same index is news, not old silence.
        if self._quiet_n != self.rx_count:
            self._quiet_n = self.rx_count
            self._quiet_t = now
            return False
        return self.clock.ticks_diff(now, self._quiet_t) >= _QUIET_MS

    def quit_data(self):
        """Forget transparent mode without the module's word (it would not leave it)."""
        self._data = None
        self._leave_at = None
        self._quiet_n = -1

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
        if state == _SETTLE:
            if self._rdmax and self._has(s, t, self._rdhead):
                return self._qird_header(s, t)  # its payload is read and dropped
            if self._settles(s, t):
                self._state = _IDLE
                self._rdmax = 0
                return
        if state == _WAIT or state == _PROMPT:
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
        if self._is(s, t, b"RDY") and self._state != _IDLE and self._state != _DONE:
            self._finish(RESTARTED)
        self.events.urc(bytes(self._mv[s:t]))

    def _finish(self, result):
        if self._state == _PROMPT:
            self._owe = 0  # answered before the prompt: the module expects no data
        self.result = result
        self._state = _DONE

    # ---- writing -------------------------------------------------------------------------

    def write(self, buf, off=0, n=-1, timeout_ms=DEFAULT_TIMEOUT_MS):
        """Write buf[off:off+n] to the UART (n=-1: to the end), reading what arrives between
        pieces. Returns the count written: all of it, unless a transparent mode that was on
        ended meanwhile (the rest must not reach the module as commands)."""
        if n < 0:
            n = len(buf) - off
        if self.trace:
            self.trace(">", bytes(buf[off : off + n]))
        clock = self.clock
        t0 = clock.ticks_ms()
        uart = self._uart
        data = self._data is not None
        done = 0
        while done < n:
            k = uart.write(buf, off + done, min(n - done, _PIECE))
            if k:
                done += k
                t0 = clock.ticks_ms()
            elif clock.ticks_diff(clock.ticks_ms(), t0) > timeout_ms:
                raise ATTimeout("UART write", timeout_ms)
            else:
                clock.sleep_ms(1)
            if not self.polling:
                self.poll()
            if data and self._data is None:
                break
        return done

    def _begin(self, cmd, n, info, connect=False, owe=-1):
        # owe: the payload bytes of an AT+QISEND (-1: not a send); set before the command is
        # written, since its answer may be read while the line is still being written.
        if self._state == _SETTLE:  # the interrupted command's answer goes first
            clock = self.clock
            self.wait(self._settled, clock.ticks_diff(self._settle_end, clock.ticks_ms()))
            self._state = _IDLE
            self._rdmax = 0
        if self._state != _IDLE and self._state != _DONE:
            raise QuectelError("a command is already running")
        if self._data is not None:
            raise QuectelError("the UART is in transparent mode: leave it first")
        self.cmd = cmd  # what is running (a reference: naming it is left to who asks)
        self._info = info
        self._lines = [] if info is not None else None
        self._connect = connect
        self.result = 0
        self.text = None
        self._state = _PROMPT if owe >= 0 else _WAIT
        self._owe = max(owe, 0)
        self._secret = cmd.startswith(b"AT+QICSGP=") or cmd.startswith(b"AT+CPIN=")
        trace = self.trace
        try:
            if trace and self._secret:
                trace(">", bytes(cmd[: cmd.find(b"=") + 1]) + b"<redacted>")
                self.trace = None
            self.write(cmd, 0, n)
            if cmd is not self._cbuf:  # hot commands carry their CR already
                self.write(b"\r")
        except BaseException:  # noqa: B036 (a failed write leaves no command running)
            self.abort(SETTLE_MS)
            raise
        finally:
            self.trace = trace

    def expect(self, cmd, info):
        """Collect the rest of `cmd`'s answer (its `info` lines and final result) without
        writing a command: for the raw data that follows a `CONNECT` prompt (AT+QFUPL). Call
        it before writing the data, whose answer may arrive while it is still being written;
        then wait for `finished()` and `end(cmd)` as usual."""
        if self.busy:
            raise QuectelError("a command is already running")
        self.cmd = cmd
        self._info = info
        self._lines = []
        self._connect = False
        self.result = 0
        self.text = None
        self._state = _WAIT

    def finished(self):
        """The running command has its final result (or its send prompt)."""
        return self._state == _DONE or self._state == _PROMPTED

    def wait(self, cond, timeout_ms):
        """Feed `poll()` until cond() (None: just for timeout_ms); whether cond came true."""
        clock = self.clock
        t0 = clock.ticks_ms()
        while cond is None or not cond():
            if not self.poll():
                left = timeout_ms - clock.ticks_diff(clock.ticks_ms(), t0)
                if left <= 0:
                    return cond is None
                self.idle(left)
        return True

    def run(self, gen):
        """Run a procedure written as a generator, blocking until it returns.

        The generator yields (cond, timeout_ms) to wait (see `wait`) and is sent whether
        cond came true. The asyncio front drives the same generators without blocking.
        """
        res = None
        while True:
            try:
                cond, ms = gen.send(res)
            except StopIteration as e:
                return e.value
            try:
                res = self.wait(cond, ms)
            except BaseException:  # noqa: B036 (e.g. KeyboardInterrupt: leave the engine idle)
                gen.close()
                if self.busy:
                    self.abort(SETTLE_MS)
                raise

    def idle(self, ms=1):
        """Wait for UART input, at most ms (and _IDLE_MS) of the driver's clock: the CPU
        sleeps meanwhile (a board's poll waits with WFE/WFI)."""
        ms = min(ms, _IDLE_MS)
        if self._wait_rx:
            self._wait_rx(max(1, ms // self._speed))
        else:
            self.clock.sleep_ms(ms)

    def abort(self, settle_ms=0):
        """Forget the running command (after a timeout, an error or a cancelled task); a
        send's prompt is filled first, so the module takes no later command as data. With
        `settle_ms` (the command was interrupted, not timed out) its answer, still to come,
        is read and dropped before the next command is written (at most settle_ms)."""
        running = self.busy
        if self._owe:
            self._state = _IDLE
            self._fill_prompt()
        self._sink = None
        self._dst = None
        self._lines = None
        if settle_ms and running:
            self._state = _SETTLE
            self._settle_end = self.clock.ticks_add(self.clock.ticks_ms(), settle_ms)
        else:
            self._state = _IDLE
            self._rdmax = 0

    def _settled(self):
        return self._state != _SETTLE

    @property
    def busy(self):
        return self._state != _IDLE and self._state != _DONE

    # ---- commands ------------------------------------------------------------------------

    def start(self, cmd, info=None, connect=False, sink=None):
        """Send `cmd` (bytes, without CR); its answer is then collected by `poll()`.

        `info` is the prefix of the lines that answer it; by default it is derived from the
        command (`AT+QIACT?` -> `+QIACT:`), and `b""` takes every line that is not a URC.
        With a `sink`, `CONNECT` enters transparent mode (`enter_data`).
        """
        if info is None:  # b"AT+QIACT?" -> b"+QIACT:"; b"ATI" -> b"" (any non-URC line)
            info = b"+%s:" % _name(cmd)[3:].encode() if cmd.startswith(b"AT+") else b""
        self._sink = sink
        self._begin(cmd, len(cmd), info, connect or sink is not None)

    def g_command(self, cmd, info=None, timeout_ms=DEFAULT_TIMEOUT_MS, connect=False, sink=None,
                  tick=None):  # fmt: skip
        """`command` as a generator procedure (see `run`); `tick(ms)` is called every
        _TICK_MS the command has been waiting (progress reports during a long QIACT)."""
        self.start(cmd, info, connect, sink)
        clock = self.clock
        t0 = clock.ticks_ms()
        wait = timeout_ms if tick is None else min(timeout_ms, _TICK_MS)
        while not (yield (self.finished_fn, wait)):
            spent = clock.ticks_diff(clock.ticks_ms(), t0)
            if spent >= timeout_ms:
                self.abort()
                raise ATTimeout(_name(cmd), timeout_ms)
            tick(spent)
            wait = min(timeout_ms - spent, _TICK_MS)
        if self.needs_reason(cmd):
            raise (yield from self.g_reason(cmd))
        return self.end(cmd)

    def command(self, cmd, info=None, timeout_ms=DEFAULT_TIMEOUT_MS, connect=False, sink=None):
        """Run `cmd` (see `start`) and return its information lines (list of bytes).

        Raises `ATTimeout`, `CMEError`, or for TCP/IP commands the precise `TCPIPError` that
        `AT+QIGETERROR` names.
        """
        return self.run(self.g_command(cmd, info, timeout_ms, connect, sink))

    def needs_reason(self, cmd):
        """The command failed with a plain ERROR that `AT+QIGETERROR` can explain."""
        if self.result != ERROR or self.text is not None:
            return False
        return cmd.startswith(b"AT+QI") or cmd.startswith(b"AT+QPING") or cmd.startswith(b"AT+QNT")

    def g_reason(self, cmd):
        """Generator: the precise exception for a TCP/IP command's ERROR (chapter 3)."""
        self.begin_reason()
        return self.end_reason((yield (self.finished_fn, 5000)), cmd)

    def begin_reason(self):
        """Ask `AT+QIGETERROR` why the finished command failed; then `end_reason`."""
        self.abort()
        self.start(b"AT+QIGETERROR")

    def end_reason(self, ok, cmd):
        """The exception `AT+QIGETERROR` names for cmd (ok: whether it answered in time)."""
        name = _name(cmd)
        if not ok:
            self.abort()
            return ATError("ERROR", None, name)
        try:
            code, text = parse_qigeterror(self.end(b"AT+QIGETERROR")[0])
        except (QuectelError, ValueError, IndexError):
            return ATError("ERROR", None, name)
        return error_for(code, text, name)

    def end(self, cmd):
        """Interpret the finished command's result: its lines, or the exception it means.

        A TCP/IP command's plain ERROR gives `ATError` here; see `needs_reason`."""
        lines = self._lines
        result = self.result
        self.abort()
        if result == OK or result == CONNECT or result == SEND_OK:
            return lines
        name = _name(cmd)
        if result == ERROR:
            if self.text is not None:  # a protocol violation, not the module's ERROR
                raise ProtocolError("%s: bad answer %r" % (name, self.text))
            raise ATError("ERROR", None, name)
        if result == CME_ERROR:
            try:
                tail = self.text[11:].strip().decode()
            except ValueError:  # not UTF-8: garbled
                tail = repr(self.text[11:])
            code = int(tail) if tail.isdigit() else None
            raise CMEError(tail, code, name)
        if result == RESTARTED:
            raise ModuleRestarted("module restarted", None, name)
        raise ATError("unexpected result %d" % result, None, name)

    def _put(self, i, v):
        # Decimal digits of v into the command buffer at i; returns the index after them.
        buf = self._cbuf
        if v >= 10:
            i = self._put(i, v // 10)
        buf[i] = 48 + v % 10
        return i + 1

    def _hot(self, head, cid, n):
        # `<head><cid>[,<n>]` into the command buffer without allocating; returns its length.
        buf = self._cbuf
        k = len(head)
        buf[:k] = head
        k = self._put(k, cid)
        if n >= 0:
            buf[k] = 44
            k = self._put(k + 1, n)
        buf[k] = 13
        return k + 1

    # ---- the data path: non-blocking halves, shared by every front ----------------------
    # Start the exchange here, feed `poll()` until `finished()`, then end it. No generator:
    # a read or a send of a chunk allocates nothing (see quectel.conn's step machine).

    def begin_read(self, cid, dst, maxlen=-1, ssl=False):
        """Start `AT+QIRD` straight into `dst` (at least maxlen bytes); once finished,
        `end_read()` gives the byte count. maxlen -1 reads a whole UDP datagram
        (`AT+QIRD=<id>`); for TCP give 1..1500 (section 2.8; 0 is the length query). For
        UDP SERVICE the sender is left in `remote`. `ssl`: `AT+QSSLRECV` of a TLS connection
        (answered the same way, `+QSSLRECV: n` and the bytes)."""
        if maxlen == 0 or maxlen > 1500:
            raise ValueError("read length must be 1-1500")
        k = self._hot(b"AT+QSSLRECV=" if ssl else b"AT+QIRD=", cid, maxlen)
        self._rdhead = _QSSLRECV if ssl else _QIRD
        self._dst = dst
        self._rdmax = maxlen if maxlen > 0 else 1500
        self._got = 0
        self.remote = None
        self._begin(self._cbuf, k, None)

    def end_read(self):
        """The finished AT+QIRD's byte count (see `end` for its errors)."""
        got = self._got
        self.end(b"AT+QIRD")
        return got

    def begin_send(self, cid, n, addr=None, ssl=False):
        """Start a fixed-length `AT+QISEND` of n bytes (1..1460, section 2.7); `addr` is
        (ip, port) for UDP SERVICE; `ssl`: `AT+QSSLSEND` of a TLS connection (same exchange).
        Once `finished()`: if `prompted`, write the data with `payload()` and wait again;
        SEND OK / SEND FAIL / ERROR is then in `result`. However it ends, `abort` leaves the
        module out of the `> ` prompt."""
        if addr is None:
            k = self._hot(b"AT+QSSLSEND=" if ssl else b"AT+QISEND=", cid, n)
            cmd = self._cbuf
        else:
            cmd = ('AT+QISEND=%d,%d,"%s",%d' % (cid, n, addr[0], addr[1])).encode()
            k = len(cmd)
        self._begin(cmd, k, None, owe=n)

    @property
    def prompted(self):
        """The `> ` prompt of a send arrived: the data may be written now."""
        return self._state == _PROMPTED

    def payload(self, buf, off, n):
        """Write up to `wchunk` of the n payload bytes at buf[off:]; returns the count
        written (0: the UART takes nothing now). After the last byte the engine waits for
        SEND OK."""
        if self.trace:
            self.trace(">", bytes(memoryview(buf)[off : off + n]))
        k = self._uart.write(buf, off, min(n, self.wchunk)) or 0
        self._owe -= k
        if not self._owe:
            self._state = _WAIT
        return k

    def _fill_prompt(self):
        # A fixed-length AT+QISEND whose data we did not (fully) write: the module may still
        # open its prompt and take our next bytes, commands included, as data. Give it the
        # bytes it expects as ESC (ignored in command mode); the send's outcome is unknown.
        n = self._owe
        self._owe = 0
        self.fill(n)

    def fill(self, n):
        """Write n ESC bytes: what a data prompt still expects, ignored in command mode."""
        esc = b"\x1b" * 64
        while n > 0:
            self.write(esc, 0, min(n, 64))
            n -= 64
