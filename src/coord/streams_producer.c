/* A stream thread's producer and its transactions (see
 * streams_producer_int.h). */
#include "streams_producer_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"

#define SPEC_KV_MAX 32

struct ks__sproducer_s {
        const ks_config_t *conf;
        ks__client_spec_t spec;
        char *strings[SPEC_KV_MAX]; /* the copied spec strings */
        const char *defaults[SPEC_KV_MAX], *fixed[SPEC_KV_MAX];
        rd_kafka_t *rk;
        ks__txn_state_t state;
        int64_t timeout_ms; /* each transactional call */
        int64_t aborts;     /* atomic: read by metrics */
        char why[512];      /* why the open transaction is BROKEN */
        int begun;          /* OPEN or BROKEN: the broker knows of it */
};

/* Legal transitions of the diagram in streams_producer_int.h. */
static int legal(ks__txn_state_t from, ks__txn_state_t to) {
        if (to == KS_TXN_FATAL)
                return from != KS_TXN_NONE;
        switch (from) {
        case KS_TXN_NONE:
                return 0;
        case KS_TXN_UNINIT:
                return to == KS_TXN_READY;
        case KS_TXN_READY:
                return to == KS_TXN_OPEN || to == KS_TXN_BROKEN;
        case KS_TXN_OPEN:
                return to == KS_TXN_READY || to == KS_TXN_BROKEN;
        case KS_TXN_BROKEN:
                return to == KS_TXN_READY;
        case KS_TXN_FATAL:
                return to == KS_TXN_UNINIT;
        }
        return 0;
}

static void set_state(ks__sproducer_t *p, ks__txn_state_t to) {
        assert(p->state == to || legal(p->state, to));
        if (p->state == KS_TXN_READY && to == KS_TXN_OPEN)
                p->begun = 1;
        else if (to != KS_TXN_OPEN && to != KS_TXN_BROKEN)
                p->begun = 0;
        p->state = to;
}

static int copy_kv(ks__sproducer_t *p, size_t *n, const char *const *in,
                   const char **out) {
        size_t k = 0;
        for (; in && in[k]; k += 2) {
                if (*n + 2 > SPEC_KV_MAX || k + 3 > SPEC_KV_MAX)
                        return -1;
                out[k] = p->strings[(*n)++] = ks__strdup(in[k]);
                out[k + 1] = p->strings[(*n)++] = ks__strdup(in[k + 1]);
                if (!out[k] || (in[k + 1] && !out[k + 1]))
                        return -1;
        }
        out[k] = NULL;
        return 0;
}

ks__sproducer_t *ks__sproducer_new(const ks_config_t *conf,
                                   const ks__client_spec_t *spec, int eos,
                                   int64_t timeout_ms, ks_error_t **errp) {
        ks__sproducer_t *p = calloc(1, sizeof(*p));
        size_t n = 0;
        if (!p || copy_kv(p, &n, spec->defaults, p->defaults) ||
            copy_kv(p, &n, spec->fixed, p->fixed) ||
            !(p->strings[n++] = ks__strdup(spec->client_id))) {
                ks__sproducer_destroy(p);
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        p->conf = conf;
        p->spec = *spec;
        p->spec.client_id = p->strings[n - 1];
        p->spec.defaults = p->defaults;
        p->spec.fixed = p->fixed;
        p->timeout_ms = timeout_ms;
        p->state = eos ? KS_TXN_UNINIT : KS_TXN_NONE;
        if (!(p->rk = ks__client_new(conf, &p->spec, errp))) {
                ks__sproducer_destroy(p);
                return NULL;
        }
        return p;
}

void ks__sproducer_destroy(ks__sproducer_t *p) {
        if (!p)
                return;
        if (p->rk)
                rd_kafka_destroy(p->rk);
        for (size_t i = 0; i < SPEC_KV_MAX; i++)
                free(p->strings[i]);
        free(p);
}

rd_kafka_t *ks__sproducer_rk(const ks__sproducer_t *p) {
        return p->rk;
}

ks__txn_state_t ks__sproducer_state(const ks__sproducer_t *p) {
        return p->state;
}

int64_t ks__sproducer_aborts(const ks__sproducer_t *p) {
        return __atomic_load_n(&p->aborts, __ATOMIC_RELAXED);
}

ks_err_t ks__sproducer_init(ks__sproducer_t *p, ks_error_t **errp) {
        if (p->state != KS_TXN_UNINIT)
                return KS_ERR_NO_ERROR;
        rd_kafka_error_t *ke =
                rd_kafka_init_transactions(p->rk, (int)p->timeout_ms);
        if (!ke) {
                set_state(p, KS_TXN_READY);
                return KS_ERR_NO_ERROR;
        }
        ks_err_t err = ks__error_set(errp, KS_ERR_KAFKA,
                                     "initializing transactions: %s",
                                     rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return err;
}

int ks__sproducer_in_txn(const ks__sproducer_t *p) {
        return p->state == KS_TXN_OPEN || p->state == KS_TXN_BROKEN;
}

int ks__sproducer_broken(const ks__sproducer_t *p) {
        return p->state == KS_TXN_BROKEN;
}

void ks__sproducer_break(ks__sproducer_t *p, const char *why) {
        if (p->state != KS_TXN_OPEN && p->state != KS_TXN_READY)
                return;
        snprintf(p->why, sizeof(p->why), "%s", why);
        set_state(p, KS_TXN_BROKEN);
}

int ks__sproducer_prepare_send(ks__sproducer_t *p) {
        if (p->state == KS_TXN_NONE || p->state == KS_TXN_OPEN)
                return 0;
        if (p->state != KS_TXN_READY)
                return 1;
        rd_kafka_error_t *ke = rd_kafka_begin_transaction(p->rk);
        if (!ke) {
                set_state(p, KS_TXN_OPEN);
                return 0;
        }
        /* The producer is in an error state (fenced, ...): the thread
         * aborts and recovers. */
        char why[512];
        snprintf(why, sizeof(why), "cannot begin a transaction: %s",
                 rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        ks__sproducer_break(p, why);
        return 1;
}

/* Fatal producer errors that a new producer would meet again: the
 * configuration or the cluster's permissions have to change. */
static int permanent(rd_kafka_resp_err_t e) {
        switch (e) {
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return 1;
        default:
                return 0;
        }
}

static int group_error(rd_kafka_resp_err_t e) {
        return e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
               e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID ||
               e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
}

/* Throw the producer away and make a new one, whose init aborts what the
 * old one left open. */
static ks_err_t replace(ks__sproducer_t *p, ks_error_t **errp) {
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 5000); /* serve the delivery reports */
        /* The old client stays until a new one exists: the handle is
         * never NULL, and a failed replacement can be tried again. */
        rd_kafka_t *rk = ks__client_new(p->conf, &p->spec, errp);
        if (!rk)
                return ks_error_code(errp ? *errp : NULL) ? ks_error_code(*errp)
                                                          : KS_ERR_KAFKA;
        rd_kafka_destroy(p->rk);
        p->rk = rk;
        set_state(p, KS_TXN_UNINIT);
        return ks__sproducer_init(p, errp);
}

/* The transaction failed (@p what, error @p code): abort it, or replace
 * the producer when it is in a fatal state. A fatal state is what a
 * zombie meets: a newer instance owns the transactional id (fenced), or
 * the coordinator timed the transaction out and bumped the epoch while the
 * thread was stalled, so that the abort itself is refused. */
static ks__txn_outcome_t recover(ks__sproducer_t *p, const char *what,
                                 rd_kafka_resp_err_t code, int fatal,
                                 const char *msg, char *why, size_t why_size,
                                 ks_error_t **errp) {
        __atomic_add_fetch(&p->aborts, 1, __ATOMIC_RELAXED);
        char cause[1024];
        snprintf(cause, sizeof(cause), "%s: %s", what, msg);
        if (!fatal && p->begun) {
                rd_kafka_error_t *ke =
                        rd_kafka_abort_transaction(p->rk, (int)p->timeout_ms);
                if (ke) {
                        fatal = 1;
                        size_t l = strlen(cause);
                        snprintf(cause + l, sizeof(cause) - l,
                                 "; abort failed: %s",
                                 rd_kafka_error_string(ke));
                        rd_kafka_error_destroy(ke);
                }
        }
        if (!fatal) {
                if (p->state != KS_TXN_READY)
                        set_state(p, KS_TXN_READY);
                /* Serve the reports of the aborted records. */
                rd_kafka_flush(p->rk, (int)p->timeout_ms);
                snprintf(why, why_size, "transaction aborted (%s)", cause);
                return group_error(code) ? KS_TXN_MIGRATED : KS_TXN_ABORTED;
        }
        set_state(p, KS_TXN_FATAL);
        char fbuf[256] = "";
        rd_kafka_resp_err_t fe =
                rd_kafka_fatal_error(p->rk, fbuf, sizeof(fbuf));
        if (permanent(fe ? fe : code)) {
                ks__error_set(errp, KS_ERR_KAFKA,
                              "fatal transactional error (%s): %s", fbuf,
                              cause);
                return KS_TXN_FAILED;
        }
        int fenced = fe == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
                     fe == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
                     fe == RD_KAFKA_RESP_ERR__FENCED ||
                     code == RD_KAFKA_RESP_ERR__FENCED;
        snprintf(why, why_size,
                 "%s (%s%s%s): its transaction is void; the "
                 "producer is replaced",
                 fenced ? "producer fenced" : "producer in a fatal state",
                 cause, *fbuf ? "; " : "", fbuf);
        if (replace(p, errp))
                return KS_TXN_FAILED;
        return KS_TXN_REPLACED;
}

static ks__txn_outcome_t recover_ke(ks__sproducer_t *p, const char *what,
                                    rd_kafka_error_t *ke, char *why,
                                    size_t why_size, ks_error_t **errp) {
        rd_kafka_resp_err_t code = rd_kafka_error_code(ke);
        int fatal = rd_kafka_error_is_fatal(ke);
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return recover(p, what, code, fatal, msg, why, why_size, errp);
}

/* The producer was left unusable (FATAL: an abort refused while closing
 * tasks; UNINIT: a replacement whose init failed). Every send since was
 * dropped, so nothing may count as committed: make it usable again and
 * report the transaction void. */
static ks__txn_outcome_t renew(ks__sproducer_t *p, char *why, size_t why_size,
                               ks_error_t **errp) {
        snprintf(why, why_size,
                 "the producer was unusable (%s): its sends since are void; "
                 "the producer is replaced",
                 *p->why ? p->why : "not initialized");
        if (p->state == KS_TXN_FATAL)
                return replace(p, errp) ? KS_TXN_FAILED : KS_TXN_REPLACED;
        return ks__sproducer_init(p, errp) ? KS_TXN_FAILED : KS_TXN_REPLACED;
}

ks__txn_outcome_t ks__sproducer_abort(ks__sproducer_t *p, const char *why,
                                      char *why_out, size_t why_size,
                                      ks_error_t **errp) {
        if (p->state == KS_TXN_FATAL || p->state == KS_TXN_UNINIT)
                return renew(p, why_out, why_size, errp);
        char fbuf[256] = "";
        rd_kafka_resp_err_t fe =
                rd_kafka_fatal_error(p->rk, fbuf, sizeof(fbuf));
        return recover(p, "processing", fe ? fe : RD_KAFKA_RESP_ERR__STATE,
                       fe != 0, p->state == KS_TXN_BROKEN ? p->why : why,
                       why_out, why_size, errp);
}

ks__txn_outcome_t ks__sproducer_commit(ks__sproducer_t *p,
                                       rd_kafka_topic_partition_list_t *offsets,
                                       rd_kafka_consumer_group_metadata_t *cgmd,
                                       int64_t deadline, char *why,
                                       size_t why_size, ks_error_t **errp) {
        if (p->state == KS_TXN_BROKEN)
                return ks__sproducer_abort(p, p->why, why, why_size, errp);
        if (p->state == KS_TXN_FATAL || p->state == KS_TXN_UNINIT)
                return renew(p, why, why_size, errp);
        rd_kafka_error_t *ke = NULL;
        if (p->state == KS_TXN_READY && offsets->cnt) {
                if ((ke = rd_kafka_begin_transaction(p->rk)))
                        return recover_ke(p, "beginning a transaction", ke, why,
                                          why_size, errp);
                set_state(p, KS_TXN_OPEN);
        }
        if (p->state != KS_TXN_OPEN)
                return KS_TXN_COMMITTED; /* nothing sent, nothing to commit */
        if (offsets->cnt) {
                do {
                        if (ke)
                                rd_kafka_error_destroy(ke);
                        ke = rd_kafka_send_offsets_to_transaction(
                                p->rk, offsets, cgmd, (int)p->timeout_ms);
                } while (ke && rd_kafka_error_is_retriable(ke) &&
                         ks__now_ms() < deadline);
                if (ke)
                        return recover_ke(p, "sending the offsets", ke, why,
                                          why_size, errp);
        }
        do {
                if (ke)
                        rd_kafka_error_destroy(ke);
                ke = rd_kafka_commit_transaction(p->rk, (int)p->timeout_ms);
        } while (ke && rd_kafka_error_is_retriable(ke) &&
                 ks__now_ms() < deadline);
        if (ke)
                return recover_ke(p, "committing the transaction", ke, why,
                                  why_size, errp);
        set_state(p, KS_TXN_READY);
        return KS_TXN_COMMITTED;
}

void ks__sproducer_abort_quietly(ks__sproducer_t *p) {
        if (!ks__sproducer_in_txn(p))
                return;
        if (!p->begun) {
                set_state(p, KS_TXN_READY);
                return;
        }
        /* The transaction is void whether this abort or the coordinator
         * (timeout, fencing) ends it. */
        __atomic_add_fetch(&p->aborts, 1, __ATOMIC_RELAXED);
        rd_kafka_error_t *ke =
                rd_kafka_abort_transaction(p->rk, (int)p->timeout_ms);
        if (ke) {
                snprintf(p->why, sizeof(p->why), "abort refused: %s",
                         rd_kafka_error_string(ke));
                rd_kafka_error_destroy(ke);
        }
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 5000);
        set_state(p, ke ? KS_TXN_FATAL : KS_TXN_READY);
}
