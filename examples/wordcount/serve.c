/* wordcount --http PORT --serve FILE: once every final count is in, write
 * the independent counts to FILE ("word count" lines) and keep the
 * instances serving until SIGTERM or SIGINT, so that their endpoints can
 * be read: curl http://127.0.0.1:PORT/stores/counts/<word>, /metrics,
 * /health, /topology?format=dot. */
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include "demo.h"
#include "text.h"

void demo_serve(const char *file, const entry_t *want, size_t distinct,
                int port, const pid_t *pids, int victim, int instances) {
        FILE *f = fopen(file, "w");
        if (!f) {
                perror(file);
                return;
        }
        for (size_t i = 0; i < distinct; i++)
                fprintf(f, "%s %lld\n", want[i].word, (long long)want[i].count);
        fclose(f);
        for (int i = 0; i < instances; i++)
                if (i != victim && pids[i] > 0)
                        demo_log("demo",
                                 "instance %d serves http://127.0.0.1:%d "
                                 "(/stores/counts/<word>, /metrics, /health, "
                                 "/topology)",
                                 i + 1, port + i);
        demo_log("demo",
                 "serving until SIGTERM or SIGINT; the expected "
                 "counts are in %s",
                 file);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sig;
        sigwait(&set, &sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        demo_log("demo", "stopping the instances");
}
