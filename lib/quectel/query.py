"""Queries: commands answered by information lines, or by URCs that come later (+QPING,
+QNTP, "dnsgip"), and the `AT` probe. Generator procedures over a `Modem`, loaded with
quectel.dns or quectel.diag, which ask them."""

from .engine import _name
from .errors import ATError, ATTimeout, ModuleOff, ModuleRestarted
from .modem import STAT_NO_RESPONSE


def g_responds(m, tries=2):
    """Whether the module answers `AT` (probes of the policy's probe_ms)."""
    for _ in range(tries):
        try:
            yield from m.at.g_command(b"AT", b"", m.policy.probe_ms)
            return True
        except (ATTimeout, ModuleRestarted):
            pass
        except ATError:
            return True  # it answered, even if with an error
    return False


def g_ready(m):
    """A module that stopped answering gets one short probe before a query waits the
    manual's full time on it: `ModuleOff` (ENODEV) when it is still silent."""
    if m.state == STAT_NO_RESPONSE and not (yield from g_responds(m, 1)):
        raise ModuleOff("the module does not answer")


def g_lines(m, cmd, info=b""):
    """A query's information lines, after `g_ready`."""
    yield from g_ready(m)
    return (yield from m.g_command(cmd, info))


def g_info1(m, cmd, info=None):
    """A query's first information line (ATError when it gave none)."""
    lines = yield from g_lines(m, cmd, info)
    if not lines:
        raise ATError("%s: no answer line" % _name(cmd), None, _name(cmd))
    return lines[0]


def g_urc_result(m, key, cmd, timeout_ms, done, parser):
    """Run cmd, then collect parser(line) of the URCs that start with `key` until
    done(collected); the modem's URC routing hands them over (`Modem.waits`)."""
    yield from g_ready(m)
    waits = m.waits
    while key in waits:  # one query of a kind at a time: they share the collector
        yield (lambda: key not in waits, timeout_ms)
    got = []
    waits[key] = (got, parser)
    try:
        yield from m.g_command(cmd, b"-", timeout_ms)
        yield from m.g_until(lambda: done(got), timeout_ms, _name(cmd))
    finally:
        del waits[key]
    return got
