"""The fork against pristine 3.11.2, side by side, release builds.

    python tools/bench.py [--rounds N] [--only NAME...]   wall-clock mode
    python tools/bench.py --callgrind [--only NAME...]    instruction counts
    python tools/bench.py --report                        report + plot

Wall-clock mode runs every benchmark on both interpreters, interleaved
(fork, baseline, then baseline, fork in the next round, ...), for several
rounds; in a round, each side runs a workload in a fresh process and keeps
the best of a few timed runs.  It reports per benchmark the median of each
side and the median of the per-round ratios fork/baseline with their spread
(min..max).  Callgrind mode counts instructions (PYTHONHASHSEED=0, -S: the
counts repeat exactly), which is the figure to trust where 1 % matters.  A
workload's count is that of a run at scale 2 minus that of a run at scale 1:
one scale's worth of the workload in a warm process, without startup,
imports and set-up, as in wall-clock mode.  Each side counts a workload in
LAYOUTS memory layouts (workloads.shift_layout()), and the figure is the
median: one layout can put two lookups of a loop in the same entry of the
method cache, on either side, which costs a few percent by luck alone.  The
spread (min..max) is that of the per-layout ratios.
Results go to build/bench/{wall,callgrind}.json; --report turns them into
build/bench/report.md and build/bench/ratios.png (gnuplot).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(TOP, 'tools', 'bench')
OUT = os.path.join(TOP, 'build', 'bench')
FORK = os.path.join(TOP, 'build', 'release', 'python')
BASE = os.path.join(TOP, 'build', 'baseline-release', 'python')
sys.path.insert(0, BENCH)
from workloads import WORKLOADS  # noqa: E402

# Memory layouts per workload in callgrind mode (see the docstring).
LAYOUTS = 3
WALL_SECONDS = 0.1      # each workload is scaled to run about this long,
WALL_REPEAT = 5         # and each round keeps the best of this many runs
SUBINTERP_CYCLES = 100
# Targets from the tracker: ratio fork/baseline must not exceed these.
# Fresh module instances (issue 11): re-importing the modules, all together,
# and subinterpreters importing them; creating classes must be cheaper than
# on pristine 3.11.2.  The per-module reimport_* rows have no target.
LIMITS = {'startup': 1.00, 'import': 1.05, 'subinterp-memory': 1.10,
          'reimport_all': 1.10, 'subinterp_imports': 1.00,
          'class_dunder': 0.90, 'class_exception': 0.90, 'class_spec': 0.90}
# Steady-state workloads: at most 1.00, give or take 0.01 of noise.
WORKLOAD_LIMIT, HARD_LIMIT = 1.00, 1.02
# Neither side may see the caller's PYTHON* settings: PYTHONDONTWRITEBYTECODE,
# for one, would make whichever side has no cached bytecode compile the
# stdlib in every run.  Both sides' bytecode is compiled before measuring.
ENV = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
ENV['PYTHONHASHSEED'] = '0'
# Test-only extension modules are not part of "every stdlib extension".
NOT_STDLIB = re.compile(r'^(_test|_xx(?!subinterpreters)|xx|_ctypes_test)')


def run(cmd, **kw):
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True,
                          check=True, **kw).stdout


def extension_modules(python):
    """The stdlib extension modules of a build, found from the build."""
    code = ('import sys, os, importlib.machinery as m\n'
            'names = set(sys.builtin_module_names)\n'
            'for d in sys.path:\n'
            '    if os.path.isdir(d):\n'
            '        for f in os.listdir(d):\n'
            '            if f.endswith(tuple(m.EXTENSION_SUFFIXES)):\n'
            '                names.add(f.partition(".")[0])\n'
            'print(" ".join(sorted(names)))')
    return set(run([python, '-S', '-c', code]).split())


def importable_in_subinterp(python, names):
    code = ('import sys, _xxsubinterpreters as si\n'
            'ok = []\n'
            'for n in sys.argv[1:]:\n'
            '    i = si.create()\n'
            '    try:\n'
            '        si.run_string(i, "import " + n); ok.append(n)\n'
            '    except Exception: pass\n'
            '    si.destroy(i)\n'
            'print(" ".join(ok))')
    return set(run([python, '-S', '-c', code, *sorted(names)]).split())


def common_extensions(fork, base):
    names = {n for n in extension_modules(fork) & extension_modules(base)
             if not NOT_STDLIB.match(n)}
    sub = importable_in_subinterp(fork, names) & importable_in_subinterp(
        base, names)
    return sorted(names), sorted(sub)


# Wall-clock measurements: each returns {benchmark name: value} for one side.

def time_workload(python, name, scale, repeat=WALL_REPEAT):
    out = run([python, '-S', os.path.join(BENCH, 'workloads.py'), name,
               str(scale), str(repeat)])
    return {name: float(out)}


def wall_scale(python, name):
    """The scale at which a workload runs about WALL_SECONDS on 'python'."""
    once = time_workload(python, name, 1, 3)[name]
    return max(1, round(WALL_SECONDS / once))


def time_startup(python, n=20):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([python, '-c', 'pass'], env=ENV, check=True)
        times.append(time.perf_counter() - t0)
    return {'startup': statistics.median(times)}


def time_imports(python, modules):
    """Cumulative import time (-X importtime) of every extension module."""
    total = 0
    for name in modules:
        err = subprocess.run([python, '-X', 'importtime', '-c',
                              f'import {name}'], env=ENV, check=True,
                             capture_output=True, text=True).stderr
        for line in err.splitlines():
            parts = [p.strip() for p in line.split('|')]
            if len(parts) == 3 and parts[2] == name:
                total += int(parts[1])
    return {'import': total / 1e6}


def subinterp(python, modules, cycles=SUBINTERP_CYCLES):
    r = json.loads(run([python, '-S', os.path.join(BENCH, 'subinterp.py'),
                        str(cycles), *modules]))
    growth = (r['rss_kib'][-1] - r['rss_kib'][0]) / (cycles - 10)
    return {'subinterp-cycle': r['cycle_s'],
            'subinterp-memory': r['peak_kib'],
            'subinterp-growth': growth}


def compile_stdlib(*pythons):
    """Give both sides cached bytecode, so that no run compiles."""
    for python in pythons:
        # Some test files are invalid on purpose: ignore the exit status.
        subprocess.run([python, '-m', 'compileall', '-qq', '-j0',
                        run([python, '-c', 'import os; print('
                             'os.path.dirname(os.__file__))']).strip()],
                       env=ENV, capture_output=True)


def wall(args, fork, base):
    compile_stdlib(fork, base)
    modules, sub_modules = common_extensions(fork, base)
    # Both sides run the same scale, calibrated on the baseline.
    scales = {n: wall_scale(base, n) for n in WORKLOADS if selected(args, n)}
    jobs = [(n, lambda py, n=n: time_workload(py, n, scales[n]))
            for n in scales]
    if selected(args, 'startup'):
        jobs.append(('startup', time_startup))
    if selected(args, 'import'):
        jobs.append(('import', lambda py: time_imports(py, modules)))
    if selected(args, 'subinterp'):
        jobs.append(('subinterp', lambda py: subinterp(py, sub_modules)))
    samples = {}
    for rnd in range(args.rounds):
        sides = [('fork', fork), ('base', base)]
        if rnd % 2:
            sides.reverse()
        for name, job in jobs:
            for side, python in sides:
                for key, value in job(python).items():
                    samples.setdefault(key, {'fork': [], 'base': []})
                    samples[key][side].append(value)
            print(f'round {rnd + 1}/{args.rounds}: {name}', file=sys.stderr)
    results = {}
    for key, s in samples.items():
        ratios = [f / b if b else float('nan')
                  for f, b in zip(s['fork'], s['base'])]
        results[key] = dict(s, fork_median=statistics.median(s['fork']),
                            base_median=statistics.median(s['base']),
                            ratio=statistics.median(ratios),
                            ratio_min=min(ratios), ratio_max=max(ratios))
    return {'mode': 'wall', 'rounds': args.rounds, 'scales': scales,
            'modules': modules, 'subinterp_modules': sub_modules,
            'results': results}


# Instruction counts.

def instructions(python, args, env=ENV):
    err = subprocess.run(['valgrind', '--tool=callgrind',
                          '--callgrind-out-file=/dev/null', python, '-S',
                          *args], env=env, capture_output=True, text=True)
    if err.returncode:
        raise RuntimeError(f'{python} {args}: {err.stderr[-2000:]}')
    m = re.search(r'Collected : (\d+)', err.stderr)
    return int(m.group(1))


def workload_instructions(python, name):
    """Instructions of one scale of a workload (scale 2 minus scale 1), in
    each of the LAYOUTS layouts."""
    cmd = [os.path.join(BENCH, 'workloads.py'), name]
    counts = []
    for layout in range(LAYOUTS):
        env = dict(ENV, BENCH_LAYOUT=str(layout))
        counts.append(instructions(python, cmd + ['2'], env)
                      - instructions(python, cmd + ['1'], env))
    return counts


def callgrind(args, fork, base):
    compile_stdlib(fork, base)
    modules, sub_modules = common_extensions(fork, base)
    jobs = {n: lambda py, n=n: workload_instructions(py, n)
            for n in WORKLOADS}
    whole = {'startup': ['-c', 'pass'],
             'import': ['-c', ''.join(f'import {n}\n' for n in modules)],
             'subinterp': [os.path.join(BENCH, 'subinterp.py'), '10',
                           *sub_modules]}
    for name, cmd in whole.items():
        jobs[name] = lambda py, cmd=cmd: [instructions(py, cmd)]
    results = {}
    for name, job in jobs.items():
        if not selected(args, name):
            continue
        f, b = job(fork), job(base)
        ratios = [x / y for x, y in zip(f, b)]
        fm, bm = statistics.median(f), statistics.median(b)
        results[name] = {'fork': f, 'base': b, 'fork_median': fm,
                         'base_median': bm, 'ratio': fm / bm,
                         'ratio_min': min(ratios), 'ratio_max': max(ratios)}
        print(f'callgrind: {name} {fm / bm:.4f} '
              f'({min(ratios):.4f}..{max(ratios):.4f})', file=sys.stderr)
    return {'mode': 'callgrind', 'modules': modules,
            'subinterp_modules': sub_modules, 'results': results}


def selected(args, name):
    return not args.only or any(name.startswith(o) for o in args.only)


def steady(name):
    """A steady-state workload: held to WORKLOAD_LIMIT."""
    return (name in WORKLOADS and name not in LIMITS
            and not name.startswith('reimport_'))


def limit(name):
    return WORKLOAD_LIMIT if steady(name) else LIMITS.get(name)


def verdict(name, r):
    lim = limit(name)
    if lim is None:
        return ''
    if r['ratio'] <= lim + (0.01 if steady(name) else 0):
        return 'ok'
    return 'OVER' if r['ratio'] > max(lim, HARD_LIMIT) else 'over'


def table(data):
    unit = 'instructions' if data['mode'] == 'callgrind' else 'seconds'
    lines = [f"{'benchmark':<20} {'fork':>14} {'baseline':>14} "
             f"{'ratio':>7}  {'spread':<13} target",
             '-' * 72]
    for name, r in data['results'].items():
        fmt = (lambda v: f'{v:14,d}') if unit == 'instructions' else (
            lambda v: f'{v:14.4f}')
        spread = f"{r['ratio_min']:.3f}..{r['ratio_max']:.3f}"
        lim = limit(name)
        lines.append(f"{name:<20} {fmt(r['fork_median'])} "
                     f"{fmt(r['base_median'])} {r['ratio']:7.3f}  "
                     f"{spread:<13} {'<= %.2f ' % lim if lim else ''}"
                     f"{verdict(name, r)}")
    return '\n'.join(lines)


def report():
    md = ['# Benchmarks: the fork against pristine 3.11.2 (release builds)', '']
    rows = []
    for mode in ('wall', 'callgrind'):
        path = os.path.join(OUT, f'{mode}.json')
        if not os.path.exists(path):
            continue
        with open(path) as f:
            data = json.load(f)
        md += [f"## {mode} ({data.get('date', '')})", '',
               f"fork: `{data.get('fork_version', '')}`  ",
               f"baseline: `{data.get('base_version', '')}`", '',
               '```', table(data), '```', '']
        # Growth per cycle is KiB, not a ratio: it is in the table only.
        rows += [(f'{name} ({mode})', r['ratio'])
                 for name, r in data['results'].items()
                 if not name.endswith('-growth')]
    if not rows:
        sys.exit('no results in build/bench: run make bench first')
    dat = os.path.join(OUT, 'ratios.dat')
    with open(dat, 'w') as f:
        for i, (name, ratio) in enumerate(rows):
            f.write(f'{i} "{name}" {ratio:.4f}\n')
    ratios = [ratio for _, ratio in rows]
    low = min(0.8, int(min(ratios) * 20 - 1) / 20)
    high = max(1.2, int(max(ratios) * 20 + 2) / 20)
    png = os.path.join(OUT, 'ratios.png')
    subprocess.run(['gnuplot'], check=True, text=True, input=f'''
set terminal pngcairo size 1400,700 noenhanced
set output "{png}"
set title "fork / baseline (lower is better; 1.0 = same as pristine 3.11.2)"
set style fill solid 0.6
set boxwidth 0.7
set yrange [{low}:{high}]
set grid ytics
set xtics rotate by -60 font ",8"
plot "{dat}" using 1:3:xtic(2) with boxes notitle, 1.0 with lines lw 2 notitle
''')
    md += ['![ratio per benchmark](ratios.png)', '']
    path = os.path.join(OUT, 'report.md')
    with open(path, 'w') as f:
        f.write('\n'.join(md))
    print(f'report: {path}, plot: {png}')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--callgrind', action='store_true')
    p.add_argument('--report', action='store_true')
    p.add_argument('--only', nargs='*', default=[])
    p.add_argument('--fork', default=FORK)
    p.add_argument('--base', default=BASE)
    args = p.parse_args()
    if args.report:
        return report()
    data = (callgrind if args.callgrind else wall)(args, args.fork, args.base)
    data.update(date=time.strftime('%Y-%m-%d %H:%M'),
                fork_version=run([args.fork, '-c', 'import sys; print(sys.version)']).strip(),
                base_version=run([args.base, '-c', 'import sys; print(sys.version)']).strip())
    print(table(data))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"{data['mode']}.json"), 'w') as f:
        json.dump(data, f, indent=1)


if __name__ == '__main__':
    main()
