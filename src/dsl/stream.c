/* Stateless stream operators: filter, map and its kin, select_key, peek,
 * foreach, print, merge, split, to, repartition and process.
 *
 * None of these steps keeps anything per task: a step's processor state is
 * the step itself, read-only once built, so one step serves every task on
 * every thread. A stream handle remembers whether the key may have changed
 * since the stream was read (map, flat_map, select_key, process): a later
 * table or join then repartitions it first. A split step holds its
 * branches in order, each a predicate and the branch's child node; the
 * first branch that keeps a record gets it, else the default branch if
 * there is one. Branches are added while the split is open; the default
 * branch closes it. */
#include "dsl_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* The stream out of step @p st, added after stream @p s. */
static ks_stream_t *stream_after(ks_stream_t *s, void *st, int rekeyed,
                                 int new_value) {
        char *node = ks__dsl_chain(s->b, s->node, st);
        return ks__dsl_stream_new(s->b, node, rekeyed ? NULL : s->key_serde,
                                  new_value ? NULL : s->value_serde,
                                  s->repartition_required || rekeyed);
}

/* What a terminal operation returns: its step @p r made, or the error. */
static ks_err_t terminal(ks_stream_t *s, const void *r) {
        if (r)
                return KS_ERR_NO_ERROR;
        if (!s || !s->b)
                return KS_ERR_INVALID_ARG;
        return s->b->err ? ks_error_code(s->b->err) : KS_ERR_INVALID_ARG;
}

ks_stream_t *ks_builder_stream(ks_builder_t *b, const char *const *topics,
                               size_t topic_cnt, ks_serde_t *key_serde,
                               ks_serde_t *value_serde, const char *name) {
        if (!ks__dsl_usable(b, "stream"))
                return NULL;
        char *node = ks__dsl_name(b, name, "KSTREAM-SOURCE");
        if (!node)
                return NULL;
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_source(b->topo, node, topics, topic_cnt,
                                              key_serde, value_serde, &e);
        if (ks__dsl_failed_call(b, err, e, node)) {
                free(node);
                return NULL;
        }
        return ks__dsl_stream_new(b, node, ks__dsl_keep_serde(b, key_serde),
                                  ks__dsl_keep_serde(b, value_serde), 0);
}

/* --- pass ---------------------------------------------------------------- */

static ks_err_t pass_process(ks_context_t *ctx, const ks_record_t *rec,
                             void *state) {
        (void)state;
        return ks__dsl_forward(ctx, rec);
}

static const ks__dsl_class_t pass_class = {KS__DSL_STATELESS(pass_process)};

void *ks__dsl_pass_new(ks_builder_t *b, const char *user, const char *kind) {
        return ks__dsl_step_new(b, &pass_class, sizeof(ks__dsl_step_t), user,
                                kind, NULL);
}

/* --- filter -------------------------------------------------------------- */

int ks__dsl_filter_keeps(const ks__dsl_filter_step_t *st,
                         const ks_record_t *rec) {
        return !st->pred(st->base.opaque, rec) != !st->negate;
}

static ks_err_t filter_process(ks_context_t *ctx, const ks_record_t *rec,
                               void *state) {
        return ks__dsl_filter_keeps(state, rec) ? ks__dsl_forward(ctx, rec)
                                                : KS_ERR_NO_ERROR;
}

static const ks__dsl_class_t filter_class = {KS__DSL_STATELESS(filter_process)};

void *ks__dsl_filter_new(ks_builder_t *b, const ks__dsl_class_t *cls,
                         const char *user, const char *kind,
                         ks_predicate_cb *pred, void *opaque, int negate) {
        ks__dsl_filter_step_t *st = ks__dsl_step_new(
                b, cls ? cls : &filter_class, sizeof(*st), user, kind, opaque);
        if (st) {
                st->pred = pred;
                st->negate = negate;
        }
        return st;
}

static ks_stream_t *filter(ks_stream_t *s, ks_predicate_cb *pred, void *opaque,
                           const char *name, int negate) {
        const char *kind = "KSTREAM-FILTER";
        if (!s || !ks__dsl_start(s->b, kind, (void *)pred, "predicate"))
                return NULL;
        return stream_after(s,
                            ks__dsl_filter_new(s->b, NULL, name, kind, pred,
                                               opaque, negate),
                            0, 0);
}

ks_stream_t *ks_stream_filter(ks_stream_t *s, ks_predicate_cb *pred,
                              void *opaque, const char *name) {
        return filter(s, pred, opaque, name, 0);
}

ks_stream_t *ks_stream_filter_not(ks_stream_t *s, ks_predicate_cb *pred,
                                  void *opaque, const char *name) {
        return filter(s, pred, opaque, name, 1);
}

/* --- map and its kin ----------------------------------------------------- */

ks_err_t ks__dsl_map_run(ks_context_t *ctx, const ks__dsl_map_step_t *st,
                         const ks_record_t *rec, ks_buf_t *key, int *key_null) {
        const ks__dsl_mapper_role_t role = {"mapper", "record", st->once, 1};
        ks_emitter_t out;
        ks__dsl_emitter_init(&out, ctx, rec, st->takes, key, NULL);
        ks_err_t err =
                ks__dsl_run_mapper(ctx, &st->base, st->mapper, &out, &role);
        if (key_null)
                *key_null = out.key_null;
        return err;
}

static ks_err_t map_process(ks_context_t *ctx, const ks_record_t *rec,
                            void *state) {
        return ks__dsl_map_run(ctx, state, rec, NULL, NULL);
}

static const ks__dsl_class_t map_class = {KS__DSL_STATELESS(map_process)};

void *ks__dsl_map_new(ks_builder_t *b, const ks__dsl_class_t *cls,
                      const char *user, const char *kind, ks_mapper_cb *mapper,
                      void *opaque, ks__emit_t takes, int once) {
        ks__dsl_map_step_t *st = ks__dsl_step_new(
                b, cls ? cls : &map_class, sizeof(*st), user, kind, opaque);
        if (st) {
                st->mapper = mapper;
                st->takes = takes;
                st->once = once;
        }
        return st;
}

/* A map step: a new key unless the mapper emits values only, a new value
 * unless it emits keys only. */
static ks_stream_t *map(ks_stream_t *s, const char *kind, const char *name,
                        ks_mapper_cb *mapper, void *opaque, ks__emit_t takes,
                        int once) {
        if (!s || !ks__dsl_start(s->b, kind, (void *)mapper, "mapper"))
                return NULL;
        void *st = ks__dsl_map_new(s->b, NULL, name, kind, mapper, opaque,
                                   takes, once);
        return stream_after(s, st, takes != KS__EMIT_VALUE,
                            takes != KS__EMIT_KEY);
}

ks_stream_t *ks_stream_map(ks_stream_t *s, ks_mapper_cb *mapper, void *opaque,
                           const char *name) {
        return map(s, "KSTREAM-MAP", name, mapper, opaque, KS__EMIT, 1);
}

ks_stream_t *ks_stream_map_values(ks_stream_t *s, ks_mapper_cb *mapper,
                                  void *opaque, const char *name) {
        return map(s, "KSTREAM-MAPVALUES", name, mapper, opaque, KS__EMIT_VALUE,
                   1);
}

ks_stream_t *ks_stream_flat_map(ks_stream_t *s, ks_mapper_cb *mapper,
                                void *opaque, const char *name) {
        return map(s, "KSTREAM-FLATMAP", name, mapper, opaque, KS__EMIT, 0);
}

ks_stream_t *ks_stream_flat_map_values(ks_stream_t *s, ks_mapper_cb *mapper,
                                       void *opaque, const char *name) {
        return map(s, "KSTREAM-FLATMAPVALUES", name, mapper, opaque,
                   KS__EMIT_VALUE, 0);
}

ks_stream_t *ks_stream_select_key(ks_stream_t *s, ks_mapper_cb *mapper,
                                  void *opaque, const char *name) {
        return map(s, "KSTREAM-KEY-SELECT", name, mapper, opaque, KS__EMIT_KEY,
                   1);
}

/* --- peek, foreach, print ------------------------------------------------ */

typedef struct {
        ks__dsl_step_t base;
        ks_action_cb *action;
        int forward; /* peek: the record goes on */
} action_step_t;

static ks_err_t action_process(ks_context_t *ctx, const ks_record_t *rec,
                               void *state) {
        const action_step_t *st = state;
        st->action(st->base.opaque, rec);
        return st->forward ? ks__dsl_forward(ctx, rec) : KS_ERR_NO_ERROR;
}

static const ks__dsl_class_t action_class = {KS__DSL_STATELESS(action_process)};

static ks_stream_t *action(ks_stream_t *s, const char *kind, const char *name,
                           ks_action_cb *cb, void *opaque, int forward) {
        if (!s || !ks__dsl_start(s->b, kind, (void *)cb, "action"))
                return NULL;
        action_step_t *st = ks__dsl_step_new(s->b, &action_class, sizeof(*st),
                                             name, kind, opaque);
        if (st) {
                st->action = cb;
                st->forward = forward;
        }
        return stream_after(s, st, 0, 0);
}

ks_stream_t *ks_stream_peek(ks_stream_t *s, ks_action_cb *cb, void *opaque,
                            const char *name) {
        return action(s, "KSTREAM-PEEK", name, cb, opaque, 1);
}

ks_err_t ks_stream_foreach(ks_stream_t *s, ks_action_cb *cb, void *opaque,
                           const char *name) {
        return terminal(s, action(s, "KSTREAM-FOREACH", name, cb, opaque, 0));
}

typedef struct {
        ks__dsl_step_t base;
        char *label;
        ks_serde_kind_t key_kind, value_kind;
} print_step_t;

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

static ks_err_t print_process(ks_context_t *ctx, const ks_record_t *rec,
                              void *state) {
        (void)ctx;
        const print_step_t *st = state;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        printf("[%s]: ", st->label);
        render(stdout, st->key_kind, key, klen);
        fputs(", ", stdout);
        render(stdout, st->value_kind, value, vlen);
        fputc('\n', stdout);
        return KS_ERR_NO_ERROR;
}

static void print_free(ks__dsl_step_t *st) {
        free(((print_step_t *)st)->label);
}

static const ks__dsl_class_t print_class = {KS__DSL_STATELESS(print_process),
                                            .free = print_free};

ks_err_t ks_stream_print(ks_stream_t *s, const char *label, const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "print");
        if (!b)
                return terminal(s, NULL);
        print_step_t *st = ks__dsl_step_new(b, &print_class, sizeof(*st), name,
                                            "KSTREAM-PRINTER", NULL);
        if (!st)
                return terminal(s, NULL);
        st->key_kind =
                s->key_serde ? ks_serde_kind(s->key_serde) : KS_SERDE_BYTES;
        st->value_kind =
                s->value_serde ? ks_serde_kind(s->value_serde) : KS_SERDE_BYTES;
        if (!(st->label = ks__strdup(label ? label : st->base.name))) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return terminal(s, NULL);
        }
        char *node = ks__dsl_chain(b, s->node, st);
        ks_err_t err = terminal(s, node);
        free(node);
        return err;
}

/* --- merge, serdes, sinks, repartition, process -------------------------- */

ks_stream_t *ks_stream_merge(ks_stream_t *s, ks_stream_t *other,
                             const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "merge");
        if (!b)
                return NULL;
        if (!other || other->b != b) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "merge: the other stream is %s",
                             other ? "from another builder" : "NULL");
                return NULL;
        }
        const char *parents[] = {s->node, other->node};
        char *node = ks__dsl_add_node(
                b, ks__dsl_pass_new(b, name, "KSTREAM-MERGE"), parents, 2);
        int same = s->key_serde == other->key_serde &&
                   s->value_serde == other->value_serde;
        return ks__dsl_stream_new(b, node, same ? s->key_serde : NULL,
                                  same ? s->value_serde : NULL,
                                  s->repartition_required ||
                                          other->repartition_required);
}

ks_stream_t *ks_stream_with_serdes(ks_stream_t *s, ks_serde_t *key_serde,
                                   ks_serde_t *value_serde) {
        if (!s || !ks__dsl_usable(s->b, "with_serdes"))
                return NULL;
        char *node = ks__strdup(s->node);
        if (!node) {
                ks__dsl_oom(s->b);
                return NULL;
        }
        return ks__dsl_stream_new(
                s->b, node, ks__dsl_keep_serde(s->b, key_serde),
                ks__dsl_keep_serde(s->b, value_serde), s->repartition_required);
}

static ks_err_t add_sink(ks_stream_t *s, const char *topic, const char *name,
                         ks_topic_extractor_cb *extractor, void *opaque) {
        ks_builder_t *b = ks__dsl_stream_start(s, "to");
        if (!b)
                return terminal(s, NULL);
        char *node = ks__dsl_name(b, name, "KSTREAM-SINK");
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
        int bad = ks__dsl_failed_call(b, err, e, node);
        free(node);
        return bad ? terminal(s, NULL) : KS_ERR_NO_ERROR;
}

ks_err_t ks_stream_to(ks_stream_t *s, const char *topic, const char *name) {
        if (s && !ks__dsl_need(s->b, topic, "to", "topic"))
                return terminal(s, NULL);
        return add_sink(s, topic, name, NULL, NULL);
}

ks_err_t ks_stream_to_dynamic(ks_stream_t *s, ks_topic_extractor_cb *extractor,
                              void *opaque, const char *name) {
        if (s &&
            !ks__dsl_need(s->b, (void *)extractor, "to", "topic extractor"))
                return terminal(s, NULL);
        return add_sink(s, NULL, name, extractor, opaque);
}

ks_stream_t *ks_stream_repartition(ks_stream_t *s, int partitions,
                                   const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "repartition");
        if (!b)
                return NULL;
        if (partitions < 0) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "repartition: %d partitions", partitions);
                return NULL;
        }
        char *base = ks__dsl_name(b, name, "KSTREAM-REPARTITION");
        char *node = base ? ks__dsl_repartition(b, s->node, base, partitions,
                                                s->key_serde, s->value_serde)
                          : NULL;
        free(base);
        return ks__dsl_stream_new(b, node, s->key_serde, s->value_serde, 0);
}

ks_stream_t *ks_stream_process(ks_stream_t *s, ks_processor_init_cb *init,
                               ks_processor_process_cb *process,
                               ks_processor_close_cb *close, void *opaque,
                               const char *const *stores, size_t store_cnt,
                               const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "process");
        if (!b)
                return NULL;
        char *node = ks__dsl_name(b, name, "KSTREAM-PROCESSOR");
        if (!node)
                return NULL;
        const char *parents[] = {s->node};
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_processor(b->topo, node, init, process,
                                                 close, opaque, parents, 1, &e);
        for (size_t i = 0; !err && i < store_cnt; i++)
                err = ks_topology_connect_store(b->topo, stores[i], node, &e);
        if (ks__dsl_failed_call(b, err, e, node)) {
                free(node);
                return NULL;
        }
        return ks__dsl_stream_new(b, node, NULL, NULL, 1);
}

/* --- split --------------------------------------------------------------- */

typedef struct {
        ks__dsl_step_t base;
        /* branch i goes to children[i] when preds[i] keeps the record */
        ks_predicate_cb **preds;
        void **pred_opaques;
        char **children;
        size_t branch_cnt;
        char *default_child;
} split_step_t;

struct ks_split_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        split_step_t *step;
        char *node;
        char *prefix;
        ks_serde_t *key_serde, *value_serde;
        int repartition_required;
        int done;
};

static ks_err_t split_process(ks_context_t *ctx, const ks_record_t *rec,
                              void *state) {
        const split_step_t *st = state;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        const char *child = st->default_child;
        for (size_t i = 0; i < st->branch_cnt; i++)
                if (st->preds[i](st->pred_opaques[i], rec)) {
                        child = st->children[i];
                        break;
                }
        if (!child)
                return KS_ERR_NO_ERROR;
        return ks_context_forward_to(ctx, child, key, klen, value, vlen);
}

static void split_step_free(ks__dsl_step_t *p) {
        split_step_t *st = (split_step_t *)p;
        ks__strv_free(st->children, st->branch_cnt);
        free(st->preds);
        free(st->pred_opaques);
        free(st->default_child);
}

static const ks__dsl_class_t split_class = {KS__DSL_STATELESS(split_process),
                                            .free = split_step_free};

static void split_free(void *p) {
        ks_split_t *sp = p;
        free(sp->node);
        free(sp->prefix);
        free(sp);
}

ks_split_t *ks_stream_split(ks_stream_t *s, const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "split");
        if (!b)
                return NULL;
        split_step_t *st = ks__dsl_step_new(b, &split_class, sizeof(*st), NULL,
                                            "KSTREAM-BRANCH", NULL);
        if (!st)
                return NULL;
        ks_split_t *sp = ks__dsl_handle_new(b, sizeof(*sp), split_free);
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s", name ? name : st->base.name);
        if (!name)
                strncat(prefix, "-", sizeof(prefix) - strlen(prefix) - 1);
        if (name) {
                /* The split itself is named after the prefix. */
                char *n = ks__strdup(name);
                if (n) {
                        free(st->base.name);
                        st->base.name = n;
                }
        }
        if (!sp || !(sp->prefix = ks__strdup(prefix)) ||
            !(sp->node = ks__dsl_chain(b, s->node, st))) {
                if (sp && !sp->prefix)
                        ks__dsl_oom(b);
                return NULL;
        }
        sp->b = b;
        sp->step = st;
        sp->key_serde = s->key_serde;
        sp->value_serde = s->value_serde;
        sp->repartition_required = s->repartition_required;
        return sp;
}

/* Add branch @p child (its node's name) to split @p sst: 1, or 0 on OOM. */
static int add_branch(split_step_t *sst, ks_predicate_cb *pred, void *opaque,
                      const char *child) {
        size_t c = sst->branch_cnt + 1;
        ks_predicate_cb **p = realloc(sst->preds, c * sizeof(*p));
        if (p)
                sst->preds = p;
        void **o = p ? realloc(sst->pred_opaques, c * sizeof(*o)) : NULL;
        if (o)
                sst->pred_opaques = o;
        char **ch = o ? realloc(sst->children, c * sizeof(*ch)) : NULL;
        if (ch)
                sst->children = ch;
        char *cn = ch ? ks__strdup(child) : NULL;
        if (!cn)
                return 0;
        sst->preds[sst->branch_cnt] = pred;
        sst->pred_opaques[sst->branch_cnt] = opaque;
        sst->children[sst->branch_cnt++] = cn;
        return 1;
}

static ks_stream_t *branch(ks_split_t *sp, ks_predicate_cb *pred, void *opaque,
                           const char *name, int is_default) {
        if (!sp || !ks__dsl_usable(sp->b, "split"))
                return NULL;
        ks_builder_t *b = sp->b;
        if (sp->done) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "split %s: a branch after the default branch",
                             sp->node);
                return NULL;
        }
        if (!is_default && !ks__dsl_need(b, (void *)pred, "split", "predicate"))
                return NULL;
        ks__dsl_step_t *st = ks__dsl_pass_new(b, NULL, "KSTREAM-BRANCHCHILD");
        if (!st)
                return NULL;
        split_step_t *sst = sp->step;
        char buf[600];
        if (name)
                snprintf(buf, sizeof(buf), "%s%s", sp->prefix, name);
        else
                snprintf(buf, sizeof(buf), "%s%zu", sp->prefix,
                         sst->branch_cnt + 1 - (size_t)is_default);
        if (!name && is_default)
                snprintf(buf, sizeof(buf), "%s0", sp->prefix);
        char *n = ks__strdup(buf);
        if (!n) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        free(st->name);
        st->name = n;
        if (is_default) {
                if (!(sst->default_child = ks__strdup(n)))
                        ks__dsl_oom(b);
                sp->done = 1;
        } else if (!add_branch(sst, pred, opaque, n)) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        char *node = ks__dsl_chain(b, sp->node, st);
        return ks__dsl_stream_new(b, node, sp->key_serde, sp->value_serde,
                                  sp->repartition_required);
}

ks_stream_t *ks_split_branch(ks_split_t *sp, ks_predicate_cb *pred,
                             void *opaque, const char *name) {
        return branch(sp, pred, opaque, name, 0);
}

ks_stream_t *ks_split_default(ks_split_t *sp, const char *name) {
        return branch(sp, NULL, NULL, name, 1);
}
