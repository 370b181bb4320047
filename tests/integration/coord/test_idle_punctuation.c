/* State changed by a wall-clock punctuator, with no input, is committed
 * like any other: every input partition of the task carries each commit's
 * changelog positions, so a restart starts from the last ticks, not from
 * the positions of the last commit that saw input (which used to make the
 * local state look "ahead of the committed state" and roll it back). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define STORE "ticks"

static int64_t last_tick = -1, seen_at_init = -1;

typedef struct {
        ks_kv_store_t *store;
} st_t;

static int64_t get_tick(ks_kv_store_t *s) {
        const void *v;
        size_t vl;
        int64_t n = 0;
        if (!ks_kv_store_get(s, "tick", 4, &v, &vl))
                ks_int64_decode(v, vl, &n, NULL);
        return n;
}

static ks_err_t tick(ks_context_t *ctx, int64_t ts, void *opaque) {
        (void)ctx;
        (void)ts;
        st_t *st = opaque;
        int64_t n = get_tick(st->store) + 1;
        uint8_t enc[8];
        ks_int64_encode(n, enc);
        ks_err_t err = ks_kv_store_put(st->store, "tick", 4, enc, 8);
        __atomic_store_n(&last_tick, n, __ATOMIC_SEQ_CST);
        return err;
}

static ks_err_t p_init(ks_context_t *ctx, void *opaque, void **statep) {
        (void)opaque;
        st_t *st = calloc(1, sizeof(*st));
        ks_err_t err = ks_context_get_kv_store(ctx, STORE, &st->store);
        if (err)
                return err;
        __atomic_store_n(&seen_at_init, get_tick(st->store), __ATOMIC_SEQ_CST);
        *statep = st;
        return ks_context_schedule(ctx, 50, KS_PUNCTUATE_WALL_CLOCK_TIME, tick,
                                   st, NULL);
}

static void p_close(ks_context_t *ctx, void *state) {
        (void)ctx;
        free(state);
}

static ks_err_t p_process(ks_context_t *ctx, const ks_record_t *rec,
                          void *state) {
        (void)ctx;
        st_t *st = state;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_kv_store_put(st->store, k, kl, v, vl);
}

static ks_topology_t *topology(const char *in) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){in}, 1, NULL,
                                        NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "p", p_init, p_process, p_close,
                                           NULL, (const char *[]){"src"}, 1,
                                           &e));
        KST_OK_E(ks_topology_add_kv_store(t, STORE, KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_connect_store(t, STORE, "p", &e));
        return t;
}

static ks_app_t *run(kst_broker_t *b, const char *in, const char *app_id,
                     const char *dir) {
        ks_topology_t *t = topology(in);
        ks_config_t *c = kst_app_config(
                b, app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        return app;
}

typedef struct {
        ks_app_t *app;
        int64_t ticks, commits;
} until_t;

/* The punctuator reached a tick and commits went on after it. */
static int ticked(void *opaque) {
        until_t *u = opaque;
        return __atomic_load_n(&last_tick, __ATOMIC_SEQ_CST) >= u->ticks &&
               ks_app_metric(u->app, "commit-total") >= u->commits;
}

static void tick_and_close(ks_app_t *app, int64_t ticks) {
        until_t u = {app, ticks, ks_app_metric(app, "commit-total") + 3};
        if (!kst_wait_for(app, 30000, 20, ticked, &u))
                fail_msg("tick %lld and commits: not reached in 30 s",
                         (long long)ticks);
        assert_int_equal(ks_app_close(app, 30000), 0);
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
}

static void test_idle_punctuation(void **state) {
        (void)state;
        kst_broker_t *b = kst_broker_get(NULL, 1);
        char *in = kst_unique_name("idle-in");
        char *app_id = kst_unique_name("idle-app");
        kst_broker_create_topic(b, in, 1, NULL);
        ks_topology_t *t = topology(in);
        kst_create_internal_topics(b, t, app_id, 1, NULL, NULL);
        ks_topology_destroy(t);
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", kst_tmpdir(), app_id);

        /* Run 1: one input record, then ticks. */
        rd_kafka_t *p = kst_broker_client(b, RD_KAFKA_PRODUCER, NULL);
        kst_produce_str(p, in, "k", "v");
        kst_flush(p);
        rd_kafka_destroy(p);
        ks_app_t *app = run(b, in, app_id, dir);
        kst_wait_processed(app, 1, 30000);
        tick_and_close(app, 5);
        int64_t run1 = __atomic_load_n(&last_tick, __ATOMIC_SEQ_CST);
        assert_int_equal(__atomic_load_n(&seen_at_init, __ATOMIC_SEQ_CST), 0);

        /* Run 2: no input at all; the punctuator ticks on and commits. */
        kst_log_clear();
        app = run(b, in, app_id, dir);
        assert_int_equal(__atomic_load_n(&seen_at_init, __ATOMIC_SEQ_CST),
                         run1);
        tick_and_close(app, run1 + 10);
        int64_t run2 = __atomic_load_n(&last_tick, __ATOMIC_SEQ_CST);

        /* Run 3 starts from the last tick of run 2: the close committed
         * it, with positions on the idle input partition. */
        app = run(b, in, app_id, dir);
        int64_t seen = __atomic_load_n(&seen_at_init, __ATOMIC_SEQ_CST);
        int rebuilt = kst_log_contains("ahead of the committed state");
        assert_int_equal(ks_app_close(app, 30000), 0);
        ks_app_destroy(app);
        printf("# ticks: run 1 ended at %lld, run 2 at %lld, run 3 began at "
               "%lld\n",
               (long long)run1, (long long)run2, (long long)seen);
        assert_int_equal(seen, run2);
        assert_false(rebuilt);
        free(in);
        free(app_id);
        kst_broker_destroy(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_idle_punctuation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
