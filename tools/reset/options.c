/* The command line of kstreams-reset: "--name value" or "--name=value",
 * each value checked here so that a bad one is a usage error naming its
 * option before anything talks to the cluster. Topic lists may be given
 * in several options; they add up. Exactly one way to pick the input
 * offsets, --to-earliest when none is given. */
#include "reset_int.h"

#include <stdlib.h>
#include <string.h>

void ks__reset_usage(FILE *out) {
        fputs("Usage: kstreams-reset --application-id ID "
              "--bootstrap-servers HOST:PORT[,...] [options]\n"
              "\n"
              "Resets a kstreams-c application so that it processes its "
              "input again from\n"
              "a chosen point: commits new offsets for its input topics, "
              "moves its\n"
              "intermediate topics to their end, deletes its internal topics "
              "and their\n"
              "committed offsets, and (--local) wipes its local state. Stop "
              "every instance\n"
              "first: the reset is refused while the consumer group has "
              "active members.\n"
              "\n"
              "  --application-id ID        the application (its consumer "
              "group)\n"
              "  --bootstrap-servers LIST   Kafka brokers\n"
              "  --input-topics T1,T2       user topics the application "
              "reads: reset to the\n"
              "                             chosen point\n"
              "  --intermediate-topics T3   user topics the application "
              "writes and reads\n"
              "                             back (through topics): reset "
              "to their end\n"
              "  --internal-topics T,...    internal topics to delete "
              "(default: every topic\n"
              "                             named ID-<name>-changelog, "
              "-repartition,\n"
              "                             -subscription-registration or "
              "\n"
              "                             -subscription-response); each "
              "must be so named\n"
              "  --to-earliest              input offsets to the start of "
              "each partition\n"
              "                             (the default)\n"
              "  --to-latest                input offsets to the end of "
              "each partition\n"
              "  --to-datetime TIME         to the first record at or after "
              "TIME,\n"
              "                             YYYY-MM-DDTHH:MM:SS[.sss][Z|"
              "+HH:MM|-HH:MM]\n"
              "                             (no zone: UTC)\n"
              "  --by-duration PnDTnHnMnS   to the first record at or after "
              "now less this\n"
              "                             ISO 8601 duration (e.g. PT1H, "
              "P2DT30M, PT0.5S)\n"
              "  --to-offset N              to offset N, within each "
              "partition's range\n"
              "  --config-file FILE         librdkafka client properties, "
              "key=value lines\n"
              "                             (security settings, ...)\n"
              "  --local                    also wipe the local state "
              "directory\n"
              "                             DIR/ID (needs --state-dir)\n"
              "  --state-dir DIR            the application's state.dir\n"
              "  --dry-run                  print what would be done; "
              "change nothing\n"
              "  --timeout-ms N             timeout of each request to the "
              "cluster\n"
              "                             (default 30000)\n"
              "  --force                    refused: stop the instances "
              "instead\n"
              "  -h, --help                 this text\n"
              "\n"
              "Exit status: 0 done, 1 failed, 2 usage error, 3 the group has "
              "active members.\n",
              out);
}

enum { F_FLAG, F_VALUE };

static const struct {
        const char *name;
        int kind;
} options[] = {
        {"--application-id", F_VALUE},
        {"--bootstrap-servers", F_VALUE},
        {"--input-topics", F_VALUE},
        {"--intermediate-topics", F_VALUE},
        {"--internal-topics", F_VALUE},
        {"--to-earliest", F_FLAG},
        {"--to-latest", F_FLAG},
        {"--to-datetime", F_VALUE},
        {"--by-duration", F_VALUE},
        {"--to-offset", F_VALUE},
        {"--config-file", F_VALUE},
        {"--local", F_FLAG},
        {"--state-dir", F_VALUE},
        {"--dry-run", F_FLAG},
        {"--timeout-ms", F_VALUE},
        {"--force", F_FLAG},
        {"--help", F_FLAG},
        {"-h", F_FLAG},
};

/* A non-negative decimal integer of at most 18 digits. */
static int parse_count(const char *s, int64_t *vp) {
        int64_t v = 0;
        int n = 0;
        for (; *s; s++, n++) {
                if (*s < '0' || *s > '9' || n == 18)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        if (!n)
                return -1;
        *vp = v;
        return 0;
}

/* Pick the input offsets' point; a second choice is an error. */
static int set_point(ks__reset_opts_t *o, const char *opt, ks__reset_point_t p,
                     char *err, size_t errsize) {
        if (o->point_opt) {
                snprintf(err, errsize,
                         "%s and %s: choose one of --to-earliest,"
                         " --to-latest, --to-datetime, --by-duration and "
                         "--to-offset",
                         o->point_opt, opt);
                return -1;
        }
        o->point_opt = opt;
        o->point = p;
        return 0;
}

/* Take option @p opt with value @p v (NULL for a flag) into @p o. */
static int take(ks__reset_opts_t *o, const char *opt, const char *v, char *err,
                size_t errsize) {
        int64_t n;
        if (!strcmp(opt, "--application-id")) {
                /* Kafka's rules for the group and topic prefix, and no
                 * "." or "..": it also names a directory. */
                if (!ks__reset_topic_name_ok(v)) {
                        snprintf(err, errsize,
                                 "--application-id: \"%s\" is "
                                 "not 1..249 characters of [a-zA-Z0-9._-] "
                                 "(nor \".\" or \"..\")",
                                 v);
                        return -1;
                }
                o->app_id = v;
        } else if (!strcmp(opt, "--bootstrap-servers")) {
                if (!*v) {
                        snprintf(err, errsize, "--bootstrap-servers: empty");
                        return -1;
                }
                o->bootstrap = v;
        } else if (!strcmp(opt, "--input-topics")) {
                return ks__reset_split_topics(opt, v, &o->input, err, errsize);
        } else if (!strcmp(opt, "--intermediate-topics")) {
                return ks__reset_split_topics(opt, v, &o->intermediate, err,
                                              errsize);
        } else if (!strcmp(opt, "--internal-topics")) {
                o->internal_given = 1;
                return *v ? ks__reset_split_topics(opt, v, &o->internal, err,
                                                   errsize)
                          : 0;
        } else if (!strcmp(opt, "--to-earliest")) {
                return set_point(o, opt, KS_RESET_TO_EARLIEST, err, errsize);
        } else if (!strcmp(opt, "--to-latest")) {
                return set_point(o, opt, KS_RESET_TO_LATEST, err, errsize);
        } else if (!strcmp(opt, "--to-datetime")) {
                if (ks__reset_parse_datetime(v, &o->ts_ms)) {
                        snprintf(err, errsize,
                                 "--to-datetime: \"%s\" is not "
                                 "YYYY-MM-DDTHH:MM:SS[.sss][Z|+HH:MM|-HH:MM] "
                                 "at or after 1970-01-01T00:00:00Z",
                                 v);
                        return -1;
                }
                return set_point(o, opt, KS_RESET_TO_DATETIME, err, errsize);
        } else if (!strcmp(opt, "--by-duration")) {
                if (ks__reset_parse_duration(v, &o->duration_ms)) {
                        snprintf(err, errsize,
                                 "--by-duration: \"%s\" is not "
                                 "an ISO 8601 duration PnDTnHnMn[.sss]S "
                                 "(e.g. PT1H, P1DT12H, PT90S)",
                                 v);
                        return -1;
                }
                return set_point(o, opt, KS_RESET_BY_DURATION, err, errsize);
        } else if (!strcmp(opt, "--to-offset")) {
                if (parse_count(v, &o->offset)) {
                        snprintf(err, errsize,
                                 "--to-offset: \"%s\" is not a "
                                 "non-negative offset",
                                 v);
                        return -1;
                }
                return set_point(o, opt, KS_RESET_TO_OFFSET, err, errsize);
        } else if (!strcmp(opt, "--config-file")) {
                o->config_file = v;
        } else if (!strcmp(opt, "--local")) {
                o->local = 1;
        } else if (!strcmp(opt, "--state-dir")) {
                if (!*v) {
                        snprintf(err, errsize, "--state-dir: empty");
                        return -1;
                }
                o->state_dir = v;
        } else if (!strcmp(opt, "--dry-run")) {
                o->dry_run = 1;
        } else if (!strcmp(opt, "--timeout-ms")) {
                if (parse_count(v, &n) || n < 1000 || n > 3600000) {
                        snprintf(err, errsize,
                                 "--timeout-ms: \"%s\" is not "
                                 "a number of milliseconds in 1000..3600000",
                                 v);
                        return -1;
                }
                o->timeout_ms = (int)n;
        } else if (!strcmp(opt, "--force")) {
                snprintf(err, errsize,
                         "--force: removing active members from the group is "
                         "not supported; stop every instance and retry once "
                         "the group is empty (a member that died leaves it "
                         "after its session timeout)");
                return -1;
        }
        return 0;
}

/* What must hold once every option is read. */
static int check(const ks__reset_opts_t *o, char *err, size_t errsize) {
        if (!o->app_id) {
                snprintf(err, errsize, "--application-id is required");
                return -1;
        }
        if (!o->bootstrap) {
                snprintf(err, errsize, "--bootstrap-servers is required");
                return -1;
        }
        if (o->local != !!o->state_dir) {
                snprintf(err, errsize,
                         o->local ? "--local needs --state-dir"
                                  : "--state-dir is only "
                                    "used with --local");
                return -1;
        }
        for (size_t i = 0; i < o->input.cnt; i++)
                if (ks__reset_list_has(&o->intermediate, o->input.v[i])) {
                        snprintf(err, errsize,
                                 "topic \"%s\" is in both "
                                 "--input-topics and --intermediate-topics",
                                 o->input.v[i]);
                        return -1;
                }
        for (size_t i = 0; i < o->internal.cnt; i++) {
                const char *t = o->internal.v[i];
                if (!ks__reset_is_internal(o->app_id, t)) {
                        snprintf(err, errsize,
                                 "--internal-topics: \"%s\" is "
                                 "not named as an internal topic of \"%s\" "
                                 "(%s-<name>-changelog, -repartition, "
                                 "-subscription-registration or "
                                 "-subscription-response)",
                                 t, o->app_id, o->app_id);
                        return -1;
                }
                if (ks__reset_list_has(&o->input, t) ||
                    ks__reset_list_has(&o->intermediate, t)) {
                        snprintf(err, errsize,
                                 "--internal-topics: \"%s\" is "
                                 "also an input or intermediate topic",
                                 t);
                        return -1;
                }
        }
        return 0;
}

int ks__reset_opts_parse(int argc, char **argv, ks__reset_opts_t *o, char *err,
                         size_t errsize) {
        memset(o, 0, sizeof(*o));
        o->point = KS_RESET_TO_EARLIEST;
        o->timeout_ms = 30000;
        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i], *eq = strchr(arg, '=');
                size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
                size_t k = 0, cnt = sizeof(options) / sizeof(options[0]);
                while (k < cnt && (strlen(options[k].name) != nl ||
                                   strncmp(options[k].name, arg, nl)))
                        k++;
                if (k == cnt) {
                        snprintf(err, errsize, "unknown option \"%s\"%s", arg,
                                 arg[0] == '-' ? ""
                                               : " (options start with "
                                                 "--)");
                        return -1;
                }
                const char *name = options[k].name, *v = NULL;
                if (options[k].kind == F_FLAG) {
                        if (eq) {
                                snprintf(err, errsize, "%s takes no value",
                                         name);
                                return -1;
                        }
                        if (!strcmp(name, "--help") || !strcmp(name, "-h"))
                                return 1;
                } else if (eq) {
                        v = eq + 1;
                } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
                        v = argv[++i];
                } else {
                        /* A value starting with "--" must be given as
                         * --name=value: it is more likely a forgotten
                         * value before the next option. */
                        snprintf(err, errsize, "%s needs a value", name);
                        return -1;
                }
                if (take(o, name, v, err, errsize))
                        return -1;
        }
        return check(o, err, errsize);
}

void ks__reset_opts_clear(ks__reset_opts_t *o) {
        ks__reset_list_clear(&o->input);
        ks__reset_list_clear(&o->intermediate);
        ks__reset_list_clear(&o->internal);
}
