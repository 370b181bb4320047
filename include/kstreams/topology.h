/**
 * @file kstreams/topology.h
 * @brief Building a processor topology: sources, processors, sinks and state
 *        stores.
 *
 * Nodes are added by name; parents may be named before they are added, and
 * ks_topology_build() (called for you by the test driver and the runtime)
 * resolves names and validates the whole graph: unknown parents, cycles,
 * stores connected to nothing, children of sinks. Duplicate names, bad topic
 * names and a topic used by two sources are refused as they are added.
 *
 * The graph is split into sub-topologies: connected components of the parent
 * edges and store connections. Each sub-topology runs as one task per input
 * partition, "<sub-topology>_<partition>".
 *
 * Ownership: the topology takes its own reference to every serde; the caller
 * keeps its own. A topology is reference counted: the test driver and the
 * application keep it alive while they run, so the caller may destroy its
 * reference at any time.
 *
 * Thread-safety: build from one thread. A built topology is immutable and
 * may be shared.
 */
#ifndef KSTREAMS_TOPOLOGY_H
#define KSTREAMS_TOPOLOGY_H

#include "common.h"
#include "error.h"
#include "processor.h"
#include "serde.h"
#include "store.h"

KS_BEGIN_DECLS

/**
 * A timestamp extractor.
 * @param record_timestamp the timestamp Kafka carried
 * @param partition_time   the largest timestamp seen on this partition, -1
 *                         before the first record
 * @returns the record's timestamp; a negative one is invalid and handled as
 *          default.timestamp.extractor says.
 */
typedef int64_t(ks_timestamp_extractor_cb)(void *opaque, const char *topic,
                                           int32_t partition, const void *key,
                                           size_t key_size, const void *value,
                                           size_t value_size,
                                           int64_t record_timestamp,
                                           int64_t partition_time);

/**
 * A sink partitioner.
 * @returns the partition in [0, partition_cnt), or -1 for the default
 *          (murmur2 of the key, as the Java client).
 */
typedef int32_t(ks_partitioner_cb)(void *opaque, const char *topic,
                                   const void *key, size_t key_size,
                                   const void *value, size_t value_size,
                                   int32_t partition_cnt);

/** Store flags for ks_topology_add_kv_store() and the other store adders. */
#define KS_STORE_F_LOGGING_DISABLED 0x1 /**< no changelog topic */
/** Window stores only: keep every put, even of the same key and window
 *  start (the window stores of stream-stream joins; see store.h). */
#define KS_STORE_F_RETAIN_DUPLICATES 0x2

/** @brief A new, empty topology (NULL when out of memory). */
KS_EXPORT ks_topology_t *ks_topology_new(void);

/**
 * @brief Add a source reading @p topic_cnt topics.
 * @param key_serde,value_serde validate incoming data (NULL: bytes)
 * @returns KS_ERR_NO_ERROR; KS_ERR_TOPOLOGY for a duplicate node name or a
 *          topic another source reads; KS_ERR_INVALID_ARG for an invalid
 *          topic name or no topics; KS_ERR_STATE once built.
 */
KS_EXPORT ks_err_t ks_topology_add_source(ks_topology_t *topo, const char *name,
                                          const char *const *topics,
                                          size_t topic_cnt,
                                          ks_serde_t *key_serde,
                                          ks_serde_t *value_serde,
                                          ks_error_t **errp);

/**
 * @brief Use @p cb to extract timestamps of records read by source @p source
 *        (default: default.timestamp.extractor).
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (no such source), KS_ERR_STATE.
 */
KS_EXPORT ks_err_t ks_topology_source_set_timestamp_extractor(
        ks_topology_t *topo, const char *source, ks_timestamp_extractor_cb *cb,
        void *opaque, ks_error_t **errp);

/**
 * @brief Add a processor.
 * @param init,close may be NULL; process may not
 * @param parents names of at least one parent (sources or processors)
 * @returns KS_ERR_NO_ERROR; KS_ERR_TOPOLOGY (duplicate name, no parent);
 *          KS_ERR_INVALID_ARG; KS_ERR_STATE once built.
 */
KS_EXPORT ks_err_t ks_topology_add_processor(
        ks_topology_t *topo, const char *name, ks_processor_init_cb *init,
        ks_processor_process_cb *process, ks_processor_close_cb *close,
        void *opaque, const char *const *parents, size_t parent_cnt,
        ks_error_t **errp);

/**
 * @brief Add a sink writing to @p topic.
 * @param key_serde,value_serde validate outgoing data (NULL: bytes)
 * @returns as ks_topology_add_processor(); KS_ERR_INVALID_ARG for an invalid
 *          topic name.
 */
KS_EXPORT ks_err_t ks_topology_add_sink(ks_topology_t *topo, const char *name,
                                        const char *topic,
                                        ks_serde_t *key_serde,
                                        ks_serde_t *value_serde,
                                        const char *const *parents,
                                        size_t parent_cnt, ks_error_t **errp);

/**
 * @brief Choose partitions of sink @p sink with @p cb.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (no such sink), KS_ERR_STATE.
 */
KS_EXPORT ks_err_t ks_topology_sink_set_partitioner(ks_topology_t *topo,
                                                    const char *sink,
                                                    ks_partitioner_cb *cb,
                                                    void *opaque,
                                                    ks_error_t **errp);

/**
 * @brief Add a key-value store.
 * @param backend KS_STORE_ROCKSDB or KS_STORE_IN_MEMORY
 * @param flags   0 or KS_STORE_F_LOGGING_DISABLED (KS_STORE_F_RETAIN_DUPLICATES
 *                is KS_ERR_INVALID_ARG)
 * @returns KS_ERR_NO_ERROR; KS_ERR_TOPOLOGY for a duplicate store name;
 *          KS_ERR_INVALID_ARG for a name that cannot be part of a topic name
 *          (it names the changelog topic); KS_ERR_STATE once built.
 */
KS_EXPORT ks_err_t ks_topology_add_kv_store(ks_topology_t *topo,
                                            const char *name,
                                            ks_store_backend_t backend,
                                            int flags, ks_error_t **errp);

/**
 * @brief Add a timestamped key-value store (see store.h): a key-value store
 *        whose values carry a timestamp, the kind of store the DSL's tables
 *        keep their rows in. Its changelog topic is compacted, as a
 *        key-value store's.
 * @param backend KS_STORE_ROCKSDB or KS_STORE_IN_MEMORY
 * @param flags   0 or KS_STORE_F_LOGGING_DISABLED (KS_STORE_F_RETAIN_DUPLICATES
 *                is KS_ERR_INVALID_ARG)
 * @returns as ks_topology_add_kv_store().
 */
KS_EXPORT ks_err_t ks_topology_add_timestamped_kv_store(
        ks_topology_t *topo, const char *name, ks_store_backend_t backend,
        int flags, ks_error_t **errp);

/**
 * @brief Add a versioned key-value store (see store.h) keeping each key's
 *        versions for reads as of @p history_retention_ms of stream time
 *        back. Its changelog topic is compacted (each version is a key of
 *        its own there).
 * @param backend KS_STORE_ROCKSDB or KS_STORE_IN_MEMORY
 * @param flags   0 or KS_STORE_F_LOGGING_DISABLED (KS_STORE_F_RETAIN_DUPLICATES
 *                is KS_ERR_INVALID_ARG)
 * @returns as ks_topology_add_kv_store(); KS_ERR_INVALID_ARG when the
 *          history retention is not positive.
 */
KS_EXPORT ks_err_t ks_topology_add_versioned_kv_store(
        ks_topology_t *topo, const char *name, ks_store_backend_t backend,
        int64_t history_retention_ms, int flags, ks_error_t **errp);

/**
 * @brief Add a window store (see store.h) keeping windows of
 *        @p window_size_ms for @p retention_ms of stream time.
 * @param backend KS_STORE_ROCKSDB or KS_STORE_IN_MEMORY
 * @param flags   0, KS_STORE_F_LOGGING_DISABLED, KS_STORE_F_RETAIN_DUPLICATES
 *                or both. The changelog topic is created with
 *                cleanup.policy compact,delete and retention.ms @p
 *                retention_ms + windowstore.changelog.additional.retention.ms.
 * @returns as ks_topology_add_kv_store(); KS_ERR_INVALID_ARG when the window
 *          size is not positive or the retention is shorter than it.
 */
KS_EXPORT ks_err_t ks_topology_add_window_store(ks_topology_t *topo,
                                                const char *name,
                                                ks_store_backend_t backend,
                                                int64_t retention_ms,
                                                int64_t window_size_ms,
                                                int flags, ks_error_t **errp);

/**
 * @brief Add a session store (see store.h) keeping sessions for
 *        @p retention_ms of stream time after their end.
 * @param backend KS_STORE_ROCKSDB or KS_STORE_IN_MEMORY
 * @param flags   0 or KS_STORE_F_LOGGING_DISABLED. The changelog topic is
 *                created as a window store's.
 * @returns as ks_topology_add_kv_store(); KS_ERR_INVALID_ARG when the
 *          retention is not positive or @p flags holds
 *          KS_STORE_F_RETAIN_DUPLICATES.
 */
KS_EXPORT ks_err_t ks_topology_add_session_store(ks_topology_t *topo,
                                                 const char *name,
                                                 ks_store_backend_t backend,
                                                 int64_t retention_ms,
                                                 int flags, ks_error_t **errp);

/**
 * @brief Give processor @p processor access to store @p store. Both names are
 *        resolved by ks_topology_build().
 * @returns KS_ERR_NO_ERROR, KS_ERR_INVALID_ARG, KS_ERR_NO_MEMORY,
 *          KS_ERR_STATE.
 */
KS_EXPORT ks_err_t ks_topology_connect_store(ks_topology_t *topo,
                                             const char *store,
                                             const char *processor,
                                             ks_error_t **errp);

/**
 * @brief Resolve and validate the graph and compute the sub-topologies.
 *        Idempotent; after success the topology cannot change.
 * @returns KS_ERR_NO_ERROR or KS_ERR_TOPOLOGY with a message naming the node,
 *          store or topic at fault (the topology stays editable then).
 */
KS_EXPORT ks_err_t ks_topology_build(ks_topology_t *topo, ks_error_t **errp);

/**
 * @brief Describe the topology as Kafka Streams' Topology#describe() does:
 *        sub-topologies, nodes with their topics, stores and edges. Builds it
 *        if needed.
 * @param outp receives a string to free with ks_free()
 * @returns KS_ERR_NO_ERROR, or the build error.
 */
KS_EXPORT ks_err_t ks_topology_describe(ks_topology_t *topo, char **outp,
                                        ks_error_t **errp);

/**
 * @brief The topology as a Graphviz DOT graph: each sub-topology a cluster
 *        of its sources, processors and sinks, topics as ellipses (internal
 *        ones dashed) linking the sub-topologies, state stores as
 *        cylinders, global stores with their topics. Render it with
 *        `dot -Tsvg`. Builds the topology if needed.
 * @param outp receives a string to free with ks_free()
 * @returns KS_ERR_NO_ERROR, or the build error.
 */
KS_EXPORT ks_err_t ks_topology_describe_dot(ks_topology_t *topo, char **outp,
                                            ks_error_t **errp);

/** @brief Number of sub-topologies (builds it if needed; 0 if invalid). */
KS_EXPORT size_t ks_topology_subtopology_count(ks_topology_t *topo);

/** @brief Release a reference to @p topo. NULL is a no-op. */
KS_EXPORT void ks_topology_destroy(ks_topology_t *topo);

/**
 * @brief The number of internal topics of a built topology: one changelog
 *        per logged store.
 */
KS_EXPORT size_t ks_topology_internal_topic_count(const ks_topology_t *topo);

/**
 * @brief Internal topic @p i of application @p app_id.
 * @param buf            receives the topic name
 *                       ("<app_id>-<store>-changelog")
 * @param source_topicp  if non-NULL, receives a source topic of the store's
 *                       sub-topology (borrowed): the internal topic has as
 *                       many partitions as it has
 * @returns KS_ERR_NO_ERROR; KS_ERR_STATE before ks_topology_build();
 *          KS_ERR_INVALID_ARG for @p i out of range or a @p buf too small.
 */
KS_EXPORT ks_err_t ks_topology_internal_topic(const ks_topology_t *topo,
                                              const char *app_id, size_t i,
                                              char *buf, size_t size,
                                              const char **source_topicp);

KS_END_DECLS

#endif
