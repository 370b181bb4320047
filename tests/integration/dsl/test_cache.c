/* The record cache on a broker (KS_TEST_BROKER: mock or kafka): a DSL count
 * where one hot key is updated 1000 times between two commits. With the
 * cache on, that key gives one changelog record and one output record;
 * with it off (statestore.cache.max.bytes 0), one of each per input
 * record. The final counts are the same and equal a count made here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_broker.h"
#include "ks_test.h"

#define HOT_UPDATES 1000
#define COLD_KEYS   5
#define COLD_EACH   10
#define TOTAL       (HOT_UPDATES + COLD_KEYS * COLD_EACH)
#define STORE       "hot-counts"

typedef struct {
        kst_broker_t *broker;
        char *in;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->broker = kst_broker_get(NULL, 1);
        f->in = kst_unique_name("cache-in");
        kst_broker_create_topic(f->broker, f->in, 1, NULL);
        /* Hot and cold keys interleaved; all in one partition. */
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers",
                          kst_broker_bootstrap(f->broker), err, sizeof(err));
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        assert_non_null(p);
        int cold = 0;
        for (int i = 0; i < HOT_UPDATES; i++) {
                char key[16];
                for (int r = 0; r < 2; r++) {
                        if (r == 0)
                                snprintf(key, sizeof(key), "hot");
                        else if (i % 20 == 0 && cold < COLD_KEYS * COLD_EACH)
                                snprintf(key, sizeof(key), "cold%d",
                                         cold++ % COLD_KEYS);
                        else
                                break;
                        assert_int_equal(
                                rd_kafka_producev(
                                        p, RD_KAFKA_V_TOPIC(f->in),
                                        RD_KAFKA_V_KEY(key, strlen(key)),
                                        RD_KAFKA_V_VALUE("x", 1),
                                        RD_KAFKA_V_MSGFLAGS(
                                                RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END),
                                0);
                }
        }
        assert_int_equal(cold, COLD_KEYS * COLD_EACH);
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_broker_destroy(f->broker);
        free(f->in);
        free(f);
        return 0;
}

typedef struct {
        int64_t records[COLD_KEYS + 1]; /* per key: hot, cold0.. */
        int64_t last[COLD_KEYS + 1];
        int64_t total;
} tally_t;

static int key_index(const void *k, size_t n) {
        if (n == 3 && !memcmp(k, "hot", 3))
                return 0;
        if (n == 5 && !memcmp(k, "cold", 4))
                return 1 + ((const char *)k)[4] - '0';
        fail_msg("unexpected key %.*s", (int)n, (const char *)k);
        return -1;
}

/* Read all of @p topic (one partition) and tally it per key. */
static tally_t read_topic(fixture_t *f, const char *topic) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers",
                          kst_broker_bootstrap(f->broker), err, sizeof(err));
        rd_kafka_conf_set(c, "group.id", "unused", err, sizeof(err));
        rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(rk, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        tally_t t;
        memset(&t, 0, sizeof(t));
        int64_t deadline = kst_now_ms() + 30000;
        for (;;) {
                if (kst_now_ms() > deadline)
                        fail_msg("%s: no end of partition in 30 s", topic);
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
                if (!m->err) {
                        int i = key_index(m->key, m->key_len);
                        int64_t v;
                        KST_OK(ks_int64_decode(m->payload, m->len, &v, NULL));
                        t.records[i]++;
                        t.last[i] = v;
                        t.total++;
                }
                rd_kafka_message_destroy(m);
                if (eof)
                        break;
        }
        rd_kafka_destroy(rk);
        return t;
}

/* Run the count with @p cache_bytes until every record is processed, then
 * close (the one commit); the tallies of its output and changelog. */
static void run(fixture_t *f, const char *cache_bytes, tally_t *out,
                tally_t *changelog) {
        char *app_id = kst_unique_name("cache-app");
        char *outt = kst_unique_name("cache-out");
        char cl[512];
        snprintf(cl, sizeof(cl), "%s-%s-changelog", app_id, STORE);
        kst_broker_create_topic(f->broker, outt, 1, NULL);
        if (kst_broker_is_mock(f->broker)) /* no CreateTopics there */
                kst_broker_create_topic(f->broker, cl, 1, NULL);
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {f->in};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_grouped_count(ks_stream_group_by_key(s, NULL), STORE,
                                         NULL),
                        NULL),
                outt, NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_builder_destroy(b);
        ks_config_t *c = kst_config(app_id);
        kst_set(c, "bootstrap.servers", kst_broker_bootstrap(f->broker));
        char *dir = kst_unique_name("cache-state");
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", kst_tmpdir(), dir);
        kst_set(c, "state.dir", path);
        kst_set(c, "commit.interval.ms", "600000"); /* only at close */
        kst_set(c, "statestore.cache.max.bytes", cache_bytes);
        ks_app_t *app = ks_app_new(t, c, &e);
        if (!app)
                fail_msg("%s", ks_error_message(e));
        ks_topology_destroy(t);
        ks_config_destroy(c);
        KST_OK_E(ks_app_start(app, &e));
        int64_t deadline = kst_now_ms() + 120000;
        while (ks_app_metric(app, "process-total") < TOTAL) {
                if (ks_app_state(app) == KS_APP_ERROR)
                        fail_msg("app failed: %s",
                                 ks_error_message(ks_app_error(app)));
                if (kst_now_ms() > deadline)
                        fail_msg("processed %lld of %d in 120 s",
                                 (long long)ks_app_metric(app, "process-total"),
                                 TOTAL);
                ks_app_wait_state(app, KS_APP_ERROR, 50);
        }
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        *out = read_topic(f, outt);
        *changelog = read_topic(f, cl);
        free(app_id);
        free(outt);
        free(dir);
}

static void test_hot_key(void **state) {
        fixture_t *f = *state;
        tally_t on_out, on_cl, off_out, off_cl;
        run(f, "10485760", &on_out, &on_cl);
        run(f, "0", &off_out, &off_cl);
        int64_t want[COLD_KEYS + 1] = {HOT_UPDATES};
        for (int i = 1; i <= COLD_KEYS; i++)
                want[i] = COLD_EACH;
        for (int i = 0; i <= COLD_KEYS; i++) {
                /* Cache on: one update per key for the one commit. */
                assert_int_equal(on_out.records[i], 1);
                assert_int_equal(on_cl.records[i], 1);
                /* Cache off: one per input record. */
                assert_int_equal(off_out.records[i], want[i]);
                assert_int_equal(off_cl.records[i], want[i]);
                /* The same final counts, equal to the input's. */
                assert_int_equal(on_out.last[i], want[i]);
                assert_int_equal(off_out.last[i], want[i]);
                assert_int_equal(on_cl.last[i], want[i]);
                assert_int_equal(off_cl.last[i], want[i]);
        }
        print_message("cache on: %lld output and %lld changelog records; "
                      "off: %lld and %lld, for %d input records\n",
                      (long long)on_out.total, (long long)on_cl.total,
                      (long long)off_out.total, (long long)off_cl.total, TOTAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hot_key, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
