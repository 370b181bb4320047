/* Application configuration.
 *
 * Known keys live in one static table (name, type, default, range or
 * enumeration); a configuration stores only the values that were set, as
 * strings already validated against that table, so every getter can parse
 * without failing. Pass-through keys for librdkafka are kept in set order and
 * validated by letting librdkafka parse them into a scratch rd_kafka_conf_t. */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util_int.h"

typedef enum { T_STRING, T_INT, T_ENUM } key_type_t;

typedef struct {
        const char *name;
        key_type_t type;
        const char *def;
        int64_t min, max;
        /* NULL-terminated value names for T_ENUM; index = enum value. */
        const char *const *values;
        /* Why a value is refused: T_INT out of [min, max], or any
         * non-empty T_STRING (a Kafka Streams key the library does not
         * act on); NULL for the plain range message. */
        const char *refused;
} key_def_t;

static const char *const guarantees[] = {"at_least_once", "exactly_once_v2",
                                         NULL};
static const char *const recording_levels[] = {"INFO", "DEBUG", NULL};
static const char *const deser_handlers[] = {"log_and_fail", "log_and_continue",
                                             NULL};
static const char *const proc_handlers[] = {"log_and_fail", "log_and_continue",
                                            NULL};
static const char *const prod_handlers[] = {"fail", "continue", NULL};
static const char *const extractors[] = {
        "fail_on_invalid_timestamp", "log_and_skip_on_invalid_timestamp",
        "use_previous_on_invalid_timestamp", "wall_clock", NULL};

#define I64MAX INT64_MAX
static const key_def_t keys[] = {
        {"application.id", T_STRING, "", 0, 0, NULL, NULL},
        {"bootstrap.servers", T_STRING, "", 0, 0, NULL, NULL},
        {"client.id", T_STRING, "", 0, 0, NULL, NULL},
        {"application.server", T_STRING, "", 0, 0, NULL, NULL},
        {"instance.id", T_STRING, "", 0, 0, NULL, NULL},
        {"state.dir", T_STRING, "/tmp/kafka-streams", 0, 0, NULL, NULL},
        {"num.stream.threads", T_INT, "1", 1, 1024, NULL, NULL},
        {"num.standby.replicas", T_INT, "0", 0, 0, NULL,
         "standby replicas do not exist in this version: a failed task's "
         "state is rebuilt from its changelogs; only 0 is accepted"},
        {"commit.interval.ms", T_INT, "30000", 0, I64MAX, NULL, NULL},
        {"poll.ms", T_INT, "100", 0, I64MAX, NULL, NULL},
        {"max.task.idle.ms", T_INT, "0", -1, I64MAX, NULL, NULL},
        {"buffered.records.per.partition", T_INT, "1000", 1, I64MAX, NULL,
         NULL},
        {"statestore.cache.max.bytes", T_INT, "10485760", 0, I64MAX, NULL,
         NULL},
        {"cache.max.bytes.buffering", T_INT, "10485760", 0, I64MAX, NULL, NULL},
        {"replication.factor", T_INT, "-1", -1, 32767, NULL, NULL},
        {"state.cleanup.delay.ms", T_INT, "600000", 0, I64MAX, NULL, NULL},
        {"task.timeout.ms", T_INT, "300000", 0, I64MAX, NULL, NULL},
        {"windowstore.changelog.additional.retention.ms", T_INT, "86400000", 0,
         I64MAX, NULL, NULL},
        {"rocksdb.block.cache.bytes", T_INT, "52428800", 0, I64MAX, NULL, NULL},
        {"rocksdb.write.buffer.bytes", T_INT, "16777216", 65536, I64MAX, NULL,
         NULL},
        {"metrics.recording.level", T_ENUM, "INFO", 0, 0, recording_levels,
         NULL},
        {"statistics.interval.ms", T_INT, "0", 0, I64MAX, NULL, NULL},
        {"processing.guarantee", T_ENUM, "at_least_once", 0, 0, guarantees,
         NULL},
        {"default.deserialization.exception.handler", T_ENUM, "log_and_fail", 0,
         0, deser_handlers, NULL},
        {"default.production.exception.handler", T_ENUM, "fail", 0, 0,
         prod_handlers, NULL},
        {"processing.exception.handler", T_ENUM, "log_and_fail", 0, 0,
         proc_handlers, NULL},
        {"errors.dead.letter.queue.topic.name", T_STRING, "", 0, 0, NULL, NULL},
        {"default.timestamp.extractor", T_ENUM, "fail_on_invalid_timestamp", 0,
         0, extractors, NULL},
};

/* Pass-through prefixes. "client." reaches every client (security
 * settings first of all); the others one kind of client, and win over
 * "client." where both set a property. */
static const char *const prefixes[] = {
        "main.consumer.", "restore.consumer.", "global.consumer.",
        "consumer.",      "producer.",         "admin.",
        "client.",
};

/* librdkafka properties the library sets itself, and why a user value
 * would break it. */
static const struct {
        const char *key, *why;
} controlled_keys[] = {
        {"group.id", "the group is the application.id"},
        {"enable.auto.commit",
         "offsets are committed with the state they belong to"},
        {"enable.auto.offset.store",
         "offsets are committed with the state they belong to"},
        {"transactional.id",
         "exactly_once_v2 derives it from application.id, instance and "
         "thread"},
        {"isolation.level", "it follows processing.guarantee"},
        {"bootstrap.servers", "set bootstrap.servers itself"},
        {"partition.assignment.strategy",
         "tasks rely on the range assignor placing the same partition of "
         "co-partitioned topics together"},
        {"enable.idempotence",
         "changelog replays and duplicate detection rely on every partition "
         "staying in send order"},
        {"partitioner",
         "sinks partition keys as Kafka's Java clients do (murmur2), so "
         "co-partitioned topics stay co-partitioned; give a sink a "
         "partitioner instead"},
        {"delivery.report.only.error",
         "changelog positions come from delivery reports"},
        {"group.instance.id",
         "set instance.id: each stream thread needs its own static id"},
        {"auto.offset.reset",
         "input without a committed offset is read from its start, which "
         "internal topics and restores rely on"},
        {"enable.partition.eof",
         "max.task.idle.ms and restores rely on end-of-partition events"},
};

typedef struct {
        char *key;
        char *value;
} kv_t;

struct ks_config_s {
        char *values[KS_ARRAY_SIZE(keys)]; /* NULL: default */
        kv_t *pass;
        size_t pass_cnt;
        ks_log_cb *log_cb;
        void *log_opaque;
        int log_set;
};

static const key_def_t *key_find(const char *name, size_t *idx) {
        for (size_t i = 0; i < KS_ARRAY_SIZE(keys); i++) {
                if (!strcmp(keys[i].name, name)) {
                        if (idx)
                                *idx = i;
                        return &keys[i];
                }
        }
        return NULL;
}

ks_config_t *ks_config_new(void) {
        return calloc(1, sizeof(ks_config_t));
}

void ks_config_destroy(ks_config_t *conf) {
        if (!conf)
                return;
        for (size_t i = 0; i < KS_ARRAY_SIZE(keys); i++)
                free(conf->values[i]);
        for (size_t i = 0; i < conf->pass_cnt; i++) {
                free(conf->pass[i].key);
                free(conf->pass[i].value);
        }
        free(conf->pass);
        free(conf);
}

ks_config_t *ks_config_dup(const ks_config_t *conf) {
        if (!conf)
                return NULL;
        ks_config_t *d = ks_config_new();
        if (!d)
                return NULL;
        for (size_t i = 0; i < KS_ARRAY_SIZE(keys); i++) {
                if (conf->values[i] &&
                    !(d->values[i] = ks__strdup(conf->values[i])))
                        goto oom;
        }
        if (conf->pass_cnt) {
                d->pass = calloc(conf->pass_cnt, sizeof(*d->pass));
                if (!d->pass)
                        goto oom;
                for (size_t i = 0; i < conf->pass_cnt; i++) {
                        d->pass_cnt++;
                        d->pass[i].key = ks__strdup(conf->pass[i].key);
                        d->pass[i].value = ks__strdup(conf->pass[i].value);
                        if (!d->pass[i].key || !d->pass[i].value)
                                goto oom;
                }
        }
        d->log_cb = conf->log_cb;
        d->log_opaque = conf->log_opaque;
        d->log_set = conf->log_set;
        return d;
oom:
        ks_config_destroy(d);
        return NULL;
}

static int parse_int(const char *s, int64_t *out) {
        if (!*s)
                return -1;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end)
                return -1;
        *out = v;
        return 0;
}

int ks__server_valid(const char *s) {
        size_t n = strlen(s);
        const char *colon = strrchr(s, ':');
        if (!n || n > KS_SERVER_MAX || !colon || colon == s)
                return 0;
        const char *host = s, *host_end = colon;
        if (*s == '[') { /* [IPv6]:port */
                if (colon[-1] != ']' || colon - s < 3)
                        return 0;
                for (const char *c = s + 1; c < colon - 1; c++)
                        if (!isxdigit((unsigned char)*c) && *c != ':' &&
                            *c != '.')
                                return 0;
        } else {
                for (const char *c = host; c < host_end; c++)
                        if (!isalnum((unsigned char)*c) && *c != '.' &&
                            *c != '-' && *c != '_')
                                return 0;
        }
        const char *port = colon + 1;
        if (!*port || strlen(port) > 5)
                return 0;
        long v = 0;
        for (const char *c = port; *c; c++) {
                if (!isdigit((unsigned char)*c))
                        return 0;
                v = v * 10 + (*c - '0');
        }
        return v >= 1 && v <= 65535;
}

static ks_err_t validate_known(const key_def_t *k, const char *value,
                               ks_error_t **errp) {
        switch (k->type) {
        case T_STRING:
                if (k->refused && *value)
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "%s is refused: %s", k->name,
                                             k->refused);
                if (!strcmp(k->name, "application.id"))
                        return ks__topic_name_check(value, "application.id",
                                                    errp) == KS_ERR_NO_ERROR
                                       ? KS_ERR_NO_ERROR
                                       : ks__error_set(
                                                 errp, KS_ERR_INVALID_CONFIG,
                                                 "application.id \"%s\" is "
                                                 "invalid: it prefixes "
                                                 "internal topic names, so "
                                                 "it must be 1..249 "
                                                 "characters of "
                                                 "[a-zA-Z0-9._-]",
                                                 value);
                if (!strcmp(k->name, "application.server") && *value &&
                    !ks__server_valid(value))
                        return ks__error_set(
                                errp, KS_ERR_INVALID_CONFIG,
                                "application.server \"%s\" is invalid: it "
                                "must be host:port (a host name or IPv4 "
                                "address of [a-zA-Z0-9._-], or an IPv6 "
                                "address in brackets; port 1..65535; at most "
                                "%d characters)",
                                value, KS_SERVER_MAX);
                if (!strcmp(k->name, "errors.dead.letter.queue.topic.name") &&
                    *value) {
                        ks_error_t *e = NULL;
                        if (!ks__topic_name_check(value, k->name, &e))
                                return KS_ERR_NO_ERROR;
                        ks_err_t r = ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                                   "%s", ks_error_message(e));
                        ks_error_destroy(e);
                        return r;
                }
                if (!strcmp(k->name, "state.dir") && !*value)
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "state.dir must not be empty");
                return KS_ERR_NO_ERROR;
        case T_INT: {
                int64_t v;
                if (parse_int(value, &v))
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "%s: \"%s\" is not an integer",
                                             k->name, value);
                if ((v < k->min || v > k->max) && k->refused)
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "%s: %" PRId64 " is refused: %s",
                                             k->name, v, k->refused);
                if (v < k->min || v > k->max)
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "%s: %" PRId64 " is out of range "
                                             "[%" PRId64 ", %" PRId64 "]",
                                             k->name, v, k->min, k->max);
                return KS_ERR_NO_ERROR;
        }
        case T_ENUM:
                for (int i = 0; k->values[i]; i++)
                        if (!strcmp(k->values[i], value))
                                return KS_ERR_NO_ERROR;
                {
                        char allowed[256] = "";
                        for (int i = 0; k->values[i]; i++) {
                                if (i)
                                        strncat(allowed, ", ",
                                                sizeof(allowed) -
                                                        strlen(allowed) - 1);
                                strncat(allowed, k->values[i],
                                        sizeof(allowed) - strlen(allowed) - 1);
                        }
                        return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                             "%s: \"%s\" is not one of: %s",
                                             k->name, value, allowed);
                }
        }
        return KS_ERR_INVALID_CONFIG;
}

static ks_err_t validate_passthrough(const char *key, const char *sub,
                                     const char *value, ks_error_t **errp) {
        for (size_t i = 0; i < KS_ARRAY_SIZE(controlled_keys); i++)
                if (!strcmp(sub, controlled_keys[i].key))
                        return ks__error_set(
                                errp, KS_ERR_INVALID_CONFIG,
                                "%s: \"%s\" is set by kstreams itself and "
                                "cannot be overridden (%s)",
                                key, sub, controlled_keys[i].why);
        rd_kafka_conf_t *rk = rd_kafka_conf_new();
        if (!rk)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        char errstr[512];
        rd_kafka_conf_res_t res;
        /* Topic-level keys are accepted on the global conf by librdkafka. */
        res = rd_kafka_conf_set(rk, sub, value, errstr, sizeof(errstr));
        rd_kafka_conf_destroy(rk);
        if (res == RD_KAFKA_CONF_UNKNOWN)
                return ks__error_set(errp, KS_ERR_UNKNOWN_CONFIG,
                                     "%s: \"%s\" is not a librdkafka "
                                     "configuration property",
                                     key, sub);
        if (res != RD_KAFKA_CONF_OK)
                return ks__error_set(errp, KS_ERR_INVALID_CONFIG, "%s: %s", key,
                                     errstr);
        return KS_ERR_NO_ERROR;
}

static ks_err_t store_value(char **slot, const char *value, ks_error_t **errp) {
        char *v = ks__strdup(value);
        if (!v)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        free(*slot);
        *slot = v;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks_config_set(ks_config_t *conf, const char *key, const char *value,
                       ks_error_t **errp) {
        if (!conf || !key || !value)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "ks_config_set: NULL %s",
                                     !conf  ? "config"
                                     : !key ? "key"
                                            : "value");
        size_t idx = 0;
        const key_def_t *k = key_find(key, &idx);
        if (k) {
                ks_err_t err = validate_known(k, value, errp);
                if (err)
                        return err;
                return store_value(&conf->values[idx], value, errp);
        }
        for (size_t i = 0; i < KS_ARRAY_SIZE(prefixes); i++) {
                size_t plen = strlen(prefixes[i]);
                if (strncmp(key, prefixes[i], plen))
                        continue;
                const char *sub = key + plen;
                if (!*sub)
                        break;
                ks_err_t err = validate_passthrough(key, sub, value, errp);
                if (err)
                        return err;
                for (size_t j = 0; j < conf->pass_cnt; j++)
                        if (!strcmp(conf->pass[j].key, key))
                                return store_value(&conf->pass[j].value, value,
                                                   errp);
                kv_t *np = realloc(conf->pass,
                                   (conf->pass_cnt + 1) * sizeof(*conf->pass));
                if (!np)
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                conf->pass = np;
                kv_t *e = &conf->pass[conf->pass_cnt];
                e->key = ks__strdup(key);
                e->value = ks__strdup(value);
                if (!e->key || !e->value) {
                        free(e->key);
                        free(e->value);
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
                }
                conf->pass_cnt++;
                return KS_ERR_NO_ERROR;
        }
        return ks__error_set(errp, KS_ERR_UNKNOWN_CONFIG,
                             "unknown configuration key \"%s\" (librdkafka "
                             "properties take a prefix: client., consumer., "
                             "producer., admin., restore.consumer., ...)",
                             key);
}

const char *ks_config_get(const ks_config_t *conf, const char *key) {
        if (!conf || !key)
                return NULL;
        size_t idx = 0;
        const key_def_t *k = key_find(key, &idx);
        if (k) {
                if (conf->values[idx])
                        return conf->values[idx];
                /* The deprecated name stands in for the new one when only it
                 * was set, as in Kafka Streams. */
                if (!strcmp(key, "statestore.cache.max.bytes")) {
                        size_t old = 0;
                        key_find("cache.max.bytes.buffering", &old);
                        if (conf->values[old])
                                return conf->values[old];
                }
                return k->def;
        }
        for (size_t j = 0; j < conf->pass_cnt; j++)
                if (!strcmp(conf->pass[j].key, key))
                        return conf->pass[j].value;
        return NULL;
}

int64_t ks__config_int(const ks_config_t *conf, const char *key) {
        const char *v = ks_config_get(conf, key);
        int64_t out = 0;
        if (v)
                parse_int(v, &out);
        return out;
}

int ks__config_enum(const ks_config_t *conf, const char *key) {
        const key_def_t *k = key_find(key, NULL);
        const char *v = ks_config_get(conf, key);
        if (!k || k->type != T_ENUM || !v)
                return 0;
        for (int i = 0; k->values[i]; i++)
                if (!strcmp(k->values[i], v))
                        return i;
        return 0;
}

int64_t ks__config_commit_interval_ms(const ks_config_t *conf) {
        size_t idx = 0;
        key_find("commit.interval.ms", &idx);
        if (!conf->values[idx] &&
            ks__config_enum(conf, "processing.guarantee") ==
                    KS_GUARANTEE_EXACTLY_ONCE_V2)
                return 100;
        return ks__config_int(conf, "commit.interval.ms");
}

void ks__config_foreach_passthrough(const ks_config_t *conf, const char *prefix,
                                    void (*cb)(void *opaque, const char *key,
                                               const char *value),
                                    void *opaque) {
        size_t plen = strlen(prefix);
        for (size_t j = 0; j < conf->pass_cnt; j++)
                if (!strncmp(conf->pass[j].key, prefix, plen))
                        cb(opaque, conf->pass[j].key + plen,
                           conf->pass[j].value);
}

void ks_config_set_log_cb(ks_config_t *conf, ks_log_cb *cb, void *opaque) {
        if (!conf)
                return;
        conf->log_cb = cb;
        conf->log_opaque = opaque;
        conf->log_set = 1;
}

int ks__log_enabled(const ks_config_t *conf, int level) {
        if (conf && conf->log_set && !conf->log_cb)
                return 0;
        return (conf && conf->log_set) || level <= KS_LOG_INFO;
}

void ks__log(const ks_config_t *conf, int level, const char *facility,
             const char *fmt, ...) {
        char line[1024];
        va_list ap;
        if (conf && conf->log_set && !conf->log_cb)
                return;
        if ((!conf || !conf->log_set) && level > KS_LOG_INFO)
                return;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (conf && conf->log_cb)
                conf->log_cb(conf->log_opaque, level, facility, line);
        else
                fprintf(stderr, "%%%d|kstreams|%s| %s\n", level, facility,
                        line);
}
