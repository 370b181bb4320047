/* The JSON reader behind Avro reader defaults: values, escapes, numbers,
 * and malformed text refused with a reason and an offset. */
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "serde/json_int.h"

static void test_values(void **state) {
        char why[200];
        ks__json_t *j = ks__json_parse(
                " {\"a\": [1, -2, 3.5, 1e2, true, false, null],"
                " \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
                " \"big\": 9223372036854775807, \"huge\": 1e400,"
                " \"o\": {}, \"e\": []} ",
                why, sizeof(why));
        assert_non_null(j);
        assert_int_equal(j->type, KS_JSON_OBJECT);
        assert_int_equal(j->cnt, 6);
        const ks__json_t *a = ks__json_get(j, "a");
        assert_int_equal(a->type, KS_JSON_ARRAY);
        assert_int_equal(a->cnt, 7);
        assert_true(a->items[0]->is_integer && a->items[0]->integer == 1);
        assert_true(a->items[1]->is_integer && a->items[1]->integer == -2);
        assert_false(a->items[2]->is_integer);
        assert_true(a->items[2]->number == 3.5);
        assert_false(a->items[3]->is_integer);
        assert_true(a->items[3]->number == 100.0);
        assert_int_equal(a->items[4]->type, KS_JSON_BOOL);
        assert_int_equal(a->items[4]->boolean, 1);
        assert_int_equal(a->items[5]->boolean, 0);
        assert_int_equal(a->items[6]->type, KS_JSON_NULL);
        const ks__json_t *s = ks__json_get(j, "s");
        static const char want[] = "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80";
        assert_int_equal(s->str_len, sizeof(want) - 1);
        assert_memory_equal(s->str, want, sizeof(want));
        const ks__json_t *big = ks__json_get(j, "big");
        assert_true(big->is_integer);
        assert_true(big->integer == INT64_MAX);
        assert_int_equal(ks__json_get(j, "o")->cnt, 0);
        assert_int_equal(ks__json_get(j, "e")->type, KS_JSON_ARRAY);
        assert_null(ks__json_get(j, "missing"));
        assert_null(ks__json_get_str(j, "a")); /* not a string */
        ks__json_free(j);
        /* A string may hold NUL. */
        j = ks__json_parse("\"a\\u0000b\"", why, sizeof(why));
        assert_non_null(j);
        assert_int_equal(j->str_len, 3);
        assert_memory_equal(j->str, "a\0b", 3);
        ks__json_free(j);
}

static void expect_bad(const char *text, const char *needle) {
        char why[200] = "";
        ks__json_t *j = ks__json_parse(text, why, sizeof(why));
        if (j)
                fail_msg("\"%s\" parsed", text);
        if (!strstr(why, needle))
                fail_msg("\"%s\": \"%s\" lacks \"%s\"", text, why, needle);
        assert_non_null(strstr(why, "at offset"));
}

static void test_malformed(void **state) {
        expect_bad("", "unexpected end");
        expect_bad("{\"a\":1,}", "expected a member name");
        expect_bad("{\"a\" 1}", "expected ':'");
        expect_bad("[1 2]", "expected ',' or ']'");
        expect_bad("\"abc", "unterminated string");
        expect_bad("\"a\\x\"", "bad escape");
        expect_bad("\"\\ud800\"", "bad escape"); /* lone surrogate */
        expect_bad("\"\\udc00\"", "bad escape");
        expect_bad("\"a\nb\"", "control character");
        expect_bad("[1] x", "trailing characters");
        expect_bad("nul", "unexpected character");
        expect_bad("-", "unexpected character");
        char deep[300];
        memset(deep, '[', 200);
        deep[200] = '\0';
        expect_bad(deep, "nesting deeper than 128");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
