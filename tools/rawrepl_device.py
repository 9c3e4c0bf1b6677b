"""A MicroPython board stand-in on a pseudo-terminal, for testing deployment with mpremote.

The unix port has no raw REPL, so this program speaks the REPL protocol mpremote uses on a pty
and runs what it receives in a `micropython` unix-port process whose working directory is a
folder acting as the board's flash (mpremote's `fs cp` writes there through the Python code it
sends). The process keeps its globals between commands, as a board does; a soft reset starts a
fresh one.

Protocol (as MicroPython's pyexec.c implements it and mpremote's transport_serial.py expects):
  friendly REPL  Ctrl-A -> raw REPL; Ctrl-B -> banner + ">>> "; Ctrl-C -> interrupt/">>> ";
                 Ctrl-D -> "MPY: soft reboot", boot.py, main.py, ">>> "; a line -> executed.
  raw REPL       banner "raw REPL; CTRL-B to exit\\r\\n>"; code ends with Ctrl-D -> "OK",
                 stdout, "\\x04", traceback, "\\x04", ">"; Ctrl-D on an empty buffer -> soft
                 reset ("soft reboot\\r\\n", boot.py, banner); "\\x05A\\x01" (raw-paste request)
                 -> "R\\x00" (declined: mpremote falls back to the raw REPL); Ctrl-B -> friendly;
                 Ctrl-C -> clears the buffer (interrupts a running program).

    python tools/rawrepl_device.py --flash DIR [--firmware NAME]
    prints "rawrepl device: /dev/pts/N flash DIR firmware NAME" and serves until SIGTERM/SIGINT.

The MicroPython process gets MICROPYPATH = tools/vboard (its `machine`, like a board's
built-in one) : DIR/lib : DIR : <stubs> : .frozen, and this program's environment
(QUECTEL_UART etc.). --firmware names the stock firmware the device stands for
(FIRMWARES below): the modules that firmware lacks but the unix port freezes (requests,
ssl, ...) are shadowed by stubs that raise ImportError, so `import requests` fails as on a
stock Pico, while a module installed into DIR/lib (mip) is still found first.
Paths are relative to DIR; mpremote's `:` paths without a leading slash stay inside it.
"""

import argparse
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANNER = b"MicroPython (rawrepl_device stand-in) on unix-port; virtual board\r\n"
# Modules of the unix port that a board's stock firmware does not have. RPI_PICO (no
# network) freezes neither micropython-lib's network bundle (requests, mip, ntptime, ...) nor
# ssl; ESP32_GENERIC freezes the bundle and has ssl.
FIRMWARES = {
    "unix": (),
    "esp32_generic": (),
    "rpi_pico": ("requests", "ssl", "mip", "ntptime", "webrepl", "umqtt"),
}
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"

# Runs inside MicroPython: read "<n>\n" + n bytes of code, exec it in one globals dict, write
# "\x04" + traceback + "\x04" after it (what a board's raw REPL sends around stderr).
#
# The flash is the working directory; paths behave as on a board: "" is the current directory
# and absolute paths start at the flash root (so nothing outside the folder is touched).
AGENT = r"""
import sys
import os as _os

_root = _os.getcwd()


def _p(p):
    if not p:
        return "."
    if p[0] == "/":
        return _root + p
    return p


class _OS:
    def __getattr__(self, n):
        return getattr(_os, n)

    def stat(self, p):
        return _os.stat(_p(p))

    def listdir(self, p=""):
        return _os.listdir(_p(p))

    def ilistdir(self, p=""):
        return _os.ilistdir(_p(p))

    def mkdir(self, p):
        return _os.mkdir(_p(p))

    def rmdir(self, p):
        return _os.rmdir(_p(p))

    def remove(self, p):
        return _os.remove(_p(p))

    def rename(self, a, b):
        return _os.rename(_p(a), _p(b))

    def chdir(self, p):
        return _os.chdir(_p(p))

    def getcwd(self):
        c = _os.getcwd()
        return "/" + c[len(_root) :].lstrip("/") if c.startswith(_root) else c


sys.modules["os"] = sys.modules["uos"] = _OS()


def _open(p, *a):
    return open(_p(p), *a)


_i = sys.stdin.buffer
_o = sys.stdout
_g = {"__name__": "__main__", "open": _open}
while True:
    try:
        _n = _i.readline()
        if not _n:
            break
        _c = _i.read(int(_n))
        while len(_c) < int(_n):
            _c += _i.read(int(_n) - len(_c))
    except KeyboardInterrupt:
        continue
    _e = None
    try:
        _o.write("\x05")  # started: from here a Ctrl-C interrupts this code
        exec(_c, _g)
    except BaseException as _x:
        _e = _x
    # A Ctrl-C can be raised once more after the one that stopped the program: finish the
    # reply (EOF, traceback, EOF) whatever happens.
    _s = 0
    _t = 0
    while _s < 3:
        try:
            if _s == 0:
                _o.write("\x04")
                _s = 1
            if _s == 1:
                _t += 1
                if _e is not None and _t < 4:
                    sys.print_exception(_e, _o)
                _s = 2
            _o.write("\x04")
            _s = 3
        except KeyboardInterrupt:
            pass
"""


class Device:
    def __init__(self, flash, micropython, stubs):
        self.flash = os.path.abspath(flash)
        self.micropython = micropython
        self.stubs = stubs  # folder of ImportError stubs for what the firmware lacks
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # the slave stays open: no EIO while mpremote is away
        self.path = os.ttyname(self.slave)
        self.mode = "friendly"
        self.buf = bytearray()
        self.paste = b""  # pending raw-paste request bytes
        self.agent = None
        self.running = None  # None, "raw" or "friendly": who waits for the agent's output
        self.eofs = 0
        self.started = False  # the agent has begun to run the current block
        self.pending_int = False  # Ctrl-C arrived before it began
        self.queue = []  # blocks waiting to run (boot.py then main.py after a reset)

    # ---- the MicroPython process ----

    def start_agent(self):
        self.stop_agent()
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join(
            [os.path.join(ROOT, "tools", "vboard"), os.path.join(self.flash, "lib"),
             self.flash, self.stubs, ".frozen"])  # fmt: skip
        self.agent = subprocess.Popen([self.micropython, "-c", AGENT], cwd=self.flash, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        os.set_blocking(self.agent.stdout.fileno(), False)
        self.running = None
        self.eofs = 0

    def stop_agent(self):
        a = self.agent
        self.agent = None
        if a is None:
            return
        a.kill()
        a.wait()
        a.stdin.close()
        a.stdout.close()

    def run(self, code, who):
        if self.agent is None or self.agent.poll() is not None:
            self.start_agent()
        self.running = who
        self.eofs = 0
        self.started = False
        self.pending_int = False
        try:
            self.agent.stdin.write(b"%d\n" % len(code) + bytes(code))
            self.agent.stdin.flush()
        except OSError:
            self.start_agent()
            self.finish()

    def interrupt(self):
        if self.agent is not None:
            self.agent.send_signal(signal.SIGINT)

    def finish(self):
        who = self.running
        self.running = None
        if who == "raw":
            self.out(b">")
        elif who == "friendly" and not self.next_block(who):
            self.out(b">>> ")
        elif who == "boot" and not self.next_block(who):
            self.out(RAW_BANNER)  # a soft reset in the raw REPL runs boot.py only

    def next_block(self, who):
        # Run the next file of the queue (boot.py, main.py) if it exists on the flash.
        while self.queue:
            name = self.queue.pop(0)
            if os.path.exists(os.path.join(self.flash, name)):
                self.run(("exec(open(%r).read())" % name).encode(), who)
                return True
        return False

    def agent_output(self):
        try:
            data = self.agent.stdout.read()
        except (OSError, ValueError):
            data = None
        if data is None:
            return
        if not data:  # the process died: end what it was doing
            self.stop_agent()
            if self.running == "raw":
                self.out(b"\x04" * (2 - min(self.eofs, 2)))
            if self.running:
                self.finish()
            return
        for i in range(len(data)):
            b = data[i : i + 1]
            if b == b"\x05" and not self.started:
                self.started = True
                if self.pending_int:
                    self.interrupt()
                continue
            if self.running == "raw":
                self.out(b)
            elif b != b"\x04":
                self.out(b.replace(b"\n", b"\r\n"))
            if b == b"\x04":
                self.eofs += 1
                if self.eofs == 2:
                    self.finish()

    # ---- the serial line ----

    def out(self, data):
        os.write(self.master, data)

    def soft_reset(self, raw):
        self.start_agent()
        self.buf = bytearray()
        if raw:
            self.out(b"soft reboot\r\n")
            self.queue = ["boot.py"]
            if not self.next_block("boot"):
                self.out(RAW_BANNER)
        else:
            self.out(b"MPY: soft reboot\r\n")
            self.queue = ["boot.py", "main.py"]
            if not self.next_block("friendly"):
                self.out(BANNER + b">>> ")

    def on_input(self, data):
        for i in range(len(data)):
            self.on_byte(data[i : i + 1])

    def on_byte(self, b):
        if self.running:
            if b == b"\x03":
                self.queue = []
                if self.started:
                    self.interrupt()
                else:
                    self.pending_int = True  # the code is not running yet: interrupt it then
            return
        if self.paste or (self.mode == "raw" and b == b"\x05" and not self.buf):
            self.paste += b
            if len(self.paste) == 3:
                if self.paste == b"\x05A\x01":
                    self.out(b"R\x00")  # raw-paste understood but not supported
                self.paste = b""
            return
        if b == b"\x01":
            self.mode = "raw"
            self.buf = bytearray()
            self.out(b"\r\n" + RAW_BANNER)
        elif b == b"\x02":
            self.mode = "friendly"
            self.buf = bytearray()
            self.out(b"\r\n" + BANNER + b">>> ")
        elif b == b"\x03":
            self.buf = bytearray()
            if self.mode == "friendly":
                self.out(b"\r\nKeyboardInterrupt\r\n>>> ")
        elif b == b"\x04":
            if self.mode == "raw":
                if self.buf:
                    self.out(b"OK")
                    code, self.buf = self.buf, bytearray()
                    self.run(code, "raw")
                else:
                    self.soft_reset(True)
            elif not self.buf:
                self.soft_reset(False)
        elif self.mode == "raw":
            self.buf += b
        elif b in (b"\r", b"\n"):
            self.out(b"\r\n")
            line, self.buf = bytes(self.buf), bytearray()
            if line.strip():
                self.run(line, "friendly")
            else:
                self.out(b">>> ")
        elif b in (b"\x08", b"\x7f"):
            if self.buf:
                self.buf = self.buf[:-1]
                self.out(b"\x08 \x08")
        else:
            self.buf += b
            self.out(b)  # echo, as the friendly REPL does

    def serve(self, stop):
        self.start_agent()
        self.out(BANNER + b">>> ")
        while not stop():
            fds = [self.master]
            if self.agent is not None:
                fds.append(self.agent.stdout.fileno())
            try:
                r, _, _ = select.select(fds, [], [], 0.2)
            except InterruptedError:
                continue
            if self.agent is not None and self.agent.stdout.fileno() in r:
                self.agent_output()
            if self.master in r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if data:
                    self.on_input(data)
        self.stop_agent()


def main(argv=None):
    ap = argparse.ArgumentParser(description="MicroPython raw-REPL board stand-in on a pty.")
    ap.add_argument("--flash", required=True, help="folder acting as the board's flash")
    ap.add_argument("--micropython", default=os.path.join(ROOT, ".venv", "bin", "micropython"))
    ap.add_argument(
        "--firmware",
        default="unix",
        choices=sorted(FIRMWARES),
        help="the stock firmware stood for: its missing modules fail to import",
    )
    args = ap.parse_args(argv)
    os.makedirs(args.flash, exist_ok=True)
    stubs = tempfile.mkdtemp(prefix="rawrepl-stubs-")
    try:
        for name in FIRMWARES[args.firmware]:
            with open(os.path.join(stubs, name + ".py"), "w") as f:
                f.write("raise ImportError(\"no module named '%s' (not in the %s firmware)\")\n"
                        % (name, args.firmware))  # fmt: skip
        dev = Device(args.flash, args.micropython, stubs)
        stopped = []
        signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))
        signal.signal(signal.SIGINT, lambda *a: stopped.append(1))
        print("rawrepl device: %s flash %s firmware %s" % (dev.path, dev.flash, args.firmware),
              flush=True)  # fmt: skip
        dev.serve(lambda: stopped)
    finally:
        shutil.rmtree(stubs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
