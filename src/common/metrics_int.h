/* Metrics: the set a snapshot is made of, and the meters that feed it.
 *
 * A set (ks_metrics_t, public in kstreams/metrics.h) is a flat list of
 * (group, name, description, tags, value). Groups, names and
 * descriptions are the library's string literals and are kept by
 * pointer; tag values are copied into the set's arena.
 *
 * A meter counts events and their latencies and answers rates and
 * latencies over a sliding window of KS__METER_SLOTS one-second slots.
 * It has one writer, the thread that owns it, which also reads it when
 * it publishes its figures (see stream_thread.c): no atomics.
 *
 * @locality a set: its builder until published, then read-only. */
#ifndef KS_METRICS_INT_H
#define KS_METRICS_INT_H

#include <stdint.h>

#include "kstreams/metrics.h"

#define KS__METRICS_WINDOW_MS 30000
#define KS__METER_SLOTS       30

/** A new empty set, or NULL out of memory. */
ks_metrics_t *ks__mset_new(void);

/** Add a metric; @p tags is "key", "value", ..., NULL (or NULL). Out of
 *  memory marks the set failed (ks__mset_failed()) and drops it. */
void ks__mset_add(ks_metrics_t *m, const char *group, const char *name,
                  const char *help, double value, const char *const *tags);

/** Append every metric of @p src to @p dst. */
void ks__mset_append(ks_metrics_t *dst, const ks_metrics_t *src);

/** 1 if an add failed for want of memory. */
int ks__mset_failed(const ks_metrics_t *m);

/** A copy of @p m (NULL out of memory). */
ks_metrics_t *ks__mset_copy(const ks_metrics_t *m);

/** The set as Prometheus text / JSON (malloc'd, NUL-terminated; NULL out
 *  of memory). */
char *ks__mset_prometheus(const ks_metrics_t *m, size_t *len);
char *ks__mset_json(const ks_metrics_t *m, int64_t time_ms, size_t *len);

typedef struct {
        int64_t count, sum_ns, max_ns; /* totals; the open slot's max */
        int64_t t[KS__METER_SLOTS];    /* per closed slot: when, */
        int64_t c[KS__METER_SLOTS];    /* the count and sum then, */
        int64_t s[KS__METER_SLOTS];
        int64_t mx[KS__METER_SLOTS]; /* and the slot's max */
        int head, n;
} ks__meter_t;

/** @p n events that took @p ns nanoseconds in all (0: not timed). */
static inline void ks__meter_record(ks__meter_t *m, int64_t n, int64_t ns) {
        m->count += n;
        m->sum_ns += ns;
        if (n > 0 && ns / n > m->max_ns)
                m->max_ns = ns / n;
}

/** Close the open slot at @p now_ms (about once a second). */
void ks__meter_tick(ks__meter_t *m, int64_t now_ms);

/** Events per second over the window ending at @p now_ms. */
double ks__meter_rate(const ks__meter_t *m, int64_t now_ms);

/** Average and largest latency (ms) of the window's events (0 if none). */
double ks__meter_avg_ms(const ks__meter_t *m);
double ks__meter_max_ms(const ks__meter_t *m);

/** Monotonic nanoseconds. */
int64_t ks__now_ns(void);

#endif
