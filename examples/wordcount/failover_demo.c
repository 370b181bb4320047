/* The failover demo: word count on Kafka with three instances (separate
 * processes), one of them killed with SIGKILL mid-run. Its tasks move to
 * the survivors, which restore the stores from the changelogs, and every
 * final count is checked against an independent count of the input.
 *
 *   wordcount [--bootstrap-servers B] [--lines N] [--seed S]
 *             [--partitions P] [--eos] [--kills K] [--zombie] [--dsl]
 *
 * --eos runs the instances under exactly_once_v2 and reads the output with
 * read_committed: then every word's counts must come out exactly 1, 2, ...,
 * N, no duplicate and no gap. --kills K kills a random instance K times
 * (SIGKILL) while the text is produced, restarting it on its state
 * directory each time; --zombie stops an instance (SIGSTOP) past the
 * session timeout twice, once shorter and once longer than the
 * transaction timeout, and lets it go on, after its tasks have moved.
 * --dsl runs the DSL word count (wordcount_dsl.c), whose words move
 * between the instances through its repartition topic.
 *
 * Without --bootstrap-servers the demo starts an embedded broker
 * (librdkafka's mock cluster) in this process. Instances are this program
 * again, run with --instance. */
#include "demo.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "embedded_broker.h"
#include "text.h"
#include "wordcount_topology.h"

#define INSTANCES 3
#define VICTIM    1 /* the instance killed: the second */

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HH:MM:SS.mmm", for lines of every process on one clock. */
void demo_log(const char *who, const char *fmt, ...) {
        int64_t ms = now_ms();
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        printf("%02d:%02d:%02d.%03d [%s] %s\n", tm.tm_hour, tm.tm_min,
               tm.tm_sec, (int)(ms % 1000), who, line);
        fflush(stdout);
}

typedef struct {
        const char *bootstrap;
        char app_id[128], lines[160], words[160], counts[160];
        int partitions;
        int eos;
        int dsl;
        int http_port; /* instance i serves HTTP on http_port + i; 0: none */
} names_t;

static int create_topics_admin(const names_t *n) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", n->bootstrap, err,
                          sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!rk) {
                fprintf(stderr, "admin client: %s\n", err);
                return -1;
        }
        const char *topics[] = {n->lines, n->words, n->counts};
        int cnt = 3;
        rd_kafka_NewTopic_t *nt[3];
        for (int i = 0; i < cnt; i++)
                nt[i] = rd_kafka_NewTopic_new(topics[i], n->partitions, -1, err,
                                              sizeof(err));
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, nt, (size_t)cnt, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        int rc = 0;
        if (!ev || rd_kafka_event_error(ev)) {
                fprintf(stderr, "CreateTopics: %s\n",
                        ev ? rd_kafka_event_error_string(ev) : "no answer");
                rc = -1;
        } else {
                size_t rcnt;
                const rd_kafka_topic_result_t **res =
                        rd_kafka_CreateTopics_result_topics(
                                rd_kafka_event_CreateTopics_result(ev), &rcnt);
                for (size_t i = 0; i < rcnt; i++)
                        if (rd_kafka_topic_result_error(res[i])) {
                                fprintf(stderr, "creating %s: %s\n",
                                        rd_kafka_topic_result_name(res[i]),
                                        rd_kafka_topic_result_error_string(
                                                res[i]));
                                rc = -1;
                        }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        for (int i = 0; i < cnt; i++)
                rd_kafka_NewTopic_destroy(nt[i]);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}

static int produce_lines(const names_t *n, char **lines, size_t from,
                         size_t to) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", n->bootstrap, err,
                          sizeof(err));
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!p)
                return -1;
        for (size_t i = from; i < to; i++) {
                /* Spread the lines over the partitions. */
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(n->lines),
                        RD_KAFKA_V_PARTITION(
                                (int32_t)(i % (size_t)n->partitions)),
                        RD_KAFKA_V_VALUE(lines[i], strlen(lines[i])),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(p, 100);
                        i--;
                } else if (e) {
                        fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                        rd_kafka_destroy(p);
                        return -1;
                }
        }
        int rc = rd_kafka_flush(p, 60000) ? -1 : 0;
        rd_kafka_destroy(p);
        return rc;
}

static pid_t spawn(const char *self, const names_t *n, int id,
                   const char *state_root) {
        char idbuf[16], parts[16], dir[512], http[32];
        snprintf(idbuf, sizeof(idbuf), "%d", id + 1);
        snprintf(parts, sizeof(parts), "%d", n->partitions);
        snprintf(dir, sizeof(dir), "%s/instance-%d", state_root, id + 1);
        pid_t pid = fork();
        if (pid == 0) {
                const char *opt[5] = {NULL, NULL, NULL, NULL, NULL};
                int k = 0;
                if (n->eos)
                        opt[k++] = "--eos";
                if (n->dsl)
                        opt[k++] = "--dsl";
                if (n->http_port) {
                        snprintf(http, sizeof(http), "127.0.0.1:%d",
                                 n->http_port + id);
                        opt[k++] = "--http";
                        opt[k++] = http;
                }
                execl(self, self, "--instance", "--bootstrap-servers",
                      n->bootstrap, "--app-id", n->app_id, "--input", n->lines,
                      "--words", n->words, "--output", n->counts, "--state-dir",
                      dir, "--id", idbuf, opt[0], opt[1], opt[2], opt[3],
                      (char *)NULL);
                _exit(127);
        }
        return pid;
}

/* The output consumer: the last count seen per word; under --eos also
 * every count out of sequence. */
typedef struct {
        rd_kafka_t *rk;
        entry_t *got;
        size_t distinct;
        int64_t records;
        int eos;
        int64_t dups, gaps;
} output_t;

static void output_record(output_t *o, const rd_kafka_message_t *m) {
        if (m->err)
                return;
        entry_t key = {0};
        snprintf(key.word, sizeof(key.word), "%.*s", (int)m->key_len,
                 (const char *)m->key);
        entry_t *e =
                bsearch(&key, o->got, o->distinct, sizeof(*o->got), cmp_entry);
        int64_t v;
        if (e && !ks_int64_decode(m->payload, m->len, &v, NULL)) {
                if (o->eos && v <= e->count) {
                        if (++o->dups <= 10)
                                demo_log("demo",
                                         "DUPLICATE %s: %" PRId64
                                         " after %" PRId64,
                                         key.word, v, e->count);
                } else if (o->eos && v > e->count + 1) {
                        if (++o->gaps <= 10)
                                demo_log("demo",
                                         "GAP %s: %" PRId64 " after %" PRId64,
                                         key.word, v, e->count);
                }
                if (!o->eos || v > e->count)
                        e->count = v;
        }
        o->records++;
}

static void output_poll(output_t *o, int ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(o->rk, ms);
        for (int k = 0; m && k < 10000; k++) {
                output_record(o, m);
                rd_kafka_message_destroy(m);
                m = rd_kafka_consumer_poll(o->rk, 0);
        }
        if (m)
                rd_kafka_message_destroy(m);
}

/* Read the whole output again, from the start, once every instance has
 * stopped: under --eos every word's counts must be 1, 2, ..., N. The live
 * reader only follows progress. The read first waits until no transaction
 * is open on the output (its last stable offset equals its high
 * watermark), and it ends when every partition has reported its end with
 * no record after that report. */
static int reread_output(const names_t *n, output_t *o) {
        char e[512];
        rd_kafka_conf_t *cc = rd_kafka_conf_new();
        rd_kafka_conf_set(cc, "bootstrap.servers", n->bootstrap, e, sizeof(e));
        rd_kafka_conf_set(cc, "group.id", "unused", e, sizeof(e));
        rd_kafka_conf_set(cc, "isolation.level", "read_committed", e,
                          sizeof(e));
        rd_kafka_conf_set(cc, "enable.partition.eof", "true", e, sizeof(e));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, e, sizeof(e));
        rd_kafka_conf_t *uc = rd_kafka_conf_new();
        rd_kafka_conf_set(uc, "bootstrap.servers", n->bootstrap, e, sizeof(e));
        rd_kafka_conf_set(uc, "isolation.level", "read_uncommitted", e,
                          sizeof(e));
        rd_kafka_t *urk = rd_kafka_new(RD_KAFKA_CONSUMER, uc, e, sizeof(e));
        if (!rk || !urk) {
                if (rk)
                        rd_kafka_destroy(rk);
                if (urk)
                        rd_kafka_destroy(urk);
                return -1;
        }
        int64_t deadline = now_ms() + 120000;
        int64_t *hw = calloc((size_t)n->partitions, sizeof(*hw));
        int64_t *last = calloc((size_t)n->partitions, sizeof(*last));
        int *at_end = calloc((size_t)n->partitions, sizeof(*at_end));
        for (int p = 0; p < n->partitions; p++) {
                int64_t lo, lso = -1;
                last[p] = -1;
                /* A read_committed client's ListOffsets answers the last
                 * stable offset, a read_uncommitted one's the end. */
                while (now_ms() < deadline) {
                        if (!rd_kafka_query_watermark_offsets(
                                    rk, n->counts, p, &lo, &lso, 5000) &&
                            !rd_kafka_query_watermark_offsets(
                                    urk, n->counts, p, &lo, &hw[p], 5000) &&
                            lso == hw[p])
                                break;
                        usleep(200 * 1000);
                }
                if (lso != hw[p])
                        demo_log("demo",
                                 "partition %d: a transaction is still open "
                                 "(last stable offset %" PRId64 ", end %" PRId64
                                 ")",
                                 p, lso, hw[p]);
        }
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(n->partitions);
        for (int p = 0; p < n->partitions; p++)
                rd_kafka_topic_partition_list_add(l, n->counts, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        for (size_t i = 0; i < o->distinct; i++)
                o->got[i].count = 0;
        o->records = o->dups = o->gaps = 0;
        int ended = 0;
        while (ended < n->partitions && now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                int p = m->partition;
                if (p >= 0 && p < n->partitions) {
                        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                if (!at_end[p]) {
                                        at_end[p] = 1;
                                        ended++;
                                }
                        } else if (!m->err) {
                                last[p] = m->offset;
                                if (at_end[p]) {
                                        at_end[p] = 0;
                                        ended--;
                                }
                        }
                }
                if (!m->err)
                        output_record(o, m);
                rd_kafka_message_destroy(m);
        }
        int rc = ended < n->partitions ? -1 : 0;
        for (int p = 0; p < n->partitions; p++)
                if (rc)
                        demo_log("demo",
                                 "partition %d: last record read at offset "
                                 "%" PRId64 " of %" PRId64 "%s",
                                 p, last[p], hw[p],
                                 at_end[p] ? "" : ", end not reached");
        free(hw);
        free(last);
        free(at_end);
        rd_kafka_destroy(urk);
        rd_kafka_destroy(rk);
        return rc;
}

/* The words counted so far: the sum of the latest counts. With a record
 * cache (the DSL word count) there are fewer output records than words. */
static int64_t counted(const output_t *o) {
        int64_t n = 0;
        for (size_t i = 0; i < o->distinct; i++)
                n += o->got[i].count;
        return n;
}

/* 1 if any instance still meant to run has exited. */
static int instance_died(pid_t *pids, int skip) {
        for (int i = 0; i < INSTANCES; i++) {
                int st;
                if (i != skip && pids[i] > 0 &&
                    waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                        if (WIFEXITED(st))
                                demo_log("demo",
                                         "instance %d exited (status %d)",
                                         i + 1, WEXITSTATUS(st));
                        else
                                demo_log("demo",
                                         "instance %d exited (status: killed "
                                         "by signal %d)",
                                         i + 1, WTERMSIG(st));
                        pids[i] = -1;
                        return 1;
                }
        }
        return 0;
}

static size_t matching(const output_t *o, const entry_t *want) {
        size_t n = 0;
        for (size_t i = 0; i < o->distinct; i++)
                n += o->got[i].count == want[i].count;
        return n;
}

/* Kill (--kills) or stop (--zombie) instances while the rest of the text
 * is produced, paced over the run. Returns 1 if an instance exited by
 * itself. */
static int chaos_run(const names_t *n, const char *self, const char *state_root,
                     char **lines, size_t first, size_t nlines, pid_t *pids,
                     int kills, int zombie, uint64_t seed, output_t *out,
                     int64_t *last_at) {
        uint64_t rnd = seed * 2654435761u + 1;
#define NEXT_RAND()                                                            \
        (rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL,          \
         (rnd >> 33))
        int64_t start = now_ms();
        int64_t span = kills ? (int64_t)kills * 2500 : 30000;
        int64_t next_kill = start + 1000 + (int64_t)(NEXT_RAND() % 2000);
        /* --zombie: stop for 8 s (past the 6 s session timeout, inside
         * the 10 s transaction timeout), then for 13 s (past both). */
        const int64_t zsteps[] = {2000, 10000, 16000, 29000};
        int zstep = zombie ? 0 : 4;
        int done_kills = 0;
        size_t produced = first;
        demo_log("demo", "producing the other %zu lines over %.0f s",
                 nlines - first, (double)span / 1000.0);
        while (produced < nlines || done_kills < kills || zstep < 4) {
                int64_t t = now_ms();
                double frac = (double)(t - start) / (double)span;
                size_t target =
                        frac >= 1 ? nlines
                                  : first + (size_t)((double)(nlines - first) *
                                                     frac);
                if (target > produced + 5000)
                        target = produced + 5000;
                if (target > produced) {
                        if (produce_lines(n, lines, produced, target))
                                return 1;
                        produced = target;
                }
                output_poll(out, 20);
                if (done_kills < kills && t >= next_kill) {
                        int v = (int)(NEXT_RAND() % INSTANCES);
                        kill(pids[v], SIGKILL);
                        waitpid(pids[v], NULL, 0);
                        pids[v] = spawn(self, n, v, state_root);
                        done_kills++;
                        *last_at = now_ms();
                        demo_log("demo",
                                 "kill %d of %d: instance %d (SIGKILL) after "
                                 "%" PRId64 " output records, restarted",
                                 done_kills, kills, v + 1, out->records);
                        next_kill =
                                *last_at + 1000 + (int64_t)(NEXT_RAND() % 2500);
                }
                if (zstep < 4 && t - start >= zsteps[zstep]) {
                        int sig = zstep % 2 ? SIGCONT : SIGSTOP;
                        kill(pids[VICTIM], sig);
                        *last_at = now_ms();
                        demo_log("demo",
                                 "instance %d %s after %" PRId64
                                 " output records",
                                 VICTIM + 1,
                                 sig == SIGSTOP ? "stopped (SIGSTOP)"
                                                : "resumed (SIGCONT)",
                                 out->records);
                        zstep++;
                }
                if (instance_died(pids, -1))
                        return 1;
        }
#undef NEXT_RAND
        return 0;
}

int failover_demo(int argc, char **argv, const char *self) {
        size_t nlines = 20000;
        uint64_t seed = 42;
        names_t n = {.partitions = 6};
        int kills = 0, zombie = 0;
        const char *serve = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--eos"))
                        n.eos = 1;
                else if (!strcmp(argv[i], "--dsl"))
                        n.dsl = 1;
                else if (!strcmp(argv[i], "--zombie"))
                        zombie = 1;
                else if (!strcmp(argv[i], "--kills") && i + 1 < argc)
                        kills = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--lines") && i + 1 < argc)
                        nlines = strtoull(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
                        seed = strtoull(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--bootstrap-servers") &&
                         i + 1 < argc)
                        n.bootstrap = argv[++i];
                else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
                        n.partitions = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--http") && i + 1 < argc)
                        n.http_port = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--serve") && i + 1 < argc)
                        serve = argv[++i];
                else {
                        fprintf(stderr,
                                "usage: %s [--bootstrap-servers B] "
                                "[--lines N] [--seed S] [--partitions P]\n"
                                "          [--eos] [--kills K] [--zombie] "
                                "[--dsl] [--http PORT [--serve FILE]]\n"
                                "       %s --test-driver [--lines N] "
                                "[--seed S] [--in-memory]\n",
                                argv[0], argv[0]);
                        return 2;
                }
        }
        if (serve && !n.http_port) {
                fprintf(stderr, "--serve needs --http\n");
                return 2;
        }
        if (nlines < 2 || n.partitions < 1 || n.http_port < 0 ||
            n.http_port > 65535 - INSTANCES) {
                fprintf(stderr, "--lines must be at least 2, --partitions "
                                "at least 1\n");
                return 2;
        }
        /* Fresh names per run: reruns on one cluster never meet. */
        snprintf(n.app_id, sizeof(n.app_id), "wordcount-demo-%d-%" PRId64,
                 (int)getpid(), now_ms());
        snprintf(n.lines, sizeof(n.lines), "%s-lines", n.app_id);
        snprintf(n.words, sizeof(n.words), "%s-words", n.app_id);
        snprintf(n.counts, sizeof(n.counts), "%s-counts", n.app_id);

        ks_error_t *err = NULL;
        ks_topology_t *topo =
                n.dsl ? wordcount_dsl_topology_on(n.lines, n.counts, &err)
                      : wordcount_topology_on(n.lines, n.words, n.counts,
                                              KS_STORE_ROCKSDB, &err);
        char *desc = NULL;
        const char *dot_env = getenv("KS_DESCRIBE_DOT");
        if (topo && dot_env && !strcmp(dot_env, "1")) {
                /* The topology as a Graphviz graph, nothing run. */
                if (ks_topology_describe_dot(topo, &desc, &err)) {
                        fprintf(stderr, "topology: %s\n",
                                ks_error_message(err));
                        return 1;
                }
                fputs(desc, stdout);
                ks_free(desc);
                ks_topology_destroy(topo);
                return 0;
        }
        if (!topo || ks_topology_describe(topo, &desc, &err)) {
                fprintf(stderr, "topology: %s\n", ks_error_message(err));
                return 1;
        }
        printf("kstreams-c %s word count (%s%s): %d instances, %s\n%s\n",
               ks_version_str(), n.eos ? "exactly_once_v2" : "at_least_once",
               n.dsl ? ", DSL" : "", INSTANCES,
               kills    ? "random ones killed and restarted"
               : zombie ? "one paused past its session timeout"
                        : "one killed mid-run",
               desc);
        ks_free(desc);

        embedded_broker_t *eb = NULL;
        if (!n.bootstrap) {
                char e[512];
                if (!(eb = embedded_broker_start(3, e, sizeof(e)))) {
                        fprintf(stderr, "embedded broker: %s\n", e);
                        return 1;
                }
                n.bootstrap = embedded_broker_bootstrap(eb);
                demo_log("demo",
                         "embedded broker (librdkafka mock cluster, "
                         "3 brokers) at %s",
                         n.bootstrap);
                const char *topics[] = {n.lines, n.words, n.counts};
                for (int i = 0; i < 3; i++)
                        embedded_broker_create_topic(eb, topics[i],
                                                     n.partitions);
                /* The mock does not create topics: make the internal ones
                 * the topology lists. */
                for (size_t i = 0; i < ks_topology_internal_topic_count(topo);
                     i++) {
                        char name[512];
                        ks_topology_internal_topic(topo, n.app_id, i, name,
                                                   sizeof(name), NULL);
                        embedded_broker_create_topic(eb, name, n.partitions);
                }
        } else {
                demo_log("demo", "Kafka at %s", n.bootstrap);
                if (create_topics_admin(&n))
                        return 1;
        }

        char **lines = generate_lines(nlines, seed);
        size_t distinct;
        entry_t *want = reference_counts(lines, nlines, &distinct);
        int64_t words_total = 0;
        for (size_t i = 0; i < distinct; i++)
                words_total += want[i].count;
        output_t out = {.distinct = distinct, .eos = n.eos};
        out.got = calloc(distinct, sizeof(*out.got));
        memcpy(out.got, want, distinct * sizeof(*out.got));
        for (size_t i = 0; i < distinct; i++)
                out.got[i].count = 0;

        char state_root[] = "/tmp/kstreams-demo-XXXXXX";
        if (!mkdtemp(state_root)) {
                perror("mkdtemp");
                return 1;
        }
        /* A fifth of the text first; the rest while the instances run. */
        size_t first = nlines / 5;
        demo_log("demo", "producing %zu of %zu lines (%" PRId64 " words) to %s",
                 first, nlines, words_total, n.lines);
        if (produce_lines(&n, lines, 0, first))
                return 1;
        pid_t pids[INSTANCES];
        for (int i = 0; i < INSTANCES; i++)
                pids[i] = spawn(self, &n, i, state_root);

        char e2[512];
        rd_kafka_conf_t *cc = rd_kafka_conf_new();
        rd_kafka_conf_set(cc, "bootstrap.servers", n.bootstrap, e2, sizeof(e2));
        rd_kafka_conf_set(cc, "group.id", "unused", e2, sizeof(e2));
        rd_kafka_conf_set(cc, "isolation.level",
                          n.eos ? "read_committed" : "read_uncommitted", e2,
                          sizeof(e2));
        out.rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, e2, sizeof(e2));
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(n.partitions);
        for (int p = 0; p < n.partitions; p++)
                rd_kafka_topic_partition_list_add(l, n.counts, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(out.rk, l);
        rd_kafka_topic_partition_list_destroy(l);

        /* Once a tenth of the words are counted, keep producing in small
         * batches, and kill one instance in the middle of it: it dies with
         * work it has not committed. */
        int64_t deadline = now_ms() + 120000;
        int died = 0;
        while (counted(&out) < words_total / 10 && now_ms() < deadline &&
               !(died = instance_died(pids, -1)))
                output_poll(&out, 200);
        int64_t killed_at = 0;
        int chaos = kills > 0 || zombie;
        if (!chaos)
                demo_log("demo",
                         "producing the other %zu lines while the instances "
                         "run",
                         nlines - first);
        int victim = chaos ? -1 : VICTIM;
        if (chaos)
                died = chaos_run(&n, self, state_root, lines, first, nlines,
                                 pids, kills, zombie, seed, &out, &killed_at);
        size_t kill_at = first + (nlines - first) / 3;
        for (size_t i = first; !chaos && !died && i < nlines; i += 100) {
                size_t to = i + 100 < nlines ? i + 100 : nlines;
                if (produce_lines(&n, lines, i, to))
                        return 1;
                output_poll(&out, 10);
                if (!killed_at && to >= kill_at) {
                        if (pids[VICTIM] > 0) {
                                kill(pids[VICTIM], SIGKILL);
                                waitpid(pids[VICTIM], NULL, 0);
                        }
                        killed_at = now_ms();
                        demo_log("demo",
                                 "killed instance %d (SIGKILL) after %" PRId64
                                 " output records; its tasks move to the "
                                 "others",
                                 VICTIM + 1, out.records);
                }
                died = instance_died(pids, VICTIM);
        }

        /* Wait until every final count is in. */
        deadline = now_ms() + 180000;
        while (!died && matching(&out, want) < distinct &&
               now_ms() < deadline && !(died = instance_died(pids, victim)))
                output_poll(&out, 200);
        /* Under exactly-once, records after the last count would be
         * duplicates: read what else arrives for a moment. */
        for (int64_t until = now_ms() + 2000; n.eos && now_ms() < until;)
                output_poll(&out, 100);
        int64_t done_at = now_ms();
        size_t ok = matching(&out, want);
        if (serve && ok == distinct && !died)
                demo_serve(serve, want, distinct, n.http_port, pids, victim,
                           INSTANCES);

        for (int i = 0; i < INSTANCES; i++)
                if (i != victim && pids[i] > 0)
                        kill(pids[i], SIGTERM);
        int clean = 1;
        for (int i = 0; i < INSTANCES; i++) {
                int st;
                if (i == victim)
                        continue;
                if (pids[i] <= 0 || waitpid(pids[i], &st, 0) < 0) {
                        demo_log("demo", "instance %d: not running", i + 1);
                        clean = 0;
                } else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
                        demo_log("demo", "instance %d: exit status %d%s", i + 1,
                                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                                 WIFEXITED(st) ? "" : " (signal)");
                        clean = 0;
                }
        }
        rd_kafka_destroy(out.rk);
        if (n.eos) {
                /* The live reader reports gaps of its own at times
                 * (librdkafka 2.0's read_committed fetches near an aborted
                 * transaction): judge the output read again in full. */
                if (out.dups || out.gaps)
                        demo_log("demo",
                                 "live reader: %" PRId64 " duplicates, %" PRId64
                                 " gaps; reading the output again",
                                 out.dups, out.gaps);
                if (reread_output(&n, &out)) {
                        demo_log("demo", "reading the output again did not "
                                         "reach its end in time");
                        clean = 0;
                }
                ok = matching(&out, want);
        }

        qsort(out.got, distinct, sizeof(*out.got), cmp_count_desc);
        printf("\n%zu lines, %" PRId64 " words, %zu distinct; %" PRId64
               " output records (re-sent counts after the failover "
               "included)\n",
               nlines, words_total, distinct, out.records);
        printf("top words:\n");
        for (size_t i = 0; i < distinct && i < 10; i++)
                printf("  %-12s %" PRId64 "\n", out.got[i].word,
                       out.got[i].count);
        printf("all final counts in %.1f s after the last %s\n",
               (double)(done_at - killed_at) / 1000.0,
               zombie && !kills ? "resume" : "kill");
        int exact = !n.eos ||
                    (!out.dups && !out.gaps && out.records == words_total);
        if (n.eos)
                printf("exactly-once: %" PRId64 " output records for %" PRId64
                       " words, %" PRId64 " duplicates, %" PRId64 " gaps\n",
                       out.records, words_total, out.dups, out.gaps);
        printf("%s: %zu of %zu final counts equal the independent count%s%s\n",
               ok == distinct && clean && exact ? "OK" : "FAILED", ok, distinct,
               clean ? "" : " (an instance did not stop cleanly)",
               exact ? "" : " (the output is not exact)");
        if (ok < distinct) {
                qsort(out.got, distinct, sizeof(*out.got), cmp_entry);
                for (size_t i = 0; i < distinct; i++)
                        if (out.got[i].count != want[i].count)
                                printf("  MISMATCH %s: %" PRId64
                                       " counted, %" PRId64 " expected\n",
                                       want[i].word, out.got[i].count,
                                       want[i].count);
        }

        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_root);
        if (system(cmd)) {
                /* best effort */
        }
        for (size_t i = 0; i < nlines; i++)
                free(lines[i]);
        free(lines);
        free(want);
        free(out.got);
        ks_topology_destroy(topo);
        embedded_broker_stop(eb);
        return ok == distinct && clean && exact ? 0 : 1;
}
