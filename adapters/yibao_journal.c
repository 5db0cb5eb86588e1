/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "yibao_journal.h"
#include "yibao_codes.h"


const char  yibao_journal_claim_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then return {0, cur} end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('SET', KEYS[2], KEYS[1], 'PX', ARGV[2])\n"
    "if ARGV[3] == '1' then redis.call('SADD', KEYS[3], KEYS[1]) end\n"
    "return {1}\n";

const char  yibao_journal_update_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'XX', 'KEEPTTL') then\n"
    "  if ARGV[2] == 'unknown' then\n"
    "    redis.call('SADD', KEYS[2], KEYS[1])\n"
    "  else\n"
    "    redis.call('SREM', KEYS[2], KEYS[1])\n"
    "  end\n"
    "end\n"
    "return 1\n";

const char  yibao_journal_list_script[] =
    "local out = {}\n"
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local v = redis.call('GET', k)\n"
    "  if not v then\n"
    "    redis.call('SREM', KEYS[1], k)\n"
    "  elseif string.find(v, '\"state\":\"unknown\"', 1, true) then\n"
    "    out[#out + 1] = v\n"
    "  end\n"
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
    "return v\n";


static const char  *yibao_journal_states[] = {
    "", "sent", "ok", "failed", "unknown", "reversed"
};


static int yibao_journal_set_str(json_t *o, const char *key,
    const yibao_str_t *s);
static int yibao_journal_get_str(json_t *o, const char *key,
    yibao_alloc_t *a, yibao_str_t *out);
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
yibao_journal_infno(const unsigned char *infno, size_t len)
{
    unsigned  n;

    if (!yibao_code_is_infno(infno, len)) {
        return 0;
    }

    n = (unsigned) yibao_code_number(infno, 4);

    return (n >= 2201 && n <= 2208) || (n >= 2301 && n <= 2305)
           || (n >= 2401 && n <= 2405) || n == 2102 || n == 2103
           || n == 2601 || n == 3201 || n == 9001 || n == 9101;
}


int
yibao_journal_money(const unsigned char *infno, size_t len)
{
    unsigned  n;

    if (!yibao_code_is_infno(infno, len)) {
        return 0;
    }

    n = (unsigned) yibao_code_number(infno, 4);

    return n == 2207 || n == 2208 || n == 2102 || n == 2103 || n == 2304
           || n == 2305;
}


int
yibao_journal_render(const yibao_journal_t *j, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int             rc;
    char           *s;
    size_t          len;
    json_t         *o;
    unsigned char  *p;

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
         | yibao_journal_set_str(o, "answer", &j->answer)
         | yibao_journal_render_resolver(j, o);

    if (rc != 0) {
        json_decref(o);
        return YIBAO_ERR_NOMEM;
    }

    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);

    if (s == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    len = strlen(s);

    p = yibao_alloc(a, len ? len : 1);
    if (p == NULL) {
        free(s);
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, s, len);
    free(s);

    out->data = p;
    out->len = len;

    return YIBAO_OK;
}


static int
yibao_journal_set_str(json_t *o, const char *key, const yibao_str_t *s)
{
    json_t  *v;

    if (s->len == 0) {
        return json_object_set_new(o, key, json_string(""));
    }

    v = json_stringn((const char *) s->data, s->len);

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

    o = json_loadb((const char *) data, len, 0, &jerr);

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

    o = json_loadb((const char *) data, len, 0, &jerr);

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
        head = json_loadb((const char *) j->head.data, j->head.len, 0,
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
    int             rc;
    char           *s;
    size_t          len;
    json_t         *head;
    unsigned char  *p;

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

    s = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s == NULL) {
        return -1;
    }

    len = strlen(s);

    p = yibao_alloc(a, len ? len : 1);
    if (p == NULL) {
        free(s);
        return -1;
    }

    memcpy(p, s, len);
    free(s);

    j->head.data = p;
    j->head.len = len;

    return 0;
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
