# Soak client for the MicroPython unix port on the virtual board (run by tools/soak).
# Uses the library as an application would: Modem.for_board, connect, one TCP socket to a
# loopback echo peer, modem.check() after every failure. Each message is resent until its
# echo comes back (the acknowledgement), so none may be lost. Prints HEAP lines (module ms,
# gc.mem_alloc() after gc.collect()) and one final SOAK line.
import gc
import os

import boards.virtual as board

from quectel import Modem

PORT = int(os.getenv("ECHO_PORT"))
LIMIT_MS = int(os.getenv("SOAK_MS") or "1800000")
HEAP_EVERY = 50

modem = Modem.for_board(board)
clock = modem.clock
t0 = clock.ticks_ms()
sent = acked = reconnects = failures = 0
sock = None
buf = bytearray(64)
msg = bytearray(48)


def elapsed():
    return clock.ticks_diff(clock.ticks_ms(), t0)


def up():
    # Bring the data connection back; True when a socket is open.
    global sock, reconnects
    while elapsed() < LIMIT_MS:
        try:
            if not modem.isconnected() and modem._apn is None:
                modem.connect("internet")
            elif not modem.check():
                clock.sleep_ms(1000)
                continue
            s = modem.socket()
            s.settimeout(20)
            s.connect(("127.0.0.1", PORT))
            sock = s
            reconnects += 1
            return True
        except Exception as e:  # noqa: BLE001 - a soak logs and goes on
            print("RECONNECT-FAIL", elapsed(), repr(e))
            clock.sleep_ms(2000)
    return False


def drop():
    global sock
    if sock is not None:
        try:
            sock.close()
        except Exception:  # noqa: BLE001
            pass
    sock = None


gc.collect()
print("HEAP", 0, gc.mem_alloc())
while elapsed() < LIMIT_MS:
    if sock is None and not up():
        break
    n = acked
    body = b"MSG %08d " % n
    msg[: len(body)] = body
    for i in range(len(body), 47):
        msg[i] = 97 + (n + i) % 26
    msg[47] = 10
    try:
        sock.sendall(msg)
        sent += 1
        got = 0
        while got < 48:
            k = sock.recv_into(memoryview(buf)[got:48])
            if not k:
                raise OSError(104)
            got += k
        if buf[:48] != msg:
            print("MISMATCH", n, bytes(buf[:48]))
            raise OSError(5)
        acked += 1
    except Exception as e:  # noqa: BLE001
        failures += 1
        print("FAIL", elapsed(), n, repr(e))
        drop()
        continue
    if acked % HEAP_EVERY == 0:
        gc.collect()
        print("HEAP", elapsed(), gc.mem_alloc())
drop()
gc.collect()
print("HEAP", elapsed(), gc.mem_alloc())
print("SOAK module_ms=%d sent=%d acked=%d reconnects=%d failures=%d" % (
    elapsed(), sent, acked, reconnects, failures))
