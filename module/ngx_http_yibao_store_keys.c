/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"


/*
 * The keys' store (ngx_http_yibao_keys.c, the signing of
 * ngx_http_yibao_upstream.c): when each key was activated (its first
 * successful 9001 or settlement) and which key an operator chose for a
 * key_id that has two, in the zone ("yk:act:<label>", "yk:use:<key_id>",
 * never evicted) and, with Redis, also in the hashes below, which one
 * worker of each node copies into its zone every few seconds: the
 * nodes sharing Redis agree within that time.  The signing reads the
 * zone only, and only while some choice exists.
 */

#define NGX_HTTP_YIBAO_KEYS_USE        "yibao:{keys}:use"
#define NGX_HTTP_YIBAO_KEYS_ACTIVATED  "yibao:{keys}:activated"
#define NGX_HTTP_YIBAO_KEYS_SYNC       2000      /* ms */
#define NGX_HTTP_YIBAO_KEYS_SYNC_ALL   15        /* activations: 1 in 15 */


static ngx_shm_zone_t *ngx_http_yibao_store_keys_zone(void);
static ngx_int_t ngx_http_yibao_store_keys_name(ngx_pool_t *pool,
    const char *prefix, ngx_str_t *name, ngx_str_t *out);
static void ngx_http_yibao_store_keys_tick(ngx_event_t *ev);
static void ngx_http_yibao_store_keys_sync(const char *hash,
    ngx_uint_t *activated, ngx_log_t *log);
static void ngx_http_yibao_store_keys_synced(void *data,
    ngx_http_yibao_store_res_t *res);


static ngx_event_t  ngx_http_yibao_store_keys_timer;
static ngx_uint_t   ngx_http_yibao_store_keys_ticks;

/* the data of the sync's replies: which hash */
static ngx_uint_t   ngx_http_yibao_store_keys_uses = 0;
static ngx_uint_t   ngx_http_yibao_store_keys_acts = 1;


static ngx_shm_zone_t *
ngx_http_yibao_store_keys_zone(void)
{
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    return gmcf != NULL ? gmcf->shm_zone : NULL;
}


/* "<prefix><name>" in pool */

static ngx_int_t
ngx_http_yibao_store_keys_name(ngx_pool_t *pool, const char *prefix,
    ngx_str_t *name, ngx_str_t *out)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(prefix);

    p = ngx_pnalloc(pool, len + name->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, prefix, len);
    p = ngx_cpymem(p, name->data, name->len);
    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The label of the key an operator chose for key_id (copied into
 * pool), or an empty label: none chosen.  No lock while no choice
 * exists anywhere.
 */

void
ngx_http_yibao_store_key_use(ngx_str_t *key_id, ngx_pool_t *pool,
    ngx_str_t *label)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    ngx_str_null(label);

    zone = ngx_http_yibao_store_keys_zone();

    if (zone == NULL || ngx_http_yibao_shm_key_uses(zone) == 0
        || ngx_http_yibao_store_keys_name(pool, "yk:use:", key_id, &name)
           != NGX_OK)
    {
        return;
    }

    if (ngx_http_yibao_shm_key_get(zone, &name, pool, label) != NGX_OK) {
        ngx_str_null(label);
    }
}


/*
 * An operator's choice: sign for key_id with the key of label (a
 * rollback to the older key), or, with an empty label, by the keys'
 * times again.  NGX_OK or NGX_ERROR.
 */

ngx_int_t
ngx_http_yibao_store_key_choose(ngx_str_t *key_id, ngx_str_t *label,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_str_t        name, argv[4];
    ngx_shm_zone_t  *zone;

    zone = ngx_http_yibao_store_keys_zone();

    if (zone == NULL
        || ngx_http_yibao_store_keys_name(pool, "yk:use:", key_id, &name)
           != NGX_OK
        || ngx_http_yibao_shm_key_set(zone, &name,
                                      label->len ? label : NULL, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* an empty value in Redis: no choice (the other nodes copy it) */

    ngx_str_set(&argv[0], "HSET");
    ngx_str_set(&argv[1], NGX_HTTP_YIBAO_KEYS_USE);
    argv[2] = *key_id;
    argv[3] = *label;

    ngx_http_yibao_store_write(4, argv, 0, log);

    return NGX_OK;
}


/*
 * The key of label was activated at now, unless it was before.  NGX_OK:
 * the zone holds its activation (or there is no keys' store); NGX_ERROR:
 * it could not be kept, and a later call tries again.
 */

ngx_int_t
ngx_http_yibao_store_key_activated(ngx_str_t *label, time_t now,
    ngx_pool_t *pool, ngx_log_t *log)
{
    u_char           buf[NGX_TIME_T_LEN];
    ngx_int_t        rc;
    ngx_str_t        name, value, argv[4];
    ngx_shm_zone_t  *zone;

    zone = ngx_http_yibao_store_keys_zone();

    if (zone == NULL) {
        return NGX_OK;
    }

    if (ngx_http_yibao_store_keys_name(pool, "yk:act:", label, &name)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    value.data = buf;
    value.len = ngx_sprintf(buf, "%T", now) - buf;

    rc = ngx_http_yibao_shm_key_set(zone, &name, &value, 1);

    if (rc == NGX_DECLINED) {
        return NGX_OK;                          /* activated before */
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;                       /* the zone is full */
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "yibao: key \"%V\" activated", label);

    ngx_str_set(&argv[0], "HSETNX");
    ngx_str_set(&argv[1], NGX_HTTP_YIBAO_KEYS_ACTIVATED);
    argv[2] = *label;
    argv[3] = value;

    ngx_http_yibao_store_write(4, argv, 0, log);

    return NGX_OK;
}


/* When the key of label was activated (s since the epoch), or 0. */

time_t
ngx_http_yibao_store_key_activated_at(ngx_str_t *label, ngx_pool_t *pool)
{
    time_t           t;
    ngx_str_t        name, value;
    ngx_shm_zone_t  *zone;

    zone = ngx_http_yibao_store_keys_zone();

    if (zone == NULL
        || ngx_http_yibao_store_keys_name(pool, "yk:act:", label, &name)
           != NGX_OK
        || ngx_http_yibao_shm_key_get(zone, &name, pool, &value) != NGX_OK)
    {
        return 0;
    }

    t = ngx_atotm(value.data, value.len);

    return t == NGX_ERROR ? 0 : t;
}


/* one worker per node: the keys' store of Redis into the zone */

ngx_int_t
ngx_http_yibao_store_keys_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                 *ev;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (gmcf == NULL || gmcf->redis == NULL || gmcf->shm_zone == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_worker != 0)
    {
        return NGX_OK;
    }

    ev = &ngx_http_yibao_store_keys_timer;
    ev->handler = ngx_http_yibao_store_keys_tick;
    ev->log = cycle->log;
    ev->data = NULL;
    ev->cancelable = 1;

    ngx_http_yibao_store_keys_ticks = 0;
    ngx_add_timer(ev, NGX_HTTP_YIBAO_KEYS_SYNC);

    return NGX_OK;
}


static void
ngx_http_yibao_store_keys_tick(ngx_event_t *ev)
{
    ngx_uint_t  all;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_YIBAO_KEYS_SYNC);

    all = (ngx_http_yibao_store_keys_ticks++
           % NGX_HTTP_YIBAO_KEYS_SYNC_ALL == 0);

    ngx_http_yibao_store_keys_sync(NGX_HTTP_YIBAO_KEYS_USE,
                                   &ngx_http_yibao_store_keys_uses, ev->log);

    if (all) {
        ngx_http_yibao_store_keys_sync(NGX_HTTP_YIBAO_KEYS_ACTIVATED,
                                       &ngx_http_yibao_store_keys_acts,
                                       ev->log);
    }
}


/* HGETALL of one of the hashes, read as a list of field, value */

static void
ngx_http_yibao_store_keys_sync(const char *hash, ngx_uint_t *activated,
    ngx_log_t *log)
{
    ngx_str_t  argv[2];

    ngx_str_set(&argv[0], "HGETALL");
    argv[1].data = (u_char *) hash;
    argv[1].len = ngx_strlen(hash);

    (void) ngx_http_yibao_store_run_own(log, NGX_HTTP_YIBAO_STORE_READ_LIST,
                                        2, argv,
                                        ngx_http_yibao_store_keys_synced,
                                        activated);
}


/* data: the choices' hash (0) or the activations' (1) */

static void
ngx_http_yibao_store_keys_synced(void *data, ngx_http_yibao_store_res_t *res)
{
    size_t           i;
    ngx_str_t        name, *v;
    ngx_pool_t      *pool;
    ngx_uint_t       activated;
    ngx_shm_zone_t  *zone;

    activated = *(ngx_uint_t *) data;
    zone = ngx_http_yibao_store_keys_zone();

    if (res->status != NGX_HTTP_YIBAO_STORE_FOUND || zone == NULL) {
        return;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    v = res->values;

    for (i = 0; i + 1 < res->nvalues; i += 2) {
        if (ngx_http_yibao_store_keys_name(pool,
                                           activated ? "yk:act:" : "yk:use:",
                                           &v[i], &name)
            != NGX_OK)
        {
            break;
        }

        (void) ngx_http_yibao_shm_key_set(zone, &name,
                                          v[i + 1].len ? &v[i + 1] : NULL,
                                          activated);
        ngx_reset_pool(pool);
    }

    ngx_destroy_pool(pool);
}
