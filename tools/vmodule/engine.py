"""The AT interpreter: command lines in, replies and URCs out, one command at a time."""

import sys
import traceback

from .errors import CME_TEXT, CmeError, ParamError, TcpError
from .limits import CTRL_Z, ESC, MAX_SEND, RI_PULSE_MS
from .params import split_params
from .redact import redact
from .reply import DEFER, ERROR, OK, Reply


def parse_line(text):
    """(name, kind, args) of a command line starting with AT.

    kind: 'exec', 'test', 'read', 'write', 'basic' (args: the rest of the line) or 'bad'.
    """
    rest = text[2:]
    if not rest:
        return "", "exec", ""
    c = rest[0]
    if c == "+":
        j = 1
        while j < len(rest) and (rest[j].isalnum()):
            j += 1
        name, tail = rest[:j].upper(), rest[j:]
    elif c == "&":
        return rest[:2].upper(), "basic", rest[2:]
    else:
        return c.upper(), "basic", rest[1:]
    if tail == "":
        return name, "exec", ""
    if tail == "=?":
        return name, "test", ""
    if tail == "?":
        return name, "read", ""
    if tail.startswith("="):
        return name, "write", tail[1:]
    return name, "bad", tail


class Prompt:
    """AT+QISEND (or QSSLSEND, QFUPL) waiting for data: length bytes, or up to Ctrl-Z (length
    None).

    done(data) sends them and returns the final result code; on_data(prompt), if given, runs
    whenever fixed-length data arrived; secret keeps the data out of the trace; limit caps
    variable-length data.
    """

    def __init__(self, length, done, on_data=None, secret=False, limit=MAX_SEND):
        self.length = length
        self.limit = limit
        self.done = done
        self.on_data = on_data
        self.secret = secret
        self.buf = bytearray()


class Engine:
    """state: 'idle', 'exec' (a handler runs), 'busy' (a deferred answer) or 'prompt'.

    commands: name -> handler(kind, params); basic: name -> handler(tail); tcpip: the names
    whose failures set the QIGETERROR code. m is the module: power, faults, transparent session.
    """

    def __init__(self, m, commands, basic, tcpip):
        self.m = m
        self.commands = commands
        self.basic = basic
        self.tcpip = tcpip
        self._ri_timer = None
        self.reset()

    def reset(self):
        """State lost at power-off / reboot."""
        self.echo = True
        self.cmee = 1
        self.ipr = 115200
        self.last_err = 0
        self.state = "idle"
        self.inbuf = bytearray()
        self.urc_hold = []
        self.cur_echo = b""
        self.prompt = None

    # --- input

    def input(self, data):
        """Bytes from the UART."""
        m = self.m
        if not m.power.on() or m.faults.silent():
            return
        if self.state == "prompt" and self.prompt.secret:
            m.loop.trace("-> <%d bytes of a file>" % len(data))
        else:
            m.loop.trace("-> %r" % (redact(bytes(data[:200])),))
        if m.tm.cid is not None:
            m.tm.input(data, m.loop.now_ms())
            return
        self.inbuf += data
        self.process()

    def take_input(self):
        """Bytes received and not consumed yet (they belong to a transparent session)."""
        data = bytes(self.inbuf)
        self.inbuf.clear()
        return data

    def process(self):
        while self.m.tm.cid is None and self.m.power.on():
            if self.state == "prompt":
                if not self._prompt_input():
                    return
                continue
            if self.state != "idle":
                return
            i = self.inbuf.find(b"\r")
            if i < 0:
                if len(self.inbuf) > 4096:
                    del self.inbuf[:-1024]
                return
            end = i + 1
            if end < len(self.inbuf) and self.inbuf[end] == 0x0A:
                end += 1
            raw = bytes(self.inbuf[:end])
            del self.inbuf[:end]
            self._line(raw)

    def _line(self, raw):
        faults = self.m.faults
        echo = raw if self.echo else b""
        # leading control characters (a stray LF, Ctrl-Z, ESC) are line noise
        text = raw.decode("latin-1").lstrip("".join(map(chr, range(33)))).rstrip("\r\n\t ")
        if not text:
            faults.emit(echo)
            return
        if text[:2].upper() != "AT":
            faults.emit(echo)  # not a command: a real module stays quiet
            return
        up = text.upper()
        code = faults.take_error(up)
        if code is not None:
            self.last_err = code
            self.respond([echo, ERROR])
            return
        delay = faults.take_delay(up)
        if delay is not None:
            faults.emit(echo)
            self.state = "busy"

            def later():
                self.state = "idle"
                self.execute(text, b"")
                self._after_command()

            self.m.loop.at(delay, later)
            return
        self.execute(text, echo)
        self._after_command()

    def _after_command(self):
        if self.state == "idle" and self.m.tm.cid is None:
            self.flush_urcs()

    # --- commands

    def execute(self, text, echo):
        """Run one command line (text starts with AT). Leaves state idle, busy or prompt."""
        self.state = "exec"
        self.cur_echo = echo
        name, kind, args = parse_line(text)
        tcpip = name in self.tcpip
        try:
            result = self._call(name, kind, args)
        except ParamError:
            if tcpip:
                self.last_err = 558
            self.finish(Reply([], ERROR))
            return
        except TcpError as e:
            self.last_err = e.code
            self.finish(Reply([], ERROR))
            return
        except CmeError as e:
            self.finish(Reply([], self._cme(e.code)))
            return
        except Exception:  # a bug in the module: answer ERROR rather than hang
            sys.stderr.write("virtual module: internal error\n" + traceback.format_exc())
            self.finish(Reply([], ERROR))
            return
        if result is DEFER:
            if self.cur_echo:
                self.m.faults.emit(self.cur_echo)
                self.cur_echo = b""
            if self.state == "exec":
                self.state = "busy"
            return
        if not isinstance(result, Reply):
            result = Reply(result or [])
        if tcpip and not result.keep_error:
            self.last_err = 0
        self.finish(result)
        if result.then is not None:
            result.then()

    def _call(self, name, kind, args):
        if kind == "basic":
            handler = self.basic.get(name)
            if handler is None:
                raise ParamError("unknown command")
            return handler(args.strip())
        handler = self.commands.get(name)
        if handler is None or kind == "bad":
            raise ParamError("unknown command")
        params = split_params(args) if kind == "write" else []
        return handler(kind, params)

    def _cme(self, code):
        if self.cmee == 0:
            return ERROR
        if self.cmee == 2:
            return b"\r\n+CME ERROR: %s\r\n" % CME_TEXT.get(code, "unknown").encode()
        return b"\r\n+CME ERROR: %d\r\n" % code

    def finish(self, reply):
        """Write the answer of the current command and return to idle."""
        segs = []
        if self.cur_echo:
            segs.append(self.cur_echo)
            self.cur_echo = b""
        segs += reply.segments()
        self.state = "idle"
        self.respond(segs)

    def respond(self, segs):
        segs = [s for s in segs if s]
        urcs = self.m.faults.take_mid_urcs()
        if urcs:
            pos = 1 if len(segs) >= 2 else 0
            segs[pos:pos] = urcs
        for s in segs:
            self.m.faults.emit(s)

    def complete(self, final):
        """Answer a deferred command with final."""
        if self.state not in ("busy", "exec"):
            return
        self.finish(Reply([], final))
        self.set_idle()

    def set_idle(self):
        """A deferred command finished: resume URCs and pending input."""
        self.state = "idle"
        if self.m.tm.cid is None:
            self.flush_urcs()
            self.process()

    # --- QISEND data

    def start_prompt(self, length, done, on_data=None, secret=False, limit=MAX_SEND):
        self.prompt = Prompt(length, done, on_data, secret, limit)
        self.state = "prompt"
        return self.prompt

    def end_prompt(self, final):
        """End the data of the prompt early (an upload timed out) with this final result."""
        self._send_result(final)
        self.process()

    def _prompt_input(self):
        """Consume payload bytes for AT+QISEND. Returns True when the send is complete."""
        pr = self.prompt
        buf = pr.buf
        if pr.length is not None:
            take = self.inbuf[: pr.length - len(buf)]
            buf += take
            del self.inbuf[: len(take)]
            if take and pr.on_data is not None:
                pr.on_data(pr)
            if len(buf) < pr.length:
                return False
            self._send_result(pr.done(bytes(buf)))
            return True
        # variable length: up to Ctrl-Z (send) or ESC (cancel)
        for i, b in enumerate(self.inbuf):
            if b == CTRL_Z or b == ESC:
                buf += self.inbuf[:i]
                del self.inbuf[: i + 1]
                if b == ESC:
                    self._send_result(OK)
                elif len(buf) > pr.limit:
                    self._send_result(ERROR)
                else:
                    self._send_result(pr.done(bytes(buf)))
                return True
        buf += self.inbuf
        self.inbuf.clear()
        if len(buf) > pr.limit:
            self._send_result(ERROR)
            return True
        return False

    def _send_result(self, final):
        self.prompt = None
        self.state = "idle"
        self.respond([final])
        self.flush_urcs()

    # --- URCs

    def urc(self, data):
        """An unsolicited result: now if idle, else held until the command's answer is out."""
        m = self.m
        if not m.power.on() or m.faults.silent():
            return
        if self.state != "idle" or m.tm.cid is not None:
            self.urc_hold.append(data)
            return
        m.faults.emit(data)
        self._ring()

    def held_bytes(self):
        return sum(len(u) for u in self.urc_hold)

    def flush_urcs(self):
        if not self.urc_hold:
            return
        held, self.urc_hold = self.urc_hold, []
        for u in held:
            self.m.faults.emit(u)
        self._ring()

    def _ring(self):
        """RI pulses low for RI_PULSE_MS."""
        pins = self.m.pins
        pins.drive("RI", 0)
        if self._ri_timer is not None:
            self._ri_timer.cancel()

        def end():
            self._ri_timer = None
            pins.drive("RI", 1)

        self._ri_timer = self.m.loop.at(RI_PULSE_MS, end, gen=False)
