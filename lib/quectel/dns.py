"""Names: AT+QIDNSGIP (section 2.13) with a cache kept for each name's DNS TTL. Generator
procedures over a `Modem`, loaded on first use (and kept: HTTP clients resolve often)."""

from . import parse, query
from .errors import error_for
from .validate import check_host, check_port

_AF_INET = 2
_SOCK_STREAM = 1
_DNS_FAILED = 565  # chapter 3


def g_resolve(m, host):
    """Every IPv4 address of `host` (AT+QIDNSGIP), cached for the DNS TTL."""
    host = check_host(host)  # first: a non-str is a ValueError too
    if _is_ipv4(host):
        return [host]
    clock = m.clock
    now = clock.ticks_ms()
    for entry in m.dns:
        if entry[0] == host and clock.ticks_diff(entry[1], now) > 0:
            return entry[2]
    p = m.policy
    cmd = ('AT+QIDNSGIP=%d,"%s"' % (m.context, host)).encode()
    got = yield from query.g_urc_result(
        m, b'+QIURC: "dnsgip",', cmd, p.qidnsgip_ms, _dns_done, _dnsgip
    )
    head = got[0]
    if head[0] != 0 or len(head) < 3:
        raise error_for(head[0] or _DNS_FAILED, None, "AT+QIDNSGIP")
    ips = [str(g[0]) for g in got[1 : 1 + head[1]]]
    if not ips:
        raise error_for(_DNS_FAILED, None, "AT+QIDNSGIP")
    m.dns = [e for e in m.dns if e[0] != host][-(p.dns_cache - 1) :]
    ttl = min(head[2], p.dns_ttl_max_s)
    m.dns.append((host, clock.ticks_add(now, ttl * 1000), ips))
    return ips


def g_getaddrinfo(m, host, port, af=0, type=0, proto=0, flags=0):
    """Like socket.getaddrinfo: [(AF_INET, type, proto, '', (ip, port)), ...]."""
    check_port(port)
    ips = yield from g_resolve(m, host)
    return [(_AF_INET, type or _SOCK_STREAM, proto, "", (ip, port)) for ip in ips]


def _dnsgip(line):
    return parse.parse_qiurc(line)[1:]


def _dns_done(got):
    # +QIURC: "dnsgip",<err>,<count>,<ttl> then <count> addresses (section 2.13).
    return got and (got[0][0] != 0 or len(got) > got[0][1])


def _is_ipv4(s):
    parts = s.split(".")
    return len(parts) == 4 and all(x.isdigit() and int(x) < 256 for x in parts)
