/* Global stores (see global_store_int.h): an in-memory key-value backend
 * behind a reader-writer lock, so the thread that keeps a global table up
 * to date and the stream threads that join with it can share it. Readers
 * get copies: a value may be replaced the moment the lock is let go. */
#include "global_store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "store_int.h"

struct ks__global_s {
        char *name;
        pthread_rwlock_t lock;
        void *impl; /* in-memory backend */
        int64_t applied;
};

ks__global_t *ks__global_new(const char *name) {
        ks__global_t *g = calloc(1, sizeof(*g));
        if (!g)
                return NULL;
        if (!(g->name = ks__strdup(name)) ||
            !(g->impl = ks__memory_store_new())) {
                free(g->name);
                free(g);
                return NULL;
        }
        pthread_rwlock_init(&g->lock, NULL);
        return g;
}

const char *ks__global_name(const ks__global_t *g) {
        return g->name;
}

ks_err_t ks__global_apply(ks__global_t *g, const void *key, size_t klen,
                          const void *value, size_t vlen) {
        if (!key)
                return KS_ERR_NO_ERROR; /* a table skips null keys */
        pthread_rwlock_wrlock(&g->lock);
        ks_err_t err =
                ks__memory_store_ops.put(g->impl, key, klen, value, vlen);
        if (err == KS_ERR_NOT_FOUND)
                err = KS_ERR_NO_ERROR; /* deleting what is not there */
        if (!err)
                g->applied++;
        pthread_rwlock_unlock(&g->lock);
        return err;
}

int ks__global_get(ks__global_t *g, const void *key, size_t klen, ks_buf_t *out,
                   ks_err_t *errp) {
        const void *v;
        size_t vl;
        *errp = KS_ERR_NO_ERROR;
        pthread_rwlock_rdlock(&g->lock);
        ks_err_t err = ks__memory_store_ops.get(g->impl, key, klen, &v, &vl);
        int found = err == KS_ERR_NO_ERROR;
        ks_buf_reset(out);
        if (found)
                *errp = ks_buf_append(out, v, vl);
        else if (err != KS_ERR_NOT_FOUND)
                *errp = err;
        pthread_rwlock_unlock(&g->lock);
        return found && !*errp;
}

int64_t ks__global_applied(ks__global_t *g) {
        pthread_rwlock_rdlock(&g->lock);
        int64_t n = g->applied;
        pthread_rwlock_unlock(&g->lock);
        return n;
}

void ks__global_destroy(ks__global_t *g) {
        if (!g)
                return;
        ks__memory_store_ops.close(g->impl);
        pthread_rwlock_destroy(&g->lock);
        free(g->name);
        free(g);
}
