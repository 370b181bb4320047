/* Processor context [ProcessorContextImpl]: what a processor sees of its
 * task (record metadata, stores, time), forwarding, and the sinks.
 *
 * The context is one object per task (`task->ctx`), pointed at the node
 * whose callback runs and at the metadata of the record being handled.
 * Records travel depth-first: forwarding calls each child's process()
 * before returning, with the context pointing at the child, and puts the
 * forwarding node back afterwards. The first error anywhere below an entry
 * point is kept in the task's `pending` error with the name of the node
 * that raised it; a processor that swallows its child's error still
 * returns that error. Records are borrowed slices: nothing is copied on
 * the way down; sinks hand them to the collector, which copies. */
#include "task_impl_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

/* --- records and context accessors -------------------------------------- */

const void *ks_record_key(const ks_record_t *rec, size_t *sizep) {
        if (sizep)
                *sizep = rec->klen;
        return rec->key;
}

const void *ks_record_value(const ks_record_t *rec, size_t *sizep) {
        if (sizep)
                *sizep = rec->vlen;
        return rec->value;
}

int64_t ks_record_timestamp(const ks_record_t *rec) {
        return rec->timestamp;
}

const ks_headers_t *ks_record_headers(const ks_record_t *rec) {
        return rec->headers;
}

const char *ks_context_topic(const ks_context_t *ctx) {
        return ctx->topic;
}

int32_t ks_context_partition(const ks_context_t *ctx) {
        return ctx->partition;
}

int64_t ks_context_offset(const ks_context_t *ctx) {
        return ctx->offset;
}

int64_t ks_context_timestamp(const ks_context_t *ctx) {
        return ctx->timestamp;
}

const ks_headers_t *ks_context_headers(const ks_context_t *ctx) {
        return ctx->headers;
}

const char *ks_context_task_id(const ks_context_t *ctx) {
        return ctx->task->id;
}

const char *ks_context_application_id(const ks_context_t *ctx) {
        return ks_config_get(ctx->task->env.conf, "application.id");
}

const char *ks_context_processor_name(const ks_context_t *ctx) {
        return ctx->node ? ctx->node->name : NULL;
}

int64_t ks_context_stream_time(const ks_context_t *ctx) {
        return ctx->task->stream_time;
}

int64_t ks_context_wall_clock_time(const ks_context_t *ctx) {
        return ks__task_clock(ctx->task);
}

void ks_context_commit(ks_context_t *ctx) {
        ctx->task->commit_requested = 1;
}

ks_err_t ks_context_set_error(ks_context_t *ctx, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = ks__vstrdupf(fmt, ap);
        va_end(ap);
        free(ctx->user_error);
        ctx->user_error = msg;
        return KS_ERR_PROCESSOR;
}

ks__global_t *ks__context_global(ks_context_t *ctx, const char *name) {
        const ks_topology_t *topo = ctx->task->topo;
        for (size_t i = 0; ctx->task->env.globals && i < topo->global_cnt; i++)
                if (!strcmp(topo->globals[i].store, name))
                        return ctx->task->env.globals[i];
        return NULL;
}

void ks__context_detach_origin(ks_context_t *ctx, int on) {
        ctx->task->detached += on ? 1 : -1;
}

void ks__context_record_late(ks_context_t *ctx, const char *fmt, ...) {
        ks__task_t *t = ctx->task;
        t->dropped++;
        t->dropped_late++;
        if (!ks__log_enabled(t->env.conf, KS_LOG_DEBUG))
                return;
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ks__log(t->env.conf, KS_LOG_DEBUG, "LATE", "task %s: %s", t->id, msg);
}

void ks__context_record_duplicate(ks_context_t *ctx) {
        ctx->task->dropped++;
        ctx->task->dropped_duplicate++;
}

/* --- stores ------------------------------------------------------------ */

static ks_err_t context_store(ks_context_t *ctx, const char *name,
                              ks_store_type_t type, ks__store_slot_t **slotp) {
        if (!ctx || !name)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t = ctx->task;
        ks_topology_t *topo = t->topo;
        ks__node_t *n = ctx->node;
        int connected = 0;
        for (size_t i = 0; n && i < n->store_cnt; i++)
                if (!strcmp(topo->stores[n->stores[i]].name, name))
                        connected = 1;
        ks__store_slot_t *s = ks__state_mgr_slot(t, name);
        int known = 0;
        for (size_t i = 0; i < topo->store_cnt; i++)
                if (!strcmp(topo->stores[i].name, name))
                        known = 1;
        if (!known) {
                ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                        "processor \"%s\" asked for unknown store \"%s\"",
                        n ? n->name : "?", name);
                return KS_ERR_NOT_FOUND;
        }
        if (!connected || !s) {
                ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                        "processor \"%s\" asked for store \"%s\", which is not "
                        "connected to it (ks_topology_connect_store)",
                        n ? n->name : "?", name);
                return KS_ERR_STORE_NOT_CONNECTED;
        }
        if (s->type != type) {
                ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                        "processor \"%s\" asked for store \"%s\" as a %s "
                        "store, but it is a %s store",
                        n ? n->name : "?", name, ks__store_type_name(type),
                        ks__store_type_name(s->type));
                return KS_ERR_STORE_TYPE;
        }
        *slotp = s;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_context_get_kv_store(ks_context_t *ctx, const char *name,
                                 ks_kv_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__store_slot_t *s;
        ks_err_t err = context_store(ctx, name, KS_STORE_TYPE_KEY_VALUE, &s);
        if (!err)
                *storep = s->kv;
        return err;
}

ks_err_t
ks_context_get_timestamped_kv_store(ks_context_t *ctx, const char *name,
                                    ks_timestamped_kv_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__store_slot_t *s;
        ks_err_t err =
                context_store(ctx, name, KS_STORE_TYPE_TIMESTAMPED_KV, &s);
        if (!err)
                *storep = s->timestamped;
        return err;
}

ks_err_t ks_context_get_versioned_kv_store(ks_context_t *ctx, const char *name,
                                           ks_versioned_kv_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__store_slot_t *s;
        ks_err_t err = context_store(ctx, name, KS_STORE_TYPE_VERSIONED_KV, &s);
        if (!err)
                *storep = s->versioned;
        return err;
}

ks_err_t ks_context_get_window_store(ks_context_t *ctx, const char *name,
                                     ks_window_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__store_slot_t *s;
        ks_err_t err = context_store(ctx, name, KS_STORE_TYPE_WINDOW, &s);
        if (!err)
                *storep = s->window;
        return err;
}

ks_err_t ks_context_get_session_store(ks_context_t *ctx, const char *name,
                                      ks_session_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__store_slot_t *s;
        ks_err_t err = context_store(ctx, name, KS_STORE_TYPE_SESSION, &s);
        if (!err)
                *storep = s->session;
        return err;
}

/* --- the record path ---------------------------------------------------- */

static ks_err_t sink_send_record(ks__task_t *t, ks__node_t *n,
                                 const ks_record_t *r) {
        ks_error_t *e = NULL;
        const char *topic = n->topic;
        if (!topic) {
                topic = n->topic_extractor(n->topic_extractor_opaque, r);
                if (!topic)
                        return ks__task_pend(
                                t, KS_ERR_PROCESSOR,
                                "sink \"%s\": the topic extractor chose "
                                "no topic for the record of %s [%" PRId32
                                "] at offset %" PRId64,
                                n->name, t->ctx.topic ? t->ctx.topic : "-",
                                t->ctx.partition, t->ctx.offset);
                char what[300];
                snprintf(what, sizeof(what),
                         "sink \"%s\": the topic extractor's topic name",
                         n->name);
                if (ks__topic_name_check(topic, what, &e)) {
                        ks_err_t err = ks__task_pend(t, KS_ERR_INVALID_ARG,
                                                     "%s", ks_error_message(e));
                        ks_error_destroy(e);
                        return err;
                }
        }
        if (ks_serde_validate(n->key_serde, r->key, r->klen, &e) ||
            ks_serde_validate(n->value_serde, r->value, r->vlen, &e)) {
                int is_key = r->key && ks_serde_validate(n->key_serde, r->key,
                                                         r->klen, NULL);
                ks__task_pend(
                        t, KS_ERR_SERDE,
                        "sink \"%s\" (topic %s): the %s does not match the %s "
                        "serde: %s",
                        n->name, topic, is_key ? "key" : "value",
                        ks_serde_name(is_key ? n->key_serde : n->value_serde),
                        ks_error_message(e));
                ks_error_destroy(e);
                return KS_ERR_SERDE;
        }
        int32_t partition = -1;
        if (n->partitioner) {
                int32_t cnt = t->env.collector.partition_count(
                        t->env.collector.opaque, topic);
                if (cnt > 0) {
                        partition = n->partitioner(n->partitioner_opaque, topic,
                                                   r->key, r->klen, r->value,
                                                   r->vlen, cnt);
                        if (partition < -1 || partition >= cnt)
                                return ks__task_pend(
                                        t, KS_ERR_PROCESSOR,
                                        "sink \"%s\": partitioner chose "
                                        "partition %" PRId32
                                        " of topic %s, which has %" PRId32,
                                        n->name, partition, topic, cnt);
                }
        }
        int tied = t->ctx.topic && !t->detached;
        ks__origin_t origin = {tied ? t->origin_topic : -1, t->ctx.partition,
                               tied ? t->ctx.offset : -1,
                               tied ? t->emit_seq++ : -1};
        ks_err_t err = t->env.collector.send(
                t->env.collector.opaque, topic, partition, r->key, r->klen,
                r->value, r->vlen, r->timestamp, r->headers, &origin, &e);
        if (err) {
                /* The producer refused it: no handler lets that pass. */
                ks__task_pend_infra(t);
                ks__task_pend(t, err, "sink \"%s\" (topic %s): %s", n->name,
                              topic, e ? ks_error_message(e) : ks_err2str(err));
                ks_error_destroy(e);
        }
        return err;
}

/* A sink runs with the context on it, so that an error it raises names it
 * (ks_error_context_processor()). */
static ks_err_t sink_send(ks__task_t *t, ks__node_t *n, const ks_record_t *r) {
        ks__node_t *from = t->ctx.node;
        t->ctx.node = n;
        ks_err_t err = sink_send_record(t, n, r);
        t->ctx.node = from;
        return err;
}

static ks_err_t forward_children(ks__task_t *t, ks__node_t *from,
                                 const char *child, const ks_record_t *rec) {
        int found = 0;
        for (size_t i = 0; i < from->child_cnt; i++) {
                ks__node_t *c = from->children[i];
                if (child && strcmp(c->name, child))
                        continue;
                found = 1;
                ks_err_t err = ks__context_process(t, c, rec);
                if (err)
                        return err;
        }
        if (child && !found)
                return KS_ERR_NOT_FOUND;
        return KS_ERR_NO_ERROR;
}

/* How each kind of callback is named in an error, and whether it sees the
 * record being processed. */
static const struct {
        const char *before, *after; /* around the processor's name */
        int record;
} call_kinds[] = {
        [KS__CALL_INIT] = {"processor", "failed to initialize in", 0},
        [KS__CALL_PROCESS] = {"processor", "failed in", 1},
        [KS__CALL_PUNCTUATE] = {"punctuator of processor", "failed in", 0},
        [KS__CALL_FLUSH] = {"flushing the record cache of processor", "in", 0},
};

ks_err_t ks__context_run(ks__task_t *t, ks__node_t *node, ks__call_kind_t kind,
                         int64_t timestamp, ks__call_cb *cb, void *arg) {
        ks_context_t *ctx = &t->ctx;
        ks_context_t saved = *ctx;
        ctx->node = node;
        ctx->user_error = NULL;
        if (!call_kinds[kind].record) {
                ctx->topic = NULL;
                ctx->partition = t->partition;
                ctx->offset = -1;
                ctx->headers = t->no_headers;
        }
        if (kind == KS__CALL_PUNCTUATE)
                ctx->timestamp = timestamp;
        ks_err_t err = cb(ctx, arg);
        if (err)
                ks__task_pend(t, err, "%s \"%s\" %s task %s (%s)%s%s",
                              call_kinds[kind].before, node ? node->name : "?",
                              call_kinds[kind].after, t->id, ks_err_name(err),
                              ctx->user_error ? ": " : "",
                              ctx->user_error ? ctx->user_error : "");
        free(ctx->user_error);
        *ctx = saved;
        /* A child's error wins even if the callback swallowed it. */
        if (!err && t->pending)
                err = ks_error_code(t->pending);
        return err;
}

static ks_err_t call_process(ks_context_t *ctx, void *rec) {
        ks__node_t *n = ctx->node;
        /* A processor's current timestamp is that of the record it is
         * given, as forwarded (ks__context_run puts the old one back). */
        ctx->timestamp = ((const ks_record_t *)rec)->timestamp;
        return n->process(ctx, rec, ctx->task->insts[n->sub_index].state);
}

ks_err_t ks__context_process(ks__task_t *t, ks__node_t *n,
                             const ks_record_t *rec) {
        switch (n->kind) {
        case KS_NODE_SINK:
                return sink_send(t, n, rec);
        case KS_NODE_SOURCE:
                return forward_children(t, n, NULL, rec);
        case KS_NODE_PROCESSOR:
                break;
        }
        if (!t->node_meters)
                return ks__context_run(t, n, KS__CALL_PROCESS, 0, call_process,
                                       (void *)rec);
        /* Recording level DEBUG: the node's time includes its children's,
         * as in Kafka Streams. */
        int64_t t0 = ks__now_ns();
        ks_err_t err = ks__context_run(t, n, KS__CALL_PROCESS, 0, call_process,
                                       (void *)rec);
        ks__meter_record(&t->node_meters[n->sub_index], 1, ks__now_ns() - t0);
        return err;
}

ks_err_t ks_context_forward_record(ks_context_t *ctx, const char *child,
                                   const void *key, size_t key_size,
                                   const void *value, size_t value_size,
                                   int64_t timestamp,
                                   const ks_headers_t *headers) {
        if (!ctx || !ctx->node)
                return KS_ERR_INVALID_ARG;
        ks_record_t rec = {
                .key = key,
                .klen = key ? key_size : 0,
                .value = value,
                .vlen = value ? value_size : 0,
                .timestamp = timestamp,
                .headers = headers ? headers : ctx->headers,
        };
        if (timestamp < 0)
                return KS_ERR_INVALID_ARG;
        ks__node_t *self = ctx->node;
        ks_err_t err = forward_children(ctx->task, self, child, &rec);
        ctx->node = self;
        return err;
}

ks_err_t ks_context_forward(ks_context_t *ctx, const void *key, size_t key_size,
                            const void *value, size_t value_size) {
        return ks_context_forward_record(ctx, NULL, key, key_size, value,
                                         value_size, ctx->timestamp, NULL);
}

ks_err_t ks_context_forward_to(ks_context_t *ctx, const char *child,
                               const void *key, size_t key_size,
                               const void *value, size_t value_size) {
        if (!child)
                return KS_ERR_INVALID_ARG;
        return ks_context_forward_record(ctx, child, key, key_size, value,
                                         value_size, ctx->timestamp, NULL);
}
