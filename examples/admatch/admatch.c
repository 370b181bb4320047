/* Ad matching: the topology, the input and the expected output (see
 * admatch.h). */
#include "admatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- JSON fields (of the flat objects this program writes) ----------------
 * Record values are untrusted bytes: every read stays within them (no NUL
 * is assumed), numbers that do not fit or are not integers are refused, and
 * so are strings with escapes or control characters (NUL among them), so
 * that what is read is a C string of exactly the bytes given and can be
 * written into JSON again as it is. */

/* The text after "<name>": in @p json, or NULL. */
static const char *field(const void *json, size_t len, const char *name) {
        char pat[64];
        int pl = snprintf(pat, sizeof(pat), "\"%s\":", name);
        const char *p = json, *end = p + len;
        if (pl <= 0 || (size_t)pl >= sizeof(pat))
                return NULL;
        for (; p && (size_t)(end - p) >= (size_t)pl; p++)
                if (!memcmp(p, pat, (size_t)pl))
                        return p + pl;
        return NULL;
}

int admatch_json_str(const void *json, size_t len, const char *name, char *out,
                     size_t size) {
        const char *end = (const char *)json + len;
        const char *p = json && size ? field(json, len, name) : NULL;
        if (!p || p >= end || *p != '"')
                return -1;
        size_t n = 0;
        for (p++; p < end && *p != '"'; p++) {
                unsigned char c = (unsigned char)*p;
                if (c < 0x20 || c == '\\' || n + 1 >= size)
                        return -1;
                out[n++] = *p;
        }
        out[n] = 0;
        return p < end ? 0 : -1;
}

int admatch_json_num(const void *json, size_t len, const char *name,
                     int64_t *num) {
        const char *end = (const char *)json + len;
        const char *p = json ? field(json, len, name) : NULL;
        if (!p || p >= end || *p < '0' || *p > '9')
                return -1;
        int64_t v = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
                int d = *p - '0';
                if (v > (INT64_MAX - d) / 10)
                        return -1; /* does not fit */
                v = v * 10 + d;
        }
        if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
                return -1; /* not an integer */
        *num = v;
        return 0;
}

/* --- the topology --------------------------------------------------------- */

/* Event time: the value's "time". A record without one is malformed and
 * dropped right after the source (valid_*): a negative timestamp here
 * would stop the application on it (fail_on_invalid_timestamp), again
 * after every restart. Until then it takes the partition's time, which
 * moves nothing. */
static int64_t event_time(void *opaque, const char *topic, int32_t partition,
                          const void *key, size_t kl, const void *value,
                          size_t vl, int64_t record_ts,
                          int64_t partition_time) {
        (void)opaque, (void)topic, (void)partition, (void)key, (void)kl;
        (void)record_ts;
        int64_t ts;
        if (value && !admatch_json_num(value, vl, "time", &ts))
                return ts;
        return partition_time > 0 ? partition_time : 0;
}

/* Has the record's value the string field @p name (and @p name2, unless
 * NULL) and a time, as admatch_json_str() and _num() read them? */
static int has_fields(const ks_record_t *rec, const char *name,
                      const char *name2) {
        size_t vl;
        const void *v = ks_record_value(rec, &vl);
        char s[64];
        int64_t ts;
        return v && !admatch_json_str(v, vl, name, s, sizeof(s)) &&
               (!name2 || !admatch_json_str(v, vl, name2, s, sizeof(s))) &&
               !admatch_json_num(v, vl, "time", &ts);
}

/* Only well-formed records go on: the joiner can then always make its
 * value (a joiner error would stop the application on the record). */
static int valid_impression(void *opaque, const ks_record_t *rec) {
        (void)opaque;
        return has_fields(rec, "imp", "campaign");
}

static int valid_click(void *opaque, const ks_record_t *rec) {
        (void)opaque;
        return has_fields(rec, "click", NULL);
}

/* A click's id: the value's "click". */
static ks_err_t click_id(void *opaque, const ks_record_t *rec,
                         ks_emitter_t *out) {
        (void)opaque;
        size_t vl;
        const void *v = ks_record_value(rec, &vl);
        char id[64];
        if (!v || admatch_json_str(v, vl, "click", id, sizeof(id)))
                return ks_emit_key(out, NULL, 0); /* no id: passes */
        return ks_emit_key(out, id, strlen(id));
}

/* The matched value of an impression and a click. */
static int matched_value(const void *imp, size_t il, const void *click,
                         size_t cl, char *out, size_t size) {
        char id[64], campaign[64], clk[64];
        int64_t ti, tc;
        if (admatch_json_str(imp, il, "imp", id, sizeof(id)) ||
            admatch_json_str(imp, il, "campaign", campaign, sizeof(campaign)) ||
            admatch_json_num(imp, il, "time", &ti) ||
            admatch_json_str(click, cl, "click", clk, sizeof(clk)) ||
            admatch_json_num(click, cl, "time", &tc))
                return -1;
        int n = snprintf(out, size,
                         "{\"imp\":\"%s\",\"campaign\":\"%s\",\"click\":\"%s\","
                         "\"delay_ms\":%lld}",
                         id, campaign, clk, (long long)(tc - ti));
        return n > 0 && (size_t)n < size ? n : -1;
}

static ks_err_t match(void *opaque, const void *imp, size_t il,
                      const void *click, size_t cl, ks_buf_t *out) {
        (void)opaque;
        char v[512];
        int n = matched_value(imp, il, click, cl, v, sizeof(v));
        return n < 0 ? KS_ERR_SERDE : ks_buf_append(out, v, (size_t)n);
}

/* Left join: the impression when it has no click, else "-". */
static ks_err_t no_click(void *opaque, const void *imp, size_t il,
                         const void *click, size_t cl, ks_buf_t *out) {
        (void)opaque, (void)cl;
        return click ? ks_buf_append(out, "-", 1) : ks_buf_append(out, imp, il);
}

static int is_unmatched(void *opaque, const ks_record_t *rec) {
        (void)opaque;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        return v && vl && v[0] == '{';
}

static ks_windows_t *hour(void) {
        return ks_join_windows_before(
                ks_join_windows_of_time_difference_and_grace(ADMATCH_WINDOW_MS,
                                                             ADMATCH_GRACE_MS),
                0);
}

ks_topology_t *admatch_topology(const char *impressions, const char *clicks,
                                const char *matched, const char *unmatched) {
        ks_builder_t *b = ks_builder_new();
        ks_topology_t *topo = NULL;
        if (!b)
                return NULL;
        const char *it[] = {impressions}, *ct[] = {clicks};
        ks_stream_t *imps = ks_builder_stream(b, it, 1, ks_serde_string(),
                                              ks_serde_string(), "impressions");
        ks_stream_t *raw = ks_builder_stream(b, ct, 1, ks_serde_string(),
                                             ks_serde_string(), "clicks");
        ks_topology_source_set_timestamp_extractor(
                ks_builder_topology(b), "impressions", event_time, NULL, NULL);
        ks_topology_source_set_timestamp_extractor(
                ks_builder_topology(b), "clicks", event_time, NULL, NULL);
        imps = ks_stream_filter(imps, valid_impression, NULL,
                                "valid-impressions");
        raw = ks_stream_filter(raw, valid_click, NULL, "valid-clicks");
        ks_stream_t *cl =
                ks_stream_deduplicate(raw, click_id, NULL, ADMATCH_DEDUP_MS,
                                      "click-ids", "dedup-clicks");
        ks_stream_t *m =
                ks_stream_join(imps, cl, match, NULL, hour(), "matched");
        ks_stream_to(
                ks_stream_with_serdes(m, ks_serde_string(), ks_serde_string()),
                matched, "to-matched");
        ks_stream_t *u =
                ks_stream_filter(ks_stream_left_join(imps, cl, no_click, NULL,
                                                     hour(), "no-click"),
                                 is_unmatched, NULL, "unmatched-only");
        ks_stream_to(
                ks_stream_with_serdes(u, ks_serde_string(), ks_serde_string()),
                unmatched, "to-unmatched");
        ks_error_t *e = NULL;
        if (ks_builder_build(b, &topo, &e)) {
                fprintf(stderr, "admatch topology: %s\n", ks_error_message(e));
                ks_error_destroy(e);
                topo = NULL;
        }
        ks_builder_destroy(b);
        return topo;
}

/* --- input ---------------------------------------------------------------- */

static unsigned next(unsigned *seed) {
        *seed = *seed * 1103515245u + 12345u;
        return *seed >> 8;
}

typedef struct {
        admatch_event_t e;
        size_t order;
} sorted_t;

static int by_time(const void *a, const void *b) {
        const sorted_t *x = a, *y = b;
        if (x->e.ts != y->e.ts)
                return x->e.ts < y->e.ts ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

size_t admatch_generate(admatch_event_t *ev, int impressions, int64_t start_ms,
                        unsigned seed) {
        sorted_t *s = calloc((size_t)impressions * 3, sizeof(*s));
        if (!s)
                return 0;
        size_t n = 0;
        int clicks = 0;
        /* Impressions over five minutes; clicks 1 to 50 minutes after
         * (within the hour) or 62 to 65 minutes after (too late). */
        for (int i = 0; i < impressions; i++) {
                int64_t ti = start_ms + (int64_t)i * 300000 / impressions;
                s[n] = (sorted_t){{0, i, 0, i % 7, ti}, n};
                n++;
                unsigned r = next(&seed) % 10;
                if (r > 6)
                        continue;
                int64_t delay = r < 6 ? 60000 + next(&seed) % 2940000
                                      : 3720000 + next(&seed) % 180000;
                admatch_event_t c = {1, i, ++clicks, 0, ti + (int64_t)delay};
                s[n] = (sorted_t){c, n};
                n++;
                if (next(&seed) % 5 == 0) { /* resent */
                        s[n] = (sorted_t){c, n};
                        n++;
                }
        }
        qsort(s, n, sizeof(*s), by_time);
        for (size_t i = 0; i < n; i++)
                ev[i] = s[i].e;
        free(s);
        return n;
}

void admatch_format(const admatch_event_t *e, char *key, size_t ksize,
                    char *value, size_t vsize) {
        snprintf(key, ksize, "imp-%d", e->imp);
        if (e->click)
                snprintf(value, vsize,
                         "{\"click\":\"clk-%d\",\"imp\":\"imp-%d\",\"time\":%"
                         "lld}",
                         e->id, e->imp, (long long)e->ts);
        else
                snprintf(value, vsize,
                         "{\"imp\":\"imp-%d\",\"campaign\":\"c%d\",\"time\":%"
                         "lld}",
                         e->imp, e->campaign, (long long)e->ts);
}

/* --- expected output ------------------------------------------------------ */

void admatch_expected(const admatch_event_t *ev, size_t n, char ***matched,
                      size_t *nm, char ***unmatched, size_t *nu) {
        *matched = calloc(n + 1, sizeof(char *));
        *unmatched = calloc(n + 1, sizeof(char *));
        *nm = *nu = 0;
        if (!*matched || !*unmatched)
                return;
        for (size_t i = 0; i < n; i++) {
                if (ev[i].click)
                        continue;
                int found = 0;
                char ik[64], iv[256];
                admatch_format(&ev[i], ik, sizeof(ik), iv, sizeof(iv));
                for (size_t j = 0; j < n; j++) {
                        const admatch_event_t *c = &ev[j];
                        int first = 1;
                        for (size_t k = 0; k < j && first; k++)
                                first = !(ev[k].click && ev[k].id == c->id);
                        if (!c->click || !first || c->imp != ev[i].imp ||
                            c->ts < ev[i].ts ||
                            c->ts > ev[i].ts + ADMATCH_WINDOW_MS)
                                continue;
                        char ck[64], cv[256], mv[512];
                        admatch_format(c, ck, sizeof(ck), cv, sizeof(cv));
                        if (matched_value(iv, strlen(iv), cv, strlen(cv), mv,
                                          sizeof(mv)) > 0)
                                (*matched)[(*nm)++] = strdup(mv);
                        found = 1;
                }
                if (!found)
                        (*unmatched)[(*nu)++] = strdup(iv);
        }
}

void admatch_expected_free(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}
