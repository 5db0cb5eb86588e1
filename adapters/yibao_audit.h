/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_AUDIT_H_INCLUDED_
#define _YIBAO_AUDIT_H_INCLUDED_


#include <jansson.h>

#include "yibao_types.h"
#include "yibao_map.h"


/*
 * The fee-line audit (智能审核): every fee line of a visit is checked
 * against rules before it is sent.  Rules and the lists they use are
 * data; supporting one more rule of an existing kind is one line.
 *
 * Rules file: UTF-8 TSV, '#' comments, one rule per line, exactly one
 * TAB between columns:
 *
 *     id  name  kind  mode  sev  scope  params
 *
 *   id      1..20 of [A-Za-z0-9_-], e.g. YB-L01; one id may have rows
 *           of several scopes, the most specific row applies to a clinic
 *           (clinic, entity, admdvs 6/4/2, then *)
 *   name    the rule's name (rule_name), 1..120 bytes of UTF-8
 *   kind    gp_fee | split_visit | supply_days | repeat_rx | price_cap |
 *           drug_list | gender | age | doctor
 *   mode    off | shadow | warn | enforce
 *   sev     1 (明确违规), 2 (高度可疑) or 3 (轻度可疑)
 *   scope   * | admdvs:<2, 4 or 6 digits> | entity:<code> | clinic:<code>
 *   params  "-" or a comma list of key=value; value lists are joined
 *           with "|".  Every kind takes ack=yes (a clinic may resend
 *           acknowledging the rule's finding) and:
 *     gp_fee       list=L (一般诊疗费), with=L|L (挂号费,
 *                  诊查费): an L item more than once in a visit, or with
 *                  one of
 *                  the with= lists' items
 *     split_visit  max=N (default 1): more than N visits of a person a
 *                  day at one clinic
 *     supply_days  days=N (default 7), emergency=N (default 3),
 *                  chronic=N (default 30), emergency_types=T|T
 *                  (med_type, default 13), chronic_types=T|T (default
 *                  14|9901), catalogue=L (default catalogue): the
 *                  supply of a drug line, cnt x units / (dose x freq)
 *                  of its catalogue row, over the limit of the visit's
 *                  med_type
 *     repeat_rx    tolerance=N days (default 1): a drug whose earlier
 *                  supply (of this visit or of the person's earlier
 *                  visits the caller gives) reaches more than N days
 *                  past this line's day
 *     price_cap    catalogue=L: pric over the catalogue row's cap
 *     drug_list    lists=L|L, integrated=L|L (the lists a clinic that
 *                  settles through its township hospital may use too):
 *                  a drug line whose code is on none of them
 *     gender       list=L, gend=1|2: an L item for a person of the
 *                  other gender
 *     age          list=L, min_age=N, max_age=N: an L item for a person
 *                  outside the ages (whole years on the visit's day)
 *     doctor       list=L, except_types=T|T: a line billed by a doctor
 *                  on L (payment eligibility suspended)
 *
 * Lists file (several may be given): UTF-8 TSV, one entry per line:
 *
 *     list  scope  code  [attrs]  [name]
 *
 *   list    1..30 of [a-z0-9_]; a rule names it
 *   scope   as for rules: the entry counts for the clinics in scope
 *   code    the national code, 1..50 printable ASCII
 *   attrs   "-" or key=value numbers: units (per unit of cnt), dose
 *           (units a dose), freq (doses a day), cap (price cap); the
 *           most specific row of a code in a list gives them
 *   name    at most 200 bytes
 *
 * The same (list, scope, code) twice is an error naming both places; a
 * rule naming a list no file has is an error naming the rule's line.
 * Everything is copied: the files' bytes may be released.  The audit
 * is built once, before the workers fork, and then only read.
 */

#define YIBAO_AUDIT_MAX_LISTS  64
#define YIBAO_AUDIT_ID_LEN     20


typedef enum {
    YIBAO_AUDIT_OFF = 0,
    YIBAO_AUDIT_SHADOW,
    YIBAO_AUDIT_WARN,
    YIBAO_AUDIT_ENFORCE
} yibao_audit_mode_e;


typedef enum {
    YIBAO_AUDIT_GP_FEE = 0,
    YIBAO_AUDIT_SPLIT_VISIT,
    YIBAO_AUDIT_SUPPLY_DAYS,
    YIBAO_AUDIT_REPEAT_RX,
    YIBAO_AUDIT_PRICE_CAP,
    YIBAO_AUDIT_DRUG_LIST,
    YIBAO_AUDIT_GENDER,
    YIBAO_AUDIT_AGE,
    YIBAO_AUDIT_DOCTOR,
    YIBAO_AUDIT_KIND_MAX
} yibao_audit_kind_e;


/* one fee line; amounts in fixed point: cnt, pric and amt x 10^6 */

typedef struct {
    yibao_str_t           sn;         /* feedetl_sn */
    yibao_str_t           code;       /* med_list_codg (national) */
    yibao_str_t           doctor;     /* bilg_dr_codg (national) */
    int64_t               cnt;
    int64_t               pric;
    int64_t               amt;
    int32_t               day;        /* fee_ocur_time, days since 1970 */
} yibao_audit_line_t;


/* a drug supplied at an earlier visit of the person */

typedef struct {
    yibao_str_t           code;
    int32_t               day;        /* its first day */
    int32_t               days;       /* the supply, whole days */
} yibao_audit_supply_t;


typedef struct {
    yibao_map_scope_t     scope;      /* clinic, entity, region */
    unsigned              integrated; /* settles through its township */
    char                  gend;       /* '1', '2'; 0: unknown */
    int32_t               birth;      /* days since 1970; INT32_MIN: ? */
    int32_t               today;      /* days since 1970 */
    yibao_str_t           med_type;   /* the visit's (2203); may be empty */
    unsigned              visits_today; /* at this clinic, this included */
    const yibao_audit_line_t    *earlier;   /* the visit's, sent before */
    size_t                       nearlier;
    const yibao_audit_supply_t  *history;   /* the person's earlier ones */
    size_t                       nhistory;
    const yibao_str_t           *acks;      /* rule ids acknowledged */
    size_t                       nacks;
} yibao_audit_ctx_t;


typedef struct yibao_audit_rule_s  yibao_audit_rule_t;


typedef struct {
    yibao_str_t           rx_id;      /* the line's feedetl_sn */
    unsigned              type;       /* 1 违规项, 2 涉及项 */
    int64_t               amt;        /* x 10^6 */
} yibao_audit_detail_t;


typedef struct {
    const yibao_audit_rule_t    *rule;
    yibao_audit_mode_e           mode;
    unsigned                     sev;
    unsigned                     acked;     /* acknowledged, allowed */
    int64_t                      amt;       /* vola_amt x 10^6 */
    char                         cont[160]; /* vola_cont */
    yibao_audit_detail_t        *details;
    size_t                       ndetails;
} yibao_audit_finding_t;


typedef struct {
    yibao_audit_finding_t       *findings;
    size_t                       n;
    yibao_audit_mode_e           worst;     /* of the unacknowledged */
} yibao_audit_result_t;


typedef struct yibao_audit_s  yibao_audit_t;


/* NULL on allocation failure. */
yibao_audit_t *yibao_audit_create(yibao_alloc_t *a);

/*
 * Reads the rules file (once).  YIBAO_OK, or an error with err->line
 * and err->msg naming the column and quoting the value.
 */
int yibao_audit_add_rules(yibao_audit_t *au, const unsigned char *data,
    size_t len, yibao_err_t *err);

/*
 * Reads one lists file; label (the file's name, may be NULL) names it
 * in build()'s messages about duplicates across files.
 */
int yibao_audit_add_lists(yibao_audit_t *au, const yibao_str_t *label,
    const unsigned char *data, size_t len, yibao_err_t *err);

/*
 * Indexes the lists and checks that every list a rule names exists;
 * err->line is then the rule's line ("rules" in err->msg) or the later
 * of two duplicate entries.
 */
int yibao_audit_build(yibao_audit_t *au, yibao_err_t *err);

size_t yibao_audit_rules(const yibao_audit_t *au);
size_t yibao_audit_entries(const yibao_audit_t *au);

const char *yibao_audit_mode_name(yibao_audit_mode_e mode);
const char *yibao_audit_kind_name(yibao_audit_kind_e kind);
yibao_str_t yibao_audit_rule_id(const yibao_audit_rule_t *rule);
yibao_str_t yibao_audit_rule_name(const yibao_audit_rule_t *rule);
yibao_audit_kind_e yibao_audit_rule_kind(const yibao_audit_rule_t *rule);
unsigned yibao_audit_rule_ack(const yibao_audit_rule_t *rule);

/* 1 if a rule of the kind applies to the clinic in a mode but off */
int yibao_audit_wants(const yibao_audit_t *au,
    const yibao_map_scope_t *scope, yibao_audit_kind_e kind);

/*
 * Audits lines[0..n) with ctx: res gets the findings (from a), in the
 * rules file's order.  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_audit_run(const yibao_audit_t *au, const yibao_audit_ctx_t *ctx,
    const yibao_audit_line_t *lines, size_t n, yibao_alloc_t *a,
    yibao_audit_result_t *res);

/*
 * The fee lines of a 2204's input (feedetail[]): national codes, the
 * numbers as numbers or numeric strings.  A row without a usable
 * med_list_codg or with a malformed number is skipped (the envelope's
 * checks and the platform refuse it).
 */
int yibao_audit_lines(json_t *input, yibao_alloc_t *a,
    yibao_audit_line_t **lines, size_t *n);

/*
 * The findings in the 3101 result shape: an array of objects with
 * jr_id (jr + "-" + the finding's number), rule_id, rule_name,
 * vola_cont, sev_deg, vola_amt, vola_amt_stas, vola_bhvr_type, mode,
 * judge_result_detail_dtos [{jrd_id, rx_id (the feedetl_sn),
 * vola_item_type, vola_amt}], and ack true when acknowledged.  Only
 * findings of modes in mask (bit 1 << mode) are given.  NULL on
 * allocation failure.
 */
json_t *yibao_audit_json(const yibao_audit_result_t *res,
    const yibao_str_t *jr, unsigned mask);

/*
 * The whole days of supply of a drug line by its catalogue row (the
 * list "catalogue": cnt x units / (dose x freq), rounded up), for the
 * person's history; 0 when the catalogue does not say.
 */
int32_t yibao_audit_supply(const yibao_audit_t *au,
    const yibao_map_scope_t *scope, const yibao_audit_line_t *line);

/*
 * The days since 1970-01-01 of "yyyy-MM-dd" (and anything after), or
 * INT32_MIN when it is not a date of the calendar (2026-02-30 is not).
 */
int32_t yibao_audit_day(const unsigned char *p, size_t len);

/*
 * A decimal (digits, optional "." and at most 6 more) x 10^6 in *v;
 * YIBAO_OK or YIBAO_ERR_INVALID (also for a value over 10^12).
 */
int yibao_audit_fixed(const unsigned char *p, size_t len, int64_t *v);


/*
 * What the gateway keeps of a person, per contracting entity, in the
 * store (with an expiry): the visits with fee lines and their lines, as
 * text, one record a line, TAB-separated:
 *
 *     v  mdtrt_id  clinic  day
 *     l  mdtrt_id  day  days  feedetl_sn  code  doctor  cnt  pric  amt
 *
 * (day: days since 1970; days: the line's supply, 0 when unknown;
 * amounts x 10^6).  No name, no ID number, no psn_no.
 */

typedef struct {
    yibao_str_t           mdtrt_id;
    yibao_str_t           clinic;
    int32_t               day;
} yibao_audit_visit_t;


typedef struct {
    yibao_str_t           mdtrt_id;
    int32_t               days;
    yibao_audit_line_t    line;
} yibao_audit_kept_t;


typedef struct {
    yibao_audit_visit_t  *visits;
    size_t                nvisits;
    yibao_audit_kept_t   *lines;
    size_t                nlines;
} yibao_audit_history_t;


/*
 * Reads a kept record (data may be empty: no history); lines that do
 * not read are skipped.  Strings point into data.  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */
int yibao_audit_history_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_audit_history_t *h);

/*
 * Fills ctx's earlier lines (the visit's), history (the drugs of the
 * person's other visits with a known supply) and visits_today (the
 * person's visits at ctx's clinic on ctx->today, this one included)
 * from h.  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_audit_history_context(const yibao_audit_history_t *h,
    const yibao_str_t *mdtrt_id, yibao_audit_ctx_t *ctx, yibao_alloc_t *a);

/*
 * The record to keep once lines[0..n) of the visit are accepted: h's
 * visits and lines from ctx->today - window_days on, the visit added if
 * new, the lines appended with their supply (yibao_audit_supply), at
 * most max_lines lines (the oldest dropped).  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */
int yibao_audit_history_write(const yibao_audit_t *au,
    const yibao_audit_history_t *h, const yibao_audit_ctx_t *ctx,
    const yibao_str_t *mdtrt_id, const yibao_audit_line_t *lines, size_t n,
    int32_t window_days, size_t max_lines, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * The acknowledgements of a request's input, "yb_audit_ack": a string
 * or an array of strings "RULE_ID" or "RULE_ID:reason"; the key is
 * removed from input (it is the gateway's, never sent).  *acks gets the
 * rule ids.  YIBAO_OK, YIBAO_ERR_INVALID (not strings; err says where)
 * or YIBAO_ERR_NOMEM.
 */
int yibao_audit_acks(json_t *input, yibao_alloc_t *a, yibao_str_t **acks,
    size_t *n, yibao_err_t *err);

/*
 * Adds findings (a yibao_audit_json() array, referenced) to an
 * envelope: output.yb_audit (output made an object when it is not
 * one); with warn, "rule_id rule_name: vola_cont" of each joined with
 * "; " is appended to warn_msg.  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_audit_attach(json_t *doc, json_t *findings, unsigned warn);

/*
 * The store's key of what the audit keeps of a person or a visit:
 * "yibao:audit:<kind>:<entity>:<32 hex digits>", the digits the first
 * 16 bytes of HMAC-SHA256 of id (a psn_no, a mdtrt_id) under the
 * installation's secret, so that the id cannot be found again from the
 * key by trying every possible id (as a plain digest allows) without
 * the secret.  kind is "p", "l" or "m"; an empty id is keyed as "-".
 * out->data is allocated from a.  YIBAO_OK, YIBAO_ERR_CRYPTO or
 * YIBAO_ERR_NOMEM.
 */

#define YIBAO_AUDIT_SECRET_MIN  32

/*
 * The secret of a key file's bytes: the whole file but its trailing
 * spaces and line ends, at least YIBAO_AUDIT_SECRET_MIN bytes (the
 * demo and the Debian package write 64 hex digits, 256 random bits).
 * YIBAO_OK, or YIBAO_ERR_INVALID with err->msg saying why.
 */
int yibao_audit_secret(const unsigned char *data, size_t len,
    yibao_str_t *secret, yibao_err_t *err);

int yibao_audit_store_key(const yibao_str_t *secret, const char *kind,
    const yibao_str_t *entity, const yibao_str_t *id, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * The findings for the transaction log: "rule_id:mode:sev:vola_amt"
 * joined with " ", "+ack" after an acknowledged one; only ids, modes
 * and amounts (no personal data).  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_audit_log(const yibao_audit_result_t *res, yibao_alloc_t *a,
    yibao_str_t *out);


/*
 * The platform's audit (3101 事前 / 3102 事中, 明细审核分析服务):
 * what the gateway knows of the visit, and its lines, as the input of the
 * interface: {node (normally "data"; Hainan's 3660/3661 "trigScen"):
 * {...}}, the object's fields as the mapping (below) says.  A new
 * reference, or NULL.
 */

typedef struct {
    yibao_str_t           node;
    yibao_str_t           syscode;
    yibao_str_t           task_id;      /* the msgid */
    yibao_str_t           trig_scen;
    yibao_str_t           psn_no;
    yibao_str_t           gend;
    yibao_str_t           brdy;
    yibao_str_t           poolarea;     /* insuplc_admdvs */
    yibao_str_t           mdtrt_id;
    yibao_str_t           entity;
    yibao_str_t           entity_name;
    yibao_str_t           admdvs;
    yibao_str_t           med_type;
    yibao_str_t           diag;         /* 2203's first diagnosis */
} yibao_audit_remote_t;


/*
 * The mapping of the visit to the input (a file, directive
 * yibao_audit_platform map=; the shipped one is conf/audit-3101.tsv):
 * UTF-8 TSV, '#' comments, one field per line, exactly one TAB between
 * the columns "level field source":
 *
 *   level   data | patient | encounter | diagnose | order
 *   field   the JSON key, 1..YIBAO_AUDIT_MAP_KEY of [A-Za-z0-9_], once
 *           per level
 *   source  a value of the visit (yibao_audit_remote_t's syscode ..
 *           diag, by the member's name); on order lines a value of the
 *           fee line: line.sn, line.code, line.doctor, line.cnt,
 *           line.pric, line.amt (numbers); "text" (UTF-8, no '"',
 *           '\' or control character inside); an integer; or
 *           [level], the array of a level inside this one: [patient]
 *           in data, [encounter] in patient, [diagnose] and [order] in
 *           encounter, each exactly once.
 *
 * One patient and one encounter; one diagnose object when diag is not
 * empty, none otherwise; one order object per fee line.  Keys are
 * written in the file's order.
 */

#define YIBAO_AUDIT_MAP_KEY  40

typedef struct yibao_audit_map_s  yibao_audit_map_t;

/*
 * Parses a mapping file; the map points into data, which must outlive
 * it.  NULL on error: err->line is the line (for a level never placed,
 * the last field's line, 1 in an empty file), err->msg names the
 * column and quotes the value, or
 * says "out of memory".
 */
yibao_audit_map_t *yibao_audit_map_parse(const unsigned char *data,
    size_t len, yibao_alloc_t *a, yibao_err_t *err);

json_t *yibao_audit_remote_input(const yibao_audit_map_t *map,
    const yibao_audit_remote_t *v, const yibao_audit_line_t *lines,
    size_t n);

/*
 * The platform's answer: YIBAO_OK with *findings (a new reference: an
 * array of its result objects, empty when it found nothing), each given
 * "mode" (mode) and "source" "platform"; *worst the most severe mode
 * among them: mode for a finding of sev_deg 1, at most warn for the
 * others.  YIBAO_ERR_INVALID when the answer is not a success (not
 * JSON, infcode not 0, or infcode 0 with an err_msg, as some provinces
 * answer a failure, or {"code":...}): why says what.
 */
int yibao_audit_remote_answer(const unsigned char *data, size_t len,
    yibao_audit_mode_e mode, json_t **findings, yibao_audit_mode_e *worst,
    char *why, size_t size);

/*
 * The platform's findings (yibao_audit_remote_answer()) for the
 * transaction log, as yibao_audit_log() gives the gateway's:
 * "infno:rule_id:mode:sev_deg:vola_amt" joined with " ".  rule_id and
 * a sev_deg that is a string are the platform's text: shown as
 * yibao_echo() shows an outside value (quotes, backslashes and control
 * characters as '?', other than ASCII as '*', ID-number-long digit runs
 * masked, at most YIBAO_AUDIT_REMOTE_ECHO characters), and the field's
 * separators ' ' and ':' as '?' too, so that one finding is always one
 * word of five fields; an amount beyond 10^12 as "?".  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */

#define YIBAO_AUDIT_REMOTE_ECHO  40

int yibao_audit_remote_log(const yibao_str_t *infno, json_t *findings,
    yibao_audit_mode_e mode, yibao_alloc_t *a, yibao_str_t *out);


#endif /* _YIBAO_AUDIT_H_INCLUDED_ */
