/* What stream_thread.c (the loop, rebalances, clients) and
 * stream_commit.c (commits) share. */
#ifndef KS_STREAM_THREAD_IMPL_INT_H
#define KS_STREAM_THREAD_IMPL_INT_H

#include <pthread.h>

#include "../common/error_int.h"
#include "record_collector_int.h"
#include "stream_thread_int.h"
#include "streams_producer_int.h"
#include "task_manager_int.h"
#include "thread_metrics_int.h"

struct ks__thread_s {
        ks__thread_env_t env;
        pthread_t tid;
        int joined; /* ks__thread_wait() */
        int state;  /* ks__thread_state_t, atomic */
        char client_id[256];
        rd_kafka_t *consumer, *restore;
        ks__sproducer_t *producer;
        ks__rcollector_t *collector;
        ks__tmgr_t *tasks;
        ks__cache_budget_t cache;
        int eos;
        ks_error_t *fatal; /* the error the thread stops on */
        int fatal_replaceable;
        int closing;  /* committed for close: a revoke commits no more */
        int assigned; /* the group gave it an assignment (perhaps empty) */
        int abort_streak;
        int64_t progress_at_commit, changelog_at_commit;
        int64_t commit_interval, last_commit, poll_ms, task_timeout;
        int64_t commit_failing_since, commit_retry_at;
        /* counters, atomic */
        int64_t commits;
        ks__tmetrics_t metrics;
};

/** Move to state @p to (asserts the transition). */
void ks__thread_set_state(ks__thread_t *thr, ks__thread_state_t to);

/** Keep the first error the thread stops on (@p e taken over; NULL: a
 *  generic one). @p replaceable: see ks__thread_listener_t.failed. */
void ks__thread_fail(ks__thread_t *thr, ks_error_t *e, int replaceable);

/** Input records handled: processed or skipped as duplicates. */
int64_t ks__thread_progress(const ks__thread_t *thr);

/** Commit every running task: at-least-once or exactly-once. While
 *  @p revoking the caller closes the tasks afterwards. */
ks_err_t ks__thread_commit(ks__thread_t *thr, int revoking, ks_error_t **errp);

/** Errors that mean the cluster refuses the application (no new thread
 *  would get past them). */
int ks__authorization_error(rd_kafka_resp_err_t e);

#endif
