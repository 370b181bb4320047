/* Origin headers and duplicate marks (see origin_int.h).
 *
 * The marks are an open-addressing hash table keyed by (input topic index,
 * origin topic index, origin partition), kept at most half full; each
 * entry holds the highest (offset, rank) processed and whether it changed
 * since it was last written to the marks store. */
#include "origin_int.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"

#define MARK_KEY_LEN   16 /* tag, input, origin topic, origin partition */
#define MARK_VALUE_LEN 12 /* offset, rank */

void ks__origin_encode(uint8_t *out, uint32_t tag, const ks__origin_rec_t *o) {
        out[0] = KS_ORIGIN_VERSION;
        ks__be32_put(out + 1, tag);
        ks__be32_put(out + 5, (uint32_t)o->topic_index);
        ks__be32_put(out + 9, (uint32_t)o->partition);
        ks__be64_put(out + 13, (uint64_t)o->offset);
        ks__be32_put(out + 21, (uint32_t)o->seq);
}

int ks__origin_decode(const void *v, size_t len,
                      const ks__origin_scope_t *scope, ks__origin_rec_t *o) {
        const uint8_t *p = v;
        if (!p || len != KS_ORIGIN_LEN || p[0] != KS_ORIGIN_VERSION ||
            ks__be32_get(p + 1) != scope->tag)
                return -1;
        uint32_t ti = ks__be32_get(p + 5);
        uint32_t part = ks__be32_get(p + 9);
        uint64_t off = ks__be64_get(p + 13);
        uint32_t seq = ks__be32_get(p + 21);
        if (ti >= (uint32_t)scope->topic_cnt || part > INT32_MAX ||
            off >= (uint64_t)INT64_MAX || seq >= (uint32_t)INT32_MAX)
                return -1;
        int32_t parts = scope->partitions ? scope->partitions[ti] : 0;
        if (parts <= 0 || (int32_t)part >= parts)
                return -1;
        o->topic_index = (int32_t)ti;
        o->partition = (int32_t)part;
        o->offset = (int64_t)off;
        o->seq = (int32_t)seq;
        return 0;
}

typedef struct {
        int32_t input, topic, partition;
        int used, dirty;
        int64_t offset;
        int32_t seq;
} mark_t;

struct ks__marks_s {
        uint32_t tag;
        mark_t *slots;
        size_t cap, cnt; /* cap: a power of two */
};

ks__marks_t *ks__marks_new(uint32_t tag) {
        ks__marks_t *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->tag = tag;
        return m;
}

void ks__marks_destroy(ks__marks_t *m) {
        if (!m)
                return;
        free(m->slots);
        free(m);
}

size_t ks__marks_count(const ks__marks_t *m) {
        return m->cnt;
}

static size_t slot_of(const ks__marks_t *m, int32_t input, int32_t topic,
                      int32_t partition) {
        uint64_t h = (uint64_t)(uint32_t)input * 0x9E3779B97F4A7C15ULL;
        h ^= (uint64_t)(uint32_t)topic * 0xC2B2AE3D27D4EB4FULL;
        h ^= (uint64_t)(uint32_t)partition * 0x165667B19E3779F9ULL;
        h ^= h >> 29;
        return (size_t)h & (m->cap - 1);
}

static mark_t *find(ks__marks_t *m, int32_t input, int32_t topic,
                    int32_t partition, int add);

static int grow(ks__marks_t *m) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        mark_t *old = m->slots;
        size_t oc = m->cap;
        mark_t *ns = calloc(nc, sizeof(*ns));
        if (!ns)
                return -1;
        m->slots = ns;
        m->cap = nc;
        m->cnt = 0;
        for (size_t i = 0; i < oc; i++)
                if (old[i].used)
                        *find(m, old[i].input, old[i].topic, old[i].partition,
                              1) = old[i];
        free(old);
        return 0;
}

/* The mark of (input, topic, partition); with @p add, a new unused-looking
 * slot claimed for it (offset -1) when there is none; NULL if absent (or
 * out of memory). */
static mark_t *find(ks__marks_t *m, int32_t input, int32_t topic,
                    int32_t partition, int add) {
        if (add && (m->cnt + 1) * 2 > m->cap && grow(m))
                return NULL;
        if (!m->cap)
                return NULL;
        for (size_t i = slot_of(m, input, topic, partition);;
             i = (i + 1) & (m->cap - 1)) {
                mark_t *s = &m->slots[i];
                if (!s->used) {
                        if (!add)
                                return NULL;
                        *s = (mark_t){input, topic, partition, 1, 0, -1, -1};
                        m->cnt++;
                        return s;
                }
                if (s->input == input && s->topic == topic &&
                    s->partition == partition)
                        return s;
        }
}

int ks__marks_check(ks__marks_t *m, int32_t input, const ks__origin_rec_t *o) {
        mark_t *s = find(m, input, o->topic_index, o->partition, 1);
        if (!s)
                return -1;
        if (o->offset < s->offset ||
            (o->offset == s->offset && o->seq <= s->seq))
                return 1;
        s->offset = o->offset;
        s->seq = o->seq;
        s->dirty = 1;
        return 0;
}

int ks__marks_flush(ks__marks_t *m,
                    int (*put)(void *opaque, const void *key, size_t klen,
                               const void *value, size_t vlen),
                    void *opaque) {
        for (size_t i = 0; i < m->cap; i++) {
                mark_t *s = &m->slots[i];
                if (!s->used || !s->dirty)
                        continue;
                uint8_t k[MARK_KEY_LEN], v[MARK_VALUE_LEN];
                ks__be32_put(k, m->tag);
                ks__be32_put(k + 4, (uint32_t)s->input);
                ks__be32_put(k + 8, (uint32_t)s->topic);
                ks__be32_put(k + 12, (uint32_t)s->partition);
                ks__be64_put(v, (uint64_t)s->offset);
                ks__be32_put(v + 8, (uint32_t)s->seq);
                int rc = put(opaque, k, sizeof(k), v, sizeof(v));
                if (rc)
                        return rc;
                s->dirty = 0;
        }
        return 0;
}

int ks__marks_load(ks__marks_t *m, const ks__origin_scope_t *scope,
                   const void *key, size_t klen, const void *value,
                   size_t vlen) {
        const uint8_t *k = key, *v = value;
        if (klen != MARK_KEY_LEN || vlen != MARK_VALUE_LEN || !k || !v ||
            ks__be32_get(k) != m->tag)
                return 1;
        uint32_t input = ks__be32_get(k + 4), topic = ks__be32_get(k + 8),
                 part = ks__be32_get(k + 12);
        uint64_t off = ks__be64_get(v);
        uint32_t seq = ks__be32_get(v + 8);
        if (input >= (uint32_t)scope->topic_cnt ||
            topic >= (uint32_t)scope->topic_cnt || part > INT32_MAX ||
            (int32_t)part >= scope->partitions[topic] ||
            off >= (uint64_t)INT64_MAX || seq >= (uint32_t)INT32_MAX)
                return 1;
        mark_t *s = find(m, (int32_t)input, (int32_t)topic, (int32_t)part, 1);
        if (!s)
                return -1;
        s->offset = (int64_t)off;
        s->seq = (int32_t)seq;
        s->dirty = 0;
        return 0;
}
