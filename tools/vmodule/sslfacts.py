"""Values of the SSL (QSSL*) and FILE (QF*) commands, from ../shared/spec/ssl-file-at-notes.md.

Every value the notes mark unconfirmed for EC2x lives here, once, with "UNCONFIRMED" and the
reading chosen: the conservative one, so that a driver that works here works on the module.
"""

import ssl

# --- SSL contexts and connections

SSL_CTX_COUNT = 6  # <sslctxID> 0-5 (BG96 test form, notes 1.1)
# UNCONFIRMED: whether QSSLOPEN's <clientID> shares the 12 connect IDs of AT+QIOPEN. Chosen:
# shared (an ID open by either family is "in use" for both), so a driver must keep one pool.
SHARE_CONNECT_IDS = True
MAX_SSL_SEND = 1460  # UNCONFIRMED: 1-1460 from a README quoting a Quectel table (notes 1.4)
MAX_SSL_READ = 1500  # UNCONFIRMED: the largest <read_length> drivers use (notes 1.5)
# UNCONFIRMED: no source says whether QSSLCFG survives a reboot; on EG800K sni and cacert did
# not (notes L1 6). Chosen: every context returns to its defaults on reboot and power-up.
SSL_CFG_KEPT_OVER_REBOOT = False

# QSSLCFG types in the order of the BG96 test form (notes 1.1), with their defaults.
# UNCONFIRMED defaults: sslversion 4, ciphersuite 0XFFFF, seclevel 0, negotiatetime 300 (notes
# 1.1); ignorelocaltime 1 and sni 0 as observed on EG800K. checkhost and ignorecertchain have no
# documented default: checkhost 1 (host names are checked when the server is verified, as the
# EG800K rejected a wrong host with 566) and ignorecertchain 0. ignorecertchain is stored and
# reported but changes nothing: no source says what it skips, and skipping nothing is never kinder.
SSL_DEFAULTS = {
    "sslversion": 4,
    "ciphersuite": 0xFFFF,
    "cacert": "",
    "clientcert": "",
    "clientkey": "",
    "seclevel": 0,
    "sni": 0,
    "checkhost": 1,
    "ignorecertchain": 0,
    "ignorelocaltime": 1,
    "negotiatetime": 300,
}
SSL_FLAGS = ("sni", "checkhost", "ignorecertchain", "ignorelocaltime")  # 0 or 1
SSL_PATHS = ("cacert", "clientcert", "clientkey")
NEGOTIATE_RANGE = (10, 300)  # seconds (BG96 test form)

# <sslversion>: 0 SSL 3.0, 1 TLS 1.0, 2 TLS 1.1, 3 TLS 1.2, 4 all. UNCONFIRMED: which versions
# "all" covers. Chosen: up to TLS 1.2 (the 2017 manuals predate TLS 1.3), so a server that
# only speaks TLS 1.3 fails the handshake. SSL 3.0 is absent from Python's OpenSSL: a context
# set to 0 fails every handshake with ERR_HANDSHAKE.
TLS_VERSIONS = {
    0: (ssl.TLSVersion.SSLv3, ssl.TLSVersion.SSLv3),
    1: (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1),
    2: (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1),
    3: (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
    4: (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2),
}

# <ciphersuite> codes of the BG96 test form with their OpenSSL names. UNCONFIRMED for EC2x, and
# whether one command may give several codes. Chosen: exactly this list, one code per command,
# 0XFFFF meaning all of them. All are RSA suites, so the server needs an RSA certificate
# (ECDSA-only servers fail the handshake); RC4 and 3DES are missing from modern OpenSSL, so
# choosing only one of those fails every handshake.
CIPHERSUITES = {
    0x0035: "AES256-SHA",
    0x002F: "AES128-SHA",
    0x0005: "RC4-SHA",
    0x0004: "RC4-MD5",
    0x000A: "DES-CBC3-SHA",
    0x003D: "AES256-SHA256",
    0xC011: "ECDHE-RSA-RC4-SHA",
    0xC012: "ECDHE-RSA-DES-CBC3-SHA",
    0xC013: "ECDHE-RSA-AES128-SHA",
    0xC014: "ECDHE-RSA-AES256-SHA",
    0xC027: "ECDHE-RSA-AES128-SHA256",
    0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
}
ALL_CIPHERS = 0xFFFF

# <err> of +QSSLOPEN. 566 for every handshake or certificate failure is observed (EG800K: expired,
# self-signed, wrong host and untrusted root all gave 566). UNCONFIRMED: the rest. Chosen so a
# failed handshake differs from a refused connection: 554 when the TCP connection cannot be made
# ("open connection failed" in the UC20 TCP/IP table the QIOPEN of this module uses), 566 also
# when negotiatetime runs out, 565 when the name does not resolve (both tables agree).
ERR_OK = 0
ERR_HANDSHAKE = 566
ERR_CONNECT = 554
ERR_DNS = 565
# UNCONFIRMED: how QSSLOPEN answers an ID in use or an inactive PDP context. Chosen: ERROR at
# once (no URC).
# UNCONFIRMED for SSL: transparent access (mode 2). Chosen: as AT+QIOPEN in the TCP/IP manual:
# CONNECT once the handshake is done, else ERROR (which of 554/565/566 is not told); +++ or DTR
# leave it (OK, the connection goes on in buffer mode), ATO returns to it, NO CARRIER when the
# link closes. AT+QISWTMD stays a TCP/IP command (it answers ERROR for an SSL ID).
SSL_ACCESS_MODES = (0, 1, 2)

# --- FILE

UFS_SIZE = 14483456  # total UFS bytes of the BG96 example (notes 2.2); EC2x UNCONFIRMED
# UNCONFIRMED for EC2x: whether "RAM:" exists (UGxx has it). Chosen: it exists, 1 MB, and is
# emptied by every reboot.
RAM_SIZE = 1048576
DRIVES = ("UFS", "RAM")
FILE_NAME_MAX = 80  # bytes, prefix included (notes 2.1)
UPLOAD_DEFAULT_SIZE = 10240  # AT+QFUPL <file_size> when omitted (BG96, UGxx)
UPLOAD_DEFAULT_TIMEOUT = 5  # seconds without input that end an upload (BG96, UGxx)
ACK_BLOCK = 1024  # ackmode 1: one "A" after every full block of this many bytes

# +CME ERROR codes of the FILE commands: ALL UNCONFIRMED (notes 2.6, recalled, not read).
E_BAD_VALUE = 400  # a parameter out of range (size 0, timeout 0, ackmode 2, unknown drive)
E_NOT_FOUND = 405  # QFDEL / QFLST of a name that is not there
E_BAD_NAME = 406  # empty, too long, a wildcard or a character a file name cannot hold
E_EXISTS = 407  # QFUPL onto an existing name (the old file stays)
E_NO_SPACE = 420  # QFUPL <file_size> larger than the free space of the drive
# UNCONFIRMED: what an upload that times out answers. Chosen: +CME ERROR: 421, and the bytes
# received so far stay in the file (as F1 says for an upload ended by +++), so the driver has
# to delete it before it uploads again.
E_TIMEOUT = 421

FILE_ERROR_TEXT = {
    400: "invalid input value",
    401: "larger than the size of the file",
    402: "read zero byte",
    403: "drive full",
    405: "file not found",
    406: "invalid file name",
    407: "file already existed",
    409: "fail to write the file",
    410: "fail to open the file",
    411: "fail to read the file",
    413: "reach the max number of file allowed to be opened",
    414: "the file read only",
    416: "invalid file descriptor",
    417: "fail to list the file",
    418: "fail to delete the file",
    419: "fail to get disk info",
    420: "no space",
    421: "time out",
    423: "file too large",
    425: "invalid parameter",
    426: "file already opened",
}
