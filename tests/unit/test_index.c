/*
 * test_index.c - the in-memory index of stored rows (src/store/index.c):
 * changes appear only when published, in creation order, replaced and
 * removed by seq; a snapshot lists by parent and tenant like
 * store_ops.list and stays readable while the index changes under it
 * (ASan reports any entry freed too early); a failed change drops the index.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "store/index.h"

static struct store_entry *entry(long long seq, long long version, const char *tenant,
                                 const char *parent, const char *name)
{
    char id[64];

    snprintf(id, sizeof(id), "machines/m%lld", seq);
    return index_entry_new(seq, version, id, "Machine", tenant, parent, name,
                           "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "STOPPED", NULL);
}

/* The names of a snapshot's listed entries, comma-separated. */
static const char *listed(const char *parent, const char *tenant)
{
    static char out[4096];
    struct store_snapshot s;
    struct cimi_error err;
    size_t len = 0;

    out[0] = '\0';
    if (index_snapshot("Machine", parent, tenant, &s, &err) != 0)
        return "(error)";
    for (size_t i = 0; i < s.count; i++)
        if (store_snapshot_lists(&s, i))
            len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len ? "," : "",
                                    s.entries[i]->name ? s.entries[i]->name : "-");
    store_snapshot_free(&s);
    return out;
}

int main(void)
{
    struct index_changes c = {NULL, 0, 0, false};
    struct store_snapshot held;
    struct cimi_error err;

    CHECK(!index_ready(), "not built at first");
    CHECK(index_snapshot("Machine", NULL, NULL, &held, &err) != 0, "no snapshot before it is built");

    index_changes_put(&c, entry(1, 1, "a", "", "one"));
    index_changes_put(&c, entry(3, 1, "b", "", "three"));
    index_changes_put(&c, entry(2, 1, "", "", "two"));
    index_load(&c);
    CHECK(index_ready(), "built by index_load");
    CHECK(strcmp(listed(NULL, NULL), "one,two,three") == 0, "creation order: %s",
          listed(NULL, NULL));
    CHECK(strcmp(listed("", "a"), "one,two") == 0, "tenant a sees its rows and shared ones: %s",
          listed("", "a"));
    CHECK(strcmp(listed("", "b"), "two,three") == 0, "tenant b: %s", listed("", "b"));
    CHECK(strcmp(listed("machines/x", NULL), "") == 0, "no rows under another parent");

    /* a transaction: nothing shows before it is published */
    index_changes_put(&c, entry(4, 1, "a", "", "four"));
    index_changes_put(&c, entry(1, 2, "a", "", "one-renamed"));
    index_changes_remove(&c, "Machine", 3);
    CHECK(strcmp(listed(NULL, NULL), "one,two,three") == 0, "unpublished changes do not show");
    CHECK(index_snapshot("Machine", NULL, NULL, &held, &err) == 0, "a snapshot held across changes");
    index_publish(&c);
    CHECK(strcmp(listed(NULL, NULL), "one-renamed,two,four") == 0,
          "published: replaced, removed, added: %s", listed(NULL, NULL));
    /* the held snapshot still reads the entries as they were */
    CHECK(held.count == 3 && strcmp(held.entries[0]->name, "one") == 0 &&
          strcmp(held.entries[2]->name, "three") == 0 && held.entries[0]->version == 1,
          "a snapshot taken before still reads the old entries");
    store_snapshot_free(&held);

    /* a rollback */
    index_changes_put(&c, entry(5, 1, "a", "", "five"));
    index_changes_remove(&c, "Machine", 2);
    index_changes_drop(&c);
    CHECK(strcmp(listed(NULL, NULL), "one-renamed,two,four") == 0, "dropped changes never show");

    /* many removals: holes are closed, order kept */
    for (long long seq = 10; seq < 3010; seq++)
        index_changes_put(&c, entry(seq, 1, "a", "", seq == 3009 ? "last" : NULL));
    index_publish(&c);
    for (long long seq = 10; seq < 3009; seq++)
        index_changes_remove(&c, "Machine", seq);
    index_publish(&c);
    CHECK(strcmp(listed(NULL, NULL), "one-renamed,two,four,last") == 0,
          "after 2,999 removals: %s", listed(NULL, NULL));

    /* a change that could not be recorded drops the index (rebuilt later) */
    index_changes_put(&c, NULL);
    index_publish(&c);
    CHECK(!index_ready(), "a failed change drops the index");

    index_reset();
    free(c.v);
    return check_summary();
}
