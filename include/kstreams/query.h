/**
 * @file kstreams/query.h
 * @brief Interactive queries: read-only lookups of an instance's state
 *        stores from any thread, and which instance holds a key (the
 *        counterpart of Kafka Streams' KafkaStreams#store() and
 *        queryMetadataForKey()).
 *
 * What a query sees: the state of the task holding the key's partition as
 * of its last commit the group accepted (every commit.interval.ms, 30 s by
 * default), or as restored when the task started. A processor's writes
 * since, what record caches hold, and a commit whose offsets the group
 * refused are not seen, so a key's value never goes back. Each task is
 * read from the RocksDB snapshot it published then, so an iterator never
 * sees half a commit. Only persistent
 * (RocksDB) key-value, timestamped key-value, window and session stores
 * can be queried: an in-memory store, or a versioned one, answers
 * KS_ERR_STORE_TYPE.
 *
 * Errors common to every call here (in *errp with a message naming the
 * store, key partition or state):
 *  - KS_ERR_NOT_FOUND: no store of that name in the topology;
 *  - KS_ERR_STATE: the app is not RUNNING or REBALANCING;
 *  - KS_ERR_STORE_TYPE: the store cannot answer this query;
 *  - KS_ERR_STORE_MIGRATED: the key's partition is not held by this
 *    instance (ask ks_app_query_metadata_for_key() who holds it), or the
 *    task holding it closed (a rebalance) while an iterator was open;
 *  - KS_ERR_STORE_RESTORING: the task holding it is not yet running
 *    (initializing or restoring its stores): retry later.
 * Both STORE_MIGRATED and STORE_RESTORING are retriable
 * (ks_error_is_retriable()).
 *
 * Thread-safety: every function may be called from any thread, at the same
 * time as processing, commits, rebalances and restores, while the app
 * exists. An iterator belongs to one thread at a time, and must be
 * destroyed before ks_app_destroy(). A query never blocks the stream
 * threads for longer than one store read (a point lookup or one iterator
 * step).
 */
#ifndef KSTREAMS_QUERY_H
#define KSTREAMS_QUERY_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** An iterator over query results (see ks_query_iter_next()). */
typedef struct ks_query_iter_s ks_query_iter_t;

/**
 * @brief One key of key-value store @p store, as this instance holds it.
 * @param key    the serialized key (the bytes the store is keyed by); the
 *        key's partition is murmur2 of these bytes, as the producer's
 *        default partitioner, over the partitions of the store's input
 *        topics; only the task of that partition is read.
 * @param value  receives a malloc'd copy of the value (the caller free()s
 *        it), or NULL when the key is absent; for a timestamped store (a
 *        DSL table or aggregation), the value without its timestamp.
 * @param vlen   receives the value's length (0 when absent).
 * @param ts     may be NULL; receives the value's timestamp (timestamped
 *        stores), or -1 where the store keeps none or the key is absent.
 * @returns KS_ERR_NO_ERROR (found or absent), KS_ERR_INVALID_ARG (NULL
 *          argument), KS_ERR_NO_MEMORY, KS_ERR_STORE (a read failed, or a
 *          stored value too short for its timestamp), or an error listed
 *          at the top.
 */
KS_EXPORT ks_err_t ks_app_query_kv(ks_app_t *app, const char *store,
                                   const void *key, size_t klen, void **value,
                                   size_t *vlen, int64_t *ts,
                                   ks_error_t **errp);

/**
 * @brief Iterate the keys of key-value store @p store in [@p from, @p to]
 *        (both inclusive; a NULL bound is open) held by this instance.
 *
 * Iterators over several tasks go task by task, by ascending partition,
 * each task's keys in ascending order of their bytes: keys are not in one
 * global order (each key is in exactly one partition, so nothing is
 * repeated). Each task is read from a snapshot taken when the iterator
 * reaches it. The iterator covers the tasks held when it is made; every
 * one of them must be running (else KS_ERR_STORE_RESTORING).
 * @returns the iterator (ks_query_iter_destroy()), or NULL with *errp set.
 */
KS_EXPORT ks_query_iter_t *ks_app_query_kv_range(ks_app_t *app,
                                                 const char *store,
                                                 const void *from, size_t flen,
                                                 const void *to, size_t tlen,
                                                 ks_error_t **errp);

/** @brief As ks_app_query_kv_range(), the keys starting with @p prefix. */
KS_EXPORT ks_query_iter_t *
ks_app_query_kv_prefix(ks_app_t *app, const char *store, const void *prefix,
                       size_t plen, ks_error_t **errp);

/** @brief As ks_app_query_kv_range(), every key this instance holds. */
KS_EXPORT ks_query_iter_t *ks_app_query_kv_all(ks_app_t *app, const char *store,
                                               ks_error_t **errp);

/**
 * @brief The windows of @p key in window store @p store whose start is in
 *        [@p time_from, @p time_to] (both inclusive), by ascending start;
 *        only the task of the key's partition is read (as
 *        ks_app_query_kv()). Each entry's start and end are the window's
 *        (end = start + the window size). The values are the stored bytes:
 *        a DSL windowed aggregation stores `be64 timestamp | aggregate`
 *        (the result's timestamp, then the aggregate).
 * @returns the iterator, or NULL with *errp set.
 */
KS_EXPORT ks_query_iter_t *
ks_app_query_window_fetch(ks_app_t *app, const char *store, const void *key,
                          size_t klen, int64_t time_from, int64_t time_to,
                          ks_error_t **errp);

/**
 * @brief The live sessions of @p key in session store @p store, by
 *        ascending end, then start; start and end are the session's. Values
 *        as ks_app_query_window_fetch().
 * @returns the iterator, or NULL with *errp set.
 */
KS_EXPORT ks_query_iter_t *
ks_app_query_session_fetch(ks_app_t *app, const char *store, const void *key,
                           size_t klen, ks_error_t **errp);

/**
 * @brief Advance @p it.
 * @param key, klen, value, vlen receive the entry (any may be NULL),
 *        borrowed until the next call on @p it or its destruction; for a
 *        timestamped store, the value without its timestamp.
 * @param start, end may be NULL; the window's or session's start and end,
 *        -1 for key-value entries.
 * @returns 1 with an entry, 0 at the end, -1 on error with *errp set:
 *          KS_ERR_STORE_MIGRATED when a task the iterator reads closed
 *          since it was made (a rebalance took it), KS_ERR_STORE on a read
 *          failure. After -1 or 0 the iterator gives nothing more.
 */
KS_EXPORT int ks_query_iter_next(ks_query_iter_t *it, const void **key,
                                 size_t *klen, const void **value, size_t *vlen,
                                 int64_t *start, int64_t *end,
                                 ks_error_t **errp);

/** @brief Free @p it (releasing its snapshot). NULL is a no-op. */
KS_EXPORT void ks_query_iter_destroy(ks_query_iter_t *it);

/**
 * @brief Which instance holds @p key of @p store: the key's partition
 *        (murmur2 of the key bytes over the partitions of the store's
 *        input topics, as ks_app_query_kv()) and the application.server
 *        ("host:port") of the instance whose stream thread is that
 *        partition's active owner.
 *
 * Owners are learnt in the background from the consumer group's
 * description (see docs/operations.md, "Interactive queries") after each
 * rebalance; this call never asks the cluster.
 * @param host      receives the owner's application.server
 *        (NUL-terminated; truncated to @p host_size - 1).
 * @param partition may be NULL; receives the key's partition.
 * @param is_local  may be NULL; 1 when the owner is this instance.
 * @returns KS_ERR_NO_ERROR; KS_ERR_NOT_FOUND for an unknown store, or
 *          when the owner is not known (yet): during a rebalance, before
 *          the first description, or when the owner advertises no
 *          application.server (retriable); KS_ERR_STATE when this instance
 *          has no application.server or the app is not RUNNING or
 *          REBALANCING.
 */
KS_EXPORT ks_err_t ks_app_query_metadata_for_key(
        ks_app_t *app, const char *store, const void *key, size_t klen,
        char *host, size_t host_size, int32_t *partition, int *is_local,
        ks_error_t **errp);

KS_END_DECLS

#endif
