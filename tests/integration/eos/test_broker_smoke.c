/* The real broker does what the mock cluster cannot: read_committed readers
 * skip aborted transactions, offsets sent in a transaction become visible
 * only when it commits, CreateTopics makes compacted topics, and a second
 * producer with the same transactional.id fences the first. Plain
 * librdkafka, no library code: this checks the harness's broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_broker.h"
#include "ks_test.h"

typedef struct {
        kst_broker_t *broker;
        char *topic;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->broker = kst_broker_get("kafka", 0);
        f->topic = kst_unique_name("smoke");
        kst_broker_create_topic(f->broker, f->topic, 1, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_broker_destroy(f->broker);
        free(f->topic);
        free(f);
        return 0;
}

static rd_kafka_t *client(fixture_t *f, rd_kafka_type_t type, ...) {
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        va_list ap;
        va_start(ap, type);
        const char *k, *v;
        if (rd_kafka_conf_set(conf, "bootstrap.servers",
                              kst_broker_bootstrap(f->broker), err,
                              sizeof(err)))
                fail_msg("%s", err);
        while ((k = va_arg(ap, const char *))) {
                v = va_arg(ap, const char *);
                if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)))
                        fail_msg("%s=%s: %s", k, v, err);
        }
        va_end(ap);
        rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
        if (!rk)
                fail_msg("%s", err);
        return rk;
}

static void ok_error(rd_kafka_error_t *e, const char *what) {
        if (e) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                fail_msg("%s: %s", what, msg);
        }
}

static void produce(rd_kafka_t *p, const char *topic, const char *value) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err)
                fail_msg("produce: %s", rd_kafka_err2str(err));
}

/* Read partition 0 of @p topic from the start up to its end (for
 * read_committed: the last stable offset) and return the values, comma
 * separated. */
static char *read_all(fixture_t *f, const char *isolation) {
        rd_kafka_t *c =
                client(f, RD_KAFKA_CONSUMER, "group.id", "unused",
                       "isolation.level", isolation, "enable.partition.eof",
                       "true", "enable.auto.commit", "false", NULL);
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tp, f->topic, 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, tp), 0);
        rd_kafka_topic_partition_list_destroy(tp);
        size_t cap = 4096, len = 0;
        char *out = calloc(1, cap);
        int64_t deadline = kst_now_ms() + 30000;
        for (;;) {
                if (kst_now_ms() > deadline)
                        fail_msg("no end of partition after 30 s (%s)", out);
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        rd_kafka_message_destroy(m);
                        break;
                }
                if (m->err)
                        fail_msg("consume: %s", rd_kafka_message_errstr(m));
                len += (size_t)snprintf(out + len, cap - len, "%s%.*s",
                                        len ? "," : "", (int)m->len,
                                        (const char *)m->payload);
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        return out;
}

static void test_read_committed_skips_aborted(void **state) {
        fixture_t *f = *state;
        char *txid = kst_unique_name("smoke-tx");
        rd_kafka_t *p =
                client(f, RD_KAFKA_PRODUCER, "transactional.id", txid, NULL);
        ok_error(rd_kafka_init_transactions(p, 30000), "init");
        ok_error(rd_kafka_begin_transaction(p), "begin");
        produce(p, f->topic, "a0");
        produce(p, f->topic, "a1");
        produce(p, f->topic, "a2");
        /* Deliver them first: an abort purges what is still queued. */
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        ok_error(rd_kafka_abort_transaction(p, 30000), "abort");
        ok_error(rd_kafka_begin_transaction(p), "begin");
        produce(p, f->topic, "c0");
        produce(p, f->topic, "c1");
        ok_error(rd_kafka_commit_transaction(p, 30000), "commit");
        rd_kafka_destroy(p);
        char *committed = read_all(f, "read_committed");
        assert_string_equal(committed, "c0,c1");
        /* The aborted records are in the log: only isolation hides them. */
        char *all = read_all(f, "read_uncommitted");
        assert_string_equal(all, "a0,a1,a2,c0,c1");
        free(committed);
        free(all);
        free(txid);
}

static int64_t committed_offset(fixture_t *f, const char *group) {
        rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER, "group.id", group,
                               "enable.auto.commit", "false", NULL);
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tp, f->topic, 0);
        rd_kafka_resp_err_t err = rd_kafka_committed(c, tp, 30000);
        if (err)
                fail_msg("committed: %s", rd_kafka_err2str(err));
        int64_t off = tp->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(tp);
        rd_kafka_destroy(c);
        return off;
}

static void send_offset(rd_kafka_t *p, fixture_t *f, const char *group,
                        int64_t offset) {
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tp, f->topic, 0)->offset = offset;
        rd_kafka_consumer_group_metadata_t *md =
                rd_kafka_consumer_group_metadata_new(group);
        ok_error(rd_kafka_send_offsets_to_transaction(p, tp, md, 30000),
                 "send_offsets_to_transaction");
        rd_kafka_consumer_group_metadata_destroy(md);
        rd_kafka_topic_partition_list_destroy(tp);
}

static void test_transactional_offsets(void **state) {
        fixture_t *f = *state;
        char *txid = kst_unique_name("smoke-tx");
        char *group = kst_unique_name("smoke-group");
        rd_kafka_t *p =
                client(f, RD_KAFKA_PRODUCER, "transactional.id", txid, NULL);
        ok_error(rd_kafka_init_transactions(p, 30000), "init");
        /* Offsets of an aborted transaction are never committed... */
        ok_error(rd_kafka_begin_transaction(p), "begin");
        produce(p, f->topic, "x");
        send_offset(p, f, group, 7);
        ok_error(rd_kafka_abort_transaction(p, 30000), "abort");
        assert_int_equal(committed_offset(f, group), RD_KAFKA_OFFSET_INVALID);
        /* ...those of a committed one are. */
        ok_error(rd_kafka_begin_transaction(p), "begin");
        produce(p, f->topic, "y");
        send_offset(p, f, group, 42);
        ok_error(rd_kafka_commit_transaction(p, 30000), "commit");
        assert_int_equal(committed_offset(f, group), 42);
        rd_kafka_destroy(p);
        free(txid);
        free(group);
}

static void test_create_compacted_topic(void **state) {
        fixture_t *f = *state;
        char *topic = kst_unique_name("smoke-compact");
        const char *configs[] = {"cleanup.policy", "compact", NULL};
        kst_broker_create_topic(f->broker, topic, 3, configs);
        /* Read the config back. */
        rd_kafka_t *rk = client(f, RD_KAFKA_PRODUCER, NULL);
        rd_kafka_ConfigResource_t *cr =
                rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        assert_non_null(ev);
        assert_int_equal(rd_kafka_event_error(ev), 0);
        size_t rcnt, ccnt;
        const rd_kafka_ConfigResource_t **res =
                rd_kafka_DescribeConfigs_result_resources(
                        rd_kafka_event_DescribeConfigs_result(ev), &rcnt);
        assert_int_equal(rcnt, 1);
        const rd_kafka_ConfigEntry_t **entries =
                rd_kafka_ConfigResource_configs(res[0], &ccnt);
        const char *policy = NULL;
        for (size_t i = 0; i < ccnt; i++)
                if (!strcmp(rd_kafka_ConfigEntry_name(entries[i]),
                            "cleanup.policy"))
                        policy = rd_kafka_ConfigEntry_value(entries[i]);
        assert_non_null(policy);
        assert_string_equal(policy, "compact");
        rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(cr);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        free(topic);
}

static void test_fencing(void **state) {
        fixture_t *f = *state;
        char *txid = kst_unique_name("smoke-tx");
        rd_kafka_t *p1 =
                client(f, RD_KAFKA_PRODUCER, "transactional.id", txid, NULL);
        ok_error(rd_kafka_init_transactions(p1, 30000), "init p1");
        ok_error(rd_kafka_begin_transaction(p1), "begin p1");
        produce(p1, f->topic, "zombie");
        /* The second producer's init bumps the epoch: p1 is a zombie. */
        rd_kafka_t *p2 =
                client(f, RD_KAFKA_PRODUCER, "transactional.id", txid, NULL);
        ok_error(rd_kafka_init_transactions(p2, 30000), "init p2");
        rd_kafka_error_t *e = rd_kafka_commit_transaction(p1, 30000);
        assert_non_null(e);
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        char fatal[512] = "";
        rd_kafka_resp_err_t fcode =
                rd_kafka_fatal_error(p1, fatal, sizeof(fatal));
        rd_kafka_error_destroy(e);
        int fenced = code == RD_KAFKA_RESP_ERR__FENCED ||
                     code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                     code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
                     fcode == RD_KAFKA_RESP_ERR__FENCED ||
                     fcode == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                     fcode == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
        if (!fenced)
                fail_msg("p1 was not fenced: %s / %s", rd_kafka_err2str(code),
                         fatal);
        /* The new producer works. */
        ok_error(rd_kafka_begin_transaction(p2), "begin p2");
        produce(p2, f->topic, "live");
        ok_error(rd_kafka_commit_transaction(p2, 30000), "commit p2");
        rd_kafka_destroy(p1);
        rd_kafka_destroy(p2);
        char *committed = read_all(f, "read_committed");
        assert_string_equal(committed, "live");
        free(committed);
        free(txid);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_read_committed_skips_aborted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transactional_offsets,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_compacted_topic,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_fencing, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
