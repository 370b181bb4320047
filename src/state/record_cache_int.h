/* Record caches: the latest value per key of a store, held back in memory
 * so that a key written many times between two commits goes out once
 * (Kafka Streams' ThreadCache in front of a CachingKeyValueStore).
 *
 * A cache fronts one store handle (ks_kv_store_t.cache) and counts its
 * bytes against a budget shared by every cache of one stream thread (or of
 * the test driver): statestore.cache.max.bytes divided among the threads.
 * The task gives each store handle that budget when it opens the store;
 * whoever writes the store through a cache (a DSL step) attaches one and
 * receives, through a listener, every dirty entry the cache lets out: the
 * least recently written entries of that cache when a put goes over
 * budget, and every dirty entry, oldest first, when it is flushed (before
 * each commit). Detaching drops the entries unwritten.
 *
 * @locality the stream thread owning the store's task. */
#ifndef KS_RECORD_CACHE_INT_H
#define KS_RECORD_CACHE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kstreams/common.h"
#include "kstreams/error.h"

/** The record cache budget (statestore.cache.max.bytes) shared by the
 *  caches of the tasks of one stream thread (or of the test driver). */
typedef struct {
        int64_t used, max;
        uint64_t hits, misses; /* reads through the caches (metrics) */
} ks__cache_budget_t;

typedef struct ks__record_cache_s ks__record_cache_t;

/** Writes out one dirty entry the cache lets go: @p value NULL for a
 *  deletion, @p timestamp that of the entry's last put, @p arg the argument
 *  of the put or flush letting it go. The entry's bytes are borrowed for
 *  the call, which may read the cache but not write it. */
typedef ks_err_t(ks__cache_listener_cb)(void *opaque, void *arg,
                                        const void *key, size_t klen,
                                        const void *value, size_t vlen,
                                        int64_t timestamp);

/** Put a cache in front of @p store, sending what it lets out to
 *  @p listener. Without a budget on the store (or with 0 bytes) no cache is
 *  made and store->cache stays NULL. KS_ERR_NO_MEMORY on OOM. */
ks_err_t ks__record_cache_attach(ks_kv_store_t *store,
                                 ks__cache_listener_cb *listener, void *opaque);

/** Drop the cache in front of @p store, its dirty entries unwritten (the
 *  task closes: its last commit flushed them, or it abandons uncommitted
 *  work). No-op without a cache. */
void ks__record_cache_detach(ks_kv_store_t *store);

/** The current value of @p key: the cache's, else the store's. As
 *  ks_kv_store_get(); a value from the cache is borrowed until the cache's
 *  next put. */
ks_err_t ks__record_cache_get(ks_kv_store_t *store, const void *key,
                              size_t klen, const void **valuep, size_t *vlenp);

/** Whether @p cache (NULL: none) holds @p key: 1 with its value (NULL for
 *  a deletion; borrowed until the cache's next put), else 0. For a store
 *  whose cache keys are not the store's own keys (a window store's cache is
 *  keyed by windowed keys), where a miss must not fall through to the
 *  store. */
int ks__record_cache_peek(ks__record_cache_t *cache, const void *key,
                          size_t klen, const void **valuep, size_t *vlenp);

/** Set @p key to @p value (NULL: delete) in the cache, dirty, stamped
 *  @p timestamp; over budget, the least recently written other entries go
 *  out to the listener (with @p arg) first. The first listener error is
 *  returned. */
ks_err_t ks__record_cache_put(ks__record_cache_t *cache, const void *key,
                              size_t klen, const void *value, size_t vlen,
                              int64_t timestamp, void *arg);

/** Send every dirty entry to the listener (with @p arg), oldest first;
 *  the entries stay, clean, for reads. Stops at the first error. */
ks_err_t ks__record_cache_flush(ks__record_cache_t *cache, void *arg);

#endif
