"""Telemetry firmware: a board with a Quectel UC20/EC2x module POSTs a JSON reading every
few seconds over the module's TCP/IP stack.

Steps, each shown on the console: power the module on, SIM, registration, PDP context (IP),
clock by NTP, then one HTTP POST per interval with the server's answer. `modem.check()` runs
between reports so the lifecycle recovers from every failure (pdpdeact, module reboot, no
response); an exception in a report is logged and the loop goes on after a back-off.

Settings are in config.py (FW_<NAME> environment variables override them on the unix port).
With config.REPORTS = None (a device) it runs forever. A bounded run stops after REPORTS
reports and, being a test, fails fast: exit status 2 when the module cannot be reached,
3 when the data connection cannot be brought up, 1 when reports went unanswered.
"""

import gc
import os
import sys
import time

import config
import machine

_T0 = time.ticks_ms()

_NAMES = ("APN", "USER", "PASSWORD", "SERVER_URL", "INTERVAL", "BOARD", "NTP_SERVER", "DNS",
          "REPORTS")  # fmt: skip

# Modem.status() values (quectel.modem STAT_*) in words.
_STATES = {
    0: "off",
    1: "on, answering AT",
    2: "connecting",
    3: "connected",
    4: "backing off",
    -1: "no SIM",
    -2: "not registered",
    -3: "PDP activation failed",
    -4: "no response",
}

_TRIES_PER_REPORT = 3  # a bounded run gives up after this many attempts per report
_MAX_BACKOFF_S = 300


def log(*args):
    t = time.ticks_diff(time.ticks_ms(), _T0)
    print("[%4d.%03d]" % (t // 1000, t % 1000), *args)


class Settings:
    """config.py, then FW_<NAME> environment variables where the port has an environment."""

    # Every name of _NAMES, as config.py sets it (declared here for readers and type checkers).
    APN = USER = PASSWORD = SERVER_URL = BOARD = NTP_SERVER = DNS = REPORTS = None
    INTERVAL = 10

    def __init__(self):
        for name in _NAMES:
            setattr(self, name, getattr(config, name, None))
        getenv = getattr(os, "getenv", None)
        if getenv is None:
            return
        for name in _NAMES:
            v = getenv("FW_" + name)
            if v is not None:
                setattr(self, name, self._convert(name, v))

    @staticmethod
    def _convert(name, v):
        if name == "INTERVAL":
            return float(v)
        if name == "REPORTS":
            return None if v.lower() in ("", "none", "forever") else int(v)
        if name == "DNS":
            return tuple(x.strip() for x in v.split(",") if x.strip()) or None
        return v


def fail(code, text):
    log("error:", text)
    sys.exit(code)


def load_board(name):
    pkg = __import__("boards." + name)
    return getattr(pkg, name)


def describe(state, reason=None):
    s = _STATES.get(state, str(state))
    return s + (" (%s)" % reason if reason else "")


def on_change(state, reason):
    log("modem:", describe(state, reason))


def uart_name(modem):
    # The engine keeps the UART it was given; its repr names the port or address.
    return repr(modem.uart)


def make_modem(board, bounded):
    from quectel import Modem

    delay = 5
    while True:
        try:
            return Modem.for_board(board, on_change=on_change)
        except OSError as e:  # the UART could not be opened (vboard: target not reachable)
            getenv = getattr(os, "getenv", None)
            where = (getenv and getenv("QUECTEL_UART")) or "of board %s" % board.__name__
            text = "cannot open the module's UART %s: %r" % (where, e)
            if bounded:
                fail(2, text)
            log("%s; retrying in %d s" % (text, delay))
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


def power_up(modem, bounded):
    from quectel import ATTimeout, QuectelError

    delay = 10
    while True:
        log("power on: switching the module on (PWRKEY if wired, else AT probing) ...")
        try:
            modem.active(True)
            log("power on: module answers on", uart_name(modem))
            return
        except (ATTimeout, QuectelError) as e:
            text = "the module does not answer AT on %s within the manual's time (%s)" % (
                uart_name(modem), e)  # fmt: skip
            if bounded:
                fail(2, text)
            log(text + "; retrying in %d s" % delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


def bring_up(modem, cfg, bounded):
    from quectel import QuectelError

    log("connecting: SIM, registration, PDP context (APN %r) ..." % cfg.APN)
    try:
        modem.connect(apn=cfg.APN, user=cfg.USER or "", key=cfg.PASSWORD or "")
    except QuectelError as e:
        if bounded:
            fail(3, "bring-up failed: %s" % (e,))
        log("bring-up failed (%s); the lifecycle retries it with back-off" % (e,))
        return False
    log("connected: IP address", modem.ipconfig("addr4")[0])
    if cfg.DNS:
        try:
            log("DNS servers:", modem.dns_servers(*cfg.DNS[:2]))
        except QuectelError as e:
            log("could not set the DNS servers:", e)
    return True


def sync_clock(modem, cfg, rtc):
    try:
        t, zone = modem.ntp(cfg.NTP_SERVER, rtc=rtc)
    except Exception as e:  # noqa: BLE001  (no time is no reason to stop reporting)
        log("NTP: no time from %s (%r); will retry before the next report" % (cfg.NTP_SERVER, e))
        return False
    log("NTP: clock set from %s: %s (zone %+d min)" % (cfg.NTP_SERVER, iso(t), zone))
    return True


def iso(t):
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % tuple(t[:6])


# +CREG <stat> (3GPP TS 27.007)
REGISTRATION = {0: "not registered", 1: "home", 2: "searching", 3: "denied", 5: "roaming"}


def radio_state(modem):
    # Signal (AT+CSQ), operator (AT+COPS?) and CS registration (+CREG URCs), for each report.
    try:
        dbm, ber = modem.signal()
        op = modem.operator()
    except Exception as e:  # noqa: BLE001  (a report goes out even if these fail)
        log("radio state unavailable: %s" % e)
        return {}
    return {
        "rssi_dbm": dbm,
        "ber": ber,
        "operator": op,
        "registration": REGISTRATION.get(modem.registration, modem.registration),
    }


def reading(modem, board, seq, synced, rtc):
    import binascii

    gc.collect()
    now = None
    if synced:
        d = rtc.datetime()  # (year, month, day, weekday, hour, minute, second, subsecond)
        now = iso((d[0], d[1], d[2], d[4], d[5], d[6]))
    return {
        "device": binascii.hexlify(machine.unique_id()).decode(),
        "board": getattr(board, "NAME", "?"),
        "seq": seq,
        "uptime_ms": time.ticks_diff(time.ticks_ms(), _T0),
        "time": now,
        "mem_free": gc.mem_free(),
        "ip": modem.ip,
        # Made up: no sensor is wired on the reference boards. Replace with a real one.
        "simulated_temperature_c": 21.0 + (seq % 10) / 10,
    }


def post(requests, url, body):
    r = requests.post(url, json=body)
    try:
        status = r.status_code
        text = r.text
    finally:
        r.close()
    return status, text


def wait(modem, seconds):
    """Sleep `seconds`, running the lifecycle's check() about once a second meanwhile."""
    ms = int(seconds * 1000)
    t0 = time.ticks_ms()
    while True:
        left = ms - time.ticks_diff(time.ticks_ms(), t0)
        if left <= 0:
            return
        time.sleep_ms(min(left, 1000))
        try:
            modem.check()
        except Exception as e:  # noqa: BLE001  (check() should not raise; never die of it)
            log("check() raised %r" % (e,))


def main():
    cfg = Settings()
    bounded = cfg.REPORTS is not None
    log("telemetry firmware: board %s, server %s, every %s s, %s" % (
        cfg.BOARD, cfg.SERVER_URL, cfg.INTERVAL,
        "forever" if not bounded else "%d report(s)" % cfg.REPORTS))  # fmt: skip
    board = load_board(cfg.BOARD)
    modem = make_modem(board, bounded)
    power_up(modem, bounded)
    bring_up(modem, cfg, bounded)

    import quectel.socket

    quectel.socket.use(modem)  # from here on `import socket` is the module's
    import requests  # micropython-lib requests, over the module

    rtc = machine.RTC()
    synced = modem.isconnected() and sync_clock(modem, cfg, rtc)
    sent = seq = attempts = failures = 0
    while not bounded or sent < cfg.REPORTS:
        if bounded and attempts >= cfg.REPORTS * _TRIES_PER_REPORT:
            fail(1, "%d of %d reports answered after %d attempts" % (
                sent, cfg.REPORTS, attempts))  # fmt: skip
        attempts += 1
        pause = cfg.INTERVAL
        try:
            if modem.check():
                if not synced:
                    synced = sync_clock(modem, cfg, rtc)
                seq += 1
                body = reading(modem, board, seq, synced, rtc)
                body.update(radio_state(modem))
                log(
                    "radio: %s dBm, operator %s, registration %s"
                    % (body.get("rssi_dbm"), body.get("operator"), body.get("registration"))
                )
                log("POST #%d to %s: %d bytes of JSON ..." % (seq, cfg.SERVER_URL, len(str(body))))
                status, text = post(requests, cfg.SERVER_URL, body)
                log("POST #%d answered: %d %s" % (seq, status, text.strip()))
                if not 200 <= status < 300:
                    raise OSError("HTTP status %d" % status)
                sent += 1
                failures = 0
            else:
                log("not connected (%s): waiting for the lifecycle to recover" % (
                    describe(modem.status(), modem.reason)))  # fmt: skip
        except Exception as e:  # noqa: BLE001  (log, back off, go on)
            failures += 1
            pause = min(cfg.INTERVAL * (1 << min(failures, 6)), _MAX_BACKOFF_S)
            log("report failed: %r; next try in %d s" % (e, pause))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
        if bounded and sent >= cfg.REPORTS:
            break
        wait(modem, pause)
    log("done: %d reports answered" % sent)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("stopped (Ctrl-C)")
