"""Sockets over the virtual module with real loopback peers: byte-exact, nothing lost."""

import os
import socket as pysocket
import time

import pytest
from quectel import socket as S

PATTERN = bytes(range(256)) * 4 + b'\r\n+++\x1a\x1bOK\r\nSEND OK\r\n+QIURC: "recv",0\r\n'


def payload(n, seed=1):
    import random

    r = random.Random(seed)
    data = bytearray(r.getrandbits(8) for _ in range(n - len(PATTERN)))
    return bytes(data) + PATTERN


def echo_through(m, port, data, mode=S.BUFFER, chunk=4096):
    s = m.socket(mode=mode)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    got = bytearray()
    buf = bytearray(1500)
    off = 0
    while len(got) < len(data):
        if off < len(data):
            s.sendall(memoryview(data)[off : off + chunk])
            off += chunk
        while len(got) < min(off, len(data)):
            n = s.recv_into(buf)
            assert n, "EOF before all data came back"
            got.extend(memoryview(buf)[:n])
    s.close()
    return bytes(got)


@pytest.mark.parametrize("mode", [S.BUFFER, S.PUSH], ids=["buffer", "push"])
def test_one_megabyte_echo(modem, echo, mode):
    data = payload(1024 * 1024)
    assert echo_through(modem, echo.port, data, mode, chunk=16384) == data


def test_twelve_sockets_interleaved(modem, echo):
    socks = []
    for _ in range(12):
        s = modem.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", echo.port))
        socks.append(s)
    with pytest.raises(OSError):
        modem.socket().connect(("127.0.0.1", echo.port))  # section 2.4: 12 connect IDs
    for rnd in range(3):
        for i, s in enumerate(socks):
            s.sendall(b"%d:%d;" % (i, rnd) * 50)
    for i, s in enumerate(socks):
        want = b"".join(b"%d:%d;" % (i, rnd) * 50 for rnd in range(3))
        got = bytearray()
        while len(got) < len(want):
            got += s.recv(1500)
        assert got == want
    for s in socks:
        s.close()
    assert modem.sockets == [None] * 12


def test_tcp_server_accepts_real_clients(modem, vm):
    srv = modem.socket()
    srv.settimeout(10)
    srv.bind(("0.0.0.0", 0 or 31123))
    srv.listen(2)
    clients = []
    for i in range(3):
        c = pysocket.create_connection(("127.0.0.1", 31123), timeout=5)
        c.sendall(b"hello %d\n" % i)
        clients.append(c)
        conn, addr = srv.accept()
        assert addr[0] == "127.0.0.1"
        assert conn.readline() == b"hello %d\n" % i
        conn.sendall(b"bye %d" % i)
        assert c.recv(100) == b"bye %d" % i
        conn.close()
        c.close()
    srv.close()


def test_server_allow_list_closes_others(modem):
    srv = modem.socket()
    srv.settimeout(5)
    srv.bind(("0.0.0.0", 31124))
    srv.listen(2)
    srv.allow = ["10.9.9.9"]
    c = pysocket.create_connection(("127.0.0.1", 31124), timeout=5)
    c.sendall(b"secret data")
    with pytest.raises(OSError):
        srv.accept()
    c.settimeout(5)
    assert c.recv(10) == b""  # closed by the module at our request
    c.close()
    srv.close()


def test_udp_service_with_several_peers(modem):
    s = modem.socket(2, S.SOCK_DGRAM)
    s.settimeout(5)
    s.bind(("0.0.0.0", 31125))
    peers = [pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM) for _ in range(3)]
    for i, p in enumerate(peers):
        p.bind(("127.0.0.1", 0))
        p.settimeout(5)
        p.sendto(b"ping %d" % i, ("127.0.0.1", 31125))
    seen = {}
    for _ in peers:
        data, addr = s.recvfrom(1500)
        seen[addr[1]] = data
        s.sendto(b"pong " + data, addr)
    for i, p in enumerate(peers):
        assert seen[p.getsockname()[1]] == b"ping %d" % i
        assert p.recv(100) == b"pong ping %d" % i
        p.close()
    s.close()


def test_udp_client(modem):
    peer = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    s = modem.socket(2, S.SOCK_DGRAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", peer.getsockname()[1]))
    s.send(b"\x00\r\n\x1a datagram")
    data, addr = peer.recvfrom(100)
    assert data == b"\x00\r\n\x1a datagram"
    peer.sendto(b"reply", addr)
    assert s.recv(100) == b"reply"
    s.close()
    peer.close()


def test_remote_close_keeps_buffered_data_then_eof(modem):
    srv = pysocket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    s = modem.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", srv.getsockname()[1]))
    c, _ = srv.accept()
    data = os.urandom(5000)
    c.sendall(data)
    c.close()
    got = s.read()  # reads until EOF
    assert got == data
    assert s.recv(10) == b""
    with pytest.raises(OSError):
        s.send(b"x")
    s.close()
    srv.close()


def test_nonblocking_reads_and_writes_after_remote_close(modem, vm, echo):
    """What a non-blocking client (mqtt_as, umqtt's check_msg) sees once the module reports
    the peer closed (+QIURC: "closed"), as on MicroPython's own sockets: None while nothing
    waits, then the end of the stream (b"", 0; not None, not EAGAIN), and writes fail."""
    s = modem.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", echo.port))
    s.setblocking(False)
    assert s.read(1) is None
    assert s.readinto(bytearray(1)) is None
    assert vm.remote_close(s.cid)
    deadline = time.monotonic() + 10
    while not s.ioctl(3, 1):  # POLLIN: the URC has come
        assert time.monotonic() < deadline, "the close was never reported"
        time.sleep(0.01)
    assert s.read(1) == b""
    assert s.ioctl(3, 1 | 16) == 1 | 16  # POLLIN | POLLHUP
    assert s.readinto(bytearray(1)) == 0
    assert s.recv(1) == b""
    with pytest.raises(OSError) as e:
        s.write(b"\xc0\x00")  # PINGREQ
    assert e.value.errno == 104  # ECONNRESET
    s.close()


def test_connect_id_the_module_holds_for_nobody_is_closed_and_taken(modem, echo, vm):
    """AT+QIOPEN answers 562 for a connect ID the module still holds for none of the driver's
    sockets (here opened behind its back; after a board reset, by the program before it):
    the ID is closed and taken, so such IDs are not lost for good."""
    modem.command(b'AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,0' % echo.port, b"-")
    time.sleep(0.2)
    s = modem.socket()
    s.settimeout(10)
    s.connect(("127.0.0.1", echo.port))
    assert s.c.cid == 0
    assert list(vm.connections()) == [0]
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    s.close()


def test_send_fail_storm_loses_and_duplicates_nothing(modem, vm, echo):
    s = modem.socket()
    s.settimeout(20)
    s.connect(("127.0.0.1", echo.port))
    data = payload(30000, seed=7)
    vm.fault_send_fail(15)
    s.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        got += s.recv(1500)
    assert bytes(got) == data and echo.received == len(data)
    s.close()


def test_pdpdeact_mid_transfer_fails_clearly(modem, vm, echo):
    s = modem.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", echo.port))
    s.sendall(b"x" * 3000)
    vm.pdp_deactivate(1)
    with pytest.raises(OSError) as e:
        for _ in range(100):
            s.sendall(b"y" * 1000)
            s.recv(1500)
    assert e.value.errno in (103, 104, 113)  # ECONNABORTED (ECONNRESET, EHOSTUNREACH)
    s.close()
    assert modem.check() and modem.isconnected()


def test_wait_acked_and_timeouts(modem, echo):
    s = modem.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", echo.port))
    s.sendall(b"abc")
    assert s.wait_acked() >= 3
    assert s.recv(3) == b"abc"
    s.settimeout(0.2)
    with pytest.raises(OSError) as e:
        s.recv(10)
    assert e.value.errno == 110  # ETIMEDOUT
    s.setblocking(False)
    with pytest.raises(OSError) as e:
        s.recv(10)
    assert e.value.errno == 11  # EAGAIN
    s.close()


def test_connect_refused_and_unreachable(modem):
    s = modem.socket()
    s.settimeout(5)
    with pytest.raises(OSError):
        s.connect(("127.0.0.1", 1))  # nothing listens there
    with pytest.raises(OSError):
        s.connect(("192.0.2.1", 80))  # only loopback is reachable through the virtual module
    assert modem.sockets == [None] * 12


def test_switching_modes_on_an_open_socket(modem, echo):
    s = modem.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", echo.port))
    s.sendall(b"one")
    assert s.recv(3) == b"one"
    s.set_mode(S.PUSH)
    s.sendall(b"two")
    assert s.recv(3) == b"two"
    s.set_mode(S.BUFFER)
    s.sendall(b"three")
    assert s.read(5) == b"three"
    s.close()


def test_socket_facade(modem, echo):
    import sys

    import quectel.socket as qs

    saved = sys.modules.get("socket")
    try:
        qs.use(modem)
        import socket

        assert socket is qs
        addr = socket.getaddrinfo("localhost", echo.port)[0][-1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(5)
        s.connect(addr)
        s.write(b"GET / HTTP/1.0\r\n\r\n")
        assert s.readline() == b"GET / HTTP/1.0\r\n"
        s.close()
        with pytest.raises(OSError):
            socket.getaddrinfo("nowhere.test", 80)
    finally:
        sys.modules["socket"] = saved


def test_direct_push_overflow_switches_to_buffer_mode_without_loss(modem):
    srv = pysocket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    s = modem.socket(mode=S.PUSH)
    s.settimeout(10)
    s.connect(("127.0.0.1", srv.getsockname()[1]))
    peer, _ = srv.accept()
    data = payload(40000, seed=11)
    peer.sendall(data)  # far more than the socket's push buffer
    modem.at.wait(None, 2000)  # the application is busy: pushes pile up and overflow
    got = bytearray()
    while len(got) < len(data):
        got += s.recv(1500)
    assert bytes(got) == data
    assert s.mode == S.BUFFER
    s.close()
    peer.close()
    srv.close()


def test_ring_unread_puts_bytes_back_in_order():
    """A cancelled asyncio read's bytes go back in front of what the ring holds, spill
    included (they went behind the spill before)."""
    from quectel.conn import Ring

    r = Ring(8)
    r.put(b"cdefghij", 0, 8)  # fills the ring ...
    r.put(b"klm", 0, 3)  # ... and spills
    r.unread(memoryview(b"abX"), 2)
    out = bytearray()
    buf = bytearray(5)
    while True:
        k = r.take(buf, len(buf))
        if not k:
            break
        out.extend(buf[:k])
    assert bytes(out) == b"abcdefghijklm"
