"""quectel.aio under CPython: public asyncio API only, and cancelled reads lose nothing. The
same module runs on MicroPython in host_tests/device/test_aio_mp.py (one code path)."""

import asyncio
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AIO = os.path.join(ROOT, "lib", "quectel", "aio.py")

# asyncio internals MicroPython has renamed before (2022), and the protocol of its own sleep:
# none of them may come back into quectel.aio.
_INTERNALS = (
    r"\bcore\b",
    r"_task_queue",
    r"_io_queue",
    r"cur_task",
    r"\.waiting\b",
    r"\.state\s*=[^=]",
    r"\bph_key\b",
    r"def __next__",
    r"def throw\b",
    r"asyncio\.[a-z_]+\.",  # a submodule of asyncio (asyncio.core.x, asyncio.lock.x)
)


def test_aio_uses_public_asyncio_api_only():
    with open(AIO) as f:
        src = f.read()
    found = [(p, m.group(0)) for p in _INTERNALS for m in re.finditer(p, src)]
    assert not found, found


def test_cancelled_reads_lose_no_bytes(modem, echo):
    """Readers cancelled at arbitrary moments (mid-AT+QIRD among them): their procedure is
    finished in the background and what it read goes back to the front of the stream."""
    from quectel.aio import AModem

    data = bytes((i * 7 + i // 251) & 0xFF for i in range(60000))
    am = AModem(modem)

    async def main():
        r, w = await am.open_connection("127.0.0.1", echo.port)
        got = bytearray()

        async def reader():
            while True:
                got.extend(await r.read(700))

        w.write(data)
        await w.drain()  # all of it echoed into the module's buffer: only reads are cancelled
        cancels = 0
        mid_read = 0
        while len(got) < len(data) and cancels < 200:
            t = asyncio.create_task(reader())
            await asyncio.sleep(0.001 * (cancels % 7))
            mid_read += am.command_name == "AT+QIRD"
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                pass
            cancels += 1
        while len(got) < len(data):  # what is left, without cancels
            got.extend(await asyncio.wait_for(r.read(1500), 10))
        await w.wait_closed()
        await am.stop()
        return got, cancels, mid_read

    got, cancels, mid_read = asyncio.run(asyncio.wait_for(main(), 60))  # a hang fails
    assert cancels > 10 and mid_read, (cancels, mid_read)
    assert bytes(got) == data


def test_a_finished_answer_stays_its_readers_until_collected(monkeypatch):
    """The module's whole answer to AT+QIRD can be read while the command is still being
    written; the UART lock stays with that reader until it has collected the count, so the
    other socket's read cannot start in between and take it over (it did when the reader
    gave other tasks a turn right then, as it does after a run of steps: here after each)."""
    from fakes import ScriptUART
    from quectel import Modem, aio
    from quectel.aio import AModem
    from quectel.modem import STAT_GOT_IP

    monkeypatch.setattr(aio, "_STEPS_IN_A_ROW", 1)

    uart = ScriptUART([
        (b"AT+QIRD=0,10\r", b"\r\n+QIRD: 3\r\nabc\r\n\r\nOK\r\n"),
        (b"AT+QIRD=1,10\r", b"\r\n+QIRD: 5\r\ndefgh\r\n\r\nOK\r\n"),
    ])  # fmt: skip
    m = Modem(uart)
    m.state = STAT_GOT_IP
    am = AModem(m)
    socks = []
    for cid in (0, 1):
        s = am.socket()
        s.c.cid = cid
        s.c.service = "TCP"
        s.c.avail = True
        m.sockets[cid] = s.c
        socks.append(s)

    async def main():
        bufs = [bytearray(10), bytearray(10)]
        counts = await asyncio.gather(*(s.readinto(b) for s, b in zip(socks, bufs, strict=True)))
        await am.stop()
        return counts, bufs

    counts, bufs = asyncio.run(asyncio.wait_for(main(), 10))
    assert counts == [3, 5]
    assert bufs[0][:3] == b"abc" and bufs[1][:5] == b"defgh"
