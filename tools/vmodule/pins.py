"""The pins as ASCII lines over a TCP server: ``NAME 0|1`` in, ``STATUS``/``RI`` levels out."""

import selectors

from .loop import OneClientServer, close_quietly


class PinServer(OneClientServer):
    """Lines from the client go to on_pin(name, level); on_gone runs when it disconnects.

    outputs holds the levels of STATUS and RI; drive() changes one and reports it.
    """

    def __init__(self, loop):
        super().__init__(loop)
        self.outputs = {"STATUS": 0, "RI": 1}
        self.on_pin = None
        self.on_gone = None
        self._buf = bytearray()

    def drive(self, name, level):
        """Set output pin name; a change is reported to the client."""
        if level != self.outputs[name]:
            self.outputs[name] = level
            self._send("%s %d\n" % (name, level))

    def _on_accept(self, srv, mask):
        try:
            s, _ = srv.accept()
        except OSError:
            return
        if self._sock is not None:
            self.loop.watch(self._sock, 0, None)
            close_quietly(self._sock)
        s.setblocking(False)
        self._sock = s
        self._buf = bytearray()
        self.loop.watch(s, selectors.EVENT_READ, self._on_read)
        self._send("STATUS %d\nRI %d\n" % (self.outputs["STATUS"], self.outputs["RI"]))

    def _send(self, text):
        if self._sock is None:
            return
        try:
            self._sock.sendall(text.encode())
        except BlockingIOError:
            pass  # a pin reader that does not read loses edges; nothing better to do
        except OSError:
            self._gone()

    def _gone(self):
        if self._sock is not None:
            self.loop.watch(self._sock, 0, None)
            close_quietly(self._sock)
            self._sock = None
        self.on_gone()

    def _on_read(self, sock, mask):
        if sock is not self._sock:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self._buf += data
        while b"\n" in self._buf:
            i = self._buf.index(b"\n")
            line = self._buf[:i].decode("latin-1").strip().upper()
            del self._buf[: i + 1]
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("0", "1"):
                self.on_pin(parts[0], int(parts[1]))
