/* Word count with the streams DSL (see wordcount_topology.h): the same
 * results as the Processor API version, in five steps. */
#include "wordcount_topology.h"

#include <ctype.h>

/* Each lower-cased word of letters and digits of the line, as a value. */
static ks_err_t split_words(void *opaque, const ks_record_t *rec,
                            ks_emitter_t *out) {
        (void)opaque;
        size_t len;
        const char *line = ks_record_value(rec, &len);
        char word[256];
        size_t wl = 0;
        for (size_t i = 0; line && i <= len; i++) {
                unsigned char c = i < len ? (unsigned char)line[i] : ' ';
                if (isalnum(c)) {
                        if (wl < sizeof(word))
                                word[wl++] = (char)tolower(c);
                        continue;
                }
                if (!wl)
                        continue;
                ks_err_t err = ks_emit_value(out, word, wl);
                if (err)
                        return err;
                wl = 0;
        }
        return KS_ERR_NO_ERROR;
}

/* The word is the key. */
static ks_err_t word_key(void *opaque, const ks_record_t *rec,
                         ks_emitter_t *out) {
        (void)opaque;
        size_t len;
        const void *word = ks_record_value(rec, &len);
        return ks_emit_key(out, word, len);
}

ks_topology_t *wordcount_dsl_topology_on(const char *input, const char *output,
                                         ks_error_t **errp) {
        ks_builder_t *b = ks_builder_new();
        if (!b)
                return NULL;
        const char *topics[] = {input};
        ks_stream_t *lines = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                               ks_serde_string(), "lines");
        ks_stream_t *words =
                ks_stream_flat_map_values(lines, split_words, NULL, "split");
        ks_table_t *counts = ks_grouped_count(
                ks_stream_group_by(words, word_key, NULL, WORDCOUNT_DSL_GROUP),
                WORDCOUNT_STORE, "count");
        ks_stream_to(ks_table_to_stream(counts, "changes"), output,
                     "counts-sink");
        ks_topology_t *topo = NULL;
        if (ks_builder_build(b, &topo, errp))
                topo = NULL;
        ks_builder_destroy(b);
        return topo;
}
