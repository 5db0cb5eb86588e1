/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>

#include "yibao_journal.h"
#include "yibao_json.h"
#include "yibao_codes.h"
#include "yibao_envelope.h"
#include "yibao_fields.h"


const char  yibao_journal_claim_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then return {0, cur} end\n"
    "if ARGV[4] == '1' then return {2} end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('SET', KEYS[2], KEYS[1], 'PX', ARGV[2])\n"
    "if ARGV[3] == '1' then redis.call('SADD', KEYS[3], KEYS[1]) end\n"
    "for i = 4, #KEYS do\n"
    "  redis.call('SADD', KEYS[i], KEYS[1])\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[2])\n"
    "end\n"
    "return {1}\n";

/*
 * The record was written to a side key (ARGV[1], in KEYS[1]'s hash slot)
 * by a plain SET just before: renamed over the record, with the record's
 * expiry (none: none; no record: the ttl), what SET KEEPTTL of the value
 * did.  A record of tens of KB handed to Lua as an argument costs Redis
 * some 150 us a call; the SET and the RENAME a few.
 */

const char  yibao_journal_update_script[] =
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "redis.call('RENAME', ARGV[1], KEYS[1])\n"
    "if ttl > 0 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "elseif ttl == -1 then\n"
    "  redis.call('PERSIST', KEYS[1])\n"
    "else\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "end\n"
    "do\n"
    "  if ARGV[2] == 'unknown' then\n"
    "    redis.call('SADD', KEYS[2], KEYS[1])\n"
    "  else\n"
    "    redis.call('SREM', KEYS[2], KEYS[1])\n"
    "  end\n"
    "  if ARGV[4] == '1' then\n"
    "    redis.call('SADD', KEYS[3], KEYS[1])\n"
    "    redis.call('PEXPIRE', KEYS[3], ARGV[3])\n"
    "  else\n"
    "    redis.call('SREM', KEYS[3], KEYS[1])\n"
    "  end\n"
    "  for i = 4, #KEYS do\n"
    "    redis.call('SADD', KEYS[i], KEYS[1])\n"
    "    redis.call('PEXPIRE', KEYS[i], ARGV[3])\n"
    "  end\n"
    "end\n"
    "return 1\n";

const char  yibao_journal_list_script[] =
    "local out = {}\n"
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local v = redis.call('GET', k)\n"
    "  if v then out[#out + 1] = v else redis.call('SREM', KEYS[1], k) end\n"
    "end\n"
    "return out\n";

/* the list for one node's resolver per interval (the lock's ttl) */

const char  yibao_journal_list_once_script[] =
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return false\n"
    "end\n"
    "local out = {}\n"
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local v = redis.call('GET', k)\n"
    "  if v then out[#out + 1] = v else redis.call('SREM', KEYS[1], k) end\n"
    "end\n"
    "return out\n";


const char  yibao_journal_resolve_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur then return false end\n"
    "local j = cjson.decode(cur)\n"
    "j.state = ARGV[1]\n"
    "j.reason = 'resolved'\n"
    "j.resolved_by = 'operator'\n"
    "j.resolved_ms = tonumber(ARGV[3])\n"
    "if ARGV[2] ~= '' then j.setl_id = ARGV[2] end\n"
    "local v = cjson.encode(j)\n"
    "redis.call('SET', KEYS[1], v, 'XX', 'KEEPTTL')\n"
    "redis.call('SREM', KEYS[2], KEYS[1])\n"
    "for i = 3, #KEYS do\n"
    "  redis.call('SADD', KEYS[i], KEYS[1])\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[4])\n"
    "end\n"
    "return v\n";


static const char  *yibao_journal_states[] = {
    "", "sent", "ok", "failed", "unknown", "reversed"
};


static int yibao_journal_set_str(json_t *o, const char *key,
    const yibao_str_t *s);
static int yibao_journal_get_str(json_t *o, const char *key,
    yibao_alloc_t *a, yibao_str_t *out);
static int yibao_journal_set_opt(json_t *o, const char *key,
    const yibao_str_t *s);
static int yibao_journal_render_resolver(const yibao_journal_t *j,
    json_t *o);
static int yibao_journal_parse_resolver(json_t *o, yibao_alloc_t *a,
    yibao_journal_t *j);
static int yibao_journal_parse_object(json_t *o, yibao_alloc_t *a,
    yibao_journal_t *j);


const char *
yibao_journal_state_name(yibao_journal_state_e state)
{
    if (state > YIBAO_JOURNAL_REVERSED) {
        return "";
    }

    return yibao_journal_states[state];
}


yibao_journal_state_e
yibao_journal_state_parse(const unsigned char *p, size_t len)
{
    int  i;

    for (i = YIBAO_JOURNAL_SENT; i <= YIBAO_JOURNAL_REVERSED; i++) {
        if (strlen(yibao_journal_states[i]) == len
            && memcmp(yibao_journal_states[i], p, len) == 0)
        {
            return (yibao_journal_state_e) i;
        }
    }

    return YIBAO_JOURNAL_NONE;
}




int
yibao_journal_render(const yibao_journal_t *j, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int      rc;
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    rc = json_object_set_new(o, "v", json_integer(1))
         | json_object_set_new(o, "state",
                               json_string(yibao_journal_state_name(
                                               j->state)))
         | yibao_journal_set_str(o, "caller", &j->caller)
         | yibao_journal_set_str(o, "msgid", &j->msgid)
         | yibao_journal_set_str(o, "upstream_msgid", &j->upstream_msgid)
         | yibao_journal_set_str(o, "infno", &j->infno)
         | yibao_journal_set_str(o, "clinic", &j->clinic)
         | yibao_journal_set_str(o, "entity", &j->entity)
         | yibao_journal_set_str(o, "hash", &j->hash)
         | json_object_set_new(o, "sent_ms",
                               json_integer((json_int_t) j->sent_ms))
         | json_object_set_new(o, "done_ms",
                               json_integer((json_int_t) j->done_ms))
         | yibao_journal_set_str(o, "mdtrt_id", &j->mdtrt_id)
         | yibao_journal_set_str(o, "setl_id", &j->setl_id)
         | json_object_set_new(o, "infcode",
                               j->infcode_set ? json_integer(j->infcode)
                                              : json_null())
         | yibao_journal_set_str(o, "reason", &j->reason)
         | (j->gwerr ? json_object_set_new(o, "gwerr",
                                           json_integer(j->gwerr))
                     : 0)
         | yibao_journal_set_str(o, "answer", &j->answer)
         | yibao_journal_set_opt(o, "day", &j->day)
         | yibao_journal_set_opt(o, "platform_setl_id", &j->platform_setl_id)
         | yibao_journal_set_opt(o, "setl_time", &j->setl_time)
         | yibao_journal_set_opt(o, "insutype", &j->insutype)
         | yibao_journal_set_opt(o, "clr_type", &j->clr_type)
         | yibao_journal_set_opt(o, "medfee_sumamt", &j->medfee_sumamt)
         | yibao_journal_set_opt(o, "fund_pay_sumamt", &j->fund_pay_sumamt)
         | yibao_journal_set_opt(o, "acct_pay", &j->acct_pay)
         | yibao_journal_set_opt(o, "fixmedins_setl_cnt", &j->setl_cnt)
         | yibao_journal_set_opt(o, "stmt_begndate", &j->stmt_begndate)
         | yibao_journal_set_opt(o, "stmt_enddate", &j->stmt_enddate)
         | yibao_journal_set_opt(o, "stmt_rslt", &j->stmt_rslt)
         | yibao_journal_set_opt(o, "stmt_rslt_dscr", &j->stmt_rslt_dscr)
         | yibao_journal_render_resolver(j, o);

    if (rc != 0) {
        json_decref(o);
        return YIBAO_ERR_NOMEM;
    }

    /* written at once when the answer's escapes and the other fields
     * fit in what is guessed: the answer is most of a record */

    rc = yibao_json_serialize_hint(o, j->answer.len + j->answer.len / 4
                                      + j->reason.len + 2048, a, out);
    json_decref(o);

    return rc == YIBAO_OK ? YIBAO_OK : YIBAO_ERR_NOMEM;
}


/* a field of the reconciliation part: left out when empty */

static int
yibao_journal_set_opt(json_t *o, const char *key, const yibao_str_t *s)
{
    if (s->len == 0) {
        return 0;
    }

    return yibao_journal_set_str(o, key, s);
}


static int
yibao_journal_set_str(json_t *o, const char *key, const yibao_str_t *s)
{
    json_t  *v;

    if (s->len == 0) {
        return json_object_set_new(o, key, json_string(""));
    }

    /* jansson checks the UTF-8 of what it is not told is: the code's
     * check is the same (but refuses NUL), 8 bytes of ASCII at a time */

    v = yibao_code_is_utf8(s->data, s->len)
        ? json_stringn_nocheck((const char *) s->data, s->len)
        : json_stringn((const char *) s->data, s->len);

    /* not UTF-8 (cannot happen for what the gateway validated): drop */

    return json_object_set_new(o, key, v != NULL ? v : json_string(""));
}


int
yibao_journal_parse(const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_journal_t *j)
{
    int           rc;
    json_t       *o;
    json_error_t  jerr;

    memset(j, 0, sizeof(yibao_journal_t));

    o = yibao_json_load((const char *) data, len, 0, &jerr);

    if (o == NULL) {
        return YIBAO_ERR_SYNTAX;
    }

    rc = yibao_journal_parse_object(o, a, j);

    json_decref(o);

    return rc;
}


int
yibao_journal_parse_list(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_journal_t **out, size_t *n)
{
    int           rc;
    size_t        i;
    json_t       *o;
    json_error_t  jerr;

    *out = NULL;
    *n = 0;

    o = yibao_json_load((const char *) data, len, 0, &jerr);

    if (o == NULL || !json_is_array(o)) {
        json_decref(o);
        return YIBAO_ERR_SYNTAX;
    }

    if (json_array_size(o) == 0) {
        json_decref(o);
        return YIBAO_OK;
    }

    *out = yibao_alloc(a, json_array_size(o) * sizeof(yibao_journal_t));
    if (*out == NULL) {
        json_decref(o);
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0; i < json_array_size(o); i++) {
        memset(&(*out)[*n], 0, sizeof(yibao_journal_t));

        rc = yibao_journal_parse_object(json_array_get(o, i), a, &(*out)[*n]);

        if (rc == YIBAO_ERR_NOMEM) {
            json_decref(o);
            return rc;
        }

        if (rc == YIBAO_OK) {
            (*n)++;
        }
    }

    json_decref(o);

    return YIBAO_OK;
}


static int
yibao_journal_parse_object(json_t *o, yibao_alloc_t *a, yibao_journal_t *j)
{
    int           rc;
    json_t       *v;
    yibao_str_t   state;

    if (!json_is_object(o)
        || json_integer_value(json_object_get(o, "v")) != 1)
    {
        return YIBAO_ERR_SYNTAX;
    }

    rc = yibao_journal_get_str(o, "state", a, &state)
         | yibao_journal_get_str(o, "caller", a, &j->caller)
         | yibao_journal_get_str(o, "msgid", a, &j->msgid)
         | yibao_journal_get_str(o, "upstream_msgid", a, &j->upstream_msgid)
         | yibao_journal_get_str(o, "infno", a, &j->infno)
         | yibao_journal_get_str(o, "clinic", a, &j->clinic)
         | yibao_journal_get_str(o, "entity", a, &j->entity)
         | yibao_journal_get_str(o, "hash", a, &j->hash)
         | yibao_journal_get_str(o, "mdtrt_id", a, &j->mdtrt_id)
         | yibao_journal_get_str(o, "setl_id", a, &j->setl_id)
         | yibao_journal_get_str(o, "reason", a, &j->reason)
         | yibao_journal_get_str(o, "answer", a, &j->answer)
         | yibao_journal_get_str(o, "day", a, &j->day)
         | yibao_journal_get_str(o, "platform_setl_id", a,
                                 &j->platform_setl_id)
         | yibao_journal_get_str(o, "setl_time", a, &j->setl_time)
         | yibao_journal_get_str(o, "insutype", a, &j->insutype)
         | yibao_journal_get_str(o, "clr_type", a, &j->clr_type)
         | yibao_journal_get_str(o, "medfee_sumamt", a, &j->medfee_sumamt)
         | yibao_journal_get_str(o, "fund_pay_sumamt", a,
                                 &j->fund_pay_sumamt)
         | yibao_journal_get_str(o, "acct_pay", a, &j->acct_pay)
         | yibao_journal_get_str(o, "fixmedins_setl_cnt", a, &j->setl_cnt)
         | yibao_journal_get_str(o, "stmt_begndate", a, &j->stmt_begndate)
         | yibao_journal_get_str(o, "stmt_enddate", a, &j->stmt_enddate)
         | yibao_journal_get_str(o, "stmt_rslt", a, &j->stmt_rslt)
         | yibao_journal_get_str(o, "stmt_rslt_dscr", a,
                                 &j->stmt_rslt_dscr)
         | yibao_journal_parse_resolver(o, a, j);

    if (rc != 0) {
        return YIBAO_ERR_NOMEM;
    }

    j->state = yibao_journal_state_parse(state.data, state.len);
    j->sent_ms = (uint64_t) json_integer_value(json_object_get(o, "sent_ms"));
    j->done_ms = (uint64_t) json_integer_value(json_object_get(o, "done_ms"));

    v = json_object_get(o, "infcode");

    if (json_is_integer(v)) {
        j->infcode = (int) json_integer_value(v);
        j->infcode_set = 1;
    }

    v = json_object_get(o, "gwerr");

    if (json_is_integer(v) && json_integer_value(v) > 0
        && json_integer_value(v) < 10000)
    {
        j->gwerr = (int) json_integer_value(v);
    }

    return j->state == YIBAO_JOURNAL_NONE ? YIBAO_ERR_SYNTAX : YIBAO_OK;
}


/*
 * The resolver's fields: written only when set, so that the records of
 * transactions it never resolves stay as they were.
 */

static int
yibao_journal_render_resolver(const yibao_journal_t *j, json_t *o)
{
    int           rc;
    json_t       *head;
    json_error_t  jerr;

    rc = 0;

    if (j->psn_no.len) {
        rc |= yibao_journal_set_str(o, "psn_no", &j->psn_no);
    }

    if (j->head.len) {
        head = yibao_json_load((const char *) j->head.data, j->head.len, 0,
                          &jerr);

        if (json_is_object(head)) {
            rc |= json_object_set_new(o, "head", head);

        } else {
            json_decref(head);
        }
    }

    if (j->resolved_by.len) {
        rc |= yibao_journal_set_str(o, "resolved_by", &j->resolved_by)
              | json_object_set_new(o, "resolved_ms",
                                    json_integer((json_int_t)
                                                 j->resolved_ms));
    }

    if (j->attempts) {
        rc |= json_object_set_new(o, "attempts",
                                  json_integer((json_int_t) j->attempts))
              | json_object_set_new(o, "retry_ms",
                                    json_integer((json_int_t) j->retry_ms))
              | yibao_journal_set_str(o, "resolve_error", &j->resolve_error);
    }

    return rc;
}


static int
yibao_journal_parse_resolver(json_t *o, yibao_alloc_t *a, yibao_journal_t *j)
{
    int      rc;
    json_t  *head;

    rc = yibao_journal_get_str(o, "psn_no", a, &j->psn_no)
         | yibao_journal_get_str(o, "resolved_by", a, &j->resolved_by)
         | yibao_journal_get_str(o, "resolve_error", a, &j->resolve_error);

    j->resolved_ms = (uint64_t) json_integer_value(json_object_get(o,
                                                        "resolved_ms"));
    j->attempts = (unsigned) json_integer_value(json_object_get(o,
                                                        "attempts"));
    j->retry_ms = (uint64_t) json_integer_value(json_object_get(o,
                                                        "retry_ms"));

    j->head.data = (const unsigned char *) "";
    j->head.len = 0;

    head = json_object_get(o, "head");

    if (rc != 0 || !json_is_object(head)) {
        return rc;
    }

    return yibao_json_serialize(head, a, &j->head) == YIBAO_OK ? 0 : -1;
}


/* 0, or -1 on allocation failure; a missing string is empty */

static int
yibao_journal_get_str(json_t *o, const char *key, yibao_alloc_t *a,
    yibao_str_t *out)
{
    size_t          len;
    json_t         *v;
    unsigned char  *p;

    out->data = (const unsigned char *) "";
    out->len = 0;

    v = json_object_get(o, key);

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return 0;
    }

    len = json_string_length(v);

    p = yibao_alloc(a, len);
    if (p == NULL) {
        return -1;
    }

    memcpy(p, json_string_value(v), len);
    out->data = p;
    out->len = len;

    return 0;
}


/* ------------------------------------------------------------------ */
/* Queries and reconciliation */


#define YIBAO_JOURNAL_KEY_PREFIX  "yibao:{journal}:"
#define YIBAO_JOURNAL_GROUPS      64


static const yibao_str_t  yibao_journal_unknown_name = {
    7, (const unsigned char *) "unknown"
};


typedef struct {
    const char            *insutype;
    const char            *clr_type;
    int64_t                medfee;
    int64_t                fund;
    int64_t                acct;
    int64_t                cnt;
} yibao_journal_group_t;


/*
 * A selection: for the totals the records kept; for a list what each
 * record adds to the answer, rendered as it comes (the answer is then
 * put together in one pass, however many records it has).
 */

typedef struct {
    json_int_t              sent_ms;
    json_int_t              done_ms;
    json_int_t              resolved_ms;
    size_t                  n;          /* the order of arrival */
    yibao_str_t             text;       /* the public record, or empty
                                           when it does not answer q */
} yibao_journal_item_t;


/* The totals being made: the groups and the records listed. */

typedef struct {
    const yibao_journal_query_t  *q;
    size_t                        ngroups;
    json_t                       *unknown;
    json_t                       *incomplete;
    json_t                       *stmts;
    yibao_journal_group_t         grp[YIBAO_JOURNAL_GROUPS];
} yibao_journal_totals_t;


static int yibao_journal_id_ok(const yibao_str_t *s);
static int yibao_journal_day_ok(const yibao_str_t *s);
static int yibao_journal_add_key(yibao_alloc_t *a, yibao_str_t *keys,
    size_t *n, const char *kind, const yibao_str_t *v1,
    const yibao_str_t *v2);
static int yibao_journal_text(json_t *o, const char *key, yibao_alloc_t *a,
    yibao_str_t *out);
static int yibao_journal_money_text(json_t *o, const char *key,
    yibao_alloc_t *a, yibao_str_t *out);
static int yibao_journal_cents(const char *p, size_t len, int64_t *cents);
static json_t *yibao_journal_money_json(int64_t cents);
static const char *yibao_journal_field(json_t *o, const char *key);
static int yibao_journal_is(json_t *o, const char *key,
    const yibao_str_t *v);
static int yibao_journal_base(json_t *o, unsigned base);
static int yibao_journal_overdue(const yibao_journal_query_t *q, json_t *o);
static int yibao_journal_match(const yibao_journal_query_t *q, json_t *o);
static json_t *yibao_journal_public_json(const yibao_journal_query_t *q,
    json_t *o);
static int yibao_journal_by_time(const void *x, const void *y);
static int yibao_journal_sel_item(yibao_journal_sel_t *s, json_t *o,
    yibao_journal_item_t *it);
static int yibao_journal_later(json_int_t done, json_int_t resolved,
    json_int_t pdone, json_int_t presolved);
static int yibao_journal_sel_keep(yibao_journal_sel_t *s, json_t *o);
static int yibao_journal_totals_query(const yibao_journal_query_t *q,
    yibao_err_t *err);
static json_t *yibao_journal_totals(const yibao_journal_query_t *q,
    json_t *list);
static int yibao_journal_totals_record(yibao_journal_totals_t *t,
    json_t *o);
static int yibao_journal_totals_list(json_t *list,
    const yibao_journal_query_t *q, json_t *o);
static int yibao_journal_totals_cents(json_t *o, const char *key,
    int64_t *cents);
static yibao_journal_group_t *yibao_journal_totals_group(
    yibao_journal_totals_t *t, const char *insutype, const char *clr_type);
static void yibao_journal_totals_add(yibao_journal_totals_t *t,
    const char *insutype, const char *clr_type, const int64_t *amount);
static json_t *yibao_journal_totals_groups(yibao_journal_totals_t *t,
    int64_t *sum);
static int yibao_journal_totals_statements(yibao_journal_totals_t *t);
static int yibao_journal_totals_given(json_t *res,
    const yibao_journal_query_t *q, const int64_t *sum);
static int yibao_journal_compare(json_t *cmp, const char *name,
    const yibao_str_t *given, int64_t journal);
static int yibao_journal_compare_field(json_t *cmp, json_t *o,
    const char *name, int64_t journal);
static int yibao_journal_dump(json_t *v, yibao_alloc_t *a, yibao_str_t *out);


static int
yibao_journal_id_ok(const yibao_str_t *s)
{
    size_t  i;

    if (s->len == 0 || s->len > 64) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        unsigned char  c = s->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
              || (c >= 'a' && c <= 'z') || c == '.' || c == '_'
              || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
yibao_journal_day_ok(const yibao_str_t *s)
{
    size_t  i;

    if (s->len != 10) {
        return 0;
    }

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s->data[i] != '-') {
                return 0;
            }

        } else if (s->data[i] < '0' || s->data[i] > '9') {
            return 0;
        }
    }

    return 1;
}


void
yibao_journal_day(const yibao_tm_t *tm, char *buf)
{
    snprintf(buf, 11, "%04u-%02u-%02u", (unsigned) tm->year % 10000,
             (unsigned) tm->mon % 100, (unsigned) tm->mday % 100);
}


/* adds "yibao:{journal}:<kind>:<v1>[:<v2>]" unless a value is unfit */

static int
yibao_journal_add_key(yibao_alloc_t *a, yibao_str_t *keys, size_t *n,
    const char *kind, const yibao_str_t *v1, const yibao_str_t *v2)
{
    size_t          i, len;
    unsigned char  *p;

    if (*n >= YIBAO_JOURNAL_INDEX_MAX || !yibao_journal_id_ok(v1)
        || (v2 != NULL && !yibao_journal_day_ok(v2)))
    {
        return YIBAO_OK;
    }

    len = sizeof(YIBAO_JOURNAL_KEY_PREFIX) - 1 + strlen(kind) + 1 + v1->len
          + (v2 != NULL ? 1 + v2->len : 0);

    p = yibao_alloc(a, len);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    i = 0;
    memcpy(p, YIBAO_JOURNAL_KEY_PREFIX, sizeof(YIBAO_JOURNAL_KEY_PREFIX) - 1);
    i += sizeof(YIBAO_JOURNAL_KEY_PREFIX) - 1;
    memcpy(p + i, kind, strlen(kind));
    i += strlen(kind);
    p[i++] = ':';
    memcpy(p + i, v1->data, v1->len);
    i += v1->len;

    if (v2 != NULL) {
        p[i++] = ':';
        memcpy(p + i, v2->data, v2->len);
        i += v2->len;
    }

    /* the same key twice (msgid == upstream msgid): once */

    for (i = 0; i < *n; i++) {
        if (keys[i].len == len && memcmp(keys[i].data, p, len) == 0) {
            return YIBAO_OK;
        }
    }

    keys[*n].data = p;
    keys[*n].len = len;
    (*n)++;

    return YIBAO_OK;
}


int
yibao_journal_index_keys(const yibao_journal_t *j, yibao_alloc_t *a,
    yibao_str_t *keys, size_t *n)
{
    unsigned     base;
    yibao_str_t  sday;

    *n = 0;

    if (yibao_journal_add_key(a, keys, n, "n", &j->msgid, NULL)
        || yibao_journal_add_key(a, keys, n, "n", &j->upstream_msgid, NULL)
        || yibao_journal_add_key(a, keys, n, "m", &j->mdtrt_id, NULL)
        || yibao_journal_add_key(a, keys, n, "s", &j->setl_id, NULL)
        || yibao_journal_add_key(a, keys, n, "s", &j->platform_setl_id,
                                 NULL)
        || yibao_journal_add_key(a, keys, n, "c", &j->clinic, &j->day))
    {
        return YIBAO_ERR_NOMEM;
    }

    /* the entity's day: only what the totals read */

    base = yibao_code_is_infno(j->infno.data, j->infno.len)
           ? (unsigned) yibao_code_number(j->infno.data, 4) : 0;

    if (base != 2207 && base != 2208 && base != 3201) {
        return YIBAO_OK;
    }

    sday.data = j->setl_time.data;
    sday.len = j->setl_time.len >= 10 ? 10 : 0;

    if (yibao_journal_add_key(a, keys, n, "e", &j->entity, &j->day)
        || yibao_journal_add_key(a, keys, n, "e", &j->entity, &sday)
        || yibao_journal_add_key(a, keys, n, "e", &j->entity,
                                 &j->stmt_enddate))
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


int
yibao_journal_problem_key(const yibao_str_t *day, yibao_alloc_t *a,
    yibao_str_t *key)
{
    size_t  n;

    if (!yibao_journal_day_ok(day)) {
        return YIBAO_ERR_INVALID;
    }

    n = 0;

    /* "x:<day>" as kind "x" and id day, checked above */

    if (yibao_journal_add_key(a, key, &n, "x", day, NULL) != YIBAO_OK) {
        return YIBAO_ERR_NOMEM;
    }

    return n == 1 ? YIBAO_OK : YIBAO_ERR_INVALID;
}


int
yibao_journal_problem(const yibao_journal_t *j)
{
    return j->state != YIBAO_JOURNAL_OK
           && yibao_infno_money(j->infno.data, j->infno.len);
}


int
yibao_journal_zone_keys(const unsigned char *record, size_t len,
    yibao_alloc_t *a, yibao_str_t *keys, size_t *n)
{
    int              rc;
    yibao_journal_t  j;

    *n = 0;

    rc = yibao_journal_parse(record, len, a, &j);
    if (rc != YIBAO_OK) {
        return rc;
    }

    rc = yibao_journal_index_keys(&j, a, keys, n);
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (yibao_journal_problem(&j)) {
        rc = yibao_journal_problem_key(&j.day, a, &keys[*n]);

        if (rc == YIBAO_OK) {
            (*n)++;

        } else if (rc != YIBAO_ERR_INVALID) {
            return rc;
        }
    }

    if (j.state == YIBAO_JOURNAL_UNKNOWN || j.state == YIBAO_JOURNAL_SENT) {
        keys[*n].data = (const unsigned char *) YIBAO_JOURNAL_UNKNOWN_SET;
        keys[*n].len = sizeof(YIBAO_JOURNAL_UNKNOWN_SET) - 1;
        (*n)++;
    }

    return YIBAO_OK;
}


/* ---- outputs of an answer ---- */


/* a string, or an integer as its decimal text; "" otherwise */

static int
yibao_journal_text(json_t *o, const char *key, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int             len;
    char            buf[32];
    json_t         *v;
    unsigned char  *p;

    out->data = (const unsigned char *) "";
    out->len = 0;

    v = json_object_get(o, key);

    if (json_is_integer(v)) {
        len = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                       json_integer_value(v));

        p = yibao_alloc(a, (size_t) len);
        if (p == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        memcpy(p, buf, (size_t) len);
        out->data = p;
        out->len = (size_t) len;
        return YIBAO_OK;
    }

    return yibao_journal_get_str(o, key, a, out) ? YIBAO_ERR_NOMEM
                                                 : YIBAO_OK;
}


int
yibao_journal_amount(const void *object, const char *key, yibao_alloc_t *a,
    yibao_str_t *out)
{
    return yibao_journal_money_text((json_t *) object, key, a, out);
}


/*
 * Cents of a decimal text: an optional '-', digits, and at most two
 * places.  YIBAO_OK or YIBAO_ERR_INVALID.
 */

static int
yibao_journal_cents(const char *p, size_t len, int64_t *cents)
{
    int       neg, places, dot;
    size_t    i;
    int64_t   m;

    neg = 0;
    i = 0;

    if (len && p[0] == '-') {
        neg = 1;
        i = 1;
    }

    if (i == len) {
        return YIBAO_ERR_INVALID;
    }

    m = 0;
    places = 0;
    dot = 0;

    for ( /* void */ ; i < len; i++) {

        if (p[i] == '.' && !dot) {
            dot = 1;
            continue;
        }

        if (p[i] < '0' || p[i] > '9' || places == 2
            || m > (INT64_MAX / 10 - 9))
        {
            return YIBAO_ERR_INVALID;
        }

        m = m * 10 + (p[i] - '0');

        if (dot) {
            places++;
        }
    }

    for ( /* void */ ; places < 2; places++) {
        if (m > INT64_MAX / 10) {
            return YIBAO_ERR_INVALID;
        }

        m *= 10;
    }

    *cents = neg ? -m : m;

    return YIBAO_OK;
}


/*
 * A money amount as exact text with two places ("-12.30").  The answer
 * is parsed by jansson, which holds a number with a fraction as a
 * double: it is taken when it is exactly a number of cents (the shortest
 * decimal form of the double has at most two places), otherwise left
 * out.  A string holding a decimal is taken as it is.
 */

static int
yibao_journal_money_text(json_t *o, const char *key, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int             len;
    char            buf[32];
    double          d;
    json_t         *v, *m;
    int64_t         cents;
    unsigned char  *p;

    out->data = (const unsigned char *) "";
    out->len = 0;

    v = json_object_get(o, key);

    if (json_is_integer(v)) {
        if (json_integer_value(v) > INT64_MAX / 100
            || json_integer_value(v) < -(INT64_MAX / 100))
        {
            return YIBAO_OK;
        }

        cents = (int64_t) json_integer_value(v) * 100;

    } else if (json_is_real(v)) {
        d = json_real_value(v) * 100.0;

        if (!(d > -9007199254740992.0 && d < 9007199254740992.0)) {
            return YIBAO_OK;
        }

        cents = (int64_t) (d < 0 ? d - 0.5 : d + 0.5);

        if ((double) cents / 100.0 != json_real_value(v)) {
            return YIBAO_OK;
        }

    } else if (json_is_string(v)) {
        if (yibao_journal_cents(json_string_value(v), json_string_length(v),
                                &cents)
            != YIBAO_OK)
        {
            return YIBAO_OK;
        }

    } else {
        return YIBAO_OK;
    }

    m = yibao_journal_money_json(cents);
    if (m == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    len = snprintf(buf, sizeof(buf), "%s", json_string_value(m));
    json_decref(m);

    p = yibao_alloc(a, (size_t) len);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, buf, (size_t) len);
    out->data = p;
    out->len = (size_t) len;

    return YIBAO_OK;
}


/* "-12.30" as a JSON string */

static json_t *
yibao_journal_money_json(int64_t cents)
{
    char      buf[32];
    uint64_t  u;

    u = cents < 0 ? (uint64_t) 0 - (uint64_t) cents : (uint64_t) cents;

    snprintf(buf, sizeof(buf), "%s%llu.%02llu", cents < 0 ? "-" : "",
             (unsigned long long) (u / 100), (unsigned long long) (u % 100));

    return json_string(buf);
}


int
yibao_journal_outputs(const void *input, const unsigned char *answer,
    size_t len, yibao_alloc_t *a, yibao_journal_t *j)
{
    int           rc, base;
    json_t       *doc, *info, *data;
    json_error_t  jerr;

    if (!yibao_code_is_infno(j->infno.data, j->infno.len)) {
        return YIBAO_OK;
    }

    base = (int) yibao_code_number(j->infno.data, 4);

    if (base != 2207 && base != 2208 && base != 3201) {
        return YIBAO_OK;
    }

    rc = 0;

    if (input != NULL && base == 3201) {
        data = json_object_get(json_object_get((json_t *) input, "input"),
                               "data");

        rc = yibao_journal_text(data, "insutype", a, &j->insutype)
             | yibao_journal_text(data, "clr_type", a, &j->clr_type)
             | yibao_journal_text(data, "stmt_begndate", a,
                                  &j->stmt_begndate)
             | yibao_journal_text(data, "stmt_enddate", a, &j->stmt_enddate)
             | yibao_journal_money_text(data, "medfee_sumamt", a,
                                        &j->medfee_sumamt)
             | yibao_journal_money_text(data, "fund_pay_sumamt", a,
                                        &j->fund_pay_sumamt)
             | yibao_journal_money_text(data, "acct_pay", a, &j->acct_pay)
             | yibao_journal_text(data, "fixmedins_setl_cnt", a,
                                  &j->setl_cnt);
    }

    if (answer == NULL || rc != 0) {
        return rc ? YIBAO_ERR_NOMEM : YIBAO_OK;
    }

    doc = yibao_json_load((const char *) answer, len, 0, &jerr);

    if (base == 3201) {
        info = json_object_get(json_object_get(doc, "output"), "stmtinfo");

        rc = yibao_journal_text(info, "stmt_rslt", a, &j->stmt_rslt)
             | yibao_journal_text(info, "stmt_rslt_dscr", a,
                                  &j->stmt_rslt_dscr);

    } else {
        info = json_object_get(json_object_get(doc, "output"), "setlinfo");

        rc = yibao_journal_text(info, "setl_id", a, &j->platform_setl_id)
             | yibao_journal_text(info, "setl_time", a, &j->setl_time)
             | yibao_journal_text(info, "insutype", a, &j->insutype)
             | yibao_journal_text(info, "clr_type", a, &j->clr_type)
             | yibao_journal_money_text(info, "medfee_sumamt", a,
                                        &j->medfee_sumamt)
             | yibao_journal_money_text(info, "fund_pay_sumamt", a,
                                        &j->fund_pay_sumamt)
             | yibao_journal_money_text(info, "acct_pay", a, &j->acct_pay);
    }

    json_decref(doc);

    return rc ? YIBAO_ERR_NOMEM : YIBAO_OK;
}


/* ---- queries ---- */


int
yibao_journal_query_key(const yibao_journal_query_t *q, yibao_alloc_t *a,
    yibao_str_t *key, yibao_err_t *err)
{
    size_t  n;

    n = 0;

    switch (q->kind) {

    case YIBAO_JOURNAL_Q_MSGID:
    case YIBAO_JOURNAL_Q_MDTRT:
    case YIBAO_JOURNAL_Q_SETL:
        if (!yibao_journal_id_ok(&q->value)) {
            yibao_err_set(err, 0, "the id must be 1 to 64 letters, digits, "
                          "'.', '_' or '-'");
            return YIBAO_ERR_INVALID;
        }

        if (yibao_journal_add_key(a, key, &n,
                                  q->kind == YIBAO_JOURNAL_Q_MSGID ? "n"
                                  : q->kind == YIBAO_JOURNAL_Q_MDTRT ? "m"
                                  : "s", &q->value, NULL)
            != YIBAO_OK)
        {
            return YIBAO_ERR_NOMEM;
        }

        return YIBAO_OK;

    case YIBAO_JOURNAL_Q_CLINIC:
    case YIBAO_JOURNAL_Q_PROBLEMS:
    case YIBAO_JOURNAL_Q_TOTALS:
        break;

    case YIBAO_JOURNAL_Q_UNKNOWN:
        key->data = (const unsigned char *) YIBAO_JOURNAL_UNKNOWN_SET;
        key->len = sizeof(YIBAO_JOURNAL_UNKNOWN_SET) - 1;
        return YIBAO_OK;

    default:
        yibao_err_set(err, 0, "no query");
        return YIBAO_ERR_INVALID;
    }

    if (!yibao_journal_day_ok(&q->day)) {
        yibao_err_set(err, 0, "day must be YYYY-MM-DD");
        return YIBAO_ERR_INVALID;
    }

    if ((q->kind == YIBAO_JOURNAL_Q_CLINIC || q->clinic.len)
        && !yibao_journal_id_ok(&q->clinic))
    {
        yibao_err_set(err, 0, "clinic must be a clinic code (letters, "
                      "digits, '.', '_' or '-', at most 64)");
        return YIBAO_ERR_INVALID;
    }

    if (q->kind == YIBAO_JOURNAL_Q_CLINIC) {
        return yibao_journal_add_key(a, key, &n, "c", &q->clinic, &q->day);
    }

    if (q->kind == YIBAO_JOURNAL_Q_PROBLEMS) {
        return yibao_journal_problem_key(&q->day, a, key);
    }

    if (yibao_journal_totals_query(q, err) != YIBAO_OK) {
        return YIBAO_ERR_INVALID;
    }

    return yibao_journal_add_key(a, key, &n, "e", &q->entity, &q->day);
}


/* a totals query: the entity, the filters, the figures to compare */

static int
yibao_journal_totals_query(const yibao_journal_query_t *q, yibao_err_t *err)
{
    size_t        i;
    int64_t       c;
    yibao_str_t   fig[4];

    if (!yibao_journal_id_ok(&q->entity)) {
        yibao_err_set(err, 0, "entity must be a contracting entity code "
                      "(fixmedins_code)");
        return YIBAO_ERR_INVALID;
    }

    if ((q->insutype.len && !yibao_journal_id_ok(&q->insutype))
        || (q->clr_type.len && !yibao_journal_id_ok(&q->clr_type)))
    {
        yibao_err_set(err, 0, "insutype and clr_type must be codes");
        return YIBAO_ERR_INVALID;
    }

    fig[0] = q->medfee_sumamt;
    fig[1] = q->fund_pay_sumamt;
    fig[2] = q->acct_pay;
    fig[3] = q->setl_cnt;

    for (i = 0; i < 4; i++) {
        if (fig[i].len
            && (yibao_journal_cents((const char *) fig[i].data, fig[i].len,
                                    &c)
                != YIBAO_OK
                || (i == 3 && c % 100 != 0)))
        {
            yibao_err_set(err, 0, "%s must be a decimal with at most two "
                          "places%s", i == 0 ? "medfee_sumamt"
                          : i == 1 ? "fund_pay_sumamt"
                          : i == 2 ? "acct_pay" : "fixmedins_setl_cnt",
                          i == 3 ? " (a whole number)" : "");
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;
}


static const char *
yibao_journal_field(json_t *o, const char *key)
{
    const char  *s;

    s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}


static int
yibao_journal_is(json_t *o, const char *key, const yibao_str_t *v)
{
    json_t  *s;

    s = json_object_get(o, key);

    return json_is_string(s) && json_string_length(s) == v->len
           && v->len > 0
           && memcmp(json_string_value(s), v->data, v->len) == 0;
}


/* the record's infno is base (or a lettered variant of it) */

static int
yibao_journal_base(json_t *o, unsigned base)
{
    json_t  *v;

    v = json_object_get(o, "infno");

    return json_is_string(v)
           && yibao_code_is_infno((const unsigned char *) json_string_value(v),
                                  json_string_length(v))
           && (unsigned) yibao_code_number(
                  (const unsigned char *) json_string_value(v), 4)
              == base;
}


static int
yibao_journal_overdue(const yibao_journal_query_t *q, json_t *o)
{
    json_int_t  sent;

    if (strcmp(yibao_journal_field(o, "state"), "sent") != 0) {
        return 0;
    }

    sent = json_integer_value(json_object_get(o, "sent_ms"));

    return sent >= 0 && (uint64_t) sent + q->in_flight_ms < q->now_ms;
}


static int
yibao_journal_match(const yibao_journal_query_t *q, json_t *o)
{
    const char  *state;

    switch (q->kind) {

    case YIBAO_JOURNAL_Q_MSGID:
        return yibao_journal_is(o, "msgid", &q->value)
               || yibao_journal_is(o, "upstream_msgid", &q->value);

    case YIBAO_JOURNAL_Q_MDTRT:
        return yibao_journal_is(o, "mdtrt_id", &q->value);

    case YIBAO_JOURNAL_Q_SETL:
        return yibao_journal_is(o, "setl_id", &q->value)
               || yibao_journal_is(o, "platform_setl_id", &q->value);

    case YIBAO_JOURNAL_Q_CLINIC:
        return yibao_journal_is(o, "clinic", &q->clinic)
               && yibao_journal_is(o, "day", &q->day);

    case YIBAO_JOURNAL_Q_UNKNOWN:
        return yibao_journal_is(o, "state", &yibao_journal_unknown_name);

    case YIBAO_JOURNAL_Q_PROBLEMS:
        if (!yibao_journal_is(o, "day", &q->day)
            || (q->clinic.len && !yibao_journal_is(o, "clinic", &q->clinic)))
        {
            return 0;
        }

        if (!yibao_infno_money(
                 (const unsigned char *) yibao_journal_field(o, "infno"),
                 strlen(yibao_journal_field(o, "infno"))))
        {
            return 0;
        }

        state = yibao_journal_field(o, "state");

        return strcmp(state, "unknown") == 0 || strcmp(state, "failed") == 0
               || yibao_journal_overdue(q, o);

    default:
        return 0;
    }
}


/* a copy for the API: no stored answer, no hash, psn_no masked */

static json_t *
yibao_journal_public_json(const yibao_journal_query_t *q, json_t *o)
{
    size_t          len;
    json_t         *c, *v;
    unsigned char  *masked;

    c = json_copy(o);
    if (c == NULL) {
        return NULL;
    }

    json_object_del(c, "answer");
    json_object_del(c, "hash");

    v = json_object_get(c, "psn_no");

    if (json_is_string(v) && json_string_length(v)) {
        len = json_string_length(v);

        masked = malloc(len);
        if (masked == NULL) {
            json_decref(c);
            return NULL;
        }

        yibao_mask_psn_no((const unsigned char *) json_string_value(v), len,
                          masked);

        if (json_object_set_new(c, "psn_no",
                                json_stringn((const char *) masked, len))
            != 0)
        {
            free(masked);
            json_decref(c);
            return NULL;
        }

        free(masked);
    }

    if (q != NULL && yibao_journal_overdue(q, c)
        && json_object_set_new(c, "overdue", json_true()) != 0)
    {
        json_decref(c);
        return NULL;
    }

    return c;
}


/*
 * 1 if a record completed at done and resolved at resolved was written
 * after another write of it (pdone, presolved): completed later, or
 * resolved later.
 */

static int
yibao_journal_later(json_int_t done, json_int_t resolved, json_int_t pdone,
    json_int_t presolved)
{
    if (done != pdone) {
        return done > pdone;
    }

    return resolved > presolved;
}


struct yibao_journal_sel_s {
    yibao_journal_query_t   q;
    yibao_alloc_t           a;          /* a copy: the rendered records */
    json_t                 *list;       /* totals: the records kept */
    json_t                 *seen;       /* "caller msgid": their index */
    yibao_journal_item_t   *items;      /* a list's */
    size_t                  nitems;
    size_t                  size;
};


yibao_journal_sel_t *
yibao_journal_sel_create(const yibao_journal_query_t *q, yibao_alloc_t *a)
{
    yibao_journal_sel_t  *s;

    s = yibao_alloc(a, sizeof(yibao_journal_sel_t));
    if (s == NULL) {
        return NULL;
    }

    memset(s, 0, sizeof(yibao_journal_sel_t));
    s->q = *q;
    s->a = *a;
    s->list = json_array();
    s->seen = json_object();

    if (s->list == NULL || s->seen == NULL) {
        yibao_journal_sel_free(s);
        return NULL;
    }

    return s;
}


void
yibao_journal_sel_free(yibao_journal_sel_t *s)
{
    if (s == NULL) {
        return;
    }

    json_decref(s->list);
    json_decref(s->seen);
    free(s->items);
    s->list = NULL;
    s->seen = NULL;
    s->items = NULL;
    s->nitems = 0;
    s->size = 0;
}


/* what record o adds to a list: its public form if it answers q */

static int
yibao_journal_sel_item(yibao_journal_sel_t *s, json_t *o,
    yibao_journal_item_t *it)
{
    int      rc;
    json_t  *c;

    it->sent_ms = json_integer_value(json_object_get(o, "sent_ms"));
    it->done_ms = json_integer_value(json_object_get(o, "done_ms"));
    it->resolved_ms = json_integer_value(json_object_get(o, "resolved_ms"));
    it->n = s->nitems;
    it->text.data = NULL;
    it->text.len = 0;

    if (!yibao_journal_match(&s->q, o)) {
        return YIBAO_OK;
    }

    c = yibao_journal_public_json(&s->q, o);
    if (c == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_journal_dump(c, &s->a, &it->text);
    json_decref(c);

    return rc;
}


/*
 * Keeps record o, one per caller and msgid: the same record can come
 * from Redis and from a node's zone (claimed there while Redis failed),
 * and twice from a zone whose record was written again while a query
 * read it; the one written last is kept.  What is not a record is
 * skipped; so is the stored answer, which no answer shows.
 */

static int
yibao_journal_sel_keep(yibao_journal_sel_t *s, json_t *o)
{
    int                    rc;
    char                  *key;
    size_t                 len, at;
    json_t                *seen, *prev;
    const char            *caller, *msgid;
    yibao_journal_item_t   it, *items;

    if (!json_is_object(o)
        || json_integer_value(json_object_get(o, "v")) != 1)
    {
        return YIBAO_OK;
    }

    json_object_del(o, "answer");

    caller = yibao_journal_field(o, "caller");
    msgid = yibao_journal_field(o, "msgid");
    len = strlen(caller) + strlen(msgid) + 2;

    key = malloc(len);
    if (key == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    snprintf(key, len, "%s %s", caller, msgid);

    seen = json_object_get(s->seen, key);
    at = seen != NULL ? (size_t) json_integer_value(seen)
                      : (s->q.kind == YIBAO_JOURNAL_Q_TOTALS
                         ? json_array_size(s->list) : s->nitems);

    if (seen == NULL
        && json_object_set_new(s->seen, key, json_integer((json_int_t) at))
           != 0)
    {
        free(key);
        return YIBAO_ERR_NOMEM;
    }

    free(key);

    if (s->q.kind == YIBAO_JOURNAL_Q_TOTALS) {

        if (seen == NULL) {
            return json_array_append(s->list, o) ? YIBAO_ERR_NOMEM
                                                 : YIBAO_OK;
        }

        prev = json_array_get(s->list, at);

        if (!yibao_journal_later(
                 json_integer_value(json_object_get(o, "done_ms")),
                 json_integer_value(json_object_get(o, "resolved_ms")),
                 json_integer_value(json_object_get(prev, "done_ms")),
                 json_integer_value(json_object_get(prev, "resolved_ms"))))
        {
            return YIBAO_OK;
        }

        return json_array_set(s->list, at, o) ? YIBAO_ERR_NOMEM : YIBAO_OK;
    }

    rc = yibao_journal_sel_item(s, o, &it);
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (seen != NULL) {
        if (yibao_journal_later(it.done_ms, it.resolved_ms,
                                s->items[at].done_ms,
                                s->items[at].resolved_ms))
        {
            it.n = s->items[at].n;
            s->items[at] = it;
        }

        return YIBAO_OK;
    }

    if (s->nitems == s->size) {
        len = s->size ? 2 * s->size : 64;

        items = realloc(s->items, len * sizeof(yibao_journal_item_t));
        if (items == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        s->items = items;
        s->size = len;
    }

    s->items[s->nitems++] = it;

    return YIBAO_OK;
}


int
yibao_journal_sel_add(yibao_journal_sel_t *s, const unsigned char *record,
    size_t len)
{
    int           rc;
    json_t       *o;
    json_error_t  jerr;

    o = yibao_json_load((const char *) record, len, 0, &jerr);

    if (o == NULL) {
        /* not readable: skipped */
        return YIBAO_OK;
    }

    rc = yibao_journal_sel_keep(s, o);
    json_decref(o);

    return rc;
}


/* oldest first; of the same time, in the order of arrival */

static int
yibao_journal_by_time(const void *x, const void *y)
{
    const yibao_journal_item_t  *a = *(const yibao_journal_item_t **) x;
    const yibao_journal_item_t  *b = *(const yibao_journal_item_t **) y;

    if (a->sent_ms != b->sent_ms) {
        return (a->sent_ms > b->sent_ms) - (a->sent_ms < b->sent_ms);
    }

    return (a->n > b->n) - (a->n < b->n);
}


int
yibao_journal_sel_answer(yibao_journal_sel_t *s, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int                     rc;
    size_t                  i, n, len;
    json_t                 *res;
    unsigned char          *p;
    yibao_journal_item_t  **sel;

    if (s->q.kind == YIBAO_JOURNAL_Q_TOTALS) {
        res = yibao_journal_totals(&s->q, s->list);

        if (res == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        rc = yibao_journal_dump(res, a, out);
        json_decref(res);
        return rc;
    }

    sel = malloc(sizeof(yibao_journal_item_t *) * (s->nitems + 1));
    if (sel == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    n = 0;
    len = 2;

    for (i = 0; i < s->nitems; i++) {
        if (s->items[i].text.len) {
            sel[n++] = &s->items[i];
            len += s->items[i].text.len + 1;
        }
    }

    qsort(sel, n, sizeof(yibao_journal_item_t *), yibao_journal_by_time);

    p = yibao_alloc(a, len);
    if (p == NULL) {
        free(sel);
        return YIBAO_ERR_NOMEM;
    }

    out->data = p;
    *p++ = '[';

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        memcpy(p, sel[i]->text.data, sel[i]->text.len);
        p += sel[i]->text.len;
    }

    *p++ = ']';
    out->len = p - out->data;

    free(sel);

    return YIBAO_OK;
}


int
yibao_journal_select(const yibao_journal_query_t *q,
    const unsigned char *list, size_t len, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int                   rc;
    size_t                i;
    json_t               *doc, *o;
    json_error_t          jerr;
    yibao_journal_sel_t  *s;

    doc = yibao_json_load((const char *) list, len, 0, &jerr);

    if (!json_is_array(doc)) {
        json_decref(doc);
        return YIBAO_ERR_SYNTAX;
    }

    s = yibao_journal_sel_create(q, a);
    if (s == NULL) {
        json_decref(doc);
        return YIBAO_ERR_NOMEM;
    }

    rc = YIBAO_OK;

    json_array_foreach(doc, i, o) {
        rc = yibao_journal_sel_keep(s, o);

        if (rc != YIBAO_OK) {
            break;
        }
    }

    json_decref(doc);

    if (rc == YIBAO_OK) {
        rc = yibao_journal_sel_answer(s, a, out);
    }

    yibao_journal_sel_free(s);

    return rc;
}


int
yibao_journal_public(const unsigned char *record, size_t len,
    yibao_alloc_t *a, yibao_str_t *out)
{
    int           rc;
    json_t       *o, *c;
    json_error_t  jerr;

    o = yibao_json_load((const char *) record, len, 0, &jerr);

    if (!json_is_object(o)) {
        json_decref(o);
        return YIBAO_ERR_SYNTAX;
    }

    c = yibao_journal_public_json(NULL, o);
    json_decref(o);

    if (c == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_journal_dump(c, a, out);
    json_decref(c);

    return rc;
}


/*
 * What 3201 needs, counted as the platform counts (the simulator's
 * totals() with refd_setl_flag 1): every 2207 and every 2208 that ended
 * ok, on the day of its setl_time, each one settlement, the 2208's
 * amounts negative as answered.  A record whose state is anything but
 * "ok" (failed, unknown, sent, reversed) is not counted; 2207/2208 of
 * the entity and day whose outcome is not known are listed, and so are
 * ok ones without amounts (resolved by an operator).  The steps: each
 * record counted or listed (yibao_journal_totals_record), the groups
 * and their sum, the day's own statements compared, the answer.
 */

static json_t *
yibao_journal_totals(const yibao_journal_query_t *q, json_t *list)
{
    size_t                   i;
    json_t                  *res, *groups, *o;
    int64_t                  sum[4];
    yibao_journal_totals_t   t;

    res = NULL;
    groups = NULL;

    t.q = q;
    t.ngroups = 0;
    t.unknown = json_array();
    t.incomplete = json_array();
    t.stmts = json_array();

    if (t.unknown == NULL || t.incomplete == NULL || t.stmts == NULL) {
        goto done;
    }

    json_array_foreach(list, i, o) {
        if (yibao_journal_totals_record(&t, o) != YIBAO_OK) {
            goto done;
        }
    }

    groups = yibao_journal_totals_groups(&t, sum);

    if (groups == NULL || yibao_journal_totals_statements(&t) != YIBAO_OK) {
        goto done;
    }

    res = json_object();

    if (res == NULL
        || json_object_set_new(res, "entity",
                               json_stringn((const char *) q->entity.data,
                                            q->entity.len))
        || json_object_set_new(res, "day",
                               json_stringn((const char *) q->day.data,
                                            q->day.len))
        || json_object_set(res, "totals", groups)
        || json_object_set_new(res, "all", json_pack(
               "{s:o, s:o, s:o, s:I}",
               "medfee_sumamt", yibao_journal_money_json(sum[0]),
               "fund_pay_sumamt", yibao_journal_money_json(sum[1]),
               "acct_pay", yibao_journal_money_json(sum[2]),
               "fixmedins_setl_cnt", (json_int_t) sum[3]))
        || json_object_set(res, "unknown", t.unknown)
        || json_object_set(res, "incomplete", t.incomplete)
        || json_object_set(res, "statements", t.stmts)
        || yibao_journal_totals_given(res, q, sum) != YIBAO_OK)
    {
        json_decref(res);
        res = NULL;
    }

done:

    json_decref(groups);
    json_decref(t.unknown);
    json_decref(t.incomplete);
    json_decref(t.stmts);

    return res;
}


/*
 * One record of the list: a statement (3201) that covers the day, a
 * 2207/2208 of the day whose outcome is not known, or one without
 * amounts, is listed; an ok one of the day (and of the insutype and
 * clr_type asked for) is added to its group.  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */

static int
yibao_journal_totals_record(yibao_journal_totals_t *t, json_t *o)
{
    int                           base;
    int64_t                       amount[3];
    const char                   *state, *setl_time;
    yibao_str_t                   day;
    const yibao_journal_query_t  *q;

    q = t->q;

    if (!json_is_object(o)
        || json_integer_value(json_object_get(o, "v")) != 1
        || !yibao_journal_is(o, "entity", &q->entity))
    {
        return YIBAO_OK;
    }

    base = yibao_journal_base(o, 2207) ? 2207
           : yibao_journal_base(o, 2208) ? 2208
           : yibao_journal_base(o, 3201) ? 3201 : 0;

    if (base == 0) {
        return YIBAO_OK;
    }

    state = yibao_journal_field(o, "state");

    if (base == 3201) {
        if (strcmp(state, "ok") != 0
            || strncmp(yibao_journal_field(o, "stmt_begndate"),
                       (const char *) q->day.data, 10) > 0
            || strncmp(yibao_journal_field(o, "stmt_enddate"),
                       (const char *) q->day.data, 10) < 0)
        {
            return YIBAO_OK;
        }

        return yibao_journal_totals_list(t->stmts, NULL, o);
    }

    if (strcmp(state, "ok") != 0) {
        if (!yibao_journal_is(o, "day", &q->day)
            || (strcmp(state, "unknown") != 0 && strcmp(state, "sent") != 0))
        {
            return YIBAO_OK;
        }

        return yibao_journal_totals_list(t->unknown, q, o);
    }

    setl_time = yibao_journal_field(o, "setl_time");

    day.data = (const unsigned char *) setl_time;
    day.len = strlen(setl_time) >= 10 ? 10 : 0;

    if (day.len == 0) {
        if (!yibao_journal_is(o, "day", &q->day)) {
            return YIBAO_OK;
        }

    } else if (memcmp(day.data, q->day.data, 10) != 0) {
        return YIBAO_OK;
    }

    if ((q->insutype.len && !yibao_journal_is(o, "insutype", &q->insutype))
        || (q->clr_type.len && !yibao_journal_is(o, "clr_type",
                                                 &q->clr_type)))
    {
        return YIBAO_OK;
    }

    if (day.len == 0
        || yibao_journal_totals_cents(o, "medfee_sumamt", &amount[0])
           != YIBAO_OK
        || yibao_journal_totals_cents(o, "fund_pay_sumamt", &amount[1])
           != YIBAO_OK
        || yibao_journal_totals_cents(o, "acct_pay", &amount[2])
           != YIBAO_OK)
    {
        return yibao_journal_totals_list(t->incomplete, q, o);
    }

    yibao_journal_totals_add(t, yibao_journal_field(o, "insutype"),
                             yibao_journal_field(o, "clr_type"), amount);

    return YIBAO_OK;
}


/* appends the record as the API shows it (yibao_journal_public_json) */

static int
yibao_journal_totals_list(json_t *list, const yibao_journal_query_t *q,
    json_t *o)
{
    json_t  *x;

    x = yibao_journal_public_json(q, o);

    if (x == NULL || json_array_append_new(list, x) != 0) {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/* a money field of a record in cents (yibao_journal_cents) */

static int
yibao_journal_totals_cents(json_t *o, const char *key, int64_t *cents)
{
    const char  *v;

    v = yibao_journal_field(o, key);

    return yibao_journal_cents(v, strlen(v), cents);
}


/* the group of an insutype and clr_type, NULL when there is none */

static yibao_journal_group_t *
yibao_journal_totals_group(yibao_journal_totals_t *t, const char *insutype,
    const char *clr_type)
{
    size_t  g;

    for (g = 0; g < t->ngroups; g++) {
        if (strcmp(t->grp[g].insutype, insutype) == 0
            && strcmp(t->grp[g].clr_type, clr_type) == 0)
        {
            return &t->grp[g];
        }
    }

    return NULL;
}


/*
 * Counts one settlement with its amounts (medfee, fund, acct) in its
 * group, made when new; beyond YIBAO_JOURNAL_GROUPS groups a new one is
 * not counted.
 */

static void
yibao_journal_totals_add(yibao_journal_totals_t *t, const char *insutype,
    const char *clr_type, const int64_t *amount)
{
    yibao_journal_group_t  *grp;

    grp = yibao_journal_totals_group(t, insutype, clr_type);

    if (grp == NULL) {
        if (t->ngroups == YIBAO_JOURNAL_GROUPS) {
            return;
        }

        grp = &t->grp[t->ngroups++];

        grp->insutype = insutype;
        grp->clr_type = clr_type;
        grp->medfee = 0;
        grp->fund = 0;
        grp->acct = 0;
        grp->cnt = 0;
    }

    grp->medfee += amount[0];
    grp->fund += amount[1];
    grp->acct += amount[2];
    grp->cnt++;
}


/*
 * The groups as the answer's "totals", and their sum: medfee, fund,
 * acct and the count.  NULL on allocation failure.
 */

static json_t *
yibao_journal_totals_groups(yibao_journal_totals_t *t, int64_t *sum)
{
    size_t                  g;
    json_t                 *groups, *x;
    yibao_journal_group_t  *grp;

    sum[0] = sum[1] = sum[2] = sum[3] = 0;

    groups = json_array();
    if (groups == NULL) {
        return NULL;
    }

    for (g = 0; g < t->ngroups; g++) {
        grp = &t->grp[g];

        x = json_pack("{s:s, s:s, s:o, s:o, s:o, s:I}",
                      "insutype", grp->insutype,
                      "clr_type", grp->clr_type,
                      "medfee_sumamt", yibao_journal_money_json(grp->medfee),
                      "fund_pay_sumamt", yibao_journal_money_json(grp->fund),
                      "acct_pay", yibao_journal_money_json(grp->acct),
                      "fixmedins_setl_cnt", (json_int_t) grp->cnt);

        if (x == NULL || json_array_append_new(groups, x) != 0) {
            json_decref(groups);
            return NULL;
        }

        sum[0] += grp->medfee;
        sum[1] += grp->fund;
        sum[2] += grp->acct;
        sum[3] += grp->cnt;
    }

    return groups;
}


/*
 * The 3201 statements of this day alone: does the journal agree?  Each
 * gets "journal", the comparison of its figures with its group's.
 */

static int
yibao_journal_totals_statements(yibao_journal_totals_t *t)
{
    int                     rc;
    size_t                  i;
    json_t                 *o, *cmp;
    const char             *day;
    yibao_journal_group_t   none, *grp;

    day = (const char *) t->q->day.data;

    memset(&none, 0, sizeof(yibao_journal_group_t));

    json_array_foreach(t->stmts, i, o) {

        if (strncmp(yibao_journal_field(o, "stmt_begndate"), day, 10) != 0
            || strncmp(yibao_journal_field(o, "stmt_enddate"), day, 10) != 0)
        {
            continue;
        }

        grp = yibao_journal_totals_group(t,
                                         yibao_journal_field(o, "insutype"),
                                         yibao_journal_field(o, "clr_type"));
        if (grp == NULL) {
            grp = &none;
        }

        cmp = json_object();
        if (cmp == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        rc = yibao_journal_compare_field(cmp, o, "medfee_sumamt",
                                         grp->medfee);
        rc |= yibao_journal_compare_field(cmp, o, "fund_pay_sumamt",
                                          grp->fund);
        rc |= yibao_journal_compare_field(cmp, o, "acct_pay", grp->acct);
        rc |= yibao_journal_compare_field(cmp, o, "fixmedins_setl_cnt",
                                          grp->cnt * 100);

        if (rc < 0 || json_object_set_new(o, "journal", cmp) != 0) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/*
 * The figures the operator gave (the statement's, to check before
 * sending the 3201) compared with the sum, as "compare".
 */

static int
yibao_journal_totals_given(json_t *res, const yibao_journal_query_t *q,
    const int64_t *sum)
{
    json_t  *cmp;

    if (!q->medfee_sumamt.len && !q->fund_pay_sumamt.len && !q->acct_pay.len
        && !q->setl_cnt.len)
    {
        return YIBAO_OK;
    }

    cmp = json_object();

    if (cmp == NULL
        || json_object_set_new(res, "compare", cmp) != 0
        || yibao_journal_compare(cmp, "medfee_sumamt", &q->medfee_sumamt,
                                 sum[0]) < 0
        || yibao_journal_compare(cmp, "fund_pay_sumamt",
                                 &q->fund_pay_sumamt, sum[1]) < 0
        || yibao_journal_compare(cmp, "acct_pay", &q->acct_pay, sum[2]) < 0
        || yibao_journal_compare(cmp, "fixmedins_setl_cnt", &q->setl_cnt,
                                 sum[3] * 100) < 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/* yibao_journal_compare() with the given figure from a record's field */

static int
yibao_journal_compare_field(json_t *cmp, json_t *o, const char *name,
    int64_t journal)
{
    yibao_str_t  given;

    given.data = (const unsigned char *) yibao_journal_field(o, name);
    given.len = strlen((const char *) given.data);

    return yibao_journal_compare(cmp, name, &given, journal);
}


/*
 * cmp.<name> = {given, journal, diff (given - journal)}, and
 * cmp.balanced kept true while every figure agrees (a count is passed
 * in hundredths).  Nothing when given is empty.  -1 on allocation
 * failure.
 */

static int
yibao_journal_compare(json_t *cmp, const char *name, const yibao_str_t *given,
    int64_t journal)
{
    int       count;
    json_t   *x, *b;
    int64_t   g;

    b = json_object_get(cmp, "balanced");

    if (b == NULL) {
        if (json_object_set_new(cmp, "balanced", json_true()) != 0) {
            return -1;
        }
    }

    if (given->len == 0
        || yibao_journal_cents((const char *) given->data, given->len, &g)
           != YIBAO_OK)
    {
        return 0;
    }

    count = strcmp(name, "fixmedins_setl_cnt") == 0;

    if (count) {
        x = json_pack("{s:I, s:I, s:I}", "given", (json_int_t) (g / 100),
                      "journal", (json_int_t) (journal / 100),
                      "diff", (json_int_t) ((g - journal) / 100));

    } else {
        x = json_pack("{s:o, s:o, s:o}",
                      "given", yibao_journal_money_json(g),
                      "journal", yibao_journal_money_json(journal),
                      "diff", yibao_journal_money_json(g - journal));
    }

    if (x == NULL || json_object_set_new(cmp, name, x) != 0) {
        return -1;
    }

    if (g != journal
        && json_object_set_new(cmp, "balanced", json_false()) != 0)
    {
        return -1;
    }

    return 0;
}


static int
yibao_journal_dump(json_t *v, yibao_alloc_t *a, yibao_str_t *out)
{
    int  rc;

    rc = yibao_json_serialize(v, a, out);

    return rc == YIBAO_OK ? YIBAO_OK : YIBAO_ERR_NOMEM;
}
