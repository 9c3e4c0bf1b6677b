"""3GPP basics: identity, signal, SIM errors, registration URCs, radio cycling."""

import pytest
from conftest import make_modem
from quectel import CMEError
from quectel import modem as M


def test_identity_and_signal(modem, vm):
    assert modem.imei().isdigit() and len(modem.imei()) == 15
    assert modem.imsi().isdigit()
    assert modem.iccid().startswith("89")
    assert modem.operator()
    maker, model, rev = modem.identity()
    assert maker == "Quectel" and model and rev
    vm.set_signal(20, 99)
    assert modem.signal() == (-73, None)
    assert modem.status("rssi") == -73
    vm.set_signal(99, 99)
    assert modem.signal() == (None, None)
    vm.set_signal(31, 3)
    assert modem.signal() == (-51, 3)


def test_sim_not_inserted_is_a_clear_error(vm):
    vm.set_sim("absent")
    m = make_modem(vm)
    with pytest.raises(Exception) as e:
        m.connect("internet", restarts=0)
    assert "SIM not inserted" in str(e.value)
    assert m.status() == M.STAT_NO_SIM


def test_pin_locked_sim_fails_at_once_or_unlocks_with_the_pin(vm):
    vm.set_sim("SIM PIN")
    m = make_modem(vm)
    t0 = vm.now_ms()
    with pytest.raises(CMEError, match="SIM locked"):
        m.connect("internet", restarts=0)
    assert vm.now_ms() - t0 < 20000  # not the 20 s SIM wait
    assert m.status() == M.STAT_NO_SIM
    with pytest.raises(ValueError):
        m.connect("internet", sim_pin="12a4")
    log = []
    m.at.trace = lambda d, b: log.append(bytes(b))
    m.connect("internet", sim_pin="1234")
    assert m.isconnected()
    joined = b"".join(log)  # #18.5: the PIN never reaches a trace
    assert b"AT+CPIN=" in joined and b"1234" not in joined


def test_registration_urcs_are_handled(modem, vm):
    seen = []
    modem.on_change = lambda state, reason: seen.append(reason)
    vm.set_registration(cs=2, ps=1)
    modem.wait_for(lambda: modem.registration == 2, 5000, "+CREG URC")
    assert any("CREG 2" in (r or "") for r in seen)
    vm.set_registration(cs=1, ps=1)
    modem.wait_for(lambda: modem.registration == 1, 5000, "+CREG URC")


def test_registration_failure_cycles_the_radio_before_rebooting(vm):
    m = make_modem(vm)
    m.connect("internet")
    vm.set_registration(cs=3, ps=3)  # denied
    vm.pdp_deactivate(1)
    m.wait_for(lambda: not m.isconnected(), 5000, "pdpdeact")
    vm.fault_error("AT+QIACT=", 556, count=1)
    assert not m.check()  # reactivation fails (network lost)
    assert not m.check()  # bring-up: registration denied
    assert m.status() == M.STAT_NOT_REGISTERED
    vm.set_registration(cs=1, ps=1)
    sent = []
    m.at.trace = lambda d, b: sent.append(b) if d == ">" else None
    assert m.check()
    assert b"AT+CFUN=4" in sent and b"AT+CFUN=1" in sent
    assert m.isconnected()
