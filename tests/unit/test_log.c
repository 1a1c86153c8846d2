/*
 * test_log.c - unit tests of the log line escaping (src/util/log.c): control
 * characters (C0, DEL, C1), Unicode line separators, bidirectional controls
 * and invalid UTF-8 become \xNN, other valid UTF-8 stays, one line per
 * message whatever it holds, long messages are cut whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"

/* What log_info(fmt, arg) writes, after the "STAMP LEVEL " prefix. */
static char *logged(const char *arg)
{
    static char out[8192];
    char path[] = "/tmp/cimid-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    ssize_t n;
    char *text;

    dup2(fd, STDERR_FILENO);
    log_info("x: %s", arg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, out, sizeof(out) - 1);
    close(fd);
    unlink(path);
    out[n > 0 ? n : 0] = '\0';
    text = strstr(out, " info x: ");
    return text ? text + strlen(" info x: ") : out;
}

int main(void)
{
    char long_arg[5000];

    log_set_level(LOG_INFO);
    CHECK(strcmp(logged("plain /cimi/machines"), "plain /cimi/machines\n") == 0,
          "log: plain text as it is");
    CHECK(strcmp(logged("a\nb\rc\x1b[31md"), "a\\x0ab\\x0dc\\x1b[31md\n") == 0,
          "log: LF, CR and ESC escaped (%s)", logged("a\nb\rc\x1b[31md"));
    CHECK(strcmp(logged("\x7f\x01\t"), "\\x7f\\x01\\x09\n") == 0, "log: DEL, SOH and TAB escaped");
    CHECK(strcmp(logged("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n") == 0, "log: valid UTF-8 kept");
    CHECK(strcmp(logged("\xff\xfe"), "\\xff\\xfe\n") == 0, "log: invalid bytes escaped");
    CHECK(strcmp(logged("\xc0\x8a"), "\\xc0\\x8a\n") == 0, "log: an overlong form escaped");
    CHECK(strcmp(logged("\xed\xa0\x80"), "\\xed\\xa0\\x80\n") == 0, "log: a surrogate escaped");
    CHECK(strcmp(logged("\xe2\x82"), "\\xe2\\x82\n") == 0, "log: a cut sequence escaped");
    CHECK(strcmp(logged("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80\n") == 0,
          "log: past U+10FFFF escaped");
    CHECK(strcmp(logged("a\xc2\x85" "b\xc2\x9b" "c"), "a\\xc2\\x85b\\xc2\\x9bc\n") == 0,
          "log: C1 controls (NEL, CSI) escaped");
    CHECK(strcmp(logged("\xe2\x80\xa8\xe2\x80\xa9"), "\\xe2\\x80\\xa8\\xe2\\x80\\xa9\n") == 0,
          "log: line and paragraph separators escaped");
    CHECK(strcmp(logged("\xe2\x80\xae" "abc"), "\\xe2\\x80\\xaeabc\n") == 0,
          "log: a right-to-left override escaped");
    CHECK(strcmp(logged("\xc2\xa0\xe2\x80\x94"), "\xc2\xa0\xe2\x80\x94\n") == 0,
          "log: other non-ASCII characters kept (NBSP, em dash)");
    memset(long_arg, '\n', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    {
        const char *line = logged(long_arg);
        size_t len = strlen(line);
        CHECK(len > 1000 && line[len - 1] == '\n' && strchr(line, '\n') == line + len - 1,
              "log: a long message of line ends is one line (%zu bytes)", len);
        CHECK((len - 1) % 4 == 0, "log: cut at a whole escape");
    }
    return check_summary();
}
