"""Power state and the PWRKEY and RESET pins: boot, reboot, power-down, reset."""

from .limits import RESET_MS


class Power:
    """state: 'off', 'booting', 'on', 'down' (powering down) or 'reset' (RESET held low).

    m is the module: its shutdown() drops all volatile state, its pins carry STATUS.
    """

    def __init__(self, m, powered, boot_ms, pwrkey_on_ms, pwrkey_off_ms, qpowd_ms):
        self.m = m
        self.state = "on" if powered else "off"
        self.boot_ms = boot_ms
        self.pwrkey_on_ms = pwrkey_on_ms
        self.pwrkey_off_ms = pwrkey_off_ms  # None: PWRKEY cannot power the module off
        self.qpowd_ms = qpowd_ms
        self.pwrkey = 1
        self.reset = 1
        self._pk_edge = 0
        self._rst_edge = 0

    def on(self):
        return self.state == "on"

    def pin(self, name, level):
        """PWRKEY or RESET changed level (other names are not ours)."""
        at = self.m.loop.at
        if name == "PWRKEY":
            old, self.pwrkey = self.pwrkey, level
            if old == 1 and level == 0:
                self._pk_edge += 1
                edge = self._pk_edge
                if self.state == "off":
                    at(self.pwrkey_on_ms, lambda: self._pwrkey_on(edge), gen=False)
                elif self.state == "on" and self.pwrkey_off_ms is not None:
                    at(self.pwrkey_off_ms, lambda: self._pwrkey_off(edge), gen=False)
        elif name == "RESET":
            old, self.reset = self.reset, level
            if old == 1 and level == 0:
                self._rst_edge += 1
                edge = self._rst_edge
                at(RESET_MS, lambda: self._reset_held(edge), gen=False)
            elif old == 0 and level == 1 and self.state == "reset":
                self.boot()

    def _pwrkey_on(self, edge):
        if self.pwrkey == 0 and self._pk_edge == edge and self.state == "off":
            self.boot()

    def _pwrkey_off(self, edge):
        if self.pwrkey == 0 and self._pk_edge == edge and self.state == "on":
            self.power_down()

    def _reset_held(self, edge):
        if self.reset == 0 and self._rst_edge == edge and self.state != "off":
            self.m.shutdown()
            self.state = "reset"
            self.m.pins.drive("STATUS", 0)

    def boot(self):
        self.state = "booting"
        self.m.pins.drive("STATUS", 0)

        def done():
            self.state = "on"
            self.m.pins.drive("STATUS", 1)
            self.m.faults.emit(b"\r\nRDY\r\n")

        self.m.loop.at(self.boot_ms, done)

    def reboot(self):
        """Sockets closed, contexts down, STATUS 0, then RDY and STATUS 1 after boot_ms."""
        if self.state == "off":
            return
        self.m.shutdown()
        self.boot()

    def power_down(self):
        """POWERED DOWN, then STATUS 0 once it is written."""
        self.m.shutdown()
        self.state = "down"
        self.m.faults.emit(b"\r\nPOWERED DOWN\r\n")

        def off():
            self.state = "off"
            self.m.pins.drive("STATUS", 0)

        self.m.uart.after_output(off)

    def qpowd(self, mode):
        """AT+QPOWD answered OK: power down now (mode 0) or after qpowd_ms (mode 1)."""
        self.state = "down"
        self.m.shutdown()
        self.m.loop.at(self.qpowd_ms if mode == 1 else 0, self.power_down)
