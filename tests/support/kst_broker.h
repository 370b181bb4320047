/* Brokers for integration tests, by name:
 *  - "mock":  librdkafka's mock cluster, in this process, on loopback;
 *  - "kafka": the real Apache Kafka broker the harness started
 *             (tests/broker/broker.sh), whose address is in
 *             KS_TEST_BOOTSTRAP (or any cluster named there).
 * A test that asks for "kafka" without KS_TEST_BOOTSTRAP exits with
 * status 77, which meson reports as SKIP (never as a pass); the project's
 * test command always provides the broker and fails on any skip.
 *
 * Every test makes its own topic and group names with kst_unique_name(),
 * so reruns and parallel runs on one cluster never meet. */
#ifndef KST_BROKER_H
#define KST_BROKER_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct kst_broker_s kst_broker_t;

/** The broker @p name ("mock" or "kafka"; NULL: $KS_TEST_BROKER, default
 *  "mock"). A mock has @p mock_brokers brokers (ignored for "kafka"). */
kst_broker_t *kst_broker_get(const char *name, int mock_brokers);

const char *kst_broker_bootstrap(const kst_broker_t *b);

/** 1 for the mock cluster. */
int kst_broker_is_mock(const kst_broker_t *b);

/** The mock cluster handle (rd_kafka_mock_cluster_t *), NULL for "kafka". */
void *kst_broker_mock(const kst_broker_t *b);

/** Create @p topic with @p partitions and topic configs given as
 *  NULL-terminated key, value pairs (the mock ignores configs), and wait
 *  until every partition has a leader. Fails the test on error. */
void kst_broker_create_topic(kst_broker_t *b, const char *topic, int partitions,
                             const char *const *configs);

void kst_broker_destroy(kst_broker_t *b);

/** A client of @p b: a producer, or a consumer in group "unused" (for
 *  assign()). @p settings: NULL-terminated key, value pairs set after those
 *  (NULL: none). Fails the test on error. */
rd_kafka_t *kst_broker_client(const kst_broker_t *b, rd_kafka_type_t type,
                              const char *const *settings);

/** Produce one record (copied) to @p topic; @p partition
 *  RD_KAFKA_PARTITION_UA leaves it to the partitioner. A NULL key or value
 *  is null. Waits while the producer's queue is full; fails the test on
 *  another error. */
void kst_produce(rd_kafka_t *p, const char *topic, int32_t partition,
                 const void *key, size_t klen, const void *value, size_t vlen);

/** kst_produce() of strings (NULL: null) to the partitioner's partition. */
void kst_produce_str(rd_kafka_t *p, const char *topic, const char *key,
                     const char *value);

/** Wait until every record produced is acknowledged (30 s), or fail. */
void kst_flush(rd_kafka_t *p);

/** "<prefix>-<pid>-<time>-<n>": unique per run and call. Free it. */
char *kst_unique_name(const char *prefix);

/** Monotonic milliseconds, for deadlines. */
int64_t kst_now_ms(void);

#endif
