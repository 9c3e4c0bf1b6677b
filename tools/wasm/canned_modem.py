# A modem UART that answers AT commands from a table (MicroPython), for measuring the steady
# state of the package where no virtual module can be reached (tools/bench_heap32.py on the
# WebAssembly port): the module is on, its SIM ready, registered, context 1 active, and every
# socket opens at once. It only answers what bring-up and opening a TCP socket ask; anything
# else gets OK.
import io

_ANSWERS = (
    (b"AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
    (b"AT+CREG?", b"\r\n+CREG: 2,1\r\n\r\nOK\r\n"),
    (b"AT+CGREG?", b"\r\n+CGREG: 2,1\r\n\r\nOK\r\n"),
    (b"AT+CEREG?", b"\r\n+CEREG: 2,1\r\n\r\nOK\r\n"),
    (b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.64.0.2"\r\n\r\nOK\r\n'),
)


class CannedModemUART:
    """any/readinto/write of a UART; `commands` counts the command lines it answered."""

    def __init__(self):
        self._out = io.BytesIO()
        self._line = bytearray()
        self.commands = 0

    def _answer(self, line):
        self.commands += 1
        if line.startswith(b"AT+QIOPEN="):
            cid = line.split(b",")[1]
            return b"\r\nOK\r\n\r\n+QIOPEN: " + cid + b",0\r\n"
        for prefix, answer in _ANSWERS:
            if line.startswith(prefix):
                return answer
        return b"\r\nOK\r\n"

    def _queue(self, data):
        rest = self._out.read()
        self._out = io.BytesIO(rest + data)

    def any(self):
        here = self._out.tell()
        n = len(self._out.getvalue()) - here
        return n

    def readinto(self, buf, nbytes=-1):
        n = self.any()
        if 0 <= nbytes < n:
            n = nbytes
        n = min(n, len(buf))
        return self._out.readinto(buf, n) if n else None

    def write(self, buf, off=0, n=-1):
        n = len(buf) - off if n < 0 else n
        for i in range(off, off + n):
            c = buf[i]
            if c == 13:
                self._queue(self._answer(bytes(self._line)))
                self._line = bytearray()
            elif c != 10:
                self._line.append(c)
        return n


def connected(speed=100):
    """A Modem brought up over the canned UART, one TCP socket connected through it, and
    the UART."""
    import quectel.socket
    from quectel import Modem
    from quectel.clock import Clock

    uart = CannedModemUART()
    m = Modem(uart, clock=Clock(speed))
    m.connect("internet")
    quectel.socket.use(m)
    s = quectel.socket.socket()
    s.connect(("127.0.0.1", 8080))  # answered by the table: no network anywhere
    return m, s, uart
