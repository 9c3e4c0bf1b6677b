"""The connect IDs of the module (0-11) and what each holds."""

from collections import deque

from .limits import INCOMING, MAX_CONN, S_OPENING, SERVICE, TCP, UDP


class Conn:
    """One connect ID, backed by a real socket."""

    def __init__(self, cid, ctx, kind, mode):
        self.cid = cid
        self.ctx = ctx
        self.kind = kind
        self.mode = mode  # access mode: 0 buffer, 1 direct push, 2 transparent
        self.state = S_OPENING
        self.sock = None
        self.ip = "127.0.0.1"  # shown by QISTATE
        self.rport = 0
        self.lport = 0
        self.server = 0
        self.rx = bytearray()  # TCP receive buffer
        self.dgrams = deque()  # UDP: (data, ip, port)
        self.dgram_bytes = 0
        self.rx_total = 0
        self.rx_read = 0
        self.armed = True  # buffer mode: next data raises +QIURC: "recv"
        self.txq = bytearray()  # written by the host, not yet taken by the kernel
        self.tx_total = 0
        self.unacked_extra = 0
        self.sel_mask = 0
        self.connecting = False
        self.on_open = None

    def unread(self):
        return len(self.rx) if self.kind in (TCP, INCOMING) else self.dgram_bytes

    def is_udp(self):
        return self.kind in (UDP, SERVICE)

    def is_tcp_stream(self):
        return self.kind in (TCP, INCOMING)

    def take_buffered(self):
        """Everything received and not read yet, as a list of byte strings (marked read)."""
        out = []
        if self.is_tcp_stream():
            if self.rx:
                out.append(bytes(self.rx))
                self.rx.clear()
        else:
            while self.dgrams:
                data, _, _ = self.dgrams.popleft()
                self.dgram_bytes -= len(data)
                out.append(data)
        for data in out:
            self.rx_read += len(data)
        return out

    def info(self):
        return {
            "kind": self.kind,
            "state": self.state,
            "mode": self.mode,
            "ctx": self.ctx,
            "unread": self.unread(),
            "tx_total": self.tx_total,
            "lport": self.lport,
            "ip": self.ip,
            "rport": self.rport,
        }


class Connections(dict):
    """cid -> Conn."""

    def free_cid(self, others=()):
        """The highest ID free here and in others (incoming connections take it), or None."""
        for cid in range(MAX_CONN - 1, -1, -1):
            if cid not in self and cid not in others:
                return cid
        return None

    def snapshot(self):
        return {c.cid: c.info() for c in self.values()}
