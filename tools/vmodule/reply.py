"""What command handlers return: their answer as a value."""

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
CONNECT = b"\r\nCONNECT\r\n"
NO_CARRIER = b"\r\nNO CARRIER\r\n"
SEND_OK = b"\r\nSEND OK\r\n"
SEND_FAIL = b"\r\nSEND FAIL\r\n"
PROMPT = b"\r\n> "

DEFER = object()  # the handler answers later, through Engine.complete()


class Reply:
    """Info lines (str or bytes), then the final result code, then the call then() (or None).

    A TCP/IP command's reply sets the QIGETERROR code to 0 unless keep_error.
    A handler may return a plain list of lines instead: Reply(lines).
    """

    __slots__ = ("lines", "final", "then", "keep_error")

    def __init__(self, lines=(), final=OK, then=None, keep_error=False):
        self.lines = lines
        self.final = final
        self.then = then
        self.keep_error = keep_error

    def segments(self):
        """The bytes of the answer, as a real module writes them (no blank line between lines)."""
        segs = []
        for i, ln in enumerate(self.lines):
            b = ln.encode("latin-1") if isinstance(ln, str) else bytes(ln)
            segs.append((b"\r\n" if i == 0 else b"") + b + b"\r\n")
        if self.final:
            segs.append(self.final)
        return segs
