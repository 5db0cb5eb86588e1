/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"
#include "yibao_resolve.h"
#include "yibao_signin.h"


/*
 * Sign-in on the callers' behalf (yibao_signin auto): an
 * envelope other than 9001 that comes without sign_no gets the sign_no
 * of its contracting entity, operator and day from the store (Redis, or
 * the zone), which the gateway fills with a 9001 of its own on first
 * need, one per key at a time in a worker: the requests that need the
 * same key meanwhile wait for that one's answer.  The answers of the
 * callers' own 9001 fill the store as well.  Kept until local midnight.
 */


typedef struct ngx_http_yibao_signin_flight_s  ngx_http_yibao_signin_flight_t;

typedef struct {
    ngx_queue_t                       queue;
    ngx_http_request_t               *r;
    ngx_http_yibao_ctx_t             *ctx;
    ngx_http_yibao_signin_flight_t   *flight;   /* NULL: answered */
} ngx_http_yibao_signin_waiter_t;


struct ngx_http_yibao_signin_flight_s {
    ngx_queue_t                       queue;     /* in the flights */
    ngx_queue_t                       waiters;
    ngx_pool_t                       *pool;
    ngx_str_t                         key;
    ngx_str_t                         uri;
    ngx_str_t                         body;
    yibao_sign_out_t                  sign;
    const yibao_key_t                *signer;   /* the key that signed */
    ngx_msec_t                        ttl;
};


static ngx_int_t ngx_http_yibao_signin_mac(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);
static ngx_int_t ngx_http_yibao_signin_ip(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);
static ngx_int_t ngx_http_yibao_signin_apply(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len);
static ngx_http_yibao_signin_flight_t *ngx_http_yibao_signin_flight(
    ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx, ngx_str_t *key);
static ngx_int_t ngx_http_yibao_signin_envelope(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    ngx_http_yibao_signin_flight_t *f);
static ngx_int_t ngx_http_yibao_signin_wait(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_signin_flight_t *f);
static void ngx_http_yibao_signin_got(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_signin_send(
    ngx_http_yibao_signin_flight_t *f);
static void ngx_http_yibao_signin_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans);
static void ngx_http_yibao_signin_done(ngx_http_yibao_signin_flight_t *f,
    ngx_str_t *sign_no, const char *error);
static void ngx_http_yibao_signin_cleanup(void *data);
static ngx_int_t ngx_http_yibao_signin_key(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *key, ngx_msec_t *ttl);


static ngx_queue_t  ngx_http_yibao_signin_flights;


/* yibao_signin auto|off [mac=00-16-3E-00-00-01] [ip=127.0.0.1]; */

static ngx_http_yibao_param_t  ngx_http_yibao_signin_params[] = {

    { ngx_string("mac"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0, NULL,
      ngx_http_yibao_signin_mac, 0 },

    { ngx_string("ip"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0, NULL,
      ngx_http_yibao_signin_ip, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_signin_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->signin_file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "auto") == 0) {
        gmcf->signin = 1;

    } else if (ngx_strcmp(value[1].data, "off") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid mode \"%V\": auto or off", &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->signin_file = cf->conf_file->file.name.data;
    gmcf->signin_line = cf->conf_file->line;
    ngx_str_set(&gmcf->signin_mac, "00-00-00-00-00-00");
    ngx_str_set(&gmcf->signin_ip, "127.0.0.1");

    return ngx_http_yibao_conf_params(cf, ngx_http_yibao_signin_params, 2,
                                      gmcf, 0);
}


/* mac=: six hexadecimal pairs with - or : between them */

static ngx_int_t
ngx_http_yibao_signin_mac(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    u_char      c;
    ngx_uint_t  n;

    if (value->len != 17) {
        return NGX_DECLINED;
    }

    for (n = 0; n < 17; n++) {
        c = value->data[n];

        if (n % 3 == 2 ? (c != '-' && c != ':')
                       : !((c >= '0' && c <= '9')
                           || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')))
        {
            return NGX_DECLINED;
        }
    }

    gmcf->signin_mac = *value;

    return NGX_OK;
}


/* ip=: an IPv4 or IPv6 address */

static ngx_int_t
ngx_http_yibao_signin_ip(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_addr_t  addr;

    if (ngx_parse_addr(cf->pool, &addr, value->data, value->len) != NGX_OK) {
        return NGX_DECLINED;
    }

    gmcf->signin_ip = *value;

    return NGX_OK;
}


char *
ngx_http_yibao_signin_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf)
{
    if (!gmcf->signin) {
        return NGX_CONF_OK;
    }

    if (gmcf->platform == NULL || gmcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yibao_signin auto\" needs yibao_platform (in the "
                      "location that proxies to the platform) and "
                      "yibao_zone in %s:%ui", gmcf->signin_file,
                      gmcf->signin_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Fills in sign_no when the envelope has none.  NGX_OK: go on; NGX_AGAIN:
 * resumed through ctx->resume; an HTTP status: refused.
 */

ngx_int_t
ngx_http_yibao_signin_fill(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_str_t                    key, value;
    ngx_msec_t                   ttl;
    ngx_queue_t                 *q;
    ngx_http_yibao_main_conf_t  *gmcf;
    ngx_http_yibao_signin_flight_t  *f;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!gmcf->signin || ctx->env.sign_no.len || ctx->opter.len == 0
        || (ctx->infno.len >= 4 && ngx_strncmp(ctx->infno.data, "9001", 4)
                                   == 0))
    {
        return NGX_OK;
    }

    if (ngx_http_yibao_signin_key(r, ctx, &key, &ttl) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_yibao_store_token_get(&key, r->pool, &value) == NGX_OK) {
        return ngx_http_yibao_signin_apply(r, ctx, value.data, value.len);
    }

    /* one 9001 per key at a time: wait for the one under way */

    if (ngx_http_yibao_signin_flights.next == NULL) {
        ngx_queue_init(&ngx_http_yibao_signin_flights);
    }

    for (q = ngx_queue_head(&ngx_http_yibao_signin_flights);
         q != ngx_queue_sentinel(&ngx_http_yibao_signin_flights);
         q = ngx_queue_next(q))
    {
        f = ngx_queue_data(q, ngx_http_yibao_signin_flight_t, queue);

        if (f->key.len == key.len
            && ngx_strncmp(f->key.data, key.data, key.len) == 0)
        {
            return ngx_http_yibao_signin_wait(r, ctx, f);
        }
    }

    f = ngx_http_yibao_signin_flight(r, ctx, &key);

    if (f == NULL) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_SIGNIN_FAILED,
                              "the gateway could not sign operator %V of "
                              "entity %V in (9001): the request was not "
                              "sent", &ctx->opter, &ctx->entity);
        return yibao_gwerr_find(YIBAO_GWERR_SIGNIN_FAILED)->http_status;
    }

    f->ttl = ttl;

    if (ngx_http_yibao_signin_wait(r, ctx, f) != NGX_AGAIN) {
        ngx_queue_remove(&f->queue);
        ngx_destroy_pool(f->pool);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_yibao_store_token_fetch(&f->key, f->pool,
                                         ngx_http_yibao_signin_got, f)
        == NGX_AGAIN)
    {
        return NGX_AGAIN;
    }

    if (ngx_http_yibao_signin_send(f) == NGX_OK) {
        return NGX_AGAIN;
    }

    /* nothing was sent: this request is the only one waiting */

    ngx_http_yibao_signin_cleanup(ngx_queue_data(ngx_queue_head(&f->waiters),
                                                 ngx_http_yibao_signin_waiter_t,
                                                 queue));
    ngx_queue_remove(&f->queue);
    ngx_destroy_pool(f->pool);

    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_SIGNIN_FAILED,
                          "the gateway could not sign operator %V of entity "
                          "%V in (9001): the platform could not be reached; "
                          "the request was not sent", &ctx->opter,
                          &ctx->entity);
    return yibao_gwerr_find(YIBAO_GWERR_SIGNIN_FAILED)->http_status;
}


static ngx_int_t
ngx_http_yibao_signin_key(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_str_t *key, ngx_msec_t *ttl)
{
    yibao_tm_t      tm;
    ngx_time_t     *tp;
    yibao_str_t     entity, opter, out;
    yibao_alloc_t   a;

    tp = ngx_timeofday();
    ngx_http_yibao_localtime((ngx_msec_t) tp->sec * 1000 + tp->msec, &tm);

    entity.data = ctx->entity.data;
    entity.len = ctx->entity.len;
    opter.data = ctx->opter.data;
    opter.len = ctx->opter.len;

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_signin_key(&entity, &opter, &tm, &a, &out) != YIBAO_OK) {
        return NGX_ERROR;
    }

    key->data = (u_char *) out.data;
    key->len = out.len;
    *ttl = (ngx_msec_t) yibao_signin_ttl_ms(&tm);

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_signin_apply(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    u_char *data, size_t len)
{
    yibao_str_t  s;

    s.data = data;
    s.len = len;

    if (yibao_envelope_set_sign_no(&ctx->env, &s) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yibao: sign_no of operator %V filled in for entity %V",
                   &ctx->opter, &ctx->entity);

    return NGX_OK;
}


/* A new 9001 for the key, built from this request's envelope. */

static ngx_http_yibao_signin_flight_t *
ngx_http_yibao_signin_flight(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_str_t *key)
{
    ngx_pool_t                      *pool;
    ngx_http_yibao_loc_conf_t       *glcf;
    ngx_http_yibao_main_conf_t      *gmcf;
    ngx_http_yibao_signin_flight_t  *f;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    glcf = gmcf->platform->loc;

    if (!glcf->enable) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yibao: the location of yibao_platform has no "
                      "\"yibao_gateway on\": no sign-in");
        return NULL;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_http_yibao_signin_flight_t));
    if (f == NULL) {
        goto failed;
    }

    f->pool = pool;
    ngx_queue_init(&f->waiters);

    f->key.data = ngx_pstrdup(pool, key);
    if (f->key.data == NULL) {
        goto failed;
    }

    f->key.len = key->len;

    if (ngx_http_yibao_signin_envelope(r, ctx, glcf, f) != NGX_OK) {
        goto failed;
    }

    ngx_queue_insert_tail(&ngx_http_yibao_signin_flights, &f->queue);

    return f;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


/*
 * The flight's 9001: the caller's envelope head, a msgid of the entity,
 * the sign-in input, signed for the platform's location.
 */

static ngx_int_t
ngx_http_yibao_signin_envelope(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    ngx_http_yibao_signin_flight_t *f)
{
    void                        *input;
    ngx_str_t                    msgid, infno;
    ngx_pool_t                  *pool;
    yibao_tm_t                   tm;
    ngx_time_t                  *tp;
    yibao_str_t                  head, m, yinfno, out, mac, ip, opter;
    yibao_err_t                  err;
    yibao_alloc_t                a;
    const yibao_clinic_t        *clinic;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    clinic = ctx->registry_clinic;
    pool = f->pool;

    ngx_str_set(&infno, "9001");

    if (ngx_http_yibao_msgid_issue(gmcf, clinic, pool, &msgid) != NGX_OK
        || ngx_http_yibao_route_path(glcf, &infno, pool, &f->uri) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    if (yibao_resolve_head(&ctx->env, &a, &head) != YIBAO_OK) {
        return NGX_ERROR;
    }

    opter.data = ctx->opter.data;
    opter.len = ctx->opter.len;
    mac.data = gmcf->signin_mac.data;
    mac.len = gmcf->signin_mac.len;
    ip.data = gmcf->signin_ip.data;
    ip.len = gmcf->signin_ip.len;

    input = yibao_signin_input(&opter, &mac, &ip);
    if (input == NULL) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();
    ngx_http_yibao_localtime((ngx_msec_t) tp->sec * 1000 + tp->msec, &tm);

    m.data = msgid.data;
    m.len = msgid.len;
    yinfno.data = infno.data;
    yinfno.len = infno.len;

    if (yibao_resolve_envelope(&head, &yinfno, &clinic->entity_code,
                               &clinic->entity_name, &m, &tm, input, &a,
                               &out, &err)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_yibao_sign_body(&glcf->sign, clinic, &infno, &out, pool,
                                 r->connection->log, &f->sign, &f->signer)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    f->body.data = (u_char *) out.data;
    f->body.len = out.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_signin_wait(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_signin_flight_t *f)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_yibao_signin_waiter_t  *w;

    w = ngx_palloc(r->pool, sizeof(ngx_http_yibao_signin_waiter_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (w == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->r = r;
    w->ctx = ctx;
    w->flight = f;
    ngx_queue_insert_tail(&f->waiters, &w->queue);

    /* a request that ends while it waits leaves the queue */

    cln->handler = ngx_http_yibao_signin_cleanup;
    cln->data = w;

    return NGX_AGAIN;
}


static void
ngx_http_yibao_signin_cleanup(void *data)
{
    ngx_http_yibao_signin_waiter_t *w = data;

    if (w->flight != NULL) {
        ngx_queue_remove(&w->queue);
        w->flight = NULL;
    }
}


static void
ngx_http_yibao_signin_got(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_signin_flight_t *f = data;

    if (res->status == NGX_HTTP_YIBAO_STORE_FOUND && res->value.len > 0) {
        ngx_http_yibao_signin_done(f, &res->value, NULL);
        return;
    }

    if (ngx_http_yibao_signin_send(f) != NGX_OK) {
        ngx_http_yibao_signin_done(f, NULL, "the platform could not be "
                                   "reached");
    }
}


static ngx_int_t
ngx_http_yibao_signin_send(ngx_http_yibao_signin_flight_t *f)
{
    ngx_str_t                    ct;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
    glcf = gmcf->platform->loc;
    ct = glcf->upstream_content_type;

    return ngx_http_yibao_platform_send(gmcf->platform, &f->uri, &ct,
                                        &f->sign, &f->body,
                                        ngx_http_yibao_signin_answer, f,
                                        ngx_cycle->log);
}


static void
ngx_http_yibao_signin_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans)
{
    ngx_http_yibao_signin_flight_t *f = data;

    char            reason[256];
    ngx_str_t       sign_no;
    yibao_str_t     s;
    yibao_alloc_t   a;

    if (ans->error != NULL) {
        ngx_http_yibao_signin_done(f, NULL, ans->error);
        return;
    }

    ngx_http_yibao_alloc_init(&a, f->pool);

    switch (yibao_signin_answer(ans->body.data, ans->body.len, &a, &s,
                                reason, sizeof(reason)))
    {
    case YIBAO_OK:
        break;

    case YIBAO_ERR_INVALID:
        ngx_http_yibao_signin_done(f, NULL, reason);
        return;

    default:
        ngx_http_yibao_signin_done(f, NULL, "out of memory");
        return;
    }

    sign_no.data = (u_char *) s.data;
    sign_no.len = s.len;

    ngx_http_yibao_store_token_put(&f->key, &sign_no, f->ttl, ngx_cycle->log);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "yibao: signed in by the gateway (9001): %V", &f->key);

    ngx_http_yibao_key_activated(f->signer, f->pool, ngx_cycle->log);

    ngx_http_yibao_signin_done(f, &sign_no, NULL);
}


/* Every waiter goes on, with the sign_no or refused. */

static void
ngx_http_yibao_signin_done(ngx_http_yibao_signin_flight_t *f,
    ngx_str_t *sign_no, const char *error)
{
    ngx_int_t                        rc;
    ngx_queue_t                     *q;
    ngx_http_yibao_ctx_t            *ctx;
    ngx_http_request_t              *r;
    ngx_http_yibao_signin_waiter_t  *w;

    ngx_queue_remove(&f->queue);

    if (error != NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "yibao: sign-in by the gateway (9001) for %V failed: "
                      "%s", &f->key, error);
    }

    while (!ngx_queue_empty(&f->waiters)) {
        q = ngx_queue_head(&f->waiters);
        w = ngx_queue_data(q, ngx_http_yibao_signin_waiter_t, queue);

        ngx_queue_remove(q);
        w->flight = NULL;

        r = w->r;
        ctx = w->ctx;

        if (sign_no != NULL) {
            rc = ngx_http_yibao_signin_apply(r, ctx, sign_no->data,
                                             sign_no->len);

        } else {
            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_SIGNIN_FAILED,
                                  "the gateway could not sign operator %V "
                                  "of entity %V in (9001): %s; the request "
                                  "was not sent", &ctx->opter, &ctx->entity,
                                  error);
            rc = yibao_gwerr_find(YIBAO_GWERR_SIGNIN_FAILED)->http_status;
        }

        ctx->resume(r, ctx, rc);
    }

    ngx_destroy_pool(f->pool);
}


/* A caller's own 9001 answered: its sign_no fills the store. */

void
ngx_http_yibao_signin_learn(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    u_char *answer, size_t len)
{
    char                         reason[64];
    ngx_str_t                    key, sign_no;
    ngx_msec_t                   ttl;
    yibao_str_t                  s;
    yibao_alloc_t                a;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!gmcf->signin || ctx->opter.len == 0 || ctx->infno.len < 4
        || ngx_strncmp(ctx->infno.data, "9001", 4) != 0)
    {
        return;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_signin_answer(answer, len, &a, &s, reason, sizeof(reason))
        != YIBAO_OK
        || ngx_http_yibao_signin_key(r, ctx, &key, &ttl) != NGX_OK)
    {
        return;
    }

    sign_no.data = (u_char *) s.data;
    sign_no.len = s.len;

    ngx_http_yibao_store_token_put(&key, &sign_no, ttl, r->connection->log);
}
