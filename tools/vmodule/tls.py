"""The TLS client connections of the SSL commands: Python's ssl over real loopback sockets.

The module is the client. Its certificates and keys are files of its store; its SSL contexts
(AT+QSSLCFG) say what it verifies. OpenSSL checks the chain; the host name and the validity
dates are checked after the handshake, the dates against the module's clock (AT+CCLK), not the
host's.
"""

import ipaddress
import os
import selectors
import socket
import ssl
import struct
import tempfile
import warnings

from .addresses import is_loopback
from .limits import S_CLOSING, S_CONNECTED, S_OPENING
from .sslfacts import (
    ALL_CIPHERS,
    CIPHERSUITES,
    ERR_CONNECT,
    ERR_DNS,
    ERR_HANDSHAKE,
    SHARE_CONNECT_IDS,
    SSL_CFG_KEPT_OVER_REBOOT,
    SSL_CTX_COUNT,
    SSL_DEFAULTS,
    TLS_VERSIONS,
)
from .uart import BACKLOG_MAX

_NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: the module checks dates on its own clock
_SEND_CHUNK = 16384
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class TlsConn:
    """One SSL client ID: its settings at open time, its socket and buffers."""

    def __init__(self, cid, ctx, sslctx, host, rport, mode):
        self.cid = cid
        self.ctx = ctx  # PDP context, as for the TCP/IP connections
        self.sslctx = sslctx  # <sslctxID>
        self.host = host  # <serveraddr> as given: SNI and the host name checked
        self.ip = host
        self.rport = rport
        self.mode = mode  # 0 buffer, 1 direct push
        self.state = S_OPENING
        self.phase = "connect"  # "connect", "handshake", then None
        self.cfg = None  # the context's settings when the open started
        self.tls_context = None  # its ssl.SSLContext
        self.raw = None  # the TCP socket until it is wrapped
        self.sock = None  # the SSLSocket
        self.rx = bytearray()
        self.armed = True  # buffer mode: next data raises +QSSLURC: "recv"
        self.txq = bytearray()
        self.rx_total = 0
        self.tx_total = 0
        self.sel_mask = 0
        self.timer = None
        self.drop_at = None  # fault: break the link once rx_total + tx_total reaches this
        self.drop_reset = True
        self.on_open = None

    def unread(self):
        return len(self.rx)

    def take_buffered(self):
        """Everything received and not read yet, as a list of byte strings (marked read)."""
        data = bytes(self.rx)
        self.rx.clear()
        return [data] if data else []

    def info(self):
        return {
            "state": self.state,
            "mode": self.mode,
            "ctx": self.ctx,
            "sslctx": self.sslctx,
            "unread": len(self.rx),
            "rx_total": self.rx_total,
            "tx_total": self.tx_total,
            "rport": self.rport,
        }


def make_context(cfg, files):
    """The ssl.SSLContext of a QSSLCFG context (raises on what cannot be loaded)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    lo, hi = TLS_VERSIONS[cfg["sslversion"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = lo
        ctx.maximum_version = hi
    code = cfg["ciphersuite"]
    names = CIPHERSUITES.values() if code == ALL_CIPHERS else [CIPHERSUITES[code]]
    ctx.set_ciphers(":".join(names) + ":@SECLEVEL=0")  # an old stack: SHA-1, TLS 1.0 allowed
    if cfg["seclevel"] == 0:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ca = files.get(cfg["cacert"])
        if ca is None:
            raise ValueError("no CA file")
        ctx.load_verify_locations(cadata=ca.decode("latin-1") if b"-----BEGIN" in ca else ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.verify_flags |= _NO_CHECK_TIME
    if cfg["seclevel"] == 2 and cfg["clientcert"]:
        cert, key = files.get(cfg["clientcert"]), files.get(cfg["clientkey"])
        if cert is None or key is None:
            raise ValueError("no client certificate or key file")
        _load_chain(ctx, cert, key)
    return ctx


def _load_chain(ctx, cert, key):
    # load_cert_chain reads files only: hand it private temporary copies
    paths = []
    try:
        for data in (cert, key):
            fd, path = tempfile.mkstemp(suffix=".pem")
            paths.append(path)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(paths[0], paths[1])
    finally:
        for path in paths:
            os.unlink(path)


def _chain_infos(sock):
    """Decoded certificates of the verified chain, the server's first."""
    try:
        # the verified chain is public API from Python 3.13 on; 3.11 has it on _sslobj
        return [cert.get_info() for cert in sock._sslobj.get_verified_chain()]
    except AttributeError:
        return [sock.getpeercert()]


def _ip(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_matches(info, host):
    """Whether a decoded certificate is valid for host (subjectAltName, left-most wildcard)."""
    ip = _ip(host)
    host = host.lower().rstrip(".")
    for kind, value in info.get("subjectAltName", ()):
        if ip is not None:
            if kind == "IP Address" and _ip(value.strip()) == ip:
                return True
            continue
        if kind != "DNS":
            continue
        pattern = value.lower()
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def dates_valid(infos, now):
    return all(
        ssl.cert_time_to_seconds(i["notBefore"]) <= now <= ssl.cert_time_to_seconds(i["notAfter"])
        for i in infos
    )


def push_urc(cid, data):
    """A direct-push "recv" URC carrying data."""
    return b'\r\n+QSSLURC: "recv",%d,%d\r\n' % (cid, len(data)) + data + b"\r\n"


class TlsIO:
    """The SSL contexts and client connections of module m (its loop, engine, files, clock).

    rx_buffer caps a connection's receive buffer, send_buffer its unsent bytes, push_max the
    payload of one direct-push URC (as for the TCP/IP connections).
    """

    def __init__(self, m, rx_buffer, send_buffer, push_max):
        self.m = m
        self.rx_buffer = rx_buffer
        self.send_buffer = send_buffer
        self.push_max = push_max
        self.conns = {}
        self.contexts = [dict(SSL_DEFAULTS) for _ in range(SSL_CTX_COUNT)]

    def in_use(self, cid):
        return cid in self.conns or (SHARE_CONNECT_IDS and cid in self.m.conns)

    def shutdown(self):
        """Power lost: every connection is gone, and the contexts unless they are kept."""
        self.close_all()
        if not SSL_CFG_KEPT_OVER_REBOOT:
            self.contexts = [dict(SSL_DEFAULTS) for _ in range(SSL_CTX_COUNT)]

    def close_all(self):
        for c in list(self.conns.values()):
            self.close(c)
        self.conns.clear()

    # --- open

    def open(self, c):
        """Connect and handshake; c.on_open(c, err) reports the result."""
        if self.conns.get(c.cid) is not c:
            return
        c.cfg = dict(self.contexts[c.sslctx])
        ips = self.m.dns.lookup(c.host)
        if not ips:
            return self._failed(c, ERR_DNS)
        c.ip = ips[0]
        if not is_loopback(c.ip):
            return self._failed(c, ERR_CONNECT)
        try:
            c.tls_context = make_context(c.cfg, self.m.files)
        except (OSError, ValueError, KeyError):
            c.tls_context = None  # the handshake fails, once the TCP connection is up
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.raw = s
        try:
            s.connect((c.ip, c.rport))
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return self._failed(c, ERR_CONNECT)
        self._watch(c, c.raw, _WRITE)

    def _watch(self, c, sock, mask):
        self.m.loop.watch(sock, mask, lambda s, ev, c=c: self._on_event(c, ev))
        c.sel_mask = mask

    def _connected(self, c):
        if c.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            return self._failed(c, ERR_CONNECT)
        self.m.loop.watch(c.raw, 0, None)
        c.sel_mask = 0
        if c.tls_context is None:
            return self._failed(c, ERR_HANDSHAKE)
        sni = c.host if c.cfg["sni"] and _ip(c.host) is None else None
        try:
            c.sock = c.tls_context.wrap_socket(
                c.raw, server_hostname=sni, do_handshake_on_connect=False
            )
        except (OSError, ValueError):
            return self._failed(c, ERR_HANDSHAKE)
        c.raw = None
        c.phase = "handshake"
        c.timer = self.m.loop.at(
            c.cfg["negotiatetime"] * 1000.0, lambda: self._negotiate_timeout(c)
        )
        self._handshake(c)

    def _negotiate_timeout(self, c):
        if self.conns.get(c.cid) is c and c.phase == "handshake":
            self._failed(c, ERR_HANDSHAKE)

    def _handshake(self, c):
        try:
            c.sock.do_handshake()
        except ssl.SSLWantReadError:
            return self._watch(c, c.sock, _READ)
        except ssl.SSLWantWriteError:
            return self._watch(c, c.sock, _WRITE)
        except (OSError, ValueError):
            return self._failed(c, ERR_HANDSHAKE)
        if not self._verified(c):
            return self._failed(c, ERR_HANDSHAKE)
        c.timer.cancel()
        c.phase = None
        c.state = S_CONNECTED
        c.on_open(c, 0)
        self._read(c)  # data that came with the end of the handshake
        self.update(c)

    def _verified(self, c):
        cfg = c.cfg
        if cfg["seclevel"] == 0:
            return True
        infos = _chain_infos(c.sock)
        if cfg["checkhost"] and not host_matches(infos[0], c.host):
            return False
        return bool(cfg["ignorelocaltime"]) or dates_valid(infos, self.m.clock.rtc())

    def _failed(self, c, err):
        self.close(c)
        c.on_open(c, err)

    # --- events

    def _on_event(self, c, mask):
        if self.conns.get(c.cid) is not c:
            return
        if c.phase == "connect":
            return self._connected(c)
        if c.phase == "handshake":
            return self._handshake(c)
        if mask & _WRITE:
            self._flush(c)
        if mask & _READ:
            self._read(c)
        self.update(c)

    def _raw_out(self, c):
        """Transparent mode with no escape under way: received bytes go straight out."""
        tm = self.m.tm
        return tm.cid == c.cid and not tm.pp_count

    def _want_read(self, c):
        if c.sock is None or c.phase is not None:
            return False
        if c.mode == 1 or self._raw_out(c):
            return self.m.uart.queued() + self.m.engine.held_bytes() < BACKLOG_MAX
        return len(c.rx) < self.rx_buffer

    def update(self, c):
        """Take what the TLS layer already holds if there is room; watch c's socket for what
        it can take now."""
        if c.sock is None or c.phase is not None:
            return
        if c.sock.pending() and self._want_read(c):
            self._read(c)
            if c.sock is None:
                return
        mask = (_READ if self._want_read(c) else 0) | (_WRITE if c.txq else 0)
        if mask != c.sel_mask:
            self._watch(c, c.sock, mask)

    def resume_all(self):
        for c in list(self.conns.values()):
            self.update(c)

    def _read(self, c):
        tm = self.m.tm
        while self._want_read(c):
            if self._raw_out(c):
                n = 65536
            elif c.mode == 1:
                n = self.push_max
            else:
                n = self.rx_buffer - len(c.rx)
            try:
                data = c.sock.recv(n)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except (OSError, ValueError):
                data = b""
            if not data:
                return self.peer_closed(c)
            c.rx_total += len(data)
            if self._raw_out(c):
                self.m.faults.emit(data)
            elif c.mode == 1:
                self.m.engine.urc(push_urc(c.cid, data))
            else:
                c.rx += data
                if tm.cid != c.cid:  # in transparent mode an escape is under way: held
                    self.announce(c)
            if self._drop_due(c):
                return

    def announce(self, c):
        """Buffer mode: the first unread data raises +QSSLURC: "recv"."""
        if c.armed and c.rx:
            c.armed = False
            self.m.engine.urc(b'\r\n+QSSLURC: "recv",%d\r\n' % c.cid)

    # --- sending

    def send_would_overflow(self, c, n):
        return len(c.txq) + n > self.send_buffer

    def send(self, c, data):
        c.txq += data
        c.tx_total += len(data)
        self._flush(c)
        self.update(c)

    def _flush(self, c):
        # a retried SSL write must start with the same bytes: txq only grows at its end
        while c.txq and c.sock is not None:
            try:
                n = c.sock.send(bytes(c.txq[:_SEND_CHUNK]))
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                break
            except (OSError, ValueError):
                return self.peer_closed(c)
            del c.txq[:n]
        self._drop_due(c)

    # --- closing

    def close(self, c, notify=False):
        """Close c's socket (the ID stays); notify: send close_notify first."""
        if c.timer is not None:
            c.timer.cancel()
        for s in (c.sock, c.raw):
            if s is None:
                continue
            self.m.loop.watch(s, 0, None)
            if notify and s is c.sock:
                try:
                    s.unwrap()  # sends close_notify; the peer's answer is not awaited
                except (OSError, ValueError):
                    pass
            try:
                s.close()
            except OSError:
                pass
        c.sock = c.raw = None
        c.sel_mask = 0

    def close_by_host(self, c):
        """AT+QSSLCLOSE: what the host sent goes out first (as far as it can now)."""
        if c.sock is not None and c.phase is None:
            self._flush(c)
        self.close(c, notify=c.phase is None)
        self.conns.pop(c.cid, None)
        self.m.tm.forget(c.cid)

    def peer_closed(self, c):
        """The server closed, or the link broke: state closing, +QSSLURC: "closed"."""
        self.close(c)
        c.state = S_CLOSING
        if self.m.tm.cid == c.cid:
            self.m.tm.no_carrier(c)
            return
        self.m.engine.urc(b'\r\n+QSSLURC: "closed",%d\r\n' % c.cid)

    def break_link(self, c, reset=True):
        """Fault: the link breaks now: reset (RST, no close_notify), or a clean close."""
        c.drop_at = None
        if c.sock is None or c.phase is not None:
            return False
        if reset:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.close(c, notify=True)
        self.peer_closed(c)
        return True

    def _drop_due(self, c):
        if c.drop_at is not None and c.rx_total + c.tx_total >= c.drop_at:
            self.break_link(c, c.drop_reset)
            return True
        return False
