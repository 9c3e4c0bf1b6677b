"""The modem: state, commands, the routing of what the module says on its own, and the
procedures of every other module, published once.

`Modem` offers MicroPython's network-interface surface (`active`, `connect`, `isconnected`,
`status`, `ipconfig`, `ifconfig`) plus `ping`, `ntp`, `getaddrinfo` and the DNS settings.
The procedures live where their concept does and are loaded on demand: power
(`quectel.power`), bring-up and recovery (`quectel.lifecycle`), identity and network
utilities (`quectel.diag`), names (`quectel.dns`). What runs once (power, bring-up,
recovery, identity) is released after use, so a connected program's steady state holds
only the data path. Each is a generator procedure (see `ATEngine.run`): `modem.g_connect`
is the procedure, `modem.connect` runs it blocking, `quectel.aio` awaits it.
"""

import errno
import sys

from . import parse
from .engine import CONNECT_IDS, ATEngine, Events, _name
from .errors import ATTimeout, ModuleOff, QuectelError
from .policy import Policy
from .validate import check_context, check_int

# Interface states, reported by status() and to the on_change callback.
STAT_OFF = 0  # not powered, or powered off by us
STAT_IDLE = 1  # powered and answering, no data connection
STAT_CONNECTING = 2  # SIM, registration, PDP activation
STAT_GOT_IP = 3  # PDP context active: sockets work
STAT_BACKOFF = 4  # bring-up failed; waiting before the next restart
STAT_NO_SIM = -1
STAT_NOT_REGISTERED = -2
STAT_PDP_FAILED = -3
STAT_NO_RESPONSE = -4

_SSL_CLOSED = b'+QSSLURC: "closed",'
_PKG = __name__[: __name__.rfind(".") + 1]  # "quectel."
_TRANSIENT = ("power", "lifecycle", "diag")  # released after use: a program runs them rarely
_users = {}  # module -> procedures of it running now (it is released when none is)


def _load(module):
    full = _PKG + module
    mod = sys.modules.get(full)
    if mod is None:
        try:
            __import__(full)
        except MemoryError:  # a caller of the network sees OSErrors only
            raise OSError(errno.ENOMEM, "no heap to load the procedure") from None
        mod = sys.modules[full]
    _users[module] = _users.get(module, 0) + 1
    return mod


def _unload(module):
    n = _users[module] - 1
    _users[module] = n
    if not n and module in _TRANSIENT:
        del sys.modules[_PKG + module]
        try:
            delattr(sys.modules[_PKG[:-1]], module)
        except (AttributeError, KeyError):
            pass


# Where each procedure lives: `modem.connect(...)` runs `quectel.lifecycle.g_connect(modem,
# ...)` to its end, and `modem.g_connect(...)` is that generator procedure itself, for
# quectel.aio (see Modem.__getattr__). Their docstrings are in those modules.
_HOMES = {
    "power_on": "power", "power_off": "power", "reset": "power", "active": "power",
    "connect": "lifecycle", "disconnect": "lifecycle", "recover": "lifecycle",
    "reactivate": "lifecycle",
    "ping": "diag", "ntp": "diag", "dns_servers": "diag", "config": "diag",
    "ipconfig": "diag", "ifconfig": "diag", "signal": "diag", "imei": "diag",
    "imsi": "diag", "iccid": "diag", "operator": "diag", "identity": "diag", "radio": "diag",
    "resolve": "dns", "getaddrinfo": "dns",
}  # fmt: skip


class _Line:
    """An output or input pin with its active level."""

    def __init__(self, pin, active):
        self.pin = pin
        self.active = active

    def set(self, on):
        self.pin.value(self.active if on else 1 - self.active)

    def on(self):
        return self.pin.value() == self.active


def _line(pin, active, level=None):
    # A _Line for pin (None when not wired), driven to `level` if given.
    if pin is None:
        return None
    line = _Line(pin, active)
    if level is not None:
        line.set(level)
    return line


class Modem(Events):
    """A Quectel UC20/EC2x module on a UART, with optional control pins.

    Pins are `machine.Pin` objects or None; the `*_active` levels say which level asserts
    them (boards that drive PWRKEY through a transistor invert it). `clock` is injectable.
    `timer`, a `machine.Timer`, lets sockets coalesce small writes: it sends what they
    queued once no write came for `coalesce_ms` (without one, every write is sent at once).

    Procedures (blocking; `g_<name>` is the generator procedure that `quectel.aio` awaits):
    power_on, power_off, reset, active(on) (quectel.power); connect, disconnect
    (quectel.lifecycle); check; ping, ntp, dns_servers, config, ipconfig, signal, imei, imsi,
    iccid, operator, identity, radio, ifconfig (quectel.diag); resolve, getaddrinfo (quectel.dns).
    Their docstrings are in the module that holds them.
    """

    def __init__(self, uart, pwrkey=None, reset=None, dtr=None, status=None,
                 pwrkey_active=0, reset_active=0, dtr_active=0, status_active=1,
                 clock=None, rxbuf=1600, context=1, policy=None, on_change=None,
                 timer=None, coalesce_ms=20):  # fmt: skip
        check_int(coalesce_ms, 1, 10000, "coalesce_ms")
        self.at = ATEngine(uart, rxbuf, clock, self)
        self.clock = self.at.clock
        self.policy = policy or Policy()
        self.context = check_context(context)
        self.on_change = on_change
        self.pwrkey = _line(pwrkey, pwrkey_active, False)
        self.reset_pin = _line(reset, reset_active, False)
        self.dtr = _line(dtr, dtr_active, True)
        self.status_pin = _line(status, status_active)
        self.state = STAT_OFF
        self.reason = None
        self.ip = None
        self.sockets = [None] * CONNECT_IDS
        self.registration = None  # last CS registration state reported by +CREG
        self.incoming_full = 0  # count of "+QIURC: incoming full"
        self.last_transparent = None  # the socket that left transparent mode last (for ATO)
        # Settings the module forgets when it reboots are applied again by these generator
        # procedures at the end of every setup (power-up, restart): quectel.tls.
        self.setup_hooks = []
        self.dns = []  # quectel.dns's cache: [(host, expiry_ticks, [ips])]
        # The lifecycle's state (quectel.power, quectel.lifecycle), kept here because those
        # modules are released between uses.
        self.apn = None  # (apn, user, key, auth) once connect() was called
        self.sim_pin = None
        self.booted = False  # RDY came
        self.powered_down = False  # POWERED DOWN came
        self.pdp_lost = False  # the context went down under us: check() reactivates it
        self.restarted = False  # the module rebooted on its own: check() sets it up again
        self.failures = 0  # consecutive failed bring-ups (restarts)
        self.next_try = None  # ticks when check() may try again
        self.open_failures = 0
        self.radio_tried = False  # check() cycled the radio in this failure streak
        self.off = False  # we powered it off, or it does not answer and has no PWRKEY
        self.held_off = False  # the program switched it off: check() leaves it off
        self.fresh = True  # this Modem has not set the module up yet
        self.waits = {}  # URC kind -> ([collected values], parser): quectel.query's
        self._pushing = None
        self._tick_fn = self.report_progress  # bound once
        self.coalescer = None
        if timer is not None:
            from .coalesce import Coalescer

            self.coalescer = Coalescer(self, timer, coalesce_ms)

    @classmethod
    def for_board(cls, board, **kw):
        """A Modem wired as a `boards/` module describes (its optional `clock()` too)."""
        for name in ("clock", "timer"):
            if hasattr(board, name) and name not in kw:
                kw[name] = getattr(board, name)()
        return cls(board.uart(), board.pwrkey(), board.reset(), board.dtr(), board.status(),
                   board.PWRKEY_ACTIVE, board.RESET_ACTIVE, board.DTR_ACTIVE,
                   board.STATUS_ACTIVE, **kw)  # fmt: skip

    @property
    def uart(self):
        """The UART the module is on."""
        return self.at.uart

    # ---- state -----------------------------------------------------------------------------

    def report_progress(self, spent_ms):
        """A long wait (QIACT may take 150 s, registration 90 s) is reported every 10 s."""
        if self.on_change:
            self.on_change(self.state, "%s: %d s" % (self.reason or "waiting", spent_ms // 1000))

    def set_state(self, state, reason=None):
        """Change the interface state; `on_change` hears of it."""
        changed = state != self.state or reason != self.reason
        self.state = state
        self.reason = reason
        if changed and self.on_change:
            self.on_change(state, reason)

    def status(self, param=None):
        """The interface state (a STAT_* value); `status('rssi')` gives the signal in dBm."""
        if param is None:
            return self.state
        if param == "rssi":
            return self.signal()[0]
        raise ValueError("unknown status parameter")

    def isconnected(self):
        return self.state == STAT_GOT_IP

    # ---- commands --------------------------------------------------------------------------

    def g_command(self, cmd, info=None, timeout_ms=None, connect=False, sink=None):
        """Generator procedure: one command (see `ATEngine.g_command`). A module known to be
        off raises `ModuleOff` at once; a timeout marks it unresponsive, so check() reboots
        it (chapter 1, note 1)."""
        if self.off:
            raise ModuleOff()
        try:
            return (yield from self.at.g_command(cmd, info, timeout_ms or self.policy.at_ms,
                                                 connect, sink, self._tick_fn))  # fmt: skip
        except ATTimeout:
            self.set_state(STAT_NO_RESPONSE, "no answer")
            raise

    def g_until(self, done, timeout_ms, what):
        """Generator: wait for done() (a URC's effect); ATTimeout after timeout_ms."""
        if not (yield (done, timeout_ms)):
            raise ATTimeout(what, timeout_ms)

    def command(self, cmd, info=None, timeout_ms=None, connect=False, sink=None):
        """Run an AT command (bytes, no CR); see `ATEngine.command`."""
        return self.at.run(self.g_command(cmd, info, timeout_ms, connect, sink))

    def wait_for(self, done, timeout_ms, what):
        """Feed the engine until `done()` is true; ATTimeout after timeout_ms."""
        return self.at.run(self.g_until(done, timeout_ms, what))

    def g_call(self, module, name, args, kw):
        """Generator: `module.name(self, *args, **kw)`, the module loaded for the call (and
        released after it when it holds what runs once)."""
        mod = _load(module)
        try:
            return (yield from getattr(mod, name)(self, *args, **kw))
        finally:
            _unload(module)

    # ---- unsolicited results ---------------------------------------------------------------

    def _socket(self, cid):
        return self.sockets[cid] if 0 <= cid < CONNECT_IDS else None  # a garbled ID: none

    def data(self, cid):
        s = self._socket(cid)
        if s is not None:
            s.on_recv()

    def push(self, cid, n, ip, port):
        s = self._pushing = self._socket(cid)  # no socket: the payload is skipped
        if s is not None:
            s.on_push(n, ip, port)

    def push_data(self, mv, start, end):
        if self._pushing is not None:
            self._pushing.on_push_data(mv, start, end)

    def pushed(self, cid):
        self._pushing = None

    def urc(self, line):
        try:
            self._urc(line)
        except (ValueError, IndexError, TypeError):
            self.at.garbage += 1

    def _urc(self, line):
        for prefix, w in self.waits.items():  # a query's: +QPING:, +QNTP:, "dnsgip"
            if line.startswith(prefix):
                w[0].append(w[1](line))
                return
        if line.startswith(b"+QIURC:"):
            u = parse.parse_qiurc(line)
            kind = u[0]
            if kind == "closed":
                s = self._socket(u[1])
                if s is not None:
                    s.on_closed()
            elif kind == "incoming":
                s = self._socket(u[2])
                if s is not None:
                    s.on_incoming(u[1], u[3], u[4])
            elif kind == "incoming full":
                self.incoming_full += 1
            elif kind == "pdpdeact":
                if u[1] == self.context:
                    self.pdp_down("pdpdeact")
            return
        if line.startswith(b"+QIOPEN:") or line.startswith(b"+QSSLOPEN:"):
            cid, err = parse.parse_qiopen(line)
            s = self._socket(cid)
            if s is not None:
                s.on_opened(err)
            return
        if line.startswith(_SSL_CLOSED):  # TLS links ("recv" is the engine's)
            s = self._socket(int(line[len(_SSL_CLOSED) :]))
            if s is not None:
                s.on_closed()
            return
        if line.startswith(b"+CREG:") or line.startswith(b"+CGREG:"):
            p = parse.split_params(line[line.find(b":") + 1 :])
            stat = p[0]  # the URC form: +CREG: <stat>[,<lac>,<ci>]
            if line.startswith(b"+CREG:"):
                self.registration = stat
            if self.on_change and stat not in (1, 5):
                self.on_change(self.state, "%s %d" % (_name(line[: line.find(b":")]), stat))
            return
        if line == b"RDY":
            self.booted = True
            if self.state not in (STAT_OFF, STAT_CONNECTING):
                self.restarted = True
                self.pdp_down("module restarted")
            return
        if line == b"POWERED DOWN":
            self.powered_down = True
            self.pdp_down("powered down")
            self.pdp_lost = False  # nothing to deactivate: check() powers it up again
            self.off = True  # it said so: commands now fail at once (power_on clears it)
            self.set_state(STAT_OFF, "powered down")

    def pdp_down(self, reason):
        """The context is gone (pdpdeact, reboot): every socket fails; check() brings it back."""
        self.ip = None
        for s in self.sockets:
            if s is not None:
                s.on_lost(reason)
        if self.state == STAT_GOT_IP:
            self.pdp_lost = True
            self.set_state(STAT_CONNECTING, reason)

    # ---- procedures, each where its concept lives ------------------------------------------

    def __getattr__(self, name):
        # The procedures of _HOMES: `name(...)` blocking, `g_name(...)` as a generator.
        gen = name.startswith("g_")
        home = _HOMES.get(name[2:] if gen else name)
        if home is None:
            raise AttributeError(name)
        proc = name if gen else "g_" + name
        if gen:
            return lambda *a, **kw: self.g_call(home, proc, a, kw)
        return lambda *a, **kw: self.at.run(self.g_call(home, proc, a, kw))

    def g_check(self):
        """One step of keeping the connection up: call `check()` every few seconds.

        Handles pdpdeact (deactivate, reactivate), module restarts and no-response (reboot),
        and the restart back-off of chapter 1 note 3 (`quectel.lifecycle`, loaded only then).
        Returns True while connected. Never raises for network trouble: it reports through
        `status()` and `on_change`."""
        if self.apn is None or self.held_off:
            return False
        self.at.poll()
        if self.at.data_mode:
            return self.state == STAT_GOT_IP  # the UART belongs to a transparent connection
        if self.state == STAT_GOT_IP and not self.pdp_lost and not self.restarted:
            return True
        clock = self.clock
        if self.next_try is not None and clock.ticks_diff(self.next_try, clock.ticks_ms()) > 0:
            return False
        return (yield from self.g_recover())

    def g_opened(self, ok):
        """Generator: count an open's outcome; the policy's `open_failures` in a row
        deactivate and reactivate the context (chapter 1)."""
        if ok:
            self.open_failures = 0
            return
        self.open_failures += 1
        if self.open_failures >= self.policy.open_failures:
            self.open_failures = 0
            yield from self.g_reactivate()

    def check(self):
        """Run `g_check` to its end (see there)."""
        return self.at.run(self.g_check())

    def active(self, on=None):
        """Power the module on or off; without an argument, whether it is on."""
        if on is None:
            return self.state != STAT_OFF
        return self.at.run(self.g_call("power", "g_active", (on,), {}))

    def restart_delay(self, failures):
        """Milliseconds to wait before restart number `failures + 1` (chapter 1 note 3)."""
        n = failures - self.policy.restarts
        if n < 0:
            return 0
        b = self.policy.backoff_ms
        return b[min(n, len(b) - 1)]

    def socket(self, af=2, type=1, proto=0, mode=0):
        """A socket over this module: AF_INET, SOCK_STREAM or SOCK_DGRAM; mode 0 buffer
        access (default), 1 direct push, 2 transparent (the UART then carries only this
        connection's payload until `leave()`)."""
        from .socket import Socket

        return Socket(self, af, type, proto, mode)

    def resume(self):
        """`ATO`: back to transparent mode on the connection that left it last (section 1.2)."""
        from .transparent import g_resume

        c = self.last_transparent
        if c is None or c.cid < 0:
            raise QuectelError("no connection left transparent mode", errno.EINVAL)
        self.at.run(g_resume(c))
        return c
