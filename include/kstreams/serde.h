/**
 * @file kstreams/serde.h
 * @brief Serdes: how keys and values are encoded as bytes.
 *
 * Records travel through a topology as byte slices. A serde attached to a
 * source checks every incoming key or value (a record that does not decode
 * goes to the deserialization exception handler); a serde attached to a sink
 * checks every outgoing one, so a processor that writes the wrong type fails
 * with a message naming the sink instead of poisoning a topic. Processors
 * read and write typed values with the codec functions below.
 *
 * Built-in serdes (bytes, string, int32, int64, double) are static objects:
 * ks_serde_destroy() on them is a no-op. Other serdes are reference counted;
 * a topology keeps its own reference, so the caller may destroy its one
 * after adding the serde.
 *
 * Integers are big-endian two's complement and doubles big-endian IEEE-754,
 * byte for byte what Kafka's Java IntegerSerializer, LongSerializer and
 * DoubleSerializer produce. A null key or value (NULL data) is always valid.
 *
 * Thread-safety: serdes are immutable once built and may be shared by
 * threads. Codec functions are thread-safe.
 */
#ifndef KSTREAMS_SERDE_H
#define KSTREAMS_SERDE_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** Kinds of serde. */
typedef enum ks_serde_kind_e {
        KS_SERDE_BYTES,
        KS_SERDE_STRING,
        KS_SERDE_INT32,
        KS_SERDE_INT64,
        KS_SERDE_DOUBLE,
        KS_SERDE_AVRO,
        KS_SERDE_CUSTOM,
        KS_SERDE_TIME_WINDOWED,    /**< ks_serde_time_windowed() */
        KS_SERDE_SESSION_WINDOWED, /**< ks_serde_session_windowed() */
} ks_serde_kind_t;

/** @brief Raw bytes, any content. */
KS_EXPORT ks_serde_t *ks_serde_bytes(void);
/** @brief Strings: any bytes (UTF-8 by convention), no terminator. */
KS_EXPORT ks_serde_t *ks_serde_string(void);
/** @brief 32-bit integers: exactly 4 bytes, big-endian. */
KS_EXPORT ks_serde_t *ks_serde_int32(void);
/** @brief 64-bit integers: exactly 8 bytes, big-endian. */
KS_EXPORT ks_serde_t *ks_serde_int64(void);
/** @brief Doubles: exactly 8 bytes, big-endian IEEE-754. */
KS_EXPORT ks_serde_t *ks_serde_double(void);

/**
 * Validation callback of a custom serde.
 * @param data the bytes (never NULL: null keys/values are not passed)
 * @param errp set an error on failure with ks_serde_error_set()
 * @returns KS_ERR_NO_ERROR if @p data decodes, KS_ERR_SERDE otherwise.
 */
typedef ks_err_t(ks_serde_validate_cb)(void *opaque, const void *data,
                                       size_t size, ks_error_t **errp);

/**
 * @brief A custom serde named @p name whose validation is @p validate (NULL:
 *        anything is valid). @p opaque_free, if not NULL, is called with
 *        @p opaque when the last reference goes.
 * @returns the serde (release with ks_serde_destroy()), NULL when out of
 *          memory or @p name is NULL.
 */
KS_EXPORT ks_serde_t *ks_serde_custom_new(const char *name,
                                          ks_serde_validate_cb *validate,
                                          void *opaque,
                                          void (*opaque_free)(void *));

/**
 * @brief Store a KS_ERR_SERDE error with a formatted message in *errp, for
 *        custom validate callbacks. Returns KS_ERR_SERDE.
 */
KS_EXPORT ks_err_t ks_serde_error_set(ks_error_t **errp, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

/** @brief The kind of @p serde. */
KS_EXPORT ks_serde_kind_t ks_serde_kind(const ks_serde_t *serde);

/** @brief The name of @p serde ("string", "int64", "avro", custom name). */
KS_EXPORT const char *ks_serde_name(const ks_serde_t *serde);

/**
 * @brief Check that @p data decodes with @p serde. NULL @p data (a null key
 *        or value) is valid.
 * @returns KS_ERR_NO_ERROR or KS_ERR_SERDE with a message in *errp saying
 *          what is wrong (expected size, Avro error, ...).
 */
KS_EXPORT ks_err_t ks_serde_validate(const ks_serde_t *serde, const void *data,
                                     size_t size, ks_error_t **errp);

/**
 * @brief Release a reference to @p serde. NULL and built-in serdes are
 *        no-ops.
 */
KS_EXPORT void ks_serde_destroy(ks_serde_t *serde);

/** @name Codecs for the built-in types
 * Encoders write exactly 4 or 8 bytes to @p out. Decoders fail with
 * KS_ERR_SERDE when @p size is not the exact size (a truncated value), with
 * a message in *errp if @p errp is non-NULL.
 * @{ */
KS_EXPORT void ks_int32_encode(int32_t v, uint8_t out[4]);
KS_EXPORT ks_err_t ks_int32_decode(const void *data, size_t size, int32_t *out,
                                   ks_error_t **errp);
KS_EXPORT void ks_int64_encode(int64_t v, uint8_t out[8]);
KS_EXPORT ks_err_t ks_int64_decode(const void *data, size_t size, int64_t *out,
                                   ks_error_t **errp);
KS_EXPORT void ks_double_encode(double v, uint8_t out[8]);
KS_EXPORT ks_err_t ks_double_decode(const void *data, size_t size, double *out,
                                    ks_error_t **errp);
/** @} */

/** @name Byte buffers
 * A growable buffer that encoders append to; reusable with ks_buf_reset().
 * @{ */
/** @brief A new empty buffer (NULL when out of memory). */
KS_EXPORT ks_buf_t *ks_buf_new(void);
/** @brief The bytes; valid until the buffer is changed or destroyed. */
KS_EXPORT const void *ks_buf_data(const ks_buf_t *buf);
/** @brief The number of bytes. */
KS_EXPORT size_t ks_buf_len(const ks_buf_t *buf);
/** @brief Append @p size bytes. @returns KS_ERR_NO_ERROR or NO_MEMORY. */
KS_EXPORT ks_err_t ks_buf_append(ks_buf_t *buf, const void *data, size_t size);
/** @brief Empty the buffer, keeping its memory. */
KS_EXPORT void ks_buf_reset(ks_buf_t *buf);
/** @brief Free @p buf. NULL is a no-op. */
KS_EXPORT void ks_buf_destroy(ks_buf_t *buf);
/** @} */

KS_END_DECLS

#endif
