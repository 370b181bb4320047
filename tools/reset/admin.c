/* The tool's requests to the cluster: its client, the group's state and
 * committed offsets, the topics, and the changes (offsets committed or
 * deleted, topics deleted).
 *
 * Every admin request gets its own result queue and the request timeout
 * of --timeout-ms, and is waited for a little longer than that (the
 * client answers a timed-out request with an error). Errors name the
 * request, the group and each failed topic or partition, with
 * librdkafka's message. Counts the cluster returns are bounded by what
 * librdkafka parsed; nothing here indexes by a number from the wire. */
#include "reset_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How much longer than the request timeout a result is waited for. */
#define RESULT_SLACK_MS 5000

rd_kafka_t *ks__reset_client_new(const ks__reset_opts_t *o, char *err,
                                 size_t errsize) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char why[512];
        if (o->config_file &&
            ks__reset_load_props(conf, o->config_file, err, errsize)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        /* The command line wins over the file. */
        if (rd_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, why,
                              sizeof(why)) ||
            rd_kafka_conf_set(conf, "client.id", "kstreams-reset", why,
                              sizeof(why))) {
                snprintf(err, errsize, "--bootstrap-servers: %s", why);
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
        if (!rk) {
                snprintf(err, errsize, "cannot create a Kafka client: %s", why);
                rd_kafka_conf_destroy(conf);
        }
        return rk;
}

/* Options of an admin request of type @p op with the tool's timeout. */
static rd_kafka_AdminOptions_t *options(rd_kafka_t *rk, rd_kafka_admin_op_t op,
                                        int timeout_ms) {
        rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, op);
        char why[256];
        rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, why,
                                                  sizeof(why));
        if (op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
                rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, why,
                                                            sizeof(why));
        return ao;
}

/* The result of the request on @p q, or NULL with "<what>: <why>". */
static rd_kafka_event_t *result(rd_kafka_queue_t *q, int timeout_ms,
                                const char *what, char *err, size_t errsize) {
        rd_kafka_event_t *ev =
                rd_kafka_queue_poll(q, timeout_ms + RESULT_SLACK_MS);
        if (!ev) {
                snprintf(err, errsize, "%s: no answer within %d ms", what,
                         timeout_ms + RESULT_SLACK_MS);
                return NULL;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(err, errsize, "%s: %s", what,
                         rd_kafka_event_error_string(ev));
                rd_kafka_event_destroy(ev);
                return NULL;
        }
        return ev;
}

/* Append "; <topic> [<p>]: <error>" for each failed partition of @p l to
 * @p err; the number of failures. */
static int partition_errors(const rd_kafka_topic_partition_list_t *l, char *err,
                            size_t errsize) {
        int bad = 0;
        for (int i = 0; l && i < l->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &l->elems[i];
                if (!p->err)
                        continue;
                size_t n = strlen(err);
                if (n + 1 < errsize)
                        snprintf(err + n, errsize - n, "; %s [%d]: %s",
                                 p->topic, (int)p->partition,
                                 rd_kafka_err2str(p->err));
                bad++;
        }
        return bad;
}

int ks__reset_group_idle(rd_kafka_t *rk, const char *group, int timeout_ms,
                         char *err, size_t errsize) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = options(
                rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout_ms);
        const char *groups[] = {group};
        rd_kafka_DescribeConsumerGroups(rk, groups, 1, ao, q);
        char what[400];
        snprintf(what, sizeof(what), "describing consumer group \"%s\"", group);
        rd_kafka_event_t *ev = result(q, timeout_ms, what, err, errsize);
        int rc = -1;
        const rd_kafka_DescribeConsumerGroups_result_t *res =
                ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
        size_t cnt = 0;
        const rd_kafka_ConsumerGroupDescription_t **d =
                res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &cnt)
                    : NULL;
        if (ev && cnt != 1) {
                snprintf(err, errsize, "%s: %zu answers", what, cnt);
        } else if (ev) {
                const rd_kafka_error_t *e =
                        rd_kafka_ConsumerGroupDescription_error(d[0]);
                rd_kafka_consumer_group_state_t st =
                        rd_kafka_ConsumerGroupDescription_state(d[0]);
                size_t members =
                        rd_kafka_ConsumerGroupDescription_member_count(d[0]);
                if (e && rd_kafka_error_code(e) ==
                                 RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                        rc = 0; /* never committed anything */
                } else if (e) {
                        snprintf(err, errsize, "%s: %s", what,
                                 rd_kafka_error_string(e));
                } else if (members == 0 &&
                           (st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
                            st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD)) {
                        rc = 0;
                } else {
                        int n = snprintf(
                                err, errsize,
                                "consumer group \"%s\" has %zu active "
                                "member(s) (state %s): stop every instance "
                                "of the application first (a member that "
                                "died leaves the group after its session "
                                "timeout); members:",
                                group, members,
                                rd_kafka_consumer_group_state_name(st));
                        for (size_t i = 0; i < members && i < 8 && n > 0 &&
                                           (size_t)n < errsize;
                             i++) {
                                const rd_kafka_MemberDescription_t *m =
                                        rd_kafka_ConsumerGroupDescription_member(
                                                d[0], i);
                                n += snprintf(
                                        err + n, errsize - (size_t)n, " %s@%s",
                                        rd_kafka_MemberDescription_client_id(m),
                                        rd_kafka_MemberDescription_host(m));
                        }
                        rc = KS_RESET_EXIT_ACTIVE;
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return rc;
}

/* The one group result of a group-offsets request (list, alter, delete),
 * its partitions checked; the event is destroyed by the caller. */
static const rd_kafka_group_result_t *group_result(rd_kafka_event_t *ev,
                                                   const char *what, char *err,
                                                   size_t errsize) {
        size_t cnt = 0;
        const rd_kafka_group_result_t **g = NULL;
        switch (rd_kafka_event_type(ev)) {
        case RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT:
                g = rd_kafka_ListConsumerGroupOffsets_result_groups(
                        rd_kafka_event_ListConsumerGroupOffsets_result(ev),
                        &cnt);
                break;
        case RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT:
                g = rd_kafka_AlterConsumerGroupOffsets_result_groups(
                        rd_kafka_event_AlterConsumerGroupOffsets_result(ev),
                        &cnt);
                break;
        case RD_KAFKA_EVENT_DELETECONSUMERGROUPOFFSETS_RESULT:
                g = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
                        rd_kafka_event_DeleteConsumerGroupOffsets_result(ev),
                        &cnt);
                break;
        default:
                break;
        }
        if (cnt != 1) {
                snprintf(err, errsize, "%s: %zu answers", what, cnt);
                return NULL;
        }
        const rd_kafka_error_t *e = rd_kafka_group_result_error(g[0]);
        if (e &&
            rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                snprintf(err, errsize, "%s: %s", what,
                         rd_kafka_error_string(e));
                return NULL;
        }
        snprintf(err, errsize, "%s failed", what);
        if (partition_errors(rd_kafka_group_result_partitions(g[0]), err,
                             errsize))
                return NULL;
        err[0] = '\0';
        return g[0];
}

rd_kafka_topic_partition_list_t *ks__reset_committed(rd_kafka_t *rk,
                                                     const char *group,
                                                     int timeout_ms, char *err,
                                                     size_t errsize) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = options(
                rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_ms);
        rd_kafka_ListConsumerGroupOffsets_t *req =
                rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
        rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, ao, q);
        char what[400];
        snprintf(what, sizeof(what),
                 "listing the committed offsets of consumer group \"%s\"",
                 group);
        rd_kafka_event_t *ev = result(q, timeout_ms, what, err, errsize);
        const rd_kafka_group_result_t *g =
                ev ? group_result(ev, what, err, errsize) : NULL;
        rd_kafka_topic_partition_list_t *out = NULL;
        if (g) {
                const rd_kafka_topic_partition_list_t *l =
                        rd_kafka_group_result_partitions(g);
                out = rd_kafka_topic_partition_list_new(l ? l->cnt : 0);
                for (int i = 0; l && i < l->cnt; i++)
                        if (l->elems[i].offset >= 0)
                                rd_kafka_topic_partition_list_add(
                                        out, l->elems[i].topic,
                                        l->elems[i].partition)
                                        ->offset = l->elems[i].offset;
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return out;
}

const struct rd_kafka_metadata *
ks__reset_metadata(rd_kafka_t *rk, int timeout_ms, char *err, size_t errsize) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
        if (e) {
                snprintf(err, errsize, "reading the cluster's topics: %s",
                         rd_kafka_err2str(e));
                return NULL;
        }
        return md;
}

int ks__reset_partition_count(const struct rd_kafka_metadata *md,
                              const char *topic) {
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, topic))
                        return md->topics[i].err ? -1
                                                 : md->topics[i].partition_cnt;
        return -1;
}

int ks__reset_alter_offsets(rd_kafka_t *rk, const char *group,
                            const rd_kafka_topic_partition_list_t *offsets,
                            int timeout_ms, char *err, size_t errsize) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = options(
                rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout_ms);
        rd_kafka_AlterConsumerGroupOffsets_t *req =
                rd_kafka_AlterConsumerGroupOffsets_new(group, offsets);
        rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, ao, q);
        char what[400];
        snprintf(what, sizeof(what),
                 "committing new offsets for consumer group \"%s\"", group);
        rd_kafka_event_t *ev = result(q, timeout_ms, what, err, errsize);
        int rc = ev && group_result(ev, what, err, errsize) ? 0 : -1;
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AlterConsumerGroupOffsets_destroy(req);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return rc;
}

int ks__reset_delete_offsets(rd_kafka_t *rk, const char *group,
                             const rd_kafka_topic_partition_list_t *partitions,
                             int timeout_ms, char *err, size_t errsize) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = options(
                rk, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS, timeout_ms);
        rd_kafka_DeleteConsumerGroupOffsets_t *req =
                rd_kafka_DeleteConsumerGroupOffsets_new(group, partitions);
        rd_kafka_DeleteConsumerGroupOffsets(rk, &req, 1, ao, q);
        char what[400];
        snprintf(what, sizeof(what),
                 "deleting committed offsets of consumer group \"%s\"", group);
        rd_kafka_event_t *ev = result(q, timeout_ms, what, err, errsize);
        int rc = ev && group_result(ev, what, err, errsize) ? 0 : -1;
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return rc;
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the metadata lists none of @p topics (deletion completes
 * asynchronously: an application started before then would find a topic
 * being deleted). */
static int wait_gone(rd_kafka_t *rk, const ks__reset_list_t *topics,
                     int timeout_ms, char *err, size_t errsize) {
        int64_t deadline = now_ms() + timeout_ms;
        const char *left = NULL;
        do {
                const struct rd_kafka_metadata *md =
                        ks__reset_metadata(rk, timeout_ms, err, errsize);
                if (!md)
                        return -1;
                left = NULL;
                for (size_t i = 0; i < topics->cnt && !left; i++)
                        if (ks__reset_partition_count(md, topics->v[i]) >= 0)
                                left = topics->v[i];
                rd_kafka_metadata_destroy(md);
                if (left)
                        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
        } while (left && now_ms() < deadline);
        if (left) {
                snprintf(err, errsize,
                         "topic %s is still listed %d ms after "
                         "its deletion",
                         left, timeout_ms);
                return -1;
        }
        return 0;
}

int ks__reset_delete_topics(rd_kafka_t *rk, const ks__reset_list_t *topics,
                            int timeout_ms, char *err, size_t errsize) {
        if (!topics->cnt)
                return 0;
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao =
                options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms);
        rd_kafka_DeleteTopic_t **del = calloc(topics->cnt, sizeof(*del));
        if (!del) {
                snprintf(err, errsize, "out of memory");
                rd_kafka_AdminOptions_destroy(ao);
                rd_kafka_queue_destroy(q);
                return -1;
        }
        for (size_t i = 0; i < topics->cnt; i++)
                del[i] = rd_kafka_DeleteTopic_new(topics->v[i]);
        rd_kafka_DeleteTopics(rk, del, topics->cnt, ao, q);
        rd_kafka_event_t *ev =
                result(q, timeout_ms, "deleting topics", err, errsize);
        int rc = ev ? 0 : -1;
        if (ev) {
                size_t cnt = 0;
                const rd_kafka_topic_result_t **r =
                        rd_kafka_DeleteTopics_result_topics(
                                rd_kafka_event_DeleteTopics_result(ev), &cnt);
                snprintf(err, errsize, "deleting topics failed");
                for (size_t i = 0; i < cnt; i++) {
                        rd_kafka_resp_err_t e =
                                rd_kafka_topic_result_error(r[i]);
                        /* Gone already: what was asked for. */
                        if (!e || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                                continue;
                        size_t n = strlen(err);
                        snprintf(err + n, errsize - n, "; %s: %s",
                                 rd_kafka_topic_result_name(r[i]),
                                 rd_kafka_topic_result_error_string(r[i])
                                         ? rd_kafka_topic_result_error_string(
                                                   r[i])
                                         : rd_kafka_err2str(e));
                        rc = -1;
                }
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_DeleteTopic_destroy_array(del, topics->cnt);
        free(del);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return rc ? rc : wait_gone(rk, topics, timeout_ms, err, errsize);
}
