/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_cache.h"


/*
 * The response cache of read-only transactions: looked up after
 * translation (the key is the national form of the input), in the store
 * (ngx_http_yibao_store.c: Redis, or the zone); a fresh answer is served
 * without asking the platform, a stale one only while the platform
 * fails.  One fetch at a time per key:
 * the first miss takes a lock; while it is fetching, others are served
 * the stale answer if there is one, or fetch too.
 */


#define NGX_HTTP_YIBAO_CACHE_LOCK_MS  10000


typedef struct {
    ngx_http_request_t        *r;
    ngx_http_yibao_ctx_t      *ctx;
} ngx_http_yibao_cache_req_t;


static ngx_http_yibao_cache_t *ngx_http_yibao_cache_policy(
    ngx_http_yibao_main_conf_t *gmcf, ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_cache_got(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_cache_found(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_cache_purge_handler(ngx_http_request_t *r);
static void ngx_http_yibao_cache_purged(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_cache_purge_answer(ngx_http_request_t *r,
    ngx_http_yibao_store_res_t *res);


/*
 * yibao_cache infno=LIST ttl=TIME [stale=TIME] [max_size=SIZE];
 */

typedef struct {
    ngx_http_yibao_cache_t     cache;
    ngx_str_t                  infno;
} ngx_http_yibao_cache_args_t;


static ngx_http_yibao_param_t  ngx_http_yibao_cache_params[] = {

    { ngx_string("infno"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_cache_args_t, infno),
      0, 0, NULL, NULL, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("ttl"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_cache_args_t, cache.ttl),
      1, 0, NULL, NULL, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("stale"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_cache_args_t, cache.stale),
      0, 0, NULL, NULL, 0 },

    { ngx_string("max_size"), NGX_HTTP_YIBAO_PARAM_SIZE,
      ngx_http_yibao_param_field(ngx_http_yibao_cache_args_t,
                                 cache.max_size),
      1, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    u_char                       num[8];
    char                        *rv;
    ngx_uint_t                   n;
    yibao_clinic_t               any;
    ngx_http_yibao_cache_t      *cache;
    ngx_http_yibao_cache_args_t  args;

    if (gmcf->caches == NULL) {
        gmcf->caches = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_yibao_cache_t));
        if (gmcf->caches == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    cache = ngx_array_push(gmcf->caches);
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&args, sizeof(ngx_http_yibao_cache_args_t));
    args.cache.max_size = 1024 * 1024;

    rv = ngx_http_yibao_conf_params(cf, ngx_http_yibao_cache_params, 1,
                                    &args, 0);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    *cache = args.cache;

    if (ngx_http_yibao_conf_infno_class(cf, "cache", &args.infno,
                                        &cache->infnos, &cache->class)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* nothing that creates state or moves money is ever cached */

    ngx_memzero(&any, sizeof(yibao_clinic_t));

    for (n = 0; n < 10000; n++) {
        ngx_sprintf(num, "%04ui", n);

        if (yibao_caller_allowed(cache->class, &any, num, 4, NULL)
            == YIBAO_OK
            && !yibao_infno_cacheable(num, 4))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "infno %*s is not a read-only query and is "
                               "never cached", (size_t) 4, num);
            return NGX_CONF_ERROR;
        }
    }

    if (cache->stale == 0) {
        cache->stale = cache->ttl;
    }

    return NGX_CONF_OK;
}


static ngx_http_yibao_cache_t *
ngx_http_yibao_cache_policy(ngx_http_yibao_main_conf_t *gmcf,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_uint_t               i;
    ngx_http_yibao_cache_t  *cache;

    if (gmcf->caches == NULL
        || !yibao_infno_cacheable(ctx->infno.data, ctx->infno.len))
    {
        return NULL;
    }

    cache = gmcf->caches->elts;

    for (i = 0; i < gmcf->caches->nelts; i++) {
        if (yibao_caller_allowed(cache[i].class, ctx->registry_clinic,
                                 ctx->infno.data, ctx->infno.len, NULL)
            == YIBAO_OK)
        {
            return &cache[i];
        }
    }

    return NULL;
}


/*
 * NGX_OK: go on to the platform (a miss, or no caching); NGX_AGAIN:
 * Redis answers through ctx->resume; with ctx->cache_serve
 * set the cached answer is to be served.
 */

ngx_int_t
ngx_http_yibao_cache_lookup(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t                    rc;
    yibao_str_t                  key, entity;
    yibao_alloc_t                a;
    ngx_http_yibao_store_res_t   res;
    ngx_http_yibao_cache_req_t  *cr;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ctx->cache = ngx_http_yibao_cache_policy(gmcf, ctx);
    if (ctx->cache == NULL) {
        return NGX_OK;
    }

    entity.data = ctx->entity.data;
    entity.len = ctx->entity.len;

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_cache_key(&ctx->env, &entity, &a, &key) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->cache_key.data = (u_char *) key.data;
    ctx->cache_key.len = key.len;
    ctx->cache_status = NGX_HTTP_YIBAO_CACHE_MISS;

    cr = ngx_palloc(r->pool, sizeof(ngx_http_yibao_cache_req_t));
    if (cr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cr->r = r;
    cr->ctx = ctx;

    rc = ngx_http_yibao_store_cache_get(r, ctx, &ctx->cache_key, &res,
                                        ngx_http_yibao_cache_got, cr);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        /* the shared store is down: the platform answers */
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_BYPASS;
        return NGX_OK;
    }

    return ngx_http_yibao_cache_found(r, ctx, &res);
}


static void
ngx_http_yibao_cache_got(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_cache_req_t *cr = data;

    cr->ctx->resume(cr->r, cr->ctx,
                    ngx_http_yibao_cache_found(cr->r, cr->ctx, res));
}


/* what the store answered: a fresh, a stale or an expired answer */

static ngx_int_t
ngx_http_yibao_cache_found(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_store_res_t *res)
{
    int             has_fields;
    uint64_t        fresh_until;
    yibao_str_t     answer;
    yibao_fields_t  fields;

    if (res->status == NGX_HTTP_YIBAO_STORE_FAILED) {
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_BYPASS;
        return NGX_OK;
    }

    if (res->status == NGX_HTTP_YIBAO_STORE_INVALID) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (res->status != NGX_HTTP_YIBAO_STORE_FOUND
        || yibao_cache_unframe_fields(res->value.data, res->value.len,
                                      &fresh_until, &fields, &has_fields,
                                      &answer)
           != YIBAO_OK)
    {
        return NGX_OK;
    }

    ctx->cache_fields = fields;
    ctx->cache_has_fields = has_fields ? 1 : 0;

    if (res->now < fresh_until) {
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_HIT;
        ctx->cache_serve = 1;
        ctx->cache_answer.data = (u_char *) answer.data;
        ctx->cache_answer.len = answer.len;
        return NGX_OK;
    }

    ctx->cache_stale.data = (u_char *) answer.data;
    ctx->cache_stale.len = answer.len;

    if (!res->locked) {
        /* another request is fetching it: serve the stale answer */
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_STALE;
        ctx->cache_serve = 1;
        ctx->cache_answer = ctx->cache_stale;
        return NGX_OK;
    }

    ctx->cache_status = NGX_HTTP_YIBAO_CACHE_EXPIRED;

    return NGX_OK;
}


/*
 * Serves ctx->cache_answer as if the platform had just answered it: it
 * goes through the same answer path (answer mapping, the caller's own
 * headers) in the filters.
 */

ngx_int_t
ngx_http_yibao_cache_send(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = ctx->replay_status ? ctx->replay_status
                                               : NGX_HTTP_OK;
    r->headers_out.content_length_n = ctx->cache_answer.len;
    ngx_str_set(&r->headers_out.content_type,
                "application/json;charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->cache_answer.data;
    b->last = b->pos + ctx->cache_answer.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Stores a successful answer of a cacheable transaction (infcode 0),
 * without waiting.
 */

void
ngx_http_yibao_cache_store(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    u_char *answer, size_t len, const yibao_fields_t *fields)
{
    if (ctx->cache == NULL || ctx->cache_serve || len > ctx->cache->max_size)
    {
        return;
    }

    /* the ids of the log go with it: a hit needs no parse for them */

    ngx_http_yibao_store_cache_put(r->pool, r->connection->log,
                                   &ctx->cache_key, answer, len, fields,
                                   ctx->cache->ttl, ctx->cache->stale);
}


/*
 * yibao_cache_purge: DELETE (or POST) /...?infno=1312&entity=H... drops
 * the cached answers of an infno, of an entity, or both.  Protect the
 * location with allow/deny.
 */

char *
ngx_http_yibao_cache_purge_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_yibao_cache_purge_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_yibao_cache_purge_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    infno, entity, pattern;
    ngx_http_yibao_store_res_t   res;

    rc = ngx_http_yibao_endpoint_start(r, NGX_HTTP_DELETE|NGX_HTTP_POST);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "infno", 5, &infno) != NGX_OK) {
        ngx_str_null(&infno);
    }

    if (ngx_http_arg(r, (u_char *) "entity", 6, &entity) != NGX_OK) {
        ngx_str_null(&entity);
    }

    if ((infno.len == 0 && entity.len == 0)
        || (infno.len && !yibao_code_is_infno(infno.data, infno.len))
        || (entity.len && !yibao_code_is_fixmedins(entity.data, entity.len)))
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    pattern.data = ngx_pnalloc(r->pool, 64);
    if (pattern.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(pattern.data, "yibao:{%V}:c:%V:*",
                    entity.len ? &entity : &ngx_http_yibao_star,
                    infno.len ? &infno : &ngx_http_yibao_star);
    pattern.len = p - pattern.data;

    rc = ngx_http_yibao_store_cache_purge(r, &pattern, &res,
                                          ngx_http_yibao_cache_purged, r);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc == NGX_OK) {
        return ngx_http_yibao_cache_purge_answer(r, &res);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_yibao_cache_purged(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_request_t *r = data;

    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_yibao_cache_purge_answer(r, res));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_yibao_cache_purge_answer(ngx_http_request_t *r,
    ngx_http_yibao_store_res_t *res)
{
    u_char  buf[64];

    if (res->status != NGX_HTTP_YIBAO_STORE_FOUND) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, buf,
                                    ngx_sprintf(buf, "{\"purged\":%i}",
                                                res->n)
                                    - buf);
}
