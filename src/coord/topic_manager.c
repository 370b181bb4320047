/* The application's topics before any thread starts (Kafka Streams'
 * InternalTopicManager): the cluster answers, every source topic and the
 * dead-letter queue topic (errors.dead.letter.queue.topic.name) exist,
 * the source topics of each sub-topology are co-partitioned, and every
 * internal topic (repartition topics, changelogs) exists with the
 * partitions its sub-topology needs, created through the admin API with
 * the cleanup policy and retention of its kind when
 * missing (a broker that does not answer CreateTopics, like librdkafka's
 * mock, costs CREATE_TIMEOUT_MS, after which the metadata decides). */
#include "app_int.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "clients_int.h"
#include "commit_meta_int.h"

#define METADATA_TIMEOUT_MS 10000
#define CREATE_TIMEOUT_MS   5000

static const rd_kafka_metadata_topic_t *
md_topic(const struct rd_kafka_metadata *md, const char *name) {
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, name))
                        return md->topics[i].err ? NULL : &md->topics[i];
        return NULL;
}

static void append(char *buf, size_t size, const char *fmt, ...)
        KS_PRINTF(3, 4);
static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t len = strlen(buf);
        if (len >= size - 1)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
}

static ks_err_t fetch_metadata(ks_app_t *app, rd_kafka_t *rk,
                               const struct rd_kafka_metadata **mdp,
                               ks_error_t **errp) {
        rd_kafka_resp_err_t e =
                rd_kafka_metadata(rk, 1, NULL, mdp, METADATA_TIMEOUT_MS);
        if (e)
                return ks__error_set(
                        errp, KS_ERR_KAFKA,
                        "cannot read the cluster's metadata from "
                        "bootstrap.servers %s within %d s: %s",
                        ks_config_get(app->conf, "bootstrap.servers"),
                        METADATA_TIMEOUT_MS / 1000, rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

/* Partition count of the sources of each sub-topology (checked equal). */
static ks_err_t check_sources(ks_app_t *app, const struct rd_kafka_metadata *md,
                              int *sub_parts, ks_error_t **errp) {
        ks_topology_t *topo = app->topo;
        char missing[1024] = "";
        for (size_t s = 0; s < topo->sub_cnt; s++) {
                const ks__subtopology_t *sub = &topo->subs[s];
                const char *first = NULL;
                sub_parts[s] = -1;
                for (size_t k = 0; k < sub->node_cnt; k++) {
                        const ks__node_t *n = sub->nodes[k];
                        for (size_t j = 0; n->kind == KS_NODE_SOURCE &&
                                           !n->internal && j < n->topic_cnt;
                             j++) {
                                const rd_kafka_metadata_topic_t *t =
                                        md_topic(md, n->topics[j]);
                                if (!t) {
                                        append(missing, sizeof(missing), "%s%s",
                                               *missing ? ", " : "",
                                               n->topics[j]);
                                        continue;
                                }
                                if (sub_parts[s] < 0) {
                                        sub_parts[s] = t->partition_cnt;
                                        first = n->topics[j];
                                } else if (t->partition_cnt != sub_parts[s]) {
                                        return ks__error_set(
                                                errp, KS_ERR_TOPOLOGY,
                                                "co-partitioning: source "
                                                "topics %s (%d partitions) "
                                                "and %s (%d partitions) of "
                                                "sub-topology %zu must have "
                                                "the same number of "
                                                "partitions",
                                                first, sub_parts[s],
                                                n->topics[j], t->partition_cnt,
                                                s);
                                }
                        }
                }
        }
        if (*missing)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "source topic(s) %s do not exist",
                                     missing);
        /* A sub-topology reading a repartition topic has as many partitions
         * as the sub-topologies writing it (the most of them). */
        for (int changed = 1; changed;) {
                changed = 0;
                for (size_t k = 0; k < topo->node_cnt; k++) {
                        const ks__node_t *sink = topo->nodes[k];
                        if (sink->kind != KS_NODE_SINK || !sink->internal ||
                            sink->partitions < 0)
                                continue; /* partitioned like its reader */
                        const ks__node_t *src =
                                ks__topology_source_for(topo, sink->topic);
                        int from = sink->partitions > 0
                                           ? sink->partitions
                                           : sub_parts[sink->subtopology];
                        if (src && from > sub_parts[src->subtopology]) {
                                sub_parts[src->subtopology] = from;
                                changed = 1;
                        }
                }
        }
        return KS_ERR_NO_ERROR;
}

/* Create the missing internal topics; a broker that does not answer
 * CreateTopics (librdkafka's mock) costs CREATE_TIMEOUT_MS, after which the
 * metadata decides. */
static void create_topics(ks_app_t *app, rd_kafka_t *rk,
                          rd_kafka_NewTopic_t **nts, size_t cnt) {
        char err[512];
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, CREATE_TIMEOUT_MS, err,
                                                  sizeof(err));
        rd_kafka_AdminOptions_set_operation_timeout(opts, CREATE_TIMEOUT_MS,
                                                    err, sizeof(err));
        rd_kafka_CreateTopics(rk, nts, cnt, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CREATE_TIMEOUT_MS + 1000);
        if (!ev) {
                ks__log(app->conf, KS_LOG_WARNING, "APP",
                        "CreateTopics got no answer in %d ms",
                        CREATE_TIMEOUT_MS);
        } else {
                size_t n = 0;
                const rd_kafka_CreateTopics_result_t *r =
                        rd_kafka_event_CreateTopics_result(ev);
                const rd_kafka_topic_result_t **res =
                        r ? rd_kafka_CreateTopics_result_topics(r, &n) : NULL;
                for (size_t i = 0; i < n; i++)
                        if (rd_kafka_topic_result_error(res[i]) &&
                            rd_kafka_topic_result_error(res[i]) !=
                                    RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                                ks__log(app->conf, KS_LOG_WARNING, "APP",
                                        "creating %s: %s",
                                        rd_kafka_topic_result_name(res[i]),
                                        rd_kafka_topic_result_error_string(
                                                res[i]));
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
}

/* The configs of internal topic @p i (ks__topology_internal_config()). */
static void set_configs(rd_kafka_NewTopic_t *nt, const ks_topology_t *topo,
                        size_t i, int64_t additional_retention_ms) {
        ks__topic_config_t cfg;
        if (ks__topology_internal_config(topo, i, additional_retention_ms,
                                         &cfg))
                return;
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", cfg.cleanup_policy);
        if (cfg.retention_ms >= 0) {
                char v[24];
                snprintf(v, sizeof(v), "%" PRId64, cfg.retention_ms);
                rd_kafka_NewTopic_set_config(nt, "retention.ms", v);
        }
}

static ks_err_t check_internal(ks_app_t *app, rd_kafka_t *rk,
                               const struct rd_kafka_metadata **mdp,
                               const int *sub_parts, ks_error_t **errp) {
        ks_topology_t *topo = app->topo;
        size_t cnt = ks_topology_internal_topic_count(topo);
        rd_kafka_NewTopic_t **nts = calloc(cnt ? cnt : 1, sizeof(*nts));
        char **names = calloc(cnt ? cnt : 1, sizeof(*names));
        if (!nts || !names) {
                free(nts);
                free(names);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        size_t ncreate = 0;
        ks_err_t err = KS_ERR_NO_ERROR;
        int rf = (int)ks__config_int(app->conf, "replication.factor");
        int64_t extra = ks__config_int(
                app->conf, "windowstore.changelog.additional.retention.ms");
        for (int pass = 0; pass < 2 && !err; pass++) {
                char missing[1024] = "";
                for (size_t i = 0; i < cnt && !err; i++) {
                        char name[512];
                        const char *src;
                        ks_topology_internal_topic(topo, app->app_id, i, name,
                                                   sizeof(name), &src);
                        int want = -1;
                        const ks__node_t *sn =
                                ks__topology_source_for(topo, src);
                        if (sn)
                                want = sub_parts[sn->subtopology];
                        if (ks__topology_internal_partitions(topo, i) > 0)
                                want = ks__topology_internal_partitions(topo,
                                                                        i);
                        else if (ks__topology_internal_partitions(topo, i) <
                                         0 &&
                                 ks__topology_internal_reader(topo, i) >= 0)
                                want = sub_parts[ks__topology_internal_reader(
                                        topo, i)];
                        const rd_kafka_metadata_topic_t *t =
                                md_topic(*mdp, name);
                        if (t && t->partition_cnt != want) {
                                err = ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "internal topic %s has %d "
                                        "partitions, but %s%s has %d",
                                        name, t->partition_cnt,
                                        ks__topology_internal_partitions(topo,
                                                                         i) < 0
                                                ? "the sub-topology reading "
                                                  "it"
                                                : "its source topic ",
                                        ks__topology_internal_partitions(topo,
                                                                         i) < 0
                                                ? ""
                                                : src,
                                        want);
                        } else if (!t && pass == 0) {
                                char e[256];
                                rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
                                        name, want, rf, e, sizeof(e));
                                if (nt) {
                                        set_configs(nt, topo, i, extra);
                                        names[ncreate] = ks__strdup(name);
                                        nts[ncreate++] = nt;
                                }
                        } else if (!t) {
                                append(missing, sizeof(missing), "%s%s",
                                       *missing ? ", " : "", name);
                        }
                }
                if (err || pass == 1) {
                        if (!err && *missing)
                                err = ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "internal topic(s) %s do not exist "
                                        "and could not be created (create "
                                        "them, with as many partitions as "
                                        "their source topics: changelogs "
                                        "compacted, those of window and "
                                        "session stores also deleted after "
                                        "their retention)",
                                        missing);
                        break;
                }
                if (!ncreate)
                        break;
                create_topics(app, rk, nts, ncreate);
                /* New topics take a moment to show in metadata (and another
                 * instance may be creating them at the same time). */
                int64_t until = ks__now_ms() + CREATE_TIMEOUT_MS;
                do {
                        rd_kafka_metadata_destroy(*mdp);
                        *mdp = NULL;
                        err = fetch_metadata(app, rk, mdp, errp);
                        int all = 1;
                        for (size_t i = 0; !err && i < ncreate; i++)
                                all &= !names[i] ||
                                       md_topic(*mdp, names[i]) != NULL;
                        if (err || all)
                                break;
                        rd_kafka_poll(rk, 200); /* paces the retries */
                } while (ks__now_ms() < until);
        }
        for (size_t i = 0; i < ncreate; i++) {
                rd_kafka_NewTopic_destroy(nts[i]);
                free(names[i]);
        }
        free(nts);
        free(names);
        return err;
}

/* The partitions of each source topic (by topology index): those of the
 * sub-topology reading it. */
static ks_err_t fill_partitions(ks_app_t *app, const int *sub_parts,
                                ks_error_t **errp) {
        const ks_topology_t *topo = app->topo;
        int32_t n = ks__topology_topic_count(topo);
        app->topic_partitions = calloc((size_t)n + 1, sizeof(int32_t));
        if (!app->topic_partitions)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *nd = topo->nodes[i];
                for (size_t j = 0;
                     nd->kind == KS_NODE_SOURCE && j < nd->topic_cnt; j++) {
                        int32_t ti =
                                ks__topology_topic_index(topo, nd->topics[j]);
                        if (ti >= 0)
                                app->topic_partitions[ti] =
                                        sub_parts[nd->subtopology];
                }
        }
        app->scope.topic_cnt = n;
        app->scope.partitions = app->topic_partitions;
        return KS_ERR_NO_ERROR;
}

/* The dead-letter queue, when configured, exists (the library does not
 * create it: its partitions and retention are the operator's choice), is
 * no input of the topology, whose failures would feed themselves, and no
 * internal topic (a changelog would restore dead-letter records into its
 * store). */
static ks_err_t check_dlq(ks_app_t *app, const struct rd_kafka_metadata *md,
                          ks_error_t **errp) {
        const char *dlq =
                ks_config_get(app->conf, "errors.dead.letter.queue.topic.name");
        if (!dlq || !*dlq)
                return KS_ERR_NO_ERROR;
        if (ks__topology_source_for(app->topo, dlq))
                return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                     "errors.dead.letter.queue.topic.name: "
                                     "topic %s is read by the topology; the "
                                     "dead-letter queue must be another "
                                     "topic",
                                     dlq);
        if (ks__topology_is_internal_topic(app->topo, app->app_id, dlq))
                return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                     "errors.dead.letter.queue.topic.name: "
                                     "topic %s is an internal topic of the "
                                     "application; the dead-letter queue "
                                     "must be another topic",
                                     dlq);
        if (!md_topic(md, dlq))
                return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                     "errors.dead.letter.queue.topic.name: "
                                     "the dead-letter queue topic %s does "
                                     "not exist; create it before starting "
                                     "the application",
                                     dlq);
        return KS_ERR_NO_ERROR;
}

/* The positions committed with a task's offsets must fit Kafka's limit on
 * offset metadata whatever the partitions: a sub-topology has a bounded
 * number of stores. */
static ks_err_t check_metadata_size(ks_app_t *app, ks_error_t **errp) {
        for (size_t s = 0; s < app->topo->sub_cnt; s++) {
                size_t n = app->topo->subs[s].store_cnt;
                if (ks__commit_meta_max(n) > KS_COMMIT_META_MAX)
                        return ks__error_set(
                                errp, KS_ERR_TOPOLOGY,
                                "sub-topology %zu has %zu state stores: the "
                                "changelog positions committed with its "
                                "offsets could exceed %d bytes; split it "
                                "across repartition topics",
                                s, n, KS_COMMIT_META_MAX);
        }
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__topics_check(ks_app_t *app, ks_error_t **errp) {
        ks_err_t err = check_metadata_size(app, errp);
        if (err)
                return err;
        char cid[300];
        snprintf(cid, sizeof(cid), "%s-%s-admin", app->app_id, app->process_id);
        ks__client_spec_t spec = {KS_CLIENT_ADMIN, cid, NULL, NULL, NULL, NULL};
        rd_kafka_t *rk = ks__client_new(app->conf, &spec, errp);
        if (!rk)
                return KS_ERR_KAFKA;
        const struct rd_kafka_metadata *md = NULL;
        int *sub_parts = calloc(app->topo->sub_cnt + 1, sizeof(int));
        if (!sub_parts)
                err = ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        if (!err)
                err = fetch_metadata(app, rk, &md, errp);
        if (!err)
                err = check_sources(app, md, sub_parts, errp);
        if (!err)
                err = check_dlq(app, md, errp);
        if (!err)
                err = check_internal(app, rk, &md, sub_parts, errp);
        if (!err)
                err = fill_partitions(app, sub_parts, errp);
        if (md)
                rd_kafka_metadata_destroy(md);
        free(sub_parts);
        rd_kafka_destroy(rk);
        return err;
}
