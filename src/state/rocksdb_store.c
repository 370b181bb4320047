/* RocksDB task databases: the shared environment, opening a task's
 * database, the staging of writes between commits, metadata and the commit
 * (see rocksdb_int.h for the model; the store backend over one column
 * family is rocksdb_backend.c). */
#include "rocksdb_impl_int.h"

#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define SLOTS_MIN  1024
#define SLOTS_KEEP 16384 /* larger tables are dropped at the commit */

/* The hash of key @p k in column family @p cf: a key staged in two
 * families hashes apart (the odd multiplier keeps distinct families
 * distinct in the low bits, which pick the slot). */
static uint64_t stage_hash(size_t cf, const void *k, size_t kl) {
        uint64_t h =
                ks__fnv1a64(k, kl) ^ ((uint64_t)cf * 0x9e3779b97f4a7c15ULL);
        return h ^ (h >> 29);
}

/* The slot holding (cf, k), or the empty slot where it would go. */
static staged_t **stage_slot(ks__task_db_t *db, uint64_t h, size_t cf,
                             const void *k, size_t kl) {
        size_t mask = db->slot_cap - 1;
        for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
                staged_t *e = db->slots[i];
                if (!e || (e->hash == h && e->cf == cf && e->klen == kl &&
                           !memcmp(e->data, k, kl)))
                        return &db->slots[i];
        }
}

const staged_t *ks__task_db_staged(ks__task_db_t *db, size_t cf, const void *k,
                                   size_t kl) {
        if (!db->staged_cnt)
                return NULL;
        return *stage_slot(db, stage_hash(cf, k, kl), cf, k, kl);
}

static int stage_grow(ks__task_db_t *db) {
        size_t cap = db->slot_cap ? db->slot_cap * 2 : SLOTS_MIN;
        staged_t **slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -1;
        staged_t **old = db->slots;
        size_t oldcap = db->slot_cap;
        db->slots = slots;
        db->slot_cap = cap;
        for (size_t i = 0; i < oldcap; i++)
                if (old[i])
                        *stage_slot(db, old[i]->hash, old[i]->cf, old[i]->data,
                                    old[i]->klen) = old[i];
        free(old);
        return 0;
}

static void wbwi_apply(ks__task_db_t *db, const staged_t *e) {
        if (e->tomb)
                rocksdb_writebatch_wi_delete_cf(db->wbwi, db->cfs[e->cf],
                                                e->data, e->klen);
        else
                rocksdb_writebatch_wi_put_cf(db->wbwi, db->cfs[e->cf], e->data,
                                             e->klen, e->data + e->klen,
                                             e->vlen);
}

ks_err_t ks__task_db_stage(ks__task_db_t *db, size_t cf, const void *k,
                           size_t kl, const void *v, size_t vl) {
        if ((db->staged_cnt + 1) * 2 > db->slot_cap && stage_grow(db))
                return KS_ERR_NO_MEMORY;
        if (!v)
                vl = 0;
        uint64_t h = stage_hash(cf, k, kl);
        staged_t **slot = stage_slot(db, h, cf, k, kl);
        staged_t *e = *slot;
        if (!e || e->cap < kl + vl) {
                size_t cap = kl + vl < 32 ? 32 : kl + vl;
                staged_t *n = realloc(e, sizeof(*n) + cap);
                if (!n)
                        return KS_ERR_NO_MEMORY;
                if (!e) {
                        n->hash = h;
                        n->cf = cf;
                        n->klen = kl;
                        memcpy(n->data, k, kl);
                        db->staged_cnt++;
                }
                n->cap = cap;
                e = *slot = n;
        }
        e->tomb = !v;
        e->vlen = vl;
        if (vl)
                memcpy(e->data + kl, v, vl);
        if (db->indexed)
                wbwi_apply(db, e);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__task_db_stage_range(ks__task_db_t *db, size_t cf, const void *from,
                                 size_t fromlen, const void *to, size_t tolen) {
        if (db->range_cnt == db->range_cap) {
                size_t cap = db->range_cap ? db->range_cap * 2 : 8;
                staged_range_t *n = realloc(db->ranges, cap * sizeof(*n));
                if (!n)
                        return KS_ERR_NO_MEMORY;
                db->ranges = n;
                db->range_cap = cap;
        }
        staged_range_t *r = &db->ranges[db->range_cnt];
        r->from = malloc(fromlen + 1);
        r->to = malloc(tolen + 1);
        if (!r->from || !r->to) {
                free(r->from);
                free(r->to);
                return KS_ERR_NO_MEMORY;
        }
        memcpy(r->from, from, fromlen);
        memcpy(r->to, to, tolen);
        r->fromlen = fromlen;
        r->tolen = tolen;
        r->cf = cf;
        db->range_cnt++;
        return KS_ERR_NO_ERROR;
}

void ks__task_db_index(ks__task_db_t *db) {
        /* With nothing staged the (empty) index is current: writes go on
         * unindexed until a cursor opens over some (a cursor at task start,
         * loading state, must not make every write of the first commit
         * interval pay for the ordered index). */
        if (db->indexed || !db->staged_cnt)
                return;
        for (size_t i = 0; i < db->slot_cap; i++)
                if (db->slots[i])
                        wbwi_apply(db, db->slots[i]);
        db->indexed = 1;
}

static void stage_clear(ks__task_db_t *db) {
        for (size_t i = 0; i < db->range_cnt; i++) {
                free(db->ranges[i].from);
                free(db->ranges[i].to);
        }
        db->range_cnt = 0;
        for (size_t i = 0; i < db->slot_cap && db->staged_cnt; i++)
                if (db->slots[i]) {
                        free(db->slots[i]);
                        db->slots[i] = NULL;
                        db->staged_cnt--;
                }
        if (db->slot_cap > SLOTS_KEEP) {
                free(db->slots);
                db->slots = NULL;
                db->slot_cap = 0;
        }
        db->staged_cnt = 0;
        if (db->indexed)
                rocksdb_writebatch_wi_clear(db->wbwi);
        db->indexed = 0;
}

ks_err_t ks__rocks_env_new(const ks_config_t *conf, ks__rocks_env_t **envp,
                           ks_error_t **errp) {
        ks__rocks_env_t *e = calloc(1, sizeof(*e));
        if (!e)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        size_t cache =
                (size_t)ks__config_int(conf, "rocksdb.block.cache.bytes");
        size_t wbuf =
                (size_t)ks__config_int(conf, "rocksdb.write.buffer.bytes");
        e->cache = rocksdb_cache_create_lru(cache ? cache : 1);
        e->table = rocksdb_block_based_options_create();
        e->opts = rocksdb_options_create();
        e->wopts = rocksdb_writeoptions_create();
        e->wopts_nowal = rocksdb_writeoptions_create();
        e->flush = rocksdb_flushoptions_create();
        e->flush_async = rocksdb_flushoptions_create();
        e->ropts = rocksdb_readoptions_create();
        if (!e->cache || !e->table || !e->opts || !e->wopts ||
            !e->wopts_nowal || !e->flush || !e->flush_async || !e->ropts) {
                ks__rocks_env_destroy(e);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        rocksdb_block_based_options_set_block_cache(e->table, e->cache);
        rocksdb_block_based_options_set_block_size(e->table, 4096);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(e->table,
                                                                      1);
        rocksdb_options_set_block_based_table_factory(e->opts, e->table);
        rocksdb_options_set_create_if_missing(e->opts, 1);
        rocksdb_options_set_create_missing_column_families(e->opts, 1);
        rocksdb_options_set_write_buffer_size(e->opts, wbuf);
        rocksdb_options_set_max_write_buffer_number(e->opts, 3);
        rocksdb_options_set_max_open_files(e->opts, -1);
        rocksdb_options_set_keep_log_file_num(e->opts, 2);
        rocksdb_options_set_max_background_jobs(e->opts, 2);
        /* Data and checkpoint live in different column families: the WAL
         * keeps a commit atomic across them after a crash. No fsync: the
         * changelog is the durable copy. */
        rocksdb_writeoptions_set_sync(e->wopts, 0);
        /* Restored records skip the WAL. A logged write must never be
         * replayed after a crash on top of unlogged ones that were lost:
         * ks__task_db_commit() flushes the column families holding unlogged
         * writes before its logged write (in practice once, with the
         * checkpoint that ends a restore). */
        rocksdb_writeoptions_disable_WAL(e->wopts_nowal, 1);
        rocksdb_flushoptions_set_wait(e->flush, 1);
        rocksdb_flushoptions_set_wait(e->flush_async, 0);
        *envp = e;
        return KS_ERR_NO_ERROR;
}

void ks__rocks_env_destroy(ks__rocks_env_t *e) {
        if (!e)
                return;
        if (e->ropts)
                rocksdb_readoptions_destroy(e->ropts);
        if (e->wopts)
                rocksdb_writeoptions_destroy(e->wopts);
        if (e->wopts_nowal)
                rocksdb_writeoptions_destroy(e->wopts_nowal);
        if (e->flush)
                rocksdb_flushoptions_destroy(e->flush);
        if (e->flush_async)
                rocksdb_flushoptions_destroy(e->flush_async);
        if (e->opts)
                rocksdb_options_destroy(e->opts);
        if (e->table)
                rocksdb_block_based_options_destroy(e->table);
        if (e->cache)
                rocksdb_cache_destroy(e->cache);
        free(e);
}

ks_err_t ks__task_db_open(ks__rocks_env_t *env, const char *path,
                          const char *const *stores, size_t store_cnt,
                          ks__task_db_t **dbp, ks_error_t **errp) {
        char *err = NULL;
        ks__task_db_t *db = calloc(1, sizeof(*db));
        if (!db)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        db->env = env;
        db->path = ks__strdup(path);

        /* Column families: what exists on disk, plus default, meta and every
         * store; RocksDB refuses to open without all existing ones. */
        size_t existing_cnt = 0;
        char **existing = rocksdb_list_column_families(env->opts, path,
                                                       &existing_cnt, &err);
        if (err) { /* a new database has none yet */
                rocksdb_free(err);
                err = NULL;
                /* The array is allocated even on failure. */
                rocksdb_list_column_families_destroy(existing, 0);
                existing = NULL;
                existing_cnt = 0;
        }
        size_t cap = existing_cnt + store_cnt + 2;
        db->cf_names = calloc(cap, sizeof(char *));
        if (!db->path || !db->cf_names) {
                rocksdb_list_column_families_destroy(existing, existing_cnt);
                ks__task_db_close(db);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
#define ADD_CF(nm)                                                             \
        do {                                                                   \
                int dup_ = 0;                                                  \
                for (size_t j_ = 0; j_ < db->cf_cnt; j_++)                     \
                        if (!strcmp(db->cf_names[j_], (nm)))                   \
                                dup_ = 1;                                      \
                if (!dup_)                                                     \
                        db->cf_names[db->cf_cnt++] = ks__strdup(nm);           \
        } while (0)
        ADD_CF("default");
        ADD_CF(KS_META_CF);
        for (size_t i = 0; i < existing_cnt; i++)
                ADD_CF(existing[i]);
        for (size_t i = 0; i < store_cnt; i++)
                ADD_CF(stores[i]);
#undef ADD_CF
        rocksdb_list_column_families_destroy(existing, existing_cnt);
        for (size_t i = 0; i < db->cf_cnt; i++)
                if (!db->cf_names[i]) {
                        ks__task_db_close(db);
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                }

        const rocksdb_options_t **cf_opts =
                calloc(db->cf_cnt, sizeof(*cf_opts));
        db->cfs = calloc(db->cf_cnt, sizeof(*db->cfs));
        if (!cf_opts || !db->cfs) {
                free(cf_opts);
                ks__task_db_close(db);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        for (size_t i = 0; i < db->cf_cnt; i++)
                cf_opts[i] = env->opts;
        db->db = rocksdb_open_column_families(env->opts, path, (int)db->cf_cnt,
                                              (const char *const *)db->cf_names,
                                              cf_opts, db->cfs, &err);
        free(cf_opts);
        if (err || !db->db) {
                /* Only corruption is KS_ERR_STORE (the store may be
                 * rebuilt); a full disk, missing permissions, too many open
                 * files or another owner's lock are not the data's fault. */
                ks_err_t code = err && !strncmp(err, "Corruption:", 11)
                                        ? KS_ERR_STORE
                                        : KS_ERR_IO;
                ks__error_set(errp, code,
                              "cannot open the RocksDB state at %s: %s", path,
                              err ? err : "unknown error");
                rocksdb_free(err);
                /* Handles are not valid when the open failed. */
                free(db->cfs);
                db->cfs = NULL;
                ks__task_db_close(db);
                return code;
        }
        for (size_t i = 0; i < db->cf_cnt; i++)
                if (!strcmp(db->cf_names[i], KS_META_CF))
                        db->meta = i;
        db->wbwi = rocksdb_writebatch_wi_create(0, 1);
        db->batch = rocksdb_writebatch_create();
        db->restore = rocksdb_writebatch_create();
        db->unflushed = calloc(db->cf_cnt, 1);
        if (!db->wbwi || !db->batch || !db->restore || !db->unflushed) {
                ks__task_db_close(db);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        *dbp = db;
        return KS_ERR_NO_ERROR;
}

void ks__task_db_close(ks__task_db_t *db) {
        if (!db)
                return;
        stage_clear(db);
        free(db->slots);
        free(db->ranges);
        if (db->wbwi)
                rocksdb_writebatch_wi_destroy(db->wbwi);
        if (db->batch)
                rocksdb_writebatch_destroy(db->batch);
        if (db->restore)
                rocksdb_writebatch_destroy(db->restore);
        free(db->unflushed);
        if (db->cfs) {
                for (size_t i = 0; i < db->cf_cnt; i++)
                        if (db->cfs[i])
                                rocksdb_column_family_handle_destroy(
                                        db->cfs[i]);
                free(db->cfs);
        }
        if (db->db)
                rocksdb_close(db->db);
        ks__strv_free(db->cf_names, db->cf_cnt);
        free(db->path);
        free(db);
}

ks_err_t ks__task_db_stage_meta(ks__task_db_t *db, const char *key,
                                const void *value, size_t vlen) {
        return ks__task_db_stage(db, db->meta, key, strlen(key), value, vlen);
}

ks_err_t ks__task_db_get_meta(ks__task_db_t *db, const char *key, void **valuep,
                              size_t *vlenp, ks_error_t **errp) {
        char *err = NULL;
        size_t vlen = 0;
        char *v = rocksdb_get_cf(db->db, db->env->ropts, db->cfs[db->meta], key,
                                 strlen(key), &vlen, &err);
        if (err) {
                ks__error_set(errp, KS_ERR_STORE,
                              "cannot read checkpoint \"%s\" in %s: %s", key,
                              db->path, err);
                rocksdb_free(err);
                return KS_ERR_STORE;
        }
        if (!v)
                return KS_ERR_NOT_FOUND;
        *valuep = v;
        *vlenp = vlen;
        return KS_ERR_NO_ERROR;
}

static ks_err_t store_error(ks__task_db_t *db, char *err, ks_error_t **errp) {
        ks__error_set(errp, KS_ERR_STORE, "cannot write the state of %s: %s",
                      db->path, err);
        rocksdb_free(err);
        return KS_ERR_STORE;
}

/* Flush every column family holding unlogged writes: with @p wait, until
 * they are in table files; else only start it (the flags stay set, a later
 * waiting flush also waits for the one started). */
static ks_err_t flush_unlogged(ks__task_db_t *db, int wait, ks_error_t **errp) {
        char *err = NULL;
        for (size_t i = 0; i < db->cf_cnt; i++) {
                if (!db->unflushed[i])
                        continue;
                rocksdb_flush_cf(db->db,
                                 wait ? db->env->flush : db->env->flush_async,
                                 db->cfs[i], &err);
                if (err)
                        return store_error(db, err, errp);
                if (wait)
                        db->unflushed[i] = 0;
        }
        return KS_ERR_NO_ERROR;
}

static ks_err_t write_restored(ks__task_db_t *db, ks_error_t **errp) {
        char *err = NULL;
        if (!rocksdb_writebatch_count(db->restore))
                return KS_ERR_NO_ERROR;
        rocksdb_write(db->db, db->env->wopts_nowal, db->restore, &err);
        if (err)
                return store_error(db, err, errp);
        rocksdb_writebatch_clear(db->restore);
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__task_db_write_restored(ks__task_db_t *db, int flush,
                                    ks_error_t **errp) {
        ks_err_t err = write_restored(db, errp);
        if (!err && flush)
                err = flush_unlogged(db, 0, errp);
        return err;
}

ks_err_t ks__task_db_commit(ks__task_db_t *db, ks_error_t **errp) {
        char *err = NULL;
        ks_err_t e = write_restored(db, errp);
        if (e)
                return e;
        if (!db->staged_cnt && !db->range_cnt)
                return KS_ERR_NO_ERROR;
        /* Unlogged writes reach table files before this logged write can
         * reach the WAL: a crash never keeps a checkpoint whose data it
         * lost. */
        if ((e = flush_unlogged(db, 1, errp)))
                return e;
        rocksdb_writebatch_clear(db->batch);
        for (size_t i = 0; i < db->slot_cap; i++) {
                const staged_t *s = db->slots[i];
                if (!s)
                        continue;
                if (s->tomb)
                        rocksdb_writebatch_delete_cf(db->batch, db->cfs[s->cf],
                                                     s->data, s->klen);
                else
                        rocksdb_writebatch_put_cf(db->batch, db->cfs[s->cf],
                                                  s->data, s->klen,
                                                  s->data + s->klen, s->vlen);
        }
        /* After the puts: a put staged inside a dropped range predates the
         * drop (nothing writes into a range once it is dropped), so the
         * range delete must win over it. */
        for (size_t i = 0; i < db->range_cnt; i++) {
                const staged_range_t *r = &db->ranges[i];
                rocksdb_writebatch_delete_range_cf(db->batch, db->cfs[r->cf],
                                                   r->from, r->fromlen, r->to,
                                                   r->tolen);
        }
        rocksdb_write(db->db, db->env->wopts, db->batch, &err);
        rocksdb_writebatch_clear(db->batch);
        if (err)
                return store_error(db, err, errp);
        stage_clear(db);
        return KS_ERR_NO_ERROR;
}

int ks__task_db_figures(ks__task_db_t *db, const char *store,
                        ks__db_figures_t *out) {
        for (size_t i = 0; db && i < db->cf_cnt; i++) {
                if (strcmp(db->cf_names[i], store))
                        continue;
                static const char *const props[] = {
                        "rocksdb.cur-size-all-mem-tables",
                        "rocksdb.estimate-pending-compaction-bytes",
                        "rocksdb.live-sst-files-size"};
                uint64_t v[3] = {0, 0, 0};
                for (size_t k = 0; k < 3; k++)
                        if (rocksdb_property_int_cf(db->db, db->cfs[i],
                                                    props[k], &v[k]))
                                v[k] = 0;
                *out = (ks__db_figures_t){v[0], v[1], v[2]};
                return 0;
        }
        return -1;
}

uint64_t ks__rocks_env_cache_usage(const ks__rocks_env_t *env) {
        return env && env->cache ? (uint64_t)rocksdb_cache_get_usage(env->cache)
                                 : 0;
}
