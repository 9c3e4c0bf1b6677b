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
