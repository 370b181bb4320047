/* Record caches in front of store handles (see record_cache_int.h).
 *
 * A cache is a chained hash table of entries (power-of-two buckets,
 * doubled when the entries outnumber them) threaded on a list from least
 * to most recently written. An entry holds a key's latest value or its
 * deletion (tomb), dirty until the listener has written it. Every entry
 * counts its key, value and CENTRY_OVERHEAD bytes against the budget; the
 * budget's `used` is the sum over the caches sharing it. */
#include "record_cache_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "store_int.h"

#define CENTRY_OVERHEAD 64 /* bookkeeping per entry, counted as used */

typedef struct centry_s {
        struct centry_s *hnext, *older, *newer;
        uint32_t hash;
        int dirty, tomb;
        int64_t ts;
        size_t klen, vlen;
        unsigned char *val;
        unsigned char key[];
} centry_t;

struct ks__record_cache_s {
        ks__cache_budget_t *budget;
        ks__cache_listener_cb *listener;
        void *opaque;
        centry_t **buckets;
        size_t nb, cnt;
        centry_t *oldest, *newest;
};

static int64_t centry_size(const centry_t *e) {
        return (int64_t)(e->klen + e->vlen + CENTRY_OVERHEAD);
}

static centry_t *cache_find(ks__record_cache_t *c, const void *key, size_t klen,
                            uint32_t h) {
        if (!c->nb)
                return NULL;
        for (centry_t *e = c->buckets[h & (c->nb - 1)]; e; e = e->hnext)
                if (e->hash == h && e->klen == klen &&
                    !memcmp(e->key, key, klen))
                        return e;
        return NULL;
}

static void lru_unlink(ks__record_cache_t *c, centry_t *e) {
        if (e->older)
                e->older->newer = e->newer;
        else
                c->oldest = e->newer;
        if (e->newer)
                e->newer->older = e->older;
        else
                c->newest = e->older;
        e->older = e->newer = NULL;
}

static void lru_push(ks__record_cache_t *c, centry_t *e) {
        e->older = c->newest;
        e->newer = NULL;
        if (c->newest)
                c->newest->newer = e;
        else
                c->oldest = e;
        c->newest = e;
}

static void cache_remove(ks__record_cache_t *c, centry_t *e) {
        centry_t **pp = &c->buckets[e->hash & (c->nb - 1)];
        while (*pp != e)
                pp = &(*pp)->hnext;
        *pp = e->hnext;
        lru_unlink(c, e);
        c->cnt--;
        c->budget->used -= centry_size(e);
        free(e->val);
        free(e);
}

static int cache_grow(ks__record_cache_t *c) {
        size_t nb = c->nb ? c->nb * 2 : 64;
        centry_t **b = calloc(nb, sizeof(*b));
        if (!b)
                return -1;
        for (size_t i = 0; i < c->nb; i++)
                for (centry_t *e = c->buckets[i], *nx; e; e = nx) {
                        nx = e->hnext;
                        e->hnext = b[e->hash & (nb - 1)];
                        b[e->hash & (nb - 1)] = e;
                }
        free(c->buckets);
        c->buckets = b;
        c->nb = nb;
        return 0;
}

ks_err_t ks__record_cache_attach(ks_kv_store_t *store,
                                 ks__cache_listener_cb *listener,
                                 void *opaque) {
        assert(!store->cache); /* one writer fronts a store */
        if (!store->cache_budget || store->cache_budget->max <= 0)
                return KS_ERR_NO_ERROR;
        ks__record_cache_t *c = calloc(1, sizeof(*c));
        if (!c)
                return KS_ERR_NO_MEMORY;
        c->budget = store->cache_budget;
        c->listener = listener;
        c->opaque = opaque;
        store->cache = c;
        return KS_ERR_NO_ERROR;
}

void ks__record_cache_detach(ks_kv_store_t *store) {
        ks__record_cache_t *c = store ? store->cache : NULL;
        if (!c)
                return;
        while (c->oldest)
                cache_remove(c, c->oldest);
        free(c->buckets);
        free(c);
        store->cache = NULL;
}

ks_err_t ks__record_cache_get(ks_kv_store_t *store, const void *key,
                              size_t klen, const void **valuep, size_t *vlenp) {
        ks__record_cache_t *c = store->cache;
        centry_t *e =
                c ? cache_find(c, key, klen, ks__fnv1a32(key, klen)) : NULL;
        if (c)
                *(e ? &c->budget->hits : &c->budget->misses) += 1;
        if (!e)
                return ks_kv_store_get(store, key, klen, valuep, vlenp);
        if (e->tomb)
                return KS_ERR_NOT_FOUND;
        *valuep = e->val;
        *vlenp = e->vlen;
        return KS_ERR_NO_ERROR;
}

int ks__record_cache_peek(ks__record_cache_t *c, const void *key, size_t klen,
                          const void **valuep, size_t *vlenp) {
        centry_t *e =
                c ? cache_find(c, key, klen, ks__fnv1a32(key, klen)) : NULL;
        if (c)
                *(e ? &c->budget->hits : &c->budget->misses) += 1;
        if (!e)
                return 0;
        *valuep = e->tomb ? NULL : e->val;
        *vlenp = e->tomb ? 0 : e->vlen;
        return 1;
}

static ks_err_t write_entry(ks__record_cache_t *c, centry_t *e, void *arg) {
        e->dirty = 0;
        return c->listener(c->opaque, arg, e->key, e->klen,
                           e->tomb ? NULL : e->val, e->vlen, e->ts);
}

ks_err_t ks__record_cache_put(ks__record_cache_t *c, const void *key,
                              size_t klen, const void *value, size_t vlen,
                              int64_t timestamp, void *arg) {
        uint32_t h = ks__fnv1a32(key, klen);
        centry_t *e = cache_find(c, key, klen, h);
        if (!e) {
                if (c->cnt >= c->nb && cache_grow(c))
                        return KS_ERR_NO_MEMORY;
                if (!(e = calloc(1, sizeof(*e) + klen)))
                        return KS_ERR_NO_MEMORY;
                memcpy(e->key, key, klen);
                e->klen = klen;
                e->hash = h;
                e->hnext = c->buckets[h & (c->nb - 1)];
                c->buckets[h & (c->nb - 1)] = e;
                c->cnt++;
        } else {
                lru_unlink(c, e);
                c->budget->used -= centry_size(e);
        }
        lru_push(c, e);
        unsigned char *v = value ? realloc(e->val, vlen ? vlen : 1) : e->val;
        if (!v && value) {
                c->budget->used += centry_size(e);
                cache_remove(c, e);
                return KS_ERR_NO_MEMORY;
        }
        if (value)
                memcpy(v, value, vlen);
        e->val = v;
        e->vlen = value ? vlen : 0;
        e->tomb = !value;
        e->dirty = 1;
        e->ts = timestamp;
        c->budget->used += centry_size(e);
        /* Over budget: let out the least recently written entries. */
        while (c->budget->used > c->budget->max && c->oldest &&
               c->oldest != e) {
                centry_t *old = c->oldest;
                ks_err_t err =
                        old->dirty ? write_entry(c, old, arg) : KS_ERR_NO_ERROR;
                cache_remove(c, old);
                if (err)
                        return err;
        }
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__record_cache_flush(ks__record_cache_t *c, void *arg) {
        for (centry_t *e = c->oldest; e; e = e->newer) {
                if (!e->dirty)
                        continue;
                ks_err_t err = write_entry(c, e, arg);
                if (err)
                        return err;
        }
        return KS_ERR_NO_ERROR;
}
