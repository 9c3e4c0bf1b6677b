"""Data commands of buffer access mode: AT+QISEND and AT+QIRD."""

from ..addresses import is_ipv4
from ..errors import ParamError, TcpError
from ..limits import INCOMING, LISTENER, MAX_CONN, MAX_READ, MAX_SEND, S_CONNECTED, SERVICE, TCP
from ..params import int_at, str_at
from ..reply import ERROR, OK, PROMPT, SEND_FAIL, SEND_OK, Reply


def qisend(m, kind, p):
    if kind == "test":
        return ["+QISEND: (0-11),(0-1460)"]
    if kind != "write":
        raise ParamError()
    if not 1 <= len(p) <= 4 or len(p) == 3:
        raise ParamError()
    cid = int_at(p, 0, 0, MAX_CONN - 1)
    c = m.conns.get(cid)
    if len(p) >= 2:
        length = int_at(p, 1, 0, 1 << 30)
        if length == 0 and len(p) == 2:
            if c is None:
                raise TcpError(570)
            unacked = len(c.txq) + min(c.unacked_extra, c.tx_total)
            return ["+QISEND: %d,%d,%d" % (c.tx_total, c.tx_total - unacked, unacked)]
        if length > MAX_SEND or length == 0:
            raise ParamError()
    else:
        length = None
    addr = None
    if len(p) == 4:
        ip = str_at(p, 2)
        port = int_at(p, 3, 0, 65535)
        if not is_ipv4(ip):
            raise TcpError(557)
        addr = (ip, port)
    if c is None:
        raise TcpError(570)
    if c.kind == LISTENER:
        raise TcpError(559)
    if (c.kind == SERVICE) != (addr is not None) or (c.kind == SERVICE and length is None):
        raise ParamError()
    if c.state != S_CONNECTED or c.sock is None:
        raise TcpError(555)

    def prompt():
        m.engine.start_prompt(length, lambda data: _send(m, c, data, addr))

    return Reply([], PROMPT, then=prompt, keep_error=True)


def _send(m, c, data, addr):
    """The data of AT+QISEND arrived: the final result code."""
    if m.conns.get(c.cid) is not c or c.sock is None or c.state != S_CONNECTED:
        m.engine.last_err = 555
        return ERROR
    if m.faults.take_send_fail():
        return SEND_FAIL
    if m.sockets.send_would_overflow(c, len(data)):
        return SEND_FAIL
    m.sockets.send(c, data, addr)
    return SEND_OK


def qird(m, kind, p):
    if kind == "test":
        return ["+QIRD: (0-11),(0-1500)"]
    if kind != "write":
        raise ParamError()
    if not 1 <= len(p) <= 2:
        raise ParamError()
    cid = int_at(p, 0, 0, MAX_CONN - 1)
    length = int_at(p, 1, 0, MAX_READ, None)
    c = m.conns.get(cid)
    if c is None:
        raise TcpError(570)
    if length == 0:
        return ["+QIRD: %d,%d,%d" % (c.rx_total, c.rx_read, c.unread())]
    if c.kind == LISTENER:
        raise TcpError(559)
    if c.kind in (TCP, INCOMING):
        if length is None:
            raise ParamError()
        data = bytes(c.rx[:length])
        del c.rx[: len(data)]
        head = b"+QIRD: %d" % len(data)
    else:
        if c.dgrams:
            data, ip, port = c.dgrams.popleft()
            c.dgram_bytes -= len(data)
        else:
            data, ip, port = b"", None, None
        if data and c.kind == SERVICE:
            head = b'+QIRD: %d,"%s",%d' % (len(data), ip.encode(), port)
        else:
            head = b"+QIRD: %d" % len(data)
    c.rx_read += len(data)
    if not c.unread():
        c.armed = True
    m.sockets.update(c)
    # the payload follows the header line as it is (binary), then CR LF
    return Reply([head + b"\r\n" + data if data else head], OK, keep_error=True)


COMMANDS = {"+QISEND": qisend, "+QIRD": qird}
