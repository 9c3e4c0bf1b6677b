"""Pure parsers for the module's response and URC lines (the manual's chapter 2).

Every parser takes one line as bytes, without its CR LF, and returns plain values (tuples,
ints, strs). Malformed input raises `ValueError` and nothing else.
"""


def _value(tok):
    tok = tok.strip()
    if not tok:
        return None
    c = tok[0]
    if 48 <= c <= 57 or (c == 45 and len(tok) > 1):  # digit or '-'
        try:
            return int(tok)
        except ValueError:
            pass
    return tok.decode()


def split_params(s):
    """Split a parameter list: ints for numbers, strs for quoted or other text.

    Quoted strings may hold commas; a parenthesised range such as `(0-11)` is one token.
    An empty field gives None.
    """
    out = []
    i = 0
    n = len(s)
    while True:
        while i < n and s[i] == 32:
            i += 1
        if i < n and s[i] == 34:  # '"'
            j = s.find(b'"', i + 1)
            if j < 0:
                raise ValueError("unterminated string")
            out.append(s[i + 1 : j].decode())
            i = j + 1
            while i < n and s[i] == 32:
                i += 1
        elif i < n and s[i] == 40:  # '('
            j = s.find(b")", i + 1)
            if j < 0:
                raise ValueError("unterminated range")
            out.append(s[i : j + 1].decode())
            i = j + 1
        else:
            j = s.find(b",", i)
            if j < 0:
                j = n
            out.append(_value(s[i:j]))
            i = j
        if i >= n:
            return out
        if s[i] != 44:  # ','
            raise ValueError("expected ','")
        i += 1
        if i == n:
            out.append(None)
            return out


def params(line, prefix):
    """The parameters of `prefix: a,b,...` (prefix given with its colon, e.g. b"+QIACT:")."""
    if not line.startswith(prefix):
        raise ValueError("expected %s" % prefix.decode())
    return split_params(line[len(prefix) :])


def _fields(line, prefix, lo, hi=None):
    p = params(line, prefix)
    if not lo <= len(p) <= (hi if hi is not None else lo):
        raise ValueError("%s: %d fields" % (prefix.decode(), len(p)))
    return p


def _int(v):
    if type(v) is not int:
        raise ValueError("not a number: %r" % (v,))
    return v


def _str(v):
    if type(v) is not str:
        raise ValueError("not a string: %r" % (v,))
    return v


def parse_qiact(line):
    """+QIACT: <ctx>,<state>,<type>[,<ip>] -> (ctx, state, type, ip or None)."""
    p = _fields(line, b"+QIACT:", 3, 4)
    ip = _str(p[3]) if len(p) == 4 else None
    return _int(p[0]), _int(p[1]), _int(p[2]), ip


def parse_qiopen(line):
    """+QIOPEN: (or +QSSLOPEN:) <connectID>,<err> -> (connect_id, err)."""
    p = _fields(line, line[: line.find(b":") + 1], 2)
    return _int(p[0]), _int(p[1])


def parse_qisend(line):
    """+QISEND: <total>,<acked>,<unacked> -> the three counters."""
    p = _fields(line, b"+QISEND:", 3)
    return _int(p[0]), _int(p[1]), _int(p[2])


def parse_qigeterror(line):
    """+QIGETERROR: <err>,<description> -> (err, description); the text may be unquoted."""
    if not line.startswith(b"+QIGETERROR:"):
        raise ValueError("expected +QIGETERROR:")
    body = line[12:]
    comma = body.find(b",")
    if comma < 0:
        return _int(_value(body)), ""
    text = body[comma + 1 :].strip()
    if len(text) >= 2 and text[0] == 34 and text[-1] == 34:
        text = text[1:-1]
    return _int(_value(body[:comma])), text.decode()


def parse_qiurc(line):
    """A +QIURC line (section 2.16) other than "recv", which the engine frames itself ->
    ("closed", id); ("incoming", id, server_id, ip, port); ("incoming full",);
    ("pdpdeact", ctx); ("dnsgip", err, count, ttl) or ("dnsgip", err) or ("dnsgip", ip)."""
    p = params(line, b"+QIURC:")
    kind = _str(p[0])
    n = len(p)
    if kind in ("closed", "pdpdeact") and n == 2:
        return kind, _int(p[1])
    if kind == "incoming" and n == 5:
        return kind, _int(p[1]), _int(p[2]), _str(p[3]), _int(p[4])
    if kind == "incoming full" and n == 1:
        return (kind,)
    if kind == "dnsgip":
        if n == 4:
            return kind, _int(p[1]), _int(p[2]), _int(p[3])
        if n == 2:
            v = p[1]
            if type(v) is int or type(v) is str:
                return kind, v
    raise ValueError("bad +QIURC")
