# On-device suite for the virtual board (tools/vboard/machine.py), run under the MicroPython unix
# port by host_tests/test_vboard.py:
#
#   MICROPYPATH=tools/vboard:lib:.:host_tests/device:.frozen \
#   QUECTEL_UART=127.0.0.1:P QUECTEL_PINS=127.0.0.1:Q \
#   VBOARD_BULK=127.0.0.1:R VBOARD_PTY=/dev/pts/N \
#   .venv/bin/micropython host_tests/device/test_vboard.py [test names...]
#
# The host side provides (see host_tests/test_vboard.py):
#   QUECTEL_UART  an echo server (records what it got)
#   QUECTEL_PINS  a fake pin channel: sends "STATUS 0" and "RI 1" on connect, toggles STATUS after
#                 a PWRKEY low pulse of >= 50 ms, pulses RI low when DTR goes to 1
#   VBOARD_BULK   sends 64 KB of PATTERN on connect, then expects 64 KB of PATTERN reversed and
#                 answers b"OK 65536\n"
#   VBOARD_PTY    the slave side of a pty whose master echoes
# QUECTEL_PINS=none runs the no-pins checks (board_pins_presence).

import os
import select
import time

import machine
from machine import UART, Pin
from mptest import eq, ok, raises, run, test

from boards import virtual as board

PATTERN = bytes(range(256)) * 256  # 64 KB, every byte value
PATTERN_REV = bytes(reversed(range(256))) * 256


def drain(u):
    u.init(timeout=50, timeout_char=10)
    while u.read() is not None:
        pass
    u.init(timeout=0, timeout_char=0)


def wait_for(cond, timeout_ms=2000):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
            return False
        machine.idle()
    return True


@test
def uart_basic():
    u = board.uart()
    ok(UART(board.UART_ID) is not u)
    drain(u)
    eq(u.any(), 0)
    eq(u.read(), None)
    eq(u.read(4), None)
    eq(u.readinto(bytearray(8)), None)
    eq(u.readline(), None)
    eq(u.write(b"hello\nworld\n"), 12)
    # any() may say 1 for "some" (as machine.UART may) while bytes are still in the link.
    ok(wait_for(lambda: u.any() > 0), "any() stayed 0")
    eq(u.readline(), b"hello\n")
    eq(u.any(), 6)
    buf = bytearray(10)
    eq(u.readinto(buf, 3), 3)
    eq(bytes(buf[:3]), b"wor")
    eq(u.readinto(buf), 3)
    eq(bytes(buf[:3]), b"ld\n")
    # A second UART object with the same id shares the port (same connection and ring).
    u.write(b"shared")
    u2 = UART(board.UART_ID)
    u2.init(timeout=1000)
    eq(u2.read(6), b"shared")
    # timeout is honoured
    u.init(timeout=200)
    t0 = time.ticks_ms()
    eq(u.read(1), None)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    ok(180 <= dt < 1000, "timeout took %d ms" % dt)
    # readline gathers a line that arrives in pieces within timeout_char
    u.init(timeout=1000, timeout_char=200)
    u.write(b"abc")
    eq(u.read(), b"abc")
    u.write("str ok\n")
    eq(u.readline(), b"str ok\n")
    u.init(timeout=0, timeout_char=0)


@test
def uart_write_forms():
    u = board.uart()
    drain(u)
    u.write(b"<wf>")
    data = b"0123456789"
    eq(u.write(data, 4), 4)  # write(buf, max_len)
    eq(u.write(data, 3, 4), 4)  # write(buf, off, max_len)
    eq(u.write(bytearray(data), 8, 100), 2)  # clipped to the buffer
    eq(u.write(memoryview(data)[1:3]), 2)
    eq(u.write(data, 20, 5), 0)
    eq(u.write(data, 0), 0)
    u.write(b"</wf>")
    u.init(timeout=1000, timeout_char=100)
    want = b"<wf>0123345689" + b"12" + b"</wf>"
    eq(u.read(len(want)), want)
    u.init(timeout=0, timeout_char=0)


@test
def uart_poll():
    u = board.uart()
    drain(u)
    p = select.poll()
    p.register(u, select.POLLIN | select.POLLOUT)
    res = p.poll(0)
    eq(len(res), 1)
    ok(res[0][0] is u)
    eq(res[0][1], select.POLLOUT)  # writable, nothing to read
    p.modify(u, select.POLLIN)
    t0 = time.ticks_ms()
    eq(p.poll(100), [])
    ok(time.ticks_diff(time.ticks_ms(), t0) >= 90, "poll returned early")
    u.write(b"x")
    t0 = time.ticks_ms()
    res = p.poll(2000)
    ok(time.ticks_diff(time.ticks_ms(), t0) < 1000, "poll slow")
    eq(len(res), 1)
    eq(res[0][1] & select.POLLIN, select.POLLIN)
    eq(u.read(1), b"x")
    eq(p.poll(0), [])
    # ipoll too
    u.write(b"y")
    n = 0
    for obj, _ev in p.ipoll(2000):
        ok(obj is u)
        n += 1
    eq(n, 1)
    eq(u.read(), b"y")
    p.unregister(u)


@test
def uart_asyncio():
    import asyncio

    u = board.uart()
    drain(u)

    async def main():
        r = asyncio.StreamReader(u)
        w = asyncio.StreamWriter(u, {})
        w.write(b"ping\n")
        await w.drain()
        line = await asyncio.wait_for(r.readline(), 2)
        eq(line, b"ping\n")
        w.write(PATTERN[:1800])  # the echo of a longer write would overrun the ring meanwhile
        await w.drain()
        got = b""
        while len(got) < 1800:
            got += await asyncio.wait_for(r.read(1800 - len(got)), 2)
        eq(got, PATTERN[:1800])

    asyncio.run(main())


@test
def uart_bulk_echo():
    u = board.uart()
    drain(u)
    u.init(timeout=2000, timeout_char=500)
    # Chunks of varying size (up to what the 2048-byte ring takes while the write holds the
    # program) so the ring wraps everywhere.
    dropped = u.dropped
    back = bytearray(len(PATTERN))
    mv = memoryview(back)
    pos = 0
    k = 1
    while pos < len(PATTERN):
        n = min(k % 1800 + 1, len(PATTERN) - pos)
        eq(u.write(PATTERN, pos, n), n)
        got = 0
        while got < n:
            r = u.readinto(mv[pos + got :], n - got)
            ok(r, "echo stalled at %d" % (pos + got))
            got += r
        pos += n
        k = k * 3 % 4099 + 1
    ok(back == PATTERN, "echo differs")
    eq(u.dropped, dropped)
    # One 64 KB write while the echo comes back: without flow control what the ring cannot
    # hold while the program is held in the write is lost, and counted; nothing else is.
    eq(u.write(PATTERN), len(PATTERN))
    u.init(timeout=500, timeout_char=200)
    got = 0
    while True:
        r = u.readinto(mv[got:])
        if not r:
            break
        got += r
    lost = u.dropped - dropped
    ok(lost > 0, "a 64 KB write while the echo came back lost nothing")
    eq(got + lost, len(PATTERN))
    u.init(timeout=0, timeout_char=0)


@test
def uart_line_time_and_flow_control():
    u = board.uart()
    drain(u)
    u.write(PATTERN[:1000])
    ok(not u.txdone(), "txdone() while 1000 bytes are on the wire")
    u.flush()
    ok(u.txdone(), "txdone() after flush()")
    drain(u)
    # With RTS wired the program's full ring holds the peer back: nothing is lost.
    u.init(flow=UART.RTS, timeout=500, timeout_char=200)
    dropped = u.dropped
    eq(u.write(PATTERN), len(PATTERN))
    back = bytearray(len(PATTERN))
    mv = memoryview(back)
    got = 0
    while got < len(back):
        r = u.readinto(mv[got:])
        ok(r, "echo stalled at %d" % got)
        got += r
    ok(back == PATTERN, "echo with flow control differs")
    eq(u.dropped, dropped)
    u.init(flow=0, timeout=0, timeout_char=0)


@test
def uart_bulk_both_ways():
    u = UART(7, 115200, target=os.getenv("VBOARD_BULK"), rxbuf=1024, timeout=3000)
    got = bytearray(len(PATTERN))
    mv = memoryview(got)
    n = 0
    while n < len(got):
        r = u.readinto(mv[n:], 777)  # odd pieces: takes straddle the ring's end
        ok(r, "host->device stalled at %d" % n)
        n += r
    ok(got == PATTERN, "host->device data differs")
    eq(u.write(PATTERN_REV), len(PATTERN_REV))
    eq(u.readline(), b"OK 65536\n")
    u.deinit()


@test
def pins_outputs():
    pk = board.pwrkey()  # PWRKEY 1 (released) at creation
    eq(pk.value(), 1)
    pk.value(0)
    pk(1)
    eq(pk(), 1)
    rst = board.reset()  # RESET 1
    rst.off()
    rst.on()
    rst.on()  # no change: nothing sent
    d = board.dtr()  # DTR 0 (asserted)
    eq(d.value(), 0)


@test
def pins_status():
    st = board.status()
    ri = board.ri()
    eq(st.value(), 0)
    eq(ri.value(), 1)
    rises = []
    falls = []
    st.irq(lambda p: rises.append(p), Pin.IRQ_RISING)
    ri.irq(lambda p: falls.append(p), trigger=Pin.IRQ_FALLING)
    pk = board.pwrkey()
    pk(board.PWRKEY_ACTIVE)
    time.sleep_ms(100)
    pk(1 - board.PWRKEY_ACTIVE)
    ok(wait_for(lambda: st.value() == board.STATUS_ACTIVE), "STATUS never went active")
    ok(wait_for(lambda: len(rises) == 1), "no STATUS irq")
    ok(rises[0] is st)
    d = board.dtr()
    d.value(1 - board.DTR_ACTIVE)  # the fake module pulses RI
    ok(wait_for(lambda: len(falls) == 1), "no RI irq")
    ok(wait_for(lambda: ri.value() == 1), "RI stuck low")
    eq(len(rises), 1)
    d.value(board.DTR_ACTIVE)
    st.irq(None)
    ri.irq(None)


@test
def pins_memory():
    a = Pin(25, Pin.OUT, value=1)
    eq(Pin(25).value(), 1)
    seen = []
    b = Pin(25, Pin.IN)
    b.irq(lambda p: seen.append(p.value()), Pin.IRQ_FALLING | Pin.IRQ_RISING)
    a.off()
    a.on()
    a.toggle()
    machine.idle()
    eq(seen, [0, 0, 0])  # handlers run later, reading the level then
    eq(b.irq().flags() & Pin.IRQ_FALLING, Pin.IRQ_FALLING)
    eq(Pin(26, Pin.IN, Pin.PULL_UP).value(), 1)
    s = machine.Signal(Pin(27, Pin.OUT), invert=True)
    s.on()
    eq(Pin(27).value(), 0)


@test
def board_pins_presence():
    if machine.pins_available():
        for f in (board.pwrkey, board.reset, board.dtr, board.status, board.ri):
            ok(f() is not None, f.__name__)
    else:
        for f in (board.pwrkey, board.reset, board.dtr, board.status, board.ri):
            eq(f(), None, f.__name__)
        raises(ValueError, Pin, "PWRKEY", Pin.OUT)
        raises(ValueError, Pin, "STATUS", Pin.IN)


@test
def board_files():
    import boards.esp32_generic as e
    import boards.rpi_pico as r

    for b in (e, r, board):
        ok(isinstance(b.NAME, str) and b.NAME)
        ok(isinstance(b.MICROPYTHON, str) and b.MICROPYTHON.startswith("1."))
        for name in ("PWRKEY_ACTIVE", "RESET_ACTIVE", "DTR_ACTIVE", "STATUS_ACTIVE"):
            ok(getattr(b, name) in (0, 1), b.NAME + " " + name)
        for f in ("uart", "pwrkey", "reset", "dtr", "status", "ri"):
            ok(callable(getattr(b, f)), b.NAME + " " + f)
    eq((e.PWRKEY_ACTIVE, r.PWRKEY_ACTIVE, board.PWRKEY_ACTIVE), (1, 1, 0))
    # On the virtual machine the ESP32 file's numeric pins are in-memory pins, idle inactive.
    eq(e.pwrkey().value(), 0)
    eq(r.reset().value(), 0)


@test
def pty_serial():
    path = os.getenv("VBOARD_PTY")
    ok(path, "VBOARD_PTY not set")
    u = UART(3, 115200, target=path, rxbuf=512, timeout=2000, timeout_char=500)
    eq(u.any(), 0)
    eq(u.write(b"AT\r\n"), 4)
    eq(u.readline(), b"AT\r\n")
    p = select.poll()
    p.register(u, select.POLLIN)
    u.write(b"z")
    eq(len(p.poll(2000)), 1)
    eq(u.read(1), b"z")
    data = PATTERN[:16384]
    back = bytearray(len(data))
    mv = memoryview(back)
    pos = 0
    while pos < len(data):
        n = min(256, len(data) - pos)  # its echo fits the 512-byte ring
        eq(u.write(data, pos, n), n)
        got = 0
        while got < n:
            r = u.readinto(mv[pos + got :], n - got)
            ok(r, "pty echo stalled at %d" % (pos + got))
            got += r
        pos += n
    ok(back == data, "pty echo differs")
    u.deinit()


@test
def misc():
    rtc = machine.RTC()
    rtc.datetime((2024, 2, 29, 0, 23, 59, 58, 0))
    d = rtc.datetime()
    eq(d[:6], (2024, 2, 29, 3, 23, 59))  # weekday computed: Thursday
    time.sleep_ms(2100)
    d = machine.RTC().datetime()  # one clock for all RTC objects
    eq(d[:3], (2024, 3, 1))
    w = machine.WDT(timeout=1000)
    w.feed()
    eq(w.feeds, 1)
    ok(isinstance(machine.unique_id(), bytes))
    machine.freq(160000000)
    eq(machine.freq(), 160000000)
    t0 = time.ticks_ms()
    machine.lightsleep(30)
    ok(time.ticks_diff(time.ticks_ms(), t0) >= 25)
    raises(SystemExit, machine.reset)
    raises(SystemExit, machine.soft_reset)
    from machine import PWRON_RESET, reset_cause  # defined on first use (machine.__getattr__)

    eq(reset_cause(), PWRON_RESET)
    ok(not hasattr(machine, "no_such_name"))


run()
