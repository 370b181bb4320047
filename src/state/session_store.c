/* Session stores: (key, [start, end]) -> value over a key-value store, which
 * the session store owns (it destroys the handle it is built on), the state
 * of session-windowed aggregations [Kafka Streams' SessionStore].
 *
 * Layout of a stored key (segments_int.h, time = the session's end):
 * be64(segment ^ sign bit) | be32(key length) | key | be64(end ^ sign bit) |
 * be64(start ^ sign bit), segment = floor(end / segment_ms). One key's
 * sessions in a segment are contiguous and ordered by end, then start, so
 * findSessions(key, earliest end, latest start) is one range per live
 * segment from the earliest end on, the starts filtered.
 *
 * Retention applies to the end: observed stream time is the largest end
 * put (with a value), a session is expired when its end < observed -
 * retention + 1, puts and removes of expired sessions are dropped and
 * counted, and whole segments go with one range delete, as in window
 * stores. */
#include "segments_int.h"

#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define SIGN_BIT  ((uint64_t)1 << 63)
#define START_LEN 8

struct ks_session_store_s {
        ks__segments_t segs;
        ks_kv_store_t *kv; /* owned: the stored keys and values */
        uint64_t expired_puts;
        uint8_t *kbuf; /* encoded key scratch */
        size_t kbuf_cap;
};

struct ks_session_iter_s {
        ks__seg_iter_t seg;
        ks_session_store_t *ss;
        int64_t end_from, end_to; /* the ends yielded (live ones only) */
        int64_t latest_start;     /* the starts yielded are <= */
};

ks_session_store_t *ks__session_store_new(ks_kv_store_t *kv,
                                          int64_t retention_ms) {
        ks_session_store_t *ss = calloc(1, sizeof(*ss));
        if (!ss) {
                ks__kv_store_destroy(kv);
                return NULL;
        }
        ss->kv = kv;
        ks__segments_init(&ss->segs, kv, retention_ms, START_LEN);
        return ss;
}

ks_kv_store_t *ks__session_store_kv(ks_session_store_t *ss) {
        return ss->kv;
}

void ks__session_store_destroy(ks_session_store_t *ss) {
        if (!ss)
                return;
        ks__kv_store_destroy(ss->kv);
        free(ss->kbuf);
        free(ss);
}

uint64_t ks__session_store_expired_puts(const ks_session_store_t *ss) {
        return ss ? ss->expired_puts : 0;
}

int64_t ks__session_store_observed(ks_session_store_t *ss) {
        if (!ss || ks__segments_ready(&ss->segs))
                return KS__TS_NONE;
        return ss->segs.observed;
}

int64_t ks_session_store_observed_stream_time(ks_session_store_t *store) {
        return ks__session_store_observed(store);
}

const char *ks_session_store_name(const ks_session_store_t *store) {
        return store ? store->kv->name : NULL;
}

int64_t ks_session_store_retention_ms(const ks_session_store_t *store) {
        return store ? store->segs.retention_ms : -1;
}

static ks_err_t check(ks_session_store_t *ss, const void *key, size_t klen) {
        if (!ss || (!key && klen) || klen > UINT32_MAX)
                return KS_ERR_INVALID_ARG;
        return ks__segments_ready(&ss->segs);
}

/* The stored key of (key, [start, end]) in the scratch buffer. */
static uint8_t *encode(ks_session_store_t *ss, const void *key, size_t klen,
                       int64_t start, int64_t end, size_t *lenp) {
        size_t need = ks__segments_key_len(&ss->segs, klen);
        if (need > ss->kbuf_cap) {
                uint8_t *n = realloc(ss->kbuf, need);
                if (!n)
                        return NULL;
                ss->kbuf = n;
                ss->kbuf_cap = need;
        }
        uint8_t sfx[START_LEN];
        ks__be64_put(sfx, (uint64_t)start ^ SIGN_BIT);
        ks__segments_encode(&ss->segs, ss->kbuf, key, klen, end, sfx);
        *lenp = need;
        return ss->kbuf;
}

ks_err_t ks_session_store_put(ks_session_store_t *ss, const void *key,
                              size_t key_size, int64_t start, int64_t end,
                              const void *value, size_t value_size) {
        ks_err_t err = check(ss, key, key_size);
        if (err)
                return err;
        if (!key || (!value && value_size) || start > end)
                return KS_ERR_INVALID_ARG;
        if (ks__segments_expired(&ss->segs, end)) {
                ss->expired_puts++;
                ks__log(ss->kv->conf, KS_LOG_WARNING, "STORE",
                        "session store \"%s\": dropping a %s of the session "
                        "[%lld, %lld], expired (observed stream time %lld, "
                        "retention %lld ms)",
                        ss->kv->name, value ? "put" : "remove",
                        (long long)start, (long long)end,
                        (long long)ss->segs.observed,
                        (long long)ss->segs.retention_ms);
                return KS_ERR_NO_ERROR;
        }
        size_t len;
        uint8_t *k = encode(ss, key, key_size, start, end, &len);
        if (!k)
                return KS_ERR_NO_MEMORY;
        err = ks_kv_store_put(ss->kv, k, len, value, value_size);
        if (err || !value)
                return err;
        return ks__segments_advance(&ss->segs, end);
}

ks_err_t ks_session_store_remove(ks_session_store_t *ss, const void *key,
                                 size_t key_size, int64_t start, int64_t end) {
        return ks_session_store_put(ss, key, key_size, start, end, NULL, 0);
}

ks_err_t ks_session_store_fetch_session(ks_session_store_t *ss, const void *key,
                                        size_t key_size, int64_t start,
                                        int64_t end, const void **valuep,
                                        size_t *value_sizep) {
        ks_err_t err = check(ss, key, key_size);
        if (err)
                return err;
        if (!key || start > end)
                return KS_ERR_INVALID_ARG;
        if (ks__segments_expired(&ss->segs, end))
                return KS_ERR_NOT_FOUND;
        size_t len;
        uint8_t *k = encode(ss, key, key_size, start, end, &len);
        if (!k)
                return KS_ERR_NO_MEMORY;
        return ks_kv_store_get(ss->kv, k, len, valuep, value_sizep);
}

static ks_err_t iter_open(ks_session_store_t *ss, int reverse, const void *key,
                          size_t key_size, int64_t earliest_end,
                          int64_t latest_start, ks_session_iter_t **iterp) {
        if (!iterp)
                return KS_ERR_INVALID_ARG;
        ks_session_iter_t *it = calloc(1, sizeof(*it));
        if (!it)
                return KS_ERR_NO_MEMORY;
        /* No end below the earliest, none above observed stream time. */
        int64_t from = earliest_end, to = INT64_MAX;
        int live = ks__segments_clamp(&ss->segs, &from, &to);
        ks_err_t err = ks__seg_iter_init(&it->seg, &ss->segs, reverse, key,
                                         key_size, from, to, !live);
        if (err) {
                free(it);
                return err;
        }
        it->ss = ss;
        it->end_from = from;
        it->end_to = to;
        it->latest_start = latest_start;
        *iterp = it;
        return KS_ERR_NO_ERROR;
}

static ks_err_t find(ks_session_store_t *ss, int reverse, const void *key,
                     size_t key_size, int64_t earliest_end,
                     int64_t latest_start, ks_session_iter_t **iterp) {
        ks_err_t err = check(ss, key, key_size);
        if (err)
                return err;
        if (!key)
                return KS_ERR_INVALID_ARG;
        return iter_open(ss, reverse, key, key_size, earliest_end, latest_start,
                         iterp);
}

ks_err_t ks_session_store_find_sessions(ks_session_store_t *store,
                                        const void *key, size_t key_size,
                                        int64_t earliest_end,
                                        int64_t latest_start,
                                        ks_session_iter_t **iterp) {
        return find(store, 0, key, key_size, earliest_end, latest_start, iterp);
}

ks_err_t ks_session_store_backward_find_sessions(
        ks_session_store_t *store, const void *key, size_t key_size,
        int64_t earliest_end, int64_t latest_start, ks_session_iter_t **iterp) {
        return find(store, 1, key, key_size, earliest_end, latest_start, iterp);
}

ks_err_t ks_session_store_fetch(ks_session_store_t *store, const void *key,
                                size_t key_size, ks_session_iter_t **iterp) {
        return find(store, 0, key, key_size, INT64_MIN, INT64_MAX, iterp);
}

ks_err_t ks_session_store_all(ks_session_store_t *ss,
                              ks_session_iter_t **iterp) {
        static const char none[1];
        ks_err_t err = check(ss, none, 0);
        if (err)
                return err;
        return iter_open(ss, 0, NULL, 0, INT64_MIN, INT64_MAX, iterp);
}

int ks_session_iter_next(ks_session_iter_t *iter, const void **keyp,
                         size_t *key_sizep, int64_t *startp, int64_t *endp,
                         const void **valuep, size_t *value_sizep) {
        if (!iter)
                return 0;
        const void *k, *v, *key;
        size_t kl, vl, klen;
        int64_t end;
        const uint8_t *sfx;
        while (ks__seg_iter_next(&iter->seg, &k, &kl, &v, &vl)) {
                if (!ks__segments_split(&iter->ss->segs, k, kl, &key, &klen,
                                        &end, &sfx) ||
                    end < iter->end_from || end > iter->end_to)
                        continue;
                int64_t start = (int64_t)(ks__be64_get(sfx) ^ SIGN_BIT);
                /* A session ending before it starts is no session (a
                 * crafted changelog record): passed over. */
                if (start > iter->latest_start || start > end)
                        continue;
                if (keyp)
                        *keyp = key;
                if (key_sizep)
                        *key_sizep = klen;
                if (startp)
                        *startp = start;
                if (endp)
                        *endp = end;
                if (valuep)
                        *valuep = v;
                if (value_sizep)
                        *value_sizep = vl;
                return 1;
        }
        return 0;
}

ks_err_t ks_session_iter_error(const ks_session_iter_t *iter) {
        return iter ? ks__seg_iter_error(&iter->seg) : KS_ERR_INVALID_ARG;
}

void ks_session_iter_destroy(ks_session_iter_t *iter) {
        if (!iter)
                return;
        ks__seg_iter_clear(&iter->seg);
        free(iter);
}
