/* State store internals: the generic store handle over a backend interface.
 *
 * A backend (RocksDB column family, in-memory skiplist) implements the small
 * ks__kv_backend_ops_t interface: point get/put, a range delete and a cursor
 * that seeks and walks in one direction. The generic layer above (kv_store.c)
 * adds what is common: argument checks, the closed state, range bounds, prefix
 * scans, put_if_absent/delete with old values, and tracking of open iterators
 * so a closing store ends them instead of leaving them dangling.
 *
 * Timestamped key-value, versioned key-value, window and session stores
 * (timestamped_kv_store.c, versioned_kv_store.c, window_store.c,
 * session_store.c) are built on such a handle and own it; the key-value
 * layer knows nothing of timestamps, versions or windows. Window and
 * session stores cut their keys into time segments (segments_int.h) and
 * drop expired segments whole with ks__kv_store_delete_range().
 *
 * Range deletes and reads: a backend may apply a range delete at once (in
 * memory) or hold it until the task's next commit (RocksDB, which writes
 * staged range deletes after the staged puts of the same commit). Until
 * then reads at the key-value level may still return keys of the range:
 * the callers (window and session stores) never read below the horizon
 * they dropped up to and never write into it, so they cannot tell. */
#ifndef KS_STORE_INT_H
#define KS_STORE_INT_H

#include <string.h>

#include "../common/util_int.h"
#include "kstreams/config.h"
#include "kstreams/store.h"
#include "../common/metrics_int.h"
#include "record_cache_int.h"

/* How far a cursor needs to go: nowhere in particular, up to a key
 * (inclusive; down to it for a reverse cursor), or while keys start with a
 * prefix (forward only). */
typedef enum {
        KS__BOUND_NONE,
        KS__BOUND_INCL,
        KS__BOUND_PREFIX,
} ks__bound_kind_t;

typedef struct {
        ks__bound_kind_t kind;
        const void *key;
        size_t len;
        size_t limit; /* the caller reads at most this many entries; 0: any */
} ks__kv_bound_t;

/** Is @p key (of a cursor walking in direction @p reverse) within
 *  @p bound? NULL: no bound. */
static inline int ks__kv_in_bound(const ks__kv_bound_t *bound, int reverse,
                                  const void *key, size_t klen) {
        if (!bound)
                return 1;
        switch (bound->kind) {
        case KS__BOUND_NONE:
                return 1;
        case KS__BOUND_PREFIX:
                return klen >= bound->len &&
                       (!bound->len || !memcmp(key, bound->key, bound->len));
        case KS__BOUND_INCL: {
                int c = ks__bytes_cmp(key, klen, bound->key, bound->len);
                return reverse ? c >= 0 : c <= 0;
        }
        }
        return 0;
}

typedef struct ks__kv_backend_ops_s {
        const char *name;
        /* Value borrowed until the next call on this backend instance. */
        ks_err_t (*get)(void *impl, const void *key, size_t klen,
                        const void **valuep, size_t *vlenp);
        /* value == NULL deletes. */
        ks_err_t (*put)(void *impl, const void *key, size_t klen,
                        const void *value, size_t vlen);
        /* As put, for a restore: nothing reads the store until the task's
         * next commit (NULL: put). */
        ks_err_t (*restore_put)(void *impl, const void *key, size_t klen,
                                const void *value, size_t vlen);
        /* Forward: position at the first key >= seek (NULL: first key).
         * Reverse: at the last key <= seek (NULL: last key). The cursor
         * need not go past @p bound (NULL: none; the caller stops there
         * itself, so a backend may ignore it). */
        ks_err_t (*cursor_open)(void *impl, int reverse, const void *seek,
                                size_t seeklen, const ks__kv_bound_t *bound,
                                void **curp);
        /* 1 and the entry (borrowed until the next call), or 0 at the end
         * (*errp set on failure). */
        int (*cursor_next)(void *cur, const void **keyp, size_t *klenp,
                           const void **valuep, size_t *vlenp, ks_err_t *errp);
        void (*cursor_close)(void *cur);
        /* Delete every key in [from, to) (half-open; from < to). Not a
         * write of the change log: see ks__kv_store_delete_range(). */
        ks_err_t (*delete_range)(void *impl, const void *from, size_t fromlen,
                                 const void *to, size_t tolen);
        uint64_t (*approximate_count)(void *impl);
        /* Release the backend instance. */
        void (*close)(void *impl);
} ks__kv_backend_ops_t;

struct ks_kv_store_s {
        char *name;
        ks_store_backend_t backend;
        const ks__kv_backend_ops_t *ops;
        void *impl;
        int closed;
        ks_kv_iter_t *iters; /* open iterators */
        void *scratch;       /* values handed out after the backend let go */
        size_t scratch_cap;
        const ks_config_t *conf;
        /* Change logging: called after every successful write through the
         * public API (value NULL for a delete). Restores write to the
         * backend directly and are not logged. */
        ks_err_t (*log)(void *opaque, const void *key, size_t klen,
                        const void *value, size_t vlen);
        void *log_opaque;
        /* The record cache budget of the store's task (NULL: no caches),
         * and the cache fronting the store, if its writer attached one:
         * readers of the store's latest state read through it
         * (ks__record_cache_get). */
        ks__cache_budget_t *cache_budget;
        ks__record_cache_t *cache;
        /* How a restored record becomes a stored value (NULL: as it is, a
         * changelog holding stored values). Set on the store of a table
         * restored from its source topic, whose records are plain values:
         * ks__timestamped_kv_restore_value() puts the record's timestamp
         * in front. The result is borrowed until the next call. */
        ks_err_t (*restore_value)(void *opaque, const void *value, size_t vlen,
                                  int64_t timestamp, const void **outp,
                                  size_t *outlenp);
        void *restore_opaque;
        /* A memo the DSL steps writing this store in its task share (the
         * two sides of a stream-stream join, over their outer store): the
         * smallest timestamp of what the store holds, when `memo_known`.
         * Reset with the handle: a task reopened after an abort starts
         * unknown. */
        int64_t memo;
        int memo_known;
        /* Recording level DEBUG: one meter per operation (KS__STORE_OP_*),
         * else NULL. */
        ks__meter_t *meters;
};

/** The operations a store's meters count. */
enum {
        KS__STORE_OP_PUT,
        KS__STORE_OP_GET,
        KS__STORE_OP_DELETE,
        KS__STORE_OP_RANGE, /* opening an iterator */
        KS__STORE_OPS
};

/** A store handle over @p impl (taken over; closed by ks__kv_store_close).
 *  NULL on OOM, in which case @p impl is closed. */
ks_kv_store_t *ks__kv_store_new(const char *name, ks_store_backend_t backend,
                                const ks__kv_backend_ops_t *ops, void *impl,
                                const ks_config_t *conf);

/** Close the backend and every open iterator, and drop the record cache
 *  (unwritten); the handle stays valid and answers KS_ERR_STORE_CLOSED.
 *  Idempotent. */
void ks__kv_store_close(ks_kv_store_t *store);

/** Close (if needed) and free the handle. NULL is a no-op. Open iterators
 *  stay valid as empty shells until destroyed. */
void ks__kv_store_destroy(ks_kv_store_t *store);

/** The first key at or after @p from that starts with @p prefix, copied
 *  into @p out (*foundp 1), or *foundp 0. Reads one key from the backend
 *  (a seek), not a range. KS_ERR_STORE_CLOSED, KS_ERR_NO_MEMORY. */
ks_err_t ks__kv_store_first(ks_kv_store_t *store, const void *from,
                            size_t fromlen, const void *prefix, size_t plen,
                            ks_buf_t *out, int *foundp);

/** As ks_kv_store_range() over [@p from, @p to] (both set), descending
 *  with @p reverse, for a caller that reads at most @p limit entries (0:
 *  any): a hint to the backend (an in-memory cursor copies no more than
 *  that); reading past it just ends the iteration.
 *  @returns as ks_kv_store_range(). */
ks_err_t ks__kv_store_range_limit(ks_kv_store_t *store, int reverse,
                                  const void *from, size_t from_size,
                                  const void *to, size_t to_size, size_t limit,
                                  ks_kv_iter_t **iterp);

/** Delete every key in [@p from, @p to) (half-open) of @p store, bypassing
 *  the change log: as in Kafka Streams, dropping an expired segment is not
 *  logged; the changelog topic's time retention removes those records.
 *  A RocksDB store applies it at the task's next commit, after the puts
 *  staged before it (see the note at the top on reads meanwhile); a task
 *  closing without a commit drops it with its other staged writes. A
 *  record cache in front of @p store is not told: the callers are window
 *  and session stores, and the one cache there is (a time-window step's,
 *  keyed by windowed key) only holds windows that are not late, whose
 *  starts are above the live horizon of the store.
 *  @returns KS_ERR_NO_ERROR (also for an empty range), KS_ERR_STORE_CLOSED,
 *           KS_ERR_NO_MEMORY, KS_ERR_INVALID_ARG.
 *  @locality the store's task thread. */
ks_err_t ks__kv_store_delete_range(ks_kv_store_t *store, const void *from,
                                   size_t fromlen, const void *to,
                                   size_t tolen);

/** Write one restored record (@p value NULL: a delete) to @p store around
 *  its change log, through its restore hook (restore_value) if it has
 *  one, @p timestamp being the record's. Nothing reads it before the
 *  task's next commit (RocksDB).
 *  @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_NO_MEMORY,
 *           KS_ERR_STORE. */
ks_err_t ks__kv_store_restore_put(ks_kv_store_t *store, const void *key,
                                  size_t klen, const void *value, size_t vlen,
                                  int64_t timestamp);

static inline const char *ks__store_type_name(ks_store_type_t type) {
        return type == KS_STORE_TYPE_WINDOW           ? "window"
               : type == KS_STORE_TYPE_SESSION        ? "session"
               : type == KS_STORE_TYPE_TIMESTAMPED_KV ? "timestamped key-value"
               : type == KS_STORE_TYPE_VERSIONED_KV   ? "versioned key-value"
                                                      : "key-value";
}

/* --- timestamped values ---------------------------------------------------
 * The stored value of a timestamped store (and of windowed aggregations):
 * be64 timestamp | value, Kafka Streams' ValueAndTimestamp serialization. */

#define KS__TS_VALUE_HEAD 8 /* the timestamp in front of a value */

/** Split stored value @p v (@p vl bytes): 1 with its timestamp and value
 *  (pointing into @p v), 0 if it is NULL or too short to hold one. */
static inline int ks__ts_value_split(const void *v, size_t vl, int64_t *tsp,
                                     const void **valuep, size_t *lenp) {
        if (!v || vl < KS__TS_VALUE_HEAD)
                return 0;
        *tsp = (int64_t)ks__be64_get(v);
        *valuep = (const uint8_t *)v + KS__TS_VALUE_HEAD;
        *lenp = vl - KS__TS_VALUE_HEAD;
        return 1;
}

/** Append the stored value of (@p ts, @p value) to @p out. */
ks_err_t ks__ts_value_append(ks_buf_t *out, int64_t ts, const void *value,
                             size_t vlen);

/** A timestamped key-value store built on @p kv, which it takes over as
 *  ks__window_store_new() does. NULL on OOM (@p kv destroyed). */
ks_timestamped_kv_store_t *ks__timestamped_kv_store_new(ks_kv_store_t *kv);

/** The key-value handle @p ts is built on (owned by @p ts), holding the
 *  stored values: restores, change logging, checkpoints and the record
 *  cache of a DSL table work on it. */
ks_kv_store_t *ks__timestamped_kv_store_kv(ks_timestamped_kv_store_t *ts);

/** Destroy the store and the key-value handle under it. NULL is a no-op. */
void ks__timestamped_kv_store_destroy(ks_timestamped_kv_store_t *ts);

/** Make restores of @p ts take plain values and put each record's
 *  timestamp in front (a table restored from its source topic). */
void ks__timestamped_kv_store_restore_from_source(
        ks_timestamped_kv_store_t *ts);

/** A versioned key-value store keeping @p history_ms of history, built on
 *  @p kv, which it takes over as ks__window_store_new() does. NULL on OOM
 *  (@p kv destroyed). */
ks_versioned_kv_store_t *ks__versioned_kv_store_new(ks_kv_store_t *kv,
                                                    int64_t history_ms);

/** The key-value handle @p vs is built on (owned by @p vs), holding one
 *  entry per version: restores, change logging and checkpoints work on
 *  it. */
ks_kv_store_t *ks__versioned_kv_store_kv(ks_versioned_kv_store_t *vs);

/** Destroy the store and the key-value handle under it. NULL is a no-op. */
void ks__versioned_kv_store_destroy(ks_versioned_kv_store_t *vs);

/** Puts not stored because they were older than the history. */
uint64_t ks__versioned_kv_store_expired_puts(const ks_versioned_kv_store_t *vs);

/** Bytes of scratch the store keeps between calls (values copied in and
 *  out, the versions a put drops). */
size_t ks__versioned_kv_store_scratch_bytes(const ks_versioned_kv_store_t *vs);

/** A window store built on @p kv, which it takes over: destroying the
 *  window store destroys @p kv. With @p retain_duplicates every put is
 *  kept (KS_STORE_F_RETAIN_DUPLICATES). NULL on OOM, in which case @p kv
 *  is destroyed. */
ks_window_store_t *ks__window_store_new(ks_kv_store_t *kv, int64_t retention_ms,
                                        int64_t window_size_ms,
                                        int retain_duplicates);

/** The key-value handle @p ws is built on (owned by @p ws): restores,
 *  change logging and checkpoints work on it as on any key-value store. */
ks_kv_store_t *ks__window_store_kv(ks_window_store_t *ws);

/** Destroy the window store and the key-value handle under it. NULL is a
 *  no-op. */
void ks__window_store_destroy(ks_window_store_t *ws);

/** Puts dropped because their window had expired. */
uint64_t ks__window_store_expired_puts(const ks_window_store_t *ws);

/** The store's observed stream time: the largest window start put (learnt
 *  from the stored windows on first use), INT64_MIN when there is none or
 *  when the stored windows cannot be read (the next call on the store
 *  reports that error). */
int64_t ks__window_store_observed(ks_window_store_t *ws);

/** A session store built on @p kv, which it takes over as
 *  ks__window_store_new() does. NULL on OOM (@p kv destroyed). */
ks_session_store_t *ks__session_store_new(ks_kv_store_t *kv,
                                          int64_t retention_ms);

/** The key-value handle @p ss is built on (owned by @p ss), as
 *  ks__window_store_kv(). */
ks_kv_store_t *ks__session_store_kv(ks_session_store_t *ss);

/** Destroy the session store and the key-value handle under it. NULL is a
 *  no-op. */
void ks__session_store_destroy(ks_session_store_t *ss);

/** Puts (and removes) dropped because their session had expired. */
uint64_t ks__session_store_expired_puts(const ks_session_store_t *ss);

/** The store's observed stream time: the largest session end put,
 *  INT64_MIN when none (as ks__window_store_observed()). */
int64_t ks__session_store_observed(ks_session_store_t *ss);

/** A new in-memory backend instance (NULL on OOM). */
void *ks__memory_store_new(void);
extern const ks__kv_backend_ops_t ks__memory_store_ops;

#endif
