/* Metric sets and meters (see metrics_int.h), and the two text forms of
 * a set: Prometheus' exposition format and JSON. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics_int.h"

typedef struct {
        const char *group, *name, *help;
        size_t tags; /* offset of "k\0v\0k\0v\0..." in the arena */
        uint16_t ntags;
        double value;
} mentry_t;

struct ks_metrics_s {
        mentry_t *e;
        size_t cnt, cap;
        char *arena;
        size_t alen, acap;
        int failed;
};

#define MAX_TAGS 8

ks_metrics_t *ks__mset_new(void) {
        return calloc(1, sizeof(ks_metrics_t));
}

void ks_metrics_destroy(ks_metrics_t *m) {
        if (!m)
                return;
        free(m->e);
        free(m->arena);
        free(m);
}

int ks__mset_failed(const ks_metrics_t *m) {
        return m->failed;
}

static int arena_put(ks_metrics_t *m, const char *s, size_t n) {
        if (m->alen + n + 1 > m->acap) {
                size_t cap = m->acap ? m->acap * 2 : 1024;
                while (cap < m->alen + n + 1)
                        cap *= 2;
                char *a = realloc(m->arena, cap);
                if (!a)
                        return -1;
                m->arena = a;
                m->acap = cap;
        }
        memcpy(m->arena + m->alen, s, n);
        m->arena[m->alen + n] = '\0';
        m->alen += n + 1;
        return 0;
}

static mentry_t *grow(ks_metrics_t *m) {
        if (m->cnt == m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                mentry_t *e = realloc(m->e, cap * sizeof(*e));
                if (!e)
                        return NULL;
                m->e = e;
                m->cap = cap;
        }
        return &m->e[m->cnt];
}

void ks__mset_add(ks_metrics_t *m, const char *group, const char *name,
                  const char *help, double value, const char *const *tags) {
        if (!m || m->failed)
                return;
        mentry_t *e = grow(m);
        if (!e) {
                m->failed = 1;
                return;
        }
        size_t mark = m->alen;
        uint16_t nt = 0;
        for (size_t i = 0; tags && tags[i] && tags[i + 1] && nt < MAX_TAGS;
             i += 2, nt++)
                if (arena_put(m, tags[i], strlen(tags[i])) ||
                    arena_put(m, tags[i + 1], strlen(tags[i + 1]))) {
                        m->alen = mark;
                        m->failed = 1;
                        return;
                }
        *e = (mentry_t){group, name, help, mark, nt, value};
        m->cnt++;
}

void ks__mset_append(ks_metrics_t *dst, const ks_metrics_t *src) {
        if (!dst || !src)
                return;
        for (size_t i = 0; i < src->cnt && !dst->failed; i++) {
                const mentry_t *e = &src->e[i];
                const char *tags[2 * MAX_TAGS + 1];
                const char *p = src->arena ? src->arena + e->tags : NULL;
                for (size_t j = 0; j < 2u * e->ntags; j++) {
                        tags[j] = p;
                        p += strlen(p) + 1;
                }
                tags[2 * e->ntags] = NULL;
                ks__mset_add(dst, e->group, e->name, e->help, e->value, tags);
        }
        if (src->failed)
                dst->failed = 1;
}

ks_metrics_t *ks__mset_copy(const ks_metrics_t *m) {
        ks_metrics_t *c = ks__mset_new();
        if (!c)
                return NULL;
        ks__mset_append(c, m);
        if (c->failed) {
                ks_metrics_destroy(c);
                return NULL;
        }
        return c;
}

size_t ks_metrics_count(const ks_metrics_t *m) {
        return m ? m->cnt : 0;
}

ks_err_t ks_metrics_get(const ks_metrics_t *m, size_t i, const char **name,
                        const char **group, const char **description,
                        double *value) {
        if (!m || i >= m->cnt)
                return KS_ERR_INVALID_ARG;
        const mentry_t *e = &m->e[i];
        if (name)
                *name = e->name;
        if (group)
                *group = e->group;
        if (description)
                *description = e->help;
        if (value)
                *value = e->value;
        return KS_ERR_NO_ERROR;
}

size_t ks_metrics_tag_count(const ks_metrics_t *m, size_t i) {
        return m && i < m->cnt ? m->e[i].ntags : 0;
}

ks_err_t ks_metrics_tag(const ks_metrics_t *m, size_t i, size_t j,
                        const char **key, const char **value) {
        if (!m || i >= m->cnt || j >= m->e[i].ntags)
                return KS_ERR_INVALID_ARG;
        const char *p = m->arena + m->e[i].tags;
        for (size_t k = 0; k < 2 * j; k++)
                p += strlen(p) + 1;
        if (key)
                *key = p;
        if (value)
                *value = p + strlen(p) + 1;
        return KS_ERR_NO_ERROR;
}

static int has_tag(const ks_metrics_t *m, size_t i, const char *k,
                   const char *v) {
        for (size_t j = 0; j < m->e[i].ntags; j++) {
                const char *tk, *tv;
                ks_metrics_tag(m, i, j, &tk, &tv);
                if (!strcmp(tk, k) && !strcmp(tv, v))
                        return 1;
        }
        return 0;
}

ks_err_t ks_metrics_find(const ks_metrics_t *m, const char *group,
                         const char *name, const char *const *tags,
                         double *value) {
        for (size_t i = 0; m && group && name && i < m->cnt; i++) {
                if (strcmp(m->e[i].group, group) || strcmp(m->e[i].name, name))
                        continue;
                int all = 1;
                for (size_t k = 0; all && tags && tags[k] && tags[k + 1];
                     k += 2)
                        all = has_tag(m, i, tags[k], tags[k + 1]);
                if (all) {
                        if (value)
                                *value = m->e[i].value;
                        return KS_ERR_NO_ERROR;
                }
        }
        return KS_ERR_NOT_FOUND;
}

/* --- text ----------------------------------------------------------------- */

typedef struct {
        char *p;
        size_t len, cap;
        int failed;
} buf_t;

static void put(buf_t *b, const char *s, size_t n) {
        if (b->failed)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 4096;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->failed = 1;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) {
        put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(buf_t *b,
                                                       const char *fmt, ...) {
        char tmp[128];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                put(b, tmp,
                    (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static char *finish(buf_t *b, size_t *len) {
        if (b->failed || !b->p) {
                free(b->p);
                return NULL;
        }
        if (len)
                *len = b->len;
        return b->p;
}

/* A name as Prometheus wants it: [a-zA-Z0-9_], not starting with a digit
 * (the prefix sees to that). */
static void put_pname(buf_t *b, const char *s) {
        for (; *s; s++) {
                char c = *s;
                int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_';
                put(b, ok ? &c : "_", 1);
        }
}

/* "stream-thread-metrics" -> "stream_thread" */
static void put_family(buf_t *b, const mentry_t *e) {
        puts_(b, "kstreams_");
        size_t gl = strlen(e->group);
        static const char suffix[] = "-metrics";
        char g[128];
        if (gl >= sizeof(suffix) - 1 &&
            !strcmp(e->group + gl - (sizeof(suffix) - 1), suffix))
                gl -= sizeof(suffix) - 1;
        snprintf(g, sizeof(g), "%.*s", (int)gl, e->group);
        put_pname(b, g);
        puts_(b, "_");
        put_pname(b, e->name);
}

/* The length of the valid UTF-8 sequence at @p s (1 to 4), 0 if it is
 * none (NUL-terminated: a NUL ends a sequence as an invalid byte). */
static size_t utf8_len(const unsigned char *s) {
        size_t n;
        uint32_t min, cp;
        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, min = 0x80;
        else if ((s[0] & 0xf0) == 0xe0)
                n = 3, min = 0x800;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, min = 0x10000;
        else
                return 0;
        cp = s[0] & (0x7fu >> n);
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3fu);
        }
        return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0
                                                                           : n;
}

/* Put the UTF-8 character at @p s, or U+FFFD for a byte that starts none
 * (both formats are UTF-8: a tag from a client.id in another encoding
 * must not make a whole scrape unreadable); how many bytes it took. */
static size_t put_utf8(buf_t *b, const char *s) {
        size_t n = utf8_len((const unsigned char *)s);
        if (n)
                put(b, s, n);
        else
                puts_(b, "\xEF\xBF\xBD");
        return n ? n : 1;
}

static void put_escaped(buf_t *b, const char *s, int quote) {
        while (*s) {
                if (*s == '\\')
                        puts_(b, "\\\\");
                else if (*s == '\n')
                        puts_(b, "\\n");
                else if (*s == '"' && quote)
                        puts_(b, "\\\"");
                else {
                        s += put_utf8(b, s);
                        continue;
                }
                s++;
        }
}

static void put_double(buf_t *b, double v) {
        if (isnan(v))
                puts_(b, "NaN");
        else if (isinf(v))
                puts_(b, v > 0 ? "+Inf" : "-Inf");
        else if (fabs(v) < 9e15 && v == (double)(int64_t)v) /* in range */
                putf(b, "%lld", (long long)v);
        else
                putf(b, "%.17g", v);
}

static int is_counter(const mentry_t *e) {
        size_t n = strlen(e->name);
        return n > 6 && !strcmp(e->name + n - 6, "-total");
}

/* By family, then in the set's order (entries are in one array). */
static int family_cmp(const void *a, const void *b) {
        const mentry_t *x = *(const mentry_t *const *)a;
        const mentry_t *y = *(const mentry_t *const *)b;
        int c = strcmp(x->group, y->group);
        if (!c)
                c = strcmp(x->name, y->name);
        if (!c)
                c = x < y ? -1 : x > y;
        return c;
}

char *ks__mset_prometheus(const ks_metrics_t *m, size_t *len) {
        buf_t b = {0};
        const mentry_t **order = malloc((m->cnt ? m->cnt : 1) * sizeof(*order));
        if (!order)
                return NULL;
        for (size_t i = 0; i < m->cnt; i++)
                order[i] = &m->e[i];
        /* The samples of one family must be together. */
        qsort(order, m->cnt, sizeof(*order), family_cmp);
        const mentry_t *prev = NULL;
        for (size_t k = 0; k < m->cnt; k++) {
                const mentry_t *e = order[k];
                if (!prev || strcmp(prev->group, e->group) ||
                    strcmp(prev->name, e->name)) {
                        puts_(&b, "# HELP ");
                        put_family(&b, e);
                        puts_(&b, " ");
                        put_escaped(&b, e->help ? e->help : e->name, 0);
                        puts_(&b, "\n# TYPE ");
                        put_family(&b, e);
                        puts_(&b, is_counter(e) ? " counter\n" : " gauge\n");
                }
                prev = e;
                put_family(&b, e);
                const char *p = m->arena ? m->arena + e->tags : NULL;
                for (size_t j = 0; j < e->ntags; j++) {
                        puts_(&b, j ? "," : "{");
                        put_pname(&b, p);
                        p += strlen(p) + 1;
                        puts_(&b, "=\"");
                        put_escaped(&b, p, 1);
                        p += strlen(p) + 1;
                        puts_(&b, "\"");
                }
                puts_(&b, e->ntags ? "} " : " ");
                put_double(&b, e->value);
                puts_(&b, "\n");
        }
        free(order);
        if (!b.p)
                puts_(&b, "");
        return finish(&b, len);
}

static void put_json_str(buf_t *b, const char *s) {
        puts_(b, "\"");
        while (*s) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\') {
                        char esc[2] = {'\\', (char)c};
                        put(b, esc, 2);
                } else if (c < 0x20) {
                        putf(b, "\\u%04x", c);
                } else {
                        s += put_utf8(b, s);
                        continue;
                }
                s++;
        }
        puts_(b, "\"");
}

char *ks__mset_json(const ks_metrics_t *m, int64_t time_ms, size_t *len) {
        buf_t b = {0};
        putf(&b, "{\"time_ms\":%lld,\"metrics\":[", (long long)time_ms);
        for (size_t i = 0; i < m->cnt; i++) {
                const mentry_t *e = &m->e[i];
                puts_(&b, i ? ",{\"group\":" : "{\"group\":");
                put_json_str(&b, e->group);
                puts_(&b, ",\"name\":");
                put_json_str(&b, e->name);
                puts_(&b, ",\"tags\":{");
                const char *p = m->arena ? m->arena + e->tags : NULL;
                for (size_t j = 0; j < e->ntags; j++) {
                        if (j)
                                puts_(&b, ",");
                        put_json_str(&b, p);
                        p += strlen(p) + 1;
                        puts_(&b, ":");
                        put_json_str(&b, p);
                        p += strlen(p) + 1;
                }
                puts_(&b, "},\"value\":");
                if (isfinite(e->value))
                        put_double(&b, e->value);
                else
                        puts_(&b, "null");
                puts_(&b, "}");
        }
        puts_(&b, "]}");
        return finish(&b, len);
}

/* --- meters --------------------------------------------------------------- */

void ks__meter_tick(ks__meter_t *m, int64_t now_ms) {
        m->head = (m->head + 1) % KS__METER_SLOTS;
        m->t[m->head] = now_ms;
        m->c[m->head] = m->count;
        m->s[m->head] = m->sum_ns;
        m->mx[m->head] = m->max_ns;
        m->max_ns = 0;
        if (m->n < KS__METER_SLOTS)
                m->n++;
}

/* The oldest closed slot. */
static int oldest(const ks__meter_t *m) {
        return (m->head - m->n + 1 + KS__METER_SLOTS) % KS__METER_SLOTS;
}

double ks__meter_rate(const ks__meter_t *m, int64_t now_ms) {
        if (m->n < 2)
                return 0;
        int o = oldest(m);
        int64_t dt = now_ms - m->t[o];
        return dt > 0 ? (double)(m->count - m->c[o]) * 1000.0 / (double)dt : 0;
}

double ks__meter_avg_ms(const ks__meter_t *m) {
        if (!m->n)
                return 0;
        int o = oldest(m);
        int64_t c = m->count - m->c[o];
        return c > 0 ? (double)(m->sum_ns - m->s[o]) / (double)c / 1e6 : 0;
}

double ks__meter_max_ms(const ks__meter_t *m) {
        int64_t mx = m->max_ns;
        for (int k = 0; k < m->n; k++) {
                int i = (m->head - k + KS__METER_SLOTS) % KS__METER_SLOTS;
                if (m->mx[i] > mx)
                        mx = m->mx[i];
        }
        return (double)mx / 1e6;
}

int64_t ks__now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
