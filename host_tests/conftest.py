import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("lib", "tools", "host_tests"):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest  # noqa: E402
from peers import chunks, loopback_listener  # noqa: E402

SPEED = 50  # module and driver clocks run this many times faster than real time


@pytest.fixture
def vm(request):
    """A virtual module at SPEED, or at the test module's own SPEED where it sets one."""
    from virtual_module import VirtualModule

    with VirtualModule(speed=getattr(request.module, "SPEED", SPEED)) as v:
        yield v


def make_modem(vm, pins=False, **kw):
    from fakes import SocketUART, VMPin
    from quectel import Modem
    from quectel.clock import PERIOD, Clock

    if pins:
        kw.setdefault("pwrkey", VMPin(vm, "PWRKEY"))
        kw.setdefault("status", VMPin(vm, "STATUS"))
    # 30-bit ticks that wrap 20 s (module time) after the start, as on a 32-bit port: every
    # suite built on this runs across the wrap.
    from test_device import line_baud

    uart = SocketUART(vm.port, baud=line_baud(vm.speed, vm.uart.baud))
    m = Modem(uart, clock=Clock(vm.speed, start=PERIOD - 20000), **kw)
    m.test_states = []
    if "on_change" not in kw:
        m.on_change = lambda s, r: m.test_states.append((s, r))
    return m


@pytest.fixture
def modem(vm):
    m = make_modem(vm)
    m.connect("internet")
    yield m
    m.at.uart.close()


def _never():
    return False


class EchoServer:
    """A loopback TCP echo server in a thread; `received` counts the bytes it got."""

    def __init__(self):
        self.sock = loopback_listener(16, 0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.clients = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        import threading

        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.clients.append(c)
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        for d in chunks(c, self._stopped):
            self.received += len(d)
            try:
                c.sendall(d)
            except OSError:
                break

    def _stopped(self):
        return self._stop

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def echo():
    srv = EchoServer()
    yield srv
    srv.close()


class HTTPServers:
    """Loopback HTTP and HTTPS servers (certificate made by trustme) for requests tests.

    GET answers b"hello from <path>"; POST echoes the body back, upper-cased.
    """

    def __init__(self, tmpdir):
        import http.server
        import ssl
        import threading

        import trustme

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _reply(self, body):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._reply(b"hello from " + self.path.encode())

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self._reply(self.rfile.read(n).upper())

            def log_message(self, *args):
                pass

        # RSA: the module's own TLS stack takes no other keys (quectel.tls), the MCU's any.
        self.ca = trustme.CA(key_type=trustme.KeyType.RSA)
        cert = self.ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
        self.ca_pem = os.path.join(tmpdir, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_pem)
        self.ca_der = os.path.join(tmpdir, "ca.der")
        with open(self.ca_der, "wb") as f:
            f.write(ssl.PEM_cert_to_DER_cert(self.ca.cert_pem.bytes().decode()))
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        self.https.socket = ctx.wrap_socket(self.https.socket, server_side=True)
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                         daemon=True) for s in (self.http, self.https)]  # fmt: skip
        for t in self.threads:
            t.start()

    def close(self):
        for s in (self.http, self.https):
            s.shutdown()
            s.server_close()


@pytest.fixture
def peers(tmp_path):
    """Environment variables naming the loopback peers of the device suites."""
    echo = EchoServer()
    web = HTTPServers(str(tmp_path))
    yield {
        "ECHO_PORT": str(echo.port),
        "HTTP_PORT": str(web.http.server_address[1]),
        "HTTPS_PORT": str(web.https.server_address[1]),
        "TLS_CA": web.ca_pem,
        "TLS_CA_DER": web.ca_der,
    }
    web.close()
    echo.close()


class Sink:
    """A loopback TCP peer that accepts one client and records what it sends."""

    def __init__(self):
        self.srv = loopback_listener(1, 10)
        self.port = self.srv.getsockname()[1]
        self.data = bytearray()
        self.closed = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        for d in chunks(c, _never, time.monotonic() + 30):
            self.data += d
        self.closed.set()

    def wait_for(self, n, seconds):
        deadline = time.monotonic() + seconds
        while len(self.data) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return bytes(self.data)

    def close(self):
        self.srv.close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


@pytest.fixture
def tls_peers():
    """A factory of loopback TLS servers (tlskit.TLSPeer), all closed after the test."""
    from tlskit import TLSPeer

    made = []

    def make(cert, **kw):
        p = TLSPeer(cert, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
