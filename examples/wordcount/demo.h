/* The word-count demos: under the test driver (no broker), the failover
 * demo on Kafka, and one instance of it. */
#ifndef WORDCOUNT_DEMO_H
#define WORDCOUNT_DEMO_H

#include <kstreams/kstreams.h>

int driver_demo(int argc, char **argv);
int failover_demo(int argc, char **argv, const char *self);
int run_instance(int argc, char **argv);

#include <sys/types.h>

#include "text.h"

/** --serve: write the counts to @p file and serve until SIGTERM/SIGINT
 *  (instance i at 127.0.0.1:@p port + i; @p victim is not running). */
void demo_serve(const char *file, const entry_t *want, size_t distinct,
                int port, const pid_t *pids, int victim, int instances);

/** A log line "HH:MM:SS.mmm [who] ...", on stdout. */
void demo_log(const char *who, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#endif
