/* A stream thread's tasks at work: their input, processing and commits
 * (see task_manager_int.h). */
#include "task_manager_impl_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "commit_meta_int.h"

/* --- input and processing ------------------------------------------------- */

/* Running tasks' queued records against buffered.records.per.partition. */
int ks__tmgr_has_room(const ks__tmgr_t *m) {
        int64_t queued = 0, queues = 0;
        for (size_t t = 0; t < m->cnt; t++) {
                const entry_t *te = m->tasks[t];
                if (te->state != TE_RUNNING)
                        continue;
                queued += (int64_t)ks__pgroup_queued(&te->pg);
                queues += (int64_t)te->pg.cnt;
        }
        if (!queues)
                queues = 1;
        int64_t cap = m->buffered_max > INT64_MAX / queues
                              ? INT64_MAX
                              : m->buffered_max * queues;
        return m->blocked || queued < cap;
}

ks_err_t ks__tmgr_enqueue(ks__tmgr_t *m, rd_kafka_message_t *msg,
                          ks_error_t **errp) {
        entry_t *te;
        ks__rqueue_t *q = ks__tmgr_find_queue(m, rd_kafka_topic_name(msg->rkt),
                                              msg->partition, &te);
        int refetch = q && q->paused && (te->state != TE_RUNNING || q->refetch);
        if (refetch)
                q->refetch = 1;
        if (!q || (q->next >= 0 && msg->offset < q->next) || refetch) {
                /* No longer ours; or queued already: the seek of a resume
                 * (ks__tmgr_pause_resume) may take effect late, after the
                 * records it goes back over were handed out again; or
                 * fetched before the pause of a task that does not run
                 * yet, or of a partition whose seek failed: its resume
                 * seeks to where the task goes on. */
                rd_kafka_message_destroy(msg);
                return KS_ERR_NO_ERROR;
        }
        /* A record of a running task handed out while its partition is
         * paused for being full (fetched before the pause) is kept, not
         * dropped: it follows the queued ones, librdkafka resumes after
         * it, and the resume's seek to q->next goes nowhere (if it comes
         * late, the filter above drops what it hands out again). The
         * queue goes past its bound by at most what one fetch held. */
        if (m->blocked && te->state == TE_RUNNING && !q->paused &&
            q->cnt >= (size_t)m->buffered_max)
                /* Taking records past the limit only happens while a task
                 * waits for another partition: this one waits too. */
                ks__tmgr_pause_resume(m, te, q, 1);
        if (ks__pgroup_add(&te->pg, q, msg, msg->offset,
                           rd_kafka_message_timestamp(msg, NULL))) {
                rd_kafka_message_destroy(msg);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        return KS_ERR_NO_ERROR;
}

void ks__tmgr_mark_end(ks__tmgr_t *m, const char *topic, int32_t partition) {
        entry_t *te;
        ks__rqueue_t *q = ks__tmgr_find_queue(m, topic, partition, &te);
        if (q)
                q->at_end = 1; /* what came before is queued already */
}

/* The record's headers without the origin (NULL when it has no others:
 * most records carry none but the origin, and cost no allocation). */
static ks_headers_t *headers_of(const rd_kafka_message_t *msg) {
        rd_kafka_headers_t *rh = NULL;
        if (rd_kafka_message_headers(msg, &rh) || !rh)
                return NULL;
        size_t hc = rd_kafka_header_cnt(rh);
        const void *ov;
        size_t ol;
        if (!hc || (hc == 1 &&
                    !rd_kafka_header_get_last(rh, KS_ORIGIN_HEADER, &ov, &ol)))
                return NULL;
        ks_headers_t *h = ks_headers_new();
        const char *name;
        const void *v;
        size_t vl;
        for (size_t i = 0; h && !rd_kafka_header_get_all(rh, i, &name, &v, &vl);
             i++)
                if (strcmp(name, KS_ORIGIN_HEADER))
                        ks_headers_add(h, name, v, v ? vl : 0);
        if (h && !ks_headers_count(h)) {
                ks_headers_destroy(h);
                h = NULL;
        }
        return h;
}

/* 1 if @p msg of through queue @p q is a replay of a record processed
 * before; otherwise its origin (if valid) becomes the queue's mark. */
static int is_replay(ks__tmgr_t *m, entry_t *te, const ks__rqueue_t *q,
                     const rd_kafka_message_t *msg) {
        rd_kafka_headers_t *rh = NULL;
        const void *v;
        size_t vl;
        ks__origin_rec_t o;
        if (!te->marks || !q->through || rd_kafka_message_headers(msg, &rh) ||
            !rh || rd_kafka_header_get_last(rh, KS_ORIGIN_HEADER, &v, &vl) ||
            ks__origin_decode(v, vl, &m->env.scope, &o))
                return 0;
        return ks__marks_check(te->marks, q->topic_index, &o) == 1;
}

/* Process the next record of @p te at wall-clock time @p now. 0 if it had
 * none to give. */
static int process_one(ks__tmgr_t *m, entry_t *te, int64_t now, ks_err_t *errp,
                       ks_error_t **ep) {
        ks__qrec_t rec;
        ks__rqueue_t *q;
        switch (ks__pgroup_next(&te->pg, m->idle_ms, now, &rec, &q)) {
        case KS_PG_EMPTY:
                return 0;
        case KS_PG_WAITING:
                m->blocked = 1;
                return 0;
        case KS_PG_RECORD:
                break;
        }
        rd_kafka_message_t *msg = rec.msg;
        if (is_replay(m, te, q, msg)) {
                ks__task_skip(te->task, q->topic, msg->offset);
                __atomic_add_fetch(&m->duplicates, 1, __ATOMIC_RELAXED);
        } else {
                ks_headers_t *h = headers_of(msg);
                *errp = ks__task_process(te->task, q->topic, msg->partition,
                                         msg->offset, msg->key, msg->key_len,
                                         msg->payload, msg->len, rec.timestamp,
                                         h, ep);
                ks_headers_destroy(h);
                __atomic_add_fetch(&m->processed, 1, __ATOMIC_RELAXED);
        }
        rd_kafka_message_destroy(msg);
        /* A partition paused for being full resumes once half drained. */
        if (q->paused && q->cnt <= (size_t)m->buffered_max / 2)
                ks__tmgr_pause_resume(m, te, q, 0);
        return 1;
}

ks_err_t ks__tmgr_process(ks__tmgr_t *m, int max, int *did, ks_error_t **errp) {
        int n = 0, progress = 1;
        ks_err_t err = KS_ERR_NO_ERROR;
        m->blocked = 0;
        /* The clock read again after every 64 records or so. */
        int64_t now = ks__now_ms();
        int since = 0;
        ks__tmgr_reseek(m);
        while (progress && n < max && !err) {
                if (since >= 64) {
                        now = ks__now_ms();
                        since = 0;
                }
                progress = 0;
                for (size_t i = 0; i < m->cnt && !err; i++)
                        if (m->tasks[i]->state == TE_RUNNING &&
                            process_one(m, m->tasks[i], now, &err, errp)) {
                                progress = 1;
                                n++;
                                since++;
                        }
        }
        *did = n;
        return err;
}

ks_err_t ks__tmgr_punctuate(ks__tmgr_t *m, int64_t now, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; !err && i < m->cnt; i++)
                if (m->tasks[i]->state == TE_RUNNING)
                        err = ks__task_punctuate_wall_clock(m->tasks[i]->task,
                                                            now, errp);
        return err;
}

/* --- commit ------------------------------------------------------------- */

static int put_mark(void *opaque, const void *k, size_t kl, const void *v,
                    size_t vl) {
        return ks_kv_store_put(opaque, k, kl, v, vl);
}

ks_err_t ks__tmgr_prepare_commit(ks__tmgr_t *m, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; !err && i < m->cnt; i++) {
                entry_t *te = m->tasks[i];
                if (te->state != TE_RUNNING)
                        continue;
                err = ks__task_flush_caches(te->task, errp);
                if (!err && te->marks &&
                    (err = ks__marks_flush(te->marks, put_mark,
                                           te->marks_store)))
                        ks__error_set(errp, err,
                                      "task %s: writing its duplicate marks: "
                                      "%s",
                                      ks__task_id(te->task), ks_err2str(err));
        }
        return err;
}

static void add_offset(void *opaque, const char *topic, int32_t p,
                       int64_t next) {
        rd_kafka_topic_partition_list_add(opaque, topic, p)->offset = next;
}

rd_kafka_topic_partition_list_t *ks__tmgr_offsets(ks__tmgr_t *m) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(8);
        char meta[KS_COMMIT_META_MAX];
        int64_t pos[64];
        for (size_t i = 0; i < m->cnt; i++) {
                entry_t *te = m->tasks[i];
                if (te->state != TE_RUNNING)
                        continue;
                int first = l->cnt;
                ks__task_source_offsets(te->task, add_offset, l);
                /* Every input partition carries the commit's metadata:
                 * one without input since the task started (its state may
                 * have changed all the same, by punctuation) is committed
                 * where it stands, so that no partition keeps an older
                 * commit's positions alone. */
                for (size_t q = 0; q < te->pg.cnt; q++) {
                        const ks__rqueue_t *rq = &te->pg.queues[q];
                        int listed = 0;
                        for (int k = first; !listed && k < l->cnt; k++)
                                listed = !strcmp(l->elems[k].topic, rq->topic);
                        if (!listed)
                                add_offset(l, rq->topic, te->partition,
                                           rq->committed >= 0 ? rq->committed
                                                              : 0);
                }
                size_t n = te->store_cnt < 64 ? te->store_cnt : 64;
                for (size_t s = 0; s < n; s++)
                        pos[s] = ks__task_changelog_topic(te->task, s)
                                         ? ks__task_changelog_position(te->task,
                                                                       s)
                                         : -1;
                size_t len = ks__commit_meta_encode(meta, sizeof(meta),
                                                    m->env.scope.tag, te->sub,
                                                    te->partition, pos, n);
                for (int k = first; len && k < l->cnt; k++) {
                        l->elems[k].metadata = ks__memdup(meta, len);
                        l->elems[k].metadata_size =
                                l->elems[k].metadata ? len : 0;
                }
        }
        return l;
}

ks_err_t ks__tmgr_commit_stores(ks__tmgr_t *m, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; !err && i < m->cnt; i++)
                if (m->tasks[i]->state == TE_RUNNING)
                        err = ks__task_commit(m->tasks[i]->task, errp);
        return err;
}

/* --- queries ------------------------------------------------------------ */

int ks__tmgr_task_count(const ks__tmgr_t *m) {
        return (int)m->cnt;
}

int ks__tmgr_restoring(const ks__tmgr_t *m) {
        int n = 0;
        for (size_t i = 0; i < m->cnt; i++)
                n += m->tasks[i]->state != TE_RUNNING;
        return n;
}

int ks__tmgr_commit_requested(const ks__tmgr_t *m) {
        for (size_t i = 0; i < m->cnt; i++)
                if (m->tasks[i]->state == TE_RUNNING &&
                    ks__task_commit_requested(m->tasks[i]->task))
                        return 1;
        return 0;
}

int64_t ks__tmgr_processed(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->processed, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_duplicates(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->duplicates, __ATOMIC_RELAXED);
}

void ks__tmgr_update_dropped(ks__tmgr_t *m) {
        int64_t n = m->dropped_closed, late = m->late_closed;
        int64_t dup = m->dup_closed;
        int64_t deser = m->deser_closed, proc = m->proc_closed;
        int64_t dlq = m->dlq_closed;
        uint64_t enforced = 0;
        for (size_t i = 0; i < m->cnt; i++) {
                const ks__task_t *t = m->tasks[i]->task;
                deser += (int64_t)ks__task_dropped_deserialization(t);
                proc += (int64_t)ks__task_dropped_processing(t);
                dlq += (int64_t)ks__task_dlq_records(t);
                n += (int64_t)ks__task_dropped_records(m->tasks[i]->task);
                late += (int64_t)ks__task_dropped_late(m->tasks[i]->task);
                dup += (int64_t)ks__task_dropped_duplicate(m->tasks[i]->task);
                enforced += m->tasks[i]->pg.enforced;
        }
        __atomic_store_n(&m->dropped, n, __ATOMIC_RELAXED);
        __atomic_store_n(&m->late, late, __ATOMIC_RELAXED);
        __atomic_store_n(&m->dropped_dup, dup, __ATOMIC_RELAXED);
        __atomic_store_n(&m->dropped_deser, deser, __ATOMIC_RELAXED);
        __atomic_store_n(&m->dropped_proc, proc, __ATOMIC_RELAXED);
        __atomic_store_n(&m->dlq, dlq, __ATOMIC_RELAXED);
        __atomic_store_n(&m->enforced, (int64_t)(enforced + m->enforced_closed),
                         __ATOMIC_RELAXED);
}

int64_t ks__tmgr_dropped(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->dropped, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_dropped_deserialization(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->dropped_deser, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_dropped_processing(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->dropped_proc, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_dlq_records(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->dlq, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_dropped_late(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->late, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_dropped_duplicate(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->dropped_dup, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_tasks_published(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->tasks_pub, __ATOMIC_RELAXED);
}

int64_t ks__tmgr_restored(const ks__tmgr_t *m) {
        return ks__creader_restored(m->reader);
}

int64_t ks__tmgr_enforced(const ks__tmgr_t *m) {
        return __atomic_load_n(&m->enforced, __ATOMIC_RELAXED);
}
