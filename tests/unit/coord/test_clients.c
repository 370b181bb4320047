/* The runtime's client factory: which pass-through properties reach which
 * client. "client." reaches every client, the admin client included; each
 * kind's own prefixes win over it ("consumer." < "main.consumer." etc.);
 * a prefix of another kind never leaks in; the library's fixed settings
 * win over everything, and the user's properties over the kind's
 * defaults. Checked on rd_kafka_conf_t objects and on real clients (no
 * broker needed: nothing is sent). */
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "ks_test.h"

#include "coord/clients_int.h"

static ks_config_t *config(void) {
        ks_config_t *c = ks_config_new();
        assert_non_null(c);
        kst_set(c, "application.id", "clients-test");
        kst_set(c, "bootstrap.servers", "127.0.0.1:1");
        kst_set(c, "client.log_level", "0");
        kst_set(c, "client.socket.timeout.ms", "12345");
        kst_set(c, "client.metadata.max.age.ms", "55555");
        kst_set(c, "producer.socket.timeout.ms", "23456");
        kst_set(c, "consumer.fetch.wait.max.ms", "11");
        kst_set(c, "main.consumer.fetch.wait.max.ms", "22");
        kst_set(c, "restore.consumer.fetch.wait.max.ms", "33");
        kst_set(c, "global.consumer.fetch.wait.max.ms", "66");
        kst_set(c, "admin.metadata.max.age.ms", "44444");
        return c;
}

static void expect(const rd_kafka_conf_t *rc, const char *key, const char *want,
                   const char *kind) {
        char v[512];
        size_t n = sizeof(v);
        if (rd_kafka_conf_get(rc, key, v, &n) != RD_KAFKA_CONF_OK)
                fail_msg("%s: %s is not set", kind, key);
        if (strcmp(v, want))
                fail_msg("%s: %s is %s, not %s", kind, key, v, want);
}

typedef struct {
        ks__client_kind_t kind;
        const char *name;
        const char *socket_timeout, *fetch_wait, *metadata_age;
} kind_t;

/* What each kind gets from config(); librdkafka's default where nothing
 * reaches it (fetch.wait.max.ms 500). */
static const kind_t kinds[] = {
        {KS_CLIENT_MAIN_CONSUMER, "main consumer", "12345", "22", "55555"},
        {KS_CLIENT_RESTORE_CONSUMER, "restore consumer", "12345", "33",
         "55555"},
        {KS_CLIENT_GLOBAL_CONSUMER, "global consumer", "12345", "66", "55555"},
        {KS_CLIENT_PRODUCER, "producer", "23456", "500", "55555"},
        {KS_CLIENT_ADMIN, "admin client", "12345", "500", "44444"},
};

static void test_conf_apply(void **state) {
        ks_config_t *c = config();
        for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
                ks_error_t *e = NULL;
                rd_kafka_conf_t *rc = rd_kafka_conf_new();
                KST_OK_E(ks__client_conf_apply(c, kinds[i].kind, rc, &e));
                expect(rc, "socket.timeout.ms", kinds[i].socket_timeout,
                       kinds[i].name);
                expect(rc, "fetch.wait.max.ms", kinds[i].fetch_wait,
                       kinds[i].name);
                expect(rc, "metadata.max.age.ms", kinds[i].metadata_age,
                       kinds[i].name);
                expect(rc, "log_level", "0", kinds[i].name);
                rd_kafka_conf_destroy(rc);
        }
        ks_config_destroy(c);
}

/* Real clients of every kind: the user's properties, over the kind's
 * defaults, under the fixed settings, and the spec's client.id. */
static void test_clients(void **state) {
        ks_config_t *c = config();
        kst_set(c, "client.queued.min.messages", "4321");
        for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
                const char *defaults[] = {"queued.min.messages", "1000000",
                                          "statistics.interval.ms", "7000",
                                          NULL};
                /* A fixed setting wins over the user's (here the user's
                 * socket.timeout.ms of every kind). */
                const char *fixed[] = {"socket.timeout.ms", "6543", NULL};
                char cid[64];
                snprintf(cid, sizeof(cid), "clients-test-%zu", i);
                ks__client_spec_t spec = {kinds[i].kind, cid,  defaults,
                                          fixed,         NULL, NULL};
                ks_error_t *e = NULL;
                rd_kafka_t *rk = ks__client_new(c, &spec, &e);
                if (!rk)
                        fail_msg("%s: %s", kinds[i].name, ks_error_message(e));
                const rd_kafka_conf_t *rc = rd_kafka_conf(rk);
                expect(rc, "client.id", cid, kinds[i].name);
                expect(rc, "bootstrap.servers", "127.0.0.1:1", kinds[i].name);
                expect(rc, "socket.timeout.ms", "6543", kinds[i].name);
                expect(rc, "queued.min.messages", "4321", kinds[i].name);
                expect(rc, "statistics.interval.ms", "7000", kinds[i].name);
                expect(rc, "metadata.max.age.ms", kinds[i].metadata_age,
                       kinds[i].name);
                rd_kafka_destroy(rk);
        }
        ks_config_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conf_apply),
                cmocka_unit_test(test_clients),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
