/* Recursive-descent JSON parser (RFC 8259) building a ks__json_t tree. */
#include "json_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128

typedef struct {
        const char *p, *start;
        char *why;
        size_t why_size;
        int failed;
} parser_t;

static ks__json_t *fail(parser_t *ps, const char *fmt, ...) {
        if (!ps->failed) {
                char msg[160];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
                snprintf(ps->why, ps->why_size, "%s at offset %zu", msg,
                         (size_t)(ps->p - ps->start));
        }
        ps->failed = 1;
        return NULL;
}

static void skip_ws(parser_t *ps) {
        while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
               *ps->p == '\r')
                ps->p++;
}

static int hex4(const char *p, unsigned *out) {
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
                char c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned)(c - 'A' + 10);
                else
                        return -1;
        }
        *out = v;
        return 0;
}

static size_t utf8_put(char *o, unsigned cp) {
        if (cp < 0x80) {
                o[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char)(0xC0 | (cp >> 6));
                o[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char)(0xE0 | (cp >> 12));
                o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}

/* Parse a string at ps->p (on the opening quote) into a new buffer. */
static char *parse_string(parser_t *ps, size_t *lenp) {
        const char *p = ps->p + 1;
        /* Decoded output is never longer than the escaped input. */
        const char *end = p;
        while (*end && *end != '"') {
                if (*end == '\\' && end[1])
                        end++;
                end++;
        }
        if (!*end) {
                fail(ps, "unterminated string");
                return NULL;
        }
        char *out = malloc((size_t)(end - p) + 1);
        if (!out) {
                fail(ps, "out of memory");
                return NULL;
        }
        size_t n = 0;
        while (*p != '"') {
                unsigned char c = (unsigned char)*p;
                if (c < 0x20) {
                        ps->p = p;
                        free(out);
                        fail(ps, "control character in string");
                        return NULL;
                }
                if (c != '\\') {
                        out[n++] = (char)c;
                        p++;
                        continue;
                }
                p++;
                unsigned cp;
                switch (*p) {
                case '"':
                        out[n++] = '"';
                        break;
                case '\\':
                        out[n++] = '\\';
                        break;
                case '/':
                        out[n++] = '/';
                        break;
                case 'b':
                        out[n++] = '\b';
                        break;
                case 'f':
                        out[n++] = '\f';
                        break;
                case 'n':
                        out[n++] = '\n';
                        break;
                case 'r':
                        out[n++] = '\r';
                        break;
                case 't':
                        out[n++] = '\t';
                        break;
                case 'u':
                        if (hex4(p + 1, &cp))
                                goto bad_escape;
                        p += 4;
                        if (cp >= 0xD800 && cp < 0xDC00) {
                                unsigned lo;
                                if (p[1] != '\\' || p[2] != 'u' ||
                                    hex4(p + 3, &lo) || lo < 0xDC00 ||
                                    lo > 0xDFFF)
                                        goto bad_escape;
                                cp = 0x10000 + ((cp - 0xD800) << 10) +
                                     (lo - 0xDC00);
                                p += 6;
                        } else if (cp >= 0xDC00 && cp < 0xE000) {
                                goto bad_escape;
                        }
                        n += utf8_put(out + n, cp);
                        break;
                default:
                        goto bad_escape;
                }
                p++;
        }
        out[n] = '\0';
        ps->p = p + 1;
        *lenp = n;
        return out;
bad_escape:
        ps->p = p;
        free(out);
        fail(ps, "bad escape in string");
        return NULL;
}

static ks__json_t *parse_value(parser_t *ps, int depth);

static int push(ks__json_t *j, ks__json_t *item, char *key) {
        ks__json_t **ni = realloc(j->items, (j->cnt + 1) * sizeof(*ni));
        if (!ni)
                return -1;
        j->items = ni;
        if (j->type == KS_JSON_OBJECT) {
                char **nk = realloc(j->keys, (j->cnt + 1) * sizeof(*nk));
                if (!nk)
                        return -1;
                j->keys = nk;
                j->keys[j->cnt] = key;
        }
        j->items[j->cnt++] = item;
        return 0;
}

static ks__json_t *parse_container(parser_t *ps, ks__json_t *j, int depth) {
        int object = j->type == KS_JSON_OBJECT;
        char close = object ? '}' : ']';
        ps->p++;
        skip_ws(ps);
        if (*ps->p == close) {
                ps->p++;
                return j;
        }
        for (;;) {
                char *key = NULL;
                size_t klen;
                skip_ws(ps);
                if (object) {
                        if (*ps->p != '"')
                                return fail(ps, "expected a member name");
                        if (!(key = parse_string(ps, &klen)))
                                return NULL;
                        skip_ws(ps);
                        if (*ps->p != ':') {
                                free(key);
                                return fail(ps, "expected ':'");
                        }
                        ps->p++;
                }
                ks__json_t *item = parse_value(ps, depth + 1);
                if (!item || push(j, item, key)) {
                        free(key);
                        ks__json_free(item);
                        return item ? fail(ps, "out of memory") : NULL;
                }
                skip_ws(ps);
                if (*ps->p == ',') {
                        ps->p++;
                        continue;
                }
                if (*ps->p == close) {
                        ps->p++;
                        return j;
                }
                return fail(ps, "expected ',' or '%c'", close);
        }
}

static ks__json_t *parse_number(parser_t *ps, ks__json_t *j) {
        const char *p = ps->p;
        if (*p == '-')
                p++;
        if (*p < '0' || *p > '9')
                return fail(ps, "unexpected character '%c'", *ps->p);
        int integer = 1;
        while (*p >= '0' && *p <= '9')
                p++;
        if (*p == '.' || *p == 'e' || *p == 'E')
                integer = 0;
        char *end;
        errno = 0;
        j->number = strtod(ps->p, &end);
        if (end == ps->p)
                return fail(ps, "bad number");
        if (integer) {
                errno = 0;
                long long v = strtoll(ps->p, NULL, 10);
                j->is_integer = errno != ERANGE;
                j->integer = (int64_t)v;
        }
        ps->p = end;
        return j;
}

static ks__json_t *parse_value(parser_t *ps, int depth) {
        if (depth > MAX_DEPTH)
                return fail(ps, "nesting deeper than %d", MAX_DEPTH);
        skip_ws(ps);
        ks__json_t *j = calloc(1, sizeof(*j));
        if (!j)
                return fail(ps, "out of memory");
        ks__json_t *r = NULL;
        char c = *ps->p;
        if (c == '{' || c == '[') {
                j->type = c == '{' ? KS_JSON_OBJECT : KS_JSON_ARRAY;
                r = parse_container(ps, j, depth);
        } else if (c == '"') {
                j->type = KS_JSON_STRING;
                j->str = parse_string(ps, &j->str_len);
                r = j->str ? j : NULL;
        } else if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
                j->type = KS_JSON_BOOL;
                j->boolean = c == 't';
                ps->p += j->boolean ? 4 : 5;
                r = j;
        } else if (!strncmp(ps->p, "null", 4)) {
                j->type = KS_JSON_NULL;
                ps->p += 4;
                r = j;
        } else if (!c) {
                r = fail(ps, "unexpected end of text");
        } else {
                j->type = KS_JSON_NUMBER;
                r = parse_number(ps, j);
        }
        if (!r)
                ks__json_free(j);
        return r;
}

ks__json_t *ks__json_parse(const char *text, char *why, size_t why_size) {
        parser_t ps = {text, text, why, why_size, 0};
        if (!text) {
                snprintf(why, why_size, "no text");
                return NULL;
        }
        ks__json_t *j = parse_value(&ps, 0);
        if (!j)
                return NULL;
        skip_ws(&ps);
        if (*ps.p) {
                ks__json_free(j);
                fail(&ps, "trailing characters");
                return NULL;
        }
        return j;
}

void ks__json_free(ks__json_t *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->cnt; i++) {
                ks__json_free(j->items[i]);
                if (j->keys)
                        free(j->keys[i]);
        }
        free(j->items);
        free(j->keys);
        free(j->str);
        free(j);
}

const ks__json_t *ks__json_get(const ks__json_t *j, const char *key) {
        if (!j || j->type != KS_JSON_OBJECT)
                return NULL;
        for (size_t i = 0; i < j->cnt; i++)
                if (!strcmp(j->keys[i], key))
                        return j->items[i];
        return NULL;
}

const char *ks__json_get_str(const ks__json_t *j, const char *key) {
        const ks__json_t *v = ks__json_get(j, key);
        return v && v->type == KS_JSON_STRING ? v->str : NULL;
}
