/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_CODES_H_INCLUDED_
#define _YIBAO_CODES_H_INCLUDED_


#include "yibao_types.h"


/*
 * Shape checks of national codes and envelope values
 * (research/insurance-interface.md sections 1.1 and 5.1).  Each returns
 * 1 when p[0..len) has the shape, 0 otherwise; none reads past len.
 */

/* 6 digits (GB/T 2260 region) */
int yibao_code_is_admdvs(const unsigned char *p, size_t len);

/* national institution code: 'H' or 'P' + 11 digits = 12 chars */
int yibao_code_is_fixmedins(const unsigned char *p, size_t len);

/* 22-char health-organisation code (weisheng jigou daima): [0-9A-Z] */
int yibao_code_is_org(const unsigned char *p, size_t len);

/* infno: 4 digits, optionally followed by one upper-case letter */
int yibao_code_is_infno(const unsigned char *p, size_t len);

/* "yyyy-MM-dd HH:mm:ss" naming a real calendar date and time */
int yibao_code_is_datetime(const unsigned char *p, size_t len);

/* "yyyyMMddHHmmss" naming a real calendar date and time */
int yibao_code_is_compact_time(const unsigned char *p, size_t len);

/*
 * msgid as the platform requires it: fixmedins code (12) +
 * yyyyMMddHHmmss (14, a real time) + 4 digits = 30 chars.
 */
int yibao_code_is_msgid(const unsigned char *p, size_t len);

/* 1..max chars of [A-Za-z0-9] */
int yibao_code_is_alnum(const unsigned char *p, size_t len, size_t max);

/* well-formed UTF-8 without NUL */
int yibao_code_is_utf8(const unsigned char *p, size_t len);


#endif /* _YIBAO_CODES_H_INCLUDED_ */
