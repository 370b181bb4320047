/* Small helpers shared by every subsystem: strings, names, byte order. */
#ifndef KS_UTIL_INT_H
#define KS_UTIL_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "kstreams/common.h"
#include "error_int.h"

#define KS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** strdup that tolerates NULL (returns NULL). */
char *ks__strdup(const char *s);

/** A new string formatted from @p fmt and @p ap, as long as it needs to
 *  be (NULL when out of memory). @p ap is used up, as by vsnprintf(). */
char *ks__vstrdupf(const char *fmt, va_list ap) KS_PRINTF(1, 0);

/** Free the @p n strings of array @p v, then @p v (NULL: no-op). Entries
 *  may be NULL. */
void ks__strv_free(char **v, size_t n);

/** A malloc'd array of copies of the @p n strings of @p v, freed with
 *  ks__strv_free(); NULL when out of memory or @p n is 0. */
char **ks__strv_dup(const char *const *v, size_t n);

/** Copy of a byte range (NULL for len 0 or on OOM; check with the source). */
void *ks__memdup(const void *p, size_t len);

/**
 * Check @p name against Kafka's topic-name rules (1..249 characters of
 * [a-zA-Z0-9._-], not "." or ".."). @p what names the thing for the message.
 */
ks_err_t ks__topic_name_check(const char *name, const char *what,
                              ks_error_t **errp);

/** 32-bit FNV-1a hash of @p n bytes (hash tables). */
uint32_t ks__fnv1a32(const void *p, size_t n);

/** 64-bit FNV-1a hash of @p n bytes. Its values travel between instances
 *  (the foreign-key join's value hashes): never change it. */
uint64_t ks__fnv1a64(const void *p, size_t n);

/** Monotonic wall-clock milliseconds. */
int64_t ks__now_ms(void);

/** Wall-clock (epoch) milliseconds, the time wall-clock punctuation uses. */
int64_t ks__wallclock_ms(void);

struct timespec;

/** @p ts = now + @p ms on CLOCK_REALTIME, for pthread_cond_timedwait(). */
void ks__deadline(struct timespec *ts, int64_t ms);

static inline void ks__be32_put(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static inline uint32_t ks__be32_get(const uint8_t *p) {
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
               ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void ks__be64_put(uint8_t *p, uint64_t v) {
        ks__be32_put(p, (uint32_t)(v >> 32));
        ks__be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t ks__be64_get(const uint8_t *p) {
        return ((uint64_t)ks__be32_get(p) << 32) | ks__be32_get(p + 4);
}

/** @p a + @p b for timestamps and durations (ms): saturates at INT64_MIN
 *  and INT64_MAX instead of overflowing. */
static inline int64_t ks__ts_add(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

/** @p a - @p b for timestamps and durations (ms), saturating as
 *  ks__ts_add(). */
static inline int64_t ks__ts_sub(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_sub_overflow(a, b, &r))
                return b < 0 ? INT64_MAX : INT64_MIN;
        return r;
}

/** Lexicographic byte comparison, shorter prefix first (RocksDB's order). */
static inline int ks__bytes_cmp(const void *a, size_t alen, const void *b,
                                size_t blen) {
        size_t n = alen < blen ? alen : blen;
        int c = n ? memcmp(a, b, n) : 0;
        if (c)
                return c;
        return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

#endif
