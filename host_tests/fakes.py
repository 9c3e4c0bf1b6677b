"""UART fakes for engine tests; they run under CPython and the MicroPython unix port."""

import io

from quectel.clock import PERIOD as _PERIOD


class ScriptUART:
    """Answers each expected host write with scripted module output.

    `script` is a list of (expected_bytes, reply_bytes). The host's writes are accumulated;
    once they equal the next expected bytes, the reply is queued. `chunks` (a list of sizes,
    cycled) limits how many bytes each readinto returns, to split the output anywhere.
    """

    def __init__(self, script=(), chunks=None):
        self.script = list(script)
        self.chunks = chunks
        self._ci = 0
        self.out = bytearray()
        self.written = bytearray()
        self._pending = bytearray()

    def feed(self, data):
        """Queue module output now (a URC, say)."""
        self.out.extend(data)

    def any(self):
        return len(self.out)

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf), len(self.out))
        if nbytes >= 0:
            n = min(n, nbytes)
        if self.chunks:
            n = min(n, self.chunks[self._ci % len(self.chunks)])
            self._ci += 1
        if not n:
            return None
        buf[:n] = self.out[:n]
        self.out[:n] = b""
        return n

    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        data = bytes(buf[off : off + n])
        self.written.extend(data)
        self._pending.extend(data)
        while self.script:
            want, reply = self.script[0]
            if not self._pending.startswith(want):
                if len(self._pending) >= len(want):
                    raise AssertionError(
                        "host wrote %r, expected %r" % (bytes(self._pending), want)
                    )
                break
            self._pending[: len(want)] = b""
            self.script.pop(0)
            if reply:
                self.out.extend(reply)
        return n


class CannedUART:
    """Plays back canned module answers, one per command, allocating nothing per call.

    `segments` are the answers in order; the next one is released when the host ends a
    command line (a write ending in CR) or, after an answer that ends in the `> ` prompt, once
    it has written `payload_len` bytes of payload (in as many pieces as it likes).
    """

    def __init__(self, segments, payload_len=-1):
        self._io = io.BytesIO(b"".join(segments))
        ends = []
        total = 0
        for seg in segments:
            total += len(seg)
            ends.append(total)
        self._ends = ends
        self._next = 0
        self._limit = 0
        self._payload_len = payload_len
        self._pay_left = 0
        self._prompt_ends = [seg.endswith(b"> ") for seg in segments]
        self.written = 0

    def any(self):
        return self._limit - self._io.tell()

    def readinto(self, buf, nbytes=-1):
        n = self._limit - self._io.tell()
        if 0 <= nbytes < n:
            n = nbytes
        if len(buf) < n:
            n = len(buf)
        return self._io.readinto(buf, n) if n else None

    def write(self, buf, off=0, n=-1):
        n = len(buf) - off if n < 0 else n
        self.written += n
        if self._pay_left > 0:  # a send's payload, written in as many pieces as the driver likes
            self._pay_left -= n
            if self._pay_left > 0:
                return n
        elif buf[off + n - 1] != 13:
            return n
        if self._next < len(self._ends):
            self._limit = self._ends[self._next]
            self._next += 1
            if self._payload_len > 0 and self._prompt_ends[self._next - 1]:
                self._pay_left = self._payload_len
        return n


class StepClock:
    """A clock that moves only when slept on: timeouts without waiting. Its ticks wrap at
    the port's period (30 bits on a 32-bit port) and start just before they wrap, so every
    suite that uses it runs across the wrap; `elapsed` is the time slept since it was made."""

    # The port's own period (quectel.clock.PERIOD, 2**30 under CPython), and no arithmetic
    # with it per call: it is no small int on a 32-bit port, so that would allocate.
    PERIOD = _PERIOD
    MASK = PERIOD - 1
    HALF = PERIOD >> 1

    def __init__(self, start=PERIOD - 5000):
        self.now = start
        self.elapsed = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return ((a - b + self.HALF) & self.MASK) - self.HALF

    def ticks_add(self, a, ms):
        return (a + ms) & self.MASK

    def sleep_ms(self, ms):
        if ms > 0:
            self.now = (self.now + ms) & self.MASK
            self.elapsed += ms


class SocketUART:
    """CPython stand-in for machine.UART over TCP to the virtual module: the virtual board's
    strict UART (tools/vboard/machine.py), which paces writes at `baud` (txdone, flush) and
    drops what overflows `rxbuf` and its FIFO while the driver is held in a write, as a board
    without flow control does."""

    _count = 0

    def __init__(self, port, host="127.0.0.1", baud=921600, rxbuf=2048):
        SocketUART._count += 1
        self.u = _vboard_machine().UART(
            "cpython-%d" % SocketUART._count, baud, rxbuf=rxbuf, timeout=0,
            target="%s:%d" % (host, port),
        )  # fmt: skip
        u = self.u
        self.any, self.readinto, self.write = u.any, u.readinto, u.write
        self.txdone, self.flush = u.txdone, u.flush

    @property
    def dropped(self):
        return self.u.dropped

    def fileno(self):
        # The engine waits on the link's socket when its ring is empty (select.poll).
        return self.u._p.io.s.fileno()

    def close(self):
        self.u.deinit()


def _vboard_machine():
    # tools/vboard/machine.py, loaded under CPython as a module of its own name (a `machine`
    # module would look like MicroPython's to the code under test).
    import importlib.util
    import os
    import sys

    mod = sys.modules.get("vboard_machine")
    if mod is None:
        here = os.path.dirname(os.path.abspath(__file__))
        vboard = os.path.join(os.path.dirname(here), "tools", "vboard")
        if vboard not in sys.path:
            sys.path.append(vboard)  # its rarely used parts: _machine_rest.py
        spec = importlib.util.spec_from_file_location("vboard_machine", vboard + "/machine.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["vboard_machine"] = mod
    return mod


class VMPin:
    """CPython stand-in for a machine.Pin wired to a virtual module's pin."""

    def __init__(self, vm, name):
        self.vm = vm
        self.name = name
        self.level = 1

    def value(self, v=None):
        if v is None:
            return self.vm.status if self.name == "STATUS" else self.level
        self.level = v
        self.vm.pin(self.name, v)
