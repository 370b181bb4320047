/* User activity sessions. Clicks, keyed by user, are grouped into sessions
 * that end after 5 minutes without a click; when a session can no longer
 * grow (stream time past its end plus the gap and a 30 s grace), its click
 * count and length go out once:
 *
 *   clicks -> group by user -> sessions, gap 5 min, grace 30 s, on close
 *     -> count -> "<clicks> clicks over <s> s" -> sessions
 *
 *   sessions [--bootstrap-servers B]
 *
 * Clicks arrive in event-time order give or take 20 s. At the end every
 * user clicks once more, an hour on, which closes the last sessions. Exit
 * status 0 when the sessions are exactly those this program finds by
 * splitting each user's clicks at the gaps longer than 5 minutes: each
 * once, with its start, end and click count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"

/* Event time starts four hours ago, on a whole minute: recent enough for
 * the changelogs' time retention (a day beyond the windows'), which
 * would delete records stamped with older times, and old enough that the
 * last click, an hour after the others, is not in the future. */
static int64_t start_ms;

static void set_start(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t ms = (int64_t)now.tv_sec * 1000 - 4 * 3600 * 1000;
        start_ms = ms - ms % 60000;
}

#define USERS    12
#define PARTS    3
#define CLICKS   600
#define GAP_MS   300000
#define GRACE_MS 30000

typedef struct {
        int user;
        int64_t ts;
} click_t;

static click_t clicks[CLICKS];

/* Each user clicks in bursts: mostly every few seconds to a couple of
 * minutes apart, sometimes idle for 5-20 minutes. Sent in time order, with
 * each click sent up to 20 s later than its time. */
static void make_input(void) {
        unsigned seed = 42;
        int64_t next[USERS];
        for (int u = 0; u < USERS; u++)
                next[u] = start_ms + (int64_t)u * 17000;
        for (int i = 0; i < CLICKS; i++) {
                int u = 0;
                for (int v = 1; v < USERS; v++)
                        if (next[v] < next[u])
                                u = v;
                clicks[i] = (click_t){u, next[u]};
                seed = seed * 1103515245u + 12345u;
                unsigned r = (seed >> 8) % 100;
                int64_t idle = r < 80   ? (int64_t)(seed % 120000)
                               : r < 88 ? 250000 + (int64_t)(seed % 100000)
                                        : 300001 + (int64_t)(seed % 900000);
                next[u] += 1000 + idle;
        }
}

static int64_t send_time(int i) {
        return clicks[i].ts + (i % 3 ? 20000 : 0);
}

static int by_send_time(const void *a, const void *b) {
        int x = *(const int *)a, y = *(const int *)b;
        int64_t tx = send_time(x), ty = send_time(y);
        return tx < ty ? -1 : tx > ty ? 1 : x - y;
}

/* "<n> clicks over <s> s" of a session's count. */
static ks_err_t describe_session(void *o, const ks_record_t *r,
                                 ks_emitter_t *out) {
        (void)o;
        size_t kl, vl;
        const void *k = ks_record_key(r, &kl);
        const void *v = ks_record_value(r, &vl);
        int64_t start, end, n;
        if (ks_windowed_key_session(k, kl, NULL, NULL, &start, &end) ||
            ks_int64_decode(v, vl, &n, NULL))
                return KS_ERR_SERDE;
        char text[64];
        int len = snprintf(text, sizeof(text), "%lld clicks over %lld s",
                           (long long)n, (long long)((end - start) / 1000));
        return ks_emit_value(out, text, (size_t)len);
}

/* --- the check -------------------------------------------------------------
 */

typedef struct {
        int user;
        int64_t start, end, n;
        int seen;
} session_t;

typedef struct {
        session_t s[CLICKS];
        int ns, got, bad;
} check_t;

/* Each user's clicks in time order, split where the gap exceeds 5 min. */
static void expected(check_t *c) {
        for (int u = 0; u < USERS; u++) {
                session_t *cur = NULL;
                for (int i = 0; i < CLICKS; i++) {
                        if (clicks[i].user != u)
                                continue;
                        int64_t t = clicks[i].ts;
                        if (cur && t - cur->end <= GAP_MS) {
                                cur->end = t;
                                cur->n++;
                        } else {
                                cur = &c->s[c->ns++];
                                *cur = (session_t){u, t, t, 1, 0};
                        }
                }
        }
}

static int check(void *opaque, const rd_kafka_message_t *m) {
        check_t *c = opaque;
        c->got++;
        const void *user;
        size_t ul;
        int64_t start, end;
        char text[64], want[64] = "(no such session)";
        snprintf(text, sizeof(text), "%.*s", (int)m->len,
                 (const char *)m->payload);
        int j = -1;
        if (!ks_windowed_key_session(m->key, m->key_len, &user, &ul, &start,
                                     &end))
                for (int i = 0; i < c->ns && j < 0; i++) {
                        char name[16];
                        snprintf(name, sizeof(name), "user-%d", c->s[i].user);
                        if (c->s[i].start == start && c->s[i].end == end &&
                            ul == strlen(name) && !memcmp(user, name, ul))
                                j = i;
                }
        if (j >= 0)
                snprintf(want, sizeof(want), "%lld clicks over %lld s",
                         (long long)c->s[j].n,
                         (long long)((c->s[j].end - c->s[j].start) / 1000));
        if (j < 0 || c->s[j].seen++ || strcmp(text, want)) {
                c->bad++;
                printf("UNEXPECTED: %.*s: %s (want %s)\n", (int)m->key_len,
                       (const char *)m->key, text, want);
        } else if (c->got <= 8) {
                printf("  user-%d [+%lld s, +%lld s]: %s\n", c->s[j].user,
                       (long long)((start - start_ms) / 1000),
                       (long long)((end - start_ms) / 1000), text);
        }
        return c->got >= c->ns;
}

int main(int argc, char **argv) {
        example_t *x = example_start(argc, argv, "sessions");
        if (!x)
                return 1;
        char in[256], out[256];
        example_topic(x, "clicks", in, sizeof(in));
        example_topic(x, "sessions", out, sizeof(out));

        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {in};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), "clicks");
        ks_table_t *counts = ks_windowed_count(
                ks_windowed_emit_strategy(
                        ks_grouped_windowed_by(
                                ks_stream_group_by_key(s, NULL),
                                ks_session_windows_of_inactivity_gap_and_grace(
                                        GAP_MS, GRACE_MS)),
                        KS_EMIT_ON_WINDOW_CLOSE),
                "clicks-per-session", "count");
        ks_stream_t *sessions =
                ks_stream_map_values(ks_table_to_stream(counts, NULL),
                                     describe_session, NULL, "describe");
        ks_serde_t *wkeys = ks_serde_session_windowed(ks_serde_string());
        ks_stream_to(ks_stream_with_serdes(sessions, wkeys, ks_serde_string()),
                     out, "sessions");
        ks_serde_destroy(wkeys);
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        if (ks_builder_build(b, &topo, &e)) {
                fprintf(stderr, "topology: %s\n", ks_error_message(e));
                return 1;
        }
        ks_builder_destroy(b);
        char *desc = NULL;
        if (example_dot(topo))
                return 0;
        if (!ks_topology_describe(topo, &desc, NULL))
                printf("%s", desc);
        ks_free(desc);

        if (example_create(x, in, PARTS) || example_create(x, out, PARTS) ||
            example_create_internal(x, topo, PARTS))
                return 1;
        ks_app_t *app = example_run(x, topo);
        ks_topology_destroy(topo);
        if (!app)
                return 1;
        set_start();
        make_input();
        /* Sent in the order of their time plus a lag of 20 s for two
         * clicks in three: out of order by up to 20 s. */
        int order[CLICKS];
        for (int i = 0; i < CLICKS; i++)
                order[i] = i;
        qsort(order, CLICKS, sizeof(int), by_send_time);
        char user[16];
        for (int i = 0; i < CLICKS; i++) {
                const click_t *k = &clicks[order[i]];
                snprintf(user, sizeof(user), "user-%d", k->user);
                example_send_at(x, in, user, "click", 5, k->ts);
        }
        for (int u = 0; u < USERS; u++) {
                snprintf(user, sizeof(user), "user-%d", u);
                example_send_at(x, in, user, "click", 5,
                                clicks[CLICKS - 1].ts + 3600000);
        }
        if (example_flush(x))
                return 1;
        check_t *c = calloc(1, sizeof(*c));
        if (!c)
                return 1;
        expected(c);
        printf("%d clicks of %d users over %lld minutes; %d sessions, the "
               "first to close:\n",
               CLICKS, USERS,
               (long long)((clicks[CLICKS - 1].ts - start_ms) / 60000), c->ns);
        int rc = example_read(x, out, PARTS, check, c, 90000);
        int64_t late = ks_app_metric(app, "dropped-records-late");
        example_stop(x, app);
        int ok = !rc && !c->bad && c->got == c->ns && late == 0;
        printf("%s: %d of %d sessions read as computed, %d unexpected, %lld "
               "clicks dropped as late\n",
               ok ? "OK" : "FAILED", c->got - c->bad, c->ns, c->bad,
               (long long)late);
        free(c);
        return ok ? 0 : 1;
}
