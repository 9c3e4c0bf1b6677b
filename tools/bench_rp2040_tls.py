#!/usr/bin/env python3
"""Heap of one TLS request on the emulated Pico (tools/rp2040) with the module's TLS.

Stock RPI_PICO firmware has no ssl, so the module's TLS (quectel.tls) is the only TLS there is:
the figure is gc.mem_alloc() growth (collection off) of one request over a connected modem:
socket, AT+QSSLOPEN with the server verified against an uploaded CA, a 100-byte request
written and echoed back by a loopback TLS peer (host_tests/tlskit.py, RSA), close. The first
request, which uploads the CA and configures an SSL context, is left out.

Needs $RP2040_FIRMWARE and $RP2040_BOOTROM (tools/emulated_pico.py). Not part of tools/test.
"""

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tools"), os.path.join(ROOT, "host_tests")]

from bench_rp2040 import copy_library, run_script  # noqa: E402
from emulated_pico import EmulatedPico, skip_reason  # noqa: E402
from tlskit import Certs, TLSPeer  # noqa: E402
from virtual_module import VirtualModule  # noqa: E402

SCRIPT = """
import gc
import boards.rpi_pico as board
import quectel.socket
import quectel.tls as tls
from quectel import Modem

m = Modem.for_board(board)
m.connect("internet")
quectel.socket.use(m)
import socket

ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(cafile="ca.pem")
req = b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n" + b"x" * 64 + b"\\r\\n\\r\\n"
buf = bytearray(len(req))


def request():
    s = socket.socket()
    s.settimeout(30)
    s.connect(socket.getaddrinfo("localhost", %(port)d)[0][-1])
    s = ctx.wrap_socket(s, server_hostname="localhost")
    s.write(req)
    got = 0
    while got < len(req):
        got += s.readinto(memoryview(buf)[got:])
    s.close()
    return bytes(buf) == req


request()  # uploads the CA, configures an SSL context
gc.collect()
gc.disable()
before = gc.mem_alloc()
ok = request()
used = gc.mem_alloc() - before
gc.enable()
print("TLSHEAP", used, ok)
"""


def main():
    reason = skip_reason()
    if reason:
        raise SystemExit("bench_rp2040_tls: %s" % reason)
    certs = Certs()
    peer = TLSPeer(certs.good, mode="echo")
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            VirtualModule() as vm,
            EmulatedPico(
                uart=("127.0.0.1", vm.port), pins=("127.0.0.1", vm.pin_port), timeout=600
            ) as pico,
        ):
            copy_library(pico, tmp)
            ca = os.path.join(tmp, "ca.pem")
            with open(ca, "wb") as f:
                f.write(certs.ca_pem)
            pico.mpremote("cp", ca, ":ca.pem")
            out = run_script(pico, SCRIPT % dict(port=peer.port), tmp, 900)
    finally:
        peer.close()
    if "TLSHEAP " not in out:
        raise SystemExit("bench_rp2040_tls: no figure:\n" + out[-600:])
    used, ok = out.split("TLSHEAP ")[1].split()[:2]
    print("RP2040 (MicroPython rp2 on rp2040js), one TLS request by the module's TLS")
    print("  heap allocated: %s B (echo %s); MCU TLS: none here (no ssl)" % (used, ok))


if __name__ == "__main__":
    main()
