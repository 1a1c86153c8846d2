/*
 * job.c - following a Job (--wait, cimi wait) until it ends.
 *
 * The Job is polled (0.1 s, growing to 1 s) until its state is SUCCESS,
 * FAILED or STOPPED.  On a terminal, stderr shows a progress bar redrawn in
 * place; otherwise one plain line per change of state, progress or message
 * (--progress bar, lines or none, where a command takes it, decides).
 * A FAILED or STOPPED Job is an error (exit 9) carrying the Job's
 * statusMessage; so is running out of --timeout (exit 10).
 */
#include "cli/job.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/discovery.h"

#define BAR_WIDTH 30

struct job_view {
    char id[128];
    char action[64];
    char state[32];
    long long progress;
    char message[200];
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    nanosleep(&ts, NULL);
}

static void read_view(const json_t *job, const char *uri, struct job_view *v)
{
    const char *state = disco_str(job, "state"), *msg = disco_str(job, "statusMessage");
    char seg[128];

    disco_last_segment(disco_str(job, "id") ? disco_str(job, "id") : uri, v->id, sizeof(v->id));
    disco_last_segment(disco_str(job, "action"), seg, sizeof(seg));
    cli_printable(seg, strlen(seg), v->action, sizeof(v->action));
    cli_printable(state ? state : "UNKNOWN", strlen(state ? state : "UNKNOWN"), v->state,
                  sizeof(v->state));
    v->progress = json_integer_value(json_object_get(job, "progress"));
    if (v->progress < 0)
        v->progress = 0;
    if (v->progress > 100)
        v->progress = 100;
    cli_printable(msg ? msg : "", msg ? strlen(msg) : 0, v->message, sizeof(v->message));
}

static bool is_final(const char *state)
{
    return strcmp(state, "SUCCESS") == 0 || strcmp(state, "FAILED") == 0 ||
           strcmp(state, "STOPPED") == 0;
}

/* "[#########.....]  45% RUNNING  message" redrawn over the previous one. */
static void draw_bar(const struct job_view *v)
{
    char bar[BAR_WIDTH + 1];
    int filled = (int)(v->progress * BAR_WIDTH / 100);

    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %3lld%% %-8s %.60s", v->action[0] ? v->action : "job", bar,
            v->progress, v->state, v->message);
    if (is_final(v->state))
        fputc('\n', stderr);
    fflush(stderr);
}

static void print_line(const struct job_view *v)
{
    fprintf(stderr, "job %s%s%s%s: %s %lld%%%s%s\n", v->id, v->action[0] ? " (" : "", v->action,
            v->action[0] ? ")" : "", v->state, v->progress, v->message[0] ? " " : "",
            v->message);
}

/* Show v if it differs from the last one shown. */
static void report(const struct job_view *v, struct job_view *shown, enum progress_mode mode)
{
    if (strcmp(v->state, shown->state) == 0 && v->progress == shown->progress &&
        strcmp(v->message, shown->message) == 0)
        return;
    if (mode == PROGRESS_BAR)
        draw_bar(v);
    else if (mode == PROGRESS_LINES)
        print_line(v);
    *shown = *v;
}

static int outcome(const struct job_view *v, const json_t *job, struct cli_error *err)
{
    json_int_t rc = json_integer_value(json_object_get(job, "returnCode"));

    if (strcmp(v->state, "SUCCESS") == 0)
        return 0;
    return cli_fail(err, CLI_JOB, "job %s %s: %s (returnCode %" JSON_INTEGER_FORMAT ")", v->id,
                    v->state, v->message[0] ? v->message : "no message", rc);
}

int job_follow(struct cli *cli, const char *uri, struct cli_error *err)
{
    enum progress_mode mode = cli->opt.progress;
    bool bar;
    double deadline = now_s() + cli->opt.timeout, delay = 0.1;
    struct job_view view, shown;
    json_t *job;
    int rc;

    if (mode == PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LINES;
    bar = mode == PROGRESS_BAR;
    memset(&shown, 0, sizeof(shown));
    shown.progress = -1;
    for (;;) {
        if (disco_get(cli, uri, &job, err) < 0) {
            if (bar && shown.progress >= 0)
                fputc('\n', stderr);
            return -1;
        }
        read_view(job, uri, &view);
        report(&view, &shown, mode);
        if (is_final(view.state)) {
            rc = outcome(&view, job, err);
            json_decref(job);
            return rc;
        }
        json_decref(job);
        if (now_s() > deadline) {
            if (bar)
                fputc('\n', stderr);
            return cli_fail(err, CLI_TIMEOUT, "job %s still %s after %g s (--timeout); follow "
                            "it with: cimi wait %s", view.id, view.state, cli->opt.timeout, uri);
        }
        sleep_s(delay);
        delay = delay * 1.5 < 1.0 ? delay * 1.5 : 1.0;
    }
}
