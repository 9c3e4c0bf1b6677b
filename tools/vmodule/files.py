"""The module's file store (UFS in flash, RAM) and the checksum of AT+QFUPL."""

import fnmatch

from .errors import CmeError
from .sslfacts import DRIVES, E_BAD_NAME, FILE_NAME_MAX, RAM_SIZE, UFS_SIZE

_BAD_CHARS = set('*?"<>|\\/:')


def qf_checksum(data):
    """16-bit XOR of the data as big-endian byte pairs (an odd last byte is the high byte)."""
    c = 0
    n = len(data)
    for i in range(0, n - 1, 2):
        c ^= (data[i] << 8) | data[i + 1]
    if n & 1:
        c ^= data[-1] << 8
    return c


def split_name(text, pattern=False):
    """(drive, name) of a file name with an optional "UFS:" or "RAM:" prefix (UFS without).

    pattern: '*' and '?' are allowed in the name. Bad names raise +CME ERROR 406.
    """
    if not text or len(text.encode("latin-1", "replace")) > FILE_NAME_MAX:
        raise CmeError(E_BAD_NAME)
    drive, sep, name = text.partition(":")
    if not sep:
        drive, name = "UFS", text
    drive = drive.upper()
    if drive not in DRIVES or not name:
        raise CmeError(E_BAD_NAME)
    bad = _BAD_CHARS - set("*?") if pattern else _BAD_CHARS
    if any(ch in bad or ord(ch) < 32 for ch in name):
        raise CmeError(E_BAD_NAME)
    return drive, name


class Drive:
    """One storage: name -> bytes, within size bytes."""

    def __init__(self, size):
        self.size = size
        self.files = {}

    def used(self):
        return sum(len(d) for d in self.files.values())

    def free(self):
        return self.size - self.used()

    def match(self, pattern):
        return [n for n in self.files if fnmatch.fnmatchcase(n, pattern)]


class FileStore:
    """The drives of one module. UFS is flash: it survives reboots (and, given to a new
    VirtualModule, that module too); RAM is emptied by every reboot."""

    def __init__(self, ufs_size=UFS_SIZE, ram_size=RAM_SIZE):
        self.drives = {"UFS": Drive(ufs_size), "RAM": Drive(ram_size)}

    def drive(self, name):
        return self.drives[name]

    def get(self, path):
        """The bytes of a file named as QSSLCFG names it ("ca.pem", "UFS:ca.pem"), or None."""
        try:
            drive, name = split_name(path)
        except CmeError:
            return None
        return self.drives[drive].files.get(name)

    def power_lost(self):
        self.drives["RAM"].files.clear()

    def listing(self):
        """Snapshot: {"UFS:name": size}."""
        return {
            "%s:%s" % (d, n): len(data)
            for d, drv in self.drives.items()
            for n, data in drv.files.items()
        }
