"""Property-based fuzzing of the engine, the modem's URC handling and every parser.

Module output is random or a mutation of exchanges captured from the virtual module (bytes
flipped, URCs inserted, truncated, lines duplicated, numbers changed) and is delivered in
random chunk sizes. Invariants (host_tests/fuzzkit.py): only QuectelError subclasses escape
the engine and only ValueError the parsers; a StepClock bounds every wait (no hang); output
fed while no command runs never makes the stack write to the UART.
"""

import random

import fuzzkit
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def captured():
    from conftest import EchoServer
    from virtual_module import VirtualModule

    srv = EchoServer()
    try:
        with VirtualModule(speed=50) as vm:
            got = fuzzkit.capture(vm, srv.port)
    finally:
        srv.close()
    assert any(c.startswith(b"AT+QIRD") for c, _ in got) and any(b"SEND OK" in o for _, o in got)
    return got + fuzzkit.SEED


chunks = st.one_of(st.none(), st.lists(st.integers(1, 7), min_size=1, max_size=4))


def test_capture_is_real(captured):
    # The captured exchanges replay cleanly: the harness itself raises nothing.
    for cmd, out in captured:
        fuzzkit.run_exchange(cmd, out)
        fuzzkit.run_exchange(cmd, out, [1])


@FUZZ
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4), ch=chunks)
def test_mutated_exchanges(captured, data, seed, n, ch):
    cmd, out = data.draw(st.sampled_from(captured))
    rnd = random.Random(seed)
    for _ in range(n):
        out = fuzzkit.mutate(out, rnd)
    fuzzkit.check_parsers(out)
    fuzzkit.run_exchange(cmd, out, ch)


@FUZZ
@given(out=st.binary(max_size=300), pick=st.integers(0, len(fuzzkit.SEED) - 1), ch=chunks)
def test_random_output_for_every_command(out, pick, ch):
    fuzzkit.run_exchange(fuzzkit.SEED[pick][0], out, ch)


@FUZZ
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), ch=chunks)
def test_unsolicited_output_never_writes(captured, data, seed, ch):
    # Anything the module says while no command runs: URCs, stray answers, garbage.
    parts = data.draw(
        st.lists(st.sampled_from([o for _, o in captured] + fuzzkit.URCS), max_size=5)
    )
    out = b"\r\n".join(parts)
    out = fuzzkit.mutate(out, random.Random(seed)) if seed % 2 else out
    fuzzkit.run_idle(out, ch)


@FUZZ
@given(line=st.binary(max_size=120), prefix=st.sampled_from([
    b"+QIACT:", b"+QIOPEN:", b"+QISTATE:", b"+QISEND:", b"+QIRD:", b"+QISWTMD:", b"+QPING:",
    b"+QNTP:", b"+QIDNSCFG:", b"+QICFG:", b"+QIGETERROR:", b"+CME ERROR:", b"+QIURC:",
    b"+QICSGP:", b'+QIURC: "', b""]))  # fmt: skip
def test_parsers_raise_only_value_error(line, prefix):
    fuzzkit.check_parsers(prefix + line)


def test_garbled_ids_in_urcs_are_ignored():
    # Found by this suite: a data URC for connect ID 99 raised IndexError out of poll().
    for urc in (b'+QIURC: "recv",99', b'+QIURC: "recv",77,3\r\nabc', b'+QIURC: "closed",12'):
        m = fuzzkit.run_idle(b"\r\n" + urc + b"\r\n")
        assert not m.at.busy
