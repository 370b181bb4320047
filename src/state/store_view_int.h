/* Store views: read-only views of one store of a task database as of one
 * moment, for threads other than the task's (interactive queries).
 *
 * A view reads one column family as of a RocksDB snapshot (the caller's)
 * through a backend of
 * its own (ks__kv_backend_ops_t), wrapped in a private key-value handle
 * and, for the other store types, the same timestamped, window or session
 * store code the task runs, built on that handle. It reads only the
 * database (what the task's commits and restores wrote), never the task's
 * staged writes, record caches or store handles, which belong to the task's
 * thread: RocksDB's database handle is safe to read from any thread.
 * Writes through a view are refused; the range deletes a window or
 * session store makes when it learns of expired segments are ignored (the
 * store still hides expired windows). Opening a view reads nothing.
 *
 * @locality any one thread at a time per view; the database must stay open
 *           until the view is closed (the caller pins the task). */
#ifndef KS_STORE_VIEW_INT_H
#define KS_STORE_VIEW_INT_H

#include "rocksdb_int.h"

typedef struct ks__store_view_s ks__store_view_t;

/** What a view needs of the store's definition. */
typedef struct {
        const char *name;
        ks_store_type_t type; /* not KS_STORE_TYPE_VERSIONED_KV */
        int64_t retention_ms; /* window and session stores */
        int64_t window_size_ms;
        int retain_duplicates;
} ks__store_view_def_t;

/** A snapshot of @p db as of now (NULL on OOM): what its commits and
 *  restores wrote so far. Any thread. */
const rocksdb_snapshot_t *ks__task_db_snapshot(ks__task_db_t *db);

/** Release @p snap of @p db (NULL: no-op); before the database closes. */
void ks__task_db_release_snapshot(ks__task_db_t *db,
                                  const rocksdb_snapshot_t *snap);

/** A view of store @p def->name of @p db as of @p snap (borrowed: it must
 *  outlive the view).
 *  @returns KS_ERR_NO_ERROR, KS_ERR_NOT_FOUND (no such column family),
 *           KS_ERR_STORE_TYPE (a versioned store), KS_ERR_NO_MEMORY. */
ks_err_t ks__store_view_open(ks__task_db_t *db, const rocksdb_snapshot_t *snap,
                             const ks__store_view_def_t *def,
                             const ks_config_t *conf, ks__store_view_t **viewp);

/** The key-value handle of the view: the store's stored bytes (for a
 *  timestamped store, `timestamp | value`). */
ks_kv_store_t *ks__store_view_kv(ks__store_view_t *v);

/** The typed store on it, or NULL when the view is of another type. */
ks_timestamped_kv_store_t *ks__store_view_timestamped(ks__store_view_t *v);
ks_window_store_t *ks__store_view_window(ks__store_view_t *v);
ks_session_store_t *ks__store_view_session(ks__store_view_t *v);

/** Close the view: its iterators end (KS_ERR_STORE_CLOSED). Destroy
 *  window and session iterators first.
 *  NULL is a no-op. */
void ks__store_view_close(ks__store_view_t *v);

#endif
