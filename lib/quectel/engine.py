"""The AT engine: one command at a time over the `Reader` of quectel.framing.

The blocking calls are thin loops over `poll()`, so an asyncio layer can drive the same
engine; procedures are generators (see `run`), and the data path has non-blocking halves.
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
from .framing import (  # noqa: F401  (the result codes and Events are re-exported)
    CME_ERROR,
    CONNECT,
    DONE,
    ERROR,
    IDLE,
    NO_CARRIER,
    OK,
    PROMPT,
    PROMPTED,
    QIRD_HEAD,
    QSSLRECV_HEAD,
    RESTARTED,
    SEND_FAIL,
    SEND_OK,
    SETTLE,
    WAIT,
    Events,
    Reader,
    _name,
)
from .parse import parse_qigeterror

# Manual, chapter 1 note 1: wait for the final response; no response in 60 s means reboot.
DEFAULT_TIMEOUT_MS = const(60000)
SETTLE_MS = 5000  # how long an interrupted command's answer is waited for, at most
# Bytes per UART write between two reads: without flow control what arrives while we write is
# lost once the UART's receive buffer is full, so a write never outlasts what any rxbuf holds.
_PIECE = const(256)
# Longest idle wait in one piece: conditions that no UART byte announces (a pin, a scheduled
# timer callback) are looked at this often.
_IDLE_MS = const(50)
TICK_MS = const(10000)  # progress reports of a long wait come this often
REASON_MS = const(5000)  # how long AT+QIGETERROR may take (ours: it answers at once)
MAX_SEND = const(1460)  # section 2.7: bytes in one AT+QISEND
MAX_READ = const(1500)  # section 2.8: bytes in one AT+QIRD
CONNECT_IDS = const(12)  # section 2.4: connect IDs 0-11
_HOT_CMD = const(48)  # bytes for the longest hot command (AT+QSSLSEND=<id>,<n>)
_ESC_CHUNK = const(64)  # ESC bytes written at a time by fill()


class ATEngine(Reader):
    """Runs AT commands over `uart` (a machine.UART or anything with `any`, `readinto`, `write`).

    `rxbuf` is the receive buffer size: a whole `+QIRD` answer (1500 bytes and framing) fits
    in the default, so a read costs one copy. `clock` supplies ticks_ms/ticks_diff/sleep_ms.
    """

    def __init__(self, uart, rxbuf=1600, clock=None, events=None):
        clock = clock or Clock()
        super().__init__(uart, rxbuf, clock, events)
        self._cbuf = bytearray(_HOT_CMD)  # hot commands (QIRD, QISEND) are formatted here
        self.wchunk = _PIECE  # payload bytes per UART write (see _PIECE)
        self._settle_end = 0
        self.cmd = None
        self.finished_fn = self.finished  # bound once: waiting allocates nothing
        self._speed = max(1, int(getattr(clock, "speed", 1)))  # a test clock runs faster
        try:
            import select

            poller = select.poll()
            poller.register(uart, select.POLLIN)
            # MicroPython's ipoll allocates nothing per call; CPython only has poll.
            self._wait_rx = getattr(poller, "ipoll", poller.poll)
        except Exception:  # not pollable (a plain Python fake): sleep instead
            self._wait_rx = None

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
        uart = self.uart
        data = self.scanner is not None
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
            if data and self.scanner is None:
                break
        return done

    def _ready(self):
        # Before a command sets anything up: an interrupted command's answer is read first
        # (it would land in what a new AT+QIRD sets up), and nothing else may be running.
        if self._state == SETTLE:
            clock = self.clock
            self.wait(self._settled, clock.ticks_diff(self._settle_end, clock.ticks_ms()))
            self._state = IDLE
            self._rdmax = 0
        if self._state != IDLE and self._state != DONE:
            raise QuectelError("a command is already running")
        if self.scanner is not None:
            raise QuectelError("the UART is in transparent mode: leave it first")

    def _begin(self, cmd, n, info, connect=False, owe=-1):
        # owe: the payload bytes of an AT+QISEND (-1: not a send); set before the command is
        # written, since its answer may be read while the line is still being written.
        self._ready()
        self.cmd = cmd  # what is running (a reference: naming it is left to who asks)
        self._info = info
        self._lines = [] if info is not None else None
        self._connect = connect
        self.result = 0
        self.text = None
        self._state = PROMPT if owe >= 0 else WAIT
        self._prompt_owed = max(owe, 0)
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
        self._state = WAIT

    def finished(self):
        """The running command has its final result (or its send prompt)."""
        return self._state == DONE or self._state == PROMPTED

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
        if self._prompt_owed:
            self._state = IDLE
            self._fill_prompt()
        self._sink = None
        self._dst = None
        self._lines = None
        if settle_ms and running:
            self._state = SETTLE
            self._settle_end = self.clock.ticks_add(self.clock.ticks_ms(), settle_ms)
        else:
            self._state = IDLE
            self._rdmax = 0

    def _settled(self):
        return self._state != SETTLE

    @property
    def busy(self):
        return self._state != IDLE and self._state != DONE

    @property
    def collected(self):
        """No command is running and none has an answer still to be collected (`end`,
        `end_read`): another command may start without touching one's answer."""
        return self._state == IDLE

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
        TICK_MS the command has been waiting (progress reports during a long QIACT)."""
        self.start(cmd, info, connect, sink)
        clock = self.clock
        t0 = clock.ticks_ms()
        wait = timeout_ms if tick is None else min(timeout_ms, TICK_MS)
        while not (yield (self.finished_fn, wait)):
            spent = clock.ticks_diff(clock.ticks_ms(), t0)
            if spent >= timeout_ms:
                self.abort()
                raise ATTimeout(_name(cmd), timeout_ms)
            tick(spent)
            wait = min(timeout_ms - spent, TICK_MS)
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
        return self.end_reason((yield (self.finished_fn, REASON_MS)), cmd)

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
        if maxlen == 0 or maxlen > MAX_READ:
            raise ValueError("read length must be 1-%d" % MAX_READ)
        self._ready()
        k = self._hot(b"AT+QSSLRECV=" if ssl else b"AT+QIRD=", cid, maxlen)
        self._rdhead = QSSLRECV_HEAD if ssl else QIRD_HEAD
        self._dst = dst
        self._rdmax = maxlen if maxlen > 0 else MAX_READ
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
        return self._state == PROMPTED

    def payload(self, buf, off, n):
        """Write up to `wchunk` of the n payload bytes at buf[off:]; returns the count
        written (0: the UART takes nothing now). After the last byte the engine waits for
        SEND OK."""
        if self.trace:
            self.trace(">", bytes(memoryview(buf)[off : off + n]))
        k = self.uart.write(buf, off, min(n, self.wchunk)) or 0
        self._prompt_owed -= k
        if not self._prompt_owed:
            self._state = WAIT
        return k

    def _fill_prompt(self):
        # A fixed-length AT+QISEND whose data we did not (fully) write: the module may still
        # open its prompt and take our next bytes, commands included, as data. Give it the
        # bytes it expects as ESC (ignored in command mode); the send's outcome is unknown.
        n = self._prompt_owed
        self._prompt_owed = 0
        self.fill(n)

    def fill(self, n):
        """Write n ESC bytes: what a data prompt still expects, ignored in command mode."""
        esc = b"\x1b" * _ESC_CHUNK
        while n > 0:
            self.write(esc, 0, min(n, _ESC_CHUNK))
            n -= _ESC_CHUNK
