/**
 * @file kstreams/error.h
 * @brief Error codes and error objects.
 *
 * Two tiers, as in librdkafka: a cheap ks_err_t code that every fallible call
 * returns, and a ks_error_t object for calls that can fail in several ways,
 * carrying a message that names what was wrong and how to recover.
 *
 * Thread-safety: all functions here are thread-safe; an error object belongs
 * to whoever received it.
 */
#ifndef KSTREAMS_ERROR_H
#define KSTREAMS_ERROR_H

#include "common.h"

KS_BEGIN_DECLS

/**
 * The error table: code, symbolic suffix, description. ks_err2str() and
 * ks_err_name() are generated from it, so they never drift from the codes.
 */
#define KS_ERR_MAP(XX)                                                         \
        XX(0, NO_ERROR, "Success")                                             \
        XX(-1, INVALID_ARG, "Invalid argument")                                \
        XX(-2, NO_MEMORY, "Out of memory")                                     \
        XX(-3, UNKNOWN_CONFIG, "Unknown configuration key")                    \
        XX(-4, INVALID_CONFIG, "Invalid configuration value")                  \
        XX(-5, STATE, "Operation not allowed in the current state")            \
        XX(-6, TOPOLOGY, "Invalid topology")                                   \
        XX(-7, NOT_FOUND, "Not found")                                         \
        XX(-8, SERDE, "Serialization or deserialization failed")               \
        XX(-9, STORE, "State store failure")                                   \
        XX(-10, STORE_CLOSED, "State store is closed")                         \
        XX(-11, STORE_TYPE, "State store has another type")                    \
        XX(-12, STORE_NOT_CONNECTED,                                           \
           "State store is not connected to this processor")                   \
        XX(-13, IO, "I/O error")                                               \
        XX(-14, PROCESSOR, "Processor callback failed")                        \
        XX(-15, TIMESTAMP, "Invalid record timestamp")                         \
        XX(-16, KAFKA, "Kafka client error")                                   \
        XX(-17, TIMED_OUT, "Timed out")                                        \
        XX(-18, FATAL, "Fatal error")                                          \
        XX(-19, STORE_MIGRATED, "State store is not held by this instance")    \
        XX(-20, STORE_RESTORING, "State store is restoring")

/** Error codes. 0 is success, every failure is negative. */
typedef enum ks_err_e {
#define KS__ERR_ENUM(code, name, desc) KS_ERR_##name = (code),
        KS_ERR_MAP(KS__ERR_ENUM)
#undef KS__ERR_ENUM
} ks_err_t;

/**
 * @brief Human-readable description of @p err.
 * @returns a static string; "Unknown error" for a code not in the table.
 */
KS_EXPORT const char *ks_err2str(ks_err_t err);

/**
 * @brief Symbolic name of @p err, e.g. "KS_ERR_SERDE".
 * @returns a static string; "KS_ERR_UNKNOWN" for a code not in the table.
 */
KS_EXPORT const char *ks_err_name(ks_err_t err);

/** @brief The error code of @p error (KS_ERR_NO_ERROR for NULL). */
KS_EXPORT ks_err_t ks_error_code(const ks_error_t *error);

/**
 * @brief The message of @p error: what failed and which key, topic, store or
 *        node it concerns.
 * @returns a string owned by @p error, valid until ks_error_destroy(); ""
 *          for NULL.
 */
KS_EXPORT const char *ks_error_message(const ks_error_t *error);

/** @brief Non-zero if the application cannot continue after @p error. */
KS_EXPORT int ks_error_is_fatal(const ks_error_t *error);

/** @brief Non-zero if the same call may succeed when retried. */
KS_EXPORT int ks_error_is_retriable(const ks_error_t *error);

/** @brief Non-zero if the current Kafka transaction must be aborted. */
KS_EXPORT int ks_error_txn_requires_abort(const ks_error_t *error);

/** @brief Free @p error. NULL is a no-op. */
KS_EXPORT void ks_error_destroy(ks_error_t *error);

KS_END_DECLS

#endif
