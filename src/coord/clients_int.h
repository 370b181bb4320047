/* The one factory of the runtime's librdkafka clients.
 *
 * Every client (the stream threads' group consumers, restore consumers and
 * producers, the global-table consumer, the admin client) is made here, so
 * that each gets the same base settings and the same layering of the
 * user's pass-through properties:
 *
 *   library defaults  <  client.*  <  the kind's prefixes  <  fixed settings
 *
 * "client." carries what every client needs (security settings above all);
 * the kind's prefixes ("consumer.", "main.consumer.", "producer.", ...) win
 * over it; the settings the library relies on are applied last (the
 * configuration refuses user values for them in the first place). */
#ifndef KS_CLIENTS_INT_H
#define KS_CLIENTS_INT_H

#include <librdkafka/rdkafka.h>

#include "kstreams/config.h"

typedef enum {
        KS_CLIENT_MAIN_CONSUMER,    /* a stream thread's group member */
        KS_CLIENT_RESTORE_CONSUMER, /* changelog reader, manual assignment */
        KS_CLIENT_GLOBAL_CONSUMER,  /* global tables, manual assignment */
        KS_CLIENT_PRODUCER,         /* a stream thread's producer */
        KS_CLIENT_ADMIN,            /* start-up checks, topic creation */
} ks__client_kind_t;

/** What a client is made of besides the user's properties. */
typedef struct {
        ks__client_kind_t kind;
        const char *client_id;
        /* "key", "value", ..., NULL: defaults the user may override */
        const char *const *defaults;
        /* "key", "value", ..., NULL: settings the library relies on */
        const char *const *fixed;
        /* Set callbacks and the opaque on the conf (NULL: none). */
        void (*setup)(rd_kafka_conf_t *c, void *opaque);
        void *setup_opaque;
} ks__client_spec_t;

/** A new client per @p spec. NULL on failure, with a message naming the
 *  property librdkafka refused or why the client could not be made. */
rd_kafka_t *ks__client_new(const ks_config_t *conf,
                           const ks__client_spec_t *spec, ks_error_t **errp);

/** Set every pass-through property of @p conf that reaches a client of
 *  @p kind on @p rd_conf, "client." first. */
ks_err_t ks__client_conf_apply(const ks_config_t *conf, ks__client_kind_t kind,
                               rd_kafka_conf_t *rd_conf, ks_error_t **errp);

#endif
