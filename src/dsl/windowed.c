/* Windows and windowed aggregations: window definitions, windowed_by and
 * the emit strategy, the count/reduce/aggregate entry points, and what the
 * time-window (window_agg.c), sliding-window (sliding_agg.c) and session
 * (session_agg.c) steps share: stream time, late records, folding, stored
 * values and emitting on close.
 *
 * Stored values are `be64 timestamp | aggregate` (Kafka Streams'
 * ValueAndTimestamp): the timestamp is the largest of the window's
 * records, the timestamp of its result.
 *
 * Emitting on window close keeps, in a logged key-value store of the step
 * ("<store>-emit"), one index entry per open window, `0x01 | be64(end ^
 * sign) | be64(start ^ sign) | key`, so the windows to close are one range
 * scan from the oldest end, and the step's stream time under the key 0x00
 * (written before each commit), so a task that moves neither emits a
 * window twice nor takes a late record into a window already emitted. */
#include "dsl_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SIGN_BIT                   ((uint64_t)1 << 63)
#define TIME_KEY                   "\x00"
#define INDEX_MARK                 0x01
#define EMIT_BATCH                 512 /* index entries read per scan */
#define KS__MAX_WINDOWS_PER_RECORD 100000

/* --- window definitions -------------------------------------------------- */

static ks_windows_t *windows_new(ks_window_kind_t kind, int64_t size,
                                 int64_t grace) {
        ks_windows_t *w = malloc(sizeof(*w));
        if (w)
                *w = (ks_windows_t){
                        kind,  size, kind == KS_WINDOWS_TIME ? size : 0,
                        grace, 0,    0};
        return w;
}

ks_windows_t *ks_time_windows_of_size_and_grace(int64_t size_ms,
                                                int64_t grace_ms) {
        return windows_new(KS_WINDOWS_TIME, size_ms, grace_ms);
}

ks_windows_t *ks_time_windows_of_size_no_grace(int64_t size_ms) {
        return windows_new(KS_WINDOWS_TIME, size_ms, 0);
}

ks_windows_t *ks_time_windows_advance_by(ks_windows_t *w, int64_t advance_ms) {
        if (w)
                w->advance = advance_ms;
        return w;
}

ks_windows_t *
ks_sliding_windows_of_time_difference_and_grace(int64_t diff_ms,
                                                int64_t grace_ms) {
        return windows_new(KS_WINDOWS_SLIDING, diff_ms, grace_ms);
}

ks_windows_t *ks_sliding_windows_of_time_difference_no_grace(int64_t diff_ms) {
        return windows_new(KS_WINDOWS_SLIDING, diff_ms, 0);
}

ks_windows_t *ks_session_windows_of_inactivity_gap_and_grace(int64_t gap_ms,
                                                             int64_t grace_ms) {
        return windows_new(KS_WINDOWS_SESSION, gap_ms, grace_ms);
}

ks_windows_t *ks_session_windows_of_inactivity_gap_no_grace(int64_t gap_ms) {
        return windows_new(KS_WINDOWS_SESSION, gap_ms, 0);
}

ks_windows_t *ks_join_windows_of_time_difference_and_grace(int64_t diff_ms,
                                                           int64_t grace_ms) {
        ks_windows_t *w = windows_new(KS_WINDOWS_JOIN, 0, grace_ms);
        return ks_join_windows_after(ks_join_windows_before(w, diff_ms),
                                     diff_ms);
}

ks_windows_t *ks_join_windows_of_time_difference_no_grace(int64_t diff_ms) {
        return ks_join_windows_of_time_difference_and_grace(diff_ms, 0);
}

/* Join windows keep size = before + after, saturating at either end (so
 * a window as empty as it gets is not reported as huge): the join checks
 * before and after themselves. */
static void join_size(ks_windows_t *w) {
        if (__builtin_add_overflow(w->before, w->after, &w->size))
                w->size = w->before < 0 ? INT64_MIN : INT64_MAX;
}

ks_windows_t *ks_join_windows_before(ks_windows_t *w, int64_t before_ms) {
        if (w && w->kind == KS_WINDOWS_JOIN) {
                w->before = before_ms;
                join_size(w);
        }
        return w;
}

ks_windows_t *ks_join_windows_after(ks_windows_t *w, int64_t after_ms) {
        if (w && w->kind == KS_WINDOWS_JOIN) {
                w->after = after_ms;
                join_size(w);
        }
        return w;
}

ks_window_kind_t ks_windows_kind(const ks_windows_t *w) {
        return w ? w->kind : KS_WINDOWS_TIME;
}

int64_t ks_windows_size_ms(const ks_windows_t *w) {
        return w ? w->size : -1;
}

int64_t ks_windows_grace_ms(const ks_windows_t *w) {
        return w ? w->grace : -1;
}

void ks_windows_destroy(ks_windows_t *w) {
        free(w);
}

/* Why @p w cannot be used, or NULL. Sizes are bounded so that window ends
 * and retentions (size + grace, twice that for sliding windows) stay far
 * from overflow. */
static const char *windows_invalid(const ks_windows_t *w) {
        const int64_t max = INT64_MAX / 8;
        if (w->kind == KS_WINDOWS_JOIN)
                return "the kind (join windows are for stream-stream joins)";
        if (w->size <= 0 || w->size > max)
                return w->kind == KS_WINDOWS_SESSION   ? "the inactivity gap"
                       : w->kind == KS_WINDOWS_SLIDING ? "the time difference"
                                                       : "the window size";
        if (w->grace < 0 || w->grace > max)
                return "the grace period";
        if (w->kind == KS_WINDOWS_TIME &&
            (w->advance <= 0 || w->advance > w->size))
                return "the advance (0 < advance <= size)";
        /* Every record updates size / advance windows. */
        if (w->kind == KS_WINDOWS_TIME &&
            w->size / w->advance > KS__MAX_WINDOWS_PER_RECORD)
                return "the advance (size / advance, the windows each "
                       "record falls in, is over 100000)";
        return NULL;
}

/* --- windowed streams ---------------------------------------------------- */

static void windowed_free(void *p) {
        free(p);
}

ks_windowed_stream_t *ks_grouped_windowed_by(ks_grouped_stream_t *g,
                                             ks_windows_t *w) {
        ks_builder_t *b = g ? g->b : NULL;
        ks_windowed_stream_t *ws = NULL;
        if (ks__dsl_usable(b, "windowed_by") &&
            ks__dsl_need(b, w, "windowed_by", "windows")) {
                const char *bad = windows_invalid(w);
                if (bad)
                        ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                                     "windowed_by: %s is invalid (size %" PRId64
                                     ", advance %" PRId64 ", grace %" PRId64
                                     " ms)",
                                     bad, w->size, w->advance, w->grace);
                else if ((ws = ks__dsl_handle_new(b, sizeof(*ws),
                                                  windowed_free)))
                        *ws = (ks_windowed_stream_t){ws->h,
                                                     b,
                                                     g,
                                                     *w,
                                                     KS_EMIT_ON_WINDOW_UPDATE,
                                                     KS_STORE_ROCKSDB,
                                                     0};
        }
        ks_windows_destroy(w);
        return ws;
}

ks_windowed_stream_t *ks_windowed_emit_strategy(ks_windowed_stream_t *ws,
                                                ks_emit_strategy_t s) {
        if (!ws || !ks__dsl_usable(ws->b, "emit_strategy"))
                return NULL;
        if (s != KS_EMIT_ON_WINDOW_UPDATE && s != KS_EMIT_ON_WINDOW_CLOSE) {
                ks__dsl_fail(ws->b, KS_ERR_INVALID_ARG,
                             "emit_strategy: unknown strategy %d", (int)s);
                return NULL;
        }
        ws->emit = s;
        return ws;
}

/* The store's retention: windows must outlive their end plus grace. */
static int64_t retention_of(const ks_windows_t *w) {
        return w->kind == KS_WINDOWS_SLIDING ? 2 * w->size + w->grace
                                             : w->size + w->grace;
}

ks_windowed_stream_t *ks_windowed_materialize(ks_windowed_stream_t *ws,
                                              ks_store_backend_t backend,
                                              int64_t retention_ms) {
        if (!ws || !ks__dsl_usable(ws->b, "materialize"))
                return NULL;
        int64_t min = retention_of(&ws->w);
        if ((backend != KS_STORE_ROCKSDB && backend != KS_STORE_IN_MEMORY) ||
            (retention_ms && retention_ms < min) || retention_ms < 0) {
                ks__dsl_fail(ws->b, KS_ERR_INVALID_ARG,
                             "materialize: %s (retention %" PRId64
                             " ms; the windows need at least %" PRId64 ")",
                             retention_ms > 0 && retention_ms < min
                                     ? "the retention is shorter than the "
                                       "windows need"
                                     : "unknown backend or negative retention",
                             retention_ms, min);
                return NULL;
        }
        ws->backend = backend;
        ws->retention = retention_ms;
        return ws;
}

const ks_windows_t *ks_table_windows(const ks_table_t *t) {
        return t ? t->windows : NULL;
}

void ks__win_step_free(ks__dsl_step_t *base) {
        free(((ks__win_step_t *)base)->wstore);
}

static int add_stores(ks_builder_t *b, ks__win_step_t *st,
                      const ks_windowed_stream_t *ws) {
        ks_error_t *e = NULL;
        ks_err_t err;
        int64_t ret = ws->retention > retention_of(&st->w)
                              ? ws->retention
                              : retention_of(&st->w);
        /* A session is final when it ends before stream time minus grace
         * minus gap, and expires when it ends a retention (gap + grace)
         * behind the largest end stored; one more millisecond keeps a
         * session ending exactly there until it has been emitted. Sliding
         * windows of 1 ms have the same edge (the largest start stored may
         * be a right window's, one past the newest record). */
        if (st->w.kind != KS_WINDOWS_TIME &&
            st->emit == KS_EMIT_ON_WINDOW_CLOSE && ret < INT64_MAX)
                ret++;
        if (st->w.kind == KS_WINDOWS_SESSION)
                err = ks_topology_add_session_store(b->topo, st->wstore,
                                                    ws->backend, ret, 0, &e);
        else
                err = ks_topology_add_window_store(
                        b->topo, st->wstore, ws->backend, ret,
                        st->w.size + (st->w.kind == KS_WINDOWS_SLIDING), 0, &e);
        if (ks__dsl_failed_call(b, err, e, st->base.name))
                return 0;
        if (st->emit != KS_EMIT_ON_WINDOW_CLOSE)
                return 1;
        if (!(st->base.store = ks__dsl_name_of(b, st->wstore, "emit"))) {
                ks__dsl_oom(b);
                return 0;
        }
        err = ks_topology_add_kv_store(b->topo, st->base.store, ws->backend, 0,
                                       &e);
        return !ks__dsl_failed_call(b, err, e, st->base.name);
}

static ks_table_t *
windowed_aggregation(ks_windowed_stream_t *ws, ks__win_agg_t kind,
                     ks_initializer_cb *init, ks_aggregator_cb *add,
                     ks_merger_cb *merge, void *opaque, const char *store_name,
                     const char *name) {
        const char *what = kind == KS__WIN_COUNT    ? "windowed count"
                           : kind == KS__WIN_REDUCE ? "windowed reduce"
                                                    : "windowed aggregate";
        ks_builder_t *b = ws ? ws->b : NULL;
        if (!ks__dsl_usable(b, what) ||
            (kind == KS__WIN_AGGREGATE &&
             (!ks__dsl_need(b, (void *)init, what, "initializer") ||
              !ks__dsl_need(b, (void *)add, what, "aggregator"))) ||
            (kind == KS__WIN_REDUCE &&
             !ks__dsl_need(b, (void *)add, what, "reducer")))
                return NULL;
        int session = ws->w.kind == KS_WINDOWS_SESSION;
        if (kind == KS__WIN_AGGREGATE && session != (merge != NULL)) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG, "%s: %s", what,
                             session ? "session windows need a session merger"
                                     : "a session merger is only for session "
                                       "windows");
                return NULL;
        }
        const ks__dsl_class_t *cls = session ? &ks__session_window_class
                                     : ws->w.kind == KS_WINDOWS_SLIDING
                                             ? &ks__sliding_window_class
                                             : &ks__time_window_class;
        const char *kind_name =
                kind == KS__WIN_REDUCE ? "KSTREAM-REDUCE" : "KSTREAM-AGGREGATE";
        ks__win_step_t *st =
                ks__dsl_step_new(b, cls, sizeof(*st), name, kind_name, opaque);
        if (!st)
                return NULL;
        st->kind = kind;
        st->init = init;
        st->add = add;
        st->merge = merge;
        st->w = ws->w;
        st->emit = ws->emit;
        if (!(st->wstore = ks__dsl_store_name(b, store_name, kind_name)) ||
            !add_stores(b, st, ws)) {
                ks__dsl_step_free(st);
                return NULL;
        }
        ks_grouped_stream_t *g = ws->g;
        char *src =
                ks__dsl_grouping_source(b, &g->g, g->repartition, 1, st->wstore,
                                        g->key_serde, g->value_serde);
        char *wstore = ks__strdup(st->wstore);
        char *node = src && wstore ? ks__dsl_chain(b, src, st) : NULL;
        if (src && !wstore) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
        }
        free(src);
        ks_error_t *e = NULL;
        if (node &&
            ks__dsl_failed_call(
                    b, ks_topology_connect_store(b->topo, wstore, node, &e), e,
                    node)) {
                free(node);
                node = NULL;
        }
        ks_serde_t *made = session ? ks_serde_session_windowed(g->key_serde)
                                   : ks_serde_time_windowed(g->key_serde);
        ks_serde_t *kser = made ? ks__dsl_keep_serde(b, made) : NULL;
        ks_serde_destroy(made);
        if (!made)
                ks__dsl_oom(b);
        ks_serde_t *vser = kind == KS__WIN_COUNT    ? ks_serde_int64()
                           : kind == KS__WIN_REDUCE ? g->value_serde
                                                    : NULL;
        ks_table_t *t =
                node ? ks__dsl_table_new(b, node, wstore, kser, vser) : NULL;
        free(wstore);
        if (t && !(t->windows = malloc(sizeof(*t->windows))))
                ks__dsl_oom(b);
        else if (t)
                *t->windows = ws->w;
        return t;
}

ks_table_t *ks_windowed_count(ks_windowed_stream_t *ws, const char *store_name,
                              const char *name) {
        return windowed_aggregation(ws, KS__WIN_COUNT, NULL, NULL, NULL, NULL,
                                    store_name, name);
}

ks_table_t *ks_windowed_reduce(ks_windowed_stream_t *ws,
                               ks_aggregator_cb *reducer, void *opaque,
                               const char *store_name, const char *name) {
        return windowed_aggregation(ws, KS__WIN_REDUCE, NULL, reducer, NULL,
                                    opaque, store_name, name);
}

ks_table_t *ks_windowed_aggregate(ks_windowed_stream_t *ws,
                                  ks_initializer_cb *init,
                                  ks_aggregator_cb *aggregator,
                                  ks_merger_cb *merger, void *opaque,
                                  const char *store_name, const char *name) {
        return windowed_aggregation(ws, KS__WIN_AGGREGATE, init, aggregator,
                                    merger, opaque, store_name, name);
}

/* --- per-task state ------------------------------------------------------ */

ks_err_t ks__win_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        ks__win_state_t *in = (ks__win_state_t *)base;
        const ks__win_step_t *st = (const ks__win_step_t *)base->step;
        in->observed = in->saved = INT64_MIN;
        if (!(in->key = ks_buf_new()) || !(in->agg = ks_buf_new()))
                return KS_ERR_NO_MEMORY;
        ks_err_t err;
        if (st->w.kind == KS_WINDOWS_SESSION) {
                err = ks_context_get_session_store(ctx, st->wstore, &in->ss);
                in->wkv = err ? NULL : ks__session_store_kv(in->ss);
        } else {
                err = ks_context_get_window_store(ctx, st->wstore, &in->ws);
                in->wkv = err ? NULL : ks__window_store_kv(in->ws);
        }
        if (err)
                return ks_context_set_error(ctx, "step %s: store %s: %s",
                                            st->base.name, st->wstore,
                                            ks_err2str(err));
        if (!base->store)
                return KS_ERR_NO_ERROR;
        const void *v;
        size_t vl;
        err = ks_kv_store_get(base->store, TIME_KEY, 1, &v, &vl);
        if (err == KS_ERR_NOT_FOUND)
                return KS_ERR_NO_ERROR;
        if (err || vl != 8)
                return ks_context_set_error(ctx, "step %s: store %s: %s",
                                            st->base.name, base->store->name,
                                            err ? ks_err2str(err)
                                                : "stream time is not 8 bytes");
        in->observed = in->saved = (int64_t)ks__be64_get(v);
        return KS_ERR_NO_ERROR;
}

void ks__win_release(ks__dsl_state_t *base) {
        ks__win_state_t *in = (ks__win_state_t *)base;
        if (in->wkv && in->wkv->cache)
                ks__record_cache_detach(in->wkv);
        ks_buf_destroy(in->key);
        ks_buf_destroy(in->agg);
}

ks_err_t ks__win_flush(ks_context_t *ctx, void *state) {
        ks__win_state_t *in = state;
        if (!in)
                return KS_ERR_NO_ERROR;
        if (in->wkv->cache) {
                ks_err_t err = ks__record_cache_flush(in->wkv->cache, ctx);
                if (err)
                        return err;
        }
        if (!in->base.store || in->observed == in->saved)
                return KS_ERR_NO_ERROR;
        uint8_t b[8];
        ks__be64_put(b, (uint64_t)in->observed);
        ks_err_t err = ks_kv_store_put(in->base.store, TIME_KEY, 1, b, 8);
        if (!err)
                in->saved = in->observed;
        return err;
}

int64_t ks__win_observe(ks__win_state_t *in, int64_t ts) {
        if (ts > in->observed)
                in->observed = ts;
        return in->observed;
}

void ks__win_late(ks_context_t *ctx, const ks__win_step_t *st,
                  const ks_record_t *rec, int64_t start, int64_t end,
                  int64_t observed) {
        ks__context_record_late(
                ctx,
                "step %s: skipping a record too late for window [%" PRId64
                ", %" PRId64 "] (timestamp %" PRId64 ", stream time %" PRId64
                ", grace %" PRId64 " ms; topic %s, partition %d, offset "
                "%" PRId64 ")",
                st->base.name, start, end, rec->timestamp, observed,
                st->w.grace,
                ks_context_topic(ctx) ? ks_context_topic(ctx) : "-",
                (int)ks_context_partition(ctx), ks_context_offset(ctx));
}

/* --- folding ------------------------------------------------------------- */

ks_err_t ks__win_fold(ks_context_t *ctx, const ks__win_step_t *st,
                      ks__win_state_t *in, const ks_record_t *rec,
                      const void *old, size_t olen, ks_buf_t *out) {
        ks_err_t err = KS_ERR_NO_ERROR;
        const char *what = "aggregator";
        if (st->kind == KS__WIN_COUNT) {
                int64_t n = 0;
                if (old && ks_int64_decode(old, olen, &n, NULL))
                        return ks_context_set_error(
                                ctx,
                                "step %s: store %s holds a value of %zu "
                                "bytes, not a count",
                                st->base.name, st->wstore, olen);
                uint8_t b[8];
                ks_int64_encode(n + 1, b);
                return ks_buf_append(out, b, 8);
        }
        if (st->kind == KS__WIN_REDUCE) {
                what = "reducer";
                if (!old)
                        return ks_buf_append(out, rec->value, rec->vlen);
        } else if (!old) {
                ks_buf_t *init = in->base.buf2;
                ks_buf_reset(init);
                if ((err = st->init(st->base.opaque, init)))
                        return ks_context_set_error(
                                ctx, "step %s: the initializer failed (%s)",
                                st->base.name, ks_err2str(err));
                old = ks_buf_data(init);
                olen = ks_buf_len(init);
        }
        if ((err = st->add(st->base.opaque, rec, old, olen, out)))
                return ks_context_set_error(ctx,
                                            "step %s: the %s callback "
                                            "failed (%s)",
                                            st->base.name, what,
                                            ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__win_merge(ks_context_t *ctx, const ks__win_step_t *st,
                       const void *key, size_t klen, const void *agg1,
                       size_t len1, const void *agg2, size_t len2,
                       ks_buf_t *out) {
        if (!agg1) /* the first session: its aggregate as it is */
                return ks_buf_append(out, agg2, len2);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (st->kind == KS__WIN_COUNT) {
                int64_t a, b;
                if (ks_int64_decode(agg1, len1, &a, NULL) ||
                    ks_int64_decode(agg2, len2, &b, NULL))
                        return ks_context_set_error(
                                ctx,
                                "step %s: store %s holds a session "
                                "value that is not a count",
                                st->base.name, st->wstore);
                uint8_t e[8];
                ks_int64_encode(a + b, e);
                return ks_buf_append(out, e, 8);
        }
        if (st->kind == KS__WIN_REDUCE) {
                /* Sessions of a reduce merge with the reducer: the later
                 * session's aggregate as the new value. */
                ks_record_t r = {key, klen, agg2, len2, 0, NULL};
                err = st->add(st->base.opaque, &r, agg1, len1, out);
        } else {
                err = st->merge(st->base.opaque, key, klen, agg1, len1, agg2,
                                len2, out);
        }
        if (err)
                return ks_context_set_error(
                        ctx,
                        "step %s: the session %s "
                        "failed (%s)",
                        st->base.name,
                        st->kind == KS__WIN_REDUCE ? "reducer" : "merger",
                        ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

/* --- stored values and forwarding ---------------------------------------- */

ks_err_t ks__win_forward(ks_context_t *ctx, ks__win_state_t *in,
                         const void *agg, size_t len, int64_t ts,
                         int detached) {
        if (detached)
                ks__context_detach_origin(ctx, 1);
        ks_err_t err = ks_context_forward_record(
                ctx, NULL, ks_buf_data(in->key), ks_buf_len(in->key), agg,
                agg ? len : 0, ts, in->base.no_headers);
        if (detached)
                ks__context_detach_origin(ctx, 0);
        return err;
}

ks_err_t ks__win_time_key(ks__win_state_t *in, const void *key, size_t klen,
                          int64_t start) {
        ks_buf_reset(in->key);
        return ks_windowed_key_time_encode(in->key, key, klen, start);
}

ks_err_t ks__win_cache_forward(void *opaque, void *arg, const void *wkey,
                               size_t wklen, const void *value, size_t vlen,
                               int64_t ts) {
        ks__win_state_t *in = opaque;
        ks_context_t *ctx = arg;
        const void *agg;
        size_t alen;
        int64_t vts;
        if (!ks__win_value_split(value, vlen, &vts, &agg, &alen))
                return KS_ERR_STATE; /* only the step writes its cache */
        ks__context_detach_origin(ctx, 1);
        ks_err_t err = ks_context_forward_record(ctx, NULL, wkey, wklen, agg,
                                                 alen, ts, in->base.no_headers);
        ks__context_detach_origin(ctx, 0);
        return err;
}

/* --- emitting on window close -------------------------------------------- */

static ks_err_t index_key(ks_buf_t *out, const void *key, size_t klen,
                          int64_t start, int64_t end) {
        uint8_t *p = ks__buf_extend(out, 17 + klen);
        if (!p)
                return KS_ERR_NO_MEMORY;
        p[0] = INDEX_MARK;
        ks__be64_put(p + 1, (uint64_t)end ^ SIGN_BIT);
        ks__be64_put(p + 9, (uint64_t)start ^ SIGN_BIT);
        if (klen)
                memcpy(p + 17, key, klen);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__win_index(ks__win_state_t *in, const void *key, size_t klen,
                       int64_t start, int64_t end, int on) {
        ks_buf_t *k = in->base.buf2;
        ks_buf_reset(k);
        ks_err_t err = index_key(k, key, klen, start, end);
        if (err)
                return err;
        if (on) {
                if (in->next_known && end < in->next_end)
                        in->next_end = end;
                return ks_kv_store_put(in->base.store, ks_buf_data(k),
                                       ks_buf_len(k), "", 1);
        }
        err = ks_kv_store_delete(in->base.store, ks_buf_data(k), ks_buf_len(k),
                                 NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

/* Collect up to EMIT_BATCH index keys with end <= bound, and the
 * malformed keys met on the way, into @p keys (length-prefixed); *morep:
 * the batch filled up. Having collected all, learn the next end indexed. */
static ks_err_t collect(ks__win_state_t *in, int64_t bound, ks_buf_t *keys,
                        size_t *cntp, int *morep) {
        ks_kv_store_t *idx = in->base.store;
        uint8_t lo[1] = {INDEX_MARK}, hi[9], to[9];
        uint64_t b = (uint64_t)bound ^ SIGN_BIT;
        hi[0] = to[0] = INDEX_MARK;
        ks__be64_put(hi + 1, b);
        /* From the oldest end to the first end past the bound, which the
         * range stops before (an in-memory range is copied when it
         * opens: the scan costs what it closes, not every open window). */
        ks__be64_put(to + 1, b + 1);
        if (b == UINT64_MAX)
                to[0] = INDEX_MARK + 1;
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_range(idx, lo, 1, to,
                                         b == UINT64_MAX ? 1 : sizeof(to), &it);
        if (err)
                return err;
        const void *k;
        size_t kl;
        *cntp = 0;
        *morep = 0;
        while (ks_kv_iter_next(it, &k, &kl, NULL, NULL)) {
                if (((const uint8_t *)k)[0] != INDEX_MARK)
                        break;
                /* A key too short to be an index key (a bad changelog) is
                 * taken to be deleted. */
                if (kl >= 17 && memcmp((const uint8_t *)k + 1, hi + 1, 8) > 0)
                        break;
                if (*cntp == EMIT_BATCH) {
                        *morep = 1;
                        break;
                }
                uint8_t len[4];
                ks__be32_put(len, (uint32_t)kl);
                if ((err = ks_buf_append(keys, len, 4)) ||
                    (err = ks_buf_append(keys, k, kl)))
                        break;
                ++*cntp;
        }
        if (!err)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        if (err || *morep)
                return err;
        /* Everything up to the bound is collected: the next end is that of
         * the first index key past it (one key read), if any. */
        int found = 0;
        ks_buf_t *next = in->base.buf2;
        ks_buf_reset(next);
        if (b != UINT64_MAX && (err = ks__kv_store_first(idx, to, sizeof(to),
                                                         lo, 1, next, &found)))
                return err;
        in->next_known = 1;
        in->next_end =
                !found ? INT64_MAX
                : ks_buf_len(next) >= 9
                        ? (int64_t)(ks__be64_get(
                                            (const uint8_t *)ks_buf_data(next) +
                                            1) ^
                                    SIGN_BIT)
                        : INT64_MIN; /* malformed: scan next time */
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__win_emit_closed(ks_context_t *ctx, ks__win_state_t *in,
                             int64_t bound, ks__win_final_cb *final) {
        /* Nothing closes before the oldest end indexed: most records
         * need no scan. */
        if (in->next_known && bound < in->next_end)
                return KS_ERR_NO_ERROR;
        ks_buf_t *keys = ks_buf_new();
        if (!keys)
                return KS_ERR_NO_MEMORY;
        ks_err_t err;
        int more = 1;
        while (more) {
                size_t cnt;
                ks_buf_reset(keys);
                if ((err = collect(in, bound, keys, &cnt, &more)))
                        break;
                const uint8_t *p = ks_buf_data(keys);
                for (size_t i = 0; i < cnt && !err; i++) {
                        size_t kl = ks__be32_get(p);
                        const uint8_t *k = p + 4;
                        p += 4 + kl;
                        /* A malformed key, or a window ending before it
                         * starts (a bad changelog), has no result: it is
                         * only forgotten. */
                        int64_t end = 0, start = 1;
                        if (kl >= 17) {
                                end = (int64_t)(ks__be64_get(k + 1) ^ SIGN_BIT);
                                start = (int64_t)(ks__be64_get(k + 9) ^
                                                  SIGN_BIT);
                        }
                        if (start <= end)
                                err = final(ctx, in, k + 17, kl - 17, start,
                                            end);
                        if (!err) {
                                err = ks_kv_store_delete(in->base.store, k, kl,
                                                         NULL, NULL);
                                if (err == KS_ERR_NOT_FOUND)
                                        err = KS_ERR_NO_ERROR;
                        }
                }
                if (err)
                        break;
        }
        ks_buf_destroy(keys);
        return err;
}
