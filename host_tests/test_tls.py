"""The driver's module TLS (quectel.tls, quectel.files) over the virtual module with real TLS
on loopback: certificates made at set-up (tlskit.py, RSA: the module negotiates RSA suites
only), uploads checked by checksum, the same data path as TCP, errors as OSError."""

import errno
import ssl

import pytest
from conftest import make_modem
from quectel import files, tls
from quectel.socket import BUFFER, PUSH
from tlskit import Certs
from vmodule.files import qf_checksum

KB100 = 100 * 1024


@pytest.fixture(scope="module")
def certs():
    return Certs()


def context(certs, **kw):
    ctx = tls.SSLContext()
    ctx.load_verify_locations(cadata=certs.ca_pem)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def tls_socket(modem, ctx, port, host="localhost", mode=BUFFER):
    """A TCP socket to the peer, then wrapped: the module reopens it with AT+QSSLOPEN."""
    s = modem.socket(mode=mode)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    assert ctx.wrap_socket(s, server_hostname=host) is s
    return s


def echo(s, data, chunk=8192):
    got = bytearray()
    buf = bytearray(1500)
    mv = memoryview(data)
    off = 0
    while len(got) < len(data):
        if off < len(data):
            s.sendall(mv[off : off + chunk])
            off += chunk
        while len(got) < min(off, len(data)):
            n = s.recv_into(buf)
            assert n, "EOF after %d bytes" % len(got)
            got += buf[:n]
    return bytes(got)


# ---------------------------------------------------------------------------- files


def test_checksum_is_the_modules():
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256)) * 7 + b"x"):
        assert files.checksum(data) == qf_checksum(data)


def test_upload_skips_identical_replaces_different_and_removes(modem, vm):
    assert files.upload(modem, "ca.pem", b"first version")
    assert vm.file_list() == {"UFS:ca.pem": 13}
    assert not files.upload(modem, "ca.pem", b"first version")  # same size: skipped
    assert files.upload(modem, "ca.pem", b"the second one")  # replaced
    assert vm.file_list() == {"UFS:ca.pem": 14}
    assert files.listdir(modem) == [("ca.pem", 14)]
    assert files.listdir(modem, "nothing.pem") == []
    assert files.remove(modem, "ca.pem") and not files.remove(modem, "ca.pem")
    assert files.listdir(modem) == []


@pytest.mark.parametrize("name", ['a"b', "a\r\nAT+QPOWD", "*", "a\x1ab", "x" * 81, ""])
def test_bad_names_never_reach_the_uart(modem, name):
    sent = []
    modem.at.trace = lambda d, b: sent.append(b)
    with pytest.raises(ValueError):
        files.upload(modem, name, b"data")
    with pytest.raises(ValueError):
        files.remove(modem, name)
    assert sent == []


def test_damaged_upload_is_deleted_and_raises(modem, vm):
    vm.fault_upload_corrupt(1)
    with pytest.raises(OSError) as e:
        files.upload(modem, "ca.pem", bytes(range(256)) * 8)
    assert e.value.errno == errno.EIO
    assert vm.file_list() == {}
    assert files.upload(modem, "ca.pem", bytes(range(256)) * 8)  # the next one is whole
    assert vm.file_list() == {"UFS:ca.pem": 2048}


def test_private_key_never_in_the_trace(modem, certs, tls_peers):
    peer = tls_peers(certs.good, require_client=certs.ca)
    trace = []
    modem.at.trace = lambda d, b: trace.append(bytes(b))
    ctx = context(certs)
    ctx.load_cert_chain(certs.client_cert_pem, certs.client_key_pem)
    s = tls_socket(modem, ctx, peer.port)
    assert echo(s, b"mutual") == b"mutual"
    s.close()
    body = certs.client_key_pem.split(b"\n")[1]  # a line of the key's base64
    assert not any(body in t for t in trace)
    assert any(b"secret bytes" in t for t in trace)
    assert any(certs.ca_pem.split(b"\n")[1] in t for t in trace)  # the CA is no secret


# ---------------------------------------------------------------------------- TLS links


@pytest.mark.parametrize("mode", [BUFFER, PUSH], ids=["buffer", "push"])
def test_100kb_each_way_byte_exact(modem, vm, certs, tls_peers, mode):
    peer = tls_peers(certs.good)
    s = tls_socket(modem, context(certs), peer.port, mode=mode)
    assert s.c.ssl and s.cid >= 0
    info = vm.ssl_connections()[s.cid]
    assert info["mode"] == mode
    data = bytes((i * 7 + i // 251) & 0xFF for i in range(KB100))
    assert echo(s, data) == data
    assert peer.wait_data(KB100) == data
    s.close()
    assert peer.closed.wait(5)  # closed by us: the server sees the end
    assert modem.sockets == [None] * 12 and vm.ssl_connections() == {}


def test_verification_failures_are_tls_errors_not_refusals(modem, certs, tls_peers):
    good = tls_peers(certs.good)
    foreign = tls_peers(certs.foreign)
    wrong_host = tls_peers(certs.wrong_host)
    expired = tls_peers(certs.expired)
    for port, ctx in ((foreign.port, context(certs)),
                      (wrong_host.port, context(certs)),
                      (expired.port, context(certs, check_time=True))):  # fmt: skip
        with pytest.raises(tls.TLSError) as e:
            tls_socket(modem, ctx, port)
        assert isinstance(e.value, OSError) and e.value.errno == tls.EPROTO
        assert e.value.code == 566
    assert modem.sockets == [None] * 12
    # the same servers, each check explicitly off
    tls_socket(modem, context(certs, check_hostname=False), wrong_host.port).close()
    tls_socket(modem, context(certs), expired.port).close()  # the clock is not known: no dates
    insecure = tls.SSLContext()
    insecure.verify_mode = tls.CERT_NONE
    tls_socket(modem, insecure, foreign.port).close()
    # refused: a port where nothing listens (good's server is stopped first)
    port = good.port
    good.close()
    s = modem.socket()
    with pytest.raises(OSError) as e:
        modem.at.run(insecure.g_open(s.c, "127.0.0.1", port))
    assert e.value.errno == errno.ECONNREFUSED and not isinstance(e.value, tls.TLSError)


def test_verification_is_on_by_default_and_needs_a_ca(modem, certs, tls_peers):
    peer = tls_peers(certs.good)
    ctx = tls.SSLContext()
    assert ctx.verify_mode == tls.CERT_REQUIRED
    s = modem.socket()
    s.connect(("127.0.0.1", peer.port))
    with pytest.raises(ValueError):
        ctx.wrap_socket(s, server_hostname="localhost")
    s.close()
    with pytest.raises(TypeError):
        tls.use(object())


def test_mutual_tls(modem, certs, tls_peers):
    peer = tls_peers(certs.good, require_client=certs.ca)
    with pytest.raises(tls.TLSError):
        tls_socket(modem, context(certs), peer.port)  # no client certificate
    ctx = context(certs)
    ctx.load_cert_chain(certs.client_cert_pem, certs.client_key_pem)
    s = tls_socket(modem, ctx, peer.port)
    assert echo(s, b"hello mutual") == b"hello mutual"
    assert peer.client_certs[-1]["subjectAltName"] == (("DNS", "device-1"),)
    s.close()


def test_server_closes_and_reader_sees_eof(modem, vm, certs, tls_peers):
    peer = tls_peers(certs.good, mode="sink")
    s = tls_socket(modem, context(certs), peer.port)
    s.sendall(b"x" * 3000)
    assert peer.wait_data(3000) == b"x" * 3000
    peer.conn.sendall(b"bye")
    assert vm.remote_close(s.cid)
    got = bytearray()
    while True:
        k = s.recv(100)
        if not k:
            break
        got += k
    assert got == b"bye"
    with pytest.raises(OSError):
        s.sendall(b"more")
    s.close()
    assert vm.ssl_connections() == {}


def test_link_dropped_mid_transfer_is_an_oserror(modem, vm, certs, tls_peers):
    peer = tls_peers(certs.good)
    s = tls_socket(modem, context(certs), peer.port)
    assert vm.fault_tls_drop(s.cid, after=5000, reset=True)
    data = b"y" * 1400
    buf = bytearray(1500)
    with pytest.raises(OSError) as e:
        for _ in range(50):
            s.sendall(data)
            got = 0
            while got < len(data):
                n = s.recv_into(buf)
                if not n:  # the drop reads as EOF; a send after it is refused
                    s.sendall(data)
                got += n
    assert e.value.errno in (errno.ECONNRESET, errno.ECONNABORTED)
    s.close()
    assert vm.ssl_connections() == {}


def test_contexts_share_ssl_contexts_by_configuration(modem, vm, certs, tls_peers):
    peer = tls_peers(certs.good)
    a, b = context(certs), context(certs)
    c = context(certs, negotiate_s=60)
    tls_socket(modem, a, peer.port).close()
    s1 = tls_socket(modem, b, peer.port)
    ctx1 = vm.ssl_connections()[s1.cid]["sslctx"]
    s1.close()
    s2 = tls_socket(modem, c, peer.port)
    assert vm.ssl_connections()[s2.cid]["sslctx"] != ctx1  # another configuration
    s2.close()
    uploads = [f for f in vm.file_list() if f.startswith("UFS:tls-ca-")]
    assert len(uploads) == 1  # one CA file for all three


def test_module_restart_reapplies_the_context(modem, vm, certs, tls_peers):
    peer = tls_peers(certs.good)
    ctx = context(certs)
    s = tls_socket(modem, ctx, peer.port)
    slot = vm.ssl_connections()[s.cid]["sslctx"]
    vm.reboot()
    with pytest.raises(OSError):
        for _ in range(200):
            s.sendall(b"ping")
            s.recv(4)
    s.close()
    assert modem.check() or modem.check()
    # reapplied in the setup after RDY, before any open asks for it
    line = modem.command(b'AT+QSSLCFG="cacert",%d' % slot)[0]
    assert b"tls-ca-" in line
    assert modem.command(b'AT+QSSLCFG="seclevel",%d' % slot)[0].endswith(b",1")
    sent = []
    modem.at.trace = lambda d, b: sent.append(bytes(b))
    s = tls_socket(modem, ctx, peer.port)
    assert echo(s, b"after restart") == b"after restart"
    s.close()
    assert not any(b"QSSLCFG" in x or b"QFUPL" in x for x in sent)  # nothing to apply again


def test_check_time_follows_ntp_on_the_module(modem, vm, certs, tls_peers):
    expired = tls_peers(certs.expired)
    ctx = context(certs)
    tls_socket(modem, ctx, expired.port).close()  # module clock not known: dates unchecked
    modem.module_clock_set = True  # what modem.ntp(..., set_module=True) records
    with pytest.raises(tls.TLSError):
        tls_socket(modem, ctx, expired.port)


def test_facade_for_clients_that_import_ssl(modem, certs, tls_peers, monkeypatch):
    import sys

    for name in ("ssl", "tls", "ussl"):
        monkeypatch.setitem(sys.modules, name, sys.modules.get(name, ssl))
    peer = tls_peers(certs.good)
    facade = tls.use(context(certs))
    assert sys.modules["tls"] is facade and sys.modules["ussl"] is facade
    # what micropython-lib requests does on every HTTPS request
    made = facade.SSLContext(facade.PROTOCOL_TLS_CLIENT)
    made.verify_mode = facade.CERT_NONE  # ignored: use()'s context decides
    s = modem.socket()
    s.connect(("127.0.0.1", peer.port))
    s = made.wrap_socket(s, server_hostname="localhost")
    assert echo(s, b"facade") == b"facade"
    s.close()
    foreign = tls_peers(certs.foreign)
    s = modem.socket()
    s.connect(("127.0.0.1", foreign.port))
    with pytest.raises(tls.TLSError):
        facade.SSLContext(0).wrap_socket(s, server_hostname="localhost")  # still verified
    with pytest.raises(ValueError):
        facade.wrap_socket(s, cert_reqs=0)


def test_asyncio_open_connection_with_ssl(vm, certs, tls_peers):
    import asyncio

    from quectel.aio import AModem

    peer = tls_peers(certs.good)
    m = make_modem(vm)
    m.connect("internet")
    data = bytes(range(256)) * 40

    async def main():
        am = AModem(m)
        am.start()
        r, w = await am.open_connection("localhost", peer.port, ssl=context(certs))
        assert w.c.ssl
        w.write(data)
        await w.drain()
        got = await r.readexactly(len(data))
        await w.aclose()
        with pytest.raises(tls.TLSError):
            await am.open_connection("127.0.0.1", tls_peers(certs.wrong_host).port,
                                     ssl=context(certs))  # fmt: skip
        await am.stop()
        return got

    assert asyncio.run(main()) == data
    m.at.uart.close()
