/* Built-in serdes and codecs: byte-exact with Kafka's Java serializers,
 * truncated values rejected with a message, custom serdes. */
#include <math.h>
#include <string.h>

#include "ks_test.h"

static void test_int_encodings_match_java(void **state) {
        uint8_t b4[4], b8[8];
        /* IntegerSerializer(0x01020304) = 01 02 03 04; -2 = ff ff ff fe. */
        ks_int32_encode(0x01020304, b4);
        assert_memory_equal(b4, "\x01\x02\x03\x04", 4);
        ks_int32_encode(-2, b4);
        assert_memory_equal(b4, "\xff\xff\xff\xfe", 4);
        ks_int64_encode(INT64_C(0x0102030405060708), b8);
        assert_memory_equal(b8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
        ks_int64_encode(INT64_MIN, b8);
        assert_memory_equal(b8, "\x80\0\0\0\0\0\0\0", 8);
        /* DoubleSerializer(1.5) = 3f f8 00 .. 00 (IEEE-754, big-endian). */
        ks_double_encode(1.5, b8);
        assert_memory_equal(b8, "\x3f\xf8\0\0\0\0\0\0", 8);
}

static void test_int_roundtrips(void **state) {
        const int64_t vals[] = {
                0, 1, -1, 42, INT64_MAX, INT64_MIN, INT64_C(-1234567890123)};
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
                uint8_t b[8];
                int64_t out = 7;
                ks_int64_encode(vals[i], b);
                KST_OK(ks_int64_decode(b, 8, &out, NULL));
                assert_int_equal(out, vals[i]);
                int32_t v32 = (int32_t)vals[i], o32 = 0;
                ks_int32_encode(v32, b);
                KST_OK(ks_int32_decode(b, 4, &o32, NULL));
                assert_int_equal(o32, v32);
        }
        const double dv[] = {0.0, -0.0, 3.14159, -1e300, INFINITY};
        for (size_t i = 0; i < sizeof(dv) / sizeof(dv[0]); i++) {
                uint8_t b[8];
                double out = 0;
                ks_double_encode(dv[i], b);
                KST_OK(ks_double_decode(b, 8, &out, NULL));
                assert_memory_equal(&out, &dv[i], sizeof(double));
        }
}

static void test_truncated_values(void **state) {
        uint8_t b[8] = {0};
        int64_t v64;
        int32_t v32;
        double d;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_int64_decode(b, 7, &v64, &e), e, KS_ERR_SERDE,
                         "int64", "exactly 8 bytes", "got 7");
        e = NULL;
        KST_ASSERT_ERROR(ks_int64_decode(b, 9, &v64, &e), e, KS_ERR_SERDE,
                         "got 9");
        e = NULL;
        KST_ASSERT_ERROR(ks_int32_decode(b, 3, &v32, &e), e, KS_ERR_SERDE,
                         "int32", "exactly 4 bytes");
        e = NULL;
        KST_ASSERT_ERROR(ks_double_decode(b, 0, &d, &e), e, KS_ERR_SERDE,
                         "double");
        e = NULL;
        KST_ASSERT_ERROR(ks_int64_decode(NULL, 0, &v64, &e), e, KS_ERR_SERDE,
                         "int64");
}

static void test_validate(void **state) {
        uint8_t b[8] = {0};
        ks_error_t *e = NULL;
        KST_OK(ks_serde_validate(ks_serde_int64(), b, 8, NULL));
        KST_OK(ks_serde_validate(ks_serde_int32(), b, 4, NULL));
        KST_OK(ks_serde_validate(ks_serde_double(), b, 8, NULL));
        KST_OK(ks_serde_validate(ks_serde_string(), "abc", 3, NULL));
        KST_OK(ks_serde_validate(ks_serde_bytes(), "", 0, NULL));
        /* Null is valid for every serde. */
        KST_OK(ks_serde_validate(ks_serde_int64(), NULL, 0, NULL));
        KST_ASSERT_ERROR(ks_serde_validate(ks_serde_int64(), "abc", 3, &e), e,
                         KS_ERR_SERDE, "int64", "8 bytes", "got 3");
        e = NULL;
        KST_ASSERT_ERROR(ks_serde_validate(ks_serde_int32(), b, 8, &e), e,
                         KS_ERR_SERDE, "int32", "4 bytes");
        assert_string_equal(ks_serde_name(ks_serde_string()), "string");
        assert_int_equal(ks_serde_kind(ks_serde_double()), KS_SERDE_DOUBLE);
        /* Destroying a built-in is a no-op. */
        ks_serde_destroy(ks_serde_string());
        assert_string_equal(ks_serde_name(ks_serde_string()), "string");
}

static int freed;

static ks_err_t only_digits(void *opaque, const void *data, size_t size,
                            ks_error_t **errp) {
        const char *p = data;
        for (size_t i = 0; i < size; i++)
                if (p[i] < '0' || p[i] > '9')
                        return ks_serde_error_set(errp,
                                                  "byte %zu ('%c') is not a "
                                                  "digit",
                                                  i, p[i]);
        return KS_ERR_NO_ERROR;
}

static void count_free(void *opaque) {
        freed++;
}

static void test_custom(void **state) {
        ks_serde_t *s =
                ks_serde_custom_new("digits", only_digits, NULL, count_free);
        assert_non_null(s);
        assert_string_equal(ks_serde_name(s), "digits");
        assert_int_equal(ks_serde_kind(s), KS_SERDE_CUSTOM);
        KST_OK(ks_serde_validate(s, "0123", 4, NULL));
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_serde_validate(s, "12x4", 4, &e), e, KS_ERR_SERDE,
                         "byte 2 ('x')");
        freed = 0;
        ks_serde_destroy(s);
        assert_int_equal(freed, 1);
        assert_null(ks_serde_custom_new(NULL, NULL, NULL, NULL));
}

static void test_buf(void **state) {
        ks_buf_t *b = ks_buf_new();
        /* Nothing appended to a buffer that has no memory yet. */
        KST_OK(ks_buf_append(b, "", 0));
        assert_int_equal(ks_buf_len(b), 0);
        for (int i = 0; i < 1000; i++)
                KST_OK(ks_buf_append(b, "ab", 2));
        assert_int_equal(ks_buf_len(b), 2000);
        assert_memory_equal((const char *)ks_buf_data(b) + 1998, "ab", 2);
        ks_buf_reset(b);
        assert_int_equal(ks_buf_len(b), 0);
        ks_buf_destroy(b);
        ks_buf_destroy(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_int_encodings_match_java),
                cmocka_unit_test(test_int_roundtrips),
                cmocka_unit_test(test_truncated_values),
                cmocka_unit_test(test_validate),
                cmocka_unit_test(test_custom),
                cmocka_unit_test(test_buf),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
