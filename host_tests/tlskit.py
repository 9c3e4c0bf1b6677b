"""Host side of the virtual module's SSL and FILE commands for their tests: certificates made at
set-up with trustme, a loopback TLS server, and an AT reader that keeps URCs and payloads apart.
"""

import datetime
import re
import ssl
import threading
import time

import trustme
from peers import chunks, loopback_listener
from vmkit import Uart

# The module negotiates only RSA suites (tools/vmodule/sslfacts.py): every key here is RSA.
_RSA = trustme.KeyType.RSA


class Certs:
    """PEM bytes of a test CA and what it issued, plus a second, unrelated CA."""

    def __init__(self):
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.ca = trustme.CA(key_type=_RSA)
        self.other_ca = trustme.CA(key_type=_RSA)
        self.good = self.ca.issue_cert(
            "localhost", "127.0.0.1", key_type=_RSA, not_before=now - datetime.timedelta(days=1)
        )
        self.wrong_host = self.ca.issue_cert("wrong.example", key_type=_RSA)
        self.expired = self.ca.issue_cert(
            "localhost",
            key_type=_RSA,
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        )
        self.foreign = self.other_ca.issue_cert("localhost", key_type=_RSA)
        self.client = self.ca.issue_cert("device-1", key_type=_RSA)
        self.ca_pem = self.ca.cert_pem.bytes()
        self.other_ca_pem = self.other_ca.cert_pem.bytes()
        self.client_cert_pem = self.client.cert_chain_pems[0].bytes()
        self.client_key_pem = self.client.private_key_pem.bytes()


class TLSPeer:
    """A loopback TLS server in a thread for one client at a time: "echo" sends back what it
    gets, "sink" keeps it; send(data) writes to the current client. It records the SNI names
    it was offered and the client certificates it saw; require_client: CA that must sign one.
    """

    def __init__(self, cert, mode="echo", require_client=None, handshake=True):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.ctx)
        if require_client is not None:
            require_client.configure_trust(self.ctx)
            self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name) and None
        self.mode = mode
        self.handshake = handshake  # False: accept TCP, never answer the handshake
        self.sni = []
        self.client_certs = []
        self.errors = []
        self.data = bytearray()
        self.closed = threading.Event()  # the client went away
        self.conn = None
        self._stop = False
        self.srv = loopback_listener(4, 0.2)
        self.port = self.srv.getsockname()[1]
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _stopped(self):
        return self._stop

    def _serve(self):
        while not self._stop:
            try:
                raw, _ = self.srv.accept()
            except OSError:
                continue
            if not self.handshake:
                self.conn = raw
                continue
            raw.settimeout(10)
            try:
                c = self.ctx.wrap_socket(raw, server_side=True)
            except (OSError, ValueError) as e:
                self.errors.append(e)
                raw.close()
                continue
            self.conn = c
            self.client_certs.append(c.getpeercert())
            for d in chunks(c, self._stopped, time.monotonic() + 60):
                self.data += d
                if self.mode == "echo":
                    try:
                        c.sendall(d)
                    except OSError:
                        break
            self.closed.set()

    def wait_conn(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.conn is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.conn

    def wait_data(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.data) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return bytes(self.data)

    def close(self):
        self._stop = True
        self.t.join(2)
        self.srv.close()


class Timeout(AssertionError):
    """Nothing (more) came from the module in time."""


_FINAL = re.compile(rb"^(OK|ERROR|\+CME ERROR: .*|SEND OK|SEND FAIL|CONNECT)$")
_RECV_HEAD = re.compile(rb"^\+QSSLRECV: (\d+)$")
_PUSH_HEAD = re.compile(rb'^\+QSSLURC: "recv",(\d+),(\d+)$')
_URC = (b"+QSSLURC:", b"+QSSLOPEN:", b"+QIURC:", b"+QIOPEN:", b"RDY")


class SslAt:
    """AT client over the module's UART (echo off) that sets URCs aside: `urcs` (lines) and
    `pushed[cid]` (direct-push data) fill whenever they arrive, even inside a response."""

    def __init__(self, port):
        self.u = Uart(port)
        self.urcs = []
        self.pushed = {}
        self.cmd("ATE0")

    def close(self):
        self.u.close()

    def _line(self, deadline):
        """The next non-empty line, or b"> " for a prompt."""
        buf = self.u.buf
        while True:
            while buf[:2] == b"\r\n":
                del buf[:2]
            if buf[:2] == b"> ":
                del buf[:2]
                return b"> "
            i = buf.find(b"\r\n")
            if i > 0:
                line = bytes(buf[:i])
                del buf[: i + 2]
                return line
            if not self.u._fill(deadline):
                raise Timeout("timeout; got %r" % bytes(buf))

    def _exact(self, n, deadline):
        while len(self.u.buf) < n:
            if not self.u._fill(deadline):
                raise Timeout("timeout in a payload")
        data = bytes(self.u.buf[:n])
        del self.u.buf[:n]
        return data

    def _item(self, deadline):
        """A line of a response, or None after setting a URC aside."""
        line = self._line(deadline)
        m = _PUSH_HEAD.match(line)
        if m:
            cid, n = int(m.group(1)), int(m.group(2))
            deadline = max(deadline, time.monotonic() + 5)  # a payload is never cut short
            self.pushed.setdefault(cid, bytearray()).extend(self._exact(n, deadline))
            assert self._exact(2, deadline) == b"\r\n"
            return None
        if line.startswith(_URC):
            self.urcs.append(line)
            return None
        return line

    def cmd(self, line, timeout=5.0):
        """Send a command line: (info lines, final result) with +QSSLRECV data as one line."""
        self.u.send(line + "\r")
        return self.response(timeout)

    def response(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            item = self._item(deadline)
            if item is None:
                continue
            if item == b"> " or _FINAL.match(item):
                return lines, item
            m = _RECV_HEAD.match(item)
            if m:
                item = self._exact(int(m.group(1)), max(deadline, time.monotonic() + 5))
            lines.append(item)

    def ok(self, line, timeout=5.0):
        lines, final = self.cmd(line, timeout)
        assert final == b"OK", (line, lines, final)
        return lines

    def wait_urc(self, text, timeout=10.0):
        """Wait for the URC line text (str or bytes); it is removed from urcs."""
        text = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while text not in self.urcs:
            try:
                item = self._item(deadline)
            except Timeout:
                raise Timeout("no %r; URCs %r" % (text, self.urcs)) from None
            assert item is None, "unexpected line %r" % item
        self.urcs.remove(text)

    def rebooted(self):
        """After a reboot: wait for RDY, echo off again."""
        self.wait_urc("RDY")
        self.ok("ATE0")

    def poll(self, seconds):
        """Read URCs for this long."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                assert self._item(deadline) is None
        except Timeout:
            pass

    def upload(self, name, data, timeout_s=10):
        """AT+QFUPL: CONNECT, the bytes, then the module's (size, checksum as int)."""
        lines, final = self.cmd('AT+QFUPL="%s",%d,%d' % (name, len(data), timeout_s))
        assert (lines, final) == ([], b"CONNECT"), (lines, final)
        self.u.send(data)
        lines, final = self.response()
        assert final == b"OK", (lines, final)
        size, cks = lines[0].decode().split(": ")[1].split(",")
        return int(size), int(cks, 16)

    def send(self, cid, data):
        """AT+QSSLSEND of data (at most 1460 bytes): the final result."""
        lines, final = self.cmd("AT+QSSLSEND=%d,%d" % (cid, len(data)))
        assert final == b"> ", (lines, final)
        self.u.send(data)
        return self.response()[1]

    def recv(self, cid, n=1500):
        """One AT+QSSLRECV: the bytes it returned."""
        lines, final = self.cmd("AT+QSSLRECV=%d,%d" % (cid, n))
        assert final == b"OK" and len(lines) == 1, (lines, final)
        return lines[0]
