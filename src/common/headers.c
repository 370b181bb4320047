/* Record headers: a growable array of owned (name, value) pairs in insertion
 * order. A NULL value with size 0 is a null header value. */
#include "kstreams/headers.h"

#include <stdlib.h>
#include <string.h>

#include "util_int.h"

typedef struct {
        char *name;
        void *value;
        size_t size;
        int is_null;
} hdr_t;

struct ks_headers_s {
        hdr_t *v;
        size_t cnt, cap;
};

ks_headers_t *ks_headers_new(void) {
        return calloc(1, sizeof(ks_headers_t));
}

void ks_headers_destroy(ks_headers_t *hdrs) {
        if (!hdrs)
                return;
        for (size_t i = 0; i < hdrs->cnt; i++) {
                free(hdrs->v[i].name);
                free(hdrs->v[i].value);
        }
        free(hdrs->v);
        free(hdrs);
}

ks_err_t ks_headers_add(ks_headers_t *hdrs, const char *name, const void *value,
                        size_t size) {
        if (!hdrs || !name || (!value && size))
                return KS_ERR_INVALID_ARG;
        if (hdrs->cnt == hdrs->cap) {
                size_t ncap = hdrs->cap ? hdrs->cap * 2 : 4;
                hdr_t *nv = realloc(hdrs->v, ncap * sizeof(*nv));
                if (!nv)
                        return KS_ERR_NO_MEMORY;
                hdrs->v = nv;
                hdrs->cap = ncap;
        }
        hdr_t *h = &hdrs->v[hdrs->cnt];
        h->name = ks__strdup(name);
        /* One extra byte so an empty non-null value has a non-NULL pointer. */
        h->value = value ? malloc(size + 1) : NULL;
        if (!h->name || (value && !h->value)) {
                free(h->name);
                free(h->value);
                return KS_ERR_NO_MEMORY;
        }
        if (value)
                memcpy(h->value, value, size);
        h->size = size;
        h->is_null = value == NULL;
        hdrs->cnt++;
        return KS_ERR_NO_ERROR;
}

ks_headers_t *ks_headers_copy(const ks_headers_t *hdrs) {
        if (!hdrs)
                return NULL;
        ks_headers_t *c = ks_headers_new();
        if (!c)
                return NULL;
        for (size_t i = 0; i < hdrs->cnt; i++) {
                if (ks_headers_add(c, hdrs->v[i].name, hdrs->v[i].value,
                                   hdrs->v[i].size)) {
                        ks_headers_destroy(c);
                        return NULL;
                }
        }
        return c;
}

ks_err_t ks_headers_remove(ks_headers_t *hdrs, const char *name) {
        if (!hdrs || !name)
                return KS_ERR_INVALID_ARG;
        size_t w = 0, removed = 0;
        for (size_t i = 0; i < hdrs->cnt; i++) {
                if (!strcmp(hdrs->v[i].name, name)) {
                        free(hdrs->v[i].name);
                        free(hdrs->v[i].value);
                        removed++;
                } else {
                        hdrs->v[w++] = hdrs->v[i];
                }
        }
        hdrs->cnt = w;
        return removed ? KS_ERR_NO_ERROR : KS_ERR_NOT_FOUND;
}

size_t ks_headers_count(const ks_headers_t *hdrs) {
        return hdrs ? hdrs->cnt : 0;
}

ks_err_t ks_headers_get_at(const ks_headers_t *hdrs, size_t idx,
                           const char **namep, const void **valuep,
                           size_t *sizep) {
        if (!hdrs || idx >= hdrs->cnt)
                return KS_ERR_NOT_FOUND;
        if (namep)
                *namep = hdrs->v[idx].name;
        if (valuep)
                *valuep = hdrs->v[idx].value;
        if (sizep)
                *sizep = hdrs->v[idx].size;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_headers_get_last(const ks_headers_t *hdrs, const char *name,
                             const void **valuep, size_t *sizep) {
        if (!hdrs || !name)
                return KS_ERR_INVALID_ARG;
        for (size_t i = hdrs->cnt; i-- > 0;) {
                if (!strcmp(hdrs->v[i].name, name)) {
                        if (valuep)
                                *valuep = hdrs->v[i].value;
                        if (sizep)
                                *sizep = hdrs->v[i].size;
                        return KS_ERR_NO_ERROR;
                }
        }
        return KS_ERR_NOT_FOUND;
}
