/* Restoring stores from their changelogs (see changelog_reader_int.h).
 *
 * The reader keeps the stores being restored in an array; the restore
 * consumer is assigned the changelog partition of each that is not done,
 * from where it stands. A finished store's partition is paused rather than
 * the assignment rebuilt, which would throw away what the consumer
 * prefetched for the others; the assignment goes when none is left. A new
 * assignment (a store added, a task removed) bumps a generation, and
 * records fetched under an older one are dropped: the new assignment
 * fetches them again from where each restore stands. */
#include "changelog_reader_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define RESTORE_POLL     1000  /* records taken from the queue at once */
#define RESTORE_STALL_MS 10000 /* no record nor end from the consumer */

/* --- planning ----------------------------------------------------------- */

void ks__restore_plan(const ks__restore_in_t *in, ks__restore_plan_t *out) {
        memset(out, 0, sizeof(*out));
        /* The committed state: the position committed with the input
         * offsets; nothing at all when the task's input was never
         * committed (it is processed from its start again). */
        int64_t limit = in->task_committed ? in->committed : in->lo;
        if (limit > in->hi)
                limit = -1; /* the changelog was recreated */
        int64_t cp = in->checkpoint;
        if (limit >= 0 && cp > limit) {
                /* The local store holds changes never committed. */
                out->clear = 1;
                cp = -1;
        }
        out->start = cp >= 0 ? cp : in->lo;
        if (out->start < in->lo)
                out->start = in->lo; /* compacted or deleted below */
        out->end = limit >= 0 ? limit : in->hi;
        /* Under exactly_once_v2 nothing uncommitted is visible; a source
         * topic beyond the committed offset is input yet to process. */
        out->junk_end = in->eos || in->from_source ? out->end : in->hi;
        if (out->end < out->start)
                out->end = out->start;
        if (out->junk_end < out->end)
                out->junk_end = out->end;
        out->needed = out->start < out->end || out->junk_end > out->end;
}

/* --- keys logged again ---------------------------------------------------- */

typedef struct {
        uint64_t hash;
        size_t len;
        unsigned char *key; /* NULL: empty slot */
} kslot_t;

struct ks__keyset_s {
        kslot_t *slots;
        size_t cap, cnt, bytes;
};

static uint64_t key_hash(const void *k, size_t n) {
        return ks__fnv1a64(k, n) | 1; /* never 0 */
}

static void keyset_free(ks__keyset_t *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->cap; i++)
                free(s->slots[i].key);
        free(s->slots);
        free(s);
}

static kslot_t *keyset_slot(ks__keyset_t *s, uint64_t h, const void *k,
                            size_t n) {
        for (size_t i = (size_t)h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
                kslot_t *e = &s->slots[i];
                if (!e->key || (e->hash == h && e->len == n &&
                                (!n || !memcmp(e->key, k, n))))
                        return e;
        }
}

/* 1 if @p k was seen before; else remembers it, within the reader's
 * budget (*used: the bytes of every set of the reader). */
static int keyset_seen(ks__keyset_t **sp, size_t *used, const void *k,
                       size_t n) {
        ks__keyset_t *s = *sp;
        if (!s && !(s = *sp = calloc(1, sizeof(*s))))
                return 0;
        uint64_t h = key_hash(k, n);
        if (s->cap && keyset_slot(s, h, k, n)->key)
                return 1;
        size_t grow = (s->cnt + 1) * 2 > s->cap
                              ? (s->cap ? s->cap : 256) * sizeof(kslot_t)
                              : 0;
        if (*used + n + 1 + grow > KS_RELOG_MEMORY)
                return 0; /* full: log it, perhaps again */
        size_t before = s->bytes;
        if ((s->cnt + 1) * 2 > s->cap) {
                size_t nc = s->cap ? s->cap * 2 : 256;
                kslot_t *ns = calloc(nc, sizeof(*ns));
                if (!ns)
                        return 0;
                kslot_t *old = s->slots;
                size_t oc = s->cap;
                s->slots = ns;
                s->cap = nc;
                for (size_t i = 0; i < oc; i++)
                        if (old[i].key)
                                *keyset_slot(s, old[i].hash, old[i].key,
                                             old[i].len) = old[i];
                free(old);
                s->bytes += (nc - oc) * sizeof(kslot_t);
        }
        kslot_t *e = keyset_slot(s, h, k, n);
        if (!(e->key = malloc(n + 1)))
                return 0;
        if (n)
                memcpy(e->key, k, n);
        e->hash = h;
        e->len = n;
        s->cnt++;
        s->bytes += n + 1;
        *used += s->bytes - before;
        return 0;
}

void ks__restoring_clear(ks__restoring_t *rs) {
        keyset_free(rs->relogged);
        rs->relogged = NULL;
}

/* --- the reader ----------------------------------------------------------- */

struct ks__creader_s {
        rd_kafka_t *consumer;
        rd_kafka_queue_t *queue;
        const ks_config_t *conf;
        ks__creader_listener_t l;
        ks__restoring_t **rs;
        size_t cnt, cap;
        int assigned;
        int pending;          /* stores added since the last assignment */
        int64_t last_message; /* when the consumer last gave anything */
        unsigned gen;
        /* The store the last record went to. */
        rd_kafka_topic_t *last_rkt;
        int32_t last_partition;
        unsigned last_gen;
        ks__restoring_t *last;
        int64_t restored;  /* atomic */
        size_t relog_used; /* bytes of the sets of keys logged again */
};

ks__creader_t *ks__creader_new(rd_kafka_t *consumer, const ks_config_t *conf,
                               const ks__creader_listener_t *listener) {
        ks__creader_t *rd = calloc(1, sizeof(*rd));
        if (!rd)
                return NULL;
        rd->consumer = consumer;
        rd->conf = conf;
        rd->l = *listener;
        if (!(rd->queue = rd_kafka_queue_get_consumer(consumer))) {
                free(rd);
                return NULL;
        }
        return rd;
}

void ks__creader_destroy(ks__creader_t *rd) {
        if (!rd)
                return;
        if (rd->assigned)
                rd_kafka_assign(rd->consumer, NULL);
        rd_kafka_queue_destroy(rd->queue);
        free(rd->rs);
        free(rd);
}

int ks__creader_active(const ks__creader_t *rd) {
        return rd->assigned || rd->pending;
}

int64_t ks__creader_restored(const ks__creader_t *rd) {
        return __atomic_load_n(&rd->restored, __ATOMIC_RELAXED);
}

/* Assign every changelog partition still being restored, from where its
 * restore stands. */
static ks_err_t reassign(ks__creader_t *rd, ks_error_t **errp) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new((int)rd->cnt + 1);
        for (size_t i = 0; i < rd->cnt; i++) {
                ks__restoring_t *r = rd->rs[i];
                r->paused = 0;
                rd_kafka_topic_partition_list_add(l, r->topic, r->partition)
                        ->offset =
                        r->compensating ? r->end : r->start + r->restored;
        }
        rd->pending = 0;
        rd->last_message = ks__now_ms();
        rd_kafka_resp_err_t e =
                rd_kafka_assign(rd->consumer, l->cnt ? l : NULL);
        /* A partition paused earlier stays paused across assignments. */
        if (!e && l->cnt)
                e = rd_kafka_resume_partitions(rd->consumer, l);
        rd->assigned = l->cnt > 0;
        rd->gen++;
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "restore consumer assign: %s",
                                     rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__creader_add(ks__creader_t *rd, ks__restoring_t *rs,
                         ks_error_t **errp) {
        if (rd->cnt == rd->cap) {
                size_t nc = rd->cap ? rd->cap * 2 : 16;
                ks__restoring_t **nv = realloc(rd->rs, nc * sizeof(*nv));
                if (!nv)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                rd->rs = nv;
                rd->cap = nc;
        }
        rd->rs[rd->cnt++] = rs;
        rd->l.event(rd->l.opaque, rs, KS_RESTORE_START);
        /* Assigned with the other stores of the same rebalance, at the next
         * step: one assignment rather than one per store. */
        rd->pending = 1;
        return KS_ERR_NO_ERROR;
}

/* Take @p r out of the set (restored or its task closing). */
static void drop(ks__creader_t *rd, ks__restoring_t *r) {
        for (size_t i = 0; i < rd->cnt; i++)
                if (rd->rs[i] == r) {
                        rd->rs[i] = rd->rs[--rd->cnt];
                        break;
                }
        if (r->relogged)
                rd->relog_used -= r->relogged->bytes;
        ks__restoring_clear(r);
        /* The rest of a batch still counts for the others: only forget
         * the lookup. */
        rd->last = NULL;
        rd->last_rkt = NULL;
}

void ks__creader_remove_task(ks__creader_t *rd, const ks__task_t *task) {
        size_t before = rd->cnt;
        for (size_t i = rd->cnt; i-- > 0;)
                if (rd->rs[i]->task == task)
                        drop(rd, rd->rs[i]);
        if (rd->cnt != before)
                reassign(rd, NULL);
}

/* Stop reading @p r's partition: pause it, or drop the assignment when no
 * store is left. */
static ks_err_t release(ks__creader_t *rd, ks__restoring_t *r,
                        ks_error_t **errp) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, r->topic, r->partition);
        drop(rd, r);
        rd_kafka_resp_err_t e;
        if (!rd->cnt) {
                e = rd_kafka_assign(rd->consumer, NULL);
                rd->assigned = 0;
        } else {
                e = rd_kafka_pause_partitions(rd->consumer, l);
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "restore consumer: %s",
                                     rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

/* The restore of [start, end) is complete: write it and its checkpoint
 * (the tail, if any, is read next). */
static ks_err_t end_replay(ks__creader_t *rd, ks__restoring_t *r,
                           ks_error_t **errp) {
        r->restored = r->end - r->start;
        ks_err_t err =
                ks__task_restore_checkpoint(r->task, r->store, r->end, 1, errp);
        r->batch = 0;
        r->compensating = 1;
        (void)rd;
        return err;
}

static ks_err_t finish(ks__creader_t *rd, ks__restoring_t *r,
                       ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!r->compensating)
                err = end_replay(rd, r, errp);
        if (err)
                return err;
        if (r->relogged && r->relogged->cnt)
                ks__log(rd->conf, KS_LOG_INFO, "RESTORE",
                        "task %s store %s: %zu keys changed after the last "
                        "commit (changelog offsets %" PRId64 " .. %" PRId64
                        ") logged again with their committed values",
                        ks__task_id(r->task),
                        ks__task_store_name(r->task, r->store),
                        r->relogged->cnt, r->end, r->junk_end);
        r->done = 1;
        rd->l.event(rd->l.opaque, r, KS_RESTORE_END);
        err = release(rd, r, errp);
        if (!err)
                err = rd->l.done(rd->l.opaque, r, errp);
        return err;
}

static ks__restoring_t *lookup(ks__creader_t *rd, const rd_kafka_message_t *m) {
        if (rd->last && m->rkt == rd->last_rkt &&
            m->partition == rd->last_partition && rd->last_gen == rd->gen)
                return rd->last;
        const char *topic = rd_kafka_topic_name(m->rkt);
        for (size_t i = 0; i < rd->cnt; i++) {
                ks__restoring_t *r = rd->rs[i];
                if (r->partition == m->partition && !strcmp(r->topic, topic)) {
                        rd->last_rkt = m->rkt;
                        rd->last_partition = m->partition;
                        rd->last_gen = rd->gen;
                        rd->last = r;
                        return r;
                }
        }
        return NULL;
}

/* Apply one record (or event) of the restore consumer. */
static ks_err_t restore_one(ks__creader_t *rd, rd_kafka_message_t *m,
                            ks_error_t **errp) {
        if (!m->rkt)
                return KS_ERR_NO_ERROR;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* A changelog that is gone or not ours to read never
                 * comes back by waiting; anything else librdkafka retries. */
                if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                    m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                    m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
                        return ks__error_set(errp, KS_ERR_KAFKA,
                                             "restoring from changelog %s "
                                             "[%" PRId32 "]: %s",
                                             rd_kafka_topic_name(m->rkt),
                                             m->partition,
                                             rd_kafka_message_errstr(m));
                ks__log(rd->conf, KS_LOG_WARNING, "RESTORE",
                        "restore consumer: %s", rd_kafka_message_errstr(m));
                return KS_ERR_NO_ERROR;
        }
        ks__restoring_t *r = lookup(rd, m);
        if (!r)
                return KS_ERR_NO_ERROR;
        if (m->err) {
                /* The end of the partition: m->offset is its end. */
                if (m->offset < r->end) {
                        ks__log(rd->conf, KS_LOG_WARNING, "RESTORE",
                                "task %s store %s: the changelog %s [%" PRId32
                                "] ends at %" PRId64 ", before the committed "
                                "position %" PRId64,
                                ks__task_id(r->task),
                                ks__task_store_name(r->task, r->store),
                                r->topic, r->partition, m->offset, r->end);
                        r->end = r->junk_end = m->offset;
                        if (r->end < r->start + r->restored)
                                r->end = r->junk_end = r->start + r->restored;
                }
                if (m->offset >= r->junk_end)
                        return finish(rd, r, errp);
                return KS_ERR_NO_ERROR;
        }
        ks_err_t err = KS_ERR_NO_ERROR;
        if (m->offset < r->start + r->restored)
                return KS_ERR_NO_ERROR; /* applied before (fetched again) */
        if (m->offset < r->end) {
                err = ks__task_restore_put(r->task, r->store, m->key,
                                           m->key_len, m->payload, m->len,
                                           rd_kafka_message_timestamp(m, NULL));
                if (err)
                        return ks__error_set(
                                errp, err,
                                "task %s: restoring store %s "
                                "failed: %s",
                                ks__task_id(r->task),
                                ks__task_store_name(r->task, r->store),
                                ks_err2str(err));
                r->restored = m->offset + 1 - r->start;
                __atomic_add_fetch(&rd->restored, 1, __ATOMIC_RELAXED);
                if (m->offset + 1 >= r->end) {
                        if ((err = end_replay(rd, r, errp)))
                                return err;
                        return r->junk_end <= r->end ? finish(rd, r, errp)
                                                     : KS_ERR_NO_ERROR;
                }
                if (++r->batch >= KS_RESTORE_BATCH) {
                        err = ks__task_restore_checkpoint(
                                r->task, r->store, m->offset + 1, 0, errp);
                        r->batch = 0;
                        rd->l.event(rd->l.opaque, r, KS_RESTORE_PROGRESS);
                }
                return err;
        }
        /* At or past the committed position. */
        if (!r->compensating && (err = end_replay(rd, r, errp)))
                return err;
        if (m->offset < r->junk_end &&
            !keyset_seen(&r->relogged, &rd->relog_used, m->key ? m->key : "",
                         m->key_len) &&
            (err = ks__task_relog(r->task, r->store, m->key, m->key_len, errp)))
                return err;
        if (m->offset + 1 >= r->junk_end)
                return finish(rd, r, errp);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__creader_step(ks__creader_t *rd, int64_t budget_ms,
                          ks_error_t **errp) {
        rd_kafka_message_t *ms[RESTORE_POLL];
        int64_t until = ks__now_ms() + budget_ms;
        ks_err_t err = KS_ERR_NO_ERROR;
        if (rd->pending && (err = reassign(rd, errp)))
                return err;
        while (!err && rd->assigned && ks__now_ms() < until) {
                ssize_t n = rd_kafka_consume_batch_queue(rd->queue, 10, ms,
                                                         RESTORE_POLL);
                int64_t now = ks__now_ms();
                if (n > 0) {
                        rd->last_message = now;
                } else if (now - rd->last_message > RESTORE_STALL_MS) {
                        /* Every partition being restored has an end the
                         * consumer reports (a record or the partition's
                         * end): silence this long is a fetch that stalled.
                         * Assign again from where each restore stands. */
                        ks__log(rd->conf, KS_LOG_WARNING, "RESTORE",
                                "restore consumer silent for %d ms with %zu "
                                "changelog partitions to go: assigning them "
                                "again",
                                RESTORE_STALL_MS, rd->cnt);
                        err = reassign(rd, errp);
                }
                unsigned gen = rd->gen;
                for (ssize_t i = 0; i < n; i++) {
                        /* A new assignment starts every partition where its
                         * restore stands: the rest of the batch comes
                         * again. */
                        if (!err && gen == rd->gen)
                                err = restore_one(rd, ms[i], errp);
                        rd_kafka_message_destroy(ms[i]);
                }
        }
        return err;
}
