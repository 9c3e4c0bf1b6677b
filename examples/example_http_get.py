"""HTTP GET over the cellular module with micropython-lib `requests`.

`requests` is frozen into most firmwares with networking (ESP32); a stock Raspberry Pi Pico
has none: `mpremote mip install requests` first. Run: `mpremote run examples/example_http_get.py`
with the package and your board file on the board (README: Install).
"""

import quectel.socket
from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
URL = "http://example.com/"

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


def main():
    modem = Modem.for_board(board, on_change=print)
    modem.connect(APN)  # power on, SIM, registration, PDP context
    quectel.socket.use(modem)  # from here on `import socket` is the module's
    import requests  # imports socket: after use()

    r = requests.get(URL)
    print("HTTP", r.status_code)
    print(r.text)
    r.close()
    modem.disconnect()


main()
