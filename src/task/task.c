/* Tasks: processor instances, stores, the processor context, punctuation and
 * commit for one sub-topology and partition (see task_int.h).
 *
 * Records travel depth-first: forwarding calls each child's process()
 * before returning, with the context pointing at the child. The first error
 * anywhere below is kept in `pending` (with the name of the node that raised
 * it) and reported once by the entry point that started the traversal. */
#include "task_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "../state/state_dir_int.h"

struct ks_context_s {
        ks__task_t *task;
        ks__node_t *node; /* node being run */
        /* Metadata of the input record (or punctuation) being handled. */
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp;
        const ks_headers_t *headers;
        char *user_error; /* message set by ks_context_set_error() */
};

struct ks_punctuation_s {
        ks__task_t *task;
        ks__node_t *node;
        ks_punctuation_type_t type;
        int64_t interval;
        int64_t next;
        ks_punctuator_cb *cb;
        void *opaque;
        int cancelled;
};

typedef struct {
        ks__node_t *source;
        const char *topic; /* owned by the source node */
        int64_t partition_time;
        int64_t next_offset; /* to checkpoint; -1 before the first record */
        int32_t topic_index; /* the topic's index in the topology */
} source_part_t;

typedef struct {
        void *state;
        int initialized;
} node_inst_t;

/* Change logging of one store. */
typedef struct {
        ks__task_t *task;
        char *topic;        /* NULL: not logged */
        int64_t delivered;  /* offset of the last acknowledged record, -1 */
        int64_t checkpoint; /* next offset to restore from, -1: beginning */
        int64_t persisted;  /* last checkpoint a restore wrote, -1: none */
        int from_source;    /* the topic is the store's source topic: not
                               written, its position is the input's */
} changelog_t;

struct ks__task_s {
        char id[32];
        ks__task_state_t state;
        ks_topology_t *topo;
        const ks__subtopology_t *sub;
        int32_t partition;
        ks__task_env_t env;
        node_inst_t *insts;     /* parallel to sub->nodes */
        ks_kv_store_t **stores; /* parallel to sub->stores */
        changelog_t *logs;      /* parallel to sub->stores */
        ks__task_db_t *db;      /* NULL without persistent stores */
        char *dir;              /* <state_dir>/<id> */
        int lock_fd;            /* flock()ed <dir>/.lock, or -1 */
        source_part_t *parts;
        size_t part_cnt;
        ks_punctuation_t **puncs;
        size_t punc_cnt;
        int punctuating;
        int64_t stream_time;
        int commit_requested;
        uint64_t dropped, processed;
        ks_headers_t *no_headers;
        ks_context_t ctx;
        ks_error_t *pending; /* first error below the current entry point */
        int tsx_kind;
        int deser_handler;
        int32_t origin_topic; /* topology index of the input's topic */
        int32_t emit_seq;     /* outputs of the current input record */
};

static void set_state(ks__task_t *t, ks__task_state_t to) {
        /* Legal: CREATED->RUNNING, CREATED->CLOSED, RUNNING->CLOSED. */
        assert((t->state == KS_TASK_CREATED &&
                (to == KS_TASK_RUNNING || to == KS_TASK_CLOSED)) ||
               (t->state == KS_TASK_RUNNING && to == KS_TASK_CLOSED));
        t->state = to;
}

/* Keep the first error of a traversal. */
static ks_err_t pend(ks__task_t *t, ks_err_t code, const char *fmt, ...)
        KS_PRINTF(3, 4);
static ks_err_t pend(ks__task_t *t, ks_err_t code, const char *fmt, ...) {
        if (t->pending)
                return code;
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(&t->pending, code, 0, fmt, ap);
        va_end(ap);
        return code;
}

/* Hand the pending error (if any) to the entry point's caller. */
static ks_err_t take_pending(ks__task_t *t, ks_err_t err, ks_error_t **errp) {
        if (!t->pending && err)
                pend(t, err, "task %s failed: %s", t->id, ks_err2str(err));
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
        return code;
}

static int64_t task_clock(const ks__task_t *t) {
        return t->env.clock ? t->env.clock(t->env.clock_opaque)
                            : ks__wallclock_ms();
}

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
        return task_clock(ctx->task);
}

void ks_context_commit(ks_context_t *ctx) {
        ctx->task->commit_requested = 1;
}

ks_err_t ks_context_set_error(ks_context_t *ctx, const char *fmt, ...) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        free(ctx->user_error);
        ctx->user_error = ks__strdup(buf);
        return KS_ERR_PROCESSOR;
}

static ks_err_t context_store(ks_context_t *ctx, const char *name,
                              ks_store_type_t type, ks_kv_store_t **storep) {
        if (!ctx || !name || !storep)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t = ctx->task;
        ks_topology_t *topo = t->topo;
        ks__node_t *n = ctx->node;
        int connected = 0;
        for (size_t i = 0; n && i < n->store_cnt; i++)
                if (!strcmp(topo->stores[n->stores[i]].name, name))
                        connected = 1;
        ks_kv_store_t *s = ks__task_store(t, name);
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
        *storep = s;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_context_get_kv_store(ks_context_t *ctx, const char *name,
                                 ks_kv_store_t **storep) {
        return context_store(ctx, name, KS_STORE_TYPE_KEY_VALUE, storep);
}

ks_err_t ks_context_get_window_store(ks_context_t *ctx, const char *name,
                                     ks_window_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks_kv_store_t *s;
        ks_err_t err = context_store(ctx, name, KS_STORE_TYPE_WINDOW, &s);
        if (!err)
                *storep = s->window;
        return err;
}

/* --- the record path ---------------------------------------------------- */

static ks_err_t node_process(ks__task_t *t, ks__node_t *n,
                             const ks_record_t *rec);

static ks_err_t sink_send(ks__task_t *t, ks__node_t *n, const ks_record_t *r) {
        ks_error_t *e = NULL;
        const char *topic = n->topic;
        if (!topic) {
                topic = n->topic_extractor(n->topic_extractor_opaque, r);
                if (!topic)
                        return pend(t, KS_ERR_PROCESSOR,
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
                        ks_err_t err = pend(t, KS_ERR_INVALID_ARG, "%s",
                                            ks_error_message(e));
                        ks_error_destroy(e);
                        return err;
                }
        }
        if (ks_serde_validate(n->key_serde, r->key, r->klen, &e) ||
            ks_serde_validate(n->value_serde, r->value, r->vlen, &e)) {
                int is_key = r->key && ks_serde_validate(n->key_serde, r->key,
                                                         r->klen, NULL);
                pend(t, KS_ERR_SERDE,
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
                                return pend(t, KS_ERR_PROCESSOR,
                                            "sink \"%s\": partitioner chose "
                                            "partition %" PRId32
                                            " of topic %s, which has %" PRId32,
                                            n->name, partition, topic, cnt);
                }
        }
        ks__origin_t origin = {
                t->ctx.topic ? t->origin_topic : -1, t->ctx.partition,
                t->ctx.topic ? t->ctx.offset : -1, t->emit_seq++};
        ks_err_t err = t->env.collector.send(
                t->env.collector.opaque, topic, partition, r->key, r->klen,
                r->value, r->vlen, r->timestamp, r->headers, &origin, &e);
        if (err) {
                pend(t, err, "sink \"%s\" (topic %s): %s", n->name, topic,
                     e ? ks_error_message(e) : ks_err2str(err));
                ks_error_destroy(e);
        }
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
                ks_err_t err = node_process(t, c, rec);
                if (err)
                        return err;
        }
        if (child && !found)
                return KS_ERR_NOT_FOUND;
        return KS_ERR_NO_ERROR;
}

static ks_err_t node_process(ks__task_t *t, ks__node_t *n,
                             const ks_record_t *rec) {
        switch (n->kind) {
        case KS_NODE_SINK:
                return sink_send(t, n, rec);
        case KS_NODE_SOURCE:
                return forward_children(t, n, NULL, rec);
        case KS_NODE_PROCESSOR:
                break;
        }
        ks_context_t *ctx = &t->ctx;
        ks__node_t *saved = ctx->node;
        ctx->node = n;
        ks_err_t err = n->process(ctx, rec, t->insts[n->sub_index].state);
        ctx->node = saved;
        if (err && !t->pending) {
                pend(t, err, "processor \"%s\" failed in task %s (%s)%s%s",
                     n->name, t->id, ks_err_name(err),
                     ctx->user_error ? ": " : "",
                     ctx->user_error ? ctx->user_error : "");
        }
        free(ctx->user_error);
        ctx->user_error = NULL;
        /* A child's error wins even if the processor swallowed it. */
        if (!err && t->pending)
                err = ks_error_code(t->pending);
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

/* --- punctuation -------------------------------------------------------- */

ks_err_t ks_context_schedule(ks_context_t *ctx, int64_t interval_ms,
                             ks_punctuation_type_t type, ks_punctuator_cb *cb,
                             void *opaque, ks_punctuation_t **handlep) {
        if (!ctx || !cb || interval_ms < 1 ||
            (type != KS_PUNCTUATE_STREAM_TIME &&
             type != KS_PUNCTUATE_WALL_CLOCK_TIME))
                return KS_ERR_INVALID_ARG;
        ks__task_t *t = ctx->task;
        ks_punctuation_t *p = calloc(1, sizeof(*p));
        if (!p)
                return KS_ERR_NO_MEMORY;
        ks_punctuation_t **nv =
                realloc(t->puncs, (t->punc_cnt + 1) * sizeof(*nv));
        if (!nv) {
                free(p);
                return KS_ERR_NO_MEMORY;
        }
        t->puncs = nv;
        p->task = t;
        p->node = ctx->node;
        p->type = type;
        p->interval = interval_ms;
        p->cb = cb;
        p->opaque = opaque;
        /* Stream time: aligned to 0, fires as soon as there is data.
         * Wall clock: first fire one interval from now (Kafka Streams). */
        p->next = type == KS_PUNCTUATE_STREAM_TIME
                          ? 0
                          : task_clock(t) + interval_ms;
        t->puncs[t->punc_cnt++] = p;
        if (handlep)
                *handlep = p;
        return KS_ERR_NO_ERROR;
}

void ks_punctuation_cancel(ks_punctuation_t *punctuation) {
        if (punctuation)
                punctuation->cancelled = 1;
}

static void purge_cancelled(ks__task_t *t) {
        size_t w = 0;
        for (size_t i = 0; i < t->punc_cnt; i++) {
                if (t->puncs[i]->cancelled)
                        free(t->puncs[i]);
                else
                        t->puncs[w++] = t->puncs[i];
        }
        t->punc_cnt = w;
}

/* Fire every due punctuation of @p type, earliest schedule first, each at
 * most once for this call; missed intervals are skipped, not replayed. */
static ks_err_t punctuate(ks__task_t *t, ks_punctuation_type_t type,
                          int64_t now) {
        if (t->punctuating)
                return KS_ERR_NO_ERROR; /* a punctuator advanced time */
        t->punctuating = 1;
        ks_err_t err = KS_ERR_NO_ERROR;
        size_t cnt = t->punc_cnt; /* schedules added now wait their turn */
        unsigned char *fired = cnt ? calloc(cnt, 1) : NULL;
        if (cnt && !fired)
                err = KS_ERR_NO_MEMORY;
        while (!err) {
                ks_punctuation_t *due = NULL;
                size_t due_i = 0;
                for (size_t i = 0; i < cnt; i++) {
                        ks_punctuation_t *p = t->puncs[i];
                        if (fired[i] || p->cancelled || p->type != type ||
                            p->next > now)
                                continue;
                        if (!due || p->next < due->next) {
                                due = p;
                                due_i = i;
                        }
                }
                if (!due)
                        break;
                fired[due_i] = 1;
                int64_t next = due->next + due->interval;
                if (now >= next)
                        next = due->next + ((now - due->next) / due->interval +
                                            1) * due->interval;
                due->next = next;
                ks_context_t *ctx = &t->ctx;
                ks_context_t saved = *ctx;
                ctx->node = due->node;
                ctx->topic = NULL;
                ctx->partition = t->partition;
                ctx->offset = -1;
                ctx->timestamp = now;
                ctx->headers = t->no_headers;
                ctx->user_error = NULL;
                err = due->cb(ctx, now, due->opaque);
                if (err && !t->pending)
                        pend(t, err,
                             "punctuator of processor \"%s\" failed in task "
                             "%s (%s)%s%s",
                             due->node ? due->node->name : "?", t->id,
                             ks_err_name(err), ctx->user_error ? ": " : "",
                             ctx->user_error ? ctx->user_error : "");
                free(ctx->user_error);
                *ctx = saved;
                if (!err && t->pending)
                        err = ks_error_code(t->pending);
        }
        free(fired);
        purge_cancelled(t);
        t->punctuating = 0;
        return err;
}

ks__global_t *ks__context_global(ks_context_t *ctx, const char *name) {
        const ks_topology_t *topo = ctx->task->topo;
        for (size_t i = 0; ctx->task->env.globals && i < topo->global_cnt; i++)
                if (!strcmp(topo->globals[i].store, name))
                        return ctx->task->env.globals[i];
        return NULL;
}

ks_err_t ks__task_flush_caches(ks__task_t *t, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!t->env.cache || t->state != KS_TASK_RUNNING)
                return KS_ERR_NO_ERROR;
        /* Upstream first: what a cache lets out may land in a cache
         * further down, which then flushes it in this same pass. */
        for (size_t i = 0; !err && i < t->sub->node_cnt; i++) {
                ks__node_t *n = t->sub->nodes[i];
                if (n->kind != KS_NODE_PROCESSOR || !n->flush)
                        continue;
                ks_context_t *ctx = &t->ctx;
                ks_context_t saved = *ctx;
                ctx->node = n;
                ctx->topic = NULL;
                ctx->partition = t->partition;
                ctx->offset = -1;
                ctx->headers = t->no_headers;
                ctx->user_error = NULL;
                err = n->flush(ctx, t->insts[n->sub_index].state);
                if (err && !t->pending)
                        pend(t, err,
                             "flushing the record cache of processor \"%s\" "
                             "in task %s (%s)%s%s",
                             n->name, t->id, ks_err_name(err),
                             ctx->user_error ? ": " : "",
                             ctx->user_error ? ctx->user_error : "");
                free(ctx->user_error);
                *ctx = saved;
                if (!err && t->pending)
                        err = ks_error_code(t->pending);
        }
        return take_pending(t, err, errp);
}

ks_err_t ks__task_punctuate_wall_clock(ks__task_t *t, int64_t now,
                                       ks_error_t **errp) {
        return take_pending(t, punctuate(t, KS_PUNCTUATE_WALL_CLOCK_TIME, now),
                            errp);
}

/* --- input -------------------------------------------------------------- */

/* A stable index of @p topic among the topology's source topics. */
static int32_t topic_index(const ks_topology_t *topo, const char *topic) {
        int32_t idx = 0;
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *n = topo->nodes[i];
                for (size_t j = 0;
                     n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++, idx++)
                        if (!strcmp(n->topics[j], topic))
                                return idx;
        }
        return -1;
}

static source_part_t *source_part(ks__task_t *t, const char *topic) {
        for (size_t i = 0; i < t->part_cnt; i++)
                if (!strcmp(t->parts[i].topic, topic))
                        return &t->parts[i];
        return NULL;
}

/* Deserialization handler: 1 = skip the record, 0 = process, <0 = fail. */
static int check_serdes(ks__task_t *t, ks__node_t *src, const char *topic,
                        int32_t partition, int64_t offset, const void *key,
                        size_t klen, const void *value, size_t vlen) {
        ks_error_t *e = NULL;
        const char *what = "key";
        const ks_serde_t *serde = src->key_serde;
        if (!ks_serde_validate(serde, key, klen, &e)) {
                what = "value";
                serde = src->value_serde;
                if (!ks_serde_validate(serde, value, vlen, &e))
                        return 0;
        }
        int skip = t->deser_handler == KS_DESER_LOG_AND_CONTINUE;
        char msg[768];
        snprintf(msg, sizeof(msg),
                 "source \"%s\" (topic %s, partition %" PRId32
                 ", offset %" PRId64 "): the %s does not decode with the %s "
                 "serde: %s",
                 src->name, topic, partition, offset, what,
                 ks_serde_name(serde), ks_error_message(e));
        ks_error_destroy(e);
        if (skip) {
                ks__log(t->env.conf, KS_LOG_WARNING, "SERDE",
                        "%s; skipping the record (log_and_continue)", msg);
                t->dropped++;
                return 1;
        }
        pend(t, KS_ERR_SERDE,
             "%s (default.deserialization.exception.handler is log_and_fail)",
             msg);
        return -1;
}

/* Timestamp of an input record: 1 = skip, 0 = use *tsp, <0 = fail. */
static int extract_timestamp(ks__task_t *t, ks__node_t *src, source_part_t *sp,
                             const char *topic, int32_t partition,
                             int64_t offset, const void *key, size_t klen,
                             const void *value, size_t vlen, int64_t record_ts,
                             int64_t *tsp) {
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
                *tsp = task_clock(t);
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
                pend(t, KS_ERR_TIMESTAMP,
                     "record at %s [%" PRId32 "] offset %" PRId64
                     " has invalid timestamp %" PRId64
                     " and the partition has no previous timestamp "
                     "(use_previous_on_invalid_timestamp)",
                     topic, partition, offset, record_ts);
                return -1;
        default:
                pend(t, KS_ERR_TIMESTAMP,
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
        source_part_t *sp = source_part(t, topic);
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
        int rc = check_serdes(t, src, topic, partition, offset, key, klen,
                              value, vlen);
        if (rc)
                return take_pending(t, rc < 0 ? KS_ERR_SERDE : 0, errp);
        int64_t ts;
        rc = extract_timestamp(t, src, sp, topic, partition, offset, key, klen,
                               value, vlen, timestamp, &ts);
        if (rc)
                return take_pending(t, rc < 0 ? KS_ERR_TIMESTAMP : 0, errp);
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
        ks_err_t err = node_process(t, src, &rec);
        ctx->node = NULL;
        t->processed++;
        if (!err)
                err = punctuate(t, KS_PUNCTUATE_STREAM_TIME, t->stream_time);
        ctx->topic = NULL;
        ctx->headers = t->no_headers;
        return take_pending(t, err, errp);
}

/* --- lifecycle ---------------------------------------------------------- */

/* Lock the task directory against a second owner (another thread or
 * process using the same state.dir). */
static ks_err_t lock_dir(ks__task_t *t, ks_error_t **errp) {
        t->lock_fd = ks__lock_dir(t->dir);
        if (t->lock_fd >= 0)
                return KS_ERR_NO_ERROR;
        int e = errno;
        return ks__error_set(errp, KS_ERR_STATE,
                             e == EWOULDBLOCK
                                     ? "state directory %s of task %s is "
                                       "locked by another owner (another "
                                       "instance or thread with the same "
                                       "state.dir)"
                                     : "cannot lock state directory %s of "
                                       "task %s: %s",
                             t->dir, t->id, strerror(e));
}

/* Can the task's persistent stores be rebuilt from changelogs? */
static int all_persistent_logged(const ks__task_t *t) {
        if (!t->env.collector.send_changelog)
                return 0;
        for (size_t i = 0; i < t->sub->store_cnt; i++) {
                const ks__store_def_t *def =
                        &t->topo->stores[t->sub->stores[i]];
                if (def->backend == KS_STORE_ROCKSDB &&
                    (def->flags & KS_STORE_F_LOGGING_DISABLED))
                        return 0;
        }
        return 1;
}

static ks_err_t open_db(ks__task_t *t, const char **names, size_t cnt,
                        ks_error_t **errp) {
        size_t n = strlen(t->env.state_dir) + strlen(t->id) + 16;
        t->dir = malloc(n);
        char *dbdir = malloc(n);
        if (!t->dir || !dbdir) {
                free(dbdir);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        snprintf(t->dir, n, "%s/%s", t->env.state_dir, t->id);
        snprintf(dbdir, n, "%s/rocksdb", t->dir);
        ks_err_t err = ks__mkdirs(t->dir, errp);
        if (!err)
                err = lock_dir(t, errp);
        if (!err) {
                ks_error_t *e = NULL;
                err = ks__task_db_open(t->env.rocks, dbdir, names, cnt, &t->db,
                                       &e);
                if (err == KS_ERR_STORE && all_persistent_logged(t)) {
                        /* Every store can be rebuilt from its changelog. */
                        ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                                "task %s: %s; wiping the local state and "
                                "restoring it from the changelogs",
                                t->id, ks_error_message(e));
                        ks_error_destroy(e);
                        e = NULL;
                        ks__rmtree(dbdir);
                        err = ks__task_db_open(t->env.rocks, dbdir, names, cnt,
                                               &t->db, &e);
                }
                if (err && errp) {
                        ks_error_destroy(*errp);
                        *errp = e;
                } else {
                        ks_error_destroy(e);
                }
        }
        free(dbdir);
        return err;
}

static ks_err_t task_log(void *opaque, const void *key, size_t klen,
                         const void *value, size_t vlen) {
        changelog_t *cl = opaque;
        ks__task_t *t = cl->task;
        int64_t ts = t->ctx.timestamp >= 0 ? t->ctx.timestamp : 0;
        ks_error_t *e = NULL;
        ks_err_t err = t->env.collector.send_changelog(
                t->env.collector.opaque, cl->topic, t->partition, key, klen,
                value, vlen, ts, &cl->delivered, &e);
        if (err) {
                pend(t, err, "task %s: changelog %s: %s", t->id, cl->topic,
                     e ? ks_error_message(e) : ks_err2str(err));
                ks_error_destroy(e);
        }
        return err;
}

static void changelog_key(const ks__task_t *t, const char *topic, char *buf,
                          size_t size) {
        snprintf(buf, size, "changelog:%s:%" PRId32, topic, t->partition);
}

/* Stage the changelog checkpoint of store i (persistent, logged stores
 * only: in-memory stores restore from the start). 1 if staged. */
static int stage_changelog_checkpoint(ks__task_t *t, size_t i,
                                      int64_t next_offset) {
        const changelog_t *cl = &t->logs[i];
        if (!t->db || !cl->topic || t->stores[i]->backend != KS_STORE_ROCKSDB)
                return 0;
        char key[320];
        uint8_t v[8];
        changelog_key(t, cl->topic, key, sizeof(key));
        ks__be64_put(v, (uint64_t)next_offset);
        ks__task_db_stage_meta(t->db, key, v, sizeof(v));
        return 1;
}

static ks_err_t open_stores(ks__task_t *t, ks_error_t **errp) {
        const ks__subtopology_t *sub = t->sub;
        ks_topology_t *topo = t->topo;
        size_t persistent = 0;
        for (size_t i = 0; i < sub->store_cnt; i++)
                if (topo->stores[sub->stores[i]].backend == KS_STORE_ROCKSDB)
                        persistent++;
        if (persistent) {
                const char **names = calloc(persistent, sizeof(char *));
                if (!names)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                size_t k = 0;
                for (size_t i = 0; i < sub->store_cnt; i++)
                        if (topo->stores[sub->stores[i]].backend ==
                            KS_STORE_ROCKSDB)
                                names[k++] = topo->stores[sub->stores[i]].name;
                ks_err_t err = open_db(t, names, persistent, errp);
                free(names);
                if (err)
                        return err;
        }
        const char *app = ks_config_get(t->env.conf, "application.id");
        for (size_t i = 0; i < sub->store_cnt; i++) {
                const ks__store_def_t *def = &topo->stores[sub->stores[i]];
                const ks__kv_backend_ops_t *ops;
                void *impl;
                if (def->backend == KS_STORE_ROCKSDB) {
                        ops = &ks__rocksdb_store_ops;
                        impl = ks__rocksdb_store_new(t->db, def->name);
                } else {
                        ops = &ks__memory_store_ops;
                        impl = ks__memory_store_new();
                }
                if (impl)
                        t->stores[i] = ks__kv_store_new(def->name, def->type,
                                                        def->backend, ops, impl,
                                                        t->env.conf);
                if (t->stores[i])
                        t->stores[i]->cache_budget = t->env.cache;
                if (t->stores[i] && def->type == KS_STORE_TYPE_WINDOW &&
                    !(t->stores[i]->window = ks__window_store_new(
                              t->stores[i], def->retention_ms,
                              def->window_size_ms)))
                        impl = NULL;
                if (!impl || !t->stores[i])
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory opening store "
                                             "\"%s\"",
                                             def->name);
                changelog_t *cl = &t->logs[i];
                cl->task = t;
                cl->delivered = -1;
                cl->checkpoint = -1;
                cl->persisted = -1;
                if (!t->env.collector.send_changelog ||
                    (def->flags & KS_STORE_F_LOGGING_DISABLED))
                        continue;
                if (def->source_topic) {
                        /* A table's source topic is its changelog. */
                        if (!(cl->topic = ks__strdup(def->source_topic)))
                                return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                                     "out of memory");
                        cl->from_source = 1;
                } else {
                        size_t n = strlen(app) + strlen(def->name) + 16;
                        if (!(cl->topic = malloc(n)))
                                return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                                     "out of memory");
                        snprintf(cl->topic, n, "%s-%s-changelog", app,
                                 def->name);
                        t->stores[i]->log = task_log;
                        t->stores[i]->log_opaque = cl;
                }
                if (def->backend != KS_STORE_ROCKSDB)
                        continue;
                char key[320];
                void *v;
                size_t vl;
                changelog_key(t, cl->topic, key, sizeof(key));
                ks_err_t err = ks__task_db_get_meta(t->db, key, &v, &vl, errp);
                if (err == KS_ERR_NO_ERROR) {
                        if (vl == 8)
                                cl->checkpoint = cl->persisted =
                                        (int64_t)ks__be64_get((uint8_t *)v);
                        free(v);
                } else if (err != KS_ERR_NOT_FOUND) {
                        return err;
                }
        }
        return KS_ERR_NO_ERROR;
}

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
        t->ctx.task = t;
        t->ctx.partition = partition;
        t->ctx.offset = -1;
        t->ctx.timestamp = -1;
        t->no_headers = ks_headers_new();
        t->ctx.headers = t->no_headers;
        t->insts = calloc(t->sub->node_cnt, sizeof(*t->insts));
        t->stores = calloc(t->sub->store_cnt ? t->sub->store_cnt : 1,
                           sizeof(*t->stores));
        t->logs = calloc(t->sub->store_cnt ? t->sub->store_cnt : 1,
                         sizeof(*t->logs));
        t->lock_fd = -1;
        for (size_t i = 0; i < t->sub->node_cnt; i++)
                if (t->sub->nodes[i]->kind == KS_NODE_SOURCE)
                        t->part_cnt += t->sub->nodes[i]->topic_cnt;
        t->parts = calloc(t->part_cnt ? t->part_cnt : 1, sizeof(*t->parts));
        if (!t->no_headers || !t->insts || !t->stores || !t->logs ||
            !t->parts) {
                ks__task_destroy(t);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < t->sub->node_cnt; i++) {
                ks__node_t *n = t->sub->nodes[i];
                for (size_t j = 0;
                     n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++)
                        t->parts[k++] = (source_part_t){
                                n, n->topics[j], -1, -1,
                                topic_index(topo, n->topics[j])};
        }
        ks_err_t err = open_stores(t, errp);
        if (err) {
                ks__task_destroy(t);
                return err;
        }
        *taskp = t;
        return KS_ERR_NO_ERROR;
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
                        t->ctx.node = n;
                        ks_err_t err =
                                n->init(&t->ctx, n->opaque, &t->insts[i].state);
                        t->ctx.node = NULL;
                        if (err)
                                return ks__error_set(
                                        errp, err,
                                        "processor \"%s\" failed to "
                                        "initialize in task %s (%s)%s%s",
                                        n->name, t->id, ks_err_name(err),
                                        t->ctx.user_error ? ": " : "",
                                        t->ctx.user_error ? t->ctx.user_error
                                                          : "");
                }
                t->insts[i].initialized = 1;
        }
        set_state(t, KS_TASK_RUNNING);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__task_commit(ks__task_t *t, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        if (t->env.collector.flush)
                err = t->env.collector.flush(t->env.collector.opaque, errp);
        if (err)
                return err;
        if (t->db) {
                for (size_t i = 0; i < t->part_cnt; i++) {
                        if (t->parts[i].next_offset < 0)
                                continue;
                        char key[320];
                        uint8_t v[8];
                        snprintf(key, sizeof(key), "source:%s:%" PRId32,
                                 t->parts[i].topic, t->partition);
                        ks__be64_put(v, (uint64_t)t->parts[i].next_offset);
                        ks__task_db_stage_meta(t->db, key, v, sizeof(v));
                }
                for (size_t i = 0; i < t->sub->store_cnt; i++)
                        if (t->logs[i].delivered >= 0 ||
                            (t->logs[i].from_source &&
                             ks__task_changelog_position(t, i) >= 0))
                                stage_changelog_checkpoint(
                                        t, i,
                                        ks__task_changelog_position(t, i));
                err = ks__task_db_commit(t->db, errp);
                if (err)
                        return err;
        }
        t->commit_requested = 0;
        return KS_ERR_NO_ERROR;
}

int ks__task_commit_requested(const ks__task_t *t) {
        return t->commit_requested;
}

uint64_t ks__task_dropped_records(const ks__task_t *t) {
        return t->dropped;
}

uint64_t ks__task_processed_records(const ks__task_t *t) {
        return t->processed;
}

ks_kv_store_t *ks__task_store(ks__task_t *t, const char *name) {
        for (size_t i = 0; i < t->sub->store_cnt; i++)
                if (t->stores[i] && !strcmp(t->stores[i]->name, name))
                        return t->stores[i];
        return NULL;
}

const char *ks__task_id(const ks__task_t *t) {
        return t->id;
}

const ks__subtopology_t *ks__task_subtopology(const ks__task_t *t) {
        return t->sub;
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
        for (size_t i = 0; t->stores && i < t->sub->store_cnt; i++)
                ks__kv_store_destroy(t->stores[i]);
        ks__task_db_close(t->db);
        for (size_t i = 0; t->logs && i < t->sub->store_cnt; i++)
                free(t->logs[i].topic);
        free(t->logs);
        if (t->lock_fd >= 0)
                close(t->lock_fd); /* releases the flock */
        for (size_t i = 0; i < t->punc_cnt; i++)
                free(t->puncs[i]);
        free(t->puncs);
        free(t->stores);
        free(t->insts);
        free(t->parts);
        free(t->dir);
        free(t->ctx.user_error);
        ks_error_destroy(t->pending);
        ks_headers_destroy(t->no_headers);
        ks_topology_destroy(t->topo);
        free(t);
}

size_t ks__task_store_count(const ks__task_t *t) {
        return t->sub->store_cnt;
}

const char *ks__task_changelog_topic(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt ? t->logs[i].topic : NULL;
}

const char *ks__task_store_name(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt ? t->stores[i]->name : NULL;
}

int64_t ks__task_changelog_offset(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt ? t->logs[i].checkpoint : -1;
}

ks_err_t ks__task_restore_put(ks__task_t *t, size_t i, const void *key,
                              size_t klen, const void *value, size_t vlen) {
        ks_kv_store_t *s = t->stores[i];
        if (s->closed)
                return KS_ERR_STORE_CLOSED;
        if (!key && t->logs[i].from_source)
                return KS_ERR_NO_ERROR; /* a table skips null keys */
        static const char empty[1];
        return (s->ops->restore_put ? s->ops->restore_put : s->ops->put)(
                s->impl, key ? key : empty, key ? klen : 0, value,
                value ? vlen : 0);
}

ks_err_t ks__task_restore_checkpoint(ks__task_t *t, size_t i,
                                     int64_t next_offset, int done,
                                     ks_error_t **errp) {
        changelog_t *cl = &t->logs[i];
        cl->checkpoint = next_offset;
        if (!t->db)
                return KS_ERR_NO_ERROR;
        /* Restored records go to the database unlogged, and a checkpoint
         * written makes the database flush them first: the checkpoint that
         * ends a restore is written by the task's first commit (the flush
         * runs meanwhile), others every KS_RESTORE_CHECKPOINT_EVERY
         * offsets. */
        int staged = stage_changelog_checkpoint(t, i, next_offset);
        if (done)
                return ks__task_db_write_restored(t->db, 1, errp);
        if (staged && next_offset - (cl->persisted < 0 ? 0 : cl->persisted) >=
                              KS_RESTORE_CHECKPOINT_EVERY) {
                cl->persisted = next_offset;
                return ks__task_db_commit(t->db, errp);
        }
        return ks__task_db_write_restored(t->db, 0, errp);
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

int32_t ks__task_partition(const ks__task_t *t) {
        return t->partition;
}

int64_t ks__task_source_checkpoint(const ks__task_t *t, const char *topic) {
        if (!t->db)
                return -1;
        char key[320];
        void *v;
        size_t vl;
        snprintf(key, sizeof(key), "source:%s:%" PRId32, topic, t->partition);
        if (ks__task_db_get_meta(t->db, key, &v, &vl, NULL))
                return -1;
        int64_t off = vl == 8 ? (int64_t)ks__be64_get(v) : -1;
        free(v);
        return off;
}

void ks__task_skip(ks__task_t *t, const char *topic, int64_t offset) {
        source_part_t *sp = source_part(t, topic);
        if (sp && offset + 1 > sp->next_offset)
                sp->next_offset = offset + 1;
}

int ks__task_changelog_from_source(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt && t->logs[i].from_source;
}

int64_t ks__task_changelog_position(const ks__task_t *t, size_t i) {
        if (i >= t->sub->store_cnt)
                return -1;
        if (t->logs[i].from_source) {
                /* The input processed so far is the store's content. */
                source_part_t *sp =
                        source_part((ks__task_t *)t, t->logs[i].topic);
                return sp && sp->next_offset >= 0 ? sp->next_offset
                                                  : t->logs[i].checkpoint;
        }
        return t->logs[i].delivered >= 0 ? t->logs[i].delivered + 1
                                         : t->logs[i].checkpoint;
}

ks_err_t ks__task_store_clear(ks__task_t *t, size_t i, ks_error_t **errp) {
        ks_kv_store_t *s = t->stores[i];
        void *cur;
        ks_err_t err = s->ops->cursor_open(s->impl, 0, NULL, 0, &cur);
        if (err)
                return ks__error_set(errp, err, "task %s: clearing store %s",
                                     t->id, s->name);
        /* Collect the keys first; then delete them. */
        char **keys = NULL;
        size_t *lens = NULL, cnt = 0, cap = 0;
        const void *k, *v;
        size_t kl, vl;
        while (!err && s->ops->cursor_next(cur, &k, &kl, &v, &vl, &err)) {
                if (cnt == cap) {
                        cap = cap ? cap * 2 : 256;
                        char **nk = realloc(keys, cap * sizeof(*nk));
                        size_t *nl =
                                nk ? realloc(lens, cap * sizeof(*nl)) : NULL;
                        if (nk)
                                keys = nk;
                        if (nl)
                                lens = nl;
                        if (!nk || !nl) {
                                err = KS_ERR_NO_MEMORY;
                                break;
                        }
                }
                if (!(keys[cnt] = malloc(kl + 1))) {
                        err = KS_ERR_NO_MEMORY;
                        break;
                }
                memcpy(keys[cnt], k, kl);
                lens[cnt++] = kl;
        }
        s->ops->cursor_close(cur);
        /* The deletes go the way the restored records go (ahead of them,
         * in order): staged as ordinary writes, they would be written
         * after the restore and wipe it. */
        ks_err_t (*del)(void *, const void *, size_t, const void *, size_t) =
                s->ops->restore_put ? s->ops->restore_put : s->ops->put;
        for (size_t j = 0; j < cnt; j++) {
                if (!err)
                        err = del(s->impl, keys[j], lens[j], NULL, 0);
                free(keys[j]);
        }
        free(keys);
        free(lens);
        if (err)
                return ks__error_set(errp, err, "task %s: clearing store %s",
                                     t->id, s->name);
        /* Written now: reads see the store empty even when nothing is
         * restored into it. */
        return t->db ? ks__task_db_commit(t->db, errp) : KS_ERR_NO_ERROR;
}

ks_err_t ks__task_relog(ks__task_t *t, size_t i, const void *key, size_t klen,
                        ks_error_t **errp) {
        ks_kv_store_t *s = t->stores[i];
        changelog_t *cl = &t->logs[i];
        static const char empty[1];
        if (!key)
                key = empty;
        const void *v = NULL;
        size_t vl = 0;
        ks_err_t err = s->ops->get(s->impl, key, klen, &v, &vl);
        if (err == KS_ERR_NOT_FOUND)
                v = NULL;
        else if (err)
                return ks__error_set(errp, err, "task %s: store %s", t->id,
                                     s->name);
        return t->env.collector.send_changelog(
                t->env.collector.opaque, cl->topic, t->partition, key, klen, v,
                vl, t->stream_time >= 0 ? t->stream_time : 0, &cl->delivered,
                errp);
}
