/* Deduplication within a time span (Spark's dropDuplicatesWithinWatermark;
 * Kafka Streams leaves it to the Processor API).
 *
 * A record with id x at t is a duplicate if a record of id x that passed
 * is at most `within` away: |t - t0| <= within. The records that passed
 * are remembered in a logged window store of the step, keyed by id at
 * start t0 (value be64 t0), so the question is one range fetch,
 * [t - within, t + within], of the id's windows. Two records that passed
 * never share an id and start (the second would be a duplicate), so the
 * store needs no duplicates of its own.
 *
 * Stream time S is the largest timestamp the step has seen; a record
 * before S - within is late and dropped: what it would duplicate may be
 * gone. Nothing older is ever needed: a record that is not late fetches
 * from t - within >= S - 2 * within, and the store keeps every start above
 * observed - retention, observed (the largest start put) <= S, so a
 * retention of 2 * within + 1 keeps the whole range. S is not stored: a
 * task that reopens (after a failover, from the restored store) starts
 * from the store's observed stream time, at most `within` below the S it
 * had (a duplicate is within `within` of a record put), so the records it
 * then takes as not late are deduplicated against everything remembered.
 * Timestamps are never negative (sources and forwarding refuse them); the
 * time arithmetic saturates all the same, as the windowed steps'. */
#include "dsl_int.h"

#include <inttypes.h>
#include <stdlib.h>

/* Spans are bounded so that the retention (2 * within + 1) and the
 * changelog's (plus the additional retention) stay far from overflow. */
#define MAX_WITHIN (INT64_MAX / 8)

typedef struct {
        ks__dsl_step_t base;
        ks_mapper_cb *extractor; /* NULL: the key is the id */
        int64_t within;
        char *wstore; /* the window store of the ids that passed */
} dedup_step_t;

typedef struct {
        ks__dsl_state_t base; /* base.buf: the id the extractor emits */
        ks_window_store_t *ws;
        int64_t observed; /* stream time; INT64_MIN: none */
} dedup_state_t;

static ks_err_t dedup_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        dedup_state_t *in = (dedup_state_t *)base;
        const dedup_step_t *st = (const dedup_step_t *)base->step;
        ks_err_t err = ks_context_get_window_store(ctx, st->wstore, &in->ws);
        if (err)
                return ks_context_set_error(ctx, "step %s: store %s: %s",
                                            st->base.name, st->wstore,
                                            ks_err2str(err));
        /* The largest timestamp remembered (restored ones included). */
        in->observed = ks__window_store_observed(in->ws);
        return KS_ERR_NO_ERROR;
}

/* 1 if the window store holds a record of id @p id within the step's span
 * of @p t (*errp set on failure). */
static int seen(const dedup_step_t *st, dedup_state_t *in, const void *id,
                size_t idlen, int64_t t, ks_err_t *errp) {
        ks_window_iter_t *it;
        *errp = ks_window_store_fetch_range(in->ws, id, idlen,
                                            ks__ts_sub(t, st->within),
                                            ks__ts_add(t, st->within), &it);
        if (*errp)
                return 0;
        int found = ks_window_iter_next(it, NULL, NULL, NULL, NULL, NULL);
        if (!found)
                *errp = ks_window_iter_error(it);
        ks_window_iter_destroy(it);
        return found;
}

static ks_err_t dedup_process(ks_context_t *ctx, const ks_record_t *rec,
                              void *state) {
        static const ks__dsl_mapper_role_t role = {"id extractor", "record", 1,
                                                   0};
        dedup_state_t *in = state;
        const dedup_step_t *st = (const dedup_step_t *)in->base.step;
        const void *id = rec->key;
        size_t idlen = rec->klen;
        ks_err_t err;
        if (st->extractor) {
                ks_emitter_t out;
                ks__dsl_emitter_init(&out, ctx, rec, KS__EMIT_KEY, in->base.buf,
                                     NULL);
                if ((err = ks__dsl_run_mapper(ctx, &st->base, st->extractor,
                                              &out, &role)))
                        return err;
                idlen = ks_buf_len(in->base.buf);
                /* An empty id is an id (an empty buffer may have no
                 * data). */
                id = out.key_null ? NULL
                     : idlen      ? ks_buf_data(in->base.buf)
                                  : "";
        }
        if (!id) /* nothing to deduplicate on */
                return ks_context_forward_record(ctx, NULL, rec->key, rec->klen,
                                                 rec->value, rec->vlen,
                                                 rec->timestamp, rec->headers);
        int64_t t = rec->timestamp;
        if (t > in->observed)
                in->observed = t;
        if (t < ks__ts_sub(in->observed, st->within)) {
                ks__context_record_late(
                        ctx,
                        "step %s: skipping a record too late to deduplicate "
                        "(timestamp %" PRId64 ", stream time %" PRId64
                        ", within %" PRId64 " ms; topic %s, partition %d, "
                        "offset %" PRId64 ")",
                        st->base.name, t, in->observed, st->within,
                        ks_context_topic(ctx) ? ks_context_topic(ctx) : "-",
                        (int)ks_context_partition(ctx), ks_context_offset(ctx));
                return KS_ERR_NO_ERROR;
        }
        int dup = seen(st, in, id, idlen, t, &err);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->wstore, ks_err2str(err));
        if (dup) {
                ks__context_record_duplicate(ctx);
                return KS_ERR_NO_ERROR;
        }
        uint8_t v[8];
        ks__be64_put(v, (uint64_t)t);
        if ((err = ks_window_store_put(in->ws, id, idlen, t, v, sizeof(v))))
                return ks_context_set_error(
                        ctx, "step %s: writing store %s: %s", st->base.name,
                        st->wstore, ks_err2str(err));
        return ks_context_forward_record(ctx, NULL, rec->key, rec->klen,
                                         rec->value, rec->vlen, rec->timestamp,
                                         rec->headers);
}

static void dedup_free(ks__dsl_step_t *base) {
        free(((dedup_step_t *)base)->wstore);
}

static const ks__dsl_class_t dedup_class = {
        KS__DSL_STATEFUL(dedup_process), .free = dedup_free,
        .state_size = sizeof(dedup_state_t), .open = dedup_open};

/* Add the step's window store; 0 (builder failed) on failure. */
static int add_store(ks_builder_t *b, const dedup_step_t *st) {
        ks_error_t *e = NULL;
        /* Window size: the span a remembered record covers, as a
         * JoinWindows' before + after. */
        ks_err_t err = ks_topology_add_window_store(
                b->topo, st->wstore, KS_STORE_ROCKSDB, 2 * st->within + 1,
                2 * st->within, 0, &e);
        return !ks__dsl_failed_call(b, err, e, st->base.name);
}

ks_stream_t *ks_stream_deduplicate(ks_stream_t *s, ks_mapper_cb *id_extractor,
                                   void *opaque, int64_t within_ms,
                                   const char *store_name, const char *name) {
        ks_builder_t *b = ks__dsl_stream_start(s, "deduplicate");
        if (!b)
                return NULL;
        if (within_ms <= 0 || within_ms > MAX_WITHIN) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "deduplicate: within_ms %" PRId64
                             " is out of range (0 < within_ms <= %" PRId64 ")",
                             within_ms, (int64_t)MAX_WITHIN);
                return NULL;
        }
        dedup_step_t *st = ks__dsl_step_new(b, &dedup_class, sizeof(*st), name,
                                            "KSTREAM-DEDUPLICATE", opaque);
        if (!st)
                return NULL;
        st->extractor = id_extractor;
        st->within = within_ms;
        st->wstore = store_name ? ks__strdup(store_name)
                                : ks__dsl_name_of(b, st->base.name, "store");
        if (!st->wstore) {
                if (store_name)
                        ks__dsl_oom(b);
                ks__dsl_step_free(st);
                return NULL;
        }
        if (!add_store(b, st)) {
                ks__dsl_step_free(st);
                return NULL;
        }
        /* Ids are remembered per partition: a stream re-keyed upstream is
         * partitioned by its new key first. */
        char *parent =
                s->repartition_required
                        ? ks__dsl_repartition(b, s->node, st->base.name, 0,
                                              s->key_serde, s->value_serde)
                        : ks__strdup(s->node);
        if (!parent) {
                if (!s->repartition_required)
                        ks__dsl_oom(b);
                ks__dsl_step_free(st);
                return NULL;
        }
        /* Once added, the step (and its store's name) is the topology's;
         * a failed add has freed it. */
        char *node = ks__dsl_chain(b, parent, st);
        free(parent);
        ks_error_t *e = NULL;
        if (node &&
            ks__dsl_failed_call(
                    b, ks_topology_connect_store(b->topo, st->wstore, node, &e),
                    e, node)) {
                free(node);
                node = NULL;
        }
        return ks__dsl_stream_new(b, node, s->key_serde, s->value_serde, 0);
}
