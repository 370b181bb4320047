/* The application's state as its listener sees it: RUNNING means every
 * stream thread runs its tasks. An instance alone on a one-partition
 * topic is started many times (a new group each time); at every move to
 * RUNNING the state listener reads the "tasks" metric, which must be 1,
 * and the app must never fall back from RUNNING to REBALANCING (no member
 * joins or leaves). A few starts wait until the app runs its task; the
 * others close it at once, long before the group could assign anything,
 * so any RUNNING they see is wrong. The moment at which a new thread
 * reports its first state races with ks_app_start() registering it: each
 * start is one more chance to catch an app that calls itself RUNNING
 * before any thread has an assignment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_app.h"

#define STARTS      40
#define FULL_STARTS 3 /* the others close at once */

typedef struct {
        ks_app_t *app;
        int running_without_task; /* atomic */
        int back_to_rebalancing;  /* atomic */
        int runs;                 /* atomic */
} watch_t;

static void on_state(void *opaque, ks_app_state_t to, ks_app_state_t from) {
        watch_t *w = opaque;
        if (to == KS_APP_RUNNING) {
                __atomic_add_fetch(&w->runs, 1, __ATOMIC_SEQ_CST);
                if (ks_app_metric(w->app, "tasks") != 1)
                        __atomic_add_fetch(&w->running_without_task, 1,
                                           __ATOMIC_SEQ_CST);
        }
        if (from == KS_APP_RUNNING && to == KS_APP_REBALANCING)
                __atomic_add_fetch(&w->back_to_rebalancing, 1,
                                   __ATOMIC_SEQ_CST);
}

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, k, kl, v, vl);
}

typedef struct {
        ks_app_t *app;
} app_ref_t;

static int runs_its_task(void *opaque) {
        app_ref_t *r = opaque;
        return ks_app_state(r->app) == KS_APP_RUNNING &&
               ks_app_metric(r->app, "tasks") == 1;
}

static void test_running_means_tasks_run(void **state) {
        kst_broker_t *b = kst_broker_get(NULL, 1);
        char *in = kst_unique_name("states-in"),
             *out = kst_unique_name("states-out");
        kst_broker_create_topic(b, in, 1, NULL);
        kst_broker_create_topic(b, out, 1, NULL);
        int bad_runs = 0, bad_falls = 0;
        for (int i = 0; i < STARTS; i++) {
                ks_error_t *e = NULL;
                ks_topology_t *t = ks_topology_new();
                KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){in},
                                                1, NULL, NULL, &e));
                KST_OK_E(ks_topology_add_processor(
                        t, "pass", NULL, pass, NULL, NULL,
                        (const char *[]){"src"}, 1, &e));
                KST_OK_E(ks_topology_add_sink(t, "sink", out, NULL, NULL,
                                              (const char *[]){"pass"}, 1, &e));
                char *app_id = kst_unique_name("states-app");
                ks_config_t *c = kst_app_config(b, app_id, NULL);
                watch_t w = {0};
                ks_app_t *app = ks_app_new(t, c, &e);
                if (!app)
                        fail_msg("%s", ks_error_message(e));
                w.app = app;
                ks_app_set_state_listener(app, on_state, &w);
                KST_OK_E(ks_app_start(app, &e));
                app_ref_t r = {app};
                if (i < FULL_STARTS &&
                    !kst_wait_for(app, 60000, 20, runs_its_task, &r))
                        fail_msg("start %d: never ran its task", i);
                KST_OK(ks_app_close(app, 30000));
                ks_app_destroy(app);
                int bad = __atomic_load_n(&w.running_without_task,
                                          __ATOMIC_SEQ_CST);
                int fell = __atomic_load_n(&w.back_to_rebalancing,
                                           __ATOMIC_SEQ_CST);
                if (i < FULL_STARTS || bad || fell)
                        printf("# start %d: RUNNING %d times, %d of them "
                               "without its task; RUNNING -> REBALANCING %d "
                               "times\n",
                               i, w.runs, bad, fell);
                bad_runs += bad;
                bad_falls += fell;
                ks_config_destroy(c);
                ks_topology_destroy(t);
                free(app_id);
        }
        free(in);
        free(out);
        kst_broker_destroy(b);
        if (bad_runs || bad_falls)
                fail_msg("in %d starts the app was RUNNING %d times without "
                         "its task and went back from RUNNING to "
                         "REBALANCING %d times with no rebalance",
                         STARTS, bad_runs, bad_falls);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_running_means_tasks_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
