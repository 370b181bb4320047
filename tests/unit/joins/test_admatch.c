/* The ad-match example's pieces: its JSON field reader on arbitrary bytes
 * and its topology on malformed impressions and clicks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admatch.h"
#include "ks_test.h"

/* @p text as untrusted bytes: exactly @p len of them on the heap, no NUL
 * after them, so a read past the end is an AddressSanitizer error. */
static char *bytes(const char *text, size_t len) {
        char *p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, text, len);
        return p;
}

static int json_str(const char *text, size_t len, const char *name, char *out,
                    size_t size) {
        char *p = bytes(text, len);
        int rc = admatch_json_str(p, len, name, out, size);
        free(p);
        return rc;
}

static int json_num(const char *text, size_t len, const char *name,
                    int64_t *num) {
        char *p = bytes(text, len);
        int rc = admatch_json_num(p, len, name, num);
        free(p);
        return rc;
}

#define STR(lit) lit, sizeof(lit) - 1

static void test_admatch_json(void **st) {
        (void)st;
        char out[8];
        int64_t n = -1;
        /* Reads stop at the end of the bytes. */
        assert_int_equal(json_str(STR("{\"imp\":\"ab\"}"), "imp", out, 8), 0);
        assert_string_equal(out, "ab");
        assert_int_equal(json_str(STR("{\"imp\":\"ab"), "imp", out, 8), -1);
        assert_int_equal(json_str(STR("{\"imp\":"), "imp", out, 8), -1);
        assert_int_equal(json_str(STR("{\"imp\""), "imp", out, 8), -1);
        assert_int_equal(json_str(STR("\"im"), "imp", out, 8), -1);
        assert_int_equal(json_str("", 0, "imp", out, 8), -1);
        assert_int_equal(admatch_json_str(NULL, 0, "imp", out, 8), -1);
        assert_int_equal(json_str(STR("{\"imp\":\"ab\"}"), "imp", out, 0), -1);
        /* At most size - 1 bytes. */
        assert_int_equal(json_str(STR("{\"imp\":\"1234567\"}"), "imp", out, 8),
                         0);
        assert_int_equal(json_str(STR("{\"imp\":\"12345678\"}"), "imp", out, 8),
                         -1);
        /* No NUL (ids are C strings), no control characters, no escapes
         * (the string is written into JSON again as it is). */
        assert_int_equal(json_str(STR("{\"imp\":\"a\0b\"}"), "imp", out, 8),
                         -1);
        assert_int_equal(json_str(STR("{\"imp\":\"a\nb\"}"), "imp", out, 8),
                         -1);
        assert_int_equal(json_str(STR("{\"imp\":\"a\\\"b\"}"), "imp", out, 8),
                         -1);
        assert_int_equal(json_str(STR("{\"imp\":\"a\\\"}"), "imp", out, 8), -1);
        /* Numbers: at the very end, up to INT64_MAX, integers only. */
        assert_int_equal(json_num(STR("{\"time\":123"), "time", &n), 0);
        assert_int_equal(n, 123);
        assert_int_equal(json_num(STR("{\"time\":"), "time", &n), -1);
        assert_int_equal(
                json_num(STR("{\"time\":9223372036854775807}"), "time", &n), 0);
        assert_int_equal(n, INT64_MAX);
        assert_int_equal(
                json_num(STR("{\"time\":9223372036854775808}"), "time", &n),
                -1);
        assert_int_equal(
                json_num(STR("{\"time\":99999999999999999999999}"), "time", &n),
                -1);
        assert_int_equal(json_num(STR("{\"time\":-5}"), "time", &n), -1);
        assert_int_equal(json_num(STR("{\"time\":1.5}"), "time", &n), -1);
        assert_int_equal(json_num(STR("{\"time\":1e12}"), "time", &n), -1);
        assert_int_equal(json_num(STR("{\"time\":\"5\"}"), "time", &n), -1);
}

static void pipe_json(ks_test_driver_t *drv, const char *topic, const char *key,
                      const char *value, size_t vl) {
        ks_error_t *e = NULL;
        char *v = bytes(value, vl);
        KST_OK_E(ks_test_driver_pipe(drv, topic, key, strlen(key), v, vl, 0,
                                     NULL, &e));
        free(v);
}

/* Malformed impressions and clicks (no time, a time that is no integer or
 * does not fit, a missing field, NUL, escapes) are dropped: the example
 * neither stops on them (an invalid timestamp or a failing joiner would
 * stop it, on every restart) nor lets them through. */
static void test_admatch_malformed(void **st) {
        (void)st;
        ks_topology_t *topo = admatch_topology("imp", "clk", "m", "u");
        assert_non_null(topo);
        ks_error_t *e = NULL;
        ks_config_t *conf = kst_config("admatch-hostile");
        ks_test_driver_t *drv = ks_test_driver_new(topo, conf, 0, &e);
        if (!drv)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
        static const struct {
                const char *topic, *key, *value;
                size_t vl;
        } bad[] = {
                {"imp", "imp-1", STR("{\"imp\":\"imp-1\",\"campaign\":\"c\"}")},
                {"imp", "imp-1",
                 STR("{\"imp\":\"imp-1\",\"campaign\":\"c\",\"time\": 5}")},
                {"imp", "imp-1",
                 STR("{\"imp\":\"imp-1\",\"campaign\":\"c\",\"time\":-5}")},
                {"imp", "imp-1",
                 STR("{\"imp\":\"imp-1\",\"campaign\":\"c\",\"time\":1e3}")},
                {"imp", "imp-1",
                 STR("{\"imp\":\"imp-1\",\"campaign\":\"c\",\"time\":"
                     "99999999999999999999}")},
                {"imp", "imp-1", STR("{\"imp\":\"imp-1\",\"time\":1000}")},
                {"imp", "imp-1",
                 STR("{\"imp\":\"imp-1\\\",\"campaign\":\"c\",\"time\":1000}")},
                {"clk", "imp-1", STR("{\"imp\":\"imp-1\",\"time\":1500}")},
                {"clk", "imp-1",
                 STR("{\"click\":\"k\0x\",\"imp\":\"imp-1\",\"time\":1500}")},
                {"clk", "imp-1",
                 STR("{\"click\":\"k\\\"x\",\"imp\":\"imp-1\",\"time\":1500}")},
                {"clk", "imp-1", STR("{\"click\":\"k1\",\"imp\":\"imp-1\"")},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                pipe_json(drv, bad[i].topic, bad[i].key, bad[i].value,
                          bad[i].vl);
        assert_int_equal(ks_test_driver_output_size(drv, "m"), 0);
        /* Well-formed ones still match. */
        pipe_json(drv, "imp", "imp-1",
                  STR("{\"imp\":\"imp-1\",\"campaign\":\"c\",\"time\":1000}"));
        pipe_json(drv, "clk", "imp-1",
                  STR("{\"click\":\"k1\",\"imp\":\"imp-1\",\"time\":1500}"));
        const char want_m[] = "{\"imp\":\"imp-1\",\"campaign\":\"c\","
                              "\"click\":\"k1\",\"delay_ms\":500}";
        kst_expect_output(drv, "m", "imp-1", 5, STR(want_m), 1500);
        assert_int_equal(ks_test_driver_output_size(drv, "m"), 0);
        assert_int_equal(ks_test_driver_output_size(drv, "u"), 0);
        ks_test_driver_destroy(drv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_admatch_json),
                cmocka_unit_test(test_admatch_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
