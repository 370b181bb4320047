/* The streams and tables DSL under the test driver: every operation's
 * output is checked record by record (key, value, timestamp, order)
 * against what this file computes from the input on its own, null keys
 * and null values included. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_test.h"

typedef struct {
        const char *key; /* NULL: null key */
        const char *value;
        int64_t ts;
} rec_t;

/* Input with null keys, null values, empty strings and repeats. */
static const rec_t input[] = {
        {"a", "1", 100},  {"b", "22", 110},     {NULL, "333", 120},
        {"c", NULL, 130}, {"a", "4444", 140},   {"", "55", 150},
        {"b", "6", 160},  {"a", "777777", 170}, {NULL, NULL, 180},
        {"c", "88", 190}, {"b", "banned", 200}, {"a", "9", 210},
};
#define N_INPUT (sizeof(input) / sizeof(input[0]))

static size_t slen(const char *s) {
        return s ? strlen(s) : 0;
}

static void pipe_all(ks_test_driver_t *d, const char *topic, const rec_t *in,
                     size_t n) {
        ks_error_t *e = NULL;
        for (size_t i = 0; i < n; i++)
                KST_OK_E(ks_test_driver_pipe(
                        d, topic, in[i].key, slen(in[i].key), in[i].value,
                        slen(in[i].value), in[i].ts, NULL, &e));
}

static void expect(ks_test_driver_t *d, const char *topic, const char *key,
                   const char *value, int64_t ts) {
        kst_expect_output(d, topic, key, slen(key), value, slen(value), ts);
}

static void expect_count(ks_test_driver_t *d, const char *topic,
                         const char *key, int64_t n, int64_t ts) {
        uint8_t v[8];
        ks_int64_encode(n, v);
        kst_expect_output(d, topic, key, slen(key), v, 8, ts);
}

static void expect_empty(ks_test_driver_t *d, const char *topic) {
        assert_int_equal(ks_test_driver_output_size(d, topic), 0);
}

static ks_test_driver_t *driver(ks_builder_t *b, const char *app) {
        ks_error_t *e = NULL;
        ks_topology_t *t = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_config_t *c = kst_config(app);
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(t);
        return d;
}

/* --- callbacks ---------------------------------------------------------- */

static int even_value(void *o, const ks_record_t *r) {
        (void)o;
        size_t n;
        return ks_record_value(r, &n) && n % 2 == 0;
}

static int key_starts_a(void *o, const ks_record_t *r) {
        (void)o;
        size_t n;
        const char *k = ks_record_key(r, &n);
        return k && n && k[0] == 'a';
}

static int value_longer_than_3(void *o, const ks_record_t *r) {
        (void)o;
        size_t n;
        return ks_record_value(r, &n) && n > 3;
}

/* Value in upper case; "NULL" for a null value. */
static ks_err_t upper_value(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        if (!v)
                return ks_emit_value(out, "NULL", 4);
        char buf[64];
        for (size_t i = 0; i < n; i++)
                buf[i] = (char)toupper((unsigned char)v[i]);
        return ks_emit_value(out, buf, n);
}

static ks_err_t swap(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t kn, vn;
        const void *k = ks_record_key(r, &kn);
        const void *v = ks_record_value(r, &vn);
        return ks_emit(out, v, vn, k, kn);
}

/* One value per character of the value. */
static ks_err_t chars(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        for (size_t i = 0; v && i < n; i++) {
                ks_err_t err = ks_emit_value(out, v + i, 1);
                if (err)
                        return err;
        }
        return KS_ERR_NO_ERROR;
}

/* (key, value) and, for values of two or more bytes, (value, key). */
static ks_err_t both_ways(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t kn, vn;
        const void *k = ks_record_key(r, &kn);
        const void *v = ks_record_value(r, &vn);
        ks_err_t err = ks_emit(out, k, kn, v, vn);
        if (!err && v && vn >= 2)
                err = ks_emit(out, v, vn, k, kn);
        return err;
}

/* The value's first byte as key; a null key for a null or empty value. */
static ks_err_t first_char_key(void *o, const ks_record_t *r,
                               ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        return ks_emit_key(out, v && n ? v : NULL, v && n ? 1 : 0);
}

static ks_err_t value_as_key(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const void *v = ks_record_value(r, &n);
        return ks_emit_key(out, v, n);
}

static void count_calls(void *o, const ks_record_t *r) {
        (void)r;
        ++*(int *)o;
}

static const char *topic_by_key(void *o, const ks_record_t *r) {
        (void)o;
        size_t n;
        const char *k = ks_record_key(r, &n);
        if (!k)
                return "dyn-null";
        return n && k[0] == 'a' ? "dyn-a" : "dyn-other";
}

/* --- stateless operations ----------------------------------------------- */

static void test_stateless(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        int peeked = 0, foreach_calls = 0;
        KST_OK(ks_stream_to(ks_stream_filter(s, even_value, NULL, NULL), "even",
                            NULL));
        KST_OK(ks_stream_to(ks_stream_filter_not(s, even_value, NULL, NULL),
                            "odd", NULL));
        KST_OK(ks_stream_to(ks_stream_map_values(s, upper_value, NULL, NULL),
                            "upper", NULL));
        KST_OK(ks_stream_to(ks_stream_map(s, swap, NULL, NULL), "swapped",
                            NULL));
        KST_OK(ks_stream_to(ks_stream_flat_map_values(s, chars, NULL, NULL),
                            "chars", NULL));
        KST_OK(ks_stream_to(ks_stream_flat_map(s, both_ways, NULL, NULL),
                            "both", NULL));
        KST_OK(ks_stream_to(ks_stream_select_key(s, first_char_key, NULL, NULL),
                            "rekeyed", NULL));
        KST_OK(ks_stream_to(ks_stream_peek(s, count_calls, &peeked, NULL),
                            "peeked", NULL));
        KST_OK(ks_stream_foreach(s, count_calls, &foreach_calls, NULL));
        ks_split_t *sp = ks_stream_split(s, "split-");
        KST_OK(ks_stream_to(ks_split_branch(sp, key_starts_a, NULL, "a"),
                            "br-a", NULL));
        KST_OK(ks_stream_to(
                ks_split_branch(sp, value_longer_than_3, NULL, "long"),
                "br-long", NULL));
        KST_OK(ks_stream_to(ks_split_default(sp, "other"), "br-other", NULL));
        KST_OK(ks_stream_to_dynamic(s, topic_by_key, NULL, NULL));
        ks_test_driver_t *d = driver(b, "dsl-stateless");
        pipe_all(d, "in", input, N_INPUT);

        for (size_t i = 0; i < N_INPUT; i++) {
                const rec_t *r = &input[i];
                size_t vn = slen(r->value);
                if (r->value && vn % 2 == 0)
                        expect(d, "even", r->key, r->value, r->ts);
                else
                        expect(d, "odd", r->key, r->value, r->ts);
                char up[64] = "NULL";
                for (size_t j = 0; r->value && j <= vn; j++)
                        up[j] = (char)toupper((unsigned char)r->value[j]);
                expect(d, "upper", r->key, up, r->ts);
                expect(d, "swapped", r->value, r->key, r->ts);
                for (size_t j = 0; j < vn; j++) {
                        char c[2] = {r->value[j], 0};
                        expect(d, "chars", r->key, c, r->ts);
                }
                expect(d, "both", r->key, r->value, r->ts);
                if (vn >= 2)
                        expect(d, "both", r->value, r->key, r->ts);
                char k1[2] = {vn ? r->value[0] : 0, 0};
                expect(d, "rekeyed", vn ? k1 : NULL, r->value, r->ts);
                expect(d, "peeked", r->key, r->value, r->ts);
                if (r->key && r->key[0] == 'a')
                        expect(d, "br-a", r->key, r->value, r->ts);
                else if (vn > 3)
                        expect(d, "br-long", r->key, r->value, r->ts);
                else
                        expect(d, "br-other", r->key, r->value, r->ts);
                expect(d,
                       !r->key                       ? "dyn-null"
                       : r->key[0] == 'a' && *r->key ? "dyn-a"
                                                     : "dyn-other",
                       r->key, r->value, r->ts);
        }
        const char *outs[] = {"even",  "odd",      "upper",    "swapped",
                              "chars", "both",     "rekeyed",  "peeked",
                              "br-a",  "br-long",  "br-other", "dyn-null",
                              "dyn-a", "dyn-other"};
        for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
                expect_empty(d, outs[i]);
        assert_int_equal(peeked, (int)N_INPUT);
        assert_int_equal(foreach_calls, (int)N_INPUT);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* merge: both inputs in arrival order; a split without a default branch
 * drops what no branch keeps. */
static void test_merge_and_split_without_default(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *t1[] = {"left"}, *t2[] = {"right"};
        ks_stream_t *l = ks_builder_stream(b, t1, 1, NULL, NULL, NULL);
        ks_stream_t *r = ks_builder_stream(b, t2, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(ks_stream_merge(l, r, NULL), "merged", NULL));
        ks_split_t *sp = ks_stream_split(l, NULL);
        KST_OK(ks_stream_to(ks_split_branch(sp, key_starts_a, NULL, NULL),
                            "only-a", NULL));
        ks_test_driver_t *d = driver(b, "dsl-merge");
        for (size_t i = 0; i < N_INPUT; i++)
                pipe_all(d, i % 3 ? "left" : "right", &input[i], 1);
        for (size_t i = 0; i < N_INPUT; i++)
                expect(d, "merged", input[i].key, input[i].value, input[i].ts);
        for (size_t i = 0; i < N_INPUT; i++)
                if (i % 3 && input[i].key && input[i].key[0] == 'a')
                        expect(d, "only-a", input[i].key, input[i].value,
                               input[i].ts);
        expect_empty(d, "merged");
        expect_empty(d, "only-a");
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- aggregations ------------------------------------------------------- */

typedef struct {
        char key[16];
        int64_t count;
        char text[128];
        int64_t sum;
} agg_ref_t;

static agg_ref_t *ref_find(agg_ref_t *refs, size_t *n, const char *key) {
        for (size_t i = 0; i < *n; i++)
                if (!strcmp(refs[i].key, key))
                        return &refs[i];
        memset(&refs[*n], 0, sizeof(refs[0]));
        snprintf(refs[*n].key, sizeof(refs[0].key), "%s", key);
        return &refs[(*n)++];
}

/* reduce: "<agg>+<value>". */
static ks_err_t concat(void *o, const ks_record_t *r, const void *agg,
                       size_t agg_size, ks_buf_t *out) {
        (void)o;
        size_t vn;
        const void *v = ks_record_value(r, &vn);
        ks_err_t err = ks_buf_append(out, agg, agg_size);
        if (!err)
                err = ks_buf_append(out, "+", 1);
        return err ? err : ks_buf_append(out, v, vn);
}

/* aggregate: the sum of the value lengths, 8-byte big-endian, from 1000. */
static ks_err_t init_sum(void *o, ks_buf_t *agg) {
        (void)o;
        uint8_t b[8];
        ks_int64_encode(1000, b);
        return ks_buf_append(agg, b, 8);
}

static ks_err_t add_len(void *o, const ks_record_t *r, const void *agg,
                        size_t agg_size, ks_buf_t *out) {
        (void)o;
        int64_t sum;
        if (ks_int64_decode(agg, agg_size, &sum, NULL))
                return KS_ERR_SERDE;
        size_t vn;
        ks_record_value(r, &vn);
        uint8_t b[8];
        ks_int64_encode(sum + (int64_t)vn, b);
        return ks_buf_append(out, b, 8);
}

static void test_group_by_key_aggregations(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        ks_grouped_stream_t *g = ks_stream_group_by_key(s, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_grouped_count(g, "counts", NULL), NULL),
                "counts-out", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_grouped_reduce(g, concat, NULL, NULL, NULL), NULL),
                "reduced", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_grouped_aggregate(g, init_sum, add_len,
                                                        NULL, "sums", NULL),
                                   NULL),
                "sums-out", NULL));
        ks_test_driver_t *d = driver(b, "dsl-aggregations");
        pipe_all(d, "in", input, N_INPUT);
        agg_ref_t refs[16];
        size_t nref = 0;
        for (size_t i = 0; i < N_INPUT; i++) {
                const rec_t *r = &input[i];
                if (!r->key || !r->value)
                        continue; /* skipped, as in Kafka Streams */
                agg_ref_t *a = ref_find(refs, &nref, r->key);
                a->count++;
                expect_count(d, "counts-out", r->key, a->count, r->ts);
                if (a->count == 1) {
                        snprintf(a->text, sizeof(a->text), "%s", r->value);
                        a->sum = 1000;
                } else {
                        size_t l = strlen(a->text);
                        snprintf(a->text + l, sizeof(a->text) - l, "+%s",
                                 r->value);
                }
                a->sum += (int64_t)strlen(r->value);
                expect(d, "reduced", r->key, a->text, r->ts);
                expect_count(d, "sums-out", r->key, a->sum, r->ts);
        }
        expect_empty(d, "counts-out");
        expect_empty(d, "reduced");
        expect_empty(d, "sums-out");
        /* The stores hold the final aggregates, stamped with their last
         * (here also latest) record's timestamp. A table's store is not a
         * plain key-value store. */
        ks_kv_store_t *kv;
        assert_int_equal(ks_test_driver_get_kv_store(d, "counts", &kv),
                         KS_ERR_STORE_TYPE);
        ks_timestamped_kv_store_t *st;
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "counts", &st));
        for (size_t i = 0; i < nref; i++) {
                const void *v;
                size_t vn;
                int64_t n, ts, last = -1;
                for (size_t j = 0; j < N_INPUT; j++)
                        if (input[j].key && input[j].value &&
                            !strcmp(input[j].key, refs[i].key))
                                last = input[j].ts;
                KST_OK(ks_timestamped_kv_store_get(
                        st, refs[i].key, strlen(refs[i].key), &v, &vn, &ts));
                KST_OK(ks_int64_decode(v, vn, &n, NULL));
                assert_int_equal(n, refs[i].count);
                assert_int_equal(ts, last);
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* group_by re-keys through a repartition topic into a new sub-topology;
 * so does group_by_key after select_key. */
static void test_group_by_repartition(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_grouped_count(ks_stream_group_by(s, value_as_key,
                                                            NULL, "by-value"),
                                         NULL, NULL),
                        NULL),
                "by-value-out", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_grouped_count(
                                ks_stream_group_by_key(
                                        ks_stream_select_key(s, first_char_key,
                                                             NULL, NULL),
                                        NULL),
                                "first-chars", NULL),
                        NULL),
                "first-out", NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        assert_int_equal(ks_topology_subtopology_count(t), 3);
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        assert_non_null(strstr(desc, "(topic: by-value-repartition)"));
        assert_non_null(strstr(desc, "(topics: [by-value-repartition])"));
        assert_non_null(strstr(desc, "(topic: first-chars-repartition)"));
        ks_free(desc);
        ks_config_t *c = kst_config("dsl-regroup");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        /* Bound to the application: internal topics carry its id. Two
         * repartition topics, two changelogs, and the changelogs of the
         * duplicate marks of the two sub-topologies reading repartition
         * topics. */
        assert_int_equal(ks_topology_internal_topic_count(t), 6);
        char name[256];
        const char *src;
        int marks = 0;
        for (size_t i = 0; i < 6; i++) {
                KST_OK(ks_topology_internal_topic(t, "dsl-regroup", i, name,
                                                  sizeof(name), &src));
                marks += !strcmp(name, "dsl-regroup-KSTREAM-ORIGIN-MARKS-1-"
                                       "changelog") ||
                         !strcmp(name, "dsl-regroup-KSTREAM-ORIGIN-MARKS-2-"
                                       "changelog");
        }
        assert_int_equal(marks, 2);
        KST_OK(ks_topology_internal_topic(t, "dsl-regroup", 0, name,
                                          sizeof(name), &src));
        assert_string_equal(name, "dsl-regroup-by-value-repartition");
        assert_string_equal(src, "in");
        pipe_all(d, "in", input, N_INPUT);
        agg_ref_t byv[16], byc[16];
        size_t nv = 0, nc = 0;
        for (size_t i = 0; i < N_INPUT; i++) {
                const rec_t *r = &input[i];
                if (!r->value)
                        continue; /* null key after re-keying: dropped */
                agg_ref_t *a = ref_find(byv, &nv, r->value);
                expect_count(d, "by-value-out", r->value, ++a->count, r->ts);
                if (!*r->value)
                        continue;
                char k[2] = {r->value[0], 0};
                a = ref_find(byc, &nc, k);
                expect_count(d, "first-out", k, ++a->count, r->ts);
        }
        expect_empty(d, "by-value-out");
        expect_empty(d, "first-out");
        /* Another application.id cannot run the same topology. */
        ks_config_t *c2 = kst_config("dsl-other-app");
        KST_ASSERT_ERROR(ks_test_driver_new(t, c2, 0, &e) ? KS_ERR_NO_ERROR
                                                          : KS_ERR_STATE,
                         e, KS_ERR_STATE, "dsl-regroup", NULL);
        ks_config_destroy(c2);
        ks_config_destroy(c);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_builder_destroy(b);
}

/* --- tables ------------------------------------------------------------- */

static int not_banned(void *o, const ks_record_t *r) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        return !(n == 6 && !memcmp(v, "banned", 6));
}

static void test_tables(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *users = ks_builder_table(b, "users", ks_serde_string(),
                                             ks_serde_string(), "users-store");
        assert_string_equal(ks_table_store_name(users), "users-store");
        ks_table_t *ok = ks_table_filter(users, not_banned, NULL, NULL);
        assert_null(ks_table_store_name(ok));
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_table_map_values(ok, upper_value, NULL, NULL), NULL),
                "users-out", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_table_filter_not(users, not_banned, NULL, NULL),
                        NULL),
                "banned-out", NULL));
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_stream_to_table(ks_stream_select_key(
                                                              s, first_char_key,
                                                              NULL, NULL),
                                                      "latest", NULL),
                                   NULL),
                "latest-out", NULL));
        ks_test_driver_t *d = driver(b, "dsl-tables");
        /* A row deleted by a tombstone, one banned, one changed. */
        static const rec_t rows[] = {
                {"u1", "ann", 10}, {"u2", "bob", 20},    {NULL, "x", 25},
                {"u1", NULL, 30},  {"u3", "banned", 40}, {"u2", "bert", 50},
                {"u3", "cy", 60},
        };
        size_t nrows = sizeof(rows) / sizeof(rows[0]);
        pipe_all(d, "users", rows, nrows);
        pipe_all(d, "in", input, N_INPUT);
        for (size_t i = 0; i < nrows; i++) {
                const rec_t *r = &rows[i];
                if (!r->key)
                        continue; /* a table skips null keys */
                int kept = !r->value || strcmp(r->value, "banned");
                char up[16] = {0};
                for (size_t j = 0; kept && r->value && r->value[j]; j++)
                        up[j] = (char)toupper((unsigned char)r->value[j]);
                expect(d, "users-out", r->key, kept && r->value ? up : NULL,
                       r->ts);
                expect(d, "banned-out", r->key, kept ? NULL : r->value, r->ts);
        }
        expect_empty(d, "users-out");
        expect_empty(d, "banned-out");
        ks_timestamped_kv_store_t *st;
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "users-store", &st));
        const void *v;
        size_t vn;
        int64_t ts;
        assert_int_equal(ks_timestamped_kv_store_get(st, "u1", 2, &v, &vn, &ts),
                         KS_ERR_NOT_FOUND);
        KST_OK(ks_timestamped_kv_store_get(st, "u2", 2, &v, &vn, &ts));
        assert_int_equal(vn, 4);
        assert_memory_equal(v, "bert", 4);
        assert_int_equal(ts, 50);
        /* to_table after a re-key: the latest value per first byte. */
        char last[256][16];
        int64_t last_ts[256];
        memset(last, 0, sizeof(last));
        for (size_t i = 0; i < N_INPUT; i++) {
                const rec_t *r = &input[i];
                if (!r->value || !*r->value)
                        continue; /* null key: skipped */
                char k[2] = {r->value[0], 0};
                expect(d, "latest-out", k, r->value, r->ts);
                snprintf(last[(unsigned char)k[0]], 16, "%s", r->value);
                last_ts[(unsigned char)k[0]] = r->ts;
        }
        expect_empty(d, "latest-out");
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "latest", &st));
        for (int c = 0; c < 256; c++) {
                if (!last[c][0])
                        continue;
                char k = (char)c;
                KST_OK(ks_timestamped_kv_store_get(st, &k, 1, &v, &vn, &ts));
                assert_int_equal(vn, strlen(last[c]));
                assert_memory_equal(v, last[c], vn);
                assert_int_equal(ts, last_ts[c]);
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- joins -------------------------------------------------------------- */

/* "<left>|<right>", "null" for a missing side. */
static ks_err_t pair(void *o, const void *l, size_t ll, const void *r,
                     size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err =
                l ? ks_buf_append(out, l, ll) : ks_buf_append(out, "null", 4);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        if (!err)
                err = r ? ks_buf_append(out, r, rl)
                        : ks_buf_append(out, "null", 4);
        return err;
}

/* A tiny map for the expectations: key -> value or absent. */
typedef struct {
        char key[8][8];
        char val[8][16];
        int has[8];
        int n;
} map_t;

static int map_slot(map_t *m, const char *k) {
        for (int i = 0; i < m->n; i++)
                if (!strcmp(m->key[i], k))
                        return i;
        snprintf(m->key[m->n], 8, "%s", k);
        m->has[m->n] = 0;
        return m->n++;
}

static void map_set(map_t *m, const char *k, const char *v) {
        int i = map_slot(m, k);
        m->has[i] = v != NULL;
        if (v)
                snprintf(m->val[i], 16, "%s", v);
}

static const char *map_get(map_t *m, const char *k) {
        int i = map_slot(m, k);
        return m->has[i] ? m->val[i] : NULL;
}

typedef struct {
        const char *topic;
        rec_t r;
} step_rec_t;

static void test_stream_table_join(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *regions =
                ks_builder_table(b, "regions", NULL, NULL, "regions-store");
        const char *topics[] = {"views"};
        ks_stream_t *views = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_stream_join_table(views, regions, pair, NULL, NULL), "inner",
                NULL));
        KST_OK(ks_stream_to(
                ks_stream_left_join_table(views, regions, pair, NULL, NULL),
                "left", NULL));
        ks_test_driver_t *d = driver(b, "dsl-stream-table");
        static const step_rec_t steps[] = {
                {"views", {"u1", "home", 1}}, {"regions", {"u1", "eu", 2}},
                {"views", {"u1", "cart", 3}}, {"views", {"u2", "home", 4}},
                {"regions", {"u2", "us", 5}}, {"views", {NULL, "x", 6}},
                {"views", {"u2", NULL, 7}},   {"regions", {"u1", "ap", 8}},
                {"views", {"u1", "pay", 9}},  {"regions", {"u1", NULL, 10}},
                {"views", {"u1", "bye", 11}}, {"views", {"u2", "again", 12}},
        };
        map_t table = {0};
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_rec_t *st = &steps[i];
                pipe_all(d, st->topic, &st->r, 1);
                if (!strcmp(st->topic, "regions")) {
                        map_set(&table, st->r.key, st->r.value);
                        continue;
                }
                if (!st->r.key || !st->r.value)
                        continue; /* dropped by the join */
                const char *region = map_get(&table, st->r.key);
                char want[64];
                snprintf(want, sizeof(want), "%s|%s", st->r.value,
                         region ? region : "null");
                if (region)
                        expect(d, "inner", st->r.key, want, st->r.ts);
                expect(d, "left", st->r.key, want, st->r.ts);
                expect_empty(d, "inner");
                expect_empty(d, "left");
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

static void test_table_table_join(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *l = ks_builder_table(b, "lt", NULL, NULL, "l-store");
        ks_table_t *r = ks_builder_table(b, "rt", NULL, NULL, "r-store");
        const char *outs[] = {"tt-inner", "tt-left", "tt-outer"};
        ks_join_kind_t kinds[] = {KS_JOIN_INNER, KS_JOIN_LEFT, KS_JOIN_OUTER};
        for (int k = 0; k < 3; k++)
                KST_OK(ks_stream_to(
                        ks_table_to_stream(
                                ks_table_join(l, r, kinds[k], pair, NULL, NULL),
                                NULL),
                        outs[k], NULL));
        ks_test_driver_t *d = driver(b, "dsl-table-table");
        static const step_rec_t steps[] = {
                {"lt", {"k1", "a", 1}},  {"rt", {"k1", "x", 2}},
                {"rt", {"k2", "y", 3}},  {"lt", {"k2", "b", 4}},
                {"lt", {"k1", NULL, 5}}, {"rt", {"k1", "z", 6}},
                {"rt", {"k2", NULL, 7}}, {"lt", {"k2", "c", 8}},
                {"lt", {"k1", "d", 9}},  {"rt", {"k3", NULL, 10}},
        };
        map_t lm = {0}, rm = {0};
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_rec_t *st = &steps[i];
                pipe_all(d, st->topic, &st->r, 1);
                map_set(!strcmp(st->topic, "lt") ? &lm : &rm, st->r.key,
                        st->r.value);
                const char *lv = map_get(&lm, st->r.key);
                const char *rv = map_get(&rm, st->r.key);
                char joined[64];
                snprintf(joined, sizeof(joined), "%s|%s", lv ? lv : "null",
                         rv ? rv : "null");
                int has[3] = {lv && rv, lv != NULL, lv || rv};
                for (int k = 0; k < 3; k++) {
                        expect(d, outs[k], st->r.key, has[k] ? joined : NULL,
                               st->r.ts);
                        expect_empty(d, outs[k]);
                }
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

static void test_join_errors(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_builder_table(b, "t", NULL, NULL, NULL);
        ks_table_t *f = ks_table_filter(t, even_value, NULL, NULL);
        const char *topics[] = {"s"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        assert_null(ks_stream_join_table(s, f, pair, NULL, NULL));
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_builder_build(b, &topo, &e), e, KS_ERR_INVALID_ARG,
                         "has no store", NULL);
        ks_builder_destroy(b);
}

/* --- grouped tables ----------------------------------------------------- */

/* (region, user): the user's row regrouped by its region. */
static ks_err_t by_region(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t kn, vn;
        const void *k = ks_record_key(r, &kn);
        const void *v = ks_record_value(r, &vn);
        return ks_emit(out, v, vn, k, kn);
}

static ks_err_t zero(void *o, ks_buf_t *agg) {
        (void)o;
        uint8_t b[8];
        ks_int64_encode(0, b);
        return ks_buf_append(agg, b, 8);
}

/* The sum of the user names' lengths, up and down. */
static ks_err_t len_change(const ks_record_t *r, const void *agg, size_t n,
                           ks_buf_t *out, int sign) {
        int64_t sum;
        if (ks_int64_decode(agg, n, &sum, NULL))
                return KS_ERR_SERDE;
        size_t vn;
        ks_record_value(r, &vn);
        uint8_t b[8];
        ks_int64_encode(sum + sign * (int64_t)vn, b);
        return ks_buf_append(out, b, 8);
}

static ks_err_t len_add(void *o, const ks_record_t *r, const void *agg,
                        size_t n, ks_buf_t *out) {
        (void)o;
        return len_change(r, agg, n, out, 1);
}

static ks_err_t len_sub(void *o, const ks_record_t *r, const void *agg,
                        size_t n, ks_buf_t *out) {
        (void)o;
        return len_change(r, agg, n, out, -1);
}

static const step_rec_t moves[] = {
        {"users", {"ann", "eu", 1}},   {"users", {"bo", "eu", 2}},
        {"users", {"cyrus", "us", 3}}, {"users", {"ann", "us", 4}},
        {"users", {"bo", NULL, 5}},    {"users", {"cyrus", "us", 6}},
        {"users", {"di", "ap", 7}},    {NULL, {NULL, NULL, 0}},
};

/* Users and name lengths per region in @p m, counted here. */
static void region_totals(map_t *m, const char *region, int64_t *users,
                          int64_t *lens) {
        *users = *lens = 0;
        for (int i = 0; i < m->n; i++)
                if (m->has[i] && !strcmp(m->val[i], region)) {
                        ++*users;
                        *lens += (int64_t)strlen(m->key[i]);
                }
}

static ks_test_driver_t *regions_driver(ks_builder_t *b, const char *app,
                                        const char *cache) {
        ks_table_t *users = ks_builder_table(b, "users", NULL, NULL, NULL);
        ks_grouped_table_t *g =
                ks_table_group_by(users, by_region, NULL, "by-region");
        KST_OK(ks_stream_to(
                ks_table_to_stream(
                        ks_grouped_table_count(g, "per-region", NULL), NULL),
                "per-region-out", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_grouped_table_aggregate(g, zero, len_add,
                                                              len_sub, NULL,
                                                              "lens", NULL),
                                   NULL),
                "lens-out", NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_config_t *c = kst_config(app);
        kst_set(c, "statestore.cache.max.bytes", cache);
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(t);
        return d;
}

/* A row that moves takes itself out of the old group and into the new:
 * both groups update, in that order. */
static void test_table_group_by(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_test_driver_t *d = regions_driver(b, "dsl-regions", "0");
        map_t users = {0};
        for (const step_rec_t *m = moves; m->topic; m++) {
                const char *old = map_get(&users, m->r.key);
                char oldr[16] = "";
                if (old)
                        snprintf(oldr, sizeof(oldr), "%s", old);
                pipe_all(d, m->topic, &m->r, 1);
                int64_t n, l;
                if (old) {
                        /* Out of the old group (the row still counted
                         * there until it is taken out). */
                        map_set(&users, m->r.key, NULL);
                        region_totals(&users, oldr, &n, &l);
                        expect_count(d, "per-region-out", oldr, n, m->r.ts);
                        expect_count(d, "lens-out", oldr, l, m->r.ts);
                }
                if (m->r.value) {
                        map_set(&users, m->r.key, m->r.value);
                        region_totals(&users, m->r.value, &n, &l);
                        expect_count(d, "per-region-out", m->r.value, n,
                                     m->r.ts);
                        expect_count(d, "lens-out", m->r.value, l, m->r.ts);
                }
                map_set(&users, m->r.key, m->r.value);
                expect_empty(d, "per-region-out");
                expect_empty(d, "lens-out");
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);

        /* With the record cache: the same final groups in the stores. */
        b = ks_builder_new();
        d = regions_driver(b, "dsl-regions-cached", "1048576");
        for (const step_rec_t *m = moves; m->topic; m++)
                pipe_all(d, m->topic, &m->r, 1);
        ks_timestamped_kv_store_t *st, *ls;
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "per-region", &st));
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "lens", &ls));
        const char *regions[] = {"eu", "us", "ap"};
        for (int i = 0; i < 3; i++) {
                int64_t n, l, got;
                region_totals(&users, regions[i], &n, &l);
                const void *v;
                size_t vn;
                KST_OK(ks_timestamped_kv_store_get(st, regions[i], 2, &v, &vn,
                                                   NULL));
                KST_OK(ks_int64_decode(v, vn, &got, NULL));
                assert_int_equal(got, n);
                KST_OK(ks_timestamped_kv_store_get(ls, regions[i], 2, &v, &vn,
                                                   NULL));
                KST_OK(ks_int64_decode(v, vn, &got, NULL));
                assert_int_equal(got, l);
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- global tables ------------------------------------------------------ */

/* A view "<page>@<user>" joins the users' global table by its user. */
static ks_err_t user_of_view(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        const char *at = memchr(v, '@', n);
        if (!at)
                return ks_emit_key(out, NULL, 0);
        return ks_emit_key(out, at + 1, n - (size_t)(at + 1 - v));
}

static void test_global_table_join(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_global_table_t *g =
                ks_builder_global_table(b, "user-regions", NULL, NULL, NULL);
        assert_string_equal(ks_global_table_store_name(g),
                            "user-regions-STATE-STORE-0000000000");
        const char *topics[] = {"views"};
        ks_stream_t *views = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_stream_join_global(views, g, user_of_view, pair, NULL, NULL),
                "g-inner", NULL));
        KST_OK(ks_stream_to(ks_stream_left_join_global(views, g, user_of_view,
                                                       pair, NULL, NULL),
                            "g-left", NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        assert_non_null(strstr(desc, "Global store: user-regions-STATE-STORE-"
                                     "0000000000 (topic: user-regions)"));
        ks_free(desc);
        ks_topology_destroy(t);
        ks_test_driver_t *d = driver(b, "dsl-global");
        /* Views keyed by session (any partitioning); the table updated in
         * between. */
        static const step_rec_t steps[] = {
                {"views", {"s1", "home@ann", 1}},
                {"user-regions", {"ann", "eu", 2}},
                {"views", {"s1", "cart@ann", 3}},
                {"views", {"s2", "home@bo", 4}},
                {"user-regions", {"bo", "us", 5}},
                {"views", {NULL, "pay@bo", 6}},
                {"views", {"s3", "nouser", 7}},
                {"views", {"s3", NULL, 8}},
                {"user-regions", {"ann", "ap", 9}},
                {"views", {"s1", "pay@ann", 10}},
                {"user-regions", {"bo", NULL, 11}},
                {"views", {"s2", "bye@bo", 12}},
        };
        map_t table = {0};
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_rec_t *st = &steps[i];
                pipe_all(d, st->topic, &st->r, 1);
                if (!strcmp(st->topic, "user-regions")) {
                        map_set(&table, st->r.key, st->r.value);
                        continue;
                }
                if (!st->r.value)
                        continue; /* dropped */
                const char *at = strchr(st->r.value, '@');
                const char *region = at ? map_get(&table, at + 1) : NULL;
                char want[64];
                snprintf(want, sizeof(want), "%s|%s", st->r.value,
                         region ? region : "null");
                if (region)
                        expect(d, "g-inner", st->r.key, want, st->r.ts);
                expect(d, "g-left", st->r.key, want, st->r.ts);
                expect_empty(d, "g-inner");
                expect_empty(d, "g-left");
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);

        /* A global table's topic read by a stream too: refused. */
        b = ks_builder_new();
        ks_builder_global_table(b, "shared", NULL, NULL, NULL);
        const char *shared[] = {"shared"};
        KST_OK(ks_stream_to(ks_builder_stream(b, shared, 1, NULL, NULL, NULL),
                            "out", NULL));
        KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e, KS_ERR_TOPOLOGY,
                         "shared", "global table", NULL);
        ks_builder_destroy(b);
}

/* --- foreign-key join --------------------------------------------------- */

/* An order "<product>:<qty>" names its product before the ':'. */
static ks_err_t product_of(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        size_t n;
        const char *v = ks_record_value(r, &n);
        const char *c = memchr(v, ':', n);
        return c ? ks_emit_key(out, v, (size_t)(c - v))
                 : ks_emit_key(out, NULL, 0);
}

static void fk_expect(ks_test_driver_t *d, const char *topic, int inner,
                      const char *order, const char *ov, const char *pv,
                      int64_t ts) {
        if (!ov || (inner && !pv)) {
                expect(d, topic, order, NULL, ts);
                return;
        }
        char want[64];
        snprintf(want, sizeof(want), "%s|%s", ov, pv ? pv : "null");
        expect(d, topic, order, want, ts);
}

static void test_fk_join(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        ks_table_t *orders = ks_builder_table(b, "orders", NULL, NULL, NULL);
        ks_table_t *products =
                ks_builder_table(b, "products", NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_table_fk_join(orders, products,
                                                    product_of, KS_JOIN_INNER,
                                                    pair, NULL, "fk-inner"),
                                   NULL),
                "fk-inner-out", NULL));
        KST_OK(ks_stream_to(
                ks_table_to_stream(ks_table_fk_join(orders, products,
                                                    product_of, KS_JOIN_LEFT,
                                                    pair, NULL, "fk-left"),
                                   NULL),
                "fk-left-out", NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        assert_non_null(
                strstr(desc, "(topic: fk-inner-subscription-registration)"));
        assert_non_null(strstr(desc, "(topic: fk-left-subscription-response)"));
        ks_free(desc);
        ks_topology_destroy(t);
        ks_test_driver_t *d = driver(b, "dsl-fk");
        static const step_rec_t steps[] = {
                {"products", {"p1", "pen", 1}},   {"orders", {"o1", "p1:2", 2}},
                {"orders", {"o2", "p2:1", 3}}, /* no product p2 yet */
                {"products", {"p2", "ink", 4}},   {"orders", {"o3", "p1:5", 5}},
                {"products", {"p1", "quill", 6}}, /* o1 and o3 change */
                {"orders", {"o1", "p2:7", 7}},    /* o1 moves to p2 */
                {"products", {"p1", "nib", 8}},   /* only o3 left on p1 */
                {"products", {"p2", NULL, 9}},    /* o1, o2 lose theirs */
                {"orders", {"o2", NULL, 10}},     /* o2 deleted */
                {"orders", {"o4", "nokey", 11}},  /* no foreign key */
                {"products", {"p2", "gel", 12}},  /* o1 only */
        };
        map_t om = {0}, pm = {0};
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_rec_t *st = &steps[i];
                pipe_all(d, st->topic, &st->r, 1);
                const char *outs[] = {"fk-inner-out", "fk-left-out"};
                if (!strcmp(st->topic, "orders")) {
                        map_set(&om, st->r.key, st->r.value);
                        const char *v = st->r.value;
                        char prod[8] = "";
                        const char *c = v ? strchr(v, ':') : NULL;
                        if (c)
                                snprintf(prod, sizeof(prod), "%.*s",
                                         (int)(c - v), v);
                        const char *pv = c ? map_get(&pm, prod) : NULL;
                        for (int k = 0; k < 2; k++)
                                fk_expect(d, outs[k], k == 0, st->r.key, v, pv,
                                          st->r.ts);
                } else {
                        map_set(&pm, st->r.key, st->r.value);
                        /* Every order on this product, in key order. */
                        for (int j = 0; j < om.n; j++) {
                                const char *ov = om.has[j] ? om.val[j] : NULL;
                                size_t pl = strlen(st->r.key);
                                if (!ov || strncmp(ov, st->r.key, pl) ||
                                    ov[pl] != ':')
                                        continue;
                                for (int k = 0; k < 2; k++)
                                        fk_expect(d, outs[k], k == 0, om.key[j],
                                                  ov, st->r.value, st->r.ts);
                        }
                }
                expect_empty(d, "fk-inner-out");
                expect_empty(d, "fk-left-out");
        }
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- process and repartition -------------------------------------------- */

/* A Processor API node in the DSL: numbers each key's records with a
 * store of its own and forwards "<n>:<value>". */
static ks_err_t numbering_init(ks_context_t *ctx, void *opaque, void **statep) {
        (void)opaque;
        ks_kv_store_t *st;
        ks_err_t err = ks_context_get_kv_store(ctx, "seen", &st);
        *statep = st;
        return err;
}

static ks_err_t numbering(ks_context_t *ctx, const ks_record_t *rec,
                          void *state) {
        ks_kv_store_t *st = state;
        size_t kl, vl, ol;
        const void *k = ks_record_key(rec, &kl);
        const char *v = ks_record_value(rec, &vl);
        const void *old;
        int64_t n = 0;
        if (k && !ks_kv_store_get(st, k, kl, &old, &ol))
                ks_int64_decode(old, ol, &n, NULL);
        uint8_t b[8];
        ks_int64_encode(++n, b);
        if (k) {
                ks_err_t err = ks_kv_store_put(st, k, kl, b, 8);
                if (err)
                        return err;
        }
        char out[64];
        int len = snprintf(out, sizeof(out), "%lld:%.*s", (long long)n, (int)vl,
                           v ? v : "");
        return ks_context_forward(ctx, k, kl, out, (size_t)len);
}

static void test_process_and_repartition(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        KST_OK(ks_topology_add_kv_store(ks_builder_topology(b), "seen",
                                        KS_STORE_IN_MEMORY,
                                        KS_STORE_F_LOGGING_DISABLED, NULL));
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        const char *stores[] = {"seen"};
        ks_stream_t *r = ks_stream_repartition(
                ks_stream_select_key(s, first_char_key, NULL, NULL), 4,
                "by-first");
        KST_OK(ks_stream_to(ks_stream_process(r, numbering_init, numbering,
                                              NULL, NULL, stores, 1,
                                              "numbering"),
                            "numbered", NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        assert_int_equal(ks_topology_subtopology_count(t), 2);
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        assert_non_null(strstr(desc, "Sink: by-first-repartition-sink "
                                     "(topic: by-first-repartition)"));
        assert_non_null(strstr(desc, "Processor: numbering (stores: [seen])"));
        ks_free(desc);
        ks_topology_destroy(t);
        ks_test_driver_t *d = driver(b, "dsl-process");
        pipe_all(d, "in", input, N_INPUT);
        int64_t seen[256] = {0};
        for (size_t i = 0; i < N_INPUT; i++) {
                const rec_t *in = &input[i];
                size_t vn = slen(in->value);
                char k[2] = {vn ? in->value[0] : 0, 0};
                int64_t n = vn ? ++seen[(unsigned char)k[0]] : 1;
                char want[64];
                snprintf(want, sizeof(want), "%lld:%s", (long long)n,
                         in->value ? in->value : "");
                expect(d, "numbered", vn ? k : NULL, want, in->ts);
        }
        expect_empty(d, "numbered");
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- print -------------------------------------------------------------- */

static void test_print(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), NULL);
        KST_OK(ks_stream_print(s, "raw", NULL));
        KST_OK(ks_stream_print(
                ks_table_to_stream(
                        ks_grouped_count(ks_stream_group_by_key(s, NULL), NULL,
                                         NULL),
                        NULL),
                "count", NULL));
        ks_test_driver_t *d = driver(b, "dsl-print");
        char path[512];
        snprintf(path, sizeof(path), "%s/print-XXXXXX", kst_tmpdir());
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        fflush(stdout);
        int saved = dup(1);
        dup2(fd, 1);
        pipe_all(d, "in", input, 4);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        char got[1024] = {0};
        assert_true(pread(fd, got, sizeof(got) - 1, 0) > 0);
        close(fd);
        unlink(path);
        assert_string_equal(got, "[raw]: a, 1\n"
                                 "[count]: a, 1\n"
                                 "[raw]: b, 22\n"
                                 "[count]: b, 1\n"
                                 "[raw]: null, 333\n"
                                 "[raw]: c, null\n");
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

/* --- naming and errors -------------------------------------------------- */

static char *describe_chain(const char *filter_name) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        s = ks_stream_filter(s, even_value, NULL, filter_name);
        s = ks_stream_map_values(s, upper_value, NULL, NULL);
        KST_OK(ks_stream_to(s, "out", NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        ks_topology_destroy(t);
        ks_builder_destroy(b);
        return desc;
}

static void test_naming(void **state) {
        (void)state;
        char *plain = describe_chain(NULL);
        char *named = describe_chain("keep-even");
        assert_non_null(strstr(plain, "Source: KSTREAM-SOURCE-0000000000"));
        assert_non_null(strstr(plain, "Processor: KSTREAM-FILTER-0000000001"));
        assert_non_null(strstr(named, "Processor: keep-even"));
        assert_null(strstr(named, "KSTREAM-FILTER"));
        /* The other steps keep their names. */
        const char *same[] = {"KSTREAM-SOURCE-0000000000",
                              "KSTREAM-MAPVALUES-0000000002",
                              "KSTREAM-SINK-0000000003"};
        for (size_t i = 0; i < 3; i++) {
                assert_non_null(strstr(plain, same[i]));
                assert_non_null(strstr(named, same[i]));
        }
        ks_free(plain);
        ks_free(named);
        /* A long name is kept whole. */
        char lng[301];
        for (size_t i = 0; i < 300; i++)
                lng[i] = (char)('a' + i % 26);
        lng[300] = '\0';
        char *long_named = describe_chain(lng);
        char want[320];
        snprintf(want, sizeof(want), "Processor: %s (stores", lng);
        assert_non_null(strstr(long_named, want));
        ks_free(long_named);
}

static ks_err_t twice(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        (void)r;
        ks_err_t err = ks_emit_value(out, "x", 1);
        return err ? err : ks_emit_value(out, "y", 1);
}

static ks_err_t wrong_emit(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        (void)r;
        return ks_emit(out, "k", 1, "v", 1);
}

static ks_err_t failing(void *o, const ks_record_t *r, ks_emitter_t *out) {
        (void)o;
        (void)r;
        return ks_emitter_set_error(out, "cannot parse %s", "the record");
}

static void expect_pipe_error(ks_mapper_cb *mapper, const char *needle) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {"in"};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(ks_stream_map_values(s, mapper, NULL, "mv"), "out",
                            NULL));
        ks_test_driver_t *d = driver(b, "dsl-errors");
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", "k", 1, "v", 1, 1, NULL, &e), e,
                KS_ERR_PROCESSOR, "mv", needle, NULL);
        ks_test_driver_destroy(d);
        ks_builder_destroy(b);
}

static void test_errors(void **state) {
        (void)state;
        expect_pipe_error(twice, "exactly once");
        expect_pipe_error(wrong_emit, "ks_emit_value()");
        expect_pipe_error(failing, "cannot parse the record");

        /* A bad step: later steps return NULL, build names the first. */
        ks_builder_t *b = ks_builder_new();
        const char *bad[] = {"no spaces allowed"};
        ks_stream_t *s = ks_builder_stream(b, bad, 1, NULL, NULL, NULL);
        assert_null(s);
        assert_null(ks_stream_filter(s, even_value, NULL, NULL));
        assert_int_not_equal(ks_stream_to(s, "out", NULL), KS_ERR_NO_ERROR);
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e, KS_ERR_INVALID_ARG,
                         "no spaces allowed", NULL);
        assert_null(t);
        ks_builder_destroy(b);

        /* NULL callbacks and streams of another builder are refused. */
        b = ks_builder_new();
        ks_builder_t *b2 = ks_builder_new();
        const char *topics[] = {"in"};
        s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        ks_stream_t *other = ks_builder_stream(b2, topics, 1, NULL, NULL, NULL);
        assert_null(ks_stream_merge(s, other, NULL));
        KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e, KS_ERR_INVALID_ARG,
                         "another builder", NULL);
        ks_builder_destroy(b);
        b = ks_builder_new();
        s = ks_builder_stream(b, topics, 1, NULL, NULL, NULL);
        assert_null(ks_stream_map(s, NULL, NULL, NULL));
        KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e, KS_ERR_INVALID_ARG,
                         "mapper", NULL);
        ks_builder_destroy(b);
        ks_builder_destroy(b2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stateless),
                cmocka_unit_test(test_merge_and_split_without_default),
                cmocka_unit_test(test_group_by_key_aggregations),
                cmocka_unit_test(test_group_by_repartition),
                cmocka_unit_test(test_tables),
                cmocka_unit_test(test_stream_table_join),
                cmocka_unit_test(test_table_table_join),
                cmocka_unit_test(test_join_errors),
                cmocka_unit_test(test_table_group_by),
                cmocka_unit_test(test_global_table_join),
                cmocka_unit_test(test_fk_join),
                cmocka_unit_test(test_process_and_repartition),
                cmocka_unit_test(test_print),
                cmocka_unit_test(test_naming),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
