"""The event-loop thread that owns all module state: selector, timers, calls from other threads."""

import heapq
import selectors
import socket
import sys
import threading
import time
import traceback
from collections import deque


class Timer:
    """A scheduled call; cancel() stops it."""

    __slots__ = ("fn", "cancelled")

    def __init__(self, fn):
        self.fn = fn
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class Loop:
    """One thread, one selector; the module clock runs speed times faster than real time.

    gen counts power losses: a timer set with gen=True does not fire after gen changed.
    before_wait runs on every turn of the loop (the UART flushes its output there).
    """

    def __init__(self, speed, log=None):
        self.speed = float(speed)
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        self.log = log
        self.gen = 0
        self.before_wait = None
        self.running = False
        self._sel = None
        self._thread = None
        self._timers = []
        self._tseq = 0
        self._calls = deque()
        self._wake_r = self._wake_w = None
        self.t0 = time.monotonic()

    def open(self):
        """Create the selector (before start(), so servers can register)."""
        # select(): microsecond timeouts for the line pacing (epoll rounds up to 1 ms)
        self._sel = selectors.SelectSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)

    def start(self):
        self.t0 = time.monotonic()
        self.running = True
        self._thread = threading.Thread(target=self._run, name="virtual-module", daemon=True)
        self._thread.start()

    @property
    def started(self):
        return self._thread is not None

    def stop(self):
        """End the thread (the owner closes its sockets, then calls close())."""
        self.running = False
        self.wake()
        self._thread.join(5)

    def close(self):
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        try:
            self._sel.close()
        except Exception:
            pass

    def now_ms(self):
        """Module time in ms since start (real time multiplied by speed)."""
        return (time.monotonic() - self.t0) * 1000.0 * self.speed

    def trace(self, msg):
        if self.log:
            try:
                self.log("[%9.1f] %s" % (self.now_ms(), msg))
            except Exception:
                pass

    def wake(self):
        try:
            self._wake_w.send(b"x")
        except (OSError, AttributeError):
            pass

    def _on_wake(self, sock, mask):
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass

    def invoke(self, fn, *args):
        """Run fn on the loop thread and return its result."""
        if self._thread is None or not self.running or threading.current_thread() is self._thread:
            return fn(*args)
        done = threading.Event()
        box = []

        def call():
            try:
                box.append((True, fn(*args)))
            except BaseException as e:  # noqa: BLE001 - handed back to the caller
                box.append((False, e))
            done.set()

        self._calls.append(call)
        self.wake()
        if not done.wait(10):
            raise TimeoutError("virtual module loop did not answer")
        ok, val = box[0]
        if not ok:
            raise val
        return val

    def at(self, ms, fn, gen=True):
        """Call fn after ms module time. gen: not after a power loss (reboot/power-off)."""
        if gen:
            g = self.gen
            inner = fn

            def fn():
                if self.gen == g:
                    inner()

        return self.at_real(max(0.0, ms) / 1000.0 / self.speed, fn)

    def at_real(self, seconds, fn):
        """Call fn after seconds of real time."""
        t = Timer(fn)
        self._tseq += 1
        heapq.heappush(self._timers, (time.monotonic() + seconds, self._tseq, t))
        return t

    def safe(self, fn, *args):
        try:
            fn(*args)
        except Exception:  # keep the module alive; report the bug
            sys.stderr.write("virtual module: internal error\n" + traceback.format_exc())

    def _run(self):
        while self.running:
            while self._calls:
                self._calls.popleft()()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, t = heapq.heappop(self._timers)
                if not t.cancelled:
                    self.safe(t.fn)
            if self.before_wait is not None:
                self.safe(self.before_wait)
            timeout = 0.25
            if self._timers:
                timeout = min(timeout, max(0.0, self._timers[0][0] - time.monotonic()))
            if self._calls:
                timeout = 0
            try:
                events = self._sel.select(timeout)
            except OSError:
                events = []
            for key, mask in events:
                if not self.running:
                    break
                self.safe(key.data, key.fileobj, mask)

    def watch(self, sock, mask, handler):
        """Register sock with mask (0 = unregister)."""
        try:
            key = self._sel.get_key(sock)
        except (KeyError, ValueError):
            key = None
        try:
            if mask == 0:
                if key is not None:
                    self._sel.unregister(sock)
            elif key is None:
                self._sel.register(sock, mask, handler)
            elif key.events != mask:
                self._sel.modify(sock, mask, handler)
        except (OSError, ValueError, KeyError):
            pass


def listen(host, port):
    """A non-blocking TCP server socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4)
    s.setblocking(False)
    return s


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


class OneClientServer:
    """A TCP server on the loop for one client at a time (the UART, the pins): subclasses
    give _on_accept(srv, mask)."""

    def __init__(self, loop):
        self.loop = loop
        self.port = 0
        self._srv = None
        self._sock = None

    def listen(self, host, port):
        self._srv = listen(host, port)
        self.port = self._srv.getsockname()[1]
        self.loop.watch(self._srv, selectors.EVENT_READ, self._on_accept)

    def close(self):
        for s in (self._sock, self._srv):
            if s is not None:
                close_quietly(s)
