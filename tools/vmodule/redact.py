"""Secrets never reach the log: the password of AT+QICSGP (and of its read answer) and the PIN."""

import re

_SECRETS = re.compile(
    rb'((?:AT\+QICSGP=|\+QICSGP: )[^"\r]*"[^"]*","[^"]*",")([^"]*)|((?:AT\+CPIN=")[^"]*)', re.I
)


def redact(data):
    return _SECRETS.sub(
        lambda m: m.group(1) + b"<redacted>" if m.group(1) else b'AT+CPIN="<redacted>', data
    )
