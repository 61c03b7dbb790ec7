"""The inputs of `make fuzz` (tests/fuzz/corpus and tests/fuzz/crashes),
replayed by the fuzz harness built without libFuzzer against the debug build
(build/fuzz-replay/fuzz-moddef, from `make fuzz-replay`, which `make test`
runs first): every input still satisfies the invariants that
tests/fuzz/moddef.c checks, and the corpus still reaches every path,
interpreter and kind of outcome.
"""
import os
import re
import subprocess
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLAY = os.path.join(TOP, 'build', 'fuzz-replay', 'fuzz-moddef')
FUZZ = os.path.join(TOP, 'tests', 'fuzz')


class ReplayTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(REPLAY):
            raise RuntimeError(f'{REPLAY} is missing: run make fuzz-replay')
        inputs = [os.path.join(FUZZ, d) for d in ('corpus', 'crashes')]
        r = subprocess.run([REPLAY, *filter(os.path.isdir, inputs)],
                           capture_output=True, text=True, timeout=600)
        cls.returncode, cls.stdout, cls.stderr = (r.returncode, r.stdout,
                                                  r.stderr)

    def test_invariants(self):
        self.assertEqual(self.returncode, 0,
                         'an input breaks an invariant:\n'
                         + self.stderr[-4000:])

    def counts(self, kind):
        return {m[1]: int(m[2]) for m in
                re.finditer(rf'^{kind} (.*): (\d+)$', self.stdout, re.M)}

    def test_corpus_size(self):
        m = re.search(r'^(\d+) inputs replayed$', self.stdout, re.M)
        self.assertIsNotNone(m, self.stdout + self.stderr[-2000:])
        self.assertGreaterEqual(int(m[1]), 50)

    def test_every_scenario(self):
        scenarios = self.counts('scenario')
        self.assertEqual(len(scenarios), 3 * 5, self.stdout)
        self.assertEqual([s for s, n in scenarios.items() if n == 0], [])

    def test_every_outcome(self):
        # Each path, with every outcome it can have ("anything": a module
        # that executes itself again, whose outcome is not predicted).
        reachable = {
            'direct': ['success', 'SystemError naming the module',
                       'ImportError naming the module', 'ValueError',
                       'UnicodeDecodeError', 'UnicodeEncodeError',
                       'AttributeError', 'RuntimeError', 'TypeError',
                       'anything'],
            'import': ['success', 'SystemError naming the module',
                       'ImportError naming the module', 'ValueError',
                       'UnicodeDecodeError', 'AttributeError', 'KeyError',
                       'anything'],
            'exec-only': ['success', 'SystemError',
                          'SystemError naming the module', 'ValueError',
                          'UnicodeEncodeError', 'anything'],
        }
        outcomes = self.counts('outcome')
        missing = [f'{path}, {outcome}'
                   for path, expected in reachable.items()
                   for outcome in expected
                   if not outcomes.get(f'{path}, {outcome}')]
        self.assertEqual(missing, [], self.stdout)

if __name__ == '__main__':
    unittest.main()
