/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"
#include "ngx_http_yibao_status_hooks.h"
#include "yibao_resolve.h"


/*
 * A money-moving msgid the journal does not know, while its store
 * (Redis) cannot vouch for its records (adapters/yibao_forget.h): the
 * msgid may have been sent and done before the store forgot it.  Before
 * it is claimed and sent, the platform is asked (5203, through
 * yibao_platform) whether the visit is settled:
 *
 *   not settled (or reversed)   it is claimed, and sent;
 *   settled by it               it is not sent: the settlement is the
 *                               answer (a replay, resolved by 5203),
 *                               and the record is claimed as "ok";
 *   settled otherwise           it is not sent (YB5103);
 *   no answer, no platform      it is not sent (YB5102), nothing kept:
 *                               a retry is checked again.
 */


typedef struct {
    ngx_http_request_t        *r;         /* NULL: the request is gone */
    ngx_http_yibao_ctx_t      *ctx;
    ngx_pool_cleanup_t        *cln;
    yibao_journal_t            j;
} ngx_http_yibao_forget_t;


static void ngx_http_yibao_forget_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans);
static ngx_int_t ngx_http_yibao_forget_settled(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_t *j, ngx_str_t *body,
    yibao_resolve_result_t *res);
static ngx_int_t ngx_http_yibao_forget_refuse(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_uint_t gwerr, const char *why);
static void ngx_http_yibao_forget_cleanup(void *data);


/*
 * A step of the request before its journal claim, when the claim found
 * the store unable to vouch for this msgid (ctx->journal_check).
 * NGX_AGAIN: the 5203 is under way, and its answer resumes the request
 * through ctx->resume: NGX_OK, and the caller claims the msgid again,
 * to send it (ctx->forget_checked) or as resolved by the settlement
 * (ctx->forget_record, its answer served as a replay), or an HTTP
 * status (refused); otherwise an HTTP status (refused).
 */

ngx_int_t
ngx_http_yibao_forget_check(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    infno, msgid;
    const char                  *error;
    ngx_pool_cleanup_t          *cln;
    ngx_http_yibao_forget_t     *fc;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->platform == NULL) {
        return ngx_http_yibao_forget_refuse(r, ctx,
                                            YIBAO_GWERR_JOURNAL_FORGOTTEN,
                                            NULL);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    fc = ngx_alloc(sizeof(ngx_http_yibao_forget_t), r->connection->log);

    if (cln == NULL || fc == NULL) {
        if (fc != NULL) {
            ngx_free(fc);
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(fc, sizeof(ngx_http_yibao_forget_t));
    fc->r = r;
    fc->ctx = ctx;
    fc->cln = cln;

    /* the request as a record: what a 5203 for it needs */

    ngx_http_yibao_journal_fill(ctx, &fc->j, YIBAO_JOURNAL_SENT);

    error = NULL;

    /* built in the request's pool: the platform client copies it */

    rc = ngx_http_yibao_resolve_send(&fc->j, YIBAO_RESOLVE_QUERY, r->pool,
                                     &infno, &msgid,
                                     ngx_http_yibao_forget_answer, fc,
                                     &error);

    if (rc != NGX_OK) {
        ngx_free(fc);

        return ngx_http_yibao_forget_refuse(r, ctx,
                                            YIBAO_GWERR_JOURNAL_FORGOTTEN,
                                            error ? error : "no 5203");
    }

    cln->handler = ngx_http_yibao_forget_cleanup;
    cln->data = fc;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: journal caller \"%V\" msgid %V infno %V is not "
                  "known to the journal, whose store lost its records: "
                  "asking the platform first (5203, msgid %V)",
                  &ctx->caller, &ctx->msgid, &ctx->infno, &msgid);

    return NGX_AGAIN;
}


static void
ngx_http_yibao_forget_cleanup(void *data)
{
    ngx_http_yibao_forget_t *fc = data;

    fc->r = NULL;
}


static void
ngx_http_yibao_forget_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans)
{
    ngx_http_yibao_forget_t *fc = data;

    u_char                  *p;
    ngx_int_t                rc;
    ngx_str_t                body;
    yibao_alloc_t            a;
    ngx_http_request_t      *r;
    ngx_http_yibao_ctx_t    *ctx;
    yibao_resolve_result_t   res;

    r = fc->r;
    ctx = fc->ctx;

    if (r == NULL) {
        /* the caller went away: nothing was claimed, nothing is sent */
        ngx_free(fc);
        return;
    }

    fc->cln->handler = NULL;

    if (ans->error != NULL || ans->status != NGX_HTTP_OK) {
        p = ngx_pnalloc(r->pool, 80);
        if (p != NULL) {
            *ngx_snprintf(p, 79, "the platform answered HTTP %ui",
                          ans->status) = '\0';
        }

        rc = ngx_http_yibao_forget_refuse(r, ctx,
                                          YIBAO_GWERR_JOURNAL_FORGOTTEN,
                                          ans->error ? ans->error
                                          : (p ? (char *) p : "HTTP error"));
        goto done;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_resolve_forgotten(&fc->j, ctx->env.doc, ans->body.data,
                                ans->body.len, &a, &res)
        != YIBAO_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    /* a platform's message may quote the person's number */

    yibao_resolve_mask(res.reason, &fc->j.psn_no);

    switch (res.outcome) {

    case YIBAO_RESOLVE_FAILED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yibao: journal caller \"%V\" msgid %V infno %V: %s: "
                      "sent", &ctx->caller, &ctx->msgid, &ctx->infno,
                      res.reason);

        ngx_http_yibao_status_check(YIBAO_STATUS_CHECK_NOT_SETTLED);

        ctx->forget_checked = 1;
        rc = NGX_OK;
        break;

    case YIBAO_RESOLVE_OK:
        body = ans->body;
        rc = ngx_http_yibao_forget_settled(r, ctx, &fc->j, &body, &res);
        break;

    case YIBAO_RESOLVE_OTHER:
        rc = ngx_http_yibao_forget_refuse(r, ctx, YIBAO_GWERR_VISIT_SETTLED,
                                          res.reason);
        break;

    default:
        rc = ngx_http_yibao_forget_refuse(r, ctx,
                                          YIBAO_GWERR_JOURNAL_FORGOTTEN,
                                          res.reason);
        break;
    }

done:

    ngx_free(fc);

    ctx->resume(r, ctx, rc);
}


/*
 * The visit is settled by this msgid: it is not sent.  Its record, to be
 * claimed as "ok" (resolved by 5203, under the msgid the platform
 * received), whose answer is the settlement, served as a replay.
 */

static ngx_int_t
ngx_http_yibao_forget_settled(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_journal_t *from, ngx_str_t *body, yibao_resolve_result_t *res)
{
    size_t            len;
    ngx_time_t       *tp;
    yibao_alloc_t     a;
    yibao_journal_t  *j;

    j = ngx_palloc(r->pool, sizeof(yibao_journal_t));
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *j = *from;

    if (res->platform_msgid.len) {
        j->upstream_msgid = res->platform_msgid;
    }

    if (ngx_http_yibao_resolve_caller_answer(j, body, r->pool) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    /* a 2207's amounts, for the reconciliation totals */

    if (yibao_resolve_outputs(j, body->data, body->len, &a) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();

    j->state = YIBAO_JOURNAL_OK;
    j->setl_id = res->setl_id;
    j->done_ms = (uint64_t) tp->sec * 1000 + tp->msec;
    j->resolved_ms = j->done_ms;
    j->resolved_by.data = (u_char *) "gateway:5203";
    j->resolved_by.len = sizeof("gateway:5203") - 1;

    len = ngx_strlen(res->reason);

    j->reason.data = ngx_pnalloc(r->pool, len + 1);
    if (j->reason.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy((u_char *) j->reason.data, res->reason, len + 1);
    j->reason.len = len;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "yibao: journal caller \"%V\" msgid %V infno %V not sent: "
                  "the journal's store lost its records, and %s: answered "
                  "as resolved", &ctx->caller, &ctx->msgid, &ctx->infno,
                  res->reason);

    ngx_http_yibao_status_check(YIBAO_STATUS_CHECK_SETTLED);

    ctx->upstream_msgid.data = (u_char *) j->upstream_msgid.data;
    ctx->upstream_msgid.len = j->upstream_msgid.len;
    ctx->forget_record = j;

    return NGX_OK;
}


/*
 * Not sent, and nothing kept: YB5102 (the store lost its records and
 * the msgid could not be checked: why, or no yibao_platform) or YB5103
 * (the visit is settled otherwise: why).
 */

static ngx_int_t
ngx_http_yibao_forget_refuse(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_uint_t gwerr, const char *why)
{
    u_char    at[32], until[32];
    uint64_t  lost;

    *ngx_http_yibao_time_text(until, ngx_http_yibao_store_forgotten(&lost))
        = '\0';
    *ngx_http_yibao_time_text(at, lost) = '\0';

    if (gwerr == YIBAO_GWERR_VISIT_SETTLED) {
        ngx_http_yibao_status_check(YIBAO_STATUS_CHECK_OTHER);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: journal caller \"%V\" msgid %V infno %V "
                      "refused: the journal's store lost its records, and "
                      "%s", &ctx->caller, &ctx->msgid, &ctx->infno, why);

        ngx_http_yibao_reject(r, ctx, gwerr,
                              "the journal's store (Redis) lost its records "
                              "at %s, so it cannot tell whether msgid %V "
                              "(infno %V) was already done, and the "
                              "platform shows the visit settled otherwise "
                              "(%s): it is not sent, so that the visit is "
                              "never settled twice; nothing happened. Check "
                              "the visit's settlements before settling it "
                              "again", at, &ctx->msgid, &ctx->infno, why);

        return yibao_gwerr_find(gwerr)->http_status;
    }

    ngx_http_yibao_status_check(YIBAO_STATUS_CHECK_FAILED);

    if (why == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: journal caller \"%V\" msgid %V infno %V "
                      "refused: the journal's store lost its records and "
                      "there is no yibao_platform to check it with (5203)",
                      &ctx->caller, &ctx->msgid, &ctx->infno);

        ngx_http_yibao_reject(r, ctx, gwerr,
                              "the journal's store (Redis) lost its records "
                              "at %s; until %s the gateway cannot tell "
                              "whether a money-moving msgid it does not know "
                              "was already done, and it has no "
                              "yibao_platform to ask (5203): msgid %V (infno "
                              "%V) is not sent, so that it is never done "
                              "twice; nothing happened. An operator ends "
                              "this after checking with the platform", at,
                              until, &ctx->msgid, &ctx->infno);

        return yibao_gwerr_find(gwerr)->http_status;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "yibao: journal caller \"%V\" msgid %V infno %V refused: "
                  "the journal's store lost its records and the platform "
                  "could not tell whether it was done: %s", &ctx->caller,
                  &ctx->msgid, &ctx->infno, why);

    ngx_http_yibao_reject(r, ctx, gwerr,
                          "the journal's store (Redis) lost its records at "
                          "%s, so msgid %V (infno %V), which it does not "
                          "know, is checked with the platform (5203) before "
                          "it is sent, and the check failed: %s; it is not "
                          "sent; nothing happened, retry later", at,
                          &ctx->msgid, &ctx->infno, why);
    ctx->retry_after = 5;

    return yibao_gwerr_find(gwerr)->http_status;
}
