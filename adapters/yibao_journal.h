/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_JOURNAL_H_INCLUDED_
#define _YIBAO_JOURNAL_H_INCLUDED_


#include "yibao_types.h"


/*
 * The msgid journal: every state-creating or money-moving transaction
 * is recorded in the store, keyed by the caller and its msgid, BEFORE it
 * is sent ("sent"), then completed: "ok" (infcode 0), "failed" (the
 * platform refused, or it was never sent) or "unknown" (sent, and the
 * answer was lost: a money-moving call is then never resent by the
 * gateway; the outcome is resolved by query or reversal).
 *
 * A record is a JSON object:
 *   {"v":1,"state":S,"caller":..,"msgid":..,"upstream_msgid":..,
 *    "infno":..,"clinic":..,"entity":..,"hash":<sha256 of the input>,
 *    "sent_ms":N,"done_ms":N,"mdtrt_id":..,"setl_id":..,"infcode":N,
 *    "reason":..,"answer":<the answer as sent to the caller>,
 *    "psn_no":..,"head":{..},"resolved_by":..,"resolved_ms":N,
 *    "attempts":N,"retry_ms":N,"resolve_error":..}
 *
 * The last group serves the resolver (module/ngx_http_yibao_resolve.c):
 * for a money-moving transaction the raw psn_no and the envelope's head
 * (its fields other than input, msgid, infno, inf_time and the
 * institution) are kept to build the 5203 or 2601 that resolves an
 * unknown outcome; they are never logged.  "reversed": the gateway
 * reversed it (2601) after its outcome was unknown.
 */

typedef enum {
    YIBAO_JOURNAL_NONE = 0,
    YIBAO_JOURNAL_SENT,
    YIBAO_JOURNAL_OK,
    YIBAO_JOURNAL_FAILED,
    YIBAO_JOURNAL_UNKNOWN,
    YIBAO_JOURNAL_REVERSED
} yibao_journal_state_e;


typedef struct {
    yibao_journal_state_e  state;
    yibao_str_t            caller;
    yibao_str_t            msgid;
    yibao_str_t            upstream_msgid;
    yibao_str_t            infno;
    yibao_str_t            clinic;
    yibao_str_t            entity;
    yibao_str_t            hash;
    uint64_t               sent_ms;
    uint64_t               done_ms;
    yibao_str_t            mdtrt_id;
    yibao_str_t            setl_id;
    int                    infcode;
    unsigned               infcode_set:1;
    yibao_str_t            reason;
    yibao_str_t            answer;

    /* the resolver's (issue 5 item 3): kept together */
    yibao_str_t            psn_no;         /* raw: never logged */
    yibao_str_t            head;           /* a JSON object, or empty */
    yibao_str_t            resolved_by;    /* "gateway:5203", "operator" */
    uint64_t               resolved_ms;
    unsigned               attempts;
    uint64_t               retry_ms;       /* not before */
    yibao_str_t            resolve_error;  /* the last attempt's */
} yibao_journal_t;


/* "sent", "ok", "failed", "unknown", "reversed" ("" for NONE) */
const char *yibao_journal_state_name(yibao_journal_state_e state);

/* YIBAO_JOURNAL_NONE when the name is unknown */
yibao_journal_state_e yibao_journal_state_parse(const unsigned char *p,
    size_t len);

/*
 * 1 if the infno is journaled by default: state-creating or money-moving
 * (2201-2208, 2301-2305, 2401-2405, 2102, 2103, 2601, 3201, 9001, 9101
 * and their lettered variants).
 */
int yibao_journal_infno(const unsigned char *infno, size_t len);

/*
 * 1 if the infno moves money (2207, 2208, 2102, 2103, 2304, 2305, and
 * lettered variants): an unknown outcome is never resent.
 */
int yibao_journal_money(const unsigned char *infno, size_t len);

/* The record as JSON, allocated from a.  YIBAO_OK or YIBAO_ERR_NOMEM. */
int yibao_journal_render(const yibao_journal_t *j, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * Parses a stored record; the strings are copied into a.  YIBAO_OK,
 * YIBAO_ERR_SYNTAX (not a record) or YIBAO_ERR_NOMEM.
 */
int yibao_journal_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_journal_t *j);

/*
 * The records of a JSON array (the unknown list): *n of them in *out,
 * allocated from a; elements that are not records are skipped.  YIBAO_OK,
 * YIBAO_ERR_SYNTAX (not an array) or YIBAO_ERR_NOMEM.
 */
int yibao_journal_parse_list(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_journal_t **out, size_t *n);

/*
 * Redis scripts (EVAL):
 *   claim   KEYS record, upstream index, unknown set; ARGV record,
 *           ttl_ms, money ("1": the record joins the set while it is
 *           "sent", so that one lost with its gateway is resolved too)
 *           -> {1} claimed, or {0, existing record}
 *   update  KEYS record, unknown set; ARGV record, state
 *           -> 1 (the record's TTL is kept; "unknown" joins the set,
 *           anything else leaves it)
 *   list    KEYS unknown set -> the records of its members in state
 *           "unknown"
 *   list_once  KEYS unknown set, lock; ARGV owner, ttl_ms -> the records
 *           of its members ("unknown", or money-moving "sent"), or nil
 *           when another resolver took the lock within ttl_ms
 *   resolve KEYS record, unknown set; ARGV state, setl_id, now_ms ->
 *           the new record (resolved_by "operator"), or nil when there
 *           is none
 */
extern const char  yibao_journal_claim_script[];
extern const char  yibao_journal_resolve_script[];
extern const char  yibao_journal_update_script[];
extern const char  yibao_journal_list_script[];
extern const char  yibao_journal_list_once_script[];


#endif /* _YIBAO_JOURNAL_H_INCLUDED_ */
