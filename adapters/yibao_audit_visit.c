/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The audit's visit around the rules (yibao_audit.h): what is kept of a
 * person between transactions, the clinic's acknowledgements, the
 * findings added to an envelope and written to the log.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yibao_audit.h"
#include "yibao_codes.h"
#include "yibao_crypto.h"
#include "yibao_fields.h"
#include "yibao_tsv.h"


#define YIBAO_AUDIT_NUM_LEN  24


typedef struct {
    unsigned char        *p;
    unsigned char        *last;
} yibao_audit_buf_t;


static size_t yibao_audit_history_size(const yibao_audit_history_t *h,
    const yibao_audit_ctx_t *ctx, const yibao_str_t *mdtrt_id,
    const yibao_audit_line_t *lines, size_t n);
static void yibao_audit_history_line(yibao_audit_buf_t *b,
    const yibao_audit_line_t *l);
static int64_t yibao_audit_num(const yibao_str_t *v);
static int yibao_audit_same(const yibao_str_t *a, const yibao_str_t *b);
static void yibao_audit_put(yibao_audit_buf_t *b, const yibao_str_t *s);
static void yibao_audit_lit(yibao_audit_buf_t *b, const char *s);
static void yibao_audit_put_num(yibao_audit_buf_t *b, int64_t n,
    char sep);


int
yibao_audit_history_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_audit_history_t *h)
{
    size_t               max, nf;
    yibao_tsv_t          tsv;
    yibao_str_t          line, f[11];
    yibao_audit_kept_t  *k;
    yibao_audit_visit_t *v;

    memset(h, 0, sizeof(yibao_audit_history_t));

    max = yibao_tsv_max_lines(data, len);

    if (max == 0) {
        return YIBAO_OK;
    }

    h->visits = yibao_alloc(a, max * sizeof(yibao_audit_visit_t));
    h->lines = yibao_alloc(a, max * sizeof(yibao_audit_kept_t));

    if (h->visits == NULL || h->lines == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        nf = yibao_tsv_split(&line, f, 11);

        if (nf == 4 && f[0].len == 1 && f[0].data[0] == 'v') {
            v = &h->visits[h->nvisits];
            v->mdtrt_id = f[1];
            v->clinic = f[2];
            v->day = (int32_t) yibao_audit_num(&f[3]);

            if (v->day >= 0) {
                h->nvisits++;
            }

            continue;
        }

        if (nf != 10 || f[0].len != 1 || f[0].data[0] != 'l') {
            continue;
        }

        k = &h->lines[h->nlines];
        memset(k, 0, sizeof(yibao_audit_kept_t));

        k->mdtrt_id = f[1];
        k->line.day = (int32_t) yibao_audit_num(&f[2]);
        k->days = (int32_t) yibao_audit_num(&f[3]);
        k->line.sn = f[4];
        k->line.code = f[5];
        k->line.doctor = (f[6].len == 1 && f[6].data[0] == '-')
                         ? (yibao_str_t) yibao_null_string : f[6];
        k->line.cnt = yibao_audit_num(&f[7]);
        k->line.pric = yibao_audit_num(&f[8]);
        k->line.amt = yibao_audit_num(&f[9]);

        if (k->line.day >= 0 && k->days >= 0 && k->line.cnt >= 0
            && k->line.pric >= 0 && k->line.amt >= 0 && f[5].len)
        {
            h->nlines++;
        }
    }

    return YIBAO_OK;
}


int
yibao_audit_history_context(const yibao_audit_history_t *h,
    const yibao_str_t *mdtrt_id, yibao_audit_ctx_t *ctx, yibao_alloc_t *a)
{
    size_t                 i, ne, nh;
    unsigned               seen;
    yibao_audit_line_t    *earlier;
    yibao_audit_supply_t  *history;

    earlier = NULL;
    history = NULL;

    if (h->nlines) {
        earlier = yibao_alloc(a, h->nlines * sizeof(yibao_audit_line_t));
        history = yibao_alloc(a, h->nlines * sizeof(yibao_audit_supply_t));

        if (earlier == NULL || history == NULL) {
            return YIBAO_ERR_NOMEM;
        }
    }

    ne = 0;
    nh = 0;

    for (i = 0; i < h->nlines; i++) {
        if (yibao_audit_same(&h->lines[i].mdtrt_id, mdtrt_id)) {
            earlier[ne++] = h->lines[i].line;
            continue;
        }

        if (h->lines[i].days > 0) {
            history[nh].code = h->lines[i].line.code;
            history[nh].day = h->lines[i].line.day;
            history[nh].days = h->lines[i].days;
            nh++;
        }
    }

    ctx->earlier = earlier;
    ctx->nearlier = ne;
    ctx->history = history;
    ctx->nhistory = nh;

    /* the visits at this clinic today, this one counted once */

    ctx->visits_today = 1;
    seen = 0;

    for (i = 0; i < h->nvisits; i++) {
        if (h->visits[i].day != ctx->today
            || !yibao_audit_same(&h->visits[i].clinic,
                                 &ctx->scope.org_code))
        {
            continue;
        }

        if (yibao_audit_same(&h->visits[i].mdtrt_id, mdtrt_id)) {
            seen = 1;
            continue;
        }

        ctx->visits_today++;
    }

    (void) seen;

    return YIBAO_OK;
}


/* the bytes of a record: every field at its longest */

static size_t
yibao_audit_history_size(const yibao_audit_history_t *h,
    const yibao_audit_ctx_t *ctx, const yibao_str_t *mdtrt_id,
    const yibao_audit_line_t *lines, size_t n)
{
    size_t                      i, size;
    const yibao_audit_kept_t   *k;

    size = (h->nvisits + 1) * (mdtrt_id->len + 64 + YIBAO_AUDIT_NUM_LEN)
           + mdtrt_id->len + ctx->scope.org_code.len;

    for (i = 0; i < h->nvisits; i++) {
        size += h->visits[i].mdtrt_id.len + h->visits[i].clinic.len;
    }

    for (i = 0; i < h->nlines; i++) {
        k = &h->lines[i];
        size += k->mdtrt_id.len + k->line.sn.len + k->line.code.len
                + k->line.doctor.len + 8 + 7 * YIBAO_AUDIT_NUM_LEN;
    }

    for (i = 0; i < n; i++) {
        size += mdtrt_id->len + lines[i].sn.len + lines[i].code.len
                + lines[i].doctor.len + 8 + 7 * YIBAO_AUDIT_NUM_LEN;
    }

    return size;
}


/* "l", the visit, day and supply days written, then the line's fields */

static void
yibao_audit_history_line(yibao_audit_buf_t *b, const yibao_audit_line_t *l)
{
    yibao_str_t  none = yibao_string("-");

    yibao_audit_put(b, &l->sn);
    yibao_audit_lit(b, "\t");
    yibao_audit_put(b, &l->code);
    yibao_audit_lit(b, "\t");
    yibao_audit_put(b, l->doctor.len ? &l->doctor : &none);
    yibao_audit_lit(b, "\t");
    yibao_audit_put_num(b, l->cnt, '\t');
    yibao_audit_put_num(b, l->pric, '\t');
    yibao_audit_put_num(b, l->amt, '\n');
}


int
yibao_audit_history_write(const yibao_audit_t *au,
    const yibao_audit_history_t *h, const yibao_audit_ctx_t *ctx,
    const yibao_str_t *mdtrt_id, const yibao_audit_line_t *lines, size_t n,
    int32_t window_days, size_t max_lines, yibao_alloc_t *a,
    yibao_str_t *out)
{
    size_t                      i, size, keep, skip;
    int32_t                     from;
    unsigned                    found;
    yibao_audit_buf_t           b;
    const yibao_audit_kept_t   *k;
    const yibao_audit_line_t   *l;

    from = ctx->today - window_days;

    size = yibao_audit_history_size(h, ctx, mdtrt_id, lines, n);

    b.p = yibao_alloc(a, size + 1);
    if (b.p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    out->data = b.p;
    b.last = b.p + size;

    found = 0;

    for (i = 0; i < h->nvisits; i++) {
        if (h->visits[i].day < from) {
            continue;
        }

        found |= yibao_audit_same(&h->visits[i].mdtrt_id, mdtrt_id);

        yibao_audit_lit(&b, "v\t");
        yibao_audit_put(&b, &h->visits[i].mdtrt_id);
        yibao_audit_lit(&b, "\t");
        yibao_audit_put(&b, &h->visits[i].clinic);
        yibao_audit_lit(&b, "\t");
        yibao_audit_put_num(&b, h->visits[i].day, '\n');
    }

    if (!found) {
        yibao_audit_lit(&b, "v\t");
        yibao_audit_put(&b, mdtrt_id);
        yibao_audit_lit(&b, "\t");
        yibao_audit_put(&b, &ctx->scope.org_code);
        yibao_audit_lit(&b, "\t");
        yibao_audit_put_num(&b, ctx->today, '\n');
    }

    /* the newest lines, at most max_lines */

    keep = 0;

    for (i = 0; i < h->nlines; i++) {
        keep += (h->lines[i].line.day >= from);
    }

    skip = (keep + n > max_lines) ? keep + n - max_lines : 0;

    for (i = 0; i < h->nlines + n; i++) {
        if (i < h->nlines) {
            k = &h->lines[i];

            if (k->line.day < from || (skip && skip--)) {
                continue;
            }

            l = &k->line;
            yibao_audit_lit(&b, "l\t");
            yibao_audit_put(&b, &k->mdtrt_id);
            yibao_audit_lit(&b, "\t");
            yibao_audit_put_num(&b, l->day, '\t');
            yibao_audit_put_num(&b, k->days, '\t');

        } else {
            l = &lines[i - h->nlines];

            if (skip && skip--) {
                continue;
            }

            yibao_audit_lit(&b, "l\t");
            yibao_audit_put(&b, mdtrt_id);
            yibao_audit_lit(&b, "\t");
            yibao_audit_put_num(&b, l->day, '\t');
            yibao_audit_put_num(&b, yibao_audit_supply(au, &ctx->scope, l),
                                '\t');
        }

        yibao_audit_history_line(&b, l);
    }

    out->len = b.p - out->data;

    return YIBAO_OK;
}


int
yibao_audit_acks(json_t *input, yibao_alloc_t *a, yibao_str_t **acks,
    size_t *n, yibao_err_t *err)
{
    size_t          i, k, len;
    json_t         *v, *s;
    const char     *p, *colon;
    unsigned char  *q;

    *acks = NULL;
    *n = 0;

    v = json_object_get(input, "yb_audit_ack");

    if (v == NULL) {
        return YIBAO_OK;
    }

    k = json_is_array(v) ? json_array_size(v) : 1;

    *acks = yibao_alloc(a, (k ? k : 1) * sizeof(yibao_str_t));
    if (*acks == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0; i < k; i++) {
        s = json_is_array(v) ? json_array_get(v, i) : v;

        if (!json_is_string(s) || json_string_length(s) == 0) {
            yibao_err_set(err, 0, "input.yb_audit_ack%s is not a rule id "
                          "(\"RULE_ID\" or \"RULE_ID:reason\")",
                          json_is_array(v) ? "[]" : "");
            return YIBAO_ERR_INVALID;
        }

        p = json_string_value(s);
        colon = memchr(p, ':', json_string_length(s));
        len = colon ? (size_t) (colon - p) : json_string_length(s);

        q = yibao_alloc(a, len ? len : 1);
        if (q == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        memcpy(q, p, len);
        (*acks)[*n].data = q;
        (*acks)[*n].len = len;
        (*n)++;
    }

    json_object_del(input, "yb_audit_ack");

    return YIBAO_OK;
}


int
yibao_audit_attach(json_t *doc, json_t *findings, unsigned warn)
{
    size_t       i, len;
    char        *text, *p;
    json_t      *out, *o, *msg;
    const char  *old;

    out = json_object_get(doc, "output");

    if (!json_is_object(out)) {
        out = json_object();

        if (out == NULL || json_object_set_new(doc, "output", out) != 0) {
            return YIBAO_ERR_NOMEM;
        }
    }

    if (json_object_set(out, "yb_audit", findings) != 0) {
        return YIBAO_ERR_NOMEM;
    }

    if (!warn || json_array_size(findings) == 0) {
        return YIBAO_OK;
    }

    msg = json_object_get(doc, "warn_msg");
    old = json_is_string(msg) ? json_string_value(msg) : "";

    len = strlen(old) + 2;

    for (i = 0; i < json_array_size(findings); i++) {
        o = json_array_get(findings, i);
        len += 4 + json_string_length(json_object_get(o, "rule_id"))
               + json_string_length(json_object_get(o, "rule_name"))
               + json_string_length(json_object_get(o, "vola_cont"));
    }

    text = malloc(len + 1);
    if (text == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    p = text;
    p += sprintf(p, "%s", old);

    for (i = 0; i < json_array_size(findings); i++) {
        o = json_array_get(findings, i);
        p += sprintf(p, "%s%s %s: %s", (p == text) ? "" : "; ",
                     json_string_value(json_object_get(o, "rule_id")),
                     json_string_value(json_object_get(o, "rule_name")),
                     json_string_value(json_object_get(o, "vola_cont")));
    }

    i = (json_object_set_new(doc, "warn_msg", json_string(text)) == 0);
    free(text);

    return i ? YIBAO_OK : YIBAO_ERR_NOMEM;
}


int
yibao_audit_secret(const unsigned char *data, size_t len,
    yibao_str_t *secret, yibao_err_t *err)
{
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\t'
                       || data[len - 1] == '\r' || data[len - 1] == '\n'))
    {
        len--;
    }

    if (len < YIBAO_AUDIT_SECRET_MIN) {
        snprintf(err->msg, sizeof(err->msg),
                 "the secret has %zu bytes, at least %d are needed "
                 "(write one with: openssl rand -hex 32)", len,
                 YIBAO_AUDIT_SECRET_MIN);
        return YIBAO_ERR_INVALID;
    }

    secret->data = data;
    secret->len = len;

    return YIBAO_OK;
}


int
yibao_audit_store_key(const yibao_str_t *secret, const char *kind,
    const yibao_str_t *entity, const yibao_str_t *id, yibao_alloc_t *a,
    yibao_str_t *out)
{
    char           *p, hex[2 * YIBAO_MD_MAX_SIZE + 1];
    size_t          n;
    yibao_str_t     none = { 1, (const unsigned char *) "-" };
    unsigned char   md[YIBAO_MD_MAX_SIZE];

    if (id->len == 0) {
        id = &none;
    }

    if (yibao_hmac(YIBAO_MD_SHA256, secret->data, secret->len, id->data,
                   id->len, md, &n)
        != YIBAO_OK)
    {
        return YIBAO_ERR_CRYPTO;
    }

    yibao_hex_encode(md, 16, hex, 0);

    p = yibao_alloc(a, sizeof("yibao:audit:") + strlen(kind) + entity->len
                       + 32 + 2);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    out->data = (const unsigned char *) p;
    out->len = sprintf(p, "yibao:audit:%s:%.*s:%.32s", kind,
                       (int) entity->len, (const char *) entity->data, hex);

    return YIBAO_OK;
}


int
yibao_audit_log(const yibao_audit_result_t *res, yibao_alloc_t *a,
    yibao_str_t *out)
{
    char                          *p, *start;
    size_t                         i, size;
    yibao_str_t                    id;
    const yibao_audit_finding_t   *f;

    size = 1;

    for (i = 0; i < res->n; i++) {
        size += yibao_audit_rule_id(res->findings[i].rule).len + 48;
    }

    start = yibao_alloc(a, size);
    if (start == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    p = start;

    for (i = 0; i < res->n; i++) {
        f = &res->findings[i];
        id = yibao_audit_rule_id(f->rule);

        p += sprintf(p, "%s%.*s:%s:%u:%lld.%02lld%s", i ? " " : "",
                     (int) id.len, (const char *) id.data,
                     yibao_audit_mode_name(f->mode), f->sev,
                     (long long) ((f->amt + 5000) / 1000000),
                     (long long) ((f->amt + 5000) / 10000 % 100),
                     f->acked ? "+ack" : "");
    }

    out->data = (const unsigned char *) start;
    out->len = p - start;

    return YIBAO_OK;
}


/* a non-negative decimal integer, -1 when it is not one */

static int64_t
yibao_audit_num(const yibao_str_t *v)
{
    size_t   i;
    int64_t  n;

    if (v->len == 0 || v->len > 18) {
        return -1;
    }

    n = 0;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            return -1;
        }

        n = n * 10 + (v->data[i] - '0');
    }

    return n;
}


static int
yibao_audit_same(const yibao_str_t *a, const yibao_str_t *b)
{
    return a->len == b->len && (a->len == 0
                                || memcmp(a->data, b->data, a->len) == 0);
}


/* a string without TAB or line ends (those are dropped) */

static void
yibao_audit_put(yibao_audit_buf_t *b, const yibao_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len && b->p < b->last; i++) {
        if (s->data[i] != '\t' && s->data[i] != '\n' && s->data[i] != '\r') {
            *b->p++ = s->data[i];
        }
    }
}


/* a separator, as it is */

static void
yibao_audit_lit(yibao_audit_buf_t *b, const char *s)
{
    while (*s && b->p < b->last) {
        *b->p++ = *s++;
    }
}


/* the number, then sep */

static void
yibao_audit_put_num(yibao_audit_buf_t *b, int64_t n, char sep)
{
    int  len;

    if (b->last - b->p < YIBAO_AUDIT_NUM_LEN) {
        return;
    }

    len = snprintf((char *) b->p, YIBAO_AUDIT_NUM_LEN, "%lld%c",
                   (long long) (n < 0 ? 0 : n), sep);

    b->p += len;
}


int
yibao_audit_remote_answer(const unsigned char *data, size_t len,
    yibao_audit_mode_e mode, json_t **findings, yibao_audit_mode_e *worst,
    char *why, size_t size)
{
    size_t         i, k;
    json_t        *doc, *code, *msg, *res, *f, *sev, *arr;
    json_error_t   jerr;

    *findings = NULL;
    *worst = YIBAO_AUDIT_OFF;

    doc = json_loadb((const char *) data, len, 0, &jerr);

    if (!json_is_object(doc)) {
        snprintf(why, size, "not a JSON object");
        json_decref(doc);
        return YIBAO_ERR_INVALID;
    }

    code = json_object_get(doc, "infcode");
    msg = json_object_get(doc, "err_msg");

    if (!((json_is_integer(code) && json_integer_value(code) == 0)
          || (json_is_string(code) && strcmp(json_string_value(code), "0")
                                      == 0)))
    {
        snprintf(why, size, "%s", code == NULL ? "not an envelope"
                                               : "infcode is not 0");
        json_decref(doc);
        return YIBAO_ERR_INVALID;
    }

    if (json_is_string(msg) && json_string_length(msg) > 0) {
        snprintf(why, size, "infcode 0 with an err_msg (a failure)");
        json_decref(doc);
        return YIBAO_ERR_INVALID;
    }

    res = json_object_get(json_object_get(doc, "output"), "result");
    arr = json_array();

    if (arr == NULL) {
        json_decref(doc);
        return YIBAO_ERR_NOMEM;
    }

    k = json_is_array(res) ? json_array_size(res) : json_is_object(res);

    for (i = 0; i < k; i++) {
        f = json_is_array(res) ? json_array_get(res, i) : res;

        if (!json_is_object(f) || !json_is_string(json_object_get(f,
                                                            "rule_id")))
        {
            continue;
        }

        f = json_deep_copy(f);

        if (f == NULL
            || json_object_set_new(f, "mode",
                                   json_string(yibao_audit_mode_name(mode)))
               != 0
            || json_object_set_new(f, "source", json_string("platform"))
               != 0
            || json_array_append_new(arr, f) != 0)
        {
            json_decref(f);
            json_decref(arr);
            json_decref(doc);
            return YIBAO_ERR_NOMEM;
        }

        sev = json_object_get(f, "sev_deg");

        if ((json_is_integer(sev) && json_integer_value(sev) == 1)
            || (json_is_string(sev) && strcmp(json_string_value(sev), "1")
                                       == 0))
        {
            *worst = (mode > *worst) ? mode : *worst;

        } else if (mode != YIBAO_AUDIT_OFF) {
            *worst = (*worst < YIBAO_AUDIT_WARN && mode >= YIBAO_AUDIT_WARN)
                     ? YIBAO_AUDIT_WARN
                     : (*worst < mode && mode < YIBAO_AUDIT_WARN) ? mode
                     : *worst;
        }
    }

    json_decref(doc);
    *findings = arr;

    return YIBAO_OK;
}


/* the platform's text for the log: yibao_echo(), separators as '?' */

static const char *
yibao_audit_remote_echo(json_t *v, char *buf, size_t size)
{
    char  *c;

    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }

    if (!json_is_string(v)) {
        return "?";
    }

    yibao_echo((const unsigned char *) json_string_value(v),
               json_string_length(v), YIBAO_AUDIT_REMOTE_ECHO, buf, size);

    for (c = buf; *c; c++) {
        if (*c == ' ' || *c == ':') {
            *c = '?';
        }
    }

    return buf;
}


int
yibao_audit_remote_log(const yibao_str_t *infno, json_t *findings,
    yibao_audit_mode_e mode, yibao_alloc_t *a, yibao_str_t *out)
{
    char         *p, *start, amt[32];
    char          id[YIBAO_AUDIT_REMOTE_ECHO + 4];
    char          sev[YIBAO_AUDIT_REMOTE_ECHO + 4];
    double        v;
    size_t        i, n, size;
    json_t       *o;
    const char   *sid, *ssev;

    n = json_array_size(findings);
    size = 1 + n * (infno->len + sizeof(id) + sizeof(sev) + sizeof(amt)
                    + 16);

    start = yibao_alloc(a, size);
    if (start == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    p = start;
    *p = '\0';

    for (i = 0; i < n; i++) {
        o = json_array_get(findings, i);

        sid = yibao_audit_remote_echo(json_object_get(o, "rule_id"), id,
                                      sizeof(id));
        ssev = yibao_audit_remote_echo(json_object_get(o, "sev_deg"), sev,
                                       sizeof(sev));

        v = json_number_value(json_object_get(o, "vola_amt"));

        if (v > -1e12 && v < 1e12) {
            snprintf(amt, sizeof(amt), "%.2f", v);

        } else {
            amt[0] = '?';
            amt[1] = '\0';
        }

        p += snprintf(p, start + size - p, "%s%.*s:%s:%s:%s:%s",
                      i ? " " : "", (int) infno->len,
                      (const char *) infno->data, sid,
                      yibao_audit_mode_name(mode), ssev, amt);
    }

    out->data = (const unsigned char *) start;
    out->len = p - start;

    return YIBAO_OK;
}
