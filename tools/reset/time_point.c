/* Time points of --to-datetime and --by-duration: an ISO 8601 date and
 * time with an optional zone (UTC without one), and an ISO 8601 duration
 * of days, hours, minutes and seconds.
 *
 * Both are parsed by hand, strictly (every field its digits and range,
 * nothing left over), into milliseconds with overflow checks: the
 * conversion from a civil date counts days from the epoch itself rather
 * than depending on the process's time zone. */
#include "reset_int.h"

#include <string.h>

/* @p n digits at *@p sp into *@p vp, advancing. 0 or -1. */
static int digits(const char **sp, int n, int *vp) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                char c = (*sp)[i];
                if (c < '0' || c > '9')
                        return -1;
                v = v * 10 + (c - '0');
        }
        *sp += n;
        *vp = v;
        return 0;
}

static int expect(const char **sp, char c) {
        if (**sp != c)
                return -1;
        (*sp)++;
        return 0;
}

static int leap(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m) {
        static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to @p y-@p m-@p d (proleptic Gregorian; H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* The zone at *@p sp: its offset east of UTC in minutes. */
static int zone(const char **sp, int *minp) {
        const char *s = *sp;
        *minp = 0;
        if (!*s)
                return 0;
        if (*s == 'Z' && !s[1]) {
                *sp = s + 1;
                return 0;
        }
        if (*s != '+' && *s != '-')
                return -1;
        int sign = *s++ == '-' ? -1 : 1, h, m;
        if (digits(&s, 2, &h) || (*s == ':' && !s[1]))
                return -1;
        if (*s == ':')
                s++;
        if (digits(&s, 2, &m) || h > 23 || m > 59)
                return -1;
        *minp = sign * (h * 60 + m);
        *sp = s;
        return 0;
}

int ks__reset_parse_datetime(const char *s, int64_t *msp) {
        int y, mo, d, h, mi, sec, ms = 0, off;
        if (digits(&s, 4, &y) || expect(&s, '-') || digits(&s, 2, &mo) ||
            expect(&s, '-') || digits(&s, 2, &d) || expect(&s, 'T') ||
            digits(&s, 2, &h) || expect(&s, ':') || digits(&s, 2, &mi) ||
            expect(&s, ':') || digits(&s, 2, &sec))
                return -1;
        if (*s == '.') {
                s++;
                int n = 0;
                while (s[n] >= '0' && s[n] <= '9')
                        n++;
                if (n < 1 || n > 3 || digits(&s, n, &ms))
                        return -1;
                for (; n < 3; n++)
                        ms *= 10;
        }
        if (zone(&s, &off) || *s)
                return -1;
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
            h > 23 || mi > 59 || sec > 59)
                return -1;
        int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
                    sec - (int64_t)off * 60;
        if (t < 0)
                return -1;
        *msp = t * 1000 + ms;
        return 0;
}

/* A number of at most 9 digits at *@p sp (so that no sum of parts can
 * overflow); 0 or -1. */
static int number(const char **sp, int64_t *vp) {
        const char *s = *sp;
        int64_t v = 0;
        int n = 0;
        for (; *s >= '0' && *s <= '9'; s++, n++) {
                if (n == 9)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        if (!n)
                return -1;
        *sp = s;
        *vp = v;
        return 0;
}

int ks__reset_parse_duration(const char *s, int64_t *msp) {
        if (*s++ != 'P' || !*s)
                return -1;
        int64_t total = 0, v;
        int parts = 0;
        if (*s != 'T') {
                if (number(&s, &v) || *s++ != 'D')
                        return -1;
                total = v * 86400000;
                parts++;
        }
        if (*s == 'T') {
                s++;
                /* H, M and S in this order, each at most once. */
                const char units[] = "HMS";
                const int64_t unit_ms[] = {3600000, 60000, 1000};
                int next = 0, tparts = 0;
                while (*s) {
                        int frac = 0, fn = 0;
                        if (number(&s, &v))
                                return -1;
                        if (*s == '.') {
                                s++;
                                while (*s >= '0' && *s <= '9' && fn < 3) {
                                        frac = frac * 10 + (*s++ - '0');
                                        fn++;
                                }
                                if (!fn || *s != 'S')
                                        return -1;
                                for (; fn < 3; fn++)
                                        frac *= 10;
                        }
                        const char *u = strchr(units + next, *s);
                        if (!*s || !u)
                                return -1;
                        int k = (int)(u - units);
                        total += v * unit_ms[k] + frac;
                        next = k + 1;
                        s++;
                        tparts++;
                }
                if (!tparts)
                        return -1;
                parts += tparts;
        }
        if (*s || !parts)
                return -1;
        *msp = total;
        return 0;
}
