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

#include "admatch.h"
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

/* Time arithmetic of the model, without overflow at the ends of time. */
__extension__ typedef __int128 wide_t;

/* Emit, oldest first, the pending records older than @p limit. */
static void emit_due(arrived_t *pend, size_t *npend, wide_t limit, out_t *out,
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
        wide_t s = INT64_MIN, span = (wide_t)c->before + c->after + c->grace;
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
                        wide_t own_after = side ? c->before : c->after;
                        wide_t now = r->ts > s ? r->ts : s;
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
                                wide_t tl = side ? o->ts : r->ts;
                                wide_t tr = side ? r->ts : o->ts;
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

/* Check the join of @p in (n records) against the model. */
static void run_recs(const cfg_t *c, const rec_t *in, size_t n) {
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

static void run_case(const cfg_t *c, size_t n, int64_t step, int64_t jitter,
                     int64_t far, unsigned late_every, uint64_t seed) {
        static rec_t in[MAXR];
        gen(in, n, step, jitter, far, late_every, seed);
        run_recs(c, in, n);
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

/* --- hostile inputs ------------------------------------------------------ */

/* A driver over a join named "cj" of L and R (the same stream if @p self). */
static ks_test_driver_t *named_driver(const cfg_t *c, ks_value_joiner_cb *j) {
        ks_builder_t *b = ks_builder_new();
        const char *lt[] = {"L"}, *rt[] = {"R"};
        ks_stream_t *l = ks_builder_stream(b, lt, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        ks_stream_t *r =
                c->self ? l
                        : ks_builder_stream(b, rt, 1, ks_serde_string(),
                                            ks_serde_string(), NULL);
        ks_stream_t *s = join_fn[c->kind](l, r, j ? j : join_values, NULL,
                                          join_windows(c), "cj");
        assert_int_equal(ks_stream_to(s, "out", NULL), KS_ERR_NO_ERROR);
        ks_error_t *e = NULL;
        ks_topology_t *topo = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_config_t *conf = kst_config("stream-join-hostile");
        ks_test_driver_t *drv = ks_test_driver_new(topo, conf, 0, &e);
        if (!drv)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        return drv;
}

#define OUTER_STORE "cj-outer-shared-join-store"

/* An outer store key into @p k: be64(ts ^ sign) | side | be32
 * @p klen_field | key | be32 seq; returns its length. */
static size_t outer_key(uint8_t *k, int64_t ts, int side, uint32_t klen_field,
                        const char *key, uint32_t seq) {
        uint64_t u = (uint64_t)ts ^ ((uint64_t)1 << 63);
        size_t n = 0, kl = strlen(key);
        for (int i = 7; i >= 0; i--)
                k[n++] = (uint8_t)(u >> (8 * i));
        k[n++] = (uint8_t)side;
        for (int i = 3; i >= 0; i--)
                k[n++] = (uint8_t)(klen_field >> (8 * i));
        memcpy(k + n, key, kl);
        n += kl;
        for (int i = 3; i >= 0; i--)
                k[n++] = (uint8_t)(seq >> (8 * i));
        return n;
}

static void put_outer(ks_test_driver_t *drv, const void *k, size_t kl,
                      const char *v) {
        ks_kv_store_t *kv = NULL;
        KST_OK(ks_test_driver_get_kv_store(drv, OUTER_STORE, &kv));
        KST_OK(ks_kv_store_put(kv, k, kl, v, strlen(v)));
}

static void pipe_ok(ks_test_driver_t *drv, const char *topic, const char *k,
                    const char *v, int64_t ts) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, topic, k, strlen(k), v, strlen(v), ts,
                                     NULL, &e));
}

static void pipe_fails(ks_test_driver_t *drv, const char *topic, const char *k,
                       const char *v, int64_t ts, const char *why) {
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_test_driver_pipe(drv, topic, k, strlen(k), v,
                                             strlen(v), ts, NULL, &e),
                         e, KS_ERR_PROCESSOR, OUTER_STORE, why);
}

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

/* --- the ad-match example on hostile input ------------------------------ */

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
                cmocka_unit_test(test_model_random),
                cmocka_unit_test(test_model_sparse),
                cmocka_unit_test(test_no_spurious_null),
                cmocka_unit_test(test_nulls_and_duplicates),
                cmocka_unit_test(test_bad_windows),
                cmocka_unit_test(test_repartition_and_names),
                cmocka_unit_test(test_crafted_outer_entries),
                cmocka_unit_test(test_huge_outer_values),
                cmocka_unit_test(test_outer_seq_wrap),
                cmocka_unit_test(test_emit_error_keeps_pending),
                cmocka_unit_test(test_extreme_windows),
                cmocka_unit_test(test_many_due),
                cmocka_unit_test(test_builder_misuse),
                cmocka_unit_test(test_self_join_late_on_one_side),
                cmocka_unit_test(test_outer_matched_exact),
                cmocka_unit_test(test_repartition_both_and_self),
                cmocka_unit_test(test_join_windows_size),
                cmocka_unit_test(test_admatch_json),
                cmocka_unit_test(test_admatch_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
