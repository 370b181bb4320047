/* The reset plan: everything the reset changes on the cluster, decided
 * before anything changes.
 *
 * Each partition of the input topics moves to the chosen point and each
 * partition of the intermediate topics to its end; the offsets committed
 * for the internal topics are deleted, then the internal topics
 * themselves. The internal topics are those listed, or else those of the
 * cluster named as the application's (ks__reset_is_internal()); a topic
 * given as input or intermediate is never one. The new offsets are
 * committed without metadata: the changelog positions the application
 * keeps there belong to the changelogs the reset deletes. */
#include "reset_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every partition of @p topics into a new list (offsets unset). */
static rd_kafka_topic_partition_list_t *
partitions_of(const struct rd_kafka_metadata *md,
              const ks__reset_list_t *topics, const char *kind, char *err,
              size_t errsize) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new((int)topics->cnt);
        for (size_t i = 0; i < topics->cnt; i++) {
                int n = ks__reset_partition_count(md, topics->v[i]);
                if (n < 0) {
                        snprintf(err, errsize, "%s topic %s does not exist",
                                 kind, topics->v[i]);
                        rd_kafka_topic_partition_list_destroy(l);
                        return NULL;
                }
                for (int p = 0; p < n; p++)
                        rd_kafka_topic_partition_list_add(l, topics->v[i], p);
        }
        return l;
}

/* The internal topics to delete into plan->doomed (sorted). */
static int internal_topics(const struct rd_kafka_metadata *md,
                           const ks__reset_opts_t *o, ks__reset_plan_t *plan) {
        if (o->internal_given) {
                for (size_t i = 0; i < o->internal.cnt; i++) {
                        const char *t = o->internal.v[i];
                        ks__reset_list_t *to =
                                ks__reset_partition_count(md, t) >= 0
                                        ? &plan->doomed
                                        : &plan->missing;
                        if (ks__reset_list_add(to, t))
                                return -1;
                }
        } else {
                for (int i = 0; i < md->topic_cnt; i++) {
                        const char *t = md->topics[i].topic;
                        if (!md->topics[i].err &&
                            ks__reset_is_internal(o->app_id, t) &&
                            !ks__reset_list_has(&o->input, t) &&
                            !ks__reset_list_has(&o->intermediate, t) &&
                            ks__reset_list_add(&plan->doomed, t))
                                return -1;
                }
        }
        if (plan->doomed.cnt)
                qsort(plan->doomed.v, plan->doomed.cnt, sizeof(char *),
                      cmp_str);
        return 0;
}

/* Old offsets of the moves, offsets to drop and topics left alone, from
 * the group's committed offsets @p c. */
static int sort_committed(const ks__reset_opts_t *o,
                          const rd_kafka_topic_partition_list_t *c,
                          ks__reset_plan_t *plan) {
        int n = plan->moves->cnt;
        if (!(plan->old = calloc((size_t)n + 1, sizeof(*plan->old))))
                return -1;
        for (int i = 0; i < n; i++) {
                const rd_kafka_topic_partition_t *p =
                        rd_kafka_topic_partition_list_find(
                                c, plan->moves->elems[i].topic,
                                plan->moves->elems[i].partition);
                plan->old[i] = p ? p->offset : -1;
        }
        plan->drops = rd_kafka_topic_partition_list_new(c->cnt);
        for (int i = 0; i < c->cnt; i++) {
                const char *t = c->elems[i].topic;
                if (ks__reset_list_has(&plan->doomed, t))
                        rd_kafka_topic_partition_list_add(plan->drops, t,
                                                          c->elems[i].partition)
                                ->offset = c->elems[i].offset;
                else if (!ks__reset_list_has(&o->input, t) &&
                         !ks__reset_list_has(&o->intermediate, t) &&
                         !ks__reset_list_has(&plan->others, t) &&
                         ks__reset_list_add(&plan->others, t))
                        return -1;
        }
        rd_kafka_topic_partition_list_sort(plan->drops, NULL, NULL);
        return 0;
}

int ks__reset_plan_make(rd_kafka_t *rk, const ks__reset_opts_t *o,
                        ks__reset_plan_t *plan, char *err, size_t errsize) {
        memset(plan, 0, sizeof(*plan));
        const struct rd_kafka_metadata *md =
                ks__reset_metadata(rk, o->timeout_ms, err, errsize);
        if (!md)
                return -1;
        int rc = -1;
        rd_kafka_topic_partition_list_t *in = NULL, *mid = NULL, *c = NULL;
        if (!(in = partitions_of(md, &o->input, "input", err, errsize)) ||
            !(mid = partitions_of(md, &o->intermediate, "intermediate", err,
                                  errsize)))
                goto out;
        if (ks__reset_resolve(rk, o, o->point, time(NULL) * (int64_t)1000, in,
                              err, errsize) ||
            ks__reset_resolve(rk, o, KS_RESET_TO_LATEST, 0, mid, err, errsize))
                goto out;
        plan->moves = rd_kafka_topic_partition_list_new(in->cnt + mid->cnt);
        plan->why =
                calloc((size_t)(in->cnt + mid->cnt) + 1, sizeof(*plan->why));
        if (!plan->why)
                goto oom;
        for (int k = 0; k < 2; k++) {
                const rd_kafka_topic_partition_list_t *l = k ? mid : in;
                for (int i = 0; i < l->cnt; i++) {
                        plan->why[plan->moves->cnt] =
                                k ? "intermediate" : "input";
                        rd_kafka_topic_partition_list_add(plan->moves,
                                                          l->elems[i].topic,
                                                          l->elems[i].partition)
                                ->offset = l->elems[i].offset;
                }
        }
        if (internal_topics(md, o, plan))
                goto oom;
        if (!(c = ks__reset_committed(rk, o->app_id, o->timeout_ms, err,
                                      errsize)))
                goto out;
        if (sort_committed(o, c, plan))
                goto oom;
        rc = 0;
        goto out;
oom:
        snprintf(err, errsize, "out of memory");
out:
        if (in)
                rd_kafka_topic_partition_list_destroy(in);
        if (mid)
                rd_kafka_topic_partition_list_destroy(mid);
        if (c)
                rd_kafka_topic_partition_list_destroy(c);
        rd_kafka_metadata_destroy(md);
        return rc;
}

void ks__reset_plan_print(const ks__reset_plan_t *plan,
                          const ks__reset_opts_t *o, FILE *out) {
        for (int i = 0; i < plan->moves->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &plan->moves->elems[i];
                char old[32] = "none";
                if (plan->old[i] >= 0)
                        snprintf(old, sizeof(old), "%" PRId64, plan->old[i]);
                fprintf(out, "reset offset: %s [%d] (%s): %s -> %" PRId64 "\n",
                        p->topic, (int)p->partition, plan->why[i], old,
                        p->offset);
        }
        for (int i = 0; i < plan->drops->cnt; i++)
                fprintf(out, "delete offset: %s [%d]: %" PRId64 "\n",
                        plan->drops->elems[i].topic,
                        (int)plan->drops->elems[i].partition,
                        plan->drops->elems[i].offset);
        for (size_t i = 0; i < plan->doomed.cnt; i++)
                fprintf(out, "delete topic: %s\n", plan->doomed.v[i]);
        for (size_t i = 0; i < plan->missing.cnt; i++)
                fprintf(out, "note: internal topic %s does not exist\n",
                        plan->missing.v[i]);
        for (size_t i = 0; i < plan->others.cnt; i++)
                fprintf(out,
                        "note: the offsets group %s committed for topic %s "
                        "stay as they are (neither input nor intermediate)\n",
                        o->app_id, plan->others.v[i]);
        if (!plan->moves->cnt && !plan->drops->cnt && !plan->doomed.cnt)
                fprintf(out, "note: nothing to change on the cluster\n");
}

int ks__reset_plan_apply(rd_kafka_t *rk, const ks__reset_opts_t *o,
                         const ks__reset_plan_t *plan, char *err,
                         size_t errsize) {
        if (plan->moves->cnt &&
            ks__reset_alter_offsets(rk, o->app_id, plan->moves, o->timeout_ms,
                                    err, errsize))
                return -1;
        if (plan->drops->cnt &&
            ks__reset_delete_offsets(rk, o->app_id, plan->drops, o->timeout_ms,
                                     err, errsize))
                return -1;
        return ks__reset_delete_topics(rk, &plan->doomed, o->timeout_ms, err,
                                       errsize);
}

void ks__reset_plan_clear(ks__reset_plan_t *plan) {
        if (plan->moves)
                rd_kafka_topic_partition_list_destroy(plan->moves);
        if (plan->drops)
                rd_kafka_topic_partition_list_destroy(plan->drops);
        free(plan->old);
        free(plan->why);
        ks__reset_list_clear(&plan->doomed);
        ks__reset_list_clear(&plan->missing);
        ks__reset_list_clear(&plan->others);
        memset(plan, 0, sizeof(*plan));
}
