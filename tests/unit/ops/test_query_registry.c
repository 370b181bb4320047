/* The query registry and store views without a broker: an entry's states
 * (restoring, running, closed), published snapshots (a view reads the
 * state as of the last publication, not later writes), cursors invalidated
 * once when the task closes while a reference outlives it, lookups and
 * listing by partition; and reading application.server out of a member's
 * client id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#include "coord/instance_metadata_int.h"
#include "coord/query_registry_int.h"
#include "state/store_view_int.h"

typedef struct {
        ks__qcursor_t c;
        int invalidated;
} cursor_t;

static void on_invalidate(ks__qcursor_t *c) {
        ((cursor_t *)c)->invalidated++;
}

/* The count of @p key the view of @p t's published state answers, -1 if
 * absent. */
static int64_t view_count(ks__qtask_t *t, ks_config_t *conf, const char *key) {
        ks__task_db_t *db;
        ks__qsnap_t *snap;
        KST_OK(ks__qtask_lock(t, &db, &snap));
        ks__store_view_def_t def = {"s", KS_STORE_TYPE_KEY_VALUE, 0, 0, 0};
        ks__store_view_t *v = NULL;
        KST_OK(ks__store_view_open(db, ks__qsnap_get(snap), &def, conf, &v));
        const void *val;
        size_t vl;
        int64_t n = -1;
        ks_err_t err = ks_kv_store_get(ks__store_view_kv(v), key, strlen(key),
                                       &val, &vl);
        if (!err)
                KST_OK(ks_int64_decode(val, vl, &n, NULL));
        else
                assert_int_equal(err, KS_ERR_NOT_FOUND);
        /* Views are read-only. */
        uint8_t b[8];
        ks_int64_encode(1, b);
        assert_int_not_equal(
                ks_kv_store_put(ks__store_view_kv(v), "x", 1, b, 8), 0);
        ks__store_view_close(v);
        ks__qtask_unlock(t);
        return n;
}

static void put_commit(ks__task_db_t *db, ks_kv_store_t *kv, const char *key,
                       int64_t n) {
        uint8_t b[8];
        ks_int64_encode(n, b);
        KST_OK(ks_kv_store_put(kv, key, strlen(key), b, sizeof(b)));
        KST_OK(ks__task_db_commit(db, NULL));
}

static void test_registry(void **state) {
        ks_config_t *conf = ks_config_new();
        ks__rocks_env_t *env = NULL;
        KST_OK(ks__rocks_env_new(conf, &env, NULL));
        char path[512];
        snprintf(path, sizeof(path), "%s/qreg-db", kst_tmpdir());
        const char *stores[] = {"s"};
        ks__task_db_t *db = NULL;
        KST_OK(ks__task_db_open(env, path, stores, 1, &db, NULL));
        ks_kv_store_t *kv =
                ks__kv_store_new("s", KS_STORE_ROCKSDB, &ks__rocksdb_store_ops,
                                 ks__rocksdb_store_new(db, "s"), conf);
        assert_non_null(kv);
        put_commit(db, kv, "a", 1);

        ks__qreg_t *r = ks__qreg_new();
        uint64_t g0 = ks__qreg_generation(r);
        ks__qtask_t *t = ks__qreg_add(r, 0, 2, db);
        ks__qtask_t *other = ks__qreg_add(r, 0, 0, NULL);
        ks__qtask_t *elsewhere = ks__qreg_add(r, 1, 1, NULL);
        assert_true(ks__qreg_generation(r) > g0);
        ks__task_db_t *d;
        ks__qsnap_t *snap;
        assert_int_equal(ks__qtask_lock(t, &d, &snap), KS_ERR_STORE_RESTORING);
        ks__qtask_unlock(t);
        assert_null(ks__qreg_find(r, 0, 1));
        ks__qtask_t *found = ks__qreg_find(r, 0, 2);
        assert_ptr_equal(found, t);
        ks__qtask_t **list;
        size_t n;
        assert_int_equal(ks__qreg_list(r, 0, &list, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(ks__qtask_partition(list[0]), 0);
        assert_int_equal(ks__qtask_partition(list[1]), 2);
        for (size_t i = 0; i < n; i++)
                ks__qtask_unref(list[i]);
        free(list);

        /* Running: the state at start is published; later writes only
         * after the next accepted commit. */
        ks__qreg_running(t);
        assert_int_equal(view_count(t, conf, "a"), 1);
        put_commit(db, kv, "a", 2);
        put_commit(db, kv, "b", 5);
        assert_int_equal(view_count(t, conf, "a"), 1);
        assert_int_equal(view_count(t, conf, "b"), -1);
        ks__qreg_committed(t);
        assert_int_equal(view_count(t, conf, "a"), 2);
        assert_int_equal(view_count(t, conf, "b"), 5);

        /* A cursor holding the published snapshot across a publication,
         * then invalidated once when the task closes. */
        cursor_t c = {{on_invalidate, NULL, NULL}, 0};
        KST_OK(ks__qtask_lock(t, &d, &snap));
        ks__qsnap_t *held = snap;
        ks__qsnap_ref(held);
        ks__qtask_attach(t, &c.c);
        ks__qtask_unlock(t);
        put_commit(db, kv, "a", 3);
        ks__qreg_committed(t);
        assert_int_equal(view_count(t, conf, "a"), 3);
        uint64_t g1 = ks__qreg_generation(r);
        /* The task closes; the cursor's owner releases its snapshot when
         * invalidated (here, by hand, with the lock held). */
        KST_OK(ks__qtask_lock(t, &d, &snap));
        ks__qsnap_unref(held);
        ks__qtask_unlock(t);
        ks__qreg_remove(t);
        assert_int_equal(c.invalidated, 1);
        assert_true(ks__qreg_generation(r) > g1);
        assert_int_equal(ks__qtask_lock(found, &d, &snap),
                         KS_ERR_STORE_MIGRATED);
        assert_null(d);
        ks__qtask_unlock(found);
        ks__qtask_unref(found); /* the last reference */
        assert_null(ks__qreg_find(r, 0, 2));
        ks__qreg_remove(other);
        ks__qreg_remove(elsewhere);
        ks__qreg_destroy(r);
        ks__kv_store_destroy(kv);
        ks__task_db_close(db);
        ks__rocks_env_destroy(env);
        ks_config_destroy(conf);
        (void)state;
}

static void test_member_server(void **state) {
        char out[300];
        assert_true(ks__imeta_member_server(
                "app-StreamThread-1-consumer@host-1.example:8080", out,
                sizeof(out)));
        assert_string_equal(out, "host-1.example:8080");
        /* The last mark counts: a client.id may hold one. */
        assert_true(ks__imeta_member_server("my@id-consumer@10.0.0.1:1", out,
                                            sizeof(out)));
        assert_string_equal(out, "10.0.0.1:1");
        assert_true(ks__imeta_member_server("c@[::1]:80", out, sizeof(out)));
        assert_string_equal(out, "[::1]:80");
        static const char *const bad[] = {"consumer",   "consumer@",
                                          "c@host",     "c@host:0",
                                          "c@ho st:80", "c@host:80@"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_false(ks__imeta_member_server(bad[i], out, sizeof(out)));
        assert_false(ks__imeta_member_server(NULL, out, sizeof(out)));
        /* Too long for the buffer: refused, not cut. */
        assert_false(ks__imeta_member_server("c@host:80", out, 7));
        char longer[400];
        memset(longer, 'h', sizeof(longer));
        memcpy(longer, "c@", 2);
        snprintf(longer + 300, 100, ":80");
        assert_false(ks__imeta_member_server(longer, out, sizeof(out)));
        (void)state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry),
                cmocka_unit_test(test_member_server),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
