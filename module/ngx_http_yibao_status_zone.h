/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_STATUS_ZONE_H_INCLUDED_
#define _NGX_HTTP_YIBAO_STATUS_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "yibao_status.h"


/*
 * The status zone's layout, shared by the status module (which counts
 * each request and renders the zone: ngx_http_yibao_status_module.c)
 * and the hooks the lower parts report through
 * (ngx_http_yibao_status_hooks.c).
 */


typedef struct {
    ngx_atomic_t                     requests[YIBAO_STATUS_NCLASSES];
    ngx_atomic_t                     total[YIBAO_STATUS_BUCKETS];
    ngx_atomic_t                     total_ms;
    ngx_atomic_t                     upstream[YIBAO_STATUS_BUCKETS];
    ngx_atomic_t                     upstream_ms;
} ngx_http_yibao_status_counts_t;


typedef struct {
    ngx_atomic_t                     forwarded;
    ngx_atomic_t                     requests[YIBAO_STATUS_NCLASSES];
    ngx_atomic_t                     latency[YIBAO_STATUS_BUCKETS];
    ngx_atomic_t                     latency_ms;
} ngx_http_yibao_status_slice_t;


typedef struct {
    ngx_atomic_t                     minute;
    ngx_http_yibao_status_slice_t    infno[YIBAO_STATUS_INFNOS];
} ngx_http_yibao_status_minute_t;


typedef struct {
    size_t                           layout;
    time_t                           started;

    ngx_atomic_t                     reloads;
    ngx_atomic_t                     last_success;
    ngx_atomic_t                     last_failure;

    ngx_atomic_t                     store;
    ngx_atomic_t                     store_up;
    ngx_atomic_t                     store_degraded;
    ngx_atomic_t                     store_errors;

    ngx_atomic_t                     events[YIBAO_STATUS_EVENTS];

    /* the journal's store: durable 0 unknown, 1 no, 2 yes; ms */
    ngx_atomic_t                     journal_durable;
    ngx_atomic_t                     journal_lost;
    ngx_atomic_t                     journal_until;
    ngx_atomic_t                     journal_losses;
    ngx_atomic_t                     journal_checks[YIBAO_STATUS_CHECKS];

    ngx_http_yibao_status_counts_t   infno[YIBAO_STATUS_INFNOS];
    ngx_atomic_t                     rejections[YIBAO_STATUS_REASONS];
    ngx_atomic_t                     upstream_errors[YIBAO_STATUS_REASONS];

    ngx_http_yibao_status_minute_t   minutes[YIBAO_STATUS_MINUTES];

    /* under shpool->mutex, taken on the failure path only */
    yibao_status_clinics_t           clinics;

    /* under shpool->mutex, taken by requests with audit findings only */
    yibao_status_audit_t             audit;
} ngx_http_yibao_status_shctx_t;


typedef struct {
    ngx_http_yibao_status_shctx_t   *sh;
    ngx_slab_pool_t                 *shpool;
} ngx_http_yibao_status_zone_t;


typedef struct {
    ngx_shm_zone_t                  *shm_zone;
    time_t                           loaded;
    ngx_uint_t                       used;     /* unsigned  used:1; */
} ngx_http_yibao_status_main_conf_t;


/* the status zone of this process's configuration (the hooks' file) */
extern ngx_http_yibao_status_zone_t  *ngx_http_yibao_status_running;


#endif /* _NGX_HTTP_YIBAO_STATUS_ZONE_H_INCLUDED_ */
