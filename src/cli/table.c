/*
 * table.c - the readable default output.
 *
 * A collection is printed as a table whose columns depend on the item type
 * (machines: NAME STATE CPU MEMORY ID), with widths fitted to the content
 * and, on a terminal, to its width (long cells are cut with "~").  Columns
 * empty in every row are left out.  A single resource is printed as
 * "attribute  value" lines.  Every cell is made printable first.
 */
#include "cli/output.h"

#include <stdlib.h>
#include <string.h>

#include "cli/discovery.h"

#define CELL_MAX 512
#define MAX_COLUMNS 8
#define MIN_SHRINK 8

enum col_kind {
    C_TEXT,     /* the string or number as it is */
    C_SEGMENT,  /* last path segment of a URI string */
    C_REF,      /* last path segment of a reference's href */
    C_KIB,      /* size in KiB, readable */
    C_DISKS,    /* total capacity of a disks array, readable */
    C_PERCENT,  /* integer percentage */
};

struct column {
    const char *title;
    const char *attr;
    enum col_kind kind;
};

struct type_columns {
    const char *type;
    struct column cols[MAX_COLUMNS];
};

static const struct type_columns type_columns[] = {
    {"Machine", {{"NAME", "name", C_TEXT}, {"STATE", "state", C_TEXT}, {"CPU", "cpu", C_TEXT},
                 {"MEMORY", "memory", C_KIB}, {"ID", "id", C_SEGMENT}}},
    {"MachineConfiguration", {{"NAME", "name", C_TEXT}, {"CPU", "cpu", C_TEXT},
                              {"MEMORY", "memory", C_KIB}, {"DISK", "disks", C_DISKS},
                              {"ARCH", "cpuArch", C_TEXT}, {"ID", "id", C_SEGMENT}}},
    {"MachineImage", {{"NAME", "name", C_TEXT}, {"STATE", "state", C_TEXT},
                      {"TYPE", "type", C_TEXT}, {"ID", "id", C_SEGMENT}}},
    {"MachineTemplate", {{"NAME", "name", C_TEXT}, {"CONFIG", "machineConfig", C_REF},
                         {"IMAGE", "machineImage", C_REF}, {"STATE", "initialState", C_TEXT},
                         {"ID", "id", C_SEGMENT}}},
    {"Credential", {{"NAME", "name", C_TEXT}, {"USER", "userName", C_TEXT},
                    {"ID", "id", C_SEGMENT}}},
    {"CredentialTemplate", {{"NAME", "name", C_TEXT}, {"USER", "userName", C_TEXT},
                            {"ID", "id", C_SEGMENT}}},
    {"Job", {{"ID", "id", C_SEGMENT}, {"STATE", "state", C_TEXT},
             {"PROGRESS", "progress", C_PERCENT}, {"ACTION", "action", C_SEGMENT},
             {"TARGET", "targetResource", C_REF}, {"MESSAGE", "statusMessage", C_TEXT}}},
    {"ResourceMetadata", {{"NAME", "name", C_TEXT}, {"TYPE", "typeURI", C_TEXT},
                          {"ID", "id", C_SEGMENT}}},
    {"Disk", {{"NAME", "name", C_TEXT}, {"CAPACITY", "capacity", C_KIB},
              {"LOCATION", "initialLocation", C_TEXT}, {"ID", "id", C_SEGMENT}}},
    {"MachineVolume", {{"ID", "id", C_SEGMENT}, {"LOCATION", "initialLocation", C_TEXT},
                       {"VOLUME", "volume", C_REF}}},
    {NULL, {{"NAME", "name", C_TEXT}, {"STATE", "state", C_TEXT},
            {"DESCRIPTION", "description", C_TEXT}, {"ID", "id", C_SEGMENT}}},
};

void table_human_kib(long long kib, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)kib;
    size_t u = 0;

    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(long long)v)
        snprintf(buf, len, "%lld %s", (long long)v, units[u]);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* Display width of a UTF-8 string: one column per code point. */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Cut s to at most width columns, marking the cut with '~'. */
static void cut_to_width(char *s, size_t width)
{
    size_t w = 0;
    char *p = s;

    if (display_width(s) <= width || width == 0)
        return;
    for (; *p != '\0'; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (w + 1 == width)
                break;
            w++;
        }
    }
    p[0] = '~';
    p[1] = '\0';
}

static void scalar_text(const json_t *v, char *buf, size_t len)
{
    const char *s;

    buf[0] = '\0';
    if (json_is_string(v)) {
        s = json_string_value(v);
        cli_printable(s, strlen(s), buf, len);
    } else if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, len, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    }
}

static long long disks_total(const json_t *disks)
{
    long long total = 0;
    size_t i;
    json_t *d;

    json_array_foreach(disks, i, d)
        total += json_integer_value(json_object_get(d, "capacity"));
    return total;
}

static void cell_text(const json_t *item, const struct column *c, char *buf, size_t len)
{
    const json_t *v = json_object_get(item, c->attr);
    char seg[CELL_MAX];

    buf[0] = '\0';
    if (v == NULL)
        return;
    switch (c->kind) {
    case C_TEXT:
        scalar_text(v, buf, len);
        break;
    case C_SEGMENT:
        if (json_is_string(v) && disco_last_segment(json_string_value(v), seg, sizeof(seg))[0])
            cli_printable(seg, strlen(seg), buf, len);
        else
            scalar_text(v, buf, len);
        break;
    case C_REF:
        disco_last_segment(disco_str(v, "href"), seg, sizeof(seg));
        cli_printable(seg, strlen(seg), buf, len);
        break;
    case C_KIB:
        if (json_is_integer(v))
            table_human_kib(json_integer_value(v), buf, len);
        break;
    case C_DISKS:
        if (json_array_size(v) > 0)
            table_human_kib(disks_total(v), buf, len);
        break;
    case C_PERCENT:
        if (json_is_integer(v))
            snprintf(buf, len, "%" JSON_INTEGER_FORMAT "%%", json_integer_value(v));
        break;
    }
}

static const struct type_columns *columns_for(const json_t *doc)
{
    const char *uri = disco_str(doc, "resourceURI");
    const char *slash = uri ? strrchr(uri, '/') : NULL;
    char type[128];
    size_t i;

    snprintf(type, sizeof(type), "%s", slash ? slash + 1 : "");
    if (strlen(type) > 10 && strcmp(type + strlen(type) - 10, "Collection") == 0)
        type[strlen(type) - 10] = '\0';
    for (i = 0; type_columns[i].type != NULL; i++)
        if (strcmp(type_columns[i].type, type) == 0)
            break;
    return &type_columns[i];
}

/* The cells of a table: rows x ncols strings of CELL_MAX bytes. */
struct table {
    size_t nrows, ncols;
    char (*cells)[CELL_MAX];
    size_t width[MAX_COLUMNS];
    bool used[MAX_COLUMNS];
};

static char *cell(struct table *t, size_t row, size_t col)
{
    return t->cells[row * t->ncols + col];
}

/* Fill the table; row 0 holds the titles.  -1 when out of memory. */
static int table_fill(struct table *t, const struct type_columns *tc, const json_t *items)
{
    size_t i, c;
    json_t *item;

    for (t->ncols = 0; t->ncols < MAX_COLUMNS && tc->cols[t->ncols].title; t->ncols++)
        ;
    t->nrows = json_array_size(items) + 1;
    t->cells = calloc(t->nrows * t->ncols, CELL_MAX);
    if (t->cells == NULL)
        return -1;
    for (c = 0; c < t->ncols; c++)
        snprintf(cell(t, 0, c), CELL_MAX, "%s", tc->cols[c].title);
    json_array_foreach(items, i, item)
        for (c = 0; c < t->ncols; c++) {
            cell_text(item, &tc->cols[c], cell(t, i + 1, c), CELL_MAX);
            t->used[c] |= cell(t, i + 1, c)[0] != '\0';
        }
    return 0;
}

static size_t total_width(const struct table *t)
{
    size_t total = 0, shown = 0;

    for (size_t c = 0; c < t->ncols; c++)
        if (t->used[c]) {
            total += t->width[c];
            shown++;
        }
    return total + (shown > 0 ? 2 * (shown - 1) : 0);
}

/* Column widths from the content, then narrowed to fit `limit` columns by
 * shrinking the widest column that is not the id. */
static void table_fit(struct table *t, const struct type_columns *tc, int limit)
{
    for (size_t c = 0; c < t->ncols; c++)
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = display_width(cell(t, r, c));
            if (w > t->width[c])
                t->width[c] = w;
        }
    while (limit > 0 && total_width(t) > (size_t)limit) {
        size_t widest = t->ncols;
        for (size_t c = 0; c < t->ncols; c++)
            if (t->used[c] && strcmp(tc->cols[c].title, "ID") != 0 &&
                t->width[c] > MIN_SHRINK && (widest == t->ncols || t->width[c] > t->width[widest]))
                widest = c;
        if (widest == t->ncols)
            break;
        t->width[widest]--;
    }
}

static void table_print(FILE *out, struct table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        size_t last = 0;
        bool first = true;
        for (size_t c = 0; c < t->ncols; c++)
            if (t->used[c])
                last = c;
        for (size_t c = 0; c < t->ncols; c++) {
            char *s = cell(t, r, c);
            if (!t->used[c])
                continue;
            cut_to_width(s, t->width[c]);
            fprintf(out, "%s%s", first ? "" : "  ", s);
            if (c != last)
                fprintf(out, "%*s", (int)(t->width[c] - display_width(s)), "");
            first = false;
        }
        fputc('\n', out);
    }
}

void table_print_collection(FILE *out, const json_t *doc, int width)
{
    const struct type_columns *tc = columns_for(doc);
    const json_t *items = disco_items(doc);
    json_int_t count = json_integer_value(json_object_get(doc, "count"));
    struct table t;
    bool any_used = false;

    memset(&t, 0, sizeof(t));
    if (json_array_size(items) == 0) {
        fprintf(out, "(no items)\n");
        return;
    }
    if (table_fill(&t, tc, items) < 0) {
        fprintf(stderr, "cimi: out of memory\n");
        return;
    }
    for (size_t c = 0; c < t.ncols; c++)
        any_used |= t.used[c];
    for (size_t c = 0; c < t.ncols && !any_used; c++)
        t.used[c] = true;
    table_fit(&t, tc, width);
    table_print(out, &t);
    if (count > (json_int_t)json_array_size(items))
        fprintf(out, "(%zu of %" JSON_INTEGER_FORMAT " shown)\n", json_array_size(items), count);
    free(t.cells);
}

/* ---- a single resource ---- */

static void compact_value(const json_t *v, char *buf, size_t len);

/* {"a": 1, "b": "x"} as "a=1 b=x"; a reference as its href. */
static void compact_object(const json_t *obj, char *buf, size_t len)
{
    const char *key, *href = disco_str(obj, "href");
    json_t *v;
    size_t used = 0;
    char part[CELL_MAX];

    buf[0] = '\0';
    if (href != NULL && json_object_size(obj) == 1) {
        cli_printable(href, strlen(href), buf, len);
        return;
    }
    json_object_foreach((json_t *)obj, key, v) {
        if (used + 1 >= len)
            break;
        compact_value(v, part, sizeof(part));
        used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", used ? " " : "", key, part);
    }
}

static void compact_value(const json_t *v, char *buf, size_t len)
{
    if (json_is_object(v))
        compact_object(v, buf, len);
    else if (json_is_array(v))
        snprintf(buf, len, "[%zu items]", json_array_size(v));
    else
        scalar_text(v, buf, len);
}

static void print_operations(FILE *out, const json_t *doc, int keyw)
{
    char text[CELL_MAX];

    disco_ops_text(doc, text, sizeof(text));
    fprintf(out, "%-*s  %s\n", keyw, "operations", text);
}

static void print_array(FILE *out, const char *key, const json_t *arr, int keyw)
{
    char text[CELL_MAX];
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) {
        compact_value(v, text, sizeof(text));
        fprintf(out, "%-*s  %s\n", keyw, i == 0 ? key : "", text);
    }
}

static void print_member(FILE *out, const char *key, const json_t *v, int keyw)
{
    char text[CELL_MAX], human[64];

    if (json_is_array(v)) {
        print_array(out, key, v, keyw);
        return;
    }
    compact_value(v, text, sizeof(text));
    if ((strcmp(key, "memory") == 0 || strcmp(key, "capacity") == 0) && json_is_integer(v)) {
        table_human_kib(json_integer_value(v), human, sizeof(human));
        fprintf(out, "%-*s  %s (%s KiB)\n", keyw, key, human, text);
        return;
    }
    fprintf(out, "%-*s  %s\n", keyw, key, text);
}

void table_print_resource(FILE *out, const json_t *doc)
{
    const char *key;
    json_t *v;
    int keyw = 10;
    char name[128];

    json_object_foreach((json_t *)doc, key, v)
        if (strcmp(key, "resourceURI") != 0 && (int)strlen(key) > keyw)
            keyw = (int)strlen(key) < 40 ? (int)strlen(key) : 40;
    json_object_foreach((json_t *)doc, key, v) {
        if (strcmp(key, "resourceURI") == 0)
            continue;
        cli_printable(key, strlen(key), name, sizeof(name));
        if (strcmp(key, "operations") == 0)
            print_operations(out, doc, keyw);
        else
            print_member(out, name, v, keyw);
    }
}
