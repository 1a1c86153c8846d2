/*
 * recover.c - start-up recovery: every Job that had not ended when cimid
 * stopped (even by kill -9) is queued again.  Job kinds are idempotent, so
 * running one again finishes what its first run began.  The steps of a
 * nested Job are left to their parent, which runs the unfinished ones.
 */
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "util/log.h"

struct recover_ctx {
    struct store *st;
    int count;
    struct store_row *rows;
    size_t nrows, cap;
};

/* Keep each unfinished Job's row (its documents are stolen from the listing). */
static int collect_unfinished(void *arg, struct store_row *row)
{
    struct recover_ctx *c = arg;
    const char *state = json_string_value(json_object_get(row->doc, "state"));

    if (!state || (strcmp(state, "QUEUED") != 0 && strcmp(state, "RUNNING") != 0 &&
                   strcmp(state, "STOPPING") != 0))
        return 0;
    if (json_object_get(row->priv, "parent") != NULL)
        return 0;  /* a step: its parent runs it (steps.c) */
    if (c->nrows == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct store_row *rows = realloc(c->rows, cap * sizeof(*rows));
        if (rows == NULL)
            return 1;
        c->rows = rows;
        c->cap = cap;
    }
    c->rows[c->nrows++] = *row;
    row->doc = row->priv = NULL;
    return 0;
}

static bool is_queued(const json_t *doc)
{
    return strcmp(json_string_value(json_object_get(doc, "state")) ?: "", "QUEUED") == 0;
}

/* A QUEUED Job may have begun before cimid stopped (its claim is in memory
 * only): record every one RUNNING, in one transaction, so that none can be
 * stopped any more (its kind's cancel assumes nothing was done). */
static int mark_recovered_running(struct store *st, struct recover_ctx *c)
{
    struct cimi_error err;
    size_t queued = 0;

    for (size_t i = 0; i < c->nrows; i++)
        if (is_queued(c->rows[i].doc))
            queued++;
    if (queued == 0)
        return 0;
    if (st->ops->begin(st, &err) != 0)
        return -1;
    for (size_t i = 0; i < c->nrows; i++) {
        json_t *doc = c->rows[i].doc;
        if (!is_queued(doc))
            continue;
        json_object_set_new(doc, "state", json_string("RUNNING"));
        json_object_set_new(doc, "progress", json_integer(10));
        if (st->ops->update(st, &c->rows[i], &err) != 0) {
            st->ops->rollback(st);
            return -1;
        }
    }
    return st->ops->commit(st, &err);
}

int jobs_recover(struct store *st)
{
    struct recover_ctx ctx = {st, 0, NULL, 0, 0};
    struct cimi_error err;
    int rc = 0;

    if (st->ops->list(st, "Job", NULL, NULL, collect_unfinished, &ctx, &err) != 0) {
        log_error("job: recovery: %s", err.message);
        rc = -1;
    } else if (mark_recovered_running(st, &ctx) != 0) {
        log_error("job: recovery: cannot record the unfinished Jobs RUNNING");
        rc = -1;
    }
    for (size_t i = 0; i < ctx.nrows; i++) {
        if (rc == 0) {
            log_info("job: recovering unfinished %s", ctx.rows[i].id);
            jobs_enqueue(&ctx.rows[i], NULL);
            ctx.count++;
        }
        store_row_clear(&ctx.rows[i]);
    }
    free(ctx.rows);
    return rc == 0 ? ctx.count : -1;
}
