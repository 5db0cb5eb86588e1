/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_shm.h"
#include "ngx_http_yibao_platform.h"
#include "yibao_crypto.h"
#include "yibao_freelist.h"
#include <jansson.h>


static ngx_int_t ngx_http_yibao_preconfiguration(ngx_conf_t *cf);
static void ngx_http_yibao_json_alloc_init(void);
static void *ngx_http_yibao_json_malloc(size_t size);
static void ngx_http_yibao_json_free(void *p);
static ngx_int_t ngx_http_yibao_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_yibao_init_process(ngx_cycle_t *cycle);
static void ngx_http_yibao_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_yibao_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_yibao_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_yibao_mappings(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yibao_translate_rules(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_yibao_passthrough(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_yibao_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_yibao_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_yibao_data_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_yibao_parse_keys(ngx_http_yibao_main_conf_t *gmcf,
    const u_char *data, size_t len, yibao_alloc_t *a, yibao_err_t *err);
static void *ngx_http_yibao_parse_clinics(ngx_http_yibao_main_conf_t *gmcf,
    const u_char *data, size_t len, yibao_alloc_t *a, yibao_err_t *err);
static void *ngx_http_yibao_parse_callers(ngx_http_yibao_main_conf_t *gmcf,
    const u_char *data, size_t len, yibao_alloc_t *a, yibao_err_t *err);
static size_t ngx_http_yibao_count_keys(void *p);
static size_t ngx_http_yibao_count_clinics(void *p);
static size_t ngx_http_yibao_count_callers(void *p);
static char *ngx_http_yibao_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yibao_sign(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yibao_route(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_yibao_route_table(ngx_conf_t *cf,
    ngx_http_yibao_loc_conf_t *glcf, ngx_str_t *file);
static char *ngx_http_yibao_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


typedef struct {
    size_t                     offset;
    ngx_uint_t                 secret;
    ngx_uint_t                 needs_keys;
    void                    *(*parse)(ngx_http_yibao_main_conf_t *gmcf,
                                      const u_char *data, size_t len,
                                      yibao_alloc_t *a, yibao_err_t *err);
    size_t                   (*count)(void *p);
    const char                *what;
} ngx_http_yibao_data_file_t;


static ngx_http_yibao_data_file_t  ngx_http_yibao_keys_file = {
    offsetof(ngx_http_yibao_main_conf_t, keys), 1, 0,
    ngx_http_yibao_parse_keys, ngx_http_yibao_count_keys, "platform keys"
};


static ngx_http_yibao_data_file_t  ngx_http_yibao_clinics_file = {
    offsetof(ngx_http_yibao_main_conf_t, clinics), 0, 1,
    ngx_http_yibao_parse_clinics, ngx_http_yibao_count_clinics, "clinics"
};


static ngx_http_yibao_data_file_t  ngx_http_yibao_callers_file = {
    offsetof(ngx_http_yibao_main_conf_t, callers), 1, 0,
    ngx_http_yibao_parse_callers, ngx_http_yibao_count_callers, "callers"
};


static ngx_conf_num_bounds_t  ngx_http_yibao_depth_bounds = {
    ngx_conf_check_num_bounds, 2, 1000
};


static ngx_conf_num_bounds_t  ngx_http_yibao_values_bounds = {
    ngx_conf_check_num_bounds, 16, 10000000
};


static ngx_command_t  ngx_http_yibao_commands[] = {

    { ngx_string("yibao_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_yibao_data_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      &ngx_http_yibao_keys_file },

    { ngx_string("yibao_clinics"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_yibao_data_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      &ngx_http_yibao_clinics_file },

    { ngx_string("yibao_callers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_yibao_data_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      &ngx_http_yibao_callers_file },

    { ngx_string("yibao_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_yibao_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_gateway"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, enable),
      NULL },

    { ngx_string("yibao_sign"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_sign,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_route"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_yibao_route,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_yibao_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_auth_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, auth_window),
      NULL },

    { ngx_string("yibao_json_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, json_max_depth),
      &ngx_http_yibao_depth_bounds },

    { ngx_string("yibao_json_max_values"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, json_max_values),
      &ngx_http_yibao_values_bounds },

    { ngx_string("yibao_response_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, response_max),
      NULL },

    { ngx_string("yibao_upstream_content_type"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, upstream_content_type),
      NULL },

    { ngx_string("yibao_mappings"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_mappings,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_translate_rules"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_yibao_translate_rules,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_translate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, translate),
      NULL },

    { ngx_string("yibao_audit_rules"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_yibao_audit_rules_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_audit_lists"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_audit_lists_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_audit_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_yibao_main_conf_t, audit_window),
      NULL },

    { ngx_string("yibao_audit_platform"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_yibao_audit_platform_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_audit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, audit),
      NULL },

    { ngx_string("yibao_translate_passthrough"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_passthrough,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_store_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_limit_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_cache_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_cache_purge"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yibao_cache_purge_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_journal"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_yibao_journal_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_journal_resolve"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_resolve_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_signin"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_signin_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_platform"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_platform_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_journal_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yibao_journal_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_outage"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_yibao_outage_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_offline"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_offline_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_offline_replay"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_replay_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_offline_record"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, offline),
      NULL },

    { ngx_string("yibao_offline_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_offline_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_keys_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_keys_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_outage_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yibao_outage_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yibao_limit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, limit_dry_run),
      NULL },

    { ngx_string("yibao_feedetl_sn_digits"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yibao_loc_conf_t, feedetl_sn_digits),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_yibao_module_ctx = {
    ngx_http_yibao_preconfiguration,       /* preconfiguration */
    ngx_http_yibao_postconfiguration,      /* postconfiguration */

    ngx_http_yibao_create_main_conf,       /* create main configuration */
    ngx_http_yibao_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_yibao_create_loc_conf,        /* create location configuration */
    ngx_http_yibao_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_yibao_module = {
    NGX_MODULE_V1,
    &ngx_http_yibao_module_ctx,            /* module context */
    ngx_http_yibao_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_yibao_offline_init_module,    /* init module */
    ngx_http_yibao_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_yibao_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * jansson's blocks (a request's and an answer's trees, 150 blocks for a
 * 1101) come from free lists in front of malloc(): no block of a request
 * goes through malloc() and free() once the lists are warm.  Each list
 * keeps at most 256 KiB of blocks (8 MiB for all 32 sizes, per process).
 * A block on a list is out of bounds for memcheck, as a freed block is.
 */

#define NGX_HTTP_YIBAO_JSON_KEEP  (256 * 1024)

static yibao_freelist_t  ngx_http_yibao_json_blocks;
static ngx_uint_t        ngx_http_yibao_json_blocks_set;


static ngx_int_t
ngx_http_yibao_preconfiguration(ngx_conf_t *cf)
{
    ngx_http_yibao_json_alloc_init();

    return ngx_http_yibao_variables_add(cf);
}


static void
ngx_http_yibao_json_alloc_init(void)
{
    /*
     * Set once, when the first configuration is read: every jansson
     * value is made later, while requests are served, so none was
     * allocated with another function than the one that frees it.
     */

    if (ngx_http_yibao_json_blocks_set) {
        return;
    }

    yibao_freelist_init(&ngx_http_yibao_json_blocks,
                        NGX_HTTP_YIBAO_JSON_KEEP, malloc, free);
    json_set_alloc_funcs(ngx_http_yibao_json_malloc,
                         ngx_http_yibao_json_free);

    ngx_http_yibao_json_blocks_set = 1;
}


static void *
ngx_http_yibao_json_malloc(size_t size)
{
    return yibao_freelist_get(&ngx_http_yibao_json_blocks, size);
}


static void
ngx_http_yibao_json_free(void *p)
{
    yibao_freelist_put(&ngx_http_yibao_json_blocks, p);
}


void
ngx_http_yibao_json_alloc_release(void)
{
    yibao_freelist_drain(&ngx_http_yibao_json_blocks);
}


static ngx_int_t
ngx_http_yibao_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                  n;
    ngx_http_handler_pt        *h, *hs;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_yibao_handler;

    /*
     * The journal's look at a request's end goes first in the log phase,
     * before the access log and the status counters read what it sets.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    hs = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

    ngx_memmove(&hs[1], &hs[0], (n - 1) * sizeof(ngx_http_handler_pt));
    hs[0] = ngx_http_yibao_journal_log_handler;

    return ngx_http_yibao_filter_init(cf);
}


/*
 * A worker's start: its Redis connection, the look for exchanges of
 * workers that died, and (in one worker) the resolver.
 */

static ngx_int_t
ngx_http_yibao_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_yibao_store_init_process(cycle) != NGX_OK
        || ngx_http_yibao_store_keys_init_process(cycle) != NGX_OK
        || ngx_http_yibao_journal_init_process(cycle) != NGX_OK
        || ngx_http_yibao_resolve_init_process(cycle) != NGX_OK
        || ngx_http_yibao_outage_init_process(cycle) != NGX_OK
        || ngx_http_yibao_offline_init_process(cycle) != NGX_OK
        || ngx_http_yibao_replay_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_yibao_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_yibao_replay_exit_process(cycle);
    ngx_http_yibao_offline_exit_process(cycle);
    ngx_http_yibao_store_exit_process(cycle);
    yibao_crypto_release();
    ngx_http_yibao_json_alloc_release();
}


static void *
ngx_http_yibao_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     gmcf->keys = NULL;
     *     gmcf->clinics = NULL;
     *     gmcf->callers = NULL;
     *     gmcf->shm_zone = NULL;
     *     gmcf->audit = NULL;
     */

    gmcf->audit_window = NGX_CONF_UNSET_MSEC;

    return gmcf;
}


static void *
ngx_http_yibao_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_loc_conf_t));
    if (glcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     glcf->sign = { YIBAO_SIGN_NONE, ... };
     *     glcf->sign_set = 0;
     *     glcf->route_type = 0;
     *     glcf->route_path = { 0, NULL };
     *     glcf->auth = 0;
     *     glcf->upstream_content_type = { 0, NULL };
     */

    glcf->enable = NGX_CONF_UNSET;
    glcf->routes = NGX_CONF_UNSET_PTR;
    glcf->auth_window = NGX_CONF_UNSET;
    glcf->json_max_depth = NGX_CONF_UNSET_UINT;
    glcf->json_max_values = NGX_CONF_UNSET_UINT;
    glcf->response_max = NGX_CONF_UNSET_SIZE;
    glcf->translate = NGX_CONF_UNSET;
    glcf->passthrough = NGX_CONF_UNSET_UINT;
    glcf->feedetl_sn_digits = NGX_CONF_UNSET;
    glcf->limit_dry_run = NGX_CONF_UNSET;
    glcf->audit = NGX_CONF_UNSET;
    glcf->offline = NGX_CONF_UNSET;

    return glcf;
}


static char *
ngx_http_yibao_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_yibao_loc_conf_t *prev = parent;
    ngx_http_yibao_loc_conf_t *conf = child;

    ngx_http_yibao_main_conf_t  *gmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (!conf->sign_set) {
        conf->sign = prev->sign;
        conf->sign_set = prev->sign_set;
    }

    if (conf->route_type == 0) {
        conf->route_type = prev->route_type;
        conf->route_path = prev->route_path;
        conf->routes = prev->routes;
    }

    if (conf->route_type == 0) {
        conf->route_type = NGX_HTTP_YIBAO_ROUTE_SINGLE;
        ngx_str_set(&conf->route_path,
                    "/fsi/api/rsfComIfsService/callService");
        conf->routes = NULL;
    }

    if (conf->auth == 0) {
        conf->auth = prev->auth ? prev->auth : NGX_HTTP_YIBAO_AUTH_HMAC;
    }

    ngx_conf_merge_sec_value(conf->auth_window, prev->auth_window, 300);
    ngx_conf_merge_uint_value(conf->json_max_depth, prev->json_max_depth,
                              32);
    ngx_conf_merge_uint_value(conf->json_max_values, prev->json_max_values,
                              100000);
    ngx_conf_merge_size_value(conf->response_max, prev->response_max,
                              8 * 1024 * 1024);
    ngx_conf_merge_str_value(conf->upstream_content_type,
                             prev->upstream_content_type,
                             "application/json;charset=utf-8");

    ngx_conf_merge_value(conf->translate, prev->translate, 0);
    ngx_conf_merge_uint_value(conf->passthrough, prev->passthrough, 0);
    ngx_conf_merge_value(conf->feedetl_sn_digits, prev->feedetl_sn_digits, 0);
    ngx_conf_merge_value(conf->limit_dry_run, prev->limit_dry_run, 0);
    ngx_conf_merge_value(conf->audit, prev->audit, 0);
    ngx_conf_merge_value(conf->offline, prev->offline, 0);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yibao_module);

    if (conf->translate && (gmcf->map == NULL || gmcf->rules == NULL)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yibao_translate on\" needs \"yibao_mappings\" "
                           "and \"yibao_translate_rules\" at the http level");
        return NGX_CONF_ERROR;
    }

    if (conf->audit && gmcf->audit == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yibao_audit on\" needs \"yibao_audit_rules\" "
                           "and \"yibao_audit_lists\" at the http level");
        return NGX_CONF_ERROR;
    }

    if (gmcf->clinics == NULL || gmcf->callers == NULL
        || gmcf->shm_zone == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yibao_gateway on\" needs \"yibao_keys\", "
                           "\"yibao_clinics\", \"yibao_callers\" and "
                           "\"yibao_zone\" at the http level");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * yibao_keys, yibao_clinics, yibao_callers: read the file, parse it with
 * the pure parser of the directive's ngx_http_yibao_data_file_t, and
 * keep the result in the main conf.
 */

static char *
ngx_http_yibao_data_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    void                        **field;
    ngx_str_t                    *value, data;
    ngx_msec_t                    start;
    yibao_err_t                   err;
    yibao_alloc_t                 a;
    ngx_http_yibao_data_file_t   *df;

    df = cmd->post;
    field = (void **) ((char *) gmcf + df->offset);

    if (*field != NULL) {
        return "is duplicate";
    }

    if (df->needs_keys && gmcf->keys == NULL) {
        return "must follow \"yibao_keys\": its rows name keys";
    }

    value = cf->args->elts;

    ngx_time_update();
    start = ngx_current_msec;

    if (ngx_http_yibao_read_file(cf, &value[1], df->secret, cf->temp_pool,
                                 &data)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, cf->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    *field = df->parse(gmcf, data.data, data.len, &a, &err);

    if (*field == NULL) {
        if (err.line) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" line %uz: %s",
                               &value[1], err.line, err.msg);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": %s",
                               &value[1], err.msg);
        }

        return NGX_CONF_ERROR;
    }

    ngx_time_update();

    ngx_log_error(NGX_LOG_INFO, cf->log, 0,
                  "yibao: %uz %s loaded from \"%V\" in %M ms",
                  df->count(*field), df->what, &value[1],
                  ngx_current_msec - start);

    return NGX_CONF_OK;
}


static void *
ngx_http_yibao_parse_keys(ngx_http_yibao_main_conf_t *gmcf,
    const u_char *data, size_t len, yibao_alloc_t *a, yibao_err_t *err)
{
    return yibao_keys_parse(data, len, a, err);
}


static void *
ngx_http_yibao_parse_clinics(ngx_http_yibao_main_conf_t *gmcf,
    const u_char *data, size_t len, yibao_alloc_t *a, yibao_err_t *err)
{
    return yibao_clinics_parse(data, len, gmcf->keys, a, err);
}


static void *
ngx_http_yibao_parse_callers(ngx_http_yibao_main_conf_t *gmcf,
    const u_char *data, size_t len, yibao_alloc_t *a, yibao_err_t *err)
{
    return yibao_callers_parse(data, len, a, err);
}


static size_t
ngx_http_yibao_count_keys(void *p)
{
    return yibao_keys_count(p);
}


static size_t
ngx_http_yibao_count_clinics(void *p)
{
    return yibao_clinics_count(p);
}


static size_t
ngx_http_yibao_count_callers(void *p)
{
    return yibao_callers_count(p);
}


static char *
ngx_http_yibao_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    u_char      *p;
    ngx_int_t    node, count;
    ngx_str_t   *value;

    if (gmcf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_yibao_shm_add(cf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    gmcf->msgid_node = 0;
    gmcf->msgid_nodes = 1;

    if (cf->args->nelts == 3) {

        /* node=N/COUNT: this node's share of the msgid sequences */

        p = ngx_strlchr(value[2].data, value[2].data + value[2].len, '/');

        if (ngx_strncmp(value[2].data, "node=", 5) != 0 || p == NULL) {
            goto invalid;
        }

        node = ngx_atoi(value[2].data + 5, p - value[2].data - 5);
        count = ngx_atoi(p + 1, value[2].data + value[2].len - p - 1);

        if (node == NGX_ERROR || count == NGX_ERROR || count < 1
            || count > 100 || node >= count)
        {
            goto invalid;
        }

        gmcf->msgid_node = node;
        gmcf->msgid_nodes = count;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": expected node=N/COUNT, "
                       "0 <= N < COUNT <= 100", &value[2]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_yibao_sign(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_loc_conf_t *glcf = conf;

    ngx_str_t    *value, v;
    ngx_uint_t    i;

    if (glcf->sign_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (yibao_sign_scheme_parse(value[1].data, value[1].len,
                                &glcf->sign.scheme)
        != YIBAO_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid signing scheme \"%V\": expected "
                           "\"none\", \"csb\", \"tif\" or \"zj-sm3\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (glcf->sign.scheme == YIBAO_SIGN_CSB
            && ngx_strncmp(value[i].data, "api_version=", 12) == 0)
        {
            v.data = value[i].data + 12;
            v.len = value[i].len - 12;

            if (v.len == 0) {
                goto invalid;
            }

            glcf->sign.api_version.data = v.data;
            glcf->sign.api_version.len = v.len;
            continue;
        }

        if (glcf->sign.scheme == YIBAO_SIGN_CSB
            && ngx_strncmp(value[i].data, "api_name_prefix=", 16) == 0)
        {
            glcf->sign.api_name_prefix.data = value[i].data + 16;
            glcf->sign.api_name_prefix.len = value[i].len - 16;
            continue;
        }

        goto invalid;
    }

    glcf->sign_set = 1;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" for scheme \"%V\"",
                       &value[i], &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_yibao_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_loc_conf_t *glcf = conf;

    ngx_str_t  *value;

    if (glcf->route_type != 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "single") == 0
        || ngx_strcmp(value[1].data, "prefix") == 0)
    {
        if (value[2].len == 0 || value[2].data[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "route path \"%V\" must start with \"/\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        glcf->route_type = (value[1].data[0] == 's')
                           ? NGX_HTTP_YIBAO_ROUTE_SINGLE
                           : NGX_HTTP_YIBAO_ROUTE_PREFIX;
        glcf->route_path = value[2];
        glcf->routes = NULL;

        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "table") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid route layout \"%V\": expected "
                           "\"single\", \"prefix\" or \"table\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_yibao_route_table(cf, glcf, &value[2]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    glcf->route_type = NGX_HTTP_YIBAO_ROUTE_TABLE;

    return NGX_CONF_OK;
}


/* The route table file: a line "infno<TAB>/path" per route. */

static ngx_int_t
ngx_http_yibao_route_table(ngx_conf_t *cf, ngx_http_yibao_loc_conf_t *glcf,
    ngx_str_t *file)
{
    u_char                  *p, *last, *line, *tab, *end;
    ngx_str_t                data;
    ngx_uint_t               lineno;
    ngx_http_yibao_route_t  *route;

    /* the routes point into the data: it lives as long as the conf */

    if (ngx_http_yibao_read_file(cf, file, 0, cf->pool, &data) != NGX_OK) {
        return NGX_ERROR;
    }

    glcf->routes = ngx_array_create(cf->pool, 64,
                                    sizeof(ngx_http_yibao_route_t));
    if (glcf->routes == NULL) {
        return NGX_ERROR;
    }

    p = data.data;
    last = data.data + data.len;

    for (lineno = 1; p < last; lineno++) {
        line = p;
        end = ngx_strlchr(p, last, '\n');

        if (end == NULL) {
            end = last;
        }

        p = end + 1;

        if (end > line && end[-1] == '\r') {
            end--;
        }

        if (end == line || line[0] == '#') {
            continue;
        }

        tab = ngx_strlchr(line, end, '\t');

        if (tab == NULL || !yibao_code_is_infno(line, tab - line)
            || tab + 1 >= end || tab[1] != '/')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "route table \"%V\" line %ui: expected "
                               "\"infno<TAB>/path\"", file, lineno);
            return NGX_ERROR;
        }

        route = ngx_array_push(glcf->routes);
        if (route == NULL) {
            return NGX_ERROR;
        }

        route->infno.data = line;
        route->infno.len = tab - line;
        route->path.data = tab + 1;
        route->path.len = end - tab - 1;
    }

    return NGX_OK;
}


static char *
ngx_http_yibao_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_loc_conf_t *glcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (glcf->auth != 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "hmac") == 0) {
            glcf->auth |= NGX_HTTP_YIBAO_AUTH_HMAC;

        } else if (ngx_strcmp(value[i].data, "mtls") == 0) {
            glcf->auth |= NGX_HTTP_YIBAO_AUTH_MTLS;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid caller authentication \"%V\": "
                               "expected \"hmac\" and/or \"mtls\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yibao_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_msec_t   start;
    yibao_err_t  err;

    if (ngx_http_yibao_resolve_init_conf(cf, gmcf) != NGX_CONF_OK
        || ngx_http_yibao_signin_init_conf(cf, gmcf) != NGX_CONF_OK
        || ngx_http_yibao_replay_init_conf(cf, gmcf) != NGX_CONF_OK
        || ngx_http_yibao_audit_init_conf(cf, gmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (gmcf->map_builder == NULL) {
        return NGX_CONF_OK;
    }

    ngx_time_update();
    start = ngx_current_msec;

    ngx_memzero(&err, sizeof(yibao_err_t));

    gmcf->map = yibao_map_build(gmcf->map_builder, &err);
    gmcf->map_builder = NULL;       /* its rows were in cf->temp_pool */

    if (gmcf->map == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "yibao_mappings: %s",
                           err.msg);
        return NGX_CONF_ERROR;
    }

    ngx_time_update();

    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "yibao: %uz code mappings indexed in %M ms, %uz bytes",
                  yibao_map_rows(gmcf->map), ngx_current_msec - start,
                  yibao_map_bytes(gmcf->map));

    return NGX_CONF_OK;
}


/*
 * yibao_mappings file ...: the rows are copied into the builder (from
 * cf->temp_pool), the map is built into cf->pool once all files are
 * read.
 */

static char *
ngx_http_yibao_mappings(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t      *value, data;
    ngx_uint_t      i;
    yibao_str_t     label;
    yibao_err_t     err;

    value = cf->args->elts;

    if (gmcf->map_builder == NULL) {
        ngx_http_yibao_alloc_init(&gmcf->map_alloc, cf->pool);

        gmcf->map_builder = yibao_map_builder_create(&gmcf->map_alloc);
        if (gmcf->map_builder == NULL) {
            return NGX_CONF_ERROR;
        }

        /* the rows as read and the build's scratch: gone after reading */

        ngx_http_yibao_alloc_init(&gmcf->map_scratch, cf->temp_pool);
        yibao_map_builder_scratch(gmcf->map_builder, &gmcf->map_scratch);
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_yibao_read_file(cf, &value[i], 0, cf->temp_pool, &data)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&err, sizeof(yibao_err_t));

        /* the file's own name in build()'s duplicate messages */

        label.data = value[i].data;
        label.len = value[i].len;

        if (label.len > 60) {
            label.data += label.len - 60;
            label.len = 60;
        }

        if (yibao_map_builder_add_named(gmcf->map_builder, &label,
                                        data.data, data.len, &err)
            != YIBAO_OK)
        {
            if (err.line) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" line %uz: %s", &value[i],
                                   err.line, err.msg);

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": %s",
                                   &value[i], err.msg);
            }

            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yibao_translate_rules(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_main_conf_t *gmcf = conf;

    ngx_str_t      *value, data;
    yibao_err_t     err;
    yibao_alloc_t   a;

    if (gmcf->rules != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_yibao_read_file(cf, &value[1], 0, cf->temp_pool, &data)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_yibao_alloc_init(&a, cf->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    gmcf->rules = yibao_rules_parse(data.data, data.len, &a, &err);

    if (gmcf->rules == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" line %uz: %s",
                           &value[1], err.line, err.msg);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yibao_passthrough(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yibao_loc_conf_t *glcf = conf;

    ngx_str_t     *value;
    ngx_uint_t     i;
    yibao_str_t    dict;
    yibao_kind_e   kind;

    if (glcf->passthrough != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    glcf->passthrough = 0;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "none") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (yibao_kind_parse(value[i].data, value[i].len, &kind, &dict)
            != YIBAO_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid kind \"%V\": expected drug, item, "
                               "consumable, diagnosis, operation, chronic, "
                               "staff, dept, dict or none", &value[i]);
            return NGX_CONF_ERROR;
        }

        glcf->passthrough |= 1u << kind;
    }

    return NGX_CONF_OK;
}


/*
 * Reads a whole data file at configuration time (the master process,
 * before the workers exist, so blocking I/O is fine here).  A file that
 * holds secrets must not be accessible by group or others.
 */

ngx_int_t
ngx_http_yibao_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t secret,
    ngx_pool_t *pool, ngx_str_t *out)
{
    off_t             size;
    u_char            mode[4];
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a regular file", name);
        goto failed;
    }

    if (secret && (fi.st_mode & (S_IRWXG|S_IRWXO))) {
        mode[0] = '0' + ((fi.st_mode >> 9) & 7);
        mode[1] = '0' + ((fi.st_mode >> 6) & 7);
        mode[2] = '0' + ((fi.st_mode >> 3) & 7);
        mode[3] = '0' + (fi.st_mode & 7);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds secrets but is accessible by "
                           "group or others (mode %*s): chmod 600 it",
                           name, (size_t) 4, mode);
        goto failed;
    }

    size = ngx_file_size(&fi);

    out->data = ngx_pnalloc(pool, size ? size : 1);
    if (out->data == NULL) {
        goto failed;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = (size > 0) ? ngx_read_file(&file, out->data, size, 0) : 0;

    if (n == NGX_ERROR) {
        goto failed;
    }

    if (n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" changed while it was read", name);
        goto failed;
    }

    out->len = size;

    ngx_close_file(fd);

    return NGX_OK;

failed:

    ngx_close_file(fd);

    return NGX_ERROR;
}


