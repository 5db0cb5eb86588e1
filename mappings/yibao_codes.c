/*
 * Copyright (C) yibao-gateway authors
 */


#include "yibao_codes.h"


static int yibao_code_digits(const unsigned char *p, size_t n);
static int yibao_code_number(const unsigned char *p, size_t n);
static int yibao_code_days_in_month(int year, int month);
static int yibao_code_is_time(int year, int month, int day, int hour,
    int min, int sec);


int
yibao_code_is_admdvs(const unsigned char *p, size_t len)
{
    return len == 6 && yibao_code_digits(p, 6);
}


int
yibao_code_is_fixmedins(const unsigned char *p, size_t len)
{
    return len == 12
           && (p[0] == 'H' || p[0] == 'P')
           && yibao_code_digits(p + 1, 11);
}


int
yibao_code_is_org(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len != 22) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z'))) {
            return 0;
        }
    }

    return 1;
}


int
yibao_code_is_infno(const unsigned char *p, size_t len)
{
    if (len == 4) {
        return yibao_code_digits(p, 4);
    }

    return len == 5
           && yibao_code_digits(p, 4)
           && p[4] >= 'A' && p[4] <= 'Z';
}


int
yibao_code_is_datetime(const unsigned char *p, size_t len)
{
    if (len != 19
        || p[4] != '-' || p[7] != '-' || p[10] != ' '
        || p[13] != ':' || p[16] != ':')
    {
        return 0;
    }

    if (!yibao_code_digits(p, 4) || !yibao_code_digits(p + 5, 2)
        || !yibao_code_digits(p + 8, 2) || !yibao_code_digits(p + 11, 2)
        || !yibao_code_digits(p + 14, 2) || !yibao_code_digits(p + 17, 2))
    {
        return 0;
    }

    return yibao_code_is_time(yibao_code_number(p, 4),
                              yibao_code_number(p + 5, 2),
                              yibao_code_number(p + 8, 2),
                              yibao_code_number(p + 11, 2),
                              yibao_code_number(p + 14, 2),
                              yibao_code_number(p + 17, 2));
}


int
yibao_code_is_compact_time(const unsigned char *p, size_t len)
{
    if (len != 14 || !yibao_code_digits(p, 14)) {
        return 0;
    }

    return yibao_code_is_time(yibao_code_number(p, 4),
                              yibao_code_number(p + 4, 2),
                              yibao_code_number(p + 6, 2),
                              yibao_code_number(p + 8, 2),
                              yibao_code_number(p + 10, 2),
                              yibao_code_number(p + 12, 2));
}


int
yibao_code_is_msgid(const unsigned char *p, size_t len)
{
    return len == 30
           && yibao_code_is_fixmedins(p, 12)
           && yibao_code_is_compact_time(p + 12, 14)
           && yibao_code_digits(p + 26, 4);
}


int
yibao_code_is_alnum(const unsigned char *p, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9')
              || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= 'a' && p[i] <= 'z')))
        {
            return 0;
        }
    }

    return 1;
}


int
yibao_code_is_utf8(const unsigned char *p, size_t len)
{
    size_t          i, n, k;
    uint32_t        cp, min;
    unsigned char   c;

    i = 0;

    while (i < len) {
        c = p[i];

        if (c < 0x80) {
            if (c == 0) {
                return 0;
            }

            i++;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;

        } else {
            /* a continuation byte, 0xc0/0xc1 (overlong) or above 0xf4 */
            return 0;
        }

        if (len - i <= n) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        i += n + 1;
    }

    return 1;
}


static int
yibao_code_digits(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static int
yibao_code_number(const unsigned char *p, size_t n)
{
    int     v;
    size_t  i;

    v = 0;

    for (i = 0; i < n; i++) {
        v = v * 10 + (p[i] - '0');
    }

    return v;
}


static int
yibao_code_days_in_month(int year, int month)
{
    static const int  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (month == 2
        && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
    {
        return 29;
    }

    return days[month - 1];
}


static int
yibao_code_is_time(int year, int month, int day, int hour, int min, int sec)
{
    /* year 0000 does not exist in the Gregorian calendar */

    if (year < 1 || month < 1 || month > 12 || day < 1) {
        return 0;
    }

    if (day > yibao_code_days_in_month(year, month)) {
        return 0;
    }

    return hour <= 23 && min <= 59 && sec <= 59;
}
