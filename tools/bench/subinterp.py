"""Subinterpreter cycles: create, import every given extension module, destroy.

    python -S subinterp.py CYCLES MODULE...

Prints one JSON object: seconds per cycle (median), resident memory (KiB)
after each 10th cycle, and peak resident memory.
"""
import json
import resource
import statistics
import sys
import time
import _xxsubinterpreters as interpreters


def rss_kib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def main():
    cycles, modules = int(sys.argv[1]), sys.argv[2:]
    code = ''.join(f'import {name}\n' for name in modules)
    times, rss = [], []
    for i in range(1, cycles + 1):
        t0 = time.perf_counter()
        interp = interpreters.create()
        interpreters.run_string(interp, code)
        interpreters.destroy(interp)
        times.append(time.perf_counter() - t0)
        if i % 10 == 0:
            rss.append(rss_kib())
    json.dump({'cycle_s': statistics.median(times), 'rss_kib': rss,
               'peak_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss},
              sys.stdout)


if __name__ == '__main__':
    main()
