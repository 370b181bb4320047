/* What the stream-stream join tests share: input records, the
 * brute-force model of the join (see test_stream_join.c), drivers over a
 * join of topics L and R into "out", and checks of the output. */
#ifndef SJ_SUPPORT_H
#define SJ_SUPPORT_H

#include <stdint.h>

#include "ks_test.h"

#define MAXR        400
#define MAXO        (MAXR * MAXR)
#define NKEYS       3
#define OUTER_STORE "cj-outer-shared-join-store"

extern const char *const keys[NKEYS];

typedef struct {
        int side, key, id;
        int64_t ts;
} rec_t;

typedef struct {
        int key;
        char value[48];
        int64_t ts;
} out_t;

typedef struct {
        int64_t before, after, grace;
        ks_join_kind_t kind;
        int self;
} cfg_t;

/** Records drifting forward, out of order by up to @p jitter, about one in
 *  @p late_every @p far behind. */
void gen(rec_t *in, size_t n, int64_t step, int64_t jitter, int64_t far,
         unsigned late_every, uint64_t seed);

/** The model's outputs for @p in; *latep: the late records. */
size_t model(const rec_t *in, size_t n, const cfg_t *c, out_t *out, int *latep);

/** The joiner of the tests: "<left>:<right>", "null" for a missing side. */
ks_err_t join_values(void *o, const void *l, size_t ll, const void *r,
                     size_t rl, ks_buf_t *out);

/** The join windows of @p c (taken over by the join). */
ks_windows_t *join_windows(const cfg_t *c);

/** ks_stream_join, ks_stream_left_join or ks_stream_outer_join by kind. */
extern ks_stream_t *(*const join_fn[])(ks_stream_t *, ks_stream_t *,
                                       ks_value_joiner_cb *, void *,
                                       ks_windows_t *, const char *);

/** A driver over the join of @p c (default names), into "out". */
ks_test_driver_t *driver(const cfg_t *c);

/** A driver over a join named "cj" of L and R (the same stream if
 *  c->self), with joiner @p j (NULL: join_values). */
ks_test_driver_t *named_driver(const cfg_t *c, ks_value_joiner_cb *j);

void pipe_rec(ks_test_driver_t *drv, const rec_t *r, int self);
size_t read_all(ks_test_driver_t *drv, out_t *out, size_t max);

/** Compare per key, in order. */
void compare(const out_t *want, size_t nw, const out_t *got, size_t ng);

/** No record reported unmatched appears in a pair. */
void check_nulls(const out_t *got, size_t ng);

/** Check the join of @p in (@p n records) against the model. */
void run_recs(const cfg_t *c, const rec_t *in, size_t n);

/** run_recs() over gen()'s records. */
void run_case(const cfg_t *c, size_t n, int64_t step, int64_t jitter,
              int64_t far, unsigned late_every, uint64_t seed);

/** Build @p b (destroyed) and return the outcome. */
ks_err_t build_err(ks_builder_t *b, ks_error_t **e);

/** A key selector: the value's first byte. */
ks_err_t rekey(void *o, const ks_record_t *rec, ks_emitter_t *out);

/** An outer store key into @p k: be64(ts ^ sign) | side | be32
 *  @p klen_field | key | be32 seq; returns its length. */
size_t outer_key(uint8_t *k, int64_t ts, int side, uint32_t klen_field,
                 const char *key, uint32_t seq);

/** Put (@p k, @p v) into the outer store of named_driver()'s join. */
void put_outer(ks_test_driver_t *drv, const void *k, size_t kl, const char *v);

/** Pipe a record that must go through, or fail naming the outer store
 *  and @p why. */
void pipe_ok(ks_test_driver_t *drv, const char *topic, const char *k,
             const char *v, int64_t ts);
void pipe_fails(ks_test_driver_t *drv, const char *topic, const char *k,
                const char *v, int64_t ts, const char *why);

#endif
