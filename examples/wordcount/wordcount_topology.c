/* Word count with the Processor API (see wordcount_topology.h). */
#include "wordcount_topology.h"

#include <ctype.h>
#include <stdlib.h>

/* Split a line into lower-cased words; forward each as key and value. */
static ks_err_t split(ks_context_t *ctx, const ks_record_t *rec, void *st) {
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
                ks_err_t err = ks_context_forward(ctx, word, wl, word, wl);
                if (err)
                        return err;
                wl = 0;
        }
        return KS_ERR_NO_ERROR;
}

typedef struct {
        ks_kv_store_t *counts;
} count_state_t;

static ks_err_t count_init(ks_context_t *ctx, void *opaque, void **statep) {
        count_state_t *st = calloc(1, sizeof(*st));
        if (!st)
                return KS_ERR_NO_MEMORY;
        ks_err_t err =
                ks_context_get_kv_store(ctx, WORDCOUNT_STORE, &st->counts);
        if (err) {
                free(st);
                return err;
        }
        *statep = st;
        return KS_ERR_NO_ERROR;
}

static ks_err_t count(ks_context_t *ctx, const ks_record_t *rec, void *state) {
        count_state_t *st = state;
        size_t kl, vl;
        const void *word = ks_record_key(rec, &kl);
        const void *old;
        int64_t n = 0;
        ks_err_t err = ks_kv_store_get(st->counts, word, kl, &old, &vl);
        if (err == KS_ERR_NO_ERROR) {
                if ((err = ks_int64_decode(old, vl, &n, NULL)))
                        return ks_context_set_error(
                                ctx, "stored count of \"%.*s\" is corrupt",
                                (int)kl, (const char *)word);
        } else if (err != KS_ERR_NOT_FOUND) {
                return err;
        }
        uint8_t enc[8];
        ks_int64_encode(n + 1, enc);
        if ((err = ks_kv_store_put(st->counts, word, kl, enc, sizeof(enc))))
                return err;
        return ks_context_forward(ctx, word, kl, enc, sizeof(enc));
}

static void count_close(ks_context_t *ctx, void *state) {
        free(state);
}

ks_topology_t *wordcount_topology(ks_store_backend_t backend,
                                  ks_error_t **errp) {
        return wordcount_topology_on(WORDCOUNT_INPUT, WORDCOUNT_WORDS,
                                     WORDCOUNT_OUTPUT, backend, errp);
}

ks_topology_t *wordcount_topology_on(const char *input, const char *words,
                                     const char *output,
                                     ks_store_backend_t backend,
                                     ks_error_t **errp) {
        ks_topology_t *t = ks_topology_new();
        const char *in[] = {input}, *through[] = {words};
        const char *lines[] = {"lines"}, *split_out[] = {"split"},
                   *keyed[] = {"words"}, *counted[] = {"count"};
        /* Words are re-keyed by the split: they go through the words topic
         * (partitioned by word), so each word is counted by one task. */
        if (!t ||
            ks_topology_add_source(t, "lines", in, 1, ks_serde_string(),
                                   ks_serde_string(), errp) ||
            ks_topology_add_processor(t, "split", NULL, split, NULL, NULL,
                                      lines, 1, errp) ||
            ks_topology_add_sink(t, "words-sink", words, ks_serde_string(),
                                 ks_serde_string(), split_out, 1, errp) ||
            ks_topology_add_source(t, "words", through, 1, ks_serde_string(),
                                   ks_serde_string(), errp) ||
            ks_topology_add_processor(t, "count", count_init, count,
                                      count_close, NULL, keyed, 1, errp) ||
            ks_topology_add_kv_store(t, WORDCOUNT_STORE, backend, 0, errp) ||
            ks_topology_connect_store(t, WORDCOUNT_STORE, "count", errp) ||
            ks_topology_add_sink(t, "counts-sink", output, ks_serde_string(),
                                 ks_serde_int64(), counted, 1, errp)) {
                ks_topology_destroy(t);
                return NULL;
        }
        return t;
}
