"""The benchmark workloads: each a function taking a scale factor.

A workload does a fixed amount of work (proportional to its scale; at scale
0, only its imports and set-up) with the modules the fork ports;
tools/bench.py times its call in a fresh interpreter (`python -S
tools/bench/workloads.py NAME SCALE [REPEAT]`), so import and startup are
not part of the figure.  Keep each short at scale 1 (tens of
milliseconds on a release build): callgrind runs it at scales 1 and 2 under
valgrind and counts the difference, and the wall-clock mode scales it up.
"""
import gc
import os
import sys
import time


def decimal_telco(n):
    from decimal import Decimal, localcontext, ROUND_DOWN, ROUND_HALF_EVEN
    rates = [Decimal('0.0013'), Decimal('0.00894')]
    twodig = Decimal('0.01')
    disttax = Decimal('0.0341')
    basictax = Decimal('0.0675')
    calls = [Decimal(i % 1000 + 1) for i in range(6000)]
    total = Decimal(0)
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        for _ in range(n):
            for i, duration in enumerate(calls):
                rate = rates[i & 1]
                price = (duration * rate).quantize(twodig, ROUND_HALF_EVEN)
                tax = (price * basictax).quantize(twodig, ROUND_DOWN)
                if i & 1:
                    tax += (price * disttax).quantize(twodig, ROUND_DOWN)
                total += price + tax
    return total


def decimal_pi(n):
    from decimal import Decimal, getcontext
    ctx = getcontext()
    s = 0
    for _ in range(40 * n):
        ctx.prec = 400
        lasts, t, s, num, nn, d, da = 0, Decimal(3), 3, 1, 0, 0, 24
        while s != lasts:
            lasts = s
            nn, num = nn + 1, num + nn
            d, da = d + da, da + 32
            t = (t * num) / d
            s += t
    ctx.prec = 28
    return +s


def decimal_factorial(n):
    from decimal import Decimal, getcontext, MAX_PREC, MAX_EMAX, MIN_EMIN
    ctx = getcontext()
    ctx.prec, ctx.Emax, ctx.Emin = MAX_PREC, MAX_EMAX, MIN_EMIN
    r = None
    for _ in range(3 * n):
        r = Decimal(1)
        for i in range(1, 3000):
            r *= i
    return r


def datetime_ops(n):
    from datetime import datetime, timedelta, timezone, date
    tz = timezone(timedelta(hours=2))
    step = timedelta(minutes=17, seconds=3)
    out = 0
    for _ in range(n):
        t = datetime(2020, 1, 1, 12, 30, tzinfo=timezone.utc)
        for i in range(8000):
            t = t + step
            u = t.astimezone(tz)
            out += (u - t).seconds + u.day
            if i % 8 == 0:
                out += len(u.isoformat()) + len(t.strftime('%Y-%m-%d %H:%M'))
                out += datetime.fromisoformat('2021-03-04T05:06:07').hour
                out += date(2020, 2, 29).toordinal() & 7
    return out


def zoneinfo_ops(n):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    zones = [ZoneInfo(k) for k in ('Europe/Paris', 'America/New_York',
                                   'Asia/Tokyo', 'Australia/Sydney')]
    t = datetime(2020, 1, 1, tzinfo=ZoneInfo('UTC'))
    step = timedelta(hours=7, minutes=11)
    out = 0
    for _ in range(n):
        for i in range(10000):
            t += step
            u = t.astimezone(zones[i & 3])
            out += u.hour + u.utcoffset().seconds
    return out


def pickle_mixed(n):
    import pickle
    data = [{'id': i, 'name': f'item{i}', 'tags': ('a', 'b', i),
             'price': i * 1.25, 'ok': bool(i & 1), 'raw': bytes(i % 17)}
            for i in range(2000)]
    for _ in range(2 * n):
        for proto in (2, 5):
            s = pickle.dumps(data, proto)
            assert pickle.loads(s) == data


def collections_ops(n):
    from collections import deque, defaultdict, namedtuple, OrderedDict
    Point = namedtuple('Point', 'x y z')
    s = 0
    for _ in range(n):
        d = deque(maxlen=1000)
        for i in range(50000):
            d.append(i)
            if i % 3 == 0:
                d.popleft()
            if i % 1000 == 0:
                d.rotate(7)
        dd = defaultdict(list)
        for i in range(50000):
            dd[i % 1000].append(i)
        p = Point(1, 2, 3)
        s = 0
        for i in range(50000):
            s += p.x + p.y + p.z
        od = OrderedDict.fromkeys(range(10000))
        for i in range(10000):
            od.move_to_end(i)
    return s


def itertools_pipeline(n):
    import itertools as it
    import operator
    total = 0
    for _ in range(4 * n):
        data = range(100000)
        chained = it.chain(data, it.islice(it.count(), 30000))
        pairs = it.pairwise(it.compress(chained, it.cycle((1, 0, 1))))
        total += sum(it.starmap(operator.sub, pairs))
        total += sum(1 for _ in it.product(range(25), repeat=3))
        total += sum(len(list(g)) for _, g in it.groupby(sorted(
            x % 97 for x in range(30000))))
        total += sum(it.accumulate(it.repeat(3, 30000)))
        total += len(list(it.combinations(range(20), 3)))
    return total


def asyncio_tasks(n):
    import asyncio

    async def leaf(i):
        await asyncio.sleep(0)
        return i

    async def main():
        loop = asyncio.get_running_loop()
        total = 0
        for _ in range(n):
            total += sum(await asyncio.gather(*(leaf(i) for i in range(800))))
            futs = [loop.create_future() for _ in range(2000)]
            for i, f in enumerate(futs):
                loop.call_soon(f.set_result, i)
            for f in futs:
                total += await f
        return total

    return asyncio.run(main())


def io_ops(n):
    import io
    import os
    import tempfile
    line = 'The quick brown fox jumps over the lazy dog. \u00e9\u00e8\n'
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'f.txt')
        for _ in range(n):
            b = io.BytesIO()
            for i in range(25000):
                b.write(b'abcdefgh')
            b.seek(0)
            while b.read(64):
                pass
            s = io.StringIO()
            for i in range(25000):
                s.write(line)
            s.seek(0)
            for _ in s:
                pass
            with open(path, 'w', encoding='utf-8') as f:
                for i in range(25000):
                    f.write(line)
            with open(path, encoding='utf-8') as f:
                for _ in f:
                    pass


def socket_pairs(n):
    import socket
    for _ in range(n):
        a, b = socket.socketpair()
        with a, b:
            msg = b'x' * 64
            for i in range(6000):
                a.sendall(msg)
                b.recv(64)
        for i in range(600):
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()


def ctypes_calls(n):
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    labs, strlen = libc.labs, libc.strlen
    labs.argtypes, labs.restype = [ctypes.c_long], ctypes.c_long
    strlen.argtypes, strlen.restype = [ctypes.c_char_p], ctypes.c_size_t

    class Point(ctypes.Structure):
        _fields_ = [('x', ctypes.c_int), ('y', ctypes.c_double)]

    total = 0
    arr = (ctypes.c_int * 100)(*range(100))
    for _ in range(n):
        for i in range(15000):
            total += labs(-i) + strlen(b'hello world')
        for i in range(15000):
            p = Point(i, 2.5)
            p.x += 1
            total += p.x + arr[i % 100]
    return total


def elementtree_ops(n):
    import xml.etree.ElementTree as ET
    root = ET.Element('root')
    for i in range(3000):
        e = ET.SubElement(root, 'item', id=str(i), kind='k%d' % (i % 7))
        e.text = 'text %d' % i
        ET.SubElement(e, 'child').tail = 'tail'
    blob = ET.tostring(root)
    for _ in range(n):
        tree = ET.fromstring(blob)
        assert len(tree.findall('.//child')) == 3000
        ET.tostring(tree)


def array_ops(n):
    from array import array
    total = 0
    for _ in range(n):
        a = array('d', range(50000))
        b = array('i', range(50000))
        for i in range(0, 50000, 3):
            a[i] = a[i] * 2.0
            total += b[i]
        a.extend(a[:50000])
        b.reverse()
        total += int(sum(a)) + a.index(4.0) + b.count(7)
        total += len(a.tobytes()) + len(array('b', b.tobytes()[:1000]))
    return total


# Fresh module instances.  Re-importing a module after removing it from
# sys.modules gives pristine 3.11.2 a copy of its cached dict when the
# module is single-phase, and the fork a new instance with new types and
# state.  The twelve modules measured one by one:
REIMPORT = ('_decimal', '_socket', '_csv', '_ctypes', '_datetime', '_asyncio',
            '_pickle', '_elementtree', 'itertools', '_json', '_collections',
            'array')
# The other ported modules, measured together (reimport_others).  Not
# readline: initializing it again resets the terminal's line editing.
OTHERS = ('_ssl', '_curses', '_curses_panel', '_zoneinfo', 'ossaudiodev',
          '_tracemalloc', '_tkinter', '_multiprocessing', '_xxsubinterpreters',
          'xxsubtype', '_testbuffer', '_io')
# Some of these modules, on pristine 3.11.2, drop references to None each
# time they are imported again (_zoneinfo, _ssl, _curses_panel...: about 8
# per loop over OTHERS; the fork's ports do not), and None is not immortal
# in 3.11.  At the scales of the wall-clock mode, the baseline would
# deallocate None and abort.  These references keep it alive while the
# workload runs (both sides make the tuple at start-up, outside the
# measured calls), and the wall-clock mode leaves without finalizing (see
# the end of this file), when the tuple would go.
_NONE_REFS = (None,) * 100_000


def _importable(names):
    """The names that this build can import (the same on both sides)."""
    import importlib
    found = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        found.append(name)
    return found


def _reimport(names, count):
    import importlib
    names = _importable(names)
    for _ in range(count):
        for name in names:
            del sys.modules[name]
            importlib.import_module(name)


def _reimport_workload(name):
    def workload(n):
        _reimport([name], 100 * n)
    workload.__name__ = 'reimport_' + name.lstrip('_')
    workload.__doc__ = f'Re-import {name} after removing it from sys.modules.'
    return workload


for _name in REIMPORT:
    _f = _reimport_workload(_name)
    globals()[_f.__name__] = _f


def reimport_others(n):
    _reimport(OTHERS, 10 * n)


def reimport_all(n):
    _reimport(REIMPORT + OTHERS, 10 * n)


def subinterp_imports(n):
    """Subinterpreters that each import the twelve REIMPORT modules."""
    import _xxsubinterpreters as interpreters
    code = ''.join(f'import {name}\n' for name in REIMPORT)
    for _ in range(2 * n):
        interp = interpreters.create()
        interpreters.run_string(interp, code)
        interpreters.destroy(interp)


# Type creation: class statements, exception classes, types from specs.

def class_dunder(n):
    """Class statements with special methods, __slots__, a hook."""
    if n == 0:
        return None
    for _ in range(150 * n):
        class Vector:
            __slots__ = ('x', 'y')

            def __init__(self, x, y):
                self.x, self.y = x, y

            def __repr__(self):
                return f'Vector({self.x}, {self.y})'

            def __eq__(self, other):
                return (self.x, self.y) == (other.x, other.y)

            def __hash__(self):
                return hash((self.x, self.y))

            def __add__(self, other):
                return Vector(self.x + other.x, self.y + other.y)

            def __len__(self):
                return 2

            def __getitem__(self, i):
                return (self.x, self.y)[i]

            def __iter__(self):
                return iter((self.x, self.y))

        class Scaled(Vector):
            __slots__ = ('k',)

            def __mul__(self, k):
                return Scaled(self.x * k, self.y * k)

            __rmul__ = __mul__

        class Registry:
            members = []

            def __init_subclass__(cls, tag=None, **kw):
                super().__init_subclass__(**kw)
                cls.tag = tag

        class Member(Registry, tag='m'):
            def __call__(self, *args):
                return args

            def __lt__(self, other):
                return id(self) < id(other)

        class Namespace(dict):
            def __getattr__(self, name):
                return self[name]

            def __setattr__(self, name, value):
                self[name] = value

        class Plain:
            def __init__(self):
                self.a = 1
    return Vector(1, 2) + Scaled(3, 4) * 2, Member(), Namespace(), Plain()


def class_exception(n):
    """Exception classes: class statements and PyErr_NewExceptionWithDoc()
    (through _testcapi), with one base and with several."""
    from _testcapi import make_exception_with_doc as new_exception
    Error = NotFound = Timeout = None
    for _ in range(150 * n):
        class Error(Exception):
            pass

        class NotFound(Error, LookupError):
            pass

        class Timeout(Error, OSError):
            def __str__(self):
                return 'timeout'

        Signal = new_exception('mod.Signal', 'A signal.', ArithmeticError)
        new_exception('mod.Overflow', base=(Signal, OverflowError))
        new_exception('mod.DivByZero', 'Division by zero.',
                      (Signal, ZeroDivisionError))
    return Error, NotFound, Timeout


def class_spec(n):
    """Types from specs (PyType_FromSpec) and an extension module's exec
    (xxlimited: types, and an exception from PyErr_NewException)."""
    import _imp
    import _testcapi
    from importlib.util import find_spec
    spec = find_spec('xxlimited')
    for _ in range(100 * n):
        for _ in range(5):
            _testcapi.negative_dictoffset()
        _testcapi.test_type_from_ephemeral_spec()
        if spec is not None:
            _imp.exec_dynamic(_imp.create_dynamic(spec))


WORKLOADS = {name: f for name, f in globals().items()
             if callable(f) and not name.startswith('_')
             and f.__module__ == __name__}


def shift_layout(k):
    """Give k new classes a type version tag (by looking an attribute up on
    each), so that every type that gets its tag later gets another one.  The
    method cache of 3.11 indexes its entries by version tag and name address:
    a pair of (type, name) lookups in a workload's loop that happen to share
    an entry evict each other on every iteration, a few percent of some
    workloads that says nothing about the code under test.  tools/bench.py
    counts instructions in several layouts (BENCH_LAYOUT=k) and takes the
    median."""
    classes = [type(f'Layout{i}', (), {}) for i in range(k)]
    for cls in classes:
        getattr(cls, 'layout', None)
    return classes


if __name__ == '__main__':
    # NAME SCALE [REPEAT]: print the best of REPEAT timed calls.  The minimum
    # is the least disturbed by the rest of a noisy machine.
    name, scale = sys.argv[1], int(sys.argv[2])
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    func = WORKLOADS[name]
    layout = shift_layout(int(os.environ.get('BENCH_LAYOUT', '0')))
    # The cyclic GC collects every 700 allocations, and the older generation
    # every 10 of these: where these collections fall in a workload's loop
    # (on 2,000 live futures, or between two batches) moves the count of a
    # measured iteration by up to 2 % either way (asyncio_tasks: fork/base
    # from 0.984 to 1.025 over the ten phases of the older generation, 1.008
    # on average).  The phase the loop starts in was whatever the workload's
    # imports left, which differs between the fork and the baseline.  So a
    # run at scale 0 does the imports and set-up first, and each timed call
    # starts right after a full collection: both sides' collections then
    # fall at the same points of the loop.
    func(0)
    best = float('inf')
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        func(scale)
        best = min(best, time.perf_counter() - t0)
    print(best)
    if len(sys.argv) > 3:
        # The wall-clock mode (which passes REPEAT) reads only this figure.
        # Leave without finalizing: the baseline may owe None more
        # references than it has once _NONE_REFS is freed.
        sys.stdout.flush()
        os._exit(0)
