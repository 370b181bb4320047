/* Timestamped key-value store behaviour, run identically against the
 * RocksDB and the in-memory backend: values and their timestamps checked
 * against a reference model, the stored layout (be64 timestamp | value),
 * stored values too short for their timestamp, restores (a plain copy, or
 * stamped with the record's timestamp for a table read from its topic) and
 * a closed store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_store.h"

#define NAME "rows"

typedef struct {
        kst_store_t *st;
        ks_kv_store_t *kv;
        ks_timestamped_kv_store_t *ts;
} fixture_t;

static void open_store(fixture_t *f) {
        f->kv = kst_store_open(f->st);
        /* The timestamped store owns the key-value handle from here on. */
        f->ts = ks__timestamped_kv_store_new(f->kv);
        assert_non_null(f->ts);
        assert_ptr_equal(ks__timestamped_kv_store_kv(f->ts), f->kv);
}

static void close_store(fixture_t *f) {
        ks__timestamped_kv_store_destroy(f->ts);
        f->kv = NULL;
        f->ts = NULL;
        kst_store_closed(f->st);
}

/* Open the store again as a task moving back would find it: RocksDB keeps
 * what was committed; in memory, the stored bytes come back through the
 * restore path, as from the changelog (which carries stored values). */
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
        free(f);
        return 0;
}

static void put_s(ks_timestamped_kv_store_t *ts, const char *k, const char *v,
                  int64_t t) {
        KST_OK(ks_timestamped_kv_store_put(ts, k, strlen(k), v,
                                           v ? strlen(v) : 0, t));
}

static void expect_get(ks_timestamped_kv_store_t *ts, const char *k,
                       const char *v, int64_t t) {
        const void *out;
        size_t n;
        int64_t got;
        ks_err_t err =
                ks_timestamped_kv_store_get(ts, k, strlen(k), &out, &n, &got);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
        assert_int_equal(got, t);
}

/* The stored bytes of @p k in the key-value handle: be64 ts | value. */
static void expect_stored(ks_kv_store_t *kv, const char *k, const char *v,
                          int64_t t) {
        const void *out;
        size_t n;
        KST_OK(ks_kv_store_get(kv, k, strlen(k), &out, &n));
        assert_int_equal(n, 8 + strlen(v));
        uint8_t want[8];
        for (int i = 0; i < 8; i++)
                want[i] = (uint8_t)((uint64_t)t >> (56 - 8 * i));
        assert_memory_equal(out, want, 8);
        assert_memory_equal((const uint8_t *)out + 8, v, strlen(v));
}

/* Render an iterator as "key=value@ts,..." to compare with a string. */
static void expect_iter(ks_timestamped_kv_iter_t *it, const char *want) {
        char got[8192] = "";
        const void *k, *v;
        size_t kl, vl;
        int64_t t;
        while (ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t)) {
                char one[256];
                snprintf(one, sizeof(one), "%s%.*s=%.*s@%lld", *got ? "," : "",
                         (int)kl, (const char *)k, (int)vl, (const char *)v,
                         (long long)t);
                strcat(got, one);
        }
        KST_OK(ks_timestamped_kv_iter_error(it));
        ks_timestamped_kv_iter_destroy(it);
        assert_string_equal(got, want);
}

static void test_put_get_delete(void **state) {
        fixture_t *f = *state;
        ks_timestamped_kv_store_t *ts = f->ts;
        assert_string_equal(ks_timestamped_kv_store_name(ts), NAME);
        put_s(ts, "a", "1", 100);
        put_s(ts, "b", "", 200); /* an empty value is a value */
        put_s(ts, "neg", "n", -5);
        put_s(ts, "min", "lo", INT64_MIN);
        put_s(ts, "max", "hi", INT64_MAX);
        expect_get(ts, "a", "1", 100);
        expect_get(ts, "b", "", 200);
        expect_get(ts, "neg", "n", -5);
        expect_get(ts, "min", "lo", INT64_MIN);
        expect_get(ts, "max", "hi", INT64_MAX);
        expect_get(ts, "zz", NULL, 0);
        expect_stored(f->kv, "a", "1", 100);
        expect_stored(f->kv, "min", "lo", INT64_MIN);
        /* Outputs may be left out. */
        KST_OK(ks_timestamped_kv_store_get(ts, "a", 1, NULL, NULL, NULL));
        /* A put replaces value and timestamp, even an older one. */
        put_s(ts, "a", "22", 50);
        expect_get(ts, "a", "22", 50);
        /* NULL deletes, whatever the timestamp. */
        put_s(ts, "neg", NULL, 999);
        expect_get(ts, "neg", NULL, 0);
        uint64_t n;
        KST_OK(ks_timestamped_kv_store_approximate_num_entries(ts, &n));
        if (f->st->backend == KS_STORE_IN_MEMORY)
                assert_int_equal(n, 4);
        /* Delete hands out the old value and timestamp. */
        const void *old;
        size_t ol;
        int64_t ot;
        KST_OK(ks_timestamped_kv_store_delete(ts, "a", 1, &old, &ol, &ot));
        assert_int_equal(ol, 2);
        assert_memory_equal(old, "22", 2);
        assert_int_equal(ot, 50);
        expect_get(ts, "a", NULL, 0);
        KST_OK(ks_timestamped_kv_store_delete(ts, "a", 1, &old, &ol, &ot));
        assert_null(old);
        assert_int_equal(ol, 0);
        assert_int_equal(ot, -1);
        KST_OK(ks_timestamped_kv_store_delete(ts, "b", 1, NULL, NULL, NULL));
        expect_get(ts, "b", NULL, 0);
        /* put_if_absent: inserts, or hands out what is there. */
        KST_OK(ks_timestamped_kv_store_put_if_absent(ts, "c", 1, "new", 3, 7,
                                                     &old, &ol, &ot));
        assert_null(old);
        assert_int_equal(ot, -1);
        expect_get(ts, "c", "new", 7);
        KST_OK(ks_timestamped_kv_store_put_if_absent(ts, "c", 1, "other", 5, 8,
                                                     &old, &ol, &ot));
        assert_int_equal(ol, 3);
        assert_memory_equal(old, "new", 3);
        assert_int_equal(ot, 7);
        expect_get(ts, "c", "new", 7);
        KST_OK(ks_timestamped_kv_store_put_if_absent(ts, "d", 1, NULL, 0, 9,
                                                     &old, &ol, &ot));
        assert_null(old);
        expect_get(ts, "d", NULL, 0);
        /* Bad arguments. */
        assert_int_equal(ks_timestamped_kv_store_put(ts, NULL, 0, "v", 1, 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_timestamped_kv_store_put(ts, "k", 1, NULL, 3, 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(
                ks_timestamped_kv_store_get(ts, NULL, 0, &old, &ol, &ot),
                KS_ERR_INVALID_ARG);
        assert_int_equal(ks_timestamped_kv_store_put_if_absent(
                                 ts, "k", 1, NULL, 2, 1, NULL, NULL, NULL),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(
                ks_timestamped_kv_store_get(NULL, "k", 1, &old, &ol, &ot),
                KS_ERR_INVALID_ARG);
        assert_null(ks_timestamped_kv_store_name(NULL));
        ks_timestamped_kv_iter_destroy(NULL);
        assert_int_equal(
                ks_timestamped_kv_iter_next(NULL, NULL, NULL, NULL, NULL, NULL),
                0);
        /* Survives a reopen (RocksDB: committed; memory: restored). */
        reopen(f);
        expect_get(f->ts, "c", "new", 7);
        expect_get(f->ts, "max", "hi", INT64_MAX);
        expect_get(f->ts, "min", "lo", INT64_MIN);
        expect_get(f->ts, "a", NULL, 0);
}

/* --- the reference model ------------------------------------------------- */

#define N 60 /* keys "k00" .. "k59", in key order */

typedef struct {
        int has;
        char v[16];
        int64_t ts;
} row_t;

static void key_of(int i, char *k) {
        k[0] = 'k';
        k[1] = (char)('0' + i / 10);
        k[2] = (char)('0' + i % 10);
        k[3] = 0;
}

/* What an iteration over [lo, hi] (indexes; reverse: descending) of the
 * model shows. */
static void model_render(const row_t *m, int lo, int hi, int reverse, char *out,
                         size_t size) {
        out[0] = 0;
        for (int j = 0; j <= hi - lo; j++) {
                int i = reverse ? hi - j : lo + j;
                if (!m[i].has)
                        continue;
                size_t len = strlen(out);
                snprintf(out + len, size - len, "%sk%02d=%s@%lld",
                         len ? "," : "", i, m[i].v, (long long)m[i].ts);
        }
}

static void check_model(ks_timestamped_kv_store_t *ts, const row_t *m) {
        char want[8192];
        ks_timestamped_kv_iter_t *it;
        KST_OK(ks_timestamped_kv_store_all(ts, &it));
        model_render(m, 0, N - 1, 0, want, sizeof(want));
        expect_iter(it, want);
        KST_OK(ks_timestamped_kv_store_reverse_all(ts, &it));
        model_render(m, 0, N - 1, 1, want, sizeof(want));
        expect_iter(it, want);
        for (int i = 0; i < N; i++) {
                char k[4];
                key_of(i, k);
                expect_get(ts, k, m[i].has ? m[i].v : NULL, m[i].ts);
        }
        for (int r = 0; r < 20; r++) {
                int lo = rand() % N, hi = rand() % N;
                if (lo > hi) {
                        int x = lo;
                        lo = hi;
                        hi = x;
                }
                char from[4], to[4];
                key_of(lo, from);
                key_of(hi, to);
                KST_OK(ks_timestamped_kv_store_range(ts, from, 3, to, 3, &it));
                model_render(m, lo, hi, 0, want, sizeof(want));
                expect_iter(it, want);
                KST_OK(ks_timestamped_kv_store_reverse_range(ts, from, 3, to, 3,
                                                             &it));
                model_render(m, lo, hi, 1, want, sizeof(want));
                expect_iter(it, want);
                /* Open ends. */
                KST_OK(ks_timestamped_kv_store_range(ts, NULL, 0, to, 3, &it));
                model_render(m, 0, hi, 0, want, sizeof(want));
                expect_iter(it, want);
                KST_OK(ks_timestamped_kv_store_reverse_range(ts, from, 3, NULL,
                                                             0, &it));
                model_render(m, lo, N - 1, 1, want, sizeof(want));
                expect_iter(it, want);
        }
        /* from > to: empty. */
        KST_OK(ks_timestamped_kv_store_range(ts, "k30", 3, "k10", 3, &it));
        expect_iter(it, "");
        /* Prefix "k1": k10 .. k19. */
        KST_OK(ks_timestamped_kv_store_prefix_scan(ts, "k1", 2, &it));
        model_render(m, 10, 19, 0, want, sizeof(want));
        expect_iter(it, want);
}

static void test_matches_reference_model(void **state) {
        fixture_t *f = *state;
        row_t m[N];
        memset(m, 0, sizeof(m));
        srand(4242);
        for (int step = 0; step < 3000; step++) {
                int i = rand() % N;
                char k[4], v[16];
                key_of(i, k);
                snprintf(v, sizeof(v), "v%d", rand() % 100000);
                /* Any timestamp, negative ones too. */
                int64_t t = (int64_t)(rand() % 2000000) - 1000000;
                const void *old;
                size_t ol;
                int64_t ot;
                switch (rand() % 4) {
                case 0:
                case 1:
                        put_s(f->ts, k, v, t);
                        m[i].has = 1;
                        snprintf(m[i].v, sizeof(m[i].v), "%s", v);
                        m[i].ts = t;
                        break;
                case 2:
                        KST_OK(ks_timestamped_kv_store_delete(f->ts, k, 3, &old,
                                                              &ol, &ot));
                        if (m[i].has) {
                                assert_int_equal(ol, strlen(m[i].v));
                                assert_memory_equal(old, m[i].v, ol);
                                assert_int_equal(ot, m[i].ts);
                        } else {
                                assert_null(old);
                        }
                        m[i].has = 0;
                        break;
                default:
                        KST_OK(ks_timestamped_kv_store_put_if_absent(
                                f->ts, k, 3, v, strlen(v), t, &old, &ol, &ot));
                        if (m[i].has) {
                                assert_int_equal(ol, strlen(m[i].v));
                                assert_memory_equal(old, m[i].v, ol);
                                assert_int_equal(ot, m[i].ts);
                        } else {
                                assert_null(old);
                                m[i].has = 1;
                                snprintf(m[i].v, sizeof(m[i].v), "%s", v);
                                m[i].ts = t;
                        }
                }
                if (step % 1000 == 999) {
                        check_model(f->ts, m);
                        if (step == 1999)
                                reopen(f);
                }
        }
        check_model(f->ts, m);
        reopen(f);
        check_model(f->ts, m);
}

/* --- stored values too short for a timestamp ----------------------------- */

static void test_short_values_refused(void **state) {
        fixture_t *f = *state;
        put_s(f->ts, "a", "ok", 1);
        /* Written below the timestamped layer: 3 bytes, and none. */
        KST_OK(ks_kv_store_put(f->kv, "b", 1, "xyz", 3));
        KST_OK(ks_kv_store_put(f->kv, "c", 1, "", 0));
        put_s(f->ts, "d", "fine", 4);
        const void *v;
        size_t vl;
        int64_t t;
        kst_log_clear();
        assert_int_equal(
                ks_timestamped_kv_store_get(f->ts, "b", 1, &v, &vl, &t),
                KS_ERR_STORE);
        assert_true(kst_log_contains("timestamped key-value store \"" NAME
                                     "\": a stored value of 3 bytes is "
                                     "shorter than its 8-byte timestamp"));
        assert_int_equal(
                ks_timestamped_kv_store_get(f->ts, "c", 1, &v, &vl, &t),
                KS_ERR_STORE);
        assert_true(kst_log_contains("a stored value of 0 bytes"));
        /* Iteration stops at the bad value, with the error. */
        ks_timestamped_kv_iter_t *it;
        KST_OK(ks_timestamped_kv_store_all(f->ts, &it));
        const void *k;
        size_t kl;
        assert_int_equal(ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t),
                         1);
        assert_memory_equal(k, "a", 1);
        assert_int_equal(t, 1);
        assert_int_equal(ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t),
                         0);
        assert_int_equal(ks_timestamped_kv_iter_error(it), KS_ERR_STORE);
        assert_int_equal(ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t),
                         0);
        ks_timestamped_kv_iter_destroy(it);
        /* Reverse: "d" first, then the bad "c". */
        KST_OK(ks_timestamped_kv_store_reverse_all(f->ts, &it));
        assert_int_equal(ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t),
                         1);
        assert_memory_equal(k, "d", 1);
        assert_int_equal(ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t),
                         0);
        assert_int_equal(ks_timestamped_kv_iter_error(it), KS_ERR_STORE);
        ks_timestamped_kv_iter_destroy(it);
        /* An old value that cannot be handed out: refused, nothing
         * changed. */
        int64_t ot;
        assert_int_equal(ks_timestamped_kv_store_put_if_absent(
                                 f->ts, "b", 1, "new", 3, 9, &v, &vl, &ot),
                         KS_ERR_STORE);
        assert_int_equal(
                ks_timestamped_kv_store_delete(f->ts, "b", 1, &v, &vl, &ot),
                KS_ERR_STORE);
        KST_OK(ks_kv_store_get(f->kv, "b", 1, &v, &vl));
        assert_int_equal(vl, 3);
        /* Overwritten or deleted without asking for it, all is well. */
        put_s(f->ts, "b", "B", 2);
        expect_get(f->ts, "b", "B", 2);
        KST_OK(ks_timestamped_kv_store_delete(f->ts, "c", 1, NULL, NULL, NULL));
        expect_get(f->ts, "c", NULL, 0);
}

/* --- restores ------------------------------------------------------------ */

static void test_restore(void **state) {
        fixture_t *f = *state;
        /* A changelog carries stored values: copied as they are, whatever
         * the record's timestamp. */
        ks_buf_t *b = ks_buf_new();
        KST_OK(ks__ts_value_append(b, 42, "from-log", 8));
        KST_OK(ks__kv_store_restore_put(f->kv, "a", 1, ks_buf_data(b),
                                        ks_buf_len(b), 5000));
        KST_OK(ks__kv_store_restore_put(f->kv, "gone", 4, ks_buf_data(b),
                                        ks_buf_len(b), 5000));
        KST_OK(ks__kv_store_restore_put(f->kv, "gone", 4, NULL, 0, 5001));
        kst_store_restore_end(f->st);
        expect_get(f->ts, "a", "from-log", 42);
        expect_get(f->ts, "gone", NULL, 0);
        /* A table read from its topic: plain values, stamped with their
         * records' timestamps. */
        ks__timestamped_kv_store_restore_from_source(f->ts);
        KST_OK(ks__kv_store_restore_put(f->kv, "u1", 2, "ann", 3, 1000));
        KST_OK(ks__kv_store_restore_put(f->kv, "u2", 2, "bob", 3, 1100));
        KST_OK(ks__kv_store_restore_put(f->kv, "u1", 2, "amy", 3, 1200));
        KST_OK(ks__kv_store_restore_put(f->kv, "u3", 2, "", 0, 900));
        KST_OK(ks__kv_store_restore_put(f->kv, "u2", 2, NULL, 0, 1300));
        kst_store_restore_end(f->st);
        expect_get(f->ts, "u1", "amy", 1200);
        expect_get(f->ts, "u2", NULL, 0);
        expect_get(f->ts, "u3", "", 900);
        expect_stored(f->kv, "u1", "amy", 1200);
        ks_buf_destroy(b);
        /* Restores of a closed store are refused. */
        ks__kv_store_close(f->kv);
        assert_int_equal(ks__kv_store_restore_put(f->kv, "u4", 2, "x", 1, 1),
                         KS_ERR_STORE_CLOSED);
}

static void test_closed_store(void **state) {
        fixture_t *f = *state;
        ks_timestamped_kv_store_t *ts = f->ts;
        put_s(ts, "a", "1", 10);
        put_s(ts, "b", "2", 20);
        ks_timestamped_kv_iter_t *it;
        KST_OK(ks_timestamped_kv_store_all(ts, &it));
        assert_int_equal(
                ks_timestamped_kv_iter_next(it, NULL, NULL, NULL, NULL, NULL),
                1);
        ks__kv_store_close(f->kv);
        assert_int_equal(
                ks_timestamped_kv_iter_next(it, NULL, NULL, NULL, NULL, NULL),
                0);
        assert_int_equal(ks_timestamped_kv_iter_error(it), KS_ERR_STORE_CLOSED);
        ks_timestamped_kv_iter_destroy(it);
        const void *v;
        size_t vl;
        int64_t t;
        uint64_t n;
        assert_int_equal(ks_timestamped_kv_store_put(ts, "a", 1, "3", 1, 30),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_put(ts, "a", 1, NULL, 0, 30),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_get(ts, "a", 1, &v, &vl, &t),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_put_if_absent(
                                 ts, "c", 1, "3", 1, 30, &v, &vl, &t),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_timestamped_kv_store_delete(ts, "a", 1, &v, &vl, &t),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_timestamped_kv_store_delete(ts, "a", 1, NULL, NULL, NULL),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_range(ts, "a", 1, "b", 1, &it),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_timestamped_kv_store_reverse_range(ts, "a", 1, "b", 1, &it),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_prefix_scan(ts, "a", 1, &it),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_all(ts, &it),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_timestamped_kv_store_reverse_all(ts, &it),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_timestamped_kv_store_approximate_num_entries(ts, &n),
                KS_ERR_STORE_CLOSED);
        assert_string_equal(ks_timestamped_kv_store_name(ts), NAME);
}

#define BOTH(fn)                                                               \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb, teardown),          \
                cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                BOTH(test_put_get_delete),
                BOTH(test_matches_reference_model),
                BOTH(test_short_values_refused),
                BOTH(test_restore),
                BOTH(test_closed_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
