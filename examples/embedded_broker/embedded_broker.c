/* Embedded broker over librdkafka's mock cluster (see embedded_broker.h). */
#include "embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct embedded_broker_s {
        rd_kafka_t *rk; /* owns the mock cluster */
        rd_kafka_mock_cluster_t *mock;
        char *bootstrap;
};

embedded_broker_t *embedded_broker_start(int brokers, char *err,
                                         size_t err_size) {
        embedded_broker_t *b = calloc(1, sizeof(*b));
        if (!b) {
                snprintf(err, err_size, "out of memory");
                return NULL;
        }
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", err, err_size);
        b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, err_size);
        if (!b->rk) {
                free(b);
                return NULL;
        }
        b->mock = rd_kafka_mock_cluster_new(b->rk, brokers);
        if (!b->mock) {
                snprintf(err, err_size, "cannot start the mock cluster");
                embedded_broker_stop(b);
                return NULL;
        }
        b->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(b->mock));
        return b;
}

const char *embedded_broker_bootstrap(const embedded_broker_t *b) {
        return b->bootstrap;
}

int embedded_broker_create_topic(embedded_broker_t *b, const char *topic,
                                 int partitions) {
        return rd_kafka_mock_topic_create(b->mock, topic, partitions, 1) ? -1
                                                                         : 0;
}

void embedded_broker_stop(embedded_broker_t *b) {
        if (!b)
                return;
        if (b->mock)
                rd_kafka_mock_cluster_destroy(b->mock);
        if (b->rk)
                rd_kafka_destroy(b->rk);
        free(b->bootstrap);
        free(b);
}
