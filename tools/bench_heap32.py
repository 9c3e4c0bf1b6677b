"""Heap figures of the package on 32-bit MicroPython: the official WebAssembly port from npm
(the newest release in tools/wasm/package.json, installed by tools/wasm_setup.sh).

    python tools/bench_heap32.py [--version 1.29.0-6] [--json FILE]

For the .mpy files (compiled from the current sources by tools/mpy_package.py's build, into a
temporary directory) and for the .py sources it reports:
  import   heap in use after `import quectel, quectel.socket`, after gc.collect()
  steady   heap in use with a Modem connected over a canned UART (tools/wasm/canned_modem.py)
           and one TCP socket open, after gc.collect()
  min      the smallest heap (1 KB steps) in which the import, and the steady state, fit
           without the port growing its heap. This port cannot be capped: its heap grows on
           demand (MicroPython's split heap), so --heap only sets the first area, and it never
           collects garbage inside a call (see below). The figure is therefore the smallest first
           area in which no new area was needed: the peak of the import with no collection
           inside it, an upper bound of what a board that collects mid-import needs (close for
           .mpy, which leaves little garbage; well above it for .py, whose compiler garbage a
           board would collect between modules).
Figures are bytes above a fresh interpreter that has imported the canned UART module. The port
collects garbage only between top-level calls (it does not scan its C stack), so every
gc.collect() is a top-level call of its own and gc.mem_alloc() is read in the next one.
Results are printed; --json writes them to FILE as well (keep it under build/).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpy_package  # noqa: E402

RUNNER = os.path.join(ROOT, "tools", "wasm_run.mjs")
HEAP = 4 * 1024 * 1024  # for the figures; ample for every form


def newest_version():
    with open(os.path.join(ROOT, "tools", "wasm", "package.json")) as f:
        names = [n[3:] for n in json.load(f)["dependencies"]]

    def key(v):
        return [int(x) for x in re.findall(r"\d+", v)]

    return max(names, key=key)


def ports_dir():
    out = subprocess.run([os.path.join(ROOT, "tools", "wasm_setup.sh")], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit("bench_heap32: tools/wasm_setup.sh failed:\n" + out.stderr)
    return out.stdout.strip()


def run(port, trees, steps, heap=HEAP):
    cmd = [
        "node",
        RUNNER,
        "--port",
        port,
        "--heap",
        str(heap),
        "--path",
        "/lib",
        "--path",
        "/bench",
    ]
    for tree in trees:
        cmd += ["--tree", tree]
    for step in steps:
        cmd += ["--step", step]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


BASE = ["import gc", "import canned_modem", "gc.collect()", "base = gc.mem_alloc()"]
IMPORT = ["import quectel, quectel.socket", "gc.collect()",
          "print('import', gc.mem_alloc() - base)"]  # fmt: skip
STEADY = ["m, s, uart = canned_modem.connected()", "gc.collect()",
          "print('steady', gc.mem_alloc() - base, uart.commands)"]  # fmt: skip


def figures(port, trees):
    out = run(port, trees, BASE + IMPORT + STEADY)
    found = dict(re.findall(r"^(import|steady) (\d+)", out.stdout, re.M))
    if out.returncode != 0 or len(found) != 2:
        raise SystemExit("bench_heap32: run failed:\n" + out.stdout + out.stderr)
    return {k: int(v) for k, v in found.items()}


def fits(port, trees, steps, heap):
    """Whether `steps` run in a first heap area of `heap` bytes without the port adding one."""
    info = "import micropython; micropython.mem_info()"
    out = run(port, trees, [info] + steps + [info], heap)
    totals = re.findall(r"GC: total: (\d+)", out.stdout)
    return out.returncode == 0 and len(totals) == 2 and totals[0] == totals[1]


def smallest_heap(port, trees, steps, lo_kb=4, hi_kb=1024):
    """The smallest heap in KB (1 KB steps) that `steps` fit in, or None."""
    if not fits(port, trees, steps, hi_kb * 1024):
        return None
    while hi_kb - lo_kb > 1:
        mid = (lo_kb + hi_kb) // 2
        if fits(port, trees, steps, mid * 1024):
            hi_kb = mid
        else:
            lo_kb = mid
    return hi_kb


def measure(version):
    port = os.path.join(ports_dir(), "mp-" + version)
    with tempfile.TemporaryDirectory(prefix="heap32-", dir=build_dir()) as tmp:
        mpy_package.build(tmp)
        # The canned UART as .mpy too: no compiler garbage of the harness in the figures.
        harness = os.path.join(tmp, "bench")
        src = os.path.join(ROOT, "tools", "wasm", "canned_modem.py")
        mpy_package.compile_to(src, os.path.join(harness, "canned_modem.mpy"), "canned_modem.py")
        forms = {
            "mpy": [os.path.join(tmp, "mpy", "quectel") + ":/lib/quectel", harness + ":/bench"],
            "py": [os.path.join(ROOT, "lib", "quectel") + ":/lib/quectel", harness + ":/bench"],
        }
        results = {}
        for form, trees in forms.items():
            r = figures(port, trees)
            r["min_import_kb"] = smallest_heap(port, trees, ["import quectel, quectel.socket"])
            r["min_steady_kb"] = smallest_heap(
                port, trees, ["import canned_modem", "m, s, uart = canned_modem.connected()"]
            )
            results[form] = r
    return results


def build_dir():
    path = os.path.join(ROOT, "build")
    os.makedirs(path, exist_ok=True)
    return path


def table(version, results):
    lines = [
        "quectel heap on 32-bit MicroPython %s (WebAssembly port, npm), bytes after gc.collect()"
        % version,
        "%-5s %10s %10s %14s %14s" % ("form", "import", "steady", "min heap imp.", "min heap st."),
    ]
    for form, r in results.items():
        lines.append("%-5s %10d %10d %11s KB %11s KB" % (
            form, r["import"], r["steady"], r["min_import_kb"], r["min_steady_kb"]))  # fmt: skip
    lines.append("import: quectel + quectel.socket; steady: + Modem connected over a canned UART"
                 " with one TCP socket open")  # fmt: skip
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", default=newest_version(), help="a release in the matrix")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    results = measure(args.version)
    print(table(args.version, results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"version": args.version, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
