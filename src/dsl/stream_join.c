/* Stream-stream joins: join, left_join and outer_join of two streams within
 * join windows.
 *
 * A join is two steps, one per side, merged into one stream. Each side's
 * records go into a window store of its own (duplicates kept, one entry per
 * record at its timestamp); a record of one side looks up the other side's
 * store for its key in its window and joins every record found there, the
 * result stamped with the later of the two timestamps. A left record at t
 * joins the right records at [t - before, t + after]; a right record at t
 * the left records at [t - after, t + before], so each step keeps its own
 * view of the window (`before` and `after` swapped on the right).
 *
 * Time, shared by both sides: stream time S is the largest timestamp the
 * join has accepted, read as the larger of the two window stores' observed
 * stream times (so it survives a restore without a store of its own). A
 * record is late, dropped and counted, when its own window has closed:
 * t + after + grace < max(S, t) (the side's own `after`, which may be
 * negative: then even a record ahead of S can be late, and it does not
 * move S). With span = before + after + grace, no record accepted from now
 * on can join a record older than S - span, which sets the window stores'
 * retention.
 *
 * Left and outer joins (KAFKA-10847): a record that found no partner on
 * arrival goes into the outer store, shared by both sides, and leaves it
 * when a partner arrives (no result for it then but the real join). One
 * still there when S passes t + span can no longer find one: it is emitted
 * once, joined with NULL, at its own timestamp, oldest first. This waits
 * for the other side's window too (Kafka Streams emits at t + after +
 * grace, and a right record accepted later may still have joined it), so
 * no (x, NULL) is ever followed by a real match of x. The outer store is
 * logged, so what is pending survives failover and is emitted once.
 *
 * Outer store layout (untrusted when read back: checked, a malformed entry
 * is a store error, raised again on every record that would emit it): key
 * = be64(t ^ sign) | u8 side (0 left, 1 right) | be32 key length | key |
 * be32 sequence, value = the record's value; a side the join does not
 * keep (right records in a left join) is malformed too. The sequence tells
 * apart records of one side with the same key and timestamp; each side
 * learns its next one from the store once per task. Once it wraps (or the
 * store holds 2^32 - 1), a side puts only where nothing is, so a record
 * still waiting is never overwritten. The two steps of a task share one
 * store handle and, on it, a lower bound of the timestamps it holds (a
 * memo, never above a record not yet emitted, also when emitting fails
 * half way), so a record with nothing due scans nothing.
 *
 * Work: emitting reads from the memo on, in batches of at most EMIT_BATCH
 * entries and about EMIT_BYTES bytes, each batch from where the last one
 * stopped, and a partner deletes the records it matched from the one
 * before: neither walks again over the entries it has just deleted (which
 * the store still has to skip until it compacts them away).
 *
 * Records with a null key or value are dropped, as in Kafka Streams. */
#include "stream_join_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The other side's times a record at @p ts joins, [*lop, *hip], or 0 when
 * there are none (a negative before or after pushing the window past the
 * end of time). */
static int join_window(const sj_step_t *st, int64_t ts, int64_t *lop,
                       int64_t *hip) {
        if (__builtin_sub_overflow(ts, st->before, lop)) {
                if (st->before < 0)
                        return 0; /* starts after INT64_MAX */
                *lop = INT64_MIN;
        }
        if (__builtin_add_overflow(ts, st->after, hip)) {
                if (st->after < 0)
                        return 0; /* ends before INT64_MIN */
                *hip = INT64_MAX;
        }
        return 1;
}

/* --- the join step ------------------------------------------------------- */

static ks_err_t sj_join(ks_context_t *ctx, sj_state_t *in, const void *key,
                        size_t klen, const void *value, size_t vlen, int64_t ts,
                        int *matchedp) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        int64_t lo, hi;
        *matchedp = 0;
        if (!join_window(st, ts, &lo, &hi))
                return KS_ERR_NO_ERROR;
        ks_window_iter_t *it;
        ks_err_t err =
                ks_window_store_fetch_range(in->other, key, klen, lo, hi, &it);
        if (err)
                return ks__sj_store_error(ctx, st, st->other, ks_err2str(err));
        const void *k, *v;
        size_t kl, vl;
        int64_t pts, cleared = INT64_MIN;
        int cleared_any = 0;
        while (!err && ks_window_iter_next(it, &k, &kl, &pts, &v, &vl)) {
                *matchedp = 1;
                err = ks__dsl_join_forward(
                        ctx, &st->base, st->joiner, key, klen,
                        st->side ? v : value, st->side ? vl : vlen,
                        st->side ? value : v, st->side ? vlen : vl,
                        pts > ts ? pts : ts, in->base.buf);
                if (!err && st->other_outer &&
                    (!cleared_any || pts != cleared)) {
                        err = ks__sj_outer_matched(ctx, in, pts, key, klen);
                        cleared = pts;
                        cleared_any = 1;
                }
        }
        if (!err && (err = ks_window_iter_error(it)))
                err = ks__sj_store_error(ctx, st, st->other, ks_err2str(err));
        ks_window_iter_destroy(it);
        return err;
}

static ks_err_t sj_process(ks_context_t *ctx, const ks_record_t *rec,
                           void *state) {
        sj_state_t *in = state;
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key || !value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: dropped */
        int64_t ts = ks_record_timestamp(rec);
        int64_t s = ks_window_store_observed_stream_time(in->own);
        int64_t o = ks_window_store_observed_stream_time(in->other);
        s = o > s ? o : s;
        s = ts > s ? ts : s;
        ks_err_t err;
        /* after + grace is within [-MAX_WINDOWS, 2 * MAX_WINDOWS]. */
        int64_t closes = ks__sj_sat_add(ts, st->after + st->grace);
        if (closes < s) {
                ks__context_record_late(ctx,
                                        "step %s: record at %" PRId64
                                        " too late: its join "
                                        "window closed at %" PRId64
                                        " (stream time %" PRId64 ")",
                                        st->base.name, ts, closes, s);
                return KS_ERR_NO_ERROR;
        }
        if (in->base.store && (err = ks__sj_outer_emit_due(ctx, in, s)))
                return err;
        if ((err = ks_window_store_put(in->own, key, klen, ts, value, vlen)))
                return ks__sj_store_error(ctx, st, st->own, ks_err2str(err));
        int matched = 0;
        if ((err = sj_join(ctx, in, key, klen, value, vlen, ts, &matched)))
                return err;
        return !matched && st->outer
                       ? ks__sj_outer_add(ctx, in, ts, key, klen, value, vlen)
                       : KS_ERR_NO_ERROR;
}

static ks_err_t sj_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        sj_state_t *in = (sj_state_t *)base;
        const sj_step_t *st = (const sj_step_t *)base->step;
        if (!(in->okey = ks_buf_new()) || !(in->due = ks_buf_new()) ||
            !(in->seek = ks_buf_new()))
                return KS_ERR_NO_MEMORY;
        const char *name = st->own;
        ks_err_t err = ks_context_get_window_store(ctx, name, &in->own);
        if (!err) {
                name = st->other;
                err = ks_context_get_window_store(ctx, name, &in->other);
        }
        return err ? ks__sj_store_error(ctx, st, name, ks_err2str(err))
                   : KS_ERR_NO_ERROR;
}

static void sj_release(ks__dsl_state_t *base) {
        sj_state_t *in = (sj_state_t *)base;
        ks_buf_destroy(in->okey);
        ks_buf_destroy(in->due);
        ks_buf_destroy(in->seek);
}

static void sj_free(ks__dsl_step_t *base) {
        sj_step_t *st = (sj_step_t *)base;
        free(st->own);
        free(st->other);
}

static const ks__dsl_class_t sj_class = {
        KS__DSL_STATEFUL(sj_process), .free = sj_free,
        .state_size = sizeof(sj_state_t), .open = sj_open,
        .release = sj_release};

/* --- building ------------------------------------------------------------ */

/* Why join windows @p w cannot be used, or NULL. */
static const char *join_windows_invalid(const ks_windows_t *w) {
        if (w->kind != KS_WINDOWS_JOIN)
                return "they are not join windows (ks_join_windows_*)";
        if (w->before < -MAX_WINDOWS || w->before > MAX_WINDOWS ||
            w->after < -MAX_WINDOWS || w->after > MAX_WINDOWS)
                return "before or after is out of range";
        if (w->before + w->after < 0)
                return "before + after is negative (the window is empty)";
        if (w->grace < 0 || w->grace > MAX_WINDOWS)
                return "the grace period is negative or out of range";
        return NULL;
}

/* One side's step: @p side's records, looking up the other store. */
static sj_step_t *side_new(ks_builder_t *b, const char *user, const char *kind,
                           ks_value_joiner_cb *joiner, void *opaque, int side,
                           const ks_windows_t *w, ks_join_kind_t jk) {
        sj_step_t *st =
                ks__dsl_step_new(b, &sj_class, sizeof(*st), user, kind, opaque);
        if (!st)
                return NULL;
        st->joiner = joiner;
        st->side = side;
        int left_outer = jk != KS_JOIN_INNER, right_outer = jk == KS_JOIN_OUTER;
        st->outer = side ? right_outer : left_outer;
        st->other_outer = side ? left_outer : right_outer;
        st->before = side ? w->after : w->before;
        st->after = side ? w->before : w->after;
        st->grace = w->grace;
        st->span = w->before + w->after + w->grace;
        if (!(st->own = ks__dsl_name_of(b, st->base.name, "store"))) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        return st;
}

/* Add the window store of step @p st. */
static int add_window_store(ks_builder_t *b, const sj_step_t *st,
                            const ks_windows_t *w) {
        ks_error_t *e = NULL;
        int64_t size = w->before + w->after > 0 ? w->before + w->after : 1;
        /* Expired when start <= observed - retention: records older than
         * S - span go, as the join needs. */
        ks_err_t err = ks_topology_add_window_store(
                b->topo, st->own, KS_STORE_ROCKSDB, ks__sj_sat_add(st->span, 1),
                size, KS_STORE_F_RETAIN_DUPLICATES, &e);
        return !ks__dsl_failed_call(b, err, e, st->base.name);
}

static int connect(ks_builder_t *b, const char *store, const char *node) {
        ks_error_t *e = NULL;
        return !ks__dsl_failed_call(
                b, ks_topology_connect_store(b->topo, store, node, &e), e,
                node);
}

/* The two sides' steps added under @p parents, connected to both window
 * stores; 1 on success (the steps are taken over either way). */
static int add_sides(ks_builder_t *b, sj_step_t *sides[2],
                     const char *parents[2], char *nodes[2]) {
        char *stores[2] = {ks__strdup(sides[0]->own),
                           ks__strdup(sides[1]->own)};
        sides[0]->other = ks__strdup(stores[1] ? stores[1] : "");
        sides[1]->other = ks__strdup(stores[0] ? stores[0] : "");
        int ok = stores[0] && stores[1] && sides[0]->other && sides[1]->other;
        if (!ok) {
                ks__dsl_oom(b);
                ks__dsl_step_free(sides[0]);
                ks__dsl_step_free(sides[1]);
        }
        for (int i = 0; ok && i < 2; i++) {
                nodes[i] = ks__dsl_chain(b, parents[i], sides[i]);
                if (!nodes[i]) {
                        if (!i)
                                ks__dsl_step_free(sides[1]);
                        ok = 0;
                }
        }
        for (int i = 0; ok && i < 2; i++)
                ok = connect(b, stores[0], nodes[i]) &&
                     connect(b, stores[1], nodes[i]);
        free(stores[0]);
        free(stores[1]);
        return ok;
}

static ks_stream_t *stream_join(ks_stream_t *l, ks_stream_t *r,
                                ks_value_joiner_cb *joiner, void *opaque,
                                ks_windows_t *wp, const char *name,
                                ks_join_kind_t jk) {
        const char *what = jk == KS_JOIN_INNER  ? "join"
                           : jk == KS_JOIN_LEFT ? "left_join"
                                                : "outer_join";
        /* The windows are taken over: copied, then freed on every path. */
        ks_windows_t w = wp ? *wp : (ks_windows_t){0};
        const void *have_windows = wp ? &w : NULL;
        ks_windows_destroy(wp);
        ks_builder_t *b = ks__dsl_stream_start(l, what);
        if (!b) {
                /* A NULL left stream beside a usable right one is a
                 * mistake of its own, not an earlier call's failure. */
                if (!l && r && ks__dsl_usable(r->b, what))
                        ks__dsl_fail(r->b, KS_ERR_INVALID_ARG,
                                     "%s: the left stream may not be NULL",
                                     what);
                return NULL;
        }
        if (!ks__dsl_need(b, r, what, "other stream") ||
            !ks__dsl_need(b, (void *)joiner, what, "joiner") ||
            !ks__dsl_need(b, have_windows, what, "windows"))
                return NULL;
        if (r->b != b) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "%s: the streams are of different builders", what);
                return NULL;
        }
        const char *bad = join_windows_invalid(&w);
        if (bad) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "%s: the windows are invalid: %s (before %" PRId64
                             ", after %" PRId64 ", grace %" PRId64 " ms)",
                             what, bad, w.before, w.after, w.grace);
                return NULL;
        }
        char names[5][300];
        const char *user[5] = {NULL, NULL, NULL, NULL, NULL};
        if (name) {
                /* Names over 249 characters make store names Kafka
                 * refuses, which the topology reports: cut here or not. */
                const char *suffix[5] = {"this-join", "other-join",
                                         "outer-shared-join", "left", "right"};
                for (int i = 0; i < 5; i++) {
                        snprintf(names[i], sizeof(names[i]), "%s-%s", name,
                                 suffix[i]);
                        user[i] = names[i];
                }
        }
        /* A named join names its repartition topics too, as Kafka
         * Streams does ("<name>-left-repartition", "-right-"): they do
         * not change with the steps added before the join. */
        int self = l == r || !strcmp(l->node, r->node);
        if (l->repartition_required &&
            !(l = ks_stream_repartition(l, 0, user[3])))
                return NULL;
        if (self)
                r = l;
        else if (r->repartition_required &&
                 !(r = ks_stream_repartition(r, 0, user[4])))
                return NULL;
        sj_step_t *sides[2] = {
                side_new(b, user[0],
                         jk == KS_JOIN_OUTER ? "KSTREAM-OUTERTHIS"
                                             : "KSTREAM-JOINTHIS",
                         joiner, opaque, 0, &w, jk),
                side_new(b, user[1],
                         jk == KS_JOIN_INNER ? "KSTREAM-JOINOTHER"
                                             : "KSTREAM-OUTEROTHER",
                         joiner, opaque, 1, &w, jk)};
        int ok = sides[0] && sides[1] && add_window_store(b, sides[0], &w) &&
                 add_window_store(b, sides[1], &w);
        if (ok && jk != KS_JOIN_INNER) {
                char *base = ks__dsl_name(b, user[2], "KSTREAM-OUTERSHARED");
                char *outer = base ? ks__dsl_name_of(b, base, "store") : NULL;
                free(base);
                ks_error_t *e = NULL;
                if (!outer || !(sides[1]->base.store = ks__strdup(outer))) {
                        ks__dsl_oom(b);
                        ok = 0;
                } else {
                        ok = !ks__dsl_failed_call(
                                b,
                                ks_topology_add_kv_store(b->topo, outer,
                                                         KS_STORE_ROCKSDB, 0,
                                                         &e),
                                e, what);
                }
                sides[0]->base.store = outer;
        }
        if (!ok) {
                ks__dsl_step_free(sides[0]);
                ks__dsl_step_free(sides[1]);
                return NULL;
        }
        const char *parents[2] = {l->node, r->node};
        char *nodes[2] = {NULL, NULL};
        ks_stream_t *out = NULL;
        if (add_sides(b, sides, parents, nodes)) {
                const char *mp[2] = {nodes[0], nodes[1]};
                char *node = ks__dsl_add_node(
                        b, ks__dsl_pass_new(b, name, "KSTREAM-MERGE"), mp, 2);
                out = ks__dsl_stream_new(b, node, l->key_serde, NULL, 0);
        }
        free(nodes[0]);
        free(nodes[1]);
        return out;
}

ks_stream_t *ks_stream_join(ks_stream_t *left, ks_stream_t *right,
                            ks_value_joiner_cb *joiner, void *opaque,
                            ks_windows_t *windows, const char *name) {
        return stream_join(left, right, joiner, opaque, windows, name,
                           KS_JOIN_INNER);
}

ks_stream_t *ks_stream_left_join(ks_stream_t *left, ks_stream_t *right,
                                 ks_value_joiner_cb *joiner, void *opaque,
                                 ks_windows_t *windows, const char *name) {
        return stream_join(left, right, joiner, opaque, windows, name,
                           KS_JOIN_LEFT);
}

ks_stream_t *ks_stream_outer_join(ks_stream_t *left, ks_stream_t *right,
                                  ks_value_joiner_cb *joiner, void *opaque,
                                  ks_windows_t *windows, const char *name) {
        return stream_join(left, right, joiner, opaque, windows, name,
                           KS_JOIN_OUTER);
}
