/* kstreams-reset against a real Kafka broker (the mock cluster has no
 * admin API), running the installed program ($KS_RESET):
 *  - while the word count runs, the reset is refused and changes nothing;
 *  - a dry run prints each partition's committed and new offset, each
 *    internal topic and the directory, and changes nothing;
 *  - the reset (to earliest, internal topics discovered, --local) commits
 *    the start of the input and the end of the through topic, deletes the
 *    internal topics and the state directory: the restarted application
 *    counts every word again from zero and ends at the independent count;
 *  - --to-datetime, --by-duration and --to-offset commit the offsets an
 *    independent look at the records' timestamps expects;
 *  - internal topics are found by their names alone, their committed
 *    offsets deleted, and no topic of another name is touched.
 * The first three tests share one application and run in order. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 3
#define VOCAB      30
#define WAIT_MS    120000

extern char **environ;

typedef struct {
        kst_wc_t *wc;
        char *state_dir;
        char *internal[4]; /* the topology's internal topics */
        size_t internal_cnt;
        int64_t committed_in[PARTITIONS], committed_words[PARTITIONS];
} fixture_t;

/* --- running the tool ---------------------------------------------------- */

typedef struct {
        int status; /* exit status */
        char *out, *err;
} run_t;

static char *slurp(const char *path) {
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char *s = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&s, &n);
        char buf[4096];
        size_t r;
        while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, r, m);
        fclose(m);
        fclose(f);
        return s;
}

/* Run kstreams-reset with the NULL-terminated arguments after
 * --application-id and --bootstrap-servers of group @p app. */
static run_t run_reset(const kst_broker_t *b, const char *app, ...) {
        const char *tool = getenv("KS_RESET");
        assert_non_null(tool);
        char *argv[40] = {(char *)tool, "--application-id", (char *)app,
                          "--bootstrap-servers",
                          (char *)kst_broker_bootstrap(b)};
        int argc = 5;
        va_list ap;
        va_start(ap, app);
        for (char *a; argc < 39 && (a = va_arg(ap, char *));)
                argv[argc++] = a;
        va_end(ap);
        argv[argc] = NULL;
        char out[4096], err[4096];
        snprintf(out, sizeof(out), "%s/reset.out", kst_tmpdir());
        snprintf(err, sizeof(err), "%s/reset.err", kst_tmpdir());
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid;
        assert_int_equal(posix_spawn(&pid, tool, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        int64_t deadline = kst_now_ms() + WAIT_MS;
        int st;
        while (waitpid(pid, &st, WNOHANG) == 0) {
                if (kst_now_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                        fail_msg("kstreams-reset did not end in %d s",
                                 WAIT_MS / 1000);
                }
                nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
        }
        assert_true(WIFEXITED(st));
        run_t r = {WEXITSTATUS(st), slurp(out), slurp(err)};
        printf("# kstreams-reset exit %d\n# stdout:\n%s# stderr:\n%s", r.status,
               r.out, r.err);
        return r;
}

static void run_free(run_t *r) {
        free(r->out);
        free(r->err);
}

static void assert_says(const char *text, const char *needle) {
        if (!strstr(text, needle))
                fail_msg("the output does not say \"%s\"", needle);
}

/* --- looking at the cluster ---------------------------------------------- */

/* The offsets group @p group committed for @p n partitions of @p topic
 * (-1: none), asked by a consumer of the group that does not join it. */
static void committed(const kst_broker_t *b, const char *group,
                      const char *topic, int n, int64_t *out) {
        rd_kafka_t *c = kst_broker_client(
                b, RD_KAFKA_CONSUMER,
                (const char *const[]){"group.id", group, "enable.auto.commit",
                                      "false", NULL});
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(n);
        for (int p = 0; p < n; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        rd_kafka_resp_err_t e = rd_kafka_committed(c, l, 30000);
        if (e)
                fail_msg("committed offsets of %s: %s", group,
                         rd_kafka_err2str(e));
        for (int p = 0; p < n; p++)
                out[p] = l->elems[p].offset < 0 ? -1 : l->elems[p].offset;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(c);
}

static void watermarks(const kst_broker_t *b, const char *topic, int n,
                       int64_t *lo, int64_t *hi) {
        rd_kafka_t *c = kst_broker_client(b, RD_KAFKA_CONSUMER, NULL);
        for (int p = 0; p < n; p++)
                assert_int_equal(rd_kafka_query_watermark_offsets(
                                         c, topic, p, &lo[p], &hi[p], 30000),
                                 0);
        rd_kafka_destroy(c);
}

static int topic_exists(const kst_broker_t *b, const char *topic) {
        rd_kafka_t *c = kst_broker_client(b, RD_KAFKA_PRODUCER, NULL);
        const struct rd_kafka_metadata *md = NULL;
        assert_int_equal(rd_kafka_metadata(c, 1, NULL, &md, 30000), 0);
        int found = 0;
        for (int i = 0; i < md->topic_cnt; i++)
                found |= !strcmp(md->topics[i].topic, topic) &&
                         !md->topics[i].err;
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(c);
        return found;
}

static int dir_exists(const char *dir, const char *name) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return lstat(path, &st) == 0;
}

/* --- the application ----------------------------------------------------- */

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->wc = kst_wc_new(NULL, 1, "reset", PARTITIONS, VOCAB, 4242);
        if (asprintf(&f->state_dir, "%s/reset-state", kst_tmpdir()) < 0)
                fail();
        /* The internal topics, as the topology names them. */
        ks_error_t *e = NULL;
        ks_topology_t *t =
                wordcount_topology_on(f->wc->in, f->wc->words_topic, f->wc->out,
                                      KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        KST_OK_E(ks_topology_build(t, &e));
        f->internal_cnt = ks_topology_internal_topic_count(t);
        assert_int_equal(f->internal_cnt, 2); /* counts, duplicate marks */
        for (size_t i = 0; i < f->internal_cnt; i++) {
                char name[512];
                KST_OK(ks_topology_internal_topic(t, f->wc->app_id, i, name,
                                                  sizeof(name), NULL));
                f->internal[i] = strdup(name);
        }
        ks_topology_destroy(t);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        if (!f)
                return 0;
        for (size_t i = 0; i < f->internal_cnt; i++)
                free(f->internal[i]);
        free(f->state_dir);
        kst_wc_destroy(f->wc);
        free(f);
        return 0;
}

static ks_app_t *start_app(fixture_t *f, kst_restores_t *rc) {
        ks_error_t *e = NULL;
        ks_config_t *c = kst_app_config(
                f->wc->broker, f->wc->app_id,
                (const char *const[]){"state.dir", f->state_dir,
                                      "commit.interval.ms", "200", NULL});
        ks_topology_t *t =
                wordcount_topology_on(f->wc->in, f->wc->words_topic, f->wc->out,
                                      KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, rc ? kst_count_restores : NULL, rc);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

/* The group committed the end of the input and of the through topic. */
static int caught_up(void *opaque) {
        fixture_t *f = opaque;
        int64_t lo[PARTITIONS], hi[PARTITIONS], c[PARTITIONS];
        const char *topics[] = {f->wc->in, f->wc->words_topic};
        for (int k = 0; k < 2; k++) {
                watermarks(f->wc->broker, topics[k], PARTITIONS, lo, hi);
                committed(f->wc->broker, f->wc->app_id, topics[k], PARTITIONS,
                          c);
                for (int p = 0; p < PARTITIONS; p++)
                        if (c[p] != hi[p])
                                return 0;
        }
        return 1;
}

/* What the committed offsets, the internal topics and the state
 * directory are now is what they were when the application stopped. */
static void assert_unchanged(fixture_t *f) {
        int64_t in[PARTITIONS], words[PARTITIONS];
        committed(f->wc->broker, f->wc->app_id, f->wc->in, PARTITIONS, in);
        committed(f->wc->broker, f->wc->app_id, f->wc->words_topic, PARTITIONS,
                  words);
        for (int p = 0; p < PARTITIONS; p++) {
                assert_int_equal(in[p], f->committed_in[p]);
                assert_int_equal(words[p], f->committed_words[p]);
        }
        for (size_t i = 0; i < f->internal_cnt; i++)
                if (!topic_exists(f->wc->broker, f->internal[i]))
                        fail_msg("internal topic %s is gone", f->internal[i]);
        assert_true(dir_exists(f->state_dir, f->wc->app_id));
}

#define RESET_ARGS(f)                                                          \
        "--input-topics", (f)->wc->in, "--intermediate-topics",                \
                (f)->wc->words_topic, "--local", "--state-dir", (f)->state_dir

/* 1. While the application runs, the reset is refused. */
static void test_refused_while_running(void **state) {
        fixture_t *f = *state;
        kst_wc_produce(f->wc, 200, 5, 0);
        ks_app_t *app = start_app(f, NULL);
        kst_wait_state(app, KS_APP_RUNNING, WAIT_MS);
        kst_wc_wait_counts(f->wc, app, WAIT_MS);
        assert_true(kst_wait_for(app, WAIT_MS, 100, caught_up, f));
        committed(f->wc->broker, f->wc->app_id, f->wc->in, PARTITIONS,
                  f->committed_in);
        committed(f->wc->broker, f->wc->app_id, f->wc->words_topic, PARTITIONS,
                  f->committed_words);
        for (int dry = 0; dry < 2; dry++) {
                run_t r = dry ? run_reset(f->wc->broker, f->wc->app_id,
                                          RESET_ARGS(f), "--dry-run", NULL)
                              : run_reset(f->wc->broker, f->wc->app_id,
                                          RESET_ARGS(f), NULL);
                assert_int_equal(r.status, 3);
                assert_says(r.err, "active member");
                assert_says(r.err, f->wc->app_id);
                assert_string_equal(r.out, "");
                run_free(&r);
                assert_unchanged(f);
        }
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
}

/* 2. A dry run prints the plan and changes nothing. */
static void test_dry_run(void **state) {
        fixture_t *f = *state;
        int64_t lo[PARTITIONS], hi[PARTITIONS], wlo[PARTITIONS],
                whi[PARTITIONS];
        watermarks(f->wc->broker, f->wc->in, PARTITIONS, lo, hi);
        watermarks(f->wc->broker, f->wc->words_topic, PARTITIONS, wlo, whi);
        run_t r = run_reset(f->wc->broker, f->wc->app_id, RESET_ARGS(f),
                            "--dry-run", "--to-earliest", NULL);
        assert_int_equal(r.status, 0);
        char line[1024];
        for (int p = 0; p < PARTITIONS; p++) {
                snprintf(line, sizeof(line),
                         "reset offset: %s [%d] (input): %lld -> %lld\n",
                         f->wc->in, p, (long long)f->committed_in[p],
                         (long long)lo[p]);
                assert_says(r.out, line);
                snprintf(line, sizeof(line),
                         "reset offset: %s [%d] (intermediate): %lld -> "
                         "%lld\n",
                         f->wc->words_topic, p,
                         (long long)f->committed_words[p], (long long)whi[p]);
                assert_says(r.out, line);
        }
        for (size_t i = 0; i < f->internal_cnt; i++) {
                snprintf(line, sizeof(line), "delete topic: %s\n",
                         f->internal[i]);
                assert_says(r.out, line);
        }
        snprintf(line, sizeof(line), "wipe directory: %s/%s\n", f->state_dir,
                 f->wc->app_id);
        assert_says(r.out, line);
        /* Nothing else is deleted: the user's topics stay. */
        assert_null(strstr(r.out, f->wc->out));
        assert_null(strstr(r.out, "Done."));
        run_free(&r);
        assert_unchanged(f);
}

/* The second run's counts: the first and last count of each word read
 * after where the first run's output ended. */
typedef struct {
        fixture_t *f;
        int64_t start[PARTITIONS];
        int64_t first[VOCAB], last[VOCAB];
} recount_t;

static void on_count(void *opaque, const rd_kafka_message_t *m,
                     const kst_map_t *map) {
        recount_t *rc = opaque;
        if (m->partition < 0 || m->partition >= PARTITIONS ||
            m->offset < rc->start[m->partition])
                return;
        int w = kst_wc_word(rc->f->wc, m->key, m->key_len);
        if (w < 0)
                fail_msg("unexpected word %.*s", (int)m->key_len,
                         (const char *)m->key);
        int64_t v;
        KST_OK(ks_int64_decode(m->payload, m->len, &v, NULL));
        if (v < 1 || v > rc->f->wc->expect[w])
                fail_msg("word %s counted %lld of %lld", rc->f->wc->words[w],
                         (long long)v, (long long)rc->f->wc->expect[w]);
        if (!rc->first[w])
                rc->first[w] = v;
        rc->last[w] = v;
}

static int recounted(void *opaque, const kst_map_t *m) {
        recount_t *rc = opaque;
        for (int w = 0; w < VOCAB; w++)
                if (rc->last[w] != rc->f->wc->expect[w])
                        return 0;
        return 1;
}

/* 3. The reset, then the application counts everything again. */
static void test_reset_and_reprocess(void **state) {
        fixture_t *f = *state;
        recount_t rc = {f, {0}, {0}, {0}};
        int64_t lo[PARTITIONS], whi[PARTITIONS], c[PARTITIONS];
        watermarks(f->wc->broker, f->wc->out, PARTITIONS, lo, rc.start);
        run_t r = run_reset(f->wc->broker, f->wc->app_id, RESET_ARGS(f),
                            "--to-earliest", NULL);
        assert_int_equal(r.status, 0);
        assert_says(r.out, "Done.\n");
        run_free(&r);

        watermarks(f->wc->broker, f->wc->in, PARTITIONS, lo, c);
        int64_t in[PARTITIONS];
        committed(f->wc->broker, f->wc->app_id, f->wc->in, PARTITIONS, in);
        watermarks(f->wc->broker, f->wc->words_topic, PARTITIONS, c, whi);
        committed(f->wc->broker, f->wc->app_id, f->wc->words_topic, PARTITIONS,
                  c);
        for (int p = 0; p < PARTITIONS; p++) {
                assert_int_equal(in[p], lo[p]);
                assert_int_equal(c[p], whi[p]);
        }
        for (size_t i = 0; i < f->internal_cnt; i++)
                if (topic_exists(f->wc->broker, f->internal[i]))
                        fail_msg("internal topic %s is still there",
                                 f->internal[i]);
        assert_false(dir_exists(f->state_dir, f->wc->app_id));
        /* The user's topics stay. */
        assert_true(topic_exists(f->wc->broker, f->wc->out));

        /* Nothing new produced: the restarted application restores
         * nothing, reads the input from the start and counts from zero. */
        kst_restores_t restores = {WORDCOUNT_STORE, 0, 0};
        ks_app_t *app = start_app(f, &restores);
        kst_wait_state(app, KS_APP_RUNNING, WAIT_MS);
        kst_reader_t *rd =
                kst_reader_new(f->wc->broker, f->wc->out, PARTITIONS, 0);
        kst_reader_on_record(rd, on_count, &rc);
        if (!kst_read_until(rd, app, WAIT_MS, recounted, &rc)) {
                kst_log_print();
                for (int w = 0; w < VOCAB; w++)
                        printf("# %s: %lld of %lld\n", f->wc->words[w],
                               (long long)rc.last[w],
                               (long long)f->wc->expect[w]);
                fail_msg("the counts after the reset are not the input's");
        }
        kst_reader_destroy(rd);
        for (int w = 0; w < VOCAB; w++)
                if (f->wc->expect[w] && rc.first[w] != 1)
                        fail_msg("word %s: counted on from %lld, not from 1",
                                 f->wc->words[w], (long long)rc.first[w]);
        assert_int_equal(kst_restored(&restores), 0);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
}

/* --- time points --------------------------------------------------------- */

#define TP_PARTS 3

/* The first offset of the @p n timestamps @p ts at or after @p t; @p n if
 * none. */
static int64_t first_at(const int64_t *ts, int n, int64_t t) {
        for (int i = 0; i < n; i++)
                if (ts[i] >= t)
                        return i;
        return n;
}

static void iso(int64_t ms, char *buf, size_t size) {
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        char d[32];
        strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%03dZ", d, (int)(ms % 1000));
}

static void test_time_points(void **state) {
        fixture_t *f = *state;
        kst_broker_t *b = f->wc->broker;
        char *topic = kst_unique_name("reset-times");
        char *group = kst_unique_name("reset-times-app");
        kst_broker_create_topic(b, topic, TP_PARTS, NULL);
        /* Three hours ago, on a second. */
        int64_t base = ((int64_t)time(NULL) - 3 * 3600) * 1000;
        const int64_t min = 60000;
        /* 0: every 20 min; 1: pairs of equal timestamps every 20 min;
         * 2: five records a minute apart. */
        int64_t ts[TP_PARTS][18];
        int n[TP_PARTS] = {9, 18, 5};
        for (int i = 0; i < 18; i++) {
                ts[0][i] = base + i * 20 * min;
                ts[1][i] = base + (i / 2) * 20 * min;
                ts[2][i] = base + i * min;
        }
        rd_kafka_t *p = kst_broker_client(b, RD_KAFKA_PRODUCER, NULL);
        for (int part = 0; part < TP_PARTS; part++)
                for (int i = 0; i < n[part]; i++)
                        assert_int_equal(
                                rd_kafka_producev(
                                        p, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_PARTITION(part),
                                        RD_KAFKA_V_VALUE("v", 1),
                                        RD_KAFKA_V_MSGFLAGS(
                                                RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_TIMESTAMP(ts[part][i]),
                                        RD_KAFKA_V_END),
                                0);
        kst_flush(p);
        rd_kafka_destroy(p);

        /* An hour after the first record (exactly record 3 of partition
         * 0); 1 h 50 min ago (10 min from any record, which the time the
         * tool takes to start cannot cross); offset 7. */
        char when[64];
        iso(base + 60 * min, when, sizeof(when));
        int64_t by_duration = (int64_t)time(NULL) * 1000 - 110 * min;
        for (int k = 0; k < 3; k++) {
                run_t r = k == 0 ? run_reset(b, group, "--input-topics", topic,
                                             "--to-datetime", when, NULL)
                          : k == 1
                                  ? run_reset(b, group, "--input-topics", topic,
                                              "--by-duration", "PT1H50M", NULL)
                                  : run_reset(b, group, "--input-topics", topic,
                                              "--to-offset", "7", NULL);
                assert_int_equal(r.status, 0);
                run_free(&r);
                int64_t got[TP_PARTS];
                committed(b, group, topic, TP_PARTS, got);
                for (int part = 0; part < TP_PARTS; part++) {
                        int64_t want = k == 0   ? first_at(ts[part], n[part],
                                                           base + 60 * min)
                                       : k == 1 ? first_at(ts[part], n[part],
                                                           by_duration)
                                                : (7 < n[part] ? 7 : n[part]);
                        if (got[part] != want)
                                fail_msg("%s [%d] after reset %d: committed "
                                         "%lld, expected %lld",
                                         topic, part, k, (long long)got[part],
                                         (long long)want);
                }
        }
        free(group);
        free(topic);
}

/* Commit offset @p off for partitions 0 and 1 of @p topic in @p group,
 * as a consumer of the group that does not join it. */
static void commit2(const kst_broker_t *b, const char *group, const char *topic,
                    int64_t off) {
        rd_kafka_t *c = kst_broker_client(
                b, RD_KAFKA_CONSUMER,
                (const char *const[]){"group.id", group, "enable.auto.commit",
                                      "false", NULL});
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(2);
        for (int p = 0; p < 2; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = off;
        rd_kafka_resp_err_t e = rd_kafka_commit(c, l, 0);
        if (e)
                fail_msg("commit for %s: %s", group, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(c);
}

/* The internal topics found by name (and only those), their committed
 * offsets deleted first; topics of other names stay, so do the offsets
 * of a topic the reset was not told about. */
static void test_discovery(void **state) {
        fixture_t *f = *state;
        kst_broker_t *b = f->wc->broker;
        char *app = kst_unique_name("reset-disc-app");
        char *in = kst_unique_name("reset-disc-in");
        char *side = kst_unique_name("reset-disc-side");
        char repart[512], fk[512], notes[512], other[512];
        snprintf(repart, sizeof(repart), "%s-grp-repartition", app);
        snprintf(fk, sizeof(fk), "%s-j-subscription-response", app);
        snprintf(notes, sizeof(notes), "%s-notes", app); /* the user's */
        snprintf(other, sizeof(other), "%sx-grp-repartition", app);
        const char *topics[] = {in, side, repart, fk, notes, other};
        for (int i = 0; i < 6; i++)
                kst_broker_create_topic(b, topics[i], 2, NULL);
        commit2(b, app, in, 5);
        commit2(b, app, side, 6);
        commit2(b, app, repart, 7);

        for (int dry = 1; dry >= 0; dry--) {
                run_t r = dry ? run_reset(b, app, "--input-topics", in,
                                          "--dry-run", NULL)
                              : run_reset(b, app, "--input-topics", in, NULL);
                assert_int_equal(r.status, 0);
                char line[1200];
                for (int p = 0; p < 2; p++) {
                        snprintf(line, sizeof(line),
                                 "reset offset: %s [%d] (input): 5 -> 0\n", in,
                                 p);
                        assert_says(r.out, line);
                        snprintf(line, sizeof(line),
                                 "delete offset: %s [%d]: 7\n", repart, p);
                        assert_says(r.out, line);
                }
                snprintf(line, sizeof(line),
                         "delete topic: %s\ndelete topic: "
                         "%s\n",
                         repart, fk);
                assert_says(r.out, line);
                snprintf(line, sizeof(line), "for topic %s stay as they are",
                         side);
                assert_says(r.out, line);
                assert_null(strstr(r.out, notes));
                assert_null(strstr(r.out, other));
                run_free(&r);
                for (int i = 0; i < 6; i++)
                        assert_int_equal(topic_exists(b, topics[i]),
                                         dry || i < 2 || i > 3);
        }
        int64_t got[2];
        committed(b, app, in, 2, got);
        assert_int_equal(got[0], 0);
        assert_int_equal(got[1], 0);
        committed(b, app, side, 2, got);
        assert_int_equal(got[0], 6);
        assert_int_equal(got[1], 6);
        free(side);
        free(in);
        free(app);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_refused_while_running),
                cmocka_unit_test(test_dry_run),
                cmocka_unit_test(test_reset_and_reprocess),
                cmocka_unit_test(test_time_points),
                cmocka_unit_test(test_discovery),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
