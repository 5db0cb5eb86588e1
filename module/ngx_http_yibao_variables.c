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
static ngx_int_t ngx_http_yibao_variable_tx_log(ngx_http_request_t *r,
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


/*
 * $yibao_tx_log: the transaction log's JSON object in one variable, for
 * log_format yibao_tx escape=none '$yibao_tx_log'.  The same fields in
 * the same order as the log_format of the variables one by one with
 * escape=json (docs/operations.md), each value escaped as nginx's own
 * ngx_escape_json escapes it (yibao_json_escape_into writes the same
 * bytes: '"' and '\\' escaped, \b \f \n \r \t, the other control
 * characters as \u00XX in upper-case hex, every other byte as it is)
 * and a value not found left empty, as the log module does; but one
 * variable written into one buffer, instead of one log operation
 * (length, then copy) for each of the 29 variables.
 */

typedef struct {
    ngx_str_t   text;               /* what comes before the value */
    ngx_str_t   name;               /* the variable */
} ngx_http_yibao_tx_field_t;


static ngx_http_yibao_tx_field_t  ngx_http_yibao_tx_fields[] = {
    { ngx_string("{\"time\":\""),
      ngx_string("time_iso8601") },
    { ngx_string("\",\"msec\":"),
      ngx_string("msec") },
    { ngx_string(",\"status\":"),
      ngx_string("status") },
    { ngx_string(",\"caller\":\""),
      ngx_string("yibao_caller") },
    { ngx_string("\",\"clinic\":\""),
      ngx_string("yibao_clinic") },
    { ngx_string("\",\"clinic_name\":\""),
      ngx_string("yibao_clinic_name") },
    { ngx_string("\",\"entity\":\""),
      ngx_string("yibao_entity") },
    { ngx_string("\",\"entity_name\":\""),
      ngx_string("yibao_entity_name") },
    { ngx_string("\",\"infno\":\""),
      ngx_string("yibao_infno") },
    { ngx_string("\",\"msgid\":\""),
      ngx_string("yibao_msgid") },
    { ngx_string("\",\"upstream_msgid\":\""),
      ngx_string("yibao_upstream_msgid") },
    { ngx_string("\",\"mdtrt_id\":\""),
      ngx_string("yibao_mdtrt_id") },
    { ngx_string("\",\"setl_id\":\""),
      ngx_string("yibao_setl_id") },
    { ngx_string("\",\"psn_no\":\""),
      ngx_string("yibao_psn_no") },
    { ngx_string("\",\"infcode\":\""),
      ngx_string("yibao_infcode") },
    { ngx_string("\",\"platform_msg\":\""),
      ngx_string("yibao_platform_msg") },
    { ngx_string("\",\"error\":\""),
      ngx_string("yibao_error") },
    { ngx_string("\",\"error_detail\":\""),
      ngx_string("yibao_error_detail") },
    { ngx_string("\",\"unmapped\":\""),
      ngx_string("yibao_unmapped") },
    { ngx_string("\",\"audit\":\""),
      ngx_string("yibao_audit") },
    { ngx_string("\",\"ratelimit\":\""),
      ngx_string("yibao_ratelimit_status") },
    { ngx_string("\",\"store\":\""),
      ngx_string("yibao_store") },
    { ngx_string("\",\"cache\":\""),
      ngx_string("yibao_cache_status") },
    { ngx_string("\",\"journal\":\""),
      ngx_string("yibao_journal") },
    { ngx_string("\",\"upstream_status\":\""),
      ngx_string("upstream_status") },
    { ngx_string("\",\"upstream_time\":\""),
      ngx_string("upstream_response_time") },
    { ngx_string("\",\"store_time\":\""),
      ngx_string("yibao_store_time") },
    { ngx_string("\",\"request_time\":"),
      ngx_string("request_time") },
    { ngx_string(",\"bytes_sent\":"),
      ngx_string("bytes_sent") },
    { ngx_null_string, ngx_null_string }
};

#define NGX_HTTP_YIBAO_TX_FIELDS                                             \
    (sizeof(ngx_http_yibao_tx_fields) / sizeof(ngx_http_yibao_tx_field_t) - 1)

#define NGX_HTTP_YIBAO_TX_END  "}"


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
    ngx_int_t            *index;
    ngx_str_t             name;
    ngx_uint_t            i;
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_yibao_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    /* $yibao_tx_log: the index of each of its variables, this cycle's */

    index = ngx_palloc(cf->pool, NGX_HTTP_YIBAO_TX_FIELDS * sizeof(ngx_int_t));
    if (index == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_YIBAO_TX_FIELDS; i++) {
        index[i] = ngx_http_get_variable_index(cf,
                                           &ngx_http_yibao_tx_fields[i].name);
        if (index[i] == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    ngx_str_set(&name, "yibao_tx_log");

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_yibao_variable_tx_log;
    var->data = (uintptr_t) index;

    return NGX_OK;
}


/*
 * Each value escaped once, straight into a buffer with room for its
 * worst case (6 bytes a byte, \u00XX); the line is what was written.
 */

static ngx_int_t
ngx_http_yibao_variable_tx_log(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    size_t                      len;
    ngx_int_t                  *index;
    ngx_uint_t                  i;
    ngx_http_variable_value_t  *value[NGX_HTTP_YIBAO_TX_FIELDS];

    index = (ngx_int_t *) data;
    len = sizeof(NGX_HTTP_YIBAO_TX_END) - 1;

    for (i = 0; i < NGX_HTTP_YIBAO_TX_FIELDS; i++) {
        len += ngx_http_yibao_tx_fields[i].text.len;

        value[i] = ngx_http_get_indexed_variable(r, index[i]);

        if (value[i] == NULL || value[i]->not_found) {
            value[i] = NULL;
            continue;
        }

        len += 6 * (size_t) value[i]->len;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < NGX_HTTP_YIBAO_TX_FIELDS; i++) {
        p = ngx_cpymem(p, ngx_http_yibao_tx_fields[i].text.data,
                       ngx_http_yibao_tx_fields[i].text.len);

        if (value[i] != NULL) {
            p += yibao_json_escape_into(p, value[i]->data, value[i]->len);
        }
    }

    p = ngx_cpymem(p, NGX_HTTP_YIBAO_TX_END,
                   sizeof(NGX_HTTP_YIBAO_TX_END) - 1);

    ngx_http_yibao_variable_set(v, v->data, p - v->data);

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
