"""TLS inside the module (AT+QSSL*): HTTPS and MQTTS on boards whose firmware has no `ssl`,
and no TLS RAM or CPU on the MCU.

    import quectel.socket, quectel.tls
    quectel.socket.use(modem)
    ctx = quectel.tls.SSLContext()             # verifies the server by default
    ctx.load_verify_locations(cadata=CA_PEM)   # so it needs the CA
    quectel.tls.use(ctx)                       # `import ssl` / `tls` / `ussl` now give module TLS
    requests.get("https://example.com/")       # micropython-lib requests, unmodified

Without `use()` the firmware's own `ssl` (TLS on the MCU) stays what `import ssl` gives.

`ctx.wrap_socket(sock, server_hostname=)` takes a connected quectel socket: the module cannot
start TLS on a TCP connection it has open, so the TCP link is closed and the same remote
(server_hostname when given: the module checks the certificate against the name it dials) is
opened again with AT+QSSLOPEN. The socket then works as before, in buffer or direct-push mode,
with the same data path as TCP (quectel.conn). The asyncio front takes `ssl=ctx` in
`AModem.open_connection`.

Each distinct configuration gets one of the module's SSL contexts 0-5 (AT+QSSLCFG), applied
again after every module restart; CA, client certificate and key are uploaded once
(quectel.files), named by their checksum. A failed handshake or certificate check raises
`TLSError` (errno EPROTO); a refused connection ECONNREFUSED, an unknown name EHOSTUNREACH.
"""

import errno
import sys

from . import files
from .conn import TRANSPARENT
from .errors import ATError, QuectelError, TCPIPError, error_for, oserror
from .validate import check_address, check_int

PROTOCOL_TLS_CLIENT = 0
PROTOCOL_TLS_SERVER = 1
CERT_NONE = 0
CERT_OPTIONAL = 1  # treated as CERT_REQUIRED: the module verifies or it does not
CERT_REQUIRED = 2
EPROTO = 71  # Linux's number: the errno of TLSError
# <sslctxID> 0-5: the BG96 manual's range; UNCONFIRMED for EC2x (ssl-file-at-notes.md 1.1),
# the smaller reading is kept.
SSL_CONTEXTS = 6
HANDSHAKE_FAILED = 566  # +QSSLOPEN <err>: any handshake or certificate failure
_SLACK_MS = 10000  # the +QSSLOPEN URC may come this long after <negotiatetime>
_ENOTCONN = errno.ENOTCONN


class TLSError(TCPIPError):
    """The module's TLS handshake or certificate check failed (+QSSLOPEN error 566): a
    wrong CA, an expired certificate, a wrong host name, a client certificate the server
    refused. `errno` is EPROTO, unlike a refused connection (ECONNREFUSED)."""

    def __init__(self, command="AT+QSSLOPEN"):
        text = "TLS handshake or certificate check failed"
        QuectelError.__init__(self, "%s (566)" % text, EPROTO)
        self.code = HANDSHAKE_FAILED
        self.text = text
        self.command = command


def _read(path_or_data):
    # MicroPython's ssl takes a file path (str) or the data (bytes).
    if isinstance(path_or_data, str):
        with open(path_or_data, "rb") as f:
            return f.read()
    return bytes(path_or_data)


def _pem(data, label):
    # The module reads PEM files: a DER certificate is converted.
    if data.lstrip().startswith(b"-----"):
        return data
    if label is None:
        raise ValueError("give the private key as PEM")
    import binascii

    body = binascii.b2a_base64(data).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    head = b"-----BEGIN %s-----\n" % label
    return head + b"\n".join(lines) + b"\n-----END %s-----\n" % label


def _file(kind, data):
    # Named by content, so that a file of that name and size (all the module lists) is
    # almost surely the same file (see files.g_upload).
    return "tls-%s-%04x-%d.pem" % (kind, files.checksum(data), len(data))


class SSLContext:
    """A TLS configuration for the module, with the calls of MicroPython's `ssl.SSLContext`
    that clients use: `load_verify_locations`, `load_cert_chain`, `wrap_socket`,
    `verify_mode`, `check_hostname`. Module settings: `version` (AT+QSSLCFG "sslversion":
    0 SSL 3.0, 1 TLS 1.0, 2 TLS 1.1, 3 TLS 1.2, 4 all), `ciphers` (a "ciphersuite" code,
    0xFFFF all), `sni` (send the server name, where the firmware has it), `negotiate_s`
    (handshake limit, 10-300 s), `check_time` (None: check certificate dates once
    `modem.ntp(..., set_module=True)` set the module's clock; True/False: always/never).
    """

    def __init__(self, protocol=PROTOCOL_TLS_CLIENT):
        if protocol != PROTOCOL_TLS_CLIENT:
            raise ValueError("the module's TLS is a client only")
        self.protocol = protocol
        self.verify_mode = CERT_REQUIRED
        self.check_hostname = True
        self.version = 4
        self.ciphers = 0xFFFF
        self.sni = True
        self.negotiate_s = 300
        self.check_time = None
        self.ca = self.cert = self.key = None  # PEM bytes

    def load_verify_locations(self, cafile=None, cadata=None):
        """The CA that signs the servers: a file path on the MCU, or its bytes (PEM or DER)."""
        if cafile is None and cadata is None:
            raise ValueError("give cafile or cadata")
        self.ca = _pem(_read(cadata if cafile is None else cafile), b"CERTIFICATE")

    def load_cert_chain(self, certfile, keyfile):
        """The client certificate and its private key (mutual TLS): paths or bytes; the key
        in PEM. The key goes to the module's flash once and never into a trace."""
        self.cert = _pem(_read(certfile), b"CERTIFICATE")
        self.key = _pem(_read(keyfile), None)

    def config(self):
        """(settings, uploads): the module settings this context asks for, and the files
        (name, data, secret) they name."""
        check_int(self.version, 0, 4, "version")
        check_int(self.ciphers, 0, 0xFFFF, "ciphers")
        check_int(self.negotiate_s, 10, 300, "negotiate_s")
        verify = self.verify_mode != CERT_NONE
        if verify and self.ca is None:
            raise ValueError("verifying the server needs its CA: load_verify_locations(), "
                             "or set verify_mode = CERT_NONE")  # fmt: skip
        if self.cert is not None and not verify:
            raise ValueError("a client certificate needs verify_mode = CERT_REQUIRED")
        uploads = []
        names = []
        for kind, data in (("ca", self.ca), ("crt", self.cert), ("key", self.key)):
            name = None
            if data is not None and (verify or kind != "ca"):
                name = _file(kind, data)
                uploads.append((name, data, kind == "key"))
            names.append(name)
        seclevel = (2 if self.cert is not None else 1) if verify else 0
        settings = (self.version, self.ciphers, seclevel, names[0], names[1], names[2],
                    1 if self.sni else 0, 1 if verify and self.check_hostname else 0,
                    self.check_time, self.negotiate_s)  # fmt: skip
        return settings, uploads

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,
                    server_hostname=None):  # fmt: skip
        """Turn a connected quectel socket into a TLS one (the same object, returned): the
        TCP link is closed and (server_hostname or its address, port) opened again with
        AT+QSSLOPEN. See `TLSError` for what a failed handshake raises."""
        if server_side:
            raise oserror(errno.EOPNOTSUPP)
        c = sock.c
        if c.ssl:
            raise ValueError("the socket is a TLS socket already")
        if c.cid < 0 or c.remote is None:
            raise oserror(_ENOTCONN, "connect the socket first")
        host, port = c.remote
        run = c.modem.at.run
        run(c.g_close())
        run(self.g_open(c, server_hostname or host, port))
        return sock

    def g_open(self, c, host, port):
        """Generator procedure: open Conn c (unopened) as a TLS link to (host, port)."""
        if c.mode == TRANSPARENT:
            raise ValueError("module TLS has buffer and direct-push modes only")
        if c.cid >= 0:
            raise oserror(106)  # EISCONN
        host, port = check_address((host, port))
        m = c.modem
        if not m.isconnected():
            raise oserror(101)  # ENETUNREACH
        i = yield from _slots(m).g_slot(self)
        p = m.policy
        c.remote = (host, port)
        c.claim()
        c.open_result = None
        c.ssl = True
        cmd = 'AT+QSSLOPEN=%d,%d,%d,"%s",%d,%d' % (m.context, i, c.cid, host, port, c.mode)
        try:
            yield from m.g_command(cmd.encode(), b"-", p.at_ms)
        except QuectelError:
            c.release()
            c.ssl = False
            raise
        ok = yield (c.opened, max(p.qiopen_ms, self.negotiate_s * 1000 + _SLACK_MS))
        if ok and c.open_result == 0 and not c.dead:
            c.service = "SSL"
            c.tls_context = i
            yield from m.g_opened(True)
            return
        if not ok:
            yield from c.g_close_id()  # no answer: free the ID (a failure frees it itself)
        c.release()
        c.ssl = False
        if not ok:
            raise oserror(errno.ETIMEDOUT)
        if c.dead:
            raise oserror(errno.ECONNABORTED)
        if c.open_result == HANDSHAKE_FAILED:
            raise TLSError()
        yield from m.g_opened(False)
        raise error_for(c.open_result, None, "AT+QSSLOPEN")


class _Slots:
    """The module's SSL contexts of one modem: the configuration each serves (kept over
    restarts) and what the module holds now (forgotten when it restarts)."""

    def __init__(self, modem):
        self.m = modem
        self.want = [None] * SSL_CONTEXTS  # settings tuple per SSL context
        self.uploads = [None] * SSL_CONTEXTS
        self.held = [None] * SSL_CONTEXTS  # (settings, ignorelocaltime) applied
        self.next = 0
        modem.setup_hooks.append(self.g_reapply)

    def _ignore_time(self, settings):
        check = settings[8]
        if check is None:
            check = getattr(self.m, "module_clock_set", False)
        return 0 if check else 1

    def _busy(self, i):
        for c in self.m.sockets:
            if c is not None and c.ssl and getattr(c, "tls_context", -1) == i:
                return True
        return False

    def _choose(self, settings, uploads):
        n = SSL_CONTEXTS
        for i in range(n):
            if self.want[i] == settings:
                self.uploads[i] = uploads
                return i
        for free in (True, False):  # an unused SSL context, else one no open link uses
            for k in range(n):
                i = (self.next + k) % n
                if (self.want[i] is None) if free else not self._busy(i):
                    self.next = (i + 1) % n
                    self.want[i] = settings
                    self.uploads[i] = uploads
                    self.held[i] = None
                    return i
        raise oserror(23, "all 6 SSL contexts serve open links")  # ENFILE

    def g_slot(self, ctx):
        settings, uploads = ctx.config()
        i = self._choose(settings, uploads)
        if self.held[i] != (settings, self._ignore_time(settings)):
            yield from self._g_apply(i)
        return i

    def _g_apply(self, i):
        m = self.m
        settings = self.want[i]
        ilt = self._ignore_time(settings)
        self.held[i] = None
        for name, data, secret in self.uploads[i]:
            yield from files.g_upload(m, name, data, secret)
        version, ciphers, seclevel, ca, crt, key, sni, checkhost, _, negotiate = settings
        values = [("sslversion", version), ("ciphersuite", "0X%04X" % ciphers),
                  ("seclevel", seclevel), ("checkhost", checkhost), ("ignorelocaltime", ilt),
                  ("negotiatetime", negotiate)]  # fmt: skip
        for what, name in (("cacert", ca), ("clientcert", crt), ("clientkey", key)):
            if name is not None:
                values.append((what, '"%s"' % name))
        for what, value in values:
            yield from m.g_command(('AT+QSSLCFG="%s",%d,%s' % (what, i, value)).encode(), b"")
        try:
            yield from m.g_command(b'AT+QSSLCFG="sni",%d,%d' % (i, sni), b"")
        except ATError:
            pass  # a firmware without SNI: the handshake goes on without it
        self.held[i] = (settings, ilt)

    def g_reapply(self):
        # After a restart (Modem.setup_hooks): the module forgot every AT+QSSLCFG setting,
        # and its clock is no longer known to be set (UNCONFIRMED whether its RTC keeps time
        # over a reboot: assumed not, so dates go unchecked until the next NTP).
        self.m.module_clock_set = False
        for i in range(SSL_CONTEXTS):
            self.held[i] = None
            if self.want[i] is not None:
                try:
                    yield from self._g_apply(i)
                except QuectelError:
                    pass  # applied again by the next open that needs it


def _slots(modem):
    s = getattr(modem, "tls_slots", None)
    if s is None:
        s = modem.tls_slots = _Slots(modem)
    return s


# ---- the `ssl` / `tls` facade for unmodified clients -------------------------------------------


class _Facade:
    """What `import ssl` / `tls` / `ussl` gives after `use(context)`: contexts made through it
    (micropython-lib requests makes one per request and sets CERT_NONE on it) wrap with
    `context`, so only `context` decides verification; `wrap_socket(sock, **params)` (the
    call of umqtt.simple 1.3) takes server_hostname and nothing else."""

    PROTOCOL_TLS_CLIENT = PROTOCOL_TLS_CLIENT
    PROTOCOL_TLS_SERVER = PROTOCOL_TLS_SERVER
    CERT_NONE = CERT_NONE
    CERT_OPTIONAL = CERT_OPTIONAL
    CERT_REQUIRED = CERT_REQUIRED
    TLSError = TLSError

    def __init__(self, context):
        self.context = context
        facade = self

        class SSLContext:
            def __init__(self, protocol=PROTOCOL_TLS_CLIENT):
                self.verify_mode = CERT_REQUIRED
                self.check_hostname = True

            def load_verify_locations(self, cafile=None, cadata=None):
                pass  # use()'s context holds the CA

            def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,
                            server_hostname=None):  # fmt: skip
                return facade.context.wrap_socket(sock, server_side, True, server_hostname)

        self.SSLContext = SSLContext

    def wrap_socket(self, sock, server_side=False, server_hostname=None, **params):
        if params:
            raise ValueError("module TLS takes its settings from quectel.tls.use(context)")
        return self.context.wrap_socket(sock, server_side, True, server_hostname)


def use(context):
    """Make `import ssl`, `import tls` and `import ussl` give module TLS configured by
    `context` (an SSLContext of this module), for clients that import them (requests, umqtt).
    Call quectel.socket.use(modem) too: the sockets they wrap must be the module's."""
    if not isinstance(context, SSLContext):
        raise TypeError("use() needs a quectel.tls.SSLContext")
    context.config()  # a context that cannot work fails here, not inside a client
    facade = _Facade(context)
    for name in ("ssl", "tls", "ussl"):
        sys.modules[name] = facade
    return facade
