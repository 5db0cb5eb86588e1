/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "yibao_replay.h"
#include "yibao_envelope.h"
#include "yibao_fields.h"
#include "yibao_gwerr.h"
#include "yibao_resolve.h"
#include "yibao_signin.h"


/* the steps, in order; an attempt begins with its 9001 */

static const char  *yibao_replay_steps[] = {
    "1101", "2201", "2203", "2204", "2206", NULL
};


/* what 1101 takes of the visit */

static const char  *yibao_replay_cert[] = {
    "mdtrt_cert_type", "mdtrt_cert_no", "card_sn", "psn_cert_type",
    "certno", "begntime", NULL
};


/* what the 2207 takes of the 2206's result */

static const char  *yibao_replay_setl_keys[] = {
    "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
    "inscp_scp_amt", NULL
};


static json_t *yibao_replay_settle_input(json_t *body, json_t *replay,
    const char *settle, yibao_err_t *err);


/* the record parsed: NULL when it is not a record */

static json_t *
yibao_replay_load(const unsigned char *p, size_t len, json_t **body,
    json_t **replay)
{
    json_t        *rec;
    json_error_t   e;

    rec = json_loadb((const char *) p, len, JSON_REJECT_DUPLICATES, &e);

    *body = json_object_get(rec, "body");

    if (!json_is_object(*body)) {
        json_decref(rec);
        return NULL;
    }

    *replay = json_object_get(rec, "replay");

    if (!json_is_object(*replay)) {
        *replay = json_object();

        if (*replay == NULL
            || json_object_set_new(rec, "replay", *replay) != 0)
        {
            json_decref(rec);
            return NULL;
        }
    }

    return rec;
}


static const char *
yibao_replay_str(json_t *o, const char *key)
{
    json_t  *v;

    v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : "";
}


static void
yibao_replay_copy(json_t *o, const char *key, char *dst, size_t size)
{
    snprintf(dst, size, "%s", yibao_replay_str(o, key));
}


/* the record's text with its state: *out from a */

static int
yibao_replay_text(json_t *rec, const char *state, yibao_alloc_t *a,
    yibao_str_t *out)
{
    int  rc;

    if (state != NULL
        && json_object_set_new(rec, "state", json_string(state)) != 0)
    {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_offline_render(rec, a, out);

    json_decref(rec);

    return rc;
}


int
yibao_replay_info(const unsigned char *p, size_t len,
    yibao_replay_info_t *info)
{
    json_t  *rec, *body, *replay, *setl;

    memset(info, 0, sizeof(yibao_replay_info_t));
    info->psn_cash = -1;
    info->fund_pay = -1;
    info->medfee = -1;

    rec = yibao_replay_load(p, len, &body, &replay);
    if (rec == NULL) {
        return YIBAO_ERR_INVALID;
    }

    yibao_replay_copy(rec, "state", info->state, sizeof(info->state));
    yibao_replay_copy(replay, "done", info->done, sizeof(info->done));
    yibao_replay_copy(replay, "by", info->by, sizeof(info->by));
    yibao_replay_copy(replay, "mdtrt_id", info->mdtrt_id,
                      sizeof(info->mdtrt_id));
    yibao_replay_copy(replay, "reason", info->reason, sizeof(info->reason));
    info->until = (uint64_t) json_integer_value(json_object_get(replay,
                                                                "until"));
    info->attempts = (uint64_t) json_integer_value(
                                    json_object_get(replay, "attempts"));
    info->paid = yibao_offline_cents_json(json_object_get(body, "paid"));

    setl = json_object_get(replay, "setl");

    if (json_is_object(setl)) {
        info->psn_cash = yibao_offline_cents_json(
                             json_object_get(setl, "psn_cash_pay"));
        info->fund_pay = yibao_offline_cents_json(
                             json_object_get(setl, "fund_pay_sumamt"));
        info->medfee = yibao_offline_cents_json(
                           json_object_get(setl, "medfee_sumamt"));
    }

    json_decref(rec);

    return YIBAO_OK;
}


int
yibao_replay_claim(const unsigned char *p, size_t len,
    const yibao_replay_conf_t *conf, const char *by, int force,
    const char *now_text, uint64_t now_ms, uint64_t until_ms,
    yibao_alloc_t *a, yibao_str_t *out, yibao_replay_result_t *res)
{
    json_t                *rec, *body, *replay, *data;
    const char            *state, *next, *reason;
    yibao_str_t            none;
    yibao_offline_plan_e   plan;

    memset(res, 0, sizeof(yibao_replay_result_t));

    rec = yibao_replay_load(p, len, &body, &replay);
    if (rec == NULL) {
        return YIBAO_ERR_INVALID;
    }

    state = yibao_replay_str(rec, "state");

    if (strcmp(state, "replaying") == 0) {
        /* a driver that went away: its claim ran out */

        if ((uint64_t) json_integer_value(json_object_get(replay, "until"))
            > now_ms)
        {
            json_decref(rec);
            return YIBAO_ERR_INVALID;
        }

        state = "recorded";

    } else if (force && strcmp(state, "waiting") == 0) {
        state = "recorded";
    }

    if (yibao_offline_next(state, "start", &next) != YIBAO_OK) {
        json_decref(rec);
        return YIBAO_ERR_INVALID;
    }

    if (!force) {
        data = json_object_get(json_object_get(body, "visit"), "data");
        none.data = (const unsigned char *) "";
        none.len = 0;

        plan = yibao_offline_plan(yibao_replay_str(data, "begntime"),
                                  (uint64_t) json_integer_value(
                                      json_object_get(body, "recorded_ms")),
                                  now_text, now_ms, &conf->admdvs, &none,
                                  &conf->plan, &reason);

        if (plan != YIBAO_OFFLINE_REPLAY) {
            (void) yibao_offline_next(state, "wait", &next);

            if (json_object_set_new(replay, "reason", json_string(reason))
                != 0)
            {
                json_decref(rec);
                return YIBAO_ERR_NOMEM;
            }

            res->outcome = YIBAO_REPLAY_WAIT;
            res->event = "wait";
            res->state = next;
            snprintf(res->reason, sizeof(res->reason), "%s", reason);

            return yibao_replay_text(rec, next, a, out);
        }
    }

    if (json_object_set_new(replay, "by", json_string(by)) != 0
        || json_object_set_new(replay, "until",
                               json_integer((json_int_t) until_ms))
           != 0
        || json_object_set_new(replay, "forced", json_boolean(force)) != 0
        || json_object_set_new(replay, "attempts",
                  json_integer(json_integer_value(
                                   json_object_get(replay, "attempts"))
                               + 1))
           != 0)
    {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    json_object_del(replay, "reason");

    res->outcome = YIBAO_REPLAY_NEXT;
    res->event = "start";
    res->state = next;

    return yibao_replay_text(rec, next, a, out);
}


int
yibao_replay_release(const unsigned char *p, size_t len, const char *reason,
    yibao_alloc_t *a, yibao_str_t *out)
{
    json_t      *rec, *body, *replay;
    const char  *next;

    rec = yibao_replay_load(p, len, &body, &replay);
    if (rec == NULL) {
        return YIBAO_ERR_INVALID;
    }

    if (yibao_offline_next(yibao_replay_str(rec, "state"), "lost", &next)
        != YIBAO_OK
        || strcmp(yibao_replay_str(rec, "state"), "replaying") != 0)
    {
        json_decref(rec);
        return YIBAO_ERR_INVALID;
    }

    json_object_del(replay, "by");
    json_object_del(replay, "until");

    if (reason != NULL
        && json_object_set_new(replay, "reason", json_string(reason)) != 0)
    {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    return yibao_replay_text(rec, next, a, out);
}


/* the step after the last one answered; NULL after the 2206 */

static const char *
yibao_replay_step(json_t *replay)
{
    size_t       i;
    const char  *done;

    done = yibao_replay_str(replay, "done");

    if (*done == '\0') {
        return yibao_replay_steps[0];
    }

    for (i = 0; yibao_replay_steps[i] != NULL; i++) {
        if (strcmp(done, yibao_replay_steps[i]) == 0) {
            return yibao_replay_steps[i + 1];
        }
    }

    return NULL;
}


/* a copy of o with key set to a string kept in replay */

static int
yibao_replay_set(json_t *o, const char *key, json_t *replay,
    const char *from)
{
    json_t  *v;

    v = json_object_get(replay, from);

    if (!json_is_string(v)) {
        return -1;
    }

    return json_object_set(o, key, v);
}


/* the head of the record's envelopes: the kept one, or one made up */

static json_t *
yibao_replay_head(json_t *body, json_t *replay,
    const yibao_replay_conf_t *conf, const yibao_str_t *sign_no)
{
    json_t      *head;
    const char  *opter;

    head = json_object_get(body, "head");

    if (json_is_object(head)) {
        head = json_deep_copy(head);

    } else {
        opter = yibao_replay_str(body, "opter");

        head = json_pack("{s:s%,s:s,s:s,s:s,s:s,s:s}",
                         "mdtrtarea_admvs", (const char *) conf->admdvs.data,
                         conf->admdvs.len, "recer_sys_code", "YBGW",
                         "infver", "V1.0", "opter_type", "1",
                         "opter", opter, "opter_name", opter);
    }

    if (head == NULL) {
        return NULL;
    }

    if (json_object_set_new(head, "sign_no",
                            json_stringn(sign_no->len
                                         ? (const char *) sign_no->data : "",
                                         sign_no->len))
        != 0
        || json_object_set_new(head, "insuplc_admdvs",
                               json_string(yibao_replay_str(
                                   replay, "insuplc_admdvs")))
           != 0)
    {
        json_decref(head);
        return NULL;
    }

    return head;
}


/*
 * 2206 and 2207: the visit's fee lines settled at once, in cash (the
 * patient paid at the counter); the 2207 with the 2206's amounts.
 */

static json_t *
yibao_replay_settle_input(json_t *body, json_t *replay, const char *settle,
    yibao_err_t *err)
{
    size_t        i;
    char          amount[32];
    json_t       *visit, *data, *in, *o, *rows, *row, *setl;
    int64_t       total;
    const char  **k;

    visit = json_object_get(body, "visit");
    data = json_object_get(visit, "data");
    rows = json_object_get(visit, "feedetail");

    in = json_object();
    if (in == NULL) {
        goto nomem;
    }

    total = 0;

    json_array_foreach(rows, i, row) {
        total += yibao_offline_cents_json(json_object_get(
                                              row, "det_item_fee_sumamt"));
    }

    row = json_array_get(rows, 0);

    o = json_pack("{s:O?,s:O?,s:O?,s:s,s:s,s:O?,s:s,s:O?}",
                  "mdtrt_cert_type", json_object_get(data,
                                                     "mdtrt_cert_type"),
                  "mdtrt_cert_no", json_object_get(data, "mdtrt_cert_no"),
                  "med_type", json_object_get(json_object_get(visit,
                                                              "mdtrtinfo"),
                                              "med_type"),
                  "medfee_sumamt", yibao_offline_amount(total, amount),
                  "psn_setlway", "01",
                  "chrg_bchno", json_object_get(row, "chrg_bchno"),
                  "acct_used_flag", "0",
                  "card_sn", json_object_get(data, "card_sn"));
    if (o == NULL || json_object_set_new(in, "data", o) != 0) {
        goto nomem;
    }

    for (k = yibao_replay_cert; *k; k++) {
        if (json_is_null(json_object_get(o, *k))) {
            json_object_del(o, *k);
        }
    }

    if (yibao_replay_set(o, "psn_no", replay, "psn_no") != 0
        || yibao_replay_set(o, "mdtrt_id", replay, "mdtrt_id") != 0
        || yibao_replay_set(o, "insutype", replay, "insutype") != 0)
    {
        json_decref(in);
        yibao_err_set(err, YIBAO_GWERR_INTERNAL, "the record has no "
                      "psn_no, mdtrt_id or insutype from its replay");
        return NULL;
    }

    if (settle == NULL) {
        return in;
    }

    /* 2207: the amounts the 2206 computed */

    setl = json_object_get(replay, "setl");

    for (k = yibao_replay_setl_keys; *k; k++) {
        if (json_object_get(setl, *k) == NULL
            || json_object_set(o, *k, json_object_get(setl, *k)) != 0)
        {
            json_decref(in);
            yibao_err_set(err, YIBAO_GWERR_INTERNAL, "the record has no "
                          "2206 result (%s) for its 2207", *k);
            return NULL;
        }
    }

    return in;

nomem:

    json_decref(in);
    yibao_err_set(err, YIBAO_GWERR_INTERNAL, "out of memory");

    return NULL;
}


/* the keys of o that are there, in an object of their own */

static json_t *
yibao_replay_pick(json_t *o, const char **keys)
{
    json_t  *out, *v;

    out = json_object();

    for ( /* void */ ; out != NULL && *keys; keys++) {
        v = json_object_get(o, *keys);

        if (v != NULL && json_object_set(out, *keys, v) != 0) {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


/* the input of step (not 9001) from the visit and what was answered */

static json_t *
yibao_replay_input(const char *step, json_t *body, json_t *replay,
    const char *settle, yibao_err_t *err)
{
    size_t   i;
    json_t  *visit, *data, *in, *o, *row, *v;

    if (strcmp(step, "2206") == 0 || strcmp(step, "2207") == 0) {
        return yibao_replay_settle_input(body, replay, settle, err);
    }

    visit = json_object_get(body, "visit");
    data = json_object_get(visit, "data");

    in = json_object();
    if (in == NULL) {
        goto nomem;
    }

    if (strcmp(step, "1101") == 0) {
        o = yibao_replay_pick(data, yibao_replay_cert);

        if (o == NULL || json_object_set_new(in, "data", o) != 0) {
            goto nomem;
        }

        return in;
    }

    /* o goes into in at once: in is what is freed on failure */

    if (strcmp(step, "2201") == 0) {
        o = json_deep_copy(data);

        if (o == NULL || json_object_set_new(in, "data", o) != 0) {
            goto nomem;
        }

        if (yibao_replay_set(o, "psn_no", replay, "psn_no") != 0
            || yibao_replay_set(o, "insutype", replay, "insutype") != 0)
        {
            goto lacks;
        }

        return in;
    }

    if (strcmp(step, "2203") == 0) {
        o = json_deep_copy(json_object_get(visit, "mdtrtinfo"));
        v = json_object_get(visit, "diseinfo");

        if (o == NULL || json_object_set_new(in, "mdtrtinfo", o) != 0
            || json_object_set(in, "diseinfo", v) != 0)
        {
            goto nomem;
        }

        if (yibao_replay_set(o, "mdtrt_id", replay, "mdtrt_id") != 0
            || yibao_replay_set(o, "psn_no", replay, "psn_no") != 0)
        {
            goto lacks;
        }

        return in;
    }

    if (strcmp(step, "2204") == 0) {
        o = json_deep_copy(json_object_get(visit, "feedetail"));
        if (o == NULL || json_object_set_new(in, "feedetail", o) != 0) {
            goto nomem;
        }

        json_array_foreach(o, i, row) {
            if (yibao_replay_set(row, "mdtrt_id", replay, "mdtrt_id") != 0
                || yibao_replay_set(row, "psn_no", replay, "psn_no") != 0)
            {
                goto lacks;
            }
        }

        return in;
    }

    json_decref(in);
    yibao_err_set(err, YIBAO_GWERR_INTERNAL, "no step %s", step);

    return NULL;

lacks:

    json_decref(in);
    yibao_err_set(err, YIBAO_GWERR_INTERNAL, "the record has no psn_no, "
                  "insutype or mdtrt_id from its replay for its %s", step);

    return NULL;

nomem:

    json_decref(in);
    yibao_err_set(err, YIBAO_GWERR_INTERNAL, "out of memory");

    return NULL;
}


int
yibao_replay_request(const unsigned char *p, size_t len,
    const yibao_replay_conf_t *conf, const yibao_str_t *sign_no,
    const yibao_str_t *msgid, const yibao_tm_t *now, yibao_alloc_t *a,
    yibao_str_t *infno, yibao_str_t *body, yibao_err_t *err)
{
    int           rc;
    json_t       *rec, *b, *replay, *head, *input;
    yibao_str_t   opter, head_text;
    const char   *step, *state;

    rec = yibao_replay_load(p, len, &b, &replay);
    if (rec == NULL) {
        yibao_err_set(err, YIBAO_GWERR_INTERNAL, "the record cannot be "
                      "read");
        return YIBAO_ERR_INVALID;
    }

    state = yibao_replay_str(rec, "state");

    if (strcmp(state, "settling") == 0) {
        step = "2207";

    } else if (strcmp(state, "replaying") != 0) {
        yibao_err_set(err, YIBAO_GWERR_INTERNAL, "a %s record is not "
                      "replayed", state);
        json_decref(rec);
        return YIBAO_ERR_INVALID;

    } else if (sign_no->len == 0) {
        step = "9001";

    } else {
        step = yibao_replay_step(replay);

        if (step == NULL) {
            json_decref(rec);
            yibao_err_set(err, YIBAO_GWERR_INTERNAL, "the record's replay "
                          "is done");
            return YIBAO_ERR_INVALID;
        }
    }

    if (strcmp(step, "9001") == 0) {
        opter.data = (const unsigned char *) yibao_replay_str(b, "opter");
        opter.len = strlen((const char *) opter.data);

        input = yibao_signin_input(&opter, &conf->mac, &conf->ip);

    } else {
        input = yibao_replay_input(step, b, replay,
                                   step[3] == '7' ? "settle" : NULL, err);
    }

    if (input == NULL) {
        json_decref(rec);

        if (err->msg[0] == '\0') {
            yibao_err_set(err, YIBAO_GWERR_INTERNAL, "out of memory");
        }

        return YIBAO_ERR_INVALID;
    }

    head = yibao_replay_head(b, replay, conf, sign_no);

    if (head == NULL || yibao_json_serialize(head, a, &head_text) != YIBAO_OK)
    {
        json_decref(head);
        json_decref(input);
        json_decref(rec);
        yibao_err_set(err, YIBAO_GWERR_INTERNAL, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    json_decref(head);

    infno->data = (const unsigned char *) step;
    infno->len = 4;

    /* step points into static text: rec may go */

    json_decref(rec);

    rc = yibao_resolve_envelope(&head_text, infno, &conf->entity_code,
                                &conf->entity_name, msgid, now, input, a,
                                body, err);

    return rc;
}


/*
 * The answer's envelope: *out the parsed answer (NULL: none), *output
 * its output; YIBAO_OK when infcode is 0, YIBAO_ERR_INVALID when it is
 * a refusal (reason: err_msg), YIBAO_ERR_NOT_FOUND when the answer says
 * nothing.
 */

static int
yibao_replay_open(const unsigned char *data, size_t len, json_t **out,
    json_t **output, char *reason, size_t size)
{
    json_t        *o, *code;
    json_error_t   e;

    *out = NULL;
    *output = NULL;

    if (data == NULL) {
        snprintf(reason, size, "no answer");
        return YIBAO_ERR_NOT_FOUND;
    }

    o = json_loadb((const char *) data, len, 0, &e);
    code = json_object_get(o, "infcode");

    if (!json_is_integer(code) && !json_is_string(code)) {
        json_decref(o);
        snprintf(reason, size, "the answer is not a national envelope");
        return YIBAO_ERR_NOT_FOUND;
    }

    *out = o;

    if ((json_is_integer(code) && json_integer_value(code) == 0)
        || (json_is_string(code) && strcmp(json_string_value(code), "0")
                                    == 0))
    {
        *output = json_object_get(o, "output");
        return YIBAO_OK;
    }

    snprintf(reason, size, "%s", yibao_replay_str(o, "err_msg"));

    if (reason[0] == '\0') {
        snprintf(reason, size, "refused without a message");
    }

    return YIBAO_ERR_INVALID;
}


/* the platform's message without the person's numbers */

static void
yibao_replay_mask(char *reason, json_t *body, json_t *replay)
{
    size_t        n;
    json_t       *data;
    yibao_str_t   v[3];
    const char   *s[3];

    data = json_object_get(json_object_get(body, "visit"), "data");

    s[0] = yibao_replay_str(replay, "psn_no");
    s[1] = yibao_replay_str(data, "mdtrt_cert_no");
    s[2] = yibao_replay_str(data, "certno");

    for (n = 0; n < 3; n++) {
        v[n].data = (const unsigned char *) s[n];
        v[n].len = strlen(s[n]);
    }

    yibao_mask_values((unsigned char *) reason, strlen(reason), v, 3);
}


/* 1101: the person, the insurance of the visit, the insured's area */

static int
yibao_replay_person(json_t *output, json_t *body, json_t *replay,
    char *reason, size_t size)
{
    size_t       i;
    json_t      *base, *insu, *row, *pick, *psn;
    const char  *want;

    base = json_object_get(output, "baseinfo");
    insu = json_object_get(output, "insuinfo");
    psn = json_object_get(base, "psn_no");

    want = yibao_replay_str(json_object_get(json_object_get(body, "visit"),
                                            "data"),
                            "insutype");
    pick = NULL;

    json_array_foreach(insu, i, row) {
        if (pick == NULL || strcmp(want, yibao_replay_str(row, "insutype"))
                            == 0)
        {
            pick = row;
        }
    }

    if (!json_is_string(psn) || pick == NULL
        || *yibao_replay_str(pick, "insutype") == '\0')
    {
        snprintf(reason, size, "1101 gave no psn_no or insurance");
        return YIBAO_ERR_INVALID;
    }

    if (json_object_set(replay, "psn_no", psn) != 0
        || json_object_set_new(replay, "insutype",
                               json_string(yibao_replay_str(pick,
                                                            "insutype")))
           != 0
        || json_object_set_new(replay, "insuplc_admdvs",
                               json_string(yibao_replay_str(
                                   pick, "insuplc_admdvs")))
           != 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/* 2206: the amounts, kept as the platform gave them (in yuan) */

static int
yibao_replay_setl(json_t *output, json_t *replay, char *reason, size_t size)
{
    char          amount[32];
    json_t       *info, *setl;
    int64_t       c;
    const char  **k;

    static const char  *keys[] = {
        "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay",
        "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
        "inscp_scp_amt", NULL
    };

    info = json_object_get(output, "setlinfo");

    setl = json_object();
    if (setl == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    for (k = keys; *k; k++) {
        c = yibao_offline_cents_json(json_object_get(info, *k));

        if (c < 0 && strcmp(*k, "psn_cash_pay") == 0) {
            json_decref(setl);
            snprintf(reason, size, "2206 gave no psn_cash_pay");
            return YIBAO_ERR_INVALID;
        }

        if (c >= 0
            && json_object_set_new(setl, *k,
                                   json_string(yibao_offline_amount(c,
                                                                    amount)))
               != 0)
        {
            json_decref(setl);
            return YIBAO_ERR_NOMEM;
        }
    }

    return json_object_set_new(replay, "setl", setl) == 0
           ? YIBAO_OK : YIBAO_ERR_NOMEM;
}


/* what an answered step gives the record; NULL reason: nothing wrong */

static int
yibao_replay_learn(const char *step, json_t *output, json_t *body,
    json_t *replay, char *reason, size_t size)
{
    json_t  *id;

    if (strcmp(step, "1101") == 0) {
        return yibao_replay_person(output, body, replay, reason, size);
    }

    if (strcmp(step, "2201") == 0) {
        id = json_object_get(json_object_get(output, "data"), "mdtrt_id");

        if (!json_is_string(id)) {
            snprintf(reason, size, "2201 gave no mdtrt_id");
            return YIBAO_ERR_INVALID;
        }

        return json_object_set(replay, "mdtrt_id", id) == 0
               ? YIBAO_OK : YIBAO_ERR_NOMEM;
    }

    if (strcmp(step, "2206") == 0) {
        return yibao_replay_setl(output, replay, reason, size);
    }

    return YIBAO_OK;
}


static int
yibao_replay_outcome(json_t *rec, json_t *replay, yibao_replay_outcome_e o,
    const char *event, yibao_alloc_t *a, yibao_str_t *out,
    yibao_replay_result_t *res)
{
    size_t       i;
    const char  *next;

    static const char  *states[] = {
        "recorded", "waiting", "replaying", "pending", "settling",
        "settled", "rejected", "voided", NULL
    };

    res->outcome = o;
    res->event = event;
    res->state = "";

    /* a name that outlives rec */

    for (i = 0; states[i] != NULL; i++) {
        if (strcmp(states[i], yibao_replay_str(rec, "state")) == 0) {
            res->state = states[i];
        }
    }

    if (event != NULL) {
        if (yibao_offline_next(res->state, event, &next) != YIBAO_OK) {
            json_decref(rec);
            return YIBAO_ERR_INVALID;
        }

        res->state = next;

        if (strcmp(next, "replaying") != 0) {
            json_object_del(replay, "by");
            json_object_del(replay, "until");
        }
    }

    if (res->reason[0] && o != YIBAO_REPLAY_NEXT
        && json_object_set_new(replay, "reason",
                               json_string(res->reason))
           != 0)
    {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    return yibao_replay_text(rec, res->state, a, out);
}


/* the attempt's 9001 answered: its sign_no, or lost */

static int
yibao_replay_signed(json_t *rec, json_t *replay, const unsigned char *data,
    size_t dlen, yibao_alloc_t *a, yibao_str_t *out, yibao_str_t *sign_no,
    yibao_replay_result_t *res)
{
    int  rc;

    rc = (data == NULL) ? YIBAO_ERR_INVALID
                        : yibao_signin_answer(data, dlen, a, sign_no,
                                              res->reason,
                                              sizeof(res->reason));

    if (rc == YIBAO_ERR_NOMEM) {
        json_decref(rec);
        return rc;
    }

    if (rc != YIBAO_OK) {
        /* no sign-in: nothing of the visit was sent, again later */

        if (data == NULL) {
            snprintf(res->reason, sizeof(res->reason), "no answer");
        }

        return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_LOST, "lost",
                                    a, out, res);
    }

    return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_NEXT, NULL, a, out,
                                res);
}


int
yibao_replay_answer(const unsigned char *p, size_t len,
    const yibao_replay_conf_t *conf, const yibao_str_t *infno,
    const unsigned char *data, size_t dlen, const char *now_text,
    uint64_t now_ms, yibao_alloc_t *a, yibao_str_t *out,
    yibao_str_t *sign_no, yibao_replay_result_t *res)
{
    int                    rc;
    char                   step[8];
    json_t                *rec, *body, *replay, *ans, *output, *forced;
    yibao_str_t            insuplc;
    const char            *reason;
    yibao_offline_plan_e   plan;

    memset(res, 0, sizeof(yibao_replay_result_t));

    rec = yibao_replay_load(p, len, &body, &replay);
    if (rec == NULL || infno->len != 4) {
        json_decref(rec);
        return YIBAO_ERR_INVALID;
    }

    memcpy(step, infno->data, 4);
    step[4] = '\0';

    if (strcmp(step, "9001") == 0) {
        return yibao_replay_signed(rec, replay, data, dlen, a, out, sign_no,
                                   res);
    }

    rc = yibao_replay_open(data, dlen, &ans, &output, res->reason,
                           sizeof(res->reason));

    yibao_replay_mask(res->reason, body, replay);

    if (rc == YIBAO_ERR_NOT_FOUND) {
        /* the 2207's unknown outcome is the journal's: it stays */

        return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_LOST,
                                    step[3] == '7' ? NULL : "lost", a, out,
                                    res);
    }

    if (rc == YIBAO_ERR_INVALID) {
        json_decref(ans);
        return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_REJECTED,
                                    "refused", a, out, res);
    }

    if (strcmp(step, "2207") == 0) {
        json_decref(ans);
        return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_SETTLED,
                                    "settled", a, out, res);
    }

    rc = yibao_replay_learn(step, output, body, replay, res->reason,
                            sizeof(res->reason));

    json_decref(ans);

    if (rc == YIBAO_ERR_NOMEM) {
        json_decref(rec);
        return rc;
    }

    if (rc != YIBAO_OK) {
        /* answered, but without what the next step needs */
        return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_LOST, "lost",
                                    a, out, res);
    }

    if (json_object_set_new(replay, "done", json_string(step)) != 0) {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    if (strcmp(step, "2206") == 0) {
        return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_PENDING,
                                    "presettled", a, out, res);
    }

    forced = json_object_get(replay, "forced");

    if (strcmp(step, "1101") == 0 && !json_is_true(forced)) {
        insuplc.data = (const unsigned char *)
                       yibao_replay_str(replay, "insuplc_admdvs");
        insuplc.len = strlen((const char *) insuplc.data);

        plan = yibao_offline_plan(now_text, now_ms, now_text, now_ms,
                                  &conf->admdvs, &insuplc, &conf->plan,
                                  &reason);

        if (plan == YIBAO_OFFLINE_WAIT_OFFSITE) {
            snprintf(res->reason, sizeof(res->reason), "%s", reason);
            return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_WAIT,
                                        "wait", a, out, res);
        }
    }

    return yibao_replay_outcome(rec, replay, YIBAO_REPLAY_NEXT, NULL, a, out,
                                res);
}
