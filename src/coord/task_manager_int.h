/* A stream thread's tasks (Kafka Streams' TaskManager): what the group's
 * assignment turns into, their input, restore, processing and commits.
 *
 * A task entry goes through:
 *
 *     CREATED --committed offsets read, nothing to restore--> RUNNING
 *        |                                                      ^
 *        +--committed offsets read, stores to restore--> RESTORING
 *
 * and is closed from any state. The rebalance callback only opens tasks
 * (local work: their directories and stores) and pauses their partitions;
 * everything that asks the cluster (committed offsets, changelog ends)
 * happens in ks__tmgr_initialize(), called from the thread's loop, in
 * calls bounded in time and retried until task.timeout.ms. A task's
 * partitions stay paused until it runs; resuming one seeks it to the next
 * offset the task needs.
 *
 * A task reading a through topic keeps duplicate marks (origin_int.h) in
 * its marks store; they are loaded when it starts and written before every
 * commit. (Under exactly_once_v2 a broker never shows a replay's first
 * attempt, which aborted; the marks cost little and keep the guarantee
 * where aborted records are visible.)
 *
 * @locality the owning stream thread; the counters are read with atomics
 * from any thread. */
#ifndef KS_TASK_MANAGER_INT_H
#define KS_TASK_MANAGER_INT_H

#include <librdkafka/rdkafka.h>

#include "kstreams/app.h"

#include "../task/task_int.h"
#include "changelog_reader_int.h"
#include "query_registry_int.h"
#include "origin_int.h"
#include "partition_group_int.h"

/** What a task manager is given. */
typedef struct {
        const ks_config_t *conf;
        ks_topology_t *topo;
        ks__task_env_t task_env;
        rd_kafka_t *consumer; /* the group member (not owned) */
        rd_kafka_t *restore;  /* the restore consumer (not owned) */
        ks__origin_scope_t scope;
        int eos;
        const char *client_id;
        ks_restore_cb *restore_cb; /* the application's listener */
        void *restore_opaque;
        ks__qreg_t *queries; /* where tasks are entered for queries, NULL */
} ks__tmgr_env_t;

typedef struct ks__tmgr_s ks__tmgr_t;

/** A task manager; NULL on OOM. */
ks__tmgr_t *ks__tmgr_new(const ks__tmgr_env_t *env);

/** Close every task (uncommitted work is dropped) and free. NULL: no-op. */
void ks__tmgr_destroy(ks__tmgr_t *m);

/** The group assigned @p parts (eager: every partition of the member):
 *  open their tasks, assign and pause them. */
ks_err_t ks__tmgr_assign(ks__tmgr_t *m, rd_kafka_topic_partition_list_t *parts,
                         ks_error_t **errp);

/** Close every task, keeping their files (revoke, abort, shutdown). */
void ks__tmgr_close_all(ks__tmgr_t *m);

/** Read what new tasks need from the cluster and start or restore them.
 *  Retriable failures are retried by later calls until task.timeout.ms. */
ks_err_t ks__tmgr_initialize(ks__tmgr_t *m, ks_error_t **errp);

/** Restore stores for up to @p budget_ms. */
ks_err_t ks__tmgr_restore(ks__tmgr_t *m, int64_t budget_ms, ks_error_t **errp);

/** 1 while stores are being restored. */
int ks__tmgr_restore_active(const ks__tmgr_t *m);

/** Queue a consumed record (taken over). */
ks_err_t ks__tmgr_enqueue(ks__tmgr_t *m, rd_kafka_message_t *msg,
                          ks_error_t **errp);

/** The consumer reached the end of @p topic [@p partition]. */
void ks__tmgr_mark_end(ks__tmgr_t *m, const char *topic, int32_t partition);

/** 1 while the thread may take more records from its consumer. */
int ks__tmgr_has_room(const ks__tmgr_t *m);

/** Process up to @p max records; *did: how many were taken. */
ks_err_t ks__tmgr_process(ks__tmgr_t *m, int max, int *did, ks_error_t **errp);

/** Fire the wall-clock punctuators due at @p now. */
ks_err_t ks__tmgr_punctuate(ks__tmgr_t *m, int64_t now, ks_error_t **errp);

/** Before a commit: let the record caches out and write the duplicate
 *  marks that changed. */
ks_err_t ks__tmgr_prepare_commit(ks__tmgr_t *m, ks_error_t **errp);

/** The offsets of the running tasks with their metadata (NULL on OOM). */
rd_kafka_topic_partition_list_t *ks__tmgr_offsets(ks__tmgr_t *m);

/** The group accepted the running tasks' last commit: publish their
 *  state to queries (query_registry_int.h). */
void ks__tmgr_publish_committed(ks__tmgr_t *m);

/** Write each running task's stores and checkpoint. */
ks_err_t ks__tmgr_commit_stores(ks__tmgr_t *m, ks_error_t **errp);

int ks__tmgr_task_count(const ks__tmgr_t *m);
int ks__tmgr_restoring(const ks__tmgr_t *m); /* tasks not yet running */
int ks__tmgr_commit_requested(const ks__tmgr_t *m);

/** Counters (atomic reads). */
int64_t ks__tmgr_processed(const ks__tmgr_t *m);
int64_t ks__tmgr_duplicates(const ks__tmgr_t *m);
int64_t ks__tmgr_dropped(const ks__tmgr_t *m);

/** Of those, records too late for their window. */
int64_t ks__tmgr_dropped_late(const ks__tmgr_t *m);

/** Of those, records deduplicated. */
int64_t ks__tmgr_dropped_duplicate(const ks__tmgr_t *m);

/** Of those, records the deserialization handler skipped. */
int64_t ks__tmgr_dropped_deserialization(const ks__tmgr_t *m);

/** Of those, records the processing-error handler dropped. */
int64_t ks__tmgr_dropped_processing(const ks__tmgr_t *m);

/** Records the tasks wrote to the dead-letter queue. */
int64_t ks__tmgr_dlq_records(const ks__tmgr_t *m);

/** Publish the dropped-records and enforced-processing counts (owner). */
void ks__tmgr_update_dropped(ks__tmgr_t *m);
int64_t ks__tmgr_tasks_published(const ks__tmgr_t *m);
int64_t ks__tmgr_restored(const ks__tmgr_t *m);
int64_t ks__tmgr_enforced(const ks__tmgr_t *m);

/** Punctuations fired by the tasks so far. */
uint64_t ks__tmgr_punctuations(const ks__tmgr_t *m);

/** Add the task-, node- and store-level metrics of every task to @p set,
 *  tagged with @p thread_id; records lag from @p consumer's cached
 *  watermarks. On the thread; ticks the tasks' meters. */
void ks__tmgr_metrics(ks__tmgr_t *m, ks_metrics_t *set, const char *thread_id,
                      rd_kafka_t *consumer, int64_t now_ms);

#endif
