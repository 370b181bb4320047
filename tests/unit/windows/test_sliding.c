/* Sliding-window aggregations (KIP-450) under the test driver.
 *
 * The pseudo-random tests check every output against a brute-force model
 * built from Kafka Streams' definition of sliding windows, not from its
 * algorithm: over the records of a key accepted so far, each record at t
 * defines its left window [t - d, t] (early records, t < d, all [0, d])
 * and, if another record lies in (t, t + d], its right window
 * [t + 1, t + 1 + d]; a window's aggregate is over exactly the records
 * in it, its timestamp the largest of theirs. The hand-written tests
 * spell out Kafka Streams' exact sequence of updates, worked out from its
 * documentation's example and its rules for early and late records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#define MAXR  300
#define MAXW  (2 * MAXR)
#define NKEYS 3
#define TOPIC "in"
#define OUT   "out"

static const char *const keys[NKEYS] = {"a", "bb", "c"};

typedef enum { COUNT, SUM, REDUCE } agg_kind_t;

typedef struct {
        int key;
        int64_t ts, v;
        int late; /* too late for every window: dropped whole */
} rec_t;

/* A window of the model. */
typedef struct {
        int64_t start, count, sum, ts;
} mwin_t;

static uint64_t rng;
static uint64_t next_rand(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Records drifting forward from 0 (so the first ones are early), out of
 * order by up to @p jitter. With @p late_every, about one record in that
 * many falls far behind, too late for all its windows. A record is either
 * late that way or at least 2 ms after the close time (stream time minus
 * grace; @p grace >= 2): none is late for some windows only, and none
 * reads windows the store may have just expired (which Kafka Streams does
 * not see either). */
static void gen(rec_t *in, size_t n, int64_t d, int64_t grace, int64_t step,
                int64_t jitter, unsigned late_every, uint64_t seed) {
        rng = seed;
        int64_t t = 0, observed = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
                t += (int64_t)(next_rand() % (uint64_t)step);
                int64_t ts = t - (int64_t)(next_rand() % (uint64_t)jitter);
                int far = late_every && next_rand() % late_every == 0;
                if (far)
                        ts -= 3 * jitter + d + grace;
                if (ts < 0)
                        ts = 0;
                observed = ts > observed ? ts : observed;
                int64_t close = observed - grace;
                int late = ts + 1 + d <= close;
                if (!late && ts < close + 2)
                        ts = close + 2;
                in[i] = (rec_t){(int)(next_rand() % NKEYS), ts,
                                (int64_t)(next_rand() % 100), late};
        }
}

/* The windows of key @p key over the accepted records of in[0..n), by
 * definition; returns how many. */
static size_t model(const rec_t *in, size_t n, int key, int64_t d,
                    mwin_t *out) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
                if (in[i].late || in[i].key != key)
                        continue;
                int64_t t = in[i].ts, starts[2];
                int ns = 0;
                starts[ns++] = t >= d ? t - d : 0;
                for (size_t j = 0; j < n; j++)
                        if (!in[j].late && in[j].key == key && in[j].ts > t &&
                            in[j].ts <= t + d) {
                                starts[ns++] = t + 1;
                                break;
                        }
                for (int s = 0; s < ns; s++) {
                        size_t w = 0;
                        while (w < cnt && out[w].start != starts[s])
                                w++;
                        if (w == cnt) {
                                assert_true(cnt < MAXW);
                                out[cnt++] =
                                        (mwin_t){starts[s], 0, 0, INT64_MIN};
                        }
                }
        }
        for (size_t w = 0; w < cnt; w++)
                for (size_t i = 0; i < n; i++) {
                        const rec_t *r = &in[i];
                        if (r->late || r->key != key || r->ts < out[w].start ||
                            r->ts > out[w].start + d)
                                continue;
                        out[w].count++;
                        out[w].sum += r->v;
                        out[w].ts = r->ts > out[w].ts ? r->ts : out[w].ts;
                }
        return cnt;
}

static const mwin_t *model_find(const mwin_t *w, size_t n, int64_t start) {
        for (size_t i = 0; i < n; i++)
                if (w[i].start == start)
                        return &w[i];
        return NULL;
}

/* --- callbacks ----------------------------------------------------------- */

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

static ks_err_t zero(void *o, ks_buf_t *agg) {
        (void)o;
        return put_num(agg, 0);
}

/* Aggregator and reducer alike: the sum of the values. */
static ks_err_t add_value(void *o, const ks_record_t *r, const void *agg,
                          size_t alen, ks_buf_t *out) {
        (void)o;
        size_t vl;
        const void *v = ks_record_value(r, &vl);
        return put_num(out, num(agg, alen) + num(v, vl));
}

/* --- the driver ---------------------------------------------------------- */

/* A sliding-window aggregation of "in" into "out"; @p cached: through
 * the record cache (the driver commits after each record), else with
 * none. */
static ks_test_driver_t *driver(int64_t d, int64_t grace, int on_close,
                                agg_kind_t kind, int cached) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {TOPIC};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        ks_windowed_stream_t *ws = ks_grouped_windowed_by(
                ks_stream_group_by_key(s, NULL),
                ks_sliding_windows_of_time_difference_and_grace(d, grace));
        if (on_close)
                ws = ks_windowed_emit_strategy(ws, KS_EMIT_ON_WINDOW_CLOSE);
        ks_table_t *t =
                kind == COUNT ? ks_windowed_count(ws, "slide", NULL)
                : kind == SUM ? ks_windowed_aggregate(ws, zero, add_value, NULL,
                                                      NULL, "slide", NULL)
                              : ks_windowed_reduce(ws, add_value, NULL, "slide",
                                                   NULL);
        assert_int_equal(ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL),
                         KS_ERR_NO_ERROR);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_config_t *c = kst_config("sliding");
        if (!cached)
                kst_set(c, "statestore.cache.max.bytes", "0");
        ks_test_driver_t *drv = ks_test_driver_new(topo, c, 0, &e);
        if (!drv)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        return drv;
}

static void pipe_at(ks_test_driver_t *drv, int key, int64_t ts, int64_t v) {
        char val[32];
        int n = snprintf(val, sizeof(val), "%lld", (long long)v);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, TOPIC, keys[key], strlen(keys[key]),
                                     val, (size_t)n, ts, NULL, &e));
}

/* An output: its key (index), window start, value and timestamp. */
typedef struct {
        int key;
        int64_t start, value, ts;
} out_t;

/* The next output, 0 if there is none. @p kind says how values read. */
static int read_out(ks_test_driver_t *drv, agg_kind_t kind, int64_t d,
                    out_t *o) {
        ks_test_record_t *r = ks_test_driver_read_output(drv, OUT);
        if (!r)
                return 0;
        size_t kl, vl, klen;
        const void *k = ks_test_record_key(r, &kl);
        const void *v = ks_test_record_value(r, &vl);
        const void *key;
        int64_t end;
        assert_int_equal(
                ks_windowed_key_time(k, kl, d, &key, &klen, &o->start, &end),
                KS_ERR_NO_ERROR);
        assert_int_equal(end, o->start + d);
        o->key = -1;
        for (int i = 0; i < NKEYS; i++)
                if (strlen(keys[i]) == klen && !memcmp(keys[i], key, klen))
                        o->key = i;
        assert_true(o->key >= 0);
        assert_non_null(v);
        if (kind == COUNT)
                assert_int_equal(ks_int64_decode(v, vl, &o->value, NULL),
                                 KS_ERR_NO_ERROR);
        else
                o->value = num(v, vl);
        o->ts = ks_test_record_timestamp(r);
        ks_test_record_destroy(r);
        return 1;
}

static int64_t value_of(const mwin_t *w, agg_kind_t kind) {
        return kind == COUNT ? w->count : w->sum;
}

/* --- emit on close ------------------------------------------------------- */

/* After each record, exactly the windows of the final model that end
 * before the close time have been emitted, each once, with the model's
 * aggregate and timestamp. */
static void run_on_close(int64_t d, int64_t grace, agg_kind_t kind,
                         uint64_t seed) {
        static rec_t in[MAXR];
        static mwin_t fin[NKEYS][MAXW];
        static int done[NKEYS][MAXW];
        size_t n = 250, nfin[NKEYS];
        gen(in, n, d, grace, 300, 2500, 0, seed);
        for (int k = 0; k < NKEYS; k++) {
                nfin[k] = model(in, n, k, d, fin[k]);
                memset(done[k], 0, sizeof(done[k]));
        }
        ks_test_driver_t *drv = driver(d, grace, 1, kind, 1);
        int64_t observed = INT64_MIN;
        size_t emitted = 0, early = 0;
        for (size_t i = 0; i < n; i++) {
                pipe_at(drv, in[i].key, in[i].ts, in[i].v);
                early += in[i].ts < d;
                observed = in[i].ts > observed ? in[i].ts : observed;
                int64_t close = observed - grace;
                out_t o;
                while (read_out(drv, kind, d, &o)) {
                        const mwin_t *w =
                                model_find(fin[o.key], nfin[o.key], o.start);
                        if (!w)
                                fail_msg("record %zu: window %s [%lld] is "
                                         "not in the model",
                                         i, keys[o.key], (long long)o.start);
                        int *once = &done[o.key][w - fin[o.key]];
                        if (*once || w->start + d >= close)
                                fail_msg("record %zu: window %s [%lld] "
                                         "emitted %s",
                                         i, keys[o.key], (long long)o.start,
                                         *once ? "twice" : "before it closed");
                        *once = 1;
                        emitted++;
                        if (o.value != value_of(w, kind) || o.ts != w->ts)
                                fail_msg("window %s [%lld]: %lld at %lld, "
                                         "model %lld at %lld",
                                         keys[o.key], (long long)o.start,
                                         (long long)o.value, (long long)o.ts,
                                         (long long)value_of(w, kind),
                                         (long long)w->ts);
                }
                size_t closed = 0;
                for (int k = 0; k < NKEYS; k++)
                        for (size_t w = 0; w < nfin[k]; w++)
                                closed += fin[k][w].start + d < close;
                if (emitted != closed)
                        fail_msg("after record %zu: %zu windows emitted, %zu "
                                 "closed",
                                 i, emitted, closed);
        }
        assert_true(emitted > 100);
        assert_true(early > 0); /* the input does have early records */
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 0);
        ks_test_driver_destroy(drv);
}

static void test_on_close_count(void **state) {
        (void)state;
        run_on_close(1500, 2000, COUNT, 0x5eed0001);
}

static void test_on_close_sum(void **state) {
        (void)state;
        run_on_close(2500, 300, SUM, 0x5eed0002);
}

/* --- emit on update ------------------------------------------------------ */

/* Each record updates exactly the windows of its key that hold it and
 * makes the new ones; each goes out once (the driver commits after each
 * record) with the model's aggregate and timestamp at that point. Late
 * records change nothing and are counted. At the end, the last value of
 * every window is the model's. */
static void run_on_update(int64_t d, int64_t grace, agg_kind_t kind, int cached,
                          uint64_t seed) {
        static rec_t in[MAXR];
        static mwin_t before[MAXW], after[MAXW];
        static out_t last[NKEYS * MAXW];
        size_t n = 250, nlast = 0;
        int64_t late = 0;
        gen(in, n, d, grace, 300, 2500, 9, seed);
        ks_test_driver_t *drv = driver(d, grace, 0, kind, cached);
        for (size_t i = 0; i < n; i++) {
                const rec_t *r = &in[i];
                pipe_at(drv, r->key, r->ts, r->v);
                late += r->late;
                size_t nb = model(in, i, r->key, d, before);
                size_t na = model(in, i + 1, r->key, d, after);
                int changed[MAXW] = {0};
                size_t nchanged = 0;
                for (size_t w = 0; w < na && !r->late; w++) {
                        changed[w] = !model_find(before, nb, after[w].start) ||
                                     (after[w].start <= r->ts &&
                                      r->ts <= after[w].start + d);
                        nchanged += changed[w];
                }
                size_t got = 0;
                out_t o;
                while (read_out(drv, kind, d, &o)) {
                        const mwin_t *w = model_find(after, na, o.start);
                        if (o.key != r->key || !w || !changed[w - after])
                                fail_msg("record %zu (%s at %lld): window "
                                         "%s [%lld] unexpected",
                                         i, keys[r->key], (long long)r->ts,
                                         keys[o.key], (long long)o.start);
                        changed[w - after] = 0; /* once */
                        got++;
                        if (o.value != value_of(w, kind) || o.ts != w->ts)
                                fail_msg("record %zu: window %s [%lld]: %lld "
                                         "at %lld, model %lld at %lld",
                                         i, keys[o.key], (long long)o.start,
                                         (long long)o.value, (long long)o.ts,
                                         (long long)value_of(w, kind),
                                         (long long)w->ts);
                        size_t l = 0;
                        while (l < nlast && (last[l].key != o.key ||
                                             last[l].start != o.start))
                                l++;
                        nlast += l == nlast;
                        last[l] = o;
                }
                if (got != nchanged)
                        fail_msg("record %zu (%s at %lld): %zu windows sent, "
                                 "the model changed %zu",
                                 i, keys[r->key], (long long)r->ts, got,
                                 nchanged);
        }
        /* The last value sent of every window is its final aggregate. */
        size_t total = 0;
        for (int k = 0; k < NKEYS; k++) {
                size_t na = model(in, n, k, d, after);
                total += na;
                for (size_t w = 0; w < na; w++) {
                        size_t l = 0;
                        while (l < nlast && (last[l].key != k ||
                                             last[l].start != after[w].start))
                                l++;
                        assert_true(l < nlast);
                        assert_int_equal(last[l].value,
                                         value_of(&after[w], kind));
                        assert_int_equal(last[l].ts, after[w].ts);
                }
        }
        assert_int_equal(total, nlast);
        assert_true(late > 5); /* the input does exercise lateness */
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"),
                         late);
        ks_test_driver_destroy(drv);
}

static void test_on_update_count(void **state) {
        (void)state;
        run_on_update(1500, 1000, COUNT, 0, 0x5eed0003);
}

static void test_on_update_reduce(void **state) {
        (void)state;
        run_on_update(2000, 2, REDUCE, 1, 0x5eed0004);
}

/* --- hand-written sequences ---------------------------------------------- */

/* Pipe (@p key 0, @p ts) and expect exactly the counts @p exp (start,
 * count, timestamp triples, @p n of them) in that order. */
static void expect_counts(ks_test_driver_t *drv, int64_t d, int64_t ts,
                          const int64_t (*exp)[3], size_t n) {
        pipe_at(drv, 0, ts, 1);
        out_t o;
        for (size_t i = 0; i < n; i++) {
                if (!read_out(drv, COUNT, d, &o))
                        fail_msg("record at %lld: %zu outputs, expected %zu",
                                 (long long)ts, i, n);
                if (o.start != exp[i][0] || o.value != exp[i][1] ||
                    o.ts != exp[i][2])
                        fail_msg("record at %lld, output %zu: [%lld] %lld at "
                                 "%lld, expected [%lld] %lld at %lld",
                                 (long long)ts, i, (long long)o.start,
                                 (long long)o.value, (long long)o.ts,
                                 (long long)exp[i][0], (long long)exp[i][1],
                                 (long long)exp[i][2]);
        }
        if (read_out(drv, COUNT, d, &o))
                fail_msg("record at %lld: more than %zu outputs", (long long)ts,
                         n);
}

/* Kafka Streams' SlidingWindows documentation: d = 5000, records at 8000,
 * 9200 and 12400 make the windows [3000, 8000] {8000}, [4200, 9200]
 * {8000, 9200}, [7400, 12400] {all three}, [8001, 13001] {9200, 12400}
 * and [9201, 14201] {12400}. Each record updates the windows holding it,
 * newest first, then makes the right window of the record before it, its
 * own left window and its own right window. A record at 10000, out of
 * order, then goes into the three windows holding it, makes its left
 * window [5000, 10000] from [4200, 9200] (the window before it), and its
 * right window [10001, 15001] as a copy of [9201, 14201] as it was. */
static void documentation_example(int cached) {
        int64_t d = 5000;
        ks_test_driver_t *drv = driver(d, 10000, 0, COUNT, cached);
        static const int64_t r1[][3] = {{3000, 1, 8000}};
        static const int64_t r2[][3] = {{8001, 1, 9200}, {4200, 2, 9200}};
        static const int64_t r3[][3] = {
                {8001, 2, 12400}, {9201, 1, 12400}, {7400, 3, 12400}};
        static const int64_t r4[][3] = {{9201, 2, 12400},
                                        {8001, 3, 12400},
                                        {7400, 4, 12400},
                                        {5000, 3, 10000},
                                        {10001, 1, 12400}};
        expect_counts(drv, d, 8000, r1, 1);
        expect_counts(drv, d, 9200, r2, 2);
        expect_counts(drv, d, 12400, r3, 3);
        expect_counts(drv, d, 10000, r4, 5);
        ks_test_driver_destroy(drv);
}

/* Through the record cache and without: the same updates, in the same
 * order. */
static void test_documentation_example(void **state) {
        (void)state;
        documentation_example(1);
        documentation_example(0);
}

/* Early records (t < d = 10) all go into [0, 10]; their right windows
 * come as later records fall in them. 3: [0] {3}. 7: its right window
 * [4, 14] for the record at 3, then [0] {3, 7}. 12: [4] takes it, the
 * right window [8, 18] of 7, its left window [2, 12] from [0]. 1: [2, 12]
 * is its right window already, so only [0] {1, 3, 7}. 5: [2] and [4] take
 * it, its right window [6, 16] is a copy of [4, 14] before, then [0]. 25:
 * [15, 25] alone (12's right window would not hold it). */
static void test_early_records(void **state) {
        (void)state;
        int64_t d = 10;
        ks_test_driver_t *drv = driver(d, 100, 0, COUNT, 1);
        static const int64_t r3[][3] = {{0, 1, 3}};
        static const int64_t r7[][3] = {{4, 1, 7}, {0, 2, 7}};
        static const int64_t r12[][3] = {{4, 2, 12}, {8, 1, 12}, {2, 3, 12}};
        static const int64_t r1[][3] = {{0, 3, 7}};
        static const int64_t r5[][3] = {
                {2, 4, 12}, {4, 3, 12}, {6, 2, 12}, {0, 4, 7}};
        static const int64_t r25[][3] = {{15, 1, 25}};
        expect_counts(drv, d, 3, r3, 1);
        expect_counts(drv, d, 7, r7, 2);
        expect_counts(drv, d, 12, r12, 3);
        expect_counts(drv, d, 1, r1, 1);
        expect_counts(drv, d, 5, r5, 4);
        expect_counts(drv, d, 25, r25, 1);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 0);
        ks_test_driver_destroy(drv);
}

/* d = 10, grace 5: a record is dropped whole when t + 1 + d is at or
 * before the close time, else from each window it would update or make
 * that ends before the close time, counted once per window. 100: [90].
 * 120 (close 115): [110]. 104: 115 <= 115, dropped whole (1). 105: 116
 * > 115, not dropped whole, but the right window [101, 111] of 100 and
 * its own left window [95, 105] both end before 115 (2, 3). 112: [110] takes
 * it; its left window [102, 112] is late (4); its right window [113, 123] is a
 * copy of [110] as it was. 115: [113] and [110] take it; its left window [105,
 * 115] ends at the close time, not before, so it is made, from nothing: 112, in
 * it, is left out, as Kafka Streams does (it starts left windows from the
 * window before, and 112's own left window was never made); its right window
 * [116, 126] is a copy of [113] as it was. */
static void test_partly_late(void **state) {
        (void)state;
        int64_t d = 10;
        ks_test_driver_t *drv = driver(d, 5, 0, COUNT, 0);
        static const int64_t r100[][3] = {{90, 1, 100}};
        static const int64_t r120[][3] = {{110, 1, 120}};
        static const int64_t r112[][3] = {{110, 2, 120}, {113, 1, 120}};
        expect_counts(drv, d, 100, r100, 1);
        expect_counts(drv, d, 120, r120, 1);
        expect_counts(drv, d, 104, NULL, 0);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 1);
        expect_counts(drv, d, 105, NULL, 0);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 3);
        expect_counts(drv, d, 112, r112, 2);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 4);
        static const int64_t r115[][3] = {
                {113, 2, 120}, {110, 3, 120}, {105, 1, 115}, {116, 1, 120}};
        expect_counts(drv, d, 115, r115, 4);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"), 4);
        ks_test_driver_destroy(drv);
}

/* On close, a window is final once it ends before stream time minus
 * grace: [90, 100] (grace 5) at stream time 106, not 105. */
static void test_on_close_boundary(void **state) {
        (void)state;
        int64_t d = 10;
        ks_test_driver_t *drv = driver(d, 5, 1, COUNT, 1);
        out_t o;
        pipe_at(drv, 0, 100, 1);
        pipe_at(drv, 1, 105, 1);
        assert_false(read_out(drv, COUNT, d, &o));
        pipe_at(drv, 1, 106, 1);
        assert_true(read_out(drv, COUNT, d, &o));
        assert_int_equal(o.key, 0);
        assert_int_equal(o.start, 90);
        assert_int_equal(o.value, 1);
        assert_int_equal(o.ts, 100);
        assert_false(read_out(drv, COUNT, d, &o));
        ks_test_driver_destroy(drv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_on_close_count),
                cmocka_unit_test(test_on_close_sum),
                cmocka_unit_test(test_on_update_count),
                cmocka_unit_test(test_on_update_reduce),
                cmocka_unit_test(test_documentation_example),
                cmocka_unit_test(test_early_records),
                cmocka_unit_test(test_partly_late),
                cmocka_unit_test(test_on_close_boundary),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
