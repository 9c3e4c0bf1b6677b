"""The manifest.py files, evaluated by MicroPython's own manifest tool (tools/manifestfile.py
of MicroPython, taken from a pinned PyPI wheel by tools/thirdparty.sh): each package installs
or freezes alone, the extension pulls in the core by require(), nothing is listed twice."""

import glob
import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
TOOL = os.path.join(ROOT, "build", "thirdparty", "manifestfile", "manifestfile.py")
SOURCES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(LIB, "quectel", "*.py")))
EXTENSION = ["aio.py"]
CORE = [f for f in SOURCES if f not in EXTENSION]


@pytest.fixture(scope="module")
def mf():
    if not os.path.exists(TOOL):
        pytest.skip("MicroPython's manifestfile.py is missing (tools/thirdparty.sh gets it)")
    spec = importlib.util.spec_from_file_location("manifestfile", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(mf, path, mode, library=True, path_vars=None):
    m = mf.ManifestFile(mode, path_vars or {})
    if library:  # as a user's manifest does: add_library("quectel-mpy", ".../lib")
        m.add_library("quectel-mpy", LIB)
    m.execute(path)
    return m


def targets(m):
    return sorted(f.target_path for f in m.files())


def modes(mf):
    return [mf.MODE_COMPILE, mf.MODE_FREEZE]


def package(files):
    return sorted("quectel/" + f for f in files)


def test_core_alone(mf):
    for mode in modes(mf):
        m = evaluate(mf, os.path.join(LIB, "quectel-core", "manifest.py"), mode, library=False)
        assert targets(m) == package(CORE)
        assert all(os.path.exists(f.full_path) for f in m.files())


def test_extension_alone_requires_the_core(mf):
    for mode in modes(mf):
        m = evaluate(mf, os.path.join(LIB, "quectel-aio", "manifest.py"), mode)
        assert targets(m) == package(SOURCES)
        assert "asyncio" in m.metadata().description  # its own metadata, the core's below it
        by_target = {f.target_path: f.metadata.description for f in m.files()}
        assert "asyncio" not in by_target["quectel/__init__.py"]


def test_extension_needs_the_library_registered(mf):
    with pytest.raises(mf.ManifestFileError, match="quectel-core"):
        evaluate(mf, os.path.join(LIB, "quectel-aio", "manifest.py"), mf.MODE_COMPILE, False)


def test_everything_from_lib_manifest(mf):
    for mode in modes(mf):
        m = evaluate(mf, os.path.join(LIB, "manifest.py"), mode, library=False)
        assert targets(m) == package(SOURCES)  # each file once


def test_the_tool_rejects_an_included_base_manifest(mf, tmp_path):
    # What lib/quectel-aio/manifest.py did before: include() the core at the same level.
    bad = tmp_path / "manifest.py"
    bad.write_text(
        'metadata(version="0")\ninclude(%r)\n' % os.path.join(LIB, "quectel-core", "manifest.py")
    )
    with pytest.raises(mf.ManifestFileError, match="Duplicate call to metadata"):
        evaluate(mf, str(bad), mf.MODE_COMPILE, library=False)


def test_firmware_manifest_freezes_core_board_and_app(mf, tmp_path):
    port = tmp_path / "port"
    (port / "boards").mkdir(parents=True)
    (port / "boards" / "manifest.py").write_text("")  # a port's default manifest
    lib = tmp_path / "micropython-lib"
    req = lib / "python-ecosys" / "requests"
    (req / "requests").mkdir(parents=True)
    (req / "requests" / "__init__.py").write_text("")
    (req / "manifest.py").write_text('metadata(version="0")\npackage("requests")\n')
    vars_ = {"PORT_DIR": str(port), "MPY_LIB_DIR": str(lib)}
    m = evaluate(mf, os.path.join(ROOT, "firmware", "manifest.py"), mf.MODE_FREEZE, False, vars_)
    assert targets(m) == sorted(
        package(CORE)
        + ["boards/esp32_generic.py", "config.py", "firmware/main.py", "requests/__init__.py"]
    )


def test_versions_agree():
    """Every manifest, package.json and the package's __version__ carry one version."""
    import json

    with open(os.path.join(LIB, "quectel", "__init__.py")) as f:
        version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
    found = {}
    for path in glob.glob(os.path.join(LIB, "**", "manifest.py"), recursive=True):
        with open(path) as f:
            found[path] = re.search(r'version="([^"]+)"', f.read()).group(1)
    packages = [os.path.join(ROOT, "package.json")] + [
        p for d in ("lib", "mpy") for p in glob.glob(os.path.join(ROOT, d, "**", "package.json"),
                                                     recursive=True)
    ]  # fmt: skip
    for path in packages:
        with open(path) as f:
            found[path] = json.load(f)["version"]
    assert len(found) >= 7
    wrong = {os.path.relpath(p, ROOT): v for p, v in found.items() if v != version}
    assert not wrong, "lib/quectel/__init__.py says %s" % version
    with open(os.path.join(ROOT, "CHANGELOG.md")) as f:
        assert "## [%s]" % version in f.read(), "CHANGELOG.md has no entry for " + version
