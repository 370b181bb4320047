/* The inside of RocksDB task databases, shared by the database code
 * (rocksdb_store.c: environment, open, staging, commit) and the store
 * backend over one column family (rocksdb_backend.c). See rocksdb_int.h
 * for the model.
 *
 * @locality the task's stream thread. */
#ifndef KS_ROCKSDB_IMPL_INT_H
#define KS_ROCKSDB_IMPL_INT_H

#include "rocksdb_int.h"

struct ks__rocks_env_s {
        rocksdb_cache_t *cache;
        rocksdb_block_based_table_options_t *table;
        rocksdb_options_t *opts;
        rocksdb_writeoptions_t *wopts;
        rocksdb_writeoptions_t *wopts_nowal; /* restored records */
        rocksdb_flushoptions_t *flush;       /* waits */
        rocksdb_flushoptions_t *flush_async; /* only starts a flush */
        rocksdb_readoptions_t *ropts;
};

/* A staged write: the latest value (or delete) of one key of one column
 * family since the last commit. */
typedef struct {
        uint64_t hash;
        size_t cf; /* index in cfs */
        size_t klen, vlen, cap;
        int tomb;
        char data[]; /* the key, then the value (cap bytes in all) */
} staged_t;

/* A staged range delete [from, to) of one column family: written by the
 * commit after every staged put (see ks__task_db_commit()). */
typedef struct {
        size_t cf;
        size_t fromlen, tolen;
        char *from, *to;
} staged_range_t;

struct ks__task_db_s {
        ks__rocks_env_t *env;
        rocksdb_t *db;
        char *path;
        char **cf_names;
        rocksdb_column_family_handle_t **cfs;
        size_t cf_cnt;
        size_t meta; /* index of KS_META_CF in cfs */
        /* The writes since the last commit, one entry per key: a hash table
         * (open addressing, linear probing) that point reads consult
         * before the database. */
        staged_t **slots;
        size_t slot_cap, staged_cnt;
        /* The same writes indexed in key order, for iterators: filled
         * from the table when the first iterator of a commit interval
         * opens, then kept up to date until the commit. Point reads and
         * writes alone never pay for the ordered index. */
        rocksdb_writebatch_wi_t *wbwi;
        int indexed;
        /* Range deletes since the last commit, in order. Neither point
         * reads nor the index see them before the commit: their callers
         * never read what they delete (store_int.h). */
        staged_range_t *ranges;
        size_t range_cnt, range_cap;
        rocksdb_writebatch_t *batch; /* the commit's write */
        /* Restored records: nothing reads them before the batch is
         * written, so they skip the table. They are written without the
         * WAL (the changelog holds them); unflushed[i] marks a column
         * family holding such writes not yet flushed to a table file. */
        rocksdb_writebatch_t *restore;
        unsigned char *unflushed;
};

/** Position @p it at @p seek (NULL: the first key, or the last when
 *  @p reverse): the first key >= seek, or the last <= seek in reverse. */
void ks__rocks_iter_seek(rocksdb_iterator_t *it, int reverse, const void *seek,
                         size_t seeklen);

/** The next entry of @p it (the one it is at, the first time: *started
 *  0): 1 and the entry (borrowed until it moves), 0 at the end (*errp
 *  KS_ERR_STORE when RocksDB failed). */
int ks__rocks_iter_step(rocksdb_iterator_t *it, int reverse, int *started,
                        const void **kp, size_t *klp, const void **vp,
                        size_t *vlp, ks_err_t *errp);

/** The staged write of (@p cf, @p k), or NULL. */
const staged_t *ks__task_db_staged(ks__task_db_t *db, size_t cf, const void *k,
                                   size_t kl);

/** Stage the value @p v (NULL: a delete) of (@p cf, @p k) for the next
 *  commit. KS_ERR_NO_MEMORY. */
ks_err_t ks__task_db_stage(ks__task_db_t *db, size_t cf, const void *k,
                           size_t kl, const void *v, size_t vl);

/** Stage the deletion of [@p from, @p to) of @p cf, written by the next
 *  commit after the staged writes. KS_ERR_NO_MEMORY. */
ks_err_t ks__task_db_stage_range(ks__task_db_t *db, size_t cf, const void *from,
                                 size_t fromlen, const void *to, size_t tolen);

/** Make the ordered index of the staged writes current before an iterator
 *  reads through it (no-op with nothing staged or already indexed). */
void ks__task_db_index(ks__task_db_t *db);

#endif
