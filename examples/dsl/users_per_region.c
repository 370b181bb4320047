/* A table aggregation with re-keying, with the DSL: users (user -> region)
 * regrouped by region and counted. Users then move between regions and
 * some leave (tombstones): each move takes the user out of the old region's
 * count and into the new one's.
 *
 *   users-per-region [--bootstrap-servers B]
 *
 * Exit status 0 when the last count of every region equals a count this
 * program makes of its own input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define USERS   30
#define REGIONS 4
#define PARTS   3

static const char *names[REGIONS] = {"eu", "us", "asia", "africa"};

/* (region, user). */
static ks_err_t by_region(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t kl, vl;
        const void *user = ks_record_key(r, &kl);
        const void *region = ks_record_value(r, &vl);
        return ks_emit(out, region, vl, user, kl);
}

typedef struct {
        int64_t want[REGIONS], last[REGIONS];
        int64_t records;
} view_t;

static int matches(const view_t *v) {
        for (int r = 0; r < REGIONS; r++)
                if (v->last[r] != v->want[r])
                        return 0;
        return 1;
}

static int on_count(void *opaque, const rd_kafka_message_t *m) {
        view_t *v = opaque;
        int64_t n;
        for (int r = 0; r < REGIONS; r++)
                if (m->key_len == strlen(names[r]) &&
                    !memcmp(m->key, names[r], m->key_len) &&
                    !ks_int64_decode(m->payload, m->len, &n, NULL))
                        v->last[r] = n;
        v->records++;
        return matches(v);
}

int main(int argc, char **argv) {
        example_t *x = example_start(argc, argv, "users-per-region");
        if (!x)
                return 1;
        char users[256], out[256];
        example_topic(x, "users", users, sizeof(users));
        example_topic(x, "per-region", out, sizeof(out));

        ks_builder_t *b = ks_builder_new();
        ks_table_t *ut = ks_builder_table(b, users, ks_serde_string(),
                                          ks_serde_string(), "users");
        ks_table_t *counts = ks_grouped_table_count(
                ks_table_group_by(ut, by_region, NULL, "by-region"),
                "users-per-region", NULL);
        ks_stream_to(ks_table_to_stream(counts, NULL), out, NULL);
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
        if (example_create(x, users, PARTS) || example_create(x, out, PARTS) ||
            example_create_internal(x, topo, PARTS))
                return 1;
        ks_app_t *app = example_run(x, topo);
        ks_topology_destroy(topo);
        if (!app)
                return 1;

        /* Everyone joins a region; then every third user moves on, and
         * every seventh leaves. */
        int region[USERS];
        view_t v = {0};
        for (int u = 0; u < USERS; u++) {
                char user[32];
                snprintf(user, sizeof(user), "user-%d", u);
                region[u] = u % REGIONS;
                example_send(x, users, user, names[region[u]]);
        }
        for (int u = 0; u < USERS; u++) {
                char user[32];
                snprintf(user, sizeof(user), "user-%d", u);
                if (u % 7 == 0) {
                        example_send(x, users, user, NULL);
                        region[u] = -1;
                } else if (u % 3 == 0) {
                        region[u] = (region[u] + 1) % REGIONS;
                        example_send(x, users, user, names[region[u]]);
                }
        }
        if (example_flush(x))
                return 1;
        for (int u = 0; u < USERS; u++)
                if (region[u] >= 0)
                        v.want[region[u]]++;
        int rc = example_read(x, out, PARTS, on_count, &v, 60000);
        example_stop(x, app);
        for (int r = 0; r < REGIONS; r++)
                printf("  %-8s %3lld users (counted here: %lld)\n", names[r],
                       (long long)v.last[r], (long long)v.want[r]);
        int ok = !rc && matches(&v);
        printf("%s: %lld count updates read; every region's last count %s\n",
               ok ? "OK" : "FAILED", (long long)v.records,
               ok ? "is right" : "is NOT right");
        return ok ? 0 : 1;
}
