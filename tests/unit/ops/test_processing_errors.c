/* The processing-error handler and the dead-letter queue through the
 * topology test driver: processor, DSL, sink and punctuator errors under
 * log_and_fail, log_and_continue and a custom handler; what the handler is
 * told; the dead-letter records of deserialization and processing errors,
 * byte for byte and header by header, against an expectation computed from
 * the input alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#define P(...) ((const char *const[]){__VA_ARGS__})

/* The library's bound on the message header (KS_DLQ_MESSAGE_MAX). */
#define MESSAGE_MAX 1024

/* --- processors ----------------------------------------------------------- */

/* Fails on values starting with "bad", after forwarding those that start
 * with "bad-fwd" (partial output); forwards the others. */
static ks_err_t check(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)st;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const char *v = ks_record_value(rec, &vl);
        if (v && vl >= 3 && !memcmp(v, "bad", 3)) {
                if (vl >= 7 && !memcmp(v, "bad-fwd", 7)) {
                        ks_err_t err = ks_context_forward(ctx, k, kl, v, vl);
                        if (err)
                                return err;
                }
                return ks_context_set_error(ctx, "rejected %.*s", (int)vl, v);
        }
        return ks_context_forward(ctx, k, kl, v, vl);
}

static ks_topology_t *check_topology(void) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "check", NULL, check, NULL, NULL,
                                           P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", "out", NULL, NULL,
                                      P("check"), 1, &e));
        return t;
}

static int is_bad(const char *v) {
        return !strncmp(v, "bad", 3);
}

static const char *const inputs[] = {"a", "bad1", "b",   "bad2",
                                     "c", "d",    "bad3"};
#define INPUTS (sizeof(inputs) / sizeof(inputs[0]))

static void pipe_inputs(ks_test_driver_t *d) {
        ks_error_t *e = NULL;
        for (size_t i = 0; i < INPUTS; i++) {
                char key[8];
                snprintf(key, sizeof(key), "k%zu", i);
                KST_OK_E(ks_test_driver_pipe(d, "in", key, strlen(key),
                                             inputs[i], strlen(inputs[i]),
                                             (int64_t)(100 + i), NULL, &e));
        }
}

/* The output must be exactly the inputs that are not bad, in order. */
static void expect_good_outputs(ks_test_driver_t *d) {
        for (size_t i = 0; i < INPUTS; i++) {
                if (is_bad(inputs[i]))
                        continue;
                char key[8];
                snprintf(key, sizeof(key), "k%zu", i);
                kst_expect_output(d, "out", key, strlen(key), inputs[i],
                                  strlen(inputs[i]), (int64_t)(100 + i));
        }
        assert_null(ks_test_driver_read_output(d, "out"));
}

static size_t bad_count(void) {
        size_t n = 0;
        for (size_t i = 0; i < INPUTS; i++)
                n += is_bad(inputs[i]);
        return n;
}

/* --- log_and_continue, log_and_fail -------------------------------------- */

static void test_log_and_continue(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = check_topology();
        ks_config_t *c = kst_config("perr-continue");
        kst_set(c, "processing.exception.handler", "log_and_continue");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        kst_log_clear();
        pipe_inputs(d);
        expect_good_outputs(d);
        int64_t bad = (int64_t)bad_count();
        assert_int_equal(
                ks_test_driver_metric(d, "dropped-records-processing-error"),
                bad);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), bad);
        assert_int_equal(
                ks_test_driver_metric(d, "dropped-records-deserialization"), 0);
        assert_int_equal(ks_test_driver_metric(d, "dlq-records"), 0);
        assert_int_equal(ks_test_driver_metric(d, "process-total"), INPUTS);
        assert_true(kst_log_contains("rejected bad2"));
        assert_true(kst_log_contains("log_and_continue"));
        /* No dead-letter queue configured: nothing written anywhere else. */
        assert_int_equal(ks_test_driver_output_size(d, "dlq"), 0);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

static void test_log_and_fail(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = check_topology();
        /* The default, then the same set explicitly. */
        for (int explicit = 0; explicit < 2; explicit ++) {
                ks_config_t *c = kst_config("perr-fail");
                if (explicit)
                        kst_set(c, "processing.exception.handler",
                                "log_and_fail");
                ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
                assert_non_null(d);
                KST_OK_E(ks_test_driver_pipe(d, "in", "k0", 2, "a", 1, 1, NULL,
                                             &e));
                KST_ASSERT_ERROR(ks_test_driver_pipe(d, "in", "k1", 2, "bad1",
                                                     4, 2, NULL, &e),
                                 e, KS_ERR_PROCESSOR, "processor \"check\"",
                                 "rejected bad1");
                kst_expect_output(d, "out", "k0", 2, "a", 1, 1);
                assert_null(ks_test_driver_read_output(d, "out"));
                assert_int_equal(ks_test_driver_metric(
                                         d, "dropped-records-processing-error"),
                                 0);
                assert_int_equal(ks_test_driver_metric(d, "dropped-records"),
                                 0);
                ks_test_driver_destroy(d);
                ks_config_destroy(c);
        }
        ks_topology_destroy(t);
}

/* --- a custom handler ----------------------------------------------------- */

#define MAX_CALLS 16

typedef struct {
        char topic[32], processor[32], task[16], key[16], value[32], hdr[16];
        int has_topic, has_key, has_value;
        int32_t partition;
        int64_t offset, timestamp;
        ks_err_t code;
        char message[256];
} call_t;

typedef struct {
        call_t calls[MAX_CALLS];
        int cnt;
        const char *fail_on; /* value that gets FAIL */
} seen_t;

static void copy_bytes(char *dst, size_t cap, const void *src, size_t n) {
        if (n >= cap)
                n = cap - 1;
        memcpy(dst, src, n);
        dst[n] = 0;
}

static ks_handler_response_t record_call(void *opaque,
                                         const ks_error_context_t *ctx,
                                         const ks_error_t *error) {
        seen_t *s = opaque;
        assert_true(s->cnt < MAX_CALLS);
        call_t *c = &s->calls[s->cnt++];
        const char *topic = ks_error_context_topic(ctx);
        c->has_topic = topic != NULL;
        snprintf(c->topic, sizeof(c->topic), "%s", topic ? topic : "");
        const char *proc = ks_error_context_processor(ctx);
        snprintf(c->processor, sizeof(c->processor), "%s", proc ? proc : "");
        snprintf(c->task, sizeof(c->task), "%s", ks_error_context_task_id(ctx));
        c->partition = ks_error_context_partition(ctx);
        c->offset = ks_error_context_offset(ctx);
        c->timestamp = ks_error_context_timestamp(ctx);
        size_t kl, vl;
        const void *k = ks_error_context_key(ctx, &kl);
        const void *v = ks_error_context_value(ctx, &vl);
        c->has_key = k != NULL;
        c->has_value = v != NULL;
        if (k)
                copy_bytes(c->key, sizeof(c->key), k, kl);
        if (v)
                copy_bytes(c->value, sizeof(c->value), v, vl);
        const void *hv;
        size_t hl;
        if (!ks_headers_get_last(ks_error_context_headers(ctx), "h", &hv, &hl))
                copy_bytes(c->hdr, sizeof(c->hdr), hv, hl);
        c->code = ks_error_code(error);
        snprintf(c->message, sizeof(c->message), "%s", ks_error_message(error));
        return s->fail_on && v && strlen(s->fail_on) == vl &&
                               !memcmp(v, s->fail_on, vl)
                       ? KS_HANDLER_FAIL
                       : KS_HANDLER_CONTINUE;
}

static void test_custom_handler(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = check_topology();
        ks_config_t *c = kst_config("perr-custom");
        /* The custom handler wins over the configuration's log_and_fail. */
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        seen_t seen = {.fail_on = "bad-stop"};
        ks_test_driver_set_processing_error_handler(d, record_call, &seen);
        ks_headers_t *h = ks_headers_new();
        KST_OK(ks_headers_add(h, "h", "v1", 2));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k0", 2, "a", 1, 10, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k1", 2, "bad1", 4, 11, h, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k2", 2, "b", 1, 12, NULL, &e));
        KST_ASSERT_ERROR(ks_test_driver_pipe(d, "in", "k3", 2, "bad-stop", 8,
                                             13, NULL, &e),
                         e, KS_ERR_PROCESSOR, "rejected bad-stop");
        KST_OK_E(
                ks_test_driver_pipe(d, "in", NULL, 0, "bad4", 4, 14, NULL, &e));
        ks_headers_destroy(h);
        kst_expect_output(d, "out", "k0", 2, "a", 1, 10);
        kst_expect_output(d, "out", "k2", 2, "b", 1, 12);
        assert_null(ks_test_driver_read_output(d, "out"));

        assert_int_equal(seen.cnt, 3);
        static const struct {
                int64_t offset, ts;
                const char *key, *value, *hdr;
        } want[] = {{1, 11, "k1", "bad1", "v1"},
                    {3, 13, "k3", "bad-stop", ""},
                    {4, 14, NULL, "bad4", ""}};
        for (int i = 0; i < 3; i++) {
                call_t *cl = &seen.calls[i];
                assert_true(cl->has_topic);
                assert_string_equal(cl->topic, "in");
                assert_int_equal(cl->partition, 0);
                assert_int_equal(cl->offset, want[i].offset);
                assert_int_equal(cl->timestamp, want[i].ts);
                assert_string_equal(cl->processor, "check");
                assert_string_equal(cl->task, "0_0");
                assert_int_equal(cl->has_key, want[i].key != NULL);
                if (want[i].key)
                        assert_string_equal(cl->key, want[i].key);
                assert_string_equal(cl->value, want[i].value);
                assert_string_equal(cl->hdr, want[i].hdr);
                assert_int_equal(cl->code, KS_ERR_PROCESSOR);
                assert_non_null(strstr(cl->message, "rejected"));
        }
        /* FAIL is not a drop: two records were dropped. */
        assert_int_equal(
                ks_test_driver_metric(d, "dropped-records-processing-error"),
                2);

        /* Without the handler, the configuration decides again. */
        ks_test_driver_set_processing_error_handler(d, NULL, NULL);
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", "k5", 2, "bad5", 4, 15, NULL, &e),
                e, KS_ERR_PROCESSOR, "rejected bad5");
        assert_int_equal(seen.cnt, 3);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* A sink whose serde refuses a record: the handler hears the sink's name. */
static void test_sink_error_names_sink(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_sink(t, "int-sink", "out", NULL,
                                      ks_serde_int64(), P("src"), 1, &e));
        ks_config_t *c = kst_config("perr-sink");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        seen_t seen = {0};
        ks_test_driver_set_processing_error_handler(d, record_call, &seen);
        uint8_t eight[8];
        ks_int64_encode(5, eight);
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, "abc", 3, 1, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, eight, 8, 2, NULL, &e));
        assert_int_equal(seen.cnt, 1);
        assert_string_equal(seen.calls[0].processor, "int-sink");
        assert_int_equal(seen.calls[0].code, KS_ERR_SERDE);
        assert_int_equal(seen.calls[0].offset, 0);
        kst_expect_output(d, "out", "k", 1, eight, 8, 2);
        assert_null(ks_test_driver_read_output(d, "out"));
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* --- the dead-letter queue ------------------------------------------------ */

/* Values: int64; negative ones are refused by "validate". */
static ks_err_t validate(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)st;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const uint8_t *v = ks_record_value(rec, &vl);
        int64_t n = 0;
        KST_OK(ks_int64_decode(v, vl, &n, NULL)); /* the source checked */
        if (n < 0)
                return ks_context_set_error(ctx, "negative value %lld",
                                            (long long)n);
        return ks_context_forward(ctx, k, kl, v, vl);
}

#define DLQ_INPUTS 12

typedef enum { GOOD, MALFORMED, NEGATIVE } kind_t;

/* The input, from i alone: every third record is malformed (3 bytes), of
 * the others those with i % 4 == 1 carry a negative value. */
static kind_t kind_of(int i) {
        if (i % 3 == 0)
                return MALFORMED;
        return i % 4 == 1 ? NEGATIVE : GOOD;
}

static size_t value_of(int i, uint8_t *buf) {
        if (kind_of(i) == MALFORMED) {
                memcpy(buf, "x\0z", 3);
                return 3;
        }
        ks_int64_encode(kind_of(i) == NEGATIVE ? -i : i * 10, buf);
        return 8;
}

static void expect_header(const ks_headers_t *h, size_t idx, const char *name,
                          const char *value) {
        const char *n;
        const void *v;
        size_t vl;
        KST_OK(ks_headers_get_at(h, idx, &n, &v, &vl));
        assert_string_equal(n, name);
        if (value) {
                assert_int_equal(vl, strlen(value));
                assert_memory_equal(v, value, vl);
        }
}

static void test_dead_letter_queue(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL,
                                        ks_serde_int64(), &e));
        KST_OK_E(ks_topology_add_processor(t, "validate", NULL, validate, NULL,
                                           NULL, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", "out", NULL,
                                      ks_serde_int64(), P("validate"), 1, &e));
        ks_config_t *c = kst_config("perr-dlq");
        kst_set(c, "default.deserialization.exception.handler",
                "log_and_continue");
        kst_set(c, "processing.exception.handler", "log_and_continue");
        kst_set(c, "errors.dead.letter.queue.topic.name", "dlq");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        for (int i = 0; i < DLQ_INPUTS; i++) {
                char key[8], n[8];
                snprintf(key, sizeof(key), "k%d", i);
                snprintf(n, sizeof(n), "%d", i);
                uint8_t v[8];
                size_t vl = value_of(i, v);
                ks_headers_t *h = ks_headers_new();
                KST_OK(ks_headers_add(h, "n", n, strlen(n)));
                /* A crafted error header is not passed on. */
                if (i == 1)
                        KST_OK(ks_headers_add(h, "__streams.errors.topic",
                                              "forged", 6));
                KST_OK_E(ks_test_driver_pipe(d, "in", key, strlen(key), v, vl,
                                             1000 + i, h, &e));
                ks_headers_destroy(h);
        }
        int64_t malformed = 0, negative = 0;
        for (int i = 0; i < DLQ_INPUTS; i++) {
                char key[8], n[8], off[8];
                snprintf(key, sizeof(key), "k%d", i);
                snprintf(n, sizeof(n), "%d", i);
                snprintf(off, sizeof(off), "%d", i);
                uint8_t v[8];
                size_t vl = value_of(i, v);
                kind_t k = kind_of(i);
                if (k == GOOD) {
                        kst_expect_output(d, "out", key, strlen(key), v, vl,
                                          1000 + i);
                        continue;
                }
                malformed += k == MALFORMED;
                negative += k == NEGATIVE;
                ks_test_record_t *r = ks_test_driver_read_output(d, "dlq");
                assert_non_null(r);
                size_t rkl, rvl;
                const void *rk = ks_test_record_key(r, &rkl);
                const void *rv = ks_test_record_value(r, &rvl);
                assert_int_equal(rkl, strlen(key));
                assert_memory_equal(rk, key, rkl);
                assert_int_equal(rvl, vl);
                assert_memory_equal(rv, v, vl);
                assert_int_equal(ks_test_record_timestamp(r), 1000 + i);
                const ks_headers_t *h = ks_test_record_headers(r);
                assert_int_equal(ks_headers_count(h), k == NEGATIVE ? 7 : 6);
                expect_header(h, 0, "n", n);
                expect_header(h, 1, "__streams.errors.exception",
                              k == MALFORMED ? "KS_ERR_SERDE"
                                             : "KS_ERR_PROCESSOR");
                expect_header(h, 2, "__streams.errors.message", NULL);
                expect_header(h, 3, "__streams.errors.topic", "in");
                expect_header(h, 4, "__streams.errors.partition", "0");
                expect_header(h, 5, "__streams.errors.offset", off);
                if (k == NEGATIVE)
                        expect_header(h, 6, "__streams.errors.processor",
                                      "validate");
                const void *mv;
                size_t ml;
                KST_OK(ks_headers_get_last(h, "__streams.errors.message", &mv,
                                           &ml));
                char msg[MESSAGE_MAX + 1];
                copy_bytes(msg, sizeof(msg), mv, ml);
                assert_non_null(strstr(msg, k == MALFORMED ? "does not decode"
                                                           : "negative value"));
                ks_test_record_destroy(r);
        }
        assert_null(ks_test_driver_read_output(d, "out"));
        assert_null(ks_test_driver_read_output(d, "dlq"));
        assert_true(malformed > 0 && negative > 0);
        assert_int_equal(
                ks_test_driver_metric(d, "dropped-records-deserialization"),
                malformed);
        assert_int_equal(
                ks_test_driver_metric(d, "dropped-records-processing-error"),
                negative);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"),
                         malformed + negative);
        assert_int_equal(ks_test_driver_metric(d, "dlq-records"),
                         malformed + negative);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* What a failed record forwarded before its error stays; the record itself
 * goes to the dead-letter queue; its message is bounded. */
static ks_err_t long_error(ks_context_t *ctx, const ks_record_t *rec,
                           void *st) {
        (void)st;
        (void)rec;
        char big[5000];
        memset(big, 'm', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        return ks_context_set_error(ctx, "%s", big);
}

static void test_partial_output_and_bounds(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = check_topology();
        ks_config_t *c = kst_config("perr-partial");
        kst_set(c, "processing.exception.handler", "log_and_continue");
        kst_set(c, "errors.dead.letter.queue.topic.name", "dlq");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, "bad-fwd", 7, 5, NULL,
                                     &e));
        kst_expect_output(d, "out", "k", 1, "bad-fwd", 7, 5);
        kst_expect_output(d, "dlq", "k", 1, "bad-fwd", 7, 5);
        assert_int_equal(ks_test_driver_metric(d, "dlq-records"), 1);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);

        t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "long", NULL, long_error, NULL,
                                           NULL, P("src"), 1, &e));
        d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, "v", 1, 5, NULL, &e));
        ks_test_record_t *r = ks_test_driver_read_output(d, "dlq");
        assert_non_null(r);
        const void *mv;
        size_t ml;
        KST_OK(ks_headers_get_last(ks_test_record_headers(r),
                                   "__streams.errors.message", &mv, &ml));
        assert_int_equal(ml, MESSAGE_MAX);
        ks_test_record_destroy(r);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* --- DSL callbacks ---------------------------------------------------------
 */

static ks_err_t upper_or_fail(void *opaque, const ks_record_t *rec,
                              ks_emitter_t *out) {
        (void)opaque;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        if (vl && v[0] == '!')
                return KS_ERR_PROCESSOR;
        char buf[16];
        for (size_t i = 0; i < vl && i < sizeof(buf); i++)
                buf[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
        return ks_emit_value(out, buf, vl < sizeof(buf) ? vl : sizeof(buf));
}

static void test_dsl_mapper_error(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_builder_t *b = ks_builder_new();
        ks_stream_t *s = ks_builder_stream(b, P("in"), 1, NULL, NULL, "src");
        s = ks_stream_map_values(s, upper_or_fail, NULL, "upper");
        KST_OK(ks_stream_to(s, "out", "sink"));
        ks_topology_t *t = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_builder_destroy(b);
        ks_config_t *c = kst_config("perr-dsl");
        kst_set(c, "processing.exception.handler", "log_and_continue");
        kst_set(c, "errors.dead.letter.queue.topic.name", "dlq");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        KST_OK_E(ks_test_driver_pipe(d, "in", "a", 1, "ab", 2, 1, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "b", 1, "!x", 2, 2, NULL, &e));
        KST_OK_E(ks_test_driver_pipe(d, "in", "c", 1, "cd", 2, 3, NULL, &e));
        kst_expect_output(d, "out", "a", 1, "AB", 2, 1);
        kst_expect_output(d, "out", "c", 1, "CD", 2, 3);
        assert_null(ks_test_driver_read_output(d, "out"));
        ks_test_record_t *r = ks_test_driver_read_output(d, "dlq");
        assert_non_null(r);
        size_t vl;
        assert_memory_equal(ks_test_record_value(r, &vl), "!x", 2);
        const void *pv;
        size_t pl;
        KST_OK(ks_headers_get_last(ks_test_record_headers(r),
                                   "__streams.errors.processor", &pv, &pl));
        assert_int_equal(pl, strlen("upper"));
        assert_memory_equal(pv, "upper", pl);
        ks_test_record_destroy(r);
        assert_null(ks_test_driver_read_output(d, "dlq"));
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* --- punctuators ------------------------------------------------------------
 */

typedef struct {
        int fired;
} punct_t;

static ks_err_t tick(ks_context_t *ctx, int64_t ts, void *opaque) {
        (void)ts;
        punct_t *p = opaque;
        p->fired++;
        /* Every second firing fails. */
        return p->fired % 2 == 0
                       ? ks_context_set_error(ctx, "tick %d failed", p->fired)
                       : KS_ERR_NO_ERROR;
}

static ks_err_t sched_init(ks_context_t *ctx, void *opaque, void **statep) {
        *statep = opaque;
        return ks_context_schedule(ctx, 10, KS_PUNCTUATE_STREAM_TIME, tick,
                                   opaque, NULL);
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)st;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, k, kl, v, vl);
}

static void test_punctuator_errors(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        punct_t p = {0};
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "ticker", sched_init, pass, NULL,
                                           &p, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL, P("ticker"),
                                      1, &e));

        /* Continue: every record and every firing happens; no record is
         * counted as dropped and nothing goes to the dead-letter queue. */
        ks_config_t *c = kst_config("perr-punct");
        kst_set(c, "errors.dead.letter.queue.topic.name", "dlq");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        seen_t seen = {0};
        ks_test_driver_set_processing_error_handler(d, record_call, &seen);
        for (int i = 0; i < 4; i++)
                KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, "v", 1, i * 10,
                                             NULL, &e));
        assert_int_equal(p.fired, 4);
        assert_int_equal(seen.cnt, 2);
        for (int i = 0; i < 2; i++) {
                assert_false(seen.calls[i].has_topic);
                assert_int_equal(seen.calls[i].offset, -1);
                assert_false(seen.calls[i].has_key);
                assert_false(seen.calls[i].has_value);
                assert_string_equal(seen.calls[i].processor, "ticker");
                assert_non_null(strstr(seen.calls[i].message, "punctuator"));
        }
        assert_int_equal(seen.calls[0].timestamp, 10);
        assert_int_equal(seen.calls[1].timestamp, 30);
        assert_int_equal(ks_test_driver_output_size(d, "out"), 4);
        assert_int_equal(ks_test_driver_output_size(d, "dlq"), 0);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), 0);
        ks_test_driver_destroy(d);

        /* log_and_fail (the configuration, no custom handler): the second
         * firing fails the pipe call. */
        p.fired = 0;
        d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        KST_OK_E(ks_test_driver_pipe(d, "in", "k", 1, "v", 1, 0, NULL, &e));
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", "k", 1, "v", 1, 10, NULL, &e), e,
                KS_ERR_PROCESSOR, "punctuator of processor \"ticker\"",
                "tick 2 failed");
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* --- configuration ----------------------------------------------------------
 */

static void test_config_values(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_config_t *c = ks_config_new();
        KST_ASSERT_ERROR(
                ks_config_set(c, "processing.exception.handler", "ignore", &e),
                e, KS_ERR_INVALID_CONFIG, "processing.exception.handler",
                "log_and_continue");
        KST_ASSERT_ERROR(ks_config_set(c, "errors.dead.letter.queue.topic.name",
                                       "no spaces", &e),
                         e, KS_ERR_INVALID_CONFIG,
                         "errors.dead.letter.queue.topic.name");
        KST_OK_E(ks_config_set(c, "errors.dead.letter.queue.topic.name",
                               "my.dlq-1", &e));
        assert_string_equal(
                ks_config_get(c, "errors.dead.letter.queue.topic.name"),
                "my.dlq-1");
        /* Empty: no dead-letter queue. */
        KST_OK_E(ks_config_set(c, "errors.dead.letter.queue.topic.name", "",
                               &e));
        assert_string_equal(ks_config_get(c, "processing.exception.handler"),
                            "log_and_fail");
        ks_config_destroy(c);

        /* A dead-letter queue the topology reads would feed itself. */
        ks_topology_t *t = check_topology();
        c = kst_config("perr-dlq-loop");
        kst_set(c, "errors.dead.letter.queue.topic.name", "in");
        assert_null(ks_test_driver_new(t, c, 0, &e));
        kst_assert_error(KS_ERR_INVALID_CONFIG, e, KS_ERR_INVALID_CONFIG,
                         "errors.dead.letter.queue.topic.name", "topic in",
                         (const char *)0);
        ks_config_destroy(c);
        ks_topology_destroy(t);

        /* Nor may it be a changelog of the application: its dead-letter
         * records (any bytes the input held) would be restored into the
         * store as rows. */
        e = NULL;
        t = check_topology();
        KST_OK_E(ks_topology_add_kv_store(t, "st", KS_STORE_IN_MEMORY, 0, &e));
        KST_OK_E(ks_topology_connect_store(t, "st", "check", &e));
        c = kst_config("perr-dlq-cl");
        kst_set(c, "errors.dead.letter.queue.topic.name",
                "perr-dlq-cl-st-changelog");
        assert_null(ks_test_driver_new(t, c, 0, &e));
        kst_assert_error(KS_ERR_INVALID_CONFIG, e, KS_ERR_INVALID_CONFIG,
                         "errors.dead.letter.queue.topic.name",
                         "perr-dlq-cl-st-changelog", "internal topic",
                         (const char *)0);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log_and_continue),
                cmocka_unit_test(test_log_and_fail),
                cmocka_unit_test(test_custom_handler),
                cmocka_unit_test(test_sink_error_names_sink),
                cmocka_unit_test(test_dead_letter_queue),
                cmocka_unit_test(test_partial_output_and_bounds),
                cmocka_unit_test(test_dsl_mapper_error),
                cmocka_unit_test(test_punctuator_errors),
                cmocka_unit_test(test_config_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
