/* Crafted origin headers (__ks_origin) on the records of a running
 * application: the 20-byte header of the earlier version with a partition
 * near INT32_MIN and offset INT64_MAX, the 25-byte header with this
 * application's tag and fields out of range (12 distinct partitions near
 * INT32_MIN, a topic index past the topology's, a partition past the
 * topic's, offset INT64_MAX, a negative rank), and in-range headers under
 * other tags (0, the tag with one bit flipped, another application's).
 * They go to the input topic (never a through topic: ignored whatever
 * they say) and straight into the through topic between the two
 * sub-topologies, around ordinary records.
 *
 * The topology: in -> relay -> mid (through) -> emit -> out. Every record
 * of in and of mid must come out of out exactly once (checked value by
 * value), the app stays RUNNING, commits happen (commit-total grows) and
 * nothing is skipped as a duplicate or dropped. The records the app
 * relays into mid carry one origin header with this application's tag
 * and their input record's coordinates; out carries none. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#include "common/util_int.h"
#include "topology/topology_int.h"

#define PARTITIONS 2
#define ORDINARY   60 /* ordinary records per partition and topic */
#define CRAFTED    12 /* crafted records per topic */
#define ORIGIN_LEN 25

typedef struct {
        kst_env_t env;
        kst_broker_t *broker;                /* env's */
        const char *in, *mid, *out, *app_id; /* env's */
        uint32_t tag;                        /* this application's */
        uint32_t other_tag; /* another application's, same topics */
        int in_cnt, mid_cnt;
        /* Per value: how often out carried it ("i<n>" in, "m<n>" mid). */
        int *seen_in, *seen_mid;
        /* The input offset of each "i<n>", -1 for crafted ones. */
        int64_t *in_offset;
        int32_t *in_partition;
        int relayed_checked;
        /* What went wrong: the first problem and how many; reported once
         * the app is closed, so that a failure leaves nothing running. */
        char problem[512];
        int problems;
} fixture_t;

static void problem(fixture_t *f, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void problem(fixture_t *f, const char *fmt, ...) {
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (!f->problems++)
                snprintf(f->problem, sizeof(f->problem), "%s", line);
        if (f->problems <= 10)
                printf("# problem: %s\n", line);
}

static ks_err_t forward(ks_context_t *ctx, const ks_record_t *rec,
                        void *state) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_context_forward(ctx, k, kl, v, vl);
}

static ks_topology_t *topology(fixture_t *f) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        assert_non_null(t);
        KST_OK_E(ks_topology_add_source(t, "in-src", (const char *[]){f->in}, 1,
                                        NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "relay", NULL, forward, NULL,
                                           NULL, (const char *[]){"in-src"}, 1,
                                           &e));
        KST_OK_E(ks_topology_add_sink(t, "mid-sink", f->mid, NULL, NULL,
                                      (const char *[]){"relay"}, 1, &e));
        KST_OK_E(ks_topology_add_source(t, "mid-src", (const char *[]){f->mid},
                                        1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "emit", NULL, forward, NULL, NULL,
                                           (const char *[]){"mid-src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "out-sink", f->out, NULL, NULL,
                                      (const char *[]){"emit"}, 1, &e));
        KST_OK_E(ks_topology_build(t, &e));
        return t;
}

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        kst_env_init(&f->env, "crafted", PARTITIONS,
                     (const char *const[]){"in", "mid", "out", NULL});
        f->broker = f->env.broker;
        f->in = f->env.topic[0];
        f->mid = f->env.topic[1];
        f->out = f->env.topic[2];
        f->app_id = f->env.app_id;
        int n = 2 * (PARTITIONS * ORDINARY + CRAFTED);
        f->seen_in = calloc((size_t)n, sizeof(int));
        f->seen_mid = calloc((size_t)n, sizeof(int));
        f->in_offset = calloc((size_t)n, sizeof(int64_t));
        f->in_partition = calloc((size_t)n, sizeof(int32_t));
        assert_non_null(f->seen_in);
        assert_non_null(f->seen_mid);
        assert_non_null(f->in_offset);
        assert_non_null(f->in_partition);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_env_fini(&f->env);
        free(f->seen_in);
        free(f->seen_mid);
        free(f->in_offset);
        free(f->in_partition);
        free(f);
        return 0;
}

/* --- producing ----------------------------------------------------------- */

/* The offset of each input record, from its delivery report. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
        fixture_t *f = opaque;
        (void)rk;
        if (m->err)
                fail_msg("producing: %s", rd_kafka_err2str(m->err));
        int idx = (int)(intptr_t)m->_private;
        if (idx >= 0) {
                f->in_offset[idx] = m->offset;
                f->in_partition[idx] = m->partition;
        }
}

/* One record "<prefix><n>" to @p topic [@p p], with origin header bytes
 * @p hdr (NULL: none). @p idx >= 0 asks for its offset. */
static void produce(rd_kafka_t *p, const char *topic, int32_t partition,
                    const char *value, const uint8_t *hdr, size_t hlen,
                    int idx) {
        rd_kafka_headers_t *h = NULL;
        if (hdr) {
                h = rd_kafka_headers_new(1);
                rd_kafka_header_add(h, "__ks_origin", -1, hdr, (ssize_t)hlen);
        }
        char key[32];
        snprintf(key, sizeof(key), "k-%s", value);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, strlen(key)),
                        RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_OPAQUE((void *)(intptr_t)idx),
                        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 100);
        if (e)
                fail_msg("producing to %s: %s", topic, rd_kafka_err2str(e));
}

/* The 25-byte header: version 2, tag, topic index, partition, offset,
 * rank. */
static void origin25(uint8_t *b, uint32_t tag, uint32_t topic, uint32_t part,
                     uint64_t offset, uint32_t seq) {
        b[0] = 2;
        ks__be32_put(b + 1, tag);
        ks__be32_put(b + 5, topic);
        ks__be32_put(b + 9, part);
        ks__be64_put(b + 13, offset);
        ks__be32_put(b + 21, seq);
}

/* Crafted header @p i (0 .. CRAFTED-1) in *lenp bytes: six kinds, two
 * variants each. */
static void crafted(const fixture_t *f, int i, uint8_t *b, size_t *lenp) {
        uint32_t near_min = (uint32_t)INT32_MIN + (uint32_t)i;
        int v = i / 6;
        *lenp = ORIGIN_LEN;
        switch (i % 6) {
        case 0: /* the earlier version's 20 bytes */
                ks__be32_put(b, (uint32_t)v);
                ks__be32_put(b + 4, near_min);
                ks__be64_put(b + 8, (uint64_t)INT64_MAX);
                ks__be32_put(b + 16, 0);
                *lenp = 20;
                return;
        case 1: /* this tag, a partition near INT32_MIN */
                origin25(b, f->tag, 0, near_min, (uint64_t)INT64_MAX - v, 0);
                return;
        case 2: /* this tag, a topic index past the topology's two */
                origin25(b, f->tag, v ? 0x80000000u + (uint32_t)i : 2, near_min,
                         5, 0);
                return;
        case 3: /* this tag, a partition past the topic's, or a negative
                 * rank */
                origin25(b, f->tag, 0, v ? 0 : PARTITIONS, 1,
                         v ? 0xffffffffu : 0);
                return;
        case 4: /* in range, but tag 0 or this tag with one bit flipped */
                origin25(b, v ? f->tag ^ 1u : 0u, 0, 0, (uint64_t)INT64_MAX - 1,
                         0);
                return;
        default: /* in range, another application's tag */
                origin25(b, f->other_tag, 0, (uint32_t)v,
                         (uint64_t)INT64_MAX - 1, 0);
                return;
        }
}

/* Ordinary and crafted records to in and mid, the crafted ones between
 * ordinary ones, so that a crafted header that moved a mark would make
 * the app skip the ordinary records after it. */
static void produce_all(fixture_t *f) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        if (rd_kafka_conf_set(c, "bootstrap.servers",
                              kst_broker_bootstrap(f->broker), err,
                              sizeof(err)))
                fail_msg("%s", err);
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
        rd_kafka_conf_set_opaque(c, f);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!p)
                fail_msg("producer: %s", err);
        int crafted_in = 0, crafted_mid = 0;
        for (int r = 0; r < ORDINARY; r++) {
                for (int part = 0; part < PARTITIONS; part++) {
                        char v[32];
                        int k = f->in_cnt++;
                        snprintf(v, sizeof(v), "i%d", k);
                        produce(p, f->in, part, v, NULL, 0, k);
                        snprintf(v, sizeof(v), "m%d", f->mid_cnt++);
                        produce(p, f->mid, part, v, NULL, 0, -1);
                }
                if (r % 5 != 2)
                        continue;
                /* Two crafted records on each topic every five rounds. */
                for (int j = 0; j < 2; j++) {
                        uint8_t h[ORIGIN_LEN];
                        size_t hl;
                        char v[32];
                        if (crafted_in < CRAFTED) {
                                crafted(f, crafted_in, h, &hl);
                                int k = f->in_cnt++;
                                snprintf(v, sizeof(v), "i%d", k);
                                produce(p, f->in, crafted_in % PARTITIONS, v, h,
                                        hl, k);
                                crafted_in++;
                        }
                        if (crafted_mid < CRAFTED) {
                                crafted(f, crafted_mid, h, &hl);
                                snprintf(v, sizeof(v), "m%d", f->mid_cnt++);
                                produce(p, f->mid, crafted_mid % PARTITIONS, v,
                                        h, hl, -1);
                                crafted_mid++;
                        }
                }
        }
        assert_int_equal(crafted_in, CRAFTED);
        assert_int_equal(crafted_mid, CRAFTED);
        kst_flush(p);
        rd_kafka_destroy(p);
}

/* --- checking ------------------------------------------------------------- */

static const void *origin_of(const rd_kafka_message_t *m, size_t *lenp,
                             size_t *cntp) {
        rd_kafka_headers_t *h = NULL;
        *cntp = 0;
        if (rd_kafka_message_headers(m, &h) || !h)
                return NULL;
        const void *v = NULL, *last = NULL;
        size_t vl;
        for (size_t i = 0; !rd_kafka_header_get(h, i, "__ks_origin", &v, &vl);
             i++) {
                last = v;
                *lenp = vl;
                (*cntp)++;
        }
        return last;
}

/* A record of out: a value of in or mid, seen once; no origin header. */
static void on_out(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        fixture_t *f = opaque;
        (void)map;
        char v[32] = "";
        if (m->len && m->len < sizeof(v))
                memcpy(v, m->payload, m->len);
        int n = atoi(v + 1);
        size_t hl, hc;
        origin_of(m, &hl, &hc);
        if (hc)
                problem(f, "out record %s carries %zu origin headers", v, hc);
        if (v[0] == 'i' && n >= 0 && n < f->in_cnt)
                f->seen_in[n]++;
        else if (v[0] == 'm' && n >= 0 && n < f->mid_cnt)
                f->seen_mid[n]++;
        else
                problem(f, "unexpected record \"%s\" in %s", v, f->out);
}

/* A record of mid that the app relayed: one origin header, this
 * application's tag, the input record's coordinates. */
static void on_mid(void *opaque, const rd_kafka_message_t *m,
                   const kst_map_t *map) {
        fixture_t *f = opaque;
        (void)map;
        char v[32] = "";
        if (m->len && m->len < sizeof(v))
                memcpy(v, m->payload, m->len);
        if (v[0] != 'i')
                return; /* produced by the test */
        int n = atoi(v + 1);
        if (n < 0 || n >= f->in_cnt) {
                problem(f, "unexpected record \"%s\" in %s", v, f->mid);
                return;
        }
        size_t hl = 0, hc;
        const uint8_t *o = origin_of(m, &hl, &hc);
        if (hc != 1 || hl != ORIGIN_LEN) {
                problem(f, "relayed %s: %zu origin headers (last %zu bytes)", v,
                        hc, hl);
                return;
        }
        if (o[0] != 2 || ks__be32_get(o + 1) != f->tag)
                problem(f,
                        "relayed %s: origin version %u tag %08x, not this "
                        "application's %08x",
                        v, o[0], ks__be32_get(o + 1), f->tag);
        else if (ks__be32_get(o + 5) != 0 || /* in: topic index 0 */
                 (int32_t)ks__be32_get(o + 9) != f->in_partition[n] ||
                 (int64_t)ks__be64_get(o + 13) != f->in_offset[n] ||
                 ks__be32_get(o + 21) != 0)
                problem(f,
                        "relayed %s (in [%d] offset %lld): origin topic %u "
                        "[%u] offset %lld rank %u",
                        v, f->in_partition[n], (long long)f->in_offset[n],
                        ks__be32_get(o + 5), ks__be32_get(o + 9),
                        (long long)ks__be64_get(o + 13), ks__be32_get(o + 21));
        else
                f->relayed_checked++;
}

static int got_all(void *opaque, const kst_map_t *m) {
        fixture_t *f = opaque;
        return kst_map_records(m) >= f->in_cnt + f->mid_cnt;
}

typedef struct {
        ks_app_t *app;
        int64_t until;
} commits_t;

/* Every input record handled: processed, or skipped as a duplicate (which
 * the checks below then report). */
static int handled(void *opaque) {
        commits_t *c = opaque;
        return ks_app_metric(c->app, "process-total") +
                       ks_app_metric(c->app, "duplicates-skipped") >=
               c->until;
}

static int committed(void *opaque) {
        commits_t *c = opaque;
        return ks_app_metric(c->app, "commit-total") >= c->until;
}

static void test_crafted_headers(void **state) {
        fixture_t *f = *state;
        ks_topology_t *t = topology(f);
        f->tag = ks__topology_tag(t, f->app_id);
        f->other_tag = ks__topology_tag(t, "another-application");
        /* The marks changelog of the sub-topology reading mid. */
        assert_int_equal(kst_create_internal_topics(f->broker, t, f->app_id,
                                                    PARTITIONS, NULL, NULL),
                         1);
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"commit.interval.ms", "100",
                                      "consumer.fetch.wait.max.ms", "10",
                                      NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_config_destroy(c);
        kst_wait_state(app, KS_APP_RUNNING, 60000);
        produce_all(f); /* to the running app */
        /* Every in record twice (in, then relayed through mid), every
         * record produced to mid once. */
        commits_t all = {app, 2 * (int64_t)f->in_cnt + f->mid_cnt};
        if (!kst_wait_for(app, 60000, 50, handled, &all))
                problem(f, "%lld records processed and %lld skipped of %lld",
                        (long long)ks_app_metric(app, "process-total"),
                        (long long)ks_app_metric(app, "duplicates-skipped"),
                        (long long)all.until);
        commits_t cm = {app, ks_app_metric(app, "commit-total") + 3};
        if (!kst_wait_for(app, 30000, 50, committed, &cm))
                problem(f, "commit-total stays at %lld",
                        (long long)ks_app_metric(app, "commit-total"));

        kst_reader_t *r = kst_reader_new(f->broker, f->out, PARTITIONS, 0);
        kst_reader_on_record(r, on_out, f);
        kst_read_until(r, app, 30000, got_all, f);
        if (!kst_read_to_end(r, 30000))
                problem(f, "%s not read to its end", f->out);
        int wrong = 0;
        for (int i = 0; i < f->in_cnt; i++)
                if (f->seen_in[i] != 1 && wrong++ < 20)
                        printf("# i%d (in [%d] offset %lld) came out %d "
                               "times\n",
                               i, f->in_partition[i],
                               (long long)f->in_offset[i], f->seen_in[i]);
        for (int i = 0; i < f->mid_cnt; i++)
                if (f->seen_mid[i] != 1 && wrong++ < 20)
                        printf("# m%d came out %d times\n", i, f->seen_mid[i]);
        if (wrong)
                problem(f,
                        "%d of %d records did not come out exactly once "
                        "(duplicates-skipped %lld)",
                        wrong, f->in_cnt + f->mid_cnt,
                        (long long)ks_app_metric(app, "duplicates-skipped"));
        if (kst_map_records(kst_reader_map(r)) != f->in_cnt + f->mid_cnt)
                problem(f, "%lld records in %s, not %d",
                        (long long)kst_map_records(kst_reader_map(r)), f->out,
                        f->in_cnt + f->mid_cnt);
        kst_reader_destroy(r);

        r = kst_reader_new(f->broker, f->mid, PARTITIONS, 0);
        kst_reader_on_record(r, on_mid, f);
        if (!kst_read_to_end(r, 30000))
                problem(f, "%s not read to its end", f->mid);
        kst_reader_destroy(r);
        if (f->relayed_checked != f->in_cnt)
                problem(f, "%d of %d relayed records carry a right origin",
                        f->relayed_checked, f->in_cnt);

        if (ks_app_state(app) != KS_APP_RUNNING)
                problem(f, "the app is %s",
                        ks_app_state_name(ks_app_state(app)));
        static const char *const zero[] = {"duplicates-skipped",
                                           "dropped-records"};
        for (size_t i = 0; i < 2; i++)
                if (ks_app_metric(app, zero[i]))
                        problem(f, "%s is %lld", zero[i],
                                (long long)ks_app_metric(app, zero[i]));
        if (ks_app_metric(app, "process-total") != all.until)
                problem(f, "process-total is %lld, not %lld",
                        (long long)ks_app_metric(app, "process-total"),
                        (long long)all.until);
        if (ks_app_close(app, 30000) || ks_app_error(app))
                problem(f, "close: %s",
                        ks_app_error(app) ? ks_error_message(ks_app_error(app))
                                          : "timed out");
        ks_app_destroy(app);
        ks_topology_destroy(t);
        if (f->problems)
                fail_msg("%s (%d problems)", f->problem, f->problems);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_crafted_headers, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
