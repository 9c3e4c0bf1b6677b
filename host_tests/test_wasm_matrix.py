"""The version matrix: the blocking core's on-device suite (test_engine_mp.py: the AT engine and
a socket over canned UARTs, no virtual module) on the official WebAssembly build of every
MicroPython release from 1.23 to the newest on npm (tools/wasm/package.json), once with the
.py sources and once with the checked-in .mpy tree that mip installs (our mpy-cross's output:
the proof that one bytecode .mpy tree loads on every release)."""

import json
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = os.path.join(ROOT, "host_tests", "device", "test_engine_mp.py")
with open(os.path.join(ROOT, "tools", "wasm", "package.json")) as f:
    VERSIONS = [name[3:] for name in json.load(f)["dependencies"]]  # "mp-1.23.0" -> "1.23.0"
TREES = {
    "py": ["lib/quectel:/lib/quectel"],
    "mpy": ["mpy/quectel:/lib/quectel", "mpy/quectel-aio/quectel:/lib/quectel"],
}


@pytest.fixture(scope="module")
def ports():
    missing = [t for t in ("node", "npm") if shutil.which(t) is None]
    if missing:
        pytest.skip("needs %s (the WebAssembly builds come from npm)" % " and ".join(missing))
    out = subprocess.run([os.path.join(ROOT, "tools", "wasm_setup.sh")], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def run_on_wasm(port_dir, trees, script, steps=(), timeout=300):
    cmd = ["node", os.path.join(ROOT, "tools", "wasm_run.mjs"), "--port", port_dir]
    for tree in trees:
        cmd += ["--tree", tree]
    for p in ("/lib", "/host_tests", "/host_tests/device"):
        cmd += ["--path", p]
    cmd += ["--tree", "host_tests:/host_tests"]
    for step in steps:
        cmd += ["--step", step]
    cmd += ["--script", script]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("form", sorted(TREES))
@pytest.mark.parametrize("version", VERSIONS)
def test_engine_suite_on_release(version, form, ports):
    report = "import sys; print('implementation', sys.implementation.version)"
    out = run_on_wasm(os.path.join(ports, "mp-" + version), TREES[form], SUITE, [report])
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    m = re.search(r"^(\d+) passed, (\d+) failed$", out.stdout, re.M)
    assert m and int(m.group(1)) > 0 and m.group(2) == "0", text
    release = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", version).groups())
    assert "implementation (%d, %d, %d" % release in out.stdout, text


def test_heap32_bench_measures_import_and_steady_state(ports):
    """tools/bench_heap32.py's figures (not judged: a benchmark) come from a run that works."""
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import bench_heap32

    version = bench_heap32.newest_version()
    trees = [os.path.join(ROOT, "lib", "quectel") + ":/lib/quectel",
             os.path.join(ROOT, "tools", "wasm") + ":/bench"]  # fmt: skip
    r = bench_heap32.figures(os.path.join(ports, "mp-" + version), trees)
    assert 0 < r["import"] < r["steady"], r
