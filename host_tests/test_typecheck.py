"""tools/typecheck checks calls into each port's stubs: a board file given a wrong UART(...) or
Pin(...) argument fails it, the unchanged board file passes (rp2 and esp32 stubs)."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPECHECK = os.path.join(ROOT, "tools", "typecheck")
# A wrong argument of each kind, injected into a copy of the board file.
WRONG = {
    "pin": ("Pin(PWRKEY_PIN, Pin.OUT, value=", "Pin(PWRKEY_PIN, Pin.OUT, valeu="),
    "uart": ("return UART(UART_ID, BAUDRATE, ", 'return UART(UART_ID, "115200", '),
}


def typecheck(port, *args):
    env = dict(os.environ, PORTS=port)
    out = subprocess.run([TYPECHECK] + list(args), capture_output=True, text=True,
                         timeout=600, env=env)  # fmt: skip
    return out.returncode, out.stdout + out.stderr


@pytest.mark.parametrize("board,port", [("rpi_pico", "rp2"), ("esp32_generic", "esp32")])
def test_wrong_uart_and_pin_arguments_fail(board, port, tmp_path):
    code, out = typecheck(port, "--version")
    if code != 0:  # no PyPI, or pyright could not fetch its node package
        pytest.skip("pyright or the %s stubs cannot be installed: %s" % (port, out[-300:]))
    clean = tmp_path / (board + ".py")
    shutil.copyfile(os.path.join(ROOT, "boards", board + ".py"), clean)
    text = clean.read_text()
    files = [str(clean)]
    for kind, (right, wrong) in WRONG.items():
        assert right in text, "boards/%s.py changed: update WRONG[%r]" % (board, kind)
        bad = tmp_path / ("%s_bad_%s.py" % (board, kind))
        bad.write_text(text.replace(right, wrong, 1))
        files.append(str(bad))
    code, out = typecheck(port, *files)
    assert code != 0, out
    assert "%s_bad_pin.py" % board in out and 'No parameter named "valeu"' in out, out
    assert "%s_bad_uart.py" % board in out and "reportArgumentType" in out, out
    assert "%s.py:" % board not in out, out  # the unchanged copy has no error
