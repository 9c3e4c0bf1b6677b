"""The real loopback sockets behind the connections: open, accept, receive, send, close."""

import selectors
import socket

from .addresses import is_loopback
from .connections import Conn
from .limits import (
    INCOMING,
    LISTENER,
    MAX_READ,
    S_CLOSING,
    S_CONNECTED,
    S_LISTENING,
    SERVICE,
    TCP,
    UDP,
)
from .uart import BACKLOG_MAX


def recv_urc(c, data, ip=None, port=None):
    """A direct-push "recv" URC carrying data (UDP SERVICE: with the sender's address)."""
    if c.kind == SERVICE:
        head = b'\r\n+QIURC: "recv",%d,%d,"%s",%d\r\n' % (c.cid, len(data), ip.encode(), port)
    else:
        head = b'\r\n+QIURC: "recv",%d,%d\r\n' % (c.cid, len(data))
    return head + data + b"\r\n"


class SocketIO:
    """m is the module: its conns, engine (URCs), transparent session and fault layer.

    rx_buffer caps each connection's receive buffer, send_buffer its unsent bytes,
    push_max the payload of one direct-push URC.
    """

    def __init__(self, m, rx_buffer, send_buffer, push_max):
        self.m = m
        self.rx_buffer = rx_buffer
        self.send_buffer = send_buffer
        # Largest payload of one direct-push "recv" URC: section 2.16.2 sets no cap on
        # <currentrecvlength>, and real modules announce 4096 bytes at once.
        self.push_max = push_max

    # --- open / close

    def open(self, c, host, fail):
        """Open c's socket; c.on_open(c, err) reports the result (now or when connected)."""
        if self.m.conns.get(c.cid) is not c:
            return
        if fail:
            c.on_open(c, fail)
            return
        if c.kind in (LISTENER, SERVICE):
            self._open_server(c)
            return
        ips = self.m.dns.lookup(host)
        if not ips:
            c.on_open(c, 565)
            return
        ip = ips[0]
        c.ip = ip
        if not is_loopback(ip):
            c.on_open(c, 554)
            return
        try:
            s = socket.socket(
                socket.AF_INET, socket.SOCK_STREAM if c.kind == TCP else socket.SOCK_DGRAM
            )
        except OSError:
            c.on_open(c, 560)
            return
        s.setblocking(False)
        if c.lport:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", c.lport))
            except OSError:
                s.close()
                c.on_open(c, 568)
                return
        c.sock = s
        if c.kind == UDP:
            try:
                s.connect((ip, c.rport))
            except OSError:
                return self._opened(c, 554)
            return self._opened(c, 0)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect((ip, c.rport))
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return self._opened(c, 554)
        c.connecting = True
        self.update(c)

    def _open_server(self, c):
        c.ip = self.m.contexts.ip_of(c.ctx)
        try:
            if c.kind == LISTENER:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            else:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except OSError:
            c.on_open(c, 560)
            return
        try:
            s.bind(("127.0.0.1", c.lport))
        except OSError:
            s.close()
            c.on_open(c, 568)
            return
        if c.kind == LISTENER:
            try:
                s.listen(8)
            except OSError:
                s.close()
                c.on_open(c, 567)
                return
        s.setblocking(False)
        c.sock = s
        c.lport = s.getsockname()[1]
        c.state = S_LISTENING if c.kind == LISTENER else S_CONNECTED
        self.update(c)
        c.on_open(c, 0)

    def _connected(self, c):
        c.connecting = False
        self._opened(c, 554 if c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) else 0)

    def _opened(self, c, err):
        # A client connection's open ends: connected (err 0), or closed with that error.
        if err:
            self.close(c)
        else:
            c.state = S_CONNECTED
            self.update(c)
        c.on_open(c, err)

    def close(self, c):
        """Close c's real socket (the connect ID stays as it is)."""
        if c.sock is not None:
            self.m.loop.watch(c.sock, 0, None)
            c.sel_mask = 0
            try:
                # The module's stack has taken what the peer sent: read it first, so the
                # peer sees the close (FIN), not a reset for data never read.
                c.sock.setblocking(False)
                while c.sock.recv(65536):
                    pass
            except OSError:
                pass
            try:
                c.sock.close()
            except OSError:
                pass
            c.sock = None
        c.connecting = False

    def close_flushing(self, c):
        """AT+QICLOSE: what the host sent goes out first (as far as the kernel takes it)."""
        if c.sock is not None and c.txq and not c.is_udp():
            try:
                c.sock.send(c.txq)
            except OSError:
                pass
        self.close(c)

    def peer_closed(self, c):
        """The remote side closed (or the connection broke)."""
        self.close(c)
        c.state = S_CLOSING
        if self.m.tm.cid == c.cid:
            self.m.tm.no_carrier(c)
            return
        self.m.engine.urc(b'\r\n+QIURC: "closed",%d\r\n' % c.cid)

    # --- events

    def _want_read(self, c):
        if c.sock is None or c.connecting:
            return False
        if c.kind in (LISTENER, SERVICE, UDP):
            return True
        if self.m.tm.cid == c.cid:
            if self.m.tm.pp_count:
                return len(c.rx) < self.rx_buffer
            return self._backlog() < BACKLOG_MAX
        if c.mode == 1:
            return self._backlog() < BACKLOG_MAX
        return len(c.rx) < self.rx_buffer

    def _backlog(self):
        return self.m.uart.queued() + self.m.engine.held_bytes()

    def update(self, c):
        """Watch c's socket for what it can take now."""
        if c.sock is None:
            return
        mask = 0
        if self._want_read(c):
            mask |= selectors.EVENT_READ
        if c.connecting or (c.txq and c.is_tcp_stream()):
            mask |= selectors.EVENT_WRITE
        if mask != c.sel_mask:
            self.m.loop.watch(c.sock, mask, lambda s, m, c=c: self._on_event(c, s, m))
            c.sel_mask = mask

    def resume_readers(self):
        for c in list(self.m.conns.values()):
            if c.sock is not None and not (c.sel_mask & selectors.EVENT_READ):
                self.update(c)

    def _on_event(self, c, sock, mask):
        if c.sock is not sock or self.m.conns.get(c.cid) is not c:
            return
        if mask & selectors.EVENT_WRITE:
            if c.connecting:
                self._connected(c)
                return
            self._tcp_flush(c)
        if c.sock is None:
            return
        if mask & selectors.EVENT_READ:
            if c.kind == LISTENER:
                self._accept(c)
            elif c.is_udp():
                self._udp_read(c)
            else:
                self._tcp_read(c)
        if c.sock is not None:
            self.update(c)

    def _accept(self, lc):
        try:
            s, (ip, port) = lc.sock.accept()
        except OSError:
            return
        cid = self.m.conns.free_cid(self.m.tls.conns)
        if cid is None:
            s.close()
            self.m.engine.urc(b'\r\n+QIURC: "incoming full"\r\n')
            return
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(cid, lc.ctx, INCOMING, lc.mode)
        c.sock = s
        c.ip = ip
        c.rport = port
        c.lport = lc.lport
        c.server = lc.cid
        c.state = S_CONNECTED
        self.m.conns[cid] = c
        self.m.engine.urc(
            b'\r\n+QIURC: "incoming",%d,%d,"%s",%d\r\n' % (cid, lc.cid, ip.encode(), port)
        )
        self.update(c)

    def _tcp_read(self, c):
        tm = self.m.tm
        if tm.cid == c.cid:
            n = self.rx_buffer - len(c.rx) if tm.pp_count else 65536
        elif c.mode == 1:
            n = max(MAX_READ * 8, self.push_max)
        else:
            n = self.rx_buffer - len(c.rx)
        if n <= 0:
            return
        try:
            data = c.sock.recv(n)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.peer_closed(c)
            return
        c.rx_total += len(data)
        if tm.cid == c.cid:
            if tm.pp_count:
                c.rx += data
            else:
                c.rx_read += len(data)
                self.m.faults.emit(data)
            return
        if c.mode == 1:
            c.rx_read += len(data)
            self._push(c, data)
            return
        c.rx += data
        self.announce(c)

    def _push(self, c, data):
        for i in range(0, len(data), self.push_max):
            self.m.engine.urc(recv_urc(c, data[i : i + self.push_max]))

    def announce(self, c):
        """Buffer mode: the first unread data raises +QIURC: "recv"."""
        if c.armed and c.unread():
            c.armed = False
            self.m.engine.urc(b'\r\n+QIURC: "recv",%d\r\n' % c.cid)

    def _udp_read(self, c):
        tm = self.m.tm
        for _ in range(64):
            try:
                data, addr = c.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # e.g. ECONNREFUSED from an earlier datagram: UDP does not care
                continue
            data = data[:MAX_READ]
            ip, port = addr[0], addr[1]
            c.rx_total += len(data)
            if tm.cid == c.cid:
                if tm.pp_count:
                    c.dgrams.append((data, ip, port))
                    c.dgram_bytes += len(data)
                else:
                    c.rx_read += len(data)
                    self.m.faults.emit(data)
                continue
            if c.mode == 1:
                c.rx_read += len(data)
                self.m.engine.urc(recv_urc(c, data, ip, port))
                continue
            if c.dgram_bytes + len(data) > self.rx_buffer:
                c.rx_total -= len(data)  # dropped: the buffer is full
                continue
            c.dgrams.append((data, ip, port))
            c.dgram_bytes += len(data)
            self.announce(c)

    def push_buffered(self, c):
        """Switched to direct push: what was buffered goes out as "recv" URCs."""
        if c.is_tcp_stream():
            data = bytes(c.rx)
            c.rx.clear()
            c.rx_read += len(data)
            self._push(c, data)
        else:
            while c.dgrams:
                data, ip, port = c.dgrams.popleft()
                c.dgram_bytes -= len(data)
                c.rx_read += len(data)
                self.m.engine.urc(recv_urc(c, data, ip, port))
        c.armed = True

    # --- sending

    def _tcp_flush(self, c):
        if c.sock is None:
            return
        while c.txq:
            try:
                n = c.sock.send(c.txq)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.peer_closed(c)
                return
            del c.txq[:n]
        self.update(c)

    def send(self, c, data, addr=None):
        """Hand data to the real socket (UDP SERVICE: to addr)."""
        if c.is_tcp_stream():
            c.txq += data
            self._tcp_flush(c)
        elif c.kind == UDP:
            try:
                c.sock.send(data)
            except OSError:
                pass  # datagrams get lost
        else:
            ip, port = addr
            if is_loopback(ip):
                try:
                    c.sock.sendto(data, (ip, port))
                except OSError:
                    pass
        c.tx_total += len(data)
        c.unacked_extra += self.m.faults.take_unacked(len(data))

    def send_would_overflow(self, c, n):
        return c.is_tcp_stream() and len(c.txq) + n > self.send_buffer
