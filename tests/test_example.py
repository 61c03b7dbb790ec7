"""examples/isolated, built like a user would (venv + pip), behaves isolated.

The module is built once into build/example/ (again only when its sources or
the interpreter change) with pip in a virtual environment of ./python, offline:
setuptools from the venv (ensurepip), wheel from Debian's python3-wheel-whl.
"""
import glob
import importlib.util
import os
import subprocess
import sys
import textwrap
import unittest

from subinterp import EMPTY, cycle_refs, run_in_subinterp

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(TOP, 'examples', 'isolated')
BUILD = os.path.join(TOP, 'build', 'example')
VENV = os.path.join(BUILD, 'venv')
WHEELS = '/usr/share/python-wheels'


def build():
    """Build and install the example; return the path of the extension."""
    stamp = os.path.join(BUILD, 'stamp')
    inputs = [sys.executable] + glob.glob(os.path.join(SRC, '*'))
    if (os.path.exists(stamp) and os.path.getmtime(stamp)
            >= max(map(os.path.getmtime, inputs))):
        with open(stamp) as f:
            return f.read()
    subprocess.run([sys.executable, '-m', 'venv', '--clear', VENV],
                   check=True, capture_output=True)
    python = os.path.join(VENV, 'bin', 'python')
    # The venv has pip and setuptools from ensurepip's bundled wheels; wheel
    # comes from Debian's python3-wheel-whl.  (Debian's setuptools wheel is
    # patched for Debian's own Python and does not work here.)
    wheel = glob.glob(os.path.join(WHEELS, 'wheel-*.whl'))
    if not wheel:
        raise unittest.SkipTest(f'no wheel package in {WHEELS} '
                                '(apt-get install python3-wheel-whl)')
    r = subprocess.run([python, '-m', 'pip', 'install', '--no-index',
                        *wheel], capture_output=True, text=True)
    if r.returncode == 0:
        r = subprocess.run([python, '-m', 'pip', 'install', '--no-index',
                            '--no-build-isolation', SRC],
                           capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError('building examples/isolated failed:\n'
                           + r.stdout[-3000:] + r.stderr[-3000:])
    path = subprocess.check_output(
        [python, '-c', 'import isolated; print(isolated.__file__)'],
        text=True).strip()
    with open(stamp, 'w') as f:
        f.write(path)
    return path


def setUpModule():
    global PATH
    PATH = build()


def load():
    """A new instance of the module (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location('isolated', PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleTests(unittest.TestCase):
    def test_counter(self):
        m = load()
        c = m.Counter('apples')
        self.assertEqual(c.label, 'apples')
        self.assertEqual(c.increment(), 1)
        self.assertEqual(c.increment(4), 5)
        self.assertEqual(c.value, 5)
        self.assertEqual(m.total(), 5)
        with self.assertRaises(m.Error):
            c.increment(-1)
        self.assertEqual(c.value, 5)
        with self.assertRaises(TypeError):
            m.Counter.increment(c, 1, 2)

    def test_instances_are_isolated(self):
        a, b = load(), load()
        self.assertIsNot(a, b)
        self.assertIsNot(a.Counter, b.Counter)
        self.assertIsNot(a.Error, b.Error)
        a.Counter().increment(3)
        b.Counter().increment(10)
        self.assertEqual((a.total(), b.total()), (3, 10))
        # A subclass reaches the state of the module that defined the method.
        class Sub(a.Counter):
            pass
        Sub().increment(1)
        self.assertEqual((a.total(), b.total()), (4, 10))

    def test_cycle_through_module_is_collected(self):
        m = load()
        c = m.Counter()
        c.label = c
        m.keep = c
        del c, m
        # gc.collect() happens in -R runs; here just make sure nothing breaks.
        import gc
        gc.collect()

    def test_subinterpreter(self):
        code = textwrap.dedent(f'''
            import importlib.util
            spec = importlib.util.spec_from_file_location('isolated', {PATH!r})
            m = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(m)
            c = m.Counter()
            assert c.increment(7) == 7
            assert m.total() == 7, m.total()
        ''')
        main = load()
        run_in_subinterp(code)
        self.assertEqual(main.total(), 0)

    @unittest.skipUnless(hasattr(sys, 'gettotalrefcount'), 'debug build')
    def test_subinterpreter_cycle_leaks_nothing(self):
        code = (f'import sys; sys.path.insert(0, {os.path.dirname(PATH)!r}); '
                f'import isolated; isolated.Counter().increment()')
        self.assertLessEqual(cycle_refs(code), cycle_refs(EMPTY))

if __name__ == '__main__':
    unittest.main()
