"""A TCP server on the module: clients connect to the module's IP address (the SIM needs a
public or reachable address: ask the operator). Each client gets its first line back in
capitals."""

from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
PORT = 8000
CLIENTS = None  # how many clients to serve before stopping; None: forever

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


def main():
    modem = Modem.for_board(board, on_change=print)
    modem.connect(APN)
    srv = modem.socket()
    srv.bind(("0.0.0.0", PORT))
    srv.listen(2)
    print("listening on %s:%d" % (modem.ipconfig("addr4")[0], PORT))
    served = 0
    while CLIENTS is None or served < CLIENTS:
        conn, addr = srv.accept()
        conn.settimeout(30)
        try:
            line = conn.readline()
            print("client %s:%d says %r" % (addr[0], addr[1], line))
            conn.write(line.upper())
        except OSError as e:
            print("client %s:%d: %r" % (addr[0], addr[1], e))
        conn.close()
        served += 1
    srv.close()
    modem.disconnect()


main()
