/* Global tables and stream-global table joins.
 *
 * A global table is not a node: the topology keeps a list of (store,
 * topic, serdes), and whoever runs the topology keeps a full copy of each
 * topic in a global store shared by all tasks (src/state/global_store.c).
 * A join step maps each stream record to the key it looks up there (its
 * key mapper emits that key) and joins the value it finds; the global
 * store hands out copies, so the step's per-task state holds the store
 * and buffers for the key and the value. */
#include "dsl_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "../state/global_store_int.h"

struct ks_global_table_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        char *store;
};

typedef struct {
        ks__dsl_step_t base;
        ks_mapper_cb *key_mapper;
        ks_value_joiner_cb *joiner;
        ks_join_kind_t kind;
        char *global; /* the global store's name */
} global_join_step_t;

typedef struct {
        ks__dsl_state_t base;
        ks__global_t *global;
} global_join_state_t;

static void global_free(void *p) {
        ks_global_table_t *g = p;
        free(g->store);
        free(g);
}

ks_global_table_t *ks_builder_global_table(ks_builder_t *b, const char *topic,
                                           ks_serde_t *key_serde,
                                           ks_serde_t *value_serde,
                                           const char *store_name) {
        if (!ks__dsl_start(b, "global_table", topic, "topic"))
                return NULL;
        char *store = ks__dsl_store_name(b, store_name, topic);
        if (!store)
                return NULL;
        ks_error_t *e = NULL;
        ks_err_t err = ks__topology_add_global(b->topo, store, topic, key_serde,
                                               value_serde, &e);
        ks_global_table_t *g = NULL;
        if (!ks__dsl_failed_call(b, err, e, "global_table"))
                g = ks__dsl_handle_new(b, sizeof(*g), global_free);
        if (!g) {
                free(store);
                return NULL;
        }
        g->b = b;
        g->store = store;
        return g;
}

const char *ks_global_table_store_name(const ks_global_table_t *g) {
        return g ? g->store : NULL;
}

static ks_err_t global_join_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        global_join_state_t *in = (global_join_state_t *)base;
        const global_join_step_t *st = (const global_join_step_t *)base->step;
        if (!(in->global = ks__context_global(ctx, st->global)))
                return ks_context_set_error(ctx, "step %s: no global store %s",
                                            st->base.name, st->global);
        return KS_ERR_NO_ERROR;
}

/* A stream record joined with the global table's value for the key the
 * key mapper makes of it. */
static ks_err_t global_join_process(ks_context_t *ctx, const ks_record_t *rec,
                                    void *state) {
        static const ks__dsl_mapper_role_t role = {"key mapper", "record", 1,
                                                   0};
        global_join_state_t *in = state;
        const global_join_step_t *st =
                (const global_join_step_t *)in->base.step;
        ks_buf_t *lookup = in->base.buf, *found_value = in->base.buf2;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: dropped */
        ks_emitter_t out;
        ks__dsl_emitter_init(&out, ctx, rec, KS__EMIT_KEY, lookup, NULL);
        ks_err_t err =
                ks__dsl_run_mapper(ctx, &st->base, st->key_mapper, &out, &role);
        if (err)
                return err;
        int found = 0;
        if (!out.key_null) {
                found = ks__global_get(in->global, ks_buf_data(lookup),
                                       ks_buf_len(lookup), found_value, &err);
                if (err)
                        return err;
        }
        if (!found && st->kind == KS_JOIN_INNER)
                return KS_ERR_NO_ERROR;
        return ks__dsl_join_forward(ctx, &st->base, st->joiner, key, klen,
                                    value, vlen,
                                    found ? ks_buf_data(found_value) : NULL,
                                    found ? ks_buf_len(found_value) : 0,
                                    ks_context_timestamp(ctx), lookup);
}

static void global_join_free(ks__dsl_step_t *st) {
        free(((global_join_step_t *)st)->global);
}

static const ks__dsl_class_t global_join_class = {
        KS__DSL_STATEFUL(global_join_process), .free = global_join_free,
        .state_size = sizeof(global_join_state_t), .open = global_join_open};

static ks_stream_t *global_join(ks_stream_t *s, ks_global_table_t *g,
                                ks_mapper_cb *key_mapper,
                                ks_value_joiner_cb *joiner, void *opaque,
                                const char *name, ks_join_kind_t kind) {
        const char *what = kind == KS_JOIN_INNER ? "join" : "left_join";
        ks_builder_t *b = ks__dsl_stream_start(s, what);
        if (!b)
                return NULL;
        if (!g || g->b != b) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "%s: the global table is %s", what,
                             g ? "from another builder" : "NULL");
                return NULL;
        }
        if (!ks__dsl_need(b, (void *)key_mapper, what, "key mapper") ||
            !ks__dsl_need(b, (void *)joiner, what, "joiner"))
                return NULL;
        global_join_step_t *st = ks__dsl_step_new(
                b, &global_join_class, sizeof(*st), name,
                kind == KS_JOIN_INNER ? "KSTREAM-JOIN" : "KSTREAM-LEFTJOIN",
                opaque);
        if (!st)
                return NULL;
        st->key_mapper = key_mapper;
        st->joiner = joiner;
        st->kind = kind;
        if (!(st->global = ks__strdup(g->store))) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        char *node = ks__dsl_chain(b, s->node, st);
        return ks__dsl_stream_new(b, node, s->key_serde, NULL,
                                  s->repartition_required);
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
