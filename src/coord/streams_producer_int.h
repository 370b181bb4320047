/* A stream thread's producer and its transactions (Kafka Streams'
 * StreamsProducer).
 *
 * Under at-least-once it is a plain idempotent producer (state NONE).
 * Under exactly_once_v2 it is transactional, with a transactional.id
 * stable per instance and thread, and goes through:
 *
 *     UNINIT --init--> READY --begin--> OPEN --commit ok--> READY
 *                        ^               |  \
 *                        |             abort  send refused
 *                        |               v     v
 *                        +----abort---- (OPEN) BROKEN
 *     any --fatal error--> FATAL --replace--> UNINIT
 *
 * A producer left FATAL (or UNINIT, its replacement not initialized) by an
 * abort while closing tasks drops every send; the next commit or abort
 * replaces it and reports the transaction void, never committed.
 *
 * A send refused inside a transaction cannot be undone in the middle of a
 * record, so it marks the transaction BROKEN and the stream thread aborts
 * it at once. A producer in a fatal state (fenced, or its abort refused
 * after the coordinator timed the transaction out) is replaced by a new
 * one, whose init aborts what the old one left open. set_state() asserts
 * every transition.
 *
 * @locality the owning stream thread. */
#ifndef KS_STREAMS_PRODUCER_INT_H
#define KS_STREAMS_PRODUCER_INT_H

#include <librdkafka/rdkafka.h>

#include "clients_int.h"

typedef enum {
        KS_TXN_NONE,
        KS_TXN_UNINIT,
        KS_TXN_READY,
        KS_TXN_OPEN,
        KS_TXN_BROKEN,
        KS_TXN_FATAL,
} ks__txn_state_t;

/** How a commit or an abort ended. */
typedef enum {
        KS_TXN_COMMITTED, /* committed (or nothing to commit) */
        KS_TXN_ABORTED,   /* aborted: the tasks go back to their last
                             commit */
        KS_TXN_REPLACED,  /* void, the producer replaced: as ABORTED */
        KS_TXN_MIGRATED,  /* aborted, and the group moved on: the tasks
                             are no longer ours */
        KS_TXN_FAILED,    /* an error no new producer would get past:
                           *errp says which */
} ks__txn_outcome_t;

typedef struct ks__sproducer_s ks__sproducer_t;

/** A new producer made per @p spec (copied; its strings too), with
 *  transactions when spec has a "transactional.id" among its fixed
 *  settings (@p eos). */
ks__sproducer_t *ks__sproducer_new(const ks_config_t *conf,
                                   const ks__client_spec_t *spec, int eos,
                                   int64_t timeout_ms, ks_error_t **errp);
void ks__sproducer_destroy(ks__sproducer_t *p);

/** The librdkafka producer (replaced after a fatal error: do not keep). */
rd_kafka_t *ks__sproducer_rk(const ks__sproducer_t *p);

ks__txn_state_t ks__sproducer_state(const ks__sproducer_t *p);

/** exactly_once_v2: initialize transactions (UNINIT -> READY). */
ks_err_t ks__sproducer_init(ks__sproducer_t *p, ks_error_t **errp);

/** Before a send: open a transaction if none is (exactly_once_v2). 0 when
 *  the record may be sent; 1 when the transaction is broken and the send
 *  is to be dropped (the thread aborts). */
int ks__sproducer_prepare_send(ks__sproducer_t *p);

/** A send inside the transaction was refused: it must abort. */
void ks__sproducer_break(ks__sproducer_t *p, const char *why);

/** 1 while a transaction is open or broken. */
int ks__sproducer_in_txn(const ks__sproducer_t *p);

/** 1 if the open transaction is broken. */
int ks__sproducer_broken(const ks__sproducer_t *p);

/** Commit the open transaction with @p offsets (the consumer's @p cgmd),
 *  retrying retriable errors until @p deadline (ks__now_ms()). On
 *  failure, abort or replace the producer as needed (see the outcomes). */
ks__txn_outcome_t ks__sproducer_commit(ks__sproducer_t *p,
                                       rd_kafka_topic_partition_list_t *offsets,
                                       rd_kafka_consumer_group_metadata_t *cgmd,
                                       int64_t deadline, char *why,
                                       size_t why_size, ks_error_t **errp);

/** Give up the open transaction (processing failed, @p why), as a failed
 *  commit would. */
ks__txn_outcome_t ks__sproducer_abort(ks__sproducer_t *p, const char *why,
                                      char *why_out, size_t why_size,
                                      ks_error_t **errp);

/** Abort the open transaction, if any, without recovering (closing). */
void ks__sproducer_abort_quietly(ks__sproducer_t *p);

/** Transactions aborted so far. */
int64_t ks__sproducer_aborts(const ks__sproducer_t *p);

#endif
