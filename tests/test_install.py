"""`make install` gives a working fork outside the checkout.

The test runs `make install PREFIX=TOP/build/test-install/prefix`: the
optimized build configured with --prefix=PREFIX, in its own build directory
(build/install/PREFIX, kept so that later runs rebuild incrementally), and
CPython's own `make install`.  The prefix is emptied first.  Then the
installed interpreter must be the fork, know its prefix, import a new
instance of every ported module, load Debian's compiled packages (same ABI),
and create a virtual environment whose pip builds examples/isolated with the
installed headers, offline.
"""
import glob
import os
import shutil
import subprocess
import sys
import textwrap
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(TOP, 'build', 'test-install')
PREFIX = os.path.join(BASE, 'prefix')
VENV = os.path.join(BASE, 'venv')
EXAMPLE = os.path.join(TOP, 'examples', 'isolated')
WHEELS = '/usr/share/python-wheels'
DEBIAN = '/usr/lib/python3/dist-packages'

# The extension modules the patch series ports (README.rst, "Status").
PORTED = """
    _socket _ssl _ctypes _curses _curses_panel _datetime _zoneinfo _decimal
    _pickle _elementtree ossaudiodev _tracemalloc readline _tkinter
    _collections itertools _multiprocessing _asyncio _io _xxsubinterpreters
    xxsubtype _testbuffer
""".split()


def run(cmd, **kwargs):
    """Run cmd; on failure, fail with the end of its output."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if r.returncode:
        raise AssertionError(f'{cmd} failed ({r.returncode}):\n'
                             + r.stdout[-3000:] + r.stderr[-3000:])
    return r.stdout


def setUpModule():
    global PYTHON
    shutil.rmtree(BASE, ignore_errors=True)
    # Not the jobserver of the `make test` that runs us.
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
    run(['make', '-C', TOP, 'install', f'PREFIX={PREFIX}'], env=env)
    PYTHON = os.path.join(PREFIX, 'bin', 'python3.11')


class InstalledForkTests(unittest.TestCase):
    def python(self, code, python=None):
        return run([python or PYTHON, '-c', textwrap.dedent(code)],
                   cwd=BASE)

    def test_layout(self):
        for path in ('bin/python3.11', 'bin/python3', 'bin/pip3.11',
                     'bin/python3.11-config', 'lib/python3.11/os.py',
                     'lib/python3.11/ensurepip/_bundled',
                     'lib/pkgconfig/python3.pc'):
            self.assertTrue(os.path.exists(os.path.join(PREFIX, path)), path)
        headers = glob.glob(os.path.join(PREFIX, 'include', 'python3.11*',
                                         'Python.h'))
        self.assertEqual(len(headers), 1, headers)
        self.assertEqual(run([os.path.join(PREFIX, 'bin', 'python3.11-config'),
                              '--prefix']).strip(), PREFIX)

    def test_is_the_fork_and_knows_its_prefix(self):
        out = self.python('''
            import sys, sysconfig
            print(sys.version)
            print(sys.prefix)
            print(sysconfig.get_config_var('prefix'))
            print(sysconfig.get_paths()['include'])
            print(sysconfig.get_paths()['stdlib'])
        ''').splitlines()
        version, prefix, config_prefix, include, stdlib = out
        self.assertIn('pep489-fork.p', version)
        self.assertEqual(prefix, PREFIX)
        self.assertEqual(config_prefix, PREFIX)
        self.assertTrue(include.startswith(PREFIX + '/include/python3.11'),
                        include)
        self.assertTrue(os.path.exists(os.path.join(include, 'Python.h')))
        self.assertEqual(stdlib, os.path.join(PREFIX, 'lib', 'python3.11'))

    def test_ported_modules_are_isolated(self):
        # Each ported module imports, and a second instance of it is a new
        # module object with its own heap types.  (Some modules also export
        # static core types, such as _collections.OrderedDict.)
        self.python(f'''
            import importlib, importlib.util, warnings
            warnings.simplefilter('ignore', DeprecationWarning)  # ossaudiodev
            HEAPTYPE = 1 << 9
            for name in {PORTED!r}:
                first = importlib.import_module(name)
                spec = importlib.util.find_spec(name)
                second = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(second)
                assert second is not first, name
                types = {{k: v for k, v in vars(first).items()
                          if isinstance(v, type) and not k.startswith('__')
                          and v.__module__ != 'builtins'}}
                heap = [k for k, v in types.items() if v.__flags__ & HEAPTYPE]
                assert heap or not types, (name, 'only static types', types)
                for k in heap:
                    assert vars(second)[k] is not types[k], (name, k)
        ''')

    def test_debian_compiled_packages(self):
        # python3-yaml and python3-msgpack (installed by `make test`) are
        # compiled for Debian's python3.11; the fork's release build has
        # the same ABI.
        out = run([PYTHON, '-c', textwrap.dedent('''
            import sysconfig, msgpack, yaml
            from msgpack import _cmsgpack
            print(sysconfig.get_config_var('EXT_SUFFIX'))
            print(yaml._yaml.__file__)
            print(_cmsgpack.__file__)
            data = {'a': [1, 2.5, 'x']}
            assert yaml.load(yaml.dump(data, Dumper=yaml.CDumper),
                             Loader=yaml.CLoader) == data
            assert msgpack.Packer is _cmsgpack.Packer
            assert msgpack.unpackb(msgpack.packb(data)) == data
        ''')], env=dict(os.environ, PYTHONPATH=DEBIAN)).splitlines()
        suffix, *paths = out
        self.assertTrue(suffix.startswith('.cpython-311-'), suffix)
        for path in paths:
            self.assertTrue(path.startswith(DEBIAN + '/'), path)
            self.assertTrue(path.endswith(suffix), path)

    def test_venv_builds_an_extension_with_the_installed_headers(self):
        run([PYTHON, '-m', 'venv', VENV])
        python = os.path.join(VENV, 'bin', 'python')
        wheel = glob.glob(os.path.join(WHEELS, 'wheel-*.whl'))
        if not wheel:
            self.skipTest(f'no wheel package in {WHEELS} '
                          '(apt-get install python3-wheel-whl)')
        run([python, '-m', 'pip', 'install', '--no-index', *wheel])
        run([python, '-m', 'pip', 'install', '--no-index',
             '--no-build-isolation', EXAMPLE])
        out = self.python('''
            import sys, sysconfig, isolated
            print(sys.prefix, sys.base_prefix)
            print(sysconfig.get_paths()['include'])
            print(isolated.__file__)
            print(isolated.Counter().increment(3))
        ''', python=python).splitlines()
        self.assertEqual(out[0], f'{VENV} {PREFIX}')
        self.assertTrue(out[1].startswith(PREFIX + '/include/'), out[1])
        self.assertTrue(out[2].startswith(VENV + '/lib/python3.11/'
                                          'site-packages/'), out[2])
        self.assertEqual(out[3], '3')


if __name__ == '__main__':
    unittest.main()
