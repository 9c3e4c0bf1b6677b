"""The firmware application end to end through tools/run: the virtual board with its virtual
module and loopback endpoint, and host mode against a TCP target, a silent target and a
serial (pseudo-terminal) target. Loopback only; every run is bounded."""

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import tty

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "tools", "run")
SPEED = 10


def run(args, timeout=120, env=None):
    """tools/run in its own session; on timeout the whole group is killed (no strays)."""
    e = dict(os.environ)
    e.pop("QUECTEL_TARGET", None)
    e.update(env or {})
    p = subprocess.Popen([RUN] + args, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail("tools/run did not stop within %d s:\n%s" % (timeout, out))
    return p.returncode, out


def readings(out):
    return [json.loads(m) for m in re.findall(r"^endpoint: got /telemetry (\{.*\})$", out, re.M)]


class Module:
    """tools/virtual_module.py as a separate process (powered on: no PWRKEY needed)."""

    def __init__(self, *extra):
        self.p = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tools", "virtual_module.py"), "--speed",
             str(SPEED)] + list(extra), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)  # fmt: skip
        line = self.p.stdout.readline()
        m = re.search(r"uart ([\d.]+):(\d+) pins", line)
        assert m, line
        self.host, self.port = m.group(1), int(m.group(2))

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()


@pytest.fixture
def module():
    m = Module()
    yield m
    m.close()


def test_run_virtual_two_reports():
    t0 = time.monotonic()
    code, out = run(["--reports", "2", "--interval", "1", "--speed", str(SPEED)])
    print(out)
    assert code == 0, out
    assert time.monotonic() - t0 < 120
    for text in ("power on: switching the module on", "power on: module answers",
                 "modem: connecting (SIM)", "modem: connecting (registration)",
                 "connected: IP address 10.7.157.1", "NTP: clock set from localhost",
                 "POST #1..#1 answered: 200", "POST #2..#2 answered: 200", "done: 2 reading(s) taken, the queue is empty",
                 "run: firmware finished"):  # fmt: skip
        assert text in out, text
    got = readings(out)
    assert [r["seq"] for r in got] == [1, 2], out
    for r in got:
        assert r["board"] == "virtual" and r["ip"] == "10.7.157.1"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["time"]), r
        assert r["mem_free"] > 0 and r["uptime_ms"] >= 0
        assert "simulated_temperature_c" in r
        assert r["registration"] == "home" and r["operator"] and -113 <= r["rssi_dbm"] <= -51
    assert "radio: -73 dBm, operator" in out


def test_run_asyncio_variant_two_reports():
    code, out = run(["--async", "--reports", "2", "--interval", "1", "--speed", str(SPEED)])
    print(out)
    assert code == 0, out
    assert "firmware/main_async.py" in out and "run: firmware finished" in out
    got = readings(out)
    assert [r["seq"] for r in got] == [1, 2], out
    assert all(r["registration"] == "home" for r in got), got
    assert got[-1]["samples"] > got[0]["samples"]  # the sensor task ran between reports


def test_run_tcp_target(module):
    code, out = run(["--target", "tcp:%s:%d" % (module.host, module.port), "--reports", "1",
                     "--speed", str(SPEED)])  # fmt: skip
    print(out)
    assert code == 0, out
    assert "no pins: AT probing" in out
    assert "power on: module answers on UART(1, baudrate=115200, target=127.0.0.1:%d)" % (
        module.port) in out  # fmt: skip
    for text in ("modem: connecting (SIM)", "modem: connecting (registration)",
                 "modem: connecting (PDP context)", "modem: connected",
                 "POST #1..#1 answered: 200"):  # fmt: skip
        assert text in out, text
    assert len(readings(out)) == 1


def test_run_target_from_environment(module):
    code, out = run(["--reports", "1", "--speed", str(SPEED)],
                    env={"QUECTEL_TARGET": "tcp:127.0.0.1:%d" % module.port})  # fmt: skip
    assert code == 0, out
    assert "module UART over TCP at 127.0.0.1:%d" % module.port in out


@pytest.mark.parametrize("args", [["--interval", "abc"], ["--interval"], ["--reports", "x"]])
def test_run_bad_arguments_give_a_usage_message(args):
    """#18.7: a usage message and exit status 2, not a traceback."""
    code, out = run(args, timeout=30)
    assert code == 2, out
    assert "Traceback" not in out and "run: " in out, out


def test_run_silent_target_gives_clear_error():
    m = Module("--fault", "silence forever")
    try:
        t0 = time.monotonic()
        code, out = run(["--target", "tcp:127.0.0.1:%d" % m.port, "--reports", "1",
                         "--speed", str(SPEED)], timeout=60)  # fmt: skip
        elapsed = time.monotonic() - t0
    finally:
        m.close()
    print(out)
    assert code == 2, out
    assert "does not answer AT on UART(1, baudrate=115200, target=127.0.0.1:%d)" % m.port in out
    assert "run: error: no module answered on tcp:127.0.0.1:%d" % m.port in out
    assert elapsed < 30


def test_run_unreachable_target_gives_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = run(["--target", "tcp:127.0.0.1:%d" % port, "--reports", "1"], timeout=60)
    assert code == 2, out
    assert "cannot open the module's UART 127.0.0.1:%d" % port in out


class PTYBridge:
    """A pseudo-terminal whose master end is relayed to the virtual module's TCP UART: the
    slave (/dev/pts/N) stands for a USB serial adapter wired to a module."""

    def __init__(self, port):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self):
        while not self.stop.is_set():
            r, _, _ = select.select([self.master, self.sock], [], [], 0.1)
            try:
                if self.master in r:
                    data = os.read(self.master, 4096)
                    if data:
                        self.sock.sendall(data)
                if self.sock in r:
                    data = self.sock.recv(4096)
                    if not data:
                        return
                    os.write(self.master, data)
            except OSError:
                # EIO on the master while no one has the slave open: wait for the next open.
                time.sleep(0.05)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
        os.close(self.master)
        os.close(self.slave)


def test_run_serial_target(module):
    bridge = PTYBridge(module.port)
    try:
        code, out = run(["--target", bridge.path, "--reports", "1", "--speed", str(SPEED)])
    finally:
        bridge.close()
    print(out)
    assert code == 0, out
    assert "module UART on serial device %s" % bridge.path in out
    assert "power on: module answers on UART(1, baudrate=115200, target=%s)" % bridge.path in out
    assert "modem: connected" in out and "POST #1..#1 answered: 200" in out
    assert len(readings(out)) == 1


def test_run_stops_cleanly_on_sigterm():
    p = subprocess.Popen([RUN, "--interval", "1", "--speed", str(SPEED)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)  # fmt: skip
    out = ""
    try:
        deadline = time.monotonic() + 60
        while "POST #1..#1 answered" not in out and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            out += line
        assert "POST #1..#1 answered" in out, out
        children = _descendants(p.pid)
        assert len(children) >= 3, children  # module, endpoint, firmware (and tails)
        p.send_signal(signal.SIGTERM)
        out += p.communicate(timeout=20)[0]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 143, out
    assert "run: stopping" in out
    time.sleep(0.2)
    alive = [pid for pid in children if os.path.exists("/proc/%d" % pid)]
    assert not alive, alive


def _descendants(pid):
    out = []
    todo = [pid]
    while todo:
        q = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (q, q)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def test_run_posts_over_https_with_the_server_verified(peers):
    """An https:// server URL: TLS by the MCU's ssl over the module's socket, the server's
    certificate checked against CA_FILE (conftest's loopback HTTPS server, a trustme CA)."""
    url = "https://localhost:%s/telemetry" % peers["HTTPS_PORT"]
    code, out = run(["--url", url, "--reports", "1", "--speed", str(SPEED)],
                    env={"FW_CA_FILE": peers["TLS_CA_DER"]})  # fmt: skip
    print(out)
    assert code == 0, out
    assert "POST #1..#1 answered: 200" in out  # conftest's server echoes the body upper-cased
    assert '"SEQ": 1' in out


def test_run_posts_over_https_by_the_module_tls(peers):
    """TLS = "module" (what "auto" picks on a firmware without ssl, as the stock Pico's): the
    CA is uploaded to the module, the module does the handshake and verifies the server, and
    the POST is answered; the MCU's ssl is never imported."""
    url = "https://localhost:%s/telemetry" % peers["HTTPS_PORT"]
    code, out = run(["--url", url, "--reports", "1", "--speed", str(SPEED)],
                    env={"FW_CA_FILE": peers["TLS_CA"], "FW_TLS": "module"})  # fmt: skip
    print(out)
    assert code == 0, out
    assert "POST #1..#1 answered: 200" in out
    assert '"SEQ": 1' in out


def test_run_refuses_a_server_its_ca_did_not_sign(peers, tmp_path):
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    url = "https://localhost:%s/telemetry" % peers["HTTPS_PORT"]
    code, out = run(["--url", url, "--reports", "1", "--interval", "0.2", "--speed", str(SPEED)],
                    env={"FW_CA_FILE": str(other)})  # fmt: skip
    assert code == 1, out  # three failed sends in a row
    assert "send failed" in out and "POST #1..#1 answered" not in out
