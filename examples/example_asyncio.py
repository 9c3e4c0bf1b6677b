"""asyncio: an HTTP GET through quectel.aio while another task keeps ticking; the event loop
never waits for the module (a context activation may take 150 s)."""

import asyncio

from quectel import Modem
from quectel.aio import AModem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
HOST = "example.com"
PORT = 80
PATH = "/"

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


async def ticker(ticks):
    while True:
        await asyncio.sleep_ms(100)
        ticks[0] += 1  # a sensor, a display, a button: they keep running


async def main():
    ticks = [0]
    asyncio.create_task(ticker(ticks))
    am = AModem(Modem.for_board(board), on_change=lambda state, reason: print(state, reason))
    await am.connect(APN)
    am.supervise()  # the recovery rules as a task
    r, w = await am.open_connection(HOST, PORT)
    w.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (PATH, HOST)).encode())
    await w.drain()
    print((await r.readline()).decode().strip())  # the status line
    while (await r.readline()) not in (b"", b"\r\n"):  # the headers
        pass
    print((await r.read(1024)).decode())
    w.close()
    await w.wait_closed()
    print("ticks meanwhile:", ticks[0])
    await am.stop()


asyncio.run(main())
