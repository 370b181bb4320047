/* Window store behaviour, run identically against the RocksDB and the
 * in-memory backend, with fetches checked against a reference model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "state/rocksdb_int.h"
#include "state/state_dir_int.h"

#define RETENTION 1000
#define WINDOW    100

typedef struct {
        ks_store_backend_t backend;
        ks_config_t *conf;
        ks__rocks_env_t *env;
        ks__task_db_t *db;
        char *dir;
        ks_kv_store_t *kv;
        ks_window_store_t *ws;
        int dups; /* KS_STORE_F_RETAIN_DUPLICATES */
} fixture_t;

static void open_store(fixture_t *f) {
        if (f->backend == KS_STORE_IN_MEMORY) {
                f->kv = ks__kv_store_new("w", KS_STORE_IN_MEMORY,
                                         &ks__memory_store_ops,
                                         ks__memory_store_new(), f->conf);
        } else {
                const char *stores[] = {"w"};
                ks_error_t *e = NULL;
                KST_OK_E(ks__task_db_open(f->env, f->dir, stores, 1, &f->db,
                                          &e));
                f->kv = ks__kv_store_new(
                        "w", KS_STORE_ROCKSDB, &ks__rocksdb_store_ops,
                        ks__rocksdb_store_new(f->db, "w"), f->conf);
        }
        assert_non_null(f->kv);
        /* The window store owns the key-value handle from here on. */
        f->ws = ks__window_store_new(f->kv, RETENTION, WINDOW, f->dups);
        assert_non_null(f->ws);
        assert_ptr_equal(ks__window_store_kv(f->ws), f->kv);
}

static void close_store(fixture_t *f) {
        ks__window_store_destroy(f->ws);
        f->kv = NULL;
        f->ws = NULL;
        ks__task_db_close(f->db);
        f->db = NULL;
}

static int setup(void **state, ks_store_backend_t backend) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->backend = backend;
        f->conf = kst_config("window-store-test");
        ks_error_t *e = NULL;
        KST_OK_E(ks__rocks_env_new(f->conf, &f->env, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "wstore-", &f->dir, &e));
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
        ks__rocks_env_destroy(f->env);
        ks__rmtree(f->dir);
        free(f->dir);
        ks_config_destroy(f->conf);
        free(f);
        return 0;
}

static void commit(fixture_t *f) {
        if (f->db) {
                ks_error_t *e = NULL;
                KST_OK_E(ks__task_db_commit(f->db, &e));
        }
}

static void put_s(ks_window_store_t *ws, const char *k, int64_t start,
                  const char *v) {
        KST_OK(ks_window_store_put(ws, k, strlen(k), start, v,
                                   v ? strlen(v) : 0));
}

static void expect_fetch(ks_window_store_t *ws, const char *k, int64_t start,
                         const char *v) {
        const void *out;
        size_t n;
        ks_err_t err = ks_window_store_fetch(ws, k, strlen(k), start, &out, &n);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
}

/* Render an iterator as "key@start=value,..." to compare with a string. */
static void expect_iter(ks_window_iter_t *it, const char *want) {
        char got[4096] = "";
        const void *k, *v;
        size_t kl, vl;
        int64_t start;
        while (ks_window_iter_next(it, &k, &kl, &start, &v, &vl)) {
                char one[256];
                snprintf(one, sizeof(one), "%s%.*s@%lld=%.*s", *got ? "," : "",
                         (int)kl, (const char *)k, (long long)start, (int)vl,
                         (const char *)v);
                strcat(got, one);
        }
        assert_int_equal(ks_window_iter_error(it), KS_ERR_NO_ERROR);
        ks_window_iter_destroy(it);
        assert_string_equal(got, want);
}

static void test_put_fetch_delete(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        assert_string_equal(ks_window_store_name(ws), "w");
        assert_int_equal(ks_window_store_retention_ms(ws), RETENTION);
        put_s(ws, "ab", 100, "1");
        put_s(ws, "ab", 200, "2");
        put_s(ws, "abc", 100, "3"); /* extends "ab": must not mix with it */
        put_s(ws, "", 150, "empty-key");
        put_s(ws, "ab", -100, "neg"); /* negative starts sort first */
        commit(f);
        expect_fetch(ws, "ab", 100, "1");
        expect_fetch(ws, "ab", 200, "2");
        expect_fetch(ws, "ab", -100, "neg");
        expect_fetch(ws, "abc", 100, "3");
        expect_fetch(ws, "abc", 200, NULL);
        expect_fetch(ws, "", 150, "empty-key");
        put_s(ws, "ab", 100, "1b"); /* overwrite */
        expect_fetch(ws, "ab", 100, "1b");
        put_s(ws, "ab", 200, NULL); /* delete */
        expect_fetch(ws, "ab", 200, NULL);
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, -1000, 1000, &it));
        expect_iter(it, "ab@-100=neg,ab@100=1b");
        KST_OK(ks_window_store_backward_fetch_range(ws, "ab", 2, -1000, 1000,
                                                    &it));
        expect_iter(it, "ab@100=1b,ab@-100=neg");
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, 0, 99, &it));
        expect_iter(it, "");
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, 500, 0, &it));
        expect_iter(it, "");
        KST_OK(ks_window_store_all(ws, &it));
        /* By segment (-100 is in the one before 0's), key, start. */
        expect_iter(it, "ab@-100=neg,@150=empty-key,ab@100=1b,abc@100=3");
        /* Bad arguments. */
        assert_int_equal(ks_window_store_put(NULL, "a", 1, 0, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_window_store_put(ws, NULL, 1, 0, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_window_store_put(ws, "a", 1, 0, NULL, 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_window_store_fetch_range(ws, "a", 1, 0, 1, NULL),
                         KS_ERR_INVALID_ARG);
}

/* Count what the backing key-value store physically holds. */
static size_t physical_count(fixture_t *f) {
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(f->kv, &it));
        size_t n = 0;
        while (ks_kv_iter_next(it, NULL, NULL, NULL, NULL))
                n++;
        ks_kv_iter_destroy(it);
        return n;
}

static void test_retention(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        put_s(ws, "k", 0, "a");
        put_s(ws, "k", 500, "b");
        put_s(ws, "j", 900, "c");
        expect_fetch(ws, "k", 0, "a");
        /* Observed stream time 1000: windows at or before 0 expire. */
        put_s(ws, "j", 1000, "d");
        expect_fetch(ws, "k", 0, NULL);
        expect_fetch(ws, "k", 500, "b");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "k", 1, INT64_MIN, INT64_MAX,
                                           &it));
        expect_iter(it, "k@500=b");
        /* A put into an expired window is dropped, logged and counted. */
        kst_log_clear();
        put_s(ws, "k", -5, "late");
        assert_true(kst_log_contains("dropping a put for the window "
                                     "starting at -5, expired"));
        assert_int_equal(ks__window_store_expired_puts(ws), 1);
        expect_fetch(ws, "k", -5, NULL);
        put_s(ws, "k", 1, "live"); /* 1 > 1000 - 1000: still live */
        expect_fetch(ws, "k", 1, "live");
        /* Expired windows are reclaimed once the horizon crosses a segment
         * (60 s here): advance far and only live windows remain. */
        put_s(ws, "z", 200000, "far");
        commit(f);
        KST_OK(ks_window_store_all(ws, &it));
        expect_iter(it, "z@200000=far");
        assert_int_equal(physical_count(f), 1);
}

static void test_reopen_learns_stream_time(void **state) {
        fixture_t *f = *state;
        if (f->backend != KS_STORE_ROCKSDB)
                return;
        put_s(f->ws, "k", 5000, "x");
        put_s(f->ws, "k", 4500, "y");
        commit(f);
        close_store(f);
        open_store(f);
        /* Observed stream time 5000 comes back from the stored windows. */
        put_s(f->ws, "k", 3000, "old");
        expect_fetch(f->ws, "k", 3000, NULL);
        assert_int_equal(ks__window_store_expired_puts(f->ws), 1);
        expect_fetch(f->ws, "k", 4500, "y");
}

/* Random puts and deletes against a model of (key, start) -> value, with
 * the model applying the same retention rule independently. */
#define NKEYS   5
#define NSTARTS 40
static void test_matches_reference_model(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        static const char *keys[NKEYS] = {"a", "aa", "b", "ba", "c"};
        int model[NKEYS][NSTARTS]; /* value or -1 */
        memset(model, -1, sizeof(model));
        int64_t observed = INT64_MIN;
        unsigned seed = 7;
        for (int step = 0; step < 3000; step++) {
                seed = seed * 1103515245u + 12345u;
                int ki = (int)((seed >> 8) % NKEYS);
                int si = (int)((seed >> 16) % NSTARTS);
                int64_t start = (int64_t)si * 50; /* 0 .. 1950 */
                int del = (seed >> 28) % 5 == 0;
                int val = step;
                char vbuf[16];
                snprintf(vbuf, sizeof(vbuf), "%d", val);
                KST_OK(ks_window_store_put(ws, keys[ki], strlen(keys[ki]),
                                           start, del ? NULL : vbuf,
                                           del ? 0 : strlen(vbuf)));
                int expired =
                        observed != INT64_MIN && start <= observed - RETENTION;
                if (!expired) {
                        model[ki][si] = del ? -1 : val;
                        if (!del && start > observed)
                                observed = start;
                }
                if (step % 300 == 0)
                        commit(f);
        }
        commit(f);
        for (int ki = 0; ki < NKEYS; ki++) {
                char want[4096] = "";
                for (int si = 0; si < NSTARTS; si++) {
                        int64_t start = (int64_t)si * 50;
                        if (model[ki][si] < 0 || start <= observed - RETENTION)
                                continue;
                        char one[64];
                        snprintf(one, sizeof(one), "%s%s@%lld=%d",
                                 *want ? "," : "", keys[ki], (long long)start,
                                 model[ki][si]);
                        strcat(want, one);
                }
                ks_window_iter_t *it;
                KST_OK(ks_window_store_fetch_range(
                        ws, keys[ki], strlen(keys[ki]), 0, 100000, &it));
                expect_iter(it, want);
        }
}

/* Windows at both ends of time, put one by one; after each put, every
 * window put so far is fetched and the whole store iterated, and checked
 * against a model that computes expiry in 128 bits: a window is readable
 * while its start > observed - retention, where the observed stream time
 * is the largest start put. Retention arithmetic must neither overflow
 * (UBSan) nor clamp a window into expiry or out of it. */
#define EDGE_PUTS 16
typedef struct {
        const char *key;
        int64_t start;
} edge_put_t;

/* The order of ks_window_store_all() between puts i and j: segment of the
 * start (segments of 60 s, floored), key, start. */
static int order(int i, int j, const edge_put_t *p) {
        __int128 si = p[i].start, sj = p[j].start;
        si = (si - (si < 0 ? 59999 : 0)) / 60000;
        sj = (sj - (sj < 0 ? 59999 : 0)) / 60000;
        if (si != sj)
                return si < sj ? -1 : 1;
        int c = strcmp(p[i].key, p[j].key);
        if (c)
                return c;
        return p[i].start < p[j].start ? -1 : p[i].start > p[j].start;
}

static void test_extremes_of_time(void **state) {
        fixture_t *f = *state;
        static const edge_put_t puts[EDGE_PUTS] = {
                {"a", INT64_MIN},
                {"b", INT64_MIN + 1},
                {"a", INT64_MIN + RETENTION - 1},
                {"b", INT64_MIN + RETENTION},     /* a@INT64_MIN expires */
                {"a", INT64_MIN},                 /* dropped: expired */
                {"a", INT64_MIN + RETENTION + 1}, /* b@INT64_MIN+1 expires */
                {"b", -1},                        /* all above expire */
                {"a", 0},
                {"b", -RETENTION}, /* dropped: expired */
                {"b", INT64_MAX - RETENTION - 1},
                {"a", INT64_MAX - RETENTION},
                {"b", INT64_MAX - 1},
                {"a", INT64_MAX}, /* ...-1-RETENTION and ...-RETENTION go */
                {"b", INT64_MAX - RETENTION}, /* dropped: expired */
                {"b", INT64_MAX - RETENTION + 1},
                {"a", INT64_MAX}, /* overwrite */
        };
        char vals[EDGE_PUTS][8];
        int live[EDGE_PUTS] = {0}; /* put i holds its window's value */
        int over[EDGE_PUTS] = {0}; /* put i was overwritten by a later one */
        int have_observed = 0;
        int64_t observed = 0;
        uint64_t dropped = 0;
        for (int i = 0; i < EDGE_PUTS; i++) {
                snprintf(vals[i], sizeof(vals[i]), "v%d", i);
                __int128 horizon = (__int128)observed - RETENTION;
                int expired = have_observed && puts[i].start <= horizon;
                put_s(f->ws, puts[i].key, puts[i].start, vals[i]);
                if (expired) {
                        dropped++;
                } else {
                        for (int j = 0; j < i; j++)
                                if (!strcmp(puts[j].key, puts[i].key) &&
                                    puts[j].start == puts[i].start)
                                        live[j] = 0, over[j] = 1;
                        live[i] = 1;
                        if (!have_observed || puts[i].start > observed)
                                observed = puts[i].start;
                        have_observed = 1;
                }
                assert_int_equal(ks__window_store_expired_puts(f->ws), dropped);
                if (i % 5 == 4)
                        commit(f);
                /* Every window put so far, readable or not. */
                horizon = (__int128)observed - RETENTION;
                char want[1024] = "";
                for (int j = 0; j <= i; j++) {
                        int readable = live[j] && puts[j].start > horizon;
                        if (!over[j])
                                expect_fetch(f->ws, puts[j].key, puts[j].start,
                                             readable ? vals[j] : NULL);
                }
                /* The store by segment (60 s of starts), then key ("a" <
                 * "b"), then start: repeatedly the smallest readable
                 * window above the last one in that order. */
                int last = -1;
                for (int n = 0; n <= i; n++) {
                        int best = -1;
                        for (int j = 0; j <= i; j++)
                                if (live[j] && puts[j].start > horizon &&
                                    (last < 0 || order(j, last, puts) > 0) &&
                                    (best < 0 || order(j, best, puts) < 0))
                                        best = j;
                        if (best < 0)
                                break;
                        char one[64];
                        snprintf(one, sizeof(one), "%s%s@%lld=%s",
                                 *want ? "," : "", puts[best].key,
                                 (long long)puts[best].start, vals[best]);
                        strcat(want, one);
                        last = best;
                }
                ks_window_iter_t *it;
                KST_OK(ks_window_store_all(f->ws, &it));
                expect_iter(it, want);
                KST_OK(ks_window_store_fetch_range(f->ws, "a", 1, INT64_MIN,
                                                   INT64_MAX, &it));
                char want_a[1024] = "";
                for (char *p = want, *end; *p; p = end + (*end ? 1 : 0)) {
                        end = strchr(p, ',');
                        if (!end)
                                end = p + strlen(p);
                        if (*p == 'a')
                                snprintf(want_a + strlen(want_a),
                                         sizeof(want_a) - strlen(want_a),
                                         "%s%.*s", *want_a ? "," : "",
                                         (int)(end - p), p);
                }
                expect_iter(it, want_a);
        }
        /* What stays: a@INT64_MAX (overwritten) and
         * b@INT64_MAX-RETENTION+1, b@INT64_MAX-1. */
        commit(f);
        ks_window_iter_t *it;
        KST_OK(ks_window_store_all(f->ws, &it));
        char want[256];
        snprintf(want, sizeof(want), "a@%lld=v15,b@%lld=v14,b@%lld=v11",
                 (long long)INT64_MAX, (long long)(INT64_MAX - RETENTION + 1),
                 (long long)(INT64_MAX - 1));
        expect_iter(it, want);
        assert_int_equal(ks__window_store_expired_puts(f->ws), 3);
        if (f->backend == KS_STORE_ROCKSDB) {
                /* Reopened, the store learns observed stream time INT64_MAX
                 * from the stored windows and expires the same. */
                close_store(f);
                open_store(f);
                KST_OK(ks_window_store_all(f->ws, &it));
                expect_iter(it, want);
                put_s(f->ws, "c", INT64_MAX - RETENTION, "late");
                expect_fetch(f->ws, "c", INT64_MAX - RETENTION, NULL);
                assert_int_equal(ks__window_store_expired_puts(f->ws), 1);
        }
}

static void test_closed_store(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        put_s(ws, "a", 10, "1");
        put_s(ws, "a", 20, "2");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "a", 1, 0, 100, &it));
        assert_int_equal(ks_window_iter_next(it, NULL, NULL, NULL, NULL, NULL),
                         1);
        ks__kv_store_close(f->kv);
        assert_int_equal(ks_window_iter_next(it, NULL, NULL, NULL, NULL, NULL),
                         0);
        assert_int_equal(ks_window_iter_error(it), KS_ERR_STORE_CLOSED);
        ks_window_iter_destroy(it);
        const void *v;
        size_t vl;
        assert_int_equal(ks_window_store_put(ws, "a", 1, 30, "3", 1),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_window_store_fetch(ws, "a", 1, 10, &v, &vl),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_window_store_fetch_range(ws, "a", 1, 0, 9, &it),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_window_store_all(ws, &it), KS_ERR_STORE_CLOSED);
}

#define BOTH(fn)                                                               \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb, teardown),          \
                cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                BOTH(test_put_fetch_delete),
                BOTH(test_retention),
                BOTH(test_reopen_learns_stream_time),
                BOTH(test_matches_reference_model),
                BOTH(test_extremes_of_time),
                BOTH(test_closed_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
