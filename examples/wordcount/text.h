/* The word-count demos' input text and its reference count, computed
 * without the library. */
#ifndef WORDCOUNT_TEXT_H
#define WORDCOUNT_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
        char word[64];
        int64_t count;
} entry_t;

extern const char *vocabulary[];
extern const size_t VOCAB;

/** xorshift64: the text generator's random numbers. */
uint64_t rng_next(uint64_t *s);

/** Order by word / by count descending. */
int cmp_entry(const void *a, const void *b);
int cmp_count_desc(const void *a, const void *b);

/** Every word of every line, lower-cased, counted; sorted by word. Free
 *  the result. */
entry_t *reference_counts(char **lines, size_t n, size_t *distinct);

/** @p n generated lines (free each and the array). */
char **generate_lines(size_t n, uint64_t seed);

#endif
