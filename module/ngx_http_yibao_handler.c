/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_auth.h"

#include <openssl/rand.h>


typedef struct {
    ngx_str_t                  caller;
    ngx_str_t                  timestamp;
    ngx_str_t                  nonce;
    ngx_str_t                  signature;
} ngx_http_yibao_auth_headers_t;


static void ngx_http_yibao_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_process(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_parse_envelope(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_str_t *body);
static ngx_int_t ngx_http_yibao_authorize(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, const yibao_caller_t *caller);
static ngx_int_t ngx_http_yibao_process_upstream(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_translate_lookup(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    const yibao_clinic_t *clinic);
static ngx_int_t ngx_http_yibao_identity(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, const yibao_clinic_t *clinic);
static ngx_int_t ngx_http_yibao_journal_step(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_make_request(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    const yibao_clinic_t *clinic);
static ngx_int_t ngx_http_yibao_content_type_ok(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_read_body(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_str_t *body);
static ngx_int_t ngx_http_yibao_authenticate(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_str_t *body,
    const yibao_caller_t **caller);
static void ngx_http_yibao_auth_headers(ngx_http_request_t *r,
    ngx_http_yibao_auth_headers_t *hdr);
static ngx_int_t ngx_http_yibao_auth_caller(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    ngx_http_yibao_auth_headers_t *hdr, ngx_str_t *cn,
    const yibao_caller_t **caller);
static ngx_int_t ngx_http_yibao_auth_verify(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    ngx_http_yibao_auth_headers_t *hdr, yibao_str_t *body,
    const yibao_caller_t *caller);
static ngx_int_t ngx_http_yibao_client_cert(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *cn);
static ngx_int_t ngx_http_yibao_route_uri(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf);
static ngx_int_t ngx_http_yibao_translate(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    const yibao_clinic_t *clinic);
static ngx_int_t ngx_http_yibao_issue_msgid(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, const yibao_clinic_t *clinic);
static ngx_int_t ngx_http_yibao_sign_request(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    const yibao_clinic_t *clinic, yibao_str_t *body,
    yibao_sign_out_t *out);
static ngx_int_t ngx_http_yibao_replace_request(ngx_http_request_t *r,
    ngx_http_yibao_loc_conf_t *glcf, yibao_str_t *body,
    yibao_sign_out_t *sign);
static ngx_int_t ngx_http_yibao_replace_body(ngx_http_request_t *r,
    yibao_str_t *body);
static ngx_int_t ngx_http_yibao_kept_headers(ngx_http_request_t *r,
    ngx_list_t *list);
static ngx_int_t ngx_http_yibao_push_header(ngx_http_request_t *r,
    ngx_list_t *list, u_char *name, size_t name_len, u_char *value,
    size_t value_len, ngx_table_elt_t **out);
static void ngx_http_yibao_env_cleanup(void *data);
static void ngx_http_yibao_resume(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_yibao_printable(u_char *dst, ngx_str_t *src,
    size_t max);


#define NGX_HTTP_YIBAO_ECHO_MAX  64


/* the headers of a caller's signature, by name */

static struct {
    ngx_str_t   name;
    size_t      offset;
} ngx_http_yibao_auth_names[] = {
    { ngx_string("X-Yibao-Caller"),
      offsetof(ngx_http_yibao_auth_headers_t, caller) },
    { ngx_string("X-Yibao-Timestamp"),
      offsetof(ngx_http_yibao_auth_headers_t, timestamp) },
    { ngx_string("X-Yibao-Nonce"),
      offsetof(ngx_http_yibao_auth_headers_t, nonce) },
    { ngx_string("X-Yibao-Signature"),
      offsetof(ngx_http_yibao_auth_headers_t, signature) }
};


ngx_int_t
ngx_http_yibao_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_yibao_ctx_t       *ctx;
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    if (!glcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_yibao_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->started) {

        if (ctx->status == NGX_HTTP_YIBAO_SERVE_CACHED) {
            ctx->status = NGX_DONE;
            ngx_http_finalize_request(r, ngx_http_yibao_cache_send(r, ctx));
            return NGX_DONE;
        }

        /* re-entered: NGX_DONE while the body is read, then the result */
        return ctx->status;
    }

    ctx->started = 1;

    /* what the store, cache, journal and sign-in call when they answer */
    ctx->resume = ngx_http_yibao_resume;

    /*
     * every error of the gateway's location is answered by the gateway
     * itself, as a national envelope (the header filter): an error_page
     * of the server (nginx.conf's for what nginx refuses before a
     * location is chosen) must not take it over
     */

    r->error_page = 1;

    if (r->method != NGX_HTTP_POST) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_METHOD,
                              "only POST is allowed");

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_yibao_content_type_ok(r) != NGX_OK) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_CONTENT_TYPE,
                              "Content-Type must be application/json or "
                              "text/plain");

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }

    ctx->status = NGX_DONE;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_yibao_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /* the post handler may already have run and the phases moved on */

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_yibao_body_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    rc = ngx_http_yibao_process(r, ctx);

    if (rc == NGX_AGAIN) {
        /*
         * Waiting for the store; ctx->status stays NGX_DONE.  A caller
         * that goes away meanwhile ends the request (its pool cleanup
         * drops the store's answer): nothing is sent for nobody.
         */
        r->read_event_handler = ngx_http_test_reading;
        return;
    }

    ctx->status = rc;
    ctx->done = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * The store answered (in the Redis connection's event): finish the
 * request's path and let the phases go on.
 */

static void
ngx_http_yibao_resume(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;

    if (rc == NGX_OK) {
        rc = ngx_http_yibao_process_upstream(r, ctx);
    }

    if (rc == NGX_AGAIN) {
        /* the next store step (the cache) is under way */
        r->read_event_handler = ngx_http_test_reading;
        return;
    }

    ctx->status = rc;
    ctx->done = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


/*
 * The request path (docs/architecture.md, steps 1 to 8) on a completely read
 * body.  Returns NGX_DECLINED to let the phases go on to proxy_pass, or
 * an HTTP status after ngx_http_yibao_reject(): the header filter then
 * answers in the national envelope.
 */

static ngx_int_t
ngx_http_yibao_process(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t              rc;
    yibao_str_t            body;
    const yibao_caller_t  *caller;

    rc = ngx_http_yibao_read_body(r, ctx, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_yibao_authenticate(r, ctx, &body, &caller);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_yibao_parse_envelope(r, ctx, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_yibao_authorize(r, ctx, caller);
    if (rc != NGX_OK) {
        return rc;
    }

    /* [4] the store round trip: nonce and rate limits */

    rc = ngx_http_yibao_store_check(r, ctx);

    if (rc != NGX_OK) {
        /* NGX_AGAIN: Redis answers through ctx->resume */
        return rc;
    }

    return ngx_http_yibao_process_upstream(r, ctx);
}


/*
 * [2] parse and validate the envelope; keep the ids that tie the visit
 * together, for the log.
 */

static ngx_int_t
ngx_http_yibao_parse_envelope(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_str_t *body)
{
    yibao_err_t                 err;
    yibao_alloc_t               a;
    yibao_fields_t              fields;
    ngx_pool_cleanup_t         *cln;
    yibao_envelope_limits_t     limits;
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    ngx_memzero(&err, sizeof(yibao_err_t));

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    limits.max_depth = glcf->json_max_depth;
    limits.max_values = glcf->json_max_values;

    if (yibao_envelope_parse(body->data, body->len, &limits, &ctx->env,
                             &err)
        != YIBAO_OK)
    {
        ngx_http_yibao_reject(r, ctx, err.gwerr, "%s", err.msg);
        return yibao_gwerr_find(err.gwerr)->http_status;
    }

    cln->handler = ngx_http_yibao_env_cleanup;
    cln->data = &ctx->env;

    /* the ids that tie the visit together, for the log */

    ngx_memzero(&fields, sizeof(yibao_fields_t));
    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_fields_find(ctx->env.doc, &fields, &a) != YIBAO_OK
        || ngx_http_yibao_keep_fields(r, ctx, &fields) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_yibao_copy_str(r->pool, &ctx->infno, &ctx->env.infno)
           != NGX_OK
        || ngx_http_yibao_copy_str(r->pool, &ctx->msgid, &ctx->env.msgid)
           != NGX_OK
        || ngx_http_yibao_copy_str(r->pool, &ctx->clinic,
                                   &ctx->env.fixmedins_code)
           != NGX_OK
        || ngx_http_yibao_copy_str(r->pool, &ctx->opter, &ctx->env.opter)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* [3] resolve the clinic to its contracting entity, authorize, route */

static ngx_int_t
ngx_http_yibao_authorize(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    const yibao_caller_t *caller)
{
    ngx_int_t                    rc;
    yibao_err_t                  err;
    const yibao_clinic_t        *clinic;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(&err, sizeof(yibao_err_t));

    clinic = yibao_clinics_find(gmcf->clinics, ctx->clinic.data,
                                ctx->clinic.len);
    if (clinic == NULL) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_CLINIC_UNKNOWN,
                              "clinic \"%V\" (envelope field "
                              "\"fixmedins_code\") is not in the gateway's "
                              "clinics registry", &ctx->clinic);
        return yibao_gwerr_find(YIBAO_GWERR_CLINIC_UNKNOWN)->http_status;
    }

    ctx->clinic.data = (u_char *) clinic->org_code.data;
    ctx->clinic.len = clinic->org_code.len;
    ctx->entity.data = (u_char *) clinic->entity_code.data;
    ctx->entity.len = clinic->entity_code.len;

    if (yibao_caller_allowed(caller, clinic, ctx->infno.data, ctx->infno.len,
                             &err)
        != YIBAO_OK)
    {
        ngx_http_yibao_reject(r, ctx, err.gwerr, "%s", err.msg);
        return yibao_gwerr_find(err.gwerr)->http_status;
    }

    rc = ngx_http_yibao_route_uri(r, ctx, glcf);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->registry_clinic = clinic;

    return NGX_OK;
}


/*
 * Steps 5 and 6: translate, identity and msgid, serialize and sign.
 */

static ngx_int_t
ngx_http_yibao_process_upstream(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t                    rc;
    const yibao_clinic_t        *clinic;
    ngx_http_yibao_loc_conf_t   *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);
    clinic = ctx->registry_clinic;

    if (ctx->stage == 0) {
        ctx->stage = 1;

        rc = ngx_http_yibao_translate_lookup(r, ctx, glcf, clinic);
        if (rc != NGX_OK || glcf->offline) {
            /* NGX_AGAIN: resumed by the store's answer */
            return rc;
        }
    }

    if (ctx->cache_serve) {
        return NGX_HTTP_YIBAO_SERVE_CACHED;
    }

    /* the fee lines audited with the visit's context, national codes */

    rc = ngx_http_yibao_audit_request(r, ctx);
    if (rc != NGX_OK) {
        /* NGX_AGAIN: resumed by the store's answer */
        return rc;
    }

    if (ctx->stage == 1) {
        ctx->stage = 2;

        /* the platform down: refused at once, or the stale answer */

        rc = ngx_http_yibao_outage_check(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ctx->cache_serve) {
            return NGX_HTTP_YIBAO_SERVE_CACHED;
        }

        /* the operator's sign_no of the day, unless it is not sent */

        rc = ctx->outage_refuse ? NGX_OK
                                : ngx_http_yibao_signin_fill(r, ctx);
        if (rc != NGX_OK) {
            /* NGX_AGAIN: resumed by the sign-in's answer */
            return rc;
        }
    }

    if (ctx->stage == 2) {
        ctx->stage = 3;

        rc = ngx_http_yibao_identity(r, ctx, clinic);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* stages 3 and 4: the journal */

    rc = ngx_http_yibao_journal_step(r, ctx);
    if (rc != NGX_OK) {
        /* NGX_AGAIN: resumed by the store's or the platform's answer */
        return rc;
    }

    if (ctx->cache_serve) {
        /* a repeat of a msgid already answered: the journal's answer */
        return NGX_HTTP_YIBAO_SERVE_CACHED;
    }

    if (ctx->outage_refuse) {
        /* the platform down: not a repeat, so not sent */
        return ngx_http_yibao_outage_refuse(r, ctx);
    }

    if (ctx->stage == 4) {
        ctx->stage = 5;

        /* 2601: the msgid to reverse, as the platform knows it */

        rc = ngx_http_yibao_journal_omsgid(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_yibao_make_request(r, ctx, glcf, clinic);
}


/*
 * [5] local codes to national ones (nothing untranslatable is sent);
 * then a 记账 record is kept here, never sent (yibao_offline_record),
 * and a read-only query may be answered from the cache.
 */

static ngx_int_t
ngx_http_yibao_translate_lookup(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_loc_conf_t *glcf,
    const yibao_clinic_t *clinic)
{
    ngx_int_t  rc;

    if (glcf->translate) {
        rc = ngx_http_yibao_translate(r, ctx, glcf, clinic);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (glcf->offline) {
        return ngx_http_yibao_offline_take(r, ctx);
    }

    return ngx_http_yibao_cache_lookup(r, ctx);
}


/* [5] the entity's identity, and a msgid of its own if it changed */

static ngx_int_t
ngx_http_yibao_identity(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    const yibao_clinic_t *clinic)
{
    int          plan;
    ngx_int_t    rc;
    yibao_err_t  err;

    ngx_memzero(&err, sizeof(yibao_err_t));

    plan = yibao_envelope_msgid_plan(&ctx->env, &clinic->entity_code, &err);

    if (plan < 0) {
        ngx_http_yibao_reject(r, ctx, err.gwerr, "%s", err.msg);
        return yibao_gwerr_find(err.gwerr)->http_status;
    }

    if (plan == 1) {
        rc = ngx_http_yibao_issue_msgid(r, ctx, clinic);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        ctx->upstream_msgid = ctx->msgid;
    }

    return NGX_OK;
}


/*
 * The journal before anything is sent: a msgid is sent once.  When the
 * journal's store lost its records and does not know this money-moving
 * msgid, nothing is claimed and the claim says so (ctx->journal_check):
 * the platform is asked first (ngx_http_yibao_forget_check), its answer
 * resumes the request here, and the msgid is claimed again with what it
 * said.  Stage 3: to claim; 4: claimed (or refused, or waiting).
 */

static ngx_int_t
ngx_http_yibao_journal_step(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_int_t  rc;

    for ( ;; ) {

        if (ctx->stage == 3) {
            ctx->stage = 4;

            rc = ngx_http_yibao_journal_claim(r, ctx);
            if (rc != NGX_OK) {
                /* NGX_AGAIN: resumed by the store's answer */
                return rc;
            }
        }

        if (!ctx->journal_check || ctx->outage_refuse) {
            /* down: the platform is not asked, nothing was claimed */
            return NGX_OK;
        }

        ctx->journal_check = 0;
        ctx->stage = 3;

        rc = ngx_http_yibao_forget_check(r, ctx);
        if (rc != NGX_OK) {
            /* NGX_AGAIN: resumed by the platform's answer */
            return rc;
        }
    }
}


/*
 * [6] the entity in the envelope, serialized, signed over the exact
 * bytes sent, and the request proxy_pass sends replaced by it.
 */

static ngx_int_t
ngx_http_yibao_make_request(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_loc_conf_t *glcf, const yibao_clinic_t *clinic)
{
    ngx_int_t         rc;
    yibao_str_t       out, code, name;
    yibao_alloc_t     a;
    yibao_sign_out_t  sign;

    code = clinic->entity_code;
    name = clinic->entity_name;
    out.data = ctx->upstream_msgid.data;
    out.len = ctx->upstream_msgid.len;

    if (yibao_envelope_set_entity(&ctx->env, &code, &name, &out) != YIBAO_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* serialize, sign over the exact bytes sent */

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_envelope_serialize(&ctx->env, &a, &out) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yibao_envelope_free(&ctx->env);

    rc = ngx_http_yibao_sign_request(r, ctx, glcf, clinic, &out, &sign);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_yibao_replace_request(r, glcf, &out, &sign) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yibao: infno %V clinic %V entity %V msgid %V -> %V",
                   &ctx->infno, &ctx->clinic, &ctx->entity, &ctx->msgid,
                   &ctx->upstream_msgid);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_yibao_content_type_ok(ngx_http_request_t *r)
{
    size_t       n;
    u_char      *p;
    ngx_uint_t   i;

    static ngx_str_t  types[] = {
        ngx_string("application/json"),
        ngx_string("text/plain")
    };

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.content_type->value.data;
    n = r->headers_in.content_type->value.len;

    for (i = 0; i < sizeof(types) / sizeof(ngx_str_t); i++) {

        if (n < types[i].len
            || ngx_strncasecmp(p, types[i].data, types[i].len) != 0)
        {
            continue;
        }

        if (n == types[i].len || p[types[i].len] == ';'
            || p[types[i].len] == ' ')
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * The body must be in memory: reading a temporary file would block the
 * worker, so a body larger than client_body_buffer_size is refused.
 */

static ngx_int_t
ngx_http_yibao_read_body(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_str_t *body)
{
    size_t                     len;
    u_char                    *p;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_core_loc_conf_t  *clcf;

    body->data = NULL;
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_BODY_EMPTY,
                              "request body is empty: a national envelope "
                              "(JSON object) is required");
        return NGX_HTTP_BAD_REQUEST;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl != NULL; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || r->request_body->temp_file != NULL) {
            clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_BODY_TOO_LARGE,
                                  "request body is larger than %uz bytes "
                                  "(client_body_buffer_size)",
                                  clcf->client_body_buffer_size);
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        len += b->last - b->pos;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL) {
        body->data = cl->buf->pos;
        body->len = len;

    } else {
        p = ngx_pnalloc(r->pool, len ? len : 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body->data = p;
        body->len = len;

        for ( /* void */ ; cl != NULL; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    if (len == 0) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_BODY_EMPTY,
                              "request body is empty: a national envelope "
                              "(JSON object) is required");
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/*
 * [1] Who is calling: the X-Yibao-* HMAC headers, a verified client
 * certificate, or both.  The nonce is recorded only after the signature
 * matched, so nobody can burn another caller's nonces.
 */

static ngx_int_t
ngx_http_yibao_authenticate(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_str_t *body, const yibao_caller_t **caller)
{
    ngx_int_t                      rc;
    ngx_str_t                      cn;
    ngx_http_yibao_loc_conf_t     *glcf;
    ngx_http_yibao_auth_headers_t  hdr;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    ngx_http_yibao_auth_headers(r, &hdr);

    ngx_str_null(&cn);

    if (glcf->auth & NGX_HTTP_YIBAO_AUTH_MTLS) {
        rc = ngx_http_yibao_client_cert(r, ctx, &cn);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_http_yibao_auth_caller(r, ctx, glcf, &hdr, &cn, caller);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(glcf->auth & NGX_HTTP_YIBAO_AUTH_HMAC)) {
        return NGX_OK;
    }

    return ngx_http_yibao_auth_verify(r, ctx, glcf, &hdr, body, *caller);
}


/* The X-Yibao-* headers of the request; those absent stay empty. */

static void
ngx_http_yibao_auth_headers(ngx_http_request_t *r,
    ngx_http_yibao_auth_headers_t *hdr)
{
    ngx_uint_t        i, k;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_memzero(hdr, sizeof(ngx_http_yibao_auth_headers_t));

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (k = 0; k < 4; k++) {
            if (h[i].key.len == ngx_http_yibao_auth_names[k].name.len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_http_yibao_auth_names[k].name.data,
                                   ngx_http_yibao_auth_names[k].name.len)
                   == 0)
            {
                *(ngx_str_t *) ((u_char *) hdr
                                + ngx_http_yibao_auth_names[k].offset) =
                                                                  h[i].value;
            }
        }
    }
}


/*
 * Who calls: X-Yibao-Caller (every header present, the same name as the
 * client certificate's if there is one) with HMAC, or the certificate's
 * name alone; a caller of the callers file.
 */

static ngx_int_t
ngx_http_yibao_auth_caller(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_loc_conf_t *glcf, ngx_http_yibao_auth_headers_t *hdr,
    ngx_str_t *cn, const yibao_caller_t **caller)
{
    u_char                       echo[NGX_HTTP_YIBAO_ECHO_MAX + 4];
    ngx_str_t                   *id;
    ngx_uint_t                   i;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (glcf->auth & NGX_HTTP_YIBAO_AUTH_HMAC) {

        for (i = 0; i < 4; i++) {
            id = (ngx_str_t *) ((u_char *) hdr
                                + ngx_http_yibao_auth_names[i].offset);

            if (id->len == 0) {
                ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_MISSING,
                                      "header %V is missing",
                                      &ngx_http_yibao_auth_names[i].name);
                return NGX_HTTP_UNAUTHORIZED;
            }
        }

        if (cn->len && (cn->len != hdr->caller.len
                        || ngx_strncmp(cn->data, hdr->caller.data, cn->len)
                           != 0))
        {
            ngx_http_yibao_printable(echo, &hdr->caller,
                                     NGX_HTTP_YIBAO_ECHO_MAX);
            ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_CERT,
                                  "X-Yibao-Caller \"%s\" is not the client "
                                  "certificate's subject \"%V\"", echo, cn);
            return NGX_HTTP_UNAUTHORIZED;
        }

        id = &hdr->caller;

    } else {
        id = cn;
    }

    *caller = yibao_callers_find(gmcf->callers, id->data, id->len);

    if (*caller == NULL) {
        ngx_http_yibao_printable(echo, id, NGX_HTTP_YIBAO_ECHO_MAX);
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_UNKNOWN_CALLER,
                              "caller \"%s\" is not known to the gateway",
                              echo);
        return NGX_HTTP_UNAUTHORIZED;
    }

    ctx->caller.data = (u_char *) yibao_caller_id(*caller)->data;
    ctx->caller.len = yibao_caller_id(*caller)->len;

    return NGX_OK;
}


/* HMAC: the timestamp is fresh and the signature the caller's. */

static ngx_int_t
ngx_http_yibao_auth_verify(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_loc_conf_t *glcf, ngx_http_yibao_auth_headers_t *hdr,
    yibao_str_t *body, const yibao_caller_t *caller)
{
    int64_t               ts;
    yibao_str_t           secret, sig;
    yibao_err_t           err;
    yibao_auth_request_t  req;

    ngx_memzero(&err, sizeof(yibao_err_t));

    req.method.data = r->method_name.data;
    req.method.len = r->method_name.len;
    req.path.data = r->uri.data;
    req.path.len = r->uri.len;
    req.timestamp.data = hdr->timestamp.data;
    req.timestamp.len = hdr->timestamp.len;
    req.nonce.data = hdr->nonce.data;
    req.nonce.len = hdr->nonce.len;
    req.body = *body;

    if (yibao_auth_check_fresh(&req, (int64_t) ngx_time(), glcf->auth_window,
                               &ts, &err)
        != YIBAO_OK)
    {
        ngx_http_yibao_reject(r, ctx, err.gwerr, "%s", err.msg);
        return NGX_HTTP_UNAUTHORIZED;
    }

    secret = *yibao_caller_secret(caller);
    sig.data = hdr->signature.data;
    sig.len = hdr->signature.len;

    if (yibao_auth_verify(&secret, &req, &sig, &err) != YIBAO_OK) {
        ngx_http_yibao_reject(r, ctx, err.gwerr, "%s", err.msg);
        return NGX_HTTP_UNAUTHORIZED;
    }

    /*
     * The nonce is recorded with the store round trip (in Redis, shared
     * by the nodes, or in the zone), only now that the signature matched.
     */

    ctx->auth_ts = ts;
    ctx->nonce = hdr->nonce;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_client_cert(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_str_t *cn)
{
#if (NGX_HTTP_SSL)

    int         n;
    X509       *cert;
    X509_NAME  *name;

    if (r->connection->ssl == NULL) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_CERT,
                              "the request did not arrive over TLS with a "
                              "client certificate");
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (SSL_get_verify_result(r->connection->ssl->connection) != X509_V_OK) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_CERT,
                              "the client certificate was not verified "
                              "(ssl_verify_client, ssl_client_certificate)");
        return NGX_HTTP_UNAUTHORIZED;
    }

    cert = SSL_get_peer_certificate(r->connection->ssl->connection);

    if (cert == NULL) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_CERT,
                              "no client certificate was presented");
        return NGX_HTTP_UNAUTHORIZED;
    }

    name = X509_get_subject_name(cert);

    cn->data = ngx_pnalloc(r->pool, 256);
    if (cn->data == NULL) {
        X509_free(cert);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = (name != NULL)
        ? X509_NAME_get_text_by_NID(name, NID_commonName, (char *) cn->data,
                                    256)
        : -1;

    X509_free(cert);

    if (n <= 0) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_CERT,
                              "the client certificate has no common name");
        return NGX_HTTP_UNAUTHORIZED;
    }

    cn->len = n;

    return NGX_OK;

#else

    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_AUTH_CERT,
                          "this nginx has no TLS support");
    return NGX_HTTP_UNAUTHORIZED;

#endif
}


static ngx_int_t
ngx_http_yibao_route_uri(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_loc_conf_t *glcf)
{
    switch (ngx_http_yibao_route_path(glcf, &ctx->infno, r->pool,
                                      &ctx->upstream_uri))
    {
    case NGX_OK:
        return NGX_OK;

    case NGX_DECLINED:
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_NO_ROUTE,
                              "infno %V has no upstream path in the route "
                              "table", &ctx->infno);

        return yibao_gwerr_find(YIBAO_GWERR_NO_ROUTE)->http_status;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static ngx_int_t
ngx_http_yibao_translate(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_loc_conf_t *glcf, const yibao_clinic_t *clinic)
{
    u_char                      *p;
    size_t                       len;
    ngx_int_t                    rc;
    yibao_err_t                  err;
    yibao_alloc_t                a;
    yibao_map_scope_t            scope;
    yibao_translate_opts_t       opts;
    yibao_translate_result_t     res;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(&err, sizeof(yibao_err_t));
    ngx_memzero(&res, sizeof(yibao_translate_result_t));
    ngx_memzero(&opts, sizeof(yibao_translate_opts_t));

    ngx_http_yibao_map_scope(clinic, &scope);
    ngx_http_yibao_alloc_init(&a, r->pool);

    opts.passthrough = glcf->passthrough;
    opts.feedetl_sn_digits = glcf->feedetl_sn_digits ? 1 : 0;

    /* a 记账 record: its 2201, 2203 and 2204 parts, each by its rules */

    rc = glcf->offline
         ? yibao_offline_translate(&ctx->env, gmcf->rules, gmcf->map, &scope,
                                   &opts, &a, &res, &err)
         : yibao_translate_request(&ctx->env, gmcf->rules, gmcf->map, &scope,
                                   &opts, &a, &res, &err);

    if (rc == YIBAO_ERR_NOMEM) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->translated = res.translated;

    if (rc == YIBAO_OK) {
        return NGX_OK;
    }

    /* one error listing every problem: may be longer than a reject */

    ctx->unmapped.data = (u_char *) res.list.data;
    ctx->unmapped.len = res.list.len;

    len = ngx_strlen(err.msg) + 2 + res.list.len + 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->gwerr = err.gwerr;
    ctx->detail = (char *) p;

    p = ngx_cpymem(p, err.msg, ngx_strlen(err.msg));

    if (res.list.len) {
        *p++ = ':';
        *p++ = ' ';
        p = ngx_cpymem(p, res.list.data, res.list.len);
    }

    *p = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: rejected YB%04ui: %s", ctx->gwerr, ctx->detail);

    return yibao_gwerr_find(err.gwerr)->http_status;
}


static ngx_int_t
ngx_http_yibao_issue_msgid(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    const yibao_clinic_t *clinic)
{
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    switch (ngx_http_yibao_msgid_issue(gmcf, clinic, r->pool,
                                       &ctx->upstream_msgid))
    {
    case NGX_OK:
        return NGX_OK;

    case NGX_BUSY:
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_MSGID_EXHAUSTED,
                              "10000 msgids were issued within this second; "
                              "retry");
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static ngx_int_t
ngx_http_yibao_sign_request(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_loc_conf_t *glcf, const yibao_clinic_t *clinic,
    yibao_str_t *body, yibao_sign_out_t *out)
{
    ngx_int_t  rc;

    rc = ngx_http_yibao_sign_body(&glcf->sign, clinic, &ctx->infno, body,
                                  r->pool, r->connection->log, out,
                                  &ctx->signer);

    if (rc == NGX_DECLINED) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_NO_VALID_KEY,
                              "entity %V has no key valid now (key_id "
                              "\"%*s\")", &ctx->entity,
                              clinic->key->id.len, clinic->key->id.data);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc != NGX_OK) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_SIGN_FAILED,
                              "the gateway could not sign the request for "
                              "entity %V", &ctx->entity);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * The upstream request: the new body, and the client's headers less the
 * caller's X-Yibao-* credentials and its framing, plus the platform's
 * Content-Type and the signature headers.  proxy_pass sends
 * Content-Length from content_length_n.
 */

static ngx_int_t
ngx_http_yibao_replace_request(ngx_http_request_t *r,
    ngx_http_yibao_loc_conf_t *glcf, yibao_str_t *body,
    yibao_sign_out_t *sign)
{
    ngx_uint_t        i;
    ngx_list_t        list;
    ngx_table_elt_t  *nh;

    if (ngx_http_yibao_replace_body(r, body) != NGX_OK
        || ngx_http_yibao_kept_headers(r, &list) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_yibao_push_header(r, &list, (u_char *) "Content-Type", 12,
                                   glcf->upstream_content_type.data,
                                   glcf->upstream_content_type.len, &nh)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_in.content_type = nh;
    r->headers_in.content_length = NULL;
    r->headers_in.transfer_encoding = NULL;

    for (i = 0; i < sign->nheaders; i++) {
        if (ngx_http_yibao_push_header(r, &list,
                                       (u_char *) sign->headers[i].name.data,
                                       sign->headers[i].name.len,
                                       (u_char *) sign->headers[i].value.data,
                                       sign->headers[i].value.len, &nh)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /*
     * The list was made on the stack: its last part, when it is its first,
     * must be the copy's own, or a later push would write into this frame.
     */

    r->headers_in.headers = list;

    if (list.last == &list.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    return NGX_OK;
}


/* The request body proxy_pass sends: the bytes signed, in memory. */

static ngx_int_t
ngx_http_yibao_replace_body(ngx_http_request_t *r, yibao_str_t *body)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = (u_char *) body->data;
    b->pos = b->start;
    b->last = b->start + body->len;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->headers_in.content_length_n = body->len;
    r->headers_in.chunked = 0;

    return NGX_OK;
}


/*
 * A new list of the caller's headers but the gateway's own (X-Yibao-*)
 * and those of the body, with room for the signature's.
 */

static ngx_int_t
ngx_http_yibao_kept_headers(ngx_http_request_t *r, ngx_list_t *list)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    n = 0;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(list, r->pool, n + 2 + YIBAO_SIGN_MAX_HEADERS,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if ((h[i].key.len > 8
             && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Yibao-", 8)
                == 0)
            || (h[i].key.len == 12
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Type",
                                   12) == 0)
            || (h[i].key.len == 14
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "Content-Length", 14) == 0)
            || (h[i].key.len == 17
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "Transfer-Encoding", 17) == 0))
        {
            continue;
        }

        nh = ngx_list_push(list);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_push_header(ngx_http_request_t *r, ngx_list_t *list,
    u_char *name, size_t name_len, u_char *value, size_t value_len,
    ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = name;
    h->key.len = name_len;
    h->value.data = value;
    h->value.len = value_len;

    h->lowcase_key = ngx_pnalloc(r->pool, name_len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, name, name_len);

    *out = h;

    return NGX_OK;
}


static void
ngx_http_yibao_env_cleanup(void *data)
{
    yibao_envelope_free(data);
}


/* A header value fit for an error message: letters, digits and ._-: */

static void
ngx_http_yibao_printable(u_char *dst, ngx_str_t *src, size_t max)
{
    size_t  i;
    u_char  c;

    for (i = 0; i < src->len && i < max; i++) {
        c = src->data[i];
        dst[i] = ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
                  || (c >= 'a' && c <= 'z') || c == '.' || c == '_'
                  || c == '-' || c == ':') ? c : '?';
    }

    *ngx_cpymem(dst + i, (u_char *) (src->len > max ? "..." : ""),
                src->len > max ? 3 : 0) = '\0';
}
