/*
 * page.h - keep the page of a collection read while its items stream by.
 *
 * Items that passed $filter are offered one at a time, in creation order.
 * Without $orderby the page keeps those at positions $first..$last and only
 * counts the others; with $orderby it keeps the best $last in a heap (ties
 * broken by the order of offering, as a stable sort would).  Either way a
 * read holds at most $last items, never the whole collection.
 */
#ifndef CIMID_PAGE_H
#define CIMID_PAGE_H

#include <stdbool.h>
#include <stddef.h>

/* <0, 0, >0 as a sorts before, with, after b; ties must be broken by the
 * caller (by creation order) so that the order is total. */
typedef int (*page_compare_fn)(void *ctx, const void *a, const void *b);

struct page {
    page_compare_fn compare;   /* NULL = no $orderby */
    void *ctx;
    long first, last;          /* 1-based positions kept; last = LONG_MAX: to the end */
    long matched;              /* items offered so far (the collection's count) */
    void **items;              /* the page (a heap while offering with compare) */
    size_t count, cap;
};

void page_init(struct page *p, page_compare_fn compare, void *ctx, long first, long last);
/* Offer one matching item.  Returns the item the page does not keep (item
 * itself, or one it pushed out) for the caller to free, or NULL.  *failed
 * is set when out of memory (item is then returned). */
void *page_offer(struct page *p, void *item, bool *failed);
/* Put the kept items in page order and drop those before $first: drop is
 * called on each of them.  p->items[0..p->count) is then the page. */
void page_finish(struct page *p, void (*drop)(void *item));
/* Free the array (not the items). */
void page_free(struct page *p);

#endif
