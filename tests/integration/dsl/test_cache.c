/* The record cache on a broker (KS_TEST_BROKER: mock or kafka): a DSL count
 * where one hot key is updated 1000 times between two commits. With the
 * cache on, that key gives one changelog record and one output record;
 * with it off (statestore.cache.max.bytes 0), one of each per input
 * record. The final counts are the same and equal a count made here. The
 * changelog carries the store's bytes: each count behind its timestamp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

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
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
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
                        kst_produce_str(p, f->in, key, "x");
                }
        }
        assert_int_equal(cold, COLD_KEYS * COLD_EACH);
        kst_flush(p);
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

/* A count (@p stored: a stored row, be64 timestamp | count). */
static int64_t count_of(const void *v, size_t len, int stored) {
        int64_t n;
        if (stored)
                assert_int_equal(len, 16);
        KST_OK(ks_int64_decode((const uint8_t *)v + (stored ? 8 : 0),
                               len - (stored ? 8 : 0), &n, NULL));
        return n;
}

static void check_record(void *opaque, const rd_kafka_message_t *m,
                         const kst_map_t *map) {
        (void)map;
        key_index(m->key, m->key_len);
        count_of(m->payload, m->len, *(const int *)opaque);
}

/* Read all of @p topic (one partition) and tally it per key; @p stored:
 * the values are stored rows (a changelog). */
static tally_t read_topic(fixture_t *f, const char *topic, int stored) {
        kst_reader_t *r = kst_reader_new(f->broker, topic, 1, 0);
        kst_reader_on_record(r, check_record, &stored);
        if (!kst_read_to_end(r, 30000))
                fail_msg("%s: no end of partition in 30 s", topic);
        const kst_map_t *m = kst_reader_map(r);
        tally_t t;
        memset(&t, 0, sizeof(t));
        for (int i = 0; i <= COLD_KEYS; i++) {
                char key[16];
                if (i)
                        snprintf(key, sizeof(key), "cold%d", i - 1);
                else
                        snprintf(key, sizeof(key), "hot");
                t.records[i] = kst_map_count(m, key);
                size_t vl;
                const void *v = kst_map_get(m, key, strlen(key), &vl);
                t.last[i] = v ? count_of(v, vl, stored) : 0;
        }
        t.total = kst_map_records(m);
        kst_reader_destroy(r);
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
        char *dir = kst_unique_name("cache-state");
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", kst_tmpdir(), dir);
        ks_config_t *c = kst_app_config(
                f->broker, app_id,
                (const char *const[]){"state.dir", path,
                                      /* only at close */
                                      "commit.interval.ms", "600000",
                                      "statestore.cache.max.bytes", cache_bytes,
                                      NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wait_processed(app, TOTAL, 120000);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        *out = read_topic(f, outt, 0);
        *changelog = read_topic(f, cl, 1);
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
