/* A second application instance for failover tests: the test program runs
 * itself again (/proc/self/exe) with other arguments as a child process,
 * which reports its state through a status file in its state directory
 * until SIGTERM (or until the test kills it); the test waits for both
 * instances with these predicates. */
#ifndef KST_INSTANCE_H
#define KST_INSTANCE_H

#include <stdint.h>
#include <sys/types.h>

#include "ks_test.h"

/** In the child, before the application starts (its threads inherit the
 *  mask): block SIGTERM, which kst_instance_serve() waits for. */
void kst_instance_block_term(void);

/** In the child: write "<state> <tasks> <process-total>" of @p app to
 *  "<state_dir>/status" every 20 ms until SIGTERM, then close @p app
 *  (not destroyed). 0 if it closed cleanly, 1 otherwise. */
int kst_instance_serve(ks_app_t *app, const char *state_dir);

/** Run this program again with @p argv (NULL-terminated; argv[0] is the
 *  child's name); the child dies with the test. */
pid_t kst_spawn_self(char *const argv[]);

/** The child's last status: 1 and its fields, or 0 if none yet. */
int kst_read_status(const char *path, char *state, long long *tasks,
                    long long *processed);

/** What the predicates below wait for. */
typedef struct {
        ks_app_t *app;      /* this process's instance */
        const char *status; /* the child's status file */
        int64_t tasks;      /* tasks each instance runs */
        int64_t processed;  /* records the child has processed, at least */
} kst_pair_t;

/** This instance runs, with p->tasks tasks. */
int kst_pair_runs(void *p);

/** Both run p->tasks tasks each, the child having processed at least
 *  p->processed records. */
int kst_pair_both_run(void *p);

#endif
