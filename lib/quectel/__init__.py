"""Cellular Internet for MicroPython through a Quectel module's embedded TCP/IP stack."""

from .engine import ATEngine, Events
from .errors import (
    ATError,
    ATTimeout,
    CMEError,
    ProtocolError,
    QuectelError,
    SendFailed,
    TCPIPError,
    error_for,
)

__version__ = "0.1.0"
