/* A stream thread's metrics (thread_metrics_int.h): the thread level
 * (stream-thread-metrics, stream-record-cache-metrics) here, the levels
 * below from the task manager (task_metrics.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "../serde/json_int.h"
#include "stream_thread_impl_int.h"

#define TH_GROUP   "stream-thread-metrics"
#define RC_GROUP   "stream-record-cache-metrics"
#define PUBLISH_MS 1000
#define RK_GROUP   "librdkafka"

static double number(const ks__json_t *j, const char *key) {
        const ks__json_t *v = j ? ks__json_get(j, key) : NULL;
        return v && v->type == KS_JSON_NUMBER ? v->number : 0;
}

int ks__thread_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        ks__thread_t *thr = opaque;
        (void)rk;
        (void)len;
        char why[64];
        ks__json_t *j = ks__json_parse(json, why, sizeof(why));
        const ks__json_t *b = j ? ks__json_get(j, "brokers") : NULL;
        ks__tmetrics_t *m = &thr->metrics;
        m->broker_cnt = 0;
        for (size_t i = 0; b && b->type == KS_JSON_OBJECT && i < b->cnt &&
                           m->broker_cnt < KS__MAX_BROKERS;
             i++) {
                const ks__json_t *br = b->items[i];
                /* Bootstrap entries have no node id of their own, and
                 * logical ones (the group coordinator) repeat a broker. */
                const char *src = ks__json_get_str(br, "source");
                if (number(br, "nodeid") < 0 ||
                    (src && !strcmp(src, "logical")))
                        continue;
                const ks__json_t *rtt = ks__json_get(br, "rtt");
                ks__broker_rtt_t *r = &m->brokers[m->broker_cnt++];
                snprintf(r->name, sizeof(r->name), "%s", b->keys[i]);
                r->rtt_avg_ms = number(rtt, "avg") / 1000.0;
                r->rtt_p99_ms = number(rtt, "p99") / 1000.0;
        }
        ks__json_free(j);
        return 0; /* librdkafka frees json */
}

void ks__tmetrics_init(ks__tmetrics_t *m) {
        pthread_mutex_init(&m->lock, NULL);
}

void ks__tmetrics_destroy(ks__tmetrics_t *m) {
        ks_metrics_destroy(m->published);
        m->published = NULL;
        pthread_mutex_destroy(&m->lock);
}

/* total, rate, latency-avg and latency-max of one meter */
static void meter4(ks_metrics_t *set, const char *what, ks__meter_t *mt,
                   int64_t now, const char *const *tags) {
        static const struct {
                const char *what, *names[4], *help[4];
        } d[] = {
                {"process",
                 {"process-total", "process-rate", "process-latency-avg",
                  "process-latency-max"},
                 {"records processed", "records processed per second",
                  "average time (ms) to process a record, over each batch",
                  "longest average time (ms) per record of a batch"}},
                {"poll",
                 {"poll-total", "poll-rate", "poll-latency-avg",
                  "poll-latency-max"},
                 {"polls of the consumer", "polls per second",
                  "average time (ms) of a poll", "longest poll (ms)"}},
                {"commit",
                 {"commit-total", "commit-rate", "commit-latency-avg",
                  "commit-latency-max"},
                 {"commits of the thread's tasks", "commits per second",
                  "average time (ms) of a commit", "longest commit (ms)"}},
                {"punctuate",
                 {"punctuate-total", "punctuate-rate", "punctuate-latency-avg",
                  "punctuate-latency-max"},
                 {"wall-clock punctuations", "punctuations per second",
                  "average time (ms) of a punctuation",
                  "longest punctuation (ms)"}},
        };
        size_t i = 0;
        while (i < sizeof(d) / sizeof(d[0]) - 1 && strcmp(d[i].what, what))
                i++;
        ks__meter_tick(mt, now);
        double v[4] = {(double)mt->count, ks__meter_rate(mt, now),
                       ks__meter_avg_ms(mt), ks__meter_max_ms(mt)};
        for (size_t k = 0; k < 4; k++)
                ks__mset_add(set, TH_GROUP, d[i].names[k], d[i].help[k], v[k],
                             tags);
}

static void build(ks__thread_t *thr, ks_metrics_t *set, int64_t now) {
        ks__tmetrics_t *m = &thr->metrics;
        const char *tags[] = {"thread-id", thr->client_id, NULL};
        meter4(set, "process", &m->process, now, tags);
        meter4(set, "poll", &m->poll, now, tags);
        /* Every commit counts, those of a rebalance or a close too. */
        m->commit.count = __atomic_load_n(&thr->commits, __ATOMIC_RELAXED);
        meter4(set, "commit", &m->commit, now, tags);
        meter4(set, "punctuate", &m->punctuate, now, tags);
        ks__mset_add(set, TH_GROUP, "blocked-time-ns-total",
                     "nanoseconds the thread waited in poll for records",
                     (double)m->blocked_ns, tags);
        ks__mset_add(set, TH_GROUP, "task-count",
                     "tasks the thread holds (running or restoring)",
                     ks__tmgr_task_count(thr->tasks), tags);
        static const struct {
                const char *counter, *name, *help;
        } more[] = {
                {"duplicates-skipped", "duplicates-skipped-total",
                 "replayed records of through topics dropped"},
                {"transactions-aborted", "transactions-aborted-total",
                 "transactions aborted (exactly_once_v2)"},
                {"restored-records", "restored-records-total",
                 "changelog records restored"},
                {"dropped-records", "dropped-records-total",
                 "records dropped by the thread's tasks and sends that "
                 "failed and were skipped"},
                {"dropped-records-production-error", "send-failures-total",
                 "records the producer could not deliver"},
                {"dlq-records", "dlq-records-total",
                 "records written to the dead-letter queue"},
        };
        for (size_t k = 0; k < sizeof(more) / sizeof(more[0]); k++)
                ks__mset_add(set, TH_GROUP, more[k].name, more[k].help,
                             (double)ks__thread_metric(thr, more[k].counter),
                             tags);
        const ks__cache_budget_t *c = &thr->cache;
        uint64_t reads = c->hits + c->misses;
        ks__mset_add(set, RC_GROUP, "hit-ratio",
                     "share of record-cache reads found in the cache",
                     reads ? (double)c->hits / (double)reads : 0, tags);
        ks__mset_add(set, RC_GROUP, "cache-size-bytes",
                     "bytes the thread's record caches hold", (double)c->used,
                     tags);
        ks__mset_add(set, RC_GROUP, "cache-max-bytes",
                     "the thread's record-cache budget", (double)c->max, tags);
        for (size_t i = 0; i < m->broker_cnt; i++) {
                const char *bt[] = {"thread-id", thr->client_id, "broker",
                                    m->brokers[i].name, NULL};
                ks__mset_add(set, RK_GROUP, "rtt-avg",
                             "average round-trip time (ms) of the main "
                             "consumer's requests to the broker",
                             m->brokers[i].rtt_avg_ms, bt);
                ks__mset_add(set, RK_GROUP, "rtt-p99",
                             "99th percentile of the round-trip time (ms)",
                             m->brokers[i].rtt_p99_ms, bt);
        }
        ks__tmgr_metrics(thr->tasks, set, thr->client_id, thr->consumer, now);
}

void ks__thread_publish_metrics(ks__thread_t *thr, int force) {
        ks__tmetrics_t *m = &thr->metrics;
        int64_t now = ks__now_ms();
        if (!force && now < m->next_publish)
                return;
        m->next_publish = now + PUBLISH_MS;
        ks_metrics_t *set = ks__mset_new();
        if (!set)
                return;
        build(thr, set, now);
        if (ks__mset_failed(set)) {
                ks_metrics_destroy(set);
                return; /* out of memory: keep the last one */
        }
        pthread_mutex_lock(&m->lock);
        ks_metrics_t *old = m->published;
        m->published = set;
        pthread_mutex_unlock(&m->lock);
        ks_metrics_destroy(old);
}

void ks__thread_copy_metrics(ks__thread_t *thr, ks_metrics_t *dst) {
        ks__tmetrics_t *m = &thr->metrics;
        pthread_mutex_lock(&m->lock);
        ks__mset_append(dst, m->published);
        pthread_mutex_unlock(&m->lock);
}
