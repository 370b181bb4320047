/* The reader schema's JSON side of Avro resolution: the table of named
 * types it defines and the defaults it holds (see avro_resolve_impl_int.h).
 *
 * avro-c drops defaults when it parses a schema, so they are read from the
 * reader's JSON, walked beside its avro_schema_t. A named type used by name
 * is found in a table built once from the whole tree: full names
 * (namespace.name, the namespace inherited from the enclosing definition)
 * mapped to their JSON definitions. A default is checked against its type
 * when the resolver is built and written into a reader value when a datum
 * lacks its field. */
#include "avro_resolve_impl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- named types --------------------------------------------------------- */

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
                ks__avro_named_t *nn =
                        realloc(r->names, (r->name_cnt + 1) * sizeof(*nn));
                if (!nn) {
                        free(full);
                        return -1;
                }
                r->names = nn;
                r->names[r->name_cnt++] = (ks__avro_named_t){full, j};
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

int ks__avro_names_index(ks__avro_resolver_t *r) {
        return collect(r, r->json, NULL, 0);
}

void ks__avro_names_free(ks__avro_resolver_t *r) {
        for (size_t i = 0; i < r->name_cnt; i++)
                free(r->names[i].full);
        free(r->names);
        r->names = NULL;
        r->name_cnt = 0;
}

const ks__json_t *ks__avro_json_deref(const ks__avro_resolver_t *r,
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

int ks__avro_default_apply(ks__avro_walk_t *w, avro_schema_t rs,
                           const ks__json_t *rd, const ks__json_t *v,
                           avro_value_t *dst, const char *what, int depth) {
        rs = ks__avro_schema_deref(rs);
        rd = ks__avro_json_deref(w->r, rd);
        if (depth > 256)
                return ks__avro_walk_fail(w, "default of %s nests too deep",
                                          what);
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
                        return ks__avro_walk_fail(w, "out of memory");
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
                                return ks__avro_walk_fail(w, "out of memory");
                        if (ks__avro_default_apply(w, items, id, v->items[i],
                                                   dst ? &e : NULL, what,
                                                   depth + 1))
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
                                return ks__avro_walk_fail(w, "out of memory");
                        if (ks__avro_default_apply(w, values, vd, v->items[i],
                                                   dst ? &e : NULL, what,
                                                   depth + 1))
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
                                return ks__avro_walk_fail(
                                        w,
                                        "default of %s has no value for "
                                        "field \"%s\"",
                                        what, fname);
                        avro_value_t e;
                        if (dst && avro_value_get_by_index(dst, i, &e, NULL))
                                return ks__avro_walk_fail(
                                        w, "cannot reach field \"%s\"", fname);
                        if (ks__avro_default_apply(
                                    w,
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
                        return ks__avro_walk_fail(w,
                                                  "cannot set a union branch");
                const ks__json_t *bd =
                        rd && rd->type == KS_JSON_ARRAY && rd->cnt
                                ? rd->items[0]
                                : NULL;
                return ks__avro_default_apply(
                        w, avro_schema_union_branch(rs, 0), bd, v,
                        dst ? &b : NULL, what, depth + 1);
        }
        default:
                bad = 1;
        }
        (void)bad;
        return ks__avro_walk_fail(w, "default of %s does not fit its type %s",
                                  what, ks__avro_type_name(rs));
}
