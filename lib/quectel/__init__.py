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
from .modem import (
    STAT_BACKOFF,
    STAT_CONNECTING,
    STAT_GOT_IP,
    STAT_IDLE,
    STAT_NO_RESPONSE,
    STAT_NO_SIM,
    STAT_NOT_REGISTERED,
    STAT_OFF,
    STAT_PDP_FAILED,
    Modem,
)
from .policy import Policy

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
    "STAT_BACKOFF",
    "STAT_CONNECTING",
    "STAT_GOT_IP",
    "STAT_IDLE",
    "STAT_NOT_REGISTERED",
    "STAT_NO_RESPONSE",
    "STAT_NO_SIM",
    "STAT_OFF",
    "STAT_PDP_FAILED",
    "ProtocolError",
    "QuectelError",
    "TCPIPError",
    "error_for",
]
__version__ = "0.1.0"
