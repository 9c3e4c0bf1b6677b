"""Third-party MQTT clients, unmodified, over the module against a real broker.

host_tests/device/test_mqtt_mp.py runs under the MicroPython unix port on the virtual board;
this file starts Debian's mosquitto on 127.0.0.1 (free port, generated config), a virtual
module, and the suite's control channel, whose other end is a small raw-socket MQTT client
here that checks every payload byte for byte. The clients come from PyPI's sdists, fetched
and unpacked into build/thirdparty/ by tools/thirdparty.sh (never committed):
micropython-umqtt.simple 1.3.4, micropython-umqtt.robust 1.0, micropython-mqtt 0.7b4
(mqtt_async). Peter Hinch's mqtt_as is not on PyPI: set MQTT_AS_DIR to a directory holding a
copy (mqtt_as/ or mqtt_as.py) to test it too.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TP = os.path.join(ROOT, "build", "thirdparty")
UMQTT_SIMPLE = os.path.join(TP, "micropython-umqtt.simple-1.3.4", "umqtt", "simple.py")
UMQTT_ROBUST = os.path.join(TP, "micropython-umqtt.robust-1.0", "umqtt", "robust.py")
MQTT_ASYNC = os.path.join(TP, "micropython-mqtt-0.7b4", "mqtt_async.py")
SUITE = os.path.join(ROOT, "host_tests", "device", "test_mqtt_mp.py")
WAIT_S = 30  # every wait below ends after this long

sys.path.insert(0, os.path.join(ROOT, "host_tests", "device"))
from payload import pattern  # noqa: E402


def _mosquitto():
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )


def _need(path, what):
    if not os.path.exists(path):
        pytest.skip("%s not available (%s missing): run tools/thirdparty.sh" % (what, path))


# ---- a tiny MQTT 3.1.1 client (CPython, raw socket): the other end of every payload -------


class RawMQTT:
    def __init__(self, port, client_id):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.msgs = []  # (topic, payload)
        self.acks = set()  # packet ids of PUBACK / SUBACK
        self.pid = 0
        cid = client_id.encode()
        body = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 60) + struct.pack("!H", len(cid))
        self._send(0x10, body + cid)
        head, data = self._read_packet()
        assert head == 0x20 and data[1] == 0, (head, data)
        self.s.settimeout(0.2)
        self.closed = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _send(self, head, body):
        n = len(body)
        vbi = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            vbi.append(b | (0x80 if n else 0))
            if not n:
                break
        with self.lock:
            self.s.sendall(bytes([head]) + bytes(vbi) + body)

    def _recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            try:
                d = self.s.recv(n - len(out))
            except socket.timeout:
                if self.closed:
                    raise EOFError from None
                continue
            if not d:
                raise EOFError
            out += d
        return bytes(out)

    def _read_packet(self):
        head = self._recv_exact(1)[0]
        n = sh = 0
        while True:
            b = self._recv_exact(1)[0]
            n |= (b & 0x7F) << sh
            sh += 7
            if not b & 0x80:
                break
        return head, self._recv_exact(n)

    def _reader(self):
        try:
            while not self.closed:
                head, data = self._read_packet()
                kind = head & 0xF0
                if kind == 0x30:
                    tl = struct.unpack("!H", data[:2])[0]
                    topic = data[2 : 2 + tl].decode()
                    off = 2 + tl
                    if head & 6:
                        pid = data[off : off + 2]
                        off += 2
                        self._send(0x40, pid)  # PUBACK
                    with self.cond:
                        self.msgs.append((topic, data[off:]))
                        self.cond.notify_all()
                elif kind in (0x40, 0x90):
                    with self.cond:
                        self.acks.add(struct.unpack("!H", data[:2])[0])
                        self.cond.notify_all()
        except (EOFError, OSError):
            pass

    def _wait_ack(self, pid):
        with self.cond:
            ok = self.cond.wait_for(lambda: pid in self.acks, WAIT_S)
        assert ok, "no ack for packet %d" % pid

    def subscribe(self, topic, qos=1):
        self.pid += 1
        t = topic.encode()
        self._send(0x82, struct.pack("!HH", self.pid, len(t)) + t + bytes([qos]))
        self._wait_ack(self.pid)

    def publish(self, topic, payload, qos=0):
        t = topic.encode()
        body = struct.pack("!H", len(t)) + t
        if qos:
            self.pid += 1
            body += struct.pack("!H", self.pid)
        self._send(0x30 | qos << 1, body + bytes(payload))
        if qos:
            self._wait_ack(self.pid)

    def take(self, topic, timeout=WAIT_S):
        def find():
            for i, (t, _) in enumerate(self.msgs):
                if t == topic:
                    return i
            return None

        with self.cond:
            self.cond.wait_for(lambda: find() is not None, timeout)
            i = find()
            return None if i is None else self.msgs.pop(i)[1]

    def close(self):
        self.closed = True
        try:
            self._send(0xE0, b"")
        except OSError:
            pass
        self.thread.join(2)
        self.s.close()


# ---- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path):
    """mosquitto on 127.0.0.1 with a free port; killed at the end."""
    exe = _mosquitto()
    if not exe:
        pytest.skip(
            "mosquitto not installed (tools/thirdparty.sh installs it with apt-get as root)"
        )
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_inflight_messages 20\nmessage_size_limit 0\n" % port
    )
    log = open(tmp_path / "mosquitto.log", "wb")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    raise RuntimeError(
                        "mosquitto did not start: " + (tmp_path / "mosquitto.log").read_text()
                    ) from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _control(vm, peer, broker_port, errors):
    """The suite's control channel: 'expect', 'pub', 'close_broker' (see test_mqtt_mp.py)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(120)

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        f = c.makefile("rwb")
        for line in f:
            words = line.decode().split()
            try:
                if words[0] == "expect":
                    topic, n, seed = words[1], int(words[2]), int(words[3])
                    got = peer.take(topic)
                    want = bytes(pattern(n, seed))
                    if got is None:
                        raise AssertionError("%s: not received within %d s" % (topic, WAIT_S))
                    if got != want:
                        i = next((k for k, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                                 min(len(got), len(want)))  # fmt: skip
                        raise AssertionError("%s: %d bytes, want %d, first difference at %d"
                                             % (topic, len(got), n, i))  # fmt: skip
                    answer = ""
                elif words[0] == "pub":
                    topic, n, seed, qos = words[1], int(words[2]), int(words[3]), int(words[4])
                    peer.publish(topic, pattern(n, seed), qos)
                    answer = ""
                elif words[0] == "close_broker":
                    closed = [cid for cid, info in sorted(vm.connections().items())
                              if info["rport"] == broker_port and vm.remote_close(cid)]  # fmt: skip
                    answer = " ".join(str(cid) for cid in closed)
                else:
                    raise ValueError("unknown request %r" % line)
                f.write(("ok %s\n" % answer).encode())
            except Exception as e:  # noqa: BLE001  (told to the suite, which fails the test)
                errors.append("%s: %r" % (line.decode().strip(), e))
                f.write(b"error %r\n" % e)
            f.flush()
        c.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return srv, th


def _libdir(tmp_path, with_async):
    # The clients, copied unmodified into one tree the unix port imports from.
    lib = tmp_path / "mplib"
    (lib / "umqtt").mkdir(parents=True)
    shutil.copy(UMQTT_SIMPLE, lib / "umqtt" / "simple.py")
    shutil.copy(UMQTT_ROBUST, lib / "umqtt" / "robust.py")
    if with_async:
        shutil.copy(MQTT_ASYNC, lib / "mqtt_async.py")
    return str(lib)


def run_mqtt_suite(tmp_path, broker_port, names, extra_path=()):
    from conftest import SPEED as speed
    from test_device import MICROPYTHON, line_baud, micropython_path
    from virtual_module import VirtualModule

    speed = int(os.environ.get("MQTT_TEST_SPEED") or speed)  # 1: the library's real timing
    with VirtualModule(speed=speed, powered=False) as vm:
        peer = RawMQTT(broker_port, "host-peer")
        peer.subscribe("dev/out/#", 1)
        errors = []
        srv, th = _control(vm, peer, broker_port, errors)
        try:
            lib = _libdir(tmp_path, with_async=True)
            env = dict(
                MICROPYPATH=":".join([lib, *extra_path, micropython_path()]),
                MQTT_PORT=str(broker_port),
                CTL_PORT=str(srv.getsockname()[1]),
                QUECTEL_UART="127.0.0.1:%d" % vm.port,
                QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port,
                QUECTEL_SPEED=str(speed),
                QUECTEL_BAUD=str(line_baud(speed)),
            )
            proc = subprocess.run([MICROPYTHON, SUITE, *names], env=dict(os.environ, **env),
                                  capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
            out = proc.stdout + proc.stderr
            code = proc.returncode
        finally:
            srv.close()
            peer.close()
    print(out)
    assert not errors, "\n".join(errors) + "\n" + out
    assert code == 0, out
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m and int(m.group(1)) == len(names) and m.group(2) == "0", out


# ---- tests ------------------------------------------------------------------------------


def test_umqtt_simple_and_robust(broker, tmp_path):
    """umqtt.simple: connect, subscribe, QoS 0 and 1 at 10 B, 1 KB and 10 KB both ways, byte
    for byte; umqtt.robust: the same, then a reconnect after the module reports the broker's
    connection closed, both on a read and on a publish."""
    _need(UMQTT_SIMPLE, "umqtt.simple")
    _need(UMQTT_ROBUST, "umqtt.robust")
    names = ["bring_up_and_wlan_adapter", "umqtt_simple_both_ways",
             "umqtt_robust_reconnects_after_remote_close"]  # fmt: skip
    _run(broker, tmp_path, names)


def test_mqtt_async_over_wlan_adapter(broker, tmp_path):
    """mqtt_async (PyPI micropython-mqtt 0.7b4, mqtt_as's API) through quectel.network:
    QoS 0 and 1 at three sizes both ways, then its own reconnect after a remote close."""
    _need(UMQTT_SIMPLE, "umqtt.simple")
    _need(MQTT_ASYNC, "mqtt_async (micropython-mqtt sdist)")
    _run(broker, tmp_path,
         ["bring_up_and_wlan_adapter", "mqtt_async_both_ways_and_reconnect"])  # fmt: skip


def test_mqtt_as_over_wlan_adapter(broker, tmp_path):
    """Peter Hinch's mqtt_as, from a user's copy ($MQTT_AS_DIR), the same way."""
    d = os.environ.get("MQTT_AS_DIR")
    if not d:
        pytest.skip("Peter Hinch's mqtt_as is not on PyPI: set MQTT_AS_DIR to a copy to test it")
    _need(UMQTT_SIMPLE, "umqtt.simple")
    _run(broker, tmp_path,
         ["bring_up_and_wlan_adapter", "mqtt_as_both_ways_and_reconnect"], [d])  # fmt: skip


def _run(broker, tmp_path, names, extra_path=()):
    run_mqtt_suite(tmp_path, broker, names, extra_path)
