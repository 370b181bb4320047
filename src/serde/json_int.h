/* A small JSON reader for the parts of Avro schemas avro-c does not keep
 * (field defaults). It builds a read-only tree; schemas are small and come
 * from the application, but the parser still bounds nesting and never trusts
 * its input to be well formed. */
#ifndef KS_JSON_INT_H
#define KS_JSON_INT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
        KS_JSON_NULL,
        KS_JSON_BOOL,
        KS_JSON_NUMBER,
        KS_JSON_STRING,
        KS_JSON_ARRAY,
        KS_JSON_OBJECT,
} ks__json_type_t;

typedef struct ks__json_s ks__json_t;

struct ks__json_s {
        ks__json_type_t type;
        int boolean;
        double number;
        int is_integer; /* number written without fraction or exponent */
        int64_t integer;
        char *str; /* string (NUL-terminated, UTF-8; may hold NUL) */
        size_t str_len;
        ks__json_t **items; /* array items or object values */
        char **keys;        /* object keys, parallel to items */
        size_t cnt;
};

/** Parse @p text; NULL with a message in @p why on a syntax error or OOM. */
ks__json_t *ks__json_parse(const char *text, char *why, size_t why_size);

void ks__json_free(ks__json_t *j);

/** The member @p key of object @p j, or NULL. */
const ks__json_t *ks__json_get(const ks__json_t *j, const char *key);

/** The string member @p key of object @p j, or NULL. */
const char *ks__json_get_str(const ks__json_t *j, const char *key);

#endif
