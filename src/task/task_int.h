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

#include "../state/rocksdb_int.h"
#include "../topology/topology_int.h"

/** Where a task's output goes. */
typedef struct {
        /* Send one record; key/value/headers are borrowed for the call.
         * partition -1: the collector's default partitioning. */
        ks_err_t (*send)(void *opaque, const char *topic, int32_t partition,
                         const void *key, size_t klen, const void *value,
                         size_t vlen, int64_t timestamp,
                         const ks_headers_t *headers, ks_error_t **errp);
        /* Partitions of @p topic, or -1 if unknown. */
        int32_t (*partition_count)(void *opaque, const char *topic);
        /* Wait until every sent record is acknowledged (commit). */
        ks_err_t (*flush)(void *opaque, ks_error_t **errp);
        void *opaque;
} ks__collector_t;

/** What a task needs from its driver. */
typedef struct {
        const ks_config_t *conf;
        ks__rocks_env_t *rocks;
        const char *state_dir; /* task directories go below it */
        ks__collector_t collector;
        int64_t (*clock)(void *opaque); /* wall clock, ms */
        void *clock_opaque;
} ks__task_env_t;

typedef enum {
        KS_TASK_CREATED,
        KS_TASK_RUNNING,
        KS_TASK_CLOSED,
} ks__task_state_t;

typedef struct ks__task_s ks__task_t;

/** Create task <sub>_<partition>: open its stores and run every processor's
 *  init. On failure nothing is left open. */
ks_err_t ks__task_new(ks_topology_t *topo, int sub, int32_t partition,
                      const ks__task_env_t *env, ks__task_t **taskp,
                      ks_error_t **errp);

/** Process one input record of @p topic (a source topic of the task). Bad
 *  data goes to the deserialization handler; a processor error stops here
 *  with a message naming the processor. */
ks_err_t ks__task_process(ks__task_t *task, const char *topic,
                          int32_t partition, int64_t offset, const void *key,
                          size_t klen, const void *value, size_t vlen,
                          int64_t timestamp, const ks_headers_t *headers,
                          ks_error_t **errp);

/** Fire the wall-clock punctuators due at @p now. */
ks_err_t ks__task_punctuate_wall_clock(ks__task_t *task, int64_t now,
                                       ks_error_t **errp);

/** Flush output, then write stores and the checkpoint atomically. */
ks_err_t ks__task_commit(ks__task_t *task, ks_error_t **errp);

/** Non-zero if a processor asked for a commit since the last one. */
int ks__task_commit_requested(const ks__task_t *task);

/** Records skipped by handlers (bad data, invalid timestamps). */
uint64_t ks__task_dropped_records(const ks__task_t *task);

/** Records processed. */
uint64_t ks__task_processed_records(const ks__task_t *task);

/** The task's store @p name (NULL if the task has none of that name). */
ks_kv_store_t *ks__task_store(ks__task_t *task, const char *name);

/** The task id "<sub>_<partition>". */
const char *ks__task_id(const ks__task_t *task);

/** The task's sub-topology. */
const ks__subtopology_t *ks__task_subtopology(const ks__task_t *task);

/** Close processors, then stores (uncommitted writes are dropped), and free
 *  the task. NULL is a no-op. */
void ks__task_destroy(ks__task_t *task);

#endif
