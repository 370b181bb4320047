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

#include "ks_test.h"

#define MAXR  400
#define MAXO  (MAXR * MAXR)
#define NKEYS 3

static const char *const keys[NKEYS] = {"a", "bb", "c"};

typedef struct {
        int side, key, id;
        int64_t ts;
} rec_t;

typedef struct {
        int key;
        char value[48];
        int64_t ts;
} out_t;

typedef struct {
        int64_t before, after, grace;
        ks_join_kind_t kind;
        int self;
} cfg_t;

static uint64_t rng;
static uint64_t next_rand(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Records drifting forward, out of order by up to @p jitter, about one in
 * @p late_every far behind. */
static void gen(rec_t *in, size_t n, int64_t step, int64_t jitter, int64_t far,
                unsigned late_every, uint64_t seed) {
        rng = seed;
        int64_t t = 1000;
        for (size_t i = 0; i < n; i++) {
                t += (int64_t)(next_rand() % (uint64_t)step);
                int64_t ts = t - (int64_t)(next_rand() % (uint64_t)jitter);
                if (late_every && next_rand() % late_every == 0)
                        ts -= far;
                in[i] = (rec_t){(int)(next_rand() % 2),
                                (int)(next_rand() % NKEYS), (int)i, ts};
        }
}

/* --- the model ----------------------------------------------------------- */

/* A self-join's records are all "L<id>" (piped to the left topic). */
static int self_join;
static const cfg_t *current;

static void joined(char *buf, size_t n, const rec_t *l, const rec_t *r) {
        char a[16] = "null", b[16] = "null";
        if (l)
                snprintf(a, sizeof(a), "L%d", l->id);
        if (r)
                snprintf(b, sizeof(b), "%c%d", self_join ? 'L' : 'R', r->id);
        snprintf(buf, n, "%s:%s", a, b);
}

typedef struct {
        const rec_t *r;
        int side, arrival;
} arrived_t;

static int by_time(const void *a, const void *b) {
        const arrived_t *x = a, *y = b;
        if (x->r->ts != y->r->ts)
                return x->r->ts < y->r->ts ? -1 : 1;
        if (x->side != y->side)
                return x->side - y->side;
        return x->arrival - y->arrival;
}

/* Emit, oldest first, the pending records older than @p limit. */
static void emit_due(arrived_t *pend, size_t *npend, int64_t limit, out_t *out,
                     size_t *nout) {
        qsort(pend, *npend, sizeof(*pend), by_time);
        size_t keep = 0;
        for (size_t p = 0; p < *npend; p++) {
                if (pend[p].r->ts < limit) {
                        out_t *o = &out[(*nout)++];
                        o->key = pend[p].r->key;
                        o->ts = pend[p].r->ts;
                        joined(o->value, sizeof(o->value),
                               pend[p].side ? NULL : pend[p].r,
                               pend[p].side ? pend[p].r : NULL);
                } else {
                        pend[keep++] = pend[p];
                }
        }
        *npend = keep;
}

/* The model's outputs for @p in (self-join: each record arrives as a left
 * record, then as a right one); returns how many; *latep: late records. */
static size_t model(const rec_t *in, size_t n, const cfg_t *c, out_t *out,
                    int *latep) {
        static arrived_t acc[2 * MAXR], pend[2 * MAXR], part[2 * MAXR];
        size_t nacc = 0, npend = 0, nout = 0;
        int64_t s = INT64_MIN, span = c->before + c->after + c->grace;
        int left_outer = c->kind != KS_JOIN_INNER;
        int right_outer = c->kind == KS_JOIN_OUTER;
        *latep = 0;
        for (size_t i = 0; i < n; i++) {
                int sides[2] = {in[i].side, -1};
                if (c->self) {
                        sides[0] = 0;
                        sides[1] = 1;
                }
                for (int k = 0; k < 2 && sides[k] >= 0; k++) {
                        int side = sides[k];
                        const rec_t *r = &in[i];
                        int64_t own_after = side ? c->before : c->after;
                        int64_t now = r->ts > s ? r->ts : s;
                        if (r->ts + own_after + c->grace < now) {
                                ++*latep;
                                continue;
                        }
                        s = now;
                        emit_due(pend, &npend, s - span, out, &nout);
                        size_t np = 0;
                        for (size_t a = 0; a < nacc; a++) {
                                const rec_t *o = acc[a].r;
                                if (acc[a].side == side || o->key != r->key)
                                        continue;
                                int64_t tl = side ? o->ts : r->ts;
                                int64_t tr = side ? r->ts : o->ts;
                                if (tl - c->before <= tr && tr <= tl + c->after)
                                        part[np++] = acc[a];
                        }
                        qsort(part, np, sizeof(*part), by_time);
                        for (size_t p = 0; p < np; p++) {
                                const rec_t *o = part[p].r;
                                out_t *x = &out[nout++];
                                x->key = r->key;
                                x->ts = o->ts > r->ts ? o->ts : r->ts;
                                joined(x->value, sizeof(x->value), side ? o : r,
                                       side ? r : o);
                                /* The partner leaves the pending ones. */
                                for (size_t q = 0; q < npend; q++)
                                        if (pend[q].r == o &&
                                            pend[q].side == part[p].side) {
                                                pend[q] = pend[--npend];
                                                break;
                                        }
                        }
                        arrived_t me = {r, side, (int)(2 * i + (size_t)k)};
                        acc[nacc++] = me;
                        if (!np && (side ? right_outer : left_outer))
                                pend[npend++] = me;
                }
        }
        return nout;
}

/* --- the driver ---------------------------------------------------------- */

static ks_err_t join_values(void *o, const void *l, size_t ll, const void *r,
                            size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err =
                l ? ks_buf_append(out, l, ll) : ks_buf_append(out, "null", 4);
        if (!err)
                err = ks_buf_append(out, ":", 1);
        if (!err)
                err = r ? ks_buf_append(out, r, rl)
                        : ks_buf_append(out, "null", 4);
        return err;
}

static ks_windows_t *join_windows(const cfg_t *c) {
        return ks_join_windows_after(
                ks_join_windows_before(
                        ks_join_windows_of_time_difference_and_grace(0,
                                                                     c->grace),
                        c->before),
                c->after);
}

static ks_stream_t *(*const join_fn[])(ks_stream_t *, ks_stream_t *,
                                       ks_value_joiner_cb *, void *,
                                       ks_windows_t *, const char *) = {
        [KS_JOIN_INNER] = ks_stream_join,
        [KS_JOIN_LEFT] = ks_stream_left_join,
        [KS_JOIN_OUTER] = ks_stream_outer_join,
};

static ks_test_driver_t *driver(const cfg_t *c) {
        ks_builder_t *b = ks_builder_new();
        const char *lt[] = {"L"}, *rt[] = {"R"};
        ks_stream_t *l = ks_builder_stream(b, lt, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        ks_stream_t *r =
                c->self ? l
                        : ks_builder_stream(b, rt, 1, ks_serde_string(),
                                            ks_serde_string(), NULL);
        ks_stream_t *j = join_fn[c->kind](l, r, join_values, NULL,
                                          join_windows(c), NULL);
        assert_int_equal(ks_stream_to(j, "out", NULL), KS_ERR_NO_ERROR);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_config_t *conf = kst_config("stream-join");
        ks_test_driver_t *drv = ks_test_driver_new(topo, conf, 0, &e);
        if (!drv)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        return drv;
}

static void pipe_rec(ks_test_driver_t *drv, const rec_t *r, int self) {
        char val[16];
        int n = snprintf(val, sizeof(val), "%c%d", r->side && !self ? 'R' : 'L',
                         r->id);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, r->side && !self ? "R" : "L",
                                     keys[r->key], strlen(keys[r->key]), val,
                                     (size_t)n, r->ts, NULL, &e));
}

static size_t read_all(ks_test_driver_t *drv, out_t *out, size_t max) {
        size_t n = 0;
        ks_test_record_t *r;
        while ((r = ks_test_driver_read_output(drv, "out"))) {
                assert_true(n < max);
                size_t kl, vl;
                const char *k = ks_test_record_key(r, &kl);
                const char *v = ks_test_record_value(r, &vl);
                assert_non_null(k);
                assert_non_null(v);
                out[n].key = -1;
                for (int i = 0; i < NKEYS; i++)
                        if (kl == strlen(keys[i]) && !memcmp(k, keys[i], kl))
                                out[n].key = i;
                assert_true(out[n].key >= 0);
                assert_true(vl < sizeof(out[n].value));
                memcpy(out[n].value, v, vl);
                out[n].value[vl] = 0;
                out[n].ts = ks_test_record_timestamp(r);
                ks_test_record_destroy(r);
                n++;
        }
        return n;
}

/* Compare per key, in order. */
static void compare(const out_t *want, size_t nw, const out_t *got, size_t ng) {
        for (int k = 0; k < NKEYS; k++) {
                size_t i = 0, j = 0;
                for (;;) {
                        while (i < nw && want[i].key != k)
                                i++;
                        while (j < ng && got[j].key != k)
                                j++;
                        if (i == nw || j == ng)
                                break;
                        if (strcmp(want[i].value, got[j].value) ||
                            want[i].ts != got[j].ts)
                                fail_msg("before %lld after %lld grace %lld "
                                         "kind %d self %d: key %s: want "
                                         "%s@%lld, got %s@%lld",
                                         (long long)current->before,
                                         (long long)current->after,
                                         (long long)current->grace,
                                         (int)current->kind, current->self,
                                         keys[k], want[i].value,
                                         (long long)want[i].ts, got[j].value,
                                         (long long)got[j].ts);
                        i++;
                        j++;
                }
                if (i != nw || j != ng)
                        fail_msg("key %s: %s output", keys[k],
                                 i != nw ? "missing" : "extra");
        }
        assert_int_equal(nw, ng);
}

/* Every left/outer NULL result is for a record that has no partner at
 * all in the model's accepted records, and comes once. */
static void check_nulls(const out_t *got, size_t ng) {
        for (size_t i = 0; i < ng; i++) {
                if (!strstr(got[i].value, "null"))
                        continue;
                char id[16];
                const char *c = strchr(got[i].value, ':');
                if (!strncmp(got[i].value, "null", 4))
                        snprintf(id, sizeof(id), "%s", c + 1);
                else
                        snprintf(id, sizeof(id), "%.*s",
                                 (int)(c - got[i].value), got[i].value);
                for (size_t j = 0; j < ng; j++) {
                        if (j == i)
                                continue;
                        const char *v = got[j].value;
                        size_t il = strlen(id);
                        int has = (!strncmp(v, id, il) && v[il] == ':') ||
                                  !strcmp(strchr(v, ':') + 1, id);
                        if (has)
                                fail_msg("%s joined with NULL and in %s", id,
                                         v);
                }
        }
}

static out_t want[MAXO], got[MAXO];

static void run_case(const cfg_t *c, size_t n, int64_t step, int64_t jitter,
                     int64_t far, unsigned late_every, uint64_t seed) {
        static rec_t in[MAXR];
        gen(in, n, step, jitter, far, late_every, seed);
        self_join = c->self;
        current = c;
        int late;
        size_t nw = model(in, n, c, want, &late);
        ks_test_driver_t *drv = driver(c);
        for (size_t i = 0; i < n; i++)
                pipe_rec(drv, &in[i], c->self);
        size_t ng = read_all(drv, got, MAXO);
        compare(want, nw, got, ng);
        if (!c->self)
                check_nulls(got, ng);
        assert_int_equal(ks_test_driver_metric(drv, "dropped-records-late"),
                         late);
        ks_test_driver_destroy(drv);
}

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

static ks_err_t build_err(ks_builder_t *b, ks_error_t **e) {
        ks_topology_t *topo = NULL;
        ks_err_t err = ks_builder_build(b, &topo, e);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        return err;
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

static ks_err_t rekey(void *o, const ks_record_t *rec, ks_emitter_t *out) {
        (void)o;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        return ks_emit_key(out, v, 1);
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
                              "adj-outer-shared-join-store", "repartition"};
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model_random),
                cmocka_unit_test(test_model_sparse),
                cmocka_unit_test(test_no_spurious_null),
                cmocka_unit_test(test_nulls_and_duplicates),
                cmocka_unit_test(test_bad_windows),
                cmocka_unit_test(test_repartition_and_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
