"""PDP context commands: AT+QICSGP, AT+QIACT, AT+QIDEACT, AT+QIDNSCFG, and the network's
deactivation."""

from ..addresses import is_ipv4
from ..errors import ParamError, TcpError
from ..limits import MAX_CTX, S_CLOSING
from ..params import int_at, str_at
from ..reply import DEFER, ERROR, OK


def qicsgp(m, kind, p):
    if kind == "test":
        return ["+QICSGP: (1-16),1-IPV4,APN,USER NAME,PASSWORD,(0-3)"]
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    cfg = m.contexts.cfg
    if len(p) == 1:
        return ['+QICSGP: %d,"%s","%s","%s",%d' % tuple(cfg[ctx])]
    if len(p) > 6:
        raise ParamError()
    t = int_at(p, 1, 1, 1)
    old = cfg[ctx]
    apn = str_at(p, 2, old[1])
    user = str_at(p, 3, old[2] if len(p) <= 3 else "")
    pw = str_at(p, 4, old[3] if len(p) <= 3 else "")
    auth = int_at(p, 5, 0, 3, old[4] if len(p) <= 3 else 0)
    cfg[ctx] = [t, apn, user, pw, auth]
    return []


def qiact(m, kind, p):
    contexts = m.contexts
    if kind == "test":
        return ["+QIACT: (1-16)"]
    if kind == "read":
        return ['+QIACT: %d,1,1,"%s"' % (c, ip) for c, ip in sorted(contexts.active.items())]
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    if len(p) > 1:
        raise ParamError()
    if ctx in contexts.active:
        raise TcpError(563)
    ok = (
        not contexts.full() and m.net.sim_ready() and m.net.cfun == 1 and m.net.registered("CGREG")
    )

    def done():
        if ok and not contexts.full():
            contexts.activate(ctx)
            m.engine.last_err = 0
            m.engine.complete(OK)
        else:
            m.engine.last_err = 556
            m.engine.complete(ERROR)

    if contexts.full():
        raise TcpError(556)
    m.loop.at(m.qiact_ms, done)
    return DEFER


def qideact(m, kind, p):
    if kind == "test":
        return []
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    if len(p) > 1:
        raise ParamError()

    def done():
        deactivate(m, ctx)
        m.engine.last_err = 0
        m.engine.complete(OK)

    m.loop.at(m.qideact_ms, done)
    return DEFER


def deactivate(m, ctx):
    """Context ctx goes down with its connections (their IDs are freed)."""
    m.contexts.active.pop(ctx, None)
    for c in list(m.conns.values()):
        if c.ctx == ctx:
            m.sockets.close(c)
            del m.conns[c.cid]
    for c in list(m.tls.conns.values()):
        if c.ctx == ctx:
            m.tls.close(c)
            del m.tls.conns[c.cid]


def deactivated_by_network(m, ctx):
    """+QIURC: "pdpdeact": the sockets (TCP/IP and SSL) close and stay in state 4 (closing)."""
    if ctx not in m.contexts.active:
        return
    del m.contexts.active[ctx]
    t = m.conn(m.tm.cid)
    if t is not None and t.ctx == ctx:
        m.tm.no_carrier(t)
    for c in list(m.conns.values()) + list(m.tls.conns.values()):
        if c.ctx == ctx:
            m.io_of(c).close(c)
            c.state = S_CLOSING
    m.engine.urc(b'\r\n+QIURC: "pdpdeact",%d\r\n' % ctx)


def qidnscfg(m, kind, p):
    if kind == "test":
        return ['+QIDNSCFG: (1-16),"pridnsaddr","secdnsaddr"']
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    if len(p) == 1:
        pri, sec = m.contexts.dns.get(ctx, ("8.8.8.8", "8.8.4.4"))
        return ['+QIDNSCFG: %d,"%s","%s"' % (ctx, pri, sec)]
    if len(p) > 3:
        raise ParamError()
    pri = str_at(p, 1)
    sec = str_at(p, 2, "0.0.0.0")
    if not is_ipv4(pri) or not is_ipv4(sec):
        raise TcpError(557)
    if ctx not in m.contexts.active:
        raise TcpError(566)
    m.contexts.dns[ctx] = (pri, sec)
    return []


COMMANDS = {
    "+QICSGP": qicsgp,
    "+QIACT": qiact,
    "+QIDEACT": qideact,
    "+QIDNSCFG": qidnscfg,
}
