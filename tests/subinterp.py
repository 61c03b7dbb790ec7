"""Helpers for our tests: run code in a new subinterpreter, count the
references that subinterpreter cycles leak (debug builds)."""
import sys
from test.support import import_helper

_xxsubinterpreters = import_helper.import_module('_xxsubinterpreters')


def run_in_subinterp(code, **kwargs):
    """Run 'code' in a new subinterpreter (created with **kwargs), then
    destroy it."""
    interp = _xxsubinterpreters.create(**kwargs)
    try:
        _xxsubinterpreters.run_string(interp, code)
    finally:
        _xxsubinterpreters.destroy(interp)


def cycle_refs(code, cycles=10):
    """Total references gained over 'cycles' subinterpreters that each run
    'code', after three warm-up cycles."""
    for _ in range(3):
        run_in_subinterp(code)
    before = sys.gettotalrefcount()
    for _ in range(cycles):
        run_in_subinterp(code)
    return sys.gettotalrefcount() - before


# An empty subinterpreter cycle leaks a few references on 3.11 itself:
# compare what a module's cycle leaks with cycle_refs(EMPTY).
EMPTY = 'import sys; sys.path.insert(0, "."); sys.path.pop(0)'
