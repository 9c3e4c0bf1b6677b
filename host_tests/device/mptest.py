"""A tiny test runner for scripts run under the MicroPython unix port.

    from mptest import test, run

    @test
    def something():
        assert 1 + 1 == 2

    run()   # prints each result, then "N passed, N failed"; exits 1 on any failure
"""

import sys

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def run():
    passed = failed = 0
    for fn in _tests:
        try:
            fn()
        except Exception as e:  # report every failure, keep going
            failed += 1
            print(fn.__name__, "... FAIL")
            sys.print_exception(e) if hasattr(sys, "print_exception") else print(repr(e))
        else:
            passed += 1
            print(fn.__name__, "... ok")
    print("%d passed, %d failed" % (passed, failed))
    if failed:
        sys.exit(1)
