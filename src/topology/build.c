/* Topology build: name resolution, validation, the cycle check and the
 * split into sub-topologies (ks_topology_build()).
 *
 * Build turns parent names into pointers and fills every node's children
 * in insertion order (the order records are forwarded in); it rejects
 * unknown parents, sinks used as parents, a parent named twice, cycles
 * (DFS colouring over child edges) and stores connected to nothing or to
 * non-processors. Sub-topologies are the connected components of parent
 * edges and store connections, found with a union-find whose roots are the
 * smallest index, so a component is numbered by its first node; a store
 * sits after the nodes in the union-find array and is never a root. A
 * failed build leaves nothing computed behind (ks__topology_build_reset()),
 * and a built topology never changes again. */
#include "topology_int.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"

#define OOM(errp) ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory")

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

static void node_clear_build(ks__node_t *n) {
        free(n->parents);
        free(n->children);
        free(n->stores);
        n->parents = NULL;
        n->children = NULL;
        n->stores = NULL;
        n->child_cnt = n->store_cnt = 0;
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

void ks__topology_build_reset(ks_topology_t *t) {
        for (size_t i = 0; i < t->node_cnt; i++)
                node_clear_build(t->nodes[i]);
        subs_free(t);
        /* The stores build added are last. */
        while (t->store_cnt && t->stores[t->store_cnt - 1].internal)
                free(t->stores[--t->store_cnt].name);
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
                                        ks__node_kind_name(n->kind), n->name,
                                        n->parent_names[j]);
                        if (p->kind == KS_NODE_SINK)
                                return ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "%s \"%s\" names sink \"%s\" as its "
                                        "parent: sinks have no children",
                                        ks__node_kind_name(n->kind), n->name,
                                        p->name);
                        for (size_t k = 0; k < j; k++)
                                if (n->parents[k] == p)
                                        return ks__error_set(
                                                errp, KS_ERR_TOPOLOGY,
                                                "%s \"%s\" names parent "
                                                "\"%s\" twice",
                                                ks__node_kind_name(n->kind),
                                                n->name, p->name);
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
                                             ks__node_kind_name(hit->kind),
                                             hit->name);
                }
        }
        free(colour);
        /* Every other node has a parent and there is no cycle, so every
         * node is reachable from a source. */
        /* Store connections. */
        for (size_t i = 0; i < t->conn_cnt; i++) {
                ks__connection_t *c = &t->conns[i];
                ssize_t si = ks__topology_store_index(t, c->store);
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

/* A sub-topology reading a through topic gets a store of duplicate marks
 * (see src/coord/origin_int.h): a logged key-value store connected to no
 * processor, so that the marks are committed, restored and failed over
 * with the rest of the task's state. */
static ks_err_t add_marks_stores(ks_topology_t *t, ks_error_t **errp) {
        for (size_t s = 0; s < t->sub_cnt; s++) {
                ks__subtopology_t *sub = &t->subs[s];
                int through = 0;
                for (size_t i = 0; !through && i < sub->node_cnt; i++)
                        for (size_t j = 0;
                             sub->nodes[i]->kind == KS_NODE_SOURCE &&
                             j < sub->nodes[i]->topic_cnt;
                             j++)
                                through |= ks__topology_is_through(
                                        t, sub->nodes[i]->topics[j]);
                if (!through)
                        continue;
                char name[64];
                ks__topology_marks_store_name(sub->id, name, sizeof(name));
                ks__store_def_t *d = ks__topology_store_append(t, name);
                if (!d)
                        return OOM(errp);
                d->type = KS_STORE_TYPE_KEY_VALUE;
                d->backend = KS_STORE_ROCKSDB;
                d->subtopology = sub->id;
                d->internal = 1;
                if (push_idx(&sub->stores, &sub->store_cnt, t->store_cnt - 1))
                        return OOM(errp);
        }
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_topology_build(ks_topology_t *topo, ks_error_t **errp) {
        if (!topo)
                return ks__error_set(errp, KS_ERR_INVALID_ARG, "NULL topology");
        if (topo->built)
                return KS_ERR_NO_ERROR;
        ks__topology_build_reset(topo);
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
        if (!err)
                err = add_marks_stores(topo, errp);
        if (err) {
                ks__topology_build_reset(topo);
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
