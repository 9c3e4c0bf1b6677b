#!/usr/bin/env python3
"""Virtual Quectel UC20/EC2x module: the TCP/IP AT command set over a TCP "UART".

The module side of every connection is a real socket on the loopback interface: AT+QIOPEN opens
real TCP/UDP sockets, listeners accept real clients. Only 127.x.x.x is reachable; host names
resolve only through the module's own table. A second TCP port carries the pins as ASCII lines:
the host sends ``PWRKEY 0|1``, ``RESET 0|1``, ``DTR 0|1``; the module sends ``STATUS 0|1`` and
``RI 0|1`` on every change and once each when the pin connection is accepted. The module clock
runs ``speed`` times faster than real time, the UART can be throttled to a baud rate, and faults
can be injected (the fault_* methods, ``--fault`` and stdin of the standalone program).

Choices made where the manual is silent:

* One event-loop thread owns all state; public methods are marshalled onto it.
* Responses are written as a unit; URCs raised while a command runs, while the QISEND prompt
  waits for data, or in transparent mode are queued and written after the final result code.
* Several info lines of one response are written like a real module:
  CR LF line1 CR LF line2 CR LF, then CR LF OK CR LF (no blank line between info lines).
* AT+QIGETERROR answers ``+QIGETERROR: <err>, <text>`` exactly as the manual's example 4.9
  (comma, space, lower-case text of chapter 3; 0 is "operation successfully").
* ESC during ``AT+QISEND=<id>`` (variable length) cancels: nothing is sent, the answer is OK.
  More than 1460 bytes before Ctrl-Z answer ERROR at once.
* Using a context that is not active (QIOPEN, QNTP, QIDNSGIP, QIDNSCFG write) answers ERROR,
  QIGETERROR 566; AT+QPING answers OK then ``+QPING: 5``. A 4th active context: ERROR, 556.
* TCP LISTENER / UDP SERVICE with local port 0 bind an ephemeral port (QISTATE shows it);
  access mode 2 for them answers ERROR 559. Incoming connections get the highest free ID.
* A failed open (+QIOPEN: <id>,<err> with err != 0, or ERROR in mode 2) frees the ID.
* UDP SERVICE sends to non-loopback addresses answer SEND OK; the datagram is lost.
* pdpdeact: the context's sockets close and go to state 4 (closing) with no "closed" URC; in
  transparent mode NO CARRIER comes first.
* AT&D1 and AT&D2: DTR 0->1 in transparent mode leaves it with OK (the connection stays up).
  Power-up default is AT&D0 (DTR ignored).
* AT+QPOWD, AT+QPOWD=0 and AT+QPOWD=1 all answer OK then POWERED DOWN, then STATUS 0.
* PWRKEY powers the module off only when ``pwrkey_off_ms`` is given.
* Command lines are terminated by CR; a following LF is accepted (and echoed); leading control
  characters are ignored; lines not starting with AT are ignored (echo only).

SSL and FILE commands (../shared/spec/ssl-file-at-notes.md; every value the notes leave
unconfirmed is in vmodule/sslfacts.py with the reading chosen):

* AT+QFUPL/QFLST/QFDEL/QFLDS work on a file store with UFS (flash: kept over reboots, and given
  to a new module with ``files=``) and RAM (emptied by reboots). Uploads answer
  ``+QFUPL: <size>,<checksum>`` with the manual's 16-bit XOR checksum in lower-case hex.
* AT+QSSLOPEN makes a real TLS connection (Python's ssl, TLS 1.0-1.2, the RSA suites of the
  BG96 list) to a loopback server, verifying it with the CA file of the context as seclevel,
  checkhost and ignorelocaltime say (dates on the module's clock); a failed handshake is
  ``+QSSLOPEN: <id>,566``, a refused connection 554. SSL client IDs share the 12 connect IDs
  with AT+QIOPEN. Access modes 0 (buffer), 1 (direct push) and 2 (transparent, as for
  AT+QIOPEN: CONNECT or ERROR, +++/DTR, ATO, NO CARRIER).
* QSSLCFG settings return to their defaults on every reboot.
"""

import sys

from vmodule.cli import main
from vmodule.errors import ERROR_TEXT
from vmodule.module import VirtualModule

__all__ = ["VirtualModule", "ERROR_TEXT", "main"]

if __name__ == "__main__":
    sys.exit(main())
