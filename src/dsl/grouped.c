/* Grouping and aggregation: group_by and group_by_key of streams with
 * count, reduce and aggregate over them, and group_by of tables with an
 * aggregation by adder and subtractor.
 *
 * A grouping (stream or table) names where its aggregations read: the
 * grouped node itself, or, when the grouping changed the key, the source
 * of a repartition topic "<name or first store>-repartition" that the
 * first aggregation makes and every later one shares. A stream's records
 * with a null key are dropped before that topic (they cannot be
 * partitioned).
 *
 * An aggregation step keeps one aggregate per key in a timestamped store
 * of its own behind the record cache (table.c), stamped, as in Kafka
 * Streams, with the latest timestamp of the records folded into it (the
 * record's for a new key, else the larger of the record's and the old
 * aggregate's), which its output carries. A table's group_by step keeps
 * the rows it saw in its own timestamped store ("<name>-rows") and sends
 * each change
 * through the repartition topic twice: the old row with the header
 * `ks-table-change: -`, then the new one with `+`; the table aggregation
 * applies its subtractor or adder accordingly and forwards without that
 * header. */
#include "dsl_int.h"

#include <stdio.h>
#include <stdlib.h>

/* The header that tells a grouped table's aggregation whether a record
 * adds a row to its group or takes it out. */
#define CHANGE_HEADER "ks-table-change"

struct ks_grouped_table_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        ks__dsl_grouping_t g;
};

typedef enum { AGG_COUNT, AGG_REDUCE, AGG_AGGREGATE } agg_kind_t;

typedef struct {
        ks__dsl_step_t base;
        agg_kind_t kind;
        ks_initializer_cb *init;
        ks_aggregator_cb *add; /* the aggregator, reducer or adder */
        ks_aggregator_cb *sub; /* grouped tables: the subtractor */
        int table;             /* a grouped table's aggregation */
} agg_step_t;

/* Per-task state of a table's group_by step. */
typedef struct {
        ks__dsl_state_t base;
        ks_headers_t *add, *sub; /* the change headers */
        ks_buf_t *value;         /* the regrouped row's value */
} regroup_state_t;

/* --- groupings ----------------------------------------------------------- */

static void grouping_free(ks__dsl_grouping_t *g) {
        free(g->node);
        free(g->name);
        free(g->source);
}

static void grouped_stream_free(void *p) {
        ks_grouped_stream_t *gs = p;
        grouping_free(&gs->g);
        free(gs);
}

static void grouped_table_free(void *p) {
        ks_grouped_table_t *gt = p;
        grouping_free(&gt->g);
        free(gt);
}

static ks__dsl_grouping_t grouping_of(ks_builder_t *b, char *node,
                                      const char *name) {
        ks__dsl_grouping_t g = {node, name ? ks__strdup(name) : NULL, NULL};
        if (name && !g.name)
                ks__dsl_oom(b);
        return g;
}

static int has_key(void *opaque, const ks_record_t *rec) {
        (void)opaque;
        size_t klen;
        return ks_record_key(rec, &klen) != NULL;
}

/* Where the aggregations of @p g read (copy; NULL: the builder failed):
 * its node, or the source of its repartition topic, made once. */
char *ks__dsl_grouping_source(ks_builder_t *b, ks__dsl_grouping_t *g,
                              int repartition, int drop_null_keys,
                              const char *store, ks_serde_t *ks,
                              ks_serde_t *vs) {
        if (g->source || !repartition) {
                char *s = ks__strdup(g->source ? g->source : g->node);
                if (!s)
                        ks__dsl_oom(b);
                return s;
        }
        const char *base = g->name ? g->name : store;
        char *from = NULL;
        if (drop_null_keys) { /* they cannot be partitioned */
                char fname[320];
                snprintf(fname, sizeof(fname), "%s-repartition-filter", base);
                from = ks__dsl_chain(b, g->node,
                                     ks__dsl_filter_new(b, NULL, fname, "",
                                                        has_key, NULL, 0));
                if (!from)
                        return NULL;
        }
        char *src =
                ks__dsl_repartition(b, from ? from : g->node, base, 0, ks, vs);
        free(from);
        if (src && !(g->source = ks__strdup(src))) {
                free(src);
                ks__dsl_oom(b);
                return NULL;
        }
        return src;
}

/* --- aggregation steps --------------------------------------------------- */

/* The aggregate of a new key: the initializer's, in buf2. */
static ks_err_t initial(const agg_step_t *st, ks__dsl_state_t *in,
                        const void **aggp, size_t *lenp) {
        ks_buf_reset(in->buf2);
        ks_err_t err = st->init(st->base.opaque, in->buf2);
        *aggp = ks_buf_data(in->buf2);
        *lenp = ks_buf_len(in->buf2);
        return err;
}

/* The new aggregate of a grouped table: @p old with @p rec added or
 * subtracted, into @p out. 1 in *skipp: nothing to store. */
static ks_err_t table_fold(ks_context_t *ctx, const agg_step_t *st,
                           ks__dsl_state_t *in, const ks_record_t *rec,
                           const void *old, size_t olen, int subtract,
                           ks_buf_t *out, int *skipp) {
        size_t vlen;
        const void *value = ks_record_value(rec, &vlen);
        if (!old && st->kind == AGG_REDUCE) {
                *skipp = subtract; /* nothing to take from */
                return subtract ? KS_ERR_NO_ERROR
                                : ks_buf_append(out, value, vlen);
        }
        if (!old && initial(st, in, &old, &olen))
                return ks_context_set_error(
                        ctx, "step %s: the initializer failed", st->base.name);
        ks_err_t err = (subtract ? st->sub : st->add)(st->base.opaque, rec, old,
                                                      olen, out);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: the %s failed (%s)", st->base.name,
                        subtract ? "subtractor" : "adder", ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

/* The new aggregate of a grouped stream: @p rec folded into @p old, into
 * @p out. */
static ks_err_t stream_fold(ks_context_t *ctx, const agg_step_t *st,
                            ks__dsl_state_t *in, const ks_record_t *rec,
                            const void *old, size_t olen, ks_buf_t *out) {
        size_t vlen;
        const void *value = ks_record_value(rec, &vlen);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!old && st->kind == AGG_REDUCE) {
                err = ks_buf_append(out, value, vlen); /* the first value */
        } else {
                if (!old)
                        err = initial(st, in, &old, &olen);
                if (!err)
                        err = st->add(st->base.opaque, rec, old, olen, out);
        }
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: the %s callback failed (%s)",
                        st->base.name,
                        st->kind == AGG_REDUCE ? "reducer" : "aggregator",
                        ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

/* A count's new value, @p old (none: 0) plus @p delta, into @p out. */
static ks_err_t count(ks_context_t *ctx, const agg_step_t *st, const void *old,
                      size_t olen, int64_t delta, ks_buf_t *out) {
        const char *name = st->base.name, *store = st->base.store;
        int64_t n = 0;
        if (old && ks_int64_decode(old, olen, &n, NULL) && st->table)
                return ks_context_set_error(
                        ctx, "step %s: store %s holds no count", name, store);
        if (old && ks_int64_decode(old, olen, &n, NULL))
                return ks_context_set_error(ctx,
                                            "step %s: store %s holds a value "
                                            "of %zu bytes, not a count",
                                            name, store, olen);
        uint8_t b[8];
        ks_int64_encode(n + delta, b);
        ks_err_t err = ks_buf_append(out, b, sizeof(b));
        if (err && !st->table)
                return ks_context_set_error(
                        ctx, "step %s: the aggregator callback failed (%s)",
                        name, ks_err2str(err));
        return err;
}

/* Fold the record into its key's aggregate (a grouped table's record may
 * take a row out instead: its change header says) and store the result.
 * Grouped streams and tables word their errors apart. */
static ks_err_t agg_process(ks_context_t *ctx, const ks_record_t *rec,
                            void *state) {
        ks__dsl_state_t *in = state;
        const agg_step_t *st = (const agg_step_t *)in->step;
        size_t klen, vlen, hl = 0, olen;
        const void *key = ks_record_key(rec, &klen);
        const void *h = NULL;
        ks_headers_get_last(ks_record_headers(rec), CHANGE_HEADER, &h, &hl);
        int subtract = st->table && h && hl == 1 && *(const char *)h == '-';
        if (!key || !ks_record_value(rec, &vlen))
                return KS_ERR_NO_ERROR; /* as Kafka Streams: skipped */
        const void *old;
        int64_t old_ts;
        ks_err_t err =
                ks__dsl_lookup(in->store, key, klen, &old, &olen, &old_ts);
        if (err && !st->table)
                err = ks_context_set_error(ctx, "step %s: reading store %s: %s",
                                           st->base.name, st->base.store,
                                           ks_err2str(err));
        if (err)
                return err;
        ks_buf_t *out = in->buf;
        ks_buf_reset(out);
        int skip = 0;
        if (st->kind == AGG_COUNT)
                err = count(ctx, st, old, olen, subtract ? -1 : 1, out);
        else if (st->table)
                err = table_fold(ctx, st, in, rec, old, olen, subtract, out,
                                 &skip);
        else
                err = stream_fold(ctx, st, in, rec, old, olen, out);
        if (err || skip)
                return err;
        int64_t ts =
                ks__dsl_max_ts(ks_record_timestamp(rec), old != NULL, old_ts);
        return ks__dsl_cached_put(ctx, in, key, klen, ks_buf_data(out),
                                  ks_buf_len(out), ts, st->table);
}

static const ks__dsl_class_t agg_class = {KS__DSL_CACHED(agg_process)};

/* Add an aggregation of grouping @p g, named after @p kind_name (also the
 * prefix of its default store name); its records repartitioned with serdes
 * @p ks and @p vs if @p repartition, null keys dropped first if @p table is
 * 0 (a stream). The table it makes has serdes @p ks and @p table_vs. */
static ks_table_t *aggregate(ks_builder_t *b, ks__dsl_grouping_t *g,
                             agg_step_t tmpl, const char *kind_name,
                             const char *name, void *opaque,
                             const char *store_name, int repartition,
                             ks_serde_t *ks, ks_serde_t *vs,
                             ks_serde_t *table_vs) {
        agg_step_t *st = ks__dsl_step_new(b, &agg_class, sizeof(*st), name,
                                          kind_name, opaque);
        if (!st)
                return NULL;
        tmpl.base = st->base;
        *st = tmpl;
        if (!ks__dsl_own_store(b, &st->base, store_name, kind_name))
                return NULL;
        char *src = ks__dsl_grouping_source(b, g, repartition, !st->table,
                                            st->base.store, ks, vs);
        ks_table_t *t = ks__dsl_table_step(b, &st->base, src, ks, table_vs);
        free(src);
        return t;
}

/* --- grouped streams ----------------------------------------------------- */

/* group_by's key selector: forwards (new key, value) unless the new key is
 * null. */
static ks_err_t group_key_process(ks_context_t *ctx, const ks_record_t *rec,
                                  void *state) {
        ks__dsl_state_t *in = state;
        int key_null;
        ks_err_t err =
                ks__dsl_map_run(ctx, (const ks__dsl_map_step_t *)in->step, rec,
                                in->buf, &key_null);
        if (err || key_null)
                return err;
        size_t vlen;
        const void *value = ks_record_value(rec, &vlen);
        return ks_context_forward(ctx, ks_buf_data(in->buf),
                                  ks_buf_len(in->buf), value, vlen);
}

static const ks__dsl_class_t group_key_class = {
        KS__DSL_STATEFUL(group_key_process)};

static ks_grouped_stream_t *grouped_stream_new(ks_builder_t *b, char *node,
                                               ks_serde_t *ks, ks_serde_t *vs,
                                               int repartition,
                                               const char *name) {
        ks_grouped_stream_t *gs =
                ks__dsl_node_handle(b, sizeof(*gs), grouped_stream_free, node);
        if (gs)
                *gs = (ks_grouped_stream_t){
                        gs->h, b,  grouping_of(b, node, name),
                        ks,    vs, repartition};
        return gs;
}

ks_grouped_stream_t *ks_stream_group_by_key(ks_stream_t *s, const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "group_by_key");
        if (!b)
                return NULL;
        char *node = ks__strdup(s->node);
        if (!node)
                ks__dsl_oom(b);
        return grouped_stream_new(b, node, s->key_serde, s->value_serde,
                                  s->repartition_required, name);
}

ks_grouped_stream_t *ks_stream_group_by(ks_stream_t *s, ks_mapper_cb *selector,
                                        void *opaque, const char *name) {
        if (!s ||
            !ks__dsl_start(s->b, "group_by", (void *)selector, "key selector"))
                return NULL;
        ks_builder_t *b = s->b;
        void *st =
                ks__dsl_map_new(b, &group_key_class, NULL, "KSTREAM-KEY-SELECT",
                                selector, opaque, KS__EMIT_KEY, 1);
        char *node = ks__dsl_chain(b, s->node, st);
        return grouped_stream_new(b, node, NULL, s->value_serde, 1, name);
}

static ks_table_t *stream_aggregation(ks_grouped_stream_t *gs, agg_kind_t kind,
                                      ks_initializer_cb *init,
                                      ks_aggregator_cb *agg, void *opaque,
                                      const char *store_name,
                                      const char *name) {
        const char *what = kind == AGG_COUNT    ? "count"
                           : kind == AGG_REDUCE ? "reduce"
                                                : "aggregate";
        ks_builder_t *b = gs ? gs->b : NULL;
        if (!ks__dsl_usable(b, what) ||
            (kind == AGG_AGGREGATE &&
             (!ks__dsl_need(b, (void *)init, what, "initializer") ||
              !ks__dsl_need(b, (void *)agg, what, "aggregator"))) ||
            (kind == AGG_REDUCE &&
             !ks__dsl_need(b, (void *)agg, what, "reducer")))
                return NULL;
        ks_serde_t *vs = kind == AGG_REDUCE  ? gs->value_serde
                         : kind == AGG_COUNT ? ks_serde_int64()
                                             : NULL;
        return aggregate(
                b, &gs->g, (agg_step_t){.kind = kind, .init = init, .add = agg},
                kind == AGG_REDUCE ? "KSTREAM-REDUCE" : "KSTREAM-AGGREGATE",
                name, opaque, store_name, gs->repartition, gs->key_serde,
                gs->value_serde, vs);
}

ks_table_t *ks_grouped_count(ks_grouped_stream_t *g, const char *store_name,
                             const char *name) {
        return stream_aggregation(g, AGG_COUNT, NULL, NULL, NULL, store_name,
                                  name);
}

ks_table_t *ks_grouped_reduce(ks_grouped_stream_t *g, ks_aggregator_cb *reducer,
                              void *opaque, const char *store_name,
                              const char *name) {
        return stream_aggregation(g, AGG_REDUCE, NULL, reducer, opaque,
                                  store_name, name);
}

ks_table_t *ks_grouped_aggregate(ks_grouped_stream_t *g,
                                 ks_initializer_cb *init,
                                 ks_aggregator_cb *aggregator, void *opaque,
                                 const char *store_name, const char *name) {
        return stream_aggregation(g, AGG_AGGREGATE, init, aggregator, opaque,
                                  store_name, name);
}

/* --- grouped tables
 * -------------------------------------------------------------- */

/* Regroup one row of (key, value): map it to its group's key and value,
 * and send that out with @p hdrs. */
static ks_err_t regroup(ks_context_t *ctx, regroup_state_t *in, const void *key,
                        size_t klen, const void *value, size_t vlen,
                        const ks_headers_t *hdrs) {
        static const ks__dsl_mapper_role_t role = {"key selector", "row", 1, 0};
        const ks__dsl_map_step_t *st =
                (const ks__dsl_map_step_t *)in->base.step;
        ks_record_t row = {key,
                           klen,
                           value,
                           vlen,
                           ks_context_timestamp(ctx),
                           in->base.no_headers};
        ks_buf_t *nk = in->base.buf, *nv = in->value;
        ks_emitter_t out;
        ks__dsl_emitter_init(&out, ctx, &row, KS__EMIT, nk, nv);
        ks_err_t err =
                ks__dsl_run_mapper(ctx, &st->base, st->mapper, &out, &role);
        if (err || out.key_null || out.value_null)
                return err; /* rows without a group key or value: none */
        return ks_context_forward_record(
                ctx, NULL, ks_buf_data(nk), ks_buf_len(nk), ks_buf_data(nv),
                ks_buf_len(nv), ks_context_timestamp(ctx), hdrs);
}

/* A table row changed: take its old version out of its group and add the
 * new one to its (maybe new) group. The old rows are kept in the step's
 * own store. */
static ks_err_t regroup_process(ks_context_t *ctx, const ks_record_t *rec,
                                void *state) {
        regroup_state_t *in = state;
        ks_timestamped_kv_store_t *rows = in->base.rows;
        size_t klen, vlen, olen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key)
                return KS_ERR_NO_ERROR;
        const void *old;
        ks_err_t err =
                ks_timestamped_kv_store_get(rows, key, klen, &old, &olen, NULL);
        if (err == KS_ERR_NO_ERROR) {
                /* The store may reuse the value's memory: a copy. */
                ks_buf_t *copy = in->base.buf2;
                ks_buf_reset(copy);
                if (!(err = ks_buf_append(copy, old, olen)))
                        err = regroup(ctx, in, key, klen, ks_buf_data(copy),
                                      ks_buf_len(copy), in->sub);
        } else if (err == KS_ERR_NOT_FOUND) {
                err = KS_ERR_NO_ERROR;
        }
        if (err)
                return err;
        if (value) {
                err = regroup(ctx, in, key, klen, value, vlen, in->add);
                return err ? err
                           : ks_timestamped_kv_store_put(
                                     rows, key, klen, value, vlen,
                                     ks_record_timestamp(rec));
        }
        err = ks_timestamped_kv_store_delete(rows, key, klen, NULL, NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

static void regroup_release(ks__dsl_state_t *base) {
        regroup_state_t *in = (regroup_state_t *)base;
        ks_headers_destroy(in->add);
        ks_headers_destroy(in->sub);
        ks_buf_destroy(in->value);
}

static ks_err_t regroup_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        (void)ctx;
        regroup_state_t *in = (regroup_state_t *)base;
        if (!(in->add = ks_headers_new()) || !(in->sub = ks_headers_new()) ||
            !(in->value = ks_buf_new()) ||
            ks_headers_add(in->add, CHANGE_HEADER, "+", 1) ||
            ks_headers_add(in->sub, CHANGE_HEADER, "-", 1))
                return KS_ERR_NO_MEMORY;
        return KS_ERR_NO_ERROR;
}

static const ks__dsl_class_t regroup_class = {
        KS__DSL_STATEFUL(regroup_process),
        .state_size = sizeof(regroup_state_t), .open = regroup_open,
        .release = regroup_release};

ks_grouped_table_t *ks_table_group_by(ks_table_t *t, ks_mapper_cb *selector,
                                      void *opaque, const char *name) {
        if (!t || !ks__dsl_start(t->b, "table group_by", (void *)selector,
                                 "key selector"))
                return NULL;
        ks_builder_t *b = t->b;
        ks__dsl_step_t *st =
                ks__dsl_map_new(b, &regroup_class, NULL, "KTABLE-SELECT",
                                selector, opaque, KS__EMIT, 1);
        if (!st)
                return NULL;
        /* The rows as last seen, to take them out of their old group. */
        char sbuf[320];
        snprintf(sbuf, sizeof(sbuf), "%s-rows", name ? name : st->name);
        st->timestamped = 1;
        if (!(st->store = ks__strdup(sbuf)) ||
            !ks__dsl_add_store(b, st->store, st->name, 1)) {
                if (!st->store)
                        ks__dsl_oom(b);
                ks__dsl_step_free(st);
                return NULL;
        }
        char *node = ks__dsl_chain(b, t->node, st);
        ks_grouped_table_t *gt =
                ks__dsl_node_handle(b, sizeof(*gt), grouped_table_free, node);
        if (gt)
                *gt = (ks_grouped_table_t){gt->h, b,
                                           grouping_of(b, node, name)};
        return gt;
}

static ks_table_t *table_aggregation(ks_grouped_table_t *gt, agg_kind_t kind,
                                     ks_initializer_cb *init,
                                     ks_aggregator_cb *adder,
                                     ks_aggregator_cb *subtractor, void *opaque,
                                     const char *store_name, const char *name) {
        const char *what = kind == AGG_COUNT    ? "table count"
                           : kind == AGG_REDUCE ? "table reduce"
                                                : "table aggregate";
        ks_builder_t *b = gt ? gt->b : NULL;
        if (!ks__dsl_usable(b, what) ||
            (kind != AGG_COUNT &&
             (!ks__dsl_need(b, (void *)adder, what, "adder") ||
              !ks__dsl_need(b, (void *)subtractor, what, "subtractor"))) ||
            (kind == AGG_AGGREGATE &&
             !ks__dsl_need(b, (void *)init, what, "initializer")))
                return NULL;
        agg_step_t tmpl = {.kind = kind,
                           .init = init,
                           .add = adder,
                           .sub = subtractor,
                           .table = 1};
        return aggregate(b, &gt->g, tmpl,
                         kind == AGG_REDUCE ? "KTABLE-REDUCE"
                                            : "KTABLE-AGGREGATE",
                         name, opaque, store_name, 1, NULL, NULL,
                         kind == AGG_COUNT ? ks_serde_int64() : NULL);
}

ks_table_t *ks_grouped_table_count(ks_grouped_table_t *g,
                                   const char *store_name, const char *name) {
        return table_aggregation(g, AGG_COUNT, NULL, NULL, NULL, NULL,
                                 store_name, name);
}

ks_table_t *ks_grouped_table_reduce(ks_grouped_table_t *g,
                                    ks_aggregator_cb *adder,
                                    ks_aggregator_cb *subtractor, void *opaque,
                                    const char *store_name, const char *name) {
        return table_aggregation(g, AGG_REDUCE, NULL, adder, subtractor, opaque,
                                 store_name, name);
}

ks_table_t *ks_grouped_table_aggregate(ks_grouped_table_t *g,
                                       ks_initializer_cb *init,
                                       ks_aggregator_cb *adder,
                                       ks_aggregator_cb *subtractor,
                                       void *opaque, const char *store_name,
                                       const char *name) {
        return table_aggregation(g, AGG_AGGREGATE, init, adder, subtractor,
                                 opaque, store_name, name);
}
