/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_coverage.h"
#include <sys/mman.h>


/*
 * A worker's memory for the reports: the copy of the slots and the
 * render's (its classes, groups and the answer), anonymous maps the
 * kernel may back with huge pages (MADV_HUGEPAGE), kept from report to
 * report.  A report over 50,000 clinics touches some 60 MB; in 4 KB
 * pages that is 15,000 page faults, most of a first report's time
 * (docs/benchmarks.md, "Clinic coverage").  The render's map is the
 * answer's memory until the answer is sent (busy): a report made
 * meanwhile allocates from its request's pool.
 */

#define NGX_HTTP_YIBAO_COV_MAP_ALIGN   (2 * 1024 * 1024)

/* the render's memory a clinic, at most (JSON list, groups, classes) */
#define NGX_HTTP_YIBAO_COV_RENDER      1536

typedef struct {
    u_char                          *start;
    size_t                           size;
    size_t                           used;
    ngx_uint_t                       busy;
    ngx_pool_t                      *pool;   /* when the map is full */
} ngx_http_yibao_cov_arena_t;


/*
 * Clinic coverage: a third module in the same .so.  A log-phase
 * handler counts every request of a gateway location whose clinic the
 * registry resolved into that clinic's slot of a shared zone
 * (yibao_coverage_zone); the slot is the clinic's position in the
 * registry, so a request finds it without a search and without a lock
 * of the zone: it takes the slot's own lock word for the few stores of
 * yibao_cov_record().  A content handler (yibao_coverage) renders the
 * reports of adapters/yibao_coverage.c.
 *
 * Reload: the zone of the same size is handed over; when the registry
 * changed, the master moves every clinic's slot to its new position
 * (by its org code, which each slot keeps) before the new workers
 * start.  A slot whose code is not the clinic's (an old worker still
 * finishing a request after the move) is not written to.
 *
 * Restart, with yibao_redis: worker 0 writes the slots counted since
 * its last write to a hash of this node in Redis, from a timer, through
 * the store (ngx_http_yibao_store_hash_set), and after a start reads
 * the hash back into the new zone (merged with what was counted since
 * the start) before it writes anything.  No request waits for Redis.
 */


/*
 * the bookkeeping of the slab pool (a descriptor of 24 bytes a page, a
 * few pages of its own) and the zone's header: 64 KB and 1/128 of the
 * zone
 */
#define NGX_HTTP_YIBAO_COV_OVERHEAD  (64 * 1024)

/* a slot and its "written since" byte */
#define NGX_HTTP_YIBAO_COV_CLINIC    (sizeof(ngx_http_yibao_cov_slot_t) + 1)

#define ngx_http_yibao_cov_capacity(size)                                   \
    (((size) - (size) / 128 - NGX_HTTP_YIBAO_COV_OVERHEAD)                  \
     / NGX_HTTP_YIBAO_COV_CLINIC)

#define ngx_http_yibao_cov_size(n)                                          \
    (((n) * NGX_HTTP_YIBAO_COV_CLINIC + NGX_HTTP_YIBAO_COV_OVERHEAD)        \
     * 128 / 127 + 1)

/* Redis: slots a write, a tick; a scan step */
#define NGX_HTTP_YIBAO_COV_BATCH     64
#define NGX_HTTP_YIBAO_COV_TICK      2048
#define NGX_HTTP_YIBAO_COV_SCAN      256

#define NGX_HTTP_YIBAO_COV_SPIN      2048


typedef struct {
    ngx_atomic_t                 lock;
    yibao_cov_clinic_t           c;
} ngx_http_yibao_cov_slot_t;


typedef struct {
    size_t                       layout;      /* sizeof(slot) */
    time_t                       started;
    ngx_uint_t                   capacity;
    ngx_atomic_t                 nslots;      /* the registry's clinics */
    ngx_atomic_t                 reindexed;   /* reloads that moved */
    ngx_atomic_t                 restored;    /* 0: Redis not read yet */
    ngx_atomic_t                 resync;      /* write every slot again */
    ngx_http_yibao_cov_slot_t   *slots;
    u_char                      *dirty;       /* counted since written */
} ngx_http_yibao_cov_sh_t;


typedef struct {
    ngx_http_yibao_cov_sh_t     *sh;
    ngx_slab_pool_t             *shpool;
    ngx_http_yibao_main_conf_t  *ymcf;        /* the registry */
} ngx_http_yibao_cov_zone_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_uint_t                   capacity;
    ngx_uint_t                   used;
    ngx_msec_t                   persist;     /* persist=, with Redis */
    yibao_cov_info_t            *info;        /* made by the first report */
    size_t                       ninfo;
} ngx_http_yibao_cov_main_conf_t;


/* worker 0's writer and reader of the Redis hash */

typedef struct {
    ngx_event_t                  timer;
    ngx_str_t                    key;         /* yibao:coverage:<node> */
    u_char                       cursor[NGX_INT_T_LEN];
    size_t                       cursor_len;
    ngx_uint_t                   busy;        /* a scan step is out */
    ngx_uint_t                   restored;    /* clinics read back */
    ngx_uint_t                   failed;      /* said once */
    uint64_t                     lost;        /* Redis's last loss */
    ngx_http_yibao_cov_zone_t   *zone;
    ngx_http_yibao_cov_main_conf_t  *cmf;
} ngx_http_yibao_cov_writer_t;


static ngx_int_t ngx_http_yibao_cov_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_yibao_cov_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_yibao_cov_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yibao_cov_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_yibao_cov_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_yibao_cov_reindex(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_cov_zone_t *zone);
static yibao_cov_clinic_t *ngx_http_yibao_cov_copy(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_cov_sh_t *sh, size_t old);
static size_t ngx_http_yibao_cov_keep(ngx_http_yibao_cov_zone_t *zone,
    yibao_cov_clinic_t *copy, size_t old);
static void ngx_http_yibao_cov_lock(ngx_http_yibao_cov_slot_t *slot);
static ngx_int_t ngx_http_yibao_cov_init_process(ngx_cycle_t *cycle);
static void ngx_http_yibao_cov_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_yibao_cov_persist(ngx_http_yibao_cov_writer_t *w);
static void ngx_http_yibao_cov_written(void *data,
    ngx_http_yibao_store_res_t *res);
static void ngx_http_yibao_cov_restore(ngx_http_yibao_cov_writer_t *w);
static void ngx_http_yibao_cov_scanned(void *data,
    ngx_http_yibao_store_res_t *res);
static ngx_int_t ngx_http_yibao_cov_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_cov_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_yibao_cov_read(ngx_http_request_t *r,
    ngx_http_yibao_cov_zone_t *zone, ngx_http_yibao_main_conf_t *ymcf,
    yibao_cov_report_t *rep);
static int ngx_http_yibao_cov_key_state(ngx_http_request_t *r,
    const yibao_clinic_t *clinic, signed char *state, time_t now);
static void ngx_http_yibao_cov_infos(ngx_http_yibao_main_conf_t *ymcf,
    yibao_cov_info_t *info, size_t n);
static void *ngx_http_yibao_cov_map(size_t *size, ngx_log_t *log);
static ngx_int_t ngx_http_yibao_cov_arena(ngx_http_request_t *r, size_t n,
    yibao_alloc_t *a);
static void *ngx_http_yibao_cov_arena_alloc(void *ctx, size_t size);
static void ngx_http_yibao_cov_arena_free(void *data);
static ngx_int_t ngx_http_yibao_cov_send(ngx_http_request_t *r,
    yibao_str_t *body, ngx_uint_t csv);
static ngx_int_t ngx_http_yibao_cov_params(ngx_http_request_t *r,
    yibao_cov_report_t *rep, const char **err);
static ngx_int_t ngx_http_yibao_cov_arg_uint(ngx_http_request_t *r,
    char *name, size_t len, ngx_uint_t lo, ngx_uint_t hi, unsigned *v);
static ngx_int_t ngx_http_yibao_cov_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *msg);


static ngx_command_t  ngx_http_yibao_cov_commands[] = {

    { ngx_string("yibao_coverage_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_yibao_cov_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_coverage"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yibao_cov_location,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_yibao_coverage_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_yibao_cov_postconfiguration,  /* postconfiguration */

    ngx_http_yibao_cov_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_yibao_coverage_module = {
    NGX_MODULE_V1,
    &ngx_http_yibao_coverage_module_ctx,   /* module context */
    ngx_http_yibao_cov_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_yibao_cov_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_yibao_param_t  ngx_http_yibao_cov_params_table[] = {

    { ngx_string("persist"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_cov_main_conf_t, persist),
      1000, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


static ngx_http_yibao_cov_writer_t  ngx_http_yibao_cov_writer;

/* what the timer's debug lines take its data for */
static ngx_connection_t             ngx_http_yibao_cov_dumb;

/* the registry's key states (yibao_key_state_e) as the reports' */
static const int  ngx_http_yibao_cov_key_states[] = {
    YIBAO_COV_KEY_NEVER_USED,              /* YIBAO_KEY_NEVER_USED */
    YIBAO_COV_KEY_ACTIVATED,               /* YIBAO_KEY_ACTIVATED */
    YIBAO_COV_KEY_EXPIRING,                /* YIBAO_KEY_EXPIRING */
    YIBAO_COV_KEY_EXPIRED,                 /* YIBAO_KEY_EXPIRED */
    YIBAO_COV_KEY_PENDING                  /* YIBAO_KEY_PENDING */
};


static ngx_int_t
ngx_http_yibao_cov_postconfiguration(ngx_conf_t *cf)
{
    size_t                           n;
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_yibao_main_conf_t      *ymcf;
    ngx_http_yibao_cov_main_conf_t  *cmf;

    cmf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_yibao_coverage_module);

    if (cmf->shm_zone == NULL) {
        if (cmf->used) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"yibao_coverage\" needs \"yibao_coverage_zone\" "
                          "at the http level");
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yibao_module);

    if (ymcf->clinics == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yibao_coverage_zone\" needs \"yibao_clinics\"");
        return NGX_ERROR;
    }

    n = yibao_clinics_count(ymcf->clinics);

    if (n > cmf->capacity) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yibao_coverage_zone\" holds %ui clinics, the "
                      "registry has %uz: it needs at least %uzk",
                      cmf->capacity, n,
                      (ngx_http_yibao_cov_size(n) + 1023) / 1024);
        return NGX_ERROR;
    }

    ((ngx_http_yibao_cov_zone_t *) cmf->shm_zone->data)->ymcf = ymcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_yibao_cov_log_handler;

    return NGX_OK;
}


static void *
ngx_http_yibao_cov_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_cov_main_conf_t));
}


static char *
ngx_http_yibao_cov_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_cov_main_conf_t *cmf = conf;

    ssize_t                     size;
    ngx_str_t                  *value, name;
    ngx_http_yibao_cov_zone_t  *zone;

    if (cmf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || (size_t) size < ngx_http_yibao_cov_size(16)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": at least %uzk",
                           &value[1],
                           (ngx_http_yibao_cov_size(16) + 1023) / 1024);
        return NGX_CONF_ERROR;
    }

    cmf->capacity = ngx_http_yibao_cov_capacity((size_t) size);
    cmf->persist = 60000;

    if (ngx_http_yibao_conf_params(cf, ngx_http_yibao_cov_params_table, 2,
                                   cmf, 0)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_cov_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "yibao_coverage");

    cmf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                          &ngx_http_yibao_coverage_module);
    if (cmf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cmf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"yibao_coverage\" is already used");
        return NGX_CONF_ERROR;
    }

    cmf->shm_zone->init = ngx_http_yibao_cov_init_zone;
    cmf->shm_zone->data = zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_yibao_cov_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_yibao_cov_main_conf_t  *cmf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate: the location already has a content handler";
    }

    clcf->handler = ngx_http_yibao_cov_handler;

    cmf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_yibao_coverage_module);
    cmf->used = 1;

    return NGX_CONF_OK;
}


/*
 * A new zone: a slot for each clinic that fits, the registry's clinics
 * in the first ones.  A reload with a zone of the same size: the slots
 * are kept, moved to the clinics' new positions.
 */

static ngx_int_t
ngx_http_yibao_cov_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_yibao_cov_zone_t  *ozone = data;

    size_t                      cap;
    ngx_http_yibao_cov_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        if (ozone->sh->layout != (sizeof(ngx_http_yibao_cov_slot_t)
                                  | (sizeof(ngx_http_yibao_cov_sh_t) << 16)))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "shared zone \"%V\" was made by another version "
                          "of the module: restart nginx, or change "
                          "the size of yibao_coverage_zone",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return ngx_http_yibao_cov_reindex(shm_zone, zone);
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool,
                               sizeof(ngx_http_yibao_cov_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    cap = ngx_http_yibao_cov_capacity(shm_zone->shm.size);

    /*
     * not cleared: the registry's slots are initialized below, the
     * others when a registry grows into them; pages of the zone that
     * no clinic uses are never touched
     */

    zone->sh->slots = ngx_slab_alloc(zone->shpool,
                                     cap * sizeof(ngx_http_yibao_cov_slot_t));
    if (zone->sh->slots == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "shared zone \"%V\" is too small for %uz clinics",
                      &shm_zone->shm.name, cap);
        return NGX_ERROR;
    }

    zone->sh->dirty = ngx_slab_calloc(zone->shpool, cap);
    if (zone->sh->dirty == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    zone->sh->layout = sizeof(ngx_http_yibao_cov_slot_t)
                       | (sizeof(ngx_http_yibao_cov_sh_t) << 16);
    zone->sh->started = ngx_time();
    zone->sh->capacity = cap;

    /* with Redis, its hash is read back before anything is written */
    zone->sh->restored = (zone->ymcf->redis == NULL);

    return ngx_http_yibao_cov_reindex(shm_zone, zone);
}


/*
 * Puts the registry's clinics in the first slots, in its order: a
 * clinic that had a slot keeps its coverage, a new one starts empty,
 * a clinic no longer in the registry is dropped.  Nothing moves when
 * the registry's order is the slots' order.
 */

static ngx_int_t
ngx_http_yibao_cov_reindex(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_cov_zone_t *zone)
{
    size_t                      i, n, old, kept;
    yibao_cov_clinic_t         *copy;
    const yibao_clinic_t       *clinic;
    ngx_http_yibao_cov_sh_t    *sh;
    ngx_http_yibao_cov_slot_t  *slot;

    sh = zone->sh;
    n = yibao_clinics_count(zone->ymcf->clinics);
    old = sh->nslots;

    if (n > sh->capacity) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "shared zone \"%V\" holds %ui clinics, the "
                      "registry has %uz", &shm_zone->shm.name,
                      sh->capacity, n);
        return NGX_ERROR;
    }

    for (i = 0; i < n && i < old; i++) {
        clinic = yibao_clinics_at(zone->ymcf->clinics, i);

        if (!yibao_cov_is(&sh->slots[i].c, clinic->org_code.data,
                          clinic->org_code.len))
        {
            break;
        }
    }

    if (i == n && n == old) {
        return NGX_OK;
    }

    copy = NULL;

    if (old) {
        copy = ngx_http_yibao_cov_copy(shm_zone, sh, old);
        if (copy == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < ngx_max(n, old); i++) {
        slot = &sh->slots[i];

        if (i >= old) {
            slot->lock = 0;         /* a slot never used before */
        }

        ngx_http_yibao_cov_lock(slot);

        if (i < n) {
            clinic = yibao_clinics_at(zone->ymcf->clinics, i);
            yibao_cov_init(&slot->c, clinic->org_code.data,
                           clinic->org_code.len);

        } else {
            ngx_memzero(&slot->c, sizeof(yibao_cov_clinic_t));
        }

        ngx_unlock(&slot->lock);
    }

    kept = copy ? ngx_http_yibao_cov_keep(zone, copy, old) : 0;

    if (copy) {
        ngx_free(copy);
    }

    sh->nslots = n;

    if (old) {
        /* the moved slots are written again: Redis has their old ones */
        sh->resync = 1;

        (void) ngx_atomic_fetch_add(&sh->reindexed, 1);

        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "yibao coverage: %uz clinics, %uz kept their "
                      "coverage, %uz new", n, kept, n - kept);
    }

    return NGX_OK;
}


/* A copy of the old slots, each under its lock (NULL: no memory). */

static yibao_cov_clinic_t *
ngx_http_yibao_cov_copy(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_cov_sh_t *sh, size_t old)
{
    size_t                      k;
    yibao_cov_clinic_t         *copy;
    ngx_http_yibao_cov_slot_t  *slot;

    copy = ngx_alloc(old * sizeof(yibao_cov_clinic_t), shm_zone->shm.log);
    if (copy == NULL) {
        return NULL;
    }

    for (k = 0; k < old; k++) {
        slot = &sh->slots[k];
        ngx_http_yibao_cov_lock(slot);
        copy[k] = slot->c;
        ngx_unlock(&slot->lock);
    }

    return copy;
}


/*
 * The old coverage of each clinic still in the registry, into its new
 * slot; returns how many kept theirs.
 */

static size_t
ngx_http_yibao_cov_keep(ngx_http_yibao_cov_zone_t *zone,
    yibao_cov_clinic_t *copy, size_t old)
{
    size_t                      k, kept;
    const yibao_clinic_t       *clinic;
    ngx_http_yibao_cov_slot_t  *slot;

    kept = 0;

    for (k = 0; k < old; k++) {
        clinic = yibao_clinics_find(zone->ymcf->clinics, copy[k].code,
                                    ngx_strnlen(copy[k].code,
                                                YIBAO_COV_CODE));
        if (clinic == NULL
            || !yibao_cov_is(&copy[k], clinic->org_code.data,
                             clinic->org_code.len))
        {
            continue;
        }

        slot = &zone->sh->slots[yibao_clinics_index(zone->ymcf->clinics,
                                                    clinic)];

        ngx_http_yibao_cov_lock(slot);
        slot->c = copy[k];
        ngx_unlock(&slot->lock);

        kept++;
    }

    return kept;
}


static void
ngx_http_yibao_cov_lock(ngx_http_yibao_cov_slot_t *slot)
{
    ngx_spinlock(&slot->lock, 1, NGX_HTTP_YIBAO_COV_SPIN);
}


/*
 * Worker 0 (or the one process) keeps the zone in Redis when yibao_redis
 * is configured: the key is this node's (yibao_zone node=N/COUNT), so
 * that nodes sharing a Redis do not write over each other.
 */

static ngx_int_t
ngx_http_yibao_cov_init_process(ngx_cycle_t *cycle)
{
    ngx_http_yibao_main_conf_t      *ymcf;
    ngx_http_yibao_cov_writer_t     *w;
    ngx_http_yibao_cov_main_conf_t  *cmf;

    cmf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_yibao_coverage_module);
    ymcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_yibao_module);

    if (cmf == NULL || cmf->shm_zone == NULL || ymcf->redis == NULL) {
        return NGX_OK;
    }

    if (ngx_process != NGX_PROCESS_SINGLE
        && !(ngx_process == NGX_PROCESS_WORKER && ngx_worker == 0))
    {
        return NGX_OK;
    }

    w = &ngx_http_yibao_cov_writer;
    ngx_memzero(w, sizeof(ngx_http_yibao_cov_writer_t));

    w->zone = cmf->shm_zone->data;
    w->cmf = cmf;

    w->key.data = ngx_pnalloc(cycle->pool,
                              sizeof("yibao:coverage:") + NGX_INT_T_LEN);
    if (w->key.data == NULL) {
        return NGX_ERROR;
    }

    w->key.len = ngx_sprintf(w->key.data, "yibao:coverage:%ui",
                             ymcf->msgid_node)
                 - w->key.data;

    w->cursor[0] = '0';
    w->cursor_len = 1;

    ngx_http_yibao_cov_dumb.fd = (ngx_socket_t) -1;

    w->timer.handler = ngx_http_yibao_cov_tick;
    w->timer.data = &ngx_http_yibao_cov_dumb;
    w->timer.log = cycle->log;
    w->timer.cancelable = 1;

    ngx_add_timer(&w->timer, 100);

    return NGX_OK;
}


static void
ngx_http_yibao_cov_tick(ngx_event_t *ev)
{
    ngx_msec_t                    next;
    ngx_http_yibao_main_conf_t   *ymcf;
    ngx_http_yibao_cov_writer_t  *w = &ngx_http_yibao_cov_writer;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ymcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);

    next = w->cmf->persist;

    if (ngx_http_yibao_store_redis_lost() != w->lost) {
        /* Redis lost its data (the journal's marker): all again */
        w->lost = ngx_http_yibao_store_redis_lost();
        w->zone->sh->resync = 1;
    }

    if (!ngx_http_yibao_store_redis_up(ymcf)) {
        /* when it is back, it may have lost what it had: all again */
        w->zone->sh->resync = 1;
        next = 1000;

    } else if (!w->zone->sh->restored) {
        if (!w->busy) {
            ngx_http_yibao_cov_restore(w);
        }

        next = 100;

    } else if (ngx_http_yibao_cov_persist(w)) {
        next = 1000;                      /* more to write */
    }

    ngx_add_timer(&w->timer, next);
}


/*
 * Writes up to a tick's slots counted since they were last written, in
 * HSETs of a batch each: field the org code, value "YCV1" and the
 * slot's coverage.  Returns 1 when slots are left for the next tick.
 */

static ngx_uint_t
ngx_http_yibao_cov_persist(ngx_http_yibao_cov_writer_t *w)
{
    size_t                      i, n, k, sent;
    int64_t                     seen;
    u_char                     *v;
    ngx_str_t                   items[2 * NGX_HTTP_YIBAO_COV_BATCH];
    ngx_uint_t                  idx[NGX_HTTP_YIBAO_COV_BATCH];
    ngx_http_yibao_cov_sh_t    *sh;
    ngx_http_yibao_cov_slot_t  *slot;
    u_char                      values[NGX_HTTP_YIBAO_COV_BATCH]
                                      [YIBAO_COV_VALUE];

    sh = w->zone->sh;
    n = sh->nslots;

    if (sh->resync) {
        sh->resync = 0;
        ngx_memset(sh->dirty, 1, n);
    }

    sent = 0;
    k = 0;

    for (i = 0; i <= n; i++) {

        if (i < n && sh->dirty[i]) {
            sh->dirty[i] = 0;
            slot = &sh->slots[i];
            v = values[k];

            ngx_http_yibao_cov_lock(slot);
            yibao_cov_value_encode(&slot->c, v);
            seen = slot->c.last_seen;
            ngx_unlock(&slot->lock);

            if (seen == 0) {
                continue;                 /* never seen: nothing to keep */
            }

            items[2 * k].data = v + 4;
            items[2 * k].len = ngx_strnlen(v + 4, YIBAO_COV_CODE);
            items[2 * k + 1].data = v;
            items[2 * k + 1].len = YIBAO_COV_VALUE;
            idx[k] = i;
            k++;
        }

        if (k == NGX_HTTP_YIBAO_COV_BATCH || (i == n && k > 0)) {
            if (ngx_http_yibao_store_hash_set(&w->key, items, 2 * k,
                                              ngx_http_yibao_cov_written, w,
                                              w->timer.log)
                != NGX_OK)
            {
                /* Redis went down: these are written next time */
                while (k) {
                    sh->dirty[idx[--k]] = 1;
                }

                return 1;
            }

            sent += k;
            k = 0;

            if (sent >= NGX_HTTP_YIBAO_COV_TICK && i < n) {
                return 1;
            }
        }
    }

    return 0;
}


static void
ngx_http_yibao_cov_written(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_cov_writer_t *w = data;

    if (res->status == NGX_HTTP_YIBAO_STORE_FOUND) {
        w->failed = 0;
        return;
    }

    /* which slots were in it is not known: every one again */

    w->zone->sh->resync = 1;

    if (!w->failed) {
        w->failed = 1;
        ngx_log_error(NGX_LOG_WARN, w->timer.log, 0,
                      "yibao coverage: writing to redis key \"%V\" failed, "
                      "written again later", &w->key);
    }
}


/* the next step of reading the hash back, from the cursor */

static void
ngx_http_yibao_cov_restore(ngx_http_yibao_cov_writer_t *w)
{
    ngx_str_t  cursor;

    cursor.data = w->cursor;
    cursor.len = w->cursor_len;

    if (ngx_http_yibao_store_hash_scan(&w->key, &cursor,
                                       NGX_HTTP_YIBAO_COV_SCAN,
                                       ngx_http_yibao_cov_scanned, w,
                                       w->timer.log)
        == NGX_OK)
    {
        w->busy = 1;
    }
}


/*
 * A step of the scan: each clinic of the registry found in it is added
 * to its slot (what was counted since the start stays), and marked to
 * be written with it.  A field of a clinic no longer in the registry,
 * or a value of another layout, is left out.
 */

static void
ngx_http_yibao_cov_scanned(void *data, ngx_http_yibao_store_res_t *res)
{
    ngx_http_yibao_cov_writer_t *w = data;

    size_t                       i, k, n;
    ngx_str_t                   *cursor, *items;
    yibao_cov_clinic_t           c;
    const yibao_clinic_t        *clinic;
    ngx_http_yibao_cov_sh_t     *sh;
    ngx_http_yibao_cov_slot_t   *slot;
    ngx_http_yibao_main_conf_t  *ymcf;

    w->busy = 0;
    cursor = &res->value;
    items = res->values;
    n = res->nvalues;

    if (res->status != NGX_HTTP_YIBAO_STORE_FOUND
        || cursor->len > NGX_INT_T_LEN)
    {
        return;                           /* again from the same cursor */
    }

    ymcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
    sh = w->zone->sh;

    for (i = 0; i + 1 < n; i += 2) {
        if (yibao_cov_value_decode(items[i].data, items[i].len,
                                   items[i + 1].data, items[i + 1].len, &c)
            != YIBAO_OK)
        {
            continue;
        }

        clinic = yibao_clinics_find(ymcf->clinics, items[i].data,
                                    items[i].len);

        if (clinic == NULL) {
            continue;
        }

        k = yibao_clinics_index(ymcf->clinics, clinic);

        if (k >= sh->nslots) {
            continue;
        }

        slot = &sh->slots[k];

        ngx_http_yibao_cov_lock(slot);

        if (yibao_cov_is(&slot->c, clinic->org_code.data,
                         clinic->org_code.len))
        {
            yibao_cov_merge(&slot->c, &c);
            sh->dirty[k] = 1;
            w->restored++;
        }

        ngx_unlock(&slot->lock);
    }

    ngx_memcpy(w->cursor, cursor->data, cursor->len);
    w->cursor_len = cursor->len;

    if (cursor->len == 1 && cursor->data[0] == '0') {
        sh->restored = 1;

        ngx_log_error(NGX_LOG_NOTICE, w->timer.log, 0,
                      "yibao coverage: %ui clinics restored from redis "
                      "key \"%V\"", w->restored, &w->key);
        return;
    }

    ngx_http_yibao_cov_restore(w);
}


/*
 * A finished request of a gateway location whose clinic the registry
 * resolved: its slot, under the slot's lock.
 */

static ngx_int_t
ngx_http_yibao_cov_log_handler(ngx_http_request_t *r)
{
    size_t                           i;
    ngx_time_t                      *tp;
    yibao_cov_event_t                ev;
    const yibao_clinic_t            *clinic;
    ngx_http_yibao_ctx_t            *ctx;
    ngx_http_yibao_loc_conf_t       *glcf;
    ngx_http_yibao_cov_slot_t       *slot;
    ngx_http_yibao_cov_zone_t       *zone;
    ngx_http_yibao_main_conf_t      *ymcf;
    ngx_http_yibao_cov_main_conf_t  *cmf;

    if (r != r->main) {
        return NGX_OK;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    if (!glcf->enable) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    if (ctx == NULL || ctx->registry_clinic == NULL) {
        return NGX_OK;
    }

    cmf = ngx_http_get_module_main_conf(r, ngx_http_yibao_coverage_module);
    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    zone = cmf->shm_zone->data;

    clinic = ctx->registry_clinic;
    i = yibao_clinics_index(ymcf->clinics, clinic);

    if (i >= zone->sh->nslots) {
        return NGX_OK;
    }

    yibao_cov_event(&ev, ctx->infno.data, ctx->infno.len,
                    ctx->gwerr == 0 && ctx->infcode_set && ctx->infcode == 0,
                    (int) ctx->gwerr);

    tp = ngx_timeofday();
    slot = &zone->sh->slots[i];

    ngx_http_yibao_cov_lock(slot);

    if (yibao_cov_is(&slot->c, clinic->org_code.data, clinic->org_code.len))
    {
        yibao_cov_record(&slot->c, tp->sec, (int64_t) tp->gmtoff * 60, &ev);
        zone->sh->dirty[i] = 1;
    }

    ngx_unlock(&slot->lock);

    return NGX_OK;
}


/*
 * GET ?report=silent|failing|never_activated|townships|weekly|summary|
 * clinics[&format=json|csv][&silent_days=N][&window=D]
 * [&threshold=0.2][&min_requests=N]
 */

static ngx_int_t
ngx_http_yibao_cov_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_time_t                      *tp;
    const char                      *err;
    yibao_str_t                      body;
    yibao_alloc_t                    a;
    yibao_cov_report_t               rep;
    ngx_http_yibao_cov_zone_t       *zone;
    ngx_http_yibao_main_conf_t      *ymcf;
    ngx_http_yibao_cov_main_conf_t  *cmf;

    rc = ngx_http_yibao_endpoint_start(r, NGX_HTTP_GET|NGX_HTTP_HEAD);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&rep, sizeof(yibao_cov_report_t));

    if (ngx_http_yibao_cov_params(r, &rep, &err) != NGX_OK) {
        return ngx_http_yibao_cov_error(r, NGX_HTTP_BAD_REQUEST, err);
    }

    cmf = ngx_http_get_module_main_conf(r, ngx_http_yibao_coverage_module);
    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);
    zone = cmf->shm_zone->data;

    if (ngx_http_yibao_cov_read(r, zone, ymcf, &rep) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();

    rep.now = tp->sec;
    rep.gmtoff = (int64_t) tp->gmtoff * 60;

    if (ngx_http_yibao_cov_arena(r, rep.n, &a) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yibao_cov_render(&rep, &a, &body) != YIBAO_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_yibao_cov_send(r, &body, rep.csv);
}


/*
 * The registry's clinics with their coverage, each slot copied under
 * its lock, into rep.  The clinics' fields are made by the first report
 * of the configuration and kept with it, the buffer of the copy by the
 * first report of the worker (a worker's requests run one after the
 * other), so that a report does not take and fault in some 20 MB of
 * new pages for 50,000 clinics each time.
 */

static ngx_int_t
ngx_http_yibao_cov_read(ngx_http_request_t *r,
    ngx_http_yibao_cov_zone_t *zone, ngx_http_yibao_main_conf_t *ymcf,
    yibao_cov_report_t *rep)
{
    size_t                           i, n;
    int64_t                          now;
    signed char                     *state;
    yibao_cov_info_t                *info;
    yibao_cov_clinic_t              *cov;
    const yibao_clinic_t            *clinic;
    ngx_http_yibao_cov_slot_t       *slot;
    ngx_http_yibao_cov_main_conf_t  *cmf;

    static size_t                    ncopy, size;
    static yibao_cov_clinic_t       *copy;

    n = ngx_min(yibao_clinics_count(ymcf->clinics), zone->sh->nslots);
    now = ngx_time();

    /* the fields: the configuration's, made once (cycle's pool) */

    cmf = ngx_http_get_module_main_conf(r, ngx_http_yibao_coverage_module);

    if (cmf->info == NULL || cmf->ninfo != n) {
        info = ngx_palloc(ngx_cycle->pool,
                          (n ? n : 1) * sizeof(yibao_cov_info_t));
        if (info == NULL) {
            return NGX_ERROR;
        }

        ngx_http_yibao_cov_infos(ymcf, info, n);
        cmf->info = info;
        cmf->ninfo = n;
    }

    /* the copy: no pointers in it, the worker's */

    if (copy == NULL || ncopy < n) {
        if (copy != NULL) {
            munmap(copy, size);
        }

        ncopy = 0;
        size = (n ? n : 1) * sizeof(yibao_cov_clinic_t);
        copy = ngx_http_yibao_cov_map(&size, r->connection->log);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        ncopy = n;
    }

    cov = copy;

    /* the state of each key_id's signing key, asked once a report */

    state = NULL;

    if (ymcf->keys != NULL) {
        state = ngx_pnalloc(r->pool, yibao_keys_count(ymcf->keys) + 1);
        if (state == NULL) {
            return NGX_ERROR;
        }

        ngx_memset(state, -1, yibao_keys_count(ymcf->keys) + 1);
    }

    for (i = 0; i < n; i++) {
        clinic = yibao_clinics_at(ymcf->clinics, i);
        slot = &zone->sh->slots[i];

        ngx_http_yibao_cov_lock(slot);
        cov[i] = slot->c;
        ngx_unlock(&slot->lock);

        if (!yibao_cov_is(&cov[i], clinic->org_code.data,
                          clinic->org_code.len))
        {
            /* an old worker's registry: this slot is not yet its */
            yibao_cov_init(&cov[i], clinic->org_code.data,
                           clinic->org_code.len);
        }

        cmf->info[i].key_state = ngx_http_yibao_cov_key_state(r, clinic,
                                                              state, now);
    }

    rep->info = cmf->info;
    rep->cov = cov;
    rep->n = n;

    return NGX_OK;
}


/*
 * The state of the key that signs for the clinic now (the newest when
 * none is valid), as the keys API says: the activation is the key's,
 * shared by the villages of a township hospital.  state[] keeps each
 * key_id's for the report (-1: not asked yet).
 */

static int
ngx_http_yibao_cov_key_state(ngx_http_request_t *r,
    const yibao_clinic_t *clinic, signed char *state, time_t now)
{
    time_t              act;
    ngx_str_t           use;
    const yibao_key_t  *k;

    if (clinic->key == NULL || state == NULL) {
        return YIBAO_COV_KEY_NONE;
    }

    if (state[clinic->key->index] < 0) {
        k = ngx_http_yibao_key_signer(clinic->key, now, r->pool, &use);
        state[clinic->key->index] =
            (signed char) ngx_http_yibao_key_state(k ? k : clinic->key, now,
                                                   r->pool, &act);
    }

    return ngx_http_yibao_cov_key_states[(int) state[clinic->key->index]];
}


/* the registry's fields of the first n clinics, for the reports */

static void
ngx_http_yibao_cov_infos(ngx_http_yibao_main_conf_t *ymcf,
    yibao_cov_info_t *info, size_t n)
{
    size_t                 i;
    const yibao_clinic_t  *clinic;

    for (i = 0; i < n; i++) {
        clinic = yibao_clinics_at(ymcf->clinics, i);

        ngx_memzero(&info[i], sizeof(yibao_cov_info_t));
        info[i].code = clinic->org_code;
        info[i].name = clinic->name;
        info[i].admdvs = clinic->admdvs;
        info[i].entity_code = clinic->entity_code;
        info[i].entity_name = clinic->entity_name;
        info[i].township = (clinic->mode == YIBAO_SETTLE_TOWNSHIP);
        info[i].key_state = YIBAO_COV_KEY_NONE;
        info[i].township_code = *yibao_clinic_township(clinic);
        info[i].org_id = clinic->org_id;
        info[i].county = clinic->county;
        info[i].town = clinic->township;
        info[i].reason = clinic->reason;
    }
}


/* An anonymous map of at least *size bytes (rounded up into *size). */

static void *
ngx_http_yibao_cov_map(size_t *size, ngx_log_t *log)
{
    void  *p;

    *size = ngx_align(*size, NGX_HTTP_YIBAO_COV_MAP_ALIGN);

    p = mmap(NULL, *size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS,
             -1, 0);

    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "yibao coverage: mmap(%uz) failed", *size);
        return NULL;
    }

#ifdef MADV_HUGEPAGE
    (void) madvise(p, *size, MADV_HUGEPAGE);
#endif

    return p;
}


/*
 * The render's allocator: the worker's map, made (or remade larger)
 * for n clinics, unless an answer in it is still being sent; else the
 * request's pool.
 */

static ngx_int_t
ngx_http_yibao_cov_arena(ngx_http_request_t *r, size_t n, yibao_alloc_t *a)
{
    size_t                               size;
    ngx_pool_cleanup_t                  *cln;
    static ngx_http_yibao_cov_arena_t    arena;

    arena.pool = r->pool;
    a->alloc = ngx_http_yibao_cov_arena_alloc;
    a->ctx = &arena;

    if (arena.busy) {
        ngx_http_yibao_alloc_init(a, r->pool);
        return NGX_OK;
    }

    size = n * NGX_HTTP_YIBAO_COV_RENDER + NGX_HTTP_YIBAO_COV_MAP_ALIGN;

    if (arena.size < size) {
        if (arena.start != NULL) {
            munmap(arena.start, arena.size);
            arena.start = NULL;
            arena.size = 0;
        }

        arena.start = ngx_http_yibao_cov_map(&size, r->connection->log);
        if (arena.start == NULL) {
            return NGX_ERROR;
        }

        arena.size = size;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_yibao_cov_arena_free;
    cln->data = &arena;

    arena.used = 0;
    arena.busy = 1;

    return NGX_OK;
}


static void *
ngx_http_yibao_cov_arena_alloc(void *ctx, size_t size)
{
    u_char                      *p;
    ngx_http_yibao_cov_arena_t  *arena = ctx;

    size = ngx_align(size, NGX_ALIGNMENT);

    if (arena->size - arena->used < size) {
        return ngx_palloc(arena->pool, size);
    }

    p = arena->start + arena->used;
    arena->used += size;

    return p;
}


/* the request is done: its answer no longer needs the map */

static void
ngx_http_yibao_cov_arena_free(void *data)
{
    ngx_http_yibao_cov_arena_t  *arena = data;

    arena->busy = 0;
}


/* The report: CSV or JSON. */

static ngx_int_t
ngx_http_yibao_cov_send(ngx_http_request_t *r, yibao_str_t *body,
    ngx_uint_t csv)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = body->len;

    if (csv) {
        ngx_str_set(&r->headers_out.content_type, "text/csv; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) body->data;
    b->last = b->pos + body->len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_yibao_cov_params(ngx_http_request_t *r, yibao_cov_report_t *rep,
    const char **err)
{
    int        report;
    u_char    *p, *last;
    ngx_str_t  v;
    unsigned   frac, digits;

    yibao_cov_params_default(&rep->params);
    rep->report = YIBAO_COV_REPORT_CLINICS;

    if (ngx_http_arg(r, (u_char *) "report", 6, &v) == NGX_OK) {
        report = yibao_cov_report_find(v.data, v.len);

        if (report < 0) {
            *err = "report: one of clinics, silent, failing, "
                   "never_activated, townships, weekly, summary";
            return NGX_ERROR;
        }

        rep->report = (unsigned) report;
    }

    if (ngx_http_arg(r, (u_char *) "format", 6, &v) == NGX_OK) {
        if (v.len == 3 && ngx_strncmp(v.data, "csv", 3) == 0) {
            rep->csv = 1;

        } else if (!(v.len == 4 && ngx_strncmp(v.data, "json", 4) == 0)) {
            *err = "format: json or csv";
            return NGX_ERROR;
        }
    }

    if (ngx_http_yibao_cov_arg_uint(r, "silent_days", 11, 1, 3650,
                                    &rep->params.silent_days) != NGX_OK)
    {
        *err = "silent_days: a number of days from 1 to 3650";
        return NGX_ERROR;
    }

    if (ngx_http_yibao_cov_arg_uint(r, "window", 6, 1, YIBAO_COV_WEEK,
                                    &rep->params.window) != NGX_OK)
    {
        *err = "window: a number of days from 1 to 7";
        return NGX_ERROR;
    }

    if (ngx_http_yibao_cov_arg_uint(r, "min_requests", 12, 1, 1000000,
                                    &rep->params.min_requests) != NGX_OK)
    {
        *err = "min_requests: a number from 1 to 1000000";
        return NGX_ERROR;
    }

    /* threshold: 0 to 1, at most 4 decimals ("0.25") */

    if (ngx_http_arg(r, (u_char *) "threshold", 9, &v) == NGX_OK) {
        p = v.data;
        last = v.data + v.len;

        if (v.len == 0 || (*p != '0' && *p != '1')) {
            *err = "threshold: an error ratio from 0 to 1 (0.2)";
            return NGX_ERROR;
        }

        frac = (*p++ == '1') ? 10000 : 0;
        digits = 0;

        if (p < last && *p == '.') {
            for (p++; p < last && *p >= '0' && *p <= '9' && digits < 4;
                 p++, digits++)
            {
                frac += (*p - '0') * (digits == 0 ? 1000 : digits == 1
                                      ? 100 : digits == 2 ? 10 : 1);
            }

            if (digits == 0) {
                p = last + 1;
            }
        }

        if (p != last || frac > 10000) {
            *err = "threshold: an error ratio from 0 to 1 (0.2)";
            return NGX_ERROR;
        }

        rep->params.threshold = frac;
    }

    return NGX_OK;
}


/* an argument that is absent leaves *v as it is */

static ngx_int_t
ngx_http_yibao_cov_arg_uint(ngx_http_request_t *r, char *name, size_t len,
    ngx_uint_t lo, ngx_uint_t hi, unsigned *v)
{
    ngx_int_t  n;
    ngx_str_t  s;

    if (ngx_http_arg(r, (u_char *) name, len, &s) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoi(s.data, s.len);

    if (n == NGX_ERROR || (ngx_uint_t) n < lo || (ngx_uint_t) n > hi) {
        return NGX_ERROR;
    }

    *v = (unsigned) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_cov_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    u_char  *p, *last;
    size_t   len;

    len = sizeof("{\"error\":\"\"}") + ngx_strlen(msg);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the messages are this file's own: no quotes or backslashes */

    last = ngx_sprintf(p, "{\"error\":\"%s\"}", msg);

    return ngx_http_yibao_send_json(r, status, p, last - p);
}
