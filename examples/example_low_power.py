"""A low-power report loop: the module is switched off between reports (AT+QPOWD: it draws
microamps instead of the tens of milliamps of an idle registered module) and brought up
again for the next one. Each report is a line to a TCP server, which answers it."""

import time

import quectel.socket
from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
HOST = "reports.example.com"  # a TCP server that answers each line (an echo service will do)
PORT = 7
INTERVAL = 600  # seconds between reports
REPORTS = None  # how many before stopping; None: forever

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


def report(n):
    import socket

    s = socket.socket()
    s.settimeout(30)
    try:
        s.connect(socket.getaddrinfo(HOST, PORT)[0][-1])
        s.write(b"report %d uptime %d ms\n" % (n, time.ticks_ms()))
        print("report %d answered: %s" % (n, s.readline().decode().strip()))
    finally:
        s.close()


def main():
    modem = Modem.for_board(board, on_change=print)
    quectel.socket.use(modem)
    n = 0
    while REPORTS is None or n < REPORTS:
        n += 1
        try:
            modem.connect(APN)  # switches the module on when it is off
            report(n)
        except OSError as e:  # no network this time: try again at the next report
            print("report %d failed: %r" % (n, e))
        modem.power_off()
        print("module off")
        if REPORTS is None or n < REPORTS:
            time.sleep(INTERVAL)  # machine.lightsleep(INTERVAL * 1000) saves more on a board


main()
