"""The virtual Quectel module, in parts (tools/virtual_module.py is its entry point).

Transport: loop (the event-loop thread, its timers), uart and pins (the TCP servers).
faults: the fault layer the module writes through. State: power, network, contexts, dns,
clock, connections, transparent. sockets: the real loopback sockets behind the connections.
commands/: the command families and their table; engine: command lines in, replies and URCs
out. module: VirtualModule, which puts them together; cli: the standalone program.
"""
