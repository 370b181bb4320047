/* The task-level, processor-node and store metrics of a thread's tasks
 * (see kstreams/metrics.h for the groups and docs/operations.md for each
 * metric), built on the stream thread when it publishes its figures. */
#include <inttypes.h>
#include <stdio.h>

#include "../state/store_int.h"
#include "task_manager_impl_int.h"

#define T_GROUP "stream-task-metrics"
#define N_GROUP "stream-processor-node-metrics"
#define S_GROUP "stream-state-metrics"
#define R_GROUP "stream-rocksdb-metrics"

static void input_lag(entry_t *te, ks_metrics_t *set, const char *thread_id,
                      rd_kafka_t *consumer) {
        char part[16];
        snprintf(part, sizeof(part), "%" PRId32, te->partition);
        for (size_t q = 0; q < te->pg.cnt; q++) {
                const ks__rqueue_t *rq = &te->pg.queues[q];
                int64_t lo = -1, hi = -1;
                /* Cached from the fetch responses: no request is made. */
                if (!consumer ||
                    rd_kafka_get_watermark_offsets(consumer, rq->topic,
                                                   te->partition, &lo, &hi) ||
                    hi < 0 || rq->next < 0)
                        continue;
                int64_t lag = hi - rq->next;
                const char *tags[] = {
                        "thread-id",           thread_id, "task-id",
                        ks__task_id(te->task), "topic",   rq->topic,
                        "partition",           part,      NULL};
                ks__mset_add(set, T_GROUP, "records-lag",
                             "records of the input partition not yet "
                             "processed (its end offset as last fetched "
                             "minus the next offset to process)",
                             (double)(lag > 0 ? lag : 0), tags);
                ks__mset_add(set, T_GROUP, "records-buffered",
                             "records of the input partition fetched and "
                             "waiting to be processed",
                             (double)rq->cnt, tags);
        }
}

static void node_metrics(entry_t *te, ks_metrics_t *set, const char *thread_id,
                         int64_t now) {
        size_t cnt;
        ks__meter_t *mt = ks__task_node_meters(te->task, &cnt);
        for (size_t i = 0; mt && i < cnt; i++) {
                ks__meter_tick(&mt[i], now);
                const char *tags[] = {"thread-id",
                                      thread_id,
                                      "task-id",
                                      ks__task_id(te->task),
                                      "processor-node-id",
                                      ks__task_node_name(te->task, i),
                                      NULL};
                ks__mset_add(set, N_GROUP, "process-total",
                             "records the node processed", mt[i].count, tags);
                ks__mset_add(set, N_GROUP, "process-rate",
                             "records the node processed per second",
                             ks__meter_rate(&mt[i], now), tags);
                ks__mset_add(set, N_GROUP, "process-latency-avg",
                             "average time (ms) the node took for a record, "
                             "its children included",
                             ks__meter_avg_ms(&mt[i]), tags);
                ks__mset_add(set, N_GROUP, "process-latency-max",
                             "longest time (ms) the node took for a record, "
                             "its children included",
                             ks__meter_max_ms(&mt[i]), tags);
        }
}

/* Recording level DEBUG: rate and latency of each store operation. */
static void op_metrics(ks__meter_t *mt, ks_metrics_t *set,
                       const char *const *tags, int64_t now) {
        static const char *const names[KS__STORE_OPS][4] = {
                {"put-rate", "put-latency-avg", "put-latency-max", "put-total"},
                {"get-rate", "get-latency-avg", "get-latency-max", "get-total"},
                {"delete-rate", "delete-latency-avg", "delete-latency-max",
                 "delete-total"},
                {"range-rate", "range-latency-avg", "range-latency-max",
                 "range-total"},
        };
        for (size_t k = 0; mt && k < KS__STORE_OPS; k++) {
                ks__meter_tick(&mt[k], now);
                ks__mset_add(set, S_GROUP, names[k][0],
                             "store operations per second",
                             ks__meter_rate(&mt[k], now), tags);
                ks__mset_add(set, S_GROUP, names[k][1],
                             "average time (ms) of the store operation "
                             "(range: opening the iterator)",
                             ks__meter_avg_ms(&mt[k]), tags);
                ks__mset_add(set, S_GROUP, names[k][2],
                             "longest store operation (ms)",
                             ks__meter_max_ms(&mt[k]), tags);
                ks__mset_add(set, S_GROUP, names[k][3], "store operations",
                             (double)mt[k].count, tags);
        }
}

static void store_metrics(entry_t *te, ks_metrics_t *set, const char *thread_id,
                          int64_t now) {
        for (size_t i = 0; i < ks__task_store_count(te->task); i++) {
                const char *tags[] = {
                        "thread-id", thread_id,
                        "task-id",   ks__task_id(te->task),
                        "store",     ks__task_store_name(te->task, i),
                        NULL};
                if (te->rs && i < te->store_cnt) {
                        const ks__restoring_t *r = &te->rs[i];
                        int64_t left =
                                r->done ? 0 : r->end - r->start - r->restored;
                        ks__mset_add(set, S_GROUP,
                                     "restore-remaining-records-total",
                                     "changelog records left to restore",
                                     (double)(left > 0 ? left : 0), tags);
                        ks__mset_add(set, S_GROUP, "restore-total",
                                     "changelog records restored into the "
                                     "store by this task",
                                     (double)r->restored, tags);
                }
                op_metrics(ks__task_store_meters(te->task, i), set, tags, now);
                ks__db_figures_t f;
                if (ks__task_store_figures(te->task, i, &f))
                        continue;
                ks__mset_add(set, R_GROUP, "size-all-mem-tables",
                             "bytes of the store's memtables",
                             (double)f.mem_tables, tags);
                ks__mset_add(set, R_GROUP, "estimate-pending-compaction-bytes",
                             "bytes RocksDB estimates it has to compact",
                             (double)f.pending_compaction, tags);
                ks__mset_add(set, R_GROUP, "live-sst-files-size",
                             "bytes of the store's live table files",
                             (double)f.live_sst, tags);
        }
}

void ks__tmgr_metrics(ks__tmgr_t *m, ks_metrics_t *set, const char *thread_id,
                      rd_kafka_t *consumer, int64_t now) {
        for (size_t k = 0; k < m->cnt; k++) {
                entry_t *te = m->tasks[k];
                ks__task_t *t = te->task;
                const char *tags[] = {"thread-id", thread_id, "task-id",
                                      ks__task_id(t), NULL};
                te->processed.count = (int64_t)ks__task_processed_records(t);
                ks__meter_tick(&te->processed, now);
                ks__mset_add(set, T_GROUP, "process-total",
                             "records the task processed",
                             (double)te->processed.count, tags);
                ks__mset_add(set, T_GROUP, "process-rate",
                             "records the task processed per second",
                             ks__meter_rate(&te->processed, now), tags);
                uint64_t all = ks__task_dropped_records(t);
                uint64_t late = ks__task_dropped_late(t);
                uint64_t dup = ks__task_dropped_duplicate(t);
                uint64_t deser = ks__task_dropped_deserialization(t);
                uint64_t proc = ks__task_dropped_processing(t);
                static const char *const reasons[] = {
                        "late", "duplicate", "deserialization",
                        "processing-error", "other"};
                double v[] = {(double)late, (double)dup, (double)deser,
                              (double)proc,
                              (double)(all - late - dup - deser - proc)};
                for (size_t r = 0; r < 5; r++) {
                        const char *rt[] = {"thread-id", thread_id,
                                            "task-id",   ks__task_id(t),
                                            "reason",    reasons[r],
                                            NULL};
                        ks__mset_add(set, T_GROUP, "dropped-records-total",
                                     "records the task dropped, by reason",
                                     v[r], rt);
                }
                ks__mset_add(set, T_GROUP, "enforced-processing-total",
                             "records processed by timestamp after "
                             "max.task.idle.ms ran out waiting for a "
                             "partition",
                             (double)te->pg.enforced, tags);
                ks__mset_add(set, T_GROUP, "restoring",
                             "1 while the task restores its stores",
                             te->state != TE_RUNNING, tags);
                ks__mset_add(set, T_GROUP, "dlq-records-total",
                             "failed records the task wrote to the "
                             "dead-letter queue",
                             (double)ks__task_dlq_records(t), tags);
                input_lag(te, set, thread_id, consumer);
                node_metrics(te, set, thread_id, now);
                store_metrics(te, set, thread_id, now);
        }
}

uint64_t ks__tmgr_punctuations(const ks__tmgr_t *m) {
        uint64_t n = 0;
        for (size_t k = 0; k < m->cnt; k++)
                n += ks__task_punctuations(m->tasks[k]->task);
        return n;
}
