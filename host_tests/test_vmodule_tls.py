"""The virtual module's FILE (AT+QF*) and SSL (AT+QSSL*) commands at the AT level: uploads with
their checksum, real TLS on loopback with certificates made at set-up (tlskit.py), and the
faults of both. Unconfirmed values come from tools/vmodule/sslfacts.py.
"""

import os
import re
import socket
import ssl
import subprocess
import sys
import time

import pytest
from tlskit import Certs, SslAt
from virtual_module import VirtualModule
from vmkit import SPEED, Uart, free_port, real
from vmodule.files import FileStore, qf_checksum
from vmodule.tls import host_matches

KB100 = 100 * 1024


@pytest.fixture(scope="module")
def certs():
    return Certs()


@pytest.fixture
def vm():
    with VirtualModule(speed=SPEED, seed=1) as m:
        yield m


@pytest.fixture
def at(vm):
    a = SslAt(vm.port)
    a.ok("AT+QIACT=1")
    yield a
    a.close()


def with_ca(at, certs, ctx=1, **cfg):
    """Upload the test CA as ca.pem and configure context ctx to verify servers with it."""
    if b'+QFLST: "UFS:ca.pem"' not in b"".join(at.ok('AT+QFLST="*"')):
        at.upload("ca.pem", certs.ca_pem)
    settings = {"cacert": '"ca.pem"', "seclevel": 1}
    settings.update(cfg)
    for what, value in settings.items():
        at.ok('AT+QSSLCFG="%s",%d,%s' % (what, ctx, value))


def ssl_open(at, port, cid=0, ctx=1, mode=0, host="localhost"):
    """AT+QSSLOPEN: OK, then the <err> of +QSSLOPEN."""
    at.ok('AT+QSSLOPEN=1,%d,%d,"%s",%d,%d' % (ctx, cid, host, port, mode))
    deadline = time.monotonic() + 10
    prefix = b"+QSSLOPEN: %d," % cid
    while time.monotonic() < deadline:
        for u in at.urcs:
            if u.startswith(prefix):
                at.urcs.remove(u)
                return int(u[len(prefix) :])
        at.poll(0.02)
    raise AssertionError("no +QSSLOPEN; URCs %r" % at.urcs)


# --------------------------------------------------------------------------- FILE


def test_checksum_rule():
    # 16-bit words, first byte high; an odd last byte is a high byte
    assert qf_checksum(b"") == 0
    assert qf_checksum(b"\x12\x34") == 0x1234
    assert qf_checksum(b"\x12\x34\x56") == 0x1234 ^ 0x5600
    assert qf_checksum(b"ab" * 10) == 0


def test_upload_exchange_list_delete_and_space(vm):
    u = Uart(vm.port)
    u.x("ATE0", b"ATE0\r\r\nOK\r\n")
    data = b"-----BEGIN CERTIFICATE-----\nabc\n"
    u.x('AT+QFUPL="ca.pem",%d,60' % len(data), b"\r\nCONNECT\r\n")
    u.send(data)
    u.expect(b"\r\n+QFUPL: %d,%x\r\n\r\nOK\r\n" % (len(data), qf_checksum(data)))
    u.x('AT+QFUPL="ca.pem",5', b"\r\n+CME ERROR: 407\r\n")  # exists: the old one stays
    u.x("AT+QFLST", b'\r\n+QFLST: "UFS:ca.pem",%d\r\n\r\nOK\r\n' % len(data))
    u.x('AT+QFLST="UFS:ca.pem"', b'\r\n+QFLST: "UFS:ca.pem",%d\r\n\r\nOK\r\n' % len(data))
    u.x('AT+QFLST="RAM:*"', b"\r\nOK\r\n")
    u.x('AT+QFLST="none.pem"', b"\r\n+CME ERROR: 405\r\n")
    total = 14483456
    u.x('AT+QFLDS="UFS"', b"\r\n+QFLDS: %d,%d\r\n\r\nOK\r\n" % (total - len(data), total))
    u.x("AT+QFLDS", b"\r\n+QFLDS: %d,1\r\n\r\nOK\r\n" % len(data))
    u.x('AT+QFUPL="big.bin",%d' % total, b"\r\n+CME ERROR: 420\r\n")
    u.x('AT+QFUPL="a/b.pem",5', b"\r\n+CME ERROR: 406\r\n")
    u.x('AT+QFUPL="%s",5' % ("x" * 81), b"\r\n+CME ERROR: 406\r\n")
    u.x('AT+QFUPL="SD:x.pem",5', b"\r\n+CME ERROR: 406\r\n")
    u.x('AT+QFUPL="x.pem",0', b"\r\n+CME ERROR: 400\r\n")
    u.x('AT+QFDEL="ca.pem"', b"\r\nOK\r\n")
    u.x('AT+QFDEL="ca.pem"', b"\r\n+CME ERROR: 405\r\n")
    u.x("AT+QFLST", b"\r\nOK\r\n")
    u.x("AT+QFDEL=?", b"\r\n+QFDEL: <filename>\r\n\r\nOK\r\n")
    u.x("AT+CMEE=2", b"\r\nOK\r\n")
    u.x('AT+QFDEL="ca.pem"', b"\r\n+CME ERROR: file not found\r\n")
    u.close()


def test_ufs_survives_reboot_and_new_module_ram_does_not(vm):
    at = SslAt(vm.port)
    at.upload("ca.pem", b"flash")
    at.upload("RAM:k.pem", b"volatile")
    assert vm.file_list() == {"UFS:ca.pem": 5, "RAM:k.pem": 8}
    at.ok('AT+QFDEL="*"')  # every UFS file, RAM untouched
    assert vm.file_list() == {"RAM:k.pem": 8}
    at.upload("ca.pem", b"flash")
    vm.reboot()
    at.rebooted()
    assert vm.file_list() == {"UFS:ca.pem": 5}
    at.close()
    with VirtualModule(speed=SPEED) as fresh:
        assert fresh.file_list() == {}
    with VirtualModule(speed=SPEED, files=vm.files) as same_flash:
        assert same_flash.file_list() == {"UFS:ca.pem": 5}


def test_upload_limits_ack_mode_and_timeout():
    with VirtualModule(speed=SPEED, files=FileStore(ufs_size=4000)) as vm:
        u = Uart(vm.port)
        u.x("ATE0", b"ATE0\r\r\nOK\r\n")
        u.x("AT+QFUPL=?", b"\r\n+QFUPL: <filename>[,(1-4000)[,(1-65535)[,(0,1)]]]\r\n\r\nOK\r\n")
        u.x('AT+QFUPL="big.bin",4001', b"\r\n+CME ERROR: 420\r\n")
        data = os.urandom(2500)
        u.x('AT+QFUPL="a.bin",2500,10,1', b"\r\nCONNECT\r\n")
        u.send(data[:1024])
        u.expect(b"A")  # one per 1 KB block: the host waits for it
        u.send(data[1024:2048])
        u.expect(b"A")
        u.send(data[2048:])
        u.expect(b"\r\n+QFUPL: 2500,%x\r\n\r\nOK\r\n" % qf_checksum(data))
        u.x('AT+QFLDS="UFS"', b"\r\n+QFLDS: 1500,4000\r\n\r\nOK\r\n")
        # no input for <timeout> s: +CME ERROR: 421, what came stays in the file
        u.x('AT+QFUPL="t.bin",100,2', b"\r\nCONNECT\r\n")
        u.send(b"0123456789")
        t0 = time.monotonic()
        u.expect(b"\r\n+CME ERROR: 421\r\n", timeout=5)
        assert time.monotonic() - t0 >= real(2000) * 0.8
        u.x('AT+QFLST="t.bin"', b'\r\n+QFLST: "UFS:t.bin",10\r\n\r\nOK\r\n')
        u.x("AT", b"\r\nOK\r\n")
        u.close()


def test_upload_corrupted_on_the_line_shows_in_the_checksum(vm):
    at = SslAt(vm.port)
    data = os.urandom(1939)
    vm.fault_upload_corrupt(1)
    size, cks = at.upload("ca.pem", data)
    assert size == len(data) and cks != qf_checksum(data)
    at.ok('AT+QFDEL="ca.pem"')
    assert at.upload("ca.pem", data) == (len(data), qf_checksum(data))  # one upload only
    at.close()


def test_host_name_rule():
    info = {"subjectAltName": (("DNS", "*.example.com"), ("DNS", "Host.test"),
                               ("IP Address", "127.0.0.1"))}  # fmt: skip
    assert host_matches(info, "a.example.com") and host_matches(info, "host.test.")
    assert not host_matches(info, "a.b.example.com") and not host_matches(info, "example.com")
    assert host_matches(info, "127.0.0.1") and not host_matches(info, "127.0.0.2")
    assert not host_matches({"subject": ()}, "host.test")  # no SAN: no match (no CN fallback)


# --------------------------------------------------------------------------- SSL configuration


def test_qsslcfg_defaults_writes_and_reboot(vm, at):
    defaults = {
        "sslversion": "4",
        "ciphersuite": "0XFFFF",
        "cacert": '""',
        "seclevel": "0",
        "sni": "0",
        "checkhost": "1",
        "ignorecertchain": "0",
        "ignorelocaltime": "1",
        "negotiatetime": "300",
    }
    for what, value in defaults.items():
        assert at.ok('AT+QSSLCFG="%s",5' % what) == [
            b'+QSSLCFG: "%s",5,%s' % (what.encode(), value.encode())
        ]
    lines = at.ok("AT+QSSLCFG=?")
    assert len(lines) == 11 and lines[-1] == b'+QSSLCFG: "negotiatetime",(0-5),(10-300)'
    at.ok('AT+QSSLCFG="ciphersuite",1,0xc02f')
    assert at.ok('AT+QSSLCFG="ciphersuite",1') == [b'+QSSLCFG: "ciphersuite",1,0XC02F']
    at.ok('AT+QSSLCFG="cacert",1,"UFS:ca.pem"')
    assert at.ok('AT+QSSLCFG="cacert",1') == [b'+QSSLCFG: "cacert",1,"UFS:ca.pem"']
    for bad in ('"seclevel",1,3', '"negotiatetime",1,9', '"ciphersuite",1,0X1234',
                '"sni",6,1', '"nosuch",1,1', '"cacert",1,5'):  # fmt: skip
        assert at.cmd("AT+QSSLCFG=" + bad)[1] == b"ERROR", bad
    vm.reboot()
    at.rebooted()
    assert at.ok('AT+QSSLCFG="cacert",1') == [b'+QSSLCFG: "cacert",1,""']


# --------------------------------------------------------------------------- handshakes


def test_good_ca_buffer_mode_state_and_sni(vm, at, certs, tls_peers):
    peer = tls_peers(certs.good)
    with_ca(at, certs, sni=1)
    assert ssl_open(at, peer.port) == 0
    assert peer.wait_conn() is not None and peer.sni == ["localhost"]
    assert at.ok("AT+QSSLSTATE") == [
        b'+QSSLSTATE: 0,"SSLClient","127.0.0.1",%d,0,2,1,0,0,"uart",1' % peer.port
    ]
    assert at.ok("AT+QSSLSTATE=1") == []
    assert at.send(0, b"hello") == b"SEND OK"
    at.wait_urc('+QSSLURC: "recv",0')
    assert at.recv(0) == b"hello"
    assert at.recv(0) == b""
    assert at.cmd("AT+QSSLSEND=0")[1] == b"> "  # variable length, ended by Ctrl-Z
    at.u.send(b"abc\x1a")
    assert at.response()[1] == b"SEND OK"
    at.wait_urc('+QSSLURC: "recv",0')
    assert at.recv(0, 2) == b"ab" and at.recv(0, 2) == b"c"
    vm.fault_send_fail(1)
    assert at.send(0, b"lost") == b"SEND FAIL"
    assert at.send(0, b"kept") == b"SEND OK"
    at.wait_urc('+QSSLURC: "recv",0')
    assert at.recv(0) == b"kept"
    assert at.cmd("AT+QSSLSEND=0,1461")[1] == b"ERROR"
    assert at.cmd("AT+QSSLRECV=0,1501")[1] == b"ERROR"
    assert at.ok("AT+QIGETERROR") == [b"+QIGETERROR: 0, operation successfully"]
    at.ok("AT+QSSLCLOSE=0")
    assert peer.closed.wait(5)
    assert at.ok("AT+QSSLSTATE") == []


@pytest.mark.parametrize(
    "server, cfg, err",
    [
        ("foreign", {}, 566),  # signed by another CA
        ("wrong_host", {}, 566),
        ("wrong_host", {"checkhost": 0}, 0),
        ("expired", {"ignorelocaltime": 0}, 566),
        ("expired", {}, 0),  # ignorelocaltime=1 (the default) skips the dates
        ("foreign", {"seclevel": 0}, 0),  # no authentication
        ("good", {"ciphersuite": "0XC02F"}, 0),
        ("good", {"ciphersuite": "0X0035"}, 566),  # RSA key exchange: Python's server refuses
        ("good", {"ciphersuite": "0X0005"}, 566),  # RC4: not in this OpenSSL
        ("good", {"sslversion": 0}, 566),  # SSL 3.0
    ],
)
def test_certificate_checks(at, certs, tls_peers, server, cfg, err):
    peer = tls_peers(getattr(certs, server))
    with_ca(at, certs, **cfg)
    assert ssl_open(at, peer.port) == err
    if err:
        assert at.ok("AT+QSSLSTATE") == []  # a failed open frees the ID
    else:
        assert at.send(0, b"ping") == b"SEND OK"
        at.wait_urc('+QSSLURC: "recv",0')
        assert at.recv(0) == b"ping"


def test_ip_address_names_and_no_sni_by_default(at, certs, tls_peers):
    good, wrong = tls_peers(certs.good), tls_peers(certs.wrong_host)
    with_ca(at, certs)
    assert ssl_open(at, good.port, host="127.0.0.1") == 0  # matched with the IP address SAN
    assert ssl_open(at, wrong.port, cid=1, host="127.0.0.1") == 566
    at.ok("AT+QSSLCLOSE=0")  # the peer serves one client at a time
    assert ssl_open(at, good.port, cid=2) == 0
    assert good.sni == [None, None]  # sni 0: no server name sent


def test_refused_and_unknown_hosts_differ_from_handshake_failures(at, certs):
    with_ca(at, certs)
    assert ssl_open(at, free_port()) == 554
    assert ssl_open(at, 443, host="nosuch.example") == 565


def test_missing_ca_file_fails_the_handshake(at, certs, tls_peers):
    peer = tls_peers(certs.good)
    at.ok('AT+QSSLCFG="seclevel",2,1')
    at.ok('AT+QSSLCFG="cacert",2,"none.pem"')
    assert ssl_open(at, peer.port, ctx=2) == 566


def test_dates_are_checked_on_the_module_clock(at, certs, tls_peers):
    peer = tls_peers(certs.good)
    with_ca(at, certs, ignorelocaltime=0)
    assert ssl_open(at, peer.port) == 0
    at.ok("AT+QSSLCLOSE=0")
    at.ok('AT+CCLK="20/01/01,00:00:00+00"')  # before the server's certificate was issued
    assert ssl_open(at, peer.port) == 566


def test_negotiatetime_limits_the_handshake(at, certs, tls_peers):
    peer = tls_peers(certs.good, handshake=False)  # accepts TCP, never answers the hello
    with_ca(at, certs, negotiatetime=10)
    t0 = time.monotonic()
    assert ssl_open(at, peer.port) == 566
    assert time.monotonic() - t0 >= real(10000) * 0.8


def test_mutual_tls(at, certs, tls_peers):
    peer = tls_peers(certs.good, require_client=certs.ca)
    at.upload("client.pem", certs.client_cert_pem)
    at.upload("client.key", certs.client_key_pem)
    with_ca(at, certs, seclevel=2, clientcert='"client.pem"', clientkey='"client.key"')
    with_ca(at, certs, ctx=2)  # seclevel 1: no client certificate
    assert ssl_open(at, peer.port, ctx=2) == 566
    assert ssl_open(at, peer.port, ctx=1) == 0
    assert at.send(0, b"mtls") == b"SEND OK"
    at.wait_urc('+QSSLURC: "recv",0')
    assert at.recv(0) == b"mtls"
    assert isinstance(peer.errors[0], ssl.SSLError)  # the server refused the first client
    assert peer.client_certs[-1]["subjectAltName"] == (("DNS", "device-1"),)


def test_connect_ids_are_shared_with_tcpip(at, certs, tls_peers):
    peer = tls_peers(certs.good)
    with_ca(at, certs)
    assert ssl_open(at, peer.port, cid=3) == 0
    assert at.cmd('AT+QIOPEN=1,3,"TCP","127.0.0.1",%d,0,0' % peer.port)[1] == b"ERROR"
    at.ok('AT+QIOPEN=1,4,"TCP","127.0.0.1",%d,0,0' % peer.port)
    at.wait_urc("+QIOPEN: 4,0")
    assert at.cmd('AT+QSSLOPEN=1,1,4,"localhost",%d,0' % peer.port)[1] == b"ERROR"
    assert at.cmd('AT+QSSLOPEN=1,1,3,"localhost",%d,0' % peer.port)[1] == b"ERROR"
    assert at.cmd('AT+QSSLOPEN=1,1,5,"localhost",%d,3' % peer.port)[1] == b"ERROR"  # mode 3
    assert at.cmd('AT+QSSLOPEN=2,1,5,"localhost",%d,0' % peer.port)[1] == b"ERROR"  # PDP 2 down
    assert at.cmd("AT+QSSLSEND=4,1")[1] == b"ERROR"  # a TCP/IP ID


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize("mode", [0, 1], ids=["buffer", "push"])
def test_100kb_each_way_byte_exact(at, certs, tls_peers, mode):
    peer = tls_peers(certs.good)  # echo: every byte goes up and comes back
    with_ca(at, certs)
    assert ssl_open(at, peer.port, mode=mode) == 0
    payload = os.urandom(KB100)
    got = bytearray()
    for i in range(0, KB100, 1460):
        assert at.send(0, payload[i : i + 1460]) == b"SEND OK"
        if mode == 0:
            while chunk := at.recv(0):
                got += chunk
    deadline = time.monotonic() + 20
    while len(got) + len(at.pushed.get(0, b"")) < KB100 and time.monotonic() < deadline:
        if mode == 0:
            got += at.recv(0)
        else:
            at.poll(0.05)
    if mode == 1:
        got = at.pushed[0]
    assert peer.wait_data(KB100) == payload
    assert bytes(got) == payload
    assert at.ok("AT+QSSLRECV=0,1500") == [b""]


@pytest.mark.parametrize("mode", [0, 1], ids=["buffer", "push"])
def test_slow_uart_and_small_buffer_hold_the_server_back(certs, tls_peers, mode):
    # the module stops reading the TLS socket while its buffer or the UART is full, and takes
    # what OpenSSL already decrypted once there is room: nothing lost, nothing reordered
    peer = tls_peers(certs.good, mode="sink")
    with VirtualModule(speed=SPEED, baud=921600, rx_buffer=8192) as vm:
        at = SslAt(vm.port)
        at.ok("AT+QIACT=1")
        with_ca(at, certs)
        assert ssl_open(at, peer.port, mode=mode) == 0
        data = os.urandom(150000)
        peer.wait_conn().sendall(data)
        got = bytearray()
        deadline = time.monotonic() + 30
        while len(got) + len(at.pushed.get(0, b"")) < len(data) and time.monotonic() < deadline:
            if mode == 0:
                got += at.recv(0)
            else:
                at.poll(0.05)
        assert bytes(got if mode == 0 else at.pushed[0]) == data
        at.close()


def test_transparent_mode(at, certs, tls_peers):
    peer = tls_peers(certs.good)  # echo
    with_ca(at, certs)
    u = at.u
    u.x('AT+QSSLOPEN=1,1,2,"localhost",%d,2' % peer.port, b"\r\nCONNECT\r\n")
    payload = os.urandom(3000)
    u.send(payload)
    assert u.read_exact(3000) == payload  # a raw pipe both ways
    time.sleep(real(1000) * 1.5)
    u.send("+++")
    u.expect(b"\r\nOK\r\n")  # command mode; the connection goes on in buffer mode
    assert at.ok("AT+QSSLSTATE=2")[0].split(b",")[8] == b"0"
    assert at.send(2, b"buffered") == b"SEND OK"
    at.wait_urc('+QSSLURC: "recv",2')
    assert at.recv(2) == b"buffered"
    u.x("ATO", b"\r\nCONNECT\r\n")
    u.send(b"again")
    u.expect(b"again")
    peer.wait_conn().shutdown(socket.SHUT_RDWR)
    u.expect(b"\r\nNO CARRIER\r\n")
    assert at.ok("AT+QSSLSTATE=2")[0].split(b",")[5] == b"4"
    at.ok("AT+QSSLCLOSE=2")
    u.x("ATO", b"\r\nNO CARRIER\r\n")
    # a failed handshake in transparent mode: ERROR, the ID is free
    bad = tls_peers(certs.foreign)
    u.x('AT+QSSLOPEN=1,1,2,"localhost",%d,2' % bad.port, b"\r\nERROR\r\n")
    assert at.ok("AT+QSSLSTATE") == []


def test_server_closes(at, certs, tls_peers):
    peer = tls_peers(certs.good, mode="sink")
    with_ca(at, certs)
    assert ssl_open(at, peer.port) == 0
    conn = peer.wait_conn()
    conn.sendall(b"last words")
    conn.shutdown(socket.SHUT_RDWR)
    at.wait_urc('+QSSLURC: "recv",0')
    at.wait_urc('+QSSLURC: "closed",0')
    line = at.ok("AT+QSSLSTATE=0")[0]
    assert line.split(b",")[5] == b"4"  # closing: the ID stays until AT+QSSLCLOSE
    assert at.recv(0) == b"last words"  # what came before the close is still readable
    assert at.cmd("AT+QSSLSEND=0,1")[1] == b"ERROR"
    at.ok("AT+QSSLCLOSE=0")
    assert at.ok("AT+QSSLSTATE") == []


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "clean"])
def test_link_dropped_mid_transfer(vm, at, certs, tls_peers, reset):
    peer = tls_peers(certs.good, mode="sink")
    with_ca(at, certs)
    assert ssl_open(at, peer.port, mode=1) == 0
    conn = peer.wait_conn()
    assert vm.fault_tls_drop(0, after=5000, reset=reset)
    data = os.urandom(20000)
    try:
        conn.sendall(data)
    except OSError:
        pass
    at.wait_urc('+QSSLURC: "closed",0')
    got = bytes(at.pushed.get(0, b""))
    assert 5000 <= len(got) < 20000 and data.startswith(got)
    assert peer.closed.wait(5)
    assert at.cmd("AT+QSSLSEND=0,4")[1] == b"ERROR"
    at.ok("AT+QSSLCLOSE=0")


def test_remote_close_fault_and_reboot_close_ssl_links(vm, at, certs, tls_peers):
    peer = tls_peers(certs.good)
    with_ca(at, certs)
    assert ssl_open(at, peer.port) == 0
    assert vm.remote_close(0)
    at.wait_urc('+QSSLURC: "closed",0')
    at.ok("AT+QSSLCLOSE=0")
    assert ssl_open(at, peer.port, cid=1) == 0
    vm.reboot()
    at.rebooted()
    assert at.ok("AT+QSSLSTATE") == []
    assert peer.closed.wait(5)


def test_pdp_context_down_takes_its_ssl_links(vm, at, certs, tls_peers):
    peer = tls_peers(certs.good)
    with_ca(at, certs)
    assert ssl_open(at, peer.port) == 0
    vm.pdp_deactivate(1)
    at.wait_urc('+QIURC: "pdpdeact",1')
    assert at.ok("AT+QSSLSTATE=0")[0].split(b",")[5] == b"4"  # closing, no "closed" URC
    assert peer.closed.wait(5)
    at.ok("AT+QSSLCLOSE=0")
    at.ok("AT+QIACT=1")
    assert ssl_open(at, peer.port) == 0
    at.ok("AT+QIDEACT=1")
    assert at.ok("AT+QSSLSTATE") == []  # AT+QIDEACT frees the IDs
    assert at.urcs == []


# --------------------------------------------------------------------------- the program


def test_program_preloads_files_and_takes_the_new_fault_commands(tmp_path, certs, tls_peers):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(certs.ca_pem)
    tool = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "virtual_module.py")
    help_text = subprocess.run(
        [sys.executable, tool, "--help"], capture_output=True, text=True, timeout=20
    ).stdout
    for word in ("--file", "AT+QSSLCFG", "AT+QFUPL", "tlsdrop", "tlsclose", "corrupt"):
        assert word in help_text
    proc = subprocess.Popen(
        [sys.executable, tool, "--speed", str(SPEED), "--file", "UFS:ca.pem=%s" % ca],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = int(re.match(r"virtual module: uart [\d.]+:(\d+)", proc.stdout.readline())[1])
        at = SslAt(port)
        assert at.ok("AT+QFLST") == [b'+QFLST: "UFS:ca.pem",%d' % len(certs.ca_pem)]
        proc.stdin.write("corrupt 1\n")
        proc.stdin.flush()
        time.sleep(0.2)
        size, cks = at.upload("x.bin", b"checked")
        assert cks != qf_checksum(b"checked")
        peer = tls_peers(certs.good)
        at.ok("AT+QIACT=1")
        with_ca(at, certs)
        assert ssl_open(at, peer.port) == 0
        proc.stdin.write("tlsclose 0\n")
        proc.stdin.flush()
        at.wait_urc('+QSSLURC: "closed",0')
        at.close()
    finally:
        proc.terminate()
        proc.wait(10)
