/* Ad matching on event time:
 *
 *   impressions ----------------------------.
 *                                            +-> join within 1 h -> matched
 *   clicks -> drop resent clicks (10 min) ---+
 *                                            `-> left join, no click
 *                                                  -> unmatched (once the
 *                                                     hour + grace is over)
 *
 *   admatch [--bootstrap-servers B]
 *
 * Impressions and clicks are JSON, keyed by impression id, stamped with
 * their event time in the value. About 60% of the impressions get a click
 * within the hour, 10% one too late, and one click in five is sent twice.
 * Once every match is out, one impression per partition two hours on
 * moves stream time past every impression's hour: each impression without
 * a click comes out then, once. Exit status 0 when both outputs are
 * exactly what this program computes from its input: every distinct click
 * in its impression's hour once, every impression without one once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admatch.h"
#include "example.h"

#define PARTS       3
#define IMPRESSIONS 400

typedef struct {
        char **want;
        size_t n;
        int *seen;
        size_t got, bad;
        const char *what;
} check_t;

static int check(void *opaque, const rd_kafka_message_t *m) {
        check_t *c = opaque;
        if (m->key_len >= 7 && !memcmp(m->key, "closer-", 7))
                return c->got >= c->n;
        size_t i = 0;
        while (i < c->n && (strlen(c->want[i]) != m->len ||
                            memcmp(c->want[i], m->payload, m->len)))
                i++;
        if (i == c->n || c->seen[i]++) {
                c->bad++;
                printf("UNEXPECTED %s: %.*s%s\n", c->what, (int)m->len,
                       (const char *)m->payload, i < c->n ? " (again)" : "");
        } else {
                c->got++;
                if (c->got <= 3)
                        printf("  %s %.*s\n", c->what, (int)m->len,
                               (const char *)m->payload);
        }
        return c->got >= c->n;
}

static int read_all(example_t *x, const char *topic, check_t *c) {
        c->seen = calloc(c->n + 1, sizeof(int));
        if (!c->seen)
                return -1;
        int rc = example_read(x, topic, PARTS, check, c, 120000);
        printf("%s: %zu of %zu as computed, %zu unexpected\n", c->what, c->got,
               c->n, c->bad);
        return rc || c->bad || c->got != c->n ? -1 : 0;
}

int main(int argc, char **argv) {
        example_t *x = example_start(argc, argv, "admatch");
        if (!x)
                return 1;
        char imps[256], clicks[256], matched[256], unmatched[256];
        example_topic(x, "impressions", imps, sizeof(imps));
        example_topic(x, "clicks", clicks, sizeof(clicks));
        example_topic(x, "matched", matched, sizeof(matched));
        example_topic(x, "unmatched", unmatched, sizeof(unmatched));
        ks_topology_t *topo =
                admatch_topology(imps, clicks, matched, unmatched);
        if (!topo)
                return 1;
        char *desc = NULL;
        if (example_dot(topo))
                return 0;
        if (!ks_topology_describe(topo, &desc, NULL))
                printf("%s", desc);
        ks_free(desc);
        if (example_create(x, imps, PARTS) ||
            example_create(x, clicks, PARTS) ||
            example_create(x, matched, PARTS) ||
            example_create(x, unmatched, PARTS) ||
            example_create_internal(x, topo, PARTS))
                return 1;
        ks_app_t *app = example_run(x, topo);
        ks_topology_destroy(topo);
        if (!app)
                return 1;

        /* Event time from 3 h 10 min ago: recent enough for the
         * changelogs' time retention, and the closing records two hours
         * on are still in the past. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t start = (int64_t)now.tv_sec * 1000 - 11400000;
        admatch_event_t *ev = calloc(3 * IMPRESSIONS, sizeof(*ev));
        if (!ev)
                return 1;
        size_t n = admatch_generate(ev, IMPRESSIONS, start, 42);
        int resent = 0;
        for (size_t i = 0; i < n; i++) {
                char key[64], value[256];
                admatch_format(&ev[i], key, sizeof(key), value, sizeof(value));
                example_send_at(x, ev[i].click ? clicks : imps, key, value,
                                strlen(value), ev[i].ts);
                for (size_t j = 0; ev[i].click && j < i; j++)
                        resent += ev[j].click && ev[j].id == ev[i].id;
        }
        if (example_flush(x))
                return 1;
        check_t m = {.what = "matched"}, u = {.what = "unmatched"};
        admatch_expected(ev, n, &m.want, &m.n, &u.want, &u.n);
        printf("%zu records: %d impressions, %zu clicks (%d of them resent); "
               "%zu matches and %zu impressions without a click expected\n",
               n, IMPRESSIONS, n - IMPRESSIONS, resent, m.n, u.n);
        int rc = read_all(x, matched, &m);
        /* Every match is out: move each partition's stream time two hours
         * on, past every impression's hour and grace. */
        for (int p = 0; !rc && p < PARTS; p++) {
                char key[32], value[128];
                int64_t ts = start + 2 * ADMATCH_WINDOW_MS;
                snprintf(key, sizeof(key), "closer-%d", p);
                snprintf(value, sizeof(value),
                         "{\"imp\":\"%s\",\"campaign\":\"c0\",\"time\":%lld}",
                         key, (long long)ts);
                example_send_part(x, imps, p, key, value, strlen(value), ts);
        }
        if (!rc && !(rc = example_flush(x)))
                rc = read_all(x, unmatched, &u);
        int64_t dups = ks_app_metric(app, "dropped-records-duplicate");
        printf("%lld resent clicks dropped (%d sent)\n", (long long)dups,
               resent);
        example_stop(x, app);
        int ok = !rc && dups == resent;
        printf("%s\n", ok ? "OK" : "FAILED");
        admatch_expected_free(m.want, m.n);
        admatch_expected_free(u.want, u.n);
        free(m.seen);
        free(u.seen);
        free(ev);
        return ok ? 0 : 1;
}
