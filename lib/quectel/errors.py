"""Exceptions raised by the driver.

Every one is an `OSError` (as MicroPython's own network stack raises), so `except OSError`
in socket code catches it; `errno` says what kind. `TCPIPError` subclasses mirror the
error-code table of the manual's chapter 3 (codes 552-574); `error_for(code, text)` builds
the right one from an `AT+QIGETERROR` answer.
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
    """Base class of every error this package raises on purpose."""

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

    code = None

    def __init__(self, text="ERROR", code=None, command=None):
        if code is None:
            code = self.code
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
    """An error code from chapter 3 of the TCP/IP manual."""


# Chapter 3 codes -> errno for socket callers.
_ERRNO = {554: errno.ECONNREFUSED, 555: errno.ECONNRESET, 557: errno.EINVAL,
          558: errno.EINVAL, 562: errno.EADDRINUSE, 565: errno.EHOSTUNREACH,
          568: errno.EADDRINUSE, 569: errno.ENOMEM, 571: errno.ETIMEDOUT,
          574: errno.EHOSTUNREACH}  # fmt: skip


class UnknownError(TCPIPError):
    code = 552


class OperationBlocked(TCPIPError):
    code = 553


class OpenFailed(TCPIPError):
    code = 554


class ConnectionClosed(TCPIPError):
    code = 555


class PDPActivationFailed(TCPIPError):
    code = 556


class InvalidIPAddress(TCPIPError):
    code = 557


class InvalidParameters(TCPIPError):
    code = 558


class NotSupported(TCPIPError):
    code = 559


class SocketCreateFailed(TCPIPError):
    code = 560


class InvalidSocketID(TCPIPError):
    code = 561


class SocketIDInUse(TCPIPError):
    code = 562


class PDPAlreadyActive(TCPIPError):
    code = 563


class InvalidAppType(TCPIPError):
    code = 564


class DNSFailed(TCPIPError):
    code = 565


class InvalidOperation(TCPIPError):
    code = 566


class ListenFailed(TCPIPError):
    code = 567


class BindFailed(TCPIPError):
    code = 568


class OutOfMemory(TCPIPError):
    code = 569


class SocketIDUnused(TCPIPError):
    code = 570


class OperationTimeout(TCPIPError):
    code = 571


class NTPNoResponse(TCPIPError):
    code = 572


class PDPActivating(TCPIPError):
    code = 573


class DNSBusy(TCPIPError):
    code = 574


# Chapter 3, table 1: code -> (class, the manual's description).
_TABLE = {
    0: (TCPIPError, "Operate successfully"),
    552: (UnknownError, "Unknown error"),
    553: (OperationBlocked, "Operation blocked"),
    554: (OpenFailed, "Open connection failed"),
    555: (ConnectionClosed, "Connection has been closed"),
    556: (PDPActivationFailed, "Active PDP failed"),
    557: (InvalidIPAddress, "Invalid IP address"),
    558: (InvalidParameters, "Invalid parameters"),
    559: (NotSupported, "Operation not supported"),
    560: (SocketCreateFailed, "Create socket failed"),
    561: (InvalidSocketID, "Invalid socket ID"),
    562: (SocketIDInUse, "Specified socket index has been used"),
    563: (PDPAlreadyActive, "PDP has already been activated"),
    564: (InvalidAppType, "Invalid APP type"),
    565: (DNSFailed, "DNS parse failed"),
    566: (InvalidOperation, "Invalid operation"),
    567: (ListenFailed, "Socket listen failed"),
    568: (BindFailed, "Bind socket failed"),
    569: (OutOfMemory, "Memory not enough"),
    570: (SocketIDUnused, "Socket index unused"),
    571: (OperationTimeout, "Operation timeout"),
    572: (NTPNoResponse, "No NTP response returns"),
    573: (PDPActivating, "PDP is activating"),
    574: (DNSBusy, "DNS parse busy"),
}


def error_text(code):
    """The manual's description of a chapter 3 error code."""
    entry = _TABLE.get(code)
    return entry[1] if entry else "Error %d" % code


def error_for(code, text=None, command=None):
    """The exception for a chapter 3 error code; unknown codes give a plain `TCPIPError`."""
    entry = _TABLE.get(code)
    cls = entry[0] if entry else TCPIPError
    return cls(text or error_text(code), code, command)
