"""Bring-up and recovery: SIM, registration, APN and PDP context as the manual's flow chart
says, and the recovery rules of its chapter 1. Generator procedures over a `Modem`, loaded
on demand and released after use (see `quectel.modem`)."""

from . import parse
from .engine import TICK_MS, _name
from .errors import ATError, ATTimeout, CMEError, QuectelError, TCPIPError, error_for
from .modem import (
    STAT_BACKOFF,
    STAT_CONNECTING,
    STAT_GOT_IP,
    STAT_IDLE,
    STAT_NO_RESPONSE,
    STAT_NO_SIM,
    STAT_NOT_REGISTERED,
    STAT_OFF,
    STAT_PDP_FAILED,
)
from .validate import check_int, check_text

_NO_SUCH_CONTEXT = 556  # chapter 3: PDP context failure
_ALREADY_ACTIVE = 563


def g_connect(m, apn="", user="", key="", auth=None, restarts=None, sim_pin=None):
    """Bring the data connection up: SIM, registration, APN, PDP context (chapter 1).

    A failed step reboots the module and starts again, at most `restarts` times (the
    policy's 3 by default); then the last error is raised. `auth`: 0 none, 1 PAP,
    2 CHAP, 3 PAP or CHAP (default: 0 without a user name, else 3). `sim_pin` unlocks a
    PIN-locked SIM (tried once); a locked SIM without it raises `CMEError` at once.
    """
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
    m.sim_pin = sim_pin
    m.apn = (apn, user, key, auth)
    tries = m.policy.restarts if restarts is None else restarts
    for attempt in range(tries + 1):
        try:
            if attempt:
                yield from m.g_reset()
            yield from g_bring_up(m)
            m.failures = 0
            return
        except QuectelError as e:
            err = e
    m.failures = tries
    raise err


def g_bring_up(m):
    p = m.policy
    if m.state in (STAT_OFF, STAT_NO_RESPONSE) or m.restarted:
        if m.restarted:
            yield from m.g_call("power", "g_setup", (), {})
        else:
            yield from m.g_power_on()
    m.set_state(STAT_CONNECTING, "SIM")
    yield from g_poll_until(m, b"AT+CPIN?", _sim_ready, p.sim_ms, STAT_NO_SIM)
    m.set_state(STAT_CONNECTING, "registration")
    yield from g_poll_until(m, b"AT+CREG?", _cs_registered, p.creg_ms, STAT_NOT_REGISTERED)
    try:  # flow chart: query PS up to 60 s, then go on either way
        yield from g_poll_until(m, b"AT+CGREG?", _ps_registered, p.cgreg_ms, None)
    except QuectelError:
        pass
    apn, user, key, auth = m.apn
    cmd = 'AT+QICSGP=%d,1,"%s","%s","%s",%d' % (m.context, apn, user, key, auth)
    yield from m.g_command(cmd.encode())
    m.set_state(STAT_CONNECTING, "PDP context")
    yield from g_activate(m)
    m.open_failures = 0
    m.pdp_lost = False
    m.set_state(STAT_GOT_IP)


def g_activate(m):
    ip = yield from g_context_ip(m)
    if ip is None:
        try:
            yield from m.g_command(b"AT+QIACT=%d" % m.context, b"", m.policy.qiact_ms)
        except TCPIPError as e:
            if e.code != _ALREADY_ACTIVE:
                m.set_state(STAT_PDP_FAILED, str(e))
                raise
        except ATError as e:
            m.set_state(STAT_PDP_FAILED, str(e))
            raise
        ip = yield from g_context_ip(m)
        if ip is None:
            m.set_state(STAT_PDP_FAILED, "no address")
            raise error_for(_NO_SUCH_CONTEXT, None, "AT+QIACT")
    m.ip = ip


def g_context_ip(m):
    for line in (yield from m.g_command(b"AT+QIACT?")):
        ctx, state, _, ip = parse.parse_qiact(line)
        if ctx == m.context and state == 1:
            return ip or "0.0.0.0"
    return None


def g_poll_until(m, cmd, ok, timeout_ms, fail_state):
    # Poll cmd every poll_ms until ok(m, first line) is True; it may instead give a command
    # to send first (a SIM PIN) or raise.
    clock = m.clock
    t0 = clock.ticks_ms()
    told = 0  # progress reported up to this many ms
    last = None
    while True:
        try:
            lines = yield from m.g_command(cmd)
        except CMEError as e:
            lines = None
            last = str(e)
        if lines:
            done = ok(m, lines[0])
            if done is not True and done is not False:
                yield from m.g_command(done, b"")
            elif done:
                return
            last = lines[0].decode()
        elif lines is not None:
            last = "no answer"
        spent = clock.ticks_diff(clock.ticks_ms(), t0)
        if spent >= timeout_ms:
            if fail_state is not None:
                m.set_state(fail_state, last)
            raise ATError("%s: %s" % (_name(cmd), last), None, _name(cmd))
        if spent - told >= TICK_MS:
            told = spent
            m.report_progress(spent)
        yield (None, m.policy.poll_ms)


def _sim_ready(m, line):
    # True, False, or the command that unlocks the SIM; a locked SIM raises at once.
    state = line.strip()[6:].strip()  # after "+CPIN:"
    if state == b"READY":
        return True
    if state.startswith(b"SIM P") or state.startswith(b"PH-"):  # PIN/PUK/lock
        if m.sim_pin and state == b"SIM PIN":
            pin, m.sim_pin = m.sim_pin, None  # one try: never burn the PUK
            return ('AT+CPIN="%s"' % pin).encode()
        m.set_state(STAT_NO_SIM, "SIM locked: %s" % state.decode())
        raise CMEError("SIM locked (%s)" % state.decode(), None, "AT+CPIN")
    return False


def _reg_stat(line):
    # +CREG: <n>,<stat>[,<lac>,<ci>] (read) -> <stat>
    p = parse.split_params(line[line.find(b":") + 1 :])
    return p[1] if len(p) > 1 else p[0]


def _ps_registered(m, line):
    stat = _reg_stat(line)
    return stat == 1 or stat == 5  # home network or roaming (flow chart)


def _cs_registered(m, line):
    m.registration = _reg_stat(line)
    return _ps_registered(m, line)


def g_disconnect(m):
    """Close every socket and deactivate the PDP context; check() then leaves it down.
    Returns at once when the module is off, not answering, or the context is down."""
    m.apn = None
    down = m.off or m.state == STAT_NO_RESPONSE or m.ip is None
    for s in m.sockets:
        if s is not None:
            if down:
                s.on_lost("disconnected")
                s.release()
            else:
                yield from s.g_close()
    if not down:
        yield from g_deactivate(m)
    m.pdp_lost = False
    m.set_state(STAT_OFF if m.off else STAT_IDLE)


def g_deactivate(m):
    # Chapter 1 note c: three failed deactivations -> reboot.
    p = m.policy
    for _ in range(p.deact_tries):
        try:
            yield from m.g_command(b"AT+QIDEACT=%d" % m.context, b"", p.qideact_ms)
            m.ip = None
            return
        except ATTimeout:
            raise  # no answer in 40 s: the module needs a reboot (check() does it)
        except QuectelError:
            pass
    yield from m.g_reset()
    m.reason = "deactivation failed %d times: rebooted" % p.deact_tries


def g_reactivate(m):
    """Deactivate and activate the context again (after too many failed opens)."""
    yield from g_deactivate(m)
    yield from g_activate(m)


def g_recover(m):
    """The slow path of `Modem.check()`: something is wrong, and its back-off allows a try."""
    p = m.policy
    try:
        if m.pdp_lost and not m.restarted:
            m.pdp_lost = False
            yield from g_deactivate(m)  # pdpdeact: the host must deactivate (2.16.5)
            yield from g_activate(m)
            m.set_state(STAT_GOT_IP)
        else:
            if m.state == STAT_NOT_REGISTERED and p.radio_cycle and not m.radio_tried:
                m.radio_tried = True
                yield from m.g_radio(False)  # airplane mode and back: cheaper than a reboot
                yield from m.g_radio(True)
            elif m.state == STAT_NO_RESPONSE or m.failures:
                yield from m.g_reset()
            yield from g_bring_up(m)
        m.failures = 0
        m.radio_tried = False
        m.next_try = None
        return True
    except QuectelError as e:
        m.failures += 1
        delay = m.restart_delay(m.failures)
        clock = m.clock
        m.next_try = clock.ticks_add(clock.ticks_ms(), delay)
        if delay:
            m.set_state(STAT_BACKOFF, "%s; next restart in %d s" % (e, delay // 1000))
        return False
