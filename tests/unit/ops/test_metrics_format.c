/* Metric sets and their text forms, without an application:
 *   - the accessors give back what was added, tags in order, and
 *     ks_metrics_find() matches on every given tag;
 *   - Prometheus: names made of [a-zA-Z0-9_] with the group's "-metrics"
 *     dropped, "-total" metrics typed counter and the rest gauge, one
 *     HELP and TYPE per family with its samples together even when added
 *     apart, label values escaped (\, ", newline);
 *   - JSON: strings escaped, non-finite values written as null;
 *   - both: valid UTF-8 kept, every byte starting no valid character
 *     (Latin-1, cut, overlong, surrogate) written U+FFFD, so that a
 *     client.id in another encoding keeps the text parseable; values
 *     beyond int64 written as doubles;
 *   - meters: rate, average and maximum over the window. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#include "common/metrics_int.h"

static void test_accessors(void **state) {
        (void)state;
        ks_metrics_t *m = ks__mset_new();
        ks__mset_add(m, "g-metrics", "a-total", "help a", 3,
                     (const char *const[]){"k1", "v1", "k2", "v2", NULL});
        ks__mset_add(m, "g-metrics", "a-total", "help a", 4,
                     (const char *const[]){"k1", "w1", "k2", "v2", NULL});
        ks__mset_add(m, "h-metrics", "b", "help b", 0.5, NULL);
        assert_int_equal(ks_metrics_count(m), 3);
        const char *n, *g, *h, *k, *v;
        double x;
        assert_int_equal(ks_metrics_get(m, 1, &n, &g, &h, &x), 0);
        assert_string_equal(n, "a-total");
        assert_string_equal(g, "g-metrics");
        assert_string_equal(h, "help a");
        assert_true(x == 4);
        assert_int_equal(ks_metrics_tag_count(m, 1), 2);
        assert_int_equal(ks_metrics_tag(m, 1, 1, &k, &v), 0);
        assert_string_equal(k, "k2");
        assert_string_equal(v, "v2");
        assert_int_equal(ks_metrics_tag(m, 1, 2, &k, &v), KS_ERR_INVALID_ARG);
        assert_int_equal(ks_metrics_get(m, 3, &n, &g, &h, &x),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(
                ks_metrics_find(m, "g-metrics", "a-total",
                                (const char *const[]){"k1", "w1", NULL}, &x),
                0);
        assert_true(x == 4);
        assert_int_equal(
                ks_metrics_find(m, "g-metrics", "a-total",
                                (const char *const[]){"k1", "zz", NULL}, &x),
                KS_ERR_NOT_FOUND);
        ks_metrics_t *c = ks__mset_copy(m);
        assert_int_equal(ks_metrics_count(c), 3);
        assert_int_equal(ks_metrics_tag(c, 0, 0, &k, &v), 0);
        assert_string_equal(v, "v1");
        ks_metrics_destroy(c);
        ks_metrics_destroy(m);
}

static void test_prometheus(void **state) {
        (void)state;
        ks_metrics_t *m = ks__mset_new();
        ks__mset_add(m, "stream-thread-metrics", "process-total", "records", 10,
                     (const char *const[]){"thread-id", "t-1", NULL});
        ks__mset_add(m, "stream-task-metrics", "records-lag", "lag\nmore", 2,
                     (const char *const[]){"topic", "a\"b\\c\nd", NULL});
        ks__mset_add(m, "stream-thread-metrics", "process-total", "records",
                     12.5, (const char *const[]){"thread-id", "t-2", NULL});
        size_t len;
        char *p = ks__mset_prometheus(m, &len);
        assert_non_null(p);
        assert_int_equal(strlen(p), len);
        const char *want =
                "# HELP kstreams_stream_task_records_lag lag\\nmore\n"
                "# TYPE kstreams_stream_task_records_lag gauge\n"
                "kstreams_stream_task_records_lag{topic=\"a\\\"b\\\\c\\nd\"} "
                "2\n"
                "# HELP kstreams_stream_thread_process_total records\n"
                "# TYPE kstreams_stream_thread_process_total counter\n"
                "kstreams_stream_thread_process_total{thread_id=\"t-1\"} 10\n"
                "kstreams_stream_thread_process_total{thread_id=\"t-2\"} "
                "12.5\n";
        assert_string_equal(p, want);
        free(p);
        ks_metrics_destroy(m);
}

static void test_json(void **state) {
        (void)state;
        ks_metrics_t *m = ks__mset_new();
        ks__mset_add(m, "g", "n\"1", "h", NAN,
                     (const char *const[]){"k", "v\x01", NULL});
        ks__mset_add(m, "g", "n2", "h", 7, NULL);
        char *j = ks__mset_json(m, 42, NULL);
        assert_string_equal(
                j, "{\"time_ms\":42,\"metrics\":[{\"group\":\"g\",\"name\":"
                   "\"n\\\"1\",\"tags\":{\"k\":\"v\\u0001\"},\"value\":null},"
                   "{\"group\":\"g\",\"name\":\"n2\",\"tags\":{},\"value\":7}"
                   "]}");
        free(j);
        ks_metrics_destroy(m);
}

#define FFFD "\xEF\xBF\xBD"

static void test_not_utf8(void **state) {
        (void)state;
        ks_metrics_t *m = ks__mset_new();
        ks__mset_add(m, "g", "n", "h\xff", 1e19,
                     (const char *const[]){
                             "thread-id",
                             "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80-"
                             "caf\xe9-\xe2\x82-\xc0\xaf-\xed\xa0\x80-\xf5\x80",
                             NULL});
        const char *want_tag = "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80-"
                               "caf" FFFD "-" FFFD FFFD "-" FFFD FFFD
                               "-" FFFD FFFD FFFD "-" FFFD FFFD;
        char want[512];
        snprintf(want, sizeof(want),
                 "# HELP kstreams_g_n h" FFFD "\n# TYPE kstreams_g_n gauge\n"
                 "kstreams_g_n{thread_id=\"%s\"} 1e+19\n",
                 want_tag);
        char *p = ks__mset_prometheus(m, NULL);
        assert_string_equal(p, want);
        free(p);
        snprintf(want, sizeof(want),
                 "{\"time_ms\":1,\"metrics\":[{\"group\":\"g\",\"name\":"
                 "\"n\",\"tags\":{\"thread-id\":\"%s\"},\"value\":1e+19}]}",
                 want_tag);
        p = ks__mset_json(m, 1, NULL);
        assert_string_equal(p, want);
        free(p);
        ks_metrics_destroy(m);
}

static void test_meter(void **state) {
        (void)state;
        ks__meter_t mt = {0};
        ks__meter_tick(&mt, 1000);               /* the window starts */
        ks__meter_record(&mt, 10, 10 * 2000000); /* 10 events of 2 ms */
        ks__meter_record(&mt, 1, 8000000);       /* 1 of 8 ms */
        ks__meter_tick(&mt, 2000);
        assert_true(fabs(ks__meter_rate(&mt, 2000) - 11.0) < 1e-9);
        assert_true(fabs(ks__meter_avg_ms(&mt) - 28.0 / 11.0) < 1e-9);
        assert_true(fabs(ks__meter_max_ms(&mt) - 8.0) < 1e-9);
        /* 40 s later with nothing: the events left the window. */
        for (int s = 3; s <= 42; s++)
                ks__meter_tick(&mt, s * 1000);
        assert_true(ks__meter_rate(&mt, 42000) == 0);
        assert_true(ks__meter_avg_ms(&mt) == 0);
        assert_true(ks__meter_max_ms(&mt) == 0);
        assert_int_equal(mt.count, 11);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accessors),
                cmocka_unit_test(test_prometheus),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_not_utf8),
                cmocka_unit_test(test_meter),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
