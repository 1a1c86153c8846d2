/*
 * test_page.c - the page of a collection read (src/cimi/page.c) against a
 * plain model: sort everything (stably), count, cut $first..$last.  Items
 * are numbers with a key and their offering order; every item the page
 * does not keep must be dropped exactly once, and the kept ones by
 * page_free.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cimi/page.h"

#define MAX_ITEMS 2000

struct item {
    int key;
    int order;     /* offering order: breaks ties */
    int drops;
};

static int compare_items(void *ctx, const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    int descending = *(int *)ctx;
    int c = (a->key > b->key) - (a->key < b->key);

    if (c != 0)
        return descending ? -c : c;
    return (a->order > b->order) - (a->order < b->order);
}

static void drop_item(void *ctx, void *p)
{
    (void)ctx;
    ((struct item *)p)->drops++;
}

static int model_compare(const void *pa, const void *pb, void *ctx)
{
    return compare_items(ctx, *(struct item *const *)pa, *(struct item *const *)pb);
}

/* One case: n items with keys from pattern, filtered by "key % 3 != 0"
 * when filtered, ordered or not; true when the page is the model's. */
static bool one_case(int n, int pattern, bool ordered, int descending, long first, long last,
                     bool filtered)
{
    static struct item items[MAX_ITEMS];
    static struct item *model[MAX_ITEMS];
    struct page p;
    int m = 0;
    bool ok = true;

    for (int i = 0; i < n; i++) {
        items[i].key = pattern == 0 ? i : pattern == 1 ? n - i : pattern == 2 ? (i * 7919) % 101
                                                                               : i % 4;
        items[i].order = i;
        items[i].drops = 0;
    }
    page_init(&p, ordered ? compare_items : NULL, &descending, drop_item, NULL, first, last);
    for (int i = 0; i < n; i++) {
        if (filtered && items[i].key % 3 == 0)
            continue;
        model[m++] = &items[i];
        if (!page_offer(&p, &items[i]))
            return false;
    }
    page_finish(&p);
    if (ordered)
        qsort_r(model, (size_t)m, sizeof(*model), model_compare, &descending);
    long lo = first > 0 ? first : 1, hi = last > 0 ? last : m;
    if (hi > m)
        hi = m;
    long want = lo <= hi ? hi - lo + 1 : 0;
    ok = ok && p.matched == m && (long)p.count == want;
    for (long i = 0; ok && i < want; i++)
        ok = p.items[i] == model[lo - 1 + i];
    for (size_t i = 0; ok && i < p.count; i++)
        ok = ((struct item *)p.items[i])->drops == 0;
    page_free(&p);
    for (int i = 0; ok && i < m; i++)
        ok = model[i]->drops == 1;
    return ok;
}

int main(void)
{
    static const long ranges[][2] = {{0, 0}, {1, 1}, {2, 3}, {3, 0}, {0, 2}, {5, 50},
                                     {100, 0}, {3, 2}, {1, 100}, {40, 41}, {0, 1000}};
    static const int sizes[] = {0, 1, 2, 7, 50, 99, 100, 101, 1000, MAX_ITEMS};
    int cases = 0, failures = 0;

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (int pattern = 0; pattern < 4; pattern++)
            for (int mode = 0; mode < 3; mode++)
                for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++)
                    for (int filtered = 0; filtered < 2; filtered++) {
                        bool ok = one_case(sizes[s], pattern, mode > 0, mode == 2, ranges[r][0],
                                           ranges[r][1], filtered);
                        cases++;
                        if (!ok) {
                            failures++;
                            CHECK(false, "page: %d items, pattern %d, mode %d, first %ld, "
                                  "last %ld, filtered %d", sizes[s], pattern, mode, ranges[r][0],
                                  ranges[r][1], filtered);
                        }
                    }
    CHECK(failures == 0, "the page is the model's in %d cases (sorted, reversed, repeating "
          "and tied keys; with and without $orderby, $first, $last)", cases);
    return check_summary();
}
