# A tiny test runner for MicroPython (also runs under CPython).
#
#   from mptest import test, eq, ok, raises, run
#   @test
#   def uart_echo(): eq(1 + 1, 2)
#   run()          # runs the tests named in sys.argv[1:], or all, in definition order
#
# Prints "name ... ok" / "name ... FAIL" (with the traceback), then "N passed, M failed", and
# exits with status 1 when anything failed.

import sys

_tests = []


def test(f):
    _tests.append(f)
    return f


def ok(cond, msg="condition is false"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        ra, rb = repr(a), repr(b)
        if len(ra) > 200:
            ra = ra[:200] + "..."
        if len(rb) > 200:
            rb = rb[:200] + "..."
        raise AssertionError("%s != %s %s" % (ra, rb, msg))


def raises(exc, f, *args, **kw):
    try:
        f(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def _print_exc(e):
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


def run(names=None):
    if names is None:
        names = sys.argv[1:]
    by_name = {}
    for f in _tests:
        by_name[f.__name__] = f
    todo = [by_name.get(n) or n for n in names] if names else _tests
    passed = failed = 0
    for f in todo:
        if isinstance(f, str):
            print(f, "... FAIL (no such test)")
            failed += 1
            continue
        try:
            f()
        except Exception as e:
            print(f.__name__, "... FAIL")
            _print_exc(e)
            failed += 1
        else:
            print(f.__name__, "... ok")
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
