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
        # Its readings are sampled while another task may hold a POST's buffers, or run a
        # recovery with quectel.power and quectel.lifecycle loaded (released after it), and
        # each MCU reset starts without the modules a first use loads (quectel.dns): the heap
        # in use at a sample varies by up to 4 KB, whatever the trend.
        args += ["--async", "--heap-slack", "4096"]
    summary, _ = soak.run(soak.parse_args(args))
    print(soak.report(summary))
    assert not summary["problems"], summary["problems"]  # heap growth included
    kinds = summary["faults_by_kind"]
    assert summary["mcu_resets"] >= 2, kinds
    assert kinds.get("outage", 0) >= 1 and kinds.get("module_outage", 0) >= 1, kinds
    assert summary["lost"] == 0 and summary["final_run_exit"] == 0
    assert summary["left_in_queue"] == 0
    produced = summary["readings_produced"]
    assert produced > 10
    # Every reading arrived or was dropped from a full queue (lost is 0 above); one can be
    # both, when the server got it but its answer was cut off and the queue then filled.
    assert summary["received_unique"] + summary["dropped_when_full"] >= produced
    if variant == "main_async":  # it samples through the outage: the queue of 20 overflows
        assert summary["dropped_when_full"] > 0
        assert 0 < summary["dropped_reported_in_readings"] <= summary["dropped_when_full"]


def test_endpoint_deduplicates_by_device_and_seq():
    """tools/endpoint.py: a reading or an array of them; a (device, seq) seen before is
    counted as a duplicate and printed as such, not as a new reading."""
    import http.server
    import json
    import threading
    import urllib.request

    import endpoint

    class Handler(endpoint.Handler):
        readings = endpoint.Readings()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    url = "http://127.0.0.1:%d/telemetry" % srv.server_address[1]

    def post(doc):
        req = urllib.request.Request(url, json.dumps(doc).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    try:
        assert post({"device": "a", "seq": 1})["unique"] == 1
        got = post(
            [{"device": "a", "seq": 1}, {"device": "a", "seq": 2}, {"device": "b", "seq": 1}]
        )
        assert (got["unique"], got["duplicates"]) == (3, 1)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert json.loads(r.read()) == {"ok": True, "n": 3, "unique": 3, "duplicates": 1}
    finally:
        srv.shutdown()
        srv.server_close()
