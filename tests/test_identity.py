"""The interpreter says it is the fork, in a form upstream's parsers accept."""
import platform
import re
import sys
import unittest


class IdentityTests(unittest.TestCase):
    def test_version_names_fork_and_patch_level(self):
        self.assertRegex(sys.version, r'^3\.11\.2 \(pep489-fork\.p[1-9][0-9]*'
                                      r'(-dirty)?:[0-9a-f]+, ')
        self.assertEqual(sys._git[0], 'CPython')
        self.assertTrue(sys._git[1].startswith('pep489-fork.p'))

    def test_version_info_is_upstream(self):
        self.assertEqual(sys.version_info[:3], (3, 11, 2))
        self.assertEqual(platform.python_version(), '3.11.2')

    def test_platform_parses_build(self):
        buildno, builddate = platform.python_build()
        self.assertEqual(buildno, sys.version.split(' (')[1].split(',')[0])
        self.assertTrue(re.match(r'\w{3} [ \d]\d \d{4}', builddate), builddate)
        self.assertEqual(platform.python_implementation(), 'CPython')


if __name__ == '__main__':
    unittest.main()
