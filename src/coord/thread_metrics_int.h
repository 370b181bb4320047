/* A stream thread's metrics: the meters its loop feeds, and the set it
 * publishes about once a second for any thread to copy.
 *
 * The loop is the only writer of the meters and the only builder of the
 * set; building reads the thread's own tasks, stores and consumer, so
 * nothing there needs a lock. The published set is swapped under `lock`,
 * which a snapshot (ks_app_metrics()) takes only to copy it. */
#ifndef KS_THREAD_METRICS_INT_H
#define KS_THREAD_METRICS_INT_H

#include <pthread.h>

#include "../common/metrics_int.h"

#include <librdkafka/rdkafka.h>

#define KS__MAX_BROKERS 64

/* A broker's round-trip times from librdkafka's statistics. */
typedef struct {
        char name[128];
        double rtt_avg_ms, rtt_p99_ms;
} ks__broker_rtt_t;

typedef struct {
        ks__meter_t process, poll, commit, punctuate;
        ks__broker_rtt_t brokers[KS__MAX_BROKERS];
        size_t broker_cnt;
        int64_t blocked_ns; /* waiting in poll for records */
        int64_t next_publish;
        pthread_mutex_t lock;
        ks_metrics_t *published; /* under lock */
} ks__tmetrics_t;

typedef struct ks__thread_s ks__thread_t;

void ks__tmetrics_init(ks__tmetrics_t *m);
void ks__tmetrics_destroy(ks__tmetrics_t *m);

/** Publish @p thr's figures if a second has passed since it last did (or
 *  @p force). On the thread. */
void ks__thread_publish_metrics(ks__thread_t *thr, int force);

/** librdkafka's statistics callback of the main consumer (on the thread,
 *  from its poll): keeps the brokers' round-trip times. */
int ks__thread_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/** Append @p thr's last published figures to @p dst. Any thread. */
void ks__thread_copy_metrics(ks__thread_t *thr, ks_metrics_t *dst);

#endif
