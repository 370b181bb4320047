/* State directories: creation with owner-only permissions and removal. */
#ifndef KS_STATE_DIR_INT_H
#define KS_STATE_DIR_INT_H

#include "kstreams/error.h"

/** mkdir -p @p path with mode 0700 for the directories it creates. Errors
 *  name the directory and carry strerror. */
ks_err_t ks__mkdirs(const char *path, ks_error_t **errp);

/** Create a fresh directory "<base>/<prefix>XXXXXX" (creating base);
 *  *outp is malloc'd. */
ks_err_t ks__mkdtemp(const char *base, const char *prefix, char **outp,
                     ks_error_t **errp);

/** Lock directory @p dir against other owners: flock(LOCK_EX|LOCK_NB) on
 *  "<dir>/.lock". Returns the locked descriptor (close it to release), or
 *  -1 with errno set (EWOULDBLOCK: another owner holds it). */
int ks__lock_dir(const char *dir);

/** rm -rf @p path. Returns KS_ERR_IO if something could not be removed. */
ks_err_t ks__rmtree(const char *path);

#endif
