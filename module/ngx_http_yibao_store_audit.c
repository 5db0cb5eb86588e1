/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"


/*
 * The fee-line audit's context of a visit (ngx_http_yibao_audit.c):
 * n keys read together (Redis MGET, or the zone), values[i] empty for
 * a key that is not there.  A store that is down or fails gives empty
 * values: the audit runs without the visit's history.  NGX_OK when the
 * values are there, NGX_AGAIN while Redis answers (then ctx->resume).
 *
 * The MGET's reply is read here, not into ngx_http_yibao_store_res_t:
 * it is positional (one element a key, nil for a key not there), which
 * the common shape's list, of strings only, does not keep, and each
 * value goes straight to its key's place in the caller's values; a
 * failure is no error for the audit, which resumes all the same.
 */

typedef struct {
    ngx_http_request_t        *r;
    ngx_http_yibao_ctx_t      *ctx;
    ngx_str_t                 *values;
    ngx_uint_t                 n;
} ngx_http_yibao_store_audit_t;


static void ngx_http_yibao_store_audit_reply(void *data, redisReply *reply,
    ngx_uint_t status);


ngx_int_t
ngx_http_yibao_store_audit_get(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *keys, ngx_uint_t n,
    ngx_str_t *values)
{
    ngx_str_t                     *argv;
    ngx_uint_t                     i;
    ngx_http_yibao_main_conf_t    *gmcf;
    ngx_http_yibao_store_audit_t  *sa;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    for (i = 0; i < n; i++) {
        ngx_str_set(&values[i], "");
    }

    if (gmcf->redis == NULL) {
        for (i = 0; i < n; i++) {
            if (ngx_http_yibao_shm_cache_get(gmcf->shm_zone, &keys[i],
                                             r->pool, &values[i])
                != NGX_OK)
            {
                ngx_str_set(&values[i], "");
            }
        }

        return NGX_OK;
    }

    if (!ngx_http_yibao_redis_up()) {
        return NGX_OK;
    }

    argv = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_str_t));
    sa = ngx_palloc(r->pool, sizeof(ngx_http_yibao_store_audit_t));

    if (argv == NULL || sa == NULL
        || ngx_http_yibao_store_watch(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[0], "MGET");
    ngx_memcpy(&argv[1], keys, n * sizeof(ngx_str_t));

    sa->r = r;
    sa->ctx = ctx;
    sa->values = values;
    sa->n = n;

    ctx->op = ngx_http_yibao_redis_run(n + 1, argv, n, 0,
                                       ngx_http_yibao_store_audit_reply, sa,
                                       r->connection->log);
    if (ctx->op == NULL) {
        return NGX_OK;
    }

    ctx->store_start = ngx_current_msec;

    return NGX_AGAIN;
}


static void
ngx_http_yibao_store_audit_reply(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_yibao_store_audit_t *sa = data;

    ngx_uint_t             i;
    redisReply            *e;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = sa->ctx;
    ctx->op = NULL;
    ctx->store_time += ngx_current_msec - ctx->store_start;

    if (status == NGX_HTTP_YIBAO_REDIS_OK && reply->type == REDIS_REPLY_ARRAY
        && reply->elements == sa->n)
    {
        for (i = 0; i < sa->n; i++) {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING || e->len == 0) {
                continue;
            }

            /* the reply is freed after this call: keep a copy */

            sa->values[i].data = ngx_pnalloc(sa->r->pool, e->len);
            if (sa->values[i].data == NULL) {
                ctx->resume(sa->r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_memcpy(sa->values[i].data, e->str, e->len);
            sa->values[i].len = e->len;
        }
    }

    ctx->resume(sa->r, ctx, NGX_OK);
}


/* Keeps key = value for yibao_audit_window, without waiting. */

void
ngx_http_yibao_store_audit_put(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    u_char                      *p;
    ngx_str_t                    argv[5];
    ngx_time_t                  *tp;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->redis == NULL) {
        tp = ngx_timeofday();

        ngx_http_yibao_shm_cache_put(gmcf->shm_zone, key, value,
                                     (uint64_t) tp->sec * 1000 + tp->msec
                                     + gmcf->audit_window);
        return;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "SET");
    argv[1] = *key;
    argv[2] = *value;
    ngx_str_set(&argv[3], "PX");
    argv[4].data = p;
    argv[4].len = ngx_sprintf(p, "%M", gmcf->audit_window) - p;

    ngx_http_yibao_store_write(5, argv, 1, r->connection->log);
}
