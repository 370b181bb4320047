/* One word-count instance (wordcount --instance ...): runs until SIGTERM
 * or SIGINT, then closes cleanly. Prints state changes and restore
 * progress. With --http host:port it serves its metrics, health, topology
 * and GET /stores/counts/<word> there, and advertises that address as its
 * application.server, so any instance answers for any word (redirecting
 * to the one holding it). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "wordcount_topology.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static char who[32];

/* A count as text, for GET /stores/counts/<word>. */
static int count_text(void *opaque, const char *store, const void *value,
                      size_t vlen, char *out, size_t out_size) {
        (void)opaque;
        (void)store;
        int64_t n;
        if (ks_int64_decode(value, vlen, &n, NULL))
                return -1;
        return snprintf(out, out_size, "%" PRId64 "\n", n);
}

static void on_state(void *opaque, ks_app_state_t to, ks_app_state_t from) {
        demo_log(who, "%s -> %s", ks_app_state_name(from),
                 ks_app_state_name(to));
}

static void on_restore(void *opaque, ks_restore_phase_t phase,
                       const char *store, const char *topic, int32_t p,
                       int64_t start, int64_t end, int64_t restored) {
        static const char *const what[] = {"restoring", "restore progress",
                                           "restored"};
        demo_log(who,
                 "%s store %s partition %" PRId32 " from %s: %" PRId64
                 " of %" PRId64 " records",
                 what[phase], store, p, topic, restored, end - start);
}

int run_instance(int argc, char **argv) {
        const char *bootstrap = NULL, *app_id = NULL, *in = NULL, *words = NULL,
                   *out = NULL, *dir = NULL, *id = "1", *http = NULL;
        int eos = 0, dsl = 0;
        for (int i = 1; i < argc; i++) {
                const char *k = argv[i];
                if (!strcmp(k, "--eos"))
                        eos = 1;
                else if (!strcmp(k, "--dsl"))
                        dsl = 1;
                else if (i + 1 >= argc)
                        break;
                else if (!strcmp(k, "--bootstrap-servers"))
                        bootstrap = argv[++i];
                else if (!strcmp(k, "--app-id"))
                        app_id = argv[++i];
                else if (!strcmp(k, "--input"))
                        in = argv[++i];
                else if (!strcmp(k, "--words"))
                        words = argv[++i];
                else if (!strcmp(k, "--output"))
                        out = argv[++i];
                else if (!strcmp(k, "--state-dir"))
                        dir = argv[++i];
                else if (!strcmp(k, "--id"))
                        id = argv[++i];
                else if (!strcmp(k, "--http"))
                        http = argv[++i];
        }
        if (!bootstrap || !app_id || !in || !words || !out || !dir) {
                fprintf(stderr,
                        "usage: %s --instance --bootstrap-servers B "
                        "--app-id A --input T --words T --output T "
                        "--state-dir D [--id N] [--eos] [--dsl] "
                        "[--http HOST:PORT]\n",
                        argv[0]);
                return 2;
        }
        snprintf(who, sizeof(who), "instance %s", id);
        ks_error_t *err = NULL;
        ks_config_t *c = ks_config_new();
        if (ks_config_set(c, "application.id", app_id, &err) ||
            ks_config_set(c, "bootstrap.servers", bootstrap, &err) ||
            ks_config_set(c, "state.dir", dir, &err) ||
            ks_config_set(c, "processing.guarantee",
                          eos ? "exactly_once_v2" : "at_least_once", &err) ||
            (!eos && ks_config_set(c, "commit.interval.ms", "1000", &err)) ||
            ks_config_set(c, "consumer.session.timeout.ms", "6000", &err) ||
            ks_config_set(c, "consumer.heartbeat.interval.ms", "1000", &err) ||
            (http && ks_config_set(c, "application.server", http, &err))) {
                fprintf(stderr, "config: %s\n", ks_error_message(err));
                return 1;
        }
        /* --dsl: the DSL topology, re-keyed through its repartition topic
         * instead of the words topic. */
        ks_topology_t *t = dsl ? wordcount_dsl_topology_on(in, out, &err)
                               : wordcount_topology_on(in, words, out,
                                                       KS_STORE_ROCKSDB, &err);
        ks_app_t *app = t ? ks_app_new(t, c, &err) : NULL;
        if (!app) {
                fprintf(stderr, "%s: %s\n", who, ks_error_message(err));
                return 1;
        }
        ks_app_set_state_listener(app, on_state, NULL);
        ks_app_set_restore_listener(app, on_restore, NULL);
        ks_http_t *server = NULL;
        if (http) {
                if (!(server = ks_http_start(app, http, count_text, NULL,
                                             &err))) {
                        fprintf(stderr, "%s: %s\n", who, ks_error_message(err));
                        ks_app_destroy(app);
                        return 1;
                }
                demo_log(who, "serving http://%s", http);
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        if (ks_app_start(app, &err)) {
                fprintf(stderr, "%s: %s\n", who, ks_error_message(err));
                ks_http_stop(server);
                ks_app_destroy(app);
                return 1;
        }
        int rc = 0;
        while (!stop) {
                if (ks_app_wait_state(app, KS_APP_ERROR, 200)) {
                        demo_log(who, "failed: %s",
                                 ks_error_message(ks_app_error(app)));
                        rc = 1;
                        break;
                }
        }
        if (ks_app_close(app, 30000))
                rc = 1;
        ks_http_stop(server);
        demo_log(who,
                 "closed after processing %" PRId64 " records (%" PRId64
                 " restored, %" PRId64 " replayed duplicates skipped, %" PRId64
                 " transactions aborted)",
                 ks_app_metric(app, "process-total"),
                 ks_app_metric(app, "restored-records"),
                 ks_app_metric(app, "duplicates-skipped"),
                 ks_app_metric(app, "transactions-aborted"));
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return rc;
}
