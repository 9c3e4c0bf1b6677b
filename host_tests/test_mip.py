"""What `mip` installs: the checked-in .mpy tree is current, and every package installs with
MicroPython's own mip (the unix port's frozen module) from this tree served on loopback, then
works from the install target alone."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpy_package  # noqa: E402
from repo_http import serve_repo  # noqa: E402

SPEED = 50


def test_mpy_tree_matches_the_sources():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mpy_package.py"), "--check"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_names_a_stale_file(tmp_path):
    mpy_package.build(str(tmp_path))
    with open(tmp_path / "mpy" / "quectel" / "gone.mpy", "wb") as f:
        f.write(b"M")
    os.remove(tmp_path / "mpy" / "quectel" / "errors.mpy")
    diff = mpy_package.differences(str(tmp_path))
    assert "missing: mpy/quectel/gone.mpy" in diff
    assert "not produced by the sources (stale): mpy/quectel/errors.mpy" in diff


def test_package_urls_are_github_urls_of_this_repository():
    import json

    for rel in ("package.json", "mpy/package.json", "mpy/quectel-aio/package.json",
                "lib/quectel-aio/package.json"):  # fmt: skip
        with open(os.path.join(ROOT, rel)) as f:
            pkg = json.load(f)
        for _, url in pkg["urls"]:  # absolute: older mips resolve no relative URL
            assert url.startswith("github:%s/" % mpy_package.GITHUB_REPO), (rel, url)
            assert ".." not in url.split("/"), (rel, url)
        for dep, _ref in pkg["deps"]:
            assert dep.startswith("github:" + mpy_package.GITHUB_REPO), (rel, dep)


@pytest.fixture(scope="module")
def repo_url():
    with serve_repo() as url:
        yield url


def mip_install(url, target):
    code = "import mip\nmip.install(%r, target=%r)\n" % (url, target)
    out = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, MICROPYPATH=".frozen"))  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return sorted(os.path.relpath(os.path.join(d, f), target)
                  for d, _, files in os.walk(target) for f in files)  # fmt: skip


# Runs with only the install target and the virtual board's machine module on its path.
USE = (
    """
import os
import machine
import quectel, quectel.socket, quectel.aio
from quectel.clock import Clock

print("version", quectel.__version__, quectel.__file__)
m = quectel.Modem(machine.UART(1, 115200, rxbuf=2048, timeout=0), clock=Clock(%d))
m.connect("internet")
quectel.socket.use(m)
s = quectel.socket.socket()
s.connect(("127.0.0.1", int(os.getenv("ECHO_PORT"))))
s.sendall(b"installed by mip")
got = b""
while len(got) < 16:
    got += s.recv(64)
s.close()
m.disconnect()
print("echoed", got, "aio", quectel.aio.AModem.__name__)
"""
    % SPEED
)


def use_installed(target, echo):
    from virtual_module import VirtualModule

    with VirtualModule(speed=SPEED) as vm:
        env = dict(os.environ, QUECTEL_UART="127.0.0.1:%d" % vm.port, QUECTEL_PINS="none",
                   ECHO_PORT=str(echo.port),
                   MICROPYPATH=":".join([target, os.path.join(ROOT, "tools", "vboard"),
                                         ".frozen"]))  # fmt: skip
        out = subprocess.run([MICROPYTHON, "-c", USE], capture_output=True, text=True,
                             timeout=120, env=env, cwd=target)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "echoed b'installed by mip' aio AModem" in out.stdout, out.stdout
    return out.stdout


def core_names(ext):
    core, _ = mpy_package.split_sources()
    return ["quectel/" + n[:-3] + ext for n in core]


@pytest.mark.parametrize(
    "package,ext",
    [("mpy/quectel-aio", ".mpy"), ("lib/quectel-aio", ".py")],
    ids=["mpy", "py"],
)
def test_aio_extension_installs_with_the_core_and_works(package, ext, repo_url, echo,
                                                        tmp_path):  # fmt: skip
    target = str(tmp_path / "lib")
    files = mip_install("%s/%s/package.json" % (repo_url, package), target)
    assert files == sorted(core_names(ext) + ["quectel/aio" + ext])
    out = use_installed(target, echo)
    assert "quectel/__init__" + ext in out


def test_core_installs_alone_as_mpy(repo_url, tmp_path):
    target = str(tmp_path / "lib")
    files = mip_install(repo_url + "/mpy/package.json", target)
    assert files == sorted(core_names(".mpy"))
    code = "import quectel, quectel.socket\nprint(quectel.__version__)"
    out = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, MICROPYPATH=target))  # fmt: skip
    assert out.stdout.strip() == mpy_package.version(), out.stdout + out.stderr
