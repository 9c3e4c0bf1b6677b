"""AT+CCLK (the RTC) and AT+QNTP (network time from a loopback server)."""

import datetime

from ..addresses import is_loopback
from ..errors import ParamError, TcpError
from ..limits import MAX_CTX
from ..params import int_at, str_at


def cclk(m, kind, p):
    if kind == "test":
        return []
    if kind == "read":
        return ['+CCLK: "%s"' % m.clock.format(m.clock.rtc(), False)]
    if kind == "write":
        s = str_at(p, 0)
        try:
            dt = datetime.datetime.strptime(s[:17], "%y/%m/%d,%H:%M:%S")
            zone = int(s[17:]) if len(s) > 17 else 0
        except ValueError:
            raise ParamError() from None
        m.clock.set_rtc(dt.replace(tzinfo=datetime.timezone.utc).timestamp() - zone * 900)
        return []
    raise ParamError()


def qntp(m, kind, p):
    clock = m.clock
    if kind == "test":
        return ['+QNTP: (1-16),"SERVER",(1-65535),(0,1)']
    if kind == "read":
        if clock.ntp_busy:
            return ['+QNTP: "%s",%d' % clock.ntp_busy]
        raise ParamError()
    if kind != "write":
        raise ParamError()
    ctx = int_at(p, 0, 1, MAX_CTX)
    server = str_at(p, 1)
    port = int_at(p, 2, 1, 65535, 123)
    autoset = int_at(p, 3, 0, 1, 1)
    if len(p) > 4 or not server:
        raise ParamError()
    if ctx not in m.contexts.active:
        raise TcpError(566)
    if clock.ntp_busy:
        raise TcpError(553)
    clock.ntp_busy = (server, port)
    ips = m.dns.lookup(server)

    def finish(data):
        clock.ntp_busy = None
        m.engine.urc(data)

    if not ips:
        m.loop.at(m.dns_ms, lambda: finish(b"\r\n+QNTP: 565\r\n"))
    elif not is_loopback(ips[0]):
        m.loop.at(m.ntp_timeout_ms, lambda: finish(b"\r\n+QNTP: 572\r\n"))
    else:

        def ok():
            t = clock.net_utc()
            if autoset:
                clock.rtc_offset = 0.0
            finish(b'\r\n+QNTP: 0,"%s"\r\n' % clock.format(t, True).encode())

        m.loop.at(m.ntp_ms, ok)
    return []


COMMANDS = {"+CCLK": cclk, "+QNTP": qntp}
