/* Stream-stream joins against hostile input: outer store entries another
 * client wrote to the changelog, huge values, a sequence that wraps, a
 * joiner that fails half way through emitting, windows and timestamps at
 * the ends of time, many records due or matched at once, builder misuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sj_support.h"

/* Malformed outer entries written by another client to the changelog:
 * each is a store error naming the store, on every record that would emit
 * it (never skipped, never read past its end), and the well-formed entries
 * before it still come out. */
static void test_crafted_outer_entries(void **st) {
        (void)st;
        cfg_t c = {10, 10, 0, KS_JOIN_LEFT, 0};
        const char *why[] = {"too short",  "key length",   "key length",
                             "key length", "no such side", "does not keep"};
        uint8_t k[64];
        for (int i = 0; i < 6; i++) {
                ks_test_driver_t *drv = named_driver(&c, NULL);
                size_t kl;
                switch (i) {
                case 0: /* shorter than a timestamp, sorted last */
                        outer_key(k, 15, 0, 1, "k", 0);
                        k[0] = 0xff;
                        kl = 5;
                        break;
                case 1: /* no room for the sequence */
                        kl = outer_key(k, 15, 0, 1, "k", 0) - 1;
                        break;
                case 2: /* the key length points past the end */
                        kl = outer_key(k, 15, 0, 40, "k", 0);
                        break;
                case 3: /* a huge key length */
                        kl = outer_key(k, 15, 0, 0xffffffffu, "k", 0);
                        break;
                case 4: /* no such side */
                        kl = outer_key(k, 15, 2, 1, "k", 0);
                        break;
                default: /* a right record in a left join */
                        kl = outer_key(k, 15, 1, 1, "k", 0);
                        break;
                }
                put_outer(drv, k, kl, "bad");
                uint8_t g[64];
                put_outer(drv, g, outer_key(g, 12, 0, 1, "g", 0), "l1");
                /* Right records (kept by nobody in a left join) move
                 * stream time: at 30 nothing is due ... */
                pipe_ok(drv, "R", "z", "r1", 30);
                assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
                /* ... at 60 l1 (12) is, then the bad entry. */
                pipe_fails(drv, "R", "x", "r2", 60, why[i]);
                if (i) /* (a short key fails the scan itself) */
                        kst_expect_output(drv, "out", "g", 1, "l1:null", 7, 12);
                assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
                /* Not skipped the next time either. */
                pipe_fails(drv, "R", "y", "r3", 61, why[i]);
                /* A left record that finds nothing: its sequence number
                 * is not learnt past the bad entry. */
                pipe_fails(drv, "L", "q", "l2", 61, why[i]);
                assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
                ks_test_driver_destroy(drv);
        }
}

/* Huge values waiting in the outer store (another client may write them):
 * emitted a few at a time, each whole. */
static void test_huge_outer_values(void **st) {
        (void)st;
        cfg_t c = {10, 10, 0, KS_JOIN_LEFT, 0};
        ks_test_driver_t *drv = named_driver(&c, NULL);
        size_t big = (size_t)3 << 20;
        char *v = malloc(big + 1);
        assert_non_null(v);
        memset(v, 'v', big);
        v[big] = 0;
        uint8_t k[64];
        for (int i = 0; i < 3; i++) {
                char key[2] = {(char)('a' + i), 0};
                put_outer(drv, k, outer_key(k, 12 + i, 0, 1, key, 0), v);
        }
        free(v);
        pipe_ok(drv, "R", "z", "r1", 100);
        for (int i = 0; i < 3; i++) {
                ks_test_record_t *r = ks_test_driver_read_output(drv, "out");
                assert_non_null(r);
                size_t kl, vl;
                const char *key = ks_test_record_key(r, &kl);
                const char *val = ks_test_record_value(r, &vl);
                assert_int_equal(kl, 1);
                assert_int_equal(key[0], 'a' + i);
                assert_int_equal(vl, big + 5);
                assert_memory_equal(val + big, ":null", 5);
                assert_int_equal(ks_test_record_timestamp(r), 12 + i);
                ks_test_record_destroy(r);
        }
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

/* The outer sequence numbers wrap: a side whose largest stored number is
 * 2^32 - 1 (a long-lived store, or one written by another client) must not
 * overwrite a record still waiting with the same key and timestamp. */
static void test_outer_seq_wrap(void **st) {
        (void)st;
        cfg_t c = {10, 10, 0, KS_JOIN_LEFT, 0};
        ks_test_driver_t *drv = named_driver(&c, NULL);
        uint8_t k[64];
        put_outer(drv, k, outer_key(k, 50, 0, 1, "q", 0xffffffffu), "lq");
        put_outer(drv, k, outer_key(k, 12, 0, 1, "k", 0), "l0");
        pipe_ok(drv, "L", "k", "l1", 12); /* unmatched too */
        pipe_ok(drv, "L", "z", "l2", 100);
        kst_expect_output(drv, "out", "k", 1, "l0:null", 7, 12);
        kst_expect_output(drv, "out", "k", 1, "l1:null", 7, 12);
        kst_expect_output(drv, "out", "q", 1, "lq:null", 7, 50);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

static int fail_on_l1 = 0;

/* As join_values, failing once on "l1". */
static ks_err_t flaky_join(void *o, const void *l, size_t ll, const void *r,
                           size_t rl, ks_buf_t *out) {
        if (fail_on_l1 && l && ll == 2 && !memcmp(l, "l1", 2)) {
                fail_on_l1 = 0;
                return KS_ERR_SERDE;
        }
        return join_values(o, l, ll, r, rl, out);
}

/* A joiner failing while unmatched records are emitted: the records not
 * yet emitted are still waiting, and one that then finds a partner is not
 * reported unmatched as well. */
static void test_emit_error_keeps_pending(void **st) {
        (void)st;
        cfg_t c = {10, 10, 0, KS_JOIN_OUTER, 0};
        ks_test_driver_t *drv = named_driver(&c, flaky_join);
        pipe_ok(drv, "L", "a", "l1", 10);
        pipe_ok(drv, "L", "b", "l2", 11);
        pipe_ok(drv, "L", "c", "l3", 30);
        fail_on_l1 = 1;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(drv, "L", "x", 1, "l4", 2, 40, NULL, &e), e,
                KS_ERR_PROCESSOR, "joiner");
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        /* The next record emits l1 and l2 (due at 31 and 32), and l3
         * (30) finds its partner. */
        pipe_ok(drv, "R", "c", "r1", 35);
        kst_expect_output(drv, "out", "a", 1, "l1:null", 7, 10);
        kst_expect_output(drv, "out", "b", 1, "l2:null", 7, 11);
        kst_expect_output(drv, "out", "c", 1, "l3:r1", 5, 35);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        pipe_ok(drv, "L", "y", "l5", 41);
        pipe_ok(drv, "L", "y", "l6", 100);
        kst_expect_output(drv, "out", "y", 1, "l5:null", 7, 41);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

/* Windows at the limits (before, after and grace up to INT64_MAX / 8,
 * before or after as negative as the other allows) and timestamps at the
 * ends of time: no overflow, and the model's results. A window pushed
 * past INT64_MAX by a negative before (or after, on the right) is empty:
 * it is not cut down to INT64_MAX, where it would join records it does not
 * reach. */
static void test_extreme_windows(void **st) {
        (void)st;
        const int64_t M = INT64_MAX / 8;
        const cfg_t cs[] = {
                {M, M, M, KS_JOIN_OUTER, 0},  {M, M, M, KS_JOIN_OUTER, 1},
                {-M, M, M, KS_JOIN_LEFT, 0},  {M, -M, 0, KS_JOIN_OUTER, 0},
                {0, 0, M, KS_JOIN_OUTER, 0},  {M, 0, 0, KS_JOIN_LEFT, 1},
                {M, -M, M, KS_JOIN_OUTER, 0}, {-M, M, 0, KS_JOIN_OUTER, 1},
        };
        const int64_t ts[] = {0,         1,         INT64_MAX - 1,
                              INT64_MAX, 0,         INT64_MAX / 2,
                              INT64_MAX, INT64_MAX, INT64_MAX - 1,
                              INT64_MAX};
        rec_t in[sizeof(ts) / sizeof(ts[0])];
        for (size_t j = 0; j < sizeof(ts) / sizeof(ts[0]); j++)
                in[j] = (rec_t){(int)(j % 2), 0, (int)j, ts[j]};
        for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
                run_recs(&cs[i], in, sizeof(in) / sizeof(in[0]));
}

/* Many duplicates of one key and timestamp, all matched by one record
 * (each deletion must not walk again over the ones deleted before it);
 * then more unmatched
 * records due at once than one scan takes: each comes out once, oldest
 * first. */
static void test_many_due(void **st) {
        (void)st;
        cfg_t c = {5, 5, 0, KS_JOIN_OUTER, 0};
        ks_test_driver_t *drv = named_driver(&c, NULL);
        const int n = 6000, dups = 3000;
        char v[16];
        for (int i = 0; i < dups; i++) {
                snprintf(v, sizeof(v), "d%d", i);
                pipe_ok(drv, "L", "h", v, 50);
        }
        /* Quadratic work here would take minutes and hit the test's
         * time limit; the test itself times nothing. */
        pipe_ok(drv, "R", "h", "rh", 51);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), (size_t)dups);
        for (int i = 0; i < dups; i++)
                ks_test_record_destroy(ks_test_driver_read_output(drv, "out"));
        /* n unmatched records of keys of their own, within 10 ms. */
        for (int i = 0; i < n; i++) {
                snprintf(v, sizeof(v), "u%d", i);
                pipe_ok(drv, i % 3 ? "L" : "R", v, v, 100 + i * 10 / n);
        }
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        pipe_ok(drv, "L", "z", "end", 200);
        char *seen = calloc((size_t)n, 1);
        assert_non_null(seen);
        int64_t last = 0;
        for (int i = 0; i < n; i++) {
                ks_test_record_t *r = ks_test_driver_read_output(drv, "out");
                assert_non_null(r);
                size_t kl, vl;
                const char *k = ks_test_record_key(r, &kl);
                const char *val = ks_test_record_value(r, &vl);
                assert_true(kl > 1 && kl < 8 && k[0] == 'u');
                int id = 0;
                for (size_t p = 1; p < kl; p++)
                        id = id * 10 + (k[p] - '0');
                assert_true(id < n && !seen[id]);
                seen[id] = 1;
                char w[32];
                int wl = snprintf(w, sizeof(w),
                                  id % 3 ? "%.*s:null" : "null:%.*s", (int)kl,
                                  k);
                assert_int_equal(vl, (size_t)wl);
                assert_memory_equal(val, w, vl);
                int64_t ts = ks_test_record_timestamp(r);
                assert_int_equal(ts, 100 + id * 10 / n);
                assert_true(ts >= last);
                last = ts;
                ks_test_record_destroy(r);
        }
        free(seen);
        assert_int_equal(ks_test_driver_output_size(drv, "out"), 0);
        ks_test_driver_destroy(drv);
}

/* Misuse of the builder calls: each fails the builder (or is refused)
 * with the windows freed once, and nothing leaks. */
static void test_builder_misuse(void **st) {
        (void)st;
        const char *lt[] = {"L"}, *rt[] = {"R"};
        ks_error_t *e = NULL;
        /* A NULL left stream, a healthy right one. */
        ks_builder_t *b = ks_builder_new();
        ks_stream_t *r = ks_builder_stream(b, rt, 1, NULL, NULL, NULL);
        assert_null(ks_stream_left_join(
                NULL, r, join_values, NULL,
                ks_join_windows_of_time_difference_no_grace(5), NULL));
        KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG, "NULL");
        /* Streams of two builders: the left's fails. */
        b = ks_builder_new();
        ks_builder_t *b2 = ks_builder_new();
        ks_stream_t *l = ks_builder_stream(b, lt, 1, NULL, NULL, NULL);
        r = ks_builder_stream(b2, rt, 1, NULL, NULL, NULL);
        assert_null(ks_stream_outer_join(
                l, r, join_values, NULL,
                ks_join_windows_of_time_difference_no_grace(5), "x"));
        KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG,
                         "different builders");
        ks_builder_destroy(b2);
        /* A NULL joiner. */
        b = ks_builder_new();
        l = ks_builder_stream(b, lt, 1, NULL, NULL, NULL);
        assert_null(ks_stream_join(
                l, l, NULL, NULL,
                ks_join_windows_of_time_difference_no_grace(5), NULL));
        KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG, "joiner");
        /* After a failure, the builder refuses the next join too. */
        b = ks_builder_new();
        l = ks_builder_stream(b, lt, 1, NULL, NULL, NULL);
        r = ks_builder_stream(b, rt, 1, NULL, NULL, NULL);
        assert_null(ks_stream_join(l, r, join_values, NULL, NULL, NULL));
        assert_null(ks_stream_join(
                l, r, join_values, NULL,
                ks_join_windows_of_time_difference_no_grace(5), NULL));
        KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG, "windows");
        /* Two joins of one name: the second is refused, naming it. */
        for (int kind = 0; kind < 3; kind++) {
                b = ks_builder_new();
                l = ks_builder_stream(b, lt, 1, NULL, NULL, NULL);
                r = ks_builder_stream(b, rt, 1, NULL, NULL, NULL);
                assert_non_null(join_fn[kind](
                        l, r, join_values, NULL,
                        ks_join_windows_of_time_difference_no_grace(5), "j"));
                assert_null(join_fn[kind](
                        r, l, join_values, NULL,
                        ks_join_windows_of_time_difference_no_grace(5), "j"));
                KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_TOPOLOGY,
                                 "j-this-join", "already exists");
        }
        /* A name too long for store names Kafka takes: refused. */
        char name[600];
        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        b = ks_builder_new();
        l = ks_builder_stream(b, lt, 1, NULL, NULL, NULL);
        r = ks_builder_stream(b, rt, 1, NULL, NULL, NULL);
        assert_null(ks_stream_outer_join(
                l, r, join_values, NULL,
                ks_join_windows_of_time_difference_no_grace(5), name));
        KST_ASSERT_ERROR(build_err(b, &e), e, KS_ERR_INVALID_ARG,
                         "at most 249");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crafted_outer_entries),
                cmocka_unit_test(test_huge_outer_values),
                cmocka_unit_test(test_outer_seq_wrap),
                cmocka_unit_test(test_emit_error_keeps_pending),
                cmocka_unit_test(test_extreme_windows),
                cmocka_unit_test(test_many_due),
                cmocka_unit_test(test_builder_misuse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
