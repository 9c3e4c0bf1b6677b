"""HTTPS: TLS by the microcontroller (`ssl`, mbedTLS) over the module's plain TCP socket.

Needs a firmware with `ssl` (ESP32, the unix port; not a stock Raspberry Pi Pico). Give the
server's CA certificate (PEM or DER, a file on the board's flash) to have the server verified;
without one the connection is encrypted but the server is not authenticated.
"""

import quectel.socket
from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
HOST = "example.com"
PORT = 443
PATH = "/"
CA_FILE = None  # e.g. "ca.der": the CA that signed the server's certificate

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


def tls_context():
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if CA_FILE:
        with open(CA_FILE, "rb") as f:
            ctx.load_verify_locations(cadata=f.read())
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def main():
    modem = Modem.for_board(board, on_change=print)
    modem.connect(APN)
    quectel.socket.use(modem)
    import socket

    s = socket.socket()
    s.settimeout(60)
    s.connect(socket.getaddrinfo(HOST, PORT)[0][-1])
    tls = tls_context().wrap_socket(s, server_hostname=HOST)  # the handshake runs here
    tls.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (PATH, HOST)).encode())
    print(tls.readline().decode().strip())  # the status line
    while tls.readline() not in (b"", b"\r\n"):  # the headers
        pass
    print(tls.read(1024).decode())
    tls.close()
    modem.disconnect()


main()
