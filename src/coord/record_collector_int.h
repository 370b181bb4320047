/* A stream thread's record collector (Kafka Streams' RecordCollectorImpl):
 * where its tasks' output and changelog records go.
 *
 * Sends go through the thread's producer (streams_producer_int.h); under
 * exactly_once_v2 the first send after a commit opens a transaction.
 * Records to a through topic get an origin header (origin_int.h); a user
 * header of that name is never passed on.
 *
 * Changelog positions: a task learns where its changelog stands from the
 * delivery reports of its changelog records. The collector keeps those
 * positions in slots of its own, handed out as handles (index and
 * generation); a delivery report carries its slot's handle, never a
 * pointer, and one whose slot was closed since (its task is gone) finds a
 * newer generation and is ignored. So no delivery report can reach freed
 * memory, whenever it is served.
 *
 * The first delivery failure is kept and surfaces at the next flush
 * (default.production.exception.handler=continue logs and counts output
 * failures instead, and with errors.dead.letter.queue.topic.name writes
 * them there from the delivery report; a changelog record that is not
 * delivered always fails). @locality the owning stream thread. */
#ifndef KS_RECORD_COLLECTOR_INT_H
#define KS_RECORD_COLLECTOR_INT_H

#include "../task/task_int.h"
#include "origin_int.h"
#include "streams_producer_int.h"

typedef struct ks__rcollector_s ks__rcollector_t;

/** A collector for @p topo's tasks. @p scope (copied, its partition table
 *  borrowed) tags origins; @p eos: a failed send fails the transaction
 *  rather than the next flush. */
ks__rcollector_t *ks__rcollector_new(const ks_config_t *conf,
                                     const ks_topology_t *topo,
                                     const ks__origin_scope_t *scope, int eos,
                                     const char *client_id);
void ks__rcollector_destroy(ks__rcollector_t *c);

/** Attach the producer to send through (after ks__rcollector_setup() was
 *  given to its configuration). */
void ks__rcollector_set_producer(ks__rcollector_t *c, ks__sproducer_t *p);

/** Install the delivery-report callback on a producer configuration
 *  (ks__client_spec_t.setup, with the collector as opaque). */
void ks__rcollector_setup(rd_kafka_conf_t *conf, void *collector);

/** The collector as a task sees it. */
ks__collector_t ks__rcollector_iface(ks__rcollector_t *c);

/** Wait up to @p timeout_ms for every record sent to be acknowledged;
 *  then report the first failure, if any. */
ks_err_t ks__rcollector_flush(ks__rcollector_t *c, int64_t timeout_ms,
                              ks_error_t **errp);

/** Forget the first failure (the transaction that held it aborted). */
void ks__rcollector_reset_error(ks__rcollector_t *c);

/** Changelog records sent so far. */
int64_t ks__rcollector_changelog_sent(const ks__rcollector_t *c);

/** Output records the production handler let go (continue). */
int64_t ks__rcollector_send_failures(const ks__rcollector_t *c);

/** Of those, records written to the dead-letter queue. */
int64_t ks__rcollector_dlq_records(const ks__rcollector_t *c);

#endif
