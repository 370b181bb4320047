/* The commit metadata codec (see commit_meta_int.h). */
#include "commit_meta_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "ks2"

/* ";" + index (at most 20 digits) + "=" + position (at most 19 digits). */
#define ENTRY_MAX 41
/* "ks2;" + tag ";" + "<sub>_<partition>" (at most 11 + 1 + 11). */
#define HEAD_MAX 40

size_t ks__commit_meta_max(size_t store_cnt) {
        return HEAD_MAX + ENTRY_MAX * store_cnt + 1;
}

size_t ks__commit_meta_encode(char *buf, size_t cap, uint32_t tag, int sub,
                              int32_t partition, const int64_t *pos, size_t n) {
        int w = snprintf(buf, cap, MAGIC ";%08" PRIx32 ";%d_%" PRId32, tag, sub,
                         partition);
        if (w < 0 || (size_t)w >= cap)
                return 0;
        size_t len = (size_t)w;
        for (size_t i = 0; i < n; i++) {
                if (pos[i] < 0)
                        continue;
                w = snprintf(buf + len, cap - len, ";%zu=%" PRId64, i, pos[i]);
                if (w < 0 || (size_t)w >= cap - len)
                        return 0;
                len += (size_t)w;
        }
        return len;
}

/* Read a decimal number of at most @p max_digits digits, no sign, no
 * leading zeros (but "0"), at most @p max; advance *pp. -1 if none. */
static int64_t number(const char **pp, const char *end, int64_t max) {
        const char *p = *pp;
        int64_t v = 0;
        size_t digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
                int d = *p - '0';
                if (digits == 1 && v == 0)
                        return -1; /* leading zero */
                if (v > (max - d) / 10)
                        return -1;
                v = v * 10 + d;
                digits++;
                p++;
        }
        if (!digits)
                return -1;
        *pp = p;
        return v;
}

static int expect(const char **pp, const char *end, const char *s) {
        size_t n = strlen(s);
        if ((size_t)(end - *pp) < n || memcmp(*pp, s, n))
                return -1;
        *pp += n;
        return 0;
}

static int decode(const char *p, const char *end, uint32_t tag, int sub,
                  int32_t partition, int64_t *pos, size_t n) {
        char head[HEAD_MAX];
        snprintf(head, sizeof(head), MAGIC ";%08" PRIx32 ";", tag);
        if (expect(&p, end, head) || number(&p, end, INT32_MAX) != sub ||
            expect(&p, end, "_") || number(&p, end, INT32_MAX) != partition)
                return -1;
        while (p < end) {
                if (expect(&p, end, ";"))
                        return -1;
                int64_t i = number(&p, end, INT32_MAX);
                if (i < 0 || (size_t)i >= n || pos[i] >= 0 ||
                    expect(&p, end, "="))
                        return -1;
                int64_t v = number(&p, end, INT64_MAX);
                if (v < 0)
                        return -1;
                pos[i] = v;
        }
        return 0;
}

int ks__commit_meta_decode(const void *m, size_t len, uint32_t tag, int sub,
                           int32_t partition, int64_t *pos, size_t n) {
        for (size_t i = 0; i < n; i++)
                pos[i] = -1;
        if (!m || len > KS_COMMIT_META_MAX)
                return -1;
        if (!decode(m, (const char *)m + len, tag, sub, partition, pos, n))
                return 0;
        for (size_t i = 0; i < n; i++)
                pos[i] = -1;
        return -1;
}
