/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_DECIMAL_H_INCLUDED_
#define _YIBAO_DECIMAL_H_INCLUDED_


#include "yibao_types.h"


/*
 * Exact decimal arithmetic for amounts.  jansson holds a number with a
 * fraction as a double, in which 12.60 is not 12.60: a value is taken
 * back to the decimal its sender wrote (m / 10^scale, in an int64_t)
 * and compared in integers.  When that is impossible (more than 18
 * significant digits, an exponent out of range) the value is inexact
 * and only its long double d is known.  Also the one place that writes
 * a double as the shortest text that reads back to it.
 */

#define YIBAO_DECIMAL_DIGITS  18        /* digits an int64_t always holds */


typedef struct {
    int64_t               m;
    int                   scale;
    unsigned              exact:1;      /* m / 10^scale is the value */
    long double           d;            /* the value, also when inexact */
} yibao_decimal_t;


/*
 * 1 if p[0..len) is a decimal number: an optional '-', digits, an
 * optional fraction and exponent (no '+', no leading or trailing '.');
 * *real says whether it has a fraction or an exponent.
 */
int yibao_decimal_is_number(const unsigned char *p, size_t len, int *real);

/* The decimal of an integer: n / 10^0, exact. */
void yibao_decimal_int(yibao_decimal_t *dec, int64_t n);

/*
 * The decimal of a double in the shortest form that reads back to the
 * same double, i.e. as the caller wrote it (12.60 is 1260 / 10^2): the
 * first m / 10^s (s = 0..9) that, correctly rounded, gives d back.
 * Inexact when there is none (or d is not finite).
 */
void yibao_decimal_double(yibao_decimal_t *dec, double d);

/*
 * The decimal of the text p, which is NUL-terminated at p[len] (as a
 * JSON string is).  YIBAO_ERR_INVALID when it is not a decimal number
 * (yibao_decimal_is_number), YIBAO_OK otherwise (exact or not).
 */
int yibao_decimal_text(yibao_decimal_t *dec, const char *p, size_t len);

/*
 * 1 if sum differs from a x b by less than 0.01: exactly when the three
 * are exact and the computation fits an int64_t (25.21 against 2 x 12.60
 * fails), in long double otherwise.
 */
int yibao_decimal_within_cent(const yibao_decimal_t *sum,
    const yibao_decimal_t *a, const yibao_decimal_t *b);

/*
 * Writes d to buf as the shortest of %.15g, %.16g and %.17g that reads
 * back to the same double: any decimal of up to 15 significant digits
 * comes out as written, less trailing zeros, in one try (-0 is "-0").
 * Returns the length written (snprintf's).  The usual amount (up to 15
 * digits, at most 9 places, from 0.0001 to below 10^15) is written
 * without printf, to the same bytes (test_yibao_decimal.c compares).
 */
size_t yibao_decimal_shortest(double d, char *buf, size_t size);

/*
 * Writes what "%.17g" writes for d (jansson's form of a real, before its
 * own touches) to buf and returns its length, or -1 when size is too
 * small; a d from 0.0001 to below 10^17 without printf, to the same
 * bytes (correctly rounded, ties to even, as glibc; test_yibao_decimal.c
 * compares), anything else with snprintf().
 */
int yibao_decimal_g17(double d, char *buf, size_t size);

/*
 * Writes n in decimal to buf (room for 21 bytes; no NUL) and returns the
 * length: what "%" PRId64 writes.
 */
size_t yibao_decimal_int_text(int64_t n, char *buf);


#endif /* _YIBAO_DECIMAL_H_INCLUDED_ */
