/* Interactive queries (kstreams/query.h): point lookups, iterators and key
 * metadata over the tasks this instance holds.
 *
 * A query finds the store's definition and sub-topology in the topology,
 * the key's partition (murmur2 of the key bytes over the partitions of the
 * sub-topology's source topics, as the producer's default partitioner), and
 * the task's entry in the query registry (query_registry_int.h), which it
 * locks for each read. It reads through a store view (store_view_int.h) on
 * the snapshot the task published (at its start, and after each commit the
 * group accepted), never the task's own handles, staged writes or caches.
 *
 * An iterator holds a reference to the entry of every task it covers and
 * reads them one after the other (ascending partition). While it reads a
 * task it is attached to that entry as a cursor: when the task closes, the
 * stream thread releases the iterator's view and RocksDB iterator under the
 * entry's lock, and the iterator answers KS_ERR_STORE_MIGRATED. Entries are
 * copied out of the view into the iterator's buffers, so what the caller
 * borrows stays valid whatever the stream thread does until the next
 * call. */
#include "kstreams/query.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "app_int.h"
#include "../state/store_view_int.h"

/* What a query knows of its store. */
typedef struct {
        const ks__store_def_t *def;
        int sub;
        int32_t topic_index; /* a source topic of the store's sub-topology */
        int32_t partitions;
} qstore_t;

/* The store @p name of @p app's topology, with the app in a state that
 * can answer queries. */
static ks_err_t resolve(ks_app_t *app, const char *name, qstore_t *qs,
                        ks_error_t **errp) {
        if (!app || !name)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "a query needs an app and a store name");
        ssize_t i = ks__topology_store_index(app->topo, name);
        if (i < 0 || app->topo->stores[i].subtopology < 0)
                return ks__error_set(errp, KS_ERR_NOT_FOUND,
                                     "no state store \"%s\" in the topology",
                                     name);
        qs->def = &app->topo->stores[i];
        qs->sub = qs->def->subtopology;
        ks_app_state_t st = ks_app_state(app);
        if (st != KS_APP_RUNNING && st != KS_APP_REBALANCING)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "store \"%s\" cannot be queried while "
                                     "the app is %s (RUNNING or REBALANCING "
                                     "only)",
                                     name, ks_app_state_name(st));
        qs->topic_index = -1;
        const ks_topology_t *topo = app->topo;
        for (size_t n = 0; qs->topic_index < 0 && n < topo->node_cnt; n++) {
                const ks__node_t *nd = topo->nodes[n];
                if (nd->kind == KS_NODE_SOURCE && nd->subtopology == qs->sub &&
                    nd->topic_cnt)
                        qs->topic_index =
                                ks__topology_topic_index(topo, nd->topics[0]);
        }
        qs->partitions = qs->topic_index >= 0 && app->topic_partitions
                                 ? app->topic_partitions[qs->topic_index]
                                 : 0;
        if (qs->partitions <= 0)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "store \"%s\": the partitions of its "
                                     "input are not known",
                                     name);
        if (qs->def->backend != KS_STORE_ROCKSDB)
                return ks__error_set(errp, KS_ERR_STORE_TYPE,
                                     "store \"%s\" is in memory: interactive "
                                     "queries read persistent (RocksDB) "
                                     "stores only",
                                     name);
        return KS_ERR_NO_ERROR;
}

static ks_err_t want_type(const qstore_t *qs, int kv, ks_store_type_t type,
                          ks_error_t **errp) {
        ks_store_type_t t = qs->def->type;
        int ok = kv ? t == KS_STORE_TYPE_KEY_VALUE ||
                                 t == KS_STORE_TYPE_TIMESTAMPED_KV
                    : t == type;
        if (ok)
                return KS_ERR_NO_ERROR;
        return ks__error_set(errp, KS_ERR_STORE_TYPE,
                             "store \"%s\" is a %s store: this query reads %s "
                             "stores",
                             qs->def->name, ks__store_type_name(t),
                             kv ? "key-value or timestamped key-value"
                                : ks__store_type_name(type));
}

static int32_t key_partition(const qstore_t *qs, const void *key, size_t klen) {
        /* librdkafka's murmur2 partitioner (Kafka's default), which the
         * library's producers use: a non-NULL key of 0 bytes is hashed. */
        return rd_kafka_msg_partitioner_murmur2(NULL, key ? key : "", klen,
                                                qs->partitions, NULL, NULL);
}

/* The error of a task entry that cannot be read. */
static ks_err_t task_error(ks_error_t **errp, ks_err_t st, const char *store,
                           int sub, int32_t p) {
        if (st == KS_ERR_STORE_RESTORING)
                return ks__error_setf(errp, st, KS_ERROR_F_RETRIABLE,
                                      "store \"%s\": task %d_%" PRId32
                                      " is initializing or restoring",
                                      store, sub, p);
        if (st == KS_ERR_STORE)
                return ks__error_set(errp, st,
                                     "store \"%s\": task %d_%" PRId32
                                     " published no state (out of memory)",
                                     store, sub, p);
        return ks__error_setf(errp, KS_ERR_STORE_MIGRATED, KS_ERROR_F_RETRIABLE,
                              "store \"%s\": task %d_%" PRId32
                              " is not held by this instance (it closed: a "
                              "rebalance)",
                              store, sub, p);
}

/* The entry of the task holding @p key's partition, with a reference. */
static ks__qtask_t *key_task(ks_app_t *app, const qstore_t *qs, const void *key,
                             size_t klen, ks_error_t **errp) {
        int32_t p = key_partition(qs, key, klen);
        ks__qtask_t *t = ks__qreg_find(app->queries, qs->sub, p);
        if (!t)
                ks__error_setf(
                        errp, KS_ERR_STORE_MIGRATED, KS_ERROR_F_RETRIABLE,
                        "store \"%s\": the key's partition %" PRId32
                        " (task %d_%" PRId32 ") is not held by this instance",
                        qs->def->name, p, qs->sub, p);
        return t;
}

static ks__store_view_def_t view_def(const ks__store_def_t *def) {
        return (ks__store_view_def_t){
                def->name, def->type, def->retention_ms, def->window_size_ms,
                (def->flags & KS_STORE_F_RETAIN_DUPLICATES) != 0};
}

static ks_err_t view_error(ks_error_t **errp, ks_err_t err, const char *store) {
        return ks__error_set(errp, err == KS_ERR_NO_MEMORY ? err : KS_ERR_STORE,
                             "store \"%s\": cannot read it: %s", store,
                             ks_err2str(err));
}

ks_err_t ks_app_query_kv(ks_app_t *app, const char *store, const void *key,
                         size_t klen, void **value, size_t *vlen, int64_t *ts,
                         ks_error_t **errp) {
        if (value)
                *value = NULL;
        if (vlen)
                *vlen = 0;
        if (ts)
                *ts = -1;
        if (!key || !value || !vlen)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "ks_app_query_kv needs a key, value and "
                                     "vlen");
        qstore_t qs;
        ks_err_t err = resolve(app, store, &qs, errp);
        if (err || (err = want_type(&qs, 1, 0, errp)))
                return err;
        ks__qtask_t *t = key_task(app, &qs, key, klen, errp);
        if (!t)
                return KS_ERR_STORE_MIGRATED;
        ks__task_db_t *db;
        ks__qsnap_t *snap;
        ks__store_view_t *v = NULL;
        ks__store_view_def_t vd = view_def(qs.def);
        ks_err_t st = ks__qtask_lock(t, &db, &snap);
        if (st)
                err = task_error(errp, st, store, qs.sub,
                                 ks__qtask_partition(t));
        else if ((err = ks__store_view_open(db, ks__qsnap_get(snap), &vd,
                                            app->conf, &v)))
                err = view_error(errp, err, store);
        if (!err) {
                const void *val = NULL;
                size_t vl = 0;
                int64_t stamp = -1;
                ks_err_t ge = qs.def->type == KS_STORE_TYPE_TIMESTAMPED_KV
                                      ? ks_timestamped_kv_store_get(
                                                ks__store_view_timestamped(v),
                                                key, klen, &val, &vl, &stamp)
                                      : ks_kv_store_get(ks__store_view_kv(v),
                                                        key, klen, &val, &vl);
                if (ge == KS_ERR_NO_ERROR) {
                        if (!(*value = malloc(vl ? vl : 1)))
                                err = ks__error_set(errp, KS_ERR_NO_MEMORY,
                                                    "out of memory");
                        else {
                                memcpy(*value, val, vl);
                                *vlen = vl;
                                if (ts)
                                        *ts = stamp;
                        }
                } else if (ge != KS_ERR_NOT_FOUND) {
                        err = view_error(errp, ge, store);
                }
        }
        ks__store_view_close(v);
        ks__qtask_unlock(t);
        ks__qtask_unref(t);
        return err;
}

/* --- iterators ------------------------------------------------------------ */

typedef enum { M_RANGE, M_PREFIX, M_ALL, M_WINDOW, M_SESSION } qmode_t;

struct ks_query_iter_s {
        ks__qcursor_t cursor; /* first: the registry calls back with it */
        qmode_t mode;
        const ks_config_t *conf;
        ks__store_view_def_t vdef;
        char *name;
        void *a, *b; /* from and to; the prefix; the key */
        size_t alen, blen;
        int64_t t_from, t_to;
        ks__qtask_t **tasks; /* referenced */
        size_t cnt, pos;
        ks__qtask_t *attached; /* the one read now, or NULL */
        ks__qsnap_t *snap;     /* referenced while the view is open */
        ks__store_view_t *view;
        ks_kv_iter_t *kvit;
        ks_window_iter_t *wit;
        ks_session_iter_t *sit;
        int invalidated; /* under the lock of `attached` */
        ks_err_t done;   /* -1 while going; else how it ended */
        char *kbuf, *vbuf;
        size_t kcap, vcap;
};

/* Release what reads the database. With the entry's lock held. */
static void release_inner(ks_query_iter_t *it) {
        ks_kv_iter_destroy(it->kvit);
        ks_window_iter_destroy(it->wit);
        ks_session_iter_destroy(it->sit);
        ks__store_view_close(it->view);
        ks__qsnap_unref(it->snap);
        it->snap = NULL;
        it->kvit = NULL;
        it->wit = NULL;
        it->sit = NULL;
        it->view = NULL;
}

/* The stream thread closes the task (its lock held; detached). */
static void invalidate(ks__qcursor_t *c) {
        ks_query_iter_t *it = (ks_query_iter_t *)c;
        release_inner(it);
        it->invalidated = 1;
}

static void *dup_bytes(const void *p, size_t n) {
        void *d = malloc(n ? n : 1);
        if (d && n)
                memcpy(d, p, n);
        return d;
}

static ks_query_iter_t *iter_new(ks_app_t *app, const qstore_t *qs,
                                 qmode_t mode, ks_error_t **errp) {
        ks_query_iter_t *it = calloc(1, sizeof(*it));
        if (!it || !(it->name = ks__strdup(qs->def->name))) {
                free(it);
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        it->cursor.invalidate = invalidate;
        it->mode = mode;
        it->conf = app->conf;
        it->vdef = view_def(qs->def);
        it->vdef.name = it->name;
        it->done = (ks_err_t)-1;
        return it;
}

void ks_query_iter_destroy(ks_query_iter_t *it) {
        if (!it)
                return;
        if (it->attached) {
                ks__task_db_t *db;
                ks__qsnap_t *snap;
                ks__qtask_lock(it->attached, &db, &snap);
                if (!it->invalidated) {
                        release_inner(it);
                        ks__qtask_detach(it->attached, &it->cursor);
                }
                ks__qtask_unlock(it->attached);
        }
        for (size_t i = 0; i < it->cnt; i++)
                ks__qtask_unref(it->tasks[i]);
        free(it->tasks);
        free(it->name);
        free(it->a);
        free(it->b);
        free(it->kbuf);
        free(it->vbuf);
        free(it);
}

/* Every task of the iterator must run now. */
static ks_query_iter_t *iter_ready(ks_query_iter_t *it, int sub,
                                   ks_error_t **errp) {
        for (size_t i = 0; i < it->cnt; i++) {
                ks__task_db_t *db;
                ks__qsnap_t *snap;
                ks_err_t st = ks__qtask_lock(it->tasks[i], &db, &snap);
                ks__qtask_unlock(it->tasks[i]);
                if (st) {
                        task_error(errp, st, it->name, sub,
                                   ks__qtask_partition(it->tasks[i]));
                        ks_query_iter_destroy(it);
                        return NULL;
                }
        }
        return it;
}

static ks_query_iter_t *kv_iter(ks_app_t *app, const char *store, qmode_t mode,
                                const void *a, size_t alen, const void *b,
                                size_t blen, ks_error_t **errp) {
        qstore_t qs;
        if (resolve(app, store, &qs, errp) || want_type(&qs, 1, 0, errp))
                return NULL;
        ks_query_iter_t *it = iter_new(app, &qs, mode, errp);
        if (!it)
                return NULL;
        it->alen = alen;
        it->blen = blen;
        if ((a && !(it->a = dup_bytes(a, alen))) ||
            (b && !(it->b = dup_bytes(b, blen))) ||
            ks__qreg_list(app->queries, qs.sub, &it->tasks, &it->cnt)) {
                ks_query_iter_destroy(it);
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        return iter_ready(it, qs.sub, errp);
}

ks_query_iter_t *ks_app_query_kv_range(ks_app_t *app, const char *store,
                                       const void *from, size_t flen,
                                       const void *to, size_t tlen,
                                       ks_error_t **errp) {
        return kv_iter(app, store, M_RANGE, from, flen, to, tlen, errp);
}

ks_query_iter_t *ks_app_query_kv_prefix(ks_app_t *app, const char *store,
                                        const void *prefix, size_t plen,
                                        ks_error_t **errp) {
        if (!prefix && plen) {
                ks__error_set(errp, KS_ERR_INVALID_ARG, "NULL prefix");
                return NULL;
        }
        return kv_iter(app, store, M_PREFIX, prefix ? prefix : "", plen, NULL,
                       0, errp);
}

ks_query_iter_t *ks_app_query_kv_all(ks_app_t *app, const char *store,
                                     ks_error_t **errp) {
        return kv_iter(app, store, M_ALL, NULL, 0, NULL, 0, errp);
}

/* An iterator over the windows or sessions of one key. */
static ks_query_iter_t *key_iter(ks_app_t *app, const char *store,
                                 ks_store_type_t type, qmode_t mode,
                                 const void *key, size_t klen,
                                 ks_error_t **errp) {
        if (!key) {
                ks__error_set(errp, KS_ERR_INVALID_ARG, "NULL key");
                return NULL;
        }
        qstore_t qs;
        if (resolve(app, store, &qs, errp) || want_type(&qs, 0, type, errp))
                return NULL;
        ks__qtask_t *t = key_task(app, &qs, key, klen, errp);
        if (!t)
                return NULL;
        ks_query_iter_t *it = iter_new(app, &qs, mode, errp);
        if (it && (!(it->a = dup_bytes(key, klen)) ||
                   !(it->tasks = malloc(sizeof(*it->tasks))))) {
                ks_query_iter_destroy(it);
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                it = NULL;
        }
        if (!it) {
                ks__qtask_unref(t);
                return NULL;
        }
        it->alen = klen;
        it->tasks[0] = t;
        it->cnt = 1;
        return iter_ready(it, qs.sub, errp);
}

ks_query_iter_t *ks_app_query_window_fetch(ks_app_t *app, const char *store,
                                           const void *key, size_t klen,
                                           int64_t time_from, int64_t time_to,
                                           ks_error_t **errp) {
        ks_query_iter_t *it = key_iter(app, store, KS_STORE_TYPE_WINDOW,
                                       M_WINDOW, key, klen, errp);
        if (it) {
                it->t_from = time_from;
                it->t_to = time_to;
        }
        return it;
}

ks_query_iter_t *ks_app_query_session_fetch(ks_app_t *app, const char *store,
                                            const void *key, size_t klen,
                                            ks_error_t **errp) {
        return key_iter(app, store, KS_STORE_TYPE_SESSION, M_SESSION, key, klen,
                        errp);
}

/* Open the view and the store iterator of the current task (its lock
 * held), on its published snapshot @p snap. */
static ks_err_t open_inner(ks_query_iter_t *it, ks__task_db_t *db,
                           ks__qsnap_t *snap) {
        ks_err_t err = ks__store_view_open(db, ks__qsnap_get(snap), &it->vdef,
                                           it->conf, &it->view);
        if (err)
                return err;
        ks__qsnap_ref(snap);
        it->snap = snap;
        ks_kv_store_t *kv = ks__store_view_kv(it->view);
        switch (it->mode) {
        case M_RANGE:
                err = ks_kv_store_range(kv, it->a, it->alen, it->b, it->blen,
                                        &it->kvit);
                break;
        case M_PREFIX:
                err = ks_kv_store_prefix_scan(kv, it->a, it->alen, &it->kvit);
                break;
        case M_ALL:
                err = ks_kv_store_all(kv, &it->kvit);
                break;
        case M_WINDOW:
                err = ks_window_store_fetch_range(
                        ks__store_view_window(it->view), it->a, it->alen,
                        it->t_from, it->t_to, &it->wit);
                break;
        case M_SESSION:
                err = ks_session_store_fetch(ks__store_view_session(it->view),
                                             it->a, it->alen, &it->sit);
                break;
        }
        if (err)
                release_inner(it);
        return err;
}

static int keep(char **buf, size_t *cap, const void *p, size_t n) {
        if (*cap < n || !*buf) {
                char *nb = realloc(*buf, n ? n : 1);
                if (!nb)
                        return -1;
                *buf = nb;
                *cap = n ? n : 1;
        }
        if (n)
                memcpy(*buf, p, n);
        return 0;
}

/* The next entry of the current task: 1 (copied into the buffers), 0 at
 * its end, or an error code (negative). */
static int inner_next(ks_query_iter_t *it, size_t *klp, size_t *vlp,
                      int64_t *sp, int64_t *ep) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        int64_t s = -1, e = -1;
        int rc;
        ks_err_t err;
        if (it->kvit) {
                rc = ks_kv_iter_next(it->kvit, &k, &kl, &v, &vl);
                err = rc ? KS_ERR_NO_ERROR : ks_kv_iter_error(it->kvit);
                int64_t ts;
                if (rc && it->vdef.type == KS_STORE_TYPE_TIMESTAMPED_KV &&
                    !ks__ts_value_split(v, vl, &ts, &v, &vl))
                        return (int)KS_ERR_STORE; /* shorter than its ts */
        } else if (it->wit) {
                rc = ks_window_iter_next(it->wit, &k, &kl, &s, &v, &vl);
                err = rc ? KS_ERR_NO_ERROR : ks_window_iter_error(it->wit);
                e = ks__ts_add(s, it->vdef.window_size_ms);
        } else {
                rc = ks_session_iter_next(it->sit, &k, &kl, &s, &e, &v, &vl);
                err = rc ? KS_ERR_NO_ERROR : ks_session_iter_error(it->sit);
        }
        if (!rc)
                return (int)err;
        if (keep(&it->kbuf, &it->kcap, k, kl) ||
            keep(&it->vbuf, &it->vcap, v, vl))
                return (int)KS_ERR_NO_MEMORY;
        *klp = kl;
        *vlp = vl;
        *sp = s;
        *ep = e;
        return 1;
}

static int iter_fail(ks_query_iter_t *it, ks_err_t err, ks_error_t **errp) {
        it->done = err;
        if (err == KS_ERR_STORE_MIGRATED)
                ks__error_setf(errp, err, KS_ERROR_F_RETRIABLE,
                               "store \"%s\": a task the iterator reads "
                               "closed (a rebalance took it)",
                               it->name);
        else if (err == KS_ERR_STORE_RESTORING)
                ks__error_setf(errp, err, KS_ERROR_F_RETRIABLE,
                               "store \"%s\": a task the iterator reads is "
                               "restoring",
                               it->name);
        else
                ks__error_set(errp, err, "store \"%s\": iteration failed: %s",
                              it->name, ks_err2str(err));
        return -1;
}

int ks_query_iter_next(ks_query_iter_t *it, const void **key, size_t *klen,
                       const void **value, size_t *vlen, int64_t *start,
                       int64_t *end, ks_error_t **errp) {
        if (!it)
                return -1;
        if (it->done != (ks_err_t)-1)
                return it->done ? iter_fail(it, it->done, errp) : 0;
        while (it->pos < it->cnt) {
                ks__qtask_t *t = it->tasks[it->pos];
                ks__task_db_t *db;
                ks__qsnap_t *snap;
                ks_err_t st = ks__qtask_lock(t, &db, &snap);
                if (it->invalidated) {
                        ks__qtask_unlock(t);
                        return iter_fail(it, KS_ERR_STORE_MIGRATED, errp);
                }
                if (!it->view) {
                        ks_err_t err = st ? st : open_inner(it, db, snap);
                        if (err) {
                                ks__qtask_unlock(t);
                                return iter_fail(it, err, errp);
                        }
                        ks__qtask_attach(t, &it->cursor);
                        it->attached = t;
                }
                size_t kl = 0, vl = 0;
                int64_t s = -1, e = -1;
                int rc = inner_next(it, &kl, &vl, &s, &e);
                if (rc > 0) {
                        ks__qtask_unlock(t);
                        if (key)
                                *key = it->kbuf;
                        if (klen)
                                *klen = kl;
                        if (value)
                                *value = it->vbuf;
                        if (vlen)
                                *vlen = vl;
                        if (start)
                                *start = s;
                        if (end)
                                *end = e;
                        return 1;
                }
                release_inner(it);
                ks__qtask_detach(t, &it->cursor);
                it->attached = NULL;
                ks__qtask_unlock(t);
                if (rc < 0)
                        return iter_fail(it, (ks_err_t)rc, errp);
                it->pos++;
        }
        it->done = KS_ERR_NO_ERROR;
        return 0;
}

/* --- metadata ------------------------------------------------------------- */

ks_err_t ks_app_query_metadata_for_key(ks_app_t *app, const char *store,
                                       const void *key, size_t klen, char *host,
                                       size_t host_size, int32_t *partition,
                                       int *is_local, ks_error_t **errp) {
        if (is_local)
                *is_local = 0;
        if (partition)
                *partition = -1;
        if (!key || !host || !host_size)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "ks_app_query_metadata_for_key needs a "
                                     "key and a host buffer");
        host[0] = '\0';
        qstore_t qs;
        ks_err_t err = resolve(app, store, &qs, errp);
        if (err == KS_ERR_STORE_TYPE) /* in memory: its owner still exists */
                err = KS_ERR_NO_ERROR;
        if (err)
                return err;
        const char *server = ks_config_get(app->conf, "application.server");
        if (!server || !*server || !app->meta)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "application.server is not set: "
                                     "instances learn each other's only when "
                                     "it is");
        int32_t p = key_partition(&qs, key, klen);
        if (partition)
                *partition = p;
        /* The whole address first: a short buffer must not make another
         * instance's address look like ours. */
        char owner[KS_SERVER_MAX + 1];
        if ((err = ks__imeta_owner(app->meta, qs.topic_index, p, owner,
                                   sizeof(owner), errp)))
                return err;
        snprintf(host, host_size, "%s", owner);
        if (is_local)
                *is_local = !strcmp(owner, server);
        return KS_ERR_NO_ERROR;
}
