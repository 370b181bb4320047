/**
 * @file kstreams/dsl.h
 * @brief The streams and tables DSL: a builder of record streams and
 *        changelog tables that compiles to a processor topology.
 *
 * A builder makes a ks_topology_t, as Kafka Streams' StreamsBuilder does:
 * every operation adds processors (and stores, internal topics) to it, and
 * ks_topology_describe() shows them. Records stay byte slices: callbacks get
 * the record (processor.h) and answer through an emitter.
 *
 * Handles: streams, tables, grouped streams and splits belong to their
 * builder and stay valid until ks_builder_destroy(). An operation on a NULL
 * handle returns NULL, so calls chain without checks: the first error is
 * kept and ks_builder_build() reports it, naming the step.
 *
 * Naming: every step takes a name (NULL: a default). Defaults are Kafka
 * Streams' "KSTREAM-FILTER-0000000003": a kind and the step's index in the
 * builder. A named step still takes its index, so naming one step never
 * changes the default names of the others. Stores default to
 * "KSTREAM-AGGREGATE-STATE-STORE-<index>"; internal topics are named
 * "<application.id>-<name>-repartition" and "<application.id>-<store>-
 * changelog", where <application.id> is filled in when an application (or
 * the test driver) runs the topology; one topology serves one
 * application.id.
 *
 * Serdes: a stream carries the serdes it was read with, or those set with
 * ks_stream_with_serdes(); sinks and repartition topics check records with
 * them (NULL: bytes, anything goes). Operations that make new keys or
 * values (map, map_values, aggregations) drop the serde they replace.
 * Counts are 8-byte big-endian integers (ks_int64_decode()).
 *
 * Null keys and values follow Kafka Streams: filter, map and friends see
 * them like any record; aggregations and to_table skip records with a null
 * key, and aggregations also those with a null value; group_by drops
 * records its key selector maps to a null key; table operations pass
 * tombstones (null values) on as tombstones without calling the callback.
 *
 * Thread-safety: build on one thread. Callbacks run on the stream thread
 * of the task processing the record, one record at a time per task; a
 * callback shared by several tasks must be safe to call from several
 * threads (they get the same opaque pointer).
 */
#ifndef KSTREAMS_DSL_H
#define KSTREAMS_DSL_H

#include "common.h"
#include "error.h"
#include "processor.h"
#include "serde.h"
#include "topology.h"
#include "windows.h"

KS_BEGIN_DECLS

/** A builder of streams and tables. */
typedef struct ks_builder_s ks_builder_t;
/** A record stream (KStream). */
typedef struct ks_stream_s ks_stream_t;
/** A changelog table (KTable): the latest value per key. */
typedef struct ks_table_s ks_table_t;
/** A stream grouped by key, ready for aggregation (KGroupedStream). */
typedef struct ks_grouped_stream_s ks_grouped_stream_t;
/** A table regrouped by a new key, ready for aggregation
 *  (KGroupedTable). */
typedef struct ks_grouped_table_s ks_grouped_table_t;
/** A global table: every instance holds all of it (GlobalKTable). */
typedef struct ks_global_table_s ks_global_table_t;
/** A stream split into branches (BranchedKStream). */
typedef struct ks_split_s ks_split_t;
/** Where a mapper puts the records it makes. */
typedef struct ks_emitter_s ks_emitter_t;
/** A grouped stream cut into windows, ready for a windowed aggregation
 *  (TimeWindowedKStream, SessionWindowedKStream). */
typedef struct ks_windowed_stream_s ks_windowed_stream_t;

/** @name Callbacks
 * @p opaque is the pointer given with the callback; @p rec is borrowed for
 * the call (processor.h).
 * @{ */

/** A predicate: non-zero keeps the record. */
typedef int(ks_predicate_cb)(void *opaque, const ks_record_t *rec);

/**
 * A mapper: makes records from @p rec with ks_emit(), ks_emit_value() or
 * ks_emit_key() (which one, and how many times, depends on the operation).
 * @returns KS_ERR_NO_ERROR, or an error that stops the task (add detail
 *          with ks_emitter_set_error()).
 */
typedef ks_err_t(ks_mapper_cb)(void *opaque, const ks_record_t *rec,
                               ks_emitter_t *out);

/** An action on a record (peek, foreach). */
typedef void(ks_action_cb)(void *opaque, const ks_record_t *rec);

/** The initial aggregate of a new key: write it into @p agg (empty). */
typedef ks_err_t(ks_initializer_cb)(void *opaque, ks_buf_t *agg);

/**
 * Fold @p rec into aggregate @p agg: write the new aggregate into @p out
 * (empty). For reduce, @p agg is the value so far and @p rec the new one.
 */
typedef ks_err_t(ks_aggregator_cb)(void *opaque, const ks_record_t *rec,
                                   const void *agg, size_t agg_size,
                                   ks_buf_t *out);

/**
 * A value joiner: the joined value of @p left and @p right into @p out
 * (empty). A side without a match is NULL (left and outer joins).
 */
typedef ks_err_t(ks_value_joiner_cb)(void *opaque, const void *left,
                                     size_t left_size, const void *right,
                                     size_t right_size, ks_buf_t *out);

/**
 * Merge two session aggregates of one key into @p out (empty), when a
 * record bridges their sessions: @p agg1 is the aggregate so far, @p agg2
 * that of a session merged into it.
 */
typedef ks_err_t(ks_merger_cb)(void *opaque, const void *key, size_t key_size,
                               const void *agg1, size_t agg1_size,
                               const void *agg2, size_t agg2_size,
                               ks_buf_t *out);

/** The topic a record goes to (per-record ks_stream_to_dynamic()); NULL
 *  drops the record with an error. */
typedef const char *(ks_topic_extractor_cb)(void *opaque,
                                            const ks_record_t *rec);
/** @} */

/** @name Emitter
 * Used inside a mapper only. The key and value are copied (or forwarded at
 * once); NULL means a null key or value.
 * @{ */
/** @brief Emit a record with a new key and value (map, flat_map). */
KS_EXPORT ks_err_t ks_emit(ks_emitter_t *out, const void *key, size_t key_size,
                           const void *value, size_t value_size);
/** @brief Emit a new value for the input key (map_values,
 *         flat_map_values). */
KS_EXPORT ks_err_t ks_emit_value(ks_emitter_t *out, const void *value,
                                 size_t value_size);
/** @brief Emit a new key for the input value (select_key, group_by). */
KS_EXPORT ks_err_t ks_emit_key(ks_emitter_t *out, const void *key,
                               size_t key_size);
/** @brief Attach a message to the error the mapper is about to return.
 *         Returns KS_ERR_PROCESSOR. */
KS_EXPORT ks_err_t ks_emitter_set_error(ks_emitter_t *out, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;
/** @} */

/** @name Builder
 * @{ */
/** @brief A new builder (NULL when out of memory). */
KS_EXPORT ks_builder_t *ks_builder_new(void);

/**
 * @brief A stream of the records of @p topic_cnt topics.
 * @param key_serde,value_serde the records' serdes (NULL: bytes); the
 *        builder takes its own references
 * @param name the source's name (NULL: "KSTREAM-SOURCE-<index>")
 */
KS_EXPORT ks_stream_t *
ks_builder_stream(ks_builder_t *b, const char *const *topics, size_t topic_cnt,
                  ks_serde_t *key_serde, ks_serde_t *value_serde,
                  const char *name);

/**
 * @brief A table materialized from @p topic: the latest value per key, a
 *        tombstone deletes. The topic itself is the store's changelog
 *        (no changelog topic is written): a new owner of a task restores
 *        the store from the topic up to the committed input offset.
 *        Records with a null key are skipped.
 * @param store_name the store (NULL: "<topic>-STATE-STORE-<index>")
 */
KS_EXPORT ks_table_t *ks_builder_table(ks_builder_t *b, const char *topic,
                                       ks_serde_t *key_serde,
                                       ks_serde_t *value_serde,
                                       const char *store_name);

/**
 * @brief A versioned table materialized from @p topic (KIP-914): its store
 *        keeps, per key, the versions of its value over time, for
 *        @p history_retention_ms of stream time back (store.h), so a
 *        stream-table join reads the row valid at each stream record's
 *        timestamp. Every update is stored at its record's timestamp; it
 *        goes downstream only when it is the key's latest version (an
 *        update older than the key's latest is kept in the history and
 *        not forwarded; one older than the history is dropped, counted
 *        as late). Records with a null key are skipped. Unlike
 *        ks_builder_table(), the store has a changelog topic of its own
 *        ("<application.id>-<store>-changelog", compacted): its entries
 *        are versions, not the topic's records. Table-table and
 *        foreign-key joins do not take a versioned table yet (the builder
 *        reports it); filter, map_values, to_stream, group_by and
 *        suppression work on its changes as on any table's.
 * @param store_name the store (NULL: "<topic>-STATE-STORE-<index>")
 * @param history_retention_ms > 0, else the builder fails
 *        (KS_ERR_INVALID_ARG)
 */
KS_EXPORT ks_table_t *ks_builder_versioned_table(ks_builder_t *b,
                                                 const char *topic,
                                                 ks_serde_t *key_serde,
                                                 ks_serde_t *value_serde,
                                                 const char *store_name,
                                                 int64_t history_retention_ms);

/**
 * @brief A global table of @p topic: every instance of the application reads
 *        all of its partitions into a local store (in memory), before
 *        ks_app_start() returns, and keeps it up to date from a thread of
 *        its own while the application runs. Only joins read it; it makes
 *        no tasks and no changelog (the topic is its log). Null keys are
 *        skipped, tombstones delete.
 * @param store_name the store (NULL: "<topic>-STATE-STORE-<index>")
 */
KS_EXPORT ks_global_table_t *ks_builder_global_table(ks_builder_t *b,
                                                     const char *topic,
                                                     ks_serde_t *key_serde,
                                                     ks_serde_t *value_serde,
                                                     const char *store_name);

/** @brief The store of a global table (borrowed). */
KS_EXPORT const char *ks_global_table_store_name(const ks_global_table_t *g);

/**
 * @brief Build the topology.
 * @param topop receives a new reference (free with ks_topology_destroy());
 *        the builder keeps working handles but takes no more steps.
 * @returns KS_ERR_NO_ERROR, the first error of a step (its message names
 *          the step), or the error of ks_topology_build().
 */
KS_EXPORT ks_err_t ks_builder_build(ks_builder_t *b, ks_topology_t **topop,
                                    ks_error_t **errp);

/** @brief Free the builder and every handle it made. NULL is a no-op. A
 *         topology it built lives on. */
KS_EXPORT void ks_builder_destroy(ks_builder_t *b);
/** @} */

/** @name Stateless stream operations
 * Each returns the new stream, or NULL (see above).
 * @{ */
/** @brief The records @p pred keeps. */
KS_EXPORT ks_stream_t *ks_stream_filter(ks_stream_t *s, ks_predicate_cb *pred,
                                        void *opaque, const char *name);
/** @brief The records @p pred does not keep. */
KS_EXPORT ks_stream_t *ks_stream_filter_not(ks_stream_t *s,
                                            ks_predicate_cb *pred, void *opaque,
                                            const char *name);
/** @brief One record per input: @p mapper calls ks_emit() exactly once.
 *         Marks the stream for repartitioning before grouping. */
KS_EXPORT ks_stream_t *ks_stream_map(ks_stream_t *s, ks_mapper_cb *mapper,
                                     void *opaque, const char *name);
/** @brief One new value per input: ks_emit_value() exactly once. */
KS_EXPORT ks_stream_t *ks_stream_map_values(ks_stream_t *s,
                                            ks_mapper_cb *mapper, void *opaque,
                                            const char *name);
/** @brief Zero or more records per input, with ks_emit(). Marks the stream
 *         for repartitioning. */
KS_EXPORT ks_stream_t *ks_stream_flat_map(ks_stream_t *s, ks_mapper_cb *mapper,
                                          void *opaque, const char *name);
/** @brief Zero or more values per input, with ks_emit_value(). */
KS_EXPORT ks_stream_t *ks_stream_flat_map_values(ks_stream_t *s,
                                                 ks_mapper_cb *mapper,
                                                 void *opaque,
                                                 const char *name);
/** @brief A new key per input: ks_emit_key() exactly once. Marks the
 *         stream for repartitioning. */
KS_EXPORT ks_stream_t *ks_stream_select_key(ks_stream_t *s,
                                            ks_mapper_cb *mapper, void *opaque,
                                            const char *name);
/** @brief The records of both streams (same builder), in arrival order. */
KS_EXPORT ks_stream_t *ks_stream_merge(ks_stream_t *s, ks_stream_t *other,
                                       const char *name);
/** @brief Call @p action for every record and pass the record on. */
KS_EXPORT ks_stream_t *ks_stream_peek(ks_stream_t *s, ks_action_cb *action,
                                      void *opaque, const char *name);
/** @brief Call @p action for every record (a terminal step).
 *  @returns KS_ERR_NO_ERROR or the builder's error. */
KS_EXPORT ks_err_t ks_stream_foreach(ks_stream_t *s, ks_action_cb *action,
                                     void *opaque, const char *name);
/**
 * @brief Print every record to standard output as "[label]: key, value"
 *        (a terminal step). Keys and values are shown by their serde:
 *        strings as text, integers and doubles as numbers, bytes as text
 *        when printable and as hex otherwise, null as "null".
 */
KS_EXPORT ks_err_t ks_stream_print(ks_stream_t *s, const char *label,
                                   const char *name);
/**
 * @brief Write every record to @p topic, checked with the stream's serdes
 *        (a terminal step).
 * @param name the sink (NULL: "KSTREAM-SINK-<index>")
 */
KS_EXPORT ks_err_t ks_stream_to(ks_stream_t *s, const char *topic,
                                const char *name);
/**
 * @brief Write every record to the topic @p extractor chooses for it. The
 *        topics must exist; a NULL or invalid topic stops the task with an
 *        error naming the record's origin.
 */
KS_EXPORT ks_err_t ks_stream_to_dynamic(ks_stream_t *s,
                                        ks_topic_extractor_cb *extractor,
                                        void *opaque, const char *name);
/**
 * @brief Send the stream through a repartition topic
 *        "<application.id>-<name>-repartition" (partitioned by key) and read
 *        it back in a new sub-topology.
 * @param partitions the topic's partition count, 0 for as many as the
 *        sources upstream
 * @param name the topic's middle part (NULL: "KSTREAM-REPARTITION-<index>")
 */
KS_EXPORT ks_stream_t *ks_stream_repartition(ks_stream_t *s, int partitions,
                                             const char *name);
/**
 * @brief Run a Processor API processor on the stream; what it forwards is
 *        the new stream.
 * @param stores names of stores (added to the topology with topology.h
 *        functions through ks_builder_topology()) the processor uses
 */
KS_EXPORT ks_stream_t *ks_stream_process(ks_stream_t *s,
                                         ks_processor_init_cb *init,
                                         ks_processor_process_cb *process,
                                         ks_processor_close_cb *close,
                                         void *opaque,
                                         const char *const *stores,
                                         size_t store_cnt, const char *name);
/** @brief The same records, declared as having these serdes (NULL: bytes)
 *         from here on. No step is added. */
KS_EXPORT ks_stream_t *ks_stream_with_serdes(ks_stream_t *s,
                                             ks_serde_t *key_serde,
                                             ks_serde_t *value_serde);
/**
 * @brief Split the stream: each record goes to the first branch whose
 *        predicate keeps it, else to the default branch (if any), else
 *        nowhere.
 * @param name prefix of the branch names (NULL: "KSTREAM-BRANCH-<index>-")
 */
KS_EXPORT ks_split_t *ks_stream_split(ks_stream_t *s, const char *name);
/** @brief Add a branch (named prefix + @p name, default prefix + index);
 *         its stream. Branches are tried in the order they are added. */
KS_EXPORT ks_stream_t *ks_split_branch(ks_split_t *sp, ks_predicate_cb *pred,
                                       void *opaque, const char *name);
/** @brief The default branch: records no branch kept. At most once, last. */
KS_EXPORT ks_stream_t *ks_split_default(ks_split_t *sp, const char *name);
/** @} */

/** @name Deduplication
 * @{ */
/**
 * @brief Drop the records whose id was seen within @p within_ms of their
 *        timestamp (Spark's dropDuplicatesWithinWatermark).
 *
 * A record with id x at timestamp t is a duplicate, and dropped, if a
 * record with id x that passed had a timestamp t0 with |t - t0| <=
 * @p within_ms; otherwise it passes, unchanged (key, value, headers,
 * timestamp), and is remembered. A duplicate more than @p within_ms away
 * from every remembered record of its id passes again. The step's stream
 * time is the largest timestamp it has seen; a record older than stream
 * time minus @p within_ms is late (the records it would duplicate may be
 * forgotten): it is dropped, logged at debug level and counted in
 * "dropped-records" and "dropped-records-late". Dropped duplicates count in
 * "dropped-records" and "dropped-records-duplicate" (ks_app_metric(),
 * ks_test_driver_metric()).
 *
 * A record whose id is null (the extractor emits a null key, or the record
 * key is null without an extractor) passes unchanged, is not remembered and
 * does not move stream time.
 *
 * The remembered ids are kept per task, so per partition: duplicates are
 * found only among records of the same partition, which for a stream read
 * from a topic means records with the same key (key the stream by the id
 * to deduplicate on it alone). A stream whose key changed upstream goes
 * through the repartition topic "<application.id>-<name>-repartition"
 * first. The store is a logged window store in RocksDB keyed by the id at
 * the record's timestamp, retaining 2 * @p within_ms + 1 ms of stream
 * time, so the state is bounded by the ids seen within that span; its
 * changelog is "<application.id>-<store>-changelog" (compact,delete) and
 * it is restored on failover, after which stream time starts from the
 * largest timestamp remembered.
 *
 * @param id_extractor calls ks_emit_key() exactly once per record with
 *        the record's id (NULL key: a null id); NULL: the record key is
 *        the id. Called on the task's thread with @p opaque.
 * @param within_ms the span (> 0, at most INT64_MAX / 8); anything else is
 *        a builder error
 * @param store_name the store (NULL: "<name>-store")
 * @param name the step (NULL: "KSTREAM-DEDUPLICATE-<index>")
 * @returns the stream of the records that pass, NULL (see above).
 */
KS_EXPORT ks_stream_t *ks_stream_deduplicate(ks_stream_t *s,
                                             ks_mapper_cb *id_extractor,
                                             void *opaque, int64_t within_ms,
                                             const char *store_name,
                                             const char *name);
/** @} */

/** @name Grouping and aggregation
 * @{ */
/** @brief Group by the current key. If the key was changed upstream (map,
 *         flat_map, select_key) the records first go through a
 *         repartition topic, as with ks_stream_group_by(). */
KS_EXPORT ks_grouped_stream_t *ks_stream_group_by_key(ks_stream_t *s,
                                                      const char *name);
/**
 * @brief Group by a new key, made by @p selector with ks_emit_key()
 *        (exactly once). The records go through the repartition topic
 *        "<application.id>-<name>-repartition" (NULL name: the name of the
 *        aggregation's store), into a new sub-topology.
 */
KS_EXPORT ks_grouped_stream_t *ks_stream_group_by(ks_stream_t *s,
                                                  ks_mapper_cb *selector,
                                                  void *opaque,
                                                  const char *name);
/**
 * @brief Count the records per key into store @p store_name (NULL:
 *        default), logged to its changelog. The table's values are 8-byte
 *        big-endian counts.
 * @param name the processor (NULL: "KSTREAM-AGGREGATE-<index>")
 */
KS_EXPORT ks_table_t *ks_grouped_count(ks_grouped_stream_t *g,
                                       const char *store_name,
                                       const char *name);
/** @brief Combine the values per key: the first value of a key is its
 *         aggregate; each next one is folded in by @p reducer. */
KS_EXPORT ks_table_t *ks_grouped_reduce(ks_grouped_stream_t *g,
                                        ks_aggregator_cb *reducer, void *opaque,
                                        const char *store_name,
                                        const char *name);
/** @brief Aggregate the values per key, starting each key from
 *         @p init. */
KS_EXPORT ks_table_t *ks_grouped_aggregate(ks_grouped_stream_t *g,
                                           ks_initializer_cb *init,
                                           ks_aggregator_cb *aggregator,
                                           void *opaque, const char *store_name,
                                           const char *name);
/** @} */

/** @name Windowed aggregation
 * A windowed aggregation keeps one aggregate per key and window in a window
 * store (time and sliding windows) or a session store (session windows),
 * logged to its changelog, retained for the window size plus grace (two
 * sizes plus grace for sliding windows, gap plus grace for sessions). Its
 * table is keyed by the windowed key (windows.h) and has the windowed key
 * serde; each result carries the largest timestamp of the records in its
 * window (sessions: the session's end), as in Kafka Streams. Records with a
 * null key or value are skipped; records too late for every window they
 * fall in are dropped and counted (see windows.h).
 * @{ */
/** When a windowed aggregation sends its results downstream. */
typedef enum ks_emit_strategy_e {
        /** Every change, through the record cache (Spark's "update"). */
        KS_EMIT_ON_WINDOW_UPDATE,
        /** Each window's final result once, when stream time passes its end
         *  plus grace (KIP-825; Spark's "append"): time windows, whose end
         *  is exclusive, when stream time minus grace reaches their end;
         *  sliding windows, whose end is inclusive, when it passes it;
         *  sessions when it passes their end plus the gap. What is still to
         *  be emitted is kept in a logged store, so it survives failover. */
        KS_EMIT_ON_WINDOW_CLOSE,
} ks_emit_strategy_t;
/**
 * @brief Cut the groups into windows @p w (taken over, also on failure).
 * @returns the windowed stream, NULL if the builder failed or @p w is
 *          invalid (the builder's error says which value).
 */
KS_EXPORT ks_windowed_stream_t *ks_grouped_windowed_by(ks_grouped_stream_t *g,
                                                       ks_windows_t *w);
/** @brief Set when results go downstream (default: on every update).
 *  @returns @p ws. */
KS_EXPORT ks_windowed_stream_t *
ks_windowed_emit_strategy(ks_windowed_stream_t *ws, ks_emit_strategy_t s);
/**
 * @brief Keep the aggregation's stores (the window or session store, and
 *        the emit-on-close index) in @p backend (default RocksDB), for
 *        @p retention_ms of stream time (0: what the windows need, size +
 *        grace; a shorter retention is refused). A longer retention keeps
 *        old windows readable in the store. Kafka Streams' Materialized.
 * @returns @p ws, NULL if the builder failed.
 */
KS_EXPORT ks_windowed_stream_t *
ks_windowed_materialize(ks_windowed_stream_t *ws, ks_store_backend_t backend,
                        int64_t retention_ms);
/**
 * @brief Count the records per key and window (8-byte big-endian counts).
 * @param store_name the store (NULL: "KSTREAM-AGGREGATE-STATE-STORE-<i>")
 * @param name the processor (NULL: "KSTREAM-AGGREGATE-<index>")
 */
KS_EXPORT ks_table_t *ks_windowed_count(ks_windowed_stream_t *ws,
                                        const char *store_name,
                                        const char *name);
/** @brief Combine the values per key and window with @p reducer (the
 *         first value of a window is its aggregate; merged sessions are
 *         combined with the reducer too). */
KS_EXPORT ks_table_t *ks_windowed_reduce(ks_windowed_stream_t *ws,
                                         ks_aggregator_cb *reducer,
                                         void *opaque, const char *store_name,
                                         const char *name);
/**
 * @brief Aggregate the values per key and window from @p init with
 *        @p aggregator.
 * @param merger session windows: merges the aggregates of sessions a
 *        record bridges (required); other windows: must be NULL
 */
KS_EXPORT ks_table_t *
ks_windowed_aggregate(ks_windowed_stream_t *ws, ks_initializer_cb *init,
                      ks_aggregator_cb *aggregator, ks_merger_cb *merger,
                      void *opaque, const char *store_name, const char *name);
/** @brief The windows of a windowed table (borrowed), NULL for other
 *         tables. */
KS_EXPORT const ks_windows_t *ks_table_windows(const ks_table_t *t);
/** @} */

/** @name Suppression
 * Hold a table's changes back and send only the latest per key: until its
 * window closes (final results), or until a time limit has passed since the
 * key's first held change. The buffer is bounded by @p max_records and
 * @p max_bytes (0: unbounded) and logged to the changelog of its store
 * "<name>-store", so it survives failover. Stream time (the largest
 * timestamp the step has seen) decides, as in Kafka Streams.
 * @{ */
/** What a full suppression buffer does. */
typedef enum ks_buffer_full_e {
        /** Send the oldest held record early to make room. */
        KS_BUFFER_EMIT_EARLY,
        /** Stop the task with an error naming the buffer and its bounds. */
        KS_BUFFER_SHUT_DOWN,
} ks_buffer_full_t;
/**
 * @brief Each window's final result once, when stream time passes its end
 *        plus grace: @p t must be a windowed table. A full buffer can only
 *        shut down (an early result would not be final), so there is no
 *        policy argument.
 * @param name the step (NULL: "KTABLE-SUPPRESS-<index>")
 */
KS_EXPORT ks_table_t *ks_table_suppress_until_window_closes(ks_table_t *t,
                                                            int64_t max_records,
                                                            int64_t max_bytes,
                                                            const char *name);
/**
 * @brief A key's latest change, sent once stream time is @p time_limit_ms
 *        past the key's first change held (then the key starts over).
 */
KS_EXPORT ks_table_t *ks_table_suppress_until_time_limit(
        ks_table_t *t, int64_t time_limit_ms, int64_t max_records,
        int64_t max_bytes, ks_buffer_full_t when_full, const char *name);
/** @} */

/** @name Tables
 * A table forwards its changes: (key, new value), a tombstone for a
 * delete.
 * @{ */
/** @brief The rows @p pred keeps; a row it does not keep becomes a
 *         tombstone downstream. */
KS_EXPORT ks_table_t *ks_table_filter(ks_table_t *t, ks_predicate_cb *pred,
                                      void *opaque, const char *name);
/** @brief The rows @p pred does not keep. */
KS_EXPORT ks_table_t *ks_table_filter_not(ks_table_t *t, ks_predicate_cb *pred,
                                          void *opaque, const char *name);
/** @brief Each row's value mapped with ks_emit_value() (exactly once). */
KS_EXPORT ks_table_t *ks_table_map_values(ks_table_t *t, ks_mapper_cb *mapper,
                                          void *opaque, const char *name);
/** @brief The table's changes as a stream. */
KS_EXPORT ks_stream_t *ks_table_to_stream(ks_table_t *t, const char *name);
/** @brief The table's changes as a stream keyed by what @p mapper makes of
 *         each (ks_emit_key(), exactly once; e.g. a windowed key's plain
 *         key). The stream is marked for repartitioning. */
KS_EXPORT ks_stream_t *ks_table_to_stream_map_key(ks_table_t *t,
                                                  ks_mapper_cb *mapper,
                                                  void *opaque,
                                                  const char *name);
/** @brief The table of a stream: the latest value per key, tombstones
 *         delete; kept in store @p store_name (NULL: default) with a
 *         changelog. */
KS_EXPORT ks_table_t *ks_stream_to_table(ks_stream_t *s, const char *store_name,
                                         const char *name);
/** @brief The versioned table of a stream (see
 *         ks_builder_versioned_table()): each record is a version of its
 *         key at its timestamp, kept in store @p store_name (NULL:
 *         default) for @p history_retention_ms (> 0) of stream time back,
 *         with a changelog; forwarded only when it is the key's latest. */
KS_EXPORT ks_table_t *ks_stream_to_versioned_table(ks_stream_t *s,
                                                   const char *store_name,
                                                   int64_t history_retention_ms,
                                                   const char *name);
/**
 * @brief Regroup a table's rows: @p selector maps each row to its group key
 *        and value with ks_emit() (exactly once; a null key or value leaves
 *        the row out). When a row changes, its old version is taken out of
 *        its old group and the new one added to its group, through the
 *        repartition topic "<application.id>-<name>-repartition" (NULL
 *        name: the aggregation's store). The step keeps the rows it has
 *        seen in store "<name>-rows" (default name "KTABLE-SELECT-<index>").
 */
KS_EXPORT ks_grouped_table_t *ks_table_group_by(ks_table_t *t,
                                                ks_mapper_cb *selector,
                                                void *opaque, const char *name);
/** @brief Rows per group (8-byte big-endian), kept right as rows move
 *         between groups or go away. */
KS_EXPORT ks_table_t *ks_grouped_table_count(ks_grouped_table_t *g,
                                             const char *store_name,
                                             const char *name);
/** @brief Combine the values per group: @p adder folds a value in,
 *         @p subtractor takes one out (the first value of a group is its
 *         aggregate). */
KS_EXPORT ks_table_t *
ks_grouped_table_reduce(ks_grouped_table_t *g, ks_aggregator_cb *adder,
                        ks_aggregator_cb *subtractor, void *opaque,
                        const char *store_name, const char *name);
/** @brief Aggregate the values per group from @p init with @p adder and
 *         @p subtractor. */
KS_EXPORT ks_table_t *
ks_grouped_table_aggregate(ks_grouped_table_t *g, ks_initializer_cb *init,
                           ks_aggregator_cb *adder,
                           ks_aggregator_cb *subtractor, void *opaque,
                           const char *store_name, const char *name);

/** @brief The name of the store a table is kept in, NULL if it has none
 *         (filters and mapped tables are not materialized). Borrowed. */
KS_EXPORT const char *ks_table_store_name(const ks_table_t *t);
/** @} */

/** @name Joins
 * The sides must be co-partitioned (the same number of partitions, keys
 * partitioned alike); the application refuses to start otherwise, naming
 * the topics. Joined records carry the key and the timestamp of the record
 * that triggered them.
 * @{ */
/**
 * @brief Join each stream record with the table's current value for its key
 *        (the table is not triggered by its own updates). Stream records
 *        with a null key or value are dropped; without a match the inner
 *        join drops the record. A stream re-keyed upstream goes through a
 *        repartition topic first. With a versioned table, the record meets
 *        the table's row as of its own timestamp (KIP-914), not the latest
 *        one.
 * @param t a table with a store (from a topic, to_table or an aggregation,
 *        versioned or not)
 */
KS_EXPORT ks_stream_t *ks_stream_join_table(ks_stream_t *s, ks_table_t *t,
                                            ks_value_joiner_cb *joiner,
                                            void *opaque, const char *name);
/** @brief As ks_stream_join_table(), but a record without a match is
 *         joined with NULL. */
KS_EXPORT ks_stream_t *ks_stream_left_join_table(ks_stream_t *s, ks_table_t *t,
                                                 ks_value_joiner_cb *joiner,
                                                 void *opaque,
                                                 const char *name);
/**
 * @brief Join each stream record with the global table's value for the key
 *        @p key_mapper makes of the record (ks_emit_key(), exactly once).
 *        Any partitioning: the global table is whole on every instance.
 *        Records with a null value are dropped, and so are records without
 *        a match (a null mapped key has none). The joined record keeps the
 *        stream record's key.
 */
KS_EXPORT ks_stream_t *ks_stream_join_global(ks_stream_t *s,
                                             ks_global_table_t *g,
                                             ks_mapper_cb *key_mapper,
                                             ks_value_joiner_cb *joiner,
                                             void *opaque, const char *name);
/** @brief As ks_stream_join_global(), but a record without a match is
 *         joined with NULL. */
KS_EXPORT ks_stream_t *
ks_stream_left_join_global(ks_stream_t *s, ks_global_table_t *g,
                           ks_mapper_cb *key_mapper, ks_value_joiner_cb *joiner,
                           void *opaque, const char *name);
/**
 * @brief Join two streams by key within join windows
 *        (ks_join_windows_of_time_difference_and_grace() in windows.h): a
 *        record of either side joins every record of the other side with
 *        its key in its window, once the second of the two arrives; the
 *        result carries the later of the two timestamps.
 *
 * Each side's records are kept in a window store of their own for
 * before + after + grace of stream time (the largest timestamp the join
 * has accepted; records whose own window closed before it, t + after +
 * grace on the left and t + before + grace on the right, are late: dropped
 * and counted in "dropped-records-late"). The stores are named
 * "<name>-this-join-store" and "<name>-other-join-store" (default names
 * from the steps, "KSTREAM-JOINTHIS-<index>-store", ...); their changelogs
 * are compacted and time-retained as window stores'. Records with a null
 * key or value are dropped. Either stream re-keyed upstream goes through a
 * repartition topic first ("<application.id>-<name>-left-repartition" and
 * "-right-repartition" for a named join); the two must be co-partitioned
 * (checked at start). @p left and @p right may be the same stream (a
 * self-join: each record also joins itself). A NULL @p left beside a
 * usable @p right fails the right stream's builder.
 *
 * @param windows join windows, taken over (freed even on failure)
 * @param name    names the steps and stores (NULL: defaults)
 * @returns the joined stream (key serde of @p left, value serde unset:
 *          give one with ks_stream_with_serdes() before a sink), or NULL
 *          (the builder holds the error).
 */
KS_EXPORT ks_stream_t *ks_stream_join(ks_stream_t *left, ks_stream_t *right,
                                      ks_value_joiner_cb *joiner, void *opaque,
                                      ks_windows_t *windows, const char *name);
/**
 * @brief As ks_stream_join(), and each left record that joins nothing is
 *        joined once with NULL (right = NULL) when no right record can join
 *        it any more: once stream time passes its timestamp plus before +
 *        after + grace. It waits in a logged store
 *        ("<name>-outer-shared-join-store"), so it is emitted once across
 *        failover, at its own timestamp and without headers, and never for
 *        a record that later finds a partner (KAFKA-10847, stricter than
 *        Kafka Streams, which emits after after + grace).
 */
KS_EXPORT ks_stream_t *ks_stream_left_join(ks_stream_t *left,
                                           ks_stream_t *right,
                                           ks_value_joiner_cb *joiner,
                                           void *opaque, ks_windows_t *windows,
                                           const char *name);
/** @brief As ks_stream_left_join(), for the records of both sides: a right
 *         record that joins nothing is joined once with left = NULL. */
KS_EXPORT ks_stream_t *ks_stream_outer_join(ks_stream_t *left,
                                            ks_stream_t *right,
                                            ks_value_joiner_cb *joiner,
                                            void *opaque, ks_windows_t *windows,
                                            const char *name);
/** Table-table join kinds. */
typedef enum ks_join_kind_e {
        KS_JOIN_INNER, /**< both sides present */
        KS_JOIN_LEFT,  /**< the left side present */
        KS_JOIN_OUTER, /**< either side present */
} ks_join_kind_t;
/**
 * @brief Join each stream record with the versioned table @p t's row as of
 *        the record's timestamp, after holding the record back for
 *        @p grace_ms of the stream side's time (KIP-923), so that table
 *        updates arriving out of order within the grace still meet it.
 *        Stream time is the largest timestamp of the stream records taken
 *        (those with a key and a value; the others are dropped). A record
 *        older than stream time minus the grace when it arrives is joined
 *        at once; the others wait in a buffer until stream time minus the
 *        grace reaches them, then go out oldest first (equal timestamps in
 *        arrival order), without their headers. The output keeps the
 *        stream record's key and timestamp. A left join joins a record
 *        without a row with NULL.
 *
 *        The buffer is a logged store of the step, "<name>-buffer"
 *        (default name "KSTREAM-JOIN-<index>"), holding the records and
 *        the step's stream time, so it survives failover; it holds the
 *        stream records of one grace period (per task).
 * @param t a versioned table (ks_builder_versioned_table(),
 *        ks_stream_to_versioned_table()) whose history retention is at
 *        least @p grace_ms
 * @param kind KS_JOIN_INNER or KS_JOIN_LEFT
 * @param grace_ms >= 0 (0: joined at once, as ks_stream_join_table())
 * @returns the joined stream; NULL with the builder's error for a table
 *          that is not versioned, another kind, or a grace period that is
 *          negative or longer than the table's history retention.
 */
KS_EXPORT ks_stream_t *
ks_stream_join_table_with_grace(ks_stream_t *s, ks_table_t *t,
                                ks_join_kind_t kind, ks_value_joiner_cb *joiner,
                                void *opaque, int64_t grace_ms,
                                const char *name);
/**
 * @brief Join two tables by key: an update on either side joins it with the
 *        other side's current value. Where the join kind finds no result
 *        (a side deleted or missing), a tombstone goes downstream. Both
 *        tables need stores. The result is not materialized.
 */
KS_EXPORT ks_table_t *ks_table_join(ks_table_t *left, ks_table_t *right,
                                    ks_join_kind_t kind,
                                    ks_value_joiner_cb *joiner, void *opaque,
                                    const char *name);
/**
 * @brief Foreign-key join: each row of @p left joins the row of @p right
 *        whose key @p fk_extractor takes from the left row's value
 *        (ks_emit_key(), exactly once; a null key joins nothing). The
 *        result is keyed by the left key and changes when either row
 *        changes, or when the left row's foreign key does; a deleted left
 *        row gives a tombstone, and so does (inner join) a left row without
 *        a right row. As in Kafka Streams, the left rows subscribe through
 *        "<application.id>-<name>-subscription-registration" (partitioned
 *        like @p right) and are answered through
 *        "<application.id>-<name>-subscription-response" (partitioned like
 *        @p left), and an answer about an older left value is dropped. The
 *        tables need stores and need not be co-partitioned.
 * @param kind KS_JOIN_INNER or KS_JOIN_LEFT
 * @param name the base of the step, store and topic names (NULL:
 *        "KTABLE-FK-JOIN-<index>")
 */
KS_EXPORT ks_table_t *ks_table_fk_join(ks_table_t *left, ks_table_t *right,
                                       ks_mapper_cb *fk_extractor,
                                       ks_join_kind_t kind,
                                       ks_value_joiner_cb *joiner, void *opaque,
                                       const char *name);
/** @} */

/** @brief The topology under construction, to add stores for
 *         ks_stream_process() (borrowed). */
KS_EXPORT ks_topology_t *ks_builder_topology(ks_builder_t *b);

KS_END_DECLS

#endif
