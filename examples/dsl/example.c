/* The DSL examples' shared set-up (see example.h). */
#include "example.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "embedded_broker.h"

struct example_s {
        embedded_broker_t *eb;
        const char *bootstrap;
        char app_id[128];
        char state_dir[256];
        rd_kafka_t *producer;
};

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

example_t *example_start(int argc, char **argv, const char *name) {
        example_t *x = calloc(1, sizeof(*x));
        if (!x)
                return NULL;
        for (int i = 1; i + 1 < argc; i++)
                if (!strcmp(argv[i], "--bootstrap-servers"))
                        x->bootstrap = argv[++i];
        char err[512];
        if (!x->bootstrap) {
                if (!(x->eb = embedded_broker_start(1, err, sizeof(err)))) {
                        fprintf(stderr, "embedded broker: %s\n", err);
                        free(x);
                        return NULL;
                }
                x->bootstrap = embedded_broker_bootstrap(x->eb);
        }
        snprintf(x->app_id, sizeof(x->app_id), "%s-%d-%lld", name,
                 (int)getpid(), (long long)now_ms());
        snprintf(x->state_dir, sizeof(x->state_dir), "/tmp/%s", x->app_id);
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", x->bootstrap, err,
                          sizeof(err));
        if (!(x->producer =
                      rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)))) {
                fprintf(stderr, "producer: %s\n", err);
                embedded_broker_stop(x->eb);
                free(x);
                return NULL;
        }
        printf("%s on %s\n", x->app_id,
               x->eb ? "the embedded broker" : x->bootstrap);
        return x;
}

const char *example_app_id(const example_t *x) {
        return x->app_id;
}

const char *example_topic(example_t *x, const char *suffix, char *buf,
                          size_t size) {
        snprintf(buf, size, "%s-%s", x->app_id, suffix);
        return buf;
}

/* A topic just created may take a moment to show in every broker's
 * metadata, and the application refuses to start without its topics:
 * wait (up to 30 s) until the metadata shows all its partitions. */
static int wait_visible(example_t *x, const char *topic, int partitions) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(x->producer, topic, NULL);
        if (!t)
                return -1;
        int64_t deadline = now_ms() + 30000;
        int ok = 0;
        while (!ok && now_ms() < deadline) {
                const struct rd_kafka_metadata *md = NULL;
                if (!rd_kafka_metadata(x->producer, 0, t, &md, 5000) && md &&
                    md->topic_cnt == 1 && !md->topics[0].err &&
                    md->topics[0].partition_cnt == partitions)
                        ok = 1;
                if (md)
                        rd_kafka_metadata_destroy(md);
                if (!ok)
                        nanosleep(&(struct timespec){0, 100 * 1000000}, NULL);
        }
        rd_kafka_topic_destroy(t);
        if (!ok)
                fprintf(stderr, "%s is not in the metadata after 30 s\n",
                        topic);
        return ok ? 0 : -1;
}

int example_create(example_t *x, const char *topic, int partitions) {
        if (x->eb)
                return embedded_broker_create_topic(x->eb, topic, partitions);
        char err[512];
        rd_kafka_NewTopic_t *nt =
                rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err));
        rd_kafka_queue_t *q = rd_kafka_queue_new(x->producer);
        rd_kafka_CreateTopics(x->producer, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        int rc = 0;
        if (!ev || rd_kafka_event_error(ev)) {
                rc = -1;
        } else {
                size_t n;
                const rd_kafka_topic_result_t **res =
                        rd_kafka_CreateTopics_result_topics(
                                rd_kafka_event_CreateTopics_result(ev), &n);
                rc = n == 1 && rd_kafka_topic_result_error(res[0]) ? -1 : 0;
        }
        if (rc)
                fprintf(stderr, "cannot create %s\n", topic);
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy(nt);
        return rc ? rc : wait_visible(x, topic, partitions);
}

int example_create_internal(example_t *x, ks_topology_t *topo, int partitions) {
        if (!x->eb)
                return 0; /* a real cluster: the application makes them */
        if (ks_topology_build(topo, NULL))
                return -1;
        for (size_t i = 0; i < ks_topology_internal_topic_count(topo); i++) {
                char name[512];
                if (ks_topology_internal_topic(topo, x->app_id, i, name,
                                               sizeof(name), NULL) ||
                    embedded_broker_create_topic(x->eb, name, partitions))
                        return -1;
        }
        return 0;
}

void example_send(example_t *x, const char *topic, const char *key,
                  const char *value) {
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        x->producer, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                        RD_KAFKA_V_VALUE((void *)value,
                                         value ? strlen(value) : 0),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        return;
                rd_kafka_poll(x->producer, 50);
        }
}

void example_send_at(example_t *x, const char *topic, const char *key,
                     const void *value, size_t size, int64_t ts) {
        example_send_part(x, topic, RD_KAFKA_PARTITION_UA, key, value, size,
                          ts);
}

void example_send_part(example_t *x, const char *topic, int partition,
                       const char *key, const void *value, size_t size,
                       int64_t ts) {
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        x->producer, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                        RD_KAFKA_V_VALUE((void *)value, value ? size : 0),
                        RD_KAFKA_V_TIMESTAMP(ts),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        return;
                rd_kafka_poll(x->producer, 50);
        }
}

int example_flush(example_t *x) {
        return rd_kafka_flush(x->producer, 30000) ? -1 : 0;
}

ks_app_t *example_run(example_t *x, ks_topology_t *topo) {
        ks_error_t *e = NULL;
        ks_config_t *c = ks_config_new();
        if (ks_config_set(c, "application.id", x->app_id, &e) ||
            ks_config_set(c, "bootstrap.servers", x->bootstrap, &e) ||
            ks_config_set(c, "state.dir", x->state_dir, &e) ||
            ks_config_set(c, "commit.interval.ms", "200", &e)) {
                fprintf(stderr, "config: %s\n", ks_error_message(e));
                ks_config_destroy(c);
                return NULL;
        }
        ks_app_t *app = ks_app_new(topo, c, &e);
        ks_config_destroy(c);
        if (!app || ks_app_start(app, &e)) {
                fprintf(stderr, "app: %s\n", ks_error_message(e));
                ks_app_destroy(app);
                return NULL;
        }
        return app;
}

int example_read(example_t *x, const char *topic, int partitions,
                 int (*on_record)(void *opaque, const rd_kafka_message_t *m),
                 void *opaque, int timeout_ms) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", x->bootstrap, err,
                          sizeof(err));
        rd_kafka_conf_set(c, "group.id", "unused", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        if (!rk)
                return -1;
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        int done = 0;
        int64_t deadline = now_ms() + timeout_ms;
        while (!done && now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m && !m->err)
                        done = on_record(opaque, m);
                if (m)
                        rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(rk);
        return done ? 0 : -1;
}

void example_stop(example_t *x, ks_app_t *app) {
        if (app) {
                ks_app_close(app, 30000);
                ks_app_destroy(app);
        }
        rd_kafka_destroy(x->producer);
        embedded_broker_stop(x->eb);
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->state_dir);
        if (system(cmd)) {
                /* best effort */
        }
        free(x);
}

int example_dot(ks_topology_t *topo) {
        const char *v = getenv("KS_DESCRIBE_DOT");
        if (!v || strcmp(v, "1"))
                return 0;
        char *dot = NULL;
        ks_error_t *e = NULL;
        if (ks_topology_describe_dot(topo, &dot, &e)) {
                fprintf(stderr, "topology: %s\n", ks_error_message(e));
                ks_error_destroy(e);
                return 1;
        }
        fputs(dot, stdout);
        ks_free(dot);
        return 1;
}
