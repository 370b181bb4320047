/* Benchmarks: the library beside plain librdkafka and Kafka Streams (Java)
 * on the same broker. bench/cases.sh drives these commands:
 *
 *   kstreams-bench create BOOTSTRAP TOPIC PARTITIONS [KEY=VALUE...]
 *   kstreams-bench produce BOOTSTRAP TOPIC RECORDS SIZE PARTITIONS
 *   kstreams-bench produce-lines BOOTSTRAP TOPIC LINES PARTITIONS
 *   kstreams-bench produce-events BOOTSTRAP TOPIC EVENTS PARTITIONS
 *   kstreams-bench produce-join BOOTSTRAP LEFT RIGHT EVENTS PARTITIONS
 *   kstreams-bench serve passthrough|stateless BOOTSTRAP IN OUT
 *   kstreams-bench serve wordcount BOOTSTRAP IN OUT WORDS_TOPIC
 *   kstreams-bench serve wordcount-dsl BOOTSTRAP IN OUT
 *   kstreams-bench serve windowed-update|windowed-close|session-update
 *                  BOOTSTRAP IN OUT
 *   kstreams-bench serve stream-join BOOTSTRAP LEFT OUT RIGHT
 *   kstreams-bench run NAME BASELINE count|words BOOTSTRAP OUT N -- CMD...
 *   kstreams-bench run NAME BASELINE windowed-update|windowed-close|
 *                  session-update BOOTSTRAP OUT EVENTS IN -- CMD...
 *   kstreams-bench run NAME BASELINE stream-join BOOTSTRAP OUT PAIRS LEFT
 *                  RIGHT CHECKSUM -- CMD...
 *   kstreams-bench latency NAME BASELINE BOOTSTRAP IN OUT RATE SECONDS --
 * CMD... kstreams-bench restore BOOTSTRAP RECORDS SIZE PARTITIONS
 *
 * "serve" runs one pipeline until SIGTERM: plain librdkafka (a consumer in
 * a group copying every record with a producer: the limit for any pipeline
 * on this client), the library's stateless map+filter topology, or its word
 * count (RocksDB store with a changelog, re-keyed through WORDS_TOPIC), or
 * the DSL word count (re-keyed through its repartition topic, counted
 * through the record cache unless statestore.cache.max.bytes is 0), or a
 * windowed count of the events produce-events wrote (tumbling windows on
 * update or on window close, or sessions on update), or the stream-stream
 * join of the two topics produce-join wrote (join_bench.c). The
 * passthrough copies every topic of a comma-separated IN.
 *
 * "run" starts CMD (a serve command, or the Kafka Streams program), watches
 * OUT and stops CMD when it is done: "count" waits for N records in OUT
 * (its high watermarks); "words" reads OUT and waits until the latest count
 * of every word equals the count of the N lines produce-lines wrote
 * (computed here from the same seed), so a word count with a record cache
 * (fewer updates) is timed to the same end; the windowed modes read OUT
 * and check it against a model of the EVENTS produce-events wrote (see
 * run_events()). It prints one CSV line:
 *   case,baseline,records,processing_s,wall_s,records_per_s,cpu_s,
 *   peak_rss_kb,p50_ms,p99_ms
 * processing_s runs from the first record in OUT to the end (windowed
 * modes: from the moment the application's group, whose id is OUT, is
 * stable, as a record cache holds the first output until a commit); wall_s
 * from the start of CMD (group join included). CPU seconds and peak RSS are
 * CMD's, read from /proc when the run is done (its shutdown is not counted).
 *
 * "latency" offers RATE records/s for SECONDS to IN, each carrying its send
 * time, and reads OUT: p50/p99 of the end-to-end latency.
 *
 * "restore" writes RECORDS distinct keys to a store's changelog, starts an
 * app whose task restores them (timed by the restore listener), and writes
 * the same records straight into a RocksDB database in batches of 10,000
 * without the WAL, as restores do; each ends when its last record is
 * written, the flush to table files running on: two CSV lines, with the CPU
 * seconds and peak RSS of this process during each. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kstreams/kstreams.h>

#include "bench.h"
#include "wordcount_topology.h"

#define SEED  20261123u
#define VOCAB 5000

double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "kstreams-bench: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap,
                   const char *group) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err));
        if (group) {
                rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
                rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err,
                                  sizeof(err));
                rd_kafka_conf_set(c, "enable.auto.commit", "false", err,
                                  sizeof(err));
                /* As the library's consumers. */
                rd_kafka_conf_set(c, "queued.min.messages", "500000", err,
                                  sizeof(err));
        }
        if (type == RD_KAFKA_PRODUCER) {
                /* The library's producer settings, for a fair baseline. */
                rd_kafka_conf_set(c, "partitioner", "murmur2_random", err,
                                  sizeof(err));
                rd_kafka_conf_set(c, "enable.idempotence", "true", err,
                                  sizeof(err));
        }
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk)
                die("%s", err);
        return rk;
}

/* Sends one record stamped @p ts (0: now). */
void produce_at(rd_kafka_t *p, const char *topic, int32_t part, const void *k,
                size_t kl, const void *v, size_t vl, int64_t ts) {
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                        RD_KAFKA_V_KEY((void *)k, kl),
                        RD_KAFKA_V_VALUE((void *)v, vl),
                        RD_KAFKA_V_TIMESTAMP(ts),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 10);
        if (e)
                die("produce: %s", rd_kafka_err2str(e));
}

static void produce1(rd_kafka_t *p, const char *topic, int32_t part,
                     const void *k, size_t kl, const void *v, size_t vl) {
        produce_at(p, topic, part, k, kl, v, vl, 0);
}

int partitions_of(rd_kafka_t *rk, const char *topic) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md;
        int n = -1;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 10000)) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        n = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        if (n <= 0)
                die("no metadata for topic %s", topic);
        return n;
}

int64_t topic_records(rd_kafka_t *rk, const char *topic, int parts) {
        int64_t n = 0;
        for (int p = 0; p < parts; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                     5000))
                        return -1;
                n += hi - lo;
        }
        return n;
}

/* A consumer reading every partition of @p topic from @p offset, outside
 * any group. */
rd_kafka_t *reader(const char *bs, const char *topic, int64_t offset) {
        /* assign() needs a group id; this consumer never joins it. */
        char group[64];
        snprintf(group, sizeof(group), "bench-reader-%d", (int)getpid());
        rd_kafka_t *c = client(RD_KAFKA_CONSUMER, bs, group);
        int parts = partitions_of(c, topic);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(parts);
        for (int p = 0; p < parts; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
        if (rd_kafka_assign(c, l))
                die("cannot assign %s", topic);
        rd_kafka_topic_partition_list_destroy(l);
        return c;
}

/* ---- text for word count ---------------------------------------------- */

uint64_t rng(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* Word i of the vocabulary: letters from its digits in base 20, at least
 * three; lower-case, unique. */
static size_t vocab_word(unsigned i, char *buf) {
        static const char letters[] = "etaoinshrdlucmfwypvb";
        size_t n = 0;
        do {
                buf[n++] = letters[i % 20];
                i /= 20;
        } while (i || n < 3);
        buf[n] = 0;
        return n;
}

/* The next line: 1-12 words, skewed to the frequent ones (the product of
 * two uniform draws), some upper-cased, separated by spaces or commas. */
static size_t gen_line(uint64_t *s, char *buf, unsigned *ids, int *nids) {
        int words = 1 + (int)(rng(s) % 12);
        size_t len = 0;
        for (int w = 0; w < words; w++) {
                unsigned id =
                        (unsigned)((rng(s) % VOCAB) * (rng(s) % VOCAB) / VOCAB);
                if (w)
                        buf[len++] = rng(s) % 5 ? ' ' : ',';
                size_t wl = vocab_word(id, buf + len);
                if (rng(s) % 10 == 0)
                        buf[len] = (char)(buf[len] - 'a' + 'A');
                len += wl;
                ids[w] = id;
        }
        *nids = words;
        return len;
}

/* Expected counts of the words of @p lines lines; returns the total. */
static int64_t expected_counts(int64_t lines, int64_t *counts) {
        uint64_t s = SEED;
        char buf[256];
        unsigned ids[16];
        int n;
        int64_t total = 0;
        for (int64_t i = 0; i < lines; i++) {
                gen_line(&s, buf, ids, &n);
                for (int w = 0; w < n; w++)
                        counts[ids[w]]++;
                total += n;
        }
        return total;
}

static unsigned vocab_id(const char *w, size_t len) {
        static const char letters[] = "etaoinshrdlucmfwypvb";
        unsigned id = 0;
        for (size_t i = len; i-- > 0;) {
                const char *p = memchr(letters, w[i], 20);
                if (!p)
                        return VOCAB;
                id = id * 20 + (unsigned)(p - letters);
        }
        return id < VOCAB ? id : VOCAB;
}

/* ---- load ----------------------------------------------------------------*/

/* create BOOTSTRAP TOPIC PARTITIONS [KEY=VALUE...]: the topic, with these
 * topic configs (argv ends with NULL). */
static int create(char **argv) {
        rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, argv[2], NULL);
        char err[512];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(argv[3], atoi(argv[4]),
                                                        -1, err, sizeof(err));
        for (char **kv = argv + 5; nt && *kv; kv++) {
                char key[128];
                const char *eq = strchr(*kv, '=');
                if (!eq || (size_t)(eq - *kv) >= sizeof(key))
                        die("create: %s is not KEY=VALUE", *kv);
                memcpy(key, *kv, (size_t)(eq - *kv));
                key[eq - *kv] = 0;
                if (rd_kafka_NewTopic_set_config(nt, key, eq + 1))
                        die("create: cannot set %s", *kv);
        }
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        int rc = 0;
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
                ev ? rd_kafka_CreateTopics_result_topics(
                             rd_kafka_event_CreateTopics_result(ev), &cnt)
                   : NULL;
        if (!ev || rd_kafka_event_error(ev) ||
            (cnt && rd_kafka_topic_result_error(res[0]))) {
                fprintf(stderr, "cannot create %s\n", argv[3]);
                rc = 1;
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}

static void fill(uint64_t *s, char *buf, size_t size) {
        for (size_t k = 0; k < size; k++)
                buf[k] = (char)('a' + rng(s) % 26);
}

static int produce(char **argv) {
        const char *topic = argv[3];
        int64_t n = atoll(argv[4]);
        size_t size = (size_t)atoi(argv[5]);
        int parts = atoi(argv[6]);
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, argv[2], NULL);
        char *buf = malloc(size + 1);
        uint64_t s = SEED;
        for (int64_t i = 0; i < n; i++) {
                fill(&s, buf, size);
                char key[32];
                int kl = snprintf(key, sizeof(key), "k%" PRId64, i % 10000);
                produce1(p, topic, (int32_t)(i % parts), key, (size_t)kl, buf,
                         size);
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);
        free(buf);
        return 0;
}

/* Writes the lines and prints their number of words. */
static int produce_lines(char **argv) {
        const char *topic = argv[3];
        int64_t n = atoll(argv[4]);
        int parts = atoi(argv[5]);
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, argv[2], NULL);
        uint64_t s = SEED;
        char buf[256];
        unsigned ids[16];
        int w;
        int64_t words = 0;
        for (int64_t i = 0; i < n; i++) {
                size_t len = gen_line(&s, buf, ids, &w);
                words += w;
                produce1(p, topic, (int32_t)(i % parts), NULL, 0, buf, len);
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);
        printf("%" PRId64 "\n", words);
        return 0;
}

/* ---- keyed events for the windowed cases -------------------------------- */

/* Events of DEVICES devices, keyed "d0000".."d9999" and skewed towards the
 * low ids as the words are, with their event time in the record timestamp:
 * a clock that starts at EV_T0 and advances 0-14 ms per event (1,000,000
 * events span about 1.9 hours of event time). 10% of the events are out
 * of order, stamped 1 ms to 5 s before the clock (within the grace); 0.5%
 * are too late, stamped 315 to 360 s before it, on a device with no event
 * in the session gap before that time: past the grace of the windows and
 * of the sessions, whether a session's lateness counts its gap or not (see
 * model_sessions()). Device d goes to partition d mod PARTS, so each task
 * sees its devices' events in the order they were made, and so does the
 * model here. Values are 16 random letters (a payload nobody reads). */
#define DEVICES    10000
#define EV_T0      INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define EV_PAYLOAD 16
#define WIN_SIZE   INT64_C(60000)
#define WIN_GRACE  INT64_C(10000)
#define SESS_GAP   INT64_C(300000)
#define SESS_GRACE INT64_C(10000)

typedef struct {
        uint64_t s;
        int64_t now;
        int64_t *last; /* per device: its largest timestamp so far */
} evgen_t;

typedef struct {
        int dev;
        int64_t ts;
} event_t;

static void evgen_init(evgen_t *g) {
        g->s = SEED;
        g->now = EV_T0;
        g->last = malloc(DEVICES * sizeof(*g->last));
        if (!g->last)
                die("%s", "out of memory");
        for (int i = 0; i < DEVICES; i++)
                g->last[i] = INT64_MIN;
}

static int ev_device(uint64_t *s) {
        uint64_t a = rng(s) % DEVICES;
        uint64_t b = rng(s) % DEVICES;
        return (int)(a * b / DEVICES);
}

/* The next event, its value into @p payload (EV_PAYLOAD bytes). */
static event_t evgen_next(evgen_t *g, char *payload) {
        g->now += (int64_t)(rng(&g->s) % 15);
        unsigned kind = (unsigned)(rng(&g->s) % 1000);
        event_t e = {ev_device(&g->s), g->now};
        if (kind < 100) {
                e.ts -= 1 + (int64_t)(rng(&g->s) % 5000);
        } else if (kind < 105) {
                /* A device idle for a session gap before the late time:
                 * no session of it is within reach of this event, so no
                 * expired session (which stores and record caches may
                 * still show) can be, and the event is a session of its
                 * own, late by more than gap + grace. Up to 256 draws, else
                 * on time. */
                int64_t late = g->now - 315000 - (int64_t)(rng(&g->s) % 45000);
                for (int i = 0; i < 256; i++) {
                        if (g->last[e.dev] < late - SESS_GAP) {
                                e.ts = late;
                                break;
                        }
                        e.dev = ev_device(&g->s);
                }
        }
        if (e.ts > g->last[e.dev])
                g->last[e.dev] = e.ts;
        fill(&g->s, payload, EV_PAYLOAD);
        return e;
}

static void evgen_free(evgen_t *g) {
        free(g->last);
}

/* Windows (or sessions) by (a, b): a time window's (device, start), a
 * session's (start << 14 | device, end). want: its count at the end of the
 * input (-1: it must not be in the output); have: the latest count read
 * from the output (-2: none yet, -1: a tombstone). */
typedef struct {
        int64_t a, b, want, have;
} win_t;

typedef struct {
        win_t *w;
        size_t cap, n;
} wintab_t;

static size_t win_hash(int64_t a, int64_t b, size_t cap) {
        uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15u ^ (uint64_t)b;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdu;
        x ^= x >> 33;
        return (size_t)x & (cap - 1);
}

static win_t *win_find(wintab_t *t, int64_t a, int64_t b, int create) {
        if (create && (t->n + 1) * 2 > t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 4096;
                win_t *w = malloc(cap * sizeof(*w));
                if (!w)
                        die("%s", "out of memory");
                for (size_t i = 0; i < cap; i++)
                        w[i].a = INT64_MIN;
                for (size_t i = 0; i < t->cap; i++) {
                        if (t->w[i].a == INT64_MIN)
                                continue;
                        size_t j = win_hash(t->w[i].a, t->w[i].b, cap);
                        while (w[j].a != INT64_MIN)
                                j = (j + 1) & (cap - 1);
                        w[j] = t->w[i];
                }
                free(t->w);
                t->w = w;
                t->cap = cap;
        }
        if (!t->cap)
                return NULL;
        for (size_t i = win_hash(a, b, t->cap);; i = (i + 1) & (t->cap - 1)) {
                win_t *w = &t->w[i];
                if (w->a == a && w->b == b)
                        return w;
                if (w->a == INT64_MIN) {
                        if (!create)
                                return NULL;
                        *w = (win_t){a, b, -1, -2};
                        t->n++;
                        return w;
                }
        }
}

/* What the input leaves in the output of one case. */
typedef struct {
        wintab_t t;
        int64_t expected; /* entries with want >= 0 */
        int64_t late;     /* events dropped as too late */
        int64_t hidden;   /* sessions: expired sessions within reach */
} model_t;

/* Tumbling windows of WIN_SIZE with WIN_GRACE, counted per device, each
 * partition on its own stream time (Kafka Streams' KStreamWindowAggregate:
 * a record falls in [start, start + size) unless that window's end is at
 * or before stream time minus grace). On close, only the windows closed
 * at the end of the input are expected. */
static void model_windows(model_t *m, int64_t n, int parts, int on_close) {
        evgen_t g;
        evgen_init(&g);
        int64_t *obs = malloc((size_t)parts * sizeof(*obs));
        char pl[EV_PAYLOAD];
        for (int p = 0; p < parts; p++)
                obs[p] = INT64_MIN;
        for (int64_t i = 0; i < n; i++) {
                event_t e = evgen_next(&g, pl);
                int p = e.dev % parts;
                if (e.ts > obs[p])
                        obs[p] = e.ts;
                int64_t start = e.ts - e.ts % WIN_SIZE;
                if (start + WIN_SIZE <= obs[p] - WIN_GRACE) {
                        m->late++;
                        continue;
                }
                win_t *w = win_find(&m->t, e.dev, start, 1);
                w->want = w->want < 0 ? 1 : w->want + 1;
        }
        for (size_t i = 0; i < m->t.cap; i++) {
                win_t *w = &m->t.w[i];
                if (w->a == INT64_MIN)
                        continue;
                if (on_close && w->b + WIN_SIZE > obs[w->a % parts] - WIN_GRACE)
                        w->want = -1; /* still open */
                else
                        m->expected++;
        }
        free(obs);
        evgen_free(&g);
}

typedef struct {
        int64_t start, end, count;
} sess_t;

/* A device's sessions (merged-away ones removed). */
typedef struct {
        sess_t *v;
        int n, cap;
} sesslist_t;

/* Session windows of SESS_GAP with SESS_GRACE, counted per device (Kafka
 * Streams' KStreamSessionWindowAggregate): a record merges with its
 * device's sessions that end at or after ts - gap and start at or before
 * ts + gap; the record is late when the merged session ends before stream
 * time minus grace. (Kafka Streams since 3.0 says before stream time minus
 * grace minus gap; the events are made so that both agree: every event
 * but the too-late ones is within 5 s of stream time, and those are
 * sessions of their own, later than gap + grace.) A session whose end is a
 * retention (gap + grace) behind the partition's latest stored end has
 * expired; the events are made so that none is ever within reach (hidden
 * stays 0): Kafka Streams' record cache can still show such a session
 * where its store does not. */
static void model_sessions(model_t *m, int64_t n, int parts) {
        evgen_t g;
        evgen_init(&g);
        int64_t *obs = malloc((size_t)parts * sizeof(*obs));
        int64_t *stored = malloc((size_t)parts * sizeof(*stored));
        sesslist_t *dev = calloc(DEVICES, sizeof(*dev));
        char pl[EV_PAYLOAD];
        for (int p = 0; p < parts; p++)
                obs[p] = stored[p] = INT64_MIN;
        for (int64_t i = 0; i < n; i++) {
                event_t e = evgen_next(&g, pl);
                int p = e.dev % parts;
                if (e.ts > obs[p])
                        obs[p] = e.ts;
                int64_t close = obs[p] - SESS_GRACE;
                sesslist_t *l = &dev[e.dev];
                sess_t mg = {e.ts, e.ts, 1};
                int hit[64], nhit = 0;
                for (int j = 0; j < l->n; j++) {
                        sess_t *x = &l->v[j];
                        if (x->end < e.ts - SESS_GAP ||
                            x->start > e.ts + SESS_GAP)
                                continue;
                        if (stored[p] != INT64_MIN &&
                            x->end < stored[p] - (SESS_GAP + SESS_GRACE) + 1) {
                                m->hidden++;
                                continue;
                        }
                        if (nhit == 64)
                                die("%s", "model: 64 sessions in reach");
                        hit[nhit++] = j;
                        mg.start = x->start < mg.start ? x->start : mg.start;
                        mg.end = x->end > mg.end ? x->end : mg.end;
                        mg.count += x->count;
                }
                if (mg.end < close) {
                        m->late++;
                        continue;
                }
                /* The merged-away sessions go, the merged one comes. */
                for (int h = nhit; h-- > 0;)
                        l->v[hit[h]] = l->v[--l->n];
                if (l->n == l->cap) {
                        l->cap = l->cap ? l->cap * 2 : 4;
                        l->v = realloc(l->v, (size_t)l->cap * sizeof(sess_t));
                        if (!l->v)
                                die("%s", "out of memory");
                }
                l->v[l->n++] = mg;
                if (mg.end > stored[p])
                        stored[p] = mg.end;
        }
        for (int d = 0; d < DEVICES; d++) {
                for (int j = 0; j < dev[d].n; j++) {
                        sess_t *x = &dev[d].v[j];
                        win_find(&m->t, x->start << 14 | d, x->end, 1)->want =
                                x->count;
                        m->expected++;
                }
                free(dev[d].v);
        }
        free(dev);
        free(stored);
        free(obs);
        evgen_free(&g);
}

static void model_free(model_t *m) {
        free(m->t.w);
}

/* Writes N events over PARTS partitions and prints what they hold. */
static int produce_events(char **argv) {
        const char *topic = argv[3];
        int64_t n = atoll(argv[4]);
        int parts = atoi(argv[5]);
        if (n <= 0 || parts <= 0)
                die("%s", "produce-events: bad arguments");
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, argv[2], NULL);
        evgen_t g;
        evgen_init(&g);
        char pl[EV_PAYLOAD], key[16];
        for (int64_t i = 0; i < n; i++) {
                event_t e = evgen_next(&g, pl);
                int kl = snprintf(key, sizeof(key), "d%04d", e.dev);
                produce_at(p, topic, e.dev % parts, key, (size_t)kl, pl,
                           EV_PAYLOAD, e.ts);
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);
        int64_t span = g.now - EV_T0;
        evgen_free(&g);
        model_t w = {0}, c = {0}, s = {0};
        model_windows(&w, n, parts, 0);
        model_windows(&c, n, parts, 1);
        model_sessions(&s, n, parts);
        printf("%" PRId64 " events over %.1f minutes of event time: %" PRId64
               " windows of 1 min (%" PRId64 " closed at the end; %" PRId64
               " events too late), %" PRId64 " sessions (%" PRId64
               " events too late)\n",
               n, (double)span / 60000.0, w.expected, c.expected, w.late,
               s.expected, s.late);
        if (s.hidden)
                die("the session model met %" PRId64 " expired sessions",
                    s.hidden);
        model_free(&w);
        model_free(&c);
        model_free(&s);
        return 0;
}

/* ---- the pipelines ---------------------------------------------------- */

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static int serve_passthrough(const char *bs, const char *in, const char *out) {
        char group[128];
        snprintf(group, sizeof(group), "bench-pt-%d", (int)getpid());
        rd_kafka_t *c = client(RD_KAFKA_CONSUMER, bs, group);
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        char topics[1024];
        snprintf(topics, sizeof(topics), "%s", in);
        for (char *sp, *t = strtok_r(topics, ",", &sp); t;
             t = strtok_r(NULL, ",", &sp))
                rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(c, l);
        rd_kafka_topic_partition_list_destroy(l);
        while (!stop) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (!m)
                        continue;
                if (!m->err)
                        produce1(p, out, RD_KAFKA_PARTITION_UA, m->key,
                                 m->key_len, m->payload, m->len);
                rd_kafka_message_destroy(m);
                rd_kafka_poll(p, 0);
        }
        rd_kafka_flush(p, 30000);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        rd_kafka_destroy(p);
        return 0;
}

/* map: upper-case the first byte of the value; filter: keep non-empty. */
static ks_err_t map_filter(ks_context_t *ctx, const ks_record_t *rec,
                           void *st) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const char *v = ks_record_value(rec, &vl);
        if (!v || !vl)
                return KS_ERR_NO_ERROR;
        char buf[4096];
        if (vl > sizeof(buf))
                return ks_context_forward(ctx, k, kl, v, vl);
        memcpy(buf, v, vl);
        if (buf[0] >= 'a' && buf[0] <= 'z')
                buf[0] = (char)(buf[0] - 'a' + 'A');
        return ks_context_forward(ctx, k, kl, buf, vl);
}

static ks_topology_t *stateless_topology(const char *in, const char *out,
                                         ks_error_t **e) {
        ks_topology_t *t = ks_topology_new();
        const char *topics[] = {in};
        if (ks_topology_add_source(t, "src", topics, 1, NULL, NULL, e) ||
            ks_topology_add_processor(t, "map-filter", NULL, map_filter, NULL,
                                      NULL, (const char *[]){"src"}, 1, e) ||
            ks_topology_add_sink(t, "sink", out, NULL, NULL,
                                 (const char *[]){"map-filter"}, 1, e)) {
                ks_topology_destroy(t);
                return NULL;
        }
        return t;
}

/* The windowed cases: the events keyed by device, grouped by key (no
 * repartition), counted in tumbling windows of 1 min with 10 s grace
 * (emitted on update, through the record cache, or on window close), or in
 * sessions of 5 min inactivity with 10 s grace; the counts go to OUT keyed
 * by windowed key, as Kafka Streams' windowed serdes write them. */
static ks_topology_t *windowed_topology(const char *what, const char *in,
                                        const char *out, ks_error_t **e) {
        ks_builder_t *b = ks_builder_new();
        if (!b)
                return NULL;
        const char *topics[] = {in};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           NULL, "events");
        int session = !strcmp(what, "session-update");
        ks_windows_t *w =
                session ? ks_session_windows_of_inactivity_gap_and_grace(
                                  SESS_GAP, SESS_GRACE)
                        : ks_time_windows_of_size_and_grace(WIN_SIZE,
                                                            WIN_GRACE);
        ks_windowed_stream_t *ws =
                ks_grouped_windowed_by(ks_stream_group_by_key(s, NULL), w);
        if (!strcmp(what, "windowed-close"))
                ws = ks_windowed_emit_strategy(ws, KS_EMIT_ON_WINDOW_CLOSE);
        ks_table_t *t = ks_windowed_count(ws, "counts", "count");
        ks_stream_to(ks_table_to_stream(t, "changes"), out, "counts-sink");
        ks_topology_t *topo = NULL;
        if (ks_builder_build(b, &topo, e))
                topo = NULL;
        ks_builder_destroy(b);
        return topo;
}

/* BENCH_CONF="key=value ..." adds settings to the library's (the
 * exactly-once case sets processing.guarantee; also for experiments). */
static void extra_conf(ks_config_t *c) {
        const char *extra = getenv("BENCH_CONF");
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s", extra ? extra : "");
        for (char *sp, *kv = strtok_r(buf, " ", &sp); kv;
             kv = strtok_r(NULL, " ", &sp)) {
                char *eq = strchr(kv, '=');
                ks_error_t *e = NULL;
                if (!eq)
                        continue;
                *eq = 0;
                if (ks_config_set(c, kv, eq + 1, &e))
                        die("%s", ks_error_message(e));
        }
}

/* The library's log: warnings and errors only. */
static void quiet_log(void *opaque, int level, const char *facility,
                      const char *msg) {
        if (level <= KS_LOG_WARNING || getenv("BENCH_DEBUG"))
                fprintf(stderr, "kstreams-bench: %s: %s\n", facility, msg);
}

/* Runs @p t until SIGTERM (or until it fails); @p restore_cb, if set, is
 * the restore listener. */
static int run_app(ks_topology_t *t, const char *name, const char *bs,
                   ks_restore_cb *restore_cb, void *opaque,
                   volatile sig_atomic_t *until) {
        ks_error_t *e = NULL;
        ks_config_t *c = ks_config_new();
        char app[128], dir[] = "/tmp/kstreams-bench-XXXXXX";
        /* BENCH_APP_ID: the application id (the windowed cases' harness
         * watches the group's commits). */
        const char *id = getenv("BENCH_APP_ID");
        if (id)
                snprintf(app, sizeof(app), "%s", id);
        else
                snprintf(app, sizeof(app), "bench-%s-%d", name, (int)getpid());
        ks_config_set_log_cb(c, quiet_log, NULL);
        extra_conf(c);
        if (!t || !mkdtemp(dir) ||
            ks_config_set(c, "application.id", app, &e) ||
            ks_config_set(c, "bootstrap.servers", bs, &e) ||
            ks_config_set(c, "state.dir", dir, &e))
                die("%s", e ? ks_error_message(e) : "cannot set up");
        ks_app_t *a = ks_app_new(t, c, &e);
        if (a && restore_cb)
                ks_app_set_restore_listener(a, restore_cb, opaque);
        if (!a || ks_app_start(a, &e))
                die("%s", ks_error_message(e));
        while (!*until && ks_app_state(a) != KS_APP_ERROR &&
               ks_app_state(a) != KS_APP_NOT_RUNNING)
                ks_app_wait_state(a, KS_APP_ERROR, 100);
        int rc = ks_app_state(a) == KS_APP_ERROR;
        if (rc)
                fprintf(stderr, "kstreams-bench: %s failed: %s\n", name,
                        ks_error_message(ks_app_error(a)));
        if (getenv("BENCH_DEBUG"))
                fprintf(stderr,
                        "kstreams-bench: %s: %" PRId64 " processed, %" PRId64
                        " commits, %" PRId64 " duplicates skipped, %" PRId64
                        " transactions aborted\n",
                        name, ks_app_metric(a, "process-total"),
                        ks_app_metric(a, "commit-total"),
                        ks_app_metric(a, "duplicates-skipped"),
                        ks_app_metric(a, "transactions-aborted"));
        ks_app_close(a, 30000);
        ks_app_destroy(a);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) || rc;
}

static int serve(int argc, char **argv) {
        const char *what = argv[2], *bs = argv[3], *in = argv[4],
                   *out = argv[5];
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        ks_error_t *e = NULL;
        if (!strcmp(what, "passthrough"))
                return serve_passthrough(bs, in, out);
        if (!strcmp(what, "stateless"))
                return run_app(stateless_topology(in, out, &e), what, bs, NULL,
                               NULL, &stop);
        if (!strcmp(what, "wordcount") && argc >= 7)
                return run_app(wordcount_topology_on(in, argv[6], out,
                                                     KS_STORE_ROCKSDB, &e),
                               what, bs, NULL, NULL, &stop);
        if (!strcmp(what, "wordcount-dsl"))
                return run_app(wordcount_dsl_topology_on(in, out, &e), what, bs,
                               NULL, NULL, &stop);
        if (!strcmp(what, "windowed-update") ||
            !strcmp(what, "windowed-close") || !strcmp(what, "session-update"))
                return run_app(windowed_topology(what, in, out, &e), what, bs,
                               NULL, NULL, &stop);
        if (!strcmp(what, "stream-join") && argc >= 7)
                return run_app(join_topology(in, argv[6], out, &e), what, bs,
                               NULL, NULL, &stop);
        die("unknown pipeline %s", what);
}

/* ---- measuring a pipeline --------------------------------------------- */

/* CPU time and peak RSS of process @p pid so far, from /proc. */
usage_t usage_of(pid_t pid) {
        usage_t u = {0, 0};
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f) {
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                buf[n] = 0;
                fclose(f);
                /* Fields after the command name (which ends with ')'):
                 * utime and stime are the 12th and 13th. */
                char *p = strrchr(buf, ')');
                unsigned long ut = 0, st = 0;
                if (p && sscanf(p + 2,
                                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                                "%lu %lu",
                                &ut, &st) == 2)
                        u.cpu_s = (double)(ut + st) /
                                  (double)sysconf(_SC_CLK_TCK);
        }
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if ((f = fopen(path, "r"))) {
                while (fgets(buf, sizeof(buf), f))
                        if (sscanf(buf, "VmHWM: %ld", &u.rss_kb) == 1)
                                break;
                fclose(f);
        }
        return u;
}

pid_t spawn(char **cmd) {
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (!pid) {
                execvp(cmd[0], cmd);
                fprintf(stderr, "kstreams-bench: cannot run %s: %s\n", cmd[0],
                        strerror(errno));
                _exit(127);
        }
        return pid;
}

/* Stops @p pid (SIGTERM, then SIGKILL after 60 s); 0 if it exited 0 or
 * as a JVM does on SIGTERM (143). */
int reap(pid_t pid) {
        kill(pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 600; i++) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
                                                     WEXITSTATUS(status) == 143)
                                       ? 0
                                       : 1;
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return 1;
}

/* 1 while @p pid runs. */
int alive(pid_t pid) {
        int status;
        return waitpid(pid, &status, WNOHANG) == 0;
}

void report(const char *name, const char *baseline, int64_t records,
            double first, double last, double start, usage_t u, double p50,
            double p99) {
        double proc = last - first;
        printf("%s,%s,%" PRId64 ",%.3f,%.3f,%.0f,%.2f,%ld,%.2f,%.2f\n", name,
               baseline, records, proc, last - start,
               proc > 0 ? (double)records / proc : 0, u.cpu_s, u.rss_kb, p50,
               p99);
        fflush(stdout);
}

static int run_events(int argc, char **argv);

static int run(int argc, char **argv) {
        const char *name = argv[2], *baseline = argv[3], *mode = argv[4],
                   *bs = argv[5], *out = argv[6];
        if (!strcmp(mode, "windowed-update") ||
            !strcmp(mode, "windowed-close") || !strcmp(mode, "session-update"))
                return run_events(argc, argv);
        if (!strcmp(mode, "stream-join"))
                return join_run(argc, argv);
        int64_t n = atoll(argv[7]);
        if (argc < 10 || strcmp(argv[8], "--"))
                die("%s", "run: missing -- CMD");
        int words = !strcmp(mode, "words");
        int64_t *want = NULL, *have = NULL, matched = 0, distinct = 0;
        if (words) {
                want = calloc(VOCAB, sizeof(*want));
                have = calloc(VOCAB, sizeof(*have));
                expected_counts(n, want);
                for (int i = 0; i < VOCAB; i++)
                        distinct += want[i] > 0;
        }
        rd_kafka_t *rk = words ? reader(bs, out, RD_KAFKA_OFFSET_BEGINNING)
                               : client(RD_KAFKA_PRODUCER, bs, NULL);
        int parts = partitions_of(rk, out);
        double start = now_s(), first = 0, last = 0;
        pid_t pid = spawn(argv + 9);
        usage_t u = {0, 0};
        while (now_s() - start < CASE_TIMEOUT_S) {
                if (!alive(pid))
                        die("%s: the pipeline exited early", name);
                if (!words) {
                        int64_t got = topic_records(rk, out, parts);
                        double t = now_s();
                        if (getenv("BENCH_DEBUG"))
                                fprintf(stderr, "%.2f %" PRId64 "\n", t - start,
                                        got);
                        if (got > 0 && !first)
                                first = t;
                        if (got >= n) {
                                u = usage_of(pid);
                                last = t;
                                break;
                        }
                        rd_kafka_poll(rk, 20); /* paces the queries */
                        continue;
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        if (!first)
                                first = now_s();
                        unsigned id = vocab_id(m->key, m->key_len);
                        if (id >= VOCAB || m->len != 8)
                                die("%s: unexpected record in the output",
                                    name);
                        const uint8_t *v = m->payload;
                        int64_t c = 0;
                        for (int i = 0; i < 8; i++)
                                c = (c << 8) | v[i];
                        if (have[id] == want[id])
                                matched--;
                        have[id] = c;
                        if (c == want[id])
                                matched++;
                        if (c > want[id])
                                die("%s: a count above the input's", name);
                }
                rd_kafka_message_destroy(m);
                if (matched == distinct) {
                        u = usage_of(pid);
                        last = now_s();
                        break;
                }
        }
        if (!last) {
                reap(pid);
                die("%s: timed out", name);
        }
        int rc = reap(pid);
        report(name, baseline, n, first, last, start, u, 0, 0);
        if (words)
                rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        free(want);
        free(have);
        return rc;
}

/* The windowed cases' end: the output read from the start, each record
 * checked against the model of the input (recomputed here from the seed,
 * N and the partitions of IN). A record the model rules out fails the run.
 *
 * On update (windowed-update, session-update) the run ends when the latest
 * count of every window or session of the model is its count at the end
 * of the input and no other window or session holds a count (sessions
 * merged away end with a tombstone), however many updates a record cache
 * let through.
 *
 * On close (windowed-close) every record must be a window closed at the
 * end of the input, with its final count, once; the run ends when all of
 * them are there, or else when the application's group (whose id is OUT:
 * the harness's convention) has committed the whole of IN, which both
 * programs do only once what they sent for it is written: then the output
 * is read to its end and the windows missing are reported. (Kafka Streams
 * sends closed windows at most once a second per task by default, and
 * left windows out in trials: see docs/benchmarks.md.) */
typedef struct {
        model_t m;
        int session, on_close;
        int64_t matched, extra, records;
} evcheck_t;

/* 1: the window's count is the final one; 2: it holds another count. */
static int win_status(const win_t *w) {
        if (w->want >= 0 && w->have == w->want)
                return 1;
        return w->have >= 0 ? 2 : 0;
}

static const char *ev_check(evcheck_t *c, const rd_kafka_message_t *msg) {
        const void *k;
        size_t kl;
        int64_t s, e = 0, v = -1;
        c->records++;
        if (c->session ? ks_windowed_key_session(msg->key, msg->key_len, &k,
                                                 &kl, &s, &e)
                       : ks_windowed_key_time(msg->key, msg->key_len, WIN_SIZE,
                                              &k, &kl, &s, NULL))
                return "a key that is not a windowed key";
        const char *ks = k;
        int dev = 0;
        if (kl != 5 || ks[0] != 'd')
                return "a key that is not a device";
        for (int i = 1; i < 5; i++) {
                if (ks[i] < '0' || ks[i] > '9')
                        return "a key that is not a device";
                dev = dev * 10 + (ks[i] - '0');
        }
        if (msg->payload) {
                if (msg->len != 8)
                        return "a value that is not an 8-byte count";
                const uint8_t *p = msg->payload;
                v = 0;
                for (int i = 0; i < 8; i++)
                        v = (v << 8) | p[i];
                if (v < 0)
                        return "a negative count";
        } else if (!c->session)
                return "a tombstone";
        win_t *w = c->session ? win_find(&c->m.t, s << 14 | dev, e, 1)
                              : win_find(&c->m.t, dev, s, 0);
        if (!w)
                return "a window the input does not have";
        if (c->on_close) {
                if (w->want < 0)
                        return "a window that has not closed";
                if (w->have != -2)
                        return "a window emitted twice";
                if (v != w->want)
                        return "a final count other than the input's";
                w->have = v;
                c->matched++;
                return NULL;
        }
        if (!c->session && v > w->want)
                return "a count above the input's";
        int before = win_status(w);
        w->have = v;
        int after = win_status(w);
        c->matched += (after == 1) - (before == 1);
        c->extra += (after == 2) - (before == 2);
        return NULL;
}

/* 1 when group @p g has committed @p ends (offsets: the input's ends). */
int committed_all(rd_kafka_t *g, const rd_kafka_topic_partition_list_t *ends) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_copy(ends);
        int done = !rd_kafka_committed(g, l, 5000);
        for (int i = 0; done && i < l->cnt; i++)
                done = !l->elems[i].err &&
                       l->elems[i].offset >= ends->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(l);
        return done;
}

/* 1 when consumer group @p group is stable: its members joined and hold
 * their assignment. */
int group_stable(rd_kafka_t *rk, const char *group) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        const char *groups[] = {group};
        rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 5000);
        int stable = 0;
        const rd_kafka_DescribeConsumerGroups_result_t *res =
                ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
        size_t cnt = 0;
        const rd_kafka_ConsumerGroupDescription_t **d =
                res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &cnt)
                    : NULL;
        if (cnt == 1 && !rd_kafka_ConsumerGroupDescription_error(d[0]))
                stable = rd_kafka_ConsumerGroupDescription_state(d[0]) ==
                         RD_KAFKA_CONSUMER_GROUP_STATE_STABLE;
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        return stable;
}

/* run NAME BASELINE windowed-update|windowed-close|session-update
 *     BOOTSTRAP OUT N IN -- CMD... */
static int run_events(int argc, char **argv) {
        const char *name = argv[2], *baseline = argv[3], *mode = argv[4],
                   *bs = argv[5], *out = argv[6], *in = argv[8];
        int64_t n = atoll(argv[7]);
        if (argc < 11 || strcmp(argv[9], "--") || n <= 0)
                die("%s", "run: events: N IN -- CMD");
        evcheck_t c = {.session = !strcmp(mode, "session-update"),
                       .on_close = !strcmp(mode, "windowed-close")};
        rd_kafka_t *rk = reader(bs, out, RD_KAFKA_OFFSET_BEGINNING);
        int parts = partitions_of(rk, in), oparts = partitions_of(rk, out);
        if (c.session)
                model_sessions(&c.m, n, parts);
        else
                model_windows(&c.m, n, parts, c.on_close);
        if (c.m.expected <= 0)
                die("%s: too few events for any window to close", name);
        /* On close: the input's ends, and the application's group. */
        rd_kafka_t *g = NULL;
        rd_kafka_topic_partition_list_t *ends = NULL;
        if (c.on_close) {
                g = client(RD_KAFKA_CONSUMER, bs, out);
                ends = rd_kafka_topic_partition_list_new(parts);
                for (int p = 0; p < parts; p++) {
                        int64_t lo, hi;
                        if (rd_kafka_query_watermark_offsets(rk, in, p, &lo,
                                                             &hi, 5000))
                                die("%s: no offsets for %s", name, in);
                        rd_kafka_topic_partition_list_add(ends, in, p)->offset =
                                hi;
                }
        }
        int64_t *pos = calloc((size_t)oparts, sizeof(*pos));
        double start = now_s(), first = 0, last = 0, asked = 0, joined = 0,
               looked = 0;
        pid_t pid = spawn(argv + 10);
        usage_t u = {0, 0};
        double said = start;
        while (!last && now_s() - start < CASE_TIMEOUT_S) {
                if (!alive(pid))
                        die("%s: the pipeline exited early", name);
                if (getenv("BENCH_DEBUG") && now_s() - said > 1) {
                        said = now_s();
                        fprintf(stderr,
                                "%.1f: %" PRId64 " records, %" PRId64
                                " of %" PRId64 " final, %" PRId64 " other\n",
                                said - start, c.records, c.matched,
                                c.m.expected, c.extra);
                }
                /* Processing starts when the application's group is
                 * stable (the first output may wait for a commit). */
                if (!joined && now_s() - looked > 0.05) {
                        looked = now_s();
                        if (group_stable(rk, out))
                                joined = now_s();
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
                const char *bad = NULL;
                if (m && !m->err) {
                        if (!first)
                                first = now_s();
                        bad = ev_check(&c, m);
                        if (m->partition >= 0 && m->partition < oparts)
                                pos[m->partition] = m->offset + 1;
                }
                if (m)
                        rd_kafka_message_destroy(m);
                if (bad) {
                        reap(pid);
                        die("%s: the output holds %s", name, bad);
                }
                if (c.matched == c.m.expected && !c.extra) {
                        u = usage_of(pid);
                        last = now_s();
                } else if (c.on_close && first && now_s() - asked > 0.05) {
                        asked = now_s();
                        if (committed_all(g, ends)) {
                                u = usage_of(pid);
                                last = now_s();
                        }
                }
        }
        if (!last) {
                reap(pid);
                die("%s: timed out with %" PRId64 " of %" PRId64
                    " windows final, %" PRId64 " other counts",
                    name, c.matched, c.m.expected, c.extra);
        }
        int rc = reap(pid);
        /* On close, the rest of the output (all written before the commit). */
        for (int p = 0; c.on_close && p < oparts; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, out, p, &lo, &hi,
                                                     5000))
                        die("%s: no offsets for %s", name, out);
                double until = now_s() + 30;
                while (pos[p] < hi && now_s() < until) {
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                        if (!m)
                                continue;
                        const char *bad = NULL;
                        if (!m->err) {
                                bad = ev_check(&c, m);
                                if (m->partition >= 0 && m->partition < oparts)
                                        pos[m->partition] = m->offset + 1;
                        }
                        rd_kafka_message_destroy(m);
                        if (bad)
                                die("%s: the output holds %s", name, bad);
                }
                if (pos[p] < hi)
                        die("%s: cannot read the output to its end", name);
        }
        fprintf(stderr,
                "kstreams-bench: %s: %" PRId64 " output records, %" PRId64
                " of %" PRId64 " %s final\n",
                name, c.records, c.matched, c.m.expected,
                c.session ? "sessions" : "windows");
        report(name, baseline, n, joined && joined < first ? joined : first,
               last, start, u, 0, 0);
        if (g) {
                rd_kafka_topic_partition_list_destroy(ends);
                rd_kafka_destroy(g);
        }
        free(pos);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        model_free(&c.m);
        return rc;
}

/* ---- latency ------------------------------------------------------------*/

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* Values are "<tag><send time in microseconds>": tag 'w' for the warm-up
 * records, 't' for the timed ones (a map may upper-case the first byte). */
static int latency(int argc, char **argv) {
        const char *name = argv[2], *baseline = argv[3], *bs = argv[4],
                   *in = argv[5], *out = argv[6];
        int rate = atoi(argv[7]), secs = atoi(argv[8]);
        if (argc < 11 || strcmp(argv[9], "--") || rate <= 0 || secs <= 0)
                die("%s", "latency: bad arguments");
        rd_kafka_t *c = reader(bs, out, RD_KAFKA_OFFSET_END);
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
        /* Wait for the assignment to take its end offsets before any
         * record is sent. */
        rd_kafka_consumer_poll(c, 500);
        double start = now_s();
        pid_t pid = spawn(argv + 10);
        char v[32];
        /* Warm up: one record every 100 ms until one comes out. */
        int warm = 0;
        while (!warm && now_s() - start < CASE_TIMEOUT_S) {
                if (!alive(pid))
                        die("%s: the pipeline exited early", name);
                int vl = snprintf(v, sizeof(v), "w%" PRId64, wall_us());
                produce1(p, in, RD_KAFKA_PARTITION_UA, "w", 1, v, (size_t)vl);
                rd_kafka_poll(p, 0);
                double until = now_s() + 0.1;
                while (!warm && now_s() < until) {
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 20);
                        if (m && !m->err)
                                warm = 1;
                        if (m)
                                rd_kafka_message_destroy(m);
                }
        }
        int64_t total = (int64_t)rate * secs, sent = 0, got = 0;
        int64_t *lat = calloc((size_t)total, sizeof(*lat));
        double t0 = now_s();
        while (got < total && now_s() - t0 < secs + 60.0) {
                double due = t0 + (double)sent / rate;
                while (sent < total && now_s() >= due) {
                        int vl = snprintf(v, sizeof(v), "t%" PRId64, wall_us());
                        char k[16];
                        int kl = snprintf(k, sizeof(k), "%d",
                                          (int)(sent % 1000));
                        produce1(p, in, RD_KAFKA_PARTITION_UA, k, (size_t)kl, v,
                                 (size_t)vl);
                        sent++;
                        due = t0 + (double)sent / rate;
                }
                rd_kafka_poll(p, 0);
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
                if (!m)
                        continue;
                const char *pv = m->payload;
                if (!m->err && m->len > 1 && (pv[0] == 't' || pv[0] == 'T')) {
                        char num[32];
                        size_t nl = m->len - 1 < 31 ? m->len - 1 : 31;
                        memcpy(num, pv + 1, nl);
                        num[nl] = 0;
                        lat[got++] = wall_us() - atoll(num);
                }
                rd_kafka_message_destroy(m);
        }
        usage_t u = usage_of(pid);
        double end = now_s();
        int rc = reap(pid);
        if (got < total)
                die("%s: records were lost", name);
        qsort(lat, (size_t)got, sizeof(*lat), cmp_i64);
        report(name, baseline, total, t0, end, start, u,
               (double)lat[got / 2] / 1000.0,
               (double)lat[got * 99 / 100] / 1000.0);
        free(lat);
        rd_kafka_flush(p, 10000);
        rd_kafka_destroy(p);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        return rc;
}

/* ---- restore -------------------------------------------------------------*/

/* The start of a phase of this process: freed memory goes back to the
 * system, the peak RSS is reset to the current RSS (Linux clear_refs), and
 * the CPU time so far is returned. */
static usage_t phase_start(void) {
        malloc_trim(0);
        FILE *f = fopen("/proc/self/clear_refs", "w");
        if (f) {
                fputs("5", f);
                fclose(f);
        }
        return usage_of(getpid());
}

/* The CPU seconds since @p start and the peak RSS since phase_start(). */
static usage_t phase_end(usage_t start) {
        usage_t u = usage_of(getpid());
        u.cpu_s -= start.cpu_s;
        return u;
}

typedef struct {
        pthread_mutex_t lock;
        double first, last;
        int64_t restored;
        int ended, parts;
} restore_t;

static void on_restore(void *opaque, ks_restore_phase_t phase,
                       const char *store, const char *topic, int32_t partition,
                       int64_t start_offset, int64_t end_offset,
                       int64_t restored) {
        restore_t *r = opaque;
        if (getenv("BENCH_DEBUG"))
                fprintf(stderr, "%.3f %d %d %" PRId64 "\n", now_s(), (int)phase,
                        (int)partition, restored);
        pthread_mutex_lock(&r->lock);
        if (phase == KS_RESTORE_START && !r->first)
                r->first = now_s();
        if (phase == KS_RESTORE_END) {
                r->restored += restored;
                r->last = now_s();
                r->ended++;
        }
        pthread_mutex_unlock(&r->lock);
}

static ks_err_t store_init(ks_context_t *ctx, void *opaque, void **statep) {
        return ks_context_get_kv_store(ctx, "store", (ks_kv_store_t **)statep);
}

/* Puts every record into the store. */
static ks_err_t store_put(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        return ks_kv_store_put(st, k, kl, v, vl);
}

/* An app putting IN into a logged RocksDB store, with state in @p dir. */
static ks_app_t *store_app(const char *bs, const char *app_id, const char *in,
                           const char *dir, restore_t *r, ks_topology_t **tp,
                           ks_config_t **cp) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        ks_config_t *c = ks_config_new();
        const char *topics[] = {in};
        ks_config_set_log_cb(c, quiet_log, NULL);
        if (ks_topology_add_source(t, "src", topics, 1, NULL, NULL, &e) ||
            ks_topology_add_processor(t, "put", store_init, store_put, NULL,
                                      NULL, (const char *[]){"src"}, 1, &e) ||
            ks_topology_add_kv_store(t, "store", KS_STORE_ROCKSDB, 0, &e) ||
            ks_topology_connect_store(t, "store", "put", &e) ||
            ks_config_set(c, "application.id", app_id, &e) ||
            ks_config_set(c, "bootstrap.servers", bs, &e) ||
            ks_config_set(c, "state.dir", dir, &e))
                die("%s", ks_error_message(e));
        extra_conf(c);
        ks_app_t *a = ks_app_new(t, c, &e);
        if (a)
                ks_app_set_restore_listener(a, on_restore, r);
        if (!a || ks_app_start(a, &e))
                die("%s", ks_error_message(e));
        *tp = t;
        *cp = c;
        return a;
}

static void app_done(ks_app_t *a, ks_topology_t *t, ks_config_t *c) {
        if (ks_app_state(a) == KS_APP_ERROR)
                die("restore: %s", ks_error_message(ks_app_error(a)));
        ks_app_close(a, 30000);
        ks_app_destroy(a);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* Rebuilding a store of @p n records (@p size bytes each) from its
 * changelog: one app fills the store through IN and commits; a second one,
 * with an empty state directory, restores it. */
static int restore(char **argv) {
        const char *bs = argv[2];
        int64_t n = atoll(argv[3]);
        size_t size = (size_t)atoi(argv[4]);
        int parts = atoi(argv[5]);
        char app_id[64], in[128], cmd[256];
        snprintf(app_id, sizeof(app_id), "bench-restore-%d", (int)getpid());
        snprintf(in, sizeof(in), "%s-in", app_id);
        char *cargs[] = {"", "", (char *)bs, in, argv[5], NULL};
        if (create(cargs))
                return 1;
        rd_kafka_t *p = client(RD_KAFKA_PRODUCER, bs, NULL);
        char *buf = malloc(size);
        uint64_t s = SEED;
        for (int64_t i = 0; i < n; i++) {
                char key[32];
                int kl = snprintf(key, sizeof(key), "key-%012" PRId64, i);
                fill(&s, buf, size);
                produce1(p, in, RD_KAFKA_PARTITION_UA, key, (size_t)kl, buf,
                         size);
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);

        char dir1[] = "/tmp/kstreams-bench-XXXXXX";
        char dir2[] = "/tmp/kstreams-bench-XXXXXX";
        if (!mkdtemp(dir1) || !mkdtemp(dir2))
                die("%s", "mkdtemp");
        ks_topology_t *t;
        ks_config_t *c;
        restore_t r1 = {.lock = PTHREAD_MUTEX_INITIALIZER};
        ks_app_t *a = store_app(bs, app_id, in, dir1, &r1, &t, &c);
        double deadline = now_s() + CASE_TIMEOUT_S;
        while (ks_app_metric(a, "process-total") < n &&
               ks_app_state(a) != KS_APP_ERROR && now_s() < deadline)
                ks_app_wait_state(a, KS_APP_ERROR, 100);
        app_done(a, t, c); /* commits */

        restore_t r = {.lock = PTHREAD_MUTEX_INITIALIZER, .parts = parts};
        usage_t u0 = phase_start();
        double start = now_s();
        a = store_app(bs, app_id, in, dir2, &r, &t, &c);
        for (;;) {
                pthread_mutex_lock(&r.lock);
                int ended = r.ended;
                pthread_mutex_unlock(&r.lock);
                if (ended >= parts || ks_app_state(a) == KS_APP_ERROR ||
                    now_s() > deadline)
                        break;
                ks_app_wait_state(a, KS_APP_ERROR, 10);
        }
        usage_t lib = phase_end(u0); /* shutdown not counted */
        app_done(a, t, c);
        if (r.restored != n) {
                fprintf(stderr,
                        "kstreams-bench: restored %" PRId64 " of %" PRId64
                        " records\n",
                        r.restored, n);
                return 1;
        }
        report("restore/kstreams-c", "restore/direct RocksDB batches", n,
               r.first, r.last, start, lib, 0, 0);

        /* Baseline: the same records straight into RocksDB, in batches. */
        char dir[] = "/tmp/kstreams-bench-XXXXXX";
        if (!mkdtemp(dir))
                die("%s", "mkdtemp");
        rocksdb_options_t *o = rocksdb_options_create();
        rocksdb_options_set_create_if_missing(o, 1);
        rocksdb_options_set_write_buffer_size(o, 16 << 20);
        rocksdb_options_set_max_write_buffer_number(o, 3);
        rocksdb_options_set_max_background_jobs(o, 2);
        rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
        rocksdb_writeoptions_disable_WAL(wo, 1);
        char *err = NULL;
        u0 = phase_start();
        double t0 = now_s();
        rocksdb_t *db = rocksdb_open(o, dir, &err);
        if (!db)
                die("rocksdb: %s", err);
        rocksdb_writebatch_t *b = rocksdb_writebatch_create();
        s = SEED;
        for (int64_t i = 0; i < n && !err; i++) {
                char key[32];
                int kl = snprintf(key, sizeof(key), "key-%012" PRId64, i);
                fill(&s, buf, size);
                rocksdb_writebatch_put(b, key, (size_t)kl, buf, size);
                if (rocksdb_writebatch_count(b) >= 10000 || i == n - 1) {
                        rocksdb_write(db, wo, b, &err);
                        rocksdb_writebatch_clear(b);
                }
        }
        if (err)
                die("rocksdb: %s", err);
        /* Both end when the last batch is written, the memtables still
         * flushing in the background. */
        double t1 = now_s();
        usage_t direct = phase_end(u0);
        rocksdb_writebatch_destroy(b);
        rocksdb_close(db);
        rocksdb_writeoptions_destroy(wo);
        rocksdb_options_destroy(o);
        report("restore/direct RocksDB batches",
               "restore/direct RocksDB batches", n, t0, t1, t0, direct, 0, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", dir, dir1, dir2);
        free(buf);
        return system(cmd) ? 1 : 0;
}

int main(int argc, char **argv) {
        const char *c = argc > 1 ? argv[1] : "";
        if (argc >= 5 && !strcmp(c, "create"))
                return create(argv);
        if (argc >= 7 && !strcmp(c, "produce"))
                return produce(argv);
        if (argc >= 6 && !strcmp(c, "produce-lines"))
                return produce_lines(argv);
        if (argc >= 6 && !strcmp(c, "produce-events"))
                return produce_events(argv);
        if (argc >= 7 && !strcmp(c, "produce-join"))
                return join_produce(argc, argv);
        if (argc >= 6 && !strcmp(c, "serve"))
                return serve(argc, argv);
        if (argc >= 10 && !strcmp(c, "run"))
                return run(argc, argv);
        if (argc >= 11 && !strcmp(c, "latency"))
                return latency(argc, argv);
        if (argc >= 6 && !strcmp(c, "restore"))
                return restore(argv);
        fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
        return 2;
}
