"""tools/bench's device scenarios still run against the library (no figure is asserted: the
benchmark measures, tests only check that it can)."""

import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_sections_run_without_errors(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "bench.py"), "--quick",
         "--only", "canned,code,post", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = glob.glob(str(tmp_path / "*.json"))
    with open(path) as f:
        r = json.load(f)
    assert not r.get("errors"), r.get("errors")
    assert set(r["canned"]) >= {"buffer_send", "buffer_recv", "push_recv", "transparent_send"}
    assert all(v is not None for k, v in r["canned"].items() if not k.endswith("_switch"))
    assert r["code"]["mpy_bytes"] > 0 and r["code"]["import_heap_mpy"] > 0
    for key in ("uncoalesced", "coalesced"):
        assert [x["status"] for x in r["post"][key]] == [200] * 3
        assert all(x["qisend"] >= 1 for x in r["post"][key])
