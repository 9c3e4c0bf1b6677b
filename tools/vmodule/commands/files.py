"""FILE commands: AT+QFUPL (upload after CONNECT), AT+QFLST, AT+QFDEL, AT+QFLDS.

AT+QFUPL="[UFS:|RAM:]<name>"[,<size>=10240[,<timeout_s>=5[,<ackmode>=0]]]
    -> CONNECT, then exactly <size> raw bytes (ackmode 1: "A" after each full 1024)
    -> +QFUPL: <size>,<xor16 checksum, lower-case hex> / OK
    -> +CME ERROR: 407 (exists) 420 (no space) 406 (bad name) 400 (bad value)
       421 (no input for <timeout_s>: the bytes so far stay in the file)
AT+QFLST[="<pattern>"]  -> +QFLST: "UFS:<name>",<size> per file / OK; a missing exact name 405
AT+QFDEL="<name>"|"*"|"RAM:*" -> OK, or +CME ERROR: 405
AT+QFLDS="UFS"|"RAM" -> +QFLDS: <free>,<total> / OK;  AT+QFLDS -> +QFLDS: <used>,<count> (UFS)
"""

from ..errors import CmeError, ParamError
from ..files import qf_checksum, split_name
from ..params import int_at, str_at
from ..reply import CONNECT, Reply
from ..sslfacts import (
    ACK_BLOCK,
    DRIVES,
    E_BAD_NAME,
    E_BAD_VALUE,
    E_EXISTS,
    E_NO_SPACE,
    E_NOT_FOUND,
    E_TIMEOUT,
    UPLOAD_DEFAULT_SIZE,
    UPLOAD_DEFAULT_TIMEOUT,
)


def _int(p, i, lo, hi, default):
    try:
        return int_at(p, i, lo, hi, default)
    except ParamError:
        raise CmeError(E_BAD_VALUE) from None


def qfupl(m, kind, p):
    ufs = m.files.drive("UFS")
    if kind == "test":
        return ["+QFUPL: <filename>[,(1-%d)[,(1-65535)[,(0,1)]]]" % ufs.free()]
    if kind != "write" or not 1 <= len(p) <= 4 or not isinstance(p[0], str):
        raise ParamError()
    drive, name = split_name(p[0])
    drv = m.files.drive(drive)
    size = _int(p, 1, 1, 1 << 31, UPLOAD_DEFAULT_SIZE)
    timeout_s = _int(p, 2, 1, 65535, UPLOAD_DEFAULT_TIMEOUT)
    ackmode = _int(p, 3, 0, 1, 0)
    if name in drv.files:
        raise CmeError(E_EXISTS)
    if size > drv.free():
        raise CmeError(E_NO_SPACE)
    up = _Upload(m, drv, name, timeout_s * 1000, ackmode)
    return Reply([], CONNECT, then=lambda: up.start(size))


class _Upload:
    """One AT+QFUPL in data mode: size bytes, or fewer when timeout_ms passes without input."""

    def __init__(self, m, drv, name, timeout_ms, ackmode):
        self.m = m
        self.drv = drv
        self.name = name
        self.timeout_ms = timeout_ms
        self.ackmode = ackmode
        self.acked = 0
        self.last_in = 0.0
        self.prompt = None

    def start(self, size):
        self.last_in = self.m.loop.now_ms()
        self.prompt = self.m.engine.start_prompt(size, self.done, self.on_data, secret=True)
        self.m.loop.at(self.timeout_ms, self.check_timeout)

    def on_data(self, pr):
        self.last_in = self.m.loop.now_ms()
        if self.ackmode:
            blocks = len(pr.buf) // ACK_BLOCK
            if blocks > self.acked:
                self.m.faults.emit(b"A" * (blocks - self.acked))
                self.acked = blocks

    def check_timeout(self):
        if self.m.engine.prompt is not self.prompt:
            return
        left = self.last_in + self.timeout_ms - self.m.loop.now_ms()
        if left > 0:
            self.m.loop.at(left, self.check_timeout)
            return
        self.drv.files[self.name] = self.m.faults.take_corrupt(bytes(self.prompt.buf))
        self.m.engine.end_prompt(b"\r\n+CME ERROR: %d\r\n" % E_TIMEOUT)

    def done(self, data):
        data = self.m.faults.take_corrupt(data)
        self.drv.files[self.name] = data
        return b"\r\n+QFUPL: %d,%x\r\n\r\nOK\r\n" % (len(data), qf_checksum(data))


def _pattern(p, default):
    if len(p) > 1:
        raise ParamError()
    text = str_at(p, 0, default)
    return split_name(text, pattern=True)


def qflst(m, kind, p):
    if kind == "test":
        return []
    if kind == "exec":
        drive, pattern = "UFS", "*"
    elif kind == "write":
        drive, pattern = _pattern(p, "*")
    else:
        raise ParamError()
    drv = m.files.drive(drive)
    if "*" in pattern or "?" in pattern:
        names = drv.match(pattern)
    elif pattern in drv.files:
        names = [pattern]
    else:
        raise CmeError(E_NOT_FOUND)
    return ['+QFLST: "%s:%s",%d' % (drive, n, len(drv.files[n])) for n in names]


def qfdel(m, kind, p):
    if kind == "test":
        return ["+QFDEL: <filename>"]
    if kind != "write":
        raise ParamError()
    drive, name = _pattern(p, None)
    files = m.files.drive(drive).files
    if name == "*":
        files.clear()
    elif "*" in name or "?" in name:
        raise CmeError(E_BAD_NAME)
    elif files.pop(name, None) is None:
        raise CmeError(E_NOT_FOUND)
    return []


def qflds(m, kind, p):
    if kind == "test":
        return ['+QFLDS: ("UFS","RAM")']
    if kind == "exec":
        ufs = m.files.drive("UFS")
        return ["+QFLDS: %d,%d" % (ufs.used(), len(ufs.files))]
    if kind != "write" or len(p) != 1:
        raise ParamError()
    name = str_at(p, 0).upper().rstrip(":")
    if name not in DRIVES:
        raise CmeError(E_BAD_VALUE)
    drv = m.files.drive(name)
    return ["+QFLDS: %d,%d" % (drv.free(), drv.size)]


COMMANDS = {"+QFUPL": qfupl, "+QFLST": qflst, "+QFDEL": qfdel, "+QFLDS": qflds}
