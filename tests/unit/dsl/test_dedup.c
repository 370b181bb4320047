/* Deduplication (ks_stream_deduplicate) under the test driver and in a
 * task that fails over. Every output record (key, value, headers,
 * timestamp, order) and the dropped-records counters are checked against a
 * brute-force model computed here: for each record in order, S = the
 * largest timestamp so far (records with a null id pass and are not
 * counted); late if t < S - within; a duplicate if an earlier record of the
 * same id that passed is at most within away; else it passes. After a
 * failover S starts again from the largest timestamp that passed. Input is
 * pseudo-random (fixed seeds): few ids, out-of-order timestamps, some far
 * behind, some null ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "state/state_dir_int.h"
#include "state/store_int.h"
#include "task/task_int.h"
#include "topology/topology_int.h"

#define MAXN  4000
#define NIDS  5
#define TOPIC "in"
#define OUT   "out"

/* One id is empty: an id, not a null one. */
static const char *const ids[NIDS] = {"x", "yy", "", "z", "w2"};

typedef struct {
        int id;     /* -1: null id */
        int64_t ts; /* the step's timestamp */
} in_t;

/* What the model says of a record. */
enum { PASS = 'P', LATE = 'L', DUP = 'D' };

static in_t in[MAXN];
static char verdict[MAXN];

static uint64_t rng;
static uint64_t next_rand(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Records drifting forward from @p t0 by up to @p step, jittered back by
 * up to @p jitter, one in 16 far behind, one in 20 with a null id. */
static void gen(size_t n, int64_t t0, int64_t step, int64_t jitter,
                uint64_t seed) {
        rng = seed;
        int64_t t = t0;
        for (size_t i = 0; i < n; i++) {
                t += (int64_t)(next_rand() % (uint64_t)step);
                int64_t ts = t - (int64_t)(next_rand() % (uint64_t)jitter);
                if (next_rand() % 16 == 0)
                        ts -= 4 * jitter;
                if (ts < 0) /* sources refuse negative timestamps */
                        ts = 0;
                int id = next_rand() % 20 == 0 ? -1 : (int)(next_rand() % NIDS);
                in[i] = (in_t){id, ts};
        }
}

/* The model over in[0..n); @p restart: the index at which the step
 * restarts (stream time from the largest timestamp that passed), or n. */
static void model(size_t n, int64_t within, size_t restart, size_t counts[3]) {
        int64_t s = INT64_MIN;
        counts[0] = counts[1] = counts[2] = 0;
        for (size_t i = 0; i < n; i++) {
                if (i == restart) {
                        s = INT64_MIN;
                        for (size_t j = 0; j < i; j++)
                                if (verdict[j] == PASS && in[j].id >= 0 &&
                                    in[j].ts > s)
                                        s = in[j].ts;
                }
                verdict[i] = PASS;
                if (in[i].id < 0) {
                        counts[0]++;
                        continue;
                }
                if (in[i].ts > s)
                        s = in[i].ts;
                if (in[i].ts < s - within) {
                        verdict[i] = LATE;
                        counts[1]++;
                        continue;
                }
                for (size_t j = 0; j < i && verdict[i] == PASS; j++)
                        if (verdict[j] == PASS && in[j].id == in[i].id &&
                            llabs(in[i].ts - in[j].ts) <= within)
                                verdict[i] = DUP;
                counts[verdict[i] == PASS ? 0 : 2]++;
        }
}

/* The record key of in[i]: its id, or (@p by_value: the id is in the
 * value) one of three keys. NULL: a null key. */
static const char *key_of(size_t i, int by_value) {
        static const char *const keys[] = {"k0", "k1", "k2"};
        if (by_value)
                return keys[i % 3];
        return in[i].id < 0 ? NULL : ids[in[i].id];
}

/* The value of in[i]: "<id>|<i>", "-|<i>" for a null id. */
static size_t value_of(size_t i, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s|%zu",
                         in[i].id < 0 ? "-" : ids[in[i].id], i);
        return (size_t)n;
}

/* The id extractor: what is before '|' in the value, "-" a null id. */
static ks_err_t id_of_value(void *opaque, const ks_record_t *rec,
                            ks_emitter_t *out) {
        (void)opaque;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        const char *bar = v ? memchr(v, '|', vl) : NULL;
        if (!bar)
                return ks_emitter_set_error(out, "no id in the value");
        if (bar - v == 1 && v[0] == '-')
                return ks_emit_key(out, NULL, 0);
        return ks_emit_key(out, v, (size_t)(bar - v));
}

static ks_stream_t *in_stream(ks_builder_t *b) {
        const char *topics[] = {TOPIC};
        return ks_builder_stream(b, topics, 1, NULL, NULL, "src");
}

static ks_test_driver_t *driver(ks_builder_t *b, const char *app) {
        ks_error_t *e = NULL;
        ks_topology_t *t = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        ks_config_t *c = kst_config(app);
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        ks_config_destroy(c);
        ks_topology_destroy(t);
        ks_builder_destroy(b);
        return d;
}

/* Check the next output record against in[i]. */
static void expect_record(ks_test_driver_t *d, size_t i, int by_value) {
        ks_test_record_t *r = ks_test_driver_read_output(d, OUT);
        if (!r)
                fail_msg("no output for record %zu", i);
        char want[64];
        size_t wl = value_of(i, want, sizeof(want));
        size_t kl, vl, hl;
        const void *k = ks_test_record_key(r, &kl);
        const void *v = ks_test_record_value(r, &vl);
        if (vl != wl || memcmp(v, want, wl))
                fail_msg("output: value %.*s, the model's next %s", (int)vl,
                         (const char *)v, want);
        const char *key = key_of(i, by_value);
        if (!key)
                assert_null(k);
        else if (!k || kl != strlen(key) || memcmp(k, key, kl))
                fail_msg("output %s: wrong key", want);
        assert_int_equal(ks_test_record_timestamp(r), in[i].ts);
        const void *h;
        KST_OK(ks_headers_get_last(ks_test_record_headers(r), "seq", &h, &hl));
        assert_int_equal(hl, wl);
        assert_memory_equal(h, want, wl);
        ks_test_record_destroy(r);
}

/* Pipe in[0..n) through a deduplication by key (or @p by_value: by the id
 * in the value); check each output as it comes, and the counters. */
static void run_model(const char *app, size_t n, int64_t within, int by_value) {
        size_t counts[3];
        model(n, within, n, counts);
        /* The input is worth testing: every kind, in numbers. */
        if (counts[0] < n / 10 || counts[1] < n / 100 || counts[2] < n / 10)
                fail_msg("input: %zu pass, %zu late, %zu duplicates", counts[0],
                         counts[1], counts[2]);
        ks_builder_t *b = ks_builder_new();
        ks_stream_t *s = ks_stream_deduplicate(in_stream(b),
                                               by_value ? id_of_value : NULL,
                                               NULL, within, NULL, "dedup");
        KST_OK(ks_stream_to(s, OUT, NULL));
        ks_test_driver_t *d = driver(b, app);
        ks_error_t *e = NULL;
        for (size_t i = 0; i < n; i++) {
                char v[64];
                size_t vl = value_of(i, v, sizeof(v));
                const char *key = key_of(i, by_value);
                ks_headers_t *hd = ks_headers_new();
                assert_non_null(hd);
                KST_OK(ks_headers_add(hd, "seq", v, vl));
                KST_OK_E(ks_test_driver_pipe(d, TOPIC, key,
                                             key ? strlen(key) : 0, v, vl,
                                             in[i].ts, hd, &e));
                ks_headers_destroy(hd);
                if (verdict[i] == PASS)
                        expect_record(d, i, by_value);
                if (ks_test_driver_output_size(d, OUT))
                        fail_msg("record %zu (%c): an output too many", i,
                                 verdict[i]);
        }
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-duplicate"),
                         counts[2]);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-late"),
                         counts[1]);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"),
                         counts[1] + counts[2]);
        ks_test_driver_destroy(d);
}

static void test_model_by_key(void **state) {
        (void)state;
        gen(3000, 1000, 30, 150, 88172645463325252ull);
        run_model("dedup-key", 3000, 100, 0);
}

static void test_model_by_value_from_zero(void **state) {
        (void)state;
        /* From time 0: the first records look before 0 for duplicates. */
        gen(3000, 0, 100, 600, 0x9e3779b97f4a7c15ull);
        run_model("dedup-value", 3000, 250, 1);
}

static void test_model_within_one(void **state) {
        (void)state;
        /* Only records 0 or 1 ms apart are duplicates. */
        gen(2000, 1000, 2, 4, 0x2545f4914f6cdd1dull);
        run_model("dedup-one", 2000, 1, 0);
}

/* --- edges, by hand ---------------------------------------------------- */

typedef struct {
        const char *key; /* the id; NULL: null */
        int64_t ts;
        char verdict;
} step_t;

static void test_edges(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        KST_OK(ks_stream_to(ks_stream_deduplicate(in_stream(b), NULL, NULL, 10,
                                                  NULL, "edges"),
                            OUT, NULL));
        ks_test_driver_t *d = driver(b, "dedup-edges");
        static const step_t steps[] = {
                {"a", 100, PASS},
                {"a", 90, DUP},   /* 10 before: within, ends included */
                {"a", 110, DUP},  /* 10 after */
                {"a", 121, PASS}, /* 21 after the one that passed */
                {"b", 121, PASS}, /* another id */
                {"a", 111, DUP},  /* 10 before 121; stream time 121 - 10 */
                {"a", 110, LATE}, /* before stream time - within */
                {NULL, 5000, PASS},
                {NULL, 5000, PASS}, /* null ids are not remembered... */
                {"a", 115, DUP},    /* ...and do not move stream time */
                {"", 120, PASS},    /* the empty id */
                {"", 125, DUP},
                {"a", 132, PASS},
        };
        ks_error_t *e = NULL;
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_t *st = &steps[i];
                char v[16];
                int vl = snprintf(v, sizeof(v), "v%zu", i);
                KST_OK_E(ks_test_driver_pipe(d, TOPIC, st->key,
                                             st->key ? strlen(st->key) : 0, v,
                                             (size_t)vl, st->ts, NULL, &e));
                if (st->verdict == PASS)
                        kst_expect_output(d, OUT, st->key,
                                          st->key ? strlen(st->key) : 0, v,
                                          (size_t)vl, st->ts);
                assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        }
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-duplicate"),
                         5);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-late"), 1);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records"), 6);
        /* The store: each id that passed at its timestamp. */
        ks_window_store_t *ws = NULL;
        KST_OK(ks_test_driver_get_window_store(d, "edges-store", &ws));
        assert_int_equal(ks_window_store_retention_ms(ws), 21);
        const void *sv;
        size_t sl;
        KST_OK(ks_window_store_fetch(ws, "a", 1, 121, &sv, &sl));
        assert_int_equal(sl, 8);
        uint8_t be[8];
        ks_int64_encode(121, be);
        assert_memory_equal(sv, be, 8);
        assert_int_equal(ks_window_store_fetch(ws, "a", 1, 110, &sv, &sl),
                         KS_ERR_NOT_FOUND);
        ks_test_driver_destroy(d);
}

/* --- the step's errors -----------------------------------------------------
 */

static ks_err_t emit_twice(void *opaque, const ks_record_t *rec,
                           ks_emitter_t *out) {
        (void)opaque, (void)rec;
        ks_err_t err = ks_emit_key(out, "a", 1);
        return err ? err : ks_emit_key(out, "b", 1);
}

static void test_errors(void **state) {
        (void)state;
        const int64_t bad[] = {0, -1, INT64_MIN, INT64_MAX};
        for (size_t i = 0; i < 4; i++) {
                ks_builder_t *b = ks_builder_new();
                assert_null(ks_stream_deduplicate(in_stream(b), NULL, NULL,
                                                  bad[i], NULL, NULL));
                ks_topology_t *t = NULL;
                ks_error_t *e = NULL;
                KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e,
                                 KS_ERR_INVALID_ARG, "deduplicate",
                                 "within_ms");
                ks_builder_destroy(b);
        }
        assert_null(ks_stream_deduplicate(NULL, NULL, NULL, 10, NULL, NULL));
        /* An extractor must emit one id per record. */
        ks_builder_t *b = ks_builder_new();
        KST_OK(ks_stream_to(ks_stream_deduplicate(in_stream(b), emit_twice,
                                                  NULL, 10, NULL, "twice"),
                            OUT, NULL));
        ks_test_driver_t *d = driver(b, "dedup-errors");
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(
                ks_test_driver_pipe(d, TOPIC, "k", 1, "v", 1, 5, NULL, &e), e,
                KS_ERR_PROCESSOR, "twice", "exactly once");
        assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        ks_test_driver_destroy(d);
}

/* --- a re-keyed stream, names, describe() ----------------------------------
 */

/* The key: the id in the value (before '|'). */
static ks_err_t key_by_id(void *opaque, const ks_record_t *rec,
                          ks_emitter_t *out) {
        (void)opaque;
        size_t vl;
        const char *v = ks_record_value(rec, &vl);
        const char *bar = memchr(v, '|', vl);
        return ks_emit_key(out, v, (size_t)(bar - v));
}

static char *describe(ks_topology_t *t) {
        char *desc = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_describe(t, &desc, &e));
        return desc;
}

static void test_repartition_describe(void **state) {
        (void)state;
        /* Re-keyed by the id: through "<name>-repartition" first. */
        ks_builder_t *b = ks_builder_new();
        KST_OK(ks_stream_to(ks_stream_deduplicate(
                                    ks_stream_select_key(in_stream(b),
                                                         key_by_id, NULL, NULL),
                                    NULL, NULL, 50, NULL, "by-id"),
                            OUT, NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &t, &e));
        assert_int_equal(ks_topology_subtopology_count(t), 2);
        char *desc = describe(t);
        assert_non_null(strstr(desc, "(topic: by-id-repartition)"));
        assert_non_null(strstr(desc, "(topics: [by-id-repartition])"));
        assert_non_null(
                strstr(desc, "Processor: by-id (stores: [by-id-store])"));
        assert_non_null(strstr(desc, "Window store: by-id-store (window size: "
                                     "100 ms, retention: 101 ms)"));
        ks_free(desc);
        ks_config_t *c = kst_config("dedup-rekey");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        /* The repartition topic first, then the changelogs (the store's,
         * the duplicate marks' of the sub-topology reading the topic). */
        char name[256];
        KST_OK(ks_topology_internal_topic(t, "dedup-rekey", 0, name,
                                          sizeof(name), NULL));
        assert_string_equal(name, "dedup-rekey-by-id-repartition");
        int found = 0;
        for (size_t i = 1; i < ks_topology_internal_topic_count(t); i++) {
                KST_OK(ks_topology_internal_topic(t, "dedup-rekey", i, name,
                                                  sizeof(name), NULL));
                if (strcmp(name, "dedup-rekey-by-id-store-changelog"))
                        continue;
                found = 1;
                ks__topic_config_t cfg;
                KST_OK(ks__topology_internal_config(t, i, 1000, &cfg));
                assert_string_equal(cfg.cleanup_policy, "compact,delete");
                assert_int_equal(cfg.retention_ms, 1101);
        }
        assert_true(found);
        /* Records of other keys, one id: deduplicated on the id. */
        static const struct {
                const char *key, *value;
                int64_t ts;
                int pass;
        } recs[] = {
                {"k1", "x|0", 100, 1}, {"k2", "x|1", 120, 0},
                {"k3", "y|2", 130, 1}, {"k1", "x|3", 151, 1},
                {"k2", "y|4", 181, 1}, {"k3", "x|5", 200, 0},
        };
        for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
                KST_OK_E(ks_test_driver_pipe(d, TOPIC, recs[i].key, 2,
                                             recs[i].value, 3, recs[i].ts, NULL,
                                             &e));
                if (recs[i].pass)
                        kst_expect_output(d, OUT, recs[i].value, 1,
                                          recs[i].value, 3, recs[i].ts);
                assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        }
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-duplicate"),
                         2);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(t);
        ks_builder_destroy(b);

        /* Not re-keyed: no repartition topic; default names. */
        b = ks_builder_new();
        KST_OK(ks_stream_to(
                ks_stream_deduplicate(in_stream(b), NULL, NULL, 7, NULL, NULL),
                OUT, NULL));
        KST_OK_E(ks_builder_build(b, &t, &e));
        assert_int_equal(ks_topology_subtopology_count(t), 1);
        desc = describe(t);
        assert_null(strstr(desc, "repartition"));
        assert_non_null(strstr(desc,
                               "Processor: KSTREAM-DEDUPLICATE-0000000001 "
                               "(stores: [KSTREAM-DEDUPLICATE-0000000001-"
                               "store])"));
        assert_non_null(strstr(desc, "Window store: KSTREAM-DEDUPLICATE-"
                                     "0000000001-store (window size: 14 ms, "
                                     "retention: 15 ms)"));
        ks_free(desc);
        ks_topology_destroy(t);
        ks_builder_destroy(b);
}

/* --- failover: the same state from the local store and from the changelog */

#define APP "dedup-restore"

typedef struct {
        void *key, *value;
        size_t klen, vlen;
} logged_t;

/* The collector: output values (the record's index) and timestamps, and
 * the changelog records. */
typedef struct {
        size_t out_idx[MAXN];
        int64_t out_ts[MAXN];
        size_t outs;
        logged_t *log;
        size_t logs, log_cap;
        uint64_t slots;
} sink_t;

static ks_err_t c_send(void *opaque, const char *topic, int32_t partition,
                       const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t timestamp,
                       const ks_headers_t *headers, const ks__origin_t *origin,
                       ks_error_t **errp) {
        (void)partition, (void)key, (void)klen, (void)headers, (void)origin;
        (void)errp;
        sink_t *s = opaque;
        assert_string_equal(topic, OUT);
        const char *bar = memchr(value, '|', vlen);
        assert_non_null(bar);
        assert_true(s->outs < MAXN);
        s->out_idx[s->outs] = (size_t)strtoul(bar + 1, NULL, 10);
        s->out_ts[s->outs++] = timestamp;
        return KS_ERR_NO_ERROR;
}

static int32_t c_partitions(void *opaque, const char *topic) {
        (void)opaque, (void)topic;
        return 1;
}

static ks_err_t c_flush(void *opaque, ks_error_t **errp) {
        (void)opaque, (void)errp;
        return KS_ERR_NO_ERROR;
}

static void *copy(const void *p, size_t n) {
        void *c = malloc(n ? n : 1);
        assert_non_null(c);
        if (n)
                memcpy(c, p, n);
        return c;
}

static ks_err_t c_send_changelog(void *opaque, const char *topic,
                                 int32_t partition, const void *key,
                                 size_t klen, const void *value, size_t vlen,
                                 int64_t timestamp, uint64_t slot,
                                 ks_error_t **errp) {
        (void)partition, (void)timestamp, (void)slot, (void)errp;
        sink_t *s = opaque;
        assert_string_equal(topic, APP "-dd-store-changelog");
        if (s->logs == s->log_cap) {
                s->log_cap = s->log_cap ? 2 * s->log_cap : 256;
                s->log = realloc(s->log, s->log_cap * sizeof(*s->log));
                assert_non_null(s->log);
        }
        assert_non_null(value); /* the step never deletes */
        s->log[s->logs++] =
                (logged_t){copy(key, klen), copy(value, vlen), klen, vlen};
        return KS_ERR_NO_ERROR;
}

static uint64_t c_slot_open(void *opaque) {
        return ++((sink_t *)opaque)->slots;
}

static void c_slot_close(void *opaque, uint64_t slot) {
        (void)opaque, (void)slot;
}

static int64_t c_slot_offset(void *opaque, uint64_t slot) {
        (void)opaque, (void)slot;
        return -1;
}

static int64_t c_clock(void *opaque) {
        (void)opaque;
        return 0;
}

/* Process in[from..to) in task @p t (offsets = indexes), committing every
 * 100 records and at the end; then compare what went out since @p s was
 * emptied with what the model let pass. */
static void process_range(ks__task_t *t, sink_t *s, size_t from, size_t to) {
        ks_error_t *e = NULL;
        s->outs = 0;
        for (size_t i = from; i < to; i++) {
                char v[64];
                size_t vl = value_of(i, v, sizeof(v));
                const char *key = key_of(i, 0);
                KST_OK_E(ks__task_process(t, TOPIC, 0, (int64_t)i, key,
                                          key ? strlen(key) : 0, v, vl,
                                          in[i].ts, NULL, &e));
                if ((i + 1) % 100 == 0 || i + 1 == to)
                        KST_OK_E(ks__task_commit(t, &e));
        }
        size_t k = 0;
        for (size_t i = from; i < to; i++) {
                if (verdict[i] != PASS)
                        continue;
                if (k >= s->outs)
                        fail_msg("record %zu passes in the model, not in the "
                                 "task",
                                 i);
                if (s->out_idx[k] != i)
                        fail_msg("output %zu is record %zu, the model's %zu", k,
                                 s->out_idx[k], i);
                assert_int_equal(s->out_ts[k], in[i].ts);
                k++;
        }
        assert_int_equal(k, s->outs);
}

static size_t dups_in(size_t from, size_t to) {
        size_t n = 0;
        for (size_t i = from; i < to; i++)
                n += verdict[i] == DUP;
        return n;
}

static void test_failover(void **state) {
        (void)state;
        const size_t n = 2400, half = 707;
        const int64_t within = 100;
        gen(n, 1000, 30, 150, 0x5851f42d4c957f2dull);
        size_t counts[3];
        /* The failover matters: record 707, late to a step that keeps
         * going, passes after it (stream time restarts from the largest
         * timestamp that passed, below the one the step had seen). */
        model(n, within, n, counts);
        char straight[MAXN];
        memcpy(straight, verdict, n);
        model(n, within, half, counts);
        assert_int_equal(straight[half], LATE);
        assert_int_equal(verdict[half], PASS);
        assert_true(dups_in(half, n) > 0);

        ks_builder_t *b = ks_builder_new();
        KST_OK(ks_stream_to(ks_stream_deduplicate(in_stream(b), NULL, NULL,
                                                  within, NULL, "dd"),
                            OUT, NULL));
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_builder_destroy(b);
        KST_OK_E(ks__topology_bind(topo, APP, &e));
        ks_config_t *conf = kst_config(APP);
        ks__rocks_env_t *rocks = NULL;
        char *dir = NULL, *dir2 = NULL;
        KST_OK_E(ks__rocks_env_new(conf, &rocks, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "dedup-a-", &dir, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "dedup-b-", &dir2, &e));
        sink_t *sink = calloc(1, sizeof(*sink));
        assert_non_null(sink);
        ks__task_env_t env = {
                .conf = conf,
                .rocks = rocks,
                .state_dir = dir,
                .collector = {c_send, c_partitions, c_flush, sink,
                              c_send_changelog, c_slot_open, c_slot_close,
                              c_slot_offset},
                .clock = c_clock,
        };

        /* The first owner: the first half, then it goes away. */
        ks__task_t *t = NULL;
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        KST_OK_E(ks__task_start(t, &e));
        process_range(t, sink, 0, half);
        ks__task_destroy(t);
        size_t logs = sink->logs;
        assert_true(logs > 0);

        /* The same instance again, over its own store: the ids it
         * remembered are there (stream time from the largest of them). */
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        KST_OK_E(ks__task_start(t, &e));
        process_range(t, sink, half, n);
        assert_int_equal(ks__task_dropped_duplicate(t), dups_in(half, n));
        ks__task_destroy(t);

        /* Another instance, its store restored from the first owner's
         * changelog: the same output. */
        env.state_dir = dir2;
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        assert_int_equal(ks__task_store_count(t), 1);
        assert_string_equal(ks__task_changelog_topic(t, 0),
                            APP "-dd-store-changelog");
        for (size_t i = 0; i < logs; i++)
                KST_OK(ks__task_restore_put(
                        t, 0, sink->log[i].key, sink->log[i].klen,
                        sink->log[i].value, sink->log[i].vlen, 0));
        KST_OK_E(ks__task_restore_checkpoint(t, 0, (int64_t)logs, 1, &e));
        KST_OK_E(ks__task_start(t, &e));
        process_range(t, sink, half, n);
        assert_int_equal(ks__task_dropped_duplicate(t), dups_in(half, n));
        ks__task_destroy(t);

        for (size_t i = 0; i < sink->logs; i++) {
                free(sink->log[i].key);
                free(sink->log[i].value);
        }
        free(sink->log);
        free(sink);
        ks__rocks_env_destroy(rocks);
        ks__rmtree(dir);
        ks__rmtree(dir2);
        free(dir);
        free(dir2);
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
}

/* --- spans and times at the limits --------------------------------------- */

/* within_ms at its largest (INT64_MAX / 8), timestamps up to INT64_MAX: the
 * fetch range and the retention saturate instead of overflowing; one more
 * is refused. */
static void test_within_limits(void **state) {
        (void)state;
        const int64_t M = INT64_MAX / 8;
        ks_builder_t *b = ks_builder_new();
        assert_null(ks_stream_deduplicate(in_stream(b), NULL, NULL, M + 1, NULL,
                                          NULL));
        ks_topology_t *t = NULL;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_builder_build(b, &t, &e), e, KS_ERR_INVALID_ARG,
                         "within_ms");
        ks_builder_destroy(b);
        b = ks_builder_new();
        KST_OK(ks_stream_to(
                ks_stream_deduplicate(in_stream(b), NULL, NULL, M, NULL, "far"),
                OUT, NULL));
        ks_test_driver_t *d = driver(b, "dedup-far");
        static const step_t steps[] = {
                {"a", 0, PASS},
                {"a", INT64_MAX / 8, DUP},      /* within, ends included */
                {"a", INT64_MAX / 8 + 1, PASS}, /* just past */
                {"b", INT64_MAX, PASS},         /* stream time at the end */
                {"b", INT64_MAX - 1, DUP},      /* near the end of time */
                {"a", INT64_MAX - INT64_MAX / 8, PASS}, /* S - within */
                {"a", INT64_MAX - INT64_MAX / 8 - 1, LATE},
                {"c", INT64_MAX, PASS},
                {"c", INT64_MAX, DUP},
                {"a", INT64_MAX, DUP}, /* within of the one at S - within */
        };
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const step_t *st = &steps[i];
                char v[16];
                int vl = snprintf(v, sizeof(v), "v%zu", i);
                KST_OK_E(ks_test_driver_pipe(d, TOPIC, st->key, strlen(st->key),
                                             v, (size_t)vl, st->ts, NULL, &e));
                if (st->verdict == PASS)
                        kst_expect_output(d, OUT, st->key, strlen(st->key), v,
                                          (size_t)vl, st->ts);
                if (ks_test_driver_output_size(d, OUT))
                        fail_msg("record %zu (%c): an output too many", i,
                                 st->verdict);
        }
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-duplicate"),
                         4);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-late"), 1);
        ks_window_store_t *ws = NULL;
        KST_OK(ks_test_driver_get_window_store(d, "far-store", &ws));
        assert_int_equal(ks_window_store_retention_ms(ws), 2 * M + 1);
        ks_test_driver_destroy(d);
}

/* Keys another client wrote to the changelog that are no window keys
 * (too short, a key length past the end, a huge one) and huge values: the
 * store skips them, nothing reads past them, the step goes on. */
static void test_crafted_store(void **state) {
        (void)state;
        ks_builder_t *b = ks_builder_new();
        KST_OK(ks_stream_to(ks_stream_deduplicate(in_stream(b), NULL, NULL, 10,
                                                  NULL, "crafted"),
                            OUT, NULL));
        ks_test_driver_t *d = driver(b, "dedup-crafted");
        ks_window_store_t *ws = NULL;
        KST_OK(ks_test_driver_get_window_store(d, "crafted-store", &ws));
        ks_kv_store_t *kv = ks__window_store_kv(ws);
        static const uint8_t keys[][24] = {
                {0x80},
                {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 'a'},
                {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                 0xff, 0xff, 'a'},
                {0x80, 0, 0,   0,    0, 0, 0, 0, 0, 0,
                 0,    1, 'a', 0x80, 0, 0, 0, 0, 0, 0},
        };
        static const size_t lens[] = {1, 13, 13, 20};
        size_t big = (size_t)4 << 20;
        char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, 'x', big);
        for (size_t i = 0; i < 4; i++)
                KST_OK(ks_kv_store_put(kv, keys[i], lens[i], huge,
                                       i == 3 ? big : 3));
        free(huge);
        ks_error_t *e = NULL;
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "a", 1, "v0", 2, 100, NULL, &e));
        kst_expect_output(d, OUT, "a", 1, "v0", 2, 100);
        KST_OK_E(ks_test_driver_pipe(d, TOPIC, "a", 1, "v1", 2, 105, NULL, &e));
        assert_int_equal(ks_test_driver_output_size(d, OUT), 0);
        assert_int_equal(ks_test_driver_metric(d, "dropped-records-duplicate"),
                         1);
        ks_test_driver_destroy(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model_by_key),
                cmocka_unit_test(test_model_by_value_from_zero),
                cmocka_unit_test(test_model_within_one),
                cmocka_unit_test(test_edges),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_repartition_describe),
                cmocka_unit_test(test_failover),
                cmocka_unit_test(test_within_limits),
                cmocka_unit_test(test_crafted_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
