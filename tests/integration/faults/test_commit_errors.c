/* Offset commits that the broker refuses with retriable errors (the mock
 * cluster answers OffsetCommit, API key 8, with REQUEST_TIMED_OUT and
 * NOT_COORDINATOR): the commit is tried again, the app stays RUNNING,
 * commits succeed once the errors stop, and every final count of the word
 * count equals an independent count. When the errors last longer than
 * task.timeout.ms (2 s here), the app goes to ERROR with a message naming
 * task.timeout.ms and the error, after that long and not before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS        2
#define VOCAB             20
#define API_OFFSET_COMMIT 8
#define BROKER            1 /* the only one: the group's coordinator */

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        *state = kst_wc_fixture("mock", 1, "cerr", PARTITIONS, VOCAB, 31);
        return 0;
}

static ks_app_t *start(fixture_t *f, const char *task_timeout) {
        ks_error_t *e = NULL;
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"commit.interval.ms", "100",
                                      "task.timeout.ms", task_timeout, NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

/* Make the next @p n OffsetCommit requests fail: @p a, @p b, @p a, ... */
static void push_commit_errors(fixture_t *f, int n, rd_kafka_resp_err_t a,
                               rd_kafka_resp_err_t b) {
        rd_kafka_mock_cluster_t *mc = kst_broker_mock(f->broker);
        for (int i = 0; i < n; i++)
                assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                                         mc, BROKER, API_OFFSET_COMMIT, 1,
                                         i % 2 ? b : a, 0),
                                 0);
}

static size_t commit_errors_left(fixture_t *f) {
        size_t n = 0;
        assert_int_equal(rd_kafka_mock_broker_error_stack_cnt(
                                 kst_broker_mock(f->broker), BROKER,
                                 API_OFFSET_COMMIT, &n),
                         0);
        return n;
}

typedef struct {
        fixture_t *f;
        ks_app_t *app;
        int64_t commits;
} wait_t;

static int errors_used(void *opaque) {
        wait_t *w = opaque;
        return commit_errors_left(w->f) == 0;
}

static int committed(void *opaque) {
        wait_t *w = opaque;
        return ks_app_metric(w->app, "commit-total") >= w->commits;
}

static void test_retried(void **state) {
        fixture_t *f = *state;
        kst_wc_produce(f, 300, 5, KST_WC_SPREAD);
        push_commit_errors(f, 8, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                           RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
        kst_log_clear();
        ks_app_t *app = start(f, "300000");
        wait_t w = {f, app, 0};
        if (!kst_wait_for(app, 60000, 50, errors_used, &w))
                fail_msg("%zu of 8 commit errors still unused after 60 s "
                         "(commit-total %lld)",
                         commit_errors_left(f),
                         (long long)ks_app_metric(app, "commit-total"));
        /* Commits go through again. */
        w.commits = ks_app_metric(app, "commit-total") + 3;
        if (!kst_wait_for(app, 30000, 50, committed, &w))
                fail_msg("commit-total stays at %lld after the errors",
                         (long long)ks_app_metric(app, "commit-total"));
        kst_wc_wait_counts(f, app, 60000);
        /* A coordinator change may take the member through a rebalance. */
        kst_wait_state(app, KS_APP_RUNNING, 30000);
        assert_null(ks_app_error(app));
        printf("# %s\n", kst_log_contains("retrying")
                                 ? "the app retried failed commits"
                                 : "librdkafka retried every failed commit");
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
}

static void test_timed_out(void **state) {
        fixture_t *f = *state;
        kst_wc_produce(f, 300, 5, KST_WC_SPREAD);
        /* More than the commits of a minute could use. */
        push_commit_errors(f, 2000, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                           RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        int64_t t0 = kst_now_ms();
        ks_app_t *app = start(f, "2000");
        kst_wait_state(app, KS_APP_ERROR, 60000);
        int64_t took = kst_now_ms() - t0;
        const char *msg = ks_error_message(ks_app_error(app));
        printf("# ERROR after %lld ms: %s\n", (long long)took, msg);
        if (!strstr(msg, "task.timeout.ms") || !strstr(msg, "offset commit") ||
            !strstr(msg, "timed out"))
                fail_msg("unexpected error: %s", msg);
        /* Not before task.timeout.ms of failures. */
        assert_true(took >= 2000);
        assert_true(commit_errors_left(f) > 0);
        ks_app_close(app, 30000);
        ks_app_destroy(app);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_retried, setup,
                                                kst_wc_teardown),
                cmocka_unit_test_setup_teardown(test_timed_out, setup,
                                                kst_wc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
