/* The stream thread's transactional producer on an in-process mock
 * cluster (which runs the transactional protocol), through the states of
 * streams_producer_int.h:
 *   - a transaction committed: READY again, nothing aborted;
 *   - closing tasks (a lost assignment) with a transaction open whose
 *     abort the coordinator refuses (what an instance stalled past the
 *     transaction timeout meets): the transaction counts as aborted and
 *     the producer is left FATAL; sends are dropped from then on, so the
 *     next commit must not report COMMITTED: it replaces the producer and
 *     says the transaction is void, and the new producer commits again;
 *   - the same through an abort (processing failed) instead of a commit. */
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ks_test.h"

#include "common/util_int.h"
#include "coord/streams_producer_int.h"

#define API_END_TXN 26
#define TOPIC       "sp-out"

typedef struct {
        rd_kafka_t *owner; /* holds the mock cluster */
        rd_kafka_mock_cluster_t *mc;
        ks_config_t *conf;
        ks__sproducer_t *p;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        char err[256];
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        rd_kafka_conf_set(rc, "log_level", "0", err, sizeof(err));
        f->owner = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
        assert_non_null(f->owner);
        f->mc = rd_kafka_mock_cluster_new(f->owner, 1);
        assert_non_null(f->mc);
        assert_int_equal(rd_kafka_mock_topic_create(f->mc, TOPIC, 1, 1), 0);
        f->conf = ks_config_new();
        assert_non_null(f->conf);
        kst_set(f->conf, "application.id", "sp-test");
        kst_set(f->conf, "bootstrap.servers",
                rd_kafka_mock_cluster_bootstraps(f->mc));
        kst_set(f->conf, "client.log_level", "0");
        static const char *const fixed[] = {"enable.idempotence", "true",
                                            "transactional.id", "sp-test-txn",
                                            NULL};
        static const char *const defaults[] = {"transaction.timeout.ms",
                                               "10000", NULL};
        ks__client_spec_t spec = {KS_CLIENT_PRODUCER,
                                  "sp-test-producer",
                                  defaults,
                                  fixed,
                                  NULL,
                                  NULL};
        ks_error_t *e = NULL;
        f->p = ks__sproducer_new(f->conf, &spec, 1, 10000, &e);
        assert_null(e);
        assert_non_null(f->p);
        assert_int_equal(ks__sproducer_init(f->p, &e), KS_ERR_NO_ERROR);
        assert_int_equal(ks__sproducer_state(f->p), KS_TXN_READY);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        ks__sproducer_destroy(f->p);
        ks_config_destroy(f->conf);
        rd_kafka_mock_cluster_destroy(f->mc);
        rd_kafka_destroy(f->owner);
        free(f);
        return 0;
}

/* Open a transaction (if none is) and send one record in it. */
static void send_one(fixture_t *f) {
        assert_int_equal(ks__sproducer_prepare_send(f->p), 0);
        assert_int_equal(ks__sproducer_state(f->p), KS_TXN_OPEN);
        rd_kafka_resp_err_t e = rd_kafka_producev(
                ks__sproducer_rk(f->p), RD_KAFKA_V_TOPIC(TOPIC),
                RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE("v", 1),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        /* Delivered: the partition is part of the transaction. */
        assert_int_equal(rd_kafka_flush(ks__sproducer_rk(f->p), 10000), 0);
}

static ks__txn_outcome_t commit(fixture_t *f, char *why, size_t n,
                                ks_error_t **errp) {
        rd_kafka_topic_partition_list_t *none =
                rd_kafka_topic_partition_list_new(0);
        ks__txn_outcome_t out = ks__sproducer_commit(
                f->p, none, NULL, ks__now_ms() + 10000, why, n, errp);
        rd_kafka_topic_partition_list_destroy(none);
        return out;
}

/* Leave the producer FATAL: a transaction open, its abort refused. */
static void abort_refused(fixture_t *f) {
        send_one(f);
        rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1,
                                          RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
        ks__sproducer_abort_quietly(f->p);
        assert_int_equal(ks__sproducer_aborts(f->p), 1);
        assert_int_equal(ks__sproducer_state(f->p), KS_TXN_FATAL);
        assert_false(ks__sproducer_in_txn(f->p));
        /* A send now would go nowhere: it is dropped. */
        assert_int_equal(ks__sproducer_prepare_send(f->p), 1);
}

/* After the replacement, transactions commit again. */
static void commits_again(fixture_t *f) {
        assert_int_equal(ks__sproducer_state(f->p), KS_TXN_READY);
        send_one(f);
        char why[1024] = "";
        ks_error_t *e = NULL;
        assert_int_equal(commit(f, why, sizeof(why), &e), KS_TXN_COMMITTED);
        assert_null(e);
        assert_int_equal(ks__sproducer_state(f->p), KS_TXN_READY);
}

static void test_commit(void **state) {
        fixture_t *f = *state;
        commits_again(f);
        assert_int_equal(ks__sproducer_aborts(f->p), 0);
}

static void test_fatal_then_commit(void **state) {
        fixture_t *f = *state;
        abort_refused(f);
        char why[1024] = "";
        ks_error_t *e = NULL;
        assert_int_equal(commit(f, why, sizeof(why), &e), KS_TXN_REPLACED);
        assert_null(e);
        if (!strstr(why, "abort refused"))
                fail_msg("the reason does not name the refused abort: %s", why);
        assert_int_equal(ks__sproducer_aborts(f->p), 1);
        commits_again(f);
}

static void test_fatal_then_abort(void **state) {
        fixture_t *f = *state;
        abort_refused(f);
        char why[1024] = "";
        ks_error_t *e = NULL;
        assert_int_equal(ks__sproducer_abort(f->p, "processing failed", why,
                                             sizeof(why), &e),
                         KS_TXN_REPLACED);
        assert_null(e);
        commits_again(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fatal_then_commit, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_fatal_then_abort, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
