/* Tasks: one sub-topology running for one partition number.
 *
 * A task owns the per-task state of each processor of its sub-topology, the
 * sub-topology's stores for its partition (a RocksDB database with one column
 * family per persistent store; in-memory stores beside it), the processor
 * context, the punctuation schedules and the task's stream time. Output goes
 * to a record collector supplied by whoever drives the task: the test driver
 * captures records in memory, the runtime produces them to Kafka. Both drive
 * exactly this code.
 *
 * State machine (ks__task_set_state asserts the transitions):
 *
 *     CREATED --init ok--> RUNNING --close--> CLOSED
 *        |                                      ^
 *        +----------------close-----------------+
 *
 * @locality one stream thread (or the test driver's caller) per task. */
#ifndef KS_TASK_INT_H
#define KS_TASK_INT_H

#include "kstreams/config.h"
#include "kstreams/processor.h"
#include "../common/metrics_int.h"
#include "../state/global_store_int.h"
#include "../state/record_cache_int.h"

#include "../state/rocksdb_int.h"
#include "../topology/topology_int.h"
#include "error_handler_int.h"

/** Where an output record comes from: the input record being processed
 *  (its source topic's index in the topology, partition and offset) and
 *  the record's rank among that input's outputs. offset -1: from a
 *  punctuator. Deterministic processors emit the same ranks on replay,
 *  which is what lets a consumer of an internal topic drop replayed
 *  duplicates. */
typedef struct {
        int32_t topic_index;
        int32_t partition;
        int64_t offset;
        int32_t seq;
} ks__origin_t;

/** Where a task's output goes. */
typedef struct {
        /* Send one record; key/value/headers are borrowed for the call.
         * partition -1: the collector's default partitioning. */
        ks_err_t (*send)(void *opaque, const char *topic, int32_t partition,
                         const void *key, size_t klen, const void *value,
                         size_t vlen, int64_t timestamp,
                         const ks_headers_t *headers,
                         const ks__origin_t *origin, ks_error_t **errp);
        /* Partitions of @p topic, or -1 if unknown. */
        int32_t (*partition_count)(void *opaque, const char *topic);
        /* Wait until every sent record is acknowledged (commit). */
        ks_err_t (*flush)(void *opaque, ks_error_t **errp);
        void *opaque;
        /* Send a change-log record to @p partition of @p topic; once it is
         * acknowledged, its offset becomes the position of @p slot (see
         * slot_offset). NULL: stores are not logged (the test driver). */
        ks_err_t (*send_changelog)(void *opaque, const char *topic,
                                   int32_t partition, const void *key,
                                   size_t klen, const void *value, size_t vlen,
                                   int64_t timestamp, uint64_t slot,
                                   ks_error_t **errp);
        /* Changelog positions live in the collector, in slots named by
         * handles: a delivery report served after the task is gone finds
         * its slot closed and changes nothing. slot_open returns 0 when
         * out of memory. */
        uint64_t (*slot_open)(void *opaque);
        void (*slot_close)(void *opaque, uint64_t slot);
        /* The offset of the slot's last acknowledged record, -1: none. */
        int64_t (*slot_offset)(void *opaque, uint64_t slot);
} ks__collector_t;

/** What a task needs from its driver. */
typedef struct {
        const ks_config_t *conf;
        ks__rocks_env_t *rocks;
        const char *state_dir; /* task directories go below it */
        ks__collector_t collector;
        int64_t (*clock)(void *opaque); /* wall clock, ms */
        void *clock_opaque;
        ks__cache_budget_t *cache; /* NULL: no record caches */
        /* The global stores, one per topology global table, in order. */
        ks__global_t *const *globals;
        /* The processing-error handler (borrowed), NULL: the one
         * processing.exception.handler names. */
        const ks__perr_handler_t *on_error;
} ks__task_env_t;

typedef enum {
        KS_TASK_CREATED,
        KS_TASK_RUNNING,
        KS_TASK_CLOSED,
} ks__task_state_t;

typedef struct ks__task_s ks__task_t;

/** Create task <sub>_<partition> and open its stores (its directory is
 *  locked against other owners). The task stays CREATED, for its stores to
 *  be restored, until ks__task_start(). On failure nothing is left open. */
ks_err_t ks__task_new(ks_topology_t *topo, int sub, int32_t partition,
                      const ks__task_env_t *env, ks__task_t **taskp,
                      ks_error_t **errp);

/** Run every processor's init and start processing (CREATED -> RUNNING). */
ks_err_t ks__task_start(ks__task_t *task, ks_error_t **errp);

/* Restore. Store i (0 .. ks__task_store_count()-1) of a task is logged to
 * ks__task_changelog_topic(); restoring replays that topic's partition (the
 * task's partition) from ks__task_changelog_offset() to its end through
 * ks__task_restore_put(), checkpointing with ks__task_restore_checkpoint(). */
size_t ks__task_store_count(const ks__task_t *task);

/** The changelog topic of store i, NULL if the store is not logged. */
const char *ks__task_changelog_topic(const ks__task_t *task, size_t i);

/** The store name of store i. */
const char *ks__task_store_name(const ks__task_t *task, size_t i);

/** The changelog offset to restore store i from: its checkpoint, or -1
 *  (from the beginning) when it has none (in-memory stores never do). */
int64_t ks__task_changelog_offset(const ks__task_t *task, size_t i);

/** Apply one changelog record to store i (value NULL: delete), stamped
 *  @p timestamp (the record's: a table restored from its source topic
 *  stores it with the value; other stores' changelogs carry stored values
 *  and ignore it); nothing reads it before the next
 *  ks__task_restore_checkpoint(). */
ks_err_t ks__task_restore_put(ks__task_t *task, size_t i, const void *key,
                              size_t klen, const void *value, size_t vlen,
                              int64_t timestamp);

/** Store i needs no restore: its content is its changelog up to
 *  @p next_offset, which is its position until it logs a change (what a
 *  commit names even when the store changed nothing since). */
void ks__task_changelog_in_sync(ks__task_t *task, size_t i,
                                int64_t next_offset);

/** Restored offsets between two checkpoints written to the database. */
#define KS_RESTORE_CHECKPOINT_EVERY 1000000

/** Write what was restored into store i, up to @p next_offset, and stage
 *  that checkpoint: the task's next commit writes it (after the restored
 *  records are flushed), and so does this call every
 *  KS_RESTORE_CHECKPOINT_EVERY offsets. @p done: the restore is complete
 *  (starts the flush). A crash restarts the restore from the last
 *  checkpoint written. */
ks_err_t ks__task_restore_checkpoint(ks__task_t *task, size_t i,
                                     int64_t next_offset, int done,
                                     ks_error_t **errp);

/** The next offset to consume of each source partition the task has read:
 *  calls @p cb per partition. */
void ks__task_source_offsets(const ks__task_t *task,
                             void (*cb)(void *opaque, const char *topic,
                                        int32_t partition, int64_t next),
                             void *opaque);

/** Mark the record at @p offset of @p topic as handled without processing
 *  it (a replayed duplicate): the committed position moves past it. */
void ks__task_skip(ks__task_t *task, const char *topic, int64_t offset);

/** The position store i's changelog has reached: the offset after the last
 *  change-log record acknowledged, or the restored end. -1 if unknown. */
int64_t ks__task_changelog_position(const ks__task_t *task, size_t i);

/** Empty store i without logging (its local copy is ahead of the committed
 *  state and is rebuilt from the changelog). */
ks_err_t ks__task_store_clear(ks__task_t *task, size_t i, ks_error_t **errp);

/** Log the current value of @p key in store i (a tombstone if absent) to
 *  its changelog: overwrites a change that was logged but never
 *  committed. */
ks_err_t ks__task_relog(ks__task_t *task, size_t i, const void *key,
                        size_t klen, ks_error_t **errp);

/** The task's partition number. */
int32_t ks__task_partition(const ks__task_t *task);

/** The last committed offset of @p topic's partition in the task's
 *  checkpoint, or -1. */
int64_t ks__task_source_checkpoint(const ks__task_t *task, const char *topic);

/** Process one input record of @p topic (a source topic of the task). Bad
 *  data goes to the deserialization handler, a processor error to the
 *  processing-error handler (error_handler.c); one they do not let pass
 *  stops here with a message naming the processor. */
ks_err_t ks__task_process(ks__task_t *task, const char *topic,
                          int32_t partition, int64_t offset, const void *key,
                          size_t klen, const void *value, size_t vlen,
                          int64_t timestamp, const ks_headers_t *headers,
                          ks_error_t **errp);

/** Fire the wall-clock punctuators due at @p now. */
ks_err_t ks__task_punctuate_wall_clock(ks__task_t *task, int64_t now,
                                       ks_error_t **errp);

/** Flush output, then write stores and the checkpoint (source offsets and
 *  the offsets of change-log records sent so far) atomically. */
ks_err_t ks__task_commit(ks__task_t *task, ks_error_t **errp);

/** Non-zero if a processor asked for a commit since the last one. */
int ks__task_commit_requested(const ks__task_t *task);

/** Records dropped: skipped by handlers (bad data, invalid timestamps),
 *  too late for their window, or deduplicated. */
uint64_t ks__task_dropped_records(const ks__task_t *task);

/** Of those, records dropped as too late for their window. */
uint64_t ks__task_dropped_late(const ks__task_t *task);

/** Of those, records a deduplication step dropped as duplicates. */
uint64_t ks__task_dropped_duplicate(const ks__task_t *task);

/** Of those, records the deserialization handler skipped. */
uint64_t ks__task_dropped_deserialization(const ks__task_t *task);

/** Of those, records the processing-error handler dropped. */
uint64_t ks__task_dropped_processing(const ks__task_t *task);

/** Records written to the dead-letter queue. */
uint64_t ks__task_dlq_records(const ks__task_t *task);

/** Records processed. */
uint64_t ks__task_processed_records(const ks__task_t *task);

/** The task's store @p name (NULL if the task has none of that name); for
 *  a window or session store, the key-value handle it is built on. */
ks_kv_store_t *ks__task_store(ks__task_t *task, const char *name);

/** The type of the task's store @p name in *typep; KS_ERR_NOT_FOUND if the
 *  task has no store of that name. */
ks_err_t ks__task_store_type(const ks__task_t *task, const char *name,
                             ks_store_type_t *typep);

/** The task's window store @p name, NULL if the task has no window store
 *  of that name. */
ks_window_store_t *ks__task_window_store(ks__task_t *task, const char *name);

/** The task's session store @p name, NULL if the task has no session store
 *  of that name. */
ks_session_store_t *ks__task_session_store(ks__task_t *task, const char *name);

/** The task's timestamped key-value store @p name, NULL if the task has no
 *  timestamped store of that name. */
ks_timestamped_kv_store_t *ks__task_timestamped_kv_store(ks__task_t *task,
                                                         const char *name);

/** The task's versioned key-value store @p name, NULL if the task has no
 *  versioned store of that name. */
ks_versioned_kv_store_t *ks__task_versioned_kv_store(ks__task_t *task,
                                                     const char *name);

/** The task's RocksDB database (NULL without persistent stores), for
 *  read-only views from other threads (interactive queries). */
ks__task_db_t *ks__task_db(ks__task_t *task);

/** The task id "<sub>_<partition>". */
const char *ks__task_id(const ks__task_t *task);

/** Punctuations fired so far. */
uint64_t ks__task_punctuations(const ks__task_t *task);

/** The per-node meters (recording level DEBUG; NULL at INFO) and the
 *  number of nodes, whose names are ks__task_node_name(). */
ks__meter_t *ks__task_node_meters(ks__task_t *task, size_t *cnt);
const char *ks__task_node_name(const ks__task_t *task, size_t i);

/** The meters (KS__STORE_OP_*) of store @p i at recording level DEBUG,
 *  else NULL. */
ks__meter_t *ks__task_store_meters(ks__task_t *task, size_t i);

/** RocksDB's figures of store @p i: 0, or -1 when it is not in RocksDB. */
int ks__task_store_figures(ks__task_t *task, size_t i, ks__db_figures_t *out);

/** The task's sub-topology. */
const ks__subtopology_t *ks__task_subtopology(const ks__task_t *task);

/** Close processors, then stores (uncommitted writes are dropped), and free
 *  the task. NULL is a no-op. */
void ks__task_destroy(ks__task_t *task);

/** Flush the record caches of the task's processors (before a commit):
 *  what they hold is written to the stores and forwarded. */
ks_err_t ks__task_flush_caches(ks__task_t *t, ks_error_t **errp);

/** 1 if store @p i's changelog is its table's source topic. */
int ks__task_changelog_from_source(const ks__task_t *t, size_t i);

#endif
