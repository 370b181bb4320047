/* Window stores: (key, window start) -> value over a key-value store, which
 * the window store owns (it destroys the handle it is built on).
 *
 * Layout of a stored key: be32(key length) | key | be64(start ^ sign bit).
 * The length prefix keeps one key's windows contiguous even when another key
 * extends it ("ab" vs "abc"), so a fetch is one exact range scan; flipping
 * the sign bit makes negative starts sort before positive ones.
 *
 * Retention is enforced against observed stream time (the largest start ever
 * put). Reads skip expired windows; their storage is reclaimed by a sweep
 * each time the expiry horizon crosses a segment boundary (segments of
 * max(retention / 2, 60 s), Kafka Streams' default), so reclaiming costs one
 * pass per segment of stream time rather than one per put. Observed stream
 * time is recomputed from the stored windows on first use, which also covers
 * windows written by a changelog restore. Starts may be anywhere in int64:
 * the expiry horizon saturates (ks__ts_sub()) and segments are floored
 * divisions, so neither end of time overflows. */
#include "store_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define SIGN_BIT ((uint64_t)1 << 63)
#define TS_NONE  INT64_MIN

struct ks_window_store_s {
        ks_kv_store_t *kv; /* owned: the stored keys and values */
        int64_t retention_ms;
        int64_t window_size_ms;
        int64_t segment_ms;
        int64_t observed; /* TS_NONE until the first window */
        int observed_known;
        int64_t swept_segment; /* last segment swept */
        uint64_t expired_puts;
        uint8_t *kbuf; /* encoded key scratch */
        size_t kbuf_cap;
};

struct ks_window_iter_s {
        ks_kv_iter_t *kv;
        ks_window_store_t *ws;
        int64_t min_live;
};

static uint8_t *encode(ks_window_store_t *ws, const void *key, size_t klen,
                       int64_t start, size_t *lenp) {
        size_t need = 4 + klen + 8;
        if (need > ws->kbuf_cap) {
                uint8_t *n = realloc(ws->kbuf, need);
                if (!n)
                        return NULL;
                ws->kbuf = n;
                ws->kbuf_cap = need;
        }
        ks__be32_put(ws->kbuf, (uint32_t)klen);
        if (klen)
                memcpy(ws->kbuf + 4, key, klen);
        ks__be64_put(ws->kbuf + 4 + klen, (uint64_t)start ^ SIGN_BIT);
        *lenp = need;
        return ws->kbuf;
}

/* Split a stored key; 0 if it is not in the window layout. */
static int decode(const void *k, size_t kl, const void **keyp, size_t *klenp,
                  int64_t *startp) {
        const uint8_t *p = k;
        if (kl < 12)
                return 0;
        uint32_t klen = ks__be32_get(p);
        if ((size_t)klen != kl - 12)
                return 0;
        *keyp = p + 4;
        *klenp = klen;
        *startp = (int64_t)(ks__be64_get(p + 4 + klen) ^ SIGN_BIT);
        return 1;
}

/* The smallest live window start: windows at or before observed stream time
 * minus the retention have expired. Below INT64_MIN the subtraction
 * saturates to INT64_MIN (TS_NONE): nothing has expired yet. */
static int64_t min_live(const ks_window_store_t *ws) {
        if (ws->observed == TS_NONE)
                return TS_NONE;
        return ks__ts_sub(ws->observed, ws->retention_ms - 1);
}

static int64_t segment_of(const ks_window_store_t *ws, int64_t ts) {
        int64_t q = ts / ws->segment_ms;
        return (ts % ws->segment_ms < 0) ? q - 1 : q;
}

static ks_err_t learn_observed(ks_window_store_t *ws) {
        if (ws->observed_known)
                return KS_ERR_NO_ERROR;
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_all(ws->kv, &it);
        if (err)
                return err;
        const void *k, *key;
        size_t kl, klen;
        int64_t start;
        while (ks_kv_iter_next(it, &k, &kl, NULL, NULL))
                if (decode(k, kl, &key, &klen, &start) && start > ws->observed)
                        ws->observed = start;
        err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        if (err)
                return err;
        ws->observed_known = 1;
        int64_t ml = min_live(ws);
        ws->swept_segment = ml == TS_NONE ? INT64_MIN : segment_of(ws, ml) - 1;
        return KS_ERR_NO_ERROR;
}

/* Delete every expired window. Keys are collected first: deleting under an
 * open cursor is not something every backend promises to tolerate. */
static ks_err_t sweep(ks_window_store_t *ws, int64_t ml) {
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_all(ws->kv, &it);
        if (err)
                return err;
        uint8_t **keys = NULL;
        size_t *lens = NULL, cnt = 0, cap = 0;
        const void *k, *key;
        size_t kl, klen;
        int64_t start;
        while (!err && ks_kv_iter_next(it, &k, &kl, NULL, NULL)) {
                if (!decode(k, kl, &key, &klen, &start) || start >= ml)
                        continue;
                if (cnt == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        uint8_t **nk = realloc(keys, nc * sizeof(*nk));
                        if (nk)
                                keys = nk;
                        size_t *nl =
                                nk ? realloc(lens, nc * sizeof(*nl)) : NULL;
                        if (nl)
                                lens = nl;
                        if (!nk || !nl) {
                                err = KS_ERR_NO_MEMORY;
                                break;
                        }
                        cap = nc;
                }
                if (!(keys[cnt] = malloc(kl))) {
                        err = KS_ERR_NO_MEMORY;
                        break;
                }
                memcpy(keys[cnt], k, kl);
                lens[cnt++] = kl;
        }
        if (!err)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        for (size_t i = 0; i < cnt; i++) {
                if (!err)
                        err = ks_kv_store_delete(ws->kv, keys[i], lens[i], NULL,
                                                 NULL);
                free(keys[i]);
        }
        free(keys);
        free(lens);
        return err;
}

ks_window_store_t *ks__window_store_new(ks_kv_store_t *kv, int64_t retention_ms,
                                        int64_t window_size_ms) {
        /* The topology refuses others (retention >= window size > 0). */
        assert(retention_ms > 0 && window_size_ms > 0);
        ks_window_store_t *ws = calloc(1, sizeof(*ws));
        if (!ws) {
                ks__kv_store_destroy(kv);
                return NULL;
        }
        ws->kv = kv;
        ws->retention_ms = retention_ms;
        ws->window_size_ms = window_size_ms;
        ws->segment_ms = retention_ms / 2 > 60000 ? retention_ms / 2 : 60000;
        ws->observed = TS_NONE;
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
        free(ws);
}

uint64_t ks__window_store_expired_puts(const ks_window_store_t *ws) {
        return ws ? ws->expired_puts : 0;
}

const char *ks_window_store_name(const ks_window_store_t *store) {
        return store ? store->kv->name : NULL;
}

int64_t ks_window_store_retention_ms(const ks_window_store_t *store) {
        return store ? store->retention_ms : -1;
}

static ks_err_t check(ks_window_store_t *ws, const void *key, size_t klen) {
        if (!ws || (!key && klen) || klen > UINT32_MAX)
                return KS_ERR_INVALID_ARG;
        if (ws->kv->closed)
                return KS_ERR_STORE_CLOSED;
        return learn_observed(ws);
}

ks_err_t ks_window_store_put(ks_window_store_t *ws, const void *key,
                             size_t key_size, int64_t window_start,
                             const void *value, size_t value_size) {
        ks_err_t err = check(ws, key, key_size);
        if (err)
                return err;
        if (!key || (!value && value_size))
                return KS_ERR_INVALID_ARG;
        int64_t ml = min_live(ws);
        if (ml != TS_NONE && window_start < ml) {
                ws->expired_puts++;
                ks__log(ws->kv->conf, KS_LOG_WARNING, "STORE",
                        "window store \"%s\": dropping a put for the window "
                        "starting at %lld, expired (observed stream time "
                        "%lld, retention %lld ms)",
                        ws->kv->name, (long long)window_start,
                        (long long)ws->observed, (long long)ws->retention_ms);
                return KS_ERR_NO_ERROR;
        }
        size_t len;
        uint8_t *k = encode(ws, key, key_size, window_start, &len);
        if (!k)
                return KS_ERR_NO_MEMORY;
        err = ks_kv_store_put(ws->kv, k, len, value, value_size);
        if (err || !value || window_start <= ws->observed)
                return err;
        ws->observed = window_start;
        ml = min_live(ws);
        if (ml == TS_NONE)
                return KS_ERR_NO_ERROR;
        int64_t seg = segment_of(ws, ml);
        if (seg <= ws->swept_segment)
                return KS_ERR_NO_ERROR;
        ws->swept_segment = seg;
        return sweep(ws, ml);
}

ks_err_t ks_window_store_fetch(ks_window_store_t *ws, const void *key,
                               size_t key_size, int64_t window_start,
                               const void **valuep, size_t *value_sizep) {
        ks_err_t err = check(ws, key, key_size);
        if (err)
                return err;
        if (!key)
                return KS_ERR_INVALID_ARG;
        int64_t ml = min_live(ws);
        if (ml != TS_NONE && window_start < ml)
                return KS_ERR_NOT_FOUND;
        size_t len;
        uint8_t *k = encode(ws, key, key_size, window_start, &len);
        if (!k)
                return KS_ERR_NO_MEMORY;
        return ks_kv_store_get(ws->kv, k, len, valuep, value_sizep);
}

static ks_err_t iter_new(ks_window_store_t *ws, ks_window_iter_t **iterp) {
        ks_window_iter_t *it = calloc(1, sizeof(*it));
        if (!it)
                return KS_ERR_NO_MEMORY;
        it->ws = ws;
        it->min_live = min_live(ws);
        *iterp = it;
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
        ks_window_iter_t *it;
        if ((err = iter_new(ws, &it)))
                return err;
        size_t len;
        uint8_t *lo = encode(ws, key, key_size, from, &len);
        uint8_t *lo_copy = lo ? malloc(len) : NULL;
        if (lo_copy) {
                memcpy(lo_copy, lo, len);
                uint8_t *hi = encode(ws, key, key_size, to, &len);
                err = (reverse ? ks_kv_store_reverse_range : ks_kv_store_range)(
                        ws->kv, lo_copy, len, hi, len, &it->kv);
        } else {
                err = KS_ERR_NO_MEMORY;
        }
        free(lo_copy);
        if (err) {
                free(it);
                return err;
        }
        *iterp = it;
        return KS_ERR_NO_ERROR;
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

ks_err_t ks_window_store_all(ks_window_store_t *ws, ks_window_iter_t **iterp) {
        static const char none[1];
        ks_err_t err = check(ws, none, 0);
        if (err)
                return err;
        if (!iterp)
                return KS_ERR_INVALID_ARG;
        ks_window_iter_t *it;
        if ((err = iter_new(ws, &it)))
                return err;
        if ((err = ks_kv_store_all(ws->kv, &it->kv))) {
                free(it);
                return err;
        }
        *iterp = it;
        return KS_ERR_NO_ERROR;
}

int ks_window_iter_next(ks_window_iter_t *iter, const void **keyp,
                        size_t *key_sizep, int64_t *window_startp,
                        const void **valuep, size_t *value_sizep) {
        if (!iter)
                return 0;
        const void *k, *v, *key;
        size_t kl, vl, klen;
        int64_t start;
        while (ks_kv_iter_next(iter->kv, &k, &kl, &v, &vl)) {
                if (!decode(k, kl, &key, &klen, &start))
                        continue;
                if (iter->min_live != TS_NONE && start < iter->min_live)
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
        return iter ? ks_kv_iter_error(iter->kv) : KS_ERR_INVALID_ARG;
}

void ks_window_iter_destroy(ks_window_iter_t *iter) {
        if (!iter)
                return;
        ks_kv_iter_destroy(iter->kv);
        free(iter);
}
