/* Writer-to-reader resolution of Avro datums with reader defaults (see
 * avro_resolve_int.h): the resolver's lifecycle and the resolution walk.
 *
 * One recursive walk serves both building (no values: check that the schemas
 * resolve and that every default fits its field) and decoding (copy from the
 * writer value into the reader value). Beside the reader's avro_schema_t it
 * walks the reader's JSON tree, which is where the defaults live
 * (avro_reader_json.c reads them). */
#include "avro_resolve_impl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checking stops descending here: recursive schemas have been checked once
 * around their cycle by then. Decoding depth is bounded by the data, whose
 * nesting avro_check.c caps. */
#define CHECK_DEPTH 64

int ks__avro_walk_fail(ks__avro_walk_t *w, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->why, w->why_size, fmt, ap);
        va_end(ap);
        return -1;
}

const char *ks__avro_type_name(avro_schema_t s) {
        switch (avro_typeof(s)) {
        case AVRO_STRING:
                return "string";
        case AVRO_BYTES:
                return "bytes";
        case AVRO_INT32:
                return "int";
        case AVRO_INT64:
                return "long";
        case AVRO_FLOAT:
                return "float";
        case AVRO_DOUBLE:
                return "double";
        case AVRO_BOOLEAN:
                return "boolean";
        case AVRO_NULL:
                return "null";
        case AVRO_RECORD:
        case AVRO_ENUM:
        case AVRO_FIXED:
                return avro_schema_name(s);
        case AVRO_MAP:
                return "map";
        case AVRO_ARRAY:
                return "array";
        case AVRO_UNION:
                return "union";
        default:
                return "?";
        }
}

static int named_equal(avro_schema_t a, avro_schema_t b) {
        const char *x = avro_schema_name(a), *y = avro_schema_name(b);
        return x && y && !strcmp(x, y);
}

/* Can a writer value of type @p wt be read as @p rt? (1: same type, 2: by
 * promotion, 0: no). Named types match by name. */
static int matches(avro_schema_t ws, avro_schema_t rs) {
        avro_type_t wt = avro_typeof(ws), rt = avro_typeof(rs);
        if (wt == rt) {
                if (wt == AVRO_RECORD || wt == AVRO_ENUM || wt == AVRO_FIXED)
                        return named_equal(ws, rs);
                return 1;
        }
        switch (rt) {
        case AVRO_INT64:
                return wt == AVRO_INT32 ? 2 : 0;
        case AVRO_FLOAT:
                return wt == AVRO_INT32 || wt == AVRO_INT64 ? 2 : 0;
        case AVRO_DOUBLE:
                return wt == AVRO_INT32 || wt == AVRO_INT64 || wt == AVRO_FLOAT
                               ? 2
                               : 0;
        case AVRO_BYTES:
                return wt == AVRO_STRING ? 2 : 0;
        case AVRO_STRING:
                return wt == AVRO_BYTES ? 2 : 0;
        default:
                return 0;
        }
}

/* --- resolution --------------------------------------------------------- */

static int resolve(ks__avro_walk_t *w, avro_schema_t ws, avro_schema_t rs,
                   const ks__json_t *rd, avro_value_t *src, avro_value_t *dst,
                   int depth);

static int resolve_record(ks__avro_walk_t *w, avro_schema_t ws,
                          avro_schema_t rs, const ks__json_t *rd,
                          avro_value_t *src, avro_value_t *dst, int depth) {
        const ks__json_t *fields = ks__json_get(rd, "fields");
        size_t n = avro_schema_record_size(rs);
        for (size_t i = 0; i < n; i++) {
                const char *fname = avro_schema_record_field_name(rs, (int)i);
                avro_schema_t rf =
                        avro_schema_record_field_get_by_index(rs, (int)i);
                const ks__json_t *fd =
                        fields && fields->type == KS_JSON_ARRAY &&
                                        i < fields->cnt
                                ? fields->items[i]
                                : NULL;
                avro_value_t dv, sv;
                if (dst && avro_value_get_by_index(dst, i, &dv, NULL))
                        return ks__avro_walk_fail(
                                w, "cannot reach field \"%s\"", fname);
                int j = avro_schema_record_field_get_index(ws, fname);
                if (j >= 0) {
                        if (src &&
                            avro_value_get_by_index(src, (size_t)j, &sv, NULL))
                                return ks__avro_walk_fail(
                                        w, "cannot reach field \"%s\"", fname);
                        if (resolve(w,
                                    avro_schema_record_field_get_by_index(ws,
                                                                          j),
                                    rf, ks__json_get(fd, "type"),
                                    src ? &sv : NULL, dst ? &dv : NULL,
                                    depth + 1)) {
                                /* Say where, keeping the inner reason. */
                                char inner[256];
                                snprintf(inner, sizeof(inner), "%s", w->why);
                                return ks__avro_walk_fail(
                                        w,
                                        "field \"%s\" of record \"%s\": "
                                        "%s",
                                        fname, avro_schema_name(rs), inner);
                        }
                        continue;
                }
                const ks__json_t *def = ks__json_get(fd, "default");
                if (!def)
                        return ks__avro_walk_fail(
                                w,
                                "reader field \"%s\" of record \"%s\" is "
                                "not in the writer schema and has no "
                                "default",
                                fname, avro_schema_name(rs));
                char what[160];
                snprintf(what, sizeof(what), "field \"%s\" of record \"%s\"",
                         fname, avro_schema_name(rs));
                /* Without a value (building) this checks that the default
                 * fits, so a bad default fails now rather than on data. */
                if (ks__avro_default_apply(w, rf, ks__json_get(fd, "type"), def,
                                           dst ? &dv : NULL, what, 0))
                        return -1;
        }
        return 0;
}

static int resolve(ks__avro_walk_t *w, avro_schema_t ws, avro_schema_t rs,
                   const ks__json_t *rd, avro_value_t *src, avro_value_t *dst,
                   int depth) {
        ws = ks__avro_schema_deref(ws);
        rs = ks__avro_schema_deref(rs);
        rd = ks__avro_json_deref(w->r, rd);
        if (!src && depth > CHECK_DEPTH)
                return 0;
        avro_type_t wt = avro_typeof(ws), rt = avro_typeof(rs);
        if (wt == AVRO_UNION) {
                size_t n = avro_schema_union_size(ws);
                if (src) {
                        int disc;
                        avro_value_t b;
                        if (avro_value_get_discriminant(src, &disc) ||
                            avro_value_get_current_branch(src, &b))
                                return ks__avro_walk_fail(
                                        w, "writer union has no branch");
                        return resolve(w, avro_schema_union_branch(ws, disc),
                                       rs, rd, &b, dst, depth + 1);
                }
                /* A writer branch the reader cannot read fails on data that
                 * uses it (as the specification says); a union none of whose
                 * branches resolve fails now. */
                int any = 0;
                for (size_t i = 0; i < n && !any; i++)
                        any = !resolve(w, avro_schema_union_branch(ws, (int)i),
                                       rs, rd, NULL, NULL, depth + 1);
                return any ? 0
                           : ks__avro_walk_fail(
                                     w,
                                     "no branch of the writer union resolves "
                                     "to the reader's %s",
                                     ks__avro_type_name(rs));
        }
        if (rt == AVRO_UNION) {
                size_t n = avro_schema_union_size(rs);
                int pick = -1;
                for (int pass = 1; pass <= 2 && pick < 0; pass++)
                        for (size_t i = 0; i < n && pick < 0; i++)
                                if (matches(ws,
                                            ks__avro_schema_deref(
                                                    avro_schema_union_branch(
                                                            rs, (int)i))) ==
                                    pass)
                                        pick = (int)i;
                if (pick < 0)
                        return ks__avro_walk_fail(
                                w,
                                "writer type %s matches no branch of the "
                                "reader union",
                                ks__avro_type_name(ws));
                avro_value_t b;
                if (dst && avro_value_set_branch(dst, pick, &b))
                        return ks__avro_walk_fail(w,
                                                  "cannot set a union branch");
                const ks__json_t *bd = rd && rd->type == KS_JSON_ARRAY &&
                                                       (size_t)pick < rd->cnt
                                               ? rd->items[pick]
                                               : NULL;
                return resolve(w, ws, avro_schema_union_branch(rs, pick), bd,
                               src, dst ? &b : NULL, depth + 1);
        }
        if (!matches(ws, rs))
                return ks__avro_walk_fail(
                        w, "writer type %s cannot be read as %s",
                        ks__avro_type_name(ws), ks__avro_type_name(rs));
        switch (rt) {
        case AVRO_RECORD:
                return resolve_record(w, ws, rs, rd, src, dst, depth);
        case AVRO_ENUM: {
                if (!src)
                        return 0;
                int idx;
                if (avro_value_get_enum(src, &idx))
                        return ks__avro_walk_fail(w, "cannot read an enum");
                const char *sym = avro_schema_enum_get(ws, idx);
                int ri = sym ? avro_schema_enum_get_by_name(rs, sym) : -1;
                if (ri < 0) {
                        const char *d = ks__json_get_str(rd, "default");
                        ri = d ? avro_schema_enum_get_by_name(rs, d) : -1;
                }
                if (ri < 0)
                        return ks__avro_walk_fail(
                                w,
                                "enum symbol \"%s\" is not in the reader's "
                                "enum %s, which has no default",
                                sym ? sym : "?", ks__avro_type_name(rs));
                return avro_value_set_enum(dst, ri);
        }
        case AVRO_FIXED: {
                if (avro_schema_fixed_size(ws) != avro_schema_fixed_size(rs))
                        return ks__avro_walk_fail(
                                w,
                                "fixed %s has size %lld in the writer "
                                "and %lld in the reader",
                                ks__avro_type_name(rs),
                                (long long)avro_schema_fixed_size(ws),
                                (long long)avro_schema_fixed_size(rs));
                if (!src)
                        return 0;
                const void *buf;
                size_t n;
                return avro_value_get_fixed(src, &buf, &n) ||
                                       avro_value_set_fixed(dst, (void *)buf, n)
                               ? ks__avro_walk_fail(w, "cannot copy a fixed")
                               : 0;
        }
        case AVRO_ARRAY: {
                avro_schema_t wi = avro_schema_array_items(ws);
                avro_schema_t ri = avro_schema_array_items(rs);
                const ks__json_t *id = ks__json_get(rd, "items");
                if (!src)
                        return resolve(w, wi, ri, id, NULL, NULL, depth + 1);
                size_t n;
                if (avro_value_get_size(src, &n))
                        return ks__avro_walk_fail(w, "cannot size an array");
                for (size_t i = 0; i < n; i++) {
                        avro_value_t s, d;
                        if (avro_value_get_by_index(src, i, &s, NULL) ||
                            avro_value_append(dst, &d, NULL))
                                return ks__avro_walk_fail(w, "out of memory");
                        if (resolve(w, wi, ri, id, &s, &d, depth + 1))
                                return -1;
                }
                return 0;
        }
        case AVRO_MAP: {
                avro_schema_t wv = avro_schema_map_values(ws);
                avro_schema_t rv = avro_schema_map_values(rs);
                const ks__json_t *vd = ks__json_get(rd, "values");
                if (!src)
                        return resolve(w, wv, rv, vd, NULL, NULL, depth + 1);
                size_t n;
                if (avro_value_get_size(src, &n))
                        return ks__avro_walk_fail(w, "cannot size a map");
                for (size_t i = 0; i < n; i++) {
                        avro_value_t s, d;
                        const char *key;
                        if (avro_value_get_by_index(src, i, &s, &key) ||
                            avro_value_add(dst, key, &d, NULL, NULL))
                                return ks__avro_walk_fail(w, "out of memory");
                        if (resolve(w, wv, rv, vd, &s, &d, depth + 1))
                                return -1;
                }
                return 0;
        }
        default:
                break;
        }
        if (!src)
                return 0;
        /* Primitives, with promotions. */
        int32_t i32;
        int64_t i64;
        float f;
        double d;
        int b;
        const void *buf;
        size_t n;
        int rc = 0;
        switch (wt) {
        case AVRO_NULL:
                rc = avro_value_set_null(dst);
                break;
        case AVRO_BOOLEAN:
                rc = avro_value_get_boolean(src, &b) ||
                     avro_value_set_boolean(dst, b);
                break;
        case AVRO_INT32:
                rc = avro_value_get_int(src, &i32);
                i64 = i32;
                goto from_long;
        case AVRO_INT64:
                rc = avro_value_get_long(src, &i64);
        from_long:
                if (rc)
                        break;
                if (rt == AVRO_INT32)
                        rc = avro_value_set_int(dst, (int32_t)i64);
                else if (rt == AVRO_INT64)
                        rc = avro_value_set_long(dst, i64);
                else if (rt == AVRO_FLOAT)
                        rc = avro_value_set_float(dst, (float)i64);
                else
                        rc = avro_value_set_double(dst, (double)i64);
                break;
        case AVRO_FLOAT:
                rc = avro_value_get_float(src, &f);
                if (!rc)
                        rc = rt == AVRO_FLOAT ? avro_value_set_float(dst, f)
                                              : avro_value_set_double(dst, f);
                break;
        case AVRO_DOUBLE:
                rc = avro_value_get_double(src, &d) ||
                     avro_value_set_double(dst, d);
                break;
        case AVRO_STRING:
        case AVRO_BYTES: {
                const char *s;
                if (wt == AVRO_STRING) {
                        rc = avro_value_get_string(src, &s, &n);
                        buf = s;
                        if (!rc && n)
                                n--; /* drop the terminating NUL */
                } else {
                        rc = avro_value_get_bytes(src, &buf, &n);
                }
                if (rc)
                        break;
                if (rt == AVRO_BYTES) {
                        rc = avro_value_set_bytes(dst, (void *)buf, n);
                } else {
                        char *z = malloc(n + 1);
                        if (!z)
                                return ks__avro_walk_fail(w, "out of memory");
                        memcpy(z, buf, n);
                        z[n] = '\0';
                        rc = avro_value_set_string_len(dst, z, n + 1);
                        free(z);
                }
                break;
        }
        default:
                return ks__avro_walk_fail(w, "unsupported type %s",
                                          ks__avro_type_name(ws));
        }
        return rc ? ks__avro_walk_fail(w, "cannot copy a %s",
                                       ks__avro_type_name(ws))
                  : 0;
}

ks__avro_resolver_t *ks__avro_resolver_new(avro_schema_t writer,
                                           avro_schema_t reader,
                                           const char *reader_json, char *why,
                                           size_t why_size) {
        ks__avro_resolver_t *r = calloc(1, sizeof(*r));
        if (!r) {
                snprintf(why, why_size, "out of memory");
                return NULL;
        }
        r->writer = avro_schema_incref(writer);
        r->reader = avro_schema_incref(reader);
        char jwhy[200];
        if (!(r->json = ks__json_parse(reader_json, jwhy, sizeof(jwhy)))) {
                snprintf(why, why_size, "reader schema JSON: %s", jwhy);
                ks__avro_resolver_free(r);
                return NULL;
        }
        if (ks__avro_names_index(r) ||
            !(r->writer_iface = avro_generic_class_from_schema(writer))) {
                snprintf(why, why_size, "out of memory");
                ks__avro_resolver_free(r);
                return NULL;
        }
        ks__avro_walk_t w = {r, why, why_size};
        if (resolve(&w, writer, reader, r->json, NULL, NULL, 0)) {
                ks__avro_resolver_free(r);
                return NULL;
        }
        return r;
}

int ks__avro_resolver_writer_value(ks__avro_resolver_t *r, avro_value_t *v) {
        return avro_generic_value_new(r->writer_iface, v) ? -1 : 0;
}

int ks__avro_resolve(ks__avro_resolver_t *r, avro_value_t *src,
                     avro_value_t *dst, char *why, size_t why_size) {
        ks__avro_walk_t w = {r, why, why_size};
        return resolve(&w, r->writer, r->reader, r->json, src, dst, 0);
}

void ks__avro_resolver_free(ks__avro_resolver_t *r) {
        if (!r)
                return;
        ks__avro_names_free(r);
        ks__json_free(r->json);
        if (r->writer_iface)
                avro_value_iface_decref(r->writer_iface);
        avro_schema_decref(r->writer);
        avro_schema_decref(r->reader);
        free(r);
}
