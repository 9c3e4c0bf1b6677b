"""Telemetry firmware, asyncio variant: the same reports as main.py, but the modem is driven by
quectel.aio, so a ticker/sensor task keeps running while the module activates its context
(up to 150 s), resolves names or waits for the server.

Tasks: the modem's pump, its supervisor (the recovery rules of Modem.check()), a sensor task
sampling every second, and the reporter: every interval a JSON reading into the same flash
queue as main.py's (store.py), then the queue sent in batches, one HTTP/1.0 POST each over
`AModem.open_connection`, the head moved only after each answered batch. Settings come from
config.py as for main.py (FW_<NAME> variables override them on the unix port); only http://
URLs (no TLS in this variant).
"""

import asyncio
import sys
import time

import machine
from main import (  # same settings, queue and console style
    _BATCH_BYTES,
    _MAX_BACKOFF_S,
    _TRIES,
    REGISTRATION,
    Settings,
    batch_body,
    describe,
    http_status,
    iso,
    load_board,
    log,
    open_store,
    split_url,
    store_reading,
)
from main import reading as base_reading


class Sensor:
    """Stands in for a real sensor: a sample a second, kept while the network is slow."""

    def __init__(self):
        self.samples = 0
        self.value = 21.0
        self.longest_gap_ms = 0

    async def run(self):
        last = time.ticks_ms()
        while True:
            await asyncio.sleep_ms(1000)
            now = time.ticks_ms()
            self.longest_gap_ms = max(self.longest_gap_ms, time.ticks_diff(now, last))
            last = now
            self.samples += 1
            self.value = 21.0 + (self.samples % 10) / 10  # made up: wire a real one here


async def post(am, url, body):
    """A tiny HTTP/1.0 POST of body (bytes, JSON): (status, response body)."""
    scheme, host, port, path = split_url(url)
    if scheme != "http":
        raise ValueError("main_async posts to http:// URLs only")
    r, w = await am.open_connection(host, port)
    try:
        head = "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n" % (path, host)
        w.write(head.encode() + b"Content-Length: %d\r\n\r\n" % len(body))
        w.write(body)
        await w.drain()
        status = http_status(await r.readline())
        while (await r.readline()).strip():  # headers
            pass
        text = await r.read(-1)  # HTTP/1.0: the body ends with the connection
    finally:
        w.close()
        await w.wait_closed()
    return status, text


async def send_queue(am, cfg, store):
    # main.send_queue, awaited: batches oldest first, the head moved after each 2xx answer.
    while store.count:
        batch, mark = store.peek(cfg.BATCH, _BATCH_BYTES)
        data = batch_body(batch)
        span = "#%d..#%d" % (batch[0][0], batch[-1][0])
        log("POST %s (%d reading(s), %d bytes) to %s ..." % (
            span, len(batch), len(data), cfg.SERVER_URL))  # fmt: skip
        status, text = await post(am, cfg.SERVER_URL, data)
        log("POST %s answered: %d %s" % (span, status, text.decode().strip()))
        if not 200 <= status < 300:
            raise OSError("HTTP status %d" % status)
        store.ack(batch, mark)


async def reading(am, board, store, synced, sensor):
    # main.py's reading, with the sensor task's figures and the radio state asked without
    # blocking the loop.
    body = base_reading(am.modem, board, store, synced, machine.RTC())
    body["samples"] = sensor.samples
    body["simulated_temperature_c"] = sensor.value
    try:
        dbm, ber = await am.signal()
        op = await am.operator()
    except Exception as e:  # noqa: BLE001  (a report goes out even if these fail)
        log("radio state unavailable: %s" % e)
        return body
    reg = REGISTRATION.get(am.modem.registration, am.modem.registration)
    body.update({"rssi_dbm": dbm, "ber": ber, "operator": op, "registration": reg})
    log("radio: %s dBm, operator %s, registration %s" % (dbm, op, reg))
    return body


async def sync_clock(am, cfg):
    try:
        t, zone = await am.ntp(cfg.NTP_SERVER, rtc=machine.RTC())
    except Exception as e:  # noqa: BLE001
        log("NTP: no time from %s (%r); will retry before the next report" % (cfg.NTP_SERVER, e))
        return False
    log("NTP: clock set from %s: %s (zone %+d min)" % (cfg.NTP_SERVER, iso(t), zone))
    return True


async def amain():
    from quectel import Modem
    from quectel.aio import AModem

    cfg = Settings()
    bounded = cfg.REPORTS is not None
    log("telemetry firmware (asyncio): board %s, server %s, every %s s, %s" % (
        cfg.BOARD, cfg.SERVER_URL, cfg.INTERVAL,
        "forever" if not bounded else "%d reading(s)" % cfg.REPORTS))  # fmt: skip
    store = open_store(cfg)
    board = load_board(cfg.BOARD)
    am = AModem(Modem.for_board(board), on_change=lambda s, r: log("modem:", describe(s, r)))
    sensor = Sensor()
    asyncio.create_task(sensor.run())
    try:
        log("connecting (APN %r) ..." % cfg.APN)
        await am.connect(cfg.APN, cfg.USER, cfg.PASSWORD)
        log("connected: IP %s" % am.modem.ip)
    except Exception as e:  # noqa: BLE001
        if bounded:
            log("error: cannot bring the data connection up: %r" % (e,))
            sys.exit(3)
        log("bring-up failed (%r): the supervisor keeps trying" % (e,))
    am.supervise()
    synced = am.isconnected() and await sync_clock(am, cfg)
    taken = failures = 0
    send_after = time.ticks_ms()  # no send before this (back-off after a failure)
    while True:
        if not bounded or taken < cfg.REPORTS:
            store_reading(store, await reading(am, board, store, synced, sensor))
            taken += 1
        elif not store.count:
            break
        if not am.up.is_set():
            log("not connected (%s): waiting for the lifecycle to recover"
                % describe(am.modem.state, am.modem.reason))  # fmt: skip
        elif time.ticks_diff(time.ticks_ms(), send_after) >= 0:
            try:
                if not synced:
                    synced = await sync_clock(am, cfg)
                await send_queue(am, cfg, store)
                failures = 0
            except Exception as e:  # noqa: BLE001  (log, back off, go on)
                failures += 1
                if bounded and failures >= _TRIES:
                    log("error: %d sends failed in a row: %r" % (failures, e))
                    sys.exit(1)
                pause = min(cfg.INTERVAL * (1 << min(failures, 6)), _MAX_BACKOFF_S)
                send_after = time.ticks_add(time.ticks_ms(), int(pause * 1000))
                log("send failed: %r; %d reading(s) queued, next try in %d s" % (
                    e, store.count, pause))  # fmt: skip
        if bounded and taken >= cfg.REPORTS and not store.count:
            break
        await asyncio.sleep(cfg.INTERVAL)
    log("done: %d reading(s) taken, the queue is empty; sensor kept %d samples (longest gap "
        "%d ms)" % (taken, sensor.samples, sensor.longest_gap_ms))  # fmt: skip
    await am.stop()


def main():
    asyncio.run(amain())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("stopped (Ctrl-C)")
