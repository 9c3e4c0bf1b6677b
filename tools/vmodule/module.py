"""VirtualModule: the parts put together, and the public API tests and tools drive."""

import random

from .clock import Clock
from .commands import BASIC, TABLE, TCPIP
from .commands.data import qisend
from .commands.pdp import deactivated_by_network
from .connections import Connections
from .contexts import Contexts
from .dns import DNSTable
from .engine import Engine
from .faults import Faults
from .files import FileStore
from .limits import MAX_READ
from .loop import Loop
from .network import Network
from .pins import PinServer
from .power import Power
from .sockets import SocketIO
from .tls import TlsConn, TlsIO
from .transparent import Transparent
from .uart import UARTServer


class VirtualModule:
    """A virtual Quectel module. See tools/virtual_module.py."""

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
        files=None,
    ):
        self.host = host
        self.pin_host = pin_host or host
        self._ports = (port, pin_port)
        self.qiact_ms = qiact_ms
        self.qideact_ms = qideact_ms
        self.dns_ms = dns_ms
        self.ntp_ms = ntp_ms
        self.ntp_timeout_ms = ntp_timeout_ms
        self.ping_ms = ping_ms
        self._stopped = False
        self._dtr = 0  # DTR level (the other input pins belong to power)

        self.loop = Loop(speed, log)
        self.uart = UARTServer(self.loop, baud, split_pause_ms)
        self.pins = PinServer(self.loop)
        self.faults = Faults(self.loop, self.uart, random.Random(seed))
        self.power = Power(self, powered, boot_ms, pwrkey_on_ms, pwrkey_off_ms, qpowd_ms)
        self.net = Network(sim, pin, creg, cgreg, csq)
        self.clock = Clock(self.loop, tz)
        self.dns = DNSTable(dns)
        self.contexts = Contexts(ip)
        self.conns = Connections()
        self.sockets = SocketIO(self, rx_buffer, send_buffer, push_max)
        # flash: kept over reboots, and handed to a new module when given
        self.files = files if files is not None else FileStore()
        self.tls = TlsIO(self, rx_buffer, send_buffer, push_max)
        self.tm = Transparent(self)
        commands = {name: self._bind(fn) for name, fn in TABLE.items()}
        commands["+QISEND"] = self._h_qisend
        basic = {name: self._bind_basic(fn) for name, fn in BASIC.items()}
        self.engine = Engine(self, commands, basic, TCPIP)

        self.uart.on_input = self.engine.input
        self.uart.on_drain = self._drained
        self.pins.on_pin = self._pin_set
        self.pins.on_gone = self._pins_gone
        self.loop.before_wait = self.uart.flush

    def conn(self, cid):
        """The connection (TCP/IP or SSL: they share the IDs) with this ID, or None."""
        c = self.conns.get(cid)
        return c if c is not None else self.tls.conns.get(cid)

    def io_of(self, c):
        """What moves connection c's data: the TLS layer or the plain sockets."""
        return self.tls if isinstance(c, TlsConn) else self.sockets

    def _drained(self):
        self.sockets.resume_readers()
        self.tls.resume_all()

    def _bind(self, fn):
        return lambda kind, p: fn(self, kind, p)

    def _bind_basic(self, fn):
        return lambda tail: fn(self, tail)

    def _h_qisend(self, kind, p):
        """AT+QISEND (tools/bench.py wraps it to count sends)."""
        return qisend(self, kind, p)

    # ----------------------------------------------------------------- lifecycle

    def start(self):
        if self.loop.started:
            return self
        self.loop.open()
        self.uart.listen(self.host, self._ports[0])
        self.pins.listen(self.pin_host, self._ports[1])
        self.clock.start()
        self.pins.outputs["STATUS"] = 1 if self.power.on() else 0
        self.loop.start()
        return self

    def stop(self):
        if not self.loop.started or self._stopped:
            return
        self._stopped = True
        self.loop.stop()
        for c in list(self.conns.values()):
            self.sockets.close(c)
        self.tls.close_all()
        self.uart.close()
        self.pins.close()
        self.loop.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def shutdown(self):
        """Everything the module had is gone (power loss, reset, reboot)."""
        self.loop.gen += 1
        for c in list(self.conns.values()):
            self.sockets.close(c)
        self.conns.clear()
        self.tls.shutdown()
        self.files.power_lost()
        self.engine.reset()
        self.net.reset()
        self.contexts.reset()
        self.clock.reset()
        self.tm.reset()

    # ----------------------------------------------------------------- public: state

    @property
    def port(self):
        """TCP port of the UART (known once started)."""
        return self.uart.port or self._ports[0]

    @property
    def pin_port(self):
        """TCP port of the pin channel (known once started)."""
        return self.pins.port or self._ports[1]

    @property
    def speed(self):
        return self.loop.speed

    @property
    def ip(self):
        """Address of context 1."""
        return self.contexts.ip

    @property
    def rx_bytes(self):
        """Bytes received on the UART since start or reset_counters()."""
        return self.uart.rx_bytes

    @property
    def tx_bytes(self):
        """Bytes written to the UART since start or reset_counters()."""
        return self.uart.tx_bytes

    @property
    def split_pause_ms(self):
        return self.uart.split_pause_ms

    @split_pause_ms.setter
    def split_pause_ms(self, ms):
        self.uart.split_pause_ms = ms

    @property
    def status(self):
        """Level of the STATUS pin (1 = module on)."""
        return self.pins.outputs["STATUS"]

    @property
    def power_state(self):
        """'off', 'booting', 'on' or 'down' (powering down)."""
        return self.power.state

    def now_ms(self):
        """Module time in ms since start (real time multiplied by speed)."""
        return self.loop.now_ms()

    def reset_counters(self):
        self.uart.reset_counters()

    def set_registration(self, cs=None, ps=None):
        """Set CS (+CREG) / PS (+CGREG) registration state: 0, 1, 2, 3 or 5."""

        def do():
            for urc in self.net.set_registration(cs, ps):
                self.engine.urc(urc)

        self.loop.invoke(do)

    def set_signal(self, rssi, ber=99):
        self.net.csq = rssi
        self.net.ber = ber

    def set_sim(self, state):
        """'READY', 'absent' or 'SIM PIN'."""
        self.net.sim = state

    def set_dns(self, name, ip):
        """Add a name to the module's DNS table (ip: str or list of str; None removes)."""
        self.dns.set(name, ip)

    def connections(self):
        """Snapshot: {cid: dict(kind, state, mode, ctx, unread, tx_total, lport, ip, rport)}."""
        return self.loop.invoke(self.conns.snapshot)

    def ssl_connections(self):
        """Snapshot: {cid: dict(state, mode, ctx, sslctx, unread, rx_total, tx_total, rport)}."""
        return self.loop.invoke(lambda: {c.cid: c.info() for c in self.tls.conns.values()})

    def file_list(self):
        """Snapshot of the file store: {"UFS:name": size}."""
        return self.loop.invoke(self.files.listing)

    def active_contexts(self):
        return sorted(self.contexts.active)

    # ----------------------------------------------------------------- public: faults

    def clear_faults(self):
        def do():
            for c in self.conns.values():
                c.unacked_extra = 0
            for c in self.tls.conns.values():
                c.drop_at = None
            self.faults.clear()

        self.loop.invoke(do)

    def fault_silence(self, ms):
        """Answer nothing (and ignore input) for ms module time; None: until clear_faults()."""
        self.loop.invoke(self.faults.silence, ms)

    def fault_deaf_escape(self):
        """Transparent mode cannot be left by "+++" or DTR (until clear_faults())."""
        self.loop.invoke(setattr, self.faults, "deaf_escape", True)

    def fault_drop(self, n):
        """Drop the next n output bytes."""
        self.loop.invoke(setattr, self.faults, "drop", int(n))

    def fault_garble(self, n):
        """Replace the next n output bytes with random bytes."""
        self.loop.invoke(setattr, self.faults, "garble", int(n))

    def fault_split(self, sizes):
        """Write the next output in chunks of these sizes, with small pauses between them."""
        self.loop.invoke(self.faults.split, sizes)

    def inject_urc(self, text, mid_response=False):
        """Emit a URC now (queued as usual), or inside the next response (between its lines)."""
        data = text.encode("latin-1") if isinstance(text, str) else bytes(text)
        if not data.startswith(b"\r\n"):
            data = b"\r\n" + data + b"\r\n"

        def do():
            if mid_response:
                self.faults.mid_urcs.append(data)
            else:
                self.engine.urc(data)

        self.loop.invoke(do)

    def fault_send_fail(self, n):
        """The next n AT+QISEND / AT+QSSLSEND data transfers answer SEND FAIL (data discarded)."""
        self.loop.invoke(setattr, self.faults, "send_fail", int(n))

    def fault_unacked(self, n):
        """The next n bytes sent stay unacknowledged in AT+QISEND=<id>,0 (until clear_faults)."""
        self.loop.invoke(setattr, self.faults, "unacked", int(n))

    def fault_open_fail(self, code=554, count=1):
        """The next count AT+QIOPEN fail with <err> = code (URC, or ERROR in transparent mode)."""
        self.loop.invoke(self.faults.open_fail.append, [int(code), int(count)])

    def remote_close(self, cid):
        """Close connection cid's real socket as if the peer closed it. Returns False if unused.

        For an SSL connection: the link closes cleanly (close_notify), +QSSLURC: "closed".
        """
        return self.loop.invoke(self._remote_close, cid)

    def _remote_close(self, cid):
        if cid in self.tls.conns:
            return self.tls.break_link(self.tls.conns[cid], reset=False)
        c = self.conns.get(cid)
        if c is None or c.sock is None:
            return False
        self.sockets.peer_closed(c)
        return True

    def fault_tls_drop(self, cid, after=0, reset=True):
        """SSL connection cid breaks once `after` more bytes went through it (either way):
        reset (TCP RST, no close_notify) or a clean close; +QSSLURC: "closed" either way.
        Returns False if cid is not an open SSL connection."""

        def do():
            c = self.tls.conns.get(cid)
            if c is None or c.sock is None or c.phase is not None:
                return False
            if after <= 0:
                return self.tls.break_link(c, reset)
            c.drop_at = c.rx_total + c.tx_total + int(after)
            c.drop_reset = reset
            return True

        return self.loop.invoke(do)

    def fault_upload_corrupt(self, n=1):
        """The next n AT+QFUPL uploads store one corrupted bit (their checksum differs)."""
        self.loop.invoke(setattr, self.faults, "corrupt", int(n))

    def pdp_deactivate(self, ctx=1):
        """The network deactivates context ctx: +QIURC: "pdpdeact",ctx; its sockets close."""
        self.loop.invoke(deactivated_by_network, self, ctx)

    def reboot(self):
        """Reboot: sockets closed, contexts down, STATUS 0, then RDY and STATUS 1 after boot_ms."""
        self.loop.invoke(self.power.reboot)

    def fault_error(self, prefix, code, count=1):
        """Commands starting with prefix answer ERROR, QIGETERROR code (count None: always)."""
        self.loop.invoke(self.faults.errors.append, [prefix.upper(), int(code), count])

    def fault_delay(self, prefix, ms, count=None):
        """Delay the response of commands starting with prefix by ms module time."""
        self.loop.invoke(self.faults.delays.append, [prefix.upper(), ms, count])

    def pin(self, name, level):
        """Drive an input pin from Python (same as a line on the pin channel)."""
        self.loop.invoke(self._pin_set, name.upper(), int(level))

    # ----------------------------------------------------------------- pins

    def _pin_set(self, name, level):
        self.loop.trace("pin %s %d" % (name, level))
        if name == "DTR":
            old, self._dtr = self._dtr, level
            self.tm.dtr(old, level)
        else:
            self.power.pin(name, level)

    def _pins_gone(self):
        # unconnected inputs float to their idle (pulled-up) level
        self._pin_set("PWRKEY", 1)
        self._pin_set("RESET", 1)
