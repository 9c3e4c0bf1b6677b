"""The command families, and the table of every handler by name.

A handler(m, kind, params) gets the module m, the kind of the command line ('exec', 'test',
'read' or 'write') and the parsed parameters; it returns its reply as a value (a list of
lines or a reply.Reply), or reply.DEFER when it answers later. Basic commands (ATE, AT&D,
ATO ...) are handler(m, tail).
"""

from . import clock, data, dns, files, general, pdp, ping, sockets, ssl

TABLE = {}
for _family in (general, clock, pdp, dns, ping, sockets, data, files, ssl):
    TABLE.update(_family.COMMANDS)

BASIC = general.BASIC

# The TCP/IP commands: they set the code AT+QIGETERROR reports (0 unless Reply.keep_error).
TCPIP = {
    "+QICSGP", "+QIACT", "+QIDEACT", "+QIOPEN", "+QICLOSE", "+QISTATE", "+QISEND",
    "+QIRD", "+QISWTMD", "+QPING", "+QNTP", "+QIDNSCFG", "+QIDNSGIP", "+QICFG",
    "+QIGETERROR",
}  # fmt: skip
