/* Aggregation over time windows (tumbling and hopping), Kafka Streams'
 * KStreamWindowAggregate.
 *
 * A record at t falls in every window [start, start + size) with
 * start = k * advance, 0 <= start <= t < start + size. For each, unless
 * the window has closed (its end at or before stream time minus grace: the
 * record is late, dropped and counted), the record is folded into the
 * window's aggregate, stored with the largest timestamp of its records.
 *
 * On update, the new aggregate goes downstream through the record cache in
 * front of the window store (keyed by windowed key), so a window updated
 * many times between commits goes out once; without a cache, at once. On
 * close, nothing goes out when a window changes; each window is indexed
 * when it opens (windowed.c) and its final result goes out once stream
 * time passes its end plus grace. Windows close before the record that
 * closes them is stored: the store never expires a window before it has
 * been emitted, since retention is size plus grace. */
#include "dsl_int.h"

/* The record cache's listener: store the window it lets out, then forward
 * it (@p arg: the context). */
static ks_err_t cache_write(void *opaque, void *arg, const void *wkey,
                            size_t wklen, const void *value, size_t vlen,
                            int64_t ts) {
        ks__win_state_t *in = opaque;
        const void *key;
        size_t klen;
        int64_t start;
        if (ks_windowed_key_time(wkey, wklen, 0, &key, &klen, &start, NULL))
                return KS_ERR_STATE; /* only the step writes its cache */
        ks_err_t err =
                ks_window_store_put(in->ws, key, klen, start, value, vlen);
        return err ? err
                   : ks__win_cache_forward(opaque, arg, wkey, wklen, value,
                                           vlen, ts);
}

static ks_err_t time_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        ks_err_t err = ks__win_open(ctx, base);
        ks__win_state_t *in = (ks__win_state_t *)base;
        const ks__win_step_t *st = (const ks__win_step_t *)base->step;
        if (err)
                return err;
        int64_t seen = ks__window_store_observed(in->ws);
        if (seen > in->observed)
                in->observed = seen; /* a window's start: a lower bound */
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE)
                return KS_ERR_NO_ERROR;
        return ks__record_cache_attach(in->wkv, cache_write, in);
}

/* The window's current value ([ts][aggregate]), from the cache first. */
static ks_err_t window_get(ks__win_state_t *in, const void *key, size_t klen,
                           int64_t start, const void **vp, size_t *vlp) {
        if (ks__record_cache_peek(in->wkv->cache, ks_buf_data(in->key),
                                  ks_buf_len(in->key), vp, vlp))
                return *vp ? KS_ERR_NO_ERROR : KS_ERR_NOT_FOUND;
        return ks_window_store_fetch(in->ws, key, klen, start, vp, vlp);
}

/* A closed window's final result. */
static ks_err_t time_final(ks_context_t *ctx, ks__win_state_t *in,
                           const void *key, size_t klen, int64_t start,
                           int64_t end) {
        const void *v, *agg;
        size_t vl, alen;
        int64_t ts;
        const ks__win_step_t *st = (const ks__win_step_t *)in->base.step;
        if (end != ks__ts_add(start, st->w.size))
                return KS_ERR_NO_ERROR; /* not this step's (a bad changelog) */
        ks_err_t err = ks_window_store_fetch(in->ws, key, klen, start, &v, &vl);
        if (err == KS_ERR_NOT_FOUND)
                return KS_ERR_NO_ERROR; /* expired with its records */
        if (err || (err = ks__win_time_key(in, key, klen, start)))
                return err;
        if (!ks__win_value_split(v, vl, &ts, &agg, &alen))
                return ks_context_set_error(
                        ctx,
                        "step %s: store %s holds a window value of %zu "
                        "bytes",
                        in->base.step->name, ks_window_store_name(in->ws), vl);
        return ks__win_forward(ctx, in, agg, alen, ts, 1);
}

/* Fold @p rec into window [start, start + size) and store or cache it. */
static ks_err_t update_window(ks_context_t *ctx, ks__win_state_t *in,
                              const ks__win_step_t *st, const ks_record_t *rec,
                              int64_t start) {
        const void *old = NULL, *agg = NULL;
        size_t olen = 0, alen = 0;
        int64_t ots = INT64_MIN;
        ks_err_t err = ks__win_time_key(in, rec->key, rec->klen, start);
        if (!err)
                err = window_get(in, rec->key, rec->klen, start, &old, &olen);
        if (err == KS_ERR_NOT_FOUND)
                old = NULL;
        else if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->wstore, ks_err2str(err));
        else if (!ks__win_value_split(old, olen, &ots, &agg, &alen))
                return ks_context_set_error(
                        ctx,
                        "step %s: store %s holds a window value of %zu "
                        "bytes",
                        st->base.name, st->wstore, olen);
        ks_buf_t *nagg = in->agg;
        ks_buf_reset(nagg);
        if ((err = ks__win_fold(ctx, st, in, rec, old ? agg : NULL, alen,
                                nagg)))
                return err;
        int64_t ts = rec->timestamp > ots ? rec->timestamp : ots;
        ks_buf_t *val = in->base.buf;
        ks_buf_reset(val);
        if ((err = ks__win_value(val, ts, ks_buf_data(nagg), ks_buf_len(nagg))))
                return err;
        if (in->wkv->cache)
                return ks__record_cache_put(
                        in->wkv->cache, ks_buf_data(in->key),
                        ks_buf_len(in->key), ks_buf_data(val), ks_buf_len(val),
                        ts, ctx);
        err = ks_window_store_put(in->ws, rec->key, rec->klen, start,
                                  ks_buf_data(val), ks_buf_len(val));
        if (err)
                return err;
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE)
                return old ? KS_ERR_NO_ERROR
                           : ks__win_index(in, rec->key, rec->klen, start,
                                           ks__ts_add(start, st->w.size), 1);
        return ks__win_forward(ctx, in, ks_buf_data(nagg), ks_buf_len(nagg), ts,
                               0);
}

static ks_err_t time_process(ks_context_t *ctx, const ks_record_t *rec,
                             void *state) {
        ks__win_state_t *in = state;
        const ks__win_step_t *st = (const ks__win_step_t *)in->base.step;
        if (!rec->key || !rec->value)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: skipped */
        int64_t t = rec->timestamp;
        int64_t observed = ks__win_observe(in, t);
        int64_t close = ks__ts_sub(observed, st->w.grace);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (st->emit == KS_EMIT_ON_WINDOW_CLOSE &&
            (err = ks__win_emit_closed(ctx, in, close, time_final)))
                return err;
        if (t < 0)
                return KS_ERR_NO_ERROR; /* no window starts before 0 */
        int64_t size = st->w.size, adv = st->w.advance;
        int64_t first = t - size + adv; /* the first start with end > t */
        first = first < 0 ? 0 : first - first % adv;
        for (int64_t start = first; start <= t && !err; start += adv) {
                int64_t end = ks__ts_add(start, size);
                if (end <= close)
                        ks__win_late(ctx, st, rec, start, end, observed);
                else
                        err = update_window(ctx, in, st, rec, start);
                if (start > INT64_MAX - adv)
                        break;
        }
        return err;
}

const ks__dsl_class_t ks__time_window_class = {KS__DSL_STATEFUL(time_process),
                                               .flush = ks__win_flush,
                                               .free = ks__win_step_free,
                                               .state_size =
                                                       sizeof(ks__win_state_t),
                                               .open = time_open,
                                               .release = ks__win_release};
