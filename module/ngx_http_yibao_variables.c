/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"


/*
 * $yibao_* variables for access_log (log_format escape=json) and for
 * proxy_pass ($yibao_upstream_uri).  None of them carries a secret or
 * personal data.
 */

static void ngx_http_yibao_variable_set(ngx_http_variable_value_t *v,
    u_char *data, size_t len);
static ngx_int_t ngx_http_yibao_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_infcode(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_name(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_detail(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_store_time(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_journal(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_yibao_variable_clinic(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* names of ctx->limit_status and ctx->store values, by offset */

static ngx_str_t  ngx_http_yibao_limit_names[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("DRY_RUN"),
    ngx_string("BYPASSED"),
    ngx_string("LOCAL"),
    ngx_string("ERROR")
};


static ngx_str_t  ngx_http_yibao_store_names[] = {
    ngx_null_string,
    ngx_string("local"),
    ngx_string("redis"),
    ngx_string("down")
};


static ngx_http_variable_t  ngx_http_yibao_vars[] = {

    { ngx_string("yibao_caller"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, caller), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_clinic"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, clinic), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_entity"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, entity), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_infno"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, infno), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_msgid"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, msgid), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_upstream_msgid"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, upstream_msgid),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_upstream_uri"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, upstream_uri),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_unmapped"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, unmapped), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_audit"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, audit_log), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("yibao_mdtrt_id"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, mdtrt_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_setl_id"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, setl_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_psn_no"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, psn_no), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_platform_msg"), NULL, ngx_http_yibao_variable_str,
      offsetof(ngx_http_yibao_ctx_t, platform_msg),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_error_detail"), NULL,
      ngx_http_yibao_variable_detail, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_clinic_name"), NULL, ngx_http_yibao_variable_clinic,
      offsetof(yibao_clinic_t, name), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_entity_name"), NULL, ngx_http_yibao_variable_clinic,
      offsetof(yibao_clinic_t, entity_name), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_error"), NULL, ngx_http_yibao_variable_error,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_infcode"), NULL, ngx_http_yibao_variable_infcode,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_ratelimit_status"), NULL,
      ngx_http_yibao_variable_name,
      offsetof(ngx_http_yibao_ctx_t, limit_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_store_time"), NULL,
      ngx_http_yibao_variable_store_time, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_cache_status"), NULL, ngx_http_yibao_variable_name,
      offsetof(ngx_http_yibao_ctx_t, cache_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_journal"), NULL, ngx_http_yibao_variable_journal,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yibao_store"), NULL, ngx_http_yibao_variable_name,
      offsetof(ngx_http_yibao_ctx_t, store), NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_yibao_variables_add(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_yibao_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             *s;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_yibao_variable_set(v, s->data, s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_variable_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                *p;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL || ctx->gwerr == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_yibao_variable_set(v, p,
                                ngx_sprintf(p, "YB%04ui", ctx->gwerr) - p);

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_variable_infcode(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                *p;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL || !ctx->infcode_set) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_yibao_variable_set(v, p, ngx_sprintf(p, "%i", ctx->infcode) - p);

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_variable_name(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             *names, *name;
    ngx_uint_t             n, value;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (data == offsetof(ngx_http_yibao_ctx_t, store)) {
        names = ngx_http_yibao_store_names;
        n = sizeof(ngx_http_yibao_store_names) / sizeof(ngx_str_t);

    } else if (data == offsetof(ngx_http_yibao_ctx_t, cache_status)) {
        names = ngx_http_yibao_cache_names;
        n = NGX_HTTP_YIBAO_CACHE_BYPASS + 1;

    } else {
        names = ngx_http_yibao_limit_names;
        n = sizeof(ngx_http_yibao_limit_names) / sizeof(ngx_str_t);
    }

    value = (ctx != NULL) ? *(ngx_uint_t *) ((u_char *) ctx + data) : 0;

    if (value == 0 || value >= n) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = &names[value];

    ngx_http_yibao_variable_set(v, name->data, name->len);

    return NGX_OK;
}


/* the gateway's error text, ID-number-like digit runs masked */

static ngx_int_t
ngx_http_yibao_variable_detail(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                 len;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL || ctx->gwerr == 0 || ctx->detail == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    len = ngx_strlen(ctx->detail);

    v->data = ngx_pnalloc(r->pool, len ? len : 1);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    yibao_mask_digits((u_char *) ctx->detail, len, v->data);

    ngx_http_yibao_variable_set(v, v->data, len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_variable_clinic(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    yibao_str_t           *s;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL || ctx->registry_clinic == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (yibao_str_t *) ((u_char *) ctx->registry_clinic + data);

    ngx_http_yibao_variable_set(v, (u_char *) s->data, s->len);

    return NGX_OK;
}


/* seconds with milliseconds, as $upstream_response_time */

static ngx_int_t
ngx_http_yibao_variable_store_time(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                *p;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL || ctx->store == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_yibao_variable_set(v, p,
                                ngx_sprintf(p, "%T.%03M",
                                            (time_t) ctx->store_time / 1000,
                                            ctx->store_time % 1000)
                                - p);

    return NGX_OK;
}


/* sent, ok, failed, unknown; "replay" for a repeat answered from it */

static ngx_int_t
ngx_http_yibao_variable_journal(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char            *name;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_yibao_module);

    if (ctx == NULL || ctx->journal_state == YIBAO_JOURNAL_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ctx->replay ? "replay"
                       : yibao_journal_state_name(ctx->journal_state);

    ngx_http_yibao_variable_set(v, (u_char *) name, ngx_strlen(name));

    return NGX_OK;
}


static void
ngx_http_yibao_variable_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = data;
}
