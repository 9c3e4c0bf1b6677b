"""PDP contexts: their configuration (kept over power cycles) and which are active."""

from .limits import MAX_ACTIVE, MAX_CTX


class Contexts:
    """cfg and dns survive a reboot (NV items); active does not."""

    def __init__(self, ip):
        self.ip = ip  # address of context 1; context n gets the n-th address from it
        self.cfg = {i: [1, "", "", "", 0] for i in range(1, MAX_CTX + 1)}  # type,apn,user,pw,auth
        self.dns = {}  # ctx -> (primary, secondary)
        self.active = {}  # ctx -> ip

    def reset(self):
        self.active = {}

    def ip_of(self, ctx):
        parts = self.ip.split(".")
        parts[3] = str((int(parts[3]) + ctx - 1) % 256)
        return ".".join(parts)

    def full(self):
        return len(self.active) >= MAX_ACTIVE

    def activate(self, ctx):
        self.active[ctx] = self.ip_of(ctx)
