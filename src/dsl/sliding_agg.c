/* Aggregation over sliding windows (KIP-450), Kafka Streams'
 * KStreamSlidingWindowAggregate.
 *
 * Sliding windows have a fixed size d (the time difference) but are
 * aligned to the records: a window is [start, start + d], both ends
 * inclusive, and a key keeps one window per distinct set of its records
 * that fits in one: each record at t has its left window [t - d, t],
 * ending at it, and, once a later record lies within d after it, its
 * right window [t + 1, t + 1 + d], starting just after it. Records before
 * d (their left windows would start before 0) all share [0, d], with right
 * windows as above. Stored values are `be64 timestamp | aggregate`, the
 * timestamp the largest of the window's records and of its results.
 *
 * A record at t reads its key's windows starting in [t - 2d, t + 1],
 * newest first, as Kafka Streams does with a backward fetch: a window
 * starting at t + 1 is t's right window, already there; those ending after
 * t take the record, and the newest of them, as it was, is what t's right
 * window holds; the one ending at t is t's left window, which takes the
 * record; the first ending before t (where the walk stops) holds what t's
 * left window starts from, and its newest record is the one before t. The
 * record then makes what is missing: the right window of the record before
 * it, if t falls in it; its own left window; its own right window, if a
 * later record falls in it. Early records (t < d) read [0, t + 1] oldest
 * first and update [0, d] last, as Kafka Streams' processEarly does.
 *
 * Lateness: the close time is stream time minus grace. A window ending
 * before it takes no record (dropped from it and counted, once per
 * window), and a record whose windows all end before it (t + 1 + d at or
 * before the close time) is dropped whole, counted once. On close, a
 * window is final once it ends before the close time; its result goes out
 * once, before the record that closed it is processed.
 *
 * Windows are written to the store at once, also on update with a record
 * cache: each record reads a range of windows back, which the cache (keyed
 * by windowed key, unordered) cannot answer. The cache only holds back
 * what goes downstream, so a window updated many times between commits
 * goes out once, with its latest aggregate, as through Kafka Streams'
 * caching window store. */
#include "dsl_int.h"

#include <string.h>

typedef struct {
        ks__win_state_t w;
        ks_buf_t *found; /* the windows a record reads (find()) */
} slide_state_t;

/* A window read from the store; `set` 0: none. */
typedef struct {
        int set;
        int64_t start, ts;
        const void *agg;
        size_t len;
} win_t;

/* One record's pass. */
typedef struct {
        ks_context_t *ctx;
        slide_state_t *ss;
        const ks__win_step_t *st;
        const ks_record_t *rec;
        int64_t t, d, close, observed;
} pass_t;

static ks_err_t bad_value(ks_context_t *ctx, const ks__win_step_t *st,
                          size_t vl) {
        return ks_context_set_error(ctx,
                                    "step %s: store %s holds a window value "
                                    "of %zu bytes",
                                    st->base.name, st->wstore, vl);
}

/* A closed window's final result. */
static ks_err_t slide_final(ks_context_t *ctx, ks__win_state_t *in,
                            const void *key, size_t klen, int64_t start,
                            int64_t end) {
        (void)end;
        const void *v, *agg;
        size_t vl, alen;
        int64_t ts;
        ks_err_t err = ks_window_store_fetch(in->ws, key, klen, start, &v, &vl);
        if (err == KS_ERR_NOT_FOUND)
                return KS_ERR_NO_ERROR; /* expired with its records */
        if (err || (err = ks__win_time_key(in, key, klen, start)))
                return err;
        if (!ks__win_value_split(v, vl, &ts, &agg, &alen))
                return bad_value(ctx, (const ks__win_step_t *)in->base.step,
                                 vl);
        return ks__win_forward(ctx, in, agg, alen, ts, 1);
}

/* --- reading windows ----------------------------------------------------- */

/* Read the windows of the record's key starting in [@p from, @p to] into
 * ss->found as [be64 start][be32 length][value] entries: all of them,
 * oldest first, or (@p backward) newest first down to the first that ends
 * before t or is t's left window holding a record at t, where Kafka
 * Streams' backward walk stops. *cntp: how many. */
static ks_err_t find(const pass_t *p, int64_t from, int64_t to, int backward,
                     size_t *cntp) {
        ks__win_state_t *in = &p->ss->w;
        ks_buf_t *found = p->ss->found;
        ks_window_iter_t *it;
        ks_err_t err = backward ? ks_window_store_backward_fetch_range(
                                          in->ws, p->rec->key, p->rec->klen,
                                          from, to, &it)
                                : ks_window_store_fetch_range(
                                          in->ws, p->rec->key, p->rec->klen,
                                          from, to, &it);
        if (err)
                return ks_context_set_error(
                        p->ctx, "step %s: reading store %s: %s",
                        p->st->base.name, p->st->wstore, ks_err2str(err));
        const void *v, *agg;
        size_t vl, alen;
        int64_t s, ts;
        ks_buf_reset(found);
        *cntp = 0;
        while (!err && ks_window_iter_next(it, NULL, NULL, &s, &v, &vl)) {
                if (!ks__win_value_split(v, vl, &ts, &agg, &alen)) {
                        err = bad_value(p->ctx, p->st, vl);
                        break;
                }
                uint8_t *e = ks__buf_extend(found, 12 + vl);
                if (!e) {
                        err = KS_ERR_NO_MEMORY;
                        break;
                }
                ks__be64_put(e, (uint64_t)s);
                ks__be32_put(e + 8, (uint32_t)vl);
                memcpy(e + 12, v, vl);
                ++*cntp;
                int64_t end = ks__ts_add(s, p->d);
                if (backward && (end < p->t || (end == p->t && ts >= p->t)))
                        break;
        }
        if (!err)
                err = ks_window_iter_error(it);
        ks_window_iter_destroy(it);
        return err;
}

/* The next window of ss->found at *@p cur, which it passes. */
static win_t next_win(const uint8_t **cur) {
        const uint8_t *e = *cur;
        size_t vl = ks__be32_get(e + 8);
        win_t w = {1, (int64_t)ks__be64_get(e), 0, NULL, 0};
        ks__win_value_split(e + 12, vl, &w.ts, &w.agg, &w.len);
        *cur = e + 12 + vl;
        return w;
}

/* Whether the @p cnt windows read hold one starting at @p start. */
static int has_start(const pass_t *p, size_t cnt, int64_t start) {
        const uint8_t *cur = ks_buf_data(p->ss->found);
        for (size_t i = 0; i < cnt; i++)
                if (next_win(&cur).start == start)
                        return 1;
        return 0;
}

/* --- writing windows ----------------------------------------------------- */

/* Store window [@p start, start + d] of the record's key with @p agg at
 * @p ts, and send it: on update downstream (through the record cache, if
 * any), on close into the index if it is new (@p made). */
static ks_err_t put_window(const pass_t *p, int64_t start, int64_t ts,
                           const void *agg, size_t len, int made) {
        ks__win_state_t *in = &p->ss->w;
        const ks_record_t *rec = p->rec;
        ks_buf_t *val = in->base.buf;
        ks_buf_reset(val);
        ks_err_t err = ks__win_value(val, ts, agg, len);
        if (!err)
                err = ks_window_store_put(in->ws, rec->key, rec->klen, start,
                                          ks_buf_data(val), ks_buf_len(val));
        if (err)
                return err;
        if (p->st->emit == KS_EMIT_ON_WINDOW_CLOSE)
                return made ? ks__win_index(in, rec->key, rec->klen, start,
                                            ks__ts_add(start, p->d), 1)
                            : KS_ERR_NO_ERROR;
        if ((err = ks__win_time_key(in, rec->key, rec->klen, start)))
                return err;
        if (in->wkv->cache)
                return ks__record_cache_put(
                        in->wkv->cache, ks_buf_data(in->key),
                        ks_buf_len(in->key), ks_buf_data(val), ks_buf_len(val),
                        ts, p->ctx);
        return ks__win_forward(p->ctx, in, agg, len, ts, 0);
}

/* Fold the record into window [@p start, start + d], which holds @p old
 * (NULL: nothing yet, the initializer's aggregate) at @p ots, unless the
 * window has closed; store and send it. @p made: a window not stored yet. */
static ks_err_t update_window(const pass_t *p, int64_t start, const void *old,
                              size_t olen, int64_t ots, int made) {
        ks__win_state_t *in = &p->ss->w;
        int64_t end = ks__ts_add(start, p->d);
        if (end < p->close) {
                ks__win_late(p->ctx, p->st, p->rec, start, end, p->observed);
                return KS_ERR_NO_ERROR;
        }
        ks_buf_reset(in->agg);
        ks_err_t err =
                ks__win_fold(p->ctx, p->st, in, p->rec, old, olen, in->agg);
        if (err)
                return err;
        return put_window(p, start, p->t > ots ? p->t : ots,
                          ks_buf_data(in->agg), ks_buf_len(in->agg), made);
}

/* Update window @p w (read from the store) with the record. */
static ks_err_t update_read(const pass_t *p, const win_t *w) {
        return update_window(p, w->start, w->agg, w->len, w->ts, 0);
}

/* A copy of @p right, made the record's right window [t + 1, t + 1 + d]
 * if it holds a record after t and that window is not there yet. */
static ks_err_t make_right(const pass_t *p, const win_t *right,
                           int right_made) {
        if (right_made || !right->set || right->ts <= p->t)
                return KS_ERR_NO_ERROR;
        return put_window(p, ks__ts_add(p->t, 1), right->ts, right->agg,
                          right->len, 1);
}

/* --- processing ---------------------------------------------------------- */

/* A record at t >= d (Kafka Streams' processReverse and createWindows). */
static ks_err_t process_record(const pass_t *p) {
        int64_t t = p->t, d = p->d;
        int64_t from = ks__ts_sub(t, 2 * d);
        size_t cnt;
        ks_err_t err = find(p, from < 0 ? 0 : from, ks__ts_add(t, 1), 1, &cnt);
        if (err)
                return err;
        win_t right = {0}, left = {0};
        int left_made = 0, right_made = 0, have_prev = 0;
        int64_t prev = 0; /* the timestamp of the record before t */
        const uint8_t *cur = ks_buf_data(p->ss->found);
        for (size_t i = 0; i < cnt && !err; i++) {
                win_t w = next_win(&cur);
                int64_t end = ks__ts_add(w.start, d);
                if (w.start == ks__ts_add(t, 1)) {
                        right_made = 1;
                } else if (end > t) { /* it holds t */
                        if (!right.set)
                                right = w; /* the newest, as it was */
                        err = update_read(p, &w);
                } else if (end == t) {
                        left_made = 1;
                        err = update_read(p, &w);
                        if (w.ts >= t)
                                return err; /* a record at t made the rest */
                        prev = w.ts;
                        have_prev = 1;
                } else { /* the last one read: find() stops there */
                        left = w;
                        prev = w.ts;
                        have_prev = 1;
                }
        }
        if (err)
                return err;
        /* The previous record's right window, if t falls in it. */
        int64_t pstart = ks__ts_add(prev, 1);
        if (have_prev && !has_start(p, cnt, pstart) &&
            ks__ts_add(pstart, d) >= t &&
            (err = update_window(p, pstart, NULL, 0, t, 1)))
                return err;
        /* The left window: from the window before it if the previous
         * record falls in it, else from nothing. */
        if (!left_made) {
                int from_left = have_prev && left.set && t - d <= prev;
                err = update_window(p, t - d, from_left ? left.agg : NULL,
                                    from_left ? left.len : 0, t, 1);
        }
        return err ? err : make_right(p, &right, right_made);
}

/* A record at 0 <= t < d, in [0, d] (Kafka Streams' processEarly). */
static ks_err_t process_early(const pass_t *p) {
        int64_t t = p->t;
        size_t cnt;
        ks_err_t err = find(p, 0, t + 1, 0, &cnt);
        if (err)
                return err;
        win_t all = {0}, right = {0}; /* all: [0, d] */
        int right_made = 0, have_prev = 0;
        int64_t prev = 0;
        const uint8_t *cur = ks_buf_data(p->ss->found);
        for (size_t i = 0; i < cnt && !err; i++) {
                win_t w = next_win(&cur);
                if (w.start == 0) {
                        all = w;
                        if (w.ts < t) {
                                prev = w.ts;
                                have_prev = 1;
                        }
                } else if (w.start <= t) {
                        right = w;
                        err = update_read(p, &w);
                } else {
                        right_made = 1; /* starts at t + 1 */
                }
        }
        if (err)
                return err;
        /* With no right window read, [0, d] holds only records after t,
         * if any: what t's right window holds. */
        if (!right.set && all.set && all.ts > t)
                right = all;
        if ((err = make_right(p, &right, right_made)))
                return err;
        if (have_prev && !has_start(p, cnt, prev + 1) &&
            (err = update_window(p, prev + 1, NULL, 0, t, 1)))
                return err;
        return all.set ? update_read(p, &all)
                       : update_window(p, 0, NULL, 0, t, 1);
}

static ks_err_t slide_process(ks_context_t *ctx, const ks_record_t *rec,
                              void *state) {
        slide_state_t *ss = state;
        ks__win_state_t *in = &ss->w;
        const ks__win_step_t *st = (const ks__win_step_t *)in->base.step;
        if (!rec->key || !rec->value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: skipped */
        int64_t t = rec->timestamp, d = st->w.size;
        int64_t observed = ks__win_observe(in, t);
        int64_t close = ks__ts_sub(observed, st->w.grace);
        ks_err_t err;
        /* Final: the windows ending before the close time. */
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE && close > INT64_MIN &&
            (err = ks__win_emit_closed(ctx, in, close - 1, slide_final)))
                return err;
        if (t < 0)
                return KS_ERR_NO_ERROR; /* no window starts before 0 */
        if (ks__ts_add(t, d + 1) <= close) {
                ks__win_late(ctx, st, rec, t - d, t, observed);
                return KS_ERR_NO_ERROR;
        }
        pass_t p = {ctx, ss, st, rec, t, d, close, observed};
        return t < d ? process_early(&p) : process_record(&p);
}

static ks_err_t slide_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        ks_err_t err = ks__win_open(ctx, base);
        slide_state_t *ss = (slide_state_t *)base;
        const ks__win_step_t *st = (const ks__win_step_t *)base->step;
        if (err)
                return err;
        if (!(ss->found = ks_buf_new()))
                return KS_ERR_NO_MEMORY;
        /* The largest start stored, at most one past a record (a right
         * window): a lower bound of stream time. */
        int64_t seen = ks__ts_sub(ks__window_store_observed(ss->w.ws), 1);
        if (seen > ss->w.observed)
                ss->w.observed = seen;
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE)
                return KS_ERR_NO_ERROR;
        return ks__record_cache_attach(ss->w.wkv, ks__win_cache_forward,
                                       &ss->w);
}

static void slide_release(ks__dsl_state_t *base) {
        ks_buf_destroy(((slide_state_t *)base)->found);
        ks__win_release(base);
}

const ks__dsl_class_t ks__sliding_window_class = {
        KS__DSL_STATEFUL(slide_process),
        .flush = ks__win_flush,
        .free = ks__win_step_free,
        .state_size = sizeof(slide_state_t),
        .open = slide_open,
        .release = slide_release};
