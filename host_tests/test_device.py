"""Runs each on-device suite (host_tests/device/test_*.py) under the real MicroPython unix port."""

import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SUITES = sorted(glob.glob(os.path.join(ROOT, "host_tests", "device", "test_*.py")))
# Suites that need a virtual module get it from a CPython-side fixture named in this table.
# test_faults_mp.py: run by test_faults.py; test_mqtt_mp.py: by test_mqtt.py (needs a broker);
# test_store_mp.py (no module: the firmware's flash queue) by test_store.py;
# test_tls_mp.py: by test_tls_device.py (RSA peers and a TLS broker).
NEEDS_MODULE = {"test_vboard.py", "test_faults_mp.py", "test_mqtt_mp.py", "test_store_mp.py",
                "test_tls_mp.py"}  # fmt: skip


def micropython_path():
    # ".frozen" keeps the port's built-in modules (asyncio, requests) importable.
    parts = ["tools/vboard", "lib", "", "host_tests/device", "host_tests"]
    return ":".join([os.path.join(ROOT, p) if p else ROOT for p in parts] + [".frozen"])


FAST_BAUD = 921600  # the fastest rate the modules support


def line_baud(speed, vm_baud=None):
    """The stand-in UART's rate (it paces writes in real time, tools/vboard/machine.py): the
    virtual module's throttle when it has one (also real time), else the fastest rate the
    modules support on the suite's clock, which runs `speed` times faster than real time."""
    return int(vm_baud or FAST_BAUD * speed)


def run_suite(path, env_extra=None, timeout=300, heapsize=None):
    from conftest import SPEED

    env = dict(os.environ, MICROPYPATH=micropython_path(), QUECTEL_BAUD=str(line_baud(SPEED)))
    env.update(env_extra or {})
    cmd = [MICROPYTHON]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    proc = subprocess.run(
        cmd + [path], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    return proc.returncode, proc.stdout + proc.stderr


def vm_options(path):
    """Virtual-module settings a suite asks for in its leading comment lines:
    `# vm: qiact_ms=150000, dns_ms=20` (VirtualModule keyword arguments, Python literals;
    `speed` sets the driver's clock too)."""
    import ast

    opts = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            if line.startswith("# vm:"):
                for item in line[5:].split(","):
                    if item.strip():
                        key, _, value = item.partition("=")
                        opts[key.strip()] = ast.literal_eval(value.strip())
    return opts


@pytest.mark.parametrize(
    "path", [p for p in SUITES if os.path.basename(p) not in NEEDS_MODULE], ids=os.path.basename
)
def test_device_suite(path, peers):
    """Each suite gets a fresh virtual module (off: it boots by PWRKEY) and the peers."""
    from conftest import SPEED
    from virtual_module import VirtualModule

    opts = vm_options(path)
    speed = opts.pop("speed", SPEED)  # the module's and the driver's clocks alike
    with VirtualModule(speed=speed, powered=False, **opts) as vm:
        env = dict(
            peers,
            QUECTEL_UART="127.0.0.1:%d" % vm.port,
            QUECTEL_PINS="127.0.0.1:%d" % vm.pin_port,
            QUECTEL_SPEED=str(speed),
            QUECTEL_TICKS_START=str((1 << 30) - 20000),  # the suites run across the wrap
            QUECTEL_BAUD=str(line_baud(speed, opts.get("baud"))),
        )
        code, out = run_suite(path, env)
    print(out)
    assert code == 0, out
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m and int(m.group(1)) > 0 and m.group(2) == "0", out
