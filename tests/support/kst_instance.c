/* A second application instance for failover tests (see kst_instance.h). */
#include "kst_instance.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

void kst_instance_block_term(void) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int kst_instance_serve(ks_app_t *app, const char *state_dir) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        char path[1024], tmp[1040];
        snprintf(path, sizeof(path), "%s/status", state_dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        const struct timespec pace = {0, 20 * 1000000};
        for (;;) {
                FILE *st = fopen(tmp, "w");
                if (st) {
                        fprintf(st, "%s %lld %lld\n",
                                ks_app_state_name(ks_app_state(app)),
                                (long long)ks_app_metric(app, "tasks"),
                                (long long)ks_app_metric(app, "process-total"));
                        fclose(st);
                        rename(tmp, path);
                }
                if (sigtimedwait(&set, NULL, &pace) == SIGTERM)
                        break;
        }
        return ks_app_close(app, 30000) || ks_app_error(app) ? 1 : 0;
}

pid_t kst_spawn_self(char *const argv[]) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
                fail_msg("fork failed");
        if (!pid) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execv("/proc/self/exe", argv);
                _exit(127);
        }
        return pid;
}

int kst_read_status(const char *path, char *state, long long *tasks,
                    long long *processed) {
        FILE *st = fopen(path, "r");
        int n = st ? fscanf(st, "%31s %lld %lld", state, tasks, processed) : 0;
        if (st)
                fclose(st);
        return n == 3;
}

int kst_pair_runs(void *p) {
        const kst_pair_t *w = p;
        return ks_app_state(w->app) == KS_APP_RUNNING &&
               ks_app_metric(w->app, "tasks") == w->tasks;
}

int kst_pair_both_run(void *p) {
        const kst_pair_t *w = p;
        char state[32] = "";
        long long tasks = -1, processed = -1;
        return kst_pair_runs(p) &&
               kst_read_status(w->status, state, &tasks, &processed) &&
               !strcmp(state, "RUNNING") && tasks == w->tasks &&
               processed >= w->processed;
}
