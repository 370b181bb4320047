/* State directories: creation with owner-only permissions and removal. */
#define _XOPEN_SOURCE 700
#include "state_dir_int.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util_int.h"

ks_err_t ks__mkdirs(const char *path, ks_error_t **errp) {
        char *p = ks__strdup(path);
        if (!p)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        size_t len = strlen(p);
        for (size_t i = 1; i <= len; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                char c = p[i];
                p[i] = '\0';
                if (mkdir(p, 0700) && errno != EEXIST) {
                        int e = errno;
                        ks__error_set(errp, KS_ERR_IO,
                                      "cannot create state directory %s: %s", p,
                                      strerror(e));
                        free(p);
                        return KS_ERR_IO;
                }
                p[i] = c;
        }
        struct stat st;
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
                ks__error_set(errp, KS_ERR_IO,
                              "state directory %s is not a directory", path);
                free(p);
                return KS_ERR_IO;
        }
        free(p);
        return KS_ERR_NO_ERROR;
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
                int e = errno;
                ks__error_set(errp, KS_ERR_IO,
                              "cannot create a directory in %s: %s", base,
                              strerror(e));
                free(tmpl);
                return KS_ERR_IO;
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

int ks__lock_dir(const char *dir) {
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
