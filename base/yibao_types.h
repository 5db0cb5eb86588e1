/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_TYPES_H_INCLUDED_
#define _YIBAO_TYPES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * Types shared by the pure libraries in adapters/ and mappings/.
 * Nothing here knows about nginx: the glue in module/ converts
 * ngx_str_t to yibao_str_t and backs yibao_alloc_t with a pool.
 */


typedef struct {
    size_t                len;
    const unsigned char  *data;
} yibao_str_t;


#define yibao_string(s)   { sizeof(s) - 1, (const unsigned char *) s }
#define yibao_null_string { 0, NULL }


/*
 * A pool-style allocator: memory is released all at once by its owner
 * (an nginx pool, a test arena), never block by block.  alloc() returns
 * NULL on exhaustion; every caller checks it.
 */

typedef struct {
    void   *(*alloc)(void *ctx, size_t size);
    void    *ctx;
} yibao_alloc_t;


typedef enum {
    YIBAO_OK = 0,
    YIBAO_ERR_NOMEM = -1,
    YIBAO_ERR_SYNTAX = -2,
    YIBAO_ERR_INVALID = -3,
    YIBAO_ERR_TOO_LARGE = -4,
    YIBAO_ERR_NOT_FOUND = -5,
    YIBAO_ERR_DENIED = -6,
    YIBAO_ERR_CRYPTO = -7,
    YIBAO_ERR_EXHAUSTED = -8
} yibao_rc_e;


/* Broken-down local time, passed in by the caller (pure code has no
 * clock): year 4 digits, mon 1..12, mday 1..31, msec 0..999. */

typedef struct {
    int                   year;
    int                   mon;
    int                   mday;
    int                   hour;
    int                   min;
    int                   sec;
    int                   msec;
} yibao_tm_t;


#define YIBAO_ERR_MSG_LEN  512


/*
 * Details of a failure.  gwerr is a gateway error code from
 * mappings/yibao_gwerr.h (0 when the failure is not a request error,
 * e.g. a config file parser), line is the 1-based line of a file
 * parser's failure (0 otherwise), msg a NUL-terminated English text
 * that names what is wrong and where, never a secret.
 */

typedef struct {
    int                   gwerr;
    size_t                line;
    char                  msg[YIBAO_ERR_MSG_LEN];
} yibao_err_t;


void *yibao_alloc(yibao_alloc_t *a, size_t size);
void yibao_err_set(yibao_err_t *err, int gwerr, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 3, 4)))
#endif
    ;

/* A mistake at a line of a configuration file (no gateway error code). */
void yibao_err_line(yibao_err_t *err, size_t line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 3, 4)))
#endif
    ;


#endif /* _YIBAO_TYPES_H_INCLUDED_ */
