"""The fault layer between the module and its UART, and the faults commands and sockets take."""

from collections import deque

from .redact import redact


class Faults:
    """Injected faults. emit() is the module's only way out to the UART."""

    def __init__(self, loop, uart, rand):
        self.loop = loop
        self.uart = uart
        self.rand = rand
        self.clear()

    def clear(self):
        self.silence_until = -1.0
        self.silence_forever = False
        self.drop = 0
        self.garble = 0
        self.uart.chunks = deque()
        self.mid_urcs = []
        self.send_fail = 0
        self.errors = []  # [prefix, code, count or None]
        self.delays = []  # [prefix, ms, count or None]
        self.unacked = 0
        self.open_fail = []  # [code, count]
        self.deaf_escape = False  # transparent mode: "+++" and DTR are payload, never an exit
        self.corrupt = 0  # uploads (AT+QFUPL) to corrupt

    def silence(self, ms):
        """Answer nothing (and ignore input) for ms module time; None: until clear()."""
        if ms is None:
            self.silence_forever = True
        else:
            self.silence_until = self.loop.now_ms() + ms

    def split(self, sizes):
        self.uart.chunks = deque(int(s) for s in sizes if int(s) > 0)

    def silent(self):
        return self.silence_forever or self.loop.now_ms() < self.silence_until

    def emit(self, data):
        """Queue bytes for the UART (silence, drop and garble applied here)."""
        if not data or self.silent():
            return
        if self.drop:
            k = min(self.drop, len(data))
            self.drop -= k
            data = data[k:]
            if not data:
                return
        if self.garble:
            k = min(self.garble, len(data))
            self.garble -= k
            data = bytes(self.rand.randrange(256) for _ in range(k)) + bytes(data[k:])
        self.uart.write(bytes(data))
        self.loop.trace("<- %r" % (redact(bytes(data[:200])),))

    def take_mid_urcs(self):
        """URCs to put inside the next response."""
        urcs, self.mid_urcs = self.mid_urcs, []
        return urcs

    def take_error(self, line):
        """The error code a command line (upper case) answers with, or None."""
        f = _take(self.errors, line)
        return None if f is None else f[1]

    def take_delay(self, line):
        """The delay (module ms) of a command line's response, or None."""
        f = _take(self.delays, line)
        return None if f is None else f[1]

    def take_open_fail(self):
        """The <err> of the next AT+QIOPEN, or None."""
        for f in self.open_fail:
            f[1] -= 1
            if f[1] <= 0:
                self.open_fail.remove(f)
            return f[0]
        return None

    def take_send_fail(self):
        if self.send_fail:
            self.send_fail -= 1
            return True
        return False

    def take_corrupt(self, data):
        """The bytes of an upload as stored: one bit flipped while the corrupt fault lasts."""
        if not self.corrupt or not data:
            return data
        self.corrupt -= 1
        i = self.rand.randrange(len(data))
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]

    def take_unacked(self, n):
        """How many of n sent bytes stay unacknowledged."""
        k = min(self.unacked, n)
        self.unacked -= k
        return k


def _take(rules, line):
    """The first [prefix, value, count] rule matching line; counts it down."""
    for f in rules:
        if line.startswith(f[0]):
            if f[2] is not None:
                f[2] -= 1
                if f[2] <= 0:
                    rules.remove(f)
            return f
    return None
