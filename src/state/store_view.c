/* Store views (see store_view_int.h): a read-only backend over a RocksDB
 * snapshot of one column family, and the typed stores built on it.
 *
 * The backend holds the database handle and the column family handle of
 * the task's database and the snapshot (all borrowed: the caller keeps
 * the task open and the snapshot alive), and read options pointing at it.
 * Cursors take read options of their own when they have a bound, on the same
 * snapshot, so every read of one view sees one state of the database. */
#include "store_view_int.h"

#include <stdlib.h>
#include <string.h>

#include "rocksdb_impl_int.h"

typedef struct {
        rocksdb_t *db;
        rocksdb_column_family_handle_t *cf;
        const rocksdb_snapshot_t *snap;
        rocksdb_readoptions_t *ropts;
        char *last; /* last value read (rocksdb_free) */
} vstore_t;

struct ks__store_view_s {
        ks_kv_store_t *kv; /* owned by the typed store when there is one */
        ks_timestamped_kv_store_t *timestamped;
        ks_window_store_t *window;
        ks_session_store_t *session;
};

static ks_err_t vs_get(void *impl, const void *k, size_t kl, const void **vp,
                       size_t *vlp) {
        vstore_t *s = impl;
        char *err = NULL;
        size_t vl = 0;
        rocksdb_free(s->last);
        s->last = rocksdb_get_cf(s->db, s->ropts, s->cf, k, kl, &vl, &err);
        if (err) {
                rocksdb_free(err);
                return KS_ERR_STORE;
        }
        if (!s->last)
                return KS_ERR_NOT_FOUND;
        *vp = s->last;
        *vlp = vl;
        return KS_ERR_NO_ERROR;
}

static ks_err_t vs_put(void *impl, const void *k, size_t kl, const void *v,
                       size_t vl) {
        return KS_ERR_STATE; /* a view is read-only */
}

/* Expired segments a window or session store learns of: the task's own
 * store drops them; the view's store already hides them. */
static ks_err_t vs_delete_range(void *impl, const void *from, size_t fromlen,
                                const void *to, size_t tolen) {
        return KS_ERR_NO_ERROR;
}

typedef struct {
        rocksdb_iterator_t *it;
        rocksdb_readoptions_t *ropts; /* with the bound, or NULL */
        char *limit;
        int reverse, started;
} vcursor_t;

static void vs_cursor_close(void *cur) {
        vcursor_t *c = cur;
        if (c->it)
                rocksdb_iter_destroy(c->it);
        if (c->ropts)
                rocksdb_readoptions_destroy(c->ropts);
        free(c->limit);
        free(c);
}

/* As the task's backend does: an inclusive bound becomes RocksDB's bound
 * (lower: inclusive; upper: exclusive, the key followed by a zero byte),
 * so a cursor stops there rather than stepping over deletes beyond. */
static ks_err_t vs_cursor_open(void *impl, int reverse, const void *seek,
                               size_t seeklen, const ks__kv_bound_t *bound,
                               void **curp) {
        vstore_t *s = impl;
        vcursor_t *c = calloc(1, sizeof(*c));
        if (!c)
                return KS_ERR_NO_MEMORY;
        if (bound && bound->kind == KS__BOUND_INCL) {
                size_t len = bound->len + !reverse;
                if (!(c->limit = malloc(len ? len : 1)) ||
                    !(c->ropts = rocksdb_readoptions_create())) {
                        vs_cursor_close(c);
                        return KS_ERR_NO_MEMORY;
                }
                rocksdb_readoptions_set_snapshot(c->ropts, s->snap);
                if (bound->len)
                        memcpy(c->limit, bound->key, bound->len);
                if (reverse) {
                        rocksdb_readoptions_set_iterate_lower_bound(
                                c->ropts, c->limit, len);
                } else {
                        c->limit[bound->len] = 0;
                        rocksdb_readoptions_set_iterate_upper_bound(
                                c->ropts, c->limit, len);
                }
        }
        c->it = rocksdb_create_iterator_cf(
                s->db, c->ropts ? c->ropts : s->ropts, s->cf);
        if (!c->it) {
                vs_cursor_close(c);
                return KS_ERR_NO_MEMORY;
        }
        c->reverse = reverse;
        ks__rocks_iter_seek(c->it, reverse, seek, seeklen);
        *curp = c;
        return KS_ERR_NO_ERROR;
}

static int vs_cursor_next(void *cur, const void **kp, size_t *klp,
                          const void **vp, size_t *vlp, ks_err_t *errp) {
        vcursor_t *c = cur;
        return ks__rocks_iter_step(c->it, c->reverse, &c->started, kp, klp, vp,
                                   vlp, errp);
}

static uint64_t vs_count(void *impl) {
        vstore_t *s = impl;
        char *v = rocksdb_property_value_cf(s->db, s->cf,
                                            "rocksdb.estimate-num-keys");
        uint64_t n = v ? strtoull(v, NULL, 10) : 0;
        rocksdb_free(v);
        return n;
}

static void vs_close(void *impl) {
        vstore_t *s = impl;
        if (!s)
                return;
        rocksdb_free(s->last);
        if (s->ropts)
                rocksdb_readoptions_destroy(s->ropts);
        free(s);
}

static const ks__kv_backend_ops_t view_ops = {
        .name = "rocksdb-view",
        .get = vs_get,
        .put = vs_put,
        .cursor_open = vs_cursor_open,
        .cursor_next = vs_cursor_next,
        .cursor_close = vs_cursor_close,
        .delete_range = vs_delete_range,
        .approximate_count = vs_count,
        .close = vs_close,
};

const rocksdb_snapshot_t *ks__task_db_snapshot(ks__task_db_t *db) {
        return rocksdb_create_snapshot(db->db);
}

void ks__task_db_release_snapshot(ks__task_db_t *db,
                                  const rocksdb_snapshot_t *snap) {
        if (snap)
                rocksdb_release_snapshot(db->db, snap);
}

ks_err_t ks__store_view_open(ks__task_db_t *db, const rocksdb_snapshot_t *snap,
                             const ks__store_view_def_t *def,
                             const ks_config_t *conf,
                             ks__store_view_t **viewp) {
        if (def->type == KS_STORE_TYPE_VERSIONED_KV)
                return KS_ERR_STORE_TYPE;
        size_t i = 0;
        while (i < db->cf_cnt && strcmp(db->cf_names[i], def->name))
                i++;
        if (i == db->cf_cnt)
                return KS_ERR_NOT_FOUND;
        ks__store_view_t *v = calloc(1, sizeof(*v));
        vstore_t *s = calloc(1, sizeof(*s));
        if (!v || !s) {
                free(v);
                free(s);
                return KS_ERR_NO_MEMORY;
        }
        s->db = db->db;
        s->cf = db->cfs[i];
        s->snap = snap;
        if (!(s->ropts = rocksdb_readoptions_create())) {
                vs_close(s);
                free(v);
                return KS_ERR_NO_MEMORY;
        }
        rocksdb_readoptions_set_snapshot(s->ropts, s->snap);
        /* The handle closes the backend if it cannot be made; the typed
         * stores destroy the handle if they cannot. */
        v->kv = ks__kv_store_new(def->name, KS_STORE_ROCKSDB, &view_ops, s,
                                 conf);
        int ok = v->kv != NULL;
        if (ok && def->type == KS_STORE_TYPE_TIMESTAMPED_KV)
                ok = (v->timestamped = ks__timestamped_kv_store_new(v->kv)) !=
                     NULL;
        else if (ok && def->type == KS_STORE_TYPE_WINDOW)
                ok = (v->window = ks__window_store_new(
                              v->kv, def->retention_ms, def->window_size_ms,
                              def->retain_duplicates)) != NULL;
        else if (ok && def->type == KS_STORE_TYPE_SESSION)
                ok = (v->session = ks__session_store_new(
                              v->kv, def->retention_ms)) != NULL;
        if (!ok) {
                free(v);
                return KS_ERR_NO_MEMORY;
        }
        *viewp = v;
        return KS_ERR_NO_ERROR;
}

ks_kv_store_t *ks__store_view_kv(ks__store_view_t *v) {
        return v->kv;
}

ks_timestamped_kv_store_t *ks__store_view_timestamped(ks__store_view_t *v) {
        return v->timestamped;
}

ks_window_store_t *ks__store_view_window(ks__store_view_t *v) {
        return v->window;
}

ks_session_store_t *ks__store_view_session(ks__store_view_t *v) {
        return v->session;
}

void ks__store_view_close(ks__store_view_t *v) {
        if (!v)
                return;
        if (v->timestamped)
                ks__timestamped_kv_store_destroy(v->timestamped);
        else if (v->window)
                ks__window_store_destroy(v->window);
        else if (v->session)
                ks__session_store_destroy(v->session);
        else
                ks__kv_store_destroy(v->kv);
        free(v);
}
