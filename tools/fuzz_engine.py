#!/usr/bin/env python3
"""Coverage-guided fuzzing of the AT engine, the modem's URC handling and the parsers (atheris).

    .venv/bin/python tools/fuzz_engine.py [-max_total_time=600] [-runs=N] [corpus_dir]

Each input picks a command (from real exchanges with the virtual module), a chunk size for
the UART and arbitrary module output; the harness (host_tests/fuzzkit.py) fails on any
exception that is not a documented one, on a read that overflows, and on any byte written
to the UART while no command runs. The clock is a StepClock, so nothing can hang.
Not part of tools/test: run it by hand or in the background.
"""

import os
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "host_tests")
)

import atheris  # noqa: E402

with atheris.instrument_imports():
    import fuzzkit  # noqa: E402
    import quectel.engine  # noqa: E402, F401
    import quectel.modem  # noqa: E402, F401
    import quectel.parse  # noqa: E402, F401
    import quectel.socket  # noqa: E402, F401

CMDS = [c for c, _ in fuzzkit.SEED]


def one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    pick = fdp.ConsumeIntInRange(0, len(CMDS) - 1)
    chunk = fdp.ConsumeIntInRange(0, 8)
    out = fdp.ConsumeBytes(fdp.remaining_bytes())
    chunks = [chunk] if chunk else None
    if mode == 0:
        fuzzkit.run_idle(out, chunks)
    elif mode == 1:
        fuzzkit.check_parsers(out)
    else:
        # mode 3: the seed's real output followed by the fuzz bytes (deeper states)
        seed = fuzzkit.SEED[pick][1] if mode == 3 else b""
        fuzzkit.run_exchange(CMDS[pick], seed + out, chunks)


def write_seeds(d):
    os.makedirs(d, exist_ok=True)
    for i, (_cmd, out) in enumerate(fuzzkit.SEED):
        with open(os.path.join(d, "seed%02d" % i), "wb") as f:
            f.write(bytes([2, i, 0]) + out)
    for i, urc in enumerate(fuzzkit.URCS):
        with open(os.path.join(d, "urc%02d" % i), "wb") as f:
            f.write(bytes([0, 0, 0]) + b"\r\n" + urc + b"\r\n")


if __name__ == "__main__":
    dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
    if dirs and not (os.path.isdir(dirs[0]) and os.listdir(dirs[0])):
        write_seeds(dirs[0])
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
