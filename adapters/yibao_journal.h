/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_JOURNAL_H_INCLUDED_
#define _YIBAO_JOURNAL_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_infno.h"


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
 *    "reason":..,"gwerr":N (the gateway's error code, when it refused),
 *    "answer":<the answer as sent to the caller>,
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
    int                    gwerr;          /* the gateway's refusal, or 0 */
    yibao_str_t            answer;

    /*
     * Queries and reconciliation (3201); rendered only when not empty.
     * day: the local day the record was claimed, YYYY-MM-DD.  For a
     * 2207/2208 that ended ok, from the platform's output.setlinfo:
     * platform_setl_id (2208: the refund's own setl_id), setl_time,
     * insutype, clr_type and the amounts as exact decimal text with two
     * places (2208: negative, as the platform answers).  For a 3201: its
     * input (insutype, clr_type, the statement's dates and the figures
     * the clinic declared, setl_cnt) and the platform's stmt_rslt and
     * stmt_rslt_dscr.
     */
    yibao_str_t            day;
    yibao_str_t            platform_setl_id;
    yibao_str_t            setl_time;
    yibao_str_t            insutype;
    yibao_str_t            clr_type;
    yibao_str_t            medfee_sumamt;
    yibao_str_t            fund_pay_sumamt;
    yibao_str_t            acct_pay;
    yibao_str_t            setl_cnt;
    yibao_str_t            stmt_begndate;
    yibao_str_t            stmt_enddate;
    yibao_str_t            stmt_rslt;
    yibao_str_t            stmt_rslt_dscr;

    /* the resolver's: kept together */
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
 *   claim   KEYS record, upstream index, unknown set, index sets...;
 *           ARGV record, ttl_ms, money ("1": the record joins the
 *           unknown set while it is "sent", so that one lost with its
 *           gateway is resolved too), [peek] -> {1} claimed (the record
 *           joins each index set, whose TTL becomes ttl_ms), or {0,
 *           existing record}; with peek "1" nothing is written when
 *           there is no record: {2} (the store forgot, yibao_forget.h:
 *           the platform is asked first)
 *   update  KEYS record, unknown set, problem set, index sets...; ARGV
 *           record, state, ttl_ms, "1" if a problem -> 1 (the record's
 *           TTL is kept; a record Redis lost meanwhile, e.g. restarted
 *           without persistence, is written again with ttl_ms;
 *           "unknown" joins the unknown set, anything else
 *           leaves it; the problem set likewise by ARGV 4; the record
 *           joins the index sets)
 *   list    KEYS an index set (or the unknown set) -> the records of
 *           its members (the caller filters: the unknown set also holds
 *           money-moving records still "sent")
 *   list_once  KEYS unknown set, lock; ARGV owner, ttl_ms -> the records
 *           of its members ("unknown", or money-moving "sent"), or nil
 *           when another resolver took the lock within ttl_ms
 *   resolve KEYS record, unknown set[, setl_id index]; ARGV state,
 *           setl_id, now_ms, ttl_ms -> the new record (resolved_by
 *           "operator"; it joins the index), or nil when there is none
 */
/*
 * Queries and reconciliation.
 *
 * Index sets (Redis; members are record keys, each set expires with the
 * records' TTL, a member whose record is gone is dropped when read):
 *   yibao:{journal}:n:<msgid>          caller's and upstream msgids
 *   yibao:{journal}:m:<mdtrt_id>       yibao:{journal}:s:<setl_id>
 *   yibao:{journal}:c:<clinic>:<day>   yibao:{journal}:e:<entity>:<day>
 *   yibao:{journal}:x:<day>            money-moving records not known
 *                                      to have ended ok (candidates of
 *                                      "problems")
 * Only 2207, 2208 and 3201 (what the totals read) join e:, under their
 * claim day and settlement day (setl_time), a 3201 under its
 * statement's end day too.
 */

#define YIBAO_JOURNAL_INDEX_MAX  12

/* the set of the records in state "unknown", of every day */
#define YIBAO_JOURNAL_UNKNOWN_SET  "yibao:journal:unknown"

/*
 * The index set keys of a record (not the x: set), from a; ids that are
 * empty, longer than 64 or hold other than [A-Za-z0-9._-] are not
 * indexed.  *n at most YIBAO_JOURNAL_INDEX_MAX.  YIBAO_OK or NOMEM.
 */
int yibao_journal_index_keys(const yibao_journal_t *j, yibao_alloc_t *a,
    yibao_str_t *keys, size_t *n);

/* "yibao:{journal}:x:<day>"; YIBAO_ERR_INVALID for a bad day */
int yibao_journal_problem_key(const yibao_str_t *day, yibao_alloc_t *a,
    yibao_str_t *key);

/* 1 if the record belongs in the x: set (money-moving, not ok) */
int yibao_journal_problem(const yibao_journal_t *j);

/*
 * The embedded store's index (module/ngx_http_yibao_shm.c): every key
 * under which a stored record is found, each the key
 * yibao_journal_query_key gives for a query it answers: its index set
 * keys, the x: set of its day when it is a problem, and
 * YIBAO_JOURNAL_UNKNOWN_SET while it is "unknown" or "sent" (of any
 * infno: the resolver and the API filter).  From the record as stored,
 * the strings allocated from a.  YIBAO_OK, YIBAO_ERR_SYNTAX (not a
 * record: it is found by its own key only) or YIBAO_ERR_NOMEM; *n at
 * most YIBAO_JOURNAL_ZONE_KEYS.
 */

#define YIBAO_JOURNAL_ZONE_KEYS  (YIBAO_JOURNAL_INDEX_MAX + 2)

int yibao_journal_zone_keys(const unsigned char *record, size_t len,
    yibao_alloc_t *a, yibao_str_t *keys, size_t *n);

/*
 * The amount under key of a JSON object (a json_t *) as exact text with
 * two places ("35.20"), from a number or a decimal string; "" when it
 * is missing or not a whole number of cents.  YIBAO_OK or NOMEM.
 */
int yibao_journal_amount(const void *object, const char *key,
    yibao_alloc_t *a, yibao_str_t *out);

/* "YYYY-MM-DD" of tm into buf[11] (NUL-terminated) */
void yibao_journal_day(const yibao_tm_t *tm, char *buf);

/*
 * The key fields of a transaction into j (copied into a): with input (a
 * json_t * of the caller's envelope, at the claim) a 3201's figures; with
 * answer (the platform's, of a transaction that ended ok) a 2207/2208's
 * output.setlinfo or a 3201's output.stmtinfo.  Either may be NULL.
 * Other infnos, and answers without them: nothing.  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */
int yibao_journal_outputs(const void *input, const unsigned char *answer,
    size_t len, yibao_alloc_t *a, yibao_journal_t *j);


typedef enum {
    YIBAO_JOURNAL_Q_NONE = 0,
    YIBAO_JOURNAL_Q_MSGID,        /* caller's or upstream msgid */
    YIBAO_JOURNAL_Q_MDTRT,
    YIBAO_JOURNAL_Q_SETL,
    YIBAO_JOURNAL_Q_CLINIC,       /* clinic and day */
    YIBAO_JOURNAL_Q_PROBLEMS,     /* day, optionally clinic */
    YIBAO_JOURNAL_Q_TOTALS,       /* entity and day */
    YIBAO_JOURNAL_Q_UNKNOWN       /* every record in state "unknown" */
} yibao_journal_q_e;


typedef struct {
    yibao_journal_q_e      kind;
    yibao_str_t            value;        /* msgid, mdtrt_id or setl_id */
    yibao_str_t            clinic;
    yibao_str_t            entity;
    yibao_str_t            day;          /* YYYY-MM-DD */
    uint64_t               now_ms;
    uint64_t               in_flight_ms; /* a "sent" older is overdue */

    /* totals: optional filters, and figures to compare (decimal text) */
    yibao_str_t            insutype;
    yibao_str_t            clr_type;
    yibao_str_t            medfee_sumamt;
    yibao_str_t            fund_pay_sumamt;
    yibao_str_t            acct_pay;
    yibao_str_t            setl_cnt;
} yibao_journal_query_t;


/*
 * Checks a query (ids and codes as for the index, day YYYY-MM-DD,
 * figures decimal) and gives the one index set that holds its answer
 * (in Redis; the same key in the embedded store's index).
 * YIBAO_OK, YIBAO_ERR_INVALID (err says what) or YIBAO_ERR_NOMEM.
 */
int yibao_journal_query_key(const yibao_journal_query_t *q,
    yibao_alloc_t *a, yibao_str_t *key, yibao_err_t *err);

/*
 * The answer to q from candidate records (a JSON array of stored
 * records): those that match, once each, oldest first, as a JSON array
 * for the API: psn_no masked, the stored answer left out (it holds the
 * patient's name and ID number), "overdue":true on a "sent" record older
 * than in_flight.  Records that are not readable are skipped.  For
 * YIBAO_JOURNAL_Q_TOTALS an object: the totals per insutype and
 * clr_type, the settlements whose outcome is not known, the 3201
 * statements recorded and the comparison with the given figures.
 * YIBAO_OK, YIBAO_ERR_SYNTAX (list is not a JSON array) or NOMEM.
 */
int yibao_journal_select(const yibao_journal_query_t *q,
    const unsigned char *list, size_t len, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * The same answer built from candidate records given one at a time, so
 * that a large one is made in steps (the module reads a batch of
 * records per step and serves other events in between): _add keeps
 * what the answer needs of one stored record (not its stored answer;
 * of two writes of one record, the later; what is not readable is
 * skipped), _answer renders the answer.  q and a are copied (q's
 * strings are not); the selection and the records it renders are
 * allocated from a, what else it holds is released by
 * yibao_journal_sel_free(), which is to be called in any case (more
 * than once is harmless).  YIBAO_OK or YIBAO_ERR_NOMEM.
 */

typedef struct yibao_journal_sel_s  yibao_journal_sel_t;

yibao_journal_sel_t *yibao_journal_sel_create(const yibao_journal_query_t *q,
    yibao_alloc_t *a);
int yibao_journal_sel_add(yibao_journal_sel_t *s,
    const unsigned char *record, size_t len);
int yibao_journal_sel_answer(yibao_journal_sel_t *s, yibao_alloc_t *a,
    yibao_str_t *out);
void yibao_journal_sel_free(yibao_journal_sel_t *s);

/* One stored record for the API (masked as above). */
int yibao_journal_public(const unsigned char *record, size_t len,
    yibao_alloc_t *a, yibao_str_t *out);


extern const char  yibao_journal_claim_script[];
extern const char  yibao_journal_resolve_script[];
extern const char  yibao_journal_update_script[];
extern const char  yibao_journal_list_script[];
extern const char  yibao_journal_list_once_script[];


#endif /* _YIBAO_JOURNAL_H_INCLUDED_ */
