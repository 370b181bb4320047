/* Aggregation over session windows, Kafka Streams'
 * KStreamSessionWindowAggregate.
 *
 * A record at t starts the session [t, t] and merges with every session of
 * its key within the inactivity gap (end >= t - gap, start <= t + gap): the
 * merged session spans them all and its aggregate is theirs merged (the
 * session merger; counts add, reduce uses the reducer) with the record
 * folded in. If the merged session ends before stream time minus grace
 * minus gap (Kafka Streams since 3.0, KAFKA-12718: a session is only
 * closed once no record within the gap can extend it), the record is
 * late: dropped and counted. Otherwise the sessions merged
 * away are removed (on update: a tombstone each downstream, stamped with
 * its end) and the merged one stored and sent, stamped with its end.
 *
 * Sessions do not go through the record cache: every change is sent at
 * once on update. A small table per task remembers the latest session of
 * recently seen keys (LATEST_SLOTS slots, by key hash; sessions of more
 * than LATEST_MAX bytes are not kept): a record no older than the start of
 * its key's latest session, which has not expired, can only merge with that
 * one (a key's sessions lie more than a gap apart), so it needs no search of
 * the store, whose key layout leaves the deletes of every session extended
 * before in the range a search walks. The table is filled from what the step
 * itself stores, and only with sessions known to be their key's latest. On
 * close, a session is final once it has closed (the same bound: its end before
 * stream time minus grace minus gap); its result goes out then, once. */
#include "dsl_int.h"

#include <stdlib.h>
#include <string.h>

#define LATEST_SLOTS 4096
#define LATEST_MAX   256 /* key + stored value, bytes */

/* The latest session of a key, as stored. */
typedef struct {
        uint8_t *bytes; /* key, then value; NULL: empty */
        size_t klen, vlen;
        int64_t start, end;
} latest_t;

typedef struct {
        ks__win_state_t w;
        latest_t *latest; /* LATEST_SLOTS, made on first use */
        ks_buf_t *found;  /* the sessions a record merges with (scratch) */
} session_state_t;

static latest_t *latest_slot(session_state_t *ss, const void *key,
                             size_t klen) {
        if (!ss->latest &&
            !(ss->latest = calloc(LATEST_SLOTS, sizeof(*ss->latest))))
                return NULL;
        return &ss->latest[ks__fnv1a32(key, klen) % LATEST_SLOTS];
}

/* The latest session of @p key, if the table knows it. */
static const latest_t *latest_get(session_state_t *ss, const void *key,
                                  size_t klen) {
        const latest_t *l = latest_slot(ss, key, klen);
        return l && l->bytes && l->klen == klen && !memcmp(l->bytes, key, klen)
                       ? l
                       : NULL;
}

/* [@p start, @p end] with stored value @p v is the latest session of
 * @p key (too large to keep: the key is forgotten). */
static void latest_set(session_state_t *ss, const void *key, size_t klen,
                       int64_t start, int64_t end, const void *v, size_t vl) {
        latest_t *l = latest_slot(ss, key, klen);
        if (!l)
                return;
        uint8_t *b = klen + vl <= LATEST_MAX ? malloc(klen + vl + 1) : NULL;
        free(l->bytes);
        *l = (latest_t){b, klen, vl, start, end};
        if (!b)
                return;
        memcpy(b, key, klen);
        memcpy(b + klen, v, vl);
}

static void latest_free(session_state_t *ss) {
        for (size_t i = 0; ss->latest && i < LATEST_SLOTS; i++)
                free(ss->latest[i].bytes);
        free(ss->latest);
        ss->latest = NULL;
}

/* The session-windowed key of (@p key, [@p start, @p end]) into in->key. */
static ks_err_t session_key(ks__win_state_t *in, const void *key, size_t klen,
                            int64_t start, int64_t end) {
        ks_buf_reset(in->key);
        return ks_windowed_key_session_encode(in->key, key, klen, start, end);
}

static ks_err_t bad_value(ks_context_t *ctx, const ks__win_step_t *st,
                          size_t vl) {
        return ks_context_set_error(ctx,
                                    "step %s: store %s holds a session value "
                                    "of %zu bytes",
                                    st->base.name, st->wstore, vl);
}

/* A final session's result. */
static ks_err_t session_final(ks_context_t *ctx, ks__win_state_t *in,
                              const void *key, size_t klen, int64_t start,
                              int64_t end) {
        const void *v, *agg;
        size_t vl, alen;
        int64_t ts;
        ks_err_t err = ks_session_store_fetch_session(in->ss, key, klen, start,
                                                      end, &v, &vl);
        if (err == KS_ERR_NOT_FOUND)
                return KS_ERR_NO_ERROR;
        if (err || (err = session_key(in, key, klen, start, end)))
                return err;
        if (!ks__win_value_split(v, vl, &ts, &agg, &alen))
                return bad_value(ctx, (const ks__win_step_t *)in->base.step,
                                 vl);
        return ks__win_forward(ctx, in, agg, alen, end, 1);
}

/* The sessions of the record's key within the gap of @p t, copied into
 * @p found as [be64 start][be64 end][be32 length][value] entries. */
static ks_err_t find(ks_context_t *ctx, ks__win_state_t *in,
                     const ks__win_step_t *st, const ks_record_t *rec,
                     int64_t t, ks_buf_t *found, size_t *cntp) {
        ks_session_iter_t *it;
        ks_err_t err = ks_session_store_find_sessions(
                in->ss, rec->key, rec->klen, ks__ts_sub(t, st->w.size),
                ks__ts_add(t, st->w.size), &it);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->wstore, ks_err2str(err));
        const void *v;
        size_t vl;
        int64_t s, e;
        *cntp = 0;
        while (!err && ks_session_iter_next(it, NULL, NULL, &s, &e, &v, &vl)) {
                uint8_t *p = ks__buf_extend(found, 20 + vl);
                if (!p) {
                        err = KS_ERR_NO_MEMORY;
                        break;
                }
                ks__be64_put(p, (uint64_t)s);
                ks__be64_put(p + 8, (uint64_t)e);
                ks__be32_put(p + 16, (uint32_t)vl);
                memcpy(p + 20, v, vl);
                ++*cntp;
        }
        if (!err)
                err = ks_session_iter_error(it);
        ks_session_iter_destroy(it);
        return err;
}

/* Take the merged-away sessions out: from the store, and from the emit
 * index or (on update) downstream with a tombstone each. */
static ks_err_t remove_merged(ks_context_t *ctx, ks__win_state_t *in,
                              const ks__win_step_t *st, const ks_record_t *rec,
                              const uint8_t *p, size_t cnt) {
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; i < cnt && !err; i++) {
                int64_t s = (int64_t)ks__be64_get(p);
                int64_t e = (int64_t)ks__be64_get(p + 8);
                p += 20 + ks__be32_get(p + 16);
                err = ks_session_store_remove(in->ss, rec->key, rec->klen, s,
                                              e);
                if (err)
                        break;
                if (st->emit == KS_EMIT_ON_WINDOW_CLOSE)
                        err = ks__win_index(in, rec->key, rec->klen, s, e, 0);
                else if (!(err = session_key(in, rec->key, rec->klen, s, e)))
                        err = ks__win_forward(ctx, in, NULL, 0, e, 0);
        }
        return err;
}

static ks_err_t session_process(ks_context_t *ctx, const ks_record_t *rec,
                                void *state) {
        ks__win_state_t *in = state;
        const ks__win_step_t *st = (const ks__win_step_t *)in->base.step;
        if (!rec->key || !rec->value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: skipped */
        int64_t t = rec->timestamp, gap = st->w.size;
        int64_t observed = ks__win_observe(in, t);
        /* Sessions ending before this have closed. */
        int64_t close = ks__ts_sub(ks__ts_sub(observed, st->w.grace), gap);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE && close > INT64_MIN &&
            (err = ks__win_emit_closed(ctx, in, close - 1, session_final)))
                return err;
        session_state_t *ss = (session_state_t *)in;
        if (!ss->found && !(ss->found = ks_buf_new()))
                return KS_ERR_NO_MEMORY;
        ks_buf_t *found = ss->found, *merged = in->agg, *tmp = in->base.buf;
        ks_buf_reset(found);
        size_t cnt = 0;
        const latest_t *l = latest_get(ss, rec->key, rec->klen);
        int64_t seen = ks__session_store_observed(in->ss);
        int64_t live = ks__ts_add(
                ks__ts_sub(seen, ks_session_store_retention_ms(in->ss)), 1);
        if (l && seen != INT64_MIN && l->end < live) {
                /* The key's latest session has expired, and so have all
                 * before it: the store would find none. */
        } else if (l && t >= l->start) {
                /* Only the latest session can be within the gap: the ones
                 * before it end more than a gap before it starts. */
                if (l->end >= ks__ts_sub(t, gap)) {
                        uint8_t *q = ks__buf_extend(found, 20 + l->vlen);
                        if (!q) {
                                err = KS_ERR_NO_MEMORY;
                                goto done;
                        }
                        ks__be64_put(q, (uint64_t)l->start);
                        ks__be64_put(q + 8, (uint64_t)l->end);
                        ks__be32_put(q + 16, (uint32_t)l->vlen);
                        memcpy(q + 20, l->bytes + l->klen, l->vlen);
                        cnt = 1;
                }
        } else if ((err = find(ctx, in, st, rec, t, found, &cnt))) {
                goto done;
        }
        /* Merge the sessions found, from the initializer's aggregate for
         * aggregate, from nothing for count and reduce. */
        int64_t start = t, end = t;
        int have = 0;
        ks_buf_reset(merged);
        if (st->kind == KS__WIN_AGGREGATE) {
                if ((err = st->init(st->base.opaque, merged))) {
                        err = ks_context_set_error(
                                ctx, "step %s: the initializer failed (%s)",
                                st->base.name, ks_err2str(err));
                        goto done;
                }
                have = 1;
        }
        const uint8_t *p = ks_buf_data(found);
        for (size_t i = 0; i < cnt; i++) {
                int64_t s = (int64_t)ks__be64_get(p);
                int64_t e = (int64_t)ks__be64_get(p + 8);
                size_t vl = ks__be32_get(p + 16);
                const void *agg;
                size_t alen;
                int64_t vts;
                if (!ks__win_value_split(p + 20, vl, &vts, &agg, &alen)) {
                        err = bad_value(ctx, st, vl);
                        goto done;
                }
                p += 20 + vl;
                ks_buf_reset(tmp);
                if ((err = ks__win_merge(ctx, st, rec->key, rec->klen,
                                         have ? ks_buf_data(merged) : NULL,
                                         ks_buf_len(merged), agg, alen, tmp)))
                        goto done;
                ks_buf_reset(merged);
                if ((err = ks_buf_append(merged, ks_buf_data(tmp),
                                         ks_buf_len(tmp))))
                        goto done;
                have = 1;
                start = s < start ? s : start;
                end = e > end ? e : end;
        }
        if (end < close) {
                ks__win_late(ctx, st, rec, start, end, observed);
                goto done;
        }
        /* The record folded in before anything changes: a failing
         * aggregator leaves the store and downstream as they were. */
        ks_buf_reset(tmp);
        if ((err = ks__win_fold(ctx, st, in, rec,
                                have ? ks_buf_data(merged) : NULL,
                                ks_buf_len(merged), tmp)))
                goto done;
        if ((start != t || end != t) &&
            (err = remove_merged(ctx, in, st, rec, ks_buf_data(found), cnt)))
                goto done;
        ks_buf_reset(merged);
        if ((err = ks__win_value(merged, end, ks_buf_data(tmp),
                                 ks_buf_len(tmp))) ||
            (err = ks_session_store_put(in->ss, rec->key, rec->klen, start, end,
                                        ks_buf_data(merged),
                                        ks_buf_len(merged))))
                goto done;
        /* The latest session of its key: a later one would start more than
         * a gap after its end, past stream time (no record is later), or
         * end after the latest known. */
        l = latest_get(ss, rec->key, rec->klen);
        if ((l && end >= l->end) || ks__ts_add(end, gap) >= in->observed)
                latest_set(ss, rec->key, rec->klen, start, end,
                           ks_buf_data(merged), ks_buf_len(merged));
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE)
                err = ks__win_index(in, rec->key, rec->klen, start, end, 1);
        else if (!(err = session_key(in, rec->key, rec->klen, start, end)))
                err = ks__win_forward(ctx, in, ks_buf_data(tmp),
                                      ks_buf_len(tmp), end, 0);
done:
        return err;
}

static ks_err_t session_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        ks_err_t err = ks__win_open(ctx, base);
        ks__win_state_t *in = (ks__win_state_t *)base;
        if (err)
                return err;
        int64_t seen = ks__session_store_observed(in->ss);
        if (seen > in->observed)
                in->observed = seen; /* a session's end: a lower bound */
        return KS_ERR_NO_ERROR;
}

static void session_release(ks__dsl_state_t *base) {
        latest_free((session_state_t *)base);
        ks_buf_destroy(((session_state_t *)base)->found);
        ks__win_release(base);
}

const ks__dsl_class_t ks__session_window_class = {
        KS__DSL_STATEFUL(session_process),
        .flush = ks__win_flush,
        .free = ks__win_step_free,
        .state_size = sizeof(session_state_t),
        .open = session_open,
        .release = session_release};
