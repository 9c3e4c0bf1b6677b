"""The modem: power, bring-up as the manual's flow chart says, recovery, network utilities.

`Modem` offers MicroPython's network-interface surface (`active`, `connect`, `isconnected`,
`status`, `ipconfig`, `ifconfig`) plus `ping`, `ntp`, `getaddrinfo` and the DNS settings.
The recovery rules of the manual's chapter 1 run in `check()`, which a long-running
application calls now and then (the asyncio front runs it as a supervisor task).
"""

import errno

try:
    from micropython import schedule
except ImportError:  # CPython: no timers, writes are never queued

    def schedule(f, arg):
        f(arg)


from . import parse
from .engine import ATEngine, Events, _name
from .errors import (
    ATError,
    ATTimeout,
    CMEError,
    ModuleOff,
    ModuleRestarted,
    QuectelError,
    TCPIPError,
    error_for,
)
from .validate import check_context, check_host, check_int, check_port, check_text

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


class Policy:
    """Timeouts and recovery rules; every number is from the manual's chapter 1 or 2.

    Change attributes on `modem.policy` to tune them (tests shorten nothing: they run a fast
    clock instead).
    """

    pwrkey_ms = 2000  # flow chart: keep PWRKEY low 2 s, then pull high
    boot_ms = 20000  # how long to wait for RDY/STATUS/AT after PWRKEY (module boot time)
    powerdown_ms = 12000  # flow chart: after AT+QPOWD=1, cut power after 12 s
    reset_ms = 300  # RESET pin pulse
    at_ms = 60000  # note 1: no final response in 60 s -> reboot
    probe_ms = 500  # one `AT` probe while waiting for the module
    sim_ms = 20000  # reboot if the SIM is not found in 20 s
    creg_ms = 90000  # reboot if not registered to CS in 90 s
    cgreg_ms = 60000  # go on after 60 s whether PS registered or not
    qiact_ms = 150000  # section 2.2
    qideact_ms = 40000  # section 2.3
    qiopen_ms = 150000  # section 2.4: wait 150 s for +QIOPEN
    qiclose_ms = 10000  # section 2.5 default <timeout>
    qidnsgip_ms = 60000  # section 2.13
    qntp_ms = 125000  # section 2.11
    poll_ms = 1000  # interval of AT+CPIN?/AT+CREG?/AT+CGREG? polls
    deact_tries = 3  # note c: 3 failed deactivations -> reboot
    open_failures = 5  # 5 failed opens -> deactivate and reactivate the context
    restarts = 3  # note 3: after 3 failed restarts the back-off schedule applies
    backoff_ms = (0, 600000, 1800000, 3600000)  # note 3: now, 10 min, 30 min, 1 h (repeats)
    ack_poll_ms = 5000  # TCP maintenance: query the ACK every 5 s ...
    ack_polls = 24  # ... 24 times (two minutes), then the connection is dead
    dns_cache = 8  # host names kept by getaddrinfo (each for its DNS TTL)
    # Our choice, not the manual's: on the first registration failure of a failure streak,
    # cycle the radio (AT+CFUN=4, AT+CFUN=1) instead of rebooting; later failures reboot as
    # the flow chart says.
    radio_cycle = True


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
        self._pwrkey = _line(pwrkey, pwrkey_active, False)
        self._reset = _line(reset, reset_active, False)
        self._dtr = _line(dtr, dtr_active, True)
        self._status = _line(status, status_active)
        self.state = STAT_OFF
        self.reason = None
        self.ip = None
        self.sockets = [None] * 12  # connect IDs 0-11 (section 2.4)
        self._apn = None
        self._rdy = False
        self._powered_down = False
        self._pdp_lost = False
        self._restarted = False
        self._failures = 0  # consecutive failed bring-ups (restarts)
        self._next_try = None  # ticks when check() may try again
        self._open_failures = 0
        self._waits = {}  # URC kind -> ([collected values], parser), for the command waiting
        self._dns = []  # [(host, expiry_ticks, [ips])]
        self.incoming_full = 0  # count of "+QIURC: incoming full"
        self.registration = None  # last CS registration state reported by +CREG
        self._sim_pin = None
        self._radio_tried = False  # check() cycled the radio in this failure streak
        self._pushing = None
        self._off = False  # we powered it off, or it does not answer and has no PWRKEY
        self._held_off = False  # the program switched it off: check() leaves it off
        self._fresh = True  # this Modem has not set the module up yet
        self.timer = timer
        self.coalesce_ms = coalesce_ms
        self._armed = False
        self.writing = False  # a socket is queueing a write: the timer must not flush now
        self._tick_cb = self._tick  # bound once: the timer allocates nothing
        self._tick_fn = self._progress
        self._due_cb = self._flush_due
        self.last_transparent = None  # the socket that left transparent mode last (for ATO)
        # Generator procedures run at the end of every setup (power-up, restart): settings
        # the module forgets when it reboots are applied again there (quectel.tls).
        self.setup_hooks = []

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
        return self.at._uart

    # ---- state -----------------------------------------------------------------------------

    def _progress(self, spent_ms):
        # A long wait (QIACT may take 150 s, registration 90 s) is reported every 10 s.
        if self.on_change:
            self.on_change(self.state, "%s: %d s" % (self.reason or "waiting", spent_ms // 1000))

    def _set(self, state, reason=None):
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

    def ipconfig(self, *param, **kw):
        """As MicroPython's network interfaces: `ipconfig('addr4')` -> (ip, netmask),
        'gw4' -> gateway, 'dns4' -> primary DNS server, 'dhcp4' -> True (the network
        assigns the address); `ipconfig(dns4='8.8.8.8')` sets the DNS server. The address
        itself cannot be set (EOPNOTSUPP)."""
        if param and kw or len(param) > 1:
            raise TypeError("ipconfig('name') or ipconfig(name=value)")
        if param:
            name = param[0]
            if name == "addr4":
                return (self.ip or "0.0.0.0", "255.255.255.255")
            if name == "gw4":
                return self.ip or "0.0.0.0"
            if name == "dns4":
                return self.dns_servers()[0]
            if name == "dhcp4":
                return True
            raise ValueError("unknown ipconfig parameter")
        for name in kw:
            if name != "dns4":
                raise OSError(errno.EOPNOTSUPP, "the network assigns %s" % name)
        if "dns4" in kw:
            self.dns_servers(kw["dns4"])

    def ifconfig(self):
        """(ip, netmask, gateway, dns) for code written for older MicroPython."""
        ip = self.ip or "0.0.0.0"
        dns = self.dns_servers()[0] if self.isconnected() else "0.0.0.0"
        return (ip, "255.255.255.255", ip, dns)

    # ---- commands --------------------------------------------------------------------------
    # Every procedure below that waits is a generator (see ATEngine.run): the blocking
    # methods run it with `self.at.run`, the asyncio front (quectel.aio) awaits the same one.

    def g_command(self, cmd, info=None, timeout_ms=None, connect=False, sink=None):
        """Generator procedure: one command (see `ATEngine.g_command`). A module known to be
        off raises `ModuleOff` at once; a timeout marks it unresponsive, so check() reboots
        it (chapter 1, note 1)."""
        if self._off:
            raise ModuleOff()
        try:
            return (yield from self.at.g_command(cmd, info, timeout_ms or self.policy.at_ms,
                                                 connect, sink, self._tick_fn))  # fmt: skip
        except ATTimeout:
            self._set(STAT_NO_RESPONSE, "no answer")
            raise

    def g_until(self, done, timeout_ms, what):
        # Wait for done() (a URC's effect); ATTimeout after timeout_ms.
        if not (yield (done, timeout_ms)):
            raise ATTimeout(what, timeout_ms)

    def command(self, cmd, info=None, timeout_ms=None, connect=False, sink=None):
        """Run an AT command (bytes, no CR); see `ATEngine.command`."""
        return self.at.run(self.g_command(cmd, info, timeout_ms, connect, sink))

    def wait_for(self, done, timeout_ms, what):
        """Feed the engine until `done()` is true; ATTimeout after timeout_ms."""
        return self.at.run(self.g_until(done, timeout_ms, what))

    def g_ready(self):
        """A module that stopped answering gets one short probe before a query waits the
        manual's full time on it: `ModuleOff` (ENODEV) when it is still silent."""
        if self.state == STAT_NO_RESPONSE and not (yield from self.g_responds(1)):
            raise ModuleOff("the module does not answer")

    def g_urc_result(self, key, cmd, timeout_ms, done, parser):
        # Run cmd, then collect parser(line) of the URCs that start with `key` until done(got).
        yield from self.g_ready()
        while key in self._waits:  # one query of a kind at a time: they share the collector
            yield (lambda: key not in self._waits, timeout_ms)
        got = []
        self._waits[key] = (got, parser)
        try:
            yield from self.g_command(cmd, b"-", timeout_ms)
            yield from self.g_until(lambda: done(got), timeout_ms, _name(cmd))
        finally:
            del self._waits[key]
        return got

    # ---- unsolicited results ---------------------------------------------------------------

    def data(self, cid):
        s = self.sockets[cid] if cid < len(self.sockets) else None  # a garbled ID: ignore
        if s is not None:
            s.on_recv()

    def push(self, cid, n, ip, port):
        s = self.sockets[cid] if cid < len(self.sockets) else None  # payload is skipped
        self._pushing = s
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
        for prefix, w in self._waits.items():  # a query's: +QPING:, +QNTP:, "dnsgip"
            if line.startswith(prefix):
                w[0].append(w[1](line))
                return
        if line.startswith(b"+QIURC:"):
            u = parse.parse_qiurc(line)
            kind = u[0]
            if kind == "closed":
                s = self.sockets[u[1]]
                if s is not None:
                    s.on_closed()
            elif kind == "incoming":
                s = self.sockets[u[2]]
                if s is not None:
                    s.on_incoming(u[1], u[3], u[4])
            elif kind == "incoming full":
                self.incoming_full += 1
            elif kind == "pdpdeact":
                if u[1] == self.context:
                    self._pdp_down("pdpdeact")
            return
        if line.startswith(b"+QIOPEN:") or line.startswith(b"+QSSLOPEN:"):
            cid, err = parse.parse_qiopen(line)
            s = self.sockets[cid]
            if s is not None:
                s.on_opened(err)
            return
        if line.startswith(b'+QSSLURC: "closed",'):  # TLS links ("recv" is the engine's)
            s = self.sockets[int(line[19:])]
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
            self._rdy = True
            if self.state not in (STAT_OFF, STAT_CONNECTING):
                self._restarted = True
                self._pdp_down("module restarted")
            return
        if line == b"POWERED DOWN":
            self._powered_down = True
            self._pdp_down("powered down")
            self._pdp_lost = False  # nothing to deactivate: check() powers it up again
            self._off = True  # it said so: commands now fail at once (power_on clears it)
            self._set(STAT_OFF, "powered down")
            return

    def _pdp_down(self, reason):
        # The context is gone (pdpdeact, reboot): fail every socket; check() brings it back.
        self.ip = None
        for s in self.sockets:
            if s is not None:
                s.on_lost(reason)
        if self.state == STAT_GOT_IP:
            self._pdp_lost = True
            self._set(STAT_CONNECTING, reason)

    # ---- power -----------------------------------------------------------------------------

    def g_answers(self):
        # Whether the module answers AT; a board reset may have left it in a send's data
        # prompt, which the manual's longest send (1460 bytes) fills: ESC is ignored in
        # command mode, and the send's late answer is dropped before the next probe.
        if (yield from self.g_responds()):
            return True
        from .conn import MAX_SEND

        self.at.fill(MAX_SEND)
        yield from self.g_quiet()
        return (yield from self.g_responds())

    def g_responds(self, tries=2):
        for _ in range(tries):
            try:
                yield from self.at.g_command(b"AT", b"", self.policy.probe_ms)
                return True
            except (ATTimeout, ModuleRestarted):
                pass
            except ATError:
                return True  # it answered, even if with an error
        return False

    def power_on(self):
        """Power the module up (PWRKEY pulse if it is off), then apply our settings."""
        return self.at.run(self.g_power_on())

    def g_power_on(self):
        p = self.policy
        for _ in range(8):  # what the module said before (POWERED DOWN) is not about this boot
            if not self.at.poll():
                break
        self._off = False
        self._held_off = False
        self._powered_down = False
        st = self._status
        if self._fresh and self._reset and st and st.on():
            # On before this Modem set it up (a board reset): its state is unknown, and a
            # send's data prompt or transparent mode would pass our first bytes, probes
            # included, to a peer as payload. A reboot by pin writes nothing.
            yield from self.g_reset()
            return
        on = st.on() if st else (yield from self.g_answers())
        if on and self._status and not (yield from self.g_answers()):
            # On, but deaf: a board reset left it inside a command (a send's data prompt
            # swallows our commands as payload) or it hangs: only a reboot helps now.
            if self._reset is None:
                self._set(STAT_NO_RESPONSE, "the module is on but does not answer")
                raise ModuleOff("the module is on but does not answer")
            yield from self.g_reset()
            return
        if not on:
            if self._pwrkey is None:
                self._set(STAT_NO_RESPONSE, "no answer and no PWRKEY wired")
                self._off = True
                raise ModuleOff("the module does not answer and no PWRKEY is wired")
            self._rdy = False
            self._pwrkey.set(True)
            yield (None, p.pwrkey_ms)
            self._pwrkey.set(False)
            yield from self.g_wait_boot()
        yield from self.g_setup()
        self._set(STAT_IDLE)

    def g_wait_boot(self):
        p = self.policy
        clock = self.clock
        t0 = clock.ticks_ms()
        st = self._status
        while clock.ticks_diff(clock.ticks_ms(), t0) < p.boot_ms:
            if self._rdy:
                return
            if st is None or st.on():
                if (yield from self.g_responds(1)):
                    return
            else:
                yield (lambda: self._rdy or st.on(), 50)
        self._set(STAT_NO_RESPONSE, "module did not start")
        raise ATTimeout("power on", p.boot_ms)

    def g_quiet(self, ms=200):
        # Let late answers to anything sent during boot arrive and be dropped, so they
        # cannot be taken for the answer to the next command.
        n = -1
        while n != self.at.rx_count:
            n = self.at.rx_count
            yield (None, ms)

    def g_setup(self):
        yield from self.g_quiet()
        yield from self.g_command(b"ATE0", b"")
        yield from self.g_command(b"AT+CMEE=2", b"")  # +CME ERROR with text (3GPP TS 27.007)
        if self._dtr:
            yield from self.g_command(b"AT&D1", b"")  # DTR leaves transparent mode (section 1.2)
        for cmd in (b"AT+CREG=2", b"AT+CGREG=2"):  # registration changes as URCs
            try:
                yield from self.g_command(cmd, b"")
            except ATError:
                pass  # an older firmware without location reports still works
        self._restarted = False
        self._powered_down = False
        self._fresh = False
        for hook in self.setup_hooks:
            yield from hook()

    def power_off(self):
        """`AT+QPOWD=1`, then wait up to 12 s for POWERED DOWN (and STATUS low, when wired).
        The module then stays off, `check()` included, until `connect()`, `active(True)` or
        `power_on()`."""
        return self.at.run(self.g_power_off())

    def g_power_off(self):
        p = self.policy
        self._held_off = True
        if self._off:
            return  # off already: nothing to say to it
        if self.state == STAT_NO_RESPONSE and not (yield from self.g_responds(1)):
            self._off = True  # gone silent: nothing to wait 12 s for, power may be cut now
        self._powered_down = False
        try:
            # At most the manual's 12 s: power may be cut then, whether it answered or not.
            yield from self.g_command(b"AT+QPOWD=1", b"", p.powerdown_ms)
            # POWERED DOWN is read before we return, so that it cannot be taken later for
            # news about the next boot; when wired, STATUS low is what says the module is off.
            st = self._status
            off = lambda: self._powered_down and (st is None or not st.on())  # noqa: E731
            yield from self.g_until(off, p.powerdown_ms, "AT+QPOWD")
        except (ATTimeout, ModuleOff):
            pass  # the manual's 12 s are up (or it is gone): power may be cut now
        self._pdp_down("powered off")
        self._pdp_lost = False
        self._off = True
        self._set(STAT_OFF)

    def reset(self):
        """Reboot the module: RESET pin if wired, else a power cycle, else AT+CFUN=1,1."""
        return self.at.run(self.g_reset())

    def g_reset(self):
        self._pdp_down("reset")
        self._pdp_lost = False
        self._rdy = False
        if self._off and self._pwrkey:  # RESET does not start a module that is off
            yield from self.g_power_on()
            return
        if self._reset:
            self.at.quit_data()  # a reboot ends transparent mode too
            self._reset.set(True)
            yield (None, self.policy.reset_ms)
            self._reset.set(False)
            yield from self.g_wait_boot()
        elif self._pwrkey:
            yield from self.g_power_off()
            self._held_off = False  # switched off only to be switched on
            yield from self.g_power_on()
            return
        else:
            try:
                yield from self.g_command(b"AT+CFUN=1,1", b"", 15000)
            except QuectelError:
                pass
            yield from self.g_wait_boot()
        yield from self.g_setup()
        self._set(STAT_IDLE)

    def active(self, on=None):
        """Power the module on or off; without an argument, whether it is on."""
        if on is None:
            return self.state != STAT_OFF
        return self.at.run(self.g_active(on))

    def g_active(self, on):
        if on:
            if self.state == STAT_OFF or self.state == STAT_NO_RESPONSE:
                yield from self.g_power_on()
        elif self.state != STAT_OFF:
            yield from self.g_power_off()

    # ---- bring-up --------------------------------------------------------------------------

    def connect(self, apn="", user="", key="", auth=None, restarts=None, sim_pin=None):
        """Bring the data connection up: SIM, registration, APN, PDP context (chapter 1).

        A failed step reboots the module and starts again, at most `restarts` times (the
        policy's 3 by default); then the last error is raised. `auth`: 0 none, 1 PAP,
        2 CHAP, 3 PAP or CHAP (default: 0 without a user name, else 3). `sim_pin` unlocks a
        PIN-locked SIM (tried once); a locked SIM without it raises `CMEError` at once.
        """
        return self.at.run(self.g_connect(apn, user, key, auth, restarts, sim_pin))

    def g_connect(self, apn="", user="", key="", auth=None, restarts=None, sim_pin=None):
        apn = check_text(apn, "APN", 100)
        user = check_text(user, "user name", 100)
        key = check_text(key, "password", 100, secret=True)
        if sim_pin is not None:
            sim_pin = check_text(sim_pin, "SIM PIN", 8, secret=True)
            if not sim_pin.isdigit():
                raise ValueError("SIM PIN must be digits")
        if auth is None:
            auth = 3 if user else 0
        check_int(auth, 0, 3, "auth")
        self._sim_pin = sim_pin
        self._apn = (apn, user, key, auth)
        tries = self.policy.restarts if restarts is None else restarts
        for attempt in range(tries + 1):
            try:
                if attempt:
                    yield from self.g_reset()
                yield from self.g_bring_up()
                self._failures = 0
                return
            except QuectelError as e:
                err = e
        self._failures = tries
        raise err

    def g_bring_up(self):
        p = self.policy
        if self.state in (STAT_OFF, STAT_NO_RESPONSE) or self._restarted:
            if self._restarted:
                yield from self.g_setup()
            else:
                yield from self.g_power_on()
        self._set(STAT_CONNECTING, "SIM")
        yield from self.g_poll_until(b"AT+CPIN?", self._sim_ready, p.sim_ms, STAT_NO_SIM)
        self._set(STAT_CONNECTING, "registration")
        yield from self.g_poll_until(b"AT+CREG?", self._cs_registered, p.creg_ms,
                                    STAT_NOT_REGISTERED)  # fmt: skip
        try:  # flow chart: query PS up to 60 s, then go on either way
            yield from self.g_poll_until(b"AT+CGREG?", _registered, p.cgreg_ms, None)
        except QuectelError:
            pass
        apn, user, key, auth = self._apn
        cmd = 'AT+QICSGP=%d,1,"%s","%s","%s",%d' % (self.context, apn, user, key, auth)
        yield from self.g_command(cmd.encode())
        self._set(STAT_CONNECTING, "PDP context")
        yield from self.g_activate()
        self._open_failures = 0
        self._pdp_lost = False
        self._set(STAT_GOT_IP)

    def g_activate(self):
        ip = yield from self.g_context_ip()
        if ip is None:
            try:
                yield from self.g_command(b"AT+QIACT=%d" % self.context, b"", self.policy.qiact_ms)
            except TCPIPError as e:
                if e.code != 563:  # already active is fine
                    self._set(STAT_PDP_FAILED, str(e))
                    raise
            except ATError as e:
                self._set(STAT_PDP_FAILED, str(e))
                raise
            ip = yield from self.g_context_ip()
            if ip is None:
                self._set(STAT_PDP_FAILED, "no address")
                raise error_for(556, None, "AT+QIACT")
        self.ip = ip

    def g_context_ip(self):
        for line in (yield from self.g_command(b"AT+QIACT?")):
            ctx, state, _, ip = parse.parse_qiact(line)
            if ctx == self.context and state == 1:
                return ip or "0.0.0.0"
        return None

    def g_poll_until(self, cmd, ok, timeout_ms, fail_state):
        clock = self.clock
        t0 = clock.ticks_ms()
        told = 0  # progress reported up to this many ms
        last = None
        while True:
            try:
                lines = yield from self.g_command(cmd)
            except CMEError as e:
                lines = None
                last = str(e)
            if lines:
                done = ok(lines[0])  # may raise: a locked SIM is no reason to wait
                if done is not True and done is not False:  # a command to send first
                    yield from self.g_command(done, b"")
                elif done:
                    return
                last = lines[0].decode()
            elif lines is not None:
                last = "no answer"
            spent = clock.ticks_diff(clock.ticks_ms(), t0)
            if spent >= timeout_ms:
                if fail_state is not None:
                    self._set(fail_state, last)
                raise ATError("%s: %s" % (_name(cmd), last), None, _name(cmd))
            if spent - told >= 10000:
                told = spent
                self._progress(spent)
            yield (None, self.policy.poll_ms)

    def _sim_ready(self, line):
        # True, False, or the command that unlocks the SIM; a locked SIM raises at once.
        state = line.strip()[6:].strip()  # after "+CPIN:"
        if state == b"READY":
            return True
        if state.startswith(b"SIM P") or state.startswith(b"PH-"):  # PIN/PUK/lock
            if self._sim_pin and state == b"SIM PIN":
                pin, self._sim_pin = self._sim_pin, None  # one try: never burn the PUK
                return ('AT+CPIN="%s"' % pin).encode()
            self._set(STAT_NO_SIM, "SIM locked: %s" % state.decode())
            raise CMEError("SIM locked (%s)" % state.decode(), None, "AT+CPIN")
        return False

    def _cs_registered(self, line):
        self.registration = _reg_stat(line)
        return _registered(line)

    def disconnect(self):
        """Close every socket and deactivate the PDP context; check() then leaves it down.
        Returns at once when the module is off, not answering, or the context is down."""
        self.at.run(self.g_disconnect())

    def g_disconnect(self):
        self._apn = None
        down = self._off or self.state == STAT_NO_RESPONSE or self.ip is None
        for s in self.sockets:
            if s is not None:
                if down:
                    s.on_lost("disconnected")
                    s.release()
                else:
                    yield from s.g_close()
        if not down:
            yield from self.g_deactivate()
        self._pdp_lost = False
        self._set(STAT_OFF if self._off else STAT_IDLE)

    def g_deactivate(self):
        # Chapter 1 note c: three failed deactivations -> reboot.
        for _ in range(self.policy.deact_tries):
            try:
                yield from self.g_command(
                    b"AT+QIDEACT=%d" % self.context, b"", self.policy.qideact_ms
                )
                self.ip = None
                return
            except ATTimeout:
                raise  # no answer in 40 s: the module needs a reboot (check() does it)
            except QuectelError:
                pass
        yield from self.g_reset()
        self.reason = "deactivation failed %d times: rebooted" % self.policy.deact_tries

    # ---- recovery --------------------------------------------------------------------------

    def check(self):
        """One step of keeping the connection up: call it every few seconds.

        Handles pdpdeact (deactivate, reactivate), module restarts and no-response (reboot),
        and the restart back-off of chapter 1 note 3. Returns True while connected. Never
        raises for network trouble: it reports through `status()` and `on_change`.
        """
        return self.at.run(self.g_check())

    def g_check(self):
        if self._apn is None or self._held_off:
            return False
        self.at.poll()
        if self.at.data_mode:
            return self.state == STAT_GOT_IP  # the UART belongs to a transparent connection
        clock = self.clock
        if self.state == STAT_GOT_IP and not self._pdp_lost and not self._restarted:
            return True
        if self._next_try is not None and clock.ticks_diff(self._next_try, clock.ticks_ms()) > 0:
            return False
        p = self.policy
        try:
            if self._pdp_lost and not self._restarted:
                self._pdp_lost = False
                yield from self.g_deactivate()  # pdpdeact: the host must deactivate (2.16.5)
                yield from self.g_activate()
                self._set(STAT_GOT_IP)
            else:
                if self.state == STAT_NOT_REGISTERED and p.radio_cycle and not self._radio_tried:
                    self._radio_tried = True
                    yield from self.g_radio(False)  # airplane mode and back: cheaper than a reboot
                    yield from self.g_radio(True)
                elif self.state == STAT_NO_RESPONSE or self._failures:
                    yield from self.g_reset()
                yield from self.g_bring_up()
            self._failures = 0
            self._radio_tried = False
            self._next_try = None
            return True
        except QuectelError as e:
            self._failures += 1
            delay = self.restart_delay(self._failures)
            self._next_try = clock.ticks_add(clock.ticks_ms(), delay)
            if delay:
                self._set(STAT_BACKOFF, "%s; next restart in %d s" % (e, delay // 1000))
            return False

    # ---- coalesced writes: flushed after a short idle ---------------------------------------

    def queued(self):
        """A socket queued a small write (see Socket.write): flush soon unless more come."""
        if not self._armed:
            self._armed = True
            t = self.timer
            t.init(mode=t.ONE_SHOT, period=self.coalesce_ms, callback=self._tick_cb)

    def _tick(self, _):
        try:
            schedule(self._due_cb, None)  # out of the timer's IRQ, into the main thread
        except RuntimeError:  # the schedule queue is full: try again later
            self._armed = False
            self.queued()

    def _flush_due(self, _):
        # Runs between two bytecodes of whatever the program does: only when no command,
        # no poll and no write is in progress, else a little later.
        self._armed = False
        at = self.at
        if at.busy or at.polling or self.writing:
            return self.queued()
        clock = self.clock
        for c in self.sockets:
            if c is not None and c.tn and not c.wr.op:  # not while a send of it backs off
                if clock.ticks_diff(clock.ticks_ms(), c.t_last) < self.coalesce_ms:
                    self.queued()  # written to just now: wait for the rest
                    continue
                try:
                    at.run(c.g_flush())
                except OSError:
                    pass  # still queued; the socket's next call reports it

    def restart_delay(self, failures):
        """Milliseconds to wait before restart number `failures + 1` (chapter 1 note 3)."""
        n = failures - self.policy.restarts
        if n < 0:
            return 0
        b = self.policy.backoff_ms
        return b[min(n, len(b) - 1)]

    def g_opened(self, ok):
        if ok:
            self._open_failures = 0
            return
        self._open_failures += 1
        if self._open_failures >= self.policy.open_failures:
            self._open_failures = 0
            yield from self.g_deactivate()
            yield from self.g_activate()

    def socket(self, af=2, type=1, proto=0, mode=0):
        """A socket over this module: AF_INET, SOCK_STREAM or SOCK_DGRAM; mode 0 buffer
        access (default), 1 direct push, 2 transparent (the UART then carries only this
        connection's payload until `leave()`)."""
        from .socket import Socket

        return Socket(self, af, type, proto, mode)

    # ---- identity and signal (3GPP TS 27.007 commands every Quectel module answers) --------

    def signal(self):
        """(rssi_dbm, ber) from AT+CSQ; None for "not known" (99)."""
        return self.at.run(self.g_signal())

    def g_signal(self):
        p = parse.split_params((yield from self.g_info1(b"AT+CSQ"))[5:])
        rssi, ber = p[0], p[1]
        dbm = None if rssi == 99 else -113 + 2 * rssi  # 0: -113 dBm or less, 31: -51 or more
        return dbm, None if ber == 99 else ber

    def imei(self):
        return self.at.run(self.g_info1(b"AT+GSN", b"")).decode()

    def imsi(self):
        return self.at.run(self.g_info1(b"AT+CIMI", b"")).decode()

    def iccid(self):
        return self.at.run(self.g_info1(b"AT+QCCID")).split(b":")[1].strip().decode()

    def operator(self):
        """The registered network's name (AT+COPS?), or None."""
        return self.at.run(self.g_operator())

    def g_operator(self):
        p = parse.split_params((yield from self.g_info1(b"AT+COPS?"))[6:])
        return p[2] if len(p) > 2 else None

    def identity(self):
        """(manufacturer, model, revision) from ATI."""
        lines = [x.decode() for x in self.at.run(self.g_lines(b"ATI"))]
        rev = lines[2].split(":", 1)[-1].strip() if len(lines) > 2 else ""
        return (lines[0] if lines else "", lines[1] if len(lines) > 1 else "", rev)

    def radio(self, on):
        """AT+CFUN=1 (on) or 4 (airplane mode): a soft recovery that keeps the module up."""
        return self.at.run(self.g_radio(on))

    def g_radio(self, on):
        yield from self.g_command(b"AT+CFUN=1" if on else b"AT+CFUN=4", b"", 15000)

    def g_info1(self, cmd, info=None):
        lines = yield from self.g_lines(cmd, info)
        if not lines:
            raise ATError("%s: no answer line" % _name(cmd), None, _name(cmd))
        return lines[0]

    def g_lines(self, cmd, info=b""):
        yield from self.g_ready()
        return (yield from self.g_command(cmd, info))

    def resume(self):
        """`ATO`: back to transparent mode on the connection that left it last (section 1.2)."""
        from .transparent import g_resume

        c = self.last_transparent
        if c is None or c.cid < 0:
            raise QuectelError("no connection left transparent mode", errno.EINVAL)
        self.at.run(g_resume(c))
        return c

    # ---- network utilities -----------------------------------------------------------------

    def ping(self, host, timeout=1, count=4):
        """AT+QPING: ([(ip, bytes, time_ms, ttl) or None per request], summary or code).

        The summary is (sent, rcvd, lost, min, max, avg); on failure an int (3 busy,
        4 host not found, 5 PDP failed), as section 2.10 says.
        """
        from .diag import g_ping

        return self.at.run(g_ping(self, host, timeout, count))

    def ntp(self, server, port=123, rtc=None, set_module=False):
        """AT+QNTP: ((year, month, day, hour, minute, second), zone_minutes) in UTC.

        Pass a `machine.RTC()` as `rtc` to set it; `set_module` sets the module's clock.
        """
        from .diag import g_ntp

        return self.at.run(g_ntp(self, server, port, rtc, set_module))

    def dns_servers(self, primary=None, secondary=None):
        """Set (with arguments) or query the context's DNS servers (AT+QIDNSCFG)."""
        from .diag import g_dns_servers

        return self.at.run(g_dns_servers(self, primary, secondary))

    def resolve(self, host):
        """Every IPv4 address of `host` (AT+QIDNSGIP), cached for the DNS TTL."""
        return self.at.run(self.g_resolve(host))

    def g_resolve(self, host):
        host = check_host(host)  # first: a non-str is a ValueError too
        if _is_ipv4(host):
            return [host]
        clock = self.clock
        now = clock.ticks_ms()
        for entry in self._dns:
            if entry[0] == host and clock.ticks_diff(entry[1], now) > 0:
                return entry[2]
        cmd = ('AT+QIDNSGIP=%d,"%s"' % (self.context, host)).encode()
        got = yield from self.g_urc_result(b'+QIURC: "dnsgip",', cmd, self.policy.qidnsgip_ms,
                                           _dns_done, _dnsgip)  # fmt: skip
        head = got[0]
        if head[0] != 0 or len(head) < 3:
            raise error_for(head[0] or 565, None, "AT+QIDNSGIP")
        ips = [str(g[0]) for g in got[1 : 1 + head[1]]]
        if not ips:
            raise error_for(565, None, "AT+QIDNSGIP")
        self._dns = [e for e in self._dns if e[0] != host][-(self.policy.dns_cache - 1) :]
        ttl = min(head[2], 86400)  # a day at most: tick differences are valid for 6 days
        self._dns.append((host, clock.ticks_add(now, ttl * 1000), ips))
        return ips

    def g_getaddrinfo(self, host, port, af=0, type=0, proto=0, flags=0):
        check_port(port)
        return [(2, type or 1, proto, "", (ip, port)) for ip in (yield from self.g_resolve(host))]

    def getaddrinfo(self, host, port, af=0, type=0, proto=0, flags=0):
        """Like socket.getaddrinfo: [(AF_INET, type, proto, '', (ip, port)), ...]."""
        return self.at.run(self.g_getaddrinfo(host, port, af, type, proto, flags))

    def config(self, *args, **kw):
        """AT+QICFG "transpktsize" (1-1460) and "transwaittm" (0-20, in 100 ms): query
        with `config('transpktsize')`; set with `config(transpktsize=512)` (as MicroPython's
        network interfaces) or `config('transpktsize', 512)`."""
        from .diag import g_config

        if kw and args or len(args) > 2 or len(kw) > 1 or not (args or kw):
            raise TypeError("config('name'[, value]) or config(name=value)")
        if kw:
            args = list(kw.items())[0]
        return self.at.run(g_config(self, *args))


def _dnsgip(line):
    return parse.parse_qiurc(line)[1:]


def _dns_done(got):
    # +QIURC: "dnsgip",<err>,<count>,<ttl> then <count> addresses (section 2.13).
    return got and (got[0][0] != 0 or len(got) > got[0][1])


def _reg_stat(line):
    # +CREG: <n>,<stat>[,<lac>,<ci>] (read) -> <stat>
    p = parse.split_params(line[line.find(b":") + 1 :])
    return p[1] if len(p) > 1 else p[0]


def _registered(line):
    stat = _reg_stat(line)
    return stat == 1 or stat == 5  # home network or roaming (flow chart)


def _is_ipv4(s):
    parts = s.split(".")
    return len(parts) == 4 and all(x.isdigit() and int(x) < 256 for x in parts)
