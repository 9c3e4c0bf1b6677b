"""Identity and network utilities of the module: ping (section 2.10), NTP (2.11), the DNS
servers (2.12), the transparent-mode settings (2.14), the address, the signal and the
identity (3GPP TS 27.007 commands every Quectel module answers), as generator procedures
over a `Modem` (loaded on demand, released after use: see `quectel.modem`), and their
parsers."""

import errno

from . import parse, query
from .errors import error_for, oserror
from .parse import _fields, _int, _str
from .validate import check_host, check_int, check_port


def parse_qping(line):
    """A +QPING line (section 2.10).

    Per reply: (0, ip, bytes, time_ms, ttl) or (1,) for a timeout.
    Final: (2, sent, rcvd, lost, min, max, avg) or (code,) for 3, 4, 5.
    """
    p = _fields(line, b"+QPING:", 1, 7)
    r = _int(p[0])
    if r == 0 and len(p) == 5:
        return r, str(p[1]), _int(p[2]), _int(p[3]), _int(p[4])
    if r == 2 and len(p) == 7:
        return (r,) + tuple(_int(v) for v in p[1:])
    if len(p) == 1 and r in (1, 3, 4, 5):
        return (r,)
    raise ValueError("bad +QPING")


def parse_ntp_time(s):
    """`YYYY/MM/DD,hh:mm:ss+zz` -> ((year, month, day, hour, minute, second), zone).

    zz counts quarter hours from UTC, -48..56 (section 2.11); zone is returned in minutes.
    """
    if len(s) != 22 or s[4] != "/" or s[7] != "/" or s[10] != "," or s[19] not in "+-":
        raise ValueError("bad NTP time: %r" % s)
    try:
        t = (int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]))
        q = int(s[20:22])
    except ValueError:
        raise ValueError("bad NTP time: %r" % s)
    if s[19] == "-":
        q = -q
    if not (1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] < 24 and t[4] < 60 and t[5] < 61):
        raise ValueError("bad NTP time: %r" % s)
    if not -48 <= q <= 56:
        raise ValueError("bad NTP zone: %r" % s)
    return t, q * 15


def parse_qntp(line):
    """+QNTP: <err>[,<time>] -> (err, time tuple or None, zone minutes or None)."""
    p = _fields(line, b"+QNTP:", 1, 2)
    err = _int(p[0])
    if len(p) == 1 or p[1] is None:
        return err, None, None
    t, zone = parse_ntp_time(_str(p[1]))
    return err, t, zone


def parse_qidnscfg(line):
    """+QIDNSCFG: <ctx>,<pri>,<sec> -> (ctx, primary, secondary)."""
    p = _fields(line, b"+QIDNSCFG:", 2, 3)
    sec = _str(p[2]) if len(p) == 3 and p[2] is not None else ""
    return _int(p[0]), _str(p[1]), sec


def parse_qicfg(line):
    """+QICFG: "<name>",<value> -> (name, value)."""
    p = _fields(line, b"+QICFG:", 2)
    return _str(p[0]), p[1]


def _weekday(y, m, d):
    # Monday = 0, as MicroPython's RTC expects (Sakamoto's method gives Sunday = 0).
    t = (0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4)
    if m < 3:
        y -= 1
    return (y + y // 4 - y // 100 + y // 400 + t[m - 1] + d + 6) % 7


def _ping_done(got):
    return got and got[-1][0] >= 2


def g_ping(m, host, timeout=1, count=4):
    """AT+QPING: ([(ip, bytes, time_ms, ttl) or None per request], summary or code).

    The summary is (sent, rcvd, lost, min, max, avg); on failure an int (3 busy,
    4 host not found, 5 PDP failed), as section 2.10 says.
    """
    host = check_host(host)
    check_int(timeout, 1, 255, "ping timeout")  # section 2.10
    check_int(count, 1, 10, "ping count")
    cmd = ('AT+QPING=%d,"%s",%d,%d' % (m.context, host, timeout, count)).encode()
    got = yield from query.g_urc_result(m, b"+QPING:", cmd, (timeout * count + 10) * 1000,
                                    _ping_done, parse_qping)  # fmt: skip
    replies = []
    summary = None
    for r in got:
        if r[0] == 0:
            replies.append(r[1:])
        elif r[0] == 1:
            replies.append(None)
        else:
            summary = r[1:] if r[0] == 2 else r[0]
    return replies, summary


def g_ntp(m, server, port=123, rtc=None, set_module=False):
    """AT+QNTP: ((year, month, day, hour, minute, second), zone_minutes) in UTC.

    Pass a `machine.RTC()` as `rtc` to set it; `set_module` sets the module's clock.
    """
    server = check_host(server, "NTP server")
    check_port(port, 1)
    cmd = 'AT+QNTP=%d,"%s",%d,%d' % (m.context, server, port, 1 if set_module else 0)
    got = yield from query.g_urc_result(
        m, b"+QNTP:", cmd.encode(), m.policy.qntp_ms, len, parse_qntp
    )
    err, t, zone = got[0]
    if err or t is None:
        raise error_for(err or 572, None, "AT+QNTP")
    if set_module:
        m.module_clock_set = True  # quectel.tls may now let the module check certificate dates
    if rtc is not None:
        rtc.datetime((t[0], t[1], t[2], _weekday(t[0], t[1], t[2]), t[3], t[4], t[5], 0))
    return t, zone


def g_dns_servers(m, primary=None, secondary=None):
    """Set (with arguments) or query the context's DNS servers (AT+QIDNSCFG)."""
    ctx = m.context
    if primary is not None:
        primary = check_host(primary, "DNS server")
        cmd = 'AT+QIDNSCFG=%d,"%s"' % (ctx, primary)
        if secondary is not None:
            cmd += ',"%s"' % check_host(secondary, "DNS server")
        yield from m.g_command(cmd.encode())
        m.dns = []
    return parse_qidnscfg((yield from query.g_info1(m, b"AT+QIDNSCFG=%d" % ctx)))[1:]


_LIMITS = {"transpktsize": (1, 1460), "transwaittm": (0, 20)}  # section 2.14


def g_config(m, *args, **kw):
    """AT+QICFG "transpktsize" (1-1460) and "transwaittm" (0-20, in 100 ms): query
    with `config('transpktsize')`; set with `config(transpktsize=512)` (as MicroPython's
    network interfaces) or `config('transpktsize', 512)`."""
    if kw and args or len(args) > 2 or len(kw) > 1 or not (args or kw):
        raise TypeError("config('name'[, value]) or config(name=value)")
    if kw:
        args = list(kw.items())[0]
    return (yield from _g_config(m, *args))


def _g_config(m, name, value=None):
    if not isinstance(name, str) or name not in _LIMITS:
        raise ValueError("config name must be 'transpktsize' or 'transwaittm'")
    if value is None:
        return parse_qicfg((yield from query.g_info1(m, b'AT+QICFG="%s"' % name.encode())))[1]
    lo, hi = _LIMITS[name]
    check_int(value, lo, hi, name)
    yield from m.g_command(b'AT+QICFG="%s",%d' % (name.encode(), value))
    return value


def g_ipconfig(m, *param, **kw):
    """As MicroPython's network interfaces: `ipconfig('addr4')` -> (ip, netmask),
    'gw4' -> gateway, 'dns4' -> primary DNS server, 'dhcp4' -> True (the network
    assigns the address); `ipconfig(dns4='8.8.8.8')` sets the DNS server. The address
    itself cannot be set (EOPNOTSUPP)."""
    if param and kw or len(param) > 1:
        raise TypeError("ipconfig('name') or ipconfig(name=value)")
    if param:
        name = param[0]
        if name == "addr4":
            return (m.ip or "0.0.0.0", "255.255.255.255")
        if name == "gw4":
            return m.ip or "0.0.0.0"
        if name == "dns4":
            return (yield from g_dns_servers(m))[0]
        if name == "dhcp4":
            return True
        raise ValueError("unknown ipconfig parameter")
    for name in kw:
        if name != "dns4":
            raise OSError(errno.EOPNOTSUPP, "the network assigns %s" % name)
    if "dns4" in kw:
        yield from g_dns_servers(m, kw["dns4"])


def g_signal(m):
    """(rssi_dbm, ber) from AT+CSQ; None for "not known" (99)."""
    p = parse.split_params((yield from query.g_info1(m, b"AT+CSQ"))[5:])
    rssi, ber = p[0], p[1]
    dbm = None if rssi == 99 else -113 + 2 * rssi  # 0: -113 dBm or less, 31: -51 or more
    return dbm, None if ber == 99 else ber


def g_imei(m):
    """The module's IMEI (AT+GSN)."""
    return (yield from query.g_info1(m, b"AT+GSN", b"")).decode()


def g_imsi(m):
    """The SIM's IMSI (AT+CIMI)."""
    return (yield from query.g_info1(m, b"AT+CIMI", b"")).decode()


def g_iccid(m):
    """The SIM's ICCID (AT+QCCID)."""
    return (yield from query.g_info1(m, b"AT+QCCID")).split(b":")[1].strip().decode()


def g_operator(m):
    """The registered network's name (AT+COPS?), or None."""
    p = parse.split_params((yield from query.g_info1(m, b"AT+COPS?"))[6:])
    return p[2] if len(p) > 2 else None


def g_identity(m):
    """(manufacturer, model, revision) from ATI."""
    lines = [x.decode() for x in (yield from query.g_lines(m, b"ATI"))]
    rev = lines[2].split(":", 1)[-1].strip() if len(lines) > 2 else ""
    return (lines[0] if lines else "", lines[1] if len(lines) > 1 else "", rev)


def g_radio(m, on):
    """AT+CFUN=1 (on) or 4 (airplane mode): a soft recovery that keeps the module up."""
    yield from m.g_command(b"AT+CFUN=1" if on else b"AT+CFUN=4", b"", m.policy.cfun_ms)


def g_ifconfig(m):
    """(ip, netmask, gateway, dns) for code written for older MicroPython."""
    ip = m.ip or "0.0.0.0"
    dns = (yield from g_dns_servers(m))[0] if m.isconnected() else "0.0.0.0"
    return (ip, "255.255.255.255", ip, dns)


def g_wait_acked(m, c, timeout_ms=None):
    """Wait until the peer acknowledged every byte connection c sent (see Socket.wait_acked)."""
    c.check()
    if c.ssl:
        raise oserror(errno.EOPNOTSUPP)  # AT+QISEND=<id>,0 has no TLS counterpart
    p = m.policy
    polls = p.ack_polls if timeout_ms is None else max(1, timeout_ms // p.ack_poll_ms)
    for i in range(polls):
        total, _, unacked = parse.parse_qisend(
            (yield from m.g_command(b"AT+QISEND=%d,0" % c.cid))[0]
        )
        if not unacked:
            return total
        if i + 1 < polls:
            yield (None, p.ack_poll_ms)
    raise oserror(errno.ETIMEDOUT)
