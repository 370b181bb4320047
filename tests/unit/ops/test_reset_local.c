/* kstreams-reset --local, with no broker: an application's state directory
 * as the library leaves it is wiped whole; anything else (a stray file, a
 * symbolic link in its place, no lock file, a directory an instance holds)
 * is refused with nothing removed; a symbolic link inside is removed,
 * never followed; a dry run removes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_test.h"

#include "reset_int.h"

#include "state/state_dir_int.h"

/* A fresh state.dir for one case. */
static char *fresh_root(const char *name) {
        char *root;
        if (asprintf(&root, "%s/local-%s", kst_tmpdir(), name) < 0)
                fail();
        assert_int_equal(mkdir(root, 0700), 0);
        return root;
}

static void write_file(const char *dir, const char *name, const char *text) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int exists(const char *dir, const char *name) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return lstat(path, &st) == 0;
}

/* "<root>/<app>" the way the library makes it: its lock (taken and
 * released through the library's own ks__lock_dir()), process id, and
 * two task directories with their locks and stores. Returns the path. */
static char *app_dir(const char *root, const char *app) {
        char *dir;
        if (asprintf(&dir, "%s/%s", root, app) < 0)
                fail();
        ks__unlock_dir(ks__lock_dir(dir));
        write_file(dir, "process-id", "0123456789abcdef0123456789abcdef\n");
        const char *tasks[] = {"0_0", "1_12"};
        for (int i = 0; i < 2; i++) {
                char t[4096], db[4200];
                snprintf(t, sizeof(t), "%s/%s", dir, tasks[i]);
                ks__unlock_dir(ks__lock_dir(t));
                snprintf(db, sizeof(db), "%s/rocksdb", t);
                assert_int_equal(mkdir(db, 0700), 0);
                write_file(db, "000007.sst", "data");
                write_file(db, "CURRENT", "MANIFEST-000005\n");
        }
        return dir;
}

static int wipe(const char *root, const char *app, int dry_run, char *err) {
        err[0] = '\0';
        int rc = ks__reset_local_wipe(root, app, dry_run, NULL, err,
                                      KS_RESET_ERR_MAX);
        if (rc < 0)
                printf("# %s/%s: %s\n", root, app, err);
        return rc;
}

#define ASSERT_SAYS(err, needle)                                               \
        do {                                                                   \
                if (!strstr(err, needle))                                      \
                        fail_msg("\"%s\" does not say \"%s\"", err, needle);   \
        } while (0)

static void test_wipes_state_dir(void **state) {
        char *root = fresh_root("ok"), err[KS_RESET_ERR_MAX];
        char *dir = app_dir(root, "app");
        /* Another application's directory beside it stays. */
        char *other = app_dir(root, "app-2");
        assert_int_equal(wipe(root, "app", 1, err), 0); /* dry run */
        assert_true(exists(dir, "0_0/rocksdb/000007.sst"));
        assert_true(exists(dir, ".lock"));
        assert_int_equal(wipe(root, "app", 0, err), 0);
        assert_false(exists(root, "app"));
        assert_true(exists(other, "1_12/rocksdb/CURRENT"));
        /* Nothing there (any more): nothing to do. */
        assert_int_equal(wipe(root, "app", 0, err), 1);
        char *none;
        if (asprintf(&none, "%s/none", root) < 0)
                fail();
        assert_int_equal(wipe(none, "app", 0, err), 1);
        free(none);
        free(other);
        free(dir);
        free(root);
}

static void test_refuses_foreign_content(void **state) {
        char *root = fresh_root("foreign"), err[KS_RESET_ERR_MAX];
        char *dir = app_dir(root, "app");
        /* A stray file: not ours. */
        write_file(dir, "notes.txt", "mine");
        assert_int_equal(wipe(root, "app", 0, err), -1);
        ASSERT_SAYS(err, "is not a kstreams-c state directory (\"notes.txt\"");
        assert_int_equal(wipe(root, "app", 1, err), -1); /* nor a dry run */
        assert_true(exists(dir, "0_0/rocksdb/000007.sst"));
        assert_true(exists(dir, "notes.txt"));
        char p[4096];
        snprintf(p, sizeof(p), "%s/notes.txt", dir);
        assert_int_equal(unlink(p), 0);
        /* A task directory's name on a file, a ".lock" directory. */
        write_file(dir, "2_0", "x");
        assert_int_equal(wipe(root, "app", 0, err), -1);
        ASSERT_SAYS(err, "\"2_0\"");
        snprintf(p, sizeof(p), "%s/2_0", dir);
        assert_int_equal(unlink(p), 0);
        snprintf(p, sizeof(p), "%s/.lock", dir);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkdir(p, 0700), 0);
        assert_int_equal(wipe(root, "app", 0, err), -1);
        ASSERT_SAYS(err, "\".lock\"");
        assert_int_equal(rmdir(p), 0);
        /* No lock file at all. */
        assert_int_equal(wipe(root, "app", 0, err), -1);
        ASSERT_SAYS(err, "no .lock file");
        assert_true(exists(dir, "1_12/rocksdb/CURRENT"));
        /* A home directory given by mistake: refused. */
        char *home = fresh_root("home");
        write_file(home, ".bashrc", "x");
        char *name = strrchr(home, '/') + 1;
        *(name - 1) = '\0';
        assert_int_equal(wipe(home, name, 0, err), -1);
        ASSERT_SAYS(err, "\".bashrc\"");
        *(name - 1) = '/';
        assert_true(exists(home, ".bashrc"));
        free(home);
        free(dir);
        free(root);
}

static void test_refuses_links_and_bad_ids(void **state) {
        char *root = fresh_root("links"), err[KS_RESET_ERR_MAX];
        char *real = app_dir(root, "real");
        char link[4096];
        snprintf(link, sizeof(link), "%s/app", root);
        assert_int_equal(symlink(real, link), 0);
        /* The application's directory is a link: refused, target intact. */
        assert_int_equal(wipe(root, "app", 0, err), -1);
        ASSERT_SAYS(err, "is not a directory (a symbolic link)");
        assert_true(exists(real, "0_0/rocksdb/000007.sst"));
        assert_true(exists(root, "app"));
        /* Ids that are no directory name of the library's. */
        const char *bad[] = {"..", ".", "a/b", ""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(wipe(root, bad[i], 0, err), -1);
                ASSERT_SAYS(err, "cannot name a state directory");
        }
        assert_true(exists(real, ".lock"));
        free(real);
        free(root);
}

/* A link inside (as a task's store could be) is removed, not followed:
 * what it points to stays. */
static void test_links_inside_not_followed(void **state) {
        char *root = fresh_root("inside"), err[KS_RESET_ERR_MAX];
        char *dir = app_dir(root, "app");
        char *outside = fresh_root("outside");
        write_file(outside, "precious", "keep me");
        char l1[4096], l2[4096];
        snprintf(l1, sizeof(l1), "%s/0_0/rocksdb/link-dir", dir);
        snprintf(l2, sizeof(l2), "%s/1_12/link-file", dir);
        assert_int_equal(symlink(outside, l1), 0);
        char target[4200];
        snprintf(target, sizeof(target), "%s/precious", outside);
        assert_int_equal(symlink(target, l2), 0);
        assert_int_equal(wipe(root, "app", 0, err), 0);
        assert_false(exists(root, "app"));
        assert_true(exists(outside, "precious"));
        free(outside);
        free(dir);
        free(root);
}

/* An instance running on the directory holds its lock: refused. */
static void test_refuses_locked(void **state) {
        char *root = fresh_root("locked"), err[KS_RESET_ERR_MAX];
        char *dir = app_dir(root, "app");
        int fd = ks__lock_dir(dir);
        assert_true(fd >= 0);
        assert_int_equal(wipe(root, "app", 0, err), -1);
        ASSERT_SAYS(err, "an instance of the application is using it");
        assert_int_equal(wipe(root, "app", 1, err), -1);
        assert_true(exists(dir, "0_0/rocksdb/000007.sst"));
        ks__unlock_dir(fd);
        assert_int_equal(wipe(root, "app", 0, err), 0);
        assert_false(exists(root, "app"));
        free(dir);
        free(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wipes_state_dir),
                cmocka_unit_test(test_refuses_foreign_content),
                cmocka_unit_test(test_refuses_links_and_bad_ids),
                cmocka_unit_test(test_links_inside_not_followed),
                cmocka_unit_test(test_refuses_locked),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
