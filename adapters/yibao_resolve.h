/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_RESOLVE_H_INCLUDED_
#define _YIBAO_RESOLVE_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_envelope.h"
#include "yibao_journal.h"


/*
 * Resolving an unknown outcome: what the gateway sends
 * to learn or undo what happened to a money-moving transaction whose
 * answer was lost, and what the platform's answer means.  The
 * transaction itself is never sent again.
 *
 *   query    5203 by mdtrt_id and psn_no (2207: the settlement whose
 *            medins_setl_id is the upstream msgid; 2208: by setl_id,
 *            its refd_setl_flag)
 *   reverse  2601 with omsgid = the upstream msgid and oinfno
 */

typedef enum {
    YIBAO_RESOLVE_OFF = 0,
    YIBAO_RESOLVE_QUERY,
    YIBAO_RESOLVE_REVERSE
} yibao_resolve_mode_e;


typedef enum {
    YIBAO_RESOLVE_RETRY = 0,    /* nothing learnt: stays unknown */
    YIBAO_RESOLVE_OK,           /* it happened */
    YIBAO_RESOLVE_FAILED,       /* it never happened */
    YIBAO_RESOLVE_REVERSED,     /* it happened and was reversed */
    YIBAO_RESOLVE_OTHER         /* another settlement stands (below) */
} yibao_resolve_outcome_e;


typedef struct {
    yibao_resolve_outcome_e  outcome;
    yibao_str_t              setl_id;     /* OK: the settlement */
    yibao_str_t              platform_msgid; /* OK: its medins_setl_id */
    char                     reason[320]; /* what the platform said */
} yibao_resolve_result_t;


/*
 * The head of a request envelope kept in the journal record: its
 * top-level fields other than input, infno, msgid, inf_time,
 * fixmedins_code and fixmedins_name, as a compact JSON object allocated
 * from a.  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_resolve_head(const yibao_envelope_t *env, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * A string field of a kept head: YIBAO_OK with out allocated from a, or
 * YIBAO_ERR_NOT_FOUND; with value, the head with that field replaced
 * instead (out then is the new head).  YIBAO_ERR_NOMEM.
 */
int yibao_resolve_head_field(const yibao_str_t *head, const char *key,
    const yibao_str_t *value, yibao_alloc_t *a, yibao_str_t *out);

/*
 * The request that resolves j in mode: *infno is "5203" or "2601" and
 * *body the envelope (the record's head, the entity's code and name,
 * msgid, inf_time from now), allocated from a.  YIBAO_OK,
 * YIBAO_ERR_INVALID when the record lacks what is needed (err says
 * what) or YIBAO_ERR_NOMEM.
 */
int yibao_resolve_request(const yibao_journal_t *j, yibao_resolve_mode_e mode,
    const yibao_str_t *entity_code, const yibao_str_t *entity_name,
    const yibao_str_t *msgid, const yibao_tm_t *now, yibao_alloc_t *a,
    yibao_str_t *infno, yibao_str_t *body, yibao_err_t *err);

/*
 * An envelope the gateway sends by itself: infno, msgid, the kept head's
 * fields, inf_time from now, the entity's code and name, and input (a
 * json_t *, whose reference is taken).  YIBAO_OK, YIBAO_ERR_INVALID (the
 * head is not a JSON object) or YIBAO_ERR_NOMEM.
 */
int yibao_resolve_envelope(const yibao_str_t *head, const yibao_str_t *infno,
    const yibao_str_t *entity_code, const yibao_str_t *entity_name,
    const yibao_str_t *msgid, const yibao_tm_t *now, void *input,
    yibao_alloc_t *a, yibao_str_t *body, yibao_err_t *err);

/*
 * What the platform's answer to that request (infno "5203" or "2601")
 * means for j.  setl_id is allocated from a.  YIBAO_OK or
 * YIBAO_ERR_NOMEM; an answer that says nothing is YIBAO_RESOLVE_RETRY.
 */
int yibao_resolve_answer(const yibao_journal_t *j, const yibao_str_t *infno,
    const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_resolve_result_t *res);

/*
 * What a 5203 answer means for a money-moving request whose msgid the
 * journal does not know while its store cannot vouch for that
 * (yibao_forget.h): the msgid may have been sent and done before the
 * store forgot it, under an upstream msgid nobody remembers.  j is the
 * request as a record (infno, msgid, upstream_msgid issued for it,
 * mdtrt_id, setl_id), request its envelope (a json_t *).
 *
 *   2207 (and the other settlements, by mdtrt_id):
 *     FAILED  no settlement of the visit, or the one found is reversed
 *             (vali_flag 0) or refunded: sending it settles once
 *     OK      a settlement in effect made by this msgid (medins_setl_id
 *             is its own or its upstream one), or of the request's
 *             medfee_sumamt: the visit is settled, sending it again
 *             would settle it twice
 *     OTHER   a settlement in effect of another amount: the visit is
 *             settled, and whether by this msgid cannot be told
 *   2208:     OK refunded (refd_setl_flag 1), FAILED not refunded
 *   RETRY     the answer says nothing
 *
 * setl_id and platform_msgid (OK) are allocated from a.  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */
int yibao_resolve_forgotten(const yibao_journal_t *j, const void *request,
    const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_resolve_result_t *res);

/*
 * Keeps in j the key outputs a 5203 answer shows for a 2207 found
 * settled (its setlinfo is 2207's: setl_time, insutype, clr_type, the
 * amounts), for the reconciliation totals.  Nothing for a 2208: a 5203
 * shows the original settlement, not the refund's own amounts.
 * YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_resolve_outputs(yibao_journal_t *j, const unsigned char *answer,
    size_t len, yibao_alloc_t *a);

/*
 * Masks every occurrence of psn_no in the NUL-terminated text in place
 * (a platform's message may quote it), for logs and the record.
 */
void yibao_resolve_mask(char *text, const yibao_str_t *psn_no);

/* "query", "reverse", "off"; YIBAO_ERR_INVALID for anything else */
int yibao_resolve_mode_parse(const unsigned char *p, size_t len,
    yibao_resolve_mode_e *mode);

/*
 * The wait before attempt n + 1 after n failed ones (n >= 1): interval
 * times 2^(n-1), at most 32 intervals, in ms.
 */
uint64_t yibao_resolve_backoff(uint64_t interval_ms, unsigned n);


#endif /* _YIBAO_RESOLVE_H_INCLUDED_ */
