"""IPv4 address checks: only loopback is reachable from the virtual module."""


def is_ipv4(s):
    parts = s.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or len(p) > 3 or int(p) > 255:
            return False
    return True


def is_loopback(ip):
    return is_ipv4(ip) and ip.split(".")[0] == "127"
