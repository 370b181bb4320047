/* Time segments of window and session stores: key layout, observed stream
 * time, whole-segment drops and walks over segments (see segments_int.h).
 *
 * Invariant: every stored key's segment is >= `lowest` once `known` is set
 * (lowest is the first stored key's segment, lowered by puts, raised only
 * by a drop that deleted everything below it). */
#include "segments_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"

#define SIGN_BIT ((uint64_t)1 << 63)

static void seg_put(uint8_t *p, int64_t seg) {
        ks__be64_put(p, (uint64_t)seg ^ SIGN_BIT);
}

static int64_t seg_get(const uint8_t *p) {
        return (int64_t)(ks__be64_get(p) ^ SIGN_BIT);
}

void ks__segments_init(ks__segments_t *s, ks_kv_store_t *kv,
                       int64_t retention_ms, size_t suffix) {
        assert(retention_ms > 0);
        memset(s, 0, sizeof(*s));
        s->kv = kv;
        s->retention_ms = retention_ms;
        s->segment_ms = retention_ms / 2 > 60000 ? retention_ms / 2 : 60000;
        s->suffix = suffix;
        s->observed = KS__TS_NONE;
        s->lowest = INT64_MAX;
}

int64_t ks__segment_of(const ks__segments_t *s, int64_t time) {
        int64_t q = time / s->segment_ms;
        return (time % s->segment_ms < 0) ? q - 1 : q;
}

int64_t ks__segments_min_live(const ks__segments_t *s) {
        if (s->observed == KS__TS_NONE)
                return KS__TS_NONE;
        /* Below INT64_MIN the subtraction saturates to INT64_MIN
         * (KS__TS_NONE): nothing has expired yet. */
        return ks__ts_sub(s->observed, s->retention_ms - 1);
}

int ks__segments_expired(const ks__segments_t *s, int64_t time) {
        return time < ks__segments_min_live(s);
}

void ks__segments_encode(const ks__segments_t *s, uint8_t *out, const void *key,
                         size_t klen, int64_t time, const void *suffix) {
        seg_put(out, ks__segment_of(s, time));
        ks__be32_put(out + KS__SEG_PREFIX, (uint32_t)klen);
        if (klen)
                memcpy(out + KS__SEG_PREFIX + 4, key, klen);
        uint8_t *p = out + KS__SEG_PREFIX + 4 + klen;
        ks__be64_put(p, (uint64_t)time ^ SIGN_BIT);
        if (!s->suffix)
                return;
        if (suffix)
                memcpy(p + 8, suffix, s->suffix);
        else
                memset(p + 8, 0, s->suffix);
}

int ks__segments_split(const ks__segments_t *s, const void *k, size_t kl,
                       const void **keyp, size_t *klenp, int64_t *timep,
                       const uint8_t **suffixp) {
        const uint8_t *p = k;
        size_t fixed = KS__SEG_PREFIX + 4 + 8 + s->suffix;
        if (kl < fixed)
                return 0;
        size_t klen = ks__be32_get(p + KS__SEG_PREFIX);
        if (klen != kl - fixed)
                return 0;
        int64_t time = (int64_t)(ks__be64_get(p + KS__SEG_PREFIX + 4 + klen) ^
                                 SIGN_BIT);
        /* Filed under another segment than its time's: not written by a
         * store (a crafted changelog record); reads could not find it by
         * key, nor drop it with its segment. */
        if (seg_get(p) != ks__segment_of(s, time))
                return 0;
        *keyp = p + KS__SEG_PREFIX + 4;
        *klenp = klen;
        *timep = time;
        if (suffixp)
                *suffixp = p + KS__SEG_PREFIX + 4 + klen + 8;
        return 1;
}

/* Drop, with one range delete, every segment below the first live one. */
static ks_err_t drop_expired(ks__segments_t *s) {
        if (s->observed == KS__TS_NONE)
                return KS_ERR_NO_ERROR;
        int64_t live = ks__segment_of(s, ks__segments_min_live(s));
        if (s->lowest >= live)
                return KS_ERR_NO_ERROR;
        uint8_t from[KS__SEG_PREFIX], to[KS__SEG_PREFIX];
        seg_put(from, s->lowest);
        seg_put(to, live);
        ks_err_t err = ks__kv_store_delete_range(s->kv, from, sizeof(from), to,
                                                 sizeof(to));
        if (!err)
                s->lowest = live;
        return err;
}

/* The segment of the first (last, with @p reverse) stored key; *foundp 0
 * for an empty store. With @p below (reverse only), the last key of a
 * segment below it. A backend cursor that reads one key: a seek in
 * RocksDB, and in memory a snapshot of that key only. A key too short to
 * name a segment (none is written so) costs a walk past it. */
static ks_err_t edge_segment(ks__segments_t *s, int reverse,
                             const int64_t *below, int64_t *segp, int *foundp) {
        ks_kv_store_t *kv = s->kv;
        uint8_t seek[KS__SEG_PREFIX];
        if (below)
                seg_put(seek, *below);
        *foundp = 0;
        for (size_t limit = 1;; limit = 0) {
                ks__kv_bound_t bound = {KS__BOUND_NONE, NULL, 0, limit};
                void *cur;
                ks_err_t err = kv->ops->cursor_open(
                        kv->impl, reverse, below ? seek : NULL,
                        below ? sizeof(seek) : 0, &bound, &cur);
                if (err)
                        return err;
                const void *k, *v;
                size_t kl, vl, n = 0;
                while (kv->ops->cursor_next(cur, &k, &kl, &v, &vl, &err)) {
                        n++;
                        if (kl >= KS__SEG_PREFIX &&
                            (!below || seg_get(k) < *below)) {
                                *segp = seg_get(k);
                                *foundp = 1;
                                break;
                        }
                }
                kv->ops->cursor_close(cur);
                if (err || *foundp || !n || !limit)
                        return err;
        }
}

/* The largest time of segment @p seg into *observedp (*anyp: one found).
 * Not necessarily in its last key: keys order by key before time. */
static ks_err_t segment_max(ks__segments_t *s, int64_t seg, int64_t *observedp,
                            int *anyp) {
        uint8_t prefix[KS__SEG_PREFIX];
        seg_put(prefix, seg);
        ks_kv_iter_t *it;
        ks_err_t err =
                ks_kv_store_prefix_scan(s->kv, prefix, sizeof(prefix), &it);
        if (err)
                return err;
        const void *k, *key;
        size_t kl, klen;
        int64_t time;
        while (ks_kv_iter_next(it, &k, &kl, NULL, NULL))
                if (ks__segments_split(s, k, kl, &key, &klen, &time, NULL) &&
                    (!*anyp || time > *observedp)) {
                        *observedp = time;
                        *anyp = 1;
                }
        err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        return err;
}

static ks_err_t learn(ks__segments_t *s) {
        int64_t last, first, observed = KS__TS_NONE;
        int found, any = 0;
        ks_err_t err = edge_segment(s, 1, NULL, &last, &found);
        if (err || !found) {
                s->known = !err;
                return err;
        }
        /* The largest time is in the last segment holding an entry in the
         * layout: segments above it hold only keys no store wrote (a
         * crafted changelog's), which must not set observed stream time. */
        while (!(err = segment_max(s, last, &observed, &any)) && !any) {
                int64_t above = last;
                if ((err = edge_segment(s, 1, &above, &last, &found)) || !found)
                        break;
        }
        if (!err)
                err = edge_segment(s, 0, NULL, &first, &found);
        if (err)
                return err;
        s->observed = observed;
        s->lowest = found ? first : INT64_MAX;
        s->known = 1;
        /* A restore brings back what the changelog still holds, expired
         * segments included. */
        return drop_expired(s);
}

ks_err_t ks__segments_ready(ks__segments_t *s) {
        if (s->kv->closed)
                return KS_ERR_STORE_CLOSED;
        return s->known ? KS_ERR_NO_ERROR : learn(s);
}

ks_err_t ks__segments_advance(ks__segments_t *s, int64_t time) {
        int64_t seg = ks__segment_of(s, time);
        if (seg < s->lowest)
                s->lowest = seg;
        if (s->observed != KS__TS_NONE && time <= s->observed)
                return KS_ERR_NO_ERROR;
        s->observed = time;
        return drop_expired(s);
}

int ks__segments_clamp(const ks__segments_t *s, int64_t *from, int64_t *to) {
        /* Without an observed time the store holds nothing, or windows at
         * INT64_MIN only (observed stream time INT64_MIN is KS__TS_NONE):
         * [INT64_MIN, INT64_MIN] covers both. */
        int64_t ml = ks__segments_min_live(s);
        if (*from < ml)
                *from = ml;
        if (*to > s->observed)
                *to = s->observed;
        return *from <= *to;
}

/* --- walks over segments ------------------------------------------------ */

static ks_err_t open_next(ks__seg_iter_t *it);

ks_err_t ks__seg_iter_init(ks__seg_iter_t *it, ks__segments_t *s, int reverse,
                           const void *key, size_t klen, int64_t from,
                           int64_t to, int empty) {
        static const uint8_t ones[8] = {0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff};
        assert(s->suffix <= sizeof(ones));
        assert(key || !reverse); /* whole segments: forward only */
        memset(it, 0, sizeof(*it));
        it->segs = s;
        it->reverse = reverse;
        it->whole = !key;
        if (empty || from > to)
                return KS_ERR_NO_ERROR;
        int64_t a = ks__segment_of(s, from), b = ks__segment_of(s, to);
        it->seg = reverse ? b : a;
        it->last = reverse ? a : b;
        it->more = 1;
        if (!it->whole) {
                size_t n = ks__segments_key_len(s, klen);
                it->lo = malloc(n);
                it->hi = malloc(n);
                if (!it->lo || !it->hi) {
                        ks__seg_iter_clear(it);
                        return KS_ERR_NO_MEMORY;
                }
                /* Each segment's bounds differ only in the segment id,
                 * rewritten as the walk moves. */
                ks__segments_encode(s, it->lo, key, klen, from, NULL);
                ks__segments_encode(s, it->hi, key, klen, to, ones);
                it->lolen = it->hilen = n;
        }
        /* Between calls a segment's iterator is open or the walk is over:
         * a store that closes ends the walk through that iterator, and
         * nothing touches the store after. */
        ks_err_t err = open_next(it);
        if (err)
                ks__seg_iter_clear(it);
        return err;
}

/* Open the next segment's iterator. */
static ks_err_t open_next(ks__seg_iter_t *it) {
        int64_t seg = it->seg;
        if (seg == it->last)
                it->more = 0;
        else
                it->seg += it->reverse ? -1 : 1;
        ks_kv_store_t *kv = it->segs->kv;
        if (it->whole) {
                uint8_t p[KS__SEG_PREFIX];
                seg_put(p, seg);
                return ks_kv_store_prefix_scan(kv, p, sizeof(p), &it->kv);
        }
        seg_put(it->lo, seg);
        seg_put(it->hi, seg);
        return (it->reverse ? ks_kv_store_reverse_range : ks_kv_store_range)(
                kv, it->lo, it->lolen, it->hi, it->hilen, &it->kv);
}

int ks__seg_iter_next(ks__seg_iter_t *it, const void **kp, size_t *klp,
                      const void **vp, size_t *vlp) {
        for (;;) {
                if (it->kv) {
                        if (ks_kv_iter_next(it->kv, kp, klp, vp, vlp))
                                return 1;
                        it->err = ks_kv_iter_error(it->kv);
                        ks_kv_iter_destroy(it->kv);
                        it->kv = NULL;
                        if (it->err)
                                it->more = 0;
                }
                /* Only at the end of a segment: the store is still open. */
                if (!it->more)
                        return 0;
                ks_err_t err = open_next(it);
                if (err) {
                        it->err = err;
                        it->more = 0;
                        return 0;
                }
        }
}

ks_err_t ks__seg_iter_error(const ks__seg_iter_t *it) {
        return it->kv ? ks_kv_iter_error(it->kv) : it->err;
}

void ks__seg_iter_clear(ks__seg_iter_t *it) {
        ks_kv_iter_destroy(it->kv);
        free(it->lo);
        free(it->hi);
        it->kv = NULL;
        it->lo = it->hi = NULL;
        it->more = 0;
}
