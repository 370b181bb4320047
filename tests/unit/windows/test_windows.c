/* Windowed aggregations and suppression under the test driver. Every output
 * record (windowed key, value, timestamp, order) is checked against a
 * brute-force model computed here from the input: time windows by
 * scanning every window start, sessions by clustering the accepted
 * records of a key afresh for each record, final results by sorting what
 * the model says has closed. Input is pseudo-random (fixed seeds), out of
 * order, with late and too-late records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#define MAXR  400
#define MAXW  4096
#define NKEYS 4
#define TOPIC "in"
#define OUT   "out"

static const char *const keys[NKEYS] = {"a", "bb", "c", "a2"};

typedef struct {
        int key;
        int64_t ts;
        int64_t v; /* the value, a small number as text */
} in_t;

/* An expected output record. */
typedef struct {
        int key;
        int64_t start, end; /* the window */
        int tomb;
        int64_t value, ts;
} exp_t;

static exp_t exps[MAXW * 4];
static size_t nexp;

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Records drifting forward with jitter: some out of order, some far
 * behind (too late once stream time has moved on). */
static size_t gen(in_t *in, size_t n, int64_t step, int64_t jitter,
                  uint64_t seed) {
        rng = seed;
        int64_t t = 1000;
        for (size_t i = 0; i < n; i++) {
                t += (int64_t)(next_rand() % (uint64_t)step);
                int64_t ts = t - (int64_t)(next_rand() % (uint64_t)jitter);
                if (next_rand() % 17 == 0)
                        ts -= 5 * jitter; /* far behind */
                in[i] = (in_t){(int)(next_rand() % NKEYS), ts < 0 ? 0 : ts,
                               (int64_t)(next_rand() % 100)};
        }
        return n;
}

static ks_stream_t *in_stream(ks_builder_t *b, const char *topic,
                              ks_serde_t *ks, ks_serde_t *vs) {
        const char *topics[] = {topic};
        return ks_builder_stream(b, topics, 1, ks, vs, NULL);
}

static ks_test_driver_t *driver(ks_builder_t *b, const char *app) {
        ks_error_t *e = NULL;
        ks_topology_t *t = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_config_t *c = kst_config(app);
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(t);
        ks_builder_destroy(b);
        return d;
}

static void pipe1(ks_test_driver_t *d, const in_t *r) {
        char v[32];
        int n = snprintf(v, sizeof(v), "%lld", (long long)r->v);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, keys[r->key],
                                     strlen(keys[r->key]), v, (size_t)n, r->ts,
                                     NULL, &e));
}

/* Read every output and compare with exps[0..nexp). @p session: session
 * windowed keys; @p sum: values are decimal text, else 8-byte counts. */
static void check_outputs(ks_test_driver_t *d, int session, int sum) {
        size_t got = ks_test_driver_output_size(d, OUT);
        if (got != nexp)
                fail_msg("%zu output records, the model has %zu", got, nexp);
        for (size_t i = 0; i < nexp; i++) {
                const exp_t *x = &exps[i];
                ks_test_record_t *r = ks_test_driver_read_output(d, OUT);
                assert_non_null(r);
                size_t kl, vl;
                const void *k = ks_test_record_key(r, &kl);
                const void *v = ks_test_record_value(r, &vl);
                const void *key;
                size_t klen;
                int64_t s, e;
                if (session)
                        assert_int_equal(ks_windowed_key_session(k, kl, &key,
                                                                 &klen, &s, &e),
                                         KS_ERR_NO_ERROR);
                else
                        assert_int_equal(ks_windowed_key_time(k, kl, 0, &key,
                                                              &klen, &s, NULL),
                                         KS_ERR_NO_ERROR);
                const char *ek = keys[x->key];
                if (klen != strlen(ek) || memcmp(key, ek, klen) ||
                    s != x->start || (session && e != x->end))
                        fail_msg("output %zu: key %.*s [%lld, %lld], model "
                                 "%s [%lld, %lld]",
                                 i, (int)klen, (const char *)key, (long long)s,
                                 (long long)(session ? e : -1), ek,
                                 (long long)x->start,
                                 (long long)(session ? x->end : -1));
                if (x->tomb) {
                        assert_null(v);
                } else {
                        assert_non_null(v);
                        int64_t val;
                        if (sum) {
                                char buf[32];
                                assert_true(vl < sizeof(buf));
                                memcpy(buf, v, vl);
                                buf[vl] = 0;
                                val = strtoll(buf, NULL, 10);
                        } else {
                                assert_int_equal(
                                        ks_int64_decode(v, vl, &val, NULL),
                                        KS_ERR_NO_ERROR);
                        }
                        if (val != x->value)
                                fail_msg("output %zu (%s [%lld]): value "
                                         "%lld, model %lld",
                                         i, ek, (long long)s, (long long)val,
                                         (long long)x->value);
                }
                if (ks_test_record_timestamp(r) != x->ts)
                        fail_msg("output %zu (%s [%lld]): timestamp %lld, "
                                 "model %lld",
                                 i, ek, (long long)s,
                                 (long long)ks_test_record_timestamp(r),
                                 (long long)x->ts);
                ks_test_record_destroy(r);
        }
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

static ks_err_t add_value(void *o, const ks_record_t *r, const void *agg,
                          size_t alen, ks_buf_t *out) {
        (void)o;
        size_t vl;
        const void *v = ks_record_value(r, &vl);
        return put_num(out, num(agg, alen) + num(v, vl));
}

static ks_err_t merge_sums(void *o, const void *k, size_t kl, const void *a1,
                           size_t l1, const void *a2, size_t l2,
                           ks_buf_t *out) {
        (void)o;
        (void)k;
        (void)kl;
        return put_num(out, num(a1, l1) + num(a2, l2));
}

static ks_err_t join_values(void *o, const void *l, size_t ll, const void *r,
                            size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, l, ll);
        return err ? err : ks_buf_append(out, r, rl);
}

/* --- the time-window model ----------------------------------------------- */

typedef struct {
        int key;
        int64_t start;
        int64_t count, sum, ts;
        int emitted;
} win_t;

static win_t wins[MAXW];
static size_t nwins;

static win_t *win_find(int key, int64_t start, int make) {
        for (size_t i = 0; i < nwins; i++)
                if (wins[i].key == key && wins[i].start == start)
                        return &wins[i];
        if (!make)
                return NULL;
        assert_true(nwins < MAXW);
        wins[nwins] = (win_t){key, start, 0, 0, INT64_MIN, 0};
        return &wins[nwins++];
}

static int by_end_start_key(const void *a, const void *b) {
        const exp_t *x = a, *y = b;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return strcmp(keys[x->key], keys[y->key]);
}

/* Model time windows of @p size advancing by @p adv with @p grace over
 * @p in: on update (every change, in window order) or on close (each
 * window once, when stream time minus grace reaches its end; sorted by end,
 * start, key; before the record's own changes). Returns the late drops. */
static int64_t model_time(const in_t *in, size_t n, int64_t size, int64_t adv,
                          int64_t grace, int on_close, int sum) {
        nwins = nexp = 0;
        int64_t observed = INT64_MIN, late = 0;
        for (size_t i = 0; i < n; i++) {
                const in_t *r = &in[i];
                observed = r->ts > observed ? r->ts : observed;
                int64_t close = observed - grace;
                if (on_close) {
                        size_t from = nexp;
                        for (size_t w = 0; w < nwins; w++)
                                if (!wins[w].emitted &&
                                    wins[w].start + size <= close) {
                                        wins[w].emitted = 1;
                                        exps[nexp++] =
                                                (exp_t){wins[w].key,
                                                        wins[w].start,
                                                        wins[w].start + size,
                                                        0,
                                                        sum ? wins[w].sum
                                                            : wins[w].count,
                                                        wins[w].ts};
                                }
                        qsort(exps + from, nexp - from, sizeof(exp_t),
                              by_end_start_key);
                }
                /* Every start that is a multiple of adv, brute force. */
                for (int64_t s = 0; s <= r->ts; s += adv) {
                        if (!(s <= r->ts && r->ts < s + size))
                                continue;
                        if (s + size <= close) {
                                late++;
                                continue;
                        }
                        win_t *w = win_find(r->key, s, 1);
                        w->count++;
                        w->sum += r->v;
                        w->ts = r->ts > w->ts ? r->ts : w->ts;
                        if (!on_close)
                                exps[nexp++] = (exp_t){r->key,
                                                       s,
                                                       s + size,
                                                       0,
                                                       sum ? w->sum : w->count,
                                                       w->ts};
                }
        }
        return late;
}

/* The backend of the windowed stores (and a longer retention) under test:
 * each model test runs on both. */
static ks_store_backend_t backend = KS_STORE_ROCKSDB;
static int64_t retention;

static ks_builder_t *time_topology(int64_t size, int64_t adv, int64_t grace,
                                   int on_close, int sum) {
        ks_builder_t *b = ks_builder_new();
        ks_stream_t *s =
                in_stream(b, TOPIC, ks_serde_string(), ks_serde_string());
        ks_windows_t *w = ks_time_windows_of_size_and_grace(size, grace);
        ks_windowed_stream_t *ws =
                ks_grouped_windowed_by(ks_stream_group_by_key(s, NULL),
                                       ks_time_windows_advance_by(w, adv));
        if (on_close)
                ws = ks_windowed_emit_strategy(ws, KS_EMIT_ON_WINDOW_CLOSE);
        ws = ks_windowed_materialize(ws, backend, retention);
        ks_table_t *t = sum ? ks_windowed_aggregate(ws, zero, add_value, NULL,
                                                    NULL, "sums", NULL)
                            : ks_windowed_count(ws, "counts", NULL);
        assert_int_equal(ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL),
                         KS_ERR_NO_ERROR);
        return b;
}

static void run_time1(int64_t size, int64_t adv, int64_t grace, int on_close,
                      int sum, uint64_t seed) {
        static in_t in[MAXR];
        size_t n = gen(in, 300, 400, 3000, seed);
        int64_t late = model_time(in, n, size, adv, grace, on_close, sum);
        ks_test_driver_t *d = driver(
                time_topology(size, adv, grace, on_close, sum), "win-time");
        for (size_t i = 0; i < n; i++)
                pipe1(d, &in[i]);
        check_outputs(d, 0, sum);
        assert_true(late > 0); /* the input does exercise lateness */
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-late"),
                         late);
        /* The store's observed stream time: the largest window start. */
        int64_t last = INT64_MIN;
        for (size_t w = 0; w < nwins; w++)
                last = wins[w].start > last ? wins[w].start : last;
        ks_window_store_t *ws = NULL;
        KST_OK(ks_test_driver_get_window_store(d, sum ? "sums" : "counts",
                                               &ws));
        assert_int_equal(ks_window_store_observed_stream_time(ws), last);
        ks_test_driver_destroy(d);
}

/* On RocksDB, in memory, and in memory with a longer retention. */
static void run_time(int64_t size, int64_t adv, int64_t grace, int on_close,
                     int sum, uint64_t seed) {
        for (int i = 0; i < 3; i++) {
                backend = i ? KS_STORE_IN_MEMORY : KS_STORE_ROCKSDB;
                retention = i == 2 ? 2 * (size + grace) : 0;
                run_time1(size, adv, grace, on_close, sum, seed);
        }
        backend = KS_STORE_ROCKSDB;
        retention = 0;
}

static void test_tumbling_count_update(void **state) {
        (void)state;
        run_time(5000, 5000, 2000, 0, 0, 11);
}

static void test_hopping_sum_update(void **state) {
        (void)state;
        run_time(6000, 2000, 1500, 0, 1, 12);
}

static void test_tumbling_count_on_close(void **state) {
        (void)state;
        run_time(5000, 5000, 2000, 1, 0, 13);
}

static void test_hopping_sum_on_close(void **state) {
        (void)state;
        run_time(6000, 2000, 0, 1, 1, 14);
}

/* --- the session model --------------------------------------------------- */

/* Sessions kept as a plain list, scanned whole for each record: a record
 * merges with the live sessions of its key within the gap; sessions whose
 * end is a retention (gap + grace, one more on close) behind the largest
 * end stored are expired: invisible, as in the store. */
typedef struct {
        int key;
        int64_t start, end, count, sum;
        int gone, emitted;
} sess_t;

static sess_t sess[MAXW];
static size_t nsess;

static int64_t model_session(const in_t *in, size_t n, int64_t gap,
                             int64_t grace, int on_close, int sum) {
        nsess = nexp = 0;
        int64_t observed = INT64_MIN, stored = INT64_MIN, late = 0;
        int64_t keep = gap + grace + (on_close ? 1 : 0); /* retention */
        for (size_t i = 0; i < n; i++) {
                const in_t *r = &in[i];
                observed = r->ts > observed ? r->ts : observed;
                /* Kafka Streams since 3.0: a session closes when stream
                 * time minus grace minus gap passes its end. */
                int64_t close = observed - grace - gap;
                if (on_close) {
                        size_t from = nexp;
                        for (size_t j = 0; j < nsess; j++) {
                                sess_t *x = &sess[j];
                                if (x->gone || x->emitted || x->end >= close)
                                        continue;
                                x->emitted = 1;
                                exps[nexp++] = (exp_t){x->key,
                                                       x->start,
                                                       x->end,
                                                       0,
                                                       sum ? x->sum : x->count,
                                                       x->end};
                        }
                        qsort(exps + from, nexp - from, sizeof(exp_t),
                              by_end_start_key);
                }
                sess_t m = {r->key, r->ts, r->ts, 1, r->v, 0, 0};
                size_t hit[MAXW], nhit = 0;
                for (size_t j = 0; j < nsess; j++) {
                        sess_t *x = &sess[j];
                        if (x->gone || x->key != r->key ||
                            (stored != INT64_MIN &&
                             x->end < stored - keep + 1) ||
                            x->end < r->ts - gap || x->start > r->ts + gap)
                                continue;
                        hit[nhit++] = j;
                        m.start = x->start < m.start ? x->start : m.start;
                        m.end = x->end > m.end ? x->end : m.end;
                        m.count += x->count;
                        m.sum += x->sum;
                }
                if (m.end < close) {
                        late++;
                        continue;
                }
                /* Merged away, by ascending end. */
                for (size_t a = 1; a < nhit; a++)
                        for (size_t b = a;
                             b > 0 && sess[hit[b - 1]].end > sess[hit[b]].end;
                             b--) {
                                size_t t = hit[b];
                                hit[b] = hit[b - 1];
                                hit[b - 1] = t;
                        }
                int same = m.start == r->ts && m.end == r->ts;
                for (size_t a = 0; a < nhit; a++) {
                        sess_t *x = &sess[hit[a]];
                        x->gone = 1;
                        if (!on_close && !same)
                                exps[nexp++] = (exp_t){
                                        r->key, x->start, x->end, 1, 0, x->end};
                }
                if (!on_close)
                        exps[nexp++] = (exp_t){r->key,
                                               m.start,
                                               m.end,
                                               0,
                                               sum ? m.sum : m.count,
                                               m.end};
                assert_true(nsess < MAXW);
                sess[nsess++] = m;
                stored = m.end > stored ? m.end : stored;
        }
        return late;
}

static void run_session1(int64_t gap, int64_t grace, int on_close, int sum,
                         uint64_t seed) {
        static in_t in[MAXR];
        size_t n = gen(in, 300, 700, 2500, seed);
        int64_t late = model_session(in, n, gap, grace, on_close, sum);
        ks_builder_t *b = ks_builder_new();
        ks_stream_t *s =
                in_stream(b, TOPIC, ks_serde_string(), ks_serde_string());
        ks_windowed_stream_t *ws = ks_grouped_windowed_by(
                ks_stream_group_by_key(s, NULL),
                ks_session_windows_of_inactivity_gap_and_grace(gap, grace));
        if (on_close)
                ws = ks_windowed_emit_strategy(ws, KS_EMIT_ON_WINDOW_CLOSE);
        ws = ks_windowed_materialize(ws, backend, retention);
        ks_table_t *t =
                sum ? ks_windowed_aggregate(ws, zero, add_value, merge_sums,
                                            NULL, "sess", NULL)
                    : ks_windowed_count(ws, "sess", NULL);
        assert_int_equal(ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL),
                         KS_ERR_NO_ERROR);
        ks_test_driver_t *d = driver(b, "win-session");
        for (size_t i = 0; i < n; i++)
                pipe1(d, &in[i]);
        check_outputs(d, 1, sum);
        assert_true(late > 0);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-late"),
                         late);
        /* The store's observed stream time: the largest session end. */
        int64_t last = INT64_MIN;
        for (size_t j = 0; j < nsess; j++)
                last = sess[j].end > last ? sess[j].end : last;
        ks_session_store_t *ss = NULL;
        KST_OK(ks_test_driver_get_session_store(d, "sess", &ss));
        assert_int_equal(ks_session_store_observed_stream_time(ss), last);
        ks_test_driver_destroy(d);
}

static void run_session(int64_t gap, int64_t grace, int on_close, int sum,
                        uint64_t seed) {
        for (int i = 0; i < 2; i++) {
                backend = i ? KS_STORE_IN_MEMORY : KS_STORE_ROCKSDB;
                run_session1(gap, grace, on_close, sum, seed);
        }
        backend = KS_STORE_ROCKSDB;
}

static void test_session_count_update(void **state) {
        (void)state;
        run_session(1500, 1000, 0, 0, 21);
}

static void test_session_sum_update(void **state) {
        (void)state;
        run_session(2500, 0, 0, 1, 22);
}

static void test_session_count_on_close(void **state) {
        (void)state;
        run_session(1500, 1000, 1, 0, 23);
}

static void test_session_sum_on_close(void **state) {
        (void)state;
        run_session(2500, 500, 1, 1, 24);
}

/* One key's records in order (the step answers from its table of latest
 * sessions), then records out of order, one that extends an older
 * session, one that bridges two, and one for a session the store has
 * expired: the outputs still follow the model. */
static void test_session_latest(void **state) {
        (void)state;
        static in_t in[MAXR];
        size_t n = 0;
        for (int i = 0; i < 200; i++)
                in[n++] = (in_t){0, 1000 + 10 * i, i % 7};
        in[n++] = (in_t){0, 9000, 1};  /* a new session */
        in[n++] = (in_t){0, 2500, 2};  /* extends the first, out of order */
        in[n++] = (in_t){0, 6000, 3};  /* a third, between them */
        in[n++] = (in_t){0, 7500, 4};  /* bridges the third and 9000 */
        in[n++] = (in_t){1, 9500, 5};  /* another key */
        in[n++] = (in_t){0, 20000, 6}; /* time moves on */
        in[n++] = (in_t){0, 9600, 7};  /* its session has expired */
        in[n++] = (in_t){0, 23400, 8}; /* the key's latest session ... */
        in[n++] = (in_t){1, 30000, 9}; /* ... expires as time moves on, */
        in[n++] = (in_t){0, 24000, 1}; /* so this one starts a new one */
        for (int i = 0; i < 2; i++) {
                backend = i ? KS_STORE_IN_MEMORY : KS_STORE_ROCKSDB;
                model_session(in, n, 1500, 5000, 0, 1);
                ks_builder_t *b = ks_builder_new();
                ks_windowed_stream_t *ws = ks_windowed_materialize(
                        ks_grouped_windowed_by(
                                ks_stream_group_by_key(
                                        in_stream(b, TOPIC, NULL, NULL), NULL),
                                ks_session_windows_of_inactivity_gap_and_grace(
                                        1500, 5000)),
                        backend, 0);
                ks_table_t *t = ks_windowed_aggregate(
                        ws, zero, add_value, merge_sums, NULL, "sess", NULL);
                ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL);
                ks_test_driver_t *d = driver(b, "win-latest");
                for (size_t j = 0; j < n; j++)
                        pipe1(d, &in[j]);
                check_outputs(d, 1, 1);
                ks_test_driver_destroy(d);
        }
        backend = KS_STORE_ROCKSDB;
}

/* A record that bridges two sessions merges them: both go (tombstones),
 * the merged one comes, with the sum of all three. */
static void test_session_bridge(void **state) {
        (void)state;
        in_t in[] = {{0, 1000, 1}, {0, 5000, 2}, {0, 3000, 4}};
        model_session(in, 3, 2000, 10000, 0, 1);
        assert_int_equal(nexp, 5); /* [1000], [5000], 2 tombstones, merged */
        assert_int_equal(exps[4].start, 1000);
        assert_int_equal(exps[4].end, 5000);
        assert_int_equal(exps[4].value, 7);
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_windowed_aggregate(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(in_stream(b, TOPIC, NULL, NULL),
                                               NULL),
                        ks_session_windows_of_inactivity_gap_and_grace(2000,
                                                                       10000)),
                zero, add_value, merge_sums, NULL, NULL, NULL);
        ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL);
        ks_test_driver_t *d = driver(b, "win-bridge");
        for (size_t i = 0; i < 3; i++)
                pipe1(d, &in[i]);
        check_outputs(d, 1, 1);
        ks_test_driver_destroy(d);
}

/* --- suppression --------------------------------------------------------- */

/* suppress(until_window_closes) after an on-update count gives each
 * window's final count once: the on-close model, ordered by window end and
 * then windowed key bytes. */
static int by_end_wkey(const void *a, const void *b) {
        const exp_t *x = a, *y = b;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        uint8_t kx[64], ky[64];
        size_t lx = strlen(keys[x->key]), ly = strlen(keys[y->key]);
        memcpy(kx, keys[x->key], lx);
        memcpy(ky, keys[y->key], ly);
        ks_int64_encode(x->start, kx + lx);
        ks_int64_encode(y->start, ky + ly);
        int c = memcmp(kx, ky, (lx < ly ? lx : ly) + 8);
        return c ? c : (lx < ly ? -1 : lx > ly);
}

static void test_suppress_until_window_closes(void **state) {
        (void)state;
        static in_t in[MAXR];
        size_t n = gen(in, 300, 400, 3000, 31);
        int64_t size = 4000, grace = 1000;
        /* The model emits on close before the closing record; suppression
         * sees that record's update first, which never closes its own
         * window, so the final results are the same. Both come out in
         * window end order (a window of an end already passed would be
         * late); among equal ends suppression orders by windowed key. */
        model_time(in, n, size, size, grace, 1, 0);
        qsort(exps, nexp, sizeof(exp_t), by_end_wkey);
        ks_builder_t *b = ks_builder_new();
        ks_stream_t *s =
                in_stream(b, TOPIC, ks_serde_string(), ks_serde_string());
        ks_table_t *t = ks_windowed_count(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(s, NULL),
                        ks_time_windows_of_size_and_grace(size, grace)),
                NULL, NULL);
        t = ks_table_suppress_until_window_closes(t, 0, 0, NULL);
        assert_int_equal(ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL),
                         KS_ERR_NO_ERROR);
        ks_test_driver_t *d = driver(b, "win-suppress");
        for (size_t i = 0; i < n; i++)
                pipe1(d, &in[i]);
        check_outputs(d, 0, 0);
        ks_test_driver_destroy(d);
}

/* A full buffer set to shut down stops the task with an error naming the
 * step and its bounds. */
static void test_suppress_full_shuts_down(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_windowed_count(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(in_stream(b, TOPIC, NULL, NULL),
                                               NULL),
                        ks_time_windows_of_size_no_grace(100000)),
                NULL, NULL);
        t = ks_table_suppress_until_window_closes(t, 2, 0, "held");
        ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL);
        ks_test_driver_t *d = driver(b, "win-full");
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "a", 1, "1", 1, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "b", 1, "1", 1, 20, NULL, &e));
        ks_err_t err =
                ks_test_driver_pipe(d, TOPIC, "c", 1, "1", 1, 30, NULL, &e);
        KST_ASSERT_ERROR(err, e, KS_ERR_PROCESSOR, "held",
                         "suppression buffer is full", "bounds 2 records");
        ks_error_destroy(e);
        ks_test_driver_destroy(d);
}

/* until_time_limit on a plain table: each key's latest value once stream
 * time is the limit past its first held change; a full buffer set to emit
 * early lets the oldest out first. */
static void test_suppress_time_limit(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_stream_to_table(
                in_stream(b, TOPIC, ks_serde_string(), ks_serde_string()), NULL,
                NULL);
        t = ks_table_suppress_until_time_limit(t, 100, 2, 0,
                                               KS_BUFFER_EMIT_EARLY, NULL);
        ks_stream_to(ks_table_to_stream(t, NULL), OUT, NULL);
        ks_test_driver_t *d = driver(b, "win-limit");
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "a", 1, "1", 1, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "a", 1, "2", 1, 50, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "b", 1, "3", 1, 60, NULL, &e));
        assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        /* Stream time 110: "a" (first held at 10) is due. */
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "c", 1, "4", 1, 110, NULL, &e));
        kst_expect_output(d, OUT, "a", 1, "2", 1, 50);
        assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        /* "b", "c" held; "d" makes three: "b" goes early. */
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "d", 1, "5", 1, 111, NULL, &e));
        kst_expect_output(d, OUT, "b", 1, "3", 1, 60);
        assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        ks_test_driver_destroy(d);
}

/* --- keys, serdes and the builder's checks ------------------------------- */

/* Kafka Streams' layouts: TimeWindowedSerializer writes key | be64 start;
 * SessionWindowedSerializer writes key | be64 end | be64 start. */
static void test_windowed_key_bytes(void **state) {
        (void)state;
        static const uint8_t time_vec[] = {'k', 'e', 'y', 0,    0,   0,
                                           0,   0,   0,   0x03, 0xe8};
        static const uint8_t sess_vec[] = {'u', 0, 0, 0, 0, 0, 0x01, 0x86, 0xa0,
                                           0,   0, 0, 0, 0, 0, 0x03, 0xe8};
        ks_buf_t *b = ks_buf_new();
        KST_OK(ks_windowed_key_time_encode(b, "key", 3, 1000));
        assert_int_equal(ks_buf_len(b), sizeof(time_vec));
        assert_memory_equal(ks_buf_data(b), time_vec, sizeof(time_vec));
        ks_buf_reset(b);
        KST_OK(ks_windowed_key_session_encode(b, "u", 1, 1000, 100000));
        assert_int_equal(ks_buf_len(b), sizeof(sess_vec));
        assert_memory_equal(ks_buf_data(b), sess_vec, sizeof(sess_vec));
        ks_buf_destroy(b);
        const void *k;
        size_t kl;
        int64_t s, e;
        KST_OK(ks_windowed_key_time(time_vec, sizeof(time_vec), 60000, &k, &kl,
                                    &s, &e));
        assert_int_equal(kl, 3);
        assert_int_equal(s, 1000);
        assert_int_equal(e, 61000);
        KST_OK(ks_windowed_key_session(sess_vec, sizeof(sess_vec), &k, &kl, &s,
                                       &e));
        assert_int_equal(kl, 1);
        assert_int_equal(s, 1000);
        assert_int_equal(e, 100000);
        /* Too short, or an end before the start. */
        assert_int_equal(ks_windowed_key_time(time_vec, 7, 1, &k, &kl, &s, &e),
                         KS_ERR_SERDE);
        uint8_t bad[17];
        memcpy(bad, sess_vec, sizeof(bad));
        bad[9] = 0x7f; /* start > end */
        assert_int_equal(
                ks_windowed_key_session(bad, sizeof(bad), &k, &kl, &s, &e),
                KS_ERR_SERDE);
        /* The serdes check the window part and the key part. */
        ks_serde_t *ts = ks_serde_time_windowed(ks_serde_int32());
        ks_error_t *err = NULL;
        uint8_t ik[12] = {0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1};
        KST_OK(ks_serde_validate(ts, ik, sizeof(ik), &err));
        KST_ASSERT_ERROR(ks_serde_validate(ts, ik + 1, 11, &err), err,
                         KS_ERR_SERDE, "time-windowed<int32>", "int32");
        ks_error_destroy(err);
        err = NULL;
        KST_ASSERT_ERROR(ks_serde_validate(ts, ik, 5, &err), err, KS_ERR_SERDE,
                         "8-byte window start");
        ks_error_destroy(err);
        ks_serde_destroy(ts);
}

static void expect_build_error(ks_builder_t *b, const char *what) {
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e, KS_ERR_INVALID_ARG,
                         what);
        ks_error_destroy(e);
        ks_builder_destroy(b);
}

static void test_invalid_windows(void **state) {
        (void)state;
        ks_windows_t *ws[] = {
                ks_time_windows_of_size_no_grace(0),
                ks_time_windows_of_size_and_grace(1000, -1),
                ks_time_windows_advance_by(
                        ks_time_windows_of_size_no_grace(1000), 2000),
                ks_session_windows_of_inactivity_gap_no_grace(-5),
                ks_time_windows_advance_by(
                        ks_time_windows_of_size_no_grace(100001000), 1000),
        };
        const char *what[] = {"window size", "grace period", "advance",
                              "inactivity gap", "over 100000"};
        for (size_t i = 0; i < 5; i++) {
                ks_builder_t *b = ks_builder_new();
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(in_stream(b, TOPIC, NULL, NULL),
                                               NULL),
                        ws[i]);
                expect_build_error(b, what[i]);
        }
        /* A session aggregate needs a merger; time windows take none. */
        ks_builder_t *b = ks_builder_new();
        ks_windowed_aggregate(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(in_stream(b, TOPIC, NULL, NULL),
                                               NULL),
                        ks_session_windows_of_inactivity_gap_no_grace(10)),
                zero, add_value, NULL, NULL, NULL, NULL);
        expect_build_error(b, "session merger");
        /* A retention shorter than size + grace. */
        b = ks_builder_new();
        ks_windowed_materialize(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(in_stream(b, TOPIC, NULL, NULL),
                                               NULL),
                        ks_time_windows_of_size_and_grace(1000, 500)),
                KS_STORE_IN_MEMORY, 1400);
        expect_build_error(b, "retention is shorter");
        /* Suppressing until window close needs a windowed table. */
        b = ks_builder_new();
        ks_table_suppress_until_window_closes(
                ks_stream_to_table(in_stream(b, TOPIC, NULL, NULL), NULL, NULL),
                0, 0, NULL);
        expect_build_error(b, "not windowed");
        /* A windowed table cannot be joined as a table. */
        b = ks_builder_new();
        ks_table_t *wt = ks_windowed_count(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(in_stream(b, TOPIC, NULL, NULL),
                                               NULL),
                        ks_time_windows_of_size_no_grace(10)),
                NULL, NULL);
        ks_stream_join_table(in_stream(b, "other", NULL, NULL), wt, join_values,
                             NULL, NULL);
        expect_build_error(b, "windowed");
}

/* to_stream with a key mapper: the plain key of each windowed key. */
static ks_err_t plain_key(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t kl;
        const void *k = ks_record_key(r, &kl), *key;
        size_t klen;
        if (ks_windowed_key_time(k, kl, 0, &key, &klen, NULL, NULL))
                return KS_ERR_SERDE;
        return ks_emit_key(out, key, klen);
}

static void test_to_stream_map_key(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_windowed_count(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(
                                in_stream(b, TOPIC, ks_serde_string(), NULL),
                                NULL),
                        ks_time_windows_of_size_no_grace(100)),
                NULL, NULL);
        ks_stream_to(ks_table_to_stream_map_key(t, plain_key, NULL, NULL), OUT,
                     NULL);
        ks_test_driver_t *d = driver(b, "win-mapkey");
        ks_error_t *e = NULL;
        const int64_t ts[] = {5, 50, 150, 120};
        const int64_t want[] = {1, 2, 1, 2};
        const int64_t out_ts[] = {5, 50, 150, 150}; /* a window's largest */
        for (int i = 0; i < 4; i++) {
                KST_OK_E(ks_test_driver_pipe(d, TOPIC, "k", 1, "v", 1, ts[i],
                                             NULL, &e));
                uint8_t v[8];
                ks_int64_encode(want[i], v);
                kst_expect_output(d, OUT, "k", 1, v, 8, out_ts[i]);
        }
        ks_test_driver_destroy(d);
}

/* describe() shows the windowed step and its stores. */
static void test_describe(void **state) {
        (void)state;
        ks_builder_t *b = time_topology(60000, 60000, 10000, 1, 0);
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        char *d = NULL;
        KST_OK_E(ks_topology_describe(t, &d, &e));
        assert_non_null(strstr(d, "counts"));
        assert_non_null(strstr(d, "counts-emit"));
        assert_non_null(strstr(d, "Window store: counts (window size: 60000 "
                                  "ms, retention: 70000 ms)"));
        ks_free(d);
        ks_topology_destroy(t);
        ks_builder_destroy(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tumbling_count_update),
                cmocka_unit_test(test_hopping_sum_update),
                cmocka_unit_test(test_tumbling_count_on_close),
                cmocka_unit_test(test_hopping_sum_on_close),
                cmocka_unit_test(test_session_count_update),
                cmocka_unit_test(test_session_sum_update),
                cmocka_unit_test(test_session_count_on_close),
                cmocka_unit_test(test_session_sum_on_close),
                cmocka_unit_test(test_session_bridge),
                cmocka_unit_test(test_session_latest),
                cmocka_unit_test(test_suppress_until_window_closes),
                cmocka_unit_test(test_suppress_full_shuts_down),
                cmocka_unit_test(test_suppress_time_limit),
                cmocka_unit_test(test_windowed_key_bytes),
                cmocka_unit_test(test_invalid_windows),
                cmocka_unit_test(test_to_stream_map_key),
                cmocka_unit_test(test_describe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
