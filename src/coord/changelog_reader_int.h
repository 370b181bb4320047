/* Restoring stores from their changelogs (Kafka Streams'
 * StoreChangelogReader).
 *
 * One reader per stream thread, over its restore consumer (manual
 * assignment). A store to restore is a ks__restoring_t: its changelog
 * partition and the offsets ks__restore_plan() chose:
 *
 *   [start, end)      replayed into the store (end: the position committed
 *                     with the task's input offsets);
 *   [end, junk_end)   at-least-once only: changes an owner logged but never
 *                     committed (it died before its offset commit). Each
 *                     key found there is logged again with its restored,
 *                     committed value, so the changelog itself goes back to
 *                     the committed state before the input after the
 *                     committed offset is processed again.
 *
 * Replayed records are written in batches (ks__task_restore_put, then a
 * checkpoint every KS_RESTORE_BATCH records); the restore of [start, end)
 * is complete and readable before the first record of the tail is looked
 * at. The keys logged again are remembered (up to KS_RELOG_MEMORY bytes
 * for all the stores a thread restores) only to log a key once; past that
 * a key may be logged twice, which is harmless. The reader runs in steps of
 * bounded time between the stream thread's polls. @locality the owning stream
 * thread. */
#ifndef KS_CHANGELOG_READER_INT_H
#define KS_CHANGELOG_READER_INT_H

#include <librdkafka/rdkafka.h>

#include "kstreams/app.h"

#include "../task/task_int.h"

#define KS_RESTORE_BATCH 10000     /* records per restore write batch */
#define KS_RELOG_MEMORY  (8 << 20) /* bytes of keys remembered */

/** What a store's restore is planned from. */
typedef struct {
        int64_t checkpoint; /* the local checkpoint, -1: none */
        int64_t committed;  /* the position committed with the task's
                               input offsets, -1: none known */
        int task_committed; /* the task's input has a committed offset */
        int64_t lo, hi;     /* the changelog partition's watermarks */
        int eos;            /* exactly_once_v2: nothing uncommitted is
                               visible */
        int from_source;    /* the changelog is the table's source topic */
} ks__restore_in_t;

typedef struct {
        int clear;  /* the local store is ahead of the committed state:
                       empty it and rebuild it */
        int needed; /* anything to read */
        int64_t start, end, junk_end;
} ks__restore_plan_t;

/** Plan one store's restore (no I/O). */
void ks__restore_plan(const ks__restore_in_t *in, ks__restore_plan_t *out);

typedef struct ks__keyset_s ks__keyset_t;

/** One store being restored. */
typedef struct {
        ks__task_t *task;
        size_t store;
        const char *topic; /* the task's */
        int32_t partition;
        int64_t start, end, junk_end;
        int64_t restored; /* [start, start + restored) applied */
        int64_t batch;    /* applied since the last checkpoint */
        int compensating; /* in the tail */
        int done;
        int paused;
        ks__keyset_t *relogged;
        void *owner; /* the caller's */
} ks__restoring_t;

/** What the reader tells its owner. */
typedef struct {
        void *opaque;
        /* A store is restored (its task may start). */
        ks_err_t (*done)(void *opaque, ks__restoring_t *r, ks_error_t **errp);
        /* Restore listener events. */
        void (*event)(void *opaque, ks__restoring_t *r,
                      ks_restore_phase_t phase);
} ks__creader_listener_t;

typedef struct ks__creader_s ks__creader_t;

/** A reader over @p consumer (not taken over). */
ks__creader_t *ks__creader_new(rd_kafka_t *consumer, const ks_config_t *conf,
                               const ks__creader_listener_t *listener);
void ks__creader_destroy(ks__creader_t *rd);

/** Start restoring @p rs (borrowed until done or removed). */
ks_err_t ks__creader_add(ks__creader_t *rd, ks__restoring_t *rs,
                         ks_error_t **errp);

/** Stop restoring every store of @p task (it is closing). */
void ks__creader_remove_task(ks__creader_t *rd, const ks__task_t *task);

/** 1 while some store is being restored. */
int ks__creader_active(const ks__creader_t *rd);

/** Replay changelog records for up to @p budget_ms. */
ks_err_t ks__creader_step(ks__creader_t *rd, int64_t budget_ms,
                          ks_error_t **errp);

/** Records restored so far (atomic: any thread). */
int64_t ks__creader_restored(const ks__creader_t *rd);

/** Free what @p rs holds (its set of keys logged again). */
void ks__restoring_clear(ks__restoring_t *rs);

#endif
