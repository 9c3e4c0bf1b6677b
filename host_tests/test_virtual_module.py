"""Conformance and fault tests for the virtual Quectel module (tools/virtual_module.py),
end to end over its UART and pin channels (host side in vmkit.py; its parts alone in
test_vmodule_parts.py).

Everything runs on loopback; the module clock runs SPEED times faster than real time.
"""

import os
import re
import select
import socket
import subprocess
import sys
import time

import pytest
from virtual_module import VirtualModule
from vmkit import (
    SPEED,
    Pins,
    Uart,
    activate,
    free_port,
    listener,
    open_tcp,
    real,
    recv_exact,
    tcp_pair,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def vm():
    with VirtualModule(speed=SPEED, seed=1) as m:
        yield m


@pytest.fixture
def u(vm):
    c = Uart(vm.port)
    c.x("ATE0", b"ATE0\r\r\nOK\r\n")
    yield c
    c.close()


# --------------------------------------------------------------------------- basic AT


def test_at_echo_and_final_results():
    with VirtualModule(speed=SPEED) as vm:
        u = Uart(vm.port)
        u.x("AT", b"AT\r\r\nOK\r\n")  # echo is on after power-up
        u.x("at", b"at\r\r\nOK\r\n")
        u.x("AT+NOSUCH", b"AT+NOSUCH\r\r\nERROR\r\n")
        u.send("AT\r\n")
        u.expect(b"AT\r\n\r\nOK\r\n")
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        u.x("AT", b"\r\nOK\r\n")
        # several commands in one write: answered in order
        u.send("AT\rATI\rAT+CSQ\r")
        u.expect(
            b"\r\nOK\r\n"
            b"\r\nQuectel\r\nUC20\r\nRevision: UC20GQBR03A12E1G\r\n\r\nOK\r\n"
            b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
        )
        u.x("ATE1", b"\r\nOK\r\n")
        u.x("AT", b"AT\r\r\nOK\r\n")
        u.quiet()
        assert vm.rx_bytes > 0 and vm.tx_bytes > 0
        vm.reset_counters()
        assert (vm.rx_bytes, vm.tx_bytes) == (0, 0)
        u.x("AT", b"AT\r\r\nOK\r\n")
        time.sleep(0.02)
        assert (vm.rx_bytes, vm.tx_bytes) == (3, 9)
        u.close()


def test_registration_runtime_and_urc(u, vm):
    vm.set_registration(cs=2, ps=0)
    u.x("AT+CREG?", b"\r\n+CREG: 0,2\r\n\r\nOK\r\n")
    u.x("AT+CGREG?", b"\r\n+CGREG: 0,0\r\n\r\nOK\r\n")
    u.x("AT+CGATT?", b"\r\n+CGATT: 0\r\n\r\nOK\r\n")
    # no PS registration: activation fails
    u.x("AT+QIACT=1", b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 556, active PDP failed\r\n\r\nOK\r\n")
    u.x("AT+CREG=1", b"\r\nOK\r\n")
    u.x("AT+CGREG=2", b"\r\nOK\r\n")
    vm.set_registration(cs=5, ps=1)
    u.expect(b"\r\n+CREG: 5\r\n")
    u.expect(b'\r\n+CGREG: 1,"D509","80D413D",2\r\n')
    u.x("AT+CREG?", b"\r\n+CREG: 1,5\r\n\r\nOK\r\n")
    for st in (3, 0):
        vm.set_registration(cs=st)
        u.expect(b"\r\n+CREG: %d\r\n" % st)


# --------------------------------------------------------------------------- chapter 4 vectors


def test_4_1_configure_activate_deactivate():
    with VirtualModule(speed=SPEED) as vm:
        u = Uart(vm.port)  # echo on, as in the manual's transcript
        u.x("AT+QICSGP=1", b'AT+QICSGP=1\r\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n')
        u.x('AT+QICSGP=1,1,"UNINET","","",1', b'AT+QICSGP=1,1,"UNINET","","",1\r\r\nOK\r\n')
        u.x("AT+QICSGP=1", b'AT+QICSGP=1\r\r\n+QICSGP: 1,"UNINET","","",1\r\n\r\nOK\r\n')
        t0 = time.monotonic()
        u.x("AT+QIACT=1", b"AT+QIACT=1\r\r\nOK\r\n")
        assert time.monotonic() - t0 >= real(500) * 0.8  # qiact_ms of module time
        u.x("AT+QIACT?", b'AT+QIACT?\r\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')
        u.x("AT+QIDEACT=1", b"AT+QIDEACT=1\r\r\nOK\r\n")
        u.x("AT+QIACT?", b"AT+QIACT?\r\r\nOK\r\n")
        u.x("AT+QICSGP=?", b"AT+QICSGP=?\r\r\n+QICSGP: (1-16),1-IPV4,APN,USER NAME,PASSWORD,(0-3)"
            b"\r\n\r\nOK\r\n")  # fmt: skip
        u.x("AT+QICSGP=17", b"AT+QICSGP=17\r\r\nERROR\r\n")
        u.x(
            "AT+QIGETERROR",
            b"AT+QIGETERROR\r\r\n+QIGETERROR: 558, invalid parameters\r\n\r\nOK\r\n",
        )
        u.close()


def test_three_active_contexts_max(u):
    for ctx in (1, 2, 16):
        activate(u, ctx)
    u.x(
        "AT+QIACT?",
        b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n+QIACT: 2,1,1,"10.7.157.2"\r\n'
        b'+QIACT: 16,1,1,"10.7.157.16"\r\n\r\nOK\r\n',
    )
    u.x("AT+QIACT=3", b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 556, active PDP failed\r\n\r\nOK\r\n")
    u.x("AT+QIACT=2", b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 563, PDP has already been activated\r\n\r\nOK\r\n")
    u.x("AT+QIACT=17", b"\r\nERROR\r\n")
    u.x("AT+QIDEACT=2", b"\r\nOK\r\n")
    activate(u, 3)
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 0, operation successfully\r\n\r\nOK\r\n")


def test_4_2_tcp_client_buffer_mode(u):
    activate(u)
    srv, port = listener()
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,0' % port, b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 0,0\r\n")
    peer, _ = srv.accept()
    u.x("AT+QISTATE=1,0", b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,2,1,0,0,"uart"\r\n\r\nOK\r\n'
        % port)  # fmt: skip
    u.x("AT+QISEND=0", b"\r\n> ")
    u.send(b"test1\x1a")
    u.expect(b"\r\nSEND OK\r\n")
    u.x("AT+QISEND=0,4", b"\r\n> ")
    u.send(b"test")
    u.expect(b"\r\nSEND OK\r\n")
    assert recv_exact(peer, 9) == b"test1test"
    u.x("AT+QISEND=0,0", b"\r\n+QISEND: 9,9,0\r\n\r\nOK\r\n")
    peer.sendall(b"test1")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 5\r\ntest1\r\n\r\nOK\r\n")
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 0\r\n\r\nOK\r\n")
    u.x("AT+QIRD=0,0", b"\r\n+QIRD: 5,5,0\r\n\r\nOK\r\n")
    u.x("AT+QICLOSE=0", b"\r\nOK\r\n")
    peer.settimeout(2)
    assert peer.recv(10) == b""  # the real socket was closed
    u.x("AT+QISTATE=1,0", b"\r\nOK\r\n")
    u.x("AT+QIRD=0,0", b"\r\nERROR\r\n")
    u.quiet()
    peer.close()
    srv.close()


def test_recv_urc_only_when_buffer_was_empty(u):
    activate(u)
    peer, _ = tcp_pair(u)
    peer.sendall(b"abcdef")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    u.x("AT+QIRD=0,2", b"\r\n+QIRD: 2\r\nab\r\n\r\nOK\r\n")
    peer.sendall(b"gh")
    u.quiet(0.1)  # buffer not empty: no new URC
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 6\r\ncdefgh\r\n\r\nOK\r\n")
    peer.sendall(b"ij")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    u.x("AT+QIRD=0,0", b"\r\n+QIRD: 10,8,2\r\n\r\nOK\r\n")
    # peer closes: data first, then closed; data stays readable, state closing
    peer.close()
    u.expect(b'\r\n+QIURC: "closed",0\r\n')
    u.x("AT+QISTATE=1,0", b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,4,1,0,0,"uart"\r\n\r\nOK\r\n'
        % vm_conn_port(u, 0))  # fmt: skip
    u.x("AT+QIRD=0,100", b"\r\n+QIRD: 2\r\nij\r\n\r\nOK\r\n")
    u.x("AT+QISEND=0,1", b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 555, connection has been closed\r\n\r\nOK\r\n")
    u.x("AT+QICLOSE=0", b"\r\nOK\r\n")


def vm_conn_port(u, cid):
    r = u.cmd("AT+QISTATE=1,%d" % cid)
    return int(r.split(b",")[3])


def test_4_3_tcp_client_transparent_mode(u):
    activate(u)
    srv, port = listener()
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,2' % port, b"\r\nCONNECT\r\n")
    peer, _ = srv.accept()
    u.send(b"hello network")
    assert recv_exact(peer, 13) == b"hello network"
    peer.sendall(b"Test 1")
    u.expect(b"Test 1")
    time.sleep(real(1100))
    u.send(b"+++")
    u.expect(b"\r\nOK\r\n", timeout=2)
    u.x("AT+QISTATE=1,0", b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,2,1,0,0,"uart"\r\n\r\nOK\r\n'
        % port)  # fmt: skip
    u.x("AT+QICLOSE=0", b"\r\nOK\r\n")
    peer.close()
    srv.close()


def test_plus_guard_times(u, vm):
    activate(u)
    u.x('AT+QICFG="transwaittm",0', b"\r\nOK\r\n")
    srv, port = listener()
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,2' % port, b"\r\nCONNECT\r\n")
    peer, _ = srv.accept()
    # no silence before: payload
    u.send(b"a+++")
    assert recv_exact(peer, 4) == b"a+++"
    # silence before, but a byte right after the +++: payload
    time.sleep(real(1200))
    u.send(b"+++")
    time.sleep(real(300))
    u.send(b"b")
    assert recv_exact(peer, 4) == b"+++b"
    # silence before, only two '+' within the second: payload
    time.sleep(real(1200))
    u.send(b"++")
    assert recv_exact(peer, 2, timeout=2) == b"++"
    # the '+' too slow: payload
    time.sleep(real(1200))
    u.send(b"+")
    time.sleep(real(600))
    u.send(b"+")
    time.sleep(real(600))
    u.send(b"+")
    assert recv_exact(peer, 3, timeout=2) == b"+++"
    u.quiet(real(1300))
    # a proper escape; data arriving during the guard time is kept
    time.sleep(real(1200))
    u.send(b"+++")
    time.sleep(real(300))
    peer.sendall(b"kept")
    u.expect(b"\r\nOK\r\n", timeout=2)
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 4\r\nkept\r\n\r\nOK\r\n")
    peer.sendall(b"later")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    # ATO goes back to transparent mode and flushes the buffer
    u.x("ATO", b"\r\nCONNECT\r\nlater")
    u.send(b"again")
    assert recv_exact(peer, 5) == b"again"
    # remote close -> NO CARRIER, state closing, ATO -> NO CARRIER
    peer.close()
    u.expect(b"\r\nNO CARRIER\r\n")
    u.x("AT+QISTATE=1,0", b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,4,1,0,2,"uart"\r\n\r\nOK\r\n'
        % port)  # fmt: skip
    u.x("ATO", b"\r\nNO CARRIER\r\n")
    u.x("AT+QICLOSE=0", b"\r\nOK\r\n")
    srv.close()


def test_ato_without_previous_transparent_connection(u):
    u.x("ATO", b"\r\nNO CARRIER\r\n")


def test_transparent_packet_size_and_wait_time(u):
    activate(u)
    u.x("AT+QICFG=?", b'\r\n+QICFG: "transpktsize",(1-1460)\r\n+QICFG: "transwaittm",(0-20)'
        b"\r\n\r\nOK\r\n")  # fmt: skip
    u.x('AT+QICFG="transpktsize"', b'\r\n+QICFG: "transpktsize",1024\r\n\r\nOK\r\n')
    u.x('AT+QICFG="transwaittm"', b'\r\n+QICFG: "transwaittm",2\r\n\r\nOK\r\n')
    u.x('AT+QICFG="transpktsize",10', b"\r\nOK\r\n")
    u.x('AT+QICFG="transwaittm",20', b"\r\nOK\r\n")  # 2 s module time
    u.x('AT+QICFG="transpktsize",1461', b"\r\nERROR\r\n")
    u.x('AT+QICFG="transwaittm",21', b"\r\nERROR\r\n")
    u.x('AT+QICFG="transpktsize"', b'\r\n+QICFG: "transpktsize",10\r\n\r\nOK\r\n')
    peer, _ = tcp_pair(u, mode=0)
    u.x("AT+QISWTMD=0,2", b"\r\nCONNECT\r\n")
    t0 = time.monotonic()
    u.send(b"x" * 25)
    assert recv_exact(peer, 20) == b"x" * 20  # two full packets at once
    assert time.monotonic() - t0 < real(1500)
    assert recv_exact(peer, 5, timeout=2) == b"xxxxx"  # the rest after the wait time
    assert time.monotonic() - t0 >= real(2000) * 0.8
    peer.close()
    u.expect(b"\r\nNO CARRIER\r\n")


def test_4_4_tcp_client_direct_push(u):
    activate(u)
    srv, port = listener()
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,1' % port, b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 0,0\r\n")
    peer, _ = srv.accept()
    u.x("AT+QISTATE=1,0", b'\r\n+QISTATE: 0,"TCP","127.0.0.1",%d,0,2,1,0,1,"uart"\r\n\r\nOK\r\n'
        % port)  # fmt: skip
    u.x("AT+QISEND=0", b"\r\n> ")
    u.send(b"test1\x1a")
    u.expect(b"\r\nSEND OK\r\n")
    u.x("AT+QISEND=0,5", b"\r\n> ")
    u.send(b"test2")
    u.expect(b"\r\nSEND OK\r\n")
    u.x("AT+QISEND=0,0", b"\r\n+QISEND: 10,10,0\r\n\r\nOK\r\n")
    assert recv_exact(peer, 10) == b"test1test2"
    peer.sendall(b"test")
    u.expect(b'\r\n+QIURC: "recv",0,4\r\ntest\r\n')
    # a big block is pushed in pieces of at most 1500 bytes
    blob = bytes(range(256)) * 16
    peer.sendall(blob)
    got = b""
    while len(got) < len(blob):
        head = u.read_until(rb'\r\n\+QIURC: "recv",0,(\d+)\r\n')
        n = int(re.search(rb",(\d+)\r\n$", head).group(1))
        assert 0 < n <= 1500
        got += u.read_exact(n)
        u.expect(b"\r\n")
    assert got == blob
    u.x("AT+QICLOSE=0", b"\r\nOK\r\n")
    peer.close()
    srv.close()


def test_4_5_tcp_server_buffer_mode(u):
    activate(u)
    u.x('AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,0,0', b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 1,0\r\n")
    r = u.cmd("AT+QISTATE=0,1")
    m = re.fullmatch(rb'\r\n\+QISTATE: 1,"TCP LISTENER","10.7.157.1",0,(\d+),3,1,0,0,"uart"'
                     rb"\r\n\r\nOK\r\n", r)  # fmt: skip
    assert m, r
    lport = int(m.group(1))
    client = socket.create_connection(("127.0.0.1", lport), timeout=5)
    cport = client.getsockname()[1]
    u.expect(b'\r\n+QIURC: "incoming",11,1,"127.0.0.1",%d\r\n' % cport)
    client.sendall(b"test")
    u.expect(b'\r\n+QIURC: "recv",11\r\n')
    u.x("AT+QIRD=11,1500", b"\r\n+QIRD: 4\r\ntest\r\n\r\nOK\r\n")
    u.x("AT+QIRD=11,1500", b"\r\n+QIRD: 0\r\n\r\nOK\r\n")
    u.x("AT+QIRD=11,0", b"\r\n+QIRD: 4,4,0\r\n\r\nOK\r\n")
    u.x("AT+QISTATE=1,11", b'\r\n+QISTATE: 11,"TCP INCOMING","127.0.0.1",%d,%d,2,1,1,0,"uart"'
        b"\r\n\r\nOK\r\n" % (cport, lport))  # fmt: skip
    u.x("AT+QISEND=11,3", b"\r\n> ")
    u.send(b"ack")
    u.expect(b"\r\nSEND OK\r\n")
    assert recv_exact(client, 3) == b"ack"
    u.x("AT+QICLOSE=11", b"\r\nOK\r\n")
    u.x("AT+QICLOSE=1", b"\r\nOK\r\n")
    assert client.recv(10) == b""
    client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", lport), timeout=1)


def test_incoming_full(u):
    activate(u)
    u.x('AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,0,1', b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 0,0\r\n")
    lport = vm_conn_port(u, 0) or int(u.cmd("AT+QISTATE=1,0").split(b",")[4])
    lport = int(u.cmd("AT+QISTATE=1,0").split(b",")[4])
    clients = []
    for cid in range(11, 0, -1):
        c = socket.create_connection(("127.0.0.1", lport), timeout=5)
        clients.append(c)
        u.expect(b'\r\n+QIURC: "incoming",%d,0,"127.0.0.1",%d\r\n' % (cid, c.getsockname()[1]))
    extra = socket.create_connection(("127.0.0.1", lport), timeout=5)
    u.expect(b'\r\n+QIURC: "incoming full"\r\n')
    assert extra.recv(10) == b""
    # incoming connections inherit the listener's access mode (direct push)
    clients[0].sendall(b"hi")
    u.expect(b'\r\n+QIURC: "recv",11,2\r\nhi\r\n')
    for c in clients + [extra]:
        c.close()


def test_4_6_udp_service(u):
    activate(u)
    u.x('AT+QIOPEN=1,2,"UDP SERVICE","127.0.0.1",0,0,0', b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 2,0\r\n")
    r = u.cmd("AT+QISTATE=0,1")
    m = re.fullmatch(rb'\r\n\+QISTATE: 2,"UDP SERVICE","10.7.157.1",0,(\d+),2,1,0,0,"uart"'
                     rb"\r\n\r\nOK\r\n", r)  # fmt: skip
    assert m, r
    lport = int(m.group(1))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    pport = peer.getsockname()[1]
    u.x('AT+QISEND=2,10,"127.0.0.1",%d' % pport, b"\r\n> ")
    u.send(b"1234567890")
    u.expect(b"\r\nSEND OK\r\n")
    data, addr = peer.recvfrom(100)
    assert data == b"1234567890" and addr == ("127.0.0.1", lport)
    peer.sendto(b"AAAA", ("127.0.0.1", lport))
    peer.sendto(b"BB", ("127.0.0.1", lport))
    u.expect(b'\r\n+QIURC: "recv",2\r\n')
    u.x("AT+QIRD=2", b'\r\n+QIRD: 4,"127.0.0.1",%d\r\nAAAA\r\n\r\nOK\r\n' % pport)
    # BB came before AAAA was read (no URC), or just after the read emptied the buffer (a
    # URC of its own, as the module announces data reaching an empty buffer): both are right.
    u.send("AT+QIRD=2\r")
    got = u.read_until(rb"\r\nOK\r\n")
    urc = b'\r\n+QIURC: "recv",2\r\n'
    assert got.replace(urc, b"", 1) == b'\r\n+QIRD: 2,"127.0.0.1",%d\r\nBB\r\n\r\nOK\r\n' % pport
    u.x("AT+QIRD=2", b"\r\n+QIRD: 0\r\n\r\nOK\r\n")
    # unreachable (non-loopback) destinations: accepted, lost in the network
    u.x('AT+QISEND=2,10,"10.7.76.34",7687', b"\r\n> ")
    u.send(b"1234567890")
    u.expect(b"\r\nSEND OK\r\n")
    u.x("AT+QISEND=2,4", b"\r\nERROR\r\n")  # UDP SERVICE needs the remote address
    u.x("AT+QICLOSE=2", b"\r\nOK\r\n")
    peer.close()


def test_udp_service_direct_push(u):
    activate(u)
    u.x('AT+QIOPEN=1,3,"UDP SERVICE","127.0.0.1",0,0,1', b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 3,0\r\n")
    lport = int(u.cmd("AT+QISTATE=1,3").split(b",")[4])
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.sendto(b"xyz", ("127.0.0.1", lport))
    u.expect(b'\r\n+QIURC: "recv",3,3,"127.0.0.1",%d\r\nxyz\r\n' % peer.getsockname()[1])
    peer.close()


def test_udp_client(u):
    activate(u)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    pport = peer.getsockname()[1]
    u.x('AT+QIOPEN=1,4,"UDP","localhost",%d,0,0' % pport, b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 4,0\r\n")
    u.x("AT+QISEND=4,5", b"\r\n> ")
    u.send(b"hello")
    u.expect(b"\r\nSEND OK\r\n")
    data, addr = peer.recvfrom(100)
    assert data == b"hello"
    peer.sendto(b"one", addr)
    u.expect(b'\r\n+QIURC: "recv",4\r\n')
    peer.sendto(b"second", addr)
    time.sleep(0.05)
    u.x("AT+QIRD=4", b"\r\n+QIRD: 3\r\none\r\n\r\nOK\r\n")
    u.x("AT+QIRD=4,1500", b"\r\n+QIRD: 6\r\nsecond\r\n\r\nOK\r\n")
    u.x("AT+QIRD=4,0", b"\r\n+QIRD: 9,9,0\r\n\r\nOK\r\n")
    u.x("AT+QICLOSE=4", b"\r\nOK\r\n")
    peer.close()


def test_4_7_ping(u):
    u.x('AT+QPING=1,"localhost"', b"\r\nOK\r\n")
    u.expect(b"\r\n+QPING: 5\r\n")  # context not active
    activate(u)
    u.x('AT+QPING=1,"localhost"', b"\r\nOK\r\n")
    for _ in range(4):
        u.expect(b'\r\n+QPING: 0,"127.0.0.1",32,1,255\r\n')
    u.expect(b"\r\n+QPING: 2,4,4,0,1,1,1\r\n")
    u.x('AT+QPING=1,"127.0.0.2",1,2', b"\r\nOK\r\n")
    u.expect(b'\r\n+QPING: 0,"127.0.0.2",32,1,255\r\n' * 2 + b"\r\n+QPING: 2,2,2,0,1,1,1\r\n")
    t0 = time.monotonic()
    u.x('AT+QPING=1,"61.135.169.125",2,2', b"\r\nOK\r\n")
    u.expect(b"\r\n+QPING: 1\r\n\r\n+QPING: 1\r\n\r\n+QPING: 2,2,0,2,0,0,0\r\n")
    assert time.monotonic() - t0 >= real(4000) * 0.8
    u.x('AT+QPING=1,"www.baidu.com"', b"\r\nOK\r\n")
    u.expect(b"\r\n+QPING: 4\r\n")
    u.x('AT+QPING=1,"localhost",0', b"\r\nERROR\r\n")


def test_4_8_ntp_and_clock(u):
    u.x('AT+QNTP=1,"127.0.0.1",123', b"\r\nERROR\r\n")  # context not active
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 566, invalid operation\r\n\r\nOK\r\n")
    activate(u)
    u.x('AT+CCLK="13/08/19,11:10:57+32"', b"\r\nOK\r\n")
    r = u.cmd("AT+CCLK?")
    assert re.fullmatch(rb'\r\n\+CCLK: "13/08/19,\d\d:\d\d:\d\d\+00"\r\n\r\nOK\r\n', r), r
    u.x('AT+QNTP=1,"127.0.0.1",123', b"\r\nOK\r\n")
    urc = u.read_until(rb'\+QNTP: 0,"[^"]*"\r\n')
    m = re.fullmatch(rb'\r\n\+QNTP: 0,"(\d{4})/(\d\d)/(\d\d),\d\d:\d\d:\d\d\+00"\r\n', urc)
    assert m, urc
    assert int(m.group(1)) >= 2024  # network time, no longer 2013
    r = u.cmd("AT+CCLK?")
    assert r.startswith(b'\r\n+CCLK: "%s/' % m.group(1)[2:]), r
    u.x('AT+QNTP=1,"ntp.example.org"', b"\r\nOK\r\n")
    u.expect(b"\r\n+QNTP: 565\r\n")
    u.x('AT+QNTP=1,"202.120.2.101",123', b"\r\nOK\r\n")
    u.x("AT+QNTP?", b'\r\n+QNTP: "202.120.2.101",123\r\n\r\nOK\r\n')
    u.expect(b"\r\n+QNTP: 572\r\n", timeout=3)
    u.x("AT+QNTP?", b"\r\nERROR\r\n")


# --------------------------------------------------------------------------- open errors, limits


def test_qiopen_errors(u, vm):
    port = free_port()
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,0' % port, b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 566, invalid operation\r\n\r\nOK\r\n")
    activate(u)
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,0' % port, b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 0,554\r\n")  # connection refused
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 554, open connection failed\r\n\r\nOK\r\n")
    u.x('AT+QIOPEN=1,0,"TCP","61.190.19.174",8705,0,0', b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 0,554\r\n")  # only loopback is reachable
    u.x('AT+QIOPEN=1,0,"TCP","www.example.com",80,0,0', b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 0,565\r\n")
    u.x('AT+QIOPEN=1,0,"TCP","61.190.19.174",8705,0,2', b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 554, open connection failed\r\n\r\nOK\r\n")
    u.x('AT+QIOPEN=1,12,"TCP","127.0.0.1",80,0,0', b"\r\nERROR\r\n")
    u.x('AT+QIOPEN=1,0,"TCPX","127.0.0.1",80,0,0', b"\r\nERROR\r\n")
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",65536,0,0', b"\r\nERROR\r\n")
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",80,0,3', b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 558, invalid parameters\r\n\r\nOK\r\n")
    srv, sport = listener()
    open_tcp(u, sport, cid=5)
    u.x('AT+QIOPEN=1,5,"TCP","127.0.0.1",%d,0,0' % sport, b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 562, specified socket index has been used\r\n"
        b"\r\nOK\r\n")  # fmt: skip
    vm.fault_open_fail(556)
    u.x('AT+QIOPEN=1,6,"TCP","127.0.0.1",%d,0,0' % sport, b"\r\nOK\r\n")
    u.expect(b"\r\n+QIOPEN: 6,556\r\n")
    u.x("AT+QISEND=6,0", b"\r\nERROR\r\n")  # failed opens free the id
    u.x("AT+QIDEACT=1", b"\r\nOK\r\n")  # closes the context's sockets
    u.x("AT+QISTATE=1,5", b"\r\nOK\r\n")
    srv.close()


def test_twelve_sockets(u):
    activate(u)
    srv, port = listener()
    peers = []
    for cid in range(12):
        open_tcp(u, port, cid)
        peers.append(srv.accept()[0])
    r = u.cmd("AT+QISTATE=0,1")
    assert r.count(b"+QISTATE:") == 12
    for cid in range(12):
        u.x("AT+QISEND=%d,2" % cid, b"\r\n> ")
        u.send(b"%02d" % cid)
        u.expect(b"\r\nSEND OK\r\n")
    for cid, p in enumerate(peers):
        assert recv_exact(p, 2) == b"%02d" % cid
    u.x('AT+QIOPEN=1,12,"TCP","127.0.0.1",%d,0,0' % port, b"\r\nERROR\r\n")
    for cid in range(12):
        u.x("AT+QICLOSE=%d" % cid, b"\r\nOK\r\n")
    for p in peers:
        p.close()
    srv.close()


def test_send_and_read_limits(u):
    activate(u)
    peer, _ = tcp_pair(u)
    u.x("AT+QISEND=0,1461", b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 558, invalid parameters\r\n\r\nOK\r\n")
    u.x("AT+QISEND=0,1460", b"\r\n> ")
    u.send(b"s" * 1460)
    u.expect(b"\r\nSEND OK\r\n")
    assert recv_exact(peer, 1460) == b"s" * 1460
    u.x("AT+QIRD=0,1501", b"\r\nERROR\r\n")
    u.x("AT+QIRD=0", b"\r\nERROR\r\n")  # TCP needs a length
    u.x("AT+QIRD=7,10", b"\r\nERROR\r\n")
    peer.sendall(b"r" * 4000)
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    time.sleep(0.05)
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 1500\r\n" + b"r" * 1500 + b"\r\n\r\nOK\r\n")
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 1500\r\n" + b"r" * 1500 + b"\r\n\r\nOK\r\n")
    u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 1000\r\n" + b"r" * 1000 + b"\r\n\r\nOK\r\n")
    # variable length: more than 1460 bytes before Ctrl-Z -> ERROR
    u.x("AT+QISEND=0", b"\r\n> ")
    u.send(b"v" * 1461)
    u.expect(b"\r\nERROR\r\n")
    u.send(b"\x1a")
    u.quiet()
    # ESC cancels
    u.x("AT+QISEND=0", b"\r\n> ")
    u.send(b"never\x1b")
    u.expect(b"\r\nOK\r\n")
    u.x("AT+QISEND=0,0", b"\r\n+QISEND: 1460,1460,0\r\n\r\nOK\r\n")
    u.x("AT+QISEND=?", b"\r\n+QISEND: (0-11),(0-1460)\r\n\r\nOK\r\n")
    u.x("AT+QIRD=?", b"\r\n+QIRD: (0-11),(0-1500)\r\n\r\nOK\r\n")
    peer.close()


def test_binary_all_byte_values(u):
    activate(u)
    peer, _ = tcp_pair(u)
    data = bytes(range(256))
    u.x("AT+QISEND=0,256", b"\r\n> ")
    u.send(data)
    u.expect(b"\r\nSEND OK\r\n")
    assert recv_exact(peer, 256) == data
    # payload bytes that look like commands or terminators are not interpreted
    tricky = b"AT\r\n\r\nOK\r\n\x1a\x1b+++"
    u.x("AT+QISEND=0,%d" % len(tricky), b"\r\n> ")
    u.send(tricky)
    u.expect(b"\r\nSEND OK\r\n")
    assert recv_exact(peer, len(tricky)) == tricky
    peer.sendall(data[::-1] + data)
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    time.sleep(0.05)
    u.x("AT+QIRD=0,512", b"\r\n+QIRD: 512\r\n" + data[::-1] + data + b"\r\n\r\nOK\r\n")
    peer.close()


def test_qiswtmd_switches(u):
    activate(u)
    peer, _ = tcp_pair(u)
    peer.sendall(b"buffered")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    u.x("AT+QISWTMD=?", b"\r\n+QISWTMD: (0-11),(0-2)\r\n\r\nOK\r\n")
    u.x("AT+QISWTMD=0,1", b"\r\nOK\r\n")
    u.expect(b'\r\n+QIURC: "recv",0,8\r\nbuffered\r\n')
    peer.sendall(b"push")
    u.expect(b'\r\n+QIURC: "recv",0,4\r\npush\r\n')
    u.x("AT+QISWTMD=0,0", b"\r\nOK\r\n")
    peer.sendall(b"buf")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    u.x("AT+QISWTMD=0,2", b"\r\nCONNECT\r\nbuf")
    time.sleep(real(1100))
    u.send(b"+++")
    u.expect(b"\r\nOK\r\n", timeout=2)
    u.x("AT+QISWTMD=9,1", b"\r\nERROR\r\n")
    peer.close()


def test_dns(u, vm):
    u.x('AT+QIDNSGIP=1,"localhost"', b"\r\nERROR\r\n")
    activate(u)
    u.x('AT+QIDNSGIP=1,"localhost"', b"\r\nOK\r\n")
    u.expect(b'\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","127.0.0.1"\r\n')
    u.x('AT+QIDNSGIP=1,"www.example.com"', b"\r\nOK\r\n")
    u.expect(b'\r\n+QIURC: "dnsgip",565\r\n')
    vm.set_dns("multi.test", ["127.0.0.5", "127.0.0.6"])
    u.x('AT+QIDNSGIP=1,"multi.test"', b"\r\nOK\r\n")
    u.expect(b'\r\n+QIURC: "dnsgip",0,2,600\r\n\r\n+QIURC: "dnsgip","127.0.0.5"\r\n'
             b'\r\n+QIURC: "dnsgip","127.0.0.6"\r\n')  # fmt: skip
    u.x('AT+QIDNSCFG=1,"1.1.1.1","9.9.9.9"', b"\r\nOK\r\n")
    u.x("AT+QIDNSCFG=1", b'\r\n+QIDNSCFG: 1,"1.1.1.1","9.9.9.9"\r\n\r\nOK\r\n')
    u.x('AT+QIDNSCFG=1,"bad"', b"\r\nERROR\r\n")


# --------------------------------------------------------------------------- URC ordering, faults


def test_urc_never_inside_a_response(u, vm):
    activate(u)
    peer, _ = tcp_pair(u)
    vm.fault_delay("AT+QISTATE", 2000)
    u.send("AT+QISTATE=1,0\r")
    time.sleep(real(500))
    peer.sendall(b"x")  # arrives while the command is executing
    r = u.read_until(rb"\r\nOK\r\n", timeout=3)
    assert b"QIURC" not in r and r.startswith(b"\r\n+QISTATE: 0,")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    # during the QISEND prompt too
    vm.clear_faults()
    u.x("AT+QISEND=0,3", b"\r\n> ")
    vm.remote_close(0)
    time.sleep(0.05)
    u.quiet()
    u.send(b"abc")
    u.expect(b"\r\nERROR\r\n")  # the connection went away meanwhile
    u.expect(b'\r\n+QIURC: "closed",0\r\n')
    peer.close()


def test_fault_silence(u, vm):
    vm.fault_silence(1000)
    u.send("AT\r")
    u.quiet(real(600))
    time.sleep(real(600))
    u.x("AT", b"\r\nOK\r\n")
    vm.fault_silence(None)
    u.send("AT\r")
    u.quiet(0.1)
    vm.clear_faults()
    u.x("AT", b"\r\nOK\r\n")


def test_fault_drop_garble_split(u, vm):
    vm.fault_drop(2)
    u.x("AT", b"OK\r\n")
    vm.fault_garble(4)
    u.send("AT+CSQ\r")
    want = b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    r = u.read_exact(len(want))
    assert r[4:] == want[4:]
    vm.fault_split([1, 1, 1, 2])
    u.send("ATI\r")
    chunks = []
    deadline = time.monotonic() + 2
    total = b""
    want = b"\r\nQuectel\r\nUC20\r\nRevision: UC20GQBR03A12E1G\r\n\r\nOK\r\n"
    while len(total) < len(want) and time.monotonic() < deadline:
        r, _, _ = select.select([u.s], [], [], 0.5)
        if r:
            d = u.s.recv(100)
            chunks.append(d)
            total += d
    assert total == want
    assert chunks[:4] == [b"\r", b"\n", b"Q", b"ue"]


def test_fault_inject_urc(u, vm):
    vm.inject_urc('+QIURC: "pdpdeact",1')
    u.expect(b'\r\n+QIURC: "pdpdeact",1\r\n')
    activate(u)
    activate(u, 2)
    vm.inject_urc('+QIURC: "closed",3', mid_response=True)
    u.x("AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\n+QIURC: "closed",3\r\n'
        b'+QIACT: 2,1,1,"10.7.157.2"\r\n\r\nOK\r\n')  # fmt: skip
    peer, _ = tcp_pair(u)
    peer.sendall(b"data")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    time.sleep(0.05)
    vm.inject_urc('+QIURC: "closed",3', mid_response=True)
    # never between the +QIRD header and its data
    u.x("AT+QIRD=0,100", b'\r\n+QIRD: 4\r\ndata\r\n\r\n+QIURC: "closed",3\r\n\r\nOK\r\n')
    peer.close()


def test_fault_send_fail_and_unacked(u, vm):
    activate(u)
    peer, _ = tcp_pair(u)
    vm.fault_send_fail(1)
    u.x("AT+QISEND=0,3", b"\r\n> ")
    u.send(b"abc")
    u.expect(b"\r\nSEND FAIL\r\n")
    u.x("AT+QISEND=0,3", b"\r\n> ")
    u.send(b"def")
    u.expect(b"\r\nSEND OK\r\n")
    assert recv_exact(peer, 3) == b"def"
    vm.fault_unacked(2)
    u.x("AT+QISEND=0,3", b"\r\n> ")
    u.send(b"ghi")
    u.expect(b"\r\nSEND OK\r\n")
    u.x("AT+QISEND=0,0", b"\r\n+QISEND: 6,4,2\r\n\r\nOK\r\n")
    vm.clear_faults()
    u.x("AT+QISEND=0,0", b"\r\n+QISEND: 6,6,0\r\n\r\nOK\r\n")
    peer.close()


def test_fault_remote_close(u, vm):
    activate(u)
    peer, _ = tcp_pair(u)
    assert vm.remote_close(0) is True
    u.expect(b'\r\n+QIURC: "closed",0\r\n')
    assert peer.recv(10) == b""
    assert vm.remote_close(7) is False
    assert vm.connections()[0]["state"] == 4
    u.x("AT+QICLOSE=0", b"\r\nOK\r\n")
    peer.close()


def test_fault_pdp_deactivate(u, vm):
    activate(u)
    peer, _ = tcp_pair(u)
    vm.pdp_deactivate(1)
    u.expect(b'\r\n+QIURC: "pdpdeact",1\r\n')
    assert peer.recv(10) == b""
    u.x("AT+QIACT?", b"\r\nOK\r\n")
    u.x("AT+QIDEACT=1", b"\r\nOK\r\n")
    u.x("AT+QISTATE=1,0", b"\r\nOK\r\n")
    activate(u)
    # in transparent mode: NO CARRIER, then the URC
    peer2, _ = tcp_pair(u, cid=1)
    u.x("AT+QISWTMD=1,2", b"\r\nCONNECT\r\n")
    vm.pdp_deactivate(1)
    u.expect(b'\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n')
    peer.close()
    peer2.close()


def test_fault_reboot(u, vm):
    activate(u)
    peer, _ = tcp_pair(u)
    vm.reboot()
    assert peer.recv(10) == b""
    u.expect(b"\r\nRDY\r\n", timeout=3)
    assert vm.status == 1
    u.x("AT", b"AT\r\r\nOK\r\n")  # echo back on
    u.x("AT+QIACT?", b"AT+QIACT?\r\r\nOK\r\n")
    u.x("AT+QISTATE=1,0", b"AT+QISTATE=1,0\r\r\nOK\r\n")
    peer.close()


def test_fault_error_and_delay(u, vm):
    vm.fault_error("AT+QIACT=", 556, count=2)
    u.x("AT+QIACT=1", b"\r\nERROR\r\n")
    u.x("AT+QIGETERROR", b"\r\n+QIGETERROR: 556, active PDP failed\r\n\r\nOK\r\n")
    u.x("AT+QIACT=1", b"\r\nERROR\r\n")
    u.x("AT+QIACT?", b"\r\nOK\r\n")  # not matched by the prefix
    activate(u)
    vm.fault_delay("AT+CSQ", 2000)
    t0 = time.monotonic()
    u.x("AT+CSQ", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert time.monotonic() - t0 >= real(2000) * 0.8
    vm.clear_faults()
    t0 = time.monotonic()
    u.x("AT+CSQ", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert time.monotonic() - t0 < real(2000)


# --------------------------------------------------------------------------- pins and power


def test_power_on_by_pwrkey_and_qpowd():
    with VirtualModule(speed=SPEED, powered=False) as vm:
        u = Uart(vm.port)
        p = Pins(vm.pin_port)
        p.poll(0.1)
        assert p.state == {"STATUS": 0, "RI": 1}
        u.send("AT\r")
        u.quiet(0.05)
        # a short press does nothing
        p.set("PWRKEY", 0)
        time.sleep(real(300))
        p.set("PWRKEY", 1)
        time.sleep(real(3500))
        assert vm.status == 0
        p.set("PWRKEY", 0)
        time.sleep(real(1200))
        p.set("PWRKEY", 1)
        p.wait("STATUS", 1, timeout=3)
        u.expect(b"\r\nRDY\r\n")
        u.x("AT", b"AT\r\r\nOK\r\n")
        u.x("AT+QPOWD=1", b"AT+QPOWD=1\r\r\nOK\r\n")
        u.expect(b"\r\nPOWERED DOWN\r\n")
        p.wait("STATUS", 0)
        u.send("AT\r")
        u.quiet(0.05)
        p.close()
        u.close()


def test_pwrkey_power_off_when_enabled():
    with VirtualModule(speed=SPEED, pwrkey_off_ms=800) as vm:
        u = Uart(vm.port)
        p = Pins(vm.pin_port)
        p.wait("STATUS", 1)
        p.set("PWRKEY", 0)
        time.sleep(real(1000))
        p.set("PWRKEY", 1)
        u.expect(b"\r\nPOWERED DOWN\r\n")
        p.wait("STATUS", 0)
        p.close()
        u.close()


def test_reset_pin_reboots():
    with VirtualModule(speed=SPEED) as vm:
        u = Uart(vm.port)
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        activate(u)
        peer, _ = tcp_pair(u)
        p = Pins(vm.pin_port)
        p.wait("STATUS", 1)
        p.set("RESET", 0)
        time.sleep(real(50))
        p.set("RESET", 1)  # too short
        time.sleep(real(300))
        assert vm.status == 1
        p.set("RESET", 0)
        p.wait("STATUS", 0)
        assert peer.recv(10) == b""
        p.set("RESET", 1)
        p.wait("STATUS", 1)
        u.expect(b"\r\nRDY\r\n")
        u.x("AT+QIACT?", b"AT+QIACT?\r\r\nOK\r\n")
        peer.close()
        p.close()
        u.close()


def test_dtr_leaves_transparent_mode_and_ri(u, vm):
    activate(u)
    p = Pins(vm.pin_port)
    p.wait("RI", 1)
    srv, port = listener()
    u.x('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,2' % port, b"\r\nCONNECT\r\n")
    peer, _ = srv.accept()
    p.set("DTR", 1)
    p.set("DTR", 0)
    u.send(b"still data")  # &D0: DTR ignored
    assert recv_exact(peer, 10) == b"still data"
    time.sleep(real(1100))
    u.send(b"+++")
    u.expect(b"\r\nOK\r\n", timeout=2)
    u.x("AT&D1", b"\r\nOK\r\n")
    u.x("ATO", b"\r\nCONNECT\r\n")
    u.send(b"xy")
    assert recv_exact(peer, 2) == b"xy"
    p.set("DTR", 1)
    u.expect(b"\r\nOK\r\n")
    p.set("DTR", 0)
    u.x("AT", b"\r\nOK\r\n")
    # RI pulses low when a URC is reported
    p.poll(0.05)
    peer.sendall(b"z")
    u.expect(b'\r\n+QIURC: "recv",0\r\n')
    p.wait("RI", 0)
    p.wait("RI", 1)
    peer.close()
    srv.close()
    p.close()


def test_uart_reconnect_replaces_connection(vm):
    a = Uart(vm.port)
    a.x("AT", b"AT\r\r\nOK\r\n")
    b = Uart(vm.port)
    time.sleep(0.05)
    b.x("AT", b"AT\r\r\nOK\r\n")
    a.s.settimeout(1)
    assert a.s.recv(10) == b""
    a.close()
    b.close()


def test_baud_throttle():
    with VirtualModule(speed=SPEED, baud=115200) as vm:  # 11520 bytes/s each way
        u = Uart(vm.port)
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        activate(u)
        peer, _ = tcp_pair(u)
        peer.sendall(b"q" * 4500)
        u.expect(b'\r\n+QIURC: "recv",0\r\n')
        time.sleep(0.05)
        t0 = time.monotonic()
        for _ in range(3):
            u.x("AT+QIRD=0,1500", b"\r\n+QIRD: 1500\r\n" + b"q" * 1500 + b"\r\n\r\nOK\r\n")
        dt = time.monotonic() - t0
        assert 0.3 < dt < 2.0, dt
        peer.close()
        u.close()


# --------------------------------------------------------------------------- standalone program


def test_cli_help_and_run():
    tool = os.path.join(ROOT, "tools", "virtual_module.py")
    h = subprocess.run(
        [sys.executable, tool, "--help"], capture_output=True, text=True, timeout=20
    )
    assert h.returncode == 0
    for word in ("--listen", "--pins", "--speed", "--baud", "--off", "--dns", "--fault",
                 "silence", "pdpdeact", "reboot", "sendfail", "close CID"):  # fmt: skip
        assert word in h.stdout
    proc = subprocess.Popen(
        [sys.executable, tool, "--listen", "127.0.0.1:0", "--speed", str(SPEED),
         "--dns", "peer.test=127.0.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(
            r"virtual module: uart 127\.0\.0\.1:(\d+) pins 127\.0\.0\.1:(\d+)\n", line
        )
        assert m, line
        u = Uart(int(m.group(1)))
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        activate(u)
        u.x('AT+QIDNSGIP=1,"peer.test"', b"\r\nOK\r\n")
        u.expect(b'\r\n+QIURC: "dnsgip",0,1,600\r\n\r\n+QIURC: "dnsgip","127.0.0.1"\r\n')
        proc.stdin.write("pdpdeact 1\n")
        proc.stdin.flush()
        u.expect(b'\r\n+QIURC: "pdpdeact",1\r\n')
        proc.stdin.write("reboot\n")
        proc.stdin.flush()
        u.expect(b"\r\nRDY\r\n", timeout=3)
        u.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_transparent_open_keeps_held_urcs_and_typed_ahead_bytes(u, vm):
    activate(u)
    srv, port = listener()
    vm.fault_delay("AT+QIOPEN", 1000)
    u.send('AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,2\rearly' % port)
    time.sleep(real(300))
    vm.inject_urc('+QIURC: "closed",5')  # raised while the command runs
    u.expect(b"\r\nCONNECT\r\n", timeout=3)
    peer, _ = srv.accept()
    assert recv_exact(peer, 5) == b"early"  # bytes typed after the command are payload
    u.quiet(real(500))  # no URC in transparent mode
    time.sleep(real(1100))
    u.send(b"+++")
    u.expect(b'\r\nOK\r\n\r\n+QIURC: "closed",5\r\n', timeout=2)
    peer.close()
    srv.close()


def test_misc_query_forms(u):
    # the test forms: test_vmodule_parts.py
    activate(u)
    activate(u, 2)
    srv, port = listener()
    open_tcp(u, port, cid=0)
    u.x(
        'AT+QIOPEN=2,3,"TCP", "localhost" ,%d,0,1' % port,  # spaces around parameters
        b"\r\nOK\r\n",
    )
    u.expect(b"\r\n+QIOPEN: 3,0\r\n")
    r = u.cmd("AT+QISTATE?")
    assert r.count(b"+QISTATE: ") == 2 and b'+QISTATE: 3,"TCP","127.0.0.1"' in r
    assert u.cmd("AT+QISTATE=0,2").count(b"+QISTATE: ") == 1
    u.x("AT+QICLOSE=3,5", b"\r\nOK\r\n")
    u.x("AT+QICLOSE=3", b"\r\nOK\r\n")  # already closed: still OK
    u.x("AT+QICLOSE=0,65536", b"\r\nERROR\r\n")
    # CFUN=0 deregisters and drops the contexts
    u.x("AT+CFUN=0", b"\r\nOK\r\n")
    u.x("AT+CREG?", b"\r\n+CREG: 0,0\r\n\r\nOK\r\n")
    u.x("AT+QIACT?", b"\r\nOK\r\n")
    u.x("AT+QIACT=1", b"\r\nERROR\r\n")
    u.x("AT+CFUN=1", b"\r\nOK\r\n")
    activate(u)
    srv.close()


def test_binary_roundtrip_property(vm):
    """Random payloads survive QISEND (fixed length) and QIRD unchanged."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    u = Uart(vm.port)
    u.x("ATE0", b"ATE0\r\r\nOK\r\n")
    activate(u)
    peer, _ = tcp_pair(u)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(min_size=1, max_size=1460))
    def roundtrip(data):
        u.x("AT+QISEND=0,%d" % len(data), b"\r\n> ")
        u.send(data)
        u.expect(b"\r\nSEND OK\r\n")
        assert recv_exact(peer, len(data)) == data
        peer.sendall(data)
        u.expect(b'\r\n+QIURC: "recv",0\r\n')
        deadline = time.monotonic() + 5
        while vm.connections()[0]["unread"] < len(data) and time.monotonic() < deadline:
            time.sleep(0.002)
        u.x("AT+QIRD=0,1500", b"\r\n+QIRD: %d\r\n%s\r\n\r\nOK\r\n" % (len(data), data))
        got = data
        assert got == data

    roundtrip()
    peer.close()
    u.close()


def test_direct_push_announces_up_to_push_max():
    # Section 2.16.2 gives no cap on <currentrecvlength>: with push_max=4096 one URC carries
    # up to 4096 bytes, as real modules do.
    with VirtualModule(speed=SPEED, push_max=4096) as vm:
        u = Uart(vm.port)
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        activate(u)
        srv, port = listener()
        open_tcp(u, port, mode=1)
        peer, _ = srv.accept()
        blob = bytes(range(256)) * 40
        peer.sendall(blob)
        got, sizes = b"", []
        while len(got) < len(blob):
            head = u.read_until(rb'\r\n\+QIURC: "recv",0,(\d+)\r\n')
            sizes.append(int(re.search(rb",(\d+)\r\n$", head).group(1)))
            got += u.read_exact(sizes[-1])
            u.expect(b"\r\n")
        assert got == blob and max(sizes) > 1500 and max(sizes) <= 4096, sizes
        peer.close()
        u.close()


def test_log_never_shows_the_password_or_the_pin():
    lines = []
    with VirtualModule(speed=SPEED, log=lines.append, sim="SIM PIN") as vm:
        u = Uart(vm.port)
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        u.x('AT+CPIN="1234"', b"\r\nOK\r\n")
        u.x('AT+QICSGP=1,1,"apn","user","s3cret",3', b"\r\nOK\r\n")
        u.x("AT+QICSGP=1", b'\r\n+QICSGP: 1,"apn","user","s3cret",3\r\n\r\nOK\r\n')
        u.close()
    log = "\n".join(lines)
    assert "QICSGP" in log and "CPIN" in log
    assert "s3cret" not in log and "1234" not in log, log
