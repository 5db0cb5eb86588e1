/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"
#include "yibao_outage.h"
#include "yibao_replay.h"


/*
 * 补录 (yibao_offline_replay): the 记账 records replayed once the
 * platform answers again.  A driver takes one record at a time: it
 * claims it in this node's zone (recorded -> replaying, the store
 * compares the text, so two workers never take the same record), then
 * sends its steps one after the other through the gateway's own client
 * of the platform (ngx_http_yibao_platform_send, as the resolver and
 * sign-in do), each step's envelope and the reading of each answer
 * being adapters/yibao_replay.c's.  It stops at pending (the 2206's
 * result, for confirmation), waiting, rejected, or, when the platform
 * is lost, recorded again.  Each move of the record is written back
 * only when nobody changed it meanwhile, and is one line of the error
 * log (ids and states, no personal data).
 *
 * One worker (ngx_worker 0) looks each second for records to replay
 * while the platform is up (yibao_outage's view: the same admission as
 * a transaction's); an operator's command (the offline API's POST
 * ?replay=1[&id=ID]) starts a driver in the worker that got it.  A
 * worker that exits gives its record back (recorded); a record left
 * replaying by a worker that died is taken again when its claim runs
 * out, and the master gives back every replaying record it loads from
 * the file at a start.
 */


#define NGX_HTTP_YIBAO_REPLAY_TICK  1000


typedef struct {
    ngx_pool_t                    *pool;      /* of one record's replay */
    ngx_str_t                      key;       /* "jz:<id>" */
    ngx_str_t                      text;      /* the record as stored */
    ngx_str_t                      sign_no;   /* the attempt's */
    ngx_str_t                      infno;     /* the step in flight */
    ngx_uint_t                     force;     /* an operator's, one id */
    ngx_uint_t                     all;       /* an operator's, all */
    yibao_replay_conf_t            conf;
    const yibao_clinic_t          *clinic;
} ngx_http_yibao_replay_t;


static void ngx_http_yibao_replay_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_yibao_replay_next_record(ngx_uint_t all);
static ngx_int_t ngx_http_yibao_replay_take(ngx_str_t *key, ngx_str_t *text,
    ngx_uint_t force, ngx_log_t *log);
static ngx_int_t ngx_http_yibao_replay_conf(ngx_http_yibao_replay_t *d);
static void ngx_http_yibao_replay_step(ngx_http_yibao_replay_t *d);
static void ngx_http_yibao_replay_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans);
static ngx_int_t ngx_http_yibao_replay_write(ngx_http_yibao_replay_t *d,
    yibao_str_t *text, const char *from, const char *to, const char *why);
static void ngx_http_yibao_replay_stop(ngx_http_yibao_replay_t *d,
    const char *why);
static void ngx_http_yibao_replay_done(ngx_http_yibao_replay_t *d);
static uint64_t ngx_http_yibao_replay_now(char *text);


static ngx_event_t               ngx_http_yibao_replay_timer;
static ngx_http_yibao_replay_t  *ngx_http_yibao_replay_cur;
static ngx_uint_t                ngx_http_yibao_replay_all;


/*
 * yibao_offline_replay auto|manual|off [max_age=7d] [cross_month=off]
 *     [cross_year=off];  auto: also by itself while the platform is up
 */

static ngx_http_yibao_param_t  ngx_http_yibao_replay_params[] = {

    { ngx_string("max_age"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 replay_max_age),
      0, 0, NULL, NULL, 0 },

    { ngx_string("cross_month"), NGX_HTTP_YIBAO_PARAM_FLAG,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 replay_cross_month),
      0, 0, NULL, NULL, 0 },

    { ngx_string("cross_year"), NGX_HTTP_YIBAO_PARAM_FLAG,
      ngx_http_yibao_param_field(ngx_http_yibao_main_conf_t,
                                 replay_cross_year),
      0, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_replay_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->replay_file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "auto") == 0) {
        gmcf->replay = 2;

    } else if (ngx_strcmp(value[1].data, "manual") == 0) {
        gmcf->replay = 1;

    } else if (ngx_strcmp(value[1].data, "off") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid mode \"%V\": auto, manual or off",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->replay_file = cf->conf_file->file.name.data;
    gmcf->replay_line = cf->conf_file->line;
    gmcf->replay_max_age = 7 * 24 * 3600 * 1000;

    return ngx_http_yibao_conf_params(cf, ngx_http_yibao_replay_params, 2,
                                      gmcf, 0);
}


char *
ngx_http_yibao_replay_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf)
{
    if (!gmcf->replay) {
        return NGX_CONF_OK;
    }

    if (gmcf->platform == NULL || gmcf->offline_file.len == 0
        || gmcf->shm_zone == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yibao_offline_replay\" needs yibao_offline, "
                      "yibao_platform (in the location that proxies to "
                      "the platform) and yibao_zone in %s:%ui",
                      gmcf->replay_file, gmcf->replay_line);
        return NGX_CONF_ERROR;
    }

    if (gmcf->replay == 2 && !gmcf->outage_on) {
        /* without it, auto would try each second through an outage */
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yibao_offline_replay auto\" needs yibao_outage "
                      "(it replays once the outage's probe finds the "
                      "platform back; or use manual) in %s:%ui",
                      gmcf->replay_file, gmcf->replay_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_yibao_replay_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                 *ev;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || !gmcf->replay
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ev = &ngx_http_yibao_replay_timer;
    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_http_yibao_replay_tick;
    ev->log = cycle->log;
    ev->cancelable = 1;

    if (ngx_worker == 0 && gmcf->replay == 2) {
        ngx_add_timer(ev, NGX_HTTP_YIBAO_REPLAY_TICK);
    }

    return NGX_OK;
}


/* the worker exits: its record is given back, untouched by the rest */

void
ngx_http_yibao_replay_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_yibao_replay_cur != NULL) {
        ngx_http_yibao_replay_stop(ngx_http_yibao_replay_cur,
                                   "the worker stopped");
    }
}


static void
ngx_http_yibao_replay_tick(ngx_event_t *ev)
{
    ngx_uint_t                   changed;
    yibao_outage_t               o;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    if (ngx_http_yibao_replay_cur == NULL
        && ngx_http_yibao_store_outage(gmcf, YIBAO_OUTAGE_EV_ADMIT, &o,
                                       &changed)
           == YIBAO_OUTAGE_SEND)
    {
        (void) ngx_http_yibao_replay_next_record(0);
    }

    ngx_add_timer(ev, NGX_HTTP_YIBAO_REPLAY_TICK);
}


/*
 * An operator's command (the offline API): the record id, taken at once
 * whatever the rules say (NGX_OK; NGX_DECLINED: it cannot be taken, it
 * is not recorded or waiting, or another driver holds it; NGX_BUSY:
 * this worker's driver is busy), or, without id, every record the rules
 * let go, one after the other (NGX_OK).
 */

ngx_int_t
ngx_http_yibao_replay_command(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_str_t                    key, text;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (id->len == 0) {
        if (ngx_http_yibao_replay_cur != NULL) {
            ngx_http_yibao_replay_all = 1;
            return NGX_OK;
        }

        (void) ngx_http_yibao_replay_next_record(1);
        return NGX_OK;
    }

    if (ngx_http_yibao_replay_cur != NULL) {
        return NGX_BUSY;
    }

    key.data = ngx_pnalloc(r->pool, id->len + 3);
    if (key.data == NULL) {
        return NGX_ERROR;
    }

    key.len = ngx_sprintf(key.data, "jz:%V", id) - key.data;

    if (ngx_http_yibao_store_offline_get(gmcf, &key, r->pool, &text)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return ngx_http_yibao_replay_take(&key, &text, 1, r->connection->log);
}


/* the next record to replay, taken and started; NGX_DECLINED: none */

static ngx_int_t
ngx_http_yibao_replay_next_record(ngx_uint_t all)
{
    uint64_t                     gen;
    ngx_str_t                    prefix, key, *v;
    ngx_uint_t                   i;
    ngx_pool_t                  *pool;
    ngx_array_t                  list;
    yibao_err_t                  err;
    yibao_offline_info_t         info;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&prefix, "jz:");

    if (ngx_array_init(&list, pool, 16, sizeof(ngx_str_t)) != NGX_OK
        || ngx_http_yibao_store_offline_list(gmcf, &prefix, pool, &list,
                                             &gen)
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    v = list.elts;

    for (i = 0; i < list.nelts; i++) {

        /* a record that fails its check is never replayed */

        if (yibao_offline_verify(v[i].data, v[i].len, NULL, &info, &err)
            != YIBAO_OK
            || (ngx_strcmp(info.state, "recorded") != 0
                && ngx_strcmp(info.state, "replaying") != 0))
        {
            continue;
        }

        key.data = ngx_pnalloc(pool, ngx_strlen(info.id) + 3);
        if (key.data == NULL) {
            break;
        }

        key.len = ngx_sprintf(key.data, "jz:%s", info.id) - key.data;

        if (ngx_http_yibao_replay_take(&key, &v[i], 0, ngx_cycle->log)
            == NGX_OK)
        {
            ngx_http_yibao_replay_all = all;
            ngx_destroy_pool(pool);
            return NGX_OK;
        }
    }

    ngx_http_yibao_replay_all = 0;
    ngx_destroy_pool(pool);

    return NGX_DECLINED;
}


/*
 * The record (its key and text as read) claimed by this worker and its
 * replay started; NGX_DECLINED: not taken (or it waits now).
 */

static ngx_int_t
ngx_http_yibao_replay_take(ngx_str_t *key, ngx_str_t *text,
    ngx_uint_t force, ngx_log_t *log)
{
    char                      by[64], now[24];
    uint64_t                  ms;
    ngx_pool_t               *pool;
    yibao_str_t               out;
    yibao_alloc_t             a;
    yibao_replay_result_t     res;
    ngx_http_yibao_replay_t  *d;
    ngx_http_yibao_platform_t *pf;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    d = ngx_pcalloc(pool, sizeof(ngx_http_yibao_replay_t));
    if (d == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    d->pool = pool;
    d->force = force;
    d->key.data = ngx_pstrdup(pool, key);
    d->key.len = key->len;
    d->text.data = ngx_pstrdup(pool, text);
    d->text.len = text->len;

    if (d->key.data == NULL || d->text.data == NULL
        || ngx_http_yibao_replay_conf(d) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    ms = ngx_http_yibao_replay_now(now);
    pf = ((ngx_http_yibao_main_conf_t *)
          ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_yibao_module))
         ->platform;

    *ngx_sprintf((u_char *) by, "pid %P", ngx_pid) = '\0';

    ngx_http_yibao_alloc_init(&a, pool);

    /* a claim stands for the whole sequence: seven exchanges and more */

    if (yibao_replay_claim(d->text.data, d->text.len, &d->conf, by,
                           (int) force, now, ms,
                           ms + 8 * pf->timeout + 10000, &a, &out, &res)
        != YIBAO_OK
        || ngx_http_yibao_replay_write(d, &out, NULL, res.state,
                                       force ? "replay, by the operator"
                                             : "replay")
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    if (res.outcome == YIBAO_REPLAY_WAIT) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "yibao: offline record %V waits for an operator: %s",
                      &d->key, res.reason);
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    ngx_http_yibao_replay_cur = d;

    ngx_http_yibao_replay_step(d);

    return NGX_OK;
}


/* what the record's envelopes need of its clinic and of the gateway */

static ngx_int_t
ngx_http_yibao_replay_conf(ngx_http_yibao_replay_t *d)
{
    yibao_err_t                  err;
    yibao_offline_info_t         info;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    (void) yibao_offline_verify(d->text.data, d->text.len, NULL, &info,
                                &err);

    d->clinic = yibao_clinics_find(gmcf->clinics, (u_char *) info.clinic,
                                   ngx_strlen(info.clinic));
    if (d->clinic == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "yibao: offline record %V is not replayed: its "
                      "clinic is no longer in the registry", &d->key);
        return NGX_ERROR;
    }

    d->conf.entity_code = d->clinic->entity_code;
    d->conf.entity_name = d->clinic->entity_name;
    d->conf.admdvs = d->clinic->admdvs;
    d->conf.mac.data = gmcf->signin_mac.data;
    d->conf.mac.len = gmcf->signin_mac.len;
    d->conf.ip.data = gmcf->signin_ip.data;
    d->conf.ip.len = gmcf->signin_ip.len;

    if (d->conf.mac.len == 0) {
        d->conf.mac = (yibao_str_t) yibao_string("00-00-00-00-00-00");
        d->conf.ip = (yibao_str_t) yibao_string("127.0.0.1");
    }

    d->conf.plan.max_age = gmcf->replay_max_age;
    d->conf.plan.cross_month = gmcf->replay_cross_month ? 1 : 0;
    d->conf.plan.cross_year = gmcf->replay_cross_year ? 1 : 0;

    return NGX_OK;
}


/* the record's next step sent; or the replay stopped */

static void
ngx_http_yibao_replay_step(ngx_http_yibao_replay_t *d)
{
    ngx_str_t                    uri, body, ct, msgid;
    yibao_tm_t                   tm;
    yibao_str_t                  sn, m, infno, out;
    yibao_err_t                  err;
    yibao_alloc_t                a;
    yibao_sign_out_t             sign;
    ngx_http_yibao_loc_conf_t   *glcf;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
    glcf = gmcf->platform->loc;

    if (ngx_exiting || ngx_terminate) {
        ngx_http_yibao_replay_stop(d, "the worker stopped");
        return;
    }

    if (ngx_http_yibao_msgid_issue(gmcf, d->clinic, d->pool, &msgid)
        != NGX_OK)
    {
        ngx_http_yibao_replay_stop(d, "no msgid could be issued");
        return;
    }

    ngx_http_yibao_localtime(ngx_http_yibao_replay_now(NULL), &tm);
    ngx_http_yibao_alloc_init(&a, d->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    sn.data = d->sign_no.data;
    sn.len = d->sign_no.len;
    m.data = msgid.data;
    m.len = msgid.len;

    if (yibao_replay_request(d->text.data, d->text.len, &d->conf, &sn, &m,
                             &tm, &a, &infno, &out, &err)
        != YIBAO_OK)
    {
        ngx_http_yibao_replay_stop(d, err.msg);
        return;
    }

    d->infno.data = (u_char *) infno.data;
    d->infno.len = infno.len;
    body.data = (u_char *) out.data;
    body.len = out.len;

    if (ngx_http_yibao_route_path(glcf, &d->infno, d->pool, &uri) != NGX_OK
        || ngx_http_yibao_sign_body(&glcf->sign, d->clinic, &d->infno, &out,
                                    d->pool, ngx_cycle->log, &sign, NULL)
           != NGX_OK)
    {
        ngx_http_yibao_replay_stop(d, "no route or signature for the step");
        return;
    }

    ct = glcf->upstream_content_type;

    if (ngx_http_yibao_platform_send(gmcf->platform, &uri, &ct, &sign, &body,
                                     ngx_http_yibao_replay_answer, d,
                                     ngx_cycle->log)
        != NGX_OK)
    {
        ngx_http_yibao_replay_stop(d, "the platform could not be reached");
    }
}


static void
ngx_http_yibao_replay_answer(void *data,
    ngx_http_yibao_platform_answer_t *ans)
{
    ngx_http_yibao_replay_t *d = data;

    char                    now[24];
    u_char                 *p;
    size_t                  len;
    uint64_t                ms;
    yibao_str_t             in, out, sn;
    yibao_alloc_t           a;
    const char             *from;
    yibao_replay_result_t   res;

    ms = ngx_http_yibao_replay_now(now);
    ngx_http_yibao_alloc_init(&a, d->pool);

    in.data = d->infno.data;
    in.len = d->infno.len;

    /* an HTTP answer other than 200 says nothing of the visit */

    p = (ans->error == NULL && ans->status == NGX_HTTP_OK) ? ans->body.data
                                                          : NULL;
    len = p ? ans->body.len : 0;

    sn.len = 0;

    if (yibao_replay_answer(d->text.data, d->text.len, &d->conf, &in, p,
                            len, now, ms, &a, &out, &sn, &res)
        != YIBAO_OK)
    {
        ngx_http_yibao_replay_stop(d, "the answer could not be read");
        return;
    }

    from = (res.event != NULL) ? "replaying" : NULL;

    if (ngx_http_yibao_replay_write(d, &out, from, res.state,
                                    res.reason[0] ? res.reason
                                                  : (const char *) NULL)
        != NGX_OK)
    {
        ngx_http_yibao_replay_done(d);
        return;
    }

    if (sn.len) {
        d->sign_no.data = ngx_pnalloc(d->pool, sn.len);
        if (d->sign_no.data == NULL) {
            ngx_http_yibao_replay_stop(d, "out of memory");
            return;
        }

        ngx_memcpy(d->sign_no.data, sn.data, sn.len);
        d->sign_no.len = sn.len;
    }

    if (res.outcome == YIBAO_REPLAY_NEXT) {
        ngx_http_yibao_replay_step(d);
        return;
    }

    ngx_http_yibao_replay_done(d);
}


/*
 * The record's new text written, when it is still the text this driver
 * read or wrote last; a move of its state (from -> to; from NULL: the
 * record's state as read) is logged with why.  NGX_DECLINED: the record
 * changed meanwhile, this driver lets it go.
 */

static ngx_int_t
ngx_http_yibao_replay_write(ngx_http_yibao_replay_t *d, yibao_str_t *text,
    const char *from, const char *to, const char *why)
{
    ngx_str_t                    value;
    ngx_int_t                    rc;
    yibao_replay_info_t          info;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    if (from == NULL) {
        (void) yibao_replay_info(d->text.data, d->text.len, &info);
    }

    value.data = (u_char *) text->data;
    value.len = text->len;

    rc = ngx_http_yibao_store_offline_swap(gmcf, &d->key, &d->text, &value);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "yibao: offline record %V changed under its replay "
                      "(another worker or an operator): left alone",
                      &d->key);
        return NGX_DECLINED;
    }

    if (from == NULL && ngx_strcmp(info.state, to) == 0) {
        from = NULL;

    } else {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "yibao: offline record %*s: %s -> %s%s%s%s",
                      d->key.len - 3, d->key.data + 3,
                      from ? from : info.state, to, why ? " (" : "",
                      why ? why : "", why ? ")" : "");
    }

    d->text = value;

    return NGX_OK;
}


/* the replay ends early: the record back to recorded (nothing settled) */

static void
ngx_http_yibao_replay_stop(ngx_http_yibao_replay_t *d, const char *why)
{
    yibao_str_t    out;
    yibao_alloc_t  a;

    ngx_http_yibao_alloc_init(&a, d->pool);

    if (yibao_replay_release(d->text.data, d->text.len, why, &a, &out)
        == YIBAO_OK)
    {
        (void) ngx_http_yibao_replay_write(d, &out, "replaying", "recorded",
                                           why);
    }

    ngx_http_yibao_replay_all = 0;
    ngx_http_yibao_replay_done(d);
}


static void
ngx_http_yibao_replay_done(ngx_http_yibao_replay_t *d)
{
    ngx_uint_t  all;

    all = ngx_http_yibao_replay_all;

    if (ngx_http_yibao_replay_cur == d) {
        ngx_http_yibao_replay_cur = NULL;
    }

    ngx_destroy_pool(d->pool);

    /* an operator asked for all of them: the next one */

    if (all && !ngx_exiting && !ngx_terminate) {
        (void) ngx_http_yibao_replay_next_record(1);
    }
}


/* now in ms, and as text ("yyyy-MM-dd HH:mm:ss", text of 24) */

static uint64_t
ngx_http_yibao_replay_now(char *text)
{
    uint64_t     ms;
    yibao_tm_t   tm;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    if (text != NULL) {
        ngx_http_yibao_localtime((ngx_msec_t) ms, &tm);
        *ngx_sprintf((u_char *) text, "%04d-%02d-%02d %02d:%02d:%02d",
                     tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec)
            = '\0';
    }

    return ms;
}
