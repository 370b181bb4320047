/* kstreams-reset: reset a kstreams-c application so that it processes its
 * input again (see reset_int.h for the steps and docs/operations.md for
 * its use). Everything is checked (options, the group, the plan, the
 * local directory) before anything changes. */
#include "reset_int.h"

#include <string.h>

/* Check the group and the local directory, make the plan and print it;
 * unless dry-running, carry it out. The exit status. */
static int run(rd_kafka_t *rk, const ks__reset_opts_t *o, char *err,
               size_t errsize) {
        int rc = ks__reset_group_idle(rk, o->app_id, o->timeout_ms, err,
                                      errsize);
        if (rc)
                return rc < 0 ? KS_RESET_EXIT_FAILED : rc;
        int local = o->local ? ks__reset_local_wipe(o->state_dir, o->app_id, 1,
                                                    NULL, err, errsize)
                             : 1;
        if (local < 0)
                return KS_RESET_EXIT_FAILED;
        ks__reset_plan_t plan;
        if (ks__reset_plan_make(rk, o, &plan, err, errsize)) {
                ks__reset_plan_clear(&plan);
                return KS_RESET_EXIT_FAILED;
        }
        printf("%s consumer group %s (no active members):\n",
               o->dry_run ? "Dry run, nothing is changed; would reset"
                          : "Resetting",
               o->app_id);
        ks__reset_plan_print(&plan, o, stdout);
        if (o->local)
                printf(local ? "note: no local state directory %s/%s\n"
                             : "wipe directory: %s/%s\n",
                       o->state_dir, o->app_id);
        fflush(stdout);
        rc = KS_RESET_EXIT_OK;
        if (!o->dry_run) {
                if (ks__reset_plan_apply(rk, o, &plan, err, errsize) ||
                    (!local && ks__reset_local_wipe(o->state_dir, o->app_id, 0,
                                                    NULL, err, errsize))) {
                        /* Each step can be done again: so can the reset. */
                        size_t n = strlen(err);
                        snprintf(err + n, errsize - n,
                                 " (the reset stopped part way; run it again "
                                 "to finish it)");
                        rc = KS_RESET_EXIT_FAILED;
                } else {
                        printf("Done.\n");
                }
        }
        ks__reset_plan_clear(&plan);
        return rc;
}

int main(int argc, char **argv) {
        ks__reset_opts_t o;
        char err[KS_RESET_ERR_MAX] = "";
        int rc = ks__reset_opts_parse(argc, argv, &o, err, sizeof(err));
        if (rc) {
                if (rc > 0)
                        ks__reset_usage(stdout);
                else
                        fprintf(stderr,
                                "kstreams-reset: %s\n"
                                "Try 'kstreams-reset --help'.\n",
                                err);
                ks__reset_opts_clear(&o);
                return rc > 0 ? KS_RESET_EXIT_OK : KS_RESET_EXIT_USAGE;
        }
        rd_kafka_t *rk = ks__reset_client_new(&o, err, sizeof(err));
        if (!rk) {
                fprintf(stderr, "kstreams-reset: %s\n", err);
                ks__reset_opts_clear(&o);
                /* A bad property in --config-file is a usage error. */
                return o.config_file ? KS_RESET_EXIT_USAGE
                                     : KS_RESET_EXIT_FAILED;
        }
        rc = run(rk, &o, err, sizeof(err));
        if (rc)
                fprintf(stderr, "kstreams-reset: %s%s\n",
                        rc == KS_RESET_EXIT_ACTIVE ? "refused: " : "", err);
        rd_kafka_destroy(rk);
        ks__reset_opts_clear(&o);
        return rc;
}
