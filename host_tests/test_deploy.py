"""Deployment with the real mpremote to a board stand-in (tools/rawrepl_device.py) on a pty:
the raw-REPL protocol itself, then `tools/run --board virtual --port /dev/pts/N`, which
compiles lib/quectel, copies library, board file, firmware and config into the stand-in's flash
folder and runs main.py from there against a virtual module. Loopback only; bounded."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "tools", "run")
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
SPEED = 10


class Proc:
    """A CPython tool as a subprocess whose first line (matching `pattern`) says where it is."""

    def __init__(self, args, pattern, env=None):
        self.p = subprocess.Popen([sys.executable] + args, cwd=ROOT, env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
        line = self.p.stdout.readline()
        self.m = re.search(pattern, line)
        assert self.m, line

    def rest(self):
        self.close()
        return self.p.stdout.read()

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def rig(tmp_path):
    """Virtual module (off, with pins), endpoint, and a device stand-in wired to both."""
    vm = Proc(["tools/virtual_module.py", "--off", "--speed", str(SPEED)],
              r"uart ([\d.:]+) pins ([\d.:]+)")  # fmt: skip
    ep = Proc(["tools/endpoint.py", "--port", "0"], r"listening on (\S+)")
    flash = tmp_path / "flash"
    env = dict(os.environ, QUECTEL_UART=vm.m.group(1), QUECTEL_PINS=vm.m.group(2),
               QUECTEL_SPEED=str(SPEED), FW_SERVER_URL=ep.m.group(1) + "telemetry")  # fmt: skip
    dev = Proc(["tools/rawrepl_device.py", "--flash", str(flash)], r"rawrepl device: (\S+)", env)
    yield {"vm": vm, "ep": ep, "dev": dev, "port": dev.m.group(1), "flash": flash}
    dev.close()
    ep.close()
    vm.close()


def run(args, timeout=120):
    p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)  # fmt: skip
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail("%s did not stop within %d s:\n%s" % (args, timeout, out))
    return p.returncode, out


def _read_until(fd, ending, timeout=10):
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(ending):
        left = deadline - time.monotonic()
        assert left > 0, "timeout waiting for %r, got %r" % (ending, data)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            data += os.read(fd, 1)
    return data


def test_raw_repl_protocol(rig):
    fd = os.open(rig["port"], os.O_RDWR | os.O_NOCTTY)
    try:
        _read_until(fd, b">>> ")
        os.write(fd, b"\r\x01")
        _read_until(fd, b"raw REPL; CTRL-B to exit\r\n>")
        os.write(fd, b"\x05A\x01")  # raw-paste request: declined
        assert _read_until(fd, b"R\x00").endswith(b"R\x00")
        os.write(fd, b"x = 6 * 7\nprint(x)\x04")
        assert _read_until(fd, b">") == b"OK42\n\x04\x04>"
        os.write(fd, b"print(x + 1)\x04")  # globals persist between commands, as on a board
        assert _read_until(fd, b">") == b"OK43\n\x04\x04>"
        os.write(fd, b"1/0\x04")
        out = _read_until(fd, b"\x04>")
        assert out.startswith(b"OK\x04") and b"ZeroDivisionError" in out and out.endswith(b"\x04>")
        os.write(fd, b"\x04")  # soft reset: a fresh interpreter
        _read_until(fd, b"soft reboot\r\n")
        _read_until(fd, b"raw REPL; CTRL-B to exit\r\n>")
        os.write(fd, b"print('x' in globals())\x04")
        assert _read_until(fd, b">") == b"OKFalse\n\x04\x04>"
        os.write(fd, b"import time\nwhile True: time.sleep_ms(10)\x04")
        assert _read_until(fd, b"OK") == b"OK"
        os.write(fd, b"\x03")  # Ctrl-C interrupts the running program
        out = _read_until(fd, b"\x04>")
        assert b"KeyboardInterrupt" in out and out.endswith(b"\x04>")
        os.write(fd, b"\x02")
        _read_until(fd, b">>> ")
    finally:
        os.close(fd)


def test_paths_stay_in_the_flash_folder(rig):
    code, out = run([MPREMOTE, "connect", rig["port"], "exec",
                     "import os\nos.mkdir('/d')\nf = open('/d/x.txt', 'w')\nf.write('hi')\n"
                     "f.close()\nprint(os.listdir(''), os.getcwd())"], timeout=30)  # fmt: skip
    assert code == 0, out
    assert (rig["flash"] / "d" / "x.txt").read_text() == "hi"
    assert "'d'" in out and out.strip().endswith("/")


def test_deploy_and_run(rig):
    code, out = run([RUN, "--board", "virtual", "--port", rig["port"], "--reports", "2",
                     "--interval", "1"])  # fmt: skip
    print(out)
    assert code == 0, out
    flash = rig["flash"]
    sources = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "lib", "quectel"))
                     if f.endswith(".py"))  # fmt: skip
    compiled = sorted(f[:-4] for f in os.listdir(flash / "lib" / "quectel"))
    assert compiled == sources
    for f in os.listdir(flash / "lib" / "quectel"):
        assert f.endswith(".mpy")
        assert (flash / "lib" / "quectel" / f).read_bytes()[:2] == b"M\x06"  # mpy v6
    assert (flash / "boards" / "virtual.py").read_bytes() == open(
        os.path.join(ROOT, "boards", "virtual.py"), "rb").read()  # fmt: skip
    for name in ("boot.py", "main.py"):
        with open(os.path.join(ROOT, "firmware", name), "rb") as f:
            assert (flash / name).read_bytes() == f.read()
    assert 'BOARD = "virtual"' in (flash / "config.py").read_text()
    for text in ("mpy-cross", "power on: module answers", "modem: connected",
                 "NTP: clock set from localhost", "POST #2 answered: 200",
                 "done: 2 reports answered"):  # fmt: skip
        assert text in out, text
    got = [json.loads(m) for m in re.findall(r"^endpoint: got /telemetry (\{.*\})$",
                                             rig["ep"].rest(), re.M)]  # fmt: skip
    assert [r["seq"] for r in got] == [1, 2]


def test_deploy_sources_for_another_board(rig):
    # A board file other than the virtual one: copied, config names it; --no-run.
    code, out = run([RUN, "--board", "esp32_generic", "--port", rig["port"], "--source",
                     "--no-run"], timeout=60)  # fmt: skip
    assert code == 0, out
    flash = rig["flash"]
    assert sorted(os.listdir(flash / "lib" / "quectel")) == sorted(
        f for f in os.listdir(os.path.join(ROOT, "lib", "quectel")) if f.endswith(".py")
    )
    assert (flash / "boards" / "esp32_generic.py").exists()
    assert 'BOARD = "esp32_generic"' in (flash / "config.py").read_text()


def test_deploy_needs_a_known_board(rig):
    code, out = run([RUN, "--port", rig["port"]], timeout=30)
    assert code == 2 and "--port needs --board" in out
    code, out = run([RUN, "--board", "nosuch", "--port", rig["port"]], timeout=30)
    assert code == 2 and "no board file boards/nosuch.py" in out


def test_mip_install_from_the_package_json(rig):
    # As the README says: `mpremote mip install github:<owner>/<repo>/mpy/quectel-aio`, the
    # compiled extension whose deps pull in the compiled core; the repository served on
    # 127.0.0.1 stands in for GitHub. Every module lands in /lib/quectel and imports there.
    from repo_http import serve_repo

    with serve_repo() as url:
        out = subprocess.run([MPREMOTE, "connect", rig["port"], "mip", "install", "--target", "/lib",
                              url + "/mpy/quectel-aio"], capture_output=True, text=True,
                             timeout=120, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    lib = rig["flash"] / "lib" / "quectel"
    want = sorted(f[:-3] + ".mpy" for f in os.listdir(os.path.join(ROOT, "lib", "quectel"))
                  if f.endswith(".py"))  # fmt: skip
    assert sorted(os.listdir(lib)) == want
    code = (
        "import sys; sys.path.insert(0, '/lib'); import quectel.aio, quectel.socket; print('ok')"
    )
    out = subprocess.run([MPREMOTE, "connect", rig["port"], "exec", code], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert out.stdout.strip().endswith("ok"), out.stdout + out.stderr
