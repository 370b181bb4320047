/* Built-in serdes, custom serdes, typed codecs and byte buffers.
 *
 * Built-ins are static objects; custom and Avro serdes are heap objects with
 * an atomic reference count so a topology and its tasks can share them
 * across threads. */
#include "serde_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"

static ks_err_t validate_any(const ks_serde_t *s, const void *d, size_t n,
                             ks_error_t **errp) {
        return KS_ERR_NO_ERROR;
}

static ks_err_t validate_fixed(const ks_serde_t *s, const void *d, size_t n,
                               ks_error_t **errp) {
        size_t want = s->kind == KS_SERDE_INT32 ? 4 : 8;
        if (n != want)
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "%s serde expects exactly %zu bytes, got "
                                     "%zu",
                                     s->name, want, n);
        return KS_ERR_NO_ERROR;
}

#define BUILTIN(var, k, nm, fn)                                                \
        static ks_serde_t var = {                                              \
                .kind = k, .name = (char *)nm, .is_static = 1, .validate = fn}
BUILTIN(serde_bytes, KS_SERDE_BYTES, "bytes", validate_any);
BUILTIN(serde_string, KS_SERDE_STRING, "string", validate_any);
BUILTIN(serde_int32, KS_SERDE_INT32, "int32", validate_fixed);
BUILTIN(serde_int64, KS_SERDE_INT64, "int64", validate_fixed);
BUILTIN(serde_double, KS_SERDE_DOUBLE, "double", validate_fixed);

ks_serde_t *ks_serde_bytes(void) {
        return &serde_bytes;
}
ks_serde_t *ks_serde_string(void) {
        return &serde_string;
}
ks_serde_t *ks_serde_int32(void) {
        return &serde_int32;
}
ks_serde_t *ks_serde_int64(void) {
        return &serde_int64;
}
ks_serde_t *ks_serde_double(void) {
        return &serde_double;
}

ks_serde_t *ks__serde_alloc(ks_serde_kind_t kind, const char *name) {
        ks_serde_t *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->name = ks__strdup(name);
        if (!s->name) {
                free(s);
                return NULL;
        }
        s->kind = kind;
        s->refcnt = 1;
        s->validate = validate_any;
        return s;
}

static ks_err_t validate_custom(const ks_serde_t *s, const void *d, size_t n,
                                ks_error_t **errp) {
        if (!s->user_validate)
                return KS_ERR_NO_ERROR;
        ks_error_t *e = NULL;
        ks_err_t err = s->user_validate(s->opaque, d, n, &e);
        if (!err) {
                ks_error_destroy(e);
                return KS_ERR_NO_ERROR;
        }
        if (!e)
                ks__error_set(&e, KS_ERR_SERDE,
                              "%s serde rejected the data (%s)", s->name,
                              ks_err2str(err));
        if (errp) {
                ks_error_destroy(*errp);
                *errp = e;
        } else {
                ks_error_destroy(e);
        }
        return KS_ERR_SERDE;
}

ks_serde_t *ks_serde_custom_new(const char *name,
                                ks_serde_validate_cb *validate, void *opaque,
                                void (*opaque_free)(void *)) {
        if (!name)
                return NULL;
        ks_serde_t *s = ks__serde_alloc(KS_SERDE_CUSTOM, name);
        if (!s)
                return NULL;
        s->validate = validate_custom;
        s->user_validate = validate;
        s->opaque = opaque;
        s->opaque_free = opaque_free;
        return s;
}

ks_err_t ks_serde_error_set(ks_error_t **errp, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(errp, KS_ERR_SERDE, 0, fmt, ap);
        va_end(ap);
        return KS_ERR_SERDE;
}

ks_serde_t *ks__serde_ref(ks_serde_t *serde) {
        if (serde && !serde->is_static)
                __atomic_add_fetch(&serde->refcnt, 1, __ATOMIC_RELAXED);
        return serde;
}

void ks_serde_destroy(ks_serde_t *serde) {
        if (!serde || serde->is_static)
                return;
        if (__atomic_sub_fetch(&serde->refcnt, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        if (serde->free_impl)
                serde->free_impl(serde);
        if (serde->opaque_free)
                serde->opaque_free(serde->opaque);
        free(serde->name);
        free(serde);
}

ks_serde_kind_t ks_serde_kind(const ks_serde_t *serde) {
        return serde->kind;
}

const char *ks_serde_name(const ks_serde_t *serde) {
        return serde ? serde->name : "bytes";
}

ks_err_t ks_serde_validate(const ks_serde_t *serde, const void *data,
                           size_t size, ks_error_t **errp) {
        if (!serde || !data)
                return KS_ERR_NO_ERROR;
        return serde->validate(serde, data, size, errp);
}

void ks_int32_encode(int32_t v, uint8_t out[4]) {
        ks__be32_put(out, (uint32_t)v);
}

/* The fixed-width decoders' check: @p data holds exactly @p want bytes. */
static ks_err_t check_size(const void *data, size_t size, size_t want,
                           const char *type, ks_error_t **errp) {
        if (data && size == want)
                return KS_ERR_NO_ERROR;
        return ks__error_set(errp, KS_ERR_SERDE,
                             "%s value must be exactly %zu bytes, got %zu",
                             type, want, data ? size : 0);
}

ks_err_t ks_int32_decode(const void *data, size_t size, int32_t *out,
                         ks_error_t **errp) {
        ks_err_t err = check_size(data, size, 4, "int32", errp);
        if (!err)
                *out = (int32_t)ks__be32_get(data);
        return err;
}

void ks_int64_encode(int64_t v, uint8_t out[8]) {
        ks__be64_put(out, (uint64_t)v);
}

ks_err_t ks_int64_decode(const void *data, size_t size, int64_t *out,
                         ks_error_t **errp) {
        ks_err_t err = check_size(data, size, 8, "int64", errp);
        if (!err)
                *out = (int64_t)ks__be64_get(data);
        return err;
}

void ks_double_encode(double v, uint8_t out[8]) {
        uint64_t bits;
        memcpy(&bits, &v, sizeof(bits));
        ks__be64_put(out, bits);
}

ks_err_t ks_double_decode(const void *data, size_t size, double *out,
                          ks_error_t **errp) {
        ks_err_t err = check_size(data, size, 8, "double", errp);
        if (!err) {
                uint64_t bits = ks__be64_get(data);
                memcpy(out, &bits, sizeof(bits));
        }
        return err;
}

struct ks_buf_s {
        uint8_t *data;
        size_t len, cap;
};

ks_buf_t *ks_buf_new(void) {
        return calloc(1, sizeof(ks_buf_t));
}

const void *ks_buf_data(const ks_buf_t *buf) {
        return buf->data;
}

size_t ks_buf_len(const ks_buf_t *buf) {
        return buf->len;
}

ks_err_t ks_buf_append(ks_buf_t *buf, const void *data, size_t size) {
        if (!size) /* a buffer that never grew has no memory to point to */
                return KS_ERR_NO_ERROR;
        uint8_t *p = ks__buf_extend(buf, size);
        if (!p)
                return KS_ERR_NO_MEMORY;
        memcpy(p, data, size);
        return KS_ERR_NO_ERROR;
}

void ks_buf_reset(ks_buf_t *buf) {
        buf->len = 0;
}

void ks_buf_destroy(ks_buf_t *buf) {
        if (!buf)
                return;
        free(buf->data);
        free(buf);
}

uint8_t *ks__buf_extend(ks_buf_t *buf, size_t size) {
        size_t off = buf->len;
        if (buf->len + size > buf->cap) {
                size_t ncap = buf->cap ? buf->cap : 64;
                while (ncap < buf->len + size)
                        ncap *= 2;
                uint8_t *nd = realloc(buf->data, ncap);
                if (!nd)
                        return NULL;
                buf->data = nd;
                buf->cap = ncap;
        }
        buf->len += size;
        return buf->data + off;
}

void ks__buf_truncate(ks_buf_t *buf, size_t len) {
        if (len < buf->len)
                buf->len = len;
}
