/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_redis.h"
#include "yibao_cache.h"


/*
 * The response cache of read-only transactions: looked up after
 * translation (the key is the national form of the input), in Redis or
 * in the zone; a fresh answer is served without asking the platform, a
 * stale one only while the platform fails.  One fetch at a time per key:
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
static void ngx_http_yibao_cache_reply(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_cache_found(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len, uint64_t now,
    ngx_uint_t locked);
static void ngx_http_yibao_cache_ignore(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_cache_purge_handler(ngx_http_request_t *r);
static void ngx_http_yibao_cache_purged(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_cache_purge_answer(ngx_http_request_t *r,
    ngx_int_t purged);


/* the fire-and-forget stores and purges need some non-NULL data */

static ngx_uint_t  ngx_http_yibao_cache_nobody;


/*
 * yibao_cache infno=LIST ttl=TIME [stale=TIME] [max_size=SIZE];
 */

char *
ngx_http_yibao_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    u_char                   num[8];
    ssize_t                  size;
    ngx_str_t               *value, v, infno;
    ngx_int_t                t;
    ngx_uint_t               i, n;
    yibao_err_t              err;
    yibao_alloc_t            a;
    yibao_clinic_t           any;
    ngx_http_yibao_cache_t  *cache;

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

    ngx_memzero(cache, sizeof(ngx_http_yibao_cache_t));
    cache->max_size = 1024 * 1024;

    ngx_str_null(&infno);
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_yibao_conf_param(&value[i], "infno=", &v) && v.len) {
            infno = v;

        } else if (ngx_http_yibao_conf_param(&value[i], "ttl=", &v) && v.len) {
            t = ngx_parse_time(&v, 0);
            if (t == NGX_ERROR || t == 0) {
                goto invalid;
            }

            cache->ttl = t;

        } else if (ngx_http_yibao_conf_param(&value[i], "stale=", &v)
                   && v.len)
        {
            t = ngx_parse_time(&v, 0);
            if (t == NGX_ERROR) {
                goto invalid;
            }

            cache->stale = t;

        } else if (ngx_http_yibao_conf_param(&value[i], "max_size=", &v)
                   && v.len)
        {
            size = ngx_parse_size(&v);
            if (size == NGX_ERROR || size == 0) {
                goto invalid;
            }

            cache->max_size = size;

        } else {
            goto invalid;
        }
    }

    if (infno.len == 0 || cache->ttl == 0) {
        return "needs infno= and ttl=";
    }

    /* the class, in the callers file's syntax and by its parser */

    v.len = sizeof("cache\t0123456789abcdef\t*\t\n") - 1 + infno.len;
    v.data = ngx_pnalloc(cf->temp_pool, v.len);
    if (v.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(v.data, "cache\t0123456789abcdef\t*\t%V\n", &infno);

    ngx_http_yibao_alloc_init(&a, cf->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    cache->infnos = yibao_callers_parse(v.data, v.len, &a, &err);
    if (cache->infnos == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid infno class \"%V\": %s", &infno,
                           err.msg);
        return NGX_CONF_ERROR;
    }

    cache->class = yibao_callers_find(cache->infnos, (u_char *) "cache", 5);

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

invalid:

    return ngx_http_yibao_conf_invalid(cf, &value[i]);
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
    uint64_t                     now;
    ngx_str_t                    argv[6], value;
    ngx_time_t                  *tp;
    yibao_str_t                  key, entity;
    yibao_alloc_t                a;
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

    if (gmcf->redis == NULL) {
        tp = ngx_timeofday();
        now = (uint64_t) tp->sec * 1000 + tp->msec;

        if (ngx_http_yibao_shm_cache_get(gmcf->shm_zone, &ctx->cache_key,
                                         r->pool, &value)
            != NGX_OK)
        {
            return NGX_OK;
        }

        return ngx_http_yibao_cache_found(r, ctx, value.data, value.len, now,
                                          1);
    }

    if (!ngx_http_yibao_redis_up()) {
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_BYPASS;
        return NGX_OK;
    }

    cr = ngx_palloc(r->pool, sizeof(ngx_http_yibao_cache_req_t));

    if (cr == NULL || ngx_http_yibao_store_watch(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cr->r = r;
    cr->ctx = ctx;

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_cache_lookup_script;
    argv[1].len = ngx_strlen(yibao_cache_lookup_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = ctx->cache_key;

    argv[4].len = ctx->cache_key.len + 5;
    argv[4].data = ngx_pnalloc(r->pool, argv[4].len);
    if (argv[4].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(argv[4].data, "%V:lock", &ctx->cache_key);
    ngx_str_set(&argv[5], "10000");

    ctx->op = ngx_http_yibao_redis_run(6, argv, 2, 0,
                                       ngx_http_yibao_cache_reply, cr,
                                       r->connection->log);
    if (ctx->op == NULL) {
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_BYPASS;
        return NGX_OK;
    }


    ctx->store_start = ngx_current_msec;

    return NGX_AGAIN;
}


/* {value|nil, locked, now_ms} */

static void
ngx_http_yibao_cache_reply(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_yibao_cache_req_t *cr = data;

    u_char                *p;
    ngx_int_t              rc;
    redisReply           **e;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = cr->ctx;
    ctx->op = NULL;
    ctx->store_time += ngx_current_msec - ctx->store_start;

    if (status != NGX_HTTP_YIBAO_REDIS_OK || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3)
    {
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_BYPASS;
        ctx->resume(cr->r, ctx, NGX_OK);
        return;
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_STRING) {
        ctx->resume(cr->r, ctx, NGX_OK);
        return;
    }

    /* the reply is freed after this call: keep a copy */

    p = ngx_pnalloc(cr->r->pool, e[0]->len);
    if (p == NULL) {
        ctx->resume(cr->r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(p, e[0]->str, e[0]->len);

    rc = ngx_http_yibao_cache_found(cr->r, ctx, p, e[0]->len,
                                    (uint64_t) e[2]->integer,
                                    e[1]->integer ? 1 : 0);

    ctx->resume(cr->r, ctx, rc);
}


static ngx_int_t
ngx_http_yibao_cache_found(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    u_char *data, size_t len, uint64_t now, ngx_uint_t locked)
{
    int             has_fields;
    uint64_t        fresh_until;
    yibao_str_t     answer;
    yibao_fields_t  fields;

    if (yibao_cache_unframe_fields(data, len, &fresh_until, &fields,
                                   &has_fields, &answer)
        != YIBAO_OK)
    {
        return NGX_OK;
    }

    ctx->cache_fields = fields;
    ctx->cache_has_fields = has_fields ? 1 : 0;

    if (now < fresh_until) {
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_HIT;
        ctx->cache_serve = 1;
        ctx->cache_answer.data = (u_char *) answer.data;
        ctx->cache_answer.len = answer.len;
        return NGX_OK;
    }

    ctx->cache_stale.data = (u_char *) answer.data;
    ctx->cache_stale.len = answer.len;

    if (!locked) {
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
    u_char                      *p;
    size_t                       flen;
    uint64_t                     now;
    ngx_str_t                    argv[9], value;
    ngx_time_t                  *tp;
    ngx_http_yibao_main_conf_t  *gmcf;

    if (ctx->cache == NULL || ctx->cache_serve || len > ctx->cache->max_size)
    {
        return;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    /* the ids of the log go with it: a hit needs no parse for them */

    flen = yibao_cache_fields_size(fields);

    if (gmcf->redis == NULL) {
        tp = ngx_timeofday();
        now = (uint64_t) tp->sec * 1000 + tp->msec;

        value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN + flen + 1 + len);
        if (value.data == NULL) {
            return;
        }

        p = ngx_sprintf(value.data, "%uL", now + ctx->cache->ttl);
        p = yibao_cache_fields_write(p, fields);
        *p++ = '\n';
        p = ngx_cpymem(p, answer, len);
        value.len = p - value.data;

        ngx_http_yibao_shm_cache_put(gmcf->shm_zone, &ctx->cache_key,
                                     &value,
                                     now + ctx->cache->ttl
                                     + ctx->cache->stale);
        return;
    }

    p = ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN + ctx->cache_key.len + 5
                             + flen);
    if (p == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_cache_store_script;
    argv[1].len = ngx_strlen(yibao_cache_store_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = ctx->cache_key;

    argv[4].data = p;
    p = ngx_sprintf(p, "%V:lock", &ctx->cache_key);
    argv[4].len = p - argv[4].data;

    argv[5].data = answer;
    argv[5].len = len;

    argv[6].data = p;
    p = ngx_sprintf(p, "%M", ctx->cache->ttl);
    argv[6].len = p - argv[6].data;

    argv[7].data = p;
    p = ngx_sprintf(p, "%M", ctx->cache->stale);
    argv[7].len = p - argv[7].data;

    argv[8].data = p;
    p = yibao_cache_fields_write(p, fields);
    argv[8].len = p - argv[8].data;

    (void) ngx_http_yibao_redis_run(9, argv, 2, 0,
                                    ngx_http_yibao_cache_ignore,
                                    &ngx_http_yibao_cache_nobody,
                                    r->connection->log);
}


static void
ngx_http_yibao_cache_ignore(void *data, redisReply *reply, ngx_uint_t status)
{
    /* a store that failed only costs a later miss */
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
    ngx_str_t                    infno, entity, pattern, argv[4];
    ngx_http_yibao_main_conf_t  *gmcf;

    if (!(r->method & (NGX_HTTP_DELETE|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
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

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->redis == NULL) {
        return ngx_http_yibao_cache_purge_answer(r,
                   ngx_http_yibao_shm_cache_purge(gmcf->shm_zone, &pattern));
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_cache_purge_script;
    argv[1].len = ngx_strlen(yibao_cache_purge_script);
    ngx_str_set(&argv[2], "0");
    argv[3] = pattern;

    if (ngx_http_yibao_redis_run(4, argv, 0, 0, ngx_http_yibao_cache_purged,
                                 r, r->connection->log)
        == NULL)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_yibao_cache_purged(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_request_t *r = data;

    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    if (status != NGX_HTTP_YIBAO_REDIS_OK
        || reply->type != REDIS_REPLY_INTEGER)
    {
        rc = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else {
        rc = ngx_http_yibao_cache_purge_answer(r, (ngx_int_t) reply->integer);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_yibao_cache_purge_answer(ngx_http_request_t *r, ngx_int_t purged)
{
    u_char  buf[64];

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, buf,
                                    ngx_sprintf(buf, "{\"purged\":%i}",
                                                purged)
                                    - buf);
}
