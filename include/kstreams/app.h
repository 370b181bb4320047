/**
 * @file kstreams/app.h
 * @brief The application: a topology running on Kafka (the counterpart of
 *        Kafka Streams' KafkaStreams).
 *
 * Every instance started with the same application.id joins one consumer
 * group. The input partitions are split into tasks <sub-topology>_<partition>
 * with the range assignor; each of the instance's num.stream.threads threads
 * is one group member and runs the tasks it is given. Every write to a
 * logged store also goes to the store's changelog topic
 * <application.id>-<store>-changelog; a task that moves to another thread or
 * instance first restores its stores from the changelogs (from its local
 * checkpoint when the state directory has one), then carries on.
 *
 * States:
 *
 *     CREATED -> REBALANCING <-> RUNNING -> PENDING_SHUTDOWN -> NOT_RUNNING
 *                     |             |
 *                     +-> ERROR <---+    (ERROR -> PENDING_SHUTDOWN ->
 *                                         NOT_RUNNING on close)
 *
 * Thread-safety: every function may be called from any thread, except
 * ks_app_destroy(), which must not race with other calls on the app.
 * Listeners run on the library's threads and must not call
 * ks_app_close() or ks_app_destroy().
 */
#ifndef KSTREAMS_APP_H
#define KSTREAMS_APP_H

#include "common.h"
#include "config.h"
#include "error.h"
#include "error_handler.h"
#include "topology.h"

KS_BEGIN_DECLS

/** Application states. */
typedef enum ks_app_state_e {
        KS_APP_CREATED,
        KS_APP_REBALANCING,
        KS_APP_RUNNING,
        KS_APP_PENDING_SHUTDOWN,
        KS_APP_NOT_RUNNING,
        KS_APP_ERROR,
} ks_app_state_t;

/** Called on every state change, on a library thread. */
typedef void(ks_app_state_cb)(void *opaque, ks_app_state_t new_state,
                              ks_app_state_t old_state);

/** Phases reported by the restore listener. */
typedef enum ks_restore_phase_e {
        KS_RESTORE_START,    /**< restored = 0 */
        KS_RESTORE_PROGRESS, /**< after each batch written to the store */
        KS_RESTORE_END,      /**< the store is up to date */
} ks_restore_phase_t;

/**
 * Called while a store is restored from its changelog, on the stream thread
 * doing it.
 * @param start_offset first changelog offset read (the checkpoint, or the
 *        partition's first offset)
 * @param end_offset   the changelog's end offset when the restore began
 * @param restored     records applied so far
 */
typedef void(ks_restore_cb)(void *opaque, ks_restore_phase_t phase,
                            const char *store, const char *changelog_topic,
                            int32_t partition, int64_t start_offset,
                            int64_t end_offset, int64_t restored);

/** What to do when a stream thread stops on an error (Kafka Streams'
 *  StreamsUncaughtExceptionHandler). */
typedef enum ks_uncaught_action_e {
        /** The instance stops: state ERROR, every thread stops, the error
         *  is kept (ks_app_error()). The default. */
        KS_UNCAUGHT_SHUTDOWN_CLIENT,
        /** The failed thread is replaced by a new one, which joins the
         *  group and takes tasks again; its tasks restart from their last
         *  commit. */
        KS_UNCAUGHT_REPLACE_THREAD,
} ks_uncaught_action_t;

/**
 * Uncaught-error handler: decides the fate of a stream thread that failed
 * on a processing error (a processor or punctuator error, a deserialization
 * error under log_and_fail, a production error under fail, a store error).
 * Errors no new thread would get past (authorization, a deleted source
 * topic, an error of the cluster's transactions) stop the instance without
 * asking.
 * @param opaque the pointer given to ks_app_set_uncaught_error_handler()
 * @param error  the error; borrowed for the call
 * Called on the failing stream thread; it must not call ks_app_close() or
 * ks_app_destroy().
 */
typedef ks_uncaught_action_t(ks_uncaught_error_cb)(void *opaque,
                                                   const ks_error_t *error);

/**
 * @brief A new application running @p topo (built here if it is not yet)
 *        with @p conf (copied; application.id and bootstrap.servers are
 *        required).
 * @returns the app in CREATED, or NULL with the reason in *errp
 *          (KS_ERR_INVALID_CONFIG for a missing key; topology errors as
 *          ks_topology_build()). processing.guarantee=exactly_once_v2
 *          runs every stream thread with a transactional producer (see
 *          docs/exactly-once.md).
 */
KS_EXPORT ks_app_t *ks_app_new(ks_topology_t *topo, const ks_config_t *conf,
                               ks_error_t **errp);

/** @brief Set the state listener (before ks_app_start()). */
KS_EXPORT void ks_app_set_state_listener(ks_app_t *app, ks_app_state_cb *cb,
                                         void *opaque);

/** @brief Set the restore listener (before ks_app_start()). */
KS_EXPORT void ks_app_set_restore_listener(ks_app_t *app, ks_restore_cb *cb,
                                           void *opaque);

/**
 * @brief Set the uncaught-error handler (before ks_app_start()); NULL
 *        restores the default (KS_UNCAUGHT_SHUTDOWN_CLIENT).
 */
KS_EXPORT void ks_app_set_uncaught_error_handler(ks_app_t *app,
                                                 ks_uncaught_error_cb *cb,
                                                 void *opaque);

/**
 * @brief Set the processing-error handler (before ks_app_start()): it
 *        decides, for each record a processor, DSL callback or punctuator
 *        failed on, whether the task fails or drops the record and goes on
 *        (see error_handler.h). It takes the place of
 *        processing.exception.handler; NULL restores that key's choice.
 * @remark Called on the stream threads, several at once with
 *         num.stream.threads > 1; @p opaque must outlive the app. A call
 *         after ks_app_start() is ignored (and logged).
 */
KS_EXPORT void ks_app_set_processing_error_handler(ks_app_t *app,
                                                   ks_processing_error_cb *cb,
                                                   void *opaque);

/**
 * @brief Start: check the cluster (source topics exist, sources of one
 *        sub-topology have equal partition counts, internal topics exist
 *        with the right partition counts or can be created, the dead-letter
 *        queue topic, if configured, exists), then start the stream
 *        threads. Blocks for the checks only (bounded by about
 *        15 s when the cluster does not answer).
 * @returns KS_ERR_NO_ERROR (state REBALANCING); KS_ERR_STATE if not
 *          CREATED; otherwise the app is in ERROR, *errp names the topics
 *          or the unreachable cluster, and ks_app_error() says the same.
 */
KS_EXPORT ks_err_t ks_app_start(ks_app_t *app, ks_error_t **errp);

/**
 * @brief Stop processing: every thread commits its tasks (under
 *        exactly_once_v2: commits its open transaction), closes them,
 *        leaves the group and exits. Waits up to @p timeout_ms (-1: for
 *        ever).
 * @returns KS_ERR_NO_ERROR when every thread stopped in time (state
 *          NOT_RUNNING), KS_ERR_TIMED_OUT otherwise (the threads keep
 *          stopping; ks_app_destroy() waits for them).
 */
KS_EXPORT ks_err_t ks_app_close(ks_app_t *app, int timeout_ms);

/** @brief Close (waiting for ever) and free. NULL is a no-op. */
KS_EXPORT void ks_app_destroy(ks_app_t *app);

/** @brief The current state. */
KS_EXPORT ks_app_state_t ks_app_state(const ks_app_t *app);

/** @brief "CREATED", "REBALANCING", ... */
KS_EXPORT const char *ks_app_state_name(ks_app_state_t state);

/**
 * @brief Wait until the app is in @p state (or, when waiting for RUNNING or
 *        REBALANCING, in ERROR or NOT_RUNNING), up to @p timeout_ms.
 * @returns 1 if it reached @p state, 0 otherwise.
 */
KS_EXPORT int ks_app_wait_state(ks_app_t *app, ks_app_state_t state,
                                int timeout_ms);

/**
 * @brief The first fatal error, or NULL. Borrowed: valid until
 *        ks_app_destroy().
 */
KS_EXPORT const ks_error_t *ks_app_error(const ks_app_t *app);

/**
 * @brief A counter summed over the app's threads: "process-total" (records
 *        processed), "dropped-records", "restored-records", "commit-total",
 *        "tasks" (tasks now assigned), "duplicates-skipped" (replayed
 *        records of through topics dropped), "transactions-aborted"
 *        (exactly_once_v2: transactions aborted after an error, their
 *        tasks taken back to the last commit), "enforced-processing"
 *        (records taken by timestamp after max.task.idle.ms ran out
 *        while a partition was awaited), "dropped-records-late"
 *        (of dropped-records: records too late for their window),
 *        "dropped-records-duplicate" (of dropped-records: duplicates
 *        ks_stream_deduplicate() dropped),
 *        "dropped-records-deserialization" (of dropped-records: records
 *        the deserialization handler skipped),
 *        "dropped-records-processing-error" (of dropped-records: records
 *        the processing-error handler dropped),
 *        "dropped-records-production-error" (of dropped-records: output
 *        records not delivered under
 *        default.production.exception.handler=continue), "dlq-records"
 *        (records written to errors.dead.letter.queue.topic.name). -1
 *        for an unknown name. Any thread.
 */
KS_EXPORT int64_t ks_app_metric(const ks_app_t *app, const char *name);

KS_END_DECLS

#endif
