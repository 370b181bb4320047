/**
 * @file kstreams/serde_avro.h
 * @brief Avro serde (avro-c generic values), optionally in the Confluent wire
 *        format, with reader/writer schema resolution.
 *
 * Not included by kstreams.h, so applications that do not use Avro do not
 * need avro-c's headers: include it explicitly.
 *
 * Plain mode: a value is the Avro binary encoding of one datum.
 * Confluent mode (KS_AVRO_CONFLUENT): magic byte 0, a 4-byte big-endian
 * schema id, then the binary datum. The serde encodes with its own schema id
 * and decodes data written under any schema id it was told about with
 * ks_serde_avro_add_writer_schema(), resolving it to the reader schema
 * (fields added with defaults, removed fields skipped, promotions).
 *
 * Thread-safety: the serde may be shared by threads once configured; the
 * avro_value_t objects passed in belong to the caller's thread.
 */
#ifndef KSTREAMS_SERDE_AVRO_H
#define KSTREAMS_SERDE_AVRO_H

#include <avro.h>

#include "serde.h"

KS_BEGIN_DECLS

/** Use the Confluent wire format (magic byte + schema id). */
#define KS_AVRO_CONFLUENT 0x1

/**
 * @brief An Avro serde whose reader (and writer) schema is @p schema_json.
 * @param flags 0 or KS_AVRO_CONFLUENT
 * @param schema_id the id written in Confluent mode (ignored otherwise)
 * @returns the serde (release with ks_serde_destroy()), or NULL with
 *          KS_ERR_SERDE in *errp when the schema does not parse (the message
 *          carries avro-c's).
 */
KS_EXPORT ks_serde_t *ks_serde_avro_new(const char *schema_json, int flags,
                                        int32_t schema_id, ks_error_t **errp);

/**
 * @brief Declare the writer schema of data to decode.
 *
 * In Confluent mode, data whose header carries @p schema_id is decoded with
 * @p writer_json resolved to the reader schema; several ids may be added. In
 * plain mode @p schema_id is ignored and all data is taken as written with
 * @p writer_json. Call before sharing the serde between threads.
 *
 * @returns KS_ERR_NO_ERROR; KS_ERR_SERDE when the schema does not parse or
 *          cannot be resolved to the reader schema; KS_ERR_INVALID_ARG when
 *          @p serde is not an Avro serde.
 */
KS_EXPORT ks_err_t ks_serde_avro_add_writer_schema(ks_serde_t *serde,
                                                   int32_t schema_id,
                                                   const char *writer_json,
                                                   ks_error_t **errp);

/**
 * @brief The reader schema. Borrowed: valid while @p serde lives.
 */
KS_EXPORT avro_schema_t ks_serde_avro_schema(const ks_serde_t *serde);

/**
 * @brief Make @p value a new generic value of the reader schema; release it
 *        with avro_value_decref().
 * @returns KS_ERR_NO_ERROR, KS_ERR_INVALID_ARG or KS_ERR_NO_MEMORY.
 */
KS_EXPORT ks_err_t ks_serde_avro_value_new(const ks_serde_t *serde,
                                           avro_value_t *value);

/**
 * @brief Decode @p data into @p value, a value made by
 *        ks_serde_avro_value_new() (its previous content is reset).
 * @returns KS_ERR_NO_ERROR or KS_ERR_SERDE (truncated or malformed data,
 *          unknown schema id, bad magic byte) with a message in *errp.
 */
KS_EXPORT ks_err_t ks_serde_avro_decode(const ks_serde_t *serde,
                                        const void *data, size_t size,
                                        avro_value_t *value, ks_error_t **errp);

/**
 * @brief Append the encoding of @p value (of the reader schema) to @p out.
 * @returns KS_ERR_NO_ERROR, or KS_ERR_SERDE when the value does not match
 *          the schema.
 */
KS_EXPORT ks_err_t ks_serde_avro_encode(const ks_serde_t *serde,
                                        avro_value_t *value, ks_buf_t *out,
                                        ks_error_t **errp);

KS_END_DECLS

#endif
