"""Files on the module (AT+QFUPL, AT+QFLST, AT+QFDEL): the certificates and keys its TLS uses.

    from quectel import files
    files.upload(modem, "ca.pem", pem_bytes)   # skipped when the same file is there
    files.listdir(modem)                        # [("ca.pem", 1188), ("RAM:k.pem", 1704)]
    files.remove(modem, "ca.pem")

An upload is checked against the size and checksum the module reports (`+QFUPL: size,cks`):
a mismatch deletes the bad file and raises OSError(EIO). Names are checked before anything
reaches the UART; a private key's bytes (`secret=True`) never appear in traces.
"""

import errno

from .errors import ATTimeout, CMEError, QuectelError
from .parse import split_params
from .validate import check_text

MAX_NAME = 80  # the FILE notes: longer names give +CME ERROR: 406
UPLOAD_IDLE_S = 10  # AT+QFUPL <timeout>: seconds without input before the module gives up
_MISSING = 405  # +CME ERROR: file not found
_ANSWER_MS = 5000  # for +QFUPL after the last byte; the notes give no limit


def checksum(data):
    """The module's upload checksum: XOR of 16-bit words, first byte high (an odd last byte
    is a high byte)."""
    c = 0
    n = len(data)
    for i in range(0, n - 1, 2):
        c ^= data[i] << 8 | data[i + 1]
    if n & 1:
        c ^= data[n - 1] << 8
    return c


def check_name(name):
    """A file name ("ca.pem", "UFS:ca.pem", "RAM:key.pem"): printable ASCII without quotes,
    at most 80 characters, no wildcard (AT+QFDEL="*" deletes every file)."""
    check_text(name, "file name", MAX_NAME)
    if not name or "*" in name or "?" in name:
        raise ValueError("file name must be non-empty and without wildcards")
    return name


def _missing(e):
    # 405 "file not found": numeric, or as text under AT+CMEE=2 (which the modem sets)
    return e.code == _MISSING or "not found" in e.text


def _short(name):
    # "UFS:ca.pem" -> "ca.pem": UFS is the default drive
    return name[4:] if name.startswith("UFS:") else name


def g_listdir(modem, pattern="*"):
    """Generator procedure: [(name, size)] of the files matching pattern ("RAM:*" for RAM)."""
    check_text(pattern, "pattern", MAX_NAME)
    try:
        lines = yield from modem.g_command(b'AT+QFLST="%s"' % pattern.encode())
    except CMEError as e:
        if _missing(e):
            return []
        raise
    out = []
    for line in lines:
        p = split_params(line[line.find(b":") + 1 :])
        out.append((_short(p[0]), p[1]))
    return out


def g_remove(modem, name):
    """Generator procedure: delete a file; False if it was not there."""
    try:
        yield from modem.g_command(b'AT+QFDEL="%s"' % check_name(name).encode(), b"")
    except CMEError as e:
        if _missing(e):
            return False
        raise
    return True


def g_upload(modem, name, data, secret=False):
    """Generator procedure: store data as name unless a file of that name and the same size
    is there already (the module lists sizes only: a file that may differ in content at the
    same size is not detected; quectel.tls names its files by their checksum for this
    reason). Another file of that name is replaced. Returns True if it uploaded."""
    check_name(name)
    if not data:
        raise ValueError("nothing to upload")
    there = yield from g_listdir(modem, name)
    if there:
        if there[0][1] == len(data):
            return False
        yield from g_remove(modem, name)
    at = modem.at
    cmd = b'AT+QFUPL="%s",%d,%d' % (name.encode(), len(data), UPLOAD_IDLE_S)
    yield from modem.g_command(cmd, b"", connect=True)  # CONNECT: the bytes are taken now
    at.expect(b"AT+QFUPL", b"+QFUPL:")
    trace = at.trace
    try:
        if trace and secret:
            trace(">", b"<%d secret bytes>" % len(data))
            at.trace = None
        at.write(data)
    except BaseException:  # noqa: B036 (the module takes the rest of its file as commands)
        at.abort()
        raise
    finally:
        at.trace = trace
    if not (yield (at.finished_fn, _ANSWER_MS)):
        at.abort()
        raise ATTimeout("AT+QFUPL", _ANSWER_MS)
    try:
        lines = at.end(b"AT+QFUPL")
    except QuectelError:
        yield from g_remove(modem, name)  # what arrived before the error stays in the file
        raise
    try:
        size, cks = lines[0][7:].split(b",")
        size, cks = int(size), int(cks, 16)
    except (IndexError, ValueError):  # no answer line, or a garbled one
        size = cks = -1
    if size != len(data) or cks != checksum(data):
        yield from g_remove(modem, name)
        raise QuectelError("upload of %s arrived damaged: deleted" % name, errno.EIO)
    return True


def upload(modem, name, data, secret=False):
    """Store data (bytes) on the module as name; see `g_upload`."""
    return modem.at.run(g_upload(modem, name, data, secret))


def listdir(modem, pattern="*"):
    """[(name, size)] of the module's files matching pattern ("*": UFS, "RAM:*": RAM)."""
    return modem.at.run(g_listdir(modem, pattern))


def remove(modem, name):
    """Delete a file on the module; False if it was not there."""
    return modem.at.run(g_remove(modem, name))
