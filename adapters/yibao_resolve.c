/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "yibao_resolve.h"
#include "yibao_json.h"
#include "yibao_codes.h"
#include "yibao_gwerr.h"
#include "yibao_fields.h"


static int yibao_resolve_set(json_t *o, const char *key,
    const yibao_str_t *s);
static int yibao_resolve_eq(json_t *v, const yibao_str_t *s);
static int yibao_resolve_says(const char *msg, const char *what);
static void yibao_resolve_text(yibao_resolve_result_t *res,
    const char *prefix, const char *text);
static int yibao_resolve_query(const yibao_journal_t *j, json_t *info,
    yibao_alloc_t *a, yibao_resolve_result_t *res);
static int yibao_resolve_open(const yibao_str_t *infno,
    const unsigned char *data, size_t len, yibao_resolve_result_t *res,
    json_t **o, json_t **info);
static int yibao_resolve_settlement(const yibao_journal_t *j,
    const void *request, json_t *info, yibao_alloc_t *a,
    yibao_resolve_result_t *res);
static int yibao_resolve_keep(json_t *v, yibao_alloc_t *a,
    yibao_str_t *out);


/* the envelope's fields that the resolver sets itself */

static const char  *yibao_resolve_own[] = {
    "infno", "msgid", "inf_time", "fixmedins_code", "fixmedins_name",
    "input", NULL
};


int
yibao_resolve_head(const yibao_envelope_t *env, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int          rc, skip;
    size_t       i;
    json_t      *head, *v;
    const char  *key;

    head = json_object();
    if (head == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    json_object_foreach((json_t *) env->doc, key, v) {
        skip = 0;

        for (i = 0; yibao_resolve_own[i] != NULL; i++) {
            if (strcmp(key, yibao_resolve_own[i]) == 0) {
                skip = 1;
                break;
            }
        }

        if (!skip && json_object_set(head, key, v) != 0) {
            json_decref(head);
            return YIBAO_ERR_NOMEM;
        }
    }

    rc = yibao_json_serialize(head, a, out);
    json_decref(head);

    return rc == YIBAO_OK ? YIBAO_OK : YIBAO_ERR_NOMEM;
}


int
yibao_resolve_head_field(const yibao_str_t *head, const char *key,
    const yibao_str_t *value, yibao_alloc_t *a, yibao_str_t *out)
{
    int             rc;
    size_t          len;
    json_t         *o, *v;
    json_error_t    jerr;
    unsigned char  *p;

    o = yibao_json_load((const char *) head->data, head->len, 0, &jerr);
    v = json_object_get(o, key);

    if (!json_is_string(v)) {
        json_decref(o);
        return YIBAO_ERR_NOT_FOUND;
    }

    if (value != NULL) {
        rc = yibao_resolve_set(o, key, value);

        if (rc == 0) {
            rc = yibao_json_serialize(o, a, out);
        }

        json_decref(o);

        return rc == 0 ? YIBAO_OK : YIBAO_ERR_NOMEM;
    }

    len = json_string_length(v);
    p = yibao_alloc(a, len ? len : 1);

    if (p != NULL) {
        memcpy(p, json_string_value(v), len);
        out->data = p;
        out->len = len;
    }

    json_decref(o);

    return p != NULL ? YIBAO_OK : YIBAO_ERR_NOMEM;
}


int
yibao_resolve_request(const yibao_journal_t *j, yibao_resolve_mode_e mode,
    const yibao_str_t *entity_code, const yibao_str_t *entity_name,
    const yibao_str_t *msgid, const yibao_tm_t *now, yibao_alloc_t *a,
    yibao_str_t *infno, yibao_str_t *body, yibao_err_t *err)
{
    int      rc, is2208;
    json_t  *data, *input;

    is2208 = (j->infno.len >= 4 && memcmp(j->infno.data, "2208", 4) == 0);

    if (j->head.len == 0 || j->psn_no.len == 0 || j->upstream_msgid.len == 0
        || (mode == YIBAO_RESOLVE_QUERY
            && (is2208 ? j->setl_id.len == 0 : j->mdtrt_id.len == 0)))
    {
        yibao_err_set(err, YIBAO_GWERR_INTERNAL,
                      "the journal record lacks what a %s needs (psn_no, "
                      "%s, the envelope head)",
                      mode == YIBAO_RESOLVE_QUERY ? "5203" : "2601",
                      is2208 ? "setl_id" : "mdtrt_id");
        return YIBAO_ERR_INVALID;
    }

    infno->data = (const unsigned char *)
                  (mode == YIBAO_RESOLVE_QUERY ? "5203" : "2601");
    infno->len = 4;

    data = json_object();
    input = json_object();

    rc = (data == NULL || input == NULL) ? -1 : 0;

    if (rc == 0) {
        rc = yibao_resolve_set(data, "psn_no", &j->psn_no);
    }

    if (rc == 0 && mode == YIBAO_RESOLVE_QUERY) {
        if (is2208) {
            rc = yibao_resolve_set(data, "setl_id", &j->setl_id);
        }

        if (rc == 0 && j->mdtrt_id.len) {
            rc = yibao_resolve_set(data, "mdtrt_id", &j->mdtrt_id);
        }

    } else if (rc == 0) {
        rc = yibao_resolve_set(data, "omsgid", &j->upstream_msgid)
             | yibao_resolve_set(data, "oinfno", &j->infno);
    }

    if (rc == 0) {
        rc = json_object_set(input, "data", data);
    }

    json_decref(data);

    if (rc != 0) {
        json_decref(input);
        return YIBAO_ERR_NOMEM;
    }

    return yibao_resolve_envelope(&j->head, infno, entity_code, entity_name,
                                  msgid, now, input, a, body, err);
}


int
yibao_resolve_envelope(const yibao_str_t *head_json, const yibao_str_t *infno,
    const yibao_str_t *entity_code, const yibao_str_t *entity_name,
    const yibao_str_t *msgid, const yibao_tm_t *now, void *input,
    yibao_alloc_t *a, yibao_str_t *body, yibao_err_t *err)
{
    int           rc;
    char          t[32];
    json_t       *env, *head, *v;
    const char   *key;
    yibao_str_t   s;
    json_error_t  jerr;

    head = yibao_json_load((const char *) head_json->data, head_json->len, 0,
                      &jerr);

    if (!json_is_object(head)) {
        json_decref(head);
        json_decref(input);
        yibao_err_set(err, YIBAO_GWERR_INTERNAL,
                      "the kept envelope head is not an object");
        return YIBAO_ERR_INVALID;
    }

    snprintf(t, sizeof(t), "%04d-%02d-%02d %02d:%02d:%02d", now->year,
             now->mon, now->mday, now->hour, now->min, now->sec);

    env = json_object();

    rc = (env == NULL) ? -1 : 0;

    if (rc == 0) {
        rc = yibao_resolve_set(env, "infno", infno)
             | yibao_resolve_set(env, "msgid", msgid);
    }

    json_object_foreach(head, key, v) {
        if (rc == 0) {
            rc = json_object_set(env, key, v);
        }
    }

    if (rc == 0) {
        s.data = (const unsigned char *) t;
        s.len = strlen(t);

        rc = yibao_resolve_set(env, "inf_time", &s)
             | yibao_resolve_set(env, "fixmedins_code", entity_code)
             | yibao_resolve_set(env, "fixmedins_name", entity_name)
             | json_object_set(env, "input", input);
    }

    json_decref(head);
    json_decref(input);

    if (rc != 0) {
        json_decref(env);
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_json_serialize(env, a, body);
    json_decref(env);

    return rc;
}


int
yibao_resolve_answer(const yibao_journal_t *j, const yibao_str_t *infno,
    const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_resolve_result_t *res)
{
    int      rc;
    json_t  *o, *info;

    rc = yibao_resolve_open(infno, data, len, res, &o, &info);

    if (rc == YIBAO_OK && info != NULL) {
        rc = yibao_resolve_query(j, info, a, res);
    }

    json_decref(o);

    return rc;
}


/*
 * The platform's answer to the resolving request infno: res set for
 * what it says by itself (not an envelope, a refusal, any 2601 answer),
 * or, for a 5203 that found a settlement, *info its output.setlinfo
 * (in *o, which the caller frees; both NULL otherwise).  YIBAO_OK or
 * YIBAO_ERR_NOMEM.
 */

static int
yibao_resolve_open(const yibao_str_t *infno, const unsigned char *data,
    size_t len, yibao_resolve_result_t *res, json_t **o, json_t **info)
{
    json_t          *v;
    const char      *msg;
    json_error_t     jerr;
    yibao_answer_t   ans;

    memset(res, 0, sizeof(yibao_resolve_result_t));
    res->outcome = YIBAO_RESOLVE_RETRY;
    res->setl_id.data = (const unsigned char *) "";
    res->platform_msgid.data = (const unsigned char *) "";

    *o = NULL;
    *info = NULL;

    if (yibao_answer_inspect(data, len, &ans) != YIBAO_OK) {
        return YIBAO_ERR_NOMEM;
    }

    if (!ans.is_envelope) {
        yibao_resolve_text(res, "the answer is not an envelope: ",
                           ans.summary);
        return YIBAO_OK;
    }

    *o = yibao_json_load((const char *) data, len, 0, &jerr);

    /* the platform's whole message: the summary may be cut short */

    v = json_object_get(*o, "err_msg");
    msg = json_is_string(v) ? json_string_value(v) : ans.summary;

    if (infno->len == 4 && memcmp(infno->data, "2601", 4) == 0) {

        if (ans.infcode == 0) {
            res->outcome = YIBAO_RESOLVE_REVERSED;
            yibao_resolve_text(res, "reversed by 2601", "");

        } else if (yibao_resolve_says(msg, "不存在")
                   || yibao_resolve_says(msg, "无需冲正"))
        {
            /* the platform never did it */
            res->outcome = YIBAO_RESOLVE_FAILED;
            yibao_resolve_text(res, "not done by the platform, 2601: ", msg);

        } else if (yibao_resolve_says(msg, "重复冲正")) {
            res->outcome = YIBAO_RESOLVE_REVERSED;
            yibao_resolve_text(res, "already reversed, 2601: ", msg);

        } else {
            yibao_resolve_text(res, "2601: ", msg);
        }

        return YIBAO_OK;
    }

    if (ans.infcode != 0) {
        if (yibao_resolve_says(msg, "未查询到")) {
            res->outcome = YIBAO_RESOLVE_FAILED;
            yibao_resolve_text(res, "not settled by the platform, 5203: ",
                               msg);

        } else {
            yibao_resolve_text(res, "5203: ", msg);
        }

        return YIBAO_OK;
    }

    *info = json_object_get(json_object_get(*o, "output"), "setlinfo");

    if (!json_is_object(*info)) {
        *info = NULL;
        yibao_resolve_text(res, "5203 answered without output.setlinfo",
                           "");
    }

    return YIBAO_OK;
}


int
yibao_resolve_forgotten(const yibao_journal_t *j, const void *request,
    const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_resolve_result_t *res)
{
    int                  rc;
    json_t              *o, *info;
    static yibao_str_t   q = yibao_string("5203");

    rc = yibao_resolve_open(&q, data, len, res, &o, &info);

    if (rc == YIBAO_OK && info != NULL) {

        if (j->infno.len >= 4 && memcmp(j->infno.data, "2208", 4) == 0) {
            /* the cancellation stands if the settlement is refunded */
            rc = yibao_resolve_query(j, info, a, res);

        } else {
            rc = yibao_resolve_settlement(j, request, info, a, res);
        }
    }

    json_decref(o);

    return rc;
}


/*
 * A settlement the journal forgot, against the visit's settlement in
 * effect (info, 5203's setlinfo): none (reversed or refunded), another
 * one (another msgid and another medfee_sumamt), or this one.
 */

static int
yibao_resolve_settlement(const yibao_journal_t *j, const void *request,
    json_t *info, yibao_alloc_t *a, yibao_resolve_result_t *res)
{
    int           rc, mine;
    json_t       *v, *d;
    const char   *flag, *refunded;
    yibao_str_t   want, got;

    flag = json_string_value(json_object_get(info, "vali_flag"));

    refunded = json_string_value(json_object_get(info, "refd_setl_flag"));

    if ((flag != NULL && strcmp(flag, "0") == 0)
        || (refunded != NULL && strcmp(refunded, "1") == 0))
    {
        res->outcome = YIBAO_RESOLVE_FAILED;
        snprintf(res->reason, sizeof(res->reason),
                 "5203: the visit's settlement was %s: nothing of it "
                 "stands", flag != NULL && strcmp(flag, "0") == 0
                           ? "reversed" : "refunded");
        return YIBAO_OK;
    }

    v = json_object_get(info, "medins_setl_id");
    mine = yibao_resolve_eq(v, &j->msgid)
           || yibao_resolve_eq(v, &j->upstream_msgid);

    d = json_object_get(json_object_get((json_t *) request, "input"),
                        "data");

    rc = yibao_journal_amount(info, "medfee_sumamt", a, &got);

    if (rc == YIBAO_OK) {
        rc = yibao_journal_amount(d, "medfee_sumamt", a, &want);
    }

    if (rc != YIBAO_OK) {
        return YIBAO_ERR_NOMEM;
    }

    if (!mine
        && (want.len == 0 || got.len != want.len
            || memcmp(got.data, want.data, want.len) != 0))
    {
        res->outcome = YIBAO_RESOLVE_OTHER;
        snprintf(res->reason, sizeof(res->reason),
                 "5203: the visit has a settlement in effect of "
                 "medfee_sumamt %.*s (setl_id %.40s, msgid %.40s), not of "
                 "this request's %.*s",
                 (int) got.len, got.data,
                 json_is_string(json_object_get(info, "setl_id"))
                 ? json_string_value(json_object_get(info, "setl_id")) : "",
                 json_is_string(v) ? json_string_value(v) : "",
                 (int) want.len, want.data);
        return YIBAO_OK;
    }

    rc = yibao_resolve_keep(json_object_get(info, "setl_id"), a,
                            &res->setl_id);

    if (rc == YIBAO_OK) {
        rc = yibao_resolve_keep(v, a, &res->platform_msgid);
    }

    if (rc != YIBAO_OK) {
        return rc;
    }

    if (res->setl_id.len == 0) {
        snprintf(res->reason, sizeof(res->reason),
                 "5203 answered without setl_id");
        return YIBAO_OK;
    }

    res->outcome = YIBAO_RESOLVE_OK;
    snprintf(res->reason, sizeof(res->reason),
             "5203: the visit is settled (setl_id %.40s, msgid %.40s%s)",
             json_string_value(json_object_get(info, "setl_id")),
             json_is_string(v) ? json_string_value(v) : "",
             mine ? "" : ", the same medfee_sumamt");

    return YIBAO_OK;
}


static int
yibao_resolve_keep(json_t *v, yibao_alloc_t *a, yibao_str_t *out)
{
    size_t          n;
    unsigned char  *p;

    out->data = (const unsigned char *) "";
    out->len = 0;

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return YIBAO_OK;
    }

    n = json_string_length(v);

    p = yibao_alloc(a, n);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, json_string_value(v), n);
    out->data = p;
    out->len = n;

    return YIBAO_OK;
}


/*
 * res->reason = prefix + text, cut at a character boundary (UTF-8) when
 * it does not fit.
 */

static void
yibao_resolve_text(yibao_resolve_result_t *res, const char *prefix,
    const char *text)
{
    size_t  n, len, max;

    n = strlen(prefix);
    max = sizeof(res->reason) - 1;

    if (n > max) {
        n = max;
    }

    memcpy(res->reason, prefix, n);

    len = strlen(text);

    if (n + len > max) {
        len = max - n;

        /* not inside a multi-byte character */
        while (len > 0 && (((unsigned char) text[len]) & 0xC0) == 0x80) {
            len--;
        }
    }

    memcpy(res->reason + n, text, len);
    res->reason[n + len] = '\0';
}


static int
yibao_resolve_query(const yibao_journal_t *j, json_t *info, yibao_alloc_t *a,
    yibao_resolve_result_t *res)
{
    json_t  *v;

    if (j->infno.len >= 4 && memcmp(j->infno.data, "2208", 4) == 0) {

        /* the cancellation happened if the settlement is refunded */

        v = json_object_get(info, "refd_setl_flag");

        if (!json_is_string(v)) {
            snprintf(res->reason, sizeof(res->reason),
                     "5203 answered without refd_setl_flag");
            return YIBAO_OK;
        }

        if (strcmp(json_string_value(v), "1") == 0) {
            res->outcome = YIBAO_RESOLVE_OK;
            res->setl_id = j->setl_id;
            snprintf(res->reason, sizeof(res->reason),
                     "5203: the settlement is cancelled (refd_setl_flag 1)");

        } else {
            res->outcome = YIBAO_RESOLVE_FAILED;
            snprintf(res->reason, sizeof(res->reason),
                     "not cancelled by the platform (5203: refd_setl_flag "
                     "%s)", json_string_value(v));
        }

        return YIBAO_OK;
    }

    /* 2207: the visit's settlement made by this very msgid */

    if (!yibao_resolve_eq(json_object_get(info, "medins_setl_id"),
                          &j->upstream_msgid))
    {
        snprintf(res->reason, sizeof(res->reason),
                 "5203 found a settlement of the visit made by another "
                 "msgid (medins_setl_id %.40s)",
                 json_is_string(json_object_get(info, "medins_setl_id"))
                 ? json_string_value(json_object_get(info, "medins_setl_id"))
                 : "missing");
        return YIBAO_OK;
    }

    if (yibao_resolve_keep(json_object_get(info, "setl_id"), a,
                           &res->setl_id)
        != YIBAO_OK)
    {
        return YIBAO_ERR_NOMEM;
    }

    if (res->setl_id.len == 0) {
        snprintf(res->reason, sizeof(res->reason),
                 "5203 answered without setl_id");
        return YIBAO_OK;
    }

    v = json_object_get(info, "vali_flag");

    if (json_is_string(v) && strcmp(json_string_value(v), "0") == 0) {
        res->outcome = YIBAO_RESOLVE_REVERSED;
        snprintf(res->reason, sizeof(res->reason),
                 "5203: settled, then reversed (vali_flag 0)");
        return YIBAO_OK;
    }

    res->outcome = YIBAO_RESOLVE_OK;
    snprintf(res->reason, sizeof(res->reason), "5203: settled");

    return YIBAO_OK;
}


int
yibao_resolve_outputs(yibao_journal_t *j, const unsigned char *answer,
    size_t len, yibao_alloc_t *a)
{
    if (!yibao_code_is_infno(j->infno.data, j->infno.len)
        || yibao_code_number(j->infno.data, 4) != 2207)
    {
        return YIBAO_OK;
    }

    return yibao_journal_outputs(NULL, answer, len, a, j);
}


void
yibao_resolve_mask(char *text, const yibao_str_t *psn_no)
{
    char    *p;
    size_t   len;

    if (psn_no->len == 0) {
        return;
    }

    len = strlen(text);
    p = text;

    while ((size_t) (p - text) + psn_no->len <= len) {
        p = memchr(p, psn_no->data[0], len - (p - text));

        if (p == NULL || (size_t) (p - text) + psn_no->len > len) {
            return;
        }

        if (memcmp(p, psn_no->data, psn_no->len) == 0) {
            yibao_mask_psn_no(psn_no->data, psn_no->len,
                              (unsigned char *) p);
            p += psn_no->len;
            continue;
        }

        p++;
    }
}


int
yibao_resolve_mode_parse(const unsigned char *p, size_t len,
    yibao_resolve_mode_e *mode)
{
    if (len == 5 && memcmp(p, "query", 5) == 0) {
        *mode = YIBAO_RESOLVE_QUERY;

    } else if (len == 7 && memcmp(p, "reverse", 7) == 0) {
        *mode = YIBAO_RESOLVE_REVERSE;

    } else if (len == 3 && memcmp(p, "off", 3) == 0) {
        *mode = YIBAO_RESOLVE_OFF;

    } else {
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


uint64_t
yibao_resolve_backoff(uint64_t interval_ms, unsigned n)
{
    if (n == 0) {
        return 0;
    }

    if (n > 6) {
        n = 6;
    }

    return interval_ms << (n - 1);
}


static int
yibao_resolve_set(json_t *o, const char *key, const yibao_str_t *s)
{
    json_t  *v;

    v = json_stringn((const char *) s->data, s->len);
    if (v == NULL) {
        return -1;
    }

    return json_object_set_new(o, key, v);
}


static int
yibao_resolve_eq(json_t *v, const yibao_str_t *s)
{
    return json_is_string(v) && json_string_length(v) == s->len
           && memcmp(json_string_value(v), s->data, s->len) == 0;
}


static int
yibao_resolve_says(const char *msg, const char *what)
{
    return strstr(msg, what) != NULL;
}
