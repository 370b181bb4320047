/* Instance metadata: which instance (its application.server) owns each
 * input partition, for ks_app_query_metadata_for_key().
 *
 * librdkafka offers no custom assignor or member user data, so each stream
 * thread's group member carries its instance's application.server at the
 * end of its client.id, after KS_SERVER_MARK. A background thread of the
 * app describes the consumer group (the admin API's
 * DescribeConsumerGroups: each member's client.id and assignment) and
 * keeps a table of the owner of every partition of every source topic.
 * It describes again soon after this instance's tasks change (each
 * rebalance closes and opens them: the query registry's generation) and
 * every 10 s; while the group is not Stable, or the description fails, the
 * table is unknown and is asked for again every 500 ms. Queries read the
 * table under its mutex and never ask the cluster.
 *
 * Trust: the group's description comes from the broker and from other
 * members' client ids: a member's server is taken only when it is a valid
 * host:port of bounded length, and only assignments of the topology's
 * source topics within their partition counts are kept; member and
 * partition counts are bounded.
 *
 * @locality ks__imeta_start/stop: the app's owner; ks__imeta_owner: any
 *           thread. */
#ifndef KS_INSTANCE_METADATA_INT_H
#define KS_INSTANCE_METADATA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kstreams/config.h"

#include "../topology/topology_int.h"
#include "query_registry_int.h"

/** Between a member's client id and its instance's application.server. */
#define KS_SERVER_MARK "@"

/** What the metadata thread is given; everything outlives it. */
typedef struct {
        const ks_config_t *conf;
        const ks_topology_t *topo;
        const char *app_id;              /* the group */
        const char *process_id;          /* names its admin client */
        const int32_t *topic_partitions; /* per source topic index */
        ks__qreg_t *queries;             /* its generation: a rebalance */
        const int *stopping;             /* atomic: the app stops */
} ks__imeta_env_t;

typedef struct ks__imeta_s ks__imeta_t;

/** Start the metadata thread (with an admin client of its own). */
ks_err_t ks__imeta_start(const ks__imeta_env_t *env, ks__imeta_t **mp,
                         ks_error_t **errp);

/** Stop the thread (within about 200 ms of @p env->stopping, or at once)
 *  and free. NULL is a no-op. */
void ks__imeta_stop(ks__imeta_t *m);

/** The application.server of the owner of partition @p partition of
 *  source topic @p topic_index, copied into @p host (NUL-terminated,
 *  truncated to @p size - 1). KS_ERR_NOT_FOUND (retriable) with the
 *  reason when unknown. */
ks_err_t ks__imeta_owner(ks__imeta_t *m, int32_t topic_index, int32_t partition,
                         char *host, size_t size, ks_error_t **errp);

/** The server a member's @p client_id carries, copied into @p out (of
 *  @p size): 1, or 0 when it carries no valid one. */
int ks__imeta_member_server(const char *client_id, char *out, size_t size);

#endif
