/* Internals shared by the two halves of Avro resolution (see
 * avro_resolve_int.h for the API): the resolution walk over datums
 * (avro_resolve.c) and the reader schema's JSON, where the named types are
 * defined and the defaults live (avro_reader_json.c).
 *
 * A resolver holds a reference to both schemas, the writer's generic value
 * class, the reader schema's parsed JSON and a table of the named types
 * that JSON defines. Invariants: every `names[i].full` is a malloc'd full
 * name (namespace.name) owned by the table, and every `names[i].def` points
 * into `json`, which lives as long as the resolver. A walk (building or
 * decoding) carries the buffer that receives the reason of its first
 * failure; a function of the walk that fails returns -1 with that reason
 * written. No walk changes the resolver: once built, it is only read. */
#ifndef KS_AVRO_RESOLVE_IMPL_INT_H
#define KS_AVRO_RESOLVE_IMPL_INT_H

#include "avro_resolve_int.h"

#include "../common/error_int.h"
#include "json_int.h"

typedef struct {
        char *full; /* namespace.name */
        const ks__json_t *def;
} ks__avro_named_t;

struct ks__avro_resolver_s {
        avro_schema_t writer, reader;
        avro_value_iface_t *writer_iface;
        ks__json_t *json;
        ks__avro_named_t *names;
        size_t name_cnt;
};

typedef struct {
        ks__avro_resolver_t *r;
        char *why;
        size_t why_size;
} ks__avro_walk_t;

/* --- avro_resolve.c ------------------------------------------------------ */

/** Write the reason of a failure into the walk's buffer; returns -1. */
int ks__avro_walk_fail(ks__avro_walk_t *w, const char *fmt, ...)
        KS_PRINTF(2, 3);

/** The name of @p s's type for messages ("int", "map", a record's name). */
const char *ks__avro_type_name(avro_schema_t s);

/** The schema @p s stands for, named-type links followed. */
static inline avro_schema_t ks__avro_schema_deref(avro_schema_t s) {
        while (s && avro_typeof(s) == AVRO_LINK)
                s = avro_schema_link_target(s);
        return s;
}

/* --- avro_reader_json.c -------------------------------------------------- */

/** Fill the resolver's table of named types from its reader JSON.
 *  0, or -1 when out of memory. */
int ks__avro_names_index(ks__avro_resolver_t *r);

/** Free the table of named types (the JSON stays). */
void ks__avro_names_free(ks__avro_resolver_t *r);

/** The JSON node that defines the schema @p j stands for: references by
 *  name and {"type": {...}} wrappers are followed. */
const ks__json_t *ks__avro_json_deref(const ks__avro_resolver_t *r,
                                      const ks__json_t *j);

/** Write the default @p v of a reader schema @p rs (defined by the JSON
 *  @p rd) into @p dst. With @p dst NULL (building) only check that the
 *  default fits its type. @p what names the field for messages. */
int ks__avro_default_apply(ks__avro_walk_t *w, avro_schema_t rs,
                           const ks__json_t *rd, const ks__json_t *v,
                           avro_value_t *dst, const char *what, int depth);

#endif
