/* Processing errors and the dead-letter queue [KIP-1033, KIP-1034]: what a
 * task does with a record a processor, DSL step, sink or punctuator failed
 * on, and the dead-letter records of dropped records.
 *
 * A traversal keeps its first error in the task (`pending`, with the node
 * that raised it and whether it is a send the collector refused; see
 * task_impl_int.h). Back at its entry point (a record, or one punctuator),
 * the task hands that error to the processing-error handler: the custom
 * one its driver gave (`env.on_error`), else the one
 * processing.exception.handler names. FAIL leaves the error pending, so
 * the entry point fails as before; CONTINUE forgets it: a record is
 * counted as dropped and, with errors.dead.letter.queue.topic.name set,
 * written to that topic through the task's collector (the same producer
 * as its output, so under exactly_once_v2 in the same transaction). What
 * the record did before its error stays done.
 *
 * The error context is built on the caller's stack over borrowed bytes:
 * no copy is made of a record that may be dropped. */
#include "task_impl_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../common/config_int.h"

/* --- the error context --------------------------------------------------- */

const char *ks_error_context_topic(const ks_error_context_t *ctx) {
        return ctx ? ctx->topic : NULL;
}

int32_t ks_error_context_partition(const ks_error_context_t *ctx) {
        return ctx ? ctx->partition : -1;
}

int64_t ks_error_context_offset(const ks_error_context_t *ctx) {
        return ctx ? ctx->offset : -1;
}

int64_t ks_error_context_timestamp(const ks_error_context_t *ctx) {
        return ctx ? ctx->timestamp : -1;
}

const char *ks_error_context_processor(const ks_error_context_t *ctx) {
        return ctx ? ctx->processor : NULL;
}

const char *ks_error_context_task_id(const ks_error_context_t *ctx) {
        return ctx ? ctx->task_id : NULL;
}

const void *ks_error_context_key(const ks_error_context_t *ctx, size_t *sizep) {
        if (sizep)
                *sizep = ctx && ctx->key ? ctx->klen : 0;
        return ctx ? ctx->key : NULL;
}

const void *ks_error_context_value(const ks_error_context_t *ctx,
                                   size_t *sizep) {
        if (sizep)
                *sizep = ctx && ctx->value ? ctx->vlen : 0;
        return ctx ? ctx->value : NULL;
}

const ks_headers_t *ks_error_context_headers(const ks_error_context_t *ctx) {
        return ctx ? ctx->headers : NULL;
}

/* --- dead-letter records -------------------------------------------------- */

static size_t bounded_len(const char *s, size_t max) {
        size_t n = 0;
        while (n < max && s[n])
                n++;
        return n;
}

ks_headers_t *ks__dlq_headers(const ks_headers_t *orig, ks_err_t code,
                              const char *message, const char *topic,
                              int32_t partition, int64_t offset,
                              const char *processor) {
        ks_headers_t *h = ks_headers_new();
        if (!h)
                return NULL;
        size_t prefix = strlen(KS_DLQ_HEADER_PREFIX);
        ks_err_t err = KS_ERR_NO_ERROR;
        for (size_t i = 0; !err && i < ks_headers_count(orig); i++) {
                const char *name;
                const void *v;
                size_t vl;
                if (ks_headers_get_at(orig, i, &name, &v, &vl) ||
                    !strncmp(name, KS_DLQ_HEADER_PREFIX, prefix))
                        continue;
                err = ks_headers_add(h, name, v, v ? vl : 0);
        }
        char part[16], off[24];
        snprintf(part, sizeof(part), "%" PRId32, partition);
        snprintf(off, sizeof(off), "%" PRId64, offset);
        const char *name = ks_err_name(code);
        if (!message)
                message = "";
        if (!topic)
                topic = "";
        if (!err)
                err = ks_headers_add(h, KS_DLQ_HEADER_EXCEPTION, name,
                                     strlen(name));
        if (!err)
                err = ks_headers_add(h, KS_DLQ_HEADER_MESSAGE, message,
                                     bounded_len(message, KS_DLQ_MESSAGE_MAX));
        if (!err)
                err = ks_headers_add(h, KS_DLQ_HEADER_TOPIC, topic,
                                     bounded_len(topic, KS_DLQ_NAME_MAX));
        if (!err)
                err = ks_headers_add(h, KS_DLQ_HEADER_PARTITION, part,
                                     strlen(part));
        if (!err)
                err = ks_headers_add(h, KS_DLQ_HEADER_OFFSET, off, strlen(off));
        if (!err && processor)
                err = ks_headers_add(h, KS_DLQ_HEADER_PROCESSOR, processor,
                                     bounded_len(processor, KS_DLQ_NAME_MAX));
        if (err) {
                ks_headers_destroy(h);
                return NULL;
        }
        return h;
}

ks_err_t ks__task_dead_letter(ks__task_t *t, const ks_error_context_t *ec,
                              ks_err_t code, const char *message) {
        if (!t->dlq_topic)
                return KS_ERR_NO_ERROR;
        ks_headers_t *h =
                ks__dlq_headers(ec->headers, code, message, ec->topic,
                                ec->partition, ec->offset, ec->processor);
        if (!h)
                return ks__task_pend(t, KS_ERR_NO_MEMORY,
                                     "out of memory writing a record of %s to "
                                     "the dead-letter queue %s",
                                     ec->topic ? ec->topic : "-", t->dlq_topic);
        ks_error_t *e = NULL;
        /* No origin: the dead-letter queue is nobody's input here. */
        ks_err_t err = t->env.collector.send(
                t->env.collector.opaque, t->dlq_topic, -1, ec->key, ec->klen,
                ec->value, ec->vlen, ec->timestamp >= 0 ? ec->timestamp : 0, h,
                NULL, &e);
        ks_headers_destroy(h);
        if (err) {
                ks__task_pend(t, err,
                              "cannot write the record of %s [%" PRId32
                              "] at offset %" PRId64
                              " to the dead-letter queue %s "
                              "(errors.dead.letter.queue.topic.name): %s",
                              ec->topic ? ec->topic : "-", ec->partition,
                              ec->offset, t->dlq_topic,
                              e ? ks_error_message(e) : ks_err2str(err));
                ks_error_destroy(e);
                return err;
        }
        t->dlq_records++;
        return KS_ERR_NO_ERROR;
}

/* --- the handler ---------------------------------------------------------- */

void ks__task_pend_infra(ks__task_t *t) {
        if (t->pending && !t->pending_infra) {
                ks__log(t->env.conf, KS_LOG_WARNING, "PROCESS",
                        "%s; then a send failed, which fails the task",
                        ks_error_message(t->pending));
                ks_error_destroy(t->pending);
                t->pending = NULL;
                t->pending_node = NULL;
        }
        if (!t->pending)
                t->pending_infra = 1;
}

/* Whether the pending error is the record's (or punctuator's) doing, which
 * the handler may let pass; a refused send or exhausted memory is not. */
static int handler_may_decide(const ks__task_t *t) {
        ks_err_t code = ks_error_code(t->pending);
        return !t->pending_infra && code != KS_ERR_NO_MEMORY &&
               code != KS_ERR_FATAL;
}

ks_err_t ks__task_on_error(ks__task_t *t, ks_error_context_t *ec,
                           ks_err_t err) {
        if (!err || !t->pending || !handler_may_decide(t))
                return err;
        ec->processor = t->pending_node;
        const ks__perr_handler_t *custom =
                t->env.on_error && t->env.on_error->cb ? t->env.on_error : NULL;
        int cont;
        if (custom)
                cont = custom->cb(custom->opaque, ec, t->pending) ==
                       KS_HANDLER_CONTINUE;
        else
                cont = t->proc_handler == KS_PROC_LOG_AND_CONTINUE;
        if (!cont)
                return err;
        ks_err_t code = ks_error_code(t->pending);
        ks__log(t->env.conf, KS_LOG_WARNING, "PROCESS", "%s; %s (%s)",
                ks_error_message(t->pending),
                ec->topic ? "dropping the record" : "going on",
                custom ? "the processing-error handler continued"
                       : "processing.exception.handler is log_and_continue");
        ks_error_t *e = t->pending;
        t->pending = NULL;
        t->pending_node = NULL;
        t->pending_infra = 0;
        err = KS_ERR_NO_ERROR;
        if (ec->topic) {
                t->dropped++;
                t->dropped_proc++;
                err = ks__task_dead_letter(t, ec, code, ks_error_message(e));
        }
        ks_error_destroy(e);
        return err;
}
