/* State manager [ProcessorStateManager]: a task's stores, their change
 * logging, checkpoints and restore hooks.
 *
 * A task with persistent stores owns the directory <state.dir>/<task id>,
 * locked with flock() against a second owner, holding one RocksDB
 * database with a column family per persistent store; in-memory stores
 * sit beside it. Each store has a slot (`ks__store_slot_t`: a key-value
 * store, or a timestamped, versioned, window or session store owning the
 * key-value handle it is built on)
 * and a changelog record (`ks__changelog_t`), both indexed like the
 * sub-topology's stores. A logged store calls task_log() after every
 * write; the collector keeps the offset of its last acknowledged record in
 * a slot of its own (named by the handle `slot`), so that a delivery
 * report served after the task is gone reaches nothing of the task. A commit
 * stages, beside the stores' data and in the same atomic write,
 * `source:<topic>:<p>` (the next input offset) and `changelog:<topic>:<p>` (the
 * changelog position) for each persistent store, so a store and its checkpoint
 * never disagree. Restores write around the change log
 * (ks__task_restore_put()), and a store whose changelog is its table's source
 * topic takes its position from the task's input. */
#include "task_impl_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "../state/state_dir_int.h"

/* --- opening: directory, lock, database, stores ------------------------- */

/* Lock the task directory against a second owner (another thread or
 * process using the same state.dir). */
static ks_err_t lock_dir(ks__task_t *t, ks_error_t **errp) {
        t->sm.lock_fd = ks__lock_dir(t->sm.dir);
        if (t->sm.lock_fd >= 0)
                return KS_ERR_NO_ERROR;
        int e = errno;
        return ks__error_set(errp, KS_ERR_STATE,
                             e == EWOULDBLOCK
                                     ? "state directory %s of task %s is "
                                       "locked by another owner (another "
                                       "instance or thread with the same "
                                       "state.dir)"
                                     : "cannot lock state directory %s of "
                                       "task %s: %s",
                             t->sm.dir, t->id, strerror(e));
}

/* Can the task's persistent stores be rebuilt from changelogs? */
static int all_persistent_logged(const ks__task_t *t) {
        if (!t->env.collector.send_changelog)
                return 0;
        for (size_t i = 0; i < t->sub->store_cnt; i++) {
                const ks__store_def_t *def =
                        &t->topo->stores[t->sub->stores[i]];
                if (def->backend == KS_STORE_ROCKSDB &&
                    (def->flags & KS_STORE_F_LOGGING_DISABLED))
                        return 0;
        }
        return 1;
}

static ks_err_t open_db(ks__task_t *t, const char **names, size_t cnt,
                        ks_error_t **errp) {
        size_t n = strlen(t->env.state_dir) + strlen(t->id) + 16;
        t->sm.dir = malloc(n);
        char *dbdir = malloc(n);
        if (!t->sm.dir || !dbdir) {
                free(dbdir);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        snprintf(t->sm.dir, n, "%s/%s", t->env.state_dir, t->id);
        snprintf(dbdir, n, "%s/rocksdb", t->sm.dir);
        ks_err_t err = lock_dir(t, errp); /* creates the directory */
        if (!err) {
                ks_error_t *e = NULL;
                err = ks__task_db_open(t->env.rocks, dbdir, names, cnt,
                                       &t->sm.db, &e);
                /* Only corruption wipes the state, and only when every
                 * store can be rebuilt from its changelog; any other
                 * failure stops the task with RocksDB's message. */
                if (err == KS_ERR_STORE && all_persistent_logged(t)) {
                        ks__log(t->env.conf, KS_LOG_WARNING, "TASK",
                                "task %s: %s; the state is corrupt: wiping "
                                "the local state and restoring it from the "
                                "changelogs",
                                t->id, ks_error_message(e));
                        ks_error_destroy(e);
                        e = NULL;
                        ks__rmtree(dbdir);
                        err = ks__task_db_open(t->env.rocks, dbdir, names, cnt,
                                               &t->sm.db, &e);
                }
                if (err && errp) {
                        ks_error_destroy(*errp);
                        *errp = e;
                } else {
                        ks_error_destroy(e);
                }
        }
        free(dbdir);
        return err;
}

/* The offset of the last acknowledged record of @p cl, -1. */
static int64_t delivered(const ks__task_t *t, const ks__changelog_t *cl) {
        return cl->slot ? t->env.collector.slot_offset(t->env.collector.opaque,
                                                       cl->slot)
                        : -1;
}

static ks_err_t task_log(void *opaque, const void *key, size_t klen,
                         const void *value, size_t vlen) {
        ks__changelog_t *cl = opaque;
        ks__task_t *t = cl->task;
        int64_t ts = t->ctx.timestamp >= 0 ? t->ctx.timestamp : 0;
        ks_error_t *e = NULL;
        ks_err_t err = t->env.collector.send_changelog(
                t->env.collector.opaque, cl->topic, t->partition, key, klen,
                value, vlen, ts, cl->slot, &e);
        if (err) {
                ks__task_pend_infra(t); /* no handler lets it pass */
                ks__task_pend(t, err, "task %s: changelog %s: %s", t->id,
                              cl->topic,
                              e ? ks_error_message(e) : ks_err2str(err));
                ks_error_destroy(e);
        }
        return err;
}

static void changelog_key(const ks__task_t *t, const char *topic, char *buf,
                          size_t size) {
        snprintf(buf, size, "changelog:%s:%" PRId32, topic, t->partition);
}

/* Stage the changelog checkpoint of store i (persistent, logged stores
 * only: in-memory stores restore from the start). 1 if staged. */
static int stage_changelog_checkpoint(ks__task_t *t, size_t i,
                                      int64_t next_offset) {
        const ks__changelog_t *cl = &t->sm.logs[i];
        if (!t->sm.db || !cl->topic ||
            t->sm.slots[i].kv->backend != KS_STORE_ROCKSDB)
                return 0;
        char key[320];
        uint8_t v[8];
        changelog_key(t, cl->topic, key, sizeof(key));
        ks__be64_put(v, (uint64_t)next_offset);
        ks__task_db_stage_meta(t->sm.db, key, v, sizeof(v));
        return 1;
}

ks_err_t ks__state_mgr_open(ks__task_t *t, ks_error_t **errp) {
        const ks__subtopology_t *sub = t->sub;
        ks_topology_t *topo = t->topo;
        t->sm.slots = calloc(sub->store_cnt ? sub->store_cnt : 1,
                             sizeof(*t->sm.slots));
        t->sm.logs = calloc(sub->store_cnt ? sub->store_cnt : 1,
                            sizeof(*t->sm.logs));
        if (!t->sm.slots || !t->sm.logs)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        size_t persistent = 0;
        for (size_t i = 0; i < sub->store_cnt; i++)
                if (topo->stores[sub->stores[i]].backend == KS_STORE_ROCKSDB)
                        persistent++;
        if (persistent) {
                const char **names = calloc(persistent, sizeof(char *));
                if (!names)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                size_t k = 0;
                for (size_t i = 0; i < sub->store_cnt; i++)
                        if (topo->stores[sub->stores[i]].backend ==
                            KS_STORE_ROCKSDB)
                                names[k++] = topo->stores[sub->stores[i]].name;
                ks_err_t err = open_db(t, names, persistent, errp);
                free(names);
                if (err)
                        return err;
        }
        const char *app = ks_config_get(t->env.conf, "application.id");
        for (size_t i = 0; i < sub->store_cnt; i++) {
                const ks__store_def_t *def = &topo->stores[sub->stores[i]];
                const ks__kv_backend_ops_t *ops;
                void *impl;
                if (def->backend == KS_STORE_ROCKSDB) {
                        ops = &ks__rocksdb_store_ops;
                        impl = ks__rocksdb_store_new(t->sm.db, def->name);
                } else {
                        ops = &ks__memory_store_ops;
                        impl = ks__memory_store_new();
                }
                ks__store_slot_t *slot = &t->sm.slots[i];
                ks_kv_store_t *kv =
                        impl ? ks__kv_store_new(def->name, def->backend, ops,
                                                impl, t->env.conf)
                             : NULL;
                if (kv)
                        kv->cache_budget = t->env.cache;
                if (kv && def->type == KS_STORE_TYPE_WINDOW) {
                        slot->window = ks__window_store_new(
                                kv, def->retention_ms, def->window_size_ms,
                                def->flags & KS_STORE_F_RETAIN_DUPLICATES);
                        kv = slot->window ? kv : NULL;
                } else if (kv && def->type == KS_STORE_TYPE_SESSION) {
                        slot->session =
                                ks__session_store_new(kv, def->retention_ms);
                        kv = slot->session ? kv : NULL;
                } else if (kv && def->type == KS_STORE_TYPE_VERSIONED_KV) {
                        slot->versioned = ks__versioned_kv_store_new(
                                kv, def->retention_ms);
                        kv = slot->versioned ? kv : NULL;
                } else if (kv && def->type == KS_STORE_TYPE_TIMESTAMPED_KV) {
                        slot->timestamped = ks__timestamped_kv_store_new(kv);
                        kv = slot->timestamped ? kv : NULL;
                        /* A table's topic holds plain values: restored
                         * behind their records' timestamps. */
                        if (kv && def->source_topic)
                                ks__timestamped_kv_store_restore_from_source(
                                        slot->timestamped);
                }
                if (!kv)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory opening store "
                                             "\"%s\"",
                                             def->name);
                slot->type = def->type;
                slot->kv = kv;
                ks__changelog_t *cl = &t->sm.logs[i];
                cl->task = t;
                cl->checkpoint = -1;
                cl->persisted = -1;
                if (!t->env.collector.send_changelog ||
                    (def->flags & KS_STORE_F_LOGGING_DISABLED))
                        continue;
                if (def->source_topic) {
                        /* A table's source topic is its changelog. */
                        if (!(cl->topic = ks__strdup(def->source_topic)))
                                return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                                     "out of memory");
                        cl->from_source = 1;
                } else {
                        size_t n = strlen(app) + strlen(def->name) + 16;
                        if (!(cl->topic = malloc(n)))
                                return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                                     "out of memory");
                        snprintf(cl->topic, n, "%s-%s-changelog", app,
                                 def->name);
                        if (!(cl->slot = t->env.collector.slot_open(
                                      t->env.collector.opaque)))
                                return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                                     "out of memory");
                        kv->log = task_log;
                        kv->log_opaque = cl;
                }
                if (def->backend != KS_STORE_ROCKSDB)
                        continue;
                char key[320];
                void *v;
                size_t vl;
                changelog_key(t, cl->topic, key, sizeof(key));
                ks_err_t err =
                        ks__task_db_get_meta(t->sm.db, key, &v, &vl, errp);
                if (err == KS_ERR_NO_ERROR) {
                        if (vl == 8)
                                cl->checkpoint = cl->persisted =
                                        (int64_t)ks__be64_get((uint8_t *)v);
                        free(v);
                } else if (err != KS_ERR_NOT_FOUND) {
                        return err;
                }
        }
        return KS_ERR_NO_ERROR;
}

ks__task_db_t *ks__task_db(ks__task_t *t) {
        return t->sm.db;
}

/* --- commit and close ---------------------------------------------------- */

ks_err_t ks__state_mgr_commit(ks__task_t *t, ks_error_t **errp) {
        if (!t->sm.db)
                return KS_ERR_NO_ERROR;
        for (size_t i = 0; i < t->part_cnt; i++) {
                if (t->parts[i].next_offset < 0)
                        continue;
                char key[320];
                uint8_t v[8];
                snprintf(key, sizeof(key), "source:%s:%" PRId32,
                         t->parts[i].topic, t->partition);
                ks__be64_put(v, (uint64_t)t->parts[i].next_offset);
                ks__task_db_stage_meta(t->sm.db, key, v, sizeof(v));
        }
        for (size_t i = 0; i < t->sub->store_cnt; i++)
                if (delivered(t, &t->sm.logs[i]) >= 0 ||
                    (t->sm.logs[i].from_source &&
                     ks__task_changelog_position(t, i) >= 0))
                        stage_changelog_checkpoint(
                                t, i, ks__task_changelog_position(t, i));
        return ks__task_db_commit(t->sm.db, errp);
}

void ks__state_mgr_close(ks__task_t *t) {
        for (size_t i = 0; t->sm.slots && i < t->sub->store_cnt; i++) {
                if (t->sm.slots[i].window)
                        ks__window_store_destroy(t->sm.slots[i].window);
                else if (t->sm.slots[i].session)
                        ks__session_store_destroy(t->sm.slots[i].session);
                else if (t->sm.slots[i].timestamped)
                        ks__timestamped_kv_store_destroy(
                                t->sm.slots[i].timestamped);
                else if (t->sm.slots[i].versioned)
                        ks__versioned_kv_store_destroy(
                                t->sm.slots[i].versioned);
                else
                        ks__kv_store_destroy(t->sm.slots[i].kv);
        }
        ks__task_db_close(t->sm.db);
        for (size_t i = 0; t->sm.logs && i < t->sub->store_cnt; i++) {
                if (t->sm.logs[i].slot)
                        t->env.collector.slot_close(t->env.collector.opaque,
                                                    t->sm.logs[i].slot);
                free(t->sm.logs[i].topic);
        }
        free(t->sm.logs);
        ks__unlock_dir(t->sm.lock_fd);
        free(t->sm.slots);
        free(t->sm.dir);
        t->sm.slots = NULL;
        t->sm.logs = NULL;
        t->sm.db = NULL;
        t->sm.dir = NULL;
        t->sm.lock_fd = -1;
}

/* --- stores by name and number, restore hooks ---------------------------- */

ks__store_slot_t *ks__state_mgr_slot(ks__task_t *t, const char *name) {
        for (size_t i = 0; i < t->sub->store_cnt; i++)
                if (t->sm.slots[i].kv && !strcmp(t->sm.slots[i].kv->name, name))
                        return &t->sm.slots[i];
        return NULL;
}

ks_kv_store_t *ks__task_store(ks__task_t *t, const char *name) {
        ks__store_slot_t *s = ks__state_mgr_slot(t, name);
        return s ? s->kv : NULL;
}

ks_err_t ks__task_store_type(const ks__task_t *t, const char *name,
                             ks_store_type_t *typep) {
        ks__store_slot_t *s = ks__state_mgr_slot((ks__task_t *)t, name);
        if (!s)
                return KS_ERR_NOT_FOUND;
        *typep = s->type;
        return KS_ERR_NO_ERROR;
}

ks_window_store_t *ks__task_window_store(ks__task_t *t, const char *name) {
        ks__store_slot_t *s = ks__state_mgr_slot(t, name);
        return s ? s->window : NULL;
}

ks_session_store_t *ks__task_session_store(ks__task_t *t, const char *name) {
        ks__store_slot_t *s = ks__state_mgr_slot(t, name);
        return s ? s->session : NULL;
}

ks_timestamped_kv_store_t *ks__task_timestamped_kv_store(ks__task_t *t,
                                                         const char *name) {
        ks__store_slot_t *s = ks__state_mgr_slot(t, name);
        return s ? s->timestamped : NULL;
}

ks_versioned_kv_store_t *ks__task_versioned_kv_store(ks__task_t *t,
                                                     const char *name) {
        ks__store_slot_t *s = ks__state_mgr_slot(t, name);
        return s ? s->versioned : NULL;
}

size_t ks__task_store_count(const ks__task_t *t) {
        return t->sub->store_cnt;
}

const char *ks__task_changelog_topic(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt ? t->sm.logs[i].topic : NULL;
}

const char *ks__task_store_name(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt ? t->sm.slots[i].kv->name : NULL;
}

int64_t ks__task_changelog_offset(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt ? t->sm.logs[i].checkpoint : -1;
}

void ks__task_changelog_in_sync(ks__task_t *t, size_t i, int64_t next_offset) {
        if (i < t->sub->store_cnt)
                t->sm.logs[i].checkpoint = next_offset;
}

int ks__task_changelog_from_source(const ks__task_t *t, size_t i) {
        return i < t->sub->store_cnt && t->sm.logs[i].from_source;
}

int64_t ks__task_changelog_position(const ks__task_t *t, size_t i) {
        if (i >= t->sub->store_cnt)
                return -1;
        if (t->sm.logs[i].from_source) {
                /* The input processed so far is the store's content. */
                ks__source_part_t *sp = ks__task_source_part(
                        (ks__task_t *)t, t->sm.logs[i].topic);
                return sp && sp->next_offset >= 0 ? sp->next_offset
                                                  : t->sm.logs[i].checkpoint;
        }
        int64_t d = delivered(t, &t->sm.logs[i]);
        return d >= 0 ? d + 1 : t->sm.logs[i].checkpoint;
}

int64_t ks__task_source_checkpoint(const ks__task_t *t, const char *topic) {
        if (!t->sm.db)
                return -1;
        char key[320];
        void *v;
        size_t vl;
        snprintf(key, sizeof(key), "source:%s:%" PRId32, topic, t->partition);
        if (ks__task_db_get_meta(t->sm.db, key, &v, &vl, NULL))
                return -1;
        int64_t off = vl == 8 ? (int64_t)ks__be64_get(v) : -1;
        free(v);
        return off;
}

ks_err_t ks__task_restore_put(ks__task_t *t, size_t i, const void *key,
                              size_t klen, const void *value, size_t vlen,
                              int64_t timestamp) {
        ks_kv_store_t *s = t->sm.slots[i].kv;
        if (s->closed)
                return KS_ERR_STORE_CLOSED;
        if (!key && t->sm.logs[i].from_source)
                return KS_ERR_NO_ERROR; /* a table skips null keys */
        static const char empty[1];
        return ks__kv_store_restore_put(s, key ? key : empty, key ? klen : 0,
                                        value, vlen, timestamp);
}

ks_err_t ks__task_restore_checkpoint(ks__task_t *t, size_t i,
                                     int64_t next_offset, int done,
                                     ks_error_t **errp) {
        ks__changelog_t *cl = &t->sm.logs[i];
        cl->checkpoint = next_offset;
        if (!t->sm.db)
                return KS_ERR_NO_ERROR;
        /* Restored records go to the database unlogged, and a checkpoint
         * written makes the database flush them first: the checkpoint that
         * ends a restore is written by the task's first commit (the flush
         * runs meanwhile), others every KS_RESTORE_CHECKPOINT_EVERY
         * offsets. */
        int staged = stage_changelog_checkpoint(t, i, next_offset);
        if (done)
                return ks__task_db_write_restored(t->sm.db, 1, errp);
        if (staged && next_offset - (cl->persisted < 0 ? 0 : cl->persisted) >=
                              KS_RESTORE_CHECKPOINT_EVERY) {
                cl->persisted = next_offset;
                return ks__task_db_commit(t->sm.db, errp);
        }
        return ks__task_db_write_restored(t->sm.db, 0, errp);
}

/* Keys a clear deletes at once: the memory of a clear is bounded whatever
 * the store holds. */
#define CLEAR_CHUNK 10000

/* Read up to CLEAR_CHUNK keys of @p s into @p keys / @p lens; *cnt. */
static ks_err_t clear_collect(ks_kv_store_t *s, char **keys, size_t *lens,
                              size_t *cnt) {
        void *cur;
        *cnt = 0;
        ks_err_t err = s->ops->cursor_open(s->impl, 0, NULL, 0, NULL, &cur);
        if (err)
                return err;
        const void *k, *v;
        size_t kl, vl;
        while (!err && *cnt < CLEAR_CHUNK &&
               s->ops->cursor_next(cur, &k, &kl, &v, &vl, &err)) {
                if (!(keys[*cnt] = malloc(kl + 1))) {
                        err = KS_ERR_NO_MEMORY;
                        break;
                }
                memcpy(keys[*cnt], k, kl);
                lens[(*cnt)++] = kl;
        }
        s->ops->cursor_close(cur);
        return err;
}

ks_err_t ks__task_store_clear(ks__task_t *t, size_t i, ks_error_t **errp) {
        ks_kv_store_t *s = t->sm.slots[i].kv;
        char **keys = malloc(CLEAR_CHUNK * sizeof(*keys));
        size_t *lens = malloc(CLEAR_CHUNK * sizeof(*lens));
        ks_err_t err = keys && lens ? KS_ERR_NO_ERROR : KS_ERR_NO_MEMORY;
        /* The deletes go the way the restored records go (ahead of them,
         * in order): staged as ordinary writes, they would be written
         * after the restore and wipe it. Chunk by chunk, each written
         * before the next is read. */
        ks_err_t (*del)(void *, const void *, size_t, const void *, size_t) =
                s->ops->restore_put ? s->ops->restore_put : s->ops->put;
        for (size_t cnt = 1; !err && cnt;) {
                err = clear_collect(s, keys, lens, &cnt);
                for (size_t j = 0; j < cnt; j++) {
                        if (!err)
                                err = del(s->impl, keys[j], lens[j], NULL, 0);
                        free(keys[j]);
                }
                /* Written now: reads (and the next chunk) see the deletes
                 * even when nothing is restored into the store. */
                if (!err && t->sm.db)
                        err = ks__task_db_commit(t->sm.db, errp);
        }
        free(keys);
        free(lens);
        if (err && errp && !*errp)
                ks__error_set(errp, err, "task %s: clearing store %s", t->id,
                              s->name);
        return err;
}

ks_err_t ks__task_relog(ks__task_t *t, size_t i, const void *key, size_t klen,
                        ks_error_t **errp) {
        ks_kv_store_t *s = t->sm.slots[i].kv;
        ks__changelog_t *cl = &t->sm.logs[i];
        static const char empty[1];
        if (!key)
                key = empty;
        const void *v = NULL;
        size_t vl = 0;
        ks_err_t err = s->ops->get(s->impl, key, klen, &v, &vl);
        if (err == KS_ERR_NOT_FOUND)
                v = NULL;
        else if (err)
                return ks__error_set(errp, err, "task %s: store %s", t->id,
                                     s->name);
        return t->env.collector.send_changelog(
                t->env.collector.opaque, cl->topic, t->partition, key, klen, v,
                vl, t->stream_time >= 0 ? t->stream_time : 0, cl->slot, errp);
}

int ks__task_store_figures(ks__task_t *t, size_t i, ks__db_figures_t *out) {
        if (!t->sm.db || i >= ks__task_store_count(t))
                return -1;
        return ks__task_db_figures(t->sm.db, ks__task_store_name(t, i), out);
}

ks__meter_t *ks__task_store_meters(ks__task_t *t, size_t i) {
        if (!t->sm.slots || i >= ks__task_store_count(t) || !t->sm.slots[i].kv)
                return NULL;
        return t->sm.slots[i].kv->meters;
}
