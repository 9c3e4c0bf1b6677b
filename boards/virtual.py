# The virtual board: the MicroPython unix port with tools/vboard/machine.py first on MICROPYPATH,
# wired over loopback to the virtual Quectel module (tools/). UART 1 goes to $QUECTEL_UART,
# pins go to $QUECTEL_PINS and are direct (electrical level = module pin level). With
# QUECTEL_PINS=none the board has no control pins and every pin function returns None.

NAME = "virtual"
MICROPYTHON = "1.29"

UART_ID = 1
BAUDRATE = 115200
RXBUF = 2048

PWRKEY_ACTIVE = 0  # direct: the module's PWRKEY is active low
RESET_ACTIVE = 0  # direct: RESET_N is active low
DTR_ACTIVE = 0  # we assert DTR with 0
STATUS_ACTIVE = 1
RI_ACTIVE = 0


def _pin(name, value=None):
    # An output when value is given (set at creation), else an input.
    import machine

    if not machine.pins_available():  # pyright: ignore  (the virtual board's machine)
        return None
    if value is None:
        return machine.Pin(name, machine.Pin.IN)
    return machine.Pin(name, machine.Pin.OUT, value=value)


def uart():
    import os

    from machine import UART

    # $QUECTEL_BAUD: the line rate the stand-in UART paces writes at (tests run it faster).
    baud = int(os.getenv("QUECTEL_BAUD") or BAUDRATE)
    return UART(UART_ID, baud, rxbuf=RXBUF, timeout=0)


def timer():
    # Flushes coalesced socket writes after a short idle (quectel.Modem(timer=)).
    from machine import Timer

    return Timer(-1)  # the virtual board's software timer (tools/vboard)


def pwrkey():
    return _pin("PWRKEY", 1 - PWRKEY_ACTIVE)


def reset():
    return _pin("RESET", 1 - RESET_ACTIVE)


def dtr():
    return _pin("DTR", DTR_ACTIVE)  # start asserted: module awake


def status():
    return _pin("STATUS")


def ri():
    return _pin("RI")


def clock():
    # $QUECTEL_SPEED > 1 runs the driver's clock as fast as a virtual module started with
    # the same --speed, so the manual's long timeouts pass quickly in tests and soaks.
    import os

    from quectel.clock import Clock

    # $QUECTEL_TICKS_START (tests): 30-bit ticks from there, wrapping as on a 32-bit port.
    start = os.getenv("QUECTEL_TICKS_START")
    return Clock(int(os.getenv("QUECTEL_SPEED") or "1"), None if start is None else int(start))
