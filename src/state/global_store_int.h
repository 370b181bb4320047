/* Global stores: the local copy of a global table, every partition of its
 * topic, shared by the stream threads of an application (or the test
 * driver) and written by the one thread that reads the topic. */
#ifndef KS_GLOBAL_STORE_INT_H
#define KS_GLOBAL_STORE_INT_H

#include "kstreams/error.h"
#include "kstreams/serde.h"

typedef struct ks__global_s ks__global_t;

/** A new, empty global store (NULL when out of memory). */
ks__global_t *ks__global_new(const char *name);

const char *ks__global_name(const ks__global_t *g);

/** Put (value NULL: delete) a record of the table's topic. Null keys are
 *  skipped. Thread-safe. */
ks_err_t ks__global_apply(ks__global_t *g, const void *key, size_t klen,
                          const void *value, size_t vlen);

/** Copy the value of @p key into @p out: 1 if found, 0 if not (or on an
 *  error, in *errp). Thread-safe. */
int ks__global_get(ks__global_t *g, const void *key, size_t klen, ks_buf_t *out,
                   ks_err_t *errp);

/** Records applied so far (thread-safe). */
int64_t ks__global_applied(ks__global_t *g);

void ks__global_destroy(ks__global_t *g);

/** The global store @p name of the task running @p ctx, NULL if there is
 *  none. Implemented by the task, which holds its driver's global stores;
 *  declared here so that processors below the task can reach them. */
ks__global_t *ks__context_global(ks_context_t *ctx, const char *name);

#endif
