/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_offline.h"
#include "yibao_replay.h"
#include "yibao_resolve.h"


/*
 * 记账 records (yibao_offline): a visit taken while the platform is down,
 * through the gateway's location with yibao_offline_record (the caller
 * authenticated, the envelope checked, the clinic resolved, limits and
 * nonce as for every call; the visit translated by
 * yibao_offline_translate), checked and sealed by adapters/yibao_offline.c
 * and kept in this node's zone through the store's door, chained per
 * clinic and limited per clinic and day.  One worker writes them to the
 * file of yibao_offline every second when they changed (write to a
 * temporary file, rename, in a thread of nginx's "default" thread pool:
 * never on the event loop), and when it exits;
 * the master reads the file back when it starts.  Each new record and
 * each change of a record's state is one line of the error log, without
 * personal data.
 */


#define NGX_HTTP_YIBAO_OFFLINE_FLUSH  1000


typedef struct {
    ngx_http_yibao_offline_add_t   add;       /* first: the seal's data */
    ngx_http_request_t            *r;
    ngx_http_yibao_ctx_t          *ctx;
    yibao_offline_visit_t         *visit;
    u_char                        *day;
    uint64_t                       now;
    ngx_str_t                      id;
    yibao_str_t                    head;      /* the envelope's head */
} ngx_http_yibao_offline_take_t;


static ngx_int_t ngx_http_yibao_offline_seal(
    ngx_http_yibao_offline_add_t *add, const char *prev, ngx_str_t *key,
    ngx_str_t *value);
static ngx_int_t ngx_http_yibao_offline_keys(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_offline_take_t *t);
static ngx_int_t ngx_http_yibao_offline_over_limit(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_offline_take_t *t,
    ngx_http_yibao_main_conf_t *gmcf);
static ngx_int_t ngx_http_yibao_offline_answer(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_offline_take_t *t,
    yibao_offline_info_t *info);
static ngx_int_t ngx_http_yibao_offline_repeat(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_offline_take_t *t);
static ngx_int_t ngx_http_yibao_offline_read(ngx_cycle_t *cycle,
    ngx_http_yibao_main_conf_t *gmcf, ngx_pool_t *pool, u_char **data,
    ssize_t *len);
static ngx_int_t ngx_http_yibao_offline_load(ngx_cycle_t *cycle,
    ngx_http_yibao_main_conf_t *gmcf, ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t *bad);
static void ngx_http_yibao_offline_loaded(ngx_cycle_t *cycle,
    ngx_http_yibao_main_conf_t *gmcf, ngx_uint_t loaded, ngx_uint_t bad);
typedef struct {
    ngx_pool_t                    *pool;      /* all of it is in it */
    ngx_log_t                     *log;
    ngx_array_t                    list;      /* of ngx_str_t */
    uint64_t                       gen;       /* the records' generation */
    ngx_str_t                      file;
    u_char                        *tmp;
    ngx_err_t                      err;
    ngx_uint_t                     failed;    /* 1 writing, 2 renaming */
#if (NGX_THREADS)
    ngx_thread_task_t             *task;
#endif
} ngx_http_yibao_offline_write_t;


static void ngx_http_yibao_offline_flush_handler(ngx_event_t *ev);
static void ngx_http_yibao_offline_flush(ngx_cycle_t *cycle,
    ngx_log_t *log);
static ngx_http_yibao_offline_write_t *ngx_http_yibao_offline_collect(
    ngx_cycle_t *cycle, ngx_log_t *log);
static void ngx_http_yibao_offline_write(ngx_http_yibao_offline_write_t *w,
    ngx_log_t *log);
static void ngx_http_yibao_offline_done(ngx_http_yibao_offline_write_t *w);
#if (NGX_THREADS)
static void ngx_http_yibao_offline_thread(void *data, ngx_log_t *log);
static void ngx_http_yibao_offline_thread_done(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_yibao_offline_api_handler(ngx_http_request_t *r);


static ngx_event_t  ngx_http_yibao_offline_timer;
static uint64_t     ngx_http_yibao_offline_written = (uint64_t) -1;
static ngx_http_yibao_offline_write_t  *ngx_http_yibao_offline_busy;
#if (NGX_THREADS)
static ngx_thread_pool_t               *ngx_http_yibao_offline_pool;
static ngx_str_t  ngx_http_yibao_offline_threads = ngx_string("default");
#endif


/*
 * yibao_offline file=PATH [count=50] [amount=3000.00];
 */

char *
ngx_http_yibao_offline_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    int64_t      c;
    ngx_int_t    n;
    ngx_str_t   *value, v;
    ngx_uint_t   i;

    if (gmcf->offline_file.len) {
        return "is duplicate";
    }

    gmcf->offline_count = 50;
    gmcf->offline_amount = 300000;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_yibao_conf_param(&value[i], "file=", &v) && v.len) {
            gmcf->offline_file = v;

            if (ngx_conf_full_name(cf->cycle, &gmcf->offline_file, 0)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

        } else if (ngx_http_yibao_conf_param(&value[i], "count=", &v)) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            gmcf->offline_count = n;

        } else if (ngx_http_yibao_conf_param(&value[i], "amount=", &v)) {
            c = yibao_offline_cents_text((const char *) v.data, v.len);
            if (c < 0) {
                goto invalid;
            }

            gmcf->offline_amount = c;

        } else {
            goto invalid;
        }
    }

    if (gmcf->offline_file.len == 0) {
        return "needs file=";
    }

#if (NGX_THREADS)
    if (ngx_thread_pool_add(cf, &ngx_http_yibao_offline_threads) == NULL) {
        return NGX_CONF_ERROR;
    }
#endif

    return NGX_CONF_OK;

invalid:

    return ngx_http_yibao_conf_invalid(cf, &value[i]);
}


/*
 * The record of the visit in ctx->env (translated already): checked,
 * sealed, kept, and answered.
 */

ngx_int_t
ngx_http_yibao_offline_take(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx)
{
    u_char                         now[24], day[16];
    ngx_int_t                      rc;
    ngx_time_t                    *tp;
    yibao_tm_t                     tm;
    yibao_err_t                    err;
    yibao_alloc_t                  a;
    yibao_offline_visit_t          v;
    ngx_http_yibao_main_conf_t    *gmcf;
    ngx_http_yibao_offline_take_t *t;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->offline_file.len == 0) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_OFFLINE_INVALID,
                              "this gateway takes no 记账 records "
                              "(yibao_offline is not configured)");
        return yibao_gwerr_find(YIBAO_GWERR_OFFLINE_INVALID)->http_status;
    }

    tp = ngx_timeofday();

    ngx_http_yibao_localtime((ngx_msec_t) tp->sec * 1000 + tp->msec, &tm);
    *ngx_sprintf(now, "%04d-%02d-%02d %02d:%02d:%02d", tm.year, tm.mon,
                 tm.mday, tm.hour, tm.min, tm.sec) = '\0';
    *ngx_sprintf(day, "%04d-%02d-%02d", tm.year, tm.mon, tm.mday) = '\0';

    ngx_memzero(&err, sizeof(yibao_err_t));

    if (yibao_offline_check(&ctx->env, (char *) now, &v, &err) != YIBAO_OK) {
        ngx_http_yibao_reject(r, ctx, err.gwerr, "%s", err.msg);
        return yibao_gwerr_find(err.gwerr)->http_status;
    }

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_yibao_offline_take_t));
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t->r = r;
    t->ctx = ctx;
    t->visit = &v;
    t->day = day;
    t->now = (uint64_t) tp->sec * 1000 + tp->msec;

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (ngx_http_yibao_offline_keys(r, ctx, t) != NGX_OK
        || yibao_resolve_head(&ctx->env, &a, &t->head) != YIBAO_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t->add.amount = v.total;
    t->add.max_count = gmcf->offline_count;
    t->add.max_amount = gmcf->offline_amount;
    t->add.seal = ngx_http_yibao_offline_seal;

    rc = ngx_http_yibao_store_offline_add(gmcf, &t->add);

    if (rc == NGX_DONE) {
        return ngx_http_yibao_offline_repeat(r, ctx, t);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_yibao_offline_over_limit(r, ctx, t, gmcf);
    }

    if (rc != NGX_OK) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_INTERNAL,
                              "the 记账 record could not be kept (%s)",
                              rc == NGX_BUSY ? "yibao_zone is full"
                                             : "internal error");
        return yibao_gwerr_find(YIBAO_GWERR_INTERNAL)->http_status;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "yibao: offline record %V of clinic %V: recorded "
                  "(seq %uL, total %L.%02L, paid %L.%02L, caller %V)",
                  &t->id, &ctx->clinic, t->add.seq, v.total / 100,
                  v.total % 100, v.paid / 100, v.paid % 100, &ctx->caller);

    return ngx_http_yibao_offline_answer(r, ctx, t, NULL);
}


/*
 * The keys of the record being taken (t->day set): the clinic's chain
 * head, the clinic's day, the caller's msgid.
 */

static ngx_int_t
ngx_http_yibao_offline_keys(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_offline_take_t *t)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * ctx->clinic.len + ctx->caller.len
                             + ctx->msgid.len + 48);
    if (p == NULL) {
        return NGX_ERROR;
    }

    t->add.head_key.data = p;
    p = ngx_sprintf(p, "jzh:%V", &ctx->clinic);
    t->add.head_key.len = p - t->add.head_key.data;

    t->add.day_key.data = p;
    p = ngx_sprintf(p, "jzd:%V:%s", &ctx->clinic, t->day);
    t->add.day_key.len = p - t->add.day_key.data;

    t->add.msgid_key.data = p;
    p = ngx_sprintf(p, "jzm:%V:%V", &ctx->caller, &ctx->msgid);
    t->add.msgid_key.len = p - t->add.msgid_key.data;
    t->add.pool = r->pool;

    return NGX_OK;
}


/*
 * The record would pass the clinic's limit of the day: refused, with
 * the day's count and amount, the visit's and the limits.
 */

static ngx_int_t
ngx_http_yibao_offline_over_limit(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_offline_take_t *t,
    ngx_http_yibao_main_conf_t *gmcf)
{
    ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_OFFLINE_LIMIT,
                          "clinic %V has %uL 记账 records of %s today "
                          "for %L.%02L yuan; with this visit (%L.%02L) "
                          "it would pass the limit (%ui records, "
                          "%L.%02L yuan a day): not kept", &ctx->clinic,
                          t->add.day_count, t->day,
                          t->add.day_amount / 100,
                          t->add.day_amount % 100, t->visit->total / 100,
                          t->visit->total % 100, gmcf->offline_count,
                          gmcf->offline_amount / 100,
                          gmcf->offline_amount % 100);

    return yibao_gwerr_find(YIBAO_GWERR_OFFLINE_LIMIT)->http_status;
}


/*
 * The caller's msgid has its record already: the clinic system sent the
 * visit again, its first answer lost (that record, not another), or it
 * sent another visit with the msgid of the first (refused, as the
 * journal refuses a msgid used for another request).
 */

static ngx_int_t
ngx_http_yibao_offline_repeat(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_offline_take_t *t)
{
    ngx_int_t                     rc;
    ngx_str_t                     value;
    yibao_err_t                   err;
    yibao_offline_info_t         *info;
    ngx_http_yibao_main_conf_t   *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    info = ngx_pcalloc(r->pool, sizeof(yibao_offline_info_t));
    if (info == NULL
        || ngx_http_yibao_store_offline_get(gmcf, &t->add.existing, r->pool,
                                            &value)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a record that fails its check is shown as it is: the API says */
    (void) yibao_offline_verify(value.data, value.len, NULL, info, &err);

    t->id.data = t->add.existing.data + 3;
    t->id.len = t->add.existing.len - 3;

    rc = yibao_offline_same(&ctx->env, t->visit, value.data, value.len);

    if (rc == YIBAO_ERR_NOMEM) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != YIBAO_OK) {
        ngx_http_yibao_reject(r, ctx, YIBAO_GWERR_MSGID_REUSED,
                              "msgid %V was already used by this caller for "
                              "another visit (记账 record %V); nothing was "
                              "kept: use a new msgid", &ctx->msgid, &t->id);
        return yibao_gwerr_find(YIBAO_GWERR_MSGID_REUSED)->http_status;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "yibao: offline record %V of clinic %V: sent again "
                  "(msgid %V), state %s kept", &t->id, &ctx->clinic,
                  &ctx->msgid, info->state);

    return ngx_http_yibao_offline_answer(r, ctx, t, info);
}


/* under the zone's lock: the record that follows prev */

static ngx_int_t
ngx_http_yibao_offline_seal(ngx_http_yibao_offline_add_t *add,
    const char *prev, ngx_str_t *key, ngx_str_t *value)
{
    u_char                         *p;
    yibao_str_t                     out;
    yibao_alloc_t                   a;
    yibao_offline_meta_t            m;
    ngx_http_yibao_ctx_t           *ctx;
    ngx_http_yibao_offline_take_t  *t;

    t = (ngx_http_yibao_offline_take_t *) add;
    ctx = t->ctx;

    p = ngx_pnalloc(t->r->pool, 3 + 2 + ctx->clinic.len + NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    p = ngx_sprintf(p, "jz:JZ%V%06uL", &ctx->clinic, add->seq);
    key->len = p - key->data;

    t->id.data = key->data + 3;
    t->id.len = key->len - 3;

    ngx_memzero(&m, sizeof(yibao_offline_meta_t));

    m.id.data = t->id.data;
    m.id.len = t->id.len;
    m.clinic.data = ctx->clinic.data;
    m.clinic.len = ctx->clinic.len;
    m.entity.data = ctx->entity.data;
    m.entity.len = ctx->entity.len;
    m.caller.data = ctx->caller.data;
    m.caller.len = ctx->caller.len;
    m.opter.data = ctx->opter.data;
    m.opter.len = ctx->opter.len;
    m.msgid.data = ctx->msgid.data;
    m.msgid.len = ctx->msgid.len;
    m.day.data = t->day;
    m.day.len = 10;
    m.recorded_ms = t->now;
    m.seq = add->seq;
    m.head = t->head;

    ngx_http_yibao_alloc_init(&a, t->r->pool);

    if (yibao_offline_seal(&ctx->env, &m, t->visit, prev, &a, &out,
                           add->hash)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    value->data = (u_char *) out.data;
    value->len = out.len;

    return NGX_OK;
}


/* the national envelope of the answer: the record's id */

static ngx_int_t
ngx_http_yibao_offline_answer(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_http_yibao_offline_take_t *t, yibao_offline_info_t *info)
{
    u_char      *p, *last;
    size_t       len;
    int64_t      total, paid;
    uint64_t     seq;
    const char  *state, *hash;

    if (info) {
        state = info->state;
        hash = info->hash;
        seq = info->seq;
        total = info->total;
        paid = info->paid;

    } else {
        state = "recorded";
        hash = t->add.hash;
        seq = t->add.seq;
        total = t->visit->total;
        paid = t->visit->paid;
    }

    len = 512 + ctx->msgid.len + t->id.len + YIBAO_OFFLINE_HASH_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_snprintf(p, len,
                        "{\"infcode\":0,\"inf_refmsgid\":\"%V\","
                        "\"refmsg_time\":null,\"respond_time\":null,"
                        "\"err_msg\":null,\"warn_msg\":null,"
                        "\"cainfo\":null,\"signtype\":null,"
                        "\"output\":{\"offline\":{\"id\":\"%V\","
                        "\"state\":\"%s\",\"seq\":%uL,"
                        "\"total\":\"%L.%02L\",\"paid\":\"%L.%02L\","
                        "\"hash\":\"%s\",\"day_count\":%uL,"
                        "\"day_amount\":\"%L.%02L\",\"repeat\":%s}}}",
                        &ctx->msgid, &t->id, state, seq, total / 100,
                        total % 100, paid / 100, paid % 100, hash,
                        t->add.day_count, t->add.day_amount / 100,
                        t->add.day_amount % 100,
                        info ? "true" : "false");

    ctx->mdtrt_id = t->id;
    ctx->cache_answer.data = p;
    ctx->cache_answer.len = last - p;
    ctx->cache_serve = 1;

    return NGX_HTTP_YIBAO_SERVE_CACHED;
}


/*
 * The master, at the start: the records of the file into a zone that
 * has none (a reload keeps the zone and its records).
 */

ngx_int_t
ngx_http_yibao_offline_init_module(ngx_cycle_t *cycle)
{
    u_char                        *p, *end, *nl;
    ssize_t                        n;
    uint64_t                       gen;
    ngx_int_t                      rc;
    ngx_str_t                      prefix, value, *have;
    ngx_uint_t                     loaded, bad;
    ngx_pool_t                    *pool;
    ngx_array_t                    list;
    ngx_http_yibao_main_conf_t    *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->offline_file.len == 0
        || gmcf->shm_zone == NULL)
    {
        return NGX_OK;
    }

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&prefix, "jz:");

    if (ngx_array_init(&list, pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_http_yibao_store_offline_list(gmcf, &prefix, pool, &list,
                                             &gen)
           != NGX_OK)
    {
        goto failed;
    }

    have = list.elts;

    if (list.nelts) {
        /* a reload: the zone has them */
        (void) have;
        ngx_destroy_pool(pool);
        return NGX_OK;
    }

    rc = ngx_http_yibao_offline_read(cycle, gmcf, pool, &p, &n);

    if (rc == NGX_DECLINED) {
        ngx_destroy_pool(pool);
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        goto failed;
    }

    end = p + n;
    loaded = 0;
    bad = 0;

    for ( /* void */ ; p < end; p = nl + 1) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            nl = end;
        }

        value.data = p;
        value.len = nl - p;

        if (value.len == 0) {
            continue;
        }

        rc = ngx_http_yibao_offline_load(cycle, gmcf, pool, &value, &bad);

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            goto failed;
        }

        loaded++;
    }

    ngx_http_yibao_offline_loaded(cycle, gmcf, loaded, bad);

    ngx_destroy_pool(pool);

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* What the master loaded from the file, said once. */

static void
ngx_http_yibao_offline_loaded(ngx_cycle_t *cycle,
    ngx_http_yibao_main_conf_t *gmcf, ngx_uint_t loaded, ngx_uint_t bad)
{
    if (bad) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "yibao: %ui 记账 records read from \"%V\"; %ui fail "
                      "their check: see the offline API", loaded,
                      &gmcf->offline_file, bad);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "yibao: %ui 记账 records read from \"%V\"", loaded,
                      &gmcf->offline_file);
    }
}


/*
 * The file of the records read whole into pool; NGX_DECLINED: there is
 * no file yet.
 */

static ngx_int_t
ngx_http_yibao_offline_read(ngx_cycle_t *cycle,
    ngx_http_yibao_main_conf_t *gmcf, ngx_pool_t *pool, u_char **data,
    ssize_t *len)
{
    u_char           *p;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_info_t   fi;

    fd = ngx_open_file(gmcf->offline_file.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "yibao: cannot open the 记账 records \"%V\"",
                          &gmcf->offline_file);
            return NGX_ERROR;
        }

        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, ngx_file_size(&fi) + 1);
    if (p == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, p, ngx_file_size(&fi));
    ngx_close_file(fd);

    if (n < 0) {
        return NGX_ERROR;
    }

    *data = p;
    *len = n;

    return NGX_OK;
}


/*
 * One line of the file, a record, loaded into the zone with its keys
 * (one failing its check is kept as it is, counted in bad); NGX_DECLINED:
 * a line without an id or a clinic, skipped.
 */

static ngx_int_t
ngx_http_yibao_offline_load(ngx_cycle_t *cycle,
    ngx_http_yibao_main_conf_t *gmcf, ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t *bad)
{
    ngx_str_t                      key;
    yibao_str_t                    out;
    yibao_err_t                    err;
    yibao_alloc_t                  a;
    yibao_offline_info_t           info;
    ngx_http_yibao_offline_add_t   add;

    if (yibao_offline_verify(value->data, value->len, NULL, &info, &err)
        != YIBAO_OK)
    {
        /* kept as it is: reading it says what is wrong */
        (*bad)++;

        if (info.id[0] == '\0' || info.clinic[0] == '\0') {
            return NGX_DECLINED;
        }
    }

    ngx_memzero(&add, sizeof(ngx_http_yibao_offline_add_t));

    key.data = ngx_pnalloc(pool, 3 + ngx_strlen(info.id));
    add.head_key.data = ngx_pnalloc(pool, 4 + ngx_strlen(info.clinic));
    add.day_key.data = ngx_pnalloc(pool, 5 + ngx_strlen(info.clinic)
                                         + ngx_strlen(info.day));
    if (key.data == NULL || add.head_key.data == NULL
        || add.day_key.data == NULL)
    {
        return NGX_ERROR;
    }

    key.len = ngx_sprintf(key.data, "jz:%s", info.id) - key.data;
    add.head_key.len = ngx_sprintf(add.head_key.data, "jzh:%s",
                                   info.clinic)
                       - add.head_key.data;
    add.day_key.len = ngx_sprintf(add.day_key.data, "jzd:%s:%s",
                                  info.clinic, info.day)
                      - add.day_key.data;
    if (info.msgid[0] && info.caller[0]) {
        add.msgid_key.data = ngx_pnalloc(pool,
                                         5 + ngx_strlen(info.caller)
                                         + ngx_strlen(info.msgid));
        if (add.msgid_key.data == NULL) {
            return NGX_ERROR;
        }

        add.msgid_key.len = ngx_sprintf(add.msgid_key.data, "jzm:%s:%s",
                                        info.caller, info.msgid)
                            - add.msgid_key.data;
    }

    /* a replay cut by the stop: nothing was settled, it is replayed again */

    if (ngx_strcmp(info.state, "replaying") == 0) {
        ngx_http_yibao_alloc_init(&a, pool);

        if (yibao_replay_release(value->data, value->len,
                                 "the gateway stopped during its replay",
                                 &a, &out)
            == YIBAO_OK)
        {
            value->data = (u_char *) out.data;
            value->len = out.len;

            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "yibao: offline record %s: replaying -> recorded "
                          "(the gateway stopped during its replay)",
                          info.id);
        }
    }

    add.seq = info.seq;
    add.amount = info.total > 0 ? info.total : 0;
    ngx_memcpy(add.hash, info.hash, YIBAO_OFFLINE_HASH_LEN + 1);

    if (ngx_http_yibao_store_offline_load(gmcf, &add, &key, value)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "yibao: the 记账 records of \"%V\" do not fit "
                      "in yibao_zone", &gmcf->offline_file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one worker keeps the file */

ngx_int_t
ngx_http_yibao_offline_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                 *ev;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->offline_file.len == 0
        || gmcf->shm_zone == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_worker != 0)
    {
        return NGX_OK;
    }

    ev = &ngx_http_yibao_offline_timer;
    ngx_memzero(ev, sizeof(ngx_event_t));
    ev->handler = ngx_http_yibao_offline_flush_handler;
    ev->log = cycle->log;
    ev->cancelable = 1;

#if (NGX_THREADS)
    ngx_http_yibao_offline_pool = ngx_thread_pool_get(cycle,
                                      &ngx_http_yibao_offline_threads);
#endif

    ngx_add_timer(ev, NGX_HTTP_YIBAO_OFFLINE_FLUSH);

    return NGX_OK;
}


void
ngx_http_yibao_offline_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_yibao_offline_write_t  *w;

    if (ngx_http_yibao_offline_timer.handler == NULL) {
        return;
    }

    /*
     * nginx's thread pools ended before this module's exit (they are
     * core modules): a write handed to a thread is done, its pool left
     */

    w = ngx_http_yibao_offline_busy;

    if (w != NULL) {
        ngx_http_yibao_offline_busy = NULL;
        ngx_destroy_pool(w->pool);
    }

    w = ngx_http_yibao_offline_collect(cycle, cycle->log);

    if (w != NULL) {
        ngx_http_yibao_offline_write(w, cycle->log);
        ngx_http_yibao_offline_done(w);
    }
}


static void
ngx_http_yibao_offline_flush_handler(ngx_event_t *ev)
{
    ngx_http_yibao_offline_flush((ngx_cycle_t *) ngx_cycle, ev->log);

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(ev, NGX_HTTP_YIBAO_OFFLINE_FLUSH);
    }
}


/*
 * Writes every record to the file when they changed since the last
 * write: a temporary file beside it (mode 600), then renamed over it.
 * The records are copied out of the zone here; the writing, which for
 * a backlog of thousands of records takes milliseconds, is done by a
 * thread of nginx's "default" thread pool, off the event loop (one
 * write at a time; the next timer tries again while one is under way).
 */

static void
ngx_http_yibao_offline_flush(ngx_cycle_t *cycle, ngx_log_t *log)
{
    ngx_http_yibao_offline_write_t  *w;

    if (ngx_http_yibao_offline_busy != NULL) {
        return;
    }

    w = ngx_http_yibao_offline_collect(cycle, log);
    if (w == NULL) {
        return;
    }

#if (NGX_THREADS)

    if (ngx_http_yibao_offline_pool != NULL) {
        w->task->ctx = w;
        w->task->handler = ngx_http_yibao_offline_thread;
        w->task->event.data = w;
        w->task->event.handler = ngx_http_yibao_offline_thread_done;

        if (ngx_thread_task_post(ngx_http_yibao_offline_pool, w->task)
            == NGX_OK)
        {
            ngx_http_yibao_offline_busy = w;
            return;
        }
    }

#endif

    ngx_http_yibao_offline_write(w, log);
    ngx_http_yibao_offline_done(w);
}


/* the records and the generation they are of, when not written yet */

static ngx_http_yibao_offline_write_t *
ngx_http_yibao_offline_collect(ngx_cycle_t *cycle, ngx_log_t *log)
{
    ngx_str_t                        prefix;
    ngx_pool_t                      *pool;
    ngx_http_yibao_main_conf_t      *gmcf;
    ngx_http_yibao_offline_write_t  *w;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    ngx_str_set(&prefix, "jz:");

    w = ngx_pcalloc(pool, sizeof(ngx_http_yibao_offline_write_t));

    if (w == NULL
        || ngx_array_init(&w->list, pool, 64, sizeof(ngx_str_t)) != NGX_OK
        || ngx_http_yibao_store_offline_list(gmcf, &prefix, pool, &w->list,
                                             &w->gen)
           != NGX_OK
        || w->gen == ngx_http_yibao_offline_written)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    w->pool = pool;
    w->log = log;
    w->file = gmcf->offline_file;

    w->tmp = ngx_pnalloc(pool, w->file.len + sizeof(".tmp"));
    if (w->tmp == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ngx_sprintf(w->tmp, "%V.tmp%Z", &w->file);

#if (NGX_THREADS)

    w->task = ngx_thread_task_alloc(pool, 0);
    if (w->task == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

#endif

    return w;
}


/*
 * The file written (in a thread or, without a thread pool and when the
 * worker exits, in the worker): no logging here, what failed is kept
 * for ngx_http_yibao_offline_done
 */

static void
ngx_http_yibao_offline_write(ngx_http_yibao_offline_write_t *w,
    ngx_log_t *log)
{
    ngx_fd_t     fd;
    ngx_str_t   *v;
    ngx_uint_t   i;

    fd = ngx_open_file(w->tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);
    if (fd == NGX_INVALID_FILE) {
        w->err = ngx_errno;
        w->failed = 1;
        return;
    }

    v = w->list.elts;

    for (i = 0; i < w->list.nelts; i++) {
        if (ngx_write_fd(fd, v[i].data, v[i].len) != (ssize_t) v[i].len
            || ngx_write_fd(fd, "\n", 1) != 1)
        {
            w->err = ngx_errno;
            w->failed = 1;
            ngx_close_file(fd);
            return;
        }
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR
        || ngx_rename_file(w->tmp, w->file.data) == NGX_FILE_ERROR)
    {
        w->err = ngx_errno;
        w->failed = 2;
    }
}


/* in the worker again: said when it failed, remembered when it did not */

static void
ngx_http_yibao_offline_done(ngx_http_yibao_offline_write_t *w)
{
    if (w->failed == 1) {
        ngx_log_error(NGX_LOG_ERR, w->log, w->err,
                      "yibao: cannot write the 记账 records to \"%s\"",
                      w->tmp);

    } else if (w->failed) {
        ngx_log_error(NGX_LOG_ERR, w->log, w->err,
                      "yibao: cannot keep the 记账 records in \"%V\"",
                      &w->file);

    } else {
        ngx_http_yibao_offline_written = w->gen;
    }

    ngx_destroy_pool(w->pool);
}


#if (NGX_THREADS)

static void
ngx_http_yibao_offline_thread(void *data, ngx_log_t *log)
{
    ngx_http_yibao_offline_write(data, log);
}


static void
ngx_http_yibao_offline_thread_done(ngx_event_t *ev)
{
    if (ngx_http_yibao_offline_busy == ev->data) {
        ngx_http_yibao_offline_busy = NULL;
        ngx_http_yibao_offline_done(ev->data);
    }
}

#endif


/*
 * yibao_offline_api ADDRESS|CIDR ...;  the operators' view of the
 * records (refused to other addresses):
 *
 *   GET [?clinic=C]          the records (of one clinic), each checked:
 *                            its hash, and that it follows the clinic's
 *                            previous record
 *   GET ?id=ID               one record, checked the same way
 *   GET ?summary=1           per contracting entity: records by state
 *   POST ?id=ID&state=voided an operator voids a record (never settled)
 *
 * No personal data is in the answers: ids, amounts, days, states.
 */

char *
ngx_http_yibao_offline_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_yibao_api_directive(cf, conf,
                                        ngx_http_yibao_offline_api_handler);
}


typedef struct {
    yibao_offline_info_t       info;
    yibao_replay_info_t        replay;
    ngx_str_t                  text;
    ngx_uint_t                 verified;
    char                       problem[128];
} ngx_http_yibao_offline_row_t;


static const char *ngx_http_yibao_offline_api_args(ngx_http_request_t *r,
    ngx_str_t *id, ngx_str_t *clinic);
static ngx_int_t ngx_http_yibao_offline_api_replay(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_offline_api_void(ngx_http_request_t *r,
    ngx_str_t *id, ngx_http_yibao_offline_row_t *one);
static ngx_int_t ngx_http_yibao_offline_api_answer(ngx_http_request_t *r,
    ngx_array_t *rows, ngx_http_yibao_offline_row_t *one);


static int
ngx_http_yibao_offline_cmp(const void *one, const void *two)
{
    int                                  c;
    const ngx_http_yibao_offline_row_t  *a = one, *b = two;

    c = ngx_strcmp(a->info.clinic, b->info.clinic);

    if (c) {
        return c;
    }

    return a->info.seq < b->info.seq ? -1 : a->info.seq > b->info.seq;
}


/* the records under prefix, read, sorted and checked along each chain */

static ngx_int_t
ngx_http_yibao_offline_rows(ngx_http_request_t *r, ngx_str_t *prefix,
    ngx_array_t *rows)
{
    uint64_t                       gen;
    ngx_str_t                     *v;
    ngx_uint_t                     i;
    ngx_array_t                    list;
    yibao_err_t                    err;
    ngx_http_yibao_offline_row_t  *row, *prev;
    ngx_http_yibao_main_conf_t    *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (ngx_array_init(&list, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(rows, r->pool, 16,
                          sizeof(ngx_http_yibao_offline_row_t))
           != NGX_OK
        || ngx_http_yibao_store_offline_list(gmcf, prefix, r->pool, &list,
                                             &gen)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = list.elts;

    for (i = 0; i < list.nelts; i++) {
        row = ngx_array_push(rows);
        if (row == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(row, sizeof(ngx_http_yibao_offline_row_t));
        row->text = v[i];

        ngx_memzero(&err, sizeof(yibao_err_t));

        row->verified = yibao_offline_verify(v[i].data, v[i].len, NULL,
                                             &row->info, &err)
                        == YIBAO_OK;

        (void) yibao_replay_info(v[i].data, v[i].len, &row->replay);

        if (!row->verified) {
            ngx_cpystrn((u_char *) row->problem, (u_char *) err.msg,
                        sizeof(row->problem));
        }
    }

    ngx_qsort(rows->elts, rows->nelts, sizeof(ngx_http_yibao_offline_row_t),
              ngx_http_yibao_offline_cmp);

    row = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        if (!row[i].verified) {
            continue;
        }

        prev = (i && ngx_strcmp(row[i - 1].info.clinic, row[i].info.clinic)
                     == 0)
               ? &row[i - 1] : NULL;

        if (prev == NULL && row[i].info.seq == 1) {
            if (row[i].info.prev[0] != '\0') {
                row[i].verified = 0;
            }

        } else if (prev == NULL || prev->info.seq + 1 != row[i].info.seq
                   || ngx_strcmp(prev->info.hash, row[i].info.prev) != 0)
        {
            row[i].verified = 0;
        }

        if (!row[i].verified) {
            ngx_cpystrn((u_char *) row[i].problem,
                        (u_char *) "the clinic's chain is broken before "
                        "this record: the previous record is missing or "
                        "is not the one it follows", sizeof(row->problem));
        }
    }

    return NGX_OK;
}


static u_char *
ngx_http_yibao_offline_row_json(u_char *p, u_char *last,
    ngx_http_yibao_offline_row_t *row)
{
    char                  total[32], paid[32], cash[32];
    u_char                reason[2 * sizeof(row->replay.reason)];
    yibao_replay_info_t  *ri;

    p = ngx_slprintf(p, last,
                     "{\"id\":\"%s\",\"clinic\":\"%s\",\"seq\":%uL,"
                     "\"state\":\"%s\",\"day\":\"%s\","
                     "\"total\":\"%s\",\"paid\":\"%s\","
                     "\"hash\":\"%s\",\"verified\":%s,"
                     "\"problem\":\"%s\",",
                     row->info.id, row->info.clinic, row->info.seq,
                     row->info.state, row->info.day,
                     yibao_offline_amount(row->info.total, total),
                     yibao_offline_amount(row->info.paid, paid),
                     row->info.hash, row->verified ? "true" : "false",
                     row->problem);

    /* its replay: the 2206's patient share, why it waits or was refused */

    ri = &row->replay;

    *(u_char *) ngx_escape_json(reason, (u_char *) ri->reason,
                                ngx_strlen(ri->reason)) = '\0';

    cash[0] = '\0';

    if (ri->psn_cash >= 0) {
        (void) yibao_offline_amount(ri->psn_cash, cash);
    }

    return ngx_slprintf(p, last,
                        "\"psn_cash\":\"%s\",\"mdtrt_id\":\"%s\","
                        "\"attempts\":%uL,\"reason\":\"%s\"}",
                        cash, ri->mdtrt_id, ri->attempts, reason);
}



static ngx_int_t
ngx_http_yibao_offline_void(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_yibao_offline_row_t *row)
{
    ngx_str_t                    key, value;
    const char                  *next;
    yibao_str_t                  out;
    yibao_alloc_t                a;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);


    if (yibao_offline_next(row->info.state, "void", &next) != YIBAO_OK) {
        /* settling, settled or voided already: never */
        return NGX_HTTP_CONFLICT;
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_offline_restate(row->text.data, row->text.len, next, &a,
                              &out)
        != YIBAO_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key.data = ngx_pnalloc(r->pool, id->len + 3);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key.len = ngx_sprintf(key.data, "jz:%V", id) - key.data;
    value.data = (u_char *) out.data;
    value.len = out.len;

    if (ngx_http_yibao_store_offline_put(gmcf, &key, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "yibao: offline record %V of clinic %s: %s -> %s (by "
                  "the operator)", id, row->info.clinic, row->info.state,
                  next);

    ngx_cpystrn((u_char *) row->info.state, (u_char *) next,
                sizeof(row->info.state));

    return NGX_OK;
}


/*
 * ?summary=1: per contracting entity (a township hospital and its
 * villages, or a clinic under its own designation), the records in each
 * state, those that fail their check, and the amounts not yet settled.
 */

static ngx_int_t
ngx_http_yibao_offline_summary(ngx_http_request_t *r, ngx_array_t *rows)
{
    u_char                        *p, *last;
    size_t                         size;
    int64_t                        open;
    ngx_uint_t                     i, j, k, count, bad, first;
    ngx_http_yibao_offline_row_t  *row;

    row = rows->elts;
    size = 64 + rows->nelts * (256 + 24 * YIBAO_OFFLINE_STATES);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_slprintf(p, p + size, "{\"entities\":[");
    first = 1;

    for (i = 0; i < rows->nelts; i++) {

        /* each entity once, at its first row */

        for (j = 0; j < i; j++) {
            if (ngx_strcmp(row[j].info.entity, row[i].info.entity) == 0) {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        last = ngx_slprintf(last, p + size, "%s{\"entity\":\"%s\"",
                            first ? "" : ",", row[i].info.entity);
        first = 0;

        for (k = 0; k < YIBAO_OFFLINE_STATES; k++) {
            count = 0;

            for (j = i; j < rows->nelts; j++) {
                if (ngx_strcmp(row[j].info.entity, row[i].info.entity) == 0
                    && ngx_strcmp(row[j].info.state,
                                  yibao_offline_state_name(k)) == 0)
                {
                    count++;
                }
            }

            last = ngx_slprintf(last, p + size, ",\"%s\":%ui",
                                yibao_offline_state_name(k), count);
        }

        bad = 0;
        open = 0;

        for (j = i; j < rows->nelts; j++) {
            if (ngx_strcmp(row[j].info.entity, row[i].info.entity) != 0) {
                continue;
            }

            bad += row[j].verified ? 0 : 1;

            if (ngx_strcmp(row[j].info.state, "settled") != 0
                && ngx_strcmp(row[j].info.state, "voided") != 0
                && row[j].info.total > 0)
            {
                open += row[j].info.total;
            }
        }

        last = ngx_slprintf(last, p + size,
                            ",\"unverified\":%ui,\"open_amount\":"
                            "\"%L.%02L\"}", bad, open / 100, open % 100);
    }

    last = ngx_slprintf(last, p + size, "]}");

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, p, last - p);
}


/*
 * The API's arguments: id= (a record's id; its clinic's chain is read
 * whole, also for one record), clinic=, and for a POST state=voided.
 * NULL, or what is wrong: an argument given empty or malformed is never
 * taken for "every record".
 */

static const char *
ngx_http_yibao_offline_api_args(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *clinic)
{
    ngx_str_t    state;
    ngx_uint_t   has_id, has_clinic;
    yibao_str_t  c;

    ngx_str_null(id);
    ngx_str_null(clinic);
    ngx_str_null(&state);

    has_id = ngx_http_arg(r, (u_char *) "id", 2, id) == NGX_OK;
    has_clinic = ngx_http_arg(r, (u_char *) "clinic", 6, clinic) == NGX_OK;
    (void) ngx_http_arg(r, (u_char *) "state", 5, &state);

    /* an operator voids a record: nothing else is posted */

    if (r->method == NGX_HTTP_POST
        && (id->len == 0 || state.len != 6
            || ngx_strncmp(state.data, "voided", 6) != 0))
    {
        return "POST needs id= and state=voided";
    }

    if (has_id) {
        if (yibao_offline_id(id->data, id->len, &c) != YIBAO_OK) {
            return "id= is empty or not a record's id: JZ, the clinic's "
                   "22-character code and the record's number (6 to 20 "
                   "digits)";
        }

        clinic->data = (u_char *) c.data;
        clinic->len = c.len;

    } else if (has_clinic && !yibao_code_is_org(clinic->data, clinic->len)) {
        return "clinic= is empty or not a clinic's code (22 characters of "
               "0-9 and A-Z)";
    }

    return NULL;
}


/* The operators' 记账 API: a clinic's records, one, or one voided. */

static ngx_int_t
ngx_http_yibao_offline_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      id, clinic, state, prefix;
    ngx_uint_t                     i;
    const char                    *bad;
    ngx_array_t                    rows;
    ngx_http_yibao_offline_row_t  *row, *one;
    ngx_http_yibao_main_conf_t    *gmcf;

    rc = ngx_http_yibao_api_start(r);
    if (rc != NGX_OK) {
        return rc;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->offline_file.len == 0 || gmcf->shm_zone == NULL) {
        return ngx_http_yibao_api_error(r, NGX_HTTP_NOT_FOUND,
                                        "yibao_offline is not "
                                        "configured");
    }

    /* an operator replays the records, or one (ngx_http_yibao_replay.c) */

    if (r->method == NGX_HTTP_POST
        && ngx_http_arg(r, (u_char *) "replay", 6, &state) == NGX_OK)
    {
        return ngx_http_yibao_offline_api_replay(r);
    }

    bad = ngx_http_yibao_offline_api_args(r, &id, &clinic);
    if (bad != NULL) {
        return ngx_http_yibao_api_error(r, NGX_HTTP_BAD_REQUEST, bad);
    }

    prefix.data = ngx_pnalloc(r->pool, clinic.len + 8);
    if (prefix.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    prefix.len = clinic.len
                 ? ngx_sprintf(prefix.data, "jz:JZ%V", &clinic) - prefix.data
                 : ngx_sprintf(prefix.data, "jz:") - prefix.data;

    if (ngx_http_yibao_offline_rows(r, &prefix, &rows) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    row = rows.elts;
    one = NULL;

    if (id.len) {
        for (i = 0; i < rows.nelts; i++) {
            if (ngx_strlen(row[i].info.id) == id.len
                && ngx_strncmp(row[i].info.id, id.data, id.len) == 0)
            {
                one = &row[i];
            }
        }

        if (one == NULL) {
            return ngx_http_yibao_api_error(r, NGX_HTTP_NOT_FOUND,
                                            "no such record");
        }
    }

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_yibao_offline_api_void(r, &id, one);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_arg(r, (u_char *) "summary", 7, &state) == NGX_OK) {
        return ngx_http_yibao_offline_summary(r, &rows);
    }

    return ngx_http_yibao_offline_api_answer(r, &rows, one);
}


static int
ngx_http_yibao_offline_entity_cmp(const void *one, const void *two)
{
    const ngx_http_yibao_offline_row_t  *a = one, *b = two;

    return ngx_strcmp(a->info.entity, b->info.entity);
}


/*
 * The status document's and the metrics' view (t zeroed by the
 * caller): every record, checked as the API checks it, counted by state
 * per contracting entity (yibao_status_offline_count, _add).
 */

ngx_int_t
ngx_http_yibao_offline_status(ngx_http_request_t *r,
    yibao_status_offline_t *t)
{
    ngx_str_t                      prefix;
    ngx_uint_t                     i;
    ngx_array_t                    rows;
    yibao_status_offline_entity_t  e;
    ngx_http_yibao_offline_row_t  *row;
    ngx_http_yibao_main_conf_t    *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->offline_file.len == 0
        || gmcf->shm_zone == NULL)
    {
        return NGX_OK;
    }

    t->configured = 1;

    ngx_str_set(&prefix, "jz:");

    if (ngx_http_yibao_offline_rows(r, &prefix, &rows) != NGX_OK) {
        return NGX_ERROR;
    }

    row = rows.elts;

    ngx_qsort(row, rows.nelts, sizeof(ngx_http_yibao_offline_row_t),
              ngx_http_yibao_offline_entity_cmp);

    for (i = 0; i < rows.nelts; i++) {

        if (i == 0 || ngx_strcmp(row[i].info.entity, row[i - 1].info.entity)
                      != 0)
        {
            ngx_memzero(&e, sizeof(yibao_status_offline_entity_t));
            ngx_cpystrn((u_char *) e.entity, (u_char *) row[i].info.entity,
                        sizeof(e.entity));
        }

        yibao_status_offline_count(&e, row[i].info.state,
                                   row[i].info.recorded_ms,
                                   row[i].verified);

        if (i + 1 == rows.nelts
            || ngx_strcmp(row[i].info.entity, row[i + 1].info.entity) != 0)
        {
            yibao_status_offline_add(t, &e);
        }
    }

    return NGX_OK;
}


/*
 * POST ?replay=1[&id=ID]: 202 when the replay started (of the record,
 * or of every record the rules let go); 409 when the record cannot be
 * taken (not recorded or waiting, or held by another driver).
 */

static ngx_int_t
ngx_http_yibao_offline_api_replay(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    one, *id;
    yibao_str_t                  c;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (!gmcf->replay) {
        return ngx_http_yibao_api_error(r, NGX_HTTP_NOT_FOUND,
                                        "yibao_offline_replay is "
                                        "not on");
    }

    id = &one;
    ngx_str_null(id);

    if (ngx_http_arg(r, (u_char *) "id", 2, id) == NGX_OK
        && yibao_offline_id(id->data, id->len, &c) != YIBAO_OK)
    {
        return ngx_http_yibao_api_error(r, NGX_HTTP_BAD_REQUEST,
                                        "id= is empty or not a "
                                        "record's id");
    }

    rc = ngx_http_yibao_replay_command(r, id);

    if (rc == NGX_DECLINED) {
        return ngx_http_yibao_api_error(r, NGX_HTTP_CONFLICT,
                                        "the record is not "
                                        "recorded or waiting, or "
                                        "is replayed already");
    }

    if (rc == NGX_BUSY) {
        return ngx_http_yibao_api_error(r, NGX_HTTP_CONFLICT,
                                        "this worker replays "
                                        "another record: ask "
                                        "again");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, id->len + 64);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_yibao_send_json(r, NGX_HTTP_ACCEPTED, p,
                                    ngx_sprintf(p, "{\"replay\":\"%V\"}",
                                                id->len ? id
                                                        : &ngx_http_yibao_star)
                                    - p);
}


/*
 * POST ?id=...&state=voided (checked before, the record found):
 * NGX_DECLINED when the record was voided (it is then answered as a
 * GET), or the refusal sent.
 */

static ngx_int_t
ngx_http_yibao_offline_api_void(ngx_http_request_t *r, ngx_str_t *id,
    ngx_http_yibao_offline_row_t *one)
{
    ngx_int_t  rc;

    rc = ngx_http_yibao_offline_void(r, id, one);

    if (rc == NGX_HTTP_CONFLICT) {
        return ngx_http_yibao_api_error(r, rc,
                                        "a record settling, "
                                        "settled or voided "
                                        "cannot be voided");
    }

    return (rc == NGX_OK) ? NGX_DECLINED : rc;
}


/* The record asked for, or every record read, in JSON. */

static ngx_int_t
ngx_http_yibao_offline_api_answer(ngx_http_request_t *r, ngx_array_t *rows,
    ngx_http_yibao_offline_row_t *one)
{
    u_char                        *p, *last;
    size_t                         size;
    ngx_uint_t                     i, n;
    ngx_http_yibao_offline_row_t  *row;

    row = rows->elts;

    n = one ? 1 : rows->nelts;
    size = 64 + n * (2048 + YIBAO_OFFLINE_HASH_LEN);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (one) {
        last = ngx_http_yibao_offline_row_json(p, p + size, one);
        return ngx_http_yibao_send_json(r, NGX_HTTP_OK, p, last - p);
    }

    last = ngx_slprintf(p, p + size, "{\"records\":[");

    for (i = 0; i < rows->nelts; i++) {
        if (i) {
            *last++ = ',';
        }

        last = ngx_http_yibao_offline_row_json(last, p + size, &row[i]);
    }

    last = ngx_slprintf(last, p + size, "]}");

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, p, last - p);
}
