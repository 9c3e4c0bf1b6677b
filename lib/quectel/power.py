"""Power: switching the module on and off, rebooting it, and setting it up after a boot
(the manual's flow chart). Generator procedures over a `Modem`, loaded on demand and
released after use (see `quectel.modem`)."""

from .engine import MAX_SEND
from .errors import ATError, ATTimeout, ModuleOff, QuectelError
from .modem import STAT_IDLE, STAT_NO_RESPONSE, STAT_OFF
from .query import g_responds


def g_answers(m):
    # Whether the module answers AT; a board reset may have left it in a send's data
    # prompt, which the manual's longest send fills: ESC is ignored in command mode, and
    # the send's late answer is dropped before the next probe.
    if (yield from g_responds(m)):
        return True
    m.at.fill(MAX_SEND)
    yield from g_quiet(m)
    return (yield from g_responds(m))


def g_power_on(m):
    """Power the module up (PWRKEY pulse if it is off), then apply our settings."""
    for _ in range(8):  # what the module said before (POWERED DOWN) is not about this boot
        if not m.at.poll():
            break
    m.off = False
    m.held_off = False
    m.powered_down = False
    st = m.status_pin
    if m.fresh and m.reset_pin and st and st.on():
        # On before this Modem set it up (a board reset): its state is unknown, and a
        # send's data prompt or transparent mode would pass our first bytes, probes
        # included, to a peer as payload. A reboot by pin writes nothing.
        yield from g_reset(m)
        return
    on = st.on() if st else (yield from g_answers(m))
    if on and st and not (yield from g_answers(m)):
        # On, but deaf: a board reset left it inside a command (a send's data prompt
        # swallows our commands as payload) or it hangs: only a reboot helps now.
        if m.reset_pin is None:
            m.set_state(STAT_NO_RESPONSE, "the module is on but does not answer")
            raise ModuleOff("the module is on but does not answer")
        yield from g_reset(m)
        return
    if not on:
        if m.pwrkey is None:
            m.set_state(STAT_NO_RESPONSE, "no answer and no PWRKEY wired")
            m.off = True
            raise ModuleOff("the module does not answer and no PWRKEY is wired")
        m.booted = False
        m.pwrkey.set(True)
        yield (None, m.policy.pwrkey_ms)
        m.pwrkey.set(False)
        yield from g_wait_boot(m)
    yield from g_setup(m)
    m.set_state(STAT_IDLE)


def g_wait_boot(m):
    boot_ms = m.policy.boot_ms
    clock = m.clock
    t0 = clock.ticks_ms()
    st = m.status_pin
    while clock.ticks_diff(clock.ticks_ms(), t0) < boot_ms:
        if m.booted:
            return
        if st is None or st.on():
            if (yield from g_responds(m, 1)):
                return
        else:
            yield (lambda: m.booted or st.on(), 50)
    m.set_state(STAT_NO_RESPONSE, "module did not start")
    raise ATTimeout("power on", boot_ms)


def g_quiet(m, ms=200):
    # Let late answers to anything sent during boot arrive and be dropped, so they
    # cannot be taken for the answer to the next command.
    n = -1
    while n != m.at.rx_count:
        n = m.at.rx_count
        yield (None, ms)


def g_setup(m):
    """The settings every boot needs, then the modem's setup hooks (quectel.tls)."""
    yield from g_quiet(m)
    yield from m.g_command(b"ATE0", b"")
    yield from m.g_command(b"AT+CMEE=2", b"")  # +CME ERROR with text (3GPP TS 27.007)
    if m.dtr:
        yield from m.g_command(b"AT&D1", b"")  # DTR leaves transparent mode (section 1.2)
    for cmd in (b"AT+CREG=2", b"AT+CGREG=2"):  # registration changes as URCs
        try:
            yield from m.g_command(cmd, b"")
        except ATError:
            pass  # an older firmware without location reports still works
    m.restarted = False
    m.powered_down = False
    m.fresh = False
    for hook in m.setup_hooks:
        yield from hook()


def g_power_off(m):
    """`AT+QPOWD=1`, then wait up to 12 s for POWERED DOWN (and STATUS low, when wired).
    The module then stays off, `check()` included, until `connect()`, `active(True)` or
    `power_on()`."""
    p = m.policy
    m.held_off = True
    if m.off:
        return  # off already: nothing to say to it
    if m.state == STAT_NO_RESPONSE and not (yield from g_responds(m, 1)):
        m.off = True  # gone silent: nothing to wait 12 s for, power may be cut now
    m.powered_down = False
    try:
        # At most the manual's 12 s: power may be cut then, whether it answered or not.
        yield from m.g_command(b"AT+QPOWD=1", b"", p.powerdown_ms)
        # POWERED DOWN is read before we return, so that it cannot be taken later for
        # news about the next boot; when wired, STATUS low is what says the module is off.
        st = m.status_pin
        off = lambda: m.powered_down and (st is None or not st.on())  # noqa: E731
        yield from m.g_until(off, p.powerdown_ms, "AT+QPOWD")
    except (ATTimeout, ModuleOff):
        pass  # the manual's 12 s are up (or it is gone): power may be cut now
    m.pdp_down("powered off")
    m.pdp_lost = False
    m.off = True
    m.set_state(STAT_OFF)


def g_reset(m):
    """Reboot the module: RESET pin if wired, else a power cycle, else AT+CFUN=1,1."""
    m.pdp_down("reset")
    m.pdp_lost = False
    m.booted = False
    if m.off and m.pwrkey:  # RESET does not start a module that is off
        yield from g_power_on(m)
        return
    if m.reset_pin:
        m.at.quit_data()  # a reboot ends transparent mode too
        m.reset_pin.set(True)
        yield (None, m.policy.reset_ms)
        m.reset_pin.set(False)
        yield from g_wait_boot(m)
    elif m.pwrkey:
        yield from g_power_off(m)
        m.held_off = False  # switched off only to be switched on
        yield from g_power_on(m)
        return
    else:
        try:
            yield from m.g_command(b"AT+CFUN=1,1", b"", m.policy.cfun_ms)
        except QuectelError:
            pass
        yield from g_wait_boot(m)
    yield from g_setup(m)
    m.set_state(STAT_IDLE)


def g_active(m, on):
    """Power the module on (when off or not answering) or off."""
    if on:
        if m.state == STAT_OFF or m.state == STAT_NO_RESPONSE:
            yield from g_power_on(m)
    elif m.state != STAT_OFF:
        yield from g_power_off(m)
