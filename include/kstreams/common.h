/**
 * @file kstreams/common.h
 * @brief Export macros and every opaque type of the public API.
 *
 * All public types are opaque: they are declared here together and used only
 * through the functions of their header. Destroying NULL is always a no-op.
 */
#ifndef KSTREAMS_COMMON_H
#define KSTREAMS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define KS_BEGIN_DECLS extern "C" {
#define KS_END_DECLS   }
#else
#define KS_BEGIN_DECLS
#define KS_END_DECLS
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KS_EXPORT    __attribute__((visibility("default")))
#define KS_NODISCARD __attribute__((warn_unused_result))
#else
#define KS_EXPORT
#define KS_NODISCARD
#endif

KS_BEGIN_DECLS

/** Configuration (see config.h). */
typedef struct ks_config_s ks_config_t;
/** Detailed error with recovery hints (see error.h). */
typedef struct ks_error_s ks_error_t;
/** Record headers (see headers.h). */
typedef struct ks_headers_s ks_headers_t;
/** Serializer/deserializer (see serde.h). */
typedef struct ks_serde_s ks_serde_t;
/** Growable byte buffer serdes encode into (see serde.h). */
typedef struct ks_buf_s ks_buf_t;
/** Processor topology under construction or built (see topology.h). */
typedef struct ks_topology_s ks_topology_t;
/** The record a processor is handed (see processor.h). */
typedef struct ks_record_s ks_record_t;
/** The processor context: a processor's view of its task (processor.h). */
typedef struct ks_context_s ks_context_t;
/** What a processing-error handler is told about a failed record (see
 *  error_handler.h). */
typedef struct ks_error_context_s ks_error_context_t;
/** A scheduled punctuation (see processor.h). */
typedef struct ks_punctuation_s ks_punctuation_t;
/** Key-value state store (see store.h). */
typedef struct ks_kv_store_s ks_kv_store_t;
/** Iterator over a key-value store range (see store.h). */
typedef struct ks_kv_iter_s ks_kv_iter_t;
/** Key-value store whose values carry a timestamp (see store.h). */
typedef struct ks_timestamped_kv_store_s ks_timestamped_kv_store_t;
/** Iterator over a timestamped key-value store range (see store.h). */
typedef struct ks_timestamped_kv_iter_s ks_timestamped_kv_iter_t;
/** Window state store: values per key and window start (see store.h). */
typedef struct ks_window_store_s ks_window_store_t;
/** Iterator over windows of a window store (see store.h). */
typedef struct ks_window_iter_s ks_window_iter_t;
/** Session state store: values per key and session (see store.h). */
typedef struct ks_session_store_s ks_session_store_t;
/** Iterator over sessions of a session store (see store.h). */
typedef struct ks_session_iter_s ks_session_iter_t;
/** Key-value store keeping each key's versions over time (see store.h). */
typedef struct ks_versioned_kv_store_s ks_versioned_kv_store_t;
/** An application running a topology on Kafka (see app.h). */
typedef struct ks_app_s ks_app_t;
/** Synchronous topology driver for tests (see test_driver.h). */
typedef struct ks_test_driver_s ks_test_driver_t;
/** A record read from the test driver's output (see test_driver.h). */
typedef struct ks_test_record_s ks_test_record_t;

/** @brief Free memory the library handed over (describe() strings). */
KS_EXPORT void ks_free(void *ptr);

/** @brief The library's run-time version, 0xMMmmpp (compare KS_VERSION). */
KS_EXPORT int ks_version(void);

/** @brief The library's run-time version as a string, "0.1.0". */
KS_EXPORT const char *ks_version_str(void);

KS_END_DECLS

#endif
