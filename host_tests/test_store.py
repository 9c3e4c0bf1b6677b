"""The firmware's flash queue (firmware/store.py) under the real MicroPython unix port: power
cuts at every step of a scenario (host_tests/device/test_store_mp.py), in a fresh folder."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def test_store_survives_a_power_cut_at_every_step(tmp_path):
    path = ":".join(os.path.join(ROOT, p) for p in ("firmware", "host_tests/device"))
    env = dict(os.environ, MICROPYPATH=path, STORE_TEST_DIR=str(tmp_path))
    proc = subprocess.run([MICROPYTHON, os.path.join(ROOT, "host_tests/device/test_store_mp.py")],
                          env=env, capture_output=True, text=True, timeout=120, cwd=str(tmp_path))  # fmt: skip
    out = proc.stdout + proc.stderr
    print(out)
    assert proc.returncode == 0, out
    m = re.search(r"^(\d+) passed, 0 failed$", out, re.M)
    assert m and int(m.group(1)) >= 6, out
    assert "(FAT renames): state before or after" in out
    assert int(re.search(r"power cut at each of (\d+) steps", out).group(1)) > 30
