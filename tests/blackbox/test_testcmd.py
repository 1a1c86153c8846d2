"""The test command itself (tests/run.sh, which ./test.sh ends in): whatever
scrolled by, it ends with every failed test by name and every skipped test
with its reason, keeps the full logs in a directory whose path it prints,
and its last line is "N passed, N failed, N skipped".

It runs tests/run.sh on made-up tests (loaded through CIMITEST_EXTRA_DIR):
two that fail, one buried under 400 lines of output, one that passes and
one that is skipped."""

import os
import re
import shutil
import subprocess
import tempfile

from cimitest import CIMID_BIN, REPO, check, eq, isin, notin, test

MADE_UP = '''
from cimitest import SkipTest, check, test


@test
def fails_early_and_loud():
    for i in range(400):
        print(f"noise line {i} of a chatty test")
    check(False, "made-up failure number one")


@test
def passes():
    check(True, "fine")


@test
def skips():
    raise SkipTest("a made-up reason to skip")


@test
def fails_late():
    raise RuntimeError("made-up failure number two")
'''


@test
def run_sh_lists_failures_and_keeps_logs():
    tmp = tempfile.mkdtemp(prefix="cimitest-testcmd-")
    try:
        extra = os.path.join(tmp, "extra")
        build = os.path.join(tmp, "build")
        os.makedirs(extra)
        os.makedirs(build)
        with open(os.path.join(extra, "test_madeup_cmd.py"), "w") as f:
            f.write(MADE_UP)
        os.symlink(CIMID_BIN, os.path.join(build, "cimid"))
        env = dict(os.environ, CIMITEST_EXTRA_DIR=extra)
        r = subprocess.run([os.path.join(REPO, "tests", "run.sh"), build, "madeup_cmd."],
                           capture_output=True, text=True, timeout=300, env=env)
        out = r.stdout
        check(r.returncode != 0, "the test command fails when a test failed")
        lines = out.rstrip("\n").split("\n")
        eq(lines[-1], "1 passed, 2 failed, 1 skipped", "the last line counts every outcome")

        isin("Failed tests:", out, "a summary of the failures")
        summary = out[out.rindex("Failed tests:"):]
        isin("FAIL - madeup_cmd.fails_early_and_loud: AssertionError: made-up failure number one",
             summary, "the summary names the failure that scrolled away, with its reason")
        isin("FAIL - madeup_cmd.fails_late: RuntimeError: made-up failure number two", summary,
             "the summary names the second failure")
        notin("madeup_cmd.passes", summary, "a passed test is not listed as failed")

        isin("Skipped tests:", out, "a summary of the skipped tests")
        skipped = out[out.rindex("Skipped tests:"):out.rindex("Failed tests:")]
        isin("skip - madeup_cmd.skips: a made-up reason to skip", skipped,
             "a skipped test says why")

        paths = re.findall(r"^== logs: (\S+)$", out, re.M)
        check(paths, f"the log directory is printed ({out[-2000:]!r})")
        log_dir = paths[-1]
        check(os.path.isdir(log_dir), f"the log directory {log_dir} is kept")
        with open(os.path.join(log_dir, "blackbox")) as f:
            full = f.read()
        isin("noise line 0 of a chatty test", full, "the kept log has the whole output")
        isin("ok - madeup_cmd.passes", full, "the kept log has the passed tests too")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
