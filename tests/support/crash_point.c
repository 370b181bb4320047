/* The crash hook of the test builds: KSTREAMS_CRASH_POINT=<point>[:<n>]
 * kills the process (SIGKILL, no clean-up) the n-th time an exactly-once
 * commit that carries state changes reaches <point>: before-commit (the
 * offsets sent, the transaction not committed), after-commit (committed,
 * the stores not written) or after-state-write. Linked into test binaries
 * only; the library itself only calls a hook when one is set. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/stream_thread_int.h"

static const char *const names[] = {"", "before-commit", "after-commit",
                                    "after-state-write", NULL};
static int point, countdown;

static void hook(ks__commit_point_t p) {
        if ((int)p != point ||
            __atomic_sub_fetch(&countdown, 1, __ATOMIC_SEQ_CST) > 0)
                return;
        fprintf(stderr, "crash point %s reached: killing the process\n",
                names[p]);
        raise(SIGKILL);
}

__attribute__((constructor)) static void install(void) {
        const char *v = getenv("KSTREAMS_CRASH_POINT");
        if (!v || !*v)
                return;
        size_t n = strcspn(v, ":");
        for (int i = 1; names[i]; i++)
                if (strlen(names[i]) == n && !strncmp(v, names[i], n)) {
                        point = i;
                        countdown = v[n] ? atoi(v + n + 1) : 1;
                        if (countdown < 1)
                                countdown = 1;
                        ks__commit_point_hook = hook;
                }
}
