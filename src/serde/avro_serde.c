/* Avro serde over avro-c generic values.
 *
 * The serde owns the reader schema and its generic value class, plus a list
 * of known writer schemas, each with a resolver class from that writer schema
 * to the reader schema. In Confluent mode every datum is prefixed by magic
 * byte 0 and a 4-byte big-endian schema id that selects the writer schema;
 * the serde's own id means "written with the reader schema". */
#include "kstreams/serde_avro.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "avro_check_int.h"
#include "avro_resolve_int.h"
#include "serde_int.h"

#define CONFLUENT_HDR 5

typedef struct {
        int32_t id;
        avro_schema_t schema;
        avro_value_iface_t *resolver; /* avro-c's, or NULL: */
        ks__avro_resolver_t *own;     /* ours, when the reader has defaults */
} writer_t;

typedef struct {
        avro_schema_t schema;
        char *json; /* the reader schema's text (its defaults) */
        avro_value_iface_t *iface;
        int flags;
        int32_t schema_id;
        writer_t *writers;
        size_t writer_cnt;
} avro_impl_t;

static void writer_clear(writer_t *w) {
        if (w->resolver)
                avro_value_iface_decref(w->resolver);
        ks__avro_resolver_free(w->own);
        avro_schema_decref(w->schema);
}

static void avro_impl_free(ks_serde_t *s) {
        avro_impl_t *a = s->impl;
        if (!a)
                return;
        for (size_t i = 0; i < a->writer_cnt; i++)
                writer_clear(&a->writers[i]);
        free(a->writers);
        free(a->json);
        if (a->iface)
                avro_value_iface_decref(a->iface);
        if (a->schema)
                avro_schema_decref(a->schema);
        free(a);
}

static avro_impl_t *impl_of(const ks_serde_t *s) {
        return s && s->kind == KS_SERDE_AVRO ? s->impl : NULL;
}

static ks_err_t avro_validate(const ks_serde_t *s, const void *data,
                              size_t size, ks_error_t **errp) {
        avro_value_t v;
        if (ks_serde_avro_value_new(s, &v))
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        ks_err_t err = ks_serde_avro_decode(s, data, size, &v, errp);
        avro_value_decref(&v);
        return err;
}

static ks_err_t parse_schema(const char *json, avro_schema_t *out,
                             const char *what, ks_error_t **errp) {
        if (!json)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "%s schema is NULL", what);
        if (avro_schema_from_json_length(json, strlen(json), out))
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "%s schema does not parse: %s", what,
                                     avro_strerror());
        return KS_ERR_NO_ERROR;
}

ks_serde_t *ks_serde_avro_new(const char *schema_json, int flags,
                              int32_t schema_id, ks_error_t **errp) {
        avro_schema_t schema;
        if (parse_schema(schema_json, &schema, "Avro", errp))
                return NULL;
        ks_serde_t *s = ks__serde_alloc(KS_SERDE_AVRO, "avro");
        avro_impl_t *a = calloc(1, sizeof(*a));
        if (!s || !a) {
                free(a);
                ks_serde_destroy(s);
                avro_schema_decref(schema);
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        s->impl = a;
        s->free_impl = avro_impl_free;
        s->validate = avro_validate;
        a->schema = schema;
        if (!(a->json = ks__strdup(schema_json))) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                ks_serde_destroy(s);
                return NULL;
        }
        a->flags = flags;
        a->schema_id = schema_id;
        a->iface = avro_generic_class_from_schema(schema);
        if (!a->iface) {
                ks__error_set(errp, KS_ERR_SERDE,
                              "cannot build Avro values for the schema: %s",
                              avro_strerror());
                ks_serde_destroy(s);
                return NULL;
        }
        return s;
}

ks_err_t ks_serde_avro_add_writer_schema(ks_serde_t *serde, int32_t schema_id,
                                         const char *writer_json,
                                         ks_error_t **errp) {
        avro_impl_t *a = impl_of(serde);
        if (!a)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "serde \"%s\" is not an Avro serde",
                                     ks_serde_name(serde));
        if (!(a->flags & KS_AVRO_CONFLUENT))
                schema_id = 0; /* plain mode: one writer schema */
        avro_schema_t ws;
        ks_err_t err = parse_schema(writer_json, &ws, "Avro writer", errp);
        if (err)
                return err;
        /* avro-c's resolver reads straight into the reader value; it
         * refuses reader fields the writer lacks, which ours fills from
         * their defaults. */
        writer_t nwr = {schema_id, ws, avro_resolved_writer_new(ws, a->schema),
                        NULL};
        if (!nwr.resolver) {
                char why[512];
                nwr.own = ks__avro_resolver_new(ws, a->schema, a->json, why,
                                                sizeof(why));
                if (!nwr.own) {
                        ks__error_set(errp, KS_ERR_SERDE,
                                      "writer schema (id %d) cannot be "
                                      "resolved to the reader schema: %s",
                                      (int)schema_id, why);
                        avro_schema_decref(ws);
                        return KS_ERR_SERDE;
                }
        }
        for (size_t i = 0; i < a->writer_cnt; i++) {
                if (a->writers[i].id == schema_id) {
                        writer_clear(&a->writers[i]);
                        a->writers[i] = nwr;
                        return KS_ERR_NO_ERROR;
                }
        }
        writer_t *nw = realloc(a->writers, (a->writer_cnt + 1) * sizeof(*nw));
        if (!nw) {
                writer_clear(&nwr);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        a->writers = nw;
        a->writers[a->writer_cnt++] = nwr;
        return KS_ERR_NO_ERROR;
}

avro_schema_t ks_serde_avro_schema(const ks_serde_t *serde) {
        avro_impl_t *a = impl_of(serde);
        return a ? a->schema : NULL;
}

ks_err_t ks_serde_avro_value_new(const ks_serde_t *serde, avro_value_t *value) {
        avro_impl_t *a = impl_of(serde);
        if (!a || !value)
                return KS_ERR_INVALID_ARG;
        return avro_generic_value_new(a->iface, value) ? KS_ERR_NO_MEMORY
                                                       : KS_ERR_NO_ERROR;
}

static const writer_t *writer_find(const avro_impl_t *a, int32_t id) {
        for (size_t i = 0; i < a->writer_cnt; i++)
                if (a->writers[i].id == id)
                        return &a->writers[i];
        return NULL;
}

ks_err_t ks_serde_avro_decode(const ks_serde_t *serde, const void *data,
                              size_t size, avro_value_t *value,
                              ks_error_t **errp) {
        avro_impl_t *a = impl_of(serde);
        if (!a || !value)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "ks_serde_avro_decode needs an Avro serde "
                                     "and a value");
        if (!data)
                return ks__error_set(errp, KS_ERR_SERDE, "Avro data is null");
        const char *p = data;
        size_t n = size;
        const writer_t *w = NULL;
        if (a->flags & KS_AVRO_CONFLUENT) {
                if (n < CONFLUENT_HDR)
                        return ks__error_set(errp, KS_ERR_SERDE,
                                             "Avro data of %zu bytes is "
                                             "shorter than the 5-byte "
                                             "Confluent header",
                                             n);
                if (p[0] != 0)
                        return ks__error_set(errp, KS_ERR_SERDE,
                                             "Avro data starts with magic "
                                             "byte %d, expected 0",
                                             (int)(unsigned char)p[0]);
                int32_t id = (int32_t)ks__be32_get((const uint8_t *)p + 1);
                if (id != a->schema_id && !(w = writer_find(a, id)))
                        return ks__error_set(errp, KS_ERR_SERDE,
                                             "Avro data has schema id %d, "
                                             "which this serde does not know "
                                             "(its own id is %d)",
                                             (int)id, (int)a->schema_id);
                p += CONFLUENT_HDR;
                n -= CONFLUENT_HDR;
        } else if (a->writer_cnt) {
                w = &a->writers[0];
        }
        char why[200];
        if (ks__avro_check(w ? w->schema : a->schema, p, n, why, sizeof(why)))
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "Avro data (%zu bytes) does not decode: "
                                     "%s",
                                     size, why);
        avro_reader_t r = avro_reader_memory(p, (int64_t)n);
        if (!r)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        avro_value_reset(value);
        int rc;
        char rwhy[512] = "";
        if (w && w->own) {
                avro_value_t wv;
                if (ks__avro_resolver_writer_value(w->own, &wv)) {
                        avro_reader_free(r);
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                }
                rc = avro_value_read(r, &wv);
                if (!rc &&
                    ks__avro_resolve(w->own, &wv, value, rwhy, sizeof(rwhy)))
                        rc = -1;
                avro_value_decref(&wv);
        } else if (w) {
                avro_value_t rv;
                if (avro_resolved_writer_new_value(w->resolver, &rv)) {
                        avro_reader_free(r);
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                }
                avro_resolved_writer_set_dest(&rv, value);
                rc = avro_value_read(r, &rv);
                avro_value_decref(&rv);
        } else {
                rc = avro_value_read(r, value);
        }
        avro_reader_free(r);
        if (rc)
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "Avro data (%zu bytes) does not decode: "
                                     "%s",
                                     size, *rwhy ? rwhy : avro_strerror());
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_serde_avro_encode(const ks_serde_t *serde, avro_value_t *value,
                              ks_buf_t *out, ks_error_t **errp) {
        avro_impl_t *a = impl_of(serde);
        if (!a || !value || !out)
                return ks__error_set(
                        errp, KS_ERR_INVALID_ARG,
                        "ks_serde_avro_encode needs an Avro serde, "
                        "a value and a buffer");
        avro_schema_t vs = avro_value_get_schema(value);
        if (!vs || !avro_schema_equal(vs, a->schema))
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "Avro value does not have the serde's "
                                     "schema");
        size_t size;
        if (avro_value_sizeof(value, &size))
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "Avro value cannot be sized: %s",
                                     avro_strerror());
        size_t hdr = (a->flags & KS_AVRO_CONFLUENT) ? CONFLUENT_HDR : 0;
        size_t start = ks_buf_len(out);
        uint8_t *p = ks__buf_extend(out, hdr + size);
        if (!p)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        if (hdr) {
                p[0] = 0;
                ks__be32_put(p + 1, (uint32_t)a->schema_id);
        }
        avro_writer_t w =
                avro_writer_memory((const char *)p + hdr, (int64_t)size);
        int rc = w ? avro_value_write(w, value) : ENOMEM;
        if (w)
                avro_writer_free(w);
        if (rc) {
                ks__buf_truncate(out, start); /* drop the partial append */
                return ks__error_set(errp, KS_ERR_SERDE,
                                     "Avro value does not encode: %s",
                                     avro_strerror());
        }
        return KS_ERR_NO_ERROR;
}
