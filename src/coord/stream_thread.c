/* Stream threads: one consumer-group member each, with its producer (the
 * record collector), its restore consumer and its tasks.
 *
 * Loop: poll the consumer (rebalance callbacks run inside the poll), queue
 * messages per task and source partition, restore stores in bounded steps,
 * process records (each task takes the queued record with the smallest
 * timestamp), fire wall-clock punctuation, serve delivery reports, commit
 * every commit.interval.ms. No step stays away from the consumer's poll for
 * long, so a large restore never gets the member kicked out of the group.
 *
 * At-least-once commit: flush the producer (every output and changelog
 * record acknowledged; the first send error surfaces here), write each
 * task's stores with their checkpoints, then commit the consumer offsets.
 *
 * Assignment (range assignor, eager protocol): on revoke, commit and close
 * every task, keeping its files; on assign, open a task per sub-topology and
 * partition number, pause its partitions, restore its logged stores from the
 * changelogs (from the local checkpoint), start it and resume. */
#include "coord_int.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "../task/task_int.h"

#define RESTORE_BATCH    10000 /* records per restore write batch */
#define RESTORE_STEP_MS  100   /* restore time between consumer polls */
#define PROCESS_STEP     1000  /* records processed between polls */
#define FLUSH_TIMEOUT_MS 60000
#define TXN_TIMEOUT_MS   30000 /* each transactional call, retries included */
#define ABORT_STREAK_MAX 20    /* aborts in a row before giving up */
/* Records the consumers keep prefetched. Once that many are queued,
 * librdkafka (2.0) stops fetching until its broker thread next wakes, up to
 * a second later: the default, 100000, caps a consumer at about that many
 * records a second. The bytes stay bounded by queued.max.messages.kbytes.
 * Overridden by consumer.queued.min.messages and the like. */
#define QUEUED_MIN_MESSAGES "500000"

/* Records to topics the app reads itself (re-keyed "through" topics) carry
 * their origin, so that the reading task can drop the duplicates a replay
 * upstream produces (see ks__origin_t). */
#define ORIGIN_HEADER "__ks_origin"
#define ORIGIN_LEN    20

/* Committed offsets carry the task's changelog positions and origin
 * high-water marks in their metadata: "ks1;c<store>=<offset>;...;
 * h<topic>.<partition>=<offset>.<seq>;..." */
#define META_MAGIC "ks1"

/* Queued input of one source partition of a task. */
typedef struct {
        const char *topic; /* the source node's */
        rd_kafka_message_t **ring;
        size_t cap, head, cnt;
        int paused;
        int at_end; /* the consumer reached the partition's end (EOF) and
                       nothing came after */
        /* The next offset to fetch: after the last record queued, else
         * the committed offset (RD_KAFKA_OFFSET_INVALID: none known). */
        int64_t next;
} pqueue_t;

/* How long a task with max.task.idle.ms 0 waits at most for an input
 * partition whose end it has not seen (librdkafka reports the end of a
 * partition with every fetch that reaches it). */
#define IDLE_FALLBACK_MS 2000

/* A changelog partition being restored: [start, end) is replayed; when
 * the committed state ends before the changelog does, [end, junk_end)
 * holds changes that were logged but never committed: their keys are
 * collected and logged again with the restored values (compensation). */
typedef struct {
        size_t store;
        int64_t start, end, restored, batch;
        int64_t junk_end; /* > end: compensate [end, junk_end) */
        int compensating;
        char **keys;
        size_t *key_lens, key_cnt, key_cap;
        int done;
} restoring_t;

/* Highest origin seen per upstream input partition (see ORIGIN_HEADER). */
typedef struct {
        int32_t topic_index, partition;
        int64_t offset;
        int32_t seq;
} hwm_t;

typedef struct {
        ks__task_t *task;
        int sub;
        pqueue_t *queues;
        size_t queue_cnt;
        restoring_t *rs; /* per store */
        int64_t *limits; /* per store: committed changelog position, -1 */
        int restoring;   /* stores left to restore */
        hwm_t *hwms;
        size_t hwm_cnt;
        int committed;         /* some input partition has a committed offset */
        int64_t blocked_since; /* waiting for input on all partitions */
} task_entry_t;

typedef struct {
        char *topic;
        int32_t cnt;
} pcount_t;

struct ks__thread_s {
        ks_app_t *app;
        int index;
        pthread_t tid;
        int state; /* ks__thread_state_t, atomic */
        char client_id[256];
        rd_kafka_t *consumer, *producer, *restore;
        ks__task_env_t env;
        task_entry_t *tasks;
        size_t task_cnt;
        int restore_assigned;        /* restore consumer has an assignment */
        rd_kafka_queue_t *restore_q; /* its queue, read in batches */
        unsigned restore_gen;        /* bumped by each restore_assign() */
        /* The store the last restored record went to. */
        struct {
                rd_kafka_topic_t *rkt;
                int32_t partition;
                unsigned gen;
                task_entry_t *te;
                restoring_t *r;
        } rcache;
        int closing; /* committed for close; revoke skips it */
        /* exactly_once_v2 */
        int eos;
        int in_txn;               /* a transaction is open */
        int txn_broken;           /* a send failed inside it: it must abort */
        ks__cache_budget_t cache; /* the record caches of its tasks */
        char txn_error[512];
        int abort_streak;
        int64_t processed_at_commit;
        int crash_point, crash_countdown; /* KSTREAMS_CRASH_POINT */
        int64_t changelog_sent, changelog_at_commit;
        ks_error_t *send_error;
        ks_error_t *fatal; /* set in callbacks, raised by the loop */
        int prod_continue;
        int64_t commit_interval, last_commit, buffered_max, poll_ms;
        int64_t idle_ms; /* max.task.idle.ms */
        int blocked;     /* a task waits for input: keep polling */
        pcount_t *pcounts;
        size_t pcount_cnt;
        /* counters, atomic */
        int64_t dropped_closed; /* dropped by tasks already closed */
        int64_t dropped;        /* atomic: closed + open tasks + sends */
        int64_t processed, restored, commits, send_failures, duplicates;
        int64_t aborts;
};

static void set_thread_state(ks__thread_t *thr, ks__thread_state_t st) {
        if (__atomic_exchange_n(&thr->state, (int)st, __ATOMIC_SEQ_CST) ==
            (int)st)
                return;
        ks__app_thread_state(thr->app, thr, st);
}

ks__thread_state_t ks__thread_state(const ks__thread_t *thr) {
        return (ks__thread_state_t)__atomic_load_n(&thr->state,
                                                   __ATOMIC_SEQ_CST);
}

static void fail(ks__thread_t *thr, ks_error_t *e) {
        if (thr->fatal)
                ks_error_destroy(e);
        else
                thr->fatal = e;
}

static void failf(ks__thread_t *thr, ks_err_t code, const char *fmt, ...)
        KS_PRINTF(3, 4);
static void failf(ks__thread_t *thr, ks_err_t code, const char *fmt, ...) {
        ks_error_t *e = NULL;
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(&e, code, KS_ERROR_F_FATAL, fmt, ap);
        va_end(ap);
        fail(thr, e);
}

/* --- the record collector ----------------------------------------------- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        ks__thread_t *thr = opaque;
        if (!m->err) {
                if (m->_private)
                        *(int64_t *)m->_private = m->offset;
                return;
        }
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (thr->eos)
                return; /* the transaction fails with it, naming it */
        __atomic_add_fetch(&thr->send_failures, 1, __ATOMIC_RELAXED);
        if (thr->prod_continue && !m->_private) {
                ks__log(thr->app->conf, KS_LOG_WARNING, "PRODUCE",
                        "record to %s [%" PRId32 "] not delivered: %s; "
                        "continuing (default.production.exception.handler "
                        "is continue)",
                        topic, m->partition, rd_kafka_err2str(m->err));
                return;
        }
        if (!thr->send_error)
                ks__error_setf(&thr->send_error, KS_ERR_KAFKA, KS_ERROR_F_FATAL,
                               "a record to %s [%" PRId32
                               "] was not delivered: %s",
                               topic, m->partition, rd_kafka_err2str(m->err));
}

static ks_err_t produce(ks__thread_t *thr, const char *topic, int32_t partition,
                        const void *key, size_t klen, const void *value,
                        size_t vlen, int64_t ts, const ks_headers_t *hdrs,
                        const ks__origin_t *origin, int64_t *slot,
                        ks_error_t **errp) {
        if (thr->eos && thr->txn_broken)
                return KS_ERR_NO_ERROR; /* the transaction will abort */
        if (thr->eos && !thr->in_txn) {
                rd_kafka_error_t *ke =
                        rd_kafka_begin_transaction(thr->producer);
                if (ke) {
                        /* The producer is in an error state (fenced, ...):
                         * the loop aborts and recovers (txn_failed()). */
                        thr->txn_broken = 1;
                        snprintf(thr->txn_error, sizeof(thr->txn_error),
                                 "cannot begin a transaction: %s",
                                 rd_kafka_error_string(ke));
                        rd_kafka_error_destroy(ke);
                        return KS_ERR_NO_ERROR;
                }
                thr->in_txn = 1;
        }
        rd_kafka_headers_t *rh = NULL;
        size_t hc = hdrs ? ks_headers_count(hdrs) : 0;
        if (hc || origin) {
                rh = rd_kafka_headers_new(hc + 1);
                if (origin) {
                        uint8_t o[ORIGIN_LEN];
                        ks__be32_put(o, (uint32_t)origin->topic_index);
                        ks__be32_put(o + 4, (uint32_t)origin->partition);
                        ks__be64_put(o + 8, (uint64_t)origin->offset);
                        ks__be32_put(o + 16, (uint32_t)origin->seq);
                        rd_kafka_header_add(rh, ORIGIN_HEADER, -1, o,
                                            sizeof(o));
                }
                for (size_t i = 0; i < hc; i++) {
                        const char *name;
                        const void *v;
                        size_t vl;
                        if (!ks_headers_get_at(hdrs, i, &name, &v, &vl))
                                rd_kafka_header_add(rh, name, -1, v,
                                                    v ? (ssize_t)vl : 0);
                }
        }
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        thr->producer, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition < 0
                                                     ? RD_KAFKA_PARTITION_UA
                                                     : partition),
                        RD_KAFKA_V_KEY((void *)key, key ? klen : 0),
                        RD_KAFKA_V_VALUE((void *)value, value ? vlen : 0),
                        RD_KAFKA_V_TIMESTAMP(ts),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_HEADERS(rh),
                        RD_KAFKA_V_END);
                if (!e)
                        return KS_ERR_NO_ERROR; /* headers taken over */
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(thr->producer, 5); /* make room */
                        continue;
                }
                if (rh)
                        rd_kafka_headers_destroy(rh);
                /* The transaction is in an error state (fenced, timed
                 * out and aborted by the coordinator, ...): the loop
                 * aborts it and recovers (txn_failed()). */
                if (thr->eos && (e == RD_KAFKA_RESP_ERR__FATAL ||
                                 e == RD_KAFKA_RESP_ERR__STATE ||
                                 e == RD_KAFKA_RESP_ERR__FENCED)) {
                        thr->txn_broken = 1;
                        snprintf(thr->txn_error, sizeof(thr->txn_error),
                                 "cannot produce to %s: %s", topic,
                                 rd_kafka_err2str(e));
                        return KS_ERR_NO_ERROR;
                }
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "cannot produce to %s: %s", topic,
                                     rd_kafka_err2str(e));
        }
}

static ks_err_t coll_send(void *opaque, const char *topic, int32_t partition,
                          const void *key, size_t klen, const void *value,
                          size_t vlen, int64_t ts, const ks_headers_t *hdrs,
                          const ks__origin_t *origin, ks_error_t **errp) {
        ks__thread_t *thr = opaque;
        int through = origin && origin->offset >= 0 &&
                      ks__topology_source_for(thr->app->topo, topic);
        return produce(thr, topic, partition, key, klen, value, vlen, ts, hdrs,
                       through ? origin : NULL, NULL, errp);
}

static ks_err_t coll_send_changelog(void *opaque, const char *topic,
                                    int32_t partition, const void *key,
                                    size_t klen, const void *value, size_t vlen,
                                    int64_t ts, int64_t *slot,
                                    ks_error_t **errp) {
        ((ks__thread_t *)opaque)->changelog_sent++;
        return produce(opaque, topic, partition, key, klen, value, vlen, ts,
                       NULL, NULL, slot, errp);
}

static int32_t coll_partition_count(void *opaque, const char *topic) {
        ks__thread_t *thr = opaque;
        for (size_t i = 0; i < thr->pcount_cnt; i++)
                if (!strcmp(thr->pcounts[i].topic, topic))
                        return thr->pcounts[i].cnt;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(thr->producer, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int32_t cnt = -1;
        if (rkt && !rd_kafka_metadata(thr->producer, 0, rkt, &md, 5000)) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        cnt = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        pcount_t *nv = cnt > 0 ? realloc(thr->pcounts,
                                         (thr->pcount_cnt + 1) * sizeof(*nv))
                               : NULL;
        if (nv) {
                thr->pcounts = nv;
                nv[thr->pcount_cnt].topic = ks__strdup(topic);
                nv[thr->pcount_cnt].cnt = cnt;
                if (nv[thr->pcount_cnt].topic)
                        thr->pcount_cnt++;
        }
        return cnt;
}

static ks_err_t coll_flush(void *opaque, ks_error_t **errp) {
        ks__thread_t *thr = opaque;
        rd_kafka_resp_err_t e = rd_kafka_flush(thr->producer, FLUSH_TIMEOUT_MS);
        if (thr->send_error)
                return ks__error_set(errp, ks_error_code(thr->send_error), "%s",
                                     ks_error_message(thr->send_error));
        if (e)
                return ks__error_set(
                        errp, KS_ERR_KAFKA, "producer flush: %s after %d s",
                        rd_kafka_err2str(e), FLUSH_TIMEOUT_MS / 1000);
        return KS_ERR_NO_ERROR;
}

/* --- tasks -------------------------------------------------------------- */

static void queue_clear(pqueue_t *q) {
        while (q->cnt) {
                rd_kafka_message_destroy(q->ring[q->head]);
                q->head = (q->head + 1) % q->cap;
                q->cnt--;
        }
        free(q->ring);
        q->ring = NULL;
        q->cap = q->head = 0;
}

static void keys_free(restoring_t *r) {
        for (size_t i = 0; i < r->key_cnt; i++)
                free(r->keys[i]);
        free(r->keys);
        free(r->key_lens);
        r->keys = NULL;
        r->key_lens = NULL;
        r->key_cnt = r->key_cap = 0;
}

static void entry_free(task_entry_t *te) {
        for (size_t i = 0; i < te->queue_cnt; i++)
                queue_clear(&te->queues[i]);
        free(te->queues);
        for (size_t i = 0; te->rs && i < ks__task_store_count(te->task); i++)
                keys_free(&te->rs[i]);
        free(te->rs);
        free(te->limits);
        free(te->hwms);
        ks__task_destroy(te->task);
}

static task_entry_t *find_task(ks__thread_t *thr, int sub, int32_t p) {
        for (size_t i = 0; i < thr->task_cnt; i++)
                if (thr->tasks[i].sub == sub &&
                    ks__task_partition(thr->tasks[i].task) == p)
                        return &thr->tasks[i];
        return NULL;
}

static pqueue_t *find_queue(task_entry_t *te, const char *topic) {
        for (size_t i = 0; i < te->queue_cnt; i++)
                if (!strcmp(te->queues[i].topic, topic))
                        return &te->queues[i];
        return NULL;
}

/* Pause or resume the input partition of @p q. A resume also seeks to the
 * next offset the task needs: librdkafka resumes from the last record it
 * handed out, and when a partition was paused before it handed out any
 * (a task restoring right after its assignment), it may resume past
 * records fetched and thrown away by the pause. Only paused partitions
 * are resumed: resuming one that is not paused may move its position. */
static void pause_resume(ks__thread_t *thr, task_entry_t *te, pqueue_t *q,
                         int pause) {
        if (!pause && !q->paused)
                return;
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
                l, q->topic, ks__task_partition(te->task));
        if (pause) {
                rd_kafka_pause_partitions(thr->consumer, l);
        } else {
                rd_kafka_resume_partitions(thr->consumer, l);
                tp->offset = q->next != RD_KAFKA_OFFSET_INVALID
                                     ? q->next
                                     : RD_KAFKA_OFFSET_BEGINNING;
                rd_kafka_error_t *ke =
                        rd_kafka_seek_partitions(thr->consumer, l, 10000);
                if (ke || tp->err)
                        ks__log(thr->app->conf, KS_LOG_WARNING, "CONSUMER",
                                "%s: cannot seek %s [%" PRId32 "] to %" PRId64
                                " after a restore: %s",
                                thr->client_id, q->topic, tp->partition,
                                tp->offset,
                                ke ? rd_kafka_error_string(ke)
                                   : rd_kafka_err2str(tp->err));
                if (ke)
                        rd_kafka_error_destroy(ke);
        }
        rd_kafka_topic_partition_list_destroy(l);
        q->paused = pause;
}

static ks_err_t open_task(ks__thread_t *thr, int sub, int32_t partition,
                          ks_error_t **errp) {
        task_entry_t *nv =
                realloc(thr->tasks, (thr->task_cnt + 1) * sizeof(*nv));
        if (!nv)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        thr->tasks = nv;
        thr->restore_gen++; /* the entries moved */
        task_entry_t *te = &thr->tasks[thr->task_cnt];
        memset(te, 0, sizeof(*te));
        te->sub = sub;
        ks_err_t err = ks__task_new(thr->app->topo, sub, partition, &thr->env,
                                    &te->task, errp);
        if (err)
                return err;
        const ks__subtopology_t *s = ks__task_subtopology(te->task);
        for (size_t i = 0; i < s->node_cnt; i++)
                if (s->nodes[i]->kind == KS_NODE_SOURCE)
                        te->queue_cnt += s->nodes[i]->topic_cnt;
        te->queues = calloc(te->queue_cnt + 1, sizeof(*te->queues));
        size_t sc = ks__task_store_count(te->task);
        te->rs = calloc(sc + 1, sizeof(*te->rs));
        te->limits = malloc((sc + 1) * sizeof(*te->limits));
        if (!te->queues || !te->rs || !te->limits) {
                free(te->queues);
                free(te->rs);
                free(te->limits);
                ks__task_destroy(te->task);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        for (size_t i = 0; i <= sc; i++)
                te->limits[i] = -1;
        size_t k = 0;
        for (size_t i = 0; i < s->node_cnt; i++)
                for (size_t j = 0; s->nodes[i]->kind == KS_NODE_SOURCE &&
                                   j < s->nodes[i]->topic_cnt;
                     j++) {
                        te->queues[k].next = RD_KAFKA_OFFSET_INVALID;
                        te->queues[k++].topic = s->nodes[i]->topics[j];
                }
        thr->task_cnt++;
        return KS_ERR_NO_ERROR;
}

/* Restore listener call. */
static void restore_event(ks__thread_t *thr, task_entry_t *te, size_t i,
                          ks_restore_phase_t phase) {
        ks_app_t *app = thr->app;
        restoring_t *r = &te->rs[i];
        if (phase == KS_RESTORE_END || phase == KS_RESTORE_START)
                ks__log(app->conf, KS_LOG_INFO, "RESTORE",
                        "task %s store %s: %s (offsets %" PRId64 " .. %" PRId64
                        ", %" PRId64 " restored)",
                        ks__task_id(te->task), ks__task_store_name(te->task, i),
                        phase == KS_RESTORE_START ? "restoring" : "restored",
                        r->start, r->end, r->restored);
        if (app->restore_cb)
                app->restore_cb(app->restore_opaque, phase,
                                ks__task_store_name(te->task, i),
                                ks__task_changelog_topic(te->task, i),
                                ks__task_partition(te->task), r->start, r->end,
                                r->restored);
}

static ks_err_t start_task(ks__thread_t *thr, task_entry_t *te,
                           ks_error_t **errp) {
        ks_err_t err = ks__task_start(te->task, errp);
        if (err)
                return err;
        for (size_t i = 0; i < te->queue_cnt; i++)
                pause_resume(thr, te, &te->queues[i], 0);
        return KS_ERR_NO_ERROR;
}

/* The restore consumer's assignment: every changelog partition still being
 * restored, from where it stands. */
static ks_err_t restore_assign(ks__thread_t *thr, ks_error_t **errp) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(4);
        for (size_t t = 0; t < thr->task_cnt; t++) {
                task_entry_t *te = &thr->tasks[t];
                for (size_t i = 0;
                     te->restoring && i < ks__task_store_count(te->task); i++) {
                        restoring_t *r = &te->rs[i];
                        const char *cl = ks__task_changelog_topic(te->task, i);
                        if (!cl || r->done)
                                continue;
                        rd_kafka_topic_partition_list_add(
                                l, cl, ks__task_partition(te->task))
                                ->offset = r->compensating && !r->restored
                                                   ? r->end
                                                   : r->start + r->restored;
                }
        }
        rd_kafka_resp_err_t e =
                rd_kafka_assign(thr->restore, l->cnt ? l : NULL);
        /* A partition paused by an earlier restore (restore_release())
         * stays paused across assignments: resume them all. */
        if (!e && l->cnt)
                e = rd_kafka_resume_partitions(thr->restore, l);
        thr->restore_assigned = l->cnt > 0;
        thr->restore_gen++;
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "restore consumer assign: %s",
                                     rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

/* Stop reading the changelog of @p r, restored. Pausing it keeps what the
 * consumer prefetched for the other partitions (a new assignment would
 * drop it); the assignment goes when no store is left to restore. */
static ks_err_t restore_release(ks__thread_t *thr, task_entry_t *te,
                                restoring_t *r, ks_error_t **errp) {
        int left = 0;
        for (size_t t = 0; t < thr->task_cnt; t++)
                left += thr->tasks[t].restoring;
        rd_kafka_resp_err_t e;
        if (!left) {
                e = rd_kafka_assign(thr->restore, NULL);
                thr->restore_assigned = 0;
                thr->restore_gen++;
        } else {
                rd_kafka_topic_partition_list_t *l =
                        rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(
                        l, ks__task_changelog_topic(te->task, r->store),
                        ks__task_partition(te->task));
                e = rd_kafka_pause_partitions(thr->restore, l);
                rd_kafka_topic_partition_list_destroy(l);
        }
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "restore consumer: %s",
                                     rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

/* Decide what each new task's stores need: nothing (up to date) or a
 * replay of [checkpoint, end). */
static ks_err_t plan_restore(ks__thread_t *thr, task_entry_t *te,
                             ks_error_t **errp) {
        int32_t p = ks__task_partition(te->task);
        for (size_t i = 0; i < ks__task_store_count(te->task); i++) {
                const char *cl = ks__task_changelog_topic(te->task, i);
                restoring_t *r = &te->rs[i];
                r->store = i;
                r->done = 1;
                if (!cl)
                        continue;
                int64_t lo, hi;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                        thr->restore, cl, p, &lo, &hi, 10000);
                if (e)
                        return ks__error_set(errp, KS_ERR_KAFKA,
                                             "task %s: cannot read the end "
                                             "of changelog %s [%" PRId32
                                             "]: %s",
                                             ks__task_id(te->task), cl, p,
                                             rd_kafka_err2str(e));
                int64_t cp = ks__task_changelog_offset(te->task, i);
                /* The committed state: the changelog position stored with
                 * the committed offsets; nothing at all when the task's
                 * input was never committed (it is processed from its
                 * start again). */
                int64_t limit = te->committed ? te->limits[i] : lo;
                if (limit > hi)
                        limit = -1; /* the changelog was recreated */
                if (limit >= 0 && cp > limit) {
                        /* The local store holds changes that were never
                         * committed: rebuild it up to the committed state. */
                        ks__log(thr->app->conf, KS_LOG_WARNING, "RESTORE",
                                "task %s store %s: local state (changelog "
                                "offset %" PRId64 ") is ahead of the "
                                "committed state (%" PRId64 "); rebuilding it",
                                ks__task_id(te->task),
                                ks__task_store_name(te->task, i), cp, limit);
                        ks_err_t err = ks__task_store_clear(te->task, i, errp);
                        if (err)
                                return err;
                        cp = -1;
                }
                r->start = cp >= 0 ? cp : lo;
                if (r->start < lo)
                        r->start = lo; /* compacted or deleted below */
                r->end = limit >= 0 ? limit : hi;
                /* Under exactly_once_v2 nothing uncommitted is visible
                 * (read_committed): no tail to compensate. */
                r->junk_end = thr->eos ? r->end : hi;
                /* A source topic beyond the committed offset is input yet
                 * to process, not uncommitted changes. */
                if (ks__task_changelog_from_source(te->task, i))
                        r->junk_end = r->end;
                if (r->end < r->start)
                        r->end = r->start;
                if (r->start >= r->end && r->junk_end <= r->end)
                        continue;
                r->compensating = r->start >= r->end;
                r->done = 0;
                te->restoring++;
                restore_event(thr, te, i, KS_RESTORE_START);
        }
        return KS_ERR_NO_ERROR;
}

/* Log again, with the restored values, every key changed in the
 * uncommitted tail of the changelog. */
static ks_err_t compensate(ks__thread_t *thr, task_entry_t *te, restoring_t *r,
                           ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t k = 0; !err && k < r->key_cnt; k++)
                err = ks__task_relog(te->task, r->store, r->keys[k],
                                     r->key_lens[k], errp);
        if (!err && r->key_cnt)
                ks__log(thr->app->conf, KS_LOG_INFO, "RESTORE",
                        "task %s store %s: %zu keys changed after the last "
                        "commit (changelog offsets %" PRId64 " .. %" PRId64
                        ") logged again with their committed values",
                        ks__task_id(te->task),
                        ks__task_store_name(te->task, r->store), r->key_cnt,
                        r->end, r->junk_end);
        keys_free(r);
        return err;
}

static int collect_key(restoring_t *r, const void *key, size_t klen) {
        for (size_t k = 0; k < r->key_cnt; k++)
                if (r->key_lens[k] == klen &&
                    (!klen || !memcmp(r->keys[k], key, klen)))
                        return 0;
        if (r->key_cnt == r->key_cap) {
                size_t nc = r->key_cap ? r->key_cap * 2 : 64;
                char **nk = realloc(r->keys, nc * sizeof(*nk));
                if (nk)
                        r->keys = nk;
                size_t *nl = nk ? realloc(r->key_lens, nc * sizeof(*nl)) : NULL;
                if (nl)
                        r->key_lens = nl;
                if (!nk || !nl)
                        return -1;
                r->key_cap = nc;
        }
        if (!(r->keys[r->key_cnt] = malloc(klen + 1)))
                return -1;
        if (klen)
                memcpy(r->keys[r->key_cnt], key, klen);
        r->key_lens[r->key_cnt++] = klen;
        return 0;
}

static ks_err_t finish_store(ks__thread_t *thr, task_entry_t *te,
                             restoring_t *r, int at_end, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!r->compensating) {
                err = ks__task_restore_checkpoint(
                        te->task, r->store, r->start + r->restored,
                        r->start + r->restored >= r->end, errp);
                if (err)
                        return err;
                if (r->start + r->restored < r->end) {
                        restore_event(thr, te, r->store, KS_RESTORE_PROGRESS);
                        r->batch = 0;
                        return KS_ERR_NO_ERROR;
                }
                if (r->junk_end > r->end && !at_end) {
                        r->compensating = 1; /* read the tail's keys */
                        return KS_ERR_NO_ERROR;
                }
        }
        if (r->compensating && (err = compensate(thr, te, r, errp)))
                return err;
        r->done = 1;
        te->restoring--;
        restore_event(thr, te, r->store, KS_RESTORE_END);
        if (!te->restoring)
                err = start_task(thr, te, errp);
        if (!err)
                err = restore_release(thr, te, r, errp);
        r->batch = 0;
        return err;
}

static restoring_t *find_restoring(ks__thread_t *thr, const char *topic,
                                   int32_t p, task_entry_t **tep) {
        for (size_t t = 0; t < thr->task_cnt; t++) {
                task_entry_t *te = &thr->tasks[t];
                if (!te->restoring || ks__task_partition(te->task) != p)
                        continue;
                for (size_t i = 0; i < ks__task_store_count(te->task); i++) {
                        const char *cl = ks__task_changelog_topic(te->task, i);
                        if (cl && !te->rs[i].done && !strcmp(cl, topic)) {
                                *tep = te;
                                return &te->rs[i];
                        }
                }
        }
        return NULL;
}

/* Apply one record (or event) of the restore consumer. */
static ks_err_t restore_one(ks__thread_t *thr, rd_kafka_message_t *m,
                            ks_error_t **errp) {
        task_entry_t *te = NULL;
        restoring_t *r = NULL;
        if (m->rkt && m->rkt == thr->rcache.rkt &&
            m->partition == thr->rcache.partition &&
            thr->rcache.gen == thr->restore_gen && !thr->rcache.r->done) {
                te = thr->rcache.te;
                r = thr->rcache.r;
        } else if (m->rkt &&
                   (r = find_restoring(thr, rd_kafka_topic_name(m->rkt),
                                       m->partition, &te))) {
                thr->rcache.rkt = m->rkt;
                thr->rcache.partition = m->partition;
                thr->rcache.gen = thr->restore_gen;
                thr->rcache.te = te;
                thr->rcache.r = r;
        }
        ks_err_t err = KS_ERR_NO_ERROR;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (r && m->offset >= r->junk_end) {
                        if (!r->compensating)
                                r->restored = r->end - r->start;
                        err = finish_store(thr, te, r, 1, errp);
                }
        } else if (m->err) {
                ks__log(thr->app->conf, KS_LOG_WARNING, "RESTORE",
                        "restore consumer: %s", rd_kafka_message_errstr(m));
        } else if (r && m->offset >= r->end && r->junk_end <= r->end) {
                /* Past the committed position (exactly-once): done. */
                r->restored = r->end - r->start;
                err = finish_store(thr, te, r, 1, errp);
        } else if (r && m->offset >= r->end) {
                /* The uncommitted tail: remember its keys. */
                r->compensating = 1;
                if (collect_key(r, m->key, m->key_len))
                        err = ks__error_set(errp, KS_ERR_NO_MEMORY,
                                            "out of memory");
                else if (m->offset + 1 >= r->junk_end)
                        err = finish_store(thr, te, r, 1, errp);
        } else if (r && m->offset < r->start + r->restored) {
                /* Already applied (fetched again after a reassignment). */
        } else if (r) {
                err = ks__task_restore_put(te->task, r->store, m->key,
                                           m->key_len, m->payload, m->len);
                if (err)
                        ks__error_set(errp, err,
                                      "task %s: restoring store %s "
                                      "failed: %s",
                                      ks__task_id(te->task),
                                      ks__task_store_name(te->task, r->store),
                                      ks_err2str(err));
                r->restored = m->offset + 1 - r->start;
                __atomic_add_fetch(&thr->restored, 1, __ATOMIC_RELAXED);
                if (!err &&
                    (++r->batch >= RESTORE_BATCH || m->offset + 1 >= r->end))
                        err = finish_store(thr, te, r,
                                           m->offset + 1 >= r->junk_end, errp);
        }
        return err;
}

#define RESTORE_POLL 1000 /* records taken from the restore queue at once */

/* Replay changelog records for up to RESTORE_STEP_MS. */
static ks_err_t restore_step(ks__thread_t *thr, ks_error_t **errp) {
        if (!thr->restore_q &&
            !(thr->restore_q = rd_kafka_queue_get_consumer(thr->restore)))
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "no queue on the restore consumer");
        rd_kafka_message_t *ms[RESTORE_POLL];
        int64_t until = ks__now_ms() + RESTORE_STEP_MS;
        ks_err_t err = KS_ERR_NO_ERROR;
        while (!err && thr->restore_assigned && ks__now_ms() < until) {
                ssize_t n = rd_kafka_consume_batch_queue(thr->restore_q, 10, ms,
                                                         RESTORE_POLL);
                unsigned gen = thr->restore_gen;
                for (ssize_t i = 0; i < n; i++) {
                        /* A new assignment starts every partition where its
                         * restore stands (and a closed task's records are
                         * not for its successor): the rest of the batch
                         * comes again. */
                        if (!err && gen == thr->restore_gen)
                                err = restore_one(thr, ms[i], errp);
                        rd_kafka_message_destroy(ms[i]);
                }
        }
        return err;
}

/* --- commit and rebalance ----------------------------------------------- */

static void add_offset(void *opaque, const char *topic, int32_t p,
                       int64_t next) {
        rd_kafka_topic_partition_list_add(opaque, topic, p)->offset = next;
}

static hwm_t *hwm_find(task_entry_t *te, int32_t ti, int32_t p, int add);

/* The metadata committed with a task's offsets (see META_MAGIC). */
static char *commit_metadata(const task_entry_t *te) {
        size_t cap = 64 + 40 * (ks__task_store_count(te->task) + te->hwm_cnt);
        char *m = malloc(cap);
        if (!m)
                return NULL;
        size_t len = (size_t)snprintf(m, cap, "%s", META_MAGIC);
        for (size_t i = 0; i < ks__task_store_count(te->task); i++) {
                int64_t pos = ks__task_changelog_position(te->task, i);
                if (ks__task_changelog_topic(te->task, i) && pos >= 0)
                        len += (size_t)snprintf(m + len, cap - len,
                                                ";c%zu=%" PRId64, i, pos);
        }
        for (size_t i = 0; i < te->hwm_cnt; i++)
                len += (size_t)snprintf(
                        m + len, cap - len,
                        ";h%" PRId32 ".%" PRId32 "=%" PRId64 ".%" PRId32,
                        te->hwms[i].topic_index, te->hwms[i].partition,
                        te->hwms[i].offset, te->hwms[i].seq);
        return m;
}

/* Read what commit_metadata() wrote into the task's limits and marks. */
static void parse_metadata(task_entry_t *te, const char *m, size_t len) {
        char buf[4096];
        if (len >= sizeof(buf) || len < strlen(META_MAGIC) ||
            memcmp(m, META_MAGIC, strlen(META_MAGIC)))
                return;
        memcpy(buf, m, len);
        buf[len] = '\0';
        char *save = NULL;
        for (char *tok = strtok_r(buf, ";", &save); tok;
             tok = strtok_r(NULL, ";", &save)) {
                size_t i;
                int64_t off;
                int32_t ti, p, seq;
                if (sscanf(tok, "c%zu=%" SCNd64, &i, &off) == 2 &&
                    i < ks__task_store_count(te->task)) {
                        te->limits[i] = off;
                } else if (sscanf(tok,
                                  "h%" SCNd32 ".%" SCNd32 "=%" SCNd64
                                  ".%" SCNd32,
                                  &ti, &p, &off, &seq) == 4) {
                        hwm_t *h = hwm_find(te, ti, p, 1);
                        if (h) {
                                h->offset = off;
                                h->seq = seq;
                        }
                }
        }
}

/* The offsets to commit of every running task, with their metadata. */
static rd_kafka_topic_partition_list_t *commit_offsets(ks__thread_t *thr) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(8);
        for (size_t i = 0; i < thr->task_cnt; i++) {
                task_entry_t *te = &thr->tasks[i];
                if (te->restoring)
                        continue;
                int first = l->cnt;
                ks__task_source_offsets(te->task, add_offset, l);
                if (l->cnt > first) {
                        char *meta = commit_metadata(te);
                        for (int k = first; meta && k < l->cnt; k++) {
                                l->elems[k].metadata = ks__strdup(meta);
                                l->elems[k].metadata_size =
                                        l->elems[k].metadata ? strlen(meta) : 0;
                        }
                        free(meta);
                }
        }
        return l;
}

/* Write each running task's stores and checkpoint. */
static ks_err_t commit_tasks(ks__thread_t *thr, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; !err && i < thr->task_cnt; i++)
                if (!thr->tasks[i].restoring)
                        err = ks__task_commit(thr->tasks[i].task, errp);
        return err;
}

/* Let out what the record caches of the running tasks hold: before any
 * commit, so that the commit covers it. */
static ks_err_t flush_caches(ks__thread_t *thr, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; !err && i < thr->task_cnt; i++)
                if (!thr->tasks[i].restoring)
                        err = ks__task_flush_caches(thr->tasks[i].task, errp);
        return err;
}

/* At-least-once: flush, write the stores, commit the offsets. */
static ks_err_t commit_alos(ks__thread_t *thr, ks_error_t **errp) {
        ks_err_t err = flush_caches(thr, errp);
        if (!err)
                err = coll_flush(thr, errp);
        if (!err)
                err = commit_tasks(thr, errp);
        rd_kafka_topic_partition_list_t *l = commit_offsets(thr);
        if (!err && l->cnt) {
                rd_kafka_resp_err_t e = rd_kafka_commit(thr->consumer, l, 0);
                for (int k = 0; !e && k < l->cnt; k++)
                        e = l->elems[k].err; /* per-partition failures */
                if (e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                    e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                    e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) {
                        /* The tasks have moved on (Kafka Streams'
                         * TaskMigrated): at-least-once, their new owner
                         * processes these records again. */
                        ks__log(thr->app->conf, KS_LOG_WARNING, "COMMIT",
                                "%s: offsets not committed (%s); the "
                                "records since the last commit will be "
                                "processed again",
                                thr->client_id, rd_kafka_err2str(e));
                } else if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                        err = ks__error_set(errp, KS_ERR_KAFKA,
                                            "offset commit: %s",
                                            rd_kafka_err2str(e));
                }
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (!err)
                __atomic_add_fetch(&thr->commits, 1, __ATOMIC_RELAXED);
        thr->last_commit = ks__now_ms();
        return err;
}

/* --- exactly-once ------------------------------------------------------- */

/* Test hook: KSTREAMS_CRASH_POINT=<point>[:<n>] kills the process (SIGKILL,
 * no clean-up) the n-th time a commit that carries state changes (records
 * sent to changelogs) reaches <point>. */
enum {
        CP_NONE,
        CP_BEFORE_COMMIT, /* offsets sent, transaction not committed */
        CP_AFTER_COMMIT,  /* transaction committed, stores not written */
        CP_AFTER_STATE,   /* stores and checkpoints written */
};
static const char *const crash_point_names[] = {
        "", "before-commit", "after-commit", "after-state-write", NULL};

static void crash_point(ks__thread_t *thr, int cp, int state_changes) {
        if (thr->crash_point != cp || !state_changes ||
            --thr->crash_countdown > 0)
                return;
        ks__log(thr->app->conf, KS_LOG_WARNING, "CRASH",
                "%s: crash point %s reached: killing the process",
                thr->client_id, crash_point_names[cp]);
        raise(SIGKILL);
}

static void parse_crash_point(ks__thread_t *thr) {
        const char *v = getenv("KSTREAMS_CRASH_POINT");
        if (!v || !*v)
                return;
        size_t n = strcspn(v, ":");
        for (int i = 1; crash_point_names[i]; i++)
                if (strlen(crash_point_names[i]) == n &&
                    !strncmp(v, crash_point_names[i], n)) {
                        thr->crash_point = i;
                        thr->crash_countdown = v[n] ? atoi(v + n + 1) : 1;
                        if (thr->crash_countdown < 1)
                                thr->crash_countdown = 1;
                }
}

static rd_kafka_t *make_producer(ks__thread_t *thr, ks_error_t **errp);

/* Input records handled: processed or skipped as duplicates. */
static int64_t progress(ks__thread_t *thr) {
        return __atomic_load_n(&thr->processed, __ATOMIC_RELAXED) +
               __atomic_load_n(&thr->duplicates, __ATOMIC_RELAXED);
}
static void close_tasks(ks__thread_t *thr);
static ks_err_t on_assign(ks__thread_t *thr,
                          rd_kafka_topic_partition_list_t *parts,
                          ks_error_t **errp);

static ks_err_t init_transactions(ks__thread_t *thr, ks_error_t **errp) {
        rd_kafka_error_t *ke =
                rd_kafka_init_transactions(thr->producer, TXN_TIMEOUT_MS);
        if (!ke)
                return KS_ERR_NO_ERROR;
        ks_err_t err = ks__error_set(errp, KS_ERR_KAFKA,
                                     "initializing transactions: %s",
                                     rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return err;
}

/* Close every task without committing, then open them again from their
 * last committed offsets and state (the abort of a transaction). */
static ks_err_t revive_tasks(ks__thread_t *thr, ks_error_t **errp) {
        rd_kafka_topic_partition_list_t *a = NULL;
        rd_kafka_resp_err_t e = rd_kafka_assignment(thr->consumer, &a);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "assignment: %s",
                                     rd_kafka_err2str(e));
        close_tasks(thr);
        /* Assigning again drops what was fetched and starts every
         * partition from its committed offset. */
        rd_kafka_assign(thr->consumer, NULL);
        for (int i = 0; i < a->cnt; i++)
                a->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        ks_err_t err = a->cnt ? on_assign(thr, a, errp) : KS_ERR_NO_ERROR;
        rd_kafka_topic_partition_list_destroy(a);
        return err;
}

static int group_error(rd_kafka_resp_err_t e) {
        return e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
               e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID ||
               e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

/* Fatal producer errors that a new producer would meet again: the
 * configuration or the cluster's permissions have to change. */
static int txn_error_permanent(rd_kafka_resp_err_t e) {
        switch (e) {
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return 1;
        default:
                return 0;
        }
}

/* A transaction failed (@p what, error @p code, @p msg): abort it, or,
 * when the producer is in a fatal state, replace it; then get the tasks
 * back to their last commit: open them again, or, when the group moved
 * them elsewhere, leave them to the coming rebalance. While revoking, the
 * caller closes the tasks.
 *
 * A fatal state is what a zombie meets: a newer instance owns the
 * transactional id (fenced), or the coordinator timed the transaction out
 * and bumped the epoch while this thread was stalled, so that the abort
 * itself is refused (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH). The new
 * producer's init_transactions() aborts whatever the old one left open,
 * and no write of the void transaction reaches a store. Only errors a new
 * producer would meet again (permissions, versions, configuration) stop
 * the thread, as do ABORT_STREAK_MAX failures in a row. */
static ks_err_t txn_failed(ks__thread_t *thr, const char *what,
                           rd_kafka_resp_err_t code, int fatal, const char *msg,
                           int revoking, ks_error_t **errp) {
        __atomic_add_fetch(&thr->aborts, 1, __ATOMIC_RELAXED);
        char cause[512];
        snprintf(cause, sizeof(cause), "%s: %s", what, msg);
        if (!fatal && thr->in_txn) {
                rd_kafka_error_t *ke = rd_kafka_abort_transaction(
                        thr->producer, TXN_TIMEOUT_MS);
                if (ke) {
                        /* Aborting failed too: start afresh with a new
                         * producer, which aborts what this one left. */
                        fatal = 1;
                        snprintf(cause + strlen(cause),
                                 sizeof(cause) - strlen(cause),
                                 "; abort failed: %s",
                                 rd_kafka_error_string(ke));
                        rd_kafka_error_destroy(ke);
                }
        }
        thr->in_txn = 0;
        thr->txn_broken = 0;
        thr->txn_error[0] = '\0';
        if (fatal) {
                char fbuf[256] = "";
                rd_kafka_resp_err_t fe =
                        rd_kafka_fatal_error(thr->producer, fbuf, sizeof(fbuf));
                if (txn_error_permanent(fe ? fe : code))
                        return ks__error_set(errp, KS_ERR_KAFKA,
                                             "fatal transactional error "
                                             "(%s): %s",
                                             fbuf, cause);
                int fenced = fe == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                             fe == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
                             code == RD_KAFKA_RESP_ERR__FENCED ||
                             fe == RD_KAFKA_RESP_ERR__FENCED;
                ks__log(thr->app->conf, KS_LOG_WARNING, "EOS",
                        "%s: %s (%s%s%s): its transaction is void; closing "
                        "the tasks without committing and replacing the "
                        "producer",
                        thr->client_id,
                        fenced ? "producer fenced"
                               : "producer in a fatal state",
                        cause, *fbuf ? "; " : "", fbuf);
                rd_kafka_purge(thr->producer,
                               RD_KAFKA_PURGE_F_QUEUE |
                                       RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(thr->producer, 5000); /* serve the reports */
                close_tasks(thr);
                rd_kafka_destroy(thr->producer);
                thr->producer = make_producer(thr, errp);
                if (!thr->producer)
                        return ks_error_code(errp ? *errp : NULL)
                                       ? ks_error_code(*errp)
                                       : KS_ERR_KAFKA;
                ks_err_t err = init_transactions(thr, errp);
                if (err)
                        return err;
        } else {
                ks__log(thr->app->conf, KS_LOG_WARNING, "EOS",
                        "%s: transaction aborted (%s); the tasks go back to "
                        "their last commit",
                        thr->client_id, cause);
                /* Serve the reports of the aborted records before their
                 * tasks (which the reports point into) are freed. */
                rd_kafka_flush(thr->producer, FLUSH_TIMEOUT_MS);
        }
        if (++thr->abort_streak > ABORT_STREAK_MAX)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "%d transactions in a row failed; "
                                     "the last: %s",
                                     thr->abort_streak, cause);
        thr->processed_at_commit = progress(thr);
        thr->last_commit = ks__now_ms();
        if (revoking)
                return KS_ERR_NO_ERROR;
        if (group_error(code)) {
                /* The group has moved on: the rebalance ahead gives the
                 * tasks to their new owners (perhaps us again). */
                close_tasks(thr);
                set_thread_state(thr, KS_THREAD_STARTING);
                return KS_ERR_NO_ERROR;
        }
        return revive_tasks(thr, errp);
}

static ks_err_t txn_failed_ke(ks__thread_t *thr, const char *what,
                              rd_kafka_error_t *ke, int revoking,
                              ks_error_t **errp) {
        rd_kafka_resp_err_t code = rd_kafka_error_code(ke);
        int fatal = rd_kafka_error_is_fatal(ke);
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return txn_failed(thr, what, code, fatal, msg, revoking, errp);
}

/* Abort the open transaction, if any, before the tasks close (fatal
 * error, lost assignment). */
static void abort_open_txn(ks__thread_t *thr) {
        if (!thr->eos || !thr->in_txn)
                return;
        rd_kafka_error_t *ke =
                rd_kafka_abort_transaction(thr->producer, TXN_TIMEOUT_MS);
        if (ke)
                rd_kafka_error_destroy(ke);
        else
                __atomic_add_fetch(&thr->aborts, 1, __ATOMIC_RELAXED);
        rd_kafka_purge(thr->producer,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(thr->producer, 5000);
        thr->in_txn = 0;
        thr->txn_broken = 0;
}

/* Exactly-once commit: the output, the changelog records and the offsets
 * (with the changelog positions in their metadata) commit in one Kafka
 * transaction; only then are the stores' staged writes and checkpoints
 * written to RocksDB, in one atomic write each. A crash in between leaves
 * a checkpoint behind the committed changelog: the restore replays just
 * that transaction's changes. */
static ks_err_t commit_eos(ks__thread_t *thr, int revoking, ks_error_t **errp) {
        int64_t processed = progress(thr);
        thr->last_commit = ks__now_ms();
        if (!thr->in_txn && !thr->txn_broken &&
            processed == thr->processed_at_commit)
                return KS_ERR_NO_ERROR; /* nothing new */
        ks_err_t cerr = flush_caches(thr, errp);
        if (cerr)
                return cerr;
        rd_kafka_resp_err_t fe =
                rd_kafka_flush(thr->producer, FLUSH_TIMEOUT_MS);
        if (thr->txn_broken || fe)
                return txn_failed(
                        thr, "processing", fe ? fe : RD_KAFKA_RESP_ERR__STATE,
                        rd_kafka_fatal_error(thr->producer, NULL, 0) != 0,
                        fe ? rd_kafka_err2str(fe) : thr->txn_error, revoking,
                        errp);
        int state_changes = thr->changelog_sent != thr->changelog_at_commit;
        thr->changelog_at_commit = thr->changelog_sent;
        rd_kafka_error_t *ke = NULL;
        rd_kafka_topic_partition_list_t *l = commit_offsets(thr);
        if (!thr->in_txn && l->cnt) {
                if (!(ke = rd_kafka_begin_transaction(thr->producer)))
                        thr->in_txn = 1;
        }
        int64_t deadline = ks__now_ms() + TXN_TIMEOUT_MS;
        if (!ke && l->cnt) {
                rd_kafka_consumer_group_metadata_t *cg =
                        rd_kafka_consumer_group_metadata(thr->consumer);
                do {
                        if (ke)
                                rd_kafka_error_destroy(ke);
                        ke = rd_kafka_send_offsets_to_transaction(
                                thr->producer, l, cg, TXN_TIMEOUT_MS);
                } while (ke && rd_kafka_error_is_retriable(ke) &&
                         ks__now_ms() < deadline);
                rd_kafka_consumer_group_metadata_destroy(cg);
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (ke)
                return txn_failed_ke(thr, "sending the offsets", ke, revoking,
                                     errp);
        if (thr->in_txn) {
                crash_point(thr, CP_BEFORE_COMMIT, state_changes);
                do {
                        if (ke)
                                rd_kafka_error_destroy(ke);
                        ke = rd_kafka_commit_transaction(thr->producer,
                                                         TXN_TIMEOUT_MS);
                } while (ke && rd_kafka_error_is_retriable(ke) &&
                         ks__now_ms() < deadline);
                if (ke)
                        return txn_failed_ke(thr, "committing the transaction",
                                             ke, revoking, errp);
                thr->in_txn = 0;
                crash_point(thr, CP_AFTER_COMMIT, state_changes);
        }
        thr->abort_streak = 0;
        thr->processed_at_commit = processed;
        /* Committed in Kafka: a failure to write the stores now leaves them
         * behind their changelogs, which the next restore makes good. */
        ks_err_t err = commit_tasks(thr, errp);
        if (err)
                return err;
        crash_point(thr, CP_AFTER_STATE, state_changes);
        __atomic_add_fetch(&thr->commits, 1, __ATOMIC_RELAXED);
        return KS_ERR_NO_ERROR;
}

static ks_err_t commit_all(ks__thread_t *thr, ks_error_t **errp) {
        return thr->eos ? commit_eos(thr, 0, errp) : commit_alos(thr, errp);
}

/* Publish the dropped-records count: records skipped by the handlers in
 * every task, and sends skipped by the production handler. */
static void update_dropped(ks__thread_t *thr) {
        int64_t n = thr->dropped_closed +
                    __atomic_load_n(&thr->send_failures, __ATOMIC_RELAXED);
        for (size_t i = 0; i < thr->task_cnt; i++)
                n += (int64_t)ks__task_dropped_records(thr->tasks[i].task);
        __atomic_store_n(&thr->dropped, n, __ATOMIC_RELAXED);
}

static void close_tasks(ks__thread_t *thr) {
        for (size_t i = 0; i < thr->task_cnt; i++) {
                thr->dropped_closed +=
                        (int64_t)ks__task_dropped_records(thr->tasks[i].task);
                entry_free(&thr->tasks[i]);
        }
        thr->task_cnt = 0;
        thr->restore_gen++;
        if (thr->restore_assigned)
                rd_kafka_assign(thr->restore, NULL);
        thr->restore_assigned = 0;
}

static ks_err_t on_assign(ks__thread_t *thr,
                          rd_kafka_topic_partition_list_t *parts,
                          ks_error_t **errp) {
        ks_topology_t *topo = thr->app->topo;
        ks_err_t err = KS_ERR_NO_ERROR;
        for (int i = 0; !err && i < parts->cnt; i++) {
                const ks__node_t *src =
                        ks__topology_source_for(topo, parts->elems[i].topic);
                if (!src)
                        continue;
                if (!find_task(thr, src->subtopology,
                               parts->elems[i].partition))
                        err = open_task(thr, src->subtopology,
                                        parts->elems[i].partition, errp);
        }
        if (err)
                return err;
        /* The committed state of each task: changelog positions and
         * duplicate marks, from the offsets' metadata. */
        rd_kafka_topic_partition_list_t *committed =
                rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_resp_err_t e =
                rd_kafka_committed(thr->consumer, committed, 30000);
        if (e) {
                rd_kafka_topic_partition_list_destroy(committed);
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "reading committed offsets: %s",
                                     rd_kafka_err2str(e));
        }
        for (int i = 0; i < committed->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &committed->elems[i];
                const ks__node_t *src =
                        ks__topology_source_for(topo, tp->topic);
                task_entry_t *te =
                        src ? find_task(thr, src->subtopology, tp->partition)
                            : NULL;
                if (te && tp->metadata && tp->metadata_size)
                        parse_metadata(te, tp->metadata, tp->metadata_size);
                if (te && tp->offset >= 0)
                        te->committed = 1;
                pqueue_t *q = te ? find_queue(te, tp->topic) : NULL;
                if (q)
                        q->next = tp->offset >= 0 ? tp->offset
                                                  : RD_KAFKA_OFFSET_INVALID;
        }
        rd_kafka_topic_partition_list_destroy(committed);
        e = rd_kafka_assign(thr->consumer, parts);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "assign: %s",
                                     rd_kafka_err2str(e));
        int any_restoring = 0;
        for (size_t t = 0; !err && t < thr->task_cnt; t++) {
                task_entry_t *te = &thr->tasks[t];
                err = plan_restore(thr, te, errp);
                /* Only a restoring task's input waits (paused). */
                for (size_t i = 0; !err && te->restoring && i < te->queue_cnt;
                     i++)
                        pause_resume(thr, te, &te->queues[i], 1);
                if (!err && !te->restoring)
                        err = start_task(thr, te, errp);
                any_restoring |= te->restoring > 0;
        }
        if (!err)
                err = restore_assign(thr, errp);
        if (!err)
                set_thread_state(thr, any_restoring ? KS_THREAD_ASSIGNED
                                                    : KS_THREAD_RUNNING);
        return err;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        ks__thread_t *thr = opaque;
        ks_error_t *e = NULL;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                ks__log(thr->app->conf, KS_LOG_INFO, "REBALANCE",
                        "%s: assigned %d partitions", thr->client_id,
                        parts->cnt);
                if (on_assign(thr, parts, &e))
                        fail(thr, e);
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                ks__log(thr->app->conf, KS_LOG_INFO, "REBALANCE",
                        "%s: revoked %d partitions", thr->client_id,
                        parts->cnt);
                set_thread_state(thr, KS_THREAD_STARTING);
                if (thr->eos && rd_kafka_assignment_lost(rk)) {
                        /* Others own the tasks already: commit nothing. */
                        abort_open_txn(thr);
                } else if (!thr->fatal && !thr->closing &&
                           (thr->eos ? commit_eos(thr, 1, &e)
                                     : commit_alos(thr, &e))) {
                        fail(thr, e);
                }
                close_tasks(thr);
                rd_kafka_assign(rk, NULL);
                return;
        }
        ks__log(thr->app->conf, KS_LOG_WARNING, "REBALANCE", "%s: %s",
                thr->client_id, rd_kafka_err2str(err));
        abort_open_txn(thr);
        close_tasks(thr);
        rd_kafka_assign(rk, NULL);
}

/* --- processing --------------------------------------------------------- */

static ks_err_t enqueue(ks__thread_t *thr, rd_kafka_message_t *m) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        const ks__node_t *src = ks__topology_source_for(thr->app->topo, topic);
        task_entry_t *te =
                src ? find_task(thr, src->subtopology, m->partition) : NULL;
        pqueue_t *q = te ? find_queue(te, topic) : NULL;
        if (!q) {
                rd_kafka_message_destroy(m); /* no longer ours */
                return KS_ERR_NO_ERROR;
        }
        if (q->cnt == q->cap) {
                size_t nc = q->cap ? q->cap * 2 : 64;
                rd_kafka_message_t **nr = malloc(nc * sizeof(*nr));
                if (!nr) {
                        rd_kafka_message_destroy(m);
                        return KS_ERR_NO_MEMORY;
                }
                for (size_t i = 0; i < q->cnt; i++)
                        nr[i] = q->ring[(q->head + i) % q->cap];
                free(q->ring);
                q->ring = nr;
                q->cap = nc;
                q->head = 0;
        }
        q->ring[(q->head + q->cnt++) % q->cap] = m;
        q->next = m->offset + 1;
        q->at_end = 0;
        return KS_ERR_NO_ERROR;
}

/* The consumer reached the end of a partition: its task need not wait
 * for it (max.task.idle.ms). */
static void mark_end(ks__thread_t *thr, const rd_kafka_message_t *m) {
        if (!m->rkt)
                return;
        const char *topic = rd_kafka_topic_name(m->rkt);
        const ks__node_t *src = ks__topology_source_for(thr->app->topo, topic);
        task_entry_t *te =
                src ? find_task(thr, src->subtopology, m->partition) : NULL;
        pqueue_t *q = te ? find_queue(te, topic) : NULL;
        if (q)
                q->at_end = 1; /* what came before is queued already */
}

/* 1 while the thread may take more records from its consumer: the queues
 * of the running tasks hold fewer than buffered.records.per.partition per
 * partition in all. Backpressure stops the taking rather than pausing
 * partitions: librdkafka throws away what it prefetched for a partition
 * when it resumes, and fetches it again. */
static int has_room(const ks__thread_t *thr) {
        int64_t queued = 0, queues = 0;
        for (size_t t = 0; t < thr->task_cnt; t++) {
                const task_entry_t *te = &thr->tasks[t];
                if (te->restoring)
                        continue;
                for (size_t i = 0; i < te->queue_cnt; i++)
                        queued += (int64_t)te->queues[i].cnt;
                queues += (int64_t)te->queue_cnt;
        }
        return thr->blocked ||
               queued < thr->buffered_max * (queues ? queues : 1);
}

static ks_headers_t *headers_of(const rd_kafka_message_t *m) {
        rd_kafka_headers_t *rh = NULL;
        if (rd_kafka_message_headers(m, &rh) || !rh)
                return NULL;
        /* Most records carry none but the origin: no allocation then. */
        size_t hc = rd_kafka_header_cnt(rh);
        const void *ov;
        size_t ol;
        if (!hc ||
            (hc == 1 && !rd_kafka_header_get_last(rh, ORIGIN_HEADER, &ov, &ol)))
                return NULL;
        ks_headers_t *h = ks_headers_new();
        const char *name;
        const void *v;
        size_t vl;
        for (size_t i = 0; h && !rd_kafka_header_get_all(rh, i, &name, &v, &vl);
             i++)
                if (strcmp(name, ORIGIN_HEADER))
                        ks_headers_add(h, name, v, v ? vl : 0);
        if (h && !ks_headers_count(h)) {
                ks_headers_destroy(h);
                h = NULL;
        }
        return h;
}

static hwm_t *hwm_find(task_entry_t *te, int32_t ti, int32_t p, int add) {
        for (size_t i = 0; i < te->hwm_cnt; i++)
                if (te->hwms[i].topic_index == ti && te->hwms[i].partition == p)
                        return &te->hwms[i];
        if (!add)
                return NULL;
        hwm_t *nv = realloc(te->hwms, (te->hwm_cnt + 1) * sizeof(*nv));
        if (!nv)
                return NULL;
        te->hwms = nv;
        nv[te->hwm_cnt] = (hwm_t){ti, p, -1, -1};
        return &nv[te->hwm_cnt++];
}

/* 1 if @p m is a replayed duplicate of a record already processed (its
 * origin is at or below the high-water mark); otherwise 0, and the mark
 * moves to it. */
static int is_duplicate(task_entry_t *te, const rd_kafka_message_t *m) {
        rd_kafka_headers_t *rh = NULL;
        const void *v;
        size_t vl;
        if (rd_kafka_message_headers(m, &rh) || !rh ||
            rd_kafka_header_get_last(rh, ORIGIN_HEADER, &v, &vl) ||
            vl != ORIGIN_LEN)
                return 0;
        const uint8_t *o = v;
        int32_t ti = (int32_t)ks__be32_get(o);
        int32_t p = (int32_t)ks__be32_get(o + 4);
        int64_t off = (int64_t)ks__be64_get(o + 8);
        int32_t seq = (int32_t)ks__be32_get(o + 16);
        hwm_t *h = hwm_find(te, ti, p, 1);
        if (!h)
                return 0;
        if (off < h->offset || (off == h->offset && seq <= h->seq))
                return 1;
        h->offset = off;
        h->seq = seq;
        return 0;
}

/* Process one record of @p te: the queued head with the smallest
 * timestamp. 0 if the task had none. */
static int process_one(ks__thread_t *thr, task_entry_t *te, ks_err_t *errp,
                       ks_error_t **ep) {
        /* As Kafka Streams' max.task.idle.ms: a task reading several
         * partitions takes the next record by timestamp only once each
         * partition has a record queued or is at its end, so that (say) a
         * table's rows are in before the stream records joining them.
         * It waits max.task.idle.ms at most (0: until the ends are known,
         * within IDLE_FALLBACK_MS; -1: never). */
        if (thr->idle_ms >= 0 && te->queue_cnt > 1) {
                int any = 0, missing = 0;
                for (size_t i = 0; i < te->queue_cnt; i++) {
                        any |= te->queues[i].cnt > 0;
                        missing |= !te->queues[i].cnt && !te->queues[i].at_end;
                }
                if (any && missing) {
                        int64_t now = ks__now_ms();
                        int64_t limit = thr->idle_ms > 0 ? thr->idle_ms
                                                         : IDLE_FALLBACK_MS;
                        if (!te->blocked_since)
                                te->blocked_since = now;
                        if (now - te->blocked_since < limit) {
                                thr->blocked = 1;
                                return 0;
                        }
                        /* Waited long enough: go on until the partition
                         * shows up. */
                } else {
                        te->blocked_since = 0;
                }
        }
        pqueue_t *best = NULL;
        int64_t best_ts = 0;
        for (size_t i = 0; i < te->queue_cnt; i++) {
                pqueue_t *q = &te->queues[i];
                if (!q->cnt)
                        continue;
                rd_kafka_message_t *h = q->ring[q->head];
                int64_t ts = rd_kafka_message_timestamp(h, NULL);
                if (!best || ts < best_ts) {
                        best = q;
                        best_ts = ts;
                }
        }
        if (!best)
                return 0;
        rd_kafka_message_t *m = best->ring[best->head];
        best->head = (best->head + 1) % best->cap;
        best->cnt--;
        if (is_duplicate(te, m)) {
                ks__task_skip(te->task, best->topic, m->offset);
                __atomic_add_fetch(&thr->duplicates, 1, __ATOMIC_RELAXED);
                rd_kafka_message_destroy(m);
                return 1;
        }
        ks_headers_t *h = headers_of(m);
        *errp = ks__task_process(te->task, best->topic, m->partition, m->offset,
                                 m->key, m->key_len, m->payload, m->len,
                                 rd_kafka_message_timestamp(m, NULL), h, ep);
        ks_headers_destroy(h);
        rd_kafka_message_destroy(m);
        __atomic_add_fetch(&thr->processed, 1, __ATOMIC_RELAXED);
        return 1;
}

static ks_err_t process_step(ks__thread_t *thr, int *did, ks_error_t **ep) {
        int n = 0, progress = 1;
        thr->blocked = 0;
        ks_err_t err = KS_ERR_NO_ERROR;
        while (progress && n < PROCESS_STEP && !err) {
                progress = 0;
                for (size_t i = 0; i < thr->task_cnt && !err; i++) {
                        task_entry_t *te = &thr->tasks[i];
                        if (te->restoring)
                                continue;
                        if (process_one(thr, te, &err, ep)) {
                                progress = 1;
                                n++;
                        }
                }
        }
        *did = n;
        return err;
}

/* --- the thread --------------------------------------------------------- */

static int commit_requested(ks__thread_t *thr) {
        for (size_t i = 0; i < thr->task_cnt; i++)
                if (!thr->tasks[i].restoring &&
                    ks__task_commit_requested(thr->tasks[i].task))
                        return 1;
        return 0;
}

static void *thread_main(void *arg) {
        ks__thread_t *thr = arg;
        ks_app_t *app = thr->app;
        ks_error_t *e = NULL;
        ks_err_t err = KS_ERR_NO_ERROR;
        thr->last_commit = ks__now_ms();
        if (thr->eos && init_transactions(thr, &e)) {
                fail(thr, e);
                e = NULL;
        }
        int busy = 0;
        while (!__atomic_load_n(&app->stopping, __ATOMIC_SEQ_CST) &&
               !thr->fatal && !err) {
                int timeout =
                        busy || thr->restore_assigned ? 0 : (int)thr->poll_ms;
                /* Full queues: process before taking more (the consumer
                 * is polled again within PROCESS_STEP records). */
                rd_kafka_message_t *m =
                        has_room(thr)
                                ? rd_kafka_consumer_poll(thr->consumer, timeout)
                                : NULL;
                for (int k = 0; m && k < 500 && !err; k++) {
                        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                mark_end(thr, m);
                        if (m->err) {
                                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                        ks__log(app->conf, KS_LOG_WARNING,
                                                "CONSUMER", "%s: %s",
                                                thr->client_id,
                                                rd_kafka_message_errstr(m));
                                if (m->err ==
                                    RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
                                        failf(thr, KS_ERR_TOPOLOGY,
                                              "source topic %s: %s",
                                              m->rkt ? rd_kafka_topic_name(
                                                               m->rkt)
                                                     : "?",
                                              rd_kafka_message_errstr(m));
                                }
                                rd_kafka_message_destroy(m);
                        } else {
                                err = enqueue(thr, m);
                        }
                        m = k + 1 < 500
                                    ? rd_kafka_consumer_poll(thr->consumer, 0)
                                    : NULL;
                }
                if (m)
                        rd_kafka_message_destroy(m);
                if (thr->fatal || err)
                        break;
                if (thr->restore_assigned)
                        err = restore_step(thr, &e);
                int did = 0;
                if (!err)
                        err = process_step(thr, &did, &e);
                busy = did > 0;
                int64_t now = ks__wallclock_ms();
                for (size_t i = 0; !err && i < thr->task_cnt; i++)
                        if (!thr->tasks[i].restoring)
                                err = ks__task_punctuate_wall_clock(
                                        thr->tasks[i].task, now, &e);
                rd_kafka_poll(thr->producer, 0);
                update_dropped(thr);
                if (!err && thr->task_cnt &&
                    (ks__now_ms() - thr->last_commit >= thr->commit_interval ||
                     thr->txn_broken || commit_requested(thr)))
                        err = commit_all(thr, &e);
                if (!err && thr->task_cnt && !thr->restore_assigned)
                        set_thread_state(thr, KS_THREAD_RUNNING);
        }
        if (err && !thr->fatal)
                fail(thr, e ? e
                            : ks__error_new(err, KS_ERROR_F_FATAL,
                                            "stream thread failed"));
        else
                ks_error_destroy(e);
        set_thread_state(thr, KS_THREAD_STOPPING);
        if (thr->fatal) {
                /* Raise the error now; leave without committing. */
                ks_error_t *f = thr->fatal;
                thr->fatal = NULL;
                ks__app_fail(app,
                             ks__error_new(ks_error_code(f), KS_ERROR_F_FATAL,
                                           "%s: %s", thr->client_id,
                                           ks_error_message(f)));
                ks_error_destroy(f);
                abort_open_txn(thr);
                rd_kafka_flush(thr->producer, 5000);
                close_tasks(thr);
                rd_kafka_consumer_close(thr->consumer);
        } else {
                /* Commit while the group is stable, and leave only when
                 * every thread of the app has: a member leaving starts a
                 * rebalance that would refuse the others' commits. */
                if (thr->task_cnt && commit_all(thr, &e)) {
                        fail(thr, e);
                        e = NULL;
                }
                thr->closing = 1;
                ks__app_thread_committed(app);
                rd_kafka_consumer_close(thr->consumer);
                if (thr->fatal) {
                        ks__app_fail(app, thr->fatal);
                        thr->fatal = NULL;
                }
                close_tasks(thr);
        }
        rd_kafka_flush(thr->producer, 5000);
        update_dropped(thr);
        set_thread_state(thr, KS_THREAD_DEAD);
        return NULL;
}

static rd_kafka_t *make_client(ks__thread_t *thr, rd_kafka_type_t type,
                               const char *suffix, const char *const *prefixes,
                               const char *const *settings, ks_error_t **errp) {
        ks_app_t *app = thr->app;
        char buf[512], cid[300];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        snprintf(cid, sizeof(cid), "%s-%s", thr->client_id, suffix);
        const char *base[] = {"bootstrap.servers",
                              ks_config_get(app->conf, "bootstrap.servers"),
                              "client.id", cid, NULL};
        for (int pass = 0; pass < 2; pass++) {
                const char *const *kv = pass ? settings : base;
                for (size_t i = 0; kv && kv[i]; i += 2)
                        if (rd_kafka_conf_set(c, kv[i], kv[i + 1], buf,
                                              sizeof(buf))) {
                                rd_kafka_conf_destroy(c);
                                ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                              "%s: %s", kv[i], buf);
                                return NULL;
                        }
        }
        for (size_t i = 0; prefixes && prefixes[i]; i++)
                if (ks__rdkafka_conf_apply(app->conf, prefixes[i], c, errp)) {
                        rd_kafka_conf_destroy(c);
                        return NULL;
                }
        rd_kafka_conf_set_opaque(c, thr);
        if (type == RD_KAFKA_PRODUCER)
                rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        else if (!strcmp(suffix, "consumer"))
                rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
        rd_kafka_t *rk = rd_kafka_new(type, c, buf, sizeof(buf));
        if (!rk) {
                rd_kafka_conf_destroy(c);
                ks__error_set(errp, KS_ERR_KAFKA, "cannot create the %s: %s",
                              suffix, buf);
        }
        return rk;
}

/* The record collector's producer. Idempotence keeps each partition in
 * send order across retries: changelogs replay in that order, and the
 * duplicate marks of through topics (ORIGIN_HEADER) rely on it. Delivery
 * reports of successful sends only matter for changelog records (their
 * offsets are the checkpoints): without changelogs, librdkafka reports
 * failures alone and frees the rest itself. Under exactly_once_v2 it is
 * transactional, with an id stable across restarts of the instance:
 * <application.id>-<instance>-<thread>, which fences the transactions an
 * earlier run of the same thread left open. */
static rd_kafka_t *make_producer(ks__thread_t *thr, ks_error_t **errp) {
        ks_app_t *app = thr->app;
        char txn_id[400];
        snprintf(txn_id, sizeof(txn_id), "%s-%s-%d", app->app_id,
                 app->process_id, thr->index + 1);
        const char *kv[16];
        size_t n = 0;
        kv[n++] = "partitioner";
        kv[n++] = "murmur2_random";
        kv[n++] = "enable.idempotence";
        kv[n++] = "true";
        if (!ks_topology_internal_topic_count(app->topo) && !thr->eos) {
                kv[n++] = "delivery.report.only.error";
                kv[n++] = "true";
        }
        if (thr->eos) {
                kv[n++] = "transactional.id";
                kv[n++] = txn_id;
                /* Kafka Streams' default: a dead instance's open
                 * transaction blocks read_committed readers that long. */
                kv[n++] = "transaction.timeout.ms";
                kv[n++] = "10000";
        }
        kv[n] = NULL;
        const char *prefixes[] = {"producer.", NULL};
        return make_client(thr, RD_KAFKA_PRODUCER, "producer", prefixes, kv,
                           errp);
}

static void thread_free(ks__thread_t *thr) {
        close_tasks(thr);
        free(thr->tasks);
        if (thr->restore_q)
                rd_kafka_queue_destroy(thr->restore_q);
        if (thr->restore) {
                rd_kafka_consumer_close(thr->restore);
                rd_kafka_destroy(thr->restore);
        }
        if (thr->consumer)
                rd_kafka_destroy(thr->consumer);
        if (thr->producer)
                rd_kafka_destroy(thr->producer);
        for (size_t i = 0; i < thr->pcount_cnt; i++)
                free(thr->pcounts[i].topic);
        free(thr->pcounts);
        ks_error_destroy(thr->send_error);
        ks_error_destroy(thr->fatal);
        free(thr);
}

ks_err_t ks__thread_start(ks_app_t *app, int index, ks__thread_t **thrp,
                          ks_error_t **errp) {
        ks__thread_t *thr = calloc(1, sizeof(*thr));
        if (!thr)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        thr->app = app;
        thr->index = index;
        const char *cid = ks_config_get(app->conf, "client.id");
        snprintf(thr->client_id, sizeof(thr->client_id), "%s-StreamThread-%d",
                 cid && *cid ? cid : app->app_id, index + 1);
        thr->commit_interval = ks__config_commit_interval_ms(app->conf);
        thr->buffered_max =
                ks__config_int(app->conf, "buffered.records.per.partition");
        thr->poll_ms = ks__config_int(app->conf, "poll.ms");
        thr->idle_ms = ks__config_int(app->conf, "max.task.idle.ms");
        thr->prod_continue = ks__config_enum(
                app->conf, "default.production.exception.handler");
        thr->eos = ks__config_enum(app->conf, "processing.guarantee") ==
                   KS_GUARANTEE_EXACTLY_ONCE_V2;
        if (thr->eos)
                parse_crash_point(thr);
        /* Static membership: a stable id per instance and thread. */
        const char *iid = ks_config_get(app->conf, "instance.id");
        char static_id[300] = "";
        const char *isolation =
                thr->eos ? "read_committed" : "read_uncommitted";
        if (iid && *iid)
                snprintf(static_id, sizeof(static_id), "%s-%d", iid, index + 1);
        const char *consumer_kv[] = {"group.id",
                                     app->app_id,
                                     "partition.assignment.strategy",
                                     "range",
                                     "enable.auto.commit",
                                     "false",
                                     "enable.auto.offset.store",
                                     "false",
                                     "auto.offset.reset",
                                     "earliest",
                                     "queued.min.messages",
                                     QUEUED_MIN_MESSAGES,
                                     "isolation.level",
                                     isolation,
                                     *static_id ? "group.instance.id" : NULL,
                                     static_id,
                                     NULL};
        const char *consumer_prefixes[] = {"consumer.", "main.consumer.", NULL};
        /* librdkafka's assign() needs a group id; this consumer never
         * subscribes or commits, so it never joins that group. */
        char restore_group[300];
        snprintf(restore_group, sizeof(restore_group), "%s-restore",
                 app->app_id);
        const char *restore_kv[] = {
                "group.id", restore_group, "enable.auto.commit", "false",
                "enable.partition.eof", "true", "auto.offset.reset", "earliest",
                /* A restore is a burst: twice the prefetch. */
                "queued.min.messages", "1000000", "isolation.level", isolation,
                NULL};
        const char *restore_prefixes[] = {"consumer.", "restore.consumer.",
                                          NULL};
        if (!(thr->producer = make_producer(thr, errp)) ||
            !(thr->restore =
                      make_client(thr, RD_KAFKA_CONSUMER, "restore-consumer",
                                  restore_prefixes, restore_kv, errp)) ||
            !(thr->consumer =
                      make_client(thr, RD_KAFKA_CONSUMER, "consumer",
                                  consumer_prefixes, consumer_kv, errp))) {
                thread_free(thr);
                return ks_error_code(errp ? *errp : NULL) ? ks_error_code(*errp)
                                                          : KS_ERR_KAFKA;
        }
        thr->env = (ks__task_env_t){
                .conf = app->conf,
                .rocks = app->rocks,
                .state_dir = app->state_dir,
                .collector = {coll_send, coll_partition_count, coll_flush, thr,
                              coll_send_changelog},
                .cache = &thr->cache,
                .globals = ks__globals_stores(app->globals),
        };
        /* The threads share statestore.cache.max.bytes evenly. */
        thr->cache.max =
                ks__config_int(app->conf, "statestore.cache.max.bytes") /
                (ks__config_int(app->conf, "num.stream.threads") > 0
                         ? ks__config_int(app->conf, "num.stream.threads")
                         : 1);
        /* Subscribe to every source topic. */
        ks_topology_t *topo = app->topo;
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(4);
        for (size_t i = 0; i < topo->node_cnt; i++)
                for (size_t j = 0; topo->nodes[i]->kind == KS_NODE_SOURCE &&
                                   j < topo->nodes[i]->topic_cnt;
                     j++)
                        rd_kafka_topic_partition_list_add(
                                l, topo->nodes[i]->topics[j],
                                RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(thr->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
                thread_free(thr);
                return ks__error_set(errp, KS_ERR_KAFKA, "subscribe: %s",
                                     rd_kafka_err2str(e));
        }
        thr->state = KS_THREAD_STARTING;
        if (pthread_create(&thr->tid, NULL, thread_main, thr)) {
                thread_free(thr);
                return ks__error_set(errp, KS_ERR_FATAL,
                                     "cannot start a stream thread");
        }
        *thrp = thr;
        return KS_ERR_NO_ERROR;
}

void ks__thread_join(ks__thread_t *thr) {
        if (!thr)
                return;
        pthread_join(thr->tid, NULL);
        thread_free(thr);
}

int64_t ks__thread_metric(const ks__thread_t *thr, const char *name) {
        static const char *const names[] = {"process-total",
                                            "dropped-records",
                                            "restored-records",
                                            "commit-total",
                                            "tasks",
                                            "duplicates-skipped",
                                            "transactions-aborted",
                                            NULL};
        int known = 0;
        for (size_t i = 0; names[i]; i++)
                known |= !strcmp(names[i], name);
        if (!known)
                return -1;
        if (!thr)
                return 0;
        ks__thread_t *t = (ks__thread_t *)thr;
        if (!strcmp(name, "process-total"))
                return __atomic_load_n(&t->processed, __ATOMIC_RELAXED);
        if (!strcmp(name, "restored-records"))
                return __atomic_load_n(&t->restored, __ATOMIC_RELAXED);
        if (!strcmp(name, "duplicates-skipped"))
                return __atomic_load_n(&t->duplicates, __ATOMIC_RELAXED);
        if (!strcmp(name, "transactions-aborted"))
                return __atomic_load_n(&t->aborts, __ATOMIC_RELAXED);
        if (!strcmp(name, "commit-total"))
                return __atomic_load_n(&t->commits, __ATOMIC_RELAXED);
        if (!strcmp(name, "dropped-records"))
                return __atomic_load_n(&t->dropped, __ATOMIC_RELAXED);
        return (int64_t)__atomic_load_n(&t->task_cnt, __ATOMIC_RELAXED);
}
