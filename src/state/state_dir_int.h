/* State directories: creation with owner-only permissions and removal. */
#ifndef KS_STATE_DIR_INT_H
#define KS_STATE_DIR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kstreams/error.h"

/** mkdir -p @p path with mode 0700 for the directories it creates. Errors
 *  name the directory and carry strerror. */
ks_err_t ks__mkdirs(const char *path, ks_error_t **errp);

/** Create a fresh directory "<base>/<prefix>XXXXXX" (creating base);
 *  *outp is malloc'd. */
ks_err_t ks__mkdtemp(const char *base, const char *prefix, char **outp,
                     ks_error_t **errp);

/** Lock directory @p dir (created as needed) against other owners:
 *  flock(LOCK_EX|LOCK_NB) on "<dir>/.lock". Returns the locked descriptor
 *  (release it with ks__unlock_dir()), or -1 with errno set (EWOULDBLOCK:
 *  another owner holds it). Thread-safe. */
int ks__lock_dir(const char *dir);

/** Release a lock of ks__lock_dir(), marking the directory as used now.
 *  -1 is a no-op. */
void ks__unlock_dir(int fd);

/** Remove every task directory ("<sub>_<partition>") below @p dir that no
 *  task holds and none has used for @p delay_ms; *removed counts them.
 *  Thread-safe against ks__lock_dir(). */
ks_err_t ks__state_dir_clean(const char *dir, int64_t delay_ms,
                             size_t *removed);

/** rm -rf @p path. Returns KS_ERR_IO if something could not be removed. */
ks_err_t ks__rmtree(const char *path);

#endif
