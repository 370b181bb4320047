/* --local: wiping an application's state directory "<state.dir>/<id>",
 * the way Kafka Streams' cleanUp() does, with the checks a tool that
 * removes files owes its user.
 *
 * The directory is wiped only if it is what the library makes
 * (src/coord/app.c, src/state/state_dir.c): a directory (not a symbolic
 * link) of the user running the tool, holding its ".lock" file, perhaps
 * a "process-id" file and task directories "<sub>_<partition>", and
 * nothing else; and only if no instance holds its lock (the lock is taken
 * here and kept while removing, so none can start on it meanwhile).
 * Anything else is refused before anything is removed. Removal works
 * relative to open directory descriptors (openat, unlinkat with
 * O_NOFOLLOW): a symbolic link inside is removed, never followed, and a
 * directory on another file system (a mount) is refused. The state.dir
 * path itself is the user's and is taken as given. */
#include "reset_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deeper than the library ever nests (task dir, rocksdb, files). */
#define MAX_DEPTH 16

/* "<sub>_<partition>": a task directory. */
static int is_task_dir(const char *name) {
        const char *p = name;
        if (*p < '0' || *p > '9')
                return 0;
        while (*p >= '0' && *p <= '9')
                p++;
        if (*p++ != '_' || *p < '0' || *p > '9')
                return 0;
        while (*p >= '0' && *p <= '9')
                p++;
        return !*p;
}

/* Remove @p name in directory @p parent (whose path is @p path) and
 * everything below it, never following a link nor leaving device @p dev. */
static int remove_tree(int parent, const char *path, const char *name,
                       dev_t dev, int depth, char *err, size_t errsize) {
        char sub[4096];
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, name) >=
            sizeof(sub)) {
                snprintf(err, errsize, "%s/...: path too long", path);
                return -1;
        }
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW)) {
                snprintf(err, errsize, "%s: %s", sub, strerror(errno));
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(parent, name, 0)) {
                        snprintf(err, errsize, "removing %s: %s", sub,
                                 strerror(errno));
                        return -1;
                }
                return 0;
        }
        if (st.st_dev != dev || depth >= MAX_DEPTH) {
                snprintf(err, errsize, "%s: %s; not removed", sub,
                         st.st_dev != dev ? "on another file system"
                                          : "nested too deep");
                return -1;
        }
        int fd = openat(parent, name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                snprintf(err, errsize, "opening %s: %s", sub, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        int rc = 0;
        struct dirent *de;
        while (!rc && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        rc = remove_tree(dirfd(d), sub, de->d_name, dev,
                                         depth + 1, err, errsize);
        closedir(d);
        if (!rc && unlinkat(parent, name, AT_REMOVEDIR)) {
                snprintf(err, errsize, "removing %s: %s", sub, strerror(errno));
                rc = -1;
        }
        return rc;
}

/* Check that open directory @p dfd (path @p path) holds only what the
 * library puts there, ".lock" included. */
static int check_entries(int dfd, const char *path, char *err, size_t errsize) {
        int fd = dup(dfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                snprintf(err, errsize, "reading %s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        rewinddir(d); /* the duplicate shares its position */
        int rc = 0, lock = 0;
        struct stat self;
        if (fstat(dfd, &self)) {
                snprintf(err, errsize, "%s: %s", path, strerror(errno));
                closedir(d);
                return -1;
        }
        struct dirent *de;
        while (!rc && (de = readdir(d))) {
                const char *n = de->d_name;
                struct stat st;
                if (!strcmp(n, ".") || !strcmp(n, ".."))
                        continue;
                if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW)) {
                        snprintf(err, errsize, "%s/%s: %s", path, n,
                                 strerror(errno));
                        rc = -1;
                        break;
                }
                /* Another file system mounted inside: refused before
                 * anything is removed. */
                if (st.st_dev != self.st_dev) {
                        snprintf(err, errsize,
                                 "%s/%s is on another file system; nothing "
                                 "removed",
                                 path, n);
                        rc = -1;
                        break;
                }
                int file = !strcmp(n, ".lock") || !strcmp(n, "process-id");
                lock |= !strcmp(n, ".lock") && S_ISREG(st.st_mode);
                if (file ? !S_ISREG(st.st_mode)
                         : !is_task_dir(n) || !S_ISDIR(st.st_mode)) {
                        snprintf(err, errsize,
                                 "%s is not a kstreams-c state directory "
                                 "(\"%s\" is not one of its files or task "
                                 "directories); nothing removed",
                                 path, n);
                        rc = -1;
                }
        }
        closedir(d);
        if (!rc && !lock) {
                snprintf(err, errsize,
                         "%s is not a kstreams-c state directory (no .lock "
                         "file); nothing removed",
                         path);
                rc = -1;
        }
        return rc;
}

int ks__reset_local_wipe(const char *state_dir, const char *app_id, int dry_run,
                         FILE *out, char *err, size_t errsize) {
        char path[4096];
        if (!ks__reset_topic_name_ok(app_id)) {
                snprintf(err, errsize,
                         "application id \"%s\" cannot name a "
                         "state directory",
                         app_id);
                return -1;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, app_id) >=
            sizeof(path)) {
                snprintf(err, errsize, "--state-dir: path too long");
                return -1;
        }
        int root = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
                if (errno == ENOENT)
                        return 1;
                snprintf(err, errsize, "--state-dir %s: %s", state_dir,
                         strerror(errno));
                return -1;
        }
        int rc = -1, dfd = -1, lfd = -1;
        struct stat st, st2;
        if (fstatat(root, app_id, &st, AT_SYMLINK_NOFOLLOW)) {
                if (errno == ENOENT)
                        rc = 1;
                else
                        snprintf(err, errsize, "%s: %s", path, strerror(errno));
                goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
                snprintf(err, errsize,
                         "%s is not a directory%s; nothing "
                         "removed",
                         path, S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
                goto out;
        }
        if (st.st_uid != geteuid()) {
                snprintf(err, errsize,
                         "%s belongs to another user; nothing "
                         "removed",
                         path);
                goto out;
        }
        dfd = openat(root, app_id,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 || fstat(dfd, &st2) || st2.st_ino != st.st_ino ||
            st2.st_dev != st.st_dev) {
                snprintf(err, errsize, "opening %s: %s", path,
                         dfd < 0 ? strerror(errno) : "it changed meanwhile");
                goto out;
        }
        if (check_entries(dfd, path, err, errsize))
                goto out;
        lfd = openat(dfd, ".lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB)) {
                int e = errno;
                snprintf(err, errsize, "%s: %s; nothing removed", path,
                         e == EWOULDBLOCK ? "an instance of the application "
                                            "is using it (it holds the lock)"
                                          : strerror(e));
                goto out;
        }
        if (dry_run) {
                rc = 0;
                goto out;
        }
        /* Everything but the lock, then the lock, then the directory. */
        int fd = dup(dfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                snprintf(err, errsize, "reading %s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                goto out;
        }
        rewinddir(d); /* the duplicate shares its position */
        struct dirent *de;
        rc = 0;
        while (!rc && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                    strcmp(de->d_name, ".lock"))
                        rc = remove_tree(dfd, path, de->d_name, st.st_dev, 1,
                                         err, errsize);
        closedir(d);
        if (!rc && (unlinkat(dfd, ".lock", 0) ||
                    unlinkat(root, app_id, AT_REMOVEDIR))) {
                snprintf(err, errsize, "removing %s: %s", path,
                         strerror(errno));
                rc = -1;
        }
        if (!rc && out)
                fprintf(out, "wiped directory: %s\n", path);
out:
        if (lfd >= 0)
                close(lfd);
        if (dfd >= 0)
                close(dfd);
        close(root);
        return rc;
}
