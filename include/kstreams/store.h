/**
 * @file kstreams/store.h
 * @brief Key-value, timestamped key-value, versioned key-value, window and
 *        session state stores and their iterators.
 *
 * A store maps byte keys to byte values, ordered by unsigned lexicographic
 * key order (shorter prefix first), the same order in every backend:
 *  - KS_STORE_ROCKSDB: persistent; one RocksDB database per task, one column
 *    family per store, all stores sharing one block cache;
 *  - KS_STORE_IN_MEMORY: an ordered in-memory map, rebuilt from its
 *    changelog when its task moves.
 *
 * Stores are declared on the topology (topology.h) and reached by processors
 * through ks_context_get_kv_store(), ks_context_get_timestamped_kv_store(),
 * ks_context_get_versioned_kv_store(), ks_context_get_window_store() and
 * ks_context_get_session_store(). The
 * tables of the DSL (dsl.h) keep their rows in timestamped key-value
 * stores. Keys and values passed in are
 * copied; values and keys handed out are borrowed as each function says.
 * A null value (NULL pointer) never lives in a store: putting one deletes the
 * key, as in Kafka Streams.
 *
 * Errors: every function returns KS_ERR_STORE_CLOSED once the store is closed
 * (its task was closed); KS_ERR_STORE for a backend failure, whose message
 * is logged.
 *
 * Thread-safety: a store belongs to its task's stream thread; use it only
 * from that thread's processor callbacks.
 */
#ifndef KSTREAMS_STORE_H
#define KSTREAMS_STORE_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** Storage backends. */
typedef enum ks_store_backend_e {
        KS_STORE_ROCKSDB,
        KS_STORE_IN_MEMORY,
} ks_store_backend_t;

/** Store types. */
typedef enum ks_store_type_e {
        KS_STORE_TYPE_KEY_VALUE,      /**< ks_kv_store_t */
        KS_STORE_TYPE_WINDOW,         /**< ks_window_store_t */
        KS_STORE_TYPE_SESSION,        /**< ks_session_store_t */
        KS_STORE_TYPE_TIMESTAMPED_KV, /**< ks_timestamped_kv_store_t */
        KS_STORE_TYPE_VERSIONED_KV,   /**< ks_versioned_kv_store_t */
} ks_store_type_t;

/** @brief The store's name. Borrowed, valid while the store exists. */
KS_EXPORT const char *ks_kv_store_name(const ks_kv_store_t *store);

/** @brief Non-zero for a persistent (RocksDB) store. */
KS_EXPORT int ks_kv_store_persistent(const ks_kv_store_t *store);

/**
 * @brief Look up @p key.
 * @param valuep receives the value, borrowed until the next call on this
 *        store (copy it to keep it)
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_CLOSED,
 *          KS_ERR_STORE, KS_ERR_INVALID_ARG (NULL key).
 */
KS_EXPORT ks_err_t ks_kv_store_get(ks_kv_store_t *store, const void *key,
                                   size_t key_size, const void **valuep,
                                   size_t *value_sizep);

/**
 * @brief Set @p key to @p value (both copied). A NULL @p value deletes.
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_STORE,
 *          KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_kv_store_put(ks_kv_store_t *store, const void *key,
                                   size_t key_size, const void *value,
                                   size_t value_size);

/**
 * @brief Set @p key to @p value only if it has no value.
 * @param oldp if non-NULL, receives the existing value (borrowed until the
 *        next call on this store), or NULL when @p value was inserted.
 * @returns as ks_kv_store_put().
 */
KS_EXPORT ks_err_t ks_kv_store_put_if_absent(ks_kv_store_t *store,
                                             const void *key, size_t key_size,
                                             const void *value,
                                             size_t value_size,
                                             const void **oldp,
                                             size_t *old_sizep);

/**
 * @brief Delete @p key.
 * @param oldp if non-NULL, receives the value it had (borrowed until the next
 *        call on this store), or NULL if it had none.
 * @returns as ks_kv_store_put(); deleting an absent key is not an error.
 */
KS_EXPORT ks_err_t ks_kv_store_delete(ks_kv_store_t *store, const void *key,
                                      size_t key_size, const void **oldp,
                                      size_t *old_sizep);

/**
 * @brief Iterate keys in [@p from, @p to], both inclusive, ascending.
 *        NULL @p from starts at the first key, NULL @p to ends at the last.
 *        from > to gives an empty iterator.
 * @param iterp receives the iterator; free it with ks_kv_iter_destroy()
 *        before the store's task closes (a closed store ends its iterators).
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_NO_MEMORY,
 *          KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_kv_store_range(ks_kv_store_t *store, const void *from,
                                     size_t from_size, const void *to,
                                     size_t to_size, ks_kv_iter_t **iterp);

/** @brief As ks_kv_store_range(), descending. */
KS_EXPORT ks_err_t ks_kv_store_reverse_range(ks_kv_store_t *store,
                                             const void *from, size_t from_size,
                                             const void *to, size_t to_size,
                                             ks_kv_iter_t **iterp);

/** @brief Iterate every key that starts with @p prefix, ascending. */
KS_EXPORT ks_err_t ks_kv_store_prefix_scan(ks_kv_store_t *store,
                                           const void *prefix,
                                           size_t prefix_size,
                                           ks_kv_iter_t **iterp);

/** @brief Iterate the whole store, ascending. */
KS_EXPORT ks_err_t ks_kv_store_all(ks_kv_store_t *store, ks_kv_iter_t **iterp);

/** @brief Iterate the whole store, descending. */
KS_EXPORT ks_err_t ks_kv_store_reverse_all(ks_kv_store_t *store,
                                           ks_kv_iter_t **iterp);

/**
 * @brief An estimate of the number of keys: exact for in-memory stores,
 *        RocksDB's estimate (plus uncommitted writes) for persistent ones.
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED.
 */
KS_EXPORT ks_err_t ks_kv_store_approximate_num_entries(ks_kv_store_t *store,
                                                       uint64_t *countp);

/**
 * @brief Advance @p iter.
 * @returns 1 with the next entry in the outputs (borrowed until the next call
 *          on the iterator or its destruction), 0 at the end or on error
 *          (see ks_kv_iter_error()).
 */
KS_EXPORT int ks_kv_iter_next(ks_kv_iter_t *iter, const void **keyp,
                              size_t *key_sizep, const void **valuep,
                              size_t *value_sizep);

/**
 * @brief Why iteration stopped: KS_ERR_NO_ERROR at a normal end,
 *        KS_ERR_STORE_CLOSED if the store closed, KS_ERR_STORE on failure.
 */
KS_EXPORT ks_err_t ks_kv_iter_error(const ks_kv_iter_t *iter);

/** @brief Free @p iter. NULL is a no-op. */
KS_EXPORT void ks_kv_iter_destroy(ks_kv_iter_t *iter);

/*
 * Timestamped key-value stores.
 *
 * A timestamped key-value store (Kafka Streams' TimestampedKeyValueStore)
 * is a key-value store whose every value carries a timestamp in
 * milliseconds (any int64): the timestamp of the record that made the
 * value. The tables of the DSL keep their rows in such stores (global
 * tables excepted: their stores hold plain values), so a row read back, or
 * let out by the record cache, goes downstream with its own timestamp. It
 * is built on a key-value store of the same backends, which it owns; each
 * stored value is `be64 timestamp | value`, the bytes of Kafka Streams'
 * ValueAndTimestamp serialization, and the changelog carries these stored
 * bytes, so restoring one is a plain copy. The one exception is a DSL
 * table read from a topic (ks_builder_table()), whose store is restored
 * from that topic: each record's value is stored behind the record's
 * timestamp.
 *
 * Keys order, and every function behaves, as the key-value function of
 * the same name does, with a timestamp beside each value. A stored value
 * shorter than 8 bytes (written to the store's column family or changelog
 * by something else) is never read past its end: reads report it as
 * KS_ERR_STORE, naming the store in a log line. The ownership, thread and
 * closed-store rules are those of key-value stores above.
 */

/** @brief The store's name. Borrowed, valid while the store exists. */
KS_EXPORT const char *
ks_timestamped_kv_store_name(const ks_timestamped_kv_store_t *store);

/**
 * @brief Look up @p key.
 * @param valuep receives the value, borrowed until the next call on this
 *        store (copy it to keep it); may be NULL
 * @param timestampp receives the value's timestamp; may be NULL
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_CLOSED,
 *          KS_ERR_STORE (a backend failure, or a stored value shorter than
 *          its timestamp), KS_ERR_INVALID_ARG (NULL key).
 */
KS_EXPORT ks_err_t ks_timestamped_kv_store_get(ks_timestamped_kv_store_t *store,
                                               const void *key, size_t key_size,
                                               const void **valuep,
                                               size_t *value_sizep,
                                               int64_t *timestampp);

/**
 * @brief Set @p key to @p value (both copied) stamped @p timestamp. A NULL
 *        @p value deletes (the timestamp is then ignored).
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_STORE,
 *          KS_ERR_NO_MEMORY, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_timestamped_kv_store_put(ks_timestamped_kv_store_t *store,
                                               const void *key, size_t key_size,
                                               const void *value,
                                               size_t value_size,
                                               int64_t timestamp);

/**
 * @brief Set @p key to @p value stamped @p timestamp only if it has no
 *        value.
 * @param oldp if non-NULL, receives the existing value (borrowed until the
 *        next call on this store), or NULL when @p value was inserted.
 * @param old_timestampp if non-NULL, receives the existing value's
 *        timestamp (-1 when there was none).
 * @returns as ks_timestamped_kv_store_put(); KS_ERR_STORE when the existing
 *          value is shorter than its timestamp.
 */
KS_EXPORT ks_err_t ks_timestamped_kv_store_put_if_absent(
        ks_timestamped_kv_store_t *store, const void *key, size_t key_size,
        const void *value, size_t value_size, int64_t timestamp,
        const void **oldp, size_t *old_sizep, int64_t *old_timestampp);

/**
 * @brief Delete @p key.
 * @param oldp if non-NULL, receives the value it had (borrowed until the
 *        next call on this store), or NULL if it had none.
 * @param old_timestampp if non-NULL, receives that value's timestamp (-1
 *        when there was none).
 * @returns as ks_timestamped_kv_store_put(); deleting an absent key is not
 *          an error. KS_ERR_STORE when the old value is shorter than its
 *          timestamp (the key is then left as it was).
 */
KS_EXPORT ks_err_t ks_timestamped_kv_store_delete(
        ks_timestamped_kv_store_t *store, const void *key, size_t key_size,
        const void **oldp, size_t *old_sizep, int64_t *old_timestampp);

/**
 * @brief Iterate keys in [@p from, @p to], both inclusive, ascending, as
 *        ks_kv_store_range().
 * @param iterp receives the iterator; free it with
 *        ks_timestamped_kv_iter_destroy() before the store's task closes.
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_NO_MEMORY,
 *          KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_timestamped_kv_store_range(
        ks_timestamped_kv_store_t *store, const void *from, size_t from_size,
        const void *to, size_t to_size, ks_timestamped_kv_iter_t **iterp);

/** @brief As ks_timestamped_kv_store_range(), descending. */
KS_EXPORT ks_err_t ks_timestamped_kv_store_reverse_range(
        ks_timestamped_kv_store_t *store, const void *from, size_t from_size,
        const void *to, size_t to_size, ks_timestamped_kv_iter_t **iterp);

/** @brief Iterate every key that starts with @p prefix, ascending. */
KS_EXPORT ks_err_t ks_timestamped_kv_store_prefix_scan(
        ks_timestamped_kv_store_t *store, const void *prefix,
        size_t prefix_size, ks_timestamped_kv_iter_t **iterp);

/** @brief Iterate the whole store, ascending. */
KS_EXPORT ks_err_t ks_timestamped_kv_store_all(
        ks_timestamped_kv_store_t *store, ks_timestamped_kv_iter_t **iterp);

/** @brief Iterate the whole store, descending. */
KS_EXPORT ks_err_t ks_timestamped_kv_store_reverse_all(
        ks_timestamped_kv_store_t *store, ks_timestamped_kv_iter_t **iterp);

/**
 * @brief An estimate of the number of keys, as
 *        ks_kv_store_approximate_num_entries().
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_timestamped_kv_store_approximate_num_entries(
        ks_timestamped_kv_store_t *store, uint64_t *countp);

/**
 * @brief Advance @p iter.
 * @returns 1 with the next entry in the outputs (borrowed until the next
 *          call on the iterator or its destruction; any output may be
 *          NULL), 0 at the end or on error (see
 *          ks_timestamped_kv_iter_error()).
 */
KS_EXPORT int ks_timestamped_kv_iter_next(ks_timestamped_kv_iter_t *iter,
                                          const void **keyp, size_t *key_sizep,
                                          const void **valuep,
                                          size_t *value_sizep,
                                          int64_t *timestampp);

/**
 * @brief Why iteration stopped: KS_ERR_NO_ERROR at a normal end,
 *        KS_ERR_STORE_CLOSED if the store closed, KS_ERR_STORE on failure
 *        or at a stored value shorter than its timestamp (iteration stops
 *        there).
 */
KS_EXPORT ks_err_t
ks_timestamped_kv_iter_error(const ks_timestamped_kv_iter_t *iter);

/** @brief Free @p iter. NULL is a no-op. */
KS_EXPORT void ks_timestamped_kv_iter_destroy(ks_timestamped_kv_iter_t *iter);

/*
 * Versioned key-value stores.
 *
 * A versioned key-value store (Kafka Streams' VersionedKeyValueStore,
 * KIP-889) keeps, per key, the versions of its value over time: each put
 * at a timestamp (milliseconds, any int64) adds a version valid from that
 * timestamp until the next version's, and a delete adds a tombstone, a
 * version meaning "no value" from then on. Puts may come in any timestamp
 * order; a put at the timestamp of an existing version replaces it. Reads
 * ask for the latest version or for the version valid at a time
 * ("as of"), Kafka Streams' get(key) and get(key, asOfTimestamp).
 *
 * History retention: "observed stream time" is the largest timestamp put.
 * Versions are kept for reads as of any time at or after observed stream
 * time minus the history retention; a read as of an older time finds
 * nothing, and a put older than that is not stored (Kafka Streams'
 * PUT_RETURN_CODE_NOT_PUT). The latest version of a key is kept whatever
 * its age (a tombstone excepted). A put drops the versions of its key that
 * can no longer be read; those of a key not written again stay, unread,
 * until it is.
 *
 * It is built on a key-value store of the same backends, one entry per
 * version, which its changelog (compacted) carries as they are; observed
 * stream time is an entry of its own, so a restored store answers as the
 * original did. An entry that does not fit the layout (written to the
 * store's column family or changelog by something else) is KS_ERR_STORE,
 * logged naming the store, never read past its end.
 *
 * Values handed out are borrowed until the next call on the store. The
 * thread and closed-store rules are those of key-value stores above.
 */

/** ks_versioned_kv_store_put()'s *storedp: older than the history, not
 *  stored. */
#define KS_VERSIONED_NOT_PUT 0
/** Stored as the key's latest version (no later version exists). */
#define KS_VERSIONED_PUT_LATEST 1
/** Stored before a later version of the key (an out-of-order put). */
#define KS_VERSIONED_PUT_HISTORY 2

/** @brief The store's name. Borrowed, valid while the store exists. */
KS_EXPORT const char *
ks_versioned_kv_store_name(const ks_versioned_kv_store_t *store);

/** @brief The history retention in milliseconds (-1 for NULL). */
KS_EXPORT int64_t ks_versioned_kv_store_history_retention_ms(
        const ks_versioned_kv_store_t *store);

/**
 * @brief The store's observed stream time: the largest timestamp put
 *        (restored versions included); INT64_MIN before the first, or if
 *        the store is closed or cannot be read.
 */
KS_EXPORT int64_t
ks_versioned_kv_store_observed_stream_time(ks_versioned_kv_store_t *store);

/**
 * @brief Add a version of @p key valid from @p timestamp: @p value (both
 *        copied), or a tombstone when @p value is NULL. It replaces a
 *        version at the same timestamp. Nothing is stored when
 *        @p timestamp is older than observed stream time minus the history
 *        retention.
 * @param storedp if non-NULL, receives KS_VERSIONED_NOT_PUT,
 *        KS_VERSIONED_PUT_LATEST or KS_VERSIONED_PUT_HISTORY.
 * @returns KS_ERR_NO_ERROR (also when nothing is stored),
 *          KS_ERR_STORE_CLOSED, KS_ERR_STORE (a backend failure, or a
 *          stored entry of the key not in the layout: nothing is written),
 *          KS_ERR_NO_MEMORY, KS_ERR_INVALID_ARG (NULL key, a size with a
 *          NULL value).
 */
KS_EXPORT ks_err_t ks_versioned_kv_store_put(ks_versioned_kv_store_t *store,
                                             const void *key, size_t key_size,
                                             const void *value,
                                             size_t value_size,
                                             int64_t timestamp, int *storedp);

/**
 * @brief Add a tombstone of @p key at @p timestamp (a put of NULL), and
 *        hand out what was valid at @p timestamp before it.
 * @param oldp if non-NULL, receives that value (borrowed until the next
 *        call on this store), or NULL if there was none (nothing, a
 *        tombstone, or @p timestamp older than the history: then nothing
 *        is stored either).
 * @param old_timestampp if non-NULL, receives that value's timestamp (-1
 *        when there was none).
 * @returns as ks_versioned_kv_store_put().
 */
KS_EXPORT ks_err_t ks_versioned_kv_store_delete(
        ks_versioned_kv_store_t *store, const void *key, size_t key_size,
        int64_t timestamp, const void **oldp, size_t *old_sizep,
        int64_t *old_timestampp);

/**
 * @brief The latest version of @p key.
 * @param valuep receives the value, borrowed until the next call on this
 *        store (copy it to keep it); NULL when there is none. May be NULL.
 * @param timestampp receives the version's timestamp; may be NULL
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (no version, or the latest is
 *          a tombstone), KS_ERR_STORE_CLOSED, KS_ERR_STORE,
 *          KS_ERR_INVALID_ARG (NULL key).
 */
KS_EXPORT ks_err_t ks_versioned_kv_store_get(ks_versioned_kv_store_t *store,
                                             const void *key, size_t key_size,
                                             const void **valuep,
                                             size_t *value_sizep,
                                             int64_t *timestampp);

/**
 * @brief The version of @p key valid at @p as_of: the one with the largest
 *        timestamp at or before it.
 * @param valuep receives the value, borrowed until the next call on this
 *        store; NULL when there is none. May be NULL.
 * @param valid_fromp receives the version's timestamp; may be NULL
 * @param valid_top receives the next version's timestamp, INT64_MAX when
 *        it is the latest; may be NULL
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (no version at or before
 *          @p as_of, a tombstone there, or @p as_of older than observed
 *          stream time minus the history retention), KS_ERR_STORE_CLOSED,
 *          KS_ERR_STORE, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_versioned_kv_store_get_as_of(
        ks_versioned_kv_store_t *store, const void *key, size_t key_size,
        int64_t as_of, const void **valuep, size_t *value_sizep,
        int64_t *valid_fromp, int64_t *valid_top);

/*
 * Window stores.
 *
 * A window store keeps one value per (key, window start), the state of
 * windowed aggregations. It retains windows for its retention period:
 * "observed stream time" is the largest window start ever put (with a
 * value), and a window whose start is at or before observed stream time
 * minus the retention is expired. Puts of expired windows are dropped
 * (logged and counted, as in Kafka Streams) and reads never return them.
 * Window starts are milliseconds and may be negative (any int64).
 *
 * Storage is cut into time segments of max(retention / 2, 60 s) of window
 * starts. A segment is dropped whole (one range delete, in RocksDB written
 * with the task's next commit) as soon as every window it can hold has
 * expired, so a store holds about its retention's worth of windows plus
 * one segment; a read walks only the segments its time range needs. The
 * drop is not sent to the changelog topic: the topic's retention
 * (retention + windowstore.changelog.additional.retention.ms) removes the
 * expired records, and a restore drops what it brings back expired.
 *
 * With KS_STORE_F_RETAIN_DUPLICATES (the stores of stream-stream joins),
 * every put is kept, even of the same key and start: fetches return them
 * all, in put order within a start; a NULL value is ignored.
 *
 * The ownership, thread and closed-store rules are those of key-value stores
 * above; a window store is persistent or in-memory like them.
 */

/** @brief The store's name. Borrowed, valid while the store exists. */
KS_EXPORT const char *ks_window_store_name(const ks_window_store_t *store);

/** @brief The retention period in milliseconds. */
KS_EXPORT int64_t ks_window_store_retention_ms(const ks_window_store_t *store);

/**
 * @brief The store's observed stream time, the watermark its retention is
 *        measured from: the largest window start put (restored windows
 *        included); INT64_MIN before the first, or if the store is closed
 *        or cannot be read.
 */
KS_EXPORT int64_t
ks_window_store_observed_stream_time(ks_window_store_t *store);

/**
 * @brief Set the value of @p key in the window starting at @p window_start
 *        (both copied); a NULL @p value deletes it (is ignored when the store
 *        retains duplicates).
 * @returns KS_ERR_NO_ERROR (also when the window has expired and the put is
 *          dropped), KS_ERR_STORE_CLOSED, KS_ERR_STORE, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_window_store_put(ks_window_store_t *store,
                                       const void *key, size_t key_size,
                                       int64_t window_start, const void *value,
                                       size_t value_size);

/**
 * @brief The value of @p key in the window starting at @p window_start (the
 *        first one put, when the store retains duplicates).
 * @param valuep receives the value, borrowed until the next call on this
 *        store.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (none, or expired),
 *          KS_ERR_STORE_CLOSED, KS_ERR_STORE, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_window_store_fetch(ks_window_store_t *store,
                                         const void *key, size_t key_size,
                                         int64_t window_start,
                                         const void **valuep,
                                         size_t *value_sizep);

/**
 * @brief Iterate the windows of @p key whose start is in
 *        [@p time_from, @p time_to], both inclusive, by ascending start
 *        (duplicates of one start in put order).
 * @param iterp receives the iterator; free it with ks_window_iter_destroy()
 *        before the store's task closes.
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_NO_MEMORY,
 *          KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_window_store_fetch_range(ks_window_store_t *store,
                                               const void *key, size_t key_size,
                                               int64_t time_from,
                                               int64_t time_to,
                                               ks_window_iter_t **iterp);

/** @brief As ks_window_store_fetch_range(), by descending start (and
 *         duplicates of one start in reverse put order). */
KS_EXPORT ks_err_t ks_window_store_backward_fetch_range(
        ks_window_store_t *store, const void *key, size_t key_size,
        int64_t time_from, int64_t time_to, ks_window_iter_t **iterp);

/**
 * @brief Iterate every live window of every key, segment by segment (in
 *        time order); within a segment, keys in ascending order of (key
 *        length, key bytes), each key's windows by ascending start. Windows
 *        of one key in different segments are therefore not adjacent.
 * @returns as ks_window_store_fetch_range().
 */
KS_EXPORT ks_err_t ks_window_store_all(ks_window_store_t *store,
                                       ks_window_iter_t **iterp);

/**
 * @brief Iterate the windows of every key whose start is in
 *        [@p time_from, @p time_to], both inclusive, in the order of
 *        ks_window_store_all() (Kafka Streams' fetchAll(timeFrom, timeTo)).
 * @returns as ks_window_store_fetch_range().
 */
KS_EXPORT ks_err_t ks_window_store_fetch_all_range(ks_window_store_t *store,
                                                   int64_t time_from,
                                                   int64_t time_to,
                                                   ks_window_iter_t **iterp);

/**
 * @brief Advance @p iter.
 * @returns 1 with the next window in the outputs (borrowed until the next
 *          call on the iterator or its destruction), 0 at the end or on error
 *          (see ks_window_iter_error()).
 */
KS_EXPORT int ks_window_iter_next(ks_window_iter_t *iter, const void **keyp,
                                  size_t *key_sizep, int64_t *window_startp,
                                  const void **valuep, size_t *value_sizep);

/** @brief Why iteration stopped, as ks_kv_iter_error(). */
KS_EXPORT ks_err_t ks_window_iter_error(const ks_window_iter_t *iter);

/** @brief Free @p iter. NULL is a no-op. */
KS_EXPORT void ks_window_iter_destroy(ks_window_iter_t *iter);

/*
 * Session stores.
 *
 * A session store keeps one value per (key, session), a session being a
 * time interval [start, end] (milliseconds, start <= end, any int64), the
 * state of session-windowed aggregations. Retention applies to session
 * ends: observed stream time is the largest end ever put (with a value), a
 * session whose end is at or before observed stream time minus the
 * retention is expired, puts and removes of expired sessions are dropped
 * (logged and counted) and reads never return them. Storage is cut into
 * segments of session ends and dropped a segment at a time, as in window
 * stores, with the same changelog rules.
 *
 * The ownership, thread and closed-store rules are those of key-value stores
 * above; a session store is persistent or in-memory like them.
 */

/** @brief The store's name. Borrowed, valid while the store exists. */
KS_EXPORT const char *ks_session_store_name(const ks_session_store_t *store);

/** @brief The retention period in milliseconds. */
KS_EXPORT int64_t
ks_session_store_retention_ms(const ks_session_store_t *store);

/** @brief As ks_window_store_observed_stream_time(): the largest session
 *         end put. */
KS_EXPORT int64_t
ks_session_store_observed_stream_time(ks_session_store_t *store);

/**
 * @brief Set the value of @p key's session [@p start, @p end] (key and
 *        value copied); a NULL @p value removes the session.
 * @returns KS_ERR_NO_ERROR (also when the session has expired and the put is
 *          dropped), KS_ERR_STORE_CLOSED, KS_ERR_STORE, KS_ERR_INVALID_ARG
 *          (NULL key, @p start > @p end).
 */
KS_EXPORT ks_err_t ks_session_store_put(ks_session_store_t *store,
                                        const void *key, size_t key_size,
                                        int64_t start, int64_t end,
                                        const void *value, size_t value_size);

/** @brief Remove @p key's session [@p start, @p end]: as a put of NULL. */
KS_EXPORT ks_err_t ks_session_store_remove(ks_session_store_t *store,
                                           const void *key, size_t key_size,
                                           int64_t start, int64_t end);

/**
 * @brief The value of @p key's session [@p start, @p end], exactly.
 * @param valuep receives the value, borrowed until the next call on this
 *        store.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (none, or expired),
 *          KS_ERR_STORE_CLOSED, KS_ERR_STORE, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_session_store_fetch_session(
        ks_session_store_t *store, const void *key, size_t key_size,
        int64_t start, int64_t end, const void **valuep, size_t *value_sizep);

/**
 * @brief Iterate the live sessions of @p key that end at or after
 *        @p earliest_end and start at or before @p latest_start, by
 *        ascending end, then start (Kafka Streams' findSessions(key,
 *        earliestSessionEndTime, latestSessionStartTime)). A session
 *        aggregation with inactivity gap g finds the sessions a record at
 *        t merges with as find_sessions(key, t - g, t + g).
 * @param iterp receives the iterator; free it with ks_session_iter_destroy()
 *        before the store's task closes.
 * @returns KS_ERR_NO_ERROR, KS_ERR_STORE_CLOSED, KS_ERR_NO_MEMORY,
 *          KS_ERR_STORE, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_session_store_find_sessions(
        ks_session_store_t *store, const void *key, size_t key_size,
        int64_t earliest_end, int64_t latest_start, ks_session_iter_t **iterp);

/** @brief As ks_session_store_find_sessions(), by descending end, then
 *         start. */
KS_EXPORT ks_err_t ks_session_store_backward_find_sessions(
        ks_session_store_t *store, const void *key, size_t key_size,
        int64_t earliest_end, int64_t latest_start, ks_session_iter_t **iterp);

/**
 * @brief Iterate every live session of @p key, by ascending end, then start.
 * @returns as ks_session_store_find_sessions().
 */
KS_EXPORT ks_err_t ks_session_store_fetch(ks_session_store_t *store,
                                          const void *key, size_t key_size,
                                          ks_session_iter_t **iterp);

/**
 * @brief Iterate every live session of every key, segment by segment (in
 *        time order); within a segment, keys in ascending order of (key
 *        length, key bytes), each key's sessions by ascending end, then
 *        start.
 * @returns as ks_session_store_find_sessions().
 */
KS_EXPORT ks_err_t ks_session_store_all(ks_session_store_t *store,
                                        ks_session_iter_t **iterp);

/**
 * @brief Advance @p iter.
 * @returns 1 with the next session in the outputs (borrowed until the next
 *          call on the iterator or its destruction; any output may be NULL),
 *          0 at the end or on error (see ks_session_iter_error()).
 */
KS_EXPORT int ks_session_iter_next(ks_session_iter_t *iter, const void **keyp,
                                   size_t *key_sizep, int64_t *startp,
                                   int64_t *endp, const void **valuep,
                                   size_t *value_sizep);

/** @brief Why iteration stopped, as ks_kv_iter_error(). */
KS_EXPORT ks_err_t ks_session_iter_error(const ks_session_iter_t *iter);

/** @brief Free @p iter. NULL is a no-op. */
KS_EXPORT void ks_session_iter_destroy(ks_session_iter_t *iter);

KS_END_DECLS

#endif
