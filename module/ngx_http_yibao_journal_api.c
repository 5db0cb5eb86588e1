/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_journal.h"


/*
 * The operators' journal API (yibao_journal_api): the records by msgid,
 * visit, settlement, clinic and day, the day's problems, the unknown
 * ones, an entity's totals for 3201, and an operator's resolution.  The
 * records are written by ngx_http_yibao_journal.c; a list is read in
 * steps (one batch of Redis's records, or one hold of the zone's lock, a
 * turn of the event loop) so that no query stalls the transactions.
 */


/* what a query of the embedded store copies out of the zone at most */
#define NGX_HTTP_YIBAO_JOURNAL_ZONE_MAX  (8 * 1024 * 1024)

/* the records of Redis's answer to a query taken per step */
#define NGX_HTTP_YIBAO_JOURNAL_STEP      64


static ngx_int_t ngx_http_yibao_journal_api_handler(ngx_http_request_t *r);
static void ngx_http_yibao_journal_api_reply(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_journal_api_wait(ngx_http_request_t *r,
    ngx_int_t rc);


/*
 * yibao_journal_api: GET ?caller=C&msgid=M -> the record; GET
 * ?state=unknown -> the unknown records (Redis: all nodes'; embedded:
 * this node's); POST ?caller=C&msgid=M&state=ok|failed -> an operator's
 * (or the resolver's) resolution.  Protect it with allow/deny.
 */

char *
ngx_http_yibao_journal_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_yibao_journal_api_handler;

    return NGX_CONF_OK;
}


/* the request's query for the Redis answer */

typedef struct {
    ngx_http_request_t          *r;
    yibao_journal_query_t        q;
    ngx_uint_t                   list;          /* the answer is a list */

    ngx_str_t                    qkey;          /* a list's index key */

    /*
     * a list is made in steps, one per turn of the event loop: a batch
     * of Redis's records, or one hold of the zone's lock
     */
    yibao_journal_sel_t         *sel;
    ngx_event_t                  step;
    ngx_http_yibao_shm_cursor_t  zone;          /* this node's zone's records */
    ngx_str_t                   *recs;          /* Redis's records, copied */
    ngx_uint_t                   nrecs;
    ngx_uint_t                   next;          /* the next of recs */

    /* one record: its key; a resolution's state and setl_id */
    ngx_str_t                    key;
    ngx_str_t                    state;
    ngx_str_t                    setl;
} ngx_http_yibao_journal_api_t;


static ngx_int_t ngx_http_yibao_journal_api_parse(
    ngx_http_yibao_journal_api_t *ja, const char **msg);
static ngx_int_t ngx_http_yibao_journal_api_totals(
    ngx_http_yibao_journal_api_t *ja);
static ngx_int_t ngx_http_yibao_journal_api_kind(
    ngx_http_yibao_journal_api_t *ja, ngx_str_t *msgid, const char **msg);
static ngx_int_t ngx_http_yibao_journal_api_redis(
    ngx_http_yibao_journal_api_t *ja);
static ngx_int_t ngx_http_yibao_journal_api_query(ngx_http_request_t *r,
    ngx_http_yibao_journal_api_t *ja);
static ngx_int_t ngx_http_yibao_journal_api_send(
    ngx_http_yibao_journal_api_t *ja, u_char *data, size_t len);
static ngx_int_t ngx_http_yibao_journal_api_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *msg);
static ngx_int_t ngx_http_yibao_journal_api_zone(
    ngx_http_yibao_journal_api_t *ja);
static ngx_int_t ngx_http_yibao_journal_api_list(
    ngx_http_yibao_journal_api_t *ja);
static void ngx_http_yibao_journal_api_step_handler(ngx_event_t *ev);
static void ngx_http_yibao_journal_api_cleanup(void *data);
static ngx_int_t ngx_http_yibao_journal_api_cost(
    ngx_http_yibao_journal_api_t *ja);


/* a query argument: unescaped, empty when absent */

static void
ngx_http_yibao_journal_arg(ngx_http_request_t *r, const char *name,
    yibao_str_t *out)
{
    u_char     *dst, *src;
    ngx_str_t   v;

    out->data = (const unsigned char *) "";
    out->len = 0;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &v) != NGX_OK
        || v.len == 0)
    {
        return;
    }

    dst = ngx_pnalloc(r->pool, v.len);
    if (dst == NULL) {
        return;
    }

    out->data = dst;
    src = v.data;
    ngx_unescape_uri(&dst, &src, v.len, NGX_UNESCAPE_URI);
    out->len = dst - out->data;
}


/*
 * The operators' journal API: the arguments read into a query (a list,
 * or one record), then the query run on the embedded store's zone or
 * on Redis; the answers are rendered by the functions below.
 */

static ngx_int_t
ngx_http_yibao_journal_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    const char                    *msg;
    ngx_http_yibao_journal_api_t  *ja;

    rc = ngx_http_yibao_endpoint_start(r, NGX_HTTP_GET|NGX_HTTP_POST);
    if (rc != NGX_OK) {
        return rc;
    }

    ja = ngx_pcalloc(r->pool, sizeof(ngx_http_yibao_journal_api_t));
    if (ja == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ja->r = r;
    msg = NULL;

    rc = ngx_http_yibao_journal_api_parse(ja, &msg);

    if (rc != NGX_OK) {
        return msg ? ngx_http_yibao_journal_api_error(r, rc, msg) : rc;
    }

    if (ja->q.kind != YIBAO_JOURNAL_Q_NONE) {
        return ngx_http_yibao_journal_api_query(r, ja);
    }

    if (ngx_http_yibao_store_state() == NGX_HTTP_YIBAO_STORE_LOCAL) {
        return ngx_http_yibao_journal_api_zone(ja);
    }

    return ngx_http_yibao_journal_api_redis(ja);
}


/*
 * The request's arguments: a list's query (ja->q.kind), or one record
 * (ja->key, with a resolution's state and setl_id).  NGX_OK, or the
 * status to answer with, and for a 400 *msg: what is wrong.
 */

static ngx_int_t
ngx_http_yibao_journal_api_parse(ngx_http_yibao_journal_api_t *ja,
    const char **msg)
{
    u_char                      *day;
    ngx_str_t                    caller, msgid;
    ngx_time_t                  *tp;
    yibao_tm_t                   tm;
    ngx_http_request_t          *r;
    yibao_journal_state_e        st;
    ngx_http_yibao_main_conf_t  *gmcf;

    r = ja->r;
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    day = ngx_pnalloc(r->pool, 11);
    if (day == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    ja->q.now_ms = (uint64_t) tp->sec * 1000 + tp->msec;
    ja->q.in_flight_ms = gmcf->journal_in_flight;

    ngx_http_yibao_journal_arg(r, "day", &ja->q.day);

    if (ja->q.day.len == 0 || (ja->q.day.len == 5
                               && ngx_strncmp(ja->q.day.data, "today", 5)
                                  == 0))
    {
        ngx_http_yibao_localtime(ja->q.now_ms, &tm);
        yibao_journal_day(&tm, (char *) day);
        ja->q.day.data = day;
        ja->q.day.len = 10;
    }

    ngx_http_yibao_journal_arg(r, "clinic", &ja->q.clinic);

    if (r->uri.len >= 7
        && ngx_strncmp(r->uri.data + r->uri.len - 7, "/totals", 7) == 0)
    {
        return ngx_http_yibao_journal_api_totals(ja);
    }

    ngx_str_null(&caller);
    ngx_str_null(&msgid);

    (void) ngx_http_arg(r, (u_char *) "caller", 6, &caller);
    (void) ngx_http_arg(r, (u_char *) "msgid", 5, &msgid);
    (void) ngx_http_arg(r, (u_char *) "state", 5, &ja->state);
    (void) ngx_http_arg(r, (u_char *) "setl_id", 7, &ja->setl);

    if (r->method == NGX_HTTP_GET && caller.len == 0) {
        return ngx_http_yibao_journal_api_kind(ja, &msgid, msg);
    }

    if (caller.len == 0 || caller.len > 64
        || !yibao_code_is_alnum(msgid.data, msgid.len, 64)
        || ja->setl.len > 64)
    {
        *msg = "caller and msgid (letters and digits, at most 64) are "
               "needed";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_yibao_journal_key(r->pool, &ja->key, &caller, "j", &msgid)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = yibao_journal_state_parse(ja->state.data, ja->state.len);

    if (r->method == NGX_HTTP_POST
        && st != YIBAO_JOURNAL_OK && st != YIBAO_JOURNAL_FAILED)
    {
        *msg = "state must be ok or failed";
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/* GET .../totals?entity=E[&day][&insutype][&clr_type][&figures] */

static ngx_int_t
ngx_http_yibao_journal_api_totals(ngx_http_yibao_journal_api_t *ja)
{
    ngx_http_request_t  *r;

    r = ja->r;

    if (r->method != NGX_HTTP_GET) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ja->q.kind = YIBAO_JOURNAL_Q_TOTALS;
    ngx_http_yibao_journal_arg(r, "entity", &ja->q.entity);
    ngx_http_yibao_journal_arg(r, "insutype", &ja->q.insutype);
    ngx_http_yibao_journal_arg(r, "clr_type", &ja->q.clr_type);
    ngx_http_yibao_journal_arg(r, "medfee_sumamt", &ja->q.medfee_sumamt);
    ngx_http_yibao_journal_arg(r, "fund_pay_sumamt",
                               &ja->q.fund_pay_sumamt);
    ngx_http_yibao_journal_arg(r, "acct_pay", &ja->q.acct_pay);
    ngx_http_yibao_journal_arg(r, "fixmedins_setl_cnt", &ja->q.setl_cnt);

    return NGX_OK;
}


/* a GET without caller=: the queries for operations, answered as lists */

static ngx_int_t
ngx_http_yibao_journal_api_kind(ngx_http_yibao_journal_api_t *ja,
    ngx_str_t *msgid, const char **msg)
{
    yibao_str_t          v;
    ngx_http_request_t  *r;

    r = ja->r;

    ngx_http_yibao_journal_arg(r, "problems", &v);

    if (v.len) {
        ja->q.kind = YIBAO_JOURNAL_Q_PROBLEMS;

    } else if (yibao_journal_state_parse(ja->state.data, ja->state.len)
               == YIBAO_JOURNAL_UNKNOWN)
    {
        ja->q.kind = YIBAO_JOURNAL_Q_UNKNOWN;

    } else if (msgid->len) {
        ja->q.kind = YIBAO_JOURNAL_Q_MSGID;
        ngx_http_yibao_journal_arg(r, "msgid", &ja->q.value);

    } else if (ja->setl.len) {
        ja->q.kind = YIBAO_JOURNAL_Q_SETL;
        ngx_http_yibao_journal_arg(r, "setl_id", &ja->q.value);

    } else {
        ngx_http_yibao_journal_arg(r, "mdtrt_id", &ja->q.value);

        if (ja->q.value.len) {
            ja->q.kind = YIBAO_JOURNAL_Q_MDTRT;

        } else if (ja->q.clinic.len) {
            ja->q.kind = YIBAO_JOURNAL_Q_CLINIC;

        } else {
            *msg = "name a record (caller and msgid) or a query: msgid, "
                   "mdtrt_id, setl_id, clinic [day], problems [clinic] "
                   "[day], state=unknown";
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    return NGX_OK;
}


/*
 * One record in Redis: GET, the record (not there: this node's zone,
 * in ngx_http_yibao_journal_api_reply); POST, an operator's resolution,
 * the setl_id the operator found joining its index.
 */

static ngx_int_t
ngx_http_yibao_journal_api_redis(ngx_http_yibao_journal_api_t *ja)
{
    ngx_int_t                    rc;
    ngx_str_t                    skey, *setl_key;
    yibao_err_t                  err;
    yibao_str_t                  out;
    yibao_alloc_t                a;
    ngx_http_request_t          *r;
    ngx_http_yibao_store_res_t   res;

    r = ja->r;

    if (r->method == NGX_HTTP_GET) {
        rc = ngx_http_yibao_store_journal_get(r, NULL, &ja->key, 0, &res,
                                              ngx_http_yibao_journal_api_reply,
                                              ja);
        return ngx_http_yibao_journal_api_wait(r, rc);
    }

    setl_key = NULL;

    if (ja->setl.len) {
        ja->q.kind = YIBAO_JOURNAL_Q_SETL;
        ja->q.value.data = ja->setl.data;
        ja->q.value.len = ja->setl.len;
        ngx_http_yibao_alloc_init(&a, r->pool);

        if (yibao_journal_query_key(&ja->q, &a, &out, &err) != YIBAO_OK) {
            return ngx_http_yibao_journal_api_error(r, NGX_HTTP_BAD_REQUEST,
                       "setl_id must be 1 to 64 letters, digits, '.', '_' "
                       "or '-'");
        }

        ja->q.kind = YIBAO_JOURNAL_Q_NONE;
        skey.data = (u_char *) out.data;
        skey.len = out.len;
        setl_key = &skey;
    }

    rc = ngx_http_yibao_store_journal_resolve(r, &ja->key, &ja->state,
                                              &ja->setl, setl_key,
                                              ngx_http_yibao_journal_api_reply,
                                              ja);

    return ngx_http_yibao_journal_api_wait(r, rc);
}


/*
 * A question the shared store answers later (NGX_AGAIN): the request
 * waits for it; one it could not be asked is answered at once.
 */

static ngx_int_t
ngx_http_yibao_journal_api_wait(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != NGX_AGAIN) {
        return ngx_http_yibao_journal_api_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "the store (Redis) is down");
    }

    r->main->count++;

    return NGX_DONE;
}


/*
 * One record in this node's zone: the embedded store's, or one claimed
 * here while Redis was down.  GET: the record; POST: a resolution.
 */

static ngx_int_t
ngx_http_yibao_journal_api_zone(ngx_http_yibao_journal_api_t *ja)
{
    ngx_str_t                    value;
    ngx_time_t                  *tp;
    yibao_str_t                  out;
    yibao_alloc_t                a;
    yibao_journal_t              j;
    ngx_http_request_t          *r;
    ngx_http_yibao_store_res_t   res;

    r = ja->r;

    (void) ngx_http_yibao_store_journal_get(r, NULL, &ja->key,
                                            NGX_HTTP_YIBAO_STORE_HERE, &res,
                                            NULL, NULL);

    if (res.status != NGX_HTTP_YIBAO_STORE_FOUND) {
        return ngx_http_yibao_journal_api_error(r, NGX_HTTP_NOT_FOUND,
                                                "no such record");
    }

    value = res.value;

    if (r->method == NGX_HTTP_GET) {
        return ngx_http_yibao_journal_api_send(ja, value.data, value.len);
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (yibao_journal_parse(value.data, value.len, &a, &j) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    j.state = yibao_journal_state_parse(ja->state.data, ja->state.len);
    ngx_str_set(&value, "resolved");
    j.reason.data = value.data;
    j.reason.len = value.len;
    j.resolved_by.data = (u_char *) "operator";
    j.resolved_by.len = sizeof("operator") - 1;
    tp = ngx_timeofday();
    j.resolved_ms = (uint64_t) tp->sec * 1000 + tp->msec;

    if (ja->setl.len) {
        j.setl_id.data = ja->setl.data;
        j.setl_id.len = ja->setl.len;
    }

    if (yibao_journal_render(&j, &a, &out) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = (u_char *) out.data;
    value.len = out.len;

    ngx_http_yibao_store_journal_update(&j, &ja->key, &value, 1, r->pool,
                                        r->connection->log);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "yibao: journal caller \"%*s\" msgid %*s resolved as %V",
                  j.caller.len, j.caller.data, j.msgid.len, j.msgid.data,
                  &ja->state);

    return ngx_http_yibao_journal_api_send(ja, value.data, value.len);
}


/*
 * A query answered as a list: from its index set, in Redis or in the
 * zone's index (always this node's zone too: what was kept here while
 * Redis was down); the pure code filters and renders.  The candidates
 * are taken in steps (ngx_http_yibao_journal_api_list), so that a large
 * answer never holds the zone's lock, nor the worker, for long.
 */

static ngx_int_t
ngx_http_yibao_journal_api_query(ngx_http_request_t *r,
    ngx_http_yibao_journal_api_t *ja)
{
    ngx_int_t                    rc;
    yibao_err_t                  err;
    yibao_str_t                  key;
    yibao_alloc_t                a;
    ngx_pool_cleanup_t          *cln;

    ja->list = 1;

    ngx_http_yibao_alloc_init(&a, r->pool);

    switch (yibao_journal_query_key(&ja->q, &a, &key, &err)) {

    case YIBAO_OK:
        break;

    case YIBAO_ERR_INVALID:
        return ngx_http_yibao_journal_api_error(r, NGX_HTTP_BAD_REQUEST,
                                                err.msg);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ja->qkey.data = (u_char *) key.data;
    ja->qkey.len = key.len;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ja->sel = yibao_journal_sel_create(&ja->q, &a);
    if (ja->sel == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_yibao_journal_api_cleanup;
    cln->data = ja;

    ja->step.handler = ngx_http_yibao_journal_api_step_handler;
    ja->step.data = ja;
    ja->step.log = r->connection->log;

    ngx_http_yibao_store_journal_open(&ja->zone, &ja->qkey,
                                      NGX_HTTP_YIBAO_JOURNAL_ZONE_MAX);

    if (ngx_http_yibao_store_state() == NGX_HTTP_YIBAO_STORE_LOCAL) {
        rc = ngx_http_yibao_journal_api_list(ja);

        if (rc == NGX_AGAIN) {
            r->main->count++;
            return NGX_DONE;
        }

        return rc;
    }

    return ngx_http_yibao_journal_api_wait(r,
               ngx_http_yibao_store_journal_list(r, &ja->qkey,
                   ngx_http_yibao_journal_api_reply, ja));
}


/*
 * One step of a list: a batch of Redis's records, else one hold of the
 * zone's lock; NGX_AGAIN: the next step is posted to the next turn of
 * the event loop (other requests are served in between).  Then the
 * answer, with what the zone's part read in its X-Yibao-Journal-Zone
 * header.
 */

static ngx_int_t
ngx_http_yibao_journal_api_list(ngx_http_yibao_journal_api_t *ja)
{
    ngx_str_t                   *rec;
    ngx_uint_t                   i, n;
    ngx_pool_t                  *pool;
    yibao_str_t                  out;
    ngx_array_t                  recs;
    yibao_alloc_t                a;
    ngx_http_request_t          *r;

    r = ja->r;

    for (n = 0;
         ja->next < ja->nrecs && n < NGX_HTTP_YIBAO_JOURNAL_STEP;
         n++, ja->next++)
    {
        rec = &ja->recs[ja->next];

        if (yibao_journal_sel_add(ja->sel, rec->data, rec->len)
            != YIBAO_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (n == 0 && !ja->zone.done) {

        /* the batch's copies live for this step only */

        pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, r->connection->log);
        if (pool == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_array_init(&recs, pool, 16, sizeof(ngx_str_t)) != NGX_OK
            || ngx_http_yibao_store_journal_next(&ja->zone, pool, &recs)
               != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rec = recs.elts;

        for (i = 0; i < recs.nelts; i++) {
            if (yibao_journal_sel_add(ja->sel, rec[i].data, rec[i].len)
                != YIBAO_OK)
            {
                ngx_destroy_pool(pool);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        ngx_destroy_pool(pool);
    }

    if (ja->next < ja->nrecs || !ja->zone.done) {
        ngx_post_event(&ja->step, &ngx_posted_next_events);
        return NGX_AGAIN;
    }

    if (ja->zone.st.truncated) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yibao: journal query answered from the first "
                      "%uz bytes of matching records of the zone only",
                      (size_t) NGX_HTTP_YIBAO_JOURNAL_ZONE_MAX);
    }

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (ngx_http_yibao_journal_api_cost(ja) != NGX_OK
        || yibao_journal_sel_answer(ja->sel, &a, &out) != YIBAO_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yibao_journal_sel_free(ja->sel);

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, (u_char *) out.data,
                                    out.len);
}


static void
ngx_http_yibao_journal_api_step_handler(ngx_event_t *ev)
{
    ngx_http_yibao_journal_api_t *ja = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ja->r;
    c = r->connection;

    rc = ngx_http_yibao_journal_api_list(ja);

    if (rc == NGX_AGAIN) {
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the request is gone (answered, or closed): no step is left posted */

static void
ngx_http_yibao_journal_api_cleanup(void *data)
{
    ngx_http_yibao_journal_api_t *ja = data;

    if (ja->step.posted) {
        ngx_delete_posted_event(&ja->step);
    }

    yibao_journal_sel_free(ja->sel);
}


/* what the zone's part of a query read: X-Yibao-Journal-Zone */

static ngx_int_t
ngx_http_yibao_journal_api_cost(ngx_http_yibao_journal_api_t *ja)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;

    len = sizeof("examined= holds= hold_max=") - 1 + 3 * NGX_INT_T_LEN;

    p = ngx_pnalloc(ja->r->pool, len);
    h = ngx_list_push(&ja->r->headers_out.headers);

    if (p == NULL || h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Yibao-Journal-Zone");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "examined=%ui holds=%ui hold_max=%ui",
                               ja->zone.st.examined, ja->zone.st.holds,
                               ja->zone.st.hold_max)
                   - p;

    return NGX_OK;
}


/* one record for the API: masked */

static ngx_int_t
ngx_http_yibao_journal_api_send(ngx_http_yibao_journal_api_t *ja,
    u_char *data, size_t len)
{
    yibao_str_t    out;
    yibao_alloc_t  a;

    ngx_http_yibao_alloc_init(&a, ja->r->pool);

    if (yibao_journal_public(data, len, &a, &out) != YIBAO_OK) {
        ngx_log_error(NGX_LOG_ERR, ja->r->connection->log, 0,
                      "yibao: journal record not readable");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_yibao_send_json(ja->r, NGX_HTTP_OK, (u_char *) out.data,
                                    out.len);
}


static ngx_int_t
ngx_http_yibao_journal_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    u_char  *p, *last;
    size_t   len;

    len = sizeof("{\"error\":\"\"}") + ngx_strlen(msg) * 2;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"error\":\"", 10);
    last = (u_char *) ngx_escape_json(last, (u_char *) msg,
                                      ngx_strlen(msg));
    last = ngx_cpymem(last, "\"}", 2);

    return ngx_http_yibao_send_json(r, status, p, last - p);
}


static void
ngx_http_yibao_journal_api_reply(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_journal_api_t *ja = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ja->r;
    c = r->connection;

    if (res->status == NGX_HTTP_YIBAO_STORE_FAILED) {
        rc = ngx_http_yibao_journal_api_error(r,
                 NGX_HTTP_SERVICE_UNAVAILABLE,
                 "the store (Redis) did not answer");

    } else if (res->status == NGX_HTTP_YIBAO_STORE_FOUND && !ja->list) {
        rc = ngx_http_yibao_journal_api_send(ja, res->value.data,
                                             res->value.len);

    } else if (res->status == NGX_HTTP_YIBAO_STORE_FOUND && ja->list) {

        /*
         * The candidates: the records the store gave, then those of this
         * node's zone (claimed here while Redis was down), in steps.
         */

        ja->recs = res->values;
        ja->nrecs = res->nvalues;

        rc = ngx_http_yibao_journal_api_list(ja);

        if (rc == NGX_AGAIN) {
            return;
        }

    } else if (!ja->list) {
        /* not in Redis: claimed at this node while Redis was down? */
        rc = ngx_http_yibao_journal_api_zone(ja);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
