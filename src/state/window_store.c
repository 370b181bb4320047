/* Window stores: (key, window start) -> value over a key-value store, which
 * the window store owns (it destroys the handle it is built on).
 *
 * Layout of a stored key (segments_int.h): be64(segment ^ sign bit) |
 * be32(key length) | key | be64(start ^ sign bit), segment = floor(start /
 * segment_ms), and with KS_STORE_F_RETAIN_DUPLICATES a be32 sequence number
 * after the start, so that every put is a key of its own: a fetch returns
 * them in put order within a start, a NULL value is ignored (nothing can
 * say which duplicate it would delete), as in Kafka Streams.
 *
 * Sequence numbers: one counter per store instance, starting on first use
 * after the largest one stored in the live segments (one scan of them;
 * expired segments never take a put again), so a reopened or restored
 * store never overwrites a kept duplicate. It wraps after 2^32 puts: a
 * duplicate is overwritten only if it is still live after 2^32 later puts
 * to the store.
 *
 * Retention is enforced against observed stream time (the largest start
 * put): reads skip expired windows, puts into them are dropped and counted,
 * and whole segments go with one range delete once every window they can
 * hold has expired. Reads walk only the live segments that can hold what
 * they ask for. */
#include "segments_int.h"

#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define SEQ_LEN 4

struct ks_window_store_s {
        ks__segments_t segs;
        ks_kv_store_t *kv; /* owned: the stored keys and values */
        int64_t window_size_ms;
        int dups;      /* KS_STORE_F_RETAIN_DUPLICATES */
        uint32_t seq;  /* next sequence number (dups) */
        int seq_known; /* seq learnt from the stored windows */
        uint64_t expired_puts;
        uint8_t *kbuf; /* encoded key scratch */
        size_t kbuf_cap;
        void *vbuf; /* a value handed out after its iterator ended */
        size_t vbuf_cap;
};

struct ks_window_iter_s {
        ks__seg_iter_t seg;
        ks_window_store_t *ws;
        int64_t from, to; /* the starts yielded (live ones only) */
};

static uint8_t *kbuf(ks_window_store_t *ws, size_t need) {
        if (need > ws->kbuf_cap) {
                uint8_t *n = realloc(ws->kbuf, need);
                if (!n)
                        return NULL;
                ws->kbuf = n;
                ws->kbuf_cap = need;
        }
        return ws->kbuf;
}

ks_window_store_t *ks__window_store_new(ks_kv_store_t *kv, int64_t retention_ms,
                                        int64_t window_size_ms,
                                        int retain_duplicates) {
        /* The topology refuses others (retention >= window size > 0). */
        ks_window_store_t *ws = calloc(1, sizeof(*ws));
        if (!ws) {
                ks__kv_store_destroy(kv);
                return NULL;
        }
        ws->kv = kv;
        ws->window_size_ms = window_size_ms;
        ws->dups = !!retain_duplicates;
        ks__segments_init(&ws->segs, kv, retention_ms, ws->dups ? SEQ_LEN : 0);
        return ws;
}

ks_kv_store_t *ks__window_store_kv(ks_window_store_t *ws) {
        return ws->kv;
}

void ks__window_store_destroy(ks_window_store_t *ws) {
        if (!ws)
                return;
        ks__kv_store_destroy(ws->kv);
        free(ws->kbuf);
        free(ws->vbuf);
        free(ws);
}

uint64_t ks__window_store_expired_puts(const ks_window_store_t *ws) {
        return ws ? ws->expired_puts : 0;
}

const char *ks_window_store_name(const ks_window_store_t *store) {
        return store ? store->kv->name : NULL;
}

int64_t ks_window_store_retention_ms(const ks_window_store_t *store) {
        return store ? store->segs.retention_ms : -1;
}

/* The next sequence number: one past the largest stored in the live
 * segments. */
static ks_err_t learn_seq(ks_window_store_t *ws) {
        ks__seg_iter_t it;
        int64_t from = INT64_MIN, to = INT64_MAX;
        int live = ks__segments_clamp(&ws->segs, &from, &to);
        ks_err_t err =
                ks__seg_iter_init(&it, &ws->segs, 0, NULL, 0, from, to, !live);
        if (err)
                return err;
        const void *k, *key;
        size_t kl, klen;
        int64_t start;
        const uint8_t *sfx;
        uint32_t max = 0;
        int any = 0;
        while (ks__seg_iter_next(&it, &k, &kl, NULL, NULL))
                if (ks__segments_split(&ws->segs, k, kl, &key, &klen, &start,
                                       &sfx) &&
                    (!any || ks__be32_get(sfx) > max)) {
                        max = ks__be32_get(sfx);
                        any = 1;
                }
        err = ks__seg_iter_error(&it);
        ks__seg_iter_clear(&it);
        if (err)
                return err;
        ws->seq = any ? max + 1 : 0;
        ws->seq_known = 1;
        return KS_ERR_NO_ERROR;
}

static ks_err_t check(ks_window_store_t *ws, const void *key, size_t klen) {
        if (!ws || (!key && klen) || klen > UINT32_MAX)
                return KS_ERR_INVALID_ARG;
        ks_err_t err = ks__segments_ready(&ws->segs);
        if (!err && ws->dups && !ws->seq_known)
                err = learn_seq(ws);
        return err;
}

int64_t ks__window_store_observed(ks_window_store_t *ws) {
        if (!ws || ks__segments_ready(&ws->segs))
                return KS__TS_NONE;
        return ws->segs.observed;
}

int64_t ks_window_store_observed_stream_time(ks_window_store_t *store) {
        return ks__window_store_observed(store);
}

ks_err_t ks_window_store_put(ks_window_store_t *ws, const void *key,
                             size_t key_size, int64_t window_start,
                             const void *value, size_t value_size) {
        ks_err_t err = check(ws, key, key_size);
        if (err)
                return err;
        if (!key || (!value && value_size))
                return KS_ERR_INVALID_ARG;
        if (ws->dups && !value)
                return KS_ERR_NO_ERROR;
        if (ks__segments_expired(&ws->segs, window_start)) {
                ws->expired_puts++;
                ks__log(ws->kv->conf, KS_LOG_WARNING, "STORE",
                        "window store \"%s\": dropping a put for the window "
                        "starting at %lld, expired (observed stream time "
                        "%lld, retention %lld ms)",
                        ws->kv->name, (long long)window_start,
                        (long long)ws->segs.observed,
                        (long long)ws->segs.retention_ms);
                return KS_ERR_NO_ERROR;
        }
        size_t len = ks__segments_key_len(&ws->segs, key_size);
        uint8_t *k = kbuf(ws, len);
        if (!k)
                return KS_ERR_NO_MEMORY;
        uint8_t seq[SEQ_LEN];
        if (ws->dups)
                ks__be32_put(seq, ws->seq++);
        ks__segments_encode(&ws->segs, k, key, key_size, window_start,
                            ws->dups ? seq : NULL);
        err = ks_kv_store_put(ws->kv, k, len, value, value_size);
        if (err || !value)
                return err;
        return ks__segments_advance(&ws->segs, window_start);
}

static ks_err_t iter_open(ks_window_store_t *ws, int reverse, const void *key,
                          size_t key_size, int64_t from, int64_t to,
                          ks_window_iter_t **iterp) {
        ks_window_iter_t *it = calloc(1, sizeof(*it));
        if (!it)
                return KS_ERR_NO_MEMORY;
        int live = ks__segments_clamp(&ws->segs, &from, &to);
        ks_err_t err = ks__seg_iter_init(&it->seg, &ws->segs, reverse, key,
                                         key_size, from, to, !live);
        if (err) {
                free(it);
                return err;
        }
        it->ws = ws;
        it->from = from;
        it->to = to;
        *iterp = it;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_window_store_fetch(ks_window_store_t *ws, const void *key,
                               size_t key_size, int64_t window_start,
                               const void **valuep, size_t *value_sizep) {
        ks_err_t err = check(ws, key, key_size);
        if (err)
                return err;
        if (!key)
                return KS_ERR_INVALID_ARG;
        if (ks__segments_expired(&ws->segs, window_start))
                return KS_ERR_NOT_FOUND;
        if (!ws->dups) {
                size_t len = ks__segments_key_len(&ws->segs, key_size);
                uint8_t *k = kbuf(ws, len);
                if (!k)
                        return KS_ERR_NO_MEMORY;
                ks__segments_encode(&ws->segs, k, key, key_size, window_start,
                                    NULL);
                return ks_kv_store_get(ws->kv, k, len, valuep, value_sizep);
        }
        /* The first duplicate, copied: its iterator goes at once. */
        ks_window_iter_t *it;
        if ((err = iter_open(ws, 0, key, key_size, window_start, window_start,
                             &it)))
                return err;
        const void *v;
        size_t vl;
        if (!ks_window_iter_next(it, NULL, NULL, NULL, &v, &vl)) {
                err = ks_window_iter_error(it);
                ks_window_iter_destroy(it);
                return err ? err : KS_ERR_NOT_FOUND;
        }
        if (vl + 1 > ws->vbuf_cap) {
                void *n = realloc(ws->vbuf, vl + 1);
                if (!n) {
                        ks_window_iter_destroy(it);
                        return KS_ERR_NO_MEMORY;
                }
                ws->vbuf = n;
                ws->vbuf_cap = vl + 1;
        }
        memcpy(ws->vbuf, v, vl);
        ks_window_iter_destroy(it);
        if (valuep)
                *valuep = ws->vbuf;
        if (value_sizep)
                *value_sizep = vl;
        return KS_ERR_NO_ERROR;
}

static ks_err_t fetch_range(ks_window_store_t *ws, int reverse, const void *key,
                            size_t key_size, int64_t from, int64_t to,
                            ks_window_iter_t **iterp) {
        ks_err_t err = check(ws, key, key_size);
        if (err)
                return err;
        if (!key || !iterp)
                return KS_ERR_INVALID_ARG;
        return iter_open(ws, reverse, key, key_size, from, to, iterp);
}

ks_err_t ks_window_store_fetch_range(ks_window_store_t *store, const void *key,
                                     size_t key_size, int64_t time_from,
                                     int64_t time_to,
                                     ks_window_iter_t **iterp) {
        return fetch_range(store, 0, key, key_size, time_from, time_to, iterp);
}

ks_err_t ks_window_store_backward_fetch_range(ks_window_store_t *store,
                                              const void *key, size_t key_size,
                                              int64_t time_from,
                                              int64_t time_to,
                                              ks_window_iter_t **iterp) {
        return fetch_range(store, 1, key, key_size, time_from, time_to, iterp);
}

ks_err_t ks_window_store_fetch_all_range(ks_window_store_t *ws,
                                         int64_t time_from, int64_t time_to,
                                         ks_window_iter_t **iterp) {
        static const char none[1];
        ks_err_t err = check(ws, none, 0);
        if (err)
                return err;
        if (!iterp)
                return KS_ERR_INVALID_ARG;
        return iter_open(ws, 0, NULL, 0, time_from, time_to, iterp);
}

ks_err_t ks_window_store_all(ks_window_store_t *ws, ks_window_iter_t **iterp) {
        return ks_window_store_fetch_all_range(ws, INT64_MIN, INT64_MAX, iterp);
}

int ks_window_iter_next(ks_window_iter_t *iter, const void **keyp,
                        size_t *key_sizep, int64_t *window_startp,
                        const void **valuep, size_t *value_sizep) {
        if (!iter)
                return 0;
        const void *k, *v, *key;
        size_t kl, vl, klen;
        int64_t start;
        while (ks__seg_iter_next(&iter->seg, &k, &kl, &v, &vl)) {
                if (!ks__segments_split(&iter->ws->segs, k, kl, &key, &klen,
                                        &start, NULL) ||
                    start < iter->from || start > iter->to)
                        continue;
                if (keyp)
                        *keyp = key;
                if (key_sizep)
                        *key_sizep = klen;
                if (window_startp)
                        *window_startp = start;
                if (valuep)
                        *valuep = v;
                if (value_sizep)
                        *value_sizep = vl;
                return 1;
        }
        return 0;
}

ks_err_t ks_window_iter_error(const ks_window_iter_t *iter) {
        return iter ? ks__seg_iter_error(&iter->seg) : KS_ERR_INVALID_ARG;
}

void ks_window_iter_destroy(ks_window_iter_t *iter) {
        if (!iter)
                return;
        ks__seg_iter_clear(&iter->seg);
        free(iter);
}
