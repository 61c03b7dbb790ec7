"""Run the fork's test suites with ./python and print one summary line.

    ./python tools/run-tests.py            `make test`: the module-init suites and
                                           tests/ under -R 3:3, then the census
    ./python tools/run-tests.py --all      `make test-all`: the whole regrtest, -j2;
                                           only failures not in
                                           tests/pristine-failures.txt count
    build/asan/python tools/run-tests.py --asan
                                           `make test-asan`: the module-init
                                           suites once each (no -R: hours
                                           under ASan), then the census, with
                                           the sanitizer options set by make

The last line is always "N passed, N failed"; the exit status is non-zero when
anything failed or leaked.
"""
import faulthandler
import os
import subprocess
import sys
from test.libregrtest.main import Regrtest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(TOP, 'tests')

# The suites that exercise module initialization, and the test files of the
# modules the fork ports (each runs under -R 3:3).
MODULE_INIT_SUITES = """
    test_importlib test_import test_imp test_module test_capi test_array
    test__xxsubinterpreters
    test_decimal test_datetime test_zoneinfo test_ctypes test_socket test_ssl
    test_curses test_pickle test_xml_etree_c test_readline test_tracemalloc
    test_ossaudiodev test_tcl test_deque test_defaultdict test_collections
    test_itertools test_io test_memoryio test_buffer test_descr
    test_runpy test_cmd_line_script
""".split()


def split_package(name):
    """The test files of a test package, as separate tests: as one, the
    package's memory grows over the -R repetitions until its GC-heavy tests
    take many times longer (test_asyncio took over 45 minutes, split 5)."""
    import test
    folder = os.path.join(os.path.dirname(test.__file__), name)
    return sorted(f'{name}.{f[:-3]}' for f in os.listdir(folder)
                  if f.startswith('test_') and f.endswith('.py'))


MODULE_INIT_SUITES += split_package('test_asyncio')
# Run once: refleak hunting means nothing for the shell tools and `make
# install` (they run other processes), the fuzz replay (a process that checks
# reference counts itself), and the stress test, which measures references
# and memory over its own rounds.
ONCE = {'test_tools', 'test_install', 'test_fuzz', 'test_stress'}
# On these machines test_socket's VSOCK tests block in accept() forever.
IGNORE = ['*VSOCK*']


def regrtest(args):
    """Run regrtest in this process; return (passed, failed, notes)."""
    print('$ python -m test', ' '.join(args), flush=True)
    sys.argv[1:] = args
    r = Regrtest()
    try:
        r.main()
    except SystemExit:
        # regrtest arms a 2-minute exit watchdog before its SystemExit: we
        # go on (the census takes longer than that under ASan).
        faulthandler.cancel_dump_traceback_later()
    # A test file that runs no test (e.g. its setUpModule failed) is a failure.
    failed = sorted(set(r.bad) | set(r.environment_changed)
                    | set(r.run_no_tests))
    notes = []
    if r.skipped or r.resource_denieds:
        notes.append('skipped: ' + ' '.join(sorted(set(r.skipped)
                                                   | set(r.resource_denieds))))
    if r.interrupted:
        failed.append('(interrupted)')
    return r.good, failed, notes


def census(*args):
    print('$ python tests/census.py', *args, flush=True)
    rc = subprocess.call([sys.executable, os.path.join(TESTS, 'census.py'),
                          *args])
    return (['census'], []) if rc == 0 else ([], ['census'])


def own_tests():
    return sorted(name[:-3] for name in os.listdir(TESTS)
                  if name.startswith('test_') and name.endswith('.py'))


def main():
    common = ['-j2', '--timeout', '1800'] + [f'-i{p}' for p in IGNORE]
    passed, failed, notes = [], [], []
    if '--all' in sys.argv[1:]:
        with open(os.path.join(TESTS, 'pristine-failures.txt')) as f:
            known = {line.split('#')[0].strip() for line in f} - {''}
        good, bad, notes = regrtest(common)
        passed += good
        expected = sorted(set(bad) & known)
        failed += sorted(set(bad) - known)
        if expected:
            notes.append('failing on pristine 3.11.2 too (not counted): '
                         + ' '.join(expected))
    elif '--asan' in sys.argv[1:]:
        # regrtest derives support.SHORT_TIMEOUT from --timeout (1/40 of
        # it): under ASan on two busy cores, 25 concurrent TLS handshakes of
        # test_asyncio.test_ssl took more than 1800/40 = 45 s.
        good, bad, notes = regrtest(common + ['--timeout', '3600']
                                    + MODULE_INIT_SUITES)
        passed += good; failed += bad
        good, bad = census('--timeout', '600')
        passed += good; failed += bad
    else:
        good, bad, n = regrtest(common + ['-R', '3:3'] + MODULE_INIT_SUITES)
        passed += good; failed += bad; notes += n
        own = own_tests()
        good, bad, n = regrtest(common + ['-R', '3:3', '--testdir', TESTS]
                                + [t for t in own if t not in ONCE])
        passed += good; failed += bad; notes += n
        good, bad, n = regrtest(common + ['--testdir', TESTS]
                                + [t for t in own if t in ONCE])
        passed += good; failed += bad; notes += n
        good, bad = census()
        passed += good; failed += bad

    print()
    for note in notes:
        print(note)
    if failed:
        print('failed:', ' '.join(failed))
    print(f'{len(passed)} passed, {len(failed)} failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
