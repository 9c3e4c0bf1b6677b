"""The module's UART as a TCP server: one client at a time, output queue, baud-rate throttle."""

import selectors
import socket
import time
from collections import deque

from .loop import OneClientServer, close_quietly

BACKLOG_MAX = 65536  # output bytes queued before the connections stop reading


class UARTServer(OneClientServer):
    """Bytes in go to on_input; write() queues bytes out, after_output() queues a call.

    baud throttles both directions to baud/10 bytes per second; chunks (sizes) splits the
    next output into writes of these sizes with split_pause_ms between them. on_drain runs
    whenever the queue is below BACKLOG_MAX after a flush.
    """

    def __init__(self, loop, baud=None, split_pause_ms=5):
        super().__init__(loop)
        self.baud = baud
        self.split_pause_ms = split_pause_ms
        self.chunks = deque()
        self.on_input = None
        self.on_drain = None
        self.rx_bytes = 0
        self.tx_bytes = 0
        self._mask = 0
        self._out = deque()  # bytes or callables, in order
        self._out_block_until = 0.0
        self._out_timer = None
        # Throttled line (baud): when it finishes the bytes released so far, and since when
        # the bytes now waiting have waited. A byte is released only once the line could
        # have carried it, and an idle line earns no credit: never faster than the baud rate.
        self._line_out = 0.0
        self._out_ready = None
        self._in_pending = bytearray()
        self._line_in = 0.0
        self._in_ready = 0.0
        self._in_timer = None

    def reset_counters(self):
        self.rx_bytes = 0
        self.tx_bytes = 0

    def write(self, data):
        if self._out_ready is None:
            self._out_ready = time.monotonic()
        self._out.append(data)

    def after_output(self, fn):
        """Run fn once everything queued so far has been written."""
        self._out.append(fn)

    def queued(self):
        """Bytes waiting to be written."""
        return sum(len(x) for x in self._out if not callable(x))

    def _on_accept(self, srv, mask):
        try:
            s, _ = srv.accept()
        except OSError:
            return
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._sock is not None:
            self.loop.watch(self._sock, 0, None)
            close_quietly(self._sock)
        self._sock = s
        self._mask = 0
        self._in_pending = bytearray()
        self.loop.trace("uart client connected")
        self._select()

    def _select(self):
        if self._sock is None:
            return
        mask = selectors.EVENT_READ
        if self._out and time.monotonic() >= self._out_block_until:
            mask |= selectors.EVENT_WRITE
        if mask != self._mask:
            self.loop.watch(self._sock, mask, self._on_io)
            self._mask = mask

    def _drop(self):
        if self._sock is not None:
            self.loop.watch(self._sock, 0, None)
            close_quietly(self._sock)
            self._sock = None
            self._mask = 0
            self.loop.trace("uart client gone")

    def _on_io(self, sock, mask):
        if sock is not self._sock:
            return
        if mask & selectors.EVENT_READ:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._drop()
                return
            if data:
                self.rx_bytes += len(data)
                if self.baud:
                    if not self._in_pending:
                        self._in_ready = time.monotonic()
                    self._in_pending += data
                    self._in_pump()
                else:
                    self.on_input(data)
        if mask & selectors.EVENT_WRITE:
            self.flush()

    def _in_pump(self):
        """Release throttled input bytes at baud/10 bytes per second."""
        self._in_timer = None
        rate = self.baud / 10.0
        now = time.monotonic()
        start = max(self._line_in, self._in_ready)
        n = min(int((now - start) * rate), len(self._in_pending))
        if n > 0:
            chunk = bytes(self._in_pending[:n])
            del self._in_pending[:n]
            start = self._line_in = start + n / rate
            self.on_input(chunk)
        if self._in_pending and self._in_timer is None:
            wait = max(self._line_in, self._in_ready) + 1.0 / rate - time.monotonic()
            self._in_timer = self.loop.at_real(max(wait, 0.0), self._in_pump)

    def flush(self):
        """Write queued output to the client (non-blocking, throttled, split)."""
        while self._out:
            item = self._out[0]
            if callable(item):
                self._out.popleft()
                self.loop.safe(item)
                continue
            if self._sock is None:
                self._out.popleft()  # nobody listening: the bytes go nowhere
                continue
            now = time.monotonic()
            if now < self._out_block_until:
                self._arm_out_timer(self._out_block_until - now)
                break
            # coalesce adjacent byte chunks
            while len(self._out) > 1 and not callable(self._out[1]):
                nxt = self._out[1]
                self._out[0] = item = bytes(item) + bytes(nxt)
                del self._out[1]
            limit = len(item)
            if self.chunks:
                limit = min(limit, self.chunks[0])
            if self.baud:
                rate = self.baud / 10.0
                if self._out_ready is None:
                    self._out_ready = now
                start = max(self._line_out, self._out_ready)
                allowed = int((now - start) * rate)
                if allowed <= 0:
                    self._arm_out_timer(start + 1.0 / rate - now)
                    break
                limit = min(limit, allowed)
            try:
                n = self._sock.send(item[:limit])
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._drop()
                continue
            if n <= 0:
                break
            self.tx_bytes += n
            if self.baud:
                self._line_out = start + n / rate
            if self.chunks:
                self.chunks[0] -= n
                if self.chunks[0] <= 0:
                    self.chunks.popleft()
                    self._out_block_until = time.monotonic() + self.split_pause_ms / 1000.0
                    self._out_ready = self._out_block_until  # no credit for the pause
            if n >= len(item):
                self._out.popleft()
            else:
                self._out[0] = item[n:]
        self._select()
        queued = self.queued()
        if not queued and self._out_ready is not None and self._out_ready <= time.monotonic():
            self._out_ready = None  # all sent: the next output waits its own line time
        if queued < BACKLOG_MAX and self.on_drain is not None:
            self.on_drain()

    def _arm_out_timer(self, seconds):
        if self._out_timer is None or self._out_timer.cancelled:

            def fire():
                self._out_timer = None
                self.flush()

            self._out_timer = self.loop.at_real(max(0.0, seconds), fire)
