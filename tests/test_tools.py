"""Black-box tests of the bootstrap tools: bad input gives one clear error."""
import os
import shutil
import subprocess
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(TOP, 'tools')
with open(os.path.join(TOP, 'upstream.sha256')) as f:
    SHA, TARBALL_NAME = f.read().split()
TARBALL = os.path.join(TOP, 'downloads', TARBALL_NAME)


def run(tool, *args, **env):
    return subprocess.run([os.path.join(TOOLS, tool), *args],
                          env={**os.environ, **env}, capture_output=True,
                          text=True)


class FetchTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.downloads = os.path.join(self.tmp, 'downloads')

    def test_missing_tarball(self):
        missing = os.path.join(self.tmp, 'nope.tgz')
        r = run('fetch-upstream', CPYTHON_TARBALL=missing,
                DOWNLOADS=self.downloads)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('no such file', r.stderr)
        self.assertFalse(os.path.exists(
            os.path.join(self.downloads, TARBALL_NAME)))

    def test_wrong_tarball(self):
        wrong = os.path.join(self.tmp, 'Python-3.11.2.tgz')
        with open(wrong, 'wb') as f:
            f.write(b'\x1f\x8b not the CPython sources')
        r = run('fetch-upstream', CPYTHON_TARBALL=wrong,
                DOWNLOADS=self.downloads)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('does not match the pin', r.stderr)
        self.assertIn(SHA, r.stderr)
        self.assertFalse(os.path.exists(
            os.path.join(self.downloads, TARBALL_NAME)))

    @unittest.skipUnless(os.path.exists(TARBALL), 'no tarball downloaded')
    def test_corrupted_tarball(self):
        # A tarball cut short (an interrupted copy) is refused.
        cut = os.path.join(self.tmp, 'Python-3.11.2.tgz')
        with open(TARBALL, 'rb') as src, open(cut, 'wb') as dst:
            dst.write(src.read(1 << 20))
        r = run('fetch-upstream', CPYTHON_TARBALL=cut,
                DOWNLOADS=self.downloads)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('does not match the pin', r.stderr)

    @unittest.skipUnless(os.path.exists(TARBALL), 'no tarball downloaded')
    def test_good_tarball(self):
        r = run('fetch-upstream', CPYTHON_TARBALL=TARBALL,
                DOWNLOADS=self.downloads)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(
            os.path.join(self.downloads, TARBALL_NAME)))


@unittest.skipUnless(os.path.exists(TARBALL), 'no tarball downloaded')
class BootstrapTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_patch_that_does_not_apply(self):
        patches = os.path.join(self.tmp, 'patches')
        os.mkdir(patches)
        bad = os.path.join(patches, '0001-core-change-a-missing-file.patch')
        with open(bad, 'w') as f:
            f.write('From 0000000000000000000000000000000000000000 Mon Sep 17 '
                    '00:00:00 2001\nFrom: A <a@example.org>\nDate: Sun, 22 Nov '
                    '2026 00:00:00 +0000\nSubject: [PATCH] core: change a '
                    'missing file\n\n---\n'
                    'diff --git a/Objects/nothere.c b/Objects/nothere.c\n'
                    '--- a/Objects/nothere.c\n+++ b/Objects/nothere.c\n'
                    '@@ -1 +1 @@\n-old\n+new\n')
        dest = os.path.join(self.tmp, 'src')
        r = run('bootstrap', dest, PATCHES=patches,
                DOWNLOADS=os.path.dirname(TARBALL))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('patch does not apply: ' + bad, r.stderr)
        # Nothing half-built is left behind.
        self.assertEqual(os.listdir(self.tmp), ['patches'])

    def test_existing_destination(self):
        r = run('bootstrap', self.tmp, DOWNLOADS=os.path.dirname(TARBALL))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('already exists', r.stderr)


if __name__ == '__main__':
    unittest.main()
