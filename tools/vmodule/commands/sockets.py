"""Connection commands: AT+QIOPEN, AT+QICLOSE, AT+QISTATE, AT+QISWTMD, AT+QICFG, AT+QIGETERROR."""

from ..connections import Conn
from ..errors import ERROR_TEXT, ParamError, TcpError
from ..limits import (
    LISTENER,
    MAX_CONN,
    MAX_CTX,
    S_CONNECTED,
    SERVICE,
    SERVICE_TYPES,
    TCP,
    UDP,
)
from ..params import int_at, str_at
from ..reply import CONNECT, DEFER, ERROR, Reply


def qiopen(m, kind, p):
    if kind == "test":
        return [
            '+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE",'
            '"<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)'
        ]
    if kind == "read":
        return []
    if kind != "write":
        raise ParamError()
    if not 5 <= len(p) <= 7:
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    cid = int_at(p, 1, 0, MAX_CONN - 1)
    stype = p[2]
    if not isinstance(stype, str) or stype.upper() not in SERVICE_TYPES:
        raise ParamError()
    stype = stype.upper()
    host = str_at(p, 3)
    rport = int_at(p, 4, 0, 65535)
    lport = int_at(p, 5, 0, 65535, 0)
    mode = int_at(p, 6, 0, 2, 0)
    if cid in m.conns or cid in m.tls.conns:  # the SSL client IDs are the same 12
        raise TcpError(562)
    if ctx not in m.contexts.active:
        raise TcpError(566)
    if mode == 2 and stype in (LISTENER, SERVICE):
        raise TcpError(559)
    c = Conn(cid, ctx, stype, mode)
    c.rport = rport if stype in (TCP, UDP) else 0
    c.lport = lport
    m.conns[cid] = c
    fail = m.faults.take_open_fail()
    m.loop.at(0, lambda: m.sockets.open(c, host, fail))
    if mode == 2:
        c.on_open = lambda c, err: _opened_transparent(m, c, err)
        return DEFER
    c.on_open = lambda c, err: _opened(m, c, err)
    return []


def _forget_failed(m, c):
    m.sockets.close(c)
    if m.conns.get(c.cid) is c:
        del m.conns[c.cid]


def _opened(m, c, err):
    """Buffer and direct-push modes: +QIOPEN: <id>,<err> (a failure frees the ID)."""
    if err:
        _forget_failed(m, c)
    m.engine.last_err = err
    m.engine.urc(b"\r\n+QIOPEN: %d,%d\r\n" % (c.cid, err))


def _opened_transparent(m, c, err):
    """Transparent mode: CONNECT and the session starts, or ERROR."""
    if err:
        _forget_failed(m, c)
        m.engine.last_err = err
        m.engine.complete(ERROR)
        return
    m.engine.last_err = 0
    if m.engine.state not in ("busy", "exec"):
        return
    # not complete(): held URCs and typed-ahead bytes belong to the transparent session
    m.engine.finish(Reply([], CONNECT))
    m.tm.enter(c)


def qiclose(m, kind, p):
    if kind == "test":
        return []
    if kind != "write":
        raise ParamError()
    cid = int_at(p, 0, 0, MAX_CONN - 1)
    int_at(p, 1, 0, 65535, 10)
    if len(p) > 2:
        raise ParamError()
    c = m.conns.pop(cid, None)
    if c is not None:
        m.sockets.close_flushing(c)
        m.tm.forget(cid)
    return []


def qistate(m, kind, p):
    if kind == "test":
        return []
    if kind == "read":
        conns = sorted(m.conns.values(), key=lambda c: c.cid)
    elif kind == "write":
        qt = int_at(p, 0, 0, 1)
        if len(p) != 2:
            raise ParamError()
        if qt == 0:
            ctx = int_at(p, 1, 1, MAX_CTX)
            conns = sorted((c for c in m.conns.values() if c.ctx == ctx), key=lambda c: c.cid)
        else:
            cid = int_at(p, 1, 0, MAX_CONN - 1)
            conns = [m.conns[cid]] if cid in m.conns else []
    else:
        raise ParamError()
    return [
        '+QISTATE: %d,"%s","%s",%d,%d,%d,%d,%d,%d,"uart"'
        % (c.cid, c.kind, c.ip, c.rport, c.lport, c.state, c.ctx, c.server, c.mode)
        for c in conns
    ]


def qiswtmd(m, kind, p):
    if kind == "test":
        return ["+QISWTMD: (0-11),(0-2)"]
    if kind == "read":
        return []
    if kind != "write":
        raise ParamError()
    cid = int_at(p, 0, 0, MAX_CONN - 1)
    mode = int_at(p, 1, 0, 2)
    if len(p) != 2:
        raise ParamError()
    c = m.conns.get(cid)
    if c is None:
        raise TcpError(570)
    if mode == 2:
        if c.kind in (LISTENER, SERVICE):
            raise TcpError(559)
        if c.state != S_CONNECTED or c.sock is None:
            raise TcpError(555)
        return Reply([], CONNECT, then=lambda: m.tm.enter(c), keep_error=True)
    c.mode = mode
    if c.kind == LISTENER:
        return []
    if mode == 1:
        m.sockets.push_buffered(c)
    else:
        c.armed = not c.unread()
    m.sockets.update(c)
    return []


def qicfg(m, kind, p):
    tm = m.tm
    if kind == "test":
        return ['+QICFG: "transpktsize",(1-1460)', '+QICFG: "transwaittm",(0-20)']
    if kind != "write":
        raise ParamError()
    what = str_at(p, 0).lower()
    if isinstance(p[0], int) or len(p) > 2:
        raise ParamError()
    if what == "transpktsize":
        if len(p) == 1:
            return ['+QICFG: "transpktsize",%d' % tm.pktsize]
        tm.pktsize = int_at(p, 1, 1, 1460)
        return []
    if what == "transwaittm":
        if len(p) == 1:
            return ['+QICFG: "transwaittm",%d' % tm.waittm]
        tm.waittm = int_at(p, 1, 0, 20)
        return []
    raise ParamError()


def qigeterror(m, kind, p):
    if kind == "test":
        return Reply([], keep_error=True)
    if kind != "exec":
        raise ParamError()
    e = m.engine.last_err
    return Reply(
        ["+QIGETERROR: %d, %s" % (e, ERROR_TEXT.get(e, "unknown error"))], keep_error=True
    )


COMMANDS = {
    "+QIOPEN": qiopen,
    "+QICLOSE": qiclose,
    "+QISTATE": qistate,
    "+QISWTMD": qiswtmd,
    "+QICFG": qicfg,
    "+QIGETERROR": qigeterror,
}
