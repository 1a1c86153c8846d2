/*
 * progress.h - the progress of an upload or a download on stderr.
 *
 * --progress auto (default): a bar redrawn in place when stderr is a
 * terminal, nothing otherwise; bar: the bar even when it is not; lines: a
 * plain line at every tenth of the transfer and one at the end; none.
 */
#ifndef CIMI_CLI_PROGRESS_H
#define CIMI_CLI_PROGRESS_H

#include <stdbool.h>

#include "cli/http.h"

enum progress_mode { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES, PROGRESS_NONE };

struct progress {
    char label[32];          /* "upload", "download" */
    enum progress_mode mode; /* never AUTO once begun */
    double started, drawn;   /* monotonic seconds */
    long long done, total;   /* last values shown */
    int step;                /* tenths reported so far (lines) */
    bool shown;              /* something was drawn (the bar needs a newline) */
};

/* Parse "auto", "bar", "lines", "none"; -1 if unknown. */
int progress_parse_mode(const char *name, enum progress_mode *mode);

/* Start showing a transfer; *hook is what http_upload/http_download take. */
void progress_begin(struct progress *p, const char *label, enum progress_mode mode,
                    struct http_progress *hook);

/* The transfer ended (ok: completely, done bytes): the last bar or line. */
void progress_end(struct progress *p, bool ok);

/* A note between attempts ("resuming at ..."): on its own line. */
void progress_note(struct progress *p, const char *text);

#endif
