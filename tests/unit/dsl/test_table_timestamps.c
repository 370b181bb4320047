/* The timestamps of the DSL's tables under the test driver: a row keeps its
 * record's timestamp in the table's (timestamped) store and goes
 * downstream with it, also when the record cache lets it out later or
 * while another record is processed; an aggregation's output carries the
 * latest timestamp of the records folded into it; a table-table join's
 * output the later of its two rows', a foreign-key join's too, and a
 * stream-table join's the stream record's. Inputs come out of order, and
 * every expectation is computed here from the input on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

typedef struct {
        const char *topic;
        const char *key; /* NULL: null key */
        const char *value;
        int64_t ts;
} step_t;

static size_t slen(const char *s) {
        return s ? strlen(s) : 0;
}

static void pipe1(ks_test_driver_t *d, const step_t *s) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(d, s->topic, s->key, slen(s->key),
                                     s->value, slen(s->value), s->ts, NULL,
                                     &e));
}

static void expect(ks_test_driver_t *d, const char *topic, const char *key,
                   const char *value, int64_t ts) {
        kst_expect_output(d, topic, key, slen(key), value, slen(value), ts);
}

static void expect_count(ks_test_driver_t *d, const char *topic,
                         const char *key, int64_t n, int64_t ts) {
        uint8_t v[8];
        ks_int64_encode(n, v);
        kst_expect_output(d, topic, key, slen(key), v, 8, ts);
}

static void expect_empty(ks_test_driver_t *d, const char *topic) {
        assert_int_equal(ks_test_driver_output_size(d, topic), 0);
}

/* A driver for @p b; @p cache_bytes NULL: the default record cache. */
static ks_test_driver_t *driver(ks_builder_t *b, const char *app,
                                const char *cache_bytes) {
        ks_error_t *e = NULL;
        ks_topology_t *t = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_config_t *c = kst_config(app);
        if (cache_bytes)
                kst_set(c, "statestore.cache.max.bytes", cache_bytes);
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(t);
        return d;
}

static void expect_row(ks_test_driver_t *d, const char *store, const char *key,
                       const char *value, int64_t ts) {
        ks_timestamped_kv_store_t *st;
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, store, &st));
        const void *v;
        size_t vl;
        int64_t got;
        ks_err_t err = ks_timestamped_kv_store_get(st, key, strlen(key), &v,
                                                   &vl, &got);
        if (!value) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(vl, strlen(value));
        assert_memory_equal(v, value, vl);
        assert_int_equal(got, ts);
}

/* --- rows: to_table, the record cache, to_stream ---------------------------
 */

/* Forwards each item of a value "k=v@ts;k=v@ts;..." as a record of its
 * own at its own timestamp ("k=-@ts": a tombstone), so that one input
 * record puts several rows. */
static ks_err_t burst(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)st;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        char buf[256];
        snprintf(buf, sizeof(buf), "%.*s", (int)vl, v);
        for (char *save = NULL, *it = strtok_r(buf, ";", &save); it;
             it = strtok_r(NULL, ";", &save)) {
                char *eq = strchr(it, '='), *at = strchr(it, '@');
                assert_non_null(eq);
                assert_non_null(at);
                *eq = *at = 0;
                const char *val = strcmp(eq + 1, "-") ? eq + 1 : NULL;
                ks_err_t err = ks_context_forward_record(
                        ctx, NULL, it, strlen(it), val, slen(val),
                        strtoll(at + 1, NULL, 10), NULL);
                if (err)
                        return err;
        }
        return KS_ERR_NO_ERROR;
}

static ks_test_driver_t *rows_driver(ks_builder_t *b, const char *app,
                                     const char *cache_bytes) {
        const char *topics[] = {"bursts"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        ks_stream_t *p =
                ks_stream_process(s, NULL, burst, NULL, NULL, NULL, 0, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_stream_to_table(p, "rows", NULL), NULL),
                "rows-out", NULL));
        return driver(b, app, cache_bytes);
}

/* Each pipe's record is at a timestamp no row has: the output timestamps
 * are the rows' own. */
static const step_t bursts[] = {
        {"bursts", "x", "a=1@100;b=2@50;a=3@70", 500},
        {"bursts", "x", "a=-@40;c=9@10", 600},
};

static void check_rows_store(ks_test_driver_t *d) {
        expect_row(d, "rows", "a", NULL, 0);
        expect_row(d, "rows", "b", "2", 50);
        expect_row(d, "rows", "c", "9", 10);
}

/* No cache: every row goes out as it is put. */
static void test_rows_without_cache(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_test_driver_t *d = rows_driver(b, "ts-rows-nocache", "0");
        pipe1(d, &bursts[0]);
        expect(d, "rows-out", "a", "1", 100);
        expect(d, "rows-out", "b", "2", 50);
        expect(d, "rows-out", "a", "3", 70);
        expect_empty(d, "rows-out");
        pipe1(d, &bursts[1]);
        expect(d, "rows-out", "a", NULL, 40);
        expect(d, "rows-out", "c", "9", 10);
        expect_empty(d, "rows-out");
        check_rows_store(d);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* A cache of one byte: each put lets the cache's other entries out, while
 * a record at another timestamp is processed; each goes out at its own
 * row's timestamp. The flush after the pipe lets out the last. */
static void test_rows_evicted_from_cache(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_test_driver_t *d = rows_driver(b, "ts-rows-evict", "1");
        pipe1(d, &bursts[0]);
        expect(d, "rows-out", "a", "1", 100); /* let out while b@50 is put */
        expect(d, "rows-out", "b", "2", 50);  /* while a@70 is put */
        expect(d, "rows-out", "a", "3", 70);  /* the flush */
        expect_empty(d, "rows-out");
        pipe1(d, &bursts[1]);
        expect(d, "rows-out", "a", NULL, 40);
        expect(d, "rows-out", "c", "9", 10);
        expect_empty(d, "rows-out");
        check_rows_store(d);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* A large cache holds every row until the flush: a key put twice goes out
 * once, at its last put's timestamp, least recently written first. */
static void test_rows_held_in_cache(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_test_driver_t *d = rows_driver(b, "ts-rows-cache", "1048576");
        pipe1(d, &bursts[0]);
        expect(d, "rows-out", "b", "2", 50);
        expect(d, "rows-out", "a", "3", 70);
        expect_empty(d, "rows-out");
        pipe1(d, &bursts[1]);
        expect(d, "rows-out", "a", NULL, 40);
        expect(d, "rows-out", "c", "9", 10);
        expect_empty(d, "rows-out");
        check_rows_store(d);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- aggregations ----------------------------------------------------------
 */

static ks_err_t concat(void *o, const ks_record_t *r, const void *agg,
                       size_t alen, ks_buf_t *out) {
        (void)o;
        size_t n;
        const void *v = ks_record_value(r, &n);
        ks_err_t err = ks_buf_append(out, agg, alen);
        if (!err)
                err = ks_buf_append(out, "+", 1);
        return err ? err : ks_buf_append(out, v, n);
}

/* Out of order: a@50 after a@100, b@60 after b@70. */
static const step_t agg_in[] = {
        {"in", "a", "x", 100}, {"in", "a", "yy", 50}, {"in", "b", "z", 70},
        {"in", "a", "w", 120}, {"in", "b", "v", 60},  {"in", "a", "u", 110},
};
#define N_AGG (sizeof(agg_in) / sizeof(agg_in[0]))

static void test_stream_aggregation_timestamps(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_grouped_stream_t *g = ks_stream_group_by_key(
                ks_builder_stream(b, topics, 1, NULL, NULL, NULL), NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_grouped_count(g, "counts", NULL), NULL),
                "counts-out", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_grouped_reduce(g, concat, NULL, "reduced", NULL),
                        NULL),
                "reduced-out", NULL));
        ks_test_driver_t *d = driver(b, "ts-aggregations", NULL);
        int64_t n[2] = {0, 0}, max[2] = {-1, -1};
        char text[2][64] = {"", ""};
        for (size_t i = 0; i < N_AGG; i++) {
                const step_t *s = &agg_in[i];
                pipe1(d, s);
                int k = s->key[0] - 'a';
                n[k]++;
                max[k] = s->ts > max[k] ? s->ts : max[k];
                size_t l = strlen(text[k]);
                snprintf(text[k] + l, sizeof(text[k]) - l, "%s%s", l ? "+" : "",
                         s->value);
                expect_count(d, "counts-out", s->key, n[k], max[k]);
                expect(d, "reduced-out", s->key, text[k], max[k]);
                expect_empty(d, "counts-out");
                expect_empty(d, "reduced-out");
        }
        /* The stores keep the latest timestamps. */
        expect_row(d, "reduced", "a", "x+yy+w+u", 120);
        expect_row(d, "reduced", "b", "z+v", 70);
        ks_timestamped_kv_store_t *st;
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "counts", &st));
        const void *v;
        size_t vl;
        int64_t ts, cnt;
        KST_OK(ks_timestamped_kv_store_get(st, "a", 1, &v, &vl, &ts));
        KST_OK(ks_int64_decode(v, vl, &cnt, NULL));
        assert_int_equal(cnt, 4);
        assert_int_equal(ts, 120);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* A user's row "region" regrouped by region, keeping the user as value. */
static ks_err_t by_region(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t kl, vl;
        const void *k = ks_record_key(r, &kl);
        const void *v = ks_record_value(r, &vl);
        return ks_emit(out, v, vl, k, kl);
}

static void test_table_aggregation_timestamps(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *users = ks_builder_table(b, "users", NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_grouped_table_count(
                                           ks_table_group_by(users, by_region,
                                                             NULL, "regroup"),
                                           "per-region", NULL),
                                   NULL),
                "per-region-out", NULL));
        ks_test_driver_t *d = driver(b, "ts-table-aggregation", NULL);
        /* Each region's count, and the latest timestamp of the records that
         * touched it (added or took out a row). */
        static const step_t moves[] = {
                {"users", "u1", "eu", 100}, {"users", "u2", "eu", 50},
                {"users", "u1", "us", 80}, /* leaves eu, joins us */
                {"users", "u2", "us", 200}, {"users", "u1", NULL, 10},
                {"users", "u3", "eu", 20},
        };
        static const struct {
                const char *region;
                int64_t n, ts;
        } want[][2] = {
                {{"eu", 1, 100}},
                {{"eu", 2, 100}},
                {{"eu", 1, 100}, {"us", 1, 80}},
                {{"eu", 0, 200}, {"us", 2, 200}},
                {{"us", 1, 200}},
                {{"eu", 1, 200}},
        };
        for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
                pipe1(d, &moves[i]);
                for (int j = 0; j < 2 && want[i][j].region; j++)
                        expect_count(d, "per-region-out", want[i][j].region,
                                     want[i][j].n, want[i][j].ts);
                expect_empty(d, "per-region-out");
        }
        /* The rows the regrouping keeps carry their records' timestamps. */
        expect_row(d, "regroup-rows", "u2", "us", 200);
        expect_row(d, "regroup-rows", "u3", "eu", 20);
        expect_row(d, "regroup-rows", "u1", NULL, 0);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- joins -----------------------------------------------------------------
 */

/* "<left>|<right>", "null" for a missing side. */
static ks_err_t pair(void *o, const void *l, size_t ll, const void *r,
                     size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err =
                l ? ks_buf_append(out, l, ll) : ks_buf_append(out, "null", 4);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        if (!err)
                err = r ? ks_buf_append(out, r, rl)
                        : ks_buf_append(out, "null", 4);
        return err;
}

/* A tiny table model: key -> (value, timestamp) or absent. */
typedef struct {
        char key[8][8];
        char val[8][16];
        int64_t ts[8];
        int has[8];
        int n;
} rows_t;

static int row_slot(rows_t *m, const char *k) {
        for (int i = 0; i < m->n; i++)
                if (!strcmp(m->key[i], k))
                        return i;
        snprintf(m->key[m->n], 8, "%s", k);
        m->has[m->n] = 0;
        return m->n++;
}

static void row_set(rows_t *m, const char *k, const char *v, int64_t ts) {
        int i = row_slot(m, k);
        m->has[i] = v != NULL;
        m->ts[i] = ts;
        if (v)
                snprintf(m->val[i], 16, "%s", v);
}

static void test_table_table_join_timestamps(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *l = ks_builder_table(b, "lt", NULL, NULL, NULL);
        ks_table_t *r = ks_builder_table(b, "rt", NULL, NULL, NULL);
        const char *outs[] = {"inner", "left", "outer"};
        ks_join_kind_t kinds[] = {KS_JOIN_INNER, KS_JOIN_LEFT, KS_JOIN_OUTER};
        for (int k = 0; k < 3; k++)
                KST_OK(ks_stream_to(
                        ks_table_to_stream(
                                ks_table_join(l, r, kinds[k], pair, NULL, NULL),
                                NULL),
                        outs[k], NULL));
        /* A stream joined with the right table keeps its own timestamps,
         * older or newer than the row's. */
        const char *topics[] = {"probes"};
        KST_OK(ks_stream_to(
                ks_stream_left_join_table(
                        ks_builder_stream(b, topics, 1, NULL, NULL, NULL), r,
                        pair, NULL, NULL),
                "probed", NULL));
        ks_test_driver_t *d = driver(b, "ts-table-join", NULL);
        static const step_t steps[] = {
                {"lt", "k1", "a", 100},    {"rt", "k1", "x", 50},
                {"probes", "k1", "p", 10}, {"rt", "k1", "y", 200},
                {"lt", "k1", "b", 150},    {"probes", "k1", "q", 300},
                {"lt", "k2", "c", 10},     {"rt", "k2", "z", 5},
                {"rt", "k2", NULL, 7},     {"lt", "k1", NULL, 20},
                {"rt", "k1", "w", 1},      {"rt", "k3", "only", 40},
        };
        rows_t lm = {0}, rm = {0};
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_t *s = &steps[i];
                pipe1(d, s);
                int lj = row_slot(&lm, s->key), rj = row_slot(&rm, s->key);
                if (!strcmp(s->topic, "probes")) {
                        char want[64];
                        snprintf(want, sizeof(want), "%s|%s", s->value,
                                 rm.has[rj] ? rm.val[rj] : "null");
                        expect(d, "probed", s->key, want, s->ts);
                        expect_empty(d, "probed");
                        continue;
                }
                int left = !strcmp(s->topic, "lt");
                row_set(left ? &lm : &rm, s->key, s->value, s->ts);
                /* The other side's row, if any, and the later timestamp. */
                int other = left ? rm.has[rj] : lm.has[lj];
                int64_t ots = left ? rm.ts[rj] : lm.ts[lj];
                int64_t ts = other && ots > s->ts ? ots : s->ts;
                const char *lv = lm.has[lj] ? lm.val[lj] : NULL;
                const char *rv = rm.has[rj] ? rm.val[rj] : NULL;
                char joined[64];
                snprintf(joined, sizeof(joined), "%s|%s", lv ? lv : "null",
                         rv ? rv : "null");
                int has[3] = {lv && rv, lv != NULL, lv || rv};
                for (int k = 0; k < 3; k++) {
                        expect(d, outs[k], s->key, has[k] ? joined : NULL, ts);
                        expect_empty(d, outs[k]);
                }
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* An order "<product>:<qty>" names its product; "nokey": none. */
static ks_err_t product_of(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        const char *c = memchr(v, ':', n);
        return c ? ks_emit_key(out, v, (size_t)(c - v))
                 : ks_emit_key(out, NULL, 0);
}

static void test_fk_join_timestamps(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *orders = ks_builder_table(b, "orders", NULL, NULL, NULL);
        ks_table_t *products =
                ks_builder_table(b, "products", NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_table_fk_join(orders, products,
                                                    product_of, KS_JOIN_LEFT,
                                                    pair, NULL, "fk"),
                                   NULL),
                "fk-out", NULL));
        ks_test_driver_t *d = driver(b, "ts-fk-join", NULL);
        /* Each result at the later of the order's and the product's
         * timestamps, whichever side changed. */
        static const struct {
                step_t in;
                const char *key, *want;
                int64_t ts;
        } steps[] = {
                {{"products", "p1", "pen", 500}, NULL, NULL, 0},
                {{"orders", "o1", "p1:2", 100}, "o1", "p1:2|pen", 500},
                {{"products", "p1", "quill", 50}, "o1", "p1:2|quill", 100},
                {{"orders", "o1", "p1:3", 20}, "o1", "p1:3|quill", 50},
                {{"orders", "o2", "p9:1", 30}, "o2", "p9:1|null", 30},
                {{"products", "p9", "ink", 10}, "o2", "p9:1|ink", 30},
                {{"products", "p9", "gel", 90}, "o2", "p9:1|gel", 90},
                {{"orders", "o3", "nokey", 70}, "o3", "nokey|null", 70},
        };
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                pipe1(d, &steps[i].in);
                if (steps[i].key)
                        expect(d, "fk-out", steps[i].key, steps[i].want,
                               steps[i].ts);
                expect_empty(d, "fk-out");
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows_without_cache),
                cmocka_unit_test(test_rows_evicted_from_cache),
                cmocka_unit_test(test_rows_held_in_cache),
                cmocka_unit_test(test_stream_aggregation_timestamps),
                cmocka_unit_test(test_table_aggregation_timestamps),
                cmocka_unit_test(test_table_table_join_timestamps),
                cmocka_unit_test(test_fk_join_timestamps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
