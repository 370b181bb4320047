/* What task_manager.c (tasks, assignment, initialization) and
 * task_executor.c (input, processing, commits) share. */
#ifndef KS_TASK_MANAGER_IMPL_INT_H
#define KS_TASK_MANAGER_IMPL_INT_H

#include "../common/metrics_int.h"
#include "task_manager_int.h"

typedef enum {
        TE_CREATED,
        TE_RESTORING,
        TE_RUNNING,
} te_state_t;

typedef struct {
        ks__task_t *task;
        int sub;
        int32_t partition;
        te_state_t state;
        ks__pgroup_t pg;
        ks__restoring_t *rs; /* per store */
        size_t store_cnt;
        int restoring;      /* stores left to restore */
        int64_t *committed; /* per store: the committed position, -1 */
        int task_committed; /* some input partition has a commit */
        int offsets_known;  /* committed offsets read */
        ks__marks_t *marks; /* NULL: no through input */
        ks_kv_store_t *marks_store;
        ks__meter_t processed; /* its process rate (task_metrics.c) */
        ks__qtask_t *query;    /* the task's entry for queries, NULL */
} entry_t;

struct ks__tmgr_s {
        ks__tmgr_env_t env;
        ks__creader_t *reader;
        entry_t **tasks;
        size_t cnt, cap;
        int blocked;          /* a task waits for a partition */
        int reseek;           /* a resume's seek failed: try again */
        int64_t init_failing; /* since when initialization fails, 0 */
        int64_t idle_ms, buffered_max, task_timeout;
        int64_t dropped_closed, late_closed, dup_closed;
        int64_t deser_closed, proc_closed, dlq_closed;
        uint64_t enforced_closed;
        /* atomic */
        int64_t processed, duplicates, dropped, tasks_pub, enforced, late;
        int64_t dropped_dup; /* deduplicated (duplicates: replays skipped) */
        int64_t dropped_deser, dropped_proc, dlq; /* error handlers */
};

/** Pause or resume the partition of @p q (a resume seeks to q->next). */
void ks__tmgr_pause_resume(ks__tmgr_t *m, entry_t *te, ks__rqueue_t *q,
                           int pause);

/** Try again the resumes whose seek failed (see ks__tmgr_pause_resume). */
void ks__tmgr_reseek(ks__tmgr_t *m);

/** The task and queue of @p topic [@p p], or NULL. */
ks__rqueue_t *ks__tmgr_find_queue(ks__tmgr_t *m, const char *topic, int32_t p,
                                  entry_t **tep);

#endif
