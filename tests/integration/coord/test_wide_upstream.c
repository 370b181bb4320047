/* An input topic of 600 partitions re-keyed into a through topic of 4,
 * counted per key in a logged RocksDB store (Processor API):
 *
 *     in (600) -> rekey -> keys (4) -> count [counts] -> out (4)
 *
 * The task reading the through topic has records of 600 upstream
 * partitions; what it commits with its offsets must stay bounded. Checks:
 * commits succeed (commit-total grows, no error), every count equals an
 * independent count, and the metadata committed with each offset, read
 * back with a plain consumer (rd_kafka_committed), is well under Kafka's
 * 4096-byte limit. Then a second instance on a fresh state directory
 * restores the counts from the changelog (every changelog record, through
 * the restore listener) and counts on exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define IN_PARTITIONS   600
#define KEYS_PARTITIONS 4
#define WORDS           40
#define STORE           "counts"

typedef struct {
        kst_env_t env;                   /* keys and out */
        kst_broker_t *broker;            /* env's */
        char *in;                        /* 600 partitions */
        const char *keys, *out, *app_id; /* env's */
        char words[WORDS][16];
        const char *word_keys[WORDS]; /* words */
        int64_t expect[WORDS];
        int64_t records;
        unsigned seed;
} fixture_t;

static ks_err_t rekey(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        size_t vl;
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, v, vl, v, vl);
}

static ks_err_t count_init(ks_context_t *ctx, void *opaque, void **statep) {
        ks_kv_store_t *store = NULL;
        ks_err_t err = ks_context_get_kv_store(ctx, STORE, &store);
        *statep = store;
        return err;
}

static ks_err_t count(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        ks_kv_store_t *store = st;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *old;
        int64_t n = 0;
        ks_err_t err = ks_kv_store_get(store, k, kl, &old, &vl);
        if (!err)
                err = ks_int64_decode(old, vl, &n, NULL);
        else if (err == KS_ERR_NOT_FOUND)
                err = KS_ERR_NO_ERROR;
        if (err)
                return err;
        uint8_t enc[8];
        ks_int64_encode(n + 1, enc);
        if ((err = ks_kv_store_put(store, k, kl, enc, sizeof(enc))))
                return err;
        return ks_context_forward(ctx, k, kl, enc, sizeof(enc));
}

static ks_topology_t *topology(const fixture_t *f) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        assert_non_null(t);
        KST_OK_E(ks_topology_add_source(t, "in-src", (const char *[]){f->in}, 1,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "rekey", NULL, rekey, NULL, NULL,
                                           (const char *[]){"in-src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "keys-sink", f->keys, NULL, NULL,
                                      (const char *[]){"rekey"}, 1, &e));
        KST_OK_E(ks_topology_add_source(
                t, "keys-src", (const char *[]){f->keys}, 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "count", count_init, count, NULL,
                                           NULL, (const char *[]){"keys-src"},
                                           1, &e));
        KST_OK_E(ks_topology_add_kv_store(t, STORE, KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_connect_store(t, STORE, "count", &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", f->out, NULL,
                                      ks_serde_int64(),
                                      (const char *[]){"count"}, 1, &e));
        return t;
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, "wide", KEYS_PARTITIONS,
                     (const char *const[]){"keys", "out", NULL});
        f->broker = f->env.broker;
        f->keys = f->env.topic[0];
        f->out = f->env.topic[1];
        f->app_id = f->env.app_id;
        f->in = kst_unique_name("wide-in");
        kst_broker_create_topic(f->broker, f->in, IN_PARTITIONS, NULL);
        for (int i = 0; i < WORDS; i++) {
                snprintf(f->words[i], sizeof(f->words[i]), "w%02d", i);
                f->word_keys[i] = f->words[i];
        }
        f->seed = 600;
        ks_topology_t *t = topology(f);
        /* The counts' changelog and the duplicate marks' changelog, both of
         * the sub-topology reading the through topic. */
        assert_int_equal(kst_create_internal_topics(f->broker, t, f->app_id,
                                                    KEYS_PARTITIONS, NULL,
                                                    NULL),
                         2);
        ks_topology_destroy(t);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_env_fini(&f->env);
        free(f->in);
        free(f);
        return 0;
}

/* @p n records of random words, record i to partition i % 600 (so every
 * upstream partition sends into the through topic), counted. */
static void produce(fixture_t *f, int n) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int i = 0; i < n; i++) {
                f->seed = f->seed * 1103515245u + 12345u;
                int w = (int)((f->seed >> 16) % WORDS);
                const char *v = f->words[w];
                kst_produce(p, f->in, (int32_t)(i % IN_PARTITIONS), NULL, 0, v,
                            strlen(v));
                f->expect[w]++;
                f->records++;
        }
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* Every word's last count in out equals its independent count. */
static void check_counts(fixture_t *f, ks_app_t *app) {
        kst_wait_counts(f->broker, f->out, KEYS_PARTITIONS, app, 90000, WORDS,
                        f->word_keys, f->expect);
}

typedef struct {
        ks_app_t *app;
        int64_t until;
} commits_t;

static int committed(void *opaque) {
        commits_t *c = opaque;
        return ks_app_metric(c->app, "commit-total") >= c->until;
}

/* The group's committed offsets of both source topics: every partition
 * with input committed, each with metadata well under 4096 bytes. */
static void check_committed(fixture_t *f) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(
                IN_PARTITIONS + KEYS_PARTITIONS);
        for (int p = 0; p < IN_PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(l, f->in, p);
        for (int p = 0; p < KEYS_PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(l, f->keys, p);
        rd_kafka_t *c = kst_broker_client(
                f->broker, RD_KAFKA_CONSUMER,
                (const char *const[]){"group.id", f->app_id, NULL});
        rd_kafka_resp_err_t e = rd_kafka_committed(c, l, 30000);
        if (e)
                fail_msg("reading the committed offsets: %s",
                         rd_kafka_err2str(e));
        size_t largest = 0;
        int64_t total = 0;
        for (int i = 0; i < l->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &l->elems[i];
                if (tp->err)
                        fail_msg("%s [%d]: %s", tp->topic, (int)tp->partition,
                                 rd_kafka_err2str(tp->err));
                if (tp->offset < 0)
                        fail_msg("%s [%d] has no committed offset", tp->topic,
                                 (int)tp->partition);
                if (tp->metadata_size > largest)
                        largest = tp->metadata_size;
                if (tp->metadata_size >= 512)
                        fail_msg("%s [%d]: %zu bytes of metadata", tp->topic,
                                 (int)tp->partition, tp->metadata_size);
                if (!strcmp(tp->topic, f->in))
                        total += tp->offset;
        }
        /* Every input record is behind the committed offsets. */
        assert_int_equal(total, f->records);
        printf("# largest committed metadata: %zu bytes\n", largest);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(c);
}

static int restored_all(void *opaque) {
        kst_restores_t *r = opaque;
        return __atomic_load_n(&r->ends, __ATOMIC_SEQ_CST) == KEYS_PARTITIONS;
}

static int64_t changelog_records(fixture_t *f) {
        char name[512];
        snprintf(name, sizeof(name), "%s-%s-changelog", f->app_id, STORE);
        return kst_topic_records(f->broker, name, KEYS_PARTITIONS);
}

static ks_app_t *start(fixture_t *f, const char *dir, kst_restores_t *rt) {
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "200", "consumer.fetch.wait.max.ms", "10",
                                      NULL});
        ks_topology_t *t = topology(f);
        ks_app_t *app = kst_app_start(t, c, rt ? kst_count_restores : NULL, rt);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

static void test_wide_upstream(void **state) {
        fixture_t *f = *state;
        char *dir1 = NULL, *dir2 = NULL;
        if (asprintf(&dir1, "%s/first", kst_tmpdir()) < 0 ||
            asprintf(&dir2, "%s/second", kst_tmpdir()) < 0)
                fail_msg("out of memory");
        produce(f, 3 * IN_PARTITIONS);
        ks_app_t *app = start(f, dir1, NULL);
        kst_wait_state(app, KS_APP_RUNNING, 120000);
        /* Each record upstream, then downstream. */
        kst_wait_processed(app, 2 * f->records, 120000);
        check_counts(f, app);
        commits_t cm = {app, ks_app_metric(app, "commit-total") + 3};
        if (!kst_wait_for(app, 30000, 50, committed, &cm))
                fail_msg("commit-total stays at %lld",
                         (long long)ks_app_metric(app, "commit-total"));
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        assert_null(ks_app_error(app));
        assert_int_equal(ks_app_metric(app, "duplicates-skipped"), 0);
        assert_int_equal(ks_app_metric(app, "tasks"),
                         IN_PARTITIONS + KEYS_PARTITIONS);
        KST_OK(ks_app_close(app, 60000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        check_committed(f);

        /* A second instance with nothing local: it restores every
         * changelog record, and counts on from there. */
        int64_t logged = changelog_records(f);
        assert_true(logged >= f->records);
        kst_restores_t rt = {STORE, 0, 0};
        app = start(f, dir2, &rt);
        kst_wait_state(app, KS_APP_RUNNING, 120000);
        if (!kst_wait_for(app, 60000, 50, restored_all, &rt))
                fail_msg("%lld of %d counts stores restored",
                         (long long)rt.ends, KEYS_PARTITIONS);
        assert_int_equal(kst_restored(&rt), logged);
        produce(f, IN_PARTITIONS);
        kst_wait_processed(app, 2 * IN_PARTITIONS, 120000);
        check_counts(f, app);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 60000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        check_committed(f);
        free(dir1);
        free(dir2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_wide_upstream, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
