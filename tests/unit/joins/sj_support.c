/* What the stream-stream join tests share (see sj_support.h). */
#include "sj_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const keys[NKEYS] = {"a", "bb", "c"};

static uint64_t rng;
static uint64_t next_rand(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Records drifting forward, out of order by up to @p jitter, about one in
 * @p late_every far behind. */
void gen(rec_t *in, size_t n, int64_t step, int64_t jitter, int64_t far,
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
size_t model(const rec_t *in, size_t n, const cfg_t *c, out_t *out,
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

ks_err_t join_values(void *o, const void *l, size_t ll, const void *r,
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

ks_windows_t *join_windows(const cfg_t *c) {
        return ks_join_windows_after(
                ks_join_windows_before(
                        ks_join_windows_of_time_difference_and_grace(0,
                                                                     c->grace),
                        c->before),
                c->after);
}

ks_stream_t *(*const join_fn[])(ks_stream_t *, ks_stream_t *,
                                ks_value_joiner_cb *, void *, ks_windows_t *,
                                const char *) = {
        [KS_JOIN_INNER] = ks_stream_join,
        [KS_JOIN_LEFT] = ks_stream_left_join,
        [KS_JOIN_OUTER] = ks_stream_outer_join,
};

ks_test_driver_t *driver(const cfg_t *c) {
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

void pipe_rec(ks_test_driver_t *drv, const rec_t *r, int self) {
        char val[16];
        int n = snprintf(val, sizeof(val), "%c%d", r->side && !self ? 'R' : 'L',
                         r->id);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, r->side && !self ? "R" : "L",
                                     keys[r->key], strlen(keys[r->key]), val,
                                     (size_t)n, r->ts, NULL, &e));
}

size_t read_all(ks_test_driver_t *drv, out_t *out, size_t max) {
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
void compare(const out_t *want, size_t nw, const out_t *got, size_t ng) {
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
void check_nulls(const out_t *got, size_t ng) {
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
void run_recs(const cfg_t *c, const rec_t *in, size_t n) {
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

void run_case(const cfg_t *c, size_t n, int64_t step, int64_t jitter,
              int64_t far, unsigned late_every, uint64_t seed) {
        static rec_t in[MAXR];
        gen(in, n, step, jitter, far, late_every, seed);
        run_recs(c, in, n);
}

ks_err_t build_err(ks_builder_t *b, ks_error_t **e) {
        ks_topology_t *topo = NULL;
        ks_err_t err = ks_builder_build(b, &topo, e);
        ks_topology_destroy(topo);
        ks_builder_destroy(b);
        return err;
}

ks_err_t rekey(void *o, const ks_record_t *rec, ks_emitter_t *out) {
        (void)o;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        return ks_emit_key(out, v, 1);
}

/* --- hostile inputs ------------------------------------------------------ */

/* A driver over a join named "cj" of L and R (the same stream if @p self). */
ks_test_driver_t *named_driver(const cfg_t *c, ks_value_joiner_cb *j) {
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

/* An outer store key into @p k: be64(ts ^ sign) | side | be32
 * @p klen_field | key | be32 seq; returns its length. */
size_t outer_key(uint8_t *k, int64_t ts, int side, uint32_t klen_field,
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

void put_outer(ks_test_driver_t *drv, const void *k, size_t kl, const char *v) {
        ks_kv_store_t *kv = NULL;
        KST_OK(ks_test_driver_get_kv_store(drv, OUTER_STORE, &kv));
        KST_OK(ks_kv_store_put(kv, k, kl, v, strlen(v)));
}

void pipe_ok(ks_test_driver_t *drv, const char *topic, const char *k,
             const char *v, int64_t ts) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(drv, topic, k, strlen(k), v, strlen(v), ts,
                                     NULL, &e));
}

void pipe_fails(ks_test_driver_t *drv, const char *topic, const char *k,
                const char *v, int64_t ts, const char *why) {
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_test_driver_pipe(drv, topic, k, strlen(k), v,
                                             strlen(v), ts, NULL, &e),
                         e, KS_ERR_PROCESSOR, OUTER_STORE, why);
}
