"""Checks on every value that goes into an AT command, before a byte reaches the UART.

A quote would end the string parameter early and CR, LF, Ctrl-Z, ESC or NUL would end or
cancel the command: any of them lets a user string inject AT commands, so all control
characters and quotes are refused. Error messages never repeat a secret value.
"""


def check_text(value, what, maxlen, secret=False):
    """Return `value` (str) if it is printable ASCII without quotes, else raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("%s must be a str" % what)
    if len(value) > maxlen:
        raise ValueError("%s is longer than %d characters" % (what, maxlen))
    for ch in value:
        c = ord(ch)
        if c < 32 or c > 126 or ch == '"':
            if secret:
                raise ValueError("%s contains a character that is not allowed" % what)
            raise ValueError("%s contains a forbidden character %r" % (what, ch))
    return value


def check_host(value, what="host"):
    """A host name or address: non-empty text (see check_text), at most 253 characters."""
    if value == "":
        raise ValueError("%s is empty" % what)
    return check_text(value, what, 253)


def check_address(address):
    """(host, port) of a remote peer, checked (port 1-65535)."""
    if not isinstance(address, (tuple, list)) or len(address) != 2:
        raise TypeError("address must be a (host, port) tuple")
    return check_host(address[0]), check_port(address[1], 1)


def check_int(value, lo, hi, what):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError("%s must be an integer %d-%d" % (what, lo, hi))
    return value


def check_context(ctx):
    return check_int(ctx, 1, 16, "context ID")  # section 2.1: contexts 1-16


def check_port(port, lo=0):
    return check_int(port, lo, 65535, "remote port" if lo else "port")  # section 2.4
