/* The global thread (see global_thread_int.h). */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/error_int.h"
#include "../common/util_int.h"
#include "clients_int.h"
#include "global_thread_int.h"

#define BOOTSTRAP_TIMEOUT_MS 300000

struct ks__global_runner_s {
        ks__globals_env_t env;
        rd_kafka_t *consumer;
        ks__global_t **stores; /* one per topology global table */
        size_t cnt;
        pthread_t thread;
        int started;
        int stop; /* atomic */
        int64_t skipped;
};

/* One record of a global topic into its store. */
static void apply(ks__global_runner_t *r, const rd_kafka_message_t *m) {
        const ks_topology_t *topo = r->env.topo;
        const char *topic = rd_kafka_topic_name(m->rkt);
        const ks__global_def_t *g = ks__topology_global_for(topo, topic);
        if (!g)
                return;
        ks_error_t *e = NULL;
        const void *key = m->key, *value = m->payload;
        if (ks_serde_validate(g->key_serde, key, m->key_len, &e) ||
            ks_serde_validate(g->value_serde, value, m->len, &e)) {
                /* As a source with log_and_continue: the table goes on. */
                ks__log(r->env.conf, KS_LOG_WARNING, "GLOBAL",
                        "global table %s: skipping the record of %s [%" PRId32
                        "] at offset %" PRId64 ": %s",
                        g->store, topic, m->partition, m->offset,
                        ks_error_message(e));
                ks_error_destroy(e);
                r->skipped++;
                return;
        }
        ks_err_t err = ks__global_apply(r->stores[g - topo->globals], key,
                                        m->key_len, value, m->len);
        if (err)
                ks__log(r->env.conf, KS_LOG_ERR, "GLOBAL",
                        "global table %s: %s", g->store, ks_err2str(err));
}

static void *run(void *arg) {
        ks__global_runner_t *r = arg;
        while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
                rd_kafka_message_t *m =
                        rd_kafka_consumer_poll(r->consumer, 100);
                if (!m)
                        continue;
                if (!m->err)
                        apply(r, m);
                else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        ks__log(r->env.conf, KS_LOG_WARNING, "GLOBAL",
                                "global consumer: %s",
                                rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
        }
        return NULL;
}

/* Read until every partition has reported its end once. */
static ks_err_t bootstrap(ks__global_runner_t *r,
                          rd_kafka_topic_partition_list_t *parts,
                          ks_error_t **errp) {
        int *ended = calloc((size_t)parts->cnt + 1, sizeof(*ended));
        if (!ended)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        int left = parts->cnt;
        int64_t deadline = ks__now_ms() + BOOTSTRAP_TIMEOUT_MS;
        while (left > 0 && ks__now_ms() < deadline &&
               !__atomic_load_n(r->env.stopping, __ATOMIC_ACQUIRE)) {
                rd_kafka_message_t *m =
                        rd_kafka_consumer_poll(r->consumer, 200);
                if (!m)
                        continue;
                if (!m->err) {
                        apply(r, m);
                } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        const char *topic = rd_kafka_topic_name(m->rkt);
                        for (int i = 0; i < parts->cnt; i++)
                                if (!ended[i] &&
                                    parts->elems[i].partition == m->partition &&
                                    !strcmp(parts->elems[i].topic, topic)) {
                                        ended[i] = 1;
                                        left--;
                                }
                }
                rd_kafka_message_destroy(m);
        }
        ks_err_t err = KS_ERR_NO_ERROR;
        for (int i = 0; left > 0 && i < parts->cnt; i++)
                if (!ended[i]) {
                        err = ks__error_set(errp, KS_ERR_KAFKA,
                                            "global table topic %s [%" PRId32
                                            "] not read to its end in %d s",
                                            parts->elems[i].topic,
                                            parts->elems[i].partition,
                                            BOOTSTRAP_TIMEOUT_MS / 1000);
                        break;
                }
        free(ended);
        return err;
}

ks_err_t ks__globals_start(const ks__globals_env_t *env,
                           ks__global_runner_t **rp, ks_error_t **errp) {
        const ks_topology_t *topo = env->topo;
        *rp = NULL;
        if (!topo->global_cnt)
                return KS_ERR_NO_ERROR;
        ks__global_runner_t *r = calloc(1, sizeof(*r));
        if (!r || !(r->stores = calloc(topo->global_cnt, sizeof(*r->stores)))) {
                free(r);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        r->env = *env;
        r->cnt = topo->global_cnt;
        *rp = r;
        for (size_t i = 0; i < r->cnt; i++)
                if (!(r->stores[i] = ks__global_new(topo->globals[i].store)))
                        return ks__error_set(errp, KS_ERR_NO_MEMORY,
                                             "out of memory");
        char gid[300], cid[300];
        snprintf(gid, sizeof(gid), "%s-global", env->app_id);
        snprintf(cid, sizeof(cid), "%s-%s-global-consumer", env->app_id,
                 env->process_id);
        const char *fixed[] = {"group.id",
                               gid,
                               "enable.auto.commit",
                               "false",
                               "enable.partition.eof",
                               "true",
                               "isolation.level",
                               "read_committed",
                               NULL};
        ks__client_spec_t spec = {
                KS_CLIENT_GLOBAL_CONSUMER, cid, NULL, fixed, NULL, NULL};
        if (!(r->consumer = ks__client_new(env->conf, &spec, errp)))
                return KS_ERR_KAFKA;
        /* Every partition of every global topic, from the start. */
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e =
                rd_kafka_metadata(r->consumer, 1, NULL, &md, 30000);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "global tables: cannot read the "
                                     "cluster's metadata: %s",
                                     rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(8);
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t g = 0; !err && g < r->cnt; g++) {
                const char *topic = topo->globals[g].topic;
                const rd_kafka_metadata_topic_t *t = NULL;
                for (int i = 0; i < md->topic_cnt; i++)
                        if (!strcmp(md->topics[i].topic, topic) &&
                            !md->topics[i].err)
                                t = &md->topics[i];
                if (!t || !t->partition_cnt) {
                        err = ks__error_set(errp, KS_ERR_TOPOLOGY,
                                            "the topic %s of global table %s "
                                            "does not exist",
                                            topic, topo->globals[g].store);
                        break;
                }
                for (int p = 0; p < t->partition_cnt; p++)
                        rd_kafka_topic_partition_list_add(parts, topic,
                                                          t->partitions[p].id)
                                ->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_metadata_destroy(md);
        if (!err && (e = rd_kafka_assign(r->consumer, parts)))
                err = ks__error_set(errp, KS_ERR_KAFKA,
                                    "global consumer: assign: %s",
                                    rd_kafka_err2str(e));
        if (!err)
                err = bootstrap(r, parts, errp);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err)
                return err;
        if (pthread_create(&r->thread, NULL, run, r))
                return ks__error_set(errp, KS_ERR_FATAL,
                                     "cannot start the global thread");
        r->started = 1;
        return KS_ERR_NO_ERROR;
}

ks__global_t *const *ks__globals_stores(const ks__global_runner_t *r) {
        return r ? r->stores : NULL;
}

void ks__globals_stop(ks__global_runner_t *r) {
        if (!r)
                return;
        __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
        if (r->started)
                pthread_join(r->thread, NULL);
        if (r->consumer) {
                rd_kafka_consumer_close(r->consumer);
                rd_kafka_destroy(r->consumer);
        }
        for (size_t i = 0; r->stores && i < r->cnt; i++)
                ks__global_destroy(r->stores[i]);
        free(r->stores);
        free(r);
}
