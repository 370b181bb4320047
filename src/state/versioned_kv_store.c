/* Versioned key-value stores: key -> the versions of its value, each valid
 * from its timestamp until the next version's, over a key-value store which
 * the versioned store owns (Kafka Streams' VersionedKeyValueStore,
 * KIP-889).
 *
 * Layout of the key-value handle, a type byte first:
 *   0x00                                           -> be64 observed time
 *   0x01 | be32 key length | key | be64(ts ^ sign) -> u8 flags | value
 * One entry per version. Flag bit 0 marks a tombstone (a delete at that
 * timestamp; no value bytes follow); no other bit is defined. The versions
 * of a key are contiguous and ordered by timestamp (the sign bit flipped,
 * so negative timestamps sort first): the version as of a time is one
 * reverse seek, its successor one forward seek. The change log carries
 * these entries as they are (a restore is a plain copy); a dropped version
 * is a tombstone of its own key, so a compacted changelog keeps every live
 * version.
 *
 * Observed stream time, the largest timestamp stored, is the 0x00 entry,
 * written (and logged) by every put that moves it, so a restore brings it
 * back with the versions. The store reads it on first use, after any
 * restore.
 *
 * History: with horizon = observed stream time - history retention, a read
 * as of a time before the horizon finds nothing, and a put before it is
 * not stored (Kafka Streams' PUT_RETURN_CODE_NOT_PUT). A version whose
 * successor is at or before the horizon can never be read again, nor can
 * a tombstone at or before it once its predecessors are gone (reading
 * nothing and reading a tombstone are the same answer). A put drops those
 * versions of its own key; the versions of a key that is not written again
 * stay, never read, until it is.
 *
 * Work per call: a dropped version is a delete, which RocksDB keeps (and
 * its iterators walk over) until a compaction, at the low end of its
 * key's versions. So no call looks below what it knows to be its key's
 * oldest live version: a small table (FLOOR_SLOTS slots by key hash, keys
 * of up to FLOOR_KEY_MAX bytes) remembers for recently written keys a
 * floor, a timestamp no live version is older than (the version a put
 * kept at the horizon, or the horizon itself). A put only ever stores at
 * or after the horizon, which never goes back, so a floor stays true;
 * puts scan from it, reads do not seek below it. Without one, a key's
 * first put scans from the start of its versions once. Observed stream
 * time bounds every stored timestamp, so a put after it needs no look for
 * a later version. A put thus walks the versions it keeps or drops, a
 * read one version each way.
 *
 * Invariant: everything read back is checked (another client may write the
 * changelog): an entry whose key or value does not fit the layout is a
 * KS_ERR_STORE naming the store, logged, and never read past its end. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "kstreams/serde.h"

#include "../common/config_int.h"
#include "../common/util_int.h"

#define META_MARK     0x00
#define VERSION_MARK  0x01
#define SIGN_BIT      ((uint64_t)1 << 63)
#define F_TOMBSTONE   0x01
#define PREFIX_HEAD   5 /* type byte and key length */
#define TS_LEN        8
#define TS_NONE       INT64_MIN /* nothing observed */
#define FLOOR_SLOTS   4096
#define FLOOR_KEY_MAX 256
/* Scratch kept between calls; larger buffers go once a call needs less. */
#define SCRATCH_KEEP ((size_t)64 * 1024)

/* A floor of a recently written key (see above). */
typedef struct {
        uint8_t *key; /* NULL: an empty slot */
        size_t klen;
        int64_t ts;
} floor_t;

struct ks_versioned_kv_store_s {
        ks_kv_store_t *kv; /* owned: the entries */
        int64_t history_ms;
        int64_t observed; /* TS_NONE: nothing stored */
        int known;        /* observed read from the store */
        uint64_t expired_puts;
        ks_buf_t *lo, *hi; /* keys: range bounds, or a version's key */
        void *val;         /* a version's stored value, being written */
        size_t val_cap;
        int64_t *drops; /* versions a put drops */
        size_t drop_cap;
        void *out; /* a value handed out */
        size_t out_cap;
        floor_t *floors; /* FLOOR_SLOTS, made on first use */
};

/* One version as read back. */
typedef struct {
        int64_t ts;
        int tombstone;
        const void *value; /* borrowed from an iterator, then from `out` */
        size_t len;
} version_t;

ks_versioned_kv_store_t *ks__versioned_kv_store_new(ks_kv_store_t *kv,
                                                    int64_t history_ms) {
        ks_versioned_kv_store_t *vs = calloc(1, sizeof(*vs));
        if (vs && (!(vs->lo = ks_buf_new()) || !(vs->hi = ks_buf_new()))) {
                ks_buf_destroy(vs->lo);
                ks_buf_destroy(vs->hi);
                free(vs);
                vs = NULL;
        }
        if (!vs) {
                ks__kv_store_destroy(kv);
                return NULL;
        }
        vs->kv = kv;
        vs->history_ms = history_ms;
        vs->observed = TS_NONE;
        return vs;
}

ks_kv_store_t *ks__versioned_kv_store_kv(ks_versioned_kv_store_t *vs) {
        return vs->kv;
}

void ks__versioned_kv_store_destroy(ks_versioned_kv_store_t *vs) {
        if (!vs)
                return;
        ks__kv_store_destroy(vs->kv);
        ks_buf_destroy(vs->lo);
        ks_buf_destroy(vs->hi);
        free(vs->val);
        free(vs->drops);
        free(vs->out);
        for (size_t i = 0; vs->floors && i < FLOOR_SLOTS; i++)
                free(vs->floors[i].key);
        free(vs->floors);
        free(vs);
}

size_t ks__versioned_kv_store_scratch_bytes(const ks_versioned_kv_store_t *vs) {
        return vs ? vs->val_cap + vs->out_cap +
                               vs->drop_cap * sizeof(*vs->drops) +
                               ks_buf_len(vs->lo) + ks_buf_len(vs->hi)
                  : 0;
}

uint64_t
ks__versioned_kv_store_expired_puts(const ks_versioned_kv_store_t *vs) {
        return vs ? vs->expired_puts : 0;
}

const char *ks_versioned_kv_store_name(const ks_versioned_kv_store_t *store) {
        return store ? store->kv->name : NULL;
}

int64_t ks_versioned_kv_store_history_retention_ms(
        const ks_versioned_kv_store_t *store) {
        return store ? store->history_ms : -1;
}

/* --- layout -------------------------------------------------------------- */

/* @p out = 0x01 | be32 klen | key | be64(ts ^ sign). */
static ks_err_t version_key(ks_buf_t *out, const void *key, size_t klen,
                            int64_t ts) {
        uint8_t head[PREFIX_HEAD], t[TS_LEN];
        head[0] = VERSION_MARK;
        ks__be32_put(head + 1, (uint32_t)klen);
        ks__be64_put(t, (uint64_t)ts ^ SIGN_BIT);
        ks_buf_reset(out);
        ks_err_t err = ks_buf_append(out, head, sizeof(head));
        if (!err && klen)
                err = ks_buf_append(out, key, klen);
        return err ? err : ks_buf_append(out, t, sizeof(t));
}

static ks_err_t bad(const ks_versioned_kv_store_t *vs, const char *what,
                    size_t len) {
        ks__log(vs->kv->conf, KS_LOG_ERR, "STORE",
                "versioned key-value store \"%s\": %s (%zu bytes)",
                vs->kv->name, what, len);
        return KS_ERR_STORE;
}

/* Read the version entry (@p k, @p v) of a key whose prefix is @p plen
 * bytes into @p out; KS_ERR_STORE if it does not fit the layout. */
static ks_err_t split(const ks_versioned_kv_store_t *vs, const void *k,
                      size_t kl, const void *v, size_t vl, size_t plen,
                      version_t *out) {
        if (kl != plen + TS_LEN)
                return bad(vs, "a version key of the wrong length", kl);
        const uint8_t *vb = v;
        if (!vb || vl < 1 || (vb[0] & ~F_TOMBSTONE))
                return bad(vs, "a version value without valid flags", vl);
        out->tombstone = vb[0] & F_TOMBSTONE;
        if (out->tombstone && vl != 1)
                return bad(vs, "a tombstone with a value", vl);
        out->ts = (int64_t)(ks__be64_get((const uint8_t *)k + plen) ^ SIGN_BIT);
        out->value = vb + 1;
        out->len = vl - 1;
        return KS_ERR_NO_ERROR;
}

/* Read observed stream time from the store, once. */
static ks_err_t learn(ks_versioned_kv_store_t *vs) {
        if (vs->known)
                return KS_ERR_NO_ERROR;
        static const uint8_t meta[1] = {META_MARK};
        const void *v;
        size_t vl;
        ks_err_t err = ks_kv_store_get(vs->kv, meta, 1, &v, &vl);
        if (err == KS_ERR_NOT_FOUND) {
                vs->observed = TS_NONE;
        } else if (err) {
                return err;
        } else if (vl != 8) {
                return bad(vs,
                           "an observed stream time entry of the wrong "
                           "length",
                           vl);
        } else {
                vs->observed = (int64_t)ks__be64_get(v);
        }
        vs->known = 1;
        return KS_ERR_NO_ERROR;
}

/* The oldest time a read may ask for. */
static int64_t horizon_of(int64_t observed, int64_t history_ms) {
        return observed == TS_NONE ? INT64_MIN
                                   : ks__ts_sub(observed, history_ms);
}

static ks_err_t check(ks_versioned_kv_store_t *vs, const void *key,
                      size_t klen) {
        if (!vs || !key || klen > UINT32_MAX)
                return KS_ERR_INVALID_ARG;
        return learn(vs);
}

/* Make *@p bufp (of *@p capp bytes) hold @p need bytes: grown as needed,
 * and let go of when it is over SCRATCH_KEEP and @p need is not. */
static int scratch(void **bufp, size_t *capp, size_t need) {
        if (need <= *capp && (*capp <= SCRATCH_KEEP || need > SCRATCH_KEEP))
                return 1;
        size_t cap = need < 64 ? 64 : need;
        void *n = *capp > cap ? malloc(cap) : realloc(*bufp, cap);
        if (!n)
                return 0;
        if (*capp > cap)
                free(*bufp);
        *bufp = n;
        *capp = cap;
        return 1;
}

/* Keep @p len bytes of @p p in vs->out (a value handed out). */
static const void *keep(ks_versioned_kv_store_t *vs, const void *p,
                        size_t len) {
        if (!scratch(&vs->out, &vs->out_cap, len + 1))
                return NULL;
        if (len)
                memcpy(vs->out, p, len);
        return vs->out;
}

/* --- floors -------------------------------------------------------------- */

static floor_t *floor_slot(ks_versioned_kv_store_t *vs, const void *key,
                           size_t klen) {
        if (klen > FLOOR_KEY_MAX)
                return NULL;
        if (!vs->floors &&
            !(vs->floors = calloc(FLOOR_SLOTS, sizeof(*vs->floors))))
                return NULL;
        return &vs->floors[ks__fnv1a32(key, klen) % FLOOR_SLOTS];
}

/* A timestamp no live version of @p key is older than (INT64_MIN: none
 * known). */
static int64_t floor_of(ks_versioned_kv_store_t *vs, const void *key,
                        size_t klen) {
        const floor_t *f = floor_slot(vs, key, klen);
        return f && f->key && f->klen == klen && !memcmp(f->key, key, klen)
                       ? f->ts
                       : INT64_MIN;
}

/* No live version of @p key is older than @p ts. */
static void floor_set(ks_versioned_kv_store_t *vs, const void *key, size_t klen,
                      int64_t ts) {
        floor_t *f = floor_slot(vs, key, klen);
        if (!f)
                return;
        if (!f->key || f->klen != klen || memcmp(f->key, key, klen)) {
                uint8_t *k = realloc(f->key, klen ? klen : 1);
                if (!k)
                        return; /* forgotten: the key scans from the start */
                memcpy(k, key, klen);
                f->key = k;
                f->klen = klen;
        }
        f->ts = ts;
}

/* The first version of @p key with a timestamp in [@p from, @p to], the
 * latest with @p reverse: *foundp, and its value kept in vs->out when
 * @p want_value. */
static ks_err_t first_in(ks_versioned_kv_store_t *vs, const void *key,
                         size_t klen, int64_t from, int64_t to, int reverse,
                         int want_value, version_t *out, int *foundp) {
        *foundp = 0;
        ks_err_t err = version_key(vs->lo, key, klen, from);
        if (!err)
                err = version_key(vs->hi, key, klen, to);
        if (err)
                return err;
        ks_kv_iter_t *it;
        err = ks__kv_store_range_limit(vs->kv, reverse, ks_buf_data(vs->lo),
                                       ks_buf_len(vs->lo), ks_buf_data(vs->hi),
                                       ks_buf_len(vs->hi), 1, &it);
        if (err)
                return err;
        const void *k, *v;
        size_t kl, vl;
        if (ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                err = split(vs, k, kl, v, vl, PREFIX_HEAD + klen, out);
                if (!err && want_value &&
                    !(out->value = keep(vs, out->value, out->len)))
                        err = KS_ERR_NO_MEMORY;
                *foundp = !err;
        } else {
                err = ks_kv_iter_error(it);
        }
        ks_kv_iter_destroy(it);
        return err;
}

/* --- reads --------------------------------------------------------------- */

static void none(const void **valuep, size_t *value_sizep) {
        if (valuep)
                *valuep = NULL;
        if (value_sizep)
                *value_sizep = 0;
}

ks_err_t ks_versioned_kv_store_get(ks_versioned_kv_store_t *store,
                                   const void *key, size_t key_size,
                                   const void **valuep, size_t *value_sizep,
                                   int64_t *timestampp) {
        none(valuep, value_sizep);
        ks_err_t err = check(store, key, key_size);
        if (err)
                return err;
        version_t ver;
        int found;
        if ((err = first_in(store, key, key_size,
                            floor_of(store, key, key_size), INT64_MAX, 1, 1,
                            &ver, &found)))
                return err;
        if (!found || ver.tombstone)
                return KS_ERR_NOT_FOUND;
        if (valuep)
                *valuep = ver.value;
        if (value_sizep)
                *value_sizep = ver.len;
        if (timestampp)
                *timestampp = ver.ts;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_versioned_kv_store_get_as_of(ks_versioned_kv_store_t *store,
                                         const void *key, size_t key_size,
                                         int64_t as_of, const void **valuep,
                                         size_t *value_sizep,
                                         int64_t *valid_fromp,
                                         int64_t *valid_top) {
        none(valuep, value_sizep);
        ks_err_t err = check(store, key, key_size);
        if (err)
                return err;
        if (as_of < horizon_of(store->observed, store->history_ms))
                return KS_ERR_NOT_FOUND; /* beyond the history */
        int64_t oldest = floor_of(store, key, key_size);
        if (as_of < oldest)
                return KS_ERR_NOT_FOUND; /* no version that old */
        version_t ver, next;
        int found, more = 0;
        if ((err = first_in(store, key, key_size, oldest, as_of, 1, 1, &ver,
                            &found)))
                return err;
        if (!found || ver.tombstone)
                return KS_ERR_NOT_FOUND;
        /* Its successor, if any, ends it (the value stays in vs->out). */
        if (ver.ts < INT64_MAX &&
            (err = first_in(store, key, key_size, ver.ts + 1, INT64_MAX, 0, 0,
                            &next, &more)))
                return err;
        if (valuep)
                *valuep = ver.value;
        if (value_sizep)
                *value_sizep = ver.len;
        if (valid_fromp)
                *valid_fromp = ver.ts;
        if (valid_top)
                *valid_top = more ? next.ts : INT64_MAX;
        return KS_ERR_NO_ERROR;
}

int64_t
ks_versioned_kv_store_observed_stream_time(ks_versioned_kv_store_t *store) {
        if (!store || learn(store))
                return INT64_MIN;
        return store->observed;
}

/* --- writes -------------------------------------------------------------- */

static ks_err_t drop_add(ks_versioned_kv_store_t *vs, size_t n, int64_t ts) {
        if (n == vs->drop_cap) {
                size_t cap = vs->drop_cap ? 2 * vs->drop_cap : 16;
                int64_t *d = realloc(vs->drops, cap * sizeof(*d));
                if (!d)
                        return KS_ERR_NO_MEMORY;
                vs->drops = d;
                vs->drop_cap = cap;
        }
        vs->drops[n] = ts;
        return KS_ERR_NO_ERROR;
}

/* The versions of @p key in [@p from, @p bound] into vs->drops (*cntp of
 * them, oldest first); *last_tombp: whether the last is a tombstone. */
static ks_err_t collect(ks_versioned_kv_store_t *vs, const void *key,
                        size_t klen, int64_t from, int64_t bound, size_t *cntp,
                        int *last_tombp) {
        *cntp = 0;
        *last_tombp = 0;
        /* Many versions collected once: their room goes with this put. */
        if (vs->drop_cap * sizeof(*vs->drops) > SCRATCH_KEEP) {
                free(vs->drops);
                vs->drops = NULL;
                vs->drop_cap = 0;
        }
        ks_err_t err = version_key(vs->lo, key, klen, from);
        if (!err)
                err = version_key(vs->hi, key, klen, bound);
        if (err)
                return err;
        ks_kv_iter_t *it;
        if ((err = ks_kv_store_range(vs->kv, ks_buf_data(vs->lo),
                                     ks_buf_len(vs->lo), ks_buf_data(vs->hi),
                                     ks_buf_len(vs->hi), &it)))
                return err;
        const void *k, *v;
        size_t kl, vl;
        version_t ver;
        while (!err && ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                if (!(err = split(vs, k, kl, v, vl, PREFIX_HEAD + klen,
                                  &ver)) &&
                    !(err = drop_add(vs, *cntp, ver.ts))) {
                        (*cntp)++;
                        *last_tombp = ver.tombstone;
                }
        }
        if (!err)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        return err;
}

/* Delete the version of @p key at @p ts. */
static ks_err_t drop(ks_versioned_kv_store_t *vs, const void *key, size_t klen,
                     int64_t ts) {
        ks_err_t err = version_key(vs->lo, key, klen, ts);
        if (!err)
                err = ks_kv_store_delete(vs->kv, ks_buf_data(vs->lo),
                                         ks_buf_len(vs->lo), NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

ks_err_t ks_versioned_kv_store_put(ks_versioned_kv_store_t *store,
                                   const void *key, size_t key_size,
                                   const void *value, size_t value_size,
                                   int64_t timestamp, int *storedp) {
        ks_versioned_kv_store_t *vs = store;
        if (storedp)
                *storedp = KS_VERSIONED_NOT_PUT;
        if (!value && value_size)
                return KS_ERR_INVALID_ARG;
        ks_err_t err = check(vs, key, key_size);
        if (err)
                return err;
        int64_t ts = timestamp;
        if (ts < horizon_of(vs->observed, vs->history_ms)) {
                vs->expired_puts++;
                ks__log(vs->kv->conf, KS_LOG_DEBUG, "STORE",
                        "versioned key-value store \"%s\": not storing a "
                        "version at %lld, before the history (observed "
                        "stream time %lld, history retention %lld ms)",
                        vs->kv->name, (long long)ts, (long long)vs->observed,
                        (long long)vs->history_ms);
                return KS_ERR_NO_ERROR;
        }
        int64_t observed = vs->observed == TS_NONE || ts > vs->observed
                                   ? ts
                                   : vs->observed;
        int64_t horizon = horizon_of(observed, vs->history_ms);
        /* Everything is read before anything is written: a malformed entry
         * leaves the key as it was. The versions to keep or drop are
         * those from the key's floor to the horizon (ts is not before
         * either); no version is after observed stream time. */
        size_t cnt;
        int last_tomb, later = 0;
        version_t next;
        if ((err = collect(vs, key, key_size, floor_of(vs, key, key_size),
                           horizon, &cnt, &last_tomb)))
                return err;
        if (ts < INT64_MAX && (vs->observed == TS_NONE || ts <= vs->observed) &&
            (err = first_in(vs, key, key_size, ts + 1, INT64_MAX, 0, 0, &next,
                            &later)))
                return err;
        /* The version readable at the horizon is the last at or before it:
         * the new one (ts == horizon) or the last collected; those before
         * it go, and so does it if it is a tombstone. */
        int write = 1;
        size_t ndrop = cnt ? cnt - 1 : 0;
        if (ts <= horizon) {
                ndrop = 0;
                while (ndrop < cnt && vs->drops[ndrop] < ts)
                        ndrop++;
                write = value != NULL;
        } else if (cnt && last_tomb) {
                ndrop = cnt;
        }
        /* What stays at or before the horizon: the new version at it, or
         * the last collected unless it goes too. */
        int64_t oldest = ts <= horizon ? ts
                         : cnt > ndrop ? vs->drops[cnt - 1]
                                       : horizon;
        /* The stored value, flags first. */
        if (write && (value_size == SIZE_MAX ||
                      !scratch(&vs->val, &vs->val_cap, value_size + 1)))
                return KS_ERR_NO_MEMORY;
        for (size_t i = 0; i < ndrop && !err; i++)
                err = drop(vs, key, key_size, vs->drops[i]);
        if (!err)
                err = version_key(vs->hi, key, key_size, ts);
        if (!err && write) {
                uint8_t *b = vs->val;
                b[0] = value ? 0 : F_TOMBSTONE;
                if (value_size)
                        memcpy(b + 1, value, value_size);
                err = ks_kv_store_put(vs->kv, ks_buf_data(vs->hi),
                                      ks_buf_len(vs->hi), b, value_size + 1);
        } else if (!err) {
                /* A tombstone nothing can read replaces nothing. */
                err = ks_kv_store_delete(vs->kv, ks_buf_data(vs->hi),
                                         ks_buf_len(vs->hi), NULL, NULL);
                if (err == KS_ERR_NOT_FOUND)
                        err = KS_ERR_NO_ERROR;
        }
        if (!err && observed != vs->observed) {
                static const uint8_t meta[1] = {META_MARK};
                uint8_t b[8];
                ks__be64_put(b, (uint64_t)observed);
                if (!(err = ks_kv_store_put(vs->kv, meta, 1, b, sizeof(b))))
                        vs->observed = observed;
        }
        if (!err)
                floor_set(vs, key, key_size, oldest);
        if (!err && storedp)
                *storedp = later ? KS_VERSIONED_PUT_HISTORY
                                 : KS_VERSIONED_PUT_LATEST;
        return err;
}

ks_err_t ks_versioned_kv_store_delete(ks_versioned_kv_store_t *store,
                                      const void *key, size_t key_size,
                                      int64_t timestamp, const void **oldp,
                                      size_t *old_sizep,
                                      int64_t *old_timestampp) {
        none(oldp, old_sizep);
        if (old_timestampp)
                *old_timestampp = -1;
        const void *v;
        size_t vl;
        int64_t from;
        /* What was valid at @p timestamp goes out (kept in vs->out, which
         * the put does not touch). */
        ks_err_t err = ks_versioned_kv_store_get_as_of(
                store, key, key_size, timestamp, &v, &vl, &from, NULL);
        if (err && err != KS_ERR_NOT_FOUND)
                return err;
        int found = !err, stored;
        if ((err = ks_versioned_kv_store_put(store, key, key_size, NULL, 0,
                                             timestamp, &stored)))
                return err;
        if (!found || stored == KS_VERSIONED_NOT_PUT)
                return KS_ERR_NO_ERROR;
        if (oldp)
                *oldp = v;
        if (old_sizep)
                *old_sizep = vl;
        if (old_timestampp)
                *old_timestampp = from;
        return KS_ERR_NO_ERROR;
}
