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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_set_and_get),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_passthrough),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
