/* What the DSL examples share: a broker (the embedded one unless
 * --bootstrap-servers is given), topics, a producer, an output reader and an
 * application with a fresh state directory. */
#ifndef DSL_EXAMPLE_H
#define DSL_EXAMPLE_H

#include <kstreams/kstreams.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct example_s example_t;

/** Start: parses --bootstrap-servers; names topics "<app>-<name>". NULL
 *  (with a message on stderr) on failure. */
example_t *example_start(int argc, char **argv, const char *name);

/** "<application.id>-<suffix>" (static buffer per call site: copy it). */
const char *example_topic(example_t *x, const char *suffix, char *buf,
                          size_t size);

const char *example_app_id(const example_t *x);

/** Create @p topic (the embedded broker also gets the app's internal
 *  topics listed by @p topo, when not NULL). 0 on success. */
int example_create(example_t *x, const char *topic, int partitions);
int example_create_internal(example_t *x, ks_topology_t *topo, int partitions);

/** Send one record (value NULL: a tombstone); flushed by example_flush. */
void example_send(example_t *x, const char *topic, const char *key,
                  const char *value);
/** Send one record of @p size bytes with timestamp @p ts (event time). */
void example_send_at(example_t *x, const char *topic, const char *key,
                     const void *value, size_t size, int64_t ts);
/** As example_send_at(), to partition @p partition. */
void example_send_part(example_t *x, const char *topic, int partition,
                       const char *key, const void *value, size_t size,
                       int64_t ts);
int example_flush(example_t *x);

/** With KS_DESCRIBE_DOT=1 in the environment: print @p topo as a Graphviz
 *  graph and return 1 (the example then exits); else 0. */
int example_dot(ks_topology_t *topo);

/** Run @p topo (reference taken) as an application; NULL on failure. */
ks_app_t *example_run(example_t *x, ks_topology_t *topo);

/** Read @p topic from the start; call @p on_record for each record until it
 *  returns non-zero or @p timeout_ms pass. 0 if @p on_record said done. */
int example_read(example_t *x, const char *topic, int partitions,
                 int (*on_record)(void *opaque, const rd_kafka_message_t *m),
                 void *opaque, int timeout_ms);

void example_stop(example_t *x, ks_app_t *app);

#endif
