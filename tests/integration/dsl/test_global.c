/* A global table on a broker (KS_TEST_BROKER: mock or kafka): page views
 * joined with a global table of user regions. ks_app_start() returns with
 * the table loaded, so the first views already join; then every user moves
 * to another region while the app runs, and views keep being sent until
 * each user's views show the new region. Per user, the joined region only
 * moves forward (old, then new, never back) and always is one of the two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define USERS 12

typedef struct {
        kst_env_t env;                    /* views and out */
        kst_broker_t *broker;             /* env's */
        char *users;                      /* 3 partitions */
        const char *views, *out, *app_id; /* env's */
        rd_kafka_t *producer;
        kst_reader_t *reader;
        int moved_seen[USERS]; /* the user's views show the new region */
        int64_t joined;        /* output records read */
} fixture_t;

static void region_of(int user, int moved, char *buf, size_t size) {
        snprintf(buf, size, moved ? "moved-%d" : "region-%d",
                 moved ? user : user % 3);
}

/* A view of every user, keyed by the user's session (one partition per
 * user), valued "<page>@<user>". */
static void send_views(fixture_t *f, int round) {
        for (int u = 0; u < USERS; u++) {
                char key[32], value[64];
                snprintf(key, sizeof(key), "session-%d", u);
                snprintf(value, sizeof(value), "page%d@user-%d", round, u);
                kst_produce_str(f->producer, f->views, key, value);
        }
        kst_flush(f->producer);
}

/* Check one joined view: per user, the region moves forward (old, then
 * new, never back) and always is one of the two. */
static void check_joined(void *opaque, const rd_kafka_message_t *m,
                         const kst_map_t *map) {
        fixture_t *f = opaque;
        int u, round;
        char region[32];
        char v[128];
        snprintf(v, sizeof(v), "%.*s", (int)m->len, (const char *)m->payload);
        if (sscanf(v, "page%d@user-%d|%31s", &round, &u, region) != 3 ||
            u < 0 || u >= USERS)
                fail_msg("unexpected output %s", v);
        char before[32], after[32];
        region_of(u, 0, before, sizeof(before));
        region_of(u, 1, after, sizeof(after));
        if (!strcmp(region, after))
                f->moved_seen[u] = 1;
        else if (strcmp(region, before))
                fail_msg("user %d joined with %s", u, region);
        else if (f->moved_seen[u])
                fail_msg("user %d went back to %s", u, region);
        f->joined++;
}

/* Read the output for up to @p ms: check each joined view, count how many
 * users show the new region. */
static int read_joined(fixture_t *f, int ms) {
        int64_t until = kst_now_ms() + ms;
        while (kst_now_ms() < until)
                kst_reader_poll(f->reader, 100);
        int moved = 0;
        for (int u = 0; u < USERS; u++)
                moved += f->moved_seen[u];
        return moved;
}

/* The view's user: after the '@'. */
static ks_err_t view_user(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        const char *at = memchr(v, '@', n);
        return at ? ks_emit_key(out, at + 1, n - (size_t)(at + 1 - v))
                  : ks_emit_key(out, NULL, 0);
}

/* "<view>|<region>", "null" without one. */
static ks_err_t view_region(void *o, const void *view, size_t vl,
                            const void *region, size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, view, vl);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        return err      ? err
               : region ? ks_buf_append(out, region, rl)
                        : ks_buf_append(out, "null", 4);
}

static void test_global_updates(void **state) {
        (void)state;
        fixture_t fx = {0}, *f = &fx;
        kst_env_init(&f->env, "gt", 2,
                     (const char *const[]){"views", "out", NULL});
        f->broker = f->env.broker;
        f->views = f->env.topic[0];
        f->out = f->env.topic[1];
        f->app_id = f->env.app_id;
        f->users = kst_unique_name("gt-users");
        kst_broker_create_topic(f->broker, f->users, 3, NULL);
        f->producer = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int u = 0; u < USERS; u++) {
                char key[32], region[32];
                snprintf(key, sizeof(key), "user-%d", u);
                region_of(u, 0, region, sizeof(region));
                kst_produce_str(f->producer, f->users, key, region);
        }
        kst_flush(f->producer);

        /* views, left-joined with the user's region. */
        ks_builder_t *b = ks_builder_new();
        ks_global_table_t *g =
                ks_builder_global_table(b, f->users, NULL, NULL, "regions");
        const char *topics[] = {f->views};
        ks_stream_t *views = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(ks_stream_left_join_global(views, g, view_user,
                                                       view_region, NULL, NULL),
                            f->out, NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_builder_destroy(b);
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", kst_tmpdir(), f->app_id);
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);

        f->reader = kst_reader_new(f->broker, f->out, 2, 0);
        kst_reader_on_record(f->reader, check_joined, f);

        /* Loaded at start: the first views join the first regions. */
        send_views(f, 0);
        for (int64_t until = kst_now_ms() + 60000;
             f->joined < USERS && kst_now_ms() < until;)
                assert_int_equal(read_joined(f, 200), 0);
        assert_int_equal(f->joined, USERS);

        /* Everyone moves while the app runs. */
        for (int u = 0; u < USERS; u++) {
                char key[32], region[32];
                snprintf(key, sizeof(key), "user-%d", u);
                region_of(u, 1, region, sizeof(region));
                kst_produce_str(f->producer, f->users, key, region);
        }
        kst_flush(f->producer);
        int64_t deadline = kst_now_ms() + 60000;
        int moved = 0, round = 1;
        while (moved < USERS && kst_now_ms() < deadline) {
                if (ks_app_state(app) == KS_APP_ERROR)
                        fail_msg("app failed: %s",
                                 ks_error_message(ks_app_error(app)));
                send_views(f, round++);
                moved = read_joined(f, 500);
        }
        if (moved < USERS)
                fail_msg("after 60 s, %d of %d users' views show their new "
                         "region",
                         moved, USERS);
        print_message("all %d users' views joined their new region after %d "
                      "rounds of views\n",
                      USERS, round - 1);
        KST_OK(ks_app_close(app, 30000));
        ks_app_destroy(app);
        kst_reader_destroy(f->reader);
        rd_kafka_destroy(f->producer);
        kst_env_fini(&f->env);
        free(f->users);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_global_updates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
