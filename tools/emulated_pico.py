"""The emulated Pico of tools/rp2040 as a Python object, for tests and benchmarks.

    with EmulatedPico(uart=("127.0.0.1", vm.port), pins=("127.0.0.1", vm.pin_port)) as pico:
        print(pico.mpremote("exec", "print(1)"))
        print(pico.stats())   # simulated time, CPU-busy cycles, UART counters

The firmware image and the bootrom are named by $RP2040_FIRMWARE and $RP2040_BOOTROM;
skip_reason() says why the board cannot run here (None when it can).
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "tools", "rp2040", "run")
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def skip_reason():
    """Why the emulated Pico cannot run here, or None."""
    for var, what in (
        ("RP2040_FIRMWARE", "a MicroPython rp2 firmware image (.uf2/.bin/.elf)"),
        ("RP2040_BOOTROM", "the RP2040 bootrom binary"),
    ):
        path = os.environ.get(var)
        if not path:
            return "%s is not set (it names %s; see README, Emulated RP2040)" % (var, what)
        if not os.path.isfile(path):
            return "%s=%s does not exist" % (var, path)
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not found (the RP2040 harness runs on Node.js)"
    return None


class EmulatedPico:
    """A running harness; its JSON reports arrive on a queue, read by stats() and mark()."""

    def __init__(self, uart=None, pins=None, speed=1, timeout=60, firmware=None):
        args = [RUN, "--speed", str(speed)]
        if firmware:
            args += ["--firmware", firmware]
        if uart:
            args += ["--uart", "%s:%d" % uart]
        if pins:
            args += ["--pins", "%s:%d" % pins]
        self.timeout = timeout
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reports = queue.Queue()
        self.exit_report = None
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next("ready", timeout=120)  # the first run installs the npm packages
        self.repl = ready["repl"]
        self.booted = self._next("usb")  # the REPL is there once USB is enumerated

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                try:
                    self.reports.put(json.loads(line))
                except ValueError:
                    pass
        self.reports.put({"event": "gone"})

    def _next(self, event, label=None, timeout=None):
        while True:
            try:
                r = self.reports.get(timeout=timeout or self.timeout)
            except queue.Empty:
                raise TimeoutError("no %s report from the RP2040 harness" % event) from None
            if r["event"] == "gone":
                raise RuntimeError("the RP2040 harness exited (see tools/rp2040/run)")
            if r["event"] == event and r.get("label") == label:
                return r

    def _command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stats(self):
        """Simulated time, busy cycles and UART counters since start (or reset_stats())."""
        self._command("stats")
        return self._next("stats")

    def reset_stats(self):
        self._command("reset")

    def mark(self, label, timeout=None):
        """The report taken when the board printed the line "@@stats <label>"."""
        return self._next("stats", label=label, timeout=timeout)

    def mpremote(self, *args, timeout=None):
        """Runs mpremote on the board's REPL; returns its stdout (raises on failure)."""
        cmd = [MPREMOTE, "connect", self.repl, *args]
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout or self.timeout, check=False
        )
        if out.returncode:
            raise RuntimeError("mpremote %s failed: %s%s" % (args[:1], out.stdout, out.stderr))
        return out.stdout

    def close(self):
        """Stops the board; returns its exit report (or None)."""
        if self.proc.poll() is None:
            try:
                self._command("quit")
                self.exit_report = self._next("exit", timeout=10)
            except (OSError, TimeoutError, RuntimeError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.exit_report

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
