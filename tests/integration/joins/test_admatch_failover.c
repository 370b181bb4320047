/* The ad-match example (examples/admatch) across two instances, one killed
 * with SIGKILL mid-run:
 *
 *   impressions, clicks -> drop resent clicks -> join within 1 h -> matched
 *                                             -> left join, no click
 *                                                  -> unmatched
 *
 * The second instance (this program with --instance, its own state
 * directory) owns one of the two tasks; after part of the input has been
 * processed and committed it is killed, the survivor takes its task over
 * (restoring both joins' window stores, the outer store of pending
 * impressions and the seen click ids from their changelogs) and the rest
 * of the input follows. Once every match is out, one impression per
 * partition two hours on closes every impression's hour. Then, read with
 * read_committed under exactly_once_v2 (the real broker): every distinct
 * click in its impression's hour exactly once in matched, every impression
 * without one exactly once in unmatched, nothing else. Under at-least-once
 * (the mock cluster, which has no transactions) each at least once and
 * nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "admatch.h"
#include "kst_app.h"
#include "kst_instance.h"

#define PARTITIONS  2
#define IMPRESSIONS 300

typedef struct {
        char **want;
        size_t n;
        int *seen;
        int unknown;
} expect_t;

typedef struct {
        kst_env_t env;
        kst_broker_t *broker;
        const char *imps, *clicks, *matched, *unmatched, *app_id;
        int eos;
        admatch_event_t ev[3 * IMPRESSIONS];
        size_t n, produced;
        int64_t start;
        expect_t m, u;
} fixture_t;

static ks_config_t *instance_config(const char *bootstrap, const char *app_id,
                                    const char *state_dir, int eos, int mock) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        const char *kv[] = {"bootstrap.servers",
                            bootstrap,
                            "application.id",
                            app_id,
                            "state.dir",
                            state_dir,
                            "commit.interval.ms",
                            "200",
                            "consumer.fetch.wait.max.ms",
                            "10",
                            "consumer.session.timeout.ms",
                            mock ? "3000" : "6000",
                            "consumer.heartbeat.interval.ms",
                            mock ? "300" : "1000",
                            "processing.guarantee",
                            eos ? "exactly_once_v2" : "at_least_once",
                            NULL};
        for (size_t i = 0; kv[i]; i += 2)
                if (ks_config_set(c, kv[i], kv[i + 1], &e)) {
                        fprintf(stderr, "config: %s\n", ks_error_message(e));
                        exit(2);
                }
        return c;
}

/* --- input ---------------------------------------------------------------- */

static void send_rec(rd_kafka_t *p, const char *topic, int32_t part,
                     const char *key, const char *value, int64_t ts) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                RD_KAFKA_V_TIMESTAMP(ts),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e)
                fail_msg("producing: %s", rd_kafka_err2str(e));
}

/* Events f->produced .. @p upto - 1, keyed by impression id (the default
 * partitioner puts an impression and its clicks together). */
static void produce(fixture_t *f, size_t upto) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (size_t i = f->produced; i < upto && i < f->n; i++) {
                char key[64], value[256];
                admatch_format(&f->ev[i], key, sizeof(key), value,
                               sizeof(value));
                send_rec(p, f->ev[i].click ? f->clicks : f->imps,
                         RD_KAFKA_PARTITION_UA, key, value, f->ev[i].ts);
        }
        f->produced = upto < f->n ? upto : f->n;
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* One impression per partition two hours on: every hour closes. */
static void produce_closers(fixture_t *f) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int part = 0; part < PARTITIONS; part++) {
                char key[32], value[128];
                int64_t ts = f->start + 2 * ADMATCH_WINDOW_MS;
                snprintf(key, sizeof(key), "closer-%d", part);
                snprintf(value, sizeof(value),
                         "{\"imp\":\"%s\",\"campaign\":\"c0\",\"time\":%lld}",
                         key, (long long)ts);
                send_rec(p, f->imps, part, key, value, ts);
        }
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* --- checking ------------------------------------------------------------- */

static void on_out(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        (void)map;
        expect_t *x = opaque;
        if (m->key_len >= 7 && !memcmp(m->key, "closer-", 7))
                return;
        for (size_t i = 0; i < x->n; i++)
                if (strlen(x->want[i]) == m->len &&
                    !memcmp(x->want[i], m->payload, m->len)) {
                        x->seen[i]++;
                        return;
                }
        if (x->unknown++ < 10)
                printf("# unexpected: %.*s\n", (int)m->len,
                       (const char *)m->payload);
}

static int complete(void *opaque, const kst_map_t *m) {
        (void)m;
        expect_t *x = opaque;
        for (size_t i = 0; i < x->n; i++)
                if (!x->seen[i])
                        return 0;
        return 1;
}

static void check_out(fixture_t *f, ks_app_t *app, const char *topic,
                      expect_t *x, const char *what) {
        kst_reader_t *r = kst_reader_new(f->broker, topic, PARTITIONS,
                                         f->eos ? KST_READ_COMMITTED : 0);
        kst_reader_on_record(r, on_out, x);
        int done = kst_read_until(r, app, 120000, complete, x);
        assert_true(kst_read_to_end(r, 30000));
        kst_reader_destroy(r);
        size_t missing = 0, twice = 0;
        for (size_t i = 0; i < x->n; i++) {
                missing += !x->seen[i];
                twice += x->seen[i] > 1;
        }
        printf("# %s: %zu expected, %zu missing, %zu more than once, %d "
               "unexpected\n",
               what, x->n, missing, twice, x->unknown);
        if (!done || missing || x->unknown || (f->eos && twice))
                kst_log_print();
        assert_true(done);
        assert_int_equal(missing, 0);
        assert_int_equal(x->unknown, 0);
        if (f->eos)
                assert_int_equal(twice, 0);
}

/* --- the other instance --------------------------------------------------- */

/* argv: --instance bootstrap app_id imps clicks matched unmatched state_dir
 *       eos mock */
static int run_instance(char **argv) {
        kst_instance_block_term();
        ks_config_t *c = instance_config(argv[2], argv[3], argv[8],
                                         atoi(argv[9]), atoi(argv[10]));
        ks_topology_t *t = admatch_topology(argv[4], argv[5], argv[6], argv[7]);
        ks_error_t *e = NULL;
        ks_app_t *app = t ? ks_app_new(t, c, &e) : NULL;
        if (!app || ks_app_start(app, &e)) {
                fprintf(stderr, "instance: %s\n", ks_error_message(e));
                return 2;
        }
        int rc = kst_instance_serve(app, argv[8]);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return rc;
}

static pid_t spawn_instance(fixture_t *f, const char *state_dir) {
        char eo[4], mk[4];
        snprintf(eo, sizeof(eo), "%d", f->eos);
        snprintf(mk, sizeof(mk), "%d", kst_broker_is_mock(f->broker));
        char *argv[] = {"instance",
                        "--instance",
                        (char *)kst_broker_bootstrap(f->broker),
                        (char *)f->app_id,
                        (char *)f->imps,
                        (char *)f->clicks,
                        (char *)f->matched,
                        (char *)f->unmatched,
                        (char *)state_dir,
                        eo,
                        mk,
                        NULL};
        return kst_spawn_self(argv);
}

typedef struct {
        fixture_t *f;
        int64_t min; /* every input partition's committed offset, at least */
} committed_t;

static int offsets_committed(void *opaque) {
        committed_t *c = opaque;
        rd_kafka_t *k = kst_broker_client(
                c->f->broker, RD_KAFKA_CONSUMER,
                (const char *const[]){"group.id", c->f->app_id, NULL});
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(2 * PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++) {
                rd_kafka_topic_partition_list_add(l, c->f->imps, p);
                rd_kafka_topic_partition_list_add(l, c->f->clicks, p);
        }
        int ok = !rd_kafka_committed(k, l, 5000);
        for (int p = 0; ok && p < l->cnt; p++)
                ok = l->elems[p].offset >= c->min;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(k);
        return ok;
}

/* --- the test ------------------------------------------------------------- */

static char *subdir(const char *name) {
        char *d = NULL;
        if (asprintf(&d, "%s/%s", kst_tmpdir(), name) < 0)
                fail_msg("out of memory");
        return d;
}

static void test_admatch_failover(void **state) {
        (void)state;
        const char *b = getenv("KS_TEST_BROKER");
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, "admatch", PARTITIONS,
                     (const char *const[]){"impressions", "clicks", "matched",
                                           "unmatched", NULL});
        f->broker = f->env.broker;
        f->imps = f->env.topic[0];
        f->clicks = f->env.topic[1];
        f->matched = f->env.topic[2];
        f->unmatched = f->env.topic[3];
        f->app_id = f->env.app_id;
        f->eos = b && !strcmp(b, "kafka");
        /* 3 h 10 min ago: within the changelogs' time retention, and the
         * closers two hours on are still in the past. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        f->start = (int64_t)now.tv_sec * 1000 - 11400000;
        f->n = admatch_generate(f->ev, IMPRESSIONS, f->start, 7);
        admatch_expected(f->ev, f->n, &f->m.want, &f->m.n, &f->u.want, &f->u.n);
        f->m.seen = calloc(f->m.n + 1, sizeof(int));
        f->u.seen = calloc(f->u.n + 1, sizeof(int));
        assert_true(f->m.seen && f->u.seen && f->m.n && f->u.n);

        ks_topology_t *t =
                admatch_topology(f->imps, f->clicks, f->matched, f->unmatched);
        assert_non_null(t);
        /* The mock cluster cannot create topics; Kafka gets them from the
         * application. */
        if (kst_broker_is_mock(f->broker))
                kst_create_internal_topics(f->broker, t, f->app_id, PARTITIONS,
                                           NULL, NULL);
        char *dir = subdir("admatch-a"), *vdir = subdir("admatch-b");
        char *status = NULL;
        if (asprintf(&status, "%s/status", vdir) < 0)
                fail_msg("out of memory");
        ks_config_t *c =
                instance_config(kst_broker_bootstrap(f->broker), f->app_id, dir,
                                f->eos, kst_broker_is_mock(f->broker));
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_pair_t all = {app, NULL, PARTITIONS, 0};
        if (!kst_wait_for(app, 60000, 50, kst_pair_runs, &all))
                fail_msg("the first instance never ran its tasks");
        pid_t victim = spawn_instance(f, vdir);
        kst_pair_t both = {app, status, 1, 0};
        if (!kst_wait_for(app, 90000, 20, kst_pair_both_run, &both))
                fail_msg("the instances never ran one task each");

        /* A third of the input, processed and committed; more, and the
         * victim dies while it processes it. */
        produce(f, f->n / 3);
        both.processed = 1;
        if (!kst_wait_for(app, 60000, 20, kst_pair_both_run, &both))
                fail_msg("the second instance processed nothing");
        committed_t cm = {f, 1};
        if (!kst_wait_for(app, 60000, 50, offsets_committed, &cm))
                fail_msg("the instances committed nothing");
        char vstate[32];
        long long vtasks, vdone;
        assert_true(kst_read_status(status, vstate, &vtasks, &vdone));
        produce(f, 2 * f->n / 3);
        both.processed = vdone + 1;
        if (!kst_wait_for(app, 60000, 5, kst_pair_both_run, &both))
                fail_msg("the second instance processed no more");
        kill(victim, SIGKILL);
        int st;
        waitpid(victim, &st, 0);
        assert_true(WIFSIGNALED(st));

        if (!kst_wait_for(app, 90000, 50, kst_pair_runs, &all))
                fail_msg("the survivor never took both tasks");
        produce(f, f->n);
        check_out(f, app, f->matched, &f->m, "matched");
        produce_closers(f);
        check_out(f, app, f->unmatched, &f->u, "unmatched");
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        admatch_expected_free(f->m.want, f->m.n);
        admatch_expected_free(f->u.want, f->u.n);
        free(f->m.seen);
        free(f->u.seen);
        free(dir);
        free(vdir);
        free(status);
        kst_env_fini(&f->env);
        free(f);
}

int main(int argc, char **argv) {
        if (argc > 1 && !strcmp(argv[1], "--instance"))
                return argc == 11 ? run_instance(argv) : 2;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_admatch_failover),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
