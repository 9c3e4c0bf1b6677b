"""Runs host_tests/device/test_tls_mp.py (module TLS under the MicroPython unix port) against
the virtual module, with its loopback peers: a TLS echo server, an HTTPS server and mosquitto
with a TLS listener, all with RSA certificates made at set-up (tlskit.py). umqtt.simple and
umqtt.robust come from build/thirdparty (tools/thirdparty.sh), never from the repository."""

import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
from test_mqtt import UMQTT_ROBUST, UMQTT_SIMPLE, _mosquitto
from tlskit import Certs, TLSPeer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = os.path.join(ROOT, "host_tests", "device", "test_tls_mp.py")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def _reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(b"hello from " + self.path.encode())

    def do_POST(self):
        self._reply(self.rfile.read(int(self.headers.get("Content-Length", 0))).upper())

    def log_message(self, *args):
        pass


def https_server(cert):
    """A threaded loopback HTTPS server (GET: "hello from <path>", POST: the body upper-cased)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return srv


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tls_broker(tmp_path, cert):
    """mosquitto with only a TLS listener on 127.0.0.1: (process, port, log path)."""
    exe = _mosquitto()
    if not exe:
        pytest.skip("mosquitto not installed (tools/thirdparty.sh installs it as root)")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    # As root, mosquitto reads its certificates after switching to its own user, which cannot
    # enter pytest's private tmp directory: it stays root here (loopback only, killed after).
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        "%slistener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "certfile %s\nkeyfile %s\n"
        % (user, port, tmp_path / "server.pem", tmp_path / "server.key")
    )
    log = tmp_path / "mosquitto.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=f, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port, log
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("mosquitto did not start: " + log.read_text()) from None
            time.sleep(0.05)


def test_module_tls_on_the_unix_port(tmp_path):
    for path in (UMQTT_SIMPLE, UMQTT_ROBUST):
        if not os.path.exists(path):
            pytest.skip("%s not available: run tools/thirdparty.sh" % path)
    from conftest import SPEED
    from test_device import line_baud, micropython_path, run_suite
    from virtual_module import VirtualModule

    certs = Certs()
    (tmp_path / "ca.pem").write_bytes(certs.ca_pem)
    (tmp_path / "other.pem").write_bytes(certs.other_ca_pem)
    lib = tmp_path / "mplib"
    (lib / "umqtt").mkdir(parents=True)
    shutil.copy(UMQTT_SIMPLE, lib / "umqtt" / "simple.py")
    shutil.copy(UMQTT_ROBUST, lib / "umqtt" / "robust.py")
    proc, mqtts, log = tls_broker(tmp_path, certs.good)
    echo = TLSPeer(certs.good)
    web = https_server(certs.good)
    try:
        with VirtualModule(speed=SPEED, powered=False) as vm:
            env = dict(
                MICROPYPATH=":".join([str(lib), micropython_path()]),
                TLS_CA=str(tmp_path / "ca.pem"),
                OTHER_CA=str(tmp_path / "other.pem"),
                TLS_ECHO_PORT=str(echo.port),
                HTTPS_PORT=str(web.server_address[1]),
                MQTTS_PORT=str(mqtts),
                QUECTEL_UART="127.0.0.1:%d" % vm.port,
                QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port,
                QUECTEL_SPEED=str(SPEED),
                QUECTEL_TICKS_START=str((1 << 30) - 20000),
                QUECTEL_BAUD=str(line_baud(SPEED)),
            )
            code, out = run_suite(SUITE, env)
    finally:
        web.shutdown()
        web.server_close()
        echo.close()
        proc.terminate()
        proc.wait(5)
    print(out)
    assert code == 0, out + log.read_text()
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m and int(m.group(1)) == 8 and m.group(2) == "0", out
