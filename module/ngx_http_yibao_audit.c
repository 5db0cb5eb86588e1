/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The fee-line audit in the gateway (docs/audit.md): the rules and
 * lists files (read before the workers start), the visit's context
 * from the store (through ngx_http_yibao_store_audit.c), the rules run
 * on a 2204 or 2206 before it is sent (adapters/yibao_audit.c decides),
 * the findings refused, added to the answer, or only logged.
 */

#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"
#include "yibao_crypto.h"
#include "yibao_resolve.h"


#define NGX_HTTP_YIBAO_AUDIT_MAX_LINES  500

/* the store's keys of a visit: the person, the person's lines, med_type */
#define NGX_HTTP_YIBAO_AUDIT_PERSON     0
#define NGX_HTTP_YIBAO_AUDIT_LINES      1
#define NGX_HTTP_YIBAO_AUDIT_MED_TYPE   2


static ngx_int_t ngx_http_yibao_audit_keys(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *psn_no, ngx_str_t *mdtrt_id);
static ngx_int_t ngx_http_yibao_audit_key(ngx_http_request_t *r,
    ngx_str_t *key, const char *kind, ngx_str_t *entity, ngx_str_t *id);
static ngx_int_t ngx_http_yibao_audit_run(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_audit_context(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_audit_ctx_t *actx,
    yibao_audit_history_t *h, yibao_audit_line_t **lines, size_t *n);
static ngx_int_t ngx_http_yibao_audit_decide(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_audit_result_t *res);
static void ngx_http_yibao_audit_med_type(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_audit_person(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, json_t *doc);
static ngx_int_t ngx_http_yibao_audit_attach(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, unsigned warn, u_char **p, size_t *n);
static void ngx_http_yibao_audit_cleanup(void *data);
static ngx_http_yibao_audit_remote_conf_t *ngx_http_yibao_audit_remote_conf(
    ngx_http_yibao_main_conf_t *gmcf, ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_audit_remote_visit(ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_audit_remote_conf_t *rc, yibao_audit_ctx_t *actx,
    ngx_str_t *msgid, yibao_audit_remote_t *v);
static ngx_int_t ngx_http_yibao_audit_remote_envelope(
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_audit_remote_conf_t *rc,
    ngx_str_t *msgid, yibao_audit_remote_t *v,
    const yibao_audit_line_t *lines, size_t n, ngx_pool_t *pool,
    yibao_str_t *out);
static ngx_int_t ngx_http_yibao_audit_remote(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_audit_remote_conf_t *rc,
    yibao_audit_ctx_t *actx, const yibao_audit_line_t *lines, size_t n);
static int32_t ngx_http_yibao_audit_today(void);
static ngx_uint_t ngx_http_yibao_audit_infno(ngx_http_yibao_ctx_t *ctx,
    const char *infno);


/*
 * yibao_audit_rules file history_key=file: the rules (one file), read
 * at once; the lists are read by yibao_audit_lists, the two are checked
 * together in ngx_http_yibao_audit_init_conf().  The history key is the
 * installation's secret of the store's keys of a person (HMAC-SHA256
 * of psn_no, yibao_audit_store_key()): a file only root may read.
 */

static ngx_int_t ngx_http_yibao_audit_secret(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);


static ngx_http_yibao_param_t  ngx_http_yibao_audit_rules_params[] = {

    { ngx_string("history_key"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0,
      NULL, ngx_http_yibao_audit_secret, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    ngx_http_yibao_null_param
};


static yibao_audit_t *
ngx_http_yibao_audit_object(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf)
{
    if (gmcf->audit == NULL) {
        ngx_http_yibao_alloc_init(&gmcf->audit_alloc, cf->pool);
        gmcf->audit = yibao_audit_create(&gmcf->audit_alloc);
    }

    return gmcf->audit;
}


char *
ngx_http_yibao_audit_rules_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    char           *rv;
    ngx_str_t      *value, data;
    yibao_err_t     err;

    if (gmcf->audit_rules.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_yibao_read_file(cf, &value[1], 0, cf->temp_pool, &data)
        != NGX_OK
        || ngx_http_yibao_audit_object(cf, gmcf) == NULL)
    {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_yibao_conf_params(cf, ngx_http_yibao_audit_rules_params, 2,
                                    gmcf, 0);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    gmcf->audit_rules = value[1];
    ngx_memzero(&err, sizeof(yibao_err_t));

    if (yibao_audit_add_rules(gmcf->audit, data.data, data.len, &err)
        != YIBAO_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" line %uz: %s",
                           &value[1], err.line, err.msg);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_yibao_audit_secret(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t    name, data;
    yibao_err_t  err;

    name = *value;

    if (ngx_http_yibao_read_file(cf, &name, 1, cf->pool, &data) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&err, sizeof(yibao_err_t));

    if (yibao_audit_secret(data.data, data.len, &gmcf->audit_secret, &err)
        != YIBAO_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": %s", &name,
                           err.msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_yibao_audit_lists_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t      *value, data;
    ngx_uint_t      i;
    yibao_str_t     label;
    yibao_err_t     err;

    value = cf->args->elts;

    if (ngx_http_yibao_audit_object(cf, gmcf) == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_yibao_read_file(cf, &value[i], 0, cf->temp_pool,
                                     &data)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        label.data = value[i].data;
        label.len = value[i].len;
        ngx_memzero(&err, sizeof(yibao_err_t));

        if (yibao_audit_add_lists(gmcf->audit, &label, data.data, data.len,
                                  &err)
            != YIBAO_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" line %uz: %s",
                               &value[i], err.line, err.msg);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* once every file is read: the lists indexed, the rules' lists checked */

char *
ngx_http_yibao_audit_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf)
{
    yibao_err_t  err;

    if (gmcf->audit_window == NGX_CONF_UNSET_MSEC) {
        gmcf->audit_window = (ngx_msec_t) 30 * 86400 * 1000;
    }

    if (gmcf->audit_remotes != NULL
        && (gmcf->audit == NULL || gmcf->platform == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yibao_audit_platform\" needs "
                           "\"yibao_audit_rules\" and \"yibao_platform\"");
        return NGX_CONF_ERROR;
    }

    if (gmcf->audit == NULL) {
        return NGX_CONF_OK;
    }

    ngx_memzero(&err, sizeof(yibao_err_t));

    if (yibao_audit_build(gmcf->audit, &err) != YIBAO_OK) {
        if (ngx_strncmp(err.msg, "rules: ", 7) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" line %uz: %s",
                               &gmcf->audit_rules, err.line, err.msg + 7);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "yibao_audit_lists: %s",
                               err.msg);
        }

        return NGX_CONF_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "yibao: %uz audit rules, %uz list entries",
                  yibao_audit_rules(gmcf->audit),
                  yibao_audit_entries(gmcf->audit));

    return NGX_CONF_OK;
}


/*
 * Before a transaction is sent: 2203 keeps the visit's med_type, 2204
 * and 2206 are audited with the visit's context from the store.
 * NGX_OK to go on, NGX_AGAIN while the store answers (then through
 * ctx->resume), or an HTTP status after a refusal.
 */

ngx_int_t
ngx_http_yibao_audit_request(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    psn_no, mdtrt_id;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    if (ctx->audit_done) {
        return NGX_OK;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!glcf->audit || gmcf->audit == NULL) {
        ctx->audit_done = 1;
        return NGX_OK;
    }

    if (ngx_http_yibao_audit_infno(ctx, "2203")) {
        ctx->audit_done = 1;
        ngx_http_yibao_audit_med_type(r, ctx);
        return NGX_OK;
    }

    if (!ngx_http_yibao_audit_infno(ctx, "2204")
        && !ngx_http_yibao_audit_infno(ctx, "2206"))
    {
        ctx->audit_done = 1;
        return NGX_OK;
    }

    if (!ctx->audit_loaded) {
        ctx->audit_loaded = 1;

        psn_no.data = (u_char *) ctx->personal[0].data;
        psn_no.len = ctx->personal[0].len;
        mdtrt_id = ctx->mdtrt_id;

        if (ngx_http_yibao_audit_keys(r, ctx, &psn_no, &mdtrt_id) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_yibao_store_audit_get(r, ctx, ctx->audit_keys, 3,
                                            ctx->audit_values);
        if (rc != NGX_OK) {
            /* NGX_AGAIN: resumed by the store's answer */
            return rc;
        }
    }

    if (!ctx->audit_ran) {
        ctx->audit_ran = 1;

        rc = ngx_http_yibao_audit_run(r, ctx);

        if (rc == NGX_AGAIN) {
            /* the platform's audit: resumed by its answer or timeout */
            return rc;
        }

        if (rc != NGX_OK) {
            ctx->audit_done = 1;
            return rc;
        }
    }

    ctx->audit_done = 1;

    if (ctx->audit_worst != YIBAO_AUDIT_ENFORCE) {
        return NGX_OK;
    }

    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUDIT_REFUSED,
                          "the fee-line audit refused the transaction: %V "
                          "(findings in output.yb_audit)", &ctx->audit_log);

    return yibao_gwerr_find(YIBAO_GWERR_AUDIT_REFUSED)->http_status;
}


/* the keys of the person (by a keyed digest of psn_no) and of the visit */

static ngx_int_t
ngx_http_yibao_audit_keys(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_str_t *psn_no, ngx_str_t *mdtrt_id)
{
    if (ngx_http_yibao_audit_key(r,
                                 &ctx->audit_keys[NGX_HTTP_YIBAO_AUDIT_PERSON],
                                 "p", &ctx->entity, psn_no)
        != NGX_OK
        || ngx_http_yibao_audit_key(r,
                                 &ctx->audit_keys[NGX_HTTP_YIBAO_AUDIT_LINES],
                                 "l", &ctx->entity, psn_no)
           != NGX_OK
        || ngx_http_yibao_audit_key(r,
                              &ctx->audit_keys[NGX_HTTP_YIBAO_AUDIT_MED_TYPE],
                              "m", &ctx->entity, mdtrt_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* yibao:audit:<kind>:<entity>:<HMAC-SHA256 of id, 32 hex digits> */

static ngx_int_t
ngx_http_yibao_audit_key(ngx_http_request_t *r, ngx_str_t *key,
    const char *kind, ngx_str_t *entity, ngx_str_t *id)
{
    yibao_str_t                  e, i, out;
    yibao_alloc_t                a;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    ngx_http_yibao_alloc_init(&a, r->pool);

    e.data = entity->data;
    e.len = entity->len;
    i.data = id->data;
    i.len = id->len;

    if (yibao_audit_store_key(&gmcf->audit_secret, kind, &e, &i, &a, &out)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    key->data = (u_char *) out.data;
    key->len = out.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_audit_run(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    size_t                       n;
    yibao_err_t                  err;
    yibao_str_t                  log, mdtrt_id, *acks;
    yibao_alloc_t                a;
    yibao_audit_ctx_t            actx;
    yibao_audit_line_t          *lines;
    yibao_audit_result_t         res;
    yibao_audit_history_t        h;
    ngx_http_yibao_main_conf_t  *gmcf;

    ngx_http_yibao_audit_remote_conf_t  *rcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    ngx_http_yibao_alloc_init(&a, r->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    if (ngx_http_yibao_audit_context(r, ctx, &actx, &h, &lines, &n)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* acknowledgements: the gateway's key, never sent */

    switch (yibao_audit_acks(json_object_get(ctx->env.doc, "input"), &a,
                             &acks, &actx.nacks, &err))
    {
    case YIBAO_OK:
        break;

    case YIBAO_ERR_INVALID:
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_FIELD_INVALID, "%s",
                              err.msg);
        return yibao_gwerr_find(YIBAO_GWERR_FIELD_INVALID)->http_status;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    actx.acks = acks;

    if (yibao_audit_run(gmcf->audit, &actx, lines, n, &a, &res) != YIBAO_OK
        || yibao_audit_log(&res, &a, &log) != YIBAO_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->audit_log.data = (u_char *) log.data;
    ctx->audit_log.len = log.len;
    ctx->audit_acks = actx.nacks;

    /* what to keep of the person once a 2204 is accepted */

    if (ngx_http_yibao_audit_infno(ctx, "2204") && ctx->mdtrt_id.len
        && ctx->personal[0].len)
    {
        mdtrt_id.data = ctx->mdtrt_id.data;
        mdtrt_id.len = ctx->mdtrt_id.len;

        if (yibao_audit_history_write(gmcf->audit, &h, &actx, &mdtrt_id,
                                      lines, n,
                                      (int32_t) (gmcf->audit_window
                                                 / 86400000),
                                      NGX_HTTP_YIBAO_AUDIT_MAX_LINES, &a,
                                      &log)
            != YIBAO_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->audit_record.data = (u_char *) log.data;
        ctx->audit_record.len = log.len;
    }

    if (ngx_http_yibao_audit_decide(r, ctx, &res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the platform's audit, unless the transaction is refused already */

    rcf = ngx_http_yibao_audit_remote_conf(gmcf, ctx);

    if (rcf == NULL || ctx->audit_worst == YIBAO_AUDIT_ENFORCE) {
        return NGX_OK;
    }

    return ngx_http_yibao_audit_remote(r, ctx, rcf, &actx, lines, n);
}


/*
 * The context of the visit: the clinic, the person (1101's gender and
 * birth date), the visit's med_type (2203), its earlier lines and the
 * person's other visits; and the lines to audit: a 2204's, or for a
 * 2206 every line of the visit.
 */

static ngx_int_t
ngx_http_yibao_audit_context(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_audit_ctx_t *actx,
    yibao_audit_history_t *h, yibao_audit_line_t **lines, size_t *n)
{
    u_char          *p;
    ngx_str_t       *v;
    yibao_str_t      mdtrt_id;
    yibao_alloc_t    a;

    ngx_http_yibao_alloc_init(&a, r->pool);
    ngx_memzero(actx, sizeof(yibao_audit_ctx_t));

    ngx_http_yibao_map_scope(ctx->registry_clinic, &actx->scope);
    actx->integrated = (ctx->registry_clinic->mode == YIBAO_SETTLE_TOWNSHIP);
    actx->today = ngx_http_yibao_audit_today();
    actx->birth = INT32_MIN;

    v = &ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_PERSON];

    if (v->len >= 12 && v->data[1] == '\t') {
        actx->gend = (char) v->data[0];
        actx->birth = yibao_audit_day(v->data + 2, v->len - 2);
    }

    /* "med_type TAB diag_code" */

    v = &ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_MED_TYPE];
    actx->med_type.data = v->data;
    actx->med_type.len = v->len;

    p = ngx_strlchr(v->data, v->data + v->len, '\t');

    if (p != NULL) {
        actx->med_type.len = p - v->data;
    }

    v = &ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_LINES];
    mdtrt_id.data = ctx->mdtrt_id.data;
    mdtrt_id.len = ctx->mdtrt_id.len;

    if (yibao_audit_history_parse(v->data, v->len, &a, h) != YIBAO_OK
        || yibao_audit_history_context(h, &mdtrt_id, actx, &a) != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_yibao_audit_infno(ctx, "2206")) {
        /* the settlement of the visit: all of its lines, once more */

        *lines = (yibao_audit_line_t *) actx->earlier;
        *n = actx->nearlier;
        actx->earlier = NULL;
        actx->nearlier = 0;
        return NGX_OK;
    }

    if (yibao_audit_lines(json_object_get(ctx->env.doc, "input"), &a, lines,
                          n)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* enforce: refused, with the findings; warn: kept for the answer */

static ngx_int_t
ngx_http_yibao_audit_decide(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_audit_result_t *res)
{
    size_t               i;
    unsigned             mask;
    json_t              *findings;
    yibao_str_t          jr;
    ngx_pool_cleanup_t  *cln;

    ctx->audit_worst = res->worst;

    if (res->n) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yibao: infno %V clinic %V audit %V%s", &ctx->infno,
                      &ctx->clinic, &ctx->audit_log,
                      ctx->audit_acks ? " (acknowledged by the clinic)" : "");
    }

    mask = (1u << YIBAO_AUDIT_WARN) | (1u << YIBAO_AUDIT_ENFORCE);

    for (i = 0; i < res->n; i++) {
        if (mask & (1u << res->findings[i].mode)) {
            break;
        }
    }

    if (i == res->n) {
        return NGX_OK;
    }

    jr.data = ctx->msgid.data;
    jr.len = ctx->msgid.len;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    findings = yibao_audit_json(res, &jr, mask);

    if (cln == NULL || findings == NULL) {
        json_decref(findings);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_yibao_audit_cleanup;
    cln->data = findings;
    ctx->audit_findings = findings;

    return NGX_OK;
}


static void
ngx_http_yibao_audit_cleanup(void *data)
{
    json_decref(data);
}


/* 2203: the visit's med_type, for the limits of supply_days */

static void
ngx_http_yibao_audit_med_type(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    u_char     *p;
    json_t     *info, *v, *id, *diag;
    ngx_str_t   key, value, mdtrt_id;

    info = json_object_get(json_object_get(ctx->env.doc, "input"),
                           "mdtrtinfo");
    v = json_object_get(info, "med_type");
    id = json_object_get(info, "mdtrt_id");
    diag = json_object_get(json_array_get(json_object_get(
               json_object_get(ctx->env.doc, "input"), "diseinfo"), 0),
               "diag_code");

    if (!json_is_string(diag) || json_string_length(diag) > 30) {
        diag = NULL;
    }

    if (!json_is_string(v) || !json_is_string(id)
        || json_string_length(v) == 0 || json_string_length(v) > 6)
    {
        return;
    }

    mdtrt_id.data = (u_char *) json_string_value(id);
    mdtrt_id.len = json_string_length(id);

    if (ngx_http_yibao_audit_key(r, &key, "m", &ctx->entity,
                                 &mdtrt_id)
        != NGX_OK)
    {
        return;
    }

    p = ngx_pnalloc(r->pool, 40);
    if (p == NULL) {
        return;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%s\t%s", json_string_value(v),
                            diag ? json_string_value(diag) : "")
                - p;

    ngx_http_yibao_store_audit_put(r, &key, &value);
}


/*
 * The platform's answer (infcode 0 or not; the parsed *doc, maybe NULL,
 * and the bytes for the caller *p, *n): 1101 teaches the person's gender
 * and birth date; an accepted 2204 is kept; warn findings are added.
 */

ngx_int_t
ngx_http_yibao_audit_answer(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    void *doc, u_char **p, size_t *n)
{
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!glcf->audit || gmcf->audit == NULL || ctx->cache_serve) {
        return NGX_OK;
    }

    if (ctx->infcode == 0 && ngx_http_yibao_audit_infno(ctx, "1101")) {
        ngx_http_yibao_audit_person(r, ctx, doc);
        return NGX_OK;
    }

    if (ctx->infcode == 0 && ctx->audit_record.len) {
        ngx_http_yibao_store_audit_put(r,
                                 &ctx->audit_keys[NGX_HTTP_YIBAO_AUDIT_LINES],
                                 &ctx->audit_record);
    }

    if (ctx->audit_findings == NULL) {
        return NGX_OK;
    }

    return ngx_http_yibao_audit_attach(r, ctx, 1, p, n);
}


/* the refusal's envelope with the findings (*p, *n replaced) */

ngx_int_t
ngx_http_yibao_audit_error(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    u_char **p, size_t *n)
{
    if (ctx->audit_findings == NULL
        || ctx->gwerr != YIBAO_GWERR_AUDIT_REFUSED)
    {
        return NGX_OK;
    }

    return ngx_http_yibao_audit_attach(r, ctx, 0, p, n);
}


static ngx_int_t
ngx_http_yibao_audit_attach(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    unsigned warn, u_char **p, size_t *n)
{
    int             rc;
    json_t         *doc;
    yibao_str_t     out;
    json_error_t    jerr;
    yibao_alloc_t   a;

    doc = json_loadb((const char *) *p, *n, 0, &jerr);

    if (!json_is_object(doc)) {
        json_decref(doc);
        return NGX_OK;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    rc = yibao_audit_attach(doc, ctx->audit_findings, warn);

    if (rc == YIBAO_OK) {
        rc = yibao_json_serialize(doc, &a, &out);
    }

    json_decref(doc);

    if (rc != YIBAO_OK) {
        return NGX_ERROR;
    }

    *p = (u_char *) out.data;
    *n = out.len;

    return NGX_OK;
}


/* 1101's output.baseinfo: "gend TAB brdy" under the person's key */

static void
ngx_http_yibao_audit_person(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    json_t *doc)
{
    u_char      *q;
    json_t      *base, *psn, *gend, *brdy;
    ngx_str_t    key, value, psn_no;

    base = json_object_get(json_object_get(doc, "output"), "baseinfo");
    psn = json_object_get(base, "psn_no");
    gend = json_object_get(base, "gend");
    brdy = json_object_get(base, "brdy");

    if (!json_is_string(psn) || !json_is_string(gend)
        || json_string_length(gend) != 1 || !json_is_string(brdy)
        || yibao_audit_day((const unsigned char *) json_string_value(brdy),
                           json_string_length(brdy))
           == INT32_MIN)
    {
        return;
    }

    psn_no.data = (u_char *) json_string_value(psn);
    psn_no.len = json_string_length(psn);

    if (ngx_http_yibao_audit_key(r, &key, "p", &ctx->entity, &psn_no)
        != NGX_OK)
    {
        return;
    }

    q = ngx_pnalloc(r->pool, 12);
    if (q == NULL) {
        return;
    }

    value.data = q;
    value.len = ngx_sprintf(q, "%c\t%*s", json_string_value(gend)[0],
                            (size_t) 10, json_string_value(brdy))
                - q;

    ngx_http_yibao_store_audit_put(r, &key, &value);
}


/* days since 1970 of today, local time */

static int32_t
ngx_http_yibao_audit_today(void)
{
    u_char       buf[16];
    ngx_time_t  *tp;
    yibao_tm_t   tm;

    tp = ngx_timeofday();
    ngx_http_yibao_localtime((ngx_msec_t) tp->sec * 1000 + tp->msec, &tm);

    ngx_sprintf(buf, "%04d-%02d-%02d", tm.year, tm.mon, tm.mday);

    return yibao_audit_day(buf, 10);
}


static ngx_uint_t
ngx_http_yibao_audit_infno(ngx_http_yibao_ctx_t *ctx, const char *infno)
{
    return ctx->infno.len == 4 && ngx_strncmp(ctx->infno.data, infno, 4) == 0;
}


/*
 * The platform's audit (3101/3102) of the visit, after the gateway's own
 * rules (yibao_audit_platform): sent with a msgid of its own, signed as
 * every request, bounded by timeout= after which the transaction goes
 * on without it (a miss, logged and counted in $yibao_audit).  The
 * exchange lives in a pool of its own: a request that ends first (or
 * stops waiting) leaves it to end by itself.  cln is the request's
 * cleanup while the request lives: the exchange that ends first disarms
 * it, for the pool it points into is then gone.
 */

typedef struct {
    ngx_pool_t                        *pool;
    ngx_http_request_t                *r;       /* NULL: nobody waits */
    ngx_pool_cleanup_t                *cln;     /* NULL: request ended */
    ngx_http_yibao_ctx_t              *ctx;
    ngx_http_yibao_audit_remote_conf_t *conf;
    ngx_event_t                        timer;
    ngx_str_t                          uri;
    ngx_str_t                          body;
    yibao_sign_out_t                   sign;
} ngx_http_yibao_audit_flight_t;


static ngx_conf_enum_t  ngx_http_yibao_audit_modes[] = {
    { ngx_string("shadow"), YIBAO_AUDIT_SHADOW },
    { ngx_string("warn"), YIBAO_AUDIT_WARN },
    { ngx_string("enforce"), YIBAO_AUDIT_ENFORCE },
    { ngx_null_string, 0 }
};


static ngx_int_t ngx_http_yibao_audit_remote_map(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);


static ngx_http_yibao_param_t  ngx_http_yibao_audit_remote_params[] = {

    { ngx_string("on"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t, on),
      0, 0, NULL, NULL, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("infno"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t, infno),
      0, 0, NULL, NULL, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("trig_scen"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t,
                                 trig_scen),
      0, 0, NULL, NULL, 0 },

    { ngx_string("node"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t, node),
      0, 0, NULL, NULL, 0 },

    { ngx_string("syscode"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t,
                                 syscode),
      0, 0, NULL, NULL, 0 },

    { ngx_string("timeout"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t,
                                 timeout),
      1, 60000, NULL, NULL, 0 },

    { ngx_string("mode"), NGX_HTTP_YIBAO_PARAM_ENUM,
      ngx_http_yibao_param_field(ngx_http_yibao_audit_remote_conf_t, mode),
      0, 0, ngx_http_yibao_audit_modes, NULL, 0 },

    { ngx_string("map"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0,
      NULL, ngx_http_yibao_audit_remote_map, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    ngx_http_yibao_null_param
};


static void ngx_http_yibao_audit_remote_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans);
static void ngx_http_yibao_audit_remote_timeout(ngx_event_t *ev);
static void ngx_http_yibao_audit_remote_cleanup(void *data);
static void ngx_http_yibao_audit_remote_note(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_audit_remote_conf_t *rc,
    const char *what, json_t *findings);


/*
 * map=FILE: the mapping of the visit to the audit's input, parsed once;
 * the map points into the file's bytes, kept in the cycle's pool.
 */

static ngx_int_t
ngx_http_yibao_audit_remote_map(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_audit_remote_conf_t *rc = conf;

    ngx_str_t      name, data;
    yibao_err_t    err;
    yibao_alloc_t  a;

    name = *value;

    if (ngx_http_yibao_read_file(cf, &name, 0, cf->pool, &data) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, cf->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    rc->map = yibao_audit_map_parse(data.data, data.len, &a, &err);

    if (rc->map == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" line %uz: %s",
                           &name, err.line, err.msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* yibao_audit_platform on=2204 infno=3101 map=FILE trig_scen=2 ... */

char *
ngx_http_yibao_audit_platform_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    char                                *rv;
    ngx_http_yibao_audit_remote_conf_t  *rc;

    if (gmcf->audit_remotes == NULL) {
        gmcf->audit_remotes = ngx_array_create(cf->pool, 2,
                                  sizeof(ngx_http_yibao_audit_remote_conf_t));
        if (gmcf->audit_remotes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rc = ngx_array_push(gmcf->audit_remotes);
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rc, sizeof(ngx_http_yibao_audit_remote_conf_t));
    ngx_str_set(&rc->node, "data");
    ngx_str_set(&rc->syscode, "YBGW");
    rc->timeout = 800;
    rc->mode = YIBAO_AUDIT_WARN;

    rv = ngx_http_yibao_conf_params(cf, ngx_http_yibao_audit_remote_params,
                                    1, rc, 0);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if ((rc->on.len != 4 || (ngx_strncmp(rc->on.data, "2204", 4) != 0
                             && ngx_strncmp(rc->on.data, "2206", 4) != 0))
        || !yibao_code_is_infno(rc->infno.data, rc->infno.len))
    {
        return "needs on=2204 or on=2206 and an infno= (3101, 3102, "
               "3660, 3661)";
    }

    if (rc->syscode.len > 10) {
        return "syscode= is at most 10 characters";
    }

    return NGX_CONF_OK;
}


/* the platform's audit for this transaction, or NULL */

static ngx_http_yibao_audit_remote_conf_t *
ngx_http_yibao_audit_remote_conf(ngx_http_yibao_main_conf_t *gmcf,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_uint_t                           i;
    ngx_http_yibao_audit_remote_conf_t  *rc;

    if (gmcf->audit_remotes == NULL || gmcf->platform == NULL) {
        return NULL;
    }

    rc = gmcf->audit_remotes->elts;

    for (i = 0; i < gmcf->audit_remotes->nelts; i++) {
        if (ngx_http_yibao_audit_infno(ctx, (const char *) rc[i].on.data)) {
            return &rc[i];
        }
    }

    return NULL;
}


/*
 * Sends the visit to the platform's audit.  NGX_AGAIN: the request waits
 * for its answer or the timeout (then ctx->resume); NGX_OK: not sent (a
 * miss, noted).
 */

static ngx_int_t
ngx_http_yibao_audit_remote(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_audit_remote_conf_t *rc, yibao_audit_ctx_t *actx,
    const yibao_audit_line_t *lines, size_t n)
{
    ngx_str_t                       msgid;
    ngx_pool_t                     *pool;
    yibao_str_t                     out;
    ngx_pool_cleanup_t             *cln;
    yibao_audit_remote_t            v;
    ngx_http_yibao_loc_conf_t      *glcf;
    ngx_http_yibao_main_conf_t     *gmcf;
    ngx_http_yibao_audit_flight_t  *f;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    glcf = gmcf->platform->loc;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_http_yibao_audit_flight_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (f == NULL || cln == NULL
        || ngx_http_yibao_msgid_issue(gmcf, ctx->registry_clinic, pool,
                                      &msgid)
           != NGX_OK
        || ngx_http_yibao_route_path(glcf, &rc->infno, pool, &f->uri)
           != NGX_OK)
    {
        goto failed;
    }

    f->pool = pool;
    ngx_http_yibao_audit_remote_visit(ctx, rc, actx, &msgid, &v);

    if (ngx_http_yibao_audit_remote_envelope(ctx, rc, &msgid, &v, lines, n,
                                             pool, &out)
        != NGX_OK)
    {
        goto failed;
    }

    if (ngx_http_yibao_sign_body(&glcf->sign, ctx->registry_clinic,
                                 &rc->infno, &out, pool, r->connection->log,
                                 &f->sign, NULL)
        != NGX_OK)
    {
        goto failed;
    }

    f->body.data = (u_char *) out.data;
    f->body.len = out.len;
    f->r = r;
    f->ctx = ctx;
    f->conf = rc;

    if (ngx_http_yibao_platform_send(gmcf->platform, &f->uri,
                                     &glcf->upstream_content_type, &f->sign,
                                     &f->body,
                                     ngx_http_yibao_audit_remote_answer, f,
                                     ngx_cycle->log)
        != NGX_OK)
    {
        goto failed;
    }

    f->timer.handler = ngx_http_yibao_audit_remote_timeout;
    f->timer.data = f;
    f->timer.log = r->connection->log;
    ngx_add_timer(&f->timer, rc->timeout);

    cln->handler = ngx_http_yibao_audit_remote_cleanup;
    cln->data = f;
    f->cln = cln;

    return NGX_AGAIN;

failed:

    if (pool != NULL) {
        ngx_destroy_pool(pool);
    }

    ngx_http_yibao_audit_remote_note(r, ctx, rc, "failed", NULL);

    return NGX_OK;
}


/*
 * The visit as the platform's audit takes it (the audit's task id: the
 * msgid issued for the call).
 */

static void
ngx_http_yibao_audit_remote_visit(ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_audit_remote_conf_t *rc, yibao_audit_ctx_t *actx,
    ngx_str_t *msgid, yibao_audit_remote_t *v)
{
    u_char  *p;

    ngx_memzero(v, sizeof(yibao_audit_remote_t));

    v->node.data = rc->node.data;
    v->node.len = rc->node.len;
    v->syscode.data = rc->syscode.data;
    v->syscode.len = rc->syscode.len;
    v->trig_scen.data = rc->trig_scen.data;
    v->trig_scen.len = rc->trig_scen.len;
    v->task_id.data = msgid->data;
    v->task_id.len = msgid->len;
    v->psn_no = ctx->personal[0];
    v->mdtrt_id.data = ctx->mdtrt_id.data;
    v->mdtrt_id.len = ctx->mdtrt_id.len;
    v->entity = ctx->registry_clinic->entity_code;
    v->entity_name = ctx->registry_clinic->entity_name;
    v->admdvs = ctx->registry_clinic->admdvs;
    v->med_type = actx->med_type;

    p = ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_MED_TYPE].data;
    p = ngx_strlchr(p, p + ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_MED_TYPE].len,
                    '\t');

    if (p != NULL) {
        v->diag.data = p + 1;
        v->diag.len = ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_MED_TYPE].data
                      + ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_MED_TYPE].len
                      - p - 1;
    }
    v->poolarea = ctx->env.insuplc_admdvs;

    p = ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_PERSON].data;

    if (ctx->audit_values[NGX_HTTP_YIBAO_AUDIT_PERSON].len == 12) {
        v->gend.data = p;
        v->gend.len = 1;
        v->brdy.data = p + 2;
        v->brdy.len = 10;
    }
}


/*
 * The envelope of the call to the platform's audit (rc->infno) of the
 * visit v and its fee lines, made in pool.
 */

static ngx_int_t
ngx_http_yibao_audit_remote_envelope(ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_audit_remote_conf_t *rc, ngx_str_t *msgid,
    yibao_audit_remote_t *v, const yibao_audit_line_t *lines, size_t n,
    ngx_pool_t *pool, yibao_str_t *out)
{
    json_t         *input;
    yibao_tm_t      tm;
    ngx_time_t     *tp;
    yibao_str_t     head, m, infno;
    yibao_err_t     err;
    yibao_alloc_t   a;

    ngx_http_yibao_alloc_init(&a, pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    tp = ngx_timeofday();
    ngx_http_yibao_localtime((ngx_msec_t) tp->sec * 1000 + tp->msec, &tm);

    m.data = msgid->data;
    m.len = msgid->len;
    infno.data = rc->infno.data;
    infno.len = rc->infno.len;

    input = yibao_audit_remote_input(rc->map, v, lines, n);

    if (input == NULL
        || yibao_resolve_head(&ctx->env, &a, &head) != YIBAO_OK
        || yibao_resolve_envelope(&head, &infno,
                                  &ctx->registry_clinic->entity_code,
                                  &ctx->registry_clinic->entity_name, &m,
                                  &tm, input, &a, out, &err)
           != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_yibao_audit_remote_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans)
{
    ngx_http_yibao_audit_flight_t *f = data;

    char                   why[128];
    json_t                *findings;
    ngx_http_request_t    *r;
    yibao_audit_mode_e     worst;
    ngx_http_yibao_ctx_t  *ctx;

    r = f->r;
    ctx = f->ctx;

    /* the flight's pool goes below: the request's cleanup must not see it */

    if (f->cln != NULL) {
        f->cln->handler = NULL;
        f->cln = NULL;
    }

    if (r == NULL) {
        /* nobody waits: the timeout came first, or the request ended */

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "yibao: the platform's audit (%V) ended after its "
                      "transaction went on (%s)", &f->conf->infno,
                      ans->error ? ans->error : "answered");

        ngx_destroy_pool(f->pool);
        return;
    }

    f->r = NULL;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    findings = NULL;
    worst = YIBAO_AUDIT_OFF;

    if (ans->error != NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: the platform's audit (%V) failed: %s; the "
                      "transaction goes on without it", &f->conf->infno,
                      ans->error);
        ngx_http_yibao_audit_remote_note(r, ctx, f->conf, "failed", NULL);

    } else if (yibao_audit_remote_answer(ans->body.data, ans->body.len,
                                         (yibao_audit_mode_e) f->conf->mode,
                                         &findings, &worst, why,
                                         sizeof(why))
               != YIBAO_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: the platform's audit (%V) answered HTTP %ui: "
                      "%s; the transaction goes on without it",
                      &f->conf->infno, ans->status, why);
        ngx_http_yibao_audit_remote_note(r, ctx, f->conf, "failed", NULL);

    } else {
        if (worst > ctx->audit_worst) {
            ctx->audit_worst = worst;
        }

        ngx_http_yibao_audit_remote_note(r, ctx, f->conf, NULL, findings);
        json_decref(findings);
    }

    ngx_destroy_pool(f->pool);

    ctx->resume(r, ctx, NGX_OK);
}


static void
ngx_http_yibao_audit_remote_timeout(ngx_event_t *ev)
{
    ngx_http_yibao_audit_flight_t *f = ev->data;

    ngx_http_request_t    *r;
    ngx_http_yibao_ctx_t  *ctx;

    r = f->r;
    ctx = f->ctx;

    /* the answer, when it comes, only ends the exchange */

    f->r = NULL;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "yibao: the platform's audit (%V) did not answer within "
                  "%M ms; the transaction goes on without it",
                  &f->conf->infno, f->conf->timeout);

    ngx_http_yibao_audit_remote_note(r, ctx, f->conf, "timeout", NULL);

    ctx->resume(r, ctx, NGX_OK);
}


static void
ngx_http_yibao_audit_remote_cleanup(void *data)
{
    ngx_http_yibao_audit_flight_t *f = data;

    f->cln = NULL;

    if (f->r == NULL) {
        return;
    }

    f->r = NULL;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }
}


/*
 * The platform's findings merged with the gateway's (ctx->audit_findings
 * and the log's $yibao_audit: "3101:rule_id:mode:sev:amount" each), or
 * its miss ("3101:timeout", "3101:failed").
 */

static void
ngx_http_yibao_audit_remote_note(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_audit_remote_conf_t *rc,
    const char *what, json_t *findings)
{
    u_char              *p, *last;
    size_t               size;
    yibao_str_t          infno, log;
    yibao_alloc_t        a;
    ngx_pool_cleanup_t  *cln;

    ctx->audit_remote = 1;

    if (what != NULL) {
        size = ctx->audit_log.len + rc->infno.len + 16;

        p = ngx_pnalloc(r->pool, size);
        if (p == NULL) {
            return;
        }

        ctx->audit_log.len = ngx_slprintf(p, p + size, "%V%s%V:%s",
                                          &ctx->audit_log,
                                          ctx->audit_log.len ? " " : "",
                                          &rc->infno, what)
                             - p;
        ctx->audit_log.data = p;
        return;
    }

    /* the platform's rule ids and severities escaped (pure code) */

    infno.data = rc->infno.data;
    infno.len = rc->infno.len;
    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_audit_remote_log(&infno, findings,
                               (yibao_audit_mode_e) rc->mode, &a, &log)
        != YIBAO_OK)
    {
        return;
    }

    if (log.len) {
        p = ngx_pnalloc(r->pool, ctx->audit_log.len + 1 + log.len);
        if (p == NULL) {
            return;
        }

        last = ngx_cpymem(p, ctx->audit_log.data, ctx->audit_log.len);

        if (last != p) {
            *last++ = ' ';
        }

        last = ngx_cpymem(last, log.data, log.len);

        ctx->audit_log.data = p;
        ctx->audit_log.len = last - p;
    }

    if (json_array_size(findings) == 0
        || rc->mode == YIBAO_AUDIT_SHADOW)
    {
        return;
    }

    if (ctx->audit_findings == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return;
        }

        ctx->audit_findings = json_array();
        if (ctx->audit_findings == NULL) {
            return;
        }

        cln->handler = ngx_http_yibao_audit_cleanup;
        cln->data = ctx->audit_findings;
    }

    (void) json_array_extend(ctx->audit_findings, findings);
}
