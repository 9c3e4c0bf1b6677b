"""Modem lifecycle against the virtual module: power, bring-up, recovery, utilities, safety."""

import pytest
from conftest import SPEED, make_modem
from quectel import errors
from quectel import modem as M


def test_cold_boot_through_pwrkey_to_an_ip_address():
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED, powered=False) as vm:
        m = make_modem(vm, pins=True)
        assert vm.power_state == "off"
        m.connect("internet", "user", "secret")
        assert m.isconnected() and m.status() == M.STAT_GOT_IP
        assert m.ipconfig("addr4") == (vm.ip, "255.255.255.255")
        assert m.ifconfig()[0] == vm.ip
        assert [s for s, _ in m.test_states][-1] == M.STAT_GOT_IP
        m.active(False)
        assert vm.power_state == "off" and m.status() == M.STAT_OFF and not m.active()


def test_module_off_without_pwrkey_is_a_clear_error():
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED, powered=False) as vm:
        m = make_modem(vm)
        with pytest.raises(errors.ModuleOff):
            m.power_on()
        assert m.status() == M.STAT_NO_RESPONSE


def test_no_sim_reboots_then_fails(vm):
    vm.set_sim("absent")
    m = make_modem(vm)
    with pytest.raises(errors.ATError, match="CPIN"):
        m.connect("internet", restarts=1)
    assert m.status() == M.STAT_NO_SIM
    assert (M.STAT_CONNECTING, "SIM") in m.test_states


def test_registration_timeout_leads_to_reboot_and_recovery(vm):
    vm.set_registration(cs=2, ps=2)
    m = make_modem(vm)
    with pytest.raises(errors.ATError, match="CREG"):
        m.connect("internet", restarts=0)
    assert m.status() == M.STAT_NOT_REGISTERED
    vm.set_registration(cs=5, ps=5)  # roaming counts (flow chart)
    m.connect("internet")
    assert m.isconnected()


def test_pdp_activation_failure(vm):
    vm.fault_error("AT+QIACT=", 556, count=10)
    m = make_modem(vm)
    with pytest.raises(errors.TCPIPError) as e:
        m.connect("internet", restarts=0)
    assert e.value.code == 556
    assert m.status() == M.STAT_PDP_FAILED


def test_pdpdeact_is_recovered_by_check(modem, vm, echo):
    s = modem.socket()
    s.connect(("127.0.0.1", echo.port))
    vm.pdp_deactivate(1)
    modem.wait_for(lambda: not modem.isconnected(), 5000, "pdpdeact")
    with pytest.raises(OSError):
        s.send(b"x")
    s.close()
    assert modem.check()
    assert modem.isconnected() and vm.active_contexts()
    s = modem.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", echo.port))
    s.sendall(b"again")
    assert s.recv(5) == b"again"
    s.close()


def test_reboot_is_recovered_by_check(modem, vm):
    vm.reboot()
    modem.wait_for(lambda: modem.restarted, 20000, "RDY")
    assert not modem.isconnected()
    assert modem.check() and modem.isconnected()


def test_backoff_schedule_of_chapter_1_note_3():
    # After 3 failed restarts: the next at once, then after 10 min, 30 min, 1 h, 1 h, ...
    m = M.Modem.__new__(M.Modem)
    m.policy = M.Policy()
    delays = [m.restart_delay(n) for n in range(1, 9)]
    assert delays == [0, 0, 0, 600000, 1800000, 3600000, 3600000, 3600000]


def test_check_backs_off_after_failed_restarts(vm):
    m = make_modem(vm)
    m.policy.restarts = 1
    m.policy.backoff_ms = (0, 2000)
    m.connect("internet")
    vm.set_sim("absent")
    vm.pdp_deactivate(1)
    m.wait_for(lambda: not m.isconnected(), 5000, "pdpdeact")
    vm.fault_error("AT+QIACT=", 556, count=100)
    assert not m.check()  # reactivation fails
    assert not m.check()  # restart (SIM missing) fails
    assert not m.check()  # third failure: back-off of 2 s starts
    assert m.status() == M.STAT_BACKOFF
    assert not m.check()  # still waiting: nothing sent
    vm.set_sim("READY")
    vm.clear_faults()
    m.wait_for(lambda: m.check(), 60000, "back-off over")
    assert m.isconnected()


def test_ping_ntp_dns(modem, vm):
    replies, summary = modem.ping("localhost", timeout=1, count=3)
    assert len(replies) == 3 and replies[0][0] == "127.0.0.1" and summary[:3] == (3, 3, 0)
    t, zone = modem.ntp("localhost")
    assert t[0] >= 2026 and zone == 0
    vm.set_dns("example.test", ["127.0.0.1", "127.0.0.2"])
    assert modem.resolve("example.test") == ["127.0.0.1", "127.0.0.2"]
    assert modem.getaddrinfo("example.test", 80)[1][-1] == ("127.0.0.2", 80)
    vm.set_dns("example.test", None)
    assert modem.resolve("example.test") == ["127.0.0.1", "127.0.0.2"]  # TTL cache
    with pytest.raises(errors.TCPIPError) as e:
        modem.resolve("nowhere.test")
    assert e.value.code == 565
    assert modem.dns_servers("127.0.0.53", "127.0.0.54") == ("127.0.0.53", "127.0.0.54")
    assert modem.config("transpktsize", 512) == 512 and modem.config("transpktsize") == 512
    with pytest.raises(ValueError):
        modem.config("transwaittm", 21)


BAD = ['a"b', "a\rb", "a\nb", "a\x1ab", "a\x1bb", "a\x00b", "x" * 300]


@pytest.mark.parametrize("bad", BAD)
def test_injection_is_refused_before_the_uart(vm, bad):
    m = make_modem(vm)
    sent = vm.rx_bytes
    calls = [
        lambda: m.connect(bad),
        lambda: m.connect("apn", bad),
        lambda: m.connect("apn", "user", bad),
        lambda: m.ping(bad),
        lambda: m.ntp(bad),
        lambda: m.resolve(bad),
        lambda: m.dns_servers(bad),
        lambda: m.socket().connect((bad, 80)),
        lambda: m.socket(2, 2).sendto(b"x", (bad, 80)),
    ]
    for call in calls:
        with pytest.raises((ValueError, OSError)) as e:
            call()
        assert "secret" not in str(e.value)
    assert vm.rx_bytes == sent


def test_password_never_in_errors(vm):
    m = make_modem(vm)
    with pytest.raises(ValueError) as e:
        m.connect("apn", "user", 'sec"ret')
    assert "sec" not in str(e.value)


def test_numbers_are_range_checked(vm):
    with pytest.raises(ValueError):
        make_modem(vm, context=17)
    m = make_modem(vm)
    with pytest.raises(ValueError):
        m.ping("localhost", count=11)
    with pytest.raises(ValueError):
        m.socket().connect(("127.0.0.1", 70000))


def test_what_runs_once_is_released_after_use(vm):
    """#24.1: power, bring-up, recovery and identity are loaded for their call and released
    after it, so a connected program's steady state holds only the data path; `check()` on a
    healthy connection loads none of them."""
    import sys

    once = ("quectel.power", "quectel.lifecycle", "quectel.diag")
    m = make_modem(vm)
    m.connect("internet")
    assert m.signal()[0] is not None and m.imei()
    assert m.check() is True
    assert [n for n in once if n in sys.modules] == []
    import quectel

    assert not [n for n in ("power", "lifecycle", "diag") if hasattr(quectel, n)]
    vm.pdp_deactivate(m.context)  # trouble: check() loads the recovery, and releases it again
    m.wait_for(lambda: m.pdp_lost, 10000, "pdpdeact")
    assert m.check() is True and m.isconnected()
    assert [n for n in once if n in sys.modules] == []


def test_no_heap_to_load_a_procedure_is_an_oserror(modem, monkeypatch):
    """#24.1: a procedure loaded on demand that finds no heap to load in is an OSError
    (ENOMEM), as every error a network caller sees; the next call loads it."""
    import builtins
    import errno
    import sys

    real = builtins.__import__

    def starved(name, *a, **kw):
        if name == "quectel.diag":
            raise MemoryError
        return real(name, *a, **kw)

    assert "quectel.diag" not in sys.modules
    monkeypatch.setattr(builtins, "__import__", starved)
    with pytest.raises(OSError) as e:
        modem.signal()
    assert e.value.errno == errno.ENOMEM
    monkeypatch.setattr(builtins, "__import__", real)
    assert modem.signal()[0] is not None
