/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"


/*
 * Everything a gateway location answers is a national envelope.  The
 * header filter:
 *
 *   - renders the envelope of a rejection recorded by the handler, or of
 *     an error nginx raised itself (413 from client_max_body_size, 502
 *     when the platform is unreachable, 504 on its timeout, ...);
 *   - lets a platform file download (application/octet-stream) through;
 *   - otherwise holds the header back: the body filter collects the
 *     platform's answer, checks that it is an envelope, gives the caller
 *     its own msgid back, and only then sends header and body.
 */


static ngx_int_t ngx_http_yibao_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_replay_header(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_platform_failure(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_yibao_answer(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_answer_stale(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_answer_inspect(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans, void **doc,
    yibao_fields_t *found);
static ngx_int_t ngx_http_yibao_answer_failed(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans);
static ngx_int_t ngx_http_yibao_answer_learn(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans, yibao_fields_t *found);
static ngx_int_t ngx_http_yibao_answer_rewrite(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans, void **doc, u_char **p,
    size_t *n);
static ngx_int_t ngx_http_yibao_collect(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_chain_t *in, ngx_uint_t *last);
static ngx_uint_t ngx_http_yibao_upstream_broke(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_yibao_classify(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_error_output(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_uint_t send_body);
static ngx_uint_t ngx_http_yibao_journal_lost(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_send_body(ngx_http_request_t *r,
    u_char *data, size_t len);
static ngx_int_t ngx_http_yibao_msgid_headers(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_consume(ngx_chain_t *in);
static ngx_int_t ngx_http_yibao_answer_parse(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans, void **doc);
static void ngx_http_yibao_answer_cleanup(void *data);


ngx_str_t  ngx_http_yibao_cache_names[] = {
    ngx_null_string,
    ngx_string("MISS"),
    ngx_string("HIT"),
    ngx_string("EXPIRED"),
    ngx_string("STALE"),
    ngx_string("BYPASS")
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_yibao_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_yibao_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_yibao_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                  *type;
    ngx_http_yibao_ctx_t       *ctx;
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    if (!glcf->enable || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_yibao_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (!ctx->journal_repeat
        && (r->upstream == NULL || !r->upstream->request_sent))
    {
        /*
         * Refused before anything reached the platform: the msgid issued
         * for it was never sent, so neither the caller nor the log (nor
         * the journal record) is told of it.  A repeat names the msgid of
         * its journal record.
         */

        ngx_str_null(&ctx->upstream_msgid);
    }

    if (ctx->replay && ctx->gwerr == 0) {
        return ngx_http_yibao_replay_header(r, ctx);
    }

    ngx_http_yibao_platform_failure(r, ctx);

    if (ctx->gwerr) {
        return ngx_http_yibao_error_output(r, ctx, 0);
    }

    type = &r->headers_out.content_type;

    if (r->headers_out.status == NGX_HTTP_OK
        && type->len >= 24
        && ngx_strncasecmp(type->data, (u_char *) "application/octet-stream",
                           24) == 0)
    {
        ctx->passthrough = 1;

        if (ngx_http_yibao_msgid_headers(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_next_header_filter(r);
    }

    if (r->header_only) {
        ctx->gwerr = YIBAO_GWERR_UPSTREAM_NOT_ENVELOPE;
        ctx->detail = "platform answered without a body";
        return ngx_http_yibao_error_output(r, ctx, 0);
    }

    ctx->header_delayed = 1;
    r->filter_need_in_memory = 1;

    return NGX_OK;
}


/* A repeat answered from the journal: its answer, marked, goes as is. */

static ngx_int_t
ngx_http_yibao_replay_header(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    /* the journal's answer, already in the caller's terms */

    ctx->passthrough = 1;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL || ngx_http_yibao_msgid_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Yibao-Replay");
    ngx_str_set(&h->value, "1");

    if (ctx->resolved_by.len) {
        /* the answer the resolver found after the outcome was lost */

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Yibao-Resolved");
        h->value = ctx->resolved_by;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * What the platform's failure is: its connection not kept after an
 * answer other than 200, a transport failure classified (ctx->gwerr),
 * and a stale cached answer put in the place of a failure.
 */

static void
ngx_http_yibao_platform_failure(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    if (r->upstream && r->upstream->headers_in.status_n
        && r->upstream->headers_in.status_n != NGX_HTTP_OK)
    {
        /*
         * the platform did not answer 200: its connection is not kept
         * for another request (a broken platform may send a body where
         * the status allows none, 204 or 304, and the next answer read
         * on that connection would begin with it).  The proxy module
         * decides u->keepalive after this filter, from connection_close
         * (its input filters), so that is what is set.
         */

        r->upstream->headers_in.connection_close = 1;
        r->upstream->keepalive = 0;
    }

    if (ctx->gwerr == 0 && r->headers_out.status >= NGX_HTTP_BAD_REQUEST
        && (r->upstream == NULL || r->upstream->headers_in.status_n == 0))
    {
        ngx_http_yibao_classify(r, ctx);
    }

    /* what the exchange shows of the platform (yibao_outage) */

    ngx_http_yibao_outage_seen(r, ctx);

    if (ctx->gwerr >= YIBAO_GWERR_UPSTREAM_UNREACHABLE
        && ctx->gwerr <= YIBAO_GWERR_UPSTREAM_TOO_LARGE
        && ctx->cache_stale.len)
    {
        /* the platform fails: the stale answer, marked, in its place */

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: infno %V: %s; serving the stale cached answer",
                      &ctx->infno, ctx->detail);

        ctx->gwerr = 0;
        ctx->detail = NULL;
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_STALE;
        ctx->stale_swap = 1;
        r->headers_out.status = NGX_HTTP_OK;
    }
}


static ngx_int_t
ngx_http_yibao_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t              rc;
    ngx_uint_t             last;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    if (ctx == NULL || r != r->main || ctx->passthrough) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->response_done) {
        ngx_http_yibao_consume(in);
        return NGX_OK;
    }

    if (ctx->gwerr && !ctx->header_delayed) {
        /* the envelope of a rejection: its header is already out */
        ngx_http_yibao_consume(in);
        ctx->response_done = 1;

        return ngx_http_yibao_send_body(r, ctx->resp, ctx->resp_len);
    }

    if (!ctx->header_delayed) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    rc = ngx_http_yibao_collect(r, ctx, in, &last);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* too large or not in memory: refuse it now, drop the rest */
        ctx->response_done = 1;
        return ngx_http_yibao_error_output(r, ctx, 1);
    }

    if (!last) {
        if (ngx_http_yibao_upstream_broke(r, in)) {
            ctx->response_done = 1;

            if (ctx->cache_stale.len) {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "yibao: infno %V: platform's answer broke "
                              "off after its header; serving the stale "
                              "cached answer", &ctx->infno);

                ngx_http_yibao_answer_stale(r, ctx);

                return ngx_http_yibao_answer(r, ctx);
            }

            ctx->gwerr = YIBAO_GWERR_UPSTREAM_NOT_ENVELOPE;
            ctx->detail = "platform's answer broke off after its header "
                          "(connection closed, reset or timed out)";

            return ngx_http_yibao_error_output(r, ctx, 1);
        }

        return NGX_OK;
    }

    ctx->response_done = 1;

    return ngx_http_yibao_answer(r, ctx);
}


/*
 * The upstream module ends a request whose answer broke off after its
 * header (the platform closed the connection, a read error or timeout)
 * with a flush and then closes the client's connection: the header we
 * hold back was never sent, so the caller would see a connection closed
 * without an answer.  Recognised by the flush arriving when the upstream
 * connection is already gone; a complete answer ends with last_buf.
 */

static ngx_uint_t
ngx_http_yibao_upstream_broke(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    if (r->upstream == NULL || r->upstream->peer.connection != NULL) {
        return 0;
    }

    for (cl = in; cl != NULL; cl = cl->next) {
        if (cl->buf->flush) {
            return 1;
        }
    }

    return 0;
}


/*
 * Appends the buffers of in to ctx->resp.  NGX_DECLINED (with
 * ctx->gwerr set) when the answer exceeds yibao_response_max or was
 * spilled to a temporary file.
 */

static ngx_int_t
ngx_http_yibao_collect(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_chain_t *in, ngx_uint_t *last)
{
    size_t                      size, need;
    u_char                     *p;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl;
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    for (cl = in; cl != NULL; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            *last = 1;
        }

        if (b->in_file && !ngx_buf_in_memory(b)) {
            ngx_http_yibao_consume(in);
            ctx->gwerr = YIBAO_GWERR_UPSTREAM_TOO_LARGE;
            ctx->detail = "platform answer did not fit in memory "
                          "(set proxy_max_temp_file_size 0)";
            return NGX_DECLINED;
        }

        size = b->last - b->pos;

        if (size == 0) {
            continue;
        }

        need = ctx->resp_len + size;

        if (need > glcf->response_max) {
            ngx_http_yibao_consume(in);
            ctx->gwerr = YIBAO_GWERR_UPSTREAM_TOO_LARGE;
            ctx->detail = "platform answer exceeds yibao_response_max";
            return NGX_DECLINED;
        }

        if (need > ctx->resp_size) {
            ctx->resp_size = ngx_max(need, ngx_max(2 * ctx->resp_size, 4096));

            p = ngx_pnalloc(r->pool, ctx->resp_size);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (ctx->resp_len) {
                ngx_memcpy(p, ctx->resp, ctx->resp_len);
            }

            ctx->resp = p;
        }

        ngx_memcpy(ctx->resp + ctx->resp_len, b->pos, size);
        ctx->resp_len += size;
        b->pos = b->last;
    }

    return NGX_OK;
}


/*
 * The platform's whole answer (or a cached one), before the caller gets
 * it: inspected; a failure is answered with its error envelope, or with
 * the stale cached answer while there is one; then the ids and the
 * message for the log, the journal, the cache and the sign-in learn it,
 * and it is rewritten for the caller (answer rules, the caller's msgid).
 */

static ngx_int_t
ngx_http_yibao_answer(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    u_char          *p;
    void            *doc;
    size_t           n;
    ngx_int_t        rc;
    yibao_answer_t   ans;
    yibao_fields_t   found;

    if (ctx->stale_swap) {
        /* the header filter chose the stale answer already */
        ngx_http_yibao_answer_stale(r, ctx);
    }

    for ( ;; ) {
        if (ngx_http_yibao_answer_inspect(r, ctx, &ans, &doc, &found)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (r->headers_out.status == NGX_HTTP_OK && ans.is_envelope) {
            break;
        }

        if (ctx->cache_stale.len == 0 || ctx->stale_swap) {
            return ngx_http_yibao_answer_failed(r, ctx, &ans);
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: infno %V: platform answered HTTP %ui: %s; "
                      "serving the stale cached answer", &ctx->infno,
                      r->headers_out.status, ans.summary);

        ngx_http_yibao_answer_stale(r, ctx);
    }

    if (ngx_http_yibao_answer_learn(r, ctx, &ans, &found) != NGX_OK
        || ngx_http_yibao_answer_rewrite(r, ctx, &ans, &doc, &p, &n)
           != NGX_OK
        || ngx_http_yibao_audit_answer(r, ctx, doc, &p, &n) != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.content_length_n = n;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    if (ngx_http_yibao_msgid_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!ctx->cache_serve && ctx->infcode_set && ctx->infcode == 0) {
        ngx_http_yibao_signin_learn(r, ctx, p, n);

        if (yibao_key_activates(ctx->infno.data, ctx->infno.len)) {
            ngx_http_yibao_key_activated(ctx->signer, r->pool,
                                         r->connection->log);
        }
    }

    if (!ctx->cache_serve) {
        ngx_http_yibao_journal_complete(r, ctx,
                                        ctx->infcode == 0
                                        ? YIBAO_JOURNAL_OK
                                        : YIBAO_JOURNAL_FAILED,
                                        NULL, p, n);
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_yibao_send_body(r, p, n);
}


/* The platform failed: its stale cached answer goes out instead (once
 * or again: the same). */

static void
ngx_http_yibao_answer_stale(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ctx->stale_swap = 1;
    ctx->cache_status = NGX_HTTP_YIBAO_CACHE_STALE;

    ctx->resp = ctx->cache_stale.data;
    ctx->resp_len = ctx->cache_stale.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;
    ngx_str_set(&r->headers_out.content_type,
                "application/json;charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
}


/*
 * What the answer is (ans), its parsed tree (*doc, or NULL) and the ids
 * the log takes from it (found).
 */

static ngx_int_t
ngx_http_yibao_answer_inspect(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans, void **doc,
    yibao_fields_t *found)
{
    yibao_alloc_t  a;

    ngx_memzero(found, sizeof(yibao_fields_t));

    if (ctx->cache_serve && ctx->cache_has_fields && !ctx->stale_swap) {
        /* a cached answer with the ids of the log stored beside it: an
         * envelope with infcode 0 (nothing else is stored), not parsed
         * unless answer rules apply to it */

        ngx_memzero(ans, sizeof(yibao_answer_t));
        ans->is_json = 1;
        ans->is_envelope = 1;
        *found = ctx->cache_fields;
        *doc = NULL;
        return NGX_OK;
    }

    /* parsed once: inspected, searched for the ids of the log, and
     * translated; released with the request */

    if (ngx_http_yibao_answer_parse(r, ctx, ans, doc) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (*doc != NULL && yibao_fields_find(*doc, found, &a) != YIBAO_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* An HTTP error or not an envelope: the caller gets the gateway's error. */

static ngx_int_t
ngx_http_yibao_answer_failed(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_answer_t *ans)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, YIBAO_ERR_MSG_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (r->headers_out.status != NGX_HTTP_OK) {
        ctx->gwerr = YIBAO_GWERR_UPSTREAM_STATUS;
        *ngx_snprintf(p, YIBAO_ERR_MSG_LEN - 1,
                      "platform answered HTTP %ui: %s",
                      r->headers_out.status, ans->summary) = '\0';

    } else {
        ctx->gwerr = YIBAO_GWERR_UPSTREAM_NOT_ENVELOPE;
        *ngx_snprintf(p, YIBAO_ERR_MSG_LEN - 1,
                      "platform answer is not a national envelope: %s",
                      ans->summary) = '\0';
    }

    ctx->detail = (char *) p;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "yibao: infno %V entity %V: %s", &ctx->infno,
                  &ctx->entity, p);

    return ngx_http_yibao_error_output(r, ctx, 1);
}


/*
 * An envelope: its infcode; a fresh success goes into the cache; the ids
 * (where the request had none) and the platform's message, masked, for
 * the log.
 */

static ngx_int_t
ngx_http_yibao_answer_learn(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_answer_t *ans, yibao_fields_t *found)
{
    size_t  n;

    ctx->infcode = ans->infcode;
    ctx->infcode_set = 1;

    if (ans->infcode == 0 && !ctx->stale_swap) {
        ngx_http_yibao_cache_store(r, ctx, ctx->resp, ctx->resp_len, found);
    }

    if (ngx_http_yibao_keep_fields(r, ctx, found) != NGX_OK) {
        return NGX_ERROR;
    }

    n = ngx_strlen(ans->summary);

    if (ans->infcode != 0 && n) {
        ctx->platform_msg.data = ngx_pnalloc(r->pool, n);
        if (ctx->platform_msg.data == NULL) {
            return NGX_ERROR;
        }

        /* masked again: with the name the answer carries, if any */
        ngx_memcpy(ctx->platform_msg.data, ans->summary, n);
        ngx_http_yibao_mask_personal(ctx, ctx->platform_msg.data, n);
        ctx->platform_msg.len = n;
    }

    return NGX_OK;
}


/*
 * The bytes the caller gets (*p, *n): the answer with the answer rules
 * of the translation applied, and the caller's own msgid where the
 * platform names the gateway's.
 */

static ngx_int_t
ngx_http_yibao_answer_rewrite(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_answer_t *ans, void **doc, u_char **p,
    size_t *n)
{
    yibao_str_t                  from, to, out;
    yibao_alloc_t                a;
    yibao_map_scope_t            scope;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    *p = ctx->resp;
    *n = ctx->resp_len;

    ngx_http_yibao_alloc_init(&a, r->pool);

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (glcf->translate && ctx->registry_clinic != NULL) {
        ngx_http_yibao_map_scope(ctx->registry_clinic, &scope);

        from.data = ctx->infno.data;
        from.len = ctx->infno.len;

        if (*doc == NULL
            && yibao_translate_answer_rules(&from, gmcf->rules, gmcf->map)
            && ngx_http_yibao_answer_parse(r, ctx, ans, doc) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (yibao_translate_answer_doc(*doc, *p, *n, &from, gmcf->rules,
                                       gmcf->map, &scope, &a, &out)
            == YIBAO_ERR_NOMEM)
        {
            return NGX_ERROR;
        }

        *p = (u_char *) out.data;
        *n = out.len;
    }

    if (ctx->upstream_msgid.len && ctx->msgid.len
        && (ctx->upstream_msgid.len != ctx->msgid.len
            || ngx_strncmp(ctx->upstream_msgid.data, ctx->msgid.data,
                           ctx->msgid.len) != 0))
    {
        from.data = ctx->upstream_msgid.data;
        from.len = ctx->upstream_msgid.len;
        to.data = ctx->msgid.data;
        to.len = ctx->msgid.len;

        if (yibao_answer_replace_token(*p, *n, &from, &to, &a, &out, n)
            != YIBAO_OK)
        {
            return NGX_ERROR;
        }

        *p = (u_char *) out.data;
        *n = out.len;
    }

    return NGX_OK;
}


/*
 * An error status that nginx raised itself, before or instead of the
 * platform's answer, mapped to its gateway error.
 */

static void
ngx_http_yibao_classify(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    u_char  *p;

    switch (r->headers_out.status) {

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        ctx->gwerr = YIBAO_GWERR_BODY_TOO_LARGE;
        ctx->detail = "request body exceeds client_max_body_size";
        return;

    case NGX_HTTP_BAD_GATEWAY:
        ctx->gwerr = YIBAO_GWERR_UPSTREAM_UNREACHABLE;
        ctx->detail = "platform could not be reached (connection refused "
                      "or reset, or an invalid HTTP answer); the request "
                      "may not have been received";
        return;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        ctx->gwerr = YIBAO_GWERR_UPSTREAM_TIMEOUT;
        ctx->detail = "platform did not answer in time; the outcome is "
                      "unknown";
        return;

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_REQUEST_TIME_OUT:
        ctx->gwerr = YIBAO_GWERR_BAD_REQUEST;
        ctx->detail = "malformed or incomplete HTTP request";
        return;

    default:
        ctx->gwerr = YIBAO_GWERR_INTERNAL;

        p = ngx_pnalloc(r->pool, 64);
        if (p == NULL) {
            ctx->detail = NULL;
            return;
        }

        *ngx_snprintf(p, 63, "gateway error, HTTP %ui",
                      r->headers_out.status) = '\0';
        ctx->detail = (char *) p;
        return;
    }
}


/*
 * Was a journaled transaction sent and its answer lost (a timeout, a
 * connection lost after sending, a 5xx or a non-envelope answer)?  Then
 * the outcome of one whose effect cannot be known from here (its class,
 * yibao_infno_lost_unknown()) is unknown: for a money-moving one the
 * caller is told so (YB6010), never that it failed.  The others fail
 * plainly with the transport's error, which the caller may retry.
 */

static ngx_uint_t
ngx_http_yibao_journal_lost(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    u_char  *p;

    if (ctx->journal_state != YIBAO_JOURNAL_SENT || ctx->journal_repeat
        || ctx->gwerr < YIBAO_GWERR_UPSTREAM_UNREACHABLE
        || ctx->gwerr > YIBAO_GWERR_UPSTREAM_TOO_LARGE
        || r->upstream == NULL || !r->upstream->request_sent
        || !yibao_infno_lost_unknown(ctx->infno.data, ctx->infno.len))
    {
        return 0;
    }

    if (!yibao_infno_money(ctx->infno.data, ctx->infno.len)) {
        return 1;
    }

    p = ngx_pnalloc(r->pool, YIBAO_ERR_MSG_LEN);
    if (p == NULL) {
        return 1;
    }

    *ngx_snprintf(p, YIBAO_ERR_MSG_LEN - 1,
                  "infno %V msgid %V was sent to the platform (as %V) but "
                  "its answer was lost (%s): the outcome is UNKNOWN. Do not "
                  "send a new one: the gateway keeps it as unknown in its "
                  "journal until it is resolved by a settlement query "
                  "(5203) or a reversal (2601); this msgid is never sent "
                  "again", &ctx->infno, &ctx->msgid, &ctx->upstream_msgid,
                  yibao_gwerr_find(ctx->gwerr)->name) = '\0';

    ctx->gwerr = YIBAO_GWERR_OUTCOME_UNKNOWN;
    ctx->detail = (char *) p;

    return 1;
}


/*
 * Sends the header of the error envelope for ctx->gwerr; with send_body
 * (the answer was held back) the body too, otherwise the body filter
 * sends it in place of nginx's error page.
 */

static ngx_int_t
ngx_http_yibao_error_output(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_uint_t send_body)
{
    ngx_int_t              rc;
    yibao_tm_t             tm;
    ngx_time_t            *tp;
    yibao_str_t            out;
    yibao_alloc_t          a;
    ngx_uint_t             unknown;
    const yibao_gwerr_t   *e;

    unknown = ngx_http_yibao_journal_lost(r, ctx);

    e = yibao_gwerr_find(ctx->gwerr);

    tp = ngx_timeofday();
    ngx_http_yibao_localtime((ngx_msec_t) tp->sec * 1000 + tp->msec, &tm);

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_envelope_error(e->code, ctx->detail, &tm, &a, &out)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    ctx->resp = (u_char *) out.data;
    ctx->resp_len = out.len;

    /* a refusal of the audit carries its findings */

    if (ngx_http_yibao_audit_error(r, ctx, &ctx->resp, &ctx->resp_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out.len = ctx->resp_len;
    ctx->header_delayed = send_body;

    /* a refusal is replayed as it is; a lost answer is not replayed */

    if (unknown) {
        ngx_http_yibao_journal_complete(r, ctx, YIBAO_JOURNAL_UNKNOWN,
                                        ctx->detail, NULL, 0);

    } else {
        ngx_http_yibao_journal_complete(r, ctx, YIBAO_JOURNAL_FAILED,
                                        ctx->detail, ctx->resp,
                                        ctx->resp_len);
    }

    if (e->code != YIBAO_GWERR_INTERNAL || r->headers_out.status < 400) {
        r->headers_out.status = e->http_status;
    }

    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = out.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (r->headers_out.content_encoding) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    ngx_str_set(&r->headers_out.content_type,
                "application/json;charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (ngx_http_yibao_msgid_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_next_header_filter(r);

    if (!send_body || rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_yibao_send_body(r, ctx->resp, ctx->resp_len);
}


static ngx_int_t
ngx_http_yibao_send_body(ngx_http_request_t *r, u_char *data, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = (len > 0);
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/*
 * X-Yibao-Msgid: the caller's msgid; X-Yibao-Upstream-Msgid: the one
 * sent; the rate-limit fields.
 */

static ngx_int_t
ngx_http_yibao_msgid_headers(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    if (ctx->msgid.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Yibao-Msgid");
        h->value = ctx->msgid;
    }

    if (ctx->upstream_msgid.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Yibao-Upstream-Msgid");
        h->value = ctx->upstream_msgid;
    }

    if (ctx->cache_status) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Yibao-Cache");
        h->value = ngx_http_yibao_cache_names[ctx->cache_status];
    }

    /* the IETF RateLimit fields of the tightest limit, and Retry-After */

    if (ctx->ratelimit_policy.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "RateLimit-Policy");
        h->value = ctx->ratelimit_policy;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "RateLimit");
        h->value = ctx->ratelimit;
    }

    if (ctx->retry_after && ctx->gwerr) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.len = ngx_sprintf(h->value.data, "%T", ctx->retry_after)
                       - h->value.data;
    }

    return NGX_OK;
}


static void
ngx_http_yibao_consume(ngx_chain_t *in)
{
    for ( /* void */ ; in != NULL; in = in->next) {
        in->buf->pos = in->buf->last;

        if (in->buf->in_file) {
            in->buf->file_pos = in->buf->file_last;
        }
    }
}


/* yibao_answer_parse() of ctx->resp; the tree is released with r */

static ngx_int_t
ngx_http_yibao_answer_parse(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_answer_t *ans, void **doc)
{
    int                  rc;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* the transaction's psn_no and name masked where the platform's
     * message quotes them (the summary is logged, and quoted in errors) */

    rc = yibao_answer_parse_masked(ctx->resp, ctx->resp_len, ctx->personal,
                                   2, ans, doc);

    cln->handler = ngx_http_yibao_answer_cleanup;
    cln->data = *doc;

    return rc == YIBAO_OK ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_yibao_answer_cleanup(void *data)
{
    yibao_answer_release(data);
}
