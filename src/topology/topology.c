/* Topology builder, validation and sub-topology split (see topology_int.h). */
#include "topology_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/types.h>

#include "../common/util_int.h"
#include "../serde/serde_int.h"

#define OOM(errp) ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory")

ks_topology_t *ks_topology_new(void) {
        ks_topology_t *t = calloc(1, sizeof(*t));
        if (t)
                t->refcnt = 1;
        return t;
}

ks_topology_t *ks__topology_ref(ks_topology_t *topo) {
        __atomic_add_fetch(&topo->refcnt, 1, __ATOMIC_RELAXED);
        return topo;
}

static void free_strv(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static void node_clear_build(ks__node_t *n) {
        free(n->parents);
        free(n->children);
        free(n->stores);
        n->parents = NULL;
        n->children = NULL;
        n->stores = NULL;
        n->child_cnt = n->store_cnt = 0;
}

static void node_free(ks__node_t *n) {
        if (!n)
                return;
        node_clear_build(n);
        free(n->name);
        free_strv(n->parent_names, n->parent_cnt);
        free_strv(n->topics, n->topic_cnt);
        free(n->topic);
        ks_serde_destroy(n->key_serde);
        ks_serde_destroy(n->value_serde);
        free(n);
}

static void subs_free(ks_topology_t *t) {
        for (size_t i = 0; i < t->sub_cnt; i++) {
                free(t->subs[i].nodes);
                free(t->subs[i].stores);
        }
        free(t->subs);
        t->subs = NULL;
        t->sub_cnt = 0;
}

void ks_topology_destroy(ks_topology_t *topo) {
        if (!topo || __atomic_sub_fetch(&topo->refcnt, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        for (size_t i = 0; i < topo->node_cnt; i++)
                node_free(topo->nodes[i]);
        free(topo->nodes);
        for (size_t i = 0; i < topo->store_cnt; i++) {
                free(topo->stores[i].name);
                free(topo->stores[i].source_topic);
        }
        free(topo->stores);
        for (size_t i = 0; i < topo->conn_cnt; i++) {
                free(topo->conns[i].store);
                free(topo->conns[i].processor);
        }
        free(topo->conns);
        subs_free(topo);
        for (size_t i = topo->owned_cnt; i-- > 0;)
                topo->owned_free[i](topo->owned[i]);
        free(topo->owned);
        free(topo->owned_free);
        for (size_t i = 0; i < topo->global_cnt; i++) {
                free(topo->globals[i].store);
                free(topo->globals[i].topic);
                ks_serde_destroy(topo->globals[i].key_serde);
                ks_serde_destroy(topo->globals[i].value_serde);
        }
        free(topo->globals);
        free(topo->bound_app);
        free(topo);
}

ks_err_t ks__topology_own(ks_topology_t *topo, void *ptr,
                          void (*free_fn)(void *)) {
        void **o = realloc(topo->owned, (topo->owned_cnt + 1) * sizeof(*o));
        if (o)
                topo->owned = o;
        void (**f)(void *) = o ? realloc(topo->owned_free,
                                         (topo->owned_cnt + 1) * sizeof(*f))
                               : NULL;
        if (!f) {
                free_fn(ptr);
                return KS_ERR_NO_MEMORY;
        }
        topo->owned_free = f;
        topo->owned[topo->owned_cnt] = ptr;
        topo->owned_free[topo->owned_cnt++] = free_fn;
        return KS_ERR_NO_ERROR;
}

const ks__global_def_t *ks__topology_global_for(const ks_topology_t *topo,
                                                const char *topic) {
        for (size_t i = 0; i < topo->global_cnt; i++)
                if (!strcmp(topo->globals[i].topic, topic))
                        return &topo->globals[i];
        return NULL;
}

ks_err_t ks__topology_add_global(ks_topology_t *topo, const char *store,
                                 const char *topic, ks_serde_t *key_serde,
                                 ks_serde_t *value_serde, ks_error_t **errp) {
        if (topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "the topology is already built");
        char what[300];
        snprintf(what, sizeof(what), "global table \"%s\": topic name", store);
        ks_err_t err = ks__topic_name_check(topic, what, errp);
        if (err)
                return err;
        const ks__node_t *src = ks__topology_source_for(topo, topic);
        if (src || ks__topology_global_for(topo, topic))
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "topic \"%s\" is already read by %s%s%s: "
                                     "a global table needs a topic of its own",
                                     topic,
                                     src ? "source \"" : "a global table",
                                     src ? src->name : "", src ? "\"" : "");
        for (size_t i = 0; i < topo->global_cnt; i++)
                if (!strcmp(topo->globals[i].store, store))
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "duplicate store name \"%s\"",
                                             store);
        for (size_t i = 0; i < topo->store_cnt; i++)
                if (!strcmp(topo->stores[i].name, store))
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "duplicate store name \"%s\"",
                                             store);
        ks__global_def_t *g =
                realloc(topo->globals, (topo->global_cnt + 1) * sizeof(*g));
        if (!g)
                return OOM(errp);
        topo->globals = g;
        g = &topo->globals[topo->global_cnt];
        memset(g, 0, sizeof(*g));
        if (!(g->store = ks__strdup(store)) ||
            !(g->topic = ks__strdup(topic))) {
                free(g->store);
                free(g->topic);
                return OOM(errp);
        }
        g->key_serde = ks__serde_ref(key_serde ? key_serde : ks_serde_bytes());
        g->value_serde =
                ks__serde_ref(value_serde ? value_serde : ks_serde_bytes());
        topo->global_cnt++;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__topology_store_source(ks_topology_t *topo, const char *store,
                                   const char *topic) {
        for (size_t i = 0; i < topo->store_cnt; i++)
                if (!strcmp(topo->stores[i].name, store)) {
                        char *t = ks__strdup(topic);
                        if (!t)
                                return KS_ERR_NO_MEMORY;
                        free(topo->stores[i].source_topic);
                        topo->stores[i].source_topic = t;
                        return KS_ERR_NO_ERROR;
                }
        return KS_ERR_NOT_FOUND;
}

ks_err_t ks__topology_set_flush(ks_topology_t *topo, const char *name,
                                ks_err_t (*flush)(ks_context_t *ctx,
                                                  void *state)) {
        ks__node_t *n = ks__topology_node(topo, name);
        if (!n || n->kind != KS_NODE_PROCESSOR)
                return KS_ERR_NOT_FOUND;
        n->flush = flush;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__topology_set_internal(ks_topology_t *topo, const char *name) {
        ks__node_t *n = ks__topology_node(topo, name);
        if (!n || n->kind == KS_NODE_PROCESSOR)
                return KS_ERR_NOT_FOUND;
        if (topo->built)
                return KS_ERR_STATE;
        n->internal = 1;
        return KS_ERR_NO_ERROR;
}

static char *prefixed(const char *app_id, const char *suffix) {
        size_t n = strlen(app_id) + strlen(suffix) + 2;
        char *s = malloc(n);
        if (s)
                snprintf(s, n, "%s-%s", app_id, suffix);
        return s;
}

ks_err_t ks__topology_bind(ks_topology_t *topo, const char *app_id,
                           ks_error_t **errp) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        if (!topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "the topology is not built");
        pthread_mutex_lock(&lock);
        ks_err_t err = KS_ERR_NO_ERROR;
        int any = 0;
        for (size_t i = 0; i < topo->node_cnt; i++)
                any |= topo->nodes[i]->internal;
        if (!any) {
                /* nothing to bind */
        } else if (topo->bound_app) {
                if (strcmp(topo->bound_app, app_id))
                        err = ks__error_set(
                                errp, KS_ERR_STATE,
                                "this topology's internal topics belong to "
                                "application.id \"%s\"; build another "
                                "topology for \"%s\"",
                                topo->bound_app, app_id);
        } else {
                /* Every name must be valid before any changes. */
                for (size_t i = 0; !err && i < topo->node_cnt; i++) {
                        ks__node_t *n = topo->nodes[i];
                        if (!n->internal)
                                continue;
                        char *full = prefixed(app_id, n->kind == KS_NODE_SINK
                                                              ? n->topic
                                                              : n->topics[0]);
                        if (!full)
                                err = OOM(errp);
                        else
                                err = ks__topic_name_check(
                                        full, "internal topic", errp);
                        free(full);
                }
                for (size_t i = 0; !err && i < topo->node_cnt; i++) {
                        ks__node_t *n = topo->nodes[i];
                        if (!n->internal)
                                continue;
                        char **slot = n->kind == KS_NODE_SINK ? &n->topic
                                                              : &n->topics[0];
                        size_t cnt = n->kind == KS_NODE_SINK ? 1 : n->topic_cnt;
                        for (size_t j = 0; !err && j < cnt; j++) {
                                char *full = prefixed(app_id, slot[j]);
                                if (!full)
                                        err = OOM(errp);
                                else {
                                        free(slot[j]);
                                        slot[j] = full;
                                }
                        }
                }
                if (!err && !(topo->bound_app = ks__strdup(app_id)))
                        err = OOM(errp);
        }
        pthread_mutex_unlock(&lock);
        return err;
}

ks__node_t *ks__topology_node(const ks_topology_t *topo, const char *name) {
        for (size_t i = 0; i < topo->node_cnt; i++)
                if (!strcmp(topo->nodes[i]->name, name))
                        return topo->nodes[i];
        return NULL;
}

ks__node_t *ks__topology_source_for(const ks_topology_t *topo,
                                    const char *topic) {
        for (size_t i = 0; i < topo->node_cnt; i++) {
                ks__node_t *n = topo->nodes[i];
                if (n->kind != KS_NODE_SOURCE)
                        continue;
                for (size_t j = 0; j < n->topic_cnt; j++)
                        if (!strcmp(n->topics[j], topic))
                                return n;
        }
        return NULL;
}

static const char *kind_name(ks__node_kind_t k) {
        return k == KS_NODE_SOURCE ? "source"
               : k == KS_NODE_SINK ? "sink"
                                   : "processor";
}

/* Common checks and allocation of a new node. */
static ks_err_t node_begin(ks_topology_t *topo, const char *name,
                           ks__node_kind_t kind, const char *const *parents,
                           size_t parent_cnt, ks__node_t **np,
                           ks_error_t **errp) {
        if (!topo || !name || !*name)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "a %s needs a topology and a non-empty "
                                     "name",
                                     kind_name(kind));
        if (topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "cannot add %s \"%s\": the topology is "
                                     "already built",
                                     kind_name(kind), name);
        ks__node_t *dup = ks__topology_node(topo, name);
        if (dup)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "cannot add %s \"%s\": a %s of that name "
                                     "already exists",
                                     kind_name(kind), name,
                                     kind_name(dup->kind));
        if (kind != KS_NODE_SOURCE && (!parents || !parent_cnt))
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "%s \"%s\" needs at least one parent",
                                     kind_name(kind), name);
        for (size_t i = 0; i < parent_cnt; i++) {
                if (!parents[i])
                        return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                             "%s \"%s\": parent %zu is NULL",
                                             kind_name(kind), name, i);
                if (!strcmp(parents[i], name))
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "%s \"%s\" cannot be its own "
                                             "parent",
                                             kind_name(kind), name);
        }
        ks__node_t *n = calloc(1, sizeof(*n));
        if (!n || !(n->name = ks__strdup(name))) {
                free(n);
                return OOM(errp);
        }
        n->kind = kind;
        if (parent_cnt) {
                n->parent_names = calloc(parent_cnt, sizeof(char *));
                if (!n->parent_names) {
                        node_free(n);
                        return OOM(errp);
                }
                for (size_t i = 0; i < parent_cnt; i++) {
                        n->parent_cnt++;
                        if (!(n->parent_names[i] = ks__strdup(parents[i]))) {
                                node_free(n);
                                return OOM(errp);
                        }
                }
        }
        *np = n;
        return KS_ERR_NO_ERROR;
}

static ks_err_t node_commit(ks_topology_t *topo, ks__node_t *n,
                            ks_error_t **errp) {
        ks__node_t **nv =
                realloc(topo->nodes, (topo->node_cnt + 1) * sizeof(*nv));
        if (!nv) {
                node_free(n);
                return OOM(errp);
        }
        topo->nodes = nv;
        n->index = topo->node_cnt;
        topo->nodes[topo->node_cnt++] = n;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_topology_add_source(ks_topology_t *topo, const char *name,
                                const char *const *topics, size_t topic_cnt,
                                ks_serde_t *key_serde, ks_serde_t *value_serde,
                                ks_error_t **errp) {
        ks__node_t *n;
        ks_err_t err;
        if (!topics || !topic_cnt)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "source \"%s\" needs at least one topic",
                                     name ? name : "(null)");
        for (size_t i = 0; i < topic_cnt; i++) {
                char what[300];
                snprintf(what, sizeof(what), "source \"%s\": topic name",
                         name ? name : "(null)");
                if ((err = ks__topic_name_check(topics[i], what, errp)))
                        return err;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(topics[i], topics[j]))
                                return ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "source \"%s\" lists topic \"%s\" "
                                        "twice",
                                        name, topics[i]);
                if (topo) {
                        ks__node_t *other =
                                ks__topology_source_for(topo, topics[i]);
                        if (other)
                                return ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "topic \"%s\" is already read by "
                                        "source \"%s\": a topic can feed "
                                        "only one source",
                                        topics[i], other->name);
                }
        }
        if ((err = node_begin(topo, name, KS_NODE_SOURCE, NULL, 0, &n, errp)))
                return err;
        n->topics = calloc(topic_cnt, sizeof(char *));
        if (!n->topics) {
                node_free(n);
                return OOM(errp);
        }
        for (size_t i = 0; i < topic_cnt; i++) {
                n->topic_cnt++;
                if (!(n->topics[i] = ks__strdup(topics[i]))) {
                        node_free(n);
                        return OOM(errp);
                }
        }
        n->key_serde = ks__serde_ref(key_serde ? key_serde : ks_serde_bytes());
        n->value_serde =
                ks__serde_ref(value_serde ? value_serde : ks_serde_bytes());
        return node_commit(topo, n, errp);
}

static ks__node_t *find_kind(ks_topology_t *topo, const char *name,
                             ks__node_kind_t kind, ks_error_t **errp,
                             ks_err_t *errcode) {
        if (!topo || !name) {
                *errcode = ks__error_set(errp, KS_ERR_INVALID_ARG,
                                         "NULL topology or name");
                return NULL;
        }
        if (topo->built) {
                *errcode = ks__error_set(errp, KS_ERR_STATE,
                                         "the topology is already built");
                return NULL;
        }
        ks__node_t *n = ks__topology_node(topo, name);
        if (!n || n->kind != kind) {
                *errcode = ks__error_set(errp, KS_ERR_NOT_FOUND,
                                         "no %s named \"%s\"", kind_name(kind),
                                         name);
                return NULL;
        }
        return n;
}

ks_err_t ks_topology_source_set_timestamp_extractor(
        ks_topology_t *topo, const char *source, ks_timestamp_extractor_cb *cb,
        void *opaque, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        ks__node_t *n = find_kind(topo, source, KS_NODE_SOURCE, errp, &err);
        if (!n)
                return err;
        n->tsx = cb;
        n->tsx_opaque = opaque;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_topology_add_processor(ks_topology_t *topo, const char *name,
                                   ks_processor_init_cb *init,
                                   ks_processor_process_cb *process,
                                   ks_processor_close_cb *close, void *opaque,
                                   const char *const *parents,
                                   size_t parent_cnt, ks_error_t **errp) {
        if (!process)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "processor \"%s\" needs a process "
                                     "callback",
                                     name ? name : "(null)");
        ks__node_t *n;
        ks_err_t err = node_begin(topo, name, KS_NODE_PROCESSOR, parents,
                                  parent_cnt, &n, errp);
        if (err)
                return err;
        n->init = init;
        n->process = process;
        n->close = close;
        n->opaque = opaque;
        return node_commit(topo, n, errp);
}

ks_err_t ks_topology_add_sink(ks_topology_t *topo, const char *name,
                              const char *topic, ks_serde_t *key_serde,
                              ks_serde_t *value_serde,
                              const char *const *parents, size_t parent_cnt,
                              ks_error_t **errp) {
        char what[300];
        snprintf(what, sizeof(what), "sink \"%s\": topic name",
                 name ? name : "(null)");
        ks_err_t err = ks__topic_name_check(topic, what, errp);
        if (err)
                return err;
        ks__node_t *n;
        if ((err = node_begin(topo, name, KS_NODE_SINK, parents, parent_cnt, &n,
                              errp)))
                return err;
        if (!(n->topic = ks__strdup(topic))) {
                node_free(n);
                return OOM(errp);
        }
        n->key_serde = ks__serde_ref(key_serde ? key_serde : ks_serde_bytes());
        n->value_serde =
                ks__serde_ref(value_serde ? value_serde : ks_serde_bytes());
        return node_commit(topo, n, errp);
}

ks_err_t ks__topology_add_dynamic_sink(ks_topology_t *topo, const char *name,
                                       ks__topic_extractor_cb *extractor,
                                       void *opaque, ks_serde_t *key_serde,
                                       ks_serde_t *value_serde,
                                       const char *const *parents,
                                       size_t parent_cnt, ks_error_t **errp) {
        ks__node_t *n;
        ks_err_t err = node_begin(topo, name, KS_NODE_SINK, parents, parent_cnt,
                                  &n, errp);
        if (err)
                return err;
        n->topic_extractor = extractor;
        n->topic_extractor_opaque = opaque;
        n->key_serde = ks__serde_ref(key_serde ? key_serde : ks_serde_bytes());
        n->value_serde =
                ks__serde_ref(value_serde ? value_serde : ks_serde_bytes());
        return node_commit(topo, n, errp);
}

ks_err_t ks_topology_sink_set_partitioner(ks_topology_t *topo, const char *sink,
                                          ks_partitioner_cb *cb, void *opaque,
                                          ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        ks__node_t *n = find_kind(topo, sink, KS_NODE_SINK, errp, &err);
        if (!n)
                return err;
        n->partitioner = cb;
        n->partitioner_opaque = opaque;
        return KS_ERR_NO_ERROR;
}

static ssize_t store_index(const ks_topology_t *topo, const char *name) {
        for (size_t i = 0; i < topo->store_cnt; i++)
                if (!strcmp(topo->stores[i].name, name))
                        return (ssize_t)i;
        return -1;
}

static ks_err_t add_store(ks_topology_t *topo, const char *name,
                          ks_store_type_t type, ks_store_backend_t backend,
                          int flags, int64_t retention_ms,
                          int64_t window_size_ms, ks_error_t **errp) {
        if (!topo)
                return ks__error_set(errp, KS_ERR_INVALID_ARG, "NULL topology");
        if (topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "cannot add store \"%s\": the topology "
                                     "is already built",
                                     name ? name : "(null)");
        ks_err_t err = ks__topic_name_check(name, "store name", errp);
        if (err)
                return err;
        if (backend != KS_STORE_ROCKSDB && backend != KS_STORE_IN_MEMORY)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "store \"%s\": unknown backend %d", name,
                                     (int)backend);
        if (store_index(topo, name) >= 0)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "store \"%s\" already exists", name);
        ks__store_def_t *nv =
                realloc(topo->stores, (topo->store_cnt + 1) * sizeof(*nv));
        if (!nv)
                return OOM(errp);
        topo->stores = nv;
        ks__store_def_t *s = &topo->stores[topo->store_cnt];
        memset(s, 0, sizeof(*s));
        if (!(s->name = ks__strdup(name)))
                return OOM(errp);
        s->type = type;
        s->retention_ms = retention_ms;
        s->window_size_ms = window_size_ms;
        s->backend = backend;
        s->flags = flags;
        s->subtopology = -1;
        topo->store_cnt++;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_topology_add_kv_store(ks_topology_t *topo, const char *name,
                                  ks_store_backend_t backend, int flags,
                                  ks_error_t **errp) {
        return add_store(topo, name, KS_STORE_TYPE_KEY_VALUE, backend, flags, 0,
                         0, errp);
}

ks_err_t ks_topology_add_window_store(ks_topology_t *topo, const char *name,
                                      ks_store_backend_t backend,
                                      int64_t retention_ms,
                                      int64_t window_size_ms, int flags,
                                      ks_error_t **errp) {
        if (window_size_ms <= 0)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "window store \"%s\": window size %lld "
                                     "ms is not positive",
                                     name ? name : "(null)",
                                     (long long)window_size_ms);
        if (retention_ms < window_size_ms)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "window store \"%s\": retention %lld ms "
                                     "is shorter than the window size %lld ms",
                                     name ? name : "(null)",
                                     (long long)retention_ms,
                                     (long long)window_size_ms);
        return add_store(topo, name, KS_STORE_TYPE_WINDOW, backend, flags,
                         retention_ms, window_size_ms, errp);
}

ks_err_t ks_topology_connect_store(ks_topology_t *topo, const char *store,
                                   const char *processor, ks_error_t **errp) {
        if (!topo || !store || !processor)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "connect_store needs a topology, a store "
                                     "and a processor");
        if (topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "cannot connect store \"%s\": the "
                                     "topology is already built",
                                     store);
        for (size_t i = 0; i < topo->conn_cnt; i++)
                if (!strcmp(topo->conns[i].store, store) &&
                    !strcmp(topo->conns[i].processor, processor))
                        return KS_ERR_NO_ERROR;
        ks__connection_t *nv =
                realloc(topo->conns, (topo->conn_cnt + 1) * sizeof(*nv));
        if (!nv)
                return OOM(errp);
        topo->conns = nv;
        ks__connection_t *c = &topo->conns[topo->conn_cnt];
        c->store = ks__strdup(store);
        c->processor = ks__strdup(processor);
        if (!c->store || !c->processor) {
                free(c->store);
                free(c->processor);
                return OOM(errp);
        }
        topo->conn_cnt++;
        return KS_ERR_NO_ERROR;
}

/* --- build ------------------------------------------------------------- */

static ks_err_t push_node(ks__node_t ***v, size_t *cnt, ks__node_t *n) {
        ks__node_t **nv = realloc(*v, (*cnt + 1) * sizeof(**v));
        if (!nv)
                return KS_ERR_NO_MEMORY;
        *v = nv;
        (*v)[(*cnt)++] = n;
        return KS_ERR_NO_ERROR;
}

static ks_err_t push_idx(size_t **v, size_t *cnt, size_t x) {
        size_t *nv = realloc(*v, (*cnt + 1) * sizeof(**v));
        if (!nv)
                return KS_ERR_NO_MEMORY;
        *v = nv;
        (*v)[(*cnt)++] = x;
        return KS_ERR_NO_ERROR;
}

/* DFS colouring over child edges: 0 white, 1 on stack, 2 done. */
static ks__node_t *find_cycle(ks__node_t *n, unsigned char *colour) {
        colour[n->index] = 1;
        for (size_t i = 0; i < n->child_cnt; i++) {
                ks__node_t *c = n->children[i];
                if (colour[c->index] == 1)
                        return c;
                if (colour[c->index] == 0) {
                        ks__node_t *hit = find_cycle(c, colour);
                        if (hit)
                                return hit;
                }
        }
        colour[n->index] = 2;
        return NULL;
}

static size_t uf_find(size_t *p, size_t x) {
        while (p[x] != x)
                x = p[x] = p[p[x]];
        return x;
}

static void uf_union(size_t *p, size_t a, size_t b) {
        a = uf_find(p, a);
        b = uf_find(p, b);
        /* The smaller index is the root: components are numbered by their
         * first node. */
        if (a < b)
                p[b] = a;
        else if (b < a)
                p[a] = b;
}

static void build_reset(ks_topology_t *t) {
        for (size_t i = 0; i < t->node_cnt; i++)
                node_clear_build(t->nodes[i]);
        subs_free(t);
}

static ks_err_t build_graph(ks_topology_t *t, ks_error_t **errp) {
        if (!t->node_cnt)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "the topology has no nodes: add a source "
                                     "first");
        /* Parents -> pointers, children in insertion order. */
        for (size_t i = 0; i < t->node_cnt; i++) {
                ks__node_t *n = t->nodes[i];
                if (!n->parent_cnt)
                        continue;
                n->parents = calloc(n->parent_cnt, sizeof(*n->parents));
                if (!n->parents)
                        return OOM(errp);
                for (size_t j = 0; j < n->parent_cnt; j++) {
                        ks__node_t *p =
                                ks__topology_node(t, n->parent_names[j]);
                        if (!p)
                                return ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "%s \"%s\" names unknown parent "
                                        "\"%s\"",
                                        kind_name(n->kind), n->name,
                                        n->parent_names[j]);
                        if (p->kind == KS_NODE_SINK)
                                return ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "%s \"%s\" names sink \"%s\" as its "
                                        "parent: sinks have no children",
                                        kind_name(n->kind), n->name, p->name);
                        for (size_t k = 0; k < j; k++)
                                if (n->parents[k] == p)
                                        return ks__error_set(
                                                errp, KS_ERR_TOPOLOGY,
                                                "%s \"%s\" names parent "
                                                "\"%s\" twice",
                                                kind_name(n->kind), n->name,
                                                p->name);
                        n->parents[j] = p;
                        if (push_node(&p->children, &p->child_cnt, n))
                                return OOM(errp);
                }
        }
        /* Cycles: a graph of processors can loop only through forward
         * references; report the node the loop comes back to. */
        unsigned char *colour = calloc(t->node_cnt, 1);
        if (!colour)
                return OOM(errp);
        for (size_t i = 0; i < t->node_cnt; i++) {
                if (colour[i])
                        continue;
                ks__node_t *hit = find_cycle(t->nodes[i], colour);
                if (hit) {
                        free(colour);
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "the topology has a cycle through "
                                             "%s \"%s\"",
                                             kind_name(hit->kind), hit->name);
                }
        }
        free(colour);
        /* Every other node has a parent and there is no cycle, so every
         * node is reachable from a source. */
        /* Store connections. */
        for (size_t i = 0; i < t->conn_cnt; i++) {
                ks__connection_t *c = &t->conns[i];
                ssize_t si = store_index(t, c->store);
                if (si < 0)
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "processor \"%s\" is connected "
                                             "to unknown store \"%s\"",
                                             c->processor, c->store);
                ks__node_t *p = ks__topology_node(t, c->processor);
                if (!p || p->kind != KS_NODE_PROCESSOR)
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "store \"%s\" is connected to "
                                             "\"%s\", which is %s",
                                             c->store, c->processor,
                                             p ? (p->kind == KS_NODE_SOURCE
                                                          ? "a source, not a "
                                                            "processor"
                                                          : "a sink, not a "
                                                            "processor")
                                               : "not a node of the "
                                                 "topology");
                if (push_idx(&p->stores, &p->store_cnt, (size_t)si))
                        return OOM(errp);
        }
        for (size_t i = 0; i < t->store_cnt; i++) {
                int used = 0;
                for (size_t j = 0; j < t->conn_cnt && !used; j++)
                        used = !strcmp(t->conns[j].store, t->stores[i].name);
                if (!used)
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "store \"%s\" is not connected "
                                             "to any processor",
                                             t->stores[i].name);
        }
        return KS_ERR_NO_ERROR;
}

static ks_err_t build_subtopologies(ks_topology_t *t, ks_error_t **errp) {
        size_t n = t->node_cnt;
        size_t *parent = malloc((n + t->store_cnt) * sizeof(size_t));
        int *sub_of_root = malloc(n * sizeof(int));
        if (!parent || !sub_of_root) {
                free(parent);
                free(sub_of_root);
                return OOM(errp);
        }
        for (size_t i = 0; i < n + t->store_cnt; i++)
                parent[i] = i;
        for (size_t i = 0; i < n; i++) {
                ks__node_t *node = t->nodes[i];
                for (size_t j = 0; j < node->parent_cnt; j++)
                        uf_union(parent, i, node->parents[j]->index);
                /* Stores sit after the nodes in the union-find array, so a
                 * component's root is always its first node. */
                for (size_t j = 0; j < node->store_cnt; j++)
                        uf_union(parent, i, n + node->stores[j]);
        }
        for (size_t i = 0; i < n; i++)
                sub_of_root[i] = -1;
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; i < n && !err; i++) {
                size_t root = uf_find(parent, i);
                if (sub_of_root[root] < 0) {
                        ks__subtopology_t *nv = realloc(
                                t->subs, (t->sub_cnt + 1) * sizeof(*nv));
                        if (!nv) {
                                err = KS_ERR_NO_MEMORY;
                                break;
                        }
                        t->subs = nv;
                        memset(&t->subs[t->sub_cnt], 0, sizeof(*t->subs));
                        t->subs[t->sub_cnt].id = (int)t->sub_cnt;
                        sub_of_root[root] = (int)t->sub_cnt++;
                }
                ks__subtopology_t *s = &t->subs[sub_of_root[root]];
                ks__node_t *node = t->nodes[i];
                node->subtopology = s->id;
                node->sub_index = s->node_cnt;
                err = push_node(&s->nodes, &s->node_cnt, node);
        }
        for (size_t i = 0; i < t->store_cnt && !err; i++) {
                size_t root = uf_find(parent, n + i);
                ks__subtopology_t *s = &t->subs[sub_of_root[root]];
                t->stores[i].subtopology = s->id;
                err = push_idx(&s->stores, &s->store_cnt, i);
        }
        free(parent);
        free(sub_of_root);
        return err ? OOM(errp) : KS_ERR_NO_ERROR;
}

ks_err_t ks_topology_build(ks_topology_t *topo, ks_error_t **errp) {
        if (!topo)
                return ks__error_set(errp, KS_ERR_INVALID_ARG, "NULL topology");
        if (topo->built)
                return KS_ERR_NO_ERROR;
        build_reset(topo);
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *n = topo->nodes[i];
                for (size_t j = 0;
                     n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++)
                        if (ks__topology_global_for(topo, n->topics[j]))
                                return ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "topic \"%s\" is read by source "
                                        "\"%s\" and by a global table: a "
                                        "global table needs a topic of its "
                                        "own",
                                        n->topics[j], n->name);
        }
        ks_err_t err = build_graph(topo, errp);
        if (!err)
                err = build_subtopologies(topo, errp);
        if (err) {
                build_reset(topo);
                return err;
        }
        topo->built = 1;
        return KS_ERR_NO_ERROR;
}

size_t ks_topology_subtopology_count(ks_topology_t *topo) {
        if (!topo || ks_topology_build(topo, NULL))
                return 0;
        return topo->sub_cnt;
}

/* The i-th logged store connected to a sub-topology, or NULL. */
static const ks__store_def_t *internal_store(const ks_topology_t *topo,
                                             size_t i) {
        for (size_t k = 0; k < topo->store_cnt; k++) {
                const ks__store_def_t *d = &topo->stores[k];
                if ((d->flags & KS_STORE_F_LOGGING_DISABLED) ||
                    d->subtopology < 0 || d->source_topic)
                        continue;
                if (i-- == 0)
                        return d;
        }
        return NULL;
}

/* The i-th internal sink: each writes one repartition topic. */
static const ks__node_t *repartition_sink(const ks_topology_t *topo, size_t i) {
        for (size_t k = 0; k < topo->node_cnt; k++) {
                const ks__node_t *n = topo->nodes[k];
                if (n->kind == KS_NODE_SINK && n->internal && i-- == 0)
                        return n;
        }
        return NULL;
}

static size_t repartition_count(const ks_topology_t *topo) {
        size_t n = 0;
        while (repartition_sink(topo, n))
                n++;
        return n;
}

size_t ks_topology_internal_topic_count(const ks_topology_t *topo) {
        if (!topo || !topo->built)
                return 0;
        size_t n = 0;
        while (internal_store(topo, n))
                n++;
        return repartition_count(topo) + n;
}

int ks__topology_internal_is_repartition(const ks_topology_t *topo, size_t i) {
        return i < repartition_count(topo);
}

int ks__topology_internal_reader(const ks_topology_t *topo, size_t i) {
        const ks__node_t *sink = repartition_sink(topo, i);
        const ks__node_t *src =
                sink ? ks__topology_source_for(topo, sink->topic) : NULL;
        return src ? src->subtopology : -1;
}

int ks__topology_internal_partitions(const ks_topology_t *topo, size_t i) {
        const ks__node_t *sink = repartition_sink(topo, i);
        return sink ? sink->partitions : 0;
}

/* A source topic of sub-topology @p sub (borrowed), or NULL. */
static const char *sub_source_topic(const ks_topology_t *topo, int sub) {
        const ks__subtopology_t *st = &topo->subs[sub];
        for (size_t k = 0; k < st->node_cnt; k++)
                if (st->nodes[k]->kind == KS_NODE_SOURCE &&
                    st->nodes[k]->topic_cnt)
                        return st->nodes[k]->topics[0];
        return NULL;
}

/* The name of an internal topic after the application id: the node's
 * topic before binding, the topic less its prefix after. */
static const char *unbound(const ks_topology_t *topo, const char *topic) {
        if (!topo->bound_app)
                return topic;
        return topic + strlen(topo->bound_app) + 1;
}

ks_err_t ks_topology_internal_topic(const ks_topology_t *topo,
                                    const char *app_id, size_t i, char *buf,
                                    size_t size, const char **source_topicp) {
        if (!topo || !app_id || !buf)
                return KS_ERR_INVALID_ARG;
        if (!topo->built)
                return KS_ERR_STATE;
        size_t rcnt = repartition_count(topo);
        int n, sub;
        if (i < rcnt) {
                const ks__node_t *sink = repartition_sink(topo, i);
                n = snprintf(buf, size, "%s-%s", app_id,
                             unbound(topo, sink->topic));
                sub = sink->subtopology;
        } else {
                const ks__store_def_t *d = internal_store(topo, i - rcnt);
                if (!d)
                        return KS_ERR_INVALID_ARG;
                n = snprintf(buf, size, "%s-%s-changelog", app_id, d->name);
                sub = d->subtopology;
        }
        if (n < 0 || (size_t)n >= size)
                return KS_ERR_INVALID_ARG;
        if (source_topicp)
                *source_topicp = sub_source_topic(topo, sub);
        return KS_ERR_NO_ERROR;
}
