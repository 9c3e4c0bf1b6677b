"""The clock the driver measures timeouts with: `time.ticks_*` on MicroPython.

Tests and the virtual board pass `Clock(speed)` with speed > 1 so that the manual's 150 s
timeouts elapse in a fraction of that.
"""

import time

try:
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
    _sleep_ms = time.sleep_ms
except AttributeError:  # CPython

    def _ticks_ms():
        return time.monotonic_ns() // 1_000_000  # pyright: ignore  (CPython only)

    def _ticks_diff(a, b):
        return a - b

    def _sleep_ms(ms):
        time.sleep(ms / 1000)


class Clock:
    """ticks_ms/ticks_diff/sleep_ms, optionally running `speed` times faster than real time."""

    def __init__(self, speed=1):
        self.speed = int(speed)
        self._last = _ticks_ms()
        self._now = 0

    def ticks_ms(self):
        if self.speed == 1:
            return _ticks_ms()
        t = _ticks_ms()
        self._now += _ticks_diff(t, self._last) * self.speed
        self._last = t
        return int(self._now)

    def ticks_diff(self, a, b):
        return _ticks_diff(a, b) if self.speed == 1 else a - b

    def sleep_ms(self, ms):
        if ms > 0:
            _sleep_ms(ms if self.speed == 1 else max(1, int(ms / self.speed)))
