"""The clock the driver measures timeouts with: `time.ticks_*` on MicroPython.

Deadlines are always `ticks_add(now, ms)` and compared with `ticks_diff`: on 32-bit ports
`ticks_ms()` wraps at 2**30, so `ticks_ms() + ms` is not a valid tick value.

Tests and the virtual board pass `Clock(speed)` with speed > 1 so that the manual's 150 s
timeouts elapse in a fraction of that; `Clock(speed, start=...)` also starts the ticks at
`start` and wraps them at the port's period (2**30 on CPython), as a 32-bit port does, so
suites can run across the wrap.
"""

import time

try:
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
    _ticks_add = time.ticks_add
    _sleep_ms = time.sleep_ms
except AttributeError:  # CPython

    def _ticks_ms():
        return time.monotonic_ns() // 1_000_000  # pyright: ignore  (CPython only)

    def _ticks_diff(a, b):
        return a - b

    def _ticks_add(a, b):
        return a + b

    def _sleep_ms(ms):
        time.sleep(ms / 1000)


# The port's TICKS_PERIOD, the small-int range: 2**30 on 32-bit ports (2**29 where small
# ints have 30 bits), and 2**30 for the CPython tests. The period itself is no small int
# there, so arithmetic uses the mask and the half period, computed once: no allocation.
_MASK = _ticks_add(0, -1) if hasattr(time, "ticks_add") else (1 << 30) - 1
PERIOD = _MASK + 1
_HALF = PERIOD >> 1


class Clock:
    """ticks_ms/ticks_diff/ticks_add/sleep_ms, optionally `speed` times faster than real
    time and, with `start`, on ticks that wrap at PERIOD."""

    def __init__(self, speed=1, start=None):
        self.speed = int(speed)
        self._wrap = start is not None
        self._last = _ticks_ms()
        self._now = start or 0

    def ticks_ms(self):
        if self.speed == 1 and not self._wrap:
            return _ticks_ms()
        t = _ticks_ms()
        self._now += _ticks_diff(t, self._last) * self.speed
        self._last = t
        if self._wrap:
            self._now &= _MASK
        return int(self._now)

    def ticks_diff(self, a, b):
        if self._wrap:
            return ((a - b + _HALF) & _MASK) - _HALF
        return _ticks_diff(a, b) if self.speed == 1 else a - b

    def ticks_add(self, a, ms):
        if self._wrap:
            return (a + ms) & _MASK
        return _ticks_add(a, ms) if self.speed == 1 else a + ms

    def sleep_ms(self, ms):
        if ms > 0:
            _sleep_ms(ms if self.speed == 1 else max(1, int(ms / self.speed)))
