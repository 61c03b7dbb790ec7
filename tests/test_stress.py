"""Subinterpreter stress: many interpreters, several threads, every extension.

    ./python -m test --testdir tests test_stress     `make test`: the short run
    ./python tests/test_stress.py [--full] [--interpreters N] [--threads N]
                                                     `make stress`: --full

Worker threads each create a subinterpreter, import in it every extension
module of the build that a subinterpreter may load, use a few of them, and
destroy it, over and over; meanwhile the main thread re-imports and deletes
the build's shared-library extension modules in the main interpreter. The
work is done in rounds: a round ends when every thread has finished its
share, and then, with no subinterpreter alive, the run samples the total
reference count (sys.gettotalrefcount(), debug build), the memory blocks of
Python's allocator (sys.getallocatedblocks()), the bytes that malloc has
handed out (glibc's mallinfo2()) and the resident memory (/proc/self/statm).
The first WARMUP_ROUNDS rounds fill the caches (interned strings, the import
system's caches, the allocator's arenas). After them the reference count
must not move at all, the blocks by less than one per ten interpreters, and
malloc's bytes by less than MALLOC_SLACK_KIB per interpreter (plus
MALLOC_NOISE_KIB). Resident memory also counts the allocators' free and
fragmented pages, which settle only over a few hundred interpreters: it is
checked (at most RSS_SLACK_KIB per interpreter) when at least
RSS_MIN_INTERPRETERS are measured, so in the full run only. Pristine 3.11.2
leaks about 100 KiB per interpreter with every extension imported
(README.rst).

In 3.11 subinterpreters share the GIL, and threads are allowed: create(),
run_string() and destroy() work from any thread that holds the GIL.
run_string() runs an interpreter in the calling thread with the thread state
that create() made for it, so each worker runs only the interpreters it
created itself, one at a time (two threads running one interpreter at once
is refused: "interpreter already running").  The threads switch when the
one holding the GIL releases it (file and socket I/O, imports, sleeps, lock
waits): a thread that wants the GIL asks for it through the eval breaker of
its own interpreter, which a thread running another interpreter does not
look at, so there is no switch every 5 ms across interpreters.
"""
import _xxsubinterpreters as interpreters
import array
import ctypes
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
# CPython's test modules, single-phase by design.
EXCLUDED_PREFIX = '_test'
WARMUP_ROUNDS = 2
MALLOC_SLACK_KIB = 4
MALLOC_NOISE_KIB = 256          # malloc's bytes move by tens of KiB per round
RSS_SLACK_KIB = 16
RSS_MIN_INTERPRETERS = 200

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


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def malloc_in_use_kib():
    """Bytes that the C library's malloc has handed out and not got back
    (glibc's mallinfo2(): uordblks + hblkhd), in KiB; -1 without glibc.
    Unlike resident memory, fragmentation does not move it."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return -1
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return (info.uordblks + info.hblkhd) // 1024


def refs():
    gc.collect()
    sys._clear_type_cache()
    return sys.gettotalrefcount()


class Workers:
    """Threads that live for the whole run (new threads every round would
    add the C library's per-thread arenas to the memory figures), each
    running its share of a round's interpreters when told to."""

    def __init__(self, script, shares, errors):
        self.script = script
        self.errors = errors
        self.start_round = threading.Barrier(len(shares) + 1)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.running = 0
        self.stopping = False
        self.threads = [threading.Thread(target=self.work, args=(share,))
                        for share in shares]
        for thread in self.threads:
            thread.start()

    def work(self, share):
        while True:
            self.start_round.wait()
            if self.stopping:
                return
            for _ in range(share):
                if self.errors:
                    break
                interp = interpreters.create()
                try:
                    interpreters.run_string(interp, self.script)
                except Exception as exc:
                    self.errors.append(f'{type(exc).__name__}: {exc}')
                finally:
                    interpreters.destroy(interp)
            with self.lock:
                self.running -= 1
                if not self.running:
                    self.done.set()

    def run_round(self):
        """Start a round; return the event set when it is over."""
        self.done.clear()
        self.running = len(self.threads)
        self.start_round.wait()
        return self.done

    def stop(self):
        self.stopping = True
        self.start_round.wait()
        for thread in self.threads:
            thread.join()


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
    # Samples live in arrays of C integers: storing one creates no object,
    # so the measurement itself adds no reference and no memory block.
    samples = [array.array('q', [0, 0, 0, 0]) for _ in range(rounds)]
    errors, reimports, done_rounds = [], 0, 0
    start = time.monotonic()

    def round_done(number):
        nonlocal done_rounds
        samples[number][0] = refs()
        samples[number][1] = rss_kib()
        samples[number][2] = sys.getallocatedblocks()
        samples[number][3] = malloc_in_use_kib()
        done_rounds = number + 1
        print(f'  round {done_rounds}/{rounds}: total refs '
              f'{samples[number][0]}, rss {samples[number][1]} KiB, '
              f'blocks {samples[number][2]}, '
              f'malloc {samples[number][3]} KiB, '
              f'{time.monotonic() - start:.0f} s', file=out, flush=True)
        if errors:
            print('stress: error:', errors[0], file=out, flush=True)

    workers = Workers(script, share, errors)
    try:
        for number in range(rounds):
            # The workers take the GIL in turn with this loop, which runs
            # until they have finished the round.
            reimports += reimport(shared, workers.run_round())
            round_done(number)
            if errors:
                break
    finally:
        workers.stop()
    del samples[max(done_rounds, WARMUP_ROUNDS):]
    measured = per_round * max(done_rounds - WARMUP_ROUNDS, 0)
    figures = {
        'interpreters': per_round * done_rounds,
        'measured_interpreters': measured, 'threads': threads,
        'modules': len(modules), 'main_reimport_cycles': reimports,
        'seconds': round(time.monotonic() - start, 1),
        'refs_after_warmup': samples[WARMUP_ROUNDS - 1][0],
        'refs_end': samples[-1][0],
        'rss_after_warmup_kib': samples[WARMUP_ROUNDS - 1][1],
        # Resident memory moves by a megabyte or two between rounds: the
        # median of the last three rounds.
        'rss_end_kib': sorted(sample[1] for sample in samples[-3:])[
            len(samples[-3:]) // 2],
        'blocks_after_warmup': samples[WARMUP_ROUNDS - 1][2],
        'blocks_end': samples[-1][2],
        'malloc_after_warmup_kib': samples[WARMUP_ROUNDS - 1][3],
        'malloc_end_kib': samples[-1][3],
        'errors': errors,
    }
    figures['refs_growth'] = figures['refs_end'] - figures['refs_after_warmup']
    figures['blocks_growth'] = (figures['blocks_end']
                                - figures['blocks_after_warmup'])
    figures['malloc_growth_kib'] = (figures['malloc_end_kib']
                                    - figures['malloc_after_warmup_kib'])
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
        measured = figures['measured_interpreters']
        self.assertEqual(figures['errors'], [])
        self.assertEqual(figures['refs_growth'], 0)
        # A leaked object per interpreter would add `measured` blocks.
        self.assertLessEqual(figures['blocks_growth'], max(2, measured // 10))
        if figures['malloc_end_kib'] >= 0:
            self.assertLessEqual(
                figures['malloc_growth_kib'],
                MALLOC_NOISE_KIB + MALLOC_SLACK_KIB * measured)
        if measured >= RSS_MIN_INTERPRETERS:
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
