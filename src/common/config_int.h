/* Internal access to configuration values (validated at set time). */
#ifndef KS_CONFIG_INT_H
#define KS_CONFIG_INT_H

#include "kstreams/config.h"

#include <stdarg.h>

#include "error_int.h"

/** Processing guarantees (processing.guarantee). */
typedef enum {
        KS_GUARANTEE_AT_LEAST_ONCE,
        KS_GUARANTEE_EXACTLY_ONCE_V2,
} ks_guarantee_t;

/** Deserialization exception handlers. */
typedef enum {
        KS_DESER_LOG_AND_FAIL,
        KS_DESER_LOG_AND_CONTINUE,
} ks_deser_handler_t;

/** Processing-error handlers (processing.exception.handler). */
typedef enum {
        KS_PROC_LOG_AND_FAIL,
        KS_PROC_LOG_AND_CONTINUE,
} ks_proc_handler_t;

/** Built-in timestamp extractors (default.timestamp.extractor). */
typedef enum {
        KS_TSX_FAIL_ON_INVALID,
        KS_TSX_LOG_AND_SKIP_ON_INVALID,
        KS_TSX_USE_PREVIOUS_ON_INVALID,
        KS_TSX_WALL_CLOCK,
} ks_tsx_kind_t;

/** Integer value of a numeric key (the default if unset). */
int64_t ks__config_int(const ks_config_t *conf, const char *key);

/** Index of an enumeration key's value in its value list. */
int ks__config_enum(const ks_config_t *conf, const char *key);

/** Effective commit interval (100 ms under exactly_once_v2 unless set). */
int64_t ks__config_commit_interval_ms(const ks_config_t *conf);

/**
 * Call @p cb for every pass-through key with @p prefix (e.g. "consumer."),
 * with the prefix stripped, in the order they were set.
 */
void ks__config_foreach_passthrough(const ks_config_t *conf, const char *prefix,
                                    void (*cb)(void *opaque, const char *key,
                                               const char *value),
                                    void *opaque);

/** The longest application.server accepted. */
#define KS_SERVER_MAX 255

/** 1 if @p s is a valid application.server: host:port (a host name or
 *  IPv4 address of [a-zA-Z0-9._-], or [IPv6]; port 1..65535), at most
 *  KS_SERVER_MAX characters. */
int ks__server_valid(const char *s);

/** Whether a message of @p level would be logged (to skip formatting it). */
int ks__log_enabled(const ks_config_t *conf, int level);

/** Log through the configured log callback. */
void ks__log(const ks_config_t *conf, int level, const char *facility,
             const char *fmt, ...) KS_PRINTF(4, 5);

#endif
