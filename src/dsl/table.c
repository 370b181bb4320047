/* Tables: the steps that keep a table's rows in a store of their own, the
 * record cache in front of that store, and the table operators that keep
 * no rows (filter, map_values, to_stream).
 *
 * A materialized table's rows live in a logged RocksDB timestamped
 * key-value store written by exactly one step: a table source, to_table,
 * or an aggregation (grouped.c). A row is stored as `be64 timestamp |
 * value`, its timestamp that of the record that made it (an aggregation's:
 * the latest of its records'); the step writes those bytes to the
 * key-value handle under the store, and to the record cache in front of
 * it. When its task has a cache budget, that step attaches a record cache
 * to the store (src/state/record_cache.c) and a change waits there until
 * the cache lets it out (eviction, or the flush before each commit): then
 * it is written to the store, which logs it, and forwarded with the row's
 * timestamp and no headers. Without a cache a change goes out at once,
 * with the row's timestamp and the headers of the record being processed.
 * Joins read the store through the cache (ks__dsl_lookup), which strips
 * the timestamp. A filtered or mapped table has no store of its own
 * (ks_table_t.store NULL) and cannot be joined.
 *
 * A versioned table (KIP-914: ks_builder_versioned_table(),
 * ks_stream_to_versioned_table(); ks_table_t.history_ms > 0) keeps its
 * rows in a versioned key-value store instead, without a record cache: an
 * update is put at its record's timestamp and forwarded at once, with the
 * record's headers, only if it became the key's latest version. Its store
 * logs to a changelog of its own, even when read from a topic. */
#include "dsl_int.h"

#include <stdlib.h>

/* --- steps writing their own store through a record cache ---------------- */

/* Write stored row @p row (NULL: a delete) to the store and forward the
 * change, its value without the timestamp, at @p ts with @p headers
 * (NULL: the record being processed's). */
static ks_err_t write_out(ks_context_t *ctx, ks__dsl_state_t *in,
                          const void *key, size_t klen, const void *row,
                          size_t rlen, int64_t ts,
                          const ks_headers_t *headers) {
        const void *value = NULL;
        size_t vlen = 0;
        int64_t row_ts;
        if (row && !ks__ts_value_split(row, rlen, &row_ts, &value, &vlen))
                return KS_ERR_STORE; /* never: the step made the row */
        ks_err_t err =
                row ? ks_kv_store_put(in->store, key, klen, row, rlen)
                    : ks_kv_store_delete(in->store, key, klen, NULL, NULL);
        if (err && err != KS_ERR_NOT_FOUND)
                return err;
        return ks_context_forward_record(ctx, NULL, key, klen, value, vlen, ts,
                                         headers);
}

/* The record cache's listener: what it lets out (@p arg: the context), a
 * stored row stamped with the row's timestamp. */
static ks_err_t cache_write(void *opaque, void *arg, const void *key,
                            size_t klen, const void *row, size_t rlen,
                            int64_t ts) {
        ks__dsl_state_t *in = opaque;
        /* An entry let out (on eviction, while another record is processed,
         * or on a flush) is not that record's output: whether and when it
         * goes depends on the cache, not on the input, so a replay would
         * not send it again in the same place. */
        ks__context_detach_origin(arg, 1);
        ks_err_t err =
                write_out(arg, in, key, klen, row, rlen, ts, in->no_headers);
        ks__context_detach_origin(arg, 0);
        return err;
}

ks_err_t ks__dsl_cached_put(ks_context_t *ctx, ks__dsl_state_t *in,
                            const void *key, size_t klen, const void *value,
                            size_t vlen, int64_t ts, int drop_headers) {
        /* The store and its cache hold stored rows. */
        const void *row = NULL;
        size_t rlen = 0;
        if (value) {
                ks_buf_reset(in->row);
                ks_err_t err = ks__ts_value_append(in->row, ts, value, vlen);
                if (err)
                        return err;
                row = ks_buf_data(in->row);
                rlen = ks_buf_len(in->row);
        }
        if (in->store->cache)
                return ks__record_cache_put(in->store->cache, key, klen, row,
                                            rlen, ts, ctx);
        return write_out(ctx, in, key, klen, row, rlen, ts,
                         drop_headers ? in->no_headers : NULL);
}

ks_err_t ks__dsl_cached_open(ks_context_t *ctx, ks__dsl_state_t *in) {
        (void)ctx;
        return ks__record_cache_attach(in->store, cache_write, in);
}

void ks__dsl_cached_release(ks__dsl_state_t *in) {
        /* Dirty entries are not written: a task closes after its last
         * commit flushed them, or without committing (the changes are void
         * and the input is processed again). */
        ks__record_cache_detach(in->store);
}

ks_err_t ks__dsl_cached_flush(ks_context_t *ctx, void *state) {
        ks__dsl_state_t *in = state;
        if (!in || !in->store->cache)
                return KS_ERR_NO_ERROR;
        return ks__record_cache_flush(in->store->cache, ctx);
}

ks_table_t *ks__dsl_table_step(ks_builder_t *b, ks__dsl_step_t *st,
                               const char *parent, ks_serde_t *ks,
                               ks_serde_t *vs) {
        char *store = parent ? ks__strdup(st->store) : NULL;
        if (!store) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b); /* unless the builder failed before */
                return NULL;
        }
        char *node = ks__dsl_chain(b, parent, st);
        ks_table_t *t = ks__dsl_table_new(b, node, store, ks, vs);
        free(store);
        return t;
}

/* --- materializing: table sources, to_table ------------------------------ */

/* Set the row of the record's key to its value (a tombstone deletes it).
 * Records without a key are skipped, as in Kafka Streams. */
static ks_err_t materialize_process(ks_context_t *ctx, const ks_record_t *rec,
                                    void *state) {
        ks__dsl_state_t *in = state;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        return key ? ks__dsl_cached_put(ctx, in, key, klen, value, vlen,
                                        ks_record_timestamp(rec), 0)
                   : KS_ERR_NO_ERROR;
}

static const ks__dsl_class_t materialize_class = {
        KS__DSL_CACHED(materialize_process)};

/* A versioned table's update: put at the record's timestamp, and forwarded
 * only when it is the key's latest version (KIP-914); one older than the
 * store's history is dropped, counted as late. No record cache: each
 * update is a version of its own. */
static ks_err_t versioned_process(ks_context_t *ctx, const ks_record_t *rec,
                                  void *state) {
        ks__dsl_state_t *in = state;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        int64_t ts = ks_record_timestamp(rec);
        if (!key)
                return KS_ERR_NO_ERROR;
        int stored;
        ks_err_t err = ks_versioned_kv_store_put(in->versions, key, klen, value,
                                                 vlen, ts, &stored);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: writing store %s: %s", in->step->name,
                        in->step->store, ks_err2str(err));
        if (stored == KS_VERSIONED_NOT_PUT) {
                ks__context_record_late(
                        ctx,
                        "step %s: dropping an update at %lld, older than "
                        "the history of store %s (observed stream time "
                        "%lld, history retention %lld ms)",
                        in->step->name, (long long)ts, in->step->store,
                        (long long)ks_versioned_kv_store_observed_stream_time(
                                in->versions),
                        (long long)ks_versioned_kv_store_history_retention_ms(
                                in->versions));
                return KS_ERR_NO_ERROR;
        }
        if (stored == KS_VERSIONED_PUT_HISTORY)
                return KS_ERR_NO_ERROR; /* out of order: history only */
        return ks_context_forward(ctx, key, klen, value, vlen);
}

static const ks__dsl_class_t versioned_class = {
        KS__DSL_STATEFUL(versioned_process)};

/* A materializing step named @p name (default "<kind>-<index>") under
 * @p parent, with a store named @p store (default
 * "<store_prefix>-STATE-STORE-<index>"): a versioned store keeping
 * @p history_ms of history if it is > 0. */
static ks_table_t *materialize(ks_builder_t *b, const char *parent,
                               const char *store, const char *store_prefix,
                               const char *name, const char *kind,
                               ks_serde_t *ks, ks_serde_t *vs,
                               int64_t history_ms) {
        ks__dsl_step_t *st = ks__dsl_step_new(
                b, history_ms ? &versioned_class : &materialize_class,
                sizeof(*st), name, kind, NULL);
        if (!st ||
            !(history_ms ? ks__dsl_own_versioned_store(b, st, store,
                                                       store_prefix, history_ms)
                         : ks__dsl_own_store(b, st, store, store_prefix)))
                return NULL;
        ks_table_t *t = ks__dsl_table_step(b, st, parent, ks, vs);
        if (t)
                t->history_ms = history_ms;
        return t;
}

/* A source of @p topic for table operation @p what, its name (copy), or
 * NULL if the builder failed. */
static char *table_source(ks_builder_t *b, const char *topic,
                          ks_serde_t *key_serde, ks_serde_t *value_serde) {
        char *src = ks__dsl_name(b, NULL, "KSTREAM-SOURCE");
        if (!src)
                return NULL;
        const char *topics[] = {topic};
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_source(b->topo, src, topics, 1,
                                              key_serde, value_serde, &e);
        if (ks__dsl_failed_call(b, err, e, src)) {
                free(src);
                return NULL;
        }
        return src;
}

ks_table_t *ks_builder_table(ks_builder_t *b, const char *topic,
                             ks_serde_t *key_serde, ks_serde_t *value_serde,
                             const char *store_name) {
        if (!ks__dsl_start(b, "table", topic, "topic"))
                return NULL;
        char *src = table_source(b, topic, key_serde, value_serde);
        ks_table_t *t = NULL;
        if (src)
                t = materialize(b, src, store_name, topic, NULL,
                                "KTABLE-SOURCE",
                                ks__dsl_keep_serde(b, key_serde),
                                ks__dsl_keep_serde(b, value_serde), 0);
        /* The topic is the store's changelog (as Kafka Streams' source
         * table optimization): no changelog topic of its own. */
        if (t && ks__topology_store_source(b->topo, t->store, topic))
                ks__dsl_oom(b);
        free(src);
        return t;
}

/* A positive history retention for @p what, else 0 with an error. */
static int history_ok(ks_builder_t *b, int64_t history_ms, const char *what) {
        if (history_ms > 0)
                return 1;
        ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                     "%s: history retention %lld ms is not positive", what,
                     (long long)history_ms);
        return 0;
}

ks_table_t *ks_builder_versioned_table(ks_builder_t *b, const char *topic,
                                       ks_serde_t *key_serde,
                                       ks_serde_t *value_serde,
                                       const char *store_name,
                                       int64_t history_retention_ms) {
        const char *what = "versioned_table";
        if (!ks__dsl_start(b, what, topic, "topic") ||
            !history_ok(b, history_retention_ms, what))
                return NULL;
        /* The store logs to a changelog of its own: its entries (one per
         * version) are not the topic's records. */
        char *src = table_source(b, topic, key_serde, value_serde);
        ks_table_t *t = NULL;
        if (src)
                t = materialize(b, src, store_name, topic, NULL,
                                "KTABLE-SOURCE",
                                ks__dsl_keep_serde(b, key_serde),
                                ks__dsl_keep_serde(b, value_serde),
                                history_retention_ms);
        free(src);
        return t;
}

static ks_table_t *stream_to_table(ks_stream_t *s, const char *store_name,
                                   const char *name, int64_t history_ms,
                                   const char *what) {
        if (!s || !ks__dsl_usable(s->b, what) ||
            (history_ms && !history_ok(s->b, history_ms, what)))
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
                           "KSTREAM-TOTABLE", s->key_serde, s->value_serde,
                           history_ms);
}

ks_table_t *ks_stream_to_table(ks_stream_t *s, const char *store_name,
                               const char *name) {
        return stream_to_table(s, store_name, name, 0, "to_table");
}

ks_table_t *ks_stream_to_versioned_table(ks_stream_t *s, const char *store_name,
                                         int64_t history_retention_ms,
                                         const char *name) {
        /* 0 is refused, not taken for "not versioned". */
        if (s && !history_ok(s->b, history_retention_ms, "to_versioned_table"))
                return NULL;
        return stream_to_table(s, store_name, name, history_retention_ms,
                               "to_versioned_table");
}

const char *ks_table_store_name(const ks_table_t *t) {
        return t ? t->store : NULL;
}

int ks__dsl_materialized(ks_builder_t *b, const ks_table_t *t,
                         const char *what) {
        if (!t || t->b != b) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG, "%s: the table is %s", what,
                             t ? "from another builder" : "NULL");
                return 0;
        }
        if (t->windows) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "%s: table %s is windowed; turn it into a stream "
                             "with ks_table_to_stream() first",
                             what, t->node);
                return 0;
        }
        if (!t->store)
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "%s: table %s has no store (a filtered or mapped "
                             "table); join the table it came from, or make "
                             "one with ks_stream_to_table()",
                             what, t->node);
        return t->store != NULL;
}

int ks__dsl_unversioned(ks_builder_t *b, const ks_table_t *t,
                        const char *what) {
        if (!t || !t->history_ms)
                return 1;
        ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                     "%s: table %s is versioned (store %s); the %s does not "
                     "take a versioned table yet",
                     what, t->node, t->store, what);
        return 0;
}

ks_builder_t *ks__dsl_table_join_start(const ks_table_t *left,
                                       const ks_table_t *right,
                                       const char *what, const void *cb,
                                       const char *cb_name) {
        ks_builder_t *b = left ? left->b : NULL;
        if (!ks__dsl_usable(b, what) || !ks__dsl_materialized(b, left, what) ||
            !ks__dsl_materialized(b, right, what) ||
            !ks__dsl_unversioned(b, left, what) ||
            !ks__dsl_unversioned(b, right, what) ||
            !ks__dsl_need(b, cb, what, cb_name))
                return NULL;
        return b;
}

/* --- filter, map_values, to_stream --------------------------------------- */

/* A row the predicate does not keep becomes a tombstone: downstream, it
 * leaves the filtered table. */
static ks_err_t table_filter_process(ks_context_t *ctx, const ks_record_t *rec,
                                     void *state) {
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (value && !ks__dsl_filter_keeps(state, rec))
                value = NULL, vlen = 0;
        return ks_context_forward(ctx, key, klen, value, vlen);
}

static const ks__dsl_class_t table_filter_class = {
        KS__DSL_STATELESS(table_filter_process)};

/* Tombstones pass without calling the mapper. */
static ks_err_t table_map_values_process(ks_context_t *ctx,
                                         const ks_record_t *rec, void *state) {
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        if (!ks_record_value(rec, &vlen))
                return ks_context_forward(ctx, key, klen, NULL, 0);
        return ks__dsl_map_run(ctx, state, rec, NULL, NULL);
}

static const ks__dsl_class_t table_map_values_class = {
        KS__DSL_STATELESS(table_map_values_process)};

/* The table out of step @p st, added after table @p t. */
static ks_table_t *table_after(ks_table_t *t, void *st, int new_value) {
        char *node = ks__dsl_chain(t->b, t->node, st);
        return ks__dsl_table_new(t->b, node, NULL, t->key_serde,
                                 new_value ? NULL : t->value_serde);
}

static ks_table_t *table_filter(ks_table_t *t, ks_predicate_cb *pred,
                                void *opaque, const char *name, int negate) {
        const char *kind = "KTABLE-FILTER";
        if (!t || !ks__dsl_start(t->b, kind, (void *)pred, "predicate"))
                return NULL;
        return table_after(t,
                           ks__dsl_filter_new(t->b, &table_filter_class, name,
                                              kind, pred, opaque, negate),
                           0);
}

ks_table_t *ks_table_filter(ks_table_t *t, ks_predicate_cb *pred, void *opaque,
                            const char *name) {
        return table_filter(t, pred, opaque, name, 0);
}

ks_table_t *ks_table_filter_not(ks_table_t *t, ks_predicate_cb *pred,
                                void *opaque, const char *name) {
        return table_filter(t, pred, opaque, name, 1);
}

ks_table_t *ks_table_map_values(ks_table_t *t, ks_mapper_cb *mapper,
                                void *opaque, const char *name) {
        const char *kind = "KTABLE-MAPVALUES";
        if (!t || !ks__dsl_start(t->b, kind, (void *)mapper, "mapper"))
                return NULL;
        return table_after(t,
                           ks__dsl_map_new(t->b, &table_map_values_class, name,
                                           kind, mapper, opaque, KS__EMIT_VALUE,
                                           1),
                           1);
}

ks_stream_t *ks_table_to_stream(ks_table_t *t, const char *name) {
        if (!t || !ks__dsl_usable(t->b, "to_stream"))
                return NULL;
        void *st = ks__dsl_pass_new(t->b, name, "KTABLE-TOSTREAM");
        char *node = ks__dsl_chain(t->b, t->node, st);
        return ks__dsl_stream_new(t->b, node, t->key_serde, t->value_serde, 0);
}

ks_stream_t *ks_table_to_stream_map_key(ks_table_t *t, ks_mapper_cb *mapper,
                                        void *opaque, const char *name) {
        if (!t ||
            !ks__dsl_start(t->b, "to_stream", (void *)mapper, "key mapper"))
                return NULL;
        return ks_stream_select_key(ks_table_to_stream(t, NULL), mapper, opaque,
                                    name);
}
