/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_LIMIT_H_INCLUDED_
#define _YIBAO_LIMIT_H_INCLUDED_


#include "yibao_types.h"


/*
 * Rate limits by GCRA (the generic cell rate algorithm, as
 * nginx's limit_req and redis-cell): a policy admits `rate` requests per
 * `period` with a burst of `burst` more.  The state of one key is one
 * number, its theoretical arrival time (TAT, ms).  The same decision is
 * computed by yibao_limit_decide() for the embedded store and by the
 * Redis script yibao_limit_script for Redis, with the time taken from
 * Redis.
 */

typedef enum {
    YIBAO_LIMIT_BY_CALLER = 1,
    YIBAO_LIMIT_BY_CLINIC,
    YIBAO_LIMIT_BY_ENTITY,
    YIBAO_LIMIT_BY_ALL
} yibao_limit_by_e;


/* What happens when the shared store cannot be asked. */
typedef enum {
    YIBAO_LIMIT_FAIL_LOCAL = 0,    /* this node's share, in shared memory */
    YIBAO_LIMIT_FAIL_OPEN,         /* admit */
    YIBAO_LIMIT_FAIL_CLOSED        /* refuse (503) */
} yibao_limit_fail_e;


typedef struct {
    yibao_str_t           name;
    yibao_limit_by_e      by;
    uint64_t              interval_ms;   /* period / rate, at least 1 */
    uint64_t              burst;         /* extra requests admitted */
    uint64_t              rate;          /* as configured, for headers */
    uint64_t              period_s;      /* as configured, for headers */
    yibao_limit_fail_e    on_error;
    uint64_t              nodes;         /* gateway nodes sharing it */
} yibao_limit_policy_t;


typedef struct {
    unsigned              allowed:1;
    uint64_t              remaining;     /* requests left now */
    uint64_t              retry_after_ms;    /* when refused */
    uint64_t              reset_ms;      /* until the quota is full */
    uint64_t              tat_ms;        /* the new state to store */
} yibao_limit_decision_t;


/*
 * Parses "600r/m", "10r/s", "30000r/h", "100000r/d" into rate and
 * period.  YIBAO_OK or YIBAO_ERR_INVALID.
 */
int yibao_limit_parse_rate(const unsigned char *p, size_t len,
    uint64_t *rate, uint64_t *period_s);

/*
 * Fills the derived fields of a policy from rate, period_s, burst and
 * nodes (a node's local share divides the rate by nodes).  local != 0
 * computes the node's share.
 */
void yibao_limit_policy_init(yibao_limit_policy_t *policy, int local);

/*
 * The GCRA decision for a key whose stored TAT is tat_ms (0: none) at
 * now_ms.  A clock that went backwards counts as no time passed.
 */
void yibao_limit_decide(const yibao_limit_policy_t *policy, uint64_t tat_ms,
    uint64_t now_ms, yibao_limit_decision_t *d);

/*
 * The store key of a policy for one request, Redis Cluster safe: the
 * hash tag is the entity code for clinic and entity policies and the
 * caller for caller policies, e.g. "yibao:{H37010200001}:rl:q1:..."
 * Allocated from a; NULL on allocation failure.
 */
yibao_str_t *yibao_limit_key(const yibao_limit_policy_t *policy,
    const yibao_str_t *caller, const yibao_str_t *clinic,
    const yibao_str_t *entity, yibao_alloc_t *a);

/*
 * The IETF RateLimit-Policy and RateLimit field values for a decision
 * (draft-ietf-httpapi-ratelimit-headers -07 and later):
 *   RateLimit-Policy: "name";q=<rate+burst>;w=<period>
 *   RateLimit: "name";r=<remaining>;t=<seconds to reset>
 * Written NUL-terminated into the buffers; returns YIBAO_OK or
 * YIBAO_ERR_TOO_LARGE.
 */
int yibao_limit_headers(const yibao_limit_policy_t *policy,
    const yibao_limit_decision_t *d, char *policy_out, size_t policy_size,
    char *limit_out, size_t limit_size);

/*
 * The Redis script: KEYS are the keys of the limits and then, when
 * ARGV[2n + 2] > 0, the nonce's; ARGV[1] is the number of limits n, then
 * for each limit its interval_ms and burst, then the nonce's lifetime in
 * ms ("0": no nonce).  It takes the time from Redis (TIME) and answers
 * an array: now_ms, nonce_fresh (0: a replay, nothing else done), then
 * for each limit allowed (0/1), remaining, retry_after_ms, reset_ms.
 * All limits of a request are decided together: when one refuses, none
 * is consumed.  A dry run is decided by the caller: it counts the same.
 */
extern const char  yibao_limit_script[];


#endif /* _YIBAO_LIMIT_H_INCLUDED_ */
