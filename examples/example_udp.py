"""UDP: a datagram to a server and its answer, through the module's UDP socket."""

import quectel.socket
from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
HOST = "udp-echo.example.com"  # a UDP server that answers (an echo service)
PORT = 7

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


def main():
    modem = Modem.for_board(board, on_change=print)
    modem.connect(APN)
    quectel.socket.use(modem)
    import socket

    addr = socket.getaddrinfo(HOST, PORT)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(30)
    for n in range(3):
        s.sendto(b"datagram %d" % n, addr)
        try:
            data, peer = s.recvfrom(1500)
            print("answer from %s:%d: %s" % (peer[0], peer[1], data.decode()))
        except OSError as e:  # UDP may lose a datagram: no answer in time
            print("no answer to datagram %d (%r)" % (n, e))
    s.close()
    modem.disconnect()


main()
