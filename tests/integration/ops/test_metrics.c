/* The metrics of a running word count (two stream threads, recording
 * level DEBUG) against what the test drove:
 *   - every input record is counted once: the tasks' process-total sum to
 *     the threads', which are the lines plus the words (each line read by
 *     the splitting sub-topology, each word by the counting one), and to
 *     ks_app_metric("process-total");
 *   - in every task, the first processor after the source saw every
 *     record of the task (processor-node metrics);
 *   - once all is processed every input partition's records-lag is 0 and
 *     nothing is buffered; nothing was dropped, for any reason;
 *   - the counts store was read and written once per word (store
 *     metrics at DEBUG), and never deleted from;
 *   - librdkafka's statistics give each thread the broker's round-trip
 *     time;
 *   - commit-total equals ks_app_metric("commit-total");
 *   - the app level says RUNNING with two alive threads;
 *   - the statistics callback delivers JSON documents holding the same
 *     figures, and the Prometheus text has one TYPE line per family;
 *   - snapshots taken on another thread while ks_app_start() runs (an
 *     HTTP endpoint serving before the app starts does) see the client-id
 *     as it was before the start or as it is after, nothing between (and
 *     under ThreadSanitizer, no race with the start). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#include "kstreams/metrics.h"
#include "serde/json_int.h"

#define PARTITIONS 3
#define LINES      1500

typedef struct {
        pthread_mutex_t lock;
        int calls, parsed;
        char *last;
} stats_t;

static void on_stats(void *opaque, const char *json, size_t len) {
        stats_t *s = opaque;
        char why[128];
        ks__json_t *j = ks__json_parse(json, why, sizeof(why));
        pthread_mutex_lock(&s->lock);
        s->calls++;
        s->parsed += j != NULL && strlen(json) == len;
        free(s->last);
        s->last = strdup(json);
        pthread_mutex_unlock(&s->lock);
        ks__json_free(j);
}

static double sum_of(const ks_metrics_t *m, const char *group, const char *name,
                     const char *tag, const char *value) {
        double sum = 0;
        for (size_t i = 0; i < ks_metrics_count(m); i++) {
                const char *n, *g;
                double v;
                ks_metrics_get(m, i, &n, &g, NULL, &v);
                if (strcmp(g, group) || strcmp(n, name))
                        continue;
                int ok = !tag;
                for (size_t j = 0; !ok && j < ks_metrics_tag_count(m, i); j++) {
                        const char *k, *tv;
                        ks_metrics_tag(m, i, j, &k, &tv);
                        ok = !strcmp(k, tag) && !strcmp(tv, value);
                }
                if (ok)
                        sum += v;
        }
        return sum;
}

static const char *tag_of(const ks_metrics_t *m, size_t i, const char *key) {
        for (size_t j = 0; j < ks_metrics_tag_count(m, i); j++) {
                const char *k, *v;
                ks_metrics_tag(m, i, j, &k, &v);
                if (!strcmp(k, key))
                        return v;
        }
        return NULL;
}

typedef struct {
        ks_app_t *app;
        double want, got, lag;
        ks_metrics_t *m;
} settle_t;

static int is_settled(void *opaque) {
        settle_t *s = opaque;
        ks_metrics_destroy(s->m);
        s->m = ks_app_metrics(s->app);
        assert_non_null(s->m);
        s->got = sum_of(s->m, "stream-thread-metrics", "process-total", NULL,
                        NULL);
        s->lag = sum_of(s->m, "stream-task-metrics", "records-lag", NULL, NULL);
        return s->got == s->want && s->lag == 0;
}

/* Takes snapshots until told to stop, keeping the client-id tags seen. */
typedef struct {
        ks_app_t *app;
        int stop; /* atomic */
        int reads;
        char seen[4][300];
        int seen_cnt, more; /* more: other tags beyond the four kept */
} scraper_t;

static void *scrape_main(void *arg) {
        scraper_t *s = arg;
        while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
                ks_metrics_t *m = ks_app_metrics(s->app);
                const char *k, *v = NULL;
                if (m && !ks_metrics_tag(m, 0, 0, &k, &v)) {
                        int i = 0;
                        while (i < s->seen_cnt && strcmp(s->seen[i], v))
                                i++;
                        if (i == s->seen_cnt && i < 4)
                                snprintf(s->seen[s->seen_cnt++],
                                         sizeof(s->seen[0]), "%s", v);
                        else if (i == s->seen_cnt)
                                s->more = 1;
                }
                ks_metrics_destroy(m);
                s->reads++;
        }
        return NULL;
}

static void client_id_tag(ks_app_t *app, char *out, size_t size) {
        ks_metrics_t *m = ks_app_metrics(app);
        const char *k, *v;
        assert_int_equal(ks_metrics_tag(m, 0, 0, &k, &v), 0);
        assert_string_equal(k, "client-id");
        snprintf(out, size, "%s", v);
        ks_metrics_destroy(m);
}

/* Wait (threads publish about once a second) until their figures show
 * @p want records processed and no lag. */
static ks_metrics_t *settled(ks_app_t *app, double want) {
        settle_t s = {app, want, 0, 0, NULL};
        if (!kst_wait_for(app, 30000, 50, is_settled, &s))
                fail_msg("threads published %.0f processed records (lag "
                         "%.0f), want %.0f",
                         s.got, s.lag, want);
        return s.m;
}

static void test_wordcount_metrics(void **state) {
        kst_wc_t *f = *state;
        kst_wc_produce(f, LINES, 6, KST_WC_SPREAD);
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){
                        "num.stream.threads", "2", "metrics.recording.level",
                        "DEBUG", "statistics.interval.ms", "200",
                        "commit.interval.ms", "100",
                        "main.consumer.statistics.interval.ms", "300", NULL});
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        stats_t st = {.lock = PTHREAD_MUTEX_INITIALIZER};
        ks_app_set_stats_callback(app, on_stats, &st);
        char before[300], after[300];
        client_id_tag(app, before, sizeof(before));
        scraper_t sc = {.app = app};
        pthread_t scr;
        assert_int_equal(pthread_create(&scr, NULL, scrape_main, &sc), 0);
        assert_int_equal(ks_app_start(app, &e), 0);
        __atomic_store_n(&sc.stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(scr, NULL);
        client_id_tag(app, after, sizeof(after));
        assert_true(sc.reads > 0);
        assert_false(sc.more);
        for (int i = 0; i < sc.seen_cnt; i++)
                if (strcmp(sc.seen[i], before) && strcmp(sc.seen[i], after))
                        fail_msg("client-id \"%s\" during the start (before "
                                 "\"%s\", after \"%s\")",
                                 sc.seen[i], before, after);
        kst_wc_wait_counts(f, app, 60000);

        double want = (double)LINES + (double)f->total_words;
        ks_metrics_t *m = settled(app, want);
        assert_true(sum_of(m, "stream-task-metrics", "process-total", NULL,
                           NULL) == want);
        assert_int_equal((int64_t)want, ks_app_metric(app, "process-total"));
        /* Per task: the busiest processor node saw every record. */
        for (size_t i = 0; i < ks_metrics_count(m); i++) {
                const char *n, *g;
                double v;
                ks_metrics_get(m, i, &n, &g, NULL, &v);
                if (strcmp(g, "stream-task-metrics") ||
                    strcmp(n, "process-total"))
                        continue;
                const char *task = tag_of(m, i, "task-id");
                double best = 0;
                for (size_t k = 0; k < ks_metrics_count(m); k++) {
                        const char *n2, *g2;
                        double v2;
                        ks_metrics_get(m, k, &n2, &g2, NULL, &v2);
                        if (!strcmp(g2, "stream-processor-node-metrics") &&
                            !strcmp(n2, "process-total") &&
                            !strcmp(tag_of(m, k, "task-id"), task) && v2 > best)
                                best = v2;
                }
                if (best != v)
                        fail_msg("task %s processed %.0f records, its first "
                                 "processor %.0f",
                                 task, v, best);
        }
        assert_true(sum_of(m, "stream-task-metrics", "records-buffered", NULL,
                           NULL) == 0);
        double words = (double)f->total_words;
        assert_true(sum_of(m, "stream-state-metrics", "get-total", "store",
                           WORDCOUNT_STORE) == words);
        assert_true(sum_of(m, "stream-state-metrics", "put-total", "store",
                           WORDCOUNT_STORE) == words);
        assert_true(sum_of(m, "stream-state-metrics", "delete-total", "store",
                           WORDCOUNT_STORE) == 0);
        assert_true(sum_of(m, "stream-task-metrics", "dropped-records-total",
                           NULL, NULL) == 0);
        /* Both sub-topologies' partitions of both input topics. */
        size_t lags = 0;
        for (size_t i = 0; i < ks_metrics_count(m); i++) {
                const char *n;
                ks_metrics_get(m, i, &n, NULL, NULL, NULL);
                lags += !strcmp(n, "records-lag");
        }
        assert_int_equal(lags, 2 * PARTITIONS);
        size_t rtts = 0;
        for (size_t i = 0; i < ks_metrics_count(m); i++) {
                const char *n, *g;
                ks_metrics_get(m, i, &n, &g, NULL, NULL);
                rtts += !strcmp(g, "librdkafka") && !strcmp(n, "rtt-avg") &&
                        tag_of(m, i, "broker");
        }
        assert_int_equal(rtts, 2); /* one broker, two threads */
        double v;
        assert_int_equal(
                ks_metrics_find(m, "stream-metrics", "state", NULL, &v), 0);
        assert_true(v == KS_APP_RUNNING);
        assert_int_equal(ks_metrics_find(m, "stream-metrics",
                                         "alive-stream-threads", NULL, &v),
                         0);
        assert_true(v == 2);
        ks_metrics_destroy(m);

        /* Close: the last figures are published as the threads end. */
        assert_int_equal(ks_app_close(app, 30000), 0);
        m = ks_app_metrics(app);
        assert_true(sum_of(m, "stream-thread-metrics", "commit-total", NULL,
                           NULL) == ks_app_metric(app, "commit-total"));
        assert_true(ks_app_metric(app, "commit-total") > 0);
        ks_metrics_destroy(m);

        pthread_mutex_lock(&st.lock);
        assert_true(st.calls >= 2);
        assert_int_equal(st.parsed, st.calls);
        assert_non_null(strstr(st.last, "\"name\":\"process-total\""));
        free(st.last);
        pthread_mutex_unlock(&st.lock);

        size_t len = 0;
        char *prom = ks_app_metrics_prometheus(app, &len);
        assert_non_null(prom);
        assert_int_equal(strlen(prom), len);
        const char *type = "# TYPE kstreams_stream_thread_process_total "
                           "counter\n";
        char *first = strstr(prom, type);
        assert_non_null(first);
        assert_null(strstr(first + 1, type)); /* one family, once */
        free(prom);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static int setup(void **state) {
        *state = kst_wc_fixture("mock", 1, "metrics", PARTITIONS, 40, 5);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_wordcount_metrics, setup,
                                                kst_wc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
