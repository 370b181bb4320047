/* Tasks closed while their changelog records are in flight: the tasks
 * are freed before the delivery reports of those records come back, and
 * the reports must reach nothing of them. Run under AddressSanitizer, the
 * tests must make it report nothing; the app ends in ERROR with a message
 * naming the cause.
 *
 * Mock cluster (three brokers): the changelogs' partitions are led by
 * broker 3, everything else by broker 1, and every answer of broker 3 to
 * a Produce request comes 8 s late (longer than the 5 s a failing thread
 * waits for its producer, and than task.timeout.ms where it is 2 s); the
 * word count counts input, so changelog records are on their way; then
 *   - the consumer is refused its input topic (TOPIC_AUTHORIZATION_FAILED
 *     on Fetch): the thread fails, waits 5 s for its producer in vain,
 *     closes its tasks, and the reports arrive afterwards; the error names
 *     the topic;
 *   - a commit's flush times out (task.timeout.ms 2000): the thread fails
 *     and closes its tasks with the reports still to come; the error names
 *     task.timeout.ms.
 * Real Kafka: the input topic is deleted through the admin API while the
 * app counts a large input; the error names the topic, and the app must
 * then close and be destroyed within a minute. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS  2
#define VOCAB       30
#define BROKER      1 /* leads the topics of the test */
#define SLOW_BROKER 3 /* leads the changelogs */
#define API_PRODUCE 0
#define API_FETCH   1
#define PRODUCE_RTT 8000

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        fixture_t *f = kst_wc_new(NULL, 3, "inflight", PARTITIONS, VOCAB, 3);
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        size_t n = kst_create_internal_topics(f->broker, t, f->app_id,
                                              PARTITIONS, NULL, NULL);
        rd_kafka_mock_cluster_t *mc = kst_broker_mock(f->broker);
        if (mc) {
                const char *topics[] = {f->in, f->words_topic, f->out};
                for (int p = 0; p < PARTITIONS; p++) {
                        for (size_t i = 0; i < 3; i++)
                                assert_int_equal(
                                        rd_kafka_mock_partition_set_leader(
                                                mc, topics[i], p, BROKER),
                                        0);
                        for (size_t i = 0; i < n; i++) {
                                char cl[512];
                                KST_OK(ks_topology_internal_topic(
                                        t, f->app_id, i, cl, sizeof(cl), NULL));
                                assert_int_equal(
                                        rd_kafka_mock_partition_set_leader(
                                                mc, cl, p, SLOW_BROKER),
                                        0);
                        }
                }
                assert_int_equal(rd_kafka_mock_coordinator_set(
                                         mc, "group", f->app_id, BROKER),
                                 0);
        }
        ks_topology_destroy(t);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        kst_wc_destroy(*state);
        return 0;
}

static ks_app_t *start(fixture_t *f, const char *commit_ms,
                       const char *task_timeout) {
        ks_error_t *e = NULL;
        /* Metadata looked at every half second, so that a missing topic
         * shows at once. */
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){
                        "commit.interval.ms", commit_ms, "task.timeout.ms",
                        task_timeout,
                        "consumer.topic.metadata.refresh.interval.ms", "500",
                        NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

/* The app ends in ERROR; its message (copied into @p msg) should name
 * @p what: 1 if it does. */
static int expect_error(ks_app_t *app, const char *what, char *msg,
                        size_t size) {
        if (!ks_app_wait_state(app, KS_APP_ERROR, 60000)) {
                kst_log_print();
                fail_msg("the app is %s, not ERROR",
                         ks_app_state_name(ks_app_state(app)));
        }
        snprintf(msg, size, "%s", ks_error_message(ks_app_error(app)));
        printf("# ERROR: %s\n", msg);
        return strstr(msg, what) != NULL;
}

typedef struct {
        ks_app_t *app;
        int done; /* atomic */
} destroyer_t;

static void *destroy_main(void *arg) {
        destroyer_t *d = arg;
        ks_app_destroy(d->app);
        __atomic_store_n(&d->done, 1, __ATOMIC_SEQ_CST);
        return NULL;
}

static int destroyed(void *opaque) {
        return __atomic_load_n(&((destroyer_t *)opaque)->done,
                               __ATOMIC_SEQ_CST);
}

/* Close and destroy @p app within a minute (the threads serve the late
 * delivery reports meanwhile), or fail the test. */
static void close_within(ks_app_t *app) {
        int64_t t0 = kst_now_ms();
        if (ks_app_close(app, 60000))
                fail_msg("ks_app_close() timed out after 60 s");
        destroyer_t d = {app, 0};
        pthread_t tid;
        assert_int_equal(pthread_create(&tid, NULL, destroy_main, &d), 0);
        if (!kst_wait_for(NULL, 60000, 100, destroyed, &d))
                fail_msg("ks_app_destroy() has not returned after 60 s");
        pthread_join(tid, NULL);
        printf("# closed and destroyed in %lld ms\n",
               (long long)(kst_now_ms() - t0));
}

/* Every answer of the changelogs' leader to a Produce request late from
 * now on, then more input: its words' changelog records will be on their
 * way. Returns the records the app is to process. */
static int64_t slow_changelog(fixture_t *f, ks_app_t *app) {
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        kst_wait_processed(app, 100 + f->total_words, 60000);
        int64_t done = ks_app_metric(app, "process-total");
        rd_kafka_mock_cluster_t *mc = kst_broker_mock(f->broker);
        for (int i = 0; i < 500; i++)
                assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                                         mc, SLOW_BROKER, API_PRODUCE, 1,
                                         RD_KAFKA_RESP_ERR_NO_ERROR,
                                         PRODUCE_RTT),
                                 0);
        int64_t words = f->total_words;
        kst_wc_produce(f, 50, 5, KST_WC_SPREAD);
        return done + 50 + (f->total_words - words);
}

static void test_fatal_error(void **state) {
        fixture_t *f = *state;
        kst_wc_produce(f, 100, 5, KST_WC_SPREAD);
        ks_app_t *app = start(f, "600000", "300000");
        /* The lines and their words counted: no commit comes to wait for
         * the changelog records. */
        kst_wait_processed(app, slow_changelog(f, app), 60000);
        for (int i = 0; i < 500; i++)
                assert_int_equal(
                        rd_kafka_mock_broker_push_request_error_rtts(
                                kst_broker_mock(f->broker), BROKER, API_FETCH,
                                1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                0),
                        0);
        char msg[1024];
        int named = expect_error(app, "not authorized to read source topic",
                                 msg, sizeof(msg));
        close_within(app);
        if (!named)
                fail_msg("the error does not name the refused topic: %s", msg);
}

static void test_flush_timed_out(void **state) {
        fixture_t *f = *state;
        kst_wc_produce(f, 100, 5, KST_WC_SPREAD);
        /* Commits every second: the first after the delays began waits
         * for the changelog records' answers and gives up after 2 s. */
        ks_app_t *app = start(f, "1000", "2000");
        slow_changelog(f, app);
        char msg[1024];
        int named = expect_error(app, "task.timeout.ms", msg, sizeof(msg));
        close_within(app);
        if (!named)
                fail_msg("the error does not name task.timeout.ms: %s", msg);
}

static void delete_topic(fixture_t *f) {
        rd_kafka_t *rk = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(f->in);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        if (!ev)
                fail_msg("DeleteTopics %s: no answer in 60 s", f->in);
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
                rd_kafka_DeleteTopics_result_topics(
                        rd_kafka_event_DeleteTopics_result(ev), &n);
        if (rd_kafka_event_error(ev) || n != 1 ||
            rd_kafka_topic_result_error(res[0]))
                fail_msg("DeleteTopics %s: %s", f->in,
                         rd_kafka_event_error(ev)
                                 ? rd_kafka_event_error_string(ev)
                         : n == 1 ? rd_kafka_topic_result_error_string(res[0])
                                  : "no result");
        rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

static void test_topic_deleted(void **state) {
        fixture_t *f = *state;
        kst_wc_produce(f, 20000, 5, KST_WC_SPREAD);
        ks_app_t *app = start(f, "100", "300000");
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        kst_wait_processed(app, 2000, 60000);
        delete_topic(f);
        char msg[1024];
        int named = expect_error(app, f->in, msg, sizeof(msg));
        close_within(app);
        if (!named)
                fail_msg("the error does not name the deleted topic %s: %s",
                         f->in, msg);
}

int main(void) {
        const char *broker = getenv("KS_TEST_BROKER");
        if (broker && !strcmp(broker, "kafka")) {
                const struct CMUnitTest tests[] = {
                        cmocka_unit_test_setup_teardown(test_topic_deleted,
                                                        setup, teardown),
                };
                return cmocka_run_group_tests(tests, NULL, NULL);
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fatal_error, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_flush_timed_out, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
