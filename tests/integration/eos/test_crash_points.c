/* Exactly-once crash points, on the real broker: a word-count instance
 * (the example program, under exactly_once_v2) is killed by the library's
 * crash hook (KSTREAMS_CRASH_POINT) at its third commit with state changes:
 * before the Kafka commit, between the Kafka commit and the RocksDB write,
 * or after the RocksDB write. The app then restarts on the same state
 * directory: the output, read with read_committed, must count every word
 * exactly 1, 2, ..., N with N the independent count, and the restore
 * listener must show that only the changes after the local checkpoint were
 * replayed (none but when the crash fell between the two writes). */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kst_broker.h"
#include "ks_test.h"
#include "wordcount_topology.h"

#define PARTITIONS 2
#define VOCAB      30
#define LINES      20000

typedef struct {
        kst_broker_t *broker;
        char *in, *words_topic, *out, *app_id;
        char *words[VOCAB];
        int64_t expect[VOCAB];
        unsigned seed;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->broker = kst_broker_get(NULL, 1);
        if (kst_broker_is_mock(f->broker))
                fail_msg("the crash-point tests need the real broker");
        f->in = kst_unique_name("crash-in");
        f->out = kst_unique_name("crash-out");
        f->words_topic = kst_unique_name("crash-words");
        f->app_id = kst_unique_name("crash-app");
        f->seed = 4242;
        for (int i = 0; i < VOCAB; i++)
                if (asprintf(&f->words[i], "w%02d", i) < 0)
                        return -1;
        kst_broker_create_topic(f->broker, f->in, PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->out, PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->words_topic, PARTITIONS, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        for (int i = 0; i < VOCAB; i++)
                free(f->words[i]);
        kst_broker_destroy(f->broker);
        free(f->in);
        free(f->out);
        free(f->words_topic);
        free(f->app_id);
        free(f);
        return 0;
}

static rd_kafka_t *client(fixture_t *f, rd_kafka_type_t type) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers",
                          kst_broker_bootstrap(f->broker), err, sizeof(err));
        if (type == RD_KAFKA_CONSUMER) {
                rd_kafka_conf_set(c, "group.id", "unused", err, sizeof(err));
                rd_kafka_conf_set(c, "isolation.level", "read_committed", err,
                                  sizeof(err));
                rd_kafka_conf_set(c, "enable.partition.eof", "true", err,
                                  sizeof(err));
        }
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk)
                fail_msg("%s", err);
        return rk;
}

static void produce_lines(fixture_t *f) {
        rd_kafka_t *p = client(f, RD_KAFKA_PRODUCER);
        for (int l = 0; l < LINES; l++) {
                char line[128] = "";
                f->seed = f->seed * 1103515245u + 12345u;
                int n = 1 + (int)((f->seed >> 16) % 6);
                for (int w = 0; w < n; w++) {
                        f->seed = f->seed * 1103515245u + 12345u;
                        int wi = (int)((f->seed >> 16) % VOCAB);
                        strcat(line, w ? " " : "");
                        strcat(line, f->words[wi]);
                        f->expect[wi]++;
                }
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        p, RD_KAFKA_V_TOPIC(f->in),
                        RD_KAFKA_V_PARTITION(l % PARTITIONS),
                        RD_KAFKA_V_VALUE(line, strlen(line)),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(p, 100);
                        l--;
                        continue;
                }
                assert_int_equal(e, 0);
        }
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);
}

/* The whole output, read with read_committed to the end of every
 * partition: per word, the counts must run 1, 2, ... without a duplicate
 * or a gap. 1 when every word has reached its independent count. */
static int read_output(fixture_t *f, int64_t *records) {
        rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(l, f->out, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t last[VOCAB] = {0};
        int eofs = 0;
        int64_t deadline = kst_now_ms() + 60000;
        *records = 0;
        while (eofs < PARTITIONS && kst_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        eofs++;
                } else if (!m->err) {
                        int wi = -1;
                        for (int i = 0; i < VOCAB; i++)
                                if (m->key_len == strlen(f->words[i]) &&
                                    !memcmp(m->key, f->words[i], m->key_len))
                                        wi = i;
                        int64_t v;
                        if (wi < 0 ||
                            ks_int64_decode(m->payload, m->len, &v, NULL))
                                fail_msg("unexpected output record");
                        if (v != last[wi] + 1)
                                fail_msg("word %s: count %lld after %lld "
                                         "(offset %lld of partition %d)",
                                         f->words[wi], (long long)v,
                                         (long long)last[wi],
                                         (long long)m->offset,
                                         (int)m->partition);
                        last[wi] = v;
                        (*records)++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(c);
        assert_int_equal(eofs, PARTITIONS);
        for (int i = 0; i < VOCAB; i++) {
                if (last[i] > f->expect[i])
                        fail_msg("word %s: counted %lld, input has %lld",
                                 f->words[i], (long long)last[i],
                                 (long long)f->expect[i]);
                if (last[i] < f->expect[i])
                        return 0;
        }
        return 1;
}

typedef struct {
        int64_t restored, events, bad;
        struct {
                int32_t partition;
                int64_t start, end;
        } ranges[16];
} restores_t;

static void on_restore(void *opaque, ks_restore_phase_t phase,
                       const char *store, const char *topic, int32_t p,
                       int64_t start, int64_t end, int64_t restored) {
        restores_t *r = opaque;
        if (phase != KS_RESTORE_END)
                return;
        __atomic_add_fetch(&r->restored, restored, __ATOMIC_SEQ_CST);
        int64_t i = __atomic_fetch_add(&r->events, 1, __ATOMIC_SEQ_CST);
        if (restored != end - start || i >= 16)
                __atomic_add_fetch(&r->bad, 1, __ATOMIC_SEQ_CST);
        else
                r->ranges[i].partition = p, r->ranges[i].start = start,
                r->ranges[i].end = end;
}

/* The changelog records in [start, end) of partition @p p must be one
 * transaction's: consecutive offsets (a commit marker takes an offset of
 * its own). A checkpoint is the offset after the last record committed,
 * that is the offset of the commit marker: the replay begins there. */
static void check_one_transaction(fixture_t *f, int32_t p, int64_t start,
                                  int64_t end) {
        char topic[512];
        snprintf(topic, sizeof(topic), "%s-%s-changelog", f->app_id,
                 WORDCOUNT_STORE);
        rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = start;
        assert_int_equal(rd_kafka_assign(c, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t next = start > 0 ? start + 1 : 0;
        int64_t deadline = kst_now_ms() + 30000;
        while (next < end && kst_now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
                if (!m)
                        continue;
                if (!m->err) {
                        if (m->offset != next)
                                fail_msg("changelog %s [%d]: the replay of "
                                         "[%lld, %lld) met offset %lld where "
                                         "%lld was due: more than one "
                                         "transaction was replayed",
                                         topic, (int)p, (long long)start,
                                         (long long)end, (long long)m->offset,
                                         (long long)next);
                        next++;
                }
                rd_kafka_message_destroy(m);
        }
        assert_true(next >= end);
        rd_kafka_destroy(c);
}

static void run(void **state, const char *point, int replay) {
        fixture_t *f = *state;
        produce_lines(f);
        char *dir;
        if (asprintf(&dir, "%s/%s", kst_tmpdir(), f->app_id) < 0)
                fail();
        const char *bin = getenv("KS_WORDCOUNT");
        assert_non_null(bin);
        char crash[64];
        snprintf(crash, sizeof(crash), "%s:3", point);
        pid_t pid = fork();
        if (pid == 0) {
                setenv("KSTREAMS_CRASH_POINT", crash, 1);
                execl(bin, bin, "--instance", "--bootstrap-servers",
                      kst_broker_bootstrap(f->broker), "--app-id", f->app_id,
                      "--input", f->in, "--words", f->words_topic, "--output",
                      f->out, "--state-dir", dir, "--eos", (char *)NULL);
                _exit(127);
        }
        int st = 0;
        int64_t deadline = kst_now_ms() + 120000;
        while (waitpid(pid, &st, WNOHANG) == 0) {
                if (kst_now_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                        fail_msg("the instance never reached crash point %s",
                                 point);
                }
                usleep(20000);
        }
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
                fail_msg("the instance ended with status %d, not killed at "
                         "%s",
                         st, point);

        /* Restart on the same state directory. */
        restores_t r = {0};
        ks_error_t *e = NULL;
        ks_config_t *c = kst_config(f->app_id);
        kst_set(c, "bootstrap.servers", kst_broker_bootstrap(f->broker));
        kst_set(c, "state.dir", dir);
        kst_set(c, "processing.guarantee", "exactly_once_v2");
        kst_set(c, "consumer.session.timeout.ms", "6000");
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        ks_app_set_restore_listener(app, on_restore, &r);
        KST_OK_E(ks_app_start(app, &e));
        int64_t records = 0;
        deadline = kst_now_ms() + 120000;
        while (!read_output(f, &records)) {
                if (ks_app_state(app) == KS_APP_ERROR)
                        fail_msg("app failed: %s",
                                 ks_error_message(ks_app_error(app)));
                if (kst_now_ms() > deadline)
                        fail_msg("the counts are not complete after 120 s "
                                 "(%lld output records)",
                                 (long long)records);
                ks_app_wait_state(app, KS_APP_ERROR, 500);
        }
        assert_int_equal(ks_app_close(app, 30000), 0);
        /* Nothing more after the close either. */
        assert_true(read_output(f, &records));
        int64_t words = 0;
        for (int i = 0; i < VOCAB; i++)
                words += f->expect[i];
        assert_int_equal(records, words);
        for (int64_t i = 0; i < r.events && i < 16; i++)
                printf("# restore of partition %d: [%lld, %lld)\n",
                       (int)r.ranges[i].partition, (long long)r.ranges[i].start,
                       (long long)r.ranges[i].end);
        printf("# crash point %s: %lld output records for %lld words; "
               "restored %lld changelog records in %lld store restores\n",
               point, (long long)records, (long long)words,
               (long long)r.restored, (long long)r.events);
        if (replay) {
                /* Only the crashed transaction's changes, from the local
                 * checkpoint on: each replayed range is one transaction
                 * (a store whose first changes were in the crashed
                 * transaction replays it from offset 0), and at least one
                 * store started from a checkpoint of an earlier commit. */
                assert_true(r.restored > 0);
                assert_int_equal(r.bad, 0);
                int from_checkpoint = 0;
                for (int64_t i = 0; i < r.events; i++) {
                        check_one_transaction(f, r.ranges[i].partition,
                                              r.ranges[i].start,
                                              r.ranges[i].end);
                        from_checkpoint |= r.ranges[i].start > 0;
                }
                assert_true(from_checkpoint);
        } else {
                assert_int_equal(r.restored, 0);
        }
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        free(dir);
}

static void test_before_commit(void **state) {
        run(state, "before-commit", 0);
}

static void test_after_commit(void **state) {
        run(state, "after-commit", 1);
}

static void test_after_state_write(void **state) {
        run(state, "after-state-write", 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_before_commit, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_after_commit, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_after_state_write, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
