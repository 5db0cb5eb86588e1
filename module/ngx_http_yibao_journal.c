/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_journal.h"
#include "yibao_cache.h"
#include "yibao_resolve.h"


/*
 * The msgid journal: a state-creating or money-moving
 * transaction is claimed in the store under (caller, msgid) before it is
 * sent.  A repeat of the msgid is answered from the journal and never
 * sent again: the stored answer (a replay), "in progress", "a different
 * request", or "outcome unknown".  The platform's answer, or its loss,
 * completes the record.  Where the records are kept (Redis with
 * yibao_redis, else the zone) is the door's: ngx_http_yibao_store_journal.c.
 */


typedef struct {
    ngx_http_request_t        *r;
    ngx_http_yibao_ctx_t      *ctx;
} ngx_http_yibao_journal_req_t;


static ngx_int_t ngx_http_yibao_journal_identity(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_journal_extra(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_alloc_t *a);
static ngx_int_t ngx_http_yibao_journal_when_down(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_main_conf_t *gmcf);
static ngx_int_t ngx_http_yibao_journal_claim_down(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_journal_existing(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len);
static ngx_int_t ngx_http_yibao_journal_refuse_resolved(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j);
static ngx_int_t ngx_http_yibao_journal_replay(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j);
static ngx_int_t ngx_http_yibao_journal_resolvable(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_journal_claimed(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_journal_result(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_res_t *res);
static void ngx_http_yibao_journal_serve(ngx_http_yibao_ctx_t *ctx,
    yibao_journal_t *j);
static void ngx_http_yibao_journal_omsgid_reply(void *data,
    ngx_http_yibao_store_res_t *res);
static void ngx_http_yibao_journal_omsgid_apply(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *data, size_t len);


static void ngx_http_yibao_journal_track(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_uint_t local);
static void ngx_http_yibao_journal_write(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j);
static void ngx_http_yibao_journal_orphans(ngx_event_t *ev);


/* the look for exchanges whose worker died, every second */
static ngx_event_t  ngx_http_yibao_journal_orphan_ev;

#define NGX_HTTP_YIBAO_JOURNAL_ORPHAN_TICK  1000



/* yibao_journal [ttl=7d] [in_flight=120s] [redis_down=refuse|local]; */

static ngx_conf_enum_t  ngx_http_yibao_journal_redis_down[] = {
    { ngx_string("refuse"), 0 },
    { ngx_string("local"), 1 },
    { ngx_null_string, 0 }
};


static ngx_http_yibao_param_t  ngx_http_yibao_journal_params[] = {

    { ngx_string("ttl"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t, journal_ttl),
      1, 0, NULL, NULL, 0 },

    { ngx_string("in_flight"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 journal_in_flight),
      1, 0, NULL, NULL, 0 },

    { ngx_string("redis_down"), NGX_HTTP_YIBAO_PARAM_ENUM,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 journal_money_local),
      0, 0, ngx_http_yibao_journal_redis_down, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_journal_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    if (gmcf->journal_ttl) {
        return "is duplicate";
    }

    gmcf->journal_ttl = 7 * 86400 * 1000;
    gmcf->journal_in_flight = 120 * 1000;

    return ngx_http_yibao_conf_params(cf, ngx_http_yibao_journal_params, 1,
                                      gmcf, 0);
}


/*
 * Claims the caller's msgid before the request is sent.  NGX_OK: go on
 * (claimed, or not journaled), unless ctx->journal_check is set: the
 * store lost its records and does not know this money-moving msgid, so
 * nothing was claimed and the platform is to be asked first
 * (ngx_http_yibao_forget_check), then the claim made again with what it
 * said (ctx->forget_checked, ctx->forget_record); NGX_AGAIN: the store
 * answers through ctx->resume; an HTTP status: refused (recorded in
 * ctx); a replay sets ctx->cache_serve with the stored answer.
 */

ngx_int_t
ngx_http_yibao_journal_claim(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_str_t                      value, ukey;
    ngx_uint_t                     money;
    yibao_str_t                    out;
    yibao_alloc_t                  a;
    yibao_journal_t                j, *record;
    ngx_http_yibao_store_res_t     res;
    ngx_http_yibao_store_claim_t   c;
    ngx_http_yibao_main_conf_t    *gmcf;
    ngx_http_yibao_journal_req_t  *jr;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->journal_ttl == 0
        || !yibao_infno_journaled(ctx->infno.data, ctx->infno.len))
    {
        return NGX_OK;
    }

    if (ngx_http_yibao_journal_identity(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (ngx_http_yibao_journal_extra(r, ctx, &a) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&j, sizeof(yibao_journal_t));
    ngx_http_yibao_journal_fill(ctx, &j, YIBAO_JOURNAL_SENT);

    /* the platform showed it settled (forget.c): claimed as resolved */

    ctx->journal_check = 0;

    record = ctx->forget_record ? ctx->forget_record : &j;

    if (yibao_journal_render(record, &a, &out) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;
    ctx->journal_claimed = value;

    rc = ngx_http_yibao_journal_when_down(r, ctx, gmcf);
    if (rc != NGX_OK) {
        return rc;
    }

    jr = ngx_palloc(r->pool, sizeof(ngx_http_yibao_journal_req_t));

    if (jr == NULL
        || ngx_http_yibao_journal_key(r->pool, &ukey, &ctx->caller, "ju",
                                      &ctx->upstream_msgid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    jr->r = r;
    jr->ctx = ctx;

    /*
     * While the store cannot vouch for its records (it lost them), a
     * money-moving msgid it does not know is not claimed at once: the
     * platform is asked first (forget.c), then it is claimed again.
     */

    money = yibao_infno_money(ctx->infno.data, ctx->infno.len);

    ngx_memzero(&c, sizeof(ngx_http_yibao_store_claim_t));
    c.key = &ctx->journal_key;
    c.ukey = &ukey;
    c.value = &value;
    c.record = record;
    c.expire = ctx->journal_sent_ms + gmcf->journal_ttl;
    c.local = ctx->journal_local;
    c.money = (money && record->state == YIBAO_JOURNAL_SENT);
    c.peek = money && ctx->forget_record == NULL && !ctx->forget_checked
             && ngx_http_yibao_store_forgotten(NULL) != 0;

    rc = ngx_http_yibao_store_journal_claim(r, ctx, &c, &res,
                                            ngx_http_yibao_journal_claimed,
                                            jr);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return ngx_http_yibao_journal_claim_down(r, ctx);
    }

    return ngx_http_yibao_journal_result(r, ctx, &res);
}


/* The store could not take the claim: nothing sent. */

static ngx_int_t
ngx_http_yibao_journal_claim_down(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_STORE_DOWN,
                          "the journal (Redis) is down, so infno %V is "
                          "not sent; nothing happened, retry later",
                          &ctx->infno);
    ctx->retry_after = 5;
    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


/*
 * What names the claim: the digest of the request's input, the
 * journal's key of the caller's msgid, the time sent, and what resolves
 * it later (ngx_http_yibao_journal_resolvable).
 */

static ngx_int_t
ngx_http_yibao_journal_identity(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    char         hex[65];
    ngx_time_t  *tp;

    if (yibao_cache_input_digest(&ctx->env, hex) != YIBAO_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_yibao_journal_key(r->pool, &ctx->journal_key, &ctx->caller,
                                   "j", &ctx->msgid)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->journal_hash.data = ngx_pnalloc(r->pool, 64);
    if (ctx->journal_hash.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->journal_hash.data, hex, 64);
    ctx->journal_hash.len = 64;

    tp = ngx_timeofday();
    ctx->journal_sent_ms = (uint64_t) tp->sec * 1000 + tp->msec;

    if (ctx->journal_head.len == 0
        && ngx_http_yibao_journal_resolvable(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The claim's extra fields, for the journal's queries (ctx->journal_extra).
 */

static ngx_int_t
ngx_http_yibao_journal_extra(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_alloc_t *a)
{
    u_char      *day;
    yibao_tm_t   tm;

    /* the day of the claim, and what a 3201 declares, for the queries */

    ctx->journal_extra = ngx_pcalloc(r->pool, sizeof(yibao_journal_t));
    day = ngx_pnalloc(r->pool, 11);

    if (ctx->journal_extra == NULL || day == NULL) {
        return NGX_ERROR;
    }

    ngx_http_yibao_localtime(ctx->journal_sent_ms, &tm);
    yibao_journal_day(&tm, (char *) day);
    ctx->journal_extra->day.data = day;
    ctx->journal_extra->day.len = 10;
    ctx->journal_extra->infno.data = ctx->infno.data;
    ctx->journal_extra->infno.len = ctx->infno.len;

    if (yibao_journal_outputs(ctx->env.doc, NULL, 0, a, ctx->journal_extra)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * NGX_OK, the journal in this node's zone if Redis is down
 * (ctx->journal_local), or the refusal of a money-moving transaction.
 */

static ngx_int_t
ngx_http_yibao_journal_when_down(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_main_conf_t *gmcf)
{
    /*
     * With Redis down the journal goes on in this node's zone: a repeat
     * at this node is still caught; at another node, or of a msgid first
     * claimed in Redis, it is not.  So a money-moving transaction is not
     * sent at all, unless redis_down=local accepts that risk.
     */

    if (ngx_http_yibao_store_state() == NGX_HTTP_YIBAO_STORE_DOWN) {

        if (!gmcf->journal_money_local
            && yibao_infno_money(ctx->infno.data, ctx->infno.len))
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "yibao: redis is down: infno %V msgid %V refused "
                          "(money-moving, yibao_journal redis_down=refuse)",
                          &ctx->infno, &ctx->msgid);
            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_STORE_DOWN,
                                  "the journal (Redis) is unreachable and "
                                  "infno %V moves money: it is not sent "
                                  "without the journal, so that a retry can "
                                  "never settle twice; nothing happened, "
                                  "retry later", &ctx->infno);
            ctx->retry_after = 1;
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        ctx->journal_local = 1;
    }

    return NGX_OK;
}


static void
ngx_http_yibao_journal_claimed(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_journal_req_t *jr = data;

    jr->ctx->resume(jr->r, jr->ctx,
                    ngx_http_yibao_journal_result(jr->r, jr->ctx, res));
}


/* A record claimed as resolved: its answer is served, as a replay. */

static void
ngx_http_yibao_journal_serve(ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j)
{
    ctx->journal_state = YIBAO_JOURNAL_OK;
    ctx->journal_repeat = 1;
    ctx->replay = 1;
    ctx->cache_serve = 1;
    ctx->cache_answer.data = (u_char *) j->answer.data;
    ctx->cache_answer.len = j->answer.len;
    ctx->resolved_by.data = (u_char *) j->resolved_by.data;
    ctx->resolved_by.len = j->resolved_by.len;
}


/* what the store said of the claim */

static ngx_int_t
ngx_http_yibao_journal_result(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_res_t *res)
{
    switch (res->status) {

    case NGX_HTTP_YIBAO_STORE_CLAIMED:
        if (!res->local && ctx->forget_record != NULL) {
            /* claimed as resolved: the platform's settlement answers */
            ngx_http_yibao_journal_serve(ctx, ctx->forget_record);
            return NGX_OK;
        }

        ctx->journal_state = YIBAO_JOURNAL_SENT;
        ngx_http_yibao_journal_track(r, ctx, res->local);
        return NGX_OK;

    case NGX_HTTP_YIBAO_STORE_EXISTS:
        return ngx_http_yibao_journal_existing(r, ctx, res->value.data,
                                               res->value.len);

    case NGX_HTTP_YIBAO_STORE_UNKNOWN:
        /*
         * No record, and the store forgot: nothing was claimed; the
         * caller asks the platform first (ctx->journal_check), then
         * claims again.
         */
        ctx->journal_check = 1;
        return NGX_OK;

    case NGX_HTTP_YIBAO_STORE_FULL:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yibao: zone \"yibao\" is full: journal refused "
                      "infno %V msgid %V", &ctx->infno, &ctx->msgid);
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_STORE_DOWN,
                              "the gateway's journal is full; nothing "
                              "was sent, retry later");
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    case NGX_HTTP_YIBAO_STORE_FAILED:
        /*
         * Redis failed meanwhile: claim in this node's zone instead (the
         * circuit is open now, so the claim takes that path).
         */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: journal of msgid %V kept in this node's zone: "
                      "redis did not answer the claim", &ctx->msgid);

        ctx->journal_local = 1;

        return ngx_http_yibao_journal_claim(r, ctx);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * What the resolver needs to resolve a money-moving transaction: the
 * raw psn_no and the envelope's head (kept in the record, never logged).
 */

static ngx_int_t
ngx_http_yibao_journal_resolvable(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    yibao_str_t    s;
    yibao_alloc_t  a;

    if (!yibao_infno_money(ctx->infno.data, ctx->infno.len)) {
        return NGX_OK;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_resolve_head(&ctx->env, &a, &s) != YIBAO_OK) {
        return NGX_ERROR;
    }

    ctx->journal_head.data = (u_char *) s.data;
    ctx->journal_head.len = s.len;

    if (yibao_envelope_input_get(&ctx->env, "data", "psn_no", &s)
        != YIBAO_OK)
    {
        return NGX_OK;
    }

    ctx->journal_psn_no.data = ngx_pnalloc(r->pool, s.len ? s.len : 1);
    if (ctx->journal_psn_no.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->journal_psn_no.data, s.data, s.len);
    ctx->journal_psn_no.len = s.len;

    return NGX_OK;
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
        /* another request: nothing of it was sent, no msgid to name */
        ngx_str_null(&ctx->upstream_msgid);

        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_MSGID_REUSED,
                              "msgid %V was already used by this caller for "
                              "a different request (infno %*s); nothing was "
                              "sent: use a new msgid", &ctx->msgid,
                              j.infno.len, j.infno.data);
        return NGX_HTTP_CONFLICT;
    }

    /*
     * The repeat is not sent: the msgid the platform received for this
     * transaction is the record's, not the one issued for the repeat.
     */

    ctx->upstream_msgid.data = (u_char *) j.upstream_msgid.data;
    ctx->upstream_msgid.len = j.upstream_msgid.len;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    switch (j.state) {

    case YIBAO_JOURNAL_REVERSED:
        return ngx_http_yibao_journal_refuse_resolved(r, ctx, &j);

    case YIBAO_JOURNAL_FAILED:
        if (j.resolved_by.len != 0) {
            return ngx_http_yibao_journal_refuse_resolved(r, ctx, &j);
        }

        /* the platform's refusal, replayed as an answer */

        /* fall through */

    case YIBAO_JOURNAL_OK:
        if (ngx_http_yibao_journal_replay(r, ctx, &j) == NGX_OK) {
            return NGX_OK;
        }

        break;

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


/*
 * The record found was resolved as not done (failed, resolved_by set)
 * or reversed: the caller sends it again with a new msgid.
 */

static ngx_int_t
ngx_http_yibao_journal_refuse_resolved(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j)
{
    if (j->state == YIBAO_JOURNAL_REVERSED) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_RESOLVED_REVERSED,
                              "msgid %V (infno %*s, sent to the platform as "
                              "%*s) had an unknown outcome and was REVERSED "
                              "(resolved by %*s); nothing of it is in "
                              "effect: send it again with a NEW msgid",
                              &ctx->msgid, j->infno.len, j->infno.data,
                              j->upstream_msgid.len, j->upstream_msgid.data,
                              j->resolved_by.len, j->resolved_by.data);
        return NGX_HTTP_CONFLICT;
    }

    /* its outcome was unknown, and it was found never done */

    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_RESOLVED_NOT_DONE,
                          "msgid %V (infno %*s, sent to the platform as "
                          "%*s) was NOT done by the platform (resolved "
                          "by %*s: %*s); nothing happened: send it again "
                          "with a NEW msgid", &ctx->msgid,
                          j->infno.len, j->infno.data,
                          j->upstream_msgid.len, j->upstream_msgid.data,
                          j->resolved_by.len, j->resolved_by.data,
                          j->reason.len, j->reason.data);
    return NGX_HTTP_CONFLICT;
}


/*
 * The record found is done (or the platform refused it): its stored
 * answer is served again, not sent.  NGX_DECLINED: no answer recorded.
 */

static ngx_int_t
ngx_http_yibao_journal_replay(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j)
{
    if (j->answer.len == 0) {
        return NGX_DECLINED;
    }

    ctx->resolved_by.data = (u_char *) j->resolved_by.data;
    ctx->resolved_by.len = j->resolved_by.len;

    /* a refusal of the gateway is replayed with its HTTP status */

    if (j->state == YIBAO_JOURNAL_FAILED && j->gwerr) {
        ctx->replay_status = yibao_gwerr_find(j->gwerr)->http_status;
    }

    ctx->replay = 1;
    ctx->cache_serve = 1;
    ctx->cache_answer.data = (u_char *) j->answer.data;
    ctx->cache_answer.len = j->answer.len;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: msgid %V of caller \"%V\" answered again "
                  "from the journal (not sent)", &ctx->msgid,
                  &ctx->caller);
    return NGX_OK;
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
    j->gwerr = (int) ctx->gwerr;
    j->psn_no.data = ctx->journal_psn_no.data;
    j->psn_no.len = ctx->journal_psn_no.len;
    j->head.data = ctx->journal_head.data;
    j->head.len = ctx->journal_head.len;

    if (ctx->journal_extra != NULL) {
        j->day = ctx->journal_extra->day;
        j->insutype = ctx->journal_extra->insutype;
        j->clr_type = ctx->journal_extra->clr_type;
        j->stmt_begndate = ctx->journal_extra->stmt_begndate;
        j->stmt_enddate = ctx->journal_extra->stmt_enddate;
        j->medfee_sumamt = ctx->journal_extra->medfee_sumamt;
        j->fund_pay_sumamt = ctx->journal_extra->fund_pay_sumamt;
        j->acct_pay = ctx->journal_extra->acct_pay;
        j->setl_cnt = ctx->journal_extra->setl_cnt;
    }
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
    ngx_time_t       *tp;
    yibao_journal_t   j;

    if (ctx->journal_state != YIBAO_JOURNAL_SENT || ctx->journal_repeat
        || ctx->journal_done)
    {
        return;
    }

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

    ngx_http_yibao_journal_write(r, ctx, &j);
}


/* Completes the claimed record with j, once; the exchange is over. */

static void
ngx_http_yibao_journal_write(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_journal_t *j)
{
    ngx_str_t                    value;
    ngx_uint_t                   level;
    yibao_str_t                  out;
    yibao_alloc_t                a;

    ctx->journal_done = 1;
    ctx->journal_state = j->state;

    if (ctx->journal_inflight != NULL) {
        ngx_http_yibao_store_inflight_remove(ctx->journal_inflight);
        ctx->journal_inflight = NULL;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    /* a settlement's key outputs, a statement's result: the raw answer */

    if (j->state == YIBAO_JOURNAL_OK && ctx->resp != NULL
        && yibao_journal_outputs(NULL, ctx->resp, ctx->resp_len, &a, j)
           != YIBAO_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yibao: outputs of msgid %V not journaled: no memory",
                      &ctx->msgid);
    }

    if (yibao_journal_render(j, &a, &out) != YIBAO_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yibao: journal record of msgid %V not rendered",
                      &ctx->msgid);
        return;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;

    /* the log line as well: the record survives a lost store */

    level = (j->state == YIBAO_JOURNAL_UNKNOWN) ? NGX_LOG_WARN : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "yibao: journal caller \"%V\" msgid %V upstream %V infno "
                  "%V state %s", &ctx->caller, &ctx->msgid,
                  &ctx->upstream_msgid, &ctx->infno,
                  yibao_journal_state_name(j->state));

    ngx_http_yibao_store_journal_update(j, &ctx->journal_key, &value,
                                        ngx_http_yibao_store_state()
                                        == NGX_HTTP_YIBAO_STORE_LOCAL
                                        || ctx->journal_local,
                                        r->pool, r->connection->log);
}


/*
 * A claimed exchange joins the zone's list of those in flight, so that
 * it is completed (as unknown) by another worker if this one dies
 * before the answer.  A full zone only loses that safety net.
 */

static void
ngx_http_yibao_journal_track(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_uint_t local)
{
    ctx->journal_inflight = ngx_http_yibao_store_inflight_add(
                                &ctx->journal_key, &ctx->journal_claimed,
                                local);

    if (ctx->journal_inflight == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: zone \"yibao\" is full: msgid %V is not "
                      "taken over if this worker dies", &ctx->msgid);
    }
}


/*
 * The end of a journaled request whose answer never reached the
 * response filter: nginx gave the exchange up (the caller closed its
 * connection, with proxy_ignore_client_abort off) or the request ended
 * before it was sent.  Its record is never left "sent": sent to the
 * platform, a transaction whose effect cannot be known is "unknown" at
 * once, listed and resolved like any other; one that changes nothing,
 * or one never sent, is "failed", resolved by the gateway (a repeat of
 * its msgid is told that nothing happened).  First in the log phase, so
 * that the transaction log and the metrics say what the journal says.
 */

ngx_int_t
ngx_http_yibao_journal_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t              sent;
    ngx_time_t             *tp;
    yibao_journal_t         j;
    ngx_http_yibao_ctx_t   *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    if (ctx->journal_state != YIBAO_JOURNAL_SENT || ctx->journal_repeat
        || ctx->journal_done)
    {
        if (ctx->gwerr == 0
            && r->headers_out.status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
        {
            ctx->gwerr = YIBAO_GWERR_CALLER_GONE;
        }

        return NGX_OK;
    }

    sent = (r->upstream != NULL && r->upstream->request_sent);

    ngx_memzero(&j, sizeof(yibao_journal_t));

    if (sent && yibao_infno_lost_unknown(ctx->infno.data, ctx->infno.len)) {
        ngx_http_yibao_journal_fill(ctx, &j, YIBAO_JOURNAL_UNKNOWN);
        ngx_str_set(&j.reason, "the caller closed its connection after "
                    "the transaction was sent and the exchange with the "
                    "platform was cut: the outcome is unknown");
        ctx->gwerr = YIBAO_GWERR_OUTCOME_UNKNOWN;

    } else {
        ngx_http_yibao_journal_fill(ctx, &j, YIBAO_JOURNAL_FAILED);
        ngx_str_set(&j.resolved_by, "gateway");

        ctx->gwerr = YIBAO_GWERR_CALLER_GONE;

        if (sent) {
            ngx_str_set(&j.reason, "the caller closed its connection and "
                        "the answer was not waited for; this transaction "
                        "changes nothing on the platform");

        } else {
            ngx_str_set(&j.reason, "the caller closed its connection "
                        "before the transaction was sent: nothing was "
                        "sent");
        }
    }

    if (sent && r->upstream->conf != NULL
        && !r->upstream->conf->ignore_client_abort)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: msgid %V (infno %V): the caller left and "
                      "nginx cut the exchange with the platform, because "
                      "\"proxy_ignore_client_abort\" is off in this "
                      "location; turn it on so that the answer is "
                      "journaled", &ctx->msgid, &ctx->infno);
    }

    tp = ngx_timeofday();
    j.done_ms = (uint64_t) tp->sec * 1000 + tp->msec;

    ngx_http_yibao_journal_write(r, ctx, &j);

    return NGX_OK;
}


/*
 * Every worker looks for the exchanges of workers that died, at its
 * start (a worker that died is replaced at once) and every second.
 */

ngx_int_t
ngx_http_yibao_journal_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                 *ev;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->journal_ttl == 0 || gmcf->shm_zone == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ev = &ngx_http_yibao_journal_orphan_ev;
    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_yibao_journal_orphans;
    ev->log = cycle->log;
    ev->data = gmcf;
    ev->cancelable = 1;

    ngx_post_event(ev, &ngx_posted_events);

    return NGX_OK;
}


/*
 * The records of a dead worker's exchanges, completed as if their
 * answers were lost: "unknown" where the effect cannot be known (then
 * the resolver takes them), "failed" otherwise.
 */

static void
ngx_http_yibao_journal_orphans(ngx_event_t *ev)
{
    ngx_str_t                    value;
    ngx_uint_t                   i, unknown;
    ngx_time_t                  *tp;
    ngx_pool_t                  *pool;
    ngx_array_t                  out;
    yibao_str_t                  rendered;
    yibao_alloc_t                a;
    yibao_journal_t              j;
    ngx_http_yibao_orphan_t     *o;

    if (ngx_terminate || ngx_exiting || ngx_quit) {
        return;
    }

    pool = ngx_create_pool(4096, ev->log);

    if (pool == NULL
        || ngx_array_init(&out, pool, 4, sizeof(ngx_http_yibao_orphan_t))
           != NGX_OK)
    {
        goto next;
    }

    (void) ngx_http_yibao_store_inflight_orphans(pool, &out);

    o = out.elts;
    ngx_http_yibao_alloc_init(&a, pool);

    for (i = 0; i < out.nelts; i++) {

        if (yibao_journal_parse(o[i].value.data, o[i].value.len, &a, &j)
            != YIBAO_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "yibao: journal record %V of dead worker %P is "
                          "unreadable", &o[i].key, o[i].pid);
            continue;
        }

        unknown = yibao_infno_lost_unknown(j.infno.data, j.infno.len);

        tp = ngx_timeofday();
        j.done_ms = (uint64_t) tp->sec * 1000 + tp->msec;

        if (unknown) {
            j.state = YIBAO_JOURNAL_UNKNOWN;
            ngx_str_set(&j.reason, "the worker process that held the "
                        "exchange with the platform died: the outcome is "
                        "unknown");

        } else {
            j.state = YIBAO_JOURNAL_FAILED;
            ngx_str_set(&j.resolved_by, "gateway");
            ngx_str_set(&j.reason, "the worker process that held the "
                        "exchange with the platform died; this transaction "
                        "changes nothing on the platform");
        }

        if (yibao_journal_render(&j, &a, &rendered) != YIBAO_OK) {
            continue;
        }

        value.data = (u_char *) rendered.data;
        value.len = rendered.len;

        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "yibao: journal caller \"%*s\" msgid %*s upstream %*s "
                      "infno %*s state %s: taken over from worker process "
                      "%P, which died during the exchange",
                      j.caller.len, j.caller.data, j.msgid.len, j.msgid.data,
                      j.upstream_msgid.len, j.upstream_msgid.data,
                      j.infno.len, j.infno.data,
                      yibao_journal_state_name(j.state), o[i].pid);

        ngx_http_yibao_store_journal_update(&j, &o[i].key, &value,
                                            o[i].local, pool, ev->log);
    }

next:

    if (pool != NULL) {
        ngx_destroy_pool(pool);
    }

    ngx_add_timer(ev, NGX_HTTP_YIBAO_JOURNAL_ORPHAN_TICK);
}


ngx_int_t
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
    ngx_int_t                      rc;
    ngx_str_t                      key;
    yibao_str_t                    om;
    ngx_http_yibao_store_res_t     res;
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

    jr = ngx_palloc(r->pool, sizeof(ngx_http_yibao_journal_req_t));
    if (jr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    jr->r = r;
    jr->ctx = ctx;

    rc = ngx_http_yibao_store_journal_get(r, ctx, &key,
                                          (ctx->journal_local
                                           || ngx_http_yibao_store_state()
                                              == NGX_HTTP_YIBAO_STORE_DOWN)
                                          ? NGX_HTTP_YIBAO_STORE_HERE : 0,
                                          &res,
                                          ngx_http_yibao_journal_omsgid_reply,
                                          jr);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_OK && res.status == NGX_HTTP_YIBAO_STORE_FOUND) {
        ngx_http_yibao_journal_omsgid_apply(r, ctx, res.value.data,
                                            res.value.len);
    }

    return NGX_OK;
}


static void
ngx_http_yibao_journal_omsgid_reply(void *data,
    ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_journal_req_t *jr = data;

    if (res->status == NGX_HTTP_YIBAO_STORE_FOUND) {
        ngx_http_yibao_journal_omsgid_apply(jr->r, jr->ctx, res->value.data,
                                            res->value.len);
    }

    jr->ctx->resume(jr->r, jr->ctx, NGX_OK);
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
