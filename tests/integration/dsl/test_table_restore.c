/* A table read from a topic is restored from that topic (KS_TEST_BROKER:
 * mock or kafka): no changelog topic exists; an instance with an empty
 * state directory rebuilds the store from the table's topic (the restore
 * listener names the topic and counts its records), and stream records
 * joined with the table then see every row's final value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define USERS 20

typedef struct {
        kst_env_t env;
        const char *users, *views, *out, *app_id; /* env's */
        kst_broker_t *br;                         /* env's */
        int64_t restored, ends;
        char topic[256];
} fixture_t;

static ks_err_t tag(void *o, const void *l, size_t ll, const void *r, size_t rl,
                    ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, l, ll);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        return err ? err
               : r ? ks_buf_append(out, r, rl)
                   : ks_buf_append(out, "none", 4);
}

static void on_restore(void *opaque, ks_restore_phase_t phase,
                       const char *store, const char *topic, int32_t p,
                       int64_t start, int64_t end, int64_t restored) {
        (void)store;
        (void)p;
        (void)start;
        (void)end;
        fixture_t *f = opaque;
        if (phase == KS_RESTORE_END) {
                __atomic_add_fetch(&f->restored, restored, __ATOMIC_SEQ_CST);
                __atomic_add_fetch(&f->ends, 1, __ATOMIC_SEQ_CST);
                snprintf(f->topic, sizeof(f->topic), "%s", topic);
        }
}

static ks_app_t *start(fixture_t *f, const char *dir) {
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_builder_table(b, f->users, NULL, NULL, "users");
        const char *vt[] = {f->views};
        ks_stream_t *v = ks_builder_stream(b, vt, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(ks_stream_left_join_table(v, t, tag, NULL, NULL),
                            f->out, NULL));
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_builder_destroy(b);
        assert_int_equal(ks_topology_internal_topic_count(topo), 0);
        ks_config_t *c = kst_app_config(
                f->br, f->app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", NULL});
        ks_app_t *app = kst_app_start(topo, c, on_restore, f);
        ks_topology_destroy(topo);
        ks_config_destroy(c);
        return app;
}

/* Each joined view: "view|<the row's last value>", "view|none" without
 * one. */
static void check_view(void *opaque, const rd_kafka_message_t *m,
                       const kst_map_t *map) {
        char(*want)[32] = opaque;
        int u = atoi((const char *)m->key + 1);
        char exp[64], got[64];
        snprintf(exp, sizeof(exp), "view|%s", want[u][0] ? want[u] : "none");
        snprintf(got, sizeof(got), "%.*s", (int)m->len,
                 (const char *)m->payload);
        assert_string_equal(got, exp);
}

static int read_to(void *opaque, const kst_map_t *m) {
        return kst_map_records(m) >= *(const int *)opaque;
}

typedef struct {
        ks_app_t *app;
        int64_t processed;
        fixture_t *f;
        int64_t ends;
} until_t;

static int processed(void *opaque) {
        until_t *u = opaque;
        return ks_app_metric(u->app, "process-total") >= u->processed;
}

static int restores_ended(void *opaque) {
        until_t *u = opaque;
        return __atomic_load_n(&u->f->ends, __ATOMIC_SEQ_CST) >= u->ends;
}

static void test_restore_from_source(void **state) {
        (void)state;
        fixture_t fx = {0}, *f = &fx;
        kst_env_init(&f->env, "tr", 2,
                     (const char *const[]){"users", "views", "out", NULL});
        f->br = f->env.broker;
        f->users = f->env.topic[0];
        f->views = f->env.topic[1];
        f->out = f->env.topic[2];
        f->app_id = f->env.app_id;
        rd_kafka_t *p = kst_broker_client(f->br, RD_KAFKA_PRODUCER, NULL);
        /* Rows written, rewritten and some deleted: 20 + 20 + 5 records. */
        char want[USERS][32];
        for (int round = 0; round < 2; round++)
                for (int u = 0; u < USERS; u++) {
                        char k[16];
                        snprintf(k, sizeof(k), "u%d", u);
                        snprintf(want[u], sizeof(want[u]), "r%d-%d", u % 3,
                                 round);
                        kst_produce_str(p, f->users, k, want[u]);
                }
        for (int u = 0; u < USERS; u += 4) {
                char k[16];
                snprintf(k, sizeof(k), "u%d", u);
                kst_produce_str(p, f->users, k, NULL);
                want[u][0] = 0;
        }
        kst_flush(p);

        char dir1[512], dir2[512];
        snprintf(dir1, sizeof(dir1), "%s/%s-1", kst_tmpdir(), f->app_id);
        snprintf(dir2, sizeof(dir2), "%s/%s-2", kst_tmpdir(), f->app_id);
        ks_app_t *app = start(f, dir1);
        until_t until = {app, 45, f, 2};
        kst_wait_for(app, 60000, 50, processed, &until);
        assert_int_equal(ks_app_metric(app, "process-total"), 45);
        KST_OK(ks_app_close(app, 30000));
        ks_app_destroy(app);
        assert_int_equal(f->restored, 0);

        /* A new instance on an empty directory: the store comes back from
         * the table's topic, all 45 records of it. */
        app = start(f, dir2);
        until.app = app;
        kst_wait_for(app, 60000, 50, restores_ended, &until);
        assert_int_equal(f->ends, 2);
        assert_int_equal(f->restored, 45);
        assert_string_equal(f->topic, f->users);
        for (int u = 0; u < USERS; u++) {
                char k[16];
                snprintf(k, sizeof(k), "u%d", u);
                kst_produce_str(p, f->views, k, "view");
        }
        kst_flush(p);
        rd_kafka_destroy(p);

        kst_reader_t *r = kst_reader_new(f->br, f->out, 2, 0);
        kst_reader_on_record(r, check_view, want);
        int users = USERS;
        kst_read_until(r, NULL, 60000, read_to, &users);
        assert_int_equal(kst_map_records(kst_reader_map(r)), USERS);
        kst_reader_destroy(r);
        /* No changelog topic was made for the table's store. */
        rd_kafka_t *mk = kst_broker_client(f->br, RD_KAFKA_PRODUCER, NULL);
        const struct rd_kafka_metadata *md = NULL;
        assert_int_equal(rd_kafka_metadata(mk, 1, NULL, &md, 10000), 0);
        char cl[512];
        snprintf(cl, sizeof(cl), "%s-users-changelog", f->app_id);
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, cl))
                        assert_int_not_equal(md->topics[i].err, 0);
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(mk);
        KST_OK(ks_app_close(app, 30000));
        ks_app_destroy(app);
        kst_env_fini(&f->env);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_restore_from_source),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
