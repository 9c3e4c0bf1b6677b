# ESP32 DevKitC (generic ESP32) wired to a Quectel UC20/EC2x module.
# UART2 TX=GPIO17 -> module RXD, RX=GPIO16 <- module TXD (through a 3.3 V/1.8 V level shifter).
# PWRKEY and RESET are pulled low by NPN transistors (inverting: drive 1 to assert).
# DTR goes through the (non-inverting) level shifter; STATUS and RI come back the same way.

NAME = "ESP32 DevKitC"
MICROPYTHON = "1.24"

UART_ID = 2
UART_TX = 17
UART_RX = 16
BAUDRATE = 115200
RXBUF = 4096  # ~350 ms of data at 115200 baud: room for slow scheduling

PWRKEY_PIN = 4
PWRKEY_ACTIVE = 1  # NPN transistor inverts
RESET_PIN = 5
RESET_ACTIVE = 1  # NPN transistor inverts
DTR_PIN = 18
DTR_ACTIVE = 0  # DTR is asserted low at the module
STATUS_PIN = 19
STATUS_ACTIVE = 1  # module STATUS is high while it is on
RI_PIN = 21
RI_ACTIVE = 0  # RI pulses low on a URC


def uart():
    from machine import UART

    return UART(UART_ID, BAUDRATE, tx=UART_TX, rx=UART_RX, rxbuf=RXBUF, timeout=0)


def timer():
    # Flushes coalesced socket writes after a short idle (quectel.Modem(timer=)).
    from machine import Timer

    return Timer(0)  # hardware timer 0; its callback is scheduled (a soft IRQ)


def pwrkey():
    from machine import Pin

    return Pin(PWRKEY_PIN, Pin.OUT, value=1 - PWRKEY_ACTIVE)


def reset():
    from machine import Pin

    return Pin(RESET_PIN, Pin.OUT, value=1 - RESET_ACTIVE)


def dtr():
    from machine import Pin

    return Pin(DTR_PIN, Pin.OUT, value=DTR_ACTIVE)  # start asserted: module awake


def status():
    from machine import Pin

    return Pin(STATUS_PIN, Pin.IN)


def ri():
    from machine import Pin

    return Pin(RI_PIN, Pin.IN, Pin.PULL_UP)
