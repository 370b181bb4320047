/* Word count demos.
 *
 *   wordcount [--bootstrap-servers B] [--lines N] [--seed S]
 *             [--partitions P]
 *       the failover demo: three instances on Kafka (the embedded broker
 *       when no bootstrap servers are given), one killed mid-run, final
 *       counts checked against an independent count;
 *   wordcount --test-driver [--lines N] [--seed S] [--in-memory]
 *       the same topology under the topology test driver, no broker;
 *   wordcount --instance ...
 *       one instance (the failover demo starts three).
 *
 * Exit status 0 when every final count matches. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

int main(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--test-driver"))
                        return driver_demo(argc, argv);
                if (!strcmp(argv[i], "--instance"))
                        return run_instance(argc, argv);
        }
        /* Instances are this program again: find its path. */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
                perror("readlink /proc/self/exe");
                return 1;
        }
        self[n] = '\0';
        return failover_demo(argc, argv, self);
}
