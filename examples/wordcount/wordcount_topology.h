/* Word count with the Processor API: the topology shared by the example
 * program and its tests. */
#ifndef WORDCOUNT_TOPOLOGY_H
#define WORDCOUNT_TOPOLOGY_H

#include <kstreams/kstreams.h>

#define WORDCOUNT_INPUT  "text-lines"
#define WORDCOUNT_OUTPUT "word-counts"
#define WORDCOUNT_STORE  "counts"

/**
 * lines (topic text-lines, string) -> split (lower-cased words of letters
 * and digits) -> count (store "counts": word -> int64) -> sink (topic
 * word-counts, string key, int64 value). Every input word yields one output
 * record: the word and its updated count.
 */
ks_topology_t *wordcount_topology(ks_store_backend_t backend,
                                  ks_error_t **errp);

#endif
