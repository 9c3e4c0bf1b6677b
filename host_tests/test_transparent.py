"""Transparent access mode (section 1.2): payload-only UART, +++ and DTR exits, NO CARRIER."""

import errno
import socket as pysocket
import threading

import pytest
from conftest import make_modem
from quectel import QuectelError
from quectel import socket as S
from test_defects import no_connections_left, traced, written
from test_sockets import payload

# Clocks twice as fast, not 50 times: the "+++" guard times keep a 100 ms margin (section
# 1.2), which must stay more than a busy machine's scheduling delays in real time.
SPEED = 2


def open_transparent(m, port):
    s = m.socket(mode=S.TRANSPARENT)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    assert m.at.data_mode
    return s


def read_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        k = s.recv(min(1500, n - len(out)))
        assert k, "EOF after %d bytes" % len(out)
        out += k
    return bytes(out)


def test_one_megabyte_binary_echo(modem, echo):
    s = open_transparent(modem, echo.port)
    data = payload(1024 * 1024, seed=3) + b"+++" + b"\r\nNO CARRIER\r\n" + b"tail"
    for off in range(0, len(data), 8192):
        s.sendall(data[off : off + 8192])
        got = read_exactly(s, min(8192, len(data) - off))
        assert got == data[off : off + 8192], off
    assert modem.at.data_mode  # nothing in the payload made the stack leave
    s.leave()
    assert not modem.at.data_mode
    s.close()


def test_commands_are_refused_while_transparent(modem, echo):
    s = open_transparent(modem, echo.port)
    with pytest.raises(QuectelError, match="transparent"):
        modem.command(b"AT")
    s.leave()
    assert modem.command(b"AT", b"") == []
    s.close()


def test_plus_plus_plus_alone_after_silence_is_payload(modem, echo, vm):
    s = open_transparent(modem, echo.port)
    modem.clock.sleep_ms(1200)  # 1 s of silence before ...
    s.sendall(b"+++")  # ... the three characters alone ...
    modem.clock.sleep_ms(1200)  # ... and 1 s after: still not an escape
    assert read_exactly(s, 3) == b"+++"
    assert modem.at.data_mode
    s.sendall(b"after")
    assert read_exactly(s, 5) == b"after"
    s.leave()
    s.close()


def test_leave_by_plus_keeps_data_arriving_meanwhile_then_ato(modem):
    srv = pysocket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    s = open_transparent(modem, srv.getsockname()[1])
    peer, _ = srv.accept()
    peer.sendall(b"before;")
    assert read_exactly(s, 7) == b"before;"
    timer = threading.Timer(0.005, peer.sendall, args=(b"during-the-exit;" * 50,))
    timer.start()
    s.leave()  # +++ with guard times
    timer.join()
    peer.sendall(b"after;")
    want = b"during-the-exit;" * 50 + b"after;"
    assert read_exactly(s, len(want)) == want  # buffer mode now: AT+QIRD
    modem.resume()  # ATO
    assert modem.at.data_mode
    peer.sendall(b"again")
    assert read_exactly(s, 5) == b"again"
    s.sendall(b"up")
    peer.settimeout(5)
    assert peer.recv(10) == b"up"
    s.leave()
    s.set_mode(S.TRANSPARENT)  # AT+QISWTMD=<id>,2
    assert modem.at.data_mode
    s.close()  # leaves, then AT+QICLOSE
    assert not modem.at.data_mode and modem.sockets == [None] * 12
    peer.close()
    srv.close()


def test_no_carrier_mid_transfer_reads_eof_after_the_data(modem, vm):
    srv = pysocket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    s = open_transparent(modem, srv.getsockname()[1])
    peer, _ = srv.accept()
    data = payload(20000, seed=5)
    peer.sendall(data)
    peer.close()
    assert s.read() == data  # then EOF
    assert not modem.at.data_mode
    assert modem.command(b"AT", b"") == []
    s.close()  # AT+QICLOSE, as section 1.2 requires
    assert modem.sockets == [None] * 12
    srv.close()


def test_leave_by_dtr(vm, echo):
    from fakes import VMPin

    m = make_modem(vm, dtr=VMPin(vm, "DTR"))
    m.connect("internet")  # AT&D1 is sent because DTR is wired
    s = open_transparent(m, echo.port)
    s.sendall(b"dtr")
    assert read_exactly(s, 3) == b"dtr"
    t0 = vm.now_ms()
    s.leave()
    assert not m.at.data_mode
    assert vm.now_ms() - t0 < 1000  # no +++ guard times needed
    s.sendall(b"buffered")
    assert read_exactly(s, 8) == b"buffered"
    s.close()


def test_transparent_settings(modem):
    assert modem.config("transwaittm", 0) == 0
    assert modem.config("transpktsize", 1460) == 1460
    assert modem.config("transwaittm") == 0


def test_transparent_close_delivers_data_in_flight(modem, sink, vm):
    """#16.5: close() right after writing 8 KB in transparent mode delivers all of it to the
    peer, sends AT+QICLOSE (no connection left in the VM) and does not time out in leave()."""
    s = open_transparent(modem, sink.port)
    data = bytes(range(256)) * 32  # 8 KB
    log = traced(modem)
    s.write(data)
    s.close()
    assert not modem.at.data_mode
    assert b"AT+QICLOSE=" in written(log)
    assert sink.wait_for(len(data), 5) == data
    assert no_connections_left(vm)
    assert modem.signal()  # the UART is back in command mode


@pytest.mark.parametrize("reset_wired", [False, True])
def test_failed_leave_never_writes_a_command_into_the_data(vm, sink, reset_wired):
    """#22.2: when the module does not leave the mode ('+++' and DTR go unheeded), no AT
    command is ever written into the connection's data: without a RESET pin, leave() and
    close() raise ETIMEDOUT and the UART stays in data mode (close() may be retried); with
    one, the module is reset (ECONNABORTED), the socket is closed and check() reconnects."""
    from fakes import VMPin

    kw = {"reset": VMPin(vm, "RESET"), "pins": True} if reset_wired else {}
    m = make_modem(vm, **kw)
    m.connect("internet")
    s = open_transparent(m, sink.port)
    s.sendall(b"payload")
    vm.fault_deaf_escape()
    with pytest.raises(OSError) as ei:
        s.close()
    if reset_wired:
        assert ei.value.errno == errno.ECONNABORTED, ei.value
        assert not m.at.data_mode and s.cid < 0
        vm.clear_faults()
        for _ in range(5):
            if m.check():
                break
        assert m.isconnected()
    else:
        assert ei.value.errno == errno.ETIMEDOUT, ei.value
        assert m.at.data_mode and s.cid >= 0
        with pytest.raises(OSError):
            s.leave()
        vm.clear_faults()
        s.close()  # heard now: leaves and closes
        assert not m.at.data_mode and s.cid < 0
    data = sink.wait_for(len(b"payload") + 100, 1)
    assert b"AT" not in data, data
    assert data.startswith(b"payload")
    m.at.uart.close()
