/* Configuration: defaults, validation with messages naming the key,
 * pass-through keys checked by librdkafka. */
#include <stdio.h>
#include <string.h>

#include "ks_test.h"
#include "common/config_int.h"

static void test_defaults(void **state) {
        ks_config_t *c = ks_config_new();
        assert_string_equal(ks_config_get(c, "num.stream.threads"), "1");
        assert_string_equal(ks_config_get(c, "commit.interval.ms"), "30000");
        assert_string_equal(ks_config_get(c, "processing.guarantee"),
                            "at_least_once");
        assert_string_equal(ks_config_get(c, "statestore.cache.max.bytes"),
                            "10485760");
        assert_string_equal(
                ks_config_get(c, "default.deserialization.exception.handler"),
                "log_and_fail");
        assert_string_equal(ks_config_get(c, "state.dir"),
                            "/tmp/kafka-streams");
        assert_string_equal(ks_config_get(c, "application.id"), "");
        assert_null(ks_config_get(c, "no.such.key"));
        assert_null(ks_config_get(c, "consumer.fetch.wait.max.ms"));
        assert_int_equal(ks__config_commit_interval_ms(c), 30000);
        ks_config_destroy(c);
}

static void test_set_and_get(void **state) {
        ks_config_t *c = ks_config_new();
        kst_set(c, "application.id", "my-app_1.v2");
        kst_set(c, "num.stream.threads", "4");
        kst_set(c, "processing.guarantee", "exactly_once_v2");
        assert_string_equal(ks_config_get(c, "application.id"), "my-app_1.v2");
        assert_int_equal(ks__config_int(c, "num.stream.threads"), 4);
        assert_int_equal(ks__config_enum(c, "processing.guarantee"),
                         KS_GUARANTEE_EXACTLY_ONCE_V2);
        /* Under exactly-once the commit interval defaults to 100 ms ... */
        assert_int_equal(ks__config_commit_interval_ms(c), 100);
        /* ... unless it was set. */
        kst_set(c, "commit.interval.ms", "250");
        assert_int_equal(ks__config_commit_interval_ms(c), 250);
        /* The deprecated cache key stands in for the new one. */
        kst_set(c, "cache.max.bytes.buffering", "0");
        assert_string_equal(ks_config_get(c, "statestore.cache.max.bytes"),
                            "0");
        kst_set(c, "statestore.cache.max.bytes", "1024");
        assert_string_equal(ks_config_get(c, "statestore.cache.max.bytes"),
                            "1024");
        ks_config_t *d = ks_config_dup(c);
        ks_config_destroy(c);
        assert_string_equal(ks_config_get(d, "num.stream.threads"), "4");
        assert_string_equal(ks_config_get(d, "application.id"), "my-app_1.v2");
        ks_config_destroy(d);
}

static void test_unknown_key(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "num.stream.thread", "2", &e), e,
                         KS_ERR_UNKNOWN_CONFIG, "\"num.stream.thread\"");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "fetch.wait.max.ms", "10", &e), e,
                         KS_ERR_UNKNOWN_CONFIG, "fetch.wait.max.ms",
                         "consumer.");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "consumer.no.such.property", "1", &e),
                         e, KS_ERR_UNKNOWN_CONFIG, "consumer.no.such.property",
                         "librdkafka");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "consumer.", "1", &e), e,
                         KS_ERR_UNKNOWN_CONFIG, "consumer.");
        ks_config_destroy(c);
}

static void test_bad_values(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "num.stream.threads", "two", &e), e,
                         KS_ERR_INVALID_CONFIG, "num.stream.threads",
                         "not an integer");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "num.stream.threads", "0", &e), e,
                         KS_ERR_INVALID_CONFIG, "num.stream.threads",
                         "out of range");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "commit.interval.ms", "-5", &e), e,
                         KS_ERR_INVALID_CONFIG, "commit.interval.ms");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "commit.interval.ms",
                                       "99999999999999999999", &e),
                         e, KS_ERR_INVALID_CONFIG, "commit.interval.ms");
        e = NULL;
        KST_ASSERT_ERROR(
                ks_config_set(c, "processing.guarantee", "exactly_once", &e), e,
                KS_ERR_INVALID_CONFIG, "processing.guarantee",
                "at_least_once, exactly_once_v2");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "application.id", "my app", &e), e,
                         KS_ERR_INVALID_CONFIG, "application.id", "my app");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "application.id", "", &e), e,
                         KS_ERR_INVALID_CONFIG, "application.id");
        e = NULL;
        KST_ASSERT_ERROR(
                ks_config_set(c, "consumer.fetch.wait.max.ms", "soon", &e), e,
                KS_ERR_INVALID_CONFIG, "consumer.fetch.wait.max.ms");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "consumer.group.id", "x", &e), e,
                         KS_ERR_INVALID_CONFIG, "consumer.group.id",
                         "set by kstreams");
        e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, NULL, "x", &e), e, KS_ERR_INVALID_ARG,
                         "NULL key");
        /* Failed sets leave the old value. */
        assert_string_equal(ks_config_get(c, "num.stream.threads"), "1");
        assert_string_equal(ks_config_get(c, "application.id"), "");
        ks_config_destroy(c);
}

typedef struct {
        int n;
        char seen[4][64];
} seen_t;

static void collect(void *opaque, const char *key, const char *value) {
        seen_t *acc = opaque;
        snprintf(acc->seen[acc->n++], sizeof(acc->seen[0]), "%s=%s", key,
                 value);
}

static void test_passthrough(void **state) {
        ks_config_t *c = ks_config_new();
        kst_set(c, "consumer.fetch.wait.max.ms", "10");
        kst_set(c, "producer.linger.ms", "5");
        kst_set(c, "restore.consumer.fetch.wait.max.ms", "20");
        kst_set(c, "producer.linger.ms", "7"); /* replaces */
        assert_string_equal(ks_config_get(c, "producer.linger.ms"), "7");
        seen_t acc = {0};
        ks__config_foreach_passthrough(c, "consumer.", collect, &acc);
        assert_int_equal(acc.n, 1);
        assert_string_equal(acc.seen[0], "fetch.wait.max.ms=10");
        acc.n = 0;
        ks__config_foreach_passthrough(c, "producer.", collect, &acc);
        assert_int_equal(acc.n, 1);
        assert_string_equal(acc.seen[0], "linger.ms=7");
        ks_config_destroy(c);
}

/* Kafka Streams keys whose feature this version lacks: refused with the
 * reason, the default accepted. */
static void test_refused_features(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_config_set(c, "num.standby.replicas", "1", &e), e,
                         KS_ERR_INVALID_CONFIG, "num.standby.replicas",
                         "standby replicas do not exist");
        KST_ASSERT_ERROR(ks_config_set(c, "num.standby.replicas", "2", &e), e,
                         KS_ERR_INVALID_CONFIG, "num.standby.replicas",
                         "only 0 is accepted");
        kst_set(c, "num.standby.replicas", "0");
        assert_string_equal(ks_config_get(c, "num.standby.replicas"), "0");
        ks_config_destroy(c);
}

/* application.server is host:port; anything else is refused naming the
 * key and the expected form. */
static void test_application_server(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        static const char *const good[] = {"host:8080", "10.0.0.1:1",
                                           "my-host.example_1:65535",
                                           "[::1]:80", ""};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                kst_set(c, "application.server", good[i]);
                assert_string_equal(ks_config_get(c, "application.server"),
                                    good[i]);
        }
        static const char *const bad[] = {"host",     "host:",      ":80",
                                          "host:0",   "host:65536", "host:8o",
                                          "ho st:80", "a@b:80",     "[::1:80",
                                          "[zz]:80",  "host:123456"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                KST_ASSERT_ERROR(
                        ks_config_set(c, "application.server", bad[i], &e), e,
                        KS_ERR_INVALID_CONFIG, "application.server",
                        "host:port");
        char longer[300];
        memset(longer, 'h', sizeof(longer));
        snprintf(longer + 260, 40, ":80");
        KST_ASSERT_ERROR(ks_config_set(c, "application.server", longer, &e), e,
                         KS_ERR_INVALID_CONFIG, "application.server",
                         "at most 255");
        assert_string_equal(ks_config_get(c, "application.server"), "");
        ks_config_destroy(c);
}

/* librdkafka properties the library sets itself are refused under every
 * client prefix, each with the reason it would break the library. */
static void test_controlled_keys(void **state) {
        static const char *const prefixes[] = {
                "consumer.",        "main.consumer.", "restore.consumer.",
                "global.consumer.", "producer.",      "admin.",
                "client."};
        static const struct {
                const char *key, *value, *why;
        } keys[] = {
                {"enable.idempotence", "false", "send order"},
                {"partitioner", "random", "murmur2"},
                {"delivery.report.only.error", "true", "delivery reports"},
                {"group.instance.id", "static-1", "instance.id"},
                {"auto.offset.reset", "latest", "from its start"},
                {"enable.partition.eof", "false", "end-of-partition"},
                {"group.id", "other", "application.id"},
                {"enable.auto.commit", "true", "committed with the state"},
                {"isolation.level", "read_committed", "processing.guarantee"},
                {"bootstrap.servers", "elsewhere:9092", "bootstrap.servers"},
        };
        ks_config_t *c = ks_config_new();
        for (size_t p = 0; p < sizeof(prefixes) / sizeof(*prefixes); p++)
                for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
                        char full[128];
                        snprintf(full, sizeof(full), "%s%s", prefixes[p],
                                 keys[k].key);
                        ks_error_t *e = NULL;
                        KST_ASSERT_ERROR(
                                ks_config_set(c, full, keys[k].value, &e), e,
                                KS_ERR_INVALID_CONFIG, full,
                                "set by kstreams itself", keys[k].why);
                        assert_null(ks_config_get(c, full));
                }
        ks_config_destroy(c);
}

/* "client." reaches every client: librdkafka validates its values, with
 * its own message. */
static void test_client_prefix(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        kst_set(c, "client.security.protocol", "plaintext");
        kst_set(c, "client.socket.timeout.ms", "12345");
        assert_string_equal(ks_config_get(c, "client.security.protocol"),
                            "plaintext");
        assert_string_equal(ks_config_get(c, "client.socket.timeout.ms"),
                            "12345");
        KST_ASSERT_ERROR(
                ks_config_set(c, "client.socket.timeout.ms", "soon", &e), e,
                KS_ERR_INVALID_CONFIG, "client.socket.timeout.ms",
                "Invalid value");
        KST_ASSERT_ERROR(ks_config_set(c, "client.security.protocol",
                                       "carrier-pigeon", &e),
                         e, KS_ERR_INVALID_CONFIG, "client.security.protocol",
                         "carrier-pigeon");
        KST_ASSERT_ERROR(ks_config_set(c, "client.no.such.property", "1", &e),
                         e, KS_ERR_UNKNOWN_CONFIG, "client.no.such.property",
                         "not a librdkafka configuration property");
        /* Failed sets leave the earlier values. */
        assert_string_equal(ks_config_get(c, "client.socket.timeout.ms"),
                            "12345");
        assert_string_equal(ks_config_get(c, "client.security.protocol"),
                            "plaintext");
        seen_t acc = {0};
        ks__config_foreach_passthrough(c, "client.", collect, &acc);
        assert_int_equal(acc.n, 2);
        assert_string_equal(acc.seen[0], "security.protocol=plaintext");
        assert_string_equal(acc.seen[1], "socket.timeout.ms=12345");
        ks_config_destroy(c);
}

static void test_timeouts(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        assert_string_equal(ks_config_get(c, "task.timeout.ms"), "300000");
        kst_set(c, "task.timeout.ms", "2000");
        assert_int_equal(ks__config_int(c, "task.timeout.ms"), 2000);
        kst_set(c, "task.timeout.ms", "0");
        assert_int_equal(ks__config_int(c, "task.timeout.ms"), 0);
        KST_ASSERT_ERROR(ks_config_set(c, "task.timeout.ms", "-1", &e), e,
                         KS_ERR_INVALID_CONFIG, "task.timeout.ms",
                         "out of range");
        assert_string_equal(ks_config_get(c, "state.cleanup.delay.ms"),
                            "600000");
        kst_set(c, "state.cleanup.delay.ms", "1500");
        assert_int_equal(ks__config_int(c, "state.cleanup.delay.ms"), 1500);
        KST_ASSERT_ERROR(
                ks_config_set(c, "state.cleanup.delay.ms", "later", &e), e,
                KS_ERR_INVALID_CONFIG, "state.cleanup.delay.ms",
                "not an integer");
        ks_config_destroy(c);
}

static void test_windowstore_changelog_retention(void **state) {
        ks_config_t *c = ks_config_new();
        ks_error_t *e = NULL;
        const char *key = "windowstore.changelog.additional.retention.ms";
        assert_string_equal(ks_config_get(c, key), "86400000");
        assert_int_equal(ks__config_int(c, key), 86400000);
        kst_set(c, key, "0");
        assert_int_equal(ks__config_int(c, key), 0);
        kst_set(c, key, "3600000");
        assert_int_equal(ks__config_int(c, key), 3600000);
        KST_ASSERT_ERROR(ks_config_set(c, key, "-1", &e), e,
                         KS_ERR_INVALID_CONFIG, key, "out of range");
        ks_config_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_set_and_get),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_passthrough),
                cmocka_unit_test(test_refused_features),
                cmocka_unit_test(test_application_server),
                cmocka_unit_test(test_controlled_keys),
                cmocka_unit_test(test_client_prefix),
                cmocka_unit_test(test_windowstore_changelog_retention),
                cmocka_unit_test(test_timeouts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
