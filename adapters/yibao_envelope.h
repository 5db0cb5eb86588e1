/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_ENVELOPE_H_INCLUDED_
#define _YIBAO_ENVELOPE_H_INCLUDED_


#include "yibao_types.h"


/*
 * The national request and response envelopes
 * (the national interface specification).
 *
 * A parsed request keeps its JSON document (jansson, which allocates
 * with malloc internally): the owner releases it with
 * yibao_envelope_free() on every path; the glue ties that to a pool
 * cleanup.  The yibao_str_t fields point into the document and live
 * as long as it does.
 */

typedef struct {
    size_t                max_depth;    /* nesting, the envelope is 1 */
    size_t                max_values;   /* JSON values in the document */
} yibao_envelope_limits_t;


typedef struct {
    void                 *doc;          /* json_t *, owned */
    size_t                text_len;     /* of the text it was parsed from */

    yibao_str_t           infno;
    yibao_str_t           msgid;
    yibao_str_t           mdtrtarea_admvs;
    yibao_str_t           insuplc_admdvs;
    yibao_str_t           fixmedins_code;
    yibao_str_t           fixmedins_name;
    yibao_str_t           opter;
    yibao_str_t           inf_time;
    yibao_str_t           sign_no;
} yibao_envelope_t;


/*
 * Parses and validates a request envelope: valid UTF-8 JSON object, no
 * duplicate keys, within the limits, every national field present with
 * the right shape, "input" an object.  Returns YIBAO_OK (env filled,
 * env->doc owned by the caller) or an error with err->gwerr one of
 * YIBAO_GWERR_BODY_EMPTY, _JSON_INVALID, _JSON_TOO_DEEP,
 * _JSON_TOO_MANY, _ENVELOPE_NOT_OBJECT, _FIELD_MISSING,
 * _FIELD_INVALID, _INPUT_NOT_OBJECT and a message naming the field
 * or the byte position; env->doc is NULL then.
 */
int yibao_envelope_parse(const unsigned char *data, size_t len,
    const yibao_envelope_limits_t *limits, yibao_envelope_t *env,
    yibao_err_t *err);

/* Releases env->doc; safe to call twice and on a failed parse. */
void yibao_envelope_free(yibao_envelope_t *env);

/*
 * The upstream msgid rule: when the envelope's fixmedins_code is the
 * entity's code the caller's msgid is sent as it is and must have the
 * platform's shape (entity code + yyyyMMddHHmmss + 4 digits): returns
 * 0 then, or YIBAO_ERR_INVALID with err filled if it has not.
 * Otherwise returns 1: the gateway must issue a fresh msgid.
 */
int yibao_envelope_msgid_plan(const yibao_envelope_t *env,
    const yibao_str_t *entity_code, yibao_err_t *err);

/*
 * Sets fixmedins_code, fixmedins_name and (when msgid is not NULL)
 * msgid in the document; the str fields of env follow.  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */
int yibao_envelope_set_entity(yibao_envelope_t *env,
    const yibao_str_t *code, const yibao_str_t *name,
    const yibao_str_t *msgid);

/*
 * Sets sign_no in the document; env->sign_no follows.  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */
int yibao_envelope_set_sign_no(yibao_envelope_t *env,
    const yibao_str_t *sign_no);

/*
 * Serializes the document compactly, in its key order, keeping numbers
 * exact: integers as read, reals in the shortest form that reads back
 * to the same double (25.20 is sent as 25.2, never 25.199999999999999).
 * out->data is allocated from a.  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_envelope_serialize(const yibao_envelope_t *env, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * Serializes any JSON value (a json_t *, e.g. a parsed answer) the same
 * way: compact, key order kept, numbers exact.  out->data is allocated
 * from a.  YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_json_serialize(void *json, yibao_alloc_t *a, yibao_str_t *out);

/*
 * The same, written in one pass into hint bytes from a when it fits (so
 * a good guess saves the measuring pass), else as yibao_json_serialize()
 * does; hint 0 is no guess.
 */
int yibao_json_serialize_hint(void *json, size_t hint, yibao_alloc_t *a,
    yibao_str_t *out);

/*
 * The inside of a JSON string for s[0..n), as jansson writes it: '"' and
 * '\\' escaped, \b \f \n \r \t, the other control characters as
 * \u00XX (upper-case hex), every other byte as it is; with
 * YIBAO_JSON_ESCAPE_HTML also '<', '>', '&' and DEL as \u00XX, so that
 * the text is safe inside an HTML page.  put(ctx, p, len) is called for
 * each run of the output.  The one JSON string writer: the wire (the
 * envelope), the canonical text (cache keys, journal hashes) and the
 * status documents.
 */
#define YIBAO_JSON_ESCAPE_HTML  1

void yibao_json_escape(const unsigned char *s, size_t n, unsigned flags,
    void (*put)(void *ctx, const void *p, size_t len), void *ctx);

/*
 * The same inside (without YIBAO_JSON_ESCAPE_HTML) in one piece:
 * yibao_json_escaped_len() is its length, yibao_json_escape_into()
 * writes it at dst, which has room for that many bytes (at most 6 n),
 * and returns the length.
 */
size_t yibao_json_escaped_len(const unsigned char *s, size_t n);
size_t yibao_json_escape_into(unsigned char *dst, const unsigned char *s,
    size_t n);

/*
 * The string at input.<node>.<key> (e.g. input.data.omsgid): YIBAO_OK
 * with out pointing into the document, or YIBAO_ERR_NOT_FOUND when it is
 * absent or not a string.
 */
int yibao_envelope_input_get(const yibao_envelope_t *env, const char *node,
    const char *key, yibao_str_t *out);

/*
 * Replaces the string at input.<node>.<key>, which must exist.  YIBAO_OK,
 * YIBAO_ERR_NOT_FOUND or YIBAO_ERR_NOMEM.
 */
int yibao_envelope_input_set(yibao_envelope_t *env, const char *node,
    const char *key, const yibao_str_t *value);


/* What the platform answered. */

typedef struct {
    unsigned              is_json:1;
    unsigned              is_envelope:1;   /* object with infcode */
    int                   infcode;         /* 0 success, -1 failure */
    char                  summary[256];    /* err_msg, or what it was */
} yibao_answer_t;


/*
 * Inspects an answer body (read only).  An envelope has "infcode" as
 * the number 0 or -1 or the strings "0" or "-1".  For anything else
 * summary describes what came instead, for example
 * 'code 401 message "..."', truncated, with control characters
 * removed and runs of 15 or more digits masked.  Always returns
 * YIBAO_OK except on YIBAO_ERR_NOMEM.
 */
int yibao_answer_inspect(const unsigned char *data, size_t len,
    yibao_answer_t *ans);

/*
 * The same, keeping what was parsed, so that an answer is parsed once
 * for its inspection, the fields of the log and the answer rules: *doc
 * is the JSON tree (a json_t *) when data is JSON, NULL otherwise; it
 * is to be released with yibao_answer_release() (which takes NULL).
 */
int yibao_answer_parse(const unsigned char *data, size_t len,
    yibao_answer_t *ans, void **doc);

/*
 * The same, with the summary masked as yibao_mask_digits() and
 * yibao_mask_values() mask (the nmask values: the transaction's psn_no
 * and name) before it is cut, since the platform's message may quote
 * them.
 */
int yibao_answer_parse_masked(const unsigned char *data, size_t len,
    const yibao_str_t *mask, size_t nmask, yibao_answer_t *ans, void **doc);
void yibao_answer_release(void *doc);

/*
 * Copies data to out replacing every JSON string token "from" by "to"
 * (both [A-Za-z0-9], so no escaping is involved).  Used to give the
 * caller back its own msgid.  *count receives the number replaced.
 * YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_answer_replace_token(const unsigned char *data, size_t len,
    const yibao_str_t *from, const yibao_str_t *to, yibao_alloc_t *a,
    yibao_str_t *out, size_t *count);


/*
 * Renders the gateway's error envelope: infcode -1, err_msg "YBnnnn "
 * followed by text (JSON-escaped), refmsg_time and respond_time from
 * now as yyyyMMddHHmmssSSS.  out->data is allocated from a.
 * YIBAO_OK or YIBAO_ERR_NOMEM.
 */
int yibao_envelope_error(int gwerr, const char *text, const yibao_tm_t *now,
    yibao_alloc_t *a, yibao_str_t *out);


#endif /* _YIBAO_ENVELOPE_H_INCLUDED_ */
