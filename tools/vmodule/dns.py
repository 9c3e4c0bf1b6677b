"""The module's name table: host names resolve only through it."""

from .addresses import is_ipv4


class DNSTable:
    def __init__(self, names=None):
        self.names = {"localhost": "127.0.0.1"} if names is None else dict(names)

    def set(self, name, ip):
        """Add name (ip: str or list of str; None removes it)."""
        if ip is None:
            self.names.pop(name.lower(), None)
        else:
            self.names[name.lower()] = ip

    def lookup(self, host):
        """List of IPs for host (IPv4 literal or a name in the table)."""
        if is_ipv4(host):
            return [host]
        v = self.names.get(host.lower())
        if v is None:
            v = self.names.get(host)
        if v is None:
            return []
        return [v] if isinstance(v, str) else list(v)
