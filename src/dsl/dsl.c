/* The streams and tables DSL (see kstreams/dsl.h): every step adds nodes
 * to the builder's topology through the Processor API. What a processor
 * needs at run time (callbacks, names) lives in a step_t the topology owns;
 * handles (streams, tables, ...) belong to the builder. */
#include "kstreams/dsl.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/error_int.h"
#include "../common/util_int.h"
#include "../serde/serde_int.h"
#include "../state/global_store_int.h"
#include "../state/store_int.h"
#include "../topology/topology_int.h"

/* What a step's processor runs. */
typedef enum {
        STEP_FILTER,
        STEP_MAP,           /* ks_emit, once */
        STEP_MAP_VALUES,    /* ks_emit_value, once */
        STEP_FLAT_MAP,      /* ks_emit, any */
        STEP_FLAT_MAP_VAL,  /* ks_emit_value, any */
        STEP_SELECT_KEY,    /* ks_emit_key, once */
        STEP_GROUP_KEY,     /* ks_emit_key, once; null keys dropped */
        STEP_PASS,          /* merge, branch children, to_stream */
        STEP_PEEK,          /* action, then forward */
        STEP_FOREACH,       /* action */
        STEP_PRINT,         /* print */
        STEP_DROP_NULL_KEY, /* repartition filter */
        STEP_SPLIT,         /* first branch that keeps */
        STEP_COUNT,         /* aggregations */
        STEP_REDUCE,
        STEP_AGGREGATE,
        STEP_MATERIALIZE,  /* table source, to_table */
        STEP_TABLE_FILTER, /* tombstones for rows not kept */
        STEP_TABLE_MAP_VALUES,
        STEP_STREAM_JOIN,  /* stream record + the table's value */
        STEP_TABLE_JOIN,   /* one side's update + the other side's value */
        STEP_TABLE_GROUP,  /* a row's old and new (key, value) regrouped */
        STEP_TABLE_AGG,    /* adder and subtractor; agg_kind says which */
        STEP_GLOBAL_JOIN,  /* stream record + a global table's value */
        STEP_FK_SUBSCRIBE, /* FK join, left side: (un)subscribe a row */
        STEP_FK_SUB_RECV,  /* right side: keep subscriptions, answer */
        STEP_FK_R_UPDATE,  /* right side: a row changed, tell subscribers */
        STEP_FK_RESPONSE,  /* left side: join the answer, if still current */
} step_kind_t;

/* The header that tells a grouped table's aggregation whether a record
 * adds a row to its group or takes it out. */
#define CHANGE_HEADER "ks-table-change"

typedef struct {
        step_kind_t kind;
        char *name;
        int negate;
        ks_predicate_cb *pred;
        ks_mapper_cb *mapper;
        ks_action_cb *action;
        ks_initializer_cb *init;
        ks_aggregator_cb *agg;
        ks_value_joiner_cb *joiner;
        ks_join_kind_t join_kind;
        int right_side; /* STEP_TABLE_JOIN: this step gets the right side */
        void *opaque;
        char *store;  /* its own store, or (joins) the other side's */
        char *global; /* STEP_GLOBAL_JOIN: the global store */
        char *store2; /* STEP_FK_SUB_RECV: the right table's store */
        char *sub_sink, *resp_step; /* STEP_FK_SUBSCRIBE: its children */
        char *resp_sink; /* STEP_FK_SUB_RECV, _R_UPDATE: the response sink */
        int owns_store;
        step_kind_t agg_kind;  /* STEP_TABLE_AGG: STEP_COUNT, _REDUCE or
                                  _AGGREGATE */
        ks_aggregator_cb *sub; /* STEP_TABLE_AGG: the subtractor */
        char *label;
        ks_serde_kind_t key_kind, value_kind;
        /* split: branch i goes to child[i] when pred[i] keeps the record */
        ks_predicate_cb **preds;
        void **pred_opaques;
        char **children;
        size_t branch_cnt;
        char *default_child;
} step_t;

/* Per-task state of a step. */
typedef struct {
        step_t *step;
        ks_kv_store_t *store;
        ks_buf_t *buf, *buf2;
        ks_headers_t *no_headers;
        ks_headers_t *add, *sub; /* STEP_TABLE_GROUP: the change headers */
        ks__global_t *global;    /* STEP_GLOBAL_JOIN */
        ks_kv_store_t *store2;   /* STEP_FK_SUB_RECV */
} inst_t;

struct ks_emitter_s {
        ks_context_t *ctx;
        const ks_record_t *rec;
        const step_t *step;
        int count;
        char *error;
        ks_buf_t *key; /* STEP_GROUP_KEY, STEP_TABLE_GROUP: the new key */
        int key_null;
        ks_buf_t *value; /* STEP_TABLE_GROUP: the new value */
        int value_null;
};

typedef struct handle_s {
        struct handle_s *next;
        void (*free_fn)(void *);
} handle_t;

struct ks_builder_s {
        ks_topology_t *topo;
        ks_error_t *err;
        int index;
        int built;
        handle_t *handles;
        ks_serde_t **serdes; /* references the handles point to */
        size_t serde_cnt;
};

struct ks_stream_s {
        handle_t h;
        ks_builder_t *b;
        char *node;
        ks_serde_t *key_serde, *value_serde;
        int repartition_required;
};

struct ks_table_s {
        handle_t h;
        ks_builder_t *b;
        char *node;
        char *store; /* NULL: not materialized */
        ks_serde_t *key_serde, *value_serde;
};

struct ks_grouped_stream_s {
        handle_t h;
        ks_builder_t *b;
        char *node;
        ks_serde_t *key_serde, *value_serde;
        int repartition;
        char *name;   /* the repartition topic's middle part, or NULL */
        char *source; /* its repartition source, once made */
};

struct ks_grouped_table_s {
        handle_t h;
        ks_builder_t *b;
        char *node;   /* the regrouping step */
        char *name;   /* the repartition topic's middle part, or NULL */
        char *source; /* its repartition source, once made */
};

struct ks_global_table_s {
        handle_t h;
        ks_builder_t *b;
        char *store;
};

struct ks_split_s {
        handle_t h;
        ks_builder_t *b;
        step_t *step;
        char *node;
        char *prefix;
        ks_serde_t *key_serde, *value_serde;
        int repartition_required;
        int done;
};

/* --- the builder -------------------------------------------------------- */

static void step_free(void *p) {
        step_t *s = p;
        free(s->name);
        free(s->store);
        free(s->global);
        free(s->store2);
        free(s->sub_sink);
        free(s->resp_step);
        free(s->resp_sink);
        free(s->label);
        for (size_t i = 0; i < s->branch_cnt; i++)
                free(s->children[i]);
        free(s->children);
        free(s->preds);
        free(s->pred_opaques);
        free(s->default_child);
        free(s);
}

/* Keep the first error: a builder that failed takes no more steps. */
static void fail(ks_builder_t *b, ks_err_t code, const char *fmt, ...)
        KS_PRINTF(3, 4);
static void fail(ks_builder_t *b, ks_err_t code, const char *fmt, ...) {
        if (b->err)
                return;
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ks__error_set(&b->err, code, "%s", msg);
}

/* Take the error of a topology call about step @p what. */
static int failed_call(ks_builder_t *b, ks_err_t err, ks_error_t *e,
                       const char *what) {
        if (!err) {
                ks_error_destroy(e);
                return 0;
        }
        fail(b, err, "%s: %s", what, e ? ks_error_message(e) : ks_err2str(err));
        ks_error_destroy(e);
        return 1;
}

ks_builder_t *ks_builder_new(void) {
        ks_builder_t *b = calloc(1, sizeof(*b));
        if (b && !(b->topo = ks_topology_new())) {
                free(b);
                return NULL;
        }
        return b;
}

void ks_builder_destroy(ks_builder_t *b) {
        if (!b)
                return;
        while (b->handles) {
                handle_t *h = b->handles;
                b->handles = h->next;
                h->free_fn(h);
        }
        for (size_t i = 0; i < b->serde_cnt; i++)
                ks_serde_destroy(b->serdes[i]);
        free(b->serdes);
        ks_error_destroy(b->err);
        ks_topology_destroy(b->topo);
        free(b);
}

ks_topology_t *ks_builder_topology(ks_builder_t *b) {
        return b ? b->topo : NULL;
}

ks_err_t ks_builder_build(ks_builder_t *b, ks_topology_t **topop,
                          ks_error_t **errp) {
        if (!b || !topop)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "build needs a builder and a topology "
                                     "pointer");
        if (b->err)
                return ks__error_set(errp, ks_error_code(b->err), "%s",
                                     ks_error_message(b->err));
        ks_err_t err = ks_topology_build(b->topo, errp);
        if (err)
                return err;
        b->built = 1;
        *topop = ks__topology_ref(b->topo);
        return KS_ERR_NO_ERROR;
}

/* Whether a step may be taken on @p b (else NULL handles result). */
static int usable(ks_builder_t *b, const char *what) {
        if (!b)
                return 0;
        if (b->built)
                fail(b, KS_ERR_STATE, "%s: the builder has built its topology",
                     what);
        return !b->err;
}

static ks_serde_t *keep_serde(ks_builder_t *b, ks_serde_t *s) {
        if (!s)
                return NULL;
        ks_serde_t **v =
                realloc(b->serdes, (b->serde_cnt + 1) * sizeof(*b->serdes));
        if (!v) {
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        b->serdes = v;
        b->serdes[b->serde_cnt++] = ks__serde_ref(s);
        return s;
}

static void *handle_new(ks_builder_t *b, size_t size, void (*free_fn)(void *)) {
        handle_t *h = calloc(1, size);
        if (!h) {
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        h->free_fn = free_fn;
        h->next = b->handles;
        b->handles = h;
        return h;
}

/* The step name: the user's, or "<kind>-<index>"; the index is taken
 * either way. Returns NULL (builder failed) when out of memory. */
static char *step_name(ks_builder_t *b, const char *user, const char *kind) {
        int index = b->index++;
        char buf[64];
        if (!user || !*user)
                snprintf(buf, sizeof(buf), "%.40s-%010d", kind, index);
        char *s = ks__strdup(user && *user ? user : buf);
        if (!s)
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return s;
}

static void stream_free(void *p) {
        ks_stream_t *s = p;
        free(s->node);
        free(s);
}

static void table_free(void *p) {
        ks_table_t *t = p;
        free(t->node);
        free(t->store);
        free(t);
}

static void grouped_free(void *p) {
        ks_grouped_stream_t *g = p;
        free(g->node);
        free(g->name);
        free(g->source);
        free(g);
}

static void split_free(void *p) {
        ks_split_t *sp = p;
        free(sp->node);
        free(sp->prefix);
        free(sp);
}

/* A stream whose records come out of node @p node (taken over). */
static ks_stream_t *stream_new(ks_builder_t *b, char *node, ks_serde_t *ks,
                               ks_serde_t *vs, int repartition_required) {
        ks_stream_t *s = node ? handle_new(b, sizeof(*s), stream_free) : NULL;
        if (!s) {
                free(node);
                return NULL;
        }
        s->b = b;
        s->node = node;
        s->key_serde = ks;
        s->value_serde = vs;
        s->repartition_required = repartition_required;
        return s;
}

static ks_table_t *table_new(ks_builder_t *b, char *node, const char *store,
                             ks_serde_t *ks, ks_serde_t *vs) {
        ks_table_t *t = node ? handle_new(b, sizeof(*t), table_free) : NULL;
        if (!t) {
                free(node);
                return NULL;
        }
        t->b = b;
        t->node = node;
        t->key_serde = ks;
        t->value_serde = vs;
        if (store && !(t->store = ks__strdup(store)))
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return t;
}

/* --- the record cache --------------------------------------------------- */

/* The key's current value: the cache's, else the store's. */
static ks_err_t state_get(inst_t *in, const void *key, size_t klen,
                          const void **valuep, size_t *vlenp) {
        return ks__record_cache_get(in->store, key, klen, valuep, vlenp);
}

/* A join's view of the other side's store: through its record cache. */
static ks_err_t store_get_cached(ks_kv_store_t *store, const void *key,
                                 size_t klen, const void **valuep,
                                 size_t *vlenp) {
        return ks__record_cache_get(store, key, klen, valuep, vlenp);
}

static ks_err_t table_get(inst_t *in, const void *key, size_t klen,
                          const void **valuep, size_t *vlenp) {
        return store_get_cached(in->store, key, klen, valuep, vlenp);
}

/* Write a change to the store and forward it: now, with the record being
 * processed, or from the cache, with the timestamp of its last update. */
static ks_err_t write_out(ks_context_t *ctx, inst_t *in, const void *key,
                          size_t klen, const void *value, size_t vlen,
                          int64_t ts, int from_cache) {
        ks_err_t err =
                value ? ks_kv_store_put(in->store, key, klen, value, vlen)
                      : ks_kv_store_delete(in->store, key, klen, NULL, NULL);
        if (err && err != KS_ERR_NOT_FOUND)
                return err;
        if (!from_cache && in->step->kind != STEP_TABLE_AGG)
                return ks_context_forward(ctx, key, klen, value, vlen);
        if (!from_cache)
                ts = ks_context_timestamp(ctx);
        return ks_context_forward_record(ctx, NULL, key, klen, value, vlen, ts,
                                         in->no_headers);
}

/* What the cache lets out: written and forwarded as it left. */
static ks_err_t cache_write(void *opaque, void *arg, const void *key,
                            size_t klen, const void *value, size_t vlen,
                            int64_t ts) {
        return write_out(arg, opaque, key, klen, value, vlen, ts, 1);
}

/* Set the key's value (NULL: delete). With a cache, the change waits
 * there for the next flush (commit) or eviction: a hot key written many
 * times in between goes out once. Without, it goes out now. */
static ks_err_t state_put(ks_context_t *ctx, inst_t *in, const void *key,
                          size_t klen, const void *value, size_t vlen) {
        if (!in->store->cache)
                return write_out(ctx, in, key, klen, value, vlen, 0, 0);
        return ks__record_cache_put(in->store->cache, key, klen, value, vlen,
                                    ks_context_timestamp(ctx), ctx);
}

/* Before a commit: write out every dirty entry, oldest first; the entries
 * stay, clean, for reads. */
static ks_err_t step_flush(ks_context_t *ctx, void *state) {
        inst_t *in = state;
        if (!in || !in->step->owns_store || !in->store->cache)
                return KS_ERR_NO_ERROR;
        return ks__record_cache_flush(in->store->cache, ctx);
}

/* --- processors --------------------------------------------------------- */

static ks_err_t inst_init(ks_context_t *ctx, void *opaque, void **statep) {
        step_t *st = opaque;
        inst_t *in = calloc(1, sizeof(*in));
        if (!in)
                return KS_ERR_NO_MEMORY;
        in->step = st;
        if (st->store) {
                ks_err_t err =
                        ks_context_get_kv_store(ctx, st->store, &in->store);
                if (err) {
                        free(in);
                        return ks_context_set_error(
                                ctx, "step %s: store %s: %s", st->name,
                                st->store, ks_err2str(err));
                }
        }
        if (st->store2) {
                ks_err_t err =
                        ks_context_get_kv_store(ctx, st->store2, &in->store2);
                if (err) {
                        free(in);
                        return ks_context_set_error(
                                ctx, "step %s: store %s: %s", st->name,
                                st->store2, ks_err2str(err));
                }
        }
        if (st->global && !(in->global = ks__context_global(ctx, st->global))) {
                free(in);
                return ks_context_set_error(ctx, "step %s: no global store %s",
                                            st->name, st->global);
        }
        if (st->kind == STEP_TABLE_GROUP &&
            (!(in->add = ks_headers_new()) || !(in->sub = ks_headers_new()) ||
             ks_headers_add(in->add, CHANGE_HEADER, "+", 1) ||
             ks_headers_add(in->sub, CHANGE_HEADER, "-", 1))) {
                ks_headers_destroy(in->add);
                ks_headers_destroy(in->sub);
                free(in);
                return KS_ERR_NO_MEMORY;
        }
        if (!(in->buf = ks_buf_new()) || !(in->buf2 = ks_buf_new()) ||
            !(in->no_headers = ks_headers_new()) ||
            (st->owns_store &&
             ks__record_cache_attach(in->store, cache_write, in))) {
                ks_headers_destroy(in->no_headers);
                ks_buf_destroy(in->buf);
                ks_buf_destroy(in->buf2);
                free(in);
                return KS_ERR_NO_MEMORY;
        }
        *statep = in;
        return KS_ERR_NO_ERROR;
}

static void inst_close(ks_context_t *ctx, void *state) {
        (void)ctx;
        inst_t *in = state;
        if (!in)
                return;
        /* Dirty entries are not written: a task closes after its last
         * commit flushed them, or without committing (the changes are void
         * and the input is processed again). */
        if (in->step->owns_store)
                ks__record_cache_detach(in->store);
        ks_headers_destroy(in->no_headers);
        ks_headers_destroy(in->add);
        ks_headers_destroy(in->sub);
        ks_buf_destroy(in->buf);
        ks_buf_destroy(in->buf2);
        free(in);
}

static const char *mapper_use(step_kind_t k) {
        switch (k) {
        case STEP_MAP:
        case STEP_FLAT_MAP:
        case STEP_TABLE_GROUP:
                return "ks_emit()";
        case STEP_SELECT_KEY:
        case STEP_GROUP_KEY:
        case STEP_GLOBAL_JOIN:
        case STEP_FK_SUBSCRIBE:
                return "ks_emit_key()";
        default:
                return "ks_emit_value()";
        }
}

static ks_err_t emit_check(ks_emitter_t *out, const char *fn) {
        if (!out || !out->ctx)
                return KS_ERR_INVALID_ARG;
        if (strcmp(fn, mapper_use(out->step->kind))) {
                free(out->error);
                out->error = NULL;
                size_t n = 256;
                if ((out->error = malloc(n)))
                        snprintf(out->error, n,
                                 "the mapper called %s; this step takes %s", fn,
                                 mapper_use(out->step->kind));
                return KS_ERR_INVALID_ARG;
        }
        out->count++;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_emit(ks_emitter_t *out, const void *key, size_t key_size,
                 const void *value, size_t value_size) {
        ks_err_t err = emit_check(out, "ks_emit()");
        if (err)
                return err;
        if (out->step->kind == STEP_TABLE_GROUP) {
                out->key_null = !key;
                out->value_null = !value;
                ks_buf_reset(out->key);
                ks_buf_reset(out->value);
                if (key)
                        err = ks_buf_append(out->key, key, key_size);
                if (!err && value)
                        err = ks_buf_append(out->value, value, value_size);
                return err;
        }
        return ks_context_forward(out->ctx, key, key_size, value, value_size);
}

ks_err_t ks_emit_value(ks_emitter_t *out, const void *value,
                       size_t value_size) {
        ks_err_t err = emit_check(out, "ks_emit_value()");
        if (err)
                return err;
        size_t klen;
        const void *key = ks_record_key(out->rec, &klen);
        return ks_context_forward(out->ctx, key, klen, value, value_size);
}

ks_err_t ks_emit_key(ks_emitter_t *out, const void *key, size_t key_size) {
        ks_err_t err = emit_check(out, "ks_emit_key()");
        if (err)
                return err;
        if (out->step->kind == STEP_GROUP_KEY ||
            out->step->kind == STEP_GLOBAL_JOIN ||
            out->step->kind == STEP_FK_SUBSCRIBE) {
                out->key_null = !key;
                ks_buf_reset(out->key);
                return key ? ks_buf_append(out->key, key, key_size)
                           : KS_ERR_NO_ERROR;
        }
        size_t vlen;
        const void *value = ks_record_value(out->rec, &vlen);
        return ks_context_forward(out->ctx, key, key_size, value, vlen);
}

ks_err_t ks_emitter_set_error(ks_emitter_t *out, const char *fmt, ...) {
        if (!out)
                return KS_ERR_PROCESSOR;
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        free(out->error);
        out->error = ks__strdup(msg);
        return KS_ERR_PROCESSOR;
}

static ks_err_t run_mapper(ks_context_t *ctx, const ks_record_t *rec,
                           inst_t *in) {
        const step_t *st = in->step;
        ks_emitter_t out = {.ctx = ctx, .rec = rec, .step = st, .key = in->buf};
        ks_err_t err = st->mapper(st->opaque, rec, &out);
        int once = st->kind == STEP_MAP || st->kind == STEP_MAP_VALUES ||
                   st->kind == STEP_SELECT_KEY || st->kind == STEP_GROUP_KEY ||
                   st->kind == STEP_TABLE_MAP_VALUES;
        if (!err && once && out.count != 1)
                err = ks_context_set_error(ctx,
                                           "step %s: the mapper must call %s "
                                           "exactly once per record; it "
                                           "called it %d times",
                                           st->name, mapper_use(st->kind),
                                           out.count);
        else if (err && out.error)
                err = ks_context_set_error(ctx, "step %s: %s", st->name,
                                           out.error);
        else if (err)
                ks_context_set_error(ctx, "step %s: the mapper failed (%s)",
                                     st->name, ks_err2str(err));
        free(out.error);
        if (err || st->kind != STEP_GROUP_KEY || out.key_null)
                return err;
        size_t vlen;
        const void *value = ks_record_value(rec, &vlen);
        return ks_context_forward(ctx, ks_buf_data(in->buf),
                                  ks_buf_len(in->buf), value, vlen);
}

/* Render @p data of serde kind @p kind for print(). */
static void render(FILE *f, ks_serde_kind_t kind, const void *data,
                   size_t size) {
        if (!data) {
                fputs("null", f);
                return;
        }
        int64_t i64;
        int32_t i32;
        double d;
        if (kind == KS_SERDE_INT64 && !ks_int64_decode(data, size, &i64, NULL))
                fprintf(f, "%" PRId64, i64);
        else if (kind == KS_SERDE_INT32 &&
                 !ks_int32_decode(data, size, &i32, NULL))
                fprintf(f, "%" PRId32, i32);
        else if (kind == KS_SERDE_DOUBLE &&
                 !ks_double_decode(data, size, &d, NULL))
                fprintf(f, "%g", d);
        else {
                const unsigned char *p = data;
                int printable = 1;
                for (size_t i = 0; i < size && printable; i++)
                        printable = isprint(p[i]) || p[i] == '\t';
                if (printable || kind == KS_SERDE_STRING ||
                    kind == KS_SERDE_AVRO)
                        fwrite(p, 1, size, f);
                else
                        for (size_t i = 0; i < size; i++)
                                fprintf(f, "%02x", p[i]);
        }
}

/* The aggregation steps: fold the record into the key's aggregate, store
 * it and forward the change. */
static ks_err_t run_aggregate(ks_context_t *ctx, const ks_record_t *rec,
                              inst_t *in) {
        const step_t *st = in->step;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key || !value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: skipped */
        const void *old = NULL;
        size_t olen = 0;
        ks_err_t err = state_get(in, key, klen, &old, &olen);
        if (err == KS_ERR_NOT_FOUND) {
                old = NULL;
                err = KS_ERR_NO_ERROR;
        }
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->name,
                        st->store, ks_err2str(err));
        ks_buf_t *out = in->buf;
        ks_buf_reset(out);
        switch (st->kind) {
        case STEP_COUNT: {
                int64_t n = 0;
                if (old && ks_int64_decode(old, olen, &n, NULL))
                        return ks_context_set_error(
                                ctx,
                                "step %s: store %s holds a value of %zu "
                                "bytes, not a count",
                                st->name, st->store, olen);
                uint8_t b[8];
                ks_int64_encode(n + 1, b);
                err = ks_buf_append(out, b, sizeof(b));
                break;
        }
        case STEP_REDUCE:
                if (!old)
                        err = ks_buf_append(out, value, vlen);
                else
                        err = st->agg(st->opaque, rec, old, olen, out);
                break;
        default: /* STEP_AGGREGATE */
                if (!old) {
                        ks_buf_t *init = in->buf2;
                        ks_buf_reset(init);
                        err = st->init(st->opaque, init);
                        if (!err)
                                err = st->agg(st->opaque, rec,
                                              ks_buf_data(init),
                                              ks_buf_len(init), out);
                } else {
                        err = st->agg(st->opaque, rec, old, olen, out);
                }
                break;
        }
        if (err)
                return ks_context_set_error(
                        ctx,
                        "step %s: the %s callback "
                        "failed (%s)",
                        st->name,
                        st->kind == STEP_REDUCE ? "reducer" : "aggregator",
                        ks_err2str(err));
        return state_put(ctx, in, key, klen, ks_buf_data(out), ks_buf_len(out));
}

/* A join step: this record with the other side's current value. */
static ks_err_t run_join(ks_context_t *ctx, const ks_record_t *rec,
                         inst_t *in) {
        const step_t *st = in->step;
        size_t klen, vlen, olen = 0;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key || (st->kind == STEP_STREAM_JOIN && !value))
                return KS_ERR_NO_ERROR; /* as Kafka Streams: dropped */
        const void *other = NULL;
        ks_err_t err = table_get(in, key, klen, &other, &olen);
        if (err == KS_ERR_NOT_FOUND) {
                other = NULL;
                olen = 0;
        } else if (err) {
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->name,
                        st->store, ks_err2str(err));
        }
        const void *l = st->right_side ? other : value;
        const void *r = st->right_side ? value : other;
        size_t ll = st->right_side ? olen : vlen;
        size_t rl = st->right_side ? vlen : olen;
        int result = st->join_kind == KS_JOIN_INNER  ? l && r
                     : st->join_kind == KS_JOIN_LEFT ? l != NULL
                                                     : l || r;
        if (!result)
                return st->kind == STEP_STREAM_JOIN
                               ? KS_ERR_NO_ERROR
                               : ks_context_forward(ctx, key, klen, NULL, 0);
        /* The other side's value may live in a cache the joiner's output
         * could move: join into a buffer of our own first. */
        ks_buf_t *out = in->buf;
        ks_buf_reset(out);
        err = st->joiner(st->opaque, l, ll, r, rl, out);
        if (err)
                return ks_context_set_error(ctx,
                                            "step %s: the joiner failed (%s)",
                                            st->name, ks_err2str(err));
        return ks_context_forward(ctx, key, klen, ks_buf_data(out),
                                  ks_buf_len(out));
}

/* Regroup one row of (key, value): map it, send it out with @p hdrs. */
static ks_err_t regroup(ks_context_t *ctx, inst_t *in, const void *key,
                        size_t klen, const void *value, size_t vlen,
                        const ks_headers_t *hdrs, ks_buf_t *nv) {
        const step_t *st = in->step;
        ks_record_t row = {
                key,           klen, value, vlen, ks_context_timestamp(ctx),
                in->no_headers};
        ks_buf_t *nk = in->buf;
        ks_emitter_t out = {
                .ctx = ctx, .rec = &row, .step = st, .key = nk, .value = nv};
        ks_err_t err = st->mapper(st->opaque, &row, &out);
        if (!err && out.count != 1)
                err = ks_context_set_error(ctx,
                                           "step %s: the key selector must "
                                           "call ks_emit() exactly once per "
                                           "row; it called it %d times",
                                           st->name, out.count);
        else if (err)
                err = ks_context_set_error(ctx, "step %s: %s", st->name,
                                           out.error ? out.error
                                                     : ks_err2str(err));
        free(out.error);
        if (err || out.key_null || out.value_null)
                return err; /* rows without a group key or value: none */
        return ks_context_forward_record(
                ctx, NULL, ks_buf_data(nk), ks_buf_len(nk), ks_buf_data(nv),
                ks_buf_len(nv), ks_context_timestamp(ctx), hdrs);
}

/* A table row changed: take its old version out of its group and add the
 * new one to its (maybe new) group. The old rows are kept in the step's
 * own store. */
static ks_err_t run_table_group(ks_context_t *ctx, const ks_record_t *rec,
                                inst_t *in) {
        size_t klen, vlen, olen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key)
                return KS_ERR_NO_ERROR;
        const void *old;
        ks_err_t err = ks_kv_store_get(in->store, key, klen, &old, &olen);
        if (err == KS_ERR_NO_ERROR) {
                ks_buf_t *copy = in->buf2;
                ks_buf_reset(copy);
                if ((err = ks_buf_append(copy, old, olen)))
                        return err;
                ks_buf_t *nv = ks_buf_new();
                if (!nv)
                        return KS_ERR_NO_MEMORY;
                err = regroup(ctx, in, key, klen, ks_buf_data(copy),
                              ks_buf_len(copy), in->sub, nv);
                ks_buf_destroy(nv);
        } else if (err == KS_ERR_NOT_FOUND) {
                err = KS_ERR_NO_ERROR;
        }
        if (err)
                return err;
        if (value) {
                ks_buf_t *nv = ks_buf_new();
                if (!nv)
                        return KS_ERR_NO_MEMORY;
                err = regroup(ctx, in, key, klen, value, vlen, in->add, nv);
                ks_buf_destroy(nv);
                if (err)
                        return err;
                return ks_kv_store_put(in->store, key, klen, value, vlen);
        }
        err = ks_kv_store_delete(in->store, key, klen, NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

/* A grouped table's aggregation: add or subtract the record. */
static ks_err_t run_table_agg(ks_context_t *ctx, const ks_record_t *rec,
                              inst_t *in) {
        const step_t *st = in->step;
        size_t klen, vlen, hl = 0;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        const void *h = NULL;
        ks_headers_get_last(ks_record_headers(rec), CHANGE_HEADER, &h, &hl);
        int subtract = h && hl == 1 && *(const char *)h == '-';
        if (!key || !value)
                return KS_ERR_NO_ERROR;
        const void *old = NULL;
        size_t olen = 0;
        ks_err_t err = state_get(in, key, klen, &old, &olen);
        if (err == KS_ERR_NOT_FOUND) {
                old = NULL;
                err = KS_ERR_NO_ERROR;
        }
        if (err)
                return err;
        ks_buf_t *out = in->buf;
        ks_buf_reset(out);
        if (st->agg_kind == STEP_COUNT) {
                int64_t n = 0;
                if (old && ks_int64_decode(old, olen, &n, NULL))
                        return ks_context_set_error(
                                ctx, "step %s: store %s holds no count",
                                st->name, st->store);
                uint8_t b[8];
                ks_int64_encode(n + (subtract ? -1 : 1), b);
                err = ks_buf_append(out, b, sizeof(b));
        } else if (st->agg_kind == STEP_REDUCE && !old) {
                if (subtract)
                        return KS_ERR_NO_ERROR; /* nothing to take from */
                err = ks_buf_append(out, value, vlen);
        } else {
                ks_buf_t *init = in->buf2;
                if (!old) {
                        ks_buf_reset(init);
                        if ((err = st->init(st->opaque, init)))
                                return ks_context_set_error(
                                        ctx, "step %s: the initializer failed",
                                        st->name);
                        old = ks_buf_data(init);
                        olen = ks_buf_len(init);
                }
                err = (subtract ? st->sub : st->agg)(st->opaque, rec, old, olen,
                                                     out);
                if (err)
                        return ks_context_set_error(
                                ctx, "step %s: the %s failed (%s)", st->name,
                                subtract ? "subtractor" : "adder",
                                ks_err2str(err));
        }
        if (err)
                return err;
        return state_put(ctx, in, key, klen, ks_buf_data(out), ks_buf_len(out));
}

/* A stream record joined with the global table's value for the key the
 * key mapper makes of it. */
static ks_err_t run_global_join(ks_context_t *ctx, const ks_record_t *rec,
                                inst_t *in) {
        const step_t *st = in->step;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: dropped */
        ks_emitter_t out = {.ctx = ctx, .rec = rec, .step = st, .key = in->buf};
        ks_err_t err = st->mapper(st->opaque, rec, &out);
        if (!err && out.count != 1)
                err = ks_context_set_error(ctx,
                                           "step %s: the key mapper must call "
                                           "ks_emit_key() exactly once per "
                                           "record; it called it %d times",
                                           st->name, out.count);
        else if (err)
                err = ks_context_set_error(ctx, "step %s: %s", st->name,
                                           out.error ? out.error
                                                     : ks_err2str(err));
        free(out.error);
        if (err)
                return err;
        int found = 0;
        if (!out.key_null) {
                found = ks__global_get(in->global, ks_buf_data(in->buf),
                                       ks_buf_len(in->buf), in->buf2, &err);
                if (err)
                        return err;
        }
        if (!found && st->join_kind == KS_JOIN_INNER)
                return KS_ERR_NO_ERROR;
        ks_buf_t *joined = in->buf;
        ks_buf_reset(joined);
        err = st->joiner(st->opaque, value, vlen,
                         found ? ks_buf_data(in->buf2) : NULL,
                         found ? ks_buf_len(in->buf2) : 0, joined);
        if (err)
                return ks_context_set_error(ctx,
                                            "step %s: the joiner failed (%s)",
                                            st->name, ks_err2str(err));
        return ks_context_forward(ctx, key, klen, ks_buf_data(joined),
                                  ks_buf_len(joined));
}

/* --- foreign-key join --------------------------------------------------- *
 * Left rows subscribe to the right row their foreign key names, through the
 * subscription topic (partitioned by the foreign key); the right side keeps
 * the subscriptions and answers through the response topic (partitioned by
 * the left key), on a subscription and whenever the right row changes. The
 * left side joins an answer only if it is about the row's current value
 * (the hash of the value it subscribed with). */

#define FK_UNSUBSCRIBE 0
#define FK_SUBSCRIBE   1
#define FK_NO_VALUE    0 /* response: the right row does not exist */
#define FK_VALUE       1
#define FK_DELETED     2 /* response: the left row is gone */

/* "<kind or instruction><hash><bytes>" into @p out. */
static ks_err_t fk_encode(ks_buf_t *out, int tag, uint64_t hash,
                          const void *data, size_t n) {
        uint8_t h[9];
        h[0] = (uint8_t)tag;
        ks__be64_put(h + 1, hash);
        ks_buf_reset(out);
        ks_err_t err = ks_buf_append(out, h, sizeof(h));
        return err || !data ? err : ks_buf_append(out, data, n);
}

static ks_err_t run_fk_subscribe(ks_context_t *ctx, const ks_record_t *rec,
                                 inst_t *in) {
        const step_t *st = in->step;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key)
                return KS_ERR_NO_ERROR;
        /* The new foreign key (none for a deleted row). */
        ks_emitter_t out = {.ctx = ctx,
                            .rec = rec,
                            .step = st,
                            .key = in->buf,
                            .key_null = 1};
        ks_err_t err = KS_ERR_NO_ERROR;
        if (value) {
                err = st->mapper(st->opaque, rec, &out);
                if (!err && out.count != 1)
                        err = ks_context_set_error(
                                ctx,
                                "step %s: the foreign key extractor must call "
                                "ks_emit_key() exactly once per row; it called "
                                "it %d times",
                                st->name, out.count);
                else if (err)
                        err = ks_context_set_error(ctx, "step %s: %s", st->name,
                                                   out.error ? out.error
                                                             : ks_err2str(err));
                free(out.error);
                if (err)
                        return err;
        }
        const void *prev;
        size_t plen;
        ks_err_t ge = ks_kv_store_get(in->store, key, klen, &prev, &plen);
        if (ge && ge != KS_ERR_NOT_FOUND)
                return ge;
        int has_prev = ge == KS_ERR_NO_ERROR;
        int same = has_prev && !out.key_null && plen == ks_buf_len(in->buf) &&
                   !memcmp(prev, ks_buf_data(in->buf), plen);
        ks_buf_t *msg = ks_buf_new();
        if (!msg)
                return KS_ERR_NO_MEMORY;
        if (has_prev && !same) {
                /* Leave the old foreign key's row. */
                err = fk_encode(msg, FK_UNSUBSCRIBE, 0, key, klen);
                if (!err)
                        err = ks_context_forward_to(ctx, st->sub_sink, prev,
                                                    plen, ks_buf_data(msg),
                                                    ks_buf_len(msg));
        }
        uint64_t h = value ? ks__fnv1a64(value, vlen) : 0;
        if (!err && value && !out.key_null) {
                err = fk_encode(msg, FK_SUBSCRIBE, h, key, klen);
                if (!err)
                        err = ks_context_forward_to(
                                ctx, st->sub_sink, ks_buf_data(in->buf),
                                ks_buf_len(in->buf), ks_buf_data(msg),
                                ks_buf_len(msg));
                if (!err)
                        err = ks_kv_store_put(in->store, key, klen,
                                              ks_buf_data(in->buf),
                                              ks_buf_len(in->buf));
        } else if (!err) {
                /* Deleted, or no foreign key: answered here. */
                if (has_prev) {
                        ks_err_t de = ks_kv_store_delete(in->store, key, klen,
                                                         NULL, NULL);
                        err = de == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : de;
                }
                if (!err)
                        err = fk_encode(msg, value ? FK_NO_VALUE : FK_DELETED,
                                        h, NULL, 0);
                if (!err)
                        err = ks_context_forward_to(ctx, st->resp_step, key,
                                                    klen, ks_buf_data(msg),
                                                    ks_buf_len(msg));
        }
        ks_buf_destroy(msg);
        return err;
}

/* The subscription store's key: 4-byte length of the foreign key, the
 * foreign key, the left key; so a prefix scan finds a row's subscribers. */
static ks_err_t fk_sub_key(ks_buf_t *b, const void *fk, size_t fl,
                           const void *key, size_t kl) {
        uint8_t n[4];
        ks__be32_put(n, (uint32_t)fl);
        ks_buf_reset(b);
        ks_err_t err = ks_buf_append(b, n, 4);
        if (!err)
                err = ks_buf_append(b, fk, fl);
        return err || !key ? err : ks_buf_append(b, key, kl);
}

static ks_err_t fk_respond(ks_context_t *ctx, inst_t *in, const void *key,
                           size_t kl, uint64_t hash, const void *rv,
                           size_t rl) {
        ks_buf_t *msg = ks_buf_new();
        if (!msg)
                return KS_ERR_NO_MEMORY;
        ks_err_t err =
                fk_encode(msg, rv ? FK_VALUE : FK_NO_VALUE, hash, rv, rl);
        if (!err)
                err = ks_context_forward_to(ctx, in->step->resp_sink, key, kl,
                                            ks_buf_data(msg), ks_buf_len(msg));
        ks_buf_destroy(msg);
        return err;
}

static ks_err_t run_fk_sub_recv(ks_context_t *ctx, const ks_record_t *rec,
                                inst_t *in) {
        size_t fl, vl;
        const uint8_t *fk = ks_record_key(rec, &fl);
        const uint8_t *v = ks_record_value(rec, &vl);
        if (!fk || !v || vl < 9)
                return ks_context_set_error(ctx,
                                            "step %s: a subscription of %zu "
                                            "bytes is not one",
                                            in->step->name, v ? vl : 0);
        uint64_t hash = ks__be64_get(v + 1);
        const void *key = v + 9;
        size_t kl = vl - 9;
        ks_err_t err = fk_sub_key(in->buf, fk, fl, key, kl);
        if (err)
                return err;
        if (v[0] == FK_UNSUBSCRIBE) {
                err = ks_kv_store_delete(in->store, ks_buf_data(in->buf),
                                         ks_buf_len(in->buf), NULL, NULL);
                return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
        }
        uint8_t hb[8];
        ks__be64_put(hb, hash);
        if ((err = ks_kv_store_put(in->store, ks_buf_data(in->buf),
                                   ks_buf_len(in->buf), hb, 8)))
                return err;
        const void *rv = NULL;
        size_t rl = 0;
        err = store_get_cached(in->store2, fk, fl, &rv, &rl);
        if (err == KS_ERR_NOT_FOUND)
                rv = NULL, err = KS_ERR_NO_ERROR;
        if (err)
                return err;
        /* The right value may sit in a cache a later write moves: copy. */
        ks_buf_reset(in->buf2);
        if (rv && (err = ks_buf_append(in->buf2, rv, rl)))
                return err;
        return fk_respond(ctx, in, key, kl, hash,
                          rv ? ks_buf_data(in->buf2) : NULL, rl);
}

static ks_err_t run_fk_r_update(ks_context_t *ctx, const ks_record_t *rec,
                                inst_t *in) {
        size_t fl, vl;
        const void *fk = ks_record_key(rec, &fl);
        const void *rv = ks_record_value(rec, &vl);
        if (!fk)
                return KS_ERR_NO_ERROR;
        ks_err_t err = fk_sub_key(in->buf, fk, fl, NULL, 0);
        ks_kv_iter_t *it = NULL;
        if (!err)
                err = ks_kv_store_prefix_scan(in->store, ks_buf_data(in->buf),
                                              ks_buf_len(in->buf), &it);
        const void *sk, *sv;
        size_t skl, svl;
        while (!err && ks_kv_iter_next(it, &sk, &skl, &sv, &svl)) {
                size_t head = 4 + fl;
                if (skl < head || svl != 8)
                        continue;
                err = fk_respond(ctx, in, (const uint8_t *)sk + head,
                                 skl - head, ks__be64_get(sv), rv, vl);
        }
        if (!err && it)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        return err;
}

static ks_err_t run_fk_response(ks_context_t *ctx, const ks_record_t *rec,
                                inst_t *in) {
        const step_t *st = in->step;
        size_t kl, ml;
        const void *key = ks_record_key(rec, &kl);
        const uint8_t *m = ks_record_value(rec, &ml);
        if (!key || !m || ml < 9)
                return KS_ERR_NO_ERROR;
        const void *lv = NULL;
        size_t ll = 0;
        ks_err_t err = table_get(in, key, kl, &lv, &ll);
        if (err == KS_ERR_NOT_FOUND)
                lv = NULL, err = KS_ERR_NO_ERROR;
        if (err)
                return err;
        if (m[0] == FK_DELETED || !lv)
                return ks_context_forward(ctx, key, kl, NULL, 0);
        if (ks__be64_get(m + 1) != ks__fnv1a64(lv, ll))
                return KS_ERR_NO_ERROR; /* about an older value: stale */
        if (m[0] == FK_NO_VALUE && st->join_kind == KS_JOIN_INNER)
                return ks_context_forward(ctx, key, kl, NULL, 0);
        ks_buf_t *l = in->buf2, *out = in->buf;
        ks_buf_reset(l);
        if ((err = ks_buf_append(l, lv, ll)))
                return err;
        ks_buf_reset(out);
        err = st->joiner(st->opaque, ks_buf_data(l), ks_buf_len(l),
                         m[0] == FK_VALUE ? m + 9 : NULL,
                         m[0] == FK_VALUE ? ml - 9 : 0, out);
        if (err)
                return ks_context_set_error(ctx,
                                            "step %s: the joiner failed (%s)",
                                            st->name, ks_err2str(err));
        return ks_context_forward(ctx, key, kl, ks_buf_data(out),
                                  ks_buf_len(out));
}

static ks_err_t step_process(ks_context_t *ctx, const ks_record_t *rec,
                             void *state) {
        inst_t *in = state;
        const step_t *st = in->step;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        switch (st->kind) {
        case STEP_FILTER:
                if (!st->pred(st->opaque, rec) == !st->negate)
                        return KS_ERR_NO_ERROR;
                return ks_context_forward(ctx, key, klen, value, vlen);
        case STEP_MAP:
        case STEP_MAP_VALUES:
        case STEP_FLAT_MAP:
        case STEP_FLAT_MAP_VAL:
        case STEP_SELECT_KEY:
        case STEP_GROUP_KEY:
                return run_mapper(ctx, rec, in);
        case STEP_TABLE_MAP_VALUES:
                if (!value)
                        return ks_context_forward(ctx, key, klen, NULL, 0);
                return run_mapper(ctx, rec, in);
        case STEP_PASS:
                return ks_context_forward(ctx, key, klen, value, vlen);
        case STEP_PEEK:
                st->action(st->opaque, rec);
                return ks_context_forward(ctx, key, klen, value, vlen);
        case STEP_FOREACH:
                st->action(st->opaque, rec);
                return KS_ERR_NO_ERROR;
        case STEP_PRINT:
                printf("[%s]: ", st->label);
                render(stdout, st->key_kind, key, klen);
                fputs(", ", stdout);
                render(stdout, st->value_kind, value, vlen);
                fputc('\n', stdout);
                return KS_ERR_NO_ERROR;
        case STEP_DROP_NULL_KEY:
                if (!key)
                        return KS_ERR_NO_ERROR;
                return ks_context_forward(ctx, key, klen, value, vlen);
        case STEP_SPLIT:
                for (size_t i = 0; i < st->branch_cnt; i++)
                        if (st->preds[i](st->pred_opaques[i], rec))
                                return ks_context_forward_to(
                                        ctx, st->children[i], key, klen, value,
                                        vlen);
                if (st->default_child)
                        return ks_context_forward_to(ctx, st->default_child,
                                                     key, klen, value, vlen);
                return KS_ERR_NO_ERROR;
        case STEP_COUNT:
        case STEP_REDUCE:
        case STEP_AGGREGATE:
                return run_aggregate(ctx, rec, in);
        case STEP_MATERIALIZE:
                if (!key)
                        return KS_ERR_NO_ERROR;
                return state_put(ctx, in, key, klen, value, vlen);
        case STEP_STREAM_JOIN:
        case STEP_TABLE_JOIN:
                return run_join(ctx, rec, in);
        case STEP_TABLE_GROUP:
                return run_table_group(ctx, rec, in);
        case STEP_GLOBAL_JOIN:
                return run_global_join(ctx, rec, in);
        case STEP_FK_SUBSCRIBE:
                return run_fk_subscribe(ctx, rec, in);
        case STEP_FK_SUB_RECV:
                return run_fk_sub_recv(ctx, rec, in);
        case STEP_FK_R_UPDATE:
                return run_fk_r_update(ctx, rec, in);
        case STEP_FK_RESPONSE:
                return run_fk_response(ctx, rec, in);
        case STEP_TABLE_AGG:
                return run_table_agg(ctx, rec, in);
        case STEP_TABLE_FILTER:
                if (value && !st->pred(st->opaque, rec) == !st->negate)
                        value = NULL, vlen = 0;
                return ks_context_forward(ctx, key, klen, value, vlen);
        }
        return KS_ERR_NO_ERROR;
}

/* --- adding steps ------------------------------------------------------- */

/* Add a processor running @p st (taken over) under @p parents; NULL if the
 * builder failed. */
static step_t *add_step(ks_builder_t *b, step_t *st, const char *const *parents,
                        size_t parent_cnt) {
        ks_error_t *e = NULL;
        ks_err_t err = ks__topology_own(b->topo, st, step_free);
        if (err) {
                fail(b, err, "out of memory");
                return NULL;
        }
        err = ks_topology_add_processor(b->topo, st->name, inst_init,
                                        step_process, inst_close, st, parents,
                                        parent_cnt, &e);
        if (failed_call(b, err, e, st->name))
                return NULL;
        if (st->store) {
                err = ks_topology_connect_store(b->topo, st->store, st->name,
                                                &e);
                if (failed_call(b, err, e, st->name))
                        return NULL;
                ks__topology_set_flush(b->topo, st->name, step_flush);
        }
        return st;
}

/* A new step of @p kind named @p user or "<kind_name>-<index>". */
static step_t *step_new(ks_builder_t *b, step_kind_t kind, const char *user,
                        const char *kind_name) {
        step_t *st = calloc(1, sizeof(*st));
        if (!st) {
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        st->kind = kind;
        if (!(st->name = step_name(b, user, kind_name))) {
                free(st);
                return NULL;
        }
        return st;
}

/* One processor step after @p parent; its node name (copy) or NULL. */
static char *chain(ks_builder_t *b, const char *parent, step_t *st) {
        if (!st)
                return NULL;
        const char *parents[] = {parent};
        char *name = ks__strdup(st->name);
        if (!name) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        if (!add_step(b, st, parents, 1)) {
                free(name);
                return NULL;
        }
        return name;
}

static int need(ks_builder_t *b, const void *p, const char *what,
                const char *arg) {
        if (!p)
                fail(b, KS_ERR_INVALID_ARG, "%s: %s may not be NULL", what,
                     arg);
        return p != NULL;
}

ks_stream_t *ks_builder_stream(ks_builder_t *b, const char *const *topics,
                               size_t topic_cnt, ks_serde_t *key_serde,
                               ks_serde_t *value_serde, const char *name) {
        if (!usable(b, "stream"))
                return NULL;
        char *node = step_name(b, name, "KSTREAM-SOURCE");
        if (!node)
                return NULL;
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_source(b->topo, node, topics, topic_cnt,
                                              key_serde, value_serde, &e);
        if (failed_call(b, err, e, node)) {
                free(node);
                return NULL;
        }
        return stream_new(b, node, keep_serde(b, key_serde),
                          keep_serde(b, value_serde), 0);
}

/* A materializing step (table source, to_table) with a logged RocksDB
 * store named @p store or "<prefix>-STATE-STORE-<index>". */
static ks_table_t *materialize(ks_builder_t *b, const char *parent,
                               const char *store, const char *store_prefix,
                               const char *name, const char *kind,
                               ks_serde_t *ks, ks_serde_t *vs) {
        step_t *st = step_new(b, STEP_MATERIALIZE, name, kind);
        if (!st)
                return NULL;
        char sbuf[300];
        snprintf(sbuf, sizeof(sbuf), "%s-STATE-STORE-%010d", store_prefix,
                 b->index++);
        st->owns_store = 1;
        if (!(st->store = ks__strdup(store ? store : sbuf))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_kv_store(b->topo, st->store,
                                                KS_STORE_ROCKSDB, 0, &e);
        if (failed_call(b, err, e, st->name)) {
                step_free(st);
                return NULL;
        }
        char *storename = ks__strdup(st->store);
        char *node = chain(b, parent, st);
        ks_table_t *t = node ? table_new(b, node, storename, ks, vs) : NULL;
        free(storename);
        return t;
}

ks_table_t *ks_builder_table(ks_builder_t *b, const char *topic,
                             ks_serde_t *key_serde, ks_serde_t *value_serde,
                             const char *store_name) {
        if (!usable(b, "table") || !need(b, topic, "table", "topic"))
                return NULL;
        char *src = step_name(b, NULL, "KSTREAM-SOURCE");
        if (!src)
                return NULL;
        const char *topics[] = {topic};
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_source(b->topo, src, topics, 1,
                                              key_serde, value_serde, &e);
        ks_table_t *t = NULL;
        if (!failed_call(b, err, e, src))
                t = materialize(b, src, store_name, topic, NULL,
                                "KTABLE-SOURCE", keep_serde(b, key_serde),
                                keep_serde(b, value_serde));
        /* The topic is the store's changelog (as Kafka Streams' source
         * table optimization): no changelog topic of its own. */
        if (t && ks__topology_store_source(b->topo, t->store, topic))
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        free(src);
        return t;
}

static ks_stream_t *stream_step(ks_stream_t *s, step_kind_t kind,
                                const char *kind_name, const char *name,
                                int negate, ks_predicate_cb *pred,
                                ks_mapper_cb *mapper, ks_action_cb *action,
                                void *opaque) {
        if (!s || !usable(s->b, kind_name))
                return NULL;
        ks_builder_t *b = s->b;
        if ((kind == STEP_FILTER && !need(b, pred, kind_name, "predicate")) ||
            ((kind == STEP_PEEK || kind == STEP_FOREACH) &&
             !need(b, action, kind_name, "action")) ||
            (kind != STEP_FILTER && kind != STEP_PEEK && kind != STEP_FOREACH &&
             kind != STEP_PASS && !need(b, mapper, kind_name, "mapper")))
                return NULL;
        step_t *st = step_new(b, kind, name, kind_name);
        if (!st)
                return NULL;
        st->negate = negate;
        st->pred = pred;
        st->mapper = mapper;
        st->action = action;
        st->opaque = opaque;
        char *node = chain(b, s->node, st);
        int rekeyed = kind == STEP_MAP || kind == STEP_FLAT_MAP ||
                      kind == STEP_SELECT_KEY;
        int new_value = kind == STEP_MAP || kind == STEP_MAP_VALUES ||
                        kind == STEP_FLAT_MAP || kind == STEP_FLAT_MAP_VAL;
        return stream_new(b, node, rekeyed ? NULL : s->key_serde,
                          new_value ? NULL : s->value_serde,
                          s->repartition_required || rekeyed);
}

ks_stream_t *ks_stream_filter(ks_stream_t *s, ks_predicate_cb *pred,
                              void *opaque, const char *name) {
        return stream_step(s, STEP_FILTER, "KSTREAM-FILTER", name, 0, pred,
                           NULL, NULL, opaque);
}

ks_stream_t *ks_stream_filter_not(ks_stream_t *s, ks_predicate_cb *pred,
                                  void *opaque, const char *name) {
        return stream_step(s, STEP_FILTER, "KSTREAM-FILTER", name, 1, pred,
                           NULL, NULL, opaque);
}

ks_stream_t *ks_stream_map(ks_stream_t *s, ks_mapper_cb *mapper, void *opaque,
                           const char *name) {
        return stream_step(s, STEP_MAP, "KSTREAM-MAP", name, 0, NULL, mapper,
                           NULL, opaque);
}

ks_stream_t *ks_stream_map_values(ks_stream_t *s, ks_mapper_cb *mapper,
                                  void *opaque, const char *name) {
        return stream_step(s, STEP_MAP_VALUES, "KSTREAM-MAPVALUES", name, 0,
                           NULL, mapper, NULL, opaque);
}

ks_stream_t *ks_stream_flat_map(ks_stream_t *s, ks_mapper_cb *mapper,
                                void *opaque, const char *name) {
        return stream_step(s, STEP_FLAT_MAP, "KSTREAM-FLATMAP", name, 0, NULL,
                           mapper, NULL, opaque);
}

ks_stream_t *ks_stream_flat_map_values(ks_stream_t *s, ks_mapper_cb *mapper,
                                       void *opaque, const char *name) {
        return stream_step(s, STEP_FLAT_MAP_VAL, "KSTREAM-FLATMAPVALUES", name,
                           0, NULL, mapper, NULL, opaque);
}

ks_stream_t *ks_stream_select_key(ks_stream_t *s, ks_mapper_cb *mapper,
                                  void *opaque, const char *name) {
        return stream_step(s, STEP_SELECT_KEY, "KSTREAM-KEY-SELECT", name, 0,
                           NULL, mapper, NULL, opaque);
}

ks_stream_t *ks_stream_peek(ks_stream_t *s, ks_action_cb *action, void *opaque,
                            const char *name) {
        return stream_step(s, STEP_PEEK, "KSTREAM-PEEK", name, 0, NULL, NULL,
                           action, opaque);
}

static ks_err_t terminal(ks_stream_t *s, ks_stream_t *r) {
        if (r)
                return KS_ERR_NO_ERROR;
        if (!s || !s->b)
                return KS_ERR_INVALID_ARG;
        return s->b->err ? ks_error_code(s->b->err) : KS_ERR_INVALID_ARG;
}

ks_err_t ks_stream_foreach(ks_stream_t *s, ks_action_cb *action, void *opaque,
                           const char *name) {
        return terminal(s, stream_step(s, STEP_FOREACH, "KSTREAM-FOREACH", name,
                                       0, NULL, NULL, action, opaque));
}

ks_err_t ks_stream_print(ks_stream_t *s, const char *label, const char *name) {
        if (!s || !usable(s->b, "print"))
                return terminal(s, NULL);
        ks_builder_t *b = s->b;
        step_t *st = step_new(b, STEP_PRINT, name, "KSTREAM-PRINTER");
        if (!st)
                return terminal(s, NULL);
        st->key_kind =
                s->key_serde ? ks_serde_kind(s->key_serde) : KS_SERDE_BYTES;
        st->value_kind =
                s->value_serde ? ks_serde_kind(s->value_serde) : KS_SERDE_BYTES;
        if (!(st->label = ks__strdup(label ? label : st->name))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return terminal(s, NULL);
        }
        char *node = chain(b, s->node, st);
        free(node);
        return node ? KS_ERR_NO_ERROR : terminal(s, NULL);
}

ks_stream_t *ks_stream_merge(ks_stream_t *s, ks_stream_t *other,
                             const char *name) {
        if (!s || !usable(s->b, "merge"))
                return NULL;
        ks_builder_t *b = s->b;
        if (!other || other->b != b) {
                fail(b, KS_ERR_INVALID_ARG, "merge: the other stream is %s",
                     other ? "from another builder" : "NULL");
                return NULL;
        }
        step_t *st = step_new(b, STEP_PASS, name, "KSTREAM-MERGE");
        if (!st)
                return NULL;
        const char *parents[] = {s->node, other->node};
        char *node = ks__strdup(st->name);
        if (!node || !add_step(b, st, parents, 2)) {
                if (!node) {
                        step_free(st);
                        fail(b, KS_ERR_NO_MEMORY, "out of memory");
                }
                free(node);
                return NULL;
        }
        int same = s->key_serde == other->key_serde &&
                   s->value_serde == other->value_serde;
        return stream_new(b, node, same ? s->key_serde : NULL,
                          same ? s->value_serde : NULL,
                          s->repartition_required ||
                                  other->repartition_required);
}

ks_stream_t *ks_stream_with_serdes(ks_stream_t *s, ks_serde_t *key_serde,
                                   ks_serde_t *value_serde) {
        if (!s || !usable(s->b, "with_serdes"))
                return NULL;
        char *node = ks__strdup(s->node);
        if (!node) {
                fail(s->b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        return stream_new(s->b, node, keep_serde(s->b, key_serde),
                          keep_serde(s->b, value_serde),
                          s->repartition_required);
}

static ks_err_t add_sink(ks_stream_t *s, const char *topic, const char *name,
                         ks_topic_extractor_cb *extractor, void *opaque) {
        if (!s || !usable(s->b, "to"))
                return terminal(s, NULL);
        ks_builder_t *b = s->b;
        char *node = step_name(b, name, "KSTREAM-SINK");
        if (!node)
                return terminal(s, NULL);
        const char *parents[] = {s->node};
        ks_error_t *e = NULL;
        ks_err_t err =
                extractor
                        ? ks__topology_add_dynamic_sink(
                                  b->topo, node, extractor, opaque,
                                  s->key_serde, s->value_serde, parents, 1, &e)
                        : ks_topology_add_sink(b->topo, node, topic,
                                               s->key_serde, s->value_serde,
                                               parents, 1, &e);
        int bad = failed_call(b, err, e, node);
        free(node);
        return bad ? terminal(s, NULL) : KS_ERR_NO_ERROR;
}

ks_err_t ks_stream_to(ks_stream_t *s, const char *topic, const char *name) {
        if (s && !need(s->b, topic, "to", "topic"))
                return terminal(s, NULL);
        return add_sink(s, topic, name, NULL, NULL);
}

ks_err_t ks_stream_to_dynamic(ks_stream_t *s, ks_topic_extractor_cb *extractor,
                              void *opaque, const char *name) {
        if (s && !need(s->b, (void *)extractor, "to", "topic extractor"))
                return terminal(s, NULL);
        return add_sink(s, NULL, name, extractor, opaque);
}

/* Sink + source through the internal topic "<base>-repartition"; the
 * stream read back. */
static char *through_repartition(ks_builder_t *b, const char *parent,
                                 const char *base, int partitions,
                                 ks_serde_t *ks, ks_serde_t *vs) {
        char topic[300], sink[320], src[320];
        snprintf(topic, sizeof(topic), "%s-repartition", base);
        snprintf(sink, sizeof(sink), "%s-sink", topic);
        snprintf(src, sizeof(src), "%s-source", topic);
        const char *parents[] = {parent};
        const char *topics[] = {topic};
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_sink(b->topo, sink, topic, ks, vs,
                                            parents, 1, &e);
        if (failed_call(b, err, e, sink))
                return NULL;
        ks__topology_set_internal(b->topo, sink);
        ks__topology_node(b->topo, sink)->partitions = partitions;
        err = ks_topology_add_source(b->topo, src, topics, 1, ks, vs, &e);
        if (failed_call(b, err, e, src))
                return NULL;
        ks__topology_set_internal(b->topo, src);
        char *node = ks__strdup(src);
        if (!node)
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return node;
}

ks_stream_t *ks_stream_repartition(ks_stream_t *s, int partitions,
                                   const char *name) {
        if (!s || !usable(s->b, "repartition"))
                return NULL;
        ks_builder_t *b = s->b;
        if (partitions < 0) {
                fail(b, KS_ERR_INVALID_ARG, "repartition: %d partitions",
                     partitions);
                return NULL;
        }
        char *base = step_name(b, name, "KSTREAM-REPARTITION");
        char *node = base ? through_repartition(b, s->node, base, partitions,
                                                s->key_serde, s->value_serde)
                          : NULL;
        free(base);
        return stream_new(b, node, s->key_serde, s->value_serde, 0);
}

ks_stream_t *ks_stream_process(ks_stream_t *s, ks_processor_init_cb *init,
                               ks_processor_process_cb *process,
                               ks_processor_close_cb *close, void *opaque,
                               const char *const *stores, size_t store_cnt,
                               const char *name) {
        if (!s || !usable(s->b, "process"))
                return NULL;
        ks_builder_t *b = s->b;
        char *node = step_name(b, name, "KSTREAM-PROCESSOR");
        if (!node)
                return NULL;
        const char *parents[] = {s->node};
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_processor(b->topo, node, init, process,
                                                 close, opaque, parents, 1, &e);
        for (size_t i = 0; !err && i < store_cnt; i++)
                err = ks_topology_connect_store(b->topo, stores[i], node, &e);
        if (failed_call(b, err, e, node)) {
                free(node);
                return NULL;
        }
        return stream_new(b, node, NULL, NULL, 1);
}

/* --- split -------------------------------------------------------------- */

ks_split_t *ks_stream_split(ks_stream_t *s, const char *name) {
        if (!s || !usable(s->b, "split"))
                return NULL;
        ks_builder_t *b = s->b;
        step_t *st = step_new(b, STEP_SPLIT, NULL, "KSTREAM-BRANCH");
        if (!st)
                return NULL;
        ks_split_t *sp = handle_new(b, sizeof(*sp), split_free);
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s", name ? name : st->name);
        if (!name)
                strncat(prefix, "-", sizeof(prefix) - strlen(prefix) - 1);
        if (name) {
                /* The split itself is named after the prefix. */
                char *n = ks__strdup(name);
                if (n) {
                        free(st->name);
                        st->name = n;
                }
        }
        if (!sp || !(sp->prefix = ks__strdup(prefix)) ||
            !(sp->node = chain(b, s->node, st))) {
                if (sp && !sp->prefix)
                        fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        sp->b = b;
        sp->step = st;
        sp->key_serde = s->key_serde;
        sp->value_serde = s->value_serde;
        sp->repartition_required = s->repartition_required;
        return sp;
}

static ks_stream_t *branch(ks_split_t *sp, ks_predicate_cb *pred, void *opaque,
                           const char *name, int is_default) {
        if (!sp || !usable(sp->b, "split"))
                return NULL;
        ks_builder_t *b = sp->b;
        if (sp->done) {
                fail(b, KS_ERR_INVALID_ARG,
                     "split %s: a branch after the default branch", sp->node);
                return NULL;
        }
        if (!is_default && !need(b, (void *)pred, "split", "predicate"))
                return NULL;
        step_t *st = step_new(b, STEP_PASS, NULL, "KSTREAM-BRANCHCHILD");
        if (!st)
                return NULL;
        char buf[600];
        if (name)
                snprintf(buf, sizeof(buf), "%s%s", sp->prefix, name);
        else
                snprintf(buf, sizeof(buf), "%s%zu", sp->prefix,
                         sp->step->branch_cnt + 1 - (size_t)is_default);
        if (!name && is_default)
                snprintf(buf, sizeof(buf), "%s0", sp->prefix);
        char *n = ks__strdup(buf);
        if (!n) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        free(st->name);
        st->name = n;
        step_t *sst = sp->step;
        if (is_default) {
                if (!(sst->default_child = ks__strdup(n)))
                        fail(b, KS_ERR_NO_MEMORY, "out of memory");
                sp->done = 1;
        } else {
                size_t c = sst->branch_cnt + 1;
                ks_predicate_cb **p = realloc(sst->preds, c * sizeof(*p));
                if (p)
                        sst->preds = p;
                void **o =
                        p ? realloc(sst->pred_opaques, c * sizeof(*o)) : NULL;
                if (o)
                        sst->pred_opaques = o;
                char **ch = o ? realloc(sst->children, c * sizeof(*ch)) : NULL;
                if (ch)
                        sst->children = ch;
                char *cn = ch ? ks__strdup(n) : NULL;
                if (!cn) {
                        step_free(st);
                        fail(b, KS_ERR_NO_MEMORY, "out of memory");
                        return NULL;
                }
                sst->preds[sst->branch_cnt] = pred;
                sst->pred_opaques[sst->branch_cnt] = opaque;
                sst->children[sst->branch_cnt++] = cn;
        }
        char *node = chain(b, sp->node, st);
        return stream_new(b, node, sp->key_serde, sp->value_serde,
                          sp->repartition_required);
}

ks_stream_t *ks_split_branch(ks_split_t *sp, ks_predicate_cb *pred,
                             void *opaque, const char *name) {
        return branch(sp, pred, opaque, name, 0);
}

ks_stream_t *ks_split_default(ks_split_t *sp, const char *name) {
        return branch(sp, NULL, NULL, name, 1);
}

/* --- grouping and aggregation ------------------------------------------- */

static ks_grouped_stream_t *grouped_new(ks_builder_t *b, char *node,
                                        ks_serde_t *ks, ks_serde_t *vs,
                                        int repartition, const char *name) {
        ks_grouped_stream_t *g =
                node ? handle_new(b, sizeof(*g), grouped_free) : NULL;
        if (!g) {
                free(node);
                return NULL;
        }
        g->b = b;
        g->node = node;
        g->key_serde = ks;
        g->value_serde = vs;
        g->repartition = repartition;
        if (name && !(g->name = ks__strdup(name)))
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return g;
}

ks_grouped_stream_t *ks_stream_group_by_key(ks_stream_t *s, const char *name) {
        if (!s || !usable(s->b, "group_by_key"))
                return NULL;
        char *node = ks__strdup(s->node);
        if (!node)
                fail(s->b, KS_ERR_NO_MEMORY, "out of memory");
        return grouped_new(s->b, node, s->key_serde, s->value_serde,
                           s->repartition_required, name);
}

ks_grouped_stream_t *ks_stream_group_by(ks_stream_t *s, ks_mapper_cb *selector,
                                        void *opaque, const char *name) {
        if (!s || !usable(s->b, "group_by") ||
            !need(s->b, (void *)selector, "group_by", "key selector"))
                return NULL;
        ks_builder_t *b = s->b;
        step_t *st = step_new(b, STEP_GROUP_KEY, NULL, "KSTREAM-KEY-SELECT");
        if (!st)
                return NULL;
        st->mapper = selector;
        st->opaque = opaque;
        char *node = chain(b, s->node, st);
        return grouped_new(b, node, NULL, s->value_serde, 1, name);
}

static ks_table_t *aggregation(ks_grouped_stream_t *g, step_kind_t kind,
                               ks_initializer_cb *init, ks_aggregator_cb *agg,
                               void *opaque, const char *store_name,
                               const char *name, const char *what) {
        if (!g || !usable(g->b, what))
                return NULL;
        ks_builder_t *b = g->b;
        if ((kind == STEP_AGGREGATE &&
             (!need(b, (void *)init, what, "initializer") ||
              !need(b, (void *)agg, what, "aggregator"))) ||
            (kind == STEP_REDUCE && !need(b, (void *)agg, what, "reducer")))
                return NULL;
        step_t *st = step_new(b, kind, name,
                              kind == STEP_REDUCE ? "KSTREAM-REDUCE"
                                                  : "KSTREAM-AGGREGATE");
        if (!st)
                return NULL;
        char sbuf[300];
        snprintf(sbuf, sizeof(sbuf), "%s-STATE-STORE-%010d",
                 kind == STEP_REDUCE ? "KSTREAM-REDUCE" : "KSTREAM-AGGREGATE",
                 b->index++);
        st->init = init;
        st->agg = agg;
        st->opaque = opaque;
        st->owns_store = 1;
        if (!(st->store = ks__strdup(store_name ? store_name : sbuf))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_kv_store(b->topo, st->store,
                                                KS_STORE_ROCKSDB, 0, &e);
        if (failed_call(b, err, e, st->name)) {
                step_free(st);
                return NULL;
        }
        /* Aggregations of one grouped stream share its repartition topic. */
        char *parent = ks__strdup(g->source ? g->source : g->node);
        int ok = parent != NULL;
        if (ok && g->repartition && !g->source) {
                /* Null keys cannot be partitioned: dropped first. */
                const char *base = g->name ? g->name : st->store;
                char fname[320];
                snprintf(fname, sizeof(fname), "%s-repartition-filter", base);
                step_t *f = step_new(b, STEP_DROP_NULL_KEY, fname, "");
                char *fnode = f ? chain(b, parent, f) : NULL;
                char *src = fnode ? through_repartition(b, fnode, base, 0,
                                                        g->key_serde,
                                                        g->value_serde)
                                  : NULL;
                free(fnode);
                free(parent);
                parent = src;
                ok = src != NULL;
                if (ok && !(g->source = ks__strdup(src)))
                        ok = 0;
        }
        char *storename = ok ? ks__strdup(st->store) : NULL;
        char *node = storename ? chain(b, parent, st) : (step_free(st), NULL);
        free(parent);
        ks_serde_t *vs = kind == STEP_REDUCE  ? g->value_serde
                         : kind == STEP_COUNT ? ks_serde_int64()
                                              : NULL;
        ks_table_t *t =
                node ? table_new(b, node, storename, g->key_serde, vs) : NULL;
        free(storename);
        if (!ok && !b->err)
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return t;
}

ks_table_t *ks_grouped_count(ks_grouped_stream_t *g, const char *store_name,
                             const char *name) {
        return aggregation(g, STEP_COUNT, NULL, NULL, NULL, store_name, name,
                           "count");
}

ks_table_t *ks_grouped_reduce(ks_grouped_stream_t *g, ks_aggregator_cb *reducer,
                              void *opaque, const char *store_name,
                              const char *name) {
        return aggregation(g, STEP_REDUCE, NULL, reducer, opaque, store_name,
                           name, "reduce");
}

ks_table_t *ks_grouped_aggregate(ks_grouped_stream_t *g,
                                 ks_initializer_cb *init,
                                 ks_aggregator_cb *aggregator, void *opaque,
                                 const char *store_name, const char *name) {
        return aggregation(g, STEP_AGGREGATE, init, aggregator, opaque,
                           store_name, name, "aggregate");
}

/* --- tables ------------------------------------------------------------- */

static ks_table_t *table_step(ks_table_t *t, step_kind_t kind,
                              const char *kind_name, const char *name,
                              int negate, ks_predicate_cb *pred,
                              ks_mapper_cb *mapper, void *opaque) {
        if (!t || !usable(t->b, kind_name))
                return NULL;
        ks_builder_t *b = t->b;
        if ((kind == STEP_TABLE_FILTER &&
             !need(b, (void *)pred, kind_name, "predicate")) ||
            (kind == STEP_TABLE_MAP_VALUES &&
             !need(b, (void *)mapper, kind_name, "mapper")))
                return NULL;
        step_t *st = step_new(b, kind, name, kind_name);
        if (!st)
                return NULL;
        st->negate = negate;
        st->pred = pred;
        st->mapper = mapper;
        st->opaque = opaque;
        char *node = chain(b, t->node, st);
        return table_new(b, node, NULL, t->key_serde,
                         kind == STEP_TABLE_FILTER ? t->value_serde : NULL);
}

ks_table_t *ks_table_filter(ks_table_t *t, ks_predicate_cb *pred, void *opaque,
                            const char *name) {
        return table_step(t, STEP_TABLE_FILTER, "KTABLE-FILTER", name, 0, pred,
                          NULL, opaque);
}

ks_table_t *ks_table_filter_not(ks_table_t *t, ks_predicate_cb *pred,
                                void *opaque, const char *name) {
        return table_step(t, STEP_TABLE_FILTER, "KTABLE-FILTER", name, 1, pred,
                          NULL, opaque);
}

ks_table_t *ks_table_map_values(ks_table_t *t, ks_mapper_cb *mapper,
                                void *opaque, const char *name) {
        return table_step(t, STEP_TABLE_MAP_VALUES, "KTABLE-MAPVALUES", name, 0,
                          NULL, mapper, opaque);
}

ks_stream_t *ks_table_to_stream(ks_table_t *t, const char *name) {
        if (!t || !usable(t->b, "to_stream"))
                return NULL;
        step_t *st = step_new(t->b, STEP_PASS, name, "KTABLE-TOSTREAM");
        char *node = st ? chain(t->b, t->node, st) : NULL;
        return stream_new(t->b, node, t->key_serde, t->value_serde, 0);
}

ks_table_t *ks_stream_to_table(ks_stream_t *s, const char *store_name,
                               const char *name) {
        if (!s || !usable(s->b, "to_table"))
                return NULL;
        if (s->repartition_required) {
                /* The key changed upstream: a table needs its rows where
                 * their keys are partitioned, as Kafka Streams does. */
                ks_stream_t *r = ks_stream_repartition(s, 0, NULL);
                if (!r)
                        return NULL;
                s = r;
        }
        return materialize(s->b, s->node, store_name, "KSTREAM-TOTABLE", name,
                           "KSTREAM-TOTABLE", s->key_serde, s->value_serde);
}

const char *ks_table_store_name(const ks_table_t *t) {
        return t ? t->store : NULL;
}

/* --- joins -------------------------------------------------------------- */

static int materialized(ks_builder_t *b, const ks_table_t *t,
                        const char *what) {
        if (!t || t->b != b) {
                fail(b, KS_ERR_INVALID_ARG, "%s: the table is %s", what,
                     t ? "from another builder" : "NULL");
                return 0;
        }
        if (!t->store)
                fail(b, KS_ERR_INVALID_ARG,
                     "%s: table %s has no store (a filtered or mapped "
                     "table); join the table it came from, or make one "
                     "with ks_stream_to_table()",
                     what, t->node);
        return t->store != NULL;
}

static ks_stream_t *stream_join(ks_stream_t *s, ks_table_t *t,
                                ks_value_joiner_cb *joiner, void *opaque,
                                const char *name, ks_join_kind_t kind) {
        const char *what = kind == KS_JOIN_INNER ? "join" : "left_join";
        if (!s || !usable(s->b, what))
                return NULL;
        ks_builder_t *b = s->b;
        if (!materialized(b, t, what) ||
            !need(b, (void *)joiner, what, "joiner"))
                return NULL;
        if (s->repartition_required && !(s = ks_stream_repartition(s, 0, NULL)))
                return NULL;
        step_t *st = step_new(b, STEP_STREAM_JOIN, name,
                              kind == KS_JOIN_INNER ? "KSTREAM-JOIN"
                                                    : "KSTREAM-LEFTJOIN");
        if (!st)
                return NULL;
        st->joiner = joiner;
        st->opaque = opaque;
        st->join_kind = kind;
        if (!(st->store = ks__strdup(t->store))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        char *node = chain(b, s->node, st);
        return stream_new(b, node, s->key_serde, NULL, 0);
}

ks_stream_t *ks_stream_join_table(ks_stream_t *s, ks_table_t *t,
                                  ks_value_joiner_cb *joiner, void *opaque,
                                  const char *name) {
        return stream_join(s, t, joiner, opaque, name, KS_JOIN_INNER);
}

ks_stream_t *ks_stream_left_join_table(ks_stream_t *s, ks_table_t *t,
                                       ks_value_joiner_cb *joiner, void *opaque,
                                       const char *name) {
        return stream_join(s, t, joiner, opaque, name, KS_JOIN_LEFT);
}

ks_table_t *ks_table_join(ks_table_t *left, ks_table_t *right,
                          ks_join_kind_t kind, ks_value_joiner_cb *joiner,
                          void *opaque, const char *name) {
        if (!left || !usable(left->b, "table join"))
                return NULL;
        ks_builder_t *b = left->b;
        if (!materialized(b, left, "table join") ||
            !materialized(b, right, "table join") ||
            !need(b, (void *)joiner, "table join", "joiner"))
                return NULL;
        if (kind != KS_JOIN_INNER && kind != KS_JOIN_LEFT &&
            kind != KS_JOIN_OUTER) {
                fail(b, KS_ERR_INVALID_ARG, "table join: unknown kind %d",
                     (int)kind);
                return NULL;
        }
        char this_name[300], other_name[300];
        snprintf(this_name, sizeof(this_name), "%s-join-this",
                 name ? name : "");
        snprintf(other_name, sizeof(other_name), "%s-join-other",
                 name ? name : "");
        step_t *sides[2] = {
                step_new(b, STEP_TABLE_JOIN, name ? this_name : NULL,
                         "KTABLE-JOINTHIS"),
                step_new(b, STEP_TABLE_JOIN, name ? other_name : NULL,
                         "KTABLE-JOINOTHER")};
        step_t *merge = step_new(b, STEP_PASS, name, "KTABLE-MERGE");
        if (!sides[0] || !sides[1] || !merge) {
                if (sides[0])
                        step_free(sides[0]);
                if (sides[1])
                        step_free(sides[1]);
                if (merge)
                        step_free(merge);
                return NULL;
        }
        const ks_table_t *from[2] = {left, right};
        char *nodes[2] = {NULL, NULL};
        for (int i = 0; i < 2; i++) {
                step_t *st = sides[i];
                st->joiner = joiner;
                st->opaque = opaque;
                st->join_kind = kind;
                st->right_side = i;
                st->store = ks__strdup(from[1 - i]->store);
                nodes[i] = st->store ? chain(b, from[i]->node, st)
                                     : (step_free(st), NULL);
        }
        ks_table_t *t = NULL;
        char *mname = ks__strdup(merge->name);
        if (nodes[0] && nodes[1] && mname) {
                const char *parents[] = {nodes[0], nodes[1]};
                if (add_step(b, merge, parents, 2)) {
                        t = table_new(b, mname, NULL, left->key_serde, NULL);
                        mname = NULL;
                }
        } else {
                step_free(merge);
                if (!b->err)
                        fail(b, KS_ERR_NO_MEMORY, "out of memory");
        }
        free(mname);
        free(nodes[0]);
        free(nodes[1]);
        return t;
}

/* --- grouped tables ----------------------------------------------------- */

static void grouped_table_free(void *p) {
        ks_grouped_table_t *g = p;
        free(g->node);
        free(g->name);
        free(g->source);
        free(g);
}

ks_grouped_table_t *ks_table_group_by(ks_table_t *t, ks_mapper_cb *selector,
                                      void *opaque, const char *name) {
        if (!t || !usable(t->b, "table group_by") ||
            !need(t->b, (void *)selector, "table group_by", "key selector"))
                return NULL;
        ks_builder_t *b = t->b;
        step_t *st = step_new(b, STEP_TABLE_GROUP, NULL, "KTABLE-SELECT");
        if (!st)
                return NULL;
        st->mapper = selector;
        st->opaque = opaque;
        /* The rows as last seen, to take them out of their old group. */
        char sbuf[320];
        snprintf(sbuf, sizeof(sbuf), "%s-rows", name ? name : st->name);
        if (!(st->store = ks__strdup(sbuf))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_kv_store(b->topo, st->store,
                                                KS_STORE_ROCKSDB, 0, &e);
        if (failed_call(b, err, e, st->name)) {
                step_free(st);
                return NULL;
        }
        char *node = chain(b, t->node, st);
        ks_grouped_table_t *g =
                node ? handle_new(b, sizeof(*g), grouped_table_free) : NULL;
        if (!g) {
                free(node);
                return NULL;
        }
        g->b = b;
        g->node = node;
        if (name && !(g->name = ks__strdup(name)))
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return g;
}

static ks_table_t *table_aggregation(ks_grouped_table_t *g, step_kind_t kind,
                                     ks_initializer_cb *init,
                                     ks_aggregator_cb *adder,
                                     ks_aggregator_cb *subtractor, void *opaque,
                                     const char *store_name, const char *name,
                                     const char *what) {
        if (!g || !usable(g->b, what))
                return NULL;
        ks_builder_t *b = g->b;
        if ((kind != STEP_COUNT &&
             (!need(b, (void *)adder, what, "adder") ||
              !need(b, (void *)subtractor, what, "subtractor"))) ||
            (kind == STEP_AGGREGATE &&
             !need(b, (void *)init, what, "initializer")))
                return NULL;
        step_t *st = step_new(b, STEP_TABLE_AGG, name,
                              kind == STEP_REDUCE ? "KTABLE-REDUCE"
                                                  : "KTABLE-AGGREGATE");
        if (!st)
                return NULL;
        char sbuf[300];
        snprintf(sbuf, sizeof(sbuf), "%s-STATE-STORE-%010d",
                 kind == STEP_REDUCE ? "KTABLE-REDUCE" : "KTABLE-AGGREGATE",
                 b->index++);
        st->agg_kind = kind;
        st->init = init;
        st->agg = adder;
        st->sub = subtractor;
        st->opaque = opaque;
        st->owns_store = 1;
        if (!(st->store = ks__strdup(store_name ? store_name : sbuf))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_kv_store(b->topo, st->store,
                                                KS_STORE_ROCKSDB, 0, &e);
        if (failed_call(b, err, e, st->name)) {
                step_free(st);
                return NULL;
        }
        /* Aggregations of one grouped table share its repartition topic. */
        char *src = g->source
                            ? ks__strdup(g->source)
                            : through_repartition(b, g->node,
                                                  g->name ? g->name : st->store,
                                                  0, NULL, NULL);
        if (src && !g->source && !(g->source = ks__strdup(src))) {
                free(src);
                src = NULL;
        }
        char *storename = src ? ks__strdup(st->store) : NULL;
        char *node = storename ? chain(b, src, st) : (step_free(st), NULL);
        free(src);
        ks_table_t *t =
                node ? table_new(b, node, storename, NULL,
                                 kind == STEP_COUNT ? ks_serde_int64() : NULL)
                     : NULL;
        free(storename);
        return t;
}

ks_table_t *ks_grouped_table_count(ks_grouped_table_t *g,
                                   const char *store_name, const char *name) {
        return table_aggregation(g, STEP_COUNT, NULL, NULL, NULL, NULL,
                                 store_name, name, "table count");
}

ks_table_t *ks_grouped_table_reduce(ks_grouped_table_t *g,
                                    ks_aggregator_cb *adder,
                                    ks_aggregator_cb *subtractor, void *opaque,
                                    const char *store_name, const char *name) {
        return table_aggregation(g, STEP_REDUCE, NULL, adder, subtractor,
                                 opaque, store_name, name, "table reduce");
}

ks_table_t *ks_grouped_table_aggregate(ks_grouped_table_t *g,
                                       ks_initializer_cb *init,
                                       ks_aggregator_cb *adder,
                                       ks_aggregator_cb *subtractor,
                                       void *opaque, const char *store_name,
                                       const char *name) {
        return table_aggregation(g, STEP_AGGREGATE, init, adder, subtractor,
                                 opaque, store_name, name, "table aggregate");
}

/* --- global tables ------------------------------------------------------ */

static void global_free(void *p) {
        ks_global_table_t *g = p;
        free(g->store);
        free(g);
}

ks_global_table_t *ks_builder_global_table(ks_builder_t *b, const char *topic,
                                           ks_serde_t *key_serde,
                                           ks_serde_t *value_serde,
                                           const char *store_name) {
        if (!usable(b, "global_table") ||
            !need(b, topic, "global_table", "topic"))
                return NULL;
        char sbuf[300];
        snprintf(sbuf, sizeof(sbuf), "%s-STATE-STORE-%010d", topic, b->index++);
        const char *store = store_name ? store_name : sbuf;
        ks_error_t *e = NULL;
        ks_err_t err = ks__topology_add_global(b->topo, store, topic, key_serde,
                                               value_serde, &e);
        if (failed_call(b, err, e, "global_table"))
                return NULL;
        ks_global_table_t *g = handle_new(b, sizeof(*g), global_free);
        if (g) {
                g->b = b;
                if (!(g->store = ks__strdup(store)))
                        fail(b, KS_ERR_NO_MEMORY, "out of memory");
        }
        return g && g->store ? g : NULL;
}

const char *ks_global_table_store_name(const ks_global_table_t *g) {
        return g ? g->store : NULL;
}

static ks_stream_t *global_join(ks_stream_t *s, ks_global_table_t *g,
                                ks_mapper_cb *key_mapper,
                                ks_value_joiner_cb *joiner, void *opaque,
                                const char *name, ks_join_kind_t kind) {
        const char *what = kind == KS_JOIN_INNER ? "join" : "left_join";
        if (!s || !usable(s->b, what))
                return NULL;
        ks_builder_t *b = s->b;
        if (!g || g->b != b) {
                fail(b, KS_ERR_INVALID_ARG, "%s: the global table is %s", what,
                     g ? "from another builder" : "NULL");
                return NULL;
        }
        if (!need(b, (void *)key_mapper, what, "key mapper") ||
            !need(b, (void *)joiner, what, "joiner"))
                return NULL;
        step_t *st = step_new(b, STEP_GLOBAL_JOIN, name,
                              kind == KS_JOIN_INNER ? "KSTREAM-JOIN"
                                                    : "KSTREAM-LEFTJOIN");
        if (!st)
                return NULL;
        st->mapper = key_mapper;
        st->joiner = joiner;
        st->opaque = opaque;
        st->join_kind = kind;
        if (!(st->global = ks__strdup(g->store))) {
                step_free(st);
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        char *node = chain(b, s->node, st);
        return stream_new(b, node, s->key_serde, NULL, s->repartition_required);
}

ks_stream_t *ks_stream_join_global(ks_stream_t *s, ks_global_table_t *g,
                                   ks_mapper_cb *key_mapper,
                                   ks_value_joiner_cb *joiner, void *opaque,
                                   const char *name) {
        return global_join(s, g, key_mapper, joiner, opaque, name,
                           KS_JOIN_INNER);
}

ks_stream_t *ks_stream_left_join_global(ks_stream_t *s, ks_global_table_t *g,
                                        ks_mapper_cb *key_mapper,
                                        ks_value_joiner_cb *joiner,
                                        void *opaque, const char *name) {
        return global_join(s, g, key_mapper, joiner, opaque, name,
                           KS_JOIN_LEFT);
}

/* --- foreign-key join (building) ---------------------------------------- */

/* A step named "<base>-<suffix>" (no index of its own). */
static step_t *fk_step(ks_builder_t *b, step_kind_t kind, const char *base,
                       const char *suffix) {
        char n[400];
        snprintf(n, sizeof(n), "%s-%s", base, suffix);
        step_t *st = calloc(1, sizeof(*st));
        if (st && !(st->name = ks__strdup(n))) {
                free(st);
                st = NULL;
        }
        if (!st)
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        else
                st->kind = kind;
        return st;
}

static char *fk_dup(ks_builder_t *b, const char *base, const char *suffix) {
        char n[400];
        snprintf(n, sizeof(n), "%s-%s", base, suffix);
        char *s = ks__strdup(n);
        if (!s)
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
        return s;
}

/* An internal topic "<base>-<what>" with its sink (under @p parents) and
 * source; its partitions are those of the sub-topology reading it. */
static int fk_topic(ks_builder_t *b, const char *base, const char *what,
                    const char *const *parents, size_t parent_cnt) {
        char topic[400], sink[420], src[420];
        snprintf(topic, sizeof(topic), "%s-%s", base, what);
        snprintf(sink, sizeof(sink), "%s-sink", topic);
        snprintf(src, sizeof(src), "%s-source", topic);
        const char *topics[] = {topic};
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_sink(b->topo, sink, topic, NULL, NULL,
                                            parents, parent_cnt, &e);
        if (failed_call(b, err, e, sink))
                return 0;
        ks__topology_set_internal(b->topo, sink);
        ks__topology_node(b->topo, sink)->partitions = -1;
        err = ks_topology_add_source(b->topo, src, topics, 1, NULL, NULL, &e);
        if (failed_call(b, err, e, src))
                return 0;
        ks__topology_set_internal(b->topo, src);
        return 1;
}

static int fk_store(ks_builder_t *b, const char *name) {
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_kv_store(b->topo, name, KS_STORE_ROCKSDB,
                                                0, &e);
        return !failed_call(b, err, e, name);
}

ks_table_t *ks_table_fk_join(ks_table_t *left, ks_table_t *right,
                             ks_mapper_cb *fk_extractor, ks_join_kind_t kind,
                             ks_value_joiner_cb *joiner, void *opaque,
                             const char *name) {
        const char *what = "foreign-key join";
        if (!left || !usable(left->b, what))
                return NULL;
        ks_builder_t *b = left->b;
        if (!materialized(b, left, what) || !materialized(b, right, what) ||
            !need(b, (void *)fk_extractor, what, "foreign key extractor") ||
            !need(b, (void *)joiner, what, "joiner"))
                return NULL;
        if (kind != KS_JOIN_INNER && kind != KS_JOIN_LEFT) {
                fail(b, KS_ERR_INVALID_ARG,
                     "%s: only inner and left joins (kind %d)", what,
                     (int)kind);
                return NULL;
        }
        char *base = step_name(b, name, "KTABLE-FK-JOIN");
        if (!base)
                return NULL;
        ks_table_t *t = NULL;
        step_t *sub = fk_step(b, STEP_FK_SUBSCRIBE, base, "subscribe");
        step_t *recv =
                fk_step(b, STEP_FK_SUB_RECV, base, "subscription-receive");
        step_t *upd = fk_step(b, STEP_FK_R_UPDATE, base, "right-update");
        step_t *resp = fk_step(b, STEP_FK_RESPONSE, base, "response");
        char *prev = fk_dup(b, base, "fk-prev");
        char *subs = fk_dup(b, base, "subscriptions");
        char *reg_src = fk_dup(b, base, "subscription-registration-source");
        char *resp_src = fk_dup(b, base, "subscription-response-source");
        if (!sub || !recv || !upd || !resp || !prev || !subs || !reg_src ||
            !resp_src)
                goto out;
        sub->mapper = fk_extractor;
        sub->opaque = opaque;
        sub->store = ks__strdup(prev);
        sub->sub_sink = fk_dup(b, base, "subscription-registration-sink");
        sub->resp_step = ks__strdup(resp->name);
        recv->store = ks__strdup(subs);
        recv->store2 = ks__strdup(right->store);
        recv->resp_sink = fk_dup(b, base, "subscription-response-sink");
        upd->store = ks__strdup(subs);
        upd->resp_sink = fk_dup(b, base, "subscription-response-sink");
        resp->store = ks__strdup(left->store);
        resp->joiner = joiner;
        resp->opaque = opaque;
        resp->join_kind = kind;
        if (!sub->store || !sub->sub_sink || !sub->resp_step || !recv->store ||
            !recv->store2 || !recv->resp_sink || !upd->store ||
            !upd->resp_sink || !resp->store) {
                fail(b, KS_ERR_NO_MEMORY, "out of memory");
                goto out;
        }
        if (!fk_store(b, prev) || !fk_store(b, subs))
                goto out;
        /* Left side: subscribe; right side: receive and answer. */
        const char *lp[] = {left->node};
        const char *rp[] = {right->node};
        const char *regp[] = {reg_src};
        const char *respp[] = {resp_src, sub->name};
        const char *subp[] = {sub->name};
        const char *answerers[] = {recv->name, upd->name};
        step_t *s1 = sub, *s2 = recv, *s3 = upd, *s4 = resp;
        sub = recv = upd = resp = NULL; /* add_step takes them over */
        if (!add_step(b, s1, lp, 1) ||
            !fk_topic(b, base, "subscription-registration", subp, 1) ||
            !add_step(b, s2, regp, 1) || !add_step(b, s3, rp, 1) ||
            !fk_topic(b, base, "subscription-response", answerers, 2) ||
            !add_step(b, s4, respp, 2))
                goto out;
        ks_error_t *e = NULL;
        ks_err_t err =
                ks_topology_connect_store(b->topo, s2->store2, s2->name, &e);
        if (failed_call(b, err, e, s2->name))
                goto out;
        t = table_new(b, ks__strdup(s4->name), NULL, left->key_serde, NULL);
out:
        if (sub)
                step_free(sub);
        if (recv)
                step_free(recv);
        if (upd)
                step_free(upd);
        if (resp)
                step_free(resp);
        free(prev);
        free(subs);
        free(reg_src);
        free(resp_src);
        free(base);
        return t;
}
