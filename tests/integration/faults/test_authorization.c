/* Authorization errors of the consumer: the mock cluster answers a
 * request with TOPIC_AUTHORIZATION_FAILED or GROUP_AUTHORIZATION_FAILED
 * from then on (what an ACL that denies the application does). No new
 * attempt gets past them, so the app must go to ERROR, with a message
 * naming the topic or the group and the error, rather than stay RUNNING
 * (or REBALANCING) without progress or retry until task.timeout.ms:
 *
 *   Fetch (1)         TOPIC_AUTHORIZATION_FAILED, the app running;
 *   JoinGroup (11)    GROUP_AUTHORIZATION_FAILED, from the start;
 *   OffsetFetch (9)   GROUP_AUTHORIZATION_FAILED, from the start;
 *   OffsetCommit (8)  GROUP_AUTHORIZATION_FAILED, the app running. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS        2
#define VOCAB             10
#define BROKER            1
#define DENIALS           500 /* requests refused: more than the test makes */

#define API_OFFSET_COMMIT 8
#define API_FETCH         1
#define API_OFFSET_FETCH  9
#define API_JOIN_GROUP    11

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        fixture_t *f = kst_wc_new("mock", 1, "auth", PARTITIONS, VOCAB, 5);
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        kst_create_internal_topics(f->broker, t, f->app_id, PARTITIONS, NULL,
                                   NULL);
        ks_topology_destroy(t);
        kst_wc_produce(f, 50, 4, KST_WC_SPREAD);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        kst_wc_destroy(*state);
        return 0;
}

static void deny(fixture_t *f, int api, rd_kafka_resp_err_t err) {
        for (int i = 0; i < DENIALS; i++)
                assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                                         kst_broker_mock(f->broker), BROKER,
                                         (int16_t)api, 1, err, 0),
                                 0);
}

/* Start the app with @p api denied from the start, or once it has
 * processed the input (@p running); it must be in ERROR within 30 s with
 * a message naming @p what (or @p what2, if not NULL) and the error. */
static void run_denied(fixture_t *f, int api, rd_kafka_resp_err_t err,
                       int running, const char *what, const char *what2) {
        ks_error_t *e = NULL;
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"commit.interval.ms", "100", NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        if (!running)
                deny(f, api, err);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        if (running) {
                kst_wait_state(app, KS_APP_RUNNING, 60000);
                kst_wait_processed(app, 50, 60000);
                deny(f, api, err);
        }
        int64_t t0 = kst_now_ms();
        if (!ks_app_wait_state(app, KS_APP_ERROR, 30000)) {
                kst_log_print();
                fail_msg("%s denied: the app is %s after 30 s (%s), "
                         "process-total %lld",
                         rd_kafka_err2name(err),
                         ks_app_state_name(ks_app_state(app)),
                         ks_app_error(app) ? ks_error_message(ks_app_error(app))
                                           : "no error",
                         (long long)ks_app_metric(app, "process-total"));
        }
        const char *msg = ks_error_message(ks_app_error(app));
        printf("# %s: ERROR after %lld ms: %s\n", rd_kafka_err2name(err),
               (long long)(kst_now_ms() - t0), msg);
        if ((!strstr(msg, what) && (!what2 || !strstr(msg, what2))) ||
            !strstr(msg, "uthoriz"))
                fail_msg("the error names not %s%s%s and the authorization "
                         "failure: %s",
                         what, what2 ? " or " : "", what2 ? what2 : "", msg);
        ks_app_close(app, 30000);
        ks_app_destroy(app);
}

static void test_fetch_denied(void **state) {
        fixture_t *f = *state;
        /* Either source topic, whichever the fetch reported first. */
        run_denied(f, API_FETCH, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                   1, f->in, f->words_topic);
}

static void test_join_denied(void **state) {
        fixture_t *f = *state;
        run_denied(f, API_JOIN_GROUP,
                   RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, 0, f->app_id,
                   NULL);
}

static void test_offset_fetch_denied(void **state) {
        fixture_t *f = *state;
        run_denied(f, API_OFFSET_FETCH,
                   RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, 0, f->app_id,
                   NULL);
}

static void test_offset_commit_denied(void **state) {
        fixture_t *f = *state;
        run_denied(f, API_OFFSET_COMMIT,
                   RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, 1, f->app_id,
                   NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fetch_denied, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_join_denied, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_offset_fetch_denied, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_offset_commit_denied,
                                                setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
