/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_status_module.h"
#include "ngx_http_yibao_status_zone.h"


/*
 * Status and metrics of the gateway: a second HTTP module in the same
 * .so.  A log-phase handler counts every request of a gateway location
 * (yibao_gateway on) from the main module's ctx into a shared zone;
 * three content handlers render the zone as JSON (yibao_status), as
 * Prometheus text (yibao_metrics) and serve the status page
 * (yibao_status_page).
 *
 * Locking: the counters are ngx_atomic_t, added to with
 * ngx_atomic_fetch_add(); a request takes no lock.  The per-minute ring
 * is reset lazily: the first request of a new minute claims the entry
 * with a compare-and-set on its minute stamp and zeroes it.  Only the
 * table of failing clinics is under the zone mutex, and only requests
 * that failed touch it; the status handler takes the mutex to copy the
 * table, never while rendering.
 */


#define NGX_HTTP_YIBAO_STATUS_JSON     0
#define NGX_HTTP_YIBAO_STATUS_METRICS  1
#define NGX_HTTP_YIBAO_STATUS_PAGE     2

/* clinics listed in the JSON document */
#define NGX_HTTP_YIBAO_STATUS_TOP      20

/* the stamp of a ring entry while one worker clears it */
#define NGX_HTTP_YIBAO_STATUS_RESET                                          \
    ((ngx_atomic_uint_t) 1 << (sizeof(ngx_atomic_uint_t) * 8 - 1))

/* how long a request waits for another worker to clear an entry */
#define NGX_HTTP_YIBAO_STATUS_SPIN     2048




static ngx_int_t ngx_http_yibao_status_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_yibao_status_init_process(ngx_cycle_t *cycle);
static void *ngx_http_yibao_status_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_yibao_status_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_yibao_status_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yibao_status_location(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_yibao_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);

static ngx_int_t ngx_http_yibao_status_log_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_yibao_status_outcome(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_status_outcome_t *oc, ngx_msec_t *ums);
static void ngx_http_yibao_status_count(ngx_http_yibao_status_shctx_t *sh,
    ngx_int_t slot, ngx_int_t cls, ngx_uint_t forwarded, time_t now,
    ngx_msec_t ms, ngx_uint_t upstream, ngx_msec_t ums);
static ngx_http_yibao_status_minute_t *ngx_http_yibao_status_minute(
    ngx_http_yibao_status_shctx_t *sh, ngx_atomic_uint_t minute);
static void ngx_http_yibao_status_results(
    ngx_http_yibao_status_zone_t *zone, ngx_http_yibao_ctx_t *ctx,
    time_t now);
static void ngx_http_yibao_status_events(
    ngx_http_yibao_status_shctx_t *sh, ngx_http_yibao_ctx_t *ctx);
static ngx_uint_t ngx_http_yibao_status_answered(
    ngx_http_yibao_ctx_t *ctx);
static void ngx_http_yibao_status_failure(ngx_http_request_t *r,
    ngx_http_yibao_status_zone_t *zone, ngx_http_yibao_ctx_t *ctx,
    ngx_int_t cls, time_t now);
static void ngx_http_yibao_status_audit(ngx_http_yibao_status_zone_t *zone,
    ngx_http_yibao_ctx_t *ctx, time_t now);

static ngx_int_t ngx_http_yibao_status_json_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_status_metrics_handler(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_status_page_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_status_send(ngx_http_request_t *r,
    ngx_uint_t what);
static ngx_int_t ngx_http_yibao_status_page_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_status_render(ngx_http_request_t *r,
    ngx_uint_t what, yibao_str_t *out);
static void ngx_http_yibao_status_snapshot(ngx_http_request_t *r,
    ngx_http_yibao_status_zone_t *zone, yibao_status_snapshot_t *s);
static void ngx_http_yibao_status_copy_minutes(
    ngx_http_yibao_status_shctx_t *sh, yibao_status_snapshot_t *s);
static void ngx_http_yibao_status_configured(ngx_http_yibao_main_conf_t *gmcf,
    yibao_status_snapshot_t *s, ngx_pool_t *pool);
static void ngx_http_yibao_status_copy(uint64_t *dst, ngx_atomic_t *src,
    ngx_uint_t n);
static ngx_int_t ngx_http_yibao_status_header(ngx_http_request_t *r,
    char *name, char *value);


static ngx_command_t  ngx_http_yibao_status_commands[] = {

    { ngx_string("yibao_status_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_yibao_status_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yibao_status_location,
      0,
      0,
      ngx_http_yibao_status_json_handler },

    { ngx_string("yibao_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yibao_status_location,
      0,
      0,
      ngx_http_yibao_status_metrics_handler },

    { ngx_string("yibao_status_page"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yibao_status_location,
      0,
      0,
      ngx_http_yibao_status_page_handler },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_yibao_status_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_yibao_status_postconfiguration, /* postconfiguration */

    ngx_http_yibao_status_create_main_conf, /* create main configuration */
    ngx_http_yibao_status_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_yibao_status_module = {
    NGX_MODULE_V1,
    &ngx_http_yibao_status_module_ctx,     /* module context */
    ngx_http_yibao_status_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_yibao_status_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_yibao_status_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt                *h;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_http_yibao_status_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_yibao_status_module);

    if (smcf->shm_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_yibao_status_log_handler;

    return NGX_OK;
}


/* the zone that the lower parts' hooks write (..._status_hooks.c) */

static ngx_int_t
ngx_http_yibao_status_init_process(ngx_cycle_t *cycle)
{
    ngx_http_yibao_status_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_yibao_status_module);

    ngx_http_yibao_status_running = (smcf != NULL && smcf->shm_zone != NULL)
                                    ? smcf->shm_zone->data : NULL;

    return NGX_OK;
}


static void *
ngx_http_yibao_status_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_yibao_status_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_status_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->shm_zone = NULL;
     *     smcf->used = 0;
     */

    return smcf;
}


static char *
ngx_http_yibao_status_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_yibao_status_main_conf_t *smcf = conf;

    if (smcf->used && smcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yibao_status\", \"yibao_metrics\" and "
                           "\"yibao_status_page\" need \"yibao_status_zone\" "
                           "at the http level");
        return NGX_CONF_ERROR;
    }

    /* the data files and mapping tables were read with the configuration */

    smcf->loaded = ngx_time();

    return NGX_CONF_OK;
}


static char *
ngx_http_yibao_status_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_status_main_conf_t *smcf = conf;

    size_t                         min;
    ssize_t                        size;
    ngx_str_t                     *value, name;
    ngx_http_yibao_status_zone_t  *zone;

    if (smcf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    /* the counters, and the slab pool's own pages and bookkeeping */

    min = ngx_align(sizeof(ngx_http_yibao_status_shctx_t), ngx_pagesize)
          + 16 * ngx_pagesize;

    if (size == NGX_ERROR || (size_t) size < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": at least %uzk",
                           &value[1], (min + 1023) / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_status_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "yibao_status");

    smcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_yibao_status_module);
    if (smcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (smcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"yibao_status\" is already used");
        return NGX_CONF_ERROR;
    }

    smcf->shm_zone->init = ngx_http_yibao_status_init_zone;
    smcf->shm_zone->data = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_yibao_status_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_yibao_status_main_conf_t  *smcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate: the location already has a content handler";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    smcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_yibao_status_module);
    smcf->used = 1;

    return NGX_CONF_OK;
}


/*
 * Reload: the zone of the same name and size is handed over with the
 * counters in it, as limit_req does; a zone of another size starts
 * from zero (nginx makes a new one).
 */

static ngx_int_t
ngx_http_yibao_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_yibao_status_zone_t  *ozone = data;

    size_t                         len;
    ngx_http_yibao_status_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        if (ozone->sh->layout != sizeof(ngx_http_yibao_status_shctx_t)) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "shared zone \"%V\" was made by another version "
                          "of the module: restart nginx, or change "
                          "the size of yibao_status_zone",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        (void) ngx_atomic_fetch_add(&zone->sh->reloads, 1);

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool,
                               sizeof(ngx_http_yibao_status_shctx_t));
    if (zone->sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "shared zone \"%V\" is too small for the status "
                      "counters (%uz bytes)", &shm_zone->shm.name,
                      sizeof(ngx_http_yibao_status_shctx_t));
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    zone->sh->layout = sizeof(ngx_http_yibao_status_shctx_t);
    zone->sh->started = ngx_time();
    zone->sh->store = YIBAO_STATUS_STORE_EMBEDDED;
    zone->sh->store_up = 1;

    len = sizeof(" in yibao_status zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in yibao_status zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


/*
 * Counts a finished request of a gateway location: its class, latency
 * and upstream time by transaction, its gateway error by code, the
 * current minute of the ring; and, when it failed, its clinic.
 */

static ngx_int_t
ngx_http_yibao_status_log_handler(ngx_http_request_t *r)
{
    time_t                              now;
    ngx_int_t                           cls, slot;
    ngx_uint_t                          upstream;
    ngx_msec_t                          ums;
    ngx_time_t                         *tp;
    ngx_msec_int_t                      ms;
    ngx_http_yibao_ctx_t               *ctx;
    yibao_status_outcome_t              oc;
    ngx_http_yibao_loc_conf_t          *glcf;
    ngx_http_yibao_status_zone_t       *zone;
    ngx_http_yibao_status_shctx_t      *sh;
    ngx_http_yibao_status_main_conf_t  *smcf;

    static ngx_str_t  none = ngx_string("-");

    if (r != r->main) {
        return NGX_OK;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    if (!glcf->enable) {
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_status_module);

    if (smcf->shm_zone == NULL) {
        return NGX_OK;
    }

    zone = smcf->shm_zone->data;
    sh = zone->sh;

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    upstream = ngx_http_yibao_status_outcome(r, ctx, &oc, &ums);

    cls = yibao_status_classify(&oc);

    slot = (ctx != NULL)
           ? yibao_status_infno_slot(ctx->infno.data, ctx->infno.len)
           : YIBAO_STATUS_OTHER;

    tp = ngx_timeofday();
    now = tp->sec;

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yibao status: infno %V class %s gwerr %d, %M ms, "
                   "upstream %M ms", ctx ? &ctx->infno : &none,
                   yibao_status_class_name(cls), oc.gwerr,
                   (ngx_msec_t) ms, ums);

    ngx_http_yibao_status_count(sh, slot, cls, oc.forwarded, now,
                                (ngx_msec_t) ms, upstream, ums);

    if (ctx != NULL) {
        ngx_http_yibao_status_results(zone, ctx, now);
    }

    switch (cls) {

    case YIBAO_STATUS_OK:
        if (oc.forwarded && sh->last_success != (ngx_atomic_uint_t) now) {
            sh->last_success = now;
        }

        return NGX_OK;

    case YIBAO_STATUS_REJECTED:
        (void) ngx_atomic_fetch_add(
                   &sh->rejections[yibao_status_reason_slot(oc.gwerr)], 1);
        break;

    case YIBAO_STATUS_UPSTREAM_FAILURE:
    case YIBAO_STATUS_UNKNOWN_OUTCOME:
        (void) ngx_atomic_fetch_add(
                 &sh->upstream_errors[yibao_status_reason_slot(oc.gwerr)], 1);

        if (sh->last_failure != (ngx_atomic_uint_t) now) {
            sh->last_failure = now;
        }

        break;

    default: /* YIBAO_STATUS_PLATFORM_ERROR */
        break;
    }

    if (ctx != NULL && ctx->entity.len) {
        ngx_http_yibao_status_failure(r, zone, ctx, cls, now);
    }

    return NGX_OK;
}


/*
 * The request's outcome as the status counts it; returns 1 when the
 * platform answered in *ums ms ($upstream_response_time: every try of
 * the request, summed).
 */

static ngx_uint_t
ngx_http_yibao_status_outcome(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_status_outcome_t *oc, ngx_msec_t *ums)
{
    ngx_uint_t                  i, upstream;
    ngx_http_upstream_state_t  *state;

    ngx_memzero(oc, sizeof(yibao_status_outcome_t));

    if (ctx != NULL) {
        oc->gwerr = (int) ctx->gwerr;

        switch (yibao_infno_class(ctx->infno.data, ctx->infno.len)) {

        case YIBAO_INFNO_READ:
        case YIBAO_INFNO_STATEMENT:
        case YIBAO_INFNO_COMPUTE:
        case YIBAO_INFNO_REPLACE:
            oc->repeatable = 1;
            break;

        default:
            break;
        }

        if (ngx_http_yibao_status_answered(ctx)) {
            oc->infcode_known = 1;
            oc->infcode = (long) ctx->infcode;
        }
    }

    oc->http_status = (int) (r->err_status ? r->err_status
                                           : r->headers_out.status);

    upstream = 0;
    *ums = 0;

    if (r->upstream_states != NULL && r->upstream_states->nelts > 0) {
        oc->forwarded = 1;
        state = r->upstream_states->elts;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (state[i].response_time != (ngx_msec_t) -1) {
                *ums += state[i].response_time;
                upstream = 1;
            }
        }
    }

    return upstream;
}


/* The counters of the infno's slot, in total and in this minute. */

static void
ngx_http_yibao_status_count(ngx_http_yibao_status_shctx_t *sh,
    ngx_int_t slot, ngx_int_t cls, ngx_uint_t forwarded, time_t now,
    ngx_msec_t ms, ngx_uint_t upstream, ngx_msec_t ums)
{
    ngx_int_t                        b;
    ngx_http_yibao_status_counts_t  *cnt;
    ngx_http_yibao_status_minute_t  *m;

    cnt = &sh->infno[slot];
    b = yibao_status_bucket((uint64_t) ms);

    (void) ngx_atomic_fetch_add(&cnt->requests[cls], 1);
    (void) ngx_atomic_fetch_add(&cnt->total[b], 1);
    (void) ngx_atomic_fetch_add(&cnt->total_ms, (ngx_atomic_int_t) ms);

    if (upstream) {
        b = yibao_status_bucket(ums);
        (void) ngx_atomic_fetch_add(&cnt->upstream[b], 1);
        (void) ngx_atomic_fetch_add(&cnt->upstream_ms,
                                    (ngx_atomic_int_t) ums);
    }

    m = ngx_http_yibao_status_minute(sh, (ngx_atomic_uint_t) now / 60);

    if (m != NULL) {
        b = yibao_status_bucket((uint64_t) ms);
        (void) ngx_atomic_fetch_add(&m->infno[slot].requests[cls], 1);
        (void) ngx_atomic_fetch_add(&m->infno[slot].latency[b], 1);
        (void) ngx_atomic_fetch_add(&m->infno[slot].latency_ms,
                                    (ngx_atomic_int_t) ms);

        if (forwarded) {
            (void) ngx_atomic_fetch_add(&m->infno[slot].forwarded, 1);
        }
    }
}


/*
 * The ring entry of a minute, cleared first if it still holds an older
 * one.  The worker that wins the compare-and-set on the stamp clears
 * it; the others wait for it a moment (the clearing is a memset of a
 * few kilobytes) and then count anyway.  NULL when the entry holds a
 * later minute (the clock went back): the request is left out of the
 * ring, not of the totals.
 */

static ngx_http_yibao_status_minute_t *
ngx_http_yibao_status_minute(ngx_http_yibao_status_shctx_t *sh,
    ngx_atomic_uint_t minute)
{
    ngx_uint_t                       spin;
    ngx_atomic_uint_t                stamp;
    ngx_http_yibao_status_minute_t  *m;

    m = &sh->minutes[minute % YIBAO_STATUS_MINUTES];

    for (spin = 0; spin < NGX_HTTP_YIBAO_STATUS_SPIN; spin++) {

        stamp = m->minute;

        if (stamp == minute) {
            return m;
        }

        if (stamp & NGX_HTTP_YIBAO_STATUS_RESET) {
            ngx_cpu_pause();
            continue;
        }

        if ((stamp & ~NGX_HTTP_YIBAO_STATUS_RESET) > minute) {
            return NULL;
        }

        if (ngx_atomic_cmp_set(&m->minute, stamp,
                               minute | NGX_HTTP_YIBAO_STATUS_RESET))
        {
            ngx_memzero((void *) m->infno, sizeof(m->infno));
            ngx_memory_barrier();
            m->minute = minute;

            return m;
        }
    }

    return m;
}


/*
 * The rate-limit decision and the cache lookup of the request, its
 * audit findings (by rule and clinic), and the state of the store as
 * the request found it: the last request's view is the zone's.  The
 * state is only written when it changed, so that the workers do not
 * keep writing the same cache line.
 */

static void
ngx_http_yibao_status_results(ngx_http_yibao_status_zone_t *zone,
    ngx_http_yibao_ctx_t *ctx, time_t now)
{
    ngx_uint_t                      backend, up, degraded;
    ngx_http_yibao_status_shctx_t  *sh;

    sh = zone->sh;

    ngx_http_yibao_status_events(sh, ctx);

    if (ctx->audit_log.len) {
        ngx_http_yibao_status_audit(zone, ctx, now);
    }

    switch (ctx->store) {

    case NGX_HTTP_YIBAO_STORE_LOCAL:
        backend = YIBAO_STATUS_STORE_EMBEDDED;
        up = 1;
        degraded = 0;
        break;

    case NGX_HTTP_YIBAO_STORE_REDIS:
        backend = YIBAO_STATUS_STORE_REDIS;
        up = 1;
        degraded = 0;
        break;

    case NGX_HTTP_YIBAO_STORE_DOWN:
        /* degraded: served without the store; not when refused for it */
        backend = YIBAO_STATUS_STORE_REDIS;
        up = 0;
        degraded = (ctx->gwerr != YIBAO_GWERR_STORE_DOWN);

        (void) ngx_atomic_fetch_add(&sh->store_errors, 1);
        break;

    default: /* the request did not reach the store */
        return;
    }

    if (sh->store != backend) {
        sh->store = backend;
    }

    if (sh->store_up != up) {
        sh->store_up = up;
    }

    if (sh->store_degraded != degraded) {
        sh->store_degraded = degraded;
    }
}


/* The events of the request: its rate limit's result, its cache's. */

static void
ngx_http_yibao_status_events(ngx_http_yibao_status_shctx_t *sh,
    ngx_http_yibao_ctx_t *ctx)
{
    ngx_uint_t  ev;

    switch (ctx->limit_status) {

    case NGX_HTTP_YIBAO_LIMIT_PASSED:
        ev = YIBAO_STATUS_EV_RATELIMIT_PASSED;
        break;

    case NGX_HTTP_YIBAO_LIMIT_REJECTED:
        ev = YIBAO_STATUS_EV_RATELIMIT_REJECTED;
        break;

    case NGX_HTTP_YIBAO_LIMIT_DRY_RUN:
        ev = YIBAO_STATUS_EV_RATELIMIT_DRY_RUN;
        break;

    case NGX_HTTP_YIBAO_LIMIT_BYPASSED:
        ev = YIBAO_STATUS_EV_RATELIMIT_BYPASSED;
        break;

    case NGX_HTTP_YIBAO_LIMIT_LOCAL:
        ev = YIBAO_STATUS_EV_RATELIMIT_LOCAL;
        break;

    case NGX_HTTP_YIBAO_LIMIT_ERROR:
        ev = YIBAO_STATUS_EV_RATELIMIT_ERROR;
        break;

    default: /* no rate limit applied */
        ev = YIBAO_STATUS_EVENTS;
        break;
    }

    if (ev < YIBAO_STATUS_EVENTS) {
        (void) ngx_atomic_fetch_add(&sh->events[ev], 1);
    }

    switch (ctx->cache_status) {

    case NGX_HTTP_YIBAO_CACHE_HIT:
        ev = YIBAO_STATUS_EV_CACHE_HIT;
        break;

    case NGX_HTTP_YIBAO_CACHE_MISS:
        ev = YIBAO_STATUS_EV_CACHE_MISS;
        break;

    case NGX_HTTP_YIBAO_CACHE_EXPIRED:
        ev = YIBAO_STATUS_EV_CACHE_EXPIRED;
        break;

    case NGX_HTTP_YIBAO_CACHE_STALE:
        ev = YIBAO_STATUS_EV_CACHE_STALE;
        break;

    case NGX_HTTP_YIBAO_CACHE_BYPASS:
        ev = YIBAO_STATUS_EV_CACHE_BYPASS;
        break;

    default: /* no cache for this location or infno */
        ev = YIBAO_STATUS_EVENTS;
        break;
    }

    if (ev < YIBAO_STATUS_EVENTS) {
        (void) ngx_atomic_fetch_add(&sh->events[ev], 1);
    }
}


/*
 * Did the platform answer with an envelope?  Then the response filter
 * took ctx->infcode from it (and set infcode_set).
 */

static ngx_uint_t
ngx_http_yibao_status_answered(ngx_http_yibao_ctx_t *ctx)
{
    return ctx->infcode_set && ctx->gwerr == 0;
}


/* The failure path: the clinic's entry, under the zone mutex. */

static void
ngx_http_yibao_status_failure(ngx_http_request_t *r,
    ngx_http_yibao_status_zone_t *zone, ngx_http_yibao_ctx_t *ctx,
    ngx_int_t cls, time_t now)
{
    yibao_status_failure_t  f;

    ngx_memzero(&f, sizeof(yibao_status_failure_t));

    f.code = ctx->clinic.data;
    f.code_len = ctx->clinic.len;
    f.infno = ctx->infno.data;
    f.infno_len = ctx->infno.len;
    f.cls = (int) cls;
    f.gwerr = (int) ctx->gwerr;
    f.now = now;

    if (ngx_http_yibao_status_answered(ctx)) {
        f.infcode_known = 1;
        f.infcode = (long) ctx->infcode;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    yibao_status_clinics_record(&zone->sh->clinics, &f);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the audit's findings of the request ($yibao_audit) by rule and clinic */

static void
ngx_http_yibao_status_audit(ngx_http_yibao_status_zone_t *zone,
    ngx_http_yibao_ctx_t *ctx, time_t now)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    yibao_status_audit_record(&zone->sh->audit, ctx->audit_log.data,
                              ctx->audit_log.len, ctx->clinic.data,
                              ctx->clinic.len, now);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static ngx_int_t
ngx_http_yibao_status_json_handler(ngx_http_request_t *r)
{
    return ngx_http_yibao_status_send(r, NGX_HTTP_YIBAO_STATUS_JSON);
}


static ngx_int_t
ngx_http_yibao_status_metrics_handler(ngx_http_request_t *r)
{
    return ngx_http_yibao_status_send(r, NGX_HTTP_YIBAO_STATUS_METRICS);
}


static ngx_int_t
ngx_http_yibao_status_page_handler(ngx_http_request_t *r)
{
    return ngx_http_yibao_status_send(r, NGX_HTTP_YIBAO_STATUS_PAGE);
}


/* The stub_status shape: GET and HEAD, exact length, one buffer. */

static ngx_int_t
ngx_http_yibao_status_send(ngx_http_request_t *r, ngx_uint_t what)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;
    yibao_str_t   body;

    rc = ngx_http_yibao_endpoint_start(r, NGX_HTTP_GET|NGX_HTTP_HEAD);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (what) {

    case NGX_HTTP_YIBAO_STATUS_PAGE:
        body.data = ngx_http_yibao_status_page;
        body.len = ngx_http_yibao_status_page_len;

        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");

        if (ngx_http_yibao_status_page_headers(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    case NGX_HTTP_YIBAO_STATUS_METRICS:
        rc = ngx_http_yibao_status_render(r, what, &body);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
        break;

    default: /* NGX_HTTP_YIBAO_STATUS_JSON */
        rc = ngx_http_yibao_status_render(r, what, &body);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_str_set(&r->headers_out.content_type, "application/json");
        break;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_yibao_status_header(r, "Cache-Control", "no-store")
        != NGX_OK
        || ngx_http_yibao_status_header(r, "X-Content-Type-Options",
                                        "nosniff")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = body.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) body.data;
    b->last = b->pos + body.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the page loads nothing but its status document */

static ngx_int_t
ngx_http_yibao_status_page_headers(ngx_http_request_t *r)
{
    if (ngx_http_yibao_status_header(r, "Content-Security-Policy",
                                     "default-src 'none'; "
                                     "script-src 'unsafe-inline'; "
                                     "style-src 'unsafe-inline'; "
                                     "img-src data:; "
                                     "connect-src 'self'; "
                                     "base-uri 'none'; "
                                     "form-action 'none'; "
                                     "frame-ancestors 'none'")
        != NGX_OK
        || ngx_http_yibao_status_header(r, "Referrer-Policy", "no-referrer")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_status_render(ngx_http_request_t *r, ngx_uint_t what,
    yibao_str_t *out)
{
    int                                 rc;
    yibao_alloc_t                       a;
    yibao_status_snapshot_t            *s;
    ngx_http_yibao_status_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_status_module);

    s = ngx_palloc(r->pool, sizeof(yibao_status_snapshot_t));
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_yibao_status_snapshot(r, smcf->shm_zone->data, s);

    ngx_http_yibao_alloc_init(&a, r->pool);

    rc = (what == NGX_HTTP_YIBAO_STATUS_METRICS)
         ? yibao_status_render_prometheus(s, &a, out)
         : yibao_status_render_json(s, &a, out);

    if (rc != YIBAO_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yibao status: rendering failed (%d)", rc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * Copies the zone into a plain snapshot.  The counters are read
 * without a lock: each is consistent, the set is as of about now.  A
 * ring entry that changed minute while it was copied is dropped.
 */

static void
ngx_http_yibao_status_snapshot(ngx_http_request_t *r,
    ngx_http_yibao_status_zone_t *zone, yibao_status_snapshot_t *s)
{
    ngx_uint_t                          i;
    ngx_http_yibao_status_shctx_t      *sh;
    ngx_http_yibao_main_conf_t         *gmcf;
    ngx_http_yibao_status_main_conf_t  *smcf;

    ngx_memzero(s, sizeof(yibao_status_snapshot_t));

    sh = zone->sh;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_status_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    s->now = ngx_time();
    s->started = sh->started;
    s->loaded = smcf->loaded;
    s->reloads = sh->reloads;
    s->last_success = (int64_t) sh->last_success;
    s->last_failure = (int64_t) sh->last_failure;

    s->store = (int) sh->store;
    s->store_up = (int) sh->store_up;
    s->store_degraded = (int) sh->store_degraded;
    s->store_errors = sh->store_errors;

    ngx_http_yibao_status_copy(s->events, sh->events, YIBAO_STATUS_EVENTS);

    /* the embedded store never persists; Redis says at connect */

    s->journal_durable = (gmcf->redis == NULL) ? 0
                         : (int) sh->journal_durable - 1;
    s->journal_lost = (int64_t) sh->journal_lost;
    s->journal_until = (int64_t) sh->journal_until;
    s->journal_losses = sh->journal_losses;
    ngx_http_yibao_status_copy(s->journal_checks, sh->journal_checks,
                               YIBAO_STATUS_CHECKS);

    for (i = 0; i < YIBAO_STATUS_INFNOS; i++) {
        ngx_http_yibao_status_copy(s->infno[i].requests,
                                   sh->infno[i].requests,
                                   YIBAO_STATUS_NCLASSES);
        ngx_http_yibao_status_copy(s->infno[i].total, sh->infno[i].total,
                                   YIBAO_STATUS_BUCKETS);
        ngx_http_yibao_status_copy(s->infno[i].upstream,
                                   sh->infno[i].upstream,
                                   YIBAO_STATUS_BUCKETS);
        s->infno[i].total_ms = sh->infno[i].total_ms;
        s->infno[i].upstream_ms = sh->infno[i].upstream_ms;
    }

    ngx_http_yibao_status_copy(s->rejections, sh->rejections,
                               YIBAO_STATUS_REASONS);
    ngx_http_yibao_status_copy(s->upstream_errors, sh->upstream_errors,
                               YIBAO_STATUS_REASONS);

    ngx_http_yibao_status_copy_minutes(sh, s);

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_memcpy(&s->clinics, &sh->clinics, sizeof(yibao_status_clinics_t));
    ngx_memcpy(&s->audit, &sh->audit, sizeof(yibao_status_audit_t));
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_yibao_status_configured(gmcf, s, r->pool);

    if (ngx_http_yibao_offline_status(r, &s->offline) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yibao status: the 记账 records could not be read");
    }

    s->top = NGX_HTTP_YIBAO_STATUS_TOP;
}


/* The minutes' counters, each copied whole or not at all. */

static void
ngx_http_yibao_status_copy_minutes(ngx_http_yibao_status_shctx_t *sh,
    yibao_status_snapshot_t *s)
{
    ngx_uint_t                       i, k;
    ngx_atomic_uint_t                stamp;
    ngx_http_yibao_status_minute_t  *m;

    for (k = 0; k < YIBAO_STATUS_MINUTES; k++) {
        m = &sh->minutes[k];

        stamp = m->minute;

        if (stamp == 0 || (stamp & NGX_HTTP_YIBAO_STATUS_RESET)) {
            continue;
        }

        for (i = 0; i < YIBAO_STATUS_INFNOS; i++) {
            ngx_http_yibao_status_copy(s->minutes[k].infno[i].requests,
                                       m->infno[i].requests,
                                       YIBAO_STATUS_NCLASSES);
            ngx_http_yibao_status_copy(s->minutes[k].infno[i].latency,
                                       m->infno[i].latency,
                                       YIBAO_STATUS_BUCKETS);
            s->minutes[k].infno[i].latency_ms = m->infno[i].latency_ms;
            s->minutes[k].infno[i].forwarded = m->infno[i].forwarded;
        }

        ngx_memory_barrier();

        if (m->minute == stamp) {
            s->minutes[k].minute = stamp;
        }
    }
}


/* What this configuration holds: the names of the clinics, the data. */

static void
ngx_http_yibao_status_configured(ngx_http_yibao_main_conf_t *gmcf,
    yibao_status_snapshot_t *s, ngx_pool_t *pool)
{
    time_t                 act;
    ngx_uint_t             i;
    yibao_key_state_e      st;
    const yibao_clinic_t  *c;

    /* the clinics' names from this configuration's registry */

    for (i = 0; i < s->clinics.n && i < YIBAO_STATUS_CLINICS; i++) {
        if (gmcf->clinics == NULL) {
            break;
        }

        c = yibao_clinics_find(gmcf->clinics, s->clinics.clinic[i].code,
                               s->clinics.clinic[i].code_len);
        if (c != NULL) {
            s->clinic_name[i] = c->name;
            s->clinic_entity[i] = c->entity_code;
        }
    }

    for (i = 0; i < s->audit.nclinics && i < YIBAO_STATUS_AUDIT_CLINICS; i++)
    {
        if (gmcf->clinics == NULL) {
            break;
        }

        c = yibao_clinics_find(gmcf->clinics, s->audit.clinic[i].code,
                               s->audit.clinic[i].code_len);
        if (c != NULL) {
            s->audit_clinic_name[i] = c->name;
            s->audit_clinic_entity[i] = c->entity_code;
        }
    }

    if (gmcf->map != NULL) {
        s->mapping_rows = yibao_map_rows(gmcf->map);
        s->mapping_bytes = yibao_map_bytes(gmcf->map);
    }

    if (gmcf->rules != NULL) {
        s->rules = yibao_rules_count(gmcf->rules);
    }

    if (gmcf->clinics != NULL) {
        s->clinics_registered = yibao_clinics_count(gmcf->clinics);
    }

    if (gmcf->callers != NULL) {
        s->callers = yibao_callers_count(gmcf->callers);
    }

    if (gmcf->keys != NULL) {
        s->keys = yibao_keys_count(gmcf->keys);

        /* each key's state, as the keys API says it */

        for (i = 0; i < s->keys; i++) {
            st = ngx_http_yibao_key_state(yibao_keys_at(gmcf->keys, i),
                                          ngx_time(), pool, &act);
            s->key_states[st]++;
        }
    }
}


static void
ngx_http_yibao_status_copy(uint64_t *dst, ngx_atomic_t *src, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}


static ngx_int_t
ngx_http_yibao_status_header(ngx_http_request_t *r, char *name,
    char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}
