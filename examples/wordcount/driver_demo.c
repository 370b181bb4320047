/* Word count under the topology test driver (no broker): prints the
 * topology and the top words, and checks every final count against an
 * independent count of the same text.
 *
 *   wordcount --test-driver [--lines N] [--seed S] [--in-memory]
 *
 * Exit status 0 when every count matches, 1 otherwise. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "text.h"
#include "wordcount_topology.h"

int driver_demo(int argc, char **argv) {
        size_t nlines = 20000;
        uint64_t seed = 42;
        ks_store_backend_t backend = KS_STORE_ROCKSDB;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--test-driver"))
                        continue;
                if (!strcmp(argv[i], "--lines") && i + 1 < argc)
                        nlines = strtoull(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
                        seed = strtoull(argv[++i], NULL, 10) | 1;
                else if (!strcmp(argv[i], "--in-memory"))
                        backend = KS_STORE_IN_MEMORY;
                else {
                        fprintf(stderr,
                                "usage: %s --test-driver [--lines N] "
                                "[--seed S] [--in-memory]\n",
                                argv[0]);
                        return 2;
                }
        }

        ks_error_t *err = NULL;
        ks_topology_t *topo = wordcount_topology(backend, &err);
        if (!topo) {
                fprintf(stderr, "topology: %s\n", ks_error_message(err));
                return 1;
        }
        char *desc = NULL;
        if (ks_topology_describe(topo, &desc, &err)) {
                fprintf(stderr, "describe: %s\n", ks_error_message(err));
                return 1;
        }
        printf("kstreams-c %s word count\n%s", ks_version_str(), desc);
        ks_free(desc);

        ks_config_t *conf = ks_config_new();
        char dir[] = "/tmp/kstreams-wordcount-XXXXXX";
        if (!mkdtemp(dir) ||
            ks_config_set(conf, "application.id", "wordcount", &err) ||
            ks_config_set(conf, "state.dir", dir, &err)) {
                fprintf(stderr, "config: %s\n", ks_error_message(err));
                return 1;
        }
        ks_test_driver_t *drv = ks_test_driver_new(topo, conf, 0, &err);
        if (!drv) {
                fprintf(stderr, "driver: %s\n", ks_error_message(err));
                return 1;
        }

        /* Generate the input text. */
        char **lines = generate_lines(nlines, seed);

        /* Process, keeping the last count emitted per word. */
        size_t distinct;
        entry_t *want = reference_counts(lines, nlines, &distinct);
        entry_t *got = calloc(distinct, sizeof(*got));
        memcpy(got, want, distinct * sizeof(*got));
        for (size_t i = 0; i < distinct; i++)
                got[i].count = 0;
        size_t outputs = 0, words_total = 0;
        for (size_t i = 0; i < nlines; i++) {
                if (ks_test_driver_pipe(drv, WORDCOUNT_INPUT, NULL, 0, lines[i],
                                        strlen(lines[i]), (int64_t)i, NULL,
                                        &err)) {
                        fprintf(stderr, "pipe: %s\n", ks_error_message(err));
                        return 1;
                }
                ks_test_record_t *r;
                while ((r = ks_test_driver_read_output(drv,
                                                       WORDCOUNT_OUTPUT))) {
                        size_t kl, vl;
                        const char *k = ks_test_record_key(r, &kl);
                        const void *v = ks_test_record_value(r, &vl);
                        entry_t key = {0};
                        snprintf(key.word, sizeof(key.word), "%.*s", (int)kl,
                                 k);
                        entry_t *e = bsearch(&key, got, distinct, sizeof(*got),
                                             cmp_entry);
                        int64_t n;
                        if (!e || ks_int64_decode(v, vl, &n, NULL) ||
                            n != e->count + 1) {
                                fprintf(stderr,
                                        "unexpected output for \"%s\"\n",
                                        key.word);
                                return 1;
                        }
                        e->count = n;
                        outputs++;
                        ks_test_record_destroy(r);
                }
        }
        for (size_t i = 0; i < distinct; i++)
                words_total += (size_t)want[i].count;

        int mismatches = 0;
        for (size_t i = 0; i < distinct; i++) {
                if (got[i].count != want[i].count) {
                        fprintf(stderr,
                                "MISMATCH %s: %" PRId64 " counted, %" PRId64
                                " expected\n",
                                got[i].word, got[i].count, want[i].count);
                        mismatches++;
                }
        }
        qsort(got, distinct, sizeof(*got), cmp_count_desc);
        printf("\n%zu lines, %zu words, %zu distinct, %zu output records\n",
               nlines, words_total, distinct, outputs);
        printf("top words:\n");
        for (size_t i = 0; i < distinct && i < 10; i++)
                printf("  %-12s %" PRId64 "\n", got[i].word, got[i].count);
        printf("%s: %zu of %zu final counts equal the independent count\n",
               mismatches ? "FAILED" : "OK", distinct - (size_t)mismatches,
               distinct);

        for (size_t i = 0; i < nlines; i++)
                free(lines[i]);
        free(lines);
        free(want);
        free(got);
        ks_test_driver_destroy(drv);
        ks_topology_destroy(topo);
        ks_config_destroy(conf);
        rmdir(dir);
        return mismatches ? 1 : 0;
}
