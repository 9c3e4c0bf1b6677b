"""Cellular Internet for MicroPython through a Quectel module's embedded TCP/IP stack."""

from .engine import ATEngine, Events
from .modem import Modem, Policy
from .errors import (
    ATError,
    ATTimeout,
    CMEError,
    ModuleRestarted,
    ProtocolError,
    QuectelError,
    TCPIPError,
    error_for,
)

__version__ = "0.1.0"
