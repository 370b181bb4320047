/* Interactive queries on the mock cluster: a word count on two threads
 * queried key by key, in full, by range and by prefix against the
 * independent count; the errors of a store that does not exist, a store
 * of another type and an app that does not run; window and session stores
 * of windowed counts against an independent split of the input; and
 * queries in a loop from another thread while the input is processed and
 * a second instance joins, each answer a count the word had at some point
 * (never lower than one seen before, never above the final count) or a
 * documented error, an iterator open across that rebalance ending with
 * KS_ERR_STORE_MIGRATED. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 3
#define VOCAB      40

static char *subdir(const char *name) {
        char *d;
        if (asprintf(&d, "%s/%s", kst_tmpdir(), name) < 0)
                fail();
        return d;
}

static ks_app_t *wc_app(kst_wc_t *f, const char *dir, int threads) {
        char n[8];
        snprintf(n, sizeof(n), "%d", threads);
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", "num.stream.threads", n,
                                      "consumer.fetch.wait.max.ms", "10",
                                      NULL});
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = ks_app_new(t, c, &e);
        if (!app)
                fail_msg("app: %s", ks_error_message(e));
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

/* The count @p app answers for word @p w: 1 and *n (0 when absent), 0 if
 * the app does not hold it (migrated, restoring); fails on other
 * errors. */
static int query_count(ks_app_t *app, const char *w, int64_t *n) {
        void *v = NULL;
        size_t vl = 0;
        int64_t ts = 0;
        ks_error_t *e = NULL;
        ks_err_t err = ks_app_query_kv(app, WORDCOUNT_STORE, w, strlen(w), &v,
                                       &vl, &ts, &e);
        if (err == KS_ERR_STORE_MIGRATED || err == KS_ERR_STORE_RESTORING) {
                assert_true(ks_error_is_retriable(e));
                ks_error_destroy(e);
                return 0;
        }
        if (err)
                fail_msg("query %s: %s", w, ks_error_message(e));
        assert_int_equal(ts, -1); /* a plain key-value store */
        *n = 0;
        if (v)
                KST_OK(ks_int64_decode(v, vl, n, NULL));
        free(v);
        return 1;
}

typedef struct {
        kst_wc_t *f;
        ks_app_t *apps[2];
        int napps;
} counted_t;

/* Every word is answered with its independent count by one of the apps. */
static int counts_queryable(void *opaque) {
        counted_t *c = opaque;
        for (int i = 0; i < c->f->vocab; i++) {
                int found = 0;
                for (int a = 0; a < c->napps && !found; a++) {
                        int64_t n;
                        if (query_count(c->apps[a], c->f->words[i], &n)) {
                                if (n != c->f->expect[i])
                                        return 0;
                                found = 1;
                        }
                }
                if (!found)
                        return 0;
        }
        return 1;
}

/* Iterate @p it to its end: every key a word, seen once, with its count
 * and within [lo, hi] (NULL: open) and starting with @p prefix; returns
 * how many. */
static int check_iter(kst_wc_t *f, ks_query_iter_t *it, const char *lo,
                      const char *hi, const char *prefix) {
        int seen[VOCAB] = {0}, n = 0, rc;
        const void *k, *v;
        size_t kl, vl;
        int64_t s, e;
        ks_error_t *err = NULL;
        while ((rc = ks_query_iter_next(it, &k, &kl, &v, &vl, &s, &e, &err)) ==
               1) {
                int w = kst_wc_word(f, k, kl);
                if (w < 0)
                        fail_msg("not a word: %.*s", (int)kl, (const char *)k);
                assert_int_equal(seen[w]++, 0);
                int64_t cnt;
                KST_OK(ks_int64_decode(v, vl, &cnt, NULL));
                assert_int_equal(cnt, f->expect[w]);
                assert_int_equal(s, -1);
                assert_int_equal(e, -1);
                if (lo)
                        assert_true(strcmp(f->words[w], lo) >= 0);
                if (hi)
                        assert_true(strcmp(f->words[w], hi) <= 0);
                if (prefix)
                        assert_memory_equal(f->words[w], prefix,
                                            strlen(prefix));
                n++;
        }
        if (rc)
                fail_msg("iteration: %s", ks_error_message(err));
        /* Over: nothing more. */
        assert_int_equal(ks_query_iter_next(it, &k, &kl, &v, &vl, &s, &e, &err),
                         0);
        ks_query_iter_destroy(it);
        int want = 0;
        for (int i = 0; i < f->vocab; i++)
                if (f->expect[i] && (!lo || strcmp(f->words[i], lo) >= 0) &&
                    (!hi || strcmp(f->words[i], hi) <= 0) &&
                    (!prefix || !strncmp(f->words[i], prefix, strlen(prefix))))
                        want++;
        assert_int_equal(n, want);
        return n;
}

static void test_wordcount(void **state) {
        kst_wc_t *f = kst_wc_fixture(NULL, 1, "iq", PARTITIONS, VOCAB, 4242);
        char *dir = subdir("wc");
        ks_app_t *app = wc_app(f, dir, 2);
        ks_error_t *e = NULL;
        void *v = (void *)1;
        size_t vl = 7;
        /* Before start. */
        KST_ASSERT_ERROR(ks_app_query_kv(app, WORDCOUNT_STORE, "w00", 3, &v,
                                         &vl, NULL, &e),
                         e, KS_ERR_STATE, WORDCOUNT_STORE, "CREATED");
        assert_null(v);
        assert_null(ks_app_query_kv_all(app, WORDCOUNT_STORE, &e));
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_STATE, "CREATED");
        KST_OK(ks_app_start(app, NULL));
        kst_wc_produce(f, 300, 6, KST_WC_MIXED);
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        KST_ASSERT_ERROR(ks_app_query_kv(app, "no-such-store", "w00", 3, &v,
                                         &vl, NULL, &e),
                         e, KS_ERR_NOT_FOUND, "no-such-store");
        assert_null(ks_app_query_kv_prefix(app, "no-such-store", "w", 1, &e));
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_NOT_FOUND,
                         "no-such-store");
        assert_null(ks_app_query_window_fetch(app, WORDCOUNT_STORE, "w00", 3, 0,
                                              1000, &e));
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_STORE_TYPE,
                         WORDCOUNT_STORE, "key-value");
        assert_null(
                ks_app_query_session_fetch(app, WORDCOUNT_STORE, "w00", 3, &e));
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_STORE_TYPE,
                         WORDCOUNT_STORE);

        kst_wc_wait_counts(f, app, 60000);
        counted_t c = {f, {app}, 1};
        if (!kst_wait_for(app, 30000, 20, counts_queryable, &c))
                fail_msg("the queried counts never matched the input");
        /* One instance holds every partition: every word, once. */
        int words =
                check_iter(f, ks_app_query_kv_all(app, WORDCOUNT_STORE, NULL),
                           NULL, NULL, NULL);
        assert_true(words > VOCAB / 2);
        check_iter(f,
                   ks_app_query_kv_range(app, WORDCOUNT_STORE, "w05", 3, "w14",
                                         3, NULL),
                   "w05", "w14", NULL);
        check_iter(f,
                   ks_app_query_kv_range(app, WORDCOUNT_STORE, NULL, 0, "w09",
                                         3, NULL),
                   NULL, "w09", NULL);
        check_iter(f,
                   ks_app_query_kv_range(app, WORDCOUNT_STORE, "w30", 3, NULL,
                                         0, NULL),
                   "w30", NULL, NULL);
        check_iter(f,
                   ks_app_query_kv_prefix(app, WORDCOUNT_STORE, "w1", 2, NULL),
                   NULL, NULL, "w1");
        /* A word nobody wrote: absent, not an error. */
        int64_t ts = 0;
        KST_OK(ks_app_query_kv(app, WORDCOUNT_STORE, "nonesuch", 8, &v, &vl,
                               &ts, NULL));
        assert_null(v);
        assert_int_equal(vl, 0);
        assert_int_equal(ts, -1);

        KST_OK(ks_app_close(app, 30000));
        KST_ASSERT_ERROR(ks_app_query_kv(app, WORDCOUNT_STORE, "w00", 3, &v,
                                         &vl, NULL, &e),
                         e, KS_ERR_STATE, "NOT_RUNNING");
        ks_app_destroy(app);
        free(dir);
        kst_wc_destroy(f);
        (void)state;
}

/* --- windows and sessions ------------------------------------------------- */

#define USERS    8
#define EVENTS   400
#define WIN_MS   60000
#define GAP_MS   60000
#define GRACE_MS 86400000

typedef struct {
        int user;
        int64_t ts;
} event_t;

typedef struct {
        kst_env_t env;
        ks_app_t *app;
        event_t ev[EVENTS];
} wfix_t;

static void user_name(int u, char *buf, size_t size) {
        snprintf(buf, size, "user-%d", u);
}

static ks_topology_t *windowed_topology(const char *in) {
        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {in};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           ks_serde_string(), "events");
        ks_windowed_count(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(s, NULL),
                        ks_time_windows_of_size_and_grace(WIN_MS, GRACE_MS)),
                "win-counts", "win-count");
        ks_windowed_count(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(s, NULL),
                        ks_session_windows_of_inactivity_gap_and_grace(
                                GAP_MS, GRACE_MS)),
                "sess-counts", "sess-count");
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        if (ks_builder_build(b, &t, &e))
                fail_msg("topology: %s", ks_error_message(e));
        ks_builder_destroy(b);
        return t;
}

static int64_t stored_count(const void *v, size_t vl) {
        /* be64 timestamp | be64 count */
        int64_t n = -1;
        if (vl != 16 || ks_int64_decode((const char *)v + 8, 8, &n, NULL))
                fail_msg("stored value of %zu bytes", vl);
        return n;
}

/* The windows of user @p u answered by the store equal its events split
 * into 1-minute windows, and its sessions those split at gaps over a
 * minute. */
static int user_matches(wfix_t *w, int u) {
        char name[16];
        user_name(u, name, sizeof(name));
        ks_error_t *e = NULL;
        ks_query_iter_t *it = ks_app_query_window_fetch(
                w->app, "win-counts", name, strlen(name), INT64_MIN / 2,
                INT64_MAX / 2, &e);
        if (!it)
                fail_msg("window fetch: %s", ks_error_message(e));
        const void *k, *v;
        size_t kl, vl;
        int64_t s, end;
        int i = 0, ok = 1;
        while (ok &&
               ks_query_iter_next(it, &k, &kl, &v, &vl, &s, &end, &e) == 1) {
                assert_memory_equal(k, name, kl);
                while (i < EVENTS && w->ev[i].user != u)
                        i++;
                if (i == EVENTS) {
                        ok = 0;
                        break;
                }
                int64_t start = w->ev[i].ts - w->ev[i].ts % WIN_MS, n = 0;
                for (; i < EVENTS && w->ev[i].ts < start + WIN_MS; i++)
                        n += w->ev[i].user == u;
                ok = s == start && end == start + WIN_MS &&
                     stored_count(v, vl) == n;
        }
        while (ok && i < EVENTS && w->ev[i].user != u)
                i++;
        ok = ok && i == EVENTS && !e;
        ks_query_iter_destroy(it);
        ks_error_destroy(e);
        e = NULL;
        if (!ok)
                return 0;
        it = ks_app_query_session_fetch(w->app, "sess-counts", name,
                                        strlen(name), &e);
        if (!it)
                fail_msg("session fetch: %s", ks_error_message(e));
        i = 0;
        while (ok &&
               ks_query_iter_next(it, &k, &kl, &v, &vl, &s, &end, &e) == 1) {
                assert_memory_equal(k, name, kl);
                while (i < EVENTS && w->ev[i].user != u)
                        i++;
                if (i == EVENTS) {
                        ok = 0;
                        break;
                }
                int64_t first = w->ev[i].ts, last = first, n = 1;
                for (i++; i < EVENTS; i++) {
                        if (w->ev[i].user != u)
                                continue;
                        if (w->ev[i].ts - last > GAP_MS)
                                break;
                        last = w->ev[i].ts;
                        n++;
                }
                ok = s == first && end == last && stored_count(v, vl) == n;
        }
        while (ok && i < EVENTS && w->ev[i].user != u)
                i++;
        ok = ok && i == EVENTS && !e;
        ks_query_iter_destroy(it);
        ks_error_destroy(e);
        return ok;
}

static int windows_match(void *opaque) {
        wfix_t *w = opaque;
        for (int u = 0; u < USERS; u++)
                if (!user_matches(w, u))
                        return 0;
        return 1;
}

static void test_windows_and_sessions(void **state) {
        wfix_t *w = calloc(1, sizeof(*w));
        assert_non_null(w);
        kst_env_init(&w->env, "iqw", PARTITIONS,
                     (const char *const[]){"events", NULL});
        ks_topology_t *t = windowed_topology(w->env.topic[0]);
        kst_create_internal_topics(w->env.broker, t, w->env.app_id, PARTITIONS,
                                   NULL, NULL);
        /* Events in time order, 2 to 8 s apart, of random users: each
         * user's gaps vary around the session gap. */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t base = (int64_t)now.tv_sec * 1000 - 7200000;
        base -= base % WIN_MS;
        unsigned seed = 77;
        int64_t ts = base;
        for (int i = 0; i < EVENTS; i++) {
                seed = seed * 1103515245u + 12345u;
                w->ev[i].user = (int)((seed >> 16) % USERS);
                ts += 2000 + (int64_t)((seed >> 8) % 6000);
                w->ev[i].ts = ts;
        }
        /* The keys' partitions by murmur2, as the queries compute them. */
        rd_kafka_t *p = kst_broker_client(
                w->env.broker, RD_KAFKA_PRODUCER,
                (const char *const[]){"partitioner", "murmur2_random", NULL});
        for (int i = 0; i < EVENTS; i++) {
                char name[16];
                user_name(w->ev[i].user, name, sizeof(name));
                rd_kafka_resp_err_t err = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(w->env.topic[0]),
                        RD_KAFKA_V_KEY(name, strlen(name)),
                        RD_KAFKA_V_VALUE("x", 1),
                        RD_KAFKA_V_TIMESTAMP(w->ev[i].ts),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                assert_int_equal(err, 0);
        }
        kst_flush(p);
        rd_kafka_destroy(p);

        char *dir = subdir("windows");
        ks_config_t *c = kst_app_config(
                w->env.broker, w->env.app_id,
                (const char *const[]){"state.dir", dir, "commit.interval.ms",
                                      "100", "consumer.fetch.wait.max.ms", "10",
                                      NULL});
        w->app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wait_processed(w->app, EVENTS, 60000);
        if (!kst_wait_for(w->app, 30000, 50, windows_match, w))
                fail_msg("the windows and sessions queried never matched "
                         "the input");
        /* The types are checked. */
        ks_error_t *e = NULL;
        void *v;
        size_t vl;
        KST_ASSERT_ERROR(ks_app_query_kv(w->app, "win-counts", "user-1", 6, &v,
                                         &vl, NULL, &e),
                         e, KS_ERR_STORE_TYPE, "win-counts", "window");
        assert_null(ks_app_query_session_fetch(w->app, "win-counts", "user-1",
                                               6, &e));
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_STORE_TYPE, "window");
        assert_null(ks_app_query_window_fetch(w->app, "sess-counts", "user-1",
                                              6, 0, 1, &e));
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_STORE_TYPE, "session");
        KST_OK(ks_app_close(w->app, 30000));
        ks_app_destroy(w->app);
        kst_env_fini(&w->env);
        free(dir);
        free(w);
        (void)state;
}

/* --- concurrency -----------------------------------------------------------
 */

typedef struct {
        ks_app_t *app;
        kst_wc_t *f;
        int stop;                        /* atomic */
        int64_t ok, migrated, restoring; /* atomic */
        int64_t last[VOCAB];             /* the querying thread's */
        int64_t max[VOCAB];
        int violations;
        char first[256];
} looper_t;

static void violation(looper_t *l, const char *what, const char *w, long long a,
                      long long b) {
        if (!l->violations++)
                snprintf(l->first, sizeof(l->first), "%s: %s %lld %lld", w,
                         what, a, b);
}

static void loop_answer(looper_t *l, int i, ks_err_t err, int64_t n,
                        const ks_error_t *e) {
        const char *w = l->f->words[i];
        if (err == KS_ERR_STORE_MIGRATED)
                __atomic_add_fetch(&l->migrated, 1, __ATOMIC_SEQ_CST);
        else if (err == KS_ERR_STORE_RESTORING)
                __atomic_add_fetch(&l->restoring, 1, __ATOMIC_SEQ_CST);
        else if (err)
                violation(l, "error", w, err, 0);
        if (err)
                return;
        __atomic_add_fetch(&l->ok, 1, __ATOMIC_SEQ_CST);
        if (n < l->last[i])
                violation(l, "count went down (from, to)", w, l->last[i], n);
        l->last[i] = n;
        if (n > l->max[i])
                l->max[i] = n;
}

static void *query_loop(void *arg) {
        looper_t *l = arg;
        kst_wc_t *f = l->f;
        int round = 0;
        while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
                for (int i = 0; i < f->vocab; i++) {
                        void *v = NULL;
                        size_t vl = 0;
                        ks_error_t *e = NULL;
                        ks_err_t err = ks_app_query_kv(
                                l->app, WORDCOUNT_STORE, f->words[i],
                                strlen(f->words[i]), &v, &vl, NULL, &e);
                        int64_t n = 0;
                        if (!err && v && ks_int64_decode(v, vl, &n, NULL))
                                err = KS_ERR_SERDE;
                        loop_answer(l, i, err, n, e);
                        free(v);
                        ks_error_destroy(e);
                }
                if (round++ % 4)
                        continue;
                /* The whole store: every count one the word had. */
                ks_error_t *e = NULL;
                ks_query_iter_t *it =
                        ks_app_query_kv_all(l->app, WORDCOUNT_STORE, &e);
                if (!it) {
                        loop_answer(l, 0, ks_error_code(e), 0, e);
                        ks_error_destroy(e);
                        continue;
                }
                const void *k, *v;
                size_t kl, vl;
                int rc;
                while ((rc = ks_query_iter_next(it, &k, &kl, &v, &vl, NULL,
                                                NULL, &e)) == 1) {
                        int w = kst_wc_word(f, k, kl);
                        int64_t n = -1;
                        if (w < 0 || ks_int64_decode(v, vl, &n, NULL)) {
                                violation(l, "bad entry (klen, vlen)", "all",
                                          (long long)kl, (long long)vl);
                                continue;
                        }
                        loop_answer(l, w, KS_ERR_NO_ERROR, n, NULL);
                }
                if (rc < 0)
                        loop_answer(l, 0, ks_error_code(e), 0, e);
                ks_error_destroy(e);
                ks_query_iter_destroy(it);
        }
        return NULL;
}

static int migrated_seen(void *opaque) {
        looper_t *l = opaque;
        return __atomic_load_n(&l->migrated, __ATOMIC_SEQ_CST) > 0;
}

typedef struct {
        ks_app_t *a, *b;
} two_t;

/* Both run, the second instance with some tasks, all tasks held once. */
static int both_hold(void *opaque) {
        two_t *t = opaque;
        return ks_app_state(t->a) == KS_APP_RUNNING &&
               ks_app_state(t->b) == KS_APP_RUNNING &&
               ks_app_metric(t->b, "tasks") > 0 &&
               ks_app_metric(t->a, "tasks") + ks_app_metric(t->b, "tasks") ==
                       2 * PARTITIONS;
}

static void test_concurrent_queries(void **state) {
        kst_wc_t *f = kst_wc_fixture(NULL, 1, "iqc", PARTITIONS, VOCAB, 99);
        char *d1 = subdir("conc-1"), *d2 = subdir("conc-2");
        ks_app_t *a = wc_app(f, d1, 2);
        KST_OK(ks_app_start(a, NULL));
        kst_wc_produce(f, 200, 6, KST_WC_MIXED);
        looper_t *l = calloc(1, sizeof(*l));
        assert_non_null(l);
        l->app = a;
        l->f = f;
        pthread_t tid;
        assert_int_equal(pthread_create(&tid, NULL, query_loop, l), 0);
        kst_wc_wait_counts(f, a, 60000);
        counted_t c = {f, {a}, 1};
        if (!kst_wait_for(a, 30000, 20, counts_queryable, &c))
                fail_msg("the queried counts never matched the input");

        /* An iterator reading a task when the rebalance closes it. */
        ks_error_t *e = NULL;
        ks_query_iter_t *held = ks_app_query_kv_all(a, WORDCOUNT_STORE, &e);
        if (!held)
                fail_msg("all: %s", ks_error_message(e));
        const void *k, *v;
        size_t kl, vl;
        assert_int_equal(
                ks_query_iter_next(held, &k, &kl, &v, &vl, NULL, NULL, &e), 1);

        /* A second instance joins while more input is processed. */
        ks_app_t *b = wc_app(f, d2, 1);
        KST_OK(ks_app_start(b, NULL));
        kst_wc_produce(f, 200, 6, KST_WC_MIXED);
        two_t both = {a, b};
        if (!kst_wait_for(a, 90000, 20, both_hold, &both))
                fail_msg("the second instance never took tasks");
        KST_ASSERT_ERROR(
                ks_query_iter_next(held, &k, &kl, &v, &vl, NULL, NULL, &e) < 0
                        ? ks_error_code(e)
                        : KS_ERR_NO_ERROR,
                e, KS_ERR_STORE_MIGRATED, WORDCOUNT_STORE, "closed");
        /* Over: the same answer again. */
        assert_int_equal(
                ks_query_iter_next(held, &k, &kl, &v, &vl, NULL, NULL, &e), -1);
        KST_ASSERT_ERROR(ks_error_code(e), e, KS_ERR_STORE_MIGRATED, "closed");
        ks_query_iter_destroy(held);

        kst_wc_wait_counts(f, a, 60000);
        counted_t c2 = {f, {a, b}, 2};
        if (!kst_wait_for(a, 30000, 20, counts_queryable, &c2))
                fail_msg("the counts queried on both never matched the input");
        if (!kst_wait_for(a, 30000, 20, migrated_seen, l))
                fail_msg("the querying thread never met a migrated key");
        __atomic_store_n(&l->stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(tid, NULL);
        printf("# %lld answers, %lld migrated, %lld restoring\n",
               (long long)l->ok, (long long)l->migrated,
               (long long)l->restoring);
        if (l->violations)
                fail_msg("%d wrong answers, the first: %s", l->violations,
                         l->first);
        assert_true(l->ok > 0);
        for (int i = 0; i < VOCAB; i++)
                if (l->max[i] > f->expect[i])
                        fail_msg("%s: answered %lld, counted %lld", f->words[i],
                                 (long long)l->max[i], (long long)f->expect[i]);
        KST_OK(ks_app_close(b, 30000));
        KST_OK(ks_app_close(a, 30000));
        ks_app_destroy(b);
        ks_app_destroy(a);
        free(l);
        free(d1);
        free(d2);
        kst_wc_destroy(f);
        (void)state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wordcount),
                cmocka_unit_test(test_windows_and_sessions),
                cmocka_unit_test(test_concurrent_queries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
