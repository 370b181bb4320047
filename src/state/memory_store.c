/* In-memory key-value backend: a skiplist ordered by unsigned byte order.
 *
 * Each node owns one allocation holding key and value. Level-0 links are
 * doubly linked so reverse cursors can walk back. Cursors take a snapshot of
 * the entries of their range (up to its bound) at open time, so puts and
 * deletes during iteration (which processors do) can never touch memory a
 * cursor reads; this mirrors Kafka Streams' in-memory store, whose
 * iterators copy the key set. */
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "store_int.h"

#define MAX_LEVEL 24

typedef struct node_s {
        size_t klen, vlen;
        struct node_s *prev; /* level 0 backwards */
        int level;
        struct node_s *next[]; /* then key bytes, then value bytes */
} node_t;

typedef struct {
        node_t *head;
        int level;
        size_t count;
        uint64_t rng;
} mem_t;

static unsigned char *node_key(node_t *n) {
        return (unsigned char *)&n->next[n->level];
}
static unsigned char *node_val(node_t *n) {
        return node_key(n) + n->klen;
}

static node_t *node_new(int level, const void *k, size_t kl, const void *v,
                        size_t vl) {
        node_t *n = malloc(sizeof(*n) + (size_t)level * sizeof(node_t *) + kl +
                           vl + 1);
        if (!n)
                return NULL;
        n->level = level;
        n->klen = kl;
        n->vlen = vl;
        n->prev = NULL;
        for (int i = 0; i < level; i++)
                n->next[i] = NULL;
        if (kl)
                memcpy(node_key(n), k, kl);
        if (vl)
                memcpy(node_val(n), v, vl);
        return n;
}

void *ks__memory_store_new(void) {
        mem_t *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->head = node_new(MAX_LEVEL, NULL, 0, NULL, 0);
        if (!m->head) {
                free(m);
                return NULL;
        }
        m->level = 1;
        m->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)m;
        return m;
}

static int random_level(mem_t *m) {
        int lvl = 1;
        while (lvl < MAX_LEVEL) {
                m->rng ^= m->rng << 13;
                m->rng ^= m->rng >> 7;
                m->rng ^= m->rng << 17;
                if ((m->rng & 3) != 0) /* p = 1/4 */
                        break;
                lvl++;
        }
        return lvl;
}

static int cmp_node(node_t *n, const void *k, size_t kl) {
        return ks__bytes_cmp(node_key(n), n->klen, k, kl);
}

/* Fill update[] with the last node before @p k on every level. */
static node_t *find_ge(mem_t *m, const void *k, size_t kl, node_t **update) {
        node_t *x = m->head;
        for (int i = m->level - 1; i >= 0; i--) {
                while (x->next[i] && cmp_node(x->next[i], k, kl) < 0)
                        x = x->next[i];
                if (update)
                        update[i] = x;
        }
        return x->next[0];
}

/* The last node, NULL when the list is empty. */
static node_t *last_node(mem_t *m) {
        node_t *x = m->head;
        for (int i = m->level - 1; i >= 0; i--)
                while (x->next[i])
                        x = x->next[i];
        return x == m->head ? NULL : x;
}

static ks_err_t mem_get(void *impl, const void *k, size_t kl, const void **vp,
                        size_t *vlp) {
        node_t *n = find_ge(impl, k, kl, NULL);
        if (!n || cmp_node(n, k, kl))
                return KS_ERR_NOT_FOUND;
        *vp = node_val(n);
        *vlp = n->vlen;
        return KS_ERR_NO_ERROR;
}

static void unlink_node(mem_t *m, node_t *n, node_t **update) {
        for (int i = 0; i < m->level; i++)
                if (update[i]->next[i] == n)
                        update[i]->next[i] = n->next[i];
        if (n->next[0])
                n->next[0]->prev = n->prev;
        while (m->level > 1 && !m->head->next[m->level - 1])
                m->level--;
        m->count--;
}

static ks_err_t mem_put(void *impl, const void *k, size_t kl, const void *v,
                        size_t vl) {
        mem_t *m = impl;
        node_t *update[MAX_LEVEL];
        node_t *n = find_ge(m, k, kl, update);
        int exists = n && !cmp_node(n, k, kl);
        if (!v) {
                if (exists) {
                        unlink_node(m, n, update);
                        free(n);
                }
                return KS_ERR_NO_ERROR;
        }
        if (exists && n->vlen == vl) {
                memcpy(node_val(n), v, vl);
                return KS_ERR_NO_ERROR;
        }
        int lvl = exists ? n->level : random_level(m);
        node_t *nn = node_new(lvl, k, kl, v, vl);
        if (!nn)
                return KS_ERR_NO_MEMORY;
        if (exists) {
                unlink_node(m, n, update);
                free(n);
                /* update[] stays valid: it holds predecessors of the key. */
        }
        if (lvl > m->level) {
                for (int i = m->level; i < lvl; i++)
                        update[i] = m->head;
                m->level = lvl;
        }
        for (int i = 0; i < lvl; i++) {
                nn->next[i] = update[i]->next[i];
                update[i]->next[i] = nn;
        }
        nn->prev = update[0] == m->head ? NULL : update[0];
        if (nn->next[0])
                nn->next[0]->prev = nn;
        m->count++;
        return KS_ERR_NO_ERROR;
}

static ks_err_t mem_delete_range(void *impl, const void *from, size_t fromlen,
                                 const void *to, size_t tolen) {
        mem_t *m = impl;
        node_t *update[MAX_LEVEL];
        find_ge(m, from, fromlen, update);
        /* The doomed nodes follow update[] on every level: unlinking one
         * leaves update[] the predecessors of the next. */
        node_t *n;
        while ((n = update[0]->next[0]) && cmp_node(n, to, tolen) < 0) {
                unlink_node(m, n, update);
                free(n);
        }
        return KS_ERR_NO_ERROR;
}

typedef struct {
        unsigned char *arena; /* [klen u64][vlen u64][key][value]... */
        size_t len, pos;
} snap_t;

static ks_err_t mem_cursor_open(void *impl, int reverse, const void *seek,
                                size_t seeklen, const ks__kv_bound_t *bound,
                                void **curp) {
        mem_t *m = impl;
        node_t *start;
        if (!reverse) {
                start = seek ? find_ge(m, seek, seeklen, NULL)
                             : m->head->next[0];
        } else if (!seek) {
                start = last_node(m);
        } else {
                node_t *ge = find_ge(m, seek, seeklen, NULL);
                if (ge && !cmp_node(ge, seek, seeklen))
                        start = ge;
                else if (ge)
                        start = ge->prev;
                else /* all keys < seek: the last one */
                        start = last_node(m);
        }
        /* The snapshot ends at the bound: a range costs its own size, not
         * the rest of the store's. */
        size_t total = 0, cnt = 0;
        node_t *end = start;
        while (end && (!bound || !bound->limit || cnt < bound->limit) &&
               ks__kv_in_bound(bound, reverse, node_key(end), end->klen)) {
                total += 2 * sizeof(uint64_t) + end->klen + end->vlen;
                cnt++;
                end = reverse ? end->prev : end->next[0];
        }
        snap_t *s = calloc(1, sizeof(*s));
        if (!s)
                return KS_ERR_NO_MEMORY;
        s->arena = malloc(total + 1);
        if (!s->arena) {
                free(s);
                return KS_ERR_NO_MEMORY;
        }
        unsigned char *p = s->arena;
        for (node_t *n = start; n != end; n = reverse ? n->prev : n->next[0]) {
                uint64_t kl = n->klen, vl = n->vlen;
                memcpy(p, &kl, sizeof(kl));
                memcpy(p + sizeof(kl), &vl, sizeof(vl));
                p += 2 * sizeof(uint64_t);
                memcpy(p, node_key(n), n->klen + n->vlen);
                p += n->klen + n->vlen;
        }
        s->len = total;
        *curp = s;
        return KS_ERR_NO_ERROR;
}

static int mem_cursor_next(void *cur, const void **kp, size_t *klp,
                           const void **vp, size_t *vlp, ks_err_t *errp) {
        snap_t *s = cur;
        if (s->pos >= s->len)
                return 0;
        uint64_t kl, vl;
        unsigned char *p = s->arena + s->pos;
        memcpy(&kl, p, sizeof(kl));
        memcpy(&vl, p + sizeof(kl), sizeof(vl));
        p += 2 * sizeof(uint64_t);
        *kp = p;
        *klp = kl;
        *vp = p + kl;
        *vlp = vl;
        s->pos += 2 * sizeof(uint64_t) + kl + vl;
        return 1;
}

static void mem_cursor_close(void *cur) {
        snap_t *s = cur;
        free(s->arena);
        free(s);
}

static uint64_t mem_count(void *impl) {
        return ((mem_t *)impl)->count;
}

static void mem_close(void *impl) {
        mem_t *m = impl;
        if (!m)
                return;
        node_t *n = m->head->next[0];
        while (n) {
                node_t *nx = n->next[0];
                free(n);
                n = nx;
        }
        free(m->head);
        free(m);
}

const ks__kv_backend_ops_t ks__memory_store_ops = {
        .name = "in-memory",
        .get = mem_get,
        .put = mem_put,
        .cursor_open = mem_cursor_open,
        .cursor_next = mem_cursor_next,
        .cursor_close = mem_cursor_close,
        .delete_range = mem_delete_range,
        .approximate_count = mem_count,
        .close = mem_close,
};
