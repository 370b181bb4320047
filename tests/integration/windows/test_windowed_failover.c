/* A windowed count across two instances, one killed with SIGKILL mid-run:
 *
 *     in -> group_by_key -> tumbling 10 s windows, grace 3 s -> count -> out
 *
 * Input is keyed by device, each partition's timestamps drifting forward
 * with disorder inside the grace period and a few records far behind (too
 * late, dropped). This program computes every window's count on its own,
 * per partition in offset order (the order its task reads), and at the end
 * sends one record far ahead of all others to every partition, which
 * closes every window.
 *
 * The second instance (this program with --instance, its own state
 * directory) owns one of the two tasks; once the first half of the input
 * has been processed and partly emitted, it is killed, the survivor takes
 * its task over (restoring the store and the emit index from their
 * changelogs) and the second half follows. Then out must hold:
 *  - on window close: each window's final count, with the window's largest
 *    timestamp; under exactly_once_v2 (the real broker, read_committed)
 *    exactly once per window, under at-least-once at least once and never
 *    a different value; and nothing for a window still open;
 *  - on update: as its last value per window, the window's count. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"
#include "kst_instance.h"

#define PARTITIONS 2
#define KEYS       12 /* "d<i>" in partition i % PARTITIONS */
#define HALF       400
#define RECORDS    (2 * HALF)
#define SIZE       10000
#define GRACE      3000
#define MAXWIN     4096

typedef struct {
        kst_env_t env;
        kst_broker_t *broker;
        const char *in, *out, *app_id;
        int on_close, eos;
        int produced;
        int key[RECORDS];
        int64_t ts[RECORDS];
        int64_t clock[PARTITIONS]; /* event time per partition */
        int64_t last_ts;
        unsigned seed;
        /* The model's windows, and what out holds of each. */
        size_t nwin;
        int wkey[MAXWIN];
        int64_t wstart[MAXWIN], wcount[MAXWIN], wts[MAXWIN];
        int seen[MAXWIN];
        int64_t seen_last[MAXWIN], seen_ts[MAXWIN];
        int wrong, unknown;
} fixture_t;

/* --- the topology --------------------------------------------------------- */

static ks_topology_t *topology(const char *in, const char *out, int on_close) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {in};
        ks_windowed_stream_t *ws = ks_grouped_windowed_by(
                ks_stream_group_by_key(
                        ks_builder_stream(b, topics, 1, ks_serde_string(),
                                          ks_serde_string(), NULL),
                        NULL),
                ks_time_windows_of_size_and_grace(SIZE, GRACE));
        if (on_close)
                ws = ks_windowed_emit_strategy(ws, KS_EMIT_ON_WINDOW_CLOSE);
        ks_stream_to(
                ks_table_to_stream(ks_windowed_count(ws, "counts", NULL), NULL),
                out, NULL);
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        if (ks_builder_build(b, &t, &e)) {
                fprintf(stderr, "topology: %s\n", ks_error_message(e));
                exit(2);
        }
        ks_builder_destroy(b);
        return t;
}

/* --- input and the model -------------------------------------------------- */

static unsigned next_random(fixture_t *f) {
        f->seed = f->seed * 1103515245u + 12345u;
        return f->seed >> 8;
}

static void send_rec(rd_kafka_t *p, const char *topic, int32_t part,
                     const char *key, int64_t ts) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE("1", 1),
                RD_KAFKA_V_TIMESTAMP(ts),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e)
                fail_msg("producing: %s", rd_kafka_err2str(e));
}

/* Records f->produced .. @p upto - 1. */
static void produce(fixture_t *f, int upto) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int n = f->produced; n < upto; n++) {
                int k = (int)(next_random(f) % KEYS);
                int part = k % PARTITIONS;
                f->clock[part] += (int64_t)(next_random(f) % 400);
                int64_t ts = f->clock[part] - (int64_t)(next_random(f) % 2500);
                if (next_random(f) % 25 == 0)
                        ts -= 20000; /* too late once time has moved on */
                f->key[n] = k;
                f->ts[n] = ts;
                if (ts > f->last_ts)
                        f->last_ts = ts;
                char key[16];
                snprintf(key, sizeof(key), "d%d", k);
                send_rec(p, f->in, part, key, ts);
        }
        f->produced = upto;
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* One record per partition far ahead: every window closes. */
static void produce_closers(fixture_t *f) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int part = 0; part < PARTITIONS; part++) {
                char key[16];
                snprintf(key, sizeof(key), "end%d", part);
                send_rec(p, f->in, part, key, f->last_ts + 10 * SIZE);
        }
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* Each partition's records in offset order, as its task reads them. */
static void model(fixture_t *f) {
        f->nwin = 0;
        for (int part = 0; part < PARTITIONS; part++) {
                int64_t observed = INT64_MIN;
                for (int n = 0; n < f->produced; n++) {
                        if (f->key[n] % PARTITIONS != part)
                                continue;
                        int64_t ts = f->ts[n];
                        observed = ts > observed ? ts : observed;
                        int64_t start = ts - ts % SIZE;
                        if (start + SIZE <= observed - GRACE)
                                continue; /* late */
                        size_t w = 0;
                        while (w < f->nwin && (f->wkey[w] != f->key[n] ||
                                               f->wstart[w] != start))
                                w++;
                        if (w == f->nwin) {
                                assert_true(f->nwin < MAXWIN);
                                f->wkey[w] = f->key[n];
                                f->wstart[w] = start;
                                f->wcount[w] = 0;
                                f->wts[w] = INT64_MIN;
                                f->nwin++;
                        }
                        f->wcount[w]++;
                        f->wts[w] = ts > f->wts[w] ? ts : f->wts[w];
                }
        }
}

/* --- checking ------------------------------------------------------------- */

static void on_out(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        fixture_t *f = opaque;
        (void)map;
        const void *key;
        size_t klen;
        int64_t start, count;
        char k[16] = "";
        if (ks_windowed_key_time(m->key, m->key_len, SIZE, &key, &klen, &start,
                                 NULL) ||
            klen >= sizeof(k) ||
            ks_int64_decode(m->payload, m->len, &count, NULL)) {
                f->unknown++;
                return;
        }
        memcpy(k, key, klen);
        if (!strncmp(k, "end", 3))
                return; /* the closers' own windows */
        int kn = k[0] == 'd' ? atoi(k + 1) : -1;
        for (size_t w = 0; w < f->nwin; w++)
                if (f->wkey[w] == kn && f->wstart[w] == start) {
                        f->seen[w]++;
                        f->seen_last[w] = count;
                        f->seen_ts[w] = rd_kafka_message_timestamp(m, NULL);
                        if (f->on_close && (count != f->wcount[w] ||
                                            f->seen_ts[w] != f->wts[w])) {
                                if (f->wrong++ < 10)
                                        printf("# %s [%lld]: %lld at %lld, "
                                               "model %lld at %lld\n",
                                               k, (long long)start,
                                               (long long)count,
                                               (long long)f->seen_ts[w],
                                               (long long)f->wcount[w],
                                               (long long)f->wts[w]);
                        }
                        return;
                }
        if (f->unknown++ < 10)
                printf("# a window the model lacks: %s [%lld] = %lld\n", k,
                       (long long)start, (long long)count);
}

/* Every window is there: once (close), or with its count as last value. */
static int complete(void *opaque, const kst_map_t *m) {
        (void)m;
        fixture_t *f = opaque;
        for (size_t w = 0; w < f->nwin; w++)
                if (!f->seen[w] ||
                    (!f->on_close && f->seen_last[w] != f->wcount[w]))
                        return 0;
        return 1;
}

static void check_out(fixture_t *f, ks_app_t *app) {
        model(f);
        memset(f->seen, 0, sizeof(f->seen));
        f->wrong = f->unknown = 0;
        kst_reader_t *r = kst_reader_new(f->broker, f->out, PARTITIONS,
                                         f->eos ? KST_READ_COMMITTED : 0);
        kst_reader_on_record(r, on_out, f);
        int done = kst_read_until(r, app, 90000, complete, f);
        assert_true(kst_read_to_end(r, 30000));
        kst_reader_destroy(r);
        size_t missing = 0, twice = 0, stale = 0;
        for (size_t w = 0; w < f->nwin; w++) {
                missing += !f->seen[w];
                twice += f->seen[w] > 1;
                stale += f->seen[w] && f->seen_last[w] != f->wcount[w];
        }
        printf("# %zu windows; %zu missing, %zu emitted more than once, %zu "
               "ending on another count, %d wrong finals, %d unknown\n",
               f->nwin, missing, twice, stale, f->wrong, f->unknown);
        if (!done || f->wrong || f->unknown || stale || missing)
                kst_log_print();
        assert_true(done);
        assert_int_equal(missing, 0);
        assert_int_equal(stale, 0);
        assert_int_equal(f->wrong, 0);
        assert_int_equal(f->unknown, 0);
        if (f->on_close && f->eos)
                assert_int_equal(twice, 0);
}

/* --- the other instance --------------------------------------------------- */

static ks_config_t *app_config(const kst_broker_t *b, const char *app_id,
                               const char *state_dir, int eos) {
        return kst_app_config(
                b, app_id,
                (const char *const[]){
                        "state.dir", state_dir, "commit.interval.ms", "200",
                        "consumer.fetch.wait.max.ms", "10",
                        "processing.guarantee",
                        eos ? "exactly_once_v2" : "at_least_once", NULL});
}

/* argv: --instance bootstrap app_id in out state_dir on_close eos mock */
static int run_instance(char **argv) {
        kst_instance_block_term();
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        const char *kv[] = {"bootstrap.servers",
                            argv[2],
                            "application.id",
                            argv[3],
                            "state.dir",
                            argv[6],
                            "commit.interval.ms",
                            "200",
                            "consumer.fetch.wait.max.ms",
                            "10",
                            "consumer.session.timeout.ms",
                            atoi(argv[9]) ? "3000" : "6000",
                            "consumer.heartbeat.interval.ms",
                            atoi(argv[9]) ? "300" : "1000",
                            "processing.guarantee",
                            atoi(argv[8]) ? "exactly_once_v2" : "at_least_once",
                            NULL};
        for (size_t i = 0; kv[i]; i += 2)
                if (ks_config_set(c, kv[i], kv[i + 1], &e)) {
                        fprintf(stderr, "instance: %s\n", ks_error_message(e));
                        return 2;
                }
        ks_topology_t *t = topology(argv[4], argv[5], atoi(argv[7]));
        ks_app_t *app = ks_app_new(t, c, &e);
        if (!app || ks_app_start(app, &e)) {
                fprintf(stderr, "instance: %s\n", ks_error_message(e));
                return 2;
        }
        int rc = kst_instance_serve(app, argv[6]);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return rc;
}

static pid_t spawn_instance(fixture_t *f, const char *state_dir) {
        char oc[4], eo[4], mk[4];
        snprintf(oc, sizeof(oc), "%d", f->on_close);
        snprintf(eo, sizeof(eo), "%d", f->eos);
        snprintf(mk, sizeof(mk), "%d", kst_broker_is_mock(f->broker));
        char *argv[] = {"instance",
                        "--instance",
                        (char *)kst_broker_bootstrap(f->broker),
                        (char *)f->app_id,
                        (char *)f->in,
                        (char *)f->out,
                        (char *)state_dir,
                        oc,
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
                rd_kafka_topic_partition_list_new(PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(l, c->f->in, p);
        int ok = !rd_kafka_committed(k, l, 5000);
        for (int p = 0; ok && p < PARTITIONS; p++)
                ok = l->elems[p].offset >= c->min;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(k);
        return ok;
}

/* The value of config @p name of @p topic (static buffer; "" if none). */
static const char *topic_config(fixture_t *f, const char *topic,
                                const char *name) {
        static char value[256];
        value[0] = 0;
        rd_kafka_t *k = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(k);
        rd_kafka_ConfigResource_t *res =
                rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_DescribeConfigs(k, &res, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        const rd_kafka_DescribeConfigs_result_t *r =
                ev ? rd_kafka_event_DescribeConfigs_result(ev) : NULL;
        size_t n = 0;
        const rd_kafka_ConfigResource_t **rs =
                r ? rd_kafka_DescribeConfigs_result_resources(r, &n) : NULL;
        for (size_t i = 0;
             n == 1 && !rd_kafka_ConfigResource_error(rs[0]) && i < 1; i++) {
                size_t cnt = 0;
                const rd_kafka_ConfigEntry_t **es =
                        rd_kafka_ConfigResource_configs(rs[0], &cnt);
                for (size_t j = 0; j < cnt; j++)
                        if (!strcmp(rd_kafka_ConfigEntry_name(es[j]), name) &&
                            rd_kafka_ConfigEntry_value(es[j]))
                                snprintf(value, sizeof(value), "%s",
                                         rd_kafka_ConfigEntry_value(es[j]));
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(res);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(k);
        return value;
}

/* As Kafka Streams makes them: a window store's changelog compacted and
 * deleted after the store's retention plus a day; the emit index's (a
 * key-value store) compacted. */
static void check_changelog_configs(fixture_t *f) {
        char topic[512];
        snprintf(topic, sizeof(topic), "%s-counts-changelog", f->app_id);
        char policy[256], retention[256];
        snprintf(policy, sizeof(policy), "%s",
                 topic_config(f, topic, "cleanup.policy"));
        snprintf(retention, sizeof(retention), "%s",
                 topic_config(f, topic, "retention.ms"));
        printf("# %s: cleanup.policy %s, retention.ms %s\n", topic, policy,
               retention);
        assert_true(!strcmp(policy, "compact,delete") ||
                    !strcmp(policy, "delete,compact"));
        char want[32];
        snprintf(want, sizeof(want), "%lld",
                 (long long)(SIZE + GRACE) + 86400000LL);
        assert_string_equal(retention, want);
        if (f->on_close) {
                snprintf(topic, sizeof(topic), "%s-counts-emit-changelog",
                         f->app_id);
                assert_string_equal(topic_config(f, topic, "cleanup.policy"),
                                    "compact");
        }
}

/* --- the test ------------------------------------------------------------- */

static char *subdir(const char *name) {
        char *d = NULL;
        if (asprintf(&d, "%s/%s", kst_tmpdir(), name) < 0)
                fail_msg("out of memory");
        return d;
}

static void run(void **state, int on_close, int eos) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, on_close ? "winclose" : "winupd", PARTITIONS,
                     (const char *const[]){"in", "out", NULL});
        f->broker = f->env.broker;
        f->in = f->env.topic[0];
        f->out = f->env.topic[1];
        f->app_id = f->env.app_id;
        f->on_close = on_close;
        f->eos = eos;
        f->seed = 7u + (unsigned)on_close;
        f->last_ts = INT64_MIN;
        /* An hour ago: the changelogs' time retention (a day beyond the
         * windows') must not delete what the test wrote. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        for (int p = 0; p < PARTITIONS; p++)
                f->clock[p] = (int64_t)now.tv_sec * 1000 - 3600000;
        ks_topology_t *t = topology(f->in, f->out, on_close);
        /* The mock cluster cannot create topics; Kafka gets them from the
         * application, with the configs checked below. */
        if (kst_broker_is_mock(f->broker))
                kst_create_internal_topics(f->broker, t, f->app_id, PARTITIONS,
                                           NULL, NULL);
        char *dir = subdir(on_close ? "close-a" : "update-a");
        char *vdir = subdir(on_close ? "close-b" : "update-b");
        char *status = NULL;
        if (asprintf(&status, "%s/status", vdir) < 0)
                fail_msg("out of memory");
        ks_config_t *c = app_config(f->broker, f->app_id, dir, eos);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_pair_t all = {app, NULL, PARTITIONS, 0};
        if (!kst_wait_for(app, 60000, 50, kst_pair_runs, &all))
                fail_msg("the first instance never ran its tasks");

        if (!kst_broker_is_mock(f->broker))
                check_changelog_configs(f);
        pid_t victim = spawn_instance(f, vdir);
        kst_pair_t both = {app, status, 1, 0};
        if (!kst_wait_for(app, 90000, 20, kst_pair_both_run, &both))
                fail_msg("the instances never ran one task each");

        /* The first half, processed by both and committed in part; more
         * input, and the victim dies while it processes it. */
        produce(f, HALF);
        both.processed = 1;
        if (!kst_wait_for(app, 60000, 20, kst_pair_both_run, &both))
                fail_msg("the second instance processed nothing");
        committed_t cm = {f, 1};
        if (!kst_wait_for(app, 60000, 50, offsets_committed, &cm))
                fail_msg("the instances committed nothing");
        char vstate[32];
        long long vtasks, vdone;
        assert_true(kst_read_status(status, vstate, &vtasks, &vdone));
        produce(f, HALF + HALF / 2);
        both.processed = vdone + 1;
        if (!kst_wait_for(app, 60000, 5, kst_pair_both_run, &both))
                fail_msg("the second instance processed no more");
        kill(victim, SIGKILL);
        int st;
        waitpid(victim, &st, 0);
        assert_true(WIFSIGNALED(st));

        if (!kst_wait_for(app, 90000, 50, kst_pair_runs, &all))
                fail_msg("the survivor never took both tasks");
        produce(f, RECORDS);
        produce_closers(f);
        check_out(f, app);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        free(dir);
        free(vdir);
        free(status);
        kst_env_fini(&f->env);
        free(f);
        (void)state;
}

static int is_kafka(void) {
        const char *b = getenv("KS_TEST_BROKER");
        return b && !strcmp(b, "kafka");
}

static void test_close_failover(void **state) {
        run(state, 1, is_kafka());
}

static void test_update_failover(void **state) {
        run(state, 0, 0);
}

int main(int argc, char **argv) {
        if (argc > 1 && !strcmp(argv[1], "--instance"))
                return argc == 10 ? run_instance(argv) : 2;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_close_failover),
                cmocka_unit_test(test_update_failover),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
