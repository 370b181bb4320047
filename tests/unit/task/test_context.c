/* The processor context around each kind of callback (init, process,
 * punctuator, cache flush): the record metadata the callback sees, the
 * context put back afterwards, and the first error kept with a message
 * naming the callback, the processor, the task and the processor's own
 * text. Messages are checked whole. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "topology/topology_int.h"

#define P(...) ((const char *const[]){__VA_ARGS__})

/* What the processors below do, and what they saw. */
typedef struct {
        int fail_flush;
        int punctuations, flushes;
        char seen[1024];
} behave_t;

static void note(behave_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void note(behave_t *b, const char *fmt, ...) {
        size_t len = strlen(b->seen);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->seen + len, sizeof(b->seen) - len, fmt, ap);
        va_end(ap);
}

/* A stream-time punctuator that fails from time 1000 on. */
static ks_err_t on_time(ks_context_t *ctx, int64_t ts, void *opaque) {
        behave_t *b = opaque;
        b->punctuations++;
        /* No input record: no topic, offset -1, no headers; the
         * punctuation time as timestamp. */
        assert_null(ks_context_topic(ctx));
        assert_int_equal(ks_context_offset(ctx), -1);
        assert_int_equal(ks_context_partition(ctx), 0);
        assert_int_equal(ks_context_timestamp(ctx), ts);
        assert_int_equal(ks_headers_count(ks_context_headers(ctx)), 0);
        assert_string_equal(ks_context_processor_name(ctx), "p");
        if (ts >= 1000)
                return ks_context_set_error(ctx, "late at %lld", (long long)ts);
        return KS_ERR_NO_ERROR;
}

static ks_err_t p_init(ks_context_t *ctx, void *opaque, void **statep) {
        /* Init sees no record either. */
        assert_null(ks_context_topic(ctx));
        assert_int_equal(ks_context_offset(ctx), -1);
        assert_string_equal(ks_context_processor_name(ctx), "p");
        KST_OK(ks_context_schedule(ctx, 100, KS_PUNCTUATE_STREAM_TIME, on_time,
                                   opaque, NULL));
        *statep = opaque;
        return KS_ERR_NO_ERROR;
}

/* "fail": fails with its own text; "swallow": forwards to the failing
 * child "c" and ignores what it returns; anything else: forwarded to the
 * sink. */
static ks_err_t p_process(ks_context_t *ctx, const ks_record_t *rec,
                          void *state) {
        behave_t *b = state;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        note(b, "%s@%lld/%s;", ks_context_topic(ctx),
             (long long)ks_context_offset(ctx), ks_context_processor_name(ctx));
        if (vl == 4 && !memcmp(v, "fail", 4))
                return ks_context_set_error(ctx, "bad value %.*s", (int)vl, v);
        if (vl == 7 && !memcmp(v, "swallow", 7)) {
                ks_err_t err = ks_context_forward_to(ctx, "c", NULL, 0, v, vl);
                assert_int_equal(err, KS_ERR_PROCESSOR);
                /* Back on this node after the child ran. */
                assert_string_equal(ks_context_processor_name(ctx), "p");
                assert_string_equal(ks_context_topic(ctx), "in");
                return KS_ERR_NO_ERROR;
        }
        return ks_context_forward_to(ctx, "sink", NULL, 0, v, vl);
}

static ks_err_t c_process(ks_context_t *ctx, const ks_record_t *rec,
                          void *state) {
        return ks_context_set_error(ctx, "child says no");
}

static ks_err_t p_flush(ks_context_t *ctx, void *state) {
        behave_t *b = state;
        b->flushes++;
        assert_null(ks_context_topic(ctx));
        assert_int_equal(ks_context_offset(ctx), -1);
        assert_string_equal(ks_context_processor_name(ctx), "p");
        if (b->fail_flush)
                return ks_context_set_error(ctx, "cache full");
        return KS_ERR_NO_ERROR;
}

/* src -> p -> {c, sink}; p has a flush callback, like a DSL step with a
 * record cache. */
typedef struct {
        behave_t b;
        ks_topology_t *t;
        ks_config_t *c;
        ks_test_driver_t *d;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        ks_error_t *e = NULL;
        f->t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(f->t, "src", P("in"), 1, NULL, NULL,
                                        &e));
        KST_OK_E(ks_topology_add_processor(f->t, "p", p_init, p_process, NULL,
                                           &f->b, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_processor(f->t, "c", NULL, c_process, NULL,
                                           NULL, P("p"), 1, &e));
        KST_OK_E(ks_topology_add_sink(f->t, "sink", "out", NULL, NULL, P("p"),
                                      1, &e));
        KST_OK(ks__topology_set_flush(f->t, "p", p_flush));
        f->c = kst_config("context");
        f->d = ks_test_driver_new(f->t, f->c, 0, &e);
        assert_non_null(f->d);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        ks_test_driver_destroy(f->d);
        ks_topology_destroy(f->t);
        ks_config_destroy(f->c);
        free(f);
        return 0;
}

static void pipe_ok(fixture_t *f, const char *value, int64_t ts) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(f->d, "in", NULL, 0, value, strlen(value),
                                     ts, NULL, &e));
}

/* Pipe a record that fails with exactly @p message. */
static void pipe_fails(fixture_t *f, const char *value, int64_t ts,
                       const char *message) {
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_test_driver_pipe(f->d, "in", NULL, 0, value,
                                             strlen(value), ts, NULL, &e),
                         e, KS_ERR_PROCESSOR, message);
}

static void test_process_errors(void **state) {
        fixture_t *f = *state;
        pipe_ok(f, "ok", 1);
        kst_expect_output(f->d, "out", NULL, 0, "ok", 2, 1);
        pipe_fails(f, "fail", 2,
                   "processor \"p\" failed in task 0_0 (KS_ERR_PROCESSOR): "
                   "bad value fail");
        /* The child's error, although its parent returned success. */
        pipe_fails(f, "swallow", 3,
                   "processor \"c\" failed in task 0_0 (KS_ERR_PROCESSOR): "
                   "child says no");
        /* Each failure was reported once: the next record is fine. */
        pipe_ok(f, "ok", 4);
        kst_expect_output(f->d, "out", NULL, 0, "ok", 2, 4);
        assert_string_equal(f->b.seen, "in@0/p;in@1/p;in@2/p;in@3/p;");
}

static void test_punctuator_error(void **state) {
        fixture_t *f = *state;
        pipe_ok(f, "ok", 10);
        assert_int_equal(f->b.punctuations, 1);
        pipe_fails(f, "ok", 1000,
                   "punctuator of processor \"p\" failed in task 0_0 "
                   "(KS_ERR_PROCESSOR): late at 1000");
        assert_int_equal(f->b.punctuations, 2);
        /* The record itself went through before its punctuation. */
        kst_expect_output(f->d, "out", NULL, 0, "ok", 2, 10);
        kst_expect_output(f->d, "out", NULL, 0, "ok", 2, 1000);
        /* The process callbacks saw their records, not the punctuation. */
        assert_string_equal(f->b.seen, "in@0/p;in@1/p;");
}

static void test_flush_error(void **state) {
        fixture_t *f = *state;
        pipe_ok(f, "ok", 1);
        assert_int_equal(f->b.flushes, 1); /* every pipe ends with a commit */
        f->b.fail_flush = 1;
        pipe_fails(f, "ok", 2,
                   "flushing the record cache of processor \"p\" in task 0_0 "
                   "(KS_ERR_PROCESSOR): cache full");
        assert_int_equal(f->b.flushes, 2);
}

static ks_err_t failing_init(ks_context_t *ctx, void *o, void **statep) {
        return ks_context_set_error(ctx, "missing setting %s", "x");
}

static void test_init_error(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "bad", failing_init, c_process,
                                           NULL, NULL, P("src"), 1, &e));
        ks_config_t *c = kst_config("context-init");
        assert_null(ks_test_driver_new(t, c, 0, &e));
        KST_ASSERT_ERROR(KS_ERR_PROCESSOR, e, KS_ERR_PROCESSOR,
                         "processor \"bad\" failed to initialize in task 0_0 "
                         "(KS_ERR_PROCESSOR): missing setting x");
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* A message longer than any fixed buffer reaches the task's error whole. */
static ks_err_t long_error(ks_context_t *ctx, const ks_record_t *rec,
                           void *state) {
        return ks_context_set_error(ctx, "%0600d", 7);
}

static void test_long_error_message(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "long", NULL, long_error, NULL,
                                           NULL, P("src"), 1, &e));
        ks_config_t *c = kst_config("context-long");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        const char *head =
                "processor \"long\" failed in task 0_0 (KS_ERR_PROCESSOR): ";
        char want[700];
        size_t n = strlen(head);
        memcpy(want, head, n);
        memset(want + n, '0', 599);
        snprintf(want + n + 599, sizeof(want) - n - 599, "7");
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, "in", NULL, 0, "v", 1, 1, NULL, &e), e,
                KS_ERR_PROCESSOR, want);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_process_errors, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_punctuator_error, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_flush_error, setup,
                                                teardown),
                cmocka_unit_test(test_init_error),
                cmocka_unit_test(test_long_error_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
