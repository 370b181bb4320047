/**
 * @file kstreams/headers.h
 * @brief Record headers: an ordered list of (name, value) pairs; a name may
 *        repeat, as in Kafka.
 *
 * Thread-safety: a headers object may be used from one thread at a time.
 * Headers handed to a processor are borrowed for the call.
 */
#ifndef KSTREAMS_HEADERS_H
#define KSTREAMS_HEADERS_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** @brief A new, empty header list (NULL when out of memory). */
KS_EXPORT ks_headers_t *ks_headers_new(void);

/** @brief A deep copy of @p hdrs (NULL for NULL or when out of memory). */
KS_EXPORT ks_headers_t *ks_headers_copy(const ks_headers_t *hdrs);

/**
 * @brief Append a header. The name and value are copied. A NULL @p value is a
 *        header with a null value.
 * @returns KS_ERR_NO_ERROR, KS_ERR_INVALID_ARG or KS_ERR_NO_MEMORY.
 */
KS_EXPORT ks_err_t ks_headers_add(ks_headers_t *hdrs, const char *name,
                                  const void *value, size_t size);

/**
 * @brief Remove every header named @p name.
 * @returns KS_ERR_NO_ERROR, or KS_ERR_NOT_FOUND if there was none.
 */
KS_EXPORT ks_err_t ks_headers_remove(ks_headers_t *hdrs, const char *name);

/** @brief Number of headers (0 for NULL). */
KS_EXPORT size_t ks_headers_count(const ks_headers_t *hdrs);

/**
 * @brief The header at @p idx. Outputs point into @p hdrs and stay valid until
 *        it is changed or destroyed.
 * @returns KS_ERR_NO_ERROR or KS_ERR_NOT_FOUND when @p idx is out of range.
 */
KS_EXPORT ks_err_t ks_headers_get_at(const ks_headers_t *hdrs, size_t idx,
                                     const char **namep, const void **valuep,
                                     size_t *sizep);

/**
 * @brief The last header named @p name (Kafka's lastHeader()).
 * @returns KS_ERR_NO_ERROR or KS_ERR_NOT_FOUND.
 */
KS_EXPORT ks_err_t ks_headers_get_last(const ks_headers_t *hdrs,
                                       const char *name, const void **valuep,
                                       size_t *sizep);

/** @brief Free @p hdrs. NULL is a no-op. */
KS_EXPORT void ks_headers_destroy(ks_headers_t *hdrs);

KS_END_DECLS

#endif
