"""The virtual module as a program: fault commands on the command line and on stdin."""

import argparse
import signal
import sys
import threading

from .files import FileStore, split_name
from .limits import MAX_READ
from .module import VirtualModule

DESCRIPTION = """\
Virtual Quectel UC20/EC2x module on loopback: the TCP/IP AT commands, the FILE commands
(AT+QFUPL/QFLST/QFDEL/QFLDS: UFS kept over reboots, RAM: not) and the SSL commands
(AT+QSSLCFG/OPEN/SEND/RECV/CLOSE/STATE: real TLS by Python's ssl, the module as the client,
verifying servers with the CA file uploaded to it)."""

FAULT_HELP = """\
fault commands (--fault CMD, or one per line on stdin):
  silence MS | silence forever   answer nothing, ignore input (MS module time)
  drop N                         drop the next N output bytes
  garble N                       replace the next N output bytes with random bytes
  split N,N,...                  write the next output in chunks of these sizes
  urc TEXT                       emit a URC now, e.g. urc +QIURC: "closed",0
  urcmid TEXT                    put a URC inside the next response (between its lines)
  sendfail N                     the next N AT+QISEND / AT+QSSLSEND answer SEND FAIL
  unacked N                      the next N sent bytes stay unacknowledged
  openfail CODE [N]              the next N AT+QIOPEN fail with <err> CODE
  close CID                      the peer closes connection CID (+QIURC: / +QSSLURC: "closed")
  tlsdrop CID [AFTER]            SSL link CID breaks (TCP reset) after AFTER more bytes
  tlsclose CID [AFTER]           SSL link CID closes cleanly after AFTER more bytes
  corrupt N                      the next N AT+QFUPL uploads store one flipped bit
  pdpdeact CTX                   the network deactivates context CTX
  reboot                         reboot the module (RDY after boot time)
  error PREFIX CODE [N]          commands starting with PREFIX answer ERROR (QIGETERROR CODE)
  delay PREFIX MS                delay responses of commands starting with PREFIX
  reg CS PS                      set +CREG / +CGREG registration state (0,1,2,3,5)
  csq RSSI                       set the signal quality
  sim READY|absent|"SIM PIN"     set the SIM state
  pin NAME LEVEL                 drive PWRKEY/RESET/DTR (0 or 1)
  clear                          clear all faults
  state                          print power state and connections
"""


def apply_fault_command(vm, line, out=None):
    """Apply one fault command line (see FAULT_HELP). Returns False if not understood."""
    parts = line.strip().split(None, 1)
    if not parts:
        return True
    cmd = parts[0].lower()
    arg = parts[1].strip() if len(parts) > 1 else ""
    a = arg.split()
    try:
        if cmd == "silence":
            vm.fault_silence(None if arg in ("forever", "-", "") else float(arg))
        elif cmd == "drop":
            vm.fault_drop(int(arg))
        elif cmd == "garble":
            vm.fault_garble(int(arg))
        elif cmd == "split":
            vm.fault_split([int(x) for x in arg.replace(",", " ").split()])
        elif cmd == "urc":
            vm.inject_urc(arg)
        elif cmd == "urcmid":
            vm.inject_urc(arg, mid_response=True)
        elif cmd == "sendfail":
            vm.fault_send_fail(int(arg or 1))
        elif cmd == "unacked":
            vm.fault_unacked(int(arg))
        elif cmd == "openfail":
            vm.fault_open_fail(int(a[0]), int(a[1]) if len(a) > 1 else 1)
        elif cmd == "close":
            vm.remote_close(int(arg))
        elif cmd in ("tlsdrop", "tlsclose"):
            after = int(a[1]) if len(a) > 1 else 0
            vm.fault_tls_drop(int(a[0]), after, reset=cmd == "tlsdrop")
        elif cmd == "corrupt":
            vm.fault_upload_corrupt(int(arg or 1))
        elif cmd == "pdpdeact":
            vm.pdp_deactivate(int(arg or 1))
        elif cmd == "reboot":
            vm.reboot()
        elif cmd == "error":
            vm.fault_error(a[0], int(a[1]), int(a[2]) if len(a) > 2 else 1)
        elif cmd == "delay":
            vm.fault_delay(a[0], float(a[1]))
        elif cmd == "reg":
            vm.set_registration(int(a[0]), int(a[1]) if len(a) > 1 else None)
        elif cmd == "csq":
            vm.set_signal(int(a[0]))
        elif cmd == "sim":
            vm.set_sim(arg.strip('"'))
        elif cmd == "pin":
            vm.pin(a[0], int(a[1]))
        elif cmd == "clear":
            vm.clear_faults()
        elif cmd == "state":
            if out:
                out(
                    "power %s status %d contexts %s connections %s ssl %s files %s"
                    % (
                        vm.power_state,
                        vm.status,
                        vm.active_contexts(),
                        vm.connections(),
                        vm.ssl_connections(),
                        vm.file_list(),
                    )  # fmt: skip
                )
        else:
            return False
    except (ValueError, IndexError):
        return False
    return True


def _hostport(s):
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1"), int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=DESCRIPTION,
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--listen", default="127.0.0.1:0", help="UART endpoint HOST:PORT")
    ap.add_argument("--pins", default=None, help="pin channel HOST:PORT (default: any port)")
    ap.add_argument("--speed", type=float, default=1.0, help="module clock factor (default 1)")
    ap.add_argument("--baud", type=int, default=None, help="throttle the UART to BAUD/10 B/s")
    ap.add_argument("--off", action="store_true", help="start powered off (needs PWRKEY)")
    ap.add_argument(
        "--dns",
        action="append",
        default=[],
        metavar="NAME=IP",
        help="add a DNS table entry (repeatable; IP may be a,b for several)",
    )
    ap.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CMD",
        help="apply a fault command at start (repeatable; see below)",
    )
    ap.add_argument("--boot-ms", type=float, default=3000, help="boot time (module ms)")
    ap.add_argument("--pwrkey-on-ms", type=float, default=1000, help="PWRKEY low time to power on")
    ap.add_argument(
        "--pwrkey-off-ms",
        type=float,
        default=None,
        help="PWRKEY low time to power off (default: PWRKEY cannot power off)",
    )
    ap.add_argument("--qiact-ms", type=float, default=500, help="AT+QIACT duration (module ms)")
    ap.add_argument("--ip", default="10.7.157.1", help="IP address of context 1")
    ap.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="put a file in the module's store at start, e.g. UFS:ca.pem=ca.pem (repeatable)",
    )
    ap.add_argument("--sim", default="READY", help='SIM state: READY, absent, "SIM PIN"')
    ap.add_argument("--seed", type=int, default=None, help="random seed (garble fault)")
    ap.add_argument("--push-max", type=int, default=MAX_READ,
                    help="largest direct-push announcement in bytes (default 1500)")  # fmt: skip
    ap.add_argument("-v", "--verbose", action="store_true", help="log UART traffic to stderr")
    args = ap.parse_args(argv)

    dns = {"localhost": "127.0.0.1"}
    for item in args.dns:
        name, _, ip = item.partition("=")
        dns[name.lower()] = ip.split(",") if "," in ip else ip
    host, port = _hostport(args.listen)
    pin_host, pin_port = _hostport(args.pins) if args.pins else (host, 0)
    log = (lambda m: sys.stderr.write(m + "\n")) if args.verbose else None
    files = FileStore()
    for item in args.file:
        name, _, path = item.partition("=")
        drive, fname = split_name(name)
        with open(path, "rb") as f:
            files.drive(drive).files[fname] = f.read()
    vm = VirtualModule(
        host=host, port=port, pin_port=pin_port, speed=args.speed, baud=args.baud,
        powered=not args.off, boot_ms=args.boot_ms, pwrkey_on_ms=args.pwrkey_on_ms,
        qiact_ms=args.qiact_ms, dns=dns, ip=args.ip, pwrkey_off_ms=args.pwrkey_off_ms,
        sim=args.sim, seed=args.seed, log=log, pin_host=pin_host, push_max=args.push_max,
        files=files,
    )  # fmt: skip
    vm.start()
    for f in args.fault:
        if not apply_fault_command(vm, f):
            sys.stderr.write("unknown fault command: %s\n" % f)
    print(
        "virtual module: uart %s:%d pins %s:%d" % (host, vm.port, pin_host, vm.pin_port),
        flush=True,
    )

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def stdin_reader():
        try:
            for line in sys.stdin:
                if not line.strip():
                    continue
                if not apply_fault_command(vm, line, out=lambda m: print(m, flush=True)):
                    print("unknown fault command: %s" % line.strip(), flush=True)
        except (OSError, ValueError):
            pass

    if sys.stdin is not None and not sys.stdin.closed:
        threading.Thread(target=stdin_reader, daemon=True).start()
    while not stop.is_set():
        stop.wait(0.5)
    vm.stop()
    return 0
