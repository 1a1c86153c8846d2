/*
 * spawn.c - run a helper program and collect its error output (or all
 * its output).
 */
#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Read what the child writes on the pipe, keeping the last why_len-1 bytes. */
static void drain(int fd, char *why, size_t why_len)
{
    char buf[512];
    size_t kept = 0;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n <= 0)
            continue;
        for (ssize_t i = 0; i < n; i++) {
            if (kept + 1 >= why_len) {
                memmove(why, why + 1, why_len - 2);
                kept--;
            }
            why[kept++] = buf[i] == '\n' ? ' ' : buf[i];
        }
    }
    why[kept] = '\0';
}

/* Read what the child writes on the pipe, keeping the first len-1 bytes. */
static void collect(int fd, char *out, size_t len)
{
    char buf[512];
    size_t kept = 0;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        size_t take = n > 0 ? (size_t)n : 0;
        if (take > len - 1 - kept)
            take = len - 1 - kept;
        memcpy(out + kept, buf, take);
        kept += take;
    }
    out[kept] = '\0';
}

/* Run argv with stderr (and stdout too when whole_output) on a pipe whose
 * text goes to why: its end (drain) or, for whole_output, its start. */
static int run_child(char *const argv[], bool whole_output, char *why, size_t why_len)
{
    posix_spawn_file_actions_t actions;
    int pipefd[2], status, rc;
    pid_t pid;

    why[0] = '\0';
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (whole_output)
        posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
    else
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
    rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        snprintf(why, why_len, "cannot run %s: %s", argv[0], strerror(rc));
        return -1;
    }
    if (whole_output)
        collect(pipefd[0], why, why_len);
    else
        drain(pipefd[0], why, why_len);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(why, why_len, "waitpid: %s", strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (why[0] == '\0')
        snprintf(why, why_len, "%s exited with status %d", argv[0],
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return -1;
}

int spawn_wait(char *const argv[], char *why, size_t why_len)
{
    return run_child(argv, false, why, why_len);
}

int spawn_output(char *const argv[], char *out, size_t out_len)
{
    return run_child(argv, true, out, out_len);
}
