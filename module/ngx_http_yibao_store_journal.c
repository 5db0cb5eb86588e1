/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"
#include "yibao_journal.h"


/*
 * The door to the stores, for the journal (ngx_http_yibao_journal.c,
 * ngx_http_yibao_journal_api.c, the resolver): where a record is claimed,
 * read, completed and listed.  With yibao_redis, in Redis, with its
 * query indexes, the unknown set and each day's problem set kept by its
 * scripts (adapters/yibao_journal.c); without Redis, or for a record
 * claimed while Redis was down ("local"), in this node's zone, whose
 * index ngx_http_yibao_shm.c keeps.  The zone also lists the exchanges
 * in flight, which another worker completes if this one dies.
 */


static void ngx_http_yibao_store_journal_lost(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_store_journal_side(ngx_str_t *key,
    ngx_str_t *value, ngx_str_t *side, ngx_pool_t *pool, ngx_log_t *log);
static void ngx_http_yibao_store_journal_keep_local(yibao_journal_t *j,
    ngx_str_t *key, ngx_str_t *value, ngx_pool_t *pool, ngx_log_t *log);
static ngx_int_t ngx_http_yibao_store_journal_index(yibao_journal_t *j,
    yibao_alloc_t *a, yibao_str_t *keys, size_t *n);


static ngx_uint_t  ngx_http_yibao_store_journal_nobody;
static ngx_uint_t  ngx_http_yibao_store_journal_writes;


/*
 * Claims c->key with the record c->value: res->status CLAIMED, EXISTS
 * (res->value: the record there), UNKNOWN (c->peek: not there, and the
 * store lost its records; nothing was written), FULL (the zone), FAILED
 * (Redis did not answer) or INVALID.  A record this node kept in its
 * zone while Redis was down is found first: Redis does not know it.
 */

ngx_int_t
ngx_http_yibao_store_journal_claim(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_claim_t *c,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data)
{
    u_char                       num[2 * NGX_INT64_LEN];
    size_t                       i, n;
    ngx_str_t                    argv[11 + YIBAO_JOURNAL_INDEX_MAX];
    yibao_str_t                  keys[YIBAO_JOURNAL_INDEX_MAX + 1];
    yibao_alloc_t                a;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(res, sizeof(ngx_http_yibao_store_res_t));

    if (gmcf->redis != NULL && !c->local
        && ngx_http_yibao_shm_journal_get(gmcf->shm_zone, c->key, r->pool,
                                          &res->value)
           == NGX_OK)
    {
        res->status = NGX_HTTP_YIBAO_STORE_EXISTS;
        res->local = 1;
        return NGX_OK;
    }

    if (gmcf->redis == NULL || c->local) {
        res->local = 1;

        switch (ngx_http_yibao_shm_journal_claim(gmcf->shm_zone, c->key,
                                                 c->value, c->expire,
                                                 r->pool, &res->value))
        {
        case NGX_OK:
            res->status = NGX_HTTP_YIBAO_STORE_CLAIMED;
            break;

        case NGX_DECLINED:
            res->status = NGX_HTTP_YIBAO_STORE_EXISTS;
            break;

        default:
            res->status = NGX_HTTP_YIBAO_STORE_FULL;
            break;
        }

        return NGX_OK;
    }

    /* the index sets of the queries, and the problem set of its day */

    ngx_http_yibao_alloc_init(&a, r->pool);

    if (ngx_http_yibao_store_journal_index(c->record, &a, keys, &n)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * EVAL script N record-key upstream-key unknown-set index... record
     * ttl_ms money [peek]
     */

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_claim_script;
    argv[1].len = ngx_strlen(yibao_journal_claim_script);
    argv[2].data = num;
    argv[2].len = ngx_sprintf(num, "%uz", 3 + n) - num;
    argv[3] = *c->key;
    argv[4] = *c->ukey;
    ngx_str_set(&argv[5], YIBAO_JOURNAL_UNKNOWN_SET);

    for (i = 0; i < n; i++) {
        argv[6 + i].data = (u_char *) keys[i].data;
        argv[6 + i].len = keys[i].len;
    }

    argv[6 + n] = *c->value;
    argv[7 + n].data = num + argv[2].len;
    argv[7 + n].len = ngx_sprintf(argv[7 + n].data, "%M", gmcf->journal_ttl)
                      - argv[7 + n].data;
    argv[8 + n].data = (u_char *) (c->money ? "1" : "0");
    argv[8 + n].len = 1;
    ngx_str_set(&argv[9 + n], "1");

    return ngx_http_yibao_store_run(r, ctx, r->pool, r->connection->log,
                                    NGX_HTTP_YIBAO_STORE_READ_CLAIM,
                                    9 + n + c->peek, argv, 3 + n, done,
                                    data);
}


/* the index sets of a record, and its day's problem set if it is one */

static ngx_int_t
ngx_http_yibao_store_journal_index(yibao_journal_t *j, yibao_alloc_t *a,
    yibao_str_t *keys, size_t *n)
{
    if (yibao_journal_index_keys(j, a, keys, n) != YIBAO_OK) {
        return NGX_ERROR;
    }

    if (yibao_journal_problem(j)) {
        switch (yibao_journal_problem_key(&j->day, a, &keys[*n])) {

        case YIBAO_OK:
            (*n)++;
            break;

        case YIBAO_ERR_INVALID:
            break;

        default:
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The record under key: FOUND (res->value) or NONE; where HERE: this
 * node's zone; otherwise the store (Redis when it is configured:
 * NGX_ERROR when it is down, FAILED when it does not answer).
 */

ngx_int_t
ngx_http_yibao_store_journal_get(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *key, ngx_uint_t where,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data)
{
    ngx_str_t                    argv[2];
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    ngx_memzero(res, sizeof(ngx_http_yibao_store_res_t));

    if (gmcf->redis == NULL || where == NGX_HTTP_YIBAO_STORE_HERE) {
        res->local = 1;
        res->status = (ngx_http_yibao_shm_journal_get(gmcf->shm_zone, key,
                                                      r->pool, &res->value)
                       == NGX_OK)
                      ? NGX_HTTP_YIBAO_STORE_FOUND
                      : NGX_HTTP_YIBAO_STORE_NONE;
        return NGX_OK;
    }

    ngx_str_set(&argv[0], "GET");
    argv[1] = *key;

    return ngx_http_yibao_store_run(r, ctx, r->pool, r->connection->log,
                                    NGX_HTTP_YIBAO_STORE_READ_STRING, 2, argv,
                                    1, done, data);
}


/*
 * Writes the record j (rendered as value) over the one stored under key,
 * in the zone (local) or in Redis, without waiting; in Redis the unknown
 * set, the problem set of its day and the query indexes follow it.
 */

void
ngx_http_yibao_store_journal_update(yibao_journal_t *j, ngx_str_t *key,
    ngx_str_t *value, ngx_uint_t local, ngx_pool_t *pool, ngx_log_t *log)
{
    u_char                       num[2 * NGX_INT64_LEN];
    size_t                       i, n;
    ngx_int_t                    rc;
    ngx_str_t                    argv[10 + YIBAO_JOURNAL_INDEX_MAX];
    ngx_str_t                    side;
    yibao_str_t                  keys[YIBAO_JOURNAL_INDEX_MAX + 1];
    yibao_str_t                  problem;
    yibao_alloc_t                a;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_yibao_store_conf();

    if (local) {
        ngx_http_yibao_shm_journal_update(gmcf->shm_zone, key, value);
        return;
    }

    ngx_http_yibao_alloc_init(&a, pool);

    /*
     * EVAL script N record unknown-set problem-set index... side-key
     * state ttl_ms problem
     */

    if (yibao_journal_index_keys(j, &a, keys, &n) != YIBAO_OK
        || yibao_journal_problem_key(&j->day, &a, &problem) != YIBAO_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "yibao: journal of msgid %*s not indexed",
                      j->msgid.len, j->msgid.data);
        n = 0;
        problem.data = (const unsigned char *) "yibao:{journal}:x:none";
        problem.len = sizeof("yibao:{journal}:x:none") - 1;
    }

    rc = ngx_http_yibao_store_journal_side(key, value, &side, pool, log);

    if (rc == NGX_ABORT) {
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_yibao_store_journal_keep_local(j, key, value, pool, log);
        return;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_update_script;
    argv[1].len = ngx_strlen(yibao_journal_update_script);
    argv[2].data = num;
    argv[2].len = ngx_sprintf(num, "%uz", 3 + n) - num;
    argv[3] = *key;
    ngx_str_set(&argv[4], YIBAO_JOURNAL_UNKNOWN_SET);
    argv[5].data = (u_char *) problem.data;
    argv[5].len = problem.len;

    for (i = 0; i < n; i++) {
        argv[6 + i].data = (u_char *) keys[i].data;
        argv[6 + i].len = keys[i].len;
    }

    argv[6 + n] = side;
    argv[7 + n].data = (u_char *) yibao_journal_state_name(j->state);
    argv[7 + n].len = ngx_strlen(argv[7 + n].data);
    argv[8 + n].data = num + argv[2].len;
    argv[8 + n].len = ngx_sprintf(argv[8 + n].data, "%M", gmcf->journal_ttl)
                      - argv[8 + n].data;
    argv[9 + n].data = (u_char *) (yibao_journal_problem(j) ? "1" : "0");
    argv[9 + n].len = 1;

    if (ngx_http_yibao_redis_run(10 + n, argv, 3 + n, 0,
                                 ngx_http_yibao_store_journal_lost,
                                 &ngx_http_yibao_store_journal_nobody, log)
        == NULL)
    {
        ngx_http_yibao_store_journal_keep_local(j, key, value, pool, log);
    }
}


/*
 * SET side-key record PX 60000 (side made here), then the update's
 * script renames it over the record (adapters/yibao_journal.c): the
 * record, with the platform's answer tens of KB, is never an argument
 * of a script.  NGX_ABORT: no memory for the side key, nothing sent;
 * NGX_ERROR: Redis is down.
 */

static ngx_int_t
ngx_http_yibao_store_journal_side(ngx_str_t *key, ngx_str_t *value,
    ngx_str_t *side, ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_str_t  argv[5];

    side->data = ngx_pnalloc(pool, key->len + sizeof(":w:.") - 1
                                   + 2 * NGX_INT_T_LEN);
    if (side->data == NULL) {
        return NGX_ABORT;
    }

    /* a side key of its own: two workers' updates never meet there */

    side->len = ngx_sprintf(side->data, "%V:w:%P.%ui", key, ngx_pid,
                            ngx_http_yibao_store_journal_writes++)
                - side->data;

    ngx_str_set(&argv[0], "SET");
    argv[1] = *side;
    argv[2] = *value;
    ngx_str_set(&argv[3], "PX");
    ngx_str_set(&argv[4], "60000");

    if (ngx_http_yibao_redis_run(5, argv, 1, 0,
                                 ngx_http_yibao_store_journal_lost,
                                 &ngx_http_yibao_store_journal_nobody, log)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Redis went down after the claim: this node's zone keeps the record.
 */

static void
ngx_http_yibao_store_journal_keep_local(yibao_journal_t *j, ngx_str_t *key,
    ngx_str_t *value, ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_str_t                    existing;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_yibao_store_conf();

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "yibao: journal of msgid %*s (state %s) kept in this "
                  "node's zone: redis is down", j->msgid.len,
                  j->msgid.data, yibao_journal_state_name(j->state));

    if (ngx_http_yibao_shm_journal_claim(gmcf->shm_zone, key, value,
                                         j->sent_ms + gmcf->journal_ttl,
                                         pool, &existing)
        == NGX_DECLINED)
    {
        ngx_http_yibao_shm_journal_update(gmcf->shm_zone, key, value);
    }
}


static void
ngx_http_yibao_store_journal_lost(void *data, redisReply *reply,
    ngx_uint_t status)
{
    if (status != NGX_HTTP_YIBAO_REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "yibao: a journal update was lost by redis; the "
                      "error log line of the transaction keeps it");
    }
}


/*
 * An operator's resolution of the record under key, in Redis (the zone's
 * records are resolved by their part: get, then update): FOUND with the
 * record as resolved, NONE when Redis does not know it.
 */

ngx_int_t
ngx_http_yibao_store_journal_resolve(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *state, ngx_str_t *setl, ngx_str_t *setl_key,
    ngx_http_yibao_store_done_pt done, void *data)
{
    u_char                      *now, *ttl;
    ngx_str_t                    argv[10];
    ngx_uint_t                   argc, nkeys;
    ngx_time_t                  *tp;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    now = ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN);
    if (now == NULL) {
        return NGX_ERROR;
    }

    ttl = now + NGX_INT64_LEN;

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_resolve_script;
    argv[1].len = ngx_strlen(yibao_journal_resolve_script);
    ngx_str_set(&argv[2], "2");
    argv[3] = *key;
    ngx_str_set(&argv[4], YIBAO_JOURNAL_UNKNOWN_SET);
    argc = 5;
    nkeys = 2;

    /* the setl_id the operator found joins its index */

    if (setl_key != NULL) {
        argv[argc++] = *setl_key;
        nkeys++;
        ngx_str_set(&argv[2], "3");
    }

    argv[argc++] = *state;
    argv[argc++] = *setl;
    tp = ngx_timeofday();
    argv[argc].data = now;
    argv[argc++].len = ngx_sprintf(now, "%uL",
                                   (uint64_t) tp->sec * 1000 + tp->msec)
                       - now;
    argv[argc].data = ttl;
    argv[argc++].len = ngx_sprintf(ttl, "%M", gmcf->journal_ttl) - ttl;

    return ngx_http_yibao_store_run(r, NULL, r->pool, r->connection->log,
                                    NGX_HTTP_YIBAO_STORE_READ_STRING, argc,
                                    argv, nkeys, done, data);
}


/* the records of a query's index set in Redis: FOUND, res->values */

ngx_int_t
ngx_http_yibao_store_journal_list(ngx_http_request_t *r, ngx_str_t *qkey,
    ngx_http_yibao_store_done_pt done, void *data)
{
    ngx_str_t  argv[4];

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_list_script;
    argv[1].len = ngx_strlen(yibao_journal_list_script);
    ngx_str_set(&argv[2], "1");
    argv[3] = *qkey;

    return ngx_http_yibao_store_run(r, NULL, r->pool, r->connection->log,
                                    NGX_HTTP_YIBAO_STORE_READ_LIST, 4, argv,
                                    1, done, data);
}


/* the records of a query's index in this node's zone, a batch a call */

void
ngx_http_yibao_store_journal_open(ngx_http_yibao_shm_cursor_t *cur,
    ngx_str_t *key, size_t max)
{
    ngx_http_yibao_shm_journal_open(cur, key, max);
}


ngx_int_t
ngx_http_yibao_store_journal_next(ngx_http_yibao_shm_cursor_t *cur,
    ngx_pool_t *pool, ngx_array_t *recs)
{
    return ngx_http_yibao_shm_journal_next(ngx_http_yibao_store_conf()
                                           ->shm_zone, cur, pool, recs);
}


/* the unknown (and "sent") records of this node's zone, as a list */

ngx_int_t
ngx_http_yibao_store_journal_unknown_here(ngx_pool_t *pool, ngx_str_t *list)
{
    return ngx_http_yibao_shm_journal_unknown(ngx_http_yibao_store_conf()
                                              ->shm_zone, 1, pool, list);
}


/*
 * The unknown records of the shared store, for one node per hold (the
 * lock, held by this process for hold ms): FOUND, res->values (none when
 * another holds it); NGX_ERROR when there is no shared store up.
 */

ngx_int_t
ngx_http_yibao_store_journal_unknown(ngx_pool_t *pool, ngx_str_t *lock,
    ngx_msec_t hold, ngx_http_yibao_store_done_pt done, void *data)
{
    u_char     *p;
    ngx_str_t   argv[7];

    if (ngx_http_yibao_store_state() != NGX_HTTP_YIBAO_STORE_REDIS) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1].data = (u_char *) yibao_journal_list_once_script;
    argv[1].len = ngx_strlen(yibao_journal_list_once_script);
    ngx_str_set(&argv[2], "2");
    ngx_str_set(&argv[3], YIBAO_JOURNAL_UNKNOWN_SET);
    argv[4] = *lock;
    argv[5].data = p;
    argv[5].len = ngx_sprintf(p, "%P", ngx_pid) - p;
    argv[6].data = p + NGX_INT64_LEN;
    argv[6].len = ngx_sprintf(argv[6].data, "%M", hold) - argv[6].data;

    return ngx_http_yibao_store_run(NULL, NULL, pool, ngx_cycle->log,
                                    NGX_HTTP_YIBAO_STORE_READ_LIST, 7, argv,
                                    2, done, data);
}


/*
 * The exchanges in flight, in the zone's list (whatever the store of
 * their records), so that another worker completes those of a worker
 * that died.
 */

void *
ngx_http_yibao_store_inflight_add(ngx_str_t *key, ngx_str_t *value,
    ngx_uint_t local)
{
    return ngx_http_yibao_shm_inflight_add(ngx_http_yibao_store_conf()
                                           ->shm_zone, key, value, local);
}


void
ngx_http_yibao_store_inflight_remove(void *handle)
{
    ngx_http_yibao_shm_inflight_remove(ngx_http_yibao_store_conf()->shm_zone,
                                       handle);
}


ngx_int_t
ngx_http_yibao_store_inflight_orphans(ngx_pool_t *pool, ngx_array_t *out)
{
    return ngx_http_yibao_shm_inflight_orphans(
               ngx_http_yibao_store_conf()->shm_zone,
               ngx_http_yibao_store_state() == NGX_HTTP_YIBAO_STORE_REDIS,
               pool, out);
}
