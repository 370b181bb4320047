/* A foreign-key join on a broker (KS_TEST_BROKER: mock or kafka): orders
 * (3 partitions, order -> "<product>:<qty>") left-joined with products
 * (2 partitions: the tables need not be co-partitioned) through the
 * subscription and response topics. Orders come and change product,
 * products change and go; the latest joined value of every order must end
 * equal to the join computed here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_broker.h"
#include "ks_test.h"

#define ORDERS   40
#define PRODUCTS 6

static ks_err_t product_of(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        const char *c = memchr(v, ':', n);
        return c ? ks_emit_key(out, v, (size_t)(c - v))
                 : ks_emit_key(out, NULL, 0);
}

static ks_err_t with_name(void *o, const void *l, size_t ll, const void *r,
                          size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, l, ll);
        if (!err)
                err = ks_buf_append(out, "=", 1);
        return err ? err
               : r ? ks_buf_append(out, r, rl)
                   : ks_buf_append(out, "?", 1);
}

static void send_to(rd_kafka_t *p, const char *topic, const char *k,
                    const char *v) {
        size_t vl = v ? strlen(v) : 0;
        assert_int_equal(
                rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY(k, strlen(k)),
                                  RD_KAFKA_V_VALUE((void *)v, vl),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_END),
                0);
}

typedef struct {
        char want[ORDERS][64];
        char got[ORDERS][64];
        int64_t records;
} view_t;

static int all_right(const view_t *v) {
        for (int i = 0; i < ORDERS; i++)
                if (strcmp(v->want[i], v->got[i]))
                        return 0;
        return 1;
}

static void test_fk_join_runtime(void **state) {
        (void)state;
        kst_broker_t *br = kst_broker_get(NULL, 1);
        char *app_id = kst_unique_name("fk-app");
        char *orders = kst_unique_name("fk-orders");
        char *products = kst_unique_name("fk-products");
        char *out = kst_unique_name("fk-out");
        kst_broker_create_topic(br, orders, 3, NULL);
        kst_broker_create_topic(br, products, 2, NULL);
        kst_broker_create_topic(br, out, 3, NULL);

        ks_builder_t *b = ks_builder_new();
        ks_table_t *ot = ks_builder_table(b, orders, NULL, NULL, "orders");
        ks_table_t *pt = ks_builder_table(b, products, NULL, NULL, "products");
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_table_fk_join(ot, pt, product_of,
                                                    KS_JOIN_LEFT, with_name,
                                                    NULL, "order-products"),
                                   NULL),
                out, NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_builder_destroy(b);
        if (kst_broker_is_mock(br)) {
                /* No CreateTopics there: the products side has 2
                 * partitions, the orders side 3. */
                for (size_t i = 0; i < ks_topology_internal_topic_count(t);
                     i++) {
                        char name[512];
                        KST_OK(ks_topology_internal_topic(t, app_id, i, name,
                                                          sizeof(name), NULL));
                        size_t n = strlen(name);
                        const char *two_of[] = {"-subscription-registration",
                                                "-subscriptions-changelog",
                                                "-products-changelog"};
                        int two = 0;
                        for (int k = 0; k < 3; k++)
                                two |= n > strlen(two_of[k]) &&
                                       !strcmp(name + n - strlen(two_of[k]),
                                               two_of[k]) &&
                                       !strstr(name, "-order-products-"
                                                     "changelog");
                        kst_broker_create_topic(br, name, two ? 2 : 3, NULL);
                }
        }
        ks_config_t *c = kst_config(app_id);
        kst_set(c, "bootstrap.servers", kst_broker_bootstrap(br));
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", kst_tmpdir(), app_id);
        kst_set(c, "state.dir", dir);
        kst_set(c, "commit.interval.ms", "100");
        ks_app_t *app = ks_app_new(t, c, &e);
        if (!app)
                fail_msg("%s", ks_error_message(e));
        ks_topology_destroy(t);
        ks_config_destroy(c);
        KST_OK_E(ks_app_start(app, &e));

        char err[256];
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers", kst_broker_bootstrap(br),
                          err, sizeof(err));
        /* Keys partitioned as the Java client and the library's sinks do
         * (the response topic must match the orders topic). */
        rd_kafka_conf_set(pc, "partitioner", "murmur2_random", err,
                          sizeof(err));
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
        assert_non_null(p);
        char pname[PRODUCTS][16];
        int pexists[PRODUCTS] = {0};
        int oprod[ORDERS];
        /* Products 0..4 exist (5 never does); orders spread over them. */
        for (int i = 0; i < PRODUCTS - 1; i++) {
                char k[8];
                snprintf(k, sizeof(k), "p%d", i);
                snprintf(pname[i], sizeof(pname[i]), "name%d", i);
                pexists[i] = 1;
                send_to(p, products, k, pname[i]);
        }
        for (int round = 0; round < 2; round++)
                for (int o = 0; o < ORDERS; o++) {
                        char k[8], v[16];
                        snprintf(k, sizeof(k), "o%d", o);
                        oprod[o] = (o + round * 3) % PRODUCTS;
                        snprintf(v, sizeof(v), "p%d:%d", oprod[o], round);
                        send_to(p, orders, k, v);
                }
        /* Product 1 renamed, product 2 removed. */
        snprintf(pname[1], sizeof(pname[1]), "renamed1");
        send_to(p, products, "p1", pname[1]);
        pexists[2] = 0;
        send_to(p, products, "p2", NULL);
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);

        view_t v;
        memset(&v, 0, sizeof(v));
        for (int o = 0; o < ORDERS; o++) {
                int pr = oprod[o];
                snprintf(v.want[o], sizeof(v.want[o]), "p%d:1=%s", pr,
                         pexists[pr] ? pname[pr] : "?");
        }
        rd_kafka_conf_t *cc = rd_kafka_conf_new();
        rd_kafka_conf_set(cc, "bootstrap.servers", kst_broker_bootstrap(br),
                          err, sizeof(err));
        rd_kafka_conf_set(cc, "group.id", "unused", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(3);
        for (int q = 0; q < 3; q++)
                rd_kafka_topic_partition_list_add(l, out, q)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(rk, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t deadline = kst_now_ms() + 90000;
        while (!all_right(&v) && kst_now_ms() < deadline) {
                if (ks_app_state(app) == KS_APP_ERROR)
                        fail_msg("app failed: %s",
                                 ks_error_message(ks_app_error(app)));
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                if (!m->err && m->key_len > 1) {
                        int o = atoi((const char *)m->key + 1);
                        if (o >= 0 && o < ORDERS)
                                snprintf(v.got[o], sizeof(v.got[o]), "%.*s",
                                         (int)m->len,
                                         m->payload ? (char *)m->payload : "");
                        v.records++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(rk);
        for (int o = 0; o < ORDERS; o++)
                if (strcmp(v.want[o], v.got[o]))
                        fail_msg("order o%d: joined \"%s\", want \"%s\" (%lld "
                                 "records read)",
                                 o, v.got[o], v.want[o], (long long)v.records);
        print_message("%d orders joined right in %lld output records\n", ORDERS,
                      (long long)v.records);
        KST_OK(ks_app_close(app, 30000));
        ks_app_destroy(app);
        kst_broker_destroy(br);
        free(app_id);
        free(orders);
        free(products);
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fk_join_runtime),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
