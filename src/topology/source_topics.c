/* The topology's source topics as the runtime sees them: a stable index
 * for each (its position among every source's topics, in node order),
 * which of them are through topics (written by a sink of the same
 * topology), each sub-topology's store of duplicate marks, and the tag
 * that ties origin headers and committed metadata to one application and
 * topology. A built topology never changes, so these are pure reads. */
#include "topology_int.h"

#include <stdio.h>
#include <string.h>

#include "../common/util_int.h"

int32_t ks__topology_topic_count(const ks_topology_t *topo) {
        int32_t n = 0;
        for (size_t i = 0; i < topo->node_cnt; i++)
                if (topo->nodes[i]->kind == KS_NODE_SOURCE)
                        n += (int32_t)topo->nodes[i]->topic_cnt;
        return n;
}

int32_t ks__topology_topic_index(const ks_topology_t *topo, const char *topic) {
        int32_t idx = 0;
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *n = topo->nodes[i];
                for (size_t j = 0;
                     n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++, idx++)
                        if (!strcmp(n->topics[j], topic))
                                return idx;
        }
        return -1;
}

int ks__topology_is_through(const ks_topology_t *topo, const char *topic) {
        if (!ks__topology_source_for(topo, topic))
                return 0;
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *n = topo->nodes[i];
                if (n->kind == KS_NODE_SINK && n->topic &&
                    !strcmp(n->topic, topic))
                        return 1;
        }
        return 0;
}

void ks__topology_marks_store_name(int sub, char *buf, size_t size) {
        snprintf(buf, size, KS_MARKS_STORE_PREFIX "%d", sub);
}

const char *ks__topology_marks_store(const ks_topology_t *topo, int sub) {
        char name[64];
        ks__topology_marks_store_name(sub, name, sizeof(name));
        if (sub < 0 || (size_t)sub >= topo->sub_cnt)
                return NULL;
        const ks__subtopology_t *s = &topo->subs[sub];
        for (size_t i = 0; i < s->store_cnt; i++)
                if (!strcmp(topo->stores[s->stores[i]].name, name))
                        return topo->stores[s->stores[i]].name;
        return NULL;
}

static uint32_t fnv_str(uint32_t h, const char *s) {
        for (const unsigned char *p = (const unsigned char *)s;; p++) {
                h = (h ^ *p) * 16777619u;
                if (!*p)
                        return h;
        }
}

uint32_t ks__topology_tag(const ks_topology_t *topo, const char *app_id) {
        /* FNV-1a over "<application.id>\0<topic>\0...<store>/<sub>\0...":
         * the source topics give the topic indexes of origins their
         * meaning, the stores and their sub-topologies the store indexes of
         * committed positions. */
        uint32_t h = fnv_str(2166136261u, app_id);
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *n = topo->nodes[i];
                for (size_t j = 0;
                     n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++)
                        h = fnv_str(h, n->topics[j]);
        }
        for (size_t s = 0; s < topo->sub_cnt; s++)
                for (size_t k = 0; k < topo->subs[s].store_cnt; k++) {
                        char sub[32];
                        snprintf(sub, sizeof(sub), "/%zu", s);
                        h = fnv_str(h,
                                    topo->stores[topo->subs[s].stores[k]].name);
                        h = fnv_str(h, sub);
                }
        return h;
}
