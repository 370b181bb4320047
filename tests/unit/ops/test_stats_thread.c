/* The statistics thread of an application never started (no broker):
 *   - the callback comes every statistics.interval.ms even while the
 *     application's condition is signalled more often than that (every
 *     thread state change does, and a rebalance storm makes many): those
 *     wake-ups must not start the interval again;
 *   - each document is the JSON of the application's metrics. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ks_test.h"

#include "common/util_int.h"
#include "coord/app_int.h"

typedef struct {
        pthread_mutex_t lock;
        int calls;
        int json_ok; /* every document held the app's state metric */
} seen_t;

static void on_stats(void *opaque, const char *json, size_t len) {
        seen_t *s = opaque;
        pthread_mutex_lock(&s->lock);
        s->calls++;
        if (strlen(json) != len ||
            !strstr(json, "\"group\":\"stream-metrics\",\"name\":\"state\""))
                s->json_ok = 0;
        pthread_mutex_unlock(&s->lock);
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)rec;
        (void)st;
        return ks_context_forward(ctx, NULL, 0, NULL, 0);
}

static void test_interval_under_wakeups(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        const char *in[] = {"stats-in"};
        KST_OK_E(ks_topology_add_source(t, "src", in, 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "p", NULL, pass, NULL, NULL,
                                           (const char *[]){"src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "stats-out", NULL, NULL,
                                      (const char *[]){"p"}, 1, &e));
        char id[64];
        snprintf(id, sizeof(id), "stats-thread-%d", (int)getpid());
        ks_config_t *c = kst_config(id);
        kst_set(c, "bootstrap.servers", "127.0.0.1:1");
        kst_set(c, "statistics.interval.ms", "300");
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        seen_t seen = {PTHREAD_MUTEX_INITIALIZER, 0, 1};
        ks_app_set_stats_callback(app, on_stats, &seen);
        ks__app_stats_start(app);
        assert_true(app->stats_started);

        /* Wake the thread every 20 ms (as thread state changes do) until
         * three documents came, for 10 s at most: 30 intervals. */
        int64_t until = ks__now_ms() + 10000;
        int calls = 0;
        while (calls < 3 && ks__now_ms() < until) {
                ks__app_threads_changed(app);
                nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
                pthread_mutex_lock(&seen.lock);
                calls = seen.calls;
                pthread_mutex_unlock(&seen.lock);
        }
        __atomic_store_n(&app->stopping, 1, __ATOMIC_SEQ_CST);
        ks__app_threads_changed(app);
        ks__app_stats_join(app);
        assert_true(calls >= 3);
        assert_true(seen.json_ok);
        ks_app_destroy(app);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_interval_under_wakeups),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
