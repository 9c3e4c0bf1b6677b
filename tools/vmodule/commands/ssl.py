"""SSL commands: AT+QSSLCFG, AT+QSSLOPEN, AT+QSSLSEND, AT+QSSLRECV, AT+QSSLCLOSE, AT+QSSLSTATE.

AT+QSSLCFG="<type>",<sslctx 0-5>[,<value>] -> +QSSLCFG: "<type>",<sslctx>,<value> / OK, or OK
AT+QSSLOPEN=<ctx>,<sslctx>,<id>,"<host>",<port>[,<mode>=0]
    modes 0/1: OK, then +QSSLOPEN: <id>,<err> (0; 566 handshake/certificate; 554 connection
    refused; 565 unknown name; a failure frees the ID). Mode 2: CONNECT, or ERROR.
AT+QSSLSEND=<id>,<1-1460> -> "> ", the bytes -> SEND OK | SEND FAIL | ERROR
    (AT+QSSLSEND=<id>: data ended by Ctrl-Z, ESC cancels)
AT+QSSLRECV=<id>,<1-1500> -> +QSSLRECV: <n> CR LF <n bytes> CR LF / OK
AT+QSSLCLOSE=<id>[,<timeout>] -> OK;  AT+QSSLSTATE[=<id>] -> +QSSLSTATE: <id>,"SSLClient",
    "<ip>",<port>,0,<state 1|2|4>,<ctx>,<id>,<mode>,"uart",<sslctx> per connection / OK
URCs: +QSSLURC: "recv",<id> (buffer mode, when data comes into an empty buffer);
    +QSSLURC: "recv",<id>,<n> CR LF <n bytes> CR LF (direct push); +QSSLURC: "closed",<id>.
Their failures answer a plain ERROR and leave the AT+QIGETERROR code alone (as on EG800K).
"""

from ..errors import ParamError
from ..limits import MAX_CONN, MAX_CTX, S_CONNECTED
from ..params import int_at, str_at
from ..reply import CONNECT, DEFER, ERROR, OK, PROMPT, SEND_FAIL, SEND_OK, Reply
from ..sslfacts import (
    ALL_CIPHERS,
    CIPHERSUITES,
    MAX_SSL_READ,
    MAX_SSL_SEND,
    NEGOTIATE_RANGE,
    SSL_ACCESS_MODES,
    SSL_CTX_COUNT,
    SSL_DEFAULTS,
    SSL_PATHS,
)
from ..tls import TlsConn

_CTX_RANGE = "(0-%d)" % (SSL_CTX_COUNT - 1)
_TEST_VALUES = {
    "sslversion": "(0-4)",
    "ciphersuite": "(%s)" % ",".join("0X%04X" % c for c in list(CIPHERSUITES) + [ALL_CIPHERS]),
    "cacert": "<cacertpath>",
    "clientcert": "<client_cert_path>",
    "clientkey": "<client_key_path>",
    "seclevel": "(0-2)",
    "negotiatetime": "(%d-%d)" % NEGOTIATE_RANGE,
}


def _show(what, value):
    if what == "ciphersuite":
        return "0X%04X" % value
    if what in SSL_PATHS:
        return '"%s"' % value
    return "%d" % value


def _parse(what, v):
    if what in SSL_PATHS:
        if not isinstance(v, str):
            raise ParamError()
        return v
    if what == "ciphersuite":
        text = str(v).upper()
        if not text.startswith("0X"):
            raise ParamError()
        try:
            code = int(text[2:], 16)
        except ValueError:
            raise ParamError() from None
        if code != ALL_CIPHERS and code not in CIPHERSUITES:
            raise ParamError()
        return code
    if what == "sslversion":
        return int_at([v], 0, 0, 4)
    if what == "seclevel":
        return int_at([v], 0, 0, 2)
    if what == "negotiatetime":
        return int_at([v], 0, *NEGOTIATE_RANGE)
    return int_at([v], 0, 0, 1)  # the 0/1 flags


def qsslcfg(m, kind, p):
    if kind == "test":
        return [
            '+QSSLCFG: "%s",%s,%s' % (what, _CTX_RANGE, _TEST_VALUES.get(what, "(0,1)"))
            for what in SSL_DEFAULTS
        ]
    if kind != "write" or len(p) not in (2, 3) or not isinstance(p[0], str):
        raise ParamError()
    what = p[0].lower()
    if what not in SSL_DEFAULTS:
        raise ParamError()
    ctx = int_at(p, 1, 0, SSL_CTX_COUNT - 1)
    cfg = m.tls.contexts[ctx]
    if len(p) == 2:
        return ['+QSSLCFG: "%s",%d,%s' % (what, ctx, _show(what, cfg[what]))]
    cfg[what] = _parse(what, p[2])
    return []


def qsslopen(m, kind, p):
    if kind == "test":
        return [
            '+QSSLOPEN: (1-%d),%s,(0-%d),"<serveraddr>",(1-65535),(0-2)'
            % (MAX_CTX, _CTX_RANGE, MAX_CONN - 1)
        ]
    if kind != "write" or not 5 <= len(p) <= 6:
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    sslctx = int_at(p, 1, 0, SSL_CTX_COUNT - 1)
    cid = int_at(p, 2, 0, MAX_CONN - 1)
    host = str_at(p, 3)
    port = int_at(p, 4, 1, 65535)
    mode = int_at(p, 5, 0, 2, 0)
    if not host or mode not in SSL_ACCESS_MODES:
        raise ParamError()
    if m.tls.in_use(cid) or ctx not in m.contexts.active:
        raise ParamError()
    c = TlsConn(cid, ctx, sslctx, host, port, mode)
    m.tls.conns[cid] = c
    m.loop.at(0, lambda: m.tls.open(c))
    if mode == 2:
        c.on_open = lambda c, err: _opened_transparent(m, c, err)
        return DEFER
    c.on_open = lambda c, err: _opened(m, c, err)
    return []


def _forget_failed(m, c):
    if m.tls.conns.get(c.cid) is c:
        del m.tls.conns[c.cid]


def _opened(m, c, err):
    """Buffer and direct-push modes: +QSSLOPEN: <id>,<err> (a failure frees the ID)."""
    if err:
        _forget_failed(m, c)
    m.engine.urc(b"\r\n+QSSLOPEN: %d,%d\r\n" % (c.cid, err))


def _opened_transparent(m, c, err):
    """Transparent mode: CONNECT and the session starts, or ERROR (as AT+QIOPEN does)."""
    if err:
        _forget_failed(m, c)
        m.engine.complete(ERROR)
        return
    if m.engine.state not in ("busy", "exec"):
        return
    # not complete(): held URCs and typed-ahead bytes belong to the transparent session
    m.engine.finish(Reply([], CONNECT))
    m.tm.enter(c)


def _connected(m, p):
    cid = int_at(p, 0, 0, MAX_CONN - 1)
    c = m.tls.conns.get(cid)
    if c is None:
        raise ParamError()
    return c


def qsslsend(m, kind, p):
    if kind == "test":
        return ["+QSSLSEND: (0-%d),(1-%d)" % (MAX_CONN - 1, MAX_SSL_SEND)]
    if kind != "write" or not 1 <= len(p) <= 2:
        raise ParamError()
    c = _connected(m, p)
    length = int_at(p, 1, 1, MAX_SSL_SEND, None)
    if c.state != S_CONNECTED or c.sock is None:
        raise ParamError()

    def prompt():
        m.engine.start_prompt(length, lambda data: _send(m, c, data), limit=MAX_SSL_SEND)

    return Reply([], PROMPT, then=prompt)


def _send(m, c, data):
    """The data of AT+QSSLSEND arrived: the final result code."""
    if m.tls.conns.get(c.cid) is not c or c.sock is None or c.state != S_CONNECTED:
        return ERROR
    if m.faults.take_send_fail() or m.tls.send_would_overflow(c, len(data)):
        return SEND_FAIL
    m.tls.send(c, data)
    return SEND_OK


def qsslrecv(m, kind, p):
    if kind == "test":
        return ["+QSSLRECV: (0-%d),(1-%d)" % (MAX_CONN - 1, MAX_SSL_READ)]
    if kind != "write" or len(p) != 2:
        raise ParamError()
    c = _connected(m, p)
    length = int_at(p, 1, 1, MAX_SSL_READ)
    data = bytes(c.rx[:length])
    del c.rx[: len(data)]
    if not c.rx:
        c.armed = True
    m.tls.update(c)
    head = b"+QSSLRECV: %d" % len(data)
    # the payload follows the header line as it is (binary), then CR LF
    return Reply([head + b"\r\n" + data if data else head], OK)


def qsslclose(m, kind, p):
    if kind == "test":
        return ["+QSSLCLOSE: (0-%d),(0-65535)" % (MAX_CONN - 1)]
    if kind != "write" or not 1 <= len(p) <= 2:
        raise ParamError()
    cid = int_at(p, 0, 0, MAX_CONN - 1)
    int_at(p, 1, 0, 65535, 10)
    c = m.tls.conns.get(cid)
    if c is not None:
        m.tls.close_by_host(c)
    return []


def qsslstate(m, kind, p):
    if kind == "test":
        return []
    if kind == "exec":
        conns = sorted(m.tls.conns.values(), key=lambda c: c.cid)
    elif kind == "write" and len(p) == 1:
        c = m.tls.conns.get(int_at(p, 0, 0, MAX_CONN - 1))
        conns = [c] if c is not None else []
    else:
        raise ParamError()
    return [
        '+QSSLSTATE: %d,"SSLClient","%s",%d,0,%d,%d,%d,%d,"uart",%d'
        % (c.cid, c.ip, c.rport, c.state, c.ctx, c.cid, c.mode, c.sslctx)
        for c in conns
    ]


COMMANDS = {
    "+QSSLCFG": qsslcfg,
    "+QSSLOPEN": qsslopen,
    "+QSSLSEND": qsslsend,
    "+QSSLRECV": qsslrecv,
    "+QSSLCLOSE": qsslclose,
    "+QSSLSTATE": qsslstate,
}
