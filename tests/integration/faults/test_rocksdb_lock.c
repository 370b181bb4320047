/* A task's RocksDB that does not open for a reason other than corruption
 * keeps its state. The word count runs and closes; then the test opens
 * the RocksDB database of task 1_0 itself (RocksDB's C API, all column
 * families), which holds RocksDB's LOCK, and starts the app again on the
 * same state directory. The task cannot open its store: the app stops
 * (ERROR) with RocksDB's message, naming the database, and every file of
 * the database is still there, with the counts in it. Once the test lets
 * the database go, the app starts on the same directory, restores nothing
 * (its checkpoint is current: the state was not wiped) and counts on
 * exactly. (Corrupt files, which are wiped and restored, are
 * integration.coord.wordcount_runtime's.) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 2
#define VOCAB      20
#define MAX_FILES  256

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        *state = kst_wc_fixture("mock", 1, "rlock", PARTITIONS, VOCAB, 11);
        return 0;
}

typedef struct {
        int64_t restored;
} restore_t;

static void on_restore(void *opaque, ks_restore_phase_t phase,
                       const char *store, const char *topic, int32_t p,
                       int64_t start, int64_t end, int64_t restored) {
        restore_t *r = opaque;
        if (phase == KS_RESTORE_END && !strcmp(store, WORDCOUNT_STORE))
                __atomic_add_fetch(&r->restored, restored, __ATOMIC_SEQ_CST);
}

static ks_app_t *start(fixture_t *f, const char *dir, restore_t *rt) {
        ks_error_t *e = NULL;
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, rt ? on_restore : NULL, rt);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

/* The database of a task, opened by the test with every column family. */
typedef struct {
        rocksdb_t *db;
        rocksdb_options_t *opts;
        rocksdb_column_family_handle_t **cfs;
        char **names;
        size_t cnt;
} held_t;

static void hold(held_t *h, const char *path) {
        char *err = NULL;
        h->opts = rocksdb_options_create();
        /* Nothing of the test's own may move files while it holds it. */
        rocksdb_options_set_disable_auto_compactions(h->opts, 1);
        h->names = rocksdb_list_column_families(h->opts, path, &h->cnt, &err);
        if (err)
                fail_msg("listing the column families of %s: %s", path, err);
        const rocksdb_options_t **cf_opts = calloc(h->cnt, sizeof(*cf_opts));
        h->cfs = calloc(h->cnt, sizeof(*h->cfs));
        assert_non_null(cf_opts);
        assert_non_null(h->cfs);
        for (size_t i = 0; i < h->cnt; i++)
                cf_opts[i] = h->opts;
        h->db = rocksdb_open_column_families(h->opts, path, (int)h->cnt,
                                             (const char *const *)h->names,
                                             cf_opts, h->cfs, &err);
        free(cf_opts);
        if (err)
                fail_msg("opening %s: %s", path, err);
}

/* The count of each word in the held database's counts store. */
static void held_counts(held_t *h, const fixture_t *f, int64_t *counts) {
        size_t cf = h->cnt;
        for (size_t i = 0; i < h->cnt; i++)
                if (!strcmp(h->names[i], WORDCOUNT_STORE))
                        cf = i;
        if (cf == h->cnt)
                fail_msg("no column family %s", WORDCOUNT_STORE);
        rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
        rocksdb_iterator_t *it =
                rocksdb_create_iterator_cf(h->db, ro, h->cfs[cf]);
        for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
             rocksdb_iter_next(it)) {
                size_t kl, vl;
                const char *k = rocksdb_iter_key(it, &kl);
                const char *v = rocksdb_iter_value(it, &vl);
                int w = kst_wc_word(f, k, kl);
                int64_t n;
                if (w < 0 || ks_int64_decode(v, vl, &n, NULL))
                        fail_msg("unexpected entry %.*s in %s", (int)kl, k,
                                 WORDCOUNT_STORE);
                counts[w] = n;
        }
        rocksdb_iter_destroy(it);
        rocksdb_readoptions_destroy(ro);
}

static void release(held_t *h) {
        for (size_t i = 0; i < h->cnt; i++)
                rocksdb_column_family_handle_destroy(h->cfs[i]);
        rocksdb_close(h->db);
        rocksdb_list_column_families_destroy(h->names, h->cnt);
        free(h->cfs);
        rocksdb_options_destroy(h->opts);
}

/* The names of the files in @p dir. */
static size_t list_files(const char *dir, char names[][256]) {
        DIR *d = opendir(dir);
        if (!d)
                fail_msg("cannot open %s", dir);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < MAX_FILES)
                if (de->d_name[0] != '.')
                        snprintf(names[n++], 256, "%s", de->d_name);
        closedir(d);
        return n;
}

static void test_lock_held(void **state) {
        fixture_t *f = *state;
        char *dir = NULL, *db = NULL;
        if (asprintf(&dir, "%s/locked", kst_tmpdir()) < 0 ||
            asprintf(&db, "%s/%s/1_0/rocksdb", dir, f->app_id) < 0)
                fail_msg("out of memory");
        kst_wc_produce(f, 200, 5, KST_WC_SPREAD);
        ks_app_t *app = start(f, dir, NULL);
        kst_wc_wait_counts(f, app, 60000);
        KST_OK(ks_app_close(app, 30000));
        ks_app_destroy(app);

        held_t h = {0};
        hold(&h, db);
        int64_t before[VOCAB] = {0};
        held_counts(&h, f, before);
        static char files[MAX_FILES][256];
        size_t nfiles = list_files(db, files);
        assert_true(nfiles > 0);

        kst_log_clear();
        app = start(f, dir, NULL);
        if (!ks_app_wait_state(app, KS_APP_ERROR, 60000)) {
                kst_log_print();
                fail_msg("the app is %s with task 1_0's RocksDB locked",
                         ks_app_state_name(ks_app_state(app)));
        }
        const char *msg = ks_error_message(ks_app_error(app));
        printf("# ERROR: %s\n", msg);
        if (!strstr(msg, db) || !strstr(msg, "lock"))
                fail_msg("the error names not the database and RocksDB's "
                         "lock: %s",
                         msg);
        if (kst_log_contains("wiping the local state"))
                fail_msg("the app wiped a store it could not lock");
        ks_app_close(app, 30000);
        ks_app_destroy(app);
        for (size_t i = 0; i < nfiles; i++) {
                char *path = NULL;
                struct stat st;
                if (asprintf(&path, "%s/%s", db, files[i]) < 0)
                        fail_msg("out of memory");
                if (stat(path, &st))
                        fail_msg("%s is gone", path);
                free(path);
        }
        /* The counts are still on disk: read them through a new handle. */
        release(&h);
        hold(&h, db);
        int64_t after[VOCAB] = {0};
        held_counts(&h, f, after);
        release(&h);
        for (int i = 0; i < VOCAB; i++)
                if (after[i] != before[i])
                        fail_msg("%s: %lld in the store, %lld before",
                                 f->words[i], (long long)after[i],
                                 (long long)before[i]);

        /* Free again: the app opens its state as it was and restores
         * nothing into task 1_0's store, then counts on. */
        restore_t rt = {0};
        app = start(f, dir, &rt);
        kst_wc_produce(f, 50, 5, KST_WC_SPREAD);
        kst_wc_wait_counts(f, app, 60000);
        assert_int_equal(__atomic_load_n(&rt.restored, __ATOMIC_SEQ_CST), 0);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        free(dir);
        free(db);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lock_held, setup,
                                                kst_wc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
