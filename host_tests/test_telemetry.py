"""#26.6, a telemetry app that loses nothing: the firmware (blocking and asyncio variants) on
the virtual board under MCU resets (the firmware process killed at any point and started
again on the same flash queue), network outages and silent-module outages of minutes
(module time), through
tools/soak.py's machinery at speed 50. Every reading produced reaches the endpoint exactly
once after its de-duplication, or was dropped because the queue was full, counted and
reported; the heap stays flat. Loopback only; bounded (about 10 s real each)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import soak  # noqa: E402


@pytest.mark.parametrize("variant", ["main", "main_async"])
def test_no_reading_lost_through_mcu_resets_and_outages(variant, tmp_path):
    args = ["8", "50", "--seed", "6", "--faults", "mcu_reset,outage,module_outage", "--every", "10-30",
            "--queue-max", "20", "--out", str(tmp_path)]  # fmt: skip
    if variant == "main_async":
        args.append("--async")
    summary, _ = soak.run(soak.parse_args(args))
    print(soak.report(summary))
    assert summary["ok"], summary["problems"]
    kinds = summary["faults_by_kind"]
    assert summary["mcu_resets"] >= 2, kinds
    assert kinds.get("outage", 0) >= 1 and kinds.get("module_outage", 0) >= 1, kinds
    assert summary["lost"] == 0 and summary["final_run_exit"] == 0
    assert summary["left_in_queue"] == 0
    produced = summary["readings_produced"]
    assert produced > 10
    assert summary["received_unique"] + summary["dropped_when_full"] == produced
    assert not summary["heap"]["grew"], summary["heap"]
    if variant == "main_async":  # it samples through the outage: the queue of 20 overflows
        assert summary["dropped_when_full"] > 0
        assert 0 < summary["dropped_reported_in_readings"] <= summary["dropped_when_full"]
