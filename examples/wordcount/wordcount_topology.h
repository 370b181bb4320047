/* Word count with the Processor API and with the DSL: the topologies
 * shared by the example program and its tests. */
#ifndef WORDCOUNT_TOPOLOGY_H
#define WORDCOUNT_TOPOLOGY_H

#include <kstreams/kstreams.h>

#define WORDCOUNT_INPUT  "text-lines"
#define WORDCOUNT_WORDS  "text-words"
#define WORDCOUNT_OUTPUT "word-counts"
#define WORDCOUNT_STORE  "counts"

/**
 * lines (topic text-lines, string) -> split (lower-cased words of letters
 * and digits, keyed by the word) -> topic text-words (partitioned by word)
 * -> count (store "counts": word -> int64) -> sink (topic word-counts,
 * string key, int64 value). Two sub-topologies; every input word yields one
 * output record: the word and its updated count.
 */
ks_topology_t *wordcount_topology(ks_store_backend_t backend,
                                  ks_error_t **errp);

/** The same topology on the topics @p input, @p words (the re-keyed
 *  words, which must have as many partitions as @p output is read with)
 *  and @p output. */
ks_topology_t *wordcount_topology_on(const char *input, const char *words,
                                     const char *output,
                                     ks_store_backend_t backend,
                                     ks_error_t **errp);

/** The repartition topic of the DSL word count is
 *  "<application.id>-" WORDCOUNT_DSL_GROUP "-repartition". */
#define WORDCOUNT_DSL_GROUP "words"

/**
 * Word count in the streams DSL, with the same output: lines (@p input) ->
 * flat_map_values (the words) -> group_by (word; repartition topic
 * "<application.id>-words-repartition") -> count (store "counts") ->
 * to_stream -> @p output.
 */
ks_topology_t *wordcount_dsl_topology_on(const char *input, const char *output,
                                         ks_error_t **errp);

#endif
