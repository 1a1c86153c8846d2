/*
 * check.h - the tiny assertion kit of cimid's C unit tests.
 *
 * CHECK(cond, name) records one assertion: "ok - name" or "FAIL - name"
 * (with file and line).  check_summary() prints "N passed, N failed" and
 * returns the process exit status.  tests/run.sh adds up these lines.
 */
#ifndef CIMID_CHECK_H
#define CIMID_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            check_passed++;                                               \
            printf("ok - ");                                              \
        } else {                                                          \
            check_failed++;                                               \
            printf("FAIL (%s:%d) - ", __FILE__, __LINE__);                \
        }                                                                 \
        printf(__VA_ARGS__);                                              \
        printf("\n");                                                     \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif
