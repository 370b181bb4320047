/**
 * @file kstreams/processor.h
 * @brief The Processor API: records, processor callbacks and the processor
 *        context.
 *
 * A processor is three callbacks and an opaque pointer. For every task that
 * runs the processor's sub-topology, init() makes the per-task state that
 * process() and close() receive, so one processor definition serves any
 * number of tasks (Kafka Streams' ProcessorSupplier).
 *
 * Records are byte slices. A record handed to process(), and everything it
 * points to (key, value, headers), is borrowed for the call only; copy what
 * you keep. Forwarded keys and values are borrowed by the library for the
 * forward call only: stores and sinks copy.
 *
 * Thread-safety: a context and everything reached through it belong to the
 * task's stream thread; call these functions only from inside init(),
 * process(), close() or a punctuator of that task.
 */
#ifndef KSTREAMS_PROCESSOR_H
#define KSTREAMS_PROCESSOR_H

#include "common.h"
#include "error.h"
#include "headers.h"
#include "store.h"

KS_BEGIN_DECLS

/**
 * Create the per-task state of a processor.
 * @param ctx    the task's context (stores are open; may schedule
 *               punctuation)
 * @param opaque the pointer given to ks_topology_add_processor()
 * @param statep receives the state process() and close() get; defaults to
 *               @p opaque
 * @returns KS_ERR_NO_ERROR, or an error that stops the task.
 */
typedef ks_err_t(ks_processor_init_cb)(ks_context_t *ctx, void *opaque,
                                       void **statep);

/**
 * Process one record.
 * @returns KS_ERR_NO_ERROR, or an error that stops the task (the message
 *          names the processor; add detail with ks_context_set_error()).
 */
typedef ks_err_t(ks_processor_process_cb)(ks_context_t *ctx,
                                          const ks_record_t *record,
                                          void *state);

/** Release the per-task state when the task closes. */
typedef void(ks_processor_close_cb)(ks_context_t *ctx, void *state);

/** Punctuation clocks. */
typedef enum ks_punctuation_type_e {
        /** Driven by record timestamps: fires when stream time passes each
         *  multiple of the interval (at most once per advance). */
        KS_PUNCTUATE_STREAM_TIME,
        /** Driven by the wall clock: fires every interval from scheduling. */
        KS_PUNCTUATE_WALL_CLOCK_TIME,
} ks_punctuation_type_t;

/**
 * A punctuator.
 * @param timestamp the stream time or wall-clock time that triggered it
 * @returns KS_ERR_NO_ERROR, or an error that stops the task.
 */
typedef ks_err_t(ks_punctuator_cb)(ks_context_t *ctx, int64_t timestamp,
                                   void *opaque);

/** @name Records
 * @{ */
/** @brief The key (NULL for a null key); its size in *sizep. */
KS_EXPORT const void *ks_record_key(const ks_record_t *rec, size_t *sizep);
/** @brief The value (NULL for a null value, a tombstone). */
KS_EXPORT const void *ks_record_value(const ks_record_t *rec, size_t *sizep);
/** @brief The record's timestamp (ms). */
KS_EXPORT int64_t ks_record_timestamp(const ks_record_t *rec);
/** @brief The record's headers (never NULL; possibly empty). */
KS_EXPORT const ks_headers_t *ks_record_headers(const ks_record_t *rec);
/** @} */

/**
 * @brief Forward a record to every child of the current processor, with the
 *        current record's timestamp and headers. NULL key or value means
 *        null. Children run before this returns.
 * @returns KS_ERR_NO_ERROR or the first error of a child (which the caller
 *          should return from process()).
 */
KS_EXPORT ks_err_t ks_context_forward(ks_context_t *ctx, const void *key,
                                      size_t key_size, const void *value,
                                      size_t value_size);

/**
 * @brief Forward to the child named @p child only.
 * @returns as ks_context_forward(); KS_ERR_NOT_FOUND if @p child is not a
 *          child of the current processor.
 */
KS_EXPORT ks_err_t ks_context_forward_to(ks_context_t *ctx, const char *child,
                                         const void *key, size_t key_size,
                                         const void *value, size_t value_size);

/**
 * @brief Forward with an explicit timestamp and headers.
 * @param child   NULL for every child, else one child's name
 * @param headers NULL for the current record's headers (borrowed)
 */
KS_EXPORT ks_err_t ks_context_forward_record(ks_context_t *ctx,
                                             const char *child, const void *key,
                                             size_t key_size, const void *value,
                                             size_t value_size,
                                             int64_t timestamp,
                                             const ks_headers_t *headers);

/** @name Current record metadata
 * Of the input record being processed; the timestamp is that of the record
 * the current processor was given (a parent may forward a record with
 * another timestamp, as a windowed aggregation does). Inside a punctuator:
 * topic NULL, offset -1, timestamp the punctuation time, no headers.
 * @{ */
KS_EXPORT const char *ks_context_topic(const ks_context_t *ctx);
KS_EXPORT int32_t ks_context_partition(const ks_context_t *ctx);
KS_EXPORT int64_t ks_context_offset(const ks_context_t *ctx);
KS_EXPORT int64_t ks_context_timestamp(const ks_context_t *ctx);
KS_EXPORT const ks_headers_t *ks_context_headers(const ks_context_t *ctx);
/** @} */

/** @brief The task id, "<sub-topology>_<partition>". Borrowed. */
KS_EXPORT const char *ks_context_task_id(const ks_context_t *ctx);

/** @brief The configured application.id. Borrowed. */
KS_EXPORT const char *ks_context_application_id(const ks_context_t *ctx);

/** @brief The name of the processor being run. Borrowed. */
KS_EXPORT const char *ks_context_processor_name(const ks_context_t *ctx);

/** @brief The task's stream time: the largest record timestamp seen, -1
 *         before the first record. */
KS_EXPORT int64_t ks_context_stream_time(const ks_context_t *ctx);

/** @brief The task's wall clock (ms); the test driver's mocked clock under
 *         the test driver. */
KS_EXPORT int64_t ks_context_wall_clock_time(const ks_context_t *ctx);

/**
 * @brief The key-value store @p name, which must be connected to the current
 *        processor.
 * @param storep receives the store, valid until the task closes.
 * @returns KS_ERR_NO_ERROR; KS_ERR_NOT_FOUND for an unknown store;
 *          KS_ERR_STORE_NOT_CONNECTED if it is not connected to this
 *          processor; KS_ERR_STORE_TYPE if it is not a key-value store.
 */
KS_EXPORT ks_err_t ks_context_get_kv_store(ks_context_t *ctx, const char *name,
                                           ks_kv_store_t **storep);

/**
 * @brief The timestamped key-value store @p name, which must be connected to
 *        the current processor (the store of a DSL table, or one added with
 *        ks_topology_add_timestamped_kv_store()).
 * @param storep receives the store, valid until the task closes.
 * @returns as ks_context_get_kv_store(); KS_ERR_STORE_TYPE if it is not a
 *          timestamped key-value store.
 */
KS_EXPORT ks_err_t
ks_context_get_timestamped_kv_store(ks_context_t *ctx, const char *name,
                                    ks_timestamped_kv_store_t **storep);

/**
 * @brief The versioned key-value store @p name, which must be connected to
 *        the current processor (the store of a versioned DSL table, or one
 *        added with ks_topology_add_versioned_kv_store()).
 * @param storep receives the store, valid until the task closes.
 * @returns as ks_context_get_kv_store(); KS_ERR_STORE_TYPE if it is not a
 *          versioned key-value store.
 */
KS_EXPORT ks_err_t ks_context_get_versioned_kv_store(
        ks_context_t *ctx, const char *name, ks_versioned_kv_store_t **storep);

/**
 * @brief The window store @p name, which must be connected to the current
 *        processor.
 * @param storep receives the store, valid until the task closes.
 * @returns as ks_context_get_kv_store(); KS_ERR_STORE_TYPE if it is not a
 *          window store.
 */
KS_EXPORT ks_err_t ks_context_get_window_store(ks_context_t *ctx,
                                               const char *name,
                                               ks_window_store_t **storep);

/**
 * @brief The session store @p name, which must be connected to the current
 *        processor.
 * @param storep receives the store, valid until the task closes.
 * @returns as ks_context_get_kv_store(); KS_ERR_STORE_TYPE if it is not a
 *          session store.
 */
KS_EXPORT ks_err_t ks_context_get_session_store(ks_context_t *ctx,
                                                const char *name,
                                                ks_session_store_t **storep);

/**
 * @brief Schedule @p cb every @p interval_ms on clock @p type.
 * @param handlep if non-NULL, receives a handle for ks_punctuation_cancel(),
 *        valid until cancelled or until the task closes.
 * @returns KS_ERR_NO_ERROR, KS_ERR_INVALID_ARG (interval < 1 ms, NULL cb),
 *          KS_ERR_NO_MEMORY.
 */
KS_EXPORT ks_err_t ks_context_schedule(ks_context_t *ctx, int64_t interval_ms,
                                       ks_punctuation_type_t type,
                                       ks_punctuator_cb *cb, void *opaque,
                                       ks_punctuation_t **handlep);

/** @brief Stop a punctuation; NULL is a no-op. The handle is invalid after. */
KS_EXPORT void ks_punctuation_cancel(ks_punctuation_t *punctuation);

/** @brief Ask for a commit of this task as soon as processing allows. */
KS_EXPORT void ks_context_commit(ks_context_t *ctx);

/**
 * @brief Attach a message to the error the current callback is about to
 *        return; it becomes part of the task's error. Returns
 *        KS_ERR_PROCESSOR so callers can `return ks_context_set_error(...)`.
 */
KS_EXPORT ks_err_t ks_context_set_error(ks_context_t *ctx, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

KS_END_DECLS

#endif
