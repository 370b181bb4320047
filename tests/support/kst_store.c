/* Key-value handles for store tests on either backend, behind a spy that
 * counts backend calls (see kst_store.h). */
#include "kst_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_dir_int.h"

/* The spy: the real backend instance and its ops, and the fixture whose
 * counters it bumps. */
typedef struct {
        const ks__kv_backend_ops_t *ops;
        void *impl;
        kst_store_t *owner;
} spy_t;

static ks_err_t spy_get(void *impl, const void *k, size_t kl, const void **vp,
                        size_t *vlp) {
        spy_t *s = impl;
        return s->ops->get(s->impl, k, kl, vp, vlp);
}

static ks_err_t spy_put(void *impl, const void *k, size_t kl, const void *v,
                        size_t vl) {
        spy_t *s = impl;
        if (!v)
                s->owner->key_deletes++;
        return s->ops->put(s->impl, k, kl, v, vl);
}

static ks_err_t spy_restore_put(void *impl, const void *k, size_t kl,
                                const void *v, size_t vl) {
        spy_t *s = impl;
        if (!v)
                s->owner->key_deletes++;
        return (s->ops->restore_put ? s->ops->restore_put
                                    : s->ops->put)(s->impl, k, kl, v, vl);
}

/* A cursor of the real backend, with the ops that walk and close it. */
typedef struct {
        const ks__kv_backend_ops_t *ops;
        void *cur;
} spy_cursor_t;

static ks_err_t spy_cursor_open(void *impl, int reverse, const void *seek,
                                size_t seeklen, const ks__kv_bound_t *bound,
                                void **curp) {
        spy_t *s = impl;
        spy_cursor_t *c = calloc(1, sizeof(*c));
        if (!c)
                return KS_ERR_NO_MEMORY;
        c->ops = s->ops;
        ks_err_t err = s->ops->cursor_open(s->impl, reverse, seek, seeklen,
                                           bound, &c->cur);
        if (err) {
                free(c);
                return err;
        }
        *curp = c;
        return KS_ERR_NO_ERROR;
}

static int spy_cursor_next(void *cur, const void **kp, size_t *klp,
                           const void **vp, size_t *vlp, ks_err_t *errp) {
        spy_cursor_t *c = cur;
        return c->ops->cursor_next(c->cur, kp, klp, vp, vlp, errp);
}

static void spy_cursor_close(void *cur) {
        spy_cursor_t *c = cur;
        c->ops->cursor_close(c->cur);
        free(c);
}

static ks_err_t spy_delete_range(void *impl, const void *from, size_t fromlen,
                                 const void *to, size_t tolen) {
        spy_t *s = impl;
        s->owner->range_deletes++;
        return s->ops->delete_range(s->impl, from, fromlen, to, tolen);
}

static uint64_t spy_count(void *impl) {
        spy_t *s = impl;
        return s->ops->approximate_count(s->impl);
}

static void spy_close(void *impl) {
        spy_t *s = impl;
        s->ops->close(s->impl);
        free(s);
}

static const ks__kv_backend_ops_t spy_ops = {
        .name = "spy",
        .get = spy_get,
        .put = spy_put,
        .restore_put = spy_restore_put,
        .cursor_open = spy_cursor_open,
        .cursor_next = spy_cursor_next,
        .cursor_close = spy_cursor_close,
        .delete_range = spy_delete_range,
        .approximate_count = spy_count,
        .close = spy_close,
};

kst_store_t *kst_store_new(ks_store_backend_t backend, const char *name) {
        kst_store_t *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        s->backend = backend;
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->conf = kst_config("store-test");
        ks_error_t *e = NULL;
        KST_OK_E(ks__rocks_env_new(s->conf, &s->env, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "store-", &s->dir, &e));
        return s;
}

ks_kv_store_t *kst_store_open(kst_store_t *s) {
        spy_t *spy = calloc(1, sizeof(*spy));
        assert_non_null(spy);
        spy->owner = s;
        if (s->backend == KS_STORE_IN_MEMORY) {
                spy->ops = &ks__memory_store_ops;
                spy->impl = ks__memory_store_new();
        } else {
                const char *stores[] = {s->name};
                ks_error_t *e = NULL;
                if (!s->db)
                        KST_OK_E(ks__task_db_open(s->env, s->dir, stores, 1,
                                                  &s->db, &e));
                spy->ops = &ks__rocksdb_store_ops;
                spy->impl = ks__rocksdb_store_new(s->db, s->name);
        }
        assert_non_null(spy->impl);
        ks_kv_store_t *kv =
                ks__kv_store_new(s->name, s->backend, &spy_ops, spy, s->conf);
        assert_non_null(kv);
        return kv;
}

void kst_store_closed(kst_store_t *s) {
        ks__task_db_close(s->db);
        s->db = NULL;
}

void kst_store_commit(kst_store_t *s) {
        if (!s->db)
                return;
        ks_error_t *e = NULL;
        KST_OK_E(ks__task_db_commit(s->db, &e));
}

size_t kst_store_physical(kst_store_t *s, ks_kv_store_t *kv) {
        ks_kv_iter_t *it;
        KST_OK(ks_kv_store_all(kv, &it));
        size_t n = 0;
        while (ks_kv_iter_next(it, NULL, NULL, NULL, NULL))
                n++;
        KST_OK(ks_kv_iter_error(it));
        ks_kv_iter_destroy(it);
        if (s->backend == KS_STORE_IN_MEMORY) {
                uint64_t count;
                KST_OK(ks_kv_store_approximate_num_entries(kv, &count));
                assert_int_equal(count, n);
        }
        return n;
}

struct kst_entries_s {
        size_t cnt;
        struct {
                void *k, *v;
                size_t kl, vl;
        } e[];
};

kst_entries_t *kst_store_entries(ks_kv_store_t *kv) {
        ks_kv_iter_t *it;
        size_t cnt = 0;
        KST_OK(ks_kv_store_all(kv, &it));
        while (ks_kv_iter_next(it, NULL, NULL, NULL, NULL))
                cnt++;
        ks_kv_iter_destroy(it);
        kst_entries_t *es = calloc(1, sizeof(*es) + cnt * sizeof(es->e[0]));
        assert_non_null(es);
        KST_OK(ks_kv_store_all(kv, &it));
        const void *k, *v;
        size_t kl, vl;
        while (es->cnt < cnt && ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                es->e[es->cnt].k = malloc(kl + 1);
                es->e[es->cnt].v = malloc(vl + 1);
                memcpy(es->e[es->cnt].k, k, kl);
                memcpy(es->e[es->cnt].v, v, vl);
                es->e[es->cnt].kl = kl;
                es->e[es->cnt].vl = vl;
                es->cnt++;
        }
        KST_OK(ks_kv_iter_error(it));
        ks_kv_iter_destroy(it);
        assert_int_equal(es->cnt, cnt);
        return es;
}

void kst_store_restore_put(ks_kv_store_t *kv, const void *k, size_t kl,
                           const void *v, size_t vl) {
        KST_OK(kv->ops->restore_put(kv->impl, k, kl, v, vl));
}

void kst_store_restore_end(kst_store_t *s) {
        if (s->db) {
                ks_error_t *e = NULL;
                KST_OK_E(ks__task_db_write_restored(s->db, 1, &e));
        }
}

void kst_store_restore(kst_store_t *s, ks_kv_store_t *kv,
                       kst_entries_t *entries) {
        for (size_t i = 0; i < entries->cnt; i++) {
                kst_store_restore_put(kv, entries->e[i].k, entries->e[i].kl,
                                      entries->e[i].v, entries->e[i].vl);
                free(entries->e[i].k);
                free(entries->e[i].v);
        }
        free(entries);
        kst_store_restore_end(s);
}

void kst_store_destroy(kst_store_t *s) {
        if (!s)
                return;
        kst_store_closed(s);
        ks__rocks_env_destroy(s->env);
        ks__rmtree(s->dir);
        free(s->dir);
        ks_config_destroy(s->conf);
        free(s);
}
