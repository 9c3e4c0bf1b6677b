"""A `network` module facade: `WLAN(STA_IF)` over a `quectel.Modem`, so code written for
Wi-Fi (`mqtt_as`, anything that calls `network.WLAN(network.STA_IF)`) runs over cellular:

    import quectel.network
    quectel.network.use(modem, apn="internet")  # now `import network` / `socket` mean these
    import mqtt_as

`status()` speaks the port's Wi-Fi numbers (ESP32's, or CYW43's on rp2).
"""

import sys

from . import modem as _m

STA_IF = 0
AP_IF = 1

if sys.platform == "rp2":  # CYW43 numbering
    STAT_IDLE = 0
    STAT_CONNECTING = 1
    STAT_GOT_IP = 3
    STAT_CONNECT_FAIL = -1
    STAT_NO_AP_FOUND = -2
    STAT_WRONG_PASSWORD = -3
else:  # ESP32 numbering
    STAT_IDLE = 1000
    STAT_CONNECTING = 1001
    STAT_GOT_IP = 1010
    STAT_NO_AP_FOUND = 201
    STAT_WRONG_PASSWORD = 202
    STAT_CONNECT_FAIL = 203

_STATUS = {
    _m.STAT_OFF: STAT_IDLE,
    _m.STAT_IDLE: STAT_IDLE,
    _m.STAT_CONNECTING: STAT_CONNECTING,
    _m.STAT_GOT_IP: STAT_GOT_IP,
    _m.STAT_BACKOFF: STAT_CONNECT_FAIL,
    _m.STAT_NO_SIM: STAT_NO_AP_FOUND,
    _m.STAT_NOT_REGISTERED: STAT_NO_AP_FOUND,
    _m.STAT_PDP_FAILED: STAT_WRONG_PASSWORD,
    _m.STAT_NO_RESPONSE: STAT_CONNECT_FAIL,
}

_modem = None
_apn = ""
_user = ""
_key = ""


def use(modem, apn="", user="", key=""):
    """Make `WLAN(STA_IF)` drive `modem` (data connection on `apn`), install this module as
    `network`, and `quectel.socket` as `socket` (see quectel.socket.use)."""
    global _modem, _apn, _user, _key
    from . import socket as _socket

    _modem = modem
    _apn = apn
    _user = user
    _key = key
    _socket.use(modem)
    sys.modules["network"] = sys.modules[__name__]


class WLAN:
    """The modem as a Wi-Fi station: `WLAN(STA_IF)` after `use(modem)`."""

    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __init__(self, interface=STA_IF):
        if interface != STA_IF:
            raise ValueError("only STA_IF: a cellular module has no access point")
        if _modem is None:
            raise OSError(19, "no modem: call quectel.network.use(modem) first")  # ENODEV
        self.modem = _modem

    def active(self, on=None):
        """Whether the module is powered; `active(True|False)` powers it on or off."""
        return self.modem.active(on)

    def connect(self, ssid=None, key=None, **kw):
        """Bring the data connection up (blocking; at once if it is up): `ssid` is the APN
        (None: the one given to `use()`), `key` its password. In an asyncio program, call
        `AModem.connect()` first."""
        m = self.modem
        if m.isconnected():
            return
        apn = _apn if ssid is None else ssid
        m.connect(apn, _user, _key if key is None else key)

    def disconnect(self):
        """Close the sockets and deactivate the PDP context."""
        self.modem.disconnect()

    def isconnected(self):
        return self.modem.isconnected()

    def status(self, param=None):
        """A STAT_* value of this module; `status('rssi')` is the signal in dBm."""
        if param is not None:
            return self.modem.status(param)
        return _STATUS.get(self.modem.state, STAT_CONNECT_FAIL)

    def ifconfig(self, config=None):
        if config is not None:
            raise OSError(95, "the network assigns the address")  # EOPNOTSUPP
        return self.modem.ifconfig()

    def ipconfig(self, *param, **kw):
        return self.modem.ipconfig(*param, **kw)

    def config(self, *args, **kw):
        """Settings Wi-Fi code passes (`pm=`, `txpower=`, ...) are accepted and ignored;
        queries: 'essid'/'ssid' (the APN), 'mac' (6 bytes derived from the IMEI),
        'hostname'."""
        if not args:
            return None
        what = args[0]
        if what in ("essid", "ssid"):
            return _apn
        if what == "mac":
            n = int(self.modem.imei()) & 0xFFFFFFFFFFFF
            return bytes((n >> s) & 0xFF for s in (40, 32, 24, 16, 8, 0))
        if what == "hostname":
            return "quectel"
        raise ValueError("unknown config param")

    def scan(self):
        return []
