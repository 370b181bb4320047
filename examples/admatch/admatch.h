/* Ad matching: impressions joined with clicks within an hour of event
 * time, clicks deduplicated first, and every impression without a click
 * reported once its hour (plus grace) is over. The topology, the input
 * generator and the expected output, shared by the example program and
 * the failover test. */
#ifndef ADMATCH_H
#define ADMATCH_H

#include <kstreams/kstreams.h>
#include <stddef.h>
#include <stdint.h>

#define ADMATCH_WINDOW_MS 3600000 /* a click counts within an hour */
#define ADMATCH_GRACE_MS  600000  /* records up to 10 min out of order */
#define ADMATCH_DEDUP_MS  600000  /* a click resent within 10 min is one */

/**
 * The topology:
 *   impressions (key impression id, JSON value with "imp", "campaign" and
 *     "time")
 *   clicks (key impression id, JSON value with "click", "imp" and "time")
 *     -> deduplicate by click id ("click") within 10 min
 *   (records without those fields, or with escapes or control characters
 *     in them, are dropped first)
 *   impressions join clicks (0 .. 1 h after the impression, grace 10 min)
 *     -> matched: {"imp","campaign","click","delay_ms"}
 *   impressions left join clicks, no click only
 *     -> unmatched: the impression, once its hour and grace are over.
 * Event time comes from the values' "time" field. NULL (with the error
 * on stderr) if it cannot be built.
 */
ks_topology_t *admatch_topology(const char *impressions, const char *clicks,
                                const char *matched, const char *unmatched);

/** One input record. */
typedef struct {
        int click;    /* 0: an impression, 1: a click */
        int imp;      /* the impression (its id, "imp-<n>") */
        int id;       /* the click's id ("clk-<n>"); 0 for impressions */
        int campaign; /* impressions: "c<n>" */
        int64_t ts;   /* event time */
} admatch_event_t;

/** Input of @p impressions impressions from @p start_ms, in event-time
 *  order (a resent click right after its first copy): about 60% clicked
 *  within the hour, 10% clicked too late, one click in five sent twice.
 *  Returns the number of events (at most 3 * impressions). */
size_t admatch_generate(admatch_event_t *ev, int impressions, int64_t start_ms,
                        unsigned seed);

/** The record of @p e: key and JSON value (NUL-terminated). */
void admatch_format(const admatch_event_t *e, char *key, size_t ksize,
                    char *value, size_t vsize);

/** The expected output of events @p ev: the matched value of each
 *  distinct click of an impression in its window (*matched, array of
 *  strings, count *nm), and each impression with none (*unmatched, *nu).
 *  Free with admatch_expected_free. */
void admatch_expected(const admatch_event_t *ev, size_t n, char ***matched,
                      size_t *nm, char ***unmatched, size_t *nu);
void admatch_expected_free(char **v, size_t n);

/** The key and the value of an impression or a click in JSON: the string
 *  field @p name of @p json (@p len bytes, untrusted, no NUL needed) into
 *  @p out (@p size bytes with its NUL), or the number field into *@p num;
 *  0 if found, -1 if not or if it is not what this program writes: a
 *  string longer than @p size - 1 or with escapes or control characters,
 *  a number that is negative, not an integer or above INT64_MAX. */
int admatch_json_str(const void *json, size_t len, const char *name, char *out,
                     size_t size);
int admatch_json_num(const void *json, size_t len, const char *name,
                     int64_t *num);

#endif
