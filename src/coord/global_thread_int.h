/* The global thread: global tables' topics, read whole into their stores.
 *
 * ks__globals_start() assigns every partition of each global table's
 * topic to a consumer of its own, reads them to their ends (bootstrap),
 * then starts a thread that follows them until ks__globals_stop(). The
 * stores (src/state/global_store.c) are shared with every task, behind a
 * reader-writer lock. */
#ifndef KS_GLOBAL_THREAD_INT_H
#define KS_GLOBAL_THREAD_INT_H

#include "../state/global_store_int.h"
#include "../topology/topology_int.h"

typedef struct ks__global_runner_s ks__global_runner_t;

/** What the global thread is given (borrowed; outlives it). */
typedef struct {
        const ks_config_t *conf;
        const ks_topology_t *topo;
        const char *app_id;
        const char *process_id;
        const int *stopping; /* atomic: give up the bootstrap */
} ks__globals_env_t;

/** Load the global tables and start following them. *rp is set even on
 *  failure (stop it with ks__globals_stop()); NULL without global
 *  tables. */
ks_err_t ks__globals_start(const ks__globals_env_t *env,
                           ks__global_runner_t **rp, ks_error_t **errp);

/** The global stores, one per topology global table (NULL for none). */
ks__global_t *const *ks__globals_stores(const ks__global_runner_t *r);

/** Stop the thread and free the stores. NULL is a no-op. */
void ks__globals_stop(ks__global_runner_t *r);

#endif
