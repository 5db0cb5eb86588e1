/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_COVERAGE_H_INCLUDED_
#define _YIBAO_COVERAGE_H_INCLUDED_


#include "yibao_types.h"


/*
 * Clinic coverage: what the gateway saw of every clinic in the registry
 * (last seen, last successful settlement, requests and failures per day
 * for today and the 7 days before, the most frequent errors), and the
 * reports made of it (docs/operations.md, "Clinic coverage").
 *
 * One yibao_cov_clinic_t per clinic, of a fixed size: the glue keeps
 * them in shared memory, one slot per clinic at the clinic's position
 * in the registry, and calls yibao_cov_record() under the slot's own
 * lock.  Everything here is pure: the time is passed in (seconds since
 * the epoch, and the offset of local time, so that a day is a local
 * day), nothing is allocated but through the allocator given.
 *
 * Days are numbered from the epoch in local time (yibao_cov_day());
 * day 0 (1970-01-01) marks an unused entry.
 */

#define YIBAO_COV_DAYS        8      /* today and the 7 before */
#define YIBAO_COV_WEEK        7      /* "this week": today and 6 before */
#define YIBAO_COV_ERRORS      4      /* error codes kept per clinic */
#define YIBAO_COV_CODE        24     /* a 22-char org code, NUL padded */


typedef struct {
    uint32_t              day;
    uint32_t              requests;
    uint32_t              failed;
    uint32_t              settled;       /* successful settlements */
} yibao_cov_day_t;


typedef struct {
    uint32_t              key;           /* yibao_cov_error_*(); 0: free */
    uint32_t              count;
    uint32_t              day;           /* the last day it was counted */
    uint32_t              first_day;
} yibao_cov_err_t;


/* 248 bytes; the glue adds its lock word: 256 bytes a clinic */

typedef struct {
    unsigned char         code[YIBAO_COV_CODE];
    int64_t               last_seen;
    int64_t               last_settled;
    int64_t               activated;     /* first successful 9001 or
                                            settlement; 0: never */
    int64_t               last_failed;
    yibao_cov_day_t       days[YIBAO_COV_DAYS];
    yibao_cov_err_t       errors[YIBAO_COV_ERRORS];
} yibao_cov_clinic_t;


/* what one finished request of the clinic was */

typedef struct {
    unsigned              failed:1;      /* any outcome but ok */
    unsigned              settled:1;     /* a settlement, answered ok */
    unsigned              activated:1;   /* 9001 or a settlement, ok */
    uint32_t              error;         /* the key of its error, or 0 */
} yibao_cov_event_t;


/* the local day of a time */
uint32_t yibao_cov_day(int64_t now, int64_t gmtoff);

/* an empty slot for the clinic's org code */
void yibao_cov_init(yibao_cov_clinic_t *c, const unsigned char *code,
    size_t len);

/* 1 when the slot is the clinic's (its code is code[0..len)) */
int yibao_cov_is(const yibao_cov_clinic_t *c, const unsigned char *code,
    size_t len);

/*
 * The event of a request: the infno (its first 4 digits decide: 2207,
 * 2304, 2102 settle; 9001 signs in), ok or not, and its error: a
 * gateway error code (YBnnnn: its number, e.g. 6002), or 0 with
 * failed set for a refusal by the platform (kept as "the platform
 * refused infno").
 */
void yibao_cov_event(yibao_cov_event_t *ev, const unsigned char *infno,
    size_t len, int ok, int gwerr);

/*
 * Counts one request at now in the day ring (an entry of an older day
 * is cleared first; a request of a day older than the entry's is
 * counted in the totals only) and in the errors kept: an error already
 * kept adds to its count; a new one takes a free entry, or one not
 * counted for 7 days, or else the one with the lowest count, whose
 * count it inherits plus one (the space-saving estimate).
 */
void yibao_cov_record(yibao_cov_clinic_t *c, int64_t now, int64_t gmtoff,
    const yibao_cov_event_t *ev);

/*
 * Adds src (the same clinic, e.g. restored from Redis) into dst: the
 * later of the times, the earlier activation, the day entries of the
 * same day summed (the newer day wins an entry), errors merged.
 */
void yibao_cov_merge(yibao_cov_clinic_t *dst, const yibao_cov_clinic_t *src);


/*
 * The value a node keeps of a clinic in Redis (a field of the hash
 * yibao:coverage:<node>, named by the clinic's org code): "YCV1" and
 * the clinic's coverage, YIBAO_COV_VALUE bytes.
 */

#define YIBAO_COV_MAGIC       "YCV1"
#define YIBAO_COV_VALUE       (4 + sizeof(yibao_cov_clinic_t))

/* writes the value of c into v (YIBAO_COV_VALUE bytes) */
void yibao_cov_value_encode(const yibao_cov_clinic_t *c, unsigned char *v);

/*
 * Reads a value back into out: YIBAO_OK, or YIBAO_ERR_INVALID for a
 * value of another layout (an older or newer gateway) or one that is
 * not the coverage of the clinic its field names.  The caller finds the
 * clinic's slot by the field (the org code), never by a position, so a
 * value written under an older registry lands on the right clinic.
 */
int yibao_cov_value_decode(const unsigned char *field, size_t flen,
    const unsigned char *v, size_t len, yibao_cov_clinic_t *out);


/* the sums over the last w days (1..8) ending today */

typedef struct {
    uint64_t              requests;
    uint64_t              failed;
    uint64_t              settled;
} yibao_cov_sum_t;

void yibao_cov_sum(const yibao_cov_clinic_t *c, uint32_t today, unsigned w,
    yibao_cov_sum_t *out);

/* the most frequent error counted within the last 7 days, 0: none */
uint32_t yibao_cov_top_error(const yibao_cov_clinic_t *c, uint32_t today,
    uint32_t *count);

/* "YB6002", "platform:2207", "failed": at most 16 bytes with the NUL */
size_t yibao_cov_error_name(uint32_t key, char *buf, size_t size);


/*
 * The classes of a clinic, for reports and the status page:
 *
 *   SEEN_TODAY, SEEN_WEEK  a request today / within the last 7 days
 *   NOT_SEEN               never a request
 *   SILENT                 no successful settlement in the last
 *                          silent_days days (today included), whether
 *                          seen or not
 *   FAILING                over the last `window` days at least
 *                          min_requests requests, of which failed more
 *                          than threshold (in 1/10000)
 *   NEVER_ACTIVATED        never a successful 9001 or settlement
 */

#define YIBAO_COV_SEEN_TODAY       0x01
#define YIBAO_COV_SEEN_WEEK        0x02
#define YIBAO_COV_NOT_SEEN         0x04
#define YIBAO_COV_SILENT           0x08
#define YIBAO_COV_FAILING          0x10
#define YIBAO_COV_NEVER_ACTIVATED  0x20

typedef struct {
    unsigned              silent_days;   /* 1.. */
    unsigned              window;        /* 1..8 */
    unsigned              threshold;     /* 0..10000 */
    unsigned              min_requests;
} yibao_cov_params_t;

/* silent 7 days, failing over today, more than 20 %, at least 3 */
void yibao_cov_params_default(yibao_cov_params_t *p);

unsigned yibao_cov_classify(const yibao_cov_clinic_t *c, int64_t now,
    int64_t gmtoff, const yibao_cov_params_t *p);


/*
 * Reports.  The glue passes one yibao_cov_info_t per clinic of the
 * registry (registry fields; the optional ones may be empty) and the
 * coverage of each, in the same order.
 */

typedef enum {
    YIBAO_COV_KEY_NONE = 0,      /* no key in the keys file */
    YIBAO_COV_KEY_NEVER_USED,
    YIBAO_COV_KEY_ACTIVATED,
    YIBAO_COV_KEY_EXPIRING,      /* within 30 days */
    YIBAO_COV_KEY_EXPIRED,
    YIBAO_COV_KEY_PENDING        /* its valid_from has not come yet */
} yibao_cov_key_state_e;

#define YIBAO_COV_KEY_STATES  6

typedef struct {
    yibao_str_t           code;          /* 22-char org code */
    yibao_str_t           name;
    yibao_str_t           admdvs;
    yibao_str_t           entity_code;   /* who signed the agreement */
    yibao_str_t           entity_name;
    unsigned              township;      /* settles through the entity */
    int                   key_state;     /* -1: from the coverage */
    yibao_str_t           township_code; /* the township hospital it
                                            rolls up to: the entity of
                                            a "township" clinic, the
                                            supervisor of an "own" one;
                                            empty: none */

    /* optional registry fields, empty when the registry has none */
    yibao_str_t           org_id;        /* 机构ID */
    yibao_str_t           county;
    yibao_str_t           town;
    yibao_str_t           reason;        /* 未纳入原因 */
} yibao_cov_info_t;


typedef enum {
    YIBAO_COV_REPORT_CLINICS = 0,  /* every clinic, with its coverage */
    YIBAO_COV_REPORT_SILENT,
    YIBAO_COV_REPORT_FAILING,
    YIBAO_COV_REPORT_NEVER,        /* never activated */
    YIBAO_COV_REPORT_TOWNSHIPS,
    YIBAO_COV_REPORT_WEEKLY,       /* the weekly registry report */
    YIBAO_COV_REPORT_SUMMARY       /* by county and township, for the
                                      status page */
} yibao_cov_report_e;

typedef struct {
    const yibao_cov_info_t    *info;
    const yibao_cov_clinic_t  *cov;
    size_t                     n;
    int64_t                    now;
    int64_t                    gmtoff;
    yibao_cov_params_t         params;
    unsigned                   report;   /* yibao_cov_report_e */
    unsigned                   csv;
} yibao_cov_report_t;

/* "silent" -> YIBAO_COV_REPORT_SILENT; -1 for an unknown name */
int yibao_cov_report_find(const unsigned char *name, size_t len);

/* key state -> "never_used" ... */
const char *yibao_cov_key_state_name(int state);

/*
 * Renders the report as JSON or CSV (UTF-8, a header line, RFC 4180
 * quoting): the length is computed first, then one allocation from a
 * is filled.  YIBAO_OK with out set, or YIBAO_ERR_NOMEM.
 */
int yibao_cov_render(const yibao_cov_report_t *r, yibao_alloc_t *a,
    yibao_str_t *out);


#endif /* _YIBAO_COVERAGE_H_INCLUDED_ */
