/* Page-view enrichment with the DSL. Page views, keyed by user, are joined
 * with the users table (user -> region id; co-partitioned with the views)
 * and then with a global table of regions (region id -> name), which every
 * instance holds whole, so its topic needs no particular partitioning.
 * Both joins are left joins: a view of an unknown user, or of a user in a
 * region the regions table lacks, still goes out.
 *
 *   pageviews [--bootstrap-servers B]
 *
 * Exit status 0 when every enriched view equals what this program computes
 * from its own input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

#define USERS   20
#define VIEWS   300
#define PARTS   3
#define REGIONS 3 /* region r3 is not in the regions table */

static const char *region_names[REGIONS] = {"Europe", "Americas", "Asia"};

/* The view joined with its user's region id: "<page>|<region id or ->". */
static ks_err_t with_region_id(void *o, const void *page, size_t pl,
                               const void *region, size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, page, pl);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        return err      ? err
               : region ? ks_buf_append(out, region, rl)
                        : ks_buf_append(out, "-", 1);
}

/* The region id, the key into the regions table (null without one). */
static ks_err_t region_key(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        const char *bar = memchr(v, '|', n);
        size_t kl = bar ? n - (size_t)(bar + 1 - v) : 0;
        if (!bar || (kl == 1 && bar[1] == '-'))
                return ks_emit_key(out, NULL, 0);
        return ks_emit_key(out, bar + 1, kl);
}

/* "<page> from <region name or unknown>". */
static ks_err_t with_region_name(void *o, const void *v, size_t vl,
                                 const void *name, size_t nl, ks_buf_t *out) {
        (void)o;
        const char *bar = memchr(v, '|', vl);
        size_t pl = bar ? (size_t)(bar - (const char *)v) : vl;
        ks_err_t err = ks_buf_append(out, v, pl);
        if (!err)
                err = ks_buf_append(out, " from ", 6);
        return err    ? err
               : name ? ks_buf_append(out, name, nl)
                      : ks_buf_append(out, "unknown", 7);
}

/* The input, generated alike for the app and for the check. */
static void view_of(int i, char *user, size_t us, char *page, size_t ps) {
        snprintf(user, us, "user-%d", (i * 7) % (USERS + 3));
        snprintf(page, ps, "/page/%d", i % 11);
}

static int user_region(int u) { /* -1: no such user */
        return u < USERS ? u % (REGIONS + 1) : -1;
}

typedef struct {
        int got;
        int bad;
} check_t;

static int check(void *opaque, const rd_kafka_message_t *m) {
        check_t *c = opaque;
        int i = c->got++;
        /* Views of one user arrive in order; across users, in any order:
         * match the record with the first view of its user not yet seen. */
        static int next_of_user[USERS + 3];
        int u = -1;
        if (m->key_len > 5 && !memcmp(m->key, "user-", 5))
                u = atoi((const char *)m->key + 5);
        int j = u >= 0 && u < USERS + 3 ? next_of_user[u] : VIEWS;
        char user[32], page[32], want[96];
        for (; j < VIEWS; j++) {
                view_of(j, user, sizeof(user), page, sizeof(page));
                if (atoi(user + 5) == u)
                        break;
        }
        if (j >= VIEWS) {
                c->bad++;
                return c->got >= VIEWS;
        }
        next_of_user[u] = j + 1;
        int r = user_region(u);
        snprintf(want, sizeof(want), "%s from %s", page,
                 r >= 0 && r < REGIONS ? region_names[r] : "unknown");
        if (m->len != strlen(want) || memcmp(m->payload, want, m->len)) {
                if (++c->bad <= 5)
                        printf("MISMATCH %s: got \"%.*s\", want \"%s\"\n", user,
                               (int)m->len, (const char *)m->payload, want);
        } else if (i < 5) {
                printf("  %s: %s\n", user, want);
        }
        return c->got >= VIEWS;
}

int main(int argc, char **argv) {
        example_t *x = example_start(argc, argv, "pageviews");
        if (!x)
                return 1;
        char users[256], regions[256], views[256], out[256];
        example_topic(x, "users", users, sizeof(users));
        example_topic(x, "regions", regions, sizeof(regions));
        example_topic(x, "views", views, sizeof(views));
        example_topic(x, "enriched", out, sizeof(out));

        ks_builder_t *b = ks_builder_new();
        const char *vt[] = {views};
        ks_table_t *ut = ks_builder_table(b, users, ks_serde_string(),
                                          ks_serde_string(), "users");
        ks_global_table_t *rt = ks_builder_global_table(
                b, regions, ks_serde_string(), ks_serde_string(), "regions");
        ks_stream_t *v = ks_builder_stream(b, vt, 1, ks_serde_string(),
                                           ks_serde_string(), "views");
        v = ks_stream_left_join_table(v, ut, with_region_id, NULL,
                                      "views-users");
        v = ks_stream_left_join_global(v, rt, region_key, with_region_name,
                                       NULL, "views-regions");
        ks_stream_to(v, out, "enriched");
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

        if (example_create(x, users, PARTS) || example_create(x, regions, 1) ||
            example_create(x, views, PARTS) || example_create(x, out, PARTS) ||
            example_create_internal(x, topo, PARTS))
                return 1;
        for (int r = 0; r < REGIONS; r++) {
                char id[8];
                snprintf(id, sizeof(id), "r%d", r);
                example_send(x, regions, id, region_names[r]);
        }
        for (int u = 0; u < USERS; u++) {
                char user[32], region[8];
                snprintf(user, sizeof(user), "user-%d", u);
                snprintf(region, sizeof(region), "r%d", user_region(u));
                example_send(x, users, user, region);
        }
        if (example_flush(x))
                return 1;
        ks_app_t *app = example_run(x, topo);
        ks_topology_destroy(topo);
        if (!app)
                return 1;
        for (int i = 0; i < VIEWS; i++) {
                char user[32], page[32];
                view_of(i, user, sizeof(user), page, sizeof(page));
                example_send(x, views, user, page);
        }
        if (example_flush(x))
                return 1;
        printf("%d views of %d users (3 unknown), regions of 3 of 4 region "
               "ids known; the first enriched views:\n",
               VIEWS, USERS);
        check_t c = {0};
        int rc = example_read(x, out, PARTS, check, &c, 60000);
        example_stop(x, app);
        int ok = !rc && !c.bad && c.got == VIEWS;
        printf("%s: %d of %d enriched views read, %d not as computed\n",
               ok ? "OK" : "FAILED", c.got, VIEWS, c.bad);
        return ok ? 0 : 1;
}
