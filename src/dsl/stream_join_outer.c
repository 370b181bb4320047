/* Stream-stream joins: the outer store of records that found no partner
 * yet, and emitting them once no partner can come (see stream_join.c for
 * the semantics and the layout). */
#include "stream_join_int.h"

#include <stdlib.h>
#include <string.h>

/* --- the outer store ----------------------------------------------------- */

/* The outer key prefix of (@p ts, @p side, @p key) into @p out. */
static ks_err_t outer_prefix(ks_buf_t *out, int64_t ts, int side,
                             const void *key, size_t klen) {
        uint8_t h[OUTER_HEAD];
        ks__be64_put(h, (uint64_t)ts ^ SIGN_BIT);
        h[8] = (uint8_t)side;
        ks__be32_put(h + 9, (uint32_t)klen);
        ks_buf_reset(out);
        ks_err_t err = ks_buf_append(out, h, sizeof(h));
        return err || !klen ? err : ks_buf_append(out, key, klen);
}

/* Does the join keep the unmatched records of @p side? */
static int side_kept(const sj_step_t *st, int side) {
        return side == st->side ? st->outer : st->other_outer;
}

/* Split an outer key of join step @p st; NULL, or why it is malformed. */
static const char *outer_split(const sj_step_t *st, const uint8_t *k,
                               size_t len, int64_t *tsp, int *sidep,
                               const void **keyp, size_t *klenp,
                               uint32_t *seqp) {
        if (len < OUTER_HEAD + SEQ_LEN)
                return "a malformed outer join entry (too short)";
        if (k[8] > 1)
                return "a malformed outer join entry (no such side)";
        if (!side_kept(st, k[8]))
                return "a malformed outer join entry (a side the join does "
                       "not keep)";
        size_t klen = ks__be32_get(k + 9);
        if (klen != len - OUTER_HEAD - SEQ_LEN)
                return "a malformed outer join entry (its key length does "
                       "not match)";
        *tsp = (int64_t)(ks__be64_get(k) ^ SIGN_BIT);
        *sidep = k[8];
        *keyp = k + OUTER_HEAD;
        *klenp = klen;
        *seqp = ks__be32_get(k + OUTER_HEAD + klen);
        return NULL;
}

ks_err_t ks__sj_store_error(ks_context_t *ctx, const sj_step_t *st,
                            const char *store, const char *what) {
        return ks_context_set_error(ctx, "step %s: store %s: %s", st->base.name,
                                    store, what);
}

/* This side's next sequence number: one past the largest stored. */
static ks_err_t learn_seq(ks_context_t *ctx, sj_state_t *in) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_all(in->base.store, &it);
        if (err)
                return ks__sj_store_error(ctx, st, st->base.store,
                                          ks_err2str(err));
        const void *k, *v;
        size_t kl, vl;
        uint32_t next = 0;
        int wrapped = 0;
        const char *bad = NULL;
        while (!bad && ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                int64_t ts;
                int side;
                const void *key;
                size_t klen;
                uint32_t seq;
                bad = outer_split(st, k, kl, &ts, &side, &key, &klen, &seq);
                if (bad || side != st->side)
                        continue;
                if (seq == UINT32_MAX)
                        wrapped = 1;
                else if (seq >= next)
                        next = seq + 1;
        }
        err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        if (err || bad)
                return ks__sj_store_error(ctx, st, st->base.store,
                                          err ? ks_err2str(err) : bad);
        /* After 2^32 - 1 the numbers go on from 0, among stored ones. */
        in->seq = wrapped ? 0 : next;
        in->seq_wrapped = wrapped;
        in->seq_known = 1;
        return KS_ERR_NO_ERROR;
}

/* Keep an unmatched record of this side until its window closes. */
ks_err_t ks__sj_outer_add(ks_context_t *ctx, sj_state_t *in, int64_t ts,
                          const void *key, size_t klen, const void *value,
                          size_t vlen) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        ks_kv_store_t *kv = in->base.store;
        ks_err_t err = in->seq_known ? KS_ERR_NO_ERROR : learn_seq(ctx, in);
        if (err)
                return err;
        /* Every number once, at most: then the store is full. */
        for (uint64_t tries = 0;; tries++) {
                if (tries > UINT32_MAX)
                        return ks__sj_store_error(ctx, st, st->base.store,
                                                  "no free outer join sequence "
                                                  "number");
                uint8_t seq[SEQ_LEN];
                ks__be32_put(seq, in->seq);
                if (++in->seq == 0)
                        in->seq_wrapped = 1;
                if ((err = outer_prefix(in->okey, ts, st->side, key, klen)) ||
                    (err = ks_buf_append(in->okey, seq, sizeof(seq))))
                        return err;
                const void *old = NULL;
                size_t oldlen;
                err = in->seq_wrapped
                              ? ks_kv_store_put_if_absent(
                                        kv, ks_buf_data(in->okey),
                                        ks_buf_len(in->okey), value, vlen, &old,
                                        &oldlen)
                              : ks_kv_store_put(kv, ks_buf_data(in->okey),
                                                ks_buf_len(in->okey), value,
                                                vlen);
                if (err)
                        return ks__sj_store_error(ctx, st, st->base.store,
                                                  ks_err2str(err));
                if (!old)
                        break;
        }
        if (kv->memo_known && ts < kv->memo)
                kv->memo = ts;
        return KS_ERR_NO_ERROR;
}

/* A record of the other side at @p ts found a partner: it leaves the outer
 * store (every record of that side with this key and timestamp does: all
 * of them are partners of this record). Each look starts at the entry just
 * deleted, so the deleted ones are not walked over again. */
ks_err_t ks__sj_outer_matched(ks_context_t *ctx, sj_state_t *in, int64_t ts,
                              const void *key, size_t klen) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        ks_kv_store_t *kv = in->base.store;
        if (kv->memo_known && ts < kv->memo)
                return KS_ERR_NO_ERROR; /* nothing that old is kept */
        ks_err_t err = outer_prefix(in->okey, ts, !st->side, key, klen);
        ks_buf_t *from = in->seek, *found_key = in->base.buf2;
        ks_buf_reset(from);
        if (!err)
                err = ks_buf_append(from, ks_buf_data(in->okey),
                                    ks_buf_len(in->okey));
        for (int found = 1; !err && found;) {
                ks_buf_reset(found_key);
                err = ks__kv_store_first(
                        kv, ks_buf_data(from), ks_buf_len(from),
                        ks_buf_data(in->okey), ks_buf_len(in->okey), found_key,
                        &found);
                if (!err && found)
                        err = ks_kv_store_delete(kv, ks_buf_data(found_key),
                                                 ks_buf_len(found_key), NULL,
                                                 NULL);
                if (!err && found) {
                        ks_buf_t *t = from;
                        from = found_key;
                        found_key = t;
                }
        }
        return err ? ks__sj_store_error(ctx, st, st->base.store,
                                        ks_err2str(err))
                   : KS_ERR_NO_ERROR;
}

/* Emit one outer entry (key @p k, value @p v): its record joined with
 * NULL, at its own timestamp, with no headers, then forget it. */
static ks_err_t outer_emit(ks_context_t *ctx, sj_state_t *in, const uint8_t *k,
                           size_t kl, const void *v, size_t vl) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        int64_t ts;
        int side;
        const void *key;
        size_t klen;
        uint32_t seq;
        const char *bad = outer_split(st, k, kl, &ts, &side, &key, &klen, &seq);
        if (bad)
                return ks__sj_store_error(ctx, st, st->base.store, bad);
        ks_buf_reset(in->base.buf);
        ks_err_t err =
                st->joiner(st->base.opaque, side ? NULL : v, side ? 0 : vl,
                           side ? v : NULL, side ? vl : 0, in->base.buf);
        if (err)
                return ks_context_set_error(ctx,
                                            "step %s: the joiner failed (%s)",
                                            st->base.name, ks_err2str(err));
        ks__context_detach_origin(ctx, 1);
        err = ks_context_forward_record(
                ctx, NULL, key, klen, ks_buf_data(in->base.buf),
                ks_buf_len(in->base.buf), ts, in->base.no_headers);
        ks__context_detach_origin(ctx, 0);
        if (!err &&
            (err = ks_kv_store_delete(in->base.store, k, kl, NULL, NULL)))
                return ks__sj_store_error(ctx, st, st->base.store,
                                          ks_err2str(err));
        return err;
}

static ks_err_t due_append(ks_buf_t *due, const void *k, size_t kl,
                           const void *v, size_t vl) {
        due_head_t h = {kl, vl};
        ks_err_t err = ks_buf_append(due, &h, sizeof(h));
        if (!err)
                err = ks_buf_append(due, k, kl);
        if (!err && vl)
                err = ks_buf_append(due, v, vl);
        return err;
}

/* Collect the entries older than @p limit from in->seek on (empty: from
 * the first), up to EMIT_BATCH of them and about EMIT_BYTES, into in->due;
 * *morep: there are more. *nextp: the smallest timestamp left behind
 * (INT64_MAX: none). The memo becomes the smallest timestamp collected: the
 * entries stay until they are emitted. */
static ks_err_t outer_collect(ks_context_t *ctx, sj_state_t *in, int64_t limit,
                              size_t *countp, int *morep, int64_t *nextp) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        ks_kv_store_t *kv = in->base.store;
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_range(
                kv, ks_buf_len(in->seek) ? ks_buf_data(in->seek) : NULL,
                ks_buf_len(in->seek), NULL, 0, &it);
        if (err)
                return ks__sj_store_error(ctx, st, st->base.store,
                                          ks_err2str(err));
        const void *k, *v;
        size_t kl, vl, n = 0;
        int64_t next = INT64_MAX, first = INT64_MAX;
        const char *bad = NULL;
        ks_buf_reset(in->due);
        *morep = 0;
        while (!err && ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                if (kl < OUTER_HEAD + SEQ_LEN) {
                        bad = "a malformed outer join entry (too short)";
                        break;
                }
                int64_t ts = (int64_t)(ks__be64_get(k) ^ SIGN_BIT);
                if (ts >= limit) {
                        next = ts;
                        break;
                }
                if (n == EMIT_BATCH || ks_buf_len(in->due) >= EMIT_BYTES) {
                        *morep = 1;
                        next = ts;
                        break;
                }
                if (!n)
                        first = ts;
                err = due_append(in->due, k, kl, v, vl);
                n++;
        }
        if (!err)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        if (err || bad)
                return ks__sj_store_error(ctx, st, st->base.store,
                                          err ? ks_err2str(err) : bad);
        kv->memo = n ? first : next;
        kv->memo_known = 1;
        *countp = n;
        *nextp = next;
        return KS_ERR_NO_ERROR;
}

/* Emit, oldest first, every unmatched record that can no longer find a
 * partner at stream time @p s: those older than s - span. */
ks_err_t ks__sj_outer_emit_due(ks_context_t *ctx, sj_state_t *in, int64_t s) {
        const sj_step_t *st = (const sj_step_t *)in->base.step;
        ks_kv_store_t *kv = in->base.store;
        int64_t limit = ks__sj_sat_sub(s, st->span);
        if (kv->memo_known && kv->memo >= limit)
                return KS_ERR_NO_ERROR;
        /* Nothing is kept below the memo: start there. */
        ks_buf_reset(in->seek);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (kv->memo_known) {
                uint8_t from[8];
                ks__be64_put(from, (uint64_t)kv->memo ^ SIGN_BIT);
                err = ks_buf_append(in->seek, from, sizeof(from));
        }
        for (int more = 1; !err && more;) {
                size_t n = 0;
                int64_t next = INT64_MAX;
                if ((err = outer_collect(ctx, in, limit, &n, &more, &next)))
                        return err;
                const uint8_t *p = ks_buf_data(in->due);
                const uint8_t *last = NULL;
                size_t last_len = 0;
                for (size_t i = 0; !err && i < n; i++) {
                        due_head_t h;
                        memcpy(&h, p, sizeof(h));
                        const uint8_t *k = p + sizeof(h), *v = k + h.kl;
                        p = v + h.vl;
                        err = outer_emit(ctx, in, k, h.kl, v, h.vl);
                        last = k;
                        last_len = h.kl;
                }
                if (err)
                        return err; /* the memo stays at or below them */
                kv->memo = next;
                /* The next batch starts at the last one emitted (gone). */
                ks_buf_reset(in->seek);
                if (more)
                        err = ks_buf_append(in->seek, last, last_len);
        }
        return err;
}
