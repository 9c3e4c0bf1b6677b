"""Test payloads for the device suites (MicroPython and CPython)."""


def pattern(n, seed):
    """n pseudo-random bytes (all 256 values), with module-output look-alikes near the start:
    CR LF, +++, Ctrl-Z, ESC, OK, SEND OK, a recv URC and a prompt."""
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    special = b'\r\n+++\x1a\x1bOK\r\nSEND OK\r\n+QIURC: "recv",0\r\n> '
    if n >= 100 + len(special):
        out[100 : 100 + len(special)] = special
    return out


def echo_check(s, data, chunk=8192):
    """Send data to an echo peer through socket s in chunks and check every byte that comes
    back against it, in place; returns the count. AssertionError at the first difference."""
    mv = memoryview(data)
    buf = bytearray(1500)
    got = off = 0
    while got < len(data):
        if off < len(data):
            s.sendall(mv[off : off + chunk])
            off += chunk
        while got < min(off, len(data)):
            n = s.recv_into(buf)
            assert n, "EOF after %d bytes" % got
            assert buf[:n] == mv[got : got + n], "mismatch near byte %d" % got
            got += n
    return got
