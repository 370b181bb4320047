/* A record that fails every time, with an uncaught-error handler that
 * always replaces the thread: each replacement leaves the failed thread
 * (its pthread and its three librdkafka clients, with their threads and
 * sockets) behind to end; the application joins those that have ended at
 * the next replacement, so threads and descriptors stay bounded, and the
 * counters of the threads gone still count. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define REPLACEMENTS 5

static int failures;

static int count_dir(const char *d) {
        DIR *dd = opendir(d);
        int n = 0;
        struct dirent *de;
        while (dd && (de = readdir(dd)))
                n += de->d_name[0] != '.';
        if (dd)
                closedir(dd);
        return n;
}

static ks_err_t always_fail(ks_context_t *ctx, const ks_record_t *rec,
                            void *state) {
        (void)rec;
        (void)state;
        return ks_context_set_error(ctx, "poison");
}

static ks_uncaught_action_t replace(void *opaque, const ks_error_t *e) {
        (void)opaque;
        (void)e;
        __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
        return KS_UNCAUGHT_REPLACE_THREAD;
}

static int failed_enough(void *opaque) {
        return __atomic_load_n(&failures, __ATOMIC_SEQ_CST) >= *(int *)opaque;
}

typedef struct {
        int threads, fds;
} usage_t;

static int bounded(void *opaque) {
        const usage_t *u = opaque;
        return count_dir("/proc/self/task") <= u->threads &&
               count_dir("/proc/self/fd") <= u->fds;
}

static void test_replacements_bounded(void **state) {
        (void)state;
        kst_broker_t *b = kst_broker_get(NULL, 1);
        char *in = kst_unique_name("repl-in");
        char *app_id = kst_unique_name("repl-app");
        kst_broker_create_topic(b, in, 1, NULL);
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){in}, 1, NULL,
                                        NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "p", NULL, always_fail, NULL,
                                           NULL, (const char *[]){"src"}, 1,
                                           &e));
        /* Each new thread joins the group anew: short sessions. */
        ks_config_t *c = kst_app_config(b, app_id, (const char *const[]){NULL});
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        ks_app_set_uncaught_error_handler(app, replace, NULL);
        KST_OK_E(ks_app_start(app, &e));
        ks_topology_destroy(t);
        ks_config_destroy(c);
        rd_kafka_t *p = kst_broker_client(b, RD_KAFKA_PRODUCER, NULL);
        kst_produce_str(p, in, "k", "poison");
        kst_flush(p);
        rd_kafka_destroy(p);
        int want = 1;
        if (!kst_wait_for(NULL, 60000, 20, failed_enough, &want))
                fail_msg("the poison record never failed a thread");
        /* One failed thread ending and one new one at most beside the
         * rest: a thread set's worth of margin. */
        usage_t limit = {count_dir("/proc/self/task") + 16,
                         count_dir("/proc/self/fd") + 40};
        want = REPLACEMENTS;
        if (!kst_wait_for(NULL, 180000, 20, failed_enough, &want))
                fail_msg("only %d replacements in 180 s",
                         __atomic_load_n(&failures, __ATOMIC_SEQ_CST));
        if (!kst_wait_for(NULL, 30000, 50, bounded, &limit))
                fail_msg("after %d replacements: %d threads (limit %d), %d "
                         "descriptors (limit %d)",
                         __atomic_load_n(&failures, __ATOMIC_SEQ_CST),
                         count_dir("/proc/self/task"), limit.threads,
                         count_dir("/proc/self/fd"), limit.fds);
        assert_int_not_equal(ks_app_state(app), KS_APP_ERROR);
        ks_app_close(app, 30000);
        ks_app_destroy(app);
        free(in);
        free(app_id);
        kst_broker_destroy(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_replacements_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
