/* state.cleanup.delay.ms: task directories that no task of the instance
 * owns and that nobody used for that long are removed while the app runs;
 * those of the tasks it owns stay, with their stores, and so does
 * anything that is not a task directory. With a delay of 1.5 s, a stale
 * task directory 9_9 (files an hour old) is gone within a deadline, and
 * so is 8_8, made after that (a later pass of the cleaner); meanwhile the
 * owned tasks' directories keep their RocksDB files and the word count
 * stays exact. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 2
#define VOCAB      20

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        *state = kst_wc_fixture("mock", 1, "clean", PARTITIONS, VOCAB, 17);
        return 0;
}

static char *path_of(const char *a, const char *b) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", a, b) < 0)
                fail_msg("out of memory");
        return p;
}

static int exists(const char *path) {
        struct stat st;
        return !stat(path, &st);
}

/* Write @p name in @p dir, an hour old. */
static void old_file(const char *dir, const char *name) {
        char *p = path_of(dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, "stale\n", 6) != 6)
                fail_msg("cannot write %s", p);
        struct timespec t[2];
        clock_gettime(CLOCK_REALTIME, &t[0]);
        t[0].tv_sec -= 3600;
        t[1] = t[0];
        if (futimens(fd, t))
                fail_msg("cannot date %s", p);
        close(fd);
        free(p);
}

/* A task directory nobody has used for an hour: its lock file and a
 * store's files. */
static char *stale_task_dir(const char *app_dir, const char *task) {
        char *d = path_of(app_dir, task), *db = path_of(d, "rocksdb");
        if (mkdir(d, 0700) || mkdir(db, 0700))
                fail_msg("cannot make %s", db);
        old_file(db, "CURRENT");
        old_file(db, "000001.log");
        old_file(d, ".lock");
        free(db);
        return d;
}

static int gone(void *opaque) {
        return !exists(opaque);
}

/* The owned tasks of the counting sub-topology keep their stores. */
static void check_owned(const char *app_dir) {
        for (int p = 0; p < PARTITIONS; p++) {
                char task[64];
                snprintf(task, sizeof(task), "1_%d/rocksdb/CURRENT", p);
                char *cur = path_of(app_dir, task);
                if (!exists(cur))
                        fail_msg("%s is gone", cur);
                free(cur);
        }
}

static void test_cleanup(void **state) {
        fixture_t *f = *state;
        char *dir = path_of(kst_tmpdir(), "cleanup");
        char *app_dir = path_of(dir, f->app_id);
        if (mkdir(dir, 0700) || mkdir(app_dir, 0700))
                fail_msg("cannot make %s", app_dir);
        char *stale = stale_task_dir(app_dir, "9_9");
        char *other = path_of(app_dir, "not-a-task");
        if (mkdir(other, 0700))
                fail_msg("cannot make %s", other);
        old_file(other, "keep");

        kst_wc_produce(f, 200, 5, KST_WC_SPREAD);
        ks_error_t *e = NULL;
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"state.dir", dir,
                                      "state.cleanup.delay.ms", "1500",
                                      "commit.interval.ms", "100", NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        kst_wc_wait_counts(f, app, 60000);
        if (!kst_wait_for(app, 30000, 50, gone, stale))
                fail_msg("%s is still there after 30 s "
                         "(state.cleanup.delay.ms 1500)",
                         stale);
        check_owned(app_dir);

        /* A later pass removes a later stale directory, and still keeps
         * the owned ones. */
        char *stale2 = stale_task_dir(app_dir, "8_8");
        if (!kst_wait_for(app, 30000, 50, gone, stale2))
                fail_msg("%s is still there after 30 s", stale2);
        check_owned(app_dir);
        char *keep = path_of(other, "keep");
        assert_true(exists(keep));
        char *pid = path_of(app_dir, "process-id");
        assert_true(exists(pid));

        kst_wc_produce(f, 50, 5, KST_WC_SPREAD);
        kst_wc_wait_counts(f, app, 60000);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        KST_OK(ks_app_close(app, 30000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        /* Closing keeps the task directories for the next start. */
        check_owned(app_dir);
        free(keep);
        free(pid);
        free(stale);
        free(stale2);
        free(other);
        free(app_dir);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cleanup, setup,
                                                kst_wc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
