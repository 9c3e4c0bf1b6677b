"""The emulated Pico (tools/rp2040): MicroPython's rp2 firmware on rp2040js, wired to the virtual
module. Needs $RP2040_FIRMWARE, $RP2040_BOOTROM and Node.js; skips without them.

Timing claims here are in the board's simulated time, which the harness derives from executed
instructions and the paced UART, so they hold however loaded the host is.
"""

import threading

import pytest
from emulated_pico import EmulatedPico, skip_reason
from peers import loopback_listener
from virtual_module import VirtualModule

needs_board = pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))

AT_SCRIPT = """
import time
from machine import UART, Pin
status = Pin(5, Pin.IN)
u = UART(0, 115200, tx=Pin(0), rx=Pin(1), rxbuf=2048, timeout=0)
u.write(b"AT\\r\\n")
got = b""
t = time.ticks_ms()
while b"OK" not in got and time.ticks_diff(time.ticks_ms(), t) < 2000:
    got += u.read() or b""
print("STATUS", status.value(), repr(got))
"""


@needs_board
def test_boots_and_runs_a_script_through_mpremote():
    with EmulatedPico() as pico:
        out = pico.mpremote("exec", "import sys; print(sys.implementation._machine, 6 * 7)")
        assert "RP2040" in out and "42" in out


@needs_board
def test_uart0_reaches_the_virtual_module_and_status_pin_follows_it():
    with (
        VirtualModule() as vm,
        EmulatedPico(uart=("127.0.0.1", vm.port), pins=("127.0.0.1", vm.pin_port)) as pico,
    ):
        out = pico.mpremote("exec", AT_SCRIPT)
        assert "STATUS 1" in out  # the module is on
        assert "OK" in out.split("STATUS 1", 1)[1]
        stats = pico.stats()
        assert stats["uart_tx_bytes"] == 4 and stats["uart_overrun"] == 0


PWRKEY_SCRIPT = """
import time
from machine import Pin
pwrkey = Pin(2, Pin.OUT, value=0)
status = Pin(5, Pin.IN)
before = status.value()
pwrkey.value(1)  # the NPN pulls the module's PWRKEY low
time.sleep_ms(700)
pwrkey.value(0)
t = time.ticks_ms()
while not status.value() and time.ticks_diff(time.ticks_ms(), t) < 10000:
    time.sleep_ms(10)
print("STATUS", before, status.value())
"""


@needs_board
def test_pwrkey_through_the_npn_powers_the_module_on():
    # Board time never runs ahead of real time, so the 700 ms hold is >= 700 ms for the module.
    with (
        VirtualModule(powered=False, pwrkey_on_ms=500, boot_ms=500) as vm,
        EmulatedPico(uart=("127.0.0.1", vm.port), pins=("127.0.0.1", vm.pin_port)) as pico,
    ):
        out = pico.mpremote("exec", PWRKEY_SCRIPT)
    assert "STATUS 0 1" in out


SENT = 1000
RXBUF = 256
FIFO = 32

OVERRUN_SCRIPT = """
import time
from machine import UART, Pin
u = UART(0, 115200, tx=Pin(0), rx=Pin(1), rxbuf=%d, timeout=0)
t = time.ticks_us()
u.write(b"x" * 200)
busy = not u.txdone()
u.flush()
print("TX", busy, time.ticks_diff(time.ticks_us(), t))
time.sleep_ms(3000)  # the peer's %d bytes arrive meanwhile; nobody reads them
n = 0
while True:
    r = u.read()
    if not r:
        break
    n += len(r)
print("RX", n)
""" % (RXBUF, SENT)


@needs_board
def test_transmit_is_paced_and_an_unread_fifo_overruns():
    # The far end answers the board's 200 bytes with SENT bytes while the board sleeps: its
    # receive ring and then the 32-byte FIFO fill up, and every later byte is lost.
    srv = loopback_listener(1, 30)
    port = srv.getsockname()[1]

    def peer():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            got = 0
            while got < 200:
                data = c.recv(4096)
                if not data:
                    return
                got += len(data)
            c.sendall(b"y" * SENT)
            try:
                c.recv(1)  # hold the line open until the harness goes
            except OSError:
                pass

    t = threading.Thread(target=peer, daemon=True)
    t.start()
    try:
        with EmulatedPico(uart=("127.0.0.1", port)) as pico:
            out = pico.mpremote("exec", OVERRUN_SCRIPT)
            stats = pico.stats()
    finally:
        srv.close()
    tx = out.split("TX ", 1)[1].split()
    assert tx[0] == "True"  # bytes still on the wire after write() returned
    assert int(tx[1]) >= 200 * 10 * 1_000_000 // 115200  # 200 frames of 10 bits at 115200
    received = int(out.split("RX ", 1)[1].split()[0])
    assert received == RXBUF + FIFO
    assert stats["uart_overrun"] == SENT - received
    assert stats["uart_rx_bytes"] == SENT


def test_skip_reason_names_the_missing_variable(monkeypatch):
    monkeypatch.delenv("RP2040_FIRMWARE", raising=False)
    assert "RP2040_FIRMWARE" in skip_reason()
