/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stdio.h>

#include "yibao_types.h"


void *
yibao_alloc(yibao_alloc_t *a, size_t size)
{
    return a->alloc(a->ctx, size);
}


void
yibao_err_set(yibao_err_t *err, int gwerr, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL) {
        return;
    }

    err->gwerr = gwerr;

    va_start(args, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, args);
    va_end(args);
}


void
yibao_err_line(yibao_err_t *err, size_t line, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL) {
        return;
    }

    err->gwerr = 0;             /* YIBAO_GWERR_NONE: not a request's */
    err->line = line;

    va_start(args, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, args);
    va_end(args);
}
