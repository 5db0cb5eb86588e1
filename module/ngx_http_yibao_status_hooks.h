/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_STATUS_HOOKS_H_INCLUDED_
#define _NGX_HTTP_YIBAO_STATUS_HOOKS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "yibao_status.h"


/*
 * Hooks for the lower parts of the gateway, for what no request reports
 * (the log-phase handler counts each request from its ctx).  Each hook
 * can be called without a request (from a Redis callback, a timer), is
 * lock-free, and does nothing when no yibao_status_zone is configured.
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

void ngx_http_yibao_status_journal(uint64_t lost_ms, uint64_t until_ms,
    ngx_int_t durable, ngx_uint_t loss);
void ngx_http_yibao_status_check(ngx_uint_t result);


#endif /* _NGX_HTTP_YIBAO_STATUS_HOOKS_H_INCLUDED_ */
