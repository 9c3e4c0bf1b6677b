"""AT+QPING: loopback answers after ping_ms, anything else times out."""

from ..addresses import is_loopback
from ..errors import ParamError
from ..limits import MAX_CTX
from ..params import int_at, str_at


def summary_urc(num, times):
    """The final +QPING: 2,... line of num pings with these round-trip times."""
    if times:
        mn, mx, avg = min(times), max(times), sum(times) // len(times)
    else:
        mn = mx = avg = 0
    return b"\r\n+QPING: 2,%d,%d,%d,%d,%d,%d\r\n" % (
        num, len(times), num - len(times), mn, mx, avg,
    )  # fmt: skip


def qping(m, kind, p):
    if kind == "test":
        return ['+QPING: (1-16),"HOST",(1-255),(1-10)']
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    host = str_at(p, 1)
    timeout = int_at(p, 2, 1, 255, 1)
    num = int_at(p, 3, 1, 10, 4)
    if len(p) > 4 or not host:
        raise ParamError()
    urc = m.engine.urc
    if ctx not in m.contexts.active:
        m.loop.at(0, lambda: urc(b"\r\n+QPING: 5\r\n"))
        return []
    ips = m.dns.lookup(host)
    if not ips:
        m.loop.at(m.dns_ms, lambda: urc(b"\r\n+QPING: 4\r\n"))
        return []
    ip = ips[0]
    reachable = is_loopback(ip)
    times = []

    def step(i):
        if i >= num:
            urc(summary_urc(num, times))
            return
        if reachable:
            rtt = max(1, int(m.ping_ms))

            def reply():
                times.append(rtt)
                urc(b'\r\n+QPING: 0,"%s",32,%d,255\r\n' % (ip.encode(), rtt))
                step(i + 1)

            m.loop.at(m.ping_ms, reply)
        else:

            def lost():
                urc(b"\r\n+QPING: 1\r\n")
                step(i + 1)

            m.loop.at(timeout * 1000, lost)

    step(0)
    return []


COMMANDS = {"+QPING": qping}
