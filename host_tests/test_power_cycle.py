"""Issue #22.1: switching the module off between reports, as a battery deployment does.

A power cycle must always work (power_off / active(False), then connect / active(True)),
and a module the program switched off stays off until the program asks for it: check()
does not power it up again. The modem has PWRKEY and STATUS wired (the virtual module's
pins), as on the boards in boards/.
"""

import pytest
from conftest import make_modem
from quectel.modem import STAT_GOT_IP, STAT_IDLE, STAT_OFF
from test_defects import commands, connected, recv_exactly, traced


@pytest.fixture
def pinned(vm):
    from fakes import VMPin

    m = make_modem(vm, pins=True, reset=VMPin(vm, "RESET"))  # wired as in boards/
    yield m
    m.at.uart.close()


def _round_trip(m, port, payload):
    s = connected(m, port)
    s.sendall(payload)
    assert recv_exactly(s, len(payload)) == payload
    s.close()


@pytest.mark.parametrize("off", ["power_off", "active"])
def test_power_cycle_loop(pinned, echo, off):
    """#22.1: connect, send, switch off, five times over: every cycle connects and moves
    data at the first try (restarts=0: no reboot hides a failure), the state is OFF after
    each switch-off."""
    m = pinned
    for i in range(5):
        m.connect("internet", restarts=0)
        assert m.state == STAT_GOT_IP
        _round_trip(m, echo.port, b"cycle %d " % i * 50)
        if off == "power_off":
            m.power_off()
        else:
            m.active(False)
        assert m.state == STAT_OFF
        assert not m.active()


def test_active_true_after_power_off(pinned, vm):
    """#22.1: active(False) then active(True) powers the module up and it answers."""
    m = pinned
    m.connect("internet")
    m.active(False)
    assert vm.power_state == "off"
    m.active(True)
    assert m.state == STAT_IDLE
    assert vm.power_state == "on"
    assert m.signal()[0] is not None


def test_check_leaves_a_switched_off_module_off(pinned, vm):
    """#22.1: after power_off() (or active(False)) check() neither powers the module up nor
    writes a byte, however often it is called; connect() brings it back."""
    m = pinned
    m.connect("internet")
    m.power_off()
    log = traced(m)
    for _ in range(3):
        assert m.check() is False
        m.at.wait(None, 2000)
    assert commands(log) == []
    assert vm.power_state == "off"
    assert m.state == STAT_OFF
    m.connect("internet")
    assert m.isconnected()


def test_module_powered_down_on_its_own_is_recovered(pinned, vm, echo):
    """#22.1: a POWERED DOWN the program did not ask for (undervoltage, say) is a fault:
    check() powers the module up and reconnects."""
    m = pinned
    m.connect("internet")
    m.command(b"AT+QPOWD=1", b"")
    m.wait_for(lambda: vm.power_state == "off", 20000, "power down")
    m.at.wait(None, 500)
    for _ in range(5):
        if m.check():
            break
        m.at.wait(None, 1000)
    assert m.isconnected()
    _round_trip(m, echo.port, b"back again")


@pytest.mark.parametrize("reset_wired", [True, False])
def test_board_reset_mid_send_and_stale_connections(vm, echo, sink, reset_wired):
    """After a board reset (a new Modem on the same module), with the module left inside a
    send's data prompt and every connect ID taken by the old program: the new program
    connects without the 60 s ATE0 timeout and opens sockets. With a RESET pin the module
    is rebooted before a byte is written, so the stale connection's peer gets nothing of
    ours; without one the prompt is filled (probes and ESC reach that peer) and the stale
    connect IDs are closed as new sockets need them."""
    from fakes import VMPin

    old = make_modem(vm, pins=True)
    old.connect("internet")
    prompt = connected(old, sink.port)
    for _ in range(11):  # every other connect ID left open too
        connected(old, echo.port)
    old.at.write(b"AT+QISEND=%d,1000\r" % prompt.cid)  # the module waits for payload ...
    old.at.write(b"partial")
    old.at.wait(None, 200)
    old.at.uart.close()  # ... when the board resets

    kw = {"reset": VMPin(vm, "RESET")} if reset_wired else {}
    m = make_modem(vm, pins=True, **kw)
    t0 = m.clock.ticks_ms()
    m.connect("internet", restarts=0)
    assert m.clock.ticks_diff(m.clock.ticks_ms(), t0) < 30000  # not the 60 s ATE0 timeout
    for i in range(3):
        _round_trip(m, echo.port, b"fresh %d" % i)
    got = sink.wait_for(1000, 1)
    if reset_wired:
        assert got == b"", got
    m.at.uart.close()
