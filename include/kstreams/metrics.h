/**
 * @file kstreams/metrics.h
 * @brief Metrics of a running application: a snapshot to iterate, the
 *        Prometheus text exposition format, and a periodic JSON callback.
 *
 * Names, groups and tags follow Kafka Streams where it has the metric:
 *
 * | group                          | tags                                 |
 * |--------------------------------|--------------------------------------|
 * | stream-metrics                 | client-id                            |
 * | stream-thread-metrics          | thread-id                            |
 * | stream-task-metrics            | thread-id, task-id (+ topic,         |
 * |                                | partition; reason)                   |
 * | stream-processor-node-metrics  | thread-id, task-id,                  |
 * |                                | processor-node-id (debug level)      |
 * | stream-state-metrics           | thread-id, task-id, store            |
 * | stream-rocksdb-metrics         | thread-id, task-id, store            |
 * | stream-record-cache-metrics    | thread-id, task-id                   |
 * | librdkafka                     | client-id, broker                    |
 *
 * docs/operations.md lists every metric with its meaning. Rates are per
 * second and latencies in milliseconds, both over the last 30 seconds;
 * totals count since the thread started. Each stream thread refreshes
 * its figures about once a second, so a snapshot is at most that old.
 *
 * The processor-node metrics are recorded only when
 * metrics.recording.level is DEBUG; at INFO (the default) they cost
 * nothing.
 */
#ifndef KSTREAMS_METRICS_H
#define KSTREAMS_METRICS_H

#include <stddef.h>

#include "app.h"
#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** A snapshot of an application's metrics. */
typedef struct ks_metrics_s ks_metrics_t;

/**
 * @brief A snapshot of every metric of @p app.
 * @returns a new snapshot (free with ks_metrics_destroy()), or NULL out of
 *          memory. Any thread, any state (before ks_app_start() it holds
 *          the application-level metrics only).
 */
KS_EXPORT ks_metrics_t *ks_app_metrics(ks_app_t *app);

/** @brief Free a snapshot. NULL is a no-op. */
KS_EXPORT void ks_metrics_destroy(ks_metrics_t *m);

/** @brief The number of metrics in @p m. */
KS_EXPORT size_t ks_metrics_count(const ks_metrics_t *m);

/**
 * @brief Metric @p i (0 .. count-1) of @p m: its name, group and
 *        description (borrowed from @p m) and its value.
 * @returns KS_ERR_INVALID_ARG if @p i is out of range. Any of the
 *          out-parameters may be NULL.
 */
KS_EXPORT ks_err_t ks_metrics_get(const ks_metrics_t *m, size_t i,
                                  const char **name, const char **group,
                                  const char **description, double *value);

/** @brief The number of tags of metric @p i (0 if out of range). */
KS_EXPORT size_t ks_metrics_tag_count(const ks_metrics_t *m, size_t i);

/**
 * @brief Tag @p j of metric @p i: its key and value (borrowed from @p m).
 * @returns KS_ERR_INVALID_ARG if @p i or @p j is out of range.
 */
KS_EXPORT ks_err_t ks_metrics_tag(const ks_metrics_t *m, size_t i, size_t j,
                                  const char **key, const char **value);

/**
 * @brief The value of the first metric of @p m with @p group and @p name
 *        whose tags include every (key, value) pair of @p tags (a
 *        NULL-terminated list "key", "value", ..., or NULL for none).
 * @returns 0 and *value when found, KS_ERR_NOT_FOUND otherwise.
 */
KS_EXPORT ks_err_t ks_metrics_find(const ks_metrics_t *m, const char *group,
                                   const char *name, const char *const *tags,
                                   double *value);

/**
 * @brief Every metric of @p app in the Prometheus text exposition format
 *        (version 0.0.4): "kstreams_<group>_<name>" with '-' and '.' made
 *        '_', the tags as labels, one HELP and TYPE line per family.
 * @param len when not NULL, gets the length of the text.
 * @returns a NUL-terminated string the caller free()s, or NULL out of
 *          memory. Any thread.
 */
KS_EXPORT char *ks_app_metrics_prometheus(ks_app_t *app, size_t *len);

/**
 * @brief Every metric of @p app as one JSON document:
 *        {"time_ms":..., "metrics":[{"group":..., "name":...,
 *        "tags":{...}, "value":...}, ...]}.
 * @returns a NUL-terminated string the caller free()s, or NULL out of
 *          memory. Any thread.
 */
KS_EXPORT char *ks_app_metrics_json(ks_app_t *app, size_t *len);

/**
 * Called every statistics.interval.ms with the JSON of
 * ks_app_metrics_json() (borrowed for the call), on a thread of the
 * library's own; it must not call ks_app_close() or ks_app_destroy().
 */
typedef void(ks_stats_cb)(void *opaque, const char *json, size_t len);

/**
 * @brief Set the statistics callback (before ks_app_start()); it is
 *        called while the app runs when statistics.interval.ms > 0.
 *        NULL removes it.
 */
KS_EXPORT void ks_app_set_stats_callback(ks_app_t *app, ks_stats_cb *cb,
                                         void *opaque);

KS_END_DECLS

#endif
