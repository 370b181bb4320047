/* Writer-to-reader Avro schema resolution with reader defaults.
 *
 * avro-c's own resolver (avro_resolved_writer_new) refuses a reader field the
 * writer lacks even when the field has a default, because avro-c does not
 * keep defaults when it parses a schema. This resolver reads the defaults
 * from the reader schema's JSON and resolves a datum decoded with the writer
 * schema into a value of the reader schema, following the Avro
 * specification's rules: record fields matched by name (writer-only fields
 * skipped, reader-only fields from their defaults), enum symbols by name
 * (falling back to the reader enum's default), unions branch by branch, and
 * the numeric and string/bytes promotions. */
#ifndef KS_AVRO_RESOLVE_INT_H
#define KS_AVRO_RESOLVE_INT_H

#include <avro.h>

typedef struct ks__avro_resolver_s ks__avro_resolver_t;

/** A resolver from @p writer to @p reader (whose JSON is @p reader_json),
 *  or NULL with the reason in @p why when the schemas do not resolve. The
 *  resolver keeps references to both schemas. */
ks__avro_resolver_t *ks__avro_resolver_new(avro_schema_t writer,
                                           avro_schema_t reader,
                                           const char *reader_json, char *why,
                                           size_t why_size);

/** A new generic value of the writer schema to decode into. */
int ks__avro_resolver_writer_value(ks__avro_resolver_t *r, avro_value_t *v);

/** Fill @p dst (a reader value, reset) from @p src (a writer value).
 *  0, or -1 with the reason in @p why. */
int ks__avro_resolve(ks__avro_resolver_t *r, avro_value_t *src,
                     avro_value_t *dst, char *why, size_t why_size);

void ks__avro_resolver_free(ks__avro_resolver_t *r);

#endif
