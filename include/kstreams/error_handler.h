/**
 * @file kstreams/error_handler.h
 * @brief The processing-error handler (Kafka Streams' ProcessingException-
 *        Handler, KIP-1033) and what it is told about a failed record.
 *
 * A processor's process callback, a DSL callback (mapper, predicate,
 * aggregator, joiner, ...) or a punctuator that returns an error does not
 * stop the application by itself: the error goes to the processing-error
 * handler, which answers KS_HANDLER_FAIL (the task fails, as it always did)
 * or KS_HANDLER_CONTINUE (the record is dropped and counted, and processing
 * goes on with the next record). Without a custom handler the configuration
 * key `processing.exception.handler` decides: `log_and_fail` (the default)
 * or `log_and_continue`.
 *
 * What a failed record already did before its error stays done: records
 * it had forwarded to sinks are sent, and store writes it made are kept
 * (under exactly_once_v2 they commit with the transaction), as in Kafka
 * Streams. With `errors.dead.letter.queue.topic.name` set, a record
 * dropped this way is also written to that topic (see
 * docs/operations.md).
 *
 * Errors that are not the record's fault never reach the handler: a send
 * the producer refused, out of memory, and the errors of init callbacks and
 * record-cache flushes.
 *
 * Thread-safety: the handler is called on the stream thread that runs the
 * failing task; with several stream threads it may run on several threads
 * at once, so whatever it shares must be thread-safe. An error context is
 * valid only during the call it is handed to.
 */
#ifndef KSTREAMS_ERROR_HANDLER_H
#define KSTREAMS_ERROR_HANDLER_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** What to do with a record whose processing failed. */
typedef enum ks_handler_response_e {
        /** Stop: the task fails with the error (then the uncaught-error
         *  handler decides, see app.h). */
        KS_HANDLER_FAIL,
        /** Drop the record (count it, write it to the dead-letter queue
         *  when one is configured) and go on with the next one. */
        KS_HANDLER_CONTINUE,
} ks_handler_response_t;

/**
 * @brief The source topic of the failed record; NULL for a punctuator.
 * @returns a string valid for the handler call.
 */
KS_EXPORT const char *ks_error_context_topic(const ks_error_context_t *ctx);

/** @brief The partition of the failed record (a punctuator: its task's). */
KS_EXPORT int32_t ks_error_context_partition(const ks_error_context_t *ctx);

/** @brief The offset of the failed record; -1 for a punctuator. */
KS_EXPORT int64_t ks_error_context_offset(const ks_error_context_t *ctx);

/** @brief The Kafka timestamp of the failed record as read (ms); for a
 *         punctuator, the punctuation time. */
KS_EXPORT int64_t ks_error_context_timestamp(const ks_error_context_t *ctx);

/**
 * @brief The name of the node whose callback failed (a processor, a DSL
 *        step, or a sink whose serdes refused the record); NULL for
 *        deserialization and production errors.
 * @returns a string valid for the handler call.
 */
KS_EXPORT const char *ks_error_context_processor(const ks_error_context_t *ctx);

/** @brief The failing task's id, "<sub-topology>_<partition>". */
KS_EXPORT const char *ks_error_context_task_id(const ks_error_context_t *ctx);

/**
 * @brief The raw key bytes of the source record as read from Kafka (before
 *        any processing); NULL for a null key or a punctuator.
 * @param sizep receives the size (may be NULL)
 * @returns bytes borrowed for the handler call.
 */
KS_EXPORT const void *ks_error_context_key(const ks_error_context_t *ctx,
                                           size_t *sizep);

/** @brief The raw value bytes of the source record, as
 *         ks_error_context_key(). */
KS_EXPORT const void *ks_error_context_value(const ks_error_context_t *ctx,
                                             size_t *sizep);

/** @brief The source record's headers (never NULL; empty for a
 *         punctuator); borrowed for the handler call. */
KS_EXPORT const ks_headers_t *
ks_error_context_headers(const ks_error_context_t *ctx);

/**
 * A processing-error handler.
 * @param opaque the pointer given with the handler
 * @param ctx    the failed record (or punctuation); borrowed for the call
 * @param error  the error, whose message names the node and task and
 *               carries the text of ks_context_set_error(); borrowed
 * @returns KS_HANDLER_FAIL or KS_HANDLER_CONTINUE; any other value is
 *          taken as KS_HANDLER_FAIL.
 * Called on a stream thread (several at once with num.stream.threads > 1);
 * it must not call ks_app_close() or ks_app_destroy(), nor block for long
 * (the thread's group membership depends on its polling).
 */
typedef ks_handler_response_t(ks_processing_error_cb)(
        void *opaque, const ks_error_context_t *ctx, const ks_error_t *error);

KS_END_DECLS

#endif
