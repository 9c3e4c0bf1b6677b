#!/usr/bin/env python3
"""Virtual Quectel UC20/EC2x module: the TCP/IP AT command set over a TCP "UART".

The module side of every connection is a real socket on the loopback interface: AT+QIOPEN opens
real TCP/UDP sockets, listeners accept real clients. Only 127.x.x.x is reachable; host names
resolve only through the module's own table. A second TCP port carries the pins as ASCII lines:
the host sends ``PWRKEY 0|1``, ``RESET 0|1``, ``DTR 0|1``; the module sends ``STATUS 0|1`` and
``RI 0|1`` on every change and once each when the pin connection is accepted. The module clock
runs ``speed`` times faster than real time, the UART can be throttled to a baud rate, and faults
can be injected (the fault_* methods, ``--fault`` and stdin of the standalone program).

Choices made where the manual is silent:

* One event-loop thread owns all state; public methods are marshalled onto it.
* Responses are written as a unit; URCs raised while a command runs, while the QISEND prompt
  waits for data, or in transparent mode are queued and written after the final result code.
* Several info lines of one response are written like a real module:
  CR LF line1 CR LF line2 CR LF, then CR LF OK CR LF (no blank line between info lines).
* AT+QIGETERROR answers ``+QIGETERROR: <err>, <text>`` exactly as the manual's example 4.9
  (comma, space, lower-case text of chapter 3; 0 is "operation successfully").
* ESC during ``AT+QISEND=<id>`` (variable length) cancels: nothing is sent, the answer is OK.
  More than 1460 bytes before Ctrl-Z answer ERROR at once.
* Using a context that is not active (QIOPEN, QNTP, QIDNSGIP, QIDNSCFG write) answers ERROR,
  QIGETERROR 566; AT+QPING answers OK then ``+QPING: 5``. A 4th active context: ERROR, 556.
* TCP LISTENER / UDP SERVICE with local port 0 bind an ephemeral port (QISTATE shows it);
  access mode 2 for them answers ERROR 559. Incoming connections get the highest free ID.
* A failed open (+QIOPEN: <id>,<err> with err != 0, or ERROR in mode 2) frees the ID.
* UDP SERVICE sends to non-loopback addresses answer SEND OK; the datagram is lost.
* pdpdeact: the context's sockets close and go to state 4 (closing) with no "closed" URC; in
  transparent mode NO CARRIER comes first.
* AT&D1 and AT&D2: DTR 0->1 in transparent mode leaves it with OK (the connection stays up).
  Power-up default is AT&D0 (DTR ignored).
* AT+QPOWD, AT+QPOWD=0 and AT+QPOWD=1 all answer OK then POWERED DOWN, then STATUS 0.
* PWRKEY powers the module off only when ``pwrkey_off_ms`` is given.
* Command lines are terminated by CR; a following LF is accepted (and echoed); leading control
  characters are ignored; lines not starting with AT are ignored (echo only).
"""

import argparse
import datetime
import heapq
import random
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque

from vmodule.addresses import is_ipv4, is_loopback
from vmodule.errors import CME_TEXT, ERROR_TEXT, CmeError, ParamError, TcpError
from vmodule.limits import (
    CTRL_Z,
    ESC,
    GUARD_MS,
    INCOMING,
    LISTENER,
    MAX_ACTIVE,
    MAX_CONN,
    MAX_CTX,
    MAX_READ,
    MAX_SEND,
    PLUS,
    RESET_MS,
    RI_PULSE_MS,
    S_CLOSING,
    S_CONNECTED,
    S_LISTENING,
    S_OPENING,
    SERVICE,
    SERVICE_TYPES,
    TCP,
    UDP,
)
from vmodule.params import int_at, split_params, str_at
from vmodule.redact import redact

__all__ = ["VirtualModule", "ERROR_TEXT"]

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"

_DEFER = object()  # handler returned: it answers later by itself


class _Timer:
    __slots__ = ("fn", "cancelled")

    def __init__(self, fn):
        self.fn = fn
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class _Conn:
    """One connect ID of the module, backed by a real socket."""

    def __init__(self, cid, ctx, kind, mode):
        self.cid = cid
        self.ctx = ctx
        self.kind = kind
        self.mode = mode
        self.state = S_OPENING
        self.sock = None
        self.ip = "127.0.0.1"  # shown by QISTATE
        self.rport = 0
        self.lport = 0
        self.server = 0
        self.rx = bytearray()  # TCP receive buffer
        self.dgrams = deque()  # UDP: (data, ip, port)
        self.dgram_bytes = 0
        self.rx_total = 0
        self.rx_read = 0
        self.armed = True  # buffer mode: next data raises +QIURC: "recv"
        self.txq = bytearray()  # written by the host, not yet taken by the kernel
        self.tx_total = 0
        self.unacked_extra = 0
        self.sel_mask = 0
        self.connecting = False
        self.on_open = None

    def unread(self):
        return len(self.rx) if self.kind in (TCP, INCOMING) else self.dgram_bytes

    def is_udp(self):
        return self.kind in (UDP, SERVICE)


class VirtualModule:
    """A virtual Quectel module. See the module docstring."""

    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        pin_port=0,
        speed=1.0,
        baud=None,
        powered=True,
        boot_ms=3000,
        pwrkey_on_ms=1000,
        qiact_ms=500,
        dns=None,
        ip="10.7.157.1",
        *,
        pin_host=None,
        pwrkey_off_ms=None,
        qideact_ms=100,
        qpowd_ms=300,
        dns_ms=20,
        ntp_ms=100,
        ntp_timeout_ms=10000,
        ping_ms=1,
        sim="READY",
        pin="1234",
        creg=1,
        cgreg=1,
        csq=20,
        tz=0,
        rx_buffer=65536,
        send_buffer=16384,
        split_pause_ms=5,
        push_max=MAX_READ,
        seed=None,
        log=None,
    ):
        self.host = host
        self.port = port
        self.pin_port = pin_port
        self.pin_host = pin_host or host
        self.speed = float(speed)
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        self.baud = baud
        self.boot_ms = boot_ms
        self.pwrkey_on_ms = pwrkey_on_ms
        self.pwrkey_off_ms = pwrkey_off_ms
        self.qiact_ms = qiact_ms
        self.qideact_ms = qideact_ms
        self.qpowd_ms = qpowd_ms
        self.dns_ms = dns_ms
        self.ntp_ms = ntp_ms
        self.ntp_timeout_ms = ntp_timeout_ms
        self.ping_ms = ping_ms
        self.dns = {"localhost": "127.0.0.1"} if dns is None else dict(dns)
        self.ip = ip
        self.sim = sim
        self.sim_pin = pin
        self.creg = creg
        self.cgreg = cgreg
        self.csq = csq
        self.ber = 99
        self.tz = tz
        self.rx_buffer = rx_buffer
        self.send_buffer = send_buffer
        self.split_pause_ms = split_pause_ms
        # Largest payload of one direct-push "recv" URC: section 2.16.2 sets no cap on
        # <currentrecvlength>, and real modules announce 4096 bytes at once.
        self.push_max = push_max
        self._rand = random.Random(seed)
        self._log = log
        self._initially_powered = powered

        self.rx_bytes = 0
        self.tx_bytes = 0

        self._sel = None
        self._thread = None
        self._running = False
        self._stopped = False
        self._timers = []
        self._tseq = 0
        self._calls = deque()
        self._wake_r = self._wake_w = None
        self._uart_srv = self._pin_srv = None
        self._uart = None
        self._uart_mask = 0
        self._pin = None
        self._pin_buf = bytearray()
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
        self._t0 = time.monotonic()
        self._epoch = time.time()

        # pins
        self._pwrkey = 1
        self._reset = 1
        self._dtr = 0
        self._status = 0
        self._ri = 1
        self._ri_timer = None
        self._pk_edge = 0
        self._rst_edge = 0

        # faults
        self.clear_faults_local()

        # persistent configuration (survives reboot: NV items)
        self._ctx_cfg = {i: [1, "", "", "", 0] for i in range(1, MAX_CTX + 1)}
        self._dnscfg = {}
        self._rtc_offset = 0.0

        self._power = "on" if powered else "off"
        self._gen = 0
        self._reset_volatile()

    # ----------------------------------------------------------------- public: lifecycle

    def start(self):
        if self._thread is not None:
            return self
        # select(): microsecond timeouts for the line pacing (epoll rounds up to 1 ms)
        self._sel = selectors.SelectSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self._uart_srv = self._listen(self.host, self.port)
        self.port = self._uart_srv.getsockname()[1]
        self._sel.register(self._uart_srv, selectors.EVENT_READ, self._on_uart_accept)
        self._pin_srv = self._listen(self.pin_host, self.pin_port)
        self.pin_port = self._pin_srv.getsockname()[1]
        self._sel.register(self._pin_srv, selectors.EVENT_READ, self._on_pin_accept)
        self._t0 = time.monotonic()
        self._epoch = time.time()
        self._status = 1 if self._power == "on" else 0
        self._running = True
        self._thread = threading.Thread(target=self._run, name="virtual-module", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is None or self._stopped:
            return
        self._stopped = True
        self._running = False
        self._wake()
        self._thread.join(5)
        for c in list(self._conns.values()):
            self._close_sock(c)
        for s in (
            self._uart,
            self._pin,
            self._uart_srv,
            self._pin_srv,
            self._wake_r,
            self._wake_w,
        ):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        try:
            self._sel.close()
        except Exception:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def now_ms(self):
        """Module time in ms since start (real time multiplied by speed)."""
        return (time.monotonic() - self._t0) * 1000.0 * self.speed

    def reset_counters(self):
        self.rx_bytes = 0
        self.tx_bytes = 0

    # ----------------------------------------------------------------- public: state

    @property
    def status(self):
        """Level of the STATUS pin (1 = module on)."""
        return self._status

    @property
    def power_state(self):
        """'off', 'booting', 'on' or 'down' (powering down)."""
        return self._power

    def set_registration(self, cs=None, ps=None):
        """Set CS (+CREG) / PS (+CGREG) registration state: 0, 1, 2, 3 or 5."""
        self._invoke(self._set_registration, cs, ps)

    def set_signal(self, rssi, ber=99):
        self.csq = rssi
        self.ber = ber

    def set_sim(self, state):
        """'READY', 'absent' or 'SIM PIN'."""
        self.sim = state

    def set_dns(self, name, ip):
        """Add a name to the module's DNS table (ip: str or list of str; None removes)."""
        if ip is None:
            self.dns.pop(name.lower(), None)
        else:
            self.dns[name.lower()] = ip

    def connections(self):
        """Snapshot: {cid: dict(kind, state, mode, ctx, unread, tx_total)}."""
        return self._invoke(self._snapshot)

    def _snapshot(self):
        return {
            c.cid: {
                "kind": c.kind,
                "state": c.state,
                "mode": c.mode,
                "ctx": c.ctx,
                "unread": c.unread(),
                "tx_total": c.tx_total,
                "lport": c.lport,
                "ip": c.ip,
                "rport": c.rport,
            }
            for c in self._conns.values()
        }

    def active_contexts(self):
        return sorted(self._active)

    # ----------------------------------------------------------------- public: faults

    def clear_faults_local(self):
        self._f_silence_until = -1.0
        self._f_silence_forever = False
        self._f_drop = 0
        self._f_garble = 0
        self._f_split = deque()
        self._f_mid_urcs = []
        self._f_send_fail = 0
        self._f_errors = []  # [prefix, code, count or None]
        self._f_delays = []  # [prefix, ms, count or None]
        self._f_unacked = 0
        self._f_open_fail = []  # [code, count]

    def clear_faults(self):
        def do():
            for c in self._conns.values():
                c.unacked_extra = 0
            self.clear_faults_local()

        self._invoke(do)

    def fault_silence(self, ms):
        """Answer nothing (and ignore input) for ms module time; None: until clear_faults()."""

        def do():
            if ms is None:
                self._f_silence_forever = True
            else:
                self._f_silence_until = self.now_ms() + ms

        self._invoke(do)

    def fault_drop(self, n):
        """Drop the next n output bytes."""
        self._invoke(setattr, self, "_f_drop", int(n))

    def fault_garble(self, n):
        """Replace the next n output bytes with random bytes."""
        self._invoke(setattr, self, "_f_garble", int(n))

    def fault_split(self, sizes):
        """Write the next output in chunks of these sizes, with small pauses between them."""
        self._invoke(setattr, self, "_f_split", deque(int(s) for s in sizes if int(s) > 0))

    def inject_urc(self, text, mid_response=False):
        """Emit a URC now (queued as usual), or inside the next response (between its lines)."""
        data = text.encode("latin-1") if isinstance(text, str) else bytes(text)
        if not data.startswith(b"\r\n"):
            data = b"\r\n" + data + b"\r\n"

        def do():
            if mid_response:
                self._f_mid_urcs.append(data)
            else:
                self._urc(data)

        self._invoke(do)

    def fault_send_fail(self, n):
        """The next n AT+QISEND data transfers answer SEND FAIL (data discarded)."""
        self._invoke(setattr, self, "_f_send_fail", int(n))

    def fault_unacked(self, n):
        """The next n bytes sent stay unacknowledged in AT+QISEND=<id>,0 (until clear_faults)."""
        self._invoke(setattr, self, "_f_unacked", int(n))

    def fault_open_fail(self, code=554, count=1):
        """The next count AT+QIOPEN fail with <err> = code (URC, or ERROR in transparent mode)."""
        self._invoke(self._f_open_fail.append, [int(code), int(count)])

    def remote_close(self, cid):
        """Close connection cid's real socket as if the peer closed it. Returns False if unused."""
        return self._invoke(self._remote_close, cid)

    def pdp_deactivate(self, ctx=1):
        """The network deactivates context ctx: +QIURC: "pdpdeact",ctx; its sockets close."""
        self._invoke(self._pdp_deact_by_network, ctx)

    def reboot(self):
        """Reboot: sockets closed, contexts down, STATUS 0, then RDY and STATUS 1 after boot_ms."""
        self._invoke(self._reboot)

    def fault_error(self, prefix, code, count=1):
        """Commands starting with prefix answer ERROR, QIGETERROR code (count None: always)."""
        self._invoke(self._f_errors.append, [prefix.upper(), int(code), count])

    def fault_delay(self, prefix, ms, count=None):
        """Delay the response of commands starting with prefix by ms module time."""
        self._invoke(self._f_delays.append, [prefix.upper(), ms, count])

    def pin(self, name, level):
        """Drive an input pin from Python (same as a line on the pin channel)."""
        self._invoke(self._pin_set, name.upper(), int(level))

    # ----------------------------------------------------------------- loop infrastructure

    def _listen(self, host, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(4)
        s.setblocking(False)
        return s

    def _trace(self, msg):
        if self._log:
            try:
                self._log("[%9.1f] %s" % (self.now_ms(), msg))
            except Exception:
                pass

    def _wake(self):
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

    def _invoke(self, fn, *args):
        """Run fn on the loop thread and return its result."""
        if self._thread is None or not self._running or threading.current_thread() is self._thread:
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
        self._wake()
        if not done.wait(10):
            raise TimeoutError("virtual module loop did not answer")
        ok, val = box[0]
        if not ok:
            raise val
        return val

    def _at(self, ms, fn, gen=True):
        """Call fn after ms module time. gen: cancelled by a reboot/power-off."""
        if gen:
            g = self._gen
            inner = fn

            def fn():
                if self._gen == g:
                    inner()

        t = _Timer(fn)
        self._tseq += 1
        deadline = time.monotonic() + max(0.0, ms) / 1000.0 / self.speed
        heapq.heappush(self._timers, (deadline, self._tseq, t))
        return t

    def _at_real(self, seconds, fn):
        t = _Timer(fn)
        self._tseq += 1
        heapq.heappush(self._timers, (time.monotonic() + seconds, self._tseq, t))
        return t

    def _safe(self, fn, *args):
        try:
            fn(*args)
        except Exception:  # keep the module alive; report the bug
            sys.stderr.write("virtual module: internal error\n" + traceback.format_exc())

    def _run(self):
        while self._running:
            while self._calls:
                self._calls.popleft()()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, t = heapq.heappop(self._timers)
                if not t.cancelled:
                    self._safe(t.fn)
            self._safe(self._flush_out)
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
                if not self._running:
                    break
                self._safe(key.data, key.fileobj, mask)

    def _sel_set(self, sock, mask, handler):
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

    # ----------------------------------------------------------------- UART transport

    def _on_uart_accept(self, srv, mask):
        try:
            s, _ = srv.accept()
        except OSError:
            return
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._uart is not None:
            self._sel_set(self._uart, 0, None)
            try:
                self._uart.close()
            except OSError:
                pass
        self._uart = s
        self._uart_mask = 0
        self._in_pending = bytearray()
        self._trace("uart client connected")
        self._uart_sel()

    def _uart_sel(self):
        if self._uart is None:
            return
        mask = selectors.EVENT_READ
        if self._out and time.monotonic() >= self._out_block_until:
            mask |= selectors.EVENT_WRITE
        if mask != self._uart_mask:
            self._sel_set(self._uart, mask, self._on_uart_io)
            self._uart_mask = mask

    def _drop_uart(self):
        if self._uart is not None:
            self._sel_set(self._uart, 0, None)
            try:
                self._uart.close()
            except OSError:
                pass
            self._uart = None
            self._uart_mask = 0
            self._trace("uart client gone")

    def _on_uart_io(self, sock, mask):
        if sock is not self._uart:
            return
        if mask & selectors.EVENT_READ:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._drop_uart()
                return
            if data:
                self.rx_bytes += len(data)
                if self.baud:
                    if not self._in_pending:
                        self._in_ready = time.monotonic()
                    self._in_pending += data
                    self._in_pump()
                else:
                    self._uart_input(data)
        if mask & selectors.EVENT_WRITE:
            self._flush_out()

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
            self._uart_input(chunk)
        if self._in_pending and self._in_timer is None:
            wait = max(self._line_in, self._in_ready) + 1.0 / rate - time.monotonic()
            self._in_timer = self._at_real(max(wait, 0.0), self._in_pump)

    def _out_bytes(self):
        return sum(len(x) for x in self._out if not callable(x))

    def _flush_out(self):
        """Write queued output to the UART client (non-blocking, throttled, split)."""
        while self._out:
            item = self._out[0]
            if callable(item):
                self._out.popleft()
                self._safe(item)
                continue
            if self._uart is None:
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
            if self._f_split:
                limit = min(limit, self._f_split[0])
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
                n = self._uart.send(item[:limit])
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._drop_uart()
                continue
            if n <= 0:
                break
            self.tx_bytes += n
            if self.baud:
                self._line_out = start + n / rate
            if self._f_split:
                self._f_split[0] -= n
                if self._f_split[0] <= 0:
                    self._f_split.popleft()
                    self._out_block_until = time.monotonic() + self.split_pause_ms / 1000.0
                    self._out_ready = self._out_block_until  # no credit for the pause
            if n >= len(item):
                self._out.popleft()
            else:
                self._out[0] = item[n:]
        self._uart_sel()
        queued = self._out_bytes()
        if not queued and self._out_ready is not None and self._out_ready <= time.monotonic():
            self._out_ready = None  # all sent: the next output waits its own line time
        if queued < 65536:
            self._resume_readers()

    def _arm_out_timer(self, seconds):
        if self._out_timer is None or self._out_timer.cancelled:

            def fire():
                self._out_timer = None
                self._flush_out()

            self._out_timer = self._at_real(max(0.0, seconds), fire)

    def _silent(self):
        return self._f_silence_forever or self.now_ms() < self._f_silence_until

    def _emit(self, data):
        """Queue bytes for the UART (faults drop/garble applied here)."""
        if not data or self._silent():
            return
        if self._f_drop:
            k = min(self._f_drop, len(data))
            self._f_drop -= k
            data = data[k:]
            if not data:
                return
        if self._f_garble:
            k = min(self._f_garble, len(data))
            self._f_garble -= k
            data = bytes(self._rand.randrange(256) for _ in range(k)) + bytes(data[k:])
        if self._out_ready is None:
            self._out_ready = time.monotonic()
        self._out.append(bytes(data))
        self._trace("<- %r" % (redact(bytes(data[:200])),))

    def _after_output(self, fn):
        """Run fn once everything queued so far has been written."""
        self._out.append(fn)

    def _backlog(self):
        return self._out_bytes() + sum(len(u) for u in self._urc_hold)

    # ----------------------------------------------------------------- pins

    def _on_pin_accept(self, srv, mask):
        try:
            s, _ = srv.accept()
        except OSError:
            return
        if self._pin is not None:
            self._sel_set(self._pin, 0, None)
            try:
                self._pin.close()
            except OSError:
                pass
        s.setblocking(False)
        self._pin = s
        self._pin_buf = bytearray()
        self._sel_set(s, selectors.EVENT_READ, self._on_pin_read)
        self._pin_send("STATUS %d\nRI %d\n" % (self._status, self._ri))

    def _pin_send(self, text):
        if self._pin is None:
            return
        try:
            self._pin.sendall(text.encode())
        except BlockingIOError:
            pass  # a pin reader that does not read loses edges; nothing better to do
        except OSError:
            self._pin_gone()

    def _pin_gone(self):
        if self._pin is not None:
            self._sel_set(self._pin, 0, None)
            try:
                self._pin.close()
            except OSError:
                pass
            self._pin = None
        # unconnected inputs float to their idle (pulled-up) level
        self._pin_set("PWRKEY", 1)
        self._pin_set("RESET", 1)

    def _on_pin_read(self, sock, mask):
        if sock is not self._pin:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._pin_gone()
            return
        self._pin_buf += data
        while b"\n" in self._pin_buf:
            i = self._pin_buf.index(b"\n")
            line = self._pin_buf[:i].decode("latin-1").strip().upper()
            del self._pin_buf[: i + 1]
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("0", "1"):
                self._pin_set(parts[0], int(parts[1]))

    def _set_status(self, level):
        if level != self._status:
            self._status = level
            self._pin_send("STATUS %d\n" % level)

    def _set_ri(self, level):
        if level != self._ri:
            self._ri = level
            self._pin_send("RI %d\n" % level)

    def _ri_pulse(self):
        self._set_ri(0)
        if self._ri_timer is not None:
            self._ri_timer.cancel()

        def end():
            self._ri_timer = None
            self._set_ri(1)

        self._ri_timer = self._at(RI_PULSE_MS, end, gen=False)

    def _pin_set(self, name, level):
        self._trace("pin %s %d" % (name, level))
        if name == "PWRKEY":
            old, self._pwrkey = self._pwrkey, level
            if old == 1 and level == 0:
                self._pk_edge += 1
                edge = self._pk_edge
                if self._power == "off":
                    self._at(self.pwrkey_on_ms, lambda: self._pwrkey_check_on(edge), gen=False)
                elif self._power == "on" and self.pwrkey_off_ms is not None:
                    self._at(self.pwrkey_off_ms, lambda: self._pwrkey_check_off(edge), gen=False)
        elif name == "RESET":
            old, self._reset = self._reset, level
            if old == 1 and level == 0:
                self._rst_edge += 1
                edge = self._rst_edge
                self._at(RESET_MS, lambda: self._reset_check(edge), gen=False)
            elif old == 0 and level == 1 and self._power == "reset":
                self._boot()
        elif name == "DTR":
            old, self._dtr = self._dtr, level
            if old == 0 and level == 1 and self._tmode is not None and self._amp_d in (1, 2):
                self._tm_exit()

    def _pwrkey_check_on(self, edge):
        if self._pwrkey == 0 and self._pk_edge == edge and self._power == "off":
            self._boot()

    def _pwrkey_check_off(self, edge):
        if self._pwrkey == 0 and self._pk_edge == edge and self._power == "on":
            self._power_down(normal=True)

    def _reset_check(self, edge):
        if self._reset == 0 and self._rst_edge == edge and self._power != "off":
            self._shutdown()
            self._power = "reset"
            self._set_status(0)

    # ----------------------------------------------------------------- power

    def _reset_volatile(self):
        """State lost at power-off / reboot."""
        self._echo = True
        self._cmee = 1
        self._amp_d = 0
        self._creg_n = 0
        self._cgreg_n = 0
        self._ctzr = 0
        self._ctzu = 0
        self._ipr = 115200
        self._cfun = 1
        self._sim_unlocked = False
        self._transpktsize = 1024
        self._transwaittm = 2
        self._conns = getattr(self, "_conns", {})
        self._active = {}  # ctx -> ip
        self._last_err = 0
        self._state = "idle"  # idle | exec | busy | prompt
        self._inbuf = bytearray()
        self._urc_hold = []
        self._cur_echo = b""
        self._prompt = None
        self._tmode = None
        self._last_tm = None
        self._tm_last_in = 0.0
        self._pp_count = 0
        self._pp_t0 = 0.0
        self._pp_timer = None
        self._tm_pkt = bytearray()
        self._tm_pkt_timer = None
        self._ntp_busy = None

    def _shutdown(self):
        """Everything the module had is gone (power loss / reset)."""
        self._gen += 1
        for c in list(self._conns.values()):
            self._close_sock(c)
        self._conns = {}
        self._reset_volatile()

    def _boot(self):
        self._power = "booting"
        self._set_status(0)

        def done():
            self._power = "on"
            self._set_status(1)
            self._emit(b"\r\nRDY\r\n")

        self._at(self.boot_ms, done)

    def _reboot(self):
        if self._power == "off":
            return
        self._shutdown()
        self._boot()

    def _power_down(self, normal=True):
        self._shutdown()
        self._power = "down"
        if normal:
            self._emit(b"\r\nPOWERED DOWN\r\n")

        def off():
            self._power = "off"
            self._set_status(0)

        self._after_output(off)

    def _powered(self):
        return self._power == "on"

    # ----------------------------------------------------------------- input / commands

    def _uart_input(self, data):
        if not self._powered() or self._silent():
            return
        self._trace("-> %r" % (redact(bytes(data[:200])),))
        if self._tmode is not None:
            self._tm_input(data, self.now_ms())
            return
        self._inbuf += data
        self._process()

    def _process(self):
        while self._tmode is None and self._powered():
            if self._state == "prompt":
                if not self._prompt_input():
                    return
                continue
            if self._state != "idle":
                return
            i = self._inbuf.find(b"\r")
            if i < 0:
                if len(self._inbuf) > 4096:
                    del self._inbuf[:-1024]
                return
            end = i + 1
            if end < len(self._inbuf) and self._inbuf[end] == 0x0A:
                end += 1
            raw = bytes(self._inbuf[:end])
            del self._inbuf[:end]
            self._command(raw)

    def _command(self, raw):
        echo = raw if self._echo else b""
        # leading control characters (a stray LF, Ctrl-Z, ESC) are line noise
        text = raw.decode("latin-1").lstrip("".join(map(chr, range(33)))).rstrip("\r\n\t ")
        if not text:
            self._emit(echo)
            return
        if text[:2].upper() != "AT":
            self._emit(echo)  # not a command: a real module stays quiet
            return
        up = text.upper()
        for f in self._f_errors:
            if up.startswith(f[0]):
                if f[2] is not None:
                    f[2] -= 1
                    if f[2] <= 0:
                        self._f_errors.remove(f)
                self._last_err = f[1]
                self._respond([echo, ERROR])
                return
        for f in self._f_delays:
            if up.startswith(f[0]):
                if f[2] is not None:
                    f[2] -= 1
                    if f[2] <= 0:
                        self._f_delays.remove(f)
                self._emit(echo)
                self._state = "busy"

                def later(text=text):
                    self._state = "idle"
                    self._execute(text, b"")
                    self._after_command()

                self._at(f[1], later)
                return
        self._execute(text, echo)
        self._after_command()

    def _after_command(self):
        if self._state == "idle" and self._tmode is None:
            self._flush_urcs()

    def _execute(self, text, echo):
        """Run one command line (text starts with AT). Leaves _state idle, busy or prompt."""
        self._state = "exec"
        self._cur_echo = echo
        name, kind, args = self._parse(text)
        handler = self._handlers().get(name)
        tcpip = name in self._TCPIP
        try:
            if kind == "basic":
                result = self._basic(name, args)
            elif handler is None or kind == "bad":
                raise ParamError("unknown command")
            else:
                params = split_params(args) if kind == "write" else []
                result = handler(kind, params)
        except ParamError:
            if tcpip:
                self._last_err = 558
            self._finish([], ERROR)
            return
        except TcpError as e:
            self._last_err = e.code
            self._finish([], ERROR)
            return
        except CmeError as e:
            self._finish([], self._cme(e.code))
            return
        except Exception:  # a bug in the module: answer ERROR rather than hang
            sys.stderr.write("virtual module: internal error\n" + traceback.format_exc())
            self._finish([], ERROR)
            return
        if result is _DEFER:
            if self._cur_echo:
                self._emit(self._cur_echo)
                self._cur_echo = b""
            if self._state == "exec":
                self._state = "busy"
            return
        if tcpip and name != "+QIGETERROR":
            self._last_err = 0
        if isinstance(result, tuple):  # (lines, final)
            self._finish(result[0], result[1])
        else:
            self._finish(result or [], OK)

    def _cme(self, code):
        if self._cmee == 0:
            return ERROR
        if self._cmee == 2:
            return b"\r\n+CME ERROR: %s\r\n" % CME_TEXT.get(code, "unknown").encode()
        return b"\r\n+CME ERROR: %d\r\n" % code

    def _finish(self, lines, final):
        """Write the response of the current command and return to idle."""
        segs = []
        if self._cur_echo:
            segs.append(self._cur_echo)
            self._cur_echo = b""
        for i, ln in enumerate(lines):
            b = ln.encode("latin-1") if isinstance(ln, str) else bytes(ln)
            if i == 0:
                segs.append(b"\r\n" + b + b"\r\n")
            else:
                segs.append(b + b"\r\n")
        if final:
            segs.append(final)
        self._state = "idle"
        self._respond(segs)

    def _respond(self, segs):
        segs = [s for s in segs if s]
        if self._f_mid_urcs:
            urcs = self._f_mid_urcs
            self._f_mid_urcs = []
            pos = 1 if len(segs) >= 2 else 0
            segs[pos:pos] = urcs
        for s in segs:
            self._emit(s)

    def _parse(self, text):
        rest = text[2:]
        if not rest:
            return "", "exec", ""
        c = rest[0]
        if c == "+":
            j = 1
            while j < len(rest) and (rest[j].isalnum()):
                j += 1
            name, tail = rest[:j].upper(), rest[j:]
        elif c == "&":
            return rest[:2].upper(), "basic", rest[2:]
        else:
            return c.upper(), "basic", rest[1:]
        if tail == "":
            return name, "exec", ""
        if tail == "=?":
            return name, "test", ""
        if tail == "?":
            return name, "read", ""
        if tail.startswith("="):
            return name, "write", tail[1:]
        return name, "bad", tail

    # ----------------------------------------------------------------- URCs

    def _urc(self, data, ri=True):
        if not self._powered() or self._silent():
            return
        if self._state != "idle" or self._tmode is not None:
            self._urc_hold.append(data)
            return
        self._emit(data)
        if ri:
            self._ri_pulse()

    def _flush_urcs(self):
        if not self._urc_hold:
            return
        held, self._urc_hold = self._urc_hold, []
        for u in held:
            self._emit(u)
        self._ri_pulse()

    def _set_idle(self):
        """A deferred command finished: resume URCs and pending input."""
        self._state = "idle"
        if self._tmode is None:
            self._flush_urcs()
            self._process()

    def _complete(self, lines, final):
        """Finish a deferred command."""
        if self._state not in ("busy", "exec"):
            return
        self._finish(lines, final)
        self._set_idle()

    # ----------------------------------------------------------------- command table

    _TCPIP = {
        "+QICSGP", "+QIACT", "+QIDEACT", "+QIOPEN", "+QICLOSE", "+QISTATE", "+QISEND",
        "+QIRD", "+QISWTMD", "+QPING", "+QNTP", "+QIDNSCFG", "+QIDNSGIP", "+QICFG",
        "+QIGETERROR",
    }  # fmt: skip

    def _handlers(self):
        h = getattr(self, "_htab", None)
        if h is None:
            h = self._htab = {
                "": self._h_at,
                "+GMR": self._h_gmr,
                "+CGMR": self._h_gmr,
                "+GSN": self._h_gsn,
                "+CGSN": self._h_gsn,
                "+GMI": self._h_gmi,
                "+CGMI": self._h_gmi,
                "+GMM": self._h_gmm,
                "+CGMM": self._h_gmm,
                "+CPIN": self._h_cpin,
                "+CREG": self._h_creg,
                "+CGREG": self._h_cgreg,
                "+CSQ": self._h_csq,
                "+COPS": self._h_cops,
                "+CIMI": self._h_cimi,
                "+QCCID": self._h_qccid,
                "+CMEE": self._h_cmee,
                "+CFUN": self._h_cfun,
                "+CGATT": self._h_cgatt,
                "+CTZR": self._h_ctzr,
                "+CTZU": self._h_ctzu,
                "+IPR": self._h_ipr,
                "+IFC": self._h_ifc,
                "+CGQREQ": self._h_qos,
                "+CGEQREQ": self._h_qos,
                "+CGQMIN": self._h_qos,
                "+CGEQMIN": self._h_qos,
                "+CCLK": self._h_cclk,
                "+QPOWD": self._h_qpowd,
                "+QICSGP": self._h_qicsgp,
                "+QIACT": self._h_qiact,
                "+QIDEACT": self._h_qideact,
                "+QIOPEN": self._h_qiopen,
                "+QICLOSE": self._h_qiclose,
                "+QISTATE": self._h_qistate,
                "+QISEND": self._h_qisend,
                "+QIRD": self._h_qird,
                "+QISWTMD": self._h_qiswtmd,
                "+QPING": self._h_qping,
                "+QNTP": self._h_qntp,
                "+QIDNSCFG": self._h_qidnscfg,
                "+QIDNSGIP": self._h_qidnsgip,
                "+QICFG": self._h_qicfg,
                "+QIGETERROR": self._h_qigeterror,
            }
        return h

    # --- basic commands

    def _h_at(self, kind, p):
        return []

    # --- extended info commands

    def _simple(self, kind, read=None, test=None, execl=None):
        if kind == "read" and read is not None:
            return read
        if kind == "test" and test is not None:
            return test
        if kind == "exec" and execl is not None:
            return execl
        raise ParamError()

    def _h_gmr(self, kind, p):
        return self._simple(kind, test=[], execl=["UC20GQBR03A12E1G"])

    def _h_gsn(self, kind, p):
        return self._simple(kind, test=[], execl=["861075020123456"])

    def _h_gmi(self, kind, p):
        return self._simple(kind, test=[], execl=["Quectel"])

    def _h_gmm(self, kind, p):
        return self._simple(kind, test=[], execl=["UC20"])

    def _sim_check(self):
        if self.sim == "absent":
            raise CmeError(10)
        if self.sim == "SIM PIN" and not self._sim_unlocked:
            raise CmeError(11)

    def _sim_ready(self):
        return self.sim == "READY" or (self.sim == "SIM PIN" and self._sim_unlocked)

    def _h_cpin(self, kind, p):
        if kind == "test":
            return []
        if self.sim == "absent":
            raise CmeError(10)
        if kind == "read":
            return ["+CPIN: READY" if self._sim_ready() else "+CPIN: SIM PIN"]
        if kind == "write":
            if self._sim_ready():
                raise CmeError(3)
            if str_at(p, 0) != self.sim_pin:
                raise CmeError(16)
            self._sim_unlocked = True
            return []
        raise ParamError()

    def _reg(self, which):
        if not self._sim_ready() or self._cfun != 1:
            return 0
        return self.creg if which == "CREG" else self.cgreg

    def _reg_line(self, which, n, urc=False):
        st = self._reg(which)
        head = "+%s: " % which + ("" if urc else "%d," % n)
        if n == 2 and st in (1, 5):
            return head + '%d,"D509","80D413D",2' % st
        return head + "%d" % st

    def _set_registration(self, cs, ps):
        before = (self._reg("CREG"), self._reg("CGREG"))
        if cs is not None:
            self.creg = cs
        if ps is not None:
            self.cgreg = ps
        self._reg_urcs(before)

    def _reg_urcs(self, before):
        if self._reg("CREG") != before[0] and self._creg_n:
            self._urc(b"\r\n" + self._reg_line("CREG", self._creg_n, True).encode() + b"\r\n")
        if self._reg("CGREG") != before[1] and self._cgreg_n:
            self._urc(b"\r\n" + self._reg_line("CGREG", self._cgreg_n, True).encode() + b"\r\n")

    def _h_creg(self, kind, p):
        if kind == "test":
            return ["+CREG: (0-2)"]
        if kind == "read":
            return [self._reg_line("CREG", self._creg_n)]
        if kind == "write":
            self._creg_n = int_at(p, 0, 0, 2, 0)
            return []
        raise ParamError()

    def _h_cgreg(self, kind, p):
        if kind == "test":
            return ["+CGREG: (0-2)"]
        if kind == "read":
            return [self._reg_line("CGREG", self._cgreg_n)]
        if kind == "write":
            self._cgreg_n = int_at(p, 0, 0, 2, 0)
            return []
        raise ParamError()

    def _h_csq(self, kind, p):
        if kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if kind == "exec":
            return ["+CSQ: %d,%d" % (self.csq, self.ber)]
        raise ParamError()

    def _h_cops(self, kind, p):
        if kind == "test":
            return ['+COPS: (2,"VIRTUAL","VIRTUAL","00101",2),,(0-4),(0-2)']
        if kind == "read":
            if self._reg("CREG") in (1, 5) or self._reg("CGREG") in (1, 5):
                return ['+COPS: 0,0,"VIRTUAL",2']
            return ["+COPS: 0"]
        if kind == "write":
            int_at(p, 0, 0, 4)
            return []
        raise ParamError()

    def _h_cimi(self, kind, p):
        if kind == "test":
            return []
        if kind == "exec":
            self._sim_check()
            return ["001010123456789"]
        raise ParamError()

    def _h_qccid(self, kind, p):
        if kind == "test":
            return []
        if kind == "exec":
            self._sim_check()
            return ["+QCCID: 89001012012345678901"]
        raise ParamError()

    def _h_cmee(self, kind, p):
        if kind == "test":
            return ["+CMEE: (0-2)"]
        if kind == "read":
            return ["+CMEE: %d" % self._cmee]
        if kind == "write":
            self._cmee = int_at(p, 0, 0, 2, 0)
            return []
        raise ParamError()

    def _h_cfun(self, kind, p):
        if kind == "test":
            return ["+CFUN: (0,1,4),(0-1)"]
        if kind == "read":
            return ["+CFUN: %d" % self._cfun]
        if kind == "write":
            fun = int_at(p, 0, 0, 4)
            if fun not in (0, 1, 4):
                raise ParamError()
            rst = int_at(p, 1, 0, 1, 0)
            if rst:
                self._finish([], OK)
                self._reboot()
                return _DEFER
            before = (self._reg("CREG"), self._reg("CGREG"))
            self._cfun = fun
            if fun != 1:
                for ctx in list(self._active):
                    self._deact(ctx)
            self._reg_urcs(before)
            return []
        raise ParamError()

    def _h_cgatt(self, kind, p):
        if kind == "test":
            return ["+CGATT: (0,1)"]
        if kind == "read":
            return ["+CGATT: %d" % (1 if self._reg("CGREG") in (1, 5) else 0)]
        if kind == "write":
            int_at(p, 0, 0, 1)
            return []
        raise ParamError()

    def _h_ctzr(self, kind, p):
        if kind == "test":
            return ["+CTZR: (0,1)"]
        if kind == "read":
            return ["+CTZR: %d" % self._ctzr]
        if kind == "write":
            self._ctzr = int_at(p, 0, 0, 1)
            return []
        raise ParamError()

    def _h_ctzu(self, kind, p):
        if kind == "test":
            return ["+CTZU: (0,1)"]
        if kind == "read":
            return ["+CTZU: %d" % self._ctzu]
        if kind == "write":
            self._ctzu = int_at(p, 0, 0, 1)
            return []
        raise ParamError()

    _RATES = (0, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

    def _h_ipr(self, kind, p):
        if kind == "test":
            return ["+IPR: (0,4800,9600,19200,38400,57600,115200,230400,460800,921600)"]
        if kind == "read":
            return ["+IPR: %d" % self._ipr]
        if kind == "write":
            r = int_at(p, 0, 0, 4000000)
            if r not in self._RATES:
                raise ParamError()
            self._ipr = r
            return []
        raise ParamError()

    def _h_ifc(self, kind, p):
        if kind == "test":
            return ["+IFC: (0,2),(0,2)"]
        if kind == "read":
            return ["+IFC: 0,0"]
        if kind == "write":
            int_at(p, 0, 0, 2)
            int_at(p, 1, 0, 2, 0)
            return []
        raise ParamError()

    def _h_qos(self, kind, p):
        if kind in ("test", "read", "write"):
            return []
        raise ParamError()

    # --- clock

    def _net_utc(self):
        return self._epoch + self.now_ms() / 1000.0

    def _fmt_time(self, t, four_digit_year):
        local = datetime.datetime.fromtimestamp(t, datetime.timezone.utc) + datetime.timedelta(
            minutes=15 * self.tz
        )
        y = local.strftime("%Y" if four_digit_year else "%y")
        return "%s/%s%+03d" % (y, local.strftime("%m/%d,%H:%M:%S"), self.tz)

    def _h_cclk(self, kind, p):
        if kind == "test":
            return []
        if kind == "read":
            t = self._net_utc() + self._rtc_offset
            return ['+CCLK: "%s"' % self._fmt_time(t, False)]
        if kind == "write":
            s = str_at(p, 0)
            try:
                dt = datetime.datetime.strptime(s[:17], "%y/%m/%d,%H:%M:%S")
                zone = int(s[17:]) if len(s) > 17 else 0
            except ValueError:
                raise ParamError() from None
            utc = dt.replace(tzinfo=datetime.timezone.utc).timestamp() - zone * 900
            self._rtc_offset = utc - self._net_utc()
            return []
        raise ParamError()

    def _h_qpowd(self, kind, p):
        if kind == "exec":
            mode = 1
        elif kind == "write":
            mode = int_at(p, 0, 0, 1)
        elif kind == "test":
            return ["+QPOWD: (0,1)"]
        else:
            raise ParamError()
        self._finish([], OK)
        self._power = "down"
        self._shutdown()
        self._power = "down"
        self._at(self.qpowd_ms if mode == 1 else 0, lambda: self._power_down(normal=True))
        return _DEFER

    # ----------------------------------------------------------------- basic commands

    def _basic(self, name, tail):
        tail = tail.strip()
        if name == "E":
            if tail not in ("", "0", "1"):
                raise ParamError()
            self._echo = tail == "1"
            return []
        if name == "V":
            if tail not in ("", "1"):
                raise ParamError()  # numeric result codes are not modelled
            return []
        if name == "Q":
            if tail not in ("", "0"):
                raise ParamError()
            return []
        if name == "&W":
            if tail not in ("", "0"):
                raise ParamError()
            return []
        if name == "Z" or name == "&F":
            if tail not in ("", "0"):
                raise ParamError()
            self._echo = True
            return []
        if name == "I":
            if tail not in ("", "0"):
                raise ParamError()
            return ["Quectel", "UC20", "Revision: UC20GQBR03A12E1G"]
        if name == "&D":
            if tail not in ("", "0", "1", "2"):
                raise ParamError()
            self._amp_d = int(tail or "0")
            return []
        if name == "O":
            if tail not in ("", "0"):
                raise ParamError()
            return self._ato()
        raise ParamError()

    # ----------------------------------------------------------------- PDP contexts

    def _ctx_ip(self, ctx):
        parts = self.ip.split(".")
        parts[3] = str((int(parts[3]) + ctx - 1) % 256)
        return ".".join(parts)

    def _h_qicsgp(self, kind, p):
        if kind == "test":
            return ["+QICSGP: (1-16),1-IPV4,APN,USER NAME,PASSWORD,(0-3)"]
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        if len(p) == 1:
            t, apn, user, pw, auth = self._ctx_cfg[ctx]
            return ['+QICSGP: %d,"%s","%s","%s",%d' % (t, apn, user, pw, auth)]
        if len(p) > 6:
            raise ParamError()
        t = int_at(p, 1, 1, 1)
        cfg = self._ctx_cfg[ctx]
        apn = str_at(p, 2, cfg[1])
        user = str_at(p, 3, cfg[2] if len(p) <= 3 else "")
        pw = str_at(p, 4, cfg[3] if len(p) <= 3 else "")
        auth = int_at(p, 5, 0, 3, cfg[4] if len(p) <= 3 else 0)
        self._ctx_cfg[ctx] = [t, apn, user, pw, auth]
        return []

    def _h_qiact(self, kind, p):
        if kind == "test":
            return ["+QIACT: (1-16)"]
        if kind == "read":
            return ['+QIACT: %d,1,1,"%s"' % (c, ip) for c, ip in sorted(self._active.items())]
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        if len(p) > 1:
            raise ParamError()
        if ctx in self._active:
            raise TcpError(563)
        ok = (
            len(self._active) < MAX_ACTIVE
            and self._sim_ready()
            and self._cfun == 1
            and self._reg("CGREG") in (1, 5)
        )

        def done():
            if ok and len(self._active) < MAX_ACTIVE:
                self._active[ctx] = self._ctx_ip(ctx)
                self._last_err = 0
                self._complete([], OK)
            else:
                self._last_err = 556
                self._complete([], ERROR)

        if len(self._active) >= MAX_ACTIVE:
            raise TcpError(556)
        self._at(self.qiact_ms, done)
        return _DEFER

    def _h_qideact(self, kind, p):
        if kind == "test":
            return []
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        if len(p) > 1:
            raise ParamError()

        def done():
            self._deact(ctx)
            self._last_err = 0
            self._complete([], OK)

        self._at(self.qideact_ms, done)
        return _DEFER

    def _deact(self, ctx):
        self._active.pop(ctx, None)
        for c in list(self._conns.values()):
            if c.ctx == ctx:
                self._close_sock(c)
                del self._conns[c.cid]

    def _pdp_deact_by_network(self, ctx):
        if ctx not in self._active:
            return
        del self._active[ctx]
        if self._tmode is not None and self._conns[self._tmode].ctx == ctx:
            self._tm_no_carrier(self._conns[self._tmode])
        for c in list(self._conns.values()):
            if c.ctx == ctx:
                self._close_sock(c)
                c.state = S_CLOSING
        self._urc(b'\r\n+QIURC: "pdpdeact",%d\r\n' % ctx)

    # ----------------------------------------------------------------- DNS

    def _lookup(self, host):
        """List of IPs for host (IPv4 literal or a name in the module's table)."""
        if is_ipv4(host):
            return [host]
        v = self.dns.get(host.lower())
        if v is None:
            v = self.dns.get(host)
        if v is None:
            return []
        return [v] if isinstance(v, str) else list(v)

    def _h_qidnscfg(self, kind, p):
        if kind == "test":
            return ['+QIDNSCFG: (1-16),"pridnsaddr","secdnsaddr"']
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        if len(p) == 1:
            pri, sec = self._dnscfg.get(ctx, ("8.8.8.8", "8.8.4.4"))
            return ['+QIDNSCFG: %d,"%s","%s"' % (ctx, pri, sec)]
        if len(p) > 3:
            raise ParamError()
        pri = str_at(p, 1)
        sec = str_at(p, 2, "0.0.0.0")
        if not is_ipv4(pri) or not is_ipv4(sec):
            raise TcpError(557)
        if ctx not in self._active:
            raise TcpError(566)
        self._dnscfg[ctx] = (pri, sec)
        return []

    def _h_qidnsgip(self, kind, p):
        if kind == "test":
            return ['+QIDNSGIP: (1-16),"hostname"']
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        host = str_at(p, 1)
        if len(p) > 2 or not host:
            raise ParamError()
        if ctx not in self._active:
            raise TcpError(566)

        def done():
            ips = self._lookup(host)
            if ips:
                out = b'\r\n+QIURC: "dnsgip",0,%d,600\r\n' % len(ips)
                for ip in ips:
                    out += b'\r\n+QIURC: "dnsgip","%s"\r\n' % ip.encode()
                self._urc(out)
            else:
                self._urc(b'\r\n+QIURC: "dnsgip",565\r\n')

        self._at(self.dns_ms, done)
        return []

    # ----------------------------------------------------------------- ping / NTP

    def _h_qping(self, kind, p):
        if kind == "test":
            return ['+QPING: (1-16),"HOST",(1-255),(1-10)']
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        host = str_at(p, 1)
        timeout = int_at(p, 2, 1, 255, 1)
        num = int_at(p, 3, 1, 10, 4)
        if len(p) > 4 or not host:
            raise ParamError()
        if ctx not in self._active:
            self._at(0, lambda: self._urc(b"\r\n+QPING: 5\r\n"))
            return []
        ips = self._lookup(host)
        if not ips:
            self._at(self.dns_ms, lambda: self._urc(b"\r\n+QPING: 4\r\n"))
            return []
        ip = ips[0]
        reachable = is_loopback(ip)
        times = []

        def step(i):
            if i >= num:
                if times:
                    mn, mx, avg = min(times), max(times), sum(times) // len(times)
                else:
                    mn = mx = avg = 0
                self._urc(
                    b"\r\n+QPING: 2,%d,%d,%d,%d,%d,%d\r\n"
                    % (num, len(times), num - len(times), mn, mx, avg)
                )
                return
            if reachable:
                rtt = max(1, int(self.ping_ms))

                def reply():
                    times.append(rtt)
                    self._urc(b'\r\n+QPING: 0,"%s",32,%d,255\r\n' % (ip.encode(), rtt))
                    step(i + 1)

                self._at(self.ping_ms, reply)
            else:

                def lost():
                    self._urc(b"\r\n+QPING: 1\r\n")
                    step(i + 1)

                self._at(timeout * 1000, lost)

        step(0)
        return []

    def _h_qntp(self, kind, p):
        if kind == "test":
            return ['+QNTP: (1-16),"SERVER",(1-65535),(0,1)']
        if kind == "read":
            if self._ntp_busy:
                return ['+QNTP: "%s",%d' % self._ntp_busy]
            raise ParamError()
        if kind != "write":
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        server = str_at(p, 1)
        port = int_at(p, 2, 1, 65535, 123)
        autoset = int_at(p, 3, 0, 1, 1)
        if len(p) > 4 or not server:
            raise ParamError()
        if ctx not in self._active:
            raise TcpError(566)
        if self._ntp_busy:
            raise TcpError(553)
        self._ntp_busy = (server, port)
        ips = self._lookup(server)

        def finish(data):
            self._ntp_busy = None
            self._urc(data)

        if not ips:
            self._at(self.dns_ms, lambda: finish(b"\r\n+QNTP: 565\r\n"))
        elif not is_loopback(ips[0]):
            self._at(self.ntp_timeout_ms, lambda: finish(b"\r\n+QNTP: 572\r\n"))
        else:

            def ok():
                t = self._net_utc()
                if autoset:
                    self._rtc_offset = 0.0
                finish(b'\r\n+QNTP: 0,"%s"\r\n' % self._fmt_time(t, True).encode())

            self._at(self.ntp_ms, ok)
        return []

    # ----------------------------------------------------------------- QICFG / QIGETERROR

    def _h_qicfg(self, kind, p):
        if kind == "test":
            return ['+QICFG: "transpktsize",(1-1460)', '+QICFG: "transwaittm",(0-20)']
        if kind != "write":
            raise ParamError()
        what = str_at(p, 0).lower()
        if isinstance(p[0], int) or len(p) > 2:
            raise ParamError()
        if what == "transpktsize":
            if len(p) == 1:
                return ['+QICFG: "transpktsize",%d' % self._transpktsize]
            self._transpktsize = int_at(p, 1, 1, 1460)
            return []
        if what == "transwaittm":
            if len(p) == 1:
                return ['+QICFG: "transwaittm",%d' % self._transwaittm]
            self._transwaittm = int_at(p, 1, 0, 20)
            return []
        raise ParamError()

    def _h_qigeterror(self, kind, p):
        if kind == "test":
            return []
        if kind != "exec":
            raise ParamError()
        e = self._last_err
        return ["+QIGETERROR: %d, %s" % (e, ERROR_TEXT.get(e, "unknown error"))]

    # ----------------------------------------------------------------- sockets: open / close

    def _free_cid(self):
        for cid in range(MAX_CONN - 1, -1, -1):
            if cid not in self._conns:
                return cid
        return None

    def _h_qiopen(self, kind, p):
        if kind == "test":
            return [
                '+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE",'
                '"<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)'
            ]
        if kind == "read":
            return []
        if kind != "write":
            raise ParamError()
        if not 5 <= len(p) <= 7:
            raise ParamError()
        ctx = int_at(p, 0, 1, MAX_CTX)
        cid = int_at(p, 1, 0, MAX_CONN - 1)
        stype = p[2]
        if not isinstance(stype, str) or stype.upper() not in SERVICE_TYPES:
            raise ParamError()
        stype = stype.upper()
        host = str_at(p, 3)
        rport = int_at(p, 4, 0, 65535)
        lport = int_at(p, 5, 0, 65535, 0)
        mode = int_at(p, 6, 0, 2, 0)
        if cid in self._conns:
            raise TcpError(562)
        if ctx not in self._active:
            raise TcpError(566)
        if mode == 2 and stype in (LISTENER, SERVICE):
            raise TcpError(559)
        c = _Conn(cid, ctx, stype, mode)
        c.rport = rport if stype in (TCP, UDP) else 0
        c.lport = lport
        self._conns[cid] = c
        fail = None
        for f in self._f_open_fail:
            fail = f[0]
            f[1] -= 1
            if f[1] <= 0:
                self._f_open_fail.remove(f)
            break
        if mode == 2:
            c.on_open = self._open_done_transparent
            self._at(0, lambda: self._open(c, host, fail))
            return _DEFER
        c.on_open = self._open_done_urc
        self._at(0, lambda: self._open(c, host, fail))
        return []

    def _open(self, c, host, fail):
        if self._conns.get(c.cid) is not c:
            return
        if fail:
            c.on_open(c, fail)
            return
        if c.kind in (LISTENER, SERVICE):
            c.ip = self._ctx_ip(c.ctx)
            try:
                if c.kind == LISTENER:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                else:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            except OSError:
                c.on_open(c, 560)
                return
            try:
                s.bind(("127.0.0.1", c.lport))
            except OSError:
                s.close()
                c.on_open(c, 568)
                return
            if c.kind == LISTENER:
                try:
                    s.listen(8)
                except OSError:
                    s.close()
                    c.on_open(c, 567)
                    return
            s.setblocking(False)
            c.sock = s
            c.lport = s.getsockname()[1]
            c.state = S_LISTENING if c.kind == LISTENER else S_CONNECTED
            self._sel_update(c)
            c.on_open(c, 0)
            return
        ips = self._lookup(host)
        if not ips:
            c.on_open(c, 565)
            return
        ip = ips[0]
        c.ip = ip
        if not is_loopback(ip):
            c.on_open(c, 554)
            return
        try:
            s = socket.socket(
                socket.AF_INET, socket.SOCK_STREAM if c.kind == TCP else socket.SOCK_DGRAM
            )
        except OSError:
            c.on_open(c, 560)
            return
        s.setblocking(False)
        if c.lport:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", c.lport))
            except OSError:
                s.close()
                c.on_open(c, 568)
                return
        c.sock = s
        if c.kind == UDP:
            try:
                s.connect((ip, c.rport))
            except OSError:
                self._close_sock(c)
                c.on_open(c, 554)
                return
            c.state = S_CONNECTED
            self._sel_update(c)
            c.on_open(c, 0)
            return
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect((ip, c.rport))
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_sock(c)
            c.on_open(c, 554)
            return
        c.connecting = True
        self._sel_update(c)

    def _connect_result(self, c):
        c.connecting = False
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._close_sock(c)
            c.on_open(c, 554)
            return
        c.state = S_CONNECTED
        self._sel_update(c)
        c.on_open(c, 0)

    def _open_done_urc(self, c, err):
        if err:
            self._close_sock(c)
            if self._conns.get(c.cid) is c:
                del self._conns[c.cid]
        self._last_err = err
        self._urc(b"\r\n+QIOPEN: %d,%d\r\n" % (c.cid, err))

    def _open_done_transparent(self, c, err):
        if err:
            self._close_sock(c)
            if self._conns.get(c.cid) is c:
                del self._conns[c.cid]
            self._last_err = err
            self._complete([], ERROR)
            return
        self._last_err = 0
        if self._state not in ("busy", "exec"):
            return
        # not _complete(): held URCs and typed-ahead bytes belong to the transparent session
        self._finish([], b"\r\nCONNECT\r\n")
        self._tm_enter(c)

    def _close_sock(self, c):
        if c.sock is not None:
            self._sel_set(c.sock, 0, None)
            c.sel_mask = 0
            try:
                # The module's stack has taken what the peer sent: read it first, so the
                # peer sees the close (FIN), not a reset for data never read.
                c.sock.setblocking(False)
                while c.sock.recv(65536):
                    pass
            except OSError:
                pass
            try:
                c.sock.close()
            except OSError:
                pass
            c.sock = None
        c.connecting = False

    def _h_qiclose(self, kind, p):
        if kind == "test":
            return []
        if kind != "write":
            raise ParamError()
        cid = int_at(p, 0, 0, MAX_CONN - 1)
        int_at(p, 1, 0, 65535, 10)
        if len(p) > 2:
            raise ParamError()
        c = self._conns.pop(cid, None)
        if c is not None:
            if c.sock is not None and c.txq and not c.is_udp():
                try:
                    c.sock.send(c.txq)
                except OSError:
                    pass
            self._close_sock(c)
            if self._last_tm == cid:
                self._last_tm = None
        return []

    def _remote_close(self, cid):
        c = self._conns.get(cid)
        if c is None or c.sock is None:
            return False
        self._peer_closed(c)
        return True

    def _peer_closed(self, c):
        """The remote side closed (or the connection broke)."""
        self._close_sock(c)
        c.state = S_CLOSING
        if self._tmode == c.cid:
            self._tm_no_carrier(c)
            return
        self._urc(b'\r\n+QIURC: "closed",%d\r\n' % c.cid)

    # ----------------------------------------------------------------- sockets: events

    def _want_read(self, c):
        if c.sock is None or c.connecting:
            return False
        if c.kind in (LISTENER, SERVICE, UDP):
            return True
        if self._tmode == c.cid:
            if self._pp_count:
                return len(c.rx) < self.rx_buffer
            return self._backlog() < 65536
        if c.mode == 1:
            return self._backlog() < 65536
        return len(c.rx) < self.rx_buffer

    def _sel_update(self, c):
        if c.sock is None:
            return
        mask = 0
        if self._want_read(c):
            mask |= selectors.EVENT_READ
        if c.connecting or (c.txq and c.kind in (TCP, INCOMING)):
            mask |= selectors.EVENT_WRITE
        if mask != c.sel_mask:
            self._sel_set(c.sock, mask, lambda s, m, c=c: self._on_conn(c, s, m))
            c.sel_mask = mask

    def _resume_readers(self):
        for c in list(self._conns.values()):
            if c.sock is not None and not (c.sel_mask & selectors.EVENT_READ):
                self._sel_update(c)

    def _on_conn(self, c, sock, mask):
        if c.sock is not sock or self._conns.get(c.cid) is not c:
            return
        if mask & selectors.EVENT_WRITE:
            if c.connecting:
                self._connect_result(c)
                return
            self._tcp_flush(c)
        if c.sock is None:
            return
        if mask & selectors.EVENT_READ:
            if c.kind == LISTENER:
                self._accept(c)
            elif c.is_udp():
                self._udp_read(c)
            else:
                self._tcp_read(c)
        if c.sock is not None:
            self._sel_update(c)

    def _accept(self, lc):
        try:
            s, (ip, port) = lc.sock.accept()
        except OSError:
            return
        cid = self._free_cid()
        if cid is None:
            s.close()
            self._urc(b'\r\n+QIURC: "incoming full"\r\n')
            return
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = _Conn(cid, lc.ctx, INCOMING, lc.mode)
        c.sock = s
        c.ip = ip
        c.rport = port
        c.lport = lc.lport
        c.server = lc.cid
        c.state = S_CONNECTED
        self._conns[cid] = c
        self._urc(b'\r\n+QIURC: "incoming",%d,%d,"%s",%d\r\n' % (cid, lc.cid, ip.encode(), port))
        self._sel_update(c)

    def _tcp_read(self, c):
        if self._tmode == c.cid:
            n = self.rx_buffer - len(c.rx) if self._pp_count else 65536
        elif c.mode == 1:
            n = max(MAX_READ * 8, self.push_max)
        else:
            n = self.rx_buffer - len(c.rx)
        if n <= 0:
            return
        try:
            data = c.sock.recv(n)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._peer_closed(c)
            return
        c.rx_total += len(data)
        if self._tmode == c.cid:
            if self._pp_count:
                c.rx += data
            else:
                c.rx_read += len(data)
                self._emit(data)
            return
        if c.mode == 1:
            c.rx_read += len(data)
            for i in range(0, len(data), self.push_max):
                chunk = data[i : i + self.push_max]
                self._urc(b'\r\n+QIURC: "recv",%d,%d\r\n' % (c.cid, len(chunk)) + chunk + b"\r\n")
            return
        c.rx += data
        self._announce(c)

    def _announce(self, c):
        if c.armed and c.unread():
            c.armed = False
            self._urc(b'\r\n+QIURC: "recv",%d\r\n' % c.cid)

    def _udp_read(self, c):
        for _ in range(64):
            try:
                data, addr = c.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # e.g. ECONNREFUSED from an earlier datagram: UDP does not care
                continue
            data = data[:MAX_READ]
            ip, port = addr[0], addr[1]
            c.rx_total += len(data)
            if self._tmode == c.cid:
                if self._pp_count:
                    c.dgrams.append((data, ip, port))
                    c.dgram_bytes += len(data)
                else:
                    c.rx_read += len(data)
                    self._emit(data)
                continue
            if c.mode == 1:
                c.rx_read += len(data)
                if c.kind == SERVICE:
                    head = b'\r\n+QIURC: "recv",%d,%d,"%s",%d\r\n' % (
                        c.cid, len(data), ip.encode(), port,
                    )  # fmt: skip
                else:
                    head = b'\r\n+QIURC: "recv",%d,%d\r\n' % (c.cid, len(data))
                self._urc(head + data + b"\r\n")
                continue
            if c.dgram_bytes + len(data) > self.rx_buffer:
                c.rx_total -= len(data)  # dropped: the buffer is full
                continue
            c.dgrams.append((data, ip, port))
            c.dgram_bytes += len(data)
            self._announce(c)

    def _tcp_flush(self, c):
        if c.sock is None:
            return
        while c.txq:
            try:
                n = c.sock.send(c.txq)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._peer_closed(c)
                return
            del c.txq[:n]
        self._sel_update(c)

    def _sock_send(self, c, data, addr=None):
        """Hand data to the real socket. Returns False if the send buffer is full."""
        if c.kind in (TCP, INCOMING):
            c.txq += data
            self._tcp_flush(c)
        elif c.kind == UDP:
            try:
                c.sock.send(data)
            except OSError:
                pass  # datagrams get lost
        else:
            ip, port = addr
            if is_loopback(ip):
                try:
                    c.sock.sendto(data, (ip, port))
                except OSError:
                    pass
        c.tx_total += len(data)
        if self._f_unacked:
            k = min(self._f_unacked, len(data))
            self._f_unacked -= k
            c.unacked_extra += k

    # ----------------------------------------------------------------- QISEND / QIRD

    def _h_qisend(self, kind, p):
        if kind == "test":
            return ["+QISEND: (0-11),(0-1460)"]
        if kind != "write":
            raise ParamError()
        if not 1 <= len(p) <= 4 or len(p) == 3:
            raise ParamError()
        cid = int_at(p, 0, 0, MAX_CONN - 1)
        c = self._conns.get(cid)
        if len(p) >= 2:
            length = int_at(p, 1, 0, 1 << 30)
            if length == 0 and len(p) == 2:
                if c is None:
                    raise TcpError(570)
                unacked = len(c.txq) + min(c.unacked_extra, c.tx_total)
                return ["+QISEND: %d,%d,%d" % (c.tx_total, c.tx_total - unacked, unacked)]
            if length > MAX_SEND or length == 0:
                raise ParamError()
        else:
            length = None
        addr = None
        if len(p) == 4:
            ip = str_at(p, 2)
            port = int_at(p, 3, 0, 65535)
            if not is_ipv4(ip):
                raise TcpError(557)
            addr = (ip, port)
        if c is None:
            raise TcpError(570)
        if c.kind == LISTENER:
            raise TcpError(559)
        if (c.kind == SERVICE) != (addr is not None) or (c.kind == SERVICE and length is None):
            raise ParamError()
        if c.state != S_CONNECTED or c.sock is None:
            raise TcpError(555)
        self._prompt = {"conn": c, "len": length, "addr": addr, "buf": bytearray()}
        segs = [self._cur_echo, b"\r\n> "]
        self._cur_echo = b""
        self._state = "prompt"
        self._respond(segs)
        return _DEFER

    def _prompt_input(self):
        """Consume payload bytes for AT+QISEND. Returns True when the send is complete."""
        pr = self._prompt
        buf = pr["buf"]
        if pr["len"] is not None:
            need = pr["len"] - len(buf)
            take = self._inbuf[:need]
            buf += take
            del self._inbuf[: len(take)]
            if len(buf) < pr["len"]:
                return False
            self._send_done(bytes(buf))
            return True
        # variable length: up to Ctrl-Z (send) or ESC (cancel)
        for i, b in enumerate(self._inbuf):
            if b == CTRL_Z or b == ESC:
                buf += self._inbuf[:i]
                del self._inbuf[: i + 1]
                if b == ESC:
                    self._prompt = None
                    self._state = "idle"
                    self._respond([OK])
                    self._flush_urcs()
                elif len(buf) > MAX_SEND:
                    self._send_result(ERROR)
                else:
                    self._send_done(bytes(buf))
                return True
        buf += self._inbuf
        self._inbuf.clear()
        if len(buf) > MAX_SEND:
            self._send_result(ERROR)
            return True
        return False

    def _send_result(self, final):
        self._prompt = None
        self._state = "idle"
        self._respond([final])
        self._flush_urcs()

    def _send_done(self, data):
        c = self._prompt["conn"]
        addr = self._prompt["addr"]
        if self._conns.get(c.cid) is not c or c.sock is None or c.state != S_CONNECTED:
            self._last_err = 555
            self._send_result(ERROR)
            return
        if self._f_send_fail:
            self._f_send_fail -= 1
            self._send_result(b"\r\nSEND FAIL\r\n")
            return
        if c.kind in (TCP, INCOMING) and len(c.txq) + len(data) > self.send_buffer:
            self._send_result(b"\r\nSEND FAIL\r\n")
            return
        self._sock_send(c, data, addr)
        self._send_result(b"\r\nSEND OK\r\n")

    def _h_qird(self, kind, p):
        if kind == "test":
            return ["+QIRD: (0-11),(0-1500)"]
        if kind != "write":
            raise ParamError()
        if not 1 <= len(p) <= 2:
            raise ParamError()
        cid = int_at(p, 0, 0, MAX_CONN - 1)
        length = int_at(p, 1, 0, MAX_READ, None)
        c = self._conns.get(cid)
        if c is None:
            raise TcpError(570)
        if length == 0:
            return ["+QIRD: %d,%d,%d" % (c.rx_total, c.rx_read, c.unread())]
        if c.kind == LISTENER:
            raise TcpError(559)
        if c.kind in (TCP, INCOMING):
            if length is None:
                raise ParamError()
            data = bytes(c.rx[:length])
            del c.rx[: len(data)]
            head = b"+QIRD: %d" % len(data)
        else:
            if c.dgrams:
                data, ip, port = c.dgrams.popleft()
                c.dgram_bytes -= len(data)
            else:
                data, ip, port = b"", None, None
            if data and c.kind == SERVICE:
                head = b'+QIRD: %d,"%s",%d' % (len(data), ip.encode(), port)
            else:
                head = b"+QIRD: %d" % len(data)
        c.rx_read += len(data)
        if not c.unread():
            c.armed = True
        self._sel_update(c)
        if data:
            segs = [self._cur_echo, b"\r\n" + head + b"\r\n" + data + b"\r\n", OK]
        else:
            segs = [self._cur_echo, b"\r\n" + head + b"\r\n", OK]
        self._cur_echo = b""
        self._state = "idle"
        self._respond(segs)
        return _DEFER

    def _h_qistate(self, kind, p):
        if kind == "test":
            return []
        if kind == "read":
            conns = sorted(self._conns.values(), key=lambda c: c.cid)
        elif kind == "write":
            qt = int_at(p, 0, 0, 1)
            if len(p) != 2:
                raise ParamError()
            if qt == 0:
                ctx = int_at(p, 1, 1, MAX_CTX)
                conns = sorted(
                    (c for c in self._conns.values() if c.ctx == ctx), key=lambda c: c.cid
                )
            else:
                cid = int_at(p, 1, 0, MAX_CONN - 1)
                conns = [self._conns[cid]] if cid in self._conns else []
        else:
            raise ParamError()
        return [
            '+QISTATE: %d,"%s","%s",%d,%d,%d,%d,%d,%d,"uart"'
            % (c.cid, c.kind, c.ip, c.rport, c.lport, c.state, c.ctx, c.server, c.mode)
            for c in conns
        ]

    def _h_qiswtmd(self, kind, p):
        if kind == "test":
            return ["+QISWTMD: (0-11),(0-2)"]
        if kind == "read":
            return []
        if kind != "write":
            raise ParamError()
        cid = int_at(p, 0, 0, MAX_CONN - 1)
        mode = int_at(p, 1, 0, 2)
        if len(p) != 2:
            raise ParamError()
        c = self._conns.get(cid)
        if c is None:
            raise TcpError(570)
        if mode == 2:
            if c.kind in (LISTENER, SERVICE):
                raise TcpError(559)
            if c.state != S_CONNECTED or c.sock is None:
                raise TcpError(555)
            self._finish([], b"\r\nCONNECT\r\n")
            self._tm_enter(c)
            return _DEFER
        c.mode = mode
        if c.kind == LISTENER:
            return []
        if mode == 1:
            self._push_buffered(c)
        else:
            c.armed = not c.unread()
        self._sel_update(c)
        return []

    def _push_buffered(self, c):
        if c.kind in (TCP, INCOMING):
            data = bytes(c.rx)
            c.rx.clear()
            c.rx_read += len(data)
            for i in range(0, len(data), self.push_max):
                chunk = data[i : i + self.push_max]
                self._urc(b'\r\n+QIURC: "recv",%d,%d\r\n' % (c.cid, len(chunk)) + chunk + b"\r\n")
        else:
            while c.dgrams:
                data, ip, port = c.dgrams.popleft()
                c.dgram_bytes -= len(data)
                c.rx_read += len(data)
                if c.kind == SERVICE:
                    head = b'\r\n+QIURC: "recv",%d,%d,"%s",%d\r\n' % (
                        c.cid, len(data), ip.encode(), port,
                    )  # fmt: skip
                else:
                    head = b'\r\n+QIURC: "recv",%d,%d\r\n' % (c.cid, len(data))
                self._urc(head + data + b"\r\n")
        c.armed = True

    # ----------------------------------------------------------------- transparent mode

    def _ato(self):
        c = self._conns.get(self._last_tm) if self._last_tm is not None else None
        if c is None or c.state != S_CONNECTED or c.sock is None:
            return ([], b"\r\nNO CARRIER\r\n")
        self._finish([], b"\r\nCONNECT\r\n")
        self._tm_enter(c)
        return _DEFER

    def _tm_enter(self, c):
        self._state = "idle"
        self._tmode = c.cid
        c.mode = 2
        self._tm_last_in = self.now_ms()
        self._pp_count = 0
        self._tm_pkt = bytearray()
        # whatever was buffered goes out first
        if c.kind in (TCP, INCOMING):
            if c.rx:
                c.rx_read += len(c.rx)
                self._emit(bytes(c.rx))
                c.rx.clear()
        else:
            while c.dgrams:
                data, _, _ = c.dgrams.popleft()
                c.dgram_bytes -= len(data)
                c.rx_read += len(data)
                self._emit(data)
        c.armed = True
        # bytes typed after the command line are payload
        if self._inbuf:
            data = bytes(self._inbuf)
            self._inbuf.clear()
            self._tm_input(data, self._tm_last_in)
        self._sel_update(c)

    def _tm_input(self, data, t):
        c = self._conns.get(self._tmode)
        payload = bytearray()
        i = 0
        n = len(data)
        if self._pp_count == 0:
            if data[0] == PLUS and t - self._tm_last_in >= GUARD_MS:
                self._pp_count = 1
                self._pp_t0 = t
                i = 1
                self._pp_timer = self._at(GUARD_MS, self._pp_expire)
            else:
                payload += data
                i = n
        while i < n and self._pp_count:
            b = data[i]
            if self._pp_count < 3 and b == PLUS and t - self._pp_t0 <= GUARD_MS:
                self._pp_count += 1
                i += 1
                if self._pp_count == 3:
                    self._pp_timer.cancel()
                    self._pp_timer = self._at(GUARD_MS, self._pp_success)
            else:
                payload += self._pp_abort()
                payload += data[i:]
                i = n
        self._tm_last_in = t
        if payload and c is not None:
            self._tm_feed(c, payload)

    def _pp_abort(self):
        """The '+' run was not an escape: return it as payload, release held downlink data."""
        plus = b"+" * self._pp_count
        self._pp_count = 0
        if self._pp_timer is not None:
            self._pp_timer.cancel()
            self._pp_timer = None
        c = self._conns.get(self._tmode) if self._tmode is not None else None
        if c is not None:
            if c.kind in (TCP, INCOMING):
                if c.rx:
                    c.rx_read += len(c.rx)
                    self._emit(bytes(c.rx))
                    c.rx.clear()
            else:
                while c.dgrams:
                    data, _, _ = c.dgrams.popleft()
                    c.dgram_bytes -= len(data)
                    c.rx_read += len(data)
                    self._emit(data)
            self._sel_update(c)
        return plus

    def _pp_expire(self):
        # fewer than three '+' within the guard time: they were data
        if self._tmode is None or self._pp_count >= 3:
            return
        plus = self._pp_abort()
        c = self._conns.get(self._tmode)
        if c is not None:
            self._tm_feed(c, plus)

    def _pp_success(self):
        if self._tmode is None or self._pp_count != 3:
            return
        self._pp_count = 0
        self._pp_timer = None
        self._tm_exit(escape=True)

    def _tm_exit(self, escape=False):
        """Leave transparent mode (by +++ or DTR): OK, connection now in buffer mode."""
        c = self._conns.get(self._tmode)
        if not escape and self._pp_count:
            plus = b"+" * self._pp_count
            self._pp_count = 0
            if self._pp_timer is not None:
                self._pp_timer.cancel()
            if c is not None:
                self._tm_feed(c, plus)
        if c is not None:
            self._tm_flush_pkt(c)
        self._tmode = None
        self._last_tm = c.cid if c is not None else None
        self._emit(OK)
        if c is not None:
            c.mode = 0
            c.armed = True
            self._announce(c)
            self._sel_update(c)
        self._set_idle()

    def _tm_no_carrier(self, c):
        if self._pp_count:
            self._pp_count = 0
            if self._pp_timer is not None:
                self._pp_timer.cancel()
        if c.unread():
            self._pp_abort()
        self._tm_pkt = bytearray()
        if self._tm_pkt_timer is not None:
            self._tm_pkt_timer.cancel()
        self._tmode = None
        self._last_tm = c.cid
        self._emit(b"\r\nNO CARRIER\r\n")
        self._set_idle()

    def _tm_feed(self, c, data):
        self._tm_pkt += data
        size = self._transpktsize
        while len(self._tm_pkt) >= size:
            self._tm_send(c, bytes(self._tm_pkt[:size]))
            del self._tm_pkt[:size]
        if self._tm_pkt_timer is not None:
            self._tm_pkt_timer.cancel()
            self._tm_pkt_timer = None
        if self._tm_pkt:
            if self._transwaittm == 0:
                self._tm_flush_pkt(c)
            else:
                self._tm_pkt_timer = self._at(
                    self._transwaittm * 100, lambda: self._tm_flush_pkt(c)
                )

    def _tm_flush_pkt(self, c):
        if self._tm_pkt_timer is not None:
            self._tm_pkt_timer.cancel()
            self._tm_pkt_timer = None
        if self._tm_pkt:
            data = bytes(self._tm_pkt)
            self._tm_pkt = bytearray()
            self._tm_send(c, data)

    def _tm_send(self, c, data):
        if c.sock is None or self._conns.get(c.cid) is not c:
            return
        self._sock_send(c, data)


# ---------------------------------------------------------------------- command line

FAULT_HELP = """\
fault commands (--fault CMD, or one per line on stdin):
  silence MS | silence forever   answer nothing, ignore input (MS module time)
  drop N                         drop the next N output bytes
  garble N                       replace the next N output bytes with random bytes
  split N,N,...                  write the next output in chunks of these sizes
  urc TEXT                       emit a URC now, e.g. urc +QIURC: "closed",0
  urcmid TEXT                    put a URC inside the next response (between its lines)
  sendfail N                     the next N AT+QISEND answer SEND FAIL
  unacked N                      the next N sent bytes stay unacknowledged
  openfail CODE [N]              the next N AT+QIOPEN fail with <err> CODE
  close CID                      the peer closes connection CID (+QIURC: "closed")
  pdpdeact CTX                   the network deactivates context CTX
  reboot                         reboot the module (RDY after boot time)
  error PREFIX CODE [N]          commands starting with PREFIX answer ERROR (QIGETERROR CODE)
  delay PREFIX MS                delay responses of commands starting with PREFIX
  reg CS PS                      set +CREG / +CGREG registration state (0,1,2,3,5)
  csq RSSI                       set the signal quality
  sim READY|absent|"SIM PIN"     set the SIM state
  pin NAME LEVEL                 drive PWRKEY/RESET/DTR (0 or 1)
  clear                          clear all faults
  state                          print power state and connections
"""


def apply_fault_command(vm, line, out=None):
    """Apply one fault command line (see FAULT_HELP). Returns False if not understood."""
    parts = line.strip().split(None, 1)
    if not parts:
        return True
    cmd = parts[0].lower()
    arg = parts[1].strip() if len(parts) > 1 else ""
    a = arg.split()
    try:
        if cmd == "silence":
            vm.fault_silence(None if arg in ("forever", "-", "") else float(arg))
        elif cmd == "drop":
            vm.fault_drop(int(arg))
        elif cmd == "garble":
            vm.fault_garble(int(arg))
        elif cmd == "split":
            vm.fault_split([int(x) for x in arg.replace(",", " ").split()])
        elif cmd == "urc":
            vm.inject_urc(arg)
        elif cmd == "urcmid":
            vm.inject_urc(arg, mid_response=True)
        elif cmd == "sendfail":
            vm.fault_send_fail(int(arg or 1))
        elif cmd == "unacked":
            vm.fault_unacked(int(arg))
        elif cmd == "openfail":
            vm.fault_open_fail(int(a[0]), int(a[1]) if len(a) > 1 else 1)
        elif cmd == "close":
            vm.remote_close(int(arg))
        elif cmd == "pdpdeact":
            vm.pdp_deactivate(int(arg or 1))
        elif cmd == "reboot":
            vm.reboot()
        elif cmd == "error":
            vm.fault_error(a[0], int(a[1]), int(a[2]) if len(a) > 2 else 1)
        elif cmd == "delay":
            vm.fault_delay(a[0], float(a[1]))
        elif cmd == "reg":
            vm.set_registration(int(a[0]), int(a[1]) if len(a) > 1 else None)
        elif cmd == "csq":
            vm.set_signal(int(a[0]))
        elif cmd == "sim":
            vm.set_sim(arg.strip('"'))
        elif cmd == "pin":
            vm.pin(a[0], int(a[1]))
        elif cmd == "clear":
            vm.clear_faults()
        elif cmd == "state":
            if out:
                out(
                    "power %s status %d contexts %s connections %s"
                    % (vm.power_state, vm.status, vm.active_contexts(), vm.connections())
                )
        else:
            return False
    except (ValueError, IndexError):
        return False
    return True


def _hostport(s):
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1"), int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Virtual Quectel UC20/EC2x module (TCP/IP AT commands) on loopback.",
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--listen", default="127.0.0.1:0", help="UART endpoint HOST:PORT")
    ap.add_argument("--pins", default=None, help="pin channel HOST:PORT (default: any port)")
    ap.add_argument("--speed", type=float, default=1.0, help="module clock factor (default 1)")
    ap.add_argument("--baud", type=int, default=None, help="throttle the UART to BAUD/10 B/s")
    ap.add_argument("--off", action="store_true", help="start powered off (needs PWRKEY)")
    ap.add_argument(
        "--dns",
        action="append",
        default=[],
        metavar="NAME=IP",
        help="add a DNS table entry (repeatable; IP may be a,b for several)",
    )
    ap.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CMD",
        help="apply a fault command at start (repeatable; see below)",
    )
    ap.add_argument("--boot-ms", type=float, default=3000, help="boot time (module ms)")
    ap.add_argument("--pwrkey-on-ms", type=float, default=1000, help="PWRKEY low time to power on")
    ap.add_argument(
        "--pwrkey-off-ms",
        type=float,
        default=None,
        help="PWRKEY low time to power off (default: PWRKEY cannot power off)",
    )
    ap.add_argument("--qiact-ms", type=float, default=500, help="AT+QIACT duration (module ms)")
    ap.add_argument("--ip", default="10.7.157.1", help="IP address of context 1")
    ap.add_argument("--sim", default="READY", help='SIM state: READY, absent, "SIM PIN"')
    ap.add_argument("--seed", type=int, default=None, help="random seed (garble fault)")
    ap.add_argument("--push-max", type=int, default=MAX_READ,
                    help="largest direct-push announcement in bytes (default 1500)")  # fmt: skip
    ap.add_argument("-v", "--verbose", action="store_true", help="log UART traffic to stderr")
    args = ap.parse_args(argv)

    dns = {"localhost": "127.0.0.1"}
    for item in args.dns:
        name, _, ip = item.partition("=")
        dns[name.lower()] = ip.split(",") if "," in ip else ip
    host, port = _hostport(args.listen)
    pin_host, pin_port = _hostport(args.pins) if args.pins else (host, 0)
    log = (lambda m: sys.stderr.write(m + "\n")) if args.verbose else None
    vm = VirtualModule(
        host=host, port=port, pin_port=pin_port, speed=args.speed, baud=args.baud,
        powered=not args.off, boot_ms=args.boot_ms, pwrkey_on_ms=args.pwrkey_on_ms,
        qiact_ms=args.qiact_ms, dns=dns, ip=args.ip, pwrkey_off_ms=args.pwrkey_off_ms,
        sim=args.sim, seed=args.seed, log=log, pin_host=pin_host, push_max=args.push_max,
    )  # fmt: skip
    vm.start()
    for f in args.fault:
        if not apply_fault_command(vm, f):
            sys.stderr.write("unknown fault command: %s\n" % f)
    print(
        "virtual module: uart %s:%d pins %s:%d" % (host, vm.port, pin_host, vm.pin_port),
        flush=True,
    )

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def stdin_reader():
        try:
            for line in sys.stdin:
                if not line.strip():
                    continue
                if not apply_fault_command(vm, line, out=lambda m: print(m, flush=True)):
                    print("unknown fault command: %s" % line.strip(), flush=True)
        except (OSError, ValueError):
            pass

    if sys.stdin is not None and not sys.stdin.closed:
        threading.Thread(target=stdin_reader, daemon=True).start()
    while not stop.is_set():
        stop.wait(0.5)
    vm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
