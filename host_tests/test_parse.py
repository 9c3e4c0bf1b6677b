"""Parsers against every response and URC shape of the manual (chapter 2 and 4)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quectel import diag, errors, parse


def test_split_params_types_and_commas_in_quotes():
    assert parse.split_params(b' 1,"a,b",,-3,x y') == [1, "a,b", None, -3, "x y"]
    assert parse.split_params(b" (1-16),1-IPV4,APN") == ["(1-16)", "1-IPV4", "APN"]
    assert parse.split_params(b'"x",') == ["x", None]


@pytest.mark.parametrize("bad", [b' "open', b" (1-16", b' "a"b'])
def test_split_params_rejects(bad):
    with pytest.raises(ValueError):
        parse.split_params(bad)


def test_qiact():
    assert parse.parse_qiact(b'+QIACT: 1,1,1,"10.7.157.1"') == (1, 1, 1, "10.7.157.1")
    assert parse.parse_qiact(b"+QIACT: 2,0,1") == (2, 0, 1, None)


def test_qiopen():
    assert parse.parse_qiopen(b"+QIOPEN: 0,0") == (0, 0)
    assert parse.parse_qiopen(b"+QIOPEN: 11,565") == (11, 565)


def test_qisend_counters():
    assert parse.parse_qisend(b"+QISEND: 9,9,0") == (9, 9, 0)
    assert parse.parse_qisend(b"+QISEND: 10,10,0") == (10, 10, 0)


def test_qping_replies_and_summary():
    # Chapter 4.7 prints the address unquoted; section 2.10 quotes it. Both parse.
    assert diag.parse_qping(b"+QPING: 0,61.135.169.125,0,0,147") == (
        0,
        "61.135.169.125",
        0,
        0,
        147,
    )
    assert diag.parse_qping(b'+QPING: 0,"127.0.0.1",32,1,255') == (0, "127.0.0.1", 32, 1, 255)
    assert diag.parse_qping(b"+QPING: 1") == (1,)
    assert diag.parse_qping(b"+QPING: 2,4,4,0,96,147,111") == (2, 4, 4, 0, 96, 147, 111)
    assert diag.parse_qping(b"+QPING: 4") == (4,)
    with pytest.raises(ValueError):
        diag.parse_qping(b"+QPING: 2,4")


def test_qntp_quarter_hour_zone():
    assert diag.parse_qntp(b'+QNTP: 0,"2013/08/19,11:10:10+32"') == (
        0,
        (2013, 8, 19, 11, 10, 10),
        480,
    )
    assert diag.parse_qntp(b'+QNTP: 0,"2013/08/19,11:10:10-48"')[2] == -720
    assert diag.parse_qntp(b"+QNTP: 572") == (572, None, None)
    for bad in (b'+QNTP: 0,"2013/08/19,11:10:10+57"', b'+QNTP: 0,"2013/13/19,11:10:10+00"'):
        with pytest.raises(ValueError):
            diag.parse_qntp(bad)


def test_qidnscfg_qicfg_qigeterror():
    assert diag.parse_qidnscfg(b'+QIDNSCFG: 1,"8.8.8.8","8.8.4.4"') == (1, "8.8.8.8", "8.8.4.4")
    assert diag.parse_qicfg(b'+QICFG: "transpktsize",1024') == ("transpktsize", 1024)
    assert diag.parse_qicfg(b'+QICFG: "transwaittm",2') == ("transwaittm", 2)
    assert parse.parse_qigeterror(b"+QIGETERROR: 558, invalid parameters") == (
        558,
        "invalid parameters",
    )
    assert parse.parse_qigeterror(b'+QIGETERROR: 0,"operation successfully"') == (
        0,
        "operation successfully",
    )


@pytest.mark.parametrize(
    "line,want",
    [
        (b'+QIURC: "closed",3', ("closed", 3)),
        (
            b'+QIURC: "incoming",11,1,"172.31.242.222",54091',
            ("incoming", 11, 1, "172.31.242.222", 54091),
        ),
        (b'+QIURC: "incoming full"', ("incoming full",)),
        (b'+QIURC: "pdpdeact",1', ("pdpdeact", 1)),
        (b'+QIURC: "dnsgip",0,2,600', ("dnsgip", 0, 2, 600)),
        (b'+QIURC: "dnsgip","1.2.3.4"', ("dnsgip", "1.2.3.4")),
        (b'+QIURC: "dnsgip",565', ("dnsgip", 565)),
    ],
)
def test_qiurc_every_kind(line, want):
    # "recv" URCs are framed by the engine (test_engine), never handed to parse_qiurc.
    assert parse.parse_qiurc(line) == want


def test_error_table():
    for code in range(552, 575):
        e = errors.error_for(code)
        assert isinstance(e, errors.TCPIPError) and e.code == code
        assert e.text == errors.error_text(code)
    assert errors.error_for(558, "invalid parameters").text == "invalid parameters"
    assert errors.error_for(999).code == 999
    assert errors.error_for(0).code == 0


PARSERS = [
    getattr(mod, n)
    for mod in (parse, diag)
    for n in dir(mod)
    if n.startswith("parse_") and n != "parse_ntp_time"
]


PREFIXES = [
    b"",
    b"+QIACT: ",
    b"+QIOPEN: ",
    b"+QISEND: ",
    b"+QPING: ",
    b"+QNTP: ",
    b"+QIDNSCFG: ",
    b"+QICFG: ",
    b"+QIGETERROR: ",
    b'+QIURC: "recv",',
    b'+QIURC: "dnsgip",',
    b'+QIURC: "incoming",',
]
TOKENS = st.sampled_from(
    [b",", b'"', b"(", b")", b"-", b"0", b"12", b"1500", b"/", b":", b"+", b" "]
)


@given(
    st.sampled_from(PARSERS),
    st.sampled_from(PREFIXES),
    st.lists(st.one_of(TOKENS, st.binary(max_size=4)), max_size=20),
)
def test_parsers_raise_only_valueerror(fn, prefix, parts):
    data = prefix + b"".join(parts)
    try:
        fn(data)
    except ValueError:
        pass
