/* Fixtures for the unit tests of stores built on a key-value handle
 * (window and session stores): a key-value handle on either backend (an
 * in-memory map, or a column family of a task database in a temporary
 * directory) behind a spy that counts the backend calls, commits, a count
 * of what the backend physically holds, and a reopen that brings the
 * stored entries back as a changelog restore would. Every function fails
 * the test (cmocka) on an error. */
#ifndef KST_STORE_H
#define KST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ks_test.h"
#include "state/rocksdb_int.h"

typedef struct {
        ks_store_backend_t backend;
        ks_config_t *conf;
        ks__rocks_env_t *env;
        ks__task_db_t *db; /* RocksDB, while a handle is open */
        char *dir;
        char name[32];
        /* Backend calls through the handles of this fixture. */
        unsigned range_deletes; /* delete_range */
        unsigned key_deletes;   /* put or restore_put of NULL */
} kst_store_t;

/** A fixture for store @p name on @p backend (nothing open yet). */
kst_store_t *kst_store_new(ks_store_backend_t backend, const char *name);

/** A new key-value handle of the store (for RocksDB on the task database,
 *  opened now over what the directory holds). The caller gives it to the
 *  store under test, which destroys it; then call kst_store_closed(). */
ks_kv_store_t *kst_store_open(kst_store_t *s);

/** The handle was destroyed: close the task database (dropping what was
 *  not committed). */
void kst_store_closed(kst_store_t *s);

/** Commit the task database (no-op in memory). */
void kst_store_commit(kst_store_t *s);

/** The number of entries @p kv physically holds (an iteration of the
 *  backend; for RocksDB after a commit, range deletes included). In
 *  memory, also checks that the exact entry count agrees. */
size_t kst_store_physical(kst_store_t *s, ks_kv_store_t *kv);

/** Copies of every entry of @p kv, to bring back with kst_store_restore(). */
typedef struct kst_entries_s kst_entries_t;
kst_entries_t *kst_store_entries(ks_kv_store_t *kv);

/** Write @p entries into @p kv the way a changelog restore does
 *  (kst_store_restore_put() each, then kst_store_restore_end()), and free
 *  them. */
void kst_store_restore(kst_store_t *s, ks_kv_store_t *kv,
                       kst_entries_t *entries);

/** Write one restored record (NULL value: a delete) through the backend's
 *  restore path, as the changelog reader does. */
void kst_store_restore_put(ks_kv_store_t *kv, const void *k, size_t kl,
                           const void *v, size_t vl);

/** End a restore: write the restored records as the end of a restore
 *  does, before the task processes. */
void kst_store_restore_end(kst_store_t *s);

/** Close everything and remove the directory. NULL is a no-op. */
void kst_store_destroy(kst_store_t *s);

#endif
