/* Application fixtures for integration tests (see kst_app.h).
 *
 * A map is a small array of (key, last value, count) searched linearly:
 * tests read at most tens of distinct keys. A reader is a consumer
 * assigned to every partition of one topic from the beginning, with
 * partition ends reported, and one "at end" flag per partition that a
 * record clears and an end sets. */
#define _GNU_SOURCE
#include "kst_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- applications ------------------------------------------------------- */

ks_config_t *kst_app_config(const kst_broker_t *b, const char *app_id,
                            const char *const *settings) {
        ks_config_t *c = kst_config(app_id);
        kst_set(c, "bootstrap.servers", kst_broker_bootstrap(b));
        /* Short sessions, so that a member gone is noticed within seconds.
         * The embedded broker holds every rebalance for the session timeout
         * less a second: 3 s keeps its rebalances short; a real broker
         * refuses less than 6 s (group.min.session.timeout.ms). */
        kst_set(c, "consumer.session.timeout.ms",
                kst_broker_is_mock(b) ? "3000" : "6000");
        kst_set(c, "consumer.heartbeat.interval.ms",
                kst_broker_is_mock(b) ? "300" : "1000");
        for (size_t i = 0; settings && settings[i]; i += 2)
                kst_set(c, settings[i], settings[i + 1]);
        return c;
}

ks_app_t *kst_app_start(ks_topology_t *topo, const ks_config_t *conf,
                        ks_restore_cb *on_restore, void *opaque) {
        ks_error_t *e = NULL;
        ks_app_t *app = ks_app_new(topo, conf, &e);
        if (!app)
                fail_msg("%s", ks_error_message(e));
        if (on_restore)
                ks_app_set_restore_listener(app, on_restore, opaque);
        KST_OK_E(ks_app_start(app, &e));
        return app;
}

size_t kst_create_internal_topics(kst_broker_t *b, ks_topology_t *topo,
                                  const char *app_id, int partitions,
                                  int (*partitions_of)(void *opaque,
                                                       const char *topic,
                                                       const char *source),
                                  void *opaque) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_build(topo, &e));
        size_t n = ks_topology_internal_topic_count(topo);
        for (size_t i = 0; i < n; i++) {
                char name[512];
                const char *src = NULL;
                KST_OK(ks_topology_internal_topic(topo, app_id, i, name,
                                                  sizeof(name), &src));
                kst_broker_create_topic(
                        b, name,
                        partitions_of ? partitions_of(opaque, name, src)
                                      : partitions,
                        NULL);
        }
        return n;
}

/* --- waiting ------------------------------------------------------------ */

static void fail_if_error(ks_app_t *app) {
        if (app && ks_app_state(app) == KS_APP_ERROR)
                fail_msg("app failed: %s", ks_error_message(ks_app_error(app)));
}

/* Pause up to @p ms; returns early when @p app enters ERROR. */
static void pace(ks_app_t *app, int ms) {
        if (app) {
                ks_app_wait_state(app, KS_APP_ERROR, ms);
                return;
        }
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

int kst_wait_for(ks_app_t *app, int timeout_ms, int pace_ms,
                 int (*done)(void *opaque), void *opaque) {
        int64_t deadline = kst_now_ms() + timeout_ms;
        for (;;) {
                if (done(opaque))
                        return 1;
                fail_if_error(app);
                if (kst_now_ms() > deadline)
                        return 0;
                pace(app, pace_ms);
        }
}

void kst_wait_state(ks_app_t *app, ks_app_state_t state, int timeout_ms) {
        if (ks_app_wait_state(app, state, timeout_ms))
                return;
        kst_log_print();
        fail_msg("app is %s, not %s: %s", ks_app_state_name(ks_app_state(app)),
                 ks_app_state_name(state),
                 ks_app_error(app) ? ks_error_message(ks_app_error(app))
                                   : "no error");
}

typedef struct {
        ks_app_t *app;
        int64_t n;
} processed_t;

static int processed(void *opaque) {
        processed_t *p = opaque;
        return ks_app_metric(p->app, "process-total") >= p->n;
}

void kst_wait_processed(ks_app_t *app, int64_t n, int timeout_ms) {
        processed_t p = {app, n};
        if (kst_wait_for(app, timeout_ms, 50, processed, &p))
                return;
        kst_log_print();
        fail_msg("processed %lld of %lld in %d s (state %s, %lld tasks)",
                 (long long)ks_app_metric(app, "process-total"), (long long)n,
                 timeout_ms / 1000, ks_app_state_name(ks_app_state(app)),
                 (long long)ks_app_metric(app, "tasks"));
}

/* --- the last value per key --------------------------------------------- */

typedef struct {
        void *key, *value; /* value NULL: null */
        size_t klen, vlen;
        int64_t count;
} entry_t;

struct kst_map_s {
        entry_t *entries;
        size_t cnt, cap;
        int64_t records;
};

kst_map_t *kst_map_new(void) {
        kst_map_t *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        return m;
}

void kst_map_destroy(kst_map_t *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->cnt; i++) {
                free(m->entries[i].key);
                free(m->entries[i].value);
        }
        free(m->entries);
        free(m);
}

static entry_t *find(const kst_map_t *m, const void *key, size_t klen) {
        for (size_t i = 0; i < m->cnt; i++)
                if (m->entries[i].klen == klen &&
                    (!klen || !memcmp(m->entries[i].key, key, klen)))
                        return &m->entries[i];
        return NULL;
}

static void *copy(const void *p, size_t len) {
        void *c = malloc(len + 1);
        assert_non_null(c);
        if (len)
                memcpy(c, p, len);
        return c;
}

void kst_map_put(kst_map_t *m, const void *key, size_t klen, const void *value,
                 size_t vlen) {
        if (!key)
                klen = 0;
        entry_t *en = find(m, key, klen);
        if (!en) {
                if (m->cnt == m->cap) {
                        m->cap = m->cap ? m->cap * 2 : 16;
                        m->entries =
                                realloc(m->entries, m->cap * sizeof(entry_t));
                        assert_non_null(m->entries);
                }
                en = &m->entries[m->cnt++];
                memset(en, 0, sizeof(*en));
                en->key = copy(key, klen);
                en->klen = klen;
        }
        free(en->value);
        en->value = value ? copy(value, vlen) : NULL;
        en->vlen = value ? vlen : 0;
        en->count++;
        m->records++;
}

const void *kst_map_get(const kst_map_t *m, const void *key, size_t klen,
                        size_t *vlenp) {
        const entry_t *en = find(m, key, key ? klen : 0);
        if (vlenp)
                *vlenp = en ? en->vlen : 0;
        return en ? en->value : NULL;
}

int64_t kst_map_int64(const kst_map_t *m, const char *key) {
        size_t vl;
        const void *v = kst_map_get(m, key, strlen(key), &vl);
        if (!v)
                return 0;
        int64_t n;
        if (ks_int64_decode(v, vl, &n, NULL))
                fail_msg("key %s: a value of %zu bytes is not an int64", key,
                         vl);
        return n;
}

int64_t kst_map_count(const kst_map_t *m, const char *key) {
        const entry_t *en = find(m, key, strlen(key));
        return en ? en->count : 0;
}

int64_t kst_map_records(const kst_map_t *m) {
        return m->records;
}

/* --- reading a topic ---------------------------------------------------- */

struct kst_reader_s {
        rd_kafka_t *c;
        char *topic;
        int partitions;
        unsigned char *at_end; /* per partition */
        kst_map_t *map;
        kst_record_cb *cb;
        void *opaque;
};

kst_reader_t *kst_reader_new(const kst_broker_t *b, const char *topic,
                             int partitions, int flags) {
        kst_reader_t *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        /* isolation.level: librdkafka's default unless asked. */
        const char *settings[] = {
                "enable.auto.commit",
                "false",
                "enable.partition.eof",
                "true",
                (flags & KST_READ_COMMITTED) ? "isolation.level" : NULL,
                "read_committed",
                NULL};
        r->c = kst_broker_client(b, RD_KAFKA_CONSUMER, settings);
        r->topic = strdup(topic);
        r->partitions = partitions;
        r->at_end = calloc((size_t)partitions, 1);
        r->map = kst_map_new();
        assert_non_null(r->topic);
        assert_non_null(r->at_end);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(r->c, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        return r;
}

void kst_reader_on_record(kst_reader_t *r, kst_record_cb *cb, void *opaque) {
        r->cb = cb;
        r->opaque = opaque;
}

int kst_reader_poll(kst_reader_t *r, int timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->c, timeout_ms);
        if (!m)
                return 0;
        int got = 0;
        int in_range = m->partition >= 0 && m->partition < r->partitions;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && in_range) {
                r->at_end[m->partition] = 1;
        } else if (!m->err) {
                if (in_range)
                        r->at_end[m->partition] = 0;
                if (r->cb)
                        r->cb(r->opaque, m, r->map);
                kst_map_put(r->map, m->key, m->key_len, m->payload, m->len);
                got = 1;
        }
        rd_kafka_message_destroy(m);
        return got;
}

int kst_reader_at_end(const kst_reader_t *r) {
        for (int p = 0; p < r->partitions; p++)
                if (!r->at_end[p])
                        return 0;
        return 1;
}

const kst_map_t *kst_reader_map(const kst_reader_t *r) {
        return r->map;
}

rd_kafka_t *kst_reader_consumer(kst_reader_t *r) {
        return r->c;
}

void kst_reader_destroy(kst_reader_t *r) {
        if (!r)
                return;
        rd_kafka_destroy(r->c);
        kst_map_destroy(r->map);
        free(r->at_end);
        free(r->topic);
        free(r);
}

int kst_read_until(kst_reader_t *r, ks_app_t *app, int timeout_ms,
                   int (*done)(void *opaque, const kst_map_t *m),
                   void *opaque) {
        int64_t deadline = kst_now_ms() + timeout_ms;
        for (;;) {
                if (done(opaque, r->map))
                        return 1;
                fail_if_error(app);
                if (kst_now_ms() > deadline)
                        return 0;
                kst_reader_poll(r, 100);
        }
}

int kst_read_to_end(kst_reader_t *r, int timeout_ms) {
        int64_t deadline = kst_now_ms() + timeout_ms;
        while (!kst_reader_at_end(r)) {
                if (kst_now_ms() > deadline)
                        return 0;
                kst_reader_poll(r, 200);
        }
        return 1;
}

typedef struct {
        int n;
        const char *const *keys;
        const int64_t *expect;
} counts_t;

static int counts_match(void *opaque, const kst_map_t *m) {
        const counts_t *c = opaque;
        for (int i = 0; i < c->n; i++)
                if (kst_map_int64(m, c->keys[i]) != c->expect[i])
                        return 0;
        return 1;
}

void kst_wait_counts(const kst_broker_t *b, const char *topic, int partitions,
                     ks_app_t *app, int timeout_ms, int n,
                     const char *const *keys, const int64_t *expect) {
        counts_t c = {n, keys, expect};
        kst_reader_t *r = kst_reader_new(b, topic, partitions, 0);
        if (!kst_read_until(r, app, timeout_ms, counts_match, &c)) {
                const kst_map_t *m = kst_reader_map(r);
                for (int i = 0; i < n; i++)
                        if (kst_map_int64(m, keys[i]) != expect[i])
                                printf("# %s: %lld, expected %lld\n", keys[i],
                                       (long long)kst_map_int64(m, keys[i]),
                                       (long long)expect[i]);
                kst_log_print();
                fail_msg("counts in %s not exact after %d ms", topic,
                         timeout_ms);
        }
        /* Nothing after them changes them. */
        if (!kst_read_to_end(r, 30000))
                fail_msg("%s not read to its end", topic);
        if (!counts_match(&c, kst_reader_map(r)))
                fail_msg("counts in %s changed after they were exact", topic);
        kst_reader_destroy(r);
}

int64_t kst_topic_records(const kst_broker_t *b, const char *topic,
                          int partitions) {
        rd_kafka_t *c = kst_broker_client(b, RD_KAFKA_CONSUMER, NULL);
        int64_t total = 0;
        for (int p = 0; p < partitions; p++) {
                int64_t lo, hi;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                        c, topic, p, &lo, &hi, 10000);
                if (e)
                        fail_msg("watermarks of %s [%d]: %s", topic, p,
                                 rd_kafka_err2str(e));
                total += hi - lo;
        }
        rd_kafka_destroy(c);
        return total;
}

/* --- restores ----------------------------------------------------------- */

void kst_count_restores(void *opaque, ks_restore_phase_t phase,
                        const char *store, const char *topic, int32_t p,
                        int64_t start, int64_t end, int64_t restored) {
        kst_restores_t *r = opaque;
        if (phase == KS_RESTORE_END && !strcmp(store, r->store)) {
                __atomic_add_fetch(&r->restored, restored, __ATOMIC_SEQ_CST);
                __atomic_add_fetch(&r->ends, 1, __ATOMIC_SEQ_CST);
        }
}

int64_t kst_restored(kst_restores_t *r) {
        return __atomic_load_n(&r->restored, __ATOMIC_SEQ_CST);
}

/* --- a test's names ----------------------------------------------------- */

void kst_env_init(kst_env_t *env, const char *prefix, int partitions,
                  const char *const *names) {
        char name[256];
        memset(env, 0, sizeof(*env));
        env->broker = kst_broker_get(NULL, 1);
        snprintf(name, sizeof(name), "%s-app", prefix);
        env->app_id = kst_unique_name(name);
        for (int i = 0; names[i]; i++) {
                assert_true(i < KST_ENV_TOPICS);
                snprintf(name, sizeof(name), "%s-%s", prefix, names[i]);
                env->topic[i] = kst_unique_name(name);
                kst_broker_create_topic(env->broker, env->topic[i], partitions,
                                        NULL);
        }
}

void kst_env_fini(kst_env_t *env) {
        kst_broker_destroy(env->broker);
        free(env->app_id);
        for (int i = 0; i < KST_ENV_TOPICS; i++)
                free(env->topic[i]);
        memset(env, 0, sizeof(*env));
}
