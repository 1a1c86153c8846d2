#!/usr/bin/env python3
"""Run cimid's black-box test suite: python3 tests/blackbox/run.py [--list] [filter ...]

Each filter is a substring of test names (e.g. "machines.", "[xml]", "crash");
a test runs if it matches any of them.  Exit status 0 only if no test failed.
"""
import glob
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cimitest  # noqa: E402


def main():
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        importlib.import_module(os.path.splitext(os.path.basename(path))[0])
    return cimitest.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
