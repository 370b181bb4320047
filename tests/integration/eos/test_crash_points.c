/* Exactly-once crash points, on the real broker: a word-count instance
 * (the example program, under exactly_once_v2) is killed by the library's
 * crash hook (KSTREAMS_CRASH_POINT) at its third commit with state changes:
 * before the Kafka commit, between the Kafka commit and the RocksDB write,
 * or after the RocksDB write. The app then restarts on the same state
 * directory: the output, read with read_committed, must count every word
 * exactly 1, 2, ..., N with N the independent count, and the restore
 * listener must show that only the changes after the local checkpoint were
 * replayed (none but when the crash fell between the two writes). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 2
#define VOCAB      30
#define LINES      20000

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        fixture_t *f = kst_wc_new(NULL, 1, "crash", PARTITIONS, VOCAB, 4242);
        if (kst_broker_is_mock(f->broker))
                fail_msg("the crash-point tests need the real broker");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        kst_wc_destroy(*state);
        return 0;
}

static void produce_lines(fixture_t *f) {
        kst_wc_produce(f, LINES, 6, KST_WC_SPREAD);
}

/* Per word, the counts must run 1, 2, ... without a duplicate or a gap:
 * each record is checked against the word's previous count. */
static void check_next(void *opaque, const rd_kafka_message_t *m,
                       const kst_map_t *map) {
        fixture_t *f = opaque;
        int wi = kst_wc_word(f, m->key, m->key_len);
        int64_t v;
        if (wi < 0 || ks_int64_decode(m->payload, m->len, &v, NULL))
                fail_msg("unexpected output record");
        int64_t last = kst_map_int64(map, f->words[wi]);
        if (v != last + 1)
                fail_msg("word %s: count %lld after %lld (offset %lld of "
                         "partition %d)",
                         f->words[wi], (long long)v, (long long)last,
                         (long long)m->offset, (int)m->partition);
}

/* The whole output, read with read_committed to the end of every
 * partition: per word, the counts must run 1, 2, ... without a duplicate
 * or a gap. 1 when every word has reached its independent count. */
static int read_output(fixture_t *f, int64_t *records) {
        kst_reader_t *r = kst_reader_new(f->broker, f->out, PARTITIONS,
                                         KST_READ_COMMITTED);
        kst_reader_on_record(r, check_next, f);
        int at_end = kst_read_to_end(r, 60000);
        const kst_map_t *m = kst_reader_map(r);
        *records = kst_map_records(m);
        int64_t last[VOCAB];
        for (int i = 0; i < VOCAB; i++)
                last[i] = kst_map_int64(m, f->words[i]);
        kst_reader_destroy(r);
        assert_true(at_end);
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
        /* The counts (the duplicate marks restore beside them). */
        if (phase != KS_RESTORE_END || strcmp(store, WORDCOUNT_STORE))
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
        rd_kafka_t *c = kst_broker_client(
                f->broker, RD_KAFKA_CONSUMER,
                (const char *const[]){"isolation.level", "read_committed",
                                      "enable.partition.eof", "true", NULL});
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

typedef struct {
        fixture_t *f;
        int64_t records;
} output_t;

static int output_complete(void *opaque) {
        output_t *o = opaque;
        return read_output(o->f, &o->records);
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
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"state.dir", dir, "processing.guarantee",
                                      "exactly_once_v2", NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, on_restore, &r);
        output_t out = {f, 0};
        if (!kst_wait_for(app, 120000, 500, output_complete, &out))
                fail_msg("the counts are not complete after 120 s "
                         "(%lld output records)",
                         (long long)out.records);
        int64_t records = 0;
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
