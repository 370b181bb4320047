/* The topology test driver and, through it, the task code: forwarding,
 * metadata, serde handlers, timestamps, punctuation, stores, errors and
 * repartition topics. Every output record is checked exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#define P(...) ((const char *const[]){__VA_ARGS__})

/* --- processors used below -------------------------------------------- */

/* Upper-cases the value; adds header "seen"; records metadata. */
typedef struct {
        char log[2048];
        int inits, closes;
} trace_t;

static ks_err_t upper_init(ks_context_t *ctx, void *opaque, void **statep) {
        trace_t *tr = opaque;
        tr->inits++;
        *statep = tr;
        return KS_ERR_NO_ERROR;
}

static void upper_close(ks_context_t *ctx, void *state) {
        ((trace_t *)state)->closes++;
}

static ks_err_t upper(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        trace_t *tr = state;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        char buf[64];
        size_t kl;
        const void *k = ks_record_key(rec, &kl);
        if (!v)
                return ks_context_forward(ctx, k, kl, NULL, 0);
        for (size_t i = 0; i < vl && i < sizeof(buf); i++)
                buf[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
        size_t len = strlen(tr->log);
        snprintf(tr->log + len, sizeof(tr->log) - len, "%s/%d/%lld/%s/%s;",
                 ks_context_topic(ctx), (int)ks_context_partition(ctx),
                 (long long)ks_context_offset(ctx), ks_context_task_id(ctx),
                 ks_context_processor_name(ctx));
        return ks_context_forward(ctx, k, kl, buf, vl);
}

static void test_forward_metadata_headers(void **state) {
        trace_t tr = {0};
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "upper", upper_init, upper,
                                           upper_close, &tr, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL, P("upper"),
                                      1, &e));
        ks_config_t *c = kst_config("fwd");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        ks_topology_destroy(t); /* the driver keeps its reference */
        assert_int_equal(tr.inits, 1);
        ks_headers_t *h = ks_headers_new();
        KST_OK(ks_headers_add(h, "trace", "42", 2));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k1", 2, "abc", 3, 100, h, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "x", 1, 90, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k3", 2, NULL, 0, 110, NULL, &e));
        ks_headers_destroy(h);
        assert_int_equal(ks_test_driver_output_size(d, "out"), 3);
        /* Headers pass through with the record. */
        ks_test_record_t *r = ks_test_driver_read_output(d, "out");
        const void *hv;
        size_t hl;
        KST_OK(ks_headers_get_last(ks_test_record_headers(r), "trace", &hv,
                                   &hl));
        assert_memory_equal(hv, "42", 2);
        size_t vl;
        assert_memory_equal(ks_test_record_value(r, &vl), "ABC", 3);
        assert_int_equal(ks_test_record_timestamp(r), 100);
        ks_test_record_destroy(r);
        /* Null key, then null value (tombstone), timestamps kept. */
        kst_expect_output(d, "out", NULL, 0, "X", 1, 90);
        kst_expect_output(d, "out", "k3", 2, NULL, 0, 110);
        assert_null(ks_test_driver_read_output(d, "out"));
        assert_string_equal(tr.log, "in/0/0/0_0/upper;in/0/1/0_0/upper;");
        assert_int_equal(ks_test_driver_metric(d, "process-total"), 3);
        assert_int_equal(ks_test_driver_metric(d, "no-such"), -1);
        ks_test_driver_destroy(d);
        assert_int_equal(tr.closes, 1);
        ks_config_destroy(c);
}

/* Routes "a..." values to child "to-a", others to "to-b"; then forwards
 * every value to all children with timestamp + 1000. */
static ks_err_t router(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        ks_err_t err = ks_context_forward_to(ctx, v[0] == 'a' ? "to-a" : "to-b",
                                             NULL, 0, v, vl);
        if (err)
                return err;
        err = ks_context_forward_to(ctx, "no-such-child", NULL, 0, v, vl);
        assert_int_equal(err, KS_ERR_NOT_FOUND);
        return ks_context_forward_record(ctx, NULL, NULL, 0, v, vl,
                                         ks_record_timestamp(rec) + 1000, NULL);
}

static void test_forward_to_child(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "route", NULL, router, NULL, NULL,
                                           P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "to-a", "a", NULL, NULL, P("route"), 1,
                                      &e));
        KST_OK_E(ks_topology_add_sink(t, "to-b", "b", NULL, NULL, P("route"), 1,
                                      &e));
        ks_config_t *c = kst_config("route");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        KST_OK_E(
                ks_test_driver_pipe(d, "in", NULL, 0, "apple", 5, 5, NULL, &e));
        KST_OK_E(
                ks_test_driver_pipe(d, "in", NULL, 0, "berry", 5, 6, NULL, &e));
        kst_expect_output(d, "a", NULL, 0, "apple", 5, 5);
        kst_expect_output(d, "a", NULL, 0, "apple", 5, 1005);
        kst_expect_output(d, "a", NULL, 0, "berry", 5, 1006);
        assert_int_equal(ks_test_driver_output_size(d, "a"), 0);
        kst_expect_output(d, "b", NULL, 0, "apple", 5, 1005);
        kst_expect_output(d, "b", NULL, 0, "berry", 5, 6);
        kst_expect_output(d, "b", NULL, 0, "berry", 5, 1006);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, k, kl, v, vl);
}

static ks_topology_t *int64_pipeline(ks_serde_t *sink_value) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "numbers", P("in"), 1,
                                        ks_serde_string(), ks_serde_int64(),
                                        &e));
        KST_OK_E(ks_topology_add_processor(t, "pass", NULL, pass, NULL, NULL,
                                           P("numbers"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", "out", ks_serde_string(),
                                      sink_value, P("pass"), 1, &e));
        return t;
}

static void test_deserialization_handlers(void **state) {
        ks_error_t *e = NULL;
        uint8_t eight[8];
        ks_int64_encode(7, eight);
        /* log_and_fail (default): the error names source, topic, offset. */
        ks_topology_t *t = int64_pipeline(ks_serde_int64());
        ks_config_t *c = kst_config("deser-fail");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, eight, 8, 1, NULL, &e));
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", "k", 1, "abc", 3, 2, NULL, &e), e,
                KS_ERR_SERDE, "source \"numbers\"", "topic in", "offset 1",
                "value", "int64", "got 3", "log_and_fail");
        /* The driver is still usable. */
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, eight, 8, 3, NULL, &e));
        assert_int_equal(ks_test_driver_output_size(d, "out"), 2);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), 0);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);

        /* log_and_continue: skipped, counted, logged. */
        c = kst_config("deser-continue");
        kst_set(c, "default.deserialization.exception.handler",
                "log_and_continue");
        d = ks_test_driver_new(t, c, 0, &e);
        kst_log_clear();
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, "abc", 3, 2, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, eight, 8, 3, NULL, &e));
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), 1);
        assert_true(kst_log_contains("log_and_continue"));
        assert_true(kst_log_contains("source \"numbers\""));
        kst_expect_output(d, "out", "k", 1, eight, 8, 3);
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

static void test_sink_serde_mismatch(void **state) {
        ks_error_t *e = NULL;
        /* The processor passes int64 bytes to a sink declared int32. */
        ks_topology_t *t = int64_pipeline(ks_serde_int32());
        ks_config_t *c = kst_config("sink-serde");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        uint8_t eight[8];
        ks_int64_encode(7, eight);
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", "k", 1, eight, 8, 1, NULL, &e), e,
                KS_ERR_SERDE, "sink \"out-sink\"", "topic out", "value",
                "int32");
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

static int64_t ts_from_value(void *opaque, const char *topic, int32_t p,
                             const void *k, size_t kl, const void *v, size_t vl,
                             int64_t record_ts, int64_t partition_time) {
        /* Value "ts=<n>" carries the event time; others are invalid. */
        if (vl > 3 && !memcmp(v, "ts=", 3))
                return strtoll((const char *)v + 3, NULL, 10);
        return -1;
}

static void test_timestamps(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "pass", NULL, pass, NULL, NULL,
                                           P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL, P("pass"),
                                      1, &e));
        /* Default: fail on a negative timestamp. */
        ks_config_t *c = kst_config("ts");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", NULL, 0, "v", 1, -1, NULL, &e), e,
                KS_ERR_TIMESTAMP, "invalid timestamp -1", "in [0]",
                "fail_on_invalid_timestamp");
        ks_test_driver_destroy(d);
        /* use_previous: the partition's latest timestamp. */
        kst_set(c, "default.timestamp.extractor",
                "use_previous_on_invalid_timestamp");
        d = ks_test_driver_new(t, c, 0, &e);
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", NULL, 0, "v", 1, -5, NULL, &e), e,
                KS_ERR_TIMESTAMP, "no previous timestamp");
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "a", 1, 50, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "b", 1, -5, NULL, &e));
        kst_expect_output(d, "out", NULL, 0, "a", 1, 50);
        kst_expect_output(d, "out", NULL, 0, "b", 1, 50);
        ks_test_driver_destroy(d);
        /* log_and_skip. */
        kst_set(c, "default.timestamp.extractor",
                "log_and_skip_on_invalid_timestamp");
        d = ks_test_driver_new(t, c, 0, &e);
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "b", 1, -5, NULL, &e));
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), 1);
        ks_test_driver_destroy(d);
        /* wall_clock: the (mocked) wall clock. */
        kst_set(c, "default.timestamp.extractor", "wall_clock");
        d = ks_test_driver_new(t, c, 777, &e);
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "w", 1, 5, NULL, &e));
        kst_expect_output(d, "out", NULL, 0, "w", 1, 777);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);

        /* A custom extractor; its negative result skips the record. */
        t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_source_set_timestamp_extractor(
                t, "src", ts_from_value, NULL, &e));
        KST_ASSERT_ERROR(ks_topology_source_set_timestamp_extractor(
                                 t, "nope", ts_from_value, NULL, &e),
                         e, KS_ERR_NOT_FOUND, "no source named \"nope\"");
        KST_OK_E(ks_topology_add_processor(t, "pass", NULL, pass, NULL, NULL,
                                           P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL, P("pass"),
                                      1, &e));
        d = ks_test_driver_new(t, c, 0, &e);
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "ts=1234", 7, 1, NULL,
                                     &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "nots", 4, 1, NULL, &e));
        kst_expect_output(d, "out", NULL, 0, "ts=1234", 7, 1234);
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), 1);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Punctuation: writes "<type>@<time>" to its sink. */
typedef struct {
        ks_punctuation_t *wall;
        int cancel_after;
        int wall_fired;
} punct_t;

static ks_err_t on_stream(ks_context_t *ctx, int64_t ts, void *opaque) {
        char v[32];
        int n = snprintf(v, sizeof(v), "stream@%lld", (long long)ts);
        return ks_context_forward(ctx, NULL, 0, v, (size_t)n);
}

static ks_err_t on_wall(ks_context_t *ctx, int64_t ts, void *opaque) {
        punct_t *p = opaque;
        char v[32];
        int n = snprintf(v, sizeof(v), "wall@%lld", (long long)ts);
        if (++p->wall_fired == p->cancel_after)
                ks_punctuation_cancel(p->wall);
        assert_null(ks_context_topic(ctx));
        assert_int_equal(ks_context_offset(ctx), -1);
        return ks_context_forward(ctx, NULL, 0, v, (size_t)n);
}

static ks_err_t punct_init(ks_context_t *ctx, void *opaque, void **statep) {
        punct_t *p = opaque;
        KST_OK(ks_context_schedule(ctx, 10, KS_PUNCTUATE_STREAM_TIME, on_stream,
                                   p, NULL));
        KST_OK(ks_context_schedule(ctx, 100, KS_PUNCTUATE_WALL_CLOCK_TIME,
                                   on_wall, p, &p->wall));
        assert_int_equal(ks_context_schedule(ctx, 0, KS_PUNCTUATE_STREAM_TIME,
                                             on_stream, p, NULL),
                         KS_ERR_INVALID_ARG);
        return KS_ERR_NO_ERROR;
}

static ks_err_t drop(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        return KS_ERR_NO_ERROR;
}

static void expect_out(ks_test_driver_t *d, const char *want, int64_t ts) {
        kst_expect_output(d, "out", NULL, 0, want, strlen(want), ts);
}

static void test_punctuation(void **state) {
        ks_error_t *e = NULL;
        punct_t p = {.cancel_after = 3};
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "punct", punct_init, drop, NULL,
                                           &p, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL, P("punct"),
                                      1, &e));
        ks_config_t *c = kst_config("punct");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 1000, &e);
        /* Stream time: first record fires at once (schedule aligned to 0),
         * then once per crossing of a multiple of 10, never twice for one
         * advance, never for a record that does not advance time. */
        int64_t inputs[] = {3, 5, 10, 9, 35, 36, 40};
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
                KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "x", 1,
                                             inputs[i], NULL, &e));
        expect_out(d, "stream@3", 3);
        expect_out(d, "stream@10", 10);
        expect_out(d, "stream@35", 35);
        expect_out(d, "stream@40", 40);
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        /* Wall clock: every 100 ms from 1000; a jump of 250 fires once. */
        KST_OK_E(ks_test_driver_advance_wall_clock(d, 99, &e));
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        KST_OK_E(ks_test_driver_advance_wall_clock(d, 1, &e));
        expect_out(d, "wall@1100", 1100);
        KST_OK_E(ks_test_driver_advance_wall_clock(d, 250, &e));
        expect_out(d, "wall@1350", 1350);
        KST_OK_E(ks_test_driver_advance_wall_clock(d, 50, &e));
        expect_out(d, "wall@1400", 1400); /* third: cancels itself */
        KST_OK_E(ks_test_driver_advance_wall_clock(d, 1000, &e));
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        assert_int_equal(ks_test_driver_wall_clock(d), 2400);
        KST_ASSERT_ERROR(ks_test_driver_advance_wall_clock(d, -1, &e), e,
                         KS_ERR_INVALID_ARG, "forward");
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Counts values per key in store "counts"; asks for an unconnected store. */
static ks_err_t counter(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        ks_kv_store_t *s, *other;
        KST_OK(ks_context_get_kv_store(ctx, "counts", &s));
        assert_int_equal(ks_context_get_kv_store(ctx, "other", &other),
                         KS_ERR_STORE_NOT_CONNECTED);
        assert_int_equal(ks_context_get_kv_store(ctx, "ghost", &other),
                         KS_ERR_NOT_FOUND);
        size_t kl;
        const void *k = ks_record_key(rec, &kl);
        const void *v;
        size_t vl;
        int64_t n = 0;
        if (!ks_kv_store_get(s, k, kl, &v, &vl))
                KST_OK(ks_int64_decode(v, vl, &n, NULL));
        uint8_t b[8];
        ks_int64_encode(n + 1, b);
        KST_OK(ks_kv_store_put(s, k, kl, b, 8));
        if (n + 1 == 3)
                return ks_context_set_error(ctx, "key reached %d", 3);
        return ks_context_forward(ctx, k, kl, b, 8);
}

static void test_stores_and_processor_errors(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "counter", NULL, counter, NULL,
                                           NULL, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_processor(t, "other-user", NULL, drop, NULL,
                                           NULL, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, ks_serde_int64(),
                                      P("counter"), 1, &e));
        KST_OK_E(
                ks_topology_add_kv_store(t, "counts", KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_add_kv_store(t, "other", KS_STORE_IN_MEMORY, 0,
                                          &e));
        KST_OK_E(ks_topology_connect_store(t, "counts", "counter", &e));
        KST_OK_E(ks_topology_connect_store(t, "other", "other-user", &e));
        ks_config_t *c = kst_config("stores");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        KST_OK_E(ks_test_driver_pipe(d, "in", "a", 1, "", 0, 1, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "a", 1, "", 0, 2, NULL, &e));
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", "a", 1, "", 0, 3, NULL, &e), e,
                KS_ERR_PROCESSOR, "processor \"counter\"", "task 0_0",
                "key reached 3");
        uint8_t one[8], two[8];
        ks_int64_encode(1, one);
        ks_int64_encode(2, two);
        kst_expect_output(d, "out", "a", 1, one, 8, 1);
        kst_expect_output(d, "out", "a", 1, two, 8, 2);
        ks_kv_store_t *s;
        KST_OK(ks_test_driver_get_kv_store(d, "counts", &s));
        const void *v;
        size_t vl;
        KST_OK(ks_kv_store_get(s, "a", 1, &v, &vl));
        int64_t n;
        KST_OK(ks_int64_decode(v, vl, &n, NULL));
        assert_int_equal(n, 3); /* the failed record's write is visible */
        assert_int_equal(ks_test_driver_get_kv_store(d, "ghost", &s),
                         KS_ERR_NOT_FOUND);
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "nope", "a", 1, "", 0, 3, NULL, &e), e,
                KS_ERR_NOT_FOUND, "\"nope\"", "not read by any");
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Counts records per key in 10 ms tumbling windows of window store "wins";
 * asks for each of its stores as the wrong type. */
static ks_err_t windowed(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        ks_window_store_t *ws, *bad_ws;
        ks_kv_store_t *bad_kv;
        KST_OK(ks_context_get_window_store(ctx, "wins", &ws));
        kst_log_clear();
        assert_int_equal(ks_context_get_kv_store(ctx, "wins", &bad_kv),
                         KS_ERR_STORE_TYPE);
        assert_true(kst_log_contains("asked for store \"wins\" as a "
                                     "key-value store, but it is a window "
                                     "store"));
        assert_int_equal(ks_context_get_window_store(ctx, "plain", &bad_ws),
                         KS_ERR_STORE_TYPE);
        assert_true(kst_log_contains("asked for store \"plain\" as a window "
                                     "store, but it is a key-value store"));
        size_t kl;
        const void *k = ks_record_key(rec, &kl);
        int64_t ts = ks_record_timestamp(rec);
        int64_t start = ts - ts % 10;
        const void *v;
        size_t vl;
        int64_t n = 0;
        if (!ks_window_store_fetch(ws, k, kl, start, &v, &vl))
                KST_OK(ks_int64_decode(v, vl, &n, NULL));
        uint8_t b[8];
        ks_int64_encode(n + 1, b);
        return ks_window_store_put(ws, k, kl, start, b, 8);
}

static void test_window_store_and_wrong_store_type(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "windowed", NULL, windowed, NULL,
                                           NULL, P("src"), 1, &e));
        KST_ASSERT_ERROR(ks_topology_add_window_store(t, "w0", KS_STORE_ROCKSDB,
                                                      100, 0, 0, &e),
                         e, KS_ERR_INVALID_ARG, "\"w0\"", "window size 0");
        KST_ASSERT_ERROR(ks_topology_add_window_store(t, "w1", KS_STORE_ROCKSDB,
                                                      5, 10, 0, &e),
                         e, KS_ERR_INVALID_ARG, "\"w1\"", "retention 5 ms",
                         "shorter than the window size 10 ms");
        KST_OK_E(ks_topology_add_window_store(t, "wins", KS_STORE_ROCKSDB,
                                              100000, 10, 0, &e));
        KST_OK_E(ks_topology_add_kv_store(t, "plain", KS_STORE_IN_MEMORY, 0,
                                          &e));
        KST_OK_E(ks_topology_connect_store(t, "wins", "windowed", &e));
        KST_OK_E(ks_topology_connect_store(t, "plain", "windowed", &e));
        ks_config_t *c = kst_config("windowed");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        /* Independent count per (key, window) over a fixed input. */
        static const char *keys[] = {"x", "y", "x", "x", "y", "x", "y", "y"};
        static const int64_t ts[] = {1, 3, 9, 10, 15, 19, 27, 4};
        int expect[2][3] = {{0}};
        for (size_t i = 0; i < 8; i++) {
                KST_OK_E(ks_test_driver_pipe(d, "in", keys[i], 1, "", 0, ts[i],
                                             NULL, &e));
                expect[keys[i][0] - 'x'][ts[i] / 10]++;
        }
        ks_window_store_t *ws;
        ks_kv_store_t *kv;
        KST_OK(ks_test_driver_get_window_store(d, "wins", &ws));
        assert_int_equal(ks_test_driver_get_kv_store(d, "wins", &kv),
                         KS_ERR_STORE_TYPE);
        assert_int_equal(ks_test_driver_get_window_store(d, "plain", &ws),
                         KS_ERR_STORE_TYPE);
        KST_OK(ks_test_driver_get_window_store(d, "wins", &ws));
        for (int k = 0; k < 2; k++) {
                char key = (char)('x' + k);
                for (int w = 0; w < 3; w++) {
                        const void *v;
                        size_t vl;
                        ks_err_t err = ks_window_store_fetch(ws, &key, 1,
                                                             w * 10, &v, &vl);
                        if (!expect[k][w]) {
                                assert_int_equal(err, KS_ERR_NOT_FOUND);
                                continue;
                        }
                        KST_OK(err);
                        int64_t n;
                        KST_OK(ks_int64_decode(v, vl, &n, NULL));
                        assert_int_equal(n, expect[k][w]);
                }
        }
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Counts records per key in sessions of inactivity gap 10 in session
 * store "sess" (merging the sessions a record bridges); asks for stores as
 * the wrong type. */
#define SESSION_GAP 10
static ks_err_t sessionize(ks_context_t *ctx, const ks_record_t *rec,
                           void *st) {
        ks_session_store_t *ss, *bad_ss;
        ks_window_store_t *bad_ws;
        KST_OK(ks_context_get_session_store(ctx, "sess", &ss));
        kst_log_clear();
        assert_int_equal(ks_context_get_window_store(ctx, "sess", &bad_ws),
                         KS_ERR_STORE_TYPE);
        assert_true(kst_log_contains("asked for store \"sess\" as a window "
                                     "store, but it is a session store"));
        assert_int_equal(ks_context_get_session_store(ctx, "plain", &bad_ss),
                         KS_ERR_STORE_TYPE);
        assert_true(kst_log_contains("asked for store \"plain\" as a session "
                                     "store, but it is a key-value store"));
        assert_int_equal(ks_context_get_session_store(ctx, "ghost", &bad_ss),
                         KS_ERR_NOT_FOUND);
        size_t kl;
        const void *k = ks_record_key(rec, &kl);
        int64_t ts = ks_record_timestamp(rec);
        ks_session_iter_t *it;
        KST_OK(ks_session_store_find_sessions(ss, k, kl, ts - SESSION_GAP,
                                              ts + SESSION_GAP, &it));
        int64_t start = ts, end = ts, n = 1, merged[16][2];
        size_t cnt = 0;
        int64_t s, e, c;
        const void *v;
        size_t vl;
        while (ks_session_iter_next(it, NULL, NULL, &s, &e, &v, &vl)) {
                KST_OK(ks_int64_decode(v, vl, &c, NULL));
                n += c;
                start = s < start ? s : start;
                end = e > end ? e : end;
                merged[cnt][0] = s;
                merged[cnt++][1] = e;
        }
        KST_OK(ks_session_iter_error(it));
        ks_session_iter_destroy(it);
        for (size_t i = 0; i < cnt; i++)
                KST_OK(ks_session_store_remove(ss, k, kl, merged[i][0],
                                               merged[i][1]));
        uint8_t b[8];
        ks_int64_encode(n, b);
        return ks_session_store_put(ss, k, kl, start, end, b, 8);
}

static void test_session_store_and_wrong_store_type(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "sessionize", NULL, sessionize,
                                           NULL, NULL, P("src"), 1, &e));
        KST_ASSERT_ERROR(ks_topology_add_session_store(
                                 t, "s0", KS_STORE_ROCKSDB, 0, 0, &e),
                         e, KS_ERR_INVALID_ARG, "\"s0\"", "retention 0 ms");
        KST_ASSERT_ERROR(
                ks_topology_add_session_store(t, "s1", KS_STORE_ROCKSDB, 1000,
                                              KS_STORE_F_RETAIN_DUPLICATES, &e),
                e, KS_ERR_INVALID_ARG, "\"s1\"",
                "only a window store can retain duplicates");
        KST_OK_E(ks_topology_add_session_store(t, "sess", KS_STORE_ROCKSDB,
                                               100000, 0, &e));
        KST_OK_E(ks_topology_add_kv_store(t, "plain", KS_STORE_IN_MEMORY, 0,
                                          &e));
        KST_OK_E(ks_topology_connect_store(t, "sess", "sessionize", &e));
        KST_OK_E(ks_topology_connect_store(t, "plain", "sessionize", &e));
        ks_config_t *c = kst_config("sessions");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        /* Out of order within a gap; x's 15 bridges [1, 9] and [21, 24]. */
        static const char *keys[] = {"x", "y", "x", "x", "y",
                                     "x", "x", "y", "x", "y"};
        static const int64_t ts[] = {1, 3, 9, 24, 40, 21, 15, 45, 60, 100};
        for (size_t i = 0; i < 10; i++)
                KST_OK_E(ks_test_driver_pipe(d, "in", keys[i], 1, "", 0, ts[i],
                                             NULL, &e));
        ks_session_store_t *ss;
        ks_kv_store_t *kv;
        KST_OK(ks_test_driver_get_session_store(d, "sess", &ss));
        assert_int_equal(ks_test_driver_get_kv_store(d, "sess", &kv),
                         KS_ERR_STORE_TYPE);
        assert_int_equal(ks_test_driver_get_session_store(d, "plain", &ss),
                         KS_ERR_STORE_TYPE);
        assert_int_equal(ks_test_driver_get_session_store(d, "ghost", &ss),
                         KS_ERR_NOT_FOUND);
        KST_OK(ks_test_driver_get_session_store(d, "sess", &ss));
        /* Each key's timestamps sorted, cut where two are more than the
         * gap apart: x 1 9 15 21 24 | 60; y 3 | 40 45 | 100. */
        static const struct {
                const char *key;
                int64_t start, end, count;
        } want[] = {{"x", 1, 24, 5},
                    {"x", 60, 60, 1},
                    {"y", 3, 3, 1},
                    {"y", 40, 45, 2},
                    {"y", 100, 100, 1}};
        ks_session_iter_t *it;
        KST_OK(ks_session_store_all(ss, &it));
        const void *k, *v;
        size_t kl, vl;
        int64_t s, en, n;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                assert_true(
                        ks_session_iter_next(it, &k, &kl, &s, &en, &v, &vl));
                assert_int_equal(kl, 1);
                assert_memory_equal(k, want[i].key, 1);
                assert_int_equal(s, want[i].start);
                assert_int_equal(en, want[i].end);
                KST_OK(ks_int64_decode(v, vl, &n, NULL));
                assert_int_equal(n, want[i].count);
        }
        assert_false(ks_session_iter_next(it, &k, &kl, &s, &en, &v, &vl));
        ks_session_iter_destroy(it);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Keeps per key the value of the record with the latest timestamp in
 * timestamped store "latest" (an older record changes nothing) and
 * forwards the row kept, at its timestamp; counts records per key in the
 * in-memory timestamped store "mem". Asks for stores as the wrong type. */
static ks_err_t keep_latest(ks_context_t *ctx, const ks_record_t *rec,
                            void *st) {
        ks_timestamped_kv_store_t *ts, *mem, *bad_ts;
        ks_kv_store_t *bad_kv;
        ks_window_store_t *bad_ws;
        KST_OK(ks_context_get_timestamped_kv_store(ctx, "latest", &ts));
        KST_OK(ks_context_get_timestamped_kv_store(ctx, "mem", &mem));
        kst_log_clear();
        assert_int_equal(ks_context_get_kv_store(ctx, "latest", &bad_kv),
                         KS_ERR_STORE_TYPE);
        assert_true(kst_log_contains("asked for store \"latest\" as a "
                                     "key-value store, but it is a "
                                     "timestamped key-value store"));
        assert_int_equal(ks_context_get_window_store(ctx, "latest", &bad_ws),
                         KS_ERR_STORE_TYPE);
        assert_int_equal(
                ks_context_get_timestamped_kv_store(ctx, "plain", &bad_ts),
                KS_ERR_STORE_TYPE);
        assert_true(kst_log_contains("asked for store \"plain\" as a "
                                     "timestamped key-value store, but it "
                                     "is a key-value store"));
        assert_int_equal(
                ks_context_get_timestamped_kv_store(ctx, "ghost", &bad_ts),
                KS_ERR_NOT_FOUND);
        assert_int_equal(
                ks_context_get_timestamped_kv_store(ctx, "latest", NULL),
                KS_ERR_INVALID_ARG);
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        int64_t t = ks_record_timestamp(rec);
        const void *old;
        size_t ol;
        int64_t ot, n = 0;
        if (!ks_timestamped_kv_store_get(mem, k, kl, &old, &ol, &ot))
                KST_OK(ks_int64_decode(old, ol, &n, NULL));
        uint8_t b[8];
        ks_int64_encode(n + 1, b);
        KST_OK(ks_timestamped_kv_store_put(mem, k, kl, b, 8, t));
        ks_err_t err = ks_timestamped_kv_store_get(ts, k, kl, &old, &ol, &ot);
        if (err == KS_ERR_NOT_FOUND || (!err && t >= ot)) {
                KST_OK(ks_timestamped_kv_store_put(ts, k, kl, v, vl, t));
                KST_OK(ks_timestamped_kv_store_get(ts, k, kl, &old, &ol, &ot));
        } else {
                KST_OK(err);
        }
        return ks_context_forward_record(ctx, NULL, k, kl, old, ol, ot, NULL);
}

static void test_timestamped_store_and_wrong_store_type(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "latest-p", NULL, keep_latest,
                                           NULL, NULL, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL,
                                      P("latest-p"), 1, &e));
        KST_ASSERT_ERROR(ks_topology_add_timestamped_kv_store(
                                 t, "t0", KS_STORE_ROCKSDB,
                                 KS_STORE_F_RETAIN_DUPLICATES, &e),
                         e, KS_ERR_INVALID_ARG, "\"t0\"",
                         "only a window store can retain duplicates");
        KST_ASSERT_ERROR(ks_topology_add_timestamped_kv_store(
                                 t, "t 1", KS_STORE_ROCKSDB, 0, &e),
                         e, KS_ERR_INVALID_ARG, "t 1");
        KST_OK_E(ks_topology_add_timestamped_kv_store(t, "latest",
                                                      KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_add_timestamped_kv_store(
                t, "mem", KS_STORE_IN_MEMORY, KS_STORE_F_LOGGING_DISABLED, &e));
        KST_ASSERT_ERROR(ks_topology_add_timestamped_kv_store(
                                 t, "mem", KS_STORE_ROCKSDB, 0, &e),
                         e, KS_ERR_TOPOLOGY, "\"mem\"", "already exists");
        KST_OK_E(ks_topology_add_kv_store(t, "plain", KS_STORE_IN_MEMORY, 0,
                                          &e));
        KST_OK_E(ks_topology_connect_store(t, "latest", "latest-p", &e));
        KST_OK_E(ks_topology_connect_store(t, "mem", "latest-p", &e));
        KST_OK_E(ks_topology_connect_store(t, "plain", "latest-p", &e));
        char *desc = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        assert_non_null(strstr(desc, "    Processor: latest-p (stores: "
                                     "[latest, mem, plain])\n"));
        assert_non_null(
                strstr(desc, "   Timestamped key-value store: latest\n"));
        assert_non_null(strstr(desc, "   Timestamped key-value store: mem\n"));
        assert_null(strstr(desc, "store: plain"));
        ks_free(desc);
        ks_config_t *c = kst_config("timestamped");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        /* Out of order: an older record leaves the row as it is. */
        static const struct {
                const char *key, *value;
                int64_t ts;
        } in[] = {{"x", "x1", 10}, {"y", "y1", 20}, {"x", "x0", 5},
                  {"x", "x2", 30}, {"y", "y0", 15}, {"y", "y2", 20}};
        const char *want_v[2] = {NULL, NULL};
        int64_t want_ts[2] = {-1, -1}, count[2] = {0, 0};
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                KST_OK_E(ks_test_driver_pipe(d, "in", in[i].key, 1, in[i].value,
                                             2, in[i].ts, NULL, &e));
                int j = in[i].key[0] - 'x';
                count[j]++;
                if (in[i].ts >= want_ts[j]) {
                        want_v[j] = in[i].value;
                        want_ts[j] = in[i].ts;
                }
                kst_expect_output(d, "out", in[i].key, 1, want_v[j], 2,
                                  want_ts[j]);
        }
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        ks_timestamped_kv_store_t *ts;
        ks_kv_store_t *kv;
        ks_window_store_t *ws;
        assert_int_equal(ks_test_driver_get_kv_store(d, "latest", &kv),
                         KS_ERR_STORE_TYPE);
        assert_int_equal(ks_test_driver_get_window_store(d, "mem", &ws),
                         KS_ERR_STORE_TYPE);
        assert_int_equal(
                ks_test_driver_get_timestamped_kv_store(d, "plain", &ts),
                KS_ERR_STORE_TYPE);
        assert_int_equal(
                ks_test_driver_get_timestamped_kv_store(d, "ghost", &ts),
                KS_ERR_NOT_FOUND);
        assert_int_equal(
                ks_test_driver_get_timestamped_kv_store(d, "mem", NULL),
                KS_ERR_INVALID_ARG);
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "latest", &ts));
        assert_string_equal(ks_timestamped_kv_store_name(ts), "latest");
        ks_timestamped_kv_iter_t *it;
        KST_OK(ks_timestamped_kv_store_all(ts, &it));
        const void *k, *v;
        size_t kl, vl;
        int64_t t2;
        for (int j = 0; j < 2; j++) {
                assert_true(
                        ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t2));
                assert_int_equal(kl, 1);
                assert_int_equal(*(const char *)k, 'x' + j);
                assert_int_equal(vl, 2);
                assert_memory_equal(v, want_v[j], 2);
                assert_int_equal(t2, want_ts[j]);
        }
        assert_false(ks_timestamped_kv_iter_next(it, &k, &kl, &v, &vl, &t2));
        KST_OK(ks_timestamped_kv_iter_error(it));
        ks_timestamped_kv_iter_destroy(it);
        /* The in-memory store: a count per key, stamped with the last
         * record's timestamp. */
        KST_OK(ks_test_driver_get_timestamped_kv_store(d, "mem", &ts));
        for (int j = 0; j < 2; j++) {
                char key = (char)('x' + j);
                int64_t n;
                KST_OK(ks_timestamped_kv_store_get(ts, &key, 1, &v, &vl, &t2));
                KST_OK(ks_int64_decode(v, vl, &n, NULL));
                assert_int_equal(n, count[j]);
                assert_int_equal(t2, j ? 20 : 30);
        }
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static ks_err_t failing_init(ks_context_t *ctx, void *o, void **statep) {
        return ks_context_set_error(ctx, "missing setting %s", "x");
}

static void test_init_failure(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "bad", failing_init, drop, NULL,
                                           NULL, P("src"), 1, &e));
        ks_config_t *c = kst_config("init-fail");
        assert_null(ks_test_driver_new(t, c, 0, &e));
        KST_ASSERT_ERROR(KS_ERR_PROCESSOR, e, KS_ERR_PROCESSOR,
                         "processor \"bad\"", "initialize",
                         "missing setting x");
        /* An invalid topology is reported by the driver too. */
        ks_topology_t *bad = ks_topology_new();
        KST_OK_E(
                ks_topology_add_source(bad, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(bad, "p", NULL, drop, NULL, NULL,
                                           P("missing"), 1, &e));
        assert_null(ks_test_driver_new(bad, c, 0, &e));
        KST_ASSERT_ERROR(KS_ERR_TOPOLOGY, e, KS_ERR_TOPOLOGY,
                         "unknown parent \"missing\"");
        ks_topology_destroy(bad);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Re-key by value through topic "by-value", then count in a second
 * sub-topology, as a repartition would. */
static ks_err_t rekey(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        size_t vl;
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, v, vl, v, vl);
}

static void test_repartition_topic(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "rekey", NULL, rekey, NULL, NULL,
                                           P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "to-repart", "by-value", NULL, NULL,
                                      P("rekey"), 1, &e));
        KST_OK_E(ks_topology_add_source(t, "from-repart", P("by-value"), 1,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "counter", NULL, counter, NULL,
                                           NULL, P("from-repart"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL,
                                      P("counter"), 1, &e));
        KST_OK_E(ks_topology_add_kv_store(t, "counts", KS_STORE_IN_MEMORY, 0,
                                          &e));
        KST_OK_E(ks_topology_add_kv_store(t, "other", KS_STORE_IN_MEMORY,
                                          KS_STORE_F_LOGGING_DISABLED, &e));
        KST_OK_E(ks_topology_connect_store(t, "counts", "counter", &e));
        KST_OK_E(ks_topology_connect_store(t, "other", "rekey", &e));
        assert_int_equal(ks_topology_subtopology_count(t), 2);
        ks_config_t *c = kst_config("repart");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        KST_OK_E(ks_test_driver_pipe(d, "in", "1", 1, "x", 1, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "2", 1, "y", 1, 11, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "3", 1, "x", 1, 12, NULL, &e));
        uint8_t one[8], two[8];
        ks_int64_encode(1, one);
        ks_int64_encode(2, two);
        kst_expect_output(d, "out", "x", 1, one, 8, 10);
        kst_expect_output(d, "out", "y", 1, one, 8, 11);
        kst_expect_output(d, "out", "x", 1, two, 8, 12);
        assert_int_equal(ks_test_driver_output_size(d, "by-value"), 3);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_forward_metadata_headers),
                cmocka_unit_test(test_forward_to_child),
                cmocka_unit_test(test_deserialization_handlers),
                cmocka_unit_test(test_sink_serde_mismatch),
                cmocka_unit_test(test_timestamps),
                cmocka_unit_test(test_punctuation),
                cmocka_unit_test(test_stores_and_processor_errors),
                cmocka_unit_test(test_window_store_and_wrong_store_type),
                cmocka_unit_test(test_session_store_and_wrong_store_type),
                cmocka_unit_test(test_timestamped_store_and_wrong_store_type),
                cmocka_unit_test(test_init_failure),
                cmocka_unit_test(test_repartition_topic),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
