"""Error codes of the manual and the exceptions command handlers raise for them."""

from .sslfacts import FILE_ERROR_TEXT

# Chapter 3 of the manual (lower case, as AT+QIGETERROR prints them in example 4.9).
ERROR_TEXT = {
    0: "operation successfully",
    552: "unknown error",
    553: "operation blocked",
    554: "open connection failed",
    555: "connection has been closed",
    556: "active PDP failed",
    557: "invalid IP address",
    558: "invalid parameters",
    559: "operation not supported",
    560: "create socket failed",
    561: "invalid socket ID",
    562: "specified socket index has been used",
    563: "PDP has already been activated",
    564: "invalid APP type",
    565: "DNS parse failed",
    566: "invalid operation",
    567: "socket listen failed",
    568: "bind socket failed",
    569: "memory not enough",
    570: "socket index unused",
    571: "operation timeout",
    572: "no NTP response returns",
    573: "PDP is activating",
    574: "DNS parse busy",
}

CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    13: "SIM failure",
    16: "incorrect password",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
    **FILE_ERROR_TEXT,
}


class ParamError(Exception):
    """Bad parameters: ERROR, QIGETERROR 558."""


class TcpError(Exception):
    """A TCP/IP command failed: ERROR, QIGETERROR <code>."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class CmeError(Exception):
    """+CME ERROR: <code> (as CMEE says)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code
