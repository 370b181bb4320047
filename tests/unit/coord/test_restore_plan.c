/* Restore planning: from the local checkpoint, the position committed with
 * the input offsets and the changelog's watermarks, which offsets a store
 * replays, which tail it compensates, and when it is rebuilt. */
#include "ks_test.h"

#include "coord/changelog_reader_int.h"

typedef struct {
        const char *what;
        ks__restore_in_t in;
        ks__restore_plan_t want;
} row_t;

static void test_plans(void **state) {
        /* in: checkpoint, committed, task_committed, lo, hi, eos, from_source
         * want: clear, needed, start, end, junk_end */
        row_t rows[] = {
                {"up to date",
                 {100, 100, 1, 0, 100, 0, 0},
                 {0, 0, 100, 100, 100}},
                {"behind", {40, 100, 1, 0, 100, 0, 0}, {0, 1, 40, 100, 100}},
                {"no checkpoint",
                 {-1, 100, 1, 0, 100, 0, 0},
                 {0, 1, 0, 100, 100}},
                {"compacted below",
                 {-1, 100, 1, 30, 100, 0, 0},
                 {0, 1, 30, 100, 100}},
                {"checkpoint below the start",
                 {10, 100, 1, 30, 100, 0, 0},
                 {0, 1, 30, 100, 100}},
                /* The owner died after logging changes it never
                 * committed: replay to 80, compensate [80, 100). */
                {"uncommitted tail",
                 {40, 80, 1, 0, 100, 0, 0},
                 {0, 1, 40, 80, 100}},
                {"only a tail", {80, 80, 1, 0, 100, 0, 0}, {0, 1, 80, 80, 100}},
                /* Under exactly-once the tail is invisible. */
                {"eos", {40, 80, 1, 0, 100, 1, 0}, {0, 1, 40, 80, 80}},
                {"eos up to date",
                 {80, 80, 1, 0, 100, 1, 0},
                 {0, 0, 80, 80, 80}},
                /* A source topic past the committed offset is input. */
                {"source topic", {40, 80, 1, 0, 100, 0, 1}, {0, 1, 40, 80, 80}},
                /* The local store wrote and checkpointed, its offset commit
                 * failed: rebuilt up to the committed state. */
                {"ahead", {90, 80, 1, 0, 100, 0, 0}, {1, 1, 0, 80, 100}},
                /* Never committed: nothing is state yet; the changelog's
                 * content is an uncommitted tail. */
                {"never committed", {-1, -1, 0, 0, 50, 0, 0}, {0, 1, 0, 0, 50}},
                {"never committed, local state",
                 {50, -1, 0, 0, 50, 0, 0},
                 {1, 1, 0, 0, 50}},
                {"never committed, empty",
                 {-1, -1, 0, 0, 0, 0, 0},
                 {0, 0, 0, 0, 0}},
                /* Committed without (readable) positions: everything. */
                {"positions unknown",
                 {-1, -1, 1, 0, 70, 0, 0},
                 {0, 1, 0, 70, 70}},
                /* The changelog was recreated below the committed position:
                 * restore what there is. */
                {"recreated", {-1, 500, 1, 0, 70, 0, 0}, {0, 1, 0, 70, 70}},
        };
        for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
                ks__restore_plan_t got;
                ks__restore_plan(&rows[i].in, &got);
                const ks__restore_plan_t *w = &rows[i].want;
                if (got.clear != w->clear || got.needed != w->needed ||
                    got.start != w->start || got.end != w->end ||
                    got.junk_end != w->junk_end)
                        fail_msg("%s: got clear %d needed %d [%lld, %lld) "
                                 "tail to %lld",
                                 rows[i].what, got.clear, got.needed,
                                 (long long)got.start, (long long)got.end,
                                 (long long)got.junk_end);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plans),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
