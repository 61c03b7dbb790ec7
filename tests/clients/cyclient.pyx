# cython: language_level=3
"""A Cython client of the fork (tests/test_clients.py generates its C code
with Debian's cython3 at test time): a cdef class, and cdef classes deriving
from the types of datetime (static types whose bases are the heap types of
the fork's _datetime), plus calls through the datetime C API capsule."""

from cpython.datetime cimport (
    datetime, timedelta, import_datetime, datetime_new, timedelta_new,
    PyDateTime_Check, PyDelta_Check)

import_datetime()


cdef class Counter:
    cdef public long value

    def __init__(self, long start=0):
        self.value = start

    def add(self, long n=1):
        self.value += n
        return self.value


cdef class MyDateTime(datetime):
    # A C member past the end of PyDateTime_DateTime.
    cdef public long extra

    def describe(self):
        return f'{self.year:04d}-{self.month:02d}-{self.day:02d}+{self.extra}'

    def shifted(self, int days):
        return self + timedelta(days=days)


cdef class MyDateTimeObj(datetime):
    # An object member: the type supports the GC (tp_traverse, tp_clear).
    cdef public object payload


cdef class MyTimedelta(timedelta):
    def doubled(self):
        return self * 2


def capi_datetime(int y, int m, int d, int hh=0, int mm=0, int ss=0, int us=0,
                  tz=None):
    """A datetime built through the C API capsule."""
    return datetime_new(y, m, d, hh, mm, ss, us, tz)


def capi_timedelta(int days, int seconds=0, int useconds=0):
    return timedelta_new(days, seconds, useconds)


def capi_checks(obj):
    return (PyDateTime_Check(obj), PyDelta_Check(obj))
