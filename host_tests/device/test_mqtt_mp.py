# Third-party MQTT clients, unmodified, over the module on the virtual board against a real
# broker (mosquitto on 127.0.0.1:$MQTT_PORT): micropython-lib's umqtt.simple and umqtt.robust,
# and mqtt_async (PyPI's micropython-mqtt, the mqtt_as-compatible client) through
# quectel.network's WLAN adapter; Peter Hinch's mqtt_as too when $MQTT_AS_DIR names a copy.
# Run by host_tests/test_mqtt.py, which puts the clients on MICROPYPATH and serves $CTL_PORT,
# a line channel to the CPython side that owns the broker's other client and the virtual module:
#   "expect TOPIC N SEED"   wait until TOPIC arrived there with pattern(N, SEED), byte-exact
#   "pub TOPIC N SEED QOS"  publish pattern(N, SEED) to TOPIC
#   "close_broker"          the virtual module closes its connections to the broker, as if
#                           the broker had closed them (+QIURC: "closed")
import os
import select
import socket  # the host's socket: the control channel (before quectel.network.use)
import time

import quectel.network
from mptest import eq, ok, run, test
from payload import pattern
from quectel import Modem

import boards.virtual as board

BROKER = int(os.getenv("MQTT_PORT"))
SIZES = (10, 1024, 10240)
TIMEOUT_S = 30
modem = Modem.for_board(board)
_ctl = socket.socket()
_ctl.connect(socket.getaddrinfo("127.0.0.1", int(os.getenv("CTL_PORT")))[0][-1])
_ctl_buf = bytearray()


def _line():
    i = _ctl_buf.find(b"\n")
    if i < 0:
        return None
    line = bytes(_ctl_buf[:i])
    _ctl_buf[:] = _ctl_buf[i + 1 :]
    return line


def _answer(line):
    assert line.startswith(b"ok"), line
    return line[3:].strip().decode()


def ctl(*words):
    """Ask the CPython side and wait for its answer as an application's main loop waits:
    polling and sleeping, so scheduled callbacks (the modem's write-flush timer) run, as they
    do during any wait on a board. (A blocking recv() on the unix port runs none.)"""
    import select
    import time

    _ctl.write((" ".join(str(w) for w in words) + "\n").encode())
    p = select.poll()
    p.register(_ctl, select.POLLIN)
    t0 = time.ticks_ms()
    line = _line()
    while line is None:
        assert time.ticks_diff(time.ticks_ms(), t0) < (TIMEOUT_S + 30) * 1000, "no answer"
        if not p.poll(0):
            time.sleep_ms(5)
            continue
        chunk = _ctl.recv(256)
        assert chunk, "control channel closed"
        _ctl_buf.extend(chunk)
        line = _line()
    return _answer(line)


async def actl(*words):
    """ctl() for asyncio code: the event loop (and so the client's tasks) keeps running."""
    import asyncio

    _ctl.write((" ".join(str(w) for w in words) + "\n").encode())
    t0 = time.ticks_ms()
    line = _line()
    while line is None:
        p = select.poll()
        p.register(_ctl, select.POLLIN)
        if p.poll(0):
            chunk = _ctl.recv(256)
            assert chunk, "control channel closed"
            _ctl_buf.extend(chunk)
        ok(time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 2000, "control: no answer")
        await asyncio.sleep_ms(20)
        line = _line()
    return _answer(line)


def wait_reported_closed(sock):
    """Until the module's +QIURC: "closed" has reached the socket, at most 10 s: it polls
    readable (the end of the stream; the broker has nothing else to send) or hung up."""
    p = select.poll()
    p.register(sock, select.POLLIN)
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 10000:
        if p.poll(100):
            return
    raise AssertionError("the module never reported the connection closed")


def topic(client, direction, qos, n):
    return b"dev/%s/%s/q%d/%d" % (direction, client, qos, n)


class Inbox:
    """A subscription callback that keeps (topic, payload) pairs."""

    def __init__(self):
        self.got = []

    def __call__(self, t, msg, *rest):
        self.got.append((bytes(t), bytes(msg)))

    def take(self, t):
        for i, (tt, msg) in enumerate(self.got):
            if tt == t:
                del self.got[i]
                return msg
        return None


def check_payload(msg, n, seed, what):
    ok(msg is not None, "%s: nothing received" % what)
    want = pattern(n, seed)
    if msg != want:
        i = 0
        while i < min(len(msg), n) and msg[i] == want[i]:
            i += 1
        raise AssertionError(
            "%s: %d bytes, want %d; first difference at %d" % (what, len(msg), n, i)
        )


def wait_for(client, inbox, t):
    # umqtt: check_msg() (non-blocking) until t arrives, at most TIMEOUT_S.
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 1000:
        msg = inbox.take(t)
        if msg is not None:
            return msg
        client.check_msg()
        time.sleep_ms(5)
    return inbox.take(t)


@test
def bring_up_and_wlan_adapter():
    modem.connect("internet")
    quectel.network.use(modem, apn="internet")
    import network

    wlan = network.WLAN(network.STA_IF)
    ok(wlan.active(), "not active")
    ok(wlan.isconnected(), "not connected")
    eq(wlan.status(), network.STAT_GOT_IP)
    wlan.connect()  # already up: returns at once
    wlan.config(pm=wlan.PM_NONE)  # accepted, ignored
    eq(len(wlan.config("mac")), 6)
    ok(wlan.ifconfig()[0] != "0.0.0.0", wlan.ifconfig())
    import usocket

    ok(usocket is quectel.socket, "usocket is not the modem's")


def _umqtt_both_ways(c, inbox, name, seed):
    for qos in (0, 1):
        for n in SIZES:
            seed += 1
            t = topic(name, "out", qos, n)
            c.publish(t, pattern(n, seed), qos=qos)
            ctl("expect", t.decode(), n, seed)
    for qos in (0, 1):
        for n in SIZES:
            seed += 1
            t = topic(name, "in", qos, n)
            ctl("pub", t.decode(), n, seed, qos)
            check_payload(wait_for(c, inbox, t), n, seed, t.decode())
    return seed


@test
def umqtt_simple_both_ways():
    from umqtt.simple import MQTTClient

    inbox = Inbox()
    c = MQTTClient(b"mp-simple", "127.0.0.1", BROKER, keepalive=60)
    c.set_callback(inbox)
    eq(c.connect(), 0)  # no session present
    c.subscribe(b"dev/in/simple/#", 1)
    _umqtt_both_ways(c, inbox, "simple", 100)
    c.disconnect()


@test
def umqtt_robust_reconnects_after_remote_close():
    from umqtt.robust import MQTTClient

    inbox = Inbox()
    c = MQTTClient(b"mp-robust", "127.0.0.1", BROKER, keepalive=60)
    c.DELAY = 1
    c.set_callback(inbox)
    c.connect(clean_session=False)  # the subscription outlives the connection
    c.subscribe(b"dev/in/robust/#", 1)
    seed = _umqtt_both_ways(c, inbox, "robust", 200)

    # reading: the broker's connection closes; the next wait_msg() reconnects and gets the
    # message published meanwhile
    first = c.sock
    ok(ctl("close_broker"), "no broker connection to close")
    wait_reported_closed(first)
    seed += 1
    t = b"dev/in/robust/after-close"
    ctl("pub", t.decode(), 1024, seed, 1)
    msg = None
    t0 = time.ticks_ms()
    while msg is None and time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 1000:
        c.wait_msg()  # reads EOF, reconnects, then waits for the next message
        msg = inbox.take(t)
    ok(c.sock is not first, "no reconnection")
    check_payload(msg, 1024, seed, t.decode())

    # writing: closed again; publish() reconnects and publishes
    second = c.sock
    ok(ctl("close_broker"), "no broker connection to close")
    wait_reported_closed(second)
    seed += 1
    t = b"dev/out/robust/after-close"
    c.publish(t, pattern(10240, seed), qos=1)
    ok(c.sock is not second, "no reconnection")
    ctl("expect", t.decode(), 10240, seed)
    c.disconnect()


@test
def mqtt_async_both_ways_and_reconnect():
    import asyncio

    import mqtt_async

    asyncio.run(_mqtt_async_main(mqtt_async))


async def _mqtt_async_main(ma):
    import asyncio

    inbox = Inbox()
    ups = []

    async def on_connect(client):
        ups.append(client)

    cfg = ma.MQTTConfig()
    cfg.server = "127.0.0.1"
    cfg.port = BROKER
    cfg.client_id = b"mp-async"
    cfg.subs_cb = inbox
    cfg.connect_coro = on_connect
    cfg.ssid = "internet"
    cl = ma.MQTTClient(cfg)
    await asyncio.wait_for(cl.connect(), TIMEOUT_S)
    await asyncio.wait_for(cl.subscribe(b"dev/in/async/#", 1), TIMEOUT_S)
    seed = 300
    for qos in (0, 1):
        for n in SIZES:
            seed += 1
            t = topic("async", "out", qos, n)
            await asyncio.wait_for(cl.publish(t, pattern(n, seed), qos=qos), TIMEOUT_S)
            await actl("expect", t.decode(), n, seed)
    for qos in (0, 1):
        for n in SIZES:
            seed += 1
            t = topic("async", "in", qos, n)
            await actl("pub", t.decode(), n, seed, qos)
            check_payload(await _await_msg(inbox, t), n, seed, t.decode())

    # the broker's connection closes: the client reconnects by itself
    before = len(ups)
    ok(await actl("close_broker"), "no broker connection to close")
    t0 = time.ticks_ms()
    while len(ups) == before and time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 1000:
        await asyncio.sleep_ms(50)
    ok(len(ups) > before, "no reconnection")
    for qos in (0, 1):
        seed += 1
        t = b"dev/out/async/after-close/q%d" % qos
        await asyncio.wait_for(cl.publish(t, pattern(10240, seed), qos=qos), TIMEOUT_S)
        await actl("expect", t.decode(), 10240, seed)
        seed += 1
        t = b"dev/in/async/after-close/q%d" % qos
        await actl("pub", t.decode(), 10240, seed, qos)
        check_payload(await _await_msg(inbox, t), 10240, seed, t.decode())
    await cl.disconnect()


async def _await_msg(inbox, t):
    import asyncio

    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 1000:
        msg = inbox.take(t)
        if msg is not None:
            return msg
        await asyncio.sleep_ms(20)
    return None


@test
def mqtt_as_both_ways_and_reconnect():
    # Peter Hinch's mqtt_as (a user's copy: $MQTT_AS_DIR on MICROPYPATH), unmodified.
    import asyncio

    from mqtt_as import MQTTClient, config

    asyncio.run(_mqtt_as_main(MQTTClient, config))


async def _mqtt_as_main(MQTTClient, config):
    import asyncio

    inbox = Inbox()
    ups = []

    async def on_connect(client):
        # mqtt_as reconnects with a clean session by default (config["clean"]): the broker
        # forgets the subscription, and connect_coro renews it, as mqtt_as's README says.
        await client.subscribe(b"dev/in/mqtt_as/#", 1)
        ups.append(client)

    config["server"] = "127.0.0.1"
    config["port"] = BROKER
    config["client_id"] = b"mp-mqtt-as"
    config["subs_cb"] = inbox
    config["connect_coro"] = on_connect
    config["ssid"] = "internet"
    config["queue_len"] = 0
    config["keepalive"] = 60
    cl = MQTTClient(config)
    await asyncio.wait_for(cl.connect(), TIMEOUT_S)
    t0 = time.ticks_ms()
    while not ups and time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 1000:
        await asyncio.sleep_ms(50)
    ok(ups, "not subscribed")
    seed = 400
    for qos in (0, 1):
        for n in SIZES:
            seed += 1
            t = topic("mqtt_as", "out", qos, n)
            await asyncio.wait_for(cl.publish(t, pattern(n, seed), qos=qos), TIMEOUT_S)
            await actl("expect", t.decode(), n, seed)
    for qos in (0, 1):
        for n in SIZES:
            seed += 1
            t = topic("mqtt_as", "in", qos, n)
            await actl("pub", t.decode(), n, seed, qos)
            check_payload(await _await_msg(inbox, t), n, seed, t.decode())
    # The broker's connection closes. mqtt_as meets the EOF (read(1) -> b"", as on any
    # MicroPython socket) with an AssertionError, "Empty response" (since 2025; an OSError
    # before), which ends its receive task without a reconnect; its next keep-alive ping then
    # fails (ECONNRESET) and reconnects it: within keepalive / 4 = 15 s.
    before = len(ups)
    ok(await actl("close_broker"), "no broker connection to close")
    t0 = time.ticks_ms()
    while len(ups) == before and time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_S * 2000:
        await asyncio.sleep_ms(50)
    ok(len(ups) > before, "no reconnection")
    for qos in (0, 1):
        seed += 1
        t = b"dev/out/mqtt_as/after-close/q%d" % qos
        await asyncio.wait_for(cl.publish(t, pattern(10240, seed), qos=qos), TIMEOUT_S)
        await actl("expect", t.decode(), 10240, seed)
        seed += 1
        t = b"dev/in/mqtt_as/after-close/q%d" % qos
        await actl("pub", t.decode(), 10240, seed, qos)
        check_payload(await _await_msg(inbox, t), 10240, seed, t.decode())
    await cl.disconnect()


run()
