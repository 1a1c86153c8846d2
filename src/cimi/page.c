/*
 * page.c - the page of a collection read, kept while the items stream by
 * (see page.h): positions $first..$last, or the best $last for $orderby.
 */
#include "cimi/page.h"

#include <limits.h>
#include <stdlib.h>

void page_init(struct page *p, page_compare_fn compare, void *ctx,
               void (*drop)(void *drop_ctx, void *item), void *drop_ctx, long first, long last)
{
    p->compare = compare;
    p->ctx = ctx;
    p->drop = drop;
    p->drop_ctx = drop_ctx;
    p->first = first > 0 ? first : 1;
    p->last = last > 0 ? last : LONG_MAX;
    if (last < 0) {  /* $last below 1: nothing (first > last keeps nothing) */
        p->first = 2;
        p->last = 1;
    }
    p->matched = 0;
    p->items = NULL;
    p->count = p->cap = 0;
    p->worst = NULL;
}

static bool append(struct page *p, void *item)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        void **items = realloc(p->items, cap * sizeof(*items));
        if (items == NULL)
            return false;
        p->items = items;
        p->cap = cap;
    }
    p->items[p->count++] = item;
    return true;
}

static void swap(void **items, size_t a, size_t b)
{
    void *t = items[a];

    items[a] = items[b];
    items[b] = t;
}

static int compare_at(struct page *p, size_t a, size_t b)
{
    return p->compare(p->ctx, p->items[a], p->items[b]);
}

/* Rearrange items so that the k best come first, the worst of them at
 * k - 1 (quickselect, median-of-three pivot). */
static void select_best(struct page *p, size_t k)
{
    size_t lo = 0, hi = p->count - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, store = lo;
        if (compare_at(p, mid, lo) < 0)
            swap(p->items, mid, lo);
        if (compare_at(p, hi, lo) < 0)
            swap(p->items, hi, lo);
        if (compare_at(p, hi, mid) < 0)
            swap(p->items, hi, mid);
        swap(p->items, mid, hi);   /* the median is the pivot, at hi */
        for (size_t i = lo; i < hi; i++)
            if (compare_at(p, i, hi) < 0)
                swap(p->items, i, store++);
        swap(p->items, store, hi);
        if (store == k - 1)
            return;
        if (store < k - 1)
            lo = store + 1;
        else
            hi = store - 1;
    }
}

/* Keep the best k items only. */
static void trim(struct page *p, size_t k)
{
    if (p->count <= k)
        return;
    select_best(p, k);
    for (size_t i = k; i < p->count; i++)
        p->drop(p->drop_ctx, p->items[i]);
    p->count = k;
    p->worst = p->items[k - 1];
}

bool page_offer(struct page *p, void *item)
{
    p->matched++;
    if (p->compare == NULL) {
        if (p->matched < p->first || p->matched > p->last) {
            p->drop(p->drop_ctx, item);
            return true;
        }
    } else if (p->worst != NULL && p->compare(p->ctx, item, p->worst) >= 0) {
        p->drop(p->drop_ctx, item);   /* no better than the worst of a full page */
        return true;
    }
    if (!append(p, item)) {
        p->drop(p->drop_ctx, item);
        return false;
    }
    if (p->compare != NULL && p->last <= LONG_MAX / 2 && p->count >= 2 * (size_t)p->last)
        trim(p, (size_t)p->last);
    return true;
}

static int compare_slots(const void *a, const void *b, void *ctx)
{
    struct page *p = ctx;

    return p->compare(p->ctx, *(void *const *)a, *(void *const *)b);
}

void page_finish(struct page *p)
{
    size_t skip;

    if (p->compare == NULL)
        return;
    if (p->last < LONG_MAX)
        trim(p, (size_t)p->last);
    if (p->count > 1)
        qsort_r(p->items, p->count, sizeof(*p->items), compare_slots, p);
    skip = p->first - 1 < (long)p->count ? (size_t)(p->first - 1) : p->count;
    for (size_t i = 0; i < skip; i++)
        p->drop(p->drop_ctx, p->items[i]);
    for (size_t i = skip; i < p->count; i++)
        p->items[i - skip] = p->items[i];
    p->count -= skip;
}

void page_free(struct page *p)
{
    for (size_t i = 0; i < p->count; i++)
        p->drop(p->drop_ctx, p->items[i]);
    free(p->items);
    p->items = NULL;
    p->count = p->cap = 0;
}
