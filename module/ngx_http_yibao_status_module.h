/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_STATUS_MODULE_H_INCLUDED_
#define _NGX_HTTP_YIBAO_STATUS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "yibao_status.h"


extern ngx_module_t  ngx_http_yibao_status_module;

/* module/status_page.html, see ngx_http_yibao_status_page.c */
extern const u_char  ngx_http_yibao_status_page[];
extern const size_t  ngx_http_yibao_status_page_len;


#endif /* _NGX_HTTP_YIBAO_STATUS_MODULE_H_INCLUDED_ */
