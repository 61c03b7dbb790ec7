"""The worked example of the isolating howto compiles and behaves as described.

The C source is cpython/Doc/includes/tally.c, the file that
Doc/howto/isolating-extensions.rst includes: it is compiled (with -Werror)
against the running interpreter into build/doc-example/, again only when the
source or the interpreter change, then imported as a user would, re-imported,
and imported in subinterpreters.
"""
import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig
import textwrap
import unittest
import weakref
from test.support import gc_collect, import_helper

from subinterp import EMPTY, cycle_refs, run_in_subinterp

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(TOP, 'cpython', 'Doc', 'includes', 'tally.c')
BUILD = os.path.join(TOP, 'build', 'doc-example')


def compile_extension(source, outdir, python=sys.executable):
    """Compile one C file into an extension module for `python`, with the
    compiler, flags and headers its sysconfig names; return its path."""
    code = textwrap.dedent('''
        import sysconfig as s
        print(s.get_config_var('EXT_SUFFIX'))
        print(s.get_config_var('LDSHARED'))
        print(s.get_config_var('CFLAGS'), s.get_config_var('CCSHARED'))
        print(s.get_paths()['include'])
        print(s.get_paths()['platinclude'])
    ''')
    suffix, ldshared, cflags, include, platinclude = subprocess.check_output(
        [python, '-c', code], text=True).splitlines()
    name = os.path.splitext(os.path.basename(source))[0]
    target = os.path.join(outdir, name + suffix)
    os.makedirs(outdir, exist_ok=True)
    subprocess.run(shlex.split(ldshared) + shlex.split(cflags)
                   + ['-Werror', f'-I{include}', f'-I{platinclude}',
                      source, '-o', target],
                   check=True, capture_output=True, text=True)
    return target


def build():
    suffix = sysconfig.get_config_var('EXT_SUFFIX')
    target = os.path.join(BUILD, 'tally' + suffix)
    if not (os.path.exists(target) and os.path.getmtime(target) >=
            max(os.path.getmtime(SOURCE), os.path.getmtime(sys.executable))):
        try:
            compile_extension(SOURCE, BUILD)
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f'compiling {SOURCE} failed:\n{e.stderr}')
    return target


def setUpModule():
    global PATH
    PATH = build()


def load():
    """A new module object (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location('tally', PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TallyTests(unittest.TestCase):
    def test_counting(self):
        m = load()
        t = m.Tally('apples')
        self.assertEqual(t.label, 'apples')
        self.assertEqual(t.add(), 1)
        self.assertEqual(t.add(4), 5)
        t += 10                                 # the cached-state slot
        self.assertEqual(t.count, 15)
        self.assertEqual(m.total(), 15)
        with self.assertRaises(m.Error):
            t.add(-1)
        with self.assertRaises(m.Error):
            t += -1
        self.assertEqual((t.count, m.total()), (15, 15))
        with self.assertRaises(TypeError):
            t.add(1, 2)
        with self.assertRaises(TypeError):
            t.add(n=1)
        with self.assertRaises(TypeError):
            t += 'x'
        self.assertEqual(m.Tally.add.__text_signature__, '($self, n=1, /)')

    def test_slots(self):
        # Py_mod_exec ran, and both new slots were accepted.
        m = load()
        self.assertEqual(m.__doc__, 'Isolated counters.')
        self.assertEqual(m.Tally.__module__, 'tally')
        self.assertTrue(issubclass(m.Error, Exception))

    def test_reimport_gives_fresh_state(self):
        a = load()
        a.Tally().add(3)
        b = load()
        self.assertIsNot(a, b)
        self.assertIsNot(a.Tally, b.Tally)
        self.assertIsNot(a.Error, b.Error)
        self.assertEqual((a.total(), b.total()), (3, 0))
        b.Tally().add(10)
        self.assertEqual((a.total(), b.total()), (3, 10))
        # A method and the slot of a subclass reach the state of the module
        # that defined Tally, not the other module's.
        class Sub(a.Tally):
            pass
        s = Sub()
        s.add(1)
        s += 1
        self.assertEqual((a.total(), b.total()), (5, 10))
        # Each module raises its own Error.
        with self.assertRaises(b.Error):
            b.Tally().add(-1)
        with self.assertRaises(a.Error):
            s.add(-1)
        self.assertFalse(issubclass(a.Error, b.Error))

    def test_reimport_through_sys_modules(self):
        with import_helper.DirsOnSysPath(BUILD), \
                import_helper.CleanImport('tally'):
            import tally as first
            first.Tally().add(2)
            del sys.modules['tally']
            import tally as second
            self.assertIsNot(first.Tally, second.Tally)
            self.assertEqual((first.total(), second.total()), (2, 0))

    def test_module_is_collected(self):
        m = load()
        t = m.Tally()
        t.label = t                             # a cycle through the type
        ref = weakref.ref(m)
        del m
        gc_collect()
        self.assertIsNotNone(ref())             # t keeps its module alive
        del t
        gc_collect()
        self.assertIsNone(ref())

    def test_subinterpreters(self):
        main = load()
        main.Tally().add(1)
        code = textwrap.dedent(f'''
            import importlib.util
            spec = importlib.util.spec_from_file_location('tally', {PATH!r})
            m = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(m)
            t = m.Tally()
            t += 7
            assert m.total() == 7, m.total()
            try:
                t.add(-1)
            except m.Error:
                pass
            else:
                raise AssertionError('no tally.Error')
        ''')
        run_in_subinterp(code)
        # An isolated interpreter (single-phase modules refused) loads it:
        # it is multi-phase and supports subinterpreters.
        run_in_subinterp(code, isolated=True)
        self.assertEqual(main.total(), 1)

    @unittest.skipUnless(hasattr(sys, 'gettotalrefcount'), 'debug build')
    def test_subinterpreter_cycle_leaks_nothing(self):
        code = (f'import sys; sys.path.insert(0, {BUILD!r}); '
                f'import tally; t = tally.Tally(); t.label = t; t.add()')
        self.assertLessEqual(cycle_refs(code), cycle_refs(EMPTY))


if __name__ == '__main__':
    unittest.main()
