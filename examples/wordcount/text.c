/* Generated text and its independent word count (see text.h). */
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vocabulary[] = {
        "kafka",  "stream",  "table",     "state",  "store",  "task",
        "commit", "offset",  "topic",     "record", "window", "join",
        "count",  "rocksdb", "the",       "a",      "of",     "and",
        "to",     "in",      "exactly",   "once",   "C",      "Library",
        "fast",   "log",     "changelog",
};
const size_t VOCAB = sizeof(vocabulary) / sizeof(vocabulary[0]);

int cmp_entry(const void *a, const void *b) {
        return strcmp(((const entry_t *)a)->word, ((const entry_t *)b)->word);
}

int cmp_count_desc(const void *a, const void *b) {
        const entry_t *x = a, *y = b;
        if (x->count != y->count)
                return x->count < y->count ? 1 : -1;
        return strcmp(x->word, y->word);
}

uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* The reference: every word of every line, lower-cased and sorted, counted
 * by runs. Independent of the topology's store and processors. */
entry_t *reference_counts(char **lines, size_t n, size_t *distinct) {
        size_t cap = 1024, cnt = 0;
        entry_t *all = malloc(cap * sizeof(*all));
        for (size_t i = 0; i < n; i++) {
                const char *p = lines[i];
                while (*p) {
                        while (*p && !isalnum((unsigned char)*p))
                                p++;
                        size_t wl = 0;
                        char w[64];
                        while (isalnum((unsigned char)p[wl]) && wl < 63) {
                                w[wl] = (char)tolower((unsigned char)p[wl]);
                                wl++;
                        }
                        if (!wl)
                                break;
                        p += wl;
                        w[wl] = 0;
                        if (cnt == cap)
                                all = realloc(all, (cap *= 2) * sizeof(*all));
                        snprintf(all[cnt].word, sizeof(all[cnt].word), "%s", w);
                        all[cnt++].count = 1;
                }
        }
        qsort(all, cnt, sizeof(*all), cmp_entry);
        size_t out = 0;
        for (size_t i = 0; i < cnt; i++) {
                if (out && !strcmp(all[out - 1].word, all[i].word))
                        all[out - 1].count++;
                else
                        all[out++] = all[i];
        }
        *distinct = out;
        return all;
}

char **generate_lines(size_t n, uint64_t seed) {
        char **lines = calloc(n ? n : 1, sizeof(char *));
        uint64_t s = seed | 1;
        for (size_t i = 0; lines && i < n; i++) {
                char buf[512];
                size_t len = 0;
                int words = 1 + (int)(rng_next(&s) % 12);
                for (int w = 0; w < words; w++)
                        len += (size_t)snprintf(
                                buf + len, sizeof(buf) - len, "%s%s",
                                w ? (rng_next(&s) % 5 ? " " : ", ") : "",
                                vocabulary[rng_next(&s) % VOCAB]);
                lines[i] = strdup(buf);
        }
        return lines;
}
