/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"
#include "yibao_outage.h"


/*
 * Is the platform there (yibao_outage)?  What the gateway's exchanges
 * with the platform show (a transaction proxied, the resolver's and
 * sign-in's requests, the probe) and the operator's switch make the
 * state of this node, kept in the zone (ngx_http_yibao_store_outage);
 * the decisions are yibao_outage_apply()'s.  While the platform is down
 * a transaction that creates state or moves money is refused at once
 * with YB6020, so that the clinic system records the visit offline
 * (记账) instead of waiting for a timeout; a read is answered from the
 * cache, fresh or stale, where it may be.  Each change of the state is
 * one line of the error log.
 */


/* how often each worker asks whether it is time for the probe */
#define NGX_HTTP_YIBAO_OUTAGE_TICK  1000


typedef struct {
    ngx_array_t                 *allow;     /* ngx_cidr_t */
} ngx_http_yibao_outage_api_conf_t;


static ngx_int_t ngx_http_yibao_outage_api_handler(ngx_http_request_t *r);
static void ngx_http_yibao_outage_tick(ngx_event_t *ev);
static void ngx_http_yibao_outage_probed(void *data,
    ngx_http_yibao_platform_answer_t *ans);
static void ngx_http_yibao_outage_log(yibao_outage_t *o, const char *why,
    ngx_log_t *log);


static ngx_event_t  ngx_http_yibao_outage_timer;


/*
 * yibao_outage [failures=3] [retry=30s] [probe=on|off];
 */

static ngx_http_yibao_param_t  ngx_http_yibao_outage_params[] = {

    { ngx_string("failures"), NGX_HTTP_YIBAO_PARAM_NUM,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 outage.failures),
      1, 1000, NULL, NULL, 0 },

    { ngx_string("retry"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t, outage.retry),
      100, 0, NULL, NULL, 0 },

    { ngx_string("probe"), NGX_HTTP_YIBAO_PARAM_FLAG,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t, outage_probe),
      0, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_outage_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    if (gmcf->outage_on) {
        return "is duplicate";
    }

    gmcf->outage_on = 1;
    gmcf->outage.failures = 3;
    gmcf->outage.retry = 30000;
    gmcf->outage_probe = 1;

    return ngx_http_yibao_conf_params(cf, ngx_http_yibao_outage_params, 1,
                                      gmcf, 0);
}


/*
 * Before anything of a transaction is sent (after the cache was asked):
 * NGX_OK to go on, or the status of a refusal (YB6020); a cacheable read
 * with a stale answer gets that answer (ctx->cache_serve).
 */

ngx_int_t
ngx_http_yibao_outage_check(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_uint_t                   ev, v, changed;
    yibao_outage_t               o;
    yibao_infno_class_e          cls;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!gmcf->outage_on) {
        return NGX_OK;
    }

    cls = yibao_infno_class(ctx->infno.data, ctx->infno.len);

    ev = (yibao_outage_may_probe(cls) && ctx->cache_stale.len == 0)
         ? YIBAO_OUTAGE_EV_ADMIT_PROBE : YIBAO_OUTAGE_EV_ADMIT;

    v = ngx_http_yibao_store_outage(gmcf, ev, &o, &changed);

    if (changed) {
        ngx_http_yibao_outage_log(&o, "a transaction is the probe",
                                  r->connection->log);
    }

    if (v == YIBAO_OUTAGE_PROBE) {
        ctx->outage_probe = 1;
        return NGX_OK;
    }

    if (v == YIBAO_OUTAGE_SEND) {
        return NGX_OK;
    }

    if (ctx->cache_stale.len) {
        /* the platform is down: the stale answer, without asking it */
        ctx->cache_status = NGX_HTTP_YIBAO_CACHE_STALE;
        ctx->cache_serve = 1;
        ctx->cache_answer = ctx->cache_stale;
        return NGX_OK;
    }

    ctx->outage_state = yibao_outage_state_name(yibao_outage_effective(&o));
    ctx->outage_switch = (o.sw == YIBAO_OUTAGE_FORCE_DOWN);

    /*
     * A journaled transaction is refused after the journal's look-up
     * (ngx_http_yibao_process_upstream): a repeat of a msgid the journal
     * knows is answered by it (replay, in progress, unknown) as when the
     * platform is up; only one that would be sent is refused.
     */

    if (gmcf->journal_ttl
        && yibao_infno_journaled(ctx->infno.data, ctx->infno.len))
    {
        ctx->outage_refuse = 1;
        return NGX_OK;
    }

    return ngx_http_yibao_outage_refuse(r, ctx);
}


/*
 * The platform is down: the transaction is not sent (503 YB6020).  A
 * journaled one was claimed first: the refusal completes its record as
 * "failed", nothing sent, like any refusal of the gateway after a claim.
 */

ngx_int_t
ngx_http_yibao_outage_refuse(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    yibao_infno_class_e          cls;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    cls = yibao_infno_class(ctx->infno.data, ctx->infno.len);

    ctx->retry_after = (time_t) ((gmcf->outage.retry + 999) / 1000);

    if (cls == YIBAO_INFNO_READ || cls == YIBAO_INFNO_COMPUTE) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_PLATFORM_DOWN,
                              "infno %V was not sent: the platform is %s "
                              "(%s); try again later",
                              &ctx->infno, ctx->outage_state,
                              ctx->outage_switch
                              ? "the operator's switch"
                              : "its exchanges failed");
    } else {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_PLATFORM_DOWN,
                              "infno %V was not sent: the platform is %s "
                              "(%s); record the visit offline (记账) and "
                              "settle it when the platform is back",
                              &ctx->infno, ctx->outage_state,
                              ctx->outage_switch
                              ? "the operator's switch"
                              : "its exchanges failed");
    }

    return yibao_gwerr_find(YIBAO_GWERR_PLATFORM_DOWN)->http_status;
}


/*
 * The proxied exchange of a transaction is over (its header filter): an
 * HTTP answer from the platform other than 502, 503, 504 is a success;
 * no answer (refused, reset, timed out) or one of those a failure.
 */

void
ngx_http_yibao_outage_seen(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    ngx_uint_t           status, ok;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u == NULL || ctx->outage_seen || ctx->cache_serve) {
        return;
    }

    ctx->outage_seen = 1;

    status = u->headers_in.status_n;

    if (status == 0) {
        if (ctx->gwerr != YIBAO_GWERR_UPSTREAM_UNREACHABLE
            && ctx->gwerr != YIBAO_GWERR_UPSTREAM_TIMEOUT
            && r->headers_out.status != NGX_HTTP_BAD_GATEWAY
            && r->headers_out.status != NGX_HTTP_GATEWAY_TIME_OUT)
        {
            /* nothing was tried (a refusal of nginx's own) */
            return;
        }

        ok = 0;

    } else {
        ok = (status < 502 || status > 504);
    }

    ngx_http_yibao_outage_observe(ok, ctx->outage_probe
                                      ? "the probe (a transaction)"
                                      : "a transaction",
                                  r->connection->log);
}


/* one exchange with the platform seen: ok or failed */

void
ngx_http_yibao_outage_observe(ngx_uint_t ok, const char *what,
    ngx_log_t *log)
{
    u_char                       why[128];
    ngx_uint_t                   changed;
    yibao_outage_t               o;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    if (gmcf == NULL || !gmcf->outage_on || gmcf->shm_zone == NULL) {
        return;
    }

    (void) ngx_http_yibao_store_outage(gmcf,
                                       ok ? YIBAO_OUTAGE_EV_SUCCESS
                                          : YIBAO_OUTAGE_EV_FAILURE,
                                       &o, &changed);

    if (changed) {
        *ngx_snprintf(why, sizeof(why) - 1, "%s %s", what,
                      ok ? "was answered" : "failed") = '\0';
        ngx_http_yibao_outage_log(&o, (char *) why, log);
    }
}


static void
ngx_http_yibao_outage_log(yibao_outage_t *o, const char *why, ngx_log_t *log)
{
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "yibao: platform %s: %s (switch %s, %uD failures in a "
                  "row)", yibao_outage_state_name(yibao_outage_effective(o)),
                  why, yibao_outage_switch_name(o->sw), o->failures);
}


/*
 * The probe: every worker asks each second whether it is time for one
 * (only one is let through per retry); the probe is an unsigned POST of
 * "{}" to the route of 1901: any HTTP answer but 502, 503 and 504 shows
 * the platform there.
 */

ngx_int_t
ngx_http_yibao_outage_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                 *ev;
    ngx_http_yibao_main_conf_t  *gmcf;

    /* every exchange of the platform client is seen */
    ngx_http_yibao_platform_observe = ngx_http_yibao_outage_observe;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || !gmcf->outage_on || !gmcf->outage_probe
        || gmcf->platform == NULL || gmcf->shm_zone == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ev = &ngx_http_yibao_outage_timer;
    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_http_yibao_outage_tick;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_YIBAO_OUTAGE_TICK);

    return NGX_OK;
}


static void
ngx_http_yibao_outage_tick(ngx_event_t *ev)
{
    ngx_str_t                    uri, infno, body;
    ngx_uint_t                   changed;
    ngx_pool_t                  *pool;
    yibao_outage_t               o;
    yibao_sign_out_t             sign;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    if (ngx_terminate || ngx_exiting) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_YIBAO_OUTAGE_TICK);

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    if (ngx_http_yibao_store_outage(gmcf, YIBAO_OUTAGE_EV_ADMIT_PROBE, &o,
                                    &changed)
        != YIBAO_OUTAGE_PROBE)
    {
        return;
    }

    if (changed) {
        ngx_http_yibao_outage_log(&o, "the gateway sends its probe",
                                  ev->log);
    }

    glcf = gmcf->platform->loc;

    ngx_str_set(&infno, "1901");
    ngx_str_set(&body, "{}");
    ngx_memzero(&sign, sizeof(yibao_sign_out_t));

    pool = ngx_create_pool(1024, ev->log);
    if (pool == NULL) {
        return;
    }

    if (glcf == NULL
        || ngx_http_yibao_route_path(glcf, &infno, pool, &uri) != NGX_OK
        || ngx_http_yibao_platform_send(gmcf->platform, &uri,
                                        &glcf->upstream_content_type, &sign,
                                        &body, ngx_http_yibao_outage_probed,
                                        NULL, ev->log)
           != NGX_OK)
    {
        /* not sent (the connection was refused at once): a failure */
        ngx_http_yibao_outage_observe(0, "an exchange of the gateway's own",
                                      ev->log);
    }

    ngx_destroy_pool(pool);
}


static void
ngx_http_yibao_outage_probed(void *data,
    ngx_http_yibao_platform_answer_t *ans)
{
    /* the platform client counts every exchange's outcome itself */
}


/*
 * yibao_outage_api ADDRESS|CIDR ...;  GET: the state; POST
 * ?switch=down|up|auto: the operator's switch.  Refused (403) to any
 * client address not listed.
 */

char *
ngx_http_yibao_outage_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_yibao_api_directive(cf, conf,
                                        ngx_http_yibao_outage_api_handler);
}


static ngx_int_t
ngx_http_yibao_outage_api_handler(ngx_http_request_t *r)
{
    u_char                      *p, since[32];
    ngx_int_t                    rc, sw;
    ngx_str_t                    v;
    ngx_uint_t                   ev, changed;
    yibao_outage_t               o;
    ngx_http_yibao_main_conf_t  *gmcf;

    rc = ngx_http_yibao_api_start(r);
    if (rc != NGX_OK) {
        return rc;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!gmcf->outage_on || gmcf->shm_zone == NULL) {
        v.data = (u_char *) "{\"error\":\"yibao_outage is not configured\"}";
        v.len = ngx_strlen(v.data);
        return ngx_http_yibao_send_json(r, NGX_HTTP_NOT_FOUND, v.data, v.len);
    }

    ev = YIBAO_OUTAGE_EV_READ;

    if (r->method == NGX_HTTP_POST) {
        if (ngx_http_arg(r, (u_char *) "switch", 6, &v) != NGX_OK
            || (sw = yibao_outage_switch_parse(v.data, v.len)) < 0)
        {
            v.data = (u_char *) "{\"error\":\"POST needs switch=down, up "
                                "or auto\"}";
            v.len = ngx_strlen(v.data);
            return ngx_http_yibao_send_json(r, NGX_HTTP_BAD_REQUEST, v.data,
                                            v.len);
        }

        ev = sw == YIBAO_OUTAGE_FORCE_DOWN ? YIBAO_OUTAGE_EV_SWITCH_DOWN
             : sw == YIBAO_OUTAGE_FORCE_UP ? YIBAO_OUTAGE_EV_SWITCH_UP
             : YIBAO_OUTAGE_EV_SWITCH_AUTO;
    }

    (void) ngx_http_yibao_store_outage(gmcf, ev, &o, &changed);

    if (r->method == NGX_HTTP_POST) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: platform switch set to %s by the operator: "
                      "the platform is %s", yibao_outage_switch_name(o.sw),
                      yibao_outage_state_name(yibao_outage_effective(&o)));
    }

    p = ngx_pnalloc(r->pool, 512);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_http_yibao_time_text(since, o.since) = '\0';

    v.data = p;
    v.len = ngx_snprintf(p, 512,
                         "{\"state\":\"%s\",\"switch\":\"%s\","
                         "\"observed\":\"%s\",\"failures\":%uD,"
                         "\"since\":\"%s\",\"changes\":%uL,"
                         "\"refused\":%uL,\"failures_to_down\":%uD,"
                         "\"retry_ms\":%uL}",
                         yibao_outage_state_name(yibao_outage_effective(&o)),
                         yibao_outage_switch_name(o.sw),
                         yibao_outage_state_name(o.state), o.failures,
                         o.since ? (char *) since : "", o.changes,
                         o.refused, gmcf->outage.failures,
                         gmcf->outage.retry)
            - p;

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, v.data, v.len);
}
