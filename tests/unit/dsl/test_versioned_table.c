/* Versioned tables of the DSL under the test driver: only updates that
 * become their key's latest version go downstream, the others stay in the
 * store's history (read back as of their times), one older than the
 * history is dropped and counted; the store has a changelog of its own and
 * describe() lists it. Also the builder's refusals: a bad history
 * retention, table-table and foreign-key joins of a versioned table, and
 * the join with grace on a plain table or with a bad grace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

typedef struct {
        const char *key, *value; /* NULL: null */
        int64_t ts;
} ev_t;

static size_t slen(const char *s) {
        return s ? strlen(s) : 0;
}

static ks_err_t joiner(void *o, const void *l, size_t ll, const void *r,
                       size_t rl, ks_buf_t *out) {
        (void)o, (void)l, (void)ll, (void)r, (void)rl;
        return ks_buf_append(out, "j", 1);
}

/* --- a versioned table ----------------------------------------------------
 */

static ks_versioned_kv_store_t *rows_of(ks_test_driver_t *d) {
        ks_versioned_kv_store_t *vs;
        KST_OK(ks_test_driver_get_versioned_kv_store(d, "rows", &vs));
        return vs;
}

static void expect_as_of(ks_versioned_kv_store_t *vs, const char *k,
                         int64_t as_of, const char *v) {
        const void *got;
        size_t gl;
        ks_err_t err = ks_versioned_kv_store_get_as_of(vs, k, strlen(k), as_of,
                                                       &got, &gl, NULL, NULL);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(gl, strlen(v));
        assert_memory_equal(got, v, gl);
}

/* Only updates that become the key's latest version go downstream; the
 * others are kept in the history; one older than it is dropped. Run for a
 * table from a topic and for a stream's table. */
static void check_table_changes(int from_stream) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"table"};
        ks_table_t *t =
                from_stream ? ks_stream_to_versioned_table(
                                      ks_builder_stream(b, topics, 1, NULL,
                                                        NULL, NULL),
                                      "rows", 1000, NULL)
                            : ks_builder_versioned_table(b, "table", NULL, NULL,
                                                         "rows", 1000);
        KST_OK(ks_stream_to(ks_table_to_stream(t, NULL), "changes", NULL));
        assert_string_equal(ks_table_store_name(t), "rows");
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(topo, &desc, &e));
        assert_non_null(strstr(desc, "Versioned key-value store: rows "
                                     "(history retention: 1000 ms)"));
        ks_free(desc);
        /* Its own changelog, not the topic. */
        char name[128];
        assert_int_equal(ks_topology_internal_topic_count(topo), 1);
        KST_OK(ks_topology_internal_topic(topo, "vt", 0, name, sizeof(name),
                                          NULL));
        assert_string_equal(name, "vt-rows-changelog");
        ks_config_t *c = kst_config("vt");
        ks_test_driver_t *d = ks_test_driver_new(topo, c, 0, &e);
        assert_non_null(d);
        static const ev_t in[] = {
                {"k", "a", 2100},  {"k", "b", 2050}, /* history */
                {"k", "c", 2100},                    /* replaces a */
                {"k", NULL, 2200}, {"k", "d", 2150}, /* history */
                {"k", "e", 1100},                    /* too old */
                {NULL, "x", 2300},                   /* no key */
                {"j", "f", 2250},
        };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                KST_OK_E(ks_test_driver_pipe(
                        d, "table", in[i].key, slen(in[i].key), in[i].value,
                        slen(in[i].value), in[i].ts, NULL, &e));
        kst_expect_output(d, "changes", "k", 1, "a", 1, 2100);
        kst_expect_output(d, "changes", "k", 1, "c", 1, 2100);
        kst_expect_output(d, "changes", "k", 1, NULL, 0, 2200);
        kst_expect_output(d, "changes", "j", 1, "f", 1, 2250);
        assert_int_equal(ks_test_driver_output_size(d, "changes"), 0);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-late"), 1);
        ks_versioned_kv_store_t *vs = rows_of(d);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(vs), 2250);
        expect_as_of(vs, "k", 2049, NULL);
        expect_as_of(vs, "k", 2050, "b");
        expect_as_of(vs, "k", 2120, "c");
        expect_as_of(vs, "k", 2170, "d");
        expect_as_of(vs, "k", 2220, NULL);
        ks_timestamped_kv_store_t *ts;
        assert_int_equal(
                ks_test_driver_get_timestamped_kv_store(d, "rows", &ts),
                KS_ERR_STORE_TYPE);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
}

static void test_versioned_table(void **state) {
        (void)state;
        check_table_changes(0);
        check_table_changes(1);
}

/* --- the builder's refusals ------------------------------------------------
 */

static ks_err_t fk(void *o, const ks_record_t *rec, ks_emitter_t *out) {
        return ks_emit_key(out, "x", 1);
}

/* Refused operation @p i on a versioned table @p vt, a plain table and a
 * stream; the error its builder keeps. */
static const char *refuse(int i, ks_builder_t *b, ks_table_t *vt,
                          ks_table_t *pt, ks_stream_t *s) {
        ks_value_joiner_cb *j = joiner;
        switch (i) {
        case 0:
                ks_builder_versioned_table(b, "t2", NULL, NULL, NULL, 0);
                return "versioned_table: history retention 0 ms is not "
                       "positive";
        case 1:
                ks_stream_to_versioned_table(s, NULL, -3, NULL);
                return "to_versioned_table: history retention -3 ms is not "
                       "positive";
        case 2:
                ks_table_join(pt, vt, KS_JOIN_INNER, j, NULL, NULL);
                return "table join: table KTABLE-SOURCE-0000000001 is "
                       "versioned (store vrows); the table join does not "
                       "take a versioned table yet";
        case 3:
                ks_table_join(vt, pt, KS_JOIN_LEFT, j, NULL, NULL);
                return "the table join does not take a versioned table yet";
        case 4:
                ks_table_fk_join(pt, vt, fk, KS_JOIN_INNER, j, NULL, NULL);
                return "the foreign-key join does not take a versioned "
                       "table yet";
        case 5:
                ks_stream_join_table_with_grace(s, pt, KS_JOIN_INNER, j, NULL,
                                                10, NULL);
                return "join_table_with_grace: the table is not versioned";
        case 6:
                ks_stream_join_table_with_grace(s, vt, KS_JOIN_LEFT, j, NULL,
                                                101, NULL);
                return "the grace period is longer than the table's history "
                       "retention";
        case 7:
                ks_stream_join_table_with_grace(s, vt, KS_JOIN_LEFT, j, NULL,
                                                -1, NULL);
                return "the grace period is negative";
        case 8:
                ks_stream_join_table_with_grace(s, vt, KS_JOIN_OUTER, j, NULL,
                                                1, NULL);
                return "only inner and left joins";
        }
        return NULL;
}

static void test_builder_refusals(void **state) {
        (void)state;
        const char *needle = "";
        for (int i = 0; needle; i++) {
                ks_builder_t *b = ks_builder_new();
                ks_table_t *vt = ks_builder_versioned_table(b, "vt", NULL, NULL,
                                                            "vrows", 100);
                ks_table_t *pt = ks_builder_table(b, "pt", NULL, NULL, "prows");
                const char *topics[] = {"st"};
                ks_stream_t *s =
                        ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
                assert_non_null(vt);
                assert_non_null(pt);
                if ((needle = refuse(i, b, vt, pt, s))) {
                        ks_topology_t *topo = NULL;
                        ks_error_t *e = NULL;
                        KST_ASSERT_ERROR(ks_builder_build(b, &topo, &e), e,
                                         KS_ERR_INVALID_ARG, needle);
                }
                ks_builder_destroy(b);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_versioned_table),
                cmocka_unit_test(test_builder_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
