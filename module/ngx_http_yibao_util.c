/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"


/*
 * The helpers every part of the glue uses: the request's context and its
 * rejection, the allocator and the clock handed to the pure code, the
 * ids and personal data kept for the log, JSON answers of the operators'
 * endpoints, and the reading of directive parameters.  Nothing here
 * knows a feature.
 */


static void *ngx_http_yibao_pool_alloc(void *ctx, size_t size);
static ngx_int_t ngx_http_yibao_keep_personal(ngx_http_request_t *r,
    yibao_str_t *dst, yibao_str_t *src);


static void *
ngx_http_yibao_pool_alloc(void *ctx, size_t size)
{
    return ngx_palloc((ngx_pool_t *) ctx, size);
}


void
ngx_http_yibao_alloc_init(yibao_alloc_t *a, ngx_pool_t *pool)
{
    a->alloc = ngx_http_yibao_pool_alloc;
    a->ctx = pool;
}


void
ngx_http_yibao_localtime(ngx_msec_t ms, yibao_tm_t *tm)
{
    ngx_tm_t  t;

    ngx_localtime((time_t) (ms / 1000), &t);

    tm->year = t.ngx_tm_year;
    tm->mon = t.ngx_tm_mon;
    tm->mday = t.ngx_tm_mday;
    tm->hour = t.ngx_tm_hour;
    tm->min = t.ngx_tm_min;
    tm->sec = t.ngx_tm_sec;
    tm->msec = (int) (ms % 1000);
}


/* "YYYY-MM-DD HH:MM:SS", local time, of ms since the epoch (for logs) */

u_char *
ngx_http_yibao_time_text(u_char *buf, uint64_t ms)
{
    yibao_tm_t  tm;

    ngx_http_yibao_localtime((ngx_msec_t) ms, &tm);

    return ngx_sprintf(buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.year,
                       tm.mon, tm.mday, tm.hour, tm.min, tm.sec);
}


/*
 * Whether a directive's argument is the parameter name, given with its
 * '=' ("ttl="): then *v is what follows the '='.
 */

ngx_uint_t
ngx_http_yibao_conf_param(ngx_str_t *arg, const char *name, ngx_str_t *v)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len < len || ngx_strncmp(arg->data, name, len) != 0) {
        return 0;
    }

    v->data = arg->data + len;
    v->len = arg->len - len;

    return 1;
}


/* The message of a directive's parameter that is not understood. */

char *
ngx_http_yibao_conf_invalid(ngx_conf_t *cf, ngx_str_t *arg)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       arg);

    return NGX_CONF_ERROR;
}


ngx_http_yibao_ctx_t *
ngx_http_yibao_get_ctx(ngx_http_request_t *r)
{
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_yibao_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->gwerr = 0;
     *     ctx->detail = NULL;
     *     ctx->caller = { 0, NULL };
     *     ...
     *     ctx->resp = NULL;
     *     ctx->started = 0;
     */

    ngx_http_set_ctx(r, ctx, ngx_http_yibao_module);

    return ctx;
}


/*
 * Records why the request is refused; the header filter renders it in
 * the national envelope.  The text names what is wrong and where and
 * never carries a secret or personal data.
 */

void
ngx_http_yibao_reject(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_uint_t gwerr, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    ctx->gwerr = gwerr;

    p = ngx_pnalloc(r->pool, YIBAO_ERR_MSG_LEN);
    if (p == NULL) {
        ctx->detail = NULL;
        return;
    }

    va_start(args, fmt);
    *ngx_vslprintf(p, p + YIBAO_ERR_MSG_LEN - 1, fmt, args) = '\0';
    va_end(args);

    ctx->detail = (char *) p;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: rejected YB%04ui: %s", gwerr, p);
}


ngx_int_t
ngx_http_yibao_copy_str(ngx_pool_t *pool, ngx_str_t *dst, yibao_str_t *src)
{
    dst->data = ngx_pnalloc(pool, src->len ? src->len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->data, src->len);
    dst->len = src->len;

    return NGX_OK;
}


/*
 * Copies the ids found into the request's pool (the document they point
 * into is released before the request ends); psn_no masked.  The raw
 * psn_no and psn_name are kept apart, only to mask them where a message
 * quotes them (ngx_http_yibao_mask_personal()).
 */

ngx_int_t
ngx_http_yibao_keep_fields(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_fields_t *f)
{
    if (ctx->mdtrt_id.len == 0 && f->mdtrt_id.len
        && ngx_http_yibao_copy_str(r->pool, &ctx->mdtrt_id, &f->mdtrt_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->setl_id.len == 0 && f->setl_id.len
        && ngx_http_yibao_copy_str(r->pool, &ctx->setl_id, &f->setl_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->psn_no.len == 0 && f->psn_no.len) {
        ctx->psn_no.data = ngx_pnalloc(r->pool, f->psn_no.len);
        if (ctx->psn_no.data == NULL) {
            return NGX_ERROR;
        }

        yibao_mask_psn_no(f->psn_no.data, f->psn_no.len, ctx->psn_no.data);
        ctx->psn_no.len = f->psn_no.len;
    }

    if (ngx_http_yibao_keep_personal(r, &ctx->personal[0], &f->psn_no)
           != NGX_OK
        || ngx_http_yibao_keep_personal(r, &ctx->personal[1], &f->psn_name)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_keep_personal(ngx_http_request_t *r, yibao_str_t *dst,
    yibao_str_t *src)
{
    ngx_str_t  copy;

    if (dst->len || src->len == 0) {
        return NGX_OK;
    }

    if (ngx_http_yibao_copy_str(r->pool, &copy, src) != NGX_OK) {
        return NGX_ERROR;
    }

    dst->data = copy.data;
    dst->len = copy.len;

    return NGX_OK;
}


/*
 * A text that may quote the platform or the request (a platform's
 * message): ID numbers, and the transaction's psn_no and name, masked in
 * place.
 */

void
ngx_http_yibao_mask_personal(ngx_http_yibao_ctx_t *ctx, u_char *text,
    size_t len)
{
    yibao_mask_digits(text, len, text);
    yibao_mask_values(text, len, ctx->personal, 2);
}


void
ngx_http_yibao_map_scope(const yibao_clinic_t *clinic,
    yibao_map_scope_t *scope)
{
    scope->org_code = clinic->org_code;
    scope->entity_code = clinic->entity_code;
    scope->admdvs = clinic->admdvs;
}


/* A small JSON answer of the gateway's own endpoints. */

ngx_int_t
ngx_http_yibao_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, data, len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
