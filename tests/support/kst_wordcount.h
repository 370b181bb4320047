/* The word-count fixture shared by integration tests: input, words and
 * output topics, an application id, and lines of random words produced to
 * the input with an independent count of every word. */
#ifndef KST_WORDCOUNT_H
#define KST_WORDCOUNT_H

#include <stdint.h>

#include "kst_app.h"

typedef struct {
        kst_broker_t *broker;
        char *in, *words_topic, *out, *app_id; /* unique names */
        int partitions;                        /* of each topic */
        int vocab;
        char **words;    /* "w00", "w01", ... */
        int64_t *expect; /* the independent count of each word */
        int64_t total_words;
        unsigned seed; /* of the random lines */
} kst_wc_t;

/** Lines in mixed case with commas (the topology lower-cases and splits on
 *  non-alphanumerics); else lower case, words split by spaces. */
#define KST_WC_MIXED 0x1
/** Line l to partition l % partitions; else the partitioner's choice. */
#define KST_WC_SPREAD 0x2

/** Broker @p broker (NULL: $KS_TEST_BROKER) with @p mock_brokers brokers,
 *  topics "<prefix>-in", "<prefix>-words", "<prefix>-out" of
 *  @p partitions partitions each, application id "<prefix>-app", and
 *  @p vocab words. @p seed starts the random lines. */
kst_wc_t *kst_wc_new(const char *broker, int mock_brokers, const char *prefix,
                     int partitions, int vocab, unsigned seed);

void kst_wc_destroy(kst_wc_t *wc);

/** kst_wc_new(), and the internal topics of the word-count topology (with
 *  RocksDB stores) made for its application id: the mock cluster does not
 *  answer CreateTopics. */
kst_wc_t *kst_wc_fixture(const char *broker, int mock_brokers,
                         const char *prefix, int partitions, int vocab,
                         unsigned seed);

/** A cmocka teardown destroying the kst_wc_t in *@p state. */
int kst_wc_teardown(void **state);

/** Produce @p lines lines of 1 .. @p max_words random words to the input
 *  and count them. @p flags: KST_WC_*. */
void kst_wc_produce(kst_wc_t *wc, int lines, int max_words, int flags);

/** The index of the word @p key, -1 if it is none. */
int kst_wc_word(const kst_wc_t *wc, const void *key, size_t klen);

/** 1 if the last count of every word in @p m is its independent count. */
int kst_wc_all_counted(const kst_wc_t *wc, const kst_map_t *m);

/** Read the output until the last count of every word is its independent
 *  count; fail the test after @p timeout_ms, or as soon as @p app (if
 *  any) is in ERROR. */
void kst_wc_wait_counts(kst_wc_t *wc, ks_app_t *app, int timeout_ms);

#endif
