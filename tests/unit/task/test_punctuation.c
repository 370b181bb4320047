/* Punctuation schedules at the end of time: records with timestamps next
 * to INT64_MAX and a wall clock advanced up to it. Schedule arithmetic
 * saturates instead of overflowing (UBSan would report it), and a schedule
 * whose next time lies past INT64_MAX fires no more. Every punctuation
 * call is checked: which schedule, at what time, in what order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#define P(...) ((const char *const[]){__VA_ARGS__})

/* One schedule to make at init. */
typedef struct {
        const char *name;
        int64_t interval;
        ks_punctuation_type_t type;
} sched_t;

typedef struct {
        sched_t scheds[4];
        size_t cnt;
} plan_t;

/* Sends "<name>@<time>" to the sink. */
static ks_err_t punctuate(ks_context_t *ctx, int64_t ts, void *opaque) {
        const sched_t *s = opaque;
        char v[64];
        int n = snprintf(v, sizeof(v), "%s@%lld", s->name, (long long)ts);
        return ks_context_forward(ctx, NULL, 0, v, (size_t)n);
}

static ks_err_t plan_init(ks_context_t *ctx, void *opaque, void **statep) {
        plan_t *pl = opaque;
        for (size_t i = 0; i < pl->cnt; i++)
                KST_OK(ks_context_schedule(ctx, pl->scheds[i].interval,
                                           pl->scheds[i].type, punctuate,
                                           &pl->scheds[i], NULL));
        return KS_ERR_NO_ERROR;
}

static ks_err_t drop(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        return KS_ERR_NO_ERROR;
}

static ks_test_driver_t *driver(plan_t *pl, int64_t wall_clock,
                                ks_topology_t **tp, ks_config_t **cp) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "p", plan_init, drop, NULL, pl,
                                           P("src"), 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL, P("p"), 1,
                                      &e));
        *cp = kst_config("punctuation-limits");
        ks_test_driver_t *d = ks_test_driver_new(t, *cp, wall_clock, &e);
        assert_non_null(d);
        *tp = t;
        return d;
}

static void pipe_at(ks_test_driver_t *d, int64_t ts) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(d, "in", NULL, 0, "x", 1, ts, NULL, &e));
}

static void advance(ks_test_driver_t *d, int64_t ms) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_advance_wall_clock(d, ms, &e));
}

/* The next punctuation call is @p name at @p ts. */
static void expect_call(ks_test_driver_t *d, const char *name, int64_t ts) {
        char want[64];
        snprintf(want, sizeof(want), "%s@%lld", name, (long long)ts);
        kst_expect_output(d, "out", NULL, 0, want, strlen(want), ts);
}

static void expect_none(ks_test_driver_t *d) {
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
}

static void finish(ks_test_driver_t *d, ks_topology_t *t, ks_config_t *c) {
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Stream time up to INT64_MAX: every 1 ms and every 10 ms. The 1 ms
 * schedule reaches INT64_MAX exactly and fires there; the next multiple of
 * 10 after INT64_MAX - 1 (...806) lies past INT64_MAX (...810). */
static void test_stream_time_at_the_end(void **state) {
        plan_t pl = {{{"s1", 1, KS_PUNCTUATE_STREAM_TIME},
                      {"s10", 10, KS_PUNCTUATE_STREAM_TIME}},
                     2};
        ks_topology_t *t;
        ks_config_t *c;
        ks_test_driver_t *d = driver(&pl, 0, &t, &c);
        pipe_at(d, 5); /* both aligned to 0: fire at the first record */
        expect_call(d, "s1", 5);
        expect_call(d, "s10", 5);
        expect_none(d);
        /* A jump over nearly all of time fires each once, earliest due
         * first (s1 was due at 6, s10 at 10). */
        pipe_at(d, INT64_MAX - 1);
        expect_call(d, "s1", INT64_MAX - 1);
        expect_call(d, "s10", INT64_MAX - 1);
        expect_none(d);
        pipe_at(d, INT64_MAX);
        expect_call(d, "s1", INT64_MAX);
        expect_none(d);
        /* Nothing is due any more: not at INT64_MAX again, not for a late
         * record. */
        pipe_at(d, INT64_MAX);
        pipe_at(d, 7);
        expect_none(d);
        finish(d, t, c);
}

/* Wall clock from 0 to INT64_MAX, every 100 ms (first due at 100). */
static void test_wall_clock_at_the_end(void **state) {
        plan_t pl = {{{"w100", 100, KS_PUNCTUATE_WALL_CLOCK_TIME}}, 1};
        ks_topology_t *t;
        ks_config_t *c;
        ks_test_driver_t *d = driver(&pl, 0, &t, &c);
        advance(d, INT64_MAX - 50); /* ...757 */
        expect_call(d, "w100", INT64_MAX - 50);
        expect_none(d);
        advance(d, 40); /* ...797: the next is at ...800 */
        expect_none(d);
        advance(d, 3);
        expect_call(d, "w100", INT64_MAX - 7); /* ...800 */
        expect_none(d);
        advance(d, 7); /* INT64_MAX; the next (...900) never comes */
        expect_none(d);
        assert_int_equal(ks_test_driver_wall_clock(d), INT64_MAX);
        /* The clock stops at INT64_MAX. */
        advance(d, 10);
        assert_int_equal(ks_test_driver_wall_clock(d), INT64_MAX);
        expect_none(d);
        finish(d, t, c);
}

/* Schedules made 30 ms before the end of time: one interval of 30 ms ends
 * exactly at INT64_MAX, one of 100 ms ends past it and never fires. */
static void test_wall_clock_scheduled_at_the_end(void **state) {
        plan_t pl = {{{"w30", 30, KS_PUNCTUATE_WALL_CLOCK_TIME},
                      {"w100", 100, KS_PUNCTUATE_WALL_CLOCK_TIME}},
                     2};
        ks_topology_t *t;
        ks_config_t *c;
        ks_test_driver_t *d = driver(&pl, INT64_MAX - 30, &t, &c);
        advance(d, 29);
        expect_none(d);
        advance(d, 1);
        expect_call(d, "w30", INT64_MAX);
        expect_none(d);
        advance(d, 5);
        advance(d, INT64_MAX);
        expect_none(d);
        finish(d, t, c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stream_time_at_the_end),
                cmocka_unit_test(test_wall_clock_at_the_end),
                cmocka_unit_test(test_wall_clock_scheduled_at_the_end),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
