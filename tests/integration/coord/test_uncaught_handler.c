/* The uncaught-error handler (ks_app_set_uncaught_error_handler()): a
 * counting processor fails the first time it sees one given record (a
 * "poison" value) and succeeds from then on.
 *
 * With a handler answering KS_UNCAUGHT_REPLACE_THREAD, the handler is
 * asked once, with an error naming the processor; a new thread takes the
 * tasks from their last commit and every final count (the poison record's
 * word included) equals an independent count, also for input produced
 * after the replacement; the app stays RUNNING. With the default handler
 * the app goes to ERROR with that error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define PARTITIONS 2
#define WORDS      10
#define STORE      "counts"
#define POISON     "poison"

typedef struct {
        int failed; /* atomic: the poison record failed once */
} shared_t;

typedef struct {
        kst_env_t env;
        kst_broker_t *broker;          /* env's */
        const char *in, *out, *app_id; /* env's */
        char words[WORDS][16];
        const char *keys[WORDS]; /* words */
        shared_t shared;
        int64_t expect[WORDS];
        int produced;
        /* handler calls and the first error it was given */
        int calls;
        char first_error[1024];
} fixture_t;

typedef struct {
        shared_t *shared;
        ks_kv_store_t *store;
} count_state_t;

static ks_err_t count_init(ks_context_t *ctx, void *opaque, void **statep) {
        count_state_t *st = calloc(1, sizeof(*st));
        if (!st)
                return KS_ERR_NO_MEMORY;
        st->shared = opaque;
        ks_err_t err = ks_context_get_kv_store(ctx, STORE, &st->store);
        if (err) {
                free(st);
                return err;
        }
        *statep = st;
        return KS_ERR_NO_ERROR;
}

static void count_close(ks_context_t *ctx, void *state) {
        free(state);
}

/* Count the key; fail on the poison value, once. */
static ks_err_t count(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        count_state_t *st = state;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        if (v && vl == strlen(POISON) && !memcmp(v, POISON, vl) &&
            !__atomic_exchange_n(&st->shared->failed, 1, __ATOMIC_SEQ_CST))
                return ks_context_set_error(ctx, "poison record at offset %lld",
                                            (long long)ks_context_offset(ctx));
        const void *old;
        int64_t n = 0;
        ks_err_t err = ks_kv_store_get(st->store, k, kl, &old, &vl);
        if (!err)
                err = ks_int64_decode(old, vl, &n, NULL);
        else if (err == KS_ERR_NOT_FOUND)
                err = KS_ERR_NO_ERROR;
        if (err)
                return err;
        uint8_t enc[8];
        ks_int64_encode(n + 1, enc);
        if ((err = ks_kv_store_put(st->store, k, kl, enc, sizeof(enc))))
                return err;
        return ks_context_forward(ctx, k, kl, enc, sizeof(enc));
}

static ks_topology_t *topology(fixture_t *f) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", (const char *[]){f->in}, 1,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "count", count_init, count,
                                           count_close, &f->shared,
                                           (const char *[]){"src"}, 1, &e));
        KST_OK_E(ks_topology_add_kv_store(t, STORE, KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_connect_store(t, STORE, "count", &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", f->out, NULL, ks_serde_int64(),
                                      (const char *[]){"count"}, 1, &e));
        return t;
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, "uncaught", PARTITIONS,
                     (const char *const[]){"in", "out", NULL});
        f->broker = f->env.broker;
        f->in = f->env.topic[0];
        f->out = f->env.topic[1];
        f->app_id = f->env.app_id;
        for (int i = 0; i < WORDS; i++) {
                snprintf(f->words[i], sizeof(f->words[i]), "w%d", i);
                f->keys[i] = f->words[i];
        }
        ks_topology_t *t = topology(f);
        assert_int_equal(kst_create_internal_topics(f->broker, t, f->app_id,
                                                    PARTITIONS, NULL, NULL),
                         1);
        ks_topology_destroy(t);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_env_fini(&f->env);
        free(f);
        return 0;
}

/* @p n records keyed by a word; the one at @p poison_at (-1: none) has the
 * poison value. Every record counts. */
static void produce(fixture_t *f, int n, int poison_at) {
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int i = 0; i < n; i++) {
                int w = (f->produced * 7 + 3) % WORDS;
                const char *k = f->words[w];
                const char *v = i == poison_at ? POISON : "x";
                kst_produce(p, f->in, (int32_t)(f->produced % PARTITIONS), k,
                            strlen(k), v, strlen(v));
                f->expect[w]++;
                f->produced++;
        }
        kst_flush(p);
        rd_kafka_destroy(p);
}

static void check_counts(fixture_t *f, ks_app_t *app) {
        kst_wait_counts(f->broker, f->out, PARTITIONS, app, 60000, WORDS,
                        f->keys, f->expect);
}

static ks_uncaught_action_t replace(void *opaque, const ks_error_t *error) {
        fixture_t *f = opaque;
        if (!__atomic_fetch_add(&f->calls, 1, __ATOMIC_SEQ_CST))
                snprintf(f->first_error, sizeof(f->first_error), "%s",
                         ks_error_message(error));
        return KS_UNCAUGHT_REPLACE_THREAD;
}

static ks_app_t *start(fixture_t *f, ks_uncaught_error_cb *handler) {
        ks_error_t *e = NULL;
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"commit.interval.ms", "100", NULL});
        ks_topology_t *t = topology(f);
        ks_app_t *app = ks_app_new(t, c, &e);
        if (!app)
                fail_msg("%s", ks_error_message(e));
        if (handler)
                ks_app_set_uncaught_error_handler(app, handler, f);
        KST_OK_E(ks_app_start(app, &e));
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

static void test_replace_thread(void **state) {
        fixture_t *f = *state;
        produce(f, 200, 120);
        ks_app_t *app = start(f, replace);
        check_counts(f, app);
        assert_int_equal(__atomic_load_n(&f->calls, __ATOMIC_SEQ_CST), 1);
        printf("# the handler was given: %s\n", f->first_error);
        assert_non_null(strstr(f->first_error, "count"));
        assert_non_null(strstr(f->first_error, "poison record"));
        /* The replacement goes on with new input. */
        produce(f, 100, -1);
        check_counts(f, app);
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        assert_int_equal(__atomic_load_n(&f->calls, __ATOMIC_SEQ_CST), 1);
        assert_null(ks_app_error(app));
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
}

static void test_default_handler(void **state) {
        fixture_t *f = *state;
        produce(f, 200, 120);
        ks_app_t *app = start(f, NULL);
        kst_wait_state(app, KS_APP_ERROR, 60000);
        const char *msg = ks_error_message(ks_app_error(app));
        printf("# ERROR: %s\n", msg);
        assert_non_null(strstr(msg, "count"));
        assert_non_null(strstr(msg, "poison record"));
        ks_app_close(app, 30000);
        ks_app_destroy(app);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_replace_thread, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_default_handler, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
