"""Issue #22.3: the transparent-mode scanner never ends the mode on payload.

Payload may hold every marker the scanner looks for (`NO CARRIER`, `OK`, `+++`, `CONNECT`,
`+QIURC`), arrive split anywhere and with pauses shorter than the quiet time that makes a
trailing `NO CARRIER` believable: every byte reaches the sink, in order, and the UART is
still in data mode. (Only a `NO CARRIER` followed by 100 ms of silence or by a URC ends it:
payload that holds `NO CARRIER` CR LF then CR LF `+` reads as the module's own end, by the
protocol's design, and is left out.)
"""

from fakes import StepClock
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from quectel.engine import ATEngine, Events

MARKERS = (b"\r\nNO CARRIER\r\n", b"\r\nOK\r\n", b"+++", b"\r\nCONNECT\r\n",
           b'\r\n+QIURC: "closed",0\r\n', b"NO CARRIER", b"\r\n")  # fmt: skip


class ChunkUART:
    """Gives the engine one queued chunk per readinto; nothing else."""

    def __init__(self):
        self.chunks = []

    def any(self):
        return len(self.chunks[0]) if self.chunks else 0

    def readinto(self, buf, nbytes=-1):
        if not self.chunks:
            return None
        c = self.chunks[0]
        n = min(len(buf), len(c))
        buf[:n] = c[:n]
        if n == len(c):
            self.chunks.pop(0)
        else:
            self.chunks[0] = c[n:]
        return n

    def write(self, buf, off=0, n=-1):
        return len(buf) - off if n < 0 else n


class Sink:
    def __init__(self):
        self.got = bytearray()
        self.ended = None

    def data_room(self):
        return 1 << 30

    def data_in(self, mv, start, end):
        self.got += mv[start:end]

    def data_end(self, carrier_lost):
        self.ended = carrier_lost


pieces = st.lists(st.one_of(st.sampled_from(MARKERS), st.binary(min_size=1, max_size=40)),
                  min_size=1, max_size=60)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(parts=pieces, cuts=st.lists(st.integers(1, 64), min_size=1, max_size=20),
       pauses=st.lists(st.integers(0, 90), min_size=1, max_size=20),
       rxbuf=st.sampled_from([64, 128, 1600]))  # fmt: skip
def test_markers_in_payload_never_end_the_mode(parts, cuts, pauses, rxbuf):
    data = b"".join(parts) + b"end"  # the stream goes on after the last marker
    assume(b"NO CARRIER\r\n\r\n+" not in data)
    uart = ChunkUART()
    clock = StepClock()
    eng = ATEngine(uart, rxbuf=rxbuf, clock=clock, events=Events())
    sink = Sink()
    eng.enter_data(sink)
    i = k = 0
    while i < len(data):
        n = cuts[k % len(cuts)]
        uart.chunks.append(data[i : i + n])
        i += n
        while eng.poll():
            pass
        clock.sleep_ms(pauses[k % len(pauses)])  # shorter than the 100 ms quiet time
        k += 1
        eng.poll()
    assert sink.ended is None
    assert eng.data_mode
    assert bytes(sink.got) == data


def test_held_marker_is_forgotten_once_it_turned_out_to_be_payload():
    """#22.3: a NO CARRIER held at the end of the buffer, then followed by more payload,
    must not make a later NO CARRIER at the same buffer index look quiet at once."""
    uart = ChunkUART()
    clock = StepClock()
    eng = ATEngine(uart, rxbuf=64, clock=clock, events=Events())
    sink = Sink()
    eng.enter_data(sink)
    marker = b"\r\nNO CARRIER\r\n"
    uart.chunks.append(b"a" * 10 + marker)  # held: quiet would decide
    eng.poll()
    clock.sleep_ms(50)
    uart.chunks.append(b"b" * 40)  # it was payload; the buffer empties
    eng.poll()
    clock.sleep_ms(500)  # long ago now
    uart.chunks.append(b"c" * 10 + marker)  # the same end index as the first one
    eng.poll()
    assert eng.data_mode, "a fresh NO CARRIER was taken as quiet at once"
    uart.chunks.append(b"ddd")
    eng.poll()
    assert eng.data_mode
    assert bytes(sink.got) == b"a" * 10 + marker + b"b" * 40 + b"c" * 10 + marker + b"ddd"
