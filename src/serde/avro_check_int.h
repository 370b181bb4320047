/* Bounded structural check of Avro binary data (see avro_check.c). */
#ifndef KS_AVRO_CHECK_INT_H
#define KS_AVRO_CHECK_INT_H

#include <avro.h>
#include <stddef.h>
#include <string.h>

/** 0 if @p data could be a datum of @p writer without reading past its end
 *  or allocating more than it holds; -1 with a reason in @p why otherwise. */
int ks__avro_check(avro_schema_t writer, const void *data, size_t size,
                   char *why, size_t why_size);

#endif
