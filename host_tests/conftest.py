import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("lib", "tools", "host_tests"):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest  # noqa: E402

SPEED = 50  # module and driver clocks run this many times faster than real time


@pytest.fixture
def vm():
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED) as v:
        yield v


def make_modem(vm, pins=False, **kw):
    from fakes import SocketUART, VMPin

    from quectel import Modem
    from quectel.clock import Clock

    if pins:
        kw.setdefault("pwrkey", VMPin(vm, "PWRKEY"))
        kw.setdefault("status", VMPin(vm, "STATUS"))
    m = Modem(SocketUART(vm.port), clock=Clock(SPEED), **kw)
    m.test_states = []
    if "on_change" not in kw:
        m.on_change = lambda s, r: m.test_states.append((s, r))
    return m


@pytest.fixture
def modem(vm):
    m = make_modem(vm)
    m.connect("internet")
    yield m
    m.at._uart.close()


class EchoServer:
    """A loopback TCP echo server in a thread; `received` counts the bytes it got."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
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
        c.settimeout(0.2)
        while not self._stop:
            try:
                d = c.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not d:
                break
            self.received += len(d)
            try:
                c.sendall(d)
            except OSError:
                break
        c.close()

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def echo():
    srv = EchoServer()
    yield srv
    srv.close()
