/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yibao_decimal.h"


static void yibao_decimal_digits(yibao_decimal_t *dec, const char *text);
static int yibao_decimal_scale(int64_t *m, int from, int to);
static int yibao_decimal_fixed(double d, char *buf, size_t size);
static int yibao_decimal_g17_fixed(double d, char *buf, size_t size);
static uint64_t yibao_decimal_g17_digits(uint64_t m, int e, int k);


static const int64_t  yibao_decimal_pow10[] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
    100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
    1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL
};


int
yibao_decimal_is_number(const unsigned char *p, size_t len, int *real)
{
    size_t  i, start;

    i = 0;
    *real = 0;

    if (i < len && p[i] == '-') {
        i++;
    }

    start = i;

    while (i < len && p[i] >= '0' && p[i] <= '9') {
        i++;
    }

    if (i == start) {
        return 0;
    }

    if (i < len && p[i] == '.') {
        start = ++i;
        *real = 1;

        while (i < len && p[i] >= '0' && p[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        *real = 1;

        if (i < len && (p[i] == '+' || p[i] == '-')) {
            i++;
        }

        start = i;

        while (i < len && p[i] >= '0' && p[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    return i == len;
}


void
yibao_decimal_int(yibao_decimal_t *dec, int64_t n)
{
    dec->m = n;
    dec->scale = 0;
    dec->exact = 1;
    dec->d = (long double) n;
}


void
yibao_decimal_double(yibao_decimal_t *dec, double d)
{
    int      s;
    double   x;
    int64_t  m;

    dec->m = 0;
    dec->scale = 0;
    dec->exact = 1;
    dec->d = d;

    for (s = 0; s <= 9; s++) {
        x = d * (double) yibao_decimal_pow10[s];

        /* |x| < 2^53: m is exact in a double; NaN fails too */

        if (!(x > -9007199254740992.0 && x < 9007199254740992.0)) {
            break;
        }

        m = (int64_t) (x < 0 ? x - 0.5 : x + 0.5);

        if ((double) m / (double) yibao_decimal_pow10[s] == d) {
            dec->m = m;
            dec->scale = s;
            return;
        }
    }

    dec->exact = 0;
}


int
yibao_decimal_text(yibao_decimal_t *dec, const char *p, size_t len)
{
    int  real;

    if (!yibao_decimal_is_number((const unsigned char *) p, len, &real)) {
        return YIBAO_ERR_INVALID;
    }

    dec->m = 0;
    dec->scale = 0;
    dec->exact = 1;

    yibao_decimal_digits(dec, p);

    return YIBAO_OK;
}


/* the decimal of a text checked by yibao_decimal_is_number() */

static void
yibao_decimal_digits(yibao_decimal_t *dec, const char *text)
{
    int          frac, exp, eneg, digits;
    const char  *p;

    dec->d = strtold(text, NULL);

    p = text;
    digits = 0;
    frac = 0;

    if (*p == '-') {
        p++;
    }

    for ( /* void */ ; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            frac = 1;
            continue;
        }

        if ((dec->m != 0 || *p != '0')
            && ++digits > YIBAO_DECIMAL_DIGITS)
        {
            dec->exact = 0;
            return;
        }

        dec->m = dec->m * 10 + (*p - '0');
        dec->scale += frac;
    }

    if (*p == 'e' || *p == 'E') {
        p++;
        eneg = (*p == '-');

        if (*p == '-' || *p == '+') {
            p++;
        }

        for (exp = 0; *p >= '0' && *p <= '9' && exp < 1000; p++) {
            exp = exp * 10 + (*p - '0');
        }

        dec->scale += eneg ? exp : -exp;
    }

    if (dec->scale < 0) {
        if (yibao_decimal_scale(&dec->m, 0, -dec->scale) != YIBAO_OK) {
            dec->exact = 0;
            return;
        }

        dec->scale = 0;
    }

    if (dec->scale > YIBAO_DECIMAL_DIGITS) {
        dec->exact = 0;
        return;
    }

    if (text[0] == '-') {
        dec->m = -dec->m;
    }
}


int
yibao_decimal_within_cent(const yibao_decimal_t *sum,
    const yibao_decimal_t *a, const yibao_decimal_t *b)
{
    int          e, pscale;
    int64_t      s, prod, diff;
    long double  ld;

    if (!sum->exact || !a->exact || !b->exact) {
        goto inexact;
    }

    if (__builtin_mul_overflow(a->m, b->m, &prod)) {
        goto inexact;
    }

    pscale = a->scale + b->scale;
    e = pscale > sum->scale ? pscale : sum->scale;
    s = sum->m;

    if (e > YIBAO_DECIMAL_DIGITS
        || yibao_decimal_scale(&s, sum->scale, e) != YIBAO_OK
        || yibao_decimal_scale(&prod, pscale, e) != YIBAO_OK
        || __builtin_sub_overflow(s, prod, &diff)
        || diff == INT64_MIN)
    {
        goto inexact;
    }

    if (diff < 0) {
        diff = -diff;
    }

    if (e < 2) {
        return diff == 0;
    }

    return diff < yibao_decimal_pow10[e - 2];

inexact:

    ld = sum->d - a->d * b->d;

    if (ld < 0) {
        ld = -ld;
    }

    return ld < 0.01L;
}


/* m / 10^from to m' / 10^to with to >= from, checking for overflow. */

static int
yibao_decimal_scale(int64_t *m, int from, int to)
{
    if (to - from > YIBAO_DECIMAL_DIGITS
        || __builtin_mul_overflow(*m, yibao_decimal_pow10[to - from], m))
    {
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


size_t
yibao_decimal_shortest(double d, char *buf, size_t size)
{
    int  prec, n;

    n = yibao_decimal_fixed(d, buf, size);

    if (n >= 0) {
        return (size_t) n;
    }

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, d);

        if (strtod(buf, NULL) == d) {
            break;
        }
    }

    return (size_t) n;
}


/*
 * What "%.15g" writes, without printf, for the common case: d is the
 * double nearest to a decimal v of at most 15 significant digits
 * (yibao_decimal_double() finds it), so %.15g, which rounds d to 15
 * digits, gives v back, which reads back to d; with an exponent from -4
 * to 14 %g writes v positionally, without trailing zeros.  Returns the
 * length, or -1 when d is anything else (0 and -0 too) or buf is too
 * small: then printf writes it.
 */

static int
yibao_decimal_fixed(double d, char *buf, size_t size)
{
    int              n, digits, zeros, exp, frac, len;
    char             text[24], out[32];
    uint64_t         u;
    yibao_decimal_t  dec;

    if (d == 0) {
        return -1;
    }

    yibao_decimal_double(&dec, d);

    if (!dec.exact) {
        return -1;
    }

    u = dec.m < 0 ? (uint64_t) 0 - (uint64_t) dec.m : (uint64_t) dec.m;

    /* the digits of u in text[n..24), and its trailing zeros */

    n = sizeof(text);

    do {
        text[--n] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    digits = (int) sizeof(text) - n;

    for (zeros = 0; text[sizeof(text) - 1 - zeros] == '0'; zeros++) {
        /* void */
    }

    exp = digits - 1 - dec.scale;

    if (digits - zeros > 15 || exp < -4 || exp > 14) {
        return -1;
    }

    len = 0;

    if (dec.m < 0) {
        out[len++] = '-';
    }

    if (exp >= 0) {

        /* the integer part, then the fraction less its trailing zeros */

        memcpy(out + len, text + n, exp + 1);
        len += exp + 1;

        frac = dec.scale - (zeros < dec.scale ? zeros : dec.scale);

        if (frac > 0) {
            out[len++] = '.';
            memcpy(out + len, text + n + exp + 1, frac);
            len += frac;
        }

    } else {
        out[len++] = '0';
        out[len++] = '.';

        for (frac = exp + 1; frac < 0; frac++) {
            out[len++] = '0';
        }

        memcpy(out + len, text + n, digits - zeros);
        len += digits - zeros;
    }

    if ((size_t) len >= size) {
        return -1;
    }

    memcpy(buf, out, len);
    buf[len] = '\0';

    return len;
}


size_t
yibao_decimal_int_text(int64_t n, char *buf)
{
    char      text[24];
    size_t    i, len;
    uint64_t  u;

    u = n < 0 ? (uint64_t) 0 - (uint64_t) n : (uint64_t) n;
    i = sizeof(text);

    do {
        text[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    len = 0;

    if (n < 0) {
        buf[len++] = '-';
    }

    memcpy(buf + len, text + i, sizeof(text) - i);

    return len + sizeof(text) - i;
}


int
yibao_decimal_g17(double d, char *buf, size_t size)
{
    int  n;

    n = yibao_decimal_g17_fixed(d, buf, size);

    if (n >= 0) {
        return n;
    }

    n = snprintf(buf, size, "%.17g", d);

    if (n < 0 || (size_t) n >= size) {
        return -1;
    }

    return n;
}


/*
 * "%.17g" for 0.0001 <= |d| < 10^17: d = m 2^e, its 17 significant
 * digits N = d 10^(16 - x) rounded to an integer (x the decimal exponent
 * of d, 10^x <= |d| < 10^(x+1)), computed exactly in 128 bits (m < 2^53,
 * 10^(16 - x) <= 10^20, 2^-e <= 2^66); then written positionally, as %g
 * does for an exponent from -4 to 16, without trailing zeros.  -1 for
 * anything else (0, subnormals, infinities, NaN, other exponents) or a
 * buf too small.
 */

static int
yibao_decimal_g17_fixed(double d, char *buf, size_t size)
{
    int        x, e, i, t, len;
    char       digits[17], out[32];
    double     a;
    uint64_t   bits, m, n;

    memcpy(&bits, &d, sizeof(bits));

    e = (int) ((bits >> 52) & 0x7ff);
    m = bits & ((1ULL << 52) - 1);

    a = d < 0 ? -d : d;

    if (e == 0 || e == 0x7ff || a < 1e-4 || a >= 1e17) {
        return -1;
    }

    m |= 1ULL << 52;
    e -= 1075;

    /* x: an estimate from the doubles 10^x, then checked on N */

    for (x = 16; x > -4 && a < (x >= 0 ? (double) yibao_decimal_pow10[x]
                                       : 1.0 / yibao_decimal_pow10[-x]);
         x--)
    {
        /* void */
    }

    n = yibao_decimal_g17_digits(m, e, 16 - x);

    if (n < 10000000000000000ULL) {
        if (x == -4) {
            return -1;
        }

        x--;
        n = yibao_decimal_g17_digits(m, e, 16 - x);
    }

    if (n >= 100000000000000000ULL) {

        /* rounded up to 10^17: one digit more before the point */

        n = 10000000000000000ULL;
        x++;
    }

    if (x > 16 || x < -4 || n < 10000000000000000ULL) {
        return -1;
    }

    for (i = 16; i >= 0; i--) {
        digits[i] = (char) ('0' + n % 10);
        n /= 10;
    }

    for (t = 17; digits[t - 1] == '0'; t--) {
        /* void */
    }

    len = 0;

    if (d < 0) {
        out[len++] = '-';
    }

    if (x >= 0) {
        memcpy(out + len, digits, x + 1);
        len += x + 1;

        if (t > x + 1) {
            out[len++] = '.';
            memcpy(out + len, digits + x + 1, t - x - 1);
            len += t - x - 1;
        }

    } else {
        out[len++] = '0';
        out[len++] = '.';

        for (i = x + 1; i < 0; i++) {
            out[len++] = '0';
        }

        memcpy(out + len, digits, t);
        len += t;
    }

    if ((size_t) len >= size) {
        return -1;
    }

    memcpy(buf, out, len);
    buf[len] = '\0';

    return len;
}


/* m 2^e 10^k (0 <= k <= 20) rounded to an integer, ties to even */

static uint64_t
yibao_decimal_g17_digits(uint64_t m, int e, int k)
{
    int                 s;
    unsigned __int128   p, q, r, half;

    p = (unsigned __int128) m;

    if (e >= 0) {
        p <<= e;
    }

    if (k > 18) {
        p *= (uint64_t) yibao_decimal_pow10[18];
        k -= 18;
    }

    p *= (uint64_t) yibao_decimal_pow10[k];

    if (e >= 0) {
        return (uint64_t) p;
    }

    s = -e;
    q = p >> s;
    r = p - (q << s);
    half = (unsigned __int128) 1 << (s - 1);

    if (r > half || (r == half && (q & 1))) {
        q++;
    }

    return (uint64_t) q;
}
