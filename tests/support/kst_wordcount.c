/* Word-count fixture for integration tests (see kst_wordcount.h). The
 * lines come from a linear congruential generator, so a seed gives the same
 * input on every run. */
#define _GNU_SOURCE
#include "kst_wordcount.h"

#include "wordcount_topology.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *topic_name(const char *prefix, const char *what) {
        char base[128];
        snprintf(base, sizeof(base), "%s-%s", prefix, what);
        return kst_unique_name(base);
}

kst_wc_t *kst_wc_new(const char *broker, int mock_brokers, const char *prefix,
                     int partitions, int vocab, unsigned seed) {
        kst_wc_t *wc = calloc(1, sizeof(*wc));
        assert_non_null(wc);
        wc->broker = kst_broker_get(broker, mock_brokers);
        wc->in = topic_name(prefix, "in");
        wc->out = topic_name(prefix, "out");
        wc->words_topic = topic_name(prefix, "words");
        wc->app_id = topic_name(prefix, "app");
        wc->partitions = partitions;
        wc->vocab = vocab;
        wc->seed = seed;
        wc->words = calloc((size_t)vocab, sizeof(*wc->words));
        wc->expect = calloc((size_t)vocab, sizeof(*wc->expect));
        assert_non_null(wc->words);
        assert_non_null(wc->expect);
        for (int i = 0; i < vocab; i++)
                if (asprintf(&wc->words[i], "w%02d", i) < 0)
                        fail_msg("out of memory");
        kst_broker_create_topic(wc->broker, wc->in, partitions, NULL);
        kst_broker_create_topic(wc->broker, wc->out, partitions, NULL);
        kst_broker_create_topic(wc->broker, wc->words_topic, partitions, NULL);
        return wc;
}

void kst_wc_destroy(kst_wc_t *wc) {
        if (!wc)
                return;
        for (int i = 0; i < wc->vocab; i++)
                free(wc->words[i]);
        free(wc->words);
        free(wc->expect);
        kst_broker_destroy(wc->broker);
        free(wc->in);
        free(wc->out);
        free(wc->words_topic);
        free(wc->app_id);
        free(wc);
}

static unsigned next_random(kst_wc_t *wc) {
        wc->seed = wc->seed * 1103515245u + 12345u;
        return wc->seed >> 16;
}

void kst_wc_produce(kst_wc_t *wc, int lines, int max_words, int flags) {
        rd_kafka_t *p = kst_broker_client(wc->broker, RD_KAFKA_PRODUCER, NULL);
        for (int l = 0; l < lines; l++) {
                char line[256] = "";
                int n = 1 + (int)(next_random(wc) % (unsigned)max_words);
                for (int w = 0; w < n; w++) {
                        int wi = (int)(next_random(wc) % (unsigned)wc->vocab);
                        char word[8];
                        snprintf(word, sizeof(word), "%s", wc->words[wi]);
                        if ((flags & KST_WC_MIXED) && w % 2)
                                word[0] = (char)toupper(word[0]);
                        strcat(line, w ? " " : "");
                        strcat(line, word);
                        if ((flags & KST_WC_MIXED) && w % 3 == 2)
                                strcat(line, ",");
                        wc->expect[wi]++;
                        wc->total_words++;
                }
                kst_produce(p, wc->in,
                            (flags & KST_WC_SPREAD) ? l % wc->partitions
                                                    : RD_KAFKA_PARTITION_UA,
                            NULL, 0, line, strlen(line));
        }
        kst_flush(p);
        rd_kafka_destroy(p);
}

int kst_wc_word(const kst_wc_t *wc, const void *key, size_t klen) {
        for (int i = 0; i < wc->vocab; i++)
                if (key && klen == strlen(wc->words[i]) &&
                    !memcmp(key, wc->words[i], klen))
                        return i;
        return -1;
}

int kst_wc_all_counted(const kst_wc_t *wc, const kst_map_t *m) {
        for (int i = 0; i < wc->vocab; i++)
                if (kst_map_int64(m, wc->words[i]) != wc->expect[i])
                        return 0;
        return 1;
}

void kst_wc_wait_counts(kst_wc_t *wc, ks_app_t *app, int timeout_ms) {
        kst_wait_counts(wc->broker, wc->out, wc->partitions, app, timeout_ms,
                        wc->vocab, (const char *const *)wc->words, wc->expect);
}

kst_wc_t *kst_wc_fixture(const char *broker, int mock_brokers,
                         const char *prefix, int partitions, int vocab,
                         unsigned seed) {
        kst_wc_t *f = kst_wc_new(broker, mock_brokers, prefix, partitions,
                                 vocab, seed);
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        if (!t)
                fail_msg("word-count topology: %s", ks_error_message(e));
        kst_create_internal_topics(f->broker, t, f->app_id, partitions, NULL,
                                   NULL);
        ks_topology_destroy(t);
        return f;
}

int kst_wc_teardown(void **state) {
        kst_wc_destroy(*state);
        return 0;
}
