/* A task's input: one record queue per source partition, and the choice of
 * the next record (Kafka Streams' PartitionGroup and RecordQueue).
 *
 * Each queue is a ring of records in offset order, as the consumer handed
 * them out; the records are opaque to the group (the runtime queues
 * librdkafka messages, tests queue anything) and freed with the group's
 * destroy function. The next record of a task is the head with the
 * smallest timestamp (the lowest queue on ties), so that a task reading
 * several partitions processes them in time order. While one queue is
 * empty and its partition's end is not known, a task with records in
 * another waits (max.task.idle.ms): taking a record by timestamp before
 * every partition has shown its head would order them wrongly.
 *
 * Invariants: cnt <= cap; next is the offset after the last record queued
 * (or the committed offset, or -1 when unknown); at_end is cleared by every
 * record queued. Not thread-safe: one stream thread. */
#ifndef KS_PARTITION_GROUP_INT_H
#define KS_PARTITION_GROUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kstreams/error.h"

/* How long max.task.idle.ms 0 waits at most for a partition whose end the
 * consumer has not reported (it reports one with every fetch that reaches
 * it). */
#define KS_IDLE_FALLBACK_MS 2000

typedef struct {
        void *msg; /* owned by the queue */
        int64_t offset;
        int64_t timestamp;
} ks__qrec_t;

typedef struct {
        const char *topic;   /* borrowed from the topology */
        int32_t topic_index; /* among the topology's source topics */
        int through;         /* a through topic: origin headers honoured */
        ks__qrec_t *ring;
        size_t cap, head, cnt;
        int paused; /* its partition is paused in the consumer */
        /* Records of the partition were handed out and not queued (its
         * task was not running), or it was never positioned: its resume
         * seeks to `next`. */
        int refetch;
        int seek_failed; /* its last resume's seek failed (logged once) */
        int at_end;      /* the consumer reported its end, nothing after */
        int64_t next;
        int64_t committed; /* the committed offset at the task's start, -1 */
} ks__rqueue_t;

typedef struct {
        ks__rqueue_t *queues;
        size_t cnt;
        void (*destroy)(void *msg);
        int64_t blocked_since; /* waiting for a partition since; 0: not */
        uint64_t enforced;     /* records taken after waiting in vain */
} ks__pgroup_t;

/** Make @p cnt empty queues (topics filled in by the caller). */
ks_err_t ks__pgroup_init(ks__pgroup_t *pg, size_t cnt,
                         void (*destroy)(void *msg));

/** Free every queued record and the queues. */
void ks__pgroup_clear(ks__pgroup_t *pg);

/** The queue of @p topic, NULL if the group has none. */
ks__rqueue_t *ks__pgroup_find(ks__pgroup_t *pg, const char *topic);

/** Queue @p msg at the tail of @p q (taken over on success). -1 when out
 *  of memory (then @p msg is the caller's). */
int ks__pgroup_add(ks__pgroup_t *pg, ks__rqueue_t *q, void *msg, int64_t offset,
                   int64_t timestamp);

/** Records queued in all. */
size_t ks__pgroup_queued(const ks__pgroup_t *pg);

typedef enum {
        KS_PG_EMPTY,   /* nothing queued */
        KS_PG_WAITING, /* records queued, but a partition is awaited */
        KS_PG_RECORD,  /* *rec and *qp hold the next record (now the
                          caller's) */
} ks__pg_next_t;

/** Take the next record at time @p now (ms) under max.task.idle.ms
 *  @p idle_ms (-1: never wait). */
ks__pg_next_t ks__pgroup_next(ks__pgroup_t *pg, int64_t idle_ms, int64_t now,
                              ks__qrec_t *rec, ks__rqueue_t **qp);

#endif
