/**
 * @file kstreams/test_driver.h
 * @brief Run a topology synchronously, without a broker, for unit tests
 *        (Kafka Streams' TopologyTestDriver).
 *
 * The driver creates one task per sub-topology for partition 0 and runs the
 * same task code as the runtime: serdes and handlers at sources, processors,
 * stores in RocksDB or memory, punctuation, commits. Piping a record
 * processes it completely before the call returns; records written to a topic
 * that is also a source topic (a repartition topic) are processed too. After
 * every piped record and every clock advance the driver commits, as Kafka
 * Streams' driver does.
 *
 * Each driver keeps its state in a fresh directory below state.dir, removed
 * by ks_test_driver_destroy(), so tests never share state.
 *
 * Wall-clock time is mocked: it starts at the time given to
 * ks_test_driver_new() and moves only with ks_test_driver_advance_wall_clock().
 * Stream time moves with the timestamps of piped records.
 *
 * Thread-safety: use a driver from one thread at a time.
 */
#ifndef KSTREAMS_TEST_DRIVER_H
#define KSTREAMS_TEST_DRIVER_H

#include "common.h"
#include "config.h"
#include "error.h"
#include "error_handler.h"
#include "headers.h"
#include "store.h"
#include "topology.h"

KS_BEGIN_DECLS

/**
 * @brief Build @p topo if needed and start it.
 * @param conf copied; NULL for defaults. application.id may be left unset.
 * @param initial_wall_clock_ms the mocked wall clock's start
 * @returns the driver (free with ks_test_driver_destroy()), or NULL with
 *          the error in *errp: KS_ERR_TOPOLOGY for an invalid topology,
 *          KS_ERR_IO or KS_ERR_STORE when the state cannot be created, or the
 *          error a processor's init returned.
 * @remark the driver keeps its own reference to @p topo.
 */
KS_EXPORT ks_test_driver_t *ks_test_driver_new(ks_topology_t *topo,
                                               const ks_config_t *conf,
                                               int64_t initial_wall_clock_ms,
                                               ks_error_t **errp);

/**
 * @brief Set the processing-error handler of the driver's tasks (see
 *        error_handler.h); NULL restores processing.exception.handler's
 *        choice. The handler is called on the thread piping records.
 * @remark @p opaque must outlive the driver or the next call.
 */
KS_EXPORT void ks_test_driver_set_processing_error_handler(
        ks_test_driver_t *drv, ks_processing_error_cb *cb, void *opaque);

/**
 * @brief Process one input record of @p topic. NULL key or value is null.
 *        Key, value and headers (may be NULL) are borrowed for the call.
 * @param timestamp the record's Kafka timestamp (ms)
 * @returns KS_ERR_NO_ERROR; KS_ERR_NOT_FOUND if no source reads @p topic;
 *          KS_ERR_SERDE (log_and_fail handler), KS_ERR_TIMESTAMP,
 *          KS_ERR_PROCESSOR or a processor's error (unless the
 *          processing-error handler continued past it), with a message
 *          naming the source, processor or sink. After an error the driver
 *          remains usable. The input offset of a topic's records counts
 *          from 0 per topic, so error contexts and dead-letter records
 *          name them.
 */
KS_EXPORT ks_err_t ks_test_driver_pipe(ks_test_driver_t *drv, const char *topic,
                                       const void *key, size_t key_size,
                                       const void *value, size_t value_size,
                                       int64_t timestamp,
                                       const ks_headers_t *headers,
                                       ks_error_t **errp);

/**
 * @brief Move the mocked wall clock forward by @p advance_ms (>= 0) and fire
 *        the wall-clock punctuators that are due.
 * @returns KS_ERR_NO_ERROR, KS_ERR_INVALID_ARG, or a punctuator's error.
 */
KS_EXPORT ks_err_t ks_test_driver_advance_wall_clock(ks_test_driver_t *drv,
                                                     int64_t advance_ms,
                                                     ks_error_t **errp);

/** @brief The mocked wall clock (ms). */
KS_EXPORT int64_t ks_test_driver_wall_clock(const ks_test_driver_t *drv);

/** @brief Records written to @p topic and not yet read. */
KS_EXPORT size_t ks_test_driver_output_size(const ks_test_driver_t *drv,
                                            const char *topic);

/**
 * @brief Take the oldest unread record written to @p topic.
 * @returns the record (free with ks_test_record_destroy()), NULL if none.
 */
KS_EXPORT ks_test_record_t *ks_test_driver_read_output(ks_test_driver_t *drv,
                                                       const char *topic);

/**
 * @brief The key-value store @p name (of partition 0).
 * @param storep receives the store, valid until the driver is destroyed. Its
 *        borrowed-value rules are those of store.h.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_TYPE.
 */
KS_EXPORT ks_err_t ks_test_driver_get_kv_store(ks_test_driver_t *drv,
                                               const char *name,
                                               ks_kv_store_t **storep);

/**
 * @brief The timestamped key-value store @p name (of partition 0), such as
 *        the store of a DSL table.
 * @param storep receives the store, valid until the driver is destroyed.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_TYPE (not a
 *          timestamped key-value store).
 */
KS_EXPORT ks_err_t
ks_test_driver_get_timestamped_kv_store(ks_test_driver_t *drv, const char *name,
                                        ks_timestamped_kv_store_t **storep);

/**
 * @brief The versioned key-value store @p name (of partition 0), such as
 *        the store of a versioned DSL table.
 * @param storep receives the store, valid until the driver is destroyed.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_TYPE (not a
 *          versioned key-value store).
 */
KS_EXPORT ks_err_t
ks_test_driver_get_versioned_kv_store(ks_test_driver_t *drv, const char *name,
                                      ks_versioned_kv_store_t **storep);

/**
 * @brief The window store @p name (of partition 0).
 * @param storep receives the store, valid until the driver is destroyed.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_TYPE (not a
 *          window store).
 */
KS_EXPORT ks_err_t ks_test_driver_get_window_store(ks_test_driver_t *drv,
                                                   const char *name,
                                                   ks_window_store_t **storep);

/**
 * @brief The session store @p name (of partition 0).
 * @param storep receives the store, valid until the driver is destroyed.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND, KS_ERR_STORE_TYPE (not a
 *          session store).
 */
KS_EXPORT ks_err_t ks_test_driver_get_session_store(
        ks_test_driver_t *drv, const char *name, ks_session_store_t **storep);

/**
 * @brief A metric of the driver's tasks, summed: "dropped-records" (records
 *        skipped by handlers, too late for their window or deduplicated),
 *        "dropped-records-late" (of those, the late ones),
 *        "dropped-records-duplicate" (of those, the duplicates
 *        ks_stream_deduplicate() dropped), "dropped-records-deserialization"
 *        and "dropped-records-processing-error" (of those, the records the
 *        deserialization and processing-error handlers dropped),
 *        "dlq-records" (records written to the dead-letter queue topic)
 *        or "process-total" (records processed).
 * @returns the value, or -1 for an unknown name.
 */
KS_EXPORT int64_t ks_test_driver_metric(const ks_test_driver_t *drv,
                                        const char *name);

/**
 * @brief Close every task (processor close callbacks run), remove the
 *        driver's state directory and free the driver. NULL is a no-op.
 */
KS_EXPORT void ks_test_driver_destroy(ks_test_driver_t *drv);

/** @name Output records
 * Accessors return memory owned by the record.
 * @{ */
KS_EXPORT const char *ks_test_record_topic(const ks_test_record_t *rec);
KS_EXPORT int32_t ks_test_record_partition(const ks_test_record_t *rec);
/** @brief The key, NULL for a null key. */
KS_EXPORT const void *ks_test_record_key(const ks_test_record_t *rec,
                                         size_t *sizep);
/** @brief The value, NULL for a null value. */
KS_EXPORT const void *ks_test_record_value(const ks_test_record_t *rec,
                                           size_t *sizep);
KS_EXPORT int64_t ks_test_record_timestamp(const ks_test_record_t *rec);
/** @brief The headers (never NULL). */
KS_EXPORT const ks_headers_t *
ks_test_record_headers(const ks_test_record_t *rec);
/** @brief Free @p rec. NULL is a no-op. */
KS_EXPORT void ks_test_record_destroy(ks_test_record_t *rec);
/** @} */

KS_END_DECLS

#endif
