/* Stream-table joins against versioned tables, under the test driver and
 * over a task moved to a new owner: a stream record joins the row valid
 * at its timestamp; with a grace period, records wait until the stream
 * side's time passes them by the grace, so table updates arriving late
 * within the grace still count. Every output is checked record by record
 * (key, value, timestamp, order) against an oracle computed here from the
 * interleaved input alone, by brute force. Also: a crafted buffer entry.
 * (The versioned tables themselves: test_versioned_table.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <malloc.h>
#include <rocksdb/c.h>

#include "ks_test.h"
#include "state/state_dir_int.h"
#include "task/task_int.h"
#include "topology/topology_int.h"

/* --- input events and the oracle ------------------------------------------
 */

typedef struct {
        int table;               /* a table update, else a stream record */
        const char *key, *value; /* NULL: null */
        int64_t ts;
} ev_t;

typedef struct {
        char key[16], value[64];
        int64_t ts;
        size_t at; /* the event whose processing sent it */
} out_t;

typedef struct {
        out_t *v;
        size_t cnt, cap;
} outs_t;

static void outs_add(outs_t *o, const char *key, size_t kl, const char *value,
                     size_t vl, int64_t ts, size_t at) {
        if (o->cnt == o->cap) {
                o->cap = o->cap ? 2 * o->cap : 64;
                o->v = realloc(o->v, o->cap * sizeof(*o->v));
                assert_non_null(o->v);
        }
        out_t *r = &o->v[o->cnt++];
        assert_true(kl < sizeof(r->key) && vl < sizeof(r->value));
        snprintf(r->key, sizeof(r->key), "%.*s", (int)kl, key);
        snprintf(r->value, sizeof(r->value), "%.*s", (int)vl, value);
        r->ts = ts;
        r->at = at;
}

/* What the join should send for @p evs: a versioned table with @p history
 * of history, joined by a stream with @p grace (-1: the join without
 * grace, each record at once). */
static void oracle(const ev_t *evs, size_t n, int64_t history, int64_t grace,
                   ks_join_kind_t kind, outs_t *out) {
        const ev_t **vers = calloc(n + 1, sizeof(*vers)); /* table rows */
        const ev_t **buf = calloc(n + 1, sizeof(*buf));   /* held records */
        const ev_t **now = calloc(n + 1, sizeof(*now));   /* joined now */
        size_t nv = 0, nb = 0;
        int64_t observed = INT64_MIN, stream = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
                const ev_t *e = &evs[i];
                if (e->table) {
                        if (!e->key || (observed != INT64_MIN &&
                                        e->ts < observed - history))
                                continue; /* skipped, or too old to store */
                        size_t j = 0;
                        while (j < nv && !(!strcmp(vers[j]->key, e->key) &&
                                           vers[j]->ts == e->ts))
                                j++;
                        vers[j] = e; /* replaces one at the same time */
                        nv += j == nv;
                        if (observed == INT64_MIN || e->ts > observed)
                                observed = e->ts;
                        continue;
                }
                if (!e->key || !e->value)
                        continue; /* dropped; stream time stays */
                if (stream == INT64_MIN || e->ts > stream)
                        stream = e->ts;
                int64_t deadline = grace < 0 ? INT64_MAX : stream - grace;
                /* Those joined now: the late arrival, or what is due. */
                size_t nn = 0;
                if (grace <= 0 || e->ts < deadline) {
                        now[nn++] = e;
                } else {
                        buf[nb++] = e;
                        for (;;) { /* due records, oldest (then first) */
                                size_t best = nb;
                                for (size_t j = 0; j < nb; j++)
                                        if (buf[j]->ts <= deadline &&
                                            (best == nb ||
                                             buf[j]->ts < buf[best]->ts))
                                                best = j;
                                if (best == nb)
                                        break;
                                now[nn++] = buf[best];
                                memmove(&buf[best], &buf[best + 1],
                                        (nb - best - 1) * sizeof(*buf));
                                nb--;
                        }
                }
                for (size_t r = 0; r < nn; r++) {
                        const ev_t *s = now[r];
                        /* The row as of the record's time, among the
                         * updates stored so far; none before the
                         * history. */
                        const ev_t *row = NULL;
                        if (observed == INT64_MIN ||
                            s->ts >= observed - history)
                                for (size_t j = 0; j < nv; j++)
                                        if (!strcmp(vers[j]->key, s->key) &&
                                            vers[j]->ts <= s->ts &&
                                            (!row || vers[j]->ts > row->ts))
                                                row = vers[j];
                        const char *rv = row ? row->value : NULL;
                        if (!rv && kind == KS_JOIN_INNER)
                                continue;
                        char v[64];
                        snprintf(v, sizeof(v), "%s|%s", s->value,
                                 rv ? rv : "null");
                        outs_add(out, s->key, strlen(s->key), v, strlen(v),
                                 s->ts, i);
                }
        }
        free(vers);
        free(buf);
        free(now);
}

static ks_err_t joiner(void *o, const void *l, size_t ll, const void *r,
                       size_t rl, ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, l, ll);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        return err ? err
               : r ? ks_buf_append(out, r, rl)
                   : ks_buf_append(out, "null", 4);
}

/* --- topologies and the driver -------------------------------------------- */

#define PLAIN -1 /* grace: the join without grace */

/* table -> versioned table "rows"; stream joined with it -> "out". */
static ks_topology_t *join_topology(int64_t history, int64_t grace,
                                    ks_join_kind_t kind) {
        ks_builder_t *b = ks_builder_new();
        ks_table_t *t = ks_builder_versioned_table(b, "table", NULL, NULL,
                                                   "rows", history);
        const char *st[] = {"stream"};
        ks_stream_t *s = ks_builder_stream(b, st, 1, NULL, NULL, NULL);
        ks_stream_t *j =
                grace == PLAIN
                        ? (kind == KS_JOIN_INNER
                                   ? ks_stream_join_table(s, t, joiner, NULL,
                                                          "J")
                                   : ks_stream_left_join_table(s, t, joiner,
                                                               NULL, "J"))
                        : ks_stream_join_table_with_grace(s, t, kind, joiner,
                                                          NULL, grace, "J");
        KST_OK(ks_stream_to(j, "out", NULL));
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_builder_destroy(b);
        return topo;
}

static size_t slen(const char *s) {
        return s ? strlen(s) : 0;
}

/* Pipe @p evs through a driver of the join and check its output against
 * the oracle's. */
static void check_driver(const ev_t *evs, size_t n, int64_t history,
                         int64_t grace, ks_join_kind_t kind) {
        outs_t want = {0};
        oracle(evs, n, history, grace, kind, &want);
        ks_topology_t *topo = join_topology(history, grace, kind);
        ks_config_t *c = kst_config("versioned-join");
        ks_error_t *e = NULL;
        ks_test_driver_t *d = ks_test_driver_new(topo, c, 0, &e);
        if (!d)
                fail_msg("driver: %s", ks_error_message(e));
        size_t next = 0;
        for (size_t i = 0; i < n; i++) {
                KST_OK_E(ks_test_driver_pipe(
                        d, evs[i].table ? "table" : "stream", evs[i].key,
                        slen(evs[i].key), evs[i].value, slen(evs[i].value),
                        evs[i].ts, NULL, &e));
                /* What event i sent, and nothing more, in order. */
                for (; next < want.cnt && want.v[next].at == i; next++)
                        kst_expect_output(
                                d, "out", want.v[next].key,
                                strlen(want.v[next].key), want.v[next].value,
                                strlen(want.v[next].value), want.v[next].ts);
                if (ks_test_driver_output_size(d, "out"))
                        fail_msg("event %zu (%s %s@%lld) sent more than "
                                 "expected",
                                 i, evs[i].table ? "table" : "stream",
                                 evs[i].key ? evs[i].key : "(null)",
                                 (long long)evs[i].ts);
        }
        assert_int_equal(next, want.cnt);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(topo);
        free(want.v);
}

/* Records in order, each letting out the one a grace period before it:
 * a release does not walk again over the records let out before (deletes
 * in RocksDB until a compaction; its perf context counts those its
 * iterators step over). */
static void test_release_work(void **state) {
        (void)state;
        ks_topology_t *topo = join_topology(1000, 10, KS_JOIN_LEFT);
        ks_config_t *c = kst_config("release-work");
        ks_error_t *e = NULL;
        ks_test_driver_t *d = ks_test_driver_new(topo, c, 0, &e);
        assert_non_null(d);
        const int n = 3000;
        rocksdb_set_perf_level(rocksdb_enable_count);
        rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
        rocksdb_perfcontext_reset(pc);
        uint64_t first = 0;
        for (int i = 0; i < n; i++) {
                KST_OK_E(ks_test_driver_pipe(d, "stream", "k", 1, "v", 1, i,
                                             NULL, &e));
                if (i >= 10)
                        kst_expect_output(d, "out", "k", 1, "v|null", 6,
                                          i - 10);
                if (i == 99)
                        first = rocksdb_perfcontext_metric(
                                pc, rocksdb_internal_delete_skipped_count);
        }
        uint64_t total = rocksdb_perfcontext_metric(
                pc, rocksdb_internal_delete_skipped_count);
        rocksdb_perfcontext_destroy(pc);
        rocksdb_set_perf_level(rocksdb_disable);
        if (total - first > (uint64_t)n)
                fail_msg("%llu deletes skipped over %d records (%llu over "
                         "the first 100)",
                         (unsigned long long)(total - first), n,
                         (unsigned long long)first);
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(topo);
}

/* Bytes the process has allocated (not under a sanitizer, whose
 * allocator mallinfo2() does not see): -1 when unknown. */
static int64_t heap_bytes(void) {
#if defined(__SANITIZE_ADDRESS__)
        return -1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        return -1;
#else
        struct mallinfo2 mi = mallinfo2();
        return (int64_t)(mi.uordblks + mi.hblkhd);
#endif
#else
        struct mallinfo2 mi = mallinfo2();
        return (int64_t)(mi.uordblks + mi.hblkhd);
#endif
}

/* Large records let out together: the step copies them out of the buffer
 * in batches of bounded size, and keeps no batch's room after it. */
static void test_release_large(void **state) {
        (void)state;
        if (heap_bytes() < 0)
                skip();
        ks_topology_t *topo = join_topology(100000, 1000, KS_JOIN_LEFT);
        ks_config_t *c = kst_config("release-large");
        ks_error_t *e = NULL;
        /* No memtable flush (in the background) while it is measured. */
        KST_OK_E(ks_config_set(c, "rocksdb.write.buffer.bytes", "1073741824",
                               &e));
        ks_test_driver_t *d = ks_test_driver_new(topo, c, 0, &e);
        assert_non_null(d);
        const size_t big = (size_t)256 << 10;
        const int n = 128;
        char *v = malloc(big);
        assert_non_null(v);
        memset(v, 'x', big);
        for (int i = 0; i < n; i++)
                KST_OK_E(ks_test_driver_pipe(d, "stream", "k", 1, v, big, i,
                                             NULL, &e));
        assert_int_equal(ks_test_driver_output_size(d, "out"), 0);
        int64_t before = heap_bytes();
        /* Stream time moves past them all at once. */
        KST_OK_E(ks_test_driver_pipe(d, "stream", "k", 1, "v", 1, 5000, NULL,
                                     &e));
        assert_int_equal(ks_test_driver_output_size(d, "out"), n);
        for (int i = 0; i < n; i++) {
                ks_test_record_t *r = ks_test_driver_read_output(d, "out");
                assert_non_null(r);
                assert_int_equal(ks_test_record_timestamp(r), i);
                ks_test_record_destroy(r);
        }
        int64_t grown = heap_bytes() - before;
        free(v);
        if (grown > (int64_t)8 << 20) /* a batch of 128 records: 32 MiB */
                fail_msg("%lld bytes more allocated after the release",
                         (long long)grown);
        ks_test_driver_destroy(d);
        ks_config_destroy(c);
        ks_topology_destroy(topo);
}

/* --- joins: a scenario by hand --------------------------------------------
 */

/* Grace 10: s1 waits, so v2 (late, within the grace) reaches it; s2 goes
 * before v3 arrives; s3 and s4 come too late to wait and join at once;
 * s5, at the deadline, waits for nothing. */
static const ev_t story[] = {
        {1, "A", "v1", 0},   {0, "A", "s1", 100},  {1, "A", "v2", 95},
        {0, "B", "x", 111},  {0, "A", "s2", 200},  {0, "B", "y", 215},
        {1, "A", "v3", 199}, {0, "A", "s3", 198},  {0, "A", "s4", 204},
        {0, "A", "s5", 205}, {1, "A", NULL, 300},  {0, "A", "s6", 310},
        {0, "C", "z", 330},  {0, "A", NULL, 1000}, {0, NULL, "w", 1000},
        {1, "A", "v4", 325}, {0, "A", "s7", 321},  {0, "A", "s8", 319},
};
#define STORY_LEN (sizeof(story) / sizeof(story[0]))

static void expect_outs(const outs_t *o, const char *const *want) {
        size_t i = 0;
        for (; want[i]; i++) {
                char got[128] = "(none)";
                if (i < o->cnt)
                        snprintf(got, sizeof(got), "%s:%s@%lld", o->v[i].key,
                                 o->v[i].value, (long long)o->v[i].ts);
                assert_string_equal(got, want[i]);
        }
        assert_int_equal(o->cnt, i);
}

static void test_story(void **state) {
        (void)state;
        /* The oracle says what a reader of the scenario expects... */
        static const char *const inner[] = {"A:s1|v2@100", "A:s2|v2@200",
                                            "A:s3|v2@198", "A:s4|v3@204",
                                            "A:s5|v3@205", NULL};
        static const char *const left[] = {"A:s1|v2@100",   "B:x|null@111",
                                           "A:s2|v2@200",   "A:s3|v2@198",
                                           "A:s4|v3@204",   "A:s5|v3@205",
                                           "B:y|null@215",  "A:s6|null@310",
                                           "A:s8|null@319", NULL};
        /* Without grace, each joins the row of its time among those
         * arrived: s1 meets v1. */
        static const char *const plain[] = {"A:s1|v1@100", "A:s2|v2@200",
                                            "A:s3|v2@198", "A:s4|v3@204",
                                            "A:s5|v3@205", NULL};
        outs_t o = {0};
        oracle(story, STORY_LEN, 1000, 10, KS_JOIN_INNER, &o);
        expect_outs(&o, inner);
        o.cnt = 0;
        oracle(story, STORY_LEN, 1000, 10, KS_JOIN_LEFT, &o);
        expect_outs(&o, left);
        o.cnt = 0;
        oracle(story, STORY_LEN, 1000, PLAIN, KS_JOIN_INNER, &o);
        expect_outs(&o, plain);
        free(o.v);
        /* ...and the joins send exactly that. */
        check_driver(story, STORY_LEN, 1000, 10, KS_JOIN_INNER);
        check_driver(story, STORY_LEN, 1000, 10, KS_JOIN_LEFT);
        check_driver(story, STORY_LEN, 1000, PLAIN, KS_JOIN_INNER);
        check_driver(story, STORY_LEN, 1000, PLAIN, KS_JOIN_LEFT);
        check_driver(story, STORY_LEN, 1000, 0, KS_JOIN_LEFT);
}

/* --- joins: random input ---------------------------------------------------
 */

#define EVENTS 1500

typedef struct {
        ev_t ev[EVENTS];
        char text[EVENTS][2][16]; /* keys and values */
} events_t;

/* Interleaved table updates and stream records around a clock, out of
 * order by up to @p jitter, with tombstones, null keys and values. */
static void make_events(events_t *es, unsigned seed, int64_t jitter) {
        srand(seed);
        int64_t clock = 1000; /* input timestamps are not negative */
        for (size_t i = 0; i < EVENTS; i++) {
                ev_t *e = &es->ev[i];
                clock += rand() % 6;
                e->table = rand() % 3 == 0;
                snprintf(es->text[i][0], 16, "k%d", rand() % 5);
                snprintf(es->text[i][1], 16, "%c%zu", e->table ? 't' : 's', i);
                e->key = rand() % 50 ? es->text[i][0] : NULL;
                e->value = rand() % (e->table ? 7 : 40) ? es->text[i][1] : NULL;
                e->ts = clock - rand() % jitter;
                if (rand() % 12 == 0)
                        e->ts += rand() % jitter; /* ahead */
        }
}

static void test_random(void **state) {
        (void)state;
        static events_t es;
        static const struct {
                unsigned seed;
                int64_t jitter, history, grace;
        } runs[] = {
                {1, 40, 1000, 15}, {2, 40, 1000, 0},     {3, 60, 60, 50},
                {4, 10, 200, 100}, {5, 40, 1000, PLAIN}, {6, 80, 30, 30},
        };
        for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
                make_events(&es, runs[r].seed, runs[r].jitter);
                for (int k = 0; k < 2; k++)
                        check_driver(es.ev, EVENTS, runs[r].history,
                                     runs[r].grace,
                                     k ? KS_JOIN_LEFT : KS_JOIN_INNER);
        }
}

/* --- failover ------------------------------------------------------------- */

/* The collector of a task: output records, and every changelog record. */
typedef struct {
        outs_t out;
        size_t at; /* the event being processed */
        struct {
                char topic[128];
                void *k, *v;
                size_t kl, vl;
        } * log;
        size_t log_cnt, log_cap;
        uint64_t slots;
} sink_t;

static ks_err_t c_send(void *opaque, const char *topic, int32_t partition,
                       const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t timestamp,
                       const ks_headers_t *headers, const ks__origin_t *origin,
                       ks_error_t **errp) {
        sink_t *s = opaque;
        assert_string_equal(topic, "out");
        outs_add(&s->out, key, klen, value, vlen, timestamp, s->at);
        return KS_ERR_NO_ERROR;
}

static int32_t c_partitions(void *opaque, const char *topic) {
        return 1;
}

static ks_err_t c_flush(void *opaque, ks_error_t **errp) {
        return KS_ERR_NO_ERROR;
}

static ks_err_t c_send_changelog(void *opaque, const char *topic,
                                 int32_t partition, const void *key,
                                 size_t klen, const void *value, size_t vlen,
                                 int64_t timestamp, uint64_t slot,
                                 ks_error_t **errp) {
        sink_t *s = opaque;
        if (s->log_cnt == s->log_cap) {
                s->log_cap = s->log_cap ? 2 * s->log_cap : 256;
                s->log = realloc(s->log, s->log_cap * sizeof(*s->log));
                assert_non_null(s->log);
        }
        snprintf(s->log[s->log_cnt].topic, 128, "%s", topic);
        s->log[s->log_cnt].k = malloc(klen + 1);
        memcpy(s->log[s->log_cnt].k, key, klen);
        s->log[s->log_cnt].kl = klen;
        s->log[s->log_cnt].v = value ? malloc(vlen + 1) : NULL;
        if (value)
                memcpy(s->log[s->log_cnt].v, value, vlen);
        s->log[s->log_cnt].vl = vlen;
        s->log_cnt++;
        return KS_ERR_NO_ERROR;
}

static uint64_t c_slot_open(void *opaque) {
        return ++((sink_t *)opaque)->slots;
}

static void c_slot_close(void *opaque, uint64_t slot) {}

static int64_t c_slot_offset(void *opaque, uint64_t slot) {
        return -1;
}

static int64_t c_clock(void *opaque) {
        return 0;
}

/* Process events [from, to) on task @p t, committing after each. */
static void run_task(ks__task_t *t, sink_t *s, const ev_t *evs, size_t from,
                     size_t to) {
        ks_error_t *e = NULL;
        for (size_t i = from; i < to; i++) {
                s->at = i;
                KST_OK_E(ks__task_process(
                        t, evs[i].table ? "table" : "stream", 0, (int64_t)i,
                        evs[i].key, slen(evs[i].key), evs[i].value,
                        slen(evs[i].value), evs[i].ts, NULL, &e));
                KST_OK_E(ks__task_flush_caches(t, &e));
                KST_OK_E(ks__task_commit(t, &e));
        }
}

/* --- a crafted buffer ------------------------------------------------------
 */

typedef struct {
        const char *k, *v; /* v NULL: a delete */
        size_t kl, vl;
} crafted_t;

/* The buffer's key of a record at @p ts with sequence number @p seq. */
static const char *rec_key(char *out, int64_t ts, uint64_t seq) {
        out[0] = 1;
        uint64_t t = (uint64_t)ts ^ ((uint64_t)1 << 63);
        for (int i = 0; i < 8; i++) {
                out[1 + i] = (char)(t >> (56 - 8 * i));
                out[9 + i] = (char)(seq >> (56 - 8 * i));
        }
        return out;
}

/* The buffer's stream time entry. */
static const char *meta_value(char *out, int64_t observed, uint64_t seq) {
        for (int i = 0; i < 8; i++) {
                out[i] = (char)((uint64_t)observed >> (56 - 8 * i));
                out[8 + i] = (char)(seq >> (56 - 8 * i));
        }
        return out;
}

/* A task of the join (grace 10) whose buffer is restored from @p recs (a
 * changelog another client wrote) before it starts, then given stream
 * records of key "k" at @p ts: the first failure is KS_ERR_STORE naming
 * the buffer and @p needle, never a read past an entry's end, nor a
 * record lost. @p ts ends with -1. */
static void expect_crafted(const crafted_t *recs, size_t n, const int64_t *ts,
                           const char *needle) {
        ks_topology_t *topo = join_topology(1000, 10, KS_JOIN_LEFT);
        ks_error_t *e = NULL;
        KST_OK_E(ks__topology_bind(topo, "crafted", &e));
        ks_config_t *conf = kst_config("crafted");
        ks__rocks_env_t *rocks = NULL;
        char *dir = NULL;
        KST_OK_E(ks__rocks_env_new(conf, &rocks, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "crafted-", &dir, &e));
        sink_t sink = {0};
        ks__cache_budget_t cache = {.used = 0, .max = 1 << 20};
        ks__task_env_t env = {
                .conf = conf,
                .rocks = rocks,
                .state_dir = dir,
                .collector = {c_send, c_partitions, c_flush, &sink,
                              c_send_changelog, c_slot_open, c_slot_close,
                              c_slot_offset},
                .clock = c_clock,
                .cache = &cache,
        };
        ks__task_t *t = NULL;
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        size_t store = ks__task_store_count(t);
        for (size_t i = 0; i < ks__task_store_count(t); i++)
                if (!strcmp(ks__task_store_name(t, i), "J-buffer"))
                        store = i;
        assert_true(store < ks__task_store_count(t));
        for (size_t i = 0; i < n; i++)
                KST_OK(ks__task_restore_put(t, store, recs[i].k, recs[i].kl,
                                            recs[i].v, recs[i].vl, 0));
        KST_OK_E(ks__task_restore_checkpoint(t, store, (int64_t)n, 1, &e));
        ks_err_t err = ks__task_start(t, &e);
        for (size_t i = 0; !err && ts[i] >= 0; i++) {
                sink.at = i;
                err = ks__task_process(t, "stream", 0, (int64_t)i, "k", 1, "v",
                                       1, ts[i], NULL, &e);
        }
        if (err != KS_ERR_STORE)
                fail_msg("%s: %s (%s)", needle, ks_err_name(err),
                         e ? ks_error_message(e) : "no error");
        const char *msg = ks_error_message(e);
        if (!strstr(msg, "J-buffer") || !strstr(msg, needle))
                fail_msg("\"%s\" does not say \"%s\"", msg, needle);
        ks_error_destroy(e);
        ks__task_destroy(t);
        for (size_t j = 0; j < sink.log_cnt; j++) {
                free(sink.log[j].k);
                free(sink.log[j].v);
        }
        free(sink.log);
        free(sink.out.v);
        ks__rocks_env_destroy(rocks);
        ks__rmtree(dir);
        free(dir);
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
}

/* Buffer entries the step did not write: a record key of the wrong
 * length, record values too short for their key length, a stream time
 * entry of the wrong length, and sequence numbers at their end (the next
 * one would wrap to 0 and overwrite a held record, or release records of
 * one timestamp out of their arrival order). */
static void test_crafted_buffer(void **state) {
        (void)state;
        char k1[17], k2[17], m[16];
        static const int64_t none[] = {-1};
        static const int64_t due[] = {200, -1};
        static const int64_t two[] = {100, 100, -1};
        const char *ok = "\0\0\0\x01k"
                         "v";
        crafted_t short_key[] = {{"\x01short", "\0\0\0\0", 6, 4}};
        expect_crafted(short_key, 1, none, "a record key (6 bytes)");
        crafted_t short_value[] = {{rec_key(k1, 1, 9), "\0\0", 17, 2}};
        expect_crafted(short_value, 1, due, "a record value (2 bytes)");
        crafted_t long_key_len[] = {{rec_key(k1, 1, 9),
                                     "\0\0\0\x09"
                                     "ab",
                                     17, 6}};
        expect_crafted(long_key_len, 1, due, "a record value (6 bytes)");
        crafted_t bad_meta[] = {{"\0", "\0\0\0", 1, 3}};
        expect_crafted(bad_meta, 1, none, "a stream time entry (3 bytes)");
        crafted_t last_seq[] = {{rec_key(k1, 100, 0), ok, 17, 6},
                                {rec_key(k2, 200, UINT64_MAX), ok, 17, 6}};
        expect_crafted(last_seq, 2, two, "the last sequence number");
        crafted_t meta_seq[] = {{"\0", meta_value(m, 100, UINT64_MAX), 1, 16}};
        expect_crafted(meta_seq, 1, two, "the last sequence number");
        /* One number left: one record takes it, the next finds none. */
        crafted_t meta_seq1[] = {
                {"\0", meta_value(m, 100, UINT64_MAX - 1), 1, 16}};
        expect_crafted(meta_seq1, 1, two, "no sequence number left");
}

/* Half the events on one task, the rest on a new owner that either finds
 * the first one's state directory (@p same_dir) or restores every store
 * from the changelog the first one wrote. Together they send what the
 * oracle says, each result once, and records held across the move go
 * out after it. */
static void check_failover(int same_dir) {
        static events_t es;
        make_events(&es, 77, 40);
        const int64_t history = 500, grace = 20;
        const size_t cut = EVENTS / 2;
        outs_t want = {0};
        oracle(es.ev, EVENTS, history, grace, KS_JOIN_LEFT, &want);
        size_t held = 0; /* results of records that arrived before the cut
                            and go out after it */
        for (size_t i = 0; i < want.cnt; i++)
                if (want.v[i].at >= cut && atoi(want.v[i].value + 1) < (int)cut)
                        held++;
        assert_true(held > 0);

        ks_topology_t *topo = join_topology(history, grace, KS_JOIN_LEFT);
        ks_error_t *e = NULL;
        KST_OK_E(ks__topology_bind(topo, "failover", &e));
        ks_config_t *conf = kst_config("failover");
        ks__rocks_env_t *rocks = NULL;
        char *dirs[2] = {NULL, NULL};
        KST_OK_E(ks__rocks_env_new(conf, &rocks, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "failover-", &dirs[0], &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "failover-", &dirs[1], &e));
        sink_t sink = {0};
        /* A cache budget, as every runtime task has: the flush before each
         * commit writes the step's stream time and sequence number. */
        ks__cache_budget_t cache = {.used = 0, .max = 1 << 20};
        ks__task_env_t env = {
                .conf = conf,
                .rocks = rocks,
                .state_dir = dirs[0],
                .collector = {c_send, c_partitions, c_flush, &sink,
                              c_send_changelog, c_slot_open, c_slot_close,
                              c_slot_offset},
                .clock = c_clock,
                .cache = &cache,
        };
        ks__task_t *t = NULL;
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        KST_OK_E(ks__task_start(t, &e));
        run_task(t, &sink, es.ev, 0, cut);
        ks__task_destroy(t);

        if (!same_dir)
                env.state_dir = dirs[1];
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        for (size_t i = 0; !same_dir && i < ks__task_store_count(t); i++) {
                const char *topic = ks__task_changelog_topic(t, i);
                assert_non_null(topic);
                int64_t n = 0;
                for (size_t j = 0; j < sink.log_cnt; j++)
                        if (!strcmp(sink.log[j].topic, topic)) {
                                KST_OK(ks__task_restore_put(
                                        t, i, sink.log[j].k, sink.log[j].kl,
                                        sink.log[j].v, sink.log[j].vl, 0));
                                n++;
                        }
                assert_true(n > 0);
                KST_OK_E(ks__task_restore_checkpoint(t, i, n, 1, &e));
        }
        KST_OK_E(ks__task_start(t, &e));
        run_task(t, &sink, es.ev, cut, EVENTS);
        ks__task_destroy(t);

        assert_int_equal(sink.out.cnt, want.cnt);
        for (size_t i = 0; i < want.cnt; i++) {
                assert_string_equal(sink.out.v[i].key, want.v[i].key);
                assert_string_equal(sink.out.v[i].value, want.v[i].value);
                assert_int_equal(sink.out.v[i].ts, want.v[i].ts);
                assert_int_equal(sink.out.v[i].at, want.v[i].at);
        }
        for (size_t j = 0; j < sink.log_cnt; j++) {
                free(sink.log[j].k);
                free(sink.log[j].v);
        }
        free(sink.log);
        free(sink.out.v);
        free(want.v);
        ks__rocks_env_destroy(rocks);
        for (int i = 0; i < 2; i++) {
                ks__rmtree(dirs[i]);
                free(dirs[i]);
        }
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
}

static void test_failover_changelog(void **state) {
        (void)state;
        check_failover(0);
}

static void test_failover_same_dir(void **state) {
        (void)state;
        check_failover(1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_release_work),
                cmocka_unit_test(test_release_large),
                cmocka_unit_test(test_crafted_buffer),
                cmocka_unit_test(test_story),
                cmocka_unit_test(test_random),
                cmocka_unit_test(test_failover_changelog),
                cmocka_unit_test(test_failover_same_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
