/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"


/*
 * The helpers every part of the glue uses: the request's context and its
 * rejection, the allocator and the clock handed to the pure code, the
 * ids and personal data kept for the log, JSON answers of the operators'
 * endpoints, and the reading of directive parameters.  Nothing here
 * knows a feature.
 */


static void *ngx_http_yibao_pool_alloc(void *ctx, size_t size);
static ngx_http_yibao_param_t *ngx_http_yibao_param_find(
    ngx_http_yibao_param_t *params, ngx_str_t *arg, ngx_str_t *value);
static ngx_int_t ngx_http_yibao_param_read(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);
static void ngx_http_yibao_param_store(ngx_http_yibao_param_t *p,
    void *conf, uint64_t n);
static char *ngx_http_yibao_param_needs(ngx_conf_t *cf,
    ngx_http_yibao_param_t *params, ngx_uint_t seen);
static char *ngx_http_yibao_param_invalid(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_uint_t flags);
static ngx_int_t ngx_http_yibao_keep_personal(ngx_http_request_t *r,
    yibao_str_t *dst, yibao_str_t *src);


static void *
ngx_http_yibao_pool_alloc(void *ctx, size_t size)
{
    return ngx_palloc((ngx_pool_t *) ctx, size);
}


void
ngx_http_yibao_alloc_init(yibao_alloc_t *a, ngx_pool_t *pool)
{
    a->alloc = ngx_http_yibao_pool_alloc;
    a->ctx = pool;
}


void
ngx_http_yibao_localtime(ngx_msec_t ms, yibao_tm_t *tm)
{
    ngx_tm_t  t;

    ngx_localtime((time_t) (ms / 1000), &t);

    tm->year = t.ngx_tm_year;
    tm->mon = t.ngx_tm_mon;
    tm->mday = t.ngx_tm_mday;
    tm->hour = t.ngx_tm_hour;
    tm->min = t.ngx_tm_min;
    tm->sec = t.ngx_tm_sec;
    tm->msec = (int) (ms % 1000);
}


/* "YYYY-MM-DD HH:MM:SS", local time, of ms since the epoch (for logs) */

u_char *
ngx_http_yibao_time_text(u_char *buf, uint64_t ms)
{
    yibao_tm_t  tm;

    ngx_http_yibao_localtime((ngx_msec_t) ms, &tm);

    return ngx_sprintf(buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.year,
                       tm.mon, tm.mday, tm.hour, tm.min, tm.sec);
}


/*
 * Whether a directive's argument is the parameter name, given with its
 * '=' ("ttl="): then *v is what follows the '='.
 */

ngx_uint_t
ngx_http_yibao_conf_param(ngx_str_t *arg, const char *name, ngx_str_t *v)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len < len || ngx_strncmp(arg->data, name, len) != 0) {
        return 0;
    }

    v->data = arg->data + len;
    v->len = arg->len - len;

    return 1;
}


/* The message of a directive's parameter that is not understood. */

char *
ngx_http_yibao_conf_invalid(ngx_conf_t *cf, ngx_str_t *arg)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       arg);

    return NGX_CONF_ERROR;
}


/*
 * Reads the directive's arguments from the first-th on as key=value
 * parameters of the table params into conf (the structure the rows'
 * offsets are in).  A parameter given twice keeps its last value.
 * NGX_CONF_OK; NGX_CONF_ERROR, logged with the file and line
 * ("invalid parameter \"ttl=0\""; the name only with
 * NGX_HTTP_YIBAO_PARAM_HIDE); or, when a required parameter is missing,
 * the directive's message: "needs infno= and ttl=".
 */

char *
ngx_http_yibao_conf_params(ngx_conf_t *cf, ngx_http_yibao_param_t *params,
    ngx_uint_t first, void *conf, ngx_uint_t flags)
{
    ngx_int_t                rc;
    ngx_str_t               *args, value;
    ngx_uint_t               i, seen;
    ngx_http_yibao_param_t  *p;

    args = cf->args->elts;
    seen = 0;

    for (i = first; i < cf->args->nelts; i++) {

        p = ngx_http_yibao_param_find(params, &args[i], &value);
        if (p == NULL) {
            return ngx_http_yibao_param_invalid(cf, &args[i], flags);
        }

        rc = ngx_http_yibao_param_read(cf, p, &value, conf);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_yibao_param_invalid(cf, &args[i], flags);
        }

        seen |= (ngx_uint_t) 1 << (p - params);
    }

    return ngx_http_yibao_param_needs(cf, params, seen);
}


/* The row of "name=value", *value set to what follows the '='. */

static ngx_http_yibao_param_t *
ngx_http_yibao_param_find(ngx_http_yibao_param_t *params, ngx_str_t *arg,
    ngx_str_t *value)
{
    u_char                  *eq;
    ngx_http_yibao_param_t  *p;

    eq = ngx_strlchr(arg->data, arg->data + arg->len, '=');
    if (eq == NULL) {
        return NULL;
    }

    for (p = params; p->name.len; p++) {
        if (p->name.len == (size_t) (eq - arg->data)
            && ngx_strncmp(p->name.data, arg->data, p->name.len) == 0)
        {
            value->data = eq + 1;
            value->len = arg->data + arg->len - value->data;
            return p;
        }
    }

    return NULL;
}


/* NGX_OK, NGX_DECLINED: invalid, or NGX_ERROR: logged by set() */

static ngx_int_t
ngx_http_yibao_param_read(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_int_t         n;
    ngx_conf_enum_t  *e;

    if (value->len == 0 && !(p->flags & NGX_HTTP_YIBAO_PARAM_EMPTY)) {
        return NGX_DECLINED;
    }

    switch (p->kind) {

    case NGX_HTTP_YIBAO_PARAM_STR:
        ngx_memcpy((u_char *) conf + p->offset, value, sizeof(ngx_str_t));
        return NGX_OK;

    case NGX_HTTP_YIBAO_PARAM_SET:
        return p->set(cf, p, value, conf);

    case NGX_HTTP_YIBAO_PARAM_MSEC:
        n = ngx_parse_time(value, 0);
        break;

    case NGX_HTTP_YIBAO_PARAM_SIZE:
        n = ngx_parse_size(value);
        break;

    case NGX_HTTP_YIBAO_PARAM_NUM:
        n = ngx_atoi(value->data, value->len);
        break;

    case NGX_HTTP_YIBAO_PARAM_FLAG:
        if (value->len == 2 && ngx_strncmp(value->data, "on", 2) == 0) {
            n = 1;

        } else if (value->len == 3
                   && ngx_strncmp(value->data, "off", 3) == 0)
        {
            n = 0;

        } else {
            return NGX_DECLINED;
        }

        break;

    default: /* NGX_HTTP_YIBAO_PARAM_ENUM */
        for (e = p->values; e->name.len; e++) {
            if (e->name.len == value->len
                && ngx_strncmp(e->name.data, value->data, value->len) == 0)
            {
                break;
            }
        }

        if (e->name.len == 0) {
            return NGX_DECLINED;
        }

        n = e->value;
        break;
    }

    if (n == NGX_ERROR || n < p->min || (p->max && n > p->max)) {
        return NGX_DECLINED;
    }

    ngx_http_yibao_param_store(p, conf, (uint64_t) n);

    return NGX_OK;
}


/* A number into its field, whatever the field's width. */

static void
ngx_http_yibao_param_store(ngx_http_yibao_param_t *p, void *conf,
    uint64_t n)
{
    u_char    *field;
    uint8_t    n8;
    uint16_t   n16;
    uint32_t   n32;

    field = (u_char *) conf + p->offset;

    switch (p->size) {

    case 1:
        n8 = (uint8_t) n;
        ngx_memcpy(field, &n8, 1);
        break;

    case 2:
        n16 = (uint16_t) n;
        ngx_memcpy(field, &n16, 2);
        break;

    case 4:
        n32 = (uint32_t) n;
        ngx_memcpy(field, &n32, 4);
        break;

    default:
        ngx_memcpy(field, &n, 8);
    }
}


/* NGX_CONF_OK, or "needs a=, b= and c=" naming every required one */

static char *
ngx_http_yibao_param_needs(ngx_conf_t *cf, ngx_http_yibao_param_t *params,
    ngx_uint_t seen)
{
    u_char                  *msg, *last;
    size_t                   len;
    ngx_uint_t               n, k, missing;
    ngx_http_yibao_param_t  *p;

    len = sizeof("needs ");
    n = 0;
    missing = 0;

    for (p = params; p->name.len; p++) {
        if (p->flags & NGX_HTTP_YIBAO_PARAM_REQUIRED) {
            len += p->name.len + sizeof("=, and ");
            n++;

            if (!(seen & ((ngx_uint_t) 1 << (p - params)))) {
                missing = 1;
            }
        }
    }

    if (!missing) {
        return NGX_CONF_OK;
    }

    msg = ngx_pnalloc(cf->pool, len);
    if (msg == NULL) {
        return NGX_CONF_ERROR;
    }

    last = ngx_cpymem(msg, "needs ", sizeof("needs ") - 1);
    k = 0;

    for (p = params; p->name.len; p++) {
        if (!(p->flags & NGX_HTTP_YIBAO_PARAM_REQUIRED)) {
            continue;
        }

        if (k) {
            last = (k == n - 1) ? ngx_cpymem(last, " and ", 5)
                                : ngx_cpymem(last, ", ", 2);
        }

        last = ngx_sprintf(last, "%V=", &p->name);
        k++;
    }

    *last = '\0';

    return (char *) msg;
}


/* "invalid parameter", with the argument or only its name */

static char *
ngx_http_yibao_param_invalid(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_uint_t flags)
{
    u_char     *eq;
    ngx_str_t   name;

    if (!(flags & NGX_HTTP_YIBAO_PARAM_HIDE)) {
        return ngx_http_yibao_conf_invalid(cf, arg);
    }

    /* the name only: the value may be a password */

    name = *arg;
    eq = ngx_strlchr(arg->data, arg->data + arg->len, '=');

    if (eq) {
        name.len = eq - arg->data;
    }

    return ngx_http_yibao_conf_invalid(cf, &name);
}


/*
 * A directive's class of transactions (infno=1101,2201-2208), in the
 * callers file's syntax and read by its parser, as the infnos column
 * of a caller named label allowed everywhere: *infnos, and *class, the
 * caller to ask yibao_caller_allowed() with.
 */

ngx_int_t
ngx_http_yibao_conf_infno_class(ngx_conf_t *cf, const char *label,
    ngx_str_t *infno, yibao_callers_t **infnos, const yibao_caller_t **class)
{
    size_t         len;
    ngx_str_t      v;
    yibao_err_t    err;
    yibao_alloc_t  a;

    len = ngx_strlen(label);

    v.len = len + sizeof("\t0123456789abcdef\t*\t\n") - 1 + infno->len;
    v.data = ngx_pnalloc(cf->temp_pool, v.len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(v.data, "%s\t0123456789abcdef\t*\t%V\n", label, infno);

    ngx_http_yibao_alloc_init(&a, cf->pool);
    ngx_memzero(&err, sizeof(yibao_err_t));

    *infnos = yibao_callers_parse(v.data, v.len, &a, &err);
    if (*infnos == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid infno class \"%V\": %s", infno,
                           err.msg);
        return NGX_ERROR;
    }

    *class = yibao_callers_find(*infnos, (u_char *) label, len);

    return NGX_OK;
}


ngx_http_yibao_ctx_t *
ngx_http_yibao_get_ctx(ngx_http_request_t *r)
{
    ngx_http_yibao_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_yibao_module);

    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_yibao_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->gwerr = 0;
     *     ctx->detail = NULL;
     *     ctx->caller = { 0, NULL };
     *     ...
     *     ctx->resp = NULL;
     *     ctx->started = 0;
     */

    ngx_http_set_ctx(r, ctx, ngx_http_yibao_module);

    return ctx;
}


/*
 * Records why the request is refused; the header filter renders it in
 * the national envelope.  The text names what is wrong and where and
 * never carries a secret or personal data.
 */

void
ngx_http_yibao_reject(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    ngx_uint_t gwerr, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    ctx->gwerr = gwerr;

    p = ngx_pnalloc(r->pool, YIBAO_ERR_MSG_LEN);
    if (p == NULL) {
        ctx->detail = NULL;
        return;
    }

    va_start(args, fmt);
    *ngx_vslprintf(p, p + YIBAO_ERR_MSG_LEN - 1, fmt, args) = '\0';
    va_end(args);

    ctx->detail = (char *) p;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yibao: rejected YB%04ui: %s", gwerr, p);
}


ngx_int_t
ngx_http_yibao_copy_str(ngx_pool_t *pool, ngx_str_t *dst, yibao_str_t *src)
{
    dst->data = ngx_pnalloc(pool, src->len ? src->len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src->data, src->len);
    dst->len = src->len;

    return NGX_OK;
}


/*
 * Copies the ids found into the request's pool (the document they point
 * into is released before the request ends); psn_no masked.  The raw
 * psn_no and psn_name are kept apart, only to mask them where a message
 * quotes them (ngx_http_yibao_mask_personal()).
 */

ngx_int_t
ngx_http_yibao_keep_fields(ngx_http_request_t *r, ngx_http_yibao_ctx_t *ctx,
    yibao_fields_t *f)
{
    if (ctx->mdtrt_id.len == 0 && f->mdtrt_id.len
        && ngx_http_yibao_copy_str(r->pool, &ctx->mdtrt_id, &f->mdtrt_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->setl_id.len == 0 && f->setl_id.len
        && ngx_http_yibao_copy_str(r->pool, &ctx->setl_id, &f->setl_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->psn_no.len == 0 && f->psn_no.len) {
        ctx->psn_no.data = ngx_pnalloc(r->pool, f->psn_no.len);
        if (ctx->psn_no.data == NULL) {
            return NGX_ERROR;
        }

        yibao_mask_psn_no(f->psn_no.data, f->psn_no.len, ctx->psn_no.data);
        ctx->psn_no.len = f->psn_no.len;
    }

    if (ngx_http_yibao_keep_personal(r, &ctx->personal[0], &f->psn_no)
           != NGX_OK
        || ngx_http_yibao_keep_personal(r, &ctx->personal[1], &f->psn_name)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_keep_personal(ngx_http_request_t *r, yibao_str_t *dst,
    yibao_str_t *src)
{
    ngx_str_t  copy;

    if (dst->len || src->len == 0) {
        return NGX_OK;
    }

    if (ngx_http_yibao_copy_str(r->pool, &copy, src) != NGX_OK) {
        return NGX_ERROR;
    }

    dst->data = copy.data;
    dst->len = copy.len;

    return NGX_OK;
}


/*
 * A text that may quote the platform or the request (a platform's
 * message): ID numbers, and the transaction's psn_no and name, masked in
 * place.
 */

void
ngx_http_yibao_mask_personal(ngx_http_yibao_ctx_t *ctx, u_char *text,
    size_t len)
{
    yibao_mask_digits(text, len, text);
    yibao_mask_values(text, len, ctx->personal, 2);
}


void
ngx_http_yibao_map_scope(const yibao_clinic_t *clinic,
    yibao_map_scope_t *scope)
{
    scope->org_code = clinic->org_code;
    scope->entity_code = clinic->entity_code;
    scope->admdvs = clinic->admdvs;
}


/*
 * The refusal of an operators' API: {"error":"msg"} (msg escaped for
 * JSON), with the one newline every JSON answer ends with.
 */

ngx_int_t
ngx_http_yibao_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    u_char  *p, *last;
    size_t   len;

    len = ngx_strlen(msg);

    p = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}") + len * 6);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(p, "{\"error\":\"", 10);
    last = (u_char *) ngx_escape_json(last, (u_char *) msg, len);
    last = ngx_cpymem(last, "\"}", 2);

    return ngx_http_yibao_send_json(r, status, p, last - p);
}


/* A small JSON answer of the gateway's own endpoints: a newline added. */

ngx_int_t
ngx_http_yibao_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, data, len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * An operators' API (yibao_outage_api, yibao_offline_api, yibao_keys_api
 * ADDRESS|CIDR ...): the location's handler, and the directive's
 * arguments into glcf->api_allow.
 */

char *
ngx_http_yibao_api_directive(ngx_conf_t *cf, ngx_http_yibao_loc_conf_t *glcf,
    ngx_http_handler_pt handler)
{
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_cidr_t                *cidr;
    ngx_http_core_loc_conf_t  *clcf;

    if (glcf->api_allow != NULL) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = handler;

    glcf->api_allow = ngx_array_create(cf->pool, 2, sizeof(ngx_cidr_t));
    if (glcf->api_allow == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(glcf->api_allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_ptocidr(&value[i], cidr) == NGX_ERROR) {
            return ngx_http_yibao_conf_invalid(cf, &value[i]);
        }
    }

    return NGX_CONF_OK;
}


/*
 * The start of an operators' API's request: NGX_OK, or 403 to a client
 * address the API does not list, 405 to a method other than GET, HEAD
 * and POST, or what discarding the body returned.
 */

ngx_int_t
ngx_http_yibao_api_start(ngx_http_request_t *r)
{
    ngx_http_yibao_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_yibao_module);

    if (glcf->api_allow == NULL
        || ngx_cidr_match(r->connection->sockaddr, glcf->api_allow)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yibao: %V refused: the client's address is not "
                      "among the API's", &r->uri);
        return NGX_HTTP_FORBIDDEN;
    }

    return ngx_http_yibao_endpoint_start(r, NGX_HTTP_GET|NGX_HTTP_HEAD
                                            |NGX_HTTP_POST);
}


/*
 * The start of a request to one of the gateway's own endpoints: NGX_OK,
 * or 405 to a method not among methods, or what discarding the body
 * returned.
 */

ngx_int_t
ngx_http_yibao_endpoint_start(ngx_http_request_t *r, ngx_uint_t methods)
{
    if (!(r->method & methods)) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}
