/* instance.id gives each stream thread a static group membership
 * (group.instance.id "<instance.id>-<thread>"), read back with
 * DescribeConsumerGroups. Real Kafka only: the mock has no static
 * membership and no DescribeGroups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_broker.h"
#include "ks_test.h"

/* The group.instance.id of every member of @p group, sorted, comma
 * separated. */
static char *describe(kst_broker_t *b, const char *group) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", kst_broker_bootstrap(b), err,
                          sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        const char *groups[] = {group};
        rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        assert_non_null(ev);
        assert_int_equal(rd_kafka_event_error(ev), 0);
        size_t n;
        const rd_kafka_ConsumerGroupDescription_t **gd =
                rd_kafka_DescribeConsumerGroups_result_groups(
                        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
        assert_int_equal(n, 1);
        assert_null(rd_kafka_ConsumerGroupDescription_error(gd[0]));
        size_t mc = rd_kafka_ConsumerGroupDescription_member_count(gd[0]);
        char ids[8][64];
        for (size_t i = 0; i < mc && i < 8; i++) {
                const char *id = rd_kafka_MemberDescription_group_instance_id(
                        rd_kafka_ConsumerGroupDescription_member(gd[0], i));
                snprintf(ids[i], sizeof(ids[i]), "%s", id ? id : "(none)");
        }
        qsort(ids, mc < 8 ? mc : 8, sizeof(ids[0]),
              (int (*)(const void *, const void *))strcmp);
        char *out = calloc(1, 8 * 66);
        for (size_t i = 0; i < mc && i < 8; i++) {
                strcat(out, i ? "," : "");
                strcat(out, ids[i]);
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return out;
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        return KS_ERR_NO_ERROR;
}

static void test_static_membership(void **state) {
        kst_broker_t *b = kst_broker_get("kafka", 0);
        char *topic = kst_unique_name("static-in");
        char *app_id = kst_unique_name("static-app");
        char *iid = kst_unique_name("host");
        kst_broker_create_topic(b, topic, 2, NULL);
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        const char *topics[] = {topic};
        KST_OK_E(ks_topology_add_source(t, "src", topics, 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "p", NULL, pass, NULL, NULL,
                                           (const char *[]){"src"}, 1, &e));
        ks_config_t *c = kst_config(app_id);
        kst_set(c, "bootstrap.servers", kst_broker_bootstrap(b));
        kst_set(c, "num.stream.threads", "2");
        kst_set(c, "instance.id", iid);
        ks_app_t *app = ks_app_new(t, c, &e);
        KST_OK_E(ks_app_start(app, &e));
        assert_true(ks_app_wait_state(app, KS_APP_RUNNING, 60000));
        char want[256];
        snprintf(want, sizeof(want), "%s-1,%s-2", iid, iid);
        char *got = describe(b, app_id);
        assert_string_equal(got, want);
        free(got);
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_broker_destroy(b);
        free(topic);
        free(app_id);
        free(iid);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_static_membership),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
