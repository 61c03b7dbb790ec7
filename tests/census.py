"""Isolation census of the extension modules of a CPython debug build.

Usage: ./python tests/census.py [--jobs N] [--json FILE] [--timeout S]
                                [--exceptions FILE] [MODULE...]

The census covers every extension module the interpreter can import: the
builtin modules (sys.builtin_module_names) and the extension files of the
build (its pybuilddir.txt directory, or lib-dynload when installed, matched
with importlib.machinery.EXTENSION_SUFFIXES).  `builtins` and `sys` are not
checked: they have no init function in the inittab, the runtime creates them
for every interpreter.  Each module is examined in a fresh child process
(`census.py --child NAME`), children run in parallel, each with a time
limit.  A child reports, in this order:

subinterp-leak
    References leaked per cycle of: create a subinterpreter, run
    `import NAME` in it, destroy it (sys.gettotalrefcount() in the main
    interpreter, after WARMUP cycles, averaged over SUBINTERP_CYCLES).  It
    runs first, before the main interpreter imports the module, because a
    single-phase module already imported in the main interpreter behaves
    differently in subinterpreters.  An ImportError in the subinterpreter
    is reported as "refused"; the cycle's leak is still measured.

import
    A module that cannot be imported in the main interpreter is skipped.

shared-types
    The module is imported, deleted from sys.modules (and from its parent
    package), and imported again; a third instance is loaded with
    importlib.util.module_from_spec() + spec.loader.exec_module().  A type
    defined by the module that is the same object in two instances is
    shared.  Rule for "defined by the module": a class bound to a
    non-dunder name in the module namespace that is not a builtins class
    (`_socket.error is OSError`) and did not exist in the process before
    the module was first imported.  The existing classes are all those
    reachable from `object` through __subclasses__() when the child starts,
    so core types that a module only re-exports (`_contextvars.Context`,
    `_collections.OrderedDict`) are not counted.  __module__ is not used:
    it is only the tp_name prefix, which says "builtins" for the static
    types of _testcapi and "_contextvars" for core types.  Modules the
    interpreter imports at startup (_io, _weakref, ...) existed before the
    child could look, so for them every non-builtins class counts.

import-leak
    References leaked per import/delete/gc.collect() cycle (after WARMUP
    cycles, averaged over IMPORT_CYCLES).

init
    Single- or multi-phase init, read with ctypes from the module's
    PyModuleDef (PyModule_GetDef).  A definition with m_slots is
    multi-phase: PyModule_Create() rejects slots, so only a PyInit function
    that returned the definition (PEP 489) can get there.  A multi-phase
    definition may also have no slots at all (`_string`), so a slot-less
    definition is single-phase only if PyState_FindModule() finds it: the
    import machinery registers a module in the interpreter's
    modules_by_index list only when PyInit returned a module object
    (single-phase); PyState_FindModule() never finds multi-phase modules.
    A module without a definition is single-phase too: the import
    machinery made it by copying the dict it saved from a single-phase
    module with m_size -1 (m_copy); multi-phase modules always have one.

The run fails when a module not excused by the exception list
(census-exceptions.txt: "MODULE CHECK REASON" lines) is single-phase,
shares types, leaks references (an average above 0 per cycle; below 0 fails
too: the module releases references it does not own, as _zoneinfo does with
None), or crashes, hangs or raises in a check ("crash").  An entry for a
check that the module now passes fails the run too, so that the list cannot
go stale.  With the method cache emptied around each measurement and no
changing directory on the child's sys.path, the counts are exact: a module
that does not leak shows 0, run after run.
"""

import sys

CHECKS = ('single-phase', 'shared-types', 'import-leak', 'subinterp-leak',
          'crash')
CORE_MODULES = frozenset({'builtins', 'sys'})
WARMUP = 3
IMPORT_CYCLES = 20
SUBINTERP_CYCLES = 10
DEFAULT_TIMEOUT = 120
MARK = 'census:'


# --- the child: examines one module, prints one repr()'d dict per stage ---
#
# The child imports nothing before it has listed the existing classes, and
# then only what each stage needs, so that the census itself does not
# import (and thereby hide) the modules it examines.

def emit(**record):
    print(MARK, repr(record), flush=True)


def existing_classes():
    """Return {id: class} for every class reachable from object."""
    found = {id(object): object}
    todo = [object]
    while todo:
        for sub in type.__subclasses__(todo.pop()):
            if id(sub) not in found:
                found[id(sub)] = sub
                todo.append(sub)
    return found


def refs_added(function, calls):
    # The method cache holds strong references to attribute names, and
    # which names it keeps depends on their addresses: empty it around the
    # measurement (as regrtest -R does) or it adds a little noise.
    sys._clear_type_cache()
    before = sys.gettotalrefcount()
    for _ in range(calls):
        function()
    sys._clear_type_cache()
    return sys.gettotalrefcount() - before


def refs_per_cycle(cycle, cycles):
    """Average references leaked by cycle() after WARMUP calls."""
    refs_added(cycle, WARMUP)
    # Subtract the references that the measuring loop itself holds.
    overhead = refs_added(lambda: None, cycles)
    return (refs_added(cycle, cycles) - overhead) / cycles


def check_subinterp(name):
    import _xxsubinterpreters as interpreters
    import builtins
    errors = []

    def cycle():
        interp = interpreters.create()
        try:
            interpreters.run_string(interp, f'import {name}')
        except interpreters.RunFailedError as exc:
            if not errors:  # keep one, do not grow a list every cycle
                errors.append(str(exc))
        finally:
            interpreters.destroy(interp)

    leak = refs_per_cycle(cycle, SUBINTERP_CYCLES)
    refused = error = None
    if errors:
        # The message is "<class 'ExcName'>: text".
        cls_name = errors[0].partition("'")[2].partition("'")[0]
        cls = getattr(builtins, cls_name, None)
        if isinstance(cls, type) and issubclass(cls, ImportError):
            refused = errors[0]
        else:
            error = errors[0]
    emit(subinterp_leak=leak, refused=refused, subinterp_error=error)


def forget(name):
    """Remove module name from sys.modules and from its parent package."""
    del sys.modules[name]
    parent, _, child = name.rpartition('.')
    if parent in sys.modules and hasattr(sys.modules[parent], child):
        delattr(sys.modules[parent], child)


def defined_types(module, classes_before, preloaded):
    """Return {name: class} of the classes defined by module (see above)."""
    import builtins
    result = {}
    for attr, value in vars(module).items():
        if (not isinstance(value, type)
                or attr.startswith('__') and attr.endswith('__')
                or getattr(builtins, value.__name__, None) is value):
            continue
        if preloaded or id(value) not in classes_before:
            result[attr] = value
    return result


def check_types(name, classes_before, preloaded):
    import importlib
    import importlib.util
    first = sys.modules[name]
    types = defined_types(first, classes_before, preloaded)
    forget(name)
    second = importlib.import_module(name)
    shared = {attr for attr, cls in types.items()
              if getattr(second, attr, None) is cls}
    spec_error = None
    try:
        spec = first.__spec__ or importlib.util.find_spec(name)
        third = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(third)
    except Exception as exc:
        spec_error = f'{type(exc).__name__}: {exc}'
    else:
        shared.update(attr for attr, cls in types.items()
                      if getattr(third, attr, None) is cls)
    emit(types=sorted(types), shared_types=sorted(shared),
         same_module=second is first, spec_error=spec_error)


def check_import_leak(name):
    import gc
    import importlib

    def cycle():
        importlib.import_module(name)
        forget(name)
        gc.collect()

    emit(import_leak=refs_per_cycle(cycle, IMPORT_CYCLES))


def check_init(module):
    import ctypes

    # PyModuleDef (Include/moduleobject.h); Py_TRACE_REFS builds (the ones
    # with sys.getobjects) have two more pointers in PyObject_HEAD.
    head = [('_ob_next', ctypes.c_void_p), ('_ob_prev', ctypes.c_void_p)]

    class ModuleDef(ctypes.Structure):
        _fields_ = (head if hasattr(sys, 'getobjects') else []) + [
            ('ob_refcnt', ctypes.c_ssize_t),
            ('ob_type', ctypes.c_void_p),
            ('m_init', ctypes.c_void_p),
            ('m_index', ctypes.c_ssize_t),
            ('m_copy', ctypes.c_void_p),
            ('m_name', ctypes.c_char_p),
            ('m_doc', ctypes.c_char_p),
            ('m_size', ctypes.c_ssize_t),
            ('m_methods', ctypes.c_void_p),
            ('m_slots', ctypes.c_void_p),
        ]

    api = ctypes.pythonapi
    api.PyModule_GetDef.argtypes = [ctypes.py_object]
    api.PyModule_GetDef.restype = ctypes.c_void_p
    api.PyState_FindModule.argtypes = [ctypes.c_void_p]
    api.PyState_FindModule.restype = ctypes.c_void_p  # borrowed reference
    address = api.PyModule_GetDef(module)
    if not address:
        # Not created from a definition: a copy of the dict that the
        # import machinery saved from a single-phase module (m_copy).
        init = 'single'
    elif ModuleDef.from_address(address).m_slots:
        init = 'multi'
    elif api.PyState_FindModule(address):
        init = 'single'
    else:
        init = 'multi'
    emit(init=init)


def child(name):
    classes_before = existing_classes()
    preloaded = name in sys.modules
    check_subinterp(name)
    try:
        __import__(name)
    except Exception as exc:
        emit(skipped=f'{type(exc).__name__}: {exc}')
        return
    module = sys.modules[name]
    check_types(name, classes_before, preloaded)
    del classes_before
    check_import_leak(name)
    check_init(module)
    emit(done=True)


# --- the parent: finds the modules, runs the children, judges ---

def extension_dirs():
    """Directories on sys.path that hold the build's extension modules."""
    import os
    import sysconfig
    if sysconfig.is_python_build():
        base = os.path.dirname(os.path.realpath(sys.executable))
        with open(os.path.join(base, 'pybuilddir.txt')) as file:
            candidates = [os.path.join(base, file.read().strip())]
    else:
        candidates = [sysconfig.get_config_var('DESTSHARED')]
    path = {os.path.realpath(entry) for entry in sys.path if entry}
    return [candidate for candidate in candidates
            if os.path.realpath(candidate) in path]


def find_modules():
    """Return {name: 'builtin' | 'shared'} for all extension modules."""
    import importlib.machinery
    import os
    modules = {name: 'builtin' for name in sys.builtin_module_names
               if name not in CORE_MODULES}
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES,
                      key=len, reverse=True)
    for directory in extension_dirs():
        for filename in os.listdir(directory):
            for suffix in suffixes:
                if filename.endswith(suffix):
                    modules.setdefault(filename[:-len(suffix)], 'shared')
                    break
    return dict(sorted(modules.items()))


def read_exceptions(path):
    """Return {(module, check): (line number, reason)}; exit on bad lines."""
    entries = {}
    with open(path) as file:
        for lineno, line in enumerate(file, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            fields = line.split(None, 2)
            if len(fields) < 3 or fields[1] not in CHECKS:
                sys.exit(f'{path}:{lineno}: expected "MODULE CHECK REASON" '
                         f'with CHECK one of {", ".join(CHECKS)}')
            entries[fields[0], fields[1]] = (lineno, fields[2])
    return entries


def run_child(name, timeout):
    import ast
    import signal
    import subprocess
    import time
    # -I: no environment, and above all no script directory on sys.path:
    # a directory that changes while the child runs refills its FileFinder
    # cache, which moves the reference counts.
    cmd = [sys.executable, '-I', '-S', '-X', 'faulthandler',
           '-W', 'ignore::DeprecationWarning', __file__, '--child', name]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
        stdout, stderr, crash = proc.stdout, proc.stderr, None
        if proc.returncode < 0:
            crash = 'killed by ' + signal.Signals(-proc.returncode).name
        elif proc.returncode:
            crash = f'exit status {proc.returncode}'
    except subprocess.TimeoutExpired as exc:
        stdout, stderr = exc.stdout or b'', exc.stderr or b''
        crash = f'hung (timeout {timeout:g} s)'
    result = {}
    for line in stdout.decode(errors='replace').splitlines():
        if line.startswith(MARK):
            result.update(ast.literal_eval(line[len(MARK):].strip()))
    if not crash and 'done' not in result and 'skipped' not in result:
        crash = 'no result'
    if not crash and result.get('subinterp_error'):
        crash = 'raised in subinterpreter: ' + result['subinterp_error']
    result['crash'] = crash
    if crash:
        result['stderr'] = stderr.decode(errors='replace')[-2000:]
    result['seconds'] = round(time.monotonic() - start, 2)
    return result


def failed_checks(result):
    """Return ({failed checks}, {checks with a known result})."""
    failed, known = set(), set()

    def judge(check, key, bad):
        if key in result:
            known.add(check)
            if bad(result[key]):
                failed.add(check)

    judge('crash', 'crash', bool)
    judge('single-phase', 'init', lambda init: init != 'multi')
    judge('shared-types', 'shared_types', bool)
    judge('import-leak', 'import_leak', lambda leak: leak != 0)
    judge('subinterp-leak', 'subinterp_leak', lambda leak: leak != 0)
    return failed, known


def short(names, width=34):
    text = f'{len(names)}' + (': ' + ','.join(names) if names else '')
    return text if len(text) <= width else text[:width - 3] + '...'


def number(value):
    return '?' if value is None else f'{value:g}'


def row(name, kind, init, types, import_leak, subinterp_leak, status):
    return (f'{name:<20} {kind:<7} {init:<6} {types:<34} {import_leak:>6} '
            f'{subinterp_leak:>16}  {status}')


def judge(modules, results, exceptions, exceptions_path):
    """Print the table; return the problems and the count of each verdict."""
    print(row('module', 'kind', 'init', 'shared types', 'import',
              'subinterp', 'status'))
    counts = dict.fromkeys(('ok', 'excused', 'skipped', 'FAIL'), 0)
    problems = []
    for name, kind in modules.items():
        result = results[name]
        failed, known = failed_checks(result)
        excused = {check for check in CHECKS if (name, check) in exceptions}
        if 'skipped' in result and not failed:
            verdict, status = 'skipped', f'skipped ({result["skipped"]})'
            excused = known = set()
        elif failed - excused:
            verdict = 'FAIL'
            status = 'FAIL: ' + ', '.join(sorted(failed - excused))
            problems.append(f'{name}: {status}')
            if result['crash']:
                tail = result['stderr'].splitlines()[-5:]
                problems[-1] += ''.join(
                    [f' ({result["crash"]})'] + [f'\n    {line}'
                                                 for line in tail])
        elif failed:
            verdict, status = 'excused', 'excused: ' + ', '.join(
                sorted(failed))
        else:
            verdict, status = 'ok', 'ok'
        counts[verdict] += 1
        if result.get('same_module'):
            status += ' (re-import gives the same module)'
        for check in sorted((excused & known) - failed):
            problems.append(f'{exceptions_path}:{exceptions[name, check][0]}:'
                            f' {name} passes {check} now: remove the entry')
        result['failed'] = sorted(failed)
        types = result.get('shared_types')
        subinterp = number(result.get('subinterp_leak'))
        if result.get('refused'):
            subinterp += ' refused'
        print(row(name, kind, result.get('init', '?'),
                  '?' if types is None else short(types),
                  number(result.get('import_leak')), subinterp, status))
    return problems, counts


def main():
    import argparse
    import concurrent.futures
    import json
    import os
    import time

    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', '-j', type=int, default=2)
    parser.add_argument('--json', metavar='FILE',
                        help='write the raw results to FILE')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT,
                        help='seconds allowed per module (default: '
                             '%(default)s)')
    parser.add_argument('--exceptions', metavar='FILE',
                        default=os.path.join(os.path.dirname(__file__),
                                             'census-exceptions.txt'))
    parser.add_argument('modules', nargs='*', metavar='MODULE')
    args = parser.parse_args()
    if not hasattr(sys, 'gettotalrefcount'):
        sys.exit('census.py needs a debug build (sys.gettotalrefcount)')

    exceptions = read_exceptions(args.exceptions)
    modules = all_modules = find_modules()
    if args.modules:
        unknown = set(args.modules) - set(modules)
        if unknown:
            sys.exit(f'not an extension module of this build: '
                     f'{", ".join(sorted(unknown))}')
        modules = {name: modules[name] for name in args.modules}

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {name: pool.submit(run_child, name, args.timeout)
                   for name in modules}
        results = {name: future.result() for name, future in futures.items()}
    elapsed = time.monotonic() - start

    problems, counts = judge(modules, results, exceptions, args.exceptions)
    for name in sorted({name for name, check in exceptions}):
        if name not in all_modules:
            print(f'note: {args.exceptions}: {name} is not built here')

    if args.json:
        with open(args.json, 'w') as file:
            json.dump({'modules': modules, 'results': results,
                       'seconds': round(elapsed, 1)}, file, indent=1,
                      sort_keys=True)
    for problem in problems:
        print(problem)
    summary = ', '.join(f'{count} {what}' for what, count in counts.items())
    verdict = 'FAILED' if problems else 'passed'
    print(f'census {verdict}: {len(modules)} modules: {summary}; '
          f'{len(problems)} problems; {elapsed:.0f} s with {args.jobs} jobs')
    return 1 if problems else 0


if __name__ == '__main__':
    if sys.argv[1:2] == ['--child']:
        child(sys.argv[2])
    else:
        sys.exit(main())
