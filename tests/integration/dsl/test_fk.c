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

#include "kst_app.h"

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

/* The latest joined value of each order. */
static void take_joined(void *opaque, const rd_kafka_message_t *m,
                        const kst_map_t *map) {
        view_t *v = opaque;
        if (m->key_len > 1) {
                int o = atoi((const char *)m->key + 1);
                if (o >= 0 && o < ORDERS)
                        snprintf(v->got[o], sizeof(v->got[o]), "%.*s",
                                 (int)m->len,
                                 m->payload ? (char *)m->payload : "");
                v->records++;
        }
}

static int joined_right(void *opaque, const kst_map_t *m) {
        return all_right(opaque);
}

/* The mock has no CreateTopics: the internal topics of the products side
 * have 2 partitions, those of the orders side 3. */
static int fk_partitions(void *opaque, const char *name, const char *src) {
        /* Duplicate marks: as the sub-topology's sources (the products
         * topic, @p opaque, has two partitions). */
        if (strstr(name, "KSTREAM-ORIGIN-MARKS") && src)
                return !strcmp(src, opaque) ? 2
                                            : fk_partitions(opaque, src, "");
        size_t n = strlen(name);
        const char *two_of[] = {"-subscription-registration",
                                "-subscriptions-changelog",
                                "-products-changelog"};
        int two = 0;
        for (int k = 0; k < 3; k++)
                two |= n > strlen(two_of[k]) &&
                       !strcmp(name + n - strlen(two_of[k]), two_of[k]) &&
                       !strstr(name, "-order-products-changelog");
        return two ? 2 : 3;
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
        if (kst_broker_is_mock(br))
                kst_create_internal_topics(br, t, app_id, 3, fk_partitions,
                                           products);
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", kst_tmpdir(), app_id);
        ks_config_t *c = kst_app_config(
                br, app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);

        /* Keys partitioned as the Java client and the library's sinks do
         * (the response topic must match the orders topic). */
        rd_kafka_t *p = kst_broker_client(
                br, RD_KAFKA_PRODUCER,
                (const char *const[]){"partitioner", "murmur2_random", NULL});
        char pname[PRODUCTS][16];
        int pexists[PRODUCTS] = {0};
        int oprod[ORDERS];
        /* Products 0..4 exist (5 never does); orders spread over them. */
        for (int i = 0; i < PRODUCTS - 1; i++) {
                char k[8];
                snprintf(k, sizeof(k), "p%d", i);
                snprintf(pname[i], sizeof(pname[i]), "name%d", i);
                pexists[i] = 1;
                kst_produce_str(p, products, k, pname[i]);
        }
        for (int round = 0; round < 2; round++)
                for (int o = 0; o < ORDERS; o++) {
                        char k[8], v[16];
                        snprintf(k, sizeof(k), "o%d", o);
                        oprod[o] = (o + round * 3) % PRODUCTS;
                        snprintf(v, sizeof(v), "p%d:%d", oprod[o], round);
                        kst_produce_str(p, orders, k, v);
                }
        /* Product 1 renamed, product 2 removed. */
        snprintf(pname[1], sizeof(pname[1]), "renamed1");
        kst_produce_str(p, products, "p1", pname[1]);
        pexists[2] = 0;
        kst_produce_str(p, products, "p2", NULL);
        kst_flush(p);
        rd_kafka_destroy(p);

        view_t v;
        memset(&v, 0, sizeof(v));
        for (int o = 0; o < ORDERS; o++) {
                int pr = oprod[o];
                snprintf(v.want[o], sizeof(v.want[o]), "p%d:1=%s", pr,
                         pexists[pr] ? pname[pr] : "?");
        }
        kst_reader_t *r = kst_reader_new(br, out, 3, 0);
        kst_reader_on_record(r, take_joined, &v);
        kst_read_until(r, app, 90000, joined_right, &v);
        kst_reader_destroy(r);
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
