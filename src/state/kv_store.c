/* Generic key-value store handle: checks, bounds and iterator tracking over a
 * backend (see store_int.h).
 *
 * Invariants: every open iterator is on its store's `iters` list and holds a
 * backend cursor; closing the store closes those cursors and detaches the
 * iterators (store = NULL), so nothing a user still holds can reach freed
 * backend memory. */
#include "store_int.h"

#include "kstreams/serde.h"

#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

struct ks_kv_iter_s {
        ks_kv_store_t *store;
        void *cur;
        ks__bound_kind_t bound_kind;
        int reverse;
        void *bound;
        size_t bound_len;
        ks_err_t err;
        int done;
        ks_kv_iter_t *prev, *next;
};

ks_kv_store_t *ks__kv_store_new(const char *name, ks_store_backend_t backend,
                                const ks__kv_backend_ops_t *ops, void *impl,
                                const ks_config_t *conf) {
        ks_kv_store_t *s = calloc(1, sizeof(*s));
        if (s)
                s->name = ks__strdup(name);
        if (!s || !s->name) {
                free(s);
                ops->close(impl);
                return NULL;
        }
        s->backend = backend;
        s->ops = ops;
        s->impl = impl;
        s->conf = conf;
        if (conf && ks__config_enum(conf, "metrics.recording.level") > 0 &&
            !(s->meters = calloc(KS__STORE_OPS, sizeof(*s->meters)))) {
                free(s->name);
                free(s);
                ops->close(impl);
                return NULL;
        }
        return s;
}

static void iter_detach(ks_kv_iter_t *it) {
        ks_kv_store_t *s = it->store;
        if (!s)
                return;
        if (it->cur)
                s->ops->cursor_close(it->cur);
        it->cur = NULL;
        if (it->prev)
                it->prev->next = it->next;
        else
                s->iters = it->next;
        if (it->next)
                it->next->prev = it->prev;
        it->prev = it->next = NULL;
        it->store = NULL;
}

void ks__kv_store_close(ks_kv_store_t *store) {
        if (!store || store->closed)
                return;
        while (store->iters) {
                ks_kv_iter_t *it = store->iters;
                iter_detach(it);
                if (!it->done) {
                        it->done = 1;
                        it->err = KS_ERR_STORE_CLOSED;
                }
        }
        ks__record_cache_detach(store);
        store->ops->close(store->impl);
        store->impl = NULL;
        store->closed = 1;
}

void ks__kv_store_destroy(ks_kv_store_t *store) {
        if (!store)
                return;
        ks__kv_store_close(store);
        free(store->scratch);
        free(store->name);
        free(store->meters);
        free(store);
}

const char *ks_kv_store_name(const ks_kv_store_t *store) {
        return store ? store->name : NULL;
}

int ks_kv_store_persistent(const ks_kv_store_t *store) {
        return store && store->backend == KS_STORE_ROCKSDB;
}

static ks_err_t check(const ks_kv_store_t *store, const void *key) {
        if (!store || !key)
                return KS_ERR_INVALID_ARG;
        if (store->closed)
                return KS_ERR_STORE_CLOSED;
        return KS_ERR_NO_ERROR;
}

/* Write through the backend, then to the change log (if any). */
static ks_err_t logged_put(ks_kv_store_t *store, const void *key, size_t klen,
                           const void *value, size_t vlen) {
        int64_t t0 = store->meters ? ks__now_ns() : 0;
        ks_err_t err = store->ops->put(store->impl, key, klen, value, vlen);
        if (store->meters)
                ks__meter_record(&store->meters[value ? KS__STORE_OP_PUT
                                                      : KS__STORE_OP_DELETE],
                                 1, ks__now_ns() - t0);
        if (err || !store->log)
                return err;
        return store->log(store->log_opaque, key, klen, value, vlen);
}

ks_err_t ks_kv_store_get(ks_kv_store_t *store, const void *key, size_t key_size,
                         const void **valuep, size_t *value_sizep) {
        ks_err_t err = check(store, key);
        if (err)
                return err;
        const void *v;
        size_t vl;
        int64_t t0 = store->meters ? ks__now_ns() : 0;
        err = store->ops->get(store->impl, key, key_size, &v, &vl);
        if (store->meters)
                ks__meter_record(&store->meters[KS__STORE_OP_GET], 1,
                                 ks__now_ns() - t0);
        if (err)
                return err;
        if (valuep)
                *valuep = v;
        if (value_sizep)
                *value_sizep = vl;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_kv_store_put(ks_kv_store_t *store, const void *key, size_t key_size,
                         const void *value, size_t value_size) {
        ks_err_t err = check(store, key);
        if (err)
                return err;
        if (!value && value_size)
                return KS_ERR_INVALID_ARG;
        return logged_put(store, key, key_size, value, value_size);
}

ks_err_t ks_kv_store_put_if_absent(ks_kv_store_t *store, const void *key,
                                   size_t key_size, const void *value,
                                   size_t value_size, const void **oldp,
                                   size_t *old_sizep) {
        ks_err_t err = check(store, key);
        if (err)
                return err;
        const void *old;
        size_t oldlen;
        err = store->ops->get(store->impl, key, key_size, &old, &oldlen);
        if (err == KS_ERR_NO_ERROR) {
                if (oldp)
                        *oldp = old;
                if (old_sizep)
                        *old_sizep = oldlen;
                return KS_ERR_NO_ERROR;
        }
        if (err != KS_ERR_NOT_FOUND)
                return err;
        if (oldp)
                *oldp = NULL;
        if (old_sizep)
                *old_sizep = 0;
        if (!value)
                return KS_ERR_NO_ERROR;
        return logged_put(store, key, key_size, value, value_size);
}

/* Copy @p len bytes into the handle's scratch buffer, which holds values
 * handed out after the backend no longer has them (deleted old values). */
static const void *scratch_copy(ks_kv_store_t *store, const void *p,
                                size_t len) {
        if (len + 1 > store->scratch_cap) {
                void *n = realloc(store->scratch, len + 1);
                if (!n)
                        return NULL;
                store->scratch = n;
                store->scratch_cap = len + 1;
        }
        memcpy(store->scratch, p, len);
        return store->scratch;
}

ks_err_t ks_kv_store_delete(ks_kv_store_t *store, const void *key,
                            size_t key_size, const void **oldp,
                            size_t *old_sizep) {
        ks_err_t err = check(store, key);
        if (err)
                return err;
        const void *old = NULL;
        size_t oldlen = 0;
        if (oldp || old_sizep) {
                err = store->ops->get(store->impl, key, key_size, &old,
                                      &oldlen);
                if (err == KS_ERR_NOT_FOUND) {
                        old = NULL;
                        oldlen = 0;
                } else if (err) {
                        return err;
                } else if (!(old = scratch_copy(store, old, oldlen))) {
                        return KS_ERR_NO_MEMORY;
                }
        }
        err = logged_put(store, key, key_size, NULL, 0);
        if (err)
                return err;
        if (oldp)
                *oldp = old;
        if (old_sizep)
                *old_sizep = oldlen;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__kv_store_delete_range(ks_kv_store_t *store, const void *from,
                                   size_t fromlen, const void *to,
                                   size_t tolen) {
        if (!store || !from || !to)
                return KS_ERR_INVALID_ARG;
        if (store->closed)
                return KS_ERR_STORE_CLOSED;
        if (ks__bytes_cmp(from, fromlen, to, tolen) >= 0)
                return KS_ERR_NO_ERROR;
        return store->ops->delete_range(store->impl, from, fromlen, to, tolen);
}

ks_err_t ks__kv_store_first(ks_kv_store_t *store, const void *from,
                            size_t fromlen, const void *prefix, size_t plen,
                            ks_buf_t *out, int *foundp) {
        if (!store || !from || !out || !foundp)
                return KS_ERR_INVALID_ARG;
        if (store->closed)
                return KS_ERR_STORE_CLOSED;
        *foundp = 0;
        ks__kv_bound_t bound = {KS__BOUND_PREFIX, prefix, plen, 1};
        void *cur;
        ks_err_t err = store->ops->cursor_open(store->impl, 0, from, fromlen,
                                               &bound, &cur);
        if (err)
                return err;
        const void *k, *v;
        size_t kl, vl;
        if (store->ops->cursor_next(cur, &k, &kl, &v, &vl, &err) &&
            ks__kv_in_bound(&bound, 0, k, kl)) {
                err = ks_buf_append(out, k, kl);
                *foundp = !err;
        }
        store->ops->cursor_close(cur);
        return err;
}

ks_err_t ks__kv_store_restore_put(ks_kv_store_t *store, const void *key,
                                  size_t klen, const void *value, size_t vlen,
                                  int64_t timestamp) {
        if (!store || !key)
                return KS_ERR_INVALID_ARG;
        if (store->closed)
                return KS_ERR_STORE_CLOSED;
        if (value && store->restore_value) {
                ks_err_t err =
                        store->restore_value(store->restore_opaque, value, vlen,
                                             timestamp, &value, &vlen);
                if (err)
                        return err;
        }
        return (store->ops->restore_put ? store->ops->restore_put
                                        : store->ops->put)(
                store->impl, key, klen, value, value ? vlen : 0);
}

static ks_err_t iter_open_(ks_kv_store_t *store, int reverse, const void *seek,
                           size_t seeklen, ks__bound_kind_t bk,
                           const void *bound, size_t bound_len, int empty,
                           size_t limit, ks_kv_iter_t **iterp);

static ks_err_t iter_open(ks_kv_store_t *store, int reverse, const void *seek,
                          size_t seeklen, ks__bound_kind_t bk,
                          const void *bound, size_t bound_len, int empty,
                          size_t limit, ks_kv_iter_t **iterp) {
        if (!store || !store->meters)
                return iter_open_(store, reverse, seek, seeklen, bk, bound,
                                  bound_len, empty, limit, iterp);
        int64_t t0 = ks__now_ns();
        ks_err_t err = iter_open_(store, reverse, seek, seeklen, bk, bound,
                                  bound_len, empty, limit, iterp);
        ks__meter_record(&store->meters[KS__STORE_OP_RANGE], 1,
                         ks__now_ns() - t0);
        return err;
}

static ks_err_t iter_open_(ks_kv_store_t *store, int reverse, const void *seek,
                           size_t seeklen, ks__bound_kind_t bk,
                           const void *bound, size_t bound_len, int empty,
                           size_t limit, ks_kv_iter_t **iterp) {
        if (!store || !iterp)
                return KS_ERR_INVALID_ARG;
        if (store->closed)
                return KS_ERR_STORE_CLOSED;
        ks_kv_iter_t *it = calloc(1, sizeof(*it));
        if (!it)
                return KS_ERR_NO_MEMORY;
        it->reverse = reverse;
        it->bound_kind = bk;
        if (bk != KS__BOUND_NONE) {
                it->bound = malloc(bound_len + 1);
                if (!it->bound) {
                        free(it);
                        return KS_ERR_NO_MEMORY;
                }
                if (bound_len)
                        memcpy(it->bound, bound, bound_len);
                it->bound_len = bound_len;
        }
        if (empty) {
                it->done = 1;
        } else {
                ks__kv_bound_t b = {bk, it->bound, bound_len, limit};
                ks_err_t err = store->ops->cursor_open(
                        store->impl, reverse, seek, seeklen, &b, &it->cur);
                if (err) {
                        free(it->bound);
                        free(it);
                        return err;
                }
                it->store = store;
                it->next = store->iters;
                if (store->iters)
                        store->iters->prev = it;
                store->iters = it;
        }
        *iterp = it;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_kv_store_range(ks_kv_store_t *store, const void *from,
                           size_t from_size, const void *to, size_t to_size,
                           ks_kv_iter_t **iterp) {
        int empty =
                from && to && ks__bytes_cmp(from, from_size, to, to_size) > 0;
        return iter_open(store, 0, from, from_size,
                         to ? KS__BOUND_INCL : KS__BOUND_NONE, to, to_size,
                         empty, 0, iterp);
}

ks_err_t ks_kv_store_reverse_range(ks_kv_store_t *store, const void *from,
                                   size_t from_size, const void *to,
                                   size_t to_size, ks_kv_iter_t **iterp) {
        int empty =
                from && to && ks__bytes_cmp(from, from_size, to, to_size) > 0;
        return iter_open(store, 1, to, to_size,
                         from ? KS__BOUND_INCL : KS__BOUND_NONE, from,
                         from_size, empty, 0, iterp);
}

ks_err_t ks__kv_store_range_limit(ks_kv_store_t *store, int reverse,
                                  const void *from, size_t from_size,
                                  const void *to, size_t to_size, size_t limit,
                                  ks_kv_iter_t **iterp) {
        if (!from || !to)
                return KS_ERR_INVALID_ARG;
        int empty = ks__bytes_cmp(from, from_size, to, to_size) > 0;
        return reverse ? iter_open(store, 1, to, to_size, KS__BOUND_INCL, from,
                                   from_size, empty, limit, iterp)
                       : iter_open(store, 0, from, from_size, KS__BOUND_INCL,
                                   to, to_size, empty, limit, iterp);
}

ks_err_t ks_kv_store_prefix_scan(ks_kv_store_t *store, const void *prefix,
                                 size_t prefix_size, ks_kv_iter_t **iterp) {
        if (!prefix && prefix_size)
                return KS_ERR_INVALID_ARG;
        static const char empty_prefix[1];
        if (!prefix)
                prefix = empty_prefix;
        return iter_open(store, 0, prefix, prefix_size, KS__BOUND_PREFIX,
                         prefix, prefix_size, 0, 0, iterp);
}

ks_err_t ks_kv_store_all(ks_kv_store_t *store, ks_kv_iter_t **iterp) {
        return iter_open(store, 0, NULL, 0, KS__BOUND_NONE, NULL, 0, 0, 0,
                         iterp);
}

ks_err_t ks_kv_store_reverse_all(ks_kv_store_t *store, ks_kv_iter_t **iterp) {
        return iter_open(store, 1, NULL, 0, KS__BOUND_NONE, NULL, 0, 0, 0,
                         iterp);
}

ks_err_t ks_kv_store_approximate_num_entries(ks_kv_store_t *store,
                                             uint64_t *countp) {
        if (!store || !countp)
                return KS_ERR_INVALID_ARG;
        if (store->closed)
                return KS_ERR_STORE_CLOSED;
        *countp = store->ops->approximate_count(store->impl);
        return KS_ERR_NO_ERROR;
}

/* Is @p key still inside the iterator's bound? */
static int in_bound(const ks_kv_iter_t *it, const void *key, size_t klen) {
        ks__kv_bound_t b = {it->bound_kind, it->bound, it->bound_len, 0};
        return ks__kv_in_bound(&b, it->reverse, key, klen);
}

int ks_kv_iter_next(ks_kv_iter_t *iter, const void **keyp, size_t *key_sizep,
                    const void **valuep, size_t *value_sizep) {
        if (!iter || iter->done)
                return 0;
        const void *k, *v;
        size_t kl, vl;
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!iter->store->ops->cursor_next(iter->cur, &k, &kl, &v, &vl, &err) ||
            !in_bound(iter, k, kl)) {
                iter->done = 1;
                iter->err = err;
                iter_detach(iter);
                return 0;
        }
        if (keyp)
                *keyp = k;
        if (key_sizep)
                *key_sizep = kl;
        if (valuep)
                *valuep = v;
        if (value_sizep)
                *value_sizep = vl;
        return 1;
}

ks_err_t ks_kv_iter_error(const ks_kv_iter_t *iter) {
        return iter ? iter->err : KS_ERR_INVALID_ARG;
}

void ks_kv_iter_destroy(ks_kv_iter_t *iter) {
        if (!iter)
                return;
        iter_detach(iter);
        free(iter->bound);
        free(iter);
}
