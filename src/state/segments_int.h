/* Time segments of window and session stores [Kafka Streams' Segments and
 * AbstractRocksDBSegmentedBytesStore], over the key-value handle the store
 * is built on.
 *
 * A stored key is
 *
 *     be64(segment ^ sign bit) | be32(key length) | key | be64(time ^ sign
 *     bit) | suffix
 *
 * where `time` is what retention applies to (a window's start, a session's
 * end), segment = floor(time / segment_ms) with segment_ms =
 * max(retention / 2, 60 s), and the suffix is fixed per store (a window's
 * sequence number when it retains duplicates, a session's start). Flipping
 * the sign bits makes negative values sort first, so the key order is
 * segment, then key (length first: one key's entries stay contiguous even
 * when another key extends it), then time. Each segment is one contiguous
 * key range.
 *
 * Retention follows observed stream time, the largest time put (with a
 * value): an entry is expired when its time < observed - retention + 1,
 * the smallest live time (saturating: nothing expires near INT64_MIN).
 * Segments entirely below the smallest live time are dropped whole with one
 * range delete (ks__kv_store_delete_range(), not change-logged) as soon as
 * observed stream time makes them so; puts below it are refused by the
 * stores, and reads never look below it. `lowest` bounds the stored
 * segments from below, so a drop covers [lowest, first live segment) and
 * happens only when something may be stored there. Observed stream time is
 * learnt on first use from the stored keys: the last key names the largest
 * segment, one scan of that segment gives the largest time (segments
 * holding only keys out of the layout, a crafted changelog's, are passed
 * over downwards); the first key gives `lowest`, and segments a restore
 * brought back below the horizon are dropped then. A key out of the layout
 * (its key length wrong, or filed under another segment than its time's)
 * is never returned.
 *
 * @locality the store's task thread. */
#ifndef KS_SEGMENTS_INT_H
#define KS_SEGMENTS_INT_H

#include "store_int.h"

#define KS__SEG_PREFIX 8         /* bytes of the segment id */
#define KS__TS_NONE    INT64_MIN /* no observed stream time yet */

typedef struct {
        ks_kv_store_t *kv; /* the store's handle (owned by the store) */
        int64_t retention_ms, segment_ms;
        size_t suffix;    /* bytes after the time in every stored key */
        int64_t observed; /* KS__TS_NONE until the first entry */
        int64_t lowest;   /* no stored segment below; INT64_MAX: none */
        int known;        /* observed and lowest learnt */
} ks__segments_t;

/** Set up @p s over @p kv (retention > 0). */
void ks__segments_init(ks__segments_t *s, ks_kv_store_t *kv,
                       int64_t retention_ms, size_t suffix);

/** The segment of @p time (floored division: exact for any int64). */
int64_t ks__segment_of(const ks__segments_t *s, int64_t time);

/** The smallest live time: KS__TS_NONE (INT64_MIN) when nothing has
 *  expired. */
int64_t ks__segments_min_live(const ks__segments_t *s);

/** 1 if an entry at @p time has expired. */
int ks__segments_expired(const ks__segments_t *s, int64_t time);

/** The store is open and observed stream time is known (learnt from the
 *  stored keys on first use, dropping the expired segments found).
 *  KS_ERR_STORE_CLOSED, or a read error. */
ks_err_t ks__segments_ready(ks__segments_t *s);

/** The length of a stored key for a key of @p klen bytes. */
static inline size_t ks__segments_key_len(const ks__segments_t *s,
                                          size_t klen) {
        return KS__SEG_PREFIX + 4 + klen + 8 + s->suffix;
}

/** Encode the stored key of (@p key, @p time) into @p out (of
 *  ks__segments_key_len() bytes), the suffix from @p suffix (s->suffix
 *  bytes; NULL: zeros). */
void ks__segments_encode(const ks__segments_t *s, uint8_t *out, const void *key,
                         size_t klen, int64_t time, const void *suffix);

/** Split stored key @p k; 0 if it is not in the layout (sizes, or a
 *  segment id other than its time's). */
int ks__segments_split(const ks__segments_t *s, const void *k, size_t kl,
                       const void **keyp, size_t *klenp, int64_t *timep,
                       const uint8_t **suffixp);

/** After a put at @p time with a value: lower `lowest` to its segment,
 *  raise observed stream time, and drop the segments that expires. */
ks_err_t ks__segments_advance(ks__segments_t *s, int64_t time);

/** Clamp [*from, *to] to the live times (min live, observed stream
 *  time); 0 if nothing live is in it. */
int ks__segments_clamp(const ks__segments_t *s, int64_t *from, int64_t *to);

/** A walk over the segments of [from, to] (times), one key-value iterator
 *  per segment opened as the previous one ends. With a key, each segment's
 *  range is that key's entries with time in [from, to] (any suffix);
 *  without, whole segments (forward only). It yields the stored entries:
 *  the caller decodes and filters them. */
typedef struct {
        ks__segments_t *segs;
        ks_kv_iter_t *kv;
        int reverse, whole;
        uint8_t *lo, *hi; /* the current segment's bounds */
        size_t lolen, hilen;
        int64_t seg, last; /* next segment to open, last one */
        int more;          /* segments left to open */
        ks_err_t err;
} ks__seg_iter_t;

/** Start @p it (its memory the caller's) over the segments of
 *  [@p from, @p to]; @p empty makes an iterator that yields nothing.
 *  KS_ERR_NO_MEMORY. */
ks_err_t ks__seg_iter_init(ks__seg_iter_t *it, ks__segments_t *s, int reverse,
                           const void *key, size_t klen, int64_t from,
                           int64_t to, int empty);

/** The next stored entry (borrowed until the next call), 1; 0 at the end
 *  or on error (ks__seg_iter_error()). */
int ks__seg_iter_next(ks__seg_iter_t *it, const void **kp, size_t *klp,
                      const void **vp, size_t *vlp);

/** Why the walk stopped, as ks_kv_iter_error(). */
ks_err_t ks__seg_iter_error(const ks__seg_iter_t *it);

/** Release what @p it holds (not @p it itself). */
void ks__seg_iter_clear(ks__seg_iter_t *it);

#endif
