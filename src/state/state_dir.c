/* State directories: creation with owner-only permissions, locks, removal
 * and the cleaner of task directories no task uses any more.
 *
 * Taking a directory's lock (which creates the directory) and the
 * cleaner's look at a directory happen under one process-wide mutex, so
 * the cleaner never removes a directory a task is about to lock. A lock's
 * file is touched when the lock is taken and released: its age is how
 * long no task has used the directory. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include "state_dir_int.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util_int.h"

/* The I/O error of a failed call, from errno: "<what> <path>: <reason>". */
static ks_err_t errno_error(ks_error_t **errp, const char *what,
                            const char *path) {
        int e = errno;
        return ks__error_set(errp, KS_ERR_IO, "%s %s: %s", what, path,
                             strerror(e));
}

ks_err_t ks__mkdirs(const char *path, ks_error_t **errp) {
        char *p = ks__strdup(path);
        if (!p)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        ks_err_t err = KS_ERR_NO_ERROR;
        size_t len = strlen(p);
        for (size_t i = 1; i <= len && !err; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                char c = p[i];
                p[i] = '\0';
                if (mkdir(p, 0700) && errno != EEXIST)
                        err = errno_error(errp, "cannot create state directory",
                                          p);
                p[i] = c;
        }
        struct stat st;
        if (!err && (stat(path, &st) || !S_ISDIR(st.st_mode)))
                err = ks__error_set(errp, KS_ERR_IO,
                                    "state directory %s is not a directory",
                                    path);
        free(p);
        return err;
}

ks_err_t ks__mkdtemp(const char *base, const char *prefix, char **outp,
                     ks_error_t **errp) {
        ks_err_t err = ks__mkdirs(base, errp);
        if (err)
                return err;
        size_t n = strlen(base) + strlen(prefix) + 9;
        char *tmpl = malloc(n);
        if (!tmpl)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        snprintf(tmpl, n, "%s/%sXXXXXX", base, prefix);
        if (!mkdtemp(tmpl)) {
                err = errno_error(errp, "cannot create a directory in", base);
                free(tmpl);
                return err;
        }
        *outp = tmpl;
        return KS_ERR_NO_ERROR;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) ? -1 : 0;
}

ks_err_t ks__rmtree(const char *path) {
        if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
                return KS_ERR_IO;
        return KS_ERR_NO_ERROR;
}

static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;

/* Lock @p dir (created as needed); call with dir_mu held. */
static int lock_dir_locked(const char *dir) {
        if (ks__mkdirs(dir, NULL))
                return -1;
        size_t n = strlen(dir) + 8;
        char *path = malloc(n);
        if (!path) {
                errno = ENOMEM;
                return -1;
        }
        snprintf(path, n, "%s/.lock", dir);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        free(path);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
                int e = errno;
                close(fd);
                errno = e;
                fd = -1;
        }
        return fd;
}

int ks__lock_dir(const char *dir) {
        pthread_mutex_lock(&dir_mu);
        int fd = lock_dir_locked(dir);
        if (fd >= 0)
                futimens(fd, NULL);
        int e = errno;
        pthread_mutex_unlock(&dir_mu);
        errno = e;
        return fd;
}

void ks__unlock_dir(int fd) {
        if (fd < 0)
                return;
        futimens(fd, NULL);
        close(fd); /* releases the flock */
}

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

ks_err_t ks__state_dir_clean(const char *dir, int64_t delay_ms,
                             size_t *removed) {
        *removed = 0;
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? KS_ERR_NO_ERROR : KS_ERR_IO;
        ks_err_t err = KS_ERR_NO_ERROR;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!is_task_dir(de->d_name))
                        continue;
                size_t n = strlen(dir) + strlen(de->d_name) + 8;
                char *path = malloc(n);
                if (!path)
                        break;
                snprintf(path, n, "%s/%s", dir, de->d_name);
                pthread_mutex_lock(&dir_mu);
                int fd = lock_dir_locked(path);
                struct stat st;
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                if (fd >= 0 && !fstat(fd, &st) &&
                    ((int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000 +
                     (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000) >=
                            delay_ms) {
                        if (ks__rmtree(path))
                                err = KS_ERR_IO;
                        else
                                (*removed)++;
                }
                if (fd >= 0)
                        close(fd);
                pthread_mutex_unlock(&dir_mu);
                free(path);
        }
        closedir(d);
        return err;
}
