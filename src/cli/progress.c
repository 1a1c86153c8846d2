/*
 * progress.c - the bar or the plain lines of a transfer on stderr.
 *
 * libcurl calls progress_show about once a second and after every chunk;
 * the bar is redrawn at most ten times a second, a line written when a
 * new tenth of the total is reached.  Sizes are in MiB, speeds in MB/s (10^6 bytes) as
 * network figures usually are.
 */
#include "cli/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define REDRAW_S 0.1

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int progress_parse_mode(const char *name, enum progress_mode *mode)
{
    static const char *const names[] = {"auto", "bar", "lines", "none"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0) {
            *mode = (enum progress_mode)i;
            return 0;
        }
    return -1;
}

static double mib(long long bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* Bytes per second since the start, in MB/s. */
static double rate_mb(const struct progress *p, double now)
{
    double elapsed = now - p->started;

    return elapsed > 0 ? (double)p->done / elapsed / 1e6 : 0.0;
}

static void draw_bar(struct progress *p, double now)
{
    char bar[BAR_WIDTH + 1];
    int filled = p->total > 0 ? (int)(p->done * BAR_WIDTH / p->total) : 0;
    int pct = p->total > 0 ? (int)(p->done * 100 / p->total) : 0;

    if (filled > BAR_WIDTH)
        filled = BAR_WIDTH;
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(BAR_WIDTH - filled));
    bar[BAR_WIDTH] = '\0';
    if (p->total > 0)
        fprintf(stderr, "\r\033[K%-8s [%s] %3d%% %.1f/%.1f MiB %.1f MB/s", p->label, bar, pct,
                mib(p->done), mib(p->total), rate_mb(p, now));
    else
        fprintf(stderr, "\r\033[K%-8s [%s] %.1f MiB %.1f MB/s", p->label, bar, mib(p->done),
                rate_mb(p, now));
    fflush(stderr);
    p->drawn = now;
    p->shown = true;
}

/* A line when a new tenth of the total is reached (the last one: done). */
static void print_steps(struct progress *p, double now)
{
    int step = p->total > 0 ? (int)(p->done * 10 / p->total) : 0;

    if (step <= p->step || step > 9)
        return;
    p->step = step;
    fprintf(stderr, "%s: %d%% (%.1f of %.1f MiB, %.1f MB/s)\n", p->label, step * 10,
            mib(p->done), mib(p->total), rate_mb(p, now));
}

static void progress_show(void *arg, long long done, long long total)
{
    struct progress *p = arg;
    double now = now_s();

    p->done = done;
    if (total > 0)
        p->total = total;
    if (p->mode == PROGRESS_BAR && now - p->drawn >= REDRAW_S)
        draw_bar(p, now);
    else if (p->mode == PROGRESS_LINES)
        print_steps(p, now);
}

void progress_begin(struct progress *p, const char *label, enum progress_mode mode,
                    struct http_progress *hook)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->label, sizeof(p->label), "%s", label);
    if (mode == PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_NONE;
    p->mode = mode;
    p->started = now_s();
    hook->show = progress_show;
    hook->arg = p;
}

void progress_note(struct progress *p, const char *text)
{
    if (p->mode == PROGRESS_NONE)
        return;
    if (p->mode == PROGRESS_BAR && p->shown)
        fputc('\n', stderr);
    p->shown = false;
    fprintf(stderr, "%s: %s\n", p->label, text);
}

void progress_end(struct progress *p, bool ok)
{
    double now = now_s();

    if (p->mode == PROGRESS_BAR) {
        if (ok)
            draw_bar(p, now);
        if (p->shown)
            fputc('\n', stderr);
    } else if (p->mode == PROGRESS_LINES && ok) {
        fprintf(stderr, "%s: done, %.1f MiB in %.1f s (%.1f MB/s)\n", p->label, mib(p->done),
                now - p->started, rate_mb(p, now));
    }
    p->shown = false;
    fflush(stderr);
}
