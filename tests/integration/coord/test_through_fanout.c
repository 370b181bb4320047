/* Fan-out into two through topics read by one source (Processor API):
 *
 *     in -> fan -> r1, r2          (each input record once to each)
 *     [r1, r2] -> pass -> out
 *
 * Input timestamps are random, so the reading task takes r1 and r2 by
 * timestamp, out of the order in which one origin's records were sent.
 * Every input record must come out of out exactly twice (its copy through
 * r1 and its copy through r2, compared record by record), with nothing
 * skipped as a duplicate and nothing dropped; records carrying a crafted
 * __ks_origin with offset INT64_MAX on the input topic change nothing.
 *
 * The failover test runs a second instance as a separate process (this
 * program again, with --instance) that owns only an upstream task, lets
 * it relay its share of the input without committing, kills it with
 * SIGKILL and produces more input. The surviving instance replays the
 * dead one's input from the start; the replayed copies reach r1 and r2
 * again and are dropped as duplicates (exactly two per replayed record),
 * so out still holds each input record exactly twice, with nothing
 * de-duplicated by the test. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#include "common/util_int.h"

#define IN_PARTITIONS 2
#define R_PARTITIONS  1 /* r1, r2 and out */
#define RECORDS       200

typedef struct {
        kst_broker_t *broker;
        char *in, *r1, *r2, *out, *app_id;
        int produced;
        int64_t ts[RECORDS];
        int32_t part[RECORDS];
        int seen[RECORDS][2]; /* copies of each input record in out */
        int64_t seen_ts[RECORDS][2];
        unsigned seed;
} fixture_t;

/* --- the topology ----------------------------------------------------------
 */

/* Each record once to r1 as "<value>/1" and once to r2 as "<value>/2". */
static ks_err_t fan(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const char *v = ks_record_value(rec, &vl);
        char buf[64];
        for (int copy = 1; copy <= 2; copy++) {
                int n = snprintf(buf, sizeof(buf), "%.*s/%d", (int)vl, v, copy);
                ks_err_t err = ks_context_forward_to(
                        ctx, copy == 1 ? "r1-sink" : "r2-sink", k, kl, buf,
                        (size_t)n);
                if (err)
                        return err;
        }
        return KS_ERR_NO_ERROR;
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, k, kl, v, vl);
}

static ks_topology_t *topology(const char *in, const char *r1, const char *r2,
                               const char *out) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        assert_non_null(t);
        KST_OK_E(ks_topology_add_source(t, "in-src", (const char *[]){in}, 1,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "fan", NULL, fan, NULL, NULL,
                                           (const char *[]){"in-src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "r1-sink", r1, NULL, NULL,
                                      (const char *[]){"fan"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "r2-sink", r2, NULL, NULL,
                                      (const char *[]){"fan"}, 1, &e));
        KST_OK_E(ks_topology_add_source(t, "r-src", (const char *[]){r1, r2}, 2,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "pass", NULL, pass, NULL, NULL,
                                           (const char *[]){"r-src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", out, NULL, NULL,
                                      (const char *[]){"pass"}, 1, &e));
        return t;
}

/* --- fixture ---------------------------------------------------------------
 */

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->broker = kst_broker_get(NULL, 1);
        f->in = kst_unique_name("fan-in");
        f->r1 = kst_unique_name("fan-r1");
        f->r2 = kst_unique_name("fan-r2");
        f->out = kst_unique_name("fan-out");
        f->app_id = kst_unique_name("fan-app");
        f->seed = 4242;
        kst_broker_create_topic(f->broker, f->in, IN_PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->r1, R_PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->r2, R_PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->out, R_PARTITIONS, NULL);
        ks_topology_t *t = topology(f->in, f->r1, f->r2, f->out);
        /* The duplicate marks' changelog of the sub-topology reading r1
         * and r2. */
        assert_int_equal(kst_create_internal_topics(f->broker, t, f->app_id,
                                                    R_PARTITIONS, NULL, NULL),
                         1);
        ks_topology_destroy(t);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_broker_destroy(f->broker);
        free(f->in);
        free(f->r1);
        free(f->r2);
        free(f->out);
        free(f->app_id);
        free(f);
        return 0;
}

static unsigned next_random(fixture_t *f) {
        f->seed = f->seed * 1103515245u + 12345u;
        return f->seed >> 8;
}

/* Input records f->produced .. @p upto - 1, "v<n>", spread over the
 * partitions, with random timestamps within ten minutes; every tenth
 * carries a crafted origin header with offset INT64_MAX (the input topic
 * is no through topic: it must change nothing). */
static void produce_input(fixture_t *f, int upto) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        int64_t base = 1700000000000;
        for (int n = f->produced; n < upto; n++) {
                char k[32], v[32];
                snprintf(k, sizeof(k), "k%d", n);
                snprintf(v, sizeof(v), "v%d", n);
                f->ts[n] = base + (int64_t)(next_random(f) % 600000);
                f->part[n] = (int32_t)(next_random(f) % IN_PARTITIONS);
                rd_kafka_headers_t *h = NULL;
                if (n % 10 == 3) {
                        uint8_t o[25];
                        o[0] = 2;
                        ks__be32_put(o + 1, 0);
                        ks__be32_put(o + 5, 0);
                        ks__be32_put(o + 9, (uint32_t)f->part[n]);
                        ks__be64_put(o + 13, (uint64_t)INT64_MAX);
                        ks__be32_put(o + 21, 0);
                        h = rd_kafka_headers_new(1);
                        rd_kafka_header_add(h, "__ks_origin", -1, o, sizeof(o));
                }
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(f->in),
                        RD_KAFKA_V_PARTITION(f->part[n]),
                        RD_KAFKA_V_KEY(k, strlen(k)),
                        RD_KAFKA_V_VALUE(v, strlen(v)),
                        RD_KAFKA_V_TIMESTAMP(f->ts[n]),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
                if (e)
                        fail_msg("producing: %s", rd_kafka_err2str(e));
        }
        f->produced = upto;
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* --- checking --------------------------------------------------------------
 */

static void on_out(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        fixture_t *f = opaque;
        (void)map;
        char v[32] = "";
        if (m->len && m->len < sizeof(v))
                memcpy(v, m->payload, m->len);
        int n = -1, copy = 0;
        if (sscanf(v, "v%d/%d", &n, &copy) != 2 || n < 0 || n >= f->produced ||
            copy < 1 || copy > 2)
                fail_msg("unexpected record \"%s\" in %s", v, f->out);
        char k[32];
        snprintf(k, sizeof(k), "k%d", n);
        if (m->key_len != strlen(k) || memcmp(m->key, k, m->key_len))
                fail_msg("record %s has key %.*s, not %s", v, (int)m->key_len,
                         (const char *)m->key, k);
        f->seen[n][copy - 1]++;
        f->seen_ts[n][copy - 1] = rd_kafka_message_timestamp(m, NULL);
}

static int read_all(void *opaque, const kst_map_t *m) {
        const fixture_t *f = opaque;
        return kst_map_records(m) >= 2 * (int64_t)f->produced;
}

/* out holds exactly two copies of each input record, with its key and
 * timestamp. */
static void check_out(fixture_t *f, ks_app_t *app) {
        memset(f->seen, 0, sizeof(f->seen));
        kst_reader_t *r = kst_reader_new(f->broker, f->out, R_PARTITIONS, 0);
        kst_reader_on_record(r, on_out, f);
        kst_read_until(r, app, 60000, read_all, f);
        assert_true(kst_read_to_end(r, 30000));
        int wrong = 0;
        for (int n = 0; n < f->produced; n++)
                for (int c = 0; c < 2; c++) {
                        if (f->seen[n][c] == 1 && f->seen_ts[n][c] == f->ts[n])
                                continue;
                        if (wrong++ < 20)
                                printf("# v%d/%d (in [%d], ts %lld) came out "
                                       "%d times\n",
                                       n, c + 1, f->part[n],
                                       (long long)f->ts[n], f->seen[n][c]);
                }
        if (wrong)
                fail_msg("%d of %d records of %s are not there exactly once "
                         "(%lld read, duplicates-skipped %lld)",
                         wrong, 2 * f->produced, f->out,
                         (long long)kst_map_records(kst_reader_map(r)),
                         (long long)ks_app_metric(app, "duplicates-skipped"));
        assert_int_equal(kst_map_records(kst_reader_map(r)), 2 * f->produced);
        kst_reader_destroy(r);
}

static ks_config_t *app_config(const fixture_t *f, const char *state_dir,
                               const char *commit_ms) {
        return kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){
                        "state.dir", state_dir, "commit.interval.ms", commit_ms,
                        "consumer.session.timeout.ms", "6000",
                        "consumer.fetch.wait.max.ms", "10", NULL});
}

static char *subdir(const char *name) {
        char *d = NULL;
        if (asprintf(&d, "%s/%s", kst_tmpdir(), name) < 0)
                fail_msg("out of memory");
        return d;
}

/* --- one instance ----------------------------------------------------------
 */

static void test_fanout(void **state) {
        fixture_t *f = *state;
        produce_input(f, RECORDS);
        char *dir = subdir("single");
        ks_config_t *c = app_config(f, dir, "100");
        ks_topology_t *t = topology(f->in, f->r1, f->r2, f->out);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        check_out(f, app);
        /* Every input record, and both copies of it through r1 and r2. */
        kst_wait_processed(app, 3 * RECORDS, 30000);
        assert_int_equal(ks_app_metric(app, "duplicates-skipped"), 0);
        assert_int_equal(ks_app_metric(app, "dropped-records"), 0);
        assert_int_equal(ks_app_metric(app, "process-total"), 3 * RECORDS);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        free(dir);
}

/* --- failover --------------------------------------------------------------
 */

/* The other instance: run the application until SIGTERM (a clean close),
 * or until killed. Never commits on its own (commit.interval.ms 10 min). */
static int run_instance(char **argv) {
        /* argv: --instance bootstrap app_id in r1 r2 out state_dir */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit it */
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        const char *kv[] = {"bootstrap.servers",
                            argv[2],
                            "application.id",
                            argv[3],
                            "state.dir",
                            argv[8],
                            "commit.interval.ms",
                            "600000",
                            "consumer.session.timeout.ms",
                            "6000",
                            "consumer.fetch.wait.max.ms",
                            "10",
                            NULL};
        for (size_t i = 0; kv[i]; i += 2)
                if (ks_config_set(c, kv[i], kv[i + 1], &e)) {
                        fprintf(stderr, "instance: %s\n", ks_error_message(e));
                        return 2;
                }
        ks_topology_t *t = topology(argv[4], argv[5], argv[6], argv[7]);
        ks_app_t *app = ks_app_new(t, c, &e);
        if (!app || ks_app_start(app, &e)) {
                fprintf(stderr, "instance: %s\n", ks_error_message(e));
                return 2;
        }
        int sig = 0;
        sigwait(&set, &sig);
        int rc = ks_app_close(app, 30000) || ks_app_error(app) ? 1 : 0;
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return rc;
}

/* This program again, with --instance, on its own state directory. */
static pid_t spawn_instance(fixture_t *f, const char *state_dir) {
        char *argv[] = {"instance",
                        "--instance",
                        (char *)kst_broker_bootstrap(f->broker),
                        f->app_id,
                        f->in,
                        f->r1,
                        f->r2,
                        f->out,
                        (char *)state_dir,
                        NULL};
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
                fail_msg("fork failed");
        if (!pid) {
                /* Killed with this process, whatever becomes of it. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execv("/proc/self/exe", argv);
                _exit(127);
        }
        return pid;
}

typedef struct {
        ks_app_t *app;
        int64_t tasks; /* the number to wait for; 0: fewer than 3 */
} tasks_t;

static int settled(void *opaque) {
        tasks_t *w = opaque;
        int64_t n = ks_app_metric(w->app, "tasks");
        if (ks_app_state(w->app) != KS_APP_RUNNING)
                return 0;
        return w->tasks ? n == w->tasks : n > 0 && n < 3;
}

typedef struct {
        fixture_t *f;
        rd_kafka_t *c;
        int64_t want;
} relayed_t;

/* Both through topics hold @p want records. */
static int relayed(void *opaque) {
        relayed_t *r = opaque;
        const char *topics[] = {r->f->r1, r->f->r2};
        for (int i = 0; i < 2; i++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(r->c, topics[i], 0, &lo,
                                                     &hi, 5000) ||
                    hi < r->want)
                        return 0;
        }
        return 1;
}

static void test_failover(void **state) {
        fixture_t *f = *state;
        char *dir = subdir("survivor");
        ks_config_t *c = app_config(f, dir, "100");
        ks_topology_t *t = topology(f->in, f->r1, f->r2, f->out);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        tasks_t all = {app, 3};
        if (!kst_wait_for(app, 60000, 50, settled, &all))
                fail_msg("the first instance never ran its 3 tasks");

        /* The other instance must own an upstream task only (0_x), so
         * that killing it replays upstream input and nothing downstream:
         * the range assignor gives partition 0 of r1 and r2 (task 1_0)
         * to the member it sorts first. Try again until it is this one. */
        pid_t victim = -1;
        for (int attempt = 0; attempt < 8 && victim < 0; attempt++) {
                char name[32];
                snprintf(name, sizeof(name), "victim-%d", attempt);
                char *vdir = subdir(name);
                pid_t pid = spawn_instance(f, vdir);
                free(vdir);
                tasks_t split = {app, 0};
                if (!kst_wait_for(app, 60000, 50, settled, &split))
                        fail_msg("the group never split the tasks");
                if (ks_app_metric(app, "tasks") == 2) {
                        victim = pid;
                        break;
                }
                printf("# attempt %d: the other instance owns the "
                       "downstream task; again\n",
                       attempt);
                kill(pid, SIGTERM);
                int st;
                waitpid(pid, &st, 0);
                if (!kst_wait_for(app, 60000, 50, settled, &all))
                        fail_msg("the first instance never got its 3 tasks "
                                 "back");
        }
        if (victim < 0)
                fail_msg("the other instance never got an upstream task "
                         "only");

        /* The first half: the victim relays its partition's share and
         * commits nothing. */
        produce_input(f, RECORDS / 2);
        int64_t first[IN_PARTITIONS] = {0};
        for (int n = 0; n < f->produced; n++)
                first[f->part[n]]++;
        relayed_t rl = {f,
                        kst_broker_client(f->broker, RD_KAFKA_CONSUMER, NULL),
                        RECORDS / 2};
        if (!kst_wait_for(app, 60000, 50, relayed, &rl))
                fail_msg("r1 and r2 never got the first %d records",
                         RECORDS / 2);
        rd_kafka_destroy(rl.c);
        int64_t dup_before = ks_app_metric(app, "duplicates-skipped");
        assert_int_equal(dup_before, 0);
        kill(victim, SIGKILL);
        int st;
        waitpid(victim, &st, 0);
        assert_true(WIFSIGNALED(st));

        /* The second half, while the group notices the death. */
        produce_input(f, RECORDS);
        if (!kst_wait_for(app, 60000, 50, settled, &all))
                fail_msg("the survivor never took the 3 tasks");
        check_out(f, app);
        /* The replay: the victim's partition from its start (it never
         * committed); both copies of each of its first-half records are
         * dropped, nothing else. */
        int64_t skipped = ks_app_metric(app, "duplicates-skipped");
        printf("# duplicates skipped after the failover: %lld (first half: "
               "%lld records in partition 0, %lld in 1)\n",
               (long long)skipped, (long long)first[0], (long long)first[1]);
        if (skipped != 2 * first[0] && skipped != 2 * first[1])
                fail_msg("%lld duplicates skipped: not both copies of the "
                         "victim's %lld or %lld first-half records",
                         (long long)skipped, (long long)first[0],
                         (long long)first[1]);
        assert_int_equal(ks_app_metric(app, "dropped-records"), 0);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        free(dir);
}

int main(int argc, char **argv) {
        if (argc > 1 && !strcmp(argv[1], "--instance"))
                return argc == 9 ? run_instance(argv) : 2;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fanout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
