"""The virtual board (tools/vboard/machine.py) under the real MicroPython unix port.

Small fakes stand in for the virtual Quectel module: an echo "UART" server, a bulk source/sink
server, a pin-channel server and a pty whose master echoes. The on-device suite
host_tests/device/test_vboard.py runs once against them (module fixture); the tests here check its
verdicts and what arrived at the fakes. Loopback only, every wait bounded.
"""

import importlib.util
import os
import pty
import re
import select
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
DEVICE_SCRIPT = ROOT / "host_tests" / "device" / "test_vboard.py"
# .frozen keeps the unix port's frozen modules (asyncio) importable once MICROPYPATH is set.
MICROPYPATH = ":".join(
    [
        str(ROOT / "tools" / "vboard"),
        str(ROOT / "lib"),
        str(ROOT),
        str(ROOT / "host_tests" / "device"),
        ".frozen",
    ]
)
PATTERN = bytes(range(256)) * 256
PATTERN_REV = bytes(reversed(range(256))) * 256
RUN_TIMEOUT = 90

pytestmark = pytest.mark.skipif(not MICROPYTHON.exists(), reason="no MicroPython unix port")


class _Server:
    """Threaded loopback TCP server; handle(conn, index) runs per connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(0.2)
            with self.lock:
                index = self.conns
                self.conns += 1
            threading.Thread(target=self._run, args=(conn, index), daemon=True).start()

    def _run(self, conn, index):
        try:
            self.handle(conn, index)
        except OSError:
            pass
        finally:
            conn.close()

    def recv(self, conn, n=65536):
        """Bytes, b"" on EOF, None on a 0.2 s lull (so stop is noticed)."""
        try:
            return conn.recv(n)
        except socket.timeout:
            return None

    def close(self):
        self.stop.set()
        self.sock.close()


class EchoServer(_Server):
    def __init__(self):
        self.received = {}
        super().__init__()

    def handle(self, conn, index):
        self.received[index] = bytearray()
        while not self.stop.is_set():
            d = self.recv(conn)
            if d is None:
                continue
            if not d:
                return
            self.received[index] += d
            conn.settimeout(10)
            conn.sendall(d)
            conn.settimeout(0.2)


class BulkServer(_Server):
    """Sends PATTERN on connect, collects 64 KB, answers b"OK <n>\\n"."""

    def __init__(self):
        self.received = bytearray()
        super().__init__()

    def handle(self, conn, index):
        conn.settimeout(10)
        conn.sendall(PATTERN)
        conn.settimeout(0.2)
        while not self.stop.is_set() and len(self.received) < len(PATTERN_REV):
            d = self.recv(conn)
            if d is None:
                continue
            if not d:
                return
            self.received += d
        conn.sendall(b"OK %d\n" % len(self.received))
        while not self.stop.is_set() and self.recv(conn) != b"":
            pass


class PinsServer(_Server):
    """Fake pin channel: reports STATUS/RI on connect, a PWRKEY low pulse of >= 50 ms toggles
    STATUS, DTR going to 1 pulses RI low."""

    def __init__(self):
        self.lines = []
        self.sent = []
        super().__init__()

    def _send(self, conn, line):
        self.sent.append(line)
        conn.sendall(line.encode() + b"\n")

    def handle(self, conn, index):
        status = 0
        low_since = None
        self._send(conn, "STATUS 0")
        self._send(conn, "RI 1")
        buf = b""
        while not self.stop.is_set():
            d = self.recv(conn)
            if d is None:
                continue
            if not d:
                return
            buf += d
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode()
                self.lines.append(line)
                if line == "PWRKEY 0":
                    low_since = time.monotonic()
                elif line == "PWRKEY 1":
                    if low_since is not None and time.monotonic() - low_since >= 0.05:
                        status ^= 1
                        self._send(conn, "STATUS %d" % status)
                    low_since = None
                elif line == "DTR 1":
                    self._send(conn, "RI 0")
                    self._send(conn, "RI 1")


class PtyEcho:
    """A pty pair; the master echoes everything (non-blocking, buffered, never stalls)."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self.echoed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pending = b""
        while not self.stop.is_set():
            r, w, _ = select.select([self.master], [self.master] if pending else [], [], 0.1)
            if r:
                try:
                    d = os.read(self.master, 4096)
                except OSError:
                    d = b""
                pending += d
            if w and pending:
                try:
                    n = os.write(self.master, pending)
                except BlockingIOError:
                    n = 0
                self.echoed += n
                pending = pending[n:]

    def close(self):
        self.stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self.slave)


def run_device(env_extra, *names):
    env = dict(os.environ)
    env["MICROPYPATH"] = MICROPYPATH
    env.update(env_extra)
    r = subprocess.run(
        [str(MICROPYTHON), str(DEVICE_SCRIPT), *names],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    verdicts = dict(re.findall(r"^(\w+) \.\.\. (ok|FAIL)", out, re.M))
    return r.returncode, out, verdicts


@pytest.fixture(scope="module")
def rig():
    echo, bulk, pins, ptye = EchoServer(), BulkServer(), PinsServer(), PtyEcho()
    env = {
        "QUECTEL_UART": echo.addr,
        "QUECTEL_PINS": pins.addr,
        "VBOARD_BULK": bulk.addr,
        "VBOARD_PTY": ptye.path,
        "QUECTEL_BAUD": "921600",  # the stand-in paces writes in real time
    }
    try:
        rc, out, verdicts = run_device(env)
        yield {
            "rc": rc,
            "out": out,
            "ok": verdicts,
            "echo": echo,
            "bulk": bulk,
            "pins": pins,
            "pty": ptye,
            "env": env,
        }
    finally:
        for s in (echo, bulk, pins, ptye):
            s.close()


def _passed(rig, *names):
    for n in names:
        assert rig["ok"].get(n) == "ok", rig["out"]


def test_device_suite_passes(rig):
    assert rig["rc"] == 0, rig["out"]
    last = rig["out"].strip().splitlines()[-1]
    assert re.fullmatch(r"(\d+) passed, 0 failed", last), rig["out"]
    assert int(last.split()[0]) == len(rig["ok"]) >= 12


def test_basic_uart_methods(rig):
    _passed(rig, "uart_basic")


def test_bulk_host_to_device_and_back(rig):
    # The device checked the 64 KB it got; here: the 64 KB it sent, byte-exact, all 256 values.
    _passed(rig, "uart_bulk_both_ways")
    assert bytes(rig["bulk"].received) == PATTERN_REV


def test_bulk_echo_round_trip(rig):
    _passed(rig, "uart_bulk_echo")
    stream = bytes(b"".join(rig["echo"].received.values()))
    assert PATTERN + PATTERN in stream  # chunked pass, then the one-shot 64 KB write


def test_write_forms_on_the_wire(rig):
    _passed(rig, "uart_write_forms")
    stream = bytes(b"".join(rig["echo"].received.values()))
    assert b"<wf>012334568912</wf>" in stream


def test_poll_and_asyncio(rig):
    _passed(rig, "uart_poll", "uart_asyncio")


def test_pin_levels_reach_module(rig):
    _passed(rig, "pins_outputs")
    assert rig["pins"].lines[:13] == [
        # pins_outputs
        "PWRKEY 1",
        "PWRKEY 0",
        "PWRKEY 1",
        "RESET 1",
        "RESET 0",
        "RESET 1",
        "DTR 0",
        # pins_status: a 100 ms PWRKEY pulse, then DTR released and asserted again
        "PWRKEY 1",
        "PWRKEY 0",
        "PWRKEY 1",
        "DTR 0",
        "DTR 1",
        "DTR 0",
    ]
    assert rig["pins"].conns == 1  # one pin channel for the whole board


def test_status_changes_reach_board(rig):
    _passed(rig, "pins_status", "pins_memory")
    assert "STATUS 1" in rig["pins"].sent


def test_board_files(rig):
    _passed(rig, "board_pins_presence", "board_files", "misc")


def test_serial_path_target_pty(rig):
    _passed(rig, "pty_serial")
    assert rig["pty"].echoed == 4 + 1 + 16384


def test_no_pin_channel():
    echo = EchoServer()
    try:
        rc, out, verdicts = run_device(
            {"QUECTEL_UART": echo.addr, "QUECTEL_PINS": "none"},
            "board_pins_presence",
            "uart_basic",
        )
    finally:
        echo.close()
    assert rc == 0, out
    assert out.strip().endswith("2 passed, 0 failed"), out


def test_failure_is_reported():
    rc, out, _ = run_device({"QUECTEL_PINS": "none"}, "no_such_test")
    assert rc == 1
    assert out.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_imports_and_works_under_cpython(monkeypatch):
    # As "machine" (the rarely used parts, tools/vboard/_machine_rest.py, import from it), and
    # out of sys.modules again afterwards: the CPython suites run the library without machine.
    monkeypatch.syspath_prepend(str(ROOT / "tools" / "vboard"))
    monkeypatch.delitem(sys.modules, "_machine_rest", raising=False)
    spec = importlib.util.spec_from_file_location("machine", ROOT / "tools/vboard/machine.py")
    m = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "machine", m)
    spec.loader.exec_module(m)
    assert "_machine_rest" not in sys.modules  # imported on first use
    echo = EchoServer()
    try:
        u = m.UART(9, 115200, target=echo.addr, timeout=2000)
        assert u.write(b"0123456789", 2, 3) == 3
        assert u.read(3) == b"234"
        u.deinit()
    finally:
        echo.close()
    assert m.RTC().datetime()[0] >= 2024
    sys.modules.pop("_machine_rest")
