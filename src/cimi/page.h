/*
 * page.h - keep the page of a collection read while its items stream by.
 *
 * Items that passed $filter are offered one at a time, in creation order.
 * Without $orderby the page keeps those at positions $first..$last and only
 * counts the others.  With $orderby it keeps the best $last seen so far: it
 * collects up to twice that many, then keeps the best half (a selection,
 * linear on average) and from then on turns away at once whatever does not
 * beat the worst item kept.  Either way a read holds at most 2 x $last
 * items, never the whole collection (all of it only without $last).
 */
#ifndef CIMID_PAGE_H
#define CIMID_PAGE_H

#include <stdbool.h>
#include <stddef.h>

/* <0, 0, >0 as a sorts before, with, after b.  The order must be total:
 * the caller breaks ties by creation order, as a stable sort would. */
typedef int (*page_compare_fn)(void *ctx, const void *a, const void *b);

struct page {
    page_compare_fn compare;   /* NULL = no $orderby */
    void *ctx;
    void (*drop)(void *drop_ctx, void *item);  /* frees an item the page does not keep */
    void *drop_ctx;
    long first, last;          /* 1-based positions kept; last = LONG_MAX: to the end */
    long matched;              /* items offered so far (the collection's count) */
    void **items;              /* the page (in no order while offering with compare) */
    size_t count, cap;
    void *worst;               /* with compare, once trimmed: the worst item kept */
};

void page_init(struct page *p, page_compare_fn compare, void *ctx,
               void (*drop)(void *drop_ctx, void *item), void *drop_ctx, long first, long last);
/* Offer one matching item; the page keeps it or drops it.  False when out
 * of memory (the item is dropped). */
bool page_offer(struct page *p, void *item);
/* Put the kept items in page order and drop the others: p->items[0..p->count)
 * is then the page. */
void page_finish(struct page *p);
/* Drop what is still kept and free the array. */
void page_free(struct page *p);

#endif
