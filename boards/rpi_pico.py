# Raspberry Pi Pico (RP2040) wired to a Quectel UC20/EC2x module.
# UART0 TX=GP0 -> module RXD, RX=GP1 <- module TXD (through a 3.3 V/1.8 V level shifter).
# PWRKEY and RESET are pulled low by NPN transistors (inverting: drive 1 to assert).
# DTR goes through the (non-inverting) level shifter; STATUS and RI come back the same way.
# GP0..GP6 are the first pins on one edge, so the whole harness is one 7-wire row plus GND.

NAME = "Raspberry Pi Pico"
MICROPYTHON = "1.24"

UART_ID = 0
UART_TX = 0
UART_RX = 1
BAUDRATE = 115200
RXBUF = 2048  # ~180 ms of data at 115200 baud
# A whole AT+QISEND chunk (1460) fits: the CPU sleeps while the UART sends it instead of
# spinning in write() (on the emulated Pico: 8.9 -> 6.7 M cycles per KB echoed at 115200).
TXBUF = 1536

PWRKEY_PIN = 2
PWRKEY_ACTIVE = 1  # NPN transistor inverts
RESET_PIN = 3
RESET_ACTIVE = 1  # NPN transistor inverts
DTR_PIN = 4
DTR_ACTIVE = 0  # DTR is asserted low at the module
STATUS_PIN = 5
STATUS_ACTIVE = 1  # module STATUS is high while it is on
RI_PIN = 6
RI_ACTIVE = 0  # RI pulses low on a URC


def uart():
    from machine import UART, Pin

    return UART(UART_ID, BAUDRATE, tx=Pin(UART_TX), rx=Pin(UART_RX), rxbuf=RXBUF, txbuf=TXBUF,
                timeout=0)  # fmt: skip


def timer():
    # Flushes coalesced socket writes after a short idle (quectel.Modem(timer=)).
    from machine import Timer

    return Timer(-1)  # a virtual timer; its callback is scheduled (a soft IRQ)


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
