/* Timestamped key-value stores: key -> (timestamp, value) over a key-value
 * store, which the timestamped store owns (it destroys the handle it is
 * built on), as Kafka Streams' TimestampedKeyValueStore.
 *
 * Layout of a stored value: be64 timestamp | value (ValueAndTimestamp's
 * serialization); keys are the user's keys, unchanged, so ranges, prefix
 * scans and counts are those of the key-value handle. The change log
 * carries the stored values, so a restore copies them as they are; only a
 * table restored from its source topic gets a restore hook that puts each
 * record's timestamp in front of its value.
 *
 * Invariant: every value this layer hands out was checked to hold its
 * 8-byte timestamp; a shorter stored value (written by something else) is
 * a KS_ERR_STORE naming the store, never read past its end. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "kstreams/serde.h"

#include "../common/config_int.h"
#include "../common/util_int.h"

struct ks_timestamped_kv_store_s {
        ks_kv_store_t *kv; /* owned: the stored values */
        ks_buf_t *buf;     /* a stored value being written */
        void *old;         /* an old value kept across its delete */
        size_t old_cap;
};

struct ks_timestamped_kv_iter_s {
        ks_kv_iter_t *it;
        ks_timestamped_kv_store_t *ts;
        ks_err_t err; /* a short stored value met; else the iterator's */
};

ks_err_t ks__ts_value_append(ks_buf_t *out, int64_t ts, const void *value,
                             size_t vlen) {
        uint8_t b[KS__TS_VALUE_HEAD];
        ks__be64_put(b, (uint64_t)ts);
        ks_err_t err = ks_buf_append(out, b, sizeof(b));
        return err || !vlen ? err : ks_buf_append(out, value, vlen);
}

ks_timestamped_kv_store_t *ks__timestamped_kv_store_new(ks_kv_store_t *kv) {
        ks_timestamped_kv_store_t *ts = calloc(1, sizeof(*ts));
        if (ts && !(ts->buf = ks_buf_new())) {
                free(ts);
                ts = NULL;
        }
        if (!ts) {
                ks__kv_store_destroy(kv);
                return NULL;
        }
        ts->kv = kv;
        return ts;
}

ks_kv_store_t *ks__timestamped_kv_store_kv(ks_timestamped_kv_store_t *ts) {
        return ts->kv;
}

void ks__timestamped_kv_store_destroy(ks_timestamped_kv_store_t *ts) {
        if (!ts)
                return;
        ks__kv_store_destroy(ts->kv);
        ks_buf_destroy(ts->buf);
        free(ts->old);
        free(ts);
}

/* The restore hook of a table restored from its source topic: the
 * record's value behind the record's timestamp. */
static ks_err_t restore_value(void *opaque, const void *value, size_t vlen,
                              int64_t timestamp, const void **outp,
                              size_t *outlenp) {
        ks_timestamped_kv_store_t *ts = opaque;
        ks_buf_reset(ts->buf);
        ks_err_t err = ks__ts_value_append(ts->buf, timestamp, value, vlen);
        if (err)
                return err;
        *outp = ks_buf_data(ts->buf);
        *outlenp = ks_buf_len(ts->buf);
        return KS_ERR_NO_ERROR;
}

void ks__timestamped_kv_store_restore_from_source(
        ks_timestamped_kv_store_t *ts) {
        ts->kv->restore_value = restore_value;
        ts->kv->restore_opaque = ts;
}

const char *
ks_timestamped_kv_store_name(const ks_timestamped_kv_store_t *store) {
        return store ? store->kv->name : NULL;
}

/* Split stored value @p v of @p ts into the outputs (each may be NULL);
 * KS_ERR_STORE, logged, if it is too short. */
static ks_err_t split(const ks_timestamped_kv_store_t *ts, const void *v,
                      size_t vl, const void **valuep, size_t *value_sizep,
                      int64_t *timestampp) {
        int64_t t;
        const void *val;
        size_t len;
        if (!ks__ts_value_split(v, vl, &t, &val, &len)) {
                ks__log(ts->kv->conf, KS_LOG_ERR, "STORE",
                        "timestamped key-value store \"%s\": a stored value "
                        "of %zu bytes is shorter than its %d-byte timestamp",
                        ts->kv->name, vl, KS__TS_VALUE_HEAD);
                return KS_ERR_STORE;
        }
        if (valuep)
                *valuep = val;
        if (value_sizep)
                *value_sizep = len;
        if (timestampp)
                *timestampp = t;
        return KS_ERR_NO_ERROR;
}

/* The outputs of "no old value". */
static void no_old(const void **oldp, size_t *old_sizep,
                   int64_t *old_timestampp) {
        if (oldp)
                *oldp = NULL;
        if (old_sizep)
                *old_sizep = 0;
        if (old_timestampp)
                *old_timestampp = -1;
}

ks_err_t ks_timestamped_kv_store_get(ks_timestamped_kv_store_t *store,
                                     const void *key, size_t key_size,
                                     const void **valuep, size_t *value_sizep,
                                     int64_t *timestampp) {
        if (!store)
                return KS_ERR_INVALID_ARG;
        const void *v;
        size_t vl;
        ks_err_t err = ks_kv_store_get(store->kv, key, key_size, &v, &vl);
        if (err)
                return err;
        return split(store, v, vl, valuep, value_sizep, timestampp);
}

/* The stored value of (@p timestamp, @p value) in store->buf. */
static ks_err_t encode(ks_timestamped_kv_store_t *store, const void *value,
                       size_t value_size, int64_t timestamp) {
        ks_buf_reset(store->buf);
        return ks__ts_value_append(store->buf, timestamp, value, value_size);
}

ks_err_t ks_timestamped_kv_store_put(ks_timestamped_kv_store_t *store,
                                     const void *key, size_t key_size,
                                     const void *value, size_t value_size,
                                     int64_t timestamp) {
        if (!store)
                return KS_ERR_INVALID_ARG;
        if (!value) /* a delete; refused with a size */
                return ks_kv_store_put(store->kv, key, key_size, NULL,
                                       value_size);
        ks_err_t err = encode(store, value, value_size, timestamp);
        if (err)
                return err;
        return ks_kv_store_put(store->kv, key, key_size,
                               ks_buf_data(store->buf), ks_buf_len(store->buf));
}

ks_err_t ks_timestamped_kv_store_put_if_absent(
        ks_timestamped_kv_store_t *store, const void *key, size_t key_size,
        const void *value, size_t value_size, int64_t timestamp,
        const void **oldp, size_t *old_sizep, int64_t *old_timestampp) {
        if (!store || (!value && value_size))
                return KS_ERR_INVALID_ARG;
        ks_err_t err = value ? encode(store, value, value_size, timestamp)
                             : KS_ERR_NO_ERROR;
        if (err)
                return err;
        const void *old;
        size_t oldlen;
        err = ks_kv_store_put_if_absent(store->kv, key, key_size,
                                        value ? ks_buf_data(store->buf) : NULL,
                                        value ? ks_buf_len(store->buf) : 0,
                                        &old, &oldlen);
        if (err)
                return err;
        if (!old) {
                no_old(oldp, old_sizep, old_timestampp);
                return KS_ERR_NO_ERROR;
        }
        return split(store, old, oldlen, oldp, old_sizep, old_timestampp);
}

ks_err_t ks_timestamped_kv_store_delete(ks_timestamped_kv_store_t *store,
                                        const void *key, size_t key_size,
                                        const void **oldp, size_t *old_sizep,
                                        int64_t *old_timestampp) {
        if (!store)
                return KS_ERR_INVALID_ARG;
        if (!oldp && !old_sizep && !old_timestampp)
                return ks_kv_store_delete(store->kv, key, key_size, NULL, NULL);
        /* The old value is checked before the key goes, and kept (the
         * delete may reuse the memory a read handed out). */
        const void *v, *val = NULL;
        size_t vl, len = 0;
        int64_t t = -1;
        ks_err_t err = ks_kv_store_get(store->kv, key, key_size, &v, &vl);
        if (err && err != KS_ERR_NOT_FOUND)
                return err;
        int had = !err;
        if (had && (err = split(store, v, vl, &val, &len, &t)))
                return err;
        if (had && len + 1 > store->old_cap) {
                void *n = realloc(store->old, len + 1);
                if (!n)
                        return KS_ERR_NO_MEMORY;
                store->old = n;
                store->old_cap = len + 1;
        }
        if (had && len)
                memcpy(store->old, val, len);
        if ((err = ks_kv_store_delete(store->kv, key, key_size, NULL, NULL)))
                return err;
        if (!had) {
                no_old(oldp, old_sizep, old_timestampp);
                return KS_ERR_NO_ERROR;
        }
        if (oldp)
                *oldp = store->old;
        if (old_sizep)
                *old_sizep = len;
        if (old_timestampp)
                *old_timestampp = t;
        return KS_ERR_NO_ERROR;
}

/* Wrap @p it (opened with @p err) in an iterator of @p store. */
static ks_err_t iter_wrap(ks_timestamped_kv_store_t *store, ks_err_t err,
                          ks_kv_iter_t *it, ks_timestamped_kv_iter_t **iterp) {
        if (err)
                return err;
        ks_timestamped_kv_iter_t *ti = calloc(1, sizeof(*ti));
        if (!ti) {
                ks_kv_iter_destroy(it);
                return KS_ERR_NO_MEMORY;
        }
        ti->it = it;
        ti->ts = store;
        *iterp = ti;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_timestamped_kv_store_range(ks_timestamped_kv_store_t *store,
                                       const void *from, size_t from_size,
                                       const void *to, size_t to_size,
                                       ks_timestamped_kv_iter_t **iterp) {
        if (!store || !iterp)
                return KS_ERR_INVALID_ARG;
        ks_kv_iter_t *it = NULL;
        ks_err_t err =
                ks_kv_store_range(store->kv, from, from_size, to, to_size, &it);
        return iter_wrap(store, err, it, iterp);
}

ks_err_t ks_timestamped_kv_store_reverse_range(
        ks_timestamped_kv_store_t *store, const void *from, size_t from_size,
        const void *to, size_t to_size, ks_timestamped_kv_iter_t **iterp) {
        if (!store || !iterp)
                return KS_ERR_INVALID_ARG;
        ks_kv_iter_t *it = NULL;
        ks_err_t err = ks_kv_store_reverse_range(store->kv, from, from_size, to,
                                                 to_size, &it);
        return iter_wrap(store, err, it, iterp);
}

ks_err_t ks_timestamped_kv_store_prefix_scan(ks_timestamped_kv_store_t *store,
                                             const void *prefix,
                                             size_t prefix_size,
                                             ks_timestamped_kv_iter_t **iterp) {
        if (!store || !iterp)
                return KS_ERR_INVALID_ARG;
        ks_kv_iter_t *it = NULL;
        ks_err_t err =
                ks_kv_store_prefix_scan(store->kv, prefix, prefix_size, &it);
        return iter_wrap(store, err, it, iterp);
}

ks_err_t ks_timestamped_kv_store_all(ks_timestamped_kv_store_t *store,
                                     ks_timestamped_kv_iter_t **iterp) {
        if (!store || !iterp)
                return KS_ERR_INVALID_ARG;
        ks_kv_iter_t *it = NULL;
        ks_err_t err = ks_kv_store_all(store->kv, &it);
        return iter_wrap(store, err, it, iterp);
}

ks_err_t ks_timestamped_kv_store_reverse_all(ks_timestamped_kv_store_t *store,
                                             ks_timestamped_kv_iter_t **iterp) {
        if (!store || !iterp)
                return KS_ERR_INVALID_ARG;
        ks_kv_iter_t *it = NULL;
        ks_err_t err = ks_kv_store_reverse_all(store->kv, &it);
        return iter_wrap(store, err, it, iterp);
}

ks_err_t ks_timestamped_kv_store_approximate_num_entries(
        ks_timestamped_kv_store_t *store, uint64_t *countp) {
        if (!store)
                return KS_ERR_INVALID_ARG;
        return ks_kv_store_approximate_num_entries(store->kv, countp);
}

int ks_timestamped_kv_iter_next(ks_timestamped_kv_iter_t *iter,
                                const void **keyp, size_t *key_sizep,
                                const void **valuep, size_t *value_sizep,
                                int64_t *timestampp) {
        if (!iter || iter->err)
                return 0;
        const void *k, *v;
        size_t kl, vl;
        if (!ks_kv_iter_next(iter->it, &k, &kl, &v, &vl))
                return 0;
        /* The store is alive: its iterator just gave an entry. */
        if ((iter->err =
                     split(iter->ts, v, vl, valuep, value_sizep, timestampp)))
                return 0;
        if (keyp)
                *keyp = k;
        if (key_sizep)
                *key_sizep = kl;
        return 1;
}

ks_err_t ks_timestamped_kv_iter_error(const ks_timestamped_kv_iter_t *iter) {
        if (!iter)
                return KS_ERR_INVALID_ARG;
        return iter->err ? iter->err : ks_kv_iter_error(iter->it);
}

void ks_timestamped_kv_iter_destroy(ks_timestamped_kv_iter_t *iter) {
        if (!iter)
                return;
        ks_kv_iter_destroy(iter->it);
        free(iter);
}
