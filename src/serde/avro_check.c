/* Bounded structural check of an Avro binary datum against its writer
 * schema, run before avro-c decodes it.
 *
 * avro-c allocates string, bytes and array storage from the length prefix
 * before it knows the bytes are there, so one malformed record could ask for
 * gigabytes. This walker reads the same encoding without allocating: every
 * length must fit in the remaining input, block counts are bounded by it,
 * union branches and enum symbols must exist, and nesting (recursive
 * schemas) is capped, so the recursion cannot exhaust the stack. */
#include "avro_check_int.h"

#include <stdio.h>

#define MAX_DEPTH 256
/* Elements that take no bytes (null, empty records) are capped separately. */
#define MAX_ZERO_SIZE_ITEMS (1 << 20)

typedef struct {
        const uint8_t *p, *end;
        char *why;
        size_t why_size;
} cur_t;

static int fail(cur_t *c, const char *msg) {
        snprintf(c->why, c->why_size, "%s", msg);
        return -1;
}

static int read_long(cur_t *c, int64_t *out) {
        uint64_t v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
                if (c->p >= c->end)
                        return fail(c, "truncated varint");
                uint8_t b = *c->p++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
                        return 0;
                }
        }
        return fail(c, "varint longer than 10 bytes");
}

static int skip(cur_t *c, int64_t n, const char *what) {
        if (n < 0)
                return fail(c, what);
        if ((uint64_t)n > (uint64_t)(c->end - c->p))
                return fail(c, "length runs past the end of the data");
        c->p += n;
        return 0;
}

/* Can a value of @p s take zero bytes? (null, empty record, fixed 0). */
static int zero_size(avro_schema_t s, int depth) {
        if (depth > 16)
                return 1;
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                return 1;
        case AVRO_FIXED:
                return avro_schema_fixed_size(s) == 0;
        case AVRO_RECORD:
                for (size_t i = 0; i < avro_schema_record_size(s); i++)
                        if (!zero_size(avro_schema_record_field_get_by_index(
                                               s, (int)i),
                                       depth + 1))
                                return 0;
                return 1;
        case AVRO_LINK:
                return zero_size(avro_schema_link_target(s), depth + 1);
        default:
                return 0;
        }
}

static int walk(cur_t *c, avro_schema_t s, int depth);

static int walk_blocks(cur_t *c, avro_schema_t items, int is_map, int depth) {
        int zero = !is_map && zero_size(items, 0);
        int64_t total = 0;
        for (;;) {
                int64_t cnt;
                if (read_long(c, &cnt))
                        return -1;
                if (!cnt)
                        return 0;
                if (cnt < 0) { /* negative count: a byte size follows */
                        int64_t bytes;
                        if (cnt == INT64_MIN || read_long(c, &bytes))
                                return fail(c, "bad block header");
                        cnt = -cnt;
                        if (bytes < 0 || bytes > c->end - c->p)
                                return fail(c, "block size runs past the end "
                                               "of the data");
                }
                total += cnt;
                if (zero ? total > MAX_ZERO_SIZE_ITEMS : total > c->end - c->p)
                        return fail(c, "block count exceeds the data");
                for (int64_t i = 0; i < cnt; i++) {
                        if (is_map) {
                                int64_t klen;
                                if (read_long(c, &klen) ||
                                    skip(c, klen, "negative map key length"))
                                        return -1;
                        }
                        if (walk(c, items, depth + 1))
                                return -1;
                }
        }
}

static int walk(cur_t *c, avro_schema_t s, int depth) {
        int64_t n;
        if (depth > MAX_DEPTH)
                return fail(c, "nesting deeper than 256 levels");
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                return 0;
        case AVRO_BOOLEAN:
                return skip(c, 1, "boolean");
        case AVRO_INT32:
        case AVRO_INT64:
                return read_long(c, &n);
        case AVRO_FLOAT:
                return skip(c, 4, "float");
        case AVRO_DOUBLE:
                return skip(c, 8, "double");
        case AVRO_STRING:
        case AVRO_BYTES:
                if (read_long(c, &n))
                        return -1;
                return skip(c, n, "negative length");
        case AVRO_FIXED:
                return skip(c, avro_schema_fixed_size(s), "fixed");
        case AVRO_ENUM:
                if (read_long(c, &n))
                        return -1;
                if (n < 0 || n >= avro_schema_enum_number_of_symbols(s))
                        return fail(c, "enum index out of range");
                return 0;
        case AVRO_UNION:
                if (read_long(c, &n))
                        return -1;
                if (n < 0 || (uint64_t)n >= avro_schema_union_size(s))
                        return fail(c, "union branch out of range");
                return walk(c, avro_schema_union_branch(s, (int)n), depth + 1);
        case AVRO_RECORD:
                for (size_t i = 0; i < avro_schema_record_size(s); i++)
                        if (walk(c,
                                 avro_schema_record_field_get_by_index(s,
                                                                       (int)i),
                                 depth + 1))
                                return -1;
                return 0;
        case AVRO_ARRAY:
                return walk_blocks(c, avro_schema_array_items(s), 0, depth);
        case AVRO_MAP:
                return walk_blocks(c, avro_schema_map_values(s), 1, depth);
        case AVRO_LINK:
                return walk(c, avro_schema_link_target(s), depth + 1);
        default:
                return fail(c, "unsupported schema type");
        }
}

int ks__avro_check(avro_schema_t writer, const void *data, size_t size,
                   char *why, size_t why_size) {
        cur_t c = {data, (const uint8_t *)data + size, why, why_size};
        const uint8_t *start = c.p;
        if (!walk(&c, writer, 0))
                return 0;
        size_t len = strlen(why);
        snprintf(why + len, why_size - len, " (byte %zu of %zu)",
                 (size_t)(c.p - start), size);
        return -1;
}
