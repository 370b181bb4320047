/**
 * @file kstreams/config.h
 * @brief Application configuration with Kafka Streams' key names.
 *
 * Keys and defaults follow Kafka Streams (application.id, bootstrap.servers,
 * num.stream.threads, state.dir, commit.interval.ms, processing.guarantee,
 * statestore.cache.max.bytes, ...); docs/configuration.md lists them all.
 * Keys prefixed `consumer.`, `main.consumer.`, `restore.consumer.`,
 * `global.consumer.`, `producer.` or `admin.` pass through to librdkafka and
 * are checked against librdkafka's own configuration at set time.
 *
 * Unknown keys and bad values fail in ks_config_set() with a message naming
 * the key, never later.
 *
 * Thread-safety: a configuration object may be used from one thread at a
 * time. Objects that take a configuration copy it, so it may be changed or
 * destroyed afterwards.
 */
#ifndef KSTREAMS_CONFIG_H
#define KSTREAMS_CONFIG_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** Log levels (syslog numbering, as librdkafka). */
typedef enum ks_log_level_e {
        KS_LOG_ERR = 3,
        KS_LOG_WARNING = 4,
        KS_LOG_NOTICE = 5,
        KS_LOG_INFO = 6,
        KS_LOG_DEBUG = 7,
} ks_log_level_t;

/**
 * Log callback.
 * @param opaque the pointer given to ks_config_set_log_cb()
 * @param level  a ks_log_level_t
 * @param facility short subsystem name ("TASK", "STATE", "SERDE", ...)
 * @param message the line, without a trailing newline; borrowed for the call
 *
 * May be called from any library thread; it must be thread-safe.
 */
typedef void(ks_log_cb)(void *opaque, int level, const char *facility,
                        const char *message);

/**
 * @brief A new configuration holding the defaults.
 * @returns the object (free with ks_config_destroy()), NULL when out of
 *          memory.
 */
KS_EXPORT ks_config_t *ks_config_new(void);

/**
 * @brief A deep copy of @p conf (NULL when out of memory).
 */
KS_EXPORT ks_config_t *ks_config_dup(const ks_config_t *conf);

/**
 * @brief Set @p key to @p value.
 *
 * The value is validated now: numbers against their ranges, enumerations
 * against their names, application.id against Kafka's topic-name rules,
 * pass-through keys against librdkafka. Keys the library controls itself
 * (for instance `consumer.group.id`, `consumer.enable.auto.commit`) are
 * refused.
 *
 * @param errp if non-NULL, receives an error object on failure (free with
 *        ks_error_destroy()); its message names the key.
 * @returns KS_ERR_NO_ERROR, KS_ERR_UNKNOWN_CONFIG for an unknown key,
 *          KS_ERR_INVALID_CONFIG for a bad value, KS_ERR_INVALID_ARG for NULL
 *          arguments. On failure the configuration is unchanged.
 */
KS_EXPORT ks_err_t ks_config_set(ks_config_t *conf, const char *key,
                                 const char *value, ks_error_t **errp);

/**
 * @brief The current value of @p key, or its default.
 * @returns a string owned by @p conf, valid until the key is set again or
 *          the object is destroyed; NULL for an unknown key or an unset
 *          pass-through key. A key without default (application.id) reads
 *          as "".
 */
KS_EXPORT const char *ks_config_get(const ks_config_t *conf, const char *key);

/**
 * @brief Route the library's log lines to @p cb (default: stderr, levels up
 *        to KS_LOG_INFO). NULL @p cb silences logging.
 */
KS_EXPORT void ks_config_set_log_cb(ks_config_t *conf, ks_log_cb *cb,
                                    void *opaque);

/** @brief Free @p conf. NULL is a no-op. */
KS_EXPORT void ks_config_destroy(ks_config_t *conf);

KS_END_DECLS

#endif
