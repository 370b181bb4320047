/* Writer-to-reader resolution with reader defaults (see avro_resolve_int.h).
 *
 * One recursive walk serves both building (no values: check that the schemas
 * resolve and that every default fits its field) and decoding (copy from the
 * writer value into the reader value). Beside the reader's avro_schema_t it
 * walks the reader's JSON tree, which is where the defaults live; named
 * types referenced by name are looked up in a table built from that tree. */
#include "avro_resolve_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"

/* Checking stops descending here: recursive schemas have been checked once
 * around their cycle by then. Decoding depth is bounded by the data, whose
 * nesting avro_check.c caps. */
#define CHECK_DEPTH 64

typedef struct {
        char *full; /* namespace.name */
        const ks__json_t *def;
} named_t;

struct ks__avro_resolver_s {
        avro_schema_t writer, reader;
        avro_value_iface_t *writer_iface;
        ks__json_t *json;
        named_t *names;
        size_t name_cnt;
};

typedef struct {
        ks__avro_resolver_t *r;
        char *why;
        size_t why_size;
} walk_t;

static int fail(walk_t *w, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->why, w->why_size, fmt, ap);
        va_end(ap);
        return -1;
}

static const char *const PRIMITIVES[] = {"null",  "boolean", "int",
                                         "long",  "float",   "double",
                                         "bytes", "string",  NULL};

static int is_primitive(const char *s) {
        for (size_t i = 0; PRIMITIVES[i]; i++)
                if (!strcmp(s, PRIMITIVES[i]))
                        return 1;
        return 0;
}

static int is_named_kind(const char *t) {
        return t && (!strcmp(t, "record") || !strcmp(t, "error") ||
                     !strcmp(t, "enum") || !strcmp(t, "fixed"));
}

/* Record every named type definition of the tree under @p j. */
static int collect(ks__avro_resolver_t *r, const ks__json_t *j, const char *ns,
                   int depth) {
        if (!j || depth > 256)
                return 0;
        if (j->type == KS_JSON_ARRAY) {
                for (size_t i = 0; i < j->cnt; i++)
                        if (collect(r, j->items[i], ns, depth + 1))
                                return -1;
                return 0;
        }
        if (j->type != KS_JSON_OBJECT)
                return 0;
        const char *type = ks__json_get_str(j, "type");
        const char *name = ks__json_get_str(j, "name");
        /* The namespace children inherit. */
        char nsbuf[512];
        snprintf(nsbuf, sizeof(nsbuf), "%s", ns ? ns : "");
        if (is_named_kind(type) && name) {
                const char *space = ks__json_get_str(j, "namespace");
                if (!space)
                        space = ns;
                size_t n = strlen(name) + (space ? strlen(space) : 0) + 2;
                char *full = malloc(n);
                if (!full)
                        return -1;
                if (strchr(name, '.') || !space || !*space)
                        snprintf(full, n, "%s", name);
                else
                        snprintf(full, n, "%s.%s", space, name);
                named_t *nn =
                        realloc(r->names, (r->name_cnt + 1) * sizeof(*nn));
                if (!nn) {
                        free(full);
                        return -1;
                }
                r->names = nn;
                r->names[r->name_cnt++] = (named_t){full, j};
                const char *dot = strrchr(full, '.');
                snprintf(nsbuf, sizeof(nsbuf), "%.*s",
                         dot ? (int)(dot - full) : 0, full);
        }
        const ks__json_t *t = ks__json_get(j, "type");
        if (t && t->type != KS_JSON_STRING && collect(r, t, nsbuf, depth + 1))
                return -1;
        const ks__json_t *fields = ks__json_get(j, "fields");
        for (size_t i = 0;
             fields && fields->type == KS_JSON_ARRAY && i < fields->cnt; i++)
                if (collect(r, ks__json_get(fields->items[i], "type"), nsbuf,
                            depth + 1))
                        return -1;
        if (collect(r, ks__json_get(j, "items"), nsbuf, depth + 1) ||
            collect(r, ks__json_get(j, "values"), nsbuf, depth + 1))
                return -1;
        return 0;
}

static const ks__json_t *lookup(const ks__avro_resolver_t *r,
                                const char *name) {
        for (size_t i = 0; i < r->name_cnt; i++)
                if (!strcmp(r->names[i].full, name))
                        return r->names[i].def;
        /* A simple name used inside its namespace. */
        size_t n = strlen(name);
        for (size_t i = 0; i < r->name_cnt; i++) {
                size_t fl = strlen(r->names[i].full);
                if (fl > n && r->names[i].full[fl - n - 1] == '.' &&
                    !strcmp(r->names[i].full + fl - n, name))
                        return r->names[i].def;
        }
        return NULL;
}

/* The JSON node that defines the schema @p j stands for: references and
 * {"type": {...}} wrappers are followed. */
static const ks__json_t *jderef(const ks__avro_resolver_t *r,
                                const ks__json_t *j) {
        for (int hops = 0; j && hops < 16; hops++) {
                if (j->type == KS_JSON_STRING) {
                        if (is_primitive(j->str))
                                return j;
                        const ks__json_t *d = lookup(r, j->str);
                        if (!d)
                                return j;
                        j = d;
                        continue;
                }
                if (j->type != KS_JSON_OBJECT)
                        return j;
                const ks__json_t *t = ks__json_get(j, "type");
                if (!t)
                        return j;
                if (t->type != KS_JSON_STRING) {
                        j = t;
                        continue;
                }
                if (is_primitive(t->str) || is_named_kind(t->str) ||
                    !strcmp(t->str, "array") || !strcmp(t->str, "map"))
                        return j;
                j = t;
        }
        return j;
}

static avro_schema_t sderef(avro_schema_t s) {
        while (s && avro_typeof(s) == AVRO_LINK)
                s = avro_schema_link_target(s);
        return s;
}

static const char *type_name(avro_schema_t s) {
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

/* --- defaults ----------------------------------------------------------- */

/* Decode the JSON string of a bytes/fixed default: code points 0..255. */
static int bytes_of(const ks__json_t *j, char *out, size_t *lenp) {
        size_t n = 0;
        const unsigned char *p = (const unsigned char *)j->str;
        const unsigned char *end = p + j->str_len;
        while (p < end) {
                unsigned cp;
                if (*p < 0x80) {
                        cp = *p++;
                } else if ((*p & 0xE0) == 0xC0 && p + 1 < end) {
                        cp = ((unsigned)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
                        p += 2;
                } else {
                        return -1;
                }
                if (cp > 255)
                        return -1;
                out[n++] = (char)cp;
        }
        *lenp = n;
        return 0;
}

static int apply_default(walk_t *w, avro_schema_t rs, const ks__json_t *rd,
                         const ks__json_t *v, avro_value_t *dst,
                         const char *what, int depth) {
        rs = sderef(rs);
        rd = jderef(w->r, rd);
        if (depth > 256)
                return fail(w, "default of %s nests too deep", what);
        avro_type_t t = avro_typeof(rs);
        int bad = 0;
        switch (t) {
        case AVRO_NULL:
                if ((bad = v->type != KS_JSON_NULL))
                        break;
                return dst ? avro_value_set_null(dst) : 0;
        case AVRO_BOOLEAN:
                if ((bad = v->type != KS_JSON_BOOL))
                        break;
                return dst ? avro_value_set_boolean(dst, v->boolean) : 0;
        case AVRO_INT32:
                if ((bad = v->type != KS_JSON_NUMBER || !v->is_integer ||
                           v->integer < INT32_MIN || v->integer > INT32_MAX))
                        break;
                return dst ? avro_value_set_int(dst, (int32_t)v->integer) : 0;
        case AVRO_INT64:
                if ((bad = v->type != KS_JSON_NUMBER || !v->is_integer))
                        break;
                return dst ? avro_value_set_long(dst, v->integer) : 0;
        case AVRO_FLOAT:
                if ((bad = v->type != KS_JSON_NUMBER))
                        break;
                return dst ? avro_value_set_float(dst, (float)v->number) : 0;
        case AVRO_DOUBLE:
                if ((bad = v->type != KS_JSON_NUMBER))
                        break;
                return dst ? avro_value_set_double(dst, v->number) : 0;
        case AVRO_STRING:
                if ((bad = v->type != KS_JSON_STRING))
                        break;
                return dst ? avro_value_set_string_len(dst, v->str,
                                                       v->str_len + 1)
                           : 0;
        case AVRO_BYTES:
        case AVRO_FIXED: {
                if ((bad = v->type != KS_JSON_STRING))
                        break;
                char *buf = malloc(v->str_len + 1);
                size_t n;
                if (!buf)
                        return fail(w, "out of memory");
                if (bytes_of(v, buf, &n) ||
                    (t == AVRO_FIXED &&
                     (int64_t)n != avro_schema_fixed_size(rs))) {
                        free(buf);
                        bad = 1;
                        break;
                }
                int rc = 0;
                if (dst)
                        rc = t == AVRO_BYTES
                                     ? avro_value_set_bytes(dst, buf, n)
                                     : avro_value_set_fixed(dst, buf, n);
                free(buf);
                return rc;
        }
        case AVRO_ENUM: {
                int idx = v->type == KS_JSON_STRING
                                  ? avro_schema_enum_get_by_name(rs, v->str)
                                  : -1;
                if ((bad = idx < 0))
                        break;
                return dst ? avro_value_set_enum(dst, idx) : 0;
        }
        case AVRO_ARRAY: {
                if ((bad = v->type != KS_JSON_ARRAY))
                        break;
                avro_schema_t items = avro_schema_array_items(rs);
                const ks__json_t *id = ks__json_get(rd, "items");
                for (size_t i = 0; i < v->cnt; i++) {
                        avro_value_t e;
                        if (dst && avro_value_append(dst, &e, NULL))
                                return fail(w, "out of memory");
                        if (apply_default(w, items, id, v->items[i],
                                          dst ? &e : NULL, what, depth + 1))
                                return -1;
                }
                return 0;
        }
        case AVRO_MAP: {
                if ((bad = v->type != KS_JSON_OBJECT))
                        break;
                avro_schema_t values = avro_schema_map_values(rs);
                const ks__json_t *vd = ks__json_get(rd, "values");
                for (size_t i = 0; i < v->cnt; i++) {
                        avro_value_t e;
                        if (dst &&
                            avro_value_add(dst, v->keys[i], &e, NULL, NULL))
                                return fail(w, "out of memory");
                        if (apply_default(w, values, vd, v->items[i],
                                          dst ? &e : NULL, what, depth + 1))
                                return -1;
                }
                return 0;
        }
        case AVRO_RECORD: {
                if ((bad = v->type != KS_JSON_OBJECT))
                        break;
                const ks__json_t *fields = ks__json_get(rd, "fields");
                size_t n = avro_schema_record_size(rs);
                for (size_t i = 0; i < n; i++) {
                        const char *fname =
                                avro_schema_record_field_name(rs, (int)i);
                        const ks__json_t *fd = fields && i < fields->cnt
                                                       ? fields->items[i]
                                                       : NULL;
                        const ks__json_t *fv = ks__json_get(v, fname);
                        if (!fv)
                                fv = ks__json_get(fd, "default");
                        if (!fv)
                                return fail(w,
                                            "default of %s has no value for "
                                            "field \"%s\"",
                                            what, fname);
                        avro_value_t e;
                        if (dst && avro_value_get_by_index(dst, i, &e, NULL))
                                return fail(w, "cannot reach field \"%s\"",
                                            fname);
                        if (apply_default(w,
                                          avro_schema_record_field_get_by_index(
                                                  rs, (int)i),
                                          ks__json_get(fd, "type"), fv,
                                          dst ? &e : NULL, what, depth + 1))
                                return -1;
                }
                return 0;
        }
        case AVRO_UNION: {
                /* A union's default belongs to its first branch. */
                avro_value_t b;
                if (dst && avro_value_set_branch(dst, 0, &b))
                        return fail(w, "cannot set a union branch");
                const ks__json_t *bd =
                        rd && rd->type == KS_JSON_ARRAY && rd->cnt
                                ? rd->items[0]
                                : NULL;
                return apply_default(w, avro_schema_union_branch(rs, 0), bd, v,
                                     dst ? &b : NULL, what, depth + 1);
        }
        default:
                bad = 1;
        }
        (void)bad;
        return fail(w, "default of %s does not fit its type %s", what,
                    type_name(rs));
}

/* --- resolution --------------------------------------------------------- */

static int resolve(walk_t *w, avro_schema_t ws, avro_schema_t rs,
                   const ks__json_t *rd, avro_value_t *src, avro_value_t *dst,
                   int depth);

static int resolve_record(walk_t *w, avro_schema_t ws, avro_schema_t rs,
                          const ks__json_t *rd, avro_value_t *src,
                          avro_value_t *dst, int depth) {
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
                        return fail(w, "cannot reach field \"%s\"", fname);
                int j = avro_schema_record_field_get_index(ws, fname);
                if (j >= 0) {
                        if (src &&
                            avro_value_get_by_index(src, (size_t)j, &sv, NULL))
                                return fail(w, "cannot reach field \"%s\"",
                                            fname);
                        if (resolve(w,
                                    avro_schema_record_field_get_by_index(ws,
                                                                          j),
                                    rf, ks__json_get(fd, "type"),
                                    src ? &sv : NULL, dst ? &dv : NULL,
                                    depth + 1)) {
                                /* Say where, keeping the inner reason. */
                                char inner[256];
                                snprintf(inner, sizeof(inner), "%s", w->why);
                                return fail(w,
                                            "field \"%s\" of record \"%s\": "
                                            "%s",
                                            fname, avro_schema_name(rs), inner);
                        }
                        continue;
                }
                const ks__json_t *def = ks__json_get(fd, "default");
                if (!def)
                        return fail(w,
                                    "reader field \"%s\" of record \"%s\" is "
                                    "not in the writer schema and has no "
                                    "default",
                                    fname, avro_schema_name(rs));
                char what[160];
                snprintf(what, sizeof(what), "field \"%s\" of record \"%s\"",
                         fname, avro_schema_name(rs));
                /* Without a value (building) this checks that the default
                 * fits, so a bad default fails now rather than on data. */
                if (apply_default(w, rf, ks__json_get(fd, "type"), def,
                                  dst ? &dv : NULL, what, 0))
                        return -1;
        }
        return 0;
}

static int resolve(walk_t *w, avro_schema_t ws, avro_schema_t rs,
                   const ks__json_t *rd, avro_value_t *src, avro_value_t *dst,
                   int depth) {
        ws = sderef(ws);
        rs = sderef(rs);
        rd = jderef(w->r, rd);
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
                                return fail(w, "writer union has no branch");
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
                           : fail(w,
                                  "no branch of the writer union resolves "
                                  "to the reader's %s",
                                  type_name(rs));
        }
        if (rt == AVRO_UNION) {
                size_t n = avro_schema_union_size(rs);
                int pick = -1;
                for (int pass = 1; pass <= 2 && pick < 0; pass++)
                        for (size_t i = 0; i < n && pick < 0; i++)
                                if (matches(ws, sderef(avro_schema_union_branch(
                                                        rs, (int)i))) == pass)
                                        pick = (int)i;
                if (pick < 0)
                        return fail(w,
                                    "writer type %s matches no branch of the "
                                    "reader union",
                                    type_name(ws));
                avro_value_t b;
                if (dst && avro_value_set_branch(dst, pick, &b))
                        return fail(w, "cannot set a union branch");
                const ks__json_t *bd = rd && rd->type == KS_JSON_ARRAY &&
                                                       (size_t)pick < rd->cnt
                                               ? rd->items[pick]
                                               : NULL;
                return resolve(w, ws, avro_schema_union_branch(rs, pick), bd,
                               src, dst ? &b : NULL, depth + 1);
        }
        if (!matches(ws, rs))
                return fail(w, "writer type %s cannot be read as %s",
                            type_name(ws), type_name(rs));
        switch (rt) {
        case AVRO_RECORD:
                return resolve_record(w, ws, rs, rd, src, dst, depth);
        case AVRO_ENUM: {
                if (!src)
                        return 0;
                int idx;
                if (avro_value_get_enum(src, &idx))
                        return fail(w, "cannot read an enum");
                const char *sym = avro_schema_enum_get(ws, idx);
                int ri = sym ? avro_schema_enum_get_by_name(rs, sym) : -1;
                if (ri < 0) {
                        const char *d = ks__json_get_str(rd, "default");
                        ri = d ? avro_schema_enum_get_by_name(rs, d) : -1;
                }
                if (ri < 0)
                        return fail(w,
                                    "enum symbol \"%s\" is not in the reader's "
                                    "enum %s, which has no default",
                                    sym ? sym : "?", type_name(rs));
                return avro_value_set_enum(dst, ri);
        }
        case AVRO_FIXED: {
                if (avro_schema_fixed_size(ws) != avro_schema_fixed_size(rs))
                        return fail(w,
                                    "fixed %s has size %lld in the writer "
                                    "and %lld in the reader",
                                    type_name(rs),
                                    (long long)avro_schema_fixed_size(ws),
                                    (long long)avro_schema_fixed_size(rs));
                if (!src)
                        return 0;
                const void *buf;
                size_t n;
                return avro_value_get_fixed(src, &buf, &n) ||
                                       avro_value_set_fixed(dst, (void *)buf, n)
                               ? fail(w, "cannot copy a fixed")
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
                        return fail(w, "cannot size an array");
                for (size_t i = 0; i < n; i++) {
                        avro_value_t s, d;
                        if (avro_value_get_by_index(src, i, &s, NULL) ||
                            avro_value_append(dst, &d, NULL))
                                return fail(w, "out of memory");
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
                        return fail(w, "cannot size a map");
                for (size_t i = 0; i < n; i++) {
                        avro_value_t s, d;
                        const char *key;
                        if (avro_value_get_by_index(src, i, &s, &key) ||
                            avro_value_add(dst, key, &d, NULL, NULL))
                                return fail(w, "out of memory");
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
                                return fail(w, "out of memory");
                        memcpy(z, buf, n);
                        z[n] = '\0';
                        rc = avro_value_set_string_len(dst, z, n + 1);
                        free(z);
                }
                break;
        }
        default:
                return fail(w, "unsupported type %s", type_name(ws));
        }
        return rc ? fail(w, "cannot copy a %s", type_name(ws)) : 0;
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
        if (collect(r, r->json, NULL, 0) ||
            !(r->writer_iface = avro_generic_class_from_schema(writer))) {
                snprintf(why, why_size, "out of memory");
                ks__avro_resolver_free(r);
                return NULL;
        }
        walk_t w = {r, why, why_size};
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
        walk_t w = {r, why, why_size};
        return resolve(&w, r->writer, r->reader, r->json, src, dst, 0);
}

void ks__avro_resolver_free(ks__avro_resolver_t *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->name_cnt; i++)
                free(r->names[i].full);
        free(r->names);
        ks__json_free(r->json);
        if (r->writer_iface)
                avro_value_iface_decref(r->writer_iface);
        avro_schema_decref(r->writer);
        avro_schema_decref(r->reader);
        free(r);
}
