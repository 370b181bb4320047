/* What the benchmark's commands share (bench/kstreams_bench.c): clients,
 * loading and reading topics, and measuring a pipeline run as a child
 * process. The stream-stream join case (bench/join_bench.c) is built on
 * them. */
#ifndef KSTREAMS_BENCH_H
#define KSTREAMS_BENCH_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <sys/types.h>

#include <kstreams/kstreams.h>

/* Deadline for any one case. */
#define CASE_TIMEOUT_S 600.0

/* CPU seconds and peak RSS of a process. */
typedef struct {
        double cpu_s;
        long rss_kb;
} usage_t;

/* A monotonic clock in seconds. */
double now_s(void);
/* Prints "kstreams-bench: <message>" and exits 1. */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);
/* A producer (the library's producer settings) or, with @p group, a
 * consumer (the library's consumer settings, from the earliest offsets,
 * no automatic commits). */
rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap,
                   const char *group);
/* Sends one record to @p part stamped @p ts (0: now). */
void produce_at(rd_kafka_t *p, const char *topic, int32_t part, const void *k,
                size_t kl, const void *v, size_t vl, int64_t ts);
int partitions_of(rd_kafka_t *rk, const char *topic);
/* The records in @p topic (its high watermarks less its low ones). */
int64_t topic_records(rd_kafka_t *rk, const char *topic, int parts);
/* A consumer reading every partition of @p topic from @p offset, outside
 * any group. */
rd_kafka_t *reader(const char *bs, const char *topic, int64_t offset);
/* xorshift64 */
uint64_t rng(uint64_t *s);

/* CPU time and peak RSS of process @p pid so far, from /proc. */
usage_t usage_of(pid_t pid);
pid_t spawn(char **cmd);
/* Stops @p pid (SIGTERM, then SIGKILL); 0 if it exited cleanly. */
int reap(pid_t pid);
/* 1 while @p pid runs. */
int alive(pid_t pid);
/* Prints the CSV line of a case. */
void report(const char *name, const char *baseline, int64_t records,
            double first, double last, double start, usage_t u, double p50,
            double p99);
/* 1 when group @p g has committed @p ends (offsets: the input's ends). */
int committed_all(rd_kafka_t *g, const rd_kafka_topic_partition_list_t *ends);
/* 1 when consumer group @p group is stable: its members joined and hold
 * their assignment. */
int group_stable(rd_kafka_t *rk, const char *group);

/* The stream-stream join case (join_bench.c). */
int join_produce(int argc, char **argv);
ks_topology_t *join_topology(const char *left, const char *right,
                             const char *out, ks_error_t **e);
int join_run(int argc, char **argv);

#endif
