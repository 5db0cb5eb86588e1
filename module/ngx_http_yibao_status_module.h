/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_STATUS_MODULE_H_INCLUDED_
#define _NGX_HTTP_YIBAO_STATUS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "yibao_status.h"


extern ngx_module_t  ngx_http_yibao_status_module;

/* module/status_page.html, see ngx_http_yibao_status_page.c */
extern const u_char  ngx_http_yibao_status_page[];
extern const size_t  ngx_http_yibao_status_page_len;


/*
 * Hooks for the other parts of the gateway, for what no request
 * reports: the log-phase handler already counts each request's
 * ctx->limit_status and ctx->cache_status and takes the store state
 * from its ctx->store.
 * Each hook takes the cycle (so it can be called without a request,
 * e.g. from a Redis callback or init_process), is lock-free, and does
 * nothing when no yibao_status_zone is configured or the zone is not
 * initialized yet.
 *
 * ngx_http_yibao_status_store(): the state store in use
 * (YIBAO_STATUS_STORE_EMBEDDED or _REDIS), whether it is usable, and
 * whether the gateway runs degraded on a fallback.  The zone starts as
 * "embedded, up, not degraded"; the state is shared by all workers and
 * the last report wins, so report transitions (connected, lost,
 * fallback), not one state per worker.
 *
 * ngx_http_yibao_status_store_error(): one failed store operation.
 *
 * ngx_http_yibao_status_event(): one more rate-limit decision or cache
 * lookup (yibao_status_event_e) than the requests' results show.
 *
 * ngx_http_yibao_status_journal(): what the journal's store (Redis)
 * remembers, from a worker's look at it (adapters/yibao_forget.h):
 * durable 1, 0 or -1 (not known), the loss it cannot vouch past and the
 * end of that window (ms since the epoch, 0: none), and loss 1 when
 * this worker found that loss.  The last report wins.
 *
 * ngx_http_yibao_status_check(): one money-moving msgid checked with
 * the platform (5203) while the store could not vouch, by what it found
 * (yibao_status_check_e).
 */

void ngx_http_yibao_status_store(ngx_cycle_t *cycle, ngx_uint_t backend,
    ngx_uint_t up, ngx_uint_t degraded);
void ngx_http_yibao_status_store_error(ngx_cycle_t *cycle);
void ngx_http_yibao_status_event(ngx_cycle_t *cycle, ngx_uint_t event);
void ngx_http_yibao_status_journal(ngx_cycle_t *cycle, uint64_t lost_ms,
    uint64_t until_ms, ngx_int_t durable, ngx_uint_t loss);
void ngx_http_yibao_status_check(ngx_cycle_t *cycle, ngx_uint_t result);


#endif /* _NGX_HTTP_YIBAO_STATUS_MODULE_H_INCLUDED_ */
