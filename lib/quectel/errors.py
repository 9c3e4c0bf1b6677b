"""Exceptions raised by the driver.

Every one is an `OSError` (as MicroPython's own network stack raises), so `except OSError`
in socket code catches it; `errno` says what kind. A `TCPIPError` carries a code of the
manual's chapter 3 (552-574) in `code`; `error_for(code, text)` builds one from an
`AT+QIGETERROR` answer.
"""

import errno
import sys

# Linux's numbers (MicroPython's others follow them) for names MicroPython's errno lacks.
ENODEV = 19
ENFILE = 23
EMSGSIZE = 90
EAFNOSUPPORT = 97
ENETDOWN = 100
ENETUNREACH = 101
EISCONN = 106
_NAMES = {ENFILE: "ENFILE", EMSGSIZE: "EMSGSIZE", EAFNOSUPPORT: "EAFNOSUPPORT",
          ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH", EISCONN: "EISCONN"}  # fmt: skip
_MPY = sys.implementation.name == "micropython"


def oserror(code, text=None):
    """`OSError(code)` whose message names the errno, also where MicroPython has no name."""
    if text is None:
        text = _NAMES.get(code)
        if text is None:
            if _MPY and code in errno.errorcode:
                return OSError(code)  # MicroPython prints the name itself
            text = errno.errorcode.get(code, "error %d" % code)
    return OSError(code, text)


class QuectelError(OSError):
    """Base class of every error this package raises on purpose; `code`, the module's error
    code when it gave one (an ATError), else None."""

    code = None

    def __init__(self, text, no=errno.EIO):
        super().__init__(no, text)


class ATTimeout(QuectelError):
    """The module gave no final result within the command's maximum response time."""

    def __init__(self, command, timeout_ms):
        super().__init__("no response to %s within %d ms" % (command, timeout_ms), errno.ETIMEDOUT)
        self.command = command
        self.timeout_ms = timeout_ms


class ModuleOff(QuectelError):
    """The module is powered off (by us) or not there: nothing was sent."""

    def __init__(self, text="the module is off"):
        super().__init__(text, ENODEV)


class ProtocolError(QuectelError):
    """The module's output broke the protocol (for example a data header longer than asked)."""


class ATError(QuectelError):
    """The module answered ERROR; `code` and `text` say why when it told us."""

    def __init__(self, text="ERROR", code=None, command=None):
        super().__init__(text if code is None else "%s (%d)" % (text, code),
                         _ERRNO.get(code, errno.EIO))  # fmt: skip
        self.code = code
        self.text = text
        self.command = command


class CMEError(ATError):
    """`+CME ERROR: <n>` or `+CME ERROR: <text>` (3GPP equipment error)."""


class ModuleRestarted(ATError):
    """`RDY` arrived while a command ran: the module rebooted and will not answer it."""


class TCPIPError(ATError):
    """An error code from chapter 3 of the TCP/IP manual: `code` says which (565: DNS parse
    failed, 556: PDP activation failed, ...)."""


# Chapter 3 codes -> errno for socket callers.
_ERRNO = {554: errno.ECONNREFUSED, 555: errno.ECONNRESET, 557: errno.EINVAL,
          558: errno.EINVAL, 562: errno.EADDRINUSE, 565: errno.EHOSTUNREACH,
          568: errno.EADDRINUSE, 569: errno.ENOMEM, 571: errno.ETIMEDOUT,
          574: errno.EHOSTUNREACH}  # fmt: skip


# Chapter 3, table 1: the manual's description of codes 552-574.
_TEXTS = ("Unknown error", "Operation blocked", "Open connection failed",
          "Connection has been closed", "Active PDP failed", "Invalid IP address",
          "Invalid parameters", "Operation not supported", "Create socket failed",
          "Invalid socket ID", "Specified socket index has been used",
          "PDP has already been activated", "Invalid APP type", "DNS parse failed",
          "Invalid operation", "Socket listen failed", "Bind socket failed",
          "Memory not enough", "Socket index unused", "Operation timeout",
          "No NTP response returns", "PDP is activating", "DNS parse busy")  # fmt: skip


def error_text(code):
    """The manual's description of a chapter 3 error code."""
    if 552 <= code <= 574:
        return _TEXTS[code - 552]
    return "Operate successfully" if code == 0 else "Error %d" % code


def error_for(code, text=None, command=None):
    """The `TCPIPError` for a chapter 3 error code (its `code` attribute)."""
    return TCPIPError(text or error_text(code), code, command)
