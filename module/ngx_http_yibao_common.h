/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_COMMON_H_INCLUDED_
#define _NGX_HTTP_YIBAO_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "yibao_types.h"
#include "yibao_envelope.h"
#include "yibao_sign.h"
#include "yibao_registry.h"
#include "yibao_gwerr.h"
#include "yibao_codes.h"
#include "yibao_map.h"
#include "yibao_translate.h"
#include "yibao_limit.h"
#include "yibao_fields.h"
#include "yibao_journal.h"
#include "yibao_infno.h"
#include "yibao_outage.h"
#include "yibao_audit.h"
#include "yibao_offline.h"
#include "yibao_status.h"


#define NGX_HTTP_YIBAO_ROUTE_SINGLE  1
#define NGX_HTTP_YIBAO_ROUTE_PREFIX  2
#define NGX_HTTP_YIBAO_ROUTE_TABLE   3

#define NGX_HTTP_YIBAO_AUTH_HMAC     0x01
#define NGX_HTTP_YIBAO_AUTH_MTLS     0x02


#define NGX_HTTP_YIBAO_STORE_LOCAL    1   /* no Redis: the zone */
#define NGX_HTTP_YIBAO_STORE_REDIS    2
#define NGX_HTTP_YIBAO_STORE_DOWN     3   /* Redis configured, down */

#define NGX_HTTP_YIBAO_LIMIT_PASSED   1
#define NGX_HTTP_YIBAO_LIMIT_REJECTED 2
#define NGX_HTTP_YIBAO_LIMIT_DRY_RUN  3
#define NGX_HTTP_YIBAO_LIMIT_BYPASSED 4
#define NGX_HTTP_YIBAO_LIMIT_LOCAL    5
#define NGX_HTTP_YIBAO_LIMIT_ERROR    6


typedef struct {
    ngx_str_t                  infno;
    ngx_str_t                  path;
} ngx_http_yibao_route_t;


typedef struct {
    yibao_limit_policy_t       policy;     /* shared, in Redis */
    yibao_limit_policy_t       local;      /* this node's share */
    yibao_callers_t           *infnos;     /* the infno class, or NULL */
    const yibao_caller_t      *class;
} ngx_http_yibao_limit_t;


#define NGX_HTTP_YIBAO_CACHE_MISS     1
#define NGX_HTTP_YIBAO_CACHE_HIT      2
#define NGX_HTTP_YIBAO_CACHE_EXPIRED  3
#define NGX_HTTP_YIBAO_CACHE_STALE    4
#define NGX_HTTP_YIBAO_CACHE_BYPASS   5

/* the phase handler's status: serve the cached answer */
#define NGX_HTTP_YIBAO_SERVE_CACHED   1000


typedef struct {
    yibao_callers_t           *infnos;
    const yibao_caller_t      *class;
    ngx_msec_t                 ttl;
    ngx_msec_t                 stale;
    size_t                     max_size;
} ngx_http_yibao_cache_t;


/* what a journal query of the zone read (ngx_http_yibao_shm.c) */

typedef struct {
    ngx_uint_t                 examined;   /* index entries read */
    ngx_uint_t                 holds;      /* times the lock was held */
    ngx_uint_t                 hold_max;   /* the most in one hold */
    ngx_uint_t                 truncated;  /* stopped at max bytes */
} ngx_http_yibao_shm_query_t;


/* a journal query of the zone, read a batch at a time */

typedef struct {
    ngx_rbtree_key_t             hash;          /* of the index key */
    uint64_t                     after;         /* the last record read */
    size_t                       max;           /* bytes of records at most */
    size_t                       total;         /* read so far */
    ngx_uint_t                   done;
    ngx_http_yibao_shm_query_t   st;
} ngx_http_yibao_shm_cursor_t;


typedef struct ngx_http_yibao_redis_conf_s  ngx_http_yibao_redis_conf_t;
typedef struct ngx_http_yibao_redis_op_s    ngx_http_yibao_redis_op_t;
typedef struct ngx_http_yibao_platform_s    ngx_http_yibao_platform_t;


/*
 * A directive's key=value parameters, read by one table
 * (ngx_http_yibao_conf_params in ngx_http_yibao_util.c), as nginx's
 * ngx_conf_set_*_slot read a directive's one value: a row per
 * parameter names it (without its '='), says what its value is, where
 * it is stored (the offset and size of the field in the structure the
 * directive passes) and its bounds.  The table ends with
 * ngx_http_yibao_null_param.
 */

typedef enum {
    NGX_HTTP_YIBAO_PARAM_STR = 0,  /* ngx_str_t, not empty */
    NGX_HTTP_YIBAO_PARAM_MSEC,     /* ngx_parse_time(), ms: min..max */
    NGX_HTTP_YIBAO_PARAM_SIZE,     /* ngx_parse_size(): min..max */
    NGX_HTTP_YIBAO_PARAM_NUM,      /* ngx_atoi(), digits: min..max */
    NGX_HTTP_YIBAO_PARAM_ENUM,     /* a name of values, stored its value */
    NGX_HTTP_YIBAO_PARAM_FLAG,     /* on (1) or off (0) */
    NGX_HTTP_YIBAO_PARAM_SET       /* read by set() */
} ngx_http_yibao_param_kind_e;

/* flags of a row */
#define NGX_HTTP_YIBAO_PARAM_REQUIRED  0x01  /* "needs name=, ..." */
#define NGX_HTTP_YIBAO_PARAM_EMPTY     0x02  /* SET: "name=" reaches set() */

/* flags of a directive: its messages name a parameter, not its value */
#define NGX_HTTP_YIBAO_PARAM_HIDE      0x01

typedef struct ngx_http_yibao_param_s  ngx_http_yibao_param_t;

/*
 * NGX_OK, NGX_DECLINED (the value is invalid: "invalid parameter"), or
 * NGX_ERROR (set() logged why).
 */
typedef ngx_int_t (*ngx_http_yibao_param_set_pt)(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);

struct ngx_http_yibao_param_s {
    ngx_str_t                     name;
    ngx_http_yibao_param_kind_e   kind;
    size_t                        offset;   /* of the field in conf */
    size_t                        size;     /* of the field */
    ngx_int_t                     min;
    ngx_int_t                     max;
    ngx_conf_enum_t              *values;   /* ENUM */
    ngx_http_yibao_param_set_pt   set;      /* SET */
    ngx_uint_t                    flags;
};

/* the offset and size of a field, for a row */
#define ngx_http_yibao_param_field(type, field)                             \
    offsetof(type, field), sizeof(((type *) 0)->field)

#define ngx_http_yibao_null_param                                           \
    { ngx_null_string, 0, 0, 0, 0, 0, NULL, NULL, 0 }


/* yibao_audit_platform: the platform's audit of a transaction */

typedef struct {
    ngx_str_t                  on;         /* 2204 or 2206 */
    ngx_str_t                  infno;      /* 3101, 3102, 3660, 3661 */
    ngx_str_t                  trig_scen;
    ngx_str_t                  node;       /* input's node: data */
    ngx_str_t                  syscode;
    ngx_msec_t                 timeout;
    ngx_uint_t                 mode;       /* yibao_audit_mode_e */
    yibao_audit_map_t         *map;        /* map=: the visit as input */
} ngx_http_yibao_audit_remote_conf_t;


typedef struct {
    yibao_keys_t              *keys;
    u_char                    *keys_kept;  /* a worker's: activation held */
    yibao_clinics_t           *clinics;
    yibao_callers_t           *callers;
    ngx_shm_zone_t            *shm_zone;
    ngx_uint_t                 msgid_node;     /* node=N/COUNT */
    ngx_uint_t                 msgid_nodes;

    yibao_map_builder_t       *map_builder;
    yibao_alloc_t              map_alloc;  /* the builder keeps it */
    yibao_alloc_t              map_scratch;   /* cf->temp_pool */
    yibao_map_t               *map;
    yibao_rules_t             *rules;

    ngx_http_yibao_redis_conf_t  *redis;
    ngx_array_t               *limits;     /* ngx_http_yibao_limit_t */
    ngx_array_t               *caches;     /* ngx_http_yibao_cache_t */
    ngx_msec_t                 journal_ttl;        /* 0: no journal */
    ngx_msec_t                 journal_in_flight;
    ngx_flag_t                 journal_money_local; /* redis_down=local */

    ngx_http_yibao_platform_t *platform;           /* yibao_platform */
    ngx_uint_t                 resolve_mode;       /* yibao_resolve_mode_e */
    ngx_msec_t                 resolve_interval;
    ngx_msec_t                 resolve_after;
    ngx_uint_t                 resolve_attempts;
    u_char                    *resolve_file;       /* for nginx -t */
    ngx_uint_t                 resolve_line;

    ngx_flag_t                 signin;             /* yibao_signin auto */
    ngx_str_t                  signin_mac;
    ngx_str_t                  signin_ip;
    u_char                    *signin_file;
    ngx_uint_t                 signin_line;

    ngx_flag_t                 outage_on;          /* yibao_outage */
    yibao_outage_conf_t        outage;
    ngx_flag_t                 outage_probe;       /* probe=on */

    yibao_audit_t             *audit;              /* yibao_audit_rules */
    yibao_alloc_t              audit_alloc;
    ngx_str_t                  audit_rules;        /* the file's name */
    yibao_str_t                audit_secret;       /* history_key= */
    ngx_msec_t                 audit_window;
    ngx_array_t               *audit_remotes;  /* yibao_audit_platform */

    ngx_str_t                  offline_file;       /* yibao_offline */
    ngx_uint_t                 offline_count;      /* a clinic's day */
    int64_t                    offline_amount;     /* cents */
    ngx_flag_t                 replay;             /* yibao_offline_replay */
    ngx_msec_t                 replay_max_age;
    ngx_flag_t                 replay_cross_month;
    ngx_flag_t                 replay_cross_year;
    u_char                    *replay_file;
    ngx_uint_t                 replay_line;
} ngx_http_yibao_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;

    yibao_sign_conf_t          sign;
    ngx_uint_t                 sign_set;   /* unsigned  sign_set:1; */

    ngx_uint_t                 route_type;
    ngx_str_t                  route_path;
    ngx_array_t               *routes;     /* ngx_http_yibao_route_t */

    ngx_uint_t                 auth;
    time_t                     auth_window;
    ngx_uint_t                 json_max_depth;
    ngx_uint_t                 json_max_values;
    size_t                     response_max;
    ngx_str_t                  upstream_content_type;

    ngx_flag_t                 translate;
    ngx_uint_t                 passthrough;    /* bit (1 << yibao_kind_e) */
    ngx_flag_t                 feedetl_sn_digits;
    ngx_flag_t                 limit_dry_run;

    ngx_array_t               *api_allow;  /* an operators' API: cidrs */
    ngx_flag_t                 audit;
    ngx_flag_t                 offline;    /* yibao_offline_record */
} ngx_http_yibao_loc_conf_t;


typedef struct ngx_http_yibao_ctx_s  ngx_http_yibao_ctx_t;

/* continues a request when the store, the cache or a sign-in answers */
typedef void (*ngx_http_yibao_resume_pt)(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_int_t rc);

struct ngx_http_yibao_ctx_s {
    ngx_http_yibao_resume_pt   resume;
    ngx_int_t                  status;
    ngx_uint_t                 gwerr;
    char                      *detail;

    yibao_envelope_t           env;

    ngx_str_t                  caller;
    ngx_str_t                  clinic;
    ngx_str_t                  entity;
    ngx_str_t                  infno;
    ngx_str_t                  msgid;
    ngx_str_t                  upstream_msgid;
    ngx_str_t                  upstream_uri;
    ngx_str_t                  unmapped;
    ngx_str_t                  mdtrt_id;
    ngx_str_t                  setl_id;
    ngx_str_t                  psn_no;         /* masked */
    ngx_str_t                  opter;
    ngx_str_t                  platform_msg;   /* masked */
    yibao_str_t                personal[2];    /* raw psn_no, psn_name:
                                                  masked where quoted,
                                                  never logged */
    ngx_uint_t                 translated;
    ngx_int_t                  infcode;

    const yibao_clinic_t      *registry_clinic;
    const yibao_key_t         *signer;         /* the key that signed */

    int64_t                    auth_ts;
    ngx_str_t                  nonce;
    ngx_http_yibao_redis_op_t *op;
    ngx_uint_t                 store;
    ngx_uint_t                 limit_status;
    ngx_str_t                  ratelimit_policy;
    ngx_str_t                  ratelimit;
    time_t                     retry_after;
    const char                *outage_state;      /* its name, refused */

    ngx_http_yibao_cache_t    *cache;
    ngx_str_t                  cache_key;
    ngx_uint_t                 cache_status;
    ngx_str_t                  cache_answer;   /* to serve */
    ngx_str_t                  cache_stale;    /* while the platform fails */
    yibao_fields_t             cache_fields;   /* the ids stored with it */
    ngx_uint_t                 stage;

    ngx_str_t                  journal_key;
    ngx_str_t                  omsgid;         /* 2601: the caller's */
    ngx_str_t                  journal_hash;
    uint64_t                   journal_sent_ms;
    yibao_journal_state_e      journal_state;
    yibao_journal_t           *journal_extra;  /* day, 3201's input */
    ngx_str_t                  resolved_by;    /* a resolved replay */
    ngx_uint_t                 replay_status;  /* 0: 200 */
    ngx_str_t                  journal_psn_no; /* raw: never logged */
    ngx_str_t                  journal_head;
    ngx_str_t                  journal_claimed; /* the record as claimed */
    void                      *journal_inflight; /* in the zone's list */
    yibao_journal_t           *forget_record;  /* checked: settled */

    ngx_msec_t                 store_start;
    ngx_msec_t                 store_time;     /* waiting for the store */

    ngx_str_t                  audit_keys[3];  /* person, lines, visit */
    ngx_str_t                  audit_values[3];
    ngx_str_t                  audit_log;      /* the findings, for the log */
    ngx_str_t                  audit_record;   /* kept once accepted */
    json_t                    *audit_findings; /* warn, enforce: 3101 */
    ngx_uint_t                 audit_acks;
    ngx_uint_t                 audit_worst;    /* yibao_audit_mode_e */

    u_char                    *resp;
    size_t                     resp_len;
    size_t                     resp_size;

    unsigned                   started:1;
    unsigned                   done:1;
    unsigned                   header_delayed:1;
    unsigned                   passthrough:1;
    unsigned                   error_sent:1;
    unsigned                   response_done:1;
    unsigned                   cache_serve:1;
    unsigned                   cache_has_fields:1;
    unsigned                   infcode_set:1;  /* the platform's envelope */
    unsigned                   replay:1;
    unsigned                   journal_repeat:1;
    unsigned                   journal_done:1;
    unsigned                   journal_local:1;   /* Redis was down */
    unsigned                   forget_checked:1;  /* 5203: not settled */
    unsigned                   journal_check:1;   /* ask the platform
                                                     before the claim */
    unsigned                   op_watched:1;
    unsigned                   store_held:1;      /* waited for the
                                                     first connection */
    unsigned                   stale_swap:1;
    unsigned                   outage_probe:1;    /* let through as one */
    unsigned                   outage_seen:1;     /* its outcome counted */
    unsigned                   outage_refuse:1;   /* down: refused after
                                                     the journal look-up */
    unsigned                   outage_switch:1;   /* down by the switch */
    unsigned                   audit_loaded:1;
    unsigned                   audit_done:1;
    unsigned                   audit_ran:1;
    unsigned                   audit_remote:1;  /* the platform's asked */
};


extern ngx_module_t  ngx_http_yibao_module;


ngx_int_t ngx_http_yibao_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yibao_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_yibao_variables_add(ngx_conf_t *cf);

ngx_http_yibao_ctx_t *ngx_http_yibao_get_ctx(ngx_http_request_t *r);
void ngx_http_yibao_reject(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_uint_t gwerr, const char *fmt, ...);
void ngx_http_yibao_map_scope(const yibao_clinic_t *clinic,
    yibao_map_scope_t *scope);
ngx_int_t ngx_http_yibao_keep_fields(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_fields_t *f);
void ngx_http_yibao_mask_personal(ngx_http_yibao_ctx_t *ctx, u_char *text,
    size_t len);
void ngx_http_yibao_alloc_init(yibao_alloc_t *a, ngx_pool_t *pool);
ngx_int_t ngx_http_yibao_copy_str(ngx_pool_t *pool, ngx_str_t *dst,
    yibao_str_t *src);
void ngx_http_yibao_localtime(ngx_msec_t ms, yibao_tm_t *tm);
u_char *ngx_http_yibao_time_text(u_char *buf, uint64_t ms);

char *ngx_http_yibao_store_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_yibao_store_init_process(ngx_cycle_t *cycle);
void ngx_http_yibao_store_exit_process(ngx_cycle_t *cycle);
void ngx_http_yibao_json_alloc_release(void);
ngx_uint_t ngx_http_yibao_conf_param(ngx_str_t *arg, const char *name,
    ngx_str_t *v);
char *ngx_http_yibao_conf_invalid(ngx_conf_t *cf, ngx_str_t *arg);
char *ngx_http_yibao_conf_params(ngx_conf_t *cf,
    ngx_http_yibao_param_t *params, ngx_uint_t first, void *conf,
    ngx_uint_t flags);
ngx_int_t ngx_http_yibao_conf_infno_class(ngx_conf_t *cf, const char *label,
    ngx_str_t *infno, yibao_callers_t **infnos, const yibao_caller_t **class);
ngx_int_t ngx_http_yibao_store_check(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
ngx_int_t ngx_http_yibao_store_watch(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);

/*
 * The door to the stores (ngx_http_yibao_store.c for the nonces, limits,
 * cached answers and sign-in tokens, ngx_http_yibao_store_journal.c for
 * the journal): the parts say what they need, the door decides where it
 * is kept (Redis, yibao_redis; the zone, yibao_zone) and reads either
 * store's answer into one shape.  A call returns NGX_OK: res is filled
 * now and done is not called; NGX_AGAIN: done(data, res) is called
 * once, later, from the event loop (with ctx, the request's pending
 * operation is ctx->op, orphaned if the request goes first, and its
 * wait is counted in ctx->store_time); NGX_ERROR: nothing could be asked
 * (the shared store is down, or no memory).
 */

#define NGX_HTTP_YIBAO_STORE_FOUND    1   /* value, values or n read */
#define NGX_HTTP_YIBAO_STORE_NONE     2   /* nothing kept under the key */
#define NGX_HTTP_YIBAO_STORE_CLAIMED  3   /* claim: the key is this one's */
#define NGX_HTTP_YIBAO_STORE_EXISTS   4   /* claim: value is the record */
#define NGX_HTTP_YIBAO_STORE_UNKNOWN  5   /* claim: not known to a store
                                             that lost its records */
#define NGX_HTTP_YIBAO_STORE_FULL     6   /* the zone has no room */
#define NGX_HTTP_YIBAO_STORE_FAILED   7   /* the store did not answer */
#define NGX_HTTP_YIBAO_STORE_INVALID  8   /* it answered nonsense */

/* journal_get: this node's zone, whatever the store */
#define NGX_HTTP_YIBAO_STORE_HERE     1

typedef struct {
    ngx_uint_t                 status;
    ngx_str_t                  value;      /* copied into the pool given */
    ngx_str_t                 *values;     /* a list, copied */
    ngx_uint_t                 nvalues;
    ngx_int_t                  n;          /* a count */
    uint64_t                   now;        /* cache_get: the store's ms */
    unsigned                   locked:1;   /* cache_get: ours to refresh */
    unsigned                   local:1;    /* kept in this node's zone */
} ngx_http_yibao_store_res_t;

typedef void (*ngx_http_yibao_store_done_pt)(void *data,
    ngx_http_yibao_store_res_t *res);

/* what a journal claim writes */
typedef struct {
    ngx_str_t                 *key;        /* the caller's msgid's */
    ngx_str_t                 *ukey;       /* the upstream msgid's */
    ngx_str_t                 *value;      /* the record, rendered */
    yibao_journal_t           *record;     /* its fields, for the index */
    uint64_t                   expire;     /* ms, in the zone */
    unsigned                   local:1;    /* in this node's zone */
    unsigned                   money:1;    /* a money-moving "sent" */
    unsigned                   peek:1;     /* an unknown msgid is not
                                              claimed while the store
                                              cannot vouch for its
                                              records: UNKNOWN */
} ngx_http_yibao_store_claim_t;

/* NGX_HTTP_YIBAO_STORE_LOCAL (no Redis), _REDIS (up) or _DOWN */
ngx_uint_t ngx_http_yibao_store_state(void);
uint64_t ngx_http_yibao_store_forgotten(uint64_t *at);

ngx_int_t ngx_http_yibao_store_cache_get(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *key,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data);
void ngx_http_yibao_store_cache_put(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *key, u_char *answer, size_t len,
    const yibao_fields_t *fields, ngx_msec_t ttl, ngx_msec_t stale);
ngx_int_t ngx_http_yibao_store_cache_purge(ngx_http_request_t *r,
    ngx_str_t *pattern, ngx_http_yibao_store_res_t *res,
    ngx_http_yibao_store_done_pt done, void *data);

ngx_int_t ngx_http_yibao_store_token_get(ngx_str_t *key, ngx_pool_t *pool,
    ngx_str_t *value);
ngx_int_t ngx_http_yibao_store_token_fetch(ngx_str_t *key, ngx_pool_t *pool,
    ngx_http_yibao_store_done_pt done, void *data);
ngx_int_t ngx_http_yibao_store_token_copy(ngx_str_t *key, ngx_pool_t *pool,
    ngx_str_t *value);
void ngx_http_yibao_store_token_put(ngx_str_t *key, ngx_str_t *value,
    ngx_msec_t ttl, ngx_log_t *log);

ngx_int_t ngx_http_yibao_store_journal_claim(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_http_yibao_store_claim_t *c,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data);
ngx_int_t ngx_http_yibao_store_journal_get(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *key, ngx_uint_t where,
    ngx_http_yibao_store_res_t *res, ngx_http_yibao_store_done_pt done,
    void *data);
void ngx_http_yibao_store_journal_update(yibao_journal_t *j, ngx_str_t *key,
    ngx_str_t *value, ngx_uint_t local, ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_yibao_store_journal_resolve(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *state, ngx_str_t *setl, ngx_str_t *setl_key,
    ngx_http_yibao_store_done_pt done, void *data);
ngx_int_t ngx_http_yibao_store_journal_list(ngx_http_request_t *r,
    ngx_str_t *qkey, ngx_http_yibao_store_done_pt done, void *data);
void ngx_http_yibao_store_journal_open(ngx_http_yibao_shm_cursor_t *cur,
    ngx_str_t *key, size_t max);
ngx_int_t ngx_http_yibao_store_journal_next(ngx_http_yibao_shm_cursor_t *cur,
    ngx_pool_t *pool, ngx_array_t *recs);
ngx_int_t ngx_http_yibao_store_journal_unknown_here(ngx_pool_t *pool,
    ngx_str_t *list);
ngx_int_t ngx_http_yibao_store_journal_unknown(ngx_pool_t *pool,
    ngx_str_t *lock, ngx_msec_t hold, ngx_http_yibao_store_done_pt done,
    void *data);
void *ngx_http_yibao_store_inflight_add(ngx_str_t *key, ngx_str_t *value,
    ngx_uint_t local);
void ngx_http_yibao_store_inflight_remove(void *handle);
ngx_int_t ngx_http_yibao_store_inflight_orphans(ngx_pool_t *pool,
    ngx_array_t *out);

/* the keys' store: activations and operators' choices (store.c) */
void ngx_http_yibao_store_key_use(ngx_str_t *key_id, ngx_pool_t *pool,
    ngx_str_t *label);
ngx_int_t ngx_http_yibao_store_key_choose(ngx_str_t *key_id,
    ngx_str_t *label, ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_yibao_store_key_activated(ngx_str_t *label, time_t now,
    ngx_pool_t *pool, ngx_log_t *log);
time_t ngx_http_yibao_store_key_activated_at(ngx_str_t *label,
    ngx_pool_t *pool);
ngx_int_t ngx_http_yibao_store_keys_init_process(ngx_cycle_t *cycle);

char *ngx_http_yibao_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_cache_purge_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_yibao_cache_lookup(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
ngx_int_t ngx_http_yibao_cache_send(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
void ngx_http_yibao_cache_store(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *answer, size_t len,
    const yibao_fields_t *fields);

char *ngx_http_yibao_journal_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_journal_api_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_yibao_journal_claim(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
ngx_int_t ngx_http_yibao_journal_omsgid(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
void ngx_http_yibao_journal_fill(ngx_http_yibao_ctx_t *ctx,
    yibao_journal_t *j, yibao_journal_state_e state);
void ngx_http_yibao_journal_complete(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, yibao_journal_state_e state,
    const char *reason, u_char *answer, size_t len);

/* a journaled exchange whose worker died (ngx_http_yibao_shm.c) */
typedef struct {
    ngx_pid_t                  pid;
    ngx_uint_t                 local;
    ngx_str_t                  key;
    ngx_str_t                  value;      /* the record as claimed */
} ngx_http_yibao_orphan_t;

ngx_int_t ngx_http_yibao_journal_log_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yibao_journal_init_process(ngx_cycle_t *cycle);

/*
 * Hashes in Redis, for a part that keeps its state there from a timer,
 * never for a request (clinic coverage): HSET of n/2 field-value pairs,
 * and one HSCAN step from cursor.  done gets res: FOUND (for a scan
 * res->value the next cursor, "0" at the end, and res->values the
 * pairs, valid during the call), or another status (an error reply or
 * a timeout).  NGX_DECLINED from the call: Redis is down or not
 * configured, nothing was sent; NGX_OK: done is called later.
 */

ngx_uint_t ngx_http_yibao_store_redis_up(ngx_http_yibao_main_conf_t *gmcf);
uint64_t ngx_http_yibao_store_redis_lost(void);
ngx_int_t ngx_http_yibao_store_hash_set(ngx_str_t *key, ngx_str_t *items,
    ngx_uint_t n, ngx_http_yibao_store_done_pt done, void *data,
    ngx_log_t *log);
ngx_int_t ngx_http_yibao_store_hash_scan(ngx_str_t *key, ngx_str_t *cursor,
    ngx_uint_t count, ngx_http_yibao_store_done_pt done, void *data,
    ngx_log_t *log);
ngx_uint_t ngx_http_yibao_store_outage(ngx_http_yibao_main_conf_t *gmcf,
    ngx_uint_t ev, yibao_outage_t *out, ngx_uint_t *changed);
ngx_int_t ngx_http_yibao_store_msgid_next(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *entity, time_t now, uint64_t *sec, unsigned *seq);

char *ngx_http_yibao_outage_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_outage_api_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_yibao_outage_refuse(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
ngx_int_t ngx_http_yibao_outage_check(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
void ngx_http_yibao_outage_seen(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
void ngx_http_yibao_outage_observe(ngx_uint_t ok, const char *what,
    ngx_log_t *log);
ngx_int_t ngx_http_yibao_outage_init_process(ngx_cycle_t *cycle);
/* a 记账 record added to the zone (ngx_http_yibao_shm_offline_add) */

typedef struct ngx_http_yibao_offline_add_s  ngx_http_yibao_offline_add_t;

struct ngx_http_yibao_offline_add_s {
    ngx_str_t                  head_key;   /* "jzh:<clinic>" */
    ngx_str_t                  day_key;    /* "jzd:<clinic>:<day>" */
    ngx_str_t                  msgid_key;  /* "jzm:<caller>:<msgid>" */
    ngx_str_t                  existing;   /* a repeat: its record's key */
    ngx_pool_t                *pool;       /* for existing */
    int64_t                    amount;     /* cents */
    uint64_t                   max_count;  /* 0: no limit */
    int64_t                    max_amount;
    uint64_t                   seq;        /* the record's, in the chain */
    uint64_t                   day_count;  /* after (before: refused) */
    int64_t                    day_amount;
    char                       hash[YIBAO_OFFLINE_HASH_LEN + 1];
    ngx_int_t                (*seal)(ngx_http_yibao_offline_add_t *add,
                                     const char *prev, ngx_str_t *key,
                                     ngx_str_t *value);
};

ngx_int_t ngx_http_yibao_store_offline_add(ngx_http_yibao_main_conf_t *gmcf,
    ngx_http_yibao_offline_add_t *add);
ngx_int_t ngx_http_yibao_store_offline_load(ngx_http_yibao_main_conf_t *gmcf,
    ngx_http_yibao_offline_add_t *add, ngx_str_t *key, ngx_str_t *value);
ngx_int_t ngx_http_yibao_store_offline_get(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *value);
ngx_int_t ngx_http_yibao_store_offline_put(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *key, ngx_str_t *value);
ngx_int_t ngx_http_yibao_store_offline_swap(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *key, ngx_str_t *old, ngx_str_t *value);
ngx_int_t ngx_http_yibao_store_offline_list(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *prefix, ngx_pool_t *pool, ngx_array_t *out, uint64_t *gen);

char *ngx_http_yibao_offline_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_offline_api_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_yibao_offline_take(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
char *ngx_http_yibao_replay_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_replay_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf);
ngx_int_t ngx_http_yibao_replay_init_process(ngx_cycle_t *cycle);
void ngx_http_yibao_replay_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yibao_replay_command(ngx_http_request_t *r,
    ngx_str_t *id);
ngx_int_t ngx_http_yibao_offline_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yibao_offline_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yibao_offline_status(ngx_http_request_t *r,
    yibao_status_offline_t *t);
void ngx_http_yibao_offline_exit_process(ngx_cycle_t *cycle);

char *ngx_http_yibao_api_directive(ngx_conf_t *cf,
    ngx_http_yibao_loc_conf_t *glcf, ngx_http_handler_pt handler);
ngx_int_t ngx_http_yibao_api_start(ngx_http_request_t *r);
ngx_int_t ngx_http_yibao_endpoint_start(ngx_http_request_t *r,
    ngx_uint_t methods);

ngx_int_t ngx_http_yibao_forget_check(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);

ngx_int_t ngx_http_yibao_journal_key(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *caller, const char *kind, ngx_str_t *msgid);

ngx_int_t ngx_http_yibao_route_path(ngx_http_yibao_loc_conf_t *glcf,
    ngx_str_t *infno, ngx_pool_t *pool, ngx_str_t *uri);
ngx_int_t ngx_http_yibao_msgid_issue(ngx_http_yibao_main_conf_t *gmcf,
    const yibao_clinic_t *clinic, ngx_pool_t *pool, ngx_str_t *msgid);
ngx_int_t ngx_http_yibao_sign_body(yibao_sign_conf_t *sign,
    const yibao_clinic_t *clinic, ngx_str_t *infno, yibao_str_t *body,
    ngx_pool_t *pool, ngx_log_t *log, yibao_sign_out_t *out,
    const yibao_key_t **used);
void ngx_http_yibao_key_activated(const yibao_key_t *key, ngx_pool_t *pool,
    ngx_log_t *log);

char *ngx_http_yibao_resolve_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_resolve_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf);
ngx_int_t ngx_http_yibao_resolve_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yibao_resolve_caller_answer(yibao_journal_t *j,
    ngx_str_t *body, ngx_pool_t *pool);

char *ngx_http_yibao_signin_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yibao_signin_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf);
ngx_int_t ngx_http_yibao_signin_fill(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
void ngx_http_yibao_signin_learn(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char *answer, size_t len);

ngx_int_t ngx_http_yibao_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t secret, ngx_pool_t *pool, ngx_str_t *out);

char *ngx_http_yibao_audit_rules_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_yibao_audit_lists_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_yibao_audit_platform_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_yibao_audit_init_conf(ngx_conf_t *cf,
    ngx_http_yibao_main_conf_t *gmcf);
ngx_int_t ngx_http_yibao_audit_request(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx);
ngx_int_t ngx_http_yibao_audit_answer(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, void *doc, u_char **p, size_t *n);
ngx_int_t ngx_http_yibao_audit_error(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, u_char **p, size_t *n);
ngx_int_t ngx_http_yibao_store_audit_get(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_str_t *keys, ngx_uint_t n,
    ngx_str_t *values);
void ngx_http_yibao_store_audit_put(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value);

ngx_int_t ngx_http_yibao_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg);
ngx_int_t ngx_http_yibao_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);
char *ngx_http_yibao_keys_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
const yibao_key_t *ngx_http_yibao_key_signer(const yibao_key_t *newest,
    time_t now, ngx_pool_t *pool, ngx_str_t *use);
yibao_key_state_e ngx_http_yibao_key_state(const yibao_key_t *k, time_t now,
    ngx_pool_t *pool, time_t *act);

extern ngx_str_t  ngx_http_yibao_star;
extern ngx_str_t  ngx_http_yibao_cache_names[];


#endif /* _NGX_HTTP_YIBAO_COMMON_H_INCLUDED_ */
