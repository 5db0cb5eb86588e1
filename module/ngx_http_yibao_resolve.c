/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"
#include "yibao_resolve.h"
#include "yibao_signin.h"


/*
 * The resolver: in one worker, every interval, the
 * journal's unknown money-moving records older than "after" are
 * resolved by a settlement query (5203) or a reversal (2601) sent
 * through the platform client.  The transaction itself is never sent
 * again.  One record at a time; what the platform says completes the
 * record ("ok", "failed", "reversed") with who resolved it and when;
 * when it says nothing (down, refusing, unclear) the record stays
 * unknown and is tried again after a growing wait, "attempts" times.
 */


typedef struct {
    yibao_journal_t                j;
    ngx_uint_t                     local;     /* from this node's zone */
} ngx_http_yibao_resolve_item_t;


typedef struct {
    ngx_event_t                    timer;
    ngx_pool_t                    *pool;      /* of one round */
    ngx_array_t                   *items;
    ngx_uint_t                     next;
    ngx_str_t                      infno;     /* 5203 or 2601 in flight */
    ngx_http_yibao_resolve_item_t *cur;
} ngx_http_yibao_resolver_t;


static void ngx_http_yibao_resolve_tick(ngx_event_t *ev);
static void ngx_http_yibao_resolve_listed(void *data,
    ngx_http_yibao_store_res_t *res);
static void ngx_http_yibao_resolve_add(u_char *data, size_t len,
    ngx_uint_t local);
static void ngx_http_yibao_resolve_next(void);
static ngx_int_t ngx_http_yibao_resolve_start(
    ngx_http_yibao_resolve_item_t *it, const char **error);
static void ngx_http_yibao_resolve_sign_no(yibao_journal_t *j,
    const yibao_clinic_t *clinic, yibao_tm_t *tm, ngx_pool_t *pool);
static void ngx_http_yibao_resolve_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans);
static ngx_int_t ngx_http_yibao_resolve_settled(yibao_journal_t *j,
    ngx_http_yibao_platform_answer_t *ans, yibao_resolve_result_t *res,
    yibao_alloc_t *a);
static void ngx_http_yibao_resolve_retry(ngx_http_yibao_resolve_item_t *it,
    const char *error);
static void ngx_http_yibao_resolve_write(ngx_http_yibao_resolve_item_t *it);
static uint64_t ngx_http_yibao_resolve_now(void);
static const char *ngx_http_yibao_resolve_text(ngx_pool_t *pool,
    const char *text);


static ngx_http_yibao_resolver_t  ngx_http_yibao_resolver;


#define NGX_HTTP_YIBAO_RESOLVE_LOCK         "yibao:journal:resolver"


/*
 * yibao_journal_resolve query|reverse|off [interval=30s] [after=60s]
 *     [attempts=10];
 */

static ngx_http_yibao_param_t  ngx_http_yibao_resolve_params[] = {

    { ngx_string("interval"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 resolve_interval),
      100, 0, NULL, NULL, 0 },

    { ngx_string("after"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t, resolve_after),
      0, 0, NULL, NULL, 0 },

    { ngx_string("attempts"), NGX_HTTP_YIBAO_PARAM_NUM,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 resolve_attempts),
      1, 1000, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_resolve_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t             *value;
    yibao_resolve_mode_e   mode;

    if (gmcf->resolve_file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (yibao_resolve_mode_parse(value[1].data, value[1].len, &mode)
        != YIBAO_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid mode \"%V\": query, reverse or off",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->resolve_mode = mode;
    gmcf->resolve_interval = 30000;
    gmcf->resolve_after = 60000;
    gmcf->resolve_attempts = 10;
    gmcf->resolve_file = cf->conf_file->file.name.data;
    gmcf->resolve_line = cf->conf_file->line;

    return ngx_http_yibao_conf_params(cf, ngx_http_yibao_resolve_params, 2,
                                      gmcf, 0);
}


/*
 * After the http block is read: the resolver's needs are configured.
 * Without yibao_journal_resolve, a configuration with a platform
 * (yibao_platform) and a journal resolves by query: a 5203 only reads.
 */

char *
ngx_http_yibao_resolve_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf)
{
    if (gmcf->resolve_file == NULL) {
        if (gmcf->platform == NULL || gmcf->journal_ttl == 0
            || gmcf->clinics == NULL || gmcf->shm_zone == NULL)
        {
            return NGX_CONF_OK;
        }

        gmcf->resolve_mode = YIBAO_RESOLVE_QUERY;
        gmcf->resolve_interval = 30000;
        gmcf->resolve_after = 60000;
        gmcf->resolve_attempts = 10;
    }

    if (gmcf->resolve_mode == YIBAO_RESOLVE_OFF) {
        return NGX_CONF_OK;
    }

    if (gmcf->platform == NULL || gmcf->journal_ttl == 0
        || gmcf->clinics == NULL || gmcf->shm_zone == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yibao_journal_resolve\" needs yibao_platform (in "
                      "the location that proxies to the platform), "
                      "yibao_journal, yibao_clinics and yibao_zone in %s:%ui",
                      gmcf->resolve_file, gmcf->resolve_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_yibao_resolve_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                 *ev;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->resolve_mode == YIBAO_RESOLVE_OFF
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_worker != 0)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "yibao: unknown outcomes are resolved by %s every %M ms, "
                  "%M ms after the answer was lost, at most %ui attempts "
                  "(yibao_journal_resolve%s)",
                  gmcf->resolve_mode == YIBAO_RESOLVE_QUERY
                  ? "a settlement query (5203)" : "a reversal (2601)",
                  gmcf->resolve_interval, gmcf->resolve_after,
                  gmcf->resolve_attempts,
                  gmcf->resolve_file ? "" : " not set: query by default");

    ngx_memzero(&ngx_http_yibao_resolver, sizeof(ngx_http_yibao_resolver_t));

    ev = &ngx_http_yibao_resolver.timer;
    ev->handler = ngx_http_yibao_resolve_tick;
    ev->log = cycle->log;
    ev->data = &ngx_http_yibao_resolver;
    ev->cancelable = 1;

    ngx_add_timer(ev, gmcf->resolve_interval);

    return NGX_OK;
}


/* One round: the unknown records of this node's zone, then Redis's. */

static void
ngx_http_yibao_resolve_tick(ngx_event_t *ev)
{
    ngx_str_t                    list, lock;
    ngx_pool_t                  *pool;
    yibao_alloc_t                a;
    yibao_journal_t             *recs;
    size_t                       n, i;
    ngx_http_yibao_main_conf_t  *gmcf;
    ngx_http_yibao_resolver_t   *rs;

    rs = &ngx_http_yibao_resolver;

    if (ngx_terminate || ngx_exiting) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    pool = ngx_create_pool(16384, ngx_cycle->log);
    if (pool == NULL) {
        ngx_add_timer(&rs->timer, gmcf->resolve_interval);
        return;
    }

    rs->pool = pool;
    rs->next = 0;
    rs->cur = NULL;

    rs->items = ngx_array_create(pool, 8,
                                 sizeof(ngx_http_yibao_resolve_item_t));
    if (rs->items == NULL) {
        ngx_http_yibao_resolve_next();
        return;
    }

    /* the zone: without Redis, or what was kept here while it was down */

    if (ngx_http_yibao_store_journal_unknown_here(pool, &list) == NGX_OK)
    {
        ngx_http_yibao_alloc_init(&a, pool);

        if (yibao_journal_parse_list(list.data, list.len, &a, &recs, &n)
            == YIBAO_OK)
        {
            for (i = 0; i < n; i++) {
                ngx_http_yibao_resolve_item_t  *it;

                it = ngx_array_push(rs->items);
                if (it == NULL) {
                    break;
                }

                it->j = recs[i];
                it->local = 1;
            }
        }
    }

    /* the gateway nodes take turns: one lists the shared store's */

    ngx_str_set(&lock, NGX_HTTP_YIBAO_RESOLVE_LOCK);

    if (ngx_http_yibao_store_journal_unknown(pool, &lock,
                                             gmcf->resolve_interval,
                                             ngx_http_yibao_resolve_listed,
                                             rs)
        != NGX_AGAIN)
    {
        ngx_http_yibao_resolve_next();
    }
}


static void
ngx_http_yibao_resolve_listed(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_uint_t  i;

    if (res->status == NGX_HTTP_YIBAO_STORE_FOUND) {
        for (i = 0; i < res->nvalues; i++) {
            ngx_http_yibao_resolve_add(res->values[i].data,
                                       res->values[i].len, 0);
        }
    }

    ngx_http_yibao_resolve_next();
}


static void
ngx_http_yibao_resolve_add(u_char *data, size_t len, ngx_uint_t local)
{
    yibao_alloc_t                   a;
    yibao_journal_t                 j;
    ngx_http_yibao_resolver_t      *rs;
    ngx_http_yibao_resolve_item_t  *it;

    rs = &ngx_http_yibao_resolver;

    ngx_http_yibao_alloc_init(&a, rs->pool);

    if (yibao_journal_parse(data, len, &a, &j) != YIBAO_OK) {
        return;
    }

    it = ngx_array_push(rs->items);
    if (it == NULL) {
        return;
    }

    it->j = j;
    it->local = local;
}


/* The next record due; the round ends when there is none. */

static void
ngx_http_yibao_resolve_next(void)
{
    uint64_t                        now, base;
    const char                     *error;
    yibao_journal_t                *j;
    ngx_http_yibao_resolver_t      *rs;
    ngx_http_yibao_main_conf_t     *gmcf;
    ngx_http_yibao_resolve_item_t  *items, *it;

    rs = &ngx_http_yibao_resolver;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    now = ngx_http_yibao_resolve_now();

    while (rs->items != NULL && rs->next < rs->items->nelts
           && !ngx_exiting && !ngx_terminate)
    {
        items = rs->items->elts;
        it = &items[rs->next++];
        j = &it->j;

        base = j->done_ms ? j->done_ms : j->sent_ms;

        if (j->state == YIBAO_JOURNAL_SENT) {
            /*
             * no answer, nor its loss, was ever recorded: a gateway
             * stopped while it was at the platform
             */
            base = j->sent_ms + gmcf->journal_in_flight;
        }

        if ((j->state != YIBAO_JOURNAL_UNKNOWN
             && j->state != YIBAO_JOURNAL_SENT)
            || !yibao_infno_money(j->infno.data, j->infno.len)
            || j->attempts >= gmcf->resolve_attempts
            || now < base + gmcf->resolve_after || now < j->retry_ms)
        {
            continue;
        }

        if (j->state == YIBAO_JOURNAL_SENT) {
            j->state = YIBAO_JOURNAL_UNKNOWN;
            j->done_ms = now;
            j->reason.data = (u_char *) "sent, and neither its answer nor "
                             "its loss was recorded (the gateway stopped "
                             "while it was at the platform?)";
            j->reason.len = ngx_strlen(j->reason.data);

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "yibao: journal caller \"%V\" msgid %V upstream "
                          "%V infno %V was sent %uL ms ago and never "
                          "completed: its outcome is unknown",
                          &j->caller, &j->msgid, &j->upstream_msgid,
                          &j->infno, now - j->sent_ms);
        }

        error = NULL;

        if (ngx_http_yibao_resolve_start(it, &error) == NGX_OK) {
            /* its answer goes on with the next one */
            return;
        }

        ngx_http_yibao_resolve_retry(it, error ? error
                                               : "the request could not be "
                                                 "made");
    }

    ngx_destroy_pool(rs->pool);
    rs->pool = NULL;
    rs->items = NULL;

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(&rs->timer, gmcf->resolve_interval);
    }
}


static ngx_int_t
ngx_http_yibao_resolve_start(ngx_http_yibao_resolve_item_t *it,
    const char **error)
{
    ngx_str_t                    msgid;
    ngx_http_yibao_resolver_t   *rs;
    ngx_http_yibao_main_conf_t  *gmcf;

    rs = &ngx_http_yibao_resolver;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    switch (ngx_http_yibao_resolve_send(&it->j, gmcf->resolve_mode,
                                        rs->pool, &rs->infno, &msgid,
                                        ngx_http_yibao_resolve_answer, it,
                                        error))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        /* nothing to try again with: stop at once */
        it->j.attempts = gmcf->resolve_attempts - 1;
        return NGX_ERROR;

    default:
        return NGX_ERROR;
    }

    rs->cur = it;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "yibao: journal caller \"%V\" msgid %V upstream %V infno "
                  "%V: resolving by %V (msgid %V), attempt %ui",
                  &it->j.caller, &it->j.msgid, &it->j.upstream_msgid,
                  &it->j.infno, &rs->infno, &msgid,
                  (ngx_uint_t) it->j.attempts + 1);

    return NGX_OK;
}


/*
 * Builds, signs and sends the request that resolves j in mode (5203 or
 * 2601, *infno) through yibao_platform, with a msgid of its own (*msgid),
 * from pool.  NGX_OK: handler is called once, later; NGX_DECLINED: the
 * record lacks what the request needs; NGX_ERROR: not sent.  *error
 * says why (a copy in pool).
 */

ngx_int_t
ngx_http_yibao_resolve_send(yibao_journal_t *j, ngx_uint_t mode,
    ngx_pool_t *pool, ngx_str_t *infno, ngx_str_t *msgid,
    ngx_http_yibao_platform_handler_pt handler, void *data,
    const char **error)
{
    ngx_str_t                    uri, body, ct;
    yibao_tm_t                   tm;
    yibao_str_t                  m, yinfno, out;
    yibao_err_t                  err;
    yibao_alloc_t                a;
    yibao_sign_out_t             sign;
    const yibao_clinic_t        *clinic;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
    glcf = gmcf->platform->loc;

    if (!glcf->enable) {
        *error = "the location of yibao_platform has no \"yibao_gateway "
                 "on\"";
        return NGX_ERROR;
    }

    clinic = yibao_clinics_find(gmcf->clinics, j->clinic.data,
                                j->clinic.len);
    if (clinic == NULL) {
        *error = "the clinic is no longer in the clinics registry";
        return NGX_ERROR;
    }

    if (ngx_http_yibao_msgid_issue(gmcf, clinic, pool, msgid) != NGX_OK) {
        *error = "no msgid could be issued";
        return NGX_ERROR;
    }

    ngx_http_yibao_localtime(ngx_http_yibao_resolve_now(), &tm);
    ngx_http_yibao_alloc_init(&a, pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    if (gmcf->signin) {
        ngx_http_yibao_resolve_sign_no(j, clinic, &tm, pool);
    }

    m.data = msgid->data;
    m.len = msgid->len;

    if (yibao_resolve_request(j, (yibao_resolve_mode_e) mode,
                              &clinic->entity_code, &clinic->entity_name,
                              &m, &tm, &a, &yinfno, &out, &err)
        != YIBAO_OK)
    {
        *error = ngx_http_yibao_resolve_text(pool, err.msg);
        return NGX_DECLINED;
    }

    infno->data = (u_char *) yinfno.data;
    infno->len = yinfno.len;
    body.data = (u_char *) out.data;
    body.len = out.len;

    if (ngx_http_yibao_route_path(glcf, infno, pool, &uri) != NGX_OK) {
        *error = "the platform location has no route for the resolving "
                 "transaction";
        return NGX_ERROR;
    }

    if (ngx_http_yibao_sign_body(&glcf->sign, clinic, infno, &out, pool,
                                 ngx_cycle->log, &sign, NULL)
        != NGX_OK)
    {
        *error = "signing failed";
        return NGX_ERROR;
    }

    ct = glcf->upstream_content_type;

    if (ngx_http_yibao_platform_send(gmcf->platform, &uri, &ct, &sign, &body,
                                     handler, data, ngx_cycle->log)
        != NGX_OK)
    {
        *error = "the platform could not be reached";
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a resolution's outcome: its name in the log, the record's state */

static const char  *ngx_http_yibao_resolve_names[] = {
    "", "ok", "failed", "reversed"
};

static const yibao_journal_state_e  ngx_http_yibao_resolve_states[] = {
    YIBAO_JOURNAL_UNKNOWN, YIBAO_JOURNAL_OK, YIBAO_JOURNAL_FAILED,
    YIBAO_JOURNAL_REVERSED
};


/*
 * With yibao_signin auto, the operator's sign_no of today (a record may
 * be resolved after the day it was sent in), when this node has it.
 */

static void
ngx_http_yibao_resolve_sign_no(yibao_journal_t *j,
    const yibao_clinic_t *clinic, yibao_tm_t *tm, ngx_pool_t *pool)
{
    ngx_str_t                    key, value;
    yibao_str_t                  opter, k, v, head;
    yibao_alloc_t                a;

    ngx_http_yibao_alloc_init(&a, pool);

    if (yibao_resolve_head_field(&j->head, "opter", NULL, &a, &opter)
        != YIBAO_OK
        || yibao_signin_key(&clinic->entity_code, &opter, tm, &a, &k)
           != YIBAO_OK)
    {
        return;
    }

    key.data = (u_char *) k.data;
    key.len = k.len;

    if (ngx_http_yibao_store_token_copy(&key, pool, &value) != NGX_OK) {
        return;
    }

    v.data = value.data;
    v.len = value.len;

    if (yibao_resolve_head_field(&j->head, "sign_no", &v, &a, &head)
        == YIBAO_OK)
    {
        j->head = head;
    }
}


static void
ngx_http_yibao_resolve_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans)
{
    ngx_http_yibao_resolve_item_t *it = data;

    u_char                      *p;
    yibao_str_t                  infno;
    yibao_alloc_t                a;
    yibao_journal_t             *j;
    yibao_resolve_result_t       res;
    ngx_http_yibao_resolver_t   *rs;

    rs = &ngx_http_yibao_resolver;
    rs->cur = NULL;
    j = &it->j;

    if (ans->error != NULL) {
        ngx_http_yibao_resolve_retry(it, ans->error);
        ngx_http_yibao_resolve_next();
        return;
    }

    if (ans->status != NGX_HTTP_OK) {
        p = ngx_pnalloc(rs->pool, 64);
        if (p != NULL) {
            *ngx_snprintf(p, 63, "the platform answered HTTP %ui",
                          ans->status) = '\0';
        }

        ngx_http_yibao_resolve_retry(it, p ? (char *) p : "HTTP error");
        ngx_http_yibao_resolve_next();
        return;
    }

    ngx_http_yibao_alloc_init(&a, rs->pool);

    infno.data = rs->infno.data;
    infno.len = rs->infno.len;

    if (yibao_resolve_answer(j, &infno, ans->body.data, ans->body.len, &a,
                             &res)
        != YIBAO_OK)
    {
        ngx_http_yibao_resolve_retry(it, "out of memory");
        ngx_http_yibao_resolve_next();
        return;
    }

    /* a platform's message may quote the person's number */

    yibao_resolve_mask(res.reason, &j->psn_no);

    if (res.outcome == YIBAO_RESOLVE_RETRY) {
        ngx_http_yibao_resolve_retry(it,
                                     ngx_http_yibao_resolve_text(rs->pool,
                                                                 res.reason));
        ngx_http_yibao_resolve_next();
        return;
    }

    if (res.outcome == YIBAO_RESOLVE_OK
        && ngx_http_yibao_resolve_settled(j, ans, &res, &a) != NGX_OK)
    {
        ngx_http_yibao_resolve_retry(it, "out of memory");
        ngx_http_yibao_resolve_next();
        return;
    }

    p = ngx_pnalloc(rs->pool, sizeof("gateway:") - 1 + rs->infno.len);
    if (p == NULL) {
        ngx_http_yibao_resolve_retry(it, "out of memory");
        ngx_http_yibao_resolve_next();
        return;
    }

    j->state = ngx_http_yibao_resolve_states[res.outcome];
    j->resolved_by.data = p;
    j->resolved_by.len = ngx_sprintf(p, "gateway:%V", &rs->infno) - p;
    j->resolved_ms = ngx_http_yibao_resolve_now();

    p = ngx_pnalloc(rs->pool, ngx_strlen(res.reason) + 1);
    if (p != NULL) {
        j->reason.len = ngx_cpystrn(p, (u_char *) res.reason,
                                    ngx_strlen(res.reason) + 1) - p;
        j->reason.data = p;
    }

    ngx_http_yibao_resolve_write(it);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "yibao: journal caller \"%V\" msgid %V upstream %V infno "
                  "%V resolved as %s by %V: %s", &j->caller, &j->msgid,
                  &j->upstream_msgid, &j->infno,
                  ngx_http_yibao_resolve_names[res.outcome],
                  &j->resolved_by, res.reason);

    ngx_http_yibao_resolve_next();
}


/*
 * Found settled: the caller's answer, the setl_id and, of a 2207, the
 * amounts for the 3201 totals, into the record.
 */

static ngx_int_t
ngx_http_yibao_resolve_settled(yibao_journal_t *j,
    ngx_http_yibao_platform_answer_t *ans, yibao_resolve_result_t *res,
    yibao_alloc_t *a)
{
    ngx_str_t  body;

    body = ans->body;

    if (ngx_http_yibao_resolve_caller_answer(j, &body,
                                             ngx_http_yibao_resolver.pool)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->setl_id.len) {
        j->setl_id = res->setl_id;
    }

    if (yibao_resolve_outputs(j, ans->body.data, ans->body.len, a)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The 5203 answer kept as the record's answer, in the caller's terms:
 * translated back as the transaction's answer (setlinfo, setldetail)
 * and with the caller's msgid in place of the upstream one.
 */

ngx_int_t
ngx_http_yibao_resolve_caller_answer(yibao_journal_t *j, ngx_str_t *body,
    ngx_pool_t *pool)
{
    size_t                       n;
    yibao_str_t                  from, to, out;
    yibao_alloc_t                a;
    yibao_map_scope_t            scope;
    const yibao_clinic_t        *clinic;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
    glcf = gmcf->platform->loc;

    ngx_http_yibao_alloc_init(&a, pool);

    out.data = ngx_pnalloc(pool, body->len ? body->len : 1);
    if (out.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy((u_char *) out.data, body->data, body->len);
    out.len = body->len;

    clinic = yibao_clinics_find(gmcf->clinics, j->clinic.data,
                                j->clinic.len);

    if (glcf->translate && clinic != NULL && gmcf->rules != NULL) {
        ngx_http_yibao_map_scope(clinic, &scope);

        if (yibao_translate_answer(out.data, out.len, &j->infno,
                                   gmcf->rules, gmcf->map, &scope, &a, &out)
            == YIBAO_ERR_NOMEM)
        {
            return NGX_ERROR;
        }
    }

    if (j->upstream_msgid.len != j->msgid.len
        || ngx_strncmp(j->upstream_msgid.data, j->msgid.data,
                       j->msgid.len) != 0)
    {
        from = j->upstream_msgid;
        to = j->msgid;

        if (yibao_answer_replace_token(out.data, out.len, &from, &to, &a,
                                       &out, &n)
            != YIBAO_OK)
        {
            return NGX_ERROR;
        }
    }

    j->answer = out;
    j->infcode = 0;
    j->infcode_set = 1;

    return NGX_OK;
}


/* Nothing learnt: the record stays unknown, tried again later. */

static void
ngx_http_yibao_resolve_retry(ngx_http_yibao_resolve_item_t *it,
    const char *error)
{
    uint64_t                     now;
    yibao_journal_t             *j;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    j = &it->j;
    now = ngx_http_yibao_resolve_now();

    j->attempts++;
    j->retry_ms = now + yibao_resolve_backoff(gmcf->resolve_interval,
                                              j->attempts);
    j->resolve_error.data = (const unsigned char *) error;
    j->resolve_error.len = ngx_strlen(error);

    ngx_http_yibao_resolve_write(it);

    if (j->attempts >= gmcf->resolve_attempts) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "yibao: journal caller \"%V\" msgid %V upstream %V "
                      "infno %V stays UNKNOWN after %ui attempts to "
                      "resolve it (last: %s): resolve it by hand (docs/"
                      "operations.md)", &j->caller, &j->msgid,
                      &j->upstream_msgid, &j->infno,
                      (ngx_uint_t) j->attempts, error);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "yibao: journal caller \"%V\" msgid %V infno %V still "
                  "unknown (attempt %ui: %s); next in %uL ms", &j->caller,
                  &j->msgid, &j->infno, (ngx_uint_t) j->attempts, error,
                  j->retry_ms - now);
}


static void
ngx_http_yibao_resolve_write(ngx_http_yibao_resolve_item_t *it)
{
    ngx_str_t                   key, value, caller, msgid;
    yibao_str_t                 out;
    yibao_alloc_t               a;
    ngx_http_yibao_resolver_t  *rs;

    rs = &ngx_http_yibao_resolver;

    caller.data = (u_char *) it->j.caller.data;
    caller.len = it->j.caller.len;
    msgid.data = (u_char *) it->j.msgid.data;
    msgid.len = it->j.msgid.len;

    ngx_http_yibao_alloc_init(&a, rs->pool);

    if (ngx_http_yibao_journal_key(rs->pool, &key, &caller, "j", &msgid)
        != NGX_OK
        || yibao_journal_render(&it->j, &a, &out) != YIBAO_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "yibao: journal record of msgid %V not rendered",
                      &msgid);
        return;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;

    ngx_http_yibao_store_journal_update(&it->j, &key, &value, it->local,
                                        rs->pool, ngx_cycle->log);
}


static uint64_t
ngx_http_yibao_resolve_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/* A copy of a message in pool ("" when out of memory). */

static const char *
ngx_http_yibao_resolve_text(ngx_pool_t *pool, const char *text)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(text);

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return "";
    }

    ngx_memcpy(p, text, len + 1);

    return (const char *) p;
}
