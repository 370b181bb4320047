/* Windowed aggregations and suppression against hostile input and failing
 * callbacks, under the test driver: timestamps at the ends of time, window
 * ends past INT64_MAX, crafted entries in the stores a changelog restores
 * (the "<store>-emit" index, the session store), callbacks that fail
 * halfway, a record cache too small for one record's windows, a
 * suppression buffer of one record. Run under ASan/UBSan: no leak and no
 * overflow either. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "state/store_int.h"

#define TOPIC "in"
#define OUT   "out"
#define SIGN  ((uint64_t)1 << 63)
#define BIG   (INT64_MAX / 8) /* the largest size windowed_by takes */

/* --- callbacks: sums of decimal values, failing on demand ----------------- */

typedef struct {
        int fail_init, fail_add, fail_merge; /* fail the n-th call (1-based) */
        int inits, adds, merges;
} ctl_t;

static int64_t num(const void *p, size_t n) {
        char buf[32];
        if (n >= sizeof(buf))
                n = sizeof(buf) - 1;
        memcpy(buf, p, n);
        buf[n] = 0;
        return strtoll(buf, NULL, 10);
}

static ks_err_t put_num(ks_buf_t *out, int64_t v) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
        return ks_buf_append(out, buf, (size_t)n);
}

static ks_err_t c_init(void *o, ks_buf_t *agg) {
        ctl_t *c = o;
        if (++c->inits == c->fail_init)
                return KS_ERR_INVALID_ARG;
        return put_num(agg, 0);
}

static ks_err_t c_add(void *o, const ks_record_t *r, const void *agg,
                      size_t alen, ks_buf_t *out) {
        ctl_t *c = o;
        if (++c->adds == c->fail_add)
                return KS_ERR_INVALID_ARG;
        size_t vl;
        const void *v = ks_record_value(r, &vl);
        return put_num(out, num(agg, alen) + num(v, vl));
}

static ks_err_t c_merge(void *o, const void *k, size_t kl, const void *a1,
                        size_t l1, const void *a2, size_t l2, ks_buf_t *out) {
        ctl_t *c = o;
        (void)k;
        (void)kl;
        if (++c->merges == c->fail_merge)
                return KS_ERR_INVALID_ARG;
        return put_num(out, num(a1, l1) + num(a2, l2));
}

/* --- topologies ---------------------------------------------------------- */

typedef struct {
        int session;
        int64_t size, advance, grace;
        int on_close;
        int count; /* count, else aggregate (sums) */
        ks_store_backend_t backend;
        const char *cache; /* statestore.cache.max.bytes, NULL: default */
        ctl_t *ctl;
} topo_t;

static ks_test_driver_t *driver(const topo_t *p) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {TOPIC};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        ks_windows_t *w =
                p->session ? ks_session_windows_of_inactivity_gap_and_grace(
                                     p->size, p->grace)
                           : ks_time_windows_advance_by(
                                     ks_time_windows_of_size_and_grace(
                                             p->size, p->grace),
                                     p->advance ? p->advance : p->size);
        ks_windowed_stream_t *ws =
                ks_grouped_windowed_by(ks_stream_group_by_key(s, NULL), w);
        if (p->on_close)
                ws = ks_windowed_emit_strategy(ws, KS_EMIT_ON_WINDOW_CLOSE);
        ws = ks_windowed_materialize(ws, p->backend, 0);
        ks_table_t *t =
                p->count ? ks_windowed_count(ws, "w", "AGG")
                         : ks_windowed_aggregate(ws, c_init, c_add,
                                                 p->session ? c_merge : NULL,
                                                 p->ctl, "w", "AGG");
        assert_int_equal(ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL),
                         KS_ERR_NO_ERROR);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_config_t *c = kst_config("win-hostile");
        if (p->cache)
                kst_set(c, "statestore.cache.max.bytes", p->cache);
        ks_test_driver_t *d = ks_test_driver_new(topo, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        return d;
}

static ks_err_t pipe_e(ks_test_driver_t *d, const char *k, const char *v,
                       int64_t ts, ks_error_t **e) {
        return ks_test_driver_pipe(d, TOPIC, k, strlen(k), v, strlen(v), ts,
                                   NULL, e);
}

static void pipe_ok(ks_test_driver_t *d, const char *k, const char *v,
                    int64_t ts) {
        ks_error_t *e = NULL;
        KST_OK_E(pipe_e(d, k, v, ts, &e));
}

/* The next output: windowed key (@p end ignored for time windows), value
 * (NULL: a tombstone; else decimal text, or a count) and timestamp. */
static void expect_out(ks_test_driver_t *d, int session, int count,
                       const char *key, int64_t start, int64_t end,
                       const char *value, int64_t ts) {
        ks_test_record_t *r = ks_test_driver_read_output(d, OUT);
        if (!r)
                fail_msg("no output; expected %s [%lld, %lld]", key,
                         (long long)start, (long long)end);
        size_t kl, vl;
        const void *k = ks_test_record_key(r, &kl);
        const void *v = ks_test_record_value(r, &vl);
        const void *rk;
        size_t rkl;
        int64_t s, e = end;
        if (session)
                KST_OK(ks_windowed_key_session(k, kl, &rk, &rkl, &s, &e));
        else
                KST_OK(ks_windowed_key_time(k, kl, 0, &rk, &rkl, &s, NULL));
        if (rkl != strlen(key) || memcmp(rk, key, rkl) || s != start ||
            e != end)
                fail_msg("output %.*s [%lld, %lld], expected %s [%lld, %lld]",
                         (int)rkl, (const char *)rk, (long long)s, (long long)e,
                         key, (long long)start, (long long)end);
        if (!value) {
                assert_null(v);
        } else if (count) {
                int64_t n;
                KST_OK(ks_int64_decode(v, vl, &n, NULL));
                assert_int_equal(n, strtoll(value, NULL, 10));
        } else {
                assert_int_equal(vl, strlen(value));
                assert_memory_equal(v, value, vl);
        }
        assert_int_equal(ks_test_record_timestamp(r), ts);
        ks_test_record_destroy(r);
}

static void expect_no_output(ks_test_driver_t *d) {
        assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
}

static void put64(uint8_t *p, uint64_t v) {
        for (int i = 7; i >= 0; i--)
                *p++ = (uint8_t)(v >> (8 * i));
}

/* --- the ends of time ---------------------------------------------------- */

/* Windows of the largest size, records at 0 and at INT64_MAX: window ends
 * past INT64_MAX saturate, nothing overflows (UBSan), and the record at 1
 * is late for [0, BIG) once stream time is INT64_MAX. */
static void test_time_windows_at_the_ends_of_time(void **state) {
        (void)state;
        const int64_t last = INT64_MAX - INT64_MAX % BIG; /* 8 * BIG */
        for (int on_close = 0; on_close < 2; on_close++) {
                topo_t p = {.size = BIG,
                            .grace = BIG,
                            .on_close = on_close,
                            .count = 1,
                            .backend = KS_STORE_ROCKSDB};
                ks_test_driver_t *d = driver(&p);
                pipe_ok(d, "a", "1", 0);
                pipe_ok(d, "a", "1", INT64_MAX);
                pipe_ok(d, "a", "1", 1); /* [0, BIG) closed */
                pipe_ok(d, "a", "1", INT64_MAX - 1);
                pipe_ok(d, "", "1", INT64_MAX); /* an empty key */
                assert_int_equal(
                        ks_test_driver_metric(d, "dropped-records-late"), 1);
                if (on_close) {
                        /* [0, BIG) closed at INT64_MAX; [last, INT64_MAX)
                         * never closes. */
                        expect_out(d, 0, 1, "a", 0, 0, "1", 0);
                } else {
                        expect_out(d, 0, 1, "a", 0, 0, "1", 0);
                        expect_out(d, 0, 1, "a", last, 0, "1", INT64_MAX);
                        expect_out(d, 0, 1, "a", last, 0, "2", INT64_MAX);
                        expect_out(d, 0, 1, "", last, 0, "1", INT64_MAX);
                }
                expect_no_output(d);
                ks_test_driver_destroy(d);
        }
        /* Hopping: a record at INT64_MAX is in the 4 windows starting at
         * multiples of BIG / 4 after INT64_MAX - BIG, all ending past
         * INT64_MAX (saturated: with grace 0 they would count as closed
         * at stream time INT64_MAX). */
        topo_t p = {.size = BIG,
                    .advance = BIG / 4,
                    .grace = 1,
                    .count = 1,
                    .backend = KS_STORE_IN_MEMORY};
        ks_test_driver_t *d = driver(&p);
        pipe_ok(d, "h", "1", INT64_MAX);
        assert_int_equal(ks_test_driver_output_size(d, OUT), 4);
        ks_test_driver_destroy(d);
}

/* Sessions of the largest gap at both ends of time: the gap arithmetic
 * saturates, the two records stay apart (further than the gap), and
 * closing on INT64_MAX does not overflow. */
static void test_sessions_at_the_ends_of_time(void **state) {
        (void)state;
        for (int on_close = 0; on_close < 2; on_close++) {
                topo_t p = {.session = 1,
                            .size = BIG,
                            .grace = BIG,
                            .on_close = on_close,
                            .count = 1,
                            .backend = KS_STORE_ROCKSDB};
                ks_test_driver_t *d = driver(&p);
                pipe_ok(d, "a", "1", 0);
                pipe_ok(d, "a", "1", INT64_MAX);
                pipe_ok(d, "a", "1", INT64_MAX - BIG); /* merges */
                pipe_ok(d, "a", "1", 5);               /* late */
                pipe_ok(d, "", "1", INT64_MAX);        /* an empty key */
                assert_int_equal(
                        ks_test_driver_metric(d, "dropped-records-late"), 1);
                if (on_close) {
                        /* [0, 0] ended before INT64_MAX - BIG - BIG. */
                        expect_out(d, 1, 1, "a", 0, 0, "1", 0);
                } else {
                        expect_out(d, 1, 1, "a", 0, 0, "1", 0);
                        expect_out(d, 1, 1, "a", INT64_MAX, INT64_MAX, "1",
                                   INT64_MAX);
                        expect_out(d, 1, 1, "a", INT64_MAX, INT64_MAX, NULL,
                                   INT64_MAX);
                        expect_out(d, 1, 1, "a", INT64_MAX - BIG, INT64_MAX,
                                   "2", INT64_MAX);
                        expect_out(d, 1, 1, "", INT64_MAX, INT64_MAX, "1",
                                   INT64_MAX);
                }
                expect_no_output(d);
                ks_test_driver_destroy(d);
        }
}

/* The longest retention materialize takes, for sessions emitted on close
 * (whose store keeps one millisecond more): no overflow, a store that
 * keeps every session. */
static void test_longest_retention(void **state) {
        (void)state;
        for (int session = 0; session < 2; session++) {
                ks_builder_t *b = ks_builder_new();
                const char *topics[] = {TOPIC};
                ks_stream_t *s =
                        ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
                ks_windows_t *w =
                        session ? ks_session_windows_of_inactivity_gap_and_grace(
                                          10, BIG)
                                : ks_time_windows_of_size_and_grace(10, BIG);
                ks_windowed_stream_t *ws = ks_windowed_materialize(
                        ks_windowed_emit_strategy(
                                ks_grouped_windowed_by(
                                        ks_stream_group_by_key(s, NULL), w),
                                KS_EMIT_ON_WINDOW_CLOSE),
                        KS_STORE_ROCKSDB, INT64_MAX);
                ks_stream_to(ks_table_to_stream(
                                     ks_windowed_count(ws, "w", NULL), NULL),
                             OUT, NULL);
                ks_error_t *e = NULL;
                ks_topology_t *topo = NULL;
                KST_OK_E(ks_builder_build(b, &topo, &e));
                ks_test_driver_t *d = ks_test_driver_new(topo, NULL, 0, &e);
                assert_non_null(d);
                ks_topology_destroy(topo);
                ks_builder_destroy(b);
                pipe_ok(d, "a", "1", 0);
                pipe_ok(d, "a", "1", INT64_MAX);
                if (session) {
                        ks_session_store_t *ss;
                        KST_OK(ks_test_driver_get_session_store(d, "w", &ss));
                        assert_int_equal(ks_session_store_retention_ms(ss),
                                         INT64_MAX);
                } else {
                        ks_window_store_t *wst;
                        KST_OK(ks_test_driver_get_window_store(d, "w", &wst));
                        assert_int_equal(ks_window_store_retention_ms(wst),
                                         INT64_MAX);
                }
                ks_test_driver_destroy(d);
        }
}

/* --- crafted entries in restored stores ---------------------------------- */

/* An emit-index entry (0x01 | be64(end ^ sign) | be64(start ^ sign) | key)
 * of a session ending before it starts, as a changelog could bring back:
 * passed over like any malformed entry, not an error on every record. */
static void test_session_emit_index_end_before_start(void **state) {
        (void)state;
        topo_t p = {.session = 1,
                    .size = 10,
                    .on_close = 1,
                    .count = 1,
                    .backend = KS_STORE_ROCKSDB};
        ks_test_driver_t *d = driver(&p);
        pipe_ok(d, "a", "1", 100);
        ks_kv_store_t *idx;
        KST_OK(ks_test_driver_get_kv_store(d, "w-emit", &idx));
        uint8_t k[18];
        k[0] = 0x01;
        put64(k + 1, (uint64_t)50 ^ SIGN);
        put64(k + 9, (uint64_t)60 ^ SIGN);
        k[17] = 'a';
        KST_OK(ks_kv_store_put(idx, k, sizeof(k), "", 1));
        pipe_ok(d, "b", "1", 1000);
        pipe_ok(d, "b", "1", 1001);
        expect_out(d, 1, 1, "a", 100, 100, "1", 100);
        expect_no_output(d);
        ks_test_driver_destroy(d);
}

/* Emit-index entries of time windows that no step wrote: one whose end is
 * not its start plus the window size would send a window before it
 * closes (and again when it does); keys too short to be index entries.
 * Neither sends anything; both are forgotten once due. */
static void test_time_emit_index_crafted(void **state) {
        (void)state;
        topo_t p = {.size = 100,
                    .on_close = 1,
                    .count = 1,
                    .backend = KS_STORE_ROCKSDB};
        ks_test_driver_t *d = driver(&p);
        pipe_ok(d, "a", "1", 10);
        ks_kv_store_t *idx;
        KST_OK(ks_test_driver_get_kv_store(d, "w-emit", &idx));
        uint8_t k[18];
        k[0] = 0x01;
        put64(k + 1, (uint64_t)20 ^ SIGN); /* [0, 20): not a window here */
        put64(k + 9, (uint64_t)0 ^ SIGN);
        k[17] = 'a';
        KST_OK(ks_kv_store_put(idx, k, sizeof(k), "", 1));
        KST_OK(ks_kv_store_put(idx, k, 12, "", 1)); /* too short */
        KST_OK(ks_kv_store_put(idx, k, 1, "", 1));
        pipe_ok(d, "b", "1", 50);
        expect_no_output(d);
        pipe_ok(d, "a", "1", 60);
        pipe_ok(d, "b", "1", 100);
        expect_out(d, 0, 1, "a", 0, 0, "2", 60);
        expect_out(d, 0, 1, "b", 0, 0, "1", 50);
        expect_no_output(d);
        const void *v;
        size_t vl;
        assert_int_equal(ks_kv_store_get(idx, k, sizeof(k), &v, &vl),
                         KS_ERR_NOT_FOUND);
        assert_int_equal(ks_kv_store_get(idx, k, 12, &v, &vl),
                         KS_ERR_NOT_FOUND);
        assert_int_equal(ks_kv_store_get(idx, k, 1, &v, &vl), KS_ERR_NOT_FOUND);
        ks_test_driver_destroy(d);
}

/* A stored session that ends before it starts (a crafted changelog
 * record) is no session: a record of its key neither merges it nor fails
 * on removing it. */
static void test_session_store_end_before_start(void **state) {
        (void)state;
        topo_t p = {.session = 1,
                    .size = 10,
                    .count = 1,
                    .backend = KS_STORE_ROCKSDB};
        ks_test_driver_t *d = driver(&p);
        pipe_ok(d, "a", "1", 100);
        expect_out(d, 1, 1, "a", 100, 100, "1", 100);
        ks_session_store_t *ss;
        KST_OK(ks_test_driver_get_session_store(d, "w", &ss));
        /* be64(segment 0) | be32(1) | "a" | be64(end 99) | be64(start
         * 102): a count of 1000, within reach of a record at 104. */
        uint8_t k[29], v[16];
        put64(k, SIGN);
        memcpy(k + 8, "\0\0\0\1a", 5);
        put64(k + 13, (uint64_t)99 ^ SIGN);
        put64(k + 21, (uint64_t)102 ^ SIGN);
        put64(v, 99);
        ks_int64_encode(1000, v + 8);
        KST_OK(ks_kv_store_put(ks__session_store_kv(ss), k, sizeof(k), v, 16));
        pipe_ok(d, "a", "1", 104);
        expect_out(d, 1, 1, "a", 100, 100, NULL, 100);
        expect_out(d, 1, 1, "a", 100, 104, "2", 104);
        expect_no_output(d);
        ks_test_driver_destroy(d);
}

/* --- failing callbacks --------------------------------------------------- */

static void expect_failure(ks_test_driver_t *d, const char *k, int64_t ts,
                           const char *what) {
        /* A record at 60 is in windows [0, 100), [25, 125) and [50, 150)
         * of the hopping ones, in the session of one at 10. */
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(pipe_e(d, k, "1", ts, &e), e, KS_ERR_PROCESSOR, "AGG",
                         what);
        ks_error_destroy(e);
}

/* Each callback failing in each kind of step: the error names the step
 * and the callback, nothing leaks (ASan), and the step goes on with the
 * next record. */
static void test_failing_callbacks(void **state) {
        (void)state;
        static const struct {
                int session, on_close;
                int64_t advance;
                const char *cache;
                ctl_t ctl;
                const char *key, *what; /* the failing record's key */
        } cases[] = {
                {0, 0, 0, NULL, {.fail_init = 2}, "c", "initializer"},
                {0, 0, 0, NULL, {.fail_add = 2}, "a", "aggregator"},
                {0, 0, 25, "1", {.fail_add = 3}, "a", "aggregator"},
                {0, 0, 25, "0", {.fail_add = 3}, "a", "aggregator"},
                {0, 1, 25, NULL, {.fail_add = 3}, "c", "aggregator"},
                {1, 0, 0, NULL, {.fail_init = 2}, "c", "initializer"},
                {1, 0, 0, NULL, {.fail_add = 2}, "a", "aggregator"},
                {1, 1, 0, NULL, {.fail_merge = 1}, "a", "merger"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ctl_t ctl = cases[i].ctl;
                topo_t p = {.session = cases[i].session,
                            .size = 100,
                            .advance = cases[i].advance,
                            .grace = 1000,
                            .on_close = cases[i].on_close,
                            .backend = KS_STORE_ROCKSDB,
                            .cache = cases[i].cache,
                            .ctl = &ctl};
                ks_test_driver_t *d = driver(&p);
                pipe_ok(d, "a", "1", 10);
                expect_failure(d, cases[i].key, 60, cases[i].what);
                pipe_ok(d, "b", "1", 30);
                ks_test_driver_destroy(d);
        }
}

/* A record bridging two sessions whose aggregator then fails: nothing of
 * it is seen downstream (no tombstones for sessions still stored) and the
 * store still holds both sessions as they were. */
static void test_session_aggregator_fails_after_merge(void **state) {
        (void)state;
        ctl_t ctl = {.fail_add = 3};
        topo_t p = {.session = 1,
                    .size = 2000,
                    .grace = 10000,
                    .backend = KS_STORE_ROCKSDB,
                    .ctl = &ctl};
        ks_test_driver_t *d = driver(&p);
        pipe_ok(d, "a", "1", 1000);
        pipe_ok(d, "a", "2", 5000);
        expect_out(d, 1, 0, "a", 1000, 1000, "1", 1000);
        expect_out(d, 1, 0, "a", 5000, 5000, "2", 5000);
        expect_failure(d, "a", 3000, "aggregator");
        expect_no_output(d);
        ks_session_store_t *ss;
        KST_OK(ks_test_driver_get_session_store(d, "w", &ss));
        ks_session_iter_t *it;
        KST_OK(ks_session_store_fetch(ss, "a", 1, &it));
        int64_t s, e;
        assert_true(ks_session_iter_next(it, NULL, NULL, &s, &e, NULL, NULL));
        assert_int_equal(s, 1000);
        assert_true(ks_session_iter_next(it, NULL, NULL, &s, &e, NULL, NULL));
        assert_int_equal(s, 5000);
        assert_false(ks_session_iter_next(it, NULL, NULL, &s, &e, NULL, NULL));
        ks_session_iter_destroy(it);
        /* The same record, once the aggregator works: the merge. */
        pipe_ok(d, "a", "4", 3000);
        expect_out(d, 1, 0, "a", 1000, 1000, NULL, 1000);
        expect_out(d, 1, 0, "a", 5000, 5000, NULL, 5000);
        expect_out(d, 1, 0, "a", 1000, 5000, "7", 5000);
        expect_no_output(d);
        ks_test_driver_destroy(d);
}

/* --- the record cache ---------------------------------------------------- */

/* Hopping windows (four per record) through a cache of one byte, which
 * lets every other window out in the middle of a record, give what no
 * cache and the default cache give: the driver commits (flushes) after
 * every record, and windows go out in the order they were written. */
static void test_tiny_cache_evicts_mid_record(void **state) {
        (void)state;
        static const char *const caches[] = {"1", "0", NULL, "200"};
        char *outs[4];
        for (int c = 0; c < 4; c++) {
                ctl_t ctl = {0};
                topo_t p = {.size = 400,
                            .advance = 100,
                            .grace = 300,
                            .backend = KS_STORE_ROCKSDB,
                            .cache = caches[c],
                            .ctl = &ctl};
                ks_test_driver_t *d = driver(&p);
                static const char *const ks[] = {"a", "bb", "", "a"};
                for (int i = 0; i < 40; i++)
                        pipe_ok(d, ks[i % 4], "3",
                                1000 + 50 * i - 60 * (i % 3));
                size_t n = ks_test_driver_output_size(d, OUT);
                outs[c] = calloc(n + 1, 64);
                char *o = outs[c];
                for (size_t i = 0; i < n; i++) {
                        ks_test_record_t *r =
                                ks_test_driver_read_output(d, OUT);
                        size_t kl, vl;
                        const char *k = ks_test_record_key(r, &kl);
                        const char *v = ks_test_record_value(r, &vl);
                        const void *rk;
                        size_t rkl;
                        int64_t s;
                        KST_OK(ks_windowed_key_time(k, kl, 0, &rk, &rkl, &s,
                                                    NULL));
                        o += sprintf(o, "%.*s@%lld=%.*s/%lld;", (int)rkl,
                                     (const char *)rk, (long long)s, (int)vl, v,
                                     (long long)ks_test_record_timestamp(r));
                        ks_test_record_destroy(r);
                }
                ks_test_driver_destroy(d);
        }
        for (int c = 1; c < 4; c++)
                assert_string_equal(outs[c], outs[0]);
        for (int c = 0; c < 4; c++)
                free(outs[c]);
}

/* --- suppression --------------------------------------------------------- */

/* A buffer of one record that emits early: every new key pushes the held
 * one out, the latest value of a key replaces its held one in place. */
static void test_suppress_one_record_emit_early(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {TOPIC};
        ks_table_t *t = ks_stream_to_table(
                ks_builder_stream(b, topics, 1, ks_serde_string(),
                                  ks_serde_string(), NULL),
                NULL, NULL);
        t = ks_table_suppress_until_time_limit(t, 1000, 1, 0,
                                               KS_BUFFER_EMIT_EARLY, NULL);
        ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_test_driver_t *d = ks_test_driver_new(topo, NULL, 0, &e);
        assert_non_null(d);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        pipe_ok(d, "a", "1", 10);
        pipe_ok(d, "a", "2", 20);
        expect_no_output(d);
        pipe_ok(d, "b", "3", 30);
        kst_expect_output(d, OUT, "a", 1, "2", 1, 20);
        pipe_ok(d, "", "4", 5); /* older than b's: goes out itself */
        kst_expect_output(d, OUT, "", 0, "4", 1, 5);
        pipe_ok(d, "c", "5", 2000); /* b due, c pushed out by nothing */
        kst_expect_output(d, OUT, "b", 1, "3", 1, 30);
        expect_no_output(d);
        ks_test_driver_destroy(d);
}

/* Crafted entries in the suppression buffer's store (0x01 | be64(due ^
 * sign) | key -> be64 ts | flag | value): keys too short to be entries and
 * an entry whose value is too short are forgotten once met, not walked
 * past on every record nor sent. */
static void test_suppress_crafted_entries(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {TOPIC};
        ks_table_t *t = ks_stream_to_table(
                ks_builder_stream(b, topics, 1, ks_serde_string(),
                                  ks_serde_string(), NULL),
                NULL, NULL);
        t = ks_table_suppress_until_time_limit(t, 100, 0, 0,
                                               KS_BUFFER_SHUT_DOWN, "held");
        ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_test_driver_t *d = ks_test_driver_new(topo, NULL, 0, &e);
        assert_non_null(d);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        pipe_ok(d, "a", "1", 10);
        ks_kv_store_t *buf;
        KST_OK(ks_test_driver_get_kv_store(d, "held-store", &buf));
        uint8_t k[10];
        k[0] = 0x01;
        put64(k + 1, (uint64_t)5 ^ SIGN);
        k[9] = 'x';
        KST_OK(ks_kv_store_put(buf, k, 1, "v", 1));
        KST_OK(ks_kv_store_put(buf, k, 3, "v", 1));
        KST_OK(ks_kv_store_put(buf, k, sizeof(k), "short", 5));
        pipe_ok(d, "b", "2", 200); /* a is due */
        kst_expect_output(d, OUT, "a", 1, "1", 1, 10);
        expect_no_output(d);
        const void *v;
        size_t vl;
        assert_int_equal(ks_kv_store_get(buf, k, 1, &v, &vl), KS_ERR_NOT_FOUND);
        assert_int_equal(ks_kv_store_get(buf, k, 3, &v, &vl), KS_ERR_NOT_FOUND);
        assert_int_equal(ks_kv_store_get(buf, k, sizeof(k), &v, &vl),
                         KS_ERR_NOT_FOUND);
        ks_test_driver_destroy(d);
}

/* --- the emit index in memory -------------------------------------------- */

/* A spy over the emit store's backend: the most entries one cursor took
 * (an in-memory cursor copies its whole range when it opens). */
static const ks__kv_backend_ops_t *real_ops;
static size_t max_cursor;

static ks_err_t spy_cursor_open(void *impl, int reverse, const void *seek,
                                size_t seeklen, const ks__kv_bound_t *bound,
                                void **curp) {
        void *cur;
        ks_err_t err = real_ops->cursor_open(impl, reverse, seek, seeklen,
                                             bound, &cur);
        if (err)
                return err;
        const void *k, *v;
        size_t kl, vl, n = 0;
        while (real_ops->cursor_next(cur, &k, &kl, &v, &vl, &err))
                n++;
        real_ops->cursor_close(cur);
        if (n > max_cursor)
                max_cursor = n;
        return real_ops->cursor_open(impl, reverse, seek, seeklen, bound, curp);
}

/* Emitting on close reads the index from its oldest end up to the bound:
 * in memory a scan copies the windows it closes, not every open one, so a
 * record costs what it emits, not the number of open windows. */
static void test_memory_emit_scan_is_bounded(void **state) {
        (void)state;
        topo_t p = {.size = 1000,
                    .on_close = 1,
                    .count = 1,
                    .backend = KS_STORE_IN_MEMORY};
        ks_test_driver_t *d = driver(&p);
        ks_kv_store_t *idx;
        KST_OK(ks_test_driver_get_kv_store(d, "w-emit", &idx));
        static ks__kv_backend_ops_t spy;
        real_ops = idx->ops;
        spy = *real_ops;
        spy.cursor_open = spy_cursor_open;
        idx->ops = &spy;
        char k[16];
        for (int i = 0; i < 200; i++) {
                snprintf(k, sizeof(k), "k%d", i);
                pipe_ok(d, k, "1", 500); /* 200 open windows [0, 1000) */
        }
        max_cursor = 0;
        for (int i = 0; i < 50; i++)
                pipe_ok(d, "k1", "1", 600 + i); /* nothing closes */
        assert_true(max_cursor <= 1);
        pipe_ok(d, "z", "1", 1000); /* all 200 close */
        assert_int_equal(ks_test_driver_output_size(d, OUT), 200);
        idx->ops = real_ops;
        ks_test_driver_destroy(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_time_windows_at_the_ends_of_time),
                cmocka_unit_test(test_sessions_at_the_ends_of_time),
                cmocka_unit_test(test_longest_retention),
                cmocka_unit_test(test_session_emit_index_end_before_start),
                cmocka_unit_test(test_session_store_end_before_start),
                cmocka_unit_test(test_time_emit_index_crafted),
                cmocka_unit_test(test_failing_callbacks),
                cmocka_unit_test(test_session_aggregator_fails_after_merge),
                cmocka_unit_test(test_tiny_cache_evicts_mid_record),
                cmocka_unit_test(test_suppress_one_record_emit_early),
                cmocka_unit_test(test_suppress_crafted_entries),
                cmocka_unit_test(test_memory_emit_scan_is_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
