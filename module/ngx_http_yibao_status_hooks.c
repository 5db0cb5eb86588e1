/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_status_hooks.h"
#include "ngx_http_yibao_status_zone.h"


/*
 * The hooks through which the lower parts (the Redis client, the
 * journal's forgetting) report what no request counts: they write the
 * status zone's counters and read nothing of the gateway, so that the
 * status module, which reads the keys and the 记账 records to render,
 * stays above them.
 */


/*
 * The status zone of this process's configuration: set by the status
 * module's init_process (NULL without yibao_status_zone).
 */

ngx_http_yibao_status_zone_t  *ngx_http_yibao_status_running;


static ngx_http_yibao_status_shctx_t *
ngx_http_yibao_status_shared(void)
{
    if (ngx_http_yibao_status_running == NULL) {
        return NULL;
    }

    return ngx_http_yibao_status_running->sh;
}


void
ngx_http_yibao_status_journal(uint64_t lost_ms, uint64_t until_ms,
    ngx_int_t durable, ngx_uint_t loss)
{
    ngx_http_yibao_status_shctx_t  *sh;

    sh = ngx_http_yibao_status_shared();

    if (sh == NULL) {
        return;
    }

    sh->journal_durable = (ngx_atomic_uint_t) (durable + 1);
    sh->journal_lost = (ngx_atomic_uint_t) lost_ms;
    sh->journal_until = (ngx_atomic_uint_t) until_ms;

    if (loss) {
        (void) ngx_atomic_fetch_add(&sh->journal_losses, 1);
    }
}


void
ngx_http_yibao_status_check(ngx_uint_t result)
{
    ngx_http_yibao_status_shctx_t  *sh;

    sh = ngx_http_yibao_status_shared();

    if (sh != NULL && result < YIBAO_STATUS_CHECKS) {
        (void) ngx_atomic_fetch_add(&sh->journal_checks[result], 1);
    }
}
