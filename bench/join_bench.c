/* The stream-stream join case: ad impressions joined with ad clicks by ad id
 * within 10 minutes, in the library and in Kafka Streams (KsBench.java).
 *
 *   kstreams-bench produce-join BOOTSTRAP LEFT RIGHT EVENTS PARTITIONS
 *   kstreams-bench serve stream-join BOOTSTRAP LEFT OUT RIGHT
 *   kstreams-bench run NAME BASELINE stream-join BOOTSTRAP OUT PAIRS LEFT
 *                  RIGHT CHECKSUM -- CMD...
 *
 * Input (fixed seed): EVENTS impressions on LEFT, keyed by one of JOIN_ADS
 * ad ids ("ad000000".."ad099999", uniform), stamped at even steps over
 * JOIN_SPAN_MS of event time; about half of them get a click on RIGHT, same
 * key, 30 s to 5 min after the impression; RIGHT is filled up to EVENTS
 * records with clicks on ads that are never shown ("ad100000".."ad199999")
 * spread over the same time. Values are "imp-<index>" and "clk-<index>"
 * (11 bytes, the index in the record's topic). The event time starts about
 * 3 h 6 min before the producer runs and ends a minute before it (the
 * stores' changelogs are time-retained, and Kafka refuses records too far in
 * the future), each topic in timestamp order, both produced interleaved by
 * time as a live feed would be. Ad a goes to partition a mod PARTITIONS in
 * both topics (co-partitioned).
 *
 * The join: inner, JoinWindows.ofTimeDifferenceAndGrace(10 min, 1 min),
 * the joiner concatenating the two values ("imp-0000042clk-0000017"),
 * output to OUT. produce-join prints the number of joined pairs the input
 * holds (a left and a right record of one ad at most 10 min apart, both
 * bounds included) and a checksum of them; "run" times the pipeline until
 * OUT holds that many records (its high watermarks), from the moment the
 * application's group (id OUT) is stable, then waits for the group to
 * commit both inputs to their ends (both programs commit only what they
 * have written) and reads OUT from the start: exactly PAIRS records, each
 * a pair of the input under its ad's key, summing to CHECKSUM, or the case
 * fails. Records/s are input records (both topics) per second. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bench.h"

#define JOIN_SEED      20261205u
#define JOIN_ADS       100000
#define JOIN_SPAN_MS   INT64_C(10800000) /* impressions: 3 h of event time */
#define JOIN_WINDOW_MS INT64_C(600000)   /* 10 min each way */
#define JOIN_GRACE_MS  INT64_C(60000)
#define CLICK_MIN_MS   INT64_C(30000)
#define CLICK_MAX_MS   INT64_C(300000)
#define JOIN_KEY_LEN   8  /* "ad%06d" */
#define JOIN_VAL_LEN   11 /* "imp-%07d", "clk-%07d" */

typedef struct {
        int64_t ts;  /* from the start of the input's event time */
        int32_t ad;  /* < JOIN_ADS: an ad shown on the left */
        int32_t idx; /* its index in its topic */
} jrec_t;

/* The input of one case, each topic in timestamp order. */
typedef struct {
        int64_t n;
        jrec_t *left, *right;
        int64_t clicks;          /* right records of shown ads */
        int64_t pairs;           /* joined pairs */
        uint64_t sum;            /* their checksum */
        int64_t left_joined;     /* left records with a partner */
        int64_t clicks_unjoined; /* clicks without a partner (none) */
} jinput_t;

static uint64_t mix64(uint64_t x) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdu;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53u;
        x ^= x >> 33;
        return x;
}

/* The checksum term of the joined pair (left @p l, right @p r) of @p ad. */
static uint64_t pair_hash(int32_t ad, int32_t l, int32_t r) {
        return mix64(mix64((uint64_t)ad + 1) ^
                     ((uint64_t)l << 32 | (uint32_t)r));
}

static int by_time(const void *a, const void *b) {
        const jrec_t *x = a, *y = b;
        if (x->ts != y->ts)
                return x->ts < y->ts ? -1 : 1;
        return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Makes the input and the pairs it holds. */
static void jinput_make(jinput_t *in, int64_t n) {
        if (n <= 0 || n > INT32_MAX)
                die("produce-join: %" PRId64 " events", n);
        in->n = n;
        in->left = malloc((size_t)n * sizeof(jrec_t));
        in->right = malloc((size_t)n * sizeof(jrec_t));
        if (!in->left || !in->right)
                die("%s", "out of memory");
        uint64_t s = JOIN_SEED;
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) {
                jrec_t *l = &in->left[i];
                l->ts = i * JOIN_SPAN_MS / n;
                l->ad = (int32_t)(rng(&s) % JOIN_ADS);
                l->idx = (int32_t)i;
                if (rng(&s) % 2) {
                        jrec_t *r = &in->right[c];
                        r->ts = l->ts + CLICK_MIN_MS +
                                (int64_t)(rng(&s) %
                                          (CLICK_MAX_MS - CLICK_MIN_MS + 1));
                        r->ad = l->ad;
                        r->idx = (int32_t)c++;
                }
        }
        in->clicks = c;
        for (; c < n; c++) {
                jrec_t *r = &in->right[c];
                r->ts = (int64_t)(rng(&s) %
                                  (uint64_t)(JOIN_SPAN_MS + CLICK_MAX_MS));
                r->ad = JOIN_ADS + (int32_t)(rng(&s) % JOIN_ADS);
                r->idx = (int32_t)c;
        }
        qsort(in->right, (size_t)n, sizeof(jrec_t), by_time);
        for (int64_t j = 0; j < n; j++)
                in->right[j].idx = (int32_t)j;

        /* The pairs: each right record of a shown ad against the left
         * records of its ad (in time order), both bounds of the window
         * included. */
        int64_t *first = calloc(JOIN_ADS + 1, sizeof(*first));
        int32_t *byad = malloc((size_t)n * sizeof(*byad));
        char *joined = calloc((size_t)n, 1);
        if (!first || !byad || !joined)
                die("%s", "out of memory");
        for (int64_t i = 0; i < n; i++)
                first[in->left[i].ad + 1]++;
        for (int a = 0; a < JOIN_ADS; a++)
                first[a + 1] += first[a];
        int64_t *fill = malloc(JOIN_ADS * sizeof(*fill));
        if (!fill)
                die("%s", "out of memory");
        memcpy(fill, first, JOIN_ADS * sizeof(*fill));
        for (int64_t i = 0; i < n; i++)
                byad[fill[in->left[i].ad]++] = (int32_t)i;
        free(fill);
        for (int64_t j = 0; j < n; j++) {
                const jrec_t *r = &in->right[j];
                if (r->ad >= JOIN_ADS)
                        continue;
                int any = 0;
                for (int64_t x = first[r->ad]; x < first[r->ad + 1]; x++) {
                        const jrec_t *l = &in->left[byad[x]];
                        if (l->ts < r->ts - JOIN_WINDOW_MS ||
                            l->ts > r->ts + JOIN_WINDOW_MS)
                                continue;
                        in->pairs++;
                        in->sum += pair_hash(r->ad, l->idx, r->idx);
                        in->left_joined += !joined[l->idx];
                        joined[l->idx] = 1;
                        any = 1;
                }
                in->clicks_unjoined += !any;
        }
        free(first);
        free(byad);
        free(joined);
}

static void jinput_free(jinput_t *in) {
        free(in->left);
        free(in->right);
}

static int64_t wall_ms(void) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* produce-join BOOTSTRAP LEFT RIGHT EVENTS PARTITIONS: writes the input,
 * prints "PAIRS CHECKSUM" on stdout and what the input holds on stderr. */
int join_produce(int argc, char **argv) {
        const char *bs = argv[2], *left = argv[3], *right = argv[4];
        int64_t n = atoll(argv[5]);
        int parts = atoi(argv[6]);
        if (argc < 7 || n <= 0 || parts <= 0)
                die("%s", "produce-join: bad arguments");
        jinput_t in = {0};
        jinput_make(&in, n);
        /* The last click a minute before now. */
        int64_t t0 = wall_ms() - JOIN_SPAN_MS - CLICK_MAX_MS - 60000;
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
        char key[16], val[16];
        for (int64_t i = 0, j = 0; i < n || j < n;) {
                int from_left =
                        j == n || (i < n && in.left[i].ts <= in.right[j].ts);
                const jrec_t *r = from_left ? &in.left[i++] : &in.right[j++];
                snprintf(key, sizeof(key), "ad%06d", (int)r->ad);
                snprintf(val, sizeof(val), "%s-%07d", from_left ? "imp" : "clk",
                         (int)r->idx);
                produce_at(p, from_left ? left : right, r->ad % parts, key,
                           JOIN_KEY_LEN, val, JOIN_VAL_LEN, t0 + r->ts);
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);
        fprintf(stderr,
                "kstreams-bench: %" PRId64 " impressions and %" PRId64
                " right records (%" PRId64 " clicks) over %.0f minutes of "
                "event time: %" PRId64 " joined pairs, %.1f%% of the "
                "impressions joined\n",
                n, n, in.clicks,
                (double)(JOIN_SPAN_MS + CLICK_MAX_MS) / 60000.0, in.pairs,
                100.0 * (double)in.left_joined / (double)n);
        if (in.clicks_unjoined)
                die("%" PRId64 " clicks without their impression",
                    in.clicks_unjoined);
        printf("%" PRId64 " %" PRIu64 "\n", in.pairs, in.sum);
        jinput_free(&in);
        return 0;
}

/* ---- the library's topology ---------------------------------------------*/

static ks_err_t concat(void *opaque, const void *l, size_t ll, const void *r,
                       size_t rl, ks_buf_t *out) {
        (void)opaque;
        ks_err_t err = ks_buf_append(out, l, ll);
        return err ? err : ks_buf_append(out, r, rl);
}

ks_topology_t *join_topology(const char *left, const char *right,
                             const char *out, ks_error_t **e) {
        ks_builder_t *b = ks_builder_new();
        if (!b)
                die("%s", "out of memory");
        const char *lt[] = {left}, *rt[] = {right};
        ks_stream_t *l = ks_builder_stream(b, lt, 1, ks_serde_string(),
                                           ks_serde_string(), "impressions");
        ks_stream_t *r = ks_builder_stream(b, rt, 1, ks_serde_string(),
                                           ks_serde_string(), "clicks");
        ks_stream_t *j =
                ks_stream_join(l, r, concat, NULL,
                               ks_join_windows_of_time_difference_and_grace(
                                       JOIN_WINDOW_MS, JOIN_GRACE_MS),
                               "ad-clicks");
        ks_stream_to(
                ks_stream_with_serdes(j, ks_serde_string(), ks_serde_string()),
                out, "joined-sink");
        ks_topology_t *topo = NULL;
        if (ks_builder_build(b, &topo, e))
                die("stream-join: %s", ks_error_message(*e));
        ks_builder_destroy(b);
        return topo;
}

/* ---- measuring ---------------------------------------------------------*/

/* The number after the @p taglen bytes of @p tag in @p p (@p len bytes). */
static int parse_num(const char *p, size_t len, const char *tag, size_t taglen,
                     int32_t *out) {
        if (memcmp(p, tag, taglen))
                return 0;
        int32_t v = 0;
        for (size_t i = taglen; i < len; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return 0;
                v = v * 10 + (p[i] - '0');
        }
        *out = v;
        return 1;
}

/* Reads @p out from the start to its end: its records and their checksum;
 * NULL, or what is wrong with a record. */
static const char *read_output(const char *bs, const char *out, int64_t *countp,
                               uint64_t *sump) {
        rd_kafka_t *rk = reader(bs, out, RD_KAFKA_OFFSET_BEGINNING);
        int parts = partitions_of(rk, out);
        int64_t *hi = calloc((size_t)parts, sizeof(*hi));
        int64_t *pos = calloc((size_t)parts, sizeof(*pos));
        if (!hi || !pos)
                die("%s", "out of memory");
        for (int p = 0; p < parts; p++) {
                int64_t lo;
                if (rd_kafka_query_watermark_offsets(rk, out, p, &lo, &hi[p],
                                                     5000))
                        die("no offsets for %s", out);
                pos[p] = lo;
        }
        const char *bad = NULL;
        double until = now_s() + 120;
        for (int p = 0; !bad && p < parts; p++) {
                while (!bad && pos[p] < hi[p]) {
                        if (now_s() > until)
                                die("cannot read %s to its end", out);
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                        if (!m)
                                continue;
                        if (!m->err && m->partition >= 0 &&
                            m->partition < parts) {
                                pos[m->partition] = m->offset + 1;
                                (*countp)++;
                                const char *k = m->key, *v = m->payload;
                                int32_t ad, li, ri;
                                if (!k || m->key_len != JOIN_KEY_LEN ||
                                    !parse_num(k, JOIN_KEY_LEN, "ad", 2, &ad))
                                        bad = "a key that is not an ad";
                                else if (!v || m->len != 2 * JOIN_VAL_LEN ||
                                         !parse_num(v, JOIN_VAL_LEN, "imp-", 4,
                                                    &li) ||
                                         !parse_num(v + JOIN_VAL_LEN,
                                                    JOIN_VAL_LEN, "clk-", 4,
                                                    &ri))
                                        bad = "a value that is not an "
                                              "impression and a click";
                                else
                                        *sump += pair_hash(ad, li, ri);
                        }
                        rd_kafka_message_destroy(m);
                }
        }
        free(hi);
        free(pos);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return bad;
}

/* run NAME BASELINE stream-join BOOTSTRAP OUT PAIRS LEFT RIGHT CHECKSUM --
 * CMD... */
int join_run(int argc, char **argv) {
        const char *name = argv[2], *baseline = argv[3], *bs = argv[5],
                   *out = argv[6], *left = argv[8], *right = argv[9];
        int64_t pairs = atoll(argv[7]);
        uint64_t sum = strtoull(argv[10], NULL, 10);
        if (argc < 13 || strcmp(argv[11], "--") || pairs <= 0)
                die("%s", "run: stream-join: PAIRS LEFT RIGHT CHECKSUM -- CMD");
        rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, bs, NULL);
        int oparts = partitions_of(rk, out);
        /* The inputs' ends, which the application's group commits. */
        const char *inputs[] = {left, right};
        rd_kafka_topic_partition_list_t *ends =
                rd_kafka_topic_partition_list_new(12);
        int64_t records = 0;
        for (int t = 0; t < 2; t++) {
                int parts = partitions_of(rk, inputs[t]);
                for (int p = 0; p < parts; p++) {
                        int64_t lo, hi;
                        if (rd_kafka_query_watermark_offsets(rk, inputs[t], p,
                                                             &lo, &hi, 5000))
                                die("%s: no offsets for %s", name, inputs[t]);
                        rd_kafka_topic_partition_list_add(ends, inputs[t], p)
                                ->offset = hi;
                        records += hi - lo;
                }
        }
        rd_kafka_t *g = client(RD_KAFKA_CONSUMER, bs, out);
        double start = now_s(), first = 0, last = 0, joined = 0, looked = 0,
               said = start;
        pid_t pid = spawn(argv + 12);
        usage_t u = {0, 0};
        int64_t got = 0;
        while (!last && now_s() - start < CASE_TIMEOUT_S) {
                if (!alive(pid))
                        die("%s: the pipeline exited early", name);
                /* Processing starts when the application's group is
                 * stable. */
                if (!joined && now_s() - looked > 0.05) {
                        looked = now_s();
                        if (group_stable(rk, out))
                                joined = now_s();
                }
                got = topic_records(rk, out, oparts);
                double t = now_s();
                if (getenv("BENCH_DEBUG") && t - said > 1) {
                        said = t;
                        fprintf(stderr, "%.1f: %" PRId64 " of %" PRId64 "\n",
                                t - start, got, pairs);
                }
                if (got > 0 && !first)
                        first = t;
                if (got >= pairs) {
                        u = usage_of(pid);
                        last = t;
                        break;
                }
                rd_kafka_poll(rk, 20); /* paces the queries */
        }
        if (!last) {
                reap(pid);
                die("%s: timed out with %" PRId64 " of %" PRId64
                    " joined records",
                    name, got, pairs);
        }
        /* Everything sent is written once the group has committed the
         * inputs' ends. */
        double until = now_s() + 120;
        while (!committed_all(g, ends)) {
                if (now_s() > until || !alive(pid)) {
                        reap(pid);
                        die("%s: the inputs were not committed", name);
                }
                rd_kafka_poll(rk, 50);
        }
        int rc = reap(pid);
        int64_t count = 0;
        uint64_t have = 0;
        const char *bad = read_output(bs, out, &count, &have);
        if (bad)
                die("%s: the output holds %s", name, bad);
        if (count != pairs || have != sum)
                die("%s: the output holds %" PRId64 " records (checksum "
                    "%" PRIu64 "), the input %" PRId64 " joined pairs (%" PRIu64
                    ")",
                    name, count, have, pairs, sum);
        fprintf(stderr,
                "kstreams-bench: %s: %" PRId64 " joined records, as the "
                "input's pairs\n",
                name, count);
        report(name, baseline, records,
               joined && joined < first ? joined : first, last, start, u, 0, 0);
        rd_kafka_topic_partition_list_destroy(ends);
        rd_kafka_destroy(g);
        rd_kafka_destroy(rk);
        return rc;
}
