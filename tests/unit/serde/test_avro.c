/* Avro serde: byte-exact encoding, Confluent wire format, schema resolution,
 * malformed input rejected with messages and never a crash. */
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "kstreams/serde_avro.h"

static const char *USER_V1 =
        "{\"type\":\"record\",\"name\":\"User\",\"fields\":["
        "{\"name\":\"name\",\"type\":\"string\"}]}";
static const char *USER_V2 =
        "{\"type\":\"record\",\"name\":\"User\",\"fields\":["
        "{\"name\":\"name\",\"type\":\"string\"},"
        "{\"name\":\"age\",\"type\":\"int\",\"default\":18}]}";

static void set_user(avro_value_t *v, const char *name, int age) {
        avro_value_t f;
        assert_int_equal(avro_value_get_by_name(v, "name", &f, NULL), 0);
        assert_int_equal(avro_value_set_string(&f, name), 0);
        if (age >= 0) {
                assert_int_equal(avro_value_get_by_name(v, "age", &f, NULL), 0);
                assert_int_equal(avro_value_set_int(&f, age), 0);
        }
}

static void check_user(avro_value_t *v, const char *name, int age) {
        avro_value_t f;
        const char *s;
        size_t n;
        int32_t i;
        assert_int_equal(avro_value_get_by_name(v, "name", &f, NULL), 0);
        assert_int_equal(avro_value_get_string(&f, &s, &n), 0);
        assert_string_equal(s, name);
        assert_int_equal(avro_value_get_by_name(v, "age", &f, NULL), 0);
        assert_int_equal(avro_value_get_int(&f, &i), 0);
        assert_int_equal(i, age);
}

static void test_plain_roundtrip_bytes(void **state) {
        ks_error_t *e = NULL;
        ks_serde_t *s = ks_serde_avro_new(USER_V2, 0, 0, &e);
        assert_non_null(s);
        assert_int_equal(ks_serde_kind(s), KS_SERDE_AVRO);
        avro_value_t v;
        KST_OK(ks_serde_avro_value_new(s, &v));
        set_user(&v, "ab", 3);
        ks_buf_t *b = ks_buf_new();
        KST_OK_E(ks_serde_avro_encode(s, &v, b, &e));
        /* Avro binary: string = zigzag length 2 (0x04) + bytes; int 3 =
         * zigzag 6. */
        assert_int_equal(ks_buf_len(b), 4);
        assert_memory_equal(ks_buf_data(b),
                            "\x04"
                            "ab"
                            "\x06",
                            4);
        avro_value_t out;
        KST_OK(ks_serde_avro_value_new(s, &out));
        KST_OK_E(ks_serde_avro_decode(s, ks_buf_data(b), ks_buf_len(b), &out,
                                      &e));
        check_user(&out, "ab", 3);
        KST_OK(ks_serde_validate(s, ks_buf_data(b), ks_buf_len(b), NULL));
        avro_value_decref(&v);
        avro_value_decref(&out);
        ks_buf_destroy(b);
        ks_serde_destroy(s);
}

static void test_confluent_wire_format(void **state) {
        ks_error_t *e = NULL;
        ks_serde_t *s = ks_serde_avro_new(USER_V2, KS_AVRO_CONFLUENT, 7, &e);
        assert_non_null(s);
        avro_value_t v;
        KST_OK(ks_serde_avro_value_new(s, &v));
        set_user(&v, "ab", 3);
        ks_buf_t *b = ks_buf_new();
        KST_OK_E(ks_serde_avro_encode(s, &v, b, &e));
        assert_int_equal(ks_buf_len(b), 9);
        assert_memory_equal(ks_buf_data(b),
                            "\0\0\0\0\x07\x04"
                            "ab"
                            "\x06",
                            9);
        avro_value_t out;
        KST_OK(ks_serde_avro_value_new(s, &out));
        KST_OK_E(ks_serde_avro_decode(s, ks_buf_data(b), ks_buf_len(b), &out,
                                      &e));
        check_user(&out, "ab", 3);

        /* Bad magic byte, short header, unknown schema id. */
        KST_ASSERT_ERROR(ks_serde_avro_decode(s,
                                              "\x01\0\0\0\x07\x04"
                                              "ab\x06",
                                              9, &out, &e),
                         e, KS_ERR_SERDE, "magic byte 1");
        e = NULL;
        KST_ASSERT_ERROR(ks_serde_avro_decode(s, "\0\0\0", 3, &out, &e), e,
                         KS_ERR_SERDE, "shorter than the 5-byte");
        e = NULL;
        KST_ASSERT_ERROR(ks_serde_avro_decode(s,
                                              "\0\0\0\0\x09\x04"
                                              "ab\x06",
                                              9, &out, &e),
                         e, KS_ERR_SERDE, "schema id 9");
        avro_value_decref(&v);
        avro_value_decref(&out);
        ks_buf_destroy(b);
        ks_serde_destroy(s);
}

static const char *USER_V0 =
        "{\"type\":\"record\",\"name\":\"User\",\"fields\":["
        "{\"name\":\"name\",\"type\":\"string\"},"
        "{\"name\":\"email\",\"type\":\"string\"},"
        "{\"name\":\"age\",\"type\":\"int\"}]}";
static const char *USER_LONG_AGE =
        "{\"type\":\"record\",\"name\":\"User\",\"fields\":["
        "{\"name\":\"age\",\"type\":\"long\"},"
        "{\"name\":\"name\",\"type\":\"string\"}]}";

static void test_schema_resolution(void **state) {
        ks_error_t *e = NULL;
        /* Reader: {age: long, name} as id 2. Data written under id 1 with
         * {name, email, age: int}: email is skipped, age promoted to long,
         * fields matched by name whatever their order. */
        ks_serde_t *s =
                ks_serde_avro_new(USER_LONG_AGE, KS_AVRO_CONFLUENT, 2, &e);
        assert_non_null(s);
        KST_OK_E(ks_serde_avro_add_writer_schema(s, 1, USER_V0, &e));
        avro_value_t out;
        KST_OK(ks_serde_avro_value_new(s, &out));
        KST_OK_E(ks_serde_avro_decode(s,
                                      "\0\0\0\0\x01\x06"
                                      "bob"
                                      "\x0a"
                                      "b@x.y"
                                      "\x54",
                                      16, &out, &e));
        avro_value_t f;
        const char *str;
        size_t n;
        int64_t age;
        assert_int_equal(avro_value_get_by_name(&out, "name", &f, NULL), 0);
        assert_int_equal(avro_value_get_string(&f, &str, &n), 0);
        assert_string_equal(str, "bob");
        assert_int_equal(avro_value_get_by_name(&out, "age", &f, NULL), 0);
        assert_int_equal(avro_value_get_long(&f, &age), 0);
        assert_int_equal(age, 42); /* zigzag 0x54 = 42 */
        /* Data under the reader's own id needs no resolution. */
        KST_OK_E(ks_serde_avro_decode(s,
                                      "\0\0\0\0\x02\x54\x06"
                                      "bob",
                                      10, &out, &e));

        /* Plain mode: one writer schema for all data. */
        ks_serde_t *p = ks_serde_avro_new(USER_V1, 0, 0, &e);
        KST_OK_E(ks_serde_avro_add_writer_schema(p, 0, USER_V0, &e));
        avro_value_t pv;
        KST_OK(ks_serde_avro_value_new(p, &pv));
        KST_OK_E(ks_serde_avro_decode(p,
                                      "\x06"
                                      "eve"
                                      "\x02"
                                      "e"
                                      "\x02",
                                      7, &pv, &e));
        assert_int_equal(avro_value_get_by_name(&pv, "name", &f, NULL), 0);
        assert_int_equal(avro_value_get_string(&f, &str, &n), 0);
        assert_string_equal(str, "eve");

        /* A type change that cannot resolve: string field vs int field. */
        KST_ASSERT_ERROR(
                ks_serde_avro_add_writer_schema(
                        s, 3,
                        "{\"type\":\"record\",\"name\":\"User\",\"fields\":["
                        "{\"name\":\"name\",\"type\":\"int\"},"
                        "{\"name\":\"age\",\"type\":\"int\"}]}",
                        &e),
                e, KS_ERR_SERDE, "id 3", "cannot be resolved");
        /* avro-c does not fill reader defaults: a reader field the writer
         * lacks is refused up front, naming the field, rather than failing
         * on data later. */
        ks_serde_t *v2 = ks_serde_avro_new(USER_V2, KS_AVRO_CONFLUENT, 2, &e);
        KST_ASSERT_ERROR(ks_serde_avro_add_writer_schema(v2, 1, USER_V1, &e), e,
                         KS_ERR_SERDE, "cannot be resolved", "age");
        KST_ASSERT_ERROR(ks_serde_avro_add_writer_schema(ks_serde_string(), 1,
                                                         USER_V1, &e),
                         e, KS_ERR_INVALID_ARG, "not an Avro serde");
        avro_value_decref(&out);
        avro_value_decref(&pv);
        ks_serde_destroy(s);
        ks_serde_destroy(p);
        ks_serde_destroy(v2);
}

static void test_bad_schema(void **state) {
        ks_error_t *e = NULL;
        assert_null(ks_serde_avro_new("{\"type\":\"recrod\"}", 0, 0, &e));
        KST_ASSERT_ERROR(KS_ERR_SERDE, e, KS_ERR_SERDE, "does not parse");
        e = NULL;
        assert_null(ks_serde_avro_new("not json", 0, 0, &e));
        KST_ASSERT_ERROR(KS_ERR_SERDE, e, KS_ERR_SERDE, "schema");
        e = NULL;
        assert_null(ks_serde_avro_new(NULL, 0, 0, &e));
        KST_ASSERT_ERROR(KS_ERR_INVALID_ARG, e, KS_ERR_INVALID_ARG, "NULL");
}

static void test_malformed_data(void **state) {
        ks_error_t *e = NULL;
        ks_serde_t *s = ks_serde_avro_new(USER_V2, 0, 0, &e);
        avro_value_t out;
        KST_OK(ks_serde_avro_value_new(s, &out));
        /* Truncated string: length 2, one byte. */
        KST_ASSERT_ERROR(ks_serde_avro_decode(s,
                                              "\x04"
                                              "a",
                                              2, &out, &e),
                         e, KS_ERR_SERDE, "does not decode");
        e = NULL;
        /* Missing int. */
        KST_ASSERT_ERROR(ks_serde_validate(s,
                                           "\x04"
                                           "ab",
                                           3, &e),
                         e, KS_ERR_SERDE, "does not decode");
        e = NULL;
        /* Negative string length. */
        KST_ASSERT_ERROR(ks_serde_avro_decode(s,
                                              "\x03"
                                              "ab\x06",
                                              4, &out, &e),
                         e, KS_ERR_SERDE, "does not decode");
        e = NULL;
        /* Huge string length. */
        KST_ASSERT_ERROR(
                ks_serde_avro_decode(s, "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f",
                                     9, &out, &e),
                e, KS_ERR_SERDE, "does not decode", "past the end");
        /* An array claiming 2^62 nulls, and deep recursion, are refused
         * before anything is allocated. */
        ks_serde_t *arr = ks_serde_avro_new(
                "{\"type\":\"array\",\"items\":\"null\"}", 0, 0, &e);
        avro_value_t av;
        KST_OK(ks_serde_avro_value_new(arr, &av));
        KST_ASSERT_ERROR(ks_serde_avro_decode(arr,
                                              "\xfe\xff\xff\xff\xff\xff"
                                              "\xff\xff\x7f\x00",
                                              10, &av, &e),
                         e, KS_ERR_SERDE, "block count");
        avro_value_decref(&av);
        ks_serde_destroy(arr);
        ks_serde_t *list = ks_serde_avro_new(
                "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
                "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
                0, 0, &e);
        assert_non_null(list);
        uint8_t deep[1001];
        memset(deep, 2, 1000); /* branch 1 = another L, 1000 levels */
        deep[1000] = 0;
        avro_value_t lv;
        KST_OK(ks_serde_avro_value_new(list, &lv));
        KST_ASSERT_ERROR(
                ks_serde_avro_decode(list, deep, sizeof(deep), &lv, &e), e,
                KS_ERR_SERDE, "nesting deeper");
        KST_OK_E(ks_serde_avro_decode(list, deep + 990, 11, &lv, &e));
        avro_value_decref(&lv);
        ks_serde_destroy(list);
        /* Random bytes: an error or a value, never a crash. */
        srand(1234);
        uint8_t buf[32];
        int errors = 0;
        for (int i = 0; i < 20000; i++) {
                size_t n = (size_t)(rand() % (int)sizeof(buf));
                for (size_t j = 0; j < n; j++)
                        buf[j] = (uint8_t)rand();
                ks_err_t err = ks_serde_avro_decode(s, buf, n, &out, NULL);
                assert_true(err == KS_ERR_NO_ERROR || err == KS_ERR_SERDE);
                errors += err != 0;
        }
        assert_true(errors > 0);
        avro_value_decref(&out);
        ks_serde_destroy(s);
}

static void test_encode_wrong_schema(void **state) {
        ks_error_t *e = NULL;
        ks_serde_t *s1 = ks_serde_avro_new(USER_V1, 0, 0, &e);
        ks_serde_t *s2 = ks_serde_avro_new(USER_V2, 0, 0, &e);
        avro_value_t v;
        KST_OK(ks_serde_avro_value_new(s1, &v));
        set_user(&v, "x", -1);
        ks_buf_t *b = ks_buf_new();
        KST_ASSERT_ERROR(ks_serde_avro_encode(s2, &v, b, &e), e, KS_ERR_SERDE,
                         "does not have the serde's schema");
        assert_int_equal(ks_buf_len(b), 0);
        avro_value_decref(&v);
        ks_buf_destroy(b);
        ks_serde_destroy(s1);
        ks_serde_destroy(s2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_roundtrip_bytes),
                cmocka_unit_test(test_confluent_wire_format),
                cmocka_unit_test(test_schema_resolution),
                cmocka_unit_test(test_bad_schema),
                cmocka_unit_test(test_malformed_data),
                cmocka_unit_test(test_encode_wrong_schema),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
