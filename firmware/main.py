"""Telemetry firmware: a board with a Quectel UC20/EC2x module takes a JSON reading every
few seconds and POSTs it over the module's TCP/IP stack, losing none.

Steps, each shown on the console: power the module on, SIM, registration, PDP context (IP),
clock by NTP, then every interval: a reading, numbered and stored in a bounded queue on flash
(store.py: a reset at any moment loses nothing stored), then the queue sent oldest first in
batches (a JSON array per POST) until the server acknowledges each (2xx); only then does the
queue's head move. A batch sent again after a reset carries the same sequence numbers, so the
server de-duplicates. When the queue is full the oldest reading is dropped and counted; every
reading reports that count ("dropped"). `modem.check()` runs between reports so the lifecycle
recovers from every failure (pdpdeact, module reboot, no response); a failed send is logged and
retried with back-off while readings go on being taken.

HTTP is a small HTTP/1.0 POST over the module's socket (https:// by the module's own TLS or by
the MCU's `ssl`, as config.TLS says), so the firmware needs nothing beyond the package and what
every MicroPython firmware has: stock RPI_PICO firmware has neither `requests` nor `ssl`.

Settings are in config.py (FW_<NAME> environment variables override them on the unix port).
With config.REPORTS = None (a device) it runs forever. A bounded run takes REPORTS readings,
sends until the queue is empty (REPORTS = 0 only empties it) and, being a test, fails fast:
exit status 2 when the module cannot be reached, 3 when the data connection cannot be brought
up, 1 after three failed sends in a row.
"""

import gc
import json
import os
import sys
import time

import config
import machine
from store import Store

_T0 = time.ticks_ms()

_NAMES = ("APN", "USER", "PASSWORD", "SERVER_URL", "INTERVAL", "BOARD", "NTP_SERVER", "DNS",
          "REPORTS", "STORE_DIR", "QUEUE_MAX", "BATCH", "CA_FILE", "TLS")  # fmt: skip

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

_TRIES = 3  # a bounded run gives up after this many failed sends in a row
_MAX_BACKOFF_S = 300
_BATCH_BYTES = 1024  # JSON of the readings in one POST (one reading may be longer)


def log(*args):
    t = time.ticks_diff(time.ticks_ms(), _T0)
    print("[%4d.%03d]" % (t // 1000, t % 1000), *args)


class Settings:
    """config.py, then FW_<NAME> environment variables where the port has an environment."""

    # Every name of _NAMES, as config.py sets it (declared here for readers and type checkers).
    APN = USER = PASSWORD = SERVER_URL = BOARD = NTP_SERVER = DNS = REPORTS = CA_FILE = None
    INTERVAL = 10
    STORE_DIR = "queue"
    QUEUE_MAX = 500
    BATCH = 8
    TLS = "auto"

    def __init__(self):
        for name in _NAMES:
            setattr(self, name, getattr(config, name, getattr(self, name)))
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
        if name in ("QUEUE_MAX", "BATCH"):
            return int(v)
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
        # A reset of this board may have left the module mid-command (waiting for the bytes
        # of an AT+QISEND): reboot it (RESET pin, else a power cycle, else AT+CFUN=1,1).
        log(text + "; rebooting the module")
        try:
            modem.reset()
            log("power on: module answers on", uart_name(modem), "after a reboot")
            return
        except (ATTimeout, QuectelError) as e:
            text = "the module does not answer after a reboot either (%s)" % (e,)
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


def reading(modem, board, store, synced, rtc):
    import binascii

    gc.collect()
    seq = store.next_seq
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
        "queued": store.count,
        "dropped": store.dropped,  # readings dropped so far because the queue was full
        # Made up: no sensor is wired on the reference boards. Replace with a real one.
        "simulated_temperature_c": 21.0 + (seq % 10) / 10,
    }


def split_url(url):
    """(scheme, host, port, path) of an http:// or https:// URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError("not an http:// or https:// URL: %s" % url)
    hostport, sep, path = rest.partition("/")
    host, sep2, port = hostport.partition(":")
    return scheme, host, int(port) if sep2 else (443 if scheme == "https" else 80), "/" + path


def tls(s, host, ca_file, where="auto"):
    """`s` wrapped in TLS, the server verified when ca_file names its CA: by the module's own
    TLS stack (`where` "module", or "auto" on a firmware without ssl, as the stock Pico's) or
    by the MCU's ssl ("mcu", or "auto" where the firmware has it)."""
    ssl = None
    if where != "module":
        try:
            import ssl
        except ImportError:
            if where == "mcu":
                raise OSError("TLS = 'mcu' needs ssl, which this firmware lacks: use 'module'")
    if ssl is None:
        import quectel.tls as ssl  # the module's TLS: no ssl and no TLS RAM on the MCU
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        with open(ca_file, "rb") as f:
            ctx.load_verify_locations(cadata=f.read())
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s, server_hostname=host)


def http_post(url, body, ca_file=None, timeout_s=60, where="auto"):
    """POST the JSON `body` (bytes) to `url` over `socket` (the module's, after
    quectel.socket.use()): (status, answer text). HTTP/1.0, so the answer ends with the
    connection. https:// URLs go through tls()."""
    import socket

    scheme, host, port, path = split_url(url)
    s = socket.socket()
    try:
        s.settimeout(timeout_s)
        s.connect(socket.getaddrinfo(host, port)[0][-1])
        if scheme == "https":
            s = tls(s, host, ca_file, where)
        s.write(("POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n" % (path, host, len(body))).encode())  # fmt: skip
        s.write(body)
        status = http_status(s.readline())
        while s.readline() not in (b"", b"\r\n"):  # the headers
            pass
        return status, s.read(512).decode()
    finally:
        s.close()


def http_status(line):
    """The status code of an HTTP status line; OSError when there is none (the connection
    ended before the answer)."""
    words = line.split(None, 2)
    if len(words) < 2 or not words[1].isdigit():
        raise OSError("no HTTP answer (%r)" % line[:40])
    return int(words[1])


def batch_body(batch):
    """One JSON array of the stored readings [(seq, payload), ...]."""
    return b"[" + b",".join(p for _, p in batch) + b"]"


def store_reading(store, body):
    full = store.count >= store.max_records
    store.append(json.dumps(body).encode())
    if full:
        log("queue full: dropped the oldest reading, #%d (%d dropped so far)" % (
            store.last_dropped, store.dropped))  # fmt: skip
    log("reading #%d stored (%d queued)" % (body["seq"], store.count))


def send_queue(cfg, store):
    """POST the queued readings, oldest first, a batch at a time, until none is left; the head
    moves after each answered (2xx) batch. Raises on the first failure."""
    while store.count:
        batch, mark = store.peek(cfg.BATCH, _BATCH_BYTES)
        data = batch_body(batch)
        span = "#%d..#%d" % (batch[0][0], batch[-1][0])
        log("POST %s (%d reading(s), %d bytes) to %s ..." % (
            span, len(batch), len(data), cfg.SERVER_URL))  # fmt: skip
        status, text = http_post(cfg.SERVER_URL, data, cfg.CA_FILE, where=cfg.TLS)
        log("POST %s answered: %d %s" % (span, status, text.strip()))
        if not 200 <= status < 300:
            raise OSError("HTTP status %d" % status)
        store.ack(batch, mark)


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


def open_store(cfg):
    store = Store(cfg.STORE_DIR, max_records=cfg.QUEUE_MAX)
    log("queue %s: %d reading(s) kept from before, next #%d, %d dropped so far (max %d)" % (
        cfg.STORE_DIR, store.count, store.next_seq, store.dropped, cfg.QUEUE_MAX))  # fmt: skip
    return store


def main():
    cfg = Settings()
    bounded = cfg.REPORTS is not None
    log("telemetry firmware: board %s, server %s, every %s s, %s" % (
        cfg.BOARD, cfg.SERVER_URL, cfg.INTERVAL,
        "forever" if not bounded else "%d reading(s)" % cfg.REPORTS))  # fmt: skip
    store = open_store(cfg)
    board = load_board(cfg.BOARD)
    modem = make_modem(board, bounded)
    power_up(modem, bounded)
    bring_up(modem, cfg, bounded)

    import quectel.socket

    quectel.socket.use(modem)  # from here on `import socket` is the module's

    rtc = machine.RTC()
    synced = modem.isconnected() and sync_clock(modem, cfg, rtc)
    taken = failures = 0
    send_after = time.ticks_ms()  # no send before this (back-off after a failure)
    while True:
        if not bounded or taken < cfg.REPORTS:
            body = reading(modem, board, store, synced, rtc)
            body.update(radio_state(modem))
            log("radio: %s dBm, operator %s, registration %s" % (
                body.get("rssi_dbm"), body.get("operator"), body.get("registration")))  # fmt: skip
            store_reading(store, body)
            taken += 1
        elif not store.count:
            break
        if time.ticks_diff(time.ticks_ms(), send_after) >= 0:
            try:
                if modem.check():
                    if not synced:
                        synced = sync_clock(modem, cfg, rtc)
                    send_queue(cfg, store)
                    failures = 0
                else:
                    log("not connected (%s): waiting for the lifecycle to recover" % (
                        describe(modem.status(), modem.reason)))  # fmt: skip
            except Exception as e:  # noqa: BLE001  (log, back off, go on)
                failures += 1
                if bounded and failures >= _TRIES:
                    fail(1, "%d sends failed in a row, %d reading(s) still queued: %r" % (
                        failures, store.count, e))  # fmt: skip
                pause = min(cfg.INTERVAL * (1 << min(failures, 6)), _MAX_BACKOFF_S)
                send_after = time.ticks_add(time.ticks_ms(), int(pause * 1000))
                log("send failed: %r; %d reading(s) queued, next try in %d s" % (
                    e, store.count, pause))  # fmt: skip
                if hasattr(sys, "print_exception"):
                    sys.print_exception(e)
        if bounded and taken >= cfg.REPORTS and not store.count:
            break
        wait(modem, cfg.INTERVAL)
    log("done: %d reading(s) taken, the queue is empty" % taken)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("stopped (Ctrl-C)")
