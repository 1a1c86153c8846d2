/*
 * page.c - the page of a collection read, kept while the items stream by
 * (see page.h): positions $first..$last, or a bounded heap for $orderby.
 */
#include "cimi/page.h"

#include <limits.h>
#include <stdlib.h>

void page_init(struct page *p, page_compare_fn compare, void *ctx, long first, long last)
{
    p->compare = compare;
    p->ctx = ctx;
    p->first = first > 0 ? first : 1;
    p->last = last > 0 ? last : LONG_MAX;
    p->matched = 0;
    p->items = NULL;
    p->count = p->cap = 0;
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

/* The heap keeps its greatest item (the first to go) at the top. */
static void sift_up(struct page *p, size_t i)
{
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (p->compare(p->ctx, p->items[up], p->items[i]) >= 0)
            return;
        swap(p->items, up, i);
        i = up;
    }
}

static void sift_down(struct page *p, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < p->count && p->compare(p->ctx, p->items[l], p->items[top]) > 0)
            top = l;
        if (r < p->count && p->compare(p->ctx, p->items[r], p->items[top]) > 0)
            top = r;
        if (top == i)
            return;
        swap(p->items, top, i);
        i = top;
    }
}

void *page_offer(struct page *p, void *item, bool *failed)
{
    void *out;

    p->matched++;
    if (p->compare == NULL) {
        if (p->matched < p->first || p->matched > p->last)
            return item;
        if (!append(p, item)) {
            *failed = true;
            return item;
        }
        return NULL;
    }
    if ((long)p->count < p->last) {
        if (!append(p, item)) {
            *failed = true;
            return item;
        }
        sift_up(p, p->count - 1);
        return NULL;
    }
    if (p->compare(p->ctx, item, p->items[0]) >= 0)
        return item;
    out = p->items[0];
    p->items[0] = item;
    sift_down(p, 0);
    return out;
}

void page_finish(struct page *p, void (*drop)(void *item))
{
    size_t skip;

    if (p->compare != NULL) {
        /* Heap sort in place: the greatest goes to the end each time. */
        size_t n = p->count;
        while (p->count > 1) {
            swap(p->items, 0, p->count - 1);
            p->count--;
            sift_down(p, 0);
        }
        p->count = n;
        skip = p->first - 1 < (long)n ? (size_t)(p->first - 1) : n;
        for (size_t i = 0; i < skip; i++)
            drop(p->items[i]);
        for (size_t i = skip; i < n; i++)
            p->items[i - skip] = p->items[i];
        p->count = n - skip;
    }
}

void page_free(struct page *p)
{
    free(p->items);
    p->items = NULL;
    p->count = p->cap = 0;
}
