/* Serde objects: a kind, a validation function and a reference count. */
#ifndef KS_SERDE_INT_H
#define KS_SERDE_INT_H

#include "kstreams/serde.h"

#include <stdint.h>

struct ks_serde_s {
        ks_serde_kind_t kind;
        char *name;
        int is_static; /* built-in: never freed, not counted */
        int refcnt;    /* atomic; only for non-static serdes */
        /* Check data (never NULL here). */
        ks_err_t (*validate)(const ks_serde_t *serde, const void *data,
                             size_t size, ks_error_t **errp);
        /* Free kind-specific state. */
        void (*free_impl)(ks_serde_t *serde);
        ks_serde_validate_cb *user_validate;
        void *opaque;
        void (*opaque_free)(void *);
        void *impl;
};

/** Take a reference (no-op for built-ins and NULL). Returns @p serde. */
ks_serde_t *ks__serde_ref(ks_serde_t *serde);

/** A new counted serde with one reference (NULL on OOM). */
ks_serde_t *ks__serde_alloc(ks_serde_kind_t kind, const char *name);

/** Shrink @p buf to @p len bytes (no-op if it is shorter). */
void ks__buf_truncate(ks_buf_t *buf, size_t len);

#endif

/** Grow @p buf by @p size bytes and return where they start (NULL: OOM). */
uint8_t *ks__buf_extend(ks_buf_t *buf, size_t size);
