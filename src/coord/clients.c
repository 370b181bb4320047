/* The runtime's librdkafka client factory (see clients_int.h). */
#include "clients_int.h"

#include <stdio.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

/* The pass-through prefixes each kind of client reads, weakest first. */
static const char *const *kind_prefixes(ks__client_kind_t kind) {
        static const char *const main_c[] = {"client.", "consumer.",
                                             "main.consumer.", NULL};
        static const char *const restore_c[] = {"client.", "consumer.",
                                                "restore.consumer.", NULL};
        static const char *const global_c[] = {"client.", "consumer.",
                                               "global.consumer.", NULL};
        static const char *const producer[] = {"client.", "producer.", NULL};
        static const char *const admin[] = {"client.", "admin.", NULL};
        switch (kind) {
        case KS_CLIENT_MAIN_CONSUMER:
                return main_c;
        case KS_CLIENT_RESTORE_CONSUMER:
                return restore_c;
        case KS_CLIENT_GLOBAL_CONSUMER:
                return global_c;
        case KS_CLIENT_PRODUCER:
                return producer;
        case KS_CLIENT_ADMIN:
                break;
        }
        return admin;
}

typedef struct {
        rd_kafka_conf_t *conf;
        ks_error_t **errp;
        ks_err_t err;
        const char *prefix;
} apply_t;

static void apply_one(void *opaque, const char *key, const char *value) {
        apply_t *a = opaque;
        char buf[512];
        if (a->err)
                return;
        if (rd_kafka_conf_set(a->conf, key, value, buf, sizeof(buf)) !=
            RD_KAFKA_CONF_OK)
                a->err = ks__error_set(a->errp, KS_ERR_INVALID_CONFIG,
                                       "librdkafka refuses %s%s: %s", a->prefix,
                                       key, buf);
}

ks_err_t ks__client_conf_apply(const ks_config_t *conf, ks__client_kind_t kind,
                               rd_kafka_conf_t *rd_conf, ks_error_t **errp) {
        apply_t a = {rd_conf, errp, KS_ERR_NO_ERROR, NULL};
        for (const char *const *p = kind_prefixes(kind); *p && !a.err; p++) {
                a.prefix = *p;
                ks__config_foreach_passthrough(conf, *p, apply_one, &a);
        }
        return a.err;
}

static ks_err_t set_all(rd_kafka_conf_t *c, const char *const *kv,
                        ks_error_t **errp) {
        char buf[512];
        for (size_t i = 0; kv && kv[i]; i += 2)
                if (kv[i + 1] &&
                    rd_kafka_conf_set(c, kv[i], kv[i + 1], buf, sizeof(buf)))
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "%s: %s", kv[i], buf);
        return KS_ERR_NO_ERROR;
}

rd_kafka_t *ks__client_new(const ks_config_t *conf,
                           const ks__client_spec_t *spec, ks_error_t **errp) {
        char buf[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        const char *base[] = {"bootstrap.servers",
                              ks_config_get(conf, "bootstrap.servers"),
                              "client.id", spec->client_id, NULL};
        if (set_all(c, base, errp) || set_all(c, spec->defaults, errp) ||
            ks__client_conf_apply(conf, spec->kind, c, errp) ||
            set_all(c, spec->fixed, errp)) {
                rd_kafka_conf_destroy(c);
                return NULL;
        }
        if (spec->setup)
                spec->setup(c, spec->setup_opaque);
        rd_kafka_type_t type = spec->kind == KS_CLIENT_PRODUCER ||
                                               spec->kind == KS_CLIENT_ADMIN
                                       ? RD_KAFKA_PRODUCER
                                       : RD_KAFKA_CONSUMER;
        rd_kafka_t *rk = rd_kafka_new(type, c, buf, sizeof(buf));
        if (!rk) {
                rd_kafka_conf_destroy(c);
                ks__error_set(errp, KS_ERR_KAFKA, "cannot create client %s: %s",
                              spec->client_id, buf);
        }
        return rk;
}
