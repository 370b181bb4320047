/* Fan-out into two through topics read by one source (Processor API):
 *
 *     in -> fan -> r1, r2          (each input record once to each)
 *     [r1, r2] -> pass -> out
 *
 * Input timestamps are random, so the reading task takes r1 and r2 by
 * timestamp, out of the order in which one origin's records were sent.
 * Every input record must come out of out exactly twice (its copy through
 * r1 and its copy through r2, compared record by record, key and
 * timestamp), with nothing skipped as a duplicate and nothing dropped;
 * records carrying a crafted __ks_origin with offset INT64_MAX on the
 * input topic change nothing.
 *
 * Each input record names the partition of r1 and r2 its copies go to
 * ("v<n>@<p>", a sink partitioner reads it), and pass asks for a commit
 * after every record. The failover test uses both: a second instance, a
 * separate process (this program again, with --instance) that commits
 * only when asked (commit.interval.ms 10 min), owns one partition of
 * every topic; a probe record finds out which; then the first half of
 * the input goes, whatever its input partition, to the partitions of r1
 * and r2 of the first instance. So the second instance relays its share
 * and never commits it, and has nothing downstream. It is killed with
 * SIGKILL; the survivor replays the dead one's input since its last
 * commit, whose copies reach r1 and r2 again and are dropped as
 * duplicates (both copies of each replayed record, exactly), and out
 * still holds every input record exactly twice, with nothing
 * de-duplicated by the test. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#include "common/util_int.h"

#define PARTITIONS 2 /* of every topic */
#define RECORDS    201

typedef struct {
        kst_env_t env;
        kst_broker_t *broker;                    /* env's */
        const char *in, *r1, *r2, *out, *app_id; /* env's */
        int produced;
        int64_t ts[RECORDS];
        int32_t part[RECORDS];  /* of in */
        int32_t rpart[RECORDS]; /* of r1 and r2 */
        int seen[RECORDS][2];   /* copies of each input record in out */
        int64_t seen_ts[RECORDS][2];
        unsigned seed;
} fixture_t;

/* --- the topology --------------------------------------------------------- */

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

/* The partition a copy "v<n>@<p>/<copy>" names. */
static int32_t named_partition(void *opaque, const char *topic, const void *key,
                               size_t klen, const void *value, size_t vlen,
                               int32_t cnt) {
        const char *at = value ? memchr(value, '@', vlen) : NULL;
        int32_t p = at ? (int32_t)atoi(at + 1) : -1;
        return p >= 0 && p < cnt ? p : -1;
}

/* Forward, and ask for a commit: a task reading the through topics has
 * its progress committed at once. */
static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        ks_context_commit(ctx);
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
        KST_OK_E(ks_topology_sink_set_partitioner(t, "r1-sink", named_partition,
                                                  NULL, &e));
        KST_OK_E(ks_topology_sink_set_partitioner(t, "r2-sink", named_partition,
                                                  NULL, &e));
        KST_OK_E(ks_topology_add_source(t, "r-src", (const char *[]){r1, r2}, 2,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "pass", NULL, pass, NULL, NULL,
                                           (const char *[]){"r-src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", out, NULL, NULL,
                                      (const char *[]){"pass"}, 1, &e));
        return t;
}

/* --- fixture -------------------------------------------------------------- */

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, "fan", PARTITIONS,
                     (const char *const[]){"in", "r1", "r2", "out", NULL});
        f->broker = f->env.broker;
        f->in = f->env.topic[0];
        f->r1 = f->env.topic[1];
        f->r2 = f->env.topic[2];
        f->out = f->env.topic[3];
        f->app_id = f->env.app_id;
        f->seed = 4242;
        ks_topology_t *t = topology(f->in, f->r1, f->r2, f->out);
        /* The duplicate marks' changelog of the sub-topology reading r1
         * and r2. */
        assert_int_equal(kst_create_internal_topics(f->broker, t, f->app_id,
                                                    PARTITIONS, NULL, NULL),
                         1);
        ks_topology_destroy(t);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_env_fini(&f->env);
        free(f);
        return 0;
}

static unsigned next_random(fixture_t *f) {
        f->seed = f->seed * 1103515245u + 12345u;
        return f->seed >> 8;
}

/* Input records f->produced .. @p upto - 1, "v<n>@<r>", to partition
 * @p inpart of in, with random timestamps within ten minutes; their copies
 * go to partition @p rpart of r1 and r2 (-1: random). Every tenth
 * carries a crafted origin header with offset INT64_MAX (the input topic
 * is no through topic: it must change nothing). */
static void produce_input(fixture_t *f, int upto, int inpart, int rpart) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        int64_t base = 1700000000000;
        for (int n = f->produced; n < upto; n++) {
                f->ts[n] = base + (int64_t)(next_random(f) % 600000);
                f->part[n] = inpart >= 0
                                     ? inpart
                                     : (int32_t)(next_random(f) % PARTITIONS);
                f->rpart[n] = rpart >= 0
                                      ? rpart
                                      : (int32_t)(next_random(f) % PARTITIONS);
                char k[32], v[32];
                snprintf(k, sizeof(k), "k%d", n);
                snprintf(v, sizeof(v), "v%d@%d", n, (int)f->rpart[n]);
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

/* --- checking ------------------------------------------------------------- */

static void on_out(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        fixture_t *f = opaque;
        (void)map;
        char v[32] = "";
        if (m->len && m->len < sizeof(v))
                memcpy(v, m->payload, m->len);
        int n = -1, rp = -1, copy = 0;
        if (sscanf(v, "v%d@%d/%d", &n, &rp, &copy) != 3 || n < 0 ||
            n >= f->produced || rp != f->rpart[n] || copy < 1 || copy > 2)
                fail_msg("unexpected record \"%s\" in %s", v, f->out);
        char k[32];
        snprintf(k, sizeof(k), "k%d", n);
        if (m->key_len != strlen(k) || memcmp(m->key, k, m->key_len))
                fail_msg("record %s has key %.*s, not %s", v, (int)m->key_len,
                         (const char *)m->key, k);
        f->seen[n][copy - 1]++;
        f->seen_ts[n][copy - 1] = rd_kafka_message_timestamp(m, NULL);
}

static int has_records(void *opaque, const kst_map_t *m) {
        return kst_map_records(m) >= *(const int64_t *)opaque;
}

/* out holds exactly two copies of each input record, with its key and
 * timestamp. */
static void check_out(fixture_t *f, ks_app_t *app) {
        memset(f->seen, 0, sizeof(f->seen));
        kst_reader_t *r = kst_reader_new(f->broker, f->out, PARTITIONS, 0);
        kst_reader_on_record(r, on_out, f);
        int64_t want = 2 * (int64_t)f->produced;
        kst_read_until(r, app, 60000, has_records, &want);
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
        if (wrong) {
                kst_log_print();
                fail_msg("%d of %d records of %s are not there exactly once "
                         "(%lld read, duplicates-skipped %lld)",
                         wrong, 2 * f->produced, f->out,
                         (long long)kst_map_records(kst_reader_map(r)),
                         (long long)ks_app_metric(app, "duplicates-skipped"));
        }
        assert_int_equal(kst_map_records(kst_reader_map(r)), want);
        kst_reader_destroy(r);
}

/* out holds @p n records. */
static void wait_out(fixture_t *f, ks_app_t *app, int64_t n) {
        kst_reader_t *r = kst_reader_new(f->broker, f->out, PARTITIONS, 0);
        if (!kst_read_until(r, app, 60000, has_records, &n))
                fail_msg("%s has %lld records, not %lld", f->out,
                         (long long)kst_map_records(kst_reader_map(r)),
                         (long long)n);
        kst_reader_destroy(r);
}

static ks_config_t *app_config(const fixture_t *f, const char *state_dir,
                               const char *commit_ms) {
        return kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){
                        "state.dir", state_dir, "commit.interval.ms", commit_ms,
                        "consumer.fetch.wait.max.ms", "10", NULL});
}

static char *subdir(const char *name) {
        char *d = NULL;
        if (asprintf(&d, "%s/%s", kst_tmpdir(), name) < 0)
                fail_msg("out of memory");
        return d;
}

/* --- one instance --------------------------------------------------------- */

static void test_fanout(void **state) {
        fixture_t *f = *state;
        produce_input(f, RECORDS, -1, -1);
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

/* --- failover ------------------------------------------------------------- */

/* The other instance: run the application until SIGTERM (a clean close),
 * or until killed. It commits only when pass asks. Every 20 ms it writes
 * its state and task count to <state_dir>/status. */
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
        char path[1024], tmp[1040];
        snprintf(path, sizeof(path), "%s/status", argv[8]);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        const struct timespec pace = {0, 20 * 1000000};
        for (;;) {
                FILE *st = fopen(tmp, "w");
                if (st) {
                        fprintf(st, "%s %lld\n",
                                ks_app_state_name(ks_app_state(app)),
                                (long long)ks_app_metric(app, "tasks"));
                        fclose(st);
                        rename(tmp, path);
                }
                if (sigtimedwait(&set, NULL, &pace) == SIGTERM)
                        break;
        }
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
                        (char *)f->app_id,
                        (char *)f->in,
                        (char *)f->r1,
                        (char *)f->r2,
                        (char *)f->out,
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
        int64_t n;
} app_wait_t;

/* RUNNING with n tasks. */
static int runs_tasks(void *opaque) {
        app_wait_t *w = opaque;
        return ks_app_state(w->app) == KS_APP_RUNNING &&
               ks_app_metric(w->app, "tasks") == w->n;
}

static int committed(void *opaque) {
        app_wait_t *w = opaque;
        return ks_app_metric(w->app, "commit-total") >= w->n;
}

/* @p n more commits of @p app succeed: its group is stable and what it
 * processed before is committed. */
static void wait_commits(ks_app_t *app, int n) {
        app_wait_t w = {app, ks_app_metric(app, "commit-total") + n};
        if (!kst_wait_for(app, 60000, 20, committed, &w))
                fail_msg("commit-total stays at %lld",
                         (long long)ks_app_metric(app, "commit-total"));
}

typedef struct {
        ks_app_t *app;
        const char *status; /* the other instance's */
        int64_t tasks;
} both_t;

/* Both instances RUNNING with @p tasks tasks each: both have their
 * assignment of one generation of the group. */
static int both_run(void *opaque) {
        both_t *b = opaque;
        app_wait_t me = {b->app, b->tasks};
        if (!runs_tasks(&me))
                return 0;
        FILE *st = fopen(b->status, "r");
        char state[32] = "";
        long long tasks = -1;
        int n = st ? fscanf(st, "%31s %lld", state, &tasks) : 0;
        if (st)
                fclose(st);
        return n == 2 && !strcmp(state, "RUNNING") && tasks == b->tasks;
}

/* The group is stable: both instances run their share of the tasks, and
 * commits of this one succeed. (The mock cluster may take a few rounds
 * for a member to join: it refuses a SyncGroup that comes after the
 * leader's.) */
static void wait_stable(ks_app_t *app, const char *status, int64_t tasks) {
        both_t b = {app, status, tasks};
        int64_t deadline = kst_now_ms() + 60000;
        for (;;) {
                if (!kst_wait_for(app, 60000, 20, both_run, &b))
                        fail_msg("the instances never ran %lld tasks each",
                                 (long long)tasks);
                wait_commits(app, 3);
                if (both_run(&b))
                        return;
                if (kst_now_ms() > deadline)
                        fail_msg("the group is not stable after 60 s");
        }
}

static void test_failover(void **state) {
        fixture_t *f = *state;
        char *dir = subdir("survivor"), *vdir = subdir("victim");
        char *status = NULL;
        if (asprintf(&status, "%s/status", vdir) < 0)
                fail_msg("out of memory");
        ks_config_t *c = app_config(f, dir, "100");
        ks_topology_t *t = topology(f->in, f->r1, f->r2, f->out);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        app_wait_t all = {app, 2 * PARTITIONS};
        if (!kst_wait_for(app, 60000, 50, runs_tasks, &all))
                fail_msg("the first instance never ran its tasks");

        /* Each instance owns one partition of every topic: one upstream
         * and one downstream task. Input comes once the group is stable:
         * while a rebalance is pending the group refuses commits, and what
         * an instance processes meanwhile is processed again after it (its
         * own at-least-once replay, which may duplicate output). The
         * survivor is kept idle around the rebalances, so that the only
         * replay is the victim's. */
        pid_t victim = spawn_instance(f, vdir);
        wait_stable(app, status, PARTITIONS);

        /* A probe through partition 0 of everything: the first instance
         * processes it (three records) if partition 0 is its own. */
        int64_t before = ks_app_metric(app, "process-total");
        produce_input(f, 1, 0, 0);
        wait_out(f, app, 2);
        wait_commits(app, 3);
        int64_t probe = ks_app_metric(app, "process-total") - before;
        if (probe != 0 && probe != 3)
                fail_msg("the first instance processed %lld records of the "
                         "probe",
                         (long long)probe);
        int32_t mine = probe ? 0 : 1;
        printf("# the first instance owns partition %d\n", (int)mine);

        /* The first half: every copy to the survivor's partition of r1 and
         * r2. The victim relays its share and commits nothing. */
        int64_t dup_before = ks_app_metric(app, "duplicates-skipped");
        produce_input(f, 1 + (RECORDS - 1) / 2, -1, mine);
        int64_t victim_share = 0;
        for (int n = 1; n < f->produced; n++)
                victim_share += f->part[n] != mine;
        wait_out(f, app, 2 * (int64_t)f->produced);
        wait_commits(app, 3);
        kill(victim, SIGKILL);
        int st;
        waitpid(victim, &st, 0);
        assert_true(WIFSIGNALED(st));

        /* The survivor takes every task over and replays the victim's
         * input since its last commit; then the second half. */
        if (!kst_wait_for(app, 60000, 50, runs_tasks, &all))
                fail_msg("the survivor never took every task");
        wait_commits(app, 3);
        produce_input(f, RECORDS, -1, -1);
        check_out(f, app);
        int64_t skipped = ks_app_metric(app, "duplicates-skipped") - dup_before;
        printf("# duplicates skipped after the failover: %lld (the victim's "
               "first-half records: %lld)\n",
               (long long)skipped, (long long)victim_share);
        assert_int_equal(skipped, 2 * victim_share);
        assert_int_equal(ks_app_metric(app, "dropped-records"), 0);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        free(dir);
        free(vdir);
        free(status);
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
