/* Time in the runtime.
 *
 * Idle partitions: with max.task.idle.ms=0 a task reading two partitions
 * (one source on two co-partitioned topics), one of them empty, takes a
 * record as soon as the consumer has reported the empty partition's end:
 * each record produced to the other one comes out well under a second
 * later (the consumers fetch with fetch.wait.max.ms=10; the first record
 * may also wait up to a second for the app's producer to look the output
 * topic up), never after a wait for the empty partition (2 s), and no
 * record is counted as taken after waiting in vain (enforced-processing
 * stays 0).
 *
 * The end of time: records with timestamps up to INT64_MAX - 1 through a
 * processor with a stream-time punctuator are all processed, each comes
 * out with its own timestamp, the punctuator fires at each advance of
 * stream time (the last within 10 s of INT64_MAX), never past stream time
 * and never going back, and the app keeps RUNNING (the sanitizer build
 * checks the arithmetic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

typedef struct {
        kst_env_t env;
        kst_broker_t *broker;             /* env's */
        const char *a, *b, *out, *app_id; /* env's */
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, "time", 1,
                     (const char *const[]){"a", "b", "out", NULL});
        f->broker = f->env.broker;
        f->a = f->env.topic[0];
        f->b = f->env.topic[1];
        f->out = f->env.topic[2];
        f->app_id = f->env.app_id;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_env_fini(&f->env);
        free(f);
        return 0;
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, k, kl, v, vl);
}

/* A consumer of out [0] from the start, fetching with no delay. */
static rd_kafka_t *out_reader(fixture_t *f) {
        rd_kafka_t *c = kst_broker_client(
                f->broker, RD_KAFKA_CONSUMER,
                (const char *const[]){"fetch.wait.max.ms", "10",
                                      "enable.auto.commit", "false",
                                      "enable.partition.eof", "true", NULL});
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, f->out, 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        return c;
}

/* The next record of out within @p timeout_ms (NULL: none). */
static rd_kafka_message_t *next_out(rd_kafka_t *c, int timeout_ms) {
        int64_t deadline = kst_now_ms() + timeout_ms;
        while (kst_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 10);
                if (m && !m->err)
                        return m;
                if (m)
                        rd_kafka_message_destroy(m);
        }
        return NULL;
}

/* --- idle partitions ------------------------------------------------------ */

#define IDLE_RECORDS 6
#define LATENCY_MS   1000
/* The first record also waits for the app's producer to learn the output
 * topic: librdkafka looks up a topic it has no metadata for at its next
 * one-second scan. */
#define FIRST_LATENCY_MS 1600

static void test_empty_partition(void **state) {
        fixture_t *f = *state;
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){f->a, f->b},
                                        2, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "pass", NULL, pass, NULL, NULL,
                                           (const char *[]){"src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", f->out, NULL, NULL,
                                      (const char *[]){"pass"}, 1, &e));
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"max.task.idle.ms", "0",
                                      "consumer.fetch.wait.max.ms", "10",
                                      "producer.linger.ms", "0", NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        /* The clients of the test ready first, so that only the app's
         * time is measured: the reader at the end of out, the producer
         * with the metadata of the input topic. */
        rd_kafka_t *reader = out_reader(f);
        int64_t deadline = kst_now_ms() + 30000;
        for (int at_end = 0; !at_end;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(reader, 100);
                at_end = m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
                if (m)
                        rd_kafka_message_destroy(m);
                if (!at_end && kst_now_ms() > deadline)
                        fail_msg("the reader of %s never reached its end",
                                 f->out);
        }
        rd_kafka_t *p = kst_broker_client(
                f->broker, RD_KAFKA_PRODUCER,
                (const char *const[]){"linger.ms", "0", NULL});
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, f->a, NULL);
        const struct rd_kafka_metadata *md = NULL;
        assert_int_equal(rd_kafka_metadata(p, 0, rkt, &md, 10000), 0);
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        int64_t worst = 0, first = 0;
        for (int i = 0; i < IDLE_RECORDS; i++) {
                char v[16];
                snprintf(v, sizeof(v), "r%d", i);
                int64_t t0 = kst_now_ms();
                kst_produce(p, f->a, 0, v, strlen(v), v, strlen(v));
                rd_kafka_poll(p, 0);
                rd_kafka_message_t *m = next_out(reader, 10000);
                int64_t took = kst_now_ms() - t0;
                if (!m)
                        fail_msg("record %s not out after 10 s", v);
                if (m->len != strlen(v) || memcmp(m->payload, v, m->len))
                        fail_msg("record %d: got %.*s", i, (int)m->len,
                                 (const char *)m->payload);
                rd_kafka_message_destroy(m);
                printf("# record %d out after %lld ms\n", i, (long long)took);
                if (!i)
                        first = took;
                else if (took > worst)
                        worst = took;
        }
        kst_flush(p);
        rd_kafka_destroy(p);
        rd_kafka_destroy(reader);
        if (first >= FIRST_LATENCY_MS || worst >= LATENCY_MS)
                fail_msg("records took up to %lld ms (the first %lld ms) from "
                         "the producer to out (max.task.idle.ms 0, the other "
                         "partition empty); enforced-processing %lld",
                         (long long)worst, (long long)first,
                         (long long)ks_app_metric(app, "enforced-processing"));
        assert_int_equal(ks_app_metric(app, "enforced-processing"), 0);
        assert_int_equal(ks_app_metric(app, "process-total"), IDLE_RECORDS);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
}

/* --- the end of time ------------------------------------------------------ */

#define TICK_MS 1000

static const int64_t end_times[] = {
        1, /* 0 would make librdkafka stamp the record with the time */
        1000,
        2500,
        INT64_MAX / 2,
        INT64_MAX - 5000,
        INT64_MAX - 1,
        INT64_MAX - 1, /* again: stream time does not move */
        5000,          /* late: behind stream time */
};
#define END_RECORDS (sizeof(end_times) / sizeof(*end_times))

static ks_err_t tick(ks_context_t *ctx, int64_t ts, void *opaque) {
        char v[48];
        int n = snprintf(v, sizeof(v), "tick@%lld", (long long)ts);
        return ks_context_forward(ctx, "tick", 4, v, (size_t)n);
}

static ks_err_t punct_init(ks_context_t *ctx, void *opaque, void **statep) {
        return ks_context_schedule(ctx, TICK_MS, KS_PUNCTUATE_STREAM_TIME, tick,
                                   NULL, NULL);
}

static void test_end_of_time(void **state) {
        fixture_t *f = *state;
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){f->a}, 1,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "punct", punct_init, pass, NULL,
                                           NULL, (const char *[]){"src"}, 1,
                                           &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", f->out, NULL, NULL,
                                      (const char *[]){"punct"}, 1, &e));
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (size_t i = 0; i < END_RECORDS; i++) {
                char v[16];
                snprintf(v, sizeof(v), "r%zu", i);
                rd_kafka_resp_err_t err = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(f->a), RD_KAFKA_V_PARTITION(0),
                        RD_KAFKA_V_KEY(v, strlen(v)),
                        RD_KAFKA_V_VALUE(v, strlen(v)),
                        RD_KAFKA_V_TIMESTAMP(end_times[i]),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (err)
                        fail_msg("producing: %s", rd_kafka_err2str(err));
                kst_flush(p); /* one record per batch */
        }
        rd_kafka_destroy(p);
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"commit.interval.ms", "100",
                                      "consumer.fetch.wait.max.ms", "10",
                                      NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wait_processed(app, END_RECORDS, 60000);

        /* Every record once, with its timestamp; ticks in between. */
        rd_kafka_t *reader = out_reader(f);
        int seen[END_RECORDS] = {0};
        size_t got = 0;
        int ticks = 0, end_tick = 0;
        int64_t last_tick = -1, stream_time = -1;
        while (got < END_RECORDS) {
                rd_kafka_message_t *m = next_out(reader, 30000);
                if (!m)
                        fail_msg("%zu of %zu records out after 30 s", got,
                                 END_RECORDS);
                int64_t ts = rd_kafka_message_timestamp(m, NULL);
                char v[64] = "";
                if (m->len < sizeof(v))
                        memcpy(v, m->payload, m->len);
                long long tick_ts;
                unsigned idx;
                if (sscanf(v, "tick@%lld", &tick_ts) == 1) {
                        assert_int_equal(tick_ts, ts);
                        if (ts > stream_time)
                                fail_msg("punctuation at %lld, past stream "
                                         "time %lld",
                                         (long long)ts, (long long)stream_time);
                        if (ts < last_tick)
                                fail_msg("punctuation went back from %lld to "
                                         "%lld",
                                         (long long)last_tick, (long long)ts);
                        last_tick = ts;
                        ticks++;
                        end_tick |= ts > INT64_MAX - 10 * TICK_MS;
                } else if (sscanf(v, "r%u", &idx) == 1 && idx < END_RECORDS) {
                        if (ts != end_times[idx])
                                fail_msg("record %u came out with timestamp "
                                         "%lld, not %lld",
                                         idx, (long long)ts,
                                         (long long)end_times[idx]);
                        seen[idx]++;
                        got++;
                        if (ts > stream_time)
                                stream_time = ts;
                } else {
                        fail_msg("unexpected record \"%s\"", v);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(reader);
        for (size_t i = 0; i < END_RECORDS; i++)
                assert_int_equal(seen[i], 1);
        printf("# %d punctuations, the last at %lld\n", ticks,
               (long long)last_tick);
        /* At 1, 1000, 2000 and the three jumps at least. */
        assert_true(ticks >= 6);
        assert_true(end_tick);
        assert_int_equal(ks_app_metric(app, "process-total"), END_RECORDS);
        assert_int_equal(ks_app_metric(app, "dropped-records"), 0);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_empty_partition, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_end_of_time, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
