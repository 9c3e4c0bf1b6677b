"""Exceptions raised by the driver.

`TCPIPError` subclasses mirror the error-code table of the manual's chapter 3 (codes 552-574);
`error_for(code, text)` builds the right one from an `AT+QIGETERROR` answer.
"""


class QuectelError(Exception):
    """Base class of every error this package raises on purpose."""


class ATTimeout(QuectelError):
    """The module gave no final result within the command's maximum response time."""

    def __init__(self, command, timeout_ms):
        super().__init__("no response to %s within %d ms" % (command, timeout_ms))
        self.command = command
        self.timeout_ms = timeout_ms


class ProtocolError(QuectelError):
    """The module's output broke the protocol (for example a data header longer than asked)."""


class ATError(QuectelError):
    """The module answered ERROR; `code` and `text` say why when it told us."""

    code = None

    def __init__(self, text="ERROR", code=None, command=None):
        super().__init__(text if code is None else "%s (%d)" % (text, code))
        if code is not None:
            self.code = code
        self.text = text
        self.command = command


class CMEError(ATError):
    """`+CME ERROR: <n>` or `+CME ERROR: <text>` (3GPP equipment error)."""


class ModuleRestarted(ATError):
    """`RDY` arrived while a command ran: the module rebooted and will not answer it."""


class TCPIPError(ATError):
    """An error code from chapter 3 of the TCP/IP manual."""


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
