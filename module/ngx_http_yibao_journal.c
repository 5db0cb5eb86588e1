/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_module.h"
#include "ngx_http_yibao_redis.h"
#include "yibao_journal.h"
#include "yibao_cache.h"


/*
 * The msgid journal (issue 5): a state-creating or money-moving
 * transaction is claimed in the store under (caller, msgid) before it is
 * sent.  A repeat of the msgid is answered from the journal and never
 * sent again: the stored answer (a replay), "in progress", "a different
 * request", or "outcome unknown".  The platform's answer, or its loss,
 * completes the record.  In Redis with yibao_redis, else in the zone.
 */


typedef struct {
    ngx_http_request_t        *r;
    ngx_http_yibao_ctx_t      *ctx;
} ngx_http_yibao_journal_req_t;


static ngx_int_t ngx_http_yibao_journal_existing(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len);
static void ngx_http_yibao_journal_claimed(void *data, redisReply *reply,
    ngx_uint_t status);
static void ngx_http_yibao_journal_ignore(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_journal_key(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *caller, const char *kind, ngx_str_t *msgid);
static ngx_int_t ngx_http_yibao_journal_api_handler(ngx_http_request_t *r);
static void ngx_http_yibao_journal_omsgid_reply(void *data,
    redisReply *reply, ngx_uint_t status);
static void ngx_http_yibao_journal_omsgid_apply(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len);
static void ngx_http_yibao_journal_api_reply(void *data, redisReply *reply,
    ngx_uint_t status);


static ngx_uint_t  ngx_http_yibao_journal_nobody;


#define NGX_HTTP_YIBAO_JOURNAL_UNKNOWN_SET  "yibao:journal:unknown"


/* yibao_journal [ttl=7d] [in_flight=120s]; */

char *
ngx_http_yibao_journal_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t   *value, v;
    ngx_int_t    t;
    ngx_uint_t   i;

    if (gmcf->journal_ttl) {
        return "is duplicate";
    }

    gmcf->journal_ttl = 7 * 86400 * 1000;
    gmcf->journal_in_flight = 120 * 1000;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;
            t = ngx_parse_time(&v, 0);
            if (t == NGX_ERROR || t == 0) {
                goto invalid;
            }

            gmcf->journal_ttl = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "in_flight=", 10) == 0) {
            v.data = value[i].data + 10;
            v.len = value[i].len - 10;
            t = ngx_parse_time(&v, 0);
            if (t == NGX_ERROR || t == 0) {
                goto invalid;
            }

            gmcf->journal_in_flight = t;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * Claims the caller's msgid before the request is sent.  NGX_OK: go on
 * (claimed, or not journaled); NGX_AGAIN: Redis answers through
 * ngx_http_yibao_resume(); an HTTP status: refused (recorded in ctx); a
 * replay sets ctx->cache_serve with the stored answer.
 */

ngx_int_t
ngx_http_yibao_journal_claim(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    u_char                         ttl[NGX_INT64_LEN];
    char                           hex[65];
    ngx_str_t                      argv[7], value, existing;
    ngx_time_t                    *tp;
    yibao_str_t                    out;
    yibao_alloc_t                  a;
    yibao_journal_t                j;
    ngx_http_yibao_main_conf_t    *gmcf;
    ngx_http_yibao_journal_req_t  *jr;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->journal_ttl == 0
        || !yibao_journal_infno(ctx->infno.data, ctx->infno.len))
    {
        return NGX_OK;
    }

    if (yibao_cache_input_digest(&ctx->env, hex) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_yibao_journal_key(r->pool, &ctx->journal_key, &ctx->caller,
                                   "j", &ctx->msgid)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->journal_hash.data = ngx_pnalloc(r->pool, 64);
    if (ctx->journal_hash.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->journal_hash.data, hex, 64);
    ctx->journal_hash.len = 64;

    tp = ngx_timeofday();
    ctx->journal_sent_ms = (uint64_t) tp->sec * 1000 + tp->msec;

    ngx_memzero(&j, sizeof(yibao_journal_t));
    ngx_http_yibao_journal_fill(ctx, &j, YIBAO_JOURNAL_SENT);

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_journal_render(&j, &a, &out) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;

    /*
     * With Redis down the journal goes on in this node's zone: a repeat
     * at this node is still caught; at another node it is not.
     */

    if (gmcf->redis != NULL && !ngx_http_yibao_redis_up()) {
        ctx->journal_local = 1;
    }

    /*
     * A record this node kept in its zone while Redis was down: the
     * msgid was seen here, so it is never sent again (Redis does not
     * know it).
     */

    if (gmcf->redis != NULL && !ctx->journal_local
        && ngx_http_yibao_shm_journal_get(gmcf->shm_zone, &ctx->journal_key,
                                          r->pool, &existing)
           == NGX_OK)
    {
        return ngx_http_yibao_journal_existing(r, ctx, existing.data,
                                               existing.len);
    }

    if (gmcf->redis == NULL || ctx->journal_local) {
        switch (ngx_http_yibao_shm_journal_claim(gmcf->shm_zone,
                                                 &ctx->journal_key, &value,
                                                 ctx->journal_sent_ms
                                                 + gmcf->journal_ttl,
                                                 r->pool, &existing))
        {
        case NGX_OK:
            ctx->journal_state = YIBAO_JOURNAL_SENT;
            return NGX_OK;

        case NGX_DECLINED:
            return ngx_http_yibao_journal_existing(r, ctx, existing.data,
                                                   existing.len);

        default:
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "yibao: zone \"yibao\" is full: journal refused "
                          "infno %V msgid %V", &ctx->infno, &ctx->msgid);
            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_STORE_DOWN,
                                  "the gateway's journal is full; nothing "
                                  "was sent, retry later");
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }
    }

    jr = ngx_palloc(r->pool, sizeof(ngx_http_yibao_journal_req_t));

    if (jr == NULL || ngx_http_yibao_store_watch(r, ctx) != NGX_OK
        || ngx_http_yibao_journal_key(r->pool, &argv[4], &ctx->caller, "ju",
                                      &ctx->upstream_msgid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    jr->r = r;
    jr->ctx = ctx;

    /* EVAL script 2 record-key index-key record ttl_ms */

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_claim_script;
    argv[1].len = ngx_strlen(yibao_journal_claim_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = ctx->journal_key;
    argv[5] = value;
    argv[6].data = ttl;
    argv[6].len = ngx_sprintf(ttl, "%M", gmcf->journal_ttl) - ttl;

    ctx->op = ngx_http_yibao_redis_run(7, argv, 2, 0,
                                       ngx_http_yibao_journal_claimed, jr,
                                       r->connection->log);

    if (ctx->op == NULL) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_STORE_DOWN,
                              "the journal (Redis) is down, so infno %V is "
                              "not sent; nothing happened, retry later",
                              &ctx->infno);
        ctx->retry_after = 5;
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }


    ctx->store_start = ngx_current_msec;

    return NGX_AGAIN;
}


/* {1} claimed, or {0, existing} */

static void
ngx_http_yibao_journal_claimed(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_yibao_journal_req_t *jr = data;

    u_char                *p;
    ngx_int_t              rc;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = jr->ctx;
    ctx->op = NULL;
    ctx->store_time += ngx_current_msec - ctx->store_start;

    if (status != NGX_HTTP_YIBAO_REDIS_OK
        || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
    {
        /*
         * Redis failed meanwhile: claim in this node's zone instead (the
         * circuit is open now, so the claim takes that path).
         */
        ngx_log_error(NGX_LOG_WARN, jr->r->connection->log, 0,
                      "yibao: journal of msgid %V kept in this node's zone: "
                      "redis did not answer the claim", &ctx->msgid);

        ctx->journal_local = 1;

        ngx_http_yibao_resume(jr->r, ctx,
                              ngx_http_yibao_journal_claim(jr->r, ctx));
        return;
    }

    if (reply->element[0]->integer == 1) {
        ctx->journal_state = YIBAO_JOURNAL_SENT;
        ngx_http_yibao_resume(jr->r, ctx, NGX_OK);
        return;
    }

    if (reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_http_yibao_resume(jr->r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_pnalloc(jr->r->pool, reply->element[1]->len);
    if (p == NULL) {
        ngx_http_yibao_resume(jr->r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(p, reply->element[1]->str, reply->element[1]->len);

    rc = ngx_http_yibao_journal_existing(jr->r, ctx, p,
                                         reply->element[1]->len);

    ngx_http_yibao_resume(jr->r, ctx, rc);
}


/*
 * The msgid was seen before: never send again.  The stored answer for a
 * completed one (the same request), otherwise a clear refusal.
 */

static ngx_int_t
ngx_http_yibao_journal_existing(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len)
{
    uint64_t                     now;
    ngx_time_t                  *tp;
    yibao_alloc_t                a;
    yibao_journal_t              j;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_journal_parse(data, len, &a, &j) != YIBAO_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yibao: journal record of msgid %V is unreadable",
                      &ctx->msgid);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->journal_state = j.state;
    ctx->journal_repeat = 1;

    if (j.hash.len != ctx->journal_hash.len
        || ngx_strncmp(j.hash.data, ctx->journal_hash.data, j.hash.len) != 0)
    {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_MSGID_REUSED,
                              "msgid %V was already used by this caller for "
                              "a different request (infno %*s); nothing was "
                              "sent: use a new msgid", &ctx->msgid,
                              j.infno.len, j.infno.data);
        return NGX_HTTP_CONFLICT;
    }

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    switch (j.state) {

    case YIBAO_JOURNAL_OK:
    case YIBAO_JOURNAL_FAILED:
        if (j.answer.len == 0) {
            break;
        }

        ctx->replay = 1;
        ctx->cache_serve = 1;
        ctx->cache_answer.data = (u_char *) j.answer.data;
        ctx->cache_answer.len = j.answer.len;
        ctx->upstream_msgid.data = (u_char *) j.upstream_msgid.data;
        ctx->upstream_msgid.len = j.upstream_msgid.len;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yibao: msgid %V of caller \"%V\" answered again "
                      "from the journal (not sent)", &ctx->msgid,
                      &ctx->caller);
        return NGX_OK;

    case YIBAO_JOURNAL_SENT:
        if (now < j.sent_ms + gmcf->journal_in_flight) {
            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_IN_PROGRESS,
                                  "msgid %V (infno %*s) is being processed "
                                  "since %uL ms; wait for its answer, do "
                                  "not send it again", &ctx->msgid,
                                  j.infno.len, j.infno.data,
                                  now - j.sent_ms);
            ctx->retry_after = 5;
            return NGX_HTTP_CONFLICT;
        }

        break;

    default:
        break;
    }

    /* unknown, or sent long ago with no answer recorded */

    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_OUTCOME_UNKNOWN,
                          "the outcome of msgid %V (infno %*s, sent to the "
                          "platform as %*s) is unknown: it is not sent "
                          "again; it is resolved by a settlement query "
                          "(5203) or a reversal (2601)", &ctx->msgid,
                          j.infno.len, j.infno.data, j.upstream_msgid.len,
                          j.upstream_msgid.data);
    return NGX_HTTP_BAD_GATEWAY;
}


void
ngx_http_yibao_journal_fill(ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j,
    yibao_journal_state_e state)
{
    j->state = state;
    j->caller.data = ctx->caller.data;
    j->caller.len = ctx->caller.len;
    j->msgid.data = ctx->msgid.data;
    j->msgid.len = ctx->msgid.len;
    j->upstream_msgid.data = ctx->upstream_msgid.data;
    j->upstream_msgid.len = ctx->upstream_msgid.len;
    j->infno.data = ctx->infno.data;
    j->infno.len = ctx->infno.len;
    j->clinic.data = ctx->clinic.data;
    j->clinic.len = ctx->clinic.len;
    j->entity.data = ctx->entity.data;
    j->entity.len = ctx->entity.len;
    j->hash.data = ctx->journal_hash.data;
    j->hash.len = ctx->journal_hash.len;
    j->sent_ms = ctx->journal_sent_ms;
    j->mdtrt_id.data = ctx->mdtrt_id.data;
    j->mdtrt_id.len = ctx->mdtrt_id.len;
    j->setl_id.data = ctx->setl_id.data;
    j->setl_id.len = ctx->setl_id.len;
    j->infcode = (int) ctx->infcode;
    j->infcode_set = ctx->infcode_set;
}


/*
 * The answer, or its loss: completes a claimed record, without waiting.
 * Called once per request, from the response filter.
 */

void
ngx_http_yibao_journal_complete(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_state_e state,
    const char *reason, u_char *answer, size_t len)
{
    ngx_str_t                    argv[7], value, existing;
    ngx_uint_t                   level;
    ngx_time_t                  *tp;
    yibao_str_t                  out;
    yibao_alloc_t                a;
    yibao_journal_t              j;
    ngx_http_yibao_main_conf_t  *gmcf;

    if (ctx->journal_state != YIBAO_JOURNAL_SENT || ctx->journal_repeat
        || ctx->journal_done)
    {
        return;
    }

    ctx->journal_done = 1;
    ctx->journal_state = state;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(&j, sizeof(yibao_journal_t));
    ngx_http_yibao_journal_fill(ctx, &j, state);

    tp = ngx_timeofday();
    j.done_ms = (uint64_t) tp->sec * 1000 + tp->msec;

    if (reason != NULL) {
        j.reason.data = (const unsigned char *) reason;
        j.reason.len = ngx_strlen(reason);
    }

    j.answer.data = answer;
    j.answer.len = len;

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_journal_render(&j, &a, &out) != YIBAO_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yibao: journal record of msgid %V not rendered",
                      &ctx->msgid);
        return;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;

    /* the log line as well: the record survives a lost store */

    level = (state == YIBAO_JOURNAL_UNKNOWN) ? NGX_LOG_WARN : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "yibao: journal caller \"%V\" msgid %V upstream %V infno "
                  "%V state %s", &ctx->caller, &ctx->msgid,
                  &ctx->upstream_msgid, &ctx->infno,
                  yibao_journal_state_name(state));

    if (gmcf->redis == NULL || ctx->journal_local) {
        ngx_http_yibao_shm_journal_update(gmcf->shm_zone, &ctx->journal_key,
                                          &value);
        return;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_update_script;
    argv[1].len = ngx_strlen(yibao_journal_update_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = ctx->journal_key;
    ngx_str_set(&argv[4], NGX_HTTP_YIBAO_JOURNAL_UNKNOWN_SET);
    argv[5] = value;
    argv[6].data = (u_char *) yibao_journal_state_name(state);
    argv[6].len = ngx_strlen(argv[6].data);

    if (ngx_http_yibao_redis_run(7, argv, 2, 0,
                                 ngx_http_yibao_journal_ignore,
                                 &ngx_http_yibao_journal_nobody,
                                 r->connection->log)
        == NULL)
    {
        /* Redis went down after the claim: this node's zone keeps it */

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: journal of msgid %V (state %s) kept in this "
                      "node's zone: redis is down", &ctx->msgid,
                      yibao_journal_state_name(state));

        if (ngx_http_yibao_shm_journal_claim(gmcf->shm_zone,
                                             &ctx->journal_key, &value,
                                             ctx->journal_sent_ms
                                             + gmcf->journal_ttl,
                                             r->pool, &existing)
            == NGX_DECLINED)
        {
            ngx_http_yibao_shm_journal_update(gmcf->shm_zone,
                                              &ctx->journal_key, &value);
        }
    }
}


static void
ngx_http_yibao_journal_ignore(void *data, redisReply *reply,
    ngx_uint_t status)
{
    if (status != NGX_HTTP_YIBAO_REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "yibao: a journal update was lost by redis; the "
                      "error log line of the transaction keeps it");
    }
}


static ngx_int_t
ngx_http_yibao_journal_key(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *caller, const char *kind, ngx_str_t *msgid)
{
    key->len = sizeof("yibao:{}::") - 1 + caller->len + ngx_strlen(kind)
               + msgid->len;

    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    if ((size_t) (ngx_sprintf(key->data, "yibao:{%V}:%s:%V", caller, kind,
                              msgid)
                  - key->data)
        != key->len)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * 2601 (冲正) names the transaction to reverse by its msgid, which the
 * caller knows as its own and the platform as the upstream one: the
 * journal maps the caller's to the upstream msgid before the 2601 is
 * sent.  An omsgid the journal does not know is sent as it is.
 */

ngx_int_t
ngx_http_yibao_journal_omsgid(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_str_t                      key, argv[2], value;
    yibao_str_t                    om;
    ngx_http_yibao_main_conf_t    *gmcf;
    ngx_http_yibao_journal_req_t  *jr;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->journal_ttl == 0 || ctx->infno.len != 4
        || ngx_strncmp(ctx->infno.data, "2601", 4) != 0
        || yibao_envelope_input_get(&ctx->env, "data", "omsgid", &om)
           != YIBAO_OK
        || !yibao_code_is_alnum(om.data, om.len, 64))
    {
        return NGX_OK;
    }

    ctx->omsgid.data = ngx_pnalloc(r->pool, om.len);
    if (ctx->omsgid.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->omsgid.data, om.data, om.len);
    ctx->omsgid.len = om.len;

    if (ngx_http_yibao_journal_key(r->pool, &key, &ctx->caller, "j",
                                   &ctx->omsgid)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (gmcf->redis == NULL || ctx->journal_local
        || !ngx_http_yibao_redis_up())
    {
        if (ngx_http_yibao_shm_journal_get(gmcf->shm_zone, &key, r->pool,
                                           &value)
            == NGX_OK)
        {
            ngx_http_yibao_journal_omsgid_apply(r, ctx, value.data,
                                                value.len);
        }

        return NGX_OK;
    }

    jr = ngx_palloc(r->pool, sizeof(ngx_http_yibao_journal_req_t));

    if (jr == NULL || ngx_http_yibao_store_watch(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    jr->r = r;
    jr->ctx = ctx;

    ngx_str_set(&argv[0], "GET");
    argv[1] = key;

    ctx->op = ngx_http_yibao_redis_run(2, argv, 1, 0,
                                       ngx_http_yibao_journal_omsgid_reply,
                                       jr, r->connection->log);
    if (ctx->op == NULL) {
        return NGX_OK;
    }

    ctx->store_start = ngx_current_msec;

    return NGX_AGAIN;
}


static void
ngx_http_yibao_journal_omsgid_reply(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_yibao_journal_req_t *jr = data;

    ngx_http_yibao_ctx_t  *ctx;

    ctx = jr->ctx;
    ctx->op = NULL;
    ctx->store_time += ngx_current_msec - ctx->store_start;

    if (status == NGX_HTTP_YIBAO_REDIS_OK
        && reply->type == REDIS_REPLY_STRING)
    {
        ngx_http_yibao_journal_omsgid_apply(jr->r, ctx, (u_char *) reply->str,
                                            reply->len);
    }

    ngx_http_yibao_resume(jr->r, ctx, NGX_OK);
}


static void
ngx_http_yibao_journal_omsgid_apply(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len)
{
    yibao_alloc_t    a;
    yibao_journal_t  j;

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_journal_parse(data, len, &a, &j) != YIBAO_OK
        || j.upstream_msgid.len == 0
        || (j.upstream_msgid.len == ctx->omsgid.len
            && ngx_strncmp(j.upstream_msgid.data, ctx->omsgid.data,
                           ctx->omsgid.len) == 0))
    {
        return;
    }

    if (yibao_envelope_input_set(&ctx->env, "data", "omsgid",
                                 &j.upstream_msgid)
        != YIBAO_OK)
    {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: 2601 omsgid %V is sent as the platform's %*s",
                  &ctx->omsgid, j.upstream_msgid.len, j.upstream_msgid.data);
}


/*
 * yibao_journal_api: GET ?caller=C&msgid=M -> the record; GET
 * ?state=unknown -> the unknown records (Redis: all nodes'; embedded:
 * this node's); POST ?caller=C&msgid=M&state=ok|failed -> an operator's
 * (or the resolver's) resolution.  Protect it with allow/deny.
 */

char *
ngx_http_yibao_journal_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_yibao_journal_api_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_yibao_journal_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    caller, msgid, state, setl, key, value;
    ngx_str_t                    argv[8];
    ngx_uint_t                   argc, nkeys;
    yibao_str_t                  out;
    yibao_alloc_t                a;
    yibao_journal_t              j;
    yibao_journal_state_e        st;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "caller", 6, &caller) != NGX_OK) {
        ngx_str_null(&caller);
    }

    if (ngx_http_arg(r, (u_char *) "msgid", 5, &msgid) != NGX_OK) {
        ngx_str_null(&msgid);
    }

    if (ngx_http_arg(r, (u_char *) "state", 5, &state) != NGX_OK) {
        ngx_str_null(&state);
    }

    if (ngx_http_arg(r, (u_char *) "setl_id", 7, &setl) != NGX_OK) {
        ngx_str_null(&setl);
    }

    st = yibao_journal_state_parse(state.data, state.len);

    /* GET ?state=unknown: the records waiting for a resolution */

    if (r->method == NGX_HTTP_GET && caller.len == 0
        && st == YIBAO_JOURNAL_UNKNOWN)
    {
        if (gmcf->redis == NULL) {
            if (ngx_http_yibao_shm_journal_unknown(gmcf->shm_zone, r->pool,
                                                   &value)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_yibao_send_json(r, NGX_HTTP_OK,
                                                   value.data, value.len);
        }

        ngx_str_set(&argv[0], "EVAL");
        argv[1].data = (u_char *) yibao_journal_list_script;
        argv[1].len = ngx_strlen(yibao_journal_list_script);
        ngx_str_set(&argv[2], "1");
        ngx_str_set(&argv[3], NGX_HTTP_YIBAO_JOURNAL_UNKNOWN_SET);
        argc = 4;
        nkeys = 1;

        goto redis;
    }

    if (caller.len == 0 || caller.len > 64
        || !yibao_code_is_alnum(msgid.data, msgid.len, 64)
        || setl.len > 64)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_yibao_journal_key(r->pool, &key, &caller, "j", &msgid)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_GET) {

        /* this node's zone first: what it kept while Redis was down */

        if (ngx_http_yibao_shm_journal_get(gmcf->shm_zone, &key, r->pool,
                                           &value)
            == NGX_OK)
        {
            return ngx_http_yibao_send_json(r, NGX_HTTP_OK,
                                                   value.data, value.len);
        }

        if (gmcf->redis == NULL) {
            return NGX_HTTP_NOT_FOUND;
        }

        ngx_str_set(&argv[0], "GET");
        argv[1] = key;
        argc = 2;
        nkeys = 1;

        goto redis;
    }

    /* POST ?caller&msgid&state=ok|failed[&setl_id]: a resolution */

    if (st != YIBAO_JOURNAL_OK && st != YIBAO_JOURNAL_FAILED) {
        return NGX_HTTP_BAD_REQUEST;
    }

    /* a record in this node's zone is resolved there */

    if (gmcf->redis != NULL
        && ngx_http_yibao_shm_journal_get(gmcf->shm_zone, &key, r->pool,
                                          &value)
           != NGX_OK)
    {
        ngx_str_set(&argv[0], "EVAL");
        argv[1].data = (u_char *) yibao_journal_resolve_script;
        argv[1].len = ngx_strlen(yibao_journal_resolve_script);
        ngx_str_set(&argv[2], "2");
        argv[3] = key;
        ngx_str_set(&argv[4], NGX_HTTP_YIBAO_JOURNAL_UNKNOWN_SET);
        argv[5] = state;
        argv[6] = setl;
        argc = 7;
        nkeys = 2;

        goto redis;
    }

    if (gmcf->redis == NULL
        && ngx_http_yibao_shm_journal_get(gmcf->shm_zone, &key, r->pool,
                                          &value)
           != NGX_OK)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_journal_parse(value.data, value.len, &a, &j) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    j.state = st;
    ngx_str_set(&value, "resolved");
    j.reason.data = value.data;
    j.reason.len = value.len;

    if (setl.len) {
        j.setl_id.data = setl.data;
        j.setl_id.len = setl.len;
    }

    if (yibao_journal_render(&j, &a, &out) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;

    ngx_http_yibao_shm_journal_update(gmcf->shm_zone, &key, &value);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "yibao: journal caller \"%V\" msgid %V resolved as %V",
                  &caller, &msgid, &state);

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, value.data,
                                           value.len);

redis:

    if (ngx_http_yibao_redis_run(argc, argv, nkeys, 0,
                                 ngx_http_yibao_journal_api_reply, r,
                                 r->connection->log)
        == NULL)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_yibao_journal_api_reply(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_request_t *r = data;

    u_char            *p;
    size_t             i, len;
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    if (status != NGX_HTTP_YIBAO_REDIS_OK) {
        rc = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else if (reply->type == REDIS_REPLY_STRING) {
        rc = ngx_http_yibao_send_json(r, NGX_HTTP_OK,
                                             (u_char *) reply->str,
                                             reply->len);

    } else if (reply->type == REDIS_REPLY_ARRAY) {

        /* the records as one JSON array */

        len = 2;

        for (i = 0; i < reply->elements; i++) {
            len += reply->element[i]->len + 1;
        }

        p = ngx_pnalloc(r->pool, len);

        if (p == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            len = 0;
            p[len++] = '[';

            for (i = 0; i < reply->elements; i++) {
                if (i) {
                    p[len++] = ',';
                }

                ngx_memcpy(p + len, reply->element[i]->str,
                           reply->element[i]->len);
                len += reply->element[i]->len;
            }

            p[len++] = ']';

            rc = ngx_http_yibao_send_json(r, NGX_HTTP_OK, p, len);
        }

    } else {
        rc = NGX_HTTP_NOT_FOUND;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
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
