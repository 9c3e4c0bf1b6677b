"""AT+QIDNSGIP: host names resolve through the module's table, answered by URCs."""

from ..errors import ParamError, TcpError
from ..limits import MAX_CTX
from ..params import int_at, str_at


def dnsgip_urcs(ips):
    """The URCs answering a lookup (565 when nothing was found)."""
    if not ips:
        return b'\r\n+QIURC: "dnsgip",565\r\n'
    out = b'\r\n+QIURC: "dnsgip",0,%d,600\r\n' % len(ips)
    for ip in ips:
        out += b'\r\n+QIURC: "dnsgip","%s"\r\n' % ip.encode()
    return out


def qidnsgip(m, kind, p):
    if kind == "test":
        return ['+QIDNSGIP: (1-16),"hostname"']
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    host = str_at(p, 1)
    if len(p) > 2 or not host:
        raise ParamError()
    if ctx not in m.contexts.active:
        raise TcpError(566)
    m.loop.at(m.dns_ms, lambda: m.engine.urc(dnsgip_urcs(m.dns.lookup(host))))
    return []


COMMANDS = {"+QIDNSGIP": qidnsgip}
