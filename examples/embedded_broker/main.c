/* ks-embedded-broker: run librdkafka's mock cluster on loopback and print
 * its bootstrap servers, for trying kstreams-c applications without a
 * Kafka installation.
 *
 *   ks-embedded-broker [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Runs until interrupted (SIGINT or SIGTERM). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedded_broker.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

int main(int argc, char **argv) {
        int brokers = 3;
        for (int i = 1; i + 1 < argc; i++)
                if (!strcmp(argv[i], "--brokers"))
                        brokers = atoi(argv[++i]);
        char err[512];
        embedded_broker_t *b = embedded_broker_start(brokers, err, sizeof(err));
        if (!b) {
                fprintf(stderr, "ks-embedded-broker: %s\n", err);
                return 1;
        }
        for (int i = 1; i + 1 < argc; i++) {
                if (strcmp(argv[i], "--topic"))
                        continue;
                char name[256];
                int parts = 1;
                snprintf(name, sizeof(name), "%s", argv[++i]);
                char *colon = strrchr(name, ':');
                if (colon) {
                        *colon = '\0';
                        parts = atoi(colon + 1);
                }
                if (embedded_broker_create_topic(b, name, parts)) {
                        fprintf(stderr, "cannot create topic %s\n", name);
                        embedded_broker_stop(b);
                        return 1;
                }
        }
        printf("%s\n", embedded_broker_bootstrap(b));
        fflush(stdout);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!stop)
                pause();
        embedded_broker_stop(b);
        return 0;
}
