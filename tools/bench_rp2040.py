#!/usr/bin/env python3
"""RP2040 figures of lib/quectel on the emulated Pico (tools/rp2040), printed as a table.

The board runs MicroPython's rp2 firmware ($RP2040_FIRMWARE, $RP2040_BOOTROM; for the frozen
import heap and the telemetry run also $RP2040_FIRMWARE_FROZEN, built with
FROZEN_MANIFEST=firmware/manifest.py QUECTEL_BOARD=rpi_pico) wired to the virtual module in this
process and to tools/bench.py's echo peer. Times, CPU-busy cycles (cycles not spent in WFI/WFE)
and UART byte counts are the harness's, in simulated time:

  echo    4096-byte blocks (100 KB) sent and read back, per access mode and baud rate; line use
          = UART bytes both ways / (seconds * baud / 10), payload = 2 * 100 KB likewise;
          heap B/KB = gc.mem_alloc() growth per KB moved (collection off); mode aio is the
          same echo through quectel.aio (awaited sendall and readinto, buffer access)
  idle    CPU busy while a socket read waits 5 s for data that never comes (buffer, aio)
  heap    gc.mem_alloc() growth of `import quectel, quectel.socket`, and in the steady state
          (connect(), one TCP socket open, gc.collect()), as .mpy and frozen
  fw      firmware/main.py (frozen) sends one report to tools/endpoint.py

Not part of tools/test (minutes of emulation). Usage: tools/bench_rp2040.py [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from emulated_pico import EmulatedPico, skip_reason  # noqa: E402
from virtual_module import VirtualModule  # noqa: E402

from bench import MPY_CROSS, Echo  # noqa: E402

MODES = {"buffer": 0, "push": 1, "transparent": 2, "aio": 0}  # aio: quectel.aio, buffer mode
BAUDS = (115200, 460800, 921600)
BLOCK = 4096
ECHO_KEYS = (
    "mode",
    "baud",
    "line_pct",
    "payload_pct",
    "cycles_per_kb",
    "cpu_pct",
    "overrun",
    "heap_per_kb",
    "error",
)

ECHO = """
import gc
import time
import boards.rpi_pico as board
board.BAUDRATE = %(baud)d
from quectel import Modem
m = Modem.for_board(board)
m.connect("internet")
s = m.socket(mode=%(mode)d)
s.settimeout(20)
s.connect(("127.0.0.1", %(port)d))
blk = bytearray(%(block)d)
for i in range(len(blk)):
    blk[i] = (i * 7 + i // 251) & 0xFF
rbuf = bytearray(len(blk))
mv = memoryview(rbuf)
moved = 0
err = None
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
print("@@stats echo0-%(tag)s")
t0 = time.ticks_ms()
try:
    for r in range(%(blocks)d):
        s.sendall(blk)
        got = 0
        while got < len(blk):
            k = s.recv_into(mv[got:])
            if not k:
                raise OSError("EOF after %%d" %% (moved + got))
            got += k
        if rbuf != blk:
            raise ValueError("data differ in block %%d" %% r)
        moved += len(blk)
except Exception as e:
    err = repr(e)
print("@@stats echo1-%(tag)s")
print("ECHO", moved, time.ticks_diff(time.ticks_ms(), t0), gc.mem_alloc() - a0, err)
gc.enable()
if %(idle)d and not err:
    s.settimeout(5)
    print("@@stats idle0-%(tag)s")
    try:
        s.recv_into(rbuf)
    except OSError:
        pass
    print("@@stats idle1-%(tag)s")
s.close()
"""

# The same echo through quectel.aio (awaited sendall and readinto), then its idle wait.
AIO_ECHO = """
import asyncio
import gc
import time
import boards.rpi_pico as board
board.BAUDRATE = %(baud)d
from quectel import Modem
from quectel.aio import AModem
am = AModem(Modem.for_board(board))
blk = bytearray(%(block)d)
for i in range(len(blk)):
    blk[i] = (i * 7 + i // 251) & 0xFF
rbuf = bytearray(len(blk))
mv = memoryview(rbuf)


async def main():
    await am.connect("internet")
    s, _ = await am.open_connection("127.0.0.1", %(port)d)
    moved = 0
    err = None
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    print("@@stats echo0-%(tag)s")
    t0 = time.ticks_ms()
    try:
        for r in range(%(blocks)d):
            await s.sendall(blk)
            got = 0
            while got < len(blk):
                k = await s.readinto(mv[got:])
                if not k:
                    raise OSError("EOF after %%d" %% (moved + got))
                got += k
            if rbuf != blk:
                raise ValueError("data differ in block %%d" %% r)
            moved += len(blk)
    except Exception as e:
        err = repr(e)
    print("@@stats echo1-%(tag)s")
    print("ECHO", moved, time.ticks_diff(time.ticks_ms(), t0), gc.mem_alloc() - a0, err)
    gc.enable()
    if %(idle)d and not err:
        print("@@stats idle0-%(tag)s")
        try:
            await asyncio.wait_for_ms(s.readinto(rbuf), 5000)
        except asyncio.TimeoutError:
            pass
        print("@@stats idle1-%(tag)s")
    await s.aclose()


asyncio.run(main())
"""

HEAP = """
import gc
gc.collect()
a = gc.mem_alloc()
import quectel, quectel.socket
gc.collect()
print("HEAP", gc.mem_alloc() - a, gc.mem_free())
import boards.rpi_pico as board
m = quectel.Modem.for_board(board)
m.connect("internet")
s = m.socket()
s.connect(("127.0.0.1", %(port)d))
gc.collect()
print("STEADY", gc.mem_alloc() - a, gc.mem_free())
s.close()
"""


def heap_figures(pico, tmp, form, port):
    # (what, bytes): the import, and the steady state (connected, one TCP socket open to port).
    out = run_script(pico, HEAP % dict(port=port), tmp, 300)
    return [("import quectel, quectel.socket (%s)" % form, int(out.split("HEAP ")[1].split()[0])),
            ("steady state, connected with one TCP socket (%s)" % form,
             int(out.split("STEADY ")[1].split()[0]))]  # fmt: skip


def interval(a, b):
    """Simulated seconds, busy cycles, their share (%), UART bytes and overruns from a to b."""
    sim = b["sim_s"] - a["sim_s"]
    busy = b["busy_cycles"] - a["busy_cycles"]
    cpu = 100 * busy / (sim * b["clk_sys_hz"])
    wire = (b["uart_tx_bytes"] - a["uart_tx_bytes"]) + (b["uart_rx_bytes"] - a["uart_rx_bytes"])
    return sim, busy, cpu, wire, b["uart_overrun"] - a["uart_overrun"]


def copy_library(pico, tmp):
    """The package as .mpy, and boards/rpi_pico.py, onto the board's filesystem."""
    lib = os.path.join(ROOT, "lib", "quectel")
    out = os.path.join(tmp, "quectel")
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(lib)):
        if name.endswith(".py"):
            subprocess.run(
                [MPY_CROSS, "-o", os.path.join(out, name[:-3] + ".mpy"), os.path.join(lib, name)],
                check=True,
            )
    pico.mpremote("mkdir", ":quectel", "+", "mkdir", ":boards", timeout=120)
    files = [os.path.join(out, n) for n in sorted(os.listdir(out))]
    pico.mpremote("cp", *files, ":quectel/", timeout=300)
    pico.mpremote(
        "cp", os.path.join(ROOT, "boards", "rpi_pico.py"), ":boards/rpi_pico.py", timeout=60
    )
    pico.mpremote("exec", "open('boards/__init__.py', 'w').close()")


def run_script(pico, code, tmp, timeout):
    path = os.path.join(tmp, "script.py")
    with open(path, "w") as f:
        f.write(code)
    return pico.mpremote("run", path, timeout=timeout)


def bench_baud(baud, kb, modes, tmp, rows, idle_rows, heap_rows):
    echo = Echo()
    try:
        with (
            VirtualModule() as vm,
            EmulatedPico(
                uart=("127.0.0.1", vm.port), pins=("127.0.0.1", vm.pin_port), timeout=600
            ) as pico,
        ):
            copy_library(pico, tmp)
            if not heap_rows:
                heap_rows.extend(heap_figures(pico, tmp, "mpy", echo.port))
            for mode in modes:
                tag = "%s-%d" % (mode, baud)
                blocks = kb * 1024 // BLOCK
                script = AIO_ECHO if mode == "aio" else ECHO
                idle = mode in ("buffer", "aio")
                code = script % dict(baud=baud, mode=MODES[mode], port=echo.port, block=BLOCK,
                                     blocks=blocks, idle=idle, tag=tag)  # fmt: skip
                try:
                    out = run_script(pico, code, tmp, 1800)
                    err_text = None
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    out, err_text = "", str(e).splitlines()[-1][:80]
                line = (
                    out.split("ECHO ", 1)[1].splitlines()[0].split(None, 3)
                    if "ECHO " in out
                    else None
                )
                if not line:
                    rows.append((mode, baud, None, None, None, None, None, None,
                                 err_text or out[-80:]))  # fmt: skip
                    continue
                a, b = pico.mark("echo0-" + tag, 5), pico.mark("echo1-" + tag, 5)
                moved, alloc, err = int(line[0]), int(line[2]), line[3].strip()
                sim, busy, cpu, wire, overrun = interval(a, b)
                rate = baud / 10
                per_kb = busy / (2 * moved / 1024) if moved else None
                heap_kb = alloc / (2 * moved / 1024) if moved else None
                rows.append((mode, baud, 100 * wire / (sim * rate), 100 * 2 * moved / (sim * rate),
                             per_kb, cpu, overrun, heap_kb,
                             None if err == "None" else err))  # fmt: skip
                if mode in ("buffer", "aio") and err == "None":
                    sim, _, cpu, _, _ = interval(
                        pico.mark("idle0-" + tag, 5), pico.mark("idle1-" + tag, 30)
                    )
                    idle_rows.append((mode, baud, sim, cpu))
    finally:
        echo.close()


def bench_frozen(tmp, heap_rows, fw_rows):
    frozen = os.environ.get("RP2040_FIRMWARE_FROZEN")
    if not frozen or not os.path.isfile(frozen):
        heap_rows.append(("frozen", "RP2040_FIRMWARE_FROZEN not set"))
        fw_rows.append("RP2040_FIRMWARE_FROZEN not set")
        return
    endpoint = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "endpoint.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = endpoint.stdout.readline()
        port = int(first.rsplit(":", 1)[1].split("/")[0].split()[0])
        with (
            VirtualModule() as vm,
            EmulatedPico(
                uart=("127.0.0.1", vm.port),
                pins=("127.0.0.1", vm.pin_port),
                firmware=frozen,
                timeout=600,
            ) as pico,
        ):
            heap_rows.extend(heap_figures(pico, tmp, "frozen", port))
            cfg = os.path.join(tmp, "config.py")
            with open(cfg, "w") as f:
                f.write(
                    'APN = ""\nUSER = ""\nPASSWORD = ""\nBOARD = "rpi_pico"\nINTERVAL = 1\n'
                    'SERVER_URL = "http://127.0.0.1:%d/telemetry"\nNTP_SERVER = "localhost"\n'
                    "DNS = None\nREPORTS = 1\n" % port
                )
            pico.mpremote("cp", cfg, ":config.py")
            pico.reset_stats()
            out = run_script(pico, "from firmware.main import main\nmain()\n", tmp, 600)
            st = pico.stats()
            answered = " answered: 200 " in out  # firmware/main.py's line for a POSTed batch
            fw_rows.append(
                "%s in %.1f s simulated, CPU busy %.1f %%"
                % (
                    "1 report answered" if answered else "FAILED: " + out[-200:],
                    st["sim_s"],
                    st["busy_pct"],
                )  # fmt: skip
            )
    finally:
        endpoint.terminate()
        endpoint.wait()


def table(rows, idle_rows, heap_rows, fw_rows):
    print(
        "RP2040 (MicroPython rp2 on rp2040js, 125 MHz), lib/quectel echo of %d-byte blocks" % BLOCK
    )
    heads = ("mode", "baud", "line %", "payload %", "cycles/KB", "CPU %", "overrun", "heap B/KB",
             "error")  # fmt: skip
    print("%-12s %7s %9s %9s %12s %7s %8s %10s  %s" % heads)
    for mode, baud, line, pay, cyc, cpu, ovr, heap, err in rows:
        f = lambda v, p: "-" if v is None else p % v  # noqa: E731
        print("%-12s %7d %9s %9s %12s %7s %8s %10s  %s" % (
            mode, baud, f(line, "%.1f"), f(pay, "%.1f"), f(cyc, "%.0f"), f(cpu, "%.1f"),
            f(ovr, "%d"), f(heap, "%.1f"), err or ""))  # fmt: skip
    for mode, baud, sim, cpu in idle_rows:
        print("idle wait (%s read, %.1f s) at %d: CPU busy %.2f %%" % (mode, sim, baud, cpu))
    for what, heap in heap_rows:
        print("%s: %s" % (what, "%d B" % heap if isinstance(heap, int) else heap))
    for line in fw_rows:
        print("firmware/main.py telemetry: %s" % line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="16 KB echoes, 115200 only")
    ap.add_argument("--modes", default="buffer,push,transparent")
    ap.add_argument("--bauds", default=",".join(map(str, BAUDS)))
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    reason = skip_reason()
    if reason:
        raise SystemExit("bench_rp2040: %s" % reason)
    kb = 16 if args.quick else 100
    bauds = [115200] if args.quick else [int(b) for b in args.bauds.split(",")]
    modes = args.modes.split(",")
    rows, idle_rows, heap_rows, fw_rows = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for baud in bauds:
            bench_baud(baud, kb, modes, tmp, rows, idle_rows, heap_rows)
            print("(%d done)" % baud, file=sys.stderr, flush=True)
        bench_frozen(tmp, heap_rows, fw_rows)
    table(rows, idle_rows, heap_rows, fw_rows)
    if args.json:
        with open(args.json, "w") as f:
            echo = [dict(zip(ECHO_KEYS, r, strict=True)) for r in rows]
            idle = [dict(zip(("mode", "baud", "seconds", "cpu_pct"), r, strict=True))
                    for r in idle_rows]  # fmt: skip
            heap = {what: value for what, value in heap_rows}
            json.dump(dict(echo=echo, idle=idle, heap=heap, firmware=fw_rows), f, indent=1)


if __name__ == "__main__":
    main()
