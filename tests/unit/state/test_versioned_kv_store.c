/* Versioned key-value store behaviour, run identically against the RocksDB
 * and the in-memory backend: latest and as-of reads checked against a
 * brute-force model over thousands of out-of-order puts and tombstones,
 * the history retention boundary, puts too old to store, the versions a
 * put drops, a restore from the captured changelog answering as the
 * original, crafted entries that do not fit the layout, and a closed
 * store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_store.h"

#define NAME "versions"
#define SIGN ((uint64_t)1 << 63)

/* The changelog the store writes, in order (value NULL: a delete). */
typedef struct {
        void *k, *v;
        size_t kl, vl;
} log_rec_t;

typedef struct {
        log_rec_t *recs;
        size_t cnt, cap;
} changelog_t;

typedef struct {
        kst_store_t *st;
        ks_kv_store_t *kv;
        ks_versioned_kv_store_t *vs;
        int64_t history;
        changelog_t log;
} fixture_t;

static ks_err_t log_write(void *opaque, const void *key, size_t klen,
                          const void *value, size_t vlen) {
        changelog_t *l = opaque;
        if (l->cnt == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 256;
                l->recs = realloc(l->recs, l->cap * sizeof(*l->recs));
                assert_non_null(l->recs);
        }
        log_rec_t *r = &l->recs[l->cnt++];
        r->k = malloc(klen + 1);
        memcpy(r->k, key, klen);
        r->kl = klen;
        r->v = NULL;
        r->vl = 0;
        if (value) {
                r->v = malloc(vlen + 1);
                memcpy(r->v, value, vlen);
                r->vl = vlen;
        }
        return KS_ERR_NO_ERROR;
}

static void log_clear(changelog_t *l) {
        for (size_t i = 0; i < l->cnt; i++) {
                free(l->recs[i].k);
                free(l->recs[i].v);
        }
        free(l->recs);
        memset(l, 0, sizeof(*l));
}

static void open_store(fixture_t *f) {
        f->kv = kst_store_open(f->st);
        f->kv->log = log_write;
        f->kv->log_opaque = &f->log;
        /* The versioned store owns the key-value handle from here on. */
        f->vs = ks__versioned_kv_store_new(f->kv, f->history);
        assert_non_null(f->vs);
        assert_ptr_equal(ks__versioned_kv_store_kv(f->vs), f->kv);
}

static void close_store(fixture_t *f) {
        ks__versioned_kv_store_destroy(f->vs);
        f->kv = NULL;
        f->vs = NULL;
        kst_store_closed(f->st);
}

/* Open the store again as a task moving back would find it: RocksDB keeps
 * what was committed; in memory, the entries come back through the
 * restore path. */
static void reopen(fixture_t *f) {
        kst_store_commit(f->st);
        kst_entries_t *es = f->st->backend == KS_STORE_IN_MEMORY
                                    ? kst_store_entries(f->kv)
                                    : NULL;
        close_store(f);
        open_store(f);
        if (es)
                kst_store_restore(f->st, f->kv, es);
}

static int setup(void **state, ks_store_backend_t backend) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->st = kst_store_new(backend, NAME);
        f->history = 1000;
        open_store(f);
        *state = f;
        return 0;
}

static int setup_rocksdb(void **state) {
        return setup(state, KS_STORE_ROCKSDB);
}
static int setup_memory(void **state) {
        return setup(state, KS_STORE_IN_MEMORY);
}

static int teardown(void **state) {
        fixture_t *f = *state;
        close_store(f);
        kst_store_destroy(f->st);
        log_clear(&f->log);
        free(f);
        return 0;
}

/* Reopen with another history retention (the layout does not keep it). */
static void set_history(fixture_t *f, int64_t history) {
        f->history = history;
        reopen(f);
}

static int put_s(ks_versioned_kv_store_t *vs, const char *k, const char *v,
                 int64_t t) {
        int stored = -1;
        KST_OK(ks_versioned_kv_store_put(vs, k, strlen(k), v, v ? strlen(v) : 0,
                                         t, &stored));
        return stored;
}

static void expect_latest(ks_versioned_kv_store_t *vs, const char *k,
                          const char *v, int64_t t) {
        const void *out = "x";
        size_t n = 99;
        int64_t got = 0;
        ks_err_t err =
                ks_versioned_kv_store_get(vs, k, strlen(k), &out, &n, &got);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                assert_null(out);
                assert_int_equal(n, 0);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
        assert_int_equal(got, t);
}

static void expect_as_of(ks_versioned_kv_store_t *vs, const char *k,
                         int64_t as_of, const char *v, int64_t from,
                         int64_t to) {
        const void *out = "x";
        size_t n = 99;
        int64_t f = 0, t = 0;
        ks_err_t err = ks_versioned_kv_store_get_as_of(vs, k, strlen(k), as_of,
                                                       &out, &n, &f, &t);
        if (!v) {
                if (err != KS_ERR_NOT_FOUND)
                        fail_msg("%s as of %lld: %s, not none", k,
                                 (long long)as_of, ks_err_name(err));
                assert_null(out);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
        assert_int_equal(f, from);
        assert_int_equal(t, to);
}

/* --- basics ---------------------------------------------------------------
 */

static void test_put_get(void **state) {
        fixture_t *f = *state;
        ks_versioned_kv_store_t *vs = f->vs;
        assert_string_equal(ks_versioned_kv_store_name(vs), NAME);
        assert_int_equal(ks_versioned_kv_store_history_retention_ms(vs), 1000);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(vs),
                         INT64_MIN);
        expect_latest(vs, "a", NULL, 0);
        expect_as_of(vs, "a", 0, NULL, 0, 0);
        assert_int_equal(put_s(vs, "a", "v100", 100), KS_VERSIONED_PUT_LATEST);
        assert_int_equal(put_s(vs, "a", "v300", 300), KS_VERSIONED_PUT_LATEST);
        /* Out of order, within the history: kept, not the latest. */
        assert_int_equal(put_s(vs, "a", "v200", 200), KS_VERSIONED_PUT_HISTORY);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(vs), 300);
        expect_latest(vs, "a", "v300", 300);
        expect_as_of(vs, "a", 99, NULL, 0, 0);
        expect_as_of(vs, "a", 100, "v100", 100, 200);
        expect_as_of(vs, "a", 199, "v100", 100, 200);
        expect_as_of(vs, "a", 200, "v200", 200, 300);
        expect_as_of(vs, "a", 300, "v300", 300, INT64_MAX);
        expect_as_of(vs, "a", INT64_MAX, "v300", 300, INT64_MAX);
        /* A put at a version's timestamp replaces it. */
        assert_int_equal(put_s(vs, "a", "V200", 200), KS_VERSIONED_PUT_HISTORY);
        expect_as_of(vs, "a", 250, "V200", 200, 300);
        assert_int_equal(put_s(vs, "a", "", 300), KS_VERSIONED_PUT_LATEST);
        expect_latest(vs, "a", "", 300); /* an empty value is a value */
        /* A tombstone ends the version before it. */
        assert_int_equal(put_s(vs, "a", NULL, 250), KS_VERSIONED_PUT_HISTORY);
        expect_as_of(vs, "a", 220, "V200", 200, 250);
        expect_as_of(vs, "a", 260, NULL, 0, 0);
        expect_as_of(vs, "a", 300, "", 300, INT64_MAX);
        /* Delete: a tombstone, handing out what was valid then. */
        const void *old;
        size_t ol;
        int64_t ot;
        KST_OK(ks_versioned_kv_store_delete(vs, "a", 1, 400, &old, &ol, &ot));
        assert_int_equal(ol, 0);
        assert_non_null(old);
        assert_int_equal(ot, 300);
        expect_latest(vs, "a", NULL, 0);
        expect_as_of(vs, "a", 350, "", 300, 400);
        KST_OK(ks_versioned_kv_store_delete(vs, "a", 1, 500, &old, &ol, &ot));
        assert_null(old);
        assert_int_equal(ot, -1);
        KST_OK(ks_versioned_kv_store_delete(vs, "a", 1, 210, &old, &ol, &ot));
        assert_int_equal(ol, 4);
        assert_memory_equal(old, "V200", 4);
        assert_int_equal(ot, 200);
        expect_as_of(vs, "a", 205, "V200", 200, 210);
        expect_as_of(vs, "a", 215, NULL, 0, 0);
        /* Timestamps at the ends of int64. */
        assert_int_equal(put_s(vs, "e", "lo", INT64_MIN + 1),
                         KS_VERSIONED_NOT_PUT);
        put_s(vs, "z", "hi", INT64_MAX);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(vs),
                         INT64_MAX);
        expect_as_of(vs, "z", INT64_MAX, "hi", INT64_MAX, INT64_MAX);
        expect_as_of(vs, "z", INT64_MAX - 1, NULL, 0, 0);
        expect_as_of(vs, "z", INT64_MAX - 1000, NULL, 0, 0);
        expect_as_of(vs, "a", INT64_MAX - 1001, NULL, 0, 0);
        put_s(vs, "z", "hi2", INT64_MAX - 5);
        expect_as_of(vs, "z", INT64_MAX - 1, "hi2", INT64_MAX - 5, INT64_MAX);
        expect_latest(vs, "z", "hi", INT64_MAX);
        /* Outputs may be left out. */
        KST_OK(ks_versioned_kv_store_get(vs, "z", 1, NULL, NULL, NULL));
        KST_OK(ks_versioned_kv_store_get_as_of(vs, "z", 1, INT64_MAX, NULL,
                                               NULL, NULL, NULL));
        KST_OK(ks_versioned_kv_store_put(vs, "y", 1, "v", 1, INT64_MAX, NULL));
        /* Bad arguments. */
        int stored;
        assert_int_equal(
                ks_versioned_kv_store_put(vs, NULL, 0, "v", 1, 1, &stored),
                KS_ERR_INVALID_ARG);
        assert_int_equal(ks_versioned_kv_store_put(vs, "k", 1, NULL, 3,
                                                   INT64_MAX, &stored),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_versioned_kv_store_get(vs, NULL, 0, &old, &ol, &ot),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(
                ks_versioned_kv_store_get(NULL, "k", 1, &old, &ol, &ot),
                KS_ERR_INVALID_ARG);
        assert_int_equal(ks_versioned_kv_store_get_as_of(NULL, "k", 1, 0, &old,
                                                         &ol, &ot, &ot),
                         KS_ERR_INVALID_ARG);
        assert_null(ks_versioned_kv_store_name(NULL));
        assert_int_equal(ks_versioned_kv_store_history_retention_ms(NULL), -1);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(NULL),
                         INT64_MIN);
        /* Survives a reopen (RocksDB: committed; memory: restored),
         * observed stream time included. */
        reopen(f);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(f->vs),
                         INT64_MAX);
        expect_latest(f->vs, "z", "hi", INT64_MAX);
        assert_int_equal(put_s(f->vs, "z", "old", INT64_MAX - 1001),
                         KS_VERSIONED_NOT_PUT);
}

/* --- the history retention ----------------------------------------------- */

/* Entries of key @p k in the store (versions), by a scan of its prefix. */
static size_t versions_of(ks_kv_store_t *kv, const char *k) {
        uint8_t p[64];
        size_t kl = strlen(k);
        p[0] = 1;
        p[1] = p[2] = p[3] = 0;
        p[4] = (uint8_t)kl;
        memcpy(p + 5, k, kl);
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_prefix_scan(kv, p, 5 + kl, &it));
        size_t n = 0;
        while (ks_kv_iter_next(it, NULL, NULL, NULL, NULL))
                n++;
        KST_OK(ks_kv_iter_error(it));
        ks_kv_iter_destroy(it);
        return n;
}

static void test_history_boundary(void **state) {
        fixture_t *f = *state;
        set_history(f, 100);
        ks_versioned_kv_store_t *vs = f->vs;
        assert_int_equal(put_s(vs, "k", "a", 1000), KS_VERSIONED_PUT_LATEST);
        /* Horizon 900: a put at it is stored, one before it is not. */
        assert_int_equal(put_s(vs, "k", "b", 900), KS_VERSIONED_PUT_HISTORY);
        assert_int_equal(put_s(vs, "k", "c", 899), KS_VERSIONED_NOT_PUT);
        assert_int_equal(put_s(vs, "new", "c", 899), KS_VERSIONED_NOT_PUT);
        assert_int_equal(ks__versioned_kv_store_expired_puts(vs), 2);
        const void *old = "x";
        size_t ol;
        int64_t ot = 0;
        KST_OK(ks_versioned_kv_store_delete(vs, "k", 1, 850, &old, &ol, &ot));
        assert_null(old);
        assert_int_equal(ot, -1);
        expect_latest(vs, "new", NULL, 0);
        expect_as_of(vs, "k", 900, "b", 900, 1000);
        expect_as_of(vs, "k", 899, NULL, 0, 0);
        expect_as_of(vs, "k", 2000, "a", 1000, INT64_MAX);
        assert_int_equal(versions_of(f->kv, "k"), 2);
        /* Another key moves observed stream time: horizon 1000. */
        put_s(vs, "o", "x", 1100);
        expect_as_of(vs, "k", 999, NULL, 0, 0);
        expect_as_of(vs, "k", 1000, "a", 1000, INT64_MAX);
        /* The versions of k stay until k is written... */
        assert_int_equal(versions_of(f->kv, "k"), 2);
        /* ...then those that cannot be read go: b (its successor is at
         * the horizon); a stays, readable from 1000 to 1050. */
        assert_int_equal(put_s(vs, "k", "d", 1050), KS_VERSIONED_PUT_LATEST);
        assert_int_equal(versions_of(f->kv, "k"), 2);
        expect_as_of(vs, "k", 1000, "a", 1000, 1050);
        /* A tombstone: when the horizon passes it, it goes with all
         * before it. */
        put_s(vs, "k", NULL, 1060);
        put_s(vs, "k", "e", 1070);
        assert_int_equal(versions_of(f->kv, "k"), 4);
        put_s(vs, "o", "y", 1165); /* horizon 1065 */
        put_s(vs, "k", "f", 1165);
        assert_int_equal(versions_of(f->kv, "k"), 2); /* e, f */
        expect_as_of(vs, "k", 1065, NULL, 0, 0);
        expect_as_of(vs, "k", 1069, NULL, 0, 0);
        expect_as_of(vs, "k", 1070, "e", 1070, 1165);
        /* A latest tombstone before the horizon goes too. */
        put_s(vs, "t", "1", 1100);
        put_s(vs, "t", NULL, 1110);
        assert_int_equal(versions_of(f->kv, "t"), 2);
        put_s(vs, "o", "z", 1300); /* horizon 1200 */
        put_s(vs, "t", NULL, 1250);
        assert_int_equal(versions_of(f->kv, "t"), 1);
        put_s(vs, "o", "z", 1400);
        put_s(vs, "t", NULL, 1300); /* at the horizon: nothing to keep */
        assert_int_equal(versions_of(f->kv, "t"), 0);
        expect_latest(vs, "t", NULL, 0);
        expect_as_of(vs, "t", 1300, NULL, 0, 0);
        /* Observed stream time is an entry of its own. */
        reopen(f);
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(f->vs),
                         1400);
        assert_int_equal(put_s(f->vs, "k", "g", 1299), KS_VERSIONED_NOT_PUT);
        expect_as_of(f->vs, "k", 1300, "f", 1165, INT64_MAX);
}

/* --- the reference model ------------------------------------------------- */

#define KEYS 16
#define OPS  4000

typedef struct {
        int key;
        int64_t ts;
        int tomb;
        char v[16];
} mver_t;

typedef struct {
        mver_t *v;
        size_t cnt, cap;
        int64_t observed; /* INT64_MIN: none */
        int64_t history;
} model_t;

static int64_t model_horizon(const model_t *m) {
        if (m->observed == INT64_MIN)
                return INT64_MIN;
        return m->observed - m->history;
}

/* The stored code of a put, as the store should answer. */
static int model_put(model_t *m, int key, int64_t ts, const char *v) {
        if (ts < model_horizon(m))
                return KS_VERSIONED_NOT_PUT;
        int later = 0;
        mver_t *same = NULL;
        for (size_t i = 0; i < m->cnt; i++) {
                if (m->v[i].key != key)
                        continue;
                if (m->v[i].ts > ts)
                        later = 1;
                if (m->v[i].ts == ts)
                        same = &m->v[i];
        }
        if (!same) {
                if (m->cnt == m->cap) {
                        m->cap = m->cap ? 2 * m->cap : 256;
                        m->v = realloc(m->v, m->cap * sizeof(*m->v));
                }
                same = &m->v[m->cnt++];
                same->key = key;
                same->ts = ts;
        }
        same->tomb = !v;
        snprintf(same->v, sizeof(same->v), "%s", v ? v : "");
        if (m->observed == INT64_MIN || ts > m->observed)
                m->observed = ts;
        return later ? KS_VERSIONED_PUT_HISTORY : KS_VERSIONED_PUT_LATEST;
}

/* The version of @p key as of @p as_of (NULL: none) and its end. */
static const mver_t *model_as_of(const model_t *m, int key, int64_t as_of,
                                 int64_t *top) {
        if (as_of < model_horizon(m))
                return NULL;
        const mver_t *best = NULL;
        for (size_t i = 0; i < m->cnt; i++)
                if (m->v[i].key == key && m->v[i].ts <= as_of &&
                    (!best || m->v[i].ts > best->ts))
                        best = &m->v[i];
        if (!best || best->tomb)
                return NULL;
        *top = INT64_MAX;
        for (size_t i = 0; i < m->cnt; i++)
                if (m->v[i].key == key && m->v[i].ts > best->ts &&
                    m->v[i].ts < *top)
                        *top = m->v[i].ts;
        return best;
}

static const mver_t *model_latest(const model_t *m, int key) {
        const mver_t *best = NULL;
        for (size_t i = 0; i < m->cnt; i++)
                if (m->v[i].key == key && (!best || m->v[i].ts > best->ts))
                        best = &m->v[i];
        return best && !best->tomb ? best : NULL;
}

static void key_of(int i, char *k) {
        snprintf(k, 8, "k%02d", i);
}

static void check_model(ks_versioned_kv_store_t *vs, const model_t *m) {
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(vs),
                         m->observed);
        for (int key = 0; key < KEYS; key++) {
                char k[8];
                key_of(key, k);
                const mver_t *l = model_latest(m, key);
                expect_latest(vs, k, l ? l->v : NULL, l ? l->ts : 0);
                /* As of random times around the history, and of every
                 * version's timestamp and the millisecond before. */
                for (int r = 0; r < 12; r++) {
                        int64_t as_of = m->observed - 2 * m->history +
                                        rand() % (3 * m->history);
                        int64_t to = 0;
                        const mver_t *v = model_as_of(m, key, as_of, &to);
                        expect_as_of(vs, k, as_of, v ? v->v : NULL,
                                     v ? v->ts : 0, to);
                }
                for (size_t i = 0; i < m->cnt; i++) {
                        if (m->v[i].key != key)
                                continue;
                        for (int d = 0; d < 2; d++) {
                                int64_t as_of = m->v[i].ts - d, to = 0;
                                const mver_t *v =
                                        model_as_of(m, key, as_of, &to);
                                expect_as_of(vs, k, as_of, v ? v->v : NULL,
                                             v ? v->ts : 0, to);
                        }
                }
        }
}

/* A fresh store of the same backend, restored from @p f's changelog. */
static void check_restored(fixture_t *f, const model_t *m) {
        kst_store_t *st = kst_store_new(f->st->backend, NAME);
        ks_kv_store_t *kv = kst_store_open(st);
        ks_versioned_kv_store_t *vs =
                ks__versioned_kv_store_new(kv, f->history);
        for (size_t i = 0; i < f->log.cnt; i++)
                kst_store_restore_put(kv, f->log.recs[i].k, f->log.recs[i].kl,
                                      f->log.recs[i].v, f->log.recs[i].vl);
        kst_store_restore_end(st);
        check_model(vs, m);
        ks__versioned_kv_store_destroy(vs);
        kst_store_closed(st);
        kst_store_destroy(st);
}

static void test_matches_reference_model(void **state) {
        fixture_t *f = *state;
        model_t m = {.observed = INT64_MIN, .history = f->history};
        srand(8899);
        int64_t clock = -5000; /* negative times too */
        for (int op = 0; op < OPS; op++) {
                int key = rand() % KEYS;
                char k[8], v[16];
                key_of(key, k);
                snprintf(v, sizeof(v), "v%d", rand() % 100000);
                clock += rand() % 40;
                /* Mostly near the clock, some far behind it (beyond the
                 * history), some ahead. */
                int64_t ts = clock - rand() % (f->history + f->history / 4) +
                             (rand() % 8 == 0 ? rand() % 200 : 0);
                if (rand() % 16 == 0)
                        ts = clock - rand() % 100; /* repeat a timestamp */
                int what = rand() % 10;
                if (what < 7) {
                        int want = model_put(&m, key, ts, v);
                        assert_int_equal(put_s(f->vs, k, v, ts), want);
                } else if (what < 9) {
                        int want = model_put(&m, key, ts, NULL);
                        assert_int_equal(put_s(f->vs, k, NULL, ts), want);
                } else {
                        /* Delete hands out what was valid then. */
                        int64_t to = 0;
                        const mver_t *was = model_as_of(&m, key, ts, &to);
                        char wasv[16] = "";
                        int64_t wasts = was ? was->ts : -1;
                        if (was)
                                snprintf(wasv, sizeof(wasv), "%s", was->v);
                        model_put(&m, key, ts, NULL);
                        const void *old;
                        size_t ol;
                        int64_t ot;
                        KST_OK(ks_versioned_kv_store_delete(f->vs, k, 3, ts,
                                                            &old, &ol, &ot));
                        if (!was) {
                                assert_null(old);
                        } else {
                                assert_int_equal(ol, strlen(wasv));
                                assert_memory_equal(old, wasv, ol);
                        }
                        assert_int_equal(ot, wasts);
                }
                if (op % 500 == 499) {
                        check_model(f->vs, &m);
                        if (op % 1000 == 999)
                                reopen(f);
                }
        }
        check_model(f->vs, &m);
        reopen(f);
        check_model(f->vs, &m);
        check_restored(f, &m);
        /* What the store physically holds is bounded: after a put to each
         * key at the clock, no key keeps a version its successor hides
         * below the horizon. */
        for (int key = 0; key < KEYS; key++) {
                char k[8];
                key_of(key, k);
                model_put(&m, key, clock, "last");
                put_s(f->vs, k, "last", clock);
        }
        for (int key = 0; key < KEYS; key++) {
                char k[8];
                key_of(key, k);
                size_t live = 0;
                for (size_t i = 0; i < m.cnt; i++)
                        if (m.v[i].key == key && m.v[i].ts >= model_horizon(&m))
                                live++;
                assert_true(versions_of(f->kv, k) <= live + 1);
        }
        check_model(f->vs, &m);
        check_restored(f, &m);
        free(m.v);
}

/* --- work per call --------------------------------------------------------
 */

/* Deletes RocksDB's iterators skip (its perf context counts them per
 * thread): the work a call does over versions dropped before. */
static rocksdb_perfcontext_t *skips_start(void) {
        rocksdb_set_perf_level(rocksdb_enable_count);
        rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
        rocksdb_perfcontext_reset(pc);
        return pc;
}

static uint64_t deletes_skipped(rocksdb_perfcontext_t *pc) {
        return rocksdb_perfcontext_metric(
                pc, rocksdb_internal_delete_skipped_count);
}

static void skips_end(rocksdb_perfcontext_t *pc) {
        rocksdb_perfcontext_destroy(pc);
        rocksdb_set_perf_level(rocksdb_disable);
}

/* One key written thousands of times with a short history drops a version
 * at (nearly) every put. Its dropped versions, deletes in RocksDB until a
 * compaction, are not walked again by later puts and reads, nor are those
 * of the next key by the reads of the key before it: the work of a call
 * does not grow with the versions dropped before. */
static void test_hot_key_work(void **state) {
        fixture_t *f = *state;
        set_history(f, 10);
        ks_versioned_kv_store_t *vs = f->vs;
        const int n = 3000;
        rocksdb_perfcontext_t *pc = skips_start();
        uint64_t first = 0;
        for (int i = 0; i < n; i++) {
                /* "b" sorts right after "a": each a-put looks for a later
                 * version of "a" where b's dropped versions lie. */
                assert_int_equal(put_s(vs, "b", "v", i),
                                 KS_VERSIONED_PUT_LATEST);
                assert_int_equal(put_s(vs, "a", "v", i),
                                 KS_VERSIONED_PUT_LATEST);
                expect_as_of(vs, "a", i, "v", i, INT64_MAX);
                if (i >= 5)
                        expect_as_of(vs, "b", i - 5, "v", i - 5, i - 4);
                expect_latest(vs, "b", "v", i);
                kst_store_commit(f->st); /* the deletes reach the database */
                if (i == 99)
                        first = deletes_skipped(pc);
        }
        uint64_t total = deletes_skipped(pc);
        skips_end(pc);
        /* Not one per version dropped before (millions): about none. */
        if (total - first > (uint64_t)n)
                fail_msg("%llu deletes skipped over %d puts (%llu over the "
                         "first 100)",
                         (unsigned long long)(total - first), n,
                         (unsigned long long)first);
        assert_int_equal(versions_of(f->kv, "b"), 11);
}

/* A large value put and read, and a put dropping many versions at once,
 * leave no scratch of their size behind once calls need less. */
static void test_scratch_bounded(void **state) {
        fixture_t *f = *state;
        set_history(f, 100000);
        ks_versioned_kv_store_t *vs = f->vs;
        const size_t big = (size_t)4 << 20;
        char *v = malloc(big);
        assert_non_null(v);
        memset(v, 'x', big);
        int stored;
        KST_OK(ks_versioned_kv_store_put(vs, "big", 3, v, big, 10, &stored));
        const void *out;
        size_t ol;
        int64_t t, to;
        KST_OK(ks_versioned_kv_store_get(vs, "big", 3, &out, &ol, &t));
        assert_int_equal(ol, big);
        KST_OK(ks_versioned_kv_store_get_as_of(vs, "big", 3, 10, &out, &ol, &t,
                                               &to));
        assert_int_equal(ol, big);
        free(v);
        /* 20000 versions of one key, all dropped by one put. */
        for (int i = 0; i < 20000; i++)
                put_s(vs, "many", "m", 1000 + i);
        assert_int_equal(put_s(vs, "many", "last", 500000),
                         KS_VERSIONED_PUT_LATEST);
        assert_int_equal(versions_of(f->kv, "many"), 2);
        /* Small calls from here on. */
        put_s(vs, "small", "s", 500001);
        put_s(vs, "small", "t", 500002);
        expect_latest(vs, "small", "t", 500002);
        expect_as_of(vs, "small", 500001, "s", 500001, 500002);
        size_t kept = ks__versioned_kv_store_scratch_bytes(vs);
        if (kept > 128 * 1024)
                fail_msg("%zu bytes of scratch kept", kept);
}

/* --- entries that do not fit the layout ---------------------------------- */

/* The version key of @p k at @p ts, with @p extra bytes cut (< 0) or
 * added (> 0). */
static size_t crafted_key(uint8_t *out, const char *k, int64_t ts, int extra) {
        size_t kl = strlen(k);
        out[0] = 1;
        out[1] = out[2] = out[3] = 0;
        out[4] = (uint8_t)kl;
        memcpy(out + 5, k, kl);
        uint64_t t = (uint64_t)ts ^ SIGN;
        for (int i = 0; i < 8; i++)
                out[5 + kl + i] = (uint8_t)(t >> (56 - 8 * i));
        size_t len = 5 + kl + 8;
        for (int i = 0; i < extra; i++)
                out[len++] = 0xab;
        return len + (extra < 0 ? (size_t)extra : 0);
}

/* Reads of @p k meet the crafted entry, and so does a put at @p put_ts
 * (one whose successor, or whose history to drop, holds it). */
static void expect_store_error(ks_versioned_kv_store_t *vs, const char *k,
                               const char *needle, int64_t put_ts) {
        const void *v;
        size_t vl;
        int64_t t, to;
        int stored;
        kst_log_clear();
        assert_int_equal(
                ks_versioned_kv_store_get(vs, k, strlen(k), &v, &vl, &t),
                KS_ERR_STORE);
        assert_true(kst_log_contains("versioned key-value store \"" NAME "\""));
        assert_true(kst_log_contains(needle));
        assert_int_equal(ks_versioned_kv_store_get_as_of(vs, k, strlen(k), 500,
                                                         &v, &vl, &t, &to),
                         KS_ERR_STORE);
        assert_int_equal(ks_versioned_kv_store_put(vs, k, strlen(k), "n", 1,
                                                   put_ts, &stored),
                         KS_ERR_STORE);
        assert_int_equal(stored, KS_VERSIONED_NOT_PUT);
}

static void test_crafted_entries(void **state) {
        fixture_t *f = *state;
        ks_versioned_kv_store_t *vs = f->vs;
        put_s(vs, "ok", "fine", 500);
        uint8_t k[64];
        size_t kl;
        /* A key with bytes after its timestamp. */
        kl = crafted_key(k, "long", 400, 3);
        KST_OK(ks_kv_store_put(f->kv, k, kl, "\x00v", 2));
        expect_store_error(vs, "long", "a version key of the wrong length",
                           300);
        /* A key cut inside its timestamp: it sorts before the key's
         * versions at or after 0, and a put that drops history meets it. */
        kl = crafted_key(k, "cut", 400, -3);
        KST_OK(ks_kv_store_put(f->kv, k, kl, "\x00v", 2));
        expect_store_error(vs, "cut", "a version key of the wrong length",
                           2000);
        /* Values: none, unknown flags, a tombstone with a value. */
        kl = crafted_key(k, "empty", 400, 0);
        KST_OK(ks_kv_store_put(f->kv, k, kl, "", 0));
        expect_store_error(vs, "empty", "without valid flags", 300);
        kl = crafted_key(k, "flags", 400, 0);
        KST_OK(ks_kv_store_put(f->kv, k, kl, "\x04v", 2));
        expect_store_error(vs, "flags", "without valid flags", 300);
        kl = crafted_key(k, "tomb", 400, 0);
        KST_OK(ks_kv_store_put(f->kv, k, kl, "\x01v", 2));
        expect_store_error(vs, "tomb", "a tombstone with a value", 300);
        /* Nothing was written for them; the good key still answers. */
        assert_int_equal(versions_of(f->kv, "tomb"), 1);
        expect_latest(vs, "ok", "fine", 500);
        expect_as_of(vs, "ok", 500, "fine", 500, INT64_MAX);
        /* A crafted observed stream time of the wrong length: every call
         * that needs it fails, once it is read (on first use). */
        KST_OK(ks_kv_store_put(f->kv, "\x00", 1, "\x00\x01", 2));
        reopen(f);
        kst_log_clear();
        const void *v;
        size_t vl;
        int64_t t;
        assert_int_equal(ks_versioned_kv_store_get(f->vs, "ok", 2, &v, &vl, &t),
                         KS_ERR_STORE);
        assert_true(kst_log_contains("an observed stream time entry of the "
                                     "wrong length (2 bytes)"));
        assert_int_equal(ks_versioned_kv_store_observed_stream_time(f->vs),
                         INT64_MIN);
        int stored;
        assert_int_equal(
                ks_versioned_kv_store_put(f->vs, "ok", 2, "x", 1, 700, &stored),
                KS_ERR_STORE);
}

static void test_closed_store(void **state) {
        fixture_t *f = *state;
        ks_versioned_kv_store_t *vs = f->vs;
        put_s(vs, "a", "1", 10);
        ks__kv_store_close(f->kv);
        const void *v;
        size_t vl;
        int64_t t, to;
        int stored;
        assert_int_equal(
                ks_versioned_kv_store_put(vs, "a", 1, "3", 1, 30, &stored),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_versioned_kv_store_get(vs, "a", 1, &v, &vl, &t),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_versioned_kv_store_get_as_of(vs, "a", 1, 10, &v,
                                                         &vl, &t, &to),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_versioned_kv_store_delete(vs, "a", 1, 40, &v, &vl, &t),
                KS_ERR_STORE_CLOSED);
        assert_string_equal(ks_versioned_kv_store_name(vs), NAME);
}

#define BOTH(fn)                                                               \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb, teardown),          \
                cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                BOTH(test_put_get),
                BOTH(test_history_boundary),
                BOTH(test_matches_reference_model),
                BOTH(test_crafted_entries),
                BOTH(test_closed_store),
                BOTH(test_scratch_bounded),
                cmocka_unit_test_setup_teardown(test_hot_key_work,
                                                setup_rocksdb, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
