"""Subinterpreter stress: many interpreters, several threads, every extension.

    ./python -m test --testdir tests test_stress     `make test`: the short run
    ./python tests/test_stress.py [--full] [--interpreters N] [--threads N]
                                                     `make stress`: --full

Worker threads each create a subinterpreter, import in it every extension
module of the build that a subinterpreter may load, use a few of them, and
destroy it, over and over; meanwhile the main thread re-imports and deletes
the build's shared-library extension modules in the main interpreter.  The
work is done in rounds: a round ends when every thread has finished its
share, and then, with no subinterpreter alive, the run measures the total
reference count (sys.gettotalrefcount(), debug build) and the resident
memory (/proc/self/statm).  The first WARMUP_ROUNDS rounds fill the caches
(interned strings, the import system's caches, the allocator's arenas); after
them the reference count must not move at all, and resident memory may grow
by at most RSS_SLACK_KIB per interpreter on average (pristine 3.11.2 grows by
about 100 KiB per interpreter cycle with every extension imported, see
README.rst).

In 3.11 subinterpreters share the GIL, so the threads take turns, but they
switch inside the interpreters' bytecode and inside module init and
finalization.  _xxsubinterpreters.run_string() runs an interpreter in the
calling thread with the thread state that create() made for it, so each
worker runs only the interpreters it created itself, one at a time (two
threads running the same interpreter at once is refused: "interpreter already
running").
"""
import _xxsubinterpreters as interpreters
import gc
import importlib.machinery
import os
import sys
import textwrap
import threading
import time
import unittest
import warnings

# Modules the runs leave out, with why.
EXCLUDED = {
    'readline': 'refuses subinterpreters (one terminal, one set of hooks)',
    '_tracemalloc': 'refuses subinterpreters (one process-wide tracer)',
    '_xxtestfuzz': 'fuzzing harness, single-phase',
}
EXCLUDED_PREFIX = '_test'       # CPython's test modules, single-phase by design
WARMUP_ROUNDS = 2
RSS_SLACK_KIB = 8

# Runs in every subinterpreter: the names of the modules to import are
# inserted as MODULES.  Failures raise, and run_string() passes them on.
WORKLOAD = textwrap.dedent('''
    import warnings
    warnings.simplefilter('ignore', DeprecationWarning)
    import importlib
    for name in MODULES:
        importlib.import_module(name)

    import array, collections, ctypes, datetime, decimal, io, itertools
    import json, pickle, socket

    ctx = decimal.Context(prec=40, traps=[decimal.DivisionByZero])
    third = ctx.divide(decimal.Decimal(1), decimal.Decimal(3))
    assert str(third) == '0.' + '3' * 40, third
    try:
        ctx.divide(decimal.Decimal(1), 0)
    except decimal.DivisionByZero:
        pass
    else:
        raise AssertionError('no DivisionByZero')

    utc = datetime.timezone.utc
    when = datetime.datetime(2024, 2, 28, 23, 30, tzinfo=utc)
    later = when + datetime.timedelta(hours=1)
    assert later.isoformat() == '2024-02-29T00:30:00+00:00', later

    counts = collections.Counter('abracadabra')
    window = collections.deque(itertools.islice(itertools.count(), 10),
                               maxlen=4)
    table = collections.defaultdict(list)
    for key, group in itertools.groupby(sorted('mississippi')):
        table[key].append(len(list(group)))
    numbers = array.array('d', itertools.accumulate(range(100)))

    value = {'third': third, 'when': later, 'counts': counts,
             'window': window, 'table': table, 'numbers': numbers,
             'od': collections.OrderedDict(a=1, b=2)}
    assert pickle.loads(pickle.dumps(value, protocol=5)) == value
    text = json.dumps({'a': [1, 2.5, None, 'x' * 10], 'b': True},
                      sort_keys=True)
    assert json.loads(text)['a'][3] == 'xxxxxxxxxx'

    buffer = io.BytesIO()
    with io.TextIOWrapper(buffer, encoding='utf-8', newline='\\n') as wrapper:
        wrapper.write('h\\u00e9llo\\n' * 100)
        wrapper.flush()
        assert len(buffer.getvalue()) == 700
    assert io.StringIO('a\\nb\\n').readlines() == ['a\\n', 'b\\n']

    left, right = socket.socketpair()
    with left, right:
        left.sendall(b'ping' * 1000)
        received = b''
        while len(received) < 4000:
            received += right.recv(4096)
        assert received == b'ping' * 1000

    text_buffer = ctypes.create_string_buffer(b'subinterpreter')
    assert ctypes.CDLL(None).strlen(text_buffer) == 14
    point = (ctypes.c_int * 3)(1, 2, 3)
    assert sum(point) == 6 and ctypes.sizeof(point) == 12
''')


def extension_modules():
    """(for the subinterpreters, for the main interpreter's re-imports):
    every extension module of the build, minus EXCLUDED; the shared-library
    ones only for the main interpreter (re-executing builtins such as
    _signal or posix in the main interpreter would reset process state)."""
    names = set(n for n in sys.builtin_module_names
                if n not in ('builtins', 'sys'))
    shared = set()
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len,
                      reverse=True)
    for entry in sys.path:
        if not os.path.isdir(entry):
            continue
        for filename in os.listdir(entry):
            for suffix in suffixes:
                if filename.endswith(suffix):
                    shared.add(filename[:-len(suffix)])
                    break
    keep = {n for n in names | shared if n not in EXCLUDED
            and not n.startswith(EXCLUDED_PREFIX)}
    return sorted(keep), sorted(keep & shared)


def rss_kib():
    with open('/proc/self/statm') as file:
        resident = int(file.read().split()[1])
    return resident * os.sysconf('SC_PAGE_SIZE') // 1024


def refs():
    gc.collect()
    sys._clear_type_cache()
    return sys.gettotalrefcount()


def worker(script, count, errors):
    for _ in range(count):
        interp = interpreters.create()
        try:
            interpreters.run_string(interp, script)
        except Exception as exc:
            errors.append(f'{type(exc).__name__}: {exc}')
            return
        finally:
            interpreters.destroy(interp)


def reimport(names, done):
    """Import and delete names in the main interpreter until done is set."""
    cycles = 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        while not done.wait(0 if names else None):
            for name in names:
                importlib.import_module(name)
                del sys.modules[name]
            gc.collect()
            cycles += 1
    return cycles


def stress(interpreters_total, threads, rounds, out=sys.stdout):
    """Run the stress; return a dict of figures (see the module docstring)."""
    modules, shared = extension_modules()
    script = f'MODULES = {modules!r}\n{WORKLOAD}'
    per_round = interpreters_total // rounds
    share = [per_round // threads + (i < per_round % threads)
             for i in range(threads)]
    print(f'stress: {per_round * rounds} interpreters in {rounds} rounds, '
          f'{threads} threads, {len(modules)} modules each; main interpreter '
          f're-imports {len(shared)}', file=out, flush=True)
    # Storing a sample replaces a reference to 0 with one to a new int: the
    # measurement itself adds no reference.
    samples = [[0, 0, 0] for _ in range(rounds)]
    errors, reimports, done_rounds = [], 0, 0
    start = time.monotonic()
    for number in range(rounds):
        done = threading.Event()
        workers = [threading.Thread(target=worker, args=(script, n, errors))
                   for n in share]
        for thread in workers:
            thread.start()
        # Workers take the GIL in turn with this loop: it runs until they end.
        waiter = threading.Thread(
            target=lambda: ([t.join() for t in workers], done.set()))
        waiter.start()
        reimports += reimport(shared, done)
        waiter.join()
        samples[number][0] = refs()
        samples[number][1] = rss_kib()
        samples[number][2] = sys.getallocatedblocks()
        done_rounds = number + 1
        print(f'  round {done_rounds}/{rounds}: total refs '
              f'{samples[number][0]}, rss {samples[number][1]} KiB, '
              f'blocks {samples[number][2]}, '
              f'{time.monotonic() - start:.0f} s', file=out, flush=True)
        if errors:
            print('stress: error:', errors[0], file=out, flush=True)
            break
    del samples[max(done_rounds, WARMUP_ROUNDS):]
    measured = per_round * (rounds - WARMUP_ROUNDS)
    figures = {
        'interpreters': per_round * done_rounds, 'threads': threads,
        'modules': len(modules), 'main_reimport_cycles': reimports,
        'seconds': round(time.monotonic() - start, 1),
        'refs_after_warmup': samples[WARMUP_ROUNDS - 1][0],
        'refs_end': samples[-1][0],
        'rss_after_warmup_kib': samples[WARMUP_ROUNDS - 1][1],
        'rss_end_kib': samples[-1][1],
        'blocks_after_warmup': samples[WARMUP_ROUNDS - 1][2],
        'blocks_end': samples[-1][2],
        'errors': errors,
    }
    figures['refs_growth'] = figures['refs_end'] - figures['refs_after_warmup']
    figures['blocks_growth'] = (figures['blocks_end']
                                - figures['blocks_after_warmup'])
    figures['rss_growth_kib'] = (figures['rss_end_kib']
                                 - figures['rss_after_warmup_kib'])
    figures['rss_growth_per_interp_kib'] = round(
        figures['rss_growth_kib'] / max(measured, 1), 2)
    print('stress:', ', '.join(f'{k} {v}' for k, v in figures.items()
                               if k != 'errors'), file=out, flush=True)
    return figures


class StressTests(unittest.TestCase):
    # The short run of `make test`: 40 interpreters from 2 threads.
    INTERPRETERS = 40
    THREADS = 2
    ROUNDS = 5

    def check(self, figures):
        self.assertEqual(figures['errors'], [])
        self.assertEqual(figures['refs_growth'], 0)
        self.assertLessEqual(figures['rss_growth_per_interp_kib'],
                             RSS_SLACK_KIB)

    @unittest.skipUnless(hasattr(sys, 'gettotalrefcount'), 'debug build')
    def test_subinterpreters_from_threads(self):
        self.check(stress(self.INTERPRETERS, self.THREADS, self.ROUNDS))


def main():
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--full', action='store_true',
                        help='1000 interpreters from 4 threads, 10 rounds')
    parser.add_argument('--interpreters', type=int)
    parser.add_argument('--threads', type=int)
    parser.add_argument('--rounds', type=int)
    args = parser.parse_args()
    full = (1000, 4, 10) if args.full else (StressTests.INTERPRETERS,
                                           StressTests.THREADS,
                                           StressTests.ROUNDS)
    total = args.interpreters or full[0]
    threads = args.threads or full[1]
    rounds = args.rounds or full[2]
    figures = stress(total, threads, rounds)
    test = StressTests()
    try:
        test.check(figures)
    except AssertionError as exc:
        print('stress: FAILED:', exc)
        return 1
    print('stress: OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
