/* Windowed keys and their serdes, byte for byte Kafka Streams'
 * TimeWindowedSerializer (key | be64 start) and SessionWindowedSerializer
 * (key | be64 end | be64 start). The serdes check the key part with the
 * inner serde they hold a reference to. */
#include "serde_int.h"

#include "kstreams/windows.h"

#include "../common/error_int.h"
#include "../common/util_int.h"

#include <stdio.h>
#include <string.h>

ks_err_t ks_windowed_key_time(const void *data, size_t size,
                              int64_t window_size_ms, const void **keyp,
                              size_t *key_sizep, int64_t *startp,
                              int64_t *endp) {
        if (!data || size < 8)
                return KS_ERR_SERDE;
        const uint8_t *p = data;
        int64_t start = (int64_t)ks__be64_get(p + size - 8);
        if (keyp)
                *keyp = p;
        if (key_sizep)
                *key_sizep = size - 8;
        if (startp)
                *startp = start;
        if (endp)
                *endp = ks__ts_add(start, window_size_ms);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_windowed_key_session(const void *data, size_t size,
                                 const void **keyp, size_t *key_sizep,
                                 int64_t *startp, int64_t *endp) {
        if (!data || size < 16)
                return KS_ERR_SERDE;
        const uint8_t *p = data;
        int64_t end = (int64_t)ks__be64_get(p + size - 16);
        int64_t start = (int64_t)ks__be64_get(p + size - 8);
        if (end < start)
                return KS_ERR_SERDE;
        if (keyp)
                *keyp = p;
        if (key_sizep)
                *key_sizep = size - 16;
        if (startp)
                *startp = start;
        if (endp)
                *endp = end;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_windowed_key_time_encode(ks_buf_t *out, const void *key,
                                     size_t key_size, int64_t start) {
        if (!out || (!key && key_size))
                return KS_ERR_INVALID_ARG;
        uint8_t *p = ks__buf_extend(out, key_size + 8);
        if (!p)
                return KS_ERR_NO_MEMORY;
        if (key_size)
                memcpy(p, key, key_size);
        ks__be64_put(p + key_size, (uint64_t)start);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_windowed_key_session_encode(ks_buf_t *out, const void *key,
                                        size_t key_size, int64_t start,
                                        int64_t end) {
        if (!out || (!key && key_size) || end < start)
                return KS_ERR_INVALID_ARG;
        uint8_t *p = ks__buf_extend(out, key_size + 16);
        if (!p)
                return KS_ERR_NO_MEMORY;
        if (key_size)
                memcpy(p, key, key_size);
        ks__be64_put(p + key_size, (uint64_t)end);
        ks__be64_put(p + key_size + 8, (uint64_t)start);
        return KS_ERR_NO_ERROR;
}

static ks_err_t validate_windowed(const ks_serde_t *s, const void *d, size_t n,
                                  ks_error_t **errp) {
        int session = s->kind == KS_SERDE_SESSION_WINDOWED;
        const void *key;
        size_t klen;
        if (session ? ks_windowed_key_session(d, n, &key, &klen, NULL, NULL)
                    : ks_windowed_key_time(d, n, 0, &key, &klen, NULL, NULL))
                return ks__error_set(
                        errp, KS_ERR_SERDE, "%s key of %zu bytes: %s", s->name,
                        n,
                        session ? "needs 16 bytes of window (end, start) "
                                  "after the key, with end >= start"
                                : "needs an 8-byte window start after the key");
        ks_error_t *e = NULL;
        if (!ks_serde_validate(s->impl, key, klen, &e))
                return KS_ERR_NO_ERROR;
        ks__error_set(errp, KS_ERR_SERDE, "%s key: %s", s->name,
                      e ? ks_error_message(e) : "invalid");
        ks_error_destroy(e);
        return KS_ERR_SERDE;
}

static void free_windowed(ks_serde_t *s) {
        ks_serde_destroy(s->impl);
}

static ks_serde_t *windowed(ks_serde_kind_t kind, const char *prefix,
                            ks_serde_t *inner) {
        char name[128];
        snprintf(name, sizeof(name), "%s<%s>", prefix, ks_serde_name(inner));
        ks_serde_t *s = ks__serde_alloc(kind, name);
        if (!s)
                return NULL;
        s->validate = validate_windowed;
        s->free_impl = free_windowed;
        s->impl = ks__serde_ref(inner);
        return s;
}

ks_serde_t *ks_serde_time_windowed(ks_serde_t *inner) {
        return windowed(KS_SERDE_TIME_WINDOWED, "time-windowed", inner);
}

ks_serde_t *ks_serde_session_windowed(ks_serde_t *inner) {
        return windowed(KS_SERDE_SESSION_WINDOWED, "session-windowed", inner);
}
