/* A task's input queues: the next record is the queued head with the
 * smallest timestamp; with several partitions it waits for a partition
 * whose end is unknown (max.task.idle.ms), and goes on once the wait runs
 * out or the end shows. */
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#include "coord/partition_group_int.h"

static int destroyed;
static void count_destroy(void *msg) {
        (void)msg;
        destroyed++;
}

static ks__pgroup_t group(size_t n) {
        static const char *topics[] = {"a", "b", "c"};
        ks__pgroup_t pg;
        assert_int_equal(ks__pgroup_init(&pg, n, count_destroy), 0);
        for (size_t i = 0; i < n; i++)
                pg.queues[i].topic = topics[i];
        return pg;
}

static void add(ks__pgroup_t *pg, size_t q, int64_t off, int64_t ts) {
        assert_int_equal(
                ks__pgroup_add(pg, &pg->queues[q], (void *)pg, off, ts), 0);
}

static void expect(ks__pgroup_t *pg, int64_t idle, int64_t now,
                   const char *topic, int64_t off) {
        ks__qrec_t r;
        ks__rqueue_t *q;
        assert_int_equal(ks__pgroup_next(pg, idle, now, &r, &q), KS_PG_RECORD);
        assert_string_equal(q->topic, topic);
        assert_int_equal(r.offset, off);
}

static void test_timestamp_order(void **state) {
        ks__pgroup_t pg = group(3);
        int64_t ts[3][4] = {{5, 1, 9, 9}, {3, 3, 8, 20}, {4, 7, 7, 0}};
        for (size_t q = 0; q < 3; q++)
                for (int64_t i = 0; i < 4; i++)
                        add(&pg, q, 100 * (int64_t)q + i, ts[q][i]);
        assert_int_equal(ks__pgroup_queued(&pg), 12);
        assert_int_equal(pg.queues[1].next, 104);
        /* The smallest head each time; each queue stays in offset order
         * (c's last record, timestamp 0, waits behind its queue). */
        const char *want_t[] = {"b", "b", "c", "a", "a", "c",
                                "c", "c", "b", "a", "a", "b"};
        int64_t want_o[] = {100, 101, 200, 0, 1, 201, 202, 203, 102, 2, 3, 103};
        for (int i = 0; i < 12; i++)
                expect(&pg, -1, 0, want_t[i], want_o[i]);
        ks__qrec_t r;
        ks__rqueue_t *q;
        assert_int_equal(ks__pgroup_next(&pg, -1, 0, &r, &q), KS_PG_EMPTY);
        ks__pgroup_clear(&pg);
}

static void test_idle(void **state) {
        ks__pgroup_t pg = group(2);
        add(&pg, 0, 0, 10);
        ks__qrec_t r;
        ks__rqueue_t *q;
        /* b's end is unknown: wait (0: up to the fallback). */
        assert_int_equal(ks__pgroup_next(&pg, 0, 1000, &r, &q), KS_PG_WAITING);
        assert_int_equal(
                ks__pgroup_next(&pg, 0, 1000 + KS_IDLE_FALLBACK_MS - 1, &r, &q),
                KS_PG_WAITING);
        /* The end of b shows: no more waiting. */
        pg.queues[1].at_end = 1;
        expect(&pg, 0, 1001, "a", 0);
        assert_int_equal(pg.enforced, 0);
        /* A record in b clears its end; a record of a waits again. */
        add(&pg, 1, 0, 50);
        add(&pg, 0, 1, 60);
        assert_false(pg.queues[1].at_end);
        expect(&pg, 0, 2000, "b", 0);
        assert_int_equal(ks__pgroup_next(&pg, 100, 2000, &r, &q),
                         KS_PG_WAITING);
        /* max.task.idle.ms 100 runs out: processing is enforced. */
        assert_int_equal(ks__pgroup_next(&pg, 100, 2099, &r, &q),
                         KS_PG_WAITING);
        expect(&pg, 100, 2100, "a", 1);
        assert_int_equal(pg.enforced, 1);
        /* -1 never waits. */
        add(&pg, 0, 2, 70);
        expect(&pg, -1, 0, "a", 2);
        ks__pgroup_clear(&pg);
}

static void test_clear_frees_queued(void **state) {
        ks__pgroup_t pg = group(2);
        destroyed = 0;
        for (int i = 0; i < 1000; i++)
                add(&pg, (size_t)(i % 2), i, i);
        expect(&pg, -1, 0, "a", 0);
        ks__pgroup_clear(&pg);
        assert_int_equal(destroyed, 999);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timestamp_order),
                cmocka_unit_test(test_idle),
                cmocka_unit_test(test_clear_frees_queued),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
