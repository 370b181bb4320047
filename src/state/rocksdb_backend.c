/* The RocksDB key-value backend: one column family of a task database
 * (ks__rocksdb_store_ops). Point reads look at the staged writes first,
 * then the database; writes are staged for the next commit; restored
 * records go to the database's restore batch; cursors read the ordered
 * index of the staged writes over the database. A cursor with an
 * inclusive bound gives the database's iterator that bound, so that it
 * stops there instead of walking on over deletes (a RocksDB delete stays,
 * and is stepped over, until a compaction) to the next live key. */
#include "rocksdb_impl_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
        ks__task_db_t *db;
        rocksdb_column_family_handle_t *cf;
        size_t cfi;
        char *last; /* last value read from the database (rocksdb_free) */
        char *copy; /* last staged value handed out by get */
        size_t copycap;
} rstore_t;

void *ks__rocksdb_store_new(ks__task_db_t *db, const char *store) {
        for (size_t i = 0; i < db->cf_cnt; i++) {
                if (strcmp(db->cf_names[i], store))
                        continue;
                rstore_t *r = calloc(1, sizeof(*r));
                if (!r)
                        return NULL;
                r->db = db;
                r->cf = db->cfs[i];
                r->cfi = i;
                return r;
        }
        return NULL;
}

static ks_err_t rs_get(void *impl, const void *k, size_t kl, const void **vp,
                       size_t *vlp) {
        rstore_t *r = impl;
        const staged_t *e = ks__task_db_staged(r->db, r->cfi, k, kl);
        if (e) {
                if (e->tomb)
                        return KS_ERR_NOT_FOUND;
                /* A copy: the entry changes with the next put. */
                if (r->copycap < e->vlen || !r->copy) {
                        size_t cap = e->vlen < 64 ? 64 : e->vlen;
                        char *c = realloc(r->copy, cap);
                        if (!c)
                                return KS_ERR_NO_MEMORY;
                        r->copy = c;
                        r->copycap = cap;
                }
                memcpy(r->copy, e->data + e->klen, e->vlen);
                *vp = r->copy;
                *vlp = e->vlen;
                return KS_ERR_NO_ERROR;
        }
        char *err = NULL;
        size_t vl = 0;
        rocksdb_free(r->last);
        r->last = rocksdb_get_cf(r->db->db, r->db->env->ropts, r->cf, k, kl,
                                 &vl, &err);
        if (err) {
                rocksdb_free(err);
                return KS_ERR_STORE;
        }
        if (!r->last)
                return KS_ERR_NOT_FOUND;
        *vp = r->last;
        *vlp = vl;
        return KS_ERR_NO_ERROR;
}

static ks_err_t rs_put(void *impl, const void *k, size_t kl, const void *v,
                       size_t vl) {
        rstore_t *r = impl;
        return ks__task_db_stage(r->db, r->cfi, k, kl, v, vl);
}

static ks_err_t rs_restore_put(void *impl, const void *k, size_t kl,
                               const void *v, size_t vl) {
        rstore_t *r = impl;
        if (v)
                rocksdb_writebatch_put_cf(r->db->restore, r->cf, k, kl, v, vl);
        else
                rocksdb_writebatch_delete_cf(r->db->restore, r->cf, k, kl);
        r->db->unflushed[r->cfi] = 1;
        return KS_ERR_NO_ERROR;
}

static ks_err_t rs_delete_range(void *impl, const void *from, size_t fromlen,
                                const void *to, size_t tolen) {
        rstore_t *r = impl;
        return ks__task_db_stage_range(r->db, r->cfi, from, fromlen, to, tolen);
}

typedef struct {
        rocksdb_iterator_t *it;
        /* The iterator's bound and the read options pointing to it (both
         * outlive the iterator), or NULL. */
        rocksdb_readoptions_t *ropts;
        char *limit;
        int reverse;
        int started;
} rcursor_t;

static void rs_cursor_close(void *cur);

/* Bound the database iterator of @p c by @p bound: down to it (RocksDB's
 * lower bound is inclusive), or up to it (exclusive: to the key right
 * after it, itself followed by a zero byte). 0 on OOM. */
static int cursor_bound(rcursor_t *c, int reverse,
                        const ks__kv_bound_t *bound) {
        if (!bound || bound->kind != KS__BOUND_INCL)
                return 1;
        size_t len = bound->len + !reverse;
        if (!(c->limit = malloc(len ? len : 1)) ||
            !(c->ropts = rocksdb_readoptions_create()))
                return 0;
        if (bound->len)
                memcpy(c->limit, bound->key, bound->len);
        if (reverse) {
                rocksdb_readoptions_set_iterate_lower_bound(c->ropts, c->limit,
                                                            len);
        } else {
                c->limit[bound->len] = 0;
                rocksdb_readoptions_set_iterate_upper_bound(c->ropts, c->limit,
                                                            len);
        }
        return 1;
}

static ks_err_t rs_cursor_open(void *impl, int reverse, const void *seek,
                               size_t seeklen, const ks__kv_bound_t *bound,
                               void **curp) {
        rstore_t *r = impl;
        rcursor_t *c = calloc(1, sizeof(*c));
        if (!c)
                return KS_ERR_NO_MEMORY;
        if (!cursor_bound(c, reverse, bound)) {
                rs_cursor_close(c);
                return KS_ERR_NO_MEMORY;
        }
        ks__task_db_t *db = r->db;
        ks__task_db_index(db);
        rocksdb_iterator_t *base = rocksdb_create_iterator_cf(
                r->db->db, c->ropts ? c->ropts : r->db->env->ropts, r->cf);
        c->it = rocksdb_writebatch_wi_create_iterator_with_base_cf(r->db->wbwi,
                                                                   base, r->cf);
        c->reverse = reverse;
        ks__rocks_iter_seek(c->it, reverse, seek, seeklen);
        *curp = c;
        return KS_ERR_NO_ERROR;
}

static int rs_cursor_next(void *cur, const void **kp, size_t *klp,
                          const void **vp, size_t *vlp, ks_err_t *errp) {
        rcursor_t *c = cur;
        return ks__rocks_iter_step(c->it, c->reverse, &c->started, kp, klp, vp,
                                   vlp, errp);
}

static void rs_cursor_close(void *cur) {
        rcursor_t *c = cur;
        if (c->it)
                rocksdb_iter_destroy(c->it);
        if (c->ropts)
                rocksdb_readoptions_destroy(c->ropts);
        free(c->limit);
        free(c);
}

static uint64_t rs_count(void *impl) {
        rstore_t *r = impl;
        char *v = rocksdb_property_value_cf(r->db->db, r->cf,
                                            "rocksdb.estimate-num-keys");
        uint64_t n = v ? strtoull(v, NULL, 10) : 0;
        rocksdb_free(v);
        return n + (uint64_t)r->db->staged_cnt;
}

static void rs_close(void *impl) {
        rstore_t *r = impl;
        if (!r)
                return;
        rocksdb_free(r->last);
        free(r->copy);
        free(r);
}

const ks__kv_backend_ops_t ks__rocksdb_store_ops = {
        .name = "rocksdb",
        .get = rs_get,
        .put = rs_put,
        .restore_put = rs_restore_put,
        .cursor_open = rs_cursor_open,
        .cursor_next = rs_cursor_next,
        .cursor_close = rs_cursor_close,
        .delete_range = rs_delete_range,
        .approximate_count = rs_count,
        .close = rs_close,
};

void ks__rocks_iter_seek(rocksdb_iterator_t *it, int reverse, const void *seek,
                         size_t seeklen) {
        if (!reverse) {
                if (seek)
                        rocksdb_iter_seek(it, seek, seeklen);
                else
                        rocksdb_iter_seek_to_first(it);
        } else {
                if (seek)
                        rocksdb_iter_seek_for_prev(it, seek, seeklen);
                else
                        rocksdb_iter_seek_to_last(it);
        }
}

int ks__rocks_iter_step(rocksdb_iterator_t *it, int reverse, int *started,
                        const void **kp, size_t *klp, const void **vp,
                        size_t *vlp, ks_err_t *errp) {
        if (*started) {
                if (reverse)
                        rocksdb_iter_prev(it);
                else
                        rocksdb_iter_next(it);
        }
        *started = 1;
        if (!rocksdb_iter_valid(it)) {
                char *err = NULL;
                rocksdb_iter_get_error(it, &err);
                if (err) {
                        rocksdb_free(err);
                        *errp = KS_ERR_STORE;
                }
                return 0;
        }
        *kp = rocksdb_iter_key(it, klp);
        *vp = rocksdb_iter_value(it, vlp);
        return 1;
}
