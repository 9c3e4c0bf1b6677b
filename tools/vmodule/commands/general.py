"""General commands: identity, SIM, registration, signal, CMEE, CFUN, UART settings, power."""

from ..errors import CmeError, ParamError
from ..params import int_at, str_at
from ..reply import CONNECT, NO_CARRIER, Reply
from .pdp import deactivate

_RATES = (0, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def _simple(kind, test=None, execl=None):
    if kind == "test" and test is not None:
        return test
    if kind == "exec" and execl is not None:
        return execl
    raise ParamError()


def at(m, kind, p):
    return []


def gmr(m, kind, p):
    return _simple(kind, test=[], execl=["UC20GQBR03A12E1G"])


def gsn(m, kind, p):
    return _simple(kind, test=[], execl=["861075020123456"])


def gmi(m, kind, p):
    return _simple(kind, test=[], execl=["Quectel"])


def gmm(m, kind, p):
    return _simple(kind, test=[], execl=["UC20"])


def cpin(m, kind, p):
    net = m.net
    if kind == "test":
        return []
    if net.sim == "absent":
        raise CmeError(10)
    if kind == "read":
        return ["+CPIN: READY" if net.sim_ready() else "+CPIN: SIM PIN"]
    if kind == "write":
        if net.sim_ready():
            raise CmeError(3)
        if str_at(p, 0) != net.sim_pin:
            raise CmeError(16)
        net.sim_unlocked = True
        return []
    raise ParamError()


def creg(m, kind, p):
    if kind == "test":
        return ["+CREG: (0-2)"]
    if kind == "read":
        return [m.net.reg_line("CREG", m.net.creg_n)]
    if kind == "write":
        m.net.creg_n = int_at(p, 0, 0, 2, 0)
        return []
    raise ParamError()


def cgreg(m, kind, p):
    if kind == "test":
        return ["+CGREG: (0-2)"]
    if kind == "read":
        return [m.net.reg_line("CGREG", m.net.cgreg_n)]
    if kind == "write":
        m.net.cgreg_n = int_at(p, 0, 0, 2, 0)
        return []
    raise ParamError()


def csq(m, kind, p):
    if kind == "test":
        return ["+CSQ: (0-31,99),(0-7,99)"]
    if kind == "exec":
        return ["+CSQ: %d,%d" % (m.net.csq, m.net.ber)]
    raise ParamError()


def cops(m, kind, p):
    if kind == "test":
        return ['+COPS: (2,"VIRTUAL","VIRTUAL","00101",2),,(0-4),(0-2)']
    if kind == "read":
        if m.net.registered("CREG") or m.net.registered("CGREG"):
            return ['+COPS: 0,0,"VIRTUAL",2']
        return ["+COPS: 0"]
    if kind == "write":
        int_at(p, 0, 0, 4)
        return []
    raise ParamError()


def cimi(m, kind, p):
    if kind == "test":
        return []
    if kind == "exec":
        m.net.sim_check()
        return ["001010123456789"]
    raise ParamError()


def qccid(m, kind, p):
    if kind == "test":
        return []
    if kind == "exec":
        m.net.sim_check()
        return ["+QCCID: 89001012012345678901"]
    raise ParamError()


def cmee(m, kind, p):
    if kind == "test":
        return ["+CMEE: (0-2)"]
    if kind == "read":
        return ["+CMEE: %d" % m.engine.cmee]
    if kind == "write":
        m.engine.cmee = int_at(p, 0, 0, 2, 0)
        return []
    raise ParamError()


def cfun(m, kind, p):
    if kind == "test":
        return ["+CFUN: (0,1,4),(0-1)"]
    if kind == "read":
        return ["+CFUN: %d" % m.net.cfun]
    if kind == "write":
        fun = int_at(p, 0, 0, 4)
        if fun not in (0, 1, 4):
            raise ParamError()
        if int_at(p, 1, 0, 1, 0):
            return Reply([], then=m.power.reboot)
        before = m.net.snapshot()
        m.net.cfun = fun
        if fun != 1:
            for ctx in list(m.contexts.active):
                deactivate(m, ctx)
        for urc in m.net.reg_urcs(before):
            m.engine.urc(urc)
        return []
    raise ParamError()


def cgatt(m, kind, p):
    if kind == "test":
        return ["+CGATT: (0,1)"]
    if kind == "read":
        return ["+CGATT: %d" % (1 if m.net.registered("CGREG") else 0)]
    if kind == "write":
        int_at(p, 0, 0, 1)
        return []
    raise ParamError()


def ctzr(m, kind, p):
    if kind == "test":
        return ["+CTZR: (0,1)"]
    if kind == "read":
        return ["+CTZR: %d" % m.net.ctzr]
    if kind == "write":
        m.net.ctzr = int_at(p, 0, 0, 1)
        return []
    raise ParamError()


def ctzu(m, kind, p):
    if kind == "test":
        return ["+CTZU: (0,1)"]
    if kind == "read":
        return ["+CTZU: %d" % m.net.ctzu]
    if kind == "write":
        m.net.ctzu = int_at(p, 0, 0, 1)
        return []
    raise ParamError()


def ipr(m, kind, p):
    if kind == "test":
        return ["+IPR: (0,4800,9600,19200,38400,57600,115200,230400,460800,921600)"]
    if kind == "read":
        return ["+IPR: %d" % m.engine.ipr]
    if kind == "write":
        r = int_at(p, 0, 0, 4000000)
        if r not in _RATES:
            raise ParamError()
        m.engine.ipr = r
        return []
    raise ParamError()


def ifc(m, kind, p):
    if kind == "test":
        return ["+IFC: (0,2),(0,2)"]
    if kind == "read":
        return ["+IFC: 0,0"]
    if kind == "write":
        int_at(p, 0, 0, 2)
        int_at(p, 1, 0, 2, 0)
        return []
    raise ParamError()


def qos(m, kind, p):
    if kind in ("test", "read", "write"):
        return []
    raise ParamError()


def qpowd(m, kind, p):
    if kind == "exec":
        mode = 1
    elif kind == "write":
        mode = int_at(p, 0, 0, 1)
    elif kind == "test":
        return ["+QPOWD: (0,1)"]
    else:
        raise ParamError()
    return Reply([], then=lambda: m.power.qpowd(mode))


COMMANDS = {
    "": at,
    "+GMR": gmr,
    "+CGMR": gmr,
    "+GSN": gsn,
    "+CGSN": gsn,
    "+GMI": gmi,
    "+CGMI": gmi,
    "+GMM": gmm,
    "+CGMM": gmm,
    "+CPIN": cpin,
    "+CREG": creg,
    "+CGREG": cgreg,
    "+CSQ": csq,
    "+COPS": cops,
    "+CIMI": cimi,
    "+QCCID": qccid,
    "+CMEE": cmee,
    "+CFUN": cfun,
    "+CGATT": cgatt,
    "+CTZR": ctzr,
    "+CTZU": ctzu,
    "+IPR": ipr,
    "+IFC": ifc,
    "+CGQREQ": qos,
    "+CGEQREQ": qos,
    "+CGQMIN": qos,
    "+CGEQMIN": qos,
    "+QPOWD": qpowd,
}


# --- basic commands: handler(m, tail)


def _flag(tail, allowed):
    if tail not in allowed:
        raise ParamError()


def echo(m, tail):
    _flag(tail, ("", "0", "1"))
    m.engine.echo = tail == "1"
    return []


def defaults(m, tail):
    _flag(tail, ("", "0"))
    m.engine.echo = True
    return []


def info(m, tail):
    _flag(tail, ("", "0"))
    return ["Quectel", "UC20", "Revision: UC20GQBR03A12E1G"]


def dtr(m, tail):
    _flag(tail, ("", "0", "1", "2"))
    m.tm.dtr_mode = int(tail or "0")
    return []


def ato(m, tail):
    _flag(tail, ("", "0"))
    c = m.tm.resumable()
    if c is None:
        return Reply([], NO_CARRIER)
    return Reply([], CONNECT, then=lambda: m.tm.enter(c))


def _accepting(*allowed):
    def handler(m, tail):
        _flag(tail, allowed)
        return []

    return handler


BASIC = {
    "E": echo,
    "V": _accepting("", "1"),
    "Q": _accepting("", "0"),
    "&W": _accepting("", "0"),
    "Z": defaults,
    "&F": defaults,
    "I": info,
    "&D": dtr,
    "O": ato,
}
