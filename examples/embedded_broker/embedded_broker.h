/* An embedded Kafka broker for demos and tests: librdkafka's mock cluster
 * on loopback, in this process. Real Kafka protocol, instant start, no
 * disk. It does not honour transactions, does not answer CreateTopics (make
 * topics with embedded_broker_create_topic(), including the topology's
 * internal topics: ks_topology_internal_topic()), has no static membership
 * and keeps at most 5 MiB / 100,000 messages per partition.
 *
 * Not part of libkstreams: applications link the library against any
 * Kafka cluster. */
#ifndef EMBEDDED_BROKER_H
#define EMBEDDED_BROKER_H

#include <stddef.h>

typedef struct embedded_broker_s embedded_broker_t;

/** Start a cluster of @p brokers brokers; NULL with a reason in @p err. */
embedded_broker_t *embedded_broker_start(int brokers, char *err,
                                         size_t err_size);

/** Its bootstrap.servers. */
const char *embedded_broker_bootstrap(const embedded_broker_t *b);

/** Create @p topic with @p partitions partitions. 0 on success. */
int embedded_broker_create_topic(embedded_broker_t *b, const char *topic,
                                 int partitions);

/** Stop the cluster. NULL is a no-op. */
void embedded_broker_stop(embedded_broker_t *b);

#endif
