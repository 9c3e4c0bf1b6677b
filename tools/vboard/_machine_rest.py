# The parts of the virtual board's machine module (machine.py) that the driver never uses:
# the serial transport, pin IRQ objects, Signal, RTC, WDT, resets and sleeps. machine imports
# this module on first use, so that importing machine costs less heap, frozen or as .mpy (on a
# board, machine is C in ROM and costs none).

import select
import time

from machine import _io_error, _ready, _sleep_ms, _ticks_ms, idle

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_TTY_CHUNK = const(64)  # bytes per write to a tty after POLLOUT (tty writes block otherwise)

# Linux termios values the unix port's termios module does not export.
_CSIZE = const(0o60)
_CSTOPB = const(0o100)
_CREAD = const(0o200)
_PARENB = const(0o400)
_PARODD = const(0o1000)
_CLOCAL = const(0o4000)
_CRTSCTS = const(0o20000000000)
_VTIME = const(5)
_VMIN = const(6)

_freq = 240000000
_rtc_offset = 0.0  # seconds added to the host clock


class _TTYIO:
    # Serial device or pty in raw mode. VMIN=0/VTIME=0 makes read() return at once with what
    # is there (0 = nothing): non-blocking reads without fcntl (the unix port has none).
    def __init__(self, path, baudrate, bits, parity, stop, flow):
        import termios

        bauds = {
            1200: 0o11,
            2400: 0o13,
            4800: 0o14,
            9600: 0o15,
            19200: 0o16,
            38400: 0o17,
            57600: 0o10001,
            115200: 0o10002,
            230400: 0o10003,
            460800: 0o10004,
            500000: 0o10005,
            576000: 0o10006,
            921600: 0o10007,
            1000000: 0o10010,
            1152000: 0o10011,
            1500000: 0o10012,
            2000000: 0o10013,
            3000000: 0o10015,
            4000000: 0o10017,
        }

        try:
            f = open(path, "r+b", buffering=0)
        except TypeError:
            f = open(path, "r+b")
        self.f = f
        fd = f.fileno()
        try:
            if hasattr(termios, "setraw"):
                termios.setraw(fd)
            else:  # CPython
                import tty

                tty.setraw(fd)
            a = termios.tcgetattr(fd)
            speed = getattr(termios, "B%d" % baudrate, None) or bauds.get(baudrate)
            if speed is None:
                raise ValueError("unsupported baudrate %d" % baudrate)
            c = a[2] & ~(_CSIZE | _CSTOPB | _PARENB | _PARODD | _CRTSCTS)
            c |= ((bits - 5) << 4) | _CREAD | _CLOCAL
            if stop == 2:
                c |= _CSTOPB
            if parity is not None:
                c |= _PARENB | (_PARODD if parity & 1 else 0)
            if flow:
                c |= _CRTSCTS
            a[2] = c
            a[4] = a[5] = speed
            a[6][_VMIN] = 0
            a[6][_VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, a)
        except Exception:
            f.close()
            raise
        self.rpoll = select.poll()
        self.rpoll.register(fd, select.POLLIN)
        self.wpoll = select.poll()
        self.wpoll.register(fd, select.POLLOUT)

    def readinto(self, mv):
        try:
            n = self.f.readinto(mv)
        except OSError as e:
            return _io_error(e)
        return n if n else None

    def write(self, buf, off, n):
        # A tty write blocks until all is queued, so write a small chunk only when POLLOUT
        # says there is room; the caller keeps draining the receive side meanwhile.
        if not _ready(self.wpoll):
            return None
        try:
            return self.f.write(memoryview(buf)[off : off + min(n, _TTY_CHUNK)])
        except OSError as e:
            return _io_error(e)

    def close(self):
        self.f.close()


class _PinIRQ:
    def __init__(self, pin):
        self._pin = pin
        self._flags = 0

    def trigger(self, t=None):
        if t is not None:
            self._pin._trigger = t
        return self._pin._trigger

    def flags(self):
        f = self._flags
        self._flags = 0
        return f


class Signal:
    def __init__(self, pin, invert=False):
        self._pin = pin
        self._inv = 1 if invert else 0

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ self._inv
        self._pin.value((1 if x else 0) ^ self._inv)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


def reset():
    raise SystemExit("machine.reset(): virtual board reset")


def soft_reset():
    raise SystemExit("machine.soft_reset(): virtual board soft reset")


def reset_cause():
    return 1  # PWRON_RESET


PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def unique_id():
    return b"VBRD\x00\x01"


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def lightsleep(time_ms=None):
    if time_ms is None:
        idle()
    else:
        _sleep_ms(time_ms)


def deepsleep(time_ms=None):
    # A real board resets when it wakes from deep sleep.
    if time_ms is not None:
        _sleep_ms(time_ms)
    raise SystemExit("machine.deepsleep(): virtual board reset on wake")


def _days(y, m, d):
    # Days since 1970-01-01 (proleptic Gregorian).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


class RTC:
    """Keeps an offset from the host clock, like the ports' RTC keeps one from boot."""

    def __init__(self, id=0, datetime=None):
        if datetime is not None:
            self.datetime(datetime)

    def init(self, datetime):
        self.datetime(datetime)

    def datetime(self, dt=None):
        global _rtc_offset
        now = time.time()
        if dt is not None:
            # (year, month, day, weekday, hours, minutes, seconds, subseconds[us])
            sub = dt[7] if len(dt) > 7 else 0
            secs = _days(dt[0], dt[1], dt[2]) * 86400 + dt[4] * 3600 + dt[5] * 60 + dt[6]
            _rtc_offset = secs + sub / 1000000 - now
            return None
        t = now + _rtc_offset
        s = int(t // 1)
        g = time.gmtime(s)
        return (g[0], g[1], g[2], g[6], g[3], g[4], g[5], int((t - s) * 1000000))

    def now(self):
        d = self.datetime()
        return (d[0], d[1], d[2], d[4], d[5], d[6], d[7], 0)


class WDT:
    """Records feeds; it never resets the virtual board."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.last_feed = _ticks_ms()
        self.feeds = 0

    def feed(self):
        self.last_feed = _ticks_ms()
        self.feeds += 1
