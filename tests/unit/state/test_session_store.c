/* Session store behaviour, run identically against the RocksDB and the
 * in-memory backend (on a spied key-value handle, kst_store.h): reads
 * checked against models, expiry by session end, segment drops, restores,
 * and a session aggregation built on findSessions checked against
 * sessions computed from the sorted input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_store.h"

#define RETENTION      1000 /* segments of 60 s */
#define SEG_MS         60000
#define LONG_RETENTION 250000 /* segments of 125 s */
#define LONG_SEG       125000

typedef struct {
        kst_store_t *st;
        ks_kv_store_t *kv;
        ks_session_store_t *ss;
        int64_t retention;
} fixture_t;

static void open_store(fixture_t *f) {
        f->kv = kst_store_open(f->st);
        f->ss = ks__session_store_new(f->kv, f->retention);
        assert_non_null(f->ss);
        assert_ptr_equal(ks__session_store_kv(f->ss), f->kv);
}

static void close_store(fixture_t *f) {
        ks__session_store_destroy(f->ss);
        f->kv = NULL;
        f->ss = NULL;
        kst_store_closed(f->st);
}

/* Open again as a task moving back would find it: RocksDB keeps what was
 * committed; in memory, what the store held comes back through the
 * restore path (as from its changelog). */
static void reopen(fixture_t *f) {
        kst_entries_t *es = f->st->backend == KS_STORE_IN_MEMORY
                                    ? kst_store_entries(f->kv)
                                    : NULL;
        close_store(f);
        open_store(f);
        if (es)
                kst_store_restore(f->st, f->kv, es);
}

static int setup(void **state, ks_store_backend_t backend, int64_t retention) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->st = kst_store_new(backend, "s");
        f->retention = retention;
        open_store(f);
        *state = f;
        return 0;
}

static int setup_rocksdb(void **state) {
        return setup(state, KS_STORE_ROCKSDB, RETENTION);
}
static int setup_memory(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, RETENTION);
}
static int setup_rocksdb_long(void **state) {
        return setup(state, KS_STORE_ROCKSDB, LONG_RETENTION);
}
static int setup_memory_long(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, LONG_RETENTION);
}

static int teardown(void **state) {
        fixture_t *f = *state;
        close_store(f);
        kst_store_destroy(f->st);
        free(f);
        return 0;
}

static void commit(fixture_t *f) {
        kst_store_commit(f->st);
}

static void put_s(ks_session_store_t *ss, const char *k, int64_t start,
                  int64_t end, const char *v) {
        KST_OK(ks_session_store_put(ss, k, strlen(k), start, end, v,
                                    v ? strlen(v) : 0));
}

static void expect_session(ks_session_store_t *ss, const char *k, int64_t start,
                           int64_t end, const char *v) {
        const void *out;
        size_t n;
        ks_err_t err = ks_session_store_fetch_session(ss, k, strlen(k), start,
                                                      end, &out, &n);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
}

/* Render an iterator as "key@[start,end]=value,..." and compare. */
static void expect_iter(ks_session_iter_t *it, const char *want) {
        char got[4096] = "";
        const void *k, *v;
        size_t kl, vl;
        int64_t start, end;
        while (ks_session_iter_next(it, &k, &kl, &start, &end, &v, &vl)) {
                char one[256];
                snprintf(one, sizeof(one), "%s%.*s@[%lld,%lld]=%.*s",
                         *got ? "," : "", (int)kl, (const char *)k,
                         (long long)start, (long long)end, (int)vl,
                         (const char *)v);
                strcat(got, one);
        }
        assert_int_equal(ks_session_iter_error(it), KS_ERR_NO_ERROR);
        ks_session_iter_destroy(it);
        assert_string_equal(got, want);
}

static void test_put_fetch_remove(void **state) {
        fixture_t *f = *state;
        ks_session_store_t *ss = f->ss;
        assert_string_equal(ks_session_store_name(ss), "s");
        assert_int_equal(ks_session_store_retention_ms(ss), RETENTION);
        put_s(ss, "ab", 100, 200, "1");
        put_s(ss, "ab", 300, 300, "2");
        put_s(ss, "abc", 100, 200, "3"); /* extends "ab" */
        put_s(ss, "", 0, 50, "e");
        put_s(ss, "ab", -500, -100, "neg");
        put_s(ss, "ab", 150, 200, "4"); /* same end, later start */
        commit(f);
        expect_session(ss, "ab", 100, 200, "1");
        expect_session(ss, "ab", 150, 200, "4");
        expect_session(ss, "ab", 100, 201, NULL);
        expect_session(ss, "abc", 100, 200, "3");
        expect_session(ss, "", 0, 50, "e");
        put_s(ss, "ab", 100, 200, "1b");
        expect_session(ss, "ab", 100, 200, "1b");
        KST_OK(ks_session_store_remove(ss, "ab", 2, 300, 300));
        expect_session(ss, "ab", 300, 300, NULL);
        put_s(ss, "ab", 300, 300, "2b");
        ks_session_iter_t *it;
        KST_OK(ks_session_store_fetch(ss, "ab", 2, &it));
        expect_iter(it, "ab@[-500,-100]=neg,ab@[100,200]=1b,ab@[150,200]=4,"
                        "ab@[300,300]=2b");
        /* end >= 150 and start <= 250. */
        KST_OK(ks_session_store_find_sessions(ss, "ab", 2, 150, 250, &it));
        expect_iter(it, "ab@[100,200]=1b,ab@[150,200]=4");
        KST_OK(ks_session_store_backward_find_sessions(ss, "ab", 2, 150, 250,
                                                       &it));
        expect_iter(it, "ab@[150,200]=4,ab@[100,200]=1b");
        /* Bounds are inclusive. */
        KST_OK(ks_session_store_find_sessions(ss, "ab", 2, -100, 100, &it));
        expect_iter(it, "ab@[-500,-100]=neg,ab@[100,200]=1b");
        KST_OK(ks_session_store_find_sessions(ss, "ab", 2, 201, 299, &it));
        expect_iter(it, "");
        KST_OK(ks_session_store_find_sessions(ss, "ab", 2, 300, 300, &it));
        expect_iter(it, "ab@[300,300]=2b");
        /* By segment of the end (-100 is in the one before 0's), then key
         * (length, bytes), end, start. */
        KST_OK(ks_session_store_all(ss, &it));
        expect_iter(it, "ab@[-500,-100]=neg,@[0,50]=e,ab@[100,200]=1b,"
                        "ab@[150,200]=4,ab@[300,300]=2b,abc@[100,200]=3");
        assert_int_equal(ks__session_store_observed(ss), 300);
        /* Bad arguments. */
        assert_int_equal(ks_session_store_put(ss, "a", 1, 5, 4, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_session_store_remove(ss, "a", 1, 5, 4),
                         KS_ERR_INVALID_ARG);
        const void *v;
        size_t vl;
        assert_int_equal(
                ks_session_store_fetch_session(ss, "a", 1, 5, 4, &v, &vl),
                KS_ERR_INVALID_ARG);
        assert_int_equal(ks_session_store_put(NULL, "a", 1, 0, 0, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_session_store_put(ss, NULL, 1, 0, 0, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_session_store_put(ss, "a", 1, 0, 0, NULL, 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_session_store_fetch(ss, "a", 1, NULL),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_session_store_all(ss, NULL), KS_ERR_INVALID_ARG);
        assert_int_equal(f->st->key_deletes, 1);
}

static void test_retention(void **state) {
        fixture_t *f = *state;
        ks_session_store_t *ss = f->ss;
        put_s(ss, "k", 0, 0, "a");
        put_s(ss, "k", 500, 900, "b");
        put_s(ss, "j", 900, 1000, "c");
        /* Observed stream time 1000: sessions ending at or before 0 expire;
         * their start does not matter. */
        expect_session(ss, "k", 0, 0, NULL);
        expect_session(ss, "k", 500, 900, "b");
        put_s(ss, "k", -5000, 1, "long");
        expect_session(ss, "k", -5000, 1, "long");
        kst_log_clear();
        put_s(ss, "k", -5, 0, "late");
        assert_true(kst_log_contains("dropping a put of the session [-5, 0], "
                                     "expired"));
        KST_OK(ks_session_store_remove(ss, "k", 1, 0, 0));
        assert_true(kst_log_contains("dropping a remove of the session "
                                     "[0, 0], expired"));
        assert_int_equal(ks__session_store_expired_puts(ss), 2);
        assert_int_equal(f->st->key_deletes, 0);
        ks_session_iter_t *it;
        KST_OK(ks_session_store_find_sessions(ss, "k", 1, INT64_MIN, INT64_MAX,
                                              &it));
        expect_iter(it, "k@[-5000,1]=long,k@[500,900]=b");
        /* Far ahead: segments 0 to 2 go with one range delete. */
        put_s(ss, "z", 199000, 200000, "far");
        commit(f);
        KST_OK(ks_session_store_all(ss, &it));
        expect_iter(it, "z@[199000,200000]=far");
        assert_int_equal(kst_store_physical(f->st, f->kv), 1);
        assert_int_equal(f->st->range_deletes, 1);
        assert_int_equal(f->st->key_deletes, 0);
}

/* The stored key of (key, [start, end]) for segments of SEG_MS, written
 * here from the layout's description. */
static size_t raw_key(uint8_t *out, const char *key, int64_t start,
                      int64_t end) {
        const uint64_t sign = (uint64_t)1 << 63;
        int64_t seg = end / SEG_MS - (end % SEG_MS < 0);
        uint64_t parts[3] = {(uint64_t)seg ^ sign, (uint64_t)end ^ sign,
                             (uint64_t)start ^ sign};
        size_t kl = strlen(key), n = 0;
        for (int i = 7; i >= 0; i--)
                out[n++] = (uint8_t)(parts[0] >> (8 * i));
        for (int i = 3; i >= 0; i--)
                out[n++] = (uint8_t)((uint64_t)kl >> (8 * i));
        memcpy(out + n, key, kl);
        n += kl;
        for (int p = 1; p < 3; p++)
                for (int i = 7; i >= 0; i--)
                        out[n++] = (uint8_t)(parts[p] >> (8 * i));
        return n;
}

/* A restore brings back sessions of segments expired since: the first use
 * learns observed stream time (the largest end, not the last key's) and
 * drops them with one range delete. A reopened store knows it again. */
static void test_restore_drops_expired(void **state) {
        fixture_t *f = *state;
        static const struct {
                const char *key;
                int64_t start, end;
        } restored[] = {
                {"a", 0, 10},          {"b", 20000, 30000},   /* segment 0 */
                {"a", 60000, 70000},                          /* segment 1 */
                {"a", 125000, 130000}, {"b", 100000, 120000}, /* segment 2 */
                {"b", 129500, 129500},
        };
        for (size_t i = 0; i < sizeof(restored) / sizeof(restored[0]); i++) {
                uint8_t k[64];
                size_t kl = raw_key(k, restored[i].key, restored[i].start,
                                    restored[i].end);
                kst_store_restore_put(f->kv, k, kl, "v", 1);
        }
        kst_store_restore_end(f->st);
        assert_int_equal(ks__session_store_observed(f->ss), 130000);
        assert_int_equal(f->st->range_deletes, 1);
        commit(f);
        assert_int_equal(kst_store_physical(f->st, f->kv), 3);
        ks_session_iter_t *it;
        KST_OK(ks_session_store_all(f->ss, &it));
        expect_iter(it, "a@[125000,130000]=v,b@[129500,129500]=v");
        put_s(f->ss, "c", 0, 130000 - RETENTION, "late");
        assert_int_equal(ks__session_store_expired_puts(f->ss), 1);
        put_s(f->ss, "c", 0, 130000 - RETENTION + 1, "live");
        commit(f);
        reopen(f);
        assert_int_equal(ks__session_store_observed(f->ss), 130000);
        KST_OK(ks_session_store_fetch(f->ss, "c", 1, &it));
        expect_iter(it, "c@[0,129001]=live");
        put_s(f->ss, "c", 0, 130000 - RETENTION, "late");
        assert_int_equal(ks__session_store_expired_puts(f->ss), 1);
}

/* A session aggregation (count per session, inactivity gap GAP) built on
 * findSessions(key, t - GAP, t + GAP) as Kafka Streams' does, fed records
 * out of order; the sessions it leaves must be those of the sorted input
 * cut where two consecutive records are more than GAP apart. */
#define GAP   100
#define NRECS 400
#define NAGG  3
static void aggregate(ks_session_store_t *ss, const char *key, int64_t t) {
        ks_session_iter_t *it;
        KST_OK(ks_session_store_find_sessions(ss, key, strlen(key), t - GAP,
                                              t + GAP, &it));
        int64_t start = t, end = t, count = 1;
        int64_t merged[NRECS][2];
        size_t n = 0;
        const void *v;
        size_t vl;
        int64_t s, e;
        while (ks_session_iter_next(it, NULL, NULL, &s, &e, &v, &vl)) {
                assert_int_equal(vl, 8);
                int64_t c;
                memcpy(&c, v, 8);
                count += c;
                start = s < start ? s : start;
                end = e > end ? e : end;
                merged[n][0] = s;
                merged[n++][1] = e;
        }
        KST_OK(ks_session_iter_error(it));
        ks_session_iter_destroy(it);
        for (size_t i = 0; i < n; i++)
                KST_OK(ks_session_store_remove(ss, key, strlen(key),
                                               merged[i][0], merged[i][1]));
        KST_OK(ks_session_store_put(ss, key, strlen(key), start, end, &count,
                                    8));
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

static void test_session_aggregation(void **state) {
        fixture_t *f = *state;
        static const char *keys[NAGG] = {"u1", "u2", "u10"};
        int64_t ts[NAGG][NRECS];
        size_t cnt[NAGG] = {0};
        uint64_t seed = 5;
        for (int i = 0; i < NRECS; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                int k = (int)((seed >> 33) % NAGG);
                /* Time moves ahead with jitter up to 3 gaps back. */
                int64_t t = (int64_t)i * 60 - (int64_t)((seed >> 40) % 300);
                ts[k][cnt[k]++] = t;
                aggregate(f->ss, keys[k], t);
                if (i % 50 == 49)
                        commit(f);
        }
        commit(f);
        for (int k = 0; k < NAGG; k++) {
                qsort(ts[k], cnt[k], sizeof(int64_t), cmp_i64);
                char want[8192] = "";
                size_t first = 0;
                for (size_t i = 1; i <= cnt[k]; i++) {
                        if (i < cnt[k] && ts[k][i] - ts[k][i - 1] <= GAP)
                                continue;
                        char one[64];
                        snprintf(one, sizeof(one), "%s[%lld,%lld]#%zu",
                                 *want ? "," : "", (long long)ts[k][first],
                                 (long long)ts[k][i - 1], i - first);
                        strcat(want, one);
                        first = i;
                }
                ks_session_iter_t *it;
                KST_OK(ks_session_store_fetch(f->ss, keys[k], strlen(keys[k]),
                                              &it));
                char got[8192] = "";
                int64_t s, e, c;
                const void *v;
                size_t vl;
                while (ks_session_iter_next(it, NULL, NULL, &s, &e, &v, &vl)) {
                        memcpy(&c, v, 8);
                        char one[64];
                        snprintf(one, sizeof(one), "%s[%lld,%lld]#%lld",
                                 *got ? "," : "", (long long)s, (long long)e,
                                 (long long)c);
                        strcat(got, one);
                }
                KST_OK(ks_session_iter_error(it));
                ks_session_iter_destroy(it);
                assert_string_equal(got, want);
        }
}

/* Random sessions put and removed, ends moving forward with stragglers,
 * against a model: findSessions forward and backward with random bounds,
 * all(), what is physically stored, drops and expired puts. */
#define MKEYS 4
#define MPUTS 1500
typedef struct {
        int key;
        int64_t start, end;
        int value; /* -1: removed */
} msess_t;
static const char *mkeys[MKEYS] = {"a", "b", "aa", "ba"}; /* store order */
static msess_t msess[MPUTS];
static size_t mcnt;

static int64_t lseg(int64_t t) {
        return t / LONG_SEG - (t % LONG_SEG < 0);
}

/* ks_session_store_all()'s order: segment of the end, key, end, start. */
static int mcmp(const void *a, const void *b) {
        const msess_t *x = a, *y = b;
        if (lseg(x->end) != lseg(y->end))
                return lseg(x->end) < lseg(y->end) ? -1 : 1;
        if (x->key != y->key)
                return x->key - y->key;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        return (x->start > y->start) - (x->start < y->start);
}

/* Check @p it yields the live sessions of @p key (-1: any) with end >=
 * @p ee and start <= @p ls, in store order (reversed with @p rev). */
static void expect_model(ks_session_iter_t *it, int key, int64_t ee, int64_t ls,
                         int64_t min_live, int rev) {
        msess_t sel[MPUTS];
        size_t n = 0;
        for (size_t i = 0; i < mcnt; i++)
                if (msess[i].value >= 0 && msess[i].end >= min_live &&
                    msess[i].end >= ee && msess[i].start <= ls &&
                    (key < 0 || msess[i].key == key))
                        sel[n++] = msess[i];
        qsort(sel, n, sizeof(sel[0]), mcmp);
        const void *k, *v;
        size_t kl, vl;
        int64_t s, e;
        for (size_t i = 0; i < n; i++) {
                const msess_t *m = &sel[rev ? n - 1 - i : i];
                assert_true(ks_session_iter_next(it, &k, &kl, &s, &e, &v, &vl));
                char want[16];
                snprintf(want, sizeof(want), "%d", m->value);
                assert_int_equal(kl, strlen(mkeys[m->key]));
                assert_memory_equal(k, mkeys[m->key], kl);
                assert_int_equal(s, m->start);
                assert_int_equal(e, m->end);
                assert_int_equal(vl, strlen(want));
                assert_memory_equal(v, want, vl);
        }
        assert_false(ks_session_iter_next(it, &k, &kl, &s, &e, &v, &vl));
        KST_OK(ks_session_iter_error(it));
        ks_session_iter_destroy(it);
}

static uint64_t rnd(uint64_t *s) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        return *s >> 33;
}

static void test_sessions_model(void **state) {
        fixture_t *f = *state;
        ks_session_store_t *ss = f->ss;
        mcnt = 0;
        int64_t observed = INT64_MIN, base = -300000;
        uint64_t expired = 0, seed = 3;
        unsigned removes = 0, drops = 0;
        int64_t lowest = INT64_MAX;
        for (int step = 0; step < MPUTS; step++) {
                int key = (int)(rnd(&seed) % MKEYS);
                base += (int64_t)(rnd(&seed) % 3000);
                int64_t end = base - (int64_t)(rnd(&seed) % 320000);
                int64_t start = end - (int64_t)(rnd(&seed) % 4) * 1000;
                int del = rnd(&seed) % 6 == 0;
                if (del && mcnt && rnd(&seed) % 2) {
                        /* Remove a session that exists (or did). */
                        const msess_t *m = &msess[rnd(&seed) % mcnt];
                        key = m->key, start = m->start, end = m->end;
                }
                char v[16];
                snprintf(v, sizeof(v), "%d", step);
                put_s(ss, mkeys[key], start, end, del ? NULL : v);
                int64_t min_live = observed == INT64_MIN
                                           ? INT64_MIN
                                           : observed - LONG_RETENTION + 1;
                if (end < min_live) {
                        expired++;
                        continue;
                }
                size_t i = 0;
                while (i < mcnt &&
                       !(msess[i].key == key && msess[i].start == start &&
                         msess[i].end == end))
                        i++;
                if (i == mcnt && !del)
                        msess[mcnt++] = (msess_t){key, start, end, step};
                else if (i < mcnt)
                        msess[i].value = del ? -1 : step;
                removes += del;
                if (!del && lseg(end) < lowest)
                        lowest = lseg(end);
                if (!del && end > observed) {
                        observed = end;
                        int64_t live = lseg(observed - LONG_RETENTION + 1);
                        if (lowest < live) {
                                drops++;
                                lowest = live;
                                size_t w = 0;
                                for (size_t j = 0; j < mcnt; j++)
                                        if (lseg(msess[j].end) >= live)
                                                msess[w++] = msess[j];
                                mcnt = w;
                        }
                }
                if (step % 100 < 98)
                        continue;
                commit(f);
                int64_t ml = observed - LONG_RETENTION + 1;
                size_t stored = 0;
                for (size_t j = 0; j < mcnt; j++)
                        stored += msess[j].value >= 0;
                assert_int_equal(kst_store_physical(f->st, f->kv), stored);
                assert_int_equal(ks__session_store_expired_puts(ss), expired);
                assert_int_equal(f->st->key_deletes, removes);
                assert_int_equal(f->st->range_deletes, drops);
                assert_int_equal(ks__session_store_observed(ss), observed);
                int64_t ee = base - (int64_t)(rnd(&seed) % 300000);
                int64_t ls = ee + (int64_t)(rnd(&seed) % 200000) - 2000;
                ks_session_iter_t *it;
                for (int k = 0; k < MKEYS; k++) {
                        const char *kk = mkeys[k];
                        KST_OK(ks_session_store_find_sessions(
                                ss, kk, strlen(kk), ee, ls, &it));
                        expect_model(it, k, ee, ls, ml, 0);
                        KST_OK(ks_session_store_backward_find_sessions(
                                ss, kk, strlen(kk), ee, ls, &it));
                        expect_model(it, k, ee, ls, ml, 1);
                        KST_OK(ks_session_store_fetch(ss, kk, strlen(kk), &it));
                        expect_model(it, k, INT64_MIN, INT64_MAX, ml, 0);
                }
                KST_OK(ks_session_store_all(ss, &it));
                expect_model(it, -1, INT64_MIN, INT64_MAX, ml, 0);
        }
        assert_true(drops > 5);
        assert_true(expired > 10);
        assert_true(removes > 10);
}

/* Sessions at both ends of time: expiry saturates, reads at the extreme
 * bounds neither overflow (UBSan) nor lose a session. */
static void test_extremes_of_time(void **state) {
        fixture_t *f = *state;
        ks_session_store_t *ss = f->ss;
        put_s(ss, "a", INT64_MIN, INT64_MIN, "min");
        expect_session(ss, "a", INT64_MIN, INT64_MIN, "min");
        assert_int_equal(ks__session_store_observed(ss), INT64_MIN);
        ks_session_iter_t *it;
        KST_OK(ks_session_store_find_sessions(ss, "a", 1, INT64_MIN, INT64_MAX,
                                              &it));
        expect_iter(it, "a@[-9223372036854775808,-9223372036854775808]=min");
        put_s(ss, "b", INT64_MIN, INT64_MIN + RETENTION, "b");
        /* end INT64_MIN < INT64_MIN + RETENTION - RETENTION + 1: expired. */
        expect_session(ss, "a", INT64_MIN, INT64_MIN, NULL);
        put_s(ss, "c", 0, INT64_MAX, "all");
        KST_OK(ks_session_store_find_sessions(ss, "c", 1, INT64_MIN, INT64_MAX,
                                              &it));
        expect_iter(it, "c@[0,9223372036854775807]=all");
        KST_OK(ks_session_store_find_sessions(ss, "c", 1, INT64_MAX, INT64_MIN,
                                              &it));
        expect_iter(it, "");
        KST_OK(ks_session_store_find_sessions(ss, "c", 1, INT64_MAX, 0, &it));
        expect_iter(it, "c@[0,9223372036854775807]=all");
        put_s(ss, "d", INT64_MAX - RETENTION, INT64_MAX - RETENTION, "late");
        put_s(ss, "d", INT64_MAX - RETENTION + 1, INT64_MAX - RETENTION + 1,
              "live");
        assert_int_equal(ks__session_store_expired_puts(ss), 1);
        commit(f);
        reopen(f);
        assert_int_equal(ks__session_store_observed(f->ss), INT64_MAX);
        KST_OK(ks_session_store_all(f->ss, &it));
        expect_iter(it, "c@[0,9223372036854775807]=all,"
                        "d@[9223372036854774808,9223372036854774808]=live");
        KST_OK(ks_session_store_backward_find_sessions(f->ss, "d", 1, INT64_MIN,
                                                       INT64_MAX, &it));
        expect_iter(it, "d@[9223372036854774808,9223372036854774808]=live");
}

static void test_closed_store(void **state) {
        fixture_t *f = *state;
        ks_session_store_t *ss = f->ss;
        put_s(ss, "a", 10, 20, "1");
        put_s(ss, "a", 30, 40, "2");
        ks_session_iter_t *it;
        KST_OK(ks_session_store_fetch(ss, "a", 1, &it));
        assert_int_equal(
                ks_session_iter_next(it, NULL, NULL, NULL, NULL, NULL, NULL),
                1);
        ks__kv_store_close(f->kv);
        assert_int_equal(
                ks_session_iter_next(it, NULL, NULL, NULL, NULL, NULL, NULL),
                0);
        assert_int_equal(ks_session_iter_error(it), KS_ERR_STORE_CLOSED);
        ks_session_iter_destroy(it);
        const void *v;
        size_t vl;
        assert_int_equal(ks_session_store_put(ss, "a", 1, 0, 1, "3", 1),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_session_store_fetch_session(ss, "a", 1, 10, 20, &v, &vl),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_session_store_find_sessions(ss, "a", 1, 0, 100, &it),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_session_store_all(ss, &it), KS_ERR_STORE_CLOSED);
}

#define BOTH(fn)                                                               \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb, teardown),          \
                cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)
#define BOTH_LONG(fn)                                                          \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb_long, teardown),     \
                cmocka_unit_test_setup_teardown(fn, setup_memory_long,         \
                                                teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                BOTH(test_put_fetch_remove),
                BOTH(test_retention),
                BOTH(test_restore_drops_expired),
                BOTH_LONG(test_session_aggregation),
                BOTH_LONG(test_sessions_model),
                BOTH(test_extremes_of_time),
                BOTH(test_closed_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
