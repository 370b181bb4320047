/* Benchmarks: the library beside plain librdkafka on the same broker.
 *
 *   kstreams-bench create    BOOTSTRAP TOPIC PARTITIONS
 *   kstreams-bench produce   BOOTSTRAP TOPIC RECORDS SIZE PARTITIONS
 *   kstreams-bench passthrough BOOTSTRAP IN OUT RECORDS
 *   kstreams-bench stateless BOOTSTRAP IN OUT RECORDS
 *
 * "passthrough" is plain librdkafka: a consumer in a group copying every
 * record to OUT with a producer, the limit for any pipeline on this client.
 * "stateless" is the library: source -> map+filter processor -> sink, the
 * filter keeping every record (so both write the same number of records).
 * Both run until OUT holds RECORDS records (read from its high watermarks)
 * and print one CSV line:
 *   case,records,processing_s,wall_s,records_per_s,cpu_s,peak_rss_kb
 * processing_s runs from the first record in OUT to the last; wall_s from
 * the start of the run (group join included). */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <kstreams/kstreams.h>

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap,
                          const char *group) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err));
        if (group) {
                rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
                rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err,
                                  sizeof(err));
                rd_kafka_conf_set(c, "enable.auto.commit", "false", err,
                                  sizeof(err));
        }
        if (type == RD_KAFKA_PRODUCER) {
                /* The library's producer settings, for a fair baseline. */
                rd_kafka_conf_set(c, "partitioner", "murmur2_random", err,
                                  sizeof(err));
                rd_kafka_conf_set(c, "enable.idempotence", "true", err,
                                  sizeof(err));
        }
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk) {
                fprintf(stderr, "%s\n", err);
                exit(1);
        }
        return rk;
}

static int64_t topic_records(rd_kafka_t *rk, const char *topic, int parts) {
        int64_t n = 0;
        for (int p = 0; p < parts; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                     5000))
                        return -1;
                n += hi - lo;
        }
        return n;
}

static int partitions_of(rd_kafka_t *rk, const char *topic) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md;
        int n = -1;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 10000)) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        n = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        return n;
}

/* Watch OUT until it holds @p want records; fills the first/last times. */
typedef struct {
        const char *bootstrap, *topic;
        int64_t want;
        double first, last;
        volatile int done;
} watch_t;

static void *watch(void *arg) {
        watch_t *w = arg;
        rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, w->bootstrap, NULL);
        int parts = partitions_of(rk, w->topic);
        for (;;) {
                int64_t n = topic_records(rk, w->topic, parts);
                double t = now_s();
                if (n > 0 && !w->first)
                        w->first = t;
                if (n >= w->want) {
                        w->last = t;
                        break;
                }
                rd_kafka_poll(rk, 20); /* paces the watermark queries */
        }
        rd_kafka_destroy(rk);
        w->done = 1;
        return NULL;
}

static void report(const char *name, int64_t records, const watch_t *w,
                   double start) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        double proc = w->last - w->first;
        printf("%s,%" PRId64 ",%.3f,%.3f,%.0f,%.2f,%ld\n", name, records, proc,
               w->last - start, proc > 0 ? (double)records / proc : 0, cpu,
               ru.ru_maxrss);
}

static int create(int argc, char **argv) {
        rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, argv[2], NULL);
        char err[512];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(argv[3], atoi(argv[4]),
                                                        -1, err, sizeof(err));
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        int rc = 0;
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
                ev ? rd_kafka_CreateTopics_result_topics(
                             rd_kafka_event_CreateTopics_result(ev), &cnt)
                   : NULL;
        if (!ev || rd_kafka_event_error(ev) ||
            (cnt && rd_kafka_topic_result_error(res[0]))) {
                fprintf(stderr, "cannot create %s\n", argv[3]);
                rc = 1;
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}

static int produce(int argc, char **argv) {
        const char *bs = argv[2], *topic = argv[3];
        int64_t n = atoll(argv[4]);
        size_t size = (size_t)atoi(argv[5]);
        int parts = atoi(argv[6]);
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
        char *buf = malloc(size + 1);
        uint64_t s = 42;
        for (int64_t i = 0; i < n; i++) {
                for (size_t k = 0; k < size; k++) {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        buf[k] = (char)('a' + s % 26);
                }
                char key[32];
                int kl = snprintf(key, sizeof(key), "k%" PRId64, i % 10000);
                rd_kafka_resp_err_t e;
                while ((e = rd_kafka_producev(
                                p, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION((int32_t)(i % parts)),
                                RD_KAFKA_V_KEY(key, (size_t)kl),
                                RD_KAFKA_V_VALUE(buf, size),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
                if (e) {
                        fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                        return 1;
                }
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);
        free(buf);
        return 0;
}

static int passthrough(int argc, char **argv) {
        const char *bs = argv[2], *in = argv[3], *out = argv[4];
        int64_t n = atoll(argv[5]);
        double start = now_s();
        watch_t w = {bs, out, n, 0, 0, 0};
        pthread_t tid;
        pthread_create(&tid, NULL, watch, &w);
        char group[128];
        snprintf(group, sizeof(group), "bench-pt-%d", (int)getpid());
        rd_kafka_t *c = client(RD_KAFKA_CONSUMER, bs, group);
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, in, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(c, l);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t copied = 0;
        while (copied < n) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        while (rd_kafka_producev(
                                       p, RD_KAFKA_V_TOPIC(out),
                                       RD_KAFKA_V_KEY(m->key, m->key_len),
                                       RD_KAFKA_V_VALUE(m->payload, m->len),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END) ==
                               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(p, 10);
                        copied++;
                }
                rd_kafka_message_destroy(m);
                rd_kafka_poll(p, 0);
        }
        rd_kafka_flush(p, 120000);
        pthread_join(tid, NULL);
        report("passthrough (plain librdkafka)", n, &w, start);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        rd_kafka_destroy(p);
        return 0;
}

/* map: upper-case the first byte of the value; filter: keep non-empty. */
static ks_err_t map_filter(ks_context_t *ctx, const ks_record_t *rec,
                           void *st) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const char *v = ks_record_value(rec, &vl);
        if (!v || !vl)
                return KS_ERR_NO_ERROR;
        char buf[4096];
        if (vl > sizeof(buf))
                return ks_context_forward(ctx, k, kl, v, vl);
        memcpy(buf, v, vl);
        if (buf[0] >= 'a' && buf[0] <= 'z')
                buf[0] = (char)(buf[0] - 'a' + 'A');
        return ks_context_forward(ctx, k, kl, buf, vl);
}

static int stateless(int argc, char **argv) {
        const char *bs = argv[2], *in = argv[3], *out = argv[4];
        int64_t n = atoll(argv[5]);
        double start = now_s();
        watch_t w = {bs, out, n, 0, 0, 0};
        pthread_t tid;
        pthread_create(&tid, NULL, watch, &w);
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        const char *topics[] = {in};
        ks_config_t *c = ks_config_new();
        char app[128], dir[] = "/tmp/kstreams-bench-XXXXXX";
        snprintf(app, sizeof(app), "bench-stateless-%d", (int)getpid());
        if (!mkdtemp(dir) ||
            ks_topology_add_source(t, "src", topics, 1, NULL, NULL, &e) ||
            ks_topology_add_processor(t, "map-filter", NULL, map_filter, NULL,
                                      NULL, (const char *[]){"src"}, 1, &e) ||
            ks_topology_add_sink(t, "sink", out, NULL, NULL,
                                 (const char *[]){"map-filter"}, 1, &e) ||
            ks_config_set(c, "application.id", app, &e) ||
            ks_config_set(c, "bootstrap.servers", bs, &e) ||
            ks_config_set(c, "state.dir", dir, &e)) {
                fprintf(stderr, "%s\n", ks_error_message(e));
                return 1;
        }
        ks_app_t *a = ks_app_new(t, c, &e);
        if (!a || ks_app_start(a, &e)) {
                fprintf(stderr, "%s\n", ks_error_message(e));
                return 1;
        }
        pthread_join(tid, NULL);
        report("stateless map+filter (kstreams-c)", n, &w, start);
        ks_app_close(a, 30000);
        ks_app_destroy(a);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) ? 1 : 0;
}

int main(int argc, char **argv) {
        if (argc >= 5 && !strcmp(argv[1], "create"))
                return create(argc, argv);
        if (argc >= 7 && !strcmp(argv[1], "produce"))
                return produce(argc, argv);
        if (argc >= 6 && !strcmp(argv[1], "passthrough"))
                return passthrough(argc, argv);
        if (argc >= 6 && !strcmp(argv[1], "stateless"))
                return stateless(argc, argv);
        fprintf(stderr,
                "usage: %s produce BOOTSTRAP TOPIC RECORDS SIZE PARTITIONS\n"
                "       %s passthrough|stateless BOOTSTRAP IN OUT RECORDS\n",
                argv[0], argv[0]);
        return 2;
}
