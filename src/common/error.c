/* Error codes and error objects.
 *
 * The code table lives in include/kstreams/error.h (KS_ERR_MAP); everything
 * here is generated from it. An error object owns one heap message. */
#include "error_int.h"
#include "util_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ks_error_s {
        ks_err_t code;
        int flags;
        char *message;
};

const char *ks_err2str(ks_err_t err) {
        switch (err) {
#define KS__ERR_STR(code, name, desc)                                          \
        case KS_ERR_##name:                                                    \
                return desc;
                KS_ERR_MAP(KS__ERR_STR)
#undef KS__ERR_STR
        }
        return "Unknown error";
}

const char *ks_err_name(ks_err_t err) {
        switch (err) {
#define KS__ERR_NAME(code, name, desc)                                         \
        case KS_ERR_##name:                                                    \
                return "KS_ERR_" #name;
                KS_ERR_MAP(KS__ERR_NAME)
#undef KS__ERR_NAME
        }
        return "KS_ERR_UNKNOWN";
}

static ks_error_t *error_vnew(ks_err_t code, int flags, const char *fmt,
                              va_list ap) {
        ks_error_t *e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        e->code = code;
        e->flags = flags;
        if (!(e->message = ks__vstrdupf(fmt, ap))) {
                free(e);
                return NULL;
        }
        return e;
}

ks_error_t *ks__error_new(ks_err_t code, int flags, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        ks_error_t *e = error_vnew(code, flags, fmt, ap);
        va_end(ap);
        return e;
}

ks_err_t ks__error_vsetf(ks_error_t **errp, ks_err_t code, int flags,
                         const char *fmt, va_list ap) {
        if (errp) {
                ks_error_destroy(*errp);
                *errp = error_vnew(code, flags, fmt, ap);
        }
        return code;
}

ks_err_t ks__error_setf(ks_error_t **errp, ks_err_t code, int flags,
                        const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(errp, code, flags, fmt, ap);
        va_end(ap);
        return code;
}

ks_err_t ks__error_set(ks_error_t **errp, ks_err_t code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(errp, code, 0, fmt, ap);
        va_end(ap);
        return code;
}

ks_err_t ks_error_code(const ks_error_t *error) {
        return error ? error->code : KS_ERR_NO_ERROR;
}

const char *ks_error_message(const ks_error_t *error) {
        return error ? error->message : "";
}

int ks_error_is_fatal(const ks_error_t *error) {
        return error && (error->flags & KS_ERROR_F_FATAL);
}

int ks_error_is_retriable(const ks_error_t *error) {
        return error && (error->flags & KS_ERROR_F_RETRIABLE);
}

int ks_error_txn_requires_abort(const ks_error_t *error) {
        return error && (error->flags & KS_ERROR_F_TXN_ABORT);
}

void ks_error_destroy(ks_error_t *error) {
        if (!error)
                return;
        free(error->message);
        free(error);
}
