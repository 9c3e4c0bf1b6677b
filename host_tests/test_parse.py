"""Parsers against every response and URC shape of the manual (chapter 2 and 4)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quectel import errors, parse


def test_split_params_types_and_commas_in_quotes():
    assert parse.split_params(b' 1,"a,b",,-3,x y') == [1, "a,b", None, -3, "x y"]
    assert parse.split_params(b" (1-16),1-IPV4,APN") == ["(1-16)", "1-IPV4", "APN"]
    assert parse.split_params(b'"x",') == ["x", None]


@pytest.mark.parametrize("bad", [b' "open', b" (1-16", b' "a"b'])
def test_split_params_rejects(bad):
    with pytest.raises(ValueError):
        parse.split_params(bad)


def test_qicsgp():
    assert parse.parse_qicsgp(b'+QICSGP: 1,"","","",0') == (1, "", "", "", 0)
    assert parse.parse_qicsgp(b'+QICSGP: 1,"UNINET","u","p,w",1') == (1, "UNINET", "u", "p,w", 1)


def test_qiact():
    assert parse.parse_qiact(b'+QIACT: 1,1,1,"10.7.157.1"') == (1, 1, 1, "10.7.157.1")
    assert parse.parse_qiact(b"+QIACT: 2,0,1") == (2, 0, 1, None)


def test_qiopen():
    assert parse.parse_qiopen(b"+QIOPEN: 0,0") == (0, 0)
    assert parse.parse_qiopen(b"+QIOPEN: 11,565") == (11, 565)


@pytest.mark.parametrize(
    "line,want",
    [
        (b'+QISTATE: 0,"TCP","61.190.19.174",8705,0,2,1,0,0,"usbmodem"',
         (0, "TCP", "61.190.19.174", 8705, 0, 2, 1, 0, 0, "usbmodem")),
        (b'+QISTATE: 0,"TCP","61.190.19.174",8705,0,2,1,0,1,"usbmodem"',
         (0, "TCP", "61.190.19.174", 8705, 0, 2, 1, 0, 1, "usbmodem")),
        (b'+QISTATE: 1,"TCP LISTENER","10.7.157.1",0,2020,3,1,0,0,"usbmodem"',
         (1, "TCP LISTENER", "10.7.157.1", 0, 2020, 3, 1, 0, 0, "usbmodem")),
        (b'+QISTATE: 2,"UDP SERVICE","10.7.157.1",0,3030,2,1,0,0,"usbmodem"',
         (2, "UDP SERVICE", "10.7.157.1", 0, 3030, 2, 1, 0, 0, "usbmodem")),
        (b'+QISTATE: 11,"TCP INCOMING","172.31.242.222",54091,2020,2,1,1,0,"uart"',
         (11, "TCP INCOMING", "172.31.242.222", 54091, 2020, 2, 1, 1, 0, "uart")),
        (b'+QISTATE: 3,"UDP","127.0.0.1",53,0,2,1,0,2,"uart"',
         (3, "UDP", "127.0.0.1", 53, 0, 2, 1, 0, 2, "uart")),
    ],
)  # fmt: skip
def test_qistate_all_service_types(line, want):
    assert parse.parse_qistate(line) == want


def test_qisend_counters():
    assert parse.parse_qisend(b"+QISEND: 9,9,0") == (9, 9, 0)
    assert parse.parse_qisend(b"+QISEND: 10,10,0") == (10, 10, 0)


def test_qird_forms():
    assert parse.parse_qird(b"+QIRD: 5") == (5, None, None)
    assert parse.parse_qird(b"+QIRD: 0") == (0, None, None)
    assert parse.parse_qird(b"+QIRD: 5,5,0") == (5, 5, 0)
    assert parse.parse_qird(b'+QIRD: 4,"10.7.76.34",7687') == (4, "10.7.76.34", 7687)
    with pytest.raises(ValueError):
        parse.parse_qird(b"+QIRD: 4,5")


def test_test_command_ranges():
    assert parse.parse_qiswtmd(b"+QISWTMD: (0-11),(0-2)") == ((0, 11), (0, 2))
    assert parse.parse_range("(0,1)") == (0, 1)
    with pytest.raises(ValueError):
        parse.parse_range("0-1")


def test_qping_replies_and_summary():
    # Chapter 4.7 prints the address unquoted; section 2.10 quotes it. Both parse.
    assert parse.parse_qping(b"+QPING: 0,61.135.169.125,0,0,147") == (
        0,
        "61.135.169.125",
        0,
        0,
        147,
    )
    assert parse.parse_qping(b'+QPING: 0,"127.0.0.1",32,1,255') == (0, "127.0.0.1", 32, 1, 255)
    assert parse.parse_qping(b"+QPING: 1") == (1,)
    assert parse.parse_qping(b"+QPING: 2,4,4,0,96,147,111") == (2, 4, 4, 0, 96, 147, 111)
    assert parse.parse_qping(b"+QPING: 4") == (4,)
    with pytest.raises(ValueError):
        parse.parse_qping(b"+QPING: 2,4")


def test_qntp_quarter_hour_zone():
    assert parse.parse_qntp(b'+QNTP: 0,"2013/08/19,11:10:10+32"') == (
        0,
        (2013, 8, 19, 11, 10, 10),
        480,
    )
    assert parse.parse_qntp(b'+QNTP: 0,"2013/08/19,11:10:10-48"')[2] == -720
    assert parse.parse_qntp(b"+QNTP: 572") == (572, None, None)
    for bad in (b'+QNTP: 0,"2013/08/19,11:10:10+57"', b'+QNTP: 0,"2013/13/19,11:10:10+00"'):
        with pytest.raises(ValueError):
            parse.parse_qntp(bad)


def test_qidnscfg_qicfg_qigeterror_cme():
    assert parse.parse_qidnscfg(b'+QIDNSCFG: 1,"8.8.8.8","8.8.4.4"') == (1, "8.8.8.8", "8.8.4.4")
    assert parse.parse_qicfg(b'+QICFG: "transpktsize",1024') == ("transpktsize", 1024)
    assert parse.parse_qicfg(b'+QICFG: "transwaittm",2') == ("transwaittm", 2)
    assert parse.parse_qigeterror(b"+QIGETERROR: 558, invalid parameters") == (
        558,
        "invalid parameters",
    )
    assert parse.parse_qigeterror(b'+QIGETERROR: 0,"operation successfully"') == (
        0,
        "operation successfully",
    )
    assert parse.parse_cme_error(b"+CME ERROR: 10") == 10
    assert parse.parse_cme_error(b"+CME ERROR: SIM not inserted") == "SIM not inserted"


@pytest.mark.parametrize(
    "line,want",
    [
        (b'+QIURC: "recv",0', ("recv", 0)),
        (b'+QIURC: "recv",0,4', ("recv", 0, 4)),
        (b'+QIURC: "recv",2,4,"10.7.76.34",7687', ("recv", 2, 4, "10.7.76.34", 7687)),
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
    assert parse.parse_qiurc(line) == want


def test_error_table():
    for code in range(552, 575):
        e = errors.error_for(code)
        assert isinstance(e, errors.TCPIPError) and e.code == code
        assert e.text == errors.error_text(code)
    assert type(errors.error_for(558, "invalid parameters")) is errors.InvalidParameters
    assert errors.error_for(999).code == 999
    assert errors.error_for(0).code == 0


PARSERS = [
    getattr(parse, n) for n in dir(parse) if n.startswith("parse_") and n != "parse_ntp_time"
]


PREFIXES = [
    b"",
    b"+QICSGP: ",
    b"+QIACT: ",
    b"+QIOPEN: ",
    b"+QISTATE: ",
    b"+QISEND: ",
    b"+QIRD: ",
    b"+QISWTMD: ",
    b"+QPING: ",
    b"+QNTP: ",
    b"+QIDNSCFG: ",
    b"+QICFG: ",
    b"+QIGETERROR: ",
    b"+CME ERROR: ",
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
    arg = data if fn is not parse.parse_range else data.decode("latin-1")
    try:
        fn(arg)
    except ValueError:
        pass
