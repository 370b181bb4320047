/* Key joins against a table's store: stream-table joins (join, left_join)
 * and table-table joins (inner, left, outer).
 *
 * Both are made of one step kind: a record from one side looks up its key
 * in the other side's store, read through that store's record cache so it
 * sees the latest row even before the cache lets it out. The step is
 * connected to the other side's store, which puts both sides in one
 * sub-topology (so the start-up co-partitioning check covers them). A
 * stream record without a match (inner) or without a value is dropped; a
 * table update without a result becomes a tombstone. A table-table join is
 * two such steps, one per side, merged into one table; neither is
 * materialized, so the joined table has no store of its own.
 *
 * A stream record joining a versioned table meets the table's row as of
 * the record's timestamp (KIP-914), not its latest; table-table joins do
 * not take versioned tables yet. The stream-table join with a grace
 * period, which holds stream records back, is versioned_join.c.
 *
 * Timestamps, as in Kafka Streams: a stream-table join's output keeps the
 * stream record's; a table-table join's is the later of the updated row's
 * and the other side's row's (the update's own when the other side has no
 * row). */
#include "dsl_int.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
        ks__dsl_step_t base; /* base.store: the other side's store */
        ks_value_joiner_cb *joiner;
        ks_join_kind_t kind;
        int right_side; /* the records are the right side's */
} join_step_t;

/* This record with the other side's current value. @p table: a table
 * update, whose missing result is a tombstone. */
static ks_err_t join(ks_context_t *ctx, const ks_record_t *rec,
                     ks__dsl_state_t *in, int table) {
        const join_step_t *st = (const join_step_t *)in->step;
        size_t klen, vlen, olen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key || (!table && !value))
                return KS_ERR_NO_ERROR; /* as Kafka Streams: dropped */
        const void *other;
        int64_t other_ts = -1;
        /* A versioned table answers with its row as of the record's time. */
        ks_err_t err = in->versions
                               ? ks__dsl_lookup_as_of(in->versions, key, klen,
                                                      ks_record_timestamp(rec),
                                                      &other, &olen)
                               : ks__dsl_lookup(in->store, key, klen, &other,
                                                &olen, &other_ts);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->base.store, ks_err2str(err));
        const void *l = st->right_side ? other : value;
        const void *r = st->right_side ? value : other;
        size_t ll = st->right_side ? olen : vlen;
        size_t rl = st->right_side ? vlen : olen;
        int result = st->kind == KS_JOIN_INNER  ? l && r
                     : st->kind == KS_JOIN_LEFT ? l != NULL
                                                : l || r;
        int64_t ts = ks_record_timestamp(rec);
        if (table)
                ts = ks__dsl_max_ts(ts, other != NULL, other_ts);
        if (!result)
                return table ? ks_context_forward_record(ctx, NULL, key, klen,
                                                         NULL, 0, ts, NULL)
                             : KS_ERR_NO_ERROR;
        /* The other side's value may live in a cache the joiner's output
         * could move: the join goes into a buffer of our own. */
        return ks__dsl_join_forward(ctx, &st->base, st->joiner, key, klen, l,
                                    ll, r, rl, ts, in->buf);
}

static ks_err_t stream_join_process(ks_context_t *ctx, const ks_record_t *rec,
                                    void *state) {
        return join(ctx, rec, state, 0);
}

static ks_err_t table_join_process(ks_context_t *ctx, const ks_record_t *rec,
                                   void *state) {
        return join(ctx, rec, state, 1);
}

static const ks__dsl_class_t stream_join_class = {
        KS__DSL_STATEFUL(stream_join_process)};
static const ks__dsl_class_t table_join_class = {
        KS__DSL_STATEFUL(table_join_process)};

/* A join step of class @p cls against the store of table @p other; NULL
 * if the builder failed. */
static join_step_t *join_step_new(ks_builder_t *b, const ks__dsl_class_t *cls,
                                  const char *user, const char *kind_name,
                                  ks_value_joiner_cb *joiner, void *opaque,
                                  ks_join_kind_t kind,
                                  const ks_table_t *other) {
        join_step_t *st =
                ks__dsl_step_new(b, cls, sizeof(*st), user, kind_name, opaque);
        if (!st)
                return NULL;
        /* A table's store, timestamped or versioned. */
        st->base.versioned = other->history_ms > 0;
        st->base.timestamped = !st->base.versioned;
        st->joiner = joiner;
        st->kind = kind;
        if (!(st->base.store = ks__strdup(other->store))) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        return st;
}

static ks_stream_t *stream_join(ks_stream_t *s, ks_table_t *t,
                                ks_value_joiner_cb *joiner, void *opaque,
                                const char *name, ks_join_kind_t kind) {
        const char *what = kind == KS_JOIN_INNER ? "join" : "left_join";
        ks_builder_t *b = ks__dsl_stream_start(s, what);
        if (!b || !ks__dsl_materialized(b, t, what) ||
            !ks__dsl_need(b, (void *)joiner, what, "joiner"))
                return NULL;
        if (s->repartition_required && !(s = ks_stream_repartition(s, 0, NULL)))
                return NULL;
        join_step_t *st = join_step_new(
                b, &stream_join_class, name,
                kind == KS_JOIN_INNER ? "KSTREAM-JOIN" : "KSTREAM-LEFTJOIN",
                joiner, opaque, kind, t);
        char *node = ks__dsl_chain(b, s->node, st);
        return ks__dsl_stream_new(b, node, s->key_serde, NULL, 0);
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
        ks_builder_t *b = ks__dsl_table_join_start(left, right, "table join",
                                                   (void *)joiner, "joiner");
        if (!b)
                return NULL;
        if (kind != KS_JOIN_INNER && kind != KS_JOIN_LEFT &&
            kind != KS_JOIN_OUTER) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "table join: unknown kind %d", (int)kind);
                return NULL;
        }
        char this_name[300], other_name[300];
        snprintf(this_name, sizeof(this_name), "%s-join-this",
                 name ? name : "");
        snprintf(other_name, sizeof(other_name), "%s-join-other",
                 name ? name : "");
        /* Each side looks up the other side's store. */
        join_step_t *sides[2] = {
                join_step_new(b, &table_join_class, name ? this_name : NULL,
                              "KTABLE-JOINTHIS", joiner, opaque, kind, right),
                join_step_new(b, &table_join_class, name ? other_name : NULL,
                              "KTABLE-JOINOTHER", joiner, opaque, kind, left)};
        ks__dsl_step_t *merge = ks__dsl_pass_new(b, name, "KTABLE-MERGE");
        if (!sides[0] || !sides[1] || !merge) {
                ks__dsl_step_free(sides[0]);
                ks__dsl_step_free(sides[1]);
                ks__dsl_step_free(merge);
                return NULL;
        }
        sides[1]->right_side = 1;
        char *nodes[2] = {ks__dsl_chain(b, left->node, sides[0]),
                          ks__dsl_chain(b, right->node, sides[1])};
        ks_table_t *t = NULL;
        if (nodes[0] && nodes[1]) {
                const char *parents[] = {nodes[0], nodes[1]};
                char *node = ks__dsl_add_node(b, merge, parents, 2);
                t = ks__dsl_table_new(b, node, NULL, left->key_serde, NULL);
        } else {
                ks__dsl_step_free(merge);
        }
        free(nodes[0]);
        free(nodes[1]);
        return t;
}
