#!/usr/bin/env python3
"""Run cimid's black-box test suite: python3 tests/blackbox/run.py [--list] [filter ...]

Each filter is a substring of test names (e.g. "machines.", "[xml]", "crash");
a test runs if it matches any of them.  Exit status 0 only if no test failed.
CIMITEST_EXTRA_DIR names a directory whose test_*.py are loaded too (the
test of the test command itself, test_testcmd.py, runs made-up tests so).
"""
import glob
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cimitest  # noqa: E402


def main():
    dirs = [HERE]
    if os.environ.get("CIMITEST_EXTRA_DIR"):
        dirs.append(os.environ["CIMITEST_EXTRA_DIR"])
        sys.path.insert(0, dirs[-1])
    for path in sorted(p for d in dirs for p in glob.glob(os.path.join(d, "test_*.py"))):
        importlib.import_module(os.path.splitext(os.path.basename(path))[0])
    return cimitest.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
