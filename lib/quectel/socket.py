"""A `socket` module over a Modem, so code written for MicroPython's socket runs unchanged.

import quectel.socket
quectel.socket.use(modem)   # now `import socket` anywhere gives this module
"""

import sys

from .errors import QuectelError
from .sock import (  # noqa: F401  (re-exported constants)
    AF_INET,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SO_REUSEADDR,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
)

_modem = None
error = OSError


def use(modem):
    """Make `modem` serve `socket()`/`getaddrinfo()` and install this module as `socket`."""
    global _modem
    _modem = modem
    me = sys.modules[__name__]
    sys.modules["socket"] = me
    sys.modules["usocket"] = me


def _current():
    if _modem is None:
        raise OSError("no modem: call quectel.socket.use(modem) first")
    return _modem


def socket(af=AF_INET, type=SOCK_STREAM, proto=0):
    return _current().socket(af, type, proto)


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    try:
        return _current().getaddrinfo(host, port, af, type, proto, flags)
    except OSError:
        raise
    except QuectelError as e:  # DNS failure: MicroPython's socket raises OSError too
        raise OSError(-2) from e
