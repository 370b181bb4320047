/* Tasks [StreamTask]: one sub-topology run for one partition: lifecycle,
 * input records, commit (see task_int.h for the API and the state machine).
 *
 * A task owns one state pointer per processor (`insts`, made by each
 * processor's init for this task, so one processor definition serves any
 * number of tasks), its input positions (`parts`, one per source topic:
 * partition time and the next offset to commit), its stream time (the
 * largest timestamp seen, -1 before the first record), its context
 * (context.c), punctuation queue (punctuation.c) and state manager
 * (state_manager.c). The entry points here (process, start, flush, commit)
 * each end by handing the first error of their traversal to their caller,
 * so no error outlives the call that raised it. */
#include "task_impl_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

static void set_state(ks__task_t *t, ks__task_state_t to) {
        /* Legal: CREATED->RUNNING, CREATED->CLOSED, RUNNING->CLOSED. */
        assert((t->state == KS_TASK_CREATED &&
                (to == KS_TASK_RUNNING || to == KS_TASK_CLOSED)) ||
               (t->state == KS_TASK_RUNNING && to == KS_TASK_CLOSED));
        t->state = to;
}

ks_err_t ks__task_pend(ks__task_t *t, ks_err_t code, const char *fmt, ...) {
        if (t->pending)
                return code;
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(&t->pending, code, 0, fmt, ap);
        va_end(ap);
        t->pending_node = t->ctx.node ? t->ctx.node->name : NULL;
        return code;
}

ks_err_t ks__task_take_pending(ks__task_t *t, ks_err_t err, ks_error_t **errp) {
        if (!t->pending && err)
                ks__task_pend(t, err, "task %s failed: %s", t->id,
                              ks_err2str(err));
        if (!t->pending)
                return KS_ERR_NO_ERROR;
        ks_err_t code = ks_error_code(t->pending);
        if (errp) {
                ks_error_destroy(*errp);
                *errp = t->pending;
        } else {
                ks__log(t->env.conf, KS_LOG_ERR, "TASK", "%s",
                        ks_error_message(t->pending));
                ks_error_destroy(t->pending);
        }
        t->pending = NULL;
        t->pending_node = NULL;
        t->pending_infra = 0;
        return code;
}

int64_t ks__task_clock(const ks__task_t *t) {
        return t->env.clock ? t->env.clock(t->env.clock_opaque)
                            : ks__wallclock_ms();
}

/* --- input -------------------------------------------------------------- */

ks__source_part_t *ks__task_source_part(const ks__task_t *t,
                                        const char *topic) {
        for (size_t i = 0; i < t->part_cnt; i++)
                if (!strcmp(t->parts[i].topic, topic))
                        return &t->parts[i];
        return NULL;
}

/* Deserialization handler: 1 = skip the record, 0 = process, <0 = fail. */
static int check_serdes(ks__task_t *t, ks__node_t *src,
                        const ks_error_context_t *ec) {
        ks_error_t *e = NULL;
        const char *what = "key";
        const ks_serde_t *serde = src->key_serde;
        if (!ks_serde_validate(serde, ec->key, ec->klen, &e)) {
                what = "value";
                serde = src->value_serde;
                if (!ks_serde_validate(serde, ec->value, ec->vlen, &e))
                        return 0;
        }
        int skip = t->deser_handler == KS_DESER_LOG_AND_CONTINUE;
        char msg[768];
        snprintf(msg, sizeof(msg),
                 "source \"%s\" (topic %s, partition %" PRId32
                 ", offset %" PRId64 "): the %s does not decode with the %s "
                 "serde: %s",
                 src->name, ec->topic, ec->partition, ec->offset, what,
                 ks_serde_name(serde), ks_error_message(e));
        ks_error_destroy(e);
        if (skip) {
                ks__log(t->env.conf, KS_LOG_WARNING, "SERDE",
                        "%s; skipping the record (log_and_continue)", msg);
                t->dropped++;
                t->dropped_deser++;
                return ks__task_dead_letter(t, ec, KS_ERR_SERDE, msg) ? -1 : 1;
        }
        ks__task_pend(t, KS_ERR_SERDE,
                      "%s (default.deserialization.exception.handler is "
                      "log_and_fail)",
                      msg);
        return -1;
}

/* Timestamp of an input record: 1 = skip, 0 = use *tsp, <0 = fail. */
static int extract_timestamp(ks__task_t *t, ks__node_t *src,
                             ks__source_part_t *sp, const char *topic,
                             int32_t partition, int64_t offset, const void *key,
                             size_t klen, const void *value, size_t vlen,
                             int64_t record_ts, int64_t *tsp) {
        int64_t ts;
        if (src->tsx) {
                ts = src->tsx(src->tsx_opaque, topic, partition, key, klen,
                              value, vlen, record_ts, sp->partition_time);
                if (ts >= 0) {
                        *tsp = ts;
                        return 0;
                }
                ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                        "skipping record at %s [%" PRId32 "] offset %" PRId64
                        ": source \"%s\"'s extractor returned timestamp "
                        "%" PRId64,
                        topic, partition, offset, src->name, ts);
                t->dropped++;
                return 1;
        }
        if (t->tsx_kind == KS_TSX_WALL_CLOCK) {
                *tsp = ks__task_clock(t);
                return 0;
        }
        if (record_ts >= 0) {
                *tsp = record_ts;
                return 0;
        }
        switch (t->tsx_kind) {
        case KS_TSX_LOG_AND_SKIP_ON_INVALID:
                ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                        "skipping record at %s [%" PRId32 "] offset %" PRId64
                        " with invalid timestamp %" PRId64,
                        topic, partition, offset, record_ts);
                t->dropped++;
                return 1;
        case KS_TSX_USE_PREVIOUS_ON_INVALID:
                if (sp->partition_time >= 0) {
                        *tsp = sp->partition_time;
                        return 0;
                }
                ks__task_pend(t, KS_ERR_TIMESTAMP,
                              "record at %s [%" PRId32 "] offset %" PRId64
                              " has invalid timestamp %" PRId64
                              " and the partition has no previous timestamp "
                              "(use_previous_on_invalid_timestamp)",
                              topic, partition, offset, record_ts);
                return -1;
        default:
                ks__task_pend(t, KS_ERR_TIMESTAMP,
                              "record at %s [%" PRId32 "] offset %" PRId64
                              " has invalid timestamp %" PRId64
                              " (default.timestamp.extractor is "
                              "fail_on_invalid_timestamp)",
                              topic, partition, offset, record_ts);
                return -1;
        }
}

ks_err_t ks__task_process(ks__task_t *t, const char *topic, int32_t partition,
                          int64_t offset, const void *key, size_t klen,
                          const void *value, size_t vlen, int64_t timestamp,
                          const ks_headers_t *headers, ks_error_t **errp) {
        if (t->state != KS_TASK_RUNNING)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "task %s is not running", t->id);
        ks__source_part_t *sp = ks__task_source_part(t, topic);
        ks__node_t *src = sp ? sp->source : NULL;
        if (!sp)
                return ks__error_set(errp, KS_ERR_NOT_FOUND,
                                     "task %s has no source for topic %s",
                                     t->id, topic);
        if (!key)
                klen = 0;
        if (!value)
                vlen = 0;
        sp->next_offset = offset + 1;
        t->origin_topic = sp->topic_index;
        t->emit_seq = 0;
        /* The record as read, for the handlers and the dead-letter queue. */
        ks_error_context_t ec = {
                .topic = topic,
                .partition = partition,
                .offset = offset,
                .timestamp = timestamp,
                .task_id = t->id,
                .key = key,
                .value = value,
                .klen = klen,
                .vlen = vlen,
                .headers = headers ? headers : t->no_headers,
        };
        int rc = check_serdes(t, src, &ec);
        if (rc)
                return ks__task_take_pending(t, rc < 0 ? KS_ERR_SERDE : 0,
                                             errp);
        int64_t ts;
        rc = extract_timestamp(t, src, sp, topic, partition, offset, key, klen,
                               value, vlen, timestamp, &ts);
        if (rc)
                return ks__task_take_pending(t, rc < 0 ? KS_ERR_TIMESTAMP : 0,
                                             errp);
        if (ts > sp->partition_time)
                sp->partition_time = ts;
        if (ts > t->stream_time)
                t->stream_time = ts;

        ks_context_t *ctx = &t->ctx;
        ctx->topic = topic;
        ctx->partition = partition;
        ctx->offset = offset;
        ctx->timestamp = ts;
        ctx->headers = headers ? headers : t->no_headers;
        ctx->node = src;
        ks_record_t rec = {key, klen, value, vlen, ts, ctx->headers};
        ks_err_t err = ks__context_process(t, src, &rec);
        ctx->node = NULL;
        t->processed++;
        if (err)
                err = ks__task_on_error(t, &ec, err);
        if (!err)
                err = ks__punctuate(t, KS_PUNCTUATE_STREAM_TIME,
                                    t->stream_time);
        ctx->topic = NULL;
        ctx->headers = t->no_headers;
        return ks__task_take_pending(t, err, errp);
}

/* --- lifecycle ---------------------------------------------------------- */

ks_err_t ks__task_new(ks_topology_t *topo, int sub, int32_t partition,
                      const ks__task_env_t *env, ks__task_t **taskp,
                      ks_error_t **errp) {
        assert(topo->built && sub >= 0 && (size_t)sub < topo->sub_cnt);
        ks__task_t *t = calloc(1, sizeof(*t));
        if (!t)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        snprintf(t->id, sizeof(t->id), "%d_%" PRId32, sub, partition);
        t->state = KS_TASK_CREATED;
        t->topo = ks__topology_ref(topo);
        t->sub = &topo->subs[sub];
        t->partition = partition;
        t->env = *env;
        t->stream_time = -1;
        t->tsx_kind = ks__config_enum(env->conf, "default.timestamp.extractor");
        t->deser_handler = ks__config_enum(
                env->conf, "default.deserialization.exception.handler");
        t->proc_handler =
                ks__config_enum(env->conf, "processing.exception.handler");
        t->dlq_topic =
                ks_config_get(env->conf, "errors.dead.letter.queue.topic.name");
        if (t->dlq_topic && !*t->dlq_topic)
                t->dlq_topic = NULL;
        t->ctx.task = t;
        t->ctx.partition = partition;
        t->ctx.offset = -1;
        t->ctx.timestamp = -1;
        t->no_headers = ks_headers_new();
        t->ctx.headers = t->no_headers;
        t->insts = calloc(t->sub->node_cnt, sizeof(*t->insts));
        if (ks__config_enum(env->conf, "metrics.recording.level") > 0 &&
            !(t->node_meters = calloc(t->sub->node_cnt ? t->sub->node_cnt : 1,
                                      sizeof(*t->node_meters)))) {
                ks__task_destroy(t);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        t->sm.lock_fd = -1;
        for (size_t i = 0; i < t->sub->node_cnt; i++)
                if (t->sub->nodes[i]->kind == KS_NODE_SOURCE)
                        t->part_cnt += t->sub->nodes[i]->topic_cnt;
        t->parts = calloc(t->part_cnt ? t->part_cnt : 1, sizeof(*t->parts));
        if (!t->no_headers || !t->insts || !t->parts) {
                ks__task_destroy(t);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < t->sub->node_cnt; i++) {
                ks__node_t *n = t->sub->nodes[i];
                for (size_t j = 0;
                     n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++)
                        t->parts[k++] = (ks__source_part_t){
                                n, n->topics[j], -1, -1,
                                ks__topology_topic_index(topo, n->topics[j])};
        }
        ks_err_t err = ks__state_mgr_open(t, errp);
        if (err) {
                ks__task_destroy(t);
                return err;
        }
        *taskp = t;
        return KS_ERR_NO_ERROR;
}

static ks_err_t call_init(ks_context_t *ctx, void *statep) {
        return ctx->node->init(ctx, ctx->node->opaque, statep);
}

ks_err_t ks__task_start(ks__task_t *t, ks_error_t **errp) {
        if (t->state != KS_TASK_CREATED)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "task %s was already started", t->id);
        /* Processor init, in insertion order (parents before children). */
        for (size_t i = 0; i < t->sub->node_cnt; i++) {
                ks__node_t *n = t->sub->nodes[i];
                if (n->kind != KS_NODE_PROCESSOR)
                        continue;
                t->insts[i].state = n->opaque;
                if (n->init) {
                        ks_err_t err =
                                ks__context_run(t, n, KS__CALL_INIT, 0,
                                                call_init, &t->insts[i].state);
                        if (err)
                                return ks__task_take_pending(t, err, errp);
                }
                t->insts[i].initialized = 1;
        }
        set_state(t, KS_TASK_RUNNING);
        return KS_ERR_NO_ERROR;
}

static ks_err_t call_flush(ks_context_t *ctx, void *unused) {
        ks__node_t *n = ctx->node;
        return n->flush(ctx, ctx->task->insts[n->sub_index].state);
}

ks_err_t ks__task_flush_caches(ks__task_t *t, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!t->env.cache || t->state != KS_TASK_RUNNING)
                return KS_ERR_NO_ERROR;
        /* Upstream first: what a cache lets out may land in a cache
         * further down, which then flushes it in this same pass. */
        for (size_t i = 0; !err && i < t->sub->node_cnt; i++) {
                ks__node_t *n = t->sub->nodes[i];
                if (n->kind == KS_NODE_PROCESSOR && n->flush)
                        err = ks__context_run(t, n, KS__CALL_FLUSH, 0,
                                              call_flush, NULL);
        }
        return ks__task_take_pending(t, err, errp);
}

ks_err_t ks__task_commit(ks__task_t *t, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        if (t->env.collector.flush)
                err = t->env.collector.flush(t->env.collector.opaque, errp);
        if (err)
                return err;
        err = ks__state_mgr_commit(t, errp);
        if (err)
                return err;
        t->commit_requested = 0;
        return KS_ERR_NO_ERROR;
}

int ks__task_commit_requested(const ks__task_t *t) {
        return t->commit_requested;
}

uint64_t ks__task_dropped_records(const ks__task_t *t) {
        return t->dropped;
}

uint64_t ks__task_dropped_late(const ks__task_t *t) {
        return t->dropped_late;
}

uint64_t ks__task_dropped_duplicate(const ks__task_t *t) {
        return t->dropped_duplicate;
}

uint64_t ks__task_dropped_deserialization(const ks__task_t *t) {
        return t->dropped_deser;
}

uint64_t ks__task_dropped_processing(const ks__task_t *t) {
        return t->dropped_proc;
}

uint64_t ks__task_dlq_records(const ks__task_t *t) {
        return t->dlq_records;
}

uint64_t ks__task_processed_records(const ks__task_t *t) {
        return t->processed;
}

const char *ks__task_id(const ks__task_t *t) {
        return t->id;
}

const ks__subtopology_t *ks__task_subtopology(const ks__task_t *t) {
        return t->sub;
}

int32_t ks__task_partition(const ks__task_t *t) {
        return t->partition;
}

void ks__task_source_offsets(const ks__task_t *t,
                             void (*cb)(void *opaque, const char *topic,
                                        int32_t partition, int64_t next),
                             void *opaque) {
        for (size_t i = 0; i < t->part_cnt; i++)
                if (t->parts[i].next_offset >= 0)
                        cb(opaque, t->parts[i].topic, t->partition,
                           t->parts[i].next_offset);
}

void ks__task_skip(ks__task_t *t, const char *topic, int64_t offset) {
        ks__source_part_t *sp = ks__task_source_part(t, topic);
        if (sp && offset + 1 > sp->next_offset)
                sp->next_offset = offset + 1;
}

void ks__task_destroy(ks__task_t *t) {
        if (!t)
                return;
        if (t->insts) {
                /* Children close before their parents. */
                for (size_t i = t->sub->node_cnt; i-- > 0;) {
                        ks__node_t *n = t->sub->nodes[i];
                        if (!t->insts[i].initialized || !n->close)
                                continue;
                        t->ctx.node = n;
                        n->close(&t->ctx, t->insts[i].state);
                }
                t->ctx.node = NULL;
        }
        if (t->state != KS_TASK_CLOSED)
                set_state(t, KS_TASK_CLOSED);
        ks__state_mgr_close(t);
        ks__punct_queue_clear(&t->puncs);
        free(t->insts);
        free(t->node_meters);
        free(t->parts);
        free(t->ctx.user_error);
        ks_error_destroy(t->pending);
        ks_headers_destroy(t->no_headers);
        ks_topology_destroy(t->topo);
        free(t);
}

uint64_t ks__task_punctuations(const ks__task_t *t) {
        return t->punctuated;
}

ks__meter_t *ks__task_node_meters(ks__task_t *t, size_t *cnt) {
        *cnt = t->node_meters ? t->sub->node_cnt : 0;
        return t->node_meters;
}

const char *ks__task_node_name(const ks__task_t *t, size_t i) {
        return i < t->sub->node_cnt ? t->sub->nodes[i]->name : "?";
}
