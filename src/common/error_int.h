/* Internal construction of error objects. */
#ifndef KS_ERROR_INT_H
#define KS_ERROR_INT_H

#include "kstreams/error.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define KS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KS_PRINTF(a, b)
#endif

/** Recovery hints stored in an error object. */
#define KS_ERROR_F_FATAL     0x1
#define KS_ERROR_F_RETRIABLE 0x2
#define KS_ERROR_F_TXN_ABORT 0x4

/**
 * Create an error object with a formatted message and store it in *errp
 * (when errp is non-NULL). Returns @p code so callers can
 * `return ks__error_set(errp, KS_ERR_X, "...")`.
 */
ks_err_t ks__error_set(ks_error_t **errp, ks_err_t code, const char *fmt, ...)
        KS_PRINTF(3, 4);

/** As ks__error_set() with recovery flags (KS_ERROR_F_*). */
ks_err_t ks__error_setf(ks_error_t **errp, ks_err_t code, int flags,
                        const char *fmt, ...) KS_PRINTF(4, 5);

/** va_list variant of ks__error_setf(). */
ks_err_t ks__error_vsetf(ks_error_t **errp, ks_err_t code, int flags,
                         const char *fmt, va_list ap);

/** A new error object (NULL only when out of memory). */
ks_error_t *ks__error_new(ks_err_t code, int flags, const char *fmt, ...)
        KS_PRINTF(3, 4);

#endif
