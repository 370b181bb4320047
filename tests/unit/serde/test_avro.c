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
        /* A reader field the writer lacks takes its default (18). */
        ks_serde_t *v2 = ks_serde_avro_new(USER_V2, KS_AVRO_CONFLUENT, 2, &e);
        KST_OK_E(ks_serde_avro_add_writer_schema(v2, 1, USER_V1, &e));
        avro_value_t dv;
        KST_OK(ks_serde_avro_value_new(v2, &dv));
        KST_OK_E(ks_serde_avro_decode(v2,
                                      "\0\0\0\0\x01\x06"
                                      "amy",
                                      9, &dv, &e));
        check_user(&dv, "amy", 18);
        avro_value_decref(&dv);
        KST_ASSERT_ERROR(ks_serde_avro_add_writer_schema(ks_serde_string(), 1,
                                                         USER_V1, &e),
                         e, KS_ERR_INVALID_ARG, "not an Avro serde");
        avro_value_decref(&out);
        avro_value_decref(&pv);
        ks_serde_destroy(s);
        ks_serde_destroy(p);
        ks_serde_destroy(v2);
}

/* Writer v1 of an evolving schema, and the reader v2 that adds a field of
 * every kind with a default, renames nothing, and widens types. */
static const char *EVOLVE_V1 =
        "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\","
        "\"fields\":["
        "{\"name\":\"id\",\"type\":\"int\"},"
        "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","
        "\"symbols\":[\"NEW\",\"PAID\",\"LOST\"]}},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}"
        ","
        "{\"name\":\"gone\",\"type\":\"string\"}]}";
static const char *EVOLVE_V2 =
        "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\","
        "\"fields\":["
        "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"id\",\"type\":\"long\"},"
        "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"Status\","
        "\"symbols\":[\"NEW\",\"PAID\",\"UNKNOWN\"],\"default\":\"UNKNOWN\"}},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"bytes\"}},"
        "{\"name\":\"qty\",\"type\":\"int\",\"default\":-7},"
        "{\"name\":\"price\",\"type\":\"double\",\"default\":2.5e1},"
        "{\"name\":\"ok\",\"type\":\"boolean\",\"default\":true},"
        "{\"name\":\"who\",\"type\":\"string\",\"default\":\"caf\\u00e9 "
        "\\\"x\\\"\"},"
        "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\\u0001\\u00ff\"},"
        "{\"name\":\"sig\",\"type\":{\"type\":\"fixed\",\"name\":\"Sig\","
        "\"size\":2},\"default\":\"ab\"},"
        "{\"name\":\"sig2\",\"type\":\"Sig\",\"default\":\"cd\"},"
        "{\"name\":\"dims\",\"type\":{\"type\":\"map\",\"values\":\"long\"},"
        "\"default\":{\"w\":3,\"h\":4}},"
        "{\"name\":\"ship\",\"type\":{\"type\":\"record\",\"name\":\"Ship\","
        "\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"
        "{\"name\":\"days\",\"type\":\"int\",\"default\":2}]},"
        "\"default\":{\"city\":\"Oslo\"}},"
        "{\"name\":\"hist\",\"type\":{\"type\":\"array\",\"items\":\"Status\"},"
        "\"default\":[\"PAID\",\"NEW\"]}]}";

static void field(avro_value_t *v, const char *name, avro_value_t *f) {
        assert_int_equal(avro_value_get_by_name(v, name, f, NULL), 0);
}

static void expect_bytes(avro_value_t *f, const void *want, size_t n) {
        const void *b;
        size_t bn;
        if (avro_value_get_type(f) == AVRO_FIXED)
                assert_int_equal(avro_value_get_fixed(f, &b, &bn), 0);
        else
                assert_int_equal(avro_value_get_bytes(f, &b, &bn), 0);
        assert_int_equal(bn, n);
        assert_memory_equal(b, want, n);
}

static void test_reader_defaults(void **state) {
        ks_error_t *e = NULL;
        /* Encode with the writer schema through its own serde. */
        ks_serde_t *w = ks_serde_avro_new(EVOLVE_V1, 0, 0, &e);
        assert_non_null(w);
        avro_value_t in, f, el;
        KST_OK(ks_serde_avro_value_new(w, &in));
        field(&in, "id", &f);
        assert_int_equal(avro_value_set_int(&f, 77), 0);
        field(&in, "status", &f);
        assert_int_equal(avro_value_set_enum(&f, 1), 0); /* PAID */
        field(&in, "tags", &f);
        assert_int_equal(avro_value_append(&f, &el, NULL), 0);
        assert_int_equal(avro_value_set_string(&el, "red"), 0);
        assert_int_equal(avro_value_append(&f, &el, NULL), 0);
        assert_int_equal(avro_value_set_string(&el, ""), 0);
        field(&in, "gone", &f);
        assert_int_equal(avro_value_set_string(&f, "dropped"), 0);
        ks_buf_t *b = ks_buf_new();
        KST_OK_E(ks_serde_avro_encode(w, &in, b, &e));

        ks_serde_t *r = ks_serde_avro_new(EVOLVE_V2, 0, 0, &e);
        assert_non_null(r);
        KST_OK_E(ks_serde_avro_add_writer_schema(r, 0, EVOLVE_V1, &e));
        avro_value_t out;
        KST_OK(ks_serde_avro_value_new(r, &out));
        KST_OK_E(ks_serde_avro_decode(r, ks_buf_data(b), ks_buf_len(b), &out,
                                      &e));
        int32_t i32;
        int64_t i64;
        double d;
        int bo, disc;
        const char *str;
        size_t n;
        field(&out, "note", &f);
        assert_int_equal(avro_value_get_discriminant(&f, &disc), 0);
        assert_int_equal(disc, 0); /* null branch */
        field(&out, "id", &f);
        assert_int_equal(avro_value_get_long(&f, &i64), 0);
        assert_int_equal(i64, 77);
        field(&out, "status", &f);
        assert_int_equal(avro_value_get_enum(&f, &i32), 0);
        assert_int_equal(i32, 1); /* PAID by name */
        field(&out, "tags", &f);
        assert_int_equal(avro_value_get_size(&f, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(avro_value_get_by_index(&f, 0, &el, NULL), 0);
        expect_bytes(&el, "red", 3); /* string promoted to bytes */
        assert_int_equal(avro_value_get_by_index(&f, 1, &el, NULL), 0);
        expect_bytes(&el, "", 0);
        field(&out, "qty", &f);
        assert_int_equal(avro_value_get_int(&f, &i32), 0);
        assert_int_equal(i32, -7);
        field(&out, "price", &f);
        assert_int_equal(avro_value_get_double(&f, &d), 0);
        assert_true(d == 25.0);
        field(&out, "ok", &f);
        assert_int_equal(avro_value_get_boolean(&f, &bo), 0);
        assert_int_equal(bo, 1);
        field(&out, "who", &f);
        assert_int_equal(avro_value_get_string(&f, &str, &n), 0);
        assert_string_equal(str, "caf\xc3\xa9 \"x\"");
        field(&out, "raw", &f);
        expect_bytes(&f, "\x01\xff", 2); /* code points 0..255 */
        field(&out, "sig", &f);
        expect_bytes(&f, "ab", 2);
        field(&out, "sig2", &f);
        expect_bytes(&f, "cd", 2);
        field(&out, "dims", &f);
        assert_int_equal(avro_value_get_size(&f, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(avro_value_get_by_name(&f, "w", &el, NULL), 0);
        assert_int_equal(avro_value_get_long(&el, &i64), 0);
        assert_int_equal(i64, 3);
        assert_int_equal(avro_value_get_by_name(&f, "h", &el, NULL), 0);
        assert_int_equal(avro_value_get_long(&el, &i64), 0);
        assert_int_equal(i64, 4);
        field(&out, "ship", &f);
        field(&f, "city", &el);
        assert_int_equal(avro_value_get_string(&el, &str, &n), 0);
        assert_string_equal(str, "Oslo");
        field(&f, "days", &el); /* the nested field's own default */
        assert_int_equal(avro_value_get_int(&el, &i32), 0);
        assert_int_equal(i32, 2);
        field(&out, "hist", &f);
        assert_int_equal(avro_value_get_size(&f, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(avro_value_get_by_index(&f, 0, &el, NULL), 0);
        assert_int_equal(avro_value_get_enum(&el, &i32), 0);
        assert_int_equal(i32, 1);
        assert_int_equal(avro_value_get_by_index(&f, 1, &el, NULL), 0);
        assert_int_equal(avro_value_get_enum(&el, &i32), 0);
        assert_int_equal(i32, 0);

        /* A writer symbol the reader lacks falls back to the enum default. */
        field(&in, "status", &f);
        assert_int_equal(avro_value_set_enum(&f, 2), 0); /* LOST */
        ks_buf_reset(b);
        KST_OK_E(ks_serde_avro_encode(w, &in, b, &e));
        KST_OK_E(ks_serde_avro_decode(r, ks_buf_data(b), ks_buf_len(b), &out,
                                      &e));
        field(&out, "status", &f);
        assert_int_equal(avro_value_get_enum(&f, &i32), 0);
        assert_int_equal(i32, 2); /* UNKNOWN */
        avro_value_decref(&in);
        avro_value_decref(&out);
        ks_buf_destroy(b);
        ks_serde_destroy(w);
        ks_serde_destroy(r);
}

static void test_reader_default_errors(void **state) {
        ks_error_t *e = NULL;
        static const char *writer =
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                "{\"name\":\"a\",\"type\":\"int\"},"
                "{\"name\":\"s\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                "\"symbols\":[\"X\",\"Y\"]}}]}";
        /* No default for a field the writer lacks. */
        ks_serde_t *r = ks_serde_avro_new(
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                "{\"name\":\"a\",\"type\":\"int\"},"
                "{\"name\":\"b\",\"type\":\"int\"}]}",
                0, 0, &e);
        KST_ASSERT_ERROR(ks_serde_avro_add_writer_schema(r, 0, writer, &e), e,
                         KS_ERR_SERDE, "cannot be resolved",
                         "reader field \"b\" of record \"R\"",
                         "has no default");
        ks_serde_destroy(r);
        /* A default that does not fit its type. */
        r = ks_serde_avro_new("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                              "{\"name\":\"a\",\"type\":\"int\"},"
                              "{\"name\":\"b\",\"type\":\"int\","
                              "\"default\":\"seven\"}]}",
                              0, 0, &e);
        KST_ASSERT_ERROR(ks_serde_avro_add_writer_schema(r, 0, writer, &e), e,
                         KS_ERR_SERDE, "default of field \"b\"",
                         "does not fit its type int");
        ks_serde_destroy(r);
        r = ks_serde_avro_new("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                              "{\"name\":\"a\",\"type\":\"int\"},"
                              "{\"name\":\"b\",\"type\":\"int\","
                              "\"default\":4294967296}]}",
                              0, 0, &e);
        KST_ASSERT_ERROR(ks_serde_avro_add_writer_schema(r, 0, writer, &e), e,
                         KS_ERR_SERDE, "default of field \"b\"");
        ks_serde_destroy(r);
        /* An enum symbol the reader lacks, without an enum default, fails
         * on the datum that carries it, naming the symbol. */
        r = ks_serde_avro_new("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                              "{\"name\":\"s\",\"type\":{\"type\":\"enum\","
                              "\"name\":\"E\",\"symbols\":[\"X\"]}},"
                              "{\"name\":\"c\",\"type\":\"long\","
                              "\"default\":1}]}",
                              0, 0, &e);
        KST_OK_E(ks_serde_avro_add_writer_schema(r, 0, writer, &e));
        avro_value_t out;
        KST_OK(ks_serde_avro_value_new(r, &out));
        KST_OK_E(ks_serde_avro_decode(r, "\x02\x00", 2, &out, &e)); /* X */
        KST_ASSERT_ERROR(ks_serde_avro_decode(r, "\x02\x02", 2, &out, &e), e,
                         KS_ERR_SERDE, "enum symbol \"Y\"", "no default");
        /* Malformed data still fails cleanly on the writer schema. */
        KST_ASSERT_ERROR(ks_serde_avro_decode(r, "\x02\x09", 2, &out, &e), e,
                         KS_ERR_SERDE, "does not decode");
        avro_value_decref(&out);
        ks_serde_destroy(r);
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
                cmocka_unit_test(test_reader_defaults),
                cmocka_unit_test(test_reader_default_errors),
                cmocka_unit_test(test_bad_schema),
                cmocka_unit_test(test_malformed_data),
                cmocka_unit_test(test_encode_wrong_schema),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
