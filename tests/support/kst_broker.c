/* Broker fixture for integration tests (see kst_broker.h). */
#define _GNU_SOURCE
#include "kst_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct kst_broker_s {
        rd_kafka_t *mock_rk; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mock;
        char *bootstrap;
};

int64_t kst_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *kst_unique_name(const char *prefix) {
        static int counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char *s = NULL;
        if (asprintf(&s, "%s-%d-%lld%03ld-%d", prefix, (int)getpid(),
                     (long long)ts.tv_sec, ts.tv_nsec / 1000000, ++counter) < 0)
                fail_msg("out of memory");
        return s;
}

kst_broker_t *kst_broker_get(const char *name, int mock_brokers) {
        if (!name)
                name = getenv("KS_TEST_BROKER");
        if (!name || !*name)
                name = "mock";
        kst_broker_t *b = calloc(1, sizeof(*b));
        assert_non_null(b);
        if (!strcmp(name, "kafka")) {
                const char *bs = getenv("KS_TEST_BOOTSTRAP");
                if (!bs || !*bs) {
                        fprintf(stderr,
                                "SKIP: this test needs the real Kafka broker: "
                                "run it through tests/broker/broker.sh run, "
                                "or set KS_TEST_BOOTSTRAP\n");
                        exit(77);
                }
                b->bootstrap = strdup(bs);
                return b;
        }
        if (strcmp(name, "mock"))
                fail_msg("unknown test broker \"%s\" (mock or kafka)", name);
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
        b->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!b->mock_rk)
                fail_msg("mock cluster handle: %s", err);
        b->mock = rd_kafka_mock_cluster_new(
                b->mock_rk, mock_brokers > 0 ? mock_brokers : 1);
        if (!b->mock)
                fail_msg("cannot start the mock cluster");
        b->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(b->mock));
        return b;
}

const char *kst_broker_bootstrap(const kst_broker_t *b) {
        return b->bootstrap;
}

int kst_broker_is_mock(const kst_broker_t *b) {
        return b->mock != NULL;
}

void *kst_broker_mock(const kst_broker_t *b) {
        return b->mock;
}

rd_kafka_t *kst_broker_client(const kst_broker_t *b, rd_kafka_type_t type,
                              const char *const *settings) {
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", b->bootstrap, err,
                              sizeof(err)) ||
            (type == RD_KAFKA_CONSUMER &&
             rd_kafka_conf_set(conf, "group.id", "unused", err, sizeof(err))))
                fail_msg("%s", err);
        for (size_t i = 0; settings && settings[i]; i += 2)
                if (rd_kafka_conf_set(conf, settings[i], settings[i + 1], err,
                                      sizeof(err)))
                        fail_msg("%s=%s: %s", settings[i], settings[i + 1],
                                 err);
        rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
        if (!rk)
                fail_msg("client: %s", err);
        return rk;
}

void kst_produce(rd_kafka_t *p, const char *topic, int32_t partition,
                 const void *key, size_t klen, const void *value, size_t vlen) {
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, key ? klen : 0),
                        RD_KAFKA_V_VALUE((void *)value, value ? vlen : 0),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 100);
        if (e)
                fail_msg("producing to %s: %s", topic, rd_kafka_err2str(e));
}

void kst_produce_str(rd_kafka_t *p, const char *topic, const char *key,
                     const char *value) {
        kst_produce(p, topic, RD_KAFKA_PARTITION_UA, key, key ? strlen(key) : 0,
                    value, value ? strlen(value) : 0);
}

void kst_flush(rd_kafka_t *p) {
        rd_kafka_resp_err_t e = rd_kafka_flush(p, 30000);
        if (e)
                fail_msg("flushing the producer: %s", rd_kafka_err2str(e));
}

static rd_kafka_t *admin_client(const kst_broker_t *b) {
        return kst_broker_client(b, RD_KAFKA_PRODUCER, NULL);
}

/* Wait until @p topic has @p partitions, each with a leader. */
static void wait_topic(rd_kafka_t *rk, const char *topic, int partitions) {
        int64_t deadline = kst_now_ms() + 30000;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        for (;;) {
                const struct rd_kafka_metadata *md = NULL;
                int ready = 0;
                if (!rd_kafka_metadata(rk, 0, rkt, &md, 2000)) {
                        const struct rd_kafka_metadata_topic *t =
                                md->topic_cnt ? &md->topics[0] : NULL;
                        ready = t && !t->err && t->partition_cnt == partitions;
                        for (int i = 0; ready && i < t->partition_cnt; i++)
                                ready = t->partitions[i].leader >= 0 &&
                                        !t->partitions[i].err;
                        rd_kafka_metadata_destroy(md);
                }
                if (ready)
                        break;
                if (kst_now_ms() > deadline)
                        fail_msg("topic %s not ready after 30 s", topic);
                rd_kafka_poll(rk, 100); /* paces the loop; not a sleep */
        }
        rd_kafka_topic_destroy(rkt);
}

void kst_broker_create_topic(kst_broker_t *b, const char *topic, int partitions,
                             const char *const *configs) {
        if (b->mock) {
                if (rd_kafka_mock_topic_create(b->mock, topic, partitions, 1))
                        fail_msg("mock: cannot create topic %s", topic);
                rd_kafka_t *rk = admin_client(b);
                wait_topic(rk, topic, partitions);
                rd_kafka_destroy(rk);
                return;
        }
        rd_kafka_t *rk = admin_client(b);
        char err[512];
        rd_kafka_NewTopic_t *nt =
                rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err));
        if (!nt)
                fail_msg("NewTopic %s: %s", topic, err);
        for (size_t i = 0; configs && configs[i]; i += 2)
                rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, err,
                                                    sizeof(err));
        rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        if (!ev)
                fail_msg("CreateTopics %s: no answer in 60 s", topic);
        if (rd_kafka_event_error(ev))
                fail_msg("CreateTopics %s: %s", topic,
                         rd_kafka_event_error_string(ev));
        size_t cnt;
        const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(
                        rd_kafka_event_CreateTopics_result(ev), &cnt);
        if (cnt != 1 || rd_kafka_topic_result_error(res[0]))
                fail_msg("CreateTopics %s: %s", topic,
                         cnt ? rd_kafka_topic_result_error_string(res[0])
                             : "no result");
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        wait_topic(rk, topic, partitions);
        rd_kafka_destroy(rk);
}

void kst_broker_destroy(kst_broker_t *b) {
        if (!b)
                return;
        if (b->mock)
                rd_kafka_mock_cluster_destroy(b->mock);
        if (b->mock_rk)
                rd_kafka_destroy(b->mock_rk);
        free(b->bootstrap);
        free(b);
}
