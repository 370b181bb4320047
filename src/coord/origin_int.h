/* Origins and duplicate marks: how a task recognises records that a replay
 * upstream sent again.
 *
 * Under at-least-once, a task that fails over is processed again from its
 * last committed offset, and whatever it sends to a topic the application
 * reads itself (a through topic: one that a sink of the topology writes
 * and a source reads, such as a repartition topic) arrives a second time.
 * So each record sent to a through topic carries a header KS_ORIGIN_HEADER
 * naming the input record that produced it (source topic index,
 * partition, offset) and its rank among that input's outputs. The producer
 * is idempotent, so within one partition of a through topic the records of
 * one origin partition arrive in the order they were sent: their (offset,
 * rank) rises, and falls back only where a replay begins. The reading task
 * keeps, per (input partition, origin partition), the highest origin it
 * has processed (its mark) and skips a record at or below it: the same
 * record, processed before. Marks are kept per input partition because a
 * task reading several through topics takes their records by timestamp,
 * which interleaves one origin's records out of offset order across them.
 *
 * Trust: the header is honoured only on through topics, only when it
 * carries this application's tag (application.id and its source topics,
 * so a header written by another application or an older topology is
 * ignored), and only when every field is in range (the topic index names
 * one of the topology's source topics, the partition exists, offset and
 * rank are non-negative). A record whose header fails any check is
 * processed as a record without origin: a crafted header can never make a
 * task skip a record, and the marks are bounded by the partitions of the
 * topology's topics.
 *
 * The marks are state: the task writes the marks that changed into its
 * marks store (a logged store of the sub-topology) before each commit, so
 * they are committed, restored and failed over with the rest of its
 * state (see commit_meta_int.h). */
#ifndef KS_ORIGIN_INT_H
#define KS_ORIGIN_INT_H

#include <stddef.h>
#include <stdint.h>

#define KS_ORIGIN_HEADER  "__ks_origin"
#define KS_ORIGIN_LEN     25
#define KS_ORIGIN_VERSION 2

typedef struct {
        int32_t topic_index;
        int32_t partition;
        int64_t offset;
        int32_t seq;
} ks__origin_rec_t;

/** What an origin is checked against. */
typedef struct {
        uint32_t tag;
        int32_t topic_cnt;
        const int32_t *partitions; /* per topic index; <= 0: unknown */
} ks__origin_scope_t;

/** Encode @p o into @p out (KS_ORIGIN_LEN bytes). */
void ks__origin_encode(uint8_t *out, uint32_t tag, const ks__origin_rec_t *o);

/** Decode header value @p v (@p len bytes) into @p o. 0 if it is an origin
 *  of this application within @p scope, else -1. */
int ks__origin_decode(const void *v, size_t len,
                      const ks__origin_scope_t *scope, ks__origin_rec_t *o);

typedef struct ks__marks_s ks__marks_t;

/** An empty set of marks for the application with @p tag; NULL on OOM. */
ks__marks_t *ks__marks_new(uint32_t tag);
void ks__marks_destroy(ks__marks_t *m);

/** 1 if the record of input topic @p input with origin @p o is at or below
 *  the mark of its (input, origin partition): a replay to skip. Otherwise
 *  the mark moves to @p o and 0 is returned; -1 when out of memory (the
 *  record is then processed and the mark stays). */
int ks__marks_check(ks__marks_t *m, int32_t input, const ks__origin_rec_t *o);

/** Call @p put for every mark changed since the last call, as the key and
 *  value the marks store holds; stop at the first non-zero return and
 *  return it (those not written stay changed). */
int ks__marks_flush(ks__marks_t *m,
                    int (*put)(void *opaque, const void *key, size_t klen,
                               const void *value, size_t vlen),
                    void *opaque);

/** Take one entry of the marks store. 0 if taken; 1 if it is not a mark
 *  of this application within @p scope (another tag, an older topology,
 *  malformed): ignored; -1 on OOM. */
int ks__marks_load(ks__marks_t *m, const ks__origin_scope_t *scope,
                   const void *key, size_t klen, const void *value,
                   size_t vlen);

/** Number of marks held. */
size_t ks__marks_count(const ks__marks_t *m);

#endif
