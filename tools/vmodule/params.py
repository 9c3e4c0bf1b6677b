"""AT command parameter lists: splitting and typed access."""

from .errors import ParamError


def split_params(s):
    """Split an AT parameter list: quoted strings -> str, digits -> int, empty -> None."""
    out = []
    cur = []
    quoted = False
    was_quoted = False
    for ch in s:
        if ch == '"':
            quoted = not quoted
            was_quoted = True
            continue
        if not quoted and ch in " \t":
            continue
        if ch == "," and not quoted:
            out.append(_value("".join(cur), was_quoted))
            cur = []
            was_quoted = False
            continue
        cur.append(ch)
    if quoted:
        raise ParamError("unterminated string")
    out.append(_value("".join(cur), was_quoted))
    return out


def _value(text, quoted):
    if quoted:
        return text
    text = text.strip()
    if text == "":
        return None
    if text.isdigit():
        return int(text)
    if text[0] == "-" and text[1:].isdigit():
        return int(text)
    return text


def int_at(params, i, lo, hi, default=ParamError):
    """Parameter i as an int in lo..hi; default when absent (none given: ParamError)."""
    if i >= len(params) or params[i] is None:
        if default is ParamError:
            raise ParamError("missing parameter %d" % i)
        return default
    v = params[i]
    if not isinstance(v, int) or not lo <= v <= hi:
        raise ParamError("bad parameter %d" % i)
    return v


def str_at(params, i, default=ParamError):
    """Parameter i as a str; default when absent (none given: ParamError)."""
    if i >= len(params) or params[i] is None:
        if default is ParamError:
            raise ParamError("missing parameter %d" % i)
        return default
    v = params[i]
    if isinstance(v, int):
        return str(v)
    return v
