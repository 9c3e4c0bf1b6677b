"""Cellular Internet for MicroPython through a Quectel module's embedded TCP/IP stack."""

from .engine import ATEngine, Events
from .errors import (
    ATError,
    ATTimeout,
    CMEError,
    ModuleOff,
    ModuleRestarted,
    ProtocolError,
    QuectelError,
    TCPIPError,
    error_for,
)
from .modem import Modem, Policy

__all__ = [
    "ATEngine",
    "ATError",
    "ATTimeout",
    "CMEError",
    "Events",
    "Modem",
    "ModuleOff",
    "ModuleRestarted",
    "Policy",
    "ProtocolError",
    "QuectelError",
    "TCPIPError",
    "error_for",
]
__version__ = "0.1.0"
