/* Small helpers shared by every subsystem. */
#include "util_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *ks__strdup(const char *s) {
        if (!s)
                return NULL;
        size_t n = strlen(s) + 1;
        char *d = malloc(n);
        if (d)
                memcpy(d, s, n);
        return d;
}

char *ks__vstrdupf(const char *fmt, va_list ap) {
        va_list ap2;
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (n < 0)
                n = 0;
        char *s = malloc((size_t)n + 1);
        if (s)
                vsnprintf(s, (size_t)n + 1, fmt, ap);
        return s;
}

void ks__strv_free(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

char **ks__strv_dup(const char *const *v, size_t n) {
        char **d = n ? calloc(n, sizeof(*d)) : NULL;
        if (!d)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (!(d[i] = ks__strdup(v[i]))) {
                        ks__strv_free(d, i);
                        return NULL;
                }
        }
        return d;
}

void *ks__memdup(const void *p, size_t len) {
        if (!len)
                return NULL;
        void *d = malloc(len);
        if (d)
                memcpy(d, p, len);
        return d;
}

ks_err_t ks__topic_name_check(const char *name, const char *what,
                              ks_error_t **errp) {
        if (!name || !*name)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "%s must not be empty", what);
        size_t len = strlen(name);
        if (len > 249)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "%s \"%.40s...\" is %zu characters long, "
                                     "Kafka allows at most 249",
                                     what, name, len);
        if (!strcmp(name, ".") || !strcmp(name, ".."))
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "%s \"%s\" is not allowed by Kafka", what,
                                     name);
        for (const char *p = name; *p; p++) {
                char c = *p;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
                        continue;
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "%s \"%s\" contains '%c': Kafka names "
                                     "allow only [a-zA-Z0-9._-]",
                                     what, name, c);
        }
        return KS_ERR_NO_ERROR;
}

/* FNV-1a with @p basis and @p prime, in arithmetic modulo @p mask + 1. */
static uint64_t fnv1a(uint64_t basis, uint64_t prime, uint64_t mask,
                      const void *p, size_t n) {
        const unsigned char *b = p;
        uint64_t h = basis;
        for (size_t i = 0; i < n; i++)
                h = ((h ^ b[i]) * prime) & mask;
        return h;
}

uint32_t ks__fnv1a32(const void *p, size_t n) {
        return (uint32_t)fnv1a(2166136261u, 16777619u, UINT32_MAX, p, n);
}

uint64_t ks__fnv1a64(const void *p, size_t n) {
        return fnv1a(14695981039346656037ULL, 1099511628211ULL, UINT64_MAX, p,
                     n);
}

int64_t ks__now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ks__wallclock_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ks__deadline(struct timespec *ts, int64_t ms) {
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += (time_t)(ms / 1000);
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}
