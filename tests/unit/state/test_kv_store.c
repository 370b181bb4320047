/* Key-value store behaviour, run identically against the RocksDB and the
 * in-memory backend, with results checked against a sorted reference model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ks_test.h"
#include "common/util_int.h"
#include "state/rocksdb_int.h"
#include "state/state_dir_int.h"

typedef struct {
        ks_store_backend_t backend;
        ks_config_t *conf;
        ks__rocks_env_t *env;
        ks__task_db_t *db;
        char *dir;
        ks_kv_store_t *store;
} fixture_t;

static ks_kv_store_t *open_store(fixture_t *f) {
        if (f->backend == KS_STORE_IN_MEMORY)
                return ks__kv_store_new("s", KS_STORE_IN_MEMORY,
                                        &ks__memory_store_ops,
                                        ks__memory_store_new(), f->conf);
        const char *stores[] = {"s"};
        ks_error_t *e = NULL;
        KST_OK_E(ks__task_db_open(f->env, f->dir, stores, 1, &f->db, &e));
        return ks__kv_store_new("s", KS_STORE_ROCKSDB, &ks__rocksdb_store_ops,
                                ks__rocksdb_store_new(f->db, "s"), f->conf);
}

static void close_store(fixture_t *f) {
        ks__kv_store_destroy(f->store);
        f->store = NULL;
        ks__task_db_close(f->db);
        f->db = NULL;
}

/* Close and open again: what was not committed is lost. */
static void reopen(fixture_t *f) {
        close_store(f);
        f->store = open_store(f);
        assert_non_null(f->store);
}

static int setup(void **state, ks_store_backend_t backend) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->backend = backend;
        f->conf = kst_config("store-test");
        ks_error_t *e = NULL;
        KST_OK_E(ks__rocks_env_new(f->conf, &f->env, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "store-", &f->dir, &e));
        f->store = open_store(f);
        assert_non_null(f->store);
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
        ks__kv_store_destroy(f->store);
        ks__task_db_close(f->db);
        ks__rocks_env_destroy(f->env);
        ks__rmtree(f->dir);
        free(f->dir);
        ks_config_destroy(f->conf);
        free(f);
        return 0;
}

/* Commit the RocksDB batch so tests also read through the database. */
static void commit(fixture_t *f) {
        if (f->db) {
                ks_error_t *e = NULL;
                KST_OK_E(ks__task_db_commit(f->db, &e));
        }
}

static void put_s(ks_kv_store_t *s, const char *k, const char *v) {
        KST_OK(ks_kv_store_put(s, k, strlen(k), v, v ? strlen(v) : 0));
}

static void expect_get(ks_kv_store_t *s, const char *k, const char *v) {
        const void *out;
        size_t n;
        ks_err_t err = ks_kv_store_get(s, k, strlen(k), &out, &n);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        assert_int_equal(err, KS_ERR_NO_ERROR);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
}

/* Drain @p it and compare with the space-separated "k=v" list @p want. */
static void expect_iter(ks_kv_iter_t *it, const char *want) {
        char got[4096] = "";
        const void *k, *v;
        size_t kl, vl;
        while (ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                size_t len = strlen(got);
                snprintf(got + len, sizeof(got) - len, "%s%.*s=%.*s",
                         len ? " " : "", (int)kl, (const char *)k, (int)vl,
                         (const char *)v);
        }
        assert_int_equal(ks_kv_iter_error(it), KS_ERR_NO_ERROR);
        assert_string_equal(got, want);
        ks_kv_iter_destroy(it);
}

static void test_get_put_delete(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        expect_get(s, "a", NULL);
        put_s(s, "a", "1");
        put_s(s, "b", "2");
        expect_get(s, "a", "1");
        commit(f);
        expect_get(s, "a", "1");
        put_s(s, "a", "11"); /* overwrite, uncommitted over committed */
        expect_get(s, "a", "11");
        put_s(s, "e", ""); /* empty is a value, not a delete */
        expect_get(s, "e", "");
        const void *old;
        size_t oldlen;
        KST_OK(ks_kv_store_delete(s, "a", 1, &old, &oldlen));
        assert_int_equal(oldlen, 2);
        assert_memory_equal(old, "11", 2);
        expect_get(s, "a", NULL);
        KST_OK(ks_kv_store_delete(s, "zz", 2, &old, &oldlen));
        assert_null(old);
        put_s(s, "b", NULL); /* null value deletes */
        expect_get(s, "b", NULL);
        commit(f);
        expect_get(s, "b", NULL);
        expect_get(s, "e", "");
        assert_string_equal(ks_kv_store_name(s), "s");
        assert_int_equal(ks_kv_store_persistent(s),
                         f->backend == KS_STORE_ROCKSDB);
}

static void test_put_if_absent(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        const void *old = (void *)1;
        size_t oldlen;
        KST_OK(ks_kv_store_put_if_absent(s, "k", 1, "v1", 2, &old, &oldlen));
        assert_null(old);
        KST_OK(ks_kv_store_put_if_absent(s, "k", 1, "v2", 2, &old, &oldlen));
        assert_non_null(old);
        assert_memory_equal(old, "v1", 2);
        expect_get(s, "k", "v1");
}

static void test_ranges(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        const char *keys[] = {"b", "a", "ab", "c", "abc", "b\xff", "d"};
        for (size_t i = 0; i < 7; i++)
                put_s(s, keys[i], keys[i][0] == 'b' ? "B" : "x");
        commit(f);
        put_s(s, "aa", "new"); /* batch entries mix with committed ones */
        put_s(s, "c", NULL);
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(s, &it));
        expect_iter(it, "a=x aa=new ab=x abc=x b=B b\xff=B d=x");
        KST_OK(ks_kv_store_reverse_all(s, &it));
        expect_iter(it, "d=x b\xff=B b=B abc=x ab=x aa=new a=x");
        KST_OK(ks_kv_store_range(s, "aa", 2, "b", 1, &it));
        expect_iter(it, "aa=new ab=x abc=x b=B");
        KST_OK(ks_kv_store_reverse_range(s, "aa", 2, "b", 1, &it));
        expect_iter(it, "b=B abc=x ab=x aa=new");
        KST_OK(ks_kv_store_range(s, "ab0", 3, NULL, 0, &it));
        expect_iter(it, "abc=x b=B b\xff=B d=x");
        KST_OK(ks_kv_store_range(s, NULL, 0, "ab", 2, &it));
        expect_iter(it, "a=x aa=new ab=x");
        KST_OK(ks_kv_store_reverse_range(s, "b0", 2, NULL, 0, &it));
        expect_iter(it, "d=x b\xff=B");
        KST_OK(ks_kv_store_range(s, "c", 1, "a", 1, &it)); /* from > to */
        expect_iter(it, "");
        KST_OK(ks_kv_store_prefix_scan(s, "ab", 2, &it));
        expect_iter(it, "ab=x abc=x");
        KST_OK(ks_kv_store_prefix_scan(s, "b", 1, &it));
        expect_iter(it, "b=B b\xff=B");
        KST_OK(ks_kv_store_prefix_scan(s, "q", 1, &it));
        expect_iter(it, "");
}

static void test_mutation_during_iteration(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        char k[16];
        for (int i = 0; i < 50; i++) {
                snprintf(k, sizeof(k), "k%02d", i);
                put_s(s, k, "v");
        }
        commit(f);
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(s, &it));
        const void *kp, *vp;
        size_t kl, vl;
        int seen = 0;
        /* Delete every key while walking: each is seen exactly once. */
        while (ks_kv_iter_next(it, &kp, &kl, &vp, &vl)) {
                char key[16];
                assert_true(kl < sizeof(key));
                memcpy(key, kp, kl);
                key[kl] = 0;
                snprintf(k, sizeof(k), "k%02d", seen);
                assert_string_equal(key, k);
                KST_OK(ks_kv_store_delete(s, key, kl, NULL, NULL));
                seen++;
        }
        ks_kv_iter_destroy(it);
        assert_int_equal(seen, 50);
        KST_OK(ks_kv_store_all(s, &it));
        expect_iter(it, "");
}

/* Random operations against a sorted reference array. */
static void test_matches_reference_model(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        enum { N = 64 };
        int model[N]; /* -1 absent, else value */
        for (int i = 0; i < N; i++)
                model[i] = -1;
        srand(99);
        for (int op = 0; op < 3000; op++) {
                int i = rand() % N, v = rand() % 1000;
                char k[16], val[16];
                snprintf(k, sizeof(k), "%02x", i * 4);
                snprintf(val, sizeof(val), "%d", v);
                switch (rand() % 4) {
                case 0:
                case 1:
                        put_s(s, k, val);
                        model[i] = v;
                        break;
                case 2:
                        KST_OK(ks_kv_store_delete(s, k, 2, NULL, NULL));
                        model[i] = -1;
                        break;
                case 3:
                        commit(f);
                        break;
                }
        }
        /* Full scan equals the model, in key order. */
        char want[4096] = "";
        for (int i = 0; i < N; i++) {
                if (model[i] < 0)
                        continue;
                size_t len = strlen(want);
                snprintf(want + len, sizeof(want) - len, "%s%02x=%d",
                         len ? " " : "", i * 4, model[i]);
        }
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(s, &it));
        expect_iter(it, want);
        commit(f);
        KST_OK(ks_kv_store_all(s, &it));
        expect_iter(it, want);
        uint64_t cnt, live = 0;
        for (int i = 0; i < N; i++)
                live += model[i] >= 0;
        KST_OK(ks_kv_store_approximate_num_entries(s, &cnt));
        if (f->backend == KS_STORE_IN_MEMORY)
                assert_int_equal(cnt, live);
        else /* RocksDB estimates; it must at least see the keys. */
                assert_true(cnt > 0);
}

/* Many keys, values of changing length, point reads checked after every
 * write, scans opened between writes, commits and (RocksDB) reopens at
 * random points: what a store shows is always the reference model, and
 * after a reopen exactly what was committed. */
enum { BIG_N = 3000 };

static size_t big_value(int v, char *buf) {
        size_t n = (size_t)(v % 200) + 1;
        for (size_t j = 0; j < n; j++)
                buf[j] = (char)('a' + (v + (int)j) % 26);
        return n;
}

static void big_check_scan(ks_kv_store_t *s, const int *model) {
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(s, &it));
        const void *kp, *vp;
        size_t kl, vl;
        int i = 0;
        while (ks_kv_iter_next(it, &kp, &kl, &vp, &vl)) {
                while (i < BIG_N && model[i] < 0)
                        i++;
                assert_true(i < BIG_N);
                char k[16], want[256];
                snprintf(k, sizeof(k), "%05d", i);
                assert_int_equal(kl, strlen(k));
                assert_memory_equal(kp, k, kl);
                size_t wl = big_value(model[i], want);
                assert_int_equal(vl, wl);
                assert_memory_equal(vp, want, wl);
                i++;
        }
        assert_int_equal(ks_kv_iter_error(it), KS_ERR_NO_ERROR);
        ks_kv_iter_destroy(it);
        while (i < BIG_N && model[i] < 0)
                i++;
        assert_int_equal(i, BIG_N);
}

static void test_matches_reference_model_large(void **state) {
        fixture_t *f = *state;
        static int model[BIG_N], committed[BIG_N];
        for (int i = 0; i < BIG_N; i++)
                model[i] = committed[i] = -1;
        srand(7);
        int scans = 0, reopens = 0;
        for (int op = 0; op < 40000; op++) {
                int i = rand() % BIG_N, v = rand() % 100000, r = rand() % 1000;
                char k[16], val[256];
                snprintf(k, sizeof(k), "%05d", i);
                if (r < 400) {
                        size_t vl = big_value(v, val);
                        KST_OK(ks_kv_store_put(f->store, k, strlen(k), val,
                                               vl));
                        model[i] = v;
                } else if (r < 550) {
                        KST_OK(ks_kv_store_delete(f->store, k, strlen(k), NULL,
                                                  NULL));
                        model[i] = -1;
                } else if (r < 990) {
                        const void *out;
                        size_t n;
                        ks_err_t err = ks_kv_store_get(f->store, k, strlen(k),
                                                       &out, &n);
                        if (model[i] < 0) {
                                assert_int_equal(err, KS_ERR_NOT_FOUND);
                        } else {
                                assert_int_equal(err, KS_ERR_NO_ERROR);
                                size_t wl = big_value(model[i], val);
                                assert_int_equal(n, wl);
                                assert_memory_equal(out, val, wl);
                        }
                } else if (r < 996) {
                        commit(f);
                        memcpy(committed, model, sizeof(model));
                } else if (r < 999) {
                        big_check_scan(f->store, model);
                        scans++;
                } else if (f->backend == KS_STORE_ROCKSDB) {
                        reopen(f);
                        memcpy(model, committed, sizeof(model));
                        reopens++;
                }
        }
        big_check_scan(f->store, model);
        commit(f);
        big_check_scan(f->store, model);
        assert_true(scans > 50);
        if (f->backend == KS_STORE_ROCKSDB)
                assert_true(reopens > 10);
}

static void test_closed_store(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        put_s(s, "a", "1");
        put_s(s, "b", "2");
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(s, &it));
        const void *k, *v;
        size_t kl, vl;
        assert_int_equal(ks_kv_iter_next(it, &k, &kl, &v, &vl), 1);
        ks__kv_store_close(s);
        /* The open iterator ends, saying why. */
        assert_int_equal(ks_kv_iter_next(it, &k, &kl, &v, &vl), 0);
        assert_int_equal(ks_kv_iter_error(it), KS_ERR_STORE_CLOSED);
        ks_kv_iter_destroy(it);
        const void *out;
        size_t n;
        uint64_t cnt;
        assert_int_equal(ks_kv_store_get(s, "a", 1, &out, &n),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_kv_store_put(s, "a", 1, "x", 1),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_kv_store_delete(s, "a", 1, NULL, NULL),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(
                ks_kv_store_put_if_absent(s, "a", 1, "x", 1, NULL, NULL),
                KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_kv_store_all(s, &it), KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_kv_store_approximate_num_entries(s, &cnt),
                         KS_ERR_STORE_CLOSED);
        /* Bad arguments. */
        assert_int_equal(ks_kv_store_get(NULL, "a", 1, &out, &n),
                         KS_ERR_INVALID_ARG);
}

static unsigned logged;
static ks_err_t count_log(void *opaque, const void *key, size_t klen,
                          const void *value, size_t vlen) {
        logged++;
        return KS_ERR_NO_ERROR;
}

/* Range deletes [from, to) against a model, puts staged before them in the
 * same commit interval included; never written to the change log. */
static void test_delete_range(void **state) {
        fixture_t *f = *state;
        ks_kv_store_t *s = f->store;
        logged = 0;
        s->log = count_log;
        char model[26][26][8]; /* "xy" keys and "x" keys (second 0) */
        memset(model, 0, sizeof(model));
        unsigned seed = 3, puts = 0;
        for (int round = 0; round < 40; round++) {
                for (int i = 0; i < 30; i++) {
                        seed = seed * 1103515245u + 12345u;
                        int a = (int)((seed >> 8) % 26);
                        int b = (int)((seed >> 16) % 26);
                        char k[3] = {(char)('a' + a), (char)('a' + b), 0};
                        if (b == 0)
                                k[1] = 0; /* "x": before every "x?" */
                        snprintf(model[a][b], sizeof(model[a][b]), "%d",
                                 round * 100 + i);
                        put_s(s, k, model[a][b]);
                        puts++;
                }
                if (round % 3)
                        commit(f);
                seed = seed * 1103515245u + 12345u;
                char from[3] = {(char)('a' + (seed >> 8) % 26),
                                (char)('a' + (seed >> 12) % 26), 0};
                char to[2] = {(char)('a' + (seed >> 20) % 26), 0};
                KST_OK(ks__kv_store_delete_range(s, from, 2, to, 1));
                /* [from, to): "xy" >= from and < "z" (a one-letter to). */
                for (int a = 0; a < 26; a++)
                        for (int b = 0; b < 26; b++) {
                                char k[3] = {(char)('a' + a), (char)('a' + b),
                                             0};
                                size_t kl = b ? 2 : 1;
                                if (ks__bytes_cmp(k, kl, from, 2) >= 0 &&
                                    ks__bytes_cmp(k, kl, to, 1) < 0)
                                        model[a][b][0] = 0;
                        }
                commit(f);
                char want[26 * 26 * 12] = "";
                for (int a = 0; a < 26; a++)
                        for (int b = 0; b < 26; b++) {
                                if (!model[a][b][0])
                                        continue;
                                size_t len = strlen(want);
                                snprintf(want + len, sizeof(want) - len,
                                         "%s%c%s=%s", len ? " " : "", 'a' + a,
                                         b ? (char[]){(char)('a' + b), 0} : "",
                                         model[a][b]);
                        }
                ks_kv_iter_t *it;
                KST_OK(ks_kv_store_all(s, &it));
                char got[26 * 26 * 12] = "";
                const void *k, *v;
                size_t kl, vl;
                while (ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                        size_t len = strlen(got);
                        snprintf(got + len, sizeof(got) - len, "%s%.*s=%.*s",
                                 len ? " " : "", (int)kl, (const char *)k,
                                 (int)vl, (const char *)v);
                }
                KST_OK(ks_kv_iter_error(it));
                ks_kv_iter_destroy(it);
                assert_string_equal(got, want);
        }
        assert_int_equal(logged, puts); /* the puts only */
        /* Empty and inverted ranges delete nothing. */
        put_s(s, "m", "1");
        KST_OK(ks__kv_store_delete_range(s, "m", 1, "m", 1));
        KST_OK(ks__kv_store_delete_range(s, "n", 1, "a", 1));
        commit(f);
        expect_get(s, "m", "1");
        if (f->backend == KS_STORE_ROCKSDB) {
                /* Uncommitted, a range delete goes with the task. */
                KST_OK(ks__kv_store_delete_range(s, "a", 1, "z", 1));
                reopen(f);
                expect_get(f->store, "m", "1");
                s = f->store;
        }
        ks__kv_store_close(s);
        assert_int_equal(ks__kv_store_delete_range(s, "a", 1, "b", 1),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks__kv_store_delete_range(NULL, "a", 1, "b", 1),
                         KS_ERR_INVALID_ARG);
}

static void test_rocksdb_persists_committed_only(void **state) {
        fixture_t *f = *state;
        if (f->backend != KS_STORE_ROCKSDB)
                return;
        put_s(f->store, "kept", "1");
        ks__task_db_stage_meta(f->db, "checkpoint", "\0\0\0\x05", 4);
        commit(f);
        put_s(f->store, "lost", "2"); /* never committed */
        reopen(f);
        expect_get(f->store, "kept", "1");
        expect_get(f->store, "lost", NULL);
        void *v;
        size_t vl;
        ks_error_t *e = NULL;
        KST_OK_E(ks__task_db_get_meta(f->db, "checkpoint", &v, &vl, &e));
        assert_int_equal(vl, 4);
        assert_memory_equal(v, "\0\0\0\x05", 4);
        free(v);
        assert_int_equal(ks__task_db_get_meta(f->db, "none", &v, &vl, NULL),
                         KS_ERR_NOT_FOUND);
}

static void test_rocksdb_corrupt_dir(void **state) {
        fixture_t *f = *state;
        if (f->backend != KS_STORE_ROCKSDB)
                return;
        close_store(f);
        /* Overwrite every file of the database with garbage. */
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "for x in '%s'/*; do printf garbage > \"$x\"; done", f->dir);
        assert_int_equal(system(cmd), 0);
        const char *stores[] = {"s"};
        ks_error_t *e = NULL;
        ks__task_db_t *db = NULL;
        KST_ASSERT_ERROR(ks__task_db_open(f->env, f->dir, stores, 1, &db, &e),
                         e, KS_ERR_STORE, "cannot open the RocksDB state",
                         f->dir);
        assert_null(db);
}

/* The child of test_rocksdb_crash_keeps_restored: restores records (written
 * unlogged), commits a staged write and a checkpoint right after (logged),
 * restores more without a checkpoint, and dies without closing the
 * database. */
#define CRASH_RESTORED 1000
static int crash_child(const char *dir) {
        ks_config_t *conf = kst_config("store-crash");
        ks__rocks_env_t *env = NULL;
        ks__task_db_t *db = NULL;
        const char *stores[] = {"s"};
        if (ks__rocks_env_new(conf, &env, NULL) ||
            ks__task_db_open(env, dir, stores, 1, &db, NULL))
                return 2;
        void *impl = ks__rocksdb_store_new(db, "s");
        char k[32], v[32];
        for (int i = 0; i < CRASH_RESTORED + 500; i++) {
                int kl = snprintf(k, sizeof(k), "r%05d", i);
                int vl = snprintf(v, sizeof(v), "value-%d", i * 7);
                if (ks__rocksdb_store_ops.restore_put(impl, k, (size_t)kl, v,
                                                      (size_t)vl))
                        return 3;
                if (i == CRASH_RESTORED - 1) {
                        /* The end of a restore: a flush starts, and the
                         * next commit goes through the WAL. */
                        if (ks__task_db_write_restored(db, 1, NULL) ||
                            ks__rocksdb_store_ops.put(impl, "live", 4, "1", 1))
                                return 4;
                        ks__task_db_stage_meta(db, "checkpoint", "\0\0\0\x07",
                                               4);
                        if (ks__task_db_commit(db, NULL))
                                return 5;
                }
        }
        if (ks__task_db_write_restored(db, 0, NULL))
                return 6;
        _exit(0); /* no close: what RocksDB holds in memory is lost */
}

/* A crash after a restore keeps every restored record a written checkpoint
 * or a later logged write covers, though restored records skip the WAL. */
static void test_rocksdb_crash_keeps_restored(void **state) {
        fixture_t *f = *state;
        if (f->backend != KS_STORE_ROCKSDB)
                return;
        close_store(f);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execl("/proc/self/exe", "test_kv_store", "--crash-child",
                      f->dir, (char *)NULL);
                _exit(127);
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        f->store = open_store(f);
        ks_error_t *e = NULL;
        void *v;
        size_t vl;
        KST_OK_E(ks__task_db_get_meta(f->db, "checkpoint", &v, &vl, &e));
        assert_int_equal(vl, 4);
        assert_memory_equal(v, "\0\0\0\x07", 4);
        free(v);
        expect_get(f->store, "live", "1");
        char k[32], want[32];
        for (int i = 0; i < CRASH_RESTORED; i++) {
                snprintf(k, sizeof(k), "r%05d", i);
                snprintf(want, sizeof(want), "value-%d", i * 7);
                expect_get(f->store, k, want);
        }
}

#define BOTH(fn)                                                               \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb, teardown),          \
                cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                BOTH(test_get_put_delete),
                BOTH(test_put_if_absent),
                BOTH(test_ranges),
                BOTH(test_mutation_during_iteration),
                BOTH(test_matches_reference_model),
                BOTH(test_matches_reference_model_large),
                BOTH(test_closed_store),
                BOTH(test_delete_range),
                BOTH(test_rocksdb_persists_committed_only),
                BOTH(test_rocksdb_corrupt_dir),
                BOTH(test_rocksdb_crash_keeps_restored),
        };
        if (argc == 3 && !strcmp(argv[1], "--crash-child"))
                return crash_child(argv[2]);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
