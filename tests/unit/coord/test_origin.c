/* Origin headers and duplicate marks.
 *
 * The codec refuses whatever is not this application's origin within the
 * topology (the 20-byte header with extreme fields of an earlier version,
 * another tag, out-of-range fields). The property test runs the real marks
 * and the real partition group over random topologies: upstream tasks
 * fan input records out to several through topics, fail and replay from
 * their last commit (what they sent since is partly lost, then sent
 * again); the downstream task merges the through topics by timestamp
 * (out of offset order), commits its marks with its input offsets, and
 * fails and replays too. Its committed state must hold every record
 * emitted exactly once: nothing skipped that was not processed before,
 * nothing counted twice. Keying the marks by origin alone, as an earlier
 * version did, fails that check, and the test shows it does. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#include "common/util_int.h"
#include "coord/origin_int.h"
#include "coord/partition_group_int.h"

#define TAG 0xfeedbeefu

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(uint64_t n) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return n ? rng % n : 0;
}

/* --- the codec ------------------------------------------------------------ */

static void test_codec(void **state) {
        int32_t parts[3] = {4, 1, 600};
        ks__origin_scope_t scope = {TAG, 3, parts};
        ks__origin_rec_t o = {2, 599, INT64_MAX - 1, INT32_MAX - 1}, d;
        uint8_t b[KS_ORIGIN_LEN];
        ks__origin_encode(b, TAG, &o);
        assert_int_equal(ks__origin_decode(b, sizeof(b), &scope, &d), 0);
        assert_int_equal(d.topic_index, o.topic_index);
        assert_int_equal(d.partition, o.partition);
        assert_int_equal(d.offset, o.offset);
        assert_int_equal(d.seq, o.seq);
        /* Another application's (or topology's) tag. */
        ks__origin_scope_t other = {TAG + 1, 3, parts};
        assert_int_equal(ks__origin_decode(b, sizeof(b), &other, &d), -1);
        /* Wrong lengths: the 20-byte header of the earlier version,
         * truncated, extended. */
        assert_int_equal(ks__origin_decode(b, 20, &scope, &d), -1);
        assert_int_equal(ks__origin_decode(b, KS_ORIGIN_LEN - 1, &scope, &d),
                         -1);
        uint8_t longer[KS_ORIGIN_LEN + 1] = {0};
        memcpy(longer, b, sizeof(b));
        assert_int_equal(ks__origin_decode(longer, sizeof(longer), &scope, &d),
                         -1);
        assert_int_equal(ks__origin_decode(NULL, 0, &scope, &d), -1);
        /* Each field out of range. */
        struct {
                int32_t ti, p;
                int64_t off;
                int32_t seq;
        } bad[] = {
                {3, 0, 0, 0},         /* no such topic */
                {INT32_MIN, 0, 0, 0}, /* negative topic */
                {0, 4, 0, 0},         /* no such partition */
                {1, 1, 0, 0},         /* topic 1 has one */
                {0, INT32_MIN, 0, 0}, /* negative partition */
                {0, -1, 0, 0},        {0, 0, INT64_MAX, 0}, /* the offset of no
                                                               record */
                {0, 0, -1, 0},        {0, 0, INT64_MIN, 0}, {0, 0, 0, -1},
                {0, 0, 0, INT32_MAX},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                ks__origin_rec_t x = {bad[i].ti, bad[i].p, bad[i].off,
                                      bad[i].seq};
                ks__origin_encode(b, TAG, &x);
                if (ks__origin_decode(b, sizeof(b), &scope, &d) != -1)
                        fail_msg("origin %zu accepted", i);
        }
        /* Version byte. */
        ks__origin_encode(b, TAG, &o);
        b[0] = 1;
        assert_int_equal(ks__origin_decode(b, sizeof(b), &scope, &d), -1);
}

/* Marks are kept per (input, origin partition) and move only upward. */
static void test_marks(void **state) {
        ks__marks_t *m = ks__marks_new(TAG);
        ks__origin_rec_t o = {0, 1, 10, 0};
        assert_int_equal(ks__marks_check(m, 5, &o), 0);
        assert_int_equal(ks__marks_check(m, 5, &o), 1); /* the same again */
        o.seq = 1;
        assert_int_equal(ks__marks_check(m, 5, &o), 0); /* next rank */
        o.offset = 9;
        o.seq = 7;
        assert_int_equal(ks__marks_check(m, 5, &o), 1); /* a replay */
        /* Another input: its own mark. */
        assert_int_equal(ks__marks_check(m, 6, &o), 0);
        assert_int_equal(ks__marks_count(m), 2);
        for (int32_t p = 0; p < 5000; p++) {
                ks__origin_rec_t q = {1, p, p, 0};
                assert_int_equal(ks__marks_check(m, 5, &q), 0);
        }
        for (int32_t p = 0; p < 5000; p++) {
                ks__origin_rec_t q = {1, p, p, 0};
                assert_int_equal(ks__marks_check(m, 5, &q), 1);
        }
        assert_int_equal(ks__marks_count(m), 5002);
        ks__marks_destroy(m);
}

/* --- the property test ------------------------------------------------------
 */

#define MAX_ORIGINS 8
#define MAX_QUEUES  3
#define MAX_INPUTS  60

typedef struct {
        int32_t ti, p;
        int64_t off;
        int32_t seq;
        int64_t ts;
} rec_t;

typedef struct {
        rec_t *v;
        size_t n, cap;
} vec_t;

static void push(vec_t *v, rec_t r) {
        if (v->n == v->cap) {
                v->cap = v->cap ? v->cap * 2 : 64;
                v->v = realloc(v->v, v->cap * sizeof(*v->v));
        }
        v->v[v->n++] = r;
}

/* A distinct emitted record's slot in the tally. */
static size_t slot(const rec_t *r, int parts) {
        return ((((size_t)r->ti * (size_t)parts + (size_t)r->p) * MAX_INPUTS +
                 (size_t)r->off) *
                        4 +
                (size_t)r->seq);
}

typedef struct {
        vec_t store; /* the committed marks: key(16) value(12) pairs */
} mstore_t;

static int put_mark(void *opaque, const void *k, size_t kl, const void *v,
                    size_t vl) {
        mstore_t *s = opaque;
        assert_int_equal(kl, 16);
        assert_int_equal(vl, 12);
        for (size_t i = 0; i < s->store.n; i++)
                if (!memcmp(&s->store.v[i], k, 16)) {
                        memcpy((char *)&s->store.v[i] + 16, v, 12);
                        return 0;
                }
        rec_t r;
        memcpy(&r, k, 16);
        memcpy((char *)&r + 16, v, 12);
        push(&s->store, r);
        return 0;
}

static void nop_destroy(void *msg) {
        (void)msg;
}

/* One random topology and history. @p per_origin: key the marks by origin
 * alone (the old defect). Returns 1 if the downstream's committed state
 * holds every emitted record exactly once. */
static int run_once(int per_origin) {
        int T = 1 + (int)rnd(2), P = 1 + (int)rnd(MAX_ORIGINS / 2);
        int Q = 1 + (int)rnd(MAX_QUEUES);
        if (per_origin)
                Q = 2 + (int)rnd(2); /* the merge the defect needs */
        int O = T * P;
        int N[MAX_ORIGINS];
        /* Each input's fan-out, destinations and timestamp: fixed, as a
         * deterministic processor makes them. */
        int fan[MAX_ORIGINS][MAX_INPUTS], dest[MAX_ORIGINS][MAX_INPUTS][4];
        int64_t ts[MAX_ORIGINS][MAX_INPUTS];
        size_t tally_n = (size_t)O * MAX_INPUTS * 4;
        int *expected = calloc(tally_n, sizeof(int));
        for (int o = 0; o < O; o++) {
                N[o] = 5 + (int)rnd(MAX_INPUTS - 5);
                for (int i = 0; i < N[o]; i++) {
                        fan[o][i] = (int)rnd(4);
                        ts[o][i] = (int64_t)rnd(1000);
                        for (int j = 0; j < fan[o][i]; j++) {
                                dest[o][i][j] = (int)rnd((uint64_t)Q);
                                rec_t r = {o / P, o % P, i, j, 0};
                                expected[slot(&r, P)] = 1;
                        }
                }
        }
        /* Upstream: each origin partition processed with commits and
         * crashes; S[o][q] is what reached through queue q from it. */
        vec_t S[MAX_ORIGINS][MAX_QUEUES] = {{{0}}};
        for (int o = 0; o < O; o++) {
                int pos = 0, committed = 0;
                size_t at_commit[MAX_QUEUES] = {0};
                int crashes = 0;
                while (pos < N[o]) {
                        for (int j = 0; j < fan[o][pos]; j++)
                                push(&S[o][dest[o][pos][j]],
                                     (rec_t){o / P, o % P, pos, j, ts[o][pos]});
                        pos++;
                        if (rnd(6) == 0) {
                                committed = pos;
                                for (int q = 0; q < Q; q++)
                                        at_commit[q] = S[o][q].n;
                        } else if (crashes < 3 && rnd(10) == 0) {
                                /* Sent since the commit: a prefix per
                                 * queue arrived. */
                                for (int q = 0; q < Q; q++)
                                        S[o][q].n = at_commit[q] +
                                                    rnd(S[o][q].n -
                                                        at_commit[q] + 1);
                                for (int q = 0; q < Q; q++)
                                        at_commit[q] = S[o][q].n;
                                pos = committed;
                                crashes++;
                        }
                }
        }
        /* Each through queue: a random interleaving of its origins. */
        vec_t L[MAX_QUEUES] = {{0}};
        for (int q = 0; q < Q; q++) {
                size_t idx[MAX_ORIGINS] = {0};
                for (;;) {
                        int left[MAX_ORIGINS], nl = 0;
                        for (int o = 0; o < O; o++)
                                if (idx[o] < S[o][q].n)
                                        left[nl++] = o;
                        if (!nl)
                                break;
                        int o = left[rnd((uint64_t)nl)];
                        push(&L[q], S[o][q].v[idx[o]++]);
                }
        }
        /* Downstream: one task over the Q queues. */
        int32_t parts[2 + MAX_QUEUES];
        for (int t = 0; t < T; t++)
                parts[t] = P;
        for (int q = 0; q < Q; q++)
                parts[T + q] = 1;
        ks__origin_scope_t scope = {TAG, T + Q, parts};
        mstore_t ms = {{0}};
        int *state = calloc(tally_n, sizeof(int));
        int *committed_state = calloc(tally_n, sizeof(int));
        /* Taken from each queue, read into the group, and taken as of the
         * last commit (the committed input offsets). */
        size_t cr[MAX_QUEUES] = {0}, rd[MAX_QUEUES] = {0},
               ccr[MAX_QUEUES] = {0};
        ks__marks_t *marks = ks__marks_new(TAG);
        ks__pgroup_t pg;
        assert_int_equal(ks__pgroup_init(&pg, (size_t)Q, nop_destroy), 0);
        int crashes = 0;
        for (;;) {
                /* Fetch some records into the group. */
                int more = 0;
                for (int q = 0; q < Q; q++) {
                        size_t k = rnd(5);
                        for (; k && rd[q] < L[q].n; k--, rd[q]++)
                                assert_int_equal(
                                        ks__pgroup_add(&pg, &pg.queues[q],
                                                       &L[q].v[rd[q]],
                                                       (int64_t)rd[q],
                                                       L[q].v[rd[q]].ts),
                                        0);
                        more |= rd[q] < L[q].n;
                }
                ks__qrec_t rec;
                ks__rqueue_t *qp;
                int took = 0;
                for (int k = (int)rnd(4); k >= 0; k--) {
                        if (ks__pgroup_next(&pg, -1, 0, &rec, &qp) !=
                            KS_PG_RECORD)
                                break;
                        took = 1;
                        int q = (int)(qp - pg.queues);
                        const rec_t *r = rec.msg;
                        ks__origin_rec_t o = {r->ti, r->p, r->off, r->seq};
                        uint8_t b[KS_ORIGIN_LEN];
                        ks__origin_encode(b, TAG, &o);
                        ks__origin_rec_t d;
                        assert_int_equal(
                                ks__origin_decode(b, sizeof(b), &scope, &d), 0);
                        int input = per_origin ? 0 : T + q;
                        if (ks__marks_check(marks, input, &d) == 0)
                                state[slot(r, P)]++;
                        cr[q]++;
                }
                int done = !more && !took && !ks__pgroup_queued(&pg);
                uint64_t act = rnd(12);
                if (act == 0 || done) {
                        /* Commit: marks into the store, state and input
                         * positions with them. */
                        assert_int_equal(ks__marks_flush(marks, put_mark, &ms),
                                         0);
                        memcpy(committed_state, state, tally_n * sizeof(int));
                        memcpy(ccr, cr, sizeof(cr));
                } else if (act == 1 && crashes < 4) {
                        /* Crash: back to the last commit. */
                        crashes++;
                        ks__pgroup_clear(&pg);
                        assert_int_equal(
                                ks__pgroup_init(&pg, (size_t)Q, nop_destroy),
                                0);
                        ks__marks_destroy(marks);
                        marks = ks__marks_new(TAG);
                        for (size_t i = 0; i < ms.store.n; i++) {
                                const char *e = (const char *)&ms.store.v[i];
                                assert_int_equal(ks__marks_load(marks, &scope,
                                                                e, 16, e + 16,
                                                                12),
                                                 0);
                        }
                        memcpy(state, committed_state, tally_n * sizeof(int));
                        for (int q = 0; q < Q; q++)
                                rd[q] = cr[q] = ccr[q];
                        done = 0;
                }
                if (done)
                        break;
        }
        int ok = 1;
        for (size_t i = 0; i < tally_n; i++)
                if (committed_state[i] != expected[i])
                        ok = 0;
        ks__pgroup_clear(&pg);
        ks__marks_destroy(marks);
        for (int o = 0; o < O; o++)
                for (int q = 0; q < Q; q++)
                        free(S[o][q].v);
        for (int q = 0; q < Q; q++)
                free(L[q].v);
        free(ms.store.v);
        free(state);
        free(committed_state);
        free(expected);
        return ok;
}

static void test_property(void **state) {
        for (int round = 0; round < 3000; round++)
                if (!run_once(0))
                        fail_msg("round %d: the committed state is not every "
                                 "emitted record exactly once",
                                 round);
}

/* The check above can fail: marks kept per origin partition only (not per
 * input) skip records a merge delivers out of offset order. */
static void test_property_detects_old_keying(void **state) {
        int failed = 0;
        for (int round = 0; round < 3000 && !failed; round++)
                failed = !run_once(1);
        assert_true(failed);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_codec),
                cmocka_unit_test(test_marks),
                cmocka_unit_test(test_property),
                cmocka_unit_test(test_property_detects_old_keying),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
