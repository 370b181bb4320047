/* The runtime on a broker (KS_TEST_BROKER: mock or kafka): word count with
 * RocksDB stores and changelogs, checked word by word against an
 * independent count; restore from the changelog into an empty state
 * directory, and from a local checkpoint (nothing to replay); start-up
 * errors that name the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 3
#define VOCAB      40

typedef kst_wc_t fixture_t;

/* A value joiner: left and right side by side. */
static ks_err_t concat(void *o, const void *l, size_t ll, const void *r,
                       size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err = l ? ks_buf_append(out, l, ll) : KS_ERR_NO_ERROR;
        return err || !r ? err : ks_buf_append(out, r, rl);
}

static int setup(void **state) {
        fixture_t *f = kst_wc_new(NULL, 3, "wc", PARTITIONS, VOCAB, 12345);
        if (kst_broker_is_mock(f->broker)) {
                /* The mock does not answer CreateTopics: make the
                 * changelog the topology lists. */
                ks_error_t *e = NULL;
                ks_topology_t *t = wordcount_topology_on(
                        f->in, f->words_topic, f->out, KS_STORE_ROCKSDB, &e);
                /* The counts' changelog, and that of the counting
                 * sub-topology's duplicate marks. */
                assert_int_equal(
                        kst_create_internal_topics(f->broker, t, f->app_id,
                                                   PARTITIONS, NULL, NULL),
                        2);
                ks_topology_destroy(t);
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        kst_wc_destroy(*state);
        return 0;
}

/* Produce @p lines lines of random words and count them. */
static void produce_lines(fixture_t *f, int lines) {
        kst_wc_produce(f, lines, 6, KST_WC_MIXED);
}

/* The counts of word 0 in output order, to show a failure. */
typedef struct {
        fixture_t *f;
        char trail[4096];
} trail_t;

static void on_count(void *opaque, const rd_kafka_message_t *m,
                     const kst_map_t *map) {
        trail_t *tr = opaque;
        int wi = kst_wc_word(tr->f, m->key, m->key_len);
        if (wi < 0)
                fail_msg("unexpected word %.*s", (int)m->key_len,
                         (const char *)m->key);
        int64_t v;
        KST_OK(ks_int64_decode(m->payload, m->len, &v, NULL));
        size_t tl = strlen(tr->trail);
        if (wi == 0 && tl + 32 < sizeof(tr->trail))
                snprintf(tr->trail + tl, sizeof(tr->trail) - tl, " %lld@%lld",
                         (long long)v, (long long)m->offset);
}

static int all_final(void *opaque, const kst_map_t *m) {
        return kst_wc_all_counted(opaque, m);
}

static int read_to(void *opaque, const kst_map_t *m) {
        return kst_map_records(m) >= *(const int64_t *)opaque;
}

/* Read the output topic until the last count of every word equals the
 * independent count (deadline 60 s), then on to the end of the topic and
 * check again: a count that changes afterwards fails. At least @p want
 * records (one per input word) must be there; after a rebalance some
 * counts are sent again, so there may be more. */
static void check_output(fixture_t *f, int64_t want) {
        trail_t tr = {f, ""};
        kst_reader_t *r = kst_reader_new(f->broker, f->out, PARTITIONS, 0);
        kst_reader_on_record(r, on_count, &tr);
        int64_t deadline = kst_now_ms() + 60000;
        kst_read_until(r, NULL, 60000, all_final, f);
        /* Drain to the current end of every partition. */
        int64_t end = 0;
        for (int p = 0; p < PARTITIONS; p++) {
                int64_t lo, hi;
                assert_int_equal(rd_kafka_query_watermark_offsets(
                                         kst_reader_consumer(r), f->out, p, &lo,
                                         &hi, 10000),
                                 0);
                end += hi - lo;
        }
        int64_t left = deadline - kst_now_ms();
        kst_read_until(r, NULL, left > 0 ? (int)left : 0, read_to, &end);
        const kst_map_t *m = kst_reader_map(r);
        for (int i = 0; i < VOCAB; i++)
                if (kst_map_int64(m, f->words[i]) != f->expect[i]) {
                        kst_log_print();
                        printf("# counts of %s (count@offset):%s\n",
                               f->words[0], tr.trail);
                        printf("# %lld words produced; wrong counts:",
                               (long long)f->total_words);
                        for (int j = 0; j < VOCAB; j++)
                                if (kst_map_int64(m, f->words[j]) !=
                                    f->expect[j])
                                        printf(" %s %lld/%lld", f->words[j],
                                               (long long)kst_map_int64(
                                                       m, f->words[j]),
                                               (long long)f->expect[j]);
                        printf("\n");
                        fail_msg("word %s: output says %lld, input has %lld "
                                 "(%lld output records read of %lld)",
                                 f->words[i],
                                 (long long)kst_map_int64(m, f->words[i]),
                                 (long long)f->expect[i],
                                 (long long)kst_map_records(m), (long long)end);
                }
        assert_true(kst_map_records(m) >= want);
        kst_reader_destroy(r);
}

static ks_app_t *start_app(fixture_t *f, const char *state_dir, int threads,
                           kst_restores_t *rc) {
        ks_error_t *e = NULL;
        char n[16];
        snprintf(n, sizeof(n), "%d", threads);
        /* Small queues: partitions pause and resume all the time. */
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){
                        "state.dir", state_dir, "commit.interval.ms", "200",
                        "num.stream.threads", n,
                        "buffered.records.per.partition", "20", NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, rc ? kst_count_restores : NULL, rc);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

static void wait_processed(ks_app_t *app, int64_t n) {
        /* Generous: under the sanitizers on a loaded machine a rebalance
         * with the real broker can take tens of seconds. */
        kst_wait_processed(app, n, 120000);
}

/* Records in the app's changelog (all of it committed once the app has
 * closed cleanly): what a restore from scratch must replay. */
static int64_t changelog_records(fixture_t *f) {
        char name[512];
        snprintf(name, sizeof(name), "%s-%s-changelog", f->app_id,
                 WORDCOUNT_STORE);
        return kst_topic_records(f->broker, name, PARTITIONS);
}

static void wait_running(ks_app_t *app) {
        kst_wait_state(app, KS_APP_RUNNING, 60000);
}

static char *subdir(const char *name) {
        char *d;
        if (asprintf(&d, "%s/%s", kst_tmpdir(), name) < 0)
                fail();
        return d;
}

static void test_wordcount_restore(void **state) {
        fixture_t *f = *state;
        char *dir1 = subdir("instance-1"), *dir2 = subdir("instance-2");
        produce_lines(f, 300);
        int64_t lines = 300;
        /* Two threads on one instance. */
        ks_app_t *app = start_app(f, dir1, 2, NULL);
        wait_running(app);
        wait_processed(app, lines);
        printf("# two threads: %lld records processed, %lld skipped as "
               "duplicates\n",
               (long long)ks_app_metric(app, "process-total"),
               (long long)ks_app_metric(app, "duplicates-skipped"));
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        assert_int_equal(ks_app_state(app), KS_APP_NOT_RUNNING);
        if (ks_app_error(app))
                fail_msg("close: %s", ks_error_message(ks_app_error(app)));
        ks_app_destroy(app);
        /* At least one record per word; more when a rebalance made the
         * app log a change again. */
        int64_t logged = changelog_records(f);
        assert_true(logged >= f->total_words);

        /* A new instance with an empty state directory restores every
         * changelog record (one per word), then counts on from there. */
        kst_restores_t rc = {WORDCOUNT_STORE, 0, 0};
        app = start_app(f, dir2, 1, &rc);
        wait_running(app);
        assert_int_equal(kst_restored(&rc), logged);
        produce_lines(f, 100);
        lines += 100;
        wait_processed(app, 100);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);

        /* Restarted on the same directory: the checkpoint is current, so
         * nothing is replayed. */
        kst_restores_t rc2 = {WORDCOUNT_STORE, 0, 0};
        app = start_app(f, dir2, 1, &rc2);
        wait_running(app);
        assert_int_equal(kst_restored(&rc2), 0);
        produce_lines(f, 50);
        wait_processed(app, 50);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        free(dir1);
        free(dir2);
}

/* Three instances share the tasks: each task has exactly one owner, and
 * together their outputs equal the independent count. */
static void test_three_instances(void **state) {
        fixture_t *f = *state;
        produce_lines(f, 300);
        ks_app_t *apps[3];
        for (int i = 0; i < 3; i++) {
                char name[32];
                snprintf(name, sizeof(name), "three-%d", i);
                char *dir = subdir(name);
                apps[i] = start_app(f, dir, 1, NULL);
                free(dir);
        }
        /* Wait until the group is stable with every member running and
         * the 2 x PARTITIONS tasks spread one owner each. */
        int64_t deadline = kst_now_ms() + 60000;
        int64_t total = 0, each[3] = {0};
        for (;;) {
                int running = 0;
                total = 0;
                for (int i = 0; i < 3; i++) {
                        running += ks_app_state(apps[i]) == KS_APP_RUNNING;
                        each[i] = ks_app_metric(apps[i], "tasks");
                        total += each[i];
                }
                if (running == 3 && total == 2 * PARTITIONS && each[0] &&
                    each[1] && each[2])
                        break;
                if (kst_now_ms() > deadline)
                        fail_msg("tasks not spread after 60 s: %lld %lld "
                                 "%lld (running %d)",
                                 (long long)each[0], (long long)each[1],
                                 (long long)each[2], running);
                ks_app_wait_state(apps[0], KS_APP_ERROR, 100);
        }
        /* Range assignment: one partition of each sub-topology apiece. */
        for (int i = 0; i < 3; i++)
                assert_int_equal(each[i], 2);
        check_output(f, f->total_words);
        int64_t processed = 0;
        for (int i = 0; i < 3; i++) {
                processed += ks_app_metric(apps[i], "process-total");
                KST_OK(ks_app_close(apps[i], 60000));
        }
        /* Every line and every word record, each processed once. */
        assert_true(processed >= 300 + f->total_words);
        for (int i = 0; i < 3; i++)
                ks_app_destroy(apps[i]);
}

/* One instance per state directory; a corrupt local store is wiped and
 * rebuilt from its changelog, and the counts stay exact. */
static void test_state_dir_lock_and_corruption(void **state) {
        fixture_t *f = *state;
        char *dir = subdir("instance-locked");
        produce_lines(f, 200);
        ks_app_t *app = start_app(f, dir, 1, NULL);
        wait_running(app);
        wait_processed(app, 200);
        /* A second instance on the same directory is refused. */
        ks_error_t *e = NULL;
        ks_config_t *c =
                kst_app_config(f->broker, f->app_id,
                               (const char *const[]){"state.dir", dir, NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        ks_app_t *second = ks_app_new(t, c, &e);
        KST_ASSERT_ERROR(ks_app_start(second, &e), e, KS_ERR_STATE, dir,
                         "in use by another instance");
        ks_app_destroy(second);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);

        int64_t logged = changelog_records(f);
        /* Overwrite every file of every task's RocksDB with garbage. */
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "n=0; for x in '%s'/'%s'/*/rocksdb/*; do [ -f \"$x\" ] && "
                 "printf garbage > \"$x\" && n=$((n+1)); done; [ $n -gt 0 ]",
                 dir, f->app_id);
        assert_int_equal(system(cmd), 0);
        kst_log_clear();
        kst_restores_t rc = {WORDCOUNT_STORE, 0, 0};
        app = start_app(f, dir, 1, &rc);
        wait_running(app);
        assert_true(kst_log_contains("wiping the local state and restoring "
                                     "it from the changelogs"));
        /* Every changelog record came back. */
        assert_int_equal(kst_restored(&rc), logged);
        produce_lines(f, 50);
        wait_processed(app, 50);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        free(dir);
}

/* The group's committed offsets (with their metadata) of the app's two
 * source topics. Read by a plain client; the partitions never committed
 * are left out of @p l. */
static void read_group_offsets(fixture_t *f,
                               rd_kafka_topic_partition_list_t **lp) {
        rd_kafka_topic_partition_list_t *all =
                rd_kafka_topic_partition_list_new(2 * PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++) {
                rd_kafka_topic_partition_list_add(all, f->in, p);
                rd_kafka_topic_partition_list_add(all, f->words_topic, p);
        }
        rd_kafka_t *rk = kst_broker_client(
                f->broker, RD_KAFKA_CONSUMER,
                (const char *const[]){"group.id", f->app_id, NULL});
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, all, 30000);
        if (e)
                fail_msg("reading the group's offsets: %s",
                         rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        *lp = rd_kafka_topic_partition_list_new(2 * PARTITIONS);
        for (int i = 0; i < all->cnt; i++) {
                if (all->elems[i].err)
                        fail_msg("%s [%d]: %s", all->elems[i].topic,
                                 (int)all->elems[i].partition,
                                 rd_kafka_err2str(all->elems[i].err));
                if (all->elems[i].offset >= 0) {
                        rd_kafka_topic_partition_t *tp =
                                rd_kafka_topic_partition_list_add(
                                        *lp, all->elems[i].topic,
                                        all->elems[i].partition);
                        tp->offset = all->elems[i].offset;
                        if (all->elems[i].metadata_size) {
                                tp->metadata =
                                        malloc(all->elems[i].metadata_size);
                                memcpy(tp->metadata, all->elems[i].metadata,
                                       all->elems[i].metadata_size);
                                tp->metadata_size = all->elems[i].metadata_size;
                        }
                }
        }
        rd_kafka_topic_partition_list_destroy(all);
}

/* Commit @p l for the (empty) group as one of its members: join it,
 * then commit. */
static void commit_group_offsets(fixture_t *f,
                                 const rd_kafka_topic_partition_list_t *l) {
        rd_kafka_t *rk = kst_broker_client(
                f->broker, RD_KAFKA_CONSUMER,
                (const char *const[]){
                        "group.id", f->app_id, "enable.auto.commit", "false",
                        "enable.auto.offset.store", "false",
                        /* as the app's (kst_app_config): the mock's group
                         * stalls on members with different ones */
                        "session.timeout.ms",
                        kst_broker_is_mock(f->broker) ? "3000" : "6000", NULL});
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *sub =
                rd_kafka_topic_partition_list_new(2);
        rd_kafka_topic_partition_list_add(sub, f->in, RD_KAFKA_PARTITION_UA);
        rd_kafka_topic_partition_list_add(sub, f->words_topic,
                                          RD_KAFKA_PARTITION_UA);
        assert_int_equal(rd_kafka_subscribe(rk, sub), 0);
        rd_kafka_topic_partition_list_destroy(sub);
        int64_t deadline = kst_now_ms() + 60000;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__WAIT_COORD;
        while (e && kst_now_ms() < deadline) {
                rd_kafka_topic_partition_list_t *a = NULL;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m)
                        rd_kafka_message_destroy(m);
                if (!rd_kafka_assignment(rk, &a) && a->cnt)
                        e = rd_kafka_commit(rk, l, 0);
                if (a)
                        rd_kafka_topic_partition_list_destroy(a);
        }
        if (e)
                fail_msg("committing the group's offsets: %s",
                         rd_kafka_err2str(e));
        for (int i = 0; i < l->cnt; i++)
                if (l->elems[i].err)
                        fail_msg("%s [%d]: %s", l->elems[i].topic,
                                 (int)l->elems[i].partition,
                                 rd_kafka_err2str(l->elems[i].err));
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

/* A commit that failed after the local state was written (a rebalance
 * took the offsets' commit away): the local stores are ahead of the
 * committed state. The instance rebuilds them from the changelogs up to
 * the committed positions, processes the input after the committed
 * offsets again, and the counts stay exact. Here the group's offsets are
 * set back to an earlier commit by hand. */
static void test_local_state_ahead(void **state) {
        fixture_t *f = *state;
        char *dir = subdir("instance-ahead");
        produce_lines(f, 200);
        ks_app_t *app = start_app(f, dir, 1, NULL);
        wait_running(app);
        wait_processed(app, 200);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        rd_kafka_topic_partition_list_t *earlier = NULL;
        read_group_offsets(f, &earlier);
        assert_true(earlier->cnt > 0);

        /* More input, processed and committed: the stores and their
         * checkpoints move on. */
        produce_lines(f, 100);
        app = start_app(f, dir, 1, NULL);
        wait_running(app);
        wait_processed(app, 100);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);

        /* The group's offsets back to the first commit. */
        commit_group_offsets(f, earlier);
        rd_kafka_topic_partition_list_destroy(earlier);
        kst_log_clear();
        kst_restores_t rc = {WORDCOUNT_STORE, 0, 0};
        app = start_app(f, dir, 1, &rc);
        wait_running(app);
        assert_true(kst_log_contains("is ahead of the committed state"));
        assert_true(kst_restored(&rc) > 0);
        produce_lines(f, 30);
        /* The second batch again (its words skipped as duplicates or
         * counted once), and the new lines. */
        wait_processed(app, 130);
        check_output(f, f->total_words);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        free(dir);
}

static void test_startup_errors(void **state) {
        fixture_t *f = *state;
        ks_error_t *e = NULL;
        /* A source topic that does not exist. */
        char *ghost = kst_unique_name("ghost");
        ks_config_t *c = kst_app_config(f->broker, f->app_id, NULL);
        ks_topology_t *t = wordcount_topology_on(ghost, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        ks_app_t *app = ks_app_new(t, c, &e);
        int64_t t0 = kst_now_ms();
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_TOPOLOGY, ghost,
                         "do not exist");
        assert_int_equal(ks_app_state(app), KS_APP_ERROR);
        assert_non_null(strstr(ks_error_message(ks_app_error(app)), ghost));
        KST_OK(ks_app_close(app, 5000));
        assert_true(kst_now_ms() - t0 < 15000);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        /* Co-partitioning: two sources of one sub-topology with different
         * partition counts. */
        char *other = kst_unique_name("wc-other");
        kst_broker_create_topic(f->broker, other, PARTITIONS + 1, NULL);
        t = ks_topology_new();
        const char *topics[] = {f->in, other};
        KST_OK_E(ks_topology_add_source(t, "src", topics, 2, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", f->out, NULL, NULL,
                                      (const char *[]){"src"}, 1, &e));
        app = ks_app_new(t, c, &e);
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_TOPOLOGY,
                         "co-partitioning", f->in, other);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        /* The same through a stream-stream join of the two topics: the
         * join's steps read both sides' window stores, which puts them in
         * one sub-topology. */
        ks_builder_t *jb = ks_builder_new();
        ks_stream_t *jl = ks_builder_stream(jb, (const char *[]){f->in}, 1,
                                            NULL, NULL, NULL);
        ks_stream_t *jr = ks_builder_stream(jb, (const char *[]){other}, 1,
                                            NULL, NULL, NULL);
        ks_stream_to(ks_stream_join(
                             jl, jr, concat, NULL,
                             ks_join_windows_of_time_difference_no_grace(1000),
                             NULL),
                     f->out, NULL);
        KST_OK_E(ks_builder_build(jb, &t, &e));
        ks_builder_destroy(jb);
        app = ks_app_new(t, c, &e);
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_TOPOLOGY,
                         "co-partitioning", f->in, other);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        /* An existing changelog with the wrong partition count. */
        char *app2 = kst_unique_name("wc-app-badcl");
        t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                  KS_STORE_ROCKSDB, &e);
        KST_OK_E(ks_topology_build(t, &e));
        char cl[512];
        KST_OK(ks_topology_internal_topic(t, app2, 0, cl, sizeof(cl), NULL));
        kst_broker_create_topic(f->broker, cl, PARTITIONS + 2, NULL);
        ks_config_t *c2 = kst_app_config(f->broker, app2, NULL);
        app = ks_app_new(t, c2, &e);
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_TOPOLOGY, cl,
                         "has 5 partitions", f->words_topic, "has 3");
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c2);
        free(app2);
        /* No broker at the bootstrap address. */
        kst_set(c, "bootstrap.servers", "127.0.0.1:1");
        t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                  KS_STORE_ROCKSDB, &e);
        app = ks_app_new(t, c, &e);
        t0 = kst_now_ms();
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_KAFKA,
                         "bootstrap.servers 127.0.0.1:1");
        KST_OK(ks_app_close(app, 5000));
        assert_true(kst_now_ms() - t0 < 20000);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        free(ghost);
        free(other);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_wordcount_restore, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_three_instances, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_state_dir_lock_and_corruption, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_state_ahead, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_startup_errors, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
