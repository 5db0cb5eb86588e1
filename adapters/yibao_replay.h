/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_REPLAY_H_INCLUDED_
#define _YIBAO_REPLAY_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_offline.h"


/*
 * 补录: what decides the replay of a 记账 record (yibao_offline.h) once
 * the platform answers again.  The record is settled as a fresh
 * sequence with the visit's own times and new msgids:
 *
 *   9001 -> 1101 -> 2201 -> 2203 -> 2204 -> 2206   (then it is pending)
 *
 * and, once confirmed, its 2207 (sent through the journal).  Each
 * attempt starts with its own sign-in (9001) and goes on after the last
 * step the platform answered (kept in the record), so that an attempt
 * cut short by a lost platform does not register the visit twice.
 *
 * What an attempt learns is kept in the stored record beside its state,
 * outside its hash ({"hash","state","body","replay"}):
 *
 *   "replay": {"done":    the last step answered ("1101" ...),
 *              "psn_no", "insutype", "insuplc_admdvs" (1101),
 *              "mdtrt_id" (2201),
 *              "setl":    the 2206's amounts (strings, yuan),
 *              "by", "until": the driver that holds the record and
 *                         until when (ms) its claim stands,
 *              "reason":  why it waits, or what the platform refused
 *                         (its message, personal numbers masked),
 *              "attempts"}
 *
 * These functions take the record's text and give its next text (from
 * a); the caller writes it back only when the record was not changed
 * meanwhile (the store compares).
 */

typedef enum {
    YIBAO_REPLAY_NEXT = 0,       /* answered: the next step */
    YIBAO_REPLAY_PENDING,        /* the 2206 answered: confirm? */
    YIBAO_REPLAY_WAIT,           /* 1101 showed 异地: an operator */
    YIBAO_REPLAY_REJECTED,       /* the platform refused the visit */
    YIBAO_REPLAY_LOST,           /* no usable answer: again later */
    YIBAO_REPLAY_SETTLED         /* the 2207 answered: settled */
} yibao_replay_outcome_e;


typedef struct {
    yibao_str_t                entity_code;    /* fixmedins_code */
    yibao_str_t                entity_name;
    yibao_str_t                admdvs;         /* the clinic's */
    yibao_str_t                mac;            /* 9001's signIn */
    yibao_str_t                ip;
    yibao_offline_plan_conf_t  plan;
} yibao_replay_conf_t;


/* what a stored record says of its replay */

typedef struct {
    char                       state[24];
    char                       done[8];        /* last step answered */
    char                       by[64];         /* claim: the driver */
    uint64_t                   until;          /* claim: ms */
    uint64_t                   attempts;
    int64_t                    paid;           /* cents */
    int64_t                    psn_cash;       /* cents, -1: no 2206 */
    int64_t                    fund_pay;
    int64_t                    medfee;
    char                       mdtrt_id[64];
    char                       reason[320];
} yibao_replay_info_t;


typedef struct {
    yibao_replay_outcome_e     outcome;
    const char                *event;         /* yibao_offline_next's */
    const char                *state;         /* the record's now */
    char                       reason[320];   /* masked */
} yibao_replay_result_t;


/* the record's replay as far as it can be read: YIBAO_OK or _INVALID */
int yibao_replay_info(const unsigned char *p, size_t len,
    yibao_replay_info_t *info);

/*
 * The record taken by driver "by" until until_ms: a recorded record (a
 * waiting one only with force; a replaying one whose claim ran out at
 * now_ms) becomes replaying, res->outcome YIBAO_REPLAY_NEXT; or, when
 * yibao_offline_plan says an operator must settle it (never with
 * force: an operator asked), waiting with the reason, res->outcome
 * YIBAO_REPLAY_WAIT.  YIBAO_ERR_INVALID when it may not be taken
 * (another state, a claim that stands).
 */
int yibao_replay_claim(const unsigned char *p, size_t len,
    const yibao_replay_conf_t *conf, const char *by, int force,
    const char *now_text, uint64_t now_ms, uint64_t until_ms,
    yibao_alloc_t *a, yibao_str_t *out, yibao_replay_result_t *res);

/*
 * The claim given up: replaying -> recorded ("lost": nothing was
 * settled; what was answered is kept for the next attempt).  With
 * reason, it is kept in the record.  YIBAO_ERR_INVALID when the record
 * is not replaying.
 */
int yibao_replay_release(const unsigned char *p, size_t len,
    const char *reason, yibao_alloc_t *a, yibao_str_t *out);

/*
 * The envelope of the record's next step (a replaying record; a
 * settling one: its 2207): *infno and *body from a, with msgid and
 * inf_time from now.  sign_no is this attempt's (empty for its 9001).
 * YIBAO_ERR_INVALID (err says what) when the record cannot give it.
 */
int yibao_replay_request(const unsigned char *p, size_t len,
    const yibao_replay_conf_t *conf, const yibao_str_t *sign_no,
    const yibao_str_t *msgid, const yibao_tm_t *now, yibao_alloc_t *a,
    yibao_str_t *infno, yibao_str_t *body, yibao_err_t *err);

/*
 * What the platform's answer (data, len; NULL: none) to the step infno
 * means: res->outcome, and *out the record's next text (from a) with
 * what the answer gave (a 9001's sign_no goes to *sign_no instead: it
 * is the attempt's, never kept).  now_text ("yyyy-MM-dd HH:mm:ss") and
 * now_ms for the plan (yibao_offline_plan) after 1101.
 */
int yibao_replay_answer(const unsigned char *p, size_t len,
    const yibao_replay_conf_t *conf, const yibao_str_t *infno,
    const unsigned char *data, size_t dlen, const char *now_text,
    uint64_t now_ms, yibao_alloc_t *a, yibao_str_t *out,
    yibao_str_t *sign_no, yibao_replay_result_t *res);


#endif /* _YIBAO_REPLAY_H_INCLUDED_ */
