/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_STATUS_H_INCLUDED_
#define _YIBAO_STATUS_H_INCLUDED_


#include "yibao_types.h"


/*
 * Status and metrics of the gateway: the outcome classes of a request,
 * the fixed tables that index the counters (transactions, latency
 * buckets, gateway error codes), the bounded table of failing clinics,
 * the window and quantile maths, and the two renderings of a snapshot:
 * a JSON document and the Prometheus text exposition format 0.0.4.
 *
 * The glue keeps the counters in shared memory as atomics and copies
 * them into a yibao_status_snapshot_t; everything here works on that
 * plain copy.  Times are passed in (seconds since the epoch).
 */


/* outcome classes of a request */

typedef enum {
    YIBAO_STATUS_OK = 0,             /* the platform answered infcode 0 */
    YIBAO_STATUS_PLATFORM_ERROR,     /* it answered another infcode */
    YIBAO_STATUS_REJECTED,           /* the gateway refused the request */
    YIBAO_STATUS_UPSTREAM_FAILURE,   /* no usable answer: not settled */
    YIBAO_STATUS_UNKNOWN_OUTCOME,    /* sent, no answer: may be settled */
    YIBAO_STATUS_NCLASSES
} yibao_status_class_e;


/* "ok", "platform_error", ...; never NULL ("unknown" when out of range) */
const char *yibao_status_class_name(int cls);


/*
 * What is known about one finished request.  gwerr is the gateway
 * error code (mappings/yibao_gwerr.h, 0 when none); infcode is valid
 * when infcode_known; forwarded is 1 when the request was sent to the
 * platform (an upstream was tried); http_status is the final status;
 * repeatable is 1 when the transaction's class (yibao_infno.h) cannot
 * leave an unknown outcome: a read, a computation, a replacement.
 */

typedef struct {
    int                   gwerr;
    int                   infcode_known;
    long                  infcode;
    int                   forwarded;
    int                   http_status;
    int                   repeatable;
} yibao_status_outcome_t;


/*
 * The class of an outcome:
 *
 *   gwerr 6001, 6003, 6004, 6005          upstream_failure
 *   gwerr 6002 of a repeatable one        upstream_failure
 *   gwerr 6002 and every other 6xxx+      unknown_outcome
 *   gwerr 1xxx-4xxx, 5002, 5003, 5004     rejected
 *   any other gwerr (5001, 5005)          unknown_outcome when
 *                                         forwarded, else rejected
 *   no gwerr, infcode 0                   ok
 *   no gwerr, another infcode             platform_error
 *   no gwerr, no infcode, status < 400    ok (a file download)
 *   no gwerr, no infcode, forwarded       upstream_failure for a
 *                                         repeatable one, else
 *                                         unknown_outcome
 *   otherwise                             rejected
 */
int yibao_status_classify(const yibao_status_outcome_t *o);


/*
 * Transactions: a fixed table of the known infnos and a last slot
 * "other" for every other one (and for requests refused before their
 * infno was read), so the counters stay bounded whatever callers send.
 */

#define YIBAO_STATUS_INFNOS   46                /* including "other" */
#define YIBAO_STATUS_OTHER    (YIBAO_STATUS_INFNOS - 1)

/* The slot of an infno, YIBAO_STATUS_OTHER when not in the table. */
int yibao_status_infno_slot(const unsigned char *p, size_t len);

/* "1101", ..., "other"; never NULL */
const char *yibao_status_infno_name(int slot);


/*
 * Latency histograms: upper bounds in milliseconds (a duration equal
 * to a bound falls into that bucket, as Prometheus' "le"), the last
 * bucket unbounded.
 */

#define YIBAO_STATUS_BUCKETS  12

extern const unsigned  yibao_status_bucket_ms[YIBAO_STATUS_BUCKETS - 1];

/* The bucket of a duration in milliseconds. */
int yibao_status_bucket(uint64_t ms);

/*
 * Estimates the q-quantile (q in thousandths: 500 for the median, 950)
 * in milliseconds from bucket counts b[YIBAO_STATUS_BUCKETS], by linear
 * interpolation within the bucket, as Prometheus' histogram_quantile()
 * does; a quantile in the unbounded bucket is reported as the largest
 * bound.  Returns -1 when the histogram is empty.
 */
int64_t yibao_status_quantile(const uint64_t *b, unsigned q);


/*
 * Gateway error codes counted by code: slot 0 is "other" (no code, or
 * one outside the ranges), then 200 slots per thousand (1000-1199,
 * 2000-2199, ... 6000-6199), so codes added later are counted without
 * a change here.
 */

#define YIBAO_STATUS_REASONS  (1 + 6 * 200)

int yibao_status_reason_slot(int gwerr);

/* The code of a slot, 0 for slot 0. */
int yibao_status_reason_code(int slot);

/*
 * The name of a code for labels: the gwerr table's name ("auth_replay"),
 * "yb<code>" for a code the table does not know, "other" for 0.  buf
 * must hold 16 bytes; the result is NUL-terminated, buf or static.
 */
const char *yibao_status_reason_name(int code, char *buf);


/*
 * Rate-limit decisions and answer-cache lookups, counted from each
 * request's results.  "local": decided by this node's share in shared
 * memory because the store was down; "error": no decision could be
 * made; "stale": an expired answer served while the platform failed.
 */

typedef enum {
    YIBAO_STATUS_EV_RATELIMIT_PASSED = 0,
    YIBAO_STATUS_EV_RATELIMIT_REJECTED,
    YIBAO_STATUS_EV_RATELIMIT_DRY_RUN,
    YIBAO_STATUS_EV_RATELIMIT_BYPASSED,
    YIBAO_STATUS_EV_RATELIMIT_LOCAL,
    YIBAO_STATUS_EV_RATELIMIT_ERROR,
    YIBAO_STATUS_EV_CACHE_HIT,
    YIBAO_STATUS_EV_CACHE_MISS,
    YIBAO_STATUS_EV_CACHE_EXPIRED,
    YIBAO_STATUS_EV_CACHE_STALE,
    YIBAO_STATUS_EV_CACHE_BYPASS,
    YIBAO_STATUS_EVENTS
} yibao_status_event_e;


/*
 * The journal's store (Redis) and what it remembers: money-moving
 * msgids it did not know while it could not vouch for its records
 * (adapters/yibao_forget.h), checked with the platform (5203) before
 * being sent, by what the check found.
 */

typedef enum {
    YIBAO_STATUS_CHECK_SETTLED = 0,     /* settled: answered, not sent */
    YIBAO_STATUS_CHECK_NOT_SETTLED,     /* nothing stands: sent */
    YIBAO_STATUS_CHECK_OTHER,           /* another settlement: refused */
    YIBAO_STATUS_CHECK_FAILED,          /* no answer: refused */
    YIBAO_STATUS_CHECKS
} yibao_status_check_e;


/* The state store behind nonces, rate limits and the cache. */

typedef enum {
    YIBAO_STATUS_STORE_EMBEDDED = 0,    /* the nginx shared zone */
    YIBAO_STATUS_STORE_REDIS
} yibao_status_store_e;


/* Cumulative counters of one transaction. */

typedef struct {
    uint64_t              requests[YIBAO_STATUS_NCLASSES];
    uint64_t              total[YIBAO_STATUS_BUCKETS];
    uint64_t              total_ms;
    uint64_t              upstream[YIBAO_STATUS_BUCKETS];
    uint64_t              upstream_ms;
} yibao_status_counts_t;


/*
 * One minute of one transaction.  forwarded counts the requests sent to
 * the platform (not those answered from the cache, nor those refused).
 */

typedef struct {
    uint64_t              forwarded;
    uint64_t              requests[YIBAO_STATUS_NCLASSES];
    uint64_t              latency[YIBAO_STATUS_BUCKETS];
    uint64_t              latency_ms;
} yibao_status_slice_t;


/*
 * One minute of the ring.  minute is the minute since the epoch this
 * entry holds (time / 60), 0 when it holds nothing.
 */

#define YIBAO_STATUS_MINUTES  60

typedef struct {
    uint64_t              minute;
    yibao_status_slice_t  infno[YIBAO_STATUS_INFNOS];
} yibao_status_minute_t;


/*
 * Failing clinics: a small table, updated only when a request fails,
 * so its cardinality is bounded whatever the number of clinics.
 */

/* the states of a key (yibao_key_state_e of yibao_registry.h) */
#define YIBAO_STATUS_KEY_STATES   5

#define YIBAO_STATUS_CLINICS      64
#define YIBAO_STATUS_CLINIC_LEN   24
#define YIBAO_STATUS_ERRORS       4

typedef struct {
    int64_t               time;
    int32_t               gwerr;
    int32_t               infcode;
    uint8_t               cls;
    uint8_t               infcode_known;
    uint8_t               infno_len;
    char                  infno[5];
} yibao_status_error_t;


typedef struct {
    uint8_t               code_len;
    unsigned char         code[YIBAO_STATUS_CLINIC_LEN];
    uint64_t              failures;
    uint64_t              classes[YIBAO_STATUS_NCLASSES];
    int64_t               first;
    int64_t               last;
    uint32_t              nerrors;       /* errors[] in use */
    uint32_t              next;          /* the next errors[] to write */
    yibao_status_error_t  errors[YIBAO_STATUS_ERRORS];
} yibao_status_clinic_t;


typedef struct {
    uint32_t              n;
    uint64_t              evicted;
    yibao_status_clinic_t clinic[YIBAO_STATUS_CLINICS];
} yibao_status_clinics_t;


typedef struct {
    const unsigned char  *code;
    size_t                code_len;
    const unsigned char  *infno;
    size_t                infno_len;
    int                   cls;
    int                   gwerr;
    int                   infcode_known;
    long                  infcode;
    int64_t               now;
} yibao_status_failure_t;


/*
 * Records a failure of a clinic: its entry is found by code, or made,
 * evicting the entry whose last failure is the oldest when the table
 * is full.  The newest YIBAO_STATUS_ERRORS errors of each clinic are
 * kept.  A code longer than YIBAO_STATUS_CLINIC_LEN or empty, and an
 * infno that is not 4 digits and an optional letter, are not stored
 * as they are: the failure is ignored, the infno becomes "".  The
 * caller serializes calls (the glue holds the zone mutex).
 */
void yibao_status_clinics_record(yibao_status_clinics_t *t,
    const yibao_status_failure_t *f);


/*
 * The fee-line audit's findings (docs/audit.md), counted from each
 * request's $yibao_audit (its findings as the transaction log has
 * them): by rule, mode and severity, and by clinic.  The label sets are
 * bounded: a gateway rule is an id of the configured rules file (the
 * first YIBAO_STATUS_AUDIT_RULES - 1 ids seen get a row, any later one
 * is counted as rule "other"); the platform's findings (3101/3102) fold
 * into one rule per configured platform audit, named by its infno, with
 * source "platform": the platform's own rule ids are outside text and
 * never a label.  Modes are shadow, warn and enforce; severities 1, 2,
 * 3 and "other".  The clinics with the most findings are kept in a
 * table of YIBAO_STATUS_AUDIT_CLINICS (a new clinic replaces the one
 * with the fewest findings when it is full).  The glue serializes
 * calls (the zone mutex).
 */

#define YIBAO_STATUS_AUDIT_RULES     64
#define YIBAO_STATUS_AUDIT_ID_LEN    20
#define YIBAO_STATUS_AUDIT_MODES     3
#define YIBAO_STATUS_AUDIT_SEVS      4
#define YIBAO_STATUS_AUDIT_CLINICS   64
#define YIBAO_STATUS_AUDIT_TOP       10

typedef struct {
    uint8_t               id_len;
    uint8_t               platform;     /* id is the platform's infno */
    char                  id[YIBAO_STATUS_AUDIT_ID_LEN];
    uint64_t              total;
    uint64_t              findings[YIBAO_STATUS_AUDIT_MODES]
                                  [YIBAO_STATUS_AUDIT_SEVS];
} yibao_status_audit_rule_t;


typedef struct {
    uint8_t               code_len;
    unsigned char         code[YIBAO_STATUS_CLINIC_LEN];
    uint64_t              findings;
    uint64_t              transactions;  /* with at least one finding */
    int64_t               last;
} yibao_status_audit_clinic_t;


typedef struct {
    uint32_t                     nrules;
    uint32_t                     nclinics;
    uint64_t                     evicted;
    uint64_t                     misses[2];     /* timeout, failed */
    yibao_status_audit_rule_t    rule[YIBAO_STATUS_AUDIT_RULES];
    yibao_status_audit_clinic_t  clinic[YIBAO_STATUS_AUDIT_CLINICS];
} yibao_status_audit_t;


/*
 * Counts one request's findings: log is its $yibao_audit (words
 * "rule:mode:sev:amount[+ack]" of the gateway's rules,
 * "infno:rule:mode:sev:amount" of the platform's, "infno:timeout" and
 * "infno:failed" of a platform audit missed); clinic its clinic code
 * (may be empty: no clinic row).  A word of another shape, a gateway
 * rule id that is not one of a rules file (1 to 20 of A-Z a-z 0-9 _ -)
 * or a platform word whose infno is not 4 digits is not counted.
 */
void yibao_status_audit_record(yibao_status_audit_t *t,
    const unsigned char *log, size_t len, const unsigned char *clinic,
    size_t clinic_len, int64_t now);


/*
 * 记账 records (yibao_offline.h) by state: all of them, and per
 * contracting entity (a township hospital and its villages) for at most
 * YIBAO_STATUS_OFFLINE_ENTITIES entities, those whose oldest open
 * record (still to be settled) is the oldest; entities counts them all
 * (the operators' API's ?summary=1 lists every one).  Times are seconds
 * since the epoch, 0: no open record.  No personal data: codes and
 * counts.
 */

#define YIBAO_STATUS_OFFLINE_STATES    8   /* YIBAO_OFFLINE_STATES */
#define YIBAO_STATUS_OFFLINE_ENTITIES  32

typedef struct {
    char                  entity[YIBAO_STATUS_CLINIC_LEN];  /* with NUL */
    uint64_t              states[YIBAO_STATUS_OFFLINE_STATES];
    uint64_t              unverified;    /* failing their check */
    int64_t               oldest_open;
} yibao_status_offline_entity_t;


typedef struct {
    int                   configured;    /* yibao_offline */
    uint64_t              states[YIBAO_STATUS_OFFLINE_STATES];
    uint64_t              unverified;
    int64_t               oldest_open;
    uint64_t              entities;
    uint32_t              n;             /* entity[] in use */
    yibao_status_offline_entity_t  entity[YIBAO_STATUS_OFFLINE_ENTITIES];
} yibao_status_offline_t;


/*
 * One record of entity e (zeroed by the caller before its first, its
 * entity code set): its state (an unknown one is not counted), when it
 * was recorded (ms since the epoch), whether it passed its check.
 */
void yibao_status_offline_count(yibao_status_offline_entity_t *e,
    const char *state, uint64_t recorded_ms, int verified);

/*
 * Entity e counted whole: added to t's totals, and listed if t has
 * room or if its oldest open record is older than the newest of those
 * listed (which it replaces).
 */
void yibao_status_offline_add(yibao_status_offline_t *t,
    const yibao_status_offline_entity_t *e);


/* Everything rendered, copied out of shared memory by the glue. */

typedef struct {
    int64_t               now;           /* rendering time */
    int64_t               started;       /* the zone was created */
    int64_t               loaded;        /* the configuration was read */
    uint64_t              reloads;

    int64_t               last_success;  /* 0: never */
    int64_t               last_failure;

    int                   store;         /* yibao_status_store_e */
    int                   store_up;
    int                   store_degraded;
    uint64_t              store_errors;

    uint64_t              events[YIBAO_STATUS_EVENTS];

    /*
     * the journal's store: durable 1 (an AOF or RDB snapshots), 0, -1
     * not known; the loss it cannot vouch past and the end of that
     * window (ms since the epoch, 0: none); losses found; checks
     */
    int                   journal_durable;
    int64_t               journal_lost;
    int64_t               journal_until;
    uint64_t              journal_losses;
    uint64_t              journal_checks[YIBAO_STATUS_CHECKS];

    uint64_t              mapping_rows;
    uint64_t              mapping_bytes;
    uint64_t              rules;
    uint64_t              clinics_registered;
    uint64_t              callers;
    uint64_t              keys;

    /* the keys by state, in the order of yibao_key_state_e (never
     * used, activated, expiring, expired, pending) */
    uint64_t              key_states[YIBAO_STATUS_KEY_STATES];

    yibao_status_offline_t  offline;

    yibao_status_counts_t infno[YIBAO_STATUS_INFNOS];

    /* by gateway error code: rejected requests, and the upstream
     * failures and unknown outcomes */
    uint64_t              rejections[YIBAO_STATUS_REASONS];
    uint64_t              upstream_errors[YIBAO_STATUS_REASONS];

    yibao_status_minute_t minutes[YIBAO_STATUS_MINUTES];

    yibao_status_clinics_t  clinics;

    /* per clinics.clinic[i], from the registry; len 0 when unknown */
    yibao_str_t           clinic_name[YIBAO_STATUS_CLINICS];
    yibao_str_t           clinic_entity[YIBAO_STATUS_CLINICS];

    yibao_status_audit_t  audit;

    /* per audit.clinic[i], from the registry; len 0 when unknown */
    yibao_str_t           audit_clinic_name[YIBAO_STATUS_AUDIT_CLINICS];
    yibao_str_t           audit_clinic_entity[YIBAO_STATUS_AUDIT_CLINICS];

    unsigned              top;           /* clinics listed in JSON */
} yibao_status_snapshot_t;


/*
 * Sums over the window of the last w minutes ending at now (seconds):
 * the whole minutes inside it, plus the oldest minute it cuts weighted
 * by the part it covers, so the window slides smoothly.  slot is a
 * transaction, or -1 for all of them.  The results are in sixtieths
 * of a request (divide by 60 and round for a count); they are ratios'
 * numerators and denominators as they are.
 */

typedef struct {
    uint64_t              forwarded;
    uint64_t              requests[YIBAO_STATUS_NCLASSES];
    uint64_t              latency[YIBAO_STATUS_BUCKETS];
} yibao_status_window_t;

void yibao_status_window(const yibao_status_snapshot_t *s, int slot,
    unsigned w, yibao_status_window_t *out);


/*
 * p[0..len) as a quoted JSON string (quotes, backslashes, control
 * characters and "<", ">", "&" escaped) or as a quoted Prometheus label
 * value (backslash, quote and newline escaped), written to out unless
 * it is NULL.  Returns the length, so a first call with out NULL sizes
 * out.
 */
size_t yibao_status_json_string(const unsigned char *p, size_t len,
    unsigned char *out);
size_t yibao_status_label_value(const unsigned char *p, size_t len,
    unsigned char *out);


/*
 * The JSON document (docs/status.md) and the Prometheus text format:
 * the exact length is computed first, then one allocation from a is
 * filled.  YIBAO_OK with out set, or YIBAO_ERR_NOMEM.
 */
int yibao_status_render_json(const yibao_status_snapshot_t *s,
    yibao_alloc_t *a, yibao_str_t *out);
int yibao_status_render_prometheus(const yibao_status_snapshot_t *s,
    yibao_alloc_t *a, yibao_str_t *out);


#endif /* _YIBAO_STATUS_H_INCLUDED_ */
