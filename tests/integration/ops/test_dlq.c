/* The dead-letter queue on a broker. The input mixes four kinds of
 * records, each decided by its index alone: malformed values (the source's
 * int64 serde refuses them), negative values (the processor refuses them),
 * records for the "bad" topic, which the broker refuses (the mock reports
 * an authorization error for it; the real broker does not create it and
 * the producer gives up after producer.message.timeout.ms), and good ones.
 * With every handler continuing, the output must hold exactly the good
 * records and the dead-letter topic exactly the others: key, value bytes,
 * timestamp and every header, the record's own and KIP-1034's.
 *
 * On the real broker the same runs under exactly_once_v2 (without the
 * production errors, which fail a transaction): the dead-letter records
 * are read read_committed. A dead-letter topic that does not exist, or
 * that is a changelog of the application, stops ks_app_start() with an
 * error naming the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kst_app.h"
#include "kstreams/metrics.h"

#define PARTITIONS 2
#define RECORDS    40

typedef enum { GOOD, MALFORMED, NEGATIVE, UNDELIVERABLE } kind_t;

typedef struct {
        kst_env_t env;
        const char *in, *out, *dlq, *bad; /* env's */
        int eos;
        int64_t offset[RECORDS]; /* of each input record in its partition */
        int seen_out[RECORDS], seen_dlq[RECORDS];
        int64_t started; /* wall clock, ms */
} fixture_t;

static kind_t kind_of(const fixture_t *f, int i) {
        if (i % 5 == 0)
                return MALFORMED;
        if (i % 5 == 1)
                return NEGATIVE;
        if (i % 5 == 2 && !f->eos)
                return UNDELIVERABLE;
        return GOOD;
}

static void key_of(const fixture_t *f, int i, char *buf, size_t size) {
        snprintf(buf, size, "%s%d", kind_of(f, i) == UNDELIVERABLE ? "p" : "k",
                 i);
}

static size_t value_of(const fixture_t *f, int i, uint8_t *buf) {
        switch (kind_of(f, i)) {
        case MALFORMED:
                memcpy(buf, "bad", 3);
                return 3;
        case NEGATIVE:
                ks_int64_encode(-1 - i, buf);
                return 8;
        default:
                ks_int64_encode(i * 7, buf);
                return 8;
        }
}

/* --- the topology ----------------------------------------------------------
 */

static ks_err_t route(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)st;
        size_t kl, vl;
        const char *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        int64_t n = 0;
        if (ks_int64_decode(v, vl, &n, NULL))
                return ks_context_set_error(ctx, "not an int64");
        if (n < 0)
                return ks_context_set_error(ctx, "negative value %lld",
                                            (long long)n);
        return ks_context_forward_to(
                ctx, kl && k[0] == 'p' ? "bad-sink" : "out-sink", k, kl, v, vl);
}

static ks_topology_t *topology(const fixture_t *f) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){f->in}, 1,
                                        NULL, ks_serde_int64(), &e));
        KST_OK_E(ks_topology_add_processor(t, "route", NULL, route, NULL, NULL,
                                           (const char *[]){"src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", f->out, NULL, NULL,
                                      (const char *[]){"route"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "bad-sink", f->bad, NULL, NULL,
                                      (const char *[]){"route"}, 1, &e));
        return t;
}

/* --- set-up ------------------------------------------------------------------
 */

static void fixture_init(fixture_t *f, const char *prefix, int eos) {
        memset(f, 0, sizeof(*f));
        f->eos = eos;
        f->started = (int64_t)time(NULL) * 1000 - 1000;
        kst_env_init(&f->env, prefix, PARTITIONS,
                     (const char *const[]){"in", "out", "dlq", NULL});
        f->in = f->env.topic[0];
        f->out = f->env.topic[1];
        f->dlq = f->env.topic[2];
        /* Never created: not on the real broker, and refused by the mock. */
        f->env.topic[3] = kst_unique_name("dlq-bad");
        f->bad = f->env.topic[3];
        void *mock = kst_broker_mock(f->env.broker);
        if (mock) {
                kst_broker_create_topic(f->env.broker, f->bad, 1, NULL);
                rd_kafka_mock_topic_set_error(
                        mock, f->bad,
                        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        }
}

/* Produce the input, in order per partition (idempotent producer), so
 * each record's offset is its rank in its partition. */
static void produce_input(fixture_t *f) {
        rd_kafka_t *p = kst_broker_client(
                f->env.broker, RD_KAFKA_PRODUCER,
                (const char *const[]){"enable.idempotence", "true", NULL});
        int64_t next[PARTITIONS] = {0};
        for (int i = 0; i < RECORDS; i++) {
                char key[16], n[16];
                key_of(f, i, key, sizeof(key));
                snprintf(n, sizeof(n), "%d", i);
                uint8_t v[8];
                size_t vl = value_of(f, i, v);
                int32_t part = i % PARTITIONS;
                f->offset[i] = next[part]++;
                rd_kafka_resp_err_t err = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(f->in), RD_KAFKA_V_PARTITION(part),
                        RD_KAFKA_V_KEY(key, strlen(key)),
                        RD_KAFKA_V_VALUE(v, vl),
                        RD_KAFKA_V_TIMESTAMP(1000000 + i),
                        RD_KAFKA_V_HEADER("n", n, (ssize_t)strlen(n)),
                        RD_KAFKA_V_HEADER("trace", "t", 1),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
        }
        kst_flush(p);
        rd_kafka_destroy(p);
}

static ks_app_t *start_app(fixture_t *f, const char *dlq) {
        ks_topology_t *t = topology(f);
        ks_config_t *c = kst_app_config(
                f->env.broker, f->env.app_id,
                (const char *const[]){
                        "processing.guarantee",
                        f->eos ? "exactly_once_v2" : "at_least_once",
                        "default.deserialization.exception.handler",
                        "log_and_continue", "processing.exception.handler",
                        "log_and_continue",
                        "default.production.exception.handler", "continue",
                        "errors.dead.letter.queue.topic.name", dlq,
                        "commit.interval.ms", "200",
                        "producer.message.timeout.ms", "3000", NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

/* --- checking ----------------------------------------------------------------
 */

/* The index a record carries in its "n" header, -1 if none or odd. */
static int index_of(const rd_kafka_message_t *m) {
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vl;
        if (rd_kafka_message_headers(m, &h) ||
            rd_kafka_header_get_last(h, "n", &v, &vl) || !vl || vl > 8)
                return -1;
        char buf[9];
        memcpy(buf, v, vl);
        buf[vl] = 0;
        int i = atoi(buf);
        return i >= 0 && i < RECORDS ? i : -1;
}

static void expect_hdr(rd_kafka_headers_t *h, size_t idx, const char *name,
                       const char *value) {
        const char *n;
        const void *v;
        size_t vl;
        assert_int_equal(rd_kafka_header_get_all(h, idx, &n, &v, &vl),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_string_equal(n, name);
        if (!value)
                return;
        if (vl != strlen(value) || memcmp(v, value, vl))
                fail_msg("header %s is \"%.*s\", expected \"%s\"", name,
                         (int)vl, (const char *)v, value);
}

static void check_key_value(const fixture_t *f, int i,
                            const rd_kafka_message_t *m) {
        char key[16];
        key_of(f, i, key, sizeof(key));
        uint8_t v[8];
        size_t vl = value_of(f, i, v);
        assert_int_equal(m->key_len, strlen(key));
        assert_memory_equal(m->key, key, m->key_len);
        assert_int_equal(m->len, vl);
        assert_memory_equal(m->payload, v, vl);
        /* A record refused in a delivery report goes to the dead-letter
         * queue stamped when it is written: librdkafka does not give the
         * timestamp of a failed message. */
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        if (ts != 1000000 + i &&
            (kind_of(f, i) != UNDELIVERABLE || ts < f->started))
                fail_msg("record %d in %s: timestamp %lld", i,
                         rd_kafka_topic_name(m->rkt), (long long)ts);
}

static void on_out(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        (void)map;
        fixture_t *f = opaque;
        int i = index_of(m);
        if (i < 0 || kind_of(f, i) != GOOD)
                fail_msg("output holds record %d, which is not a good one", i);
        if (f->seen_out[i]++)
                fail_msg("output holds record %d twice", i);
        check_key_value(f, i, m);
}

static void on_dlq(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        (void)map;
        fixture_t *f = opaque;
        int i = index_of(m);
        if (i < 0 || kind_of(f, i) == GOOD)
                fail_msg("the dead-letter queue holds record %d", i);
        if (f->seen_dlq[i]++)
                fail_msg("the dead-letter queue holds record %d twice", i);
        check_key_value(f, i, m);
        kind_t k = kind_of(f, i);
        rd_kafka_headers_t *h = NULL;
        assert_int_equal(rd_kafka_message_headers(m, &h),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        char n[16], part[16], off[24];
        snprintf(n, sizeof(n), "%d", i);
        snprintf(part, sizeof(part), "%d", i % PARTITIONS);
        snprintf(off, sizeof(off), "%lld", (long long)f->offset[i]);
        assert_int_equal(rd_kafka_header_cnt(h), k == NEGATIVE ? 8 : 7);
        expect_hdr(h, 0, "n", n);
        expect_hdr(h, 1, "trace", "t");
        expect_hdr(h, 2, "__streams.errors.exception",
                   k == MALFORMED  ? "KS_ERR_SERDE"
                   : k == NEGATIVE ? "KS_ERR_PROCESSOR"
                                   : "KS_ERR_KAFKA");
        expect_hdr(h, 3, "__streams.errors.message", NULL);
        if (k == UNDELIVERABLE) {
                /* Where it was to go; it was never written. */
                expect_hdr(h, 4, "__streams.errors.topic", f->bad);
                const char *name;
                const void *v;
                size_t vl;
                assert_int_equal(rd_kafka_header_get_all(h, 5, &name, &v, &vl),
                                 0);
                assert_string_equal(name, "__streams.errors.partition");
                assert_true((vl == 2 && !memcmp(v, "-1", 2)) ||
                            (vl == 1 && !memcmp(v, "0", 1)));
                expect_hdr(h, 6, "__streams.errors.offset", "-1");
        } else {
                expect_hdr(h, 4, "__streams.errors.topic", f->in);
                expect_hdr(h, 5, "__streams.errors.partition", part);
                expect_hdr(h, 6, "__streams.errors.offset", off);
        }
        if (k == NEGATIVE)
                expect_hdr(h, 7, "__streams.errors.processor", "route");
        const void *mv;
        size_t ml;
        assert_int_equal(rd_kafka_header_get_last(h, "__streams.errors.message",
                                                  &mv, &ml),
                         0);
        char msg[1025];
        assert_true(ml > 0 && ml < sizeof(msg));
        memcpy(msg, mv, ml);
        msg[ml] = 0;
        const char *want = k == MALFORMED  ? "does not decode"
                           : k == NEGATIVE ? "negative value"
                                           : f->bad;
        if (!strstr(msg, want))
                fail_msg("record %d: message \"%s\" lacks \"%s\"", i, msg,
                         want);
}

typedef struct {
        fixture_t *f;
        kst_reader_t *out, *dlq;
} readers_t;

static int count_seen(const int *seen) {
        int n = 0;
        for (int i = 0; i < RECORDS; i++)
                n += seen[i] > 0;
        return n;
}

typedef struct {
        ks_app_t *app;
        double want[3], got[3];
} snap_t;

static double metric_sum(const ks_metrics_t *m, const char *name,
                         const char *reason);

static int snapshot_agrees(void *opaque) {
        snap_t *s = opaque;
        ks_metrics_t *m = ks_app_metrics(s->app);
        assert_non_null(m);
        s->got[0] = metric_sum(m, "dropped-records-total", "deserialization");
        s->got[1] = metric_sum(m, "dropped-records-total", "processing-error");
        s->got[2] = metric_sum(m, "send-failures-total", NULL);
        ks_metrics_destroy(m);
        return !memcmp(s->got, s->want, sizeof(s->got));
}

/* The sum of metric @p name over the snapshot, of reason @p reason when
 * given. */
static double metric_sum(const ks_metrics_t *m, const char *name,
                         const char *reason) {
        double sum = 0;
        for (size_t i = 0; i < ks_metrics_count(m); i++) {
                const char *n;
                double v;
                ks_metrics_get(m, i, &n, NULL, NULL, &v);
                if (strcmp(n, name))
                        continue;
                int ok = !reason;
                for (size_t j = 0; !ok && j < ks_metrics_tag_count(m, i); j++) {
                        const char *k, *tv;
                        ks_metrics_tag(m, i, j, &k, &tv);
                        ok = !strcmp(k, "reason") && !strcmp(tv, reason);
                }
                if (ok)
                        sum += v;
        }
        return sum;
}

static void run(fixture_t *f) {
        produce_input(f);
        int64_t want[4] = {0};
        for (int i = 0; i < RECORDS; i++)
                want[kind_of(f, i)]++;
        int64_t failed = want[MALFORMED] + want[NEGATIVE] + want[UNDELIVERABLE];
        ks_app_t *app = start_app(f, f->dlq);
        int flags = f->eos ? KST_READ_COMMITTED : 0;
        kst_reader_t *out =
                kst_reader_new(f->env.broker, f->out, PARTITIONS, flags);
        kst_reader_t *dlq =
                kst_reader_new(f->env.broker, f->dlq, PARTITIONS, flags);
        kst_reader_on_record(out, on_out, f);
        kst_reader_on_record(dlq, on_dlq, f);
        int64_t deadline = kst_now_ms() + 90000;
        while (count_seen(f->seen_out) < want[GOOD] ||
               count_seen(f->seen_dlq) < failed) {
                if (kst_now_ms() > deadline) {
                        kst_log_print();
                        fail_msg("after 90 s: %d of %lld good records in the "
                                 "output, %d of %lld in the dead-letter queue",
                                 count_seen(f->seen_out), (long long)want[GOOD],
                                 count_seen(f->seen_dlq), (long long)failed);
                }
                if (ks_app_state(app) == KS_APP_ERROR)
                        fail_msg("app failed: %s",
                                 ks_error_message(ks_app_error(app)));
                kst_reader_poll(out, 50);
                kst_reader_poll(dlq, 50);
        }
        /* Nothing more comes: read both to their ends. */
        assert_true(kst_read_to_end(out, 30000));
        assert_true(kst_read_to_end(dlq, 30000));
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        /* The counters, once the app has committed what it read. */
        kst_wait_processed(app, RECORDS, 30000);
        assert_int_equal(ks_app_metric(app, "dropped-records-deserialization"),
                         want[MALFORMED]);
        assert_int_equal(ks_app_metric(app, "dropped-records-processing-error"),
                         want[NEGATIVE]);
        assert_int_equal(ks_app_metric(app, "dropped-records-production-error"),
                         want[UNDELIVERABLE]);
        assert_int_equal(ks_app_metric(app, "dropped-records"), failed);
        if (ks_app_metric(app, "transactions-aborted") == 0)
                assert_int_equal(ks_app_metric(app, "dlq-records"), failed);
        /* The snapshot (published about once a second): the tasks' drops
         * by reason and the threads' failed sends. */
        snap_t s = {app,
                    {(double)want[MALFORMED], (double)want[NEGATIVE],
                     (double)want[UNDELIVERABLE]},
                    {0, 0, 0}};
        if (!kst_wait_for(app, 30000, 50, snapshot_agrees, &s))
                fail_msg("the snapshot has %.0f deserialization and %.0f "
                         "processing drops and %.0f failed sends; want "
                         "%.0f, %.0f, %.0f",
                         s.got[0], s.got[1], s.got[2], s.want[0], s.want[1],
                         s.want[2]);
        KST_OK(ks_app_close(app, 30000));
        ks_app_destroy(app);
        kst_reader_destroy(out);
        kst_reader_destroy(dlq);
}

static void test_at_least_once(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f, "dlq-alos", 0);
        run(&f);
        kst_env_fini(&f.env);
}

static void test_exactly_once(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f, "dlq-eos", 1);
        run(&f);
        kst_env_fini(&f.env);
}

/* A changelog of the application as the dead-letter queue would restore
 * dead-letter records into its store: refused at start. */
static void test_changelog_topic(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f, "dlq-changelog", 0);
        ks_topology_t *t = topology(&f);
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_kv_store(t, "st", KS_STORE_IN_MEMORY, 0, &e));
        KST_OK_E(ks_topology_connect_store(t, "st", "route", &e));
        char changelog[300];
        snprintf(changelog, sizeof(changelog), "%s-st-changelog", f.env.app_id);
        ks_config_t *c = kst_app_config(
                f.env.broker, f.env.app_id,
                (const char *const[]){"errors.dead.letter.queue.topic.name",
                                      changelog, NULL});
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_INVALID_CONFIG,
                         "errors.dead.letter.queue.topic.name", changelog,
                         "internal topic");
        assert_int_equal(ks_app_state(app), KS_APP_ERROR);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_env_fini(&f.env);
}

static void test_missing_topic(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f, "dlq-missing", 0);
        char *missing = kst_unique_name("dlq-none");
        ks_topology_t *t = topology(&f);
        ks_config_t *c = kst_app_config(
                f.env.broker, f.env.app_id,
                (const char *const[]){"errors.dead.letter.queue.topic.name",
                                      missing, NULL});
        ks_error_t *e = NULL;
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_INVALID_CONFIG,
                         "errors.dead.letter.queue.topic.name", missing,
                         "does not exist");
        assert_int_equal(ks_app_state(app), KS_APP_ERROR);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        free(missing);
        kst_env_fini(&f.env);
}

int main(void) {
        const char *broker = getenv("KS_TEST_BROKER");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_topic),
                cmocka_unit_test(test_changelog_topic),
                cmocka_unit_test(test_at_least_once),
                /* Transactions need the real broker (the mock shows aborted
                 * records to read_committed): run there only. */
                cmocka_unit_test(test_exactly_once),
        };
        size_t n = broker && !strcmp(broker, "kafka") ? 4 : 3;
        return _cmocka_run_group_tests("dlq", tests, n, NULL, NULL);
}
