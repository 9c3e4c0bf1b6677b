"""Blocking AT+QIRD / AT+QISEND exchanges straight on an `ATEngine`, for tests and the bench
(the library's sockets drive the same engine calls through `quectel.conn.Op`)."""

from quectel.engine import DEFAULT_TIMEOUT_MS, SEND_FAIL, _name
from quectel.errors import ATTimeout


def _finish(eng, cmd, timeout_ms):
    if not eng.wait(eng.finished_fn, timeout_ms):
        eng.abort()
        raise ATTimeout(_name(cmd), timeout_ms)
    if eng.needs_reason(cmd):
        raise eng.run(eng.g_reason(cmd))


def read_data(eng, cid, dst, maxlen=-1, timeout_ms=DEFAULT_TIMEOUT_MS):
    """`AT+QIRD` into `dst`: the byte count (see `ATEngine.begin_read`)."""
    eng.begin_read(cid, dst, maxlen)
    _finish(eng, b"AT+QIRD", timeout_ms)
    return eng.end_read()


def send_data(eng, cid, src, off, n, addr=None, timeout_ms=DEFAULT_TIMEOUT_MS):
    """Fixed-length `AT+QISEND` of src[off:off+n]: True for SEND OK, False for SEND FAIL;
    raises for ERROR."""
    eng.begin_send(cid, n, addr)
    _finish(eng, b"AT+QISEND", timeout_ms)
    if eng.prompted:
        while n:
            k = eng.payload(src, off, n)
            off += k
            n -= k
            if not k:
                eng.idle()
        _finish(eng, b"AT+QISEND", timeout_ms)
    if eng.result == SEND_FAIL:
        eng.abort()
        return False
    eng.end(b"AT+QISEND")
    return True
