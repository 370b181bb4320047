/* RocksDB per-task databases and the RocksDB store backend.
 *
 * One ks__rocks_env_t per application holds what all tasks share: the block
 * cache (rocksdb.block.cache.bytes), table and column-family options. One
 * ks__task_db_t per task is a RocksDB database with one column family per
 * store and the metadata family KS_META_CF holding the task's checkpoint.
 *
 * Writes between commits are staged in the task's hash table of latest
 * values per key, which point reads consult before the database; iterators
 * see them through a WriteBatchWithIndex over the database, filled only once
 * an iterator is opened. Range deletes (a window or session store dropping
 * expired segments) are staged in a list of their own that reads do not
 * consult. ks__task_db_commit() writes the staged data and metadata, then
 * the staged range deletes, in one atomic write, so a store is never ahead
 * of or behind its own checkpoint. Restored records (a store rebuilt from its
 * changelog) skip both the table and the WAL; a commit whose write goes through
 * the WAL first flushes the column families holding such unlogged records, so a
 * crash never keeps a checkpoint whose data it lost.
 *
 * @locality the task's stream thread (the env is shared, read-only). */
#ifndef KS_ROCKSDB_INT_H
#define KS_ROCKSDB_INT_H

#include <rocksdb/c.h>

#include "kstreams/config.h"
#include "store_int.h"

#define KS_META_CF "__ks_meta"

typedef struct ks__rocks_env_s ks__rocks_env_t;
typedef struct ks__task_db_s ks__task_db_t;

ks_err_t ks__rocks_env_new(const ks_config_t *conf, ks__rocks_env_t **envp,
                           ks_error_t **errp);
void ks__rocks_env_destroy(ks__rocks_env_t *env);

/** Open (creating as needed) the database at @p path with a column family
 *  for each of @p stores. Errors name the path and carry RocksDB's text:
 *  KS_ERR_STORE when RocksDB finds the data corrupt, KS_ERR_IO for any
 *  other failure (disk full, permissions, open files, a held lock). */
ks_err_t ks__task_db_open(ks__rocks_env_t *env, const char *path,
                          const char *const *stores, size_t store_cnt,
                          ks__task_db_t **dbp, ks_error_t **errp);

/** Stage a metadata entry; written by the next commit. */
ks_err_t ks__task_db_stage_meta(ks__task_db_t *db, const char *key,
                                const void *value, size_t vlen);

/** Read a committed metadata entry into a malloc'd buffer (*valuep, free()).
 *  KS_ERR_NOT_FOUND if absent. */
ks_err_t ks__task_db_get_meta(ks__task_db_t *db, const char *key, void **valuep,
                              size_t *vlenp, ks_error_t **errp);

/** Write restored records (unlogged), then staged data, staged range
 *  deletes (after the data: a range delete also removes puts staged inside
 *  it) and metadata atomically, after flushing any unlogged records.
 *  Errors name the path. */
ks_err_t ks__task_db_commit(ks__task_db_t *db, ks_error_t **errp);

/** Write the restored records (unlogged), leaving staged writes staged;
 *  with @p flush, also start flushing them to table files (the next commit
 *  waits for that flush). */
ks_err_t ks__task_db_write_restored(ks__task_db_t *db, int flush,
                                    ks_error_t **errp);

/** Close the database, dropping uncommitted writes. NULL is a no-op. Every
 *  store backend on it must be closed first. */
void ks__task_db_close(ks__task_db_t *db);

/** RocksDB's figures of one store (column family) of a task database. */
typedef struct {
        uint64_t mem_tables;         /* bytes of its memtables */
        uint64_t pending_compaction; /* estimated bytes to compact */
        uint64_t live_sst;           /* bytes of its live table files */
} ks__db_figures_t;

/** The figures of column family @p store of @p db: 0 and *out filled, -1
 *  when it has no such column family. */
int ks__task_db_figures(ks__task_db_t *db, const char *store,
                        ks__db_figures_t *out);

/** Bytes in use in the environment's block cache. */
uint64_t ks__rocks_env_cache_usage(const ks__rocks_env_t *env);

/** A store backend for column family @p store (NULL if it has none or on
 *  OOM). */
void *ks__rocksdb_store_new(ks__task_db_t *db, const char *store);
extern const ks__kv_backend_ops_t ks__rocksdb_store_ops;

#endif
