/*
 * filter.c - parsing and evaluating CIMI $filter expressions.
 *
 * filter_parse() is a small recursive-descent parser over a hand-written
 * lexer.  It checks everything it can against the item type up front
 * (attribute names, operators allowed for each kind, literal values that fit
 * the kind), so that filter_match() never fails: it only walks the tree and
 * compares.  The tree is:
 *
 *   NODE_OR / NODE_AND   a list of operands (children, linked by next)
 *   NODE_COMPARE         attribute op literal (the literal in JSON wire shape)
 *   NODE_PROPERTY        property['key'] op 'value'  (op is = or !=)
 *
 * A value written before the attribute (`2 < cpu`) is stored with the
 * operator flipped (`cpu > 2`).  Every literal is converted once to a
 * struct value_key, the same form item values take during matching and
 * $orderby sorting (filter_compare_values), so all comparison goes through
 * compare_keys().
 *
 * Lexical details:
 *   - strings are '...' or "...", a backslash makes the next character
 *     literal (\' \" \\; \n is just "n");
 *   - integers are [0-9]+ with an optional leading '-';
 *   - dates are unquoted YYYY-MM-DD, optionally followed by
 *     Thh:mm:ss[.fraction] and a Z or +hh:mm / -hh:mm zone (no zone = UTC);
 *     for dateTime attributes a quoted string in that form is accepted too;
 *   - identifiers are [A-Za-z_][A-Za-z0-9_]*; and, or, true, false and
 *     property are keywords (lowercase only);
 *   - a bare UPPERCASE identifier (`state=STARTED`, Sirocco style) is taken
 *     as a string value when the attribute is a string.
 *
 * Error positions in messages are 1-based byte offsets into the text.
 */
#include "cimi/filter.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_MAX_TEXT  4096   /* bytes of expression text */
#define FILTER_MAX_DEPTH 32     /* levels of nested parentheses */
#define TOKEN_SHOW_MAX   40     /* bytes of a token quoted in an error message */

enum filter_op { OP_LT, OP_LE, OP_EQ, OP_GE, OP_GT, OP_NE };

enum node_kind { NODE_OR, NODE_AND, NODE_COMPARE, NODE_PROPERTY };

/* A point in time: seconds since 1970-01-01T00:00:00Z plus nanoseconds. */
struct instant {
    long long sec;
    long nsec;
};

/* One value reduced to what comparisons look at.  `text` points into the
 * JSON value it was taken from and lives as long as that value. */
struct value_key {
    long long number;       /* K_INTEGER; K_BOOLEAN as 0 or 1 */
    struct instant when;    /* K_DATETIME */
    const char *text;       /* K_STRING, K_URI, K_HEX, and the href of a K_REF */
    size_t len;
};

struct filter {
    enum node_kind node;
    struct filter *children;        /* NODE_OR, NODE_AND: first operand */
    struct filter *next;            /* next operand of the parent */
    const struct cimi_attr *attr;   /* NODE_COMPARE */
    enum filter_op op;              /* NODE_COMPARE, NODE_PROPERTY */
    json_t *literal;                /* NODE_COMPARE: wire-shaped value; NODE_PROPERTY: string */
    json_t *key;                    /* NODE_PROPERTY: the property name (a JSON string) */
    struct value_key literal_key;   /* NODE_COMPARE: literal reduced for comparison */
};

/* ------------------------------------------------------------------ */
/* Dates                                                              */
/* ------------------------------------------------------------------ */

static bool is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (month == 2 && is_leap_year(year))
        return 29;
    return days[month - 1];
}

/* Days from 1970-01-01 to year-month-day in the proleptic Gregorian
 * calendar (H. Hinnant's days_from_civil). */
static long long days_from_civil(int year, int month, int day)
{
    long long y = year - (month <= 2 ? 1 : 0);
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long year_of_era = y - era * 400;
    long long shifted_month = month > 2 ? month - 3 : month + 9;
    long long day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    long long day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;

    return era * 146097 + day_of_era - 719468;
}

/* Read exactly `count` decimal digits at s[*i] into *out. */
static bool take_digits(const char *s, size_t len, size_t *i, int count, int *out)
{
    int value = 0;

    for (int n = 0; n < count; n++) {
        if (*i >= len || !isdigit((unsigned char)s[*i]))
            return false;
        value = value * 10 + (s[*i] - '0');
        (*i)++;
    }
    *out = value;
    return true;
}

static bool take_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* Read ".digits" (at least one digit) as nanoseconds; extra digits past
 * nine are ignored. */
static bool take_fraction(const char *s, size_t len, size_t *i, long *nsec)
{
    int ndigits = 0;
    long value = 0;

    while (*i < len && isdigit((unsigned char)s[*i])) {
        if (ndigits < 9) {
            value = value * 10 + (s[*i] - '0');
            ndigits++;
        }
        (*i)++;
    }
    if (ndigits == 0)
        return false;
    while (ndigits++ < 9)
        value *= 10;
    *nsec = value;
    return true;
}

/* Read "Thh:mm:ss[.fraction]" into seconds of the day and nanoseconds. */
static bool take_time(const char *s, size_t len, size_t *i, long long *seconds, long *nsec)
{
    int hour, minute, second;

    if (!take_char(s, len, i, 'T') || !take_digits(s, len, i, 2, &hour) ||
        !take_char(s, len, i, ':') || !take_digits(s, len, i, 2, &minute) ||
        !take_char(s, len, i, ':') || !take_digits(s, len, i, 2, &second))
        return false;
    *nsec = 0;
    if (*i < len && s[*i] == '.') {
        (*i)++;
        if (!take_fraction(s, len, i, nsec))
            return false;
    }
    if (minute > 59 || second > 59)
        return false;
    if (hour > 24 || (hour == 24 && (minute != 0 || second != 0 || *nsec != 0)))
        return false;
    *seconds = hour * 3600LL + minute * 60LL + second;
    return true;
}

/* Read an optional "Z", "+hh:mm" or "-hh:mm" into an offset east of UTC. */
static bool take_zone(const char *s, size_t len, size_t *i, long long *offset_seconds)
{
    int sign, hour, minute;

    *offset_seconds = 0;
    if (*i >= len)
        return true;
    if (s[*i] == 'Z') {
        (*i)++;
        return true;
    }
    if (s[*i] != '+' && s[*i] != '-')
        return false;
    sign = s[*i] == '-' ? -1 : 1;
    (*i)++;
    if (!take_digits(s, len, i, 2, &hour) || !take_char(s, len, i, ':') ||
        !take_digits(s, len, i, 2, &minute))
        return false;
    if (minute > 59 || hour > 14 || (hour == 14 && minute != 0))
        return false;
    *offset_seconds = sign * (hour * 3600LL + minute * 60LL);
    return true;
}

/* Parse an xs:dateTime or xs:date (s[0..len)) into an instant. */
static bool parse_datetime(const char *s, size_t len, struct instant *out)
{
    size_t i = 0;
    int year, month, day;
    long long seconds_of_day = 0, offset = 0;
    long nsec = 0;

    if (!take_digits(s, len, &i, 4, &year) || !take_char(s, len, &i, '-') ||
        !take_digits(s, len, &i, 2, &month) || !take_char(s, len, &i, '-') ||
        !take_digits(s, len, &i, 2, &day))
        return false;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
        return false;
    if (i < len && s[i] == 'T' && !take_time(s, len, &i, &seconds_of_day, &nsec))
        return false;
    if (!take_zone(s, len, &i, &offset) || i != len)
        return false;
    out->sec = days_from_civil(year, month, day) * 86400 + seconds_of_day - offset;
    out->nsec = nsec;
    return true;
}

/* ------------------------------------------------------------------ */
/* Values and comparison                                              */
/* ------------------------------------------------------------------ */

/* Reduce v (an attribute value of the given kind) to a value_key.  False
 * when v is missing, null or not of the kind's shape: such a value counts
 * as absent. */
static bool extract_key(const json_t *v, enum cimi_kind kind, struct value_key *k)
{
    memset(k, 0, sizeof(*k));
    if (v == NULL || json_is_null(v))
        return false;
    switch (kind) {
    case K_INTEGER:
        if (!json_is_integer(v))
            return false;
        k->number = json_integer_value(v);
        return true;
    case K_BOOLEAN:
        if (!json_is_boolean(v))
            return false;
        k->number = json_is_true(v) ? 1 : 0;
        return true;
    case K_DATETIME:
        if (!json_is_string(v))
            return false;
        return parse_datetime(json_string_value(v), json_string_length(v), &k->when);
    case K_STRING:
    case K_URI:
    case K_HEX:
        if (!json_is_string(v))
            return false;
        k->text = json_string_value(v);
        k->len = json_string_length(v);
        return true;
    case K_REF:
        return extract_key(json_object_get(v, "href"), K_STRING, k);
    default:
        /* maps, arrays, collections: present, but not ordered */
        return true;
    }
}

static int compare_numbers(long long a, long long b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c < 0 ? -1 : 1;
    return compare_numbers((long long)alen, (long long)blen);
}

/* hexBinary values are equal regardless of letter case. */
static int compare_hex(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;

    for (size_t i = 0; i < n; i++) {
        int ca = tolower((unsigned char)a[i]), cb = tolower((unsigned char)b[i]);
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return compare_numbers((long long)alen, (long long)blen);
}

static int compare_keys(const struct value_key *a, const struct value_key *b, enum cimi_kind kind)
{
    switch (kind) {
    case K_INTEGER:
    case K_BOOLEAN:
        return compare_numbers(a->number, b->number);
    case K_DATETIME:
        if (a->when.sec != b->when.sec)
            return compare_numbers(a->when.sec, b->when.sec);
        return compare_numbers(a->when.nsec, b->when.nsec);
    case K_STRING:
    case K_URI:
    case K_REF:
        return compare_bytes(a->text, a->len, b->text, b->len);
    case K_HEX:
        return compare_hex(a->text, a->len, b->text, b->len);
    default:
        return 0;
    }
}

int filter_compare_values(const json_t *a, const json_t *b, enum cimi_kind kind)
{
    struct value_key ka, kb;
    bool have_a = extract_key(a, kind, &ka);
    bool have_b = extract_key(b, kind, &kb);

    if (!have_a || !have_b)
        return (have_a ? 1 : 0) - (have_b ? 1 : 0);
    return compare_keys(&ka, &kb, kind);
}

/* ------------------------------------------------------------------ */
/* Operators and kinds                                                */
/* ------------------------------------------------------------------ */

static const char *op_text(enum filter_op op)
{
    switch (op) {
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_EQ: return "=";
    case OP_GE: return ">=";
    case OP_GT: return ">";
    case OP_NE: return "!=";
    }
    return "?";
}

/* The operator that keeps the meaning when the operands swap sides. */
static enum filter_op op_flip(enum filter_op op)
{
    switch (op) {
    case OP_LT: return OP_GT;
    case OP_LE: return OP_GE;
    case OP_GE: return OP_LE;
    case OP_GT: return OP_LT;
    default: return op;
    }
}

/* Does `item op literal` hold, given cmp = compare(item, literal)? */
static bool op_holds(enum filter_op op, int cmp)
{
    switch (op) {
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_EQ: return cmp == 0;
    case OP_GE: return cmp >= 0;
    case OP_GT: return cmp > 0;
    case OP_NE: return cmp != 0;
    }
    return false;
}

static const char *kind_name(enum cimi_kind kind)
{
    switch (kind) {
    case K_STRING: return "string";
    case K_INTEGER: return "integer";
    case K_BOOLEAN: return "boolean";
    case K_DATETIME: return "dateTime";
    case K_URI: return "URI";
    case K_HEX: return "hexBinary";
    case K_REF: return "reference";
    case K_COLLECTION: return "collection";
    case K_MAP: return "map";
    case K_ARRAY: return "array";
    case K_STRING_ARRAY: return "string array";
    case K_OPERATIONS: return "operations";
    }
    return "unknown";
}

/* What a literal for the kind looks like, for error messages. */
static const char *kind_value_phrase(enum cimi_kind kind)
{
    switch (kind) {
    case K_INTEGER: return "an integer";
    case K_BOOLEAN: return "true or false";
    case K_DATETIME: return "a date";
    case K_HEX: return "a quoted hexBinary string";
    case K_REF: return "a quoted href";
    default: return "a quoted string";
    }
}

static bool kind_is_filterable(enum cimi_kind kind)
{
    switch (kind) {
    case K_STRING:
    case K_INTEGER:
    case K_BOOLEAN:
    case K_DATETIME:
    case K_URI:
    case K_HEX:
    case K_REF:
        return true;
    default:
        return false;
    }
}

static bool kind_is_ordered(enum cimi_kind kind)
{
    return kind == K_INTEGER || kind == K_DATETIME;
}

static bool op_allowed(enum cimi_kind kind, enum filter_op op)
{
    return op == OP_EQ || op == OP_NE || kind_is_ordered(kind);
}

/* ------------------------------------------------------------------ */
/* Lexer                                                              */
/* ------------------------------------------------------------------ */

enum token_kind {
    T_END, T_IDENT, T_INT, T_DATE, T_STRING, T_OP, T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET,
};

struct token {
    enum token_kind kind;
    size_t start;       /* byte offset into the text */
    size_t len;         /* bytes, quotes included for T_STRING */
    enum filter_op op;  /* T_OP */
};

static bool is_ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static bool is_date_char(char c)
{
    return isdigit((unsigned char)c) || (c != '\0' && strchr("-:.+TZ", c) != NULL);
}

static size_t skip_space(const char *text, size_t pos)
{
    while (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' || text[pos] == '\n')
        pos++;
    return pos;
}

/* Lex a quoted string starting at text[pos]; tok->len covers both quotes. */
static int lex_string(const char *text, size_t pos, struct token *tok, struct cimi_error *err)
{
    char quote = text[pos];
    size_t i = pos + 1;

    while (text[i] != '\0' && text[i] != quote) {
        if (text[i] == '\\' && text[i + 1] != '\0')
            i++;
        i++;
    }
    if (text[i] == '\0')
        return err_set(err, 400, "$filter", "$filter: unterminated string at position %zu",
                       pos + 1);
    tok->kind = T_STRING;
    tok->len = i + 1 - pos;
    return 0;
}

/* Lex an integer or, when it starts with four digits and '-', a date. */
static void lex_number(const char *text, size_t pos, struct token *tok)
{
    size_t i = pos;

    if (text[i] == '-')
        i++;
    while (isdigit((unsigned char)text[i]))
        i++;
    if (text[pos] != '-' && i - pos == 4 && text[i] == '-') {
        while (is_date_char(text[i]))
            i++;
        tok->kind = T_DATE;
    } else {
        tok->kind = T_INT;
    }
    tok->len = i - pos;
}

/* Lex <, <=, =, >=, >, != at text[pos]; false if none is there. */
static bool lex_operator(const char *text, size_t pos, struct token *tok)
{
    char c = text[pos], next = text[pos + 1];

    tok->kind = T_OP;
    tok->len = next == '=' && c != '=' ? 2 : 1;
    if (c == '<')
        tok->op = next == '=' ? OP_LE : OP_LT;
    else if (c == '>')
        tok->op = next == '=' ? OP_GE : OP_GT;
    else if (c == '=')
        tok->op = OP_EQ;
    else if (c == '!' && next == '=')
        tok->op = OP_NE;
    else
        return false;
    return true;
}

static bool lex_punctuation(char c, struct token *tok)
{
    tok->len = 1;
    switch (c) {
    case '(': tok->kind = T_LPAREN; return true;
    case ')': tok->kind = T_RPAREN; return true;
    case '[': tok->kind = T_LBRACKET; return true;
    case ']': tok->kind = T_RBRACKET; return true;
    default: return false;
    }
}

/* Read the token starting at or after text[pos] (white space skipped). */
static int lex(const char *text, size_t pos, struct token *tok, struct cimi_error *err)
{
    char c;

    pos = skip_space(text, pos);
    c = text[pos];
    tok->start = pos;
    tok->len = 0;
    tok->op = OP_EQ;
    if (c == '\0') {
        tok->kind = T_END;
        return 0;
    }
    if (c == '\'' || c == '"')
        return lex_string(text, pos, tok, err);
    if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)text[pos + 1]))) {
        lex_number(text, pos, tok);
        return 0;
    }
    if (is_ident_start(c)) {
        size_t i = pos;
        while (is_ident_char(text[i]))
            i++;
        tok->kind = T_IDENT;
        tok->len = i - pos;
        return 0;
    }
    if (lex_punctuation(c, tok) || lex_operator(text, pos, tok))
        return 0;
    return err_set(err, 400, "$filter", "$filter: unexpected character '%c' at position %zu",
                   isprint((unsigned char)c) ? c : '?', pos + 1);
}

/* ------------------------------------------------------------------ */
/* Parser                                                             */
/* ------------------------------------------------------------------ */

struct parser {
    const char *text;
    const struct cimi_type *type;
    struct cimi_error *err;
    struct token tok;   /* the current (next unconsumed) token */
    int depth;          /* open parentheses */
};

/* The left operand of a comparison: an attribute or property['key']. */
struct operand {
    const struct cimi_attr *attr;
    json_t *key;        /* property name, owned until handed to a node */
};

static struct filter *parse_or(struct parser *p);
static struct filter *parse_list(struct parser *p, enum node_kind kind, const char *keyword);

static int advance(struct parser *p)
{
    return lex(p->text, p->tok.start + p->tok.len, &p->tok, p->err);
}

static bool token_is(const struct parser *p, const struct token *tok, const char *word)
{
    return tok->kind == T_IDENT && strlen(word) == tok->len &&
           memcmp(p->text + tok->start, word, tok->len) == 0;
}

/* An identifier of capitals, digits and '_' starting with a capital. */
static bool token_is_bare_upper(const struct parser *p, const struct token *tok)
{
    const char *s = p->text + tok->start;

    if (tok->kind != T_IDENT || !isupper((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < tok->len; i++)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* How many bytes of a token to quote in a message, and the mark of a cut. */
static int token_show_len(const struct token *tok)
{
    return (int)(tok->len > TOKEN_SHOW_MAX ? TOKEN_SHOW_MAX : tok->len);
}

static const char *token_show_cut(const struct token *tok)
{
    return tok->len > TOKEN_SHOW_MAX ? "..." : "";
}

static int error_unexpected(struct parser *p, const struct token *tok)
{
    if (tok->kind == T_END)
        return err_set(p->err, 400, "$filter",
                       "$filter: unexpected end of expression at position %zu", tok->start + 1);
    return err_set(p->err, 400, "$filter", "$filter: unexpected token '%.*s%s' at position %zu",
                   token_show_len(tok), p->text + tok->start, token_show_cut(tok),
                   tok->start + 1);
}

static int error_no_memory(struct parser *p)
{
    return err_set(p->err, 500, "$filter", "$filter: out of memory");
}

/* Consume a token of the given kind, or fail naming what is there. */
static int expect(struct parser *p, enum token_kind kind)
{
    if (p->tok.kind != kind)
        return error_unexpected(p, &p->tok);
    return advance(p);
}

static struct filter *node_new(struct parser *p, enum node_kind kind)
{
    struct filter *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        error_no_memory(p);
        return NULL;
    }
    f->node = kind;
    return f;
}

/* The unescaped contents of a T_STRING token as a JSON string. */
static json_t *decode_string(struct parser *p, const struct token *tok)
{
    const char *s = p->text + tok->start + 1;
    size_t n = tok->len - 2, out = 0;
    char *buf = malloc(n + 1);
    json_t *value;

    if (buf == NULL) {
        error_no_memory(p);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        buf[out++] = s[i];
    }
    value = json_stringn(buf, out);
    free(buf);
    if (value == NULL)
        err_set(p->err, 400, "$filter", "$filter: string at position %zu is not valid UTF-8",
                tok->start + 1);
    return value;
}

static json_t *error_value_kind(struct parser *p, const struct cimi_attr *attr,
                                const struct token *tok)
{
    if (tok->kind == T_END) {
        error_unexpected(p, tok);
        return NULL;
    }
    err_set(p->err, 400, "$filter",
            "$filter: %s attribute '%s' needs %s, not '%.*s%s' at position %zu",
            kind_name(attr->kind), attr->name, kind_value_phrase(attr->kind),
            token_show_len(tok), p->text + tok->start, token_show_cut(tok), tok->start + 1);
    return NULL;
}

static json_t *error_bad_date(struct parser *p, const struct token *tok)
{
    err_set(p->err, 400, "$filter", "$filter: invalid date '%.*s%s' at position %zu",
            token_show_len(tok), p->text + tok->start, token_show_cut(tok), tok->start + 1);
    return NULL;
}

static json_t *integer_literal(struct parser *p, const struct cimi_attr *attr,
                               const struct token *tok)
{
    char *end;
    long long value;

    if (tok->kind != T_INT)
        return error_value_kind(p, attr, tok);
    errno = 0;
    value = strtoll(p->text + tok->start, &end, 10);
    if (errno == ERANGE) {
        err_set(p->err, 400, "$filter", "$filter: integer '%.*s' at position %zu is out of range",
                (int)tok->len, p->text + tok->start, tok->start + 1);
        return NULL;
    }
    return json_integer((json_int_t)value);
}

static json_t *boolean_literal(struct parser *p, const struct cimi_attr *attr,
                               const struct token *tok)
{
    if (token_is(p, tok, "true"))
        return json_true();
    if (token_is(p, tok, "false"))
        return json_false();
    return error_value_kind(p, attr, tok);
}

/* A dateTime literal: unquoted, or quoted for a dateTime attribute. */
static json_t *date_literal(struct parser *p, const struct cimi_attr *attr,
                            const struct token *tok)
{
    struct instant when;
    json_t *value;

    if (tok->kind == T_DATE) {
        if (!parse_datetime(p->text + tok->start, tok->len, &when))
            return error_bad_date(p, tok);
        return json_stringn(p->text + tok->start, tok->len);
    }
    if (tok->kind != T_STRING)
        return error_value_kind(p, attr, tok);
    value = decode_string(p, tok);
    if (value != NULL && !parse_datetime(json_string_value(value), json_string_length(value),
                                         &when)) {
        json_decref(value);
        return error_bad_date(p, tok);
    }
    return value;
}

static bool is_hex_binary(const json_t *value)
{
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);

    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return len % 2 == 0;
}

/* A string-like literal: quoted; for K_STRING also a bare UPPERCASE word. */
static json_t *string_literal(struct parser *p, const struct cimi_attr *attr,
                              const struct token *tok)
{
    json_t *value;

    if (attr->kind == K_STRING && token_is_bare_upper(p, tok))
        return json_stringn(p->text + tok->start, tok->len);
    if (tok->kind != T_STRING)
        return error_value_kind(p, attr, tok);
    value = decode_string(p, tok);
    if (value != NULL && attr->kind == K_HEX && !is_hex_binary(value)) {
        json_decref(value);
        return error_value_kind(p, attr, tok);
    }
    return value;
}

/* A reference literal is the href; it is kept as {"href": ...}. */
static json_t *ref_literal(struct parser *p, const struct cimi_attr *attr,
                           const struct token *tok)
{
    json_t *href = string_literal(p, attr, tok);
    json_t *ref;

    if (href == NULL)
        return NULL;
    ref = json_object();
    if (ref == NULL || json_object_set_new(ref, "href", href) != 0) {
        json_decref(ref);
        error_no_memory(p);
        return NULL;
    }
    return ref;
}

/* Convert the value token to the wire shape of attr's kind, or fail. */
static json_t *make_literal(struct parser *p, const struct cimi_attr *attr,
                            const struct token *tok)
{
    json_t *value;

    switch (attr->kind) {
    case K_INTEGER: value = integer_literal(p, attr, tok); break;
    case K_BOOLEAN: value = boolean_literal(p, attr, tok); break;
    case K_DATETIME: value = date_literal(p, attr, tok); break;
    case K_REF: value = ref_literal(p, attr, tok); break;
    default: value = string_literal(p, attr, tok); break;
    }
    if (value == NULL && p->err != NULL && p->err->status == 0)
        error_no_memory(p);
    return value;
}

/* Read `attribute` or `property['key']` at the current token. */
static int parse_operand(struct parser *p, struct operand *o)
{
    struct token name = p->tok;
    char attr_name[128];

    o->attr = NULL;
    o->key = NULL;
    if (name.kind != T_IDENT || token_is(p, &name, "and") || token_is(p, &name, "or"))
        return error_unexpected(p, &name);
    if (token_is(p, &name, "property")) {
        if (model_attr(p->type, "properties") == NULL)
            return err_set(p->err, 400, "$filter", "$filter: %s has no properties",
                           p->type->name != NULL ? p->type->name : "this type");
        if (advance(p) != 0 || expect(p, T_LBRACKET) != 0)
            return -1;
        if (p->tok.kind != T_STRING)
            return error_unexpected(p, &p->tok);
        o->key = decode_string(p, &p->tok);
        if (o->key == NULL || advance(p) != 0 || expect(p, T_RBRACKET) != 0)
            return -1;
        return 0;
    }
    snprintf(attr_name, sizeof(attr_name), "%.*s", (int)name.len, p->text + name.start);
    o->attr = name.len < sizeof(attr_name) ? model_attr(p->type, attr_name) : NULL;
    if (o->attr == NULL)
        return err_set(p->err, 400, "$filter", "$filter: unknown attribute '%s'", attr_name);
    if (!kind_is_filterable(o->attr->kind))
        return err_set(p->err, 400, "$filter",
                       "$filter: %s attribute '%s' cannot be used in a filter",
                       kind_name(o->attr->kind), o->attr->name);
    return advance(p);
}

static int parse_operator(struct parser *p, enum filter_op *op)
{
    if (p->tok.kind != T_OP)
        return error_unexpected(p, &p->tok);
    *op = p->tok.op;
    return advance(p);
}

/* Build property['key'] op 'value'; takes ownership of o->key.  op is as
 * written; reversed when the value came first. */
static struct filter *build_property(struct parser *p, struct operand *o, enum filter_op op,
                                     bool reversed, const struct token *value)
{
    struct filter *f;

    if (op != OP_EQ && op != OP_NE) {
        err_set(p->err, 400, "$filter", "$filter: operator '%s' is not allowed for property['%s']",
                op_text(op), json_string_value(o->key));
        return NULL;
    }
    if (value->kind != T_STRING) {
        error_unexpected(p, value);
        return NULL;
    }
    f = node_new(p, NODE_PROPERTY);
    if (f == NULL)
        return NULL;
    f->op = reversed ? op_flip(op) : op;
    f->key = o->key;
    o->key = NULL;
    f->literal = decode_string(p, value);
    if (f->literal == NULL) {
        filter_free(f);
        return NULL;
    }
    return f;
}

/* Build attribute op value after checking operator and value against the
 * kind.  op is as written; reversed when the value came first. */
static struct filter *build_compare(struct parser *p, const struct cimi_attr *attr,
                                    enum filter_op op, bool reversed, const struct token *value)
{
    struct filter *f;

    if (!op_allowed(attr->kind, op)) {
        err_set(p->err, 400, "$filter", "$filter: operator '%s' is not allowed for %s attribute '%s'",
                op_text(op), kind_name(attr->kind), attr->name);
        return NULL;
    }
    f = node_new(p, NODE_COMPARE);
    if (f == NULL)
        return NULL;
    f->attr = attr;
    f->op = reversed ? op_flip(op) : op;
    f->literal = make_literal(p, attr, value);
    if (f->literal == NULL) {
        filter_free(f);
        return NULL;
    }
    extract_key(f->literal, attr->kind, &f->literal_key);
    return f;
}

static struct filter *build_comparison(struct parser *p, struct operand *o, enum filter_op op,
                                       bool reversed, const struct token *value)
{
    if (o->key != NULL)
        return build_property(p, o, op, reversed, value);
    return build_compare(p, o->attr, op, reversed, value);
}

/* Is the current token a value written before its attribute?  Literals
 * are; so is a bare UPPERCASE word followed by an operator and an attribute. */
static bool value_comes_first(struct parser *p)
{
    struct token op, attr;
    char name[128];

    if (p->tok.kind == T_INT || p->tok.kind == T_DATE || p->tok.kind == T_STRING)
        return true;
    if (token_is(p, &p->tok, "true") || token_is(p, &p->tok, "false"))
        return true;
    if (!token_is_bare_upper(p, &p->tok) || p->tok.len >= sizeof(name))
        return false;
    snprintf(name, sizeof(name), "%.*s", (int)p->tok.len, p->text + p->tok.start);
    if (model_attr(p->type, name) != NULL)
        return false;
    if (lex(p->text, p->tok.start + p->tok.len, &op, NULL) != 0 || op.kind != T_OP)
        return false;
    if (lex(p->text, op.start + op.len, &attr, NULL) != 0 || attr.kind != T_IDENT)
        return false;
    return true;
}

/* Comp := Attribute Op Value | Value Op Attribute | PropExpr */
static struct filter *parse_comparison(struct parser *p)
{
    struct operand o = {NULL, NULL};
    struct token value;
    enum filter_op op = OP_EQ;
    struct filter *f = NULL;

    if (value_comes_first(p)) {
        value = p->tok;
        if (advance(p) == 0 && parse_operator(p, &op) == 0 && parse_operand(p, &o) == 0)
            f = build_comparison(p, &o, op, true, &value);
    } else if (parse_operand(p, &o) == 0 && parse_operator(p, &op) == 0) {
        value = p->tok;
        if (value.kind == T_END)
            error_unexpected(p, &value);
        else if (advance(p) == 0)
            f = build_comparison(p, &o, op, false, &value);
    }
    json_decref(o.key);
    return f;
}

/* "(" Filter ")" | Comp */
static struct filter *parse_primary(struct parser *p)
{
    struct filter *f;

    if (p->tok.kind != T_LPAREN)
        return parse_comparison(p);
    if (p->depth >= FILTER_MAX_DEPTH) {
        err_set(p->err, 400, "$filter",
                "$filter: parentheses nested deeper than %d at position %zu", FILTER_MAX_DEPTH,
                p->tok.start + 1);
        return NULL;
    }
    if (advance(p) != 0)
        return NULL;
    p->depth++;
    f = parse_or(p);
    p->depth--;
    if (f != NULL && expect(p, T_RPAREN) != 0) {
        filter_free(f);
        return NULL;
    }
    return f;
}

/* Parse one operand of a list of the given kind: an AndExpr inside an
 * or-list, a parenthesised filter or comparison inside an and-list. */
static struct filter *parse_list_operand(struct parser *p, enum node_kind kind)
{
    if (kind == NODE_OR)
        return parse_list(p, NODE_AND, "and");
    return parse_primary(p);
}

/* Operand (keyword Operand)*, gathered under one node of the given kind;
 * a single operand is returned as it is. */
static struct filter *parse_list(struct parser *p, enum node_kind kind, const char *keyword)
{
    struct filter *first, *list, *last, *next;

    first = parse_list_operand(p, kind);
    if (first == NULL || !token_is(p, &p->tok, keyword))
        return first;
    list = node_new(p, kind);
    if (list == NULL) {
        filter_free(first);
        return NULL;
    }
    list->children = last = first;
    while (token_is(p, &p->tok, keyword)) {
        next = advance(p) == 0 ? parse_list_operand(p, kind) : NULL;
        if (next == NULL) {
            filter_free(list);
            return NULL;
        }
        last->next = next;
        last = next;
    }
    return list;
}

/* Filter := AndExpr ( "or" AndExpr )*   AndExpr := Comp ( "and" Comp )* */
static struct filter *parse_or(struct parser *p)
{
    return parse_list(p, NODE_OR, "or");
}

struct filter *filter_parse(const char *text, const struct cimi_type *t, struct cimi_error *err)
{
    struct parser p = {text, t, err, {T_END, 0, 0, OP_EQ}, 0};
    struct filter *f;
    size_t len;

    err_clear(err);
    if (text == NULL || t == NULL) {
        err_set(err, 400, "$filter", "$filter: no expression");
        return NULL;
    }
    len = strnlen(text, FILTER_MAX_TEXT + 1);
    if (len > FILTER_MAX_TEXT) {
        err_set(err, 400, "$filter", "$filter: expression longer than %d bytes", FILTER_MAX_TEXT);
        return NULL;
    }
    if (skip_space(text, 0) == len) {
        err_set(err, 400, "$filter", "$filter: empty expression");
        return NULL;
    }
    if (lex(text, 0, &p.tok, err) != 0)
        return NULL;
    f = parse_or(&p);
    if (f != NULL && p.tok.kind != T_END) {
        error_unexpected(&p, &p.tok);
        filter_free(f);
        return NULL;
    }
    return f;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                         */
/* ------------------------------------------------------------------ */

/* An item as the evaluator sees it: a document, or a function giving the
 * text of an attribute (filter_match_text). */
struct item_view {
    const json_t *doc;
    filter_text_fn text;
    void *ctx;
};

/* The value of attribute a of the item, reduced like extract_key. */
static bool item_key(const struct item_view *item, const struct cimi_attr *a, struct value_key *k)
{
    const char *text;
    size_t len;

    if (item->doc != NULL || item->text == NULL)
        return extract_key(json_object_get(item->doc, a->name), a->kind, k);
    memset(k, 0, sizeof(*k));
    if (!item->text(item->ctx, a, &text, &len) || text == NULL)
        return false;
    switch (a->kind) {
    case K_DATETIME:
        return parse_datetime(text, len, &k->when);
    case K_STRING:
    case K_URI:
    case K_HEX:
    case K_REF:
        k->text = text;
        k->len = len;
        return true;
    default:
        return false;   /* not a text kind: filter_names_only keeps these away */
    }
}

static bool match_node(const struct filter *f, const struct item_view *item);

static bool match_compare(const struct filter *f, const struct item_view *item)
{
    struct value_key k;

    if (!item_key(item, f->attr, &k))
        return f->op == OP_NE;
    return op_holds(f->op, compare_keys(&k, &f->literal_key, f->attr->kind));
}

static bool match_property(const struct filter *f, const struct item_view *item)
{
    const json_t *properties = json_object_get(item->doc, "properties");
    const json_t *value = json_object_get(properties, json_string_value(f->key));
    bool equal = json_is_string(value) && json_equal(value, f->literal);

    return f->op == OP_EQ ? equal : !equal;
}

static bool match_list(const struct filter *f, const struct item_view *item)
{
    bool want = f->node == NODE_OR;   /* or: stop at the first true; and: at the first false */

    for (const struct filter *c = f->children; c != NULL; c = c->next)
        if (match_node(c, item) == want)
            return want;
    return !want;
}

static bool match_node(const struct filter *f, const struct item_view *item)
{
    switch (f->node) {
    case NODE_OR:
    case NODE_AND:
        return match_list(f, item);
    case NODE_COMPARE:
        return match_compare(f, item);
    case NODE_PROPERTY:
        return match_property(f, item);
    }
    return false;
}

bool filter_match(const struct filter *f, const json_t *item)
{
    struct item_view view = {item, NULL, NULL};

    if (f == NULL)
        return true;
    return match_node(f, &view);
}

bool filter_match_text(const struct filter *f, filter_text_fn text, void *ctx)
{
    struct item_view view = {NULL, text, ctx};

    if (f == NULL)
        return true;
    return match_node(f, &view);
}

bool filter_names_only(const struct filter *f, bool (*named)(const struct cimi_attr *a))
{
    if (f == NULL)
        return true;
    switch (f->node) {
    case NODE_OR:
    case NODE_AND:
        for (const struct filter *c = f->children; c != NULL; c = c->next)
            if (!filter_names_only(c, named))
                return false;
        return true;
    case NODE_COMPARE:
        return named(f->attr);
    case NODE_PROPERTY:
        return false;
    }
    return false;
}

int filter_compare_texts(const char *a, const char *b, enum cimi_kind kind)
{
    struct value_key ka, kb;
    bool have_a, have_b;
    int c;

    if (kind == K_DATETIME) {
        /* an unparsable dateTime counts as missing, as in extract_key */
        have_a = a != NULL && parse_datetime(a, strlen(a), &ka.when);
        have_b = b != NULL && parse_datetime(b, strlen(b), &kb.when);
        if (!have_a || !have_b)
            return (have_a ? 1 : 0) - (have_b ? 1 : 0);
        return compare_keys(&ka, &kb, kind);
    }
    if (a == NULL || b == NULL)
        return (a != NULL ? 1 : 0) - (b != NULL ? 1 : 0);
    switch (kind) {
    case K_HEX:
        return compare_hex(a, strlen(a), b, strlen(b));
    default:
        /* bytewise, a prefix first: compare_bytes on text without NULs */
        c = strcmp(a, b);
        return c < 0 ? -1 : c > 0;
    }
}

void filter_free(struct filter *f)
{
    struct filter *child, *next;

    if (f == NULL)
        return;
    for (child = f->children; child != NULL; child = next) {
        next = child->next;
        filter_free(child);
    }
    json_decref(f->literal);
    json_decref(f->key);
    free(f);
}
