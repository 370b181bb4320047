/* The word-count demos: under the test driver (no broker), the failover
 * demo on Kafka, and one instance of it. */
#ifndef WORDCOUNT_DEMO_H
#define WORDCOUNT_DEMO_H

#include <kstreams/kstreams.h>

int driver_demo(int argc, char **argv);
int failover_demo(int argc, char **argv, const char *self);
int run_instance(int argc, char **argv);

/** A log line "HH:MM:SS.mmm [who] ...", on stdout. */
void demo_log(const char *who, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

#endif
