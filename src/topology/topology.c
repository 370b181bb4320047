/* Topology builder [Topology, InternalTopologyBuilder]: the public API
 * that adds nodes, stores and global tables, and reference counting (see
 * topology_int.h for the data structure).
 *
 * Until ks_topology_build() (build.c), a topology is a list of nodes in
 * insertion order that name their parents, and stores and connections
 * named by strings: a node may name a parent that does not exist yet, so
 * nothing here resolves a name. What can be checked at once is: a node's
 * name is unique, a topic feeds one source (or one global table), topic
 * and store names are valid. Every adder refuses a built topology. A
 * topology is reference counted (atomically): the builder's reference,
 * then one per task, driver or application using it. */
#include "topology_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void node_free(ks__node_t *n) {
        if (!n)
                return;
        free(n->name);
        ks__strv_free(n->parent_names, n->parent_cnt);
        ks__strv_free(n->topics, n->topic_cnt);
        free(n->topic);
        ks_serde_destroy(n->key_serde);
        ks_serde_destroy(n->value_serde);
        free(n);
}

void ks_topology_destroy(ks_topology_t *topo) {
        if (!topo || __atomic_sub_fetch(&topo->refcnt, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        ks__topology_build_reset(topo);
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

const char *ks__node_kind_name(ks__node_kind_t k) {
        return k == KS_NODE_SOURCE ? "source"
               : k == KS_NODE_SINK ? "sink"
                                   : "processor";
}

/* Common checks and allocation of a new node. */
/* --- nodes --------------------------------------------------------------- */

static ks_err_t node_begin(ks_topology_t *topo, const char *name,
                           ks__node_kind_t kind, const char *const *parents,
                           size_t parent_cnt, ks__node_t **np,
                           ks_error_t **errp) {
        if (!topo || !name || !*name)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "a %s needs a topology and a non-empty "
                                     "name",
                                     ks__node_kind_name(kind));
        if (topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "cannot add %s \"%s\": the topology is "
                                     "already built",
                                     ks__node_kind_name(kind), name);
        ks__node_t *dup = ks__topology_node(topo, name);
        if (dup)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "cannot add %s \"%s\": a %s of that name "
                                     "already exists",
                                     ks__node_kind_name(kind), name,
                                     ks__node_kind_name(dup->kind));
        if (kind != KS_NODE_SOURCE && (!parents || !parent_cnt))
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "%s \"%s\" needs at least one parent",
                                     ks__node_kind_name(kind), name);
        for (size_t i = 0; i < parent_cnt; i++) {
                if (!parents[i])
                        return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                             "%s \"%s\": parent %zu is NULL",
                                             ks__node_kind_name(kind), name, i);
                if (!strcmp(parents[i], name))
                        return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                             "%s \"%s\" cannot be its own "
                                             "parent",
                                             ks__node_kind_name(kind), name);
        }
        ks__node_t *n = calloc(1, sizeof(*n));
        if (!n || !(n->name = ks__strdup(name))) {
                free(n);
                return OOM(errp);
        }
        n->kind = kind;
        if (parent_cnt) {
                if (!(n->parent_names = ks__strv_dup(parents, parent_cnt))) {
                        node_free(n);
                        return OOM(errp);
                }
                n->parent_cnt = parent_cnt;
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
        if (!(n->topics = ks__strv_dup(topics, topic_cnt))) {
                node_free(n);
                return OOM(errp);
        }
        n->topic_cnt = topic_cnt;
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
                                         "no %s named \"%s\"",
                                         ks__node_kind_name(kind), name);
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

/* --- stores and global tables ------------------------------------------- */

ssize_t ks__topology_store_index(const ks_topology_t *topo, const char *name) {
        for (size_t i = 0; i < topo->store_cnt; i++)
                if (!strcmp(topo->stores[i].name, name))
                        return (ssize_t)i;
        return -1;
}

ks__store_def_t *ks__topology_store_append(ks_topology_t *topo,
                                           const char *name) {
        ks__store_def_t *nv =
                realloc(topo->stores, (topo->store_cnt + 1) * sizeof(*nv));
        if (!nv)
                return NULL;
        topo->stores = nv;
        ks__store_def_t *s = &topo->stores[topo->store_cnt];
        memset(s, 0, sizeof(*s));
        if (!(s->name = ks__strdup(name)))
                return NULL;
        topo->store_cnt++;
        return s;
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
        if ((flags & KS_STORE_F_RETAIN_DUPLICATES) &&
            type != KS_STORE_TYPE_WINDOW)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "store \"%s\": only a window store can "
                                     "retain duplicates",
                                     name);
        if (ks__topology_store_index(topo, name) >= 0)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "store \"%s\" already exists", name);
        ks__store_def_t *s = ks__topology_store_append(topo, name);
        if (!s)
                return OOM(errp);
        s->type = type;
        s->retention_ms = retention_ms;
        s->window_size_ms = window_size_ms;
        s->backend = backend;
        s->flags = flags;
        s->subtopology = -1;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_topology_add_kv_store(ks_topology_t *topo, const char *name,
                                  ks_store_backend_t backend, int flags,
                                  ks_error_t **errp) {
        return add_store(topo, name, KS_STORE_TYPE_KEY_VALUE, backend, flags, 0,
                         0, errp);
}

ks_err_t ks_topology_add_timestamped_kv_store(ks_topology_t *topo,
                                              const char *name,
                                              ks_store_backend_t backend,
                                              int flags, ks_error_t **errp) {
        return add_store(topo, name, KS_STORE_TYPE_TIMESTAMPED_KV, backend,
                         flags, 0, 0, errp);
}

ks_err_t ks_topology_add_versioned_kv_store(ks_topology_t *topo,
                                            const char *name,
                                            ks_store_backend_t backend,
                                            int64_t history_retention_ms,
                                            int flags, ks_error_t **errp) {
        if (history_retention_ms <= 0)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "versioned key-value store \"%s\": "
                                     "history retention %lld ms is not "
                                     "positive",
                                     name ? name : "(null)",
                                     (long long)history_retention_ms);
        return add_store(topo, name, KS_STORE_TYPE_VERSIONED_KV, backend, flags,
                         history_retention_ms, 0, errp);
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

ks_err_t ks_topology_add_session_store(ks_topology_t *topo, const char *name,
                                       ks_store_backend_t backend,
                                       int64_t retention_ms, int flags,
                                       ks_error_t **errp) {
        if (retention_ms <= 0)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "session store \"%s\": retention %lld "
                                     "ms is not positive",
                                     name ? name : "(null)",
                                     (long long)retention_ms);
        return add_store(topo, name, KS_STORE_TYPE_SESSION, backend, flags,
                         retention_ms, 0, errp);
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
