/*
 * test_filter.c - unit tests of the $filter parser and evaluator
 * (src/cimi/filter.c): grammar, type checks, error messages, limits,
 * evaluation of every operator and kind, and filter_compare_values.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cimi/filter.h"

/* Parse text for type t and evaluate it on item: 1 match, 0 no match,
 * -1 parse error (the message is printed). */
static int eval(const char *text, const struct cimi_type *t, const json_t *item)
{
    struct cimi_error err;
    struct filter *f = filter_parse(text, t, &err);
    int result;

    if (f == NULL) {
        printf("# parse error for [%s]: %s\n", text, err.message);
        return -1;
    }
    result = filter_match(f, item) ? 1 : 0;
    filter_free(f);
    return result;
}

/* Does parsing text fail with status 400, attribute "$filter" and exactly
 * the expected message? */
static bool fails_with(const char *text, const struct cimi_type *t, const char *expected)
{
    struct cimi_error err;
    struct filter *f = filter_parse(text, t, &err);

    if (f != NULL) {
        printf("# [%s] parsed but should have failed\n", text);
        filter_free(f);
        return false;
    }
    if (err.status != 400 || strcmp(err.attribute, "$filter") != 0 ||
        strcmp(err.message, expected) != 0) {
        printf("# [%s] got %d '%s' '%s'\n", text, err.status, err.attribute, err.message);
        return false;
    }
    return true;
}

/* Does parsing text fail with a message starting with prefix? */
static bool fails_starting(const char *text, const struct cimi_type *t, const char *prefix)
{
    struct cimi_error err;
    struct filter *f = filter_parse(text, t, &err);

    if (f != NULL) {
        filter_free(f);
        return false;
    }
    if (err.status != 400 || strncmp(err.message, prefix, strlen(prefix)) != 0) {
        printf("# [%s] got %d '%s'\n", text, err.status, err.message);
        return false;
    }
    return true;
}

static json_t *make_machine(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:{s:s}, s:{s:s, s:s}}",
                     "id", "http://h/machines/1",
                     "name", "web",
                     "description", "front end",
                     "state", "STARTED",
                     "cpu", 2,
                     "memory", 4096,
                     "created", "2012-01-01T12:00:00Z",
                     "updated", "2012-06-01T00:00:00.500+02:00",
                     "latestSnapshot", "href", "http://h/images/7",
                     "properties", "owner", "bob", "tier", "front");
}

static void test_integers(const json_t *m)
{
    CHECK(eval("cpu=2", &t_machine, m) == 1, "int =");
    CHECK(eval("cpu=3", &t_machine, m) == 0, "int = false");
    CHECK(eval("cpu!=2", &t_machine, m) == 0, "int != false");
    CHECK(eval("cpu!=3", &t_machine, m) == 1, "int !=");
    CHECK(eval("cpu<3", &t_machine, m) == 1, "int <");
    CHECK(eval("cpu<2", &t_machine, m) == 0, "int < false");
    CHECK(eval("cpu<=2", &t_machine, m) == 1, "int <=");
    CHECK(eval("cpu<=1", &t_machine, m) == 0, "int <= false");
    CHECK(eval("cpu>1", &t_machine, m) == 1, "int >");
    CHECK(eval("cpu>2", &t_machine, m) == 0, "int > false");
    CHECK(eval("cpu>=2", &t_machine, m) == 1, "int >=");
    CHECK(eval("cpu>=3", &t_machine, m) == 0, "int >= false");
    CHECK(eval("memory>=4096", &t_machine, m) == 1, "int larger value");
    CHECK(eval("cpu=02", &t_machine, m) == 1, "int with leading zero");
}

static void test_reversed(const json_t *m)
{
    CHECK(eval("2=cpu", &t_machine, m) == 1, "reversed =");
    CHECK(eval("3!=cpu", &t_machine, m) == 1, "reversed !=");
    CHECK(eval("3>cpu", &t_machine, m) == 1, "reversed > means cpu < 3");
    CHECK(eval("2>cpu", &t_machine, m) == 0, "reversed > false");
    CHECK(eval("1<cpu", &t_machine, m) == 1, "reversed < means cpu > 1");
    CHECK(eval("2<cpu", &t_machine, m) == 0, "reversed < false");
    CHECK(eval("2<=cpu", &t_machine, m) == 1, "reversed <=");
    CHECK(eval("3<=cpu", &t_machine, m) == 0, "reversed <= false");
    CHECK(eval("2>=cpu", &t_machine, m) == 1, "reversed >=");
    CHECK(eval("1>=cpu", &t_machine, m) == 0, "reversed >= false");
    CHECK(eval("'web'=name", &t_machine, m) == 1, "reversed string");
    CHECK(eval("2012-01-01T11:00:00Z<created", &t_machine, m) == 1, "reversed date");
    CHECK(eval("'bob'=property['owner']", &t_machine, m) == 1, "reversed property");
    CHECK(eval("STARTED=state", &t_machine, m) == 1, "reversed bare word");
}

static void test_strings(const json_t *m)
{
    json_t *q = json_pack("{s:s, s:s}", "name", "it's \"q\"", "description", "a\\b");

    CHECK(eval("name='web'", &t_machine, m) == 1, "string = single quotes");
    CHECK(eval("name=\"web\"", &t_machine, m) == 1, "string = double quotes");
    CHECK(eval("name='Web'", &t_machine, m) == 0, "string = is case-sensitive");
    CHECK(eval("name!='web'", &t_machine, m) == 0, "string != false");
    CHECK(eval("name!='db'", &t_machine, m) == 1, "string !=");
    CHECK(eval("name=''", &t_machine, m) == 0, "empty string");
    CHECK(eval("description='front end'", &t_machine, m) == 1, "string with space");
    CHECK(eval("name='it\\'s \"q\"'", &t_machine, q) == 1, "escaped single quote");
    CHECK(eval("name=\"it's \\\"q\\\"\"", &t_machine, q) == 1, "escaped double quote");
    CHECK(eval("description='a\\\\b'", &t_machine, q) == 1, "escaped backslash");
    CHECK(eval("id='http://h/machines/1'", &t_machine, m) == 1, "URI =");
    CHECK(eval("id!='http://h/machines/2'", &t_machine, m) == 1, "URI !=");
    CHECK(eval("state=STARTED", &t_machine, m) == 1, "bare uppercase value");
    CHECK(eval("state!=STOPPED", &t_machine, m) == 1, "bare uppercase value !=");
    CHECK(eval("state=STARTED_2", &t_machine, m) == 0, "bare uppercase with _ and digit");
    CHECK(eval("name='caf\xc3\xa9'", &t_machine, m) == 0, "UTF-8 literal");
    json_decref(q);
}

static void test_booleans_hex_refs(const json_t *m)
{
    json_t *action = json_pack("{s:s, s:b}", "action", "http://h/action/start", "force", 1);
    json_t *cred = json_pack("{s:s, s:s}", "userName", "root", "key", "A1B2");

    CHECK(eval("force=true", &t_action, action) == 1, "boolean = true");
    CHECK(eval("force=false", &t_action, action) == 0, "boolean = false");
    CHECK(eval("force!=false", &t_action, action) == 1, "boolean !=");
    CHECK(eval("true=force", &t_action, action) == 1, "boolean reversed");
    CHECK(eval("key='a1b2'", &t_credential, cred) == 1, "hex case-insensitive");
    CHECK(eval("key='A1B3'", &t_credential, cred) == 0, "hex different");
    CHECK(eval("key!='A1B3'", &t_credential, cred) == 1, "hex !=");
    CHECK(eval("latestSnapshot='http://h/images/7'", &t_machine, m) == 1, "ref by href");
    CHECK(eval("latestSnapshot='http://h/images/8'", &t_machine, m) == 0, "ref other href");
    CHECK(eval("latestSnapshot!='http://h/images/8'", &t_machine, m) == 1, "ref !=");
    json_decref(action);
    json_decref(cred);
}

static void test_dates(const json_t *m)
{
    CHECK(eval("created=2012-01-01T12:00:00Z", &t_machine, m) == 1, "date = Z");
    CHECK(eval("created=2012-01-01T13:00:00+01:00", &t_machine, m) == 1, "date = +offset");
    CHECK(eval("created=2012-01-01T07:00:00-05:00", &t_machine, m) == 1, "date = -offset");
    CHECK(eval("created=2012-01-01T12:00:00", &t_machine, m) == 1, "date without zone is UTC");
    CHECK(eval("created=2012-01-01T12:00:00.000Z", &t_machine, m) == 1, "date with zero fraction");
    CHECK(eval("created<2012-01-01T12:00:00.001Z", &t_machine, m) == 1, "date fraction <");
    CHECK(eval("created>2012-01-01", &t_machine, m) == 1, "bare date >");
    CHECK(eval("created<2012-01-02", &t_machine, m) == 1, "bare date <");
    CHECK(eval("created<2012-01-01", &t_machine, m) == 0, "bare date < false");
    CHECK(eval("created>2012-01-01T12:00:00+01:00", &t_machine, m) == 1, "later clock, earlier instant");
    CHECK(eval("created<2012-01-01T08:00:00-05:00", &t_machine, m) == 1, "earlier clock, later instant");
    CHECK(eval("created>='2012-01-01T12:00:00Z' and created<=\"2012-01-01T12:00:00Z\"",
               &t_machine, m) == 1, "quoted dates");
    CHECK(eval("created!=2012-01-01T12:00:01Z", &t_machine, m) == 1, "date !=");
    CHECK(eval("updated>2012-05-31T22:00:00Z", &t_machine, m) == 1, "item fraction and offset >");
    CHECK(eval("updated<2012-05-31T22:00:01Z", &t_machine, m) == 1, "item fraction and offset <");
    CHECK(eval("updated=2012-05-31T22:00:00.5Z", &t_machine, m) == 1, "item fraction =");
    CHECK(eval("created>2012-02-29", &t_machine, m) == 0, "leap day accepted");
    CHECK(eval("created<2011-12-31T24:00:00Z", &t_machine, m) == 0, "24:00:00 is next midnight");
    CHECK(eval("created>2011-12-31T23:59:59.999999999999Z", &t_machine, m) == 1,
          "long fraction");
}

static void test_property(const json_t *m)
{
    json_t *bare = json_pack("{s:s}", "name", "x");

    CHECK(eval("property['owner']='bob'", &t_machine, m) == 1, "property =");
    CHECK(eval("property[\"tier\"]=\"front\"", &t_machine, m) == 1, "property double quotes");
    CHECK(eval("property['owner']='alice'", &t_machine, m) == 0, "property = other value");
    CHECK(eval("property['owner']!='alice'", &t_machine, m) == 1, "property != other value");
    CHECK(eval("property['owner']!='bob'", &t_machine, m) == 0, "property != same value");
    CHECK(eval("property['nope']='bob'", &t_machine, m) == 0, "property = absent key");
    CHECK(eval("property['nope']!='bob'", &t_machine, m) == 1, "property != absent key");
    CHECK(eval("property['owner']='bob'", &t_machine, bare) == 0, "no properties =");
    CHECK(eval("property['owner']!='bob'", &t_machine, bare) == 1, "no properties !=");
    CHECK(eval(" property [ 'owner' ] = 'bob' ", &t_machine, m) == 1, "property with spaces");
    json_decref(bare);
}

static void test_logic(const json_t *m)
{
    CHECK(eval("cpu=2 and memory=4096", &t_machine, m) == 1, "and true");
    CHECK(eval("cpu=2 and memory=1", &t_machine, m) == 0, "and false");
    CHECK(eval("cpu=1 or memory=4096", &t_machine, m) == 1, "or true");
    CHECK(eval("cpu=1 or memory=1", &t_machine, m) == 0, "or false");
    CHECK(eval("cpu=2 or cpu=1 and memory=1", &t_machine, m) == 1, "and binds tighter than or");
    CHECK(eval("(cpu=2 or cpu=1) and memory=1", &t_machine, m) == 0, "parentheses override");
    CHECK(eval("cpu=1 and memory=1 or name='web'", &t_machine, m) == 1, "a and b or c");
    CHECK(eval("cpu=1 and (memory=1 or name='web')", &t_machine, m) == 0, "a and (b or c)");
    CHECK(eval("((cpu=2))", &t_machine, m) == 1, "double parentheses");
    CHECK(eval("cpu=2 and memory=4096 and name='web' and state='STARTED'", &t_machine, m) == 1,
          "and chain");
    CHECK(eval("cpu=9 or cpu=8 or cpu=7 or cpu=2", &t_machine, m) == 1, "or chain");
    CHECK(eval("  cpu >= 2\tand\nname = 'web'  ", &t_machine, m) == 1, "flexible white space");
    CHECK(eval("(cpu=2)and(name='web')", &t_machine, m) == 1, "no white space around and");
    CHECK(eval("cpu=2 and (name='db' or (memory>1 and (state='STARTED')))", &t_machine, m) == 1,
          "nested mix");
}

static void test_missing(void)
{
    json_t *empty = json_object();
    json_t *wrong = json_pack("{s:s, s:i, s:s, s:n}", "cpu", "2", "created", 5, "latestSnapshot",
                              "http://h/images/7", "name");

    CHECK(eval("cpu=2", &t_machine, empty) == 0, "missing =");
    CHECK(eval("cpu!=2", &t_machine, empty) == 1, "missing !=");
    CHECK(eval("cpu<5", &t_machine, empty) == 0, "missing <");
    CHECK(eval("cpu>0", &t_machine, empty) == 0, "missing >");
    CHECK(eval("cpu<=5", &t_machine, empty) == 0, "missing <=");
    CHECK(eval("cpu>=0", &t_machine, empty) == 0, "missing >=");
    CHECK(eval("created<2099-01-01", &t_machine, empty) == 0, "missing date");
    CHECK(eval("created!=2099-01-01", &t_machine, empty) == 1, "missing date !=");
    CHECK(eval("latestSnapshot='x'", &t_machine, empty) == 0, "missing ref");
    CHECK(eval("latestSnapshot!='x'", &t_machine, empty) == 1, "missing ref !=");
    CHECK(eval("cpu=2", &t_machine, wrong) == 0, "string where integer expected is absent");
    CHECK(eval("created>2000-01-01", &t_machine, wrong) == 0, "number where date expected");
    CHECK(eval("latestSnapshot='http://h/images/7'", &t_machine, wrong) == 0,
          "plain string where ref expected");
    CHECK(eval("name=''", &t_machine, wrong) == 0, "null is absent");
    CHECK(eval("name!=''", &t_machine, wrong) == 1, "null is absent !=");
    json_decref(empty);
    json_decref(wrong);
}

static void test_job_integers(void)
{
    json_t *job = json_pack("{s:i, s:i, s:s}", "returnCode", -1, "progress", 100,
                            "timeOfStatusChange", "2013-03-10T23:30:00-08:00");

    CHECK(eval("returnCode=-1", &t_job, job) == 1, "negative integer");
    CHECK(eval("returnCode<0", &t_job, job) == 1, "negative integer <");
    CHECK(eval("-2<returnCode", &t_job, job) == 1, "negative integer reversed");
    CHECK(eval("progress=100 and timeOfStatusChange>2013-03-11T07:29:59Z", &t_job, job) == 1,
          "date crossing midnight with offset");
    CHECK(eval("timeOfStatusChange<2013-03-11", &t_job, job) == 0, "bare date vs offset");
    CHECK(eval("cpu=1", &t_job, job) == -1, "attribute of another type");
    json_decref(job);
}

static void test_errors(void)
{
    CHECK(fails_with("foo=1", &t_machine, "$filter: unknown attribute 'foo'"), "unknown attribute");
    CHECK(fails_with("1=foo", &t_machine, "$filter: unknown attribute 'foo'"),
          "unknown attribute reversed");
    CHECK(fails_with("name<'a'", &t_machine,
                     "$filter: operator '<' is not allowed for string attribute 'name'"),
          "string <");
    CHECK(fails_with("'a'>=name", &t_machine,
                     "$filter: operator '>=' is not allowed for string attribute 'name'"),
          "string >= reversed names the written operator");
    CHECK(fails_with("id>'a'", &t_machine,
                     "$filter: operator '>' is not allowed for URI attribute 'id'"), "URI >");
    CHECK(fails_with("force<true", &t_action,
                     "$filter: operator '<' is not allowed for boolean attribute 'force'"),
          "boolean <");
    CHECK(fails_with("key<='00'", &t_credential,
                     "$filter: operator '<=' is not allowed for hexBinary attribute 'key'"),
          "hex <=");
    CHECK(fails_with("latestSnapshot>'x'", &t_machine,
                     "$filter: operator '>' is not allowed for reference attribute 'latestSnapshot'"),
          "ref >");
    CHECK(fails_with("cpu='abc'", &t_machine,
                     "$filter: integer attribute 'cpu' needs an integer, not ''abc'' at position 5"),
          "integer vs string");
    CHECK(fails_with("cpu=abc", &t_machine,
                     "$filter: integer attribute 'cpu' needs an integer, not 'abc' at position 5"),
          "integer vs word");
    CHECK(fails_with("cpu=TWO", &t_machine,
                     "$filter: integer attribute 'cpu' needs an integer, not 'TWO' at position 5"),
          "bare word only for strings");
    CHECK(fails_with("cpu=2012-01-01", &t_machine,
                     "$filter: integer attribute 'cpu' needs an integer, not '2012-01-01' at position 5"),
          "integer vs date");
    CHECK(fails_with("name=5", &t_machine,
                     "$filter: string attribute 'name' needs a quoted string, not '5' at position 6"),
          "string vs integer");
    CHECK(fails_with("state=started", &t_machine,
                     "$filter: string attribute 'state' needs a quoted string, not 'started' at position 7"),
          "lowercase bare word");
    CHECK(fails_with("force='yes'", &t_action,
                     "$filter: boolean attribute 'force' needs true or false, not ''yes'' at position 7"),
          "boolean vs string");
    CHECK(fails_with("force=TRUE", &t_action,
                     "$filter: boolean attribute 'force' needs true or false, not 'TRUE' at position 7"),
          "boolean keywords lowercase");
    CHECK(fails_with("key='xyz0'", &t_credential,
                     "$filter: hexBinary attribute 'key' needs a quoted hexBinary string, not ''xyz0'' at position 5"),
          "hex not hex");
    CHECK(fails_with("key='abc'", &t_credential,
                     "$filter: hexBinary attribute 'key' needs a quoted hexBinary string, not ''abc'' at position 5"),
          "hex odd length");
    CHECK(fails_with("latestSnapshot=5", &t_machine,
                     "$filter: reference attribute 'latestSnapshot' needs a quoted href, not '5' at position 16"),
          "ref vs integer");
    CHECK(fails_with("created>5", &t_machine,
                     "$filter: dateTime attribute 'created' needs a date, not '5' at position 9"),
          "date vs integer");
    CHECK(fails_with("created>2012-13-01", &t_machine,
                     "$filter: invalid date '2012-13-01' at position 9"), "month 13");
    CHECK(fails_with("created>2013-02-29", &t_machine,
                     "$filter: invalid date '2013-02-29' at position 9"), "not a leap year");
    CHECK(fails_with("created>2012-01-01T25:00:00Z", &t_machine,
                     "$filter: invalid date '2012-01-01T25:00:00Z' at position 9"), "hour 25");
    CHECK(fails_with("created>2012-01-01T12:00Z", &t_machine,
                     "$filter: invalid date '2012-01-01T12:00Z' at position 9"), "no seconds");
    CHECK(fails_with("created>2012-01-01T12:00:00+15:00", &t_machine,
                     "$filter: invalid date '2012-01-01T12:00:00+15:00' at position 9"),
          "offset too large");
    CHECK(fails_with("created>'yesterday'", &t_machine,
                     "$filter: invalid date ''yesterday'' at position 9"), "quoted non-date");
    CHECK(fails_with("disks='x'", &t_machine,
                     "$filter: collection attribute 'disks' cannot be used in a filter"),
          "collection not filterable");
    CHECK(fails_with("properties='x'", &t_machine,
                     "$filter: map attribute 'properties' cannot be used in a filter"),
          "map not filterable");
    CHECK(fails_with("attributes='x'", &t_resource_metadata,
                     "$filter: array attribute 'attributes' cannot be used in a filter"),
          "array not filterable");
    CHECK(fails_with("cpu=2 xyz", &t_machine, "$filter: unexpected token 'xyz' at position 7"),
          "trailing token");
    CHECK(fails_with("cpu=2 AND memory=1", &t_machine,
                     "$filter: unexpected token 'AND' at position 7"), "uppercase AND");
    CHECK(fails_with("cpu=", &t_machine, "$filter: unexpected end of expression at position 5"),
          "missing value");
    CHECK(fails_with("cpu", &t_machine, "$filter: unexpected end of expression at position 4"),
          "missing operator");
    CHECK(fails_with("cpu 2", &t_machine, "$filter: unexpected token '2' at position 5"),
          "no operator");
    CHECK(fails_with("cpu==2", &t_machine, "$filter: integer attribute 'cpu' needs an integer, "
                     "not '=' at position 5"), "double =");
    CHECK(fails_with("cpu=2 or", &t_machine,
                     "$filter: unexpected end of expression at position 9"), "dangling or");
    CHECK(fails_with("cpu=2 and and cpu=3", &t_machine,
                     "$filter: unexpected token 'and' at position 11"), "and and");
    CHECK(fails_with("and cpu=3", &t_machine, "$filter: unexpected token 'and' at position 1"),
          "leading and");
    CHECK(fails_with("(cpu=2", &t_machine, "$filter: unexpected end of expression at position 7"),
          "unclosed parenthesis");
    CHECK(fails_with("cpu=2)", &t_machine, "$filter: unexpected token ')' at position 6"),
          "extra parenthesis");
    CHECK(fails_with("()", &t_machine, "$filter: unexpected token ')' at position 2"),
          "empty parentheses");
    CHECK(fails_with("name='abc", &t_machine, "$filter: unterminated string at position 6"),
          "unterminated string");
    CHECK(fails_with("name='abc\\'", &t_machine, "$filter: unterminated string at position 6"),
          "escaped closing quote");
    CHECK(fails_with("cpu=2 & memory=1", &t_machine,
                     "$filter: unexpected character '&' at position 7"), "bad character");
    CHECK(fails_with("cpu!2", &t_machine, "$filter: unexpected character '!' at position 4"),
          "lone !");
    CHECK(fails_with("", &t_machine, "$filter: empty expression"), "empty");
    CHECK(fails_with(" \t ", &t_machine, "$filter: empty expression"), "blank");
    CHECK(fails_with("cpu=99999999999999999999", &t_machine,
                     "$filter: integer '99999999999999999999' at position 5 is out of range"),
          "integer overflow");
    CHECK(fails_with("property['k']<'v'", &t_machine,
                     "$filter: operator '<' is not allowed for property['k']"), "property <");
    CHECK(fails_with("property['k']=5", &t_machine, "$filter: unexpected token '5' at position 15"),
          "property vs integer");
    CHECK(fails_with("property='x'", &t_machine, "$filter: unexpected token '=' at position 9"),
          "property without brackets");
    CHECK(fails_with("property[k]='x'", &t_machine, "$filter: unexpected token 'k' at position 10"),
          "property key unquoted");
    CHECK(fails_with("property['k'='x'", &t_machine, "$filter: unexpected token '=' at position 13"),
          "property missing ]");
    CHECK(fails_with("property['k']='v'", &t_resource_metadata,
                     "$filter: ResourceMetadata has no properties"), "property on a type without");
    CHECK(fails_with("'a'='b'", &t_machine, "$filter: unexpected token ''b'' at position 5"),
          "two values");
    CHECK(fails_with("name='\xff'", &t_machine,
                     "$filter: string at position 6 is not valid UTF-8"), "invalid UTF-8");
    CHECK(fails_with("cpu=2 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", &t_machine,
                     "$filter: unexpected token 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' "
                     "at position 7"), "long token cut");
    CHECK(fails_starting("cpu=2 and", &t_machine, "$filter: unexpected end"), "dangling and");
    CHECK(filter_parse("foo=1", &t_machine, NULL) == NULL, "NULL err is allowed");
}

static void test_limits(const json_t *m)
{
    char text[4200], *p;
    struct cimi_error err;
    struct filter *f;
    int i;

    /* exactly 4096 bytes parses; 4097 does not */
    memset(text, ' ', 4096);
    memcpy(text, "cpu=2", 5);
    text[4096] = '\0';
    CHECK(eval(text, &t_machine, m) == 1, "4096 bytes accepted");
    text[4096] = ' ';
    text[4097] = '\0';
    CHECK(fails_with(text, &t_machine, "$filter: expression longer than 4096 bytes"),
          "4097 bytes rejected");

    /* 32 levels of parentheses parse; 33 do not */
    p = text;
    for (i = 0; i < 32; i++)
        *p++ = '(';
    p += sprintf(p, "cpu=2");
    for (i = 0; i < 32; i++)
        *p++ = ')';
    *p = '\0';
    CHECK(eval(text, &t_machine, m) == 1, "depth 32 accepted");
    p = text;
    for (i = 0; i < 33; i++)
        *p++ = '(';
    p += sprintf(p, "cpu=2");
    for (i = 0; i < 33; i++)
        *p++ = ')';
    *p = '\0';
    CHECK(fails_with(text, &t_machine,
                     "$filter: parentheses nested deeper than 32 at position 33"),
          "depth 33 rejected");

    /* a long flat chain (about 3300 bytes) is not limited by depth */
    p = text;
    for (i = 0; i < 300; i++)
        p += sprintf(p, "cpu=%d or ", i + 3);
    sprintf(p, "cpu=2");
    f = filter_parse(text, &t_machine, &err);
    CHECK(f != NULL && filter_match(f, m), "300-term or chain");
    filter_free(f);
}

static void test_api(const json_t *m)
{
    struct cimi_error err;
    struct filter *f;

    filter_free(NULL);
    CHECK(filter_match(NULL, m), "NULL filter matches everything");
    f = filter_parse("cpu=2", &t_machine, &err);
    CHECK(f != NULL && err.status == 0, "success clears err");
    CHECK(filter_match(f, m) && filter_match(f, m), "a filter can be matched repeatedly");
    CHECK(!filter_match(f, NULL), "NULL item has no attributes");
    filter_free(f);
}

static void test_compare_values(void)
{
    json_t *one = json_integer(1), *two = json_integer(2), *other_two = json_integer(2);
    json_t *yes = json_true(), *no = json_false(), *null = json_null();
    json_t *d1 = json_string("2012-01-01T12:00:00Z");
    json_t *d1_offset = json_string("2012-01-01T13:00:00+01:00");
    json_t *d2 = json_string("2012-01-01T12:30:00+01:00");
    json_t *a = json_string("a"), *b = json_string("b"), *upper_b = json_string("B");
    json_t *ab = json_string("ab");
    json_t *hex_lower = json_string("a1"), *hex_upper = json_string("A1");
    json_t *ref1 = json_pack("{s:s}", "href", "http://h/1");
    json_t *ref2 = json_pack("{s:s, s:s}", "href", "http://h/2", "name", "a");

    CHECK(filter_compare_values(NULL, NULL, K_INTEGER) == 0, "missing = missing");
    CHECK(filter_compare_values(NULL, one, K_INTEGER) < 0, "missing first");
    CHECK(filter_compare_values(one, NULL, K_INTEGER) > 0, "missing first (swapped)");
    CHECK(filter_compare_values(null, one, K_INTEGER) < 0, "null sorts as missing");
    CHECK(filter_compare_values(a, one, K_INTEGER) < 0, "wrong type sorts as missing");
    CHECK(filter_compare_values(one, two, K_INTEGER) < 0, "1 < 2");
    CHECK(filter_compare_values(two, one, K_INTEGER) > 0, "2 > 1");
    CHECK(filter_compare_values(two, other_two, K_INTEGER) == 0, "2 = 2");
    CHECK(filter_compare_values(no, yes, K_BOOLEAN) < 0, "false < true");
    CHECK(filter_compare_values(yes, yes, K_BOOLEAN) == 0, "true = true");
    CHECK(filter_compare_values(d1, d1_offset, K_DATETIME) == 0, "same instant, other zone");
    CHECK(filter_compare_values(d2, d1, K_DATETIME) < 0, "earlier instant, later clock");
    CHECK(filter_compare_values(a, b, K_STRING) < 0, "a < b");
    CHECK(filter_compare_values(upper_b, a, K_STRING) < 0, "bytewise: B < a");
    CHECK(filter_compare_values(ab, a, K_STRING) > 0, "prefix sorts first");
    CHECK(filter_compare_values(a, a, K_URI) == 0, "URI equal");
    CHECK(filter_compare_values(hex_lower, hex_upper, K_HEX) == 0, "hex ignores case");
    CHECK(filter_compare_values(ref1, ref2, K_REF) < 0, "refs by href");
    CHECK(filter_compare_values(ref2, ref2, K_REF) == 0, "ref equal");
    CHECK(filter_compare_values(a, ref1, K_REF) < 0, "non-object ref sorts as missing");

    json_decref(one);
    json_decref(two);
    json_decref(other_two);
    json_decref(yes);
    json_decref(no);
    json_decref(null);
    json_decref(d1);
    json_decref(d1_offset);
    json_decref(d2);
    json_decref(a);
    json_decref(b);
    json_decref(upper_b);
    json_decref(ab);
    json_decref(hex_lower);
    json_decref(hex_upper);
    json_decref(ref1);
    json_decref(ref2);
}

/* filter_match_text: the string attributes of a document, as text. */
static bool doc_text(void *ctx, const struct cimi_attr *a, const char **text, size_t *len)
{
    const char *value = json_string_value(json_object_get(ctx, a->name));

    *text = value;
    *len = value ? strlen(value) : 0;
    return value != NULL;
}

static bool names_text_attrs(const struct cimi_attr *a)
{
    return a->kind == K_STRING || a->kind == K_URI || a->kind == K_DATETIME;
}

/* An item seen through a text function evaluates as its document does
 * (the store's index, cimi/read.c); orders compare alike. */
static void test_text_view(void)
{
    static const char *const docs[] = {
        "{\"id\": \"http://h/cimi/machines/1\", \"name\": \"web\", \"state\": \"STARTED\","
        " \"created\": \"2026-01-02T03:04:05Z\"}",
        "{\"id\": \"http://h/cimi/machines/2\", \"name\": \"db\", \"state\": \"STOPPED\","
        " \"created\": \"2026-01-02T04:04:05+01:00\"}",
        "{\"id\": \"http://h/cimi/machines/3\", \"state\": \"STARTED\", \"created\": \"bad\"}",
        "{\"id\": \"http://h/cimi/machines/4\", \"name\": 7, \"created\": \"2026-01-02T03:04:05.5Z\"}",
        "{\"id\": \"http://h/cimi/machines/5\", \"name\": \"\", \"state\": \"ERROR\"}",
    };
    static const char *const filters[] = {
        "name='web'", "name!='web'", "name=''", "state='STARTED' and name!='db'",
        "state='STOPPED' or name='web' or state='ERROR'", "(state='STARTED' or name='db') and "
        "created>2026-01-02T02:00:00Z", "created=2026-01-02T03:04:05Z", "created<=2026-01-02T03:04:05Z",
        "created>2026-01-02T03:04:05Z", "created!=2026-01-02T03:04:05Z", "id='http://h/cimi/machines/3'",
        "'STARTED'=state", "name='web' and name='db'",
    };
    json_t *items[5];
    int differ = 0, cases = 0;
    struct cimi_error err;
    struct filter *f;

    for (size_t i = 0; i < 5; i++)
        items[i] = json_loads(docs[i], 0, NULL);
    for (size_t j = 0; j < sizeof(filters) / sizeof(filters[0]); j++) {
        f = filter_parse(filters[j], &t_machine, &err);
        CHECK(f != NULL && filter_names_only(f, names_text_attrs), "text view: [%s] parses and "
              "names text attributes only", filters[j]);
        for (size_t i = 0; f != NULL && i < 5; i++, cases++)
            if (filter_match(f, items[i]) != filter_match_text(f, doc_text, items[i])) {
                printf("# [%s] on item %zu differs\n", filters[j], i + 1);
                differ++;
            }
        filter_free(f);
    }
    CHECK(differ == 0, "filter_match_text = filter_match in %d cases", cases);
    f = filter_parse("cpu=1 and name='x'", &t_machine, &err);
    CHECK(f != NULL && !filter_names_only(f, names_text_attrs), "an integer is not a text attribute");
    filter_free(f);
    f = filter_parse("property['a']='b'", &t_machine, &err);
    CHECK(f != NULL && !filter_names_only(f, names_text_attrs), "property[...] needs the document");
    filter_free(f);
    differ = 0;
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 5; b++) {
            static const char *const names[] = {"name", "created", "state"};
            static const enum cimi_kind kinds[] = {K_STRING, K_DATETIME, K_STRING};
            for (size_t k = 0; k < 3; k++) {
                int by_value = filter_compare_values(json_object_get(items[a], names[k]),
                                                     json_object_get(items[b], names[k]), kinds[k]);
                int by_text = filter_compare_texts(json_string_value(json_object_get(items[a], names[k])),
                                                   json_string_value(json_object_get(items[b], names[k])),
                                                   kinds[k]);
                if ((by_value > 0) - (by_value < 0) != by_text) {
                    printf("# %s of items %zu and %zu: %d by value, %d by text\n", names[k], a + 1,
                           b + 1, by_value, by_text);
                    differ++;
                }
            }
        }
    CHECK(differ == 0, "filter_compare_texts orders as filter_compare_values (strings, dates, "
          "missing, unparsable)");
    for (size_t i = 0; i < 5; i++)
        json_decref(items[i]);
}

int main(void)
{
    json_t *machine = make_machine();

    CHECK(machine != NULL, "test machine built");
    if (machine == NULL)
        return check_summary();
    test_integers(machine);
    test_reversed(machine);
    test_strings(machine);
    test_booleans_hex_refs(machine);
    test_dates(machine);
    test_property(machine);
    test_logic(machine);
    test_missing();
    test_job_integers();
    test_errors();
    test_limits(machine);
    test_api(machine);
    test_compare_values();
    test_text_view();
    json_decref(machine);
    return check_summary();
}
