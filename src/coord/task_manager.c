/* A stream thread's tasks (see task_manager_int.h).
 *
 * Entries live on the heap and never move while their task is open, so
 * the changelog reader may point at their restoring slots. */
#include "task_manager_impl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "commit_meta_int.h"

#define INIT_CALL_MS 5000 /* each cluster call of an initialization */

static void publish_count(ks__tmgr_t *m) {
        __atomic_store_n(&m->tasks_pub, (int64_t)m->cnt, __ATOMIC_RELAXED);
}

static ks_err_t restore_done(void *opaque, ks__restoring_t *r,
                             ks_error_t **errp);
static void restore_event(void *opaque, ks__restoring_t *r,
                          ks_restore_phase_t phase);

ks__tmgr_t *ks__tmgr_new(const ks__tmgr_env_t *env) {
        ks__tmgr_t *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->env = *env;
        ks__creader_listener_t l = {m, restore_done, restore_event};
        if (!(m->reader = ks__creader_new(env->restore, env->conf, &l))) {
                free(m);
                return NULL;
        }
        m->idle_ms = ks__config_int(env->conf, "max.task.idle.ms");
        m->buffered_max =
                ks__config_int(env->conf, "buffered.records.per.partition");
        m->task_timeout = ks__config_int(env->conf, "task.timeout.ms");
        return m;
}

/* --- opening and closing -------------------------------------------------- */

static void msg_destroy(void *msg) {
        rd_kafka_message_destroy(msg);
}

static void entry_free(ks__tmgr_t *m, entry_t *te) {
        if (!te)
                return;
        /* Queries let go of the database before it closes. */
        ks__qreg_remove(te->query);
        if (te->task) {
                ks__creader_remove_task(m->reader, te->task);
                m->dropped_closed +=
                        (int64_t)ks__task_dropped_records(te->task);
                m->late_closed += (int64_t)ks__task_dropped_late(te->task);
                m->dup_closed += (int64_t)ks__task_dropped_duplicate(te->task);
                m->deser_closed +=
                        (int64_t)ks__task_dropped_deserialization(te->task);
                m->proc_closed +=
                        (int64_t)ks__task_dropped_processing(te->task);
                m->dlq_closed += (int64_t)ks__task_dlq_records(te->task);
                m->enforced_closed += te->pg.enforced;
        }
        ks__pgroup_clear(&te->pg);
        for (size_t i = 0; te->rs && i < te->store_cnt; i++)
                ks__restoring_clear(&te->rs[i]);
        free(te->rs);
        free(te->committed);
        ks__marks_destroy(te->marks);
        ks__task_destroy(te->task);
        free(te);
}

static entry_t *find_task(ks__tmgr_t *m, int sub, int32_t p) {
        for (size_t i = 0; i < m->cnt; i++)
                if (m->tasks[i]->sub == sub && m->tasks[i]->partition == p)
                        return m->tasks[i];
        return NULL;
}

ks__rqueue_t *ks__tmgr_find_queue(ks__tmgr_t *m, const char *topic, int32_t p,
                                  entry_t **tep) {
        const ks__node_t *src = ks__topology_source_for(m->env.topo, topic);
        entry_t *te = src ? find_task(m, src->subtopology, p) : NULL;
        *tep = te;
        return te ? ks__pgroup_find(&te->pg, topic) : NULL;
}

static ks_err_t open_task(ks__tmgr_t *m, int sub, int32_t partition,
                          ks_error_t **errp) {
        if (m->cnt == m->cap) {
                size_t nc = m->cap ? m->cap * 2 : 8;
                entry_t **nv = realloc(m->tasks, nc * sizeof(*nv));
                if (!nv)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                m->tasks = nv;
                m->cap = nc;
        }
        entry_t *te = calloc(1, sizeof(*te));
        if (!te)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        te->sub = sub;
        te->partition = partition;
        ks_err_t err = ks__task_new(m->env.topo, sub, partition,
                                    &m->env.task_env, &te->task, errp);
        if (err) {
                free(te);
                return err;
        }
        const ks__subtopology_t *s = ks__task_subtopology(te->task);
        size_t qc = 0;
        for (size_t i = 0; i < s->node_cnt; i++)
                if (s->nodes[i]->kind == KS_NODE_SOURCE)
                        qc += s->nodes[i]->topic_cnt;
        te->store_cnt = ks__task_store_count(te->task);
        te->rs = calloc(te->store_cnt + 1, sizeof(*te->rs));
        te->committed = malloc((te->store_cnt + 1) * sizeof(*te->committed));
        if (!te->rs || !te->committed ||
            ks__pgroup_init(&te->pg, qc, msg_destroy)) {
                entry_free(m, te);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < s->node_cnt; i++)
                for (size_t j = 0; s->nodes[i]->kind == KS_NODE_SOURCE &&
                                   j < s->nodes[i]->topic_cnt;
                     j++) {
                        const char *t = s->nodes[i]->topics[j];
                        ks__rqueue_t *q = &te->pg.queues[k++];
                        q->topic = t;
                        q->topic_index =
                                ks__topology_topic_index(m->env.topo, t);
                        q->through = ks__topology_is_through(m->env.topo, t);
                }
        m->tasks[m->cnt++] = te;
        publish_count(m);
        te->query = ks__qreg_add(m->env.queries, sub, partition,
                                 ks__task_db(te->task));
        return KS_ERR_NO_ERROR;
}

void ks__tmgr_publish_committed(ks__tmgr_t *m) {
        for (size_t i = 0; i < m->cnt; i++)
                if (m->tasks[i]->state == TE_RUNNING)
                        ks__qreg_committed(m->tasks[i]->query);
}

void ks__tmgr_close_all(ks__tmgr_t *m) {
        for (size_t i = 0; i < m->cnt; i++)
                entry_free(m, m->tasks[i]);
        m->cnt = 0;
        m->init_failing = 0;
        publish_count(m);
}

void ks__tmgr_destroy(ks__tmgr_t *m) {
        if (!m)
                return;
        ks__tmgr_close_all(m);
        ks__creader_destroy(m->reader);
        free(m->tasks);
        free(m);
}

/* Pause or resume the partition of @p q. A partition paused before its
 * task runs is resumed with a seek to the next offset the task needs:
 * librdkafka resumes from the last record it handed out, records handed
 * out meanwhile were dropped, and when it handed out none it may resume
 * past records fetched and thrown away by the pause. A running task's
 * partition paused for being full keeps what is handed out (see
 * ks__tmgr_enqueue) and resumes without a seek. */
void ks__tmgr_pause_resume(ks__tmgr_t *m, entry_t *te, ks__rqueue_t *q,
                           int pause) {
        if (!pause && !q->paused)
                return;
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_add(l, q->topic, te->partition);
        if (pause) {
                rd_kafka_pause_partitions(m->env.consumer, l);
                if (te->state != TE_RUNNING)
                        q->refetch = 1;
        } else if (!q->refetch) {
                /* Paused for being full: everything handed out is queued,
                 * and librdkafka goes on after it. */
                rd_kafka_resume_partitions(m->env.consumer, l);
        } else {
                q->refetch = 0;
                rd_kafka_resume_partitions(m->env.consumer, l);
                tp->offset = q->next >= 0 ? q->next : RD_KAFKA_OFFSET_BEGINNING;
                rd_kafka_error_t *ke =
                        rd_kafka_seek_partitions(m->env.consumer, l, 10000);
                if (ke || tp->err) {
                        /* Not positioned: paused again (what it hands out
                         * meanwhile is dropped) and tried again from the
                         * processing loop (ks__tmgr_reseek). */
                        if (!q->seek_failed++)
                                ks__log(m->env.conf, KS_LOG_WARNING, "CONSUMER",
                                        "%s: cannot seek %s [%" PRId32
                                        "] to %" PRId64 ": %s (trying again)",
                                        m->env.client_id, q->topic,
                                        tp->partition, tp->offset,
                                        ke ? rd_kafka_error_string(ke)
                                           : rd_kafka_err2str(tp->err));
                        rd_kafka_pause_partitions(m->env.consumer, l);
                        q->refetch = 1;
                        m->reseek = 1;
                        pause = 1;
                } else {
                        q->seek_failed = 0;
                }
                if (ke)
                        rd_kafka_error_destroy(ke);
        }
        rd_kafka_topic_partition_list_destroy(l);
        q->paused = pause;
}

void ks__tmgr_reseek(ks__tmgr_t *m) {
        if (!m->reseek)
                return;
        m->reseek = 0;
        for (size_t t = 0; t < m->cnt; t++) {
                entry_t *te = m->tasks[t];
                for (size_t i = 0; te->state == TE_RUNNING && i < te->pg.cnt;
                     i++)
                        if (te->pg.queues[i].paused && te->pg.queues[i].refetch)
                                ks__tmgr_pause_resume(m, te, &te->pg.queues[i],
                                                      0);
        }
}

ks_err_t ks__tmgr_assign(ks__tmgr_t *m, rd_kafka_topic_partition_list_t *parts,
                         ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (int i = 0; !err && i < parts->cnt; i++) {
                const ks__node_t *src = ks__topology_source_for(
                        m->env.topo, parts->elems[i].topic);
                if (src &&
                    !find_task(m, src->subtopology, parts->elems[i].partition))
                        err = open_task(m, src->subtopology,
                                        parts->elems[i].partition, errp);
        }
        if (err)
                return err;
        rd_kafka_resp_err_t e = rd_kafka_assign(m->env.consumer, parts);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "assign: %s",
                                     rd_kafka_err2str(e));
        /* Nothing is processed before the committed offsets are known. */
        for (size_t t = 0; t < m->cnt; t++)
                for (size_t i = 0; m->tasks[t]->state == TE_CREATED &&
                                   i < m->tasks[t]->pg.cnt;
                     i++)
                        ks__tmgr_pause_resume(m, m->tasks[t],
                                              &m->tasks[t]->pg.queues[i], 1);
        return KS_ERR_NO_ERROR;
}

/* --- initialization ---------------------------------------------------------
 */

static void restore_event(void *opaque, ks__restoring_t *r,
                          ks_restore_phase_t phase) {
        ks__tmgr_t *m = opaque;
        if (phase != KS_RESTORE_PROGRESS)
                ks__log(m->env.conf, KS_LOG_INFO, "RESTORE",
                        "task %s store %s: %s (offsets %" PRId64 " .. %" PRId64
                        ", %" PRId64 " restored)",
                        ks__task_id(r->task),
                        ks__task_store_name(r->task, r->store),
                        phase == KS_RESTORE_START ? "restoring" : "restored",
                        r->start, r->end, r->restored);
        if (m->env.restore_cb)
                m->env.restore_cb(m->env.restore_opaque, phase,
                                  ks__task_store_name(r->task, r->store),
                                  r->topic, r->partition, r->start, r->end,
                                  r->restored);
}

/* Load the task's duplicate marks from its marks store. */
static ks_err_t load_marks(ks__tmgr_t *m, entry_t *te, ks_error_t **errp) {
        const char *name = ks__topology_marks_store(m->env.topo, te->sub);
        if (!name)
                return KS_ERR_NO_ERROR;
        te->marks_store = ks__task_store(te->task, name);
        if (!te->marks_store || !(te->marks = ks__marks_new(m->env.scope.tag)))
                return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                     "task %s: no duplicate marks",
                                     ks__task_id(te->task));
        ks_kv_iter_t *it = NULL;
        ks_err_t err = ks_kv_store_all(te->marks_store, &it);
        const void *k, *v;
        size_t kl, vl;
        size_t ignored = 0;
        while (!err && ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                int rc = ks__marks_load(te->marks, &m->env.scope, k, kl, v, vl);
                if (rc < 0)
                        err = KS_ERR_NO_MEMORY;
                ignored += rc > 0;
        }
        if (!err && it)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        if (ignored)
                ks__log(m->env.conf, KS_LOG_INFO, "TASK",
                        "task %s: %zu duplicate marks of another topology "
                        "ignored",
                        ks__task_id(te->task), ignored);
        if (err)
                return ks__error_set(errp, err,
                                     "task %s: reading its duplicate marks: %s",
                                     ks__task_id(te->task), ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

static ks_err_t start_task(ks__tmgr_t *m, entry_t *te, ks_error_t **errp) {
        ks_err_t err = load_marks(m, te, errp);
        if (!err)
                err = ks__task_start(te->task, errp);
        if (err)
                return err;
        te->state = TE_RUNNING;
        ks__qreg_running(te->query);
        for (size_t i = 0; i < te->pg.cnt; i++)
                ks__tmgr_pause_resume(m, te, &te->pg.queues[i], 0);
        return KS_ERR_NO_ERROR;
}

static ks_err_t restore_done(void *opaque, ks__restoring_t *r,
                             ks_error_t **errp) {
        ks__tmgr_t *m = opaque;
        entry_t *te = r->owner;
        if (--te->restoring > 0)
                return KS_ERR_NO_ERROR;
        return start_task(m, te, errp);
}

/* Fail with @p what after task.timeout.ms of failures, else try again
 * later. */
static ks_err_t init_failed(ks__tmgr_t *m, const char *what,
                            rd_kafka_resp_err_t e, ks_error_t **errp) {
        int64_t now = ks__now_ms();
        if (!m->init_failing) {
                m->init_failing = now;
                ks__log(m->env.conf, KS_LOG_WARNING, "TASK",
                        "%s: %s: %s; retrying until task.timeout.ms (%" PRId64
                        " ms)",
                        m->env.client_id, what, rd_kafka_err2str(e),
                        m->task_timeout);
        }
        if (now - m->init_failing < m->task_timeout)
                return KS_ERR_NO_ERROR;
        return ks__error_set(errp, KS_ERR_KAFKA,
                             "%s: %s: %s (for %" PRId64 " ms, task.timeout.ms)",
                             m->env.client_id, what, rd_kafka_err2str(e),
                             now - m->init_failing);
}

/* A task whose group has no committed offset for any of its partitions:
 * the group's offsets may have expired (offsets.retention.minutes) while
 * the application was stopped, or the instance died between writing its
 * stores and committing. When this instance's local checkpoint has input
 * offsets, they and the changelog positions written in the same atomic
 * write are a consistent commit: the task resumes from there rather than
 * from nothing (which would clear a state that may hold the only copy of
 * input since deleted). */
static void resume_local(ks__tmgr_t *m, entry_t *te) {
        int found = 0;
        for (size_t i = 0; i < te->pg.cnt; i++) {
                ks__rqueue_t *q = &te->pg.queues[i];
                int64_t off = ks__task_source_checkpoint(te->task, q->topic);
                if (off < 0)
                        continue;
                found = 1;
                q->committed = off;
                if (!q->cnt)
                        q->next = off;
        }
        if (!found)
                return;
        te->task_committed = 1;
        for (size_t i = 0; i < te->store_cnt; i++)
                te->committed[i] = ks__task_changelog_offset(te->task, i);
        ks__log(m->env.conf, KS_LOG_WARNING, "TASK",
                "task %s: the group has no committed offsets for its input "
                "(expired, or never committed); resuming from the local "
                "checkpoint",
                ks__task_id(te->task));
}

/* The committed offsets of the new tasks: where their input resumes, and
 * the state positions committed with them. 1 if read. */
static int read_committed(ks__tmgr_t *m, ks_err_t *errp, ks_error_t **ep) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(8);
        for (size_t t = 0; t < m->cnt; t++) {
                entry_t *te = m->tasks[t];
                for (size_t i = 0; !te->offsets_known && i < te->pg.cnt; i++)
                        rd_kafka_topic_partition_list_add(
                                l, te->pg.queues[i].topic, te->partition);
        }
        if (!l->cnt) {
                rd_kafka_topic_partition_list_destroy(l);
                return 1;
        }
        rd_kafka_resp_err_t e =
                rd_kafka_committed(m->env.consumer, l, INIT_CALL_MS);
        /* A partition's own error (UNSTABLE_OFFSET_COMMIT while another
         * member's transaction is pending, ...) is not "never committed":
         * the whole read is tried again. */
        const char *failed = NULL;
        for (int i = 0; !e && i < l->cnt; i++)
                if ((e = l->elems[i].err))
                        failed = l->elems[i].topic;
        if (e) {
                char what[512];
                snprintf(what, sizeof(what), "reading committed offsets%s%s",
                         failed ? " of " : "", failed ? failed : "");
                rd_kafka_topic_partition_list_destroy(l);
                if (e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
                    e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                        *errp = ks__error_set(ep, KS_ERR_KAFKA, "%s: %s: %s",
                                              m->env.client_id, what,
                                              rd_kafka_err2str(e));
                        return 0;
                }
                *errp = init_failed(m, what, e, ep);
                return 0;
        }
        for (size_t t = 0; t < m->cnt; t++) {
                entry_t *te = m->tasks[t];
                if (te->offsets_known)
                        continue;
                te->offsets_known = 1;
                for (size_t i = 0; i < te->store_cnt; i++)
                        te->committed[i] = -1;
        }
        for (int i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &l->elems[i];
                entry_t *te;
                ks__rqueue_t *q =
                        ks__tmgr_find_queue(m, tp->topic, tp->partition, &te);
                if (!q)
                        continue;
                q->committed = tp->offset >= 0 ? tp->offset : -1;
                if (tp->offset >= 0) {
                        te->task_committed = 1;
                        /* Records queued meanwhile start there. */
                        if (!q->cnt)
                                q->next = tp->offset;
                }
                if (tp->offset < 0 || !tp->metadata_size)
                        continue;
                int64_t *pos = calloc(te->store_cnt + 1, sizeof(*pos));
                if (pos &&
                    !ks__commit_meta_decode(
                            tp->metadata, tp->metadata_size, m->env.scope.tag,
                            te->sub, te->partition, pos, te->store_cnt)) {
                        /* Each input partition's metadata is the state
                         * of the commit that last included it: one that
                         * saw no input since is older. Positions only
                         * grow, so the newest commit's are the highest. */
                        for (size_t s = 0; s < te->store_cnt; s++)
                                if (pos[s] > te->committed[s])
                                        te->committed[s] = pos[s];
                } else if (pos) {
                        ks__log(m->env.conf, KS_LOG_WARNING, "TASK",
                                "task %s: the metadata committed with %s "
                                "[%" PRId32 "] is not this application's "
                                "(%zu bytes); its stores are restored to the "
                                "end of their changelogs",
                                ks__task_id(te->task), tp->topic, tp->partition,
                                tp->metadata_size);
                }
                free(pos);
        }
        rd_kafka_topic_partition_list_destroy(l);
        for (size_t t = 0; t < m->cnt; t++)
                if (!m->tasks[t]->task_committed)
                        resume_local(m, m->tasks[t]);
        return 1;
}

/* Plan the restore of every logged store of @p te; start it when there is
 * nothing to restore. 0 and *ok = 0 when a changelog's end could not be
 * read (tried again later). */
static ks_err_t plan_task(ks__tmgr_t *m, entry_t *te, int *ok,
                          ks_error_t **errp) {
        ks__restore_plan_t plans[64], *pl = plans;
        if (te->store_cnt > 64 && !(pl = calloc(te->store_cnt, sizeof(*pl))))
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        ks_err_t err = KS_ERR_NO_ERROR;
        *ok = 1;
        for (size_t i = 0; *ok && !err && i < te->store_cnt; i++) {
                const char *cl = ks__task_changelog_topic(te->task, i);
                pl[i].needed = 0;
                if (!cl)
                        continue;
                ks__restore_in_t in = {
                        .checkpoint = ks__task_changelog_offset(te->task, i),
                        .committed = te->committed[i],
                        .task_committed = te->task_committed,
                        .eos = m->env.eos,
                        .from_source =
                                ks__task_changelog_from_source(te->task, i),
                };
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                        m->env.consumer, cl, te->partition, &in.lo, &in.hi,
                        INIT_CALL_MS);
                if (e) {
                        char what[512];
                        snprintf(what, sizeof(what),
                                 "task %s: reading the end of changelog %s "
                                 "[%" PRId32 "]",
                                 ks__task_id(te->task), cl, te->partition);
                        err = init_failed(m, what, e, errp);
                        *ok = 0;
                        break;
                }
                ks__restore_plan(&in, &pl[i]);
        }
        for (size_t i = 0; *ok && !err && i < te->store_cnt; i++) {
                if (!pl[i].clear)
                        continue;
                ks__log(m->env.conf, KS_LOG_WARNING, "RESTORE",
                        "task %s store %s: local state (changelog offset "
                        "%" PRId64 ") is ahead of the committed state "
                        "(%" PRId64 "); rebuilding it",
                        ks__task_id(te->task), ks__task_store_name(te->task, i),
                        ks__task_changelog_offset(te->task, i),
                        te->committed[i]);
                err = ks__task_store_clear(te->task, i, errp);
        }
        for (size_t i = 0; *ok && !err && i < te->store_cnt; i++) {
                if (!pl[i].needed) {
                        /* In step with its changelog at the committed
                         * position: the position its commits carry until
                         * it logs a change, so that no commit leaves it
                         * unnamed (an unnamed store is restored to its
                         * changelog's end, tail included). */
                        if (ks__task_changelog_topic(te->task, i))
                                ks__task_changelog_in_sync(te->task, i,
                                                           pl[i].end);
                        continue;
                }
                ks__restoring_t *r = &te->rs[i];
                *r = (ks__restoring_t){
                        .task = te->task,
                        .store = i,
                        .topic = ks__task_changelog_topic(te->task, i),
                        .partition = te->partition,
                        .start = pl[i].start,
                        .end = pl[i].end,
                        .junk_end = pl[i].junk_end,
                        .owner = te,
                };
                te->restoring++;
        }
        if (pl != plans)
                free(pl);
        if (err || !*ok)
                return err;
        if (!te->restoring)
                return start_task(m, te, errp);
        te->state = TE_RESTORING;
        for (size_t i = 0; !err && i < te->store_cnt; i++)
                if (te->rs[i].task)
                        err = ks__creader_add(m->reader, &te->rs[i], errp);
        return err;
}

ks_err_t ks__tmgr_initialize(ks__tmgr_t *m, ks_error_t **errp) {
        int pending = 0;
        for (size_t t = 0; t < m->cnt; t++)
                pending |= m->tasks[t]->state == TE_CREATED;
        if (!pending)
                return KS_ERR_NO_ERROR;
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!read_committed(m, &err, errp))
                return err;
        for (size_t t = 0; !err && t < m->cnt; t++) {
                int ok = 1;
                if (m->tasks[t]->state == TE_CREATED)
                        err = plan_task(m, m->tasks[t], &ok, errp);
                if (!ok)
                        return err;
        }
        if (!err)
                m->init_failing = 0;
        return err;
}

ks_err_t ks__tmgr_restore(ks__tmgr_t *m, int64_t budget_ms, ks_error_t **errp) {
        return ks__creader_step(m->reader, budget_ms, errp);
}

int ks__tmgr_restore_active(const ks__tmgr_t *m) {
        return ks__creader_active(m->reader);
}
