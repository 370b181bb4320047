/* Stream-stream join internals shared by the join step (stream_join.c)
 * and its outer store of records still waiting for a partner
 * (stream_join_outer.c); the semantics are in stream_join.c. */
#ifndef KS_STREAM_JOIN_INT_H
#define KS_STREAM_JOIN_INT_H

#include "dsl_int.h"

#define SIGN_BIT    ((uint64_t)1 << 63)
#define OUTER_HEAD  13 /* be64 timestamp | u8 side | be32 key length */
#define SEQ_LEN     4
#define EMIT_BATCH  256       /* outer entries emitted per scan ... */
#define EMIT_BYTES  (1 << 20) /* ... and about this many bytes of them */
#define MAX_WINDOWS (INT64_MAX / 8)

typedef struct {
        ks__dsl_step_t base; /* base.store: the outer store, or NULL */
        ks_value_joiner_cb *joiner;
        int side;        /* 0: this step takes the left records; 1: right */
        int outer;       /* unmatched records of this side get (x, NULL) */
        int other_outer; /* ... of the other side */
        int64_t before, after, grace; /* this side's view of the window */
        int64_t span;                 /* before + after + grace */
        char *own, *other;            /* the two window stores */
} sj_step_t;

typedef struct {
        ks__dsl_state_t base; /* base.store: the outer store, or NULL */
        ks_window_store_t *own, *other;
        uint32_t seq; /* this side's next outer sequence number */
        int seq_known;
        int seq_wrapped; /* seq may meet stored ones: put where none is */
        ks_buf_t *okey;  /* an outer key being made */
        ks_buf_t *due;   /* outer entries being emitted */
        ks_buf_t *seek;  /* where the next scan of the outer store starts */
} sj_state_t;

/* An entry of in->due (the key and the value follow). */
typedef struct {
        size_t kl, vl;
} due_head_t;

static inline int64_t ks__sj_sat_add(int64_t a, int64_t b) {
        int64_t r;
        if (!__builtin_add_overflow(a, b, &r))
                return r;
        return b > 0 ? INT64_MAX : INT64_MIN;
}

static inline int64_t ks__sj_sat_sub(int64_t a, int64_t b) {
        int64_t r;
        if (!__builtin_sub_overflow(a, b, &r))
                return r;
        return b < 0 ? INT64_MAX : INT64_MIN;
}

/** A store error of step @p st naming @p store: @p what. */
ks_err_t ks__sj_store_error(ks_context_t *ctx, const sj_step_t *st,
                            const char *store, const char *what);

/** Keep an unmatched record of this side until no partner can come. */
ks_err_t ks__sj_outer_add(ks_context_t *ctx, sj_state_t *in, int64_t ts,
                          const void *key, size_t klen, const void *value,
                          size_t vlen);

/** The other side's records of @p key at @p ts found a partner: they
 *  leave the outer store. */
ks_err_t ks__sj_outer_matched(ks_context_t *ctx, sj_state_t *in, int64_t ts,
                              const void *key, size_t klen);

/** Emit, oldest first, every waiting record that can no longer find a
 *  partner at stream time @p s. */
ks_err_t ks__sj_outer_emit_due(ks_context_t *ctx, sj_state_t *in, int64_t s);

#endif
