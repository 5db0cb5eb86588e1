/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"
#include "yibao_cache.h"


/*
 * The door to the stores: the only place, with its other files
 * (ngx_http_yibao_store_journal.c, the journal's records; _keys.c,
 * _audit.c, _offline.c and _coverage.c, the features' stores), that
 * knows of Redis (ngx_http_yibao_redis.c) and of the zone as a store
 * (ngx_http_yibao_shm.c).  The other parts ask for what they need
 * (a cached answer, a sign-in token, a journal record) and get the
 * answer of either store in one shape, ngx_http_yibao_store_res_t.
 *
 * The store round trip of a request (docs/architecture.md, step 5): the
 * caller's nonce and every rate limit that applies, decided together in
 * one Redis script call, or in the shared-memory zone when there is no
 * Redis.  While Redis is down each limit follows its on_error policy
 * (this node's share locally, open, or closed) and nonces are kept
 * locally.
 */


/* one operation of a part on Redis, read into the common shape */

typedef struct {
    ngx_http_yibao_ctx_t          *ctx;     /* NULL: no request waits */
    ngx_pool_t                    *pool;    /* the copies of the answer */
    ngx_uint_t                     read;
    ngx_http_yibao_store_done_pt   done;
    void                          *data;
    ngx_http_yibao_store_res_t     res;
} ngx_http_yibao_store_op_t;


/* an operation with a pool of its own (ngx_http_yibao_store_run_own) */

typedef struct {
    ngx_pool_t                    *pool;
    ngx_http_yibao_store_done_pt   done;
    void                          *data;
} ngx_http_yibao_store_own_t;


#define NGX_HTTP_YIBAO_LIMIT_MAX  8


typedef struct {
    ngx_http_request_t          *r;
    ngx_http_yibao_ctx_t        *ctx;
    ngx_uint_t                   n;
    ngx_http_yibao_limit_t      *limits[NGX_HTTP_YIBAO_LIMIT_MAX];
} ngx_http_yibao_store_req_t;


static ngx_int_t ngx_http_yibao_store_limit_keys(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_req_t *sr,
    ngx_str_t *keys);
static ngx_int_t ngx_http_yibao_store_script_args(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_req_t *sr,
    ngx_str_t *keys, ngx_str_t *args, ngx_uint_t *nargs);
static ngx_int_t ngx_http_yibao_store_local(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_req_t *sr);
static ngx_int_t ngx_http_yibao_store_nonce_local(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_store_reply(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_store_decide(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_req_t *sr,
    yibao_limit_decision_t *d, ngx_uint_t local);
static void ngx_http_yibao_store_cleanup(void *data);
static ngx_int_t ngx_http_yibao_store_hold(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_main_conf_t *gmcf);
static void ngx_http_yibao_store_held(ngx_event_t *ev);
static void ngx_http_yibao_store_unhold(void *data);
static ngx_int_t ngx_http_yibao_store_copy(ngx_pool_t *pool, ngx_str_t *dst,
    const char *src);
static void ngx_http_yibao_store_answer(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_yibao_store_read(ngx_http_yibao_store_op_t *op,
    redisReply *reply);
static void ngx_http_yibao_store_read_list(ngx_http_yibao_store_op_t *op,
    redisReply *reply);
static void ngx_http_yibao_store_read_scan(ngx_http_yibao_store_op_t *op,
    redisReply *reply);
static void ngx_http_yibao_store_own_done(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_limit_name(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);
static ngx_int_t ngx_http_yibao_limit_rate(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);


static ngx_uint_t  ngx_http_yibao_store_nobody;


char *
ngx_http_yibao_store_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    if (gmcf->redis != NULL) {
        return "is duplicate";
    }

    gmcf->redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_redis_conf_t));
    if (gmcf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_yibao_redis_parse(cf, gmcf->redis);
}



/*
 * yibao_limit name=N by=caller|clinic|entity|all rate=600r/m
 *     [burst=B] [infno=LIST] [on_error=local|open|closed] [nodes=K];
 * infno takes the callers file's syntax: 1101,2201-2208.
 */

typedef struct {
    yibao_limit_policy_t       policy;
    ngx_str_t                  infno;
} ngx_http_yibao_limit_args_t;


static ngx_conf_enum_t  ngx_http_yibao_limit_by[] = {
    { ngx_string("caller"), YIBAO_LIMIT_BY_CALLER },
    { ngx_string("clinic"), YIBAO_LIMIT_BY_CLINIC },
    { ngx_string("entity"), YIBAO_LIMIT_BY_ENTITY },
    { ngx_string("all"), YIBAO_LIMIT_BY_ALL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_yibao_limit_on_error[] = {
    { ngx_string("local"), YIBAO_LIMIT_FAIL_LOCAL },
    { ngx_string("open"), YIBAO_LIMIT_FAIL_OPEN },
    { ngx_string("closed"), YIBAO_LIMIT_FAIL_CLOSED },
    { ngx_null_string, 0 }
};


static ngx_http_yibao_param_t  ngx_http_yibao_limit_params[] = {

    { ngx_string("name"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0, NULL,
      ngx_http_yibao_limit_name, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("by"), NGX_HTTP_YIBAO_PARAM_ENUM,
      ngx_http_yibao_param_field(ngx_http_yibao_limit_args_t, policy.by),
      0, 0, ngx_http_yibao_limit_by, NULL, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("rate"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0, NULL,
      ngx_http_yibao_limit_rate, NGX_HTTP_YIBAO_PARAM_REQUIRED },

    { ngx_string("burst"), NGX_HTTP_YIBAO_PARAM_NUM,
      ngx_http_yibao_param_field(ngx_http_yibao_limit_args_t, policy.burst),
      0, 1000000, NULL, NULL, 0 },

    { ngx_string("nodes"), NGX_HTTP_YIBAO_PARAM_NUM,
      ngx_http_yibao_param_field(ngx_http_yibao_limit_args_t, policy.nodes),
      1, 1000, NULL, NULL, 0 },

    { ngx_string("on_error"), NGX_HTTP_YIBAO_PARAM_ENUM,
      ngx_http_yibao_param_field(ngx_http_yibao_limit_args_t,
                                 policy.on_error),
      0, 0, ngx_http_yibao_limit_on_error, NULL, 0 },

    { ngx_string("infno"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_limit_args_t, infno),
      0, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    char                         *rv;
    ngx_uint_t                    n;
    yibao_limit_policy_t         *policy;
    ngx_http_yibao_limit_t       *limit, *l;
    ngx_http_yibao_limit_args_t   args;

    if (gmcf->limits == NULL) {
        gmcf->limits = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_yibao_limit_t));
        if (gmcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (gmcf->limits->nelts == NGX_HTTP_YIBAO_LIMIT_MAX) {
        return "is repeated more than 8 times";
    }

    limit = ngx_array_push(gmcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(limit, sizeof(ngx_http_yibao_limit_t));
    ngx_memzero(&args, sizeof(ngx_http_yibao_limit_args_t));

    args.policy.nodes = 1;
    args.policy.on_error = YIBAO_LIMIT_FAIL_LOCAL;

    rv = ngx_http_yibao_conf_params(cf, ngx_http_yibao_limit_params, 1,
                                    &args, 0);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    policy = &limit->policy;
    *policy = args.policy;

    l = gmcf->limits->elts;

    for (n = 0; n < gmcf->limits->nelts - 1; n++) {
        if (l[n].policy.name.len == policy->name.len
            && ngx_strncmp(l[n].policy.name.data, policy->name.data,
                           policy->name.len) == 0)
        {
            return "repeats a name";
        }
    }

    limit->local = *policy;
    yibao_limit_policy_init(policy, 0);
    yibao_limit_policy_init(&limit->local, 1);

    if (args.infno.len
        && ngx_http_yibao_conf_infno_class(cf, "limit", &args.infno,
                                           &limit->infnos, &limit->class)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* name=: a-z, 0-9, '-' and '_' (it is part of the store's keys) */

static ngx_int_t
ngx_http_yibao_limit_name(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_limit_args_t *args = conf;

    u_char      c;
    ngx_uint_t  i;

    for (i = 0; i < value->len; i++) {
        c = value->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
        {
            return NGX_DECLINED;
        }
    }

    args->policy.name.data = value->data;
    args->policy.name.len = value->len;

    return NGX_OK;
}


/* rate=: requests per second, minute, hour or day ("600r/m") */

static ngx_int_t
ngx_http_yibao_limit_rate(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_limit_args_t *args = conf;

    if (yibao_limit_parse_rate(value->data, value->len, &args->policy.rate,
                               &args->policy.period_s)
        != YIBAO_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_yibao_store_init_process(ngx_cycle_t *cycle)
{
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->redis == NULL) {
        return NGX_OK;
    }

    /* with the journal, the connection checks what the store remembers */

    gmcf->redis->journal_ttl = gmcf->journal_ttl;

    return ngx_http_yibao_redis_init_process(cycle, gmcf->redis);
}


void
ngx_http_yibao_store_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_yibao_redis_exit_process(cycle);
}


/*
 * NGX_OK: decided, go on; NGX_AGAIN: waiting for Redis, which resumes
 * the request through ctx->resume; otherwise an HTTP status
 * (the rejection is recorded in ctx).
 */

ngx_int_t
ngx_http_yibao_store_check(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_str_t                   *keys, *args;
    ngx_uint_t                   nargs;
    ngx_http_yibao_main_conf_t  *gmcf;
    ngx_http_yibao_store_req_t  *sr;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    sr = ngx_pcalloc(r->pool, sizeof(ngx_http_yibao_store_req_t));
    keys = ngx_palloc(r->pool, (NGX_HTTP_YIBAO_LIMIT_MAX + 1)
                               * sizeof(ngx_str_t));
    args = ngx_palloc(r->pool, (2 * NGX_HTTP_YIBAO_LIMIT_MAX + 2)
                               * sizeof(ngx_str_t));

    if (sr == NULL || keys == NULL || args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sr->r = r;
    sr->ctx = ctx;

    if (ngx_http_yibao_store_limit_keys(r, ctx, sr, keys) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (gmcf->redis != NULL && ngx_http_yibao_redis_first()
        && !ctx->store_held)
    {
        return ngx_http_yibao_store_hold(r, ctx, gmcf);
    }

    if (gmcf->redis == NULL || !ngx_http_yibao_redis_up()) {
        ctx->store = (gmcf->redis == NULL) ? NGX_HTTP_YIBAO_STORE_LOCAL
                                           : NGX_HTTP_YIBAO_STORE_DOWN;
        return ngx_http_yibao_store_local(r, ctx, sr);
    }

    /* one script call: the limits and the nonce */

    if (ngx_http_yibao_store_script_args(r, ctx, sr, keys, args, &nargs)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_yibao_store_watch(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op = ngx_http_yibao_redis_eval(sr->n + (ctx->nonce.len ? 1 : 0),
                                        keys, nargs, args,
                                        ngx_http_yibao_store_reply, sr,
                                        r->connection->log);

    if (ctx->op == NULL) {
        ctx->store = NGX_HTTP_YIBAO_STORE_DOWN;
        return ngx_http_yibao_store_local(r, ctx, sr);
    }

    ctx->store = NGX_HTTP_YIBAO_STORE_REDIS;
    ctx->store_start = ngx_current_msec;


    return NGX_AGAIN;
}


/*
 * The keys of the limits that apply to the request (a limit with a
 * class applies to the calls of its class only), in keys and sr.
 */

static ngx_int_t
ngx_http_yibao_store_limit_keys(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_req_t *sr,
    ngx_str_t *keys)
{
    ngx_uint_t                   i, n;
    yibao_str_t                 *key, caller, clinic, entity;
    yibao_alloc_t                a;
    ngx_http_yibao_limit_t      *limits;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    caller.data = ctx->caller.data;
    caller.len = ctx->caller.len;
    clinic.data = ctx->clinic.data;
    clinic.len = ctx->clinic.len;
    entity.data = ctx->entity.data;
    entity.len = ctx->entity.len;

    ngx_http_yibao_alloc_init(&a, r->pool);

    n = gmcf->limits ? gmcf->limits->nelts : 0;
    limits = gmcf->limits ? gmcf->limits->elts : NULL;

    for (i = 0; i < n; i++) {

        if (limits[i].class != NULL
            && yibao_caller_allowed(limits[i].class, ctx->registry_clinic,
                                    ctx->infno.data, ctx->infno.len, NULL)
               != YIBAO_OK)
        {
            continue;
        }

        key = yibao_limit_key(&limits[i].policy, &caller, &clinic, &entity,
                              &a);
        if (key == NULL) {
            return NGX_ERROR;
        }

        keys[sr->n].data = (u_char *) key->data;
        keys[sr->n].len = key->len;
        sr->limits[sr->n++] = &limits[i];
    }

    return NGX_OK;
}


/*
 * The arguments of the script of the limits and the nonce: the count
 * of limits, each limit's interval and burst, the nonce's time to live
 * in ms (0: no nonce); the nonce's key follows the limits' in keys.
 */

static ngx_int_t
ngx_http_yibao_store_script_args(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_req_t *sr,
    ngx_str_t *keys, ngx_str_t *args, ngx_uint_t *nargs)
{
    u_char                     *p;
    ngx_uint_t                  i;
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    *nargs = 0;

    p = ngx_pnalloc(r->pool, (2 * sr->n + 3) * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args[*nargs].data = p;
    p = ngx_sprintf(p, "%ui", sr->n);
    args[*nargs].len = p - args[*nargs].data;
    (*nargs)++;

    for (i = 0; i < sr->n; i++) {
        args[*nargs].data = p;
        p = ngx_sprintf(p, "%uL", sr->limits[i]->policy.interval_ms);
        args[*nargs].len = p - args[*nargs].data;
        (*nargs)++;

        args[*nargs].data = p;
        p = ngx_sprintf(p, "%uL", sr->limits[i]->policy.burst);
        args[*nargs].len = p - args[*nargs].data;
        (*nargs)++;
    }

    args[*nargs].data = p;

    if (ctx->nonce.len) {
        /* remembered until the timestamp leaves the window, plus 1 s */
        p = ngx_sprintf(p, "%T", (ctx->auth_ts + glcf->auth_window
                                  - ngx_time() + 1) * 1000);

        keys[sr->n].len = sizeof("yibao:{}:nonce::") - 1 + ctx->entity.len
                          + ctx->caller.len + ctx->nonce.len;
        keys[sr->n].data = ngx_pnalloc(r->pool, keys[sr->n].len);
        if (keys[sr->n].data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(keys[sr->n].data, "yibao:{%V}:nonce:%V:%V",
                    &ctx->entity, &ctx->caller, &ctx->nonce);

    } else {
        *p++ = '0';
    }

    args[*nargs].len = p - args[*nargs].data;
    (*nargs)++;

    return NGX_OK;
}


/*
 * A request that comes while this worker's first connection to Redis is
 * being made (after a start, a reload or a binary upgrade) waits for it,
 * on the event loop, at most connect_timeout: then it goes on with Redis
 * up, or as with Redis down.
 */

typedef struct {
    ngx_http_request_t             *r;
    ngx_http_yibao_ctx_t           *ctx;
    ngx_event_t                     ev;       /* posted, or the bound */
    ngx_http_yibao_redis_waiter_t   waiter;
} ngx_http_yibao_store_hold_t;


static ngx_int_t
ngx_http_yibao_store_hold(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_main_conf_t *gmcf)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_yibao_store_hold_t  *h;

    h = ngx_pcalloc(r->pool, sizeof(ngx_http_yibao_store_hold_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (h == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->r = r;
    h->ctx = ctx;
    h->ev.handler = ngx_http_yibao_store_held;
    h->ev.data = h;
    h->ev.log = r->connection->log;
    h->waiter.ev = &h->ev;

    cln->handler = ngx_http_yibao_store_unhold;
    cln->data = h;

    ngx_http_yibao_redis_wait(&h->waiter);
    ngx_add_timer(&h->ev, gmcf->redis->connect_timeout);

    ctx->store_held = 1;
    ctx->store_start = ngx_current_msec;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: the request waits for this worker's first "
                  "connection to redis");

    return NGX_AGAIN;
}


static void
ngx_http_yibao_store_held(ngx_event_t *ev)
{
    ngx_http_yibao_store_hold_t *h = ev->data;

    ngx_int_t              rc;
    ngx_http_request_t    *r;
    ngx_http_yibao_ctx_t  *ctx;

    r = h->r;
    ctx = h->ctx;

    ngx_http_yibao_store_unhold(h);

    ctx->store_time += ngx_current_msec - ctx->store_start;

    rc = ngx_http_yibao_store_check(r, ctx);

    if (rc != NGX_AGAIN) {
        ctx->resume(r, ctx, rc);
    }
}


static void
ngx_http_yibao_store_unhold(void *data)
{
    ngx_http_yibao_store_hold_t *h = data;

    ngx_http_yibao_redis_unwait(&h->waiter);

    if (h->ev.timer_set) {
        ngx_del_timer(&h->ev);
    }

    if (h->ev.posted) {
        ngx_delete_posted_event(&h->ev);
    }
}


/*
 * The request's pending store operation (ctx->op, one at a time) is
 * orphaned if the request goes away first: its answer is then dropped.
 */

ngx_int_t
ngx_http_yibao_store_watch(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    if (ctx->op_watched) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_yibao_store_cleanup;
    cln->data = ctx;
    ctx->op_watched = 1;

    return NGX_OK;
}


static void
ngx_http_yibao_store_cleanup(void *data)
{
    ngx_http_yibao_ctx_t  *ctx = data;

    if (ctx->op != NULL) {
        ngx_http_yibao_redis_orphan(ctx->op);
        ctx->op = NULL;
    }
}


/*
 * The Redis answer: [now_ms, nonce_fresh, (allowed, remaining,
 * retry_after_ms, reset_ms) per limit].  Runs in the Redis connection's
 * event; resumes the request.
 */

static void
ngx_http_yibao_store_reply(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_yibao_store_req_t *sr = data;

    ngx_int_t                rc;
    ngx_uint_t               i;
    redisReply             **e;
    ngx_http_request_t      *r;
    ngx_http_yibao_ctx_t    *ctx;
    yibao_limit_decision_t   d[NGX_HTTP_YIBAO_LIMIT_MAX];

    r = sr->r;
    ctx = sr->ctx;
    ctx->op = NULL;
    ctx->store_time += ngx_current_msec - ctx->store_start;

    if (status != NGX_HTTP_YIBAO_REDIS_OK
        || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2 + (reply->element[1]->integer ? 4 * sr->n
                                                              : 0))
    {
        ctx->store = NGX_HTTP_YIBAO_STORE_DOWN;
        rc = ngx_http_yibao_store_local(r, ctx, sr);
        ctx->resume(r, ctx, rc);
        return;
    }

    e = reply->element;

    if (e[1]->integer == 0) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_REPLAY,
                              "X-Yibao-Nonce was already used by caller "
                              "\"%V\" (a replay)", &ctx->caller);
        ctx->resume(r, ctx, NGX_HTTP_UNAUTHORIZED);
        return;
    }

    for (i = 0; i < sr->n; i++) {
        ngx_memzero(&d[i], sizeof(yibao_limit_decision_t));
        d[i].allowed = e[2 + 4 * i]->integer ? 1 : 0;
        d[i].remaining = (uint64_t) e[3 + 4 * i]->integer;
        d[i].retry_after_ms = (uint64_t) e[4 + 4 * i]->integer;
        d[i].reset_ms = (uint64_t) e[5 + 4 * i]->integer;
    }

    rc = ngx_http_yibao_store_decide(r, ctx, sr, d, 0);

    ctx->resume(r, ctx, rc);
}


/*
 * Without Redis: the nonce in the zone (unless the script took it) and
 * each limit by its policy, locally under one lock.
 */

static ngx_int_t
ngx_http_yibao_store_local(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_store_req_t *sr)
{
    ngx_int_t                    rc, at[NGX_HTTP_YIBAO_LIMIT_MAX];
    ngx_uint_t                   i, n, local;
    yibao_str_t                 *key, caller, clinic, entity;
    yibao_alloc_t                a;
    ngx_str_t                    keys[NGX_HTTP_YIBAO_LIMIT_MAX];
    yibao_limit_policy_t        *policies[NGX_HTTP_YIBAO_LIMIT_MAX];
    yibao_limit_decision_t       d[NGX_HTTP_YIBAO_LIMIT_MAX];
    yibao_limit_decision_t       dl[NGX_HTTP_YIBAO_LIMIT_MAX];
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    rc = ngx_http_yibao_store_nonce_local(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    /* with Redis down only "local" limits are counted, at the node share */

    local = (ctx->store == NGX_HTTP_YIBAO_STORE_DOWN);

    caller.data = ctx->caller.data;
    caller.len = ctx->caller.len;
    clinic.data = ctx->clinic.data;
    clinic.len = ctx->clinic.len;
    entity.data = ctx->entity.data;
    entity.len = ctx->entity.len;

    ngx_http_yibao_alloc_init(&a, r->pool);

    n = 0;

    for (i = 0; i < sr->n; i++) {

        if (local
            && sr->limits[i]->policy.on_error != YIBAO_LIMIT_FAIL_LOCAL)
        {
            ngx_memzero(&d[i], sizeof(yibao_limit_decision_t));
            d[i].allowed = 1;
            at[i] = -1;
            continue;
        }

        key = yibao_limit_key(&sr->limits[i]->policy, &caller, &clinic,
                              &entity, &a);
        if (key == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        keys[n].data = (u_char *) key->data;
        keys[n].len = key->len;
        policies[n] = local ? &sr->limits[i]->local
                            : &sr->limits[i]->policy;
        at[i] = n++;
    }

    if (n) {
        ngx_http_yibao_shm_limit(gmcf->shm_zone, n, keys, policies, dl);
    }

    for (i = 0; i < sr->n; i++) {
        if (at[i] >= 0) {
            d[i] = dl[at[i]];
        }
    }

    return ngx_http_yibao_store_decide(r, ctx, sr, d, local);
}


static ngx_int_t
ngx_http_yibao_store_nonce_local(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    if (ctx->nonce.len == 0) {
        return NGX_OK;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    rc = ngx_http_yibao_shm_nonce_record(gmcf->shm_zone, &ctx->caller,
                                         &ctx->nonce, ngx_time(),
                                         (time_t) ctx->auth_ts
                                         + glcf->auth_window);
    if (rc == NGX_DECLINED) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_REPLAY,
                              "X-Yibao-Nonce was already used by caller "
                              "\"%V\" (a replay)", &ctx->caller);
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yibao: zone \"yibao\" is full of unexpired nonces, "
                      "request refused: increase yibao_zone");
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_NONCE_STORE_FULL,
                              "the gateway's nonce store is full; retry "
                              "later");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_OK;
}


/*
 * From the decisions of the limits to the request's fate: the first
 * refusal (or, in a dry run, only a log line), a closed policy while
 * the store is down, and the RateLimit headers of the tightest limit.
 */

static ngx_int_t
ngx_http_yibao_store_decide(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_store_req_t *sr, yibao_limit_decision_t *d,
    ngx_uint_t local)
{
    char                         pol[128], lim[128];
    ngx_uint_t                   i, tight;
    yibao_limit_policy_t        *policy;
    ngx_http_yibao_loc_conf_t   *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    if (sr->n == 0) {
        return NGX_OK;
    }

    ctx->limit_status = local ? NGX_HTTP_YIBAO_LIMIT_LOCAL
                              : NGX_HTTP_YIBAO_LIMIT_PASSED;

    tight = 0;

    for (i = 0; i < sr->n; i++) {

        policy = &sr->limits[i]->policy;

        if (local && policy->on_error == YIBAO_LIMIT_FAIL_CLOSED) {
            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_STORE_DOWN,
                                  "rate limit \"%*s\" cannot be checked: "
                                  "the shared store is down; retry later",
                                  policy->name.len, policy->name.data);
            ctx->limit_status = NGX_HTTP_YIBAO_LIMIT_ERROR;
            ctx->retry_after = 1;
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        if (local && policy->on_error == YIBAO_LIMIT_FAIL_OPEN) {
            ctx->limit_status = NGX_HTTP_YIBAO_LIMIT_BYPASSED;
            continue;
        }

        if (!d[i].allowed) {
            tight = i;
            break;
        }

        if (d[i].remaining < d[tight].remaining) {
            tight = i;
        }
    }

    policy = &sr->limits[tight]->policy;

    if (yibao_limit_headers(policy, &d[tight], pol, sizeof(pol), lim,
                            sizeof(lim))
        == YIBAO_OK)
    {
        if (ngx_http_yibao_store_copy(r->pool, &ctx->ratelimit_policy, pol)
            != NGX_OK
            || ngx_http_yibao_store_copy(r->pool, &ctx->ratelimit, lim)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (i == sr->n) {
        return NGX_OK;
    }

    ctx->retry_after = (time_t) ((d[tight].retry_after_ms + 999) / 1000);

    if (glcf->limit_dry_run) {
        ctx->limit_status = NGX_HTTP_YIBAO_LIMIT_DRY_RUN;
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yibao: dry run: rate limit \"%*s\" would refuse "
                      "caller \"%V\" clinic %V", policy->name.len,
                      policy->name.data, &ctx->caller, &ctx->clinic);
        return NGX_OK;
    }

    ctx->limit_status = NGX_HTTP_YIBAO_LIMIT_REJECTED;

    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_RATE_LIMITED,
                          "rate limit \"%*s\" (%uL requests per %uL s, "
                          "burst %uL) reached for %s; retry after %T s",
                          policy->name.len, policy->name.data,
                          policy->rate, policy->period_s, policy->burst,
                          policy->by == YIBAO_LIMIT_BY_CALLER ? "this caller"
                          : policy->by == YIBAO_LIMIT_BY_CLINIC
                            ? "this clinic"
                          : policy->by == YIBAO_LIMIT_BY_ENTITY
                            ? "the contracting entity's platform key"
                          : "all requests",
                          ctx->retry_after);

    return NGX_HTTP_TOO_MANY_REQUESTS;
}


static ngx_int_t
ngx_http_yibao_store_copy(ngx_pool_t *pool, ngx_str_t *dst, const char *src)
{
    dst->len = ngx_strlen(src);

    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len);

    return NGX_OK;
}


/*
 * The platform's state of this node (yibao_outage), in the zone: one
 * event applied, the state after it in *out.
 */

ngx_uint_t
ngx_http_yibao_store_outage(ngx_http_yibao_main_conf_t *gmcf, ngx_uint_t ev,
    yibao_outage_t *out, ngx_uint_t *changed)
{
    return ngx_http_yibao_shm_outage(gmcf->shm_zone, &gmcf->outage, ev, out,
                                     changed);
}


/*
 * The entity's next msgid sequence number on this node, from the zone
 * (ngx_http_yibao_msgid_issue): NGX_OK, or NGX_BUSY when the second's
 * numbers are used up.
 */

ngx_int_t
ngx_http_yibao_store_msgid_next(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *entity, time_t now, uint64_t *sec, unsigned *seq)
{
    return ngx_http_yibao_shm_msgid_next(gmcf->shm_zone, entity,
                                         gmcf->msgid_node, gmcf->msgid_nodes,
                                         now, sec, seq);
}


ngx_http_yibao_main_conf_t *
ngx_http_yibao_store_conf(void)
{
    return ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
}


ngx_uint_t
ngx_http_yibao_store_state(void)
{
    if (ngx_http_yibao_store_conf()->redis == NULL) {
        return NGX_HTTP_YIBAO_STORE_LOCAL;
    }

    return ngx_http_yibao_redis_up() ? NGX_HTTP_YIBAO_STORE_REDIS
                                     : NGX_HTTP_YIBAO_STORE_DOWN;
}


/*
 * Until when (ms since the epoch) the shared store cannot vouch for
 * the journal's records, because it lost them, or 0; *at: when the loss
 * was found.
 */

uint64_t
ngx_http_yibao_store_forgotten(uint64_t *at)
{
    if (at != NULL) {
        *at = ngx_http_yibao_redis_forgotten_at();
    }

    return ngx_http_yibao_redis_forgotten();
}


/*
 * Sends a command to Redis for a part that waits for its answer:
 * NGX_AGAIN, and done(data, res) later; NGX_ERROR when Redis is down
 * (or no memory).  With ctx, the operation is the request's ctx->op.
 */

ngx_int_t
ngx_http_yibao_store_run(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_pool_t *pool, ngx_log_t *log, ngx_uint_t read, ngx_uint_t argc,
    ngx_str_t *argv, ngx_uint_t nkeys, ngx_http_yibao_store_done_pt done,
    void *data)
{
    ngx_http_yibao_redis_op_t  *rop;
    ngx_http_yibao_store_op_t  *op;

    op = ngx_pcalloc(pool, sizeof(ngx_http_yibao_store_op_t));
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->ctx = ctx;
    op->pool = pool;
    op->read = read;
    op->done = done;
    op->data = data;

    if (ctx != NULL && ngx_http_yibao_store_watch(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rop = ngx_http_yibao_redis_run(argc, argv, nkeys, 0,
                                   ngx_http_yibao_store_answer, op, log);
    if (rop == NULL) {
        return NGX_ERROR;
    }

    if (ctx != NULL) {
        ctx->op = rop;
        ctx->store_start = ngx_current_msec;
    }

    return NGX_AGAIN;
}


static void
ngx_http_yibao_store_answer(void *data, redisReply *reply, ngx_uint_t status)
{
    ngx_http_yibao_store_op_t *op = data;

    if (op->ctx != NULL) {
        op->ctx->op = NULL;
        op->ctx->store_time += ngx_current_msec - op->ctx->store_start;
    }

    if (status != NGX_HTTP_YIBAO_REDIS_OK) {
        op->res.status = NGX_HTTP_YIBAO_STORE_FAILED;

    } else {
        ngx_http_yibao_store_read(op, reply);
    }

    op->done(op->data, &op->res);
}


static void
ngx_http_yibao_store_read(ngx_http_yibao_store_op_t *op, redisReply *reply)
{
    redisReply                 **e;
    ngx_http_yibao_store_res_t  *res;

    res = &op->res;
    res->status = NGX_HTTP_YIBAO_STORE_INVALID;
    e = reply->element;

    switch (op->read) {

    case NGX_HTTP_YIBAO_STORE_READ_STRING:
        res->status = NGX_HTTP_YIBAO_STORE_NONE;

        if (reply->type == REDIS_REPLY_STRING) {
            res->status = (ngx_http_yibao_store_copy_reply(op->pool,
                                                           &res->value,
                                                           reply)
                           == NGX_OK)
                          ? NGX_HTTP_YIBAO_STORE_FOUND
                          : NGX_HTTP_YIBAO_STORE_INVALID;
        }

        return;

    case NGX_HTTP_YIBAO_STORE_READ_COUNT:
        if (reply->type == REDIS_REPLY_INTEGER) {
            res->status = NGX_HTTP_YIBAO_STORE_FOUND;
            res->n = (ngx_int_t) reply->integer;
        }

        return;

    case NGX_HTTP_YIBAO_STORE_READ_LIST:
        ngx_http_yibao_store_read_list(op, reply);
        return;

    case NGX_HTTP_YIBAO_STORE_READ_SCAN:
        ngx_http_yibao_store_read_scan(op, reply);
        return;

    case NGX_HTTP_YIBAO_STORE_READ_CACHE:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
            res->status = NGX_HTTP_YIBAO_STORE_FAILED;
            return;
        }

        res->status = NGX_HTTP_YIBAO_STORE_NONE;

        if (e[0]->type == REDIS_REPLY_STRING) {
            res->status = (ngx_http_yibao_store_copy_reply(op->pool,
                                                           &res->value, e[0])
                           == NGX_OK)
                          ? NGX_HTTP_YIBAO_STORE_FOUND
                          : NGX_HTTP_YIBAO_STORE_INVALID;
            res->locked = e[1]->integer ? 1 : 0;
            res->now = (uint64_t) e[2]->integer;
        }

        return;

    default: /* NGX_HTTP_YIBAO_STORE_READ_CLAIM */
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
            res->status = NGX_HTTP_YIBAO_STORE_FAILED;
            return;
        }

        if (e[0]->integer == 2) {
            res->status = NGX_HTTP_YIBAO_STORE_UNKNOWN;
            return;
        }

        if (e[0]->integer == 1) {
            res->status = NGX_HTTP_YIBAO_STORE_CLAIMED;
            return;
        }

        if (reply->elements == 2 && e[1]->type == REDIS_REPLY_STRING
            && ngx_http_yibao_store_copy_reply(op->pool, &res->value, e[1])
               == NGX_OK)
        {
            res->status = NGX_HTTP_YIBAO_STORE_EXISTS;
        }

        return;
    }
}


/* A list of strings (the other elements skipped): res->values. */

static void
ngx_http_yibao_store_read_list(ngx_http_yibao_store_op_t *op,
    redisReply *reply)
{
    size_t                       i;
    redisReply                 **e;
    ngx_http_yibao_store_res_t  *res;

    res = &op->res;
    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    res->values = ngx_palloc(op->pool,
                             (reply->elements + 1) * sizeof(ngx_str_t));
    if (res->values == NULL) {
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        if (e[i]->type == REDIS_REPLY_STRING) {
            if (ngx_http_yibao_store_copy_reply(op->pool,
                                                &res->values[res->nvalues],
                                                e[i])
                != NGX_OK)
            {
                return;
            }

            res->nvalues++;
        }
    }

    res->status = NGX_HTTP_YIBAO_STORE_FOUND;
}


/*
 * One step of a scan, {cursor, {strings}}: res->value the next cursor
 * ("0" at the end), res->values what the step found.
 */

static void
ngx_http_yibao_store_read_scan(ngx_http_yibao_store_op_t *op,
    redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || ngx_http_yibao_store_copy_reply(op->pool, &op->res.value,
                                           reply->element[0])
           != NGX_OK)
    {
        return;
    }

    ngx_http_yibao_store_read_list(op, reply->element[1]);
}


/* a string of a reply, which is freed after its handler: a copy */

ngx_int_t
ngx_http_yibao_store_copy_reply(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *reply)
{
    dst->data = ngx_pnalloc(pool, reply->len ? reply->len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, reply->str, reply->len);
    dst->len = reply->len;

    return NGX_OK;
}


/*
 * a write nobody waits for: a failure only costs a later miss (a cached
 * answer, a sign-in token, an audit's context), or is written again by
 * the next change or sync (the keys' store, whose zone holds it)
 */

void
ngx_http_yibao_store_ignore(void *data, redisReply *reply, ngx_uint_t status)
{
}


void
ngx_http_yibao_store_write(ngx_uint_t argc, ngx_str_t *argv,
    ngx_uint_t nkeys, ngx_log_t *log)
{
    (void) ngx_http_yibao_redis_run(argc, argv, nkeys, 0,
                                    ngx_http_yibao_store_ignore,
                                    &ngx_http_yibao_store_nobody, log);
}


/*
 * ngx_http_yibao_store_run for a part that no request waits for (a
 * timer's): the answer is copied into a pool of the operation's own,
 * destroyed after done.  NGX_AGAIN, or NGX_ERROR: nothing was asked.
 */

ngx_int_t
ngx_http_yibao_store_run_own(ngx_log_t *log, ngx_uint_t read,
    ngx_uint_t argc, ngx_str_t *argv, ngx_http_yibao_store_done_pt done,
    void *data)
{
    ngx_int_t                    rc;
    ngx_pool_t                  *pool;
    ngx_http_yibao_store_own_t  *own;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    own = ngx_palloc(pool, sizeof(ngx_http_yibao_store_own_t));
    if (own == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    own->pool = pool;
    own->done = done;
    own->data = data;

    rc = ngx_http_yibao_store_run(NULL, NULL, pool, log, read, argc, argv, 0,
                                  ngx_http_yibao_store_own_done, own);

    if (rc != NGX_AGAIN) {
        ngx_destroy_pool(pool);
    }

    return rc;
}


static void
ngx_http_yibao_store_own_done(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_store_own_t *own = data;

    own->done(own->data, res);

    ngx_destroy_pool(own->pool);
}


static uint64_t
ngx_http_yibao_store_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * A cached answer (yibao_cache_unframe_fields reads it): with Redis, its
 * lookup script also takes the refresh lock of an expired answer
 * (res->locked) and gives Redis's clock (res->now); in the zone the
 * request always refreshes it.
 */

ngx_int_t
ngx_http_yibao_store_cache_get(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *key,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data)
{
    ngx_str_t                    argv[6];
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(res, sizeof(ngx_http_yibao_store_res_t));

    if (gmcf->redis == NULL) {
        res->now = ngx_http_yibao_store_now();
        res->locked = 1;
        res->local = 1;
        res->status = (ngx_http_yibao_shm_cache_get(gmcf->shm_zone, key,
                                                    r->pool, &res->value)
                       == NGX_OK)
                      ? NGX_HTTP_YIBAO_STORE_FOUND
                      : NGX_HTTP_YIBAO_STORE_NONE;
        return NGX_OK;
    }

    if (!ngx_http_yibao_redis_up()) {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_cache_lookup_script;
    argv[1].len = ngx_strlen(yibao_cache_lookup_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = *key;

    argv[4].len = key->len + 5;
    argv[4].data = ngx_pnalloc(r->pool, argv[4].len);
    if (argv[4].data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(argv[4].data, "%V:lock", key);
    ngx_str_set(&argv[5], "10000");

    return ngx_http_yibao_store_run(r, ctx, r->pool, r->connection->log,
                                    NGX_HTTP_YIBAO_STORE_READ_CACHE, 6, argv,
                                    2, done, data);
}


/*
 * Stores an answer for ttl, and as a stale one for stale more, with the
 * ids of the log (fields), without waiting.
 */

void
ngx_http_yibao_store_cache_put(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *key, u_char *answer, size_t len,
    const yibao_fields_t *fields, ngx_msec_t ttl, ngx_msec_t stale)
{
    u_char                      *p;
    size_t                       flen;
    uint64_t                     now;
    ngx_str_t                    argv[9], value;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_yibao_store_conf();
    flen = yibao_cache_fields_size(fields);

    if (gmcf->redis == NULL) {
        now = ngx_http_yibao_store_now();

        value.data = ngx_pnalloc(pool, NGX_INT64_LEN + flen + 1 + len);
        if (value.data == NULL) {
            return;
        }

        p = ngx_sprintf(value.data, "%uL", now + ttl);
        p = yibao_cache_fields_write(p, fields);
        *p++ = '\n';
        p = ngx_cpymem(p, answer, len);
        value.len = p - value.data;

        ngx_http_yibao_shm_cache_put(gmcf->shm_zone, key, &value,
                                     now + ttl + stale);
        return;
    }

    p = ngx_pnalloc(pool, 2 * NGX_INT64_LEN + key->len + 5 + flen);
    if (p == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_cache_store_script;
    argv[1].len = ngx_strlen(yibao_cache_store_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = *key;

    argv[4].data = p;
    p = ngx_sprintf(p, "%V:lock", key);
    argv[4].len = p - argv[4].data;

    argv[5].data = answer;
    argv[5].len = len;

    argv[6].data = p;
    p = ngx_sprintf(p, "%M", ttl);
    argv[6].len = p - argv[6].data;

    argv[7].data = p;
    p = ngx_sprintf(p, "%M", stale);
    argv[7].len = p - argv[7].data;

    argv[8].data = p;
    p = yibao_cache_fields_write(p, fields);
    argv[8].len = p - argv[8].data;

    ngx_http_yibao_store_write(9, argv, 2, log);
}


/* drops the cached answers whose keys match pattern: res->n of them */

ngx_int_t
ngx_http_yibao_store_cache_purge(ngx_http_request_t *r, ngx_str_t *pattern,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data)
{
    ngx_str_t                    argv[4];
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(res, sizeof(ngx_http_yibao_store_res_t));

    if (gmcf->redis == NULL) {
        res->status = NGX_HTTP_YIBAO_STORE_FOUND;
        res->local = 1;
        res->n = ngx_http_yibao_shm_cache_purge(gmcf->shm_zone, pattern);
        return NGX_OK;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_cache_purge_script;
    argv[1].len = ngx_strlen(yibao_cache_purge_script);
    ngx_str_set(&argv[2], "0");
    argv[3] = *pattern;

    return ngx_http_yibao_store_run(r, NULL, r->pool, r->connection->log,
                                    NGX_HTTP_YIBAO_STORE_READ_COUNT, 4, argv,
                                    0, done, data);
}


/*
 * Sign-in tokens (sign_no by entity, operator and day).  Every node keeps
 * a copy of those it made or learnt in its zone; with Redis they are
 * shared there.  token_get: the token when the zone answers for the
 * store (no Redis, or Redis down), else NGX_DECLINED; token_fetch: asks
 * Redis (NGX_AGAIN), NGX_ERROR when there is no Redis to ask;
 * token_copy: this node's copy, whatever the store.
 */

ngx_int_t
ngx_http_yibao_store_token_get(ngx_str_t *key, ngx_pool_t *pool,
    ngx_str_t *value)
{
    if (ngx_http_yibao_store_state() == NGX_HTTP_YIBAO_STORE_REDIS) {
        return NGX_DECLINED;
    }

    return ngx_http_yibao_store_token_copy(key, pool, value);
}


ngx_int_t
ngx_http_yibao_store_token_fetch(ngx_str_t *key, ngx_pool_t *pool,
    ngx_http_yibao_store_done_pt done, void *data)
{
    ngx_str_t  argv[2];

    if (ngx_http_yibao_store_state() != NGX_HTTP_YIBAO_STORE_REDIS) {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[0], "GET");
    argv[1] = *key;

    return ngx_http_yibao_store_run(NULL, NULL, pool, ngx_cycle->log,
                                    NGX_HTTP_YIBAO_STORE_READ_STRING, 2,
                                    argv, 1, done, data);
}


ngx_int_t
ngx_http_yibao_store_token_copy(ngx_str_t *key, ngx_pool_t *pool,
    ngx_str_t *value)
{
    return ngx_http_yibao_shm_cache_get(ngx_http_yibao_store_conf()->shm_zone,
                                        key, pool, value)
           == NGX_OK ? NGX_OK : NGX_DECLINED;
}


void
ngx_http_yibao_store_token_put(ngx_str_t *key, ngx_str_t *value,
    ngx_msec_t ttl, ngx_log_t *log)
{
    u_char                       px[NGX_INT64_LEN];
    ngx_str_t                    argv[5];
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_yibao_store_conf();

    ngx_http_yibao_shm_cache_put(gmcf->shm_zone, key, value,
                                 ngx_http_yibao_store_now() + ttl);

    if (gmcf->redis == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "SET");
    argv[1] = *key;
    argv[2] = *value;
    ngx_str_set(&argv[3], "PX");
    argv[4].data = px;
    argv[4].len = ngx_sprintf(px, "%M", ttl) - px;

    ngx_http_yibao_store_write(5, argv, 1, log);
}


ngx_uint_t
ngx_http_yibao_store_redis_up(ngx_http_yibao_main_conf_t *gmcf)
{
    return gmcf->redis != NULL && ngx_http_yibao_redis_up();
}


/* when this worker found Redis had lost its data (the journal's marker) */

uint64_t
ngx_http_yibao_store_redis_lost(void)
{
    return ngx_http_yibao_redis_forgotten_at();
}
