/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_OFFLINE_H_INCLUDED_
#define _YIBAO_OFFLINE_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_envelope.h"
#include "yibao_translate.h"


/*
 * 记账 records: a visit taken while the platform is down, to be settled
 * online later (补录) as a fresh 9001 -> 1101 -> 2201 -> 2203 -> 2204 ->
 * 2206 -> 2207 with the visit's own times.
 *
 * The clinic system sends the visit as the national envelope of a 2201
 * whose input also holds what its 2203 and 2204 would carry, and what
 * the patient paid:
 *
 *   {"data":      { the 2201's data: mdtrt_cert_type 02 (ID number) or
 *                   03 (social-security card, with card_sn),
 *                   mdtrt_cert_no, begntime, ... },
 *    "mdtrtinfo": { the 2203's mdtrtinfo: med_type, ... },
 *    "diseinfo":  [ the 2203's diagnoses ],
 *    "feedetail": [ the 2204's fee lines ],
 *    "offline":   { "paid": "12.30" } }
 *
 * Each part is translated by the rules of its own infno, with the code
 * that translates them online (yibao_offline_translate), so that a visit
 * that could never settle is refused now.
 *
 * A record is kept sealed: {"hash":H,"state":S,"body":B}, where B holds
 * the visit and the record's id, clinic, sequence number in the clinic's
 * chain and the hash of the clinic's previous record ("prev"), and H is
 * the SHA-256 of B's canonical text (jansson, compact, sorted keys).  A
 * changed body, or a record taken out of or put into the chain, is
 * found by yibao_offline_verify.  The state is outside the hash: it
 * changes as the record is settled.
 */

#define YIBAO_OFFLINE_HASH_LEN  64      /* hex SHA-256 */
#define YIBAO_OFFLINE_ID_LEN    32


typedef struct {
    int64_t                    total;      /* cents: the fee lines' sum */
    int64_t                    paid;       /* cents: what the patient paid */
    size_t                     lines;      /* fee lines */
    size_t                     diagnoses;
} yibao_offline_visit_t;


typedef struct {
    yibao_str_t                id;
    yibao_str_t                clinic;
    yibao_str_t                entity;
    yibao_str_t                caller;
    yibao_str_t                msgid;      /* the caller's: a repeat */
    yibao_str_t                opter;
    yibao_str_t                day;        /* YYYY-MM-DD, recorded */
    uint64_t                   recorded_ms;
    uint64_t                   seq;        /* in the clinic's chain, 1.. */
    yibao_str_t                head;       /* the envelope's head (JSON,
                                              yibao_resolve_head), or
                                              empty */
} yibao_offline_meta_t;


/* what a stored record says of itself (yibao_offline_verify) */

typedef struct {
    char                       id[64];
    char                       clinic[64];
    char                       entity[64];
    char                       state[24];
    char                       day[16];
    char                       caller[64];
    char                       msgid[64];
    uint64_t                   seq;
    uint64_t                   recorded_ms;
    int64_t                    total;
    int64_t                    paid;
    char                       hash[YIBAO_OFFLINE_HASH_LEN + 1];
    char                       prev[YIBAO_OFFLINE_HASH_LEN + 1];
} yibao_offline_info_t;


/*
 * Translates env (its infno is the 2201 of the record) by the rules of
 * 2201, 2203 and 2204 in turn, as yibao_translate_request does for one:
 * res lists every problem of the three.  env->infno is as it was after.
 */
int yibao_offline_translate(yibao_envelope_t *env, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    const yibao_translate_opts_t *opts, yibao_alloc_t *a,
    yibao_translate_result_t *res, yibao_err_t *err);

/*
 * Checks the record's input (env's): the parts there, an identity that
 * can be used later (02 or 03, never 01, the electronic certificate's
 * token), begntime and every fee line's fee_ocur_time in the national
 * format and not after now_text ("yyyy-MM-dd HH:mm:ss"), the amounts in
 * whole cents, paid between 0 and the total.  YIBAO_ERR_INVALID with
 * err (gwerr YB4020) saying what and where.
 */
int yibao_offline_check(yibao_envelope_t *env, const char *now_text,
    yibao_offline_visit_t *v, yibao_err_t *err);

/*
 * The record sealed: *out (allocated from a) the stored text with state
 * "recorded", hash its hash.  prev is the clinic's previous record's
 * hash ("" for the first).  The person's name is not kept.
 */
int yibao_offline_seal(yibao_envelope_t *env, const yibao_offline_meta_t *m,
    const yibao_offline_visit_t *v, const char *prev, yibao_alloc_t *a,
    yibao_str_t *out, char hash[YIBAO_OFFLINE_HASH_LEN + 1]);

/*
 * Reads a stored record and checks its hash; with prev not NULL, also
 * that it follows the record whose hash is prev.  YIBAO_ERR_INVALID
 * (err says how: the body changed, not in the chain) or YIBAO_OK; *info
 * is filled as far as the record could be read.
 */
int yibao_offline_verify(const unsigned char *p, size_t len, const char *prev,
    yibao_offline_info_t *info, yibao_err_t *err);

/*
 * Whether the stored record p (of the caller's msgid) keeps the visit of
 * env (checked, v): the same visit and the same amount paid (the
 * person's name aside, a record does not keep it).  YIBAO_OK: it does,
 * the visit was sent again; YIBAO_ERR_INVALID: another visit (or a
 * record that cannot be read); YIBAO_ERR_NOMEM.
 */
int yibao_offline_same(yibao_envelope_t *env, const yibao_offline_visit_t *v,
    const unsigned char *p, size_t len);

/*
 * A record (a json_t *) as it is stored: reals as jansson writes them,
 * so that the body still gives its hash.  *out from a.
 */
int yibao_offline_render(void *rec, yibao_alloc_t *a, yibao_str_t *out);

/* the record with another state: *out from a */
int yibao_offline_restate(const unsigned char *p, size_t len,
    const char *state, yibao_alloc_t *a, yibao_str_t *out);

/*
 * Whether p[0..len) is a record's id: "JZ", the clinic's 22-character
 * code, the record's number in the clinic's chain (6 to 20 digits).
 * YIBAO_OK with *clinic pointing at the code in p, or YIBAO_ERR_INVALID.
 */
int yibao_offline_id(const unsigned char *p, size_t len, yibao_str_t *clinic);

/*
 * 1 if a clinic that has count records of total cents today may add one
 * of add cents under the limits (0: no limit).
 */
int yibao_offline_within(uint64_t count, int64_t total, int64_t add,
    uint64_t max_count, int64_t max_total);

/* cents of a JSON amount (a json_t *: string or number), -1 if not */
int64_t yibao_offline_cents_json(const void *v);

/* "12.30" of 1230 cents (buf of 32) */
char *yibao_offline_amount(int64_t cents, char *buf);

/* cents of "12.30", 12.3 or 12 (a string or a number): -1 if not */
int64_t yibao_offline_cents_text(const char *p, size_t len);


/*
 * 补录: the decisions of a record's settlement after the outage, for the
 * replay driver (a fresh 9001 -> 1101 -> 2201 -> 2203 -> 2204 -> 2206,
 * then a confirmed 2207 through the journal).
 *
 * The states of a record and what moves it (yibao_offline_next):
 *
 *   recorded  --start-->      replaying    (the driver took it)
 *   recorded  --wait-->       waiting      (for an operator: the reason)
 *   waiting   --release-->    recorded     (the operator lets it go)
 *   replaying --presettled--> pending      (2206 answered: confirm?)
 *   replaying --refused-->    rejected     (the platform said no)
 *   replaying --lost-->       recorded     (the platform went away: again)
 *   replaying --wait-->       waiting      (1101 showed an 异地 patient)
 *   pending   --confirm-->    settling     (operator or clinic system;
 *                                           or auto: patient share =
 *                                           what was paid)
 *   pending   --lost-->       recorded     (nothing settled: again)
 *   settling  --settled-->    settled      (the 2207's answer)
 *   settling  --refused-->    rejected
 *   recorded, waiting, pending, rejected --void--> voided
 *
 * A settled or voided record never moves again, and only a pending one
 * is ever confirmed: the 2207 of a record is sent at most once (its
 * unknown outcome stays "settling" and is resolved by the journal).
 */

typedef enum {
    YIBAO_OFFLINE_REPLAY = 0,          /* settle it without an operator */
    YIBAO_OFFLINE_WAIT_OFFSITE,        /* 异地: another pooling area */
    YIBAO_OFFLINE_WAIT_AGE,            /* older than max_age */
    YIBAO_OFFLINE_WAIT_YEAR,           /* would cross the year */
    YIBAO_OFFLINE_WAIT_MONTH           /* would cross the month */
} yibao_offline_plan_e;


typedef struct {
    uint64_t                   max_age;        /* ms, 0: no limit */
    unsigned                   cross_month:1;  /* may cross the month */
    unsigned                   cross_year:1;
} yibao_offline_plan_conf_t;


/*
 * Whether the record of a visit that began at begntime ("yyyy-MM-dd
 * HH:mm:ss", the visit's own), recorded at recorded_ms, is settled now
 * (now_text, now_ms) without an operator; *reason says why not.
 * insuplc_admdvs is the insured's area as 1101 gives it (empty before
 * 1101): another pooling area (its first four digits) than the
 * clinic's admdvs is 异地.
 */
yibao_offline_plan_e yibao_offline_plan(const char *begntime,
    uint64_t recorded_ms, const char *now_text, uint64_t now_ms,
    const yibao_str_t *clinic_admdvs, const yibao_str_t *insuplc_admdvs,
    const yibao_offline_plan_conf_t *conf, const char **reason);

/*
 * The states a record can be in, in the order they are counted (the
 * operators' summary, the status document, the metrics): recorded,
 * waiting, replaying, pending, settling, settled, rejected, voided.
 * yibao_offline_state_name(i) for i below YIBAO_OFFLINE_STATES, NULL
 * past them; yibao_offline_state_index the index of a name, -1 if not
 * a state.  A record recorded, waiting, replaying, pending or settling
 * is open: still to be settled (yibao_offline_open).
 */
#define YIBAO_OFFLINE_STATES  8

const char *yibao_offline_state_name(int i);
int yibao_offline_state_index(const char *state);
int yibao_offline_open(int i);

/*
 * The state after event in state: YIBAO_OK and *next, or
 * YIBAO_ERR_INVALID when the event may not happen there.
 */
int yibao_offline_next(const char *state, const char *event,
    const char **next);

/* 1 if a pre-settlement may be confirmed without a person: enabled and
 * the patient's share (psn_cash, cents) equal to what was paid */
int yibao_offline_auto_confirm(int enabled, int64_t psn_cash, int64_t paid);


#endif /* _YIBAO_OFFLINE_H_INCLUDED_ */
