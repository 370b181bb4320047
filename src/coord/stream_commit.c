/* A stream thread's commits, at-least-once and exactly-once (see
 * stream_thread.c for the steps of each). */
#include "stream_thread_impl_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define ABORT_STREAK_MAX  20 /* transactions failing in a row */
#define COMMIT_BACKOFF_MS 500

void (*ks__commit_point_hook)(ks__commit_point_t point) = NULL;

/* --- commit --------------------------------------------------------------- */

static void commit_point(ks__thread_t *thr, ks__commit_point_t point,
                         int state_changes) {
        if (ks__commit_point_hook && state_changes)
                ks__commit_point_hook(point);
}

static int group_error(rd_kafka_resp_err_t e) {
        return e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
               e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
               e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

/* Errors of an offset commit that a later attempt may get past. */
static int retriable(rd_kafka_resp_err_t e) {
        switch (e) {
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
        case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        case RD_KAFKA_RESP_ERR__WAIT_COORD:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__RETRY:
        case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        case RD_KAFKA_RESP_ERR__IN_PROGRESS:
        case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
                return 1;
        default:
                return 0;
        }
}

int ks__authorization_error(rd_kafka_resp_err_t e) {
        return e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
               e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
               e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
               e == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
               e == RD_KAFKA_RESP_ERR__AUTHENTICATION;
}

/* The offset commit of an at-least-once commit. */
static ks_err_t commit_offsets(ks__thread_t *thr, ks_error_t **errp) {
        rd_kafka_topic_partition_list_t *l = ks__tmgr_offsets(thr->tasks);
        if (!l)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(thr->consumer, l, 0)
                                       : RD_KAFKA_RESP_ERR_NO_ERROR;
        /* The partition at fault, if one is (also when the request as a
         * whole failed because of it). */
        const char *topic = NULL;
        for (int k = 0; !topic && k < l->cnt; k++)
                if (l->elems[k].err) {
                        topic = l->elems[k].topic;
                        if (!e)
                                e = l->elems[k].err;
                }
        char where[300] = "";
        if (topic)
                snprintf(where, sizeof(where), " (%s)", topic);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t now = ks__now_ms();
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
                thr->commit_failing_since = 0;
                ks__tmgr_publish_committed(thr->tasks);
                __atomic_add_fetch(&thr->commits, 1, __ATOMIC_RELAXED);
        } else if (group_error(e)) {
                /* The tasks have moved on (Kafka Streams' TaskMigrated):
                 * their new owner processes these records again. */
                ks__log(thr->env.conf, KS_LOG_WARNING, "COMMIT",
                        "%s: offsets not committed (%s); the records since "
                        "the last commit will be processed again",
                        thr->client_id, rd_kafka_err2str(e));
        } else if (retriable(e)) {
                if (!thr->commit_failing_since)
                        thr->commit_failing_since = now;
                if (now - thr->commit_failing_since >= thr->task_timeout)
                        return ks__error_set(
                                errp, KS_ERR_KAFKA,
                                "offset commit%s failing for %" PRId64
                                " ms (task.timeout.ms): %s",
                                where, now - thr->commit_failing_since,
                                rd_kafka_err2str(e));
                ks__log(thr->env.conf, KS_LOG_WARNING, "COMMIT",
                        "%s: offset commit%s failed: %s; retrying",
                        thr->client_id, where, rd_kafka_err2str(e));
                thr->commit_retry_at = now + COMMIT_BACKOFF_MS;
        } else {
                /* Authorization and the like: no new thread gets past. */
                ks__thread_fail(
                        thr,
                        ks__error_new(KS_ERR_KAFKA, KS_ERROR_F_FATAL,
                                      "offset commit of group %s%s: %s",
                                      thr->env.app_id, where,
                                      rd_kafka_err2str(e)),
                        !ks__authorization_error(e) &&
                                e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
                err = KS_ERR_KAFKA;
        }
        return err;
}

static ks_err_t commit_alos(ks__thread_t *thr, ks_error_t **errp) {
        thr->last_commit = ks__now_ms();
        thr->commit_retry_at = 0;
        ks_err_t err = ks__tmgr_prepare_commit(thr->tasks, errp);
        if (!err)
                err = ks__rcollector_flush(thr->collector, thr->task_timeout,
                                           errp);
        if (!err)
                err = ks__tmgr_commit_stores(thr->tasks, errp);
        if (!err)
                err = commit_offsets(thr, errp);
        return err;
}

/* After a transaction ended without committing: get the tasks back to
 * their last commit (reopen them), or leave them to the rebalance ahead. */
static ks_err_t txn_recover(ks__thread_t *thr, ks__txn_outcome_t out,
                            const char *why, int revoking, ks_error_t **errp) {
        ks__log(thr->env.conf, KS_LOG_WARNING, "EOS",
                "%s: %s; the tasks go back to their last commit",
                thr->client_id, why);
        ks__rcollector_reset_error(thr->collector);
        thr->progress_at_commit = ks__thread_progress(thr);
        thr->changelog_at_commit =
                ks__rcollector_changelog_sent(thr->collector);
        if (++thr->abort_streak > ABORT_STREAK_MAX)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "%d transactions in a row failed; the "
                                     "last: %s",
                                     thr->abort_streak, why);
        if (revoking)
                return KS_ERR_NO_ERROR; /* the caller closes the tasks */
        if (out == KS_TXN_MIGRATED) {
                ks__tmgr_close_all(thr->tasks);
                thr->assigned = 0;
                ks__thread_set_state(thr, KS_THREAD_STARTING);
                return KS_ERR_NO_ERROR;
        }
        /* Reopen every task from its last commit: assigning again drops
         * what was fetched and starts from the committed offsets. */
        rd_kafka_topic_partition_list_t *a = NULL;
        rd_kafka_resp_err_t e = rd_kafka_assignment(thr->consumer, &a);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "assignment: %s",
                                     rd_kafka_err2str(e));
        ks__tmgr_close_all(thr->tasks);
        rd_kafka_assign(thr->consumer, NULL);
        for (int i = 0; i < a->cnt; i++)
                a->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        ks_err_t err =
                a->cnt ? ks__tmgr_assign(thr->tasks, a, errp) : KS_ERR_NO_ERROR;
        rd_kafka_topic_partition_list_destroy(a);
        return err;
}

/* Exactly-once: the output, the changelog records and the offsets (with
 * the changelog positions) commit in one transaction; only then are the
 * stores' staged writes and checkpoints written. A crash in between leaves
 * a checkpoint behind the committed changelog: the restore replays just
 * that transaction's changes. */
static ks_err_t commit_eos(ks__thread_t *thr, int revoking, ks_error_t **errp) {
        int64_t now_progress = ks__thread_progress(thr);
        thr->last_commit = ks__now_ms();
        if (!ks__sproducer_in_txn(thr->producer) &&
            now_progress == thr->progress_at_commit)
                return KS_ERR_NO_ERROR; /* nothing new */
        char why[1024] = "";
        ks__txn_outcome_t out;
        ks_error_t *pe = NULL;
        ks_err_t err = ks__tmgr_prepare_commit(thr->tasks, &pe);
        if (!err)
                err = ks__rcollector_flush(thr->collector, thr->task_timeout,
                                           &pe);
        if (err || ks__sproducer_broken(thr->producer)) {
                out = ks__sproducer_abort(thr->producer,
                                          pe ? ks_error_message(pe)
                                             : "a send was refused",
                                          why, sizeof(why), errp);
                ks_error_destroy(pe);
        } else {
                int state_changes =
                        ks__rcollector_changelog_sent(thr->collector) !=
                        thr->changelog_at_commit;
                rd_kafka_topic_partition_list_t *l =
                        ks__tmgr_offsets(thr->tasks);
                if (!l)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                rd_kafka_consumer_group_metadata_t *cg =
                        rd_kafka_consumer_group_metadata(thr->consumer);
                if (state_changes && l->cnt)
                        commit_point(thr, KS_COMMIT_POINT_BEFORE_COMMIT, 1);
                out = ks__sproducer_commit(
                        thr->producer, l, cg,
                        ks__ts_add(ks__now_ms(), thr->task_timeout), why,
                        sizeof(why), errp);
                rd_kafka_consumer_group_metadata_destroy(cg);
                rd_kafka_topic_partition_list_destroy(l);
                if (out == KS_TXN_COMMITTED) {
                        commit_point(thr, KS_COMMIT_POINT_AFTER_COMMIT,
                                     state_changes);
                        thr->abort_streak = 0;
                        thr->progress_at_commit = now_progress;
                        thr->changelog_at_commit =
                                ks__rcollector_changelog_sent(thr->collector);
                        /* Committed in Kafka: a failure to write the stores
                         * leaves them behind their changelogs, which the
                         * next restore makes good. */
                        if ((err = ks__tmgr_commit_stores(thr->tasks, errp)))
                                return err;
                        commit_point(thr, KS_COMMIT_POINT_AFTER_STATE,
                                     state_changes);
                        ks__tmgr_publish_committed(thr->tasks);
                        __atomic_add_fetch(&thr->commits, 1, __ATOMIC_RELAXED);
                        return KS_ERR_NO_ERROR;
                }
        }
        if (out == KS_TXN_FAILED)
                return ks_error_code(errp ? *errp : NULL) ? ks_error_code(*errp)
                                                          : KS_ERR_KAFKA;
        return txn_recover(thr, out, why, revoking, errp);
}

ks_err_t ks__thread_commit(ks__thread_t *thr, int revoking, ks_error_t **errp) {
        return thr->eos ? commit_eos(thr, revoking, errp)
                        : commit_alos(thr, errp);
}
