/* Stream-stream joins (join, left_join, outer_join) under the test driver.
 *
 * The pseudo-random tests check the output record by record against a
 * brute-force model written from the definition, not from the step's
 * algorithm: records are taken in arrival order; stream time S is the
 * largest timestamp so far; a left record at t is late when
 * t + after + grace < S (a right one: t + before + grace < S); an accepted
 * left record at tl and an accepted right one at tr of the same key join
 * when tl - before <= tr <= tl + after, once the second arrives, its
 * partners in timestamp (then arrival) order, stamped max(tl, tr). For
 * left and outer joins, an accepted record that has no partner when stream
 * time passes t + before + after + grace is emitted once with NULL, right
 * before the record that moved stream time there is joined, oldest first.
 * Outputs are compared per key, in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sj_support.h"

static const cfg_t cfgs[] = {
        {10, 10, 5, KS_JOIN_INNER, 0}, {10, 10, 5, KS_JOIN_LEFT, 0},
        {10, 10, 5, KS_JOIN_OUTER, 0}, {0, 20, 0, KS_JOIN_OUTER, 0},
        {30, 5, 15, KS_JOIN_LEFT, 0},  {-5, 20, 3, KS_JOIN_OUTER, 0},
        {25, 0, 40, KS_JOIN_OUTER, 0}, {0, 0, 0, KS_JOIN_INNER, 0},
        {10, 10, 5, KS_JOIN_INNER, 1}, {10, 4, 5, KS_JOIN_OUTER, 1},
        {7, 12, 0, KS_JOIN_LEFT, 1},
};

static void test_model_random(void **st) {
        (void)st;
        for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
                for (uint64_t seed = 1; seed <= 3; seed++) {
                        kst_log_clear();
                        run_case(&cfgs[i], 300, 4, 25, 60, 12, seed * 7919);
                }
}

/* Sparse records, far apart: most find nothing and come out with NULL. */
static void test_model_sparse(void **st) {
        (void)st;
        for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
                run_case(&cfgs[i], 200, 15, 30, 100, 10, 4242 + i);
}

/* KAFKA-10847: a left record is not reported unmatched while a right
 * record may still join it, even one that arrives after the left
 * record's own window (t + after + grace) has closed. */
static void test_no_spurious_null(void **st) {
        (void)st;
        cfg_t c = {10, 0, 0, KS_JOIN_LEFT, 0};
        ks_test_driver_t *drv = driver(&c);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, "L", "k", 1, "l1", 2, 100, NULL, &e));
        /* Stream time 101: the left record's window [90, 100] has ended,
         * but a right record at 95 (window [95, 105]) is not late. */
        KST_OK_E(ks_test_driver_pipe(drv, "R", "x", 1, "r0", 2, 101, NULL, &e));
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        KST_OK_E(ks_test_driver_pipe(drv, "R", "k", 1, "r1", 2, 95, NULL, &e));
        kst_expect_output(drv, "out", "k", 1, "l1:r1", 5, 100);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        /* A left record with no partner: out once stream time passes
         * 200 + 10 + 0 + 0, at its own timestamp. */
        KST_OK_E(ks_test_driver_pipe(drv, "L", "k", 1, "l2", 2, 200, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "L", "y", 1, "l3", 2, 210, NULL, &e));
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        KST_OK_E(ks_test_driver_pipe(drv, "L", "y", 1, "l4", 2, 211, NULL, &e));
        kst_expect_output(drv, "out", "k", 1, "l2:null", 7, 200);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

/* Null keys and values are dropped; duplicates of one key and timestamp
 * all join. */
static void test_nulls_and_duplicates(void **st) {
        (void)st;
        cfg_t c = {5, 5, 0, KS_JOIN_INNER, 0};
        ks_test_driver_t *drv = driver(&c);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, "L", NULL, 0, "l0", 2, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "L", "k", 1, NULL, 0, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "L", "k", 1, "l1", 2, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "L", "k", 1, "l2", 2, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "R", NULL, 0, "r0", 2, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "R", "k", 1, "r1", 2, 12, NULL, &e));
        kst_expect_output(drv, "out", "k", 1, "l1:r1", 5, 12);
        kst_expect_output(drv, "out", "k", 1, "l2:r1", 5, 12);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

static void test_bad_windows(void **st) {
        (void)st;
        ks_windows_t *bad[] = {
                ks_join_windows_before(
                        ks_join_windows_of_time_difference_no_grace(5), -10),
                ks_join_windows_of_time_difference_and_grace(5, -1),
                ks_time_windows_of_size_no_grace(10),
                NULL,
        };
        const char *why[] = {"empty", "grace", "not join windows", "NULL"};
        for (size_t i = 0; i < 4; i++) {
                ks_builder_t *b = ks_builder_new();
                const char *t[] = {"L"}, *u[] = {"R"};
                ks_stream_t *l = ks_builder_stream(b, t, 1, NULL, NULL, NULL);
                ks_stream_t *r = ks_builder_stream(b, u, 1, NULL, NULL, NULL);
                assert_null(
                        ks_stream_join(l, r, join_values, NULL, bad[i], NULL));
                ks_error_t *e = NULL;
                KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG,
                                 why[i]);
        }
        /* Join windows are not for windowed aggregations. */
        ks_builder_t *b = ks_builder_new();
        const char *t[] = {"L"};
        ks_stream_t *l = ks_builder_stream(b, t, 1, NULL, NULL, NULL);
        assert_null(ks_grouped_windowed_by(
                ks_stream_group_by_key(l, NULL),
                ks_join_windows_of_time_difference_no_grace(5)));
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG,
                         "stream-stream joins");
}

/* A re-keyed side goes through a repartition topic; the stores and steps
 * are named after the join; describe lists them. */
static void test_repartition_and_names(void **st) {
        (void)st;
        ks_builder_t *b = ks_builder_new();
        const char *lt[] = {"L"}, *rt[] = {"R"};
        ks_stream_t *l = ks_builder_stream(b, lt, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        ks_stream_t *r = ks_stream_select_key(
                ks_builder_stream(b, rt, 1, ks_serde_string(),
                                  ks_serde_string(), NULL),
                rekey, NULL, "by-first");
        ks_stream_t *j = ks_stream_outer_join(
                l, r, join_values, NULL,
                ks_join_windows_of_time_difference_and_grace(10, 0), "adj");
        assert_int_equal(ks_stream_to(j, "out", NULL), KS_ERR_NO_ERROR);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        char *d = NULL;
        KST_OK_E(ks_topology_describe(topo, &d, &e));
        const char *need[] = {"adj-this-join-store", "adj-other-join-store",
                              "adj-outer-shared-join-store",
                              "adj-right-repartition"};
        for (size_t i = 0; i < 4; i++)
                if (!strstr(d, need[i]))
                        fail_msg("describe lacks %s:\n%s", need[i], d);
        ks_free(d);
        ks_config_t *conf = kst_config("stream-join-rekey");
        ks_test_driver_t *drv = ks_test_driver_new(topo, conf, 0, &e);
        assert_non_null(drv);
        KST_OK_E(ks_test_driver_pipe(drv, "L", "x", 1, "l1", 2, 100, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(drv, "R", "q", 1, "xr", 2, 105, NULL, &e));
        kst_expect_output(drv, "out", "x", 1, "l1:xr", 5, 105);
        ks_test_driver_destroy(drv);
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
}

/* Both sides re-keyed: a repartition topic each, named after the join; the
 * same re-keyed stream on both sides (a self-join): one. */
static void test_repartition_both_and_self(void **st) {
        (void)st;
        for (int self = 0; self < 2; self++) {
                ks_builder_t *b = ks_builder_new();
                const char *lt[] = {"L"}, *rt[] = {"R"};
                ks_stream_t *l = ks_stream_select_key(
                        ks_builder_stream(b, lt, 1, ks_serde_string(),
                                          ks_serde_string(), NULL),
                        rekey, NULL, NULL);
                ks_stream_t *r =
                        self ? l
                             : ks_stream_select_key(
                                       ks_builder_stream(
                                               b, rt, 1, ks_serde_string(),
                                               ks_serde_string(), NULL),
                                       rekey, NULL, NULL);
                ks_stream_t *j = ks_stream_left_join(
                        l, r, join_values, NULL,
                        ks_join_windows_of_time_difference_and_grace(10, 0),
                        "both");
                assert_int_equal(ks_stream_to(j, "out", NULL), KS_ERR_NO_ERROR);
                ks_error_t *e = NULL;
                ks_topology_t *topo = NULL;
                KST_OK_E(ks_builder_build(b, &topo, &e));
                char *d = NULL;
                KST_OK_E(ks_topology_describe(topo, &d, &e));
                int right =
                        strstr(d, "(topic: both-right-repartition)") != NULL;
                if (!strstr(d, "(topic: both-left-repartition)") ||
                    right == self)
                        fail_msg("self %d:\n%s", self, d);
                ks_free(d);
                ks_config_t *conf = kst_config("stream-join-both");
                ks_test_driver_t *drv = ks_test_driver_new(topo, conf, 0, &e);
                assert_non_null(drv);
                pipe_ok(drv, "L", "a", "x1", 100);
                if (self) {
                        kst_expect_output(drv, "out", "x", 1, "x1:x1", 5, 100);
                } else {
                        pipe_ok(drv, "R", "b", "x2", 105);
                        kst_expect_output(drv, "out", "x", 1, "x1:x2", 5, 105);
                }
                assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
                ks_test_driver_destroy(drv);
                ks_config_destroy(conf);
                ks_topology_destroy(topo);
                ks_builder_destroy(b);
        }
}

/* The size of join windows saturates at both ends. */
static void test_join_windows_size(void **st) {
        (void)st;
        ks_windows_t *w = ks_join_windows_after(
                ks_join_windows_before(
                        ks_join_windows_of_time_difference_no_grace(0),
                        INT64_MIN),
                -1);
        assert_int_equal(ks_windows_size_ms(w), INT64_MIN);
        ks_join_windows_before(w, INT64_MAX);
        ks_join_windows_after(w, 1);
        assert_int_equal(ks_windows_size_ms(w), INT64_MAX);
        ks_join_windows_after(w, -5);
        assert_int_equal(ks_windows_size_ms(w), INT64_MAX - 5);
        ks_windows_destroy(w);
}

/* A self left join whose record is late as a right record but not as a
 * left one: it waits as a left record, a later record of its key that
 * reaches it as a right record matches it, and it is never reported
 * unmatched; one that nothing reaches is, once. */
static void test_self_join_late_on_one_side(void **st) {
        (void)st;
        cfg_t c = {0, 10, 0, KS_JOIN_LEFT, 1};
        ks_test_driver_t *drv = named_driver(&c, NULL);
        pipe_ok(drv, "L", "o", "o1", 105); /* stream time 105 */
        kst_expect_output(drv, "out", "o", 1, "o1:o1", 5, 105);
        /* Left window [100, 110] open, right one [100, 100] closed. */
        pipe_ok(drv, "L", "x", "x1", 100);
        pipe_ok(drv, "L", "y", "y1", 100);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 2);
        /* x2 (108) as a right record reaches x1's left window. */
        pipe_ok(drv, "L", "x", "x2", 108);
        kst_expect_output(drv, "out", "x", 1, "x1:x2", 5, 108);
        kst_expect_output(drv, "out", "x", 1, "x2:x2", 5, 108);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        /* Past 110: y1 comes out unmatched, x1 not. */
        pipe_ok(drv, "L", "z", "z1", 111);
        kst_expect_output(drv, "out", "y", 1, "y1:null", 7, 100);
        kst_expect_output(drv, "out", "z", 1, "z1:z1", 5, 111);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        pipe_ok(drv, "L", "z", "z2", 1000);
        kst_expect_output(drv, "out", "z", 1, "z2:z2", 5, 1000);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

/* A partner takes out of the outer store the records of its key at the
 * times it joins, every duplicate of them, and nothing else: not a key
 * that starts like it, not one that looks like it followed by a
 * sequence number. */
static void test_outer_matched_exact(void **st) {
        (void)st;
        cfg_t c = {2, 2, 0, KS_JOIN_LEFT, 0};
        ks_test_driver_t *drv = named_driver(&c, NULL);
        ks_error_t *e = NULL;
        static const char k4[] = "k\0\0\0\0";
        pipe_ok(drv, "L", "k", "l1", 10);
        pipe_ok(drv, "L", "k", "l2", 10);
        pipe_ok(drv, "L", "kk", "l3", 10);
        KST_OK_E(ks_test_driver_pipe(drv, "L", k4, 5, "l4", 2, 10, NULL, &e));
        pipe_ok(drv, "L", "", "l6", 10);
        pipe_ok(drv, "R", "k", "r1", 10);
        kst_expect_output(drv, "out", "k", 1, "l1:r1", 5, 10);
        kst_expect_output(drv, "out", "k", 1, "l2:r1", 5, 10);
        pipe_ok(drv, "L", "k", "l5", 13); /* out of the window of r1 */
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        /* The rest, oldest first (then by key length, key). */
        pipe_ok(drv, "R", "z", "r2", 100);
        kst_expect_output(drv, "out", "", 0, "l6:null", 7, 10);
        kst_expect_output(drv, "out", "kk", 2, "l3:null", 7, 10);
        kst_expect_output(drv, "out", k4, 5, "l4:null", 7, 10);
        kst_expect_output(drv, "out", "k", 1, "l5:null", 7, 13);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model_random),
                cmocka_unit_test(test_model_sparse),
                cmocka_unit_test(test_no_spurious_null),
                cmocka_unit_test(test_nulls_and_duplicates),
                cmocka_unit_test(test_bad_windows),
                cmocka_unit_test(test_repartition_and_names),
                cmocka_unit_test(test_repartition_both_and_self),
                cmocka_unit_test(test_join_windows_size),
                cmocka_unit_test(test_self_join_late_on_one_side),
                cmocka_unit_test(test_outer_matched_exact),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
