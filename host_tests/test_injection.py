"""AT command injection: user text never reaches the UART unchecked, secrets never leak.

Every public call that formats user text into an AT command is fed quotes, CR, LF, Ctrl-Z,
ESC, NUL, non-ASCII and over-long values: each is refused with ValueError (OSError where
the socket API demands) and the virtual module receives not one byte.
"""

import socket as pysocket

import pytest
from conftest import make_modem
from quectel import socket as S

BAD = ['a"b', "a\rb", "a\nb", "a\x1ab", "a\x1bb", "a\x00b", "a\x7fb", "a\u00e9b", "x" * 300,
       "AT+QPOWD=1\r", '",1\r\nAT+QPOWD=1\r\n"', b"bytes", None, 42]  # fmt: skip
SECRET = "s3cr3t-pw"


def calls(m, bad):
    """Every public entry point that puts user text into a command."""
    return {
        "connect apn": lambda: m.connect(bad),
        "connect user": lambda: m.connect("apn", bad, SECRET),
        "connect key": lambda: m.connect("apn", "user", bad),
        "ping": lambda: m.ping(bad),
        "ntp": lambda: m.ntp(bad),
        "dns_servers primary": lambda: m.dns_servers(bad),
        "dns_servers secondary": lambda: m.dns_servers("127.0.0.53", bad),
        "resolve": lambda: m.resolve(bad),
        "getaddrinfo": lambda: m.getaddrinfo(bad, 80),
        "Socket.connect": lambda: m.socket().connect((bad, 80)),
        "UDP connect": lambda: m.socket(2, S.SOCK_DGRAM).connect((bad, 80)),
        "sendto": lambda: m.socket(2, S.SOCK_DGRAM).sendto(b"x", (bad, 80)),
        "config": lambda: m.config(bad, 1),
        "config value": lambda: m.config("transpktsize", bad),
        "ntp port": lambda: m.ntp("localhost", bad),
        "connect port": lambda: m.socket().connect(("127.0.0.1", bad)),
        "bind port": lambda: m.socket().bind(("0.0.0.0", bad)),
    }


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_every_entry_point_refuses_before_the_uart(vm, bad):
    m = make_modem(vm)
    m.connect("internet")
    sent = vm.rx_bytes
    for name, call in calls(m, bad).items():
        if name.endswith(("port", "value")) and (bad is None or isinstance(bad, int)):
            continue  # valid there (None queries the setting)
        if name.startswith("dns_servers") and bad is None:
            continue  # None: query, or no secondary server
        with pytest.raises((ValueError, OSError, TypeError)) as e:
            call()
            raise AssertionError("%s accepted %r" % (name, bad))
        assert not isinstance(e.value, TypeError) or name.endswith(("port", "value")), (
            name,
            e.value,
        )
        assert vm.rx_bytes == sent, "%s wrote %d bytes for %r" % (name, vm.rx_bytes - sent, bad)
        assert SECRET not in str(e.value)
    assert m.isconnected()
    m.at.uart.close()


def test_password_is_never_in_errors_or_traces(vm):
    m = make_modem(vm)
    log = []
    m.at.trace = lambda d, b: log.append((d, bytes(b)))
    m.connect("internet", "user", SECRET)
    m.command(b"ATE1", b"")  # even with echo on, the echoed command is not logged
    m.connect("internet", "user", SECRET)
    vm.fault_error("AT+QICSGP", 558, count=1)
    with pytest.raises(Exception) as e:
        m.connect("internet", "user", SECRET, restarts=0)
    assert SECRET not in str(e.value) and SECRET not in repr(e.value)
    with pytest.raises(ValueError) as e:
        m.connect("apn", "user", SECRET + '"')
    assert SECRET not in str(e.value)
    joined = b"".join(b for _, b in log)
    assert SECRET.encode() not in joined, "the password reached the trace"
    assert b"<redacted>" in joined
    m.at.uart.close()


def test_allow_list_closes_unlisted_clients_before_their_data(modem, vm):
    srv = modem.socket()
    srv.settimeout(5)
    srv.bind(("0.0.0.0", 31410))  # below Linux's ephemeral ports: no client holds it
    srv.listen(3)
    srv.allow = ["10.1.2.3"]  # not loopback: every client here is unlisted
    intruder = pysocket.create_connection(("127.0.0.1", 31410), timeout=5)
    intruder.sendall(b"AT+QPOWD=1\r\nsecret payload")
    with pytest.raises(OSError):
        srv.accept()
    intruder.settimeout(5)
    assert intruder.recv(10) == b""  # closed at our request
    intruder.close()
    # Nothing of the intruder's data is held anywhere in the application.
    assert all(s is None or s is srv.c for s in modem.sockets)
    assert not srv.c.queue
    # A listed client gets through with its data intact.
    srv.allow = ["127.0.0.1"]
    friend = pysocket.create_connection(("127.0.0.1", 31410), timeout=5)
    friend.sendall(b"hello\n")
    conn, addr = srv.accept()
    assert addr[0] == "127.0.0.1" and conn.readline() == b"hello\n"
    conn.close()
    friend.close()
    srv.close()
    assert modem.isconnected() and vm.power_state == "on"
