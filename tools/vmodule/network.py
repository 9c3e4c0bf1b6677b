"""SIM, radio and registration state (+CPIN, +CFUN, +CREG, +CGREG, +CSQ, +CTZR, +CTZU)."""

from .errors import CmeError


class Network:
    """What the network and the SIM say. reset() is a power cycle; the rest is the world."""

    def __init__(self, sim="READY", pin="1234", creg=1, cgreg=1, csq=20):
        self.sim = sim  # 'READY', 'absent' or 'SIM PIN'
        self.sim_pin = pin
        self.creg = creg
        self.cgreg = cgreg
        self.csq = csq
        self.ber = 99
        self.reset()

    def reset(self):
        self.sim_unlocked = False
        self.cfun = 1
        self.creg_n = 0
        self.cgreg_n = 0
        self.ctzr = 0
        self.ctzu = 0

    def sim_ready(self):
        return self.sim == "READY" or (self.sim == "SIM PIN" and self.sim_unlocked)

    def sim_check(self):
        """+CME ERROR unless the SIM can be used."""
        if self.sim == "absent":
            raise CmeError(10)
        if self.sim == "SIM PIN" and not self.sim_unlocked:
            raise CmeError(11)

    def reg(self, which):
        """Registration state of "CREG" (CS) or "CGREG" (PS) as the module sees it."""
        if not self.sim_ready() or self.cfun != 1:
            return 0
        return self.creg if which == "CREG" else self.cgreg

    def registered(self, which):
        return self.reg(which) in (1, 5)

    def reg_line(self, which, n, urc=False):
        st = self.reg(which)
        head = "+%s: " % which + ("" if urc else "%d," % n)
        if n == 2 and st in (1, 5):
            return head + '%d,"D509","80D413D",2' % st
        return head + "%d" % st

    def snapshot(self):
        return (self.reg("CREG"), self.reg("CGREG"))

    def reg_urcs(self, before):
        """The +CREG/+CGREG URCs for the changes since snapshot() gave before."""
        out = []
        if self.reg("CREG") != before[0] and self.creg_n:
            out.append(b"\r\n" + self.reg_line("CREG", self.creg_n, True).encode() + b"\r\n")
        if self.reg("CGREG") != before[1] and self.cgreg_n:
            out.append(b"\r\n" + self.reg_line("CGREG", self.cgreg_n, True).encode() + b"\r\n")
        return out

    def set_registration(self, cs, ps):
        """Set CS / PS registration state; returns the URCs it raises."""
        before = self.snapshot()
        if cs is not None:
            self.creg = cs
        if ps is not None:
            self.cgreg = ps
        return self.reg_urcs(before)
