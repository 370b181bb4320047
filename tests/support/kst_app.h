/* Fixtures for integration tests that run applications on a broker:
 * configurations and start-up, the internal topics the mock cluster cannot
 * create, reading a topic into a map of the last value per key, and
 * waiting with a deadline. Every function fails the test (cmocka) on an
 * error it meets, with a message naming it. */
#ifndef KST_APP_H
#define KST_APP_H

#include <stddef.h>
#include <stdint.h>

#include "kst_broker.h"
#include "ks_test.h"

/* --- applications ------------------------------------------------------- */

/** kst_config(@p app_id) with the bootstrap servers of @p b and short
 *  consumer sessions (3 s on the embedded broker, 6 s on Kafka), then the
 *  NULL-terminated key, value pairs of @p settings (NULL: none). */
ks_config_t *kst_app_config(const kst_broker_t *b, const char *app_id,
                            const char *const *settings);

/** Create an application of @p topo with @p conf (it keeps its own
 *  reference and copy), set @p on_restore (optional) as its restore
 *  listener and start it. Fails the test on error. */
ks_app_t *kst_app_start(ks_topology_t *topo, const ks_config_t *conf,
                        ks_restore_cb *on_restore, void *opaque);

/** Create every internal topic of @p topo (built here) for @p app_id: the
 *  mock cluster does not answer CreateTopics. Each gets @p partitions, or
 *  what @p partitions_of says when given. Returns how many were made. */
size_t kst_create_internal_topics(kst_broker_t *b, ks_topology_t *topo,
                                  const char *app_id, int partitions,
                                  int (*partitions_of)(void *opaque,
                                                       const char *topic,
                                                       const char *source),
                                  void *opaque);

/* --- waiting ------------------------------------------------------------ */

/** Wait until @p done(@p opaque) is non-zero, checking every @p pace_ms,
 *  for up to @p timeout_ms. 1 when done, 0 at the deadline. With @p app,
 *  the test fails as soon as the app is in ERROR, with its error. */
int kst_wait_for(ks_app_t *app, int timeout_ms, int pace_ms,
                 int (*done)(void *opaque), void *opaque);

/** Wait until @p app is in @p state, or fail naming the state it is in and
 *  its error (after printing the captured log). */
void kst_wait_state(ks_app_t *app, ks_app_state_t state, int timeout_ms);

/** Wait until @p app has processed @p n records (process-total), or fail:
 *  at once if it is in ERROR, else at the deadline with the count, state
 *  and tasks (after printing the captured log). */
void kst_wait_processed(ks_app_t *app, int64_t n, int timeout_ms);

/* --- the last value per key --------------------------------------------- */

typedef struct kst_map_s kst_map_t;

kst_map_t *kst_map_new(void);
void kst_map_destroy(kst_map_t *m);

/** Record one record of @p key (NULL: the empty key); @p value NULL is a
 *  null value. */
void kst_map_put(kst_map_t *m, const void *key, size_t klen, const void *value,
                 size_t vlen);

/** The last value of @p key (NULL if none or null; size in *vlenp). */
const void *kst_map_get(const kst_map_t *m, const void *key, size_t klen,
                        size_t *vlenp);

/** The last value of string key @p key as an int64 (ks_serde_int64), 0
 *  without one; the test fails on a value of another size. */
int64_t kst_map_int64(const kst_map_t *m, const char *key);

/** Records of string key @p key. */
int64_t kst_map_count(const kst_map_t *m, const char *key);

/** Records of all keys. */
int64_t kst_map_records(const kst_map_t *m);

/* --- reading a topic ---------------------------------------------------- */

/** Read with isolation.level read_committed. */
#define KST_READ_COMMITTED 0x1

typedef struct kst_reader_s kst_reader_t;

typedef void(kst_record_cb)(void *opaque, const rd_kafka_message_t *rec,
                            const kst_map_t *map);

/** A consumer of every one of the @p partitions of @p topic from the
 *  beginning, keeping what it reads in a map (kst_reader_map()). */
kst_reader_t *kst_reader_new(const kst_broker_t *b, const char *topic,
                             int partitions, int flags);

/** Call @p cb with every record read, before the map takes it (@p map
 *  still holds the key's previous value): to check records one by one. */
void kst_reader_on_record(kst_reader_t *r, kst_record_cb *cb, void *opaque);

/** Poll for up to @p timeout_ms: 1 if a record was read. */
int kst_reader_poll(kst_reader_t *r, int timeout_ms);

/** 1 when every partition has reported its end since its last record. */
int kst_reader_at_end(const kst_reader_t *r);

/** What was read: last value and count per key. */
const kst_map_t *kst_reader_map(const kst_reader_t *r);

/** The reader's consumer (for watermarks). */
rd_kafka_t *kst_reader_consumer(kst_reader_t *r);

void kst_reader_destroy(kst_reader_t *r);

/** Read until @p done(@p opaque, map) is non-zero, for up to
 *  @p timeout_ms; 1 when done, 0 at the deadline. With @p app, the test
 *  fails as soon as the app is in ERROR. */
int kst_read_until(kst_reader_t *r, ks_app_t *app, int timeout_ms,
                   int (*done)(void *opaque, const kst_map_t *m), void *opaque);

/** Read to the end of every partition, for up to @p timeout_ms; 1 when
 *  there. */
int kst_read_to_end(kst_reader_t *r, int timeout_ms);

/** Read @p topic (@p partitions partitions) until the last int64 value
 *  of key @p keys[i] is @p expect[i] for each of the @p n keys, then on to
 *  the end of the topic, where they must still be; after @p timeout_ms
 *  print the keys that differ and the library's log and fail the test.
 *  With @p app, fail as soon as the app is in ERROR. */
void kst_wait_counts(const kst_broker_t *b, const char *topic, int partitions,
                     ks_app_t *app, int timeout_ms, int n,
                     const char *const *keys, const int64_t *expect);

/** Records in @p topic now (high less low watermark, summed over its
 *  @p partitions partitions). */
int64_t kst_topic_records(const kst_broker_t *b, const char *topic,
                          int partitions);

/* --- restores ----------------------------------------------------------- */

/** What a restore listener saw of one store: records restored and
 *  partitions whose restore ended. */
typedef struct {
        const char *store;
        int64_t restored, ends; /* atomic */
} kst_restores_t;

/** A ks_restore_cb counting into the kst_restores_t @p opaque the ends of
 *  restores of its store (other stores, such as the duplicate marks beside
 *  them, are not counted). */
void kst_count_restores(void *opaque, ks_restore_phase_t phase,
                        const char *store, const char *topic, int32_t p,
                        int64_t start, int64_t end, int64_t restored);

/** The records restored so far into @p r's store. */
int64_t kst_restored(kst_restores_t *r);

/* --- a test's names ----------------------------------------------------- */

#define KST_ENV_TOPICS 8

/** A test's broker, application id and topics, each name unique. */
typedef struct {
        kst_broker_t *broker;
        char *app_id;                /* "<prefix>-app-..." */
        char *topic[KST_ENV_TOPICS]; /* in the order of the names */
} kst_env_t;

/** Take the broker ($KS_TEST_BROKER, one mock broker), name the
 *  application "<prefix>-app" and one topic "<prefix>-<name>" per name of
 *  the NULL-terminated @p names (at most KST_ENV_TOPICS), and make each
 *  topic with @p partitions partitions. */
void kst_env_init(kst_env_t *env, const char *prefix, int partitions,
                  const char *const *names);

/** Free the names and let the broker go. */
void kst_env_fini(kst_env_t *env);

#endif
