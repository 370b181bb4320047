/* kstreams-reset, the application reset tool: what its parts share.
 *
 * The tool runs in steps, one file each: options (options.c, with the
 * time points of time_point.c and the client properties of
 * client_props.c), the cluster's view (admin.c: the group, its committed
 * offsets, the topics), the plan (plan.c: each partition's old and new
 * offset, resolved by offsets.c; the internal topics of topics.c; the
 * local directory), then either printing the plan (--dry-run) or carrying
 * it out (admin.c, local.c). Nothing is changed before the whole plan is
 * known and checked. Messages go to the caller's buffer: every function
 * that can fail writes why into @p err (naming the option, topic,
 * partition, group or path, with librdkafka's or the system's message). */
#ifndef KS_RESET_INT_H
#define KS_RESET_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

/** Exit statuses. */
#define KS_RESET_EXIT_OK     0
#define KS_RESET_EXIT_FAILED 1 /* the cluster or the file system refused */
#define KS_RESET_EXIT_USAGE  2 /* bad options or values */
#define KS_RESET_EXIT_ACTIVE 3 /* the group has active members */

/** The longest message a step writes into its error buffer. */
#define KS_RESET_ERR_MAX 1024

/** A list of strings (each malloc'd). */
typedef struct {
        char **v;
        size_t cnt;
} ks__reset_list_t;

/** Append a copy of @p s; -1 when out of memory. */
int ks__reset_list_add(ks__reset_list_t *l, const char *s);

/** 1 if @p s is in @p l. */
int ks__reset_list_has(const ks__reset_list_t *l, const char *s);

void ks__reset_list_clear(ks__reset_list_t *l);

/** Where the input topics' offsets go. */
typedef enum {
        KS_RESET_TO_EARLIEST, /* the default */
        KS_RESET_TO_LATEST,
        KS_RESET_TO_DATETIME, /* the first offset at or after ts_ms */
        KS_RESET_BY_DURATION, /* the first offset at or after now - dur */
        KS_RESET_TO_OFFSET,   /* offset, within each partition's range */
} ks__reset_point_t;

typedef struct {
        const char *app_id;
        const char *bootstrap;
        ks__reset_list_t input, intermediate, internal;
        int internal_given; /* --internal-topics, even empty */
        ks__reset_point_t point;
        const char *point_opt; /* the option that chose it, for messages */
        int64_t ts_ms;         /* --to-datetime */
        int64_t duration_ms;   /* --by-duration, >= 0 */
        int64_t offset;        /* --to-offset, >= 0 */
        const char *config_file;
        int local;
        const char *state_dir;
        int dry_run;
        int timeout_ms; /* of each request to the cluster */
} ks__reset_opts_t;

/* --- options.c ----------------------------------------------------------- */

/** The --help text. */
void ks__reset_usage(FILE *out);

/** Parse argv into @p o (pointers into argv; lists copied). Returns 0,
 *  1 for --help, or -1 with a message naming the option in @p err. */
int ks__reset_opts_parse(int argc, char **argv, ks__reset_opts_t *o, char *err,
                         size_t errsize);

void ks__reset_opts_clear(ks__reset_opts_t *o);

/* --- time_point.c -------------------------------------------------------- */

/** "YYYY-MM-DDTHH:MM:SS[.s{1,3}][Z|+HH:MM|-HH:MM|+HHMM|-HHMM]" (no zone:
 *  UTC) to milliseconds since the epoch. 0, or -1 if malformed or out
 *  of range. */
int ks__reset_parse_datetime(const char *s, int64_t *msp);

/** ISO 8601 "PnDTnHnMn[.f]S" (each part optional, at least one; no sign)
 *  to milliseconds. 0, or -1 if malformed or too large. */
int ks__reset_parse_duration(const char *s, int64_t *msp);

/* --- topics.c ------------------------------------------------------------ */

/** 1 if @p t is a valid topic name: 1..249 of [a-zA-Z0-9._-], not "."
 *  or "..". */
int ks__reset_topic_name_ok(const char *t);

/** 1 if @p topic is named as one of application @p app_id's internal
 *  topics: "<app_id>-<name>-" and one of "changelog", "repartition",
 *  "subscription-registration", "subscription-response", with a
 *  non-empty name. */
int ks__reset_is_internal(const char *app_id, const char *topic);

/** Split the comma-separated @p csv into @p l (appending), checking each
 *  name; a message naming @p opt on error. 0 or -1. */
int ks__reset_split_topics(const char *opt, const char *csv,
                           ks__reset_list_t *l, char *err, size_t errsize);

/* --- client_props.c ------------------------------------------------------ */

/** Set the "key=value" lines of @p path ('#' and '!' start comments) on
 *  @p conf. 0, or -1 with the file, line and key in @p err. */
int ks__reset_load_props(rd_kafka_conf_t *conf, const char *path, char *err,
                         size_t errsize);

/* --- admin.c ------------------------------------------------------------- */

/** The tool's client: a consumer without a group (for metadata,
 *  watermarks and the admin API). NULL with a message on error. */
rd_kafka_t *ks__reset_client_new(const ks__reset_opts_t *o, char *err,
                                 size_t errsize);

/** Check that group @p group has no active members: 0 when it is empty
 *  or unknown, KS_RESET_EXIT_ACTIVE with the members in @p err when it
 *  has some, -1 on another error. */
int ks__reset_group_idle(rd_kafka_t *rk, const char *group, int timeout_ms,
                         char *err, size_t errsize);

/** Every committed offset of group @p group (a new list; an unknown group
 *  has none). NULL with a message on error. */
rd_kafka_topic_partition_list_t *ks__reset_committed(rd_kafka_t *rk,
                                                     const char *group,
                                                     int timeout_ms, char *err,
                                                     size_t errsize);

/** The cluster's topics (metadata; destroy it with
 *  rd_kafka_metadata_destroy()). NULL with a message on error. */
const struct rd_kafka_metadata *
ks__reset_metadata(rd_kafka_t *rk, int timeout_ms, char *err, size_t errsize);

/** The partition count of @p topic in @p md, -1 if it is not there. */
int ks__reset_partition_count(const struct rd_kafka_metadata *md,
                              const char *topic);

/** Commit @p offsets (their offset fields, no metadata) for @p group. */
int ks__reset_alter_offsets(rd_kafka_t *rk, const char *group,
                            const rd_kafka_topic_partition_list_t *offsets,
                            int timeout_ms, char *err, size_t errsize);

/** Delete @p group's committed offsets of @p partitions. */
int ks__reset_delete_offsets(rd_kafka_t *rk, const char *group,
                             const rd_kafka_topic_partition_list_t *partitions,
                             int timeout_ms, char *err, size_t errsize);

/** Delete @p topics and wait until the metadata no longer lists them. */
int ks__reset_delete_topics(rd_kafka_t *rk, const ks__reset_list_t *topics,
                            int timeout_ms, char *err, size_t errsize);

/* --- offsets.c ----------------------------------------------------------- */

/** Resolve the new offset of each partition of @p parts (topic and
 *  partition set) in its offset field: @p point as the options say
 *  (@p now_ms for --by-duration). 0 or -1. */
int ks__reset_resolve(rd_kafka_t *rk, const ks__reset_opts_t *o,
                      ks__reset_point_t point, int64_t now_ms,
                      rd_kafka_topic_partition_list_t *parts, char *err,
                      size_t errsize);

/* --- local.c ------------------------------------------------------------- */

/** Wipe "<state_dir>/<app_id>" (@p dry_run: only check), naming what it
 *  removes on @p out. Refuses (-1, why in @p err) anything but an
 *  application state directory of this library that no instance holds;
 *  never follows a symbolic link. 0 when wiped (or it would be), 1 when
 *  there is no such directory. */
int ks__reset_local_wipe(const char *state_dir, const char *app_id, int dry_run,
                         FILE *out, char *err, size_t errsize);

/* --- plan.c -------------------------------------------------------------- */

/** What a reset does, all decided before anything changes. */
typedef struct {
        rd_kafka_topic_partition_list_t *moves; /* new offsets */
        int64_t *old;     /* committed offsets of moves, -1: none */
        const char **why; /* "input" or "intermediate", per move */
        rd_kafka_topic_partition_list_t *drops; /* offsets to delete */
        ks__reset_list_t doomed;                /* topics to delete */
        ks__reset_list_t missing; /* listed internal topics not there */
        ks__reset_list_t others;  /* topics with offsets left as they are */
} ks__reset_plan_t;

/** Make the plan of @p o against the cluster behind @p rk. */
int ks__reset_plan_make(rd_kafka_t *rk, const ks__reset_opts_t *o,
                        ks__reset_plan_t *plan, char *err, size_t errsize);

/** Print the plan: one line per change, "reset offset: <topic> [<p>]
 *  (input|intermediate): <old|none> -> <new>", "delete offset: <topic>
 *  [<p>]: <old>", "delete topic: <topic>", then notes. */
void ks__reset_plan_print(const ks__reset_plan_t *plan,
                          const ks__reset_opts_t *o, FILE *out);

/** Carry out the cluster's part of the plan: offsets, then topics. */
int ks__reset_plan_apply(rd_kafka_t *rk, const ks__reset_opts_t *o,
                         const ks__reset_plan_t *plan, char *err,
                         size_t errsize);

void ks__reset_plan_clear(ks__reset_plan_t *plan);

#endif
