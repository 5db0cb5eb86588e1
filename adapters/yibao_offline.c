/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "yibao_offline.h"
#include "yibao_codes.h"
#include "yibao_crypto.h"
#include "yibao_decimal.h"
#include "yibao_gwerr.h"


static const char  *yibao_offline_infnos[] = { "2201", "2203", "2204" };


int
yibao_offline_translate(yibao_envelope_t *env, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    const yibao_translate_opts_t *opts, yibao_alloc_t *a,
    yibao_translate_result_t *res, yibao_err_t *err)
{
    int                        rc, failed;
    size_t                     i, len;
    yibao_str_t                infno;
    unsigned char             *p;
    yibao_err_t                e;
    yibao_translate_result_t   r;

    memset(res, 0, sizeof(yibao_translate_result_t));

    infno = env->infno;
    failed = 0;

    for (i = 0; i < 3; i++) {
        env->infno.data = (const unsigned char *) yibao_offline_infnos[i];
        env->infno.len = 4;

        memset(&e, 0, sizeof(yibao_err_t));

        rc = yibao_translate_request(env, rules, map, scope, opts, a, &r,
                                     &e);

        if (rc == YIBAO_ERR_NOMEM) {
            env->infno = infno;
            return rc;
        }

        res->translated += r.translated;

        if (rc != YIBAO_OK) {
            if (!failed || e.gwerr == YIBAO_GWERR_UNMAPPED) {
                *err = e;
            }

            failed = 1;
            res->problems += r.problems;

            /* the lists joined by "; " */

            len = res->list.len + (res->list.len ? 2 : 0) + r.list.len + 1;

            p = yibao_alloc(a, len);
            if (p == NULL) {
                env->infno = infno;
                return YIBAO_ERR_NOMEM;
            }

            memcpy(p, res->list.data, res->list.len);
            len = res->list.len;

            if (len && r.list.len) {
                memcpy(p + len, "; ", 2);
                len += 2;
            }

            memcpy(p + len, r.list.data, r.list.len);
            len += r.list.len;
            p[len] = '\0';

            res->list.data = p;
            res->list.len = len;
        }
    }

    env->infno = infno;

    if (failed) {
        yibao_err_set(err, err->gwerr, "%zu problem%s in the visit's "
                      "2201, 2203 and 2204", res->problems,
                      res->problems == 1 ? "" : "s");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


int64_t
yibao_offline_cents_text(const char *p, size_t len)
{
    char             buf[40];
    yibao_decimal_t  d;

    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, p, len);
    buf[len] = '\0';

    if (yibao_decimal_text(&d, buf, len) != YIBAO_OK || !d.exact
        || d.m < 0)
    {
        return -1;
    }

    while (d.scale > 2) {
        if (d.m % 10) {
            return -1;
        }

        d.m /= 10;
        d.scale--;
    }

    while (d.scale < 2) {
        if (d.m > INT64_MAX / 10) {
            return -1;
        }

        d.m *= 10;
        d.scale++;
    }

    return d.m;
}


static int64_t
yibao_offline_cents(json_t *v)
{
    char             buf[40];
    size_t           n;
    yibao_decimal_t  d;

    if (json_is_string(v)) {
        return yibao_offline_cents_text(json_string_value(v),
                                        json_string_length(v));
    }

    if (json_is_integer(v)) {
        n = snprintf(buf, sizeof(buf), "%lld",
                     (long long) json_integer_value(v));
        return yibao_offline_cents_text(buf, n);
    }

    if (json_is_real(v)) {
        yibao_decimal_double(&d, json_real_value(v));

        if (!d.exact || d.scale > 2 || d.m < 0) {
            return -1;
        }

        for ( /* void */ ; d.scale < 2; d.scale++) {
            d.m *= 10;
        }

        return d.m;
    }

    return -1;
}


int64_t
yibao_offline_cents_json(const void *v)
{
    return yibao_offline_cents((json_t *) v);
}


char *
yibao_offline_amount(int64_t cents, char *buf)
{
    snprintf(buf, 32, "%s%lld.%02lld", cents < 0 ? "-" : "",
             (long long) (cents < 0 ? -cents : cents) / 100,
             (long long) (cents < 0 ? -cents : cents) % 100);

    return buf;
}


/* "yyyy-MM-dd HH:mm:ss", and not after now */

static int
yibao_offline_time(json_t *v, const char *now)
{
    size_t       i;
    const char  *s;

    if (!json_is_string(v) || json_string_length(v) != 19) {
        return 0;
    }

    s = json_string_value(v);

    for (i = 0; i < 19; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-') {
                return 0;
            }

        } else if (i == 10) {
            if (s[i] != ' ') {
                return 0;
            }

        } else if (i == 13 || i == 16) {
            if (s[i] != ':') {
                return 0;
            }

        } else if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return now == NULL || strcmp(s, now) <= 0;
}


static int
yibao_offline_identity(json_t *data, yibao_err_t *err)
{
    json_t      *type, *no, *card;
    const char  *t;

    type = json_object_get(data, "mdtrt_cert_type");
    no = json_object_get(data, "mdtrt_cert_no");

    t = json_is_string(type) ? json_string_value(type) : "";

    if (strcmp(t, "01") == 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "data.mdtrt_cert_type 01: an electronic "
                      "certificate's token cannot be used once the "
                      "platform is back; record the visit with the ID "
                      "number (02) or the social-security card (03)");
        return YIBAO_ERR_INVALID;
    }

    if (strcmp(t, "02") != 0 && strcmp(t, "03") != 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "data.mdtrt_cert_type must be 02 (ID number) or 03 "
                      "(social-security card)");
        return YIBAO_ERR_INVALID;
    }

    if (!json_is_string(no) || json_string_length(no) == 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "data.mdtrt_cert_no is missing");
        return YIBAO_ERR_INVALID;
    }

    card = json_object_get(data, "card_sn");

    if (t[1] == '3' && (!json_is_string(card)
                        || json_string_length(card) == 0))
    {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "data.card_sn is missing: a social-security card "
                      "(03) needs its card_sn");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


static int
yibao_offline_fees(json_t *fees, const char *now, yibao_offline_visit_t *v,
    yibao_err_t *err)
{
    size_t   i;
    json_t  *row;
    int64_t  c;

    if (!json_is_array(fees) || json_array_size(fees) == 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "feedetail must be a non-empty array (the 2204's "
                      "fee lines)");
        return YIBAO_ERR_INVALID;
    }

    json_array_foreach(fees, i, row) {
        if (!json_is_object(row)) {
            yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                          "feedetail[%zu] is not an object", i);
            return YIBAO_ERR_INVALID;
        }

        if (!yibao_offline_time(json_object_get(row, "fee_ocur_time"),
                                now))
        {
            yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                          "feedetail[%zu].fee_ocur_time must be "
                          "\"yyyy-MM-dd HH:mm:ss\", not in the future",
                          i);
            return YIBAO_ERR_INVALID;
        }

        c = yibao_offline_cents(json_object_get(row,
                                                "det_item_fee_sumamt"));
        if (c < 0 || c > INT64_MAX / 4 - v->total) {
            yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                          "feedetail[%zu].det_item_fee_sumamt must be an "
                          "amount in whole cents", i);
            return YIBAO_ERR_INVALID;
        }

        v->total += c;
    }

    v->lines = json_array_size(fees);

    return YIBAO_OK;
}


int
yibao_offline_check(yibao_envelope_t *env, const char *now_text,
    yibao_offline_visit_t *v, yibao_err_t *err)
{
    json_t  *input, *data, *info, *dise, *off;

    memset(v, 0, sizeof(yibao_offline_visit_t));

    if (env->infno.len != 4 || memcmp(env->infno.data, "2201", 4) != 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "infno must be 2201: a 记账 record is a visit (the "
                      "2201's data, the 2203's and the 2204's in input)");
        return YIBAO_ERR_INVALID;
    }

    input = json_object_get(env->doc, "input");
    data = json_object_get(input, "data");
    info = json_object_get(input, "mdtrtinfo");
    dise = json_object_get(input, "diseinfo");
    off = json_object_get(input, "offline");

    if (!json_is_object(data) || !json_is_object(info)
        || !json_is_object(off))
    {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "input needs data (the 2201's), mdtrtinfo and "
                      "diseinfo (the 2203's), feedetail (the 2204's) and "
                      "offline (what the patient paid)");
        return YIBAO_ERR_INVALID;
    }

    if (yibao_offline_identity(data, err) != YIBAO_OK) {
        return YIBAO_ERR_INVALID;
    }

    if (!yibao_offline_time(json_object_get(data, "begntime"), now_text)) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "data.begntime must be \"yyyy-MM-dd HH:mm:ss\", the "
                      "visit's own time, not in the future");
        return YIBAO_ERR_INVALID;
    }

    if (!json_is_array(dise) || json_array_size(dise) == 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "diseinfo must be a non-empty array (the 2203's "
                      "diagnoses)");
        return YIBAO_ERR_INVALID;
    }

    v->diagnoses = json_array_size(dise);

    if (yibao_offline_fees(json_object_get(input, "feedetail"), now_text, v,
                           err)
        != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    v->paid = yibao_offline_cents(json_object_get(off, "paid"));

    if (v->paid < 0 || v->paid > v->total) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "offline.paid must be what the patient paid, in "
                      "whole cents, from 0 to the fee lines' total");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/*
 * The canonical text of v (compact, sorted keys) in memory of our own
 * malloc(): jansson's json_dumps() allocates with the allocator the
 * module gives jansson, which free() must not see.
 */

typedef struct {
    char                      *p;
    size_t                     len;
    size_t                     size;
} yibao_offline_buf_t;


static int
yibao_offline_put(const char *s, size_t n, void *data)
{
    char                 *p;
    size_t                size;
    yibao_offline_buf_t  *b = data;

    if (b->len + n + 1 > b->size) {
        for (size = b->size ? b->size : 1024; size < b->len + n + 1;
             size *= 2)
        {
            /* void */
        }

        p = realloc(b->p, size);
        if (p == NULL) {
            return -1;
        }

        b->p = p;
        b->size = size;
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';

    return 0;
}


static char *
yibao_offline_dumps(json_t *v)
{
    yibao_offline_buf_t  b;

    memset(&b, 0, sizeof(b));

    if (json_dump_callback(v, yibao_offline_put, &b,
                           JSON_COMPACT | JSON_SORT_KEYS)
        != 0 || b.p == NULL)
    {
        free(b.p);
        return NULL;
    }

    return b.p;
}


static int
yibao_offline_digest(json_t *body, char hash[YIBAO_OFFLINE_HASH_LEN + 1])
{
    char           *text;
    size_t          n;
    unsigned char   md[YIBAO_MD_MAX_SIZE];

    text = yibao_offline_dumps(body);
    if (text == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    if (yibao_digest(YIBAO_MD_SHA256, (unsigned char *) text, strlen(text),
                     md, &n)
        != YIBAO_OK || n != 32)
    {
        free(text);
        return YIBAO_ERR_CRYPTO;
    }

    free(text);

    yibao_hex_encode(md, n, hash, 0);

    return YIBAO_OK;
}


static int
yibao_offline_text(json_t *rec, yibao_alloc_t *a, yibao_str_t *out)
{
    char           *text;
    size_t          n;
    unsigned char  *p;

    text = yibao_offline_dumps(rec);
    if (text == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    n = strlen(text);

    p = yibao_alloc(a, n + 1);
    if (p == NULL) {
        free(text);
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, text, n + 1);
    free(text);

    out->data = p;
    out->len = n;

    return YIBAO_OK;
}


/*
 * The visit as a record keeps it: env's input without the person's name
 * (1101 gives it again when the record is settled) and without "offline"
 * (what was paid is kept beside it).  NULL: no memory.
 */

static json_t *
yibao_offline_visit(yibao_envelope_t *env)
{
    json_t  *visit;

    visit = json_deep_copy(json_object_get(env->doc, "input"));
    if (visit == NULL) {
        return NULL;
    }

    json_object_del(json_object_get(visit, "data"), "psn_name");
    json_object_del(visit, "offline");

    return visit;
}


int
yibao_offline_render(void *rec, yibao_alloc_t *a, yibao_str_t *out)
{
    return yibao_offline_text(rec, a, out);
}


int
yibao_offline_seal(yibao_envelope_t *env, const yibao_offline_meta_t *m,
    const yibao_offline_visit_t *v, const char *prev, yibao_alloc_t *a,
    yibao_str_t *out, char hash[YIBAO_OFFLINE_HASH_LEN + 1])
{
    int            rc;
    char           total[32], paid[32];
    json_t        *visit, *body, *rec, *head;
    json_error_t   e;

    visit = yibao_offline_visit(env);
    if (visit == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    body = json_pack("{s:s%,s:s%,s:s%,s:s%,s:s%,s:s%,s:s%,s:I,s:I,s:s,"
                     "s:s,s:s,s:o}",
                     "id", (const char *) m->id.data, m->id.len,
                     "clinic", (const char *) m->clinic.data, m->clinic.len,
                     "entity", (const char *) m->entity.data, m->entity.len,
                     "caller", (const char *) m->caller.data, m->caller.len,
                     "msgid", (const char *) m->msgid.data, m->msgid.len,
                     "opter", (const char *) m->opter.data, m->opter.len,
                     "day", (const char *) m->day.data, m->day.len,
                     "seq", (json_int_t) m->seq,
                     "recorded_ms", (json_int_t) m->recorded_ms,
                     "total", yibao_offline_amount(v->total, total),
                     "paid", yibao_offline_amount(v->paid, paid),
                     "prev", prev, "visit", visit);
    if (body == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    /* the envelope's head, for the replay's envelopes (补录) */

    if (m->head.len) {
        head = json_loadb((const char *) m->head.data, m->head.len, 0, &e);

        if (!json_is_object(head)) {
            json_decref(head);
            json_decref(body);
            return YIBAO_ERR_INVALID;
        }

        if (json_object_set_new(body, "head", head) != 0) {
            json_decref(body);
            return YIBAO_ERR_NOMEM;
        }
    }

    rc = yibao_offline_digest(body, hash);
    if (rc != YIBAO_OK) {
        json_decref(body);
        return rc;
    }

    rec = json_pack("{s:s,s:s,s:o}", "hash", hash, "state", "recorded",
                    "body", body);
    if (rec == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_offline_text(rec, a, out);

    json_decref(rec);

    return rc;
}


static void
yibao_offline_copy(json_t *o, const char *key, char *dst, size_t size)
{
    json_t  *v;

    v = json_object_get(o, key);

    snprintf(dst, size, "%s", json_is_string(v) ? json_string_value(v) : "");
}


int
yibao_offline_verify(const unsigned char *p, size_t len, const char *prev,
    yibao_offline_info_t *info, yibao_err_t *err)
{
    int            rc;
    char           hash[YIBAO_OFFLINE_HASH_LEN + 1];
    json_t        *rec, *body;
    json_error_t   e;

    memset(info, 0, sizeof(yibao_offline_info_t));

    rec = json_loadb((const char *) p, len, JSON_REJECT_DUPLICATES, &e);
    body = json_object_get(rec, "body");

    if (!json_is_object(body)) {
        json_decref(rec);
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "the stored record cannot be read");
        return YIBAO_ERR_INVALID;
    }

    yibao_offline_copy(rec, "hash", info->hash, sizeof(info->hash));
    yibao_offline_copy(rec, "state", info->state, sizeof(info->state));
    yibao_offline_copy(body, "id", info->id, sizeof(info->id));
    yibao_offline_copy(body, "clinic", info->clinic, sizeof(info->clinic));
    yibao_offline_copy(body, "day", info->day, sizeof(info->day));
    yibao_offline_copy(body, "entity", info->entity, sizeof(info->entity));
    yibao_offline_copy(body, "caller", info->caller, sizeof(info->caller));
    yibao_offline_copy(body, "msgid", info->msgid, sizeof(info->msgid));
    yibao_offline_copy(body, "prev", info->prev, sizeof(info->prev));
    info->seq = (uint64_t) json_integer_value(json_object_get(body, "seq"));
    info->recorded_ms = (uint64_t) json_integer_value(
                            json_object_get(body, "recorded_ms"));
    info->total = yibao_offline_cents(json_object_get(body, "total"));
    info->paid = yibao_offline_cents(json_object_get(body, "paid"));

    rc = yibao_offline_digest(body, hash);

    json_decref(rec);

    if (rc != YIBAO_OK) {
        return rc;
    }

    if (strcmp(hash, info->hash) != 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "the record was changed after it was taken: its "
                      "body does not give its hash");
        return YIBAO_ERR_INVALID;
    }

    if (prev != NULL && strcmp(prev, info->prev) != 0) {
        yibao_err_set(err, YIBAO_GWERR_OFFLINE_INVALID,
                      "the clinic's chain is broken before this record: "
                      "the previous record is not the one it follows");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


int
yibao_offline_same(yibao_envelope_t *env, const yibao_offline_visit_t *v,
    const unsigned char *p, size_t len)
{
    int            same;
    json_t        *rec, *body, *visit;
    json_error_t   e;

    rec = json_loadb((const char *) p, len, JSON_REJECT_DUPLICATES, &e);
    body = json_object_get(rec, "body");

    visit = yibao_offline_visit(env);
    if (visit == NULL) {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    same = json_is_object(body)
           && yibao_offline_cents(json_object_get(body, "paid")) == v->paid
           && json_equal(json_object_get(body, "visit"), visit);

    json_decref(visit);
    json_decref(rec);

    return same ? YIBAO_OK : YIBAO_ERR_INVALID;
}


int
yibao_offline_restate(const unsigned char *p, size_t len, const char *state,
    yibao_alloc_t *a, yibao_str_t *out)
{
    int            rc;
    json_t        *rec;
    json_error_t   e;

    rec = json_loadb((const char *) p, len, JSON_REJECT_DUPLICATES, &e);

    if (!json_is_object(rec)) {
        json_decref(rec);
        return YIBAO_ERR_INVALID;
    }

    if (json_object_set_new(rec, "state", json_string(state)) != 0) {
        json_decref(rec);
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_offline_text(rec, a, out);

    json_decref(rec);

    return rc;
}


int
yibao_offline_id(const unsigned char *p, size_t len, yibao_str_t *clinic)
{
    if (len < 2 + 22 + 6 || len > 2 + 22 + 20 || p[0] != 'J' || p[1] != 'Z'
        || !yibao_code_is_org(p + 2, 22)
        || !yibao_code_is_digits(p + 2 + 22, len - 2 - 22))
    {
        return YIBAO_ERR_INVALID;
    }

    clinic->data = p + 2;
    clinic->len = 22;

    return YIBAO_OK;
}


int
yibao_offline_within(uint64_t count, int64_t total, int64_t add,
    uint64_t max_count, int64_t max_total)
{
    if (max_count && count + 1 > max_count) {
        return 0;
    }

    if (max_total && (add > max_total || total > max_total - add)) {
        return 0;
    }

    return 1;
}


yibao_offline_plan_e
yibao_offline_plan(const char *begntime, uint64_t recorded_ms,
    const char *now_text, uint64_t now_ms, const yibao_str_t *clinic_admdvs,
    const yibao_str_t *insuplc_admdvs, const yibao_offline_plan_conf_t *conf,
    const char **reason)
{
    if (insuplc_admdvs->len && clinic_admdvs->len >= 4
        && (insuplc_admdvs->len < 4
            || memcmp(insuplc_admdvs->data, clinic_admdvs->data, 4) != 0))
    {
        *reason = "异地: the insured's pooling area is not the clinic's "
                  "(manual reimbursement at the insured's area, or an "
                  "operator settles it)";
        return YIBAO_OFFLINE_WAIT_OFFSITE;
    }

    if (conf->max_age && now_ms > recorded_ms
        && now_ms - recorded_ms > conf->max_age)
    {
        *reason = "older than the age up to which records are settled "
                  "by themselves";
        return YIBAO_OFFLINE_WAIT_AGE;
    }

    if (!conf->cross_year && strncmp(begntime, now_text, 4) != 0) {
        *reason = "the visit's year has ended: settling it now crosses "
                  "the year (annual limits, the clearing period)";
        return YIBAO_OFFLINE_WAIT_YEAR;
    }

    if (!conf->cross_month && strncmp(begntime, now_text, 7) != 0) {
        *reason = "the visit's month has ended: settling it now lands in "
                  "the next month's clearing (3201)";
        return YIBAO_OFFLINE_WAIT_MONTH;
    }

    *reason = "";

    return YIBAO_OFFLINE_REPLAY;
}


typedef struct {
    const char                *from;
    const char                *event;
    const char                *to;
} yibao_offline_move_t;


static const yibao_offline_move_t  yibao_offline_moves[] = {
    { "recorded", "start", "replaying" },
    { "recorded", "wait", "waiting" },
    { "waiting", "release", "recorded" },
    { "replaying", "presettled", "pending" },
    { "replaying", "refused", "rejected" },
    { "replaying", "lost", "recorded" },
    { "replaying", "wait", "waiting" },
    { "pending", "confirm", "settling" },
    { "pending", "lost", "recorded" },
    { "settling", "settled", "settled" },
    { "settling", "refused", "rejected" },
    { "recorded", "void", "voided" },
    { "waiting", "void", "voided" },
    { "pending", "void", "voided" },
    { "rejected", "void", "voided" }
};


static const char  *yibao_offline_states[YIBAO_OFFLINE_STATES] = {
    "recorded", "waiting", "replaying", "pending", "settling", "settled",
    "rejected", "voided"
};


const char *
yibao_offline_state_name(int i)
{
    return (i >= 0 && i < YIBAO_OFFLINE_STATES) ? yibao_offline_states[i]
                                                : NULL;
}


int
yibao_offline_state_index(const char *state)
{
    int  i;

    for (i = 0; i < YIBAO_OFFLINE_STATES; i++) {
        if (strcmp(yibao_offline_states[i], state) == 0) {
            return i;
        }
    }

    return -1;
}


int
yibao_offline_open(int i)
{
    return i >= 0 && i <= 4;
}


int
yibao_offline_next(const char *state, const char *event, const char **next)
{
    size_t  i;

    for (i = 0;
         i < sizeof(yibao_offline_moves) / sizeof(yibao_offline_move_t);
         i++)
    {
        if (strcmp(yibao_offline_moves[i].from, state) == 0
            && strcmp(yibao_offline_moves[i].event, event) == 0)
        {
            *next = yibao_offline_moves[i].to;
            return YIBAO_OK;
        }
    }

    return YIBAO_ERR_INVALID;
}


int
yibao_offline_auto_confirm(int enabled, int64_t psn_cash, int64_t paid)
{
    return enabled && psn_cash >= 0 && psn_cash == paid;
}
